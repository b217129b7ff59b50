//! The JIT is indistinguishable from the reference interpreter: for every example and a set
//! of programs aimed at the JIT's exits, at many gas and memory budgets, every engine stops
//! with the same status, results and gas, and writes the same image bytes — including runs
//! in slices that switch engine at every slice.

use rarvm::{EngineKind, Outcome, Program, Status, Vm};

const MEM: u64 = 64 << 20;

/// The engines compared: the reference interpreter, the interpreter with fused ops, the JIT
/// compiling every function the first time
/// it runs (so it hands over as often as it can), the JIT and auto as users run them.
const ENGINES: [EngineKind; 5] = [
    EngineKind::Reference,
    EngineKind::Interp,
    EngineKind::JitEager,
    EngineKind::Jit,
    EngineKind::Auto,
];

fn vm(e: EngineKind, module: &Program, args: &[u64]) -> Vm {
    let mut vm = Vm::new(module, args).unwrap();
    vm.set_engine(e).unwrap();
    vm
}

fn example(name: &str) -> Program {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    Program::from_source(&std::fs::read_to_string(&path).unwrap(), &path).unwrap()
}

fn source(src: &str) -> Program {
    Program::from_source(src, "test.rasm").unwrap_or_else(|e| panic!("{e}"))
}

/// Budgets to try for a program that needs `total`: all of them when few, else a spread
/// that includes both ends.
fn budgets(total: u64, all_up_to: u64) -> Vec<u64> {
    if total <= all_up_to {
        return (0..=total + 1).collect();
    }
    let mut b: Vec<u64> = (0..=40).collect();
    b.extend((0..200).map(|i| total * i / 200 + i % 7));
    b.extend((total - 40)..=(total + 2));
    b.sort_unstable();
    b.dedup();
    b
}

/// One VM per engine, reused across runs so each compiles the code once.
fn vms(module: &Program, args: &[u64]) -> Vec<(EngineKind, Vm)> {
    ENGINES.iter().map(|&e| (e, vm(e, module, args))).collect()
}

/// Runs `module(args)` from a fresh root with `gas` and `mem` on every engine and checks that
/// each agrees with the interpreter on the outcome and the image bytes.
fn agree(
    what: &str,
    vms: &mut [(EngineKind, Vm)],
    module: &Program,
    args: &[u64],
    gas: u64,
    mem: u64,
) {
    let mut first: Option<(Outcome, Vec<u8>)> = None;
    for (e, vm) in vms.iter_mut() {
        vm.restart(module, args).unwrap();
        let out = vm.run(gas, mem);
        let image = vm.image();
        match &first {
            None => first = Some((out, image)),
            Some((o, i)) => {
                assert_eq!(
                    &out, o,
                    "{what}: {e:?} differs from the interpreter at gas {gas}, memory {mem}"
                );
                assert!(
                    &image == i,
                    "{what}: {e:?} writes a different image at gas {gas}, memory {mem}"
                );
            }
        }
    }
}

/// [`agree`] at each of `budgets`.
fn agree_on_gas(name: &str, module: &Program, args: &[u64], budgets: &[u64], mem: u64) {
    let mut vms = vms(module, args);
    for &gas in budgets {
        agree(name, &mut vms, module, args, gas, mem);
    }
}

fn total_gas(module: &Program, args: &[u64], mem: u64) -> u64 {
    let mut v = vm(EngineKind::Interp, module, args);
    let out = v.run(u64::MAX / 2, mem);
    assert_ne!(out.status, Status::OutOfGas);
    out.gas_used
}

#[test]
fn every_example_agrees_at_many_gas_budgets() {
    let cases: [(&str, &[u64]); 7] = [
        ("sandbox.rasm", &[41]),
        ("sandbox_loop.rasm", &[41]),
        ("fib.rasm", &[7]),
        ("fib.rasm", &[20]),
        ("sieve.rasm", &[200]),
        ("replicate.rasm", &[]),
        ("nested.rasm", &[2]),
    ];
    for (name, args) in cases {
        let m = example(name);
        let total = total_gas(&m, args, MEM);
        agree_on_gas(name, &m, args, &budgets(total, 1_500), MEM);
    }
}

#[test]
fn every_example_agrees_at_many_memory_budgets() {
    let cases: [(&str, &[u64]); 5] = [
        ("sandbox.rasm", &[41]),
        ("fib.rasm", &[12]),
        ("sieve.rasm", &[5000]),
        ("replicate.rasm", &[]),
        ("nested.rasm", &[3]),
    ];
    for (name, args) in cases {
        let m = example(name);
        let mut vms = vms(&m, args);
        for mem in (0..60).map(|i| i * i * 97).chain([1 << 16, 1 << 20]) {
            agree(name, &mut vms, &m, args, 10_000_000_000, mem);
        }
    }
}

/// Runs in slices of `slice` gas, switching engine at every slice and passing the state
/// through an image; the final image must equal one uninterrupted interpreter run's.
fn alternating_slices(name: &str, module: &Program, args: &[u64], slice: u64) {
    let mut vms: Vec<Vm> = ENGINES.iter().map(|&e| vm(e, module, args)).collect();
    let mut image = vms[0].image();
    let mut n = 0u64;
    loop {
        let v = &mut vms[n as usize % ENGINES.len()];
        v.load_image(&image).unwrap();
        let out = v.run(slice, if n == 0 { MEM } else { 0 });
        image = v.image();
        n += 1;
        if out.status != Status::OutOfGas {
            break;
        }
        assert!(n < 100_000, "{name}: too many slices");
    }
    let mut whole = vm(EngineKind::Reference, module, args);
    whole.run(slice * n, MEM);
    assert!(
        whole.image() == image,
        "{name}: slices of {slice} across engines diverge"
    );
}

#[test]
fn slices_that_switch_engine_equal_one_run() {
    let cases: [(&str, &[u64], &[u64]); 6] = [
        ("sandbox.rasm", &[41], &[3, 17]),
        ("sandbox_loop.rasm", &[41], &[5, 31]),
        ("fib.rasm", &[15], &[61, 997]),
        ("sieve.rasm", &[2000], &[101, 1009]),
        ("replicate.rasm", &[], &[997, 9973]),
        ("nested.rasm", &[3], &[1009, 30011]),
    ];
    for (name, args, slices) in cases {
        let m = example(name);
        for &slice in slices {
            alternating_slices(name, &m, args, slice);
        }
    }
}

/// Programs aimed at the JIT's exits: faults inside native callees, yields with native
/// frames below, memory growth seen by callers, switch, deep recursion, children; and a
/// loop whose gas region has a rare expensive path and a self-metered fill inside, so
/// budgets run out inside a region whose need the fuel does not cover.
const PROGRAMS: [(&str, &str, &[u64]); 10] = [
    (
        "arith",
        r#"
func main(a, b) -> 1 locals(acc)
    local.get a
    local.get b
    add
    local.get a
    local.get b
    mul
    xor
    local.get b
    rotl
    local.get a
    local.get b
    div_s
    or
    local.get a
    local.get b
    rem_u
    sub
    local.get a
    clz
    local.get b
    popcnt
    shl
    add
    local.get a
    local.get b
    lt_s
    local.get a
    local.get b
    ge_u
    local.get b
    select
    add
    neg
    ret
end
"#,
        &[0x8000_0000_0000_0000, 0xffff_ffff_ffff_ffff],
    ),
    (
        "fault_deep",
        r#"
func down(n) -> 1
    local.get n
    jz bottom
    local.get n
    push 1
    sub
    call down
    push 1
    add
    ret
bottom:
    push 7
    push 0
    div_u
    ret
end
func main(n) -> 1
    local.get n
    call down
    ret
end
"#,
        &[40],
    ),
    (
        "yield_deep",
        r#"
func down(n) -> 1
    local.get n
    jz bottom
    local.get n
    push 1
    sub
    call down
    local.get n
    add
    ret
bottom:
    yield
    push 1
    ret
end
func main(n) -> 1
    local.get n
    call down
    ret
end
"#,
        &[30],
    ),
    (
        "grow_in_callee",
        r#"
func grow(n) -> 1
    local.get n
    mem.grow
    ret
end
func main(n) -> 2 locals(i, sum)
top:
    local.get i
    local.get n
    ge_u
    jnz done
    push 64
    call grow
    drop
    local.get i
    push 64
    mul
    local.get i
    store64 8
    local.get sum
    local.get i
    push 64
    mul
    load64 8
    add
    local.set sum
    local.get i
    push 1
    add
    local.set i
    jmp top
done:
    local.get sum
    mem.size
    ret
end
"#,
        &[50],
    ),
    (
        "switch_loop",
        r#"
func main(n) -> 1 locals(i, acc)
top:
    local.get i
    local.get n
    eq
    jnz done
    local.get i
    push 4
    rem_u
    switch a b c else d
a:  local.get acc
    push 3
    add
    local.set acc
    jmp next
b:  local.get acc
    push 5
    mul
    local.set acc
    jmp next
c:  local.get acc
    push 1
    shr_u
    local.set acc
    jmp next
d:  local.get acc
    not
    local.set acc
next:
    local.get i
    push 1
    add
    local.set i
    jmp top
done:
    local.get acc
    ret
end
"#,
        &[300],
    ),
    (
        "recursion_limits",
        r#"
func down(n) -> 1 locals(pad1, pad2, pad3)
    local.get n
    push 1
    add
    call down
    ret
end
func main() -> 1
    push 0
    call down
    ret
end
"#,
        &[],
    ),
    (
        "ports_and_faults",
        r#"
func main(x) -> 2 locals(c)
    local.get x
    out
    local.get x
    out
    in
    in
    add
    push 0
    load8_u 100
    ret
end
"#,
        &[21],
    ),
    (
        "children",
        r#"
func child(x) -> 1
    local.get x
    local.get x
    mul
    ret
end
func main(n) -> 1 locals(i, c, acc)
top:
    local.get i
    local.get n
    eq
    jnz done
    spawn child
    local.tee c
    local.get i
    child.push
    local.get c
    push 100
    push 0
    recurse
    drop
    local.get acc
    local.get c
    child.pop
    add
    local.set acc
    local.get c
    key.drop
    local.get i
    push 1
    add
    local.set i
    jmp top
done:
    local.get acc
    ret
end
"#,
        &[25],
    ),
    (
        "save_load",
        r#"
.memory 65536
func child(x) -> 1 locals(i)
top:
    local.get i
    local.get x
    eq
    jnz done
    local.get i
    push 1
    add
    local.set i
    yield
    jmp top
done:
    local.get i
    ret
end
func main(x) -> 2 locals(c, d, len, st)
    spawn child
    local.tee c
    local.get x
    child.push
    local.get c
    push 1000
    push 0
    recurse
    drop
    local.get c
    push 0
    push 60000
    child.save
    local.set len
    push 0
    local.get len
    child.load
    drop
    local.set d
again:
    local.get d
    push 1000
    push 0
    recurse
    push 4
    eq
    jnz again
    local.get d
    child.pop
    local.get len
    ret
end
"#,
        &[6],
    ),
    (
        "gas_regions",
        r#"
.memory 4096
func main(n) -> 3 locals(i, acc, g, h)
top:
    local.get i
    local.get n
    eq
    jnz done
    local.get i
    push 7
    rem_u
    jnz cheap
    local.get acc
    push 3
    mul
    push 11
    add
    local.set acc
    local.get acc
    push 4
    mul
    push 11
    add
    local.set acc
    local.get acc
    push 5
    mul
    push 11
    add
    local.set acc
    local.get acc
    push 6
    mul
    push 11
    add
    local.set acc
    local.get acc
    push 7
    mul
    push 11
    add
    local.set acc
    local.get acc
    push 8
    mul
    push 11
    add
    local.set acc
    local.get acc
    push 9
    mul
    push 11
    add
    local.set acc
    local.get acc
    push 10
    mul
    push 11
    add
    local.set acc
    local.get acc
    push 11
    mul
    push 11
    add
    local.set acc
    local.get acc
    push 12
    mul
    push 11
    add
    local.set acc
    local.get acc
    push 13
    mul
    push 11
    add
    local.set acc
    local.get acc
    push 14
    mul
    push 11
    add
    local.set acc
    gas.left
    local.set g
cheap:
    local.get acc
    local.get i
    add
    local.set acc
    local.get i
    push 3
    rem_u
    jnz skip
    push 0
    local.get i
    push 100
    mem.fill
    gas.left
    local.set h
skip:
    local.get i
    push 1
    add
    local.set i
    jmp top
done:
    local.get acc
    local.get g
    local.get h
    ret
end
"#,
        &[40],
    ),
];

#[test]
fn programs_aimed_at_the_jit_agree_at_every_budget() {
    for (name, src, args) in PROGRAMS {
        let m = source(src);
        let total = total_gas(&m, args, MEM);
        let budgets = if name == "recursion_limits" {
            vec![0, 100, total / 2, total - 1, total, total + 1]
        } else {
            budgets(total, 3_000)
        };
        agree_on_gas(name, &m, args, &budgets, MEM);
        // `gas.left` reads what each slice was given, so slices differ from one run there.
        if name != "recursion_limits" && name != "gas_regions" {
            alternating_slices(name, &m, args, 7);
        }
    }
}

#[test]
fn frame_memory_runs_out_at_the_same_call() {
    let (name, src, args) = PROGRAMS[2];
    let m = source(src);
    let mut vms = vms(&m, args);
    for mem in 0..1200 {
        agree(name, &mut vms, &m, args, 1_000_000, mem);
    }
}

#[test]
fn the_jit_runs_natively_and_exits_where_it_must() {
    let m = example("fib.rasm");
    let mut v = vm(EngineKind::JitEager, &m, &[25]);
    assert_eq!(v.run(10_000_000, MEM).results, vec![75025]);
    let stats = v.jit_stats().unwrap();
    assert_eq!(stats.compiled, 2);
    // As users run it, fib earns its compilation; main, which runs once, does not.
    let mut v = vm(EngineKind::Jit, &m, &[25]);
    assert_eq!(v.run(10_000_000, MEM).results, vec![75025]);
    let stats = v.jit_stats().unwrap();
    assert_eq!(stats.compiled, 1, "{stats}");
    assert!(stats.native_entries > 0, "{stats}");
    // The sandbox pattern shares one compilation between all children.
    let (_, src, args) = PROGRAMS[7];
    let m = source(src);
    let mut v = vm(EngineKind::JitEager, &m, args);
    v.run(10_000_000, MEM);
    let stats = v.jit_stats().unwrap();
    assert_eq!(stats.compiled, 2, "{stats}");
    assert!(stats.native_entries >= 25, "{stats}");
}

/// Compilation is earned: the JIT compiles a function only after the program spent gas in
/// it in proportion to the compile's cost, so code that runs briefly is never compiled and
/// a program of 65,536 functions starts at once.
#[test]
fn compilation_is_earned_and_lazy() {
    let mut src = String::from(
        "func main() -> 1
    push 7
    ret
end
",
    );
    for f in 0..65_535 {
        src.push_str(&format!(
            "func f{f}(x) -> 1
    local.get x
    push {f}
    add
    ret
end
"
        ));
    }
    let m = source(&src);
    for e in [EngineKind::Jit, EngineKind::Auto] {
        let mut v = vm(e, &m, &[]);
        assert_eq!(v.run(1_000, MEM).results, vec![7]);
        let stats = v.jit_stats().unwrap();
        assert_eq!((stats.compiled, stats.native_entries), (0, 0), "{stats}");
    }
    // A hot loop earns it: compiled within a bounded amount of interpreted gas.
    let m = example("sieve.rasm");
    let mut v = vm(EngineKind::Jit, &m, &[200_000]);
    let out = v.run(1 << 40, MEM);
    let stats = v.jit_stats().unwrap();
    assert!(stats.compiled >= 1, "{stats}");
    assert!(
        stats.compile_cost * rarvm::JIT_RATE <= out.gas_used,
        "compiling ({} cost units) was paid by gas ({})",
        stats.compile_cost,
        out.gas_used
    );
}

/// What a compile is said to cost, which the gas must pay first, covers what Cranelift
/// spends on any function, however small, and on every entry of a `switch` table — code
/// of a few instructions can hold tables of thousands of entries.
#[test]
fn compile_cost_counts_each_function_and_every_table_entry() {
    let cost = |body: &str| {
        let src = format!(
            "func main() -> 1 locals(i, a)
    push 100
    local.set i
top:
{body}    local.get i
    push 1
    sub
    local.tee i
    jnz top
    local.get a
    ret
end
"
        );
        let mut v = vm(EngineKind::Jit, &source(&src), &[]);
        v.jit_mut().unwrap().set_compile_rate(0);
        v.run(1 << 30, MEM);
        let stats = v.jit_stats().unwrap();
        assert_eq!(stats.compiled, 1, "{stats}");
        stats.compile_cost
    };
    let small = cost("");
    assert!(small > rarvm::FUNC_COMPILE_COST, "{small}");
    let table = "odd even ".repeat(2000);
    let wide = cost(&format!(
        "    local.get i
    switch {table}else even
odd:
    local.get a
    push 1
    xor
    local.set a
even:
"
    ));
    assert!(wide >= small + 4000 / 4, "{small} and {wide} cost units");
}

/// A host that runs a yielded root turn by turn (a vat: `docs/SPEC.md` §8.3) — replacing
/// its port, setting its gas — ends in the same image on every engine, and taking the
/// transcript gives back its share of the footprint.
#[test]
fn turns_that_refill_the_port_agree_on_every_engine() {
    // Yields its running sum; each turn adds the word below the count on its port.
    let program = source(
        "func main() -> 0 locals(sum, n)
        top:
            local.get sum
            out
            yield
            in
            local.set n
            local.get n
            jz top
            in
            local.get sum
            add
            local.set sum
            jmp top
        end",
    );
    let mut images = Vec::new();
    for (e, mut vm) in vms(&program, &[]) {
        vm.add_allowance(0, 1 << 16);
        for turn in 0..50u64 {
            if turn > 0 {
                vm.set_port(&[turn * 3, 1]).expect("fits");
            }
            vm.set_gas_left(40);
            let out = vm.run(0, 0);
            assert_eq!(out.status, Status::Yielded, "{e:?} turn {turn}");
            assert!(out.gas_left < 40);
        }
        let sum: u64 = (1..50).map(|t| t * 3).sum();
        assert_eq!(vm.outcome().results, vec![sum], "{e:?}");
        assert!(vm.set_port(&[0; 65]).is_err(), "a port holds 64 words");
        let before = vm.root().footprint();
        assert!(vm.take_transcript().is_empty());
        assert_eq!(vm.root().footprint(), before);
        images.push(vm.image());
    }
    assert!(images.windows(2).all(|w| w[0] == w[1]));
}

/// Every load and store width at offsets 0, 3 and near `u32::MAX`, in a loop that walks
/// addresses `start + i * step`, faults `out_of_bounds` at the same access on every engine:
/// memories smaller than the access, accesses that end exactly at the end or one byte
/// past it, addresses near `u64::MAX` whose end wraps, and loops that leave memory on the
/// first or on the last iteration.
#[test]
fn bounds_checks_fault_at_the_same_access() {
    let accesses = [
        "load8_u", "load8_s", "load16_u", "load16_s", "load32_u", "load32_s", "load64", "store8",
        "store16", "store32", "store64",
    ];
    for access in accesses {
        let width: u64 = match access.trim_start_matches(|c: char| c.is_ascii_alphabetic()) {
            s if s.starts_with('8') => 1,
            s if s.starts_with("16") => 2,
            s if s.starts_with("32") => 4,
            _ => 8,
        };
        let store = access.starts_with("store");
        // The access alone, and in the shapes the interpreter fuses it into.
        let bodies: &[&str] = if store {
            &[
                "    local.get addr\n    local.get i\n    ACCESS\n",
                "    local.get addr\n    push 7\n    ACCESS\n",
                "    local.get addr\n    local.get i\n    push 1\n    add\n    ACCESS\n",
                "    local.get addr\n    push 0\n    add\n    local.get i\n    ACCESS\n",
            ]
        } else {
            &[
                "    local.get addr\n    ACCESS\n",
                "    local.get addr\n    push 0\n    add\n    ACCESS\n",
                "    local.get addr\n    push 1\n    sub\n    push 1\n    add\n    ACCESS\n",
                "    push 0\n    local.get addr\n    add\n    ACCESS\n",
                "    local.get addr\n    local.get i\n    push 0\n    mul\n    add\n    ACCESS\n",
                "    local.get addr\n    dup\n    drop\n    ACCESS\n    local.tee v\n",
                "    local.get addr\n    dup\n    drop\n    ACCESS\n    local.set v\n    local.get v\n",
            ]
        };
        for (offset, body) in [0u64, 3, u64::from(u32::MAX) - 5]
            .into_iter()
            .flat_map(|o| bodies.iter().map(move |b| (o, b)))
        {
            let mut body = body.replace("ACCESS", &format!("{access} {offset}"));
            if !store {
                body.push_str("    local.get acc\n    add\n    local.set acc\n");
            }
            let src = format!(
                "func main(size, start, step, n) -> 2 locals(i, addr, acc, v)\n    local.get size\n    mem.grow\n    drop\ntop:\n    local.get i\n    local.get n\n    eq\n    jnz done\n    local.get i\n    local.get step\n    mul\n    local.get start\n    add\n    local.set addr\n{body}    local.get i\n    push 1\n    add\n    local.set i\n    jmp top\ndone:\n    local.get acc\n    local.get i\n    ret\nend\n"
            );
            let m = source(&src);
            let mut vms = vms(&m, &[0, 0, 0, 0]);
            for size in [0u64, 1, 2, 3, 4, 7, 8, 9, 16, 4099] {
                // The first byte past the access's end, relative to the memory's end.
                let fits = (size + 1).saturating_sub(width + offset);
                let mut starts = vec![0, 1, fits.saturating_sub(1), fits, fits + 1];
                starts.extend([u64::MAX, u64::MAX - offset - width + 1, u64::MAX - offset]);
                for start in starts {
                    for (step, n) in [(0, 1), (1, 40), (u64::MAX, 3), (width, 200)] {
                        // Loops that run in bounds and leave on the last iteration.
                        let last = start.wrapping_sub(step.wrapping_mul(n - 1));
                        for s in [start, last] {
                            let what =
                                format!("{access} {offset} size {size} start {s} step {step}");
                            agree(&what, &mut vms, &m, &[size, s, step, n], 1_000_000, MEM);
                        }
                    }
                }
            }
        }
    }
}
