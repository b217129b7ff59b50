//! Lowering the typed program to rarvm instructions: values on the operand stack,
//! variables in locals, loops rotated so that each iteration is one basic block where
//! the body allows, bounds checks as a branch-free `select` that turns a bad address
//! into a fault, and the static memory layout.

use std::collections::HashMap;

use rarvm_runtime::isa::{Field, Instr, Opcode};
use rarvm_runtime::module::{DataSegment, Function, Module};

use crate::check::ir::*;
use crate::diag::{Code as DiagCode, Diagnostic};
use crate::emit::{Asm, Ins, Label};
use crate::types::{Records, Type, OUTCOME_HEADER};
use crate::{Compiled, FuncMap, Options, SourceMap};

/// `u64::MAX`: the address a failed bounds check substitutes, which faults `out_of_bounds`.
const BAD: u64 = u64::MAX;
/// The status `recurse` pushes for a child that returned.
const RETURNED: u64 = rarvm_runtime::process::Status::Returned as u64;
/// Largest switch table the compiler builds for a `match`.
const MAX_TABLE: u64 = 4096;

struct Ctx<'a> {
    p: &'a Checked,
    /// Module index of each reachable function.
    index: HashMap<FuncId, u32>,
    /// Address of each reachable static.
    addr: HashMap<StaticId, u64>,
    optimize: bool,
}

pub fn lower(p: &Checked, options: &Options) -> Result<Compiled, Vec<Diagnostic>> {
    // Reachable functions (main first, then in order of discovery) and statics.
    let mut order = vec![p.main];
    let mut index = HashMap::new();
    index.insert(p.main, 0u32);
    let mut statics: Vec<StaticId> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut k = 0;
    while k < order.len() {
        let f = &p.funcs[order[k] as usize];
        let mut refs = Refs::default();
        for s in &f.body {
            refs.stmt(s);
        }
        for g in refs.funcs {
            if let std::collections::hash_map::Entry::Vacant(e) = index.entry(g) {
                e.insert(order.len() as u32);
                order.push(g);
            }
        }
        for s in refs.statics {
            if seen.insert(s) {
                statics.push(s);
            }
        }
        k += 1;
    }
    // Static layout: each region 8-aligned, in order of first use; regions with bytes
    // that follow each other share one data segment (with the alignment's zeros).
    let mut addr = HashMap::new();
    let mut at = 0u64;
    let mut data: Vec<DataSegment> = Vec::new();
    for s in &statics {
        let d = &p.statics[*s as usize];
        at = at.div_ceil(8) * 8;
        addr.insert(*s, at);
        if !d.bytes.is_empty() {
            match data.last_mut() {
                Some(seg) if seg.offset + seg.bytes.len() as u64 + 8 > at => {
                    seg.bytes.resize((at - seg.offset) as usize, 0);
                    seg.bytes.extend_from_slice(&d.bytes);
                }
                _ => data.push(DataSegment {
                    offset: at,
                    bytes: d.bytes.clone(),
                }),
            }
        }
        at += d.bytes.len() as u64 + d.zeros;
    }
    let memory_size = at.div_ceil(8) * 8;
    let ctx = Ctx {
        p,
        index,
        addr,
        optimize: options.optimize,
    };
    let mut funcs = Vec::new();
    let mut maps = Vec::new();
    let mut diags = Vec::new();
    let lines: Vec<LineIndex> = p.files.iter().map(|f| LineIndex::new(&f.text)).collect();
    for &fid in &order {
        let f = &p.funcs[fid as usize];
        let mut g = Gen {
            ctx: &ctx,
            asm: Asm::default(),
            next_local: f.param_words + f.locals,
            free: Vec::new(),
            loops: Vec::new(),
            checked: Vec::new(),
            pending: None,
            reduced: Vec::new(),
            unchecked: Vec::new(),
            faults: Vec::new(),
            dispatch: Vec::new(),
        };
        g.asm.at(f.span);
        for s in &f.body {
            g.stmt(s);
        }
        if g.asm.reachable() {
            g.asm.at(f.span);
            if f.results == Type::Unit {
                g.asm.emit(Instr::Ret);
            } else {
                g.asm.emit(Instr::Trap);
            }
        }
        let locals = g.next_local - f.param_words;
        g.fault_blocks();
        let code = g.asm.finish(ctx.optimize);
        if f.param_words + locals > rarvm_runtime::limits::MAX_LOCALS {
            diags.push(Diagnostic::error(
                DiagCode::Limit,
                f.span,
                format!(
                    "`{}` needs {} locals, more than {}",
                    f.name,
                    f.param_words + locals,
                    rarvm_runtime::limits::MAX_LOCALS
                ),
            ));
        }
        if code.instrs.len() > rarvm_runtime::limits::MAX_CODE {
            diags.push(Diagnostic::error(
                DiagCode::Limit,
                f.span,
                format!(
                    "`{}` compiles to {} instructions, more than {}",
                    f.name,
                    code.instrs.len(),
                    rarvm_runtime::limits::MAX_CODE
                ),
            ));
        }
        let results = f.results.words(&p.records);
        maps.push(FuncMap {
            name: f.name.clone(),
            file: f.file,
            positions: code
                .spans
                .iter()
                .map(|s| {
                    lines[s.context as usize].line_col(&p.files[s.context as usize].text, s.start)
                })
                .collect(),
        });
        funcs.push(Function {
            name: f.qual.clone(),
            params: f.param_words,
            results,
            locals,
            code: code.instrs,
            tables: code.tables,
        });
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let source_map = SourceMap { funcs: maps };
    let module = Module {
        memory_size,
        entry: 0,
        data,
        funcs,
        debug: Some(source_map.debug_info(&p.files)),
    };
    if let Err(e) = rarvm_runtime::verify(module.clone()) {
        let f = e.func.as_ref().map_or(0, |(i, _)| *i as usize);
        let span = order
            .get(f)
            .map_or(crate::span(0, 0, 0), |id| p.funcs[*id as usize].span);
        return Err(vec![Diagnostic::error(
            DiagCode::Limit,
            span,
            format!("the compiled module does not verify: {e}"),
        )
        .note("this is a compiler bug or a machine limit; please report it")]);
    }
    Ok(Compiled {
        module,
        source_map,
        files: p.files.clone(),
        grants: p.grants.clone(),
    })
}

/// Line starts of a file, for turning spans into lines and columns quickly.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line_col(&self, text: &str, at: usize) -> (u32, u32) {
        let at = at.min(text.len());
        let line = self.starts.partition_point(|s| *s <= at).max(1);
        let start = self.starts[line - 1];
        let mut end = at;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let col = text.get(start..end).map_or(0, |s| s.chars().count()) + 1;
        (line as u32, col as u32)
    }
}

/// Functions and statics a body refers to.
#[derive(Default)]
struct Refs {
    funcs: Vec<FuncId>,
    statics: Vec<StaticId>,
}

impl Refs {
    fn stmt(&mut self, s: &TStmt) {
        match &s.kind {
            SK::Expr(e) | SK::Return(e) | SK::Assert(e) => self.expr(e),
            SK::Assign(ps, e) => {
                for p in ps {
                    self.place(p);
                }
                self.expr(e);
            }
            SK::Update(p, _, e) => {
                self.place(p);
                self.expr(e);
            }
            SK::If(arms, els) => {
                for (c, b) in arms {
                    self.expr(c);
                    b.iter().for_each(|s| self.stmt(s));
                }
                els.iter().for_each(|s| self.stmt(s));
            }
            SK::While(c, b) => {
                self.expr(c);
                b.iter().for_each(|s| self.stmt(s));
            }
            SK::Range {
                start,
                stop,
                step,
                body,
                ..
            } => {
                self.expr(start);
                self.expr(stop);
                if let Step::Var(e) = step {
                    self.expr(e);
                }
                body.iter().for_each(|s| self.stmt(s));
            }
            SK::Each { arr, body, .. } => {
                self.expr(arr);
                body.iter().for_each(|s| self.stmt(s));
            }
            SK::Match {
                scrutinee,
                cases,
                default,
            } => {
                self.expr(scrutinee);
                for (_, b) in cases {
                    b.iter().for_each(|s| self.stmt(s));
                }
                default.iter().for_each(|s| self.stmt(s));
            }
            SK::Yield(es) => es.iter().for_each(|e| self.expr(e)),
            SK::Break | SK::Continue => {}
        }
    }

    fn place(&mut self, p: &Place) {
        if let Place::Elem(ix, _) = p {
            self.expr(&ix.arr);
            self.expr(&ix.idx);
        }
    }

    fn expr(&mut self, e: &TExpr) {
        match &e.kind {
            TK::Static(s) => self.statics.push(*s),
            TK::Call(f, args) => {
                self.funcs.push(*f);
                args.iter().for_each(|a| self.expr(a));
            }
            TK::Spawn { func, args } => {
                self.funcs.push(*func);
                args.iter().flatten().for_each(|a| self.expr(a));
            }
            TK::Sandbox(sb) => {
                self.funcs.push(sb.func);
                sb.args.iter().for_each(|a| self.expr(a));
                for x in [&sb.gas, &sb.mem, &sb.fallback].into_iter().flatten() {
                    self.expr(x);
                }
            }
            TK::Word(_) | TK::Local(_) | TK::Error => {}
            TK::Unary(_, a)
            | TK::Not(a)
            | TK::Cast(a)
            | TK::Len(a)
            | TK::Address(a)
            | TK::Project(a, _) => self.expr(a),
            TK::Binary(_, a, b) | TK::And(a, b) | TK::Or(a, b) => {
                self.expr(a);
                self.expr(b);
            }
            TK::Cond(a, b, c) => {
                self.expr(a);
                self.expr(b);
                self.expr(c);
            }
            TK::Tuple(xs) | TK::Builtin(_, xs) | TK::ArrayLit { items: xs, .. } => {
                xs.iter().for_each(|x| self.expr(x))
            }
            TK::Index(ix) => {
                self.expr(&ix.arr);
                self.expr(&ix.idx);
            }
            TK::Slice { arr, lo, hi, .. } => {
                self.expr(arr);
                for x in [lo, hi].into_iter().flatten() {
                    self.expr(x);
                }
            }
            TK::New { count, .. } => self.expr(count),
        }
    }
}

/// Whether `body` writes local `l` (so a loop cannot keep reading it as a bound).
fn writes_local(body: &[TStmt], l: u32, recs: &Records) -> bool {
    let hits =
        |p: &Place| matches!(p, Place::Local(b, t) if *b <= l && l < *b + t.words(recs).max(1));
    body.iter().any(|s| match &s.kind {
        SK::Assign(ps, _) => ps.iter().any(hits),
        SK::Update(p, _, _) => hits(p),
        SK::If(arms, els) => {
            arms.iter().any(|(_, b)| writes_local(b, l, recs)) || writes_local(els, l, recs)
        }
        SK::While(_, b) | SK::Range { body: b, .. } | SK::Each { body: b, .. } => {
            writes_local(b, l, recs)
        }
        SK::Match { cases, default, .. } => {
            cases.iter().any(|(_, b)| writes_local(b, l, recs)) || writes_local(default, l, recs)
        }
        _ => false,
    })
}

/// Where an array's two words are.
#[derive(Clone, Copy)]
enum Arr {
    /// Locals `p` (pointer) and `p + 1` (length), or two temporaries.
    Locals(u32, u32),
    Static(u64, u64),
}

/// The index of a bounds check the lowering remembers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Idx {
    Local(u32),
    /// A constant: a passed check of `c` proves every smaller constant too.
    Const(u64),
    /// A local plus a constant (`a[i + 1]`): once `i += c` runs, a check of `i`.
    Plus(u32, u64),
}

/// A one-word operand that can be read more than once.
#[derive(Clone, Copy)]
enum Val {
    Local(u32),
    Const(u64),
}

struct Gen<'a> {
    ctx: &'a Ctx<'a>,
    asm: Asm,
    next_local: u32,
    free: Vec<u32>,
    /// (continue, break) labels of the enclosing loops.
    loops: Vec<(Label, Label)>,
    /// (array pointer local, index local) pairs whose bounds check already passed in
    /// the current straight-line code: forgotten at every label and when either local
    /// is written.
    checked: Vec<(u32, Idx)>,
    /// The pair the last `addr` checked, recorded once its access is emitted.
    pending: Option<(u32, Idx)>,
    /// Strength-reduced products of the enclosing loops: `var * factor` is in `local`.
    reduced: Vec<(u32, Val, u32)>,
    /// Accesses whose bounds a versioned loop checked before it started (§13.3): the
    /// copy of the loop being lowered leaves them unchecked.
    unchecked: Vec<*const Index>,
    /// Where failed bounds checks jump, with the access's span: blocks placed after the
    /// function's code that fault `out_of_bounds`.
    faults: Vec<(Label, Option<crate::Span>)>,
    /// Per enclosing loop, innermost last: whether it dispatches with `match`, where
    /// checks select a faulting address instead of branching (§13.3).
    dispatch: Vec<bool>,
}

impl Gen<'_> {
    fn recs(&self) -> &Records {
        &self.ctx.p.records
    }

    fn words(&self, t: &Type) -> u32 {
        t.words(self.recs())
    }

    fn e(&mut self, i: Instr) {
        self.asm.emit(i);
    }

    fn push(&mut self, v: u64) {
        self.e(Instr::Push(v));
    }

    fn get(&mut self, l: u32) {
        self.e(Instr::LocalGet(l));
    }

    fn set(&mut self, l: u32) {
        self.forget(l);
        self.e(Instr::LocalSet(l));
    }

    fn tee(&mut self, l: u32) {
        self.forget(l);
        self.e(Instr::LocalTee(l));
    }

    /// Local `l` changes: bounds checks involving it must be made again.
    fn forget(&mut self, l: u32) {
        self.checked.retain(|&(p, i)| {
            p != l && p + 1 != l && !matches!(i, Idx::Local(x) | Idx::Plus(x, _) if x == l)
        });
    }

    fn place(&mut self, l: Label) {
        self.checked.clear();
        self.asm.place(l);
    }

    fn temp(&mut self) -> u32 {
        if let Some(t) = self.free.pop() {
            return t;
        }
        let t = self.next_local;
        self.next_local = self.next_local.saturating_add(1);
        t
    }

    fn release(&mut self, t: u32) {
        self.free.push(t);
    }

    fn val(&mut self, v: Val) {
        match v {
            Val::Local(l) => self.get(l),
            Val::Const(c) => self.push(c),
        }
    }

    /// A one-word expression as an operand to read repeatedly; the second value says
    /// whether it is a temporary to release.
    fn operand(&mut self, e: &TExpr) -> (Val, bool) {
        match e.kind {
            TK::Word(v) => (Val::Const(v), false),
            TK::Local(l) => (Val::Local(l), false),
            _ => {
                self.expr(e);
                let t = self.temp();
                self.set(t);
                (Val::Local(t), true)
            }
        }
    }

    fn done(&mut self, v: (Val, bool)) {
        if let (Val::Local(t), true) = v {
            self.release(t);
        }
    }

    /// Evaluates `e` and stores its words in new temporaries (first word first).
    fn spill(&mut self, e: &TExpr) -> Vec<u32> {
        self.expr(e);
        let n = self.words(&e.ty);
        let ts: Vec<u32> = (0..n).map(|_| self.temp()).collect();
        for t in ts.iter().rev() {
            self.set(*t);
        }
        ts
    }

    fn release_all(&mut self, ts: &[u32]) {
        for t in ts.iter().rev() {
            self.release(*t);
        }
    }

    fn arr(&mut self, e: &TExpr) -> (Arr, Vec<u32>) {
        match e.kind {
            TK::Local(b) => (Arr::Locals(b, b + 1), vec![]),
            TK::Static(s) => {
                let a = self.ctx.addr[&s];
                (Arr::Static(a, self.ctx.p.statics[s as usize].len), vec![])
            }
            _ => {
                let ts = self.spill(e);
                (Arr::Locals(ts[0], ts[1]), ts)
            }
        }
    }

    fn arr_ptr(&mut self, a: Arr) {
        match a {
            Arr::Locals(p, _) => self.get(p),
            Arr::Static(p, _) => self.push(p),
        }
    }

    fn arr_len(&mut self, a: Arr) {
        match a {
            Arr::Locals(_, l) => self.get(l),
            Arr::Static(_, l) => self.push(l),
        }
    }

    /// Multiplies the top of the stack by `size` (a shift for powers of two).
    fn scale(&mut self, size: u64) {
        if size == 1 {
            return;
        }
        if size.is_power_of_two() {
            self.push(u64::from(size.trailing_zeros()));
            self.e(Instr::Shl);
        } else {
            self.push(size);
            self.e(Instr::Mul);
        }
    }

    /// Pushes the address of an element access; returns the offset for the load or
    /// store immediate. A failed bounds check yields `u64::MAX`, which faults.
    fn addr(&mut self, ix: &Index) -> u32 {
        self.pending = None;
        let (arr, ts) = self.arr(&ix.arr);
        let off = match arr {
            Arr::Static(base, _) => {
                let off = base + ix.offset;
                if let (Some(k), false) = (ix.idx.as_word(), ix.checked) {
                    self.push(off + k * ix.elem_size);
                    self.release_all(&ts);
                    return 0;
                }
                off
            }
            Arr::Locals(..) => ix.offset,
        };
        let (off, extra) = match u32::try_from(off) {
            Ok(o) => (o, None),
            Err(_) => (0, Some(off)),
        };
        let known = match (&ix.arr.kind, &ix.idx.kind) {
            (TK::Local(p), TK::Local(i)) => Some((*p, Idx::Local(*i))),
            (TK::Local(p), TK::Word(c)) => Some((*p, Idx::Const(*c))),
            (TK::Local(p), TK::Binary(Opcode::Add, x, y)) => match (&x.kind, &y.kind) {
                (TK::Local(i), TK::Word(c)) | (TK::Word(c), TK::Local(i)) => {
                    Some((*p, Idx::Plus(*i, *c)))
                }
                _ => None,
            },
            _ => None,
        };
        let proven = known.is_some_and(|(p, i)| {
            self.checked.iter().any(|&(q, j)| {
                q == p
                    && match (i, j) {
                        (Idx::Const(c), Idx::Const(d)) => c <= d,
                        (i, j) => i == j,
                    }
            })
        });
        let checked = ix.checked && !proven && !self.unchecked.contains(&std::ptr::from_ref(ix));
        self.pending = if checked { known } else { None };
        if !checked {
            self.elem_addr(arr, ix.elem_size, &mut |g| g.expr(&ix.idx));
        } else if self.dispatch.last().copied().unwrap_or(false) {
            // In a dispatch loop, whose blocks are small already: the address, or 2⁶⁴ − 1
            // (which faults) when the check fails, without a branch.
            let i = self.operand(&ix.idx);
            self.elem_addr(arr, ix.elem_size, &mut |g| g.val(i.0));
            self.push(BAD);
            self.val(i.0);
            self.arr_len(arr);
            self.e(Instr::LtU);
            self.e(Instr::Select);
            self.done(i);
        } else {
            // The check first, branching out of line when it fails, then the address:
            // the load's address does not wait for the comparison.
            let i = self.operand(&ix.idx);
            self.val(i.0);
            self.arr_len(arr);
            self.e(Instr::LtU);
            let fault = self.asm.label();
            self.asm.ins(Ins::Jz(fault));
            let span = self.asm.span();
            self.faults.push((fault, span));
            self.elem_addr(arr, ix.elem_size, &mut |g| g.val(i.0));
            self.done(i);
        }
        if let Some(x) = extra {
            self.push(x);
            self.e(Instr::Add);
        }
        self.release_all(&ts);
        off
    }

    /// Pushes the address of an element: the array's pointer plus the index (which `idx`
    /// pushes) times `size`.
    fn elem_addr(&mut self, arr: Arr, size: u64, idx: &mut dyn FnMut(&mut Self)) {
        match arr {
            Arr::Locals(p, _) => {
                self.get(p);
                idx(self);
                self.scale(size);
                self.e(Instr::Add);
            }
            Arr::Static(..) => {
                idx(self);
                self.scale(size);
            }
        }
    }

    fn load_word(&mut self, byte: bool, off: u32) {
        self.e(if byte {
            Instr::Load8U(off)
        } else {
            Instr::Load64(off)
        });
        self.accessed();
    }

    fn store_word(&mut self, byte: bool, off: u32) {
        self.e(if byte {
            Instr::Store8(off)
        } else {
            Instr::Store64(off)
        });
        self.accessed();
    }

    /// The access whose address `addr` checked has run: the check need not be repeated.
    fn accessed(&mut self) {
        if let Some(k) = self.pending.take() {
            self.checked.push(k);
        }
    }

    fn expr(&mut self, e: &TExpr) {
        let prev = self.asm.at(e.span);
        self.expr_inner(e);
        self.asm.restore(prev);
    }

    fn expr_inner(&mut self, e: &TExpr) {
        match &e.kind {
            TK::Word(v) => self.push(*v),
            TK::Static(s) => {
                let a = self.ctx.addr[s];
                self.push(a);
                self.push(self.ctx.p.statics[*s as usize].len);
            }
            TK::Local(b) => {
                for k in 0..self.words(&e.ty) {
                    self.get(b + k);
                }
            }
            TK::Unary(op, x) => {
                self.expr(x);
                self.e(Instr::from_parts(*op, 0));
            }
            TK::Binary(op, a, b) => {
                if *op == Opcode::Mul {
                    if let Some(l) = self.reduced_product(a, b) {
                        self.get(l);
                        return;
                    }
                }
                self.expr(a);
                self.expr(b);
                self.e(Instr::from_parts(*op, 0));
            }
            TK::Not(x) => {
                self.expr(x);
                self.e(Instr::Eqz);
            }
            TK::And(a, b) | TK::Or(a, b) if b.is_pure() && self.ctx.optimize => {
                self.expr(a);
                self.expr(b);
                self.e(if matches!(e.kind, TK::And(..)) {
                    Instr::And
                } else {
                    Instr::Or
                });
            }
            TK::And(..) | TK::Or(..) => {
                let f = self.asm.label();
                let end = self.asm.label();
                self.branch(e, false, f);
                self.push(1);
                self.asm.ins(Ins::Jmp(end));
                self.place(f);
                self.push(0);
                self.place(end);
            }
            TK::Cond(c, a, b) => {
                if self.ctx.optimize && a.is_pure() && b.is_pure() && self.words(&e.ty) == 1 {
                    self.expr(a);
                    self.expr(b);
                    self.expr(c);
                    self.e(Instr::Select);
                } else {
                    let f = self.asm.label();
                    let end = self.asm.label();
                    self.branch(c, false, f);
                    self.expr(a);
                    self.asm.ins(Ins::Jmp(end));
                    self.place(f);
                    self.expr(b);
                    self.place(end);
                }
            }
            TK::Call(f, args) => {
                for a in args {
                    self.expr(a);
                }
                let idx = self.ctx.index[f];
                self.e(Instr::Call(idx));
            }
            TK::Tuple(items) => {
                for i in items {
                    self.expr(i);
                }
            }
            TK::Project(base, off) => {
                let n = self.words(&base.ty);
                let w = self.words(&e.ty);
                self.expr(base);
                let above = n - off - w;
                for _ in 0..above {
                    self.e(Instr::Drop);
                }
                if *off > 0 {
                    let ts: Vec<u32> = (0..w).map(|_| self.temp()).collect();
                    for t in ts.iter().rev() {
                        self.set(*t);
                    }
                    for _ in 0..*off {
                        self.e(Instr::Drop);
                    }
                    for t in &ts {
                        self.get(*t);
                    }
                    self.release_all(&ts);
                }
            }
            TK::Address(a) => match a.kind {
                TK::Local(b) => self.get(b),
                TK::Static(s) => self.push(self.ctx.addr[&s]),
                _ => {
                    self.expr(a);
                    self.e(Instr::Drop);
                }
            },
            TK::Len(a) => match a.kind {
                TK::Local(b) => self.get(b + 1),
                TK::Static(s) => self.push(self.ctx.p.statics[s as usize].len),
                _ => {
                    self.expr(a);
                    self.e(Instr::Swap);
                    self.e(Instr::Drop);
                }
            },
            TK::Index(ix) => {
                let w = self.words(&e.ty);
                let off = self.addr(ix);
                if w == 1 {
                    self.load_word(ix.byte, off);
                } else {
                    let t = self.temp();
                    self.set(t);
                    for k in 0..w {
                        self.get(t);
                        self.e(Instr::Load64(off + 8 * k));
                    }
                    self.release(t);
                }
            }
            TK::Slice {
                arr,
                lo,
                hi,
                elem_size,
            } => {
                let (a, ts) = self.arr(arr);
                let lo = match lo {
                    Some(x) => self.operand(x),
                    None => (Val::Const(0), false),
                };
                let hi = match hi {
                    Some(x) => self.operand(x),
                    None => {
                        let t = self.temp();
                        self.arr_len(a);
                        self.set(t);
                        (Val::Local(t), true)
                    }
                };
                // lo <= hi <= len, else fault out_of_bounds.
                let ok = self.asm.label();
                self.val(lo.0);
                self.val(hi.0);
                self.e(Instr::LeU);
                self.val(hi.0);
                self.arr_len(a);
                self.e(Instr::LeU);
                self.e(Instr::And);
                self.asm.ins(Ins::Jnz(ok));
                self.push(BAD);
                self.e(Instr::Load8U(0));
                self.e(Instr::Drop);
                self.place(ok);
                self.arr_ptr(a);
                self.val(lo.0);
                self.scale(*elem_size);
                self.e(Instr::Add);
                self.val(hi.0);
                self.val(lo.0);
                self.e(Instr::Sub);
                self.done(hi);
                self.done(lo);
                self.release_all(&ts);
            }
            TK::New { count, elem_size } => {
                let n = self.operand(count);
                self.grow_bytes(n.0, *elem_size);
                self.val(n.0);
                self.done(n);
            }
            TK::ArrayLit { items, elem_size } => {
                let n = items.len() as u64;
                self.push(n * elem_size);
                self.e(Instr::MemGrow);
                let p = self.temp();
                self.set(p);
                for (k, it) in items.iter().enumerate() {
                    let base = k as u64 * elem_size;
                    self.store_value_at(p, base, it, *elem_size == 1);
                }
                self.get(p);
                self.push(n);
                self.release(p);
            }
            TK::Builtin(b, args) => self.builtin(*b, args),
            TK::Spawn { func, args } => {
                let c = self.spawn(*func, args.as_deref());
                self.get(c);
                self.release(c);
            }
            TK::Sandbox(sb) => self.sandbox(sb, true),
            TK::Cast(x) => self.expr(x),
            TK::Error => unreachable!("checked programs have no errors"),
        }
    }

    /// `mem.grow` of `n * size` bytes; pushes the address. A length whose byte count
    /// would pass `u64::MAX / size` grows by `u64::MAX`, which faults `memory_cap`.
    fn grow_bytes(&mut self, n: Val, size: u64) {
        self.val(n);
        if size != 1 {
            self.scale(size);
            self.push(BAD);
            self.val(n);
            self.push(rarvm_runtime::limits::MAX_MEMORY / size);
            self.e(Instr::LeU);
            self.e(Instr::Select);
        }
        self.e(Instr::MemGrow);
    }

    /// Stores the value of `it` at `[p] + base` (its words at consecutive words).
    fn store_value_at(&mut self, p: u32, base: u64, it: &TExpr, byte: bool) {
        let w = self.words(&it.ty);
        let off = u32::try_from(base).unwrap_or(u32::MAX);
        if w == 1 {
            self.get(p);
            self.expr(it);
            self.store_word(byte, off);
        } else {
            let ts = self.spill(it);
            for (k, t) in ts.iter().enumerate() {
                self.get(p);
                self.get(*t);
                self.e(Instr::Store64(off + 8 * k as u32));
            }
            self.release_all(&ts);
        }
    }

    /// Pushes `arr`'s length in bytes.
    fn byte_len(&mut self, a: Arr, elem_size: u64) {
        self.arr_len(a);
        self.scale(elem_size);
    }

    fn elem_size_of(&self, t: &Type) -> u64 {
        match t {
            Type::Array(e) => e.elem_size(self.recs()),
            _ => 1,
        }
    }

    fn builtin(&mut self, b: Builtin, args: &[TExpr]) {
        match b {
            Builtin::Op(op) => {
                for a in args {
                    self.expr(a);
                }
                self.e(Instr::from_parts(op, 0));
            }
            Builtin::Info(field) => {
                self.expr(&args[0]);
                self.e(Instr::ChildInfo(field as u8));
            }
            Builtin::Min(s) | Builtin::Max(s) => {
                let a = self.operand(&args[0]);
                let bv = self.operand(&args[1]);
                self.val(a.0);
                self.val(bv.0);
                self.val(a.0);
                self.val(bv.0);
                let op = match (b, s) {
                    (Builtin::Min(_), false) => Instr::LtU,
                    (Builtin::Min(_), true) => Instr::LtS,
                    (_, false) => Instr::GtU,
                    (_, true) => Instr::GtS,
                };
                self.e(op);
                self.e(Instr::Select);
                self.done(bv);
                self.done(a);
            }
            Builtin::InvokeNoBuf => {
                for a in args {
                    self.expr(a);
                }
                self.push(0);
                self.push(0);
                self.e(Instr::KeyInvoke);
            }
            Builtin::Invoke => {
                for a in &args[..3] {
                    self.expr(a);
                }
                let size = self.elem_size_of(&args[3].ty);
                self.expr(&args[3]);
                self.scale(size);
                self.e(Instr::KeyInvoke);
            }
            Builtin::AttenuateNoPath => {
                for a in args {
                    self.expr(a);
                }
                self.push(0);
                self.push(0);
                self.e(Instr::KeyAttenuate);
            }
            Builtin::Attenuate => {
                for a in args {
                    self.expr(a);
                }
                self.e(Instr::KeyAttenuate);
            }
            Builtin::ChildWrite => {
                for a in args {
                    self.expr(a);
                }
                self.e(Instr::ChildWrite);
            }
            Builtin::ChildRead => {
                self.expr(&args[0]);
                let (a, ts) = self.arr(&args[1]);
                self.arr_ptr(a);
                self.expr(&args[2]);
                self.arr_len(a);
                self.e(Instr::ChildRead);
                self.release_all(&ts);
            }
            Builtin::ChildSave => {
                self.expr(&args[0]);
                self.expr(&args[1]);
                self.e(Instr::ChildSave);
            }
            Builtin::SpawnBytes | Builtin::Load => {
                self.expr(&args[0]);
                self.e(if b == Builtin::Load {
                    Instr::ChildLoad
                } else {
                    Instr::SpawnBytes
                });
            }
            Builtin::Copy => {
                let size = self.elem_size_of(&args[0].ty);
                let (d, dt) = self.arr(&args[0]);
                let (s, st) = self.arr(&args[1]);
                self.arr_ptr(d);
                self.push(BAD);
                self.arr_len(s);
                self.arr_len(d);
                self.e(Instr::LeU);
                self.e(Instr::Select);
                self.arr_ptr(s);
                self.byte_len(s, size);
                self.e(Instr::MemCopy);
                self.release_all(&st);
                self.release_all(&dt);
            }
            Builtin::Fill => {
                let (d, dt) = self.arr(&args[0]);
                self.arr_ptr(d);
                self.expr(&args[1]);
                self.arr_len(d);
                self.e(Instr::MemFill);
                self.release_all(&dt);
            }
            Builtin::Halt => self.e(Instr::Halt),
            Builtin::Trap => self.e(Instr::Trap),
        }
    }

    /// Spawns a child of `func` and feeds it `args`; returns the temporary holding its
    /// slot (the caller releases it).
    fn spawn(&mut self, func: FuncId, args: Option<&[TExpr]>) -> u32 {
        let idx = self.ctx.index[&func];
        self.e(Instr::Spawn(idx));
        let c = self.temp();
        self.set(c);
        for a in args.unwrap_or(&[]) {
            self.child_arg(c, a);
        }
        c
    }

    /// Pushes one argument onto child `c`'s port: a key is given to it, an array is
    /// copied into its memory, everything else is pushed word by word.
    fn child_arg(&mut self, c: u32, a: &TExpr) {
        let prev = self.asm.at(a.span);
        match &a.ty {
            Type::Key => {
                self.get(c);
                self.expr(a);
                self.get(c);
                self.e(Instr::KeyGive);
                self.e(Instr::ChildPush);
            }
            Type::Array(elem) => {
                let size = elem.elem_size(self.recs());
                let (arr, ts) = self.arr(a);
                let nb = self.temp();
                self.byte_len(arr, size);
                self.set(nb);
                let d = self.temp();
                self.get(c);
                self.get(nb);
                self.e(Instr::ChildGrow);
                self.set(d);
                self.get(c);
                self.get(d);
                self.arr_ptr(arr);
                self.get(nb);
                self.e(Instr::ChildWrite);
                self.get(c);
                self.get(d);
                self.e(Instr::ChildPush);
                self.get(c);
                self.arr_len(arr);
                self.e(Instr::ChildPush);
                self.release(d);
                self.release(nb);
                self.release_all(&ts);
            }
            t if self.words(t) == 1 => {
                self.get(c);
                self.expr(a);
                self.e(Instr::ChildPush);
            }
            _ => {
                let ts = self.spill(a);
                for t in &ts {
                    self.get(c);
                    self.get(*t);
                    self.e(Instr::ChildPush);
                }
                self.release_all(&ts);
            }
        }
        self.asm.restore(prev);
    }

    /// A sandbox call. With `value`, pushes its value (the results or fallback, or the
    /// outcome); without, leaves nothing.
    fn sandbox(&mut self, sb: &Sandbox, value: bool) {
        let c = self.spawn(sb.func, Some(&sb.args));
        self.get(c);
        match &sb.gas {
            Some(g) => self.expr(g),
            None => self.push(u64::MAX),
        }
        match &sb.mem {
            Some(m) => self.expr(m),
            None => self.push(u64::MAX),
        }
        self.e(Instr::Recurse);
        let n = self.words(&sb.results);
        if !value {
            self.e(Instr::Drop);
            self.get(c);
            self.e(Instr::KeyDrop);
            self.release(c);
            return;
        }
        match &sb.fallback {
            Some(fb) => {
                let fail = self.asm.label();
                let end = self.asm.label();
                self.push(RETURNED);
                self.e(Instr::Eq);
                self.asm.ins(Ins::Jz(fail));
                self.pop_results(c, n);
                self.get(c);
                self.e(Instr::KeyDrop);
                self.asm.ins(Ins::Jmp(end));
                self.place(fail);
                self.get(c);
                self.e(Instr::KeyDrop);
                self.expr(fb);
                self.place(end);
            }
            None => {
                let st = self.temp();
                self.set(st);
                let hdr: Vec<u32> = (0..OUTCOME_HEADER - 1).map(|_| self.temp()).collect();
                for (t, f) in hdr.iter().zip([Field::Fault, Field::GasUsed]) {
                    self.get(c);
                    self.e(Instr::ChildInfo(f as u8));
                    self.set(*t);
                }
                let res: Vec<u32> = (0..n).map(|_| self.temp()).collect();
                if n > 0 {
                    let zero = self.asm.label();
                    let end = self.asm.label();
                    self.get(st);
                    self.push(RETURNED);
                    self.e(Instr::Eq);
                    self.asm.ins(Ins::Jz(zero));
                    for t in res.iter().rev() {
                        self.get(c);
                        self.e(Instr::ChildPop);
                        self.set(*t);
                    }
                    self.asm.ins(Ins::Jmp(end));
                    self.place(zero);
                    for t in &res {
                        self.push(0);
                        self.set(*t);
                    }
                    self.place(end);
                }
                self.get(c);
                self.e(Instr::KeyDrop);
                self.get(st);
                for t in hdr.iter().chain(&res) {
                    self.get(*t);
                }
                self.release_all(&res);
                self.release_all(&hdr);
                self.release(st);
            }
        }
        self.release(c);
    }

    /// Pops `n` result words of child `c` onto the stack, first result first.
    fn pop_results(&mut self, c: u32, n: u32) {
        if n == 1 {
            self.get(c);
            self.e(Instr::ChildPop);
            return;
        }
        let ts: Vec<u32> = (0..n).map(|_| self.temp()).collect();
        for t in ts.iter().rev() {
            self.get(c);
            self.e(Instr::ChildPop);
            self.set(*t);
        }
        for t in &ts {
            self.get(*t);
        }
        self.release_all(&ts);
    }

    /// Jumps to `target` when `e` (a bool) is `when`.
    fn branch(&mut self, e: &TExpr, when: bool, target: Label) {
        let prev = self.asm.at(e.span);
        match &e.kind {
            TK::Word(v) => {
                if (*v != 0) == when {
                    self.asm.ins(Ins::Jmp(target));
                }
            }
            TK::Not(x) => self.branch(x, !when, target),
            TK::And(a, b) => {
                if when {
                    let skip = self.asm.label();
                    self.branch(a, false, skip);
                    self.branch(b, true, target);
                    self.place(skip);
                } else {
                    self.branch(a, false, target);
                    self.branch(b, false, target);
                }
            }
            TK::Or(a, b) => {
                if when {
                    self.branch(a, true, target);
                    self.branch(b, true, target);
                } else {
                    let skip = self.asm.label();
                    self.branch(a, true, skip);
                    self.branch(b, false, target);
                    self.place(skip);
                }
            }
            TK::Binary(op @ (Opcode::Eq | Opcode::Ne), x, z)
                if z.as_word() == Some(0) && self.ctx.optimize =>
            {
                self.expr(x);
                let jump_if_nonzero = (*op == Opcode::Ne) == when;
                self.asm.ins(if jump_if_nonzero {
                    Ins::Jnz(target)
                } else {
                    Ins::Jz(target)
                });
            }
            _ => {
                self.expr(e);
                self.asm.ins(if when {
                    Ins::Jnz(target)
                } else {
                    Ins::Jz(target)
                });
            }
        }
        self.asm.restore(prev);
    }

    /// Stores the value on top of the stack (all its words) into `p`.
    fn store_place(&mut self, p: &Place) {
        match p {
            Place::Local(b, t) => {
                let n = self.words(t);
                for k in (0..n).rev() {
                    self.set(b + k);
                }
            }
            Place::Discard(t) => {
                for _ in 0..self.words(t) {
                    self.e(Instr::Drop);
                }
            }
            Place::Elem(ix, t) => {
                let w = self.words(t);
                let vs: Vec<u32> = (0..w).map(|_| self.temp()).collect();
                for v in vs.iter().rev() {
                    self.set(*v);
                }
                let off = self.addr(ix);
                if w == 1 {
                    self.get(vs[0]);
                    self.store_word(ix.byte, off);
                } else {
                    let a = self.temp();
                    self.set(a);
                    for (k, v) in vs.iter().enumerate() {
                        self.get(a);
                        self.get(*v);
                        self.e(Instr::Store64(off + 8 * k as u32));
                    }
                    self.release(a);
                }
                self.release_all(&vs);
            }
        }
    }

    fn stmt(&mut self, s: &TStmt) {
        let prev = self.asm.at(s.span);
        self.stmt_inner(s);
        self.asm.restore(prev);
    }

    fn body(&mut self, b: &[TStmt]) {
        for s in b {
            self.stmt(s);
        }
    }

    fn stmt_inner(&mut self, s: &TStmt) {
        match &s.kind {
            SK::Expr(e) => {
                if let TK::Sandbox(sb) = &e.kind {
                    self.sandbox(sb, false);
                    return;
                }
                self.expr(e);
                for _ in 0..self.words(&e.ty) {
                    self.e(Instr::Drop);
                }
            }
            SK::Assign(places, v) => {
                // `a[i] = v`: the address first, then the value, then the store(s).
                if let [Place::Elem(ix, t)] = places.as_slice() {
                    let w = self.words(t);
                    let off = self.addr(ix);
                    if w == 1 {
                        self.expr(v);
                        self.store_word(ix.byte, off);
                        return;
                    }
                    let a = self.temp();
                    self.set(a);
                    let vs = self.spill(v);
                    for (k, t) in vs.iter().enumerate() {
                        self.get(a);
                        self.get(*t);
                        self.e(Instr::Store64(off + 8 * k as u32));
                    }
                    self.release_all(&vs);
                    self.release(a);
                    return;
                }
                // `x = y`: the checks that passed for `y` hold for `x`.
                let copied: Vec<(u32, Idx)> = match (places.as_slice(), &v.kind) {
                    ([Place::Local(x, t)], TK::Local(y)) if self.words(t) == 1 && x != y => self
                        .checked
                        .iter()
                        .filter(|&&(_, i)| i == Idx::Local(*y))
                        .map(|&(a, _)| (a, Idx::Local(*x)))
                        .collect(),
                    _ => vec![],
                };
                self.expr(v);
                for p in places.iter().rev() {
                    self.store_place(p);
                }
                self.checked.extend(copied);
            }
            SK::Update(p, op, v) => match p {
                Place::Local(b, _) => {
                    // `i += c` after a passed check of `a[i + c]`: `a[i]` is checked.
                    let moved: Vec<(u32, Idx)> = match (op, v.as_word()) {
                        (Opcode::Add, Some(c)) => self
                            .checked
                            .iter()
                            .filter(|&&(_, i)| i == Idx::Plus(*b, c))
                            .map(|&(a, _)| (a, Idx::Local(*b)))
                            .collect(),
                        _ => vec![],
                    };
                    self.get(*b);
                    self.expr(v);
                    self.e(Instr::from_parts(*op, 0));
                    self.set(*b);
                    self.checked.extend(moved);
                }
                Place::Elem(ix, _) => {
                    let off = self.addr(ix);
                    self.e(Instr::Dup);
                    self.load_word(ix.byte, off);
                    self.expr(v);
                    self.e(Instr::from_parts(*op, 0));
                    self.store_word(ix.byte, off);
                }
                Place::Discard(_) => {}
            },
            SK::If(arms, els) => {
                // Bounds checks known to hold where control joins: those that hold on
                // every edge into the label (a condition does not write variables).
                let end = self.asm.label();
                let mut incoming: Vec<Vec<(u32, Idx)>> = Vec::new();
                for (c, b) in arms {
                    let next = self.asm.label();
                    let before = self.checked.clone();
                    self.branch(c, false, next);
                    self.body(b);
                    if self.asm.reachable() {
                        incoming.push(self.checked.clone());
                        self.asm.ins(Ins::Jmp(end));
                    }
                    self.place(next);
                    self.checked = before;
                }
                self.body(els);
                if self.asm.reachable() {
                    incoming.push(self.checked.clone());
                }
                self.place(end);
                if let Some((first, rest)) = incoming.split_first() {
                    self.checked = first
                        .iter()
                        .filter(|k| rest.iter().all(|r| r.contains(k)))
                        .copied()
                        .collect();
                }
            }
            SK::While(c, b) => {
                self.dispatch.push(has_match(b));
                let top = self.asm.label();
                let cont = self.asm.label();
                let end = self.asm.label();
                let forever = c.as_word().is_some_and(|v| v != 0);
                if forever {
                    self.forever(b, top, cont, end);
                } else if size(c) <= 24 || !self.ctx.optimize {
                    // Rotated: test once before, then at the bottom of each iteration.
                    self.branch(c, false, end);
                    self.place(top);
                    self.loops.push((cont, end));
                    self.body(b);
                    self.loops.pop();
                    self.place(cont);
                    self.branch(c, true, top);
                } else {
                    self.place(top);
                    self.place(cont);
                    self.branch(c, false, end);
                    self.loops.push((cont, end));
                    self.body(b);
                    self.loops.pop();
                    self.asm.ins(Ins::Jmp(top));
                }
                self.place(end);
                self.dispatch.pop();
            }
            SK::Range {
                var,
                signed,
                start,
                stop,
                step,
                body,
            } => {
                self.dispatch.push(has_match(body));
                self.range(*var, *signed, start, stop, step, body);
                self.dispatch.pop();
            }
            SK::Each {
                var,
                elem,
                arr,
                elem_size,
                body,
            } => {
                let (a, ts) = self.arr(arr);
                let q = self.temp();
                let end_ptr = self.temp();
                self.arr_ptr(a);
                self.tee(q);
                self.byte_len(a, *elem_size);
                self.e(Instr::Add);
                self.set(end_ptr);
                self.release_all(&ts);
                let top = self.asm.label();
                let cont = self.asm.label();
                let end = self.asm.label();
                self.get(q);
                self.get(end_ptr);
                self.e(Instr::LtU);
                self.asm.ins(Ins::Jz(end));
                self.place(top);
                let w = self.words(elem);
                if *elem == Type::U8 {
                    self.get(q);
                    self.e(Instr::Load8U(0));
                    self.set(*var);
                } else {
                    for k in 0..w {
                        self.get(q);
                        self.e(Instr::Load64(8 * k));
                        self.set(var + k);
                    }
                }
                self.loops.push((cont, end));
                self.body(body);
                self.loops.pop();
                self.place(cont);
                self.get(q);
                self.push(*elem_size);
                self.e(Instr::Add);
                self.tee(q);
                self.get(end_ptr);
                self.e(Instr::LtU);
                self.asm.ins(Ins::Jnz(top));
                self.place(end);
                self.release(end_ptr);
                self.release(q);
            }
            SK::Match {
                scrutinee,
                cases,
                default,
            } => self.match_stmt(scrutinee, cases, default),
            SK::Return(v) => {
                self.expr(v);
                self.e(Instr::Ret);
            }
            SK::Yield(vs) => {
                for v in vs {
                    self.expr(v);
                    self.e(Instr::Out);
                }
                self.e(Instr::Yield);
            }
            SK::Break => {
                if let Some(&(_, end)) = self.loops.last() {
                    self.asm.ins(Ins::Jmp(end));
                }
            }
            SK::Continue => {
                if let Some(&(cont, _)) = self.loops.last() {
                    self.asm.ins(Ins::Jmp(cont));
                }
            }
            SK::Assert(c) => {
                let ok = self.asm.label();
                self.branch(c, true, ok);
                self.e(Instr::Trap);
                self.place(ok);
            }
        }
    }

    fn range(
        &mut self,
        var: u32,
        signed: bool,
        start: &TExpr,
        stop: &TExpr,
        step: &Step,
        body: &[TStmt],
    ) {
        let recs = &self.ctx.p.records;
        let (lt, gt) = if signed {
            (Instr::LtS, Instr::GtS)
        } else {
            (Instr::LtU, Instr::GtU)
        };
        self.expr(start);
        self.set(var);
        // The bound: read in place when nothing in the body can change it.
        let stop_v = match stop.kind {
            TK::Word(v) => (Val::Const(v), false),
            TK::Local(l) if !writes_local(body, l, recs) => (Val::Local(l), false),
            TK::Len(ref a) if matches!(a.kind, TK::Local(l) if !writes_local(body, l, recs)) => {
                let TK::Local(l) = a.kind else {
                    unreachable!("matched")
                };
                (Val::Local(l + 1), false)
            }
            _ => {
                self.expr(stop);
                let t = self.temp();
                self.set(t);
                (Val::Local(t), true)
            }
        };
        let s = stop_v.0;
        let top = self.asm.label();
        let cont = self.asm.label();
        let end = self.asm.label();
        match step {
            Step::Const(k, up) => {
                let hoisted = if *k == 1 && *up && !signed && self.ctx.optimize {
                    self.hoistable(var, body)
                } else {
                    vec![]
                };
                if hoisted.is_empty() {
                    self.const_loop(var, s, *k, *up, (lt, gt), body, end);
                } else {
                    // Versioned: one check per access for the last iteration, then the
                    // loop without those checks; if any fails, the loop as written.
                    let slow = self.asm.label();
                    self.precheck(&hoisted, s, slow);
                    let outer = self.unchecked.len();
                    self.unchecked
                        .extend(hoisted.iter().map(|h| std::ptr::from_ref(h.ix)));
                    self.const_loop(var, s, *k, *up, (lt, gt), body, end);
                    self.unchecked.truncate(outer);
                    self.asm.ins(Ins::Jmp(end));
                    self.place(slow);
                    self.const_loop(var, s, *k, *up, (lt, gt), body, end);
                }
            }
            Step::Var(x) => {
                let k = match x.kind {
                    TK::Local(l) if !writes_local(body, l, recs) => (Val::Local(l), false),
                    _ => {
                        self.expr(x);
                        let t = self.temp();
                        self.set(t);
                        (Val::Local(t), true)
                    }
                };
                // A zero step faults `trap`.
                let ok = self.asm.label();
                self.val(k.0);
                self.asm.ins(Ins::Jnz(ok));
                self.e(Instr::Trap);
                self.place(ok);
                if signed {
                    // down = step < 0; mag = |step|
                    let down = self.temp();
                    let mag = self.temp();
                    self.val(k.0);
                    self.push(0);
                    self.e(Instr::LtS);
                    self.set(down);
                    self.val(k.0);
                    self.e(Instr::Neg);
                    self.val(k.0);
                    self.get(down);
                    self.e(Instr::Select);
                    self.set(mag);
                    self.get(var);
                    self.val(s);
                    self.e(Instr::GtS);
                    self.get(var);
                    self.val(s);
                    self.e(Instr::LtS);
                    self.get(down);
                    self.e(Instr::Select);
                    self.asm.ins(Ins::Jz(end));
                    self.place(top);
                    self.loops.push((cont, end));
                    self.body(body);
                    self.loops.pop();
                    self.place(cont);
                    self.get(var);
                    self.val(s);
                    self.e(Instr::Sub);
                    self.val(s);
                    self.get(var);
                    self.e(Instr::Sub);
                    self.get(down);
                    self.e(Instr::Select);
                    self.get(mag);
                    self.e(Instr::GtU);
                    self.get(var);
                    self.val(k.0);
                    self.e(Instr::Add);
                    self.set(var);
                    self.asm.ins(Ins::Jnz(top));
                    self.release(mag);
                    self.release(down);
                } else {
                    let lim = self.limit(s, k.0);
                    self.get(var);
                    self.val(s);
                    self.e(lt);
                    self.asm.ins(Ins::Jz(end));
                    self.place(top);
                    self.loops.push((cont, end));
                    self.body(body);
                    self.loops.pop();
                    self.place(cont);
                    self.step_up(var, lim, k.0);
                    self.asm.ins(Ins::Jnz(top));
                    self.done(lim);
                }
                self.done(k);
            }
        }
        self.place(end);
        self.done(stop_v);
    }

    /// The blocks failed bounds checks jump to: each an access of address 2⁶⁴ − 1, which
    /// faults `out_of_bounds` at the span of the access that failed.
    fn fault_blocks(&mut self) {
        for (label, span) in std::mem::take(&mut self.faults) {
            let before = span.map(|s| self.asm.at(s));
            self.place(label);
            self.push(BAD);
            self.e(Instr::Load8U(0));
            self.e(Instr::Trap);
            if let Some(prev) = before {
                self.asm.restore(prev);
            }
        }
    }

    /// `while True: body`. The bounds checks known to hold on entry are assumed at the
    /// top too, if they still hold at the bottom (the only other way in: a body without
    /// `continue`); otherwise the body is lowered again assuming only those that held,
    /// and after three tries, none (§13.3).
    fn forever(&mut self, b: &[TStmt], top: Label, cont: Label, end: Label) {
        let mut assumed = if self.ctx.optimize && !has_continue(b) {
            self.checked.clone()
        } else {
            vec![]
        };
        let (code, next_local, free) = (self.asm.code.len(), self.next_local, self.free.clone());
        let (reduced, unchecked) = (self.reduced.len(), self.unchecked.len());
        let mut tries = 0;
        loop {
            self.place(top);
            self.place(cont);
            self.checked = assumed.clone();
            self.loops.push((cont, end));
            self.body(b);
            self.loops.pop();
            let back = self.asm.reachable().then(|| self.checked.clone());
            self.asm.ins(Ins::Jmp(top));
            let Some(back) = back.filter(|bk| !assumed.iter().all(|f| bk.contains(f))) else {
                return;
            };
            tries += 1;
            if tries >= 3 {
                assumed.clear();
            } else {
                assumed.retain(|f| back.contains(f));
            }
            self.asm.code.truncate(code);
            self.next_local = next_local;
            self.free = free.clone();
            self.reduced.truncate(reduced);
            self.unchecked.truncate(unchecked);
            self.pending = None;
        }
    }

    /// The accesses of an innermost unit-step loop over `var` whose bounds can be checked
    /// once, before it (§13.3): on an array local the body does not write, at an index
    /// `c0 + c1 * var` whose `c0` and `c1` are constants or locals the body does not write
    /// (or sums and products of them). Empty for a loop that holds a loop, or too much
    /// code to copy.
    fn hoistable<'b>(&self, var: u32, body: &'b [TStmt]) -> Vec<Hoisted<'b>> {
        let recs = &self.ctx.p.records;
        if has_loop(body) || writes_local(body, var, recs) || body_size(body) > MAX_VERSIONED {
            return vec![];
        }
        let mut out: Vec<Hoisted<'b>> = Vec::new();
        visit_indexes(body, &mut |ix| {
            if !ix.checked || out.len() >= MAX_HOISTED {
                return;
            }
            let TK::Local(p) = ix.arr.kind else {
                return;
            };
            if writes_local(body, p, recs) {
                return;
            }
            let invariant = |e: &TExpr| invariant(e, var, body, recs);
            if let Some((c0, c1)) = affine(&ix.idx, var, &invariant) {
                out.push(Hoisted { ix, p, c0, c1 });
            }
        });
        out
    }

    /// Jumps to `slow` unless every access of `hoisted` is in bounds at the loop's last
    /// iteration, `stop - 1`: with `c0`, `c1` and `stop - 1` below 2³¹ (so nothing
    /// wraps) and `c0 + c1 * (stop - 1) < len`. An empty loop (`stop` 0) takes `slow`.
    fn precheck(&mut self, hoisted: &[Hoisted<'_>], stop: Val, slow: Label) {
        let last = self.temp();
        self.val(stop);
        self.push(1);
        self.e(Instr::Sub);
        self.set(last);
        for h in hoisted {
            let c0 = self.coefficient(h.c0, 0);
            let c1 = self.coefficient(h.c1, 1);
            self.val(c0.0);
            self.val(c1.0);
            self.e(Instr::Or);
            self.get(last);
            self.e(Instr::Or);
            self.push(31);
            self.e(Instr::ShrU);
            self.asm.ins(Ins::Jnz(slow));
            self.val(c0.0);
            self.val(c1.0);
            self.get(last);
            self.e(Instr::Mul);
            self.e(Instr::Add);
            self.get(h.p + 1);
            self.e(Instr::LtU);
            self.asm.ins(Ins::Jz(slow));
            self.done(c1);
            self.done(c0);
        }
        self.release(last);
    }

    /// A coefficient of an affine index as an operand: `default` when absent.
    fn coefficient(&mut self, c: Option<&TExpr>, default: u64) -> (Val, bool) {
        match c {
            Some(e) => self.operand(e),
            None => (Val::Const(default), false),
        }
    }

    /// A loop of constant step `k` from the variable's value while it is below (`up`) or
    /// above the bound `s`; falls through, or jumps to `end`, when done.
    #[allow(clippy::too_many_arguments)]
    fn const_loop(
        &mut self,
        var: u32,
        s: Val,
        k: u64,
        up: bool,
        (lt, gt): (Instr, Instr),
        body: &[TStmt],
        end: Label,
    ) {
        let signed = matches!(lt, Instr::LtS);
        let top = self.asm.label();
        let cont = self.asm.label();
        let lim = (k != 1 && up && !signed).then(|| self.limit(s, Val::Const(k)));
        // Strength reduction: `var * f` in the body becomes a local that steps
        // by `f` (only for unit steps, where that is one `add`).
        let factors = if k == 1 && self.ctx.optimize {
            self.reductions(var, body)
        } else {
            vec![]
        };
        let mut stepped = Vec::new();
        for f in factors {
            let d = self.temp();
            self.get(var);
            self.val(f);
            self.e(Instr::Mul);
            self.set(d);
            stepped.push((f, d));
        }
        let outer = self.reduced.len();
        self.reduced
            .extend(stepped.iter().map(|&(f, d)| (var, f, d)));
        self.get(var);
        self.val(s);
        self.e(if up { lt } else { gt });
        self.asm.ins(Ins::Jz(end));
        self.place(top);
        self.loops.push((cont, end));
        self.body(body);
        self.loops.pop();
        self.place(cont);
        self.reduced.truncate(outer);
        for &(f, d) in &stepped {
            self.get(d);
            self.val(f);
            self.e(if up { Instr::Add } else { Instr::Sub });
            self.set(d);
        }
        if k == 1 {
            self.get(var);
            self.push(1);
            self.e(if up { Instr::Add } else { Instr::Sub });
            self.tee(var);
            self.val(s);
            self.e(if up { lt } else { gt });
        } else if let Some(lim) = lim {
            self.step_up(var, lim, Val::Const(k));
            self.done(lim);
        } else {
            // Continue while the distance left exceeds the step (never wraps).
            if up {
                self.val(s);
                self.get(var);
            } else {
                self.get(var);
                self.val(s);
            }
            self.e(Instr::Sub);
            self.push(k);
            self.e(Instr::GtU);
            self.get(var);
            self.push(k);
            self.e(if up { Instr::Add } else { Instr::Sub });
            self.set(var);
        }
        self.asm.ins(Ins::Jnz(top));
        for (_, d) in stepped {
            self.release(d);
        }
    }

    /// The local holding `a * b` when a loop reduced that product.
    fn reduced_product(&self, a: &TExpr, b: &TExpr) -> Option<u32> {
        let factor = |e: &TExpr| match e.kind {
            TK::Local(l) => Some(Val::Local(l)),
            TK::Word(c) => Some(Val::Const(c)),
            _ => None,
        };
        self.reduced.iter().rev().find_map(|&(v, f, d)| {
            let same = |x: &TExpr, y: &TExpr| {
                matches!(x.kind, TK::Local(l) if l == v)
                    && match (factor(y), f) {
                        (Some(Val::Local(p)), Val::Local(q)) => p == q,
                        (Some(Val::Const(p)), Val::Const(q)) => p == q,
                        _ => false,
                    }
            };
            (same(a, b) || same(b, a)).then_some(d)
        })
    }

    /// Products `var * f` in `body` with `f` a constant or a variable the body does not
    /// write: each becomes a local stepped along with the loop.
    fn reductions(&self, var: u32, body: &[TStmt]) -> Vec<Val> {
        let mut found = Vec::new();
        let recs = &self.ctx.p.records;
        visit_exprs(body, &mut |e| {
            if let TK::Binary(Opcode::Mul, a, b) = &e.kind {
                for (x, y) in [(a, b), (b, a)] {
                    let f = match y.kind {
                        TK::Word(c) => Val::Const(c),
                        TK::Local(l) if l != var && !writes_local(body, l, recs) => Val::Local(l),
                        _ => continue,
                    };
                    let new = !found.iter().any(|g: &Val| match (g, &f) {
                        (Val::Local(p), Val::Local(q)) => p == q,
                        (Val::Const(p), Val::Const(q)) => p == q,
                        _ => false,
                    });
                    if matches!(x.kind, TK::Local(l) if l == var) && new {
                        found.push(f);
                    }
                }
            }
        });
        found
    }

    /// `stop > step ? stop - step : 0`: the unsigned loop variable may take another
    /// step while it is below this (computed once, before the loop).
    fn limit(&mut self, stop: Val, step: Val) -> (Val, bool) {
        if let (Val::Const(s), Val::Const(k)) = (stop, step) {
            return (Val::Const(s.saturating_sub(k)), false);
        }
        self.val(stop);
        self.val(step);
        self.e(Instr::Sub);
        self.push(0);
        self.val(stop);
        self.val(step);
        self.e(Instr::GtU);
        self.e(Instr::Select);
        let t = self.temp();
        self.set(t);
        (Val::Local(t), true)
    }

    /// The bottom of an ascending unsigned loop: `var < lim`, then `var += step`, then
    /// back to the top if the test held.
    fn step_up(&mut self, var: u32, lim: (Val, bool), step: Val) {
        self.get(var);
        self.val(lim.0);
        self.e(Instr::LtU);
        self.get(var);
        self.val(step);
        self.e(Instr::Add);
        self.set(var);
    }

    fn match_stmt(
        &mut self,
        scrutinee: &TExpr,
        cases: &[(Vec<u64>, Vec<TStmt>)],
        default: &[TStmt],
    ) {
        let end = self.asm.label();
        let dflt = self.asm.label();
        let labels: Vec<Label> = cases.iter().map(|_| self.asm.label()).collect();
        let values: Vec<(u64, usize)> = cases
            .iter()
            .enumerate()
            .flat_map(|(i, (vs, _))| vs.iter().map(move |v| (*v, i)))
            .collect();
        let signed = scrutinee.ty.is_signed();
        let key = |v: u64| {
            if signed {
                (v as i64 as i128) as u64 ^ (1 << 63)
            } else {
                v
            }
        };
        let min = values.iter().map(|(v, _)| *v).min_by_key(|v| key(*v));
        let max = values.iter().map(|(v, _)| *v).max_by_key(|v| key(*v));
        let table = match (min, max) {
            (Some(lo), Some(hi)) => {
                let range = hi.wrapping_sub(lo).wrapping_add(1);
                (range != 0
                    && range <= MAX_TABLE
                    && (values.len() as u64 * 8 >= range || range <= 16))
                    .then_some((lo, range))
            }
            _ => None,
        };
        match table {
            Some((lo, range)) => {
                self.expr(scrutinee);
                if lo != 0 {
                    self.push(lo);
                    self.e(Instr::Sub);
                }
                let mut ts = vec![dflt; range as usize];
                for (v, i) in &values {
                    ts[v.wrapping_sub(lo) as usize] = labels[*i];
                }
                ts.push(dflt);
                self.asm.ins(Ins::Switch(ts));
            }
            None => {
                let v = self.operand(scrutinee);
                for (x, i) in &values {
                    self.val(v.0);
                    self.push(*x);
                    self.e(Instr::Eq);
                    self.asm.ins(Ins::Jnz(labels[*i]));
                }
                self.done(v);
                self.asm.ins(Ins::Jmp(dflt));
            }
        }
        for ((_, b), l) in cases.iter().zip(&labels) {
            self.place(*l);
            self.body(b);
            if self.asm.reachable() {
                self.asm.ins(Ins::Jmp(end));
            }
        }
        self.place(dflt);
        self.body(default);
        self.place(end);
    }
}

/// Calls `f` on every expression of `body`, nested ones included.
/// What [`visit`] finds: every expression, and every element a statement writes.
enum Visited<'b> {
    Expr(&'b TExpr),
    Stored(&'b Index),
}

/// Calls `f` on every expression of `body`, nested ones and those of nested statements
/// included.
fn visit_exprs<'b>(body: &'b [TStmt], f: &mut dyn FnMut(&'b TExpr)) {
    visit(body, &mut |v| {
        if let Visited::Expr(e) = v {
            f(e);
        }
    });
}

/// Calls `f` on every element access of `body`: read in expressions, or written.
fn visit_indexes<'b>(body: &'b [TStmt], f: &mut dyn FnMut(&'b Index)) {
    visit(body, &mut |v| match v {
        Visited::Expr(TExpr {
            kind: TK::Index(ix),
            ..
        }) => f(ix),
        Visited::Stored(ix) => f(ix),
        Visited::Expr(_) => {}
    });
}

fn visit<'b>(body: &'b [TStmt], f: &mut dyn FnMut(Visited<'b>)) {
    fn expr<'b>(e: &'b TExpr, f: &mut dyn FnMut(Visited<'b>)) {
        f(Visited::Expr(e));
        match &e.kind {
            TK::Unary(_, a)
            | TK::Not(a)
            | TK::Cast(a)
            | TK::Len(a)
            | TK::Address(a)
            | TK::Project(a, _) => expr(a, f),
            TK::Binary(_, a, b) | TK::And(a, b) | TK::Or(a, b) => {
                expr(a, f);
                expr(b, f);
            }
            TK::Cond(a, b, c) => {
                expr(a, f);
                expr(b, f);
                expr(c, f);
            }
            TK::Tuple(xs)
            | TK::Call(_, xs)
            | TK::Builtin(_, xs)
            | TK::ArrayLit { items: xs, .. } => xs.iter().for_each(|x| expr(x, f)),
            TK::Index(ix) => {
                expr(&ix.arr, f);
                expr(&ix.idx, f);
            }
            TK::Slice { arr, lo, hi, .. } => {
                expr(arr, f);
                for x in [lo, hi].into_iter().flatten() {
                    expr(x, f);
                }
            }
            TK::New { count, .. } => expr(count, f),
            TK::Spawn { args, .. } => args.iter().flatten().for_each(|x| expr(x, f)),
            TK::Sandbox(sb) => {
                sb.args.iter().for_each(|x| expr(x, f));
                for x in [&sb.gas, &sb.mem, &sb.fallback].into_iter().flatten() {
                    expr(x, f);
                }
            }
            TK::Word(_) | TK::Static(_) | TK::Local(_) | TK::Error => {}
        }
    }
    for s in body {
        match &s.kind {
            SK::Expr(e) | SK::Return(e) | SK::Assert(e) => expr(e, f),
            SK::Assign(ps, e) => {
                expr(e, f);
                for p in ps {
                    if let Place::Elem(ix, _) = p {
                        f(Visited::Stored(ix));
                        expr(&ix.arr, f);
                        expr(&ix.idx, f);
                    }
                }
            }
            SK::Update(p, _, e) => {
                expr(e, f);
                if let Place::Elem(ix, _) = p {
                    f(Visited::Stored(ix));
                    expr(&ix.arr, f);
                    expr(&ix.idx, f);
                }
            }
            SK::If(arms, els) => {
                for (c, b) in arms {
                    expr(c, f);
                    visit(b, f);
                }
                visit(els, f);
            }
            SK::While(c, b) => {
                expr(c, f);
                visit(b, f);
            }
            SK::Range {
                start,
                stop,
                step,
                body,
                ..
            } => {
                expr(start, f);
                expr(stop, f);
                if let Step::Var(x) = step {
                    expr(x, f);
                }
                visit(body, f);
            }
            SK::Each { arr, body, .. } => {
                expr(arr, f);
                visit(body, f);
            }
            SK::Match {
                scrutinee,
                cases,
                default,
            } => {
                expr(scrutinee, f);
                for (_, b) in cases {
                    visit(b, f);
                }
                visit(default, f);
            }
            SK::Yield(es) => es.iter().for_each(|e| expr(e, f)),
            _ => {}
        }
    }
}

/// Most code (by [`size`]) a versioned loop's body may have: it is lowered twice.
const MAX_VERSIONED: usize = 400;
/// Most accesses one versioned loop checks before it starts.
const MAX_HOISTED: usize = 8;

/// An access whose bounds a loop checks before it starts: `arr[c0 + c1 * var]`, the
/// array in locals `p` and `p + 1`; an absent `c0` is 0, an absent `c1` is 1.
struct Hoisted<'b> {
    ix: &'b Index,
    p: u32,
    c0: Option<&'b TExpr>,
    c1: Option<&'b TExpr>,
}

/// `e` as `c0 + c1 * var` with invariant `c0` and `c1` (absent: 0 and 1).
fn affine<'b>(
    e: &'b TExpr,
    var: u32,
    invariant: &dyn Fn(&TExpr) -> bool,
) -> Option<(Option<&'b TExpr>, Option<&'b TExpr>)> {
    match &e.kind {
        TK::Local(l) if *l == var => Some((None, None)),
        TK::Binary(Opcode::Mul, a, b) => {
            let is_var = |x: &TExpr| matches!(x.kind, TK::Local(l) if l == var);
            if is_var(a) && invariant(b) {
                Some((None, Some(b)))
            } else if is_var(b) && invariant(a) {
                Some((None, Some(a)))
            } else {
                None
            }
        }
        TK::Binary(Opcode::Add, a, b) => {
            for (x, y) in [(a, b), (b, a)] {
                if invariant(y) {
                    if let Some((None, c1)) = affine(x, var, invariant) {
                        return Some((Some(y), c1));
                    }
                }
            }
            None
        }
        _ => None,
    }
}

/// Whether `e` has the same value at every iteration of a loop over `var` with `body`,
/// and can be evaluated before it without effects or faults.
fn invariant(e: &TExpr, var: u32, body: &[TStmt], recs: &Records) -> bool {
    match &e.kind {
        TK::Word(_) => true,
        TK::Local(l) => *l != var && !writes_local(body, *l, recs),
        TK::Binary(Opcode::Add | Opcode::Mul | Opcode::Sub, a, b) => {
            invariant(a, var, body, recs) && invariant(b, var, body, recs)
        }
        _ => false,
    }
}

/// Whether `body` holds a `match`, outside nested loops.
fn has_match(body: &[TStmt]) -> bool {
    body.iter().any(|s| match &s.kind {
        SK::Match { .. } => true,
        SK::If(arms, els) => arms.iter().any(|(_, b)| has_match(b)) || has_match(els),
        _ => false,
    })
}

/// Whether `body` holds a `continue` (of this loop or a nested one).
fn has_continue(body: &[TStmt]) -> bool {
    body.iter().any(|s| match &s.kind {
        SK::Continue => true,
        SK::While(_, b) | SK::Range { body: b, .. } | SK::Each { body: b, .. } => has_continue(b),
        SK::If(arms, els) => arms.iter().any(|(_, b)| has_continue(b)) || has_continue(els),
        SK::Match { cases, default, .. } => {
            cases.iter().any(|(_, b)| has_continue(b)) || has_continue(default)
        }
        _ => false,
    })
}

/// Whether `body` holds a loop.
fn has_loop(body: &[TStmt]) -> bool {
    body.iter().any(|s| match &s.kind {
        SK::While(..) | SK::Range { .. } | SK::Each { .. } => true,
        SK::If(arms, els) => arms.iter().any(|(_, b)| has_loop(b)) || has_loop(els),
        SK::Match { cases, default, .. } => {
            cases.iter().any(|(_, b)| has_loop(b)) || has_loop(default)
        }
        _ => false,
    })
}

/// A rough size of a body's code.
fn body_size(body: &[TStmt]) -> usize {
    let mut n = 0;
    visit_exprs(body, &mut |e| {
        n += match e.kind {
            TK::Index(_) => 6,
            _ => 1,
        }
    });
    n + body.len()
}

/// A rough size of an expression's code, to decide whether a loop test is duplicated.
fn size(e: &TExpr) -> usize {
    1 + match &e.kind {
        TK::Unary(_, a)
        | TK::Not(a)
        | TK::Cast(a)
        | TK::Len(a)
        | TK::Address(a)
        | TK::Project(a, _) => size(a),
        TK::Binary(_, a, b) | TK::And(a, b) | TK::Or(a, b) => size(a) + size(b),
        TK::Cond(a, b, c) => size(a) + size(b) + size(c),
        TK::Tuple(xs) | TK::Call(_, xs) | TK::Builtin(_, xs) => xs.iter().map(size).sum(),
        TK::Index(ix) => 6 + size(&ix.arr) + size(&ix.idx),
        TK::Sandbox(_)
        | TK::Spawn { .. }
        | TK::ArrayLit { .. }
        | TK::Slice { .. }
        | TK::New { .. } => 100,
        _ => 0,
    }
}
