//! Spare process records: the record and buffers of a child that `key.drop` released,
//! kept on this thread for the next `spawn`, so that the sandbox pattern — spawn, run,
//! drop — allocates nothing once it is warm.
//!
//! A bounded cache (`docs/SPEC.md` §7.1): at most [`SHELLS`] records, each kept only if
//! its buffers hold at most [`SHELL_BYTES`] bytes, so a thread holds at most
//! `SHELLS * (SHELL_BYTES + size_of::<Process>())` bytes here beyond every footprint.
//! Reuse is invisible: a process built from a shell is the process [`Process::new`]
//! builds, and nothing a program or an image can observe depends on a buffer's capacity.

use std::cell::RefCell;
use std::mem::{take, MaybeUninit};
use std::sync::Arc;

use crate::process::{Buffers, Frame, Key, Process};
use crate::verify::VerifiedModule;

/// How many spare records a thread keeps.
pub const SHELLS: usize = 16;

/// The most bytes of buffer capacity a kept record may hold.
pub const SHELL_BYTES: usize = 4096;

/// A dropped process's allocations, its record uninitialized.
struct Shell {
    record: Box<MaybeUninit<Process>>,
    buffers: Buffers,
}

thread_local! {
    static SPARE: RefCell<Vec<Shell>> = const { RefCell::new(Vec::new()) };
}

/// A `ready` process as [`Process::new`] builds it, in a spare record if there is one.
pub fn spawn(module: Arc<VerifiedModule>, entry: u32) -> Box<Process> {
    match SPARE.with_borrow_mut(Vec::pop) {
        Some(shell) => Box::write(
            shell.record,
            Process::in_buffers(module, entry, shell.buffers),
        ),
        None => Box::new(Process::new(module, entry)),
    }
}

/// Drops `p`, keeping its record and buffers for a later [`spawn`] if it holds no keys,
/// no transcript and small buffers, and the cache has room.
pub fn recycle(mut p: Box<Process>) {
    if !p.keys.is_empty() || !p.transcript.is_empty() || capacity_bytes(&p) > SHELL_BYTES {
        return;
    }
    SPARE.with_borrow_mut(|spare| {
        if spare.len() >= SHELLS {
            return;
        }
        let mut buffers = Buffers {
            port: take(&mut p.port),
            memory: take(&mut p.memory),
            frames: take(&mut p.frames),
            stack: take(&mut p.stack),
            keys: take(&mut p.keys),
        };
        buffers.clear();
        let raw = Box::into_raw(p);
        // SAFETY: `raw` comes from a live `Box<Process>`, whose value is dropped here in
        // place, once (its module reference and what else it owns; its buffers are empty);
        // the allocation, whose layout `MaybeUninit<Process>` shares, is then owned again
        // as uninitialized memory, never read before `Box::write` fills it.
        let record = unsafe {
            std::ptr::drop_in_place(raw);
            Box::from_raw(raw.cast::<MaybeUninit<Process>>())
        };
        spare.push(Shell { record, buffers });
    });
}

/// The bytes of capacity `p`'s buffers hold.
fn capacity_bytes(p: &Process) -> usize {
    p.port.capacity() * size_of::<u64>()
        + p.memory.capacity()
        + p.frames.capacity() * size_of::<Frame>()
        + p.stack.capacity() * size_of::<u64>()
        + p.keys.capacity() * size_of::<Key>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble_verified;

    fn module() -> Arc<VerifiedModule> {
        let src = ".memory 40\n.data 3 7 8\nfunc main(a) -> 1\n local.get a\n ret\nend\n";
        assemble_verified(src, "shell.rasm").unwrap()
    }

    #[test]
    fn a_spawn_from_a_shell_is_a_new_process() {
        let m = module();
        let mut used = spawn(Arc::clone(&m), 0);
        used.port.extend([1, 2, 3]);
        used.memory.fill(0xff);
        used.stack.extend([9; 20]);
        used.frames.push(Frame {
            func: 0,
            pc: 3,
            base: 0,
        });
        let before = SPARE.with_borrow(Vec::len);
        recycle(used);
        assert_eq!(SPARE.with_borrow(Vec::len), before + 1);
        let again = spawn(Arc::clone(&m), 0);
        let fresh = Process::new(Arc::clone(&m), 0);
        assert_eq!(again.memory, fresh.memory);
        assert_eq!(again.port, fresh.port);
        assert!(again.stack.is_empty() && again.frames.is_empty() && again.keys.is_empty());
        assert_eq!(
            (again.status, again.footprint, again.mem_limit),
            (fresh.status, fresh.footprint, fresh.mem_limit)
        );
        assert_eq!(crate::image::encode(&again), crate::image::encode(&fresh));
    }

    #[test]
    fn the_cache_is_bounded() {
        let m = module();
        for _ in 0..3 * SHELLS {
            recycle(Box::new(Process::new(Arc::clone(&m), 0)));
        }
        assert!(SPARE.with_borrow(Vec::len) <= SHELLS);
        let mut big = Box::new(Process::new(Arc::clone(&m), 0));
        big.stack.reserve(SHELL_BYTES);
        SPARE.with_borrow_mut(Vec::clear);
        recycle(big);
        assert_eq!(
            SPARE.with_borrow(Vec::len),
            0,
            "a record with large buffers is not kept"
        );
    }

    #[test]
    fn a_shell_holds_no_module() {
        let m = module();
        SPARE.with_borrow_mut(Vec::clear);
        recycle(spawn(Arc::clone(&m), 0));
        assert_eq!(
            Arc::strong_count(&m),
            1,
            "the dropped child's module reference is released"
        );
    }
}
