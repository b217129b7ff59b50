//! Asking a person on the controlling terminal (`/dev/tty`), whatever standard input and
//! output are connected to.

use rarvm_runtime::host::{Decision, Prompt, Request};

/// The controlling terminal, if there is one.
fn tty() -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()
}

/// Writes `prompt` to the terminal and reads one line; `None` without a terminal or at
/// the end of its input.
pub fn line(prompt: &str) -> Option<String> {
    use std::io::{BufRead, Write};
    let mut t = tty()?;
    t.write_all(prompt.as_bytes()).ok()?;
    t.flush().ok()?;
    let mut line = String::new();
    let n = std::io::BufReader::new(t).read_line(&mut line).ok()?;
    (n > 0).then(|| line.trim().to_string())
}

/// Asks `question` until the answer starts with one of `choices`; `None` without a
/// terminal or at the end of its input.
pub fn ask(question: &str, choices: &str) -> Option<char> {
    loop {
        let line = line(question)?;
        if let Some(c) = line.chars().next().map(|c| c.to_ascii_lowercase()) {
            if choices.contains(c) {
                return Some(c);
            }
        }
    }
}

/// Asks on the terminal about operations a grant does not allow.
pub struct TtyPrompt;

impl Prompt for TtyPrompt {
    fn allow(&mut self, r: &Request<'_>) -> Decision {
        let question = format!("{}: allow [o]nce / [a]lways / [d]eny? ", r.question());
        match ask(&question, "oad") {
            Some('o') => Decision::Once,
            Some('a') => Decision::Always,
            _ => Decision::Deny,
        }
    }
}
