//! Grant on demand: `--ask` prompts on the controlling terminal, tested through a
//! pseudo-terminal; with no terminal, or with `--no-ask`, the answer is deny.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

/// A `rarvm` process whose controlling terminal (and standard streams) is a new
/// pseudo-terminal, and everything it has written there so far.
struct Session {
    child: Child,
    master: File,
    output: Receiver<u8>,
    seen: String,
}

impl Session {
    fn start(args: &[&str]) -> Session {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two descriptors into the provided integers; the name,
        // termios and window size pointers may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty");
        // SAFETY: both descriptors were just opened and are owned by nothing else.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rarvm"));
        cmd.args(args)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec: a new session,
        // whose controlling terminal becomes the pseudo-terminal on standard input.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let (tx, output) = channel();
        let mut reader = master.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            // Reading fails with EIO once the child and its terminal are gone.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || buf[..n].iter().any(|b| tx.send(*b).is_err()) {
                    break;
                }
            }
        });
        Session {
            child,
            master,
            output,
            seen: String::new(),
        }
    }

    /// Waits until the terminal shows `text` (after what was already matched).
    fn expect(&mut self, text: &str) {
        self.expect_one(&[text]);
    }

    /// Waits until the terminal shows one of `texts`; returns which. Later expectations
    /// look past the match.
    fn expect_one(&mut self, texts: &[&str]) -> usize {
        loop {
            let found = texts
                .iter()
                .enumerate()
                .filter_map(|(i, t)| self.seen.find(t).map(|at| (at, i, t.len())))
                .min();
            if let Some((at, i, len)) = found {
                self.seen = self.seen[at + len..].to_string();
                return i;
            }
            match self.output.recv_timeout(Duration::from_secs(20)) {
                Ok(b) => self.seen.push(b as char),
                Err(_) => panic!("waited for {texts:?}; the terminal shows:\n{}", self.seen),
            }
        }
    }

    fn answer(&mut self, line: &str) {
        self.master.write_all(line.as_bytes()).unwrap();
        self.master.write_all(b"\n").unwrap();
    }

    /// The exit code, and the rest of what the terminal showed.
    fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        let mut seen = std::mem::take(&mut self.seen);
        while let Ok(b) = self.output.recv_timeout(Duration::from_millis(300)) {
            seen.push(b as char);
        }
        (status.code().unwrap_or(-1), seen)
    }
}

impl Drop for Session {
    /// A failed test must not leave a process waiting at a prompt.
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rarvm-pty-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn out_of_gas_asks_for_more_and_continues() {
    // fib(20) needs 328,365 gas: two more grants of 150,000.
    let mut s = Session::start(&[
        "run",
        "--ask",
        "--gas",
        "150000",
        "examples/fib.rasm",
        "--",
        "20",
    ]);
    // A block that does not fit is not started: a little less than 150,000 is used.
    s.expect("fib.rasm used 149,");
    s.expect(" gas and wants more: [g]rant 150,000 more / [s]napshot to a file / [a]bort?");
    s.answer("g");
    s.expect("fib.rasm used 299,");
    s.answer("grant");
    let (code, rest) = s.finish();
    assert_eq!(code, 0, "{rest}");
    assert!(rest.contains("result:   6765"), "{rest}");
}

#[test]
fn out_of_gas_can_snapshot_and_resume_later() {
    let dir = scratch("snapshot");
    let img = dir.join("paused.img");
    let mut s = Session::start(&[
        "run",
        "--ask",
        "--gas",
        "5000",
        "examples/fib.rasm",
        "--",
        "20",
    ]);
    s.expect("[s]napshot to a file");
    s.answer("s");
    s.expect("snapshot file: ");
    s.answer(img.to_str().unwrap());
    let (code, rest) = s.finish();
    assert_eq!(code, 3, "{rest}");
    assert!(rest.contains("status:   out_of_gas"), "{rest}");
    let out = Command::new(env!("CARGO_BIN_EXE_rarvm"))
        .args(["resume", img.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("result:   6765"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn out_of_gas_abort_stops() {
    let mut s = Session::start(&[
        "run",
        "--ask",
        "--gas",
        "5000",
        "examples/fib.rasm",
        "--",
        "20",
    ]);
    s.expect("[a]bort?");
    s.answer("x"); // not an answer: asked again
    s.expect("[a]bort?");
    s.answer("a");
    let (code, rest) = s.finish();
    assert_eq!(code, 3, "{rest}");
}

#[test]
fn out_of_memory_asks_for_more() {
    let mut s = Session::start(&[
        "run",
        "--ask",
        "--mem",
        "100000",
        "examples/sieve.rasm",
        "--",
        "300000",
    ]);
    s.expect("sieve.rasm uses");
    s.expect("bytes of memory and wants more: [g]rant 100,000 more");
    s.answer("g");
    // As many more grants as it takes.
    while s.expect_one(&["wants more", "status:"]) == 0 {
        s.answer("g");
    }
    let (code, rest) = s.finish();
    assert_eq!(code, 0, "{rest}");
    assert!(rest.contains("returned"), "{rest}");
}

/// Writes "hi" to x.txt twice; returns both `r err`.
const WRITER: &str = r#"
.data 0 "x.txt"
.data 8 "hi"
func main() -> 4 locals(k)
    push 0
    push right.all
    push 0
    push 5
    key.attenuate
    drop
    local.set k
    local.get k
    push fs.write
    push 0
    push 8
    push 2
    key.invoke
    local.get k
    push fs.write
    push 2
    push 8
    push 2
    key.invoke
    ret
end
"#;

fn writer(dir: &std::path::Path) -> PathBuf {
    std::fs::write(dir.join("x.txt"), "").unwrap();
    let prog = dir.join("writer.rasm");
    std::fs::write(&prog, WRITER).unwrap();
    prog
}

#[test]
fn a_denied_operation_asks_once_always_or_deny() {
    let dir = scratch("ops");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let prog = writer(&data);
    let grant = format!("fs:{}:ro", data.display());
    let run = |answers: &[&str]| {
        std::fs::write(data.join("x.txt"), "").unwrap();
        let mut s = Session::start(&["run", "--ask", "--grant", &grant, prog.to_str().unwrap()]);
        for a in answers {
            s.expect("a process wants \"fs.write\" on \"");
            s.expect(
                "x.txt\" but grant \"fs\" does not allow write: allow [o]nce / [a]lways / [d]eny?",
            );
            s.answer(a);
        }
        let (code, rest) = s.finish();
        assert_eq!(code, 0, "{rest}");
        assert!(!rest.contains("a process wants"), "asked too often: {rest}");
        (rest, std::fs::read_to_string(data.join("x.txt")).unwrap())
    };
    // Once, then deny: the first write happens, the second is refused.
    let (rest, file) = run(&["o", "d"]);
    assert!(rest.contains("result:   2 0 0 1"), "{rest}");
    assert_eq!(file, "hi");
    // Always: asked once, both writes happen.
    let (rest, file) = run(&["a"]);
    assert!(rest.contains("result:   2 0 2 0"), "{rest}");
    assert_eq!(file, "hihi");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn no_terminal_or_no_ask_means_deny() {
    let dir = scratch("noterm");
    let prog = writer(&dir);
    let grant = format!("fs:{}:ro", dir.display());
    // No controlling terminal at all: a new session without one.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rarvm"));
    cmd.args(["run", "--ask", "--grant", &grant, prog.to_str().unwrap()])
        .stdin(Stdio::null());
    // SAFETY: setsid is async-signal-safe; it detaches from any controlling terminal.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("result:   0 1 0 1"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rarvm"));
    cmd.args([
        "run",
        "--ask",
        "--gas",
        "5000",
        "examples/fib.rasm",
        "--",
        "20",
    ])
    .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    .stdin(Stdio::null());
    // SAFETY: as above.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    assert_eq!(
        cmd.output().unwrap().status.code(),
        Some(3),
        "no terminal: abort"
    );
    // A terminal, but --no-ask (the last of --ask/--no-ask wins).
    let mut s = Session::start(&[
        "run",
        "--ask",
        "--no-ask",
        "--grant",
        &grant,
        prog.to_str().unwrap(),
    ]);
    s.expect("result:   0 1 0 1");
    let (code, rest) = s.finish();
    assert_eq!(code, 0, "{rest}");
    let mut s = Session::start(&["run", "--gas", "5000", "examples/fib.rasm", "--", "20"]);
    s.expect("status:   out_of_gas");
    assert_eq!(s.finish().0, 3);
    let _ = std::fs::remove_dir_all(dir);
}

/// A scope made to look like another question: a terminal escape cannot even be part of
/// one (`bad_path`), and a look-alike of `/` is shown escaped, so the person asked sees
/// the path the operation really reaches.
#[test]
fn hostile_scopes_cannot_disguise_the_question() {
    let dir = scratch("hostile");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let escape = "x\x1b[2K\ra process wants fs.read on /tmp/harmless.txt";
    let lookalike = "\u{2215}tmp\u{2215}harmless.txt";
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    // Attenuates key 0 to each scope; creates through the second: `slot err slot err r err`.
    let src = format!(
        ".data 0 x\"{}\"\n.data 256 x\"{}\"\n\
         func main() -> 6\n\
         push 0\n push right.all\n push 0\n push {}\n key.attenuate\n\
         push 0\n push right.all\n push 256\n push {}\n key.attenuate\n\
         over\n push fs.create\n push 0\n push 0\n push 0\n key.invoke\n ret\nend\n",
        hex(escape),
        hex(lookalike),
        escape.len(),
        lookalike.len()
    );
    let prog = dir.join("hostile.rasm");
    std::fs::write(&prog, src).unwrap();
    let grant = format!("fs:{}:ro", data.display());
    let mut s = Session::start(&["run", "--ask", "--grant", &grant, prog.to_str().unwrap()]);
    s.expect("a process wants \"fs.create\" on \"");
    s.expect("/data/\\u{2215}tmp\\u{2215}harmless.txt\" but grant \"fs\" does not allow create");
    s.answer("d");
    let (code, rest) = s.finish();
    assert_eq!(code, 0, "{rest}");
    let bad_path = 3;
    let denied = 1;
    assert!(
        rest.contains(&format!("result:   {} {bad_path} 1 0 0 {denied}", u64::MAX)),
        "{rest}"
    );
    assert!(
        !rest.contains('\u{2215}'),
        "the look-alike reached the terminal: {rest}"
    );
    assert!(!data.join(lookalike).exists());
    let _ = std::fs::remove_dir_all(dir);
}
