//! Every kernel's benchmark-size answer on every engine, without criterion: the assembler
//! and Entish versions on each rarvm engine, the WAT on Wasmtime and wasmi, and the Rust
//! version; checks that all agree and prints the answer with the wall time of single runs
//! (the first, which includes any JIT compiling, and the second). Single runs are not a
//! benchmark: `cargo bench -p rarvm-benches` measures.
//!
//! `cargo run --release -p rarvm-benches --example answers [NAME...]`

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rarvm::EngineKind;
use rarvm_benches::{kernels, Rarvm, Wasmi, Wasmtime};

/// Runs `f` twice; returns its answers and the time of each run.
fn twice(mut f: impl FnMut() -> u64) -> ([u64; 2], [Duration; 2]) {
    let t = Instant::now();
    let a = f();
    let first = t.elapsed();
    let t = Instant::now();
    let b = f();
    ([a, b], [first, t.elapsed()])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() -> ExitCode {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let all = kernels();
    if let Some(bad) = only
        .iter()
        .find(|n| !all.iter().any(|k| k.name == n.as_str()))
    {
        let names: Vec<&str> = all.iter().map(|k| k.name).collect();
        eprintln!("no kernel {bad}: the kernels are {}", names.join(", "));
        return ExitCode::FAILURE;
    }
    let mut failed = false;
    println!("Single runs (not a benchmark): `first` includes JIT compiling, `second` reuses it.");
    for k in all
        .iter()
        .filter(|k| only.is_empty() || only.iter().any(|n| n == k.name))
    {
        let args = &k.args[..k.rasm_args];
        let (a, b) = (k.args[0] as i64, k.args[1] as i64);
        let mut rows: Vec<(String, [u64; 2], [Duration; 2])> = Vec::new();
        let (v, t) = twice(k.native);
        rows.push(("native".into(), v, t));
        for e in EngineKind::ALL {
            let mut r = Rarvm::new(k.rasm, args, e);
            let (v, t) = twice(|| r.run());
            rows.push((format!("rasm {}", e.name()), v, t));
        }
        for e in EngineKind::ALL {
            let mut r = Rarvm::entish(k.et, &format!("{}.et", k.name), args, e);
            let (v, t) = twice(|| r.run());
            rows.push((format!("entish {}", e.name()), v, t));
        }
        let wasmtime = Wasmtime::new(k.wat, false);
        let (v, t) = twice(|| wasmtime.run("run", a, b));
        rows.push(("wasmtime".into(), v, t));
        let wasmi = Wasmi::new(k.wat);
        let (v, t) = twice(|| wasmi.run("run", a, b));
        rows.push(("wasmi".into(), v, t));

        let want = rows[0].1[0];
        let agree = rows.iter().all(|(_, v, _)| v.iter().all(|&x| x == want));
        failed |= !agree;
        println!(
            "\n{} {args:?}: {}",
            k.name,
            if agree {
                format!("{want} on all {} engines", rows.len())
            } else {
                "ENGINES DISAGREE".into()
            }
        );
        println!("  {:<22} {:>12} {:>12}", "engine", "first", "second");
        for (name, v, t) in &rows {
            let mark = if v.iter().all(|&x| x == want) {
                String::new()
            } else {
                format!("  answers {} and {}, not {want}", v[0], v[1])
            };
            println!("  {name:<22} {:>12} {:>12}{mark}", ms(t[0]), ms(t[1]));
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
