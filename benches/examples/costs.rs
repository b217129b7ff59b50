//! A quick look at the costs group without criterion: `cargo run --release -p rarvm-benches
//! --example costs [FILTER]` prints host ns per gas for each case (the best of three runs)
//! and its ratio to the yardstick. The report's numbers come from `cargo bench`.

use rarvm_conformance::adversarial::{cases, run, vm};

fn main() {
    let filter = std::env::args().nth(1).unwrap_or_default();
    let mut yardstick = None;
    if std::env::var_os("COSTS_DUMP").is_some() {
        // The program of one case, to run with the command line.
        if let Some(case) = cases().into_iter().find(|c| c.name == filter) {
            print!("{}", case.src);
        }
        return;
    }
    for case in cases() {
        if !case.name.contains(&filter) && case.name != "arith" {
            continue;
        }
        for &engine in case.engines {
            let (mut v, m) = vm(&case, engine);
            let best = (0..3)
                .map(|_| run(&case, &mut v, &m).ns_per_gas())
                .fold(f64::INFINITY, f64::min);
            let y = *yardstick.get_or_insert(best);
            println!(
                "{:<26} {:<7} {:>10.2} ns/gas {:>8.1}x",
                case.name,
                engine.name(),
                best,
                best / y
            );
        }
    }
}
