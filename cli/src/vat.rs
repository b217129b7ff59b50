//! `rarvm vat`: create a vat, run its server, introduce vats to each other, install
//! objects, send them messages and look inside (`docs/VATS.md`).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Subcommand;
use rarvm::{EngineKind, Input, Program};
use rarvm_vat::{power, Message, ServeOptions, SturdyRef, Vat};

use crate::{
    compile, is_entish, parse_engine, parse_u64, program_of, read, usage, Failure, EXIT_IO,
};

#[derive(Subcommand)]
pub(crate) enum VatCmd {
    /// Create a vat in DIR: a key pair and an empty database.
    Create {
        dir: PathBuf,
        /// Where its server will listen.
        #[arg(long, default_value = "127.0.0.1:7700")]
        listen: String,
    },
    /// Run the vat's server: its turns, its listener and its senders, until Ctrl-C or
    /// SIGTERM.
    Start {
        dir: PathBuf,
        /// Engine that runs the objects.
        #[arg(long, default_value = "interp", value_parser = parse_engine)]
        engine: EngineKind,
    },
    /// Run the turns queued in DIR's vat without its server, then exit (messages for
    /// other vats wait in the outbox for `start`).
    Run {
        dir: PathBuf,
        /// Engine that runs the objects.
        #[arg(long, default_value = "interp", value_parser = parse_engine)]
        engine: EngineKind,
    },
    /// Tell vats each other's addresses and public keys.
    Gossip {
        #[arg(required = true, num_args = 2..)]
        dirs: Vec<PathBuf>,
    },
    /// Install an Entish program (`.et`), `.rasm` source or a module as a new object;
    /// prints its sturdy reference.
    Install {
        dir: PathBuf,
        file: PathBuf,
        /// Gas for each of its turns.
        #[arg(long, default_value_t = rarvm_vat::DEFAULT_GAS, value_parser = parse_u64)]
        gas: u64,
        /// Its memory limit, in bytes.
        #[arg(long, default_value_t = rarvm_vat::DEFAULT_MEM, value_parser = parse_u64)]
        mem: u64,
        /// Words passed to its entry function in its first turn (decimal u64).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Queue a message from DIR's vat to REF (an object of this vat or another).
    Send {
        dir: PathBuf,
        /// The object's sturdy reference, as `install` printed it.
        #[arg(value_name = "REF")]
        to: String,
        /// Bytes the message carries (as text).
        #[arg(long)]
        bytes: Option<String>,
        /// A reference the message carries (repeatable).
        #[arg(long = "ref", value_name = "REF")]
        refs: Vec<String>,
        /// Words of the message (decimal u64).
        words: Vec<String>,
    },
    /// Show the vat's objects, queues, peers and last turns.
    Inspect {
        dir: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// How many of the last turns to list.
        #[arg(long, default_value_t = 10)]
        turns: usize,
    },
}

fn failed(e: rarvm_vat::Error) -> Failure {
    match e {
        rarvm_vat::Error::Io(..) | rarvm_vat::Error::Sql(_) | rarvm_vat::Error::Server(_) => {
            Failure(EXIT_IO, e.to_string())
        }
        _ => usage(e.to_string()),
    }
}

pub(crate) fn dispatch(cmd: VatCmd) -> Result<u8, Failure> {
    match cmd {
        VatCmd::Create { dir, listen } => {
            let vat = Vat::create(&dir, &listen).map_err(failed)?;
            println!("vat:     {}", rarvm_vat::wire::hex(&vat.id()));
            println!("listen:  {listen}");
            Ok(0)
        }
        VatCmd::Start { dir, engine } => {
            let vat = Vat::open(&dir).map_err(failed)?;
            eprintln!(
                "vat {} listening on {}",
                rarvm_vat::wire::hex(&vat.id()),
                vat.listen().map_err(failed)?
            );
            drop(vat);
            let options = ServeOptions {
                engine,
                ..ServeOptions::default()
            };
            rarvm_vat::serve(&dir, &options, Arc::new(AtomicBool::new(false))).map_err(failed)?;
            Ok(0)
        }
        VatCmd::Run { dir, engine } => {
            let options = ServeOptions {
                engine,
                ..ServeOptions::default()
            };
            let n = rarvm_vat::run_turns(&dir, &options).map_err(failed)?;
            println!("{n} turns");
            Ok(0)
        }
        VatCmd::Gossip { dirs } => {
            let mut vats = Vec::new();
            for d in &dirs {
                vats.push(Vat::open(d).map_err(failed)?);
            }
            let known: Vec<_> = vats
                .iter()
                .map(|v| Ok((v.id(), v.listen()?)))
                .collect::<Result<_, rarvm_vat::Error>>()
                .map_err(failed)?;
            for v in &mut vats {
                for (id, addr) in &known {
                    v.add_peer(id, addr).map_err(failed)?;
                }
            }
            println!("{} vats know each other", vats.len());
            Ok(0)
        }
        VatCmd::Install {
            dir,
            file,
            gas,
            mem,
            args,
        } => {
            let program = object_program(&file)?;
            let args = words_of(&args)?;
            let mut vat = Vat::open(&dir).map_err(failed)?;
            let r = vat.install(&program, &args, gas, mem).map_err(failed)?;
            println!("{r}");
            Ok(0)
        }
        VatCmd::Send {
            dir,
            to,
            bytes,
            refs,
            words,
        } => {
            let to = SturdyRef::parse(&to).map_err(|e| usage(format!("`{to}`: {e}")))?;
            let words = words_of(&words)?;
            let refs = refs
                .iter()
                .map(|r| SturdyRef::parse(r).map_err(|e| usage(format!("`{r}`: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            let msg = Message {
                words,
                bytes: bytes.map(String::into_bytes).unwrap_or_default(),
                refs,
            };
            let mut vat = Vat::open(&dir).map_err(failed)?;
            vat.send(&to, msg).map_err(failed)?;
            Ok(0)
        }
        VatCmd::Inspect { dir, json, turns } => {
            let vat = Vat::open(&dir).map_err(failed)?;
            let report = vat.inspect(turns).map_err(failed)?;
            if json {
                println!("{report}");
            } else {
                print_report(&report);
            }
            Ok(0)
        }
    }
}

/// An object's code: an Entish program may declare one grant, `vat: custom16`, the key
/// every object holds in slot 0.
fn object_program(file: &Path) -> Result<Program, Failure> {
    if is_entish(file) {
        let compiled = compile(file)?;
        if let Some(g) = compiled
            .grants
            .iter()
            .find(|g| g.name != power::GRANT || g.kind != power::KIND)
        {
            return Err(usage(format!(
                "{}: an object holds one key, `grant {}: custom{}`; it declares `grant {}: {}`",
                file.display(),
                power::GRANT,
                power::KIND,
                g.name,
                g.kind_name()
            )));
        }
        return Ok(program_of(&compiled));
    }
    match Input::parse(read(file)?, &file.display().to_string()) {
        Ok(Input::Program(p)) => Ok(p),
        Ok(Input::Image(_)) => Err(usage(format!(
            "{}: an image cannot be installed; give the program",
            file.display()
        ))),
        Err(e) => Err(usage(e.to_string())),
    }
}

fn words_of(words: &[String]) -> Result<Vec<u64>, Failure> {
    words
        .iter()
        .map(|w| parse_u64(w))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)
}

fn print_report(r: &serde_json::Value) {
    println!("vat:     {}", r["vat"].as_str().unwrap_or(""));
    println!("listen:  {}", r["listen"].as_str().unwrap_or(""));
    println!("turn:    {}", r["turn"]);
    println!("inbox:   {} queued", r["inbox"]);
    for o in r["objects"].as_array().into_iter().flatten() {
        println!("object   {}", o["ref"].as_str().unwrap_or(""));
        if let Some(e) = o.get("error") {
            println!("  error: {e}");
            continue;
        }
        println!(
            "  {}  port {}  memory {} B  footprint {} B  refs {}  log {} turns ({} B) since a {} B snapshot",
            o["status"].as_str().unwrap_or(""),
            o["port"],
            o["memory"],
            o["footprint"],
            o["refs"],
            o["log"],
            o["log_bytes"],
            o["image_bytes"]
        );
    }
    for p in r["peers"].as_array().into_iter().flatten() {
        println!(
            "peer     {} at {}  next out {}  next in {}  outbox {}",
            p["vat"].as_str().unwrap_or(""),
            p["addr"].as_str().unwrap_or("(unknown)"),
            p["next_out"],
            p["next_in"],
            p["outbox"]
        );
    }
    let t = &r["turns"];
    println!(
        "turns:   {} recorded, {} yielded",
        t["recorded"], t["yielded"]
    );
    for x in t["last"].as_array().into_iter().flatten() {
        let fault = x["fault"]
            .as_str()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        println!(
            "  turn {:>6}  {}  {}{fault}  gas {}  words {}",
            x["turn"],
            &x["object"].as_str().unwrap_or("")[..8.min(x["object"].as_str().unwrap_or("").len())],
            x["status"].as_str().unwrap_or(""),
            x["gas"],
            x["words"]
        );
    }
}
