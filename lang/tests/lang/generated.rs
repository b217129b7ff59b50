//! Programs from the generator compile, verify and run the same on the interpreter and
//! the JIT, image bytes included.

use rarvm_runtime::{image, machine};

use crate::common::*;

#[test]
fn generated_programs_compile_and_agree_on_every_engine() {
    let mut jit = rarvm_jit::Jit::new(rarvm_jit::Mode::Jit).unwrap();
    let mut faults = 0;
    let mut seen = [0usize; 4];
    for seed in 0..150u64 {
        let src = rarvm_lang::gen::program(seed);
        for (n, what) in seen
            .iter_mut()
            .zip(["spawn steps(", "load(img", "<", "match ("])
        {
            *n += usize::from(src.contains(what));
        }
        assert_eq!(src, rarvm_lang::gen::program(seed), "deterministic");
        let c = match try_src(&src) {
            Ok(c) => c,
            Err(d) => panic!("seed {seed}:\n{src}\n{}", d.render(false)),
        };
        let setup = Setup {
            args: &[seed, 3],
            ..Setup::default()
        };
        let a = machine::run_with_host(
            root(&c, &setup),
            &mut rarvm_interp::Interp,
            &mut TestHost::default(),
            2_000_000,
            1 << 20,
        );
        let b = machine::run_with_host(
            root(&c, &setup),
            &mut jit,
            &mut TestHost::default(),
            2_000_000,
            1 << 20,
        );
        assert_eq!(image::encode(&a), image::encode(&b), "seed {seed}");
        if a.status != rarvm_runtime::process::Status::Returned {
            faults += 1;
        }
    }
    assert!(
        faults < 20,
        "most generated programs return ({faults} did not)"
    );
}

/// Whether a program's results can depend on gas: it reads a child's gas, or gives a
/// child or a sandbox call a budget it might outrun.
fn observes_gas(src: &str) -> bool {
    src.contains("gas") || src.contains(".run(") || {
        let b = src.as_bytes();
        (1..b.len()).any(|i| {
            b[i] == b'<'
                && b[i - 1].is_ascii_alphanumeric()
                && b.get(i + 1).is_some_and(u8::is_ascii_digit)
        })
    }
}

/// The optimizations change gas, never what a program computes: generated programs that
/// do not observe gas give the same status, fault and results compiled with and without
/// them.
#[test]
fn generated_programs_compute_the_same_unoptimized() {
    let plain = rarvm_lang::Options { optimize: false };
    let (mut compared, mut affine) = (0, 0);
    for seed in 0..4000u64 {
        let src = rarvm_lang::gen::program(seed);
        if observes_gas(&src) {
            continue;
        }
        compared += 1;
        affine += usize::from((0..3).any(|c| src.contains(&format!(" * {c}] = "))));
        let fast = try_src(&src).unwrap_or_else(|d| panic!("seed {seed}: {}", d.render(false)));
        let slow = rarvm_lang::compile_str("test.et", &src, &plain)
            .unwrap_or_else(|d| panic!("seed {seed}: {}", d.render(false)));
        let setup = Setup {
            args: &[seed, 3],
            gas: 50_000_000,
            ..Setup::default()
        };
        let (a, b) = (run_with(&fast, &setup), run_with(&slow, &setup));
        assert_eq!(
            (a.status, a.fault, &a.port),
            (b.status, b.fault, &b.port),
            "seed {seed}:\n{src}"
        );
    }
    assert!(
        compared > 200 && affine > 30,
        "{compared} programs compared, {affine} with affine accesses in loops"
    );
}
