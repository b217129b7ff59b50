//! The intentional resource model: a parent may intend more for a child than it has; the
//! outermost process that cannot pay stops; refuelling it resumes the deepest process as
//! if nothing happened; memory growth is charged up the chain; depth costs no host stack.

use rarvm::{ProcessView, Program, Status, Vm};

const MEM: u64 = 64 << 20;

fn module(src: &str) -> Program {
    Program::from_source(src, "test.rasm").unwrap()
}

/// `leaf` sums 0..2000 (about 20,000 gas); `mid` gives it far more gas than `mid` has and
/// never checks for running out; `main` gives `mid` 1000 gas per recurse and refuels it
/// whenever it stops out of gas. Returns [result, leaf status seen by mid, refuels].
const REFUEL: &str = r#"
.const OUT_OF_GAS 5
func leaf() -> 1 locals(i, acc)
top:
    local.get i
    push 2000
    lt_u
    jz done
    local.get acc
    local.get i
    add
    local.set acc
    local.get i
    push 1
    add
    local.set i
    jmp top
done:
    local.get acc
    ret
end

func mid() -> 2 locals(c)
    spawn leaf
    local.tee c
    push 1000000000
    push 0
    recurse
    local.get c
    child.pop
    ret
end

func main() -> 3 locals(c, st, refuels)
    spawn mid
    local.set c
again:
    local.get c
    push 1000
    push 4096
    recurse
    local.tee st
    push OUT_OF_GAS
    ne
    jnz finished
    local.get refuels
    push 1
    add
    local.set refuels
    jmp again
finished:
    local.get c
    child.pop
    local.get c
    child.pop
    local.get refuels
    ret
end
"#;

#[test]
fn refuelling_an_exhausted_intermediate_resumes_the_deepest_child() {
    let mut vm = Vm::new(&module(REFUEL), &[]).unwrap();
    let out = vm.run(10_000_000, MEM);
    assert_eq!(out.status, Status::Returned);
    let (result, leaf_status, refuels) = (out.results[0], out.results[1], out.results[2]);
    assert_eq!(result, (0..2000).sum::<u64>());
    // mid saw its child return once: it never noticed running dry.
    assert_eq!(leaf_status, Status::Returned as u64);
    assert!(refuels >= 15, "mid ran dry {refuels} times");
}

/// Each process of a tree, pre-order, with its path.
fn processes<'a>(vm: &'a Vm) -> Vec<(String, ProcessView<'a>)> {
    vm.root().processes().collect()
}

#[test]
fn the_outermost_exhausted_process_stops_and_the_rest_stays_frozen() {
    // The host is `main`'s parent here: give main too little, so main (not mid, not leaf)
    // is the outermost that cannot pay.
    let src = REFUEL.replace("push 1000\n    push 4096", "push 1000000000\n    push 4096");
    let m = module(&src);
    let mut vm = Vm::new(&m, &[]).unwrap();
    let out = vm.run(3_000, MEM);
    assert_eq!(out.status, Status::OutOfGas);
    let tree = processes(&vm);
    let statuses: Vec<(&str, Status)> =
        tree.iter().map(|(p, q)| (p.as_str(), q.status())).collect();
    assert_eq!(
        statuses,
        vec![
            ("root", Status::OutOfGas),
            ("root.0", Status::Running),
            ("root.0.0", Status::Running)
        ]
    );
    // mid and leaf were intended far more than the root has.
    assert!(tree[1].1.gas_left() > tree[0].1.gas_left());
    assert!(tree[2].1.gas_left() > tree[0].1.gas_left());
    // Every process was charged the same block costs since the leaf started.
    assert!(
        tree[0].1.gas_used() > tree[1].1.gas_used() && tree[1].1.gas_used() > tree[2].1.gas_used()
    );

    // Resumed from the image, in another VM, the leaf continues where it stopped.
    let mut resumed = Vm::from_image(&vm.image()).unwrap();
    let out = resumed.run(10_000_000, 0);
    assert_eq!(out.status, Status::Returned);
    let mut whole = Vm::new(&m, &[]).unwrap();
    whole.run(10_003_000, MEM);
    assert_eq!(resumed.image(), whole.image());
}

#[test]
fn the_innermost_process_stops_when_it_is_the_poorest() {
    let src = r#"
func spin() -> 0
top:
    jmp top
end
func main() -> 2 locals(c)
    spawn spin
    local.tee c
    push 100
    push 0
    recurse
    local.get c
    child.info gas_left
    ret
end
"#;
    let mut vm = Vm::new(&module(src), &[]).unwrap();
    let out = vm.run(1_000_000, MEM);
    assert_eq!(out.results, vec![Status::OutOfGas as u64, 0]);
}

/// `leaf` grows its memory by 4 KiB sixteen times; `mid` intends unlimited memory for it
/// but has little; `main` refuels `mid`'s memory whenever it stops out of memory.
/// Returns [leaf's memory size, its status, refuels, mid's footprint].
const GROW: &str = r#"
.const OUT_OF_MEMORY 6
func leaf() -> 1 locals(i)
top:
    local.get i
    push 16
    lt_u
    jz done
    push 4096
    mem.grow
    drop
    local.get i
    push 1
    add
    local.set i
    jmp top
done:
    mem.size
    ret
end

func mid() -> 2 locals(c)
    spawn leaf
    local.tee c
    push 1000000
    push -1
    recurse
    local.get c
    child.pop
    ret
end

func main() -> 4 locals(c, st, refuels)
    spawn mid
    local.tee c
    push 1000000
    push 4096
    recurse
    local.set st
again:
    local.get st
    push OUT_OF_MEMORY
    ne
    jnz finished
    local.get refuels
    push 1
    add
    local.set refuels
    local.get c
    push 0
    push 8192
    recurse
    local.set st
    jmp again
finished:
    local.get c
    child.pop
    local.get c
    child.pop
    local.get refuels
    local.get c
    child.info footprint
    ret
end
"#;

#[test]
fn memory_growth_is_charged_up_the_chain() {
    let mut vm = Vm::new(&module(GROW), &[]).unwrap();
    let out = vm.run(100_000_000, MEM);
    assert_eq!(out.status, Status::Returned);
    let [size, status, refuels, mid_footprint] = out.results[..] else {
        panic!("{:?}", out.results)
    };
    assert_eq!(size, 16 * 4096);
    assert_eq!(status, Status::Returned as u64);
    assert!(refuels >= 7, "mid ran out of memory {refuels} times");
    assert!(
        mid_footprint > 16 * 4096,
        "the leaf's memory counts in mid's footprint"
    );
    // The root's cached footprints agree with a recomputation from scratch.
    let reloaded = Vm::from_image(&vm.image()).unwrap();
    for ((pa, a), (pb, b)) in processes(&vm).into_iter().zip(processes(&reloaded)) {
        assert_eq!((pa.as_str(), a.footprint()), (pb.as_str(), b.footprint()));
    }
}

/// Nests `depth` levels; each gives its child GIVE gas per recurse and unlimited memory,
/// refuelling it while it runs out. Returns the depth reached.
fn nest(give: u64) -> Program {
    module(&format!(
        r#"
func main(depth) -> 1 locals(c)
    local.get depth
    jz bottom
    spawn main
    local.tee c
    local.get depth
    push 1
    sub
    child.push
again:
    local.get c
    push {give}
    push -1
    recurse
    push 5
    eq
    jnz again
    local.get c
    child.pop
    push 1
    add
    ret
bottom:
    push 0
    ret
end
"#
    ))
}

/// Runs `f` on a thread with a 256 KiB stack: deep process trees must not use host stack
/// per level.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn depth_ten_thousand_uses_no_host_stack_per_level() {
    on_small_stack(|| {
        let m = nest(100_000_000);
        let mut vm = Vm::new(&m, &[10_000]).unwrap();
        // Stop half way down: the whole frozen chain is in the image.
        let out = vm.run(1_000_000, MEM);
        assert_eq!(out.status, Status::OutOfGas);
        let image = vm.image();
        let deep = processes(&vm).len();
        assert!(deep > 3_000, "{deep} processes before the first stop");
        drop(vm);
        let mut resumed = Vm::from_image(&image).unwrap();
        let out = resumed.run(100_000_000, 0);
        assert_eq!(out.status, Status::Returned);
        assert_eq!(out.results, vec![10_000]);
        let mut whole = Vm::new(&m, &[10_000]).unwrap();
        whole.run(101_000_000, MEM);
        assert_eq!(resumed.image(), whole.image());
    });
}

#[test]
fn intermediate_levels_run_dry_and_are_refuelled_at_depth() {
    on_small_stack(|| {
        let mut vm = Vm::new(&nest(20_000), &[1_000]).unwrap();
        let out = vm.run(1_000_000_000, MEM);
        assert_eq!((out.status, out.results), (Status::Returned, vec![1_000]));
    });
}

/// Sums 0..n in a loop; `READ` is replaced by an instruction that reads an allowance (or by
/// nothing), whose value is added to the result.
const SLICED: &str = r#"
func work(n) -> 1 locals(acc)
    READ
top:
    local.get n
    jz done
    local.get acc
    local.get n
    add
    local.set acc
    local.get n
    push 1
    sub
    local.set n
    jmp top
done:
    local.get acc
    ADD
    ret
end
func main(n) -> 1 locals(c)
    CHILD
end
"#;

/// The image after running `src` with `slices` (gas, memory) returns to the host.
fn sliced(src: &str, slices: &[(u64, u64)]) -> (Vec<u8>, Vec<u64>) {
    let m = module(src);
    let mut vm = Vm::new(&m, &[300]).unwrap();
    for &(gas, mem) in slices {
        vm.run(gas, mem);
    }
    let results = vm.outcome().results;
    (vm.image(), results)
}

/// SPEC §8.1: slicing a run is invisible exactly when the root reads no allowance that a
/// later slice adds to. Both sides of that condition, for gas and for memory, and a child
/// reading its own allowance (which no slice of the root changes).
#[test]
fn slicing_is_invisible_unless_the_root_reads_what_a_later_slice_adds() {
    let root_body = "local.get n\n    call work\n    ret";
    let child_body = "spawn work\n    local.tee c\n    local.get n\n    child.push\n    local.get c\n    push 100000\n    push 100000\n    recurse\n    drop\n    local.get c\n    child.pop\n    ret";
    let program = |read: &str, child: bool| {
        let (read, add) = if read.is_empty() {
            ("nop", "")
        } else {
            (read, "add")
        };
        SLICED
            .replace("READ", &format!("push 0\n    {read}\n    local.set acc"))
            .replace("ADD", add)
            .replace("CHILD", if child { child_body } else { root_body })
    };
    let split_gas = [(1000, 1 << 20), (50_000, 0)];
    let whole_gas = [(51_000, 1 << 20)];
    let split_mem = [(100_000, 2000), (0, 1 << 20)];
    let whole_mem = [(100_000, 2000 + (1 << 20))];
    // Nothing read: the same image either way.
    for child in [false, true] {
        let p = program("", child);
        assert_eq!(sliced(&p, &split_gas), sliced(&p, &whole_gas));
        assert_eq!(sliced(&p, &split_mem), sliced(&p, &whole_mem));
    }
    // The root reads its gas left before the first stop: the slices show.
    let p = program("gas.left", false);
    let (a, ra) = sliced(&p, &split_gas);
    let (b, rb) = sliced(&p, &whole_gas);
    assert_ne!(a, b);
    assert_eq!(
        rb[0] - ra[0],
        50_000,
        "the later slice's gas is what the root saw less of"
    );
    // ... but reading its headroom is harmless when no slice adds memory, and vice versa.
    assert_eq!(sliced(&p, &split_mem), sliced(&p, &whole_mem));
    let p = program("mem.left", false);
    assert_ne!(sliced(&p, &split_mem), sliced(&p, &whole_mem));
    assert_eq!(sliced(&p, &split_gas), sliced(&p, &whole_gas));
    // A child reads its own allowances, which the root's slices do not change.
    for read in ["gas.left", "mem.left"] {
        let p = program(read, true);
        assert_eq!(sliced(&p, &split_gas), sliced(&p, &whole_gas), "{read}");
        assert_eq!(sliced(&p, &split_mem), sliced(&p, &whole_mem), "{read}");
    }
}
