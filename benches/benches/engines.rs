//! Every benchmark group, then the report: `cargo bench -p rarvm-benches` writes
//! `docs/BENCHMARKS.md` and `docs/benchmarks.svg`. Pass a filter to run some groups only
//! (the report then shows what criterion has measured so far).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use rarvm::{EngineKind, Program, Vm};
use rarvm_benches::{
    big_entish, big_module, kernels, report, Rarvm, Wasmi, Wasmtime, GAS, MEM, SANDBOX_WAT,
};
use rarvm_conformance::adversarial;

const SANDBOX_OPS: u64 = 200;
const DEPTHS: [u32; 3] = [1, 8, 64];
const IMAGE_MIB: [u64; 3] = [1, 16, 256];
const KERNEL_ENGINES: [&str; 8] = [
    "reference",
    "interp",
    "jit",
    "auto",
    "jit-unmetered",
    "native",
    "wasmtime",
    "wasmi",
];
/// The engines each kernel's Entish version runs on, beside the assembler's.
const ENTISH: [EngineKind; 2] = [EngineKind::Interp, EngineKind::Jit];
/// Functions of the generated program the Entish compile-speed group compiles.
const ENTISH_COMPILE_FUNCS: usize = 500;
const SANDBOX_ENGINES: [&str; 5] = ["interp", "jit", "auto", "wasmtime", "wasmi"];
const RARVM: [EngineKind; 5] = [
    EngineKind::Reference,
    EngineKind::Interp,
    EngineKind::Jit,
    EngineKind::Auto,
    EngineKind::JitUnmetered,
];

fn kernel_groups(c: &mut Criterion) {
    for k in kernels() {
        let args = &k.args[..k.rasm_args];
        let (a, b) = (k.args[0] as i64, k.args[1] as i64);
        let expected = (k.native)();
        let mut rarvm: Vec<(EngineKind, Rarvm)> = RARVM
            .iter()
            .map(|&e| (e, Rarvm::new(k.rasm, args, e)))
            .collect();
        let mut entish: Vec<(EngineKind, Rarvm)> = ENTISH
            .iter()
            .map(|&e| (e, Rarvm::entish(k.et, &format!("{}.et", k.name), args, e)))
            .collect();
        let wasmtime = Wasmtime::new(k.wat, false);
        let wasmi = Wasmi::new(k.wat);
        for (e, r) in &mut rarvm {
            assert_eq!(r.run(), expected, "{} on rarvm {}", k.name, e.name());
        }
        for (e, r) in &mut entish {
            assert_eq!(r.run(), expected, "{}.et on rarvm {}", k.name, e.name());
        }
        assert_eq!(
            wasmtime.run("run", a, b),
            expected,
            "{} on wasmtime",
            k.name
        );
        assert_eq!(wasmi.run("run", a, b), expected, "{} on wasmi", k.name);

        let mut g = c.benchmark_group(format!("kernel-{}", k.name));
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        for (e, r) in &mut rarvm {
            g.bench_function(e.name(), |bn| bn.iter(|| black_box(r.run())));
        }
        for (e, r) in &mut entish {
            g.bench_function(format!("entish-{}", e.name()), |bn| {
                bn.iter(|| black_box(r.run()))
            });
        }
        g.bench_function("native", |bn| bn.iter(|| black_box((k.native)())));
        g.bench_function("wasmtime", |bn| {
            bn.iter(|| black_box(wasmtime.run("run", a, b)))
        });
        g.bench_function("wasmi", |bn| bn.iter(|| black_box(wasmi.run("run", a, b))));
        g.finish();
    }
}

/// Entish compile speed in source lines per second: a large generated program, and all the
/// kernels together (parsing, checking, lowering and verifying).
fn entish_compile_group(c: &mut Criterion, big: &str, big_lines: usize) {
    let options = rarvm_lang::Options::default();
    let mut g = c.benchmark_group("compile-entish");
    g.sample_size(10);
    g.throughput(Throughput::Elements(big_lines as u64));
    g.bench_function("generated", |bn| {
        bn.iter(|| black_box(rarvm_lang::compile_str("big.et", big, &options).unwrap()))
    });
    let ks = kernels();
    let lines: usize = ks.iter().map(|k| k.et.lines().count()).sum();
    g.throughput(Throughput::Elements(lines as u64));
    g.bench_function("kernels", |bn| {
        bn.iter(|| {
            for k in &ks {
                black_box(rarvm_lang::compile_str(k.name, k.et, &options).unwrap());
            }
        })
    });
    g.finish();
}

fn sandbox_group(c: &mut Criterion) {
    let src = include_str!("../programs/sandbox.rasm");
    let expected: u64 = (1..=SANDBOX_OPS).sum();
    let mut g = c.benchmark_group("sandbox");
    g.sample_size(20)
        .throughput(Throughput::Elements(SANDBOX_OPS));
    for e in [EngineKind::Interp, EngineKind::Jit, EngineKind::Auto] {
        let mut r = Rarvm::new(src, &[SANDBOX_OPS], e);
        assert_eq!(r.run(), expected);
        g.bench_function(e.name(), |bn| bn.iter(|| black_box(r.run())));
    }
    let wasmtime = Wasmtime::new(SANDBOX_WAT, true);
    let wasmi = Wasmi::new(SANDBOX_WAT);
    let ops = |run: &dyn Fn(i64) -> u64| (0..SANDBOX_OPS as i64).map(run).sum::<u64>();
    assert_eq!(ops(&|i| wasmtime.run("f", i, 0)), expected);
    assert_eq!(ops(&|i| wasmi.run("f", i, 0)), expected);
    g.bench_function("wasmtime", |bn| {
        bn.iter(|| black_box(ops(&|i| wasmtime.run("f", i, 0))))
    });
    g.bench_function("wasmi", |bn| {
        bn.iter(|| black_box(ops(&|i| wasmi.run("f", i, 0))))
    });
    g.finish();
}

fn nesting_group(c: &mut Criterion) {
    let src = include_str!("../programs/nest.rasm");
    let expected = rarvm_benches::native::hash(32_768, 32);
    let mut g = c.benchmark_group("nesting");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    for e in [EngineKind::Interp, EngineKind::Jit] {
        for depth in DEPTHS {
            let mut r = Rarvm::new(src, &[u64::from(depth), 32_768], e);
            assert_eq!(r.run(), expected);
            g.bench_function(format!("{}-depth-{depth}", e.name()), |bn| {
                bn.iter(|| black_box(r.run()))
            });
        }
    }
    g.finish();
}

fn image_group(c: &mut Criterion) {
    let module =
        Program::from_source(include_str!("../programs/image.rasm"), "image.rasm").unwrap();
    let mut g = c.benchmark_group("images");
    g.sample_size(10);
    for mib in IMAGE_MIB {
        let mut vm = Vm::new(&module, &[mib << 20]).unwrap();
        vm.set_engine(EngineKind::Jit).unwrap();
        vm.run(GAS, MEM);
        let bytes = vm.image();
        assert_eq!(Vm::from_image(&bytes).unwrap().image(), bytes);
        g.throughput(Throughput::Bytes(mib << 20));
        g.bench_function(format!("write-{mib}MiB"), |bn| {
            bn.iter(|| black_box(vm.image()))
        });
        let mut buf = Vec::new();
        vm.image_into(&mut buf);
        assert!(buf == bytes, "image_into writes the image");
        g.bench_function(format!("write-into-{mib}MiB"), |bn| {
            bn.iter(|| {
                vm.image_into(&mut buf);
                black_box(buf.len())
            })
        });
        g.bench_function(format!("read-{mib}MiB"), |bn| {
            bn.iter(|| black_box(Vm::from_image(&bytes).unwrap()))
        });
        let mut into = Vm::from_image(&bytes).unwrap();
        let mut memory = Vec::new();
        into.load_image_reusing(&bytes, &mut memory).unwrap();
        assert!(into.image() == bytes, "load_image_reusing reads the image");
        g.bench_function(format!("read-into-{mib}MiB"), |bn| {
            bn.iter(|| {
                into.load_image_reusing(&bytes, &mut memory).unwrap();
                black_box(memory.len())
            })
        });
    }
    g.finish();
}

/// Host nanoseconds per gas for every adversarial class on every engine; returns the gas
/// each run uses, which the report divides by.
fn costs_group(c: &mut Criterion) -> Vec<(String, u64)> {
    let mut gas = Vec::new();
    let mut g = c.benchmark_group("costs");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for case in adversarial::cases() {
        for &engine in case.engines {
            let (mut vm, module) = adversarial::vm(&case, engine);
            let used = adversarial::run(&case, &mut vm, &module).gas;
            let id = format!("{}-{}", case.name, engine.name());
            gas.push((id.clone(), used));
            g.bench_function(id, |bn| {
                bn.iter(|| black_box(adversarial::run(&case, &mut vm, &module)))
            });
        }
    }
    g.finish();
    gas
}

/// Messages each vat benchmark turns or sends per iteration.
const VAT_MESSAGES: u64 = 1000;

fn vat_group(c: &mut Criterion) {
    let mut g = c.benchmark_group("vat");
    g.sample_size(10)
        .throughput(Throughput::Elements(VAT_MESSAGES));
    let mut turns = rarvm_benches::vats::Turns::start();
    g.bench_function(format!("turns-{VAT_MESSAGES}"), |bn| {
        bn.iter_custom(|iters| (0..iters).map(|_| turns.run(VAT_MESSAGES)).sum())
    });
    let mut msgs = rarvm_benches::vats::Messages::start();
    g.bench_function(format!("messages-{VAT_MESSAGES}"), |bn| {
        bn.iter_custom(|iters| (0..iters).map(|_| msgs.run(VAT_MESSAGES)).sum())
    });
    g.finish();
}

fn jit_groups(c: &mut Criterion, instructions: usize, src: &str) {
    let module = Program::from_source(src, "big.rasm").unwrap();
    let mut g = c.benchmark_group("compile");
    g.sample_size(10)
        .throughput(Throughput::Elements(instructions as u64));
    g.bench_function("jit", |bn| {
        bn.iter(|| {
            // A fresh engine compiling every function the first time it runs (rate 0):
            // main calls each once.
            let mut vm = Vm::new(&module, &[]).unwrap();
            vm.set_engine(EngineKind::Jit).unwrap();
            vm.jit_mut().expect("the JIT").set_compile_rate(0);
            black_box(vm.run(GAS, MEM))
        })
    });
    g.finish();

    let hash = Program::from_source(include_str!("../programs/hash.rasm"), "hash.rasm").unwrap();
    let mut g = c.benchmark_group("tierup");
    g.sample_size(20);
    for (name, kind) in [
        ("auto", EngineKind::Auto),
        ("jit", EngineKind::Jit),
        ("interp", EngineKind::Interp),
    ] {
        g.bench_with_input(BenchmarkId::from_parameter(name), &kind, |bn, &kind| {
            bn.iter(|| {
                let mut vm = Vm::new(&hash, &[32_768, 4]).unwrap();
                vm.set_engine(kind).unwrap();
                black_box(vm.run(GAS, MEM))
            })
        });
    }
    g.finish();
}

fn main() {
    let criterion_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let mut c = Criterion::default()
        .output_directory(&criterion_dir)
        .configure_from_args();
    let (big, instructions) = big_module(200, 64);
    let (big_et, big_et_lines) = big_entish(ENTISH_COMPILE_FUNCS);
    kernel_groups(&mut c);
    entish_compile_group(&mut c, &big_et, big_et_lines);
    sandbox_group(&mut c);
    nesting_group(&mut c);
    image_group(&mut c);
    jit_groups(&mut c, instructions, &big);
    let costs = costs_group(&mut c);
    vat_group(&mut c);
    c.final_summary();

    let names: Vec<&str> = kernels().iter().map(|k| k.name).collect();
    let inputs = report::Inputs {
        criterion: &criterion_dir,
        kernels: &names,
        kernel_engines: &KERNEL_ENGINES,
        sandbox_ops: SANDBOX_OPS,
        sandbox_engines: &SANDBOX_ENGINES,
        depths: &DEPTHS,
        image_sizes: &IMAGE_MIB,
        compile_instructions: instructions,
        entish_engines: &ENTISH.map(|e| e.name()),
        entish_lines: big_et_lines,
        entish_kernel_lines: kernels().iter().map(|k| k.et.lines().count()).sum(),
        costs: &costs,
        vat_messages: VAT_MESSAGES,
    };
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    match report::write(&inputs, &docs) {
        Ok((md, svg)) => println!("report: {} and {}", md.display(), svg.display()),
        Err(e) => eprintln!("could not write the report: {e}"),
    }
}
