//! A read-only view of a process tree: what a paused run looks like from outside.

use rarvm_runtime::debug::Position;
use rarvm_runtime::keys::KeyKind;
use rarvm_runtime::process::{path_name, Fault, Key, Process, Status};

/// One process of a tree, read-only.
#[derive(Clone, Copy)]
pub struct ProcessView<'a>(pub(crate) &'a Process);

/// A host key in a process's key list.
#[derive(Clone, Copy, Debug)]
pub struct KeyView<'a> {
    pub slot: usize,
    pub kind: KeyKind,
    /// The grant it derives from.
    pub name: &'a str,
    pub rights: u64,
    /// A filesystem key's path below its grant's root (empty: the root itself).
    pub scope: &'a [u8],
    /// Answered by the VM itself from the key's state (a random generator, a virtual
    /// clock), never by a resource.
    pub pure: bool,
}

impl<'a> ProcessView<'a> {
    pub fn status(&self) -> Status {
        self.0.status
    }

    /// The fault code, when the status is `fault`.
    pub fn fault(&self) -> Option<Fault> {
        (self.0.status == Status::Faulted).then_some(self.0.fault)
    }

    /// The name of the function it started in.
    pub fn entry(&self) -> &'a str {
        &self.0.module.func(self.0.entry).name
    }

    pub fn gas_left(&self) -> u64 {
        self.0.gas_left
    }

    pub fn gas_used(&self) -> u64 {
        self.0.gas_used
    }

    /// Its linear memory.
    pub fn memory(&self) -> &'a [u8] {
        &self.0.memory
    }

    /// Its total footprint (`docs/SPEC.md` §5.3), children included.
    pub fn footprint(&self) -> u64 {
        self.0.footprint
    }

    pub fn mem_limit(&self) -> u64 {
        self.0.mem_limit
    }

    /// What it may still add to its footprint: its limit less its footprint.
    pub fn mem_left(&self) -> u64 {
        self.0.mem_left()
    }

    /// How many key slots it has, empty ones included.
    pub fn key_slots(&self) -> usize {
        self.0.keys.len()
    }

    /// How many frames it has.
    pub fn frames(&self) -> usize {
        self.0.frames.len()
    }

    /// Words on its value stack (all frames' locals and operands).
    pub fn stack_len(&self) -> usize {
        self.0.stack.len()
    }

    /// Its port, bottom first: an entry function's arguments before it starts, its results
    /// after it returned.
    pub fn port(&self) -> &'a [u64] {
        &self.0.port
    }

    /// Where it is stopped: its top frame's function and instruction index.
    pub fn at(&self) -> Option<(&'a str, u32)> {
        let f = self.0.frames.last()?;
        Some((&self.0.module.func(f.func).name, f.pc))
    }

    /// Where it is stopped in its source, when its module carries a debug section
    /// (`docs/SPEC.md` §3.2): the position of its top frame's instruction — the one that
    /// faulted, halted or could not be paid for, or the `recurse` of a running child — and
    /// for a `yielded` process the `yield` it executed.
    pub fn position(&self) -> Option<Position> {
        let f = self.0.frames.last()?;
        let pc = match self.0.status {
            Status::Yielded => f.pc.checked_sub(1)?,
            _ => f.pc,
        };
        self.0.module.position(f.func, pc)
    }

    /// [`ProcessView::position`] as `file:LINE:COL in FUNCTION` if there is one, else
    /// [`ProcessView::at`] as `FUNCTION:PC`; `None` without frames.
    pub fn location(&self) -> Option<String> {
        match self.position() {
            Some(p) => Some(p.to_string()),
            None => self.at().map(|(func, pc)| format!("{func}:{pc}")),
        }
    }

    /// Its host keys, with their slots.
    pub fn host_keys(&self) -> impl Iterator<Item = KeyView<'a>> + 'a {
        self.0
            .keys
            .iter()
            .enumerate()
            .filter_map(|(slot, k)| match k {
                Key::Host(k) => Some(KeyView {
                    slot,
                    kind: k.kind,
                    name: &k.name,
                    rights: k.rights,
                    scope: &k.scope,
                    pure: k.is_pure(),
                }),
                Key::Empty | Key::Process(_) | Key::Active => None,
            })
    }

    /// Its children, with their slots.
    pub fn children(&self) -> impl Iterator<Item = (usize, ProcessView<'a>)> + 'a {
        self.0
            .keys
            .iter()
            .enumerate()
            .filter_map(|(slot, k)| match k {
                Key::Process(c) => Some((slot, ProcessView(c))),
                Key::Empty | Key::Host(_) | Key::Active => None,
            })
    }

    /// Every process of its subtree, parents first and children in slot order, each with
    /// its path from here (`root`, `root.3.0`: key slots).
    pub fn processes(&self) -> impl Iterator<Item = (String, ProcessView<'a>)> + 'a {
        self.0
            .processes()
            .map(|(path, p)| (path_name(&path), ProcessView(p)))
    }

    /// The process at `path` (`root`, `root.0.1`, …) in its subtree.
    pub fn find(&self, path: &str) -> Option<ProcessView<'a>> {
        let mut parts = path.split('.');
        if parts.next() != Some("root") {
            return None;
        }
        let mut p = self.0;
        for slot in parts {
            p = match p.keys.get(slot.parse::<usize>().ok()?)? {
                Key::Process(c) => c,
                Key::Empty | Key::Host(_) | Key::Active => return None,
            };
        }
        Some(ProcessView(p))
    }
}
