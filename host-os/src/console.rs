//! The console: output and input bytes.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use rarvm_runtime::host::{Reply, Resource, ResourceCall};
use rarvm_runtime::keys::{HostKey, KeyError, KeyKind, Operation, RIGHT_READ, RIGHT_WRITE};

/// A console: where console keys write, and what they read.
pub struct Console {
    out: Box<dyn Write + Send>,
    input: Box<dyn Read + Send>,
    /// Output only, and every write answers success: what a deterministic host grants.
    deterministic: bool,
}

impl Console {
    /// Standard output and input; a read that finds no input within
    /// [`DEFAULT_DEADLINE`](crate::DEFAULT_DEADLINE) answers `io`.
    pub fn stdio() -> Console {
        Console::new(
            Box::new(std::io::stdout()),
            Box::new(Within {
                fd: libc::STDIN_FILENO,
                deadline: crate::net::DEFAULT_DEADLINE,
            }),
        )
    }

    /// A console writing to `out` and reading `input`. A read holds the host as long as
    /// `input` blocks: give a reader that gives up in time (as [`Console::stdio`]'s does).
    pub fn new(out: Box<dyn Write + Send>, input: Box<dyn Read + Send>) -> Console {
        Console {
            out,
            input,
            deterministic: false,
        }
    }

    /// An output-only console whose writes always answer `r = len`: its answers come from
    /// the call alone, so a deterministic host may grant it (`docs/SPEC.md` §9.2).
    pub fn output_only(out: Box<dyn Write + Send>) -> Console {
        Console {
            out,
            input: Box::new(std::io::empty()),
            deterministic: true,
        }
    }
}

impl Resource for Console {
    fn kind(&self) -> KeyKind {
        KeyKind::Console
    }

    fn rights(&self) -> u64 {
        if self.deterministic {
            RIGHT_WRITE
        } else {
            RIGHT_READ | RIGHT_WRITE
        }
    }

    fn deterministic(&self) -> bool {
        self.deterministic
    }

    fn describe(&self, _key: &HostKey) -> String {
        "the console".into()
    }

    fn invoke(&mut self, call: ResourceCall<'_>) -> Reply {
        let Some(spec) = call.operation else {
            return Reply::error(KeyError::Unsupported);
        };
        match spec.op {
            Operation::ConsoleWrite => {
                let ok = self
                    .out
                    .write_all(call.data)
                    .and_then(|()| self.out.flush());
                match ok {
                    Ok(()) => Reply::ok(call.data.len() as u64),
                    Err(_) if self.deterministic => Reply::ok(call.data.len() as u64),
                    Err(_) => Reply::error(KeyError::Io),
                }
            }
            Operation::ConsoleRead => {
                call.out.resize(call.data.len(), 0);
                match self.input.read(call.out) {
                    Ok(n) => {
                        call.out.truncate(n);
                        Reply::ok(n as u64)
                    }
                    Err(_) => Reply::error(KeyError::Io),
                }
            }
            // Operations of other kinds never reach a console.
            Operation::ClockNow
            | Operation::RandomNext
            | Operation::RandomFill
            | Operation::FsRead
            | Operation::FsWrite
            | Operation::FsSize
            | Operation::FsCreate
            | Operation::FsMkdir
            | Operation::FsList
            | Operation::FsRemove
            | Operation::FsTruncate
            | Operation::NetConnect
            | Operation::NetSend
            | Operation::NetRecv
            | Operation::NetClose => Reply::error(KeyError::Unsupported),
        }
    }
}

/// A console sink that keeps what was written, for tests and embedders; clones share it.
#[derive(Clone, Debug, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Forgets what was written.
    pub fn clear(&self) {
        if let Ok(mut v) = self.0.lock() {
            v.clear();
        }
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("capture poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Input from the descriptor `fd` (standard input), read only when some arrives within
/// `deadline`.
struct Within {
    fd: libc::c_int,
    deadline: std::time::Duration,
}

impl Read for Within {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut fds = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(self.deadline.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is one valid pollfd, and its count is 1.
        let ready = unsafe { libc::poll(&mut fds, 1, ms) };
        match ready {
            0 => Err(std::io::ErrorKind::TimedOut.into()),
            n if n < 0 => Err(std::io::Error::last_os_error()),
            // Straight from the descriptor: a buffer in between could hold input `poll`
            // does not see.
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
            _ => match unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) } {
                n if n < 0 => Err(std::io::Error::last_os_error()),
                n => Ok(n as usize),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_read_gives_up_at_its_deadline() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors `pipe` writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let mut input = Within {
            fd: fds[0],
            deadline: Duration::from_millis(50),
        };
        let mut buf = [0u8; 8];
        let e = input.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        // SAFETY: `fds[1]` is the pipe's open write end; the buffer is 2 valid bytes.
        assert_eq!(unsafe { libc::write(fds[1], b"hi".as_ptr().cast(), 2) }, 2);
        assert_eq!(input.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"hi");
        // SAFETY: both descriptors are open and closed once.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
