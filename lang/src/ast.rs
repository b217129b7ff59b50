//! The syntax tree the parser builds: one [`File`] per source file, spans everywhere.

use crate::Span;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug)]
pub enum Item {
    /// `import a.b [as c]`
    Import {
        path: Vec<Ident>,
        alias: Option<Ident>,
        span: Span,
    },
    /// `from a.b import x [as y], …`
    FromImport {
        path: Vec<Ident>,
        names: Vec<(Ident, Option<Ident>)>,
        span: Span,
    },
    /// `NAME [: T] = expr` at module level.
    Const {
        name: Ident,
        ty: Option<TypeExpr>,
        value: Expr,
        span: Span,
    },
    /// `typ Name {T a, T b}`
    Typ {
        name: Ident,
        fields: Vec<(TypeExpr, Ident)>,
        span: Span,
    },
    /// `grant NAME: KIND`
    Grant {
        name: Ident,
        kind: Ident,
        span: Span,
    },
    Def(FuncDef),
    Error,
}

#[derive(Clone, Debug)]
pub struct FuncDef {
    pub name: Ident,
    pub params: Vec<Param>,
    /// `None`: inferred from the first `return`.
    pub ret: Option<Vec<TypeExpr>>,
    pub body: Vec<Stmt>,
    /// The `def …:` line.
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeExpr {
    /// `u64`, `Point`, `mod.Point`
    Name(Vec<Ident>),
    /// `[T]`
    Array(Box<TypeExpr>, Span),
}

impl TypeExpr {
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Name(p) => crate::join(p[0].span, p[p.len() - 1].span),
            TypeExpr::Array(_, s) => *s,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum StmtKind {
    Expr(Expr),
    /// `a = e`, `a, b = e` (several targets unpack a tuple).
    Assign {
        targets: Vec<Expr>,
        value: Expr,
    },
    /// `name: T = e`
    Decl {
        name: Ident,
        ty: TypeExpr,
        value: Expr,
    },
    AugAssign {
        target: Expr,
        op: BinOp,
        value: Expr,
    },
    If {
        arms: Vec<(Expr, Vec<Stmt>)>,
        els: Option<Vec<Stmt>>,
    },
    While {
        cond: Expr,
        body: Vec<Stmt>,
    },
    For {
        var: Ident,
        iter: Expr,
        body: Vec<Stmt>,
    },
    Match {
        scrutinee: Expr,
        cases: Vec<Case>,
    },
    Return(Vec<Expr>),
    Yield(Vec<Expr>),
    Break,
    Continue,
    Pass,
    Assert(Expr),
    Error,
}

#[derive(Clone, Debug)]
pub struct Case {
    /// Empty for `case _`.
    pub patterns: Vec<Expr>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    BitNot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::And => "&",
            BinOp::Or => "|",
            BinOp::Xor => "^",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Int(u64),
    Str(Vec<u8>),
    Bool(bool),
    Name(String),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// `then if cond else els`
    Cond {
        cond: Box<Expr>,
        then: Box<Expr>,
        els: Box<Expr>,
    },
    Call {
        callee: Box<Expr>,
        args: Vec<Expr>,
    },
    /// `f<gas, mem>(args) [else fallback]`
    Sandbox {
        callee: Box<Expr>,
        gas: Option<Box<Expr>>,
        mem: Option<Box<Expr>>,
        args: Vec<Expr>,
        fallback: Option<Box<Expr>>,
    },
    /// `spawn f(args)` or `spawn f`
    Spawn {
        callee: Box<Expr>,
        args: Option<Vec<Expr>>,
    },
    Field(Box<Expr>, Ident),
    Index(Box<Expr>, Box<Expr>),
    Slice(Box<Expr>, Option<Box<Expr>>, Option<Box<Expr>>),
    Cast(Box<Expr>, TypeExpr),
    New {
        elem: TypeExpr,
        count: Box<Expr>,
    },
    Array(Vec<Expr>),
    /// `Name{a, b}` or `Name{x: a, y: b}`
    Record {
        name: Vec<Ident>,
        fields: Vec<(Option<Ident>, Expr)>,
    },
    Tuple(Vec<Expr>),
    Paren(Box<Expr>),
    Error,
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }
}
