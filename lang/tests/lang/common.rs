//! Compiling and running programs in tests, with a small host: a console that is
//! captured, a read-only view of a directory for filesystem keys.

use std::path::{Path, PathBuf};

use rarvm_lang::{compile, compile_str, Compiled, Diagnostics, FsLoader, Options};
use rarvm_runtime::host::{Call, Host, Reply};
use rarvm_runtime::keys::{HostKey, KeyError, KeyKind};
use rarvm_runtime::process::{Fault, Process, Status};
use rarvm_runtime::{machine, Engine};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compiles a file of the repository (a path relative to its root).
pub fn compile_file(rel: &str) -> Compiled {
    let path = repo().join(rel);
    compile(&FsLoader, &path, &Options::default()).unwrap_or_else(|d| panic!("{}", d.render(false)))
}

pub fn try_src(src: &str) -> Result<Compiled, Diagnostics> {
    compile_str("test.et", src, &Options::default())
}

pub fn compile_src(src: &str) -> Compiled {
    try_src(src).unwrap_or_else(|d| panic!("{}", d.render(false)))
}

/// The diagnostics of a program that must not compile.
pub fn errors(src: &str) -> Diagnostics {
    match try_src(src) {
        Ok(c) => panic!("compiled, but should not have:\n{}", c.rasm()),
        Err(d) => d,
    }
}

/// A host for tests: console output is kept; filesystem keys read below `fs_root`.
#[derive(Default)]
pub struct TestHost {
    pub console: Vec<u8>,
    pub fs_root: Option<PathBuf>,
}

impl Host for TestHost {
    fn invoke(&mut self, call: Call<'_>) -> Reply {
        match (call.key.kind, call.op) {
            (KeyKind::Console, 0) => {
                self.console.extend_from_slice(call.data);
                Reply::ok(call.data.len() as u64)
            }
            (KeyKind::Console, 1) => Reply::ok(0),
            (KeyKind::Fs, op) => {
                let Some(root) = &self.fs_root else {
                    return Reply::error(KeyError::Unbound);
                };
                let path = root.join(String::from_utf8_lossy(&call.key.scope).as_ref());
                match op {
                    0 => match std::fs::read(&path) {
                        Ok(bytes) => {
                            let from = (call.arg as usize).min(bytes.len());
                            let n = (bytes.len() - from).min(call.data.len());
                            call.out.extend_from_slice(&bytes[from..from + n]);
                            Reply::ok(n as u64)
                        }
                        Err(_) => Reply::error(KeyError::NotFound),
                    },
                    2 => match std::fs::metadata(&path) {
                        Ok(m) => Reply::ok(m.len()),
                        Err(_) => Reply::error(KeyError::NotFound),
                    },
                    _ => Reply::error(KeyError::Io),
                }
            }
            (KeyKind::Clock, 0) => Reply::ok(0),
            _ => Reply::error(KeyError::Unsupported),
        }
    }
}

/// What a run ended with.
pub struct Run {
    pub status: Status,
    pub fault: Fault,
    pub port: Vec<u64>,
    pub gas_used: u64,
    pub console: String,
    pub root: Box<Process>,
}

impl Run {
    /// `file.et:LINE:COL in FUNCTION` of the root's top frame.
    pub fn position(&self, c: &Compiled) -> Option<String> {
        let f = self.root.frames.last()?;
        c.position(f.func, f.pc).map(|p| p.to_string())
    }
}

/// Options of a run.
pub struct Setup<'a> {
    pub args: &'a [u64],
    pub gas: u64,
    pub mem: u64,
    pub fs_root: Option<PathBuf>,
    /// The state of random keys.
    pub seed: u64,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup {
            args: &[],
            gas: 1_000_000_000,
            mem: 1 << 24,
            fs_root: None,
            seed: 1,
        }
    }
}

/// A new root for the compiled program with its declared grants in their slots.
pub fn root(c: &Compiled, setup: &Setup<'_>) -> Box<Process> {
    let m = rarvm_runtime::verify(c.module.clone()).expect("compiled modules verify");
    let mut root = Box::new(Process::new(m, 0));
    for g in &c.grants {
        let kind = KeyKind::from_code(g.kind).expect("a known kind");
        let state = match kind {
            KeyKind::Random => setup.seed,
            KeyKind::Clock => 1,
            _ => 0,
        };
        root.grant_key(HostKey::new(kind, &g.name, state));
    }
    root.port.extend_from_slice(setup.args);
    root
}

pub fn run_on(c: &Compiled, setup: &Setup<'_>, engine: &mut dyn Engine) -> Run {
    let mut host = TestHost {
        fs_root: setup.fs_root.clone(),
        ..TestHost::default()
    };
    let root = machine::run_with_host(root(c, setup), engine, &mut host, setup.gas, setup.mem);
    Run {
        status: root.status,
        fault: root.fault,
        port: root.port.clone(),
        gas_used: root.gas_used,
        console: String::from_utf8_lossy(&host.console).into_owned(),
        root,
    }
}

pub fn run_with(c: &Compiled, setup: &Setup<'_>) -> Run {
    run_on(c, setup, &mut rarvm_interp::Interp)
}

pub fn run(c: &Compiled, args: &[u64]) -> Run {
    run_with(
        c,
        &Setup {
            args,
            ..Setup::default()
        },
    )
}

/// Compiles and runs `src`; asserts that it returns, and gives its results.
pub fn results(src: &str, args: &[u64]) -> Vec<u64> {
    let c = compile_src(src);
    let r = run(&c, args);
    assert_eq!(
        r.status,
        Status::Returned,
        "fault {:?} at {:?}\n{}",
        r.fault,
        r.position(&c),
        c.rasm()
    );
    r.port
}
