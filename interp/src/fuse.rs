//! Fused ops: short runs of instructions inside one basic block that the interpreter
//! executes as one op.
//!
//! Only block starts and the instructions that can stop a process are observable (stops,
//! images, hand-overs to native code). A fused run never contains a block start after its
//! first instruction and is made of instructions that cannot fault or stop — local reads
//! and writes, constants, [`Alu`] operations and a closing conditional branch — except
//! that it may end in a load or a store, which can fault `out_of_bounds`. So at every
//! observable point the frame holds exactly what executing the run instruction by
//! instruction leaves: the same locals, the same operand words up to the stack height (the
//! words above it are dead, never part of an image), and gas is charged per block as
//! before. When the closing access faults, the op first writes the operands the access
//! would have found on the stack and stops at the access's own pc.

use rarvm_runtime::isa::Instr;

use crate::access::{Access, Load, Store};
use crate::alu::Alu;
use crate::lower::Op;

/// A local index small enough for a fused op.
fn local(i: u32) -> Option<u16> {
    u16::try_from(i).ok()
}

/// A constant small enough for a fused op.
fn imm(c: u64) -> Option<u32> {
    u32::try_from(c).ok()
}

fn alu(i: Instr) -> Option<Alu> {
    Alu::of(i.opcode())
}

/// A load and its offset.
fn load(i: Option<Instr>) -> Option<(Load, u32)> {
    let i = i?;
    match Access::of(i.opcode())? {
        Access::Load(l) => Some((l, i.imm() as u32)),
        Access::Store(_) => None,
    }
}

/// A store and its offset.
fn store(i: Option<Instr>) -> Option<(Store, u32)> {
    let i = i?;
    match Access::of(i.opcode())? {
        Access::Store(s) => Some((s, i.imm() as u32)),
        Access::Load(_) => None,
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

/// The fused op for the longest run that starts `code` (the rest of its block: no block
/// starts after the first instruction), and how many instructions it covers. Branch
/// targets are still instruction indices.
pub(crate) fn fuse(code: &[Instr]) -> Option<(Op, usize)> {
    use Instr::{LocalGet, LocalSet, Push};
    let at = |k: usize| code.get(k).copied();
    let (first, second, third, fourth) = (at(0)?, at(1)?, at(2), at(3));
    let set = |i: Option<Instr>| match i {
        Some(LocalSet(d)) => local(d),
        _ => None,
    };
    let branch = |i: Option<Instr>| i.and_then(cond);
    match (first, second, third.and_then(alu)) {
        // `local.get a; local.get b; ALU` and what follows it.
        (LocalGet(a), LocalGet(b), Some(op)) => {
            let (a, b) = (local(a)?, local(b)?);
            Some(if let Some((nz, t)) = branch(fourth) {
                (Op::BrLL(op, nz, a, b, t), 4)
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
                (Op::BrLI(op, nz, a, c, t), 4)
            } else if let Some((l, o)) = load(fourth) {
                (Op::LoadLI(op, l, a, c, o), 4)
            } else if let Some(d) = set(fourth) {
                (Op::SetLI(op, d, a, c), 4)
            } else {
                (Op::BinLI(op, a, c), 3)
            })
        }
        (LocalGet(a), LocalGet(b), None) => Some((Op::Get2(a, b), 2)),
        (LocalGet(a), Push(c), None) => {
            let (s, o) = store(third)?;
            Some((Op::StoreLI(s, local(a)?, imm(c)?, o), 3))
        }
        (LocalGet(a), j, _) => {
            let a = local(a)?;
            if let Some((l, o)) = load(Some(j)) {
                return Some((Op::LoadL(l, a, o), 2));
            }
            if let Some((s, o)) = store(Some(j)) {
                return Some((Op::StoreL(s, a, o), 2));
            }
            let (nz, t) = cond(j)?;
            Some((Op::BrL(nz, a, t), 2))
        }
        (Push(c), x, _) => {
            let (op, c) = (alu(x)?, imm(c)?);
            Some(if let Some((l, o)) = load(third) {
                (Op::LoadI(op, l, c, o), 3)
            } else {
                (Op::BinI(op, c), 2)
            })
        }
        (x, y, _) => {
            let op = alu(x)?;
            if let Some((nz, t)) = cond(y) {
                Some((Op::Br(op, nz, t), 2))
            } else {
                Some((Op::BinSet(op, set(Some(y))?), 2))
            }
        }
    }
}
