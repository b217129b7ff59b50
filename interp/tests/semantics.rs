//! Instruction semantics of the reference interpreter, including edge operands, the state
//! left at faults, and where gas runs out.

use rarvm_interp::Interp;
use rarvm_runtime::asm::assemble_verified;
use rarvm_runtime::machine;
use rarvm_runtime::process::{Fault, Process, Status};

fn run(src: &str, args: &[u64], gas: u64) -> Box<Process> {
    let m = assemble_verified(src, "t.rasm").unwrap_or_else(|e| panic!("{e}"));
    let entry = m.module().entry;
    let mut root = Box::new(Process::new(m, entry));
    root.port.extend_from_slice(args);
    machine::run(root, &mut Interp, gas, 1 << 20)
}

/// Evaluates a binary operator on `a b`.
fn bin(op: &str, a: u64, b: u64) -> Result<u64, Fault> {
    let p = run(
        &format!("func main(a, b) -> 1\n local.get a\n local.get b\n {op}\n ret\nend\n"),
        &[a, b],
        1000,
    );
    match p.status {
        Status::Returned => Ok(p.port[0]),
        Status::Faulted => Err(p.fault),
        s => panic!("{op}: {s}"),
    }
}

fn un(op: &str, a: u64) -> u64 {
    let p = run(
        &format!("func main(a) -> 1\n local.get a\n {op}\n ret\nend\n"),
        &[a],
        1000,
    );
    assert_eq!(p.status, Status::Returned, "{op}");
    p.port[0]
}

const MIN: u64 = i64::MIN as u64;
const NEG1: u64 = u64::MAX;

#[test]
fn arithmetic_wraps() {
    assert_eq!(bin("add", u64::MAX, 1), Ok(0));
    assert_eq!(bin("sub", 0, 1), Ok(u64::MAX));
    assert_eq!(bin("mul", 1 << 63, 2), Ok(0));
    assert_eq!(bin("mul", NEG1, NEG1), Ok(1));
    assert_eq!(un("neg", 0), 0);
    assert_eq!(un("neg", MIN), MIN);
    assert_eq!(un("not", 0), u64::MAX);
}

#[test]
fn division_is_defined_everywhere_but_zero() {
    assert_eq!(bin("div_u", 7, 2), Ok(3));
    assert_eq!(bin("div_s", -7i64 as u64, 2), Ok(-3i64 as u64));
    assert_eq!(bin("rem_s", -7i64 as u64, 2), Ok(-1i64 as u64));
    assert_eq!(bin("rem_u", 7, 2), Ok(1));
    assert_eq!(bin("div_s", MIN, NEG1), Ok(MIN));
    assert_eq!(bin("rem_s", MIN, NEG1), Ok(0));
    assert_eq!(bin("div_u", u64::MAX, NEG1), Ok(1));
    for op in ["div_u", "div_s", "rem_u", "rem_s"] {
        assert_eq!(bin(op, 5, 0), Err(Fault::DivisionByZero), "{op}");
    }
}

#[test]
fn shifts_and_rotates_take_the_count_mod_64() {
    assert_eq!(bin("shl", 1, 63), Ok(1 << 63));
    assert_eq!(bin("shl", 1, 64), Ok(1));
    assert_eq!(bin("shl", 1, u64::MAX), Ok(1 << 63));
    assert_eq!(bin("shr_u", 1 << 63, 63), Ok(1));
    assert_eq!(bin("shr_s", MIN, 63), Ok(NEG1));
    assert_eq!(bin("shr_s", MIN, 64), Ok(MIN));
    assert_eq!(bin("rotl", 1 << 63, 1), Ok(1));
    assert_eq!(bin("rotr", 1, 65), Ok(1 << 63));
    assert_eq!(bin("shr_u", 5, 0), Ok(5));
}

#[test]
fn comparisons_and_bit_counts() {
    assert_eq!(bin("lt_u", 1, NEG1), Ok(1));
    assert_eq!(bin("lt_s", 1, NEG1), Ok(0));
    assert_eq!(bin("gt_s", 0, MIN), Ok(1));
    assert_eq!(bin("ge_u", 3, 3), Ok(1));
    assert_eq!(bin("le_s", MIN, MIN), Ok(1));
    assert_eq!(bin("ne", 1, 2), Ok(1));
    assert_eq!(bin("eq", 1, 2), Ok(0));
    assert_eq!(un("eqz", 0), 1);
    assert_eq!(un("clz", 0), 64);
    assert_eq!(un("ctz", 0), 64);
    assert_eq!(un("clz", 1), 63);
    assert_eq!(un("popcnt", u64::MAX), 64);
}

#[test]
fn stack_shuffles_and_select() {
    let p = run(
        "func main() -> 3\n push 1\n push 2\n over\n swap\n ret\nend\n",
        &[],
        100,
    );
    assert_eq!(p.port, vec![1, 1, 2]);
    let p = run(
        "func main(c) -> 1\n push 10\n push 20\n local.get c\n select\n ret\nend\n",
        &[0],
        100,
    );
    assert_eq!(p.port, vec![20]);
    let p = run(
        "func main(c) -> 1\n push 10\n push 20\n local.get c\n select\n ret\nend\n",
        &[9],
        100,
    );
    assert_eq!(p.port, vec![10]);
}

#[test]
fn switch_takes_the_default_beyond_the_table() {
    let src = "func main(i) -> 1\n local.get i\n switch a b else c\na: push 100\n ret\nb: push 200\n ret\nc: push 300\n ret\nend\n";
    for (i, want) in [(0, 100), (1, 200), (2, 300), (u64::MAX, 300)] {
        assert_eq!(run(src, &[i], 100).port, vec![want]);
    }
}

#[test]
fn memory_is_little_endian_and_bounds_checked() {
    let src = ".memory 16\nfunc main(a, v) -> 3\n local.get a\n local.get v\n store32 4\n local.get a\n load8_u 4\n local.get a\n load16_s 4\n local.get a\n load64 0\n ret\nend\n";
    let p = run(src, &[0, 0xfffe_8081], 1000);
    assert_eq!(
        p.port,
        vec![0x81, 0xffff_ffff_ffff_8081, 0xfffe_8081_0000_0000]
    );
    assert_eq!(&p.memory[4..8], &[0x81, 0x80, 0xfe, 0xff]);
    // The last in-bounds and the first out-of-bounds byte; offsets never wrap.
    let load = |addr: u64, off: u32| {
        let p = run(
            &format!(".memory 16\nfunc main(a) -> 1\n local.get a\n load64 {off}\n ret\nend\n"),
            &[addr],
            100,
        );
        (p.status, p.fault)
    };
    assert_eq!(load(8, 0), (Status::Returned, Fault::None));
    assert_eq!(load(9, 0), (Status::Faulted, Fault::OutOfBounds));
    assert_eq!(load(0, 9), (Status::Faulted, Fault::OutOfBounds));
    assert_eq!(load(u64::MAX, 1), (Status::Faulted, Fault::OutOfBounds));
    assert_eq!(load(u64::MAX - 7, 0), (Status::Faulted, Fault::OutOfBounds));
}

#[test]
fn a_fault_leaves_the_state_before_the_instruction() {
    let p = run(
        "func main() -> 1 locals(x)\n push 7\n local.set x\n push 9\n push 0\n div_u\n ret\nend\n",
        &[],
        100,
    );
    assert_eq!(
        (p.status, p.fault),
        (Status::Faulted, Fault::DivisionByZero)
    );
    assert_eq!(p.frames[0].pc, 4);
    assert_eq!(p.stack, vec![7, 9, 0]);
    // The faulting block (push, local.set, push, push, div_u, ret) was paid in full.
    assert_eq!(p.gas_used, 1 + 1 + 1 + 1 + 4 + 2);
}

#[test]
fn gas_runs_out_at_block_starts_with_nothing_of_the_block_done() {
    // Blocks: [push, local.set] (2), [local.get, jz] (2), [5 ops, jmp] (…).
    let src = "func main() -> 1 locals(i)\n push 3\n local.set i\ntop:\n local.get i\n jz done\n local.get i\n push 1\n sub\n local.set i\n jmp top\ndone:\n push 42\n ret\nend\n";
    let full = run(src, &[], 1_000);
    assert_eq!(full.port, vec![42]);
    let total = full.gas_used;
    for gas in 0..total {
        let p = run(src, &[], gas);
        assert_eq!(p.status, Status::OutOfGas, "gas {gas}");
        let pc = p.frames[0].pc;
        assert!([0, 2, 4, 9].contains(&pc), "gas {gas} stopped at pc {pc}");
        assert!(
            p.gas_left < total - p.gas_used,
            "the next block did not fit"
        );
        assert_eq!(p.gas_used + p.gas_left, gas);
    }
}

#[test]
fn calls_return_results_and_account_frames() {
    let src = "func sq(x) -> 1\n local.get x\n local.get x\n mul\n ret\nend\nfunc main(a) -> 2\n local.get a\n call sq\n mem.left\n ret\nend\n";
    let p = run(src, &[12], 1000);
    assert_eq!(p.port[0], 144);
    // Inside main, after the call returned, the callee's frame was given back.
    assert_eq!(p.port[1], 1 << 20);
}

#[test]
fn deep_recursion_faults_with_call_depth() {
    let src = "func down(n) -> 1\n local.get n\n push 1\n add\n call down\n ret\nend\nfunc main() -> 1\n push 0\n call down\n ret\nend\n";
    let m = assemble_verified(src, "t").unwrap();
    let root = Box::new(Process::new(m.clone(), m.module().entry));
    let p = machine::run(root, &mut Interp, u64::MAX, u64::MAX / 2);
    assert_eq!((p.status, p.fault), (Status::Faulted, Fault::CallDepth));
    assert_eq!(p.frames.len(), rarvm_runtime::limits::MAX_CALL_DEPTH);
}

#[test]
fn frames_are_charged_as_memory() {
    let src = "func down(n) -> 1\n local.get n\n jz end\n local.get n\n push 1\n sub\n call down\n ret\nend:\n push 0\n ret\nend\nfunc main(n) -> 1\n local.get n\n call down\n ret\nend\n";
    let m = assemble_verified(src, "t").unwrap();
    let mut root = Box::new(Process::new(m.clone(), m.module().entry));
    root.port.push(1000);
    let p = machine::run(root, &mut Interp, u64::MAX, 10_000);
    assert_eq!(p.status, Status::OutOfMemory);
    assert!(
        p.frames.len() > 100 && p.frames.len() < 1000,
        "{} frames",
        p.frames.len()
    );
    let resumed = machine::run(p, &mut Interp, 0, 1 << 20);
    assert_eq!(
        (resumed.status, resumed.port.clone()),
        (Status::Returned, vec![0])
    );
}

#[test]
fn ports_and_yield() {
    let src = "func main() -> 0\n push 5\n out\n yield\n in\n push 1\n add\n out\n ret\nend\n";
    let p = run(src, &[], 1000);
    assert_eq!(p.status, Status::Yielded);
    assert_eq!(p.port, vec![5]);
    let p = machine::run(p, &mut Interp, 1000, 0);
    assert_eq!(p.status, Status::Returned);
    assert_eq!(p.port, vec![6]);
    let p = run("func main() -> 0\n in\n drop\n ret\nend\n", &[], 100);
    assert_eq!(p.fault, Fault::StackUnderflow);
}

#[test]
fn grow_copy_fill() {
    let src = "func main() -> 2\n push 100\n mem.grow\n push 10\n push 0xab\n push 5\n mem.fill\n push 12\n push 10\n push 5\n mem.copy\n mem.size\n ret\nend\n";
    let p = run(src, &[], 1000);
    assert_eq!(p.port, vec![0, 100]);
    assert_eq!(
        &p.memory[10..18],
        &[0xab; 8][..7]
            .iter()
            .copied()
            .chain([0])
            .collect::<Vec<_>>()[..]
    );
    let p = run(
        "func main() -> 1\n push 0x100000001\n mem.grow\n ret\nend\n",
        &[],
        1000,
    );
    assert_eq!(p.fault, Fault::MemoryCap);
}

#[test]
fn children_run_return_and_are_dropped() {
    let src = r#"
func child(a, b) -> 2
    local.get a
    local.get b
    add
    local.get a
    local.get b
    mul
    ret
end
func main() -> 5 locals(c)
    spawn child
    local.tee c
    push 3
    child.push
    local.get c
    push 4
    child.push
    local.get c
    push 1000
    push 0
    recurse
    local.get c
    child.pop
    local.get c
    child.pop
    local.get c
    child.info gas_used
    local.get c
    key.drop
    push 0
    key.kind
    ret
end
"#;
    let p = run(src, &[], 10_000);
    assert_eq!(p.port, vec![Status::Returned as u64, 12, 7, 10, 0]);
    assert!(p.keys.is_empty());
}

#[test]
fn a_child_with_the_wrong_arity_faults_at_start() {
    let src = "func child(a) -> 0\n ret\nend\nfunc main() -> 2 locals(c)\n spawn child\n local.tee c\n push 10\n push 0\n recurse\n local.get c\n child.info fault\n ret\nend\n";
    let p = run(src, &[], 10_000);
    assert_eq!(p.port, vec![Status::Faulted as u64, Fault::BadArity as u64]);
}

#[test]
fn children_from_bytes_and_images() {
    // A module assembled by the host, copied into the parent's memory as data.
    let child = rarvm_runtime::asm::assemble("func main() -> 1\n push 77\n ret\nend\n", "c")
        .unwrap()
        .encode();
    let hex: String = child.iter().map(|b| format!("{b:02x}")).collect();
    let src = format!(
        r#".data 0 x"{hex}"
.memory 4096
func main() -> 6 locals(c, d, len)
    push 0
    push {len}
    spawn.bytes
    drop
    local.tee c
    push 100
    push 0
    recurse
    drop
    local.get c
    push 1000
    push 3000
    child.save
    local.tee len
    push 1000
    local.get len
    child.load
    drop
    local.tee d
    child.pop
    local.get c
    child.pop
    push 0
    push 10
    spawn.bytes
    push 1
    push {len}
    spawn.bytes
    swap
    drop
    ret
end
"#,
        len = child.len()
    );
    let p = run(&src, &[], 100_000);
    assert_eq!(p.status, Status::Returned, "{:?}", p.fault);
    let [len, restored, original, bad_slot, bad_err, invalid_err] = p.port[..] else {
        panic!("{:?}", p.port)
    };
    assert!(len > child.len() as u64);
    assert_eq!((restored, original), (77, 77));
    assert_eq!((bad_slot, bad_err), (u64::MAX, 1));
    assert_eq!(
        invalid_err, 1,
        "bytes that do not start at the magic are malformed"
    );
}
