//! The verifier: checks a [`Module`] once and computes what the engines rely on.
//!
//! A [`VerifiedModule`] guarantees: every immediate is in range (locals, targets,
//! functions, fields, tables), control never falls off the end of a function, the
//! operand-stack height before every reachable instruction is the same on every path and
//! never underflows, `ret` sees exactly the function's results, and the limits of
//! [`crate::limits`] hold. It also fixes the basic blocks and their gas costs, so the
//! interpreter and the JIT charge the same amount at the same place.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::codec::DecodeError;
use crate::debug::Position;
use crate::isa::{Field, Flow, ImmKind, Metering, StackEffect};
use crate::limits::*;
use crate::module::{code_footprint, is_valid_name, Function, Module};

/// Height recorded for instructions no path reaches.
pub const UNREACHABLE: u32 = u32::MAX;

/// Why a module was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The function (index and name) the problem is in, if any.
    pub func: Option<(u32, String)>,
    /// The instruction index the problem is at, if any.
    pub pc: Option<u32>,
    pub kind: VerifyErrorKind,
}

/// What is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyErrorKind {
    NoFunctions,
    TooManyFunctions(usize),
    BadEntry(u32),
    MemoryTooLarge(u64),
    TooManyDataSegments(usize),
    DataOutOfRange {
        offset: u64,
        len: u64,
        memory_size: u64,
    },
    BadName(String),
    DuplicateName(String),
    TooManyParams(u32),
    TooManyResults(u32),
    TooManyLocals(u32),
    EmptyFunction,
    CodeTooLong(usize),
    BadLocal(u32),
    BadTarget(u32),
    BadFunction(u32),
    BadField(u8),
    BadTable(u32),
    TableTooLarge(usize),
    StackUnderflow {
        needs: u32,
        has: u32,
    },
    StackTooDeep(u32),
    HeightMismatch {
        expected: u32,
        found: u32,
    },
    ReturnHeight {
        results: u32,
        height: u32,
    },
    FallsOffEnd,
    /// A debug section that does not describe the module's code.
    BadDebug(String),
}

impl fmt::Display for VerifyErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use VerifyErrorKind::*;
        match self {
            NoFunctions => write!(f, "the module has no functions"),
            TooManyFunctions(n) => write!(f, "{n} functions, more than the limit {MAX_FUNCS}"),
            BadEntry(e) => write!(f, "entry function {e} does not exist"),
            MemoryTooLarge(n) => write!(f, "initial memory of {n} bytes exceeds the limit {MAX_MEMORY}"),
            TooManyDataSegments(n) => write!(f, "{n} data segments, more than the limit {MAX_DATA_SEGMENTS}"),
            DataOutOfRange { offset, len, memory_size } => write!(
                f,
                "data segment at {offset} of {len} bytes does not fit in the initial memory of {memory_size} bytes"
            ),
            BadName(n) => write!(f, "invalid function name {n:?}"),
            DuplicateName(n) => write!(f, "function name `{n}` is used twice"),
            TooManyParams(n) => write!(f, "{n} parameters, more than the limit {MAX_PARAMS}"),
            TooManyResults(n) => write!(f, "{n} results, more than the limit {MAX_PARAMS}"),
            TooManyLocals(n) => write!(f, "{n} locals, more than the limit {MAX_LOCALS}"),
            EmptyFunction => write!(f, "the function has no instructions"),
            CodeTooLong(n) => write!(f, "{n} instructions, more than the limit {MAX_CODE}"),
            BadLocal(i) => write!(f, "local {i} does not exist"),
            BadTarget(t) => write!(f, "branch target {t} is outside the function"),
            BadFunction(i) => write!(f, "function {i} does not exist"),
            BadField(v) => write!(f, "child.info field {v} does not exist"),
            BadTable(i) => write!(f, "switch table {i} does not exist"),
            TableTooLarge(n) => write!(f, "switch table of {n} targets, more than the limit {MAX_SWITCH}"),
            StackUnderflow { needs, has } => {
                let (n, h) = (plural(*needs, "operand"), plural(*has, "word"));
                write!(f, "stack underflow: needs {n}, the stack holds {h}")
            }
            StackTooDeep(h) => write!(f, "operand stack reaches {h} words, more than the limit {MAX_HEIGHT}"),
            HeightMismatch { expected, found } => write!(
                f,
                "inconsistent stack height: {expected} on one path, {found} on another"
            ),
            ReturnHeight { results, height } => {
                let (r, h) = (plural(*results, "result"), plural(*height, "word"));
                write!(f, "ret needs exactly {r} on the stack, it holds {h}")
            }
            FallsOffEnd => write!(f, "control falls off the end of the function"),
            BadDebug(m) => write!(f, "debug section: {m}"),
        }
    }
}

/// `1 result`, `2 results`.
fn plural(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.func, self.pc) {
            (Some((i, name)), Some(pc)) => write!(
                f,
                "function `{name}` (#{i}) at instruction {pc}: {}",
                self.kind
            ),
            (Some((i, name)), None) => write!(f, "function `{name}` (#{i}): {}", self.kind),
            _ => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for VerifyError {}

/// What the verifier computed for one function.
#[derive(Clone, Debug)]
pub struct FuncInfo {
    /// Operand-stack height before each instruction ([`UNREACHABLE`] where no path goes).
    pub height: Box<[u32]>,
    /// True where a basic block starts.
    pub leader: Box<[bool]>,
    /// Gas charged on entering the block that starts here (0 for self-metered blocks and
    /// non-leaders).
    pub block_cost: Box<[u32]>,
    /// Highest operand-stack height anywhere in the function.
    pub max_height: u32,
    /// Words a frame of this function reserves: locals plus `max_height`.
    pub frame_words: u32,
    /// Footprint of one frame: [`FRAME_RECORD_BYTES`] plus 8 per reserved word.
    pub frame_bytes: u64,
}

impl FuncInfo {
    /// True when `pc` is a reachable block start, where a process may pause.
    pub fn is_block_start(&self, pc: u32) -> bool {
        let pc = pc as usize;
        pc < self.leader.len() && self.leader[pc] && self.height[pc] != UNREACHABLE
    }
}

/// A module that passed verification; the only kind of module an engine runs.
pub struct VerifiedModule {
    module: Module,
    bytes: Box<[u8]>,
    code_footprint: u64,
    info: Vec<FuncInfo>,
    cache: EngineCache,
}

impl fmt::Debug for VerifiedModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedModule")
            .field("functions", &self.module.funcs.len())
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl VerifiedModule {
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// The canonical encoding of the module.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// What holding this module as a child's code adds to a footprint (`docs/SPEC.md`
    /// §5.3): its encoding plus the host's forms of its instructions and functions.
    pub fn code_footprint(&self) -> u64 {
        self.code_footprint
    }

    pub fn func(&self, index: u32) -> &Function {
        &self.module.funcs[index as usize]
    }

    pub fn info(&self, index: u32) -> &FuncInfo {
        &self.info[index as usize]
    }

    pub fn func_count(&self) -> u32 {
        self.module.funcs.len() as u32
    }

    /// The source position of instruction `pc` of function `func`, if the module carries
    /// a debug section that gives one.
    pub fn position(&self, func: u32, pc: u32) -> Option<Position> {
        self.module.debug.as_ref()?.position(func, pc)
    }

    /// Index of the function named `name`.
    pub fn func_index(&self, name: &str) -> Option<u32> {
        self.module
            .funcs
            .iter()
            .position(|f| f.name == name)
            .map(|i| i as u32)
    }

    /// Per-engine data derived from this module (e.g. the interpreter's lowered code),
    /// computed once by `init` and shared by every process running the module.
    pub fn engine_data<T: Any + Send + Sync>(
        &self,
        init: impl FnOnce(&VerifiedModule) -> T,
    ) -> Arc<T> {
        self.cache.get_or_init(|| init(self))
    }
}

/// Type-keyed, compute-once storage for engine data attached to a module: a few slots,
/// each set once, so that a lookup — done each time an engine enters a process — takes no
/// lock.
#[derive(Default)]
struct EngineCache {
    slots: [OnceLock<(TypeId, Arc<dyn Any + Send + Sync>)>; ENGINE_SLOTS],
}

/// Kinds of engine data a module can hold: the interpreters' lowered code and the JIT's
/// per-module state use three.
const ENGINE_SLOTS: usize = 8;

impl EngineCache {
    fn get_or_init<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let find = |slot: &OnceLock<(TypeId, Arc<dyn Any + Send + Sync>)>| {
            let (id, data) = slot.get()?;
            (*id == TypeId::of::<T>()).then(|| Arc::clone(data).downcast::<T>().ok())?
        };
        if let Some(found) = self.slots.iter().find_map(find) {
            return found;
        }
        // Initialised with no slot held, so `init` may itself use the cache.
        let fresh: Arc<T> = Arc::new(init());
        for slot in &self.slots {
            let mine: Arc<dyn Any + Send + Sync> = fresh.clone();
            if slot.set((TypeId::of::<T>(), mine)).is_ok() {
                return fresh;
            }
            // Taken: by this kind (another thread was first), or by another.
            if let Some(existing) = find(slot) {
                return existing;
            }
        }
        debug_assert!(false, "more kinds of engine data than ENGINE_SLOTS");
        fresh
    }
}

/// Why bytes did not become a verified module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// Not a module (or, with [`DecodeError::too_large`], too large to decode here).
    Decode(DecodeError),
    /// A module that fails verification.
    Verify(VerifyError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Decode(e) => write!(f, "invalid module: {e}"),
            LoadError::Verify(e) => write!(f, "module fails verification: {e}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// Decodes and verifies module bytes, holding no more than `limit` bytes of code footprint
/// while doing so (see [`Module::decode_within`]).
///
/// # Errors
/// [`LoadError::Decode`] or [`LoadError::Verify`].
pub fn decode_verified(bytes: &[u8], limit: u64) -> Result<Arc<VerifiedModule>, LoadError> {
    let module = Module::decode_within(bytes, limit).map_err(LoadError::Decode)?;
    // The decoder accepts only canonical encodings: these bytes are the module's encoding.
    check(module, Some(bytes.into())).map_err(LoadError::Verify)
}

/// Verifies `module`.
///
/// # Errors
/// The first problem found, naming the function, the instruction index and the reason.
pub fn verify(module: Module) -> Result<Arc<VerifiedModule>, VerifyError> {
    check(module, None)
}

/// Verifies `module`, whose canonical encoding is `bytes` (computed once it verifies, if
/// not given).
fn check(module: Module, bytes: Option<Box<[u8]>>) -> Result<Arc<VerifiedModule>, VerifyError> {
    let err = |kind| VerifyError {
        func: None,
        pc: None,
        kind,
    };
    if module.funcs.is_empty() {
        return Err(err(VerifyErrorKind::NoFunctions));
    }
    if module.funcs.len() > MAX_FUNCS {
        return Err(err(VerifyErrorKind::TooManyFunctions(module.funcs.len())));
    }
    if module.entry as usize >= module.funcs.len() {
        return Err(err(VerifyErrorKind::BadEntry(module.entry)));
    }
    if module.memory_size > MAX_MEMORY {
        return Err(err(VerifyErrorKind::MemoryTooLarge(module.memory_size)));
    }
    if module.data.len() > MAX_DATA_SEGMENTS {
        return Err(err(VerifyErrorKind::TooManyDataSegments(module.data.len())));
    }
    for seg in &module.data {
        let len = seg.bytes.len() as u64;
        if seg
            .offset
            .checked_add(len)
            .is_none_or(|end| end > module.memory_size)
        {
            return Err(err(VerifyErrorKind::DataOutOfRange {
                offset: seg.offset,
                len,
                memory_size: module.memory_size,
            }));
        }
    }
    let mut names = std::collections::BTreeSet::new();
    let mut info = Vec::with_capacity(module.funcs.len());
    for (index, f) in module.funcs.iter().enumerate() {
        let at = |pc: Option<u32>, kind| VerifyError {
            func: Some((index as u32, f.name.clone())),
            pc,
            kind,
        };
        if !is_valid_name(&f.name) {
            return Err(at(None, VerifyErrorKind::BadName(f.name.clone())));
        }
        if !names.insert(f.name.as_str()) {
            return Err(at(None, VerifyErrorKind::DuplicateName(f.name.clone())));
        }
        info.push(verify_function(&module, f).map_err(|(pc, kind)| at(pc, kind))?);
    }
    if let Some(debug) = &module.debug {
        debug.check(&module.funcs).map_err(|e| VerifyError {
            func: e.func.map(|i| (i, module.funcs[i as usize].name.clone())),
            pc: e.pc,
            kind: VerifyErrorKind::BadDebug(e.message),
        })?;
    }
    let bytes = bytes.unwrap_or_else(|| module.encode().into_boxed_slice());
    let code_footprint = code_footprint(
        bytes.len() as u64,
        module.instruction_count(),
        module.target_count(),
        module.funcs.len() as u64,
    );
    Ok(Arc::new(VerifiedModule {
        module,
        bytes,
        code_footprint,
        info,
        cache: EngineCache::default(),
    }))
}

type FnResult<T> = Result<T, (Option<u32>, VerifyErrorKind)>;

fn verify_function(module: &Module, f: &Function) -> FnResult<FuncInfo> {
    use VerifyErrorKind::*;
    if f.params > MAX_PARAMS {
        return Err((None, TooManyParams(f.params)));
    }
    if f.results > MAX_PARAMS {
        return Err((None, TooManyResults(f.results)));
    }
    let locals = f.params.checked_add(f.locals).filter(|n| *n <= MAX_LOCALS);
    let Some(locals) = locals else {
        return Err((None, TooManyLocals(f.params.saturating_add(f.locals))));
    };
    if f.code.is_empty() {
        return Err((None, EmptyFunction));
    }
    let len = f.code.len();
    if len > MAX_CODE {
        return Err((None, CodeTooLong(len)));
    }

    // Immediates, and the block leaders they imply.
    let mut leader = vec![false; len];
    leader[0] = true;
    for (pc, ins) in f.code.iter().enumerate() {
        let here = Some(pc as u32);
        let info = ins.info();
        let imm = ins.imm();
        let target_ok = |t: u64| (t as usize) < len;
        match info.imm {
            ImmKind::Local if imm >= u64::from(locals) => return Err((here, BadLocal(imm as u32))),
            ImmKind::Target if !target_ok(imm) => return Err((here, BadTarget(imm as u32))),
            ImmKind::Target => leader[imm as usize] = true,
            ImmKind::Func if imm as usize >= module.funcs.len() => {
                return Err((here, BadFunction(imm as u32)))
            }
            ImmKind::Field if Field::from_u8(imm as u8).is_none() => {
                return Err((here, BadField(imm as u8)))
            }
            ImmKind::Table => {
                let table = f
                    .tables
                    .get(imm as usize)
                    .ok_or((here, BadTable(imm as u32)))?;
                if table.is_empty() || table.len() > MAX_SWITCH {
                    return Err((here, TableTooLarge(table.len())));
                }
                for t in table {
                    if !target_ok(u64::from(*t)) {
                        return Err((here, BadTarget(*t)));
                    }
                    leader[*t as usize] = true;
                }
            }
            ImmKind::None
            | ImmKind::Word
            | ImmKind::Local
            | ImmKind::Func
            | ImmKind::Offset
            | ImmKind::Field => {}
        }
        if info.self_metered() {
            leader[pc] = true;
        }
        if (info.flow.ends_block() || info.self_metered()) && pc + 1 < len {
            leader[pc + 1] = true;
        }
    }

    // Operand-stack heights by a worklist over the control-flow graph.
    let mut height = vec![UNREACHABLE; len];
    let mut max_height = 0u32;
    let mut work = Vec::new();
    height[0] = 0;
    // Each instruction goes on with its last successor reached for the first time at
    // once rather than through the worklist: the same order as pushing it and popping it.
    let mut next = Some(0);
    while let Some(pc) = next {
        let here = Some(pc as u32);
        let ins = &f.code[pc];
        let info = ins.info();
        let h = height[pc];
        let (pops, pushes) = match info.stack {
            StackEffect::Fixed { pops, pushes } => (u32::from(pops), u32::from(pushes)),
            StackEffect::Call => {
                let callee = &module.funcs[ins.imm() as usize];
                (callee.params, callee.results)
            }
            StackEffect::Ret => {
                if h != f.results {
                    return Err((
                        here,
                        ReturnHeight {
                            results: f.results,
                            height: h,
                        },
                    ));
                }
                (f.results, 0)
            }
        };
        if h < pops {
            return Err((
                here,
                StackUnderflow {
                    needs: pops,
                    has: h,
                },
            ));
        }
        let out = h - pops + pushes;
        if out > MAX_HEIGHT {
            return Err((here, StackTooDeep(out)));
        }
        max_height = max_height.max(h).max(out);
        // Whether `to` is reached for the first time, checking its height if not.
        let mut reach = |to: usize| -> FnResult<bool> {
            if to >= len {
                return Err((here, FallsOffEnd));
            }
            match height[to] {
                UNREACHABLE => {
                    height[to] = out;
                    Ok(true)
                }
                seen if seen != out => Err((
                    Some(to as u32),
                    HeightMismatch {
                        expected: seen,
                        found: out,
                    },
                )),
                _ => Ok(false),
            }
        };
        let last = match info.flow {
            Flow::Next | Flow::Call | Flow::Exit => Some(pc + 1),
            Flow::Jump => Some(ins.imm() as usize),
            Flow::Branch => {
                let target = ins.imm() as usize;
                if reach(target)? {
                    work.push(target);
                }
                Some(pc + 1)
            }
            Flow::Switch => {
                for t in &f.tables[ins.imm() as usize] {
                    if reach(*t as usize)? {
                        work.push(*t as usize);
                    }
                }
                None
            }
            Flow::Return | Flow::Stop => None,
        };
        next = match last {
            Some(to) if reach(to)? => Some(to),
            Some(_) | None => work.pop(),
        };
    }

    // Block costs: block-metered instructions from a leader to the end of its block.
    let mut block_cost = vec![0u32; len];
    for start in (0..len).filter(|pc| leader[*pc]) {
        if f.code[start].info().self_metered() {
            continue;
        }
        let mut cost = 0u32;
        let mut pc = start;
        loop {
            let info = f.code[pc].info();
            debug_assert_eq!(info.metering, Metering::Block);
            cost = cost.saturating_add(info.gas);
            if info.flow.ends_block() || pc + 1 >= len || leader[pc + 1] {
                break;
            }
            pc += 1;
        }
        block_cost[start] = cost;
    }

    let frame_words = locals + max_height;
    Ok(FuncInfo {
        height: height.into_boxed_slice(),
        leader: leader.into_boxed_slice(),
        block_cost: block_cost.into_boxed_slice(),
        max_height,
        frame_words,
        frame_bytes: FRAME_RECORD_BYTES + 8 * u64::from(frame_words),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Instr;
    use crate::isa::Instr::*;

    fn func(params: u32, results: u32, code: Vec<Instr>) -> Function {
        Function {
            name: "f".into(),
            params,
            results,
            locals: 1,
            code,
            tables: vec![],
        }
    }

    fn check(f: Function) -> Result<Arc<VerifiedModule>, VerifyError> {
        verify(Module {
            memory_size: 0,
            entry: 0,
            data: vec![],
            funcs: vec![f],
            debug: None,
        })
    }

    #[test]
    fn computes_heights_blocks_and_costs() {
        // 0: push 3; 1: local.set 1; 2: local.get 1 (loop); 3: jz 8; 4: local.get 1;
        // 5: push 1; 6: sub; 7: local.set 1 .. falls into 8? no: jmp back
        let code = vec![
            Push(3),
            LocalSet(1),
            LocalGet(1),
            Jz(9),
            LocalGet(1),
            Push(1),
            Sub,
            LocalSet(1),
            Jmp(2),
            LocalGet(0),
            Ret,
        ];
        let m = check(func(1, 1, code)).unwrap();
        let info = m.info(0);
        assert_eq!(&info.height[..], &[0, 1, 0, 1, 0, 1, 2, 1, 0, 0, 1]);
        let leaders: Vec<usize> = (0..11).filter(|pc| info.leader[*pc]).collect();
        assert_eq!(leaders, vec![0, 2, 4, 9]);
        assert_eq!(info.block_cost[0], 2);
        assert_eq!(info.block_cost[2], 2);
        assert_eq!(info.block_cost[4], 5);
        assert_eq!(info.block_cost[9], 3);
        assert_eq!(info.max_height, 2);
        assert_eq!(info.frame_words, 4);
    }

    #[test]
    fn self_metered_instructions_are_blocks_of_their_own() {
        let code = vec![Push(1), MemGrow, Drop, Push(0), Ret];
        let f = Function {
            results: 1,
            ..func(0, 1, code)
        };
        let m = check(f).unwrap();
        let info = m.info(0);
        assert_eq!(&info.leader[..], &[true, true, true, false, false]);
        assert_eq!(&info.block_cost[..], &[1, 0, 4, 0, 0]);
    }

    #[test]
    fn rejects_with_precise_errors() {
        let e = check(func(0, 0, vec![Add, Ret])).unwrap_err();
        assert_eq!(e.pc, Some(0));
        assert_eq!(e.kind, VerifyErrorKind::StackUnderflow { needs: 2, has: 0 });
        assert!(e.to_string().contains("function `f` (#0) at instruction 0"));

        let e = check(func(0, 0, vec![Push(1)])).unwrap_err();
        assert_eq!(e.kind, VerifyErrorKind::FallsOffEnd);

        let e = check(func(0, 0, vec![Push(1), Jnz(3), Push(1), Ret])).unwrap_err();
        assert_eq!(
            e.kind,
            VerifyErrorKind::HeightMismatch {
                expected: 0,
                found: 1
            }
        );

        let e = check(func(0, 1, vec![Ret])).unwrap_err();
        assert_eq!(
            e.kind,
            VerifyErrorKind::ReturnHeight {
                results: 1,
                height: 0
            }
        );

        let e = check(func(0, 0, vec![Jmp(5)])).unwrap_err();
        assert_eq!(e.kind, VerifyErrorKind::BadTarget(5));

        let e = check(func(0, 0, vec![LocalGet(2), Drop, Ret])).unwrap_err();
        assert_eq!(e.kind, VerifyErrorKind::BadLocal(2));

        let e = check(func(0, 0, vec![Call(3), Ret])).unwrap_err();
        assert_eq!(e.kind, VerifyErrorKind::BadFunction(3));

        let e = check(func(0, 0, vec![Push(0), ChildInfo(8), Drop, Ret])).unwrap_err();
        assert_eq!(e.kind, VerifyErrorKind::BadField(8));

        let e = check(func(0, 0, vec![])).unwrap_err();
        assert_eq!(e.kind, VerifyErrorKind::EmptyFunction);

        let e = check(Function {
            params: 65,
            ..func(0, 0, vec![Ret])
        })
        .unwrap_err();
        assert_eq!(e.kind, VerifyErrorKind::TooManyParams(65));
    }

    #[test]
    fn unreachable_code_is_allowed_but_marked() {
        let m = check(func(0, 0, vec![Ret, Add, Ret])).unwrap();
        let info = m.info(0);
        assert_eq!(info.height[1], UNREACHABLE);
        assert!(!info.is_block_start(1));
        assert!(info.is_block_start(0));
    }

    #[test]
    fn debug_sections_must_describe_the_code() {
        use crate::debug::{DebugInfo, FuncDebug, Run};
        let run = |pc, line, col| Run { pc, line, col };
        let with = |files: &[&str], file, runs: Vec<Run>| Module {
            memory_size: 0,
            entry: 0,
            data: vec![],
            funcs: vec![func(0, 0, vec![Nop, Nop, Ret])],
            debug: Some(DebugInfo {
                files: files.iter().map(|f| f.to_string()).collect(),
                funcs: vec![FuncDebug {
                    name: "f".into(),
                    file,
                    runs,
                }],
            }),
        };
        let ok = verify(with(&["a.et"], 0, vec![run(0, 1, 1), run(2, 1, 5)])).unwrap();
        assert_eq!(ok.position(0, 1).unwrap().to_string(), "a.et:1:1 in f");
        assert_eq!(ok.position(0, 2).unwrap().to_string(), "a.et:1:5 in f");
        let bad = |m: Module| match verify(m).unwrap_err().kind {
            VerifyErrorKind::BadDebug(why) => why,
            other => panic!("{other:?}"),
        };
        assert!(bad(with(&["a.et"], 0, vec![run(3, 1, 1)])).contains("past"));
        assert!(bad(with(&["a.et"], 0, vec![run(1, 1, 1), run(1, 2, 1)])).contains("order"));
        assert!(bad(with(&["a.et"], 0, vec![run(0, 1, 1), run(1, 1, 1)])).contains("same"));
        assert!(bad(with(&["a.et"], 1, vec![])).contains("does not exist"));
        assert!(bad(with(&["a.et", "b.et"], 0, vec![])).contains("2 debug files"));
        let mut two = with(&["a.et"], 0, vec![]);
        two.debug.as_mut().unwrap().funcs.push(FuncDebug::default());
        assert!(bad(two).contains("2 debug entries for 1 functions"));
    }

    #[test]
    fn module_level_checks() {
        let f = func(0, 0, vec![Ret]);
        let m = |memory_size, entry, data| Module {
            memory_size,
            entry,
            data,
            funcs: vec![f.clone()],
            debug: None,
        };
        assert_eq!(
            verify(m(0, 1, vec![])).unwrap_err().kind,
            VerifyErrorKind::BadEntry(1)
        );
        assert!(matches!(
            verify(m(
                4,
                0,
                vec![crate::module::DataSegment {
                    offset: 2,
                    bytes: vec![0; 3]
                }]
            ))
            .unwrap_err()
            .kind,
            VerifyErrorKind::DataOutOfRange { .. }
        ));
        assert!(matches!(
            verify(m(MAX_MEMORY + 1, 0, vec![])).unwrap_err().kind,
            VerifyErrorKind::MemoryTooLarge(_)
        ));
        let dup = Module {
            memory_size: 0,
            entry: 0,
            data: vec![],
            funcs: vec![f.clone(), f],
            debug: None,
        };
        assert_eq!(
            verify(dup).unwrap_err().kind,
            VerifyErrorKind::DuplicateName("f".into())
        );
    }
}
