//! `conformance/tests/cases/lang/*.et`: every case compiles, and its `#!` directives
//! (the `;!` directives of the assembler cases, behind Entish's comment sign) hold on
//! the interpreter; the JIT gives the same state, image bytes included.

use rarvm_runtime::image;
use rarvm_runtime::machine;
use rarvm_runtime::process::{Process, Status};

use crate::common::*;

/// One step of a case: gas and memory added, then expectations.
struct Step {
    gas: u64,
    mem: u64,
    expects: Vec<(String, Vec<String>)>,
}

struct Case {
    runs: Vec<(Vec<u64>, Vec<Step>)>,
    grants: Vec<String>,
}

fn word(s: &str) -> u64 {
    match s.strip_prefix('-') {
        Some(v) => v.parse::<u64>().unwrap().wrapping_neg(),
        None => s.parse().unwrap(),
    }
}

fn parse(text: &str) -> Case {
    let mut case = Case {
        runs: Vec::new(),
        grants: Vec::new(),
    };
    for line in text.lines() {
        let Some(d) = line.trim_start().strip_prefix("#!") else {
            continue;
        };
        let words: Vec<&str> = d.split(';').next().unwrap().split_whitespace().collect();
        match words.as_slice() {
            ["run", args @ ..] => case.runs.push((
                args.iter().map(|a| word(a)).collect(),
                vec![Step {
                    gas: 1_000_000_000,
                    mem: 1 << 20,
                    expects: vec![],
                }],
            )),
            ["resume"] => case.runs.last_mut().unwrap().1.push(Step {
                gas: 1_000_000_000,
                mem: 0,
                expects: vec![],
            }),
            ["gas", n] => case.runs.last_mut().unwrap().1.last_mut().unwrap().gas = word(n),
            ["mem", n] => case.runs.last_mut().unwrap().1.last_mut().unwrap().mem = word(n),
            ["grant", g] => case.grants.push(g.to_string()),
            ["expect", key, vals @ ..] => case
                .runs
                .last_mut()
                .unwrap()
                .1
                .last_mut()
                .unwrap()
                .expects
                .push((
                    key.to_string(),
                    vals.iter().map(|v| v.to_string()).collect(),
                )),
            other => panic!("unknown directive {other:?}"),
        }
    }
    case
}

fn unquote(s: &str) -> String {
    s.trim_matches('"')
        .replace("\\n", "\n")
        .replace("\\s", " ")
        .replace("\\t", "\t")
}

/// The status of the process at `path` (`root`, `root.0`, `root.0.1`).
fn status_at(root: &Process, path: &str) -> Status {
    let mut p = root;
    for slot in path.split('.').skip(1) {
        p = p
            .child(slot.parse().unwrap())
            .expect("a child at that slot");
    }
    p.status
}

#[test]
fn lang_cases_hold_on_the_interpreter_and_the_jit() {
    let dir = repo().join("conformance/tests/cases/lang");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    let mut jit = rarvm_jit::Jit::new(rarvm_jit::Mode::Jit).unwrap();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let rel = format!("conformance/tests/cases/lang/{name}");
        let c = compile_file(&rel);
        let case = parse(&std::fs::read_to_string(&path).unwrap());
        for g in &c.grants {
            let kind = rarvm_runtime::keys::KeyKind::from_code(g.kind)
                .unwrap()
                .name();
            assert!(
                case.grants.iter().any(|s| s.starts_with(&kind)),
                "{name}: grant {kind}"
            );
        }
        assert!(!case.runs.is_empty(), "{name} has no run");
        for (args, steps) in &case.runs {
            let setup = Setup {
                args,
                ..Setup::default()
            };
            let mut a = root(&c, &setup);
            let mut b = root(&c, &setup);
            for step in steps {
                let mut ha = TestHost::default();
                let mut hb = TestHost::default();
                a = machine::run_with_host(
                    a,
                    &mut rarvm_interp::Interp,
                    &mut ha,
                    step.gas,
                    step.mem,
                );
                b = machine::run_with_host(b, &mut jit, &mut hb, step.gas, step.mem);
                assert_eq!(
                    image::encode(&a),
                    image::encode(&b),
                    "{name}: engines agree"
                );
                let console = String::from_utf8_lossy(&ha.console).into_owned();
                for (key, vals) in &step.expects {
                    let what = format!("{name} run {args:?}: expect {key} {vals:?}");
                    match key.as_str() {
                        "status" => assert_eq!(a.status.name(), vals[0], "{what}"),
                        "fault" => assert_eq!(a.fault.name(), vals[0], "{what}"),
                        "stack" => assert_eq!(
                            a.port,
                            vals.iter().map(|v| word(v)).collect::<Vec<_>>(),
                            "{what}"
                        ),
                        "console" => assert_eq!(console, unquote(&vals[0]), "{what}"),
                        "gas_used" => assert_eq!(a.gas_used, word(&vals[0]), "{what}"),
                        "tree" => assert_eq!(status_at(&a, &vals[0]).name(), vals[1], "{what}"),
                        other => panic!("{name}: unknown expectation {other}"),
                    }
                }
            }
        }
    }
}
