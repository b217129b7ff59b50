//! Every example compiles and does what its header says.

use rarvm_runtime::process::Status;

use crate::common::*;

#[test]
fn sandbox_returns_f_of_the_argument() {
    let c = compile_file("examples/sandbox.et");
    let r = run(&c, &[41]);
    assert_eq!((r.status, r.port), (Status::Returned, vec![42]));
}

#[test]
fn sandbox_costs_what_the_assembler_version_costs() {
    let et = compile_file("examples/sandbox.et");
    let text = std::fs::read_to_string(repo().join("examples/sandbox.rasm")).unwrap();
    let rasm = rarvm_runtime::asm::assemble(&text, "sandbox.rasm").unwrap();
    let r_et = run(&et, &[41]);
    let r_asm = {
        let m = rarvm_runtime::verify(rasm).unwrap();
        let entry = m.module().entry;
        let mut root = Box::new(rarvm_runtime::process::Process::new(m, entry));
        root.port.push(41);
        rarvm_runtime::machine::run(root, &mut rarvm_interp::Interp, 1_000_000_000, 1 << 24)
    };
    assert_eq!(r_et.port, r_asm.port);
    // The Entish version also checks the child's status (push, eq, jz) and drops the
    // child on both paths: a handful of gas more, never more than 10%.
    assert!(
        r_et.gas_used >= r_asm.gas_used,
        "{} vs {}",
        r_et.gas_used,
        r_asm.gas_used
    );
    assert!(
        r_et.gas_used * 10 <= r_asm.gas_used * 11,
        "{} vs {}",
        r_et.gas_used,
        r_asm.gas_used
    );
}

#[test]
fn sandbox_loop_child_runs_out_of_gas_and_the_parent_goes_on() {
    let c = compile_file("examples/sandbox_loop.et");
    let r = run(&c, &[41]);
    assert_eq!((r.status, r.port), (Status::Returned, vec![1]));
}

#[test]
fn nested_sandboxes_refuel_and_the_deepest_child_resumes() {
    let c = compile_file("examples/nested.et");
    for depth in [0, 1, 5] {
        let r = run(&c, &[depth]);
        assert_eq!(
            (r.status, r.port),
            (Status::Returned, vec![5_000_050_000]),
            "depth {depth}"
        );
    }
}

#[test]
fn replicate_builds_a_tree_of_copies() {
    let c = compile_file("examples/replicate.et");
    let r = run_with(
        &c,
        &Setup {
            gas: 10_000_000_000,
            mem: 64 << 20,
            ..Setup::default()
        },
    );
    assert_eq!(r.status, Status::Returned);
    // Each process that replicates runs two copies; thousands fit in the budget.
    assert!(r.port[0] > 1000, "{:?}", r.port);
    // With less, fewer: the count is a function of the allowance.
    let small = run_with(
        &c,
        &Setup {
            gas: 100_000,
            mem: 1 << 20,
            ..Setup::default()
        },
    );
    assert_eq!(small.status, Status::Returned);
    assert!(small.port[0] > 1 && small.port[0] < r.port[0]);
}

#[test]
fn library_reads_and_is_refused_everything_else() {
    let c = compile_file("examples/library.et");
    let grants: Vec<_> = c.grants.iter().map(|g| (g.name.as_str(), g.kind)).collect();
    assert_eq!(grants, [("fs", 5), ("console", 2)]);
    let r = run_with(
        &c,
        &Setup {
            fs_root: Some(repo().join("examples/library")),
            ..Setup::default()
        },
    );
    assert_eq!(
        r.status,
        Status::Returned,
        "{:?} at {:?}",
        r.fault,
        r.position(&c)
    );
    assert_eq!(r.port, vec![30, 1, 1, 3, 3]);
    assert_eq!(
        r.console,
        "library read 30 bytes: Hello from the library shelf.\n\
         write greeting.txt: denied\n\
         create new.txt: denied\n\
         open ../sandbox.rasm: bad_path\n\
         open /etc/passwd: bad_path\n"
    );
}

#[test]
fn evolve_finds_three_x_plus_one_by_running_module_bytes() {
    let c = compile_file("examples/evolve.et");
    let r = run_with(
        &c,
        &Setup {
            args: &[7],
            gas: 10_000_000_000,
            ..Setup::default()
        },
    );
    assert_eq!(
        r.status,
        Status::Returned,
        "{:?} at {:?}",
        r.fault,
        r.position(&c)
    );
    let (generation, error, gas) = (r.port[0], r.port[1], r.port[2]);
    println!("{}", r.console);
    assert_eq!(error, 0, "an exact program was found");
    assert!(generation < 60);
    let lines: Vec<&str> = r.console.lines().collect();
    assert!(
        lines.len() as u64 > generation + 5,
        "one line per generation"
    );
    for (i, l) in lines.iter().enumerate() {
        assert!(
            l.starts_with(&format!("generation {i}: best fitness ")),
            "{l}"
        );
    }
    assert!(lines[generation as usize].contains("(error 0, gas "));
    assert!(lines
        .last()
        .unwrap()
        .ends_with(&format!("(error 0, gas {gas})")));
    // Selected for low gas: nothing exact is cheaper than x * 3 + 1, and the run ends
    // within a few instructions of it on each of the 8 samples.
    let best = rarvm_runtime::asm::assemble_verified(
        "func f(x) -> 1\n local.get x\n push 3\n mul\n push 1\n add\n ret\nend\n",
        "best.rasm",
    )
    .unwrap();
    let mut optimum = 0;
    for x in 0..8 {
        let mut root = Box::new(rarvm_runtime::process::Process::new(best.clone(), 0));
        root.port.push(x);
        optimum += rarvm_runtime::machine::run(root, &mut rarvm_interp::Interp, 1000, 0).gas_used;
    }
    assert!(
        gas >= optimum && gas <= optimum + 8 * 3,
        "{gas} vs {optimum}"
    );
    // Deterministic: the same seed evolves the same way.
    let again = run_with(
        &c,
        &Setup {
            args: &[7],
            gas: 10_000_000_000,
            ..Setup::default()
        },
    );
    assert_eq!((again.port, again.console), (r.port, r.console));
}

#[test]
fn emitted_rasm_assembles_to_the_same_module() {
    for f in [
        "examples/sandbox.et",
        "examples/sandbox_loop.et",
        "examples/nested.et",
        "examples/replicate.et",
        "examples/library.et",
        "examples/evolve.et",
        "examples/hello.et",
        "benches/programs/bf.et",
    ] {
        // Assembler text has no debug section: it gives the stripped module.
        let mut c = compile_file(f);
        c.strip();
        let back = rarvm_runtime::asm::assemble(&c.rasm(), "emitted.rasm")
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(back, c.module, "{f}");
    }
}
