//! The promise about host memory (`docs/SPEC.md` §7.1): what the host holds for a run stays
//! within `--mem` plus a constant that does not depend on the program. Adversarial programs
//! run as separate `rarvm` processes with a small `--mem` on every engine, and the peak
//! resident memory the kernel reports for each (`wait4`'s `ru_maxrss`) must stay below
//! `--mem` plus [`CONSTANT`].

#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::process::Command;

use rarvm::Program;

/// What the host may hold beyond `--mem`: the binary, its libraries, the JIT's code cache
/// (32 MiB at most) and bookkeeping.
const CONSTANT: u64 = 64 << 20;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rarvm-rss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `rarvm run FILE --gas GAS --mem MEM --engine ENGINE --jit-stats` and returns its
/// peak resident memory in bytes, its exit code and what it printed on standard error.
fn peak_rss(file: &std::path::Path, gas: u64, mem: u64, engine: &str) -> (u64, i32, String) {
    let err = file.with_extension(format!("{engine}.err"));
    let child = Command::new(env!("CARGO_BIN_EXE_rarvm"))
        .args([
            "run",
            "--jit-stats",
            "--engine",
            engine,
            "--gas",
            &gas.to_string(),
            "--mem",
            &mem.to_string(),
        ])
        .arg(file)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain data the kernel fills in; `pid` is our own child, waited
    // for exactly once (std's handle is never waited on).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to a status word and an rusage for the call's duration.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    (usage.ru_maxrss as u64 * 1024, code, stderr)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Module bytes and the offset of a constant that changes the code.
fn fresh_module() -> (Vec<u8>, usize) {
    let inner = |k: u64| {
        let mut s = format!("func main() -> 1 locals(i, a)\nloop:\n    local.get a\n    push {k}\n    add\n    local.set a\n");
        for j in 0..40 {
            s.push_str(&format!(
                "    local.get a\n    push {j}\n    xor\n    local.get i\n    add\n    local.set a\n"
            ));
        }
        s.push_str("    local.get i\n    push 1\n    add\n    local.tee i\n    jnz loop\n    local.get a\n    ret\nend\n");
        Program::from_source(&s, "inner").unwrap().to_bytes()
    };
    let (a, b) = (inner(1), inner(2));
    let at = a.iter().zip(&b).position(|(x, y)| x != y).unwrap();
    (a, at)
}

/// Adversarial programs: (name, source, gas, --mem).
fn programs() -> Vec<(&'static str, String, u64, u64)> {
    let (module, at) = fresh_module();
    let len = module.len();
    let fresh_code = format!(
        ".memory {}\n.data 0 x\"{}\"\nfunc main() -> 0 locals(c)\ntop:\n    push {at}\n    push {at}\n    load8_u 0\n    push 1\n    add\n    store8 0\n    push 0\n    push {len}\n    spawn.bytes\n    drop\n    local.tee c\n    push 5000000\n    push 1000000\n    recurse\n    drop\n    local.get c\n    key.drop\n    jmp top\nend\n",
        len + 8,
        hex(&module)
    );
    let nested = "func main() -> 0 locals(c)\n    spawn main\n    local.tee c\n    push -1\n    push -1\n    recurse\n    drop\n    ret\nend\n".to_string();
    // Children whose key lists are full of holes: spawn 4,000, drop all but the last.
    let holes = "func main() -> 0 locals(i, c)\ntop:\n    spawn hole\n    local.tee c\n    push -1\n    push -1\n    recurse\n    drop\n    jmp top\nend\nfunc hole() -> 0 locals(i)\nfill:\n    spawn leaf\n    drop\n    local.get i\n    push 1\n    add\n    local.tee i\n    push 4000\n    lt_u\n    jnz fill\nempty:\n    local.get i\n    push 2\n    sub\n    local.tee i\n    key.drop\n    local.get i\n    jnz empty\n    yield\n    ret\nend\nfunc leaf() -> 0\n    ret\nend\n".to_string();
    let huge_memory = {
        let m = Program::from_source(".memory 67108864\nfunc main() -> 0\n    ret\nend\n", "m")
            .unwrap()
            .to_bytes();
        format!(
            ".memory {}\n.data 0 x\"{}\"\nfunc main() -> 0 locals(c)\ntop:\n    push 0\n    push {}\n    spawn.bytes\n    drop\n    drop\n    jmp top\nend\n",
            m.len(),
            hex(&m),
            m.len()
        )
    };
    // Children kept alive, each of a fresh module that is mostly a `switch` table of
    // 60,000 entries (240 KB of encoding, held decoded and lowered as well), each run once.
    let tables = {
        let inner = |k: u64| {
            let table = "a ".repeat(59_999);
            let s = format!(
                "func main() -> 0\n    push {k}\n    switch {table}else a\na:\n    ret\nend\n"
            );
            Program::from_source(&s, "inner").unwrap().to_bytes()
        };
        let (a, b) = (inner(1), inner(2));
        let at = a.iter().zip(&b).position(|(x, y)| x != y).unwrap();
        let len = a.len();
        format!(
            ".memory {}\n.data 0 x\"{}\"\nfunc main() -> 0\ntop:\n    push {at}\n    push {at}\n    load8_u 0\n    push 1\n    add\n    store8 0\n    push 0\n    push {len}\n    spawn.bytes\n    drop\n    push 1000\n    push 0\n    recurse\n    drop\n    jmp top\nend\n",
            len + 8,
            hex(&a)
        )
    };
    vec![
        ("fresh compiled modules", fresh_code, 400_000_000, 4_000_000),
        (
            "children holding switch tables",
            tables,
            2_000_000_000,
            200_000_000,
        ),
        ("200,000 nested children", nested, 200_000_000, 210_000_000),
        ("key lists full of holes", holes, 200_000_000, 16_000_000),
        (
            "spawn.bytes of a module declaring 64 MiB",
            huge_memory,
            20_000_000,
            4_000_000,
        ),
    ]
}

#[test]
fn resident_memory_stays_within_mem_plus_a_constant() {
    let dir = scratch();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (i, (name, src, gas, mem)) in programs().into_iter().enumerate() {
        let file = dir.join(format!("p{i}.rasm"));
        std::fs::write(&file, src).unwrap();
        for engine in ["interp", "jit", "auto"] {
            let (rss, code, stderr) = peak_rss(&file, gas, mem, engine);
            assert!(
                matches!(code, 0 | 3 | 4),
                "{name} on {engine}: exit status {code}: {stderr}"
            );
            if i == 0 && engine != "interp" {
                // The point of this program: the JIT compiles module after module.
                let compiled: u64 = stderr
                    .split("jit: ")
                    .nth(1)
                    .and_then(|s| s.split_whitespace().next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                assert!(compiled >= 20, "{name} on {engine}: {stderr}");
                report.push(stderr.trim().to_string());
            }
            report.push(format!(
                "{name} on {engine}: {} MiB peak for --mem {} MiB",
                rss >> 20,
                mem >> 20
            ));
            if rss > mem + CONSTANT {
                failures.push(format!(
                    "{name} on {engine}: {} bytes resident, more than --mem {mem} + {CONSTANT}",
                    rss
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
