//! An object's power: the one key it holds, `vat` (custom kind 16), through which it reads
//! its message, sends, calls and makes objects (`docs/VATS.md`, "The vat key"). Its
//! answers go into the transcript, so a replayed turn never reaches this code.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use rarvm::host::{HostKey, KeyKind, Reply, Resource, ResourceCall};

use crate::turn::World;
use crate::wire::{MAX_BYTES, MAX_REFS, MAX_WORDS};

/// The key kind of the vat key.
pub const KIND: u8 = 16;
/// The grant name objects declare it under: `grant vat: custom16`.
pub const GRANT: &str = "vat";

/// The vat key's operations (`op` of `key.invoke`).
pub mod ops {
    /// The vat's turn number: the object's clock.
    pub const TURN: u64 = 0;
    /// Appends `arg` to the words of the message being built.
    pub const PUT: u64 = 1;
    /// Sets the message's bytes to the range's.
    pub const PUT_BYTES: u64 = 2;
    /// Attaches reference `arg` of the object's list to the message.
    pub const PUT_REF: u64 = 3;
    /// Sends the message to reference `arg`, to be delivered in a later turn; the next
    /// message starts empty.
    pub const SEND: u64 = 4;
    /// Delivers the message to reference `arg` (an object of this vat) now and runs its
    /// turn to its `yield`; gives how many words it yielded. Its gas is this call's host
    /// work.
    pub const CALL: u64 = 5;
    /// Word `arg` of what the last call yielded.
    pub const RESULT: u64 = 6;
    /// Copies the bytes of the message being handled into the range; gives their length.
    pub const IN_BYTES: u64 = 7;
    /// How many references the message being handled carries.
    pub const IN_REFS: u64 = 8;
    /// Keeps reference `arg` of the message being handled: gives its index in the list.
    pub const IN_REF: u64 = 9;
    /// Makes an object of the module bytes in the range, with `arg` gas per turn (at most
    /// this object's), this object's memory limit and the references attached to the
    /// message as its list; gives the new reference's index in this object's list.
    pub const MAKE: u64 = 10;
    /// How many references the object's list holds (index 0 is the object itself).
    pub const REFS: u64 = 11;
}

/// The vat key's error codes.
pub mod errors {
    pub const NO_REF: u64 = 1;
    pub const TOO_LARGE: u64 = 2;
    pub const BUSY: u64 = 3;
    pub const FAILED: u64 = 4;
    pub const NOT_LOCAL: u64 = 5;
    pub const BAD_MODULE: u64 = 6;
    pub const LIMIT: u64 = 7;
    pub const NO_OBJECT: u64 = 8;
    /// Answered while a turn is replayed: the replay asked for something its log does not
    /// hold.
    pub const REPLAY: u64 = 9;
}

/// The host work of handling `n` bytes, in gas: a word's worth per gas.
pub fn byte_work(n: usize) -> u64 {
    (n as u64).div_ceil(8)
}

/// Host work of queueing a message beyond its bytes: the rows it writes.
pub const SEND_WORK: u64 = 64;
/// Host work of making an object beyond verifying its bytes.
pub const MAKE_WORK: u64 = 1024;

/// The resource behind one object's vat key.
pub struct Power {
    /// Weak: the world holds the objects that hold their keys.
    world: Option<Weak<Mutex<World>>>,
    obj: crate::wire::Swiss,
    /// False while the object is being restored from its log: nothing may answer then.
    pub(crate) live: Arc<AtomicBool>,
}

impl Power {
    /// A key for `obj` in `world`, answering once `live` is set.
    pub(crate) fn new(
        world: Option<&Arc<Mutex<World>>>,
        obj: crate::wire::Swiss,
        live: Arc<AtomicBool>,
    ) -> Power {
        Power {
            world: world.map(Arc::downgrade),
            obj,
            live,
        }
    }
}

impl Resource for Power {
    fn kind(&self) -> KeyKind {
        KeyKind::Custom(KIND)
    }

    fn describe(&self, _key: &HostKey) -> String {
        "the vat".into()
    }

    fn invoke(&mut self, call: ResourceCall<'_>) -> Reply {
        let world = match (&self.world, self.live.load(Ordering::Acquire)) {
            (Some(w), true) => w.upgrade(),
            _ => None,
        };
        let Some(world) = world else {
            return fail(errors::REPLAY);
        };
        if call.op == ops::CALL {
            return crate::turn::call(&world, &self.obj, call.arg, call.work_limit);
        }
        let mut w = world.lock().expect("a turn never panics holding the world");
        w.answer(&self.obj, call)
    }
}

/// Staged outbound message limits, checked as it is built.
pub(crate) fn put_fits(words: usize, bytes: usize, refs: usize) -> bool {
    words <= MAX_WORDS && bytes <= MAX_BYTES && refs <= MAX_REFS
}

pub(crate) fn fail(code: u64) -> Reply {
    Reply {
        r: 0,
        err: code,
        work: 0,
    }
}
