//! Entish types, their sizes in words and bytes, and how they are shown.

use std::fmt::Write as _;

/// A record type's index in [`Records`].
pub type RecId = u32;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    U64,
    I64,
    Bool,
    /// Only as an array element: one byte, read as `u64`.
    U8,
    /// A slot of this process's key list holding a host key.
    Key,
    /// A slot of this process's key list holding a child process.
    Proc,
    /// `[T]`: a pointer and a length, two words.
    Array(Box<Type>),
    Record(RecId),
    /// The results of a function with several, or a tuple expression.
    Tuple(Vec<Type>),
    /// What a sandbox call without `else` gives: status, fault, gas used, then the
    /// function's results (zero unless the child returned).
    Outcome(Box<Type>),
    /// No value: a function without results.
    Unit,
    /// The type of an expression that already had an error (never reported again).
    Error,
}

/// Every record type of a program.
#[derive(Clone, Debug, Default)]
pub struct Records {
    pub defs: Vec<RecordDef>,
}

#[derive(Clone, Debug)]
pub struct RecordDef {
    pub name: String,
    pub fields: Vec<(String, Type)>,
    /// Word offset of each field.
    pub offsets: Vec<u32>,
    pub words: u32,
}

impl Records {
    pub fn get(&self, id: RecId) -> &RecordDef {
        &self.defs[id as usize]
    }
}

/// Words of the outcome header before the results: status, fault, gas used.
pub const OUTCOME_HEADER: u32 = 3;

impl Type {
    pub fn is_int(&self) -> bool {
        matches!(self, Type::U64 | Type::I64)
    }

    pub fn is_signed(&self) -> bool {
        matches!(self, Type::I64)
    }

    pub fn is_error(&self) -> bool {
        match self {
            Type::Error => true,
            Type::Array(t) | Type::Outcome(t) => t.is_error(),
            Type::Tuple(ts) => ts.iter().any(Type::is_error),
            _ => false,
        }
    }

    /// Words on the operand stack (and in locals) a value of this type occupies.
    pub fn words(&self, recs: &Records) -> u32 {
        match self {
            Type::U64 | Type::I64 | Type::Bool | Type::U8 | Type::Key | Type::Proc => 1,
            Type::Array(_) => 2,
            Type::Record(id) => recs.get(*id).words,
            Type::Tuple(ts) => ts.iter().map(|t| t.words(recs)).sum(),
            Type::Outcome(t) => OUTCOME_HEADER + t.words(recs),
            Type::Unit | Type::Error => 0,
        }
    }

    /// Bytes one array element of this type takes in memory: 1 for `u8`, else 8 per word.
    pub fn elem_size(&self, recs: &Records) -> u64 {
        match self {
            Type::U8 => 1,
            t => 8 * u64::from(t.words(recs)),
        }
    }

    /// True for values that mean the same in another process: numbers, booleans, and
    /// records of those (no pointers into memory, no key slots).
    pub fn is_plain(&self, recs: &Records) -> bool {
        match self {
            Type::U64 | Type::I64 | Type::Bool | Type::U8 | Type::Unit | Type::Error => true,
            Type::Record(id) => recs.get(*id).fields.iter().all(|(_, t)| t.is_plain(recs)),
            Type::Tuple(ts) => ts.iter().all(|t| t.is_plain(recs)),
            _ => false,
        }
    }

    pub fn show(&self, recs: &Records) -> String {
        let mut s = String::new();
        self.write(recs, &mut s);
        s
    }

    fn write(&self, recs: &Records, s: &mut String) {
        match self {
            Type::U64 => s.push_str("u64"),
            Type::I64 => s.push_str("i64"),
            Type::Bool => s.push_str("bool"),
            Type::U8 => s.push_str("u8"),
            Type::Key => s.push_str("key"),
            Type::Proc => s.push_str("proc"),
            Type::Array(t) => {
                s.push('[');
                t.write(recs, s);
                s.push(']');
            }
            Type::Record(id) => s.push_str(&recs.get(*id).name),
            Type::Tuple(ts) => {
                s.push('(');
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    t.write(recs, s);
                }
                s.push(')');
            }
            Type::Outcome(t) => {
                s.push_str("outcome of ");
                t.write(recs, s);
            }
            Type::Unit => s.push_str("nothing"),
            Type::Error => s.push_str("{error}"),
        }
    }
}

/// `(a, b)` when a function has several results, the single type for one, `Unit` for none.
pub fn results_type(mut ts: Vec<Type>) -> Type {
    match ts.len() {
        0 => Type::Unit,
        1 => ts.pop().expect("one"),
        _ => Type::Tuple(ts),
    }
}

/// Shows a list of types as `u64, [u8]`.
pub fn show_list(ts: &[Type], recs: &Records) -> String {
    let mut s = String::new();
    for (i, t) in ts.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{}", t.show(recs));
    }
    s
}
