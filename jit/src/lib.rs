//! rarvm's Cranelift JIT: native code for process code, indistinguishable from the
//! reference interpreter down to every gas unit and every image byte.
//!
//! [`Jit`] implements [`rarvm_runtime::Engine`]. Each bytecode function becomes one native
//! function (see `translate.rs`) that can be entered at any block start from the canonical
//! process state, keeps locals and operands in registers, charges each block's gas with one
//! subtraction and checks the fuel once per acyclic region (see `gas.rs`), calls other native functions directly through a per-module table,
//! and leaves native code — writing back exactly the interpreter's state — at `recurse`,
//! `yield`, `halt`, the entry function's `ret`, faults, and whenever gas or memory runs
//! out. Process-tree and bulk-memory instructions call the runtime's shared semantics
//! through `extern "C"` helpers.
//!
//! Compilation is earned (see `tier.rs`): a function is compiled once the interpreter has
//! charged gas in it in proportion to what compiling it costs, so a program cannot make the
//! host compile more than its gas pays for. [`Mode::Jit`] compiles as soon as that allows,
//! [`Mode::Auto`] only what is clearly hot; both compile one function at a time, when it
//! runs, and hand over at its entry points (function entries, call continuations, loop
//! headers). Native code is cached by a hash of each function's code and the signatures it
//! calls, so every process running the same code — the many children of the sandbox-call
//! pattern, or equal modules loaded from bytes — shares one compilation; the cache is
//! bounded in bytes and frees the executable memory of what it evicts (`cache.rs`).
//!
//! # Example
//! ```
//! use rarvm_jit::{Jit, Mode};
//! use rarvm_runtime::{asm, machine, process::{Process, Status}};
//!
//! let src = "func main(n) -> 1 locals(acc)\ntop:\n local.get n\n jz done\n local.get acc\n local.get n\n add\n local.set acc\n local.get n\n push 1\n sub\n local.set n\n jmp top\ndone:\n local.get acc\n ret\nend\n";
//! let module = asm::assemble_verified(src, "sum.rasm").unwrap();
//! let mut root = Box::new(Process::new(module, 0));
//! root.port.push(100_000);
//! let mut jit = Jit::new(Mode::Jit).unwrap();
//! let root = machine::run(root, &mut jit, 10_000_000, 1 << 20);
//! assert_eq!((root.status, root.port.as_slice()), (Status::Returned, &[5_000_050_000][..]));
//! // The loop earned its compilation after a few thousand interpreted iterations.
//! assert_eq!(jit.stats().compiled, 1);
//! ```

mod abi;
mod backend;
mod cache;
mod enter;
mod gas;
mod tier;
mod translate;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rarvm_runtime::engine::{Budget, Engine, Exit};
use rarvm_runtime::process::Process;
use rarvm_runtime::verify::VerifiedModule;

use abi::{FrameRecord, Reason};
use backend::Backend;
pub use cache::DEFAULT_CODE_LIMIT;
use cache::{code_key, lock, module_state, CodeCache, ModuleCode, ModuleState};
pub use tier::{AUTO_RATE, FUNC_COMPILE_COST, JIT_RATE, MAX_COMPILE_COST};

/// How eagerly functions are compiled (both only once compilation is earned: see the
/// crate documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// As soon as a function has earned its compile ([`JIT_RATE`]).
    Jit,
    /// Only functions that are clearly hot ([`AUTO_RATE`]).
    Auto,
}

/// Host stack kept free below native code for the helpers it calls.
const STACK_RESERVE: usize = 64 * 1024;
/// Host stack assumed when the thread's limit cannot be read.
const STACK_FALLBACK: usize = 256 * 1024;

/// What the engine did, for `--jit-stats`. Never influences results.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Functions compiled (cache hits excluded).
    pub compiled: u64,
    /// Their compile cost, in the units of [`MAX_COMPILE_COST`].
    pub compile_cost: u64,
    /// Functions whose code was found in the cache.
    pub cache_hits: u64,
    /// Functions too large to compile, left to the interpreter.
    pub too_large: u64,
    /// Compiled functions evicted from the cache (their memory freed).
    pub evicted: u64,
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
            "jit: {} functions compiled in {:.3} ms ({} cache hits, {} too large, {} evicted); {} native entries, {} returns to the runtime, {} interpreter runs; exits:",
            self.compiled,
            self.compile_time.as_secs_f64() * 1e3,
            self.cache_hits,
            self.too_large,
            self.evicted,
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

/// The JIT engine.
pub struct Jit {
    /// Distinguishes this engine's native tables in modules' engine data.
    id: u64,
    mode: Mode,
    /// Gas a function must spend interpreted per unit of its compile cost.
    rate: u64,
    metered: bool,
    backend: Backend,
    cache: CodeCache,
    /// The module run last and its tables: most runs continue the same one.
    last: Option<(Arc<VerifiedModule>, Arc<ModuleState>)>,
    frames: Vec<FrameRecord>,
    stats: Stats,
}

impl Jit {
    /// A JIT for the host's architecture.
    ///
    /// # Errors
    /// The host has no Cranelift backend (only x86-64 and aarch64 are built in).
    pub fn new(mode: Mode) -> Result<Jit, String> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Ok(Jit {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            mode,
            rate: match mode {
                Mode::Jit => JIT_RATE,
                Mode::Auto => AUTO_RATE,
            },
            metered: true,
            backend: Backend::new()?,
            cache: CodeCache::new(),
            last: None,
            frames: Vec::new(),
            stats: Stats::default(),
        })
    }

    /// A JIT for trusted code that charges no gas for blocks and calls (instructions with
    /// data-dependent costs still charge theirs, and code the interpreter runs before it is
    /// compiled is charged as usual). Everything but the gas counters is what the metered
    /// engines produce; it exists to measure what metering costs.
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

    /// Sets the gas a function must have spent interpreted per unit of its compile cost
    /// before it is compiled (default [`JIT_RATE`] or [`AUTO_RATE`] by mode). Rate 0
    /// compiles every function the first time it runs: tests use it to hand over between
    /// the engines as often as possible. Below the default, compiling is no longer bounded
    /// by the gas a program pays, so only trusted code should run with it.
    pub fn set_compile_rate(&mut self, gas_per_cost: u64) {
        self.rate = gas_per_cost;
    }

    /// Sets how many bytes of executable memory the engine keeps (default
    /// [`DEFAULT_CODE_LIMIT`]); the least recently used code beyond it is freed.
    pub fn set_code_limit(&mut self, bytes: usize) {
        self.cache.limit = bytes;
    }

    /// Bytes of executable memory the engine holds now.
    pub fn code_bytes(&self) -> usize {
        self.cache.bytes()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The native tables of `module` on this engine.
    fn state(&mut self, module: &Arc<VerifiedModule>) -> Arc<ModuleState> {
        if let Some((m, s)) = &self.last {
            if Arc::ptr_eq(m, module) {
                return Arc::clone(s);
            }
        }
        let (state, created) = module_state(module, self.id, || {
            (0..module.func_count())
                .map(|f| tier::compile_cost(module, f))
                .collect()
        });
        if created {
            self.stats.too_large += lock(&state).cost.iter().filter(|c| c.is_none()).count() as u64;
        }
        self.last = Some((Arc::clone(module), Arc::clone(&state)));
        state
    }

    /// True if function `f` is not compiled but has earned it: its heat is at least the
    /// rate times its compile cost.
    fn earned(&self, code: &ModuleCode, f: u32) -> bool {
        !code.compiled(f)
            && code.cost[f as usize]
                .is_some_and(|cost| code.heat[f as usize] >= self.rate.saturating_mul(cost))
    }

    /// Compiles function `f` of `module` (from the cache where possible) into `code`, the
    /// locked tables `state` holds. A function Cranelift refuses stays interpreted.
    fn compile(
        &mut self,
        module: &Arc<VerifiedModule>,
        state: &Arc<ModuleState>,
        code: &mut ModuleCode,
        f: u32,
    ) {
        if code.compiled(f) {
            return;
        }
        let Some(cost) = code.cost[f as usize] else {
            return;
        };
        let key = code_key(module, f, self.metered);
        if self.cache.install_cached(key, state, code, f) {
            self.stats.cache_hits += 1;
            return;
        }
        let start = Instant::now();
        let result = self.backend.compile(module, f, self.metered);
        self.stats.compile_time += start.elapsed();
        match result {
            Ok(compiled) => {
                self.cache.insert(key, compiled, state, code, f);
                self.stats.compiled += 1;
                self.stats.compile_cost += cost;
                self.stats.evicted = self.cache.evicted;
            }
            // Stay interpreted: identical semantics, only slower.
            Err(_) => code.cost[f as usize] = None,
        }
    }
}

impl Engine for Jit {
    fn run(&mut self, leaf: &mut Process, budget: &mut Budget) -> Exit {
        let module = Arc::clone(&leaf.module);
        let state = self.state(&module);
        let mut code = lock(&state);
        loop {
            let top = *leaf.frames.last().expect("a running process has a frame");
            if self.earned(&code, top.func) {
                // Entered from the runtime (a call native code could not make, a resume):
                // the interpreter's entry hook did not see it.
                self.compile(&module, &state, &mut code, top.func);
            }
            let step = if code.enterable(top.func, top.pc, budget.fuel) {
                self.native(leaf, budget, &state, &mut code)
            } else {
                self.interpret(leaf, budget, &module, &state, &mut code)
            };
            if let Some(exit) = step {
                return exit;
            }
        }
    }
}
