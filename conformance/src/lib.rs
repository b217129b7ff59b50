//! rarvm's conformance suite: the oracle that makes the JIT's speed trustworthy.
//!
//! - [`case`]: spec tests as data — assembler files with `;!` directives, run on every
//!   engine, checked against expectations and against each other.
//! - [`gen`]: a seeded generator of valid programs with real structure.
//! - [`oracle`]: runs a program on every engine with the same budgets and compares status,
//!   results, gas and image bytes at every return to the host, minimizing any divergence.
//!
//! `cargo run --release -p rarvm-conformance -- fuzz --programs N --seed S` runs the
//! differential fuzzer; `cargo test -p rarvm-conformance` runs the cases.

pub mod adversarial;
pub mod case;
pub mod engines;
pub mod gen;
pub mod oracle;
pub mod rng;
pub mod targets;
