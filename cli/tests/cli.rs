//! The command line: outputs, exit codes, one-line errors, snapshots and resumption.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rarvm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rarvm"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(o).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rarvm-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn readme_first_command_returns_42() {
    let o = rarvm(&["run", "examples/sandbox.rasm", "--", "41"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("result:   42"), "{}", stdout(&o));
}

#[test]
fn json_has_the_documented_fields() {
    let o = rarvm(&["run", "--json", "examples/fib.rasm", "--", "20"]);
    let v = json(&o);
    assert_eq!(v["status"], "returned");
    assert_eq!(v["stack"], serde_json::json!([6765]));
    assert!(v["gas_used"].as_u64().unwrap() > 0);
    assert!(v["gas_left"].is_u64());
    assert!(v["fault"].is_null());
    assert!(v["image_hash"].is_null());
}

#[test]
fn exit_codes_tell_the_outcome() {
    let o = rarvm(&["run", "--gas", "100", "examples/fib.rasm", "--", "20"]);
    assert_eq!(o.status.code(), Some(3), "out of gas");
    let o = rarvm(&[
        "run",
        "--json",
        "--mem",
        "100",
        "examples/sieve.rasm",
        "--",
        "1000",
    ]);
    assert_eq!(o.status.code(), Some(4), "out of memory");
    assert_eq!(json(&o)["status"], "out_of_memory");
    let dir = scratch("fault");
    let src = dir.join("div.rasm");
    std::fs::write(
        &src,
        "func main(x) -> 1\n push 1\n local.get x\n div_u\n ret\nend\n",
    )
    .unwrap();
    let o = rarvm(&["run", "--json", p(&src), "--", "0"]);
    assert_eq!(o.status.code(), Some(5), "fault");
    assert_eq!(json(&o)["fault"], "division_by_zero");
}

#[test]
fn bad_input_gets_one_line_and_status_2() {
    let dir = scratch("bad");
    let bad_src = dir.join("bad.rasm");
    std::fs::write(&bad_src, "func main() -> 1\n push\nend\n").unwrap();
    let bad_img = dir.join("bad.img");
    std::fs::write(&bad_img, b"RARVMIMG\x01\0\0\0\xff\xff").unwrap();
    let binary = dir.join("junk.bin");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", "no/such/file.rasm"], "cannot read"),
        (
            vec!["run", p(&bad_src)],
            "bad.rasm:2:6: expected a number or constant",
        ),
        (vec!["run", p(&bad_img)], "invalid image"),
        (vec!["resume", p(&bad_img)], "invalid image"),
        (vec!["inspect", p(&bad_img)], "invalid image"),
        (vec!["run", p(&binary)], "neither assembler text"),
        (
            vec!["run", "examples/fib.rasm"],
            "takes 1 argument(s), 0 given",
        ),
        (
            vec!["run", "examples/fib.rasm", "--", "x"],
            "non-negative decimal number, not `x`",
        ),
        (
            vec!["run", "--gas", "lots", "examples/fib.rasm"],
            "non-negative decimal number, not `lots`",
        ),
        (
            vec!["run", "--gas", "-5", "examples/fib.rasm"],
            "'--gas <GAS>': expected a non-negative decimal number, not `-5`",
        ),
        (
            vec!["resume", "--mem", "-1", "x.img"],
            "'--mem <MEM>': expected a non-negative decimal number",
        ),
        (vec!["run"], "were not provided: <FILE>"),
        (
            vec!["asm", "examples/fib.rasm"],
            "were not provided: --output <OUT>",
        ),
        (
            vec!["run", "--engine", "warp", "examples/fib.rasm"],
            "unknown engine",
        ),
        (
            vec!["run", "--frobnicate", "examples/fib.rasm"],
            "--frobnicate",
        ),
        (vec!["explode"], "explode"),
    ];
    for (args, expect) in cases {
        let o = rarvm(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_process_jumps_through_a_file_and_finishes_the_same() {
    let dir = scratch("jump");
    let a = dir.join("a.img");
    let o = rarvm(&[
        "run",
        "--gas",
        "100000",
        "--snapshot",
        p(&a),
        "examples/fib.rasm",
        "--",
        "25",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).contains("status:   out_of_gas"));
    let o = rarvm(&["resume", "--json", p(&a)]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json(&o)["stack"], serde_json::json!([75025]));
    assert_eq!(
        json(&o)["image_hash"],
        blake3::hash(&std::fs::read(&a).unwrap()).to_hex().as_str()
    );
    // `run IMAGE` continues exactly like `resume IMAGE`: the same defaults, the same image.
    let (by_resume, by_run) = (dir.join("resume.img"), dir.join("run.img"));
    rarvm(&["resume", "--snapshot", p(&by_resume), p(&a)]);
    rarvm(&["run", "--snapshot", p(&by_run), p(&a)]);
    assert_eq!(
        std::fs::read(&by_resume).unwrap(),
        std::fs::read(&by_run).unwrap()
    );
}

#[test]
fn resuming_in_slices_equals_one_run_byte_for_byte() {
    let dir = scratch("slices");
    let first = dir.join("0.img");
    let o = rarvm(&[
        "run",
        "--gas",
        "500",
        "--snapshot",
        p(&first),
        "examples/fib.rasm",
        "--",
        "12",
    ]);
    assert_eq!(o.status.code(), Some(3));
    let mut last = first;
    for k in 1..=100 {
        let next = dir.join(format!("{k}.img"));
        let o = rarvm(&["resume", "--gas", "500", "--snapshot", p(&next), p(&last)]);
        last = next;
        if o.status.code() == Some(0) {
            assert!(k > 5, "fib(12) should need several slices");
            let once = dir.join("once.img");
            let gas = (500 * (k + 1)).to_string();
            rarvm(&[
                "run",
                "--gas",
                &gas,
                "--snapshot",
                p(&once),
                "examples/fib.rasm",
                "--",
                "12",
            ]);
            assert_eq!(std::fs::read(&last).unwrap(), std::fs::read(&once).unwrap());
            return;
        }
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    }
    panic!("fib(12) did not finish in 100 slices");
}

#[test]
fn inspect_shows_the_tree_and_hash() {
    let dir = scratch("inspect");
    let img = dir.join("n.img");
    rarvm(&[
        "run",
        "--gas",
        "3000",
        "--snapshot",
        p(&img),
        "examples/nested.rasm",
        "--",
        "3",
    ]);
    let hash = blake3::hash(&std::fs::read(&img).unwrap())
        .to_hex()
        .to_string();
    let o = rarvm(&["inspect", p(&img)]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(text.contains(&hash), "{text}");
    assert!(text.contains("root.0.0"), "{text}");
    let v = json(&rarvm(&["inspect", "--json", p(&img)]));
    assert_eq!(v["image_hash"], hash.as_str());
    let procs = v["processes"].as_array().unwrap();
    assert_eq!(procs[0]["path"], "root");
    assert_eq!(procs[0]["status"], "out_of_gas");
    assert!(
        procs.iter().skip(1).all(|p| p["status"] == "running"),
        "{v}"
    );
}

#[test]
fn asm_and_disasm_roundtrip_through_files() {
    let dir = scratch("asm");
    let bin = dir.join("fib.mod");
    assert_eq!(
        rarvm(&["asm", "examples/fib.rasm", "-o", p(&bin)])
            .status
            .code(),
        Some(0)
    );
    let o = rarvm(&["run", p(&bin), "--", "15"]);
    assert!(stdout(&o).contains("result:   610"));
    let text = stdout(&rarvm(&["disasm", p(&bin)]));
    let src = dir.join("again.rasm");
    std::fs::write(&src, text).unwrap();
    let bin2 = dir.join("again.mod");
    assert_eq!(
        rarvm(&["asm", p(&src), "-o", p(&bin2)]).status.code(),
        Some(0)
    );
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(&bin2).unwrap());
}

#[test]
fn every_engine_prints_the_same_and_jit_stats_report() {
    let outs: Vec<serde_json::Value> = ["interp", "jit", "auto"]
        .iter()
        .map(|e| {
            let mut v = json(&rarvm(&[
                "run",
                "--json",
                "--engine",
                e,
                "examples/sieve.rasm",
                "--",
                "3000",
            ]));
            v.as_object_mut().unwrap().remove("engine");
            v
        })
        .collect();
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], outs[2]);
    let o = rarvm(&[
        "run",
        "--engine",
        "jit",
        "--jit-stats",
        "examples/fib.rasm",
        "--",
        "25",
    ]);
    let err = stderr(&o);
    // fib earned its compilation; main, which runs once, did not.
    assert!(err.contains("jit: 1 functions compiled"), "{err}");
    assert!(err.contains("native entries"), "{err}");
    let o = rarvm(&[
        "run",
        "--engine",
        "interp",
        "--jit-stats",
        "examples/fib.rasm",
        "--",
        "10",
    ]);
    assert!(stderr(&o).contains("jit: not used"));
}

#[test]
fn resume_accepts_an_engine_and_matches_the_interpreter() {
    let dir = scratch("resume-engine");
    let img = dir.join("a.img");
    rarvm(&[
        "run",
        "--gas",
        "20000",
        "--snapshot",
        p(&img),
        "examples/nested.rasm",
        "--",
        "2",
    ]);
    let a = json(&rarvm(&["resume", "--json", "--engine", "jit", p(&img)]));
    let b = json(&rarvm(&["resume", "--json", "--engine", "interp", p(&img)]));
    assert_eq!(a["stack"], b["stack"]);
    assert_eq!(a["gas_used"], b["gas_used"]);
}

/// An Entish program in a scratch directory: `get` faults out of bounds for an index
/// past 2.
fn entish(dir: &Path) -> PathBuf {
    let src = dir.join("bounds.et");
    std::fs::write(
        &src,
        "def get(a: [u64], i) -> u64:\n    return a[i]\n\ndef main(i):\n    a = [10, 20, 30]\n    return get(a, i)\n",
    )
    .unwrap();
    src
}

#[test]
fn entish_programs_run_with_source_positions() {
    let o = rarvm(&["run", "examples/sandbox.et", "--", "41"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("result:   42"), "{}", stdout(&o));
    assert!(
        !stdout(&o).contains("at:"),
        "a returned root has no position"
    );

    let dir = scratch("entish");
    let src = entish(&dir);
    let o = rarvm(&["run", p(&src), "--", "1"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("result:   20"));
    let o = rarvm(&["run", p(&src), "--", "7"]);
    assert_eq!(o.status.code(), Some(5), "fault");
    let at = format!("at:       {}:2:12 in get\n", p(&src));
    assert!(stdout(&o).contains(&at), "{}", stdout(&o));
    for engine in ["interp", "jit", "auto"] {
        let o = rarvm(&["run", "--json", "--engine", engine, p(&src), "--", "7"]);
        let v = json(&o);
        assert_eq!(v["fault"], "out_of_bounds");
        assert_eq!(v["at"], format!("{}:2:12 in get", p(&src)), "{engine}");
    }
    // Out of gas at the call, written to an image that keeps the positions.
    let img = dir.join("b.img");
    let o = rarvm(&[
        "run",
        "--gas",
        "30",
        "--snapshot",
        p(&img),
        p(&src),
        "--",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).contains(":6:12 in main\n"), "{}", stdout(&o));
    let o = rarvm(&["inspect", p(&img)]);
    assert!(stdout(&o).contains(":6:12 in main\n"), "{}", stdout(&o));
    let v = json(&rarvm(&["inspect", "--json", p(&img)]));
    assert_eq!(v["processes"][0]["at"], format!("{}:6:12 in main", p(&src)));
    let o = rarvm(&["resume", p(&img)]);
    assert!(stdout(&o).contains("result:   20"), "{}", stdout(&o));
}

#[test]
fn compile_writes_modules_and_text_and_strips_positions() {
    let dir = scratch("compile");
    let src = entish(&dir);
    let (module, stripped, text) = (dir.join("b.mod"), dir.join("s.mod"), dir.join("b.rasm"));
    for (out, extra) in [
        (&module, vec![]),
        (&stripped, vec!["--strip"]),
        (&text, vec!["--emit", "rasm"]),
    ] {
        let mut args = vec!["compile", p(&src), "-o", p(out)];
        args.extend(extra);
        let o = rarvm(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let (full, bare) = (
        std::fs::read(&module).unwrap(),
        std::fs::read(&stripped).unwrap(),
    );
    assert!(bare.len() < full.len());
    let o = rarvm(&["run", p(&module), "--", "9"]);
    assert!(stdout(&o).contains(":2:12 in get\n"), "{}", stdout(&o));
    // Without positions a stop is named by function and instruction.
    let o = rarvm(&["run", p(&stripped), "--", "9"]);
    assert!(stdout(&o).contains("at:       get:"), "{}", stdout(&o));
    // The text assembles to the stripped module.
    let again = dir.join("again.mod");
    let o = rarvm(&["asm", p(&text), "-o", p(&again)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&again).unwrap(), bare);
    let o = rarvm(&["disasm", p(&src)]);
    assert_eq!(stdout(&o), std::fs::read_to_string(&text).unwrap());
}

#[test]
fn check_reports_every_error_with_its_position_and_exits_2() {
    let dir = scratch("check");
    let good = entish(&dir);
    let o = rarvm(&["check", p(&good)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let bad = dir.join("bad.et");
    std::fs::write(
        &bad,
        "def main(x):\n    y: bool = x\n    return nope\n\ndef f() -> u64:\n    pass\n",
    )
    .unwrap();
    for cmd in ["check", "run", "compile"] {
        let mut args = vec![cmd, p(&bad)];
        if cmd == "compile" {
            args.extend(["-o", "unused.mod"]);
        }
        let o = rarvm(&args);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        let err = stderr(&o);
        for (at, code) in [
            ("2:15", "type"),
            ("3:12", "unknown-name"),
            ("5:5", "missing-return"),
        ] {
            assert!(
                err.contains(&format!("[{code}] Error: {}:{at}: ", p(&bad))),
                "{cmd}: {err}"
            );
        }
        assert!(
            err.contains("    y: bool = x\n"),
            "the source line is shown: {err}"
        );
        assert!(!err.contains('\x1b'), "no colour off a terminal: {err}");
        assert!(
            err.ends_with(&format!("rarvm: {}: 3 errors\n", p(&bad))),
            "{err}"
        );
    }
    let o = rarvm(&["check", "no/such/file.et"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("rarvm: cannot read no/such/file.et"));
}

#[test]
fn declared_grants_take_their_slots_by_name() {
    let library = "examples/library.et";
    let shelf = "fs:examples/library:ro";
    // The order on the command line does not matter: declarations fix the slots.
    for grants in [["console", shelf], [shelf, "console"]] {
        let mut args = vec!["run", library];
        for g in grants {
            args.extend(["--grant", g]);
        }
        let o = rarvm(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(
            stdout(&o).contains("result:   30 1 1 3 3"),
            "{}",
            stdout(&o)
        );
    }
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--grant", "console"],
            "examples/library.et: the program declares `grant fs: fs`, but no grant is named `fs` (give it with --grant fs:DIR:ro)",
        ),
        (
            vec!["--grant", "console", "--grant", shelf, "--grant", "random:1"],
            "the grant `random` (random) is not one the program declares",
        ),
        (
            vec!["--grant", "fs=console", "--grant", "console"],
            "the program declares `grant fs: fs`, but the grant named `fs` is a console key",
        ),
    ];
    for (grants, expect) in cases {
        let mut args = vec!["run", library];
        args.extend(grants);
        let o = rarvm(&args);
        assert_eq!(o.status.code(), Some(2));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(expect), "{err}");
    }
}

#[test]
fn yields_and_halts_are_reported_at_their_statements() {
    let dir = scratch("stops");
    let y = dir.join("y.et");
    std::fs::write(
        &y,
        "def main(x):\n    y = x + 1\n    yield y\n    return y * 2\n",
    )
    .unwrap();
    let o = rarvm(&["run", p(&y), "--", "3"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with(&format!(
        "status:   yielded\nat:       {}:3:5 in main\nresult:   4\n",
        p(&y)
    )));
    let h = dir.join("h.et");
    std::fs::write(
        &h,
        "def main(x):\n    if x > 2:\n        halt()\n    return 1\n",
    )
    .unwrap();
    let v = json(&rarvm(&["run", "--json", p(&h), "--", "3"]));
    assert_eq!(v["status"], "halted");
    assert_eq!(v["at"], format!("{}:3:9 in main", p(&h)));
    let v = json(&rarvm(&["run", "--json", p(&h), "--", "1"]));
    assert!(v["at"].is_null(), "a returned root has no position");
}
