//! The body of the compiler's `cargo fuzz` target (`conformance/fuzz/fuzz_targets/compiler.rs`).

/// Compiles arbitrary bytes as an Entish main file: the compiler must return a module
/// that verifies or diagnostics that render, and never panic.
pub fn compile_bytes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match crate::compile_str("fuzz.et", text, &crate::Options::default()) {
        Ok(c) => {
            rarvm_runtime::verify(c.module.clone()).expect("compiled modules verify");
        }
        Err(d) => {
            assert!(!d.is_empty(), "a failed compilation has a diagnostic");
            let _ = d.render(false);
            let _ = d.located();
        }
    }
}
