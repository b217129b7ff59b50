//! Checking expressions: names, literals and untyped constants, operators, calls,
//! methods of processes and keys, sandbox calls, arrays and records.

use std::collections::HashMap;

use rarvm_runtime::isa::{Field, Opcode};

use super::ir::{Builtin, FuncId, Index, Place, Sandbox, StaticData, TExpr, TK};
use super::{is_const, CVal, Checker, Sym};
use crate::ast::{BinOp, CmpOp, Expr, ExprKind, UnOp};
use crate::diag::Code;
use crate::types::{show_list, Type, OUTCOME_HEADER};
use crate::Span;

/// A local variable.
#[derive(Clone, Debug)]
pub struct Var {
    pub base: u32,
    pub ty: Type,
    pub mutable: bool,
}

/// What a name means at a point of a function.
enum Res {
    Var(Var),
    Sym(Sym),
    None,
}

/// The checking context of one function body (or of a module constant).
pub struct Fcx<'a, 'p> {
    pub c: &'a mut Checker<'p>,
    pub module: u32,
    pub scopes: Vec<HashMap<String, Var>>,
    pub next_local: u32,
    /// The function's result type once known.
    pub ret: Option<Type>,
    pub loops: u32,
    /// True while checking a module constant: no locals, allocations become static.
    pub in_const: bool,
    /// Pairs (index local, array base local) proven in range: a `for` over
    /// `range(…, len(a))` whose array is not reassigned in the body.
    pub in_range: Vec<(u32, u32)>,
    /// The function being checked (`None` for a constant).
    pub func: Option<FuncId>,
}

/// The exact value of an untyped constant expression, or why it has none.
type Untyped = Option<Result<i128, (Span, String)>>;

const MAX_LOCAL_INDEX: u32 = rarvm_runtime::limits::MAX_LOCALS;

impl Fcx<'_, '_> {
    pub fn err(
        &mut self,
        code: Code,
        span: Span,
        msg: impl Into<String>,
    ) -> &mut crate::Diagnostic {
        self.c.err(code, span, msg)
    }

    pub fn show(&self, t: &Type) -> String {
        self.c.show(t)
    }

    pub fn words(&self, t: &Type) -> u32 {
        self.c.words(t)
    }

    /// Declares a variable in the innermost scope and allocates its locals.
    pub fn declare(&mut self, name: &str, ty: Type, mutable: bool) -> u32 {
        let base = self.next_local;
        self.next_local = self.next_local.saturating_add(self.words(&ty).max(1));
        if let Some(s) = self.scopes.last_mut() {
            s.insert(name.to_string(), Var { base, ty, mutable });
        }
        base
    }

    pub fn local_limit_ok(&self) -> bool {
        self.next_local <= MAX_LOCAL_INDEX
    }

    fn resolve(&self, name: &str) -> Res {
        for s in self.scopes.iter().rev() {
            if let Some(v) = s.get(name) {
                return Res::Var(v.clone());
            }
        }
        match self.c.lookup_global(self.module, name) {
            Some(s) => Res::Sym(s),
            None => Res::None,
        }
    }

    pub fn var(&self, name: &str) -> Option<Var> {
        match self.resolve(name) {
            Res::Var(v) => Some(v),
            _ => None,
        }
    }

    pub fn global(&self, name: &str) -> Option<Sym> {
        match self.resolve(name) {
            Res::Sym(s) => Some(s),
            _ => None,
        }
    }

    pub fn unknown(&mut self, name: &str, span: Span) {
        if self.c.quiet_unknown {
            return;
        }
        let mut d =
            crate::Diagnostic::error(Code::UnknownName, span, format!("unknown name `{name}`"));
        if let Some(hint) = self.similar(name) {
            d = d.note(format!("did you mean `{hint}`?"));
        }
        self.c.diags.push(d);
    }

    /// A defined name close to `name` (for hints).
    fn similar(&self, name: &str) -> Option<String> {
        let mut names: Vec<&String> = self.scopes.iter().flat_map(|s| s.keys()).collect();
        names.extend(self.c.scopes[self.module as usize].keys());
        let mut best: Option<(usize, String)> = None;
        for n in names {
            let d = edit_distance(n, name);
            if d <= 2
                && d < name.len()
                && best
                    .as_ref()
                    .is_none_or(|(b, bn)| d < *b || (d == *b && n < bn))
            {
                best = Some((d, n.clone()));
            }
        }
        best.map(|(_, n)| n)
    }

    /// Reports unless `found` is `want` (or either is already an error).
    pub fn expect_type(&mut self, want: &Type, found: &Type, span: Span, what: &str) -> bool {
        if want == found || want.is_error() || found.is_error() {
            return true;
        }
        let (w, f) = (self.show(want), self.show(found));
        let mut d =
            crate::Diagnostic::error(Code::Type, span, format!("{what}: expected {w}, found {f}"))
                .expected([w.clone()]);
        if let Type::Outcome(_) = found {
            d = d.note("a sandbox call without `else` gives an outcome: add `else FALLBACK`, or read its `.value` and `.ok`");
        } else if want.is_int() && found.is_int() {
            d = d.note(format!("convert with `as {w}`"));
        } else if *want == Type::Bool && found.is_int() {
            d = d.note("compare it, e.g. `!= 0`");
        }
        self.c.diags.push(d);
        false
    }

    /// Checks `e`, expecting `want`, and reports a mismatch.
    pub fn expr_as(&mut self, e: &Expr, want: &Type, what: &str) -> TExpr {
        let t = self.expr(e, Some(want));
        self.expect_type(want, &t.ty, e.span, what);
        t
    }

    /// The value of `e` if it is an untyped constant expression.
    pub fn untyped(&mut self, e: &Expr) -> Untyped {
        match &e.kind {
            ExprKind::Int(v) => Some(Ok(i128::from(*v))),
            ExprKind::Paren(x) => self.untyped(x),
            ExprKind::Unary(UnOp::Neg, x) => self.untyped(x).map(|r| {
                r.and_then(|v| {
                    v.checked_neg()
                        .ok_or((e.span, "the constant overflows".into()))
                })
            }),
            ExprKind::Binary(op, a, b) => {
                let a = self.untyped(a)?;
                let b = self.untyped(b)?;
                Some(a.and_then(|a| b.and_then(|b| untyped_binary(*op, a, b, e.span))))
            }
            ExprKind::Name(n) => match self.resolve(n) {
                Res::Sym(Sym::Const(k)) => match self.c.constant(k) {
                    Some(CVal::Int(v)) => Some(Ok(v)),
                    _ => None,
                },
                _ => None,
            },
            ExprKind::Field(base, f) => match &base.kind {
                ExprKind::Name(m) => match self.resolve(m) {
                    Res::Sym(Sym::Module(t)) => match self.c.lookup_global(t, &f.name) {
                        Some(Sym::Const(k)) => match self.c.constant(k) {
                            Some(CVal::Int(v)) => Some(Ok(v)),
                            _ => None,
                        },
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        }
    }

    /// An untyped constant given type `want` (or its default: `u64`, `i64` if negative).
    fn typed_const(&mut self, v: i128, want: Option<&Type>, span: Span) -> TExpr {
        let ty = match want {
            Some(t @ (Type::U64 | Type::I64)) => t.clone(),
            _ if v < 0 => Type::I64,
            _ => Type::U64,
        };
        let fits = match ty {
            Type::I64 => i64::try_from(v).is_ok(),
            _ => u64::try_from(v).is_ok(),
        };
        if !fits {
            let name = self.show(&ty);
            self.err(
                Code::Constant,
                span,
                format!("the constant {v} does not fit {name}"),
            )
            .notes
            .push(if v < 0 {
                "a negative number needs `i64`; `~0` is u64's all-ones".to_string()
            } else {
                format!(
                    "{name} holds up to {}",
                    if ty == Type::I64 {
                        i64::MAX as u128
                    } else {
                        u64::MAX as u128
                    }
                )
            });
            return TExpr::error(span);
        }
        TExpr::word(v as u64, ty, span)
    }

    /// Checks an expression. `want` is the type the context expects, used to type
    /// untyped constants and empty arrays; a mismatch is the caller's to report.
    pub fn expr(&mut self, e: &Expr, want: Option<&Type>) -> TExpr {
        if let Some(u) = self.untyped(e) {
            return match u {
                Ok(v) => self.typed_const(v, want, e.span),
                Err((span, m)) => {
                    self.err(Code::Constant, span, m);
                    TExpr::error(e.span)
                }
            };
        }
        let span = e.span;
        match &e.kind {
            ExprKind::Int(_) => unreachable!("integers are untyped constants"),
            ExprKind::Error => TExpr::error(span),
            ExprKind::Bool(b) => TExpr::word(u64::from(*b), Type::Bool, span),
            ExprKind::Str(bytes) => {
                let id = self.c.string_static(bytes);
                TExpr::new(TK::Static(id), Type::Array(Box::new(Type::U8)), span)
            }
            ExprKind::Paren(x) => self.expr(x, want),
            ExprKind::Name(n) => self.name(n, span),
            ExprKind::Unary(op, x) => {
                let x = self.expr(x, want.filter(|t| t.is_int()));
                if x.ty.is_error() {
                    return TExpr::error(span);
                }
                if !x.ty.is_int() {
                    let sym = if *op == UnOp::Neg { "-" } else { "~" };
                    let t = self.show(&x.ty);
                    self.err(
                        Code::Type,
                        span,
                        format!("`{sym}` needs an integer, found {t}"),
                    )
                    .expected
                    .extend(["u64".to_string(), "i64".to_string()]);
                    return TExpr::error(span);
                }
                let opc = if *op == UnOp::Neg {
                    Opcode::Neg
                } else {
                    Opcode::Not
                };
                let ty = x.ty.clone();
                fold_unary(opc, x, ty, span)
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, want, span),
            ExprKind::Compare(op, a, b) => self.compare(*op, a, b, span),
            ExprKind::Not(x) => {
                let x = self.expr_as(x, &Type::Bool, "`not` needs a bool");
                match x.as_word() {
                    Some(v) if self.c.optimize => TExpr::word(u64::from(v == 0), Type::Bool, span),
                    _ => TExpr::new(TK::Not(Box::new(x)), Type::Bool, span),
                }
            }
            ExprKind::And(a, b) | ExprKind::Or(a, b) => {
                let is_and = matches!(e.kind, ExprKind::And(..));
                let what = if is_and {
                    "`and` needs bools"
                } else {
                    "`or` needs bools"
                };
                let a = self.expr_as(a, &Type::Bool, what);
                let b = self.expr_as(b, &Type::Bool, what);
                if self.c.optimize {
                    match (a.as_word(), is_and) {
                        (Some(0), true) => return TExpr::word(0, Type::Bool, span),
                        (Some(_), true) => return b,
                        (Some(0), false) => return b,
                        (Some(_), false) => return TExpr::word(1, Type::Bool, span),
                        _ => {}
                    }
                }
                let k = if is_and {
                    TK::And(Box::new(a), Box::new(b))
                } else {
                    TK::Or(Box::new(a), Box::new(b))
                };
                TExpr::new(k, Type::Bool, span)
            }
            ExprKind::Cond { cond, then, els } => {
                let c = self.expr_as(cond, &Type::Bool, "a condition");
                let (t, f) = if self.untyped(then).is_some() && self.untyped(els).is_none() {
                    let f = self.expr(els, want);
                    let t = self.expr(then, Some(&f.ty));
                    (t, f)
                } else {
                    let t = self.expr(then, want);
                    let f = self.expr(els, Some(&t.ty));
                    (t, f)
                };
                self.expect_type(
                    &t.ty,
                    &f.ty,
                    els.span,
                    "both branches of `if … else` must have one type",
                );
                let ty = t.ty.clone();
                match c.as_word() {
                    Some(v) if self.c.optimize => {
                        if v != 0 {
                            t
                        } else {
                            f
                        }
                    }
                    _ => TExpr::new(TK::Cond(Box::new(c), Box::new(t), Box::new(f)), ty, span),
                }
            }
            ExprKind::Call { callee, args } => self.call(callee, args, span),
            ExprKind::Sandbox {
                callee,
                gas,
                mem,
                args,
                fallback,
            } => self.sandbox(
                callee,
                gas.as_deref(),
                mem.as_deref(),
                args,
                fallback.as_deref(),
                span,
            ),
            ExprKind::Spawn { callee, args } => {
                if self.in_const {
                    return self.not_const(span);
                }
                let Some(f) = self.callee_func(callee) else {
                    return TExpr::error(span);
                };
                let args = args.as_ref().map(|a| self.child_args(f, a, span, "spawn"));
                TExpr::new(TK::Spawn { func: f, args }, Type::Proc, span)
            }
            ExprKind::Field(base, f) => self.field(base, f, span),
            ExprKind::Index(..) => match self.index_place(e) {
                Some((ix, ty)) => TExpr::new(TK::Index(Box::new(ix)), ty, span),
                None => TExpr::error(span),
            },
            ExprKind::Slice(arr, lo, hi) => {
                let a = self.expr(arr, None);
                let Type::Array(elem) = &a.ty else {
                    if !a.ty.is_error() {
                        let t = self.show(&a.ty);
                        self.err(
                            Code::Type,
                            arr.span,
                            format!("only arrays can be sliced, not {t}"),
                        );
                    }
                    return TExpr::error(span);
                };
                let elem_size = elem.elem_size(&self.c.records);
                let ty = a.ty.clone();
                let lo = lo
                    .as_ref()
                    .map(|x| Box::new(self.expr_as(x, &Type::U64, "a slice bound")));
                let hi = hi
                    .as_ref()
                    .map(|x| Box::new(self.expr_as(x, &Type::U64, "a slice bound")));
                TExpr::new(
                    TK::Slice {
                        arr: Box::new(a),
                        lo,
                        hi,
                        elem_size,
                    },
                    ty,
                    span,
                )
            }
            ExprKind::Cast(x, t) => {
                let target = self.c.resolve_type(self.module, t, false);
                let x = self.expr(x, Some(&target));
                if x.ty.is_error() || target.is_error() {
                    return TExpr::error(span);
                }
                let word = |t: &Type| matches!(t, Type::U64 | Type::I64);
                let ok = x.ty == target
                    || (word(&x.ty) && word(&target))
                    || (x.ty == Type::Bool && word(&target))
                    || (matches!(x.ty, Type::Key | Type::Proc) && target == Type::U64)
                    || (x.ty == Type::U64 && matches!(target, Type::Key | Type::Proc));
                if !ok {
                    let (a, b) = (self.show(&x.ty), self.show(&target));
                    self.err(Code::Type, span, format!("cannot convert {a} to {b}"))
                        .notes
                        .push("`as` converts between u64 and i64, from bool to an integer, and between u64 and key or proc".into());
                    return TExpr::error(span);
                }
                match x.kind {
                    TK::Word(v) => TExpr::word(v, target, span),
                    _ => TExpr::new(TK::Cast(Box::new(x)), target, span),
                }
            }
            ExprKind::New { elem, count } => {
                let elem = self.c.resolve_type(self.module, elem, true);
                if elem.is_error() {
                    return TExpr::error(span);
                }
                let elem_size = elem.elem_size(&self.c.records);
                let count = self.expr_as(count, &Type::U64, "an array length");
                let ty = Type::Array(Box::new(elem));
                if self.in_const {
                    let Some(n) = count.as_word() else {
                        return self.not_const(count.span);
                    };
                    let bytes = n.checked_mul(elem_size).filter(|b| *b <= 1 << 30);
                    let Some(bytes) = bytes else {
                        self.err(Code::Limit, span, "a static array is limited to 1 GiB");
                        return TExpr::error(span);
                    };
                    let id = self.c.new_static(StaticData {
                        bytes: Vec::new(),
                        zeros: bytes,
                        len: n,
                    });
                    return TExpr::new(TK::Static(id), ty, span);
                }
                TExpr::new(
                    TK::New {
                        count: Box::new(count),
                        elem_size,
                    },
                    ty,
                    span,
                )
            }
            ExprKind::Array(items) => {
                let elem = match want {
                    Some(Type::Array(t)) => Some((**t).clone()),
                    _ => None,
                };
                let mut out = Vec::new();
                let mut elem = elem;
                for it in items {
                    let x = self.expr(it, elem.as_ref());
                    match &elem {
                        None => elem = Some(x.ty.clone()),
                        Some(t) => {
                            let t = t.clone();
                            let want_t = if t == Type::U8 { Type::U64 } else { t };
                            self.expect_type(&want_t, &x.ty, it.span, "an array element");
                        }
                    }
                    out.push(x);
                }
                let Some(elem) = elem else {
                    self.err(
                        Code::Type,
                        span,
                        "the element type of an empty array is not known",
                    )
                    .notes
                    .push("write `new u64[0]`, or give the variable a type".into());
                    return TExpr::error(span);
                };
                if matches!(elem, Type::Unit | Type::Tuple(_) | Type::Outcome(_)) {
                    let t = self.show(&elem);
                    self.err(Code::Type, span, format!("an array cannot hold {t}"));
                    return TExpr::error(span);
                }
                let elem_size = elem.elem_size(&self.c.records);
                let ty = Type::Array(Box::new(elem));
                if self.in_const {
                    return self.static_array(out, elem_size, ty, span);
                }
                TExpr::new(
                    TK::ArrayLit {
                        items: out,
                        elem_size,
                    },
                    ty,
                    span,
                )
            }
            ExprKind::Record { name, fields } => self.record_lit(name, fields, span),
            ExprKind::Tuple(items) => {
                let wants: Vec<Option<Type>> = match want {
                    Some(Type::Tuple(ts)) if ts.len() == items.len() => {
                        ts.iter().cloned().map(Some).collect()
                    }
                    _ => vec![None; items.len()],
                };
                let out: Vec<TExpr> = items
                    .iter()
                    .zip(wants)
                    .map(|(x, w)| self.expr(x, w.as_ref()))
                    .collect();
                let ty = Type::Tuple(out.iter().map(|x| x.ty.clone()).collect());
                TExpr::new(TK::Tuple(out), ty, span)
            }
        }
    }

    fn not_const(&mut self, span: Span) -> TExpr {
        self.err(
            Code::Constant,
            span,
            "a module constant must be a constant expression",
        )
        .notes
        .push("numbers, strings, `new T[N]`, array and record literals of constants".into());
        TExpr::error(span)
    }

    /// An array literal in a module constant: static data.
    fn static_array(&mut self, items: Vec<TExpr>, elem_size: u64, ty: Type, span: Span) -> TExpr {
        let mut bytes = Vec::new();
        for it in &items {
            let mut words = Vec::new();
            if !const_words(it, &mut words) {
                return self.not_const(it.span);
            }
            if elem_size == 1 {
                bytes.push(words.first().copied().unwrap_or(0) as u8);
            } else {
                for w in words {
                    bytes.extend_from_slice(&w.to_le_bytes());
                }
            }
        }
        let id = self.c.new_static(StaticData {
            bytes,
            zeros: 0,
            len: items.len() as u64,
        });
        TExpr::new(TK::Static(id), ty, span)
    }

    fn name(&mut self, n: &str, span: Span) -> TExpr {
        match self.resolve(n) {
            Res::Var(v) => {
                if self.in_const {
                    return self.not_const(span);
                }
                TExpr::new(TK::Local(v.base), v.ty, span)
            }
            Res::Sym(s) => self.sym_value(s, n, span),
            Res::None => {
                self.unknown(n, span);
                TExpr::error(span)
            }
        }
    }

    /// The value of a module-level name used as an expression.
    fn sym_value(&mut self, s: Sym, n: &str, span: Span) -> TExpr {
        match s {
            Sym::Const(k) => match self.c.constant(k) {
                Some(CVal::Typed(t)) => TExpr { span, ..t },
                Some(CVal::Int(v)) => self.typed_const(v, None, span),
                None => TExpr::error(span),
            },
            Sym::Grant(slot) => TExpr::word(u64::from(slot), Type::Key, span),
            Sym::Func(_) => {
                self.err(Code::Type, span, format!("`{n}` is a function; call it"))
                    .expected
                    .push(format!("`{n}(…)`"));
                TExpr::error(span)
            }
            Sym::Record(_) => {
                self.err(
                    Code::Type,
                    span,
                    format!("`{n}` is a record type, not a value"),
                )
                .expected
                .push(format!("`{n}{{…}}`"));
                TExpr::error(span)
            }
            Sym::Module(_) => {
                self.err(
                    Code::Type,
                    span,
                    format!("`{n}` is an imported module, not a value"),
                );
                TExpr::error(span)
            }
        }
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr, want: Option<&Type>, span: Span) -> TExpr {
        let want = want.filter(|t| t.is_int() || **t == Type::Bool);
        let shift = matches!(op, BinOp::Shl | BinOp::Shr);
        let (x, y) = if shift {
            let x = self.expr(a, want);
            let y = self.expr(b, Some(&Type::U64));
            (x, y)
        } else if self.untyped(a).is_some() && self.untyped(b).is_none() {
            let y = self.expr(b, want);
            let x = self.expr(a, Some(&y.ty));
            (x, y)
        } else {
            let x = self.expr(a, want);
            let y = self.expr(b, Some(&x.ty));
            (x, y)
        };
        if x.ty.is_error() || y.ty.is_error() {
            return TExpr::error(span);
        }
        let bool_ok = matches!(op, BinOp::And | BinOp::Or | BinOp::Xor);
        let ok_left = x.ty.is_int() || (bool_ok && x.ty == Type::Bool);
        if !ok_left {
            let t = self.show(&x.ty);
            self.err(
                Code::Type,
                a.span,
                format!(
                    "`{}` needs integers{}, found {t}",
                    op.symbol(),
                    if bool_ok { " or bools" } else { "" }
                ),
            )
            .expected
            .extend(["u64".to_string(), "i64".to_string()]);
            return TExpr::error(span);
        }
        if shift {
            if !y.ty.is_int() {
                let t = self.show(&y.ty);
                self.err(
                    Code::Type,
                    b.span,
                    format!("a shift count is an integer, found {t}"),
                );
                return TExpr::error(span);
            }
        } else if !self.expect_type(
            &x.ty,
            &y.ty,
            b.span,
            &format!("both sides of `{}` must have one type", op.symbol()),
        ) {
            return TExpr::error(span);
        }
        let signed = x.ty.is_signed();
        let opc = match op {
            BinOp::Add => Opcode::Add,
            BinOp::Sub => Opcode::Sub,
            BinOp::Mul => Opcode::Mul,
            BinOp::Div if signed => Opcode::DivS,
            BinOp::Div => Opcode::DivU,
            BinOp::Rem if signed => Opcode::RemS,
            BinOp::Rem => Opcode::RemU,
            BinOp::And => Opcode::And,
            BinOp::Or => Opcode::Or,
            BinOp::Xor => Opcode::Xor,
            BinOp::Shl => Opcode::Shl,
            BinOp::Shr if signed => Opcode::ShrS,
            BinOp::Shr => Opcode::ShrU,
        };
        let ty = x.ty.clone();
        if matches!(
            opc,
            Opcode::DivU | Opcode::DivS | Opcode::RemU | Opcode::RemS
        ) && y.as_word() == Some(0)
        {
            self.err(Code::Constant, b.span, "division by zero")
                .notes
                .push("at run time this faults `division_by_zero`".into());
            return TExpr::error(span);
        }
        fold_binary(opc, x, y, ty, span, self.c.optimize)
    }

    fn compare(&mut self, op: CmpOp, a: &Expr, b: &Expr, span: Span) -> TExpr {
        if let (Some(Ok(x)), Some(Ok(y))) = (self.untyped(a), self.untyped(b)) {
            let r = match op {
                CmpOp::Eq => x == y,
                CmpOp::Ne => x != y,
                CmpOp::Lt => x < y,
                CmpOp::Le => x <= y,
                CmpOp::Gt => x > y,
                CmpOp::Ge => x >= y,
            };
            return TExpr::word(u64::from(r), Type::Bool, span);
        }
        let (x, y) = if self.untyped(a).is_some() {
            let y = self.expr(b, None);
            let x = self.expr(a, Some(&y.ty));
            (x, y)
        } else {
            let x = self.expr(a, None);
            let y = self.expr(b, Some(&x.ty));
            (x, y)
        };
        if x.ty.is_error() || y.ty.is_error() {
            return TExpr::error(span);
        }
        if !self.expect_type(
            &x.ty,
            &y.ty,
            b.span,
            "both sides of a comparison must have one type",
        ) {
            return TExpr::error(span);
        }
        let eq_only = matches!(x.ty, Type::Bool | Type::Key | Type::Proc);
        if !(x.ty.is_int() || eq_only) || (eq_only && !matches!(op, CmpOp::Eq | CmpOp::Ne)) {
            let t = self.show(&x.ty);
            self.err(
                Code::Type,
                span,
                format!("{t} values cannot be compared this way"),
            )
            .notes
            .push(
                "integers compare with < <= > >= == !=; bools, keys and processes with == and !="
                    .into(),
            );
            return TExpr::error(span);
        }
        let s = x.ty.is_signed();
        let opc = match (op, s) {
            (CmpOp::Eq, _) => Opcode::Eq,
            (CmpOp::Ne, _) => Opcode::Ne,
            (CmpOp::Lt, false) => Opcode::LtU,
            (CmpOp::Lt, true) => Opcode::LtS,
            (CmpOp::Le, false) => Opcode::LeU,
            (CmpOp::Le, true) => Opcode::LeS,
            (CmpOp::Gt, false) => Opcode::GtU,
            (CmpOp::Gt, true) => Opcode::GtS,
            (CmpOp::Ge, false) => Opcode::GeU,
            (CmpOp::Ge, true) => Opcode::GeS,
        };
        fold_binary(opc, x, y, Type::Bool, span, self.c.optimize)
    }

    /// The function a call, spawn or sandbox names: `f` or `module.f`.
    pub fn callee_func(&mut self, callee: &Expr) -> Option<FuncId> {
        let (sym, name) = match &callee.kind {
            ExprKind::Name(n) => (self.resolve(n), n.clone()),
            ExprKind::Field(base, f) => match &base.kind {
                ExprKind::Name(m) => match self.resolve(m) {
                    Res::Sym(Sym::Module(t)) => match self.c.lookup_global(t, &f.name) {
                        Some(s) => (Res::Sym(s), format!("{m}.{}", f.name)),
                        None => {
                            let file = self.c.prog.files[t as usize].name.clone();
                            self.err(
                                Code::UnknownName,
                                f.span,
                                format!("{file} defines no `{}`", f.name),
                            );
                            return None;
                        }
                    },
                    _ => (Res::None, String::new()),
                },
                _ => (Res::None, String::new()),
            },
            _ => (Res::None, String::new()),
        };
        match sym {
            Res::Sym(Sym::Func(f)) => Some(f),
            Res::None if !name.is_empty() => {
                self.unknown(&name, callee.span);
                None
            }
            _ => {
                self.err(Code::Type, callee.span, "this is not a function")
                    .expected
                    .push("a function name".into());
                None
            }
        }
    }

    /// Checks arguments against function `f`'s parameters.
    fn args_for(&mut self, f: FuncId, args: &[Expr], span: Span) -> Vec<TExpr> {
        let params: Vec<Type> = self.c.funcs[f as usize]
            .params
            .iter()
            .map(|p| p.1.clone())
            .collect();
        let name = self.c.funcs[f as usize].name.clone();
        if params.len() != args.len() {
            let want = format!("({})", show_list(&params, &self.c.records));
            self.err(
                Code::Arity,
                span,
                format!(
                    "`{name}` takes {} argument{}, {} given",
                    params.len(),
                    if params.len() == 1 { "" } else { "s" },
                    args.len()
                ),
            )
            .expected
            .push(want);
        }
        args.iter()
            .enumerate()
            .map(|(i, a)| match params.get(i) {
                Some(p) => self.expr_as(a, p, &format!("argument {} of `{name}`", i + 1)),
                None => self.expr(a, None),
            })
            .collect()
    }

    /// Arguments for a child running `f`: numbers, bools, records of them, keys (given
    /// to the child) and arrays of plain data (copied into its memory).
    fn child_args(&mut self, f: FuncId, args: &[Expr], span: Span, what: &str) -> Vec<TExpr> {
        let out = self.args_for(f, args, span);
        let params: Vec<(Type, Span)> = self.c.funcs[f as usize]
            .params
            .iter()
            .map(|p| (p.1.clone(), p.2))
            .collect();
        for (i, (t, _)) in params.iter().enumerate() {
            if !child_passable(t, &self.c.records) {
                let s = out.get(i).map_or(span, |a| a.span);
                let ty = self.show(t);
                self.err(
                    Code::Misplaced,
                    s,
                    format!("a {ty} cannot be passed to a child process ({what})"),
                )
                .notes
                .push("children take numbers, bools, records of them, keys (given with key.give) and arrays of those (copied)".into());
            }
        }
        out
    }

    fn call(&mut self, callee: &Expr, args: &[Expr], span: Span) -> TExpr {
        if self.in_const {
            return self.not_const(span);
        }
        // Methods: `x.m(…)` where `x` is not a module.
        if let ExprKind::Field(base, m) = &callee.kind {
            let is_module = matches!(&base.kind, ExprKind::Name(n) if matches!(self.resolve(n), Res::Sym(Sym::Module(_))));
            if !is_module {
                return self.method(base, m, args, span);
            }
        }
        if let ExprKind::Name(n) = &callee.kind {
            if matches!(self.resolve(n), Res::None) {
                if let Some(t) = self.builtin(n, args, span) {
                    return t;
                }
            }
        }
        let Some(f) = self.callee_func(callee) else {
            for a in args {
                self.expr(a, None);
            }
            return TExpr::error(span);
        };
        let args = self.args_for(f, args, span);
        let ret = match self.c.func_ret(f) {
            Some(t) => t,
            None => {
                let name = self.c.funcs[f as usize].name.clone();
                self.err(
                    Code::Type,
                    span,
                    format!("the result type of `{name}` is not known here"),
                )
                .notes
                .push(format!("it is inferred from its first `return`, which this use comes before; annotate it: `def {name}(…) -> T:`"));
                Type::Error
            }
        };
        TExpr::new(TK::Call(f, args), ret, span)
    }

    /// Built-in functions; `None` if `n` is not one.
    fn builtin(&mut self, n: &str, args: &[Expr], span: Span) -> Option<TExpr> {
        let arity = |fx: &mut Self, want: usize| -> bool {
            if args.len() != want {
                fx.err(
                    Code::Arity,
                    span,
                    format!(
                        "`{n}` takes {want} argument{}, {} given",
                        if want == 1 { "" } else { "s" },
                        args.len()
                    ),
                );
                false
            } else {
                true
            }
        };
        let op0 = |fx: &mut Self, op: Opcode| -> TExpr {
            if !arity(fx, 0) {
                return TExpr::error(span);
            }
            TExpr::new(TK::Builtin(Builtin::Op(op), vec![]), Type::U64, span)
        };
        let t = match n {
            "len" => {
                if !arity(self, 1) {
                    return Some(TExpr::error(span));
                }
                let a = self.expr(&args[0], None);
                match &a.ty {
                    Type::Array(_) => {}
                    Type::Error => return Some(TExpr::error(span)),
                    t => {
                        let t = self.show(t);
                        self.err(
                            Code::Type,
                            args[0].span,
                            format!("`len` takes an array, found {t}"),
                        )
                        .expected
                        .push("[T]".into());
                        return Some(TExpr::error(span));
                    }
                }
                if let TK::Static(id) = a.kind {
                    if self.c.optimize {
                        return Some(TExpr::word(
                            self.c.statics[id as usize].len,
                            Type::U64,
                            span,
                        ));
                    }
                }
                TExpr::new(TK::Len(Box::new(a)), Type::U64, span)
            }
            "address" => {
                if !arity(self, 1) {
                    return Some(TExpr::error(span));
                }
                let a = self.expr(&args[0], None);
                if !self.array_needed(&a, "address") {
                    return Some(TExpr::error(span));
                }
                TExpr::new(TK::Address(Box::new(a)), Type::U64, span)
            }
            "gas_left" => op0(self, Opcode::GasLeft),
            "mem_left" => op0(self, Opcode::MemLeft),
            "mem_size" => op0(self, Opcode::MemSize),
            "port_in" => op0(self, Opcode::In),
            "mem_grow" => {
                if !arity(self, 1) {
                    return Some(TExpr::error(span));
                }
                let a = self.expr_as(&args[0], &Type::U64, "`mem_grow`'s byte count");
                TExpr::new(
                    TK::Builtin(Builtin::Op(Opcode::MemGrow), vec![a]),
                    Type::U64,
                    span,
                )
            }
            "port_out" => {
                if !arity(self, 1) {
                    return Some(TExpr::error(span));
                }
                let a = self.expr(&args[0], Some(&Type::U64));
                self.one_word(&a, "`port_out` sends one word");
                TExpr::new(
                    TK::Builtin(Builtin::Op(Opcode::Out), vec![a]),
                    Type::Unit,
                    span,
                )
            }
            "halt" | "trap" => {
                if !arity(self, 0) {
                    return Some(TExpr::error(span));
                }
                let b = if n == "halt" {
                    Builtin::Halt
                } else {
                    Builtin::Trap
                };
                TExpr::new(TK::Builtin(b, vec![]), Type::Unit, span)
            }
            "clz" | "ctz" | "popcnt" => {
                if !arity(self, 1) {
                    return Some(TExpr::error(span));
                }
                let a = self.expr(&args[0], None);
                if !a.ty.is_int() {
                    self.int_needed(&a, n);
                    return Some(TExpr::error(span));
                }
                let op = match n {
                    "clz" => Opcode::Clz,
                    "ctz" => Opcode::Ctz,
                    _ => Opcode::Popcnt,
                };
                let ty = a.ty.clone();
                TExpr::new(TK::Builtin(Builtin::Op(op), vec![a]), ty, span)
            }
            "rotl" | "rotr" | "min" | "max" => {
                if !arity(self, 2) {
                    return Some(TExpr::error(span));
                }
                let (a, b) = if self.untyped(&args[0]).is_some() {
                    let b = self.expr(&args[1], None);
                    (self.expr(&args[0], Some(&b.ty)), b)
                } else {
                    let a = self.expr(&args[0], None);
                    let want = if n.starts_with("rot") {
                        Type::U64
                    } else {
                        a.ty.clone()
                    };
                    (a, self.expr(&args[1], Some(&want)))
                };
                if !a.ty.is_int() {
                    self.int_needed(&a, n);
                    return Some(TExpr::error(span));
                }
                if n.starts_with("rot") {
                    if !b.ty.is_int() {
                        self.int_needed(&b, n);
                        return Some(TExpr::error(span));
                    }
                } else if !self.expect_type(
                    &a.ty,
                    &b.ty,
                    args[1].span,
                    &format!("both arguments of `{n}` must have one type"),
                ) {
                    return Some(TExpr::error(span));
                }
                let s = a.ty.is_signed();
                let bi = match n {
                    "rotl" => Builtin::Op(Opcode::Rotl),
                    "rotr" => Builtin::Op(Opcode::Rotr),
                    "min" => Builtin::Min(s),
                    _ => Builtin::Max(s),
                };
                let ty = a.ty.clone();
                TExpr::new(TK::Builtin(bi, vec![a, b]), ty, span)
            }
            "copy" => {
                if !arity(self, 2) {
                    return Some(TExpr::error(span));
                }
                let d = self.expr(&args[0], None);
                let s = self.expr(&args[1], Some(&d.ty));
                if !self.array_needed(&d, "copy") {
                    return Some(TExpr::error(span));
                }
                self.expect_type(
                    &d.ty,
                    &s.ty,
                    args[1].span,
                    "`copy` copies between arrays of one type",
                );
                TExpr::new(TK::Builtin(Builtin::Copy, vec![d, s]), Type::Unit, span)
            }
            "fill" => {
                if !arity(self, 2) {
                    return Some(TExpr::error(span));
                }
                let d = self.expr_as(
                    &args[0],
                    &Type::Array(Box::new(Type::U8)),
                    "`fill` fills a byte array",
                );
                let v = self.expr_as(&args[1], &Type::U64, "`fill`'s byte");
                TExpr::new(TK::Builtin(Builtin::Fill, vec![d, v]), Type::Unit, span)
            }
            "spawn_bytes" | "load" => {
                if !arity(self, 1) {
                    return Some(TExpr::error(span));
                }
                let what = if n == "load" {
                    "`load` takes an image in a byte array"
                } else {
                    "`spawn_bytes` takes module bytes in a byte array"
                };
                let a = self.expr_as(&args[0], &Type::Array(Box::new(Type::U8)), what);
                let b = if n == "load" {
                    Builtin::Load
                } else {
                    Builtin::SpawnBytes
                };
                TExpr::new(
                    TK::Builtin(b, vec![a]),
                    Type::Tuple(vec![Type::Proc, Type::U64]),
                    span,
                )
            }
            "range" => {
                self.err(Code::Misplaced, span, "`range(…)` is only for `for` loops")
                    .expected
                    .push("`for i in range(…):`".into());
                TExpr::error(span)
            }
            _ => return None,
        };
        Some(t)
    }

    fn int_needed(&mut self, a: &TExpr, n: &str) {
        if !a.ty.is_error() {
            let t = self.show(&a.ty);
            self.err(
                Code::Type,
                a.span,
                format!("`{n}` takes integers, found {t}"),
            )
            .expected
            .extend(["u64".to_string(), "i64".to_string()]);
        }
    }

    fn array_needed(&mut self, a: &TExpr, n: &str) -> bool {
        if matches!(a.ty, Type::Array(_)) {
            return true;
        }
        if !a.ty.is_error() {
            let t = self.show(&a.ty);
            self.err(Code::Type, a.span, format!("`{n}` takes arrays, found {t}"))
                .expected
                .push("[T]".into());
        }
        false
    }

    pub fn one_word(&mut self, a: &TExpr, what: &str) -> bool {
        if matches!(a.ty, Type::U64 | Type::I64 | Type::Bool | Type::Error) {
            return true;
        }
        let t = self.show(&a.ty);
        self.err(
            Code::Type,
            a.span,
            format!("{what}: expected u64, i64 or bool, found {t}"),
        );
        false
    }

    /// `x.m(args)` on a process or a key.
    fn method(&mut self, base: &Expr, m: &crate::ast::Ident, args: &[Expr], span: Span) -> TExpr {
        let recv = self.expr(base, None);
        if recv.ty.is_error() {
            for a in args {
                self.expr(a, None);
            }
            return TExpr::error(span);
        }
        let bytes = Type::Array(Box::new(Type::U8));
        let name = m.name.as_str();
        let arity = |fx: &mut Self, ns: &[usize]| -> bool {
            if ns.contains(&args.len()) {
                return true;
            }
            let want = ns
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" or ");
            fx.err(
                Code::Arity,
                span,
                format!("`.{name}` takes {want} argument(s), {} given", args.len()),
            );
            false
        };
        let u64_ = Type::U64;
        let b = |bi: Builtin, mut xs: Vec<TExpr>, ty: Type, recv: TExpr| {
            xs.insert(0, recv);
            TExpr::new(TK::Builtin(bi, xs), ty, span)
        };
        match (&recv.ty, name) {
            (Type::Proc, "push") => {
                if !arity(self, &[1]) {
                    return TExpr::error(span);
                }
                let v = self.expr(&args[0], Some(&u64_));
                self.one_word(&v, "`.push` sends one word");
                b(Builtin::Op(Opcode::ChildPush), vec![v], Type::Unit, recv)
            }
            (Type::Proc, "pop") => {
                if !arity(self, &[0]) {
                    return TExpr::error(span);
                }
                b(Builtin::Op(Opcode::ChildPop), vec![], u64_, recv)
            }
            (Type::Proc, "run") => {
                if !arity(self, &[2]) {
                    return TExpr::error(span);
                }
                let g = self.expr_as(&args[0], &u64_, "`.run`'s gas");
                let mm = self.expr_as(&args[1], &u64_, "`.run`'s memory");
                b(Builtin::Op(Opcode::Recurse), vec![g, mm], u64_, recv)
            }
            (Type::Proc, "grow") => {
                if !arity(self, &[1]) {
                    return TExpr::error(span);
                }
                let n = self.expr_as(&args[0], &u64_, "`.grow`'s byte count");
                b(Builtin::Op(Opcode::ChildGrow), vec![n], u64_, recv)
            }
            (Type::Proc, "write") => {
                if !arity(self, &[2]) {
                    return TExpr::error(span);
                }
                let d = self.expr_as(&args[0], &u64_, "`.write`'s address in the child");
                let s = self.expr_as(&args[1], &bytes, "`.write` copies a byte array");
                b(Builtin::ChildWrite, vec![d, s], Type::Unit, recv)
            }
            (Type::Proc, "read") => {
                if !arity(self, &[2]) {
                    return TExpr::error(span);
                }
                let d = self.expr_as(&args[0], &bytes, "`.read` fills a byte array");
                let s = self.expr_as(&args[1], &u64_, "`.read`'s address in the child");
                b(Builtin::ChildRead, vec![d, s], Type::Unit, recv)
            }
            (Type::Proc, "save") => {
                if !arity(self, &[1]) {
                    return TExpr::error(span);
                }
                let d = self.expr_as(&args[0], &bytes, "`.save` writes into a byte array");
                b(Builtin::ChildSave, vec![d], u64_, recv)
            }
            (Type::Proc | Type::Key, "drop") => {
                if !arity(self, &[0]) {
                    return TExpr::error(span);
                }
                b(Builtin::Op(Opcode::KeyDrop), vec![], Type::Unit, recv)
            }
            (Type::Key, "give") => {
                if !arity(self, &[1]) {
                    return TExpr::error(span);
                }
                let c = self.expr_as(&args[0], &Type::Proc, "`.give` gives the key to a child");
                b(Builtin::Op(Opcode::KeyGive), vec![c], Type::Key, recv)
            }
            (Type::Key, "attenuate") => {
                if !arity(self, &[1, 2]) {
                    return TExpr::error(span);
                }
                let r = self.expr_as(&args[0], &u64_, "`.attenuate`'s rights");
                let ty = Type::Tuple(vec![Type::Key, u64_]);
                if args.len() == 2 {
                    let p = self.expr_as(&args[1], &bytes, "`.attenuate`'s path");
                    b(Builtin::Attenuate, vec![r, p], ty, recv)
                } else {
                    b(Builtin::AttenuateNoPath, vec![r], ty, recv)
                }
            }
            (Type::Key, "invoke") => {
                if !arity(self, &[2, 3]) {
                    return TExpr::error(span);
                }
                let op = self.expr_as(&args[0], &u64_, "`.invoke`'s operation");
                let arg = self.expr_as(&args[1], &u64_, "`.invoke`'s argument");
                let ty = Type::Tuple(vec![u64_.clone(), u64_]);
                if args.len() == 3 {
                    let buf = self.expr(&args[2], Some(&bytes));
                    if !matches!(buf.ty, Type::Array(_) | Type::Error) {
                        let t = self.show(&buf.ty);
                        self.err(
                            Code::Type,
                            args[2].span,
                            format!("`.invoke`'s range is an array, found {t}"),
                        );
                    }
                    b(Builtin::Invoke, vec![op, arg, buf], ty, recv)
                } else {
                    b(Builtin::InvokeNoBuf, vec![op, arg], ty, recv)
                }
            }
            (t, _) => {
                let t = self.show(t);
                let methods = match recv.ty {
                    Type::Proc => "push pop run grow write read save drop",
                    Type::Key => "give attenuate invoke drop",
                    _ => "",
                };
                let d = self.err(Code::Type, m.span, format!("{t} has no method `{name}`"));
                if !methods.is_empty() {
                    d.expected
                        .extend(methods.split(' ').map(|s| format!("`.{s}`")));
                }
                for a in args {
                    self.expr(a, None);
                }
                TExpr::error(span)
            }
        }
    }

    fn field(&mut self, base: &Expr, f: &crate::ast::Ident, span: Span) -> TExpr {
        if let ExprKind::Name(n) = &base.kind {
            if let Res::Sym(Sym::Module(t)) = self.resolve(n) {
                return match self.c.lookup_global(t, &f.name) {
                    Some(s) => self.sym_value(s, &format!("{n}.{}", f.name), span),
                    None => {
                        let file = self.c.prog.files[t as usize].name.clone();
                        self.err(
                            Code::UnknownName,
                            f.span,
                            format!("{file} defines no `{}`", f.name),
                        );
                        TExpr::error(span)
                    }
                };
            }
        }
        // A field of an array element is read straight from memory.
        if let ExprKind::Index(..) = &base.kind {
            if let Some((mut ix, Type::Record(r))) = self.index_place(base) {
                return match self.record_field(r, f) {
                    Some((off, ty)) => {
                        ix.offset += 8 * u64::from(off);
                        TExpr::new(TK::Index(Box::new(ix)), ty, span)
                    }
                    None => TExpr::error(span),
                };
            }
        }
        let b = self.expr(base, None);
        let info = |field: Field| Some((Builtin::Info(field), Type::U64));
        let prop = match (&b.ty, f.name.as_str()) {
            (Type::Error, _) => return TExpr::error(span),
            (Type::Record(r), _) => {
                let r = *r;
                return match self.record_field(r, f) {
                    Some((off, ty)) => project(b, off, ty, span),
                    None => TExpr::error(span),
                };
            }
            (Type::Outcome(res), name) => {
                let res = (**res).clone();
                return match name {
                    "status" => project(b, 0, Type::U64, span),
                    "fault" => project(b, 1, Type::U64, span),
                    "gas_used" => project(b, 2, Type::U64, span),
                    "ok" => {
                        let st = project(b, 0, Type::U64, span);
                        let two = TExpr::word(
                            rarvm_runtime::process::Status::Returned as u64,
                            Type::U64,
                            span,
                        );
                        TExpr::new(
                            TK::Binary(Opcode::Eq, Box::new(st), Box::new(two)),
                            Type::Bool,
                            span,
                        )
                    }
                    "value" if res != Type::Unit => project(b, OUTCOME_HEADER, res, span),
                    _ => {
                        self.err(
                            Code::Type,
                            f.span,
                            format!("an outcome has no field `{name}`"),
                        )
                        .expected
                        .extend(
                            ["`ok`", "`status`", "`fault`", "`gas_used`", "`value`"]
                                .map(String::from),
                        );
                        TExpr::error(span)
                    }
                };
            }
            (Type::Proc, "status") => info(Field::Status),
            (Type::Proc, "fault") => info(Field::Fault),
            (Type::Proc, "gas_left") => info(Field::GasLeft),
            (Type::Proc, "gas_used") => info(Field::GasUsed),
            (Type::Proc, "footprint") => info(Field::Footprint),
            (Type::Proc, "mem_limit") => info(Field::MemLimit),
            (Type::Proc, "mem_size") => info(Field::MemSize),
            (Type::Proc, "port") => info(Field::Port),
            (Type::Proc | Type::Key, "kind") => Some((Builtin::Op(Opcode::KeyKind), Type::U64)),
            (Type::Key, "rights") => Some((Builtin::Op(Opcode::KeyRights), Type::U64)),
            _ => None,
        };
        match prop {
            Some((bi, ty)) => TExpr::new(TK::Builtin(bi, vec![b]), ty, span),
            None => {
                let t = self.show(&b.ty);
                let d = self.err(Code::Type, f.span, format!("{t} has no field `{}`", f.name));
                match b.ty {
                    Type::Proc => d.expected.extend(
                        [
                            "status",
                            "fault",
                            "gas_left",
                            "gas_used",
                            "footprint",
                            "mem_limit",
                            "mem_size",
                            "port",
                            "kind",
                        ]
                        .map(|s| format!("`{s}`")),
                    ),
                    Type::Key => d.expected.extend(["`kind`", "`rights`"].map(String::from)),
                    Type::Array(_) => d.notes.push("the length of an array is `len(a)`".into()),
                    _ => {}
                }
                TExpr::error(span)
            }
        }
    }

    /// The word offset and type of field `f` of record `r`.
    pub fn record_field(&mut self, r: u32, f: &crate::ast::Ident) -> Option<(u32, Type)> {
        let def = self.c.records.get(r);
        match def.fields.iter().position(|(n, _)| *n == f.name) {
            Some(i) => Some((def.offsets[i], def.fields[i].1.clone())),
            None => {
                let name = def.name.clone();
                let fields: Vec<String> =
                    def.fields.iter().map(|(n, _)| format!("`{n}`")).collect();
                self.err(
                    Code::Type,
                    f.span,
                    format!("record `{name}` has no field `{}`", f.name),
                )
                .expected
                .extend(fields);
                None
            }
        }
    }

    /// `a[i]`: the element access and its type (`u64` for a byte).
    pub fn index_place(&mut self, e: &Expr) -> Option<(Index, Type)> {
        let ExprKind::Index(arr, idx) = &e.kind else {
            return None;
        };
        let a = self.expr(arr, None);
        let i = self.expr_as(idx, &Type::U64, "an array index");
        let elem = match &a.ty {
            Type::Array(t) => (**t).clone(),
            Type::Error => return None,
            t => {
                let t = self.show(t);
                self.err(
                    Code::Type,
                    arr.span,
                    format!("only arrays can be indexed, not {t}"),
                )
                .expected
                .push("[T]".into());
                return None;
            }
        };
        let elem_size = elem.elem_size(&self.c.records);
        let byte = elem == Type::U8;
        let mut checked = true;
        if let (TK::Local(ab), TK::Local(ib)) = (&a.kind, &i.kind) {
            if self.in_range.contains(&(*ib, *ab)) {
                checked = false;
            }
        }
        if let (TK::Static(id), Some(k)) = (&a.kind, i.as_word()) {
            let len = self.c.statics[*id as usize].len;
            if k >= len {
                self.err(
                    Code::Constant,
                    idx.span,
                    format!("index {k} is out of range for an array of length {len}"),
                );
                return None;
            }
            checked = false;
        }
        let ty = if byte { Type::U64 } else { elem };
        Some((
            Index {
                arr: a,
                idx: i,
                elem_size,
                offset: 0,
                byte,
                checked,
            },
            ty,
        ))
    }

    fn record_lit(
        &mut self,
        name: &[crate::ast::Ident],
        fields: &[(Option<crate::ast::Ident>, Expr)],
        span: Span,
    ) -> TExpr {
        let r = match self.c.resolve_type(
            self.module,
            &crate::ast::TypeExpr::Name(name.to_vec()),
            false,
        ) {
            Type::Record(r) => r,
            Type::Error => {
                for (_, e) in fields {
                    self.expr(e, None);
                }
                return TExpr::error(span);
            }
            t => {
                let t = self.show(&t);
                self.err(Code::Type, span, format!("{t} is not a record type"));
                return TExpr::error(span);
            }
        };
        let def = self.c.records.get(r).clone();
        let named = fields.iter().filter(|(n, _)| n.is_some()).count();
        if named != 0 && named != fields.len() {
            self.err(Code::Syntax, span, "give every field by name, or none");
            return TExpr::error(span);
        }
        if fields.len() != def.fields.len() {
            self.err(
                Code::Arity,
                span,
                format!(
                    "`{}` has {} fields, {} given",
                    def.name,
                    def.fields.len(),
                    fields.len()
                ),
            )
            .expected
            .push(
                def.fields
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            return TExpr::error(span);
        }
        let mut slots: Vec<Option<TExpr>> = vec![None; def.fields.len()];
        for (i, (n, e)) in fields.iter().enumerate() {
            let at = match n {
                None => i,
                Some(n) => match def.fields.iter().position(|(f, _)| *f == n.name) {
                    Some(p) => p,
                    None => {
                        self.err(
                            Code::Type,
                            n.span,
                            format!("record `{}` has no field `{}`", def.name, n.name),
                        );
                        continue;
                    }
                },
            };
            let fty = def.fields[at].1.clone();
            let x = self.expr_as(e, &fty, &format!("field `{}`", def.fields[at].0));
            if slots[at].is_some() {
                self.err(
                    Code::Duplicate,
                    e.span,
                    format!("field `{}` is given twice", def.fields[at].0),
                );
            }
            slots[at] = Some(x);
        }
        if slots.iter().any(Option::is_none) {
            return TExpr::error(span);
        }
        TExpr::new(
            TK::Tuple(slots.into_iter().flatten().collect()),
            Type::Record(r),
            span,
        )
    }

    fn sandbox(
        &mut self,
        callee: &Expr,
        gas: Option<&Expr>,
        mem: Option<&Expr>,
        args: &[Expr],
        fallback: Option<&Expr>,
        span: Span,
    ) -> TExpr {
        if self.in_const {
            return self.not_const(span);
        }
        let Some(f) = self.callee_func(callee) else {
            return TExpr::error(span);
        };
        let args = self.child_args(f, args, span, "a sandbox call");
        let gas = gas.map(|g| self.expr_as(g, &Type::U64, "the gas of a sandbox call"));
        let mem = mem.map(|m| self.expr_as(m, &Type::U64, "the memory of a sandbox call"));
        let results = match self.c.func_ret(f) {
            Some(t) => t,
            None => {
                let name = self.c.funcs[f as usize].name.clone();
                self.err(
                    Code::Type,
                    span,
                    format!("the result type of `{name}` is not known here"),
                )
                .notes
                .push(format!("annotate it: `def {name}(…) -> T:`"));
                Type::Error
            }
        };
        if !results.is_plain(&self.c.records) {
            let t = self.show(&results);
            self.err(
                Code::Misplaced,
                span,
                format!("a sandboxed function's results come back as words; {t} cannot"),
            )
            .notes
            .push(
                "return numbers, bools or records of them; read arrays with `spawn` and `.read`"
                    .into(),
            );
        }
        let fallback = fallback.map(|fb| {
            if results == Type::Unit {
                self.err(
                    Code::Type,
                    fb.span,
                    "this function returns nothing to fall back from",
                );
            }
            self.expr_as(fb, &results, "the fallback of a sandbox call")
        });
        let ty = match fallback {
            Some(_) => results.clone(),
            None => Type::Outcome(Box::new(results.clone())),
        };
        TExpr::new(
            TK::Sandbox(Box::new(Sandbox {
                func: f,
                args,
                gas,
                mem,
                fallback,
                results,
            })),
            ty,
            span,
        )
    }

    /// The place an assignment target names; `None` (after reporting) if it is not one.
    /// Undeclared simple names are the caller's business.
    pub fn place(&mut self, e: &Expr) -> Option<Place> {
        match &e.kind {
            ExprKind::Name(n) if n == "_" => Some(Place::Discard(Type::Error)),
            ExprKind::Name(n) => match self.resolve(n) {
                Res::Var(v) if v.mutable => Some(Place::Local(v.base, v.ty)),
                Res::Var(_) => {
                    self.err(
                        Code::AssignToConstant,
                        e.span,
                        format!("`{n}` is the variable of a `for` loop and cannot be assigned"),
                    );
                    None
                }
                Res::Sym(s) => {
                    let what = match s {
                        Sym::Const(_) => "a module constant",
                        Sym::Func(_) => "a function",
                        Sym::Grant(_) => "a grant (a key constant)",
                        Sym::Record(_) => "a record type",
                        Sym::Module(_) => "an imported module",
                    };
                    self.err(
                        Code::AssignToConstant,
                        e.span,
                        format!("cannot assign to `{n}`: it is {what}"),
                    )
                    .notes
                    .push("module-level names are constant; use a local variable".into());
                    None
                }
                Res::None => {
                    self.unknown(n, e.span);
                    None
                }
            },
            ExprKind::Field(base, f) => {
                if let ExprKind::Name(n) = &base.kind {
                    if let Res::Sym(Sym::Module(_)) = self.resolve(n) {
                        self.err(
                            Code::AssignToConstant,
                            e.span,
                            format!(
                                "cannot assign to `{n}.{}`: module-level names are constant",
                                f.name
                            ),
                        );
                        return None;
                    }
                }
                if let ExprKind::Index(..) = &base.kind {
                    let (mut ix, ty) = self.index_place(base)?;
                    let Type::Record(r) = ty else {
                        let t = self.show(&ty);
                        self.err(Code::Type, f.span, format!("{t} has no field `{}`", f.name));
                        return None;
                    };
                    let (off, fty) = self.record_field(r, f)?;
                    ix.offset += 8 * u64::from(off);
                    return Some(Place::Elem(Box::new(ix), fty));
                }
                match self.place(base)? {
                    Place::Local(b, Type::Record(r)) => {
                        let (off, fty) = self.record_field(r, f)?;
                        Some(Place::Local(b + off, fty))
                    }
                    Place::Elem(mut ix, Type::Record(r)) => {
                        let (off, fty) = self.record_field(r, f)?;
                        ix.offset += 8 * u64::from(off);
                        Some(Place::Elem(ix, fty))
                    }
                    p => {
                        let t = self.show(p.ty());
                        self.err(
                            Code::Type,
                            f.span,
                            format!("{t} has no field `{}` to assign", f.name),
                        );
                        None
                    }
                }
            }
            ExprKind::Index(..) => {
                let (ix, ty) = self.index_place(e)?;
                Some(Place::Elem(Box::new(ix), ty))
            }
            ExprKind::Paren(x) => self.place(x),
            _ => {
                self.err(Code::Syntax, e.span, "this cannot be assigned to")
                    .expected
                    .extend(["a variable", "`a[i]`", "`r.field`"].map(String::from));
                None
            }
        }
    }
}

/// The value of a module constant: an untyped integer, or a typed constant expression.
pub(super) fn const_value(
    c: &mut Checker<'_>,
    module: u32,
    e: &Expr,
    declared: Option<&Type>,
) -> Option<CVal> {
    let mut fx = Fcx {
        c,
        module,
        scopes: Vec::new(),
        next_local: 0,
        ret: None,
        loops: 0,
        in_const: true,
        in_range: Vec::new(),
        func: None,
    };
    if declared.is_none() {
        if let Some(u) = fx.untyped(e) {
            return match u {
                Ok(v) => Some(CVal::Int(v)),
                Err((s, m)) => {
                    fx.err(Code::Constant, s, m);
                    None
                }
            };
        }
    }
    let t = fx.expr(e, declared);
    if let Some(d) = declared {
        fx.expect_type(d, &t.ty, e.span, "the constant's value");
    }
    if t.ty.is_error() {
        return None;
    }
    if !is_const(&t) {
        fx.not_const(e.span);
        return None;
    }
    Some(CVal::Typed(t))
}

/// The words of a constant expression.
fn const_words(e: &TExpr, out: &mut Vec<u64>) -> bool {
    match &e.kind {
        TK::Word(v) => {
            out.push(*v);
            true
        }
        TK::Tuple(items) => items.iter().all(|i| const_words(i, out)),
        TK::Cast(x) => const_words(x, out),
        _ => false,
    }
}

fn child_passable(t: &Type, recs: &crate::types::Records) -> bool {
    match t {
        Type::Key => true,
        Type::Array(e) => e.is_plain(recs),
        t => t.is_plain(recs),
    }
}

fn project(b: TExpr, off: u32, ty: Type, span: Span) -> TExpr {
    match b.kind {
        TK::Local(base) => TExpr::new(TK::Local(base + off), ty, span),
        TK::Tuple(items) if items.iter().all(TExpr::is_pure) => {
            // Pick the item(s) at the offset when they line up with it.
            let mut at = 0u32;
            let mut items = items;
            for (i, it) in items.iter().enumerate() {
                if at == off && it.ty == ty {
                    let it = items.swap_remove(i);
                    return TExpr { span, ..it };
                }
                at += word_guess(&it.ty);
            }
            TExpr::new(
                TK::Project(Box::new(TExpr::new(TK::Tuple(items), b.ty, b.span)), off),
                ty,
                span,
            )
        }
        kind => TExpr::new(
            TK::Project(Box::new(TExpr::new(kind, b.ty, b.span)), off),
            ty,
            span,
        ),
    }
}

/// Words of a scalar-ish type without the record table (records make `project` fall
/// back to a general projection).
fn word_guess(t: &Type) -> u32 {
    match t {
        Type::U64 | Type::I64 | Type::Bool | Type::Key | Type::Proc | Type::U8 => 1,
        Type::Array(_) => 2,
        _ => u32::MAX / 2,
    }
}

fn untyped_binary(op: BinOp, a: i128, b: i128, span: Span) -> Result<i128, (Span, String)> {
    let over = || (span, "the constant expression overflows".to_string());
    match op {
        BinOp::Add => a.checked_add(b).ok_or_else(over),
        BinOp::Sub => a.checked_sub(b).ok_or_else(over),
        BinOp::Mul => a.checked_mul(b).ok_or_else(over),
        BinOp::Div | BinOp::Rem if b == 0 => {
            Err((span, "division by zero in a constant expression".into()))
        }
        BinOp::Div => a.checked_div(b).ok_or_else(over),
        BinOp::Rem => a.checked_rem(b).ok_or_else(over),
        BinOp::And => Ok(a & b),
        BinOp::Or => Ok(a | b),
        BinOp::Xor => Ok(a ^ b),
        BinOp::Shl => {
            let s = u32::try_from(b).map_err(|_| over())?;
            if s >= 127 {
                return Err(over());
            }
            let r = a.checked_mul(1i128 << s).ok_or_else(over)?;
            Ok(r)
        }
        BinOp::Shr => {
            let s = u32::try_from(b).map_err(|_| over())?;
            Ok(if s >= 127 {
                if a < 0 {
                    -1
                } else {
                    0
                }
            } else {
                a >> s
            })
        }
    }
}

fn fold_unary(op: Opcode, x: TExpr, ty: Type, span: Span) -> TExpr {
    match (op, x.as_word()) {
        (Opcode::Neg, Some(v)) => TExpr::word(v.wrapping_neg(), ty, span),
        (Opcode::Not, Some(v)) => TExpr::word(!v, ty, span),
        _ => TExpr::new(TK::Unary(op, Box::new(x)), ty, span),
    }
}

/// The value of a binary instruction on constants (`None` for division by zero).
pub fn eval_binary(op: Opcode, a: u64, b: u64) -> Option<u64> {
    let (sa, sb) = (a as i64, b as i64);
    Some(match op {
        Opcode::Add => a.wrapping_add(b),
        Opcode::Sub => a.wrapping_sub(b),
        Opcode::Mul => a.wrapping_mul(b),
        Opcode::DivU => a.checked_div(b)?,
        Opcode::RemU => a.checked_rem(b)?,
        Opcode::DivS if b == 0 => return None,
        Opcode::DivS => sa.wrapping_div(sb) as u64,
        Opcode::RemS if b == 0 => return None,
        Opcode::RemS => sa.wrapping_rem(sb) as u64,
        Opcode::And => a & b,
        Opcode::Or => a | b,
        Opcode::Xor => a ^ b,
        Opcode::Shl => a.wrapping_shl((b % 64) as u32),
        Opcode::ShrU => a.wrapping_shr((b % 64) as u32),
        Opcode::ShrS => sa.wrapping_shr((b % 64) as u32) as u64,
        Opcode::Rotl => a.rotate_left((b % 64) as u32),
        Opcode::Rotr => a.rotate_right((b % 64) as u32),
        Opcode::Eq => u64::from(a == b),
        Opcode::Ne => u64::from(a != b),
        Opcode::LtU => u64::from(a < b),
        Opcode::LtS => u64::from(sa < sb),
        Opcode::GtU => u64::from(a > b),
        Opcode::GtS => u64::from(sa > sb),
        Opcode::LeU => u64::from(a <= b),
        Opcode::LeS => u64::from(sa <= sb),
        Opcode::GeU => u64::from(a >= b),
        Opcode::GeS => u64::from(sa >= sb),
        _ => return None,
    })
}

/// Folds constants and applies algebraic identities (`x + 0`, `x * 2^k` as a shift,
/// unsigned `/ 2^k` and `% 2^k`).
fn fold_binary(op: Opcode, x: TExpr, y: TExpr, ty: Type, span: Span, optimize: bool) -> TExpr {
    if optimize {
        if let (Some(a), Some(b)) = (x.as_word(), y.as_word()) {
            if let Some(v) = eval_binary(op, a, b) {
                return TExpr::word(v, ty, span);
            }
        }
        if let Some(b) = y.as_word() {
            let identity = match op {
                Opcode::Add
                | Opcode::Sub
                | Opcode::Or
                | Opcode::Xor
                | Opcode::Shl
                | Opcode::ShrU
                | Opcode::ShrS => b == 0,
                Opcode::Mul | Opcode::DivU | Opcode::DivS => b == 1,
                _ => false,
            };
            if identity {
                return TExpr { span, ..x };
            }
            if b.is_power_of_two() {
                let k = u64::from(b.trailing_zeros());
                let sh = |op: Opcode, v: u64, x: TExpr| {
                    TExpr::new(
                        TK::Binary(op, Box::new(x), Box::new(TExpr::word(v, Type::U64, span))),
                        ty.clone(),
                        span,
                    )
                };
                match op {
                    Opcode::Mul => return sh(Opcode::Shl, k, x),
                    Opcode::DivU => return sh(Opcode::ShrU, k, x),
                    Opcode::RemU => return sh(Opcode::And, b - 1, x),
                    _ => {}
                }
            }
        }
        if let Some(a) = x.as_word() {
            let identity = match op {
                Opcode::Add | Opcode::Or | Opcode::Xor => a == 0,
                Opcode::Mul => a == 1,
                _ => false,
            };
            if identity {
                return TExpr { span, ..y };
            }
        }
    }
    TExpr::new(TK::Binary(op, Box::new(x), Box::new(y)), ty, span)
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let v = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
            cur.push(v);
        }
        prev = cur;
    }
    prev[b.len()]
}
