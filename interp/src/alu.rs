//! The two-operand instructions that cannot fault: arithmetic and bits without division,
//! and comparisons. One definition of each, used by the instruction's own arm and by every
//! fused op that contains it.

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
    /// Every kind, in discriminant order (`ALL[a as usize] == a`).
    #[cfg(rarvm_threaded)]
    pub const ALL: [Alu; 21] = [
        Alu::Add,
        Alu::Sub,
        Alu::Mul,
        Alu::And,
        Alu::Or,
        Alu::Xor,
        Alu::Shl,
        Alu::ShrU,
        Alu::ShrS,
        Alu::Rotl,
        Alu::Rotr,
        Alu::Eq,
        Alu::Ne,
        Alu::LtU,
        Alu::LtS,
        Alu::GtU,
        Alu::GtS,
        Alu::LeU,
        Alu::LeS,
        Alu::GeU,
        Alu::GeS,
    ];

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
}
