//! The dependency rules between the workspace's crates (README, "Layout"), read from
//! `cargo metadata`: each crate may depend on the crates listed for it and no other, and
//! what the lean library must not pull in stays optional.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

/// Each workspace crate and the workspace crates it may depend on (normal dependencies).
const RULES: &[(&str, &[&str])] = &[
    // The machine: instruction table, verifier, processes, accounting, images, host
    // contract. It knows no engine, no operating system and no command line.
    ("rarvm-runtime", &[]),
    // The reference interpreter knows the machine, nothing else: not the optimiser.
    ("rarvm-interp", &["rarvm-runtime"]),
    ("rarvm-jit", &["rarvm-runtime", "rarvm-interp"]),
    // The operating system's resources know the host contract, not the engines.
    ("rarvm-host-os", &["rarvm-runtime"]),
    (
        "rarvm",
        &[
            "rarvm-runtime",
            "rarvm-interp",
            "rarvm-jit",
            "rarvm-host-os",
        ],
    ),
    // The Entish compiler lowers to the machine's modules and knows no engine.
    ("rarvm-lang", &["rarvm-runtime"]),
    // Everything above the library uses the library, not the machine's internals.
    // The cluster moves jobs as images; it knows only the library.
    ("rarvm-cluster", &["rarvm"]),
    ("rarvm-vat", &["rarvm"]),
    (
        "rarvm-cli",
        &["rarvm", "rarvm-lang", "rarvm-cluster", "rarvm-vat"],
    ),
    ("rarvm-conformance", &["rarvm", "rarvm-lang"]),
    // The page's wasm module: the lean library (interpreter only) and the compiler.
    ("rarvm-web", &["rarvm", "rarvm-lang"]),
    (
        "rarvm-benches",
        &["rarvm", "rarvm-lang", "rarvm-conformance", "rarvm-vat"],
    ),
];

/// Dependencies that only default features bring in: without them `rarvm` is an
/// interpreter-only library for any target, wasm32 included, and the `rarvm` command runs
/// programs without the cluster's and the vats' dependencies.
const OPTIONAL: &[(&str, &[&str])] = &[
    ("rarvm", &["rarvm-jit", "rarvm-host-os"]),
    ("rarvm-cli", &["rarvm-cluster", "rarvm-vat"]),
];

/// Outside crates the machine and the interpreter may use: nothing that needs an OS.
const LEAN_OUTSIDE: &[(&str, &[&str])] = &[("rarvm-runtime", &["blake3"]), ("rarvm-interp", &[])];

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Each package's name and its normal (not dev or build) dependencies: (name, optional).
fn packages(meta: &Value) -> Vec<(String, Vec<(String, bool)>)> {
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| {
                    (
                        d["name"].as_str().expect("name").to_string(),
                        d["optional"].as_bool().unwrap_or(false),
                    )
                })
                .collect();
            (p["name"].as_str().expect("name").to_string(), deps)
        })
        .collect()
}

#[test]
fn crates_depend_only_as_the_rules_allow() {
    let meta = metadata();
    let packages = packages(&meta);
    let ours: BTreeSet<&str> = packages.iter().map(|(n, _)| n.as_str()).collect();
    let ruled: BTreeSet<&str> = RULES.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        ours, ruled,
        "every workspace crate has a rule here and in the README"
    );
    for (name, deps) in &packages {
        let allowed = RULES.iter().find(|(n, _)| n == name).expect("ruled").1;
        for (dep, _) in deps.iter().filter(|(d, _)| ours.contains(d.as_str())) {
            assert!(
                allowed.contains(&dep.as_str()),
                "{name} must not depend on {dep} (allowed: {allowed:?})"
            );
        }
        if let Some((_, outside)) = LEAN_OUTSIDE.iter().find(|(n, _)| n == name) {
            for (dep, _) in deps.iter().filter(|(d, _)| !ours.contains(d.as_str())) {
                assert!(
                    outside.contains(&dep.as_str()),
                    "{name} must stay lean: {dep} is not among {outside:?}"
                );
            }
        }
    }
    for (name, optional_deps) in OPTIONAL {
        let (_, deps) = packages.iter().find(|(n, _)| n == name).expect("a crate");
        for dep in *optional_deps {
            assert!(
                deps.iter().any(|(d, optional)| d == dep && *optional),
                "{name} must depend on {dep} only through a feature"
            );
        }
    }
}
