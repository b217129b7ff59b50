//! The differential oracle: the JIT is correct when it cannot be told apart from the
//! reference interpreter.
//!
//! A [`Schedule`] is a sequence of returns to the host: each adds gas and memory and runs
//! the tree to its next stop. Every engine follows the same schedule from a fresh root, and
//! at every stop the status, results, gas and full image bytes must equal the interpreter's.
//! A second pass runs the schedule switching engine at every stop, passing the state through
//! its image; every stop must again equal the interpreter's.
//!
//! Every root is granted the same keys ([`fuzz_host`]): a console, a random generator, a
//! virtual clock and a scratch directory, reset before each run, so key operations, their
//! transcripts and what they print are compared too.
//!
//! Most programs come from the assembler generator ([`gen`]); every [`LANG_EVERY`]-th is a
//! random well-typed Entish program ([`rarvm_lang::gen`]), compiled, so the code the
//! compiler emits — and its debug section, which images carry — is compared as well.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use rarvm::{EngineKind, Outcome, Program, Status, Vm};

use crate::case::HostSpec;
use crate::gen;
use crate::rng::Rng;
use crate::{apply, ENGINES};

thread_local! {
    /// True while [`guarded`] runs on this thread: panics are recorded, not printed.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`; a panic anywhere in it (an engine, the machine, the image codec) becomes an
/// error naming where it happened and why. A panic is a broken promise, so the oracle
/// counts it as a divergence like any other.
///
/// # Errors
/// `f`'s error, or the panic's location and message.
pub fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) {
                LAST_PANIC.with(|l| *l.borrow_mut() = Some(info.to_string()));
            } else {
                previous(info);
            }
        }));
    });
    let outer = GUARDED.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    match result {
        Ok(r) => r,
        Err(payload) => {
            let message = LAST_PANIC
                .with(|l| l.borrow_mut().take())
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Err(format!("PANIC: {}", message.replace('\n', " ")))
        }
    }
}

/// The host every generated program runs with: its root's key slots 0–3 hold a console, a
/// random generator, a virtual clock and a read-write scratch directory (see
/// [`gen::ROOT_KEYS`]).
pub fn fuzz_host() -> HostSpec {
    HostSpec::new(
        &["console", "random:7", "clock:virtual", "fs:scratch:rw"],
        &[("a", b"hello"), ("d/b", b"xyz")],
        b"console input",
    )
}

/// Entry arguments and the (gas, memory) added at each return to the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub args: Vec<u64>,
    pub steps: Vec<(u64, u64)>,
}

/// Gas the probe run may use; generated programs stay around this size.
const PROBE_GAS: u64 = 300_000;
const PROBE_MEM: u64 = 1 << 20;

/// VMs for every engine, reused across programs so compiled code and allocations are kept.
pub struct Oracle {
    vms: Vec<(EngineKind, Option<Vm>)>,
    checked: u64,
    host: HostSpec,
}

impl Default for Oracle {
    fn default() -> Self {
        Oracle::new()
    }
}

impl Oracle {
    pub fn new() -> Oracle {
        Oracle {
            vms: ENGINES.iter().map(|&e| (e, None)).collect(),
            checked: 0,
            host: fuzz_host(),
        }
    }

    /// A fresh root of `module(args)` on the reference interpreter, with the oracle's host.
    fn probe(&self, module: &Program, args: &[u64]) -> Result<Vm, String> {
        let mut vm = Vm::new(module, args).map_err(|e| e.to_string())?;
        vm.set_engine(rarvm::EngineKind::Reference)
            .map_err(|e| e.to_string())?;
        self.host.apply(&mut vm)?;
        Ok(vm)
    }

    /// A VM on `engine` holding a fresh root of `module(args)`.
    fn vm(&mut self, i: usize, module: &Program, args: &[u64]) -> Result<&mut Vm, String> {
        // Start over now and then, so the JIT's code memory stays bounded.
        if self.checked.is_multiple_of(500) {
            self.vms[i].1 = None;
        }
        let (engine, slot) = &mut self.vms[i];
        match slot {
            Some(vm) => vm.restart(module, args).map_err(|e| e.to_string())?,
            None => {
                let mut vm = Vm::new(module, args).map_err(|e| e.to_string())?;
                apply(*engine, &mut vm);
                self.host.apply(&mut vm)?;
                *slot = Some(vm);
            }
        }
        Ok(slot.as_mut().expect("just set"))
    }

    /// Runs `module` under `schedule` on every engine. Returns the number of stops compared,
    /// or what diverged.
    ///
    /// # Errors
    /// A description of the first divergence.
    pub fn check(&mut self, module: &Program, schedule: &Schedule) -> Result<u64, String> {
        let at = Cell::new(("interp", 0usize, false));
        let result = guarded(|| self.compare(module, schedule, &at));
        if let Err(e) = &result {
            if e.starts_with("PANIC") {
                // A VM that panicked mid-run has lost its root: start every engine afresh.
                for (_, vm) in &mut self.vms {
                    *vm = None;
                }
                let (engine, stop, switching) = at.get();
                let how = if switching { ", switching engines" } else { "" };
                return Err(format!("{engine} at stop {stop}{how}: {e}"));
            }
        }
        result
    }

    /// [`Oracle::check`] without the panic guard; `at` tracks the engine and stop running.
    fn compare(
        &mut self,
        module: &Program,
        schedule: &Schedule,
        at: &Cell<(&'static str, usize, bool)>,
    ) -> Result<u64, String> {
        self.checked += 1;
        let mut reference: Vec<(Outcome, Vec<u8>, Vec<u8>)> = Vec::new();
        let mut compared = 0u64;
        for i in 0..self.vms.len() {
            let engine = self.vms[i].0;
            let world = self.host.fresh_world()?;
            let vm = self.vm(i, module, &schedule.args)?;
            for (k, &(gas, mem)) in schedule.steps.iter().enumerate() {
                at.set((engine.name(), k, false));
                let out = vm.run(gas, mem);
                let image = vm.image();
                let said = world.console.contents();
                if engine == EngineKind::Reference {
                    reference.push((out, image, said));
                    continue;
                }
                compared += 1;
                let (r_out, r_image, r_said) = &reference[k];
                if out != *r_out || image != *r_image || said != *r_said {
                    return Err(format!(
                        "{} differs from the interpreter at stop {k} (+{gas} gas, +{mem} memory): {out:?} vs {r_out:?}{}",
                        engine.name(),
                        if image != *r_image {
                            ", images differ"
                        } else if said != *r_said {
                            ", console output differs"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
        // The same stops again, switching engine at every one through the image, in one
        // world.
        self.host.fresh_world()?;
        let mut image = self.probe(module, &schedule.args)?.image();
        for (k, &(gas, mem)) in schedule.steps.iter().enumerate() {
            let i = (k + 1) % self.vms.len();
            let engine = self.vms[i].0;
            at.set((engine.name(), k, true));
            let vm = self.vm(i, module, &schedule.args)?;
            vm.load_image(&image)
                .map_err(|e| format!("an image did not load: {e}"))?;
            let out = vm.run(gas, mem);
            image = vm.image();
            compared += 1;
            let (r_out, r_image, _) = &reference[k];
            if out != *r_out || image != *r_image {
                return Err(format!(
                    "switching to {} at stop {k} (+{gas} gas, +{mem} memory) gives {out:?}, the interpreter {r_out:?}",
                    engine.name()
                ));
            }
        }
        Ok(compared)
    }
}

/// A schedule for `module`: budgets just below, at and above what its first run needs, in
/// a few returns to the host, with memory sometimes scarce.
///
/// # Errors
/// The oracle's host cannot be set up.
pub fn schedule(oracle: &Oracle, rng: &mut Rng, module: &Program) -> Result<Schedule, String> {
    let params = module.entry_params();
    let args: Vec<u64> = (0..params).map(|_| rng.word() % 1000).collect();
    let mut probe = oracle.probe(module, &args)?;
    oracle.host.fresh_world()?;
    let out = probe.run(PROBE_GAS, PROBE_MEM);
    let need = out.gas_used;
    let first = match rng.below(8) {
        0 => need.saturating_sub(1),
        1 => need,
        2 => need + 1,
        3 => rng.below(need + 1),
        4 => rng.below(200),
        5 => rng.below(need / 8 + 1),
        _ => need + rng.below(need + 1),
    };
    let mem = match rng.below(6) {
        0 => rng.below(4096),
        1 => rng.below(1 << 16),
        _ => PROBE_MEM,
    };
    let mut steps = vec![(first, mem)];
    if rng.chance(1, 4) {
        // A trickle: many small refuels, so the tree stops (and resumes, on another engine
        // in the switching pass) inside callees and children at many depths.
        let per = (need / 16).max(1);
        for _ in 0..rng.range(8, 40) {
            steps.push((rng.range(1, per), 0));
        }
    }
    for _ in 0..rng.below(6) {
        let gas = match rng.below(4) {
            0 => rng.below(50),
            1 => rng.below(need / 4 + 1),
            _ => rng.below(need + 1),
        };
        let mem = if rng.chance(1, 3) { rng.below(8192) } else { 0 };
        steps.push((gas, mem));
    }
    if out.status == Status::OutOfGas && rng.chance(1, 2) {
        steps.push((PROBE_GAS, PROBE_MEM));
    }
    Ok(Schedule { args, steps })
}

/// By default, one program in this many is an Entish program ([`is_entish`]).
pub const LANG_EVERY: u64 = 10;

/// True when program `index` of a run is an Entish program, with one in `every` (none for
/// 0): the last of each group of `every`.
pub fn is_entish(index: u64, every: u64) -> bool {
    every > 0 && index % every == every - 1
}

/// The Entish source of program `index` of run `seed` (when [`is_entish`]).
pub fn entish_source(seed: u64, index: u64) -> String {
    rarvm_lang::gen::program(Rng::for_item(seed, index).next_u64())
}

/// Generates program `index` of run `seed` and checks it, one program in [`LANG_EVERY`]
/// being an Entish one.
///
/// # Errors
/// A report of the divergence, with the seed, the minimized program as assembler text, and
/// the schedule that shows it.
pub fn fuzz_one(oracle: &mut Oracle, seed: u64, index: u64) -> Result<u64, String> {
    fuzz_one_with(oracle, seed, index, LANG_EVERY)
}

/// [`fuzz_one`] with one Entish program in `lang_every` (none for 0).
///
/// # Errors
/// As [`fuzz_one`]; for an Entish program, the report holds its source.
pub fn fuzz_one_with(
    oracle: &mut Oracle,
    seed: u64,
    index: u64,
    lang_every: u64,
) -> Result<u64, String> {
    if is_entish(index, lang_every) {
        return fuzz_entish(oracle, seed, index);
    }
    let mut rng = Rng::for_item(seed, index);
    let program = gen::program(&mut rng);
    let text = gen::render(&program);
    let module = Program::from_source(&text, "generated").map_err(|e| {
        format!("seed {seed}, program {index}: the generator made an invalid program: {e}\n{text}")
    })?;
    let schedule = guarded(|| schedule(oracle, &mut rng, &module))
        .map_err(|e| format!("seed {seed}, program {index}: the probe run failed: {e}\n{text}"))?;
    match oracle.check(&module, &schedule) {
        Ok(n) => Ok(n),
        Err(first) => {
            let (small, what) = minimize(oracle, program, &schedule, first);
            let mut report = String::new();
            writeln!(report, "divergence: seed {seed}, program {index}: {what}").unwrap();
            writeln!(
                report,
                "schedule: args {:?}, stops (gas, memory) {:?}",
                schedule.args, schedule.steps
            )
            .unwrap();
            writeln!(report, "minimized reproducer:\n{}", gen::render(&small)).unwrap();
            Err(report)
        }
    }
}

/// Compiles Entish program `index` of run `seed` and checks it.
fn fuzz_entish(oracle: &mut Oracle, seed: u64, index: u64) -> Result<u64, String> {
    let mut rng = Rng::for_item(seed, index);
    let src = rarvm_lang::gen::program(rng.next_u64());
    let what = format!("seed {seed}, program {index} (Entish)");
    let compiled = guarded(|| {
        rarvm_lang::compile_str("generated.et", &src, &rarvm_lang::Options::default())
            .map_err(|d| d.to_string())
    })
    .map_err(|e| {
        format!("{what}: the generator made a program that does not compile: {e}\n{src}")
    })?;
    let module = Program::from_bytes(&compiled.bytes())
        .map_err(|e| format!("{what}: the compiled module does not load: {e}\n{src}"))?;
    let schedule = guarded(|| schedule(oracle, &mut rng, &module))
        .map_err(|e| format!("{what}: the probe run failed: {e}\n{src}"))?;
    oracle.check(&module, &schedule).map_err(|e| {
        format!(
            "divergence: {what}: {e}\nschedule: args {:?}, stops (gas, memory) {:?}\nprogram:\n{src}",
            schedule.args, schedule.steps
        )
    })
}

/// Removes statements and simplifies results while the divergence persists.
pub fn minimize(
    oracle: &mut Oracle,
    mut program: gen::Program,
    schedule: &Schedule,
    mut what: String,
) -> (gen::Program, String) {
    'shrink: loop {
        for candidate in program.shrink() {
            let Ok(module) = Program::from_source(&gen::render(&candidate), "candidate") else {
                continue;
            };
            if let Err(w) = oracle.check(&module, schedule) {
                program = candidate;
                what = w;
                continue 'shrink;
            }
        }
        return (program, what);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entish_programs_are_mixed_in_and_agree_on_every_engine() {
        assert!(!is_entish(0, LANG_EVERY) && is_entish(LANG_EVERY - 1, LANG_EVERY));
        assert!(!(0..100).any(|i| is_entish(i, 0)));
        assert!((0..100).all(|i| is_entish(i, 1)));
        let mut oracle = Oracle::new();
        for index in 0..30 {
            let compared =
                fuzz_one_with(&mut oracle, 3, index, 1).unwrap_or_else(|e| panic!("{e}"));
            assert!(compared > 0);
        }
        assert_eq!(entish_source(3, 5), entish_source(3, 5));
        assert_ne!(entish_source(3, 5), entish_source(3, 6));
    }
}
