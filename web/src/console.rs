//! A console for the page: output only, kept in a buffer the page drains.

use std::sync::{Arc, Mutex};

use rarvm::host::{
    HostKey, KeyError, KeyKind, Operation, Reply, Resource, ResourceCall, RIGHT_WRITE,
};

/// An output-only console: every write appends to a buffer shared with the page and
/// answers `r = len`, so its answers come from the call alone (deterministic, as
/// `rarvm_host_os::console::Console::output_only`).
#[derive(Clone, Default)]
pub struct Buffered(Arc<Mutex<Vec<u8>>>);

impl Buffered {
    /// Removes and returns what was written so far.
    pub fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

impl Resource for Buffered {
    fn kind(&self) -> KeyKind {
        KeyKind::Console
    }

    fn rights(&self) -> u64 {
        RIGHT_WRITE
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
                if let Ok(mut out) = self.0.lock() {
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
