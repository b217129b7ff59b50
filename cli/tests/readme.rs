//! The README's console sessions are true: every `$ rarvm …` line in a ```` ```console ````
//! block is run, and what it prints must be the lines that follow it.
//!
//! Commands run in a scratch directory that links to the repository's `examples/`, so the
//! files they write (`fib.img`) stay out of the working tree, and in the order the README
//! gives them, so a later command sees what an earlier one wrote. After a deliberate change
//! of what they print, `UPDATE_README=1 cargo test --release --test readme` rewrites the
//! printed lines.

use std::path::Path;
use std::process::Command;

/// One command of a session and the lines it must print.
struct Step {
    line: usize,
    args: Vec<String>,
    expected: Vec<String>,
}

/// Every `console` block's commands, in order. A `#` after a command starts a comment.
fn sessions(readme: &str) -> Vec<Vec<Step>> {
    let mut blocks = Vec::new();
    let mut block: Option<Vec<Step>> = None;
    for (i, line) in readme.lines().enumerate() {
        match (&mut block, line.trim_end()) {
            (None, "```console") => block = Some(Vec::new()),
            (None, _) => {}
            (Some(_), "```") => blocks.push(block.take().expect("in a block")),
            (Some(steps), text) => {
                if let Some(cmd) = text.strip_prefix("$ ") {
                    let cmd = cmd.split(" #").next().unwrap_or(cmd);
                    let mut words = cmd.split_whitespace().map(str::to_string);
                    assert_eq!(
                        words.next().as_deref(),
                        Some("rarvm"),
                        "README.md:{}: a console session runs rarvm",
                        i + 1
                    );
                    steps.push(Step {
                        line: i + 1,
                        args: words.collect(),
                        expected: Vec::new(),
                    });
                } else {
                    let step = steps.last_mut().unwrap_or_else(|| {
                        panic!("README.md:{}: output before any command", i + 1)
                    });
                    step.expected.push(text.to_string());
                }
            }
        }
    }
    assert!(block.is_none(), "README.md: a console block is not closed");
    blocks
}

#[test]
fn readme_console_sessions_print_what_they_show() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = sessions(&readme);
    assert!(
        blocks.len() >= 3,
        "the README shows at least three sessions"
    );
    let update = std::env::var_os("UPDATE_README").is_some();
    // (README line of the command, lines it printed), for an update.
    let mut printed_at: Vec<(usize, usize, Vec<String>)> = Vec::new();
    for (b, steps) in blocks.iter().enumerate() {
        let dir = std::env::temp_dir().join(format!("rarvm-readme-{}-{b}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(root.join("examples"), dir.join("examples")).unwrap();
        for step in steps {
            let out = Command::new(env!("CARGO_BIN_EXE_rarvm"))
                .args(&step.args)
                .current_dir(&dir)
                .output()
                .unwrap();
            let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| l.trim_end().to_string())
                .collect();
            if update {
                printed_at.push((step.line, step.expected.len(), printed));
                continue;
            }
            assert_eq!(
                printed,
                step.expected,
                "README.md:{}: `rarvm {}` printed something else (stderr: {})",
                step.line,
                step.args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    if update {
        let mut lines: Vec<String> = readme.lines().map(str::to_string).collect();
        // From the bottom, so earlier line numbers stay valid.
        for (line, old, printed) in printed_at.into_iter().rev() {
            lines.splice(line..line + old, printed);
        }
        std::fs::write(root.join("README.md"), lines.join("\n") + "\n").unwrap();
    }
}

/// The README's Entish programs (its ```` ```python ```` blocks) compile.
#[test]
fn readme_entish_programs_compile() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut programs: Vec<(usize, String)> = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in readme.lines().enumerate() {
        match (&mut current, line.trim_end()) {
            (None, "```python") => current = Some((i + 1, String::new())),
            (Some(_), "```") => programs.push(current.take().expect("in a block")),
            (Some((_, text)), l) => {
                text.push_str(l);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(programs.len() >= 2, "the README shows Entish programs");
    let dir = std::env::temp_dir().join(format!("rarvm-readme-et-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (line, text) in programs {
        let file = dir.join(format!("readme_{line}.et"));
        std::fs::write(&file, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_rarvm"))
            .args(["check", file.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README.md:{line}: the program does not compile:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
