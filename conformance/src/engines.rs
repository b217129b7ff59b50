//! The engines every case and program runs on.

use rarvm::{EngineKind, Vm};

/// An engine configuration under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The reference interpreter: the oracle.
    Interp,
    /// The JIT compiling every function the first time it runs: native code everywhere,
    /// handing over as often as it can.
    JitEager,
    /// The JIT as users run it: functions compiled once they earned it.
    Jit,
    /// Auto: only hot functions compiled.
    Auto,
}

impl Engine {
    pub const ALL: [Engine; 4] = [Engine::Interp, Engine::JitEager, Engine::Jit, Engine::Auto];

    pub fn name(self) -> &'static str {
        match self {
            Engine::Interp => "interp",
            Engine::JitEager => "jit-eager",
            Engine::Jit => "jit",
            Engine::Auto => "auto",
        }
    }

    /// Makes `vm` run on this engine.
    ///
    /// # Panics
    /// If the JIT cannot run on this host.
    pub fn apply(self, vm: &mut Vm) {
        let kind = match self {
            Engine::Interp => EngineKind::Interp,
            Engine::JitEager | Engine::Jit => EngineKind::Jit,
            Engine::Auto => EngineKind::Auto,
        };
        vm.set_engine(kind).expect("the JIT runs on this host");
        if self == Engine::JitEager {
            if let Some(jit) = vm.jit_mut() {
                jit.set_compile_rate(0);
            }
        }
    }
}
