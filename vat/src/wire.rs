//! The bytes a vat stores and sends: sturdy references, messages, log entries, and the
//! boxes that carry messages between vats (`docs/VATS.md`, "Formats"). Every decoder takes
//! hostile input: it checks each length against what is left and against the limits
//! before allocating, and names the problem.

use std::fmt;

use rarvm::host::{Record, Reply};

/// Most words one message carries (a port holds 64: the words and their count).
pub const MAX_WORDS: usize = 62;
/// Most bytes one message carries.
pub const MAX_BYTES: usize = 64 * 1024;
/// Most references one message carries.
pub const MAX_REFS: usize = 32;
/// Most references one object holds in its reference list.
pub const MAX_CLIST: usize = 4096;

/// A vat's public key: its name on the network.
pub type VatId = [u8; 32];
/// The secret that names an object inside its vat: whoever knows it may send to it.
pub type Swiss = [u8; 16];

/// An unguessable, printable reference to an object: the vat that holds it (its public
/// key) and the object's 128-bit secret. `rarvm-vat://PUBKEY/SWISS` in hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SturdyRef {
    pub vat: VatId,
    pub swiss: Swiss,
}

const SCHEME: &str = "rarvm-vat://";

impl SturdyRef {
    /// Parses `rarvm-vat://` followed by 64 hex digits, `/` and 32 hex digits.
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(s: &str) -> Result<SturdyRef, String> {
        let rest = s
            .strip_prefix(SCHEME)
            .ok_or_else(|| format!("a sturdy reference starts with `{SCHEME}`"))?;
        let (vat, swiss) = rest
            .split_once('/')
            .ok_or("a sturdy reference is `rarvm-vat://PUBKEY/SWISS`")?;
        Ok(SturdyRef {
            vat: unhex(vat).ok_or("the vat's key is not 64 hex digits")?,
            swiss: unhex(swiss).ok_or("the object's secret is not 32 hex digits")?,
        })
    }
}

impl fmt::Display for SturdyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", hex(&self.vat), hex(&self.swiss))
    }
}

impl fmt::Debug for SturdyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// One message to an object: words for its port, bytes it may read, references it may
/// keep.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub words: Vec<u64>,
    pub bytes: Vec<u8>,
    pub refs: Vec<SturdyRef>,
}

impl Message {
    pub fn words(words: Vec<u64>) -> Message {
        Message {
            words,
            ..Message::default()
        }
    }

    /// The port a turn starts with: the words last to first, then their count, so the
    /// object's first `in` pops the count and the next ones the words in order.
    pub fn port(&self) -> Vec<u64> {
        let mut port: Vec<u64> = self.words.iter().rev().copied().collect();
        port.push(self.words.len() as u64);
        port
    }

    /// Checks the limits; `None` if it fits.
    pub fn over_limit(&self) -> Option<String> {
        if self.words.len() > MAX_WORDS {
            Some(format!("{} words (at most {MAX_WORDS})", self.words.len()))
        } else if self.bytes.len() > MAX_BYTES {
            Some(format!("{} bytes (at most {MAX_BYTES})", self.bytes.len()))
        } else if self.refs.len() > MAX_REFS {
            Some(format!(
                "{} references (at most {MAX_REFS})",
                self.refs.len()
            ))
        } else {
            None
        }
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.words.len() as u8);
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&(self.bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.bytes);
        out.push(self.refs.len() as u8);
        for r in &self.refs {
            out.extend_from_slice(&r.vat);
            out.extend_from_slice(&r.swiss);
        }
    }

    pub fn decode_from(r: &mut Reader<'_>) -> Result<Message, String> {
        let nwords = r.u8("word count")? as usize;
        if nwords > MAX_WORDS {
            return Err(r.err(&format!("{nwords} words (at most {MAX_WORDS})")));
        }
        let mut words = Vec::with_capacity(nwords);
        for _ in 0..nwords {
            words.push(r.u64("word")?);
        }
        let nbytes = r.u32("byte count")? as usize;
        if nbytes > MAX_BYTES {
            return Err(r.err(&format!("{nbytes} bytes (at most {MAX_BYTES})")));
        }
        let bytes = r.take(nbytes, "bytes")?.to_vec();
        let nrefs = r.u8("reference count")? as usize;
        if nrefs > MAX_REFS {
            return Err(r.err(&format!("{nrefs} references (at most {MAX_REFS})")));
        }
        let mut refs = Vec::with_capacity(nrefs);
        for _ in 0..nrefs {
            refs.push(r.sturdy()?);
        }
        Ok(Message { words, bytes, refs })
    }
}

/// A message addressed to an object, as inboxes, outboxes and boxes hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub target: Swiss,
    pub msg: Message,
}

impl Delivery {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.msg.bytes.len());
        out.extend_from_slice(&self.target);
        self.msg.encode_into(&mut out);
        out
    }

    /// # Errors
    /// The offset and the problem.
    pub fn decode(bytes: &[u8]) -> Result<Delivery, String> {
        let mut r = Reader::new(bytes);
        let target = r.array::<16>("target")?;
        let msg = Message::decode_from(&mut r)?;
        r.end()?;
        Ok(Delivery { target, msg })
    }
}

/// What one committed turn of an object did, as its log keeps it: enough to replay it
/// (`docs/VATS.md`, "Persistence").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The vat's turn number.
    pub turn: u64,
    pub msg: Message,
    /// The host's answers to the object's keys during the turn.
    pub transcript: Vec<Record>,
    /// References the turn added to the object's list, in order.
    pub kept: Vec<SturdyRef>,
}

impl Entry {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.turn.to_le_bytes());
        self.msg.encode_into(&mut out);
        out.extend_from_slice(&(self.transcript.len() as u32).to_le_bytes());
        for rec in &self.transcript {
            out.push(rec.kind);
            for w in [rec.op, rec.reply.r, rec.reply.err, rec.reply.work] {
                out.extend_from_slice(&w.to_le_bytes());
            }
            out.extend_from_slice(&(rec.out.len() as u32).to_le_bytes());
            out.extend_from_slice(&rec.out);
        }
        out.extend_from_slice(&(self.kept.len() as u32).to_le_bytes());
        for r in &self.kept {
            out.extend_from_slice(&r.vat);
            out.extend_from_slice(&r.swiss);
        }
        out
    }

    /// # Errors
    /// The offset and the problem.
    pub fn decode(bytes: &[u8]) -> Result<Entry, String> {
        let mut r = Reader::new(bytes);
        let turn = r.u64("turn")?;
        let msg = Message::decode_from(&mut r)?;
        let n = r.u32("record count")? as usize;
        // Each record takes at least 37 bytes: no count can ask for more than is there.
        let mut transcript = Vec::with_capacity(n.min(r.left() / 37));
        for _ in 0..n {
            let kind = r.u8("record kind")?;
            let op = r.u64("op")?;
            let reply = Reply {
                r: r.u64("result")?,
                err: r.u64("error")?,
                work: r.u64("work")?,
            };
            let len = r.u32("record length")? as usize;
            let out = r.take(len, "record bytes")?.to_vec();
            transcript.push(Record {
                kind,
                op,
                reply,
                out,
            });
        }
        let n = r.u32("kept count")? as usize;
        if n > MAX_CLIST {
            return Err(r.err("more kept references than a list holds"));
        }
        let mut kept = Vec::with_capacity(n);
        for _ in 0..n {
            kept.push(r.sturdy()?);
        }
        r.end()?;
        Ok(Entry {
            turn,
            msg,
            transcript,
            kept,
        })
    }
}

/// A reference list as an object's row keeps it at a snapshot.
pub fn encode_refs(refs: &[SturdyRef]) -> Vec<u8> {
    let mut out = Vec::with_capacity(refs.len() * 48);
    for r in refs {
        out.extend_from_slice(&r.vat);
        out.extend_from_slice(&r.swiss);
    }
    out
}

/// # Errors
/// The offset and the problem.
pub fn decode_refs(bytes: &[u8]) -> Result<Vec<SturdyRef>, String> {
    if !bytes.len().is_multiple_of(48) || bytes.len() / 48 > MAX_CLIST {
        return Err(format!("a reference list of {} bytes", bytes.len()));
    }
    let mut r = Reader::new(bytes);
    let mut out = Vec::with_capacity(bytes.len() / 48);
    while r.left() > 0 {
        out.push(r.sturdy()?);
    }
    Ok(out)
}

/// What a box says it is: part of its nonce, so a message can never be opened as an ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum BoxKind {
    Message = 1,
    Ack = 2,
}

/// The nonce of box `seq` of `kind` from `from` to `to`: the kind, the direction (which
/// of the two keys is lower), zeros, and the sequence number big-endian. The two vats of
/// a pair share one key, so the direction byte keeps their nonces apart; sequence
/// numbers never repeat within a direction, and a retransmission boxes the same bytes.
pub fn nonce(kind: BoxKind, from: &VatId, to: &VatId, seq: u64) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[0] = kind as u8;
    n[1] = u8::from(from > to);
    n[16..].copy_from_slice(&seq.to_be_bytes());
    n
}

/// Most boxes in one request.
pub const MAX_BATCH: usize = 256;
/// Most bytes of one box: a message at its limits, its target and the box's tag.
pub const MAX_BOX: usize = 16 + 1 + MAX_WORDS * 8 + 4 + MAX_BYTES + 1 + MAX_REFS * 48 + 16;

/// A sealed box and its sequence number.
pub type SealedBox = (u64, Vec<u8>);

/// A request from one vat to another: the sender's key, then boxes with their
/// sequence numbers.
pub fn encode_batch(from: &VatId, boxes: &[SealedBox]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(from);
    out.extend_from_slice(&(boxes.len() as u32).to_le_bytes());
    for (seq, ct) in boxes {
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&(ct.len() as u32).to_le_bytes());
        out.extend_from_slice(ct);
    }
    out
}

/// The boxes of a request, in order, with its sender.
///
/// # Errors
/// The offset and the problem.
pub fn decode_batch(bytes: &[u8]) -> Result<(VatId, Vec<SealedBox>), String> {
    let mut r = Reader::new(bytes);
    let from = r.array::<32>("sender")?;
    let n = r.u32("box count")? as usize;
    if n > MAX_BATCH {
        return Err(r.err(&format!("{n} boxes (at most {MAX_BATCH})")));
    }
    let mut boxes = Vec::with_capacity(n);
    for _ in 0..n {
        let seq = r.u64("sequence number")?;
        let len = r.u32("box length")? as usize;
        if len > MAX_BOX {
            return Err(r.err(&format!("a box of {len} bytes (at most {MAX_BOX})")));
        }
        boxes.push((seq, r.take(len, "box")?.to_vec()));
    }
    r.end()?;
    Ok((from, boxes))
}

/// Reads little-endian fields, naming the field and offset of the first problem.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn err(&self, what: &str) -> String {
        format!("at byte {}: {what}", self.at)
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if n > self.left() {
            return Err(self.err(&format!("{what} needs {n} bytes, {} are left", self.left())));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn sturdy(&mut self) -> Result<SturdyRef, String> {
        Ok(SturdyRef {
            vat: self.array("reference's vat")?,
            swiss: self.array("reference's secret")?,
        })
    }

    fn end(&self) -> Result<(), String> {
        if self.left() == 0 {
            Ok(())
        } else {
            Err(self.err(&format!("{} bytes after the end", self.left())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sturdy_references_print_and_parse_back() {
        let r = SturdyRef {
            vat: [0xab; 32],
            swiss: [7; 16],
        };
        let s = r.to_string();
        assert!(s.starts_with("rarvm-vat://abab"));
        assert_eq!(SturdyRef::parse(&s), Ok(r));
        assert!(SturdyRef::parse("rarvm-vat://ab/cd").is_err());
        assert!(SturdyRef::parse(&s.replace("rarvm-vat", "http")).is_err());
    }

    #[test]
    fn every_truncation_of_an_entry_is_refused_with_its_offset() {
        let e = Entry {
            turn: 9,
            msg: Message {
                words: vec![1, 2],
                bytes: b"hi".to_vec(),
                refs: vec![SturdyRef {
                    vat: [1; 32],
                    swiss: [2; 16],
                }],
            },
            transcript: vec![Record {
                kind: 16,
                op: 4,
                reply: Reply::ok(3),
                out: vec![5, 6],
            }],
            kept: vec![],
        };
        let bytes = e.encode();
        assert_eq!(Entry::decode(&bytes), Ok(e));
        for cut in 0..bytes.len() {
            let err = Entry::decode(&bytes[..cut]).unwrap_err();
            assert!(err.starts_with("at byte "), "{err}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(Entry::decode(&long).unwrap_err().contains("after the end"));
    }

    #[test]
    fn counts_beyond_the_limits_are_refused_before_allocating() {
        let mut b = vec![0u8; 16];
        b.push(200); // words
        assert!(Delivery::decode(&b).unwrap_err().contains("at most"));
        let mut batch = vec![0u8; 32];
        batch.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_batch(&batch).unwrap_err().contains("boxes"));
    }

    #[test]
    fn directions_and_kinds_never_share_a_nonce() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let n = [
            nonce(BoxKind::Message, &a, &b, 5),
            nonce(BoxKind::Message, &b, &a, 5),
            nonce(BoxKind::Ack, &a, &b, 5),
            nonce(BoxKind::Message, &a, &b, 6),
        ];
        for i in 0..n.len() {
            for j in i + 1..n.len() {
                assert_ne!(n[i], n[j]);
            }
        }
    }
}
