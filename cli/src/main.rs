//! The `rarvm` command line: run, resume, inspect, compile, check, assemble and
//! disassemble; submit jobs to a cluster of workers, be one, and follow a job.
//!
//! Exit status: 0 returned, halted or yielded; 3 out of gas; 4 out of memory; 5 fault;
//! 2 bad usage or input (an Entish program with errors included); 1 an output could not
//! be written or the broker could not be reached.

#[cfg(feature = "cluster")]
mod cluster;
#[cfg(feature = "vat")]
mod vat;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use rarvm::host::{Grant, RIGHT_CREATE, RIGHT_READ, RIGHT_WRITE};
use rarvm::os::{parse_grant, tty, TtyPrompt};
use rarvm::{image, EngineKind, Field, Input, Outcome, ProcessView, Program, Status, Vm};
use rarvm_lang::{Compiled, FsLoader, Options};
use serde_json::{json, Value};

const EXIT_IO: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_OUT_OF_GAS: u8 = 3;
const EXIT_OUT_OF_MEMORY: u8 = 4;
const EXIT_FAULT: u8 = 5;

const DEFAULT_GAS: &str = "10000000000";
const DEFAULT_MEM: u64 = 64 << 20;

#[derive(Parser)]
#[command(
    name = "rarvm",
    version,
    about = "A resource-aware, recursively sandboxable virtual machine"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run an Entish program (`.et`), `.rasm` source, a module or an image.
    Run {
        /// An Entish program (`.et`), `.rasm` source, a binary module, or an image to
        /// continue.
        file: PathBuf,
        /// Gas for the root process.
        #[arg(long, default_value = DEFAULT_GAS, value_parser = parse_u64, allow_hyphen_values = true)]
        gas: u64,
        /// Bytes of memory the root may allocate beyond its footprint [default: 67108864 for
        /// a new root, 0 when FILE is an image, as `resume`]
        #[arg(long, value_parser = parse_u64, allow_hyphen_values = true)]
        mem: Option<u64>,
        #[command(flatten)]
        common: Common,
        /// Words passed to the entry function (decimal u64).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Add gas (and memory) to an image's root and continue it.
    Resume {
        /// The image to continue (written by `--snapshot`).
        image: PathBuf,
        /// Gas added to the root.
        #[arg(long, default_value = DEFAULT_GAS, value_parser = parse_u64, allow_hyphen_values = true)]
        gas: u64,
        /// Bytes added to the root's memory allowance.
        #[arg(long, default_value = "0", value_parser = parse_u64, allow_hyphen_values = true)]
        mem: u64,
        #[command(flatten)]
        common: Common,
    },
    /// Show an image's process tree and its BLAKE3 hash.
    Inspect {
        /// The image to show.
        image: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Compile an Entish program (`.et`) into a binary module or `.rasm` text.
    Compile {
        /// The program's main file.
        file: PathBuf,
        /// Where to write the output.
        #[arg(short = 'o', long = "output")]
        out: PathBuf,
        /// What to write: a binary module, or `.rasm` text (which has no source positions).
        #[arg(long, value_enum, default_value = "module")]
        emit: Emit,
        /// Leave out the source positions (the module's debug section).
        #[arg(long)]
        strip: bool,
    },
    /// Report the errors of an Entish program (`.et`) without compiling it; exit 2 if
    /// there are any.
    Check {
        /// The program's main file.
        file: PathBuf,
    },
    /// Assemble `.rasm` source into a binary module.
    Asm {
        /// `.rasm` source.
        file: PathBuf,
        /// Where to write the binary module.
        #[arg(short = 'o', long = "output")]
        out: PathBuf,
    },
    /// Print a module (binary or source, an Entish program's, or an image's root module)
    /// as `.rasm` text.
    Disasm {
        /// A binary module, `.rasm` source, an Entish program (`.et`) or an image.
        file: PathBuf,
    },
    /// Submit a job to the workers: create the root, store its image, print the job's id.
    #[cfg(feature = "cluster")]
    Submit {
        /// An Entish program (`.et`), `.rasm` source, a binary module, or an image to
        /// continue.
        file: PathBuf,
        /// Total gas for the root over all its slices.
        #[arg(long, default_value = DEFAULT_GAS, value_parser = parse_u64, allow_hyphen_values = true)]
        gas: u64,
        /// Bytes of memory the root may allocate beyond its footprint [default: 67108864 for
        /// a new root, 0 when FILE is an image]
        #[arg(long, value_parser = parse_u64, allow_hyphen_values = true)]
        mem: Option<u64>,
        /// Gas per slice (a worker gives the smaller of this and its own --slice).
        #[arg(long, value_parser = parse_u64, allow_hyphen_values = true)]
        slice: Option<u64>,
        /// Engine for the job's slices (default: each worker's).
        #[arg(long, value_parser = parse_engine)]
        engine: Option<EngineKind>,
        /// Grant the root a resource whose answers travel with the job: clock (virtual),
        /// clock:virtual or random:SEED, as [NAME=]SPEC (repeatable, as for `run`).
        #[arg(long = "grant", value_name = "SPEC")]
        grants: Vec<String>,
        #[command(flatten)]
        nats: cluster::Nats,
        /// Words passed to the entry function (decimal u64).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Work on jobs: pull a task, run one slice, store the next state; forever.
    #[cfg(feature = "cluster")]
    Worker {
        /// Engine for jobs that name none.
        #[arg(long, default_value = "auto", value_parser = parse_engine)]
        engine: EngineKind,
        /// The most gas one slice gets.
        #[arg(long, default_value = "100000000", value_parser = parse_u64, allow_hyphen_values = true)]
        slice: u64,
        /// This worker's name in the slices it runs [default: HOST-PID]
        #[arg(long)]
        name: Option<String>,
        /// Print nothing per slice.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        nats: cluster::Nats,
    },
    /// Vats: persistent objects invoked by messages, with a checkpoint per turn.
    #[cfg(feature = "vat")]
    Vat {
        #[command(subcommand)]
        cmd: vat::VatCmd,
    },
    /// Show a job: its state, its slices and which worker ran each, and its result.
    #[cfg(feature = "cluster")]
    Job {
        /// The id `submit` printed.
        id: String,
        /// Wait until the job is done.
        #[arg(long)]
        wait: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        nats: cluster::Nats,
    },
}

/// What `compile` writes.
#[derive(Clone, Copy, ValueEnum)]
enum Emit {
    /// A binary module (`docs/SPEC.md` §3.1), with source positions unless `--strip`.
    Module,
    /// `.rasm` text, as `rarvm disasm` prints it.
    Rasm,
}

#[derive(clap::Args)]
struct Common {
    /// Engine that runs process code: interp, jit or auto.
    #[arg(long, default_value = "auto", value_parser = parse_engine)]
    engine: EngineKind,
    /// Print what the JIT did (to standard error).
    #[arg(long)]
    jit_stats: bool,
    /// Write the image of the final pause point to this file.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Grant the root a resource, as [NAME=]console | clock | clock:virtual | random:SEED |
    /// fs:DIR:ro | fs:DIR:rw | net:HOST:PORT (repeatable; a new root gets key i for the i-th
    /// grant — for an Entish program, the key its i-th `grant NAME: KIND` names — and a
    /// resumed image's keys bind to grants by name).
    #[arg(long = "grant", value_name = "SPEC")]
    grants: Vec<String>,
    /// Ask on the terminal for more gas or memory, and about operations a grant does not allow.
    #[arg(long, overrides_with = "no_ask")]
    ask: bool,
    /// Never ask: deny (the default).
    #[arg(long, overrides_with = "ask")]
    no_ask: bool,
    /// Depend on nothing outside the image: virtual clock, output-only console, and no
    /// grants answered from outside.
    #[arg(long)]
    deterministic: bool,
    /// Answer host operations from this image's transcript while they match.
    #[arg(long, value_name = "IMAGE")]
    replay: Option<PathBuf>,
}

fn parse_u64(s: &str) -> Result<u64, String> {
    let digits: String = s.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("expected a non-negative decimal number, not `{s}`"));
    }
    digits
        .parse()
        .map_err(|_| format!("`{s}` does not fit in 64 bits"))
}

fn parse_engine(s: &str) -> Result<EngineKind, String> {
    s.parse()
}

/// A failure with the exit status it maps to.
struct Failure(u8, String);

fn usage(msg: impl Into<String>) -> Failure {
    Failure(EXIT_USAGE, msg.into())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                print!("{e}");
                return ExitCode::SUCCESS;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                eprint!("{e}");
                return ExitCode::from(EXIT_USAGE);
            }
            eprintln!("rarvm: {} (see `rarvm --help`)", clap_message(&e));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match dispatch(cli.cmd) {
        Ok(code) => ExitCode::from(code),
        Err(Failure(code, msg)) => {
            eprintln!("rarvm: {msg}");
            ExitCode::from(code)
        }
    }
}

/// A clap error in one line: its first line, with the names it lists below it (the
/// missing arguments) joined on.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let mut lines = text.lines();
    let first = lines
        .next()
        .unwrap_or("invalid usage")
        .trim_start_matches("error: ");
    let listed: Vec<&str> = lines
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    if listed.is_empty() {
        first.to_string()
    } else {
        format!("{first} {}", listed.join(", "))
    }
}

fn dispatch(cmd: Cmd) -> Result<u8, Failure> {
    match cmd {
        Cmd::Run {
            file,
            gas,
            mem,
            common,
            args,
        } => {
            let (mut vm, input_hash, mem, compiled) = load_root(&file, mem, &args)?;
            let order = compiled.as_ref().map(|compiled| GrantOrder {
                file: &file,
                compiled,
            });
            execute(&mut vm, &file, gas, mem, &common, input_hash, order)
        }
        #[cfg(feature = "cluster")]
        Cmd::Submit {
            file,
            gas,
            mem,
            slice,
            engine,
            grants,
            nats,
            args,
        } => cluster::submit(&file, gas, mem, slice, engine, grants, &nats, &args),
        #[cfg(feature = "cluster")]
        Cmd::Worker {
            engine,
            slice,
            name,
            quiet,
            nats,
        } => cluster::worker(engine, slice, name, quiet, &nats),
        #[cfg(feature = "cluster")]
        Cmd::Job {
            id,
            wait,
            json,
            nats,
        } => cluster::job(&id, wait, json, &nats),
        #[cfg(feature = "vat")]
        Cmd::Vat { cmd } => vat::dispatch(cmd),
        Cmd::Resume {
            image: path,
            gas,
            mem,
            common,
        } => {
            let bytes = read(&path)?;
            let mut vm =
                Vm::from_image(&bytes).map_err(|e| usage(format!("{}: {e}", path.display())))?;
            execute(
                &mut vm,
                &path,
                gas,
                mem,
                &common,
                Some(image::hash_hex(&bytes)),
                None,
            )
        }
        Cmd::Inspect { image: path, json } => {
            let bytes = read(&path)?;
            let vm =
                Vm::from_image(&bytes).map_err(|e| usage(format!("{}: {e}", path.display())))?;
            inspect(&vm, &bytes, json);
            Ok(0)
        }
        Cmd::Compile {
            file,
            out,
            emit,
            strip,
        } => {
            let mut compiled = compile(&file)?;
            if strip {
                compiled.strip();
            }
            match emit {
                Emit::Module => write(&out, &compiled.bytes())?,
                Emit::Rasm => write(&out, compiled.rasm().as_bytes())?,
            }
            Ok(0)
        }
        Cmd::Check { file } => {
            read(&file)?;
            rarvm_lang::check(&FsLoader, &file).map_err(|d| diagnostics(&file, &d))?;
            println!("{}: no errors", file.display());
            Ok(0)
        }
        Cmd::Asm { file, out } => {
            let src = read(&file)?;
            let text = String::from_utf8(src)
                .map_err(|_| usage(format!("{}: not UTF-8 text", file.display())))?;
            let m = rarvm::Program::from_source(&text, &file.display().to_string())
                .map_err(|e| usage(e.to_string()))?;
            write(&out, &m.to_bytes())?;
            Ok(0)
        }
        Cmd::Disasm { file } if is_entish(&file) => {
            print!("{}", compile(&file)?.rasm());
            Ok(0)
        }
        Cmd::Disasm { file } => {
            let bytes = read(&file)?;
            let text = match Input::parse(bytes, &file.display().to_string())
                .map_err(|e| usage(e.to_string()))?
            {
                Input::Program(m) => m.disassemble(),
                Input::Image(bytes) => {
                    let vm = Vm::from_image(&bytes)
                        .map_err(|e| usage(format!("{}: {e}", file.display())))?;
                    vm.root_program().disassemble()
                }
            };
            print!("{text}");
            Ok(0)
        }
    }
}

/// True for an Entish program's main file: its name ends in `.et`.
fn is_entish(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "et")
}

/// Compiles the Entish program whose main file is `path`; on errors, prints them (in
/// colour on a terminal) and fails with exit status 2.
fn compile(path: &Path) -> Result<Compiled, Failure> {
    read(path)?;
    rarvm_lang::compile(&FsLoader, path, &Options::default()).map_err(|d| diagnostics(path, &d))
}

/// Prints `d` to standard error, rendered with the source lines, and gives the failure
/// that names how many there were.
fn diagnostics(path: &Path, d: &rarvm_lang::Diagnostics) -> Failure {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    eprint!("{}", d.render(color));
    let n = d.len();
    usage(format!(
        "{}: {n} error{}",
        path.display(),
        if n == 1 { "" } else { "s" }
    ))
}

/// The compiled module as a program: through its canonical bytes, which keep its source
/// positions.
fn program_of(compiled: &Compiled) -> Program {
    Program::from_bytes(&compiled.bytes()).expect("compiled modules decode and verify")
}

/// An Entish program whose `grant` declarations fix the root's key slots.
struct GrantOrder<'a> {
    file: &'a Path,
    compiled: &'a Compiled,
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
}

/// Streams `vm`'s image to `path` (never holding it whole); returns its hash.
fn snapshot(vm: &Vm, path: &Path) -> Result<String, Failure> {
    let cannot =
        |e: std::io::Error| Failure(EXIT_IO, format!("cannot write {}: {e}", path.display()));
    let file = std::fs::File::create(path).map_err(cannot)?;
    let mut out = std::io::BufWriter::new(file);
    let hash = vm.write_image(&mut out).map_err(cannot)?;
    use std::io::Write;
    out.flush().map_err(cannot)?;
    Ok(hash)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes)
        .map_err(|e| Failure(EXIT_IO, format!("cannot write {}: {e}", path.display())))
}

/// Applies `--deterministic`, the grants (for an Entish program, in the order of its
/// declarations), `--ask` and `--replay` to `vm`.
fn configure_host(vm: &mut Vm, common: &Common, order: Option<GrantOrder>) -> Result<(), Failure> {
    if common.deterministic {
        vm.set_deterministic().map_err(|e| usage(e.to_string()))?;
    }
    let mut grants: Vec<Option<(String, Grant)>> = Vec::new();
    for spec in &common.grants {
        let (name, grant) = parse_grant(spec, common.deterministic).map_err(usage)?;
        let name = name.unwrap_or_else(|| grant.kind().name());
        grants.push(Some((name, grant)));
    }
    let slots: Vec<usize> = match order {
        None => (0..grants.len()).collect(),
        Some(GrantOrder { file, compiled }) => {
            let offered: Vec<(&str, u8)> = grants
                .iter()
                .flatten()
                .map(|(name, g)| (name.as_str(), g.kind().code()))
                .collect();
            compiled.order_grants(&offered).map_err(|e| {
                let hint = match &e {
                    rarvm_lang::GrantMismatch::Missing(d) => {
                        let kind = d.kind_name();
                        let spec = match kind.as_str() {
                            "random" => "random:SEED".to_string(),
                            "fs" => "fs:DIR:ro".to_string(),
                            "net" => "net:HOST:PORT".to_string(),
                            _ => kind.clone(),
                        };
                        let name = if d.name == kind {
                            String::new()
                        } else {
                            format!("{}=", d.name)
                        };
                        format!(" (give it with --grant {name}{spec})")
                    }
                    _ => String::new(),
                };
                usage(format!("{}: {e}{hint}", file.display()))
            })?
        }
    };
    for i in slots {
        let (name, grant) = grants[i].take().expect("each grant is placed once");
        vm.grant(Some(&name), grant)
            .map_err(|e| usage(e.to_string()))?;
    }
    if common.ask {
        vm.set_prompt(Some(Box::new(TtyPrompt)));
    }
    if let Some(path) = &common.replay {
        let bytes = read(path)?;
        let recorded =
            Vm::from_image(&bytes).map_err(|e| usage(format!("{}: {e}", path.display())))?;
        vm.replay(recorded.transcript().to_vec())
            .map_err(|e| usage(format!("cannot replay {}: {e}", path.display())))?;
    }
    Ok(())
}

fn execute(
    vm: &mut Vm,
    file: &Path,
    gas: u64,
    mem: u64,
    common: &Common,
    input_hash: Option<String>,
    order: Option<GrantOrder>,
) -> Result<u8, Failure> {
    vm.set_engine(common.engine)
        .map_err(|e| usage(e.to_string()))?;
    configure_host(vm, common, order)?;
    let program = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut out = vm.run(gas, mem);
    let mut asked_snapshot = None;
    if common.ask {
        let more_gas = if gas > 0 {
            gas
        } else {
            DEFAULT_GAS.parse().expect("a number")
        };
        let more_mem = if mem > 0 { mem } else { DEFAULT_MEM };
        loop {
            let question = match out.status {
                Status::OutOfGas => format!(
                    "{program} used {} gas and wants more: [g]rant {} more / [s]napshot to a file / [a]bort? ",
                    thousands(out.gas_used),
                    thousands(more_gas)
                ),
                Status::OutOfMemory => format!(
                    "{program} uses {} bytes of memory and wants more: [g]rant {} more / [s]napshot to a file / [a]bort? ",
                    thousands(vm.root().footprint()),
                    thousands(more_mem)
                ),
                _ => break,
            };
            match tty::ask(&question, "gsa") {
                Some('g') if out.status == Status::OutOfGas => out = vm.run(more_gas, 0),
                Some('g') => out = vm.run(0, more_mem),
                Some('s') => {
                    asked_snapshot = tty::line("snapshot file: ").filter(|p| !p.is_empty());
                    break;
                }
                _ => break,
            }
        }
    }
    if let Some(path) = &common.replay {
        let state = vm.replay_state();
        if let Some(at) = state.diverged_at {
            eprintln!(
                "rarvm: the run diverged from {}'s transcript at record {at}; later host answers are live",
                path.display()
            );
        }
    }
    if let Some(path) = asked_snapshot {
        let path = PathBuf::from(path);
        let hash = snapshot(vm, &path)?;
        eprintln!("image:    {} (blake3 {hash})", path.display());
    }
    if common.jit_stats {
        match vm.jit_stats() {
            Some(stats) => eprintln!("{stats}"),
            None => eprintln!("jit: not used (engine {})", common.engine.name()),
        }
    }
    let mut image_hash = input_hash;
    let mut written = None;
    if let Some(path) = &common.snapshot {
        let hash = snapshot(vm, path)?;
        written = Some((path.clone(), hash.clone()));
        image_hash = Some(hash);
    }
    if common.json {
        let v = json!({
            "status": out.status.name(),
            "fault": out.fault.map(|f| f.name()),
            "gas_used": out.gas_used,
            "gas_left": out.gas_left,
            "stack": out.results,
            "image_hash": image_hash,
            "engine": common.engine.name(),
            "transcript": vm.transcript().len(),
            "at": at(&vm.root()),
        });
        println!("{v}");
    } else {
        print_outcome(&out, at(&vm.root()));
        if let Some((path, hash)) = written {
            println!("image:    {} (blake3 {hash})", path.display());
        }
    }
    Ok(exit_code(&out))
}

fn print_outcome(out: &Outcome, at: Option<String>) {
    match out.fault {
        Some(f) => println!("status:   fault ({f})"),
        None => println!("status:   {}", out.status),
    }
    if let Some(at) = at {
        println!("at:       {at}");
    }
    let words: Vec<String> = out.results.iter().map(u64::to_string).collect();
    println!("result:   {}", words.join(" "));
    println!("gas used: {}", out.gas_used);
    println!("gas left: {}", out.gas_left);
}

fn exit_code(out: &Outcome) -> u8 {
    match out.status {
        Status::OutOfGas => EXIT_OUT_OF_GAS,
        Status::OutOfMemory => EXIT_OUT_OF_MEMORY,
        Status::Faulted => EXIT_FAULT,
        _ => 0,
    }
}

/// Where a process is stopped: `file.et:LINE:COL in FUNCTION` when its module carries
/// source positions, else its top frame's function and instruction index; nothing when
/// it has no frames (ready, returned).
fn at(p: &ProcessView<'_>) -> Option<String> {
    p.location()
}

fn inspect(vm: &Vm, bytes: &[u8], json: bool) {
    let root = vm.root();
    let rows: Vec<(String, ProcessView<'_>)> = root.processes().collect();
    let hash = image::hash_hex(bytes);
    if json {
        let procs: Vec<Value> = rows
            .iter()
            .map(|(path, p)| {
                json!({
                    "path": path,
                    "status": p.status().name(),
                    "fault": p.fault().map(|f| f.name()),
                    "entry": p.entry(),
                    "gas_left": p.gas_left(),
                    "gas_used": p.gas_used(),
                    "mem_size": p.memory().len(),
                    "footprint": p.footprint(),
                    "mem_limit": p.mem_limit(),
                    "frames": p.frames(),
                    "at": at(p),
                    "stack": p.stack_len(),
                    "port": p.port(),
                    "keys": p.host_keys().map(|k| json!({
                        "slot": k.slot,
                        "kind": k.kind.name(),
                        "name": k.name,
                        "rights": k.rights,
                        "scope": String::from_utf8_lossy(k.scope),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "image_hash": hash,
                "bytes": bytes.len(),
                "processes": procs,
                "transcript": vm.transcript().len(),
            })
        );
        return;
    }
    println!("image: {} bytes, blake3 {hash}", bytes.len());
    println!(
        "{:<16} {:<14} {:>14} {:>14} {:>10} {:>12} {:>12} {:>6} {:>6} {:>5}  {:<16} at",
        "process",
        Field::Status.name(),
        "gas_left",
        "gas_used",
        "mem_size",
        "footprint",
        "mem_limit",
        "frames",
        "stack",
        "port",
        "entry"
    );
    for (path, p) in &rows {
        let status = match p.fault() {
            Some(f) => format!("fault:{f}"),
            None => p.status().to_string(),
        };
        println!(
            "{:<16} {:<14} {:>14} {:>14} {:>10} {:>12} {:>12} {:>6} {:>6} {:>5}  {:<16} {}",
            path,
            status,
            p.gas_left(),
            p.gas_used(),
            p.memory().len(),
            p.footprint(),
            p.mem_limit(),
            p.frames(),
            p.stack_len(),
            p.port().len(),
            p.entry(),
            at(p).unwrap_or_else(|| "-".into())
        );
    }
    for (path, p) in &rows {
        for k in p.host_keys() {
            let rights: String = [(RIGHT_READ, 'r'), (RIGHT_WRITE, 'w'), (RIGHT_CREATE, 'c')]
                .iter()
                .map(|(bit, c)| if k.rights & bit != 0 { *c } else { '-' })
                .collect();
            let scope = if k.scope.is_empty() {
                String::new()
            } else {
                format!(" scope {}", rarvm::host::quote(k.scope))
            };
            println!(
                "key {path}.{}: {} `{}` {rights}{scope}",
                k.slot, k.kind, k.name
            );
        }
    }
    println!("transcript: {} host answers", vm.transcript().len());
}

/// `n` with thousands separators: 1,000,000.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A root from `file`: a new process of a program (an Entish one compiled first) with
/// `args`, or an image to continue; with its input hash (for an image), the memory to add
/// (`mem`, else the default for its kind) and the compiled Entish program.
type Root = (Vm, Option<String>, u64, Option<Compiled>);

fn load_root(file: &Path, mem: Option<u64>, args: &[String]) -> Result<Root, Failure> {
    let (input, compiled) = if is_entish(file) {
        let compiled = compile(file)?;
        (Input::Program(program_of(&compiled)), Some(compiled))
    } else {
        let bytes = read(file)?;
        let input =
            Input::parse(bytes, &file.display().to_string()).map_err(|e| usage(e.to_string()))?;
        (input, None)
    };
    match input {
        Input::Program(m) => {
            let words = args
                .iter()
                .enumerate()
                .map(|(i, a)| parse_u64(a).map_err(|e| usage(format!("argument {}: {e}", i + 1))))
                .collect::<Result<Vec<u64>, _>>()?;
            let vm = Vm::new(&m, &words).map_err(|e| usage(e.to_string()))?;
            Ok((vm, None, mem.unwrap_or(DEFAULT_MEM), compiled))
        }
        Input::Image(bytes) => {
            if !args.is_empty() {
                return Err(usage(
                    "arguments can only be passed to a new process, not to an image",
                ));
            }
            let vm =
                Vm::from_image(&bytes).map_err(|e| usage(format!("{}: {e}", file.display())))?;
            Ok((vm, Some(image::hash_hex(&bytes)), mem.unwrap_or(0), None))
        }
    }
}
