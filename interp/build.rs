//! Enables the interpreter's threaded dispatch (`cfg(rarvm_threaded)`) where the compiler
//! turns an op's call of the next op into a jump: optimized builds (LLVM's sibling-call
//! optimization does not run below opt-level 2) for x86-64 and aarch64. Elsewhere —
//! unoptimized builds, wasm32 without its tail-call feature — the interpreter's `match`
//! loop runs every op.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(rarvm_threaded)");
    println!("cargo::rerun-if-changed=build.rs");
    let opt = std::env::var("OPT_LEVEL").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if matches!(opt.as_str(), "2" | "3" | "s" | "z")
        && matches!(arch.as_str(), "x86_64" | "aarch64")
    {
        println!("cargo::rustc-cfg=rarvm_threaded");
    }
}
