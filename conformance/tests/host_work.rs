//! The promise about host CPU, checked deterministically (`docs/SPEC.md` §7.1): for every
//! adversarial program, on every engine, the host work it causes — bytes zeroed, copied and
//! filled, bytes decoded and encoded, and what the JIT compiled — stays within a constant
//! times the gas it was charged. (The `costs` benchmark measures the same in nanoseconds.)

use rarvm::meter;
use rarvm::{EngineKind, Status};
use rarvm_conformance::adversarial::{cases, vm};

// The tests build rarvm with its `meter` feature (a dev-dependency of this crate).
const _: () = assert!(meter::ENABLED, "build with rarvm's `meter` feature");

/// Bytes the host may zero, copy or fill per gas (instructions pay 1 gas per 32 bytes).
const TOUCHED_PER_GAS: u64 = 40;
/// Bytes it may decode per gas (`child.load` pays 1 per byte, and `spawn.bytes` 32, as
/// `child.load` does for the code in an image).
const DECODED_PER_GAS: u64 = 1;
/// Bytes of images it may encode per gas (`child.save` pays 1 per 32 bytes of footprint).
const ENCODED_PER_GAS: u64 = 32;

#[test]
fn host_work_stays_within_a_constant_times_gas() {
    let mut failures = Vec::new();
    for case in cases() {
        for engine in [EngineKind::Interp, EngineKind::Jit, EngineKind::Auto] {
            let (mut v, m) = vm(&case, engine);
            v.restart(&m, &[]).unwrap();
            meter::take();
            let out = v.run(case.gas / 4, case.mem);
            let work = meter::take();
            assert_eq!(
                out.status,
                Status::OutOfGas,
                "{} on {}",
                case.name,
                engine.name()
            );
            let gas = out.gas_used.max(1);
            let name = format!("{} on {}", case.name, engine.name());
            for (what, n, per) in [
                ("touched", work.touched, TOUCHED_PER_GAS),
                ("decoded", work.decoded, DECODED_PER_GAS),
                ("encoded", work.encoded, ENCODED_PER_GAS),
            ] {
                if n > per * gas {
                    failures.push(format!("{name}: {n} bytes {what} for {gas} gas"));
                }
            }
            if let Some(stats) = v.jit_stats() {
                let rate = if engine == EngineKind::Jit {
                    rarvm::JIT_RATE
                } else {
                    rarvm::AUTO_RATE
                };
                if stats.compile_cost * rate > gas {
                    failures.push(format!(
                        "{name}: compiled {} cost units for {gas} gas",
                        stats.compile_cost
                    ));
                }
            }
            // The counters see the work these cases are about.
            let expect_decoding =
                case.name.starts_with("spawn.bytes") || case.name.starts_with("child.load");
            if expect_decoding && work.decoded == 0 {
                failures.push(format!("{name}: no decoding counted"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
