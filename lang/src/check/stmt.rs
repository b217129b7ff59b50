//! Checking statements and function bodies: assignments and declarations, control flow,
//! loops (with the bounds-check elimination of `for` over `range(…, len(a))`), returns
//! and the missing-return analysis.

use std::collections::HashMap;

use rarvm_runtime::isa::Opcode;

use super::expr::Fcx;
use super::ir::{Builtin, FuncId, Place, Step, TExpr, TFunc, TStmt, SK, TK};
use super::Checker;
use crate::ast::{BinOp, Expr, ExprKind, Item, Stmt, StmtKind};
use crate::diag::Code;
use crate::types::{results_type, Type};

pub(super) fn check_function(c: &mut Checker<'_>, f: FuncId) -> TFunc {
    let (m, item) = (c.funcs[f as usize].module, c.funcs[f as usize].item);
    let prog = c.prog;
    let Item::Def(d) = &prog.modules[m as usize].ast.items[item] else {
        unreachable!("functions come from `def` items");
    };
    let params = c.funcs[f as usize].params.clone();
    let annotated = c.funcs[f as usize].ret.clone();
    let skip_body = prog.modules[m as usize].broken && has_errors(&d.body);
    let mut fx = Fcx {
        c,
        module: m,
        scopes: vec![HashMap::new()],
        next_local: 0,
        ret: annotated.clone(),
        loops: 0,
        in_const: false,
        in_range: Vec::new(),
        func: Some(f),
    };
    for (name, ty, _) in &params {
        fx.declare(name, ty.clone(), true);
    }
    let param_words = fx.next_local;
    let body = if skip_body {
        Vec::new()
    } else {
        let errs_before = fx.c.diags.len();
        let mut body = Vec::new();
        stmts(&mut fx, &d.body, &mut body);
        let ret = fx.ret.clone().unwrap_or(Type::Unit);
        if fx.ret.is_none() {
            fx.ret = Some(Type::Unit);
            fx.c.funcs[f as usize].ret = Some(Type::Unit);
        }
        if ret != Type::Unit
            && !ret.is_error()
            && !terminates(&body)
            && fx.c.diags.len() == errs_before
        {
            let t = fx.show(&ret);
            fx.err(
                Code::MissingReturn,
                d.name.span,
                format!(
                    "`{}` returns {t}, but the end of its body can be reached without `return`",
                    d.name.name
                ),
            )
            .expected
            .push(format!("`return` with a {t} at the end"));
        }
        if !fx.local_limit_ok() {
            fx.err(
                Code::Limit,
                d.name.span,
                format!(
                    "`{}` needs more than {} locals",
                    d.name.name,
                    rarvm_runtime::limits::MAX_LOCALS
                ),
            );
        }
        body
    };
    let results = fx.ret.clone().unwrap_or(Type::Unit);
    if fx.c.funcs[f as usize].ret.is_none() {
        fx.c.funcs[f as usize].ret = Some(results.clone());
    }
    let locals = fx.next_local.saturating_sub(param_words);
    let info = &fx.c.funcs[f as usize];
    TFunc {
        name: info.name.clone(),
        qual: info.qual.clone(),
        file: prog.modules[m as usize].file,
        span: d.span,
        param_words,
        results,
        locals,
        body,
    }
}

fn has_errors(body: &[Stmt]) -> bool {
    body.iter().any(|s| match &s.kind {
        StmtKind::Error => true,
        StmtKind::If { arms, els } => {
            arms.iter().any(|(_, b)| has_errors(b)) || els.as_ref().is_some_and(|b| has_errors(b))
        }
        StmtKind::While { body, .. } | StmtKind::For { body, .. } => has_errors(body),
        StmtKind::Match { cases, .. } => cases.iter().any(|c| has_errors(&c.body)),
        _ => false,
    })
}

fn block(fx: &mut Fcx<'_, '_>, body: &[Stmt]) -> Vec<TStmt> {
    fx.scopes.push(HashMap::new());
    let mut out = Vec::new();
    stmts(fx, body, &mut out);
    fx.scopes.pop();
    out
}

fn stmts(fx: &mut Fcx<'_, '_>, body: &[Stmt], out: &mut Vec<TStmt>) {
    for s in body {
        stmt(fx, s, out);
    }
}

fn push(out: &mut Vec<TStmt>, kind: SK, span: crate::Span) {
    out.push(TStmt { kind, span });
}

fn stmt(fx: &mut Fcx<'_, '_>, s: &Stmt, out: &mut Vec<TStmt>) {
    let span = s.span;
    match &s.kind {
        StmtKind::Error | StmtKind::Pass => {}
        StmtKind::Expr(e) => {
            let t = fx.expr(e, None);
            push(out, SK::Expr(t), span);
        }
        StmtKind::Decl { name, ty, value } => {
            let ty = fx.c.resolve_type(fx.module, ty, false);
            if let Some(v) = fx.var(&name.name) {
                let t = fx.show(&v.ty);
                fx.err(
                    Code::Duplicate,
                    name.span,
                    format!("`{}` is already a variable (of type {t})", name.name),
                )
                .notes
                .push("assign it without a type, or choose another name".into());
            }
            let v = fx.expr_as(value, &ty, &format!("the value of `{}`", name.name));
            let base = fx.declare(&name.name, ty.clone(), true);
            push(out, SK::Assign(vec![Place::Local(base, ty)], v), span);
        }
        StmtKind::Assign { targets, value } => assign(fx, targets, value, span, out),
        StmtKind::AugAssign { target, op, value } => {
            let Some(place) = fx.place(target) else {
                fx.expr(value, None);
                return;
            };
            let ty = place.ty().clone();
            let shift = matches!(op, BinOp::Shl | BinOp::Shr);
            let v = fx.expr(value, Some(if shift { &Type::U64 } else { &ty }));
            let bool_ok = matches!(op, BinOp::And | BinOp::Or | BinOp::Xor) && ty == Type::Bool;
            if !(ty.is_int() || bool_ok || ty.is_error()) {
                let t = fx.show(&ty);
                fx.err(
                    Code::Type,
                    target.span,
                    format!("`{}=` needs an integer, found {t}", op.symbol()),
                );
                return;
            }
            if shift {
                if !v.ty.is_int() && !v.ty.is_error() {
                    let t = fx.show(&v.ty);
                    fx.err(
                        Code::Type,
                        value.span,
                        format!("a shift count is an integer, found {t}"),
                    );
                }
            } else {
                fx.expect_type(
                    &ty,
                    &v.ty,
                    value.span,
                    &format!("`{}=` needs one type on both sides", op.symbol()),
                );
            }
            let s = ty.is_signed();
            let opc = match op {
                BinOp::Add => Opcode::Add,
                BinOp::Sub => Opcode::Sub,
                BinOp::Mul => Opcode::Mul,
                BinOp::Div if s => Opcode::DivS,
                BinOp::Div => Opcode::DivU,
                BinOp::Rem if s => Opcode::RemS,
                BinOp::Rem => Opcode::RemU,
                BinOp::And => Opcode::And,
                BinOp::Or => Opcode::Or,
                BinOp::Xor => Opcode::Xor,
                BinOp::Shl => Opcode::Shl,
                BinOp::Shr if s => Opcode::ShrS,
                BinOp::Shr => Opcode::ShrU,
            };
            let (opc, v) = strength_reduce(opc, v);
            if matches!(
                opc,
                Opcode::DivU | Opcode::DivS | Opcode::RemU | Opcode::RemS
            ) && v.as_word() == Some(0)
            {
                fx.err(Code::Constant, value.span, "division by zero");
                return;
            }
            push(out, SK::Update(place, opc, v), span);
        }
        StmtKind::If { arms, els } => {
            let mut tarms = Vec::new();
            for (cond, body) in arms {
                let c = fx.expr_as(cond, &Type::Bool, "an `if` condition");
                let b = block(fx, body);
                tarms.push((c, b));
            }
            let e = els.as_ref().map(|b| block(fx, b)).unwrap_or_default();
            if fx.c.optimize {
                // Drop arms that can never run; stop at one that always does.
                let mut kept = Vec::new();
                let mut else_body = Some(e);
                for (c, b) in tarms {
                    match c.as_word() {
                        Some(0) => {}
                        Some(_) => {
                            else_body = Some(b);
                            break;
                        }
                        None => kept.push((c, b)),
                    }
                }
                let e = else_body.unwrap_or_default();
                if kept.is_empty() {
                    out.extend(e);
                    return;
                }
                push(out, SK::If(kept, e), span);
                return;
            }
            push(out, SK::If(tarms, e), span);
        }
        StmtKind::While { cond, body } => {
            let c = fx.expr_as(cond, &Type::Bool, "a `while` condition");
            fx.loops += 1;
            let b = block(fx, body);
            fx.loops -= 1;
            if fx.c.optimize && c.as_word() == Some(0) {
                return;
            }
            push(out, SK::While(c, b), span);
        }
        StmtKind::For { var, iter, body } => for_loop(fx, var, iter, body, span, out),
        StmtKind::Match { scrutinee, cases } => {
            let sc = fx.expr(scrutinee, None);
            if !matches!(sc.ty, Type::U64 | Type::I64 | Type::Bool | Type::Error) {
                let t = fx.show(&sc.ty);
                fx.err(
                    Code::Type,
                    scrutinee.span,
                    format!("`match` takes an integer or a bool, found {t}"),
                );
            }
            let mut tcases: Vec<(Vec<u64>, Vec<TStmt>)> = Vec::new();
            let mut default: Option<Vec<TStmt>> = None;
            let mut seen: Vec<u64> = Vec::new();
            for (i, case) in cases.iter().enumerate() {
                let mut vals = Vec::new();
                for p in &case.patterns {
                    let v = fx.expr(p, Some(&sc.ty));
                    fx.expect_type(&sc.ty, &v.ty, p.span, "a `case` value");
                    match v.as_word() {
                        Some(w) => {
                            if seen.contains(&w) {
                                fx.err(Code::Duplicate, p.span, "this value already has a `case`");
                            }
                            seen.push(w);
                            vals.push(w);
                        }
                        None if v.ty.is_error() => {}
                        None => {
                            fx.err(Code::Constant, p.span, "a `case` value must be a constant");
                        }
                    }
                }
                let b = block(fx, &case.body);
                if case.patterns.is_empty() {
                    if default.is_some() || i + 1 != cases.len() {
                        fx.err(
                            Code::Misplaced,
                            case.span,
                            "`case _` must be the last case, and only one",
                        );
                    }
                    default = Some(b);
                } else {
                    tcases.push((vals, b));
                }
            }
            push(
                out,
                SK::Match {
                    scrutinee: sc,
                    cases: tcases,
                    default: default.unwrap_or_default(),
                },
                span,
            );
        }
        StmtKind::Return(vals) => {
            let want = fx.ret.clone();
            let v = match vals.as_slice() {
                [] => TExpr::new(TK::Tuple(vec![]), Type::Unit, span),
                [one] => fx.expr(one, want.as_ref()),
                many => {
                    let wants: Vec<Option<Type>> = match &want {
                        Some(Type::Tuple(ts)) if ts.len() == many.len() => {
                            ts.iter().cloned().map(Some).collect()
                        }
                        _ => vec![None; many.len()],
                    };
                    let items: Vec<TExpr> = many
                        .iter()
                        .zip(wants)
                        .map(|(e, w)| fx.expr(e, w.as_ref()))
                        .collect();
                    let ty = results_type(items.iter().map(|i| i.ty.clone()).collect());
                    TExpr::new(TK::Tuple(items), ty, span)
                }
            };
            match &want {
                Some(t) => {
                    if matches!(t, Type::Unit) && v.ty != Type::Unit {
                        fx.err(
                            Code::Type,
                            span,
                            "this function returns nothing, but `return` gives a value",
                        );
                    } else if *t != Type::Unit && v.ty == Type::Unit {
                        let w = fx.show(t);
                        fx.err(
                            Code::Type,
                            span,
                            format!("`return` needs a value: the function returns {w}"),
                        )
                        .expected
                        .push(w);
                    } else {
                        let t = t.clone();
                        fx.expect_type(&t, &v.ty, span, "the returned value");
                    }
                }
                None => {
                    if !matches!(v.ty, Type::Error | Type::Outcome(_)) {
                        fx.ret = Some(v.ty.clone());
                    } else if let Type::Outcome(_) = v.ty {
                        fx.err(
                            Code::Type,
                            span,
                            "an outcome cannot be returned; return its fields",
                        )
                        .notes
                        .push("or give the sandbox call a fallback with `else`".into());
                    }
                    let f = fx.func;
                    if let (Some(f), Some(r)) = (f, fx.ret.clone()) {
                        fx.c.funcs[f as usize].ret = Some(r);
                    }
                }
            }
            push(out, SK::Return(v), span);
        }
        StmtKind::Yield(vals) => {
            let mut items = Vec::new();
            for e in vals {
                let v = fx.expr(e, Some(&Type::U64));
                fx.one_word(&v, "`yield` sends words to the parent");
                items.push(v);
            }
            push(out, SK::Yield(items), span);
        }
        StmtKind::Break | StmtKind::Continue => {
            if fx.loops == 0 {
                let w = if matches!(s.kind, StmtKind::Break) {
                    "break"
                } else {
                    "continue"
                };
                fx.err(Code::Misplaced, span, format!("`{w}` outside a loop"));
                return;
            }
            let k = if matches!(s.kind, StmtKind::Break) {
                SK::Break
            } else {
                SK::Continue
            };
            push(out, k, span);
        }
        StmtKind::Assert(e) => {
            let c = fx.expr_as(e, &Type::Bool, "an `assert` condition");
            if fx.c.optimize && c.as_word().is_some_and(|v| v != 0) {
                return;
            }
            push(out, SK::Assert(c), span);
        }
    }
}

/// `x *= 2^k` and friends become shifts and masks.
fn strength_reduce(op: Opcode, v: TExpr) -> (Opcode, TExpr) {
    match (op, v.as_word()) {
        (Opcode::Mul, Some(b)) if b.is_power_of_two() => (
            Opcode::Shl,
            TExpr::word(u64::from(b.trailing_zeros()), Type::U64, v.span),
        ),
        (Opcode::DivU, Some(b)) if b.is_power_of_two() => (
            Opcode::ShrU,
            TExpr::word(u64::from(b.trailing_zeros()), Type::U64, v.span),
        ),
        (Opcode::RemU, Some(b)) if b.is_power_of_two() => {
            (Opcode::And, TExpr::word(b - 1, v.ty.clone(), v.span))
        }
        _ => (op, v),
    }
}

fn assign(
    fx: &mut Fcx<'_, '_>,
    targets: &[Expr],
    value: &Expr,
    span: crate::Span,
    out: &mut Vec<TStmt>,
) {
    // A simple name that is not yet anything is a new variable.
    let is_new = |fx: &Fcx<'_, '_>, t: &Expr| match &t.kind {
        ExprKind::Name(n) => n != "_" && fx.var(n).is_none() && fx.global(n).is_none(),
        _ => false,
    };
    if targets.len() == 1 {
        let t = &targets[0];
        if is_new(fx, t) {
            let ExprKind::Name(n) = &t.kind else {
                unreachable!("checked above")
            };
            let v = fx.expr(value, None);
            if matches!(v.ty, Type::Unit) {
                fx.err(Code::Type, value.span, "this has no value to assign");
                return;
            }
            if let Type::Tuple(ts) = &v.ty {
                fx.err(
                    Code::Arity,
                    span,
                    format!("this gives {} values; unpack them: `a, b = …`", ts.len()),
                );
                return;
            }
            let ty = v.ty.clone();
            let base = fx.declare(n, ty.clone(), true);
            push(out, SK::Assign(vec![Place::Local(base, ty)], v), span);
            return;
        }
        let Some(p) = fx.place(t) else {
            fx.expr(value, None);
            return;
        };
        let want = p.ty().clone();
        let v = fx.expr(
            value,
            if matches!(p, Place::Discard(_)) {
                None
            } else {
                Some(&want)
            },
        );
        let p = match p {
            Place::Discard(_) => Place::Discard(v.ty.clone()),
            p => {
                fx.expect_type(&want, &v.ty, value.span, "the assigned value");
                p
            }
        };
        push(out, SK::Assign(vec![p], v), span);
        return;
    }
    // Unpacking: check the existing targets first, so they type the value.
    let mut places: Vec<Option<Place>> = Vec::new();
    for t in targets {
        if is_new(fx, t) {
            places.push(None);
        } else {
            match fx.place(t) {
                Some(p) => places.push(Some(p)),
                None => {
                    fx.expr(value, None);
                    return;
                }
            }
        }
    }
    let wants: Vec<Option<Type>> = places
        .iter()
        .map(|p| {
            p.as_ref().and_then(|p| match p {
                Place::Discard(_) => None,
                p => Some(p.ty().clone()),
            })
        })
        .collect();
    let v = match &value.kind {
        ExprKind::Tuple(items) if items.len() == targets.len() => {
            let xs: Vec<TExpr> = items
                .iter()
                .zip(&wants)
                .map(|(e, w)| fx.expr(e, w.as_ref()))
                .collect();
            let ty = Type::Tuple(xs.iter().map(|x| x.ty.clone()).collect());
            TExpr::new(TK::Tuple(xs), ty, value.span)
        }
        _ => fx.expr(value, None),
    };
    if v.ty.is_error() {
        return;
    }
    let tys: Vec<Type> = match &v.ty {
        Type::Tuple(ts) => ts.clone(),
        Type::Unit => vec![],
        t => vec![t.clone()],
    };
    if tys.len() != targets.len() {
        fx.err(
            Code::Arity,
            span,
            format!("{} targets, but the value has {}", targets.len(), tys.len()),
        );
        return;
    }
    let mut out_places = Vec::new();
    for ((p, t), target) in places.into_iter().zip(tys).zip(targets) {
        let p = match p {
            None => {
                let ExprKind::Name(n) = &target.kind else {
                    unreachable!("new targets are names")
                };
                let base = fx.declare(n, t.clone(), true);
                Place::Local(base, t)
            }
            Some(Place::Discard(_)) => Place::Discard(t),
            Some(p) => {
                let want = p.ty().clone();
                fx.expect_type(&want, &t, target.span, "the unpacked value");
                p
            }
        };
        out_places.push(p);
    }
    push(out, SK::Assign(out_places, v), span);
}

/// True if `name` is assigned anywhere in `body` (for loops' invariants).
fn assigns(body: &[Stmt], name: &str) -> bool {
    let target = |e: &Expr| -> bool {
        let mut e = e;
        loop {
            match &e.kind {
                ExprKind::Name(n) => return n == name,
                ExprKind::Field(b, _) | ExprKind::Paren(b) => e = b,
                _ => return false,
            }
        }
    };
    body.iter().any(|s| match &s.kind {
        StmtKind::Assign { targets, .. } => targets.iter().any(target),
        StmtKind::AugAssign { target: t, .. } => target(t),
        StmtKind::Decl { name: n, .. } => n.name == name,
        StmtKind::If { arms, els } => {
            arms.iter().any(|(_, b)| assigns(b, name))
                || els.as_ref().is_some_and(|b| assigns(b, name))
        }
        StmtKind::While { body, .. } => assigns(body, name),
        StmtKind::For { var, body, .. } => var.name == name || assigns(body, name),
        StmtKind::Match { cases, .. } => cases.iter().any(|c| assigns(&c.body, name)),
        _ => false,
    })
}

fn for_loop(
    fx: &mut Fcx<'_, '_>,
    var: &crate::ast::Ident,
    iter: &Expr,
    body: &[Stmt],
    span: crate::Span,
    out: &mut Vec<TStmt>,
) {
    if fx.var(&var.name).is_some() || fx.global(&var.name).is_some() {
        fx.err(
            Code::Duplicate,
            var.span,
            format!(
                "`{}` is already defined; a `for` loop declares a new variable",
                var.name
            ),
        )
        .notes
        .push("give the loop variable another name, or count with `while`".into());
    }
    let range_args = match &iter.kind {
        ExprKind::Call { callee, args } => match &callee.kind {
            ExprKind::Name(n) if n == "range" && fx.var(n).is_none() && fx.global(n).is_none() => {
                Some(args)
            }
            _ => None,
        },
        _ => None,
    };
    let Some(args) = range_args else {
        // `for x in array`
        let arr = fx.expr(iter, None);
        let elem = match &arr.ty {
            Type::Array(t) => (**t).clone(),
            Type::Error => Type::Error,
            t => {
                let t = fx.show(t);
                fx.err(
                    Code::Type,
                    iter.span,
                    format!("`for` iterates over `range(…)` or an array, not {t}"),
                )
                .expected
                .extend(["`range(…)`".to_string(), "[T]".to_string()]);
                Type::Error
            }
        };
        let elem_size = elem.elem_size(&fx.c.records);
        let var_ty = if elem == Type::U8 {
            Type::U64
        } else {
            elem.clone()
        };
        fx.scopes.push(HashMap::new());
        let base = fx.declare(&var.name, var_ty, false);
        fx.loops += 1;
        let b = block(fx, body);
        fx.loops -= 1;
        fx.scopes.pop();
        push(
            out,
            SK::Each {
                var: base,
                elem,
                arr,
                elem_size,
                body: b,
            },
            span,
        );
        return;
    };
    if args.is_empty() || args.len() > 3 {
        fx.err(
            Code::Arity,
            iter.span,
            format!("`range` takes 1 to 3 arguments, {} given", args.len()),
        )
        .expected
        .push("range(stop), range(start, stop) or range(start, stop, step)".into());
        return;
    }
    let (start_e, stop_e) = if args.len() == 1 {
        (None, &args[0])
    } else {
        (Some(&args[0]), &args[1])
    };
    let step_e = args.get(2);
    // The loop variable's type: the first typed bound, else u64 (i64 if a bound is
    // negative).
    let typed: Option<Type> = {
        let mut t = None;
        for e in start_e.into_iter().chain([stop_e]) {
            if fx.untyped(e).is_none() {
                let x = fx.expr(e, None);
                t = Some(x.ty);
                break;
            }
        }
        t
    };
    let negative = start_e
        .into_iter()
        .chain([stop_e])
        .any(|e| matches!(fx.untyped(e), Some(Ok(v)) if v < 0));
    let ty = typed.unwrap_or(if negative { Type::I64 } else { Type::U64 });
    if !ty.is_int() && !ty.is_error() {
        let t = fx.show(&ty);
        fx.err(
            Code::Type,
            iter.span,
            format!("`range` counts integers, not {t}"),
        );
        return;
    }
    let start = match start_e {
        Some(e) => fx.expr_as(e, &ty, "the start of a range"),
        None => TExpr::word(0, ty.clone(), iter.span),
    };
    let stop = fx.expr_as(stop_e, &ty, "the end of a range");
    let step = match step_e {
        None => Step::Const(1, true),
        Some(e) => match fx.untyped(e) {
            Some(Ok(0)) => {
                fx.err(Code::Constant, e.span, "a range's step cannot be 0");
                Step::Const(1, true)
            }
            Some(Ok(v)) => match u64::try_from(v.unsigned_abs()) {
                Ok(m) if ty.is_signed() && v > 0 && m > i64::MAX as u64 => {
                    fx.err(Code::Constant, e.span, "the step does not fit i64");
                    Step::Const(1, true)
                }
                Ok(m) => Step::Const(m, v > 0),
                Err(_) => {
                    fx.err(Code::Constant, e.span, "the step does not fit 64 bits");
                    Step::Const(1, true)
                }
            },
            Some(Err((s, m))) => {
                fx.err(Code::Constant, s, m);
                Step::Const(1, true)
            }
            None => {
                let x = fx.expr_as(e, &ty, "the step of a range");
                match x.as_word() {
                    Some(0) => {
                        fx.err(Code::Constant, e.span, "a range's step cannot be 0");
                        Step::Const(1, true)
                    }
                    Some(w) if ty.is_signed() && (w as i64) < 0 => {
                        Step::Const((w as i64).unsigned_abs(), false)
                    }
                    Some(w) => Step::Const(w, true),
                    None => Step::Var(x),
                }
            }
        },
    };
    fx.scopes.push(HashMap::new());
    let base = fx.declare(&var.name, ty.clone(), false);
    // Bounds checks vanish for `a[i]` when the loop runs up to `len(a)` and `a` stays.
    let ascending =
        matches!(step, Step::Const(_, true)) || (matches!(step, Step::Var(_)) && !ty.is_signed());
    let nonneg_start = !ty.is_signed() || start.as_word().is_some_and(|w| (w as i64) >= 0);
    let mut proven = None;
    if ascending && nonneg_start {
        if let (TK::Len(a), ExprKind::Call { args: la, .. }) = (&stop.kind, &stop_e.kind) {
            if let (TK::Local(ab), [ExprKind::Name(an)]) = (
                &a.kind,
                la.iter().map(|e| &e.kind).collect::<Vec<_>>().as_slice(),
            ) {
                if !assigns(body, an) {
                    proven = Some((base, *ab));
                }
            }
        }
    }
    if let Some(p) = proven {
        fx.in_range.push(p);
    }
    fx.loops += 1;
    let b = block(fx, body);
    fx.loops -= 1;
    if proven.is_some() {
        fx.in_range.pop();
    }
    fx.scopes.pop();
    push(
        out,
        SK::Range {
            var: base,
            signed: ty.is_signed(),
            start,
            stop,
            step,
            body: b,
        },
        span,
    );
}

/// True when control cannot reach the end of `body`.
pub fn terminates(body: &[TStmt]) -> bool {
    let Some(last) = body.last() else {
        return false;
    };
    match &last.kind {
        SK::Return(_) => true,
        SK::If(arms, els) => {
            !els.is_empty() && terminates(els) && arms.iter().all(|(_, b)| terminates(b))
        }
        SK::While(c, b) => c.as_word().is_some_and(|v| v != 0) && !breaks(b),
        SK::Match { cases, default, .. } => {
            !default.is_empty() && terminates(default) && cases.iter().all(|(_, b)| terminates(b))
        }
        SK::Expr(e) => matches!(e.kind, TK::Builtin(Builtin::Halt | Builtin::Trap, _)),
        SK::Assert(c) => c.as_word() == Some(0),
        _ => false,
    }
}

/// True if a `break` in `body` leaves the loop `body` belongs to.
fn breaks(body: &[TStmt]) -> bool {
    body.iter().any(|s| match &s.kind {
        SK::Break => true,
        SK::If(arms, els) => arms.iter().any(|(_, b)| breaks(b)) || breaks(els),
        SK::Match { cases, default, .. } => cases.iter().any(|(_, b)| breaks(b)) || breaks(default),
        _ => false,
    })
}
