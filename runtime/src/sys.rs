//! Semantics shared by every engine: bulk memory, the port, children and keys.
//!
//! Engines execute these instructions by calling the functions here with the leaf
//! process and the effective [`Budget`]. Each function checks, in this order, faults
//! caused by its operands, then gas, then memory, and changes nothing when it returns an
//! error (except where `docs/SPEC.md` says gas is kept: `spawn.bytes`, `child.load`).
//! Operands are passed by value; on error the engine leaves them on the stack.

use std::ops::Range;
use std::sync::Arc;

use crate::engine::{Budget, Exit};
use crate::host::{Call, Host, Record, Reply, MAX_TRANSCRIPT_RECORDS, TRANSCRIPT_RECORD_BYTES};
use crate::image;
use crate::isa::{dynamic_gas, unit_gas, Field, Opcode, HOLD_UNIT};
use crate::keys::{HostKey, KeyError, KeyKind};
use crate::limits::*;
use crate::meter;
use crate::process::{Fault, Key, Process, Status};
use crate::verify::{decode_verified, LoadError};

/// Why an instruction could not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Fault(Fault),
    OutOfGas(u64),
    OutOfMemory(u64),
    /// See [`Exit::Fold`].
    Fold,
}

impl From<Fault> for Stop {
    fn from(f: Fault) -> Stop {
        Stop::Fault(f)
    }
}

impl From<Stop> for Exit {
    fn from(s: Stop) -> Exit {
        match s {
            Stop::Fault(f) => Exit::Fault(f),
            Stop::OutOfGas(g) => Exit::OutOfGas(g),
            Stop::OutOfMemory(m) => Exit::OutOfMemory(m),
            Stop::Fold => Exit::Fold,
        }
    }
}

/// The byte range `addr .. addr + len` if it lies inside a memory of `size` bytes.
#[inline]
pub fn mem_range(size: usize, addr: u64, len: u64) -> Option<Range<usize>> {
    let end = addr.checked_add(len)?;
    if end > size as u64 {
        return None;
    }
    Some(addr as usize..end as usize)
}

fn range(size: usize, addr: u64, len: u64) -> Result<Range<usize>, Stop> {
    mem_range(size, addr, len).ok_or(Stop::Fault(Fault::OutOfBounds))
}

/// Charges `gas` and `mem` bytes together, or neither.
fn charge(b: &mut Budget, gas: u64, mem: u64) -> Result<(), Stop> {
    if b.fuel < gas {
        return Err(Stop::OutOfGas(gas));
    }
    if b.mem < mem {
        return Err(Stop::OutOfMemory(mem));
    }
    b.fuel -= gas;
    b.mem -= mem;
    Ok(())
}

fn child_mut(p: &mut Process, slot: u64) -> Result<&mut Process, Stop> {
    p.child_mut(slot).ok_or(Stop::Fault(Fault::InvalidKey))
}

fn check_key_room(p: &Process) -> Result<usize, Stop> {
    let slot = p.free_slot();
    if slot >= MAX_KEYS {
        return Err(Stop::Fault(Fault::KeyLimit));
    }
    Ok(slot)
}

/// What `spawn.bytes` and `child.load` check before decoding bytes from memory: the range,
/// a free key slot, and the gas for `len` bytes, which is charged (and kept) before the
/// bytes are looked at.
fn from_memory(
    p: &Process,
    b: &mut Budget,
    op: Opcode,
    addr: u64,
    len: u64,
) -> Result<(Range<usize>, usize), Stop> {
    let r = range(p.memory.len(), addr, len)?;
    let slot = check_key_room(p)?;
    charge(b, dynamic_gas(op, len), 0)?;
    Ok((r, slot))
}

/// Places `key` in `slot` of `p`: an empty slot, or the one past the end.
pub fn put_key(p: &mut Process, slot: usize, key: Key) {
    if slot == p.keys.len() {
        p.keys.push(key);
    } else {
        debug_assert!(matches!(p.keys[slot], Key::Empty));
        p.keys[slot] = key;
    }
}

/// Places `child` in `slot` of `p`.
fn insert_child(p: &mut Process, slot: usize, child: Process) {
    put_key(p, slot, Key::Process(Box::new(child)));
}

/// `mem.grow`: `n -- old_size`.
pub fn mem_grow(p: &mut Process, b: &mut Budget, n: u64) -> Result<u64, Stop> {
    let old = p.memory.len() as u64;
    if n > MAX_MEMORY - old {
        return Err(Stop::Fault(Fault::MemoryCap));
    }
    charge(b, dynamic_gas(Opcode::MemGrow, n), n)?;
    meter::touched(n);
    p.memory.resize((old + n) as usize, 0);
    Ok(old)
}

/// `mem.copy`: `dst src len --`.
pub fn mem_copy(p: &mut Process, b: &mut Budget, dst: u64, src: u64, len: u64) -> Result<(), Stop> {
    let size = p.memory.len();
    let d = range(size, dst, len)?;
    let s = range(size, src, len)?;
    charge(b, dynamic_gas(Opcode::MemCopy, len), 0)?;
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
    charge(b, dynamic_gas(Opcode::MemFill, len), 0)?;
    meter::touched(len);
    p.memory[d].fill(byte as u8);
    Ok(())
}

/// `in`: `-- v`.
pub fn port_in(p: &mut Process) -> Result<u64, Fault> {
    p.port.pop().ok_or(Fault::StackUnderflow)
}

/// `out`: `v --`.
pub fn port_out(p: &mut Process, v: u64) -> Result<(), Fault> {
    if p.port.len() >= MAX_PORT {
        return Err(Fault::StackOverflow);
    }
    p.port.push(v);
    Ok(())
}

/// `ret` from the entry function. The engine has made the state canonical at the `ret`:
/// one frame whose operand stack holds exactly the results. Appends them to the port,
/// pops the frame and refunds its footprint.
pub fn return_from_entry(p: &mut Process, b: &mut Budget) -> Result<(), Fault> {
    let frame = *p
        .frames
        .last()
        .expect("returning process has its entry frame");
    let results = p.module.func(frame.func).results as usize;
    if p.port.len() + results > MAX_PORT {
        return Err(Fault::StackOverflow);
    }
    let from = p.stack.len() - results;
    p.port.extend_from_slice(&p.stack[from..]);
    p.stack.clear();
    p.frames.clear();
    b.refund_mem(p.module.info(frame.func).frame_bytes);
    Ok(())
}

/// `spawn func`: `-- slot`.
pub fn spawn(p: &mut Process, b: &mut Budget, func: u32) -> Result<u64, Stop> {
    let slot = check_key_room(p)?;
    let initial = Process::initial_footprint(&p.module, func);
    let gas = dynamic_gas(Opcode::Spawn, initial - PROCESS_BYTES);
    charge(b, gas, p.slot_bytes(slot) + initial)?;
    // The entry frame is zeroed when the child starts.
    meter::touched(p.module.module().memory_size);
    let child = Process::new(Arc::clone(&p.module), func);
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
    let (r, slot) = from_memory(p, b, Opcode::SpawnBytes, addr, len)?;
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
    charge(b, gas, need)?;
    meter::touched(module.module().memory_size);
    insert_child(p, slot, Process::new(module, entry));
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
    charge(b, dynamic_gas(Opcode::ChildGrow, n), n)?;
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
    charge(b, dynamic_gas(Opcode::ChildWrite, len), 0)?;
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
    charge(b, dynamic_gas(Opcode::ChildRead, len), 0)?;
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
    charge(b, dynamic_gas(Opcode::ChildSave, bound), 0)?;
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
    let (r, slot) = from_memory(p, b, Opcode::ChildLoad, addr, len)?;
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
    charge(b, child.footprint.div_ceil(HOLD_UNIT), need)?;
    meter::touched(child.footprint);
    insert_child(p, slot, *child);
    Ok((slot as u64, 0))
}

/// `key.kind`: `slot -- kind`.
pub fn key_kind(p: &Process, slot: u64) -> u64 {
    usize::try_from(slot)
        .ok()
        .and_then(|i| p.keys.get(i))
        .map_or(0, Key::kind)
}

/// `key.drop`: `slot --`.
pub fn key_drop(p: &mut Process, b: &mut Budget, slot: u64) -> Result<(), Fault> {
    let i = usize::try_from(slot)
        .ok()
        .filter(|i| *i < p.keys.len())
        .ok_or(Fault::InvalidKey)?;
    let released = match &p.keys[i] {
        Key::Process(c) => p.child_charge(c) - KEY_BYTES,
        Key::Host(k) => k.record_bytes(),
        Key::Empty | Key::Active => return Err(Fault::InvalidKey),
    };
    let slots = p.keys.len();
    drop(p.take_key(i));
    // The slot stays (and counts) unless it was at the end of the list.
    b.refund_mem(released + KEY_BYTES * (slots - p.keys.len()) as u64);
    Ok(())
}

/// `key.rights`: `slot -- rights`.
pub fn key_rights(p: &Process, slot: u64) -> u64 {
    usize::try_from(slot)
        .ok()
        .and_then(|i| p.keys.get(i))
        .map_or(0, Key::rights)
}

/// The host key in `slot` of `keys`.
fn host_key(keys: &[Key], slot: u64) -> Result<&HostKey, Stop> {
    match usize::try_from(slot).ok().and_then(|i| keys.get(i)) {
        Some(Key::Host(k)) => Ok(k),
        _ => Err(Stop::Fault(Fault::InvalidKey)),
    }
}

/// `key.give`: `slot child -- cslot`.
pub fn key_give(p: &mut Process, b: &mut Budget, slot: u64, child: u64) -> Result<u64, Stop> {
    let key = host_key(&p.keys, slot)?.copy();
    let c = child_mut(p, child)?;
    let cslot = check_key_room(c)?;
    let bytes = c.slot_bytes(cslot) + key.record_bytes();
    charge(b, dynamic_gas(Opcode::KeyGive, 0), bytes)?;
    put_key(c, cslot, Key::Host(Box::new(key)));
    c.footprint += bytes;
    c.mem_limit = c.mem_limit.saturating_add(bytes);
    Ok(cslot as u64)
}

/// `key.attenuate`: `slot rights addr len -- slot' err`.
pub fn key_attenuate(
    p: &mut Process,
    b: &mut Budget,
    slot: u64,
    rights: u64,
    addr: u64,
    len: u64,
) -> Result<(u64, u64), Stop> {
    let key = host_key(&p.keys, slot)?;
    let r = range(p.memory.len(), addr, len)?;
    let new_slot = check_key_room(p)?;
    let gas = dynamic_gas(Opcode::KeyAttenuate, len);
    match key.attenuate(rights, &p.memory[r]) {
        Ok(k) => {
            charge(b, gas, p.slot_bytes(new_slot) + k.record_bytes())?;
            put_key(p, new_slot, Key::Host(Box::new(k)));
            Ok((new_slot as u64, 0))
        }
        Err(e) => {
            charge(b, gas, 0)?;
            Ok((u64::MAX, e.code()))
        }
    }
}

/// What the root of a run offers `key.invoke`: a virtual clock's reading and room for
/// the transcript.
#[derive(Clone, Copy, Debug)]
pub struct RootState {
    /// The root's gas used before the instruction.
    pub clock: u64,
    /// The root's own memory headroom.
    pub headroom: u64,
    /// Records in the root's transcript.
    pub records: usize,
}

/// `key.invoke`: `slot op arg addr len -- r err`, executed by the machine with its host.
/// Returns what to push and, if the host answered, the record for the root's transcript,
/// which the machine appends and charges to the root. If the root's headroom cannot hold
/// the largest record the answer could make, stops out of memory for that many bytes
/// with nothing charged (only the root can lack them: the outermost process that does).
#[allow(clippy::too_many_arguments)]
pub fn key_invoke(
    p: &mut Process,
    b: &mut Budget,
    host: &mut dyn Host,
    root: RootState,
    slot: u64,
    op: u64,
    arg: u64,
    addr: u64,
    len: u64,
) -> Result<(Reply, Option<Record>), Stop> {
    host_key(&p.keys, slot)?;
    let r = range(p.memory.len(), addr, len)?;
    let gas = dynamic_gas(Opcode::KeyInvoke, len);
    let Some(Key::Host(key)) = p.keys.get_mut(slot as usize) else {
        unreachable!("checked to hold a host key")
    };
    let key: &mut HostKey = key;
    let vm_answer = match key.kind.op(op) {
        Some(spec) if key.rights & spec.right != spec.right => Some(KeyError::Denied),
        None if !matches!(key.kind, KeyKind::Custom(_)) => Some(KeyError::Unsupported),
        _ if !key.is_pure() && root.records >= MAX_TRANSCRIPT_RECORDS => Some(KeyError::Io),
        _ => None,
    };
    // Gas first, then the root's room for the record; nothing is charged unless both fit.
    if b.fuel < gas {
        return Err(Stop::OutOfGas(gas));
    }
    let record = TRANSCRIPT_RECORD_BYTES + len;
    if vm_answer.is_none() && !key.is_pure() && record > root.headroom {
        return Err(Stop::OutOfMemory(record));
    }
    charge(b, gas, 0)?;
    if let Some(e) = vm_answer {
        return Ok((Reply::error(e), None));
    }
    if key.is_pure() {
        let reply = match (key.kind, op) {
            (KeyKind::Clock, _) => Reply::ok(root.clock.saturating_add(gas)),
            (KeyKind::Random, 0) => Reply::ok(key.next_random()),
            _ => {
                meter::touched(len);
                for chunk in p.memory[r].chunks_mut(8) {
                    let word = key.next_random().to_le_bytes();
                    chunk.copy_from_slice(&word[..chunk.len()]);
                }
                Reply::ok(len)
            }
        };
        return Ok((reply, None));
    }
    let kind = key.kind.code();
    let mut out = Vec::new();
    let mut reply = host.invoke(Call {
        key,
        op,
        arg,
        data: &p.memory[r.clone()],
        out: &mut out,
    });
    out.truncate(r.len());
    meter::touched(out.len() as u64);
    if reply.err != 0 {
        reply.r = 0;
        out.clear();
    }
    p.memory[r.start..r.start + out.len()].copy_from_slice(&out);
    Ok((
        reply,
        Some(Record {
            kind,
            op,
            reply,
            out,
        }),
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;
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
