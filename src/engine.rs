//! The engines: one enum for every part of the project that chooses one.

use rarvm_interp::{Interp, Reference};
use rarvm_runtime::engine::{Budget, Engine, Exit};
use rarvm_runtime::process::Process;

use crate::Error;

/// Which engine runs process code. All give identical results, gas and images.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// The interpreter: the reference semantics with short runs of instructions fused
    /// into one op each.
    Interp,
    /// The reference interpreter, one op per instruction: the definition every other
    /// engine is compared against in the conformance suite and the differential fuzzer.
    Reference,
    /// The Cranelift JIT, compiling each function once it has earned it.
    Jit,
    /// The interpreter first; functions that become clearly hot are compiled.
    #[default]
    Auto,
    /// The JIT compiling every function the first time it runs: native code everywhere.
    /// For tests, which hand over between the engines as often as they can; compiling is
    /// then not bounded by the gas a program pays (`docs/SPEC.md` §7.1).
    JitEager,
    /// The JIT without gas checks on blocks and calls, for trusted code and for measuring
    /// what metering costs; everything but the gas counters is what the others produce.
    JitUnmetered,
}

impl EngineKind {
    /// Every engine.
    pub const ALL: [EngineKind; 6] = [
        EngineKind::Reference,
        EngineKind::Interp,
        EngineKind::Jit,
        EngineKind::Auto,
        EngineKind::JitEager,
        EngineKind::JitUnmetered,
    ];
    /// The engines the command line offers.
    pub const PUBLIC: [EngineKind; 3] = [EngineKind::Interp, EngineKind::Jit, EngineKind::Auto];

    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Interp => "interp",
            EngineKind::Reference => "reference",
            EngineKind::Jit => "jit",
            EngineKind::Auto => "auto",
            EngineKind::JitEager => "jit-eager",
            EngineKind::JitUnmetered => "jit-unmetered",
        }
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;
    /// One of the command line's engines ([`EngineKind::PUBLIC`]).
    fn from_str(s: &str) -> Result<Self, String> {
        EngineKind::PUBLIC
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| format!("unknown engine `{s}` (expected one of: interp, jit, auto)"))
    }
}

/// An engine instance; the JIT keeps its compiled code across runs.
pub(crate) enum EngineBox {
    Interp(Interp),
    Reference(Reference),
    #[cfg(feature = "jit")]
    Jit(Box<rarvm_jit::Jit>),
}

impl EngineBox {
    /// An engine of `kind`. `Auto` falls back to the interpreter where there is no JIT.
    pub(crate) fn new(kind: EngineKind) -> Result<EngineBox, Error> {
        #[cfg(feature = "jit")]
        {
            use rarvm_jit::{Jit, Mode};
            let jit = match kind {
                EngineKind::Interp => return Ok(EngineBox::Interp(Interp)),
                EngineKind::Reference => return Ok(EngineBox::Reference(Reference)),
                EngineKind::Jit => Jit::new(Mode::Jit),
                EngineKind::Auto => Jit::new(Mode::Auto),
                EngineKind::JitEager => Jit::new(Mode::Jit).map(|mut j| {
                    j.set_compile_rate(0);
                    j
                }),
                EngineKind::JitUnmetered => Jit::unmetered(Mode::Jit),
            };
            match jit {
                Ok(j) => Ok(EngineBox::Jit(Box::new(j))),
                Err(_) if kind == EngineKind::Auto => Ok(EngineBox::Interp(Interp)),
                Err(reason) => Err(Error::EngineUnavailable {
                    engine: kind,
                    reason,
                }),
            }
        }
        #[cfg(not(feature = "jit"))]
        match kind {
            EngineKind::Interp | EngineKind::Auto => Ok(EngineBox::Interp(Interp)),
            EngineKind::Reference => Ok(EngineBox::Reference(Reference)),
            EngineKind::Jit | EngineKind::JitEager | EngineKind::JitUnmetered => {
                Err(Error::EngineUnavailable {
                    engine: kind,
                    reason: "this build of rarvm has no JIT (feature `jit`)".into(),
                })
            }
        }
    }
}

impl Engine for EngineBox {
    fn run(&mut self, leaf: &mut Process, budget: &mut Budget) -> Exit {
        match self {
            EngineBox::Interp(e) => e.run(leaf, budget),
            EngineBox::Reference(e) => e.run(leaf, budget),
            #[cfg(feature = "jit")]
            EngineBox::Jit(e) => e.run(leaf, budget),
        }
    }
}
