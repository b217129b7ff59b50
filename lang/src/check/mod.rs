//! Name resolution and type checking: from parsed files to the typed [`ir`].
//!
//! Module-level names are collected first (functions, constants, record types, grants,
//! imports), so definitions may come in any order and imports may be cyclic. Function
//! bodies are checked on demand: a call to a function whose result type is inferred
//! checks that function first.

mod expr;
pub mod ir;
mod stmt;

use std::collections::HashMap;

use crate::ast::{self, Item, TypeExpr};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::loader::Program;
use crate::types::{RecId, RecordDef, Records, Type};
use crate::{GrantDecl, Options, Span};
use ir::{Checked, FuncId, StaticData, StaticId, TExpr, TFunc, TK};

/// How deep the checker may go into one function's inference before it asks for an
/// annotation.
const MAX_INFER_DEPTH: u32 = 64;

/// A module-level name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sym {
    Func(FuncId),
    Const(u32),
    Record(RecId),
    Grant(u32),
    Module(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Todo,
    Busy,
    Done,
}

struct FuncInfo {
    module: u32,
    item: usize,
    name: String,
    qual: String,
    params: Vec<(String, Type, Span)>,
    /// `None` until known: annotated, or inferred from the first `return`.
    ret: Option<Type>,
    state: State,
    body: Option<TFunc>,
}

/// A constant's value: an exact untyped integer, or a typed constant expression.
#[derive(Clone, Debug)]
enum CVal {
    Int(i128),
    Typed(TExpr),
}

struct ConstInfo {
    module: u32,
    item: usize,
    state: State,
    value: Option<CVal>,
}

struct RecInfo {
    module: u32,
    item: usize,
    state: State,
}

pub struct Checker<'p> {
    prog: &'p Program,
    diags: Vec<Diagnostic>,
    records: Records,
    recs: Vec<RecInfo>,
    funcs: Vec<FuncInfo>,
    consts: Vec<ConstInfo>,
    scopes: Vec<HashMap<String, (Sym, Span)>>,
    statics: Vec<StaticData>,
    strings: HashMap<Vec<u8>, StaticId>,
    grants: Vec<GrantDecl>,
    infer_depth: u32,
    optimize: bool,
    /// Modules whose syntax errors make unknown names likely to be follow-on errors.
    quiet_unknown: bool,
}

/// Checks the whole program.
///
/// # Errors
/// All syntax, import and type diagnostics, sorted by file and position.
pub fn check(prog: &Program, options: &Options) -> Result<Checked, Diagnostics> {
    let mut c = Checker {
        prog,
        diags: prog.diags.clone(),
        records: Records::default(),
        recs: Vec::new(),
        funcs: Vec::new(),
        consts: Vec::new(),
        scopes: vec![HashMap::new(); prog.modules.len()],
        statics: Vec::new(),
        strings: HashMap::new(),
        grants: Vec::new(),
        infer_depth: 0,
        optimize: options.optimize,
        quiet_unknown: prog.modules.iter().any(|m| m.broken),
    };
    c.collect();
    c.resolve_from_imports();
    for r in 0..c.recs.len() {
        c.record(r as RecId);
    }
    for f in 0..c.funcs.len() {
        c.signature(f as FuncId);
    }
    for k in 0..c.consts.len() {
        c.constant(k as u32);
    }
    for f in 0..c.funcs.len() {
        c.ensure_checked(f as FuncId);
    }
    let main = c.find_main();
    let mut diags = std::mem::take(&mut c.diags);
    if diags.is_empty() {
        if let Some(main) = main {
            let funcs = c
                .funcs
                .iter_mut()
                .map(|f| f.body.take().expect("every function was checked"))
                .collect();
            return Ok(Checked {
                funcs,
                main,
                records: c.records,
                statics: c.statics,
                grants: c.grants,
                files: prog.files.clone(),
            });
        }
    }
    diags.sort_by_key(|d| (d.span.context, d.span.start, d.span.end));
    diags.dedup();
    Err(Diagnostics {
        items: diags,
        files: prog.files.clone(),
    })
}

impl Checker<'_> {
    fn err(&mut self, code: Code, span: Span, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(code, span, msg));
        self.diags.last_mut().expect("just pushed")
    }

    fn show(&self, t: &Type) -> String {
        t.show(&self.records)
    }

    fn words(&self, t: &Type) -> u32 {
        t.words(&self.records)
    }

    fn define(&mut self, module: u32, name: &ast::Ident, sym: Sym) {
        let scope = &mut self.scopes[module as usize];
        if let Some((_, prev)) = scope.get(&name.name) {
            let prev = *prev;
            self.err(
                Code::Duplicate,
                name.span,
                format!("`{}` is defined twice in this file", name.name),
            )
            .related
            .push((prev, "first defined here".into()));
            return;
        }
        scope.insert(name.name.clone(), (sym, name.span));
    }

    /// Phase 1: every module's own definitions and its `import`s.
    fn collect(&mut self) {
        let prog = self.prog;
        for (m, module) in prog.modules.iter().enumerate() {
            let m = m as u32;
            for (i, item) in module.ast.items.iter().enumerate() {
                match item {
                    Item::Def(d) => {
                        let id = self.funcs.len() as FuncId;
                        let qual = if module.qual.is_empty() {
                            d.name.name.clone()
                        } else {
                            format!("{}.{}", module.qual, d.name.name)
                        };
                        let name = match module.qual.rsplit('.').next() {
                            Some(last) if !last.is_empty() => format!("{last}.{}", d.name.name),
                            _ => d.name.name.clone(),
                        };
                        self.funcs.push(FuncInfo {
                            module: m,
                            item: i,
                            name,
                            qual,
                            params: Vec::new(),
                            ret: None,
                            state: State::Todo,
                            body: None,
                        });
                        self.define(m, &d.name, Sym::Func(id));
                    }
                    Item::Const { name, .. } => {
                        let id = self.consts.len() as u32;
                        self.consts.push(ConstInfo {
                            module: m,
                            item: i,
                            state: State::Todo,
                            value: None,
                        });
                        self.define(m, name, Sym::Const(id));
                    }
                    Item::Typ { name, .. } => {
                        let id = self.recs.len() as RecId;
                        self.recs.push(RecInfo {
                            module: m,
                            item: i,
                            state: State::Todo,
                        });
                        self.records.defs.push(RecordDef {
                            name: name.name.clone(),
                            fields: Vec::new(),
                            offsets: Vec::new(),
                            words: 0,
                        });
                        self.define(m, name, Sym::Record(id));
                    }
                    Item::Grant { name, kind, span } => {
                        if m != 0 {
                            self.err(
                                Code::Misplaced,
                                *span,
                                "`grant` belongs in the program's main file",
                            )
                            .notes
                            .push("pass keys to library functions as arguments".into());
                            continue;
                        }
                        let code = rarvm_runtime::keys::KeyKind::BUILT_IN
                            .into_iter()
                            .find(|k| k.name() == kind.name)
                            .map(|k| k.code())
                            .or_else(|| {
                                kind.name
                                    .strip_prefix("custom")
                                    .and_then(|n| n.parse::<u8>().ok())
                                    .filter(|c| *c >= rarvm_runtime::keys::FIRST_CUSTOM_KIND)
                            });
                        let Some(code) = code else {
                            self.err(
                                Code::UnknownName,
                                kind.span,
                                format!("`{}` is not a kind of key", kind.name),
                            )
                            .expected
                            .extend(
                                [
                                    "console",
                                    "clock",
                                    "random",
                                    "fs",
                                    "net",
                                    "custom16 … custom255",
                                ]
                                .map(String::from),
                            );
                            continue;
                        };
                        if !rarvm_runtime::keys::is_valid_grant_name(&name.name) {
                            self.err(
                                Code::Syntax,
                                name.span,
                                "a grant name has at most 64 letters, digits, `_`, `-` or `.`",
                            );
                        }
                        let slot = self.grants.len() as u32;
                        self.grants.push(GrantDecl {
                            slot,
                            name: name.name.clone(),
                            kind: code,
                        });
                        self.define(m, name, Sym::Grant(slot));
                    }
                    Item::Import { path, alias, .. } => {
                        if let Some(&target) = module.imports.get(&i) {
                            let name = alias
                                .clone()
                                .unwrap_or_else(|| path[path.len() - 1].clone());
                            self.define(m, &name, Sym::Module(target));
                        }
                    }
                    Item::FromImport { .. } | Item::Error => {}
                }
            }
        }
    }

    /// Phase 2: `from M import x` binds `x` to M's own definition of it.
    fn resolve_from_imports(&mut self) {
        let prog = self.prog;
        for (m, module) in prog.modules.iter().enumerate() {
            for (i, item) in module.ast.items.iter().enumerate() {
                let Item::FromImport { names, .. } = item else {
                    continue;
                };
                let Some(&target) = module.imports.get(&i) else {
                    continue;
                };
                for (name, alias) in names {
                    let found = self.scopes[target as usize]
                        .get(&name.name)
                        .filter(|(s, _)| !matches!(s, Sym::Module(_)))
                        .map(|(s, _)| *s);
                    match found {
                        Some(sym) => {
                            let bound = alias.clone().unwrap_or_else(|| name.clone());
                            self.define(m as u32, &bound, sym);
                        }
                        None => {
                            let file = &prog.files[target as usize].name;
                            self.err(
                                Code::UnknownName,
                                name.span,
                                format!("{file} defines no `{}`", name.name),
                            );
                        }
                    }
                }
            }
        }
    }

    /// A name of module `m`, for error messages about the kind of thing it is.
    fn lookup_global(&self, m: u32, name: &str) -> Option<Sym> {
        self.scopes[m as usize].get(name).map(|(s, _)| *s)
    }

    /// Resolves a type written in module `m`.
    fn resolve_type(&mut self, m: u32, t: &TypeExpr, elem: bool) -> Type {
        match t {
            TypeExpr::Array(inner, _) => Type::Array(Box::new(self.resolve_type(m, inner, true))),
            TypeExpr::Name(path) => {
                if path.len() == 1 {
                    let n = path[0].name.as_str();
                    match n {
                        "u64" | "u" => return Type::U64,
                        "i64" | "i" => return Type::I64,
                        "bool" => return Type::Bool,
                        "key" => return Type::Key,
                        "proc" => return Type::Proc,
                        "u8" if elem => return Type::U8,
                        "u8" => {
                            self.err(
                                Code::Type,
                                path[0].span,
                                "`u8` is only an array element type (`[u8]`); a byte read from one is a `u64`",
                            );
                            return Type::Error;
                        }
                        _ => {}
                    }
                }
                let (module, last) = match path.as_slice() {
                    [one] => (Some(m), one),
                    [modname, last] => match self.lookup_global(m, &modname.name) {
                        Some(Sym::Module(t)) => (Some(t), last),
                        _ => (None, modname),
                    },
                    _ => (None, &path[0]),
                };
                if let Some(module) = module {
                    if let Some(Sym::Record(r)) = self.lookup_global(module, &last.name) {
                        self.record(r);
                        return Type::Record(r);
                    }
                }
                let span = t.span();
                self.err(
                    Code::UnknownName,
                    span,
                    format!(
                        "unknown type `{}`",
                        path.iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(".")
                    ),
                )
                .expected
                .extend(
                    ["u64", "i64", "bool", "key", "proc", "[T]", "a `typ` name"].map(String::from),
                );
                Type::Error
            }
        }
    }

    /// Resolves record `r`'s fields (once), rejecting records that contain themselves.
    fn record(&mut self, r: RecId) {
        let info = &self.recs[r as usize];
        match info.state {
            State::Done => return,
            State::Busy => {
                let (m, item) = (info.module, info.item);
                if let Item::Typ { name, .. } = &self.prog.modules[m as usize].ast.items[item] {
                    self.err(
                        Code::Type,
                        name.span,
                        format!("record `{}` contains itself", name.name),
                    )
                    .notes
                    .push("a record is stored by value; hold an array of it instead".into());
                }
                return;
            }
            State::Todo => {}
        }
        self.recs[r as usize].state = State::Busy;
        let (m, item) = (self.recs[r as usize].module, self.recs[r as usize].item);
        let prog = self.prog;
        let Item::Typ { fields, .. } = &prog.modules[m as usize].ast.items[item] else {
            return;
        };
        let mut out: Vec<(String, Type)> = Vec::new();
        let mut offsets = Vec::new();
        let mut words = 0u32;
        for (t, name) in fields {
            if out.iter().any(|(n, _)| *n == name.name) {
                self.err(
                    Code::Duplicate,
                    name.span,
                    format!("field `{}` is declared twice", name.name),
                );
                continue;
            }
            let ty = match t {
                TypeExpr::Name(p) if p.len() == 1 && p[0].name == "u8" => Type::U64,
                t => self.resolve_type(m, t, false),
            };
            let w = self.words(&ty);
            offsets.push(words);
            words = words.saturating_add(w);
            out.push((name.name.clone(), ty));
        }
        if words > rarvm_runtime::limits::MAX_PARAMS {
            if let Item::Typ { name, .. } = &prog.modules[m as usize].ast.items[item] {
                self.err(
                    Code::Limit,
                    name.span,
                    format!(
                        "record `{}` has {words} words, more than {}",
                        name.name,
                        rarvm_runtime::limits::MAX_PARAMS
                    ),
                );
            }
        }
        let def = &mut self.records.defs[r as usize];
        def.fields = out;
        def.offsets = offsets;
        def.words = words;
        self.recs[r as usize].state = State::Done;
    }

    /// Resolves function `f`'s parameter and annotated result types.
    fn signature(&mut self, f: FuncId) {
        let (m, item) = (self.funcs[f as usize].module, self.funcs[f as usize].item);
        let prog = self.prog;
        let Item::Def(d) = &prog.modules[m as usize].ast.items[item] else {
            return;
        };
        let mut params: Vec<(String, Type, Span)> = Vec::new();
        for p in &d.params {
            if params.iter().any(|(n, _, _)| *n == p.name.name) {
                self.err(
                    Code::Duplicate,
                    p.name.span,
                    format!("parameter `{}` is declared twice", p.name.name),
                );
            }
            let ty = match &p.ty {
                Some(t) => self.resolve_type(m, t, false),
                None => Type::U64,
            };
            params.push((p.name.name.clone(), ty, p.name.span));
        }
        let ret = d.ret.as_ref().map(|ts| {
            let ts: Vec<Type> = ts.iter().map(|t| self.resolve_type(m, t, false)).collect();
            crate::types::results_type(ts)
        });
        let words: u32 = params.iter().map(|(_, t, _)| self.words(t)).sum();
        if words > rarvm_runtime::limits::MAX_PARAMS {
            self.err(
                Code::Limit,
                d.name.span,
                format!(
                    "`{}` takes {words} words of parameters, more than {}",
                    d.name.name,
                    rarvm_runtime::limits::MAX_PARAMS
                ),
            );
        }
        if let Some(r) = &ret {
            let w = self.words(r);
            if w > rarvm_runtime::limits::MAX_PARAMS {
                self.err(
                    Code::Limit,
                    d.name.span,
                    format!(
                        "`{}` returns {w} words, more than {}",
                        d.name.name,
                        rarvm_runtime::limits::MAX_PARAMS
                    ),
                );
            }
        }
        let fi = &mut self.funcs[f as usize];
        fi.params = params;
        fi.ret = ret;
    }

    /// The result type of `f`, checking its body first if it must be inferred.
    /// `None` if it cannot be known yet (a recursive use before its first `return`).
    fn func_ret(&mut self, f: FuncId) -> Option<Type> {
        if let Some(t) = &self.funcs[f as usize].ret {
            return Some(t.clone());
        }
        if self.funcs[f as usize].state == State::Todo && self.infer_depth < MAX_INFER_DEPTH {
            self.ensure_checked(f);
        }
        self.funcs[f as usize].ret.clone()
    }

    fn ensure_checked(&mut self, f: FuncId) {
        if self.funcs[f as usize].state != State::Todo {
            return;
        }
        self.funcs[f as usize].state = State::Busy;
        self.infer_depth += 1;
        let body = stmt::check_function(self, f);
        self.infer_depth -= 1;
        let fi = &mut self.funcs[f as usize];
        fi.body = Some(body);
        fi.state = State::Done;
    }

    fn find_main(&mut self) -> Option<FuncId> {
        let main = match self.lookup_global(0, "main") {
            Some(Sym::Func(f)) if self.funcs[f as usize].module == 0 => f,
            _ => {
                if self.prog.modules.first().is_some_and(|m| m.broken) {
                    return None;
                }
                self.err(
                    Code::UnknownName,
                    crate::span(0, 0, 0),
                    "the main file defines no `main` function",
                )
                .notes
                .push("`def main(…):` is where the program starts; its parameters are the command-line words".into());
                return None;
            }
        };
        let prog = self.prog;
        let fi = &self.funcs[main as usize];
        let Item::Def(d) = &prog.modules[0].ast.items[fi.item] else {
            return None;
        };
        let ret = fi.ret.clone().unwrap_or(Type::Unit);
        let bad: Vec<Span> = fi
            .params
            .iter()
            .filter(|(_, t, _)| !matches!(t, Type::U64 | Type::I64 | Type::Error))
            .map(|(_, _, s)| *s)
            .collect();
        for s in bad {
            self.err(
                Code::Type,
                s,
                "`main`'s parameters are command-line words: `u64` or `i64`",
            );
        }
        if !ret.is_plain(&self.records) {
            self.err(
                Code::Type,
                d.name.span,
                format!(
                    "`main` returns {}, but its results go to the host as words",
                    self.show(&ret)
                ),
            )
            .notes
            .push("return numbers, booleans or records of them".into());
        }
        Some(main)
    }

    /// Registers a static byte string (equal strings share one region).
    fn string_static(&mut self, bytes: &[u8]) -> StaticId {
        if let Some(&id) = self.strings.get(bytes) {
            return id;
        }
        let id = self.statics.len() as StaticId;
        self.statics.push(StaticData {
            bytes: bytes.to_vec(),
            zeros: 0,
            len: bytes.len() as u64,
        });
        self.strings.insert(bytes.to_vec(), id);
        id
    }

    fn new_static(&mut self, data: StaticData) -> StaticId {
        let id = self.statics.len() as StaticId;
        self.statics.push(data);
        id
    }

    /// Evaluates module constant `k` (once); reports cycles.
    fn constant(&mut self, k: u32) -> Option<CVal> {
        match self.consts[k as usize].state {
            State::Done => return self.consts[k as usize].value.clone(),
            State::Busy => {
                let (m, item) = (self.consts[k as usize].module, self.consts[k as usize].item);
                if let Item::Const { name, .. } = &self.prog.modules[m as usize].ast.items[item] {
                    self.err(
                        Code::Constant,
                        name.span,
                        format!("constant `{}` is defined in terms of itself", name.name),
                    );
                }
                return None;
            }
            State::Todo => {}
        }
        self.consts[k as usize].state = State::Busy;
        let (m, item) = (self.consts[k as usize].module, self.consts[k as usize].item);
        let prog = self.prog;
        let Item::Const { ty, value, .. } = &prog.modules[m as usize].ast.items[item] else {
            return None;
        };
        let declared = ty.as_ref().map(|t| self.resolve_type(m, t, false));
        let v = expr::const_value(self, m, value, declared.as_ref());
        let c = &mut self.consts[k as usize];
        c.value = v.clone();
        c.state = State::Done;
        v
    }
}

/// True for the words of a constant expression: what a module constant may hold.
fn is_const(e: &TExpr) -> bool {
    match &e.kind {
        TK::Word(_) | TK::Static(_) | TK::Error => true,
        TK::Tuple(items) => items.iter().all(is_const),
        TK::Cast(x) => is_const(x),
        _ => false,
    }
}
