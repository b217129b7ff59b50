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
