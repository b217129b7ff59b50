//! The library's promise to embedders: no entry point panics on a verified module or a
//! valid image. Drives `rarvm::Vm` directly (not the command line) over generated programs
//! on every engine, under a panic guard, with the calls an embedder makes: create, grant,
//! run in several slices, take images, resume them on other engines, restart, and reload
//! damaged images (which must be refused with an error).

use rarvm::{Program, Vm};
use rarvm_conformance::gen;
use rarvm_conformance::oracle::{fuzz_host, guarded, schedule, Oracle};
use rarvm_conformance::rng::Rng;
use rarvm_conformance::{apply, ENGINES};

const PROGRAMS: u64 = 500;

fn exercise(oracle: &Oracle, seed: u64, index: u64) -> Result<(), String> {
    let mut rng = Rng::for_item(seed, index);
    let text = gen::render(&gen::program(&mut rng));
    let module = Program::from_source(&text, "generated").map_err(|e| e.to_string())?;
    // The fuzzer's schedules: budgets around what the program needs, trickles of refuels.
    let plan = schedule(oracle, &mut rng, &module)?;
    let (args, slices) = (plan.args, plan.steps);
    let host = fuzz_host();
    for (n, engine) in ENGINES.into_iter().enumerate() {
        host.fresh_world()?;
        let mut vm = Vm::new(&module, &args).map_err(|e| e.to_string())?;
        apply(engine, &mut vm);
        host.apply(&mut vm)?;
        for &(gas, mem) in &slices {
            vm.run(gas, mem);
            let image = vm.image();
            // Resume the image on the next engine, and reload it here.
            let mut other = Vm::from_image(&image).map_err(|e| e.to_string())?;
            apply(ENGINES[(n + 1) % ENGINES.len()], &mut other);
            other.run(gas / 2, 0);
            other.image();
            vm.load_image(&image).map_err(|e| e.to_string())?;
            // Damaged images are errors, never panics.
            for cut in [image.len() / 2, image.len().saturating_sub(1)] {
                if Vm::from_image(&image[..cut]).is_ok() {
                    return Err(format!("a truncated image ({cut} bytes) was accepted"));
                }
            }
            let mut flipped = image.clone();
            let at = rng.below(flipped.len() as u64) as usize;
            flipped[at] ^= 1 << rng.below(8);
            if let Ok(mut damaged) = Vm::from_image(&flipped) {
                damaged.run(1000, 0);
            }
        }
        vm.restart(&module, &args).map_err(|e| e.to_string())?;
        vm.run(5_000, 1 << 16);
    }
    Ok(())
}

#[test]
fn no_entry_point_panics_on_generated_programs() {
    let oracle = Oracle::new();
    let mut failures = Vec::new();
    for i in 0..PROGRAMS {
        if let Err(e) = guarded(|| exercise(&oracle, 11, i)) {
            failures.push(format!("program {i} of seed 11: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
