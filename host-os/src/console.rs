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
    /// Standard output and input.
    pub fn stdio() -> Console {
        Console::new(Box::new(std::io::stdout()), Box::new(std::io::stdin()))
    }

    /// A console writing to `out` and reading `input`.
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
