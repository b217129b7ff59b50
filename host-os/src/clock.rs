//! The wall clock.

use rarvm_runtime::host::{Reply, Resource, ResourceCall};
use rarvm_runtime::keys::{HostKey, KeyError, KeyKind, Operation, RIGHT_READ};

/// The host's wall clock: `clock.now` answers nanoseconds since the Unix epoch (recorded in
/// the transcript, so a replay answers the same).
pub struct WallClock;

impl Resource for WallClock {
    fn kind(&self) -> KeyKind {
        KeyKind::Clock
    }

    fn rights(&self) -> u64 {
        RIGHT_READ
    }

    fn describe(&self, _key: &HostKey) -> String {
        "the clock".into()
    }

    fn invoke(&mut self, call: ResourceCall<'_>) -> Reply {
        match call.operation.map(|s| s.op) {
            Some(Operation::ClockNow) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
                Reply::ok(now)
            }
            // Operations of other kinds never reach a clock.
            Some(
                Operation::ConsoleWrite
                | Operation::ConsoleRead
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
                | Operation::NetClose,
            )
            | None => Reply::error(KeyError::Unsupported),
        }
    }
}
