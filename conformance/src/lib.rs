//! rarvm's conformance suite: the oracle that makes the JIT's speed trustworthy.
//!
//! - [`case`]: spec tests as data — assembler files with `;!` directives, run on every
//!   engine, checked against expectations and against each other.
//! - [`gen`]: a seeded generator of valid programs with real structure.
//! - [`oracle`]: runs a program on every engine with the same budgets and compares status,
//!   results, gas and image bytes at every return to the host, minimizing any divergence.
//!
//! `cargo run --release -p rarvm-conformance --example conformance -- fuzz --programs N --seed S` runs the
//! differential fuzzer; `cargo test -p rarvm-conformance` runs the cases.

pub mod adversarial;
pub mod case;
pub mod gen;
pub mod oracle;
pub mod rng;
pub mod targets;

use rarvm::{EngineKind, Vm};

/// The engines every case and program runs on: the reference interpreter first (the
/// oracle), then the interpreter with fused ops, then the JIT compiling every function the first time it runs (native code
/// everywhere, handing over as often as it can), and the JIT and auto as users run them.
pub const ENGINES: [EngineKind; 5] = [
    EngineKind::Reference,
    EngineKind::Interp,
    EngineKind::JitEager,
    EngineKind::Jit,
    EngineKind::Auto,
];

/// Makes `vm` run on `engine`.
///
/// # Panics
/// If the JIT cannot run on this host.
pub fn apply(engine: EngineKind, vm: &mut Vm) {
    vm.set_engine(engine).expect("the JIT runs on this host");
}
