//! A root process run in slices of a gas budget, as the page runs it.
//!
//! The user gives a budget of gas and memory; the page runs the root a slice at a time
//! so it never freezes. Slices end in the same image as one run of the whole budget
//! (`docs/SPEC.md` §8.1): once the root stops for any reason but running out of gas, the
//! rest of the budget is credited without running, as the CLI's single run would leave it.

use rarvm::host::Grant;
use rarvm::{Program, Status, Vm};
use serde_json::{json, Value};

use crate::console::Buffered;

/// The examples the page offers: file name, source, arguments.
pub const EXAMPLES: &[(&str, &str, &str)] = &[
    (
        "sandbox.et",
        include_str!("../../examples/sandbox.et"),
        "41",
    ),
    (
        "sandbox_loop.et",
        include_str!("../../examples/sandbox_loop.et"),
        "41",
    ),
    ("nested.et", include_str!("../../examples/nested.et"), "5"),
    (
        "sandbox.rasm",
        include_str!("../../examples/sandbox.rasm"),
        "41",
    ),
    ("fib.rasm", include_str!("../../examples/fib.rasm"), "25"),
    (
        "sieve.rasm",
        include_str!("../../examples/sieve.rasm"),
        "100000",
    ),
];

/// A compile error at a 1-based line and column (0 when the error has no place).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl Diag {
    fn nowhere(message: impl Into<String>) -> Diag {
        Diag {
            line: 0,
            col: 0,
            message: message.into(),
        }
    }
}

/// Compiles Entish (`name` ending in `.et`) or assembler text.
///
/// # Errors
/// Every error, with its line and column.
pub fn compile(name: &str, source: &str) -> Result<Program, Vec<Diag>> {
    if name.ends_with(".et") {
        let compiled = rarvm_lang::compile_str(name, source, &rarvm_lang::Options::default())
            .map_err(|d| {
                d.located()
                    .into_iter()
                    .map(|l| Diag {
                        line: l.line,
                        col: l.col,
                        message: l.message,
                    })
                    .collect::<Vec<_>>()
            })?;
        Program::from_bytes(&compiled.bytes()).map_err(|e| vec![Diag::nowhere(e.to_string())])
    } else {
        Program::from_source(source, name).map_err(|e| match e {
            rarvm::Error::Asm(a) => vec![Diag {
                line: a.line as u32,
                col: a.col as u32,
                message: a.message,
            }],
            other => vec![Diag::nowhere(other.to_string())],
        })
    }
}

/// Arguments as words: decimal numbers separated by spaces or commas.
///
/// # Errors
/// The first word that is not a number.
pub fn parse_args(text: &str) -> Result<Vec<u64>, Diag> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .enumerate()
        .map(|(i, w)| {
            w.parse::<u64>()
                .map_err(|_| Diag::nowhere(format!("argument {}: {w:?} is not a number", i + 1)))
        })
        .collect()
}

/// A root process, the gas of its budget not yet given to it, and its console.
pub struct Session {
    vm: Vm,
    /// Gas of the budget not yet handed to the root.
    budget: u64,
    /// Memory to add at the next slice.
    mem_pending: u64,
    console: Buffered,
}

impl Session {
    /// A new root for `source` with `args`, to run under `gas` and `mem`.
    ///
    /// # Errors
    /// Compile errors, a bad argument, or the wrong number of arguments.
    pub fn new(
        name: &str,
        source: &str,
        args: &str,
        gas: u64,
        mem: u64,
        console: bool,
    ) -> Result<Session, Vec<Diag>> {
        let program = compile(name, source)?;
        let words = parse_args(args).map_err(|d| vec![d])?;
        let vm = Vm::new(&program, &words).map_err(|e| vec![Diag::nowhere(e.to_string())])?;
        Session::with_vm(vm, gas, mem, console).map_err(|e| vec![Diag::nowhere(e)])
    }

    /// A session resuming an image; it runs once granted gas (or memory).
    ///
    /// # Errors
    /// What is wrong with the image.
    pub fn from_image(bytes: &[u8], console: bool) -> Result<Session, String> {
        let vm = Vm::from_image(bytes).map_err(|e| e.to_string())?;
        Session::with_vm(vm, 0, 0, console)
    }

    fn with_vm(mut vm: Vm, gas: u64, mem: u64, console: bool) -> Result<Session, String> {
        let buffer = Buffered::default();
        if console {
            vm.grant(Some("console"), Grant::Resource(Box::new(buffer.clone())))
                .map_err(|e| e.to_string())?;
        }
        Ok(Session {
            vm,
            budget: gas,
            mem_pending: mem,
            console: buffer,
        })
    }

    /// Runs the root with at most `gas` more of the budget.
    pub fn slice(&mut self, gas: u64) {
        let status = self.vm.outcome().status;
        if !runnable(status) || (self.budget == 0 && self.mem_pending == 0) {
            return;
        }
        let g = gas.min(self.budget);
        self.budget -= g;
        let mem = std::mem::take(&mut self.mem_pending);
        let out = self.vm.run(g, mem);
        if out.status != Status::OutOfGas && self.budget > 0 {
            // One run of the whole budget would have left the rest to the root.
            self.vm.add_allowance(self.budget, 0);
            self.budget = 0;
        }
    }

    /// Adds to the budget and the root's memory allowance.
    pub fn grant(&mut self, gas: u64, mem: u64) {
        self.budget = self.budget.saturating_add(gas);
        self.mem_pending = self.mem_pending.saturating_add(mem);
    }

    /// What the session needs to go on: `run` (more slices), `gas` or `memory` (the
    /// root stopped and the budget is spent: ask), or `done` (final or yielded).
    pub fn needs(&self) -> &'static str {
        let status = self.vm.outcome().status;
        match status {
            Status::Returned | Status::Halted | Status::Faulted | Status::Yielded => "done",
            Status::OutOfMemory if self.mem_pending == 0 => "memory",
            Status::OutOfGas if self.budget == 0 && self.mem_pending == 0 => "gas",
            Status::Ready | Status::Running | Status::OutOfGas | Status::OutOfMemory => "run",
        }
    }

    /// The root's status and counters, as JSON; words are strings, which JavaScript
    /// numbers could not hold exactly.
    pub fn state(&self) -> Value {
        let out = self.vm.outcome();
        let root = self.vm.root();
        json!({
            "status": out.status.name(),
            "fault": out.fault.map(|f| f.name()),
            "gas_used": out.gas_used.to_string(),
            "gas_left": out.gas_left.to_string(),
            "results": out.results.iter().map(u64::to_string).collect::<Vec<_>>(),
            "at": root.location(),
            "budget": self.budget.to_string(),
            "needs": self.needs(),
        })
    }

    /// Every process of the tree, as JSON rows.
    pub fn tree(&self) -> Value {
        let root = self.vm.root();
        let rows: Vec<Value> = root
            .processes()
            .map(|(path, p)| {
                json!({
                    "path": path,
                    "status": p.status().name(),
                    "gas_left": p.gas_left().to_string(),
                    "gas_used": p.gas_used().to_string(),
                    "footprint": p.footprint().to_string(),
                    "mem_limit": p.mem_limit().to_string(),
                    "at": p.location(),
                })
            })
            .collect();
        Value::Array(rows)
    }

    /// Console output since the last call.
    pub fn take_console(&mut self) -> String {
        String::from_utf8_lossy(&self.console.take()).into_owned()
    }

    /// The canonical image of the tree.
    pub fn image(&self) -> Vec<u8> {
        self.vm.image()
    }
}

fn runnable(status: Status) -> bool {
    !status.is_final() && status != Status::Yielded
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIB: &str = include_str!("../../examples/fib.rasm");

    #[test]
    fn slices_end_in_the_image_of_one_run() {
        for (gas, slice) in [(1_000_000, 1_000), (1_000_000, 7), (10_000_000, 333_333)] {
            let mut s = Session::new("fib.rasm", FIB, "25", gas, 64 << 20, false).unwrap();
            while s.needs() == "run" {
                s.slice(slice);
            }
            let mut vm = Vm::new(&compile("fib.rasm", FIB).unwrap(), &[25]).unwrap();
            vm.run(gas, 64 << 20);
            assert_eq!(s.image(), vm.image(), "{gas} gas in slices of {slice}");
            let want = if vm.outcome().status == Status::OutOfGas {
                "gas"
            } else {
                "done"
            };
            assert_eq!(s.needs(), want);
        }
    }

    #[test]
    fn granting_more_gas_finishes_the_run() {
        let mut s = Session::new("fib.rasm", FIB, "20", 1000, 64 << 20, false).unwrap();
        while s.needs() == "run" {
            s.slice(100);
        }
        assert_eq!(s.needs(), "gas");
        s.grant(10_000_000, 0);
        while s.needs() == "run" {
            s.slice(100_000);
        }
        assert_eq!(s.state()["results"], json!(["6765"]));
    }

    #[test]
    fn compile_errors_have_lines_and_columns() {
        let e = compile("x.et", "def main(x):\n    return y\n").unwrap_err();
        assert_eq!((e[0].line, e[0].col), (2, 12), "{e:?}");
        let e = compile("x.rasm", "func main() -> 0\n    bogus\n").unwrap_err();
        assert_eq!(e[0].line, 2, "{e:?}");
        let e = Session::new("fib.rasm", FIB, "1 x", 1, 1, false)
            .err()
            .unwrap();
        assert!(e[0].message.contains("argument 2"), "{e:?}");
    }

    #[test]
    fn a_granted_console_writes_to_the_buffer() {
        let src = include_str!("../../examples/confined.rasm");
        let mut s = Session::new("confined.rasm", src, "", 1_000_000, 64 << 20, true).unwrap();
        while s.needs() == "run" {
            s.slice(1000);
        }
        assert_eq!(s.state()["status"], "returned");
        assert!(!s.take_console().is_empty());
        assert_eq!(s.take_console(), "");
    }
}
