//! Turns: restoring an object from its snapshot and log, running one message to the
//! object's next `yield`, rolling a failed turn back whole, and committing a batch of
//! turns in one transaction (`docs/VATS.md`, "Turns").

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rarvm::host::{Grant, Reply, ResourceCall};
use rarvm::{EngineKind, Program, Status, Vm};
use rusqlite::{params, Connection};

use crate::power::{self, byte_work, errors, fail, ops, Power};
use crate::store;
use crate::wire::{self, Delivery, Entry, Message, SturdyRef, Swiss, VatId, MAX_CLIST};
use crate::Error;

/// An object as the vat holds it between turns.
pub(crate) struct Live {
    id: i64,
    gas: u64,
    mem: u64,
    /// `None` while it runs, and after a rollback until it is restored again.
    vm: Option<Vm>,
    running: bool,
    power_live: Arc<AtomicBool>,
    refs: Vec<SturdyRef>,
    /// Turns run in this batch, not yet committed.
    pending: Vec<Entry>,
    log_next: u64,
    since_gas: u64,
    since_bytes: u64,
    /// Set by a rollback: restoring it replayed its log, so the batch snapshots it and
    /// a message that fails again costs no more replaying.
    snapshot_due: bool,
}

/// One object's turn in progress: its message, the message it is building, and what it
/// did that is undone if the turn fails.
struct Frame {
    obj: Swiss,
    inbound: Message,
    out: Message,
    results: Vec<u64>,
    kept: Vec<SturdyRef>,
    /// Sends and objects made, in order, for the batch if the turn commits.
    effects: Vec<Effect>,
    /// Objects whose state this turn changed, with their pending and reference counts
    /// before: its own, and those of the calls it made.
    touched: Vec<(Swiss, usize, usize)>,
}

/// What a committed turn leaves for the database besides its objects' logs.
pub(crate) enum Effect {
    Send(SturdyRef, Message),
    Make {
        swiss: Swiss,
        gas: u64,
        mem: u64,
        image: Vec<u8>,
        refs: Vec<SturdyRef>,
    },
}

/// A turn's record: what `inspect` lists.
pub struct TurnRecord {
    pub turn: u64,
    pub object: Swiss,
    pub status: String,
    pub fault: Option<String>,
    pub gas: u64,
    pub words: usize,
}

/// Everything a vat's turns share: its database connection, the objects in memory, the
/// turns in progress and the batch not yet committed.
pub struct World {
    conn: Connection,
    me: VatId,
    engine: EngineKind,
    live: BTreeMap<Swiss, Live>,
    frames: Vec<Frame>,
    turn: u64,
    effects: Vec<Effect>,
    records: Vec<TurnRecord>,
    consumed: Vec<i64>,
}

impl World {
    pub(crate) fn new(conn: Connection, me: VatId, engine: EngineKind) -> Result<World, Error> {
        let turn = store::turn(&conn)?;
        Ok(World {
            conn,
            me,
            engine,
            live: BTreeMap::new(),
            frames: Vec::new(),
            turn,
            effects: Vec::new(),
            records: Vec::new(),
            consumed: Vec::new(),
        })
    }

    /// Makes sure `obj` is in memory and restored; `Ok(false)` if the vat has no such
    /// object.
    fn load(&mut self, world: &Arc<Mutex<World>>, obj: &Swiss) -> Result<bool, Error> {
        if let Some(l) = self.live.get(obj) {
            if l.vm.is_some() || l.running {
                return Ok(true);
            }
        }
        let Some(row) = store::object(&self.conn, obj)? else {
            return Ok(false);
        };
        let log = store::log(&self.conn, row.id)?;
        // What a rolled-back object had in memory that the database does not hold yet.
        let old = self.live.remove(obj);
        let (since_gas, since_bytes, snapshot_due) = old
            .as_ref()
            .map_or((row.since_gas, row.since_bytes, false), |l| {
                (l.since_gas, l.since_bytes, l.snapshot_due)
            });
        let pending = old.map(|l| l.pending).unwrap_or_default();
        let flag = Arc::new(AtomicBool::new(false));
        let power = Power::new(Some(world), *obj, Arc::clone(&flag));
        let (vm, refs) = restore(&row, &log, &pending, power, self.engine)?;
        flag.store(true, Ordering::Release);
        self.live.insert(
            *obj,
            Live {
                id: row.id,
                gas: row.gas,
                mem: row.mem,
                vm: Some(vm),
                running: false,
                power_live: flag,
                refs,
                pending,
                log_next: row.log_next,
                since_gas,
                since_bytes,
                snapshot_due,
            },
        );
        Ok(true)
    }

    /// Undoes what turns in progress did to `touched` objects: their uncommitted turns
    /// since, and references kept; they are restored from the database and the rest of
    /// the batch when next needed.
    fn roll_back(&mut self, touched: &[(Swiss, usize, usize)]) {
        for (obj, pending, refs) in touched.iter().rev() {
            if let Some(l) = self.live.get_mut(obj) {
                l.pending.truncate(*pending);
                l.refs.truncate(*refs);
                l.vm = None;
                l.snapshot_due = l.since_bytes > 0 || !l.pending.is_empty();
                l.power_live.store(false, Ordering::Release);
            }
        }
    }

    fn frame(&mut self, obj: &Swiss) -> &mut Frame {
        let f = self
            .frames
            .last_mut()
            .expect("a key answers only during a turn");
        debug_assert_eq!(&f.obj, obj);
        f
    }

    fn reference(&self, obj: &Swiss, idx: u64) -> Option<SturdyRef> {
        let l = self.live.get(obj)?;
        l.refs.get(usize::try_from(idx).ok()?).copied()
    }

    /// Keeps `r` in `obj`'s list (once): its index, or `None` if the list is full.
    fn keep(&mut self, obj: &Swiss, r: SturdyRef) -> Option<u64> {
        let l = self.live.get_mut(obj)?;
        if let Some(i) = l.refs.iter().position(|x| *x == r) {
            return Some(i as u64);
        }
        if l.refs.len() >= MAX_CLIST {
            return None;
        }
        l.refs.push(r);
        let i = l.refs.len() as u64 - 1;
        self.frame(obj).kept.push(r);
        Some(i)
    }

    /// Answers every operation of the vat key but `CALL`.
    pub(crate) fn answer(&mut self, obj: &Swiss, call: ResourceCall<'_>) -> Reply {
        let turn = self.turn;
        match call.op {
            ops::TURN => Reply::ok(turn),
            ops::PUT => {
                let f = self.frame(obj);
                if !power::put_fits(f.out.words.len() + 1, 0, 0) {
                    return fail(errors::TOO_LARGE);
                }
                f.out.words.push(call.arg);
                Reply::ok(0)
            }
            ops::PUT_BYTES => {
                let work = byte_work(call.data.len());
                if !power::put_fits(0, call.data.len(), 0) {
                    return fail(errors::TOO_LARGE);
                }
                if work > call.work_limit {
                    return fail(errors::LIMIT);
                }
                self.frame(obj).out.bytes = call.data.to_vec();
                Reply::ok(0).with_work(work)
            }
            ops::PUT_REF => {
                let Some(r) = self.reference(obj, call.arg) else {
                    return fail(errors::NO_REF);
                };
                let f = self.frame(obj);
                if !power::put_fits(0, 0, f.out.refs.len() + 1) {
                    return fail(errors::TOO_LARGE);
                }
                f.out.refs.push(r);
                Reply::ok(0)
            }
            ops::SEND => {
                let Some(r) = self.reference(obj, call.arg) else {
                    return fail(errors::NO_REF);
                };
                let f = self.frame(obj);
                let work = power::SEND_WORK + byte_work(f.out.bytes.len());
                if work > call.work_limit {
                    return fail(errors::LIMIT);
                }
                let msg = std::mem::take(&mut f.out);
                f.effects.push(Effect::Send(r, msg));
                Reply::ok(0).with_work(work)
            }
            ops::RESULT => match self.frame(obj).results.get(call.arg as usize) {
                Some(&w) => Reply::ok(w),
                None => fail(errors::NO_REF),
            },
            ops::IN_BYTES => {
                let f = self.frame(obj);
                let n = f.inbound.bytes.len().min(call.data.len());
                let work = byte_work(n);
                if work > call.work_limit {
                    return fail(errors::LIMIT);
                }
                call.out.extend_from_slice(&f.inbound.bytes[..n]);
                Reply::ok(f.inbound.bytes.len() as u64).with_work(work)
            }
            ops::IN_REFS => Reply::ok(self.frame(obj).inbound.refs.len() as u64),
            ops::IN_REF => {
                let Some(&r) = self.frame(obj).inbound.refs.get(call.arg as usize) else {
                    return fail(errors::NO_REF);
                };
                match self.keep(obj, r) {
                    Some(i) => Reply::ok(i),
                    None => fail(errors::TOO_LARGE),
                }
            }
            ops::MAKE => self.make(obj, call),
            ops::REFS => Reply::ok(self.live.get(obj).map_or(0, |l| l.refs.len() as u64)),
            _ => fail(errors::NO_REF),
        }
    }

    fn make(&mut self, obj: &Swiss, call: ResourceCall<'_>) -> Reply {
        let work = power::MAKE_WORK + call.data.len() as u64;
        if work > call.work_limit {
            return fail(errors::LIMIT);
        }
        let (gas, mem) = match self.live.get(obj) {
            Some(l) => (call.arg.min(l.gas), l.mem),
            None => return fail(errors::NO_OBJECT),
        };
        let Ok(image) = fresh_image(&Program::from_bytes(call.data), &[], mem) else {
            return fail(errors::BAD_MODULE).with_work(work);
        };
        let swiss = new_swiss();
        let me = self.me;
        let new = SturdyRef { vat: me, swiss };
        let Some(idx) = self.keep(obj, new) else {
            return fail(errors::TOO_LARGE).with_work(work);
        };
        let f = self.frame(obj);
        let mut refs = vec![new];
        refs.extend(std::mem::take(&mut f.out).refs);
        f.effects.push(Effect::Make {
            swiss,
            gas,
            mem,
            image,
            refs,
        });
        Reply::ok(idx).with_work(work)
    }
}

/// A new object's image: `program` ready to run with `args`, its vat key in slot 0, `mem`
/// bytes as its memory limit.
pub(crate) fn fresh_image(
    program: &Result<Program, rarvm::Error>,
    args: &[u64],
    mem: u64,
) -> Result<Vec<u8>, Error> {
    let program = program
        .as_ref()
        .map_err(|e| Error::Program(e.to_string()))?;
    let mut vm = Vm::new(program, args).map_err(|e| Error::Program(e.to_string()))?;
    let power = Power::new(None, [0; 16], Arc::new(AtomicBool::new(false)));
    vm.grant(Some(power::GRANT), Grant::Resource(Box::new(power)))
        .map_err(|e| Error::Program(e.to_string()))?;
    vm.add_allowance(0, mem);
    Ok(vm.image())
}

/// 128 bits from the operating system's generator.
pub(crate) fn new_swiss() -> Swiss {
    use crypto_box::aead::rand_core::RngCore;
    let mut s = [0u8; 16];
    crypto_box::aead::OsRng.fill_bytes(&mut s);
    s
}

/// An object as of its snapshot, its committed log and `pending` turns: each replayed
/// with its message and its host answers, never reaching `power`.
pub(crate) fn restore(
    row: &store::ObjectRow,
    log: &[Vec<u8>],
    pending: &[Entry],
    power: Power,
    engine: EngineKind,
) -> Result<(Vm, Vec<SturdyRef>), Error> {
    let mut vm = Vm::from_image(&row.image).map_err(|e| Error::Corrupt(e.to_string()))?;
    vm.set_engine(engine)
        .map_err(|e| Error::Program(e.to_string()))?;
    vm.grant(Some(power::GRANT), Grant::Resource(Box::new(power)))
        .map_err(|e| Error::Program(e.to_string()))?;
    let mut refs = wire::decode_refs(&row.refs).map_err(Error::Corrupt)?;
    let mut replay = |e: &Entry, refs: &mut Vec<SturdyRef>| -> Result<(), Error> {
        vm.set_port(&turn_port(&vm, &e.msg))
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        vm.set_gas_left(row.gas);
        let records = e.transcript.len();
        vm.replay(e.transcript.clone())
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        let out = vm.run(0, 0);
        let state = vm.replay_state();
        vm.take_transcript();
        if out.status != Status::Yielded || state.diverged_at.is_some() || state.replayed != records
        {
            return Err(Error::Corrupt(format!(
                "turn {} does not replay: {} after {} of {records} answers",
                e.turn, out.status, state.replayed
            )));
        }
        refs.extend_from_slice(&e.kept);
        Ok(())
    };
    for bytes in log {
        let e = Entry::decode(bytes).map_err(Error::Corrupt)?;
        replay(&e, &mut refs)?;
    }
    for e in pending {
        replay(e, &mut refs)?;
    }
    Ok((vm, refs))
}

/// The port a turn starts with: a new object's first turn gets the message's words as
/// its entry function's arguments; every later turn the words and their count
/// ([`Message::port`]).
fn turn_port(vm: &Vm, msg: &Message) -> Vec<u64> {
    if vm.root().status() == Status::Ready {
        msg.words.clone()
    } else {
        msg.port()
    }
}

/// How a turn ended.
pub(crate) struct Ran {
    pub status: Status,
    pub fault: Option<String>,
    pub gas: u64,
    pub results: Vec<u64>,
}

/// Runs `msg` on `obj` to its next `yield`, with at most `cap` gas beyond its allowance
/// (a call's work limit). A turn that ends otherwise is undone, with every call it made.
/// `Ok(None)`: no such object; `Err(status)`: it is running already.
fn run(
    world: &Arc<Mutex<World>>,
    obj: &Swiss,
    msg: Message,
    cap: u64,
) -> Result<Option<Ran>, Error> {
    let (mut vm, gas) = {
        let mut w = world.lock().expect("no panics holding the world");
        if w.live.get(obj).is_some_and(|l| l.running) {
            return Err(Error::Busy);
        }
        if !w.load(world, obj)? {
            return Ok(None);
        }
        let l = w.live.get_mut(obj).expect("loaded");
        let vm = l.vm.take().expect("restored");
        l.running = true;
        let touched = vec![(*obj, l.pending.len(), l.refs.len())];
        let gas = l.gas.min(cap);
        w.frames.push(Frame {
            obj: *obj,
            inbound: msg,
            out: Message::default(),
            results: Vec::new(),
            kept: Vec::new(),
            effects: Vec::new(),
            touched,
        });
        (vm, gas)
    };
    let port = turn_port(
        &vm,
        &world
            .lock()
            .expect("no panics")
            .frames
            .last()
            .expect("pushed")
            .inbound,
    );
    if vm.set_port(&port).is_err() {
        // Only a first turn's words are the entry's arguments, unchecked by the limits.
        vm.set_port(&[]).expect("an empty port fits");
    }
    vm.set_gas_left(gas);
    let before = vm.outcome().gas_used;
    let out = vm.run(0, 0);
    let transcript = vm.take_transcript();
    let used = out.gas_used - before;
    let mut w = world.lock().expect("no panics holding the world");
    let frame = w.frames.pop().expect("pushed");
    let turn = w.turn;
    let l = w.live.get_mut(obj).expect("running");
    l.running = false;
    let ran = Ran {
        status: out.status,
        fault: out.fault.map(|f| f.to_string()),
        gas: used,
        results: out.results.clone(),
    };
    if out.status == Status::Yielded {
        let entry = Entry {
            turn,
            msg: frame.inbound,
            transcript,
            kept: frame.kept,
        };
        l.since_gas = l.since_gas.saturating_add(used);
        l.since_bytes = l.since_bytes.saturating_add(entry.encode().len() as u64);
        l.pending.push(entry);
        l.vm = Some(vm);
        match w.frames.last_mut() {
            Some(parent) => {
                parent.effects.extend(frame.effects);
                parent.touched.extend(frame.touched);
            }
            None => w.effects.extend(frame.effects),
        }
    } else {
        drop(vm);
        w.roll_back(&frame.touched);
    }
    Ok(Some(ran))
}

/// The vat key's `CALL`: runs the message `caller` built on its reference `idx`, now.
pub(crate) fn call(world: &Arc<Mutex<World>>, caller: &Swiss, idx: u64, work_limit: u64) -> Reply {
    let (target, msg) = {
        let mut w = world.lock().expect("no panics holding the world");
        let me = w.me;
        let Some(r) = w.reference(caller, idx) else {
            return fail(errors::NO_REF);
        };
        if r.vat != me {
            return fail(errors::NOT_LOCAL);
        }
        (r.swiss, std::mem::take(&mut w.frame(caller).out))
    };
    match run(world, &target, msg, work_limit) {
        Ok(Some(ran)) => {
            let mut w = world.lock().expect("no panics holding the world");
            if ran.status == Status::Yielded {
                let n = ran.results.len() as u64;
                w.frame(caller).results = ran.results;
                Reply::ok(n).with_work(ran.gas)
            } else {
                w.frame(caller).results.clear();
                Reply {
                    r: ran.status as u64,
                    err: errors::FAILED,
                    work: ran.gas,
                }
            }
        }
        Ok(None) => fail(errors::NO_OBJECT),
        Err(Error::Busy) => fail(errors::BUSY),
        Err(_) => fail(errors::FAILED),
    }
}

/// Runs up to `max` queued messages, in order, and commits them in one transaction;
/// returns how many turns ran.
pub(crate) fn run_batch(world: &Arc<Mutex<World>>, max: usize) -> Result<usize, Error> {
    let queued: Vec<(i64, Vec<u8>)> = {
        let w = world.lock().expect("no panics holding the world");
        let mut stmt = w
            .conn
            .prepare_cached("SELECT id, delivery FROM inbox ORDER BY id LIMIT ?1")?;
        let rows = stmt.query_map([max as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    if queued.is_empty() {
        return Ok(0);
    }
    for (id, bytes) in &queued {
        let turn = {
            let mut w = world.lock().expect("no panics holding the world");
            w.turn += 1;
            w.consumed.push(*id);
            w.turn
        };
        let record = match Delivery::decode(bytes) {
            Err(e) => TurnRecord {
                turn,
                object: [0; 16],
                status: "refused".into(),
                fault: Some(e),
                gas: 0,
                words: 0,
            },
            Ok(d) => {
                let words = d.msg.words.len();
                let (status, fault, gas) = match run(world, &d.target, d.msg, u64::MAX) {
                    Ok(Some(r)) => (r.status.name().to_string(), r.fault, r.gas),
                    Ok(None) => ("no_object".to_string(), None, 0),
                    // The database failing is the host's problem: the batch is retried.
                    Err(e @ Error::Sql(_)) => return Err(e),
                    // An object that cannot be restored refuses its messages, loudly,
                    // rather than blocking the queue.
                    Err(e) => ("unrestorable".to_string(), Some(e.to_string()), 0),
                };
                TurnRecord {
                    turn,
                    object: d.target,
                    status,
                    fault,
                    gas,
                    words,
                }
            }
        };
        world.lock().expect("no panics").records.push(record);
    }
    let mut w = world.lock().expect("no panics holding the world");
    let n = queued.len();
    // Objects rolled back in the batch are restored now, to be snapshotted with it.
    let due: Vec<Swiss> = w
        .live
        .iter()
        .filter(|(_, l)| l.snapshot_due && l.vm.is_none())
        .map(|(s, _)| *s)
        .collect();
    for obj in due {
        if let Err(e) = w.load(world, &obj) {
            // It will refuse its next message as unrestorable; nothing to snapshot.
            eprintln!("vat: restoring an object after a rollback: {e}");
            w.live.remove(&obj);
        }
    }
    let committed = w.commit();
    w.evict();
    if let Err(e) = committed {
        // Nothing of the batch is in the database: forget it, and restore from there.
        w.live.clear();
        w.effects.clear();
        w.records.clear();
        w.consumed.clear();
        w.turn = store::turn(&w.conn)?;
        return Err(e);
    }
    Ok(n)
}

/// Snapshots are due when replaying the log would cost more than writing the image
/// this many times over (gas used since, and log bytes, against the footprint).
const SNAPSHOT_RATIO: u64 = 4;
const MIN_SNAPSHOT_BASIS: u64 = 1 << 20;

/// Most objects kept in memory between batches, and most bytes of their footprints:
/// beyond either, objects are dropped and restored from the database when next needed.
const MAX_LIVE: usize = 1024;
const MAX_LIVE_BYTES: u64 = 512 << 20;

impl World {
    /// Keeps the objects in memory within [`MAX_LIVE`] and [`MAX_LIVE_BYTES`].
    fn evict(&mut self) {
        let mut bytes: u64 = 0;
        let mut keep = 0usize;
        self.live.retain(|_, l| {
            let size = l.vm.as_ref().map_or(0, |vm| vm.root().footprint());
            bytes = bytes.saturating_add(size);
            keep += 1;
            l.running || !l.pending.is_empty() || (keep <= MAX_LIVE && bytes <= MAX_LIVE_BYTES)
        });
    }

    fn commit(&mut self) -> Result<(), Error> {
        let me = self.me;
        let turn = self.turn;
        let effects = std::mem::take(&mut self.effects);
        let records = std::mem::take(&mut self.records);
        let consumed = std::mem::take(&mut self.consumed);
        let World { conn, live, .. } = self;
        let tx = store::begin(conn)?;
        for l in live.values_mut() {
            if l.pending.is_empty() && !l.snapshot_due {
                continue;
            }
            let due = l.vm.as_ref().is_some_and(|vm| {
                let basis = vm.root().footprint().max(MIN_SNAPSHOT_BASIS);
                l.snapshot_due
                    || l.since_gas.saturating_add(l.since_bytes)
                        > basis.saturating_mul(SNAPSHOT_RATIO)
            });
            if due {
                let vm = l.vm.as_ref().expect("checked");
                tx.prepare_cached("DELETE FROM log WHERE object = ?1")?
                    .execute([l.id])?;
                tx.prepare_cached(
                    "UPDATE objects SET image = ?2, refs = ?3, since_gas = 0, since_bytes = 0
                     WHERE id = ?1",
                )?
                .execute(params![l.id, vm.image(), wire::encode_refs(&l.refs)])?;
                l.since_gas = 0;
                l.since_bytes = 0;
                l.snapshot_due = false;
                l.pending.clear();
                continue;
            }
            let mut insert =
                tx.prepare_cached("INSERT INTO log (object, seq, entry) VALUES (?1, ?2, ?3)")?;
            for e in l.pending.drain(..) {
                insert.execute(params![l.id, l.log_next as i64, e.encode()])?;
                l.log_next += 1;
            }
            tx.prepare_cached(
                "UPDATE objects SET log_next = ?2, since_gas = ?3, since_bytes = ?4 WHERE id = ?1",
            )?
            .execute(params![
                l.id,
                l.log_next as i64,
                l.since_gas as i64,
                l.since_bytes as i64
            ])?;
        }
        for effect in effects {
            match effect {
                Effect::Send(r, msg) => {
                    let d = Delivery {
                        target: r.swiss,
                        msg,
                    };
                    if r.vat == me {
                        store::enqueue(&tx, &d)?;
                    } else {
                        store::enqueue_out(&tx, &r.vat, &d)?;
                    }
                }
                Effect::Make {
                    swiss,
                    gas,
                    mem,
                    image,
                    refs,
                } => store::insert_object(
                    &tx,
                    &swiss,
                    &[],
                    gas,
                    mem,
                    &image,
                    &wire::encode_refs(&refs),
                )?,
            }
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO turns (turn, object, status, fault, gas, words)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for r in &records {
                insert.execute(params![
                    r.turn as i64,
                    &r.object[..],
                    r.status,
                    r.fault,
                    r.gas as i64,
                    r.words as i64
                ])?;
            }
            let mut delete = tx.prepare_cached("DELETE FROM inbox WHERE id = ?1")?;
            for id in &consumed {
                delete.execute([id])?;
            }
        }
        store::set_meta(&tx, "turn", &turn.to_le_bytes())?;
        tx.commit()?;
        Ok(())
    }
}
