//! Programs an attacker would write against the host: one per class of instruction, in the
//! shapes that make the host work hardest per gas (many locals, deep frames, large initial
//! memory, module bytes that are expensive to decode or compile, deep trees to save and
//! load). The `costs` benchmark group times them (host nanoseconds per gas, against the
//! interpreter's arithmetic); the tests count the host work they cause and measure the
//! memory they make the host hold (`docs/SPEC.md` §7.1).
//!
//! Every case is a program that repeats its operation until it runs out of gas.

use std::time::{Duration, Instant};

use rarvm::{EngineKind, Program, Status, Vm};

/// Gas is a promise about the host: no class may cost more than this many yardsticks
/// (the interpreter's ns per gas on the `arith` case).
pub const GOAL: f64 = 20.0;

/// One class of instruction and a program that repeats it.
pub struct Case {
    pub name: &'static str,
    /// What the case does, for the report.
    pub what: &'static str,
    pub src: String,
    /// Gas for one timed run.
    pub gas: u64,
    /// Memory for one timed run.
    pub mem: u64,
    pub engines: &'static [EngineKind],
    /// Each run on a fresh engine, with nothing compiled or cached (compile cases).
    pub cold: bool,
    /// If not 0, key 0 is a read-only grant of a directory holding this many empty files.
    pub dir_entries: usize,
}

const BOTH: &[EngineKind] = &[EngineKind::Interp, EngineKind::Jit];
const ALL: &[EngineKind] = &[EngineKind::Interp, EngineKind::Jit, EngineKind::Auto];

/// `.data AT x"…"` for `bytes`.
fn data(at: u64, bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(".data {at} x\"{hex}\"\n")
}

fn bytes_of(src: &str) -> Vec<u8> {
    Program::from_source(src, "inner.rasm")
        .unwrap_or_else(|e| panic!("{e}\n{src}"))
        .to_bytes()
}

/// A loop that runs `body` (stack-neutral) forever.
fn forever(header: &str, locals: &str, body: &str, rest: &str) -> String {
    format!("{header}func main() -> 0 {locals}\ntop:\n{body}    jmp top\nend\n{rest}")
}

/// A module whose entry function runs a tiny loop `iters` times (made hot), then `diamonds`
/// if/else diamonds once: cheap to run, expensive to compile. `seed` is one constant, so each
/// seed gives different code.
fn diamonds(diamonds: usize, iters: u64, seed: u64) -> String {
    let mut s = format!(
        "func main() -> 1 locals(i, a, b)\n    push {iters}\n    local.set i\nloop:\n    local.get i\n    push 1\n    sub\n    local.tee i\n    jnz loop\n"
    );
    for d in 0..diamonds {
        s.push_str(&format!(
            "    local.get a\n    push {}\n    and\n    jz e{d}\n    local.get a\n    push {seed}\n    add\n    local.set a\n    jmp j{d}\ne{d}:\n    local.get b\n    push {d}\n    xor\n    local.set b\nj{d}:\n",
            1u64 << (d % 61)
        ));
    }
    s.push_str("    local.get a\n    ret\nend\n");
    s
}

/// A module whose entry function runs a loop `iters` times around `body` (stack-neutral,
/// may use locals `i` and `a`), with `seed` one constant of it: small code made hot, so
/// what compiling it costs the host is mostly what any compile costs, or what its
/// `switch` tables cost.
fn hot_loop(body: &str, iters: u64, seed: u64) -> String {
    format!(
        "func main() -> 1 locals(i, a)\n    push {iters}\n    local.set i\nloop:\n    local.get a\n    push {seed}\n    add\n    local.set a\n{body}    local.get i\n    push 1\n    sub\n    local.tee i\n    jnz loop\n    local.get a\n    ret\nend\n"
    )
}

/// Where in `a` the first byte differs from `b`.
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .expect("different")
}

/// Spawns module bytes at 0 of length `len` in a loop, runs each child with `gas`, and
/// drops it; `vary` is the offset of a byte changed before every spawn (fresh code), if any.
fn spawn_bytes_loop(module: &[u8], gas: u64, vary: Option<usize>) -> String {
    let len = module.len();
    let change = match vary {
        Some(at) => format!(
            "    push {at}\n    push {at}\n    load8_u 0\n    push 1\n    add\n    store8 0\n"
        ),
        None => String::new(),
    };
    let body = format!(
        "{change}    push 0\n    push {len}\n    spawn.bytes\n    drop\n    local.tee c\n    push {gas}\n    push 100000000\n    recurse\n    drop\n    local.get c\n    key.drop\n"
    );
    forever(
        &format!(".memory {}\n{}", len + 8, data(0, module)),
        "locals(c)",
        &body,
        "",
    )
}

/// Every case, in report order.
pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut case = |name: &'static str, what, src: String, gas, mem, engines| {
        out.push(Case {
            name,
            what,
            src,
            gas,
            mem,
            engines,
            cold: name.starts_with("compile"),
            dir_entries: 0,
        })
    };
    case(
        "arith",
        "the yardstick: add, xor, mul on locals",
        forever(
            "",
            "locals(a, b)",
            "    local.get a\n    push 3\n    add\n    local.get b\n    xor\n    local.set a\n    local.get b\n    push 7\n    mul\n    local.set b\n",
            "",
        ),
        50_000_000,
        1 << 20,
        BOTH,
    );
    case(
        "memory",
        "loads and stores",
        forever(
            ".memory 4096\n",
            "locals(i, a)",
            "    local.get i\n    push 4088\n    and\n    local.get a\n    store64 0\n    local.get i\n    push 8\n    add\n    local.tee i\n    push 4088\n    and\n    load64 0\n    local.set a\n",
            "",
        ),
        50_000_000,
        1 << 20,
        BOTH,
    );
    case(
        "call-small",
        "calls of a function with one local",
        forever(
            "",
            "locals(a)",
            "    local.get a\n    call f\n    local.set a\n",
            "func f(x) -> 1 locals(y)\n    local.get x\n    push 1\n    add\n    ret\nend\n",
        ),
        50_000_000,
        1 << 20,
        BOTH,
    );
    case(
        "call-many-locals",
        "calls of a function with 65,000 locals",
        forever(
            "",
            "",
            "    call f\n    drop\n",
            "func f() -> 1 locals 65000\n    push 1\n    ret\nend\n",
        ),
        20_000_000,
        16 << 20,
        BOTH,
    );
    {
        // A function whose frame is deep (60,000 words of operand stack) on a path it never
        // takes: each call reserves the frame, little runs.
        let mut f = String::from(
            "func f(x) -> 1\n    local.get x\n    jnz deep\n    push 1\n    ret\ndeep:\n",
        );
        for _ in 0..60_000 {
            f.push_str("    push 0\n");
        }
        for _ in 0..60_000 {
            f.push_str("    drop\n");
        }
        f.push_str("    push 2\n    ret\nend\n");
        case(
            "call-deep-frame",
            "calls of a function whose frame is 60,000 words deep",
            forever("", "", "    push 0\n    call f\n    drop\n", &f),
            20_000_000,
            16 << 20,
            BOTH,
        );
    }
    for (name, what, op, n) in [
        ("mem.grow-small", "mem.grow of 64 bytes", "mem.grow", 64u64),
        ("mem.fill-small", "mem.fill of 64 bytes", "mem.fill", 64),
        ("mem.fill-large", "mem.fill of 1 MiB", "mem.fill", 1 << 20),
        ("mem.copy-small", "mem.copy of 64 bytes", "mem.copy", 64),
        ("mem.copy-large", "mem.copy of 1 MiB", "mem.copy", 1 << 20),
    ] {
        let body = match op {
            "mem.grow" => format!("    push {n}\n    mem.grow\n    drop\n"),
            "mem.fill" => format!("    push 0\n    push 7\n    push {n}\n    mem.fill\n"),
            _ => format!("    push {n}\n    push 0\n    push {n}\n    mem.copy\n"),
        };
        let memory = if op == "mem.grow" { 0 } else { 2 * n };
        case(
            name,
            what,
            forever(&format!(".memory {memory}\n"), "", &body, ""),
            if op == "mem.grow" {
                2_000_000
            } else {
                20_000_000
            },
            1 << 30,
            BOTH,
        );
    }
    let child_module = "func f() -> 0\n    yield\n    ret\nend\n";
    for (name, what, n) in [
        ("child.write-small", "child.write of 64 bytes", 64u64),
        ("child.write-large", "child.write of 1 MiB", 1 << 20),
    ] {
        case(
            name,
            what,
            format!(
                ".memory {n}\nfunc main() -> 0 locals(c)\n    spawn f\n    local.tee c\n    push {n}\n    child.grow\n    drop\ntop:\n    local.get c\n    push 0\n    push 0\n    push {n}\n    child.write\n    local.get c\n    push 0\n    push 0\n    push {n}\n    child.read\n    jmp top\nend\n{child_module}"
            ),
            20_000_000,
            1 << 30,
            BOTH,
        );
    }
    for (name, what, memory) in [
        (
            "spawn-small",
            "spawn, recurse and drop a child with no memory",
            0u64,
        ),
        (
            "spawn-16MiB",
            "spawn and drop a child of a module with 16 MiB of initial memory",
            16 << 20,
        ),
    ] {
        case(
            name,
            what,
            forever(
                &format!(".memory {memory}\n"),
                "locals(c)",
                "    spawn f\n    local.tee c\n    push 1000\n    push 1000\n    recurse\n    drop\n    local.get c\n    key.drop\n",
                "func f() -> 0\n    ret\nend\n",
            ),
            20_000_000,
            1 << 30,
            BOTH,
        );
    }
    case(
        "spawn-big-frame",
        "spawn and start a child whose entry frame has 65,000 locals",
        forever(
            "",
            "locals(c)",
            "    spawn f\n    local.tee c\n    push 1000\n    push 1000000\n    recurse\n    drop\n    local.get c\n    key.drop\n",
            "func f() -> 0 locals 65000\n    ret\nend\n",
        ),
        20_000_000,
        1 << 30,
        BOTH,
    );
    {
        let mut nops = String::from("func main() -> 0\n");
        for _ in 0..65_536 {
            nops.push_str("    nop\n");
        }
        nops.push_str("    ret\nend\n");
        case(
            "spawn.bytes-64K-nops",
            "spawn.bytes of a module of 65,536 nops, run briefly",
            spawn_bytes_loop(&bytes_of(&nops), 100, None),
            20_000_000,
            1 << 30,
            BOTH,
        );
        // The same code in an image: a ready child of the nops module, saved once, then
        // loaded and run briefly forever.
        let module = bytes_of(&nops);
        let at = 1 << 20;
        case(
            "child.load-64K-nops",
            "child.load of the image of a child whose module is 65,536 nops, run briefly",
            format!(
                ".memory {}\n{}func main() -> 0 locals(c, n)\n    push {at}\n    push {}\n    spawn.bytes\n    drop\n    push 0\n    push {at}\n    child.save\n    local.set n\ntop:\n    push 0\n    local.get n\n    child.load\n    drop\n    local.tee c\n    push 100\n    push 100000000\n    recurse\n    drop\n    local.get c\n    key.drop\n    jmp top\nend\n",
                at + module.len(),
                data(at as u64, &module),
                module.len()
            ),
            20_000_000,
            1 << 30,
            BOTH,
        );
        let mut many = String::new();
        for f in 0..4096 {
            many.push_str(&format!("func f{f}() -> 0\n    ret\nend\n"));
        }
        case(
            "spawn.bytes-4096-funcs",
            "spawn.bytes of a module of 4,096 functions",
            spawn_bytes_loop(&bytes_of(&many), 100, None),
            20_000_000,
            1 << 30,
            BOTH,
        );
        case(
            "spawn.bytes-64MiB-memory",
            "spawn.bytes of a 54-byte module declaring 64 MiB of memory",
            spawn_bytes_loop(
                &bytes_of(".memory 67108864\nfunc main() -> 0\n    ret\nend\n"),
                100,
                None,
            ),
            5_000_000,
            1 << 30,
            BOTH,
        );
        // Spawns fresh code in a loop: the module `src` builds for seed 1, with the byte
        // where seed 2's differs changed before every spawn.
        let fresh = |src: &dyn Fn(u64) -> String, gas| {
            let (a, b) = (bytes_of(&src(1)), bytes_of(&src(2)));
            spawn_bytes_loop(&a, gas, Some(first_difference(&a, &b)))
        };
        case(
            "compile-fresh",
            "spawn.bytes of fresh code (2,000 if/else diamonds, a loop made hot), one constant changed each time",
            fresh(&|seed| diamonds(2000, 1100, seed), 40_000),
            40_000_000,
            1 << 30,
            ALL,
        );
        case(
            "compile-small",
            "spawn.bytes of fresh code, a loop of 9 instructions run 2,000 times, one constant changed each time",
            fresh(&|seed| hot_loop("", 2000, seed), 30_000),
            40_000_000,
            1 << 30,
            ALL,
        );
        let table = "odd even ".repeat(500);
        let body = format!(
            "    local.get i\n    switch {table}else even\nodd:\n    local.get a\n    push 1\n    xor\n    local.set a\neven:\n"
        );
        case(
            "compile-wide-switch",
            "spawn.bytes of fresh code, a loop made hot around a switch of 1,000 entries, one constant changed each time",
            fresh(&|seed| hot_loop(&body, 5000, seed), 100_000),
            40_000_000,
            1 << 30,
            ALL,
        );
    }
    {
        // A chain of 2,000 nested yielded children (a module of its own, without memory),
        // then saved (and loaded) forever.
        let chain = bytes_of("func link(n) -> 0 locals(c)\n    local.get n\n    jz bottom\n    spawn link\n    local.tee c\n    local.get n\n    push 1\n    sub\n    child.push\n    local.get c\n    push 10000000\n    push 100000000\n    recurse\n    drop\nbottom:\n    yield\n    ret\nend\n");
        let at = 1 << 22;
        let build = format!(
            ".memory {}\n{}func main() -> 0 locals(c, n)\n    push {at}\n    push {}\n    spawn.bytes\n    drop\n    local.tee c\n    push 2000\n    child.push\n    local.get c\n    push 100000000\n    push 100000000\n    recurse\n    drop\n",
            at + chain.len() as u64,
            data(at, &chain),
            chain.len()
        );
        case(
            "child.save-deep",
            "child.save of a chain of 2,000 yielded processes",
            format!("{build}top:\n    local.get c\n    push 0\n    push {at}\n    child.save\n    drop\n    jmp top\nend\n"),
            20_000_000,
            1 << 30,
            BOTH,
        );
        case(
            "child.load-deep",
            "child.load of the image of a chain of 2,000 yielded processes",
            format!("{build}    local.get c\n    push 0\n    push {at}\n    child.save\n    local.set n\ntop:\n    push 0\n    local.get n\n    child.load\n    drop\n    key.drop\n    jmp top\nend\n"),
            20_000_000,
            1 << 30,
            BOTH,
        );
    }
    // A parent switching between two children, each parked with a chain of 5,000 frozen
    // processes under it: every switch puts one chain back into its slots and takes the
    // other out of them.
    let depth = 5_000u64;
    let level = "func level(d) -> 0 locals(c)\n    local.get d\n    jz spin\n    spawn level\n    local.tee c\n    local.get d\n    push 1\n    sub\n    child.push\n    local.get c\n    push 0x7fffffffffffffff\n    push 0x7fffffffffffffff\n    recurse\n    drop\nspin:\n    jmp spin\nend\n";
    let build = |var: &str| {
        format!(
            "    spawn level\n    local.tee {var}\n    push {depth}\n    child.push\n    local.get {var}\n    push {}\n    push {}\n    recurse\n    drop\n",
            depth * 600,
            depth * 4096
        )
    };
    case(
        "recurse-switch-deep",
        "recurse alternating between two children parked with 5,000 frozen processes each",
        format!(
            "{level}func main() -> 0 locals(a, b)\n{}{}top:\n    local.get a\n    push 1\n    push 0\n    recurse\n    drop\n    local.get b\n    push 1\n    push 0\n    recurse\n    drop\n    jmp top\nend\n",
            build("a"),
            build("b")
        ),
        20_000_000,
        1 << 30,
        BOTH,
    );
    for entries in [10usize, 20_000] {
        out.push(Case {
            name: if entries == 10 {
                "fs.list-small"
            } else {
                "fs.list-20k"
            },
            what: if entries == 10 {
                "fs.list of a directory of 10 files"
            } else {
                "fs.list of a directory of 20,000 files"
            },
            src: forever(
                ".memory 64\n",
                "",
                "    push 0\n    push fs.list\n    push 0\n    push 0\n    push 16\n    key.invoke\n    drop\n    drop\n",
                "",
            ),
            gas: if entries == 10 { 2_000_000 } else { 50_000_000 },
            mem: 1 << 30,
            engines: &[EngineKind::Interp],
            cold: false,
            dir_entries: entries,
        });
    }
    // The cheapest host call through the filesystem: the size of one file, its path
    // resolved from the grant's root each time.
    let name = b"entry-000000";
    out.push(Case {
        name: "fs.size-small",
        what: "fs.size of a file in a directory of 10 files",
        src: forever(
            &format!(".memory 64\n{}", data(0, name)),
            "locals(f)",
            "    local.get f\n    push fs.size\n    push 0\n    push 0\n    push 0\n    key.invoke\n    drop\n    drop\n",
            "",
        )
        .replace(
            "top:\n",
            &format!(
                "    push 0\n    push 7\n    push 0\n    push {}\n    key.attenuate\n    drop\n    local.set f\ntop:\n",
                name.len()
            ),
        ),
        gas: 2_000_000,
        mem: 1 << 30,
        engines: &[EngineKind::Interp],
        cold: false,
        dir_entries: 10,
    });
    out
}

/// A directory of `entries` empty files, made once per process and kept for its life.
fn directory_of(entries: usize) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rarvm-adversarial-{}-{entries}",
        std::process::id()
    ));
    if std::fs::read_dir(&dir).map_or(0, Iterator::count) != entries {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        for i in 0..entries {
            std::fs::write(dir.join(format!("entry-{i:06}")), b"").expect("an empty file");
        }
    }
    dir
}

/// What one timed run of a case measured.
#[derive(Clone, Copy, Debug)]
pub struct Measure {
    pub gas: u64,
    pub time: Duration,
}

impl Measure {
    pub fn ns_per_gas(&self) -> f64 {
        self.time.as_nanos() as f64 / self.gas.max(1) as f64
    }
}

/// A VM ready to run `case` on `engine` from a fresh root, with a warm engine.
pub fn vm(case: &Case, engine: EngineKind) -> (Vm, Program) {
    let module =
        Program::from_source(&case.src, case.name).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let mut vm = Vm::new(&module, &[]).expect("no arguments");
    vm.set_engine(engine).expect("the engine runs here");
    grant(case, &mut vm);
    (vm, module)
}

/// Grants `case`'s directory, if it has one.
fn grant(case: &Case, vm: &mut Vm) {
    if case.dir_entries > 0 {
        let dir = directory_of(case.dir_entries);
        let dir = rarvm::os::Dir::open(&dir, false).expect("the directory opens");
        vm.grant(None, rarvm::host::Grant::Resource(Box::new(dir)))
            .expect("a fresh VM grants");
    }
}

/// Runs `case` once on `vm` from a fresh root (on a fresh engine if the case is cold);
/// checks it ran out of gas.
pub fn run(case: &Case, vm: &mut Vm, module: &Program) -> Measure {
    if case.cold {
        let engine = vm.engine();
        *vm = Vm::new(module, &[]).expect("no arguments");
        vm.set_engine(engine).expect("the engine runs here");
        grant(case, vm);
    } else {
        vm.restart(module, &[]).expect("no arguments");
    }
    let start = Instant::now();
    let out = vm.run(case.gas, case.mem);
    let time = start.elapsed();
    assert_eq!(
        out.status,
        Status::OutOfGas,
        "{}: the case must run until it is out of gas: {out:?}",
        case.name
    );
    Measure {
        gas: out.gas_used,
        time,
    }
}
