//! Every example: its answer, disassembly round trip, and slice equivalence — one run to
//! completion equals, byte for byte, a run in gas slices with the image written and read
//! back between slices.

use rarvm::{text, Program, Status, Vm};

const MEM: u64 = 64 << 20;

fn example(name: &str) -> Program {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(&path).unwrap();
    Program::from_source(&src, &path).unwrap()
}

fn run(name: &str, args: &[u64]) -> (Status, Vec<u64>) {
    let mut vm = Vm::new(&example(name), args).unwrap();
    let out = vm.run(10_000_000_000, MEM);
    (out.status, out.results)
}

#[test]
fn examples_compute_their_answers() {
    assert_eq!(run("sandbox.rasm", &[41]), (Status::Returned, vec![42]));
    assert_eq!(run("sandbox_loop.rasm", &[41]), (Status::Returned, vec![1]));
    assert_eq!(run("fib.rasm", &[25]), (Status::Returned, vec![75025]));
    assert_eq!(run("fib.rasm", &[0]), (Status::Returned, vec![0]));
    assert_eq!(
        run("sieve.rasm", &[100_000]),
        (Status::Returned, vec![9592])
    );
    assert_eq!(run("sieve.rasm", &[2]), (Status::Returned, vec![0]));
    assert_eq!(
        run("nested.rasm", &[5]),
        (Status::Returned, vec![5_000_050_000])
    );
    let (status, count) = run("replicate.rasm", &[]);
    assert_eq!(status, Status::Returned);
    assert!(count[0] > 100, "replicate ran {} processes", count[0]);
}

#[test]
fn disassembly_reassembles_every_example() {
    for name in EXAMPLES {
        let m = example(name);
        let back = text::assemble(&m.disassemble(), name).unwrap();
        assert_eq!(back, m.to_bytes(), "{name}");
    }
}

const EXAMPLES: [&str; 6] = [
    "sandbox.rasm",
    "sandbox_loop.rasm",
    "fib.rasm",
    "sieve.rasm",
    "replicate.rasm",
    "nested.rasm",
];

/// Runs in slices of `slice` gas through images; returns the final image and the number
/// of slices.
fn sliced(module: &Program, args: &[u64], slice: u64) -> (Vec<u8>, u64) {
    let mut vm = Vm::new(module, args).unwrap();
    let mut slices = 0;
    loop {
        let out = vm.run(slice, if slices == 0 { MEM } else { 0 });
        slices += 1;
        let image = vm.image();
        if out.status != Status::OutOfGas {
            return (image, slices);
        }
        vm = Vm::from_image(&image).unwrap();
        assert_eq!(vm.image(), image, "decode then encode is the identity");
    }
}

#[test]
fn slices_through_images_equal_one_run() {
    let cases: [(&str, &[u64], &[u64]); 6] = [
        ("sandbox.rasm", &[41], &[1, 7, 50, 97]),
        ("sandbox_loop.rasm", &[41], &[1, 13, 100]),
        ("fib.rasm", &[12], &[5, 97, 1000]),
        ("sieve.rasm", &[3000], &[97, 1000, 7919]),
        ("replicate.rasm", &[], &[7919, 50_000]),
        ("nested.rasm", &[4], &[997, 20_000]),
    ];
    for (name, args, slices) in cases {
        let module = example(name);
        for &slice in slices {
            let (image, n) = sliced(&module, args, slice);
            let mut whole = Vm::new(&module, args).unwrap();
            let out = whole.run(slice * n, MEM);
            assert_ne!(
                out.status,
                Status::OutOfGas,
                "{name}: {n} slices of {slice}"
            );
            assert!(
                whole.image() == image,
                "{name}: slices of {slice} diverge from one run"
            );
        }
    }
}
