//! Replaying a transcript: answers come from recorded records, in order, while they match
//! the run; from the first mismatch on, the wrapped host answers live.

use super::{Call, Host, Record, Reply, Transcript};
use crate::keys::{KeyError, KeyKind, Operation};

/// Any host, answering from a transcript first (`docs/SPEC.md` §9.2, `--replay`).
pub struct Replaying<H> {
    pub inner: H,
    records: Transcript,
    /// Where the replay began: the length of the transcript it continued.
    start: usize,
    next: usize,
    diverged: Option<usize>,
}

/// How a replay went so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayState {
    /// Records answered from the replayed transcript.
    pub replayed: usize,
    /// Records of the replayed transcript not reached (yet).
    pub remaining: usize,
    /// The record at which the run asked for something else, or which was not a valid
    /// answer to what it asked; later answers are live.
    pub diverged_at: Option<usize>,
}

impl<H: Host> Replaying<H> {
    /// `inner`, replaying nothing.
    pub fn new(inner: H) -> Replaying<H> {
        Replaying {
            inner,
            records: Vec::new(),
            start: 0,
            next: 0,
            diverged: None,
        }
    }

    /// Replays `records` after `so_far`, the run's transcript, which must be a prefix of
    /// them.
    ///
    /// # Errors
    /// A message saying the run's transcript does not continue into `records`.
    pub fn replay(&mut self, records: Transcript, so_far: &[Record]) -> Result<(), String> {
        let have = so_far.len();
        if records.len() < have || records[..have] != *so_far {
            return Err(format!(
                "the replayed transcript does not continue this run's ({have} records)"
            ));
        }
        self.records = records;
        self.start = have;
        self.next = have;
        self.diverged = None;
        Ok(())
    }

    /// Forgets any replay: a new root starts a new run.
    pub fn reset(&mut self) {
        self.records.clear();
        self.start = 0;
        self.next = 0;
        self.diverged = None;
    }

    pub fn state(&self) -> ReplayState {
        ReplayState {
            replayed: self.next - self.start,
            remaining: self.records.len() - self.next,
            diverged_at: self.diverged,
        }
    }

    /// The next replayed record, if it answers this call.
    fn replayed(&mut self, call: &Call<'_>) -> Option<Record> {
        if self.diverged.is_some() || self.next >= self.records.len() {
            return None;
        }
        let rec = &self.records[self.next];
        if rec.kind != call.key.kind.code() || rec.op != call.op || !plausible(rec, call) {
            self.diverged = Some(self.next);
            return None;
        }
        self.next += 1;
        Some(rec.clone())
    }
}

/// True if `rec` is an answer a host could have given to `call`: its bytes fit the range,
/// an error carries no result and no bytes, a built-in kind's error is one the
/// specification defines, a count of bytes is the count written (or at most the range),
/// and host work is charged only by operations that do it, within the call's limit.
fn plausible(rec: &Record, call: &Call<'_>) -> bool {
    let len = call.data.len() as u64;
    let bytes = rec.out.len() as u64;
    let works = call
        .operation
        .is_none_or(|spec| spec.op == Operation::FsList);
    if bytes > len || (rec.reply.work > 0 && !works) {
        return false;
    }
    if rec.reply.work > call.work_limit {
        return false;
    }
    if rec.reply.err != 0 {
        let known = matches!(call.key.kind, KeyKind::Custom(_))
            || KeyError::from_code(rec.reply.err).is_some();
        return known && rec.reply.r == 0 && bytes == 0;
    }
    let Some(spec) = call.operation else {
        return true;
    };
    match spec.op {
        Operation::ConsoleRead | Operation::FsRead | Operation::NetRecv => rec.reply.r == bytes,
        Operation::ConsoleWrite | Operation::FsWrite | Operation::NetSend => {
            rec.reply.r <= len && bytes == 0
        }
        Operation::FsList => rec.reply.r <= bytes,
        Operation::ClockNow | Operation::FsSize => bytes == 0,
        Operation::FsCreate
        | Operation::FsMkdir
        | Operation::FsRemove
        | Operation::FsTruncate
        | Operation::NetConnect
        | Operation::NetClose => rec.reply.r == 0 && bytes == 0,
        // The VM answers these; a transcript never holds them.
        Operation::RandomNext | Operation::RandomFill => false,
    }
}

impl<H: Host> Host for Replaying<H> {
    fn invoke(&mut self, call: Call<'_>) -> Reply {
        if let Some(rec) = self.replayed(&call) {
            call.out.extend_from_slice(&rec.out);
            return rec.reply;
        }
        self.inner.invoke(call)
    }
}
