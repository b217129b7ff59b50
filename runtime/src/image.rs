//! Images: the canonical binary form of a paused process tree (`docs/SPEC.md` §Image format).
//!
//! One state has exactly one encoding: every field is fixed-width, modules appear in the
//! order processes first use them, frame bases and footprints are derived rather than
//! stored, and the decoder rejects anything [`encode`] would not produce. The decoder
//! treats its input as hostile: it allocates only what the input's length justifies,
//! walks the tree without recursion, and checks every rule a resumable state obeys.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::codec::{DecodeError, Reader};
use crate::host::{Record, Reply, Transcript, MAX_TRANSCRIPT_RECORDS};
use crate::isa::{Instr, Opcode};
use crate::keys::{HostKey, KeyKind};
use crate::limits::*;
use crate::process::{path_name, Decoded, Fault, Frame, Key, Process, Status, Visit};
use crate::verify::{decode_verified, LoadError, VerifiedModule, UNREACHABLE};

/// The first bytes of every image.
pub const IMAGE_MAGIC: &[u8; 8] = b"RARVMIMG";
/// The image format version this build reads and writes.
pub const IMAGE_VERSION: u32 = 3;

/// Why bytes are not a valid image.
pub type ImageError = DecodeError;

/// The size of a process record without its memory, port, frame values and keys.
const RECORD_FIXED: u64 = 4 + 4 + 1 + 1 + 2 + 8 + 8 + 8 + 4 + 8 + 4 + 4;

/// Where encoded bytes go: a buffer, a slice, a writer, or a counter for [`encoded_len`].
/// The bytes of `words` in little-endian order, borrowed where that is the host's order.
fn le_bytes(words: &[u64]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        // SAFETY: a `u64` slice is `8 * len` initialized bytes without padding, properly
        // aligned for `u8`; the borrow lives as long as `words`.
        let bytes =
            unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), words.len() * 8) };
        std::borrow::Cow::Borrowed(bytes)
    } else {
        std::borrow::Cow::Owned(words.iter().flat_map(|w| w.to_le_bytes()).collect())
    }
}

trait Sink {
    fn raw(&mut self, v: &[u8]);
    fn u8(&mut self, v: u8) {
        self.raw(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.raw(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.raw(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.raw(&v.to_le_bytes());
    }
    fn words(&mut self, v: &[u64]) {
        self.raw(&le_bytes(v));
    }
}

impl Sink for Vec<u8> {
    fn raw(&mut self, v: &[u8]) {
        self.extend_from_slice(v);
    }
}

struct Counter(u64);

impl Sink for Counter {
    fn raw(&mut self, v: &[u8]) {
        self.0 += v.len() as u64;
    }
    fn words(&mut self, v: &[u64]) {
        self.0 += 8 * v.len() as u64;
    }
}

/// Fills a slice of exactly the image's length.
struct Slice<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Sink for Slice<'_> {
    fn raw(&mut self, v: &[u8]) {
        self.out[self.at..self.at + v.len()].copy_from_slice(v);
        self.at += v.len();
    }
}

/// Writes to an `io::Write` in chunks, hashing as it goes; keeps the first error.
struct Stream<'a, W: std::io::Write> {
    out: &'a mut W,
    buf: Vec<u8>,
    hash: blake3::Hasher,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> Stream<'_, W> {
    fn flush(&mut self) {
        self.hash.update(&self.buf);
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(&self.buf) {
                self.error = Some(e);
            }
        }
        self.buf.clear();
    }
}

impl<W: std::io::Write> Sink for Stream<'_, W> {
    fn raw(&mut self, v: &[u8]) {
        const CHUNK: usize = 1 << 16;
        if self.buf.len() + v.len() > CHUNK {
            self.flush();
        }
        if v.len() > CHUNK {
            self.hash.update(v);
            if self.error.is_none() {
                if let Err(e) = self.out.write_all(v) {
                    self.error = Some(e);
                }
            }
        } else {
            self.buf.extend_from_slice(v);
        }
    }
}

/// The image of the tree rooted at `root`, which must not be running, and of its
/// transcript.
pub fn encode(root: &Process) -> Vec<u8> {
    let mut out = Vec::new();
    encode_to(root, &mut out);
    out
}

/// [`encode`] into `out`, replacing what it held and reusing its allocation: taking image
/// after image into one buffer then writes into memory already mapped.
pub fn encode_to(root: &Process, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(usize::try_from(encoded_len(root)).unwrap_or(0));
    write_image(root, out);
    write_transcript(&root.transcript, out);
}

/// Writes the image of `root` into `out`, which must be exactly [`encoded_len`] bytes.
///
/// # Panics
/// If `out` has another length.
pub fn encode_into(root: &Process, out: &mut [u8]) {
    assert_eq!(
        out.len() as u64,
        encoded_len(root),
        "a slice of the image's length"
    );
    let mut sink = Slice { out, at: 0 };
    write_image(root, &mut sink);
    write_transcript(&root.transcript, &mut sink);
}

/// Streams the image of `root` to `out` without holding it in memory, and returns its
/// hash ([`hash_hex`]).
///
/// # Errors
/// The first error `out` returned.
pub fn write_to<W: std::io::Write>(root: &Process, out: &mut W) -> std::io::Result<String> {
    let mut sink = Stream {
        out,
        buf: Vec::with_capacity(1 << 16),
        hash: blake3::Hasher::new(),
        error: None,
    };
    write_image(root, &mut sink);
    write_transcript(&root.transcript, &mut sink);
    sink.flush();
    match sink.error {
        Some(e) => Err(e),
        None => Ok(sink.hash.finalize().to_hex().to_string()),
    }
}

/// The length of [`encode`]'s output, computed without encoding memory.
pub fn encoded_len(root: &Process) -> u64 {
    let mut c = Counter(0);
    write_image(root, &mut c);
    write_transcript(&root.transcript, &mut c);
    c.0
}

/// BLAKE3 of an image, as lowercase hex.
pub fn hash_hex(image: &[u8]) -> String {
    blake3::hash(image).to_hex().to_string()
}

fn write_image<S: Sink>(root: &Process, out: &mut S) {
    // The module table, in first-use order.
    let mut index: BTreeMap<*const VerifiedModule, u32> = BTreeMap::new();
    let mut modules: Vec<&VerifiedModule> = Vec::new();
    for v in root.walk() {
        if let Visit::Process(p, _) = v {
            index.entry(Arc::as_ptr(&p.module)).or_insert_with(|| {
                modules.push(&p.module);
                (modules.len() - 1) as u32
            });
        }
    }
    out.raw(IMAGE_MAGIC);
    out.u32(IMAGE_VERSION);
    out.u32(modules.len() as u32);
    for m in &modules {
        out.u64(m.bytes().len() as u64);
        out.raw(m.bytes());
    }
    for v in root.walk() {
        match v {
            Visit::Process(p, _) => write_record(p, index[&Arc::as_ptr(&p.module)], out),
            Visit::Key(_, Key::Empty) => out.u8(0),
            Visit::Key(_, Key::Process(_)) => out.u8(1),
            Visit::Key(_, Key::Host(k)) => write_host_key(k, out),
            Visit::Key(_, Key::Active) => unreachable!("images are taken of stopped trees only"),
        }
    }
}

fn write_host_key<S: Sink>(k: &HostKey, out: &mut S) {
    out.u8(k.kind.code());
    out.u64(k.rights);
    out.u8(k.name.len() as u8);
    out.raw(k.name.as_bytes());
    out.u16(k.scope.len() as u16);
    out.raw(&k.scope);
    out.u64(k.state);
}

fn write_transcript<S: Sink>(transcript: &[Record], out: &mut S) {
    out.u32(transcript.len() as u32);
    for rec in transcript {
        out.u8(rec.kind);
        out.u64(rec.op);
        out.u64(rec.reply.r);
        out.u64(rec.reply.err);
        out.u64(rec.reply.work);
        out.u64(rec.out.len() as u64);
        out.raw(&rec.out);
    }
}

fn write_record<S: Sink>(p: &Process, module: u32, out: &mut S) {
    out.u32(module);
    out.u32(p.entry);
    out.u8(p.status as u8);
    out.u8(p.fault as u8);
    out.u16(p.parked_slot.map_or(0, |s| s as u16 + 1));
    out.u64(p.gas_left);
    out.u64(p.gas_used);
    out.u64(p.mem_limit);
    out.u32(p.port.len() as u32);
    out.words(&p.port);
    out.u64(p.memory.len() as u64);
    out.raw(&p.memory);
    out.u32(p.frames.len() as u32);
    for (i, f) in p.frames.iter().enumerate() {
        let end = p
            .frames
            .get(i + 1)
            .map_or(p.stack.len(), |next| next.base as usize);
        let values = &p.stack[f.base as usize..end];
        out.u32(f.func);
        out.u32(f.pc);
        out.u32(values.len() as u32);
        out.words(values);
    }
    out.u32(p.keys.len() as u32);
}

/// Decodes and validates an image.
///
/// # Errors
/// An [`ImageError`] with the byte offset and what is wrong: truncation, bad magic or
/// version, lengths beyond the input or the limits, an invalid module, or a state that
/// no run could produce (a frame whose stack height disagrees with the verifier, a pc
/// that is not a resumable point, a footprint above its limit, …).
pub fn decode(bytes: &[u8]) -> Result<Box<Process>, ImageError> {
    decode_within(bytes, u64::MAX)
}

/// Reads an image's magic, version and module count.
fn module_count(r: &mut Reader<'_>) -> Result<usize, DecodeError> {
    let magic = r.take(8, "image magic")?;
    if magic != IMAGE_MAGIC {
        return Err(r.error_at(0, "not a rarvm image (bad magic)"));
    }
    let version = r.u32("image version")?;
    if version != IMAGE_VERSION {
        return Err(r.error_at(8, format!("unsupported image version {version}")));
    }
    r.count("module count", usize::MAX, 8)
}

/// The bytes of the modules in an image's module table, as far as their lengths fit in
/// `bytes` (0 if `bytes` does not begin as an image): what `child.load` charges at
/// `spawn.bytes`' rate before decoding (`docs/SPEC.md` §6.4). Reads only the lengths, at
/// most one per 8 bytes of input.
pub fn module_bytes(bytes: &[u8]) -> u64 {
    let mut r = Reader::new(bytes);
    let Ok(n) = module_count(&mut r) else {
        return 0;
    };
    let mut sum = 0;
    for _ in 0..n {
        let Ok(len) = r.u64("module length") else {
            break;
        };
        if r.take(len, "module").is_err() {
            break;
        }
        sum += len;
    }
    sum
}

/// [`decode`], holding no more than `limit` bytes of what the tree will count in its
/// footprint (memory, frames and the code footprint of its modules) while decoding: it
/// stops as soon as what it read would exceed that, so a hostile image never makes the
/// host hold more than it was allowed (`child.load`).
///
/// # Errors
/// As [`decode`]; an error with [`DecodeError::too_large`] set when the limit stopped it.
pub fn decode_within(bytes: &[u8], limit: u64) -> Result<Box<Process>, ImageError> {
    decode_in(bytes, limit, Vec::new())
}

/// [`decode`], building the root's memory in `memory`'s allocation when it is large
/// enough (trimmed to the memory's size): for loading many images, e.g. one per turn,
/// without mapping fresh memory for each. `memory`'s contents do not matter.
///
/// # Errors
/// As [`decode`]; `memory` is dropped.
pub fn decode_reusing(bytes: &[u8], memory: Vec<u8>) -> Result<Box<Process>, ImageError> {
    decode_in(bytes, u64::MAX, memory)
}

/// [`decode_within`], the root's memory built in `memory` as at [`decode_reusing`].
fn decode_in(bytes: &[u8], limit: u64, memory: Vec<u8>) -> Result<Box<Process>, ImageError> {
    let mut r = Reader::new(bytes);
    let nmodules = module_count(&mut r)?;
    let mut modules = Vec::with_capacity(nmodules);
    // What the tree will hold, at least: the code of its modules, then its processes.
    let mut held = Held { bytes: 0, limit };
    for i in 0..nmodules {
        let len = r.u64("module length")?;
        let at = r.pos();
        let module_bytes = r.take(len, "module")?;
        let module = decode_verified(module_bytes, held.room()).map_err(|e| match e {
            LoadError::Decode(e) if e.too_large.is_some() => {
                DecodeError::too_large(at + e.offset, held.bytes + e.too_large.unwrap_or(0), limit)
            }
            LoadError::Decode(e) => r.error_at(at + e.offset, format!("module {i}: {}", e.message)),
            LoadError::Verify(e) => r.error_at(at, format!("module {i} fails verification: {e}")),
        })?;
        held.add(module.code_footprint(), at)?;
        modules.push(module);
    }

    // Records in pre-order; `open` holds the chain of processes whose keys are incomplete.
    struct Open {
        proc: Box<Process>,
        keys_left: usize,
        offset: usize,
    }
    let mut next_module = 0usize;
    let mut path: Vec<usize> = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let (root, keys) = read_record(&mut r, &modules, &mut next_module, &mut held, memory)?;
    open.push(Open {
        proc: root,
        keys_left: keys,
        offset: 12,
    });
    loop {
        let top = open.last_mut().expect("loop ends when the root closes");
        if top.keys_left > 0 {
            top.keys_left -= 1;
            let at = r.pos();
            match r.u8("key kind")? {
                0 => top.proc.keys.push(Key::Empty),
                1 => {
                    path.push(top.proc.keys.len());
                    let offset = r.pos();
                    let (child, keys) =
                        read_record(&mut r, &modules, &mut next_module, &mut held, Vec::new())?;
                    open.push(Open {
                        proc: child,
                        keys_left: keys,
                        offset,
                    });
                }
                code => {
                    let kind = KeyKind::from_code(code)
                        .ok_or_else(|| r.error_at(at, format!("key kind {code} is reserved")))?;
                    let key = read_host_key(&mut r, kind)
                        .map_err(|m| r.error_at(at, format!("{kind} key: {m}")))?;
                    top.proc.keys.push(Key::Host(Box::new(key)));
                }
            }
            continue;
        }
        let mut done = open.pop().expect("top exists");
        let is_root = open.is_empty();
        if is_root {
            if next_module != modules.len() {
                return Err(r.error_at(12, format!("module {next_module} is never used")));
            }
            // The transcript counts in the top process's footprint: read it first.
            done.proc.transcript = read_transcript(&mut r)?;
        }
        validate(&mut done.proc, is_root)
            .map_err(|m| r.error_at(done.offset, format!("process {}: {m}", path_name(&path))))?;
        match open.last_mut() {
            None => {
                r.expect_end("image")?;
                return Ok(done.proc);
            }
            Some(parent) => {
                path.pop();
                parent.proc.keys.push(Key::Process(done.proc));
            }
        }
    }
}

/// What a decoder has committed the host to hold so far, against its limit.
struct Held {
    bytes: u64,
    limit: u64,
}

impl Held {
    fn room(&self) -> u64 {
        self.limit.saturating_sub(self.bytes)
    }

    /// Counts `n` more bytes (read at `at`), failing if they exceed the limit.
    fn add(&mut self, n: u64, at: usize) -> Result<(), ImageError> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.limit {
            return Err(DecodeError::too_large(at, self.bytes, self.limit));
        }
        Ok(())
    }
}

/// Reads one process record up to and including its key count, counting what it will
/// hold in `held` before allocating it.
fn read_record(
    r: &mut Reader<'_>,
    modules: &[Arc<VerifiedModule>],
    next_module: &mut usize,
    held: &mut Held,
    memory: Vec<u8>,
) -> Result<(Box<Process>, usize), ImageError> {
    let at = r.pos();
    if (r.remaining() as u64) < RECORD_FIXED {
        return Err(r.error(format!(
            "truncated process record: {} bytes remain",
            r.remaining()
        )));
    }
    held.add(PROCESS_BYTES, at)?;
    let m = r.u32("module index")? as usize;
    if m >= modules.len() || m > *next_module {
        return Err(r.error_at(
            at,
            format!("module index {m} is out of order or out of range"),
        ));
    }
    if m == *next_module {
        *next_module += 1;
    }
    let module = Arc::clone(&modules[m]);
    let entry = r.u32("entry")?;
    if entry >= module.func_count() {
        return Err(r.error_at(at + 4, format!("entry function {entry} does not exist")));
    }
    let status_at = r.pos();
    let status =
        Status::from_u8(r.u8("status")?).ok_or_else(|| r.error_at(status_at, "unknown status"))?;
    let fault = Fault::from_u8(r.u8("fault")?)
        .ok_or_else(|| r.error_at(status_at + 1, "unknown fault code"))?;
    let parked_slot = match r.u16("parked slot")? {
        0 => None,
        n if usize::from(n) <= MAX_KEYS => Some(u32::from(n) - 1),
        n => {
            return Err(r.error_at(
                status_at + 2,
                format!("parked slot {} is beyond any key list", n - 1),
            ))
        }
    };
    let gas_left = r.u64("gas left")?;
    let gas_used = r.u64("gas used")?;
    let mem_limit = r.u64("memory limit")?;
    let nport = r.count("port length", MAX_PORT, 8)?;
    let port = r.words(nport, "port")?;
    let mem_at = r.pos();
    let mem_len = r.u64("memory size")?;
    if mem_len > MAX_MEMORY {
        return Err(r.error_at(
            mem_at,
            format!("memory of {mem_len} bytes exceeds the limit {MAX_MEMORY}"),
        ));
    }
    held.add(mem_len, mem_at)?;
    let memory = copy_into(memory, r.take(mem_len, "memory")?);
    let nframes = r.count("frame count", MAX_CALL_DEPTH, 12)?;
    let mut frames = Vec::with_capacity(nframes);
    let mut stack = Vec::new();
    for _ in 0..nframes {
        let fat = r.pos();
        let func = r.u32("frame function")?;
        let pc = r.u32("frame pc")?;
        if func >= module.func_count() || pc as usize >= module.func(func).code.len() {
            return Err(r.error_at(
                fat,
                format!("frame at function {func}, instruction {pc} does not exist"),
            ));
        }
        let nvals = r.count("frame value count", MAX_STACK_WORDS - stack.len(), 8)?;
        held.add(FRAME_RECORD_BYTES + 8 * nvals as u64, fat)?;
        frames.push(Frame {
            func,
            pc,
            base: stack.len() as u32,
        });
        stack.extend(r.words(nvals, "frame values")?);
    }
    let nkeys = r.count("key count", MAX_KEYS, 1)?;
    held.add(KEY_BYTES * nkeys as u64, r.pos())?;
    let p = Process::decoded(Decoded {
        module,
        entry,
        status,
        fault,
        gas_left,
        gas_used,
        mem_limit,
        port,
        memory,
        frames,
        stack,
        keys: nkeys,
        parked_slot,
    });
    Ok((Box::new(p), nkeys))
}

/// `bytes` in `buf`'s allocation, trimmed to their length, if it holds them; else in a new
/// one (growing `buf` would copy what it held).
fn copy_into(mut buf: Vec<u8>, bytes: &[u8]) -> Vec<u8> {
    if buf.capacity() < bytes.len() {
        return bytes.to_vec();
    }
    buf.clear();
    buf.shrink_to(bytes.len());
    buf.extend_from_slice(bytes);
    buf
}

/// Reads a host key's fields after its kind code; the message says what is wrong.
fn read_host_key(r: &mut Reader<'_>, kind: KeyKind) -> Result<HostKey, String> {
    let err = |e: DecodeError| e.message;
    let rights = r.u64("key rights").map_err(err)?;
    let name_len = r.u8("grant name length").map_err(err)?;
    let name = r.take(u64::from(name_len), "grant name").map_err(err)?;
    let name = std::str::from_utf8(name)
        .map_err(|_| "the grant name is not UTF-8".to_string())?
        .to_string();
    let scope_len = r.u16("scope length").map_err(err)?;
    let scope = r.take(u64::from(scope_len), "scope").map_err(err)?.to_vec();
    let state = r.u64("key state").map_err(err)?;
    let key = HostKey {
        kind,
        rights,
        name,
        scope,
        state,
        handle: None,
    };
    key.validate()?;
    Ok(key)
}

/// Reads the transcript that follows the top process record.
fn read_transcript(r: &mut Reader<'_>) -> Result<Transcript, ImageError> {
    const RECORD_MIN: usize = 1 + 8 * 5;
    let n = r.count("transcript length", MAX_TRANSCRIPT_RECORDS, RECORD_MIN)?;
    let mut transcript = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos();
        let kind = r.u8("record kind")?;
        if KeyKind::from_code(kind).is_none_or(|k| k == KeyKind::Random) {
            return Err(r.error_at(
                at,
                format!("transcript record {i}: kind {kind} has no host answers"),
            ));
        }
        let op = r.u64("record op")?;
        let reply = Reply {
            r: r.u64("record result")?,
            err: r.u64("record error")?,
            work: r.u64("record work")?,
        };
        let len_at = r.pos();
        let len = r.u64("record length")?;
        if len > MAX_MEMORY {
            return Err(r.error_at(
                len_at,
                format!("transcript record {i}: {len} bytes exceed any memory"),
            ));
        }
        let out = r.take(len, "record bytes")?.to_vec();
        transcript.push(Record {
            kind,
            op,
            reply,
            out,
        });
    }
    Ok(transcript)
}

/// Checks that a decoded process (whose children are complete and validated) is a state
/// a run can produce and resume, and computes its footprint.
fn validate(p: &mut Process, is_root: bool) -> Result<(), String> {
    if (p.status == Status::Faulted) != (p.fault != Fault::None) {
        return Err(format!(
            "fault code {} does not match status {}",
            p.fault, p.status
        ));
    }
    if matches!(p.keys.last(), Some(Key::Empty)) {
        return Err("the key list ends in an empty slot".into());
    }
    if is_root && p.status == Status::Running {
        return Err("the top process of an image cannot be running".into());
    }
    let running = p
        .keys
        .iter()
        .filter(|k| matches!(k, Key::Process(c) if c.status == Status::Running))
        .count();
    if running > 1 {
        return Err(format!(
            "{running} children are running; at most one can be"
        ));
    }
    let in_recurse = running == 1;
    if in_recurse {
        let slot = p
            .keys
            .iter()
            .position(|k| matches!(k, Key::Process(c) if c.status == Status::Running))
            .expect("one child is running");
        p.running_slot = Some(slot as u32);
        let Key::Process(child) = &p.keys[slot] else {
            unreachable!("the running child is a process")
        };
        p.frozen_depth = child.frozen_depth + 1;
    }
    if let Some(slot) = p.parked_slot {
        // A child that stopped with processes frozen (or parked) inside it.
        let parked = match p.keys.get(slot as usize) {
            Some(Key::Process(c))
                if !matches!(c.status, Status::Running | Status::Ready)
                    && (c.running_child().is_some() || c.parked_slot.is_some()) =>
            {
                c.frozen_depth
            }
            _ => {
                return Err(format!(
                    "slot {slot} holds no stopped child with processes frozen inside it, so nothing is parked there"
                ))
            }
        };
        if in_recurse {
            return Err("a process running a child has no child parked".into());
        }
        p.frozen_depth = parked + 1;
    }
    if in_recurse
        && !matches!(
            p.status,
            Status::Running | Status::OutOfGas | Status::OutOfMemory
        )
    {
        return Err(format!(
            "a {} process cannot have a running child",
            p.status
        ));
    }
    match p.status {
        Status::Ready | Status::Returned => {
            if !p.frames.is_empty() {
                return Err(format!("a {} process has no frames", p.status));
            }
        }
        Status::Faulted if p.frames.is_empty() => {}
        _ => {
            if p.frames.is_empty() {
                return Err(format!("a {} process needs frames", p.status));
            }
            check_frames(p, in_recurse)?;
        }
    }
    let mut total = p.self_footprint();
    for key in &p.keys {
        if let Key::Process(c) = key {
            total = total.saturating_add(c.footprint);
        }
    }
    if total > p.mem_limit {
        return Err(format!(
            "footprint {total} exceeds the memory limit {}",
            p.mem_limit
        ));
    }
    p.footprint = total;
    Ok(())
}

/// Checks each frame's pc and value count against the verifier's stack heights.
fn check_frames(p: &Process, in_recurse: bool) -> Result<(), String> {
    let module = &p.module;
    let last = p.frames.len() - 1;
    for (i, f) in p.frames.iter().enumerate() {
        let func = module.func(f.func);
        let info = module.info(f.func);
        let end = p
            .frames
            .get(i + 1)
            .map_or(p.stack.len(), |next| next.base as usize);
        let values = (end - f.base as usize) as u64;
        let at = |what: &str| {
            format!(
                "frame {i} (`{}` at instruction {}): {what}",
                func.name, f.pc
            )
        };
        let height = |pc: u32| match info.height[pc as usize] {
            UNREACHABLE => Err(at("the instruction is unreachable")),
            h => Ok(u64::from(h)),
        };
        let locals = u64::from(func.local_count());
        let expected = if i < last {
            let callee = p.frames[i + 1].func;
            if f.pc == 0 || func.code[f.pc as usize - 1] != Instr::Call(callee) {
                return Err(at(
                    "a caller's frame must continue after a call of the next frame's function",
                ));
            }
            height(f.pc)? - u64::from(module.func(callee).results)
        } else {
            let op = func.code[f.pc as usize].opcode();
            let ok = match p.status {
                _ if in_recurse => op == Opcode::Recurse,
                // At a block start, or at a `recurse` whose re-linking was not paid (§8).
                Status::Running | Status::OutOfGas => {
                    info.is_block_start(f.pc) || op == Opcode::Recurse
                }
                Status::Yielded => {
                    f.pc > 0
                        && info.is_block_start(f.pc)
                        && func.code[f.pc as usize - 1].opcode() == Opcode::Yield
                }
                Status::OutOfMemory => op.info().self_metered(),
                Status::Halted => op == Opcode::Halt,
                Status::Faulted => true,
                Status::Ready | Status::Returned => unreachable!("checked by the caller"),
            };
            if !ok {
                return Err(at(&format!(
                    "not a point where a {} process can stop",
                    p.status
                )));
            }
            let h = height(f.pc)?;
            if in_recurse {
                h - 3
            } else {
                h
            }
        };
        if values != locals + expected {
            return Err(at(&format!(
                "holds {values} values, the verifier expects {}",
                locals + expected
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::verify;

    #[test]
    fn a_fresh_process_roundtrips() {
        let m = verify(
            crate::asm::assemble(
                ".memory 8\n.data 0 1 2 3\nfunc main(a) -> 1\n local.get a\n ret\nend\n",
                "t",
            )
            .unwrap(),
        )
        .unwrap();
        let mut p = Process::new(m, 0);
        p.port.push(7);
        let bytes = encode(&p);
        assert_eq!(bytes.len() as u64, encoded_len(&p));
        let back = decode(&bytes).unwrap();
        assert_eq!(encode(&back), bytes);
        assert_eq!(back.footprint, p.footprint);
    }

    /// The root's memory is built in the allocation it is given when that holds it, which
    /// is trimmed to the memory's size; a smaller one is not grown (that would copy it).
    #[test]
    fn decoding_reuses_an_allocation_that_holds_the_memory() {
        let m = verify(
            crate::asm::assemble(".memory 4096\nfunc main() -> 0\n ret\nend\n", "t").unwrap(),
        )
        .unwrap();
        let bytes = encode(&Process::new(m, 0));
        for cap in [4096, 1 << 20] {
            let buf = vec![0xaa; cap];
            let at = buf.as_ptr();
            let p = decode_reusing(&bytes, buf).unwrap();
            assert_eq!(encode(&p), bytes);
            assert_eq!(p.memory.capacity(), 4096);
            if cap == 4096 {
                assert_eq!(p.memory.as_ptr(), at, "the allocation is reused");
            }
        }
        let small = Vec::with_capacity(4095);
        let p = decode_reusing(&bytes, small).unwrap();
        assert_eq!(encode(&p), bytes);
    }

    #[test]
    fn module_bytes_sums_the_module_table_as_far_as_it_fits() {
        let m = verify(crate::asm::assemble("func main() -> 0\n nop\n ret\nend\n", "t").unwrap())
            .unwrap();
        let code = m.module().encode().len() as u64;
        let bytes = encode(&Process::new(m, 0));
        assert_eq!(module_bytes(&bytes), code);
        // Cut inside the module: its length no longer fits.
        assert_eq!(module_bytes(&bytes[..24 + code as usize - 1]), 0);
        assert_eq!(module_bytes(&bytes[..24 + code as usize]), code);
        assert_eq!(module_bytes(b"RARVMIMG"), 0);
        assert_eq!(module_bytes(&[0; 64]), 0);
        // A table claiming more modules than the bytes can hold is not an image's.
        let mut lying = bytes[..12].to_vec();
        lying.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(module_bytes(&lying), 0);
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(decode(b"").unwrap_err().message.contains("truncated"));
        assert!(decode(b"RARVMIMX\x01\0\0\0")
            .unwrap_err()
            .message
            .contains("magic"));
        for old in [
            b"RARVMIMG\x01\0\0\0",
            b"RARVMIMG\x02\0\0\0",
            b"RARVMIMG\x04\0\0\0",
        ] {
            assert!(decode(old).unwrap_err().message.contains("version"));
        }
    }
}
