//! The standard library's named constants are the runtime's: kinds, rights and error
//! codes, statuses and faults, host operation codes, opcodes; and its name functions
//! give the runtime's names.

use std::collections::BTreeMap;

use rarvm_runtime::isa::Opcode;
use rarvm_runtime::keys::{
    KeyError, KeyKind, HOST_OPS, RIGHTS_ALL, RIGHT_CREATE, RIGHT_READ, RIGHT_WRITE,
};
use rarvm_runtime::process::{Fault, Status};

use crate::common::*;

/// `NAME = number` lines of a standard module.
fn constants(module: &str) -> BTreeMap<String, u64> {
    let (_, src) = rarvm_lang::standard_library()
        .iter()
        .find(|(n, _)| *n == module)
        .unwrap();
    src.lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(" = ")?;
            if !name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
            {
                return None;
            }
            let v = rest.split('#').next()?.trim();
            let v = match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok()?,
                None => v.parse().ok()?,
            };
            Some((name.to_string(), v))
        })
        .collect()
}

#[test]
fn constants_match_the_runtime() {
    let keys = constants("keys");
    assert_eq!(keys["EMPTY"], 0);
    assert_eq!(keys["PROCESS"], 1);
    for k in KeyKind::BUILT_IN {
        assert_eq!(keys[&k.name().to_uppercase()], u64::from(k.code()), "{k}");
    }
    assert_eq!(
        (keys["READ"], keys["WRITE"], keys["CREATE"], keys["ALL"]),
        (RIGHT_READ, RIGHT_WRITE, RIGHT_CREATE, RIGHTS_ALL)
    );
    for e in KeyError::ALL {
        assert_eq!(keys[&e.name().to_uppercase()], e.code(), "{}", e.name());
    }
    let proc = constants("proc");
    for s in Status::ALL {
        let name = if s == Status::Faulted {
            "FAULT".to_string()
        } else {
            s.name().to_uppercase()
        };
        assert_eq!(proc[&name], s as u64, "{name}");
    }
    for f in Fault::ALL {
        let name = if f == Fault::None {
            "NO_FAULT".to_string()
        } else {
            f.name().to_uppercase()
        };
        assert_eq!(proc[&name], f as u64, "{name}");
    }
    for op in HOST_OPS {
        let module = constants(&op.kind.name());
        assert_eq!(
            module[&op.name.to_uppercase()],
            op.code,
            "{}.{}",
            op.kind,
            op.name
        );
    }
    for (name, code) in constants("module") {
        if matches!(name.as_str(), "VERSION") {
            continue;
        }
        let lower = name.to_lowercase();
        let op = Opcode::from_mnemonic(&lower)
            .or_else(|| Opcode::from_mnemonic(&lower.replacen('_', ".", 1)))
            .unwrap_or_else(|| panic!("{name} is an opcode"));
        assert_eq!(op as u64, code, "{name}");
    }
}

#[test]
fn names_match_the_runtime() {
    let mut src =
        String::from("import std.keys\nimport std.proc\ngrant console: console\ndef main():\n");
    for e in 0..=8u64 {
        src.push_str(&format!("    io.println(console, keys.error_name({e}))\n"));
    }
    for s in 0..8u64 {
        src.push_str(&format!("    io.println(console, proc.status_name({s}))\n"));
    }
    for f in 1..=10u64 {
        src.push_str(&format!("    io.println(console, proc.fault_name({f}))\n"));
    }
    src.insert_str(0, "import std.io\n");
    let c = compile_src(&src);
    let r = run(&c, &[]);
    let mut want = vec!["ok".to_string()];
    want.extend(KeyError::ALL.iter().map(|e| e.name().to_string()));
    want.extend(Status::ALL.iter().map(|s| s.name().to_string()));
    want.extend(Fault::ALL[1..].iter().map(|f| f.name().to_string()));
    assert_eq!(r.console.lines().collect::<Vec<_>>(), want);
}
