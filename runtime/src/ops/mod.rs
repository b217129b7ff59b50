//! Instruction semantics shared by every engine, one category per file: bulk memory
//! ([`memory`]), the port and returns ([`port`]), children ([`children`]) and keys
//! ([`keys`]).
//!
//! Engines execute these instructions by calling the functions here with the leaf
//! process and the effective [`Budget`]. Each function checks, in this order, faults
//! caused by its operands, then gas, then memory, and changes nothing when it returns an
//! error (except where `docs/SPEC.md` says gas is kept: `spawn.bytes`, `child.load`).
//! Operands are passed by value; on error the engine leaves them on the stack.

use std::ops::Range;

use crate::engine::{Budget, Stop};
use crate::limits::MAX_KEYS;
use crate::process::{Fault, Process};

pub mod children;
pub mod keys;
pub mod memory;
pub mod port;

pub use children::*;
pub use keys::*;
pub use memory::*;
pub use port::*;

pub(crate) fn range(size: usize, addr: u64, len: u64) -> Result<Range<usize>, Stop> {
    mem_range(size, addr, len).ok_or(Stop::Fault(Fault::OutOfBounds))
}

pub(crate) fn child_mut(p: &mut Process, slot: u64) -> Result<&mut Process, Stop> {
    p.child_mut(slot).ok_or(Stop::Fault(Fault::InvalidKey))
}

pub(crate) fn check_key_room(p: &Process) -> Result<usize, Stop> {
    let slot = p.free_slot();
    if slot >= MAX_KEYS {
        return Err(Stop::Fault(Fault::KeyLimit));
    }
    Ok(slot)
}

/// What `spawn.bytes` and `child.load` check before decoding bytes from memory: the range,
/// a free key slot, and the gas `gas` prices the bytes at (`child.load` reads its image's
/// module lengths), charged and kept before the bytes are decoded.
pub(crate) fn from_memory(
    p: &Process,
    b: &mut Budget,
    addr: u64,
    len: u64,
    gas: impl FnOnce(&[u8]) -> u64,
) -> Result<(Range<usize>, usize), Stop> {
    let r = range(p.memory.len(), addr, len)?;
    let slot = check_key_room(p)?;
    b.charge(gas(&p.memory[r.clone()]), 0)?;
    Ok((r, slot))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;
    use crate::isa::Field;
    use crate::limits::*;
    use crate::process::Status;
    use crate::verify::verify;

    fn proc_of(src: &str) -> Process {
        let m = verify(assemble(src, "t.rasm").unwrap()).unwrap();
        Process::new(m, 0)
    }

    #[test]
    fn grow_checks_cap_then_gas_then_memory() {
        let mut p = proc_of("func main() -> 0\n ret\nend\n");
        let mut b = Budget::standalone(100, 100);
        assert_eq!(
            mem_grow(&mut p, &mut b, MAX_MEMORY + 1),
            Err(Stop::Fault(Fault::MemoryCap))
        );
        assert_eq!(mem_grow(&mut p, &mut b, 101), Err(Stop::OutOfMemory(101)));
        assert_eq!(b, Budget::standalone(100, 100));
        let mut poor = Budget::standalone(5, 1000);
        assert_eq!(mem_grow(&mut p, &mut poor, 10), Err(Stop::OutOfGas(11)));
        assert_eq!(mem_grow(&mut p, &mut b, 64), Ok(0));
        assert_eq!(b.fuel, 100 - 12);
        assert_eq!(b.mem, 36);
        assert_eq!(p.memory.len(), 64);
    }

    #[test]
    fn copy_and_fill_check_bounds_before_gas() {
        let mut p = proc_of(".memory 16\nfunc main() -> 0\n ret\nend\n");
        let mut b = Budget::standalone(0, 0);
        assert_eq!(
            mem_copy(&mut p, &mut b, 8, 0, 9),
            Err(Stop::Fault(Fault::OutOfBounds))
        );
        assert_eq!(
            mem_copy(&mut p, &mut b, u64::MAX, 0, 2),
            Err(Stop::Fault(Fault::OutOfBounds))
        );
        assert_eq!(mem_fill(&mut p, &mut b, 0, 7, 16), Err(Stop::OutOfGas(6)));
        let mut b = Budget::standalone(100, 0);
        mem_fill(&mut p, &mut b, 0, 0x107, 4).unwrap();
        mem_copy(&mut p, &mut b, 2, 0, 4).unwrap();
        assert_eq!(&p.memory[..8], &[7, 7, 7, 7, 7, 7, 0, 0]);
    }

    #[test]
    fn spawn_push_pop_info_drop_account_memory() {
        let mut p =
            proc_of("func main() -> 0\n ret\nend\nfunc f(a, b) -> 1\n local.get a\n ret\nend\n");
        let need = KEY_BYTES + Process::initial_footprint(&p.module, 1);
        let mut b = Budget::standalone(1000, need - 1);
        assert_eq!(spawn(&mut p, &mut b, 1), Err(Stop::OutOfMemory(need)));
        let mut b = Budget::standalone(1000, need);
        assert_eq!(spawn(&mut p, &mut b, 1), Ok(0));
        assert_eq!(b.mem, 0);
        child_push(&mut p, 0, 5).unwrap();
        child_push(&mut p, 0, 6).unwrap();
        assert_eq!(child_info(&p, 0, Field::Port), Ok(2));
        assert_eq!(child_info(&p, 0, Field::Status), Ok(Status::Ready as u64));
        assert_eq!(child_pop(&mut p, 0), Ok(6));
        assert_eq!(child_pop(&mut p, 1), Err(Fault::InvalidKey));
        assert_eq!(key_kind(&p, 0), 1);
        assert_eq!(key_kind(&p, u64::MAX), 0);
        key_drop(&mut p, &mut b, 0).unwrap();
        assert_eq!(b.mem, need);
        assert!(p.keys.is_empty());
        assert_eq!(key_drop(&mut p, &mut b, 0), Err(Fault::InvalidKey));
    }

    /// `child.load` pays for the code in its image at `spawn.bytes`' rate, before decoding:
    /// with one gas too few it stops out of gas, nothing charged and no child made.
    #[test]
    fn child_load_charges_the_code_in_an_image_as_spawn_bytes_does() {
        use crate::isa::{dynamic_gas, unit_gas, Opcode, HOLD_UNIT};
        let child = proc_of("func main() -> 0\n nop\n nop\n ret\nend\n");
        let image = crate::image::encode(&child);
        let code = child.module.module().encode().len() as u64;
        let len = image.len() as u64;
        let mut p = proc_of(".memory 4096\nfunc main() -> 0\n ret\nend\n");
        p.memory[..image.len()].copy_from_slice(&image);
        let first = dynamic_gas(Opcode::ChildLoad, len) + unit_gas(Opcode::SpawnBytes, code);
        assert_eq!(first, 200 + len + 32 * code);
        let mut poor = Budget::standalone(first - 1, 1 << 20);
        assert_eq!(
            children::child_load(&mut p, &mut poor, 0, len),
            Err(Stop::OutOfGas(first))
        );
        assert_eq!((poor.fuel, p.free_slot()), (first - 1, 0));
        let mut b = Budget::standalone(1 << 20, 1 << 20);
        assert_eq!(children::child_load(&mut p, &mut b, 0, len), Ok((0, 0)));
        let footprint = p.child(0).unwrap().footprint;
        assert_eq!(b.fuel, (1 << 20) - first - footprint.div_ceil(HOLD_UNIT));
    }

    #[test]
    fn start_checks_arity() {
        let mut p = proc_of("func main(a) -> 1\n local.get a\n ret\nend\n");
        let fp = p.footprint;
        assert_eq!(start(&mut p), -((fp - PROCESS_BYTES) as i128));
        assert_eq!((p.status, p.fault), (Status::Faulted, Fault::BadArity));
        let mut p = proc_of("func main(a) -> 1 locals(x)\n local.get a\n ret\nend\n");
        p.port.push(9);
        assert_eq!(start(&mut p), 0);
        assert_eq!(p.stack, vec![9, 0]);
        assert_eq!(p.frames.len(), 1);
        assert!(p.port.is_empty());
    }

    #[test]
    fn port_limits() {
        let mut p = proc_of("func main() -> 0\n ret\nend\n");
        for i in 0..MAX_PORT as u64 {
            port_out(&mut p, i).unwrap();
        }
        assert_eq!(port_out(&mut p, 0), Err(Fault::StackOverflow));
        p.port.clear();
        assert_eq!(port_in(&mut p), Err(Fault::StackUnderflow));
    }
}
