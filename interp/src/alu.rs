//! The two-operand instructions that cannot fault: arithmetic and bits without division,
//! and comparisons. One definition of each, used by the instruction's own arm and by every
//! fused op that contains it.

use rarvm_runtime::isa::Opcode;

/// A two-operand instruction that cannot fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Alu {
    Add,
    Sub,
    Mul,
    And,
    Or,
    Xor,
    Shl,
    ShrU,
    ShrS,
    Rotl,
    Rotr,
    Eq,
    Ne,
    LtU,
    LtS,
    GtU,
    GtS,
    LeU,
    LeS,
    GeU,
    GeS,
}

impl Alu {
    /// `x op y`, the second operand the top of the stack.
    #[inline(always)]
    pub fn eval(self, x: u64, y: u64) -> u64 {
        match self {
            Alu::Add => x.wrapping_add(y),
            Alu::Sub => x.wrapping_sub(y),
            Alu::Mul => x.wrapping_mul(y),
            Alu::And => x & y,
            Alu::Or => x | y,
            Alu::Xor => x ^ y,
            Alu::Shl => x << (y & 63),
            Alu::ShrU => x >> (y & 63),
            Alu::ShrS => ((x as i64) >> (y & 63)) as u64,
            Alu::Rotl => x.rotate_left((y & 63) as u32),
            Alu::Rotr => x.rotate_right((y & 63) as u32),
            Alu::Eq => u64::from(x == y),
            Alu::Ne => u64::from(x != y),
            Alu::LtU => u64::from(x < y),
            Alu::LtS => u64::from((x as i64) < (y as i64)),
            Alu::GtU => u64::from(x > y),
            Alu::GtS => u64::from((x as i64) > (y as i64)),
            Alu::LeU => u64::from(x <= y),
            Alu::LeS => u64::from((x as i64) <= (y as i64)),
            Alu::GeU => u64::from(x >= y),
            Alu::GeS => u64::from((x as i64) >= (y as i64)),
        }
    }

    /// The instruction `op` as an [`Alu`], if it is one.
    pub fn of(op: Opcode) -> Option<Alu> {
        Some(match op {
            Opcode::Add => Alu::Add,
            Opcode::Sub => Alu::Sub,
            Opcode::Mul => Alu::Mul,
            Opcode::And => Alu::And,
            Opcode::Or => Alu::Or,
            Opcode::Xor => Alu::Xor,
            Opcode::Shl => Alu::Shl,
            Opcode::ShrU => Alu::ShrU,
            Opcode::ShrS => Alu::ShrS,
            Opcode::Rotl => Alu::Rotl,
            Opcode::Rotr => Alu::Rotr,
            Opcode::Eq => Alu::Eq,
            Opcode::Ne => Alu::Ne,
            Opcode::LtU => Alu::LtU,
            Opcode::LtS => Alu::LtS,
            Opcode::GtU => Alu::GtU,
            Opcode::GtS => Alu::GtS,
            Opcode::LeU => Alu::LeU,
            Opcode::LeS => Alu::LeS,
            Opcode::GeU => Alu::GeU,
            Opcode::GeS => Alu::GeS,
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
            | Opcode::Load8U
            | Opcode::Load8S
            | Opcode::Load16U
            | Opcode::Load16S
            | Opcode::Load32U
            | Opcode::Load32S
            | Opcode::Load64
            | Opcode::Store8
            | Opcode::Store16
            | Opcode::Store32
            | Opcode::Store64
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
}
