//! Fused ops: short runs of instructions inside one basic block that the interpreter
//! executes as one op.
//!
//! Only block starts and the instructions that can stop a process are observable (stops,
//! images, hand-overs to native code). A fused run never contains a block start after its
//! first instruction and is made of instructions that cannot fault or stop — local reads
//! and writes, constants, [`Alu`] operations and a closing conditional branch or `switch` —
//! except that it may end in a load or a store, begin with a load, load between its local
//! read and its local write or closing branch (`local.get a; load64 8; local.set d`,
//! `local.get a; load8_u 0; jnz t`), or load a word, compute and store it back in place
//! (`local.get a; local.get a; load8_u 0; push 1; add; store8 0`), which can fault
//! `out_of_bounds`. So at every observable point the frame holds exactly what executing the
//! run instruction by instruction leaves: the same locals, the same operand words up to
//! the stack height (the words above it are dead, never part of an image), and gas is
//! charged per block as before. When an access inside a run faults, the op first writes
//! the operands the access would have found on the stack and stops at the access's own
//! pc, before anything after it; an opening load faults before the run has changed
//! anything.
//!
//! A block's charge may also be paid by the op that enters it — a `jmp` to it, or a fused
//! branch falling through to it — with the same check and the same stop at the block's
//! start when the gas is short; the charge op stays for every other way in.

use rarvm_runtime::isa::{Instr, Opcode};

use crate::access::{Load, Store};
use crate::alu::Alu;
use crate::lower::{Imm, Op};

/// The most instructions a fused run covers.
const MAX_RUN: usize = 6;

/// A local index small enough for a fused op.
fn local(i: u32) -> Option<u16> {
    u16::try_from(i).ok()
}

/// A constant small enough for a fused op.
fn imm(c: u64) -> Option<u32> {
    u32::try_from(c).ok()
}

/// An instruction a fused run may contain besides local reads and writes, constants and
/// branches.
enum Part {
    Alu(Alu),
    Load(Load),
    Store(Store),
}

/// What a fused run may contain of the instruction `op`: a two-operand op that cannot
/// fault, or (closing the run) a load or a store.
fn part(op: Opcode) -> Option<Part> {
    Some(match op {
        Opcode::Add => Part::Alu(Alu::Add),
        Opcode::Sub => Part::Alu(Alu::Sub),
        Opcode::Mul => Part::Alu(Alu::Mul),
        Opcode::And => Part::Alu(Alu::And),
        Opcode::Or => Part::Alu(Alu::Or),
        Opcode::Xor => Part::Alu(Alu::Xor),
        Opcode::Shl => Part::Alu(Alu::Shl),
        Opcode::ShrU => Part::Alu(Alu::ShrU),
        Opcode::ShrS => Part::Alu(Alu::ShrS),
        Opcode::Rotl => Part::Alu(Alu::Rotl),
        Opcode::Rotr => Part::Alu(Alu::Rotr),
        Opcode::Eq => Part::Alu(Alu::Eq),
        Opcode::Ne => Part::Alu(Alu::Ne),
        Opcode::LtU => Part::Alu(Alu::LtU),
        Opcode::LtS => Part::Alu(Alu::LtS),
        Opcode::GtU => Part::Alu(Alu::GtU),
        Opcode::GtS => Part::Alu(Alu::GtS),
        Opcode::LeU => Part::Alu(Alu::LeU),
        Opcode::LeS => Part::Alu(Alu::LeS),
        Opcode::GeU => Part::Alu(Alu::GeU),
        Opcode::GeS => Part::Alu(Alu::GeS),
        Opcode::Load8U => Part::Load(Load::U8),
        Opcode::Load8S => Part::Load(Load::S8),
        Opcode::Load16U => Part::Load(Load::U16),
        Opcode::Load16S => Part::Load(Load::S16),
        Opcode::Load32U => Part::Load(Load::U32),
        Opcode::Load32S => Part::Load(Load::S32),
        Opcode::Load64 => Part::Load(Load::W64),
        Opcode::Store8 => Part::Store(Store::W8),
        Opcode::Store16 => Part::Store(Store::W16),
        Opcode::Store32 => Part::Store(Store::W32),
        Opcode::Store64 => Part::Store(Store::W64),
        // Division faults on a zero divisor; the rest take one operand or none, or work
        // on more than the operand stack.
        Opcode::DivU
        | Opcode::DivS
        | Opcode::RemU
        | Opcode::RemS
        | Opcode::Nop
        | Opcode::Trap
        | Opcode::Halt
        | Opcode::Jmp
        | Opcode::Jz
        | Opcode::Jnz
        | Opcode::Switch
        | Opcode::Call
        | Opcode::Ret
        | Opcode::Push
        | Opcode::Drop
        | Opcode::Dup
        | Opcode::Swap
        | Opcode::Over
        | Opcode::Select
        | Opcode::LocalGet
        | Opcode::LocalSet
        | Opcode::LocalTee
        | Opcode::Not
        | Opcode::Neg
        | Opcode::Clz
        | Opcode::Ctz
        | Opcode::Popcnt
        | Opcode::Eqz
        | Opcode::MemSize
        | Opcode::MemGrow
        | Opcode::MemCopy
        | Opcode::MemFill
        | Opcode::GasLeft
        | Opcode::MemLeft
        | Opcode::In
        | Opcode::Out
        | Opcode::Yield
        | Opcode::Spawn
        | Opcode::SpawnBytes
        | Opcode::Recurse
        | Opcode::ChildPush
        | Opcode::ChildPop
        | Opcode::ChildInfo
        | Opcode::ChildGrow
        | Opcode::ChildWrite
        | Opcode::ChildRead
        | Opcode::ChildSave
        | Opcode::ChildLoad
        | Opcode::KeyKind
        | Opcode::KeyDrop
        | Opcode::KeyRights
        | Opcode::KeyGive
        | Opcode::KeyAttenuate
        | Opcode::KeyInvoke => return None,
    })
}

fn alu(i: Instr) -> Option<Alu> {
    match part(i.opcode())? {
        Part::Alu(op) => Some(op),
        Part::Load(_) | Part::Store(_) => None,
    }
}

/// A load and its offset.
fn load(i: Option<Instr>) -> Option<(Load, u32)> {
    let i = i?;
    match part(i.opcode())? {
        Part::Load(l) => Some((l, i.imm() as u32)),
        Part::Alu(_) | Part::Store(_) => None,
    }
}

/// A store and its offset.
fn store(i: Option<Instr>) -> Option<(Store, u32)> {
    let i = i?;
    match part(i.opcode())? {
        Part::Store(s) => Some((s, i.imm() as u32)),
        Part::Alu(_) | Part::Load(_) => None,
    }
}

/// `jz t` or `jnz t` as (branch when nonzero, t).
fn cond(i: Instr) -> Option<(bool, u32)> {
    if let Instr::Jz(t) = i {
        return Some((false, t));
    }
    if let Instr::Jnz(t) = i {
        return Some((true, t));
    }
    None
}

/// The branch `br` builds on `op`'s result being nonzero (`nz`) or zero, said as a branch
/// when nonzero whenever `op` is a comparison: `lt_u; jz` as `ge_u; jnz`. The branch's
/// sense is then part of its kind, so the threaded function that runs it is one per sense,
/// and branches of opposite senses do not share (and mispredict at) one native branch.
fn when_holds(op: Alu, nz: bool, br: impl FnOnce(Alu, bool) -> Op) -> Op {
    match op.negated() {
        Some(neg) if !nz => br(neg, true),
        _ => br(op, nz),
    }
}

/// Whether a fused run may begin with `ins`: every run begins with a local read, a
/// constant, an ALU op or a load. Most instructions fail this test, which keeps the
/// lowering cheap for code that fuses little (its host time is paid by the gas
/// `spawn.bytes` charges per byte).
fn starts_run(ins: Instr) -> bool {
    matches!(ins, Instr::LocalGet(_) | Instr::Push(_))
        || matches!(part(ins.opcode()), Some(Part::Alu(_) | Part::Load(_)))
}

/// The fused op for the longest run that starts `code`, and how many instructions it
/// covers. `leader[k]` says whether `code[k]` starts a block: a run covers at most
/// [`MAX_RUN`] instructions, none a block start but the first. Branch targets are still
/// instruction indices.
#[inline]
pub(crate) fn fuse(code: &[Instr], leader: &[bool]) -> Option<(Op, usize)> {
    if !code.first().copied().is_some_and(starts_run) {
        return None;
    }
    fuse_run(code, leader)
}

/// [`fuse`] for code whose first instruction [`starts_run`].
fn fuse_run(code: &[Instr], leader: &[bool]) -> Option<(Op, usize)> {
    use Instr::{LocalGet, LocalSet, LocalTee, Push};
    let len = code.len().min(MAX_RUN);
    let end = (1..len).find(|&k| leader[k]).unwrap_or(len);
    let code = &code[..end];
    let at = |k: usize| code.get(k).copied();
    let (first, second, third, fourth, fifth) = (at(0)?, at(1)?, at(2), at(3), at(4));
    let sixth = at(5);
    let set = |i: Option<Instr>| match i {
        Some(LocalSet(d)) => local(d),
        _ => None,
    };
    let tee = |i: Option<Instr>| match i {
        Some(LocalTee(d)) => local(d),
        _ => None,
    };
    let branch = |i: Option<Instr>| i.and_then(cond);
    match (first, second, third.and_then(alu)) {
        // `local.get a; local.get b; ALU` and what follows it.
        (LocalGet(a), LocalGet(b), Some(op)) => {
            let (a, b) = (local(a)?, local(b)?);
            Some(if let Some((nz, t)) = branch(fourth) {
                (when_holds(op, nz, |op, nz| Op::BrLL(op, nz, a, b, t)), 4)
            } else if let Some(d) = set(fourth) {
                (Op::SetLL(op, d, a, b), 4)
            } else {
                (Op::BinLL(op, a, b), 3)
            })
        }
        // `local.get a; push c; ALU` and what follows it.
        (LocalGet(a), Push(c), Some(op)) => {
            let (a, c) = (local(a)?, imm(c)?);
            Some(if let Some((nz, t)) = branch(fourth) {
                (when_holds(op, nz, |op, nz| Op::BrLI(op, nz, a, c, t)), 4)
            } else if let Some((l, o)) = load(fourth) {
                (Op::LoadLI(op, l, a, c, o), 4)
            } else if let Some(d) = set(fourth) {
                (Op::SetLI(op, d, a, c), 4)
            } else if let Some(d) = tee(fourth) {
                (Op::TeeLI(op, d, a, c), 4)
            } else {
                (Op::BinLI(op, a, c), 3)
            })
        }
        (LocalGet(a), LocalGet(b), None) => {
            // `local.get a; local.get a; LOAD o; push c; ALU; STORE o`, as wide as the load
            if let (true, Some((l, o)), Some(Push(c)), Some(op), Some((s, so))) = (
                a == b,
                load(third),
                fourth,
                fifth.and_then(alu),
                store(sixth),
            ) {
                if s == l.store() && so == o {
                    return Some((Op::Update(l, op, local(a)?, imm(c)?, o), 6));
                }
            }
            // `local.get a; local.get b; local.get c; ALU; STORE o`
            if let (Some(LocalGet(c)), Some(op), Some((s, o))) =
                (third, fourth.and_then(alu), store(fifth))
            {
                return Some((Op::StoreLLL(s, op, local(a)?, local(b)?, local(c)?, o), 5));
            }
            Some(match (store(third), local(a), local(b)) {
                (Some((s, o)), Some(a), Some(b)) => (Op::StoreLL(s, a, b, o), 3),
                _ => (Op::Get2(a, b), 2),
            })
        }
        (LocalGet(a), Push(c), None) => {
            let (s, o) = store(third)?;
            Some((Op::StoreLI(s, local(a)?, imm(c)?, o), 3))
        }
        // `local.get a` and what uses it.
        (LocalGet(a), j, _) => {
            let a = local(a)?;
            if let Some(op) = alu(j) {
                return Some(if let Some(d) = set(third) {
                    (Op::SetL(op, d, a), 3)
                } else if let Some((nz, t)) = branch(third) {
                    (when_holds(op, nz, |op, nz| Op::BrSL(op, nz, a, t)), 3)
                } else if let Some((l, o)) = load(third) {
                    (Op::LoadSL(op, l, a, o), 3)
                } else {
                    (Op::BinL(op, a), 2)
                });
            }
            if let Some(d) = set(Some(j)) {
                return Some((Op::Mov(d, a), 2));
            }
            if let Some((l, o)) = load(Some(j)) {
                return Some(if let Some(d) = set(third) {
                    (Op::LoadLSet(l, d, a, o), 3)
                } else if let Some(d) = tee(third) {
                    (Op::LoadLTee(l, d, a, o), 3)
                } else if let Some((nz, t)) = branch(third) {
                    (Op::LoadLBr(l, nz, a, o, t), 3)
                } else if let Some(Instr::Switch(t)) = third {
                    (Op::LoadLSwitch(l, a, o, t), 3)
                } else {
                    (Op::LoadL(l, a, o), 2)
                });
            }
            if let (Some(d), Some((nz, t))) = (tee(Some(j)), branch(third)) {
                return Some((Op::MovBr(nz, d, a, t), 3));
            }
            if let Some((s, o)) = store(Some(j)) {
                return Some((Op::StoreL(s, a, o), 2));
            }
            let (nz, t) = cond(j)?;
            Some((Op::BrL(nz, a, t), 2))
        }
        (Push(c), x, _) => {
            let op = alu(x)?;
            if let Some(c) = imm(c) {
                if let Some((l, o)) = load(third) {
                    return Some((Op::LoadI(op, l, c, o), 3));
                }
                if let Some((nz, t)) = branch(third) {
                    return Some((when_holds(op, nz, |op, nz| Op::BrI(op, nz, c, t)), 3));
                }
            }
            Some(if let Some(d) = tee(third) {
                (Op::TeeI(op, d, Imm::new(c)), 3)
            } else {
                (Op::BinI(op, Imm::new(c)), 2)
            })
        }
        // A load and the local it sets.
        (x, y, _) if load(Some(x)).is_some() => {
            let (l, o) = load(Some(x))?;
            match y {
                LocalSet(d) => Some((Op::LoadSet(l, local(d)?, o), 2)),
                LocalTee(d) => Some((Op::LoadTee(l, local(d)?, o), 2)),
                _ => None,
            }
        }
        // An ALU op on the stack's top two words and what takes its result.
        (x, y, _) => {
            let op = alu(x)?;
            if let Some((nz, t)) = cond(y) {
                return Some((when_holds(op, nz, |op, nz| Op::Br(op, nz, t)), 2));
            }
            if let Some((l, o)) = load(Some(y)) {
                return Some((Op::LoadS(op, l, o), 2));
            }
            match y {
                LocalTee(d) => Some((Op::BinTee(op, local(d)?), 2)),
                _ => Some((Op::BinSet(op, set(Some(y))?), 2)),
            }
        }
    }
}
