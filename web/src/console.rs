//! A console for the page: output only, kept in a buffer the page drains, granted with
//! or without the right to write (without it, the page is asked).

use std::sync::{Arc, Mutex};

use rarvm::host::{
    HostKey, KeyError, KeyKind, Operation, Reply, Resource, ResourceCall, RIGHT_WRITE,
};

/// An output-only console: every write appends to a buffer shared with the page and
/// answers `r = len`, so its answers come from the call alone (deterministic, as
/// `rarvm_host_os::console::Console::output_only`).
#[derive(Clone, Default)]
pub struct Buffered {
    out: Arc<Mutex<Vec<u8>>>,
    /// The rights the grant allows: `RIGHT_WRITE`, or 0 for a console that asks.
    rights: u64,
}

impl Buffered {
    /// A console whose grant allows `rights` (`RIGHT_WRITE` or 0), writing to the buffer
    /// this one writes to.
    pub fn with_rights(&self, rights: u64) -> Buffered {
        Buffered {
            out: Arc::clone(&self.out),
            rights,
        }
    }

    /// Removes and returns what was written so far.
    pub fn take(&self) -> Vec<u8> {
        self.out
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// How many bytes the buffer holds.
    pub fn written(&self) -> usize {
        self.out.lock().map(|v| v.len()).unwrap_or_default()
    }

    /// Forgets what was written after the first `len` bytes.
    pub fn truncate(&self, len: usize) {
        if let Ok(mut v) = self.out.lock() {
            v.truncate(len);
        }
    }
}

impl Resource for Buffered {
    fn kind(&self) -> KeyKind {
        KeyKind::Console
    }

    fn rights(&self) -> u64 {
        self.rights & RIGHT_WRITE
    }

    fn deterministic(&self) -> bool {
        true
    }

    fn describe(&self, _key: &HostKey) -> String {
        "the page's console".into()
    }

    fn invoke(&mut self, call: ResourceCall<'_>) -> Reply {
        match call.operation.map(|spec| spec.op) {
            Some(Operation::ConsoleWrite) => {
                if let Ok(mut out) = self.out.lock() {
                    out.extend_from_slice(call.data);
                }
                Reply::ok(call.data.len() as u64)
            }
            // Reading needs a person at a terminal; the page has none.
            Some(Operation::ConsoleRead) => Reply::error(KeyError::Unsupported),
            _ => Reply::error(KeyError::Unsupported),
        }
    }
}
