//! Cranelift's time per unit of the JIT's compile cost, on shapes chosen to be hard for it:
//! `cargo run --release -p rarvm-benches --example compile_shapes`. The cost model must stay
//! linear in the time on every shape, so earned compilation keeps the promise.

use std::fmt::Write as _;

use rarvm::{EngineKind, Program, Vm};

fn shape(name: &str, n: usize) -> String {
    let mut s = String::new();
    match name {
        "straight" => {
            s.push_str("func main() -> 1 locals(a, b)\n");
            for i in 0..n {
                write!(s, "    local.get a\n    push {i}\n    add\n    local.get b\n    xor\n    local.set a\n").unwrap();
            }
            s.push_str("    local.get a\n    ret\nend\n");
        }
        "diamonds" => {
            s.push_str("func main() -> 1 locals(a, b)\n");
            for d in 0..n {
                write!(s, "    local.get a\n    push {}\n    and\n    jz e{d}\n    local.get a\n    push 3\n    add\n    local.set a\n    jmp j{d}\ne{d}:\n    local.get b\n    push {d}\n    xor\n    local.set b\nj{d}:\n", 1u64 << (d % 61)).unwrap();
            }
            s.push_str("    local.get a\n    ret\nend\n");
        }
        "loops" => {
            s.push_str("func main() -> 1 locals(a, i)\n");
            for d in 0..n {
                write!(s, "    push 2\n    local.set i\nl{d}:\n    local.get a\n    push {d}\n    add\n    local.set a\n    local.get i\n    push 1\n    sub\n    local.tee i\n    jnz l{d}\n").unwrap();
            }
            s.push_str("    local.get a\n    ret\nend\n");
        }
        "many-locals" => {
            writeln!(s, "func main() -> 1 locals {}", 4000).unwrap();
            for i in 0..n {
                write!(
                    s,
                    "    local.get {}\n    push 1\n    add\n    local.set {}\n",
                    i % 4000,
                    (i * 7) % 4000
                )
                .unwrap();
                if i % 4 == 0 {
                    write!(
                        s,
                        "    push {i}\n    push 1\n    or\n    push 3\n    div_u\n    drop\n"
                    )
                    .unwrap();
                }
            }
            s.push_str("    local.get 0\n    ret\nend\n");
        }
        "deep-stack" => {
            s.push_str("func main() -> 1 locals(a)\n");
            for _ in 0..n.min(60000) {
                s.push_str("    push 1\n");
            }
            for _ in 0..n.min(60000) - 1 {
                s.push_str("    add\n");
            }
            s.push_str("    ret\nend\n");
        }
        "switches" => {
            s.push_str("func main() -> 1 locals(a)\n");
            for d in 0..n {
                write!(s, "    local.get a\n    push 7\n    and\n    switch s{d}a s{d}b s{d}a s{d}b else s{d}c\ns{d}a:\n    local.get a\n    push 1\n    add\n    local.set a\n    jmp s{d}c\ns{d}b:\n    local.get a\n    push 5\n    xor\n    local.set a\ns{d}c:\n").unwrap();
            }
            s.push_str("    local.get a\n    ret\nend\n");
        }
        "wide-switches" => {
            // One switch per 100 of `n`, each of 1,000 entries over two targets: cheap in
            // instructions, and a jump table and edges for Cranelift per entry.
            s.push_str("func main() -> 1 locals(a)\n");
            for d in 0..n.div_ceil(100) {
                let table = format!("s{d}a s{d}b ").repeat(500);
                write!(s, "    local.get a\n    switch {table}else s{d}b\ns{d}a:\n    local.get a\n    push 1\n    add\n    local.set a\ns{d}b:\n").unwrap();
            }
            s.push_str("    local.get a\n    ret\nend\n");
        }
        "tiny-funcs" => {
            // One small function per 10 of `n`, each called once: what a compile costs
            // whatever its size.
            for f in 0..n.div_ceil(10) {
                write!(
                    s,
                    "func f{f}(x) -> 1\n    local.get x\n    push {f}\n    add\n    ret\nend\n"
                )
                .unwrap();
            }
            s.push_str("func main() -> 1 locals(a)\n");
            for f in 0..n.div_ceil(10) {
                write!(s, "    local.get a\n    call f{f}\n    local.set a\n").unwrap();
            }
            s.push_str("    local.get a\n    ret\nend\n");
        }
        "calls" => {
            s.push_str(
                "func g(x) -> 1\n    local.get x\n    ret\nend\nfunc main() -> 1 locals(a, b, c)\n",
            );
            for i in 0..n {
                write!(s, "    local.get a\n    local.get b\n    local.get c\n    call g\n    add\n    add\n    local.set a\n    push {i}\n    local.set c\n").unwrap();
            }
            s.push_str("    local.get a\n    ret\nend\n");
        }
        "memory" => {
            s.push_str(".memory 65536\nfunc main() -> 1 locals(a)\n");
            for i in 0..n {
                write!(s, "    push {}\n    local.get a\n    store64 0\n    push {}\n    load32_u 4\n    local.set a\n", (i * 8) % 65000, (i * 16) % 65000).unwrap();
            }
            s.push_str("    local.get a\n    ret\nend\n");
        }
        _ => unreachable!(),
    }
    s
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names = [
        "straight",
        "diamonds",
        "loops",
        "many-locals",
        "deep-stack",
        "switches",
        "wide-switches",
        "tiny-funcs",
        "calls",
        "memory",
    ];
    let sizes = [100, 1000, 4000];
    for name in names.iter().filter(|n| args.is_empty() || args[0] == **n) {
        let name = *name;
        for n in sizes
            .into_iter()
            .filter(|n| args.len() < 2 || args[1] == n.to_string())
        {
            let src = shape(name, n);
            let m = Program::from_source(&src, name).unwrap_or_else(|e| panic!("{e}"));
            let mut vm = Vm::new(&m, &[]).unwrap();
            vm.set_engine(EngineKind::Jit).unwrap();
            vm.jit_mut().unwrap().set_compile_rate(0);
            vm.run(1 << 40, 1 << 30);
            let st = vm.jit_stats().unwrap();
            let instrs = m.instructions();
            let ns = st.compile_time.as_nanos() as f64;
            println!(
                "{name:<12} n={n:<5} instrs {instrs:>7} cost {:>7} compiled {} too-large {}  {:>9.1} µs  {:>7.0} ns/cost  {:>6.0} ns/instr",
                st.compile_cost,
                st.compiled,
                st.too_large,
                ns / 1e3,
                ns / st.compile_cost.max(1) as f64,
                ns / instrs as f64
            );
        }
    }
}
