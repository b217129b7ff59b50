//! The benchmark kernels in Entish (`benches/programs/*.et`) compute exactly what the
//! hand-written `.rasm` versions compute; `kernel_speed` (ignored by default, run it in
//! release mode) measures both on the JIT side by side.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rarvm_lang::{compile, FsLoader, Options};
use rarvm_runtime::process::{Process, Status};
use rarvm_runtime::verify::VerifiedModule;
use rarvm_runtime::{asm, machine, Engine};

/// (name, benchmark arguments, small arguments for the correctness check)
const KERNELS: &[(&str, &[u64], &[u64])] = &[
    ("fib", &[32], &[20]),
    ("sieve", &[10_000_000], &[100_000]),
    ("matmul", &[200], &[17]),
    ("hash", &[131_072, 32], &[1000, 3]),
    ("sort", &[200_000], &[1000]),
    ("bf", &[], &[]),
    ("fannkuch", &[9], &[7]),
    ("crc32", &[1 << 20, 8], &[4096, 2]),
    ("list", &[10_000, 1000], &[1000, 10]),
];

fn programs(name: &str) -> (Arc<VerifiedModule>, Arc<VerifiedModule>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/programs");
    let rasm_path = dir.join(format!("{name}.rasm"));
    let text = std::fs::read_to_string(&rasm_path).unwrap();
    let rasm = asm::assemble_verified(&text, &rasm_path.display().to_string()).unwrap();
    let et = compile(
        &FsLoader,
        &dir.join(format!("{name}.et")),
        &Options::default(),
    )
    .unwrap_or_else(|d| panic!("{}", d.render(false)));
    let et = rarvm_runtime::verify(et.module).unwrap();
    (rasm, et)
}

fn run(m: &Arc<VerifiedModule>, args: &[u64], engine: &mut dyn Engine) -> (u64, u64) {
    let mut root = Box::new(Process::new(m.clone(), m.module().entry));
    root.port.extend_from_slice(args);
    let root = machine::run(root, engine, u64::MAX / 2, 1 << 30);
    assert_eq!(root.status, Status::Returned, "{:?}", root.fault);
    (root.port[0], root.gas_used)
}

#[test]
fn kernels_compute_what_the_assembler_versions_compute() {
    for (name, _, small) in KERNELS {
        let (rasm, et) = programs(name);
        let (want, want_gas) = run(&rasm, small, &mut rarvm_interp::Interp);
        let (got, got_gas) = run(&et, small, &mut rarvm_interp::Interp);
        assert_eq!(got, want, "{name}");
        println!("{name}: result {got}, gas {got_gas} (rasm {want_gas})");
    }
}

/// The fastest run: the one least disturbed by anything else on the machine.
fn fastest(v: Vec<Duration>) -> Duration {
    v.into_iter().min().unwrap_or_default()
}

/// `cargo test -p rarvm-lang --release --test kernels -- --ignored --nocapture`
#[test]
#[ignore = "timing: run in release mode on a quiet machine"]
fn kernel_speed() {
    let mut jit = rarvm_jit::Jit::new(rarvm_jit::Mode::Jit).unwrap();
    let runs = 11;
    let only = std::env::var("KERNELS").unwrap_or_default();
    for (name, args, _) in KERNELS {
        if !only.is_empty() && !only.split(',').any(|k| k == *name) {
            continue;
        }
        let (rasm, et) = programs(name);
        // Compile both before timing.
        let a = run(&rasm, args, &mut jit);
        let b = run(&et, args, &mut jit);
        assert_eq!(a.0, b.0, "{name}");
        let mut tr = Vec::new();
        let mut te = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            run(&rasm, args, &mut jit);
            tr.push(t.elapsed());
            let t = Instant::now();
            run(&et, args, &mut jit);
            te.push(t.elapsed());
        }
        let (r, e) = (fastest(tr), fastest(te));
        println!(
            "{name:8} rasm {:>9.3} ms  et {:>9.3} ms  ratio {:.3}  (gas {} vs {})",
            r.as_secs_f64() * 1e3,
            e.as_secs_f64() * 1e3,
            e.as_secs_f64() / r.as_secs_f64(),
            a.1,
            b.1
        );
    }
}

/// Compile speed in source lines per second over a large generated program (release
/// mode: `cargo test -p rarvm-lang --release --test lang compile_speed -- --ignored --nocapture`).
#[test]
#[ignore = "timing: run in release mode"]
fn compile_speed() {
    let mut src = String::from("typ P {u64 x, i64 y}\n\n");
    let n = 2000;
    for f in 0..n {
        src.push_str(&format!(
            "# function {f}\n\
             def f{f}(a: [u64], n, p: P) -> u64:\n\
             \x20   total = 0\n\
             \x20   for i in range(len(a)):\n\
             \x20       if a[i] % 3 == 0 and i < n:\n\
             \x20           total += a[i] * {f}\n\
             \x20       elif a[i] > p.x:\n\
             \x20           total ^= a[i] >> 2\n\
             \x20       else:\n\
             \x20           a[i] = total + (p.y as u64)\n\
             \x20   while n > 0:\n\
             \x20       n -= 1\n\
             \x20       total = total * 31 + n\n\
             \x20   return total\n\n"
        ));
    }
    src.push_str("def main(n):\n    a = new u64[16]\n    t = 0\n");
    for f in 0..n {
        src.push_str(&format!("    t += f{f}(a, n, P{{n, -1}})\n"));
    }
    src.push_str("    return t\n");
    let lines = src.lines().count();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let c = rarvm_lang::compile_str("big.et", &src, &Options::default()).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(c.module.funcs.len(), n + 1);
    }
    let t = Instant::now();
    rarvm_lang::check(
        &rarvm_lang::MemoryLoader::new([("big.et".into(), src.clone())]),
        Path::new("big.et"),
    )
    .unwrap();
    let check = t.elapsed().as_secs_f64();
    println!(
        "{lines} lines: compile {:.1} ms ({:.0} lines/s), check only {:.1} ms",
        best * 1e3,
        lines as f64 / best,
        check * 1e3
    );
}

/// Prints a kernel's compiled code: `KERNEL=sieve cargo test -p rarvm-lang --test lang show_kernel -- --ignored --nocapture`.
#[test]
#[ignore = "prints code"]
fn show_kernel() {
    let name = std::env::var("KERNEL").unwrap_or_else(|_| "sieve".into());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/programs");
    let c = compile(
        &FsLoader,
        &dir.join(format!("{name}.et")),
        &Options::default(),
    )
    .unwrap();
    println!("{}", c.rasm());
}

/// Prints the diagnostics of a file: `ET=path cargo test -p rarvm-lang --test lang show_diagnostics -- --ignored --nocapture`.
#[test]
#[ignore = "prints diagnostics"]
fn show_diagnostics() {
    let path = std::env::var("ET").unwrap();
    match compile(&FsLoader, Path::new(&path), &Options::default()) {
        Ok(c) => println!("{}", c.rasm()),
        Err(d) => println!("{}\n{d}", d.render(false)),
    }
}

/// Times the compilation of a file: `ET=path cargo test -p rarvm-lang --release --test lang time_compile -- --ignored --nocapture`.
#[test]
#[ignore = "timing"]
fn time_compile() {
    let path = std::env::var("ET").unwrap();
    let t = Instant::now();
    let r = compile(&FsLoader, Path::new(&path), &Options::default());
    println!("compiled in {:?}: {}", t.elapsed(), r.is_ok());
}
