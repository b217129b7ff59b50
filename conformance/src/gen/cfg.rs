//! Functions with unstructured control flow: a random graph of basic blocks.
//!
//! The structured generator writes `if`, loops and `switch` as nested statements, so every
//! block is entered with an empty operand stack and every loop has one entry. A [`Cfg`] is
//! the other half of what the verifier accepts: blocks entered with values on the stack,
//! forward and backward jumps, loops with several entries, `switch` tables with repeated
//! targets, calls in the middle of a computation followed by further pushes, several
//! results, and few locals (so a callee's frame can end below its caller's).
//!
//! Each block has a fixed entry height. Its operations are kept abstract: rendering tracks
//! the height and pads with `push 0` or `drop` where an operation or the terminator needs
//! it, so any subset of operations (what the shrinker removes) still verifies. Termination
//! comes from a fuel local counted down at every block entry; when it reaches zero the
//! block leaves through an exit stub for its entry height.

use std::fmt::Write as _;

use super::{BINOPS, LOADS, NULLARY, PURE_UNOPS, STORES, UNOPS};
use crate::rng::Rng;

/// The highest entry height a block may have.
const MAX_ENTRY: u32 = 3;
/// Rendering keeps operand heights at or below this (padding with `drop`).
const MAX_HEIGHT: u32 = 8;

/// A function body as a graph of blocks; block 0 is entered first.
#[derive(Clone, Debug)]
pub struct Cfg {
    pub blocks: Vec<Block>,
    /// Block entries allowed before the function leaves through an exit stub.
    pub fuel: u64,
}

#[derive(Clone, Debug)]
pub struct Block {
    /// Operand-stack height on entry (0 for block 0).
    pub entry: u32,
    pub ops: Vec<Op>,
    pub term: Term,
}

/// One abstract operation; rendering pads the stack to what it pops.
#[derive(Clone, Debug)]
pub enum Op {
    Push(u64),
    Get(u32),
    Set(u32),
    Tee(u32),
    Bin(&'static str),
    Un(&'static str),
    Drop,
    Dup,
    Swap,
    Over,
    Select,
    /// A load at an address folded into memory (by `rem_u`).
    Load(&'static str, u32),
    /// A store at an address folded into memory.
    Store(&'static str, u32),
    Nullary(&'static str),
    Call(u32),
    Out,
}

#[derive(Clone, Debug)]
pub enum Term {
    Jmp(usize),
    /// `jz` or `jnz` to a block, else into the next one (both must have equal entries).
    Branch(&'static str, usize),
    /// Targets (repeats allowed), the default last; all have the same entry height.
    Switch(Vec<usize>),
    Ret,
}

/// What the generator of a [`Cfg`] knows about the module.
pub struct Context<'a> {
    /// (params, results) of every function.
    pub sigs: &'a [(u32, u32)],
    /// This function's index: calls go to later functions only.
    pub index: u32,
    pub params: u32,
    /// Locals beyond the parameters; the last is the fuel counter.
    pub locals: u32,
    pub memory: u64,
}

/// A random graph of 1 to 8 blocks for the function described by `cx`.
pub fn generate(rng: &mut Rng, cx: &Context<'_>) -> Cfg {
    let n = if rng.chance(1, 30) {
        rng.range(20, 60)
    } else {
        rng.range(1, 8)
    } as usize;
    let entries: Vec<u32> = (0..n)
        .map(|i| {
            if i == 0 {
                0
            } else {
                rng.below(u64::from(MAX_ENTRY) + 1) as u32
            }
        })
        .collect();
    let blocks = (0..n)
        .map(|i| {
            let count = rng.below(7);
            let mut ops = Vec::new();
            for _ in 0..count {
                let o = op(rng, cx);
                let call = matches!(o, Op::Call(_));
                ops.push(o);
                if call && rng.chance(1, 2) {
                    // A call inside a computation: more operands pile up after it.
                    for _ in 0..rng.range(1, 6) {
                        ops.push(Op::Push(rng.below(16)));
                    }
                }
            }
            Block {
                entry: entries[i],
                ops,
                term: term(rng, &entries, i),
            }
        })
        .collect();
    Cfg {
        blocks,
        fuel: if rng.chance(1, 4) {
            rng.range(20, 300)
        } else {
            rng.range(1, 12)
        },
    }
}

fn op(rng: &mut Rng, cx: &Context<'_>) -> Op {
    let nlocals = cx.params + cx.locals - 1; // the fuel local is not touched
    let local = |rng: &mut Rng| rng.below(u64::from(nlocals.max(1))) as u32;
    match rng.below(24) {
        0..=3 => Op::Push(rng.word()),
        4 | 5 if nlocals > 0 => Op::Get(local(rng)),
        6 if nlocals > 0 => Op::Set(local(rng)),
        7 if nlocals > 0 => Op::Tee(local(rng)),
        8..=10 => Op::Bin(rng.pick(&BINOPS)),
        11 => Op::Un(rng.pick(&UNOPS[..*PURE_UNOPS])),
        12 => Op::Drop,
        13 => Op::Dup,
        14 => Op::Swap,
        15 => Op::Over,
        16 => Op::Select,
        17 if cx.memory > 0 => Op::Load(rng.pick(&LOADS), rng.below(8) as u32),
        18 if cx.memory > 0 => Op::Store(rng.pick(&STORES), rng.below(8) as u32),
        19 => Op::Nullary(rng.pick(&NULLARY)),
        20..=22 => {
            let later: Vec<u32> = (cx.index + 1..cx.sigs.len() as u32).collect();
            if later.is_empty() {
                Op::Nullary("gas.left")
            } else {
                Op::Call(rng.pick(&later))
            }
        }
        23 if rng.chance(1, 3) => Op::Out,
        _ => Op::Push(rng.below(16)),
    }
}

fn term(rng: &mut Rng, entries: &[u32], i: usize) -> Term {
    let n = entries.len();
    let with_entry = |e: u32| -> Vec<usize> { (0..n).filter(|&b| entries[b] == e).collect() };
    let last = i + 1 == n;
    match rng.below(10) {
        0..=2 => Term::Jmp(rng.below(n as u64) as usize),
        3..=5 if !last => {
            // The target must be entered at the height the fallthrough is.
            let targets = with_entry(entries[i + 1]);
            let t = rng.pick(&targets);
            Term::Branch(if rng.chance(1, 2) { "jz" } else { "jnz" }, t)
        }
        6 | 7 => {
            let e = entries[rng.below(n as u64) as usize];
            let pool = with_entry(e);
            let k = rng.range(1, 5);
            Term::Switch((0..k).map(|_| rng.pick(&pool)).collect())
        }
        _ => Term::Ret,
    }
}

/// How many words `op` pops and pushes, given the callee signatures.
fn effect(op: &Op, sigs: &[(u32, u32)]) -> (u32, u32) {
    match op {
        Op::Push(_) | Op::Get(_) | Op::Nullary(_) => (0, 1),
        Op::Set(_) | Op::Drop | Op::Out => (1, 0),
        Op::Tee(_) | Op::Un(_) | Op::Load(..) => (1, 1),
        Op::Bin(_) => (2, 1),
        Op::Dup => (1, 2),
        Op::Swap => (2, 2),
        Op::Over => (2, 3),
        Op::Select => (3, 1),
        Op::Store(..) => (2, 0),
        Op::Call(c) => sigs[*c as usize],
    }
}

/// Renders `cfg` as the body of a function with `results` results whose fuel counter is
/// local `fuel`, using labels prefixed by `tag`.
pub fn render(
    cfg: &Cfg,
    sigs: &[(u32, u32)],
    results: u32,
    fuel: u32,
    memory: u64,
    tag: &str,
) -> String {
    let mut out = String::new();
    let ins = |out: &mut String, s: &str| {
        out.push_str("    ");
        out.push_str(s);
        out.push('\n');
    };
    let room = memory.saturating_sub(8).max(1);
    ins(&mut out, &format!("push {}", cfg.fuel));
    ins(&mut out, &format!("local.set {fuel}"));
    for (i, b) in cfg.blocks.iter().enumerate() {
        writeln!(out, "{tag}B{i}:").unwrap();
        // Count the entry against the fuel, leaving through the exit stub for this height.
        ins(&mut out, &format!("local.get {fuel}"));
        ins(&mut out, &format!("jz {tag}X{}", b.entry));
        ins(&mut out, &format!("local.get {fuel}"));
        ins(&mut out, "push 1");
        ins(&mut out, "sub");
        ins(&mut out, &format!("local.set {fuel}"));
        let mut h = b.entry;
        for op in &b.ops {
            let (pops, pushes) = effect(op, sigs);
            while h < pops {
                ins(&mut out, "push 0");
                h += 1;
            }
            while h - pops + pushes > MAX_HEIGHT {
                ins(&mut out, "drop");
                h -= 1;
            }
            match op {
                Op::Push(v) => ins(&mut out, &format!("push {v}")),
                Op::Get(l) => ins(&mut out, &format!("local.get {l}")),
                Op::Set(l) => ins(&mut out, &format!("local.set {l}")),
                Op::Tee(l) => ins(&mut out, &format!("local.tee {l}")),
                Op::Bin(name) => {
                    if name.starts_with("div") || name.starts_with("rem") {
                        ins(&mut out, "push 1");
                        ins(&mut out, "or");
                    }
                    ins(&mut out, name);
                }
                Op::Un(name) | Op::Nullary(name) => ins(&mut out, name),
                Op::Drop => ins(&mut out, "drop"),
                Op::Dup => ins(&mut out, "dup"),
                Op::Swap => ins(&mut out, "swap"),
                Op::Over => ins(&mut out, "over"),
                Op::Select => ins(&mut out, "select"),
                Op::Load(name, off) => {
                    ins(&mut out, &format!("push {room}"));
                    ins(&mut out, "rem_u");
                    ins(&mut out, &format!("{name} {off}"));
                }
                Op::Store(name, off) => {
                    ins(&mut out, "swap");
                    ins(&mut out, &format!("push {room}"));
                    ins(&mut out, "rem_u");
                    ins(&mut out, "swap");
                    ins(&mut out, &format!("{name} {off}"));
                }
                Op::Call(c) => ins(&mut out, &format!("call f{c}")),
                Op::Out => ins(&mut out, "out"),
            }
            h = h - pops + pushes;
        }
        let (need, text) = match &b.term {
            Term::Jmp(t) => (cfg.blocks[*t].entry, format!("jmp {tag}B{t}")),
            Term::Branch(op, t) => (cfg.blocks[*t].entry + 1, format!("{op} {tag}B{t}")),
            Term::Switch(targets) => {
                let (default, cases) = targets.split_last().expect("a switch has a default");
                let cases: Vec<String> = cases.iter().map(|t| format!("{tag}B{t}")).collect();
                (
                    cfg.blocks[*default].entry + 1,
                    format!("switch {} else {tag}B{default}", cases.join(" ")),
                )
            }
            Term::Ret => (results, "ret".to_string()),
        };
        while h < need {
            ins(&mut out, &format!("push {}", h + 1));
            h += 1;
        }
        while h > need {
            ins(&mut out, "drop");
            h -= 1;
        }
        ins(&mut out, &text);
    }
    // Exit stubs: one per entry height, each returning constant results.
    for e in 0..=MAX_ENTRY {
        writeln!(out, "{tag}X{e}:").unwrap();
        for _ in 0..e {
            ins(&mut out, "drop");
        }
        for r in 0..results {
            ins(&mut out, &format!("push {}", 100 + r));
        }
        ins(&mut out, "ret");
    }
    out
}

/// Every variant of `cfg` with one operation removed, for shrinking.
pub fn shrink(cfg: &Cfg) -> Vec<Cfg> {
    let mut out = Vec::new();
    for (i, b) in cfg.blocks.iter().enumerate() {
        for k in 0..b.ops.len() {
            let mut c = cfg.clone();
            c.blocks[i].ops.remove(k);
            out.push(c);
        }
        if !matches!(b.term, Term::Ret) {
            let mut c = cfg.clone();
            c.blocks[i].term = Term::Ret;
            out.push(c);
        }
    }
    out
}
