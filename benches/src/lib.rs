//! rarvm's benchmarks: the same kernels on rarvm's interpreter, JIT and auto, on native Rust,
//! on Wasmtime with fuel and on wasmi with fuel, and written in Entish and compiled, measured
//! side by side by criterion; and the report (`docs/BENCHMARKS.md`) written from criterion's
//! estimates.
//!
//! `cargo bench -p rarvm-benches` runs every group and writes the report.

pub mod native;
pub mod report;
pub mod vats;

use rarvm::{EngineKind, Program, Status, Vm};

/// Gas and memory for benchmark runs: enough for any kernel.
pub const GAS: u64 = u64::MAX / 2;
pub const MEM: u64 = 1 << 30;

/// A kernel: one algorithm written in rarvm assembler, in Entish and in WAT, with its
/// native version.
pub struct Kernel {
    pub name: &'static str,
    pub rasm: &'static str,
    /// The same algorithm in Entish (`benches/programs/NAME.et`), taking the same arguments.
    pub et: &'static str,
    pub wat: &'static str,
    pub args: [u64; 2],
    /// How many of `args` the rarvm entry function takes.
    pub rasm_args: usize,
    pub native: fn() -> u64,
}

/// The brainfuck program `bf.rasm` carries as its data.
pub fn bf_program() -> Vec<u8> {
    let p = Program::from_source(include_str!("../programs/bf.rasm"), "bf.rasm")
        .expect("bf.rasm assembles");
    let (_, bytes) = p.data().next().expect("bf.rasm has a data segment");
    bytes.to_vec()
}

pub fn kernels() -> Vec<Kernel> {
    vec![
        Kernel {
            name: "fib",
            rasm: include_str!("../programs/fib.rasm"),
            et: include_str!("../programs/fib.et"),
            wat: include_str!("../wat/fib.wat"),
            args: [32, 0],
            rasm_args: 1,
            native: || native::fib(32),
        },
        Kernel {
            name: "sieve",
            rasm: include_str!("../programs/sieve.rasm"),
            et: include_str!("../programs/sieve.et"),
            wat: include_str!("../wat/sieve.wat"),
            args: [10_000_000, 0],
            rasm_args: 1,
            native: || native::sieve(10_000_000),
        },
        Kernel {
            name: "matmul",
            rasm: include_str!("../programs/matmul.rasm"),
            et: include_str!("../programs/matmul.et"),
            wat: include_str!("../wat/matmul.wat"),
            args: [200, 0],
            rasm_args: 1,
            native: || native::matmul(200),
        },
        Kernel {
            name: "hash",
            rasm: include_str!("../programs/hash.rasm"),
            et: include_str!("../programs/hash.et"),
            wat: include_str!("../wat/hash.wat"),
            args: [131_072, 32],
            rasm_args: 2,
            native: || native::hash(131_072, 32),
        },
        Kernel {
            name: "sort",
            rasm: include_str!("../programs/sort.rasm"),
            et: include_str!("../programs/sort.et"),
            wat: include_str!("../wat/sort.wat"),
            args: [200_000, 0],
            rasm_args: 1,
            native: || native::sort(200_000),
        },
        Kernel {
            name: "bf",
            rasm: include_str!("../programs/bf.rasm"),
            et: include_str!("../programs/bf.et"),
            wat: include_str!("../wat/bf.wat"),
            args: [0, 0],
            rasm_args: 0,
            native: || native::bf(&bf_program()),
        },
        Kernel {
            name: "fannkuch",
            rasm: include_str!("../programs/fannkuch.rasm"),
            et: include_str!("../programs/fannkuch.et"),
            wat: include_str!("../wat/fannkuch.wat"),
            args: [9, 0],
            rasm_args: 1,
            native: || native::fannkuch(9),
        },
        Kernel {
            name: "crc32",
            rasm: include_str!("../programs/crc32.rasm"),
            et: include_str!("../programs/crc32.et"),
            wat: include_str!("../wat/crc32.wat"),
            args: [1 << 20, 8],
            rasm_args: 2,
            native: || native::crc32(1 << 20, 8),
        },
        Kernel {
            name: "list",
            rasm: include_str!("../programs/list.rasm"),
            et: include_str!("../programs/list.et"),
            wat: include_str!("../wat/list.wat"),
            args: [10_000, 1000],
            rasm_args: 2,
            native: || native::list(10_000, 1000),
        },
    ]
}

/// A VM that runs one program again and again, keeping its engine's compiled code.
pub struct Rarvm {
    vm: Vm,
    module: Program,
    args: Vec<u64>,
}

impl Rarvm {
    pub fn new(src: &str, args: &[u64], engine: EngineKind) -> Rarvm {
        let module = Program::from_source(src, "bench.rasm").unwrap_or_else(|e| panic!("{e}"));
        Rarvm::of(module, args, engine)
    }

    /// The Entish program `src` (its main file named `name`), compiled.
    pub fn entish(src: &str, name: &str, args: &[u64], engine: EngineKind) -> Rarvm {
        Rarvm::of(compile_entish(src, name), args, engine)
    }

    fn of(module: Program, args: &[u64], engine: EngineKind) -> Rarvm {
        let mut vm = Vm::new(&module, args).expect("arguments match");
        vm.set_engine(engine).expect("the engine runs on this host");
        Rarvm {
            vm,
            module,
            args: args.to_vec(),
        }
    }

    /// Runs the program from a fresh root; returns its first result.
    pub fn run(&mut self) -> u64 {
        self.vm
            .restart(&self.module, &self.args)
            .expect("arguments match");
        let out = self.vm.run(GAS, MEM);
        assert_eq!(out.status, Status::Returned, "{out:?}");
        out.results[0]
    }
}

/// Compiles an Entish program held in memory (standard-library imports only).
///
/// # Panics
/// If it does not compile, with the diagnostics.
pub fn compile_entish(src: &str, name: &str) -> Program {
    let compiled = rarvm_lang::compile_str(name, src, &rarvm_lang::Options::default())
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    Program::from_bytes(&compiled.bytes()).expect("compiled modules load")
}

/// A large Entish program of `funcs` functions of 13 lines each, with branches, loops,
/// arrays and records, and a `main` calling each: what the compile-speed group compiles.
/// Returns the source and its line count.
pub fn big_entish(funcs: usize) -> (String, usize) {
    let mut src = String::from("typ P {u64 x, i64 y}\n\n");
    for f in 0..funcs {
        src.push_str(&format!(
            "# function {f}\n\
             def f{f}(a: [u64], n, p: P) -> u64:\n\
             \x20   total = 0\n\
             \x20   for i in range(len(a)):\n\
             \x20       if a[i] % 3 == 0 and i < n:\n\
             \x20           total += a[i] * {f}\n\
             \x20       elif a[i] > p.x:\n\
             \x20           total ^= a[i] >> 2\n\
             \x20       else:\n\
             \x20           a[i] = total + (p.y as u64)\n\
             \x20   while n > 0:\n\
             \x20       n -= 1\n\
             \x20       total = total * 31 + n\n\
             \x20   return total\n\n"
        ));
    }
    src.push_str("def main(n):\n    a = new u64[16]\n    t = 0\n");
    for f in 0..funcs {
        src.push_str(&format!("    t += f{f}(a, n, P{{n, -1}})\n"));
    }
    src.push_str("    return t\n");
    let lines = src.lines().count();
    (src, lines)
}

/// A compiled WebAssembly module on Wasmtime with fuel; each run is a new store and instance.
pub struct Wasmtime {
    engine: wasmtime::Engine,
    module: wasmtime::Module,
}

impl Wasmtime {
    /// `pooling`: instances come from Wasmtime's pooling allocator.
    pub fn new(wat: &str, pooling: bool) -> Wasmtime {
        let mut config = wasmtime::Config::new();
        config.consume_fuel(true);
        if pooling {
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            pool.total_memories(16)
                .total_tables(16)
                .total_core_instances(16);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = wasmtime::Engine::new(&config).expect("wasmtime runs on this host");
        let bytes = wat::parse_str(wat).expect("valid WAT");
        let module = wasmtime::Module::new(&engine, bytes).expect("valid module");
        Wasmtime { engine, module }
    }

    pub fn run(&self, func: &str, a: i64, b: i64) -> u64 {
        let mut store = wasmtime::Store::new(&self.engine, ());
        store.set_fuel(u64::MAX).expect("fuel is on");
        let instance =
            wasmtime::Instance::new(&mut store, &self.module, &[]).expect("instantiates");
        let f = instance
            .get_typed_func::<(i64, i64), i64>(&mut store, func)
            .expect("exported");
        f.call(&mut store, (a, b)).expect("runs") as u64
    }
}

/// A compiled WebAssembly module on wasmi with fuel; each run is a new store and instance.
pub struct Wasmi {
    engine: wasmi::Engine,
    module: wasmi::Module,
}

impl Wasmi {
    pub fn new(wat: &str) -> Wasmi {
        let mut config = wasmi::Config::default();
        config.consume_fuel(true);
        let engine = wasmi::Engine::new(&config);
        let bytes = wat::parse_str(wat).expect("valid WAT");
        let module = wasmi::Module::new(&engine, &bytes[..]).expect("valid module");
        Wasmi { engine, module }
    }

    pub fn run(&self, func: &str, a: i64, b: i64) -> u64 {
        let mut store = wasmi::Store::new(&self.engine, ());
        store.set_fuel(u64::MAX).expect("fuel is on");
        let linker = wasmi::Linker::<()>::new(&self.engine);
        let instance = linker
            .instantiate_and_start(&mut store, &self.module)
            .expect("instantiates");
        let f = instance
            .get_typed_func::<(i64, i64), i64>(&store, func)
            .expect("exported");
        f.call(&mut store, (a, b)).expect("runs") as u64
    }
}

/// The tiny sandboxed function of the sandbox-cost group, in WAT.
pub const SANDBOX_WAT: &str = r#"(module (func (export "f") (param i64) (param i64) (result i64)
    (i64.add (local.get 0) (i64.const 1))))"#;

/// A module of `funcs` functions of about `len` instructions each, to measure compile speed:
/// `main` calls each once.
pub fn big_module(funcs: usize, len: usize) -> (String, usize) {
    let mut src = String::from("func main() -> 1\n");
    let mut count = 2;
    for f in 0..funcs {
        src.push_str(&format!(
            "    push 1\n    push 2\n    call f{f}\n    drop\n"
        ));
        count += 4;
    }
    src.push_str("    push 0\n    ret\nend\n");
    for f in 0..funcs {
        src.push_str(&format!("func f{f}(a, b) -> 1 locals(x, y)\n"));
        for i in 0..len / 8 {
            src.push_str(&format!(
                "    local.get a\n    push {i}\n    add\n    local.get b\n    xor\n    local.tee x\n    local.set y\n    nop\n"
            ));
            count += 8;
        }
        src.push_str("    local.get x\n    local.get y\n    add\n    ret\nend\n");
        count += 4;
    }
    (src, count)
}
