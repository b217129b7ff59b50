//! Compiled code and where it is kept.
//!
//! Each compiled function is a [`Code`]: executable memory of its own, freed when the last
//! reference to it goes. Code is found by a hash of everything it depends on
//! ([`code_key`]), so every process and module running the same code — the many children
//! of the sandbox-call pattern, equal modules loaded from bytes — shares one compilation.
//!
//! Two places hold code:
//!
//! - a module's native tables ([`ModuleCode`]), kept in the module's engine data (one per
//!   engine that runs it), which native calls read; they die with the module;
//! - the engine's [`CodeCache`], bounded in bytes. Every compiled function is in the cache;
//!   when it is full, the least recently used code is evicted: taken out of every module
//!   table that installed it (those functions run interpreted again, until they earn their
//!   compile anew) and its memory freed. So the host holds at most the cache's limit of
//!   executable memory for a process tree, however much code it brings.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};

use cranelift_jit::JITModule;
use rarvm_runtime::isa::Instr;
use rarvm_runtime::module::encode_code;
use rarvm_runtime::verify::VerifiedModule;

use crate::abi::{self, FUEL_CAP};
use crate::gas::NOT_ENTRY;

/// One compiled function.
pub(crate) struct Code {
    /// Owns the executable memory; freed on drop.
    module: Option<JITModule>,
    /// Its native entry.
    pub entry: *const u8,
    /// An upper bound of the host stack its frame takes.
    pub frame: u32,
    /// Bytes of memory it holds (code rounded to pages).
    pub bytes: usize,
    /// The fuel entering at each block start needs, or [`NOT_ENTRY`] (see [`crate::gas`]).
    pub entries: Box<[u64]>,
}

// SAFETY: after finalization the code is immutable; `module` is touched only by `drop`,
// which has exclusive access. The entry pointer is shared read-only.
unsafe impl Send for Code {}
// SAFETY: as above: no method reads or writes `module` through a shared reference.
unsafe impl Sync for Code {}

impl Code {
    pub fn new(
        module: JITModule,
        entry: *const u8,
        frame: u32,
        bytes: usize,
        entries: Box<[u64]>,
    ) -> Code {
        Code {
            module: Some(module),
            entry,
            frame,
            bytes,
            entries,
        }
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: the last reference to this code is gone: no module table points to it
            // (eviction resets them before dropping its reference, and a table dies with its
            // module), and no native frame runs it (code is dropped only outside native code).
            unsafe { module.free_memory() };
        }
    }
}

/// A module's native code on one engine: an entry per function (the stand-in
/// [`abi::not_compiled`] until the function is compiled), and what tiering knows.
pub(crate) struct ModuleCode {
    /// Native entries, read by native calls through `Ctx::table`.
    pub table: Vec<*const u8>,
    pub code: Vec<Option<Arc<Code>>>,
    /// Gas the interpreter charged while running each function (see [`crate::tier`]).
    pub heat: Vec<u64>,
    /// What compiling each function costs; `None` if it stays interpreted.
    pub cost: Vec<Option<u64>>,
    /// Host stack of the largest compiled frame.
    pub max_native_frame: u32,
    /// The most words any function's frame reserves, and the fewest bytes any is charged.
    pub max_frame_words: u32,
    pub min_frame_bytes: u64,
}

// SAFETY: the raw pointers are entries into code kept alive by `code` (or the stand-in,
// a function of this crate); they are only read, by native code of the engine that owns
// this table, which holds its lock while native code runs.
unsafe impl Send for ModuleCode {}

impl ModuleCode {
    fn new(m: &VerifiedModule, cost: Vec<Option<u64>>) -> ModuleCode {
        let n = m.func_count() as usize;
        debug_assert_eq!(cost.len(), n);
        ModuleCode {
            table: vec![abi::not_compiled as *const u8; n],
            code: vec![None; n],
            heat: vec![0; n],
            cost,
            max_native_frame: 0,
            max_frame_words: (0..n as u32)
                .map(|f| m.info(f).frame_words)
                .max()
                .unwrap_or(0)
                .max(1),
            min_frame_bytes: (0..n as u32)
                .map(|f| m.info(f).frame_bytes)
                .min()
                .unwrap_or(16),
        }
    }

    pub fn compiled(&self, f: u32) -> bool {
        self.code[f as usize].is_some()
    }

    /// True if native code of `f` is compiled, can be entered at `pc`, and `fuel` covers
    /// the gas region there (else native code would leave again at once: see
    /// [`crate::gas`]).
    pub fn enterable(&self, f: u32, pc: u32, fuel: u64) -> bool {
        self.code[f as usize].as_ref().is_some_and(|c| {
            let need = c.entries[pc as usize];
            // Native code is given at most `FUEL_CAP` at a time.
            need != NOT_ENTRY && fuel.min(FUEL_CAP) >= need
        })
    }

    fn install(&mut self, f: u32, code: &Arc<Code>) {
        let f = f as usize;
        self.table[f] = code.entry;
        self.max_native_frame = self.max_native_frame.max(code.frame);
        self.code[f] = Some(Arc::clone(code));
    }

    fn uninstall(&mut self, f: u32) {
        let f = f as usize;
        self.table[f] = abi::not_compiled as *const u8;
        self.code[f] = None;
        self.heat[f] = 0;
    }
}

/// A module's native code on one engine, shared between the module (its engine data) and
/// the engine's cache (to uninstall evicted code).
pub(crate) type ModuleState = Mutex<ModuleCode>;

/// What the JIT keeps in a module's engine data: one [`ModuleCode`] per engine that ran it.
#[derive(Default)]
struct PerEngine(Mutex<Vec<(u64, Arc<ModuleState>)>>);

/// The native tables of `m` on the engine numbered `engine`, and whether they were just
/// created; `cost` gives each function's compile cost when they are.
pub(crate) fn module_state(
    m: &Arc<VerifiedModule>,
    engine: u64,
    cost: impl FnOnce() -> Vec<Option<u64>>,
) -> (Arc<ModuleState>, bool) {
    let slots = m.engine_data(|_| PerEngine::default());
    let mut slots = slots.0.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, s)) = slots.iter().find(|(id, _)| *id == engine) {
        return (Arc::clone(s), false);
    }
    let state = Arc::new(Mutex::new(ModuleCode::new(m, cost())));
    slots.push((engine, Arc::clone(&state)));
    (state, true)
}

/// Locks a module's state, ignoring poisoning (a panic cannot leave it inconsistent: every
/// change to it is a single assignment).
pub(crate) fn lock(state: &ModuleState) -> std::sync::MutexGuard<'_, ModuleCode> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A key for compiled code: everything native code for function `f` depends on — its code,
/// signature and index (frame records and direct recursive calls name it), the metering,
/// and the signatures and frame sizes of the functions it calls.
pub(crate) fn code_key(m: &VerifiedModule, f: u32, metered: bool) -> [u8; 32] {
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

/// Executable memory kept by an engine when it is not told otherwise.
pub const DEFAULT_CODE_LIMIT: usize = 32 << 20;

struct Entry {
    code: Arc<Code>,
    /// When it was last installed or found (the cache's clock).
    used: u64,
    /// Module tables it is installed in.
    users: Vec<(Weak<ModuleState>, u32)>,
}

/// Every function an engine compiled, by [`code_key`], within a limit in bytes.
pub(crate) struct CodeCache {
    entries: HashMap<[u8; 32], Entry>,
    /// Entries by last use, oldest first.
    lru: BTreeMap<u64, [u8; 32]>,
    clock: u64,
    bytes: usize,
    pub limit: usize,
    pub evicted: u64,
}

impl CodeCache {
    pub fn new() -> CodeCache {
        CodeCache {
            entries: HashMap::new(),
            lru: BTreeMap::new(),
            clock: 0,
            bytes: 0,
            limit: DEFAULT_CODE_LIMIT,
            evicted: 0,
        }
    }

    /// Bytes of executable memory held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn touch(&mut self, key: [u8; 32]) -> u64 {
        self.clock += 1;
        if let Some(e) = self.entries.get_mut(&key) {
            self.lru.remove(&e.used);
            e.used = self.clock;
        }
        self.lru.insert(self.clock, key);
        self.clock
    }

    /// Installs the cached code of `key` as function `f` of `table` (whose state is
    /// `state`), if the cache has it.
    pub fn install_cached(
        &mut self,
        key: [u8; 32],
        state: &Arc<ModuleState>,
        table: &mut ModuleCode,
        f: u32,
    ) -> bool {
        let Some(e) = self.entries.get_mut(&key) else {
            return false;
        };
        table.install(f, &e.code);
        e.users.push((Arc::downgrade(state), f));
        self.touch(key);
        true
    }

    /// Adds freshly compiled `code` under `key`, installed as function `f` of `table`, then
    /// evicts the least recently used code until the cache is within its limit.
    pub fn insert(
        &mut self,
        key: [u8; 32],
        code: Code,
        state: &Arc<ModuleState>,
        table: &mut ModuleCode,
        f: u32,
    ) {
        let code = Arc::new(code);
        table.install(f, &code);
        self.bytes += code.bytes;
        self.entries.insert(
            key,
            Entry {
                code,
                used: 0,
                users: vec![(Arc::downgrade(state), f)],
            },
        );
        self.touch(key);
        while self.bytes > self.limit && self.lru.len() > 1 {
            let (_, oldest) = self.lru.pop_first().expect("more than one entry");
            self.evict(oldest, state, table);
        }
    }

    /// Takes the code of `key` out of every table it is installed in and frees it. `table`
    /// is the locked table of `current`, which cannot be locked again.
    fn evict(&mut self, key: [u8; 32], current: &Arc<ModuleState>, table: &mut ModuleCode) {
        let Some(e) = self.entries.remove(&key) else {
            return;
        };
        for (user, f) in &e.users {
            let Some(state) = user.upgrade() else {
                continue;
            };
            let same = |t: &ModuleCode| {
                t.code[*f as usize]
                    .as_ref()
                    .is_some_and(|c| Arc::ptr_eq(c, &e.code))
            };
            if Arc::ptr_eq(&state, current) {
                if same(table) {
                    table.uninstall(*f);
                }
            } else {
                let mut t = lock(&state);
                if same(&t) {
                    t.uninstall(*f);
                }
            }
        }
        self.bytes -= e.code.bytes;
        self.evicted += 1;
        // `e.code` drops here; it frees the memory unless a table still holds it, which the
        // loop above has just ruled out for every live table.
    }
}
