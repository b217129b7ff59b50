//! Processes: the state of one node of the process tree.

use std::sync::Arc;

use crate::host::{Record, Transcript};
use crate::keys::HostKey;
use crate::limits::*;
use crate::verify::VerifiedModule;

crate::code_enum! {
    /// A process's status. The code is what `recurse` and `child.info status` push.
    pub enum Status {
        /// Created, not yet started: its port holds the entry function's arguments.
        Ready = 0 => "ready",
        /// Running, or frozen inside a stopped ancestor.
        Running = 1 => "running",
        /// Its entry function returned; the results are on its port.
        Returned = 2 => "returned",
        /// It executed `halt`.
        Halted = 3 => "halted",
        /// It executed `yield`; `recurse` resumes it.
        Yielded = 4 => "yielded",
        /// It (or, below it, a frozen descendant) could not pay for gas; resumable.
        OutOfGas = 5 => "out_of_gas",
        /// It (or a frozen descendant) could not get memory; resumable.
        OutOfMemory = 6 => "out_of_memory",
        /// It faulted; see its [`Fault`].
        Faulted = 7 => "fault",
    }
}

impl Status {
    /// True for statuses no `recurse` can change: returned, halted, faulted.
    pub const fn is_final(self) -> bool {
        matches!(self, Status::Returned | Status::Halted | Status::Faulted)
    }
}

crate::code_enum! {
    /// Why a process faulted. One code shared by every engine.
    pub enum Fault {
        None = 0 => "none",
        OutOfBounds = 1 => "out_of_bounds",
        DivisionByZero = 2 => "division_by_zero",
        StackOverflow = 3 => "stack_overflow",
        StackUnderflow = 4 => "stack_underflow",
        CallDepth = 5 => "call_depth",
        InvalidKey = 6 => "invalid_key",
        BadArity = 7 => "bad_arity",
        MemoryCap = 8 => "memory_cap",
        Trap = 9 => "trap",
        KeyLimit = 10 => "key_limit",
    }
}

/// One activation of a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub func: u32,
    /// Where the frame continues: for the top frame, the instruction to execute next
    /// (or the one that stopped it); for callers, the instruction after their `call`.
    pub pc: u32,
    /// Index in the value stack of the frame's first local.
    pub base: u32,
}

/// A slot of a process's key list (its c-list).
#[derive(Debug)]
pub enum Key {
    Empty,
    /// A child process and, inside it, its whole subtree.
    Process(Box<Process>),
    /// A child currently on the run chain; the machine puts it back when it stops.
    Active,
    /// A key to a host resource.
    Host(Box<HostKey>),
}

impl Key {
    /// The code `key.kind` pushes.
    pub fn kind(&self) -> u64 {
        match self {
            Key::Empty => 0,
            Key::Process(_) | Key::Active => 1,
            Key::Host(k) => u64::from(k.kind.code()),
        }
    }

    /// The code `key.rights` pushes.
    pub fn rights(&self) -> u64 {
        match self {
            Key::Host(k) => k.rights,
            Key::Empty | Key::Process(_) | Key::Active => 0,
        }
    }
}

/// A process: code, status, resources, value stack, frames, memory, port and keys.
///
/// Only the machine and the engines mutate a process; between runs its state is
/// canonical and serializes to an image.
#[derive(Debug)]
pub struct Process {
    pub module: Arc<VerifiedModule>,
    /// The function the process starts in.
    pub entry: u32,
    pub status: Status,
    /// `Fault::None` unless `status` is `Faulted`.
    pub fault: Fault,
    /// Gas this process may still use (descendants' use included).
    pub gas_left: u64,
    /// Gas charged to this process so far (descendants' use included).
    pub gas_used: u64,
    /// Largest total footprint allowed, in bytes.
    pub mem_limit: u64,
    /// Cached total footprint (self plus children), in bytes; see [`Process::self_footprint`].
    pub footprint: u64,
    /// Words exchanged with the parent: arguments in, results out.
    pub port: Vec<u64>,
    pub memory: Vec<u8>,
    pub frames: Vec<Frame>,
    /// All frames' locals and operands; its length is the stack pointer between runs.
    pub stack: Vec<u64>,
    /// The key list. Never ends in an empty slot.
    pub keys: Vec<Key>,
    /// The host's answers to this tree's `key.invoke`s, if this is the root of a run
    /// (empty for every other process); counted in its own footprint.
    pub transcript: Transcript,
    /// True while the process is on the machine's spine (running, frozen, or parked with
    /// frozen descendants); only the machine sets it.
    pub(crate) on_spine: bool,
    /// How many words at the start of `stack`'s buffer have been written, at least `stack.len()`
    /// and at most its capacity: reserving them again needs no zeroing.
    stack_init: usize,
    /// A hint: the slot of the running child frozen inside this process, if any.
    pub(crate) running_slot: Option<u32>,
    /// While off the spine: how many processes the machine takes out of their slots below
    /// this one when it resumes it (its frozen running children, and the chains parked
    /// under them), so it knows what re-linking them costs before doing it (`docs/SPEC.md`
    /// §8).
    pub(crate) frozen_depth: u32,
    /// The slot of the child *parked* under this process: a child that stopped while
    /// processes stayed frozen inside it, and that this process has not since turned away
    /// from (resumed another child, saved or dropped it). Resuming it costs no re-linking.
    /// Part of the tree's state, and of images (`docs/SPEC.md` §8, §11).
    pub parked_slot: Option<u32>,
}

/// The buffers of a process, for [`Process::in_buffers`] to build one in.
#[derive(Default)]
pub(crate) struct Buffers {
    pub port: Vec<u64>,
    pub memory: Vec<u8>,
    pub frames: Vec<Frame>,
    pub stack: Vec<u64>,
    pub keys: Vec<Key>,
}

impl Buffers {
    /// Empties every buffer, keeping its capacity.
    pub fn clear(&mut self) {
        self.port.clear();
        self.memory.clear();
        self.frames.clear();
        self.stack.clear();
        self.keys.clear();
    }
}

/// Spare capacity a stopped process keeps in each of its vectors beyond what they hold: a
/// sixteenth of what they hold, plus this many bytes (twice as much before it is trimmed).
/// Together well within what `PROCESS_BYTES` counts beyond the process's record.
const SPARE_BYTES: usize = 128;

impl Process {
    /// A `ready` process that will run `entry` of `module`, with the module's initial
    /// memory, no gas and no headroom (its limit is its footprint).
    pub fn new(module: Arc<VerifiedModule>, entry: u32) -> Process {
        Process::in_buffers(module, entry, Buffers::default())
    }

    /// [`Process::new`], in `buffers` (emptied) rather than new ones.
    pub(crate) fn in_buffers(module: Arc<VerifiedModule>, entry: u32, b: Buffers) -> Process {
        let Buffers {
            port,
            mut memory,
            frames,
            stack,
            keys,
        } = b;
        let m = module.module();
        let size = m.memory_size as usize;
        if memory.capacity() >= size {
            memory.clear();
            memory.resize(size, 0);
        } else {
            // Zeroed by the allocator: fresh pages stay untouched until the program uses
            // them, which is what `spawn`'s gas for the memory assumes.
            memory = vec![0u8; size];
        }
        for seg in &m.data {
            let at = seg.offset as usize;
            memory[at..at + seg.bytes.len()].copy_from_slice(&seg.bytes);
        }
        let mut p = Process {
            module,
            entry,
            status: Status::Ready,
            fault: Fault::None,
            gas_left: 0,
            gas_used: 0,
            mem_limit: 0,
            footprint: 0,
            port,
            memory,
            frames,
            stack,
            keys,
            transcript: Vec::new(),
            on_spine: false,
            stack_init: 0,
            running_slot: None,
            frozen_depth: 0,
            parked_slot: None,
        };
        p.footprint = p.self_footprint();
        p.mem_limit = p.footprint;
        p
    }

    /// A process as an image holds it; footprints and derived state are the decoder's
    /// to compute.
    pub(crate) fn decoded(d: Decoded) -> Process {
        let stack_init = d.stack.len();
        Process {
            module: d.module,
            entry: d.entry,
            status: d.status,
            fault: d.fault,
            gas_left: d.gas_left,
            gas_used: d.gas_used,
            mem_limit: d.mem_limit,
            footprint: 0,
            port: d.port,
            memory: d.memory,
            frames: d.frames,
            stack: d.stack,
            keys: Vec::with_capacity(d.keys),
            transcript: Vec::new(),
            on_spine: false,
            stack_init,
            running_slot: None,
            frozen_depth: 0,
            parked_slot: d.parked_slot,
        }
    }

    /// The footprint a fresh process of `entry` in `module` would have, without allocating it.
    pub fn initial_footprint(module: &VerifiedModule, entry: u32) -> u64 {
        PROCESS_BYTES + module.module().memory_size + module.info(entry).frame_bytes
    }

    /// This process's own footprint, children excluded (`docs/SPEC.md` §Footprint):
    /// the process record, every key slot (host keys with their records), memory, frames
    /// (a `ready` process counts its entry frame), the code of each child whose module is
    /// not this one's, and its transcript.
    pub fn self_footprint(&self) -> u64 {
        let frames: u64 = if self.status == Status::Ready {
            self.module.info(self.entry).frame_bytes
        } else {
            self.frames
                .iter()
                .map(|f| self.module.info(f.func).frame_bytes)
                .sum()
        };
        let mut keys = KEY_BYTES * self.keys.len() as u64;
        let mut code = 0u64;
        for key in &self.keys {
            match key {
                Key::Process(child) => {
                    if !Arc::ptr_eq(&child.module, &self.module) {
                        code += child.module.code_footprint();
                    }
                }
                Key::Host(k) => keys += k.record_bytes(),
                Key::Empty | Key::Active => {}
            }
        }
        let transcript: u64 = self.transcript.iter().map(Record::footprint).sum();
        PROCESS_BYTES + keys + self.memory.len() as u64 + frames + code + transcript
    }

    /// The footprint a new key in slot `slot` adds: `KEY_BYTES` for a slot past the end
    /// of the key list, nothing for an empty slot inside it (which counts already).
    pub fn slot_bytes(&self, slot: usize) -> u64 {
        if slot >= self.keys.len() {
            KEY_BYTES
        } else {
            0
        }
    }

    /// Makes the value stack `len` words long if it is shorter, for a frame about to run.
    /// Words beyond the old length hold whatever was written there before, or zero: every
    /// reader writes a word before it reads it. Only words never written are zeroed, so
    /// reserving a frame again after a stop costs nothing.
    #[inline]
    pub fn reserve_stack(&mut self, len: usize) {
        if self.stack.len() < len {
            self.grow_stack(len);
        }
    }

    #[cold]
    fn grow_stack(&mut self, len: usize) {
        let written = self.stack_init.min(len);
        crate::meter::touched(8 * (len - written.max(self.stack.len())) as u64);
        if self.stack.len() < written {
            // SAFETY: `stack_init <= capacity`, and every word below it was written; a `u64`
            // has no invalid bit patterns and no drop, and the vector only shrank its length
            // since (which leaves the buffer as it was), so the words are initialized.
            unsafe { self.stack.set_len(written) };
        }
        self.stack.resize(len, 0);
        self.stack_init = self.stack_init.max(len);
    }

    /// Records that an engine wrote the value stack up to its current length (native code
    /// writes frames directly into the buffer).
    pub fn stack_written(&mut self) {
        self.stack_init = self.stack_init.max(self.stack.len());
    }

    /// Gives back spare capacity of the value stack, frames, key list and port beyond a
    /// sixteenth more than they hold: a stopped process keeps only about what its
    /// footprint counts. Shrinking happens only after a vector grew well past its length,
    /// so its cost is paid by what made it grow.
    pub(crate) fn trim(&mut self) {
        fn trim<T>(v: &mut Vec<T>, needed: usize) {
            let spare = needed / 16 + SPARE_BYTES / size_of::<T>();
            if v.capacity() > needed + 2 * spare {
                v.shrink_to(needed + spare);
            }
        }
        // The top frame may use all its words again (they are counted in its frame bytes).
        let top_end = self.frames.last().map_or(0, |f| {
            f.base as usize + self.module.info(f.func).frame_words as usize
        });
        let needed = top_end.max(self.stack.len());
        trim(&mut self.stack, needed);
        self.stack_init = self.stack_init.min(self.stack.capacity());
        let (frames, keys) = (self.frames.len(), self.keys.len());
        trim(&mut self.frames, frames);
        trim(&mut self.keys, keys);
    }

    /// The footprint charged to the parent for holding `child` in a key: the key, the
    /// child's total footprint, and its code footprint if the child's module is not the
    /// parent's.
    pub fn child_charge(&self, child: &Process) -> u64 {
        let code = if Arc::ptr_eq(&child.module, &self.module) {
            0
        } else {
            child.module.code_footprint()
        };
        KEY_BYTES + child.footprint + code
    }

    /// Memory headroom: `mem_limit - footprint` (0 if the limit was lowered below it).
    pub fn mem_left(&self) -> u64 {
        self.mem_limit.saturating_sub(self.footprint)
    }

    /// The child in `slot`, if the slot holds a process.
    pub fn child(&self, slot: u64) -> Option<&Process> {
        match self.keys.get(usize::try_from(slot).ok()?)? {
            Key::Process(p) => Some(p),
            _ => None,
        }
    }

    /// The child in `slot`, mutably, if the slot holds a process.
    pub fn child_mut(&mut self, slot: u64) -> Option<&mut Process> {
        match self.keys.get_mut(usize::try_from(slot).ok()?)? {
            Key::Process(p) => Some(p),
            _ => None,
        }
    }

    /// True while part of this process's subtree is on the machine's run chain, so it
    /// cannot be serialized until the machine folds it back (see [`crate::Exit::Fold`]).
    pub fn on_spine(&self) -> bool {
        self.on_spine
    }

    /// True if a process of this subtree holds a host key that is not pure VM state
    /// (see [`HostKey::is_pure`]): a key the host would answer.
    pub fn holds_host_authority(&self) -> bool {
        self.walk()
            .any(|v| matches!(v, Visit::Key(_, Key::Host(k)) if !k.is_pure()))
    }

    /// The slot of the child frozen inside this process's `recurse`, if any (the machine
    /// and the image decoder keep [`Process::running_slot`] pointing at it).
    pub fn running_child(&self) -> Option<u32> {
        if !matches!(
            self.status,
            Status::OutOfGas | Status::OutOfMemory | Status::Running
        ) {
            return None;
        }
        let slot = self.running_slot?;
        matches!(self.keys.get(slot as usize), Some(Key::Process(c)) if c.status == Status::Running)
            .then_some(slot)
    }

    /// The lowest empty slot, or the next one past the end.
    pub fn free_slot(&self) -> usize {
        self.keys
            .iter()
            .position(|k| matches!(k, Key::Empty))
            .unwrap_or(self.keys.len())
    }

    /// Number of occupied key slots.
    pub fn occupied_keys(&self) -> usize {
        self.keys
            .iter()
            .filter(|k| !matches!(k, Key::Empty))
            .count()
    }

    /// Hands a new root `key` from its host, in the next slot: its footprint and memory
    /// limit grow by the key's bytes together (a new root's limit is its footprint, and the
    /// host's grants do not count against what it gives the root later).
    pub fn grant_key(&mut self, key: HostKey) {
        let bytes = KEY_BYTES + key.record_bytes();
        self.keys.push(Key::Host(Box::new(key)));
        self.footprint += bytes;
        self.mem_limit += bytes;
    }

    /// Places `key` in `slot`: an empty slot, or the one past the end of the key list.
    pub fn put_key(&mut self, slot: usize, key: Key) {
        if slot == self.keys.len() {
            self.keys.push(key);
        } else {
            debug_assert!(matches!(self.keys[slot], Key::Empty));
            self.keys[slot] = key;
        }
    }

    /// Empties `slot` and trims trailing empty slots; returns what it held.
    pub fn take_key(&mut self, slot: usize) -> Key {
        let key = std::mem::replace(&mut self.keys[slot], Key::Empty);
        while matches!(self.keys.last(), Some(Key::Empty)) {
            self.keys.pop();
        }
        key
    }

    /// Recomputes every cached footprint in the subtree and checks none exceeds its limit
    /// (the loader's consistency rule).
    pub fn recompute_footprints(&mut self) -> Result<(), String> {
        self.visit_post_order(&mut |p, path| {
            let mut total = p.self_footprint();
            for key in &p.keys {
                if let Key::Process(c) = key {
                    total = total.saturating_add(c.footprint);
                }
            }
            p.footprint = total;
            if total > p.mem_limit {
                return Err(format!(
                    "process {} has footprint {total} above its memory limit {}",
                    path_name(path),
                    p.mem_limit
                ));
            }
            Ok(())
        })
    }

    /// Calls `f` on every process of the subtree, children before parents, with its path
    /// of key slots from `self`. Iterative: a deep tree uses no host stack. Stops at the
    /// first error.
    pub fn visit_post_order<E>(&mut self, f: &mut Visitor<'_, E>) -> Result<(), E> {
        // Children are detached while visited (their slot holds `Key::Active`) and put
        // back once done; `open` holds the detached chain with the next slot to look at.
        let mut open: Vec<(Box<Process>, usize)> = Vec::new();
        let mut path: Vec<usize> = Vec::new();
        let mut root_next = 0usize;
        loop {
            let (node, next): (&mut Process, &mut usize) = match open.last_mut() {
                Some((p, next)) => (&mut **p, next),
                None => (&mut *self, &mut root_next),
            };
            let found = (*next..node.keys.len()).find(|&s| matches!(node.keys[s], Key::Process(_)));
            if let Some(slot) = found {
                *next = slot + 1;
                let Key::Process(child) = std::mem::replace(&mut node.keys[slot], Key::Active)
                else {
                    unreachable!("slot was found holding a process")
                };
                path.push(slot);
                open.push((child, 0));
                continue;
            }
            let result = f(node, &path);
            match open.pop() {
                None => return result,
                Some((child, _)) => {
                    let slot = path.pop().expect("one path entry per open child");
                    let parent: &mut Process = match open.last_mut() {
                        Some((p, _)) => p,
                        None => self,
                    };
                    parent.keys[slot] = Key::Process(child);
                    if let Err(e) = result {
                        // Reattach everything still detached before reporting.
                        while let Some((child, _)) = open.pop() {
                            let slot = path.pop().expect("one path entry per open child");
                            let parent: &mut Process = match open.last_mut() {
                                Some((p, _)) => p,
                                None => self,
                            };
                            parent.keys[slot] = Key::Process(child);
                        }
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// What an image holds of a process (see [`Process::decoded`]).
pub(crate) struct Decoded {
    pub module: Arc<VerifiedModule>,
    pub entry: u32,
    pub status: Status,
    pub fault: Fault,
    pub gas_left: u64,
    pub gas_used: u64,
    pub mem_limit: u64,
    pub port: Vec<u64>,
    pub memory: Vec<u8>,
    pub frames: Vec<Frame>,
    pub stack: Vec<u64>,
    /// How many key slots follow.
    pub keys: usize,
    pub parked_slot: Option<u32>,
}

/// One step of [`Process::walk`].
#[derive(Clone, Copy, Debug)]
pub enum Visit<'a> {
    /// A process, before its key slots, `depth` levels below the walk's start.
    Process(&'a Process, usize),
    /// A key slot, before the subtree of the child it holds: its slot number and key.
    Key(usize, &'a Key),
}

/// A pre-order walk of a process tree (see [`Process::walk`]). Iterative: a deep tree uses
/// no host stack.
pub struct Walk<'a> {
    /// The processes whose keys are being visited, each with the next slot to visit.
    open: Vec<(&'a Process, usize)>,
    start: Option<&'a Process>,
}

impl<'a> Iterator for Walk<'a> {
    type Item = Visit<'a>;

    fn next(&mut self) -> Option<Visit<'a>> {
        if let Some(p) = self.start.take() {
            let depth = self.open.len();
            self.open.push((p, 0));
            return Some(Visit::Process(p, depth));
        }
        loop {
            let (p, next) = self.open.last_mut()?;
            let Some(key) = p.keys.get(*next) else {
                self.open.pop();
                continue;
            };
            let slot = *next;
            *next += 1;
            if let Key::Process(child) = key {
                // The key first; the child's record follows on the next call.
                self.start = Some(child);
            }
            return Some(Visit::Key(slot, key));
        }
    }
}

/// A process of a walk and its path of key slots from the walk's start.
pub struct WithPath<'a> {
    walk: Walk<'a>,
    path: Vec<usize>,
    /// The slot of the child key just visited, which the next process record belongs to.
    pending: Option<usize>,
}

impl<'a> Iterator for WithPath<'a> {
    type Item = (Vec<usize>, &'a Process);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.walk.next()? {
                Visit::Key(slot, Key::Process(_)) => self.pending = Some(slot),
                Visit::Key(..) => {}
                Visit::Process(p, depth) => {
                    self.path.truncate(depth.saturating_sub(1));
                    if let Some(slot) = self.pending.take() {
                        self.path.push(slot);
                    }
                    return Some((self.path.clone(), p));
                }
            }
        }
    }
}

impl Process {
    /// Every process of this subtree and every key slot, in pre-order: a process, then its
    /// key slots in order, each child's subtree right after its slot. The image format, the
    /// command line's `inspect` and the conformance suite all walk trees this way.
    pub fn walk(&self) -> Walk<'_> {
        Walk {
            open: Vec::new(),
            start: Some(self),
        }
    }

    /// The processes of [`Process::walk`] with their paths of key slots (see [`path_name`]).
    pub fn processes(&self) -> WithPath<'_> {
        WithPath {
            walk: self.walk(),
            path: Vec::new(),
            pending: None,
        }
    }
}

/// A callback of [`Process::visit_post_order`]: a process and its path of key slots.
pub type Visitor<'a, E> = dyn FnMut(&mut Process, &[usize]) -> Result<(), E> + 'a;

/// A process's position in its tree, as `root` or `root.3.0` (key slots).
pub fn path_name(path: &[usize]) -> String {
    let mut s = String::from("root");
    for slot in path {
        s.push('.');
        s.push_str(&slot.to_string());
    }
    s
}

impl Drop for Process {
    /// Drops the subtree iteratively, so a deep tree cannot overflow the host stack.
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let mut pending: Vec<Box<Process>> = Vec::new();
        for key in self.keys.drain(..) {
            if let Key::Process(child) = key {
                pending.push(child);
            }
        }
        while let Some(mut p) = pending.pop() {
            for key in p.keys.drain(..) {
                if let Key::Process(child) = key {
                    pending.push(child);
                }
            }
        }
    }
}
