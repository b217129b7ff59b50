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
    },
    /// `from a.b import x [as y], …`
    FromImport {
        path: Vec<Ident>,
        names: Vec<(Ident, Option<Ident>)>,
    },
    /// `NAME [: T] = expr` at module level.
    Const {
        name: Ident,
        ty: Option<TypeExpr>,
        value: Expr,
    },
    /// `typ Name {T a, T b}`
    Typ {
        name: Ident,
        fields: Vec<(TypeExpr, Ident)>,
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

/// Deepest nesting of expressions a file may have (operators, calls, indexing…).
pub const MAX_EXPR_DEPTH: usize = 256;

impl Expr {
    /// The direct subexpressions.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Int(_)
            | ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::Name(_)
            | ExprKind::Error => vec![],
            ExprKind::Unary(_, a)
            | ExprKind::Not(a)
            | ExprKind::Paren(a)
            | ExprKind::Field(a, _)
            | ExprKind::Cast(a, _) => {
                vec![a]
            }
            ExprKind::Binary(_, a, b)
            | ExprKind::Compare(_, a, b)
            | ExprKind::And(a, b)
            | ExprKind::Or(a, b)
            | ExprKind::Index(a, b) => vec![a, b],
            ExprKind::Cond { cond, then, els } => vec![then, cond, els],
            ExprKind::Call { callee, args } => std::iter::once(&**callee).chain(args).collect(),
            ExprKind::Sandbox {
                callee,
                gas,
                mem,
                args,
                fallback,
            } => std::iter::once(&**callee)
                .chain(gas.as_deref())
                .chain(mem.as_deref())
                .chain(args)
                .chain(fallback.as_deref())
                .collect(),
            ExprKind::Spawn { callee, args } => std::iter::once(&**callee)
                .chain(args.iter().flatten())
                .collect(),
            ExprKind::Slice(a, lo, hi) => std::iter::once(&**a)
                .chain(lo.as_deref())
                .chain(hi.as_deref())
                .collect(),
            ExprKind::New { count, .. } => vec![count],
            ExprKind::Array(xs) | ExprKind::Tuple(xs) => xs.iter().collect(),
            ExprKind::Record { fields, .. } => fields.iter().map(|(_, e)| e).collect(),
        }
    }

    /// The span of an expression nested deeper than `limit`, if any (measured without
    /// recursion, so any input is safe).
    pub fn too_deep(&self, limit: usize) -> Option<Span> {
        let mut stack = vec![(self, 1usize)];
        while let Some((e, d)) = stack.pop() {
            if d > limit {
                return Some(e.span);
            }
            for c in e.children() {
                stack.push((c, d + 1));
            }
        }
        None
    }

    /// Takes the expression apart without recursion (dropping a deep tree recursively
    /// could overflow the stack).
    pub fn dismantle(self) {
        let mut stack = vec![self];
        while let Some(mut e) = stack.pop() {
            let kind = std::mem::replace(&mut e.kind, ExprKind::Error);
            let mut take = |b: Box<Expr>| stack.push(*b);
            match kind {
                ExprKind::Unary(_, a)
                | ExprKind::Not(a)
                | ExprKind::Paren(a)
                | ExprKind::Field(a, _)
                | ExprKind::Cast(a, _) => take(a),
                ExprKind::Binary(_, a, b)
                | ExprKind::Compare(_, a, b)
                | ExprKind::And(a, b)
                | ExprKind::Or(a, b)
                | ExprKind::Index(a, b) => {
                    take(a);
                    take(b);
                }
                ExprKind::Cond { cond, then, els } => {
                    take(cond);
                    take(then);
                    take(els);
                }
                ExprKind::Call { callee, args } => {
                    take(callee);
                    stack.extend(args);
                }
                ExprKind::Sandbox {
                    callee,
                    gas,
                    mem,
                    args,
                    fallback,
                } => {
                    take(callee);
                    for x in [gas, mem, fallback].into_iter().flatten() {
                        take(x);
                    }
                    stack.extend(args);
                }
                ExprKind::Spawn { callee, args } => {
                    take(callee);
                    stack.extend(args.into_iter().flatten());
                }
                ExprKind::Slice(a, lo, hi) => {
                    take(a);
                    for x in [lo, hi].into_iter().flatten() {
                        take(x);
                    }
                }
                ExprKind::New { count, .. } => take(count),
                ExprKind::Array(xs) | ExprKind::Tuple(xs) => stack.extend(xs),
                ExprKind::Record { fields, .. } => stack.extend(fields.into_iter().map(|(_, e)| e)),
                ExprKind::Int(_)
                | ExprKind::Str(_)
                | ExprKind::Bool(_)
                | ExprKind::Name(_)
                | ExprKind::Error => {}
            }
        }
    }
}

impl Stmt {
    /// The expressions of this statement and the statements of its blocks.
    pub fn parts(&self) -> (Vec<&Expr>, Vec<&[Stmt]>) {
        match &self.kind {
            StmtKind::Expr(e) | StmtKind::Assert(e) => (vec![e], vec![]),
            StmtKind::Assign { targets, value } => {
                (targets.iter().chain([value]).collect(), vec![])
            }
            StmtKind::Decl { value, .. } => (vec![value], vec![]),
            StmtKind::AugAssign { target, value, .. } => (vec![target, value], vec![]),
            StmtKind::If { arms, els } => (
                arms.iter().map(|(c, _)| c).collect(),
                arms.iter()
                    .map(|(_, b)| b.as_slice())
                    .chain(els.as_deref())
                    .collect(),
            ),
            StmtKind::While { cond, body } => (vec![cond], vec![body]),
            StmtKind::For { iter, body, .. } => (vec![iter], vec![body]),
            StmtKind::Match { scrutinee, cases } => (
                std::iter::once(scrutinee)
                    .chain(cases.iter().flat_map(|c| &c.patterns))
                    .collect(),
                cases.iter().map(|c| c.body.as_slice()).collect(),
            ),
            StmtKind::Return(v) | StmtKind::Yield(v) => (v.iter().collect(), vec![]),
            StmtKind::Break | StmtKind::Continue | StmtKind::Pass | StmtKind::Error => {
                (vec![], vec![])
            }
        }
    }
}

impl File {
    /// The span of an expression nested deeper than [`MAX_EXPR_DEPTH`], if any.
    pub fn too_deep(&self) -> Option<Span> {
        let mut blocks: Vec<&[Stmt]> = Vec::new();
        for item in &self.items {
            match item {
                Item::Def(d) => blocks.push(&d.body),
                Item::Const { value, .. } => {
                    if let Some(s) = value.too_deep(MAX_EXPR_DEPTH) {
                        return Some(s);
                    }
                }
                _ => {}
            }
        }
        while let Some(b) = blocks.pop() {
            for s in b {
                let (exprs, inner) = s.parts();
                for e in exprs {
                    if let Some(sp) = e.too_deep(MAX_EXPR_DEPTH) {
                        return Some(sp);
                    }
                }
                blocks.extend(inner);
            }
        }
        None
    }

    /// Takes the tree apart without recursion.
    pub fn dismantle(self) {
        let mut stmts: Vec<Stmt> = Vec::new();
        for item in self.items {
            match item {
                Item::Def(d) => stmts.extend(d.body),
                Item::Const { value, .. } => value.dismantle(),
                _ => {}
            }
        }
        while let Some(s) = stmts.pop() {
            match s.kind {
                StmtKind::Expr(e) | StmtKind::Assert(e) => e.dismantle(),
                StmtKind::Assign { targets, value } => {
                    targets.into_iter().for_each(Expr::dismantle);
                    value.dismantle();
                }
                StmtKind::Decl { value, .. } => value.dismantle(),
                StmtKind::AugAssign { target, value, .. } => {
                    target.dismantle();
                    value.dismantle();
                }
                StmtKind::If { arms, els } => {
                    for (c, b) in arms {
                        c.dismantle();
                        stmts.extend(b);
                    }
                    stmts.extend(els.into_iter().flatten());
                }
                StmtKind::While { cond, body } => {
                    cond.dismantle();
                    stmts.extend(body);
                }
                StmtKind::For { iter, body, .. } => {
                    iter.dismantle();
                    stmts.extend(body);
                }
                StmtKind::Match { scrutinee, cases } => {
                    scrutinee.dismantle();
                    for c in cases {
                        c.patterns.into_iter().for_each(Expr::dismantle);
                        stmts.extend(c.body);
                    }
                }
                StmtKind::Return(v) | StmtKind::Yield(v) => v.into_iter().for_each(Expr::dismantle),
                StmtKind::Break | StmtKind::Continue | StmtKind::Pass | StmtKind::Error => {}
            }
        }
    }
}
