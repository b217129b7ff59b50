//! A root process run in slices of a gas budget, as the page runs it.
//!
//! The user gives a budget of gas and memory; the page runs the root a slice at a time
//! so it never freezes. Slices end in the same image as one run of the whole budget
//! (`docs/SPEC.md` §8.1): once the root stops for any reason but running out of gas, the
//! rest of the budget is credited without running, as the CLI's single run would leave it.
//!
//! A console granted without the right to write asks the page, as `--ask` asks on the
//! terminal. A prompt must answer at once, and the page's person cannot: so a slice that
//! meets an unanswered question is undone — the root goes back to the image taken at the
//! slice's start — and once the person answers, the slice runs again and the prompt gives
//! the answers in the order they were asked. The interpreter is deterministic, so the
//! slice runs as before up to the question; the run ends in the image of one run whose
//! prompt had answered so from the start.

use std::sync::{Arc, Mutex};

use rarvm::host::{Decision, Grant, Prompt, Request, RIGHT_WRITE};
use rarvm::{Program, Status, Vm};
use serde_json::{json, Value};

use crate::console::Buffered;

/// The examples the page offers: file name, source, arguments, console.
pub const EXAMPLES: &[(&str, &str, &str, &str)] = &[
    (
        "sandbox.et",
        include_str!("../../examples/sandbox.et"),
        "41",
        "none",
    ),
    (
        "sandbox_loop.et",
        include_str!("../../examples/sandbox_loop.et"),
        "41",
        "none",
    ),
    (
        "nested.et",
        include_str!("../../examples/nested.et"),
        "5",
        "none",
    ),
    (
        "hello.et",
        include_str!("../../examples/hello.et"),
        "3",
        "ask",
    ),
    (
        "sandbox.rasm",
        include_str!("../../examples/sandbox.rasm"),
        "41",
        "none",
    ),
    (
        "fib.rasm",
        include_str!("../../examples/fib.rasm"),
        "25",
        "none",
    ),
    (
        "sieve.rasm",
        include_str!("../../examples/sieve.rasm"),
        "100000",
        "none",
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
    pub fn nowhere(message: impl Into<String>) -> Diag {
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

/// Whether the root gets a console key, and whether its grant lets it write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleMode {
    /// No console grant: the key is unbound.
    None,
    /// A console it may write to.
    Allowed,
    /// A console whose grant has no rights: every write asks the page.
    Ask,
}

impl ConsoleMode {
    /// `none`, `allowed` or `ask`.
    ///
    /// # Errors
    /// Any other word.
    pub fn parse(word: &str) -> Result<ConsoleMode, String> {
        match word {
            "none" => Ok(ConsoleMode::None),
            "allowed" => Ok(ConsoleMode::Allowed),
            "ask" => Ok(ConsoleMode::Ask),
            other => Err(format!(
                "console: {other:?} is not one of none, allowed, ask"
            )),
        }
    }
}

/// The person's answers for the slice being run, in the order they were asked, and the
/// first question no answer was given for.
#[derive(Default)]
struct Answers {
    given: Vec<Decision>,
    /// How many of `given` this slice has used.
    used: usize,
    unanswered: Option<String>,
}

/// The prompt the page's root has: answers from [`Answers`], and denies (recording the
/// question) when it runs out of them.
struct PagePrompt(Arc<Mutex<Answers>>);

impl Prompt for PagePrompt {
    fn allow(&mut self, request: &Request<'_>) -> Decision {
        let Ok(mut a) = self.0.lock() else {
            return Decision::Deny;
        };
        if let Some(&d) = a.given.get(a.used) {
            a.used += 1;
            return d;
        }
        if a.unanswered.is_none() {
            a.unanswered = Some(request.question());
        }
        Decision::Deny
    }
}

/// A root process, the gas of its budget not yet given to it, and its console.
pub struct Session {
    vm: Vm,
    /// Gas of the budget not yet handed to the root.
    budget: u64,
    /// Memory to add at the next slice.
    mem_pending: u64,
    console: Buffered,
    mode: ConsoleMode,
    /// An `Ask` console answered "always": its grant allows writing from now on.
    allowed: bool,
    answers: Arc<Mutex<Answers>>,
    /// The question the root waits on, undone to the start of the slice that asked it.
    asked: Option<String>,
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
        console: ConsoleMode,
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
    pub fn from_image(bytes: &[u8], console: ConsoleMode) -> Result<Session, String> {
        let vm = Vm::from_image(bytes).map_err(|e| e.to_string())?;
        Session::with_vm(vm, 0, 0, console)
    }

    fn with_vm(vm: Vm, gas: u64, mem: u64, mode: ConsoleMode) -> Result<Session, String> {
        let mut s = Session {
            vm,
            budget: gas,
            mem_pending: mem,
            console: Buffered::default(),
            mode,
            allowed: false,
            answers: Arc::default(),
            asked: None,
        };
        let console = s.console_grant();
        host(&mut s.vm, console, &s.answers)?;
        Ok(s)
    }

    /// The console the root is granted, with the rights its grant allows.
    fn console_grant(&self) -> Option<Buffered> {
        let rights = match self.mode {
            ConsoleMode::None => return None,
            ConsoleMode::Allowed => RIGHT_WRITE,
            ConsoleMode::Ask if self.allowed => RIGHT_WRITE,
            ConsoleMode::Ask => 0,
        };
        Some(self.console.with_rights(rights))
    }

    /// Runs the root with at most `gas` more of the budget.
    pub fn slice(&mut self, gas: u64) {
        let status = self.vm.outcome().status;
        if self.asked.is_some() || !runnable(status) || (self.budget == 0 && self.mem_pending == 0)
        {
            return;
        }
        // What to go back to should the slice meet a question no one has answered yet.
        let start = (self.mode == ConsoleMode::Ask && !self.allowed).then(|| {
            (
                self.vm.image(),
                self.budget,
                self.mem_pending,
                self.console.written(),
            )
        });
        let g = gas.min(self.budget);
        self.budget -= g;
        let mem = std::mem::take(&mut self.mem_pending);
        let out = self.vm.run(g, mem);
        if out.status != Status::OutOfGas && self.budget > 0 {
            // One run of the whole budget would have left the rest to the root.
            self.vm.add_allowance(self.budget, 0);
            self.budget = 0;
        }
        let Ok(mut answers) = self.answers.lock() else {
            return;
        };
        let used = std::mem::take(&mut answers.used);
        let unanswered = answers.unanswered.take();
        match (unanswered, start) {
            (Some(question), Some((image, budget, mem_pending, written))) => {
                drop(answers);
                // The image was made by this VM a moment ago; should it not load, the
                // denial the prompt gave stands.
                if let Ok(mut vm) = Vm::from_image(&image) {
                    if host(&mut vm, self.console_grant(), &self.answers).is_ok() {
                        self.vm = vm;
                        self.budget = budget;
                        self.mem_pending = mem_pending;
                        self.console.truncate(written);
                        self.asked = Some(question);
                    }
                }
            }
            _ => {
                // The slice stands: the answers it used are spent.
                if answers.given[..used].contains(&Decision::Always) {
                    self.allowed = true;
                }
                answers.given.drain(..used);
            }
        }
    }

    /// The person's answer to the question the root waits on (see [`Session::asking`]).
    pub fn answer(&mut self, decision: Decision) {
        if self.asked.take().is_some() {
            if let Ok(mut a) = self.answers.lock() {
                a.given.push(decision);
            }
        }
    }

    /// The question the root waits on: `a process wants "console.write" on … but grant
    /// "console" does not allow write`.
    pub fn asking(&self) -> Option<&str> {
        self.asked.as_deref()
    }

    /// Adds to the budget and the root's memory allowance.
    pub fn grant(&mut self, gas: u64, mem: u64) {
        self.budget = self.budget.saturating_add(gas);
        self.mem_pending = self.mem_pending.saturating_add(mem);
    }

    /// What the session needs to go on: `run` (more slices), `gas` or `memory` (the
    /// root stopped and the budget is spent: ask), `right` (the root asked for a right its
    /// grant lacks: [`Session::answer`]), or `done` (final or yielded).
    pub fn needs(&self) -> &'static str {
        if self.asked.is_some() {
            return "right";
        }
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
            "question": self.asked,
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

/// Grants `console` (if any) to `vm`, with the page's prompt.
fn host(
    vm: &mut Vm,
    console: Option<Buffered>,
    answers: &Arc<Mutex<Answers>>,
) -> Result<(), String> {
    let Some(console) = console else {
        return Ok(());
    };
    vm.grant(Some("console"), Grant::Resource(Box::new(console)))
        .map_err(|e| e.to_string())?;
    vm.set_prompt(Some(Box::new(PagePrompt(Arc::clone(answers)))));
    Ok(())
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
            let mut s =
                Session::new("fib.rasm", FIB, "25", gas, 64 << 20, ConsoleMode::None).unwrap();
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
        let mut s = Session::new("fib.rasm", FIB, "20", 1000, 64 << 20, ConsoleMode::None).unwrap();
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
        let e = Session::new("fib.rasm", FIB, "1 x", 1, 1, ConsoleMode::None)
            .err()
            .unwrap();
        assert!(e[0].message.contains("argument 2"), "{e:?}");
    }

    #[test]
    fn a_granted_console_writes_to_the_buffer() {
        let src = include_str!("../../examples/confined.rasm");
        let mut s = Session::new(
            "confined.rasm",
            src,
            "",
            1_000_000,
            64 << 20,
            ConsoleMode::Allowed,
        )
        .unwrap();
        while s.needs() == "run" {
            s.slice(1000);
        }
        assert_eq!(s.state()["status"], "returned");
        assert!(!s.take_console().is_empty());
        assert_eq!(s.take_console(), "");
    }

    /// A prompt that answers from a list, in order (then denies), for one straight run.
    struct Scripted(std::collections::VecDeque<Decision>);

    impl Prompt for Scripted {
        fn allow(&mut self, _: &Request<'_>) -> Decision {
            self.0.pop_front().unwrap_or(Decision::Deny)
        }
    }

    const HELLO: &str = include_str!("../../examples/hello.et");
    const LINE: &str = "hello from inside the sandbox\n";

    #[test]
    fn a_console_that_asks_waits_for_each_answer_and_ends_as_one_run() {
        use Decision::{Always, Deny, Once};
        let program = compile("hello.et", HELLO).unwrap();
        for (answers, results, lines, slice) in [
            (vec![Once, Deny, Always], ["4", "1"], 4, 1_000),
            (vec![Once, Deny, Always], ["4", "1"], 4, 7),
            (vec![Deny, Deny, Deny, Deny, Deny], ["0", "5"], 0, 100_000),
            (vec![Always], ["5", "0"], 5, 50),
        ] {
            let mut s =
                Session::new("hello.et", HELLO, "5", 1_000_000, 1 << 20, ConsoleMode::Ask).unwrap();
            let mut questions = 0;
            let mut pending = answers.iter();
            let mut out = String::new();
            loop {
                match s.needs() {
                    "run" => s.slice(slice),
                    "right" => {
                        let q = s.asking().unwrap();
                        assert!(q.contains(r#""console.write""#), "{q}");
                        assert!(q.ends_with("does not allow write"), "{q}");
                        questions += 1;
                        // Undone to the slice's start: nothing the asking slice wrote shows.
                        assert_eq!(s.take_console(), "");
                        s.answer(*pending.next().unwrap());
                    }
                    _ => break,
                }
                out.push_str(&s.take_console());
            }
            assert_eq!(questions, answers.len(), "{answers:?} in slices of {slice}");
            assert_eq!(s.state()["results"], json!(results), "{answers:?}");
            assert_eq!(out, LINE.repeat(lines), "{answers:?}");
            // One run whose prompt had these answers from the start: the same image.
            let mut vm = Vm::new(&program, &[5]).unwrap();
            let console = Buffered::default();
            vm.grant(
                Some("console"),
                Grant::Resource(Box::new(console.with_rights(0))),
            )
            .unwrap();
            vm.set_prompt(Some(Box::new(Scripted(answers.iter().copied().collect()))));
            vm.run(1_000_000, 1 << 20);
            assert_eq!(s.image(), vm.image(), "{answers:?} in slices of {slice}");
            assert_eq!(String::from_utf8(console.take()).unwrap(), out);
        }
    }

    #[test]
    fn a_console_mode_is_one_of_three_words() {
        assert_eq!(ConsoleMode::parse("ask"), Ok(ConsoleMode::Ask));
        assert!(ConsoleMode::parse("yes")
            .unwrap_err()
            .contains("none, allowed, ask"));
    }
}
