//! The differential fuzzer and the fixture maintenance commands:
//!
//! ```text
//! cargo run --release -p rarvm-conformance --example conformance -- fuzz --programs N --seed S [--threads T] [--lang-every K]
//! cargo run --release -p rarvm-conformance --example conformance -- show --seed S --program I
//! cargo run --release -p rarvm-conformance --example conformance -- bless
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rarvm_conformance::case::{find_cases, Case};
use rarvm_conformance::oracle::{entish_source, fuzz_one_with, is_entish, Oracle, LANG_EVERY};
use rarvm_conformance::{gen, rng::Rng};

#[derive(Parser)]
#[command(name = "rarvm-conformance", about = "rarvm's conformance tools")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate programs and compare every engine on each; exits non-zero on a divergence.
    Fuzz {
        #[arg(long, default_value_t = 1000)]
        programs: u64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Worker threads (default: the available parallelism).
        #[arg(long)]
        threads: Option<usize>,
        /// One program in K is a random Entish program, compiled (0: none).
        #[arg(long, value_name = "K", default_value_t = LANG_EVERY)]
        lang_every: u64,
    },
    /// Print program I of seed S: assembler text, or Entish source.
    Show {
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        program: u64,
        /// As for `fuzz`: one program in K is an Entish program.
        #[arg(long, value_name = "K", default_value_t = LANG_EVERY)]
        lang_every: u64,
    },
    /// Rewrite the `expect image` hashes of the cases with the interpreter's (deliberate
    /// format or semantics changes only).
    Bless,
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Fuzz {
            programs,
            seed,
            threads,
            lang_every,
        } => fuzz(programs, seed, threads, lang_every),
        Cmd::Show {
            seed,
            program,
            lang_every,
        } => {
            if is_entish(program, lang_every) {
                print!("{}", entish_source(seed, program));
            } else {
                print!(
                    "{}",
                    gen::render(&gen::program(&mut Rng::for_item(seed, program)))
                );
            }
            ExitCode::SUCCESS
        }
        Cmd::Bless => bless(),
    }
}

fn fuzz(programs: u64, seed: u64, threads: Option<usize>, lang_every: u64) -> ExitCode {
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let bar = ProgressBar::new(programs);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} programs, {per_sec}, {msg} [{elapsed_precise}, eta {eta}]",
        )
        .expect("a valid template"),
    );
    let next = AtomicU64::new(0);
    let exits = AtomicU64::new(0);
    let divergences: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut oracle = Oracle::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= programs {
                        break;
                    }
                    match fuzz_one_with(&mut oracle, seed, i, lang_every) {
                        Ok(n) => {
                            exits.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(report) => {
                            bar.suspend(|| eprintln!("{report}"));
                            divergences
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(report);
                        }
                    }
                    bar.inc(1);
                    let d = divergences.lock().unwrap_or_else(|e| e.into_inner()).len();
                    bar.set_message(format!(
                        "{} exits compared, {d} divergences",
                        exits.load(Ordering::Relaxed)
                    ));
                }
            });
        }
    });
    bar.finish_and_clear();
    let d = divergences
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .len();
    eprintln!(
        "seed {seed}, {threads} threads, {:.1} s",
        start.elapsed().as_secs_f64()
    );
    println!(
        "programs: {programs}, exits compared: {}, divergences: {d}",
        exits.into_inner()
    );
    if d == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn bless() -> ExitCode {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut failed = false;
    for path in find_cases(&dir) {
        match Case::load(&path).and_then(|c| c.bless()) {
            Ok(Some(text)) => {
                std::fs::write(&path, text).expect("the case file is writable");
                println!("blessed {}", path.display());
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
