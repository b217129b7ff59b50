//! The host: what answers `key.invoke` on keys that reach outside the process tree, and
//! the transcript that makes its answers replayable.
//!
//! The machine executes `key.invoke` (`docs/SPEC.md` §Keys): it checks the operands,
//! charges the gas, answers keys that are pure VM state ([`HostKey::is_pure`]) and
//! operations a key's rights do not allow itself, and hands everything else to a
//! [`Host`]. A host's answer is a [`Reply`] and the bytes it writes into the range; the
//! machine appends both to the root's [`Transcript`], so a run can be replayed bit for
//! bit.

use crate::keys::{HostKey, KeyError};

/// One `key.invoke` the machine hands to the host.
pub struct Call<'a> {
    /// The key, with its kind, rights, grant name and scope; the host may keep a handle in it.
    pub key: &'a mut HostKey,
    pub op: u64,
    pub arg: u64,
    /// The operand range of the process's memory: what output operations send.
    pub data: &'a [u8],
    /// Bytes the operation writes at the start of the range; the machine copies at most
    /// `data.len()` of them into memory after the call.
    pub out: &'a mut Vec<u8>,
}

/// What an operation pushes: its result word and error code (0: success).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub r: u64,
    pub err: u64,
}

impl Reply {
    pub const fn ok(r: u64) -> Reply {
        Reply { r, err: 0 }
    }

    pub const fn error(e: KeyError) -> Reply {
        Reply {
            r: 0,
            err: e.code(),
        }
    }
}

/// Answers the `key.invoke`s the VM cannot answer itself.
pub trait Host {
    fn invoke(&mut self, call: Call<'_>) -> Reply;
}

/// A host that grants nothing: every key that needs one is unbound.
pub struct NoHost;

impl Host for NoHost {
    fn invoke(&mut self, _call: Call<'_>) -> Reply {
        Reply::error(KeyError::Unbound)
    }
}

/// One host answer: the key's kind code and the operation, what it pushed, and the bytes
/// it wrote into the range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub kind: u8,
    pub op: u64,
    pub reply: Reply,
    pub out: Vec<u8>,
}

impl Record {
    /// Its share of the root's footprint: [`TRANSCRIPT_RECORD_BYTES`] and its bytes.
    pub fn footprint(&self) -> u64 {
        TRANSCRIPT_RECORD_BYTES + self.out.len() as u64
    }
}

/// Footprint of one transcript record, besides its bytes.
pub const TRANSCRIPT_RECORD_BYTES: u64 = 32;

/// Most records one transcript holds; once full, host operations answer `io` without
/// reaching the host.
pub const MAX_TRANSCRIPT_RECORDS: usize = u32::MAX as usize;

/// Every host answer of a run, in order. The root process holds it, it counts in the
/// root's footprint, and images carry it (`docs/SPEC.md` §Keys and the host).
pub type Transcript = Vec<Record>;
