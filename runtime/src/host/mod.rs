//! The host: what answers `key.invoke` on keys that reach outside the process tree, and
//! the transcript that makes its answers replayable — in one home, so a command line, a
//! vat server or a browser page brings its own resources and nothing else.
//!
//! The machine executes `key.invoke` (`docs/SPEC.md` §9): it checks the operands, charges
//! the gas, answers keys that are pure VM state ([`pure`]) and operations a key's rights do
//! not allow itself, and hands everything else to a [`Host`]. A host's answer is a
//! [`Reply`] and the bytes it writes into the range; the machine appends both to the
//! root's [`Transcript`], so a run can be replayed bit for bit ([`replay`]).
//!
//! The host most embedders want is [`Grants`]: named grants, each a [`Resource`] (console,
//! files and network live in the `rarvm-host-os` crate; applications define their own),
//! keys bound to them by name and kind, rights checked, and a [`Prompt`] asked for what a
//! grant does not allow.

mod grants;
pub mod pure;
mod replay;

pub use grants::{Grant, GrantError, Grants};
pub use replay::{ReplayState, Replaying};

use crate::keys::{HostKey, HostOp, KeyError, KeyKind, RIGHT_CREATE, RIGHT_READ, RIGHT_WRITE};

/// One `key.invoke` the machine hands to the host.
pub struct Call<'a> {
    /// The key, with its kind, rights, grant name and scope; the host may keep a handle in it.
    pub key: &'a mut HostKey,
    /// The built-in operation the call is, or `None` for a custom kind's `op`.
    pub operation: Option<&'static HostOp>,
    pub op: u64,
    pub arg: u64,
    /// The operand range of the process's memory: what output operations send.
    pub data: &'a [u8],
    /// Bytes the operation writes at the start of the range; the machine copies at most
    /// `data.len()` of them into memory after the call.
    pub out: &'a mut Vec<u8>,
    /// The most gas the operation's host work may cost beyond the instruction's price:
    /// what the chain can still pay (`docs/SPEC.md` §9, host work).
    pub work_limit: u64,
}

/// What an operation pushes — its result word and error code (0: success) — and the gas
/// its host work costs beyond the instruction's price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub r: u64,
    pub err: u64,
    /// Host work done for the answer, in gas, charged beyond the instruction's price; at
    /// most the call's `work_limit`.
    pub work: u64,
}

impl Reply {
    pub const fn ok(r: u64) -> Reply {
        Reply { r, err: 0, work: 0 }
    }

    pub const fn error(e: KeyError) -> Reply {
        Reply {
            r: 0,
            err: e.code(),
            work: 0,
        }
    }

    /// This answer, having cost `work` gas of host work.
    pub const fn with_work(self, work: u64) -> Reply {
        Reply { work, ..self }
    }
}

/// `bytes` as a person may safely be shown them: in double quotes, printable ASCII as it
/// is (`"` and `\` escaped), everything else escaped — control bytes as `\n`, `\r`, `\t`
/// or `\xNN`, other characters as `\u{…}` and bytes that are not UTF-8 as `\xNN` — so
/// text a program chose can neither move a terminal's cursor nor pass for other text
/// (`∕tmp` shows as `"\u{2215}tmp"`, not as `/tmp`).
pub fn quote(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                ' '..='~' => out.push(c),
                c if c.is_ascii() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
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

/// One host answer: the key's kind code and the operation, what it pushed and the host
/// work it charged, and the bytes it wrote into the range.
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

/// One operation on a granted resource, as [`Grants`] hands it on.
pub struct ResourceCall<'a> {
    /// The key invoked: its kind, grant name, scope and state; a resource may keep a
    /// handle in it (a connection), which copies of the key never carry.
    pub key: &'a mut HostKey,
    /// The built-in operation, or `None` for a custom kind (then `op` is the application's).
    pub operation: Option<&'static HostOp>,
    pub op: u64,
    pub arg: u64,
    /// The rights of the key, within the grant's.
    pub rights: u64,
    /// The operand range of the process's memory.
    pub data: &'a [u8],
    /// Bytes to write at the start of the range (at most `data.len()` are kept).
    pub out: &'a mut Vec<u8>,
    /// The most gas host work may cost beyond the instruction's price (see [`Reply::work`]):
    /// a resource whose work grows with what it finds (entries scanned, say) charges it as
    /// it goes and, at the limit, stops working and answers (an error, for built-in kinds).
    pub work_limit: u64,
}

/// Something a host grants under a name: the console, a directory, a network endpoint, or
/// a service an embedding application exposes to sandboxed code as a key kind of its own.
///
/// ```
/// use rarvm_runtime::host::{Reply, Resource, ResourceCall};
/// use rarvm_runtime::keys::{HostKey, KeyKind};
///
/// /// Adds `arg` to a counter the host keeps and returns the sum.
/// struct Counter(u64);
/// impl Resource for Counter {
///     fn kind(&self) -> KeyKind {
///         KeyKind::Custom(16)
///     }
///     fn describe(&self, _key: &HostKey) -> String {
///         "the counter".into()
///     }
///     fn invoke(&mut self, call: ResourceCall<'_>) -> Reply {
///         self.0 += call.arg;
///         Reply::ok(self.0)
///     }
/// }
/// ```
pub trait Resource: Send {
    /// The kind of the keys it backs: a built-in kind, or custom (16 to 255).
    fn kind(&self) -> KeyKind;
    /// The rights the host allows on it (asking may add more): by default all its kind has.
    fn rights(&self) -> u64 {
        self.kind().all_rights()
    }
    /// True if its answers depend only on the calls made to it, so a deterministic host
    /// may grant it.
    fn deterministic(&self) -> bool {
        false
    }
    /// What an operation of `key` reaches, for a person asked to allow it: a path, an
    /// endpoint, the console.
    fn describe(&self, key: &HostKey) -> String;
    /// Answers one operation. For built-in kinds, error codes are [`KeyError`]s; a custom
    /// kind's are the application's (0 is success).
    fn invoke(&mut self, call: ResourceCall<'_>) -> Reply;
}

/// What a process asks for that its grant does not allow.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The grant's name.
    pub grant: &'a str,
    pub kind: KeyKind,
    /// The operation, as `fs.write`.
    pub op: String,
    /// The right it needs.
    pub right: u64,
    /// What it reaches: a path, an endpoint, the console.
    pub target: String,
}

impl Request<'_> {
    /// What is asked, for a person, quoted so that nothing the program chose (a scope in
    /// the target) passes for other text: `a process wants "fs.write" on "…" but grant
    /// "lib" does not allow write`.
    pub fn question(&self) -> String {
        let right = match self.right {
            RIGHT_READ => "read",
            RIGHT_WRITE => "write",
            RIGHT_CREATE if self.kind == KeyKind::Net => "connect",
            RIGHT_CREATE => "create",
            _ => "this",
        };
        format!(
            "a process wants {} on {} but grant {} does not allow {right}",
            quote(self.op.as_bytes()),
            quote(self.target.as_bytes()),
            quote(self.grant.as_bytes())
        )
    }
}

/// An answer to a [`Request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allow this operation only.
    Once,
    /// Add the right to the grant for the rest of this host's life.
    Always,
    Deny,
}

/// Asks the user whether to allow what a grant does not.
pub trait Prompt: Send {
    fn allow(&mut self, request: &Request<'_>) -> Decision;
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quoting_shows_every_byte_a_person_could_mistake() {
        assert_eq!(quote(b"inside.txt"), r#""inside.txt""#);
        assert_eq!(quote(b"a\x1b[2K\rb"), r#""a\x1b[2K\rb""#);
        assert_eq!(quote("\u{2215}tmp".as_bytes()), r#""\u{2215}tmp""#);
        assert_eq!(quote(b"q\"\\\n\t\x7f\xff"), r#""q\"\\\n\t\x7f\xff""#);
    }
}
