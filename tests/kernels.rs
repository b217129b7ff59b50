//! The nine benchmark kernels (`benches/programs/NAME.rasm` and `NAME.et`) at small
//! arguments on every engine: each version returns, every run agrees with the native Rust
//! version at the same arguments, and the metered engines charge the same gas for the
//! same module. The native versions are `benches/src/native.rs` itself, included by path,
//! so this test builds neither the benches crate nor its Wasmtime.

use rarvm::{EngineKind, Program, Status, Vm};

#[path = "../benches/src/native.rs"]
mod native;

const GAS: u64 = u64::MAX / 2;
const MEM: u64 = 1 << 30;

fn source(name: &str, ext: &str) -> String {
    let path = format!(
        "{}/benches/programs/{name}.{ext}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn rasm(name: &str) -> Program {
    Program::from_source(&source(name, "rasm"), &format!("{name}.rasm"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn entish(name: &str) -> Program {
    let file = format!("{name}.et");
    let compiled =
        rarvm_lang::compile_str(&file, &source(name, "et"), &rarvm_lang::Options::default())
            .unwrap_or_else(|d| panic!("{}", d.render(false)));
    Program::from_bytes(&compiled.bytes()).expect("compiled modules load")
}

/// Runs `name`'s assembler and Entish versions with `args` on every engine and checks each
/// answer against `want`.
fn check(name: &str, args: &[u64], want: u64) {
    for (lang, program) in [("rasm", rasm(name)), ("et", entish(name))] {
        let mut metered_gas = None;
        for engine in EngineKind::ALL {
            let mut vm = Vm::new(&program, args).expect("arguments match");
            vm.set_engine(engine).expect("the engine runs on this host");
            let out = vm.run(GAS, MEM);
            let what = format!("{name}.{lang} {args:?} on {}", engine.name());
            assert_eq!(out.status, Status::Returned, "{what}: {out:?}");
            assert_eq!(out.results, [want], "{what}");
            if engine != EngineKind::JitUnmetered {
                let gas = *metered_gas.get_or_insert(out.gas_used);
                assert_eq!(out.gas_used, gas, "{what}: gas");
            }
        }
    }
}

/// The brainfuck program `bf.rasm` carries as its data (what `bf.et` holds as `PROG`).
fn bf_program() -> Vec<u8> {
    let program = rasm("bf");
    let (_, bytes) = program.data().next().expect("bf.rasm has a data segment");
    bytes.to_vec()
}

#[test]
fn fib() {
    check("fib", &[20], native::fib(20));
}

#[test]
fn sieve() {
    check("sieve", &[100_000], native::sieve(100_000));
}

#[test]
fn matmul() {
    check("matmul", &[17], native::matmul(17));
}

#[test]
fn hash() {
    check("hash", &[1000, 3], native::hash(1000, 3));
}

#[test]
fn sort() {
    check("sort", &[1000], native::sort(1000));
}

#[test]
fn bf() {
    check("bf", &[], native::bf(&bf_program()));
}

#[test]
fn fannkuch() {
    // The Benchmarks Game's figures: n = 7 gives checksum 228 and 16 flips at most.
    assert_eq!(native::fannkuch(7), 228_016);
    check("fannkuch", &[7], native::fannkuch(7));
}

#[test]
fn crc32() {
    // The CRC of the 4096 bytes twice over, as Python's zlib.crc32 computes it.
    assert_eq!(native::crc32(4096, 2), 0x3840_a185);
    check("crc32", &[4096, 2], native::crc32(4096, 2));
}

#[test]
fn list() {
    check("list", &[1000, 10], native::list(1000, 10));
    check("list", &[1, 3], native::list(1, 3));
}
