//! Linear memory: ranges, growth, copies and fills.

use std::ops::Range;

use super::range;
use crate::engine::{Budget, Stop};
use crate::isa::{dynamic_gas, Opcode};
use crate::limits::MAX_MEMORY;
use crate::meter;
use crate::process::{Fault, Process};

/// The byte range `addr .. addr + len` if it lies inside a memory of `size` bytes.
#[inline]
pub fn mem_range(size: usize, addr: u64, len: u64) -> Option<Range<usize>> {
    let end = addr.checked_add(len)?;
    if end > size as u64 {
        return None;
    }
    Some(addr as usize..end as usize)
}

/// `mem.grow`: `n -- old_size`.
pub fn mem_grow(p: &mut Process, b: &mut Budget, n: u64) -> Result<u64, Stop> {
    let old = p.memory.len() as u64;
    if n > MAX_MEMORY - old {
        return Err(Stop::Fault(Fault::MemoryCap));
    }
    b.charge(dynamic_gas(Opcode::MemGrow, n), n)?;
    meter::touched(n);
    p.memory.resize((old + n) as usize, 0);
    Ok(old)
}

/// `mem.copy`: `dst src len --`.
pub fn mem_copy(p: &mut Process, b: &mut Budget, dst: u64, src: u64, len: u64) -> Result<(), Stop> {
    let size = p.memory.len();
    let d = range(size, dst, len)?;
    let s = range(size, src, len)?;
    b.charge(dynamic_gas(Opcode::MemCopy, len), 0)?;
    meter::touched(len);
    p.memory.copy_within(s, d.start);
    Ok(())
}

/// `mem.fill`: `dst byte len --`.
pub fn mem_fill(
    p: &mut Process,
    b: &mut Budget,
    dst: u64,
    byte: u64,
    len: u64,
) -> Result<(), Stop> {
    let d = range(p.memory.len(), dst, len)?;
    b.charge(dynamic_gas(Opcode::MemFill, len), 0)?;
    meter::touched(len);
    p.memory[d].fill(byte as u8);
    Ok(())
}
