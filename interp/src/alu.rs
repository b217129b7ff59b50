//! The two-operand instructions: those that cannot fault — arithmetic and bits without
//! division, and comparisons — and division; and the one-operand ones. One definition of each, used by the
//! instruction's own arm and by every fused op or threaded function that contains it.

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

    /// The comparison that holds exactly when this one does not; `None` for the operations
    /// that are not comparisons.
    pub fn negated(self) -> Option<Alu> {
        Some(match self {
            Alu::Eq => Alu::Ne,
            Alu::Ne => Alu::Eq,
            Alu::LtU => Alu::GeU,
            Alu::GeU => Alu::LtU,
            Alu::LtS => Alu::GeS,
            Alu::GeS => Alu::LtS,
            Alu::GtU => Alu::LeU,
            Alu::LeU => Alu::GtU,
            Alu::GtS => Alu::LeS,
            Alu::LeS => Alu::GtS,
            Alu::Add
            | Alu::Sub
            | Alu::Mul
            | Alu::And
            | Alu::Or
            | Alu::Xor
            | Alu::Shl
            | Alu::ShrU
            | Alu::ShrS
            | Alu::Rotl
            | Alu::Rotr => return None,
        })
    }

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

/// A division-like instruction: faults `division_by_zero` on a zero divisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Div {
    DivU,
    DivS,
    RemU,
    RemS,
}

impl Div {
    /// Every kind, in discriminant order (`ALL[d as usize] == d`).
    #[cfg(rarvm_threaded)]
    pub const ALL: [Div; 4] = [Div::DivU, Div::DivS, Div::RemU, Div::RemS];

    /// `x op y`, the divisor `y` the top of the stack; `None` when `y` is zero.
    #[inline(always)]
    pub fn eval(self, x: u64, y: u64) -> Option<u64> {
        if y == 0 {
            return None;
        }
        Some(match self {
            Div::DivU => x / y,
            Div::DivS => (x as i64).wrapping_div(y as i64) as u64,
            Div::RemU => x % y,
            Div::RemS => (x as i64).wrapping_rem(y as i64) as u64,
        })
    }
}

/// A one-operand instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Un {
    Not,
    Neg,
    Clz,
    Ctz,
    Popcnt,
    Eqz,
}

impl Un {
    /// Every kind, in discriminant order (`ALL[u as usize] == u`).
    #[cfg(rarvm_threaded)]
    pub const ALL: [Un; 6] = [Un::Not, Un::Neg, Un::Clz, Un::Ctz, Un::Popcnt, Un::Eqz];

    /// `op x`.
    #[inline(always)]
    pub fn eval(self, x: u64) -> u64 {
        match self {
            Un::Not => !x,
            Un::Neg => x.wrapping_neg(),
            Un::Clz => u64::from(x.leading_zeros()),
            Un::Ctz => u64::from(x.trailing_zeros()),
            Un::Popcnt => u64::from(x.count_ones()),
            Un::Eqz => u64::from(x == 0),
        }
    }
}
