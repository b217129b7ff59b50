//! The Entish compiler's tests: diagnostics, the language's semantics run on the
//! interpreter, the examples, the benchmark kernels, the program
//! generator, determinism and robustness.

mod common;
mod diagnostics;
mod examples;
mod generated;
mod kernels;
mod language;
mod robustness;
mod stdlib;
