//! rarvm's Cranelift JIT: native code for process code, indistinguishable from the
//! reference interpreter down to every gas unit and every image byte.
//!
//! [`Jit`] implements [`rarvm_runtime::Engine`]. Each bytecode function becomes one native
//! function (see `translate.rs`) that can be entered at any block start from the canonical
//! process state, keeps locals and operands in registers, charges each block's gas with one
//! compare-and-branch, calls other native functions directly through a per-module table,
//! and leaves native code — writing back exactly the interpreter's state — at `recurse`,
//! `yield`, `halt`, the entry function's `ret`, faults, and whenever gas or memory runs
//! out. Process-tree and bulk-memory instructions call the runtime's shared semantics
//! through `extern "C"` helpers.
//!
//! In [`Mode::Jit`] every function of a module is compiled before it first runs. In
//! [`Mode::Auto`] the interpreter runs first and hands over to native code at block starts
//! of functions that became hot (call and back-edge counters, which never influence
//! semantics or gas). Native code is cached by a hash of each function's code and the
//! signatures it calls, so every process running the same code — the many children of
//! the sandbox-call pattern, or equal modules loaded from bytes — shares one compilation.
//!
//! # Example
//! ```
//! use rarvm_jit::{Jit, Mode};
//! use rarvm_runtime::{asm, machine, process::{Process, Status}};
//!
//! let src = "func main(n) -> 1 locals(acc)\ntop:\n local.get n\n jz done\n local.get acc\n local.get n\n add\n local.set acc\n local.get n\n push 1\n sub\n local.set n\n jmp top\ndone:\n local.get acc\n ret\nend\n";
//! let module = asm::assemble_verified(src, "sum.rasm").unwrap();
//! let mut root = Box::new(Process::new(module, 0));
//! root.port.push(1000);
//! let mut jit = Jit::new(Mode::Jit).unwrap();
//! let root = machine::run(root, &mut jit, 1_000_000, 1 << 20);
//! assert_eq!((root.status, root.port.as_slice()), (Status::Returned, &[500500][..]));
//! assert_eq!(jit.stats().compiled, 1);
//! ```

mod abi;
mod backend;
mod translate;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rarvm_interp::{Outcome, Tiering};
use rarvm_runtime::engine::{Budget, Engine, Exit};
use rarvm_runtime::isa::Instr;
use rarvm_runtime::limits::MAX_CALL_DEPTH;
use rarvm_runtime::module::encode_code;
use rarvm_runtime::process::{Fault, Frame, Process};
use rarvm_runtime::sys;
use rarvm_runtime::verify::VerifiedModule;

use abi::{Ctx, FrameRecord, NativeFn, Reason, FUEL_CAP, FUEL_EXIT};
use backend::{Backend, Compiled};

/// When functions are compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every function of a module, before any of it runs.
    Jit,
    /// Functions that become hot while the interpreter runs them.
    Auto,
}

/// Heat a call adds to its callee in [`Mode::Auto`].
const CALL_HEAT: u32 = 10;
/// Heat at which a function is compiled by default: 100 calls, or 1,000 loop iterations.
pub const DEFAULT_HOT: u32 = 1_000;
/// Most words a function's exit stubs and entry dispatch may store and load in total. Above
/// this, code size (and Cranelift's time) would grow like locals × exit points or stack
/// height × length: such a function stays in the interpreter, where it costs nothing extra.
const MAX_COMPILE_COST: u64 = 400_000;
/// Most locals a compiled function may have.
const MAX_COMPILE_LOCALS: u32 = 4096;

/// Host stack kept free below native code for the helpers it calls.
const STACK_RESERVE: usize = 64 * 1024;
/// Host stack assumed when the thread's limit cannot be read.
const STACK_FALLBACK: usize = 256 * 1024;

/// What the engine did, for `--jit-stats`. Never influences results.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Functions compiled (cache hits excluded).
    pub compiled: u64,
    /// Functions whose code was found in the cache.
    pub cache_hits: u64,
    /// Functions too large to compile, left to the interpreter.
    pub too_large: u64,
    pub compile_time: Duration,
    /// Times native code was entered from the runtime.
    pub native_entries: u64,
    /// Native frames entered by the runtime that returned to it.
    pub native_returns: u64,
    /// Native exits, by [`Reason`] (index `reason - 1`).
    pub exits: [u64; Reason::ALL.len()],
    /// Times the interpreter ran in between.
    pub interp_runs: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "jit: {} functions compiled in {:.3} ms ({} cache hits, {} too large); {} native entries, {} returns to the runtime, {} interpreter runs; exits:",
            self.compiled,
            self.compile_time.as_secs_f64() * 1e3,
            self.cache_hits,
            self.too_large,
            self.native_entries,
            self.native_returns,
            self.interp_runs,
        )?;
        let mut any = false;
        for r in Reason::ALL {
            let n = self.exits[r as usize - 1];
            if n > 0 {
                write!(f, " {} {n}", r.name())?;
                any = true;
            }
        }
        if !any {
            write!(f, " none")?;
        }
        Ok(())
    }
}

/// Native code for one module: an entry per function.
struct ModuleCode {
    /// Keeps the module alive, so its address identifies it for as long as this entry lives.
    module: Arc<VerifiedModule>,
    table: Vec<*const u8>,
    compiled: Vec<bool>,
    /// Host stack of each compiled function's frame, and the largest.
    native_frame: Vec<u32>,
    max_native_frame: u32,
    /// The most words any function's frame reserves, and the fewest bytes any is charged.
    max_frame_words: u32,
    min_frame_bytes: u64,
    /// Functions that are not compiled (too large, or Cranelift refused them) stay
    /// interpreted.
    failed: Vec<bool>,
    heat: Vec<u32>,
}

impl ModuleCode {
    fn install(&mut self, f: u32, c: Compiled) {
        let f = f as usize;
        self.table[f] = c.code;
        self.compiled[f] = true;
        self.native_frame[f] = c.frame;
        self.max_native_frame = self.max_native_frame.max(c.frame);
    }
}

/// The JIT engine.
pub struct Jit {
    mode: Mode,
    hot: u32,
    metered: bool,
    backend: Backend,
    cache: HashMap<[u8; 32], Compiled>,
    modules: BTreeMap<usize, ModuleCode>,
    prune_at: usize,
    frames: Vec<FrameRecord>,
    stats: Stats,
}

// SAFETY: the raw pointers are entries into executable memory owned by `backend`, which
// moves with the engine; nothing in the engine is shared between threads.
unsafe impl Send for Jit {}

/// Whether function `f` is small enough to compile: the words its native code would move at
/// exits and entries, summed over every point where it can leave or enter, stay bounded.
fn compilable(m: &VerifiedModule, f: u32) -> bool {
    let func = m.func(f);
    let info = m.info(f);
    let locals = u64::from(func.local_count());
    if func.local_count() > MAX_COMPILE_LOCALS {
        return false;
    }
    let mut cost = func.code.len() as u64;
    for (pc, ins) in func.code.iter().enumerate() {
        let h = info.height[pc];
        if h == rarvm_runtime::verify::UNREACHABLE {
            continue;
        }
        // Every leader is an entry (loads) and may charge (an exit); most instructions
        // other than plain stack and arithmetic ones can leave.
        let exits = u64::from(info.leader[pc]) * 2
            + u64::from(ins.info().flow != rarvm_runtime::isa::Flow::Next)
            + u64::from(!matches!(
                ins.info().stack,
                rarvm_runtime::isa::StackEffect::Fixed { .. }
            ))
            + 1;
        cost = cost.saturating_add(exits.saturating_mul(locals + u64::from(h)));
        if cost > MAX_COMPILE_COST {
            return false;
        }
    }
    true
}

/// A key for compiled code: everything native code for function `f` depends on — its code,
/// signature and index (frame records and direct recursive calls name it), and the
/// signatures and frame sizes of the functions it calls.
fn code_key(m: &VerifiedModule, f: u32, metered: bool) -> [u8; 32] {
    let func = m.func(f);
    let mut h = blake3::Hasher::new();
    h.update(&[u8::from(metered)]);
    h.update(&f.to_le_bytes());
    h.update(&encode_code(func));
    for v in [func.params, func.results, func.locals] {
        h.update(&v.to_le_bytes());
    }
    for ins in &func.code {
        if let Instr::Call(c) = ins {
            let (cf, ci) = (m.func(*c), m.info(*c));
            for v in [cf.params, cf.results, cf.locals, ci.frame_words] {
                h.update(&v.to_le_bytes());
            }
        }
    }
    *h.finalize().as_bytes()
}

impl Jit {
    /// A JIT for the host's architecture.
    ///
    /// # Errors
    /// The host has no Cranelift backend (only x86-64 and aarch64 are built in).
    pub fn new(mode: Mode) -> Result<Jit, String> {
        Ok(Jit {
            mode,
            hot: DEFAULT_HOT,
            metered: true,
            backend: Backend::new()?,
            cache: HashMap::new(),
            modules: BTreeMap::new(),
            prune_at: 64,
            frames: Vec::new(),
            stats: Stats::default(),
        })
    }

    /// A JIT for trusted code that does not charge gas for blocks and calls (instructions
    /// with data-dependent costs still charge theirs). Everything but the gas counters is
    /// what the metered engines produce; it exists to measure what metering costs.
    ///
    /// # Errors
    /// As [`Jit::new`].
    pub fn unmetered(mode: Mode) -> Result<Jit, String> {
        let mut jit = Jit::new(mode)?;
        jit.metered = false;
        Ok(jit)
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn is_metered(&self) -> bool {
        self.metered
    }

    /// Sets the heat at which [`Mode::Auto`] compiles a function (a call adds 10, a loop
    /// iteration 1). Threshold 1 compiles at the first call or back edge: tests use it to
    /// hand over between the engines as often as possible.
    pub fn set_hot_threshold(&mut self, heat: u32) {
        self.hot = heat.max(1);
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The native code of `module`, creating its table (and in [`Mode::Jit`] compiling it).
    fn module_code(&mut self, module: &Arc<VerifiedModule>) -> usize {
        let key = Arc::as_ptr(module) as usize;
        if self.modules.contains_key(&key) {
            return key;
        }
        if self.modules.len() >= self.prune_at {
            // Forget modules no process uses any more.
            self.modules
                .retain(|_, mc| Arc::strong_count(&mc.module) > 1);
            self.prune_at = (2 * self.modules.len()).max(64);
        }
        let n = module.func_count() as usize;
        self.modules.insert(
            key,
            ModuleCode {
                module: Arc::clone(module),
                table: vec![abi::not_compiled as *const u8; n],
                compiled: vec![false; n],
                native_frame: vec![0; n],
                max_native_frame: 0,
                max_frame_words: (0..n as u32)
                    .map(|f| module.info(f).frame_words)
                    .max()
                    .unwrap_or(0)
                    .max(1),
                min_frame_bytes: (0..n as u32)
                    .map(|f| module.info(f).frame_bytes)
                    .min()
                    .unwrap_or(16),
                failed: vec![false; n],
                heat: vec![0; n],
            },
        );
        if self.mode == Mode::Jit {
            let all: Vec<u32> = (0..n as u32).collect();
            self.compile(key, &all);
        }
        key
    }

    /// Compiles `funcs` of module `key` (from the cache where possible).
    fn compile(&mut self, key: usize, funcs: &[u32]) {
        let mc = self.modules.get_mut(&key).expect("module registered");
        let m = Arc::clone(&mc.module);
        let mut missing = Vec::new();
        let mut keys = Vec::new();
        for &f in funcs {
            if mc.compiled[f as usize] || mc.failed[f as usize] {
                continue;
            }
            if !compilable(&m, f) {
                mc.failed[f as usize] = true;
                self.stats.too_large += 1;
                continue;
            }
            let k = code_key(&m, f, self.metered);
            match self.cache.get(&k) {
                Some(&c) => {
                    mc.install(f, c);
                    self.stats.cache_hits += 1;
                }
                None => {
                    missing.push(f);
                    keys.push(k);
                }
            }
        }
        if missing.is_empty() {
            return;
        }
        let start = Instant::now();
        let result = self.backend.compile(&m, &missing, self.metered);
        self.stats.compile_time += start.elapsed();
        let mc = self.modules.get_mut(&key).expect("module registered");
        match result {
            Ok(code) => {
                for ((f, k), c) in missing.into_iter().zip(keys).zip(code) {
                    self.cache.insert(k, c);
                    mc.install(f, c);
                    self.stats.compiled += 1;
                }
            }
            Err(_) => {
                // Stay interpreted: identical semantics, only slower.
                for f in missing {
                    mc.failed[f as usize] = true;
                }
            }
        }
    }

    /// Runs the top frame natively from its pc. Returns an exit for the machine, or `None`
    /// to continue with the (new) top frame.
    fn native(&mut self, p: &mut Process, b: &mut Budget, key: usize) -> Option<Exit> {
        let top = *p.frames.last().expect("a running process has a frame");
        let entered = p.frames.len() - 1;
        let mc = &self.modules[&key];
        let info = mc.module.info(top.func);
        debug_assert!(
            info.is_block_start(top.pc),
            "native code is entered at block starts only"
        );
        // Value-stack room for the entered frame and a few dozen native calls, within what
        // the process's memory headroom could hold as frames anyway.
        let frame_end = top.base as usize + info.frame_words as usize;
        let ahead = (64 * mc.max_frame_words as usize)
            .min(usize::try_from(b.mem / 8).unwrap_or(usize::MAX))
            .min(1 << 20);
        if p.stack.capacity() < frame_end + ahead {
            p.stack.reserve(frame_end + ahead - p.stack.len());
        }
        // Host stack for native recursion: what the thread has left, minus a reserve.
        let room = stacker::remaining_stack()
            .unwrap_or(STACK_FALLBACK)
            .saturating_sub(STACK_RESERVE);
        if mc.native_frame[top.func as usize] as usize > room {
            // Not even this frame fits on the host stack: the interpreter needs none.
            return self.interpret(p, b, key);
        }
        // Native calls within `struct_limit` frame bytes stay inside the frame limit, the
        // value stack's limit and capacity, and the host stack: there are at most
        // `struct_limit / min_frame_bytes` of them, each reserving at most `max_frame_words`
        // words and `max_native_frame` bytes of host stack.
        let by_depth = MAX_CALL_DEPTH.saturating_sub(p.frames.len());
        let by_stack = room / mc.max_native_frame.max(1) as usize;
        let words = p
            .stack
            .capacity()
            .min(rarvm_runtime::limits::MAX_STACK_WORDS);
        let by_words = words.saturating_sub(frame_end) / mc.max_frame_words as usize;
        let frames_ok = by_depth.min(by_stack).min(by_words) as u64;
        let struct_limit = frames_ok.saturating_mul(mc.min_frame_bytes);
        if self.frames.is_empty() {
            self.frames = vec![FrameRecord::default(); MAX_CALL_DEPTH];
        }
        let stack_base = p.stack.as_mut_ptr();
        // SAFETY: `top.base` is within the value stack (a frame starts at or below its length).
        let vals = unsafe { stack_base.add(top.base as usize) };
        // Native fuel stays below the exit sentinels; the rest waits in reserve.
        let reserve = b.fuel.saturating_sub(FUEL_CAP);
        let mut ctx = Ctx {
            fuel: b.fuel - reserve,
            mem: b.mem,
            gas_extra: b.gas_extra + reserve,
            mem_extra: b.mem_extra,
            stack_base,
            mem_base: p.memory.as_mut_ptr(),
            mem_size: p.memory.len() as u64,
            used_limit: struct_limit.min(b.mem),
            struct_limit,
            table: mc.table.as_ptr(),
            frames: self.frames.as_mut_ptr(),
            entered_is_entry: u64::from(entered == 0),
            process: p as *mut Process,
            used: 0,
            exit_reason: 0,
            exit_arg: 0,
            exit_sp: 0,
            exit_frames: 0,
            out: [0; 2],
        };
        let code = mc.table[top.func as usize];
        // SAFETY: `code` is native code compiled by our backend for this module's function
        // `top.func` with signature `NativeFn`. `ctx` describes `p`, which native code and
        // the helpers it calls access only through `ctx` until it returns; the value stack
        // has capacity for the entered frame, `top.pc` is a block start (a canonical resume
        // point), and `vals` holds that frame's canonical words.
        let result = unsafe {
            let f: NativeFn = std::mem::transmute::<*const u8, NativeFn>(code);
            f(&mut ctx, vals, u64::from(top.pc) + 1, 0, ctx.fuel)
        };
        self.stats.native_entries += 1;
        let exited = result.fuel == FUEL_EXIT;
        if !exited {
            // Every native frame returned: nothing is outstanding.
            ctx.fuel = result.fuel;
            ctx.used = 0;
        }
        *b = ctx.budget();
        b.fuel += reserve;
        b.gas_extra -= reserve;
        let results = mc.module.func(top.func).results as usize;
        if !exited {
            // The entered frame returned to a caller that is not native: finish the
            // return as the interpreter does.
            self.stats.native_returns += 1;
            // SAFETY: native `ret` wrote results 1.. at `vals[1..results]` and returned the
            // first, written here; the words below `top.base` were already initialized, and
            // the capacity covers the entered frame, which holds at least its results.
            unsafe {
                if results > 0 {
                    vals.write(result.result0);
                }
                p.stack.set_len(top.base as usize + results);
            }
            p.frames.pop();
            b.refund_mem(info.frame_bytes);
            return None;
        }
        // Records are innermost first; the last is the entered frame.
        let records = &self.frames[..ctx.exit_frames as usize];
        p.frames.truncate(entered);
        p.frames.extend(records.iter().rev().map(|r| Frame {
            func: r.func as u32,
            pc: r.pc as u32,
            base: r.base as u32,
        }));
        let reason = Reason::from_u64(ctx.exit_reason).expect("native code writes a known reason");
        if reason == Reason::NotCompiled {
            // The callee's locals beyond its arguments were not written: zero them.
            let callee = *p.frames.last().expect("the callee's frame");
            let f = mc.module.func(callee.func);
            let from = callee.base as usize + f.params as usize;
            let to = callee.base as usize + f.local_count() as usize;
            // SAFETY: `to <= exit_sp <= capacity` (the callee's locals end at `exit_sp`), so
            // the range lies in the value stack's allocation.
            unsafe { std::ptr::write_bytes(stack_base.add(from), 0, to - from) };
        }
        // SAFETY: every exiting native frame wrote all its locals and operands (a callee
        // that was not compiled has its arguments written by its caller and its other locals
        // zeroed just above), and the frames are contiguous from the entered frame's base to
        // `exit_sp`; the words below were initialized before the entry.
        unsafe { p.stack.set_len(ctx.exit_sp as usize) };
        self.stats.exits[reason as usize - 1] += 1;
        let arg = ctx.exit_arg;
        match reason {
            // Out of native fuel with more in reserve: continue from the block start.
            Reason::OutOfGas if arg <= b.fuel => None,
            Reason::OutOfGas => Some(Exit::OutOfGas(arg)),
            Reason::OutOfMemory => Some(Exit::OutOfMemory(arg)),
            Reason::Fault => Some(Exit::Fault(
                Fault::from_u8(arg as u8).expect("native code writes a fault code"),
            )),
            Reason::Yield => Some(Exit::Yield),
            Reason::Halt => Some(Exit::Halt),
            Reason::Recurse => Some(Exit::Recurse),
            Reason::Invoke => Some(Exit::Invoke),
            Reason::Fold => Some(Exit::Fold),
            Reason::RetEntry => Some(match sys::return_from_entry(p, b) {
                Ok(()) => Exit::Return,
                Err(f) => Exit::Fault(f),
            }),
            // The interpreter executes the call with exact checks (growing the value stack
            // as needed) and hands back at the callee's entry, on a fresh host stack budget.
            Reason::Recheck => self.interpret(p, b, key),
            Reason::NotCompiled => None,
        }
    }

    /// Runs the interpreter until it stops or hands over to native code.
    fn interpret(&mut self, p: &mut Process, b: &mut Budget, key: usize) -> Option<Exit> {
        self.stats.interp_runs += 1;
        match rarvm_interp::run(p, b, &mut Policy { jit: self, key }) {
            Outcome::Exit(e) => Some(e),
            Outcome::HandOver => None,
        }
    }
}

/// The tiering policy of [`Mode::Auto`]: counts calls and back edges, compiles hot
/// functions, and hands over at block starts of compiled ones.
struct Policy<'a> {
    jit: &'a mut Jit,
    key: usize,
}

impl Tiering for Policy<'_> {
    fn enter(&mut self, func: u32, _pc: u32, backward: bool) -> bool {
        let mc = self
            .jit
            .modules
            .get_mut(&self.key)
            .expect("module registered");
        let f = func as usize;
        if mc.compiled[f] {
            return true;
        }
        if mc.failed[f] {
            return false;
        }
        mc.heat[f] = mc.heat[f].saturating_add(if backward { 1 } else { CALL_HEAT });
        if mc.heat[f] < self.jit.hot {
            return false;
        }
        self.jit.compile(self.key, &[func]);
        self.jit.modules[&self.key].compiled[f]
    }
}

impl Engine for Jit {
    fn run(&mut self, leaf: &mut Process, budget: &mut Budget) -> Exit {
        let key = self.module_code(&leaf.module);
        loop {
            let top = leaf
                .frames
                .last()
                .expect("a running process has a frame")
                .func as usize;
            let step = if self.modules[&key].compiled[top] {
                self.native(leaf, budget, key)
            } else {
                self.interpret(leaf, budget, key)
            };
            if let Some(exit) = step {
                return exit;
            }
        }
    }
}
