//! The `rarvm` command line: run, resume, inspect, assemble and disassemble.
//!
//! Exit status: 0 returned, halted or yielded; 3 out of gas; 4 out of memory; 5 fault;
//! 2 bad usage or input; 1 an output could not be written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rarvm::runtime::asm::disassemble;
use rarvm::runtime::isa::Field;
use rarvm::runtime::process::{path_name, Key};
use rarvm::{image, EngineKind, Input, Outcome, Process, Status, Vm};
use serde_json::{json, Value};

const EXIT_IO: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_OUT_OF_GAS: u8 = 3;
const EXIT_OUT_OF_MEMORY: u8 = 4;
const EXIT_FAULT: u8 = 5;

const DEFAULT_GAS: &str = "10000000000";
const DEFAULT_MEM: &str = "67108864";

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
    /// Run `.rasm` source, a module or an image.
    Run {
        /// `.rasm` source, a binary module, or an image to continue.
        file: PathBuf,
        /// Gas for the root process.
        #[arg(long, default_value = DEFAULT_GAS, value_parser = parse_u64)]
        gas: u64,
        /// Bytes of memory the root may allocate beyond its initial footprint.
        #[arg(long, default_value = DEFAULT_MEM, value_parser = parse_u64)]
        mem: u64,
        #[command(flatten)]
        common: Common,
        /// Words passed to the entry function (decimal u64).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Add gas (and memory) to an image's root and continue it.
    Resume {
        image: PathBuf,
        /// Gas added to the root.
        #[arg(long, default_value = DEFAULT_GAS, value_parser = parse_u64)]
        gas: u64,
        /// Bytes added to the root's memory allowance.
        #[arg(long, default_value = "0", value_parser = parse_u64)]
        mem: u64,
        #[command(flatten)]
        common: Common,
    },
    /// Show an image's process tree and its BLAKE3 hash.
    Inspect {
        image: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Assemble `.rasm` source into a binary module.
    Asm {
        file: PathBuf,
        #[arg(short = 'o', long = "output")]
        out: PathBuf,
    },
    /// Print a module (binary or source, or an image's root module) as `.rasm` text.
    Disasm { file: PathBuf },
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
}

fn parse_u64(s: &str) -> Result<u64, String> {
    let digits: String = s.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{s}` is not a decimal number"));
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
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid usage")
                .trim_start_matches("error: ");
            eprintln!("rarvm: {first} (see `rarvm --help`)");
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

fn dispatch(cmd: Cmd) -> Result<u8, Failure> {
    match cmd {
        Cmd::Run {
            file,
            gas,
            mem,
            common,
            args,
        } => {
            let bytes = read(&file)?;
            let (mut vm, input_hash) = match Input::parse(bytes, &file.display().to_string())
                .map_err(|e| usage(e.to_string()))?
            {
                Input::Module(m) => {
                    let words = args
                        .iter()
                        .enumerate()
                        .map(|(i, a)| {
                            parse_u64(a).map_err(|e| usage(format!("argument {}: {e}", i + 1)))
                        })
                        .collect::<Result<Vec<u64>, _>>()?;
                    (Vm::new(&m, &words).map_err(|e| usage(e.to_string()))?, None)
                }
                Input::Image(bytes) => {
                    if !args.is_empty() {
                        return Err(usage(
                            "arguments can only be passed to a new process, not to an image",
                        ));
                    }
                    let vm = Vm::from_image(&bytes)
                        .map_err(|e| usage(format!("{}: {e}", file.display())))?;
                    (vm, Some(image::hash_hex(&bytes)))
                }
            };
            execute(&mut vm, gas, mem, &common, input_hash)
        }
        Cmd::Resume {
            image: path,
            gas,
            mem,
            common,
        } => {
            let bytes = read(&path)?;
            let mut vm =
                Vm::from_image(&bytes).map_err(|e| usage(format!("{}: {e}", path.display())))?;
            execute(&mut vm, gas, mem, &common, Some(image::hash_hex(&bytes)))
        }
        Cmd::Inspect { image: path, json } => {
            let bytes = read(&path)?;
            let vm =
                Vm::from_image(&bytes).map_err(|e| usage(format!("{}: {e}", path.display())))?;
            inspect(&vm, &bytes, json);
            Ok(0)
        }
        Cmd::Asm { file, out } => {
            let src = read(&file)?;
            let text = String::from_utf8(src)
                .map_err(|_| usage(format!("{}: not UTF-8 text", file.display())))?;
            let m = rarvm::Module::from_source(&text, &file.display().to_string())
                .map_err(|e| usage(e.to_string()))?;
            write(&out, &m.to_bytes())?;
            Ok(0)
        }
        Cmd::Disasm { file } => {
            let bytes = read(&file)?;
            let module = match Input::parse(bytes, &file.display().to_string())
                .map_err(|e| usage(e.to_string()))?
            {
                Input::Module(m) => m.verified().module().clone(),
                Input::Image(bytes) => {
                    let vm = Vm::from_image(&bytes)
                        .map_err(|e| usage(format!("{}: {e}", file.display())))?;
                    vm.root().module.module().clone()
                }
            };
            print!("{}", disassemble(&module));
            Ok(0)
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes)
        .map_err(|e| Failure(EXIT_IO, format!("cannot write {}: {e}", path.display())))
}

fn execute(
    vm: &mut Vm,
    gas: u64,
    mem: u64,
    common: &Common,
    input_hash: Option<String>,
) -> Result<u8, Failure> {
    vm.set_engine(common.engine)
        .map_err(|e| usage(e.to_string()))?;
    let out = vm.run(gas, mem);
    if common.jit_stats {
        match vm.jit_stats() {
            Some(stats) => eprintln!("{stats}"),
            None => eprintln!("jit: not used (engine {})", common.engine.name()),
        }
    }
    let mut image_hash = input_hash;
    let mut written = None;
    if let Some(path) = &common.snapshot {
        let bytes = vm.image();
        write(path, &bytes)?;
        let hash = image::hash_hex(&bytes);
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
        });
        println!("{v}");
    } else {
        print_outcome(&out);
        if let Some((path, hash)) = written {
            println!("image:    {} (blake3 {hash})", path.display());
        }
    }
    Ok(exit_code(&out))
}

fn print_outcome(out: &Outcome) {
    match out.fault {
        Some(f) => println!("status:   fault ({f})"),
        None => println!("status:   {}", out.status),
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

/// Where a process is stopped: its top frame's function and instruction index.
fn at(p: &Process) -> Option<String> {
    p.frames
        .last()
        .map(|f| format!("{}:{}", p.module.func(f.func).name, f.pc))
}

fn inspect(vm: &Vm, bytes: &[u8], json: bool) {
    let mut rows: Vec<(String, &Process)> = Vec::new();
    let mut stack: Vec<(Vec<usize>, &Process)> = vec![(Vec::new(), vm.root())];
    while let Some((path, p)) = stack.pop() {
        for (slot, key) in p.keys.iter().enumerate().rev() {
            if let Key::Process(c) = key {
                let mut child = path.clone();
                child.push(slot);
                stack.push((child, c));
            }
        }
        rows.push((path_name(&path), p));
    }
    let hash = image::hash_hex(bytes);
    if json {
        let procs: Vec<Value> = rows
            .iter()
            .map(|(path, p)| {
                json!({
                    "path": path,
                    "status": p.status.name(),
                    "fault": (p.status == Status::Faulted).then(|| p.fault.name()),
                    "entry": p.module.func(p.entry).name,
                    "gas_left": p.gas_left,
                    "gas_used": p.gas_used,
                    "mem_size": p.memory.len(),
                    "footprint": p.footprint,
                    "mem_limit": p.mem_limit,
                    "frames": p.frames.len(),
                    "at": at(p),
                    "stack": p.stack.len(),
                    "port": p.port,
                })
            })
            .collect();
        println!(
            "{}",
            json!({ "image_hash": hash, "bytes": bytes.len(), "processes": procs })
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
    for (path, p) in rows {
        let status = if p.status == Status::Faulted {
            format!("fault:{}", p.fault)
        } else {
            p.status.to_string()
        };
        println!(
            "{:<16} {:<14} {:>14} {:>14} {:>10} {:>12} {:>12} {:>6} {:>6} {:>5}  {:<16} {}",
            path,
            status,
            p.gas_left,
            p.gas_used,
            p.memory.len(),
            p.footprint,
            p.mem_limit,
            p.frames.len(),
            p.stack.len(),
            p.port.len(),
            p.module.func(p.entry).name,
            at(p).unwrap_or_else(|| "-".into())
        );
    }
}
