//! A seeded generator of valid programs with real structure.
//!
//! Programs are built as a small AST — functions of statements over expressions — and
//! rendered to assembler text, so a divergence can be minimized statement by statement and
//! reported as readable source. They are valid by construction: every expression leaves one
//! word, every statement leaves the stack as it found it, calls go to later functions (or to
//! itself, in a depth-bounded recursion), and loops are counted. They exercise nested loops,
//! calls, locals, memory in and out of bounds, growth, edge-value arithmetic, children run
//! with random allowances (including more than the parent has), yields, images of children,
//! faults, and module bytes from memory — valid, corrupted or random. Key statements give,
//! attenuate (with paths, some of them invalid), invoke and drop the root's keys
//! ([`ROOT_KEYS`]) and keys derived from them.

use std::sync::LazyLock;

use rarvm::isa::{Class, Field, ImmKind, OpInfo, StackEffect, OPS};

use crate::rng::Rng;

pub mod cfg;
mod render;
mod shrink;

pub use render::render;

/// Locals every function has besides its parameters: general ones, three loop counters, a
/// child slot, a status and a scratch word.
const GENERAL: u32 = 4;
const COUNTERS: u32 = 3;
const EXTRA: u32 = GENERAL + COUNTERS + 3;

/// The host keys the oracle grants every root, in slots `0..ROOT_KEYS`: a console, a
/// random generator, a virtual clock and a scratch directory.
pub const ROOT_KEYS: u64 = 4;

/// Paths key.attenuate narrows directory keys with: files and directories the scratch
/// directory holds or will hold, and some that are not paths at all.
const PATHS: [&str; 9] = ["a", "d/b", "d", "new", "n/x", "..", "/a", "d//b", "x/../a"];

#[derive(Clone, Debug)]
pub struct Program {
    pub memory: u64,
    pub data: Vec<(u64, Vec<u8>)>,
    pub funcs: Vec<Func>,
}

#[derive(Clone, Debug)]
pub struct Func {
    pub params: u32,
    pub results: u32,
    /// Locals beyond the parameters.
    pub locals: u32,
    /// An unstructured body, rendered instead of `body` and `ret` (see [`cfg`]).
    pub cfg: Option<cfg::Cfg>,
    pub body: Vec<Stmt>,
    /// Results pushed before `ret`.
    pub ret: Vec<Expr>,
    /// A self-recursive function: parameter 0 counts down, the body runs only above 0.
    pub recursive: bool,
}

#[derive(Clone, Debug)]
pub enum Expr {
    Const(u64),
    Local(u32),
    Bin(&'static str, Box<Expr>, Box<Expr>),
    Un(&'static str, Box<Expr>),
    Load(&'static str, u32, Box<Expr>),
    Call(u32, Vec<Expr>),
    Select(Box<Expr>, Box<Expr>, Box<Expr>),
    Nullary(&'static str),
}

#[derive(Clone, Debug)]
pub enum Stmt {
    Set(u32, Expr),
    Store(&'static str, u32, Expr, Expr),
    If(Expr, Vec<Stmt>, Vec<Stmt>),
    Loop(u32, u64, Vec<Stmt>),
    Switch(Expr, Vec<Vec<Stmt>>),
    CallDrop(u32, Vec<Expr>),
    Grow(Expr),
    Bulk(&'static str, Expr, Expr, Expr),
    Out(Expr),
    In,
    Yield,
    Trap,
    Halt,
    Child(Child),
    SpawnBytes {
        offset: u64,
        len: u64,
        gas: u64,
        mem: u64,
    },
    /// `key.invoke slot op arg addr len`, its result into a local and its error into the
    /// status local.
    Invoke {
        slot: Expr,
        op: u64,
        arg: Expr,
        addr: Expr,
        len: Expr,
        into: u32,
    },
    /// `key.attenuate slot rights addr len`, the new slot into a local.
    Attenuate {
        slot: Expr,
        rights: u64,
        path: (u64, u64),
        into: u32,
    },
    KeyDrop(Expr),
}

/// Spawn a child of function `func`, feed it, run it `rounds` times (each recurse refuels
/// it), read a field, maybe pop a result, maybe save and restore it, drop it.
#[derive(Clone, Debug)]
pub struct Child {
    pub func: u32,
    pub args: Vec<Expr>,
    pub gas: Expr,
    pub mem: u64,
    pub rounds: u64,
    pub field: &'static str,
    pub pop: bool,
    pub save_at: Option<u64>,
    /// Key slots of the parent copied into the child before it runs.
    pub gives: Vec<u64>,
}

/// The mnemonics of the table's instructions that `keep` selects, in opcode order.
fn table(keep: impl Fn(&OpInfo) -> bool) -> Vec<&'static str> {
    OPS.iter().filter(|i| keep(i)).map(|i| i.mnemonic).collect()
}

const fn fixed(pops: u8, pushes: u8) -> StackEffect {
    StackEffect::Fixed { pops, pushes }
}

/// Two words to one: arithmetic, bits and comparisons.
static BINOPS: LazyLock<Vec<&str>> =
    LazyLock::new(|| table(|i| matches!(i.class, Class::Binary | Class::Compare)));
/// One word to one: the pure unary operations first ([`PURE_UNOPS`] of them), then the
/// key queries, which fault on a slot without a key.
static UNOPS: LazyLock<Vec<&str>> = LazyLock::new(|| {
    let mut ops = table(|i| i.class == Class::Unary);
    ops.extend(table(|i| {
        i.class == Class::Keys && i.stack == fixed(1, 1) && i.imm == ImmKind::None
    }));
    ops
});
static PURE_UNOPS: LazyLock<usize> = LazyLock::new(|| table(|i| i.class == Class::Unary).len());
static LOADS: LazyLock<Vec<&str>> = LazyLock::new(|| {
    table(|i| i.class == Class::Memory && i.imm == ImmKind::Offset && i.stack == fixed(1, 1))
});
static STORES: LazyLock<Vec<&str>> = LazyLock::new(|| {
    table(|i| i.class == Class::Memory && i.imm == ImmKind::Offset && i.stack == fixed(2, 0))
});
/// Counters read from nothing (`in` also pushes from nothing, but faults on an empty port:
/// the generator places it where the port holds words).
static NULLARY: LazyLock<Vec<&str>> = LazyLock::new(|| {
    table(|i| {
        matches!(i.class, Class::Memory | Class::Process)
            && i.imm == ImmKind::None
            && i.stack == fixed(0, 1)
            && i.mnemonic != "in"
    })
});
static FIELDS: LazyLock<Vec<&str>> =
    LazyLock::new(|| Field::ALL.iter().map(|f| f.name()).collect());

struct Gen<'a> {
    rng: &'a mut Rng,
    /// (params, results) of every function.
    sigs: Vec<(u32, u32)>,
    memory: u64,
    /// Data segments holding module bytes for `spawn.bytes`.
    modules: Vec<(u64, u64)>,
    /// Where each of [`PATHS`] lies in memory, if the program has them.
    paths: Vec<(u64, u64)>,
}

/// Generates a program from `rng`; `nested` programs (embedded as module bytes) stay small.
pub fn program(rng: &mut Rng) -> Program {
    generate(rng, false)
}

fn generate(rng: &mut Rng, nested: bool) -> Program {
    // Now and then the shapes that make the host work hardest per gas: many functions,
    // large initial memory, many locals (below), many blocks and deep trees of children.
    let nfuncs = if nested {
        rng.range(1, 2)
    } else if rng.chance(1, 40) {
        rng.range(8, 40)
    } else {
        rng.range(1, 5)
    } as usize;
    let mut sigs: Vec<(u32, u32)> = Vec::with_capacity(nfuncs);
    for i in 0..nfuncs {
        let params = if i == 0 {
            rng.below(3) as u32
        } else {
            rng.below(4) as u32
        };
        let results = if rng.chance(3, 4) {
            1
        } else {
            rng.below(4) as u32
        };
        sigs.push((params, results));
    }
    let memory = if rng.chance(1, 5) {
        0
    } else if !nested && rng.chance(1, 40) {
        rng.range(1 << 14, 1 << 18)
    } else {
        rng.range(16, 512)
    };
    let mut data = Vec::new();
    if memory > 0 && rng.chance(1, 2) {
        let at = rng.below(memory);
        let len = rng.below((memory - at).min(32)) as usize;
        data.push((at, (0..len).map(|_| rng.next_u64() as u8).collect()));
    }
    let mut modules = Vec::new();
    if !nested && rng.chance(1, 4) {
        // Module bytes for spawn.bytes: a small valid program, maybe corrupted, or junk.
        let bytes = match rng.below(3) {
            0 => (0..rng.range(0, 64))
                .map(|_| rng.next_u64() as u8)
                .collect(),
            _ => {
                let inner = generate(rng, true);
                let mut b = rarvm::text::assemble(&render(&inner), "inner").unwrap_or_default();
                if rng.chance(1, 2) && !b.is_empty() {
                    for _ in 0..rng.range(1, 3) {
                        let at = rng.below(b.len() as u64) as usize;
                        b[at] ^= 1 << rng.below(8);
                    }
                }
                b
            }
        };
        let at = memory;
        modules.push((at, bytes.len() as u64));
        data.push((at, bytes));
    }
    let mut memory = memory + modules.iter().map(|m| m.1).sum::<u64>();
    let mut paths = Vec::new();
    if !nested && rng.chance(2, 3) {
        for p in PATHS {
            paths.push((memory, p.len() as u64));
            data.push((memory, p.as_bytes().to_vec()));
            memory += p.len() as u64;
        }
    }
    // A recursive function counts down in parameter 0 and returns one word: fix its
    // signature before anything calls it.
    let recursive_at =
        (nfuncs > 1 && rng.chance(1, 3)).then(|| rng.range(1, nfuncs as u64 - 1) as usize);
    if let Some(r) = recursive_at {
        sigs[r] = (sigs[r].0.max(1), 1);
    }
    let mut g = Gen {
        rng,
        sigs: sigs.clone(),
        memory,
        modules,
        paths,
    };
    let funcs = (0..nfuncs)
        .map(|i| {
            let (params, results) = sigs[i];
            let unstructured = if i == 0 { (1, 6) } else { (1, 3) };
            if Some(i) == recursive_at {
                if g.rng.chance(1, 3) {
                    g.tower(i as u32, params)
                } else {
                    g.recursive(i as u32, params)
                }
            } else if g.rng.chance(unstructured.0, unstructured.1) {
                // Few locals: the last counts block entries.
                let locals = g.rng.range(1, 3) as u32;
                let cx = cfg::Context {
                    sigs: &g.sigs,
                    index: i as u32,
                    params,
                    locals,
                    memory: g.memory,
                };
                let body = cfg::generate(g.rng, &cx);
                Func {
                    params,
                    results,
                    locals,
                    cfg: Some(body),
                    body: Vec::new(),
                    ret: Vec::new(),
                    recursive: false,
                }
            } else {
                let body = g.block(i as u32, params, 0, if nested { 3 } else { 6 });
                let ret = (0..results).map(|_| g.expr(i as u32, params, 0)).collect();
                // Rarely, a great many locals: every call zeroes them.
                let locals = if g.rng.chance(1, 30) {
                    EXTRA + g.rng.range(100, 5000) as u32
                } else {
                    EXTRA
                };
                Func {
                    params,
                    results,
                    locals,
                    cfg: None,
                    body,
                    ret,
                    recursive: false,
                }
            }
        })
        .collect();
    Program {
        memory,
        data,
        funcs,
    }
}

impl Gen<'_> {
    fn local(&mut self, params: u32) -> u32 {
        if params > 0 && self.rng.chance(1, 2) {
            self.rng.below(u64::from(params)) as u32
        } else {
            params + self.rng.below(u64::from(GENERAL)) as u32
        }
    }

    /// An address: usually inside memory with room for any width and offset, sometimes
    /// computed and folded into that range, rarely anything at all (out of bounds).
    fn addr(&mut self, f: u32, params: u32, depth: u32) -> Expr {
        let room = self.memory.saturating_sub(24).max(1);
        match self.rng.below(40) {
            0 => Expr::Const(self.rng.word()),
            1 => self.expr(f, params, depth + 1),
            2..=11 => Expr::Bin(
                "rem_u",
                Box::new(self.expr(f, params, depth + 1)),
                Box::new(Expr::Const(room)),
            ),
            _ => Expr::Const(self.rng.below(room)),
        }
    }

    fn expr(&mut self, f: u32, params: u32, depth: u32) -> Expr {
        let leaf = depth >= 3 || self.rng.chance(2, 5);
        if leaf {
            return match self.rng.below(5) {
                0 | 1 => Expr::Const(self.rng.word()),
                2 | 3 => Expr::Local(self.local(params)),
                _ => Expr::Nullary(self.rng.pick(&NULLARY)),
            };
        }
        match self.rng.below(12) {
            0..=4 => {
                let op = self.rng.pick(&BINOPS);
                let a = self.expr(f, params, depth + 1);
                let mut b = self.expr(f, params, depth + 1);
                if (op.starts_with("div") || op.starts_with("rem")) && self.rng.chance(7, 8) {
                    // Mostly a nonzero divisor: a zero one ends the program with a fault.
                    b = Expr::Bin("or", Box::new(b), Box::new(Expr::Const(1)));
                }
                Expr::Bin(op, Box::new(a), Box::new(b))
            }
            5 | 6 => Expr::Un(
                self.rng.pick(&UNOPS),
                Box::new(self.expr(f, params, depth + 1)),
            ),
            7 | 8 => {
                let op = self.rng.pick(&LOADS);
                let off = if self.rng.chance(1, 4) {
                    self.rng.below(16) as u32
                } else {
                    0
                };
                Expr::Load(op, off, Box::new(self.addr(f, params, depth)))
            }
            9 => Expr::Select(
                Box::new(self.expr(f, params, depth + 1)),
                Box::new(self.expr(f, params, depth + 1)),
                Box::new(self.expr(f, params, depth + 1)),
            ),
            _ => match self.callee(f, true) {
                Some(c) => {
                    let args = (0..self.sigs[c as usize].0)
                        .map(|_| self.expr(f, params, depth + 1))
                        .collect();
                    Expr::Call(c, args)
                }
                None => Expr::Const(self.rng.word()),
            },
        }
    }

    /// A later function (acyclic calls); with `one_result`, only functions with one result.
    fn callee(&mut self, f: u32, one_result: bool) -> Option<u32> {
        let later: Vec<u32> = (f + 1..self.sigs.len() as u32)
            .filter(|c| !one_result || self.sigs[*c as usize].1 == 1)
            .collect();
        (!later.is_empty()).then(|| self.rng.pick(&later))
    }

    fn block(&mut self, f: u32, params: u32, nesting: u32, max: u64) -> Vec<Stmt> {
        (0..self.rng.range(1, max))
            .map(|_| self.stmt(f, params, nesting))
            .collect()
    }

    fn stmt(&mut self, f: u32, params: u32, nesting: u32) -> Stmt {
        let deep = nesting >= 2;
        // The root's function holds the granted keys: use them more there.
        if f == 0 && self.rng.chance(1, 5) {
            return self.key_stmt(f, params);
        }
        match self.rng.below(40) {
            0..=7 => Stmt::Set(self.local(params), self.expr(f, params, 0)),
            8..=10 => {
                let op = self.rng.pick(&STORES);
                let off = if self.rng.chance(1, 4) {
                    self.rng.below(16) as u32
                } else {
                    0
                };
                Stmt::Store(op, off, self.addr(f, params, 0), self.expr(f, params, 1))
            }
            11 | 12 if !deep => {
                let c = self.expr(f, params, 1);
                Stmt::If(
                    c,
                    self.block(f, params, nesting + 1, 3),
                    self.block(f, params, nesting + 1, 3),
                )
            }
            13..=15 if nesting < COUNTERS => {
                let count = if self.rng.chance(1, 6) {
                    self.rng.range(50, 400)
                } else {
                    self.rng.range(0, 12)
                };
                Stmt::Loop(
                    params + GENERAL + nesting,
                    count,
                    self.block(f, params, nesting + 1, 4),
                )
            }
            16 if !deep => {
                let n = self.rng.range(1, 4) as usize;
                Stmt::Switch(
                    self.expr(f, params, 1),
                    (0..n)
                        .map(|_| self.block(f, params, nesting + 1, 2))
                        .collect(),
                )
            }
            17..=19 => match self.callee(f, false) {
                Some(c) => {
                    let args = (0..self.sigs[c as usize].0)
                        .map(|_| self.expr(f, params, 1))
                        .collect();
                    Stmt::CallDrop(c, args)
                }
                None => Stmt::Set(self.local(params), self.expr(f, params, 0)),
            },
            20 | 21 => {
                let n = if self.rng.chance(1, 2) {
                    Expr::Const(self.rng.below(300))
                } else {
                    self.expr(f, params, 1)
                };
                Stmt::Grow(n)
            }
            22 | 23 => {
                let op = if self.rng.chance(1, 2) {
                    "mem.copy"
                } else {
                    "mem.fill"
                };
                let len = match self.rng.below(8) {
                    0 => self.expr(f, params, 1),
                    1 => Expr::Const(self.rng.below(64)),
                    _ => Expr::Const(self.rng.below(8)),
                };
                Stmt::Bulk(op, self.addr(f, params, 0), self.addr(f, params, 0), len)
            }
            24 => Stmt::Out(self.expr(f, params, 1)),
            25 if self.rng.chance(1, 6) => Stmt::In,
            26 if self.rng.chance(1, 10) => Stmt::Yield,
            28 if self.rng.chance(1, 8) => Stmt::Trap,
            29 if self.rng.chance(1, 8) => Stmt::Halt,
            30..=34 if !deep => match self.callee(f, false) {
                Some(c) => Stmt::Child(self.child(f, params, c)),
                None => Stmt::Yield,
            },
            36..=39 => self.key_stmt(f, params),
            35 if !self.modules.is_empty() => {
                let (offset, len) = self.rng.pick(&self.modules);
                Stmt::SpawnBytes {
                    offset,
                    len,
                    gas: self.rng.range(0, 3000),
                    mem: self.rng.range(0, 1 << 16),
                }
            }
            _ => Stmt::Set(self.local(params), self.expr(f, params, 0)),
        }
    }

    /// A key slot: usually one of the first few (the root's keys and those derived from
    /// them), sometimes computed.
    fn key_slot(&mut self) -> u64 {
        match self.rng.below(20) {
            0..=13 => self.rng.below(ROOT_KEYS),
            14..=18 => ROOT_KEYS + self.rng.below(3),
            _ => self.rng.below(64),
        }
    }

    /// An operation for the key in `slot`: usually one its kind has, if the slot holds a
    /// root key.
    fn key_op(&mut self, slot: u64) -> u64 {
        if self.rng.chance(1, 12) {
            return self.rng.word();
        }
        match slot {
            0 | 1 if self.rng.chance(4, 5) => self.rng.below(2),
            2 if self.rng.chance(4, 5) => 0,
            _ => self.rng.below(8),
        }
    }

    /// An address and length inside memory (usually), for a key operation's range.
    fn key_range(&mut self, f: u32, params: u32) -> (Expr, Expr) {
        if self.memory == 0 || self.rng.chance(1, 10) {
            let len = match self.rng.below(3) {
                0 => self.expr(f, params, 1),
                _ => Expr::Const(self.rng.below(24)),
            };
            return (self.addr(f, params, 0), len);
        }
        let len = self.rng.below(self.memory.min(48) + 1);
        let at = self.rng.below(self.memory - len + 1);
        (Expr::Const(at), Expr::Const(len))
    }

    fn key_stmt(&mut self, f: u32, params: u32) -> Stmt {
        let into = params + self.rng.below(u64::from(GENERAL)) as u32;
        if !self.paths.is_empty() && self.rng.chance(1, 4) {
            // A file or directory key, used at once: narrow the directory, then invoke.
            let path = self.paths[self.rng.below(5) as usize];
            let (addr, len) = self.key_range(f, params);
            let narrow = Stmt::Attenuate {
                slot: Expr::Const(3),
                rights: if self.rng.chance(3, 4) {
                    7
                } else {
                    self.rng.below(8)
                },
                path,
                into,
            };
            let op = self.rng.below(8);
            let arg = Expr::Const(self.rng.below(8));
            let use_it = Stmt::Invoke {
                slot: Expr::Local(into),
                op,
                arg,
                addr,
                len,
                into,
            };
            return Stmt::If(Expr::Const(1), vec![narrow, use_it], vec![]);
        }
        match self.rng.below(12) {
            0..=6 => {
                let slot = self.key_slot();
                let op = self.key_op(slot);
                let arg = if self.rng.chance(1, 6) {
                    self.expr(f, params, 1)
                } else {
                    Expr::Const(self.rng.below(16))
                };
                let (addr, len) = self.key_range(f, params);
                Stmt::Invoke {
                    slot: Expr::Const(slot),
                    op,
                    arg,
                    addr,
                    len,
                    into,
                }
            }
            7..=10 => {
                let path = if !self.paths.is_empty() && self.rng.chance(3, 4) {
                    self.rng.pick(&self.paths)
                } else {
                    (0, 0)
                };
                let slot = if self.rng.chance(3, 4) {
                    3 // the directory
                } else {
                    self.key_slot()
                };
                Stmt::Attenuate {
                    slot: Expr::Const(slot),
                    rights: if self.rng.chance(1, 2) {
                        7
                    } else {
                        self.rng.below(8)
                    },
                    path,
                    into,
                }
            }
            _ => Stmt::KeyDrop(Expr::Const(self.key_slot())),
        }
    }

    fn child(&mut self, f: u32, params: u32, c: u32) -> Child {
        let want = self.sigs[c as usize].0;
        // Usually the right number of arguments; sometimes not (bad arity).
        let n = if self.rng.chance(1, 10) {
            self.rng.below(u64::from(want) + 2) as u32
        } else {
            want
        };
        let args = (0..n).map(|_| self.expr(f, params, 1)).collect();
        let gas = match self.rng.below(5) {
            0 => Expr::Const(u64::MAX),
            1 => Expr::Bin(
                "mul",
                Box::new(Expr::Nullary("gas.left")),
                Box::new(Expr::Const(2)),
            ),
            2 => Expr::Const(self.rng.range(0, 50)),
            _ => Expr::Const(self.rng.range(50, 5000)),
        };
        let mem = match self.rng.below(4) {
            0 => u64::MAX,
            1 => self.rng.range(0, 256),
            _ => self.rng.range(256, 1 << 16),
        };
        let save_at =
            (self.memory >= 64 && self.rng.chance(1, 4)).then(|| self.rng.below(self.memory));
        let gives = (0..self.rng.below(3))
            .map(|_| self.rng.below(ROOT_KEYS))
            .collect();
        Child {
            func: c,
            args,
            gas,
            mem,
            rounds: self.rng.range(1, 4),
            field: self.rng.pick(&FIELDS),
            pop: self.rng.chance(1, 3),
            save_at,
            gives,
        }
    }

    /// A tower: a child of itself, `depth` (parameter 0, clamped) levels deep, each level
    /// giving the next a random allowance; returns the depth reached. Deep trees to stop,
    /// refuel, save and load.
    fn tower(&mut self, f: u32, params: u32) -> Func {
        let limit = if self.rng.chance(1, 4) { 400 } else { 30 };
        let child = Stmt::Child(Child {
            func: f,
            args: (0..params)
                .map(|i| {
                    if i == 0 {
                        Expr::Bin("sub", Box::new(Expr::Local(0)), Box::new(Expr::Const(1)))
                    } else {
                        Expr::Local(i)
                    }
                })
                .collect(),
            gas: Expr::Const(self.rng.range(200, 20_000)),
            mem: self.rng.range(2_000, 1 << 20),
            rounds: self.rng.range(1, 4),
            field: "status",
            pop: true,
            save_at: None,
            gives: Vec::new(),
        });
        Func {
            params,
            results: 1,
            locals: EXTRA,
            cfg: None,
            body: vec![
                Stmt::Set(
                    0,
                    Expr::Bin(
                        "rem_u",
                        Box::new(Expr::Local(0)),
                        Box::new(Expr::Const(limit)),
                    ),
                ),
                Stmt::If(Expr::Local(0), vec![child], vec![]),
            ],
            ret: vec![Expr::Local(params + 1)],
            recursive: true,
        }
    }

    fn recursive(&mut self, f: u32, params: u32) -> Func {
        // Depth comes from parameter 0, clamped to keep the recursion bounded.
        let limit = if self.rng.chance(1, 5) { 3000 } else { 40 };
        let mut body = vec![Stmt::Set(
            0,
            Expr::Bin(
                "rem_u",
                Box::new(Expr::Local(0)),
                Box::new(Expr::Const(limit)),
            ),
        )];
        let mut inner = self.block(f, params, 1, 3);
        let mut args = vec![Expr::Bin(
            "sub",
            Box::new(Expr::Local(0)),
            Box::new(Expr::Const(1)),
        )];
        args.extend((1..params).map(|_| self.expr(f, params, 2)));
        inner.push(Stmt::Set(params, Expr::Call(f, args)));
        body.push(Stmt::If(Expr::Local(0), inner, self.block(f, params, 1, 2)));
        Func {
            params,
            results: 1,
            locals: EXTRA,
            cfg: None,
            body,
            ret: vec![Expr::Local(params)],
            recursive: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_programs_are_valid_and_deterministic() {
        for i in 0..500 {
            let text = render(&program(&mut Rng::for_item(7, i)));
            assert_eq!(text, render(&program(&mut Rng::for_item(7, i))));
            if let Err(e) = rarvm::Program::from_source(&text, "gen") {
                panic!("program {i} is invalid: {e}\n{text}");
            }
        }
    }

    #[test]
    fn shrinking_keeps_programs_valid() {
        let p = program(&mut Rng::for_item(3, 11));
        for q in p.shrink() {
            let text = render(&q);
            rarvm::Program::from_source(&text, "shrunk").unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
    }
}
