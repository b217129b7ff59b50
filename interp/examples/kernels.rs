//! The benchmark kernels (`benches/programs`) on the interpreter, for timing the interpreter
//! where criterion cannot run: built natively it prints each kernel's best time of five
//! runs and its answer; built for wasm32 (linked to export `kernel_count` and `run_kernel`)
//! it is what `scripts/bench-wasm32.sh` times under Node.

use rarvm_interp::Interp;
use rarvm_runtime::asm::assemble_verified;
use rarvm_runtime::machine;
use rarvm_runtime::process::{Process, Status};

/// Each kernel's name, source and arguments, as the criterion benchmark runs them.
const KERNELS: [(&str, &str, &[u64]); 9] = [
    (
        "fib",
        include_str!("../../benches/programs/fib.rasm"),
        &[32],
    ),
    (
        "sieve",
        include_str!("../../benches/programs/sieve.rasm"),
        &[10_000_000],
    ),
    (
        "matmul",
        include_str!("../../benches/programs/matmul.rasm"),
        &[200],
    ),
    (
        "hash",
        include_str!("../../benches/programs/hash.rasm"),
        &[131_072, 32],
    ),
    (
        "sort",
        include_str!("../../benches/programs/sort.rasm"),
        &[200_000],
    ),
    ("bf", include_str!("../../benches/programs/bf.rasm"), &[]),
    (
        "fannkuch",
        include_str!("../../benches/programs/fannkuch.rasm"),
        &[9],
    ),
    (
        "crc32",
        include_str!("../../benches/programs/crc32.rasm"),
        &[1 << 20, 8],
    ),
    (
        "list",
        include_str!("../../benches/programs/list.rasm"),
        &[10_000, 1000],
    ),
];

/// Runs kernel `k` once, from assembling it to its answer.
fn run(k: usize) -> u64 {
    let (name, src, args) = KERNELS[k];
    let module = assemble_verified(src, name).expect("a kernel assembles");
    let entry = module.func_index("main").expect("a kernel has a main");
    let mut root = Box::new(Process::new(module, entry));
    root.port.extend_from_slice(args);
    let root = machine::run(root, &mut Interp, u64::MAX / 2, 1 << 30);
    assert_eq!(root.status, Status::Returned, "{name} returns");
    root.port[0]
}

/// How many kernels [`run_kernel`] knows.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn kernel_count() -> u32 {
    KERNELS.len() as u32
}

/// Runs kernel `k` (in the order the native build prints them) and returns its answer.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn run_kernel(k: u32) -> u64 {
    run(k as usize)
}

/// On wasm32 the host calls the exports instead.
#[cfg(target_arch = "wasm32")]
fn main() {}

/// `kernels [NAME…]`: the kernels named, or all of them.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    for (k, (name, _, _)) in KERNELS.iter().enumerate() {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let mut best = f64::MAX;
        let mut answer = 0;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            answer = run(k);
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        println!("{name} {best:.1} {answer}");
    }
}
