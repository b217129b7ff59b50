//! Lowering: verified functions into the interpreter's op arrays.
//!
//! Each basic block that is charged at entry gets a [`Op::Charge`] in front of its first
//! instruction, so metering has exactly one handler. Branch targets become op indices
//! pointing at the target block's charge. The mapping back to instruction indices keeps
//! every exit canonical.

use rarvm_runtime::isa::{dynamic_gas, ImmKind, Instr, Opcode};
use rarvm_runtime::verify::VerifiedModule;

/// One interpreter op: a block's gas charge, or an instruction whose branch targets are
/// op indices (for `switch`, an index into [`Func::tables`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Charge(u32),
    I(Instr),
}

/// A lowered function.
pub(crate) struct Func {
    pub ops: Box<[Op]>,
    /// Op index → instruction index.
    pub pc_of: Box<[u32]>,
    /// Instruction index → the op where executing it from a block start begins (its
    /// block's charge, if it has one).
    pub entry_of: Box<[u32]>,
    /// `switch` tables as op indices, the default last.
    pub tables: Box<[Box<[u32]>]>,
    pub params: usize,
    pub results: usize,
    /// Parameters plus locals.
    pub locals: usize,
    pub frame_words: usize,
    pub frame_bytes: u64,
    /// What calling this function costs: `call`'s gas for its frame.
    pub call_gas: u64,
}

/// A lowered module, attached to its [`VerifiedModule`] and shared by all its processes.
pub(crate) struct Lowered {
    pub funcs: Box<[Func]>,
}

pub(crate) fn lower(m: &VerifiedModule) -> Lowered {
    let funcs = (0..m.func_count()).map(|i| lower_func(m, i)).collect();
    Lowered { funcs }
}

fn lower_func(m: &VerifiedModule, index: u32) -> Func {
    let f = m.func(index);
    let info = m.info(index);
    let mut ops = Vec::with_capacity(f.code.len() * 5 / 4);
    let mut pc_of = Vec::with_capacity(ops.capacity());
    let mut entry_of = vec![0u32; f.code.len()];
    for (pc, ins) in f.code.iter().enumerate() {
        entry_of[pc] = ops.len() as u32;
        if info.leader[pc] && !ins.info().self_metered() {
            ops.push(Op::Charge(info.block_cost[pc]));
            pc_of.push(pc as u32);
        }
        ops.push(Op::I(*ins));
        pc_of.push(pc as u32);
    }
    // Every instruction whose immediate is a branch target (the table says which) now
    // names the op its target block begins at.
    for op in &mut ops {
        if let Op::I(ins) = op {
            if ins.info().imm == ImmKind::Target {
                *ins = Instr::from_parts(ins.opcode(), entry_of[ins.imm() as usize].into());
            }
        }
    }
    let tables = f
        .tables
        .iter()
        .map(|t| t.iter().map(|pc| entry_of[*pc as usize]).collect())
        .collect();
    Func {
        ops: ops.into_boxed_slice(),
        pc_of: pc_of.into_boxed_slice(),
        entry_of: entry_of.into_boxed_slice(),
        tables,
        params: f.params as usize,
        results: f.results as usize,
        locals: f.local_count() as usize,
        frame_words: info.frame_words as usize,
        frame_bytes: info.frame_bytes,
        call_gas: dynamic_gas(Opcode::Call, info.frame_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rarvm_runtime::asm::assemble_verified;

    #[test]
    fn ops_stay_small() {
        assert_eq!(std::mem::size_of::<Op>(), 16);
    }

    #[test]
    fn charges_lead_blocks_and_targets_point_at_them() {
        let m = assemble_verified(
            "func main(n) -> 1\ntop:\n local.get n\n jz done\n local.get n\n push 1\n sub\n local.set n\n jmp top\ndone:\n push 7\n ret\nend\n",
            "t.rasm",
        )
        .unwrap();
        let l = lower(&m);
        let f = &l.funcs[0];
        assert_eq!(f.ops[0], Op::Charge(2));
        assert_eq!(f.ops[2], Op::I(Instr::Jz(9)));
        assert_eq!(f.ops[3], Op::Charge(5));
        assert_eq!(f.ops[8], Op::I(Instr::Jmp(0)));
        assert_eq!(f.ops[9], Op::Charge(3));
        assert_eq!(&f.entry_of[..], &[0, 2, 3, 5, 6, 7, 8, 9, 11]);
        assert_eq!(f.pc_of[9], 7);
        assert_eq!(f.pc_of[10], 7);
    }
}
