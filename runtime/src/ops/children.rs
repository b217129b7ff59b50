//! Children: creating them from this module, from module bytes and from images; their
//! ports, counters and memory; saving them; starting a ready process.

use std::sync::Arc;

use super::{check_key_room, child_mut, from_memory, range};
use crate::engine::{Budget, Stop};
use crate::image;
use crate::isa::{dynamic_gas, unit_gas, Field, Opcode, HOLD_UNIT};
use crate::limits::*;
use crate::meter;
use crate::process::{Fault, Key, Process, Status};
use crate::shells;
use crate::verify::{decode_verified, LoadError};

use super::port::{port_in, port_out};

/// Places `child` in `slot` of `p`.
fn insert_child(p: &mut Process, slot: usize, child: Box<Process>) {
    p.put_key(slot, Key::Process(child));
}

/// `spawn func`: `-- slot`.
pub fn spawn(p: &mut Process, b: &mut Budget, func: u32) -> Result<u64, Stop> {
    let slot = check_key_room(p)?;
    let initial = Process::initial_footprint(&p.module, func);
    let gas = dynamic_gas(Opcode::Spawn, initial - PROCESS_BYTES);
    b.charge(gas, p.slot_bytes(slot) + initial)?;
    // The entry frame is zeroed when the child starts.
    meter::touched(p.module.module().memory_size);
    let child = shells::spawn(Arc::clone(&p.module), func);
    insert_child(p, slot, child);
    Ok(slot as u64)
}

/// The `err` code of `spawn.bytes` when the bytes are not a module.
pub const ERR_MALFORMED: u64 = 1;
/// The `err` code of `spawn.bytes` when the module fails verification.
pub const ERR_INVALID: u64 = 2;
/// The `err` code of `child.load` when the image holds keys the host answers: bytes
/// never become authority.
pub const ERR_HOST_KEYS: u64 = 3;

/// `spawn.bytes`: `addr len -- slot err`.
pub fn spawn_bytes(
    p: &mut Process,
    b: &mut Budget,
    addr: u64,
    len: u64,
) -> Result<(u64, u64), Stop> {
    let (r, slot) = from_memory(p, b, addr, len, |_| dynamic_gas(Opcode::SpawnBytes, len))?;
    meter::decoded(len);
    // Decoding holds no more code than the chain has room for.
    let module = match decode_verified(&p.memory[r], b.mem) {
        Ok(m) => m,
        Err(LoadError::Decode(e)) => match e.too_large {
            Some(need) => return Err(Stop::OutOfMemory(need)),
            None => return Ok((u64::MAX, ERR_MALFORMED)),
        },
        Err(LoadError::Verify(_)) => return Ok((u64::MAX, ERR_INVALID)),
    };
    let entry = module.module().entry;
    let initial = Process::initial_footprint(&module, entry);
    let gas = unit_gas(Opcode::Spawn, initial - PROCESS_BYTES);
    let need = p.slot_bytes(slot) + initial + module.code_footprint();
    b.charge(gas, need)?;
    meter::touched(module.module().memory_size);
    insert_child(p, slot, shells::spawn(module, entry));
    Ok((slot as u64, 0))
}

/// `child.push`: `slot v --`.
pub fn child_push(p: &mut Process, slot: u64, v: u64) -> Result<(), Fault> {
    let c = p.child_mut(slot).ok_or(Fault::InvalidKey)?;
    port_out(c, v)
}

/// `child.pop`: `slot -- v`.
pub fn child_pop(p: &mut Process, slot: u64) -> Result<u64, Fault> {
    let c = p.child_mut(slot).ok_or(Fault::InvalidKey)?;
    port_in(c)
}

/// `child.info field`: `slot -- v`.
pub fn child_info(p: &Process, slot: u64, field: Field) -> Result<u64, Fault> {
    let c = p.child(slot).ok_or(Fault::InvalidKey)?;
    Ok(match field {
        Field::Status => c.status as u64,
        Field::Fault => c.fault as u64,
        Field::GasLeft => c.gas_left,
        Field::GasUsed => c.gas_used,
        Field::Footprint => c.footprint,
        Field::MemLimit => c.mem_limit,
        Field::MemSize => c.memory.len() as u64,
        Field::Port => c.port.len() as u64,
    })
}

/// `child.grow`: `slot n -- old_size`.
pub fn child_grow(p: &mut Process, b: &mut Budget, slot: u64, n: u64) -> Result<u64, Stop> {
    let c = child_mut(p, slot)?;
    let old = c.memory.len() as u64;
    if n > MAX_MEMORY - old {
        return Err(Stop::Fault(Fault::MemoryCap));
    }
    b.charge(dynamic_gas(Opcode::ChildGrow, n), n)?;
    meter::touched(n);
    c.memory.resize((old + n) as usize, 0);
    c.footprint += n;
    c.mem_limit = c.mem_limit.saturating_add(n);
    Ok(old)
}

/// `child.write`: `slot dst src len --` (this memory → child memory).
pub fn child_write(
    p: &mut Process,
    b: &mut Budget,
    slot: u64,
    dst: u64,
    src: u64,
    len: u64,
) -> Result<(), Stop> {
    let (memory, keys) = (&p.memory, &mut p.keys);
    let c = match usize::try_from(slot).ok().and_then(|i| keys.get_mut(i)) {
        Some(Key::Process(c)) => c,
        _ => return Err(Stop::Fault(Fault::InvalidKey)),
    };
    let s = range(memory.len(), src, len)?;
    let d = range(c.memory.len(), dst, len)?;
    b.charge(dynamic_gas(Opcode::ChildWrite, len), 0)?;
    meter::touched(len);
    c.memory[d].copy_from_slice(&memory[s]);
    Ok(())
}

/// `child.read`: `slot dst src len --` (child memory → this memory).
pub fn child_read(
    p: &mut Process,
    b: &mut Budget,
    slot: u64,
    dst: u64,
    src: u64,
    len: u64,
) -> Result<(), Stop> {
    let (memory, keys) = (&mut p.memory, &p.keys);
    let c = match usize::try_from(slot).ok().and_then(|i| keys.get(i)) {
        Some(Key::Process(c)) => c,
        _ => return Err(Stop::Fault(Fault::InvalidKey)),
    };
    let d = range(memory.len(), dst, len)?;
    let s = range(c.memory.len(), src, len)?;
    b.charge(dynamic_gas(Opcode::ChildRead, len), 0)?;
    meter::touched(len);
    memory[d].copy_from_slice(&c.memory[s]);
    Ok(())
}

/// `child.save`: `slot addr cap -- len`.
pub fn child_save(
    p: &mut Process,
    b: &mut Budget,
    slot: u64,
    addr: u64,
    cap: u64,
) -> Result<u64, Stop> {
    let c = p.child(slot).ok_or(Stop::Fault(Fault::InvalidKey))?;
    let r = range(p.memory.len(), addr, cap)?;
    if c.on_spine() {
        return Err(Stop::Fold);
    }
    // Paid before the tree is walked: its footprint and module bound the image's length.
    let bound = c.footprint.saturating_add(c.module.bytes().len() as u64);
    b.charge(dynamic_gas(Opcode::ChildSave, bound), 0)?;
    let Some(Key::Process(c)) = p.keys.get(slot as usize) else {
        unreachable!("checked to hold a process")
    };
    let len = image::encoded_len(c);
    meter::encoded(len);
    if len <= cap {
        image::encode_into(c, &mut p.memory[r.start..r.start + len as usize]);
    }
    Ok(len)
}

/// `child.load`: `addr len -- slot err`.
pub fn child_load(
    p: &mut Process,
    b: &mut Budget,
    addr: u64,
    len: u64,
) -> Result<(u64, u64), Stop> {
    // The image's modules are code to decode and verify, paid for as `spawn.bytes` pays.
    let (r, slot) = from_memory(p, b, addr, len, |bytes| {
        dynamic_gas(Opcode::ChildLoad, len)
            .saturating_add(unit_gas(Opcode::SpawnBytes, image::module_bytes(bytes)))
    })?;
    meter::decoded(len);
    // Decoding holds no more than the chain has room for.
    let child = match image::decode_within(&p.memory[r], b.mem) {
        Ok(c) => c,
        Err(e) => match e.too_large {
            Some(need) => return Err(Stop::OutOfMemory(need)),
            None => return Ok((u64::MAX, ERR_MALFORMED)),
        },
    };
    if child.holds_host_authority() || !child.transcript.is_empty() {
        return Ok((u64::MAX, ERR_HOST_KEYS));
    }
    let need = p.child_charge(&child) - KEY_BYTES + p.slot_bytes(slot);
    b.charge(child.footprint.div_ceil(HOLD_UNIT), need)?;
    meter::touched(child.footprint);
    insert_child(p, slot, child);
    Ok((slot as u64, 0))
}

/// Starts a `ready` process: moves the port into the entry function's parameters and
/// pushes the entry frame. On a wrong number of arguments the process faults
/// `bad_arity` instead and its footprint shrinks by the entry frame; returns that change.
pub fn start(p: &mut Process) -> i128 {
    debug_assert_eq!(p.status, Status::Ready);
    let f = p.module.func(p.entry);
    let (params, locals) = (f.params as usize, f.local_count() as usize);
    if p.port.len() != params {
        p.status = Status::Faulted;
        p.fault = Fault::BadArity;
        let frame_bytes = p.module.info(p.entry).frame_bytes;
        p.footprint -= frame_bytes;
        return -(frame_bytes as i128);
    }
    meter::touched(8 * locals as u64);
    p.stack.clear();
    p.stack.append(&mut p.port);
    p.stack.resize(locals, 0);
    p.frames.clear();
    p.frames.push(crate::process::Frame {
        func: p.entry,
        pc: 0,
        base: 0,
    });
    p.status = Status::Running;
    0
}
