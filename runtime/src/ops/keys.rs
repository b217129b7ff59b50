//! Keys: kinds, rights, dropping, giving, attenuating and invoking host keys.

use super::{check_key_room, child_mut, range};
use crate::engine::{Budget, Stop};
use crate::host::{
    pure, Call, Host, Record, Reply, MAX_TRANSCRIPT_RECORDS, TRANSCRIPT_RECORD_BYTES,
};
use crate::isa::{dynamic_gas, Opcode};
use crate::keys::{HostKey, KeyError, KeyKind};
use crate::limits::KEY_BYTES;
use crate::meter;
use crate::process::{Fault, Key, Process};
use crate::shells;

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
    if let Key::Process(child) = p.take_key(i) {
        shells::recycle(child);
    }
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
    b.charge(dynamic_gas(Opcode::KeyGive, 0), bytes)?;
    c.put_key(cslot, Key::Host(Box::new(key)));
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
            b.charge(gas, p.slot_bytes(new_slot) + k.record_bytes())?;
            p.put_key(new_slot, Key::Host(Box::new(k)));
            Ok((new_slot as u64, 0))
        }
        Err(e) => {
            b.charge(gas, 0)?;
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
/// which the machine appends and charges to the root. The host may charge host work
/// beyond the instruction's price, up to what the chain can pay (`docs/SPEC.md` §9). If
/// the root's headroom cannot hold the largest record the answer could make, stops out of
/// memory for that many bytes with nothing charged (only the root can lack them: the
/// outermost process that does).
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
    let r = match prepare(p, b, root, slot, op, addr, len)? {
        Prepared::Answered(reply) => return Ok((reply, None)),
        Prepared::ForHost(r) => r,
    };
    let Some(Key::Host(key)) = p.keys.get_mut(slot as usize) else {
        unreachable!("checked to hold a host key")
    };
    let spec = key.kind.op(op);
    let kind = key.kind.code();
    let mut out = Vec::new();
    let mut reply = host.invoke(Call {
        key,
        operation: spec,
        op,
        arg,
        data: &p.memory[r.clone()],
        out: &mut out,
        work_limit: b.fuel,
    });
    // A host never charges more than the chain has; one that says so is charged at that.
    reply.work = reply.work.min(b.fuel);
    b.charge(reply.work, 0)?;
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

/// What `key.invoke` found before reaching the host.
enum Prepared {
    /// The VM answered (and charged the gas).
    Answered(Reply),
    /// The host answers the operand range; the instruction's price is charged.
    ForHost(std::ops::Range<usize>),
}

/// Checks `key.invoke`'s operands and what the chain can pay, charges the price, and
/// answers what the VM answers itself.
fn prepare(
    p: &mut Process,
    b: &mut Budget,
    root: RootState,
    slot: u64,
    op: u64,
    addr: u64,
    len: u64,
) -> Result<Prepared, Stop> {
    host_key(&p.keys, slot)?;
    let r = range(p.memory.len(), addr, len)?;
    let Some(Key::Host(key)) = p.keys.get_mut(slot as usize) else {
        unreachable!("checked to hold a host key")
    };
    let key: &mut HostKey = key;
    let spec = key.kind.op(op);
    let vm_answer = match spec {
        Some(spec) if key.rights & spec.right != spec.right => Some(KeyError::Denied),
        None if !matches!(key.kind, KeyKind::Custom(_)) => Some(KeyError::Unsupported),
        // In u64: on 32-bit hosts the limit is the largest usize.
        _ if !key.is_pure() && root.records as u64 >= MAX_TRANSCRIPT_RECORDS as u64 => {
            Some(KeyError::Io)
        }
        _ => None,
    };
    let for_host = vm_answer.is_none() && !key.is_pure();
    let gas = dynamic_gas(Opcode::KeyInvoke, len).saturating_add(if for_host {
        key.host_call_gas()
    } else {
        0
    });
    // Gas first, then the root's room for the record; nothing is charged unless both fit.
    if b.fuel < gas {
        return Err(Stop::OutOfGas(gas));
    }
    let record = TRANSCRIPT_RECORD_BYTES + len;
    if for_host && record > root.headroom {
        return Err(Stop::OutOfMemory(record));
    }
    b.charge(gas, 0)?;
    if let Some(e) = vm_answer {
        return Ok(Prepared::Answered(Reply::error(e)));
    }
    if key.is_pure() {
        let spec = spec.expect("pure keys are of built-in kinds, and the operation exists");
        let clock = root.clock.saturating_add(gas);
        return Ok(Prepared::Answered(pure::answer(
            key,
            spec,
            clock,
            &mut p.memory[r],
        )));
    }
    Ok(Prepared::ForHost(r))
}
