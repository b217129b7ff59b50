//! The answers the VM gives itself: random generators and virtual clocks are pure VM
//! state ([`HostKey::is_pure`]), answered without a host and never recorded, so they
//! travel in images and replay by themselves.

use super::Reply;
use crate::keys::{HostKey, HostOp, Operation};
use crate::meter;

/// Answers `spec` on the pure key `key`: `clock` is the root's gas used including this
/// instruction's gas; bytes go into `out` (the operand range).
pub fn answer(key: &mut HostKey, spec: &HostOp, clock: u64, out: &mut [u8]) -> Reply {
    match spec.op {
        Operation::ClockNow => Reply::ok(clock),
        Operation::RandomNext => Reply::ok(key.next_random()),
        Operation::RandomFill => {
            meter::touched(out.len() as u64);
            for chunk in out.chunks_mut(8) {
                let word = key.next_random().to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
            Reply::ok(out.len() as u64)
        }
        Operation::ConsoleWrite
        | Operation::ConsoleRead
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
        | Operation::NetClose => unreachable!("only random keys and virtual clocks are pure"),
    }
}
