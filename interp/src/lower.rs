//! Lowering: verified functions into the interpreter's op arrays.
//!
//! Each basic block that is charged at entry gets a [`Op::Charge`] in front of its first
//! instruction, so metering has exactly one handler. Branch targets become op indices
//! pointing at the target block's charge. The mapping back to instruction indices keeps
//! every exit canonical. Outside the reference lowering, short runs inside a block become
//! one fused op (see [`crate::fuse`]).

use rarvm_runtime::isa::{dynamic_gas, ImmKind, Instr, Opcode};
use rarvm_runtime::verify::VerifiedModule;

use crate::access::{Load, Store};
use crate::alu::Alu;
use crate::fuse::fuse;

/// One interpreter op: a block's gas charge, an instruction whose branch targets are op
/// indices (for `switch`, an index into [`Func::tables`]), or a fused run of instructions
/// (`a`, `b`, `d`: locals; `c`: a constant; `nz`: branch when the value is nonzero, else
/// when it is zero; `t`: the target op).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Charge(u32),
    I(Instr),
    /// `jmp t` to a charged block as (its charge, t): pays the charge and goes on after it.
    JmpCharge(u32, u32),
    /// `call f` as (f, the instruction index after it: the caller's pc while `f` runs)
    Call(u32, u32),
    /// `local.get a; local.set d` as (d, a)
    Mov(u16, u16),
    /// `local.get a; local.get b`
    Get2(u32, u32),
    /// `local.get a; ALU`: the stack's top word op `a`
    BinL(Alu, u16),
    /// `local.get a; local.get b; ALU`
    BinLL(Alu, u16, u16),
    /// `local.get a; push c; ALU`
    BinLI(Alu, u16, u32),
    /// `push c; ALU`
    BinI(Alu, Imm),
    /// `push c; ALU; local.tee d` as (ALU, d, c)
    TeeI(Alu, u16, Imm),
    /// `ALU; local.set d`
    BinSet(Alu, u16),
    /// `ALU; local.tee d`
    BinTee(Alu, u16),
    /// `local.get a; ALU; local.set d` as (ALU, d, a)
    SetL(Alu, u16, u16),
    /// `local.get a; local.get b; ALU; local.set d` as (ALU, d, a, b)
    SetLL(Alu, u16, u16, u16),
    /// `local.get a; push c; ALU; local.set d` as (ALU, d, a, c)
    SetLI(Alu, u16, u16, u32),
    /// `local.get a; push c; ALU; local.tee d` as (ALU, d, a, c)
    TeeLI(Alu, u16, u16, u32),
    /// `ALU; jz|jnz t` as (ALU, nz, t)
    Br(Alu, bool, u32),
    /// `local.get a; jz|jnz t` as (nz, a, t)
    BrL(bool, u16, u32),
    /// `local.get a; ALU; jz|jnz t` as (ALU, nz, a, t)
    BrSL(Alu, bool, u16, u32),
    /// `push c; ALU; jz|jnz t` as (ALU, nz, c, t)
    BrI(Alu, bool, u32, u32),
    /// `local.get a; local.get b; ALU; jz|jnz t` as (ALU, nz, a, b, t)
    BrLL(Alu, bool, u16, u16, u32),
    /// `local.get a; push c; ALU; jz|jnz t` as (ALU, nz, a, c, t)
    BrLI(Alu, bool, u16, u32, u32),
    /// `LOAD o; local.set d` as (LOAD, d, o)
    LoadSet(Load, u16, u32),
    /// `LOAD o; local.tee d` as (LOAD, d, o)
    LoadTee(Load, u16, u32),
    /// `local.get a; LOAD o` as (LOAD, a, o)
    LoadL(Load, u16, u32),
    /// `local.get a; LOAD o; local.set d` as (LOAD, d, a, o)
    LoadLSet(Load, u16, u16, u32),
    /// `local.get a; LOAD o; local.tee d` as (LOAD, d, a, o)
    LoadLTee(Load, u16, u16, u32),
    /// `ALU; LOAD o` as (ALU, LOAD, o)
    LoadS(Alu, Load, u32),
    /// `local.get a; ALU; LOAD o` as (ALU, LOAD, a, o)
    LoadSL(Alu, Load, u16, u32),
    /// `local.get a; push c; ALU; LOAD o` as (ALU, LOAD, a, c, o)
    LoadLI(Alu, Load, u16, u32, u32),
    /// `push c; ALU; LOAD o` as (ALU, LOAD, c, o)
    LoadI(Alu, Load, u32, u32),
    /// `local.get a; STORE o` as (STORE, a, o): the address is on the stack, the value in `a`
    StoreL(Store, u16, u32),
    /// `local.get a; local.get b; STORE o` as (STORE, a, b, o): stores `b` at `a + o`
    StoreLL(Store, u16, u16, u32),
    /// `local.get a; push c; STORE o` as (STORE, a, c, o): stores `c` at `a + o`
    StoreLI(Store, u16, u32, u32),
    /// `local.get a; local.get b; local.get c; ALU; STORE o` as (STORE, ALU, a, b, c, o):
    /// stores `b ALU c` at `a + o`
    StoreLLL(Store, Alu, u16, u16, u16, u32),
    /// `local.get a; local.tee d; jz|jnz t` as (nz, d, a, t)
    MovBr(bool, u16, u16, u32),
    /// `local.get a; LOAD o; jz|jnz t` as (LOAD, nz, a, o, t)
    LoadLBr(Load, bool, u16, u32, u32),
    /// `local.get a; LOAD o; switch t` as (LOAD, a, o, t), `t` the table
    LoadLSwitch(Load, u16, u32, u32),
    /// `local.get a; local.get a; LOAD o; push c; ALU; STORE o`, the store as wide as the
    /// load, as (LOAD, ALU, a, c, o): the word at `a + o` updated in place
    Update(Load, Alu, u16, u32, u32),
}

impl Op {
    /// The branch target of this op, if it has one that is an instruction index until
    /// lowering maps it to an op index.
    fn target(&mut self) -> Option<&mut u32> {
        match self {
            Op::Br(_, _, t)
            | Op::BrL(_, _, t)
            | Op::BrSL(_, _, _, t)
            | Op::BrI(_, _, _, t)
            | Op::BrLL(_, _, _, _, t)
            | Op::BrLI(_, _, _, _, t)
            | Op::MovBr(_, _, _, t)
            | Op::LoadLBr(_, _, _, _, t) => Some(t),
            Op::Charge(_)
            | Op::I(_)
            | Op::JmpCharge(..)
            | Op::Call(..)
            | Op::Mov(..)
            | Op::Get2(..)
            | Op::BinL(..)
            | Op::BinLL(..)
            | Op::BinLI(..)
            | Op::BinI(..)
            | Op::TeeI(..)
            | Op::BinSet(..)
            | Op::BinTee(..)
            | Op::SetL(..)
            | Op::SetLL(..)
            | Op::SetLI(..)
            | Op::TeeLI(..)
            | Op::LoadSet(..)
            | Op::LoadTee(..)
            | Op::LoadL(..)
            | Op::LoadLSet(..)
            | Op::LoadLTee(..)
            | Op::LoadS(..)
            | Op::LoadSL(..)
            | Op::LoadLI(..)
            | Op::LoadI(..)
            | Op::StoreL(..)
            | Op::StoreLL(..)
            | Op::StoreLI(..)
            | Op::StoreLLL(..)
            | Op::LoadLSwitch(..)
            | Op::Update(..) => None,
        }
    }
}

/// The entry of a `switch` table of `len` entries that a switch on `i` takes: entry `i`,
/// or past the entries, its default (the table's last).
#[inline(always)]
pub(crate) fn switch_entry(len: usize, i: u64) -> usize {
    let last = len - 1;
    if i < last as u64 {
        i as usize
    } else {
        last
    }
}

/// A 64-bit constant of a fused op, stored unaligned: a `u64` would grow every op by its
/// alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Imm([u8; 8]);

impl Imm {
    pub fn new(c: u64) -> Imm {
        Imm(c.to_le_bytes())
    }

    #[inline(always)]
    pub fn get(self) -> u64 {
        u64::from_le_bytes(self.0)
    }
}

/// An op as the loop finds it: the op, and where threaded dispatch is built, the function
/// that runs it (see `crate::threaded`).
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub op: Op,
    #[cfg(rarvm_threaded)]
    pub h: crate::threaded::H,
}

impl Slot {
    /// A slot for `op` whose function, until lowering picks its own, is the one that
    /// hands every op to the loop.
    fn unthreaded(op: Op) -> Slot {
        Slot {
            op,
            #[cfg(rarvm_threaded)]
            h: crate::threaded::to_loop,
        }
    }
}

/// A lowered function.
pub(crate) struct Func {
    pub ops: Box<[Slot]>,
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

/// The reference lowering: one op per instruction, nothing fused (a type of its own, so a
/// module's engine data holds both lowerings side by side).
pub(crate) struct Reference(pub Lowered);

/// The interpreter's lowering, with fused ops.
pub(crate) fn lower(m: &VerifiedModule) -> Lowered {
    lower_with(m, true)
}

/// The reference interpreter's lowering.
pub(crate) fn lower_reference(m: &VerifiedModule) -> Reference {
    Reference(lower_with(m, false))
}

fn lower_with(m: &VerifiedModule, fused: bool) -> Lowered {
    let funcs = (0..m.func_count())
        .map(|i| lower_func(m, i, fused))
        .collect();
    Lowered { funcs }
}

fn lower_func(m: &VerifiedModule, index: u32, fused: bool) -> Func {
    let f = m.func(index);
    let info = m.info(index);
    let len = f.code.len();
    let charged = |pc: usize| info.leader[pc] && !f.code[pc].info().self_metered();
    // At most a charge per block and an op per instruction: the slots are built in place,
    // and only fused code leaves some of them unused.
    let cap = len + (0..len).filter(|&pc| charged(pc)).count();
    let mut ops = Vec::with_capacity(cap);
    let mut pc_of = Vec::with_capacity(cap);
    let mut entry_of = Vec::with_capacity(len);
    let mut pc = 0;
    while pc < len {
        let ins = f.code[pc];
        entry_of.push(ops.len() as u32);
        if charged(pc) {
            ops.push(Slot::unthreaded(Op::Charge(info.block_cost[pc])));
            pc_of.push(pc as u32);
        }
        let (op, n) = fused
            .then(|| fuse(&f.code[pc..], &info.leader[pc..]))
            .flatten()
            .unwrap_or((Op::I(ins), 1));
        entry_of.resize(pc + n, ops.len() as u32);
        ops.push(Slot::unthreaded(op));
        pc_of.push(pc as u32);
        pc += n;
    }
    let tables: Box<[Box<[u32]>]> = f
        .tables
        .iter()
        .map(|t| t.iter().map(|pc| entry_of[*pc as usize]).collect())
        .collect();
    // Last op first, so that each op's function is picked when the op after it is final
    // (charges, which the function may also look at, never change):
    // - every instruction whose immediate is a branch target (the table says which), and
    //   every fused branch, now names the op its target block begins at;
    // - a jump to a charged block pays the charge and goes on after it; the charge stays in
    //   place for every other way in. When the gas is short, the jump stops at the charge,
    //   as the charge would have;
    // - a call knows where its caller goes on.
    for i in (0..ops.len()).rev() {
        let op = &mut ops[i].op;
        if let Op::I(ins) = op {
            if ins.info().imm == ImmKind::Target {
                *ins = Instr::from_parts(ins.opcode(), entry_of[ins.imm() as usize].into());
            }
        }
        if let Some(t) = op.target() {
            *t = entry_of[*t as usize];
        }
        if fused {
            if let Op::I(Instr::Jmp(t)) = ops[i].op {
                if let Op::Charge(cost) = ops[t as usize].op {
                    ops[i].op = Op::JmpCharge(cost, t);
                }
            }
            if let Op::I(Instr::Call(callee)) = ops[i].op {
                ops[i].op = Op::Call(callee, pc_of[i] + 1);
            }
        }
        #[cfg(rarvm_threaded)]
        {
            ops[i].h = crate::threaded::handler(&ops, &tables, f.results as usize, i);
        }
    }
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

    fn ops(f: &Func) -> Vec<Op> {
        f.ops.iter().map(|s| s.op).collect()
    }

    /// The decoded, verified and lowered forms of a function the host holds stay within
    /// the code footprint the spec counts for its instructions, even for code made only of
    /// block starts, which lowers to the most ops: a charge and an op per instruction.
    /// A `switch` table is held decoded and in each lowering, within the footprint the
    /// spec counts for its entries.
    #[test]
    fn what_the_host_holds_per_table_entry_stays_within_the_code_footprint() {
        use rarvm_runtime::limits::CODE_BYTES_PER_TARGET;
        let n = 10_000;
        let table = "a b ".repeat(n / 2);
        let src = format!(
            "func main(x) -> 0\n local.get x\n switch {}else a\na:\n jmp b\nb:\n ret\nend\n",
            &table[..table.len() - 2]
        );
        let m = assemble_verified(&src, "t.rasm").unwrap();
        let (l, r) = (lower(&m), lower_reference(&m).0);
        let entries = |t: &[Box<[u32]>]| t.iter().map(|t| t.len()).sum::<usize>();
        assert_eq!(entries(&l.funcs[0].tables), n);
        let held = (m.func(0).tables.iter().map(Vec::len).sum::<usize>()
            + entries(&l.funcs[0].tables)
            + entries(&r.funcs[0].tables))
            * std::mem::size_of::<u32>();
        assert!(
            held as u64 <= CODE_BYTES_PER_TARGET * n as u64,
            "{held} bytes"
        );
    }

    #[test]
    fn what_the_host_holds_per_instruction_stays_within_the_code_footprint() {
        use rarvm_runtime::limits::CODE_BYTES_PER_INSTR;
        use std::mem::size_of;
        let mut src = String::from("func main() -> 0\n");
        for k in 0..256 {
            src += &format!("l{k}:\n jmp l{}\n", k + 1);
        }
        src += "l256:\n ret\nend\n";
        let m = assemble_verified(&src, "t.rasm").unwrap();
        let (l, r) = (lower(&m), lower_reference(&m).0);
        let n = m.func(0).code.len();
        let info = m.info(0);
        let verified = n * size_of::<Instr>()
            + info.height.len() * size_of::<u32>()
            + info.leader.len() * size_of::<bool>()
            + info.block_cost.len() * size_of::<u32>();
        for f in [&l.funcs[0], &r.funcs[0]] {
            assert_eq!(f.ops.len(), 2 * n);
            let held = verified
                + f.ops.len() * (size_of::<Slot>() + size_of::<u32>())
                + f.entry_of.len() * size_of::<u32>();
            assert!(
                held as u64 <= CODE_BYTES_PER_INSTR * n as u64,
                "{held} bytes for {n} instructions"
            );
        }
    }

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
        let l = lower_reference(&m).0;
        let f = &l.funcs[0];
        assert_eq!(f.ops[0].op, Op::Charge(2));
        assert_eq!(f.ops[2].op, Op::I(Instr::Jz(9)));
        assert_eq!(f.ops[3].op, Op::Charge(5));
        assert_eq!(f.ops[8].op, Op::I(Instr::Jmp(0)));
        assert_eq!(f.ops[9].op, Op::Charge(3));
        assert_eq!(&f.entry_of[..], &[0, 2, 3, 5, 6, 7, 8, 9, 11]);
        assert_eq!(f.pc_of[9], 7);
        assert_eq!(f.pc_of[10], 7);
    }

    #[test]
    fn loads_and_stores_close_fused_runs() {
        let m = assemble_verified(
            "func main(a, b) -> 1\n push 64\n mem.grow\n drop\n local.get a\n push 8\n mul\n load64 0\n push 3\n shl\n load32_s 4\n local.get b\n load8_u 1\n local.get a\n push 1\n store8 2\n local.get b\n store16 0\n ret\nend\n",
            "t.rasm",
        )
        .unwrap();
        let l = lower(&m);
        assert_eq!(
            &ops(&l.funcs[0])[..],
            &[
                Op::Charge(1),
                Op::I(Instr::Push(64)),
                Op::I(Instr::MemGrow),
                Op::Charge(24),
                Op::I(Instr::Drop),
                Op::LoadLI(Alu::Mul, Load::W64, 0, 8, 0),
                Op::LoadI(Alu::Shl, Load::S32, 3, 4),
                Op::LoadL(Load::U8, 1, 1),
                Op::StoreLI(Store::W8, 0, 1, 2),
                Op::StoreL(Store::W16, 1, 0),
                Op::I(Instr::Ret),
            ]
        );
    }

    /// Loads between a local read and a write, three-local stores, a 64-bit constant's
    /// operation and its tee, and a copy that is branched on.
    #[test]
    fn field_loads_computed_stores_wide_constants_and_copied_branches_fuse() {
        let m = assemble_verified(
            "func main(a, b) -> 1 locals(c, d)\n push 64\n mem.grow\n drop\nhead:\n local.get a\n load64 8\n local.set c\n local.get a\n load32_u 4\n local.tee d\n local.get a\n local.get b\n local.get c\n xor\n store16 2\n push 0x2545f4914f6cdd1d\n mul\n local.tee d\n drop\n local.get c\n local.tee b\n jnz head\n local.get d\n ret\nend\n",
            "t.rasm",
        )
        .unwrap();
        let l = lower(&m);
        assert_eq!(
            &ops(&l.funcs[0])[5..],
            &[
                Op::Charge(23),
                Op::LoadLSet(Load::W64, 2, 0, 8),
                Op::LoadLTee(Load::U32, 3, 0, 4),
                Op::StoreLLL(Store::W16, Alu::Xor, 0, 1, 2, 2),
                Op::TeeI(Alu::Mul, 3, Imm::new(0x2545_f491_4f6c_dd1d)),
                Op::I(Instr::Drop),
                Op::MovBr(true, 1, 2, 5),
                Op::Charge(3),
                Op::I(Instr::LocalGet(3)),
                Op::I(Instr::Ret),
            ]
        );
    }

    #[test]
    fn local_operands_and_results_fuse() {
        let m = assemble_verified(
            "func main(a, b) -> 1 locals(d)\n push 64\n mem.grow\n drop\n local.get a\n local.get b\n add\n local.get b\n add\n local.set d\n local.get a\n local.get a\n push 13\n shl\n xor\n local.tee d\n push 0x123456789\n add\n local.get b\n add\n load64 0\n local.get a\n dup\n add\n load16_u 2\n add\n ret\nend\n",
            "t.rasm",
        )
        .unwrap();
        let l = lower(&m);
        assert_eq!(
            &ops(&l.funcs[0])[4..],
            &[
                Op::I(Instr::Drop),
                Op::BinLL(Alu::Add, 0, 1),
                Op::SetL(Alu::Add, 2, 1),
                Op::Get2(0, 0),
                Op::BinI(Alu::Shl, Imm::new(13)),
                Op::BinTee(Alu::Xor, 2),
                Op::BinI(Alu::Add, Imm::new(0x1_2345_6789)),
                Op::LoadSL(Alu::Add, Load::W64, 1, 0),
                Op::I(Instr::LocalGet(0)),
                Op::I(Instr::Dup),
                Op::LoadS(Alu::Add, Load::U16, 2),
                Op::I(Instr::Add),
                Op::I(Instr::Ret),
            ]
        );
    }

    #[test]
    fn moves_tees_loaded_locals_and_branches_on_the_stack_fuse() {
        let m = assemble_verified(
            "func main(a, b) -> 1 locals(d)\n push 64\n mem.grow\n drop\n local.get a\n local.set d\n local.get a\n push 1\n add\n local.tee d\n load64 0\n local.tee d\n load8_u 0\n local.set d\n local.get a\n local.get b\n store32 4\n local.get a\n push 5\n mul\n local.get b\n lt_u\n jnz out\n local.get a\n push 2\n mul\n push 7\n gt_u\n jz out\n push 0\n ret\nout:\n local.get d\n ret\nend\n",
            "t.rasm",
        )
        .unwrap();
        let l = lower(&m);
        assert_eq!(
            &ops(&l.funcs[0])[4..],
            &[
                Op::I(Instr::Drop),
                Op::Mov(2, 0),
                Op::TeeLI(Alu::Add, 2, 0, 1),
                Op::LoadTee(Load::W64, 2, 0),
                Op::LoadSet(Load::U8, 2, 0),
                Op::StoreLL(Store::W32, 0, 1, 4),
                Op::BinLI(Alu::Mul, 0, 5),
                Op::BrSL(Alu::LtU, true, 1, 18),
                Op::Charge(8),
                Op::BinLI(Alu::Mul, 0, 2),
                Op::BrI(Alu::LeU, true, 7, 18),
                Op::Charge(3),
                Op::I(Instr::Push(0)),
                Op::I(Instr::Ret),
                Op::Charge(3),
                Op::I(Instr::LocalGet(2)),
                Op::I(Instr::Ret),
            ]
        );
    }

    #[test]
    fn runs_inside_a_block_fuse_and_block_starts_split_them() {
        let m = assemble_verified(
            "func main(n) -> 1 locals(i)\ntop:\n local.get i\n local.get n\n lt_u\n jz done\n local.get i\n push 1\n add\n local.set i\n jmp top\ndone:\n local.get i\n local.get n\n jmp mid\nmid:\n add\n ret\nend\n",
            "t.rasm",
        )
        .unwrap();
        let l = lower(&m);
        let f = &l.funcs[0];
        assert_eq!(
            &ops(f)[..],
            &[
                Op::Charge(4),
                Op::BrLL(Alu::GeU, true, 1, 0, 5),
                Op::Charge(5),
                Op::SetLI(Alu::Add, 1, 1, 1),
                Op::JmpCharge(4, 0),
                Op::Charge(3),
                Op::Get2(1, 0),
                Op::JmpCharge(3, 8),
                Op::Charge(3),
                Op::I(Instr::Add),
                Op::I(Instr::Ret),
            ]
        );
        // Instructions inside a fused run map to its op; block starts to their charge.
        assert_eq!(
            &f.entry_of[..],
            &[0, 1, 1, 1, 2, 3, 3, 3, 4, 5, 6, 7, 8, 10]
        );
        assert_eq!(&f.pc_of[..], &[0, 0, 4, 4, 8, 9, 9, 11, 12, 12, 13]);
    }

    /// A loaded word branched on is one op, its sense its own (`jz` and `jnz` run as
    /// different functions); a branch on a comparison's result is said as a branch when
    /// the comparison holds, while a branch on any other result keeps its sense.
    #[test]
    fn loads_branched_on_fuse_and_comparisons_branch_when_they_hold() {
        let m = assemble_verified(
            "func main(a) -> 1\n push 64\n mem.grow\n drop\n local.get a\n load8_u 3\n jz out\n local.get a\n push 9\n ne\n jz out\n local.get a\n push 9\n and\n jz out\n push 0\n ret\nout:\n push 1\n ret\nend\n",
            "t.rasm",
        )
        .unwrap();
        let l = lower(&m);
        assert_eq!(
            &ops(&l.funcs[0])[5..],
            &[
                Op::LoadLBr(Load::U8, false, 0, 3, 13),
                Op::Charge(4),
                Op::BrLI(Alu::Eq, true, 0, 9, 13),
                Op::Charge(4),
                Op::BrLI(Alu::And, false, 0, 9, 13),
                Op::Charge(3),
                Op::I(Instr::Push(0)),
                Op::I(Instr::Ret),
                Op::Charge(3),
                Op::I(Instr::Push(1)),
                Op::I(Instr::Ret),
            ]
        );
    }

    /// A loaded byte dispatched on is one op, and so is a word loaded, computed and
    /// stored back where it was, as wide — but not stored narrower.
    #[test]
    fn dispatches_and_updates_in_place_fuse() {
        let m = assemble_verified(
            "func main(a) -> 0\n push 64\n mem.grow\n drop\n local.get a\n load8_u 1\n switch x y else z\nx:\n local.get a\n local.get a\n load16_u 2\n push 5\n add\n store16 2\n ret\ny:\n local.get a\n local.get a\n load16_u 2\n push 5\n add\n store8 2\n ret\nz:\n ret\nend\n",
            "t.rasm",
        )
        .unwrap();
        let l = lower(&m);
        assert_eq!(
            &ops(&l.funcs[0])[5..],
            &[
                Op::LoadLSwitch(Load::U8, 0, 1, 0),
                Op::Charge(10),
                Op::Update(Load::U16, Alu::Add, 0, 5, 2),
                Op::I(Instr::Ret),
                Op::Charge(10),
                Op::Get2(0, 0),
                Op::I(Instr::Load16U(2)),
                Op::BinI(Alu::Add, Imm::new(5)),
                Op::I(Instr::Store8(2)),
                Op::I(Instr::Ret),
                Op::Charge(2),
                Op::I(Instr::Ret),
            ]
        );
    }
}
