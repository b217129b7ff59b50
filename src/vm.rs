//! The VM: one root process, the engine that runs it, and the host that answers its keys.

use std::sync::Arc;

use rarvm_runtime::host::{Grant, Grants, Prompt, Record, ReplayState, Replaying, Transcript};
use rarvm_runtime::image;
use rarvm_runtime::machine;
use rarvm_runtime::process::{Fault, Process, Status};

use crate::engine::EngineBox;
use crate::{EngineKind, Error, ProcessView, Program};

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
    host: Replaying<Grants>,
    /// True until the root first runs, while [`Vm::grant`] still gives it keys.
    fresh: bool,
}

impl Vm {
    /// A root process, `ready` to run `program`'s entry function with `args`.
    ///
    /// # Errors
    /// [`Error::Arity`] if `args` does not match the entry function's parameters.
    pub fn new(program: &Program, args: &[u64]) -> Result<Vm, Error> {
        let root = root_of(program, args)?;
        let mut vm = Vm::with_root(root);
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
    pub fn restart(&mut self, program: &Program, args: &[u64]) -> Result<(), Error> {
        let mut root = root_of(program, args)?;
        for key in self.host.inner.root_keys() {
            root.grant_key(key);
        }
        self.root = Some(root);
        self.fresh = true;
        self.host.reset();
        Ok(())
    }

    /// Replaces the root and the transcript with those of an image (as
    /// [`Vm::from_image`]), keeping the engine, the code it compiled and the grants.
    ///
    /// # Errors
    /// [`Error::Image`]; the VM is unchanged.
    pub fn load_image(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.load_image_reusing(bytes, &mut Vec::new())
    }

    /// [`Vm::load_image`], building the new root's memory in `memory`'s allocation and
    /// handing back the replaced root's memory in `memory`: for loading many images, e.g.
    /// one per turn, without mapping fresh memory for each. `memory`'s contents do not
    /// matter, and it is left empty on an error.
    ///
    /// # Errors
    /// [`Error::Image`]; the VM is unchanged.
    pub fn load_image_reusing(&mut self, bytes: &[u8], memory: &mut Vec<u8>) -> Result<(), Error> {
        let root = image::decode_reusing(bytes, std::mem::take(memory)).map_err(Error::Image)?;
        if let Some(mut old) = self.root.replace(root) {
            *memory = std::mem::take(&mut old.memory);
        }
        self.fresh = false;
        self.host.reset();
        Ok(())
    }

    fn with_root(root: Box<Process>) -> Vm {
        Vm {
            root: Some(root),
            kind: EngineKind::default(),
            engine: None,
            host: Replaying::new(Grants::new()),
            fresh: false,
        }
    }

    /// Grants a resource under `name` (default: its kind's name, e.g. `fs`). A new root
    /// (before its first run) gets a key to it in its next free slot — slot `i` for the
    /// `i`-th grant; the keys of a resumed image bind to it by name, kind and mode.
    ///
    /// # Errors
    /// [`Error::Grant`] for a taken or invalid name, a custom kind below 16, or a resource a
    /// deterministic VM cannot answer.
    pub fn grant(&mut self, name: Option<&str>, grant: Grant) -> Result<(), Error> {
        let key = self.host.inner.grant(name, grant)?;
        if self.fresh {
            self.root_mut().grant_key(key);
        }
        Ok(())
    }

    /// Makes this VM deterministic (`docs/SPEC.md` §9.2): it grants only resources whose
    /// answers come from the image and the call, and never asks. Call it before granting
    /// anything.
    ///
    /// # Errors
    /// [`Error::Grant`] if something was granted already.
    pub fn set_deterministic(&mut self) -> Result<(), Error> {
        Ok(self.host.inner.set_deterministic()?)
    }

    pub fn is_deterministic(&self) -> bool {
        self.host.inner.is_deterministic()
    }

    /// Who is asked when a process wants what its grant does not allow (default: nobody;
    /// the answer is deny).
    pub fn set_prompt(&mut self, prompt: Option<Box<dyn Prompt>>) {
        self.host.inner.set_prompt(prompt);
    }

    /// The host's answers so far, in order, since the root was created.
    pub fn transcript(&self) -> &[Record] {
        &self.root_ref().transcript
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
        let records = so_far.len();
        self.host
            .replay(transcript, so_far)
            .map_err(|_| Error::Replay { records })
    }

    /// How the replay set with [`Vm::replay`] went so far.
    pub fn replay_state(&self) -> ReplayState {
        self.host.state()
    }

    /// Chooses the engine for the next runs (the default is [`EngineKind::Auto`], which
    /// interprets where there is no JIT).
    ///
    /// # Errors
    /// [`Error::EngineUnavailable`] if this build or host has no JIT; the engine is
    /// unchanged.
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

    /// What the JIT did so far, if the engine is the JIT.
    #[cfg(feature = "jit")]
    pub fn jit_stats(&self) -> Option<&rarvm_jit::Stats> {
        match &self.engine {
            Some(EngineBox::Jit(j)) => Some(j.stats()),
            Some(EngineBox::Interp(_) | EngineBox::Reference(_)) | None => None,
        }
    }

    /// The JIT, if it is the engine (to tune it, e.g. [`rarvm_jit::Jit::set_code_limit`]).
    #[cfg(feature = "jit")]
    pub fn jit_mut(&mut self) -> Option<&mut rarvm_jit::Jit> {
        match &mut self.engine {
            Some(EngineBox::Jit(j)) => Some(j),
            Some(EngineBox::Interp(_) | EngineBox::Reference(_)) | None => None,
        }
    }

    /// Adds `gas` and `mem` bytes to the root's allowances and runs it to its next stop.
    pub fn run(&mut self, gas: u64, mem: u64) -> Outcome {
        if self.engine.is_none() {
            // The default, auto, runs everywhere (interpreting where there is no JIT).
            let engine =
                EngineBox::new(self.kind).unwrap_or(EngineBox::Interp(rarvm_interp::Interp));
            self.engine = Some(engine);
        }
        let root = self.root.take().expect("the root is present between runs");
        let engine = self.engine.as_mut().expect("chosen above");
        self.fresh = false;
        self.root = Some(machine::run_with_host(
            root,
            engine,
            &mut self.host,
            gas,
            mem,
        ));
        self.outcome()
    }

    /// Adds `gas` and `mem` bytes to the root's allowances without running it: what
    /// [`Vm::run`] adds before it runs. A host that runs the root in slices (`docs/SPEC.md`
    /// §8.1) credits the rest of the total this way once the root is final or yielded, so
    /// it ends in the same image as one run with the whole total.
    pub fn add_allowance(&mut self, gas: u64, mem: u64) {
        let root = self.root_mut();
        root.gas_left = root.gas_left.saturating_add(gas);
        root.mem_limit = root.mem_limit.saturating_add(mem);
    }

    /// Gives the root exactly `gas` to use from now on, whatever it had left: a host that
    /// grants a fresh allowance per turn (a vat) does this before each turn, so gas left
    /// over from one turn is never banked for the next.
    pub fn set_gas_left(&mut self, gas: u64) {
        self.root_mut().gas_left = gas;
    }

    /// Replaces the root's port with `words` (the first word at the bottom, so the root's
    /// `in` pops the last one first), as a parent's `child.push` would. A host resuming a
    /// `yielded` or `ready` root with a message does this between runs.
    ///
    /// # Errors
    /// [`Error::Port`] if `words` is longer than a port holds; the port is unchanged.
    pub fn set_port(&mut self, words: &[u64]) -> Result<(), Error> {
        if words.len() > rarvm_runtime::limits::MAX_PORT {
            return Err(Error::Port {
                words: words.len(),
                max: rarvm_runtime::limits::MAX_PORT,
            });
        }
        let port = &mut self.root_mut().port;
        port.clear();
        port.extend_from_slice(words);
        Ok(())
    }

    /// Removes the host's answers so far from the root and returns them, freeing their
    /// share of its footprint: a host that logs each turn's answers itself (a vat, which
    /// replays them on restart) keeps the transcript to one turn's.
    pub fn take_transcript(&mut self) -> Transcript {
        let root = self.root_mut();
        let freed: u64 = root.transcript.iter().map(Record::footprint).sum();
        root.footprint -= freed;
        std::mem::take(&mut root.transcript)
    }

    /// The root's current status, counters and port.
    pub fn outcome(&self) -> Outcome {
        let r = self.root_ref();
        Outcome {
            status: r.status,
            fault: (r.status == Status::Faulted).then_some(r.fault),
            gas_used: r.gas_used,
            gas_left: r.gas_left,
            results: r.port.clone(),
        }
    }

    /// The root process and, through it, the whole tree.
    pub fn root(&self) -> ProcessView<'_> {
        ProcessView(self.root_ref())
    }

    /// The root's program: the module it runs.
    pub fn root_program(&self) -> Program {
        Program(Arc::clone(&self.root_ref().module))
    }

    fn root_ref(&self) -> &Process {
        self.root
            .as_deref()
            .expect("the root is present between runs")
    }

    fn root_mut(&mut self) -> &mut Process {
        self.root
            .as_deref_mut()
            .expect("the root is present between runs")
    }

    /// The canonical image of the whole tree, the root's transcript included.
    pub fn image(&self) -> Vec<u8> {
        image::encode(self.root_ref())
    }

    /// [`Vm::image`] into `out`, replacing its contents and reusing its allocation (for
    /// taking many images, e.g. one per turn, without mapping fresh memory for each).
    pub fn image_into(&self, out: &mut Vec<u8>) {
        image::encode_to(self.root_ref(), out);
    }

    /// Streams the image to `out` without holding it in memory; returns its hash.
    ///
    /// # Errors
    /// The first error `out` returned.
    pub fn write_image<W: std::io::Write>(&self, out: &mut W) -> std::io::Result<String> {
        image::write_to(self.root_ref(), out)
    }
}

/// A new root for `program(args)`.
fn root_of(program: &Program, args: &[u64]) -> Result<Box<Process>, Error> {
    let m = &program.0;
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
    Ok(Box::new(root))
}
