//! Spec tests as data.
//!
//! A case is an assembler file (`.rasm`) whose `;!` comment lines are directives, an
//! Entish program (`.et`) whose `#!` comment lines are the same directives, or a `.case`
//! file of directives that loads a checked-in image. Directives:
//!
//! ```text
//! ;! run 7 0            a run: a new root with these entry arguments (or, in a .case,
//!                       the loaded image); the lines below configure its first step
//! ;! gas 1000           gas added for the step (default 10^9 for a run's first step)
//! ;! mem 4096           memory added for the step (default 1 MiB first, then 0)
//! ;! expect status fault
//! ;! expect fault division_by_zero
//! ;! expect stack 1 2 3         the root's port, bottom first
//! ;! expect gas_used 10
//! ;! expect gas_left 990
//! ;! expect memory 16 x"0102"   bytes of the root's memory at an offset
//! ;! expect mem_size 64
//! ;! expect tree root.0 out_of_gas   the status of a process in the tree
//! ;! expect image 5f3a…          BLAKE3 of the image after the step
//! ;! resume             the next step: the same tree continues with more gas
//! ;! sweep              also run the first step at every gas budget 0..=its use + 1
//!                       (past 64 budgets in a row that stop alike: probes, and both
//!                       sides of the next change)
//! ;! slices 7 31        also run in slices of 7 (then 31) gas, switching engine at every
//!                       slice; the final image must equal one uninterrupted run's
//! ;! load fixture.img   (.case only) the image the runs start from
//! ;! grant SPEC         grant the root a resource, as `rarvm --grant` (`fs:scratch:rw`
//!                       names the case's scratch directory, emptied before every run);
//!                       an Entish program's grants take the slots it declares them in
//! ;! file a/b.txt "hi"  a file in the scratch directory before every run ("text" or x"hex")
//! ;! stdin "text"       the console's input
//! ;! deterministic      a deterministic host (virtual clock)
//! ;! expect console "text"   what console keys wrote (`\n` newline, `\s` space)
//! ;! expect transcript 3     the number of host answers recorded
//! ```
//!
//! Every step runs on every [`Engine`]: the interpreter's outcome is checked against the
//! expectations, and every other engine must match it exactly, image bytes included.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rarvm::host::Grant;
use rarvm::os::{parse_grant, Capture, Console};
use rarvm::{EngineKind, Fault, Outcome, Program, Status, Vm};

use crate::{apply, ENGINES};

const DEFAULT_GAS: u64 = 1_000_000_000;
/// Budgets in a row that stop alike before a sweep starts to gallop over them.
const SWEEP_RUN: u32 = 64;
const DEFAULT_MEM: u64 = 1 << 20;

/// One parsed case file.
pub struct Case {
    pub path: PathBuf,
    pub source: Source,
    pub runs: Vec<Run>,
    pub host: HostSpec,
}

/// The host every run of a case gets.
#[derive(Default)]
pub struct HostSpec {
    pub grants: Vec<String>,
    pub files: Vec<(String, Vec<u8>)>,
    pub stdin: Vec<u8>,
    pub deterministic: bool,
    /// The scratch directory `fs:scratch:…` grants name, created on first use.
    scratch: std::sync::OnceLock<Scratch>,
    /// What console keys of every VM this host is applied to write and read: one world at
    /// a time (see [`HostSpec::fresh_world`]).
    console: Capture,
    input: SharedInput,
}

/// A temporary directory removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new empty directory under the system's temporary directory.
    pub fn new(tag: &str) -> Scratch {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rarvm-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Empties the directory (keeping it, so open grants stay valid) and writes `files`.
    pub fn reset(&self, files: &[(String, Vec<u8>)]) -> std::io::Result<()> {
        for e in std::fs::read_dir(&self.0)? {
            let p = e?.path();
            if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)?;
            } else {
                std::fs::remove_file(&p)?;
            }
        }
        for (name, bytes) in files {
            let p = self.0.join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, bytes)?;
        }
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl HostSpec {
    /// A host granting `grants` (as `rarvm --grant`, `fs:scratch:…` naming a scratch
    /// directory holding `files`), with `stdin` as console input.
    pub fn new(grants: &[&str], files: &[(&str, &[u8])], stdin: &[u8]) -> HostSpec {
        HostSpec {
            grants: grants.iter().map(|g| g.to_string()).collect(),
            files: files
                .iter()
                .map(|(name, bytes)| (name.to_string(), bytes.to_vec()))
                .collect(),
            stdin: stdin.to_vec(),
            ..HostSpec::default()
        }
    }

    fn scratch(&self) -> &Scratch {
        self.scratch.get_or_init(|| Scratch::new("case"))
    }

    /// Gives `vm` this host: deterministic mode, the grants, and its console, which writes
    /// to and reads from the current world.
    ///
    /// # Errors
    /// A grant that cannot be made.
    pub fn apply(&self, vm: &mut Vm) -> Result<(), String> {
        if self.deterministic {
            vm.set_deterministic().map_err(|e| e.to_string())?;
        }
        for spec in &self.grants {
            let (name, body) = match spec.split_once('=') {
                Some((name, body)) if !name.contains(':') => (Some(name), body.to_string()),
                _ => (None, spec.clone()),
            };
            let grant = if body == "console" {
                let out = Box::new(self.console.clone());
                Grant::Resource(Box::new(if self.deterministic {
                    Console::output_only(out)
                } else {
                    Console::new(out, Box::new(self.input.clone()))
                }))
            } else {
                let scratch = format!("fs:{}:", self.scratch().path().display());
                parse_grant(&body.replace("fs:scratch:", &scratch), self.deterministic)?.1
            };
            vm.grant(name, grant).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// A fresh world for a run: the scratch files rewritten, the console input rewound,
    /// nothing written yet.
    ///
    /// # Errors
    /// The scratch directory cannot be written.
    pub fn fresh_world(&self) -> Result<World, String> {
        if self.scratch.get().is_some() || !self.files.is_empty() {
            self.scratch()
                .reset(&self.files)
                .map_err(|e| format!("scratch directory: {e}"))?;
        }
        self.console.clear();
        self.input.rewind(&self.stdin);
        Ok(World {
            console: self.console.clone(),
        })
    }
}

/// The console of one run, shared by every VM that takes part in it.
pub struct World {
    /// What console keys wrote in this world.
    pub console: Capture,
}

/// Console input read through any number of VMs, in order.
#[derive(Clone, Default)]
struct SharedInput(std::sync::Arc<std::sync::Mutex<std::io::Cursor<Vec<u8>>>>);

impl SharedInput {
    /// Starts reading `bytes` from the beginning.
    fn rewind(&self, bytes: &[u8]) {
        if let Ok(mut c) = self.0.lock() {
            *c = std::io::Cursor::new(bytes.to_vec());
        }
    }
}

impl std::io::Read for SharedInput {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("input poisoned"))?
            .read(buf)
    }
}

/// What a case's runs start from.
pub enum Source {
    Program(Program),
    Image(Vec<u8>),
}

/// One run: a root started with `args` (or loaded from the case's image), then steps.
pub struct Run {
    pub line: usize,
    pub args: Vec<u64>,
    pub steps: Vec<Step>,
    pub sweep: bool,
    pub slices: Vec<u64>,
}

/// Gas and memory added, and what must hold after.
pub struct Step {
    pub line: usize,
    pub gas: u64,
    pub mem: u64,
    pub expects: Vec<(usize, Expect)>,
}

/// An expectation about the state after a step.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    Status(Status),
    Fault(Fault),
    Stack(Vec<u64>),
    GasUsed(u64),
    GasLeft(u64),
    Memory(u64, Vec<u8>),
    MemSize(u64),
    Tree(String, Status),
    Image(String),
    Console(Vec<u8>),
    Transcript(u64),
}

fn parse_word(s: &str) -> Result<u64, String> {
    let t: String = s.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.as_str()),
    };
    let v = match body.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => body.parse::<u64>(),
    }
    .map_err(|_| format!("`{s}` is not a word"))?;
    Ok(if neg { v.wrapping_neg() } else { v })
}

fn parse_status(s: &str) -> Result<Status, String> {
    Status::ALL
        .into_iter()
        .find(|st| st.name() == s)
        .ok_or_else(|| format!("unknown status `{s}`"))
}

/// `"text"` (with `\n`, `\t`, `\\`, `\"` escapes) or `x"hex"`.
fn parse_bytes(s: &str) -> Result<Vec<u8>, String> {
    if s.starts_with("x\"") {
        return parse_hex(s);
    }
    let body = s
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(|| format!("expected \"text\" or x\"hex\", found `{s}`"))?;
    let mut out = Vec::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        let c = match c {
            '\\' => match chars.next() {
                Some('n') => '\n',
                Some('t') => '\t',
                Some('s') => ' ',
                Some(c @ ('\\' | '"')) => c,
                _ => return Err(format!("bad escape in `{s}`")),
            },
            c => c,
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    Ok(out)
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let h = s
        .strip_prefix("x\"")
        .and_then(|r| r.strip_suffix('"'))
        .ok_or_else(|| format!("expected x\"hex\", found `{s}`"))?;
    if h.len() % 2 != 0 {
        return Err(format!("odd number of hex digits in `{s}`"));
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).map_err(|_| format!("bad hex `{s}`")))
        .collect()
}

impl Case {
    /// Reads and parses a case file.
    ///
    /// # Errors
    /// The file cannot be read, or a directive or the program is malformed (with its line).
    pub fn load(path: &Path) -> Result<Case, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Case::parse(path, &text)
    }

    /// Parses a case: `.et` text is an Entish program with `#!` directives, anything else
    /// assembler text (or a `.case` file) with `;!` directives.
    ///
    /// # Errors
    /// A malformed directive (with its line), or a program that does not assemble or
    /// compile.
    pub fn parse(path: &Path, text: &str) -> Result<Case, String> {
        let name = path.display().to_string();
        let entish = is_entish(path);
        let prefix = directive_prefix(path);
        let err = |line: usize, m: String| format!("{name}:{line}: {m}");
        let mut runs: Vec<Run> = Vec::new();
        let mut image: Option<Vec<u8>> = None;
        let mut host = HostSpec::default();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let Some(d) = raw.trim_start().strip_prefix(prefix) else {
                continue;
            };
            let words: Vec<&str> = d
                .split(';')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            let Some((&cmd, rest)) = words.split_first() else {
                continue;
            };
            let no_run = || err(line, format!("`{cmd}` before any `run`"));
            let one = |rest: &[&str]| -> Result<u64, String> {
                match rest {
                    [w] => parse_word(w).map_err(|m| err(line, m)),
                    _ => Err(err(line, format!("`{cmd}` takes one number"))),
                }
            };
            match cmd {
                "run" => {
                    let args = rest
                        .iter()
                        .map(|w| parse_word(w).map_err(|m| err(line, m)))
                        .collect::<Result<_, _>>()?;
                    runs.push(Run {
                        line,
                        args,
                        steps: vec![Step {
                            line,
                            gas: DEFAULT_GAS,
                            mem: DEFAULT_MEM,
                            expects: vec![],
                        }],
                        sweep: false,
                        slices: vec![],
                    });
                }
                "resume" => {
                    let run = runs
                        .last_mut()
                        .ok_or_else(|| err(line, "`resume` before any `run`".into()))?;
                    run.steps.push(Step {
                        line,
                        gas: DEFAULT_GAS,
                        mem: 0,
                        expects: vec![],
                    });
                }
                "gas" => current_step(&mut runs).ok_or_else(no_run)?.gas = one(rest)?,
                "mem" => current_step(&mut runs).ok_or_else(no_run)?.mem = one(rest)?,
                "sweep" => {
                    runs.last_mut()
                        .ok_or_else(|| err(line, "`sweep` before any `run`".into()))?
                        .sweep = true
                }
                "slices" => {
                    let run = runs
                        .last_mut()
                        .ok_or_else(|| err(line, "`slices` before any `run`".into()))?;
                    for w in rest {
                        run.slices
                            .push(parse_word(w).map_err(|m| err(line, m))?.max(1));
                    }
                }
                "load" => {
                    let [file] = rest else {
                        return Err(err(line, "`load` takes a file".into()));
                    };
                    let p = path.parent().unwrap_or(Path::new(".")).join(file);
                    image = Some(
                        std::fs::read(&p)
                            .map_err(|e| err(line, format!("{}: {e}", p.display())))?,
                    );
                }
                "grant" => match rest {
                    [spec] => host.grants.push(spec.to_string()),
                    _ => return Err(err(line, "`grant` takes one SPEC".into())),
                },
                "file" => match rest {
                    [name, bytes] => host.files.push((
                        name.to_string(),
                        parse_bytes(bytes).map_err(|m| err(line, m))?,
                    )),
                    _ => return Err(err(line, "`file` takes a path and \"text\"".into())),
                },
                "stdin" => match rest {
                    [bytes] => host.stdin = parse_bytes(bytes).map_err(|m| err(line, m))?,
                    _ => return Err(err(line, "`stdin` takes \"text\"".into())),
                },
                "deterministic" => host.deterministic = true,
                "expect" => {
                    let (&key, vals) = rest
                        .split_first()
                        .ok_or_else(|| err(line, "`expect` needs a key".into()))?;
                    let e = match (key, vals) {
                        ("status", [s]) => {
                            Expect::Status(parse_status(s).map_err(|m| err(line, m))?)
                        }
                        ("fault", [f]) => Expect::Fault(
                            Fault::ALL
                                .into_iter()
                                .find(|x| x.name() == *f)
                                .ok_or_else(|| err(line, format!("unknown fault `{f}`")))?,
                        ),
                        ("stack", ws) => Expect::Stack(
                            ws.iter()
                                .map(|w| parse_word(w).map_err(|m| err(line, m)))
                                .collect::<Result<_, _>>()?,
                        ),
                        ("gas_used", [w]) => {
                            Expect::GasUsed(parse_word(w).map_err(|m| err(line, m))?)
                        }
                        ("gas_left", [w]) => {
                            Expect::GasLeft(parse_word(w).map_err(|m| err(line, m))?)
                        }
                        ("mem_size", [w]) => {
                            Expect::MemSize(parse_word(w).map_err(|m| err(line, m))?)
                        }
                        ("memory", [at, hex]) => Expect::Memory(
                            parse_word(at).map_err(|m| err(line, m))?,
                            parse_hex(hex).map_err(|m| err(line, m))?,
                        ),
                        ("tree", [p, s]) => {
                            Expect::Tree(p.to_string(), parse_status(s).map_err(|m| err(line, m))?)
                        }
                        ("image", [h]) => Expect::Image(h.to_string()),
                        ("console", [b]) => {
                            Expect::Console(parse_bytes(b).map_err(|m| err(line, m))?)
                        }
                        ("transcript", [w]) => {
                            Expect::Transcript(parse_word(w).map_err(|m| err(line, m))?)
                        }
                        _ => {
                            return Err(err(line, format!("bad expectation `{}`", rest.join(" "))))
                        }
                    };
                    current_step(&mut runs)
                        .ok_or_else(no_run)?
                        .expects
                        .push((line, e));
                }
                _ => return Err(err(line, format!("unknown directive `{cmd}`"))),
            }
        }
        if runs.is_empty() {
            return Err(format!("{name}: no `{prefix} run` directive"));
        }
        let source = match image {
            Some(bytes) => Source::Image(bytes),
            None if entish => {
                let compiled = compile_entish(path)?;
                host.grants =
                    declared_order(&compiled, &host.grants).map_err(|e| format!("{name}: {e}"))?;
                Source::Program(
                    Program::from_bytes(&compiled.bytes()).map_err(|e| format!("{name}: {e}"))?,
                )
            }
            None => Source::Program(Program::from_source(text, &name).map_err(|e| e.to_string())?),
        };
        Ok(Case {
            path: path.to_path_buf(),
            source,
            runs,
            host,
        })
    }

    fn new_vm(&self, run: &Run, engine: EngineKind) -> Result<Vm, String> {
        let mut vm = match &self.source {
            Source::Program(m) => Vm::new(m, &run.args).map_err(|e| e.to_string())?,
            Source::Image(bytes) => Vm::from_image(bytes).map_err(|e| e.to_string())?,
        };
        apply(engine, &mut vm);
        self.host.apply(&mut vm)?;
        Ok(vm)
    }

    /// Runs every run on every engine and checks expectations and agreement.
    ///
    /// # Errors
    /// Every failed expectation and every disagreement, one per line.
    pub fn check(&self) -> Result<(), String> {
        let name = self.path.display().to_string();
        let mut failures = String::new();
        if let Source::Image(bytes) = &self.source {
            match Vm::from_image(bytes) {
                Ok(vm) if vm.image() == *bytes => {}
                Ok(_) => writeln!(failures, "{name}: the loaded image is not canonical").unwrap(),
                Err(e) => {
                    writeln!(failures, "{name}: the loaded image does not decode: {e}").unwrap()
                }
            }
        }
        // One VM per engine for the whole case, so each engine compiles the code once.
        let mut vms: Vec<(EngineKind, Vm)> = Vec::new();
        for run in &self.runs {
            if vms.is_empty() {
                vms = ENGINES
                    .iter()
                    .map(|&e| Ok((e, self.new_vm(run, e)?)))
                    .collect::<Result<_, String>>()?;
            }
            let mut reference: Vec<(Outcome, Vec<u8>, Vec<u8>)> = Vec::new();
            for (engine, vm) in &mut vms {
                let console = self.reset(run, vm)?;
                for (i, step) in run.steps.iter().enumerate() {
                    let out = vm.run(step.gas, step.mem);
                    let img = vm.image();
                    let said = console.contents();
                    if *engine == EngineKind::Reference {
                        for (line, e) in &step.expects {
                            if let Err(m) = check_expect(e, &out, vm, &img, &said) {
                                writeln!(failures, "{name}:{line}: {m}").unwrap();
                            }
                        }
                        reference.push((out, img, said));
                    } else {
                        let (r_out, r_img, r_said) = &reference[i];
                        if out != *r_out || img != *r_img || said != *r_said {
                            writeln!(
                                failures,
                                "{name}:{}: {} disagrees with the interpreter: {:?} vs {:?}{}",
                                step.line,
                                engine.name(),
                                out,
                                r_out,
                                if img != *r_img {
                                    " (images differ)"
                                } else if said != *r_said {
                                    " (console output differs)"
                                } else {
                                    ""
                                }
                            )
                            .unwrap();
                        }
                    }
                }
            }
            if run.sweep {
                self.sweep(run, &reference[0].0, &mut vms, &mut failures)?;
            }
            for &slice in &run.slices {
                self.slices(run, slice, &mut vms, &mut failures)?;
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures)
        }
    }

    /// Gas budgets from 0 to what the first step used, plus one, on every engine: every
    /// budget, except inside long runs of budgets on which the first engine stops alike
    /// (the same status and gas used, as inside one self-metered instruction's large
    /// charge). Once [`SWEEP_RUN`] budgets in a row have stopped alike, the sweep probes
    /// at doubling distances, finds where the stop changes by bisection, and goes on one
    /// by one from the last budget before it: both sides of every change are run, and
    /// every probe is compared on every engine.
    fn sweep(
        &self,
        run: &Run,
        first: &Outcome,
        vms: &mut [(EngineKind, Vm)],
        failures: &mut String,
    ) -> Result<(), String> {
        let name = self.path.display().to_string();
        let step = &run.steps[0];
        let limit = first.gas_used.min(step.gas) + 1;
        // Runs every engine at `gas`; the first engine's stop, or a divergence.
        let mut at = |gas: u64| -> Result<Option<(Status, u64)>, String> {
            let mut seen: Option<(Outcome, Vec<u8>)> = None;
            for (engine, vm) in vms.iter_mut() {
                self.reset(run, vm)?;
                let out = vm.run(gas, step.mem);
                let img = vm.image();
                match &seen {
                    None => seen = Some((out, img)),
                    Some((o, i)) if *o == out && *i == img => {}
                    Some((o, _)) => {
                        writeln!(
                            failures,
                            "{name}:{}: sweep at gas {gas}: {} gives {out:?}, interp {o:?}",
                            run.line,
                            engine.name()
                        )
                        .unwrap();
                        return Ok(None);
                    }
                }
            }
            let (o, _) = seen.expect("at least one engine");
            Ok(Some((o.status, o.gas_used)))
        };
        let (mut gas, mut alike) = (0, 0);
        let Some(mut last) = at(0)? else {
            return Ok(());
        };
        while gas < limit {
            if alike < SWEEP_RUN {
                gas += 1;
                let Some(stop) = at(gas)? else {
                    return Ok(());
                };
                alike = if stop == last { alike + 1 } else { 0 };
                last = stop;
                continue;
            }
            // Gallop: `gas` stops as `last`; find a farther budget that does not.
            let mut step = 2;
            let (mut lo, mut hi) = (gas, None);
            while hi.is_none() && lo < limit {
                let probe = (lo + step).min(limit);
                let Some(stop) = at(probe)? else {
                    return Ok(());
                };
                if stop == last {
                    lo = probe;
                    step *= 2;
                } else {
                    hi = Some(probe);
                }
            }
            let Some(mut hi) = hi else {
                return Ok(());
            };
            // Bisect to the last budget that stops as `last`.
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                let Some(stop) = at(mid)? else {
                    return Ok(());
                };
                if stop == last {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            gas = lo;
            alike = 0;
        }
        Ok(())
    }

    /// Restarts `run` on an existing VM, keeping its engine's compiled code, in a fresh
    /// world; returns what its console keys will write.
    fn reset(&self, run: &Run, vm: &mut Vm) -> Result<Capture, String> {
        match &self.source {
            Source::Program(m) => vm.restart(m, &run.args).map_err(|e| e.to_string())?,
            Source::Image(bytes) => vm.load_image(bytes).map_err(|e| e.to_string())?,
        }
        let world = self.host.fresh_world()?;
        Ok(world.console)
    }

    /// Slices of `slice` gas, switching engine at each; must end like one run with the same
    /// total gas.
    fn slices(
        &self,
        run: &Run,
        slice: u64,
        vms: &mut [(EngineKind, Vm)],
        failures: &mut String,
    ) -> Result<(), String> {
        let name = self.path.display().to_string();
        let step = &run.steps[0];
        self.reset(run, &mut vms[0].1)?;
        self.host.fresh_world()?;
        let mut img = vms[0].1.image();
        let mut n = 0u64;
        loop {
            let vm = &mut vms[(n % vms.len() as u64) as usize].1;
            vm.load_image(&img).map_err(|e| e.to_string())?;
            let out = vm.run(slice, if n == 0 { step.mem } else { 0 });
            img = vm.image();
            n += 1;
            if out.status != Status::OutOfGas || n * slice >= step.gas {
                break;
            }
        }
        let whole = &mut vms[0].1;
        self.reset(run, whole)?;
        whole.run(slice * n, step.mem);
        if whole.image() != img {
            writeln!(
                failures,
                "{name}:{}: {n} slices of {slice} gas across engines end differently from one run",
                run.line
            )
            .unwrap();
        }
        Ok(())
    }

    /// Rewrites each `expect image` line with the interpreter's actual hash.
    ///
    /// # Errors
    /// The case cannot run.
    pub fn bless(&self) -> Result<Option<String>, String> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| e.to_string())?;
        let prefix = directive_prefix(&self.path);
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut changed = false;
        for run in &self.runs {
            let mut vm = self.new_vm(run, EngineKind::Reference)?;
            self.host.fresh_world()?;
            for step in &run.steps {
                vm.run(step.gas, step.mem);
                let hash = rarvm::image::hash_hex(&vm.image());
                for (line, e) in &step.expects {
                    if let Expect::Image(old) = e {
                        if *old != hash {
                            let l = &mut lines[line - 1];
                            let indent = &l[..l.len() - l.trim_start().len()];
                            *l = format!("{indent}{prefix} expect image {hash}");
                            changed = true;
                        }
                    }
                }
            }
        }
        Ok(changed.then(|| lines.join("\n") + "\n"))
    }
}

/// True for an Entish case.
fn is_entish(path: &Path) -> bool {
    path.extension().and_then(|x| x.to_str()) == Some("et")
}

/// What starts a directive line: `#!` in Entish, `;!` elsewhere.
fn directive_prefix(path: &Path) -> &'static str {
    if is_entish(path) {
        "#!"
    } else {
        ";!"
    }
}

/// Reads files below a directory, by paths relative to it.
struct Below(PathBuf);

impl rarvm_lang::SourceLoader for Below {
    fn load(&self, path: &Path) -> Result<String, String> {
        rarvm_lang::FsLoader.load(&self.0.join(path))
    }
}

/// Compiles the Entish program at `path`, naming its files relative to its directory, so
/// that its source positions — and so its module bytes and image hashes — do not depend
/// on where the repository is.
fn compile_entish(path: &Path) -> Result<rarvm_lang::Compiled, String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file = path.file_name().map(PathBuf::from).unwrap_or_default();
    rarvm_lang::compile(
        &Below(dir.to_path_buf()),
        &file,
        &rarvm_lang::Options::default(),
    )
    .map_err(|d| d.render(false))
}

/// `grants` (as `rarvm --grant` takes them) in the order of the program's declarations.
fn declared_order(
    compiled: &rarvm_lang::Compiled,
    grants: &[String],
) -> Result<Vec<String>, String> {
    let offered: Vec<(String, u8)> = grants
        .iter()
        .map(|spec| {
            let (name, body) = match spec.split_once('=') {
                Some((name, body)) if !name.contains(':') => (Some(name), body),
                _ => (None, spec.as_str()),
            };
            let kind = body.split(':').next().unwrap_or("");
            let code = rarvm::host::KeyKind::BUILT_IN
                .into_iter()
                .find(|k| k.name() == kind)
                .ok_or_else(|| format!("grant `{spec}`: unknown kind `{kind}`"))?
                .code();
            Ok((name.unwrap_or(kind).to_string(), code))
        })
        .collect::<Result<_, String>>()?;
    let offered: Vec<(&str, u8)> = offered.iter().map(|(n, k)| (n.as_str(), *k)).collect();
    let order = compiled.order_grants(&offered).map_err(|e| e.to_string())?;
    Ok(order.into_iter().map(|i| grants[i].clone()).collect())
}

/// The step directives apply to: the last step of the last run.
fn current_step(runs: &mut [Run]) -> Option<&mut Step> {
    runs.last_mut().and_then(|r| r.steps.last_mut())
}

fn check_expect(
    e: &Expect,
    out: &Outcome,
    vm: &Vm,
    img: &[u8],
    console: &[u8],
) -> Result<(), String> {
    let root = vm.root();
    let fail =
        |what: &str, want: String, got: String| Err(format!("expected {what} {want}, got {got}"));
    match e {
        Expect::Status(s) if out.status != *s => {
            fail("status", s.to_string(), out.status.to_string())
        }
        Expect::Fault(f) if out.fault != Some(*f) => {
            fail("fault", f.to_string(), format!("{:?}", out.fault))
        }
        Expect::Stack(w) if out.results != *w => {
            fail("stack", format!("{w:?}"), format!("{:?}", out.results))
        }
        Expect::GasUsed(g) if out.gas_used != *g => {
            fail("gas_used", g.to_string(), out.gas_used.to_string())
        }
        Expect::GasLeft(g) if out.gas_left != *g => {
            fail("gas_left", g.to_string(), out.gas_left.to_string())
        }
        Expect::MemSize(n) if root.memory().len() as u64 != *n => {
            fail("mem_size", n.to_string(), root.memory().len().to_string())
        }
        Expect::Memory(at, bytes) => {
            let got = root.memory().get(*at as usize..*at as usize + bytes.len());
            if got == Some(bytes.as_slice()) {
                Ok(())
            } else {
                fail(
                    &format!("memory at {at}"),
                    format!("{bytes:02x?}"),
                    format!("{got:02x?}"),
                )
            }
        }
        Expect::Tree(path, s) => match root.find(path) {
            Some(p) if p.status() == *s => Ok(()),
            Some(p) => fail(
                &format!("{path} status"),
                s.to_string(),
                p.status().to_string(),
            ),
            None => Err(format!("no process {path}")),
        },
        Expect::Console(want) if console != want.as_slice() => fail(
            "console",
            format!("{:?}", String::from_utf8_lossy(want)),
            format!("{:?}", String::from_utf8_lossy(console)),
        ),
        Expect::Transcript(n) if vm.transcript().len() as u64 != *n => fail(
            "transcript",
            n.to_string(),
            vm.transcript().len().to_string(),
        ),
        Expect::Image(h) => {
            let got = rarvm::image::hash_hex(img);
            if got == *h {
                Ok(())
            } else {
                fail("image", h.clone(), got)
            }
        }
        _ => Ok(()),
    }
}

/// Every case file under `dir`, sorted.
pub fn find_cases(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("rasm" | "case" | "et")
            ) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The opcodes no `.rasm` case under `dir` uses.
pub fn uncovered_opcodes(dir: &Path) -> Vec<&'static str> {
    let mut seen = std::collections::BTreeSet::new();
    for p in find_cases(dir) {
        if p.extension().and_then(|x| x.to_str()) != Some("rasm") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        if let Ok(m) = Program::from_source(&text, &p.display().to_string()) {
            seen.extend(m.mnemonics());
        }
    }
    rarvm::text::MNEMONICS
        .iter()
        .copied()
        .filter(|m| !seen.contains(m))
        .collect()
}
