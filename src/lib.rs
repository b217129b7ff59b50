//! rarvm: a resource-aware, recursively sandboxable virtual machine.
//!
//! This crate is the embedding API and the `rarvm` command line. A [`Vm`] holds one root
//! process — created from a module, or resumed from an image — and runs it on a chosen
//! [`EngineKind`] with gas and memory allowances. Every stop is a pause point: the state
//! can be written as an [`image`](Vm::image), hashed, and resumed here or elsewhere.
//!
//! # Example
//! ```
//! use rarvm::{EngineKind, Module, Status, Vm};
//!
//! // f(x) = x + 1, run as a sandboxed child with 50 gas and 256 spare bytes.
//! let src = r#"
//! func f(x) -> 1
//!     local.get x
//!     push 1
//!     add
//!     ret
//! end
//! func main(x) -> 1 locals(c)
//!     spawn f
//!     local.tee c
//!     local.get x
//!     child.push
//!     local.get c
//!     push 50
//!     push 256
//!     recurse
//!     drop
//!     local.get c
//!     child.pop
//!     ret
//! end
//! "#;
//! let module = Module::from_source(src, "sandbox.rasm")?;
//! let mut vm = Vm::new(&module, &[41])?;
//! vm.set_engine(EngineKind::Jit)?;
//! let out = vm.run(1_000_000, 1 << 20);
//! assert_eq!(out.status, Status::Returned);
//! assert_eq!(out.results, vec![42]);
//!
//! // Pause points serialize; an image resumes to the same result.
//! let mut vm = Vm::new(&module, &[41])?;
//! let first = vm.run(10, 1 << 20);
//! assert_eq!(first.status, Status::OutOfGas);
//! let mut resumed = Vm::from_image(&vm.image())?;
//! assert_eq!(resumed.run(1_000_000, 0).results, vec![42]);
//! # Ok::<(), rarvm::Error>(())
//! ```

use std::fmt;
use std::sync::Arc;

pub mod host;

use host::{Grant, HostState, Prompt, Record, ReplayState, Transcript};
use rarvm_interp::Interp;
use rarvm_jit::Mode;
pub use rarvm_jit::Stats as JitStats;
pub use rarvm_jit::{Jit, Mode as JitMode, AUTO_RATE, JIT_RATE};
pub use rarvm_runtime::asm::AsmError;
pub use rarvm_runtime::codec::DecodeError;
pub use rarvm_runtime::image::{self, ImageError};
use rarvm_runtime::keys::HostKey;
use rarvm_runtime::machine;
use rarvm_runtime::process::Key;
pub use rarvm_runtime::process::{Fault, Process, Status};
pub use rarvm_runtime::verify::{VerifiedModule, VerifyError};
pub use rarvm_runtime::{self as runtime};

/// Which engine runs process code. All give identical results, gas and images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineKind {
    /// The reference interpreter.
    Interp,
    /// The Cranelift JIT, compiling every function before it first runs.
    Jit,
    /// The interpreter first; functions that become hot are compiled.
    #[default]
    Auto,
}

impl EngineKind {
    pub const ALL: [EngineKind; 3] = [EngineKind::Interp, EngineKind::Jit, EngineKind::Auto];

    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Interp => "interp",
            EngineKind::Jit => "jit",
            EngineKind::Auto => "auto",
        }
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EngineKind::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| format!("unknown engine `{s}` (expected one of: interp, jit, auto)"))
    }
}

/// An engine instance; the JIT keeps its compiled code across runs.
enum EngineBox {
    Interp(Interp),
    Jit(Box<Jit>),
}

impl EngineBox {
    fn new(kind: EngineKind) -> Result<EngineBox, Error> {
        let mode = match kind {
            EngineKind::Interp => return Ok(EngineBox::Interp(Interp)),
            EngineKind::Jit => Mode::Jit,
            EngineKind::Auto => Mode::Auto,
        };
        Jit::new(mode)
            .map(|j| EngineBox::Jit(Box::new(j)))
            .map_err(Error::Engine)
    }

    fn run(
        &mut self,
        root: Box<Process>,
        host: &mut HostState,
        gas: u64,
        mem: u64,
    ) -> Box<Process> {
        match self {
            EngineBox::Interp(e) => machine::run_with_host(root, e, host, gas, mem),
            EngineBox::Jit(e) => machine::run_with_host(root, e.as_mut(), host, gas, mem),
        }
    }
}

/// Anything that can go wrong loading code or images.
#[derive(Debug)]
pub enum Error {
    Asm(AsmError),
    Module(DecodeError),
    Verify(VerifyError),
    Image(ImageError),
    /// The entry function takes `expected` arguments but `given` were passed.
    Arity {
        function: String,
        expected: u32,
        given: usize,
    },
    /// Input that is neither assembler text, a module nor an image.
    Unrecognized(String),
    /// The engine cannot run on this host.
    Engine(String),
    /// A grant was refused (see [`Vm::grant`]).
    Grant(String),
    /// A transcript cannot be replayed here.
    Replay(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Asm(e) => write!(f, "{e}"),
            Error::Module(e) => write!(f, "invalid module: {e}"),
            Error::Verify(e) => write!(f, "module fails verification: {e}"),
            Error::Image(e) => write!(f, "invalid image: {e}"),
            Error::Arity {
                function,
                expected,
                given,
            } => {
                write!(
                    f,
                    "`{function}` takes {expected} argument(s), {given} given"
                )
            }
            Error::Unrecognized(what)
            | Error::Engine(what)
            | Error::Grant(what)
            | Error::Replay(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for Error {}

/// A verified module ready to instantiate.
#[derive(Clone, Debug)]
pub struct Module(Arc<VerifiedModule>);

impl Module {
    /// Assembles and verifies `.rasm` text; `file` names it in errors.
    ///
    /// # Errors
    /// [`Error::Asm`] with `file:line:col` and the problem.
    pub fn from_source(src: &str, file: &str) -> Result<Module, Error> {
        rarvm_runtime::asm::assemble_verified(src, file)
            .map(Module)
            .map_err(Error::Asm)
    }

    /// Decodes and verifies a binary module.
    ///
    /// # Errors
    /// [`Error::Module`] or [`Error::Verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Module, Error> {
        let m = rarvm_runtime::Module::decode(bytes).map_err(Error::Module)?;
        rarvm_runtime::verify(m).map(Module).map_err(Error::Verify)
    }

    pub fn verified(&self) -> &Arc<VerifiedModule> {
        &self.0
    }

    /// The canonical binary encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.bytes().to_vec()
    }
}

/// What one [`Vm::run`] ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    /// The fault code, when `status` is `Faulted`.
    pub fault: Option<Fault>,
    /// Gas used by the root (and its descendants) over its whole life.
    pub gas_used: u64,
    pub gas_left: u64,
    /// The root's port: the entry function's results once it returned.
    pub results: Vec<u64>,
}

/// A root process, the engine that runs it, and the host that answers its keys.
pub struct Vm {
    root: Option<Box<Process>>,
    kind: EngineKind,
    engine: Option<EngineBox>,
    host: HostState,
    /// True until the root first runs, while [`Vm::grant`] still gives it keys.
    fresh: bool,
}

impl Vm {
    /// A root process, `ready` to run `module`'s entry function with `args`.
    ///
    /// # Errors
    /// [`Error::Arity`] if `args` does not match the entry function's parameters.
    pub fn new(module: &Module, args: &[u64]) -> Result<Vm, Error> {
        let m = &module.0;
        let entry = m.module().entry;
        let f = m.func(entry);
        if f.params as usize != args.len() {
            return Err(Error::Arity {
                function: f.name.clone(),
                expected: f.params,
                given: args.len(),
            });
        }
        let mut root = Process::new(Arc::clone(m), entry);
        root.port.extend_from_slice(args);
        let mut vm = Vm::with_root(Box::new(root));
        vm.fresh = true;
        Ok(vm)
    }

    /// Resumes a process tree, and the transcript of its host's answers, from an image.
    /// Its host keys answer only as far as this VM's grants of the same names allow.
    ///
    /// # Errors
    /// [`Error::Image`] naming the byte offset and the problem.
    pub fn from_image(bytes: &[u8]) -> Result<Vm, Error> {
        let root = image::decode(bytes).map_err(Error::Image)?;
        Ok(Vm::with_root(root))
    }

    /// Replaces the root with a new `ready` process (as [`Vm::new`]) holding a key for
    /// each grant, keeping the engine, the code it compiled and the grants. The transcript
    /// starts anew.
    ///
    /// # Errors
    /// [`Error::Arity`]; the VM is unchanged.
    pub fn restart(&mut self, module: &Module, args: &[u64]) -> Result<(), Error> {
        let Vm { root, .. } = Vm::new(module, args)?;
        self.root = root;
        self.fresh = true;
        self.host.reset_run();
        let keys: Vec<HostKey> = self.host.root_keys().collect();
        for key in keys {
            self.give_root(key);
        }
        Ok(())
    }

    /// Replaces the root and the transcript with those of an image (as
    /// [`Vm::from_image`]), keeping the engine, the code it compiled and the grants.
    ///
    /// # Errors
    /// [`Error::Image`]; the VM is unchanged.
    pub fn load_image(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let root = image::decode(bytes).map_err(Error::Image)?;
        self.root = Some(root);
        self.fresh = false;
        self.host.reset_run();
        Ok(())
    }

    fn with_root(root: Box<Process>) -> Vm {
        let host = HostState::new();
        Vm {
            root: Some(root),
            kind: EngineKind::default(),
            engine: None,
            host,
            fresh: false,
        }
    }

    /// Grants a resource under `name` (default: its kind's name, e.g. `fs`). A new root
    /// (before its first run) gets a key to it in its next free slot — slot `i` for the
    /// `i`-th grant; the keys of a resumed image bind to it by name and kind.
    ///
    /// # Errors
    /// [`Error::Grant`] for a taken or invalid name, a directory that cannot be opened, a
    /// custom kind below 16, or a resource a deterministic VM cannot answer.
    pub fn grant(&mut self, name: Option<&str>, grant: Grant) -> Result<(), Error> {
        let key = self
            .host
            .grant(name, grant)
            .map_err(|e| Error::Grant(e.0))?;
        if self.fresh {
            self.give_root(key);
        }
        Ok(())
    }

    /// Puts `key` in the fresh root's next slot, raising its memory limit by the key's
    /// footprint (a new root's limit is its footprint).
    fn give_root(&mut self, key: HostKey) {
        let root = self
            .root
            .as_deref_mut()
            .expect("the root is present between runs");
        let bytes = rarvm_runtime::limits::KEY_BYTES + key.record_bytes();
        root.keys.push(Key::Host(Box::new(key)));
        root.footprint += bytes;
        root.mem_limit += bytes;
    }

    /// Makes this VM deterministic (`docs/SPEC.md` §9.2): clocks are virtual, console
    /// output always succeeds, and grants answered from outside are refused. Call it
    /// before granting anything.
    ///
    /// # Errors
    /// [`Error::Grant`] if something was granted already.
    pub fn set_deterministic(&mut self) -> Result<(), Error> {
        self.host.set_deterministic().map_err(|e| Error::Grant(e.0))
    }

    pub fn is_deterministic(&self) -> bool {
        self.host.is_deterministic()
    }

    /// Where console keys write, and what they read (default: standard output and input).
    pub fn set_console(
        &mut self,
        out: Box<dyn std::io::Write + Send>,
        input: Box<dyn std::io::Read + Send>,
    ) {
        self.host.set_console(out, input);
    }

    /// Who is asked when a process wants what its grant does not allow (default: nobody;
    /// the answer is deny).
    pub fn set_prompt(&mut self, prompt: Option<Box<dyn Prompt>>) {
        self.host.set_prompt(prompt);
    }

    /// The host's answers so far, in order, since the root was created.
    pub fn transcript(&self) -> &[Record] {
        &self.root().transcript
    }

    /// Answers the coming host operations from `transcript` (e.g. an image's root's)
    /// instead of the world, while they match; this run's transcript so far must be a
    /// prefix of it.
    ///
    /// # Errors
    /// [`Error::Replay`] if this run's transcript does not continue into it.
    pub fn replay(&mut self, transcript: Transcript) -> Result<(), Error> {
        let so_far = &self
            .root
            .as_deref()
            .expect("the root is present between runs")
            .transcript;
        self.host.replay(transcript, so_far).map_err(Error::Replay)
    }

    /// How the replay set with [`Vm::replay`] went so far.
    pub fn replay_state(&self) -> ReplayState {
        self.host.replay_state()
    }

    /// Chooses the engine for the next runs (the default is [`EngineKind::Auto`]).
    ///
    /// # Errors
    /// [`Error::Engine`] if the JIT cannot run on this host; the engine is unchanged.
    pub fn set_engine(&mut self, kind: EngineKind) -> Result<(), Error> {
        if kind != self.kind || self.engine.is_none() {
            self.engine = Some(EngineBox::new(kind)?);
            self.kind = kind;
        }
        Ok(())
    }

    pub fn engine(&self) -> EngineKind {
        self.kind
    }

    /// Runs on a JIT configured by the caller (e.g. [`Jit::unmetered`] for trusted code).
    pub fn set_jit(&mut self, jit: Jit) {
        self.kind = match jit.mode() {
            Mode::Jit => EngineKind::Jit,
            Mode::Auto => EngineKind::Auto,
        };
        self.engine = Some(EngineBox::Jit(Box::new(jit)));
    }

    /// What the JIT did so far, if the engine is the JIT.
    pub fn jit_stats(&self) -> Option<&JitStats> {
        match &self.engine {
            Some(EngineBox::Jit(j)) => Some(j.stats()),
            _ => None,
        }
    }

    /// The JIT, if it is the engine (to tune it, e.g. [`Jit::set_code_limit`]).
    pub fn jit_mut(&mut self) -> Option<&mut Jit> {
        match &mut self.engine {
            Some(EngineBox::Jit(j)) => Some(j),
            _ => None,
        }
    }

    /// Adds `gas` and `mem` bytes to the root's allowances and runs it to its next stop.
    ///
    /// # Panics
    /// If no engine was chosen and the default (auto) cannot run on this host; call
    /// [`Vm::set_engine`] first to handle that as an error.
    pub fn run(&mut self, gas: u64, mem: u64) -> Outcome {
        if self.engine.is_none() {
            let kind = self.kind;
            self.set_engine(kind)
                .expect("the default engine runs on this host");
        }
        let root = self.root.take().expect("the root is present between runs");
        let engine = self.engine.as_mut().expect("chosen above");
        self.fresh = false;
        self.root = Some(engine.run(root, &mut self.host, gas, mem));
        self.outcome()
    }

    /// The root's current status, counters and port.
    pub fn outcome(&self) -> Outcome {
        let r = self.root();
        Outcome {
            status: r.status,
            fault: (r.status == Status::Faulted).then_some(r.fault),
            gas_used: r.gas_used,
            gas_left: r.gas_left,
            results: r.port.clone(),
        }
    }

    /// The root process (and through its keys, the whole tree).
    pub fn root(&self) -> &Process {
        self.root
            .as_deref()
            .expect("the root is present between runs")
    }

    /// The canonical image of the whole tree, the root's transcript included.
    pub fn image(&self) -> Vec<u8> {
        image::encode(self.root())
    }
}

/// `.rasm` text or a binary module (as a verified module), or image bytes (not yet decoded).
pub enum Input {
    Module(Module),
    Image(Vec<u8>),
}

impl Input {
    /// Recognises `bytes` by their magic; anything else must be UTF-8 assembler text.
    ///
    /// # Errors
    /// The assembler's, decoder's or verifier's error, or [`Error::Unrecognized`].
    pub fn parse(bytes: Vec<u8>, file: &str) -> Result<Input, Error> {
        if bytes.starts_with(image::IMAGE_MAGIC) {
            return Ok(Input::Image(bytes));
        }
        if bytes.starts_with(rarvm_runtime::module::MODULE_MAGIC) {
            return Module::from_bytes(&bytes).map(Input::Module);
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::Unrecognized(format!(
                "{file}: neither assembler text (UTF-8), a module nor an image"
            ))
        })?;
        Module::from_source(&text, file).map(Input::Module)
    }
}
