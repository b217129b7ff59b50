//! The engines every case and program runs on.

use rarvm::{EngineKind, Vm};

/// An engine configuration under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The reference interpreter: the oracle.
    Interp,
    /// The JIT, compiling everything first.
    Jit,
    /// Auto with its default threshold.
    Auto,
    /// Auto compiling at the first call or back edge: hands over as often as it can.
    AutoHot,
}

impl Engine {
    pub const ALL: [Engine; 4] = [Engine::Interp, Engine::Jit, Engine::Auto, Engine::AutoHot];

    pub fn name(self) -> &'static str {
        match self {
            Engine::Interp => "interp",
            Engine::Jit => "jit",
            Engine::Auto => "auto",
            Engine::AutoHot => "auto-hot",
        }
    }

    /// Makes `vm` run on this engine.
    ///
    /// # Panics
    /// If the JIT cannot run on this host.
    pub fn apply(self, vm: &mut Vm) {
        let kind = match self {
            Engine::Interp => EngineKind::Interp,
            Engine::Jit => EngineKind::Jit,
            Engine::Auto | Engine::AutoHot => EngineKind::Auto,
        };
        vm.set_engine(kind).expect("the JIT runs on this host");
        if let Some(jit) = vm.jit_mut() {
            jit.set_hot_threshold(if self == Engine::AutoHot {
                1
            } else {
                rarvm::DEFAULT_HOT
            });
        }
    }
}
