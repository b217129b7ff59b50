//! The typed program the checker produces and the lowering consumes: names resolved,
//! types known, constants folded, operators resolved to their signed or unsigned
//! instruction.

use rarvm_runtime::isa::{Field, Opcode};

use crate::types::{Records, Type};
use crate::Span;

pub type FuncId = u32;
pub type StaticId = u32;

#[derive(Clone, Debug)]
pub struct TExpr {
    pub kind: TK,
    pub ty: Type,
    pub span: Span,
}

/// A built-in operation: one instruction (or a short fixed sequence) on its operands'
/// words, pushed left to right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// The instruction itself, operands and results as in the table.
    Op(Opcode),
    /// `child.info FIELD` of a process.
    Info(Field),
    /// `min`/`max`: `a b a b lt -- select` (signed by type).
    Min(bool),
    Max(bool),
    /// `key.invoke` with an empty range: `slot op arg`.
    InvokeNoBuf,
    /// `key.invoke slot op arg` then an array (`ptr len`).
    Invoke,
    /// `key.attenuate slot rights` with an empty path.
    AttenuateNoPath,
    /// `key.attenuate slot rights` then an array path.
    Attenuate,
    /// `child.write slot dst` then an array (its bytes).
    ChildWrite,
    /// `child.read slot` then an array, then `src`.
    ChildRead,
    /// `child.save slot` then an array (its bytes are the capacity).
    ChildSave,
    /// `spawn.bytes` / `child.load` of an array.
    SpawnBytes,
    Load,
    /// `mem.copy` of `src`'s bytes into `dst` (which must be as long).
    Copy,
    /// `mem.fill` of an array's bytes.
    Fill,
    /// `halt`, `trap`: do not return.
    Halt,
    Trap,
}

#[derive(Clone, Debug)]
pub enum TK {
    /// A one-word constant (integers, booleans).
    Word(u64),
    /// A static array: pushes its address and length.
    Static(StaticId),
    /// Reads the locals `base .. base + words(ty)`.
    Local(u32),
    Unary(Opcode, Box<TExpr>),
    Binary(Opcode, Box<TExpr>, Box<TExpr>),
    /// Logical not of a bool.
    Not(Box<TExpr>),
    And(Box<TExpr>, Box<TExpr>),
    Or(Box<TExpr>, Box<TExpr>),
    Cond(Box<TExpr>, Box<TExpr>, Box<TExpr>),
    Call(FuncId, Vec<TExpr>),
    /// The words of each item, in order (tuples, records).
    Tuple(Vec<TExpr>),
    /// Words `offset .. offset + words(ty)` of `base`'s value.
    Project(Box<TExpr>, u32),
    /// The length of an array.
    Len(Box<TExpr>),
    /// The address of an array's first element.
    Address(Box<TExpr>),
    Index(Box<Index>),
    Slice {
        arr: Box<TExpr>,
        lo: Option<Box<TExpr>>,
        hi: Option<Box<TExpr>>,
        elem_size: u64,
    },
    /// `new T[count]`.
    New {
        count: Box<TExpr>,
        elem_size: u64,
    },
    /// A fresh array holding `items`.
    ArrayLit {
        items: Vec<TExpr>,
        elem_size: u64,
    },
    Builtin(Builtin, Vec<TExpr>),
    Spawn {
        func: FuncId,
        args: Option<Vec<TExpr>>,
    },
    Sandbox(Box<Sandbox>),
    /// A reinterpretation that changes no bits (integer, bool, key and proc casts).
    Cast(Box<TExpr>),
    /// Something that had an error; never reaches lowering.
    Error,
}

/// An array element read (or the place of a write).
#[derive(Clone, Debug)]
pub struct Index {
    pub arr: TExpr,
    pub idx: TExpr,
    /// Bytes per element.
    pub elem_size: u64,
    /// Byte offset of the part accessed within the element (a record field).
    pub offset: u64,
    /// True for `u8` elements.
    pub byte: bool,
    /// False where the compiler proved the index in range.
    pub checked: bool,
}

#[derive(Clone, Debug)]
pub struct Sandbox {
    pub func: FuncId,
    pub args: Vec<TExpr>,
    pub gas: Option<TExpr>,
    pub mem: Option<TExpr>,
    /// `else` value; `None` makes the expression an outcome.
    pub fallback: Option<TExpr>,
    /// The function's result type.
    pub results: Type,
}

/// Where an assignment writes.
#[derive(Clone, Debug)]
pub enum Place {
    /// Locals `base ..` holding a value of `ty`.
    Local(u32, Type),
    /// Memory, through an array element (or a part of one) of type `ty`.
    Elem(Box<Index>, Type),
    /// `_`: the value is dropped.
    Discard(Type),
}

impl Place {
    pub fn ty(&self) -> &Type {
        match self {
            Place::Local(_, t) | Place::Elem(_, t) | Place::Discard(t) => t,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TStmt {
    pub kind: SK,
    pub span: Span,
}

/// How a `for … in range(…)` steps.
#[derive(Clone, Debug)]
pub enum Step {
    /// A constant step of this magnitude, up (`true`) or down.
    Const(u64, bool),
    /// A step computed once at the loop's start: a temporary local holds it.
    Var(TExpr),
}

#[derive(Clone, Debug)]
pub enum SK {
    Expr(TExpr),
    Assign(Vec<Place>, TExpr),
    /// `place op= value`, evaluating the place once.
    Update(Place, Opcode, TExpr),
    If(Vec<(TExpr, Vec<TStmt>)>, Vec<TStmt>),
    While(TExpr, Vec<TStmt>),
    Range {
        var: u32,
        signed: bool,
        start: TExpr,
        stop: TExpr,
        step: Step,
        body: Vec<TStmt>,
    },
    Each {
        var: u32,
        elem: Type,
        arr: TExpr,
        elem_size: u64,
        body: Vec<TStmt>,
    },
    Match {
        scrutinee: TExpr,
        cases: Vec<(Vec<u64>, Vec<TStmt>)>,
        default: Vec<TStmt>,
    },
    Return(TExpr),
    Yield(Vec<TExpr>),
    Break,
    Continue,
    Assert(TExpr),
}

/// A static region of initial memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticData {
    /// The bytes, or `len` zero bytes.
    pub bytes: Vec<u8>,
    pub zeros: u64,
    pub len: u64,
}

#[derive(Clone, Debug)]
pub struct TFunc {
    /// Entish name (`f`, `io.print`).
    pub name: String,
    /// The module's function name (`f`, `std.io.print`).
    pub qual: String,
    pub file: u32,
    pub span: Span,
    pub param_words: u32,
    pub results: Type,
    /// Locals beyond the parameters the checker allocated for variables.
    pub locals: u32,
    pub body: Vec<TStmt>,
}

/// The checked program.
#[derive(Clone, Debug)]
pub struct Checked {
    pub funcs: Vec<TFunc>,
    pub main: FuncId,
    pub records: Records,
    pub statics: Vec<StaticData>,
    pub grants: Vec<crate::GrantDecl>,
    pub files: Vec<crate::SourceFile>,
}

impl TExpr {
    pub fn new(kind: TK, ty: Type, span: Span) -> TExpr {
        TExpr { kind, ty, span }
    }

    pub fn error(span: Span) -> TExpr {
        TExpr::new(TK::Error, Type::Error, span)
    }

    pub fn word(v: u64, ty: Type, span: Span) -> TExpr {
        TExpr::new(TK::Word(v), ty, span)
    }

    pub fn as_word(&self) -> Option<u64> {
        match self.kind {
            TK::Word(v) => Some(v),
            _ => None,
        }
    }

    /// True when evaluating it twice, or not at all, changes nothing: no calls, no
    /// memory accesses that might fault, no division, no process or key operations.
    pub fn is_pure(&self) -> bool {
        match &self.kind {
            TK::Word(_) | TK::Static(_) | TK::Local(_) => true,
            TK::Unary(_, a)
            | TK::Not(a)
            | TK::Cast(a)
            | TK::Len(a)
            | TK::Address(a)
            | TK::Project(a, _) => a.is_pure(),
            TK::Binary(op, a, b) => {
                !matches!(
                    op,
                    Opcode::DivU | Opcode::DivS | Opcode::RemU | Opcode::RemS
                ) && a.is_pure()
                    && b.is_pure()
            }
            TK::And(a, b) | TK::Or(a, b) => a.is_pure() && b.is_pure(),
            TK::Cond(c, a, b) => c.is_pure() && a.is_pure() && b.is_pure(),
            TK::Tuple(items) => items.iter().all(TExpr::is_pure),
            TK::Builtin(Builtin::Min(_) | Builtin::Max(_), args) => args.iter().all(TExpr::is_pure),
            TK::Builtin(Builtin::Op(op), args) => {
                matches!(
                    op,
                    Opcode::Clz | Opcode::Ctz | Opcode::Popcnt | Opcode::Rotl | Opcode::Rotr
                ) && args.iter().all(TExpr::is_pure)
            }
            _ => false,
        }
    }
}
