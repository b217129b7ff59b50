//! Random sequences of key operations against a model: whatever processes do with their
//! keys — spawn, give, attenuate, drop, invoke, save and load children — no process ever
//! holds a key its ancestors did not hand it, and the host is only ever asked to act on a
//! key derived from a root grant, with no more rights and no wider scope.

use proptest::prelude::*;
use rarvm_runtime::asm::assemble_verified;
use rarvm_runtime::engine::Budget;
use rarvm_runtime::engine::Stop;
use rarvm_runtime::host::{Call, Host, Reply};
use rarvm_runtime::keys::{HostKey, KeyKind};
use rarvm_runtime::ops;
use rarvm_runtime::process::{Fault, Key, Process};

/// A key as the model sees it.
#[derive(Clone, Debug, PartialEq)]
enum MKey {
    Empty,
    Proc(MProc),
    Host {
        kind: u8,
        name: String,
        rights: u64,
        scope: Vec<u8>,
        state: u64,
    },
}

#[derive(Clone, Debug, Default, PartialEq)]
struct MProc {
    keys: Vec<MKey>,
}

impl MProc {
    fn free_slot(&self) -> usize {
        self.keys
            .iter()
            .position(|k| *k == MKey::Empty)
            .unwrap_or(self.keys.len())
    }

    fn insert(&mut self, key: MKey) -> usize {
        let slot = self.free_slot();
        if slot == self.keys.len() {
            self.keys.push(key);
        } else {
            self.keys[slot] = key;
        }
        slot
    }

    fn holds_host_authority(&self) -> bool {
        self.keys.iter().any(|k| match k {
            MKey::Host { kind, .. } => *kind != 4,
            MKey::Proc(c) => c.holds_host_authority(),
            MKey::Empty => false,
        })
    }
}

/// The real tree in the model's terms.
fn snapshot(p: &Process) -> MProc {
    MProc {
        keys: p
            .keys
            .iter()
            .map(|k| match k {
                Key::Empty => MKey::Empty,
                Key::Process(c) => MKey::Proc(snapshot(c)),
                Key::Host(h) => MKey::Host {
                    kind: h.kind.code(),
                    name: h.name.clone(),
                    rights: h.rights,
                    scope: h.scope.clone(),
                    state: h.state,
                },
                Key::Active => unreachable!("nothing runs here"),
            })
            .collect(),
    }
}

/// Pre-order paths of every process.
fn paths(p: &MProc, here: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    out.push(here.clone());
    for (slot, k) in p.keys.iter().enumerate() {
        if let MKey::Proc(c) = k {
            here.push(slot);
            paths(c, here, out);
            here.pop();
        }
    }
}

fn model_at<'a>(mut p: &'a mut MProc, path: &[usize]) -> &'a mut MProc {
    for &slot in path {
        p = match &mut p.keys[slot] {
            MKey::Proc(c) => c,
            _ => unreachable!("paths name processes"),
        };
    }
    p
}

fn real_at<'a>(mut p: &'a mut Process, path: &[usize]) -> &'a mut Process {
    for &slot in path {
        p = p.child_mut(slot as u64).expect("paths name processes");
    }
    p
}

/// The model's own idea of a valid path (independent of the runtime's).
fn model_path_ok(path: &[u8]) -> bool {
    !path.is_empty()
        && path.len() <= 1024
        && path
            .split(|b| *b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b".." && !c.contains(&0) && c.len() <= 255)
}

/// The right each built-in operation needs, or `None` if the kind has no such op.
fn model_right(kind: u8, op: u64) -> Option<u64> {
    match (kind, op) {
        (2, 0) => Some(2),
        (2, 1) => Some(1),
        (4, 0 | 1) => Some(1),
        (5, 0 | 2 | 5) => Some(1),
        (5, 1 | 6 | 7) => Some(2),
        (5, 3 | 4) => Some(4),
        _ => None,
    }
}

const PATHS: [&[u8]; 12] = [
    b"", b"a", b"b", b"a/b", b"..", b"../x", b"/etc", b"a/../b", b".", b"a//b", b"x\0y", b"c/d/e",
];

#[derive(Clone, Debug)]
enum Op {
    Spawn(u8),
    Give(u8, u8, u8),
    Attenuate(u8, u8, u8, u8),
    Drop(u8, u8),
    Invoke(u8, u8, u8),
    SaveLoad(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => any::<u8>().prop_map(Op::Spawn),
        4 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c)| Op::Give(a, b, c)),
        4 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| Op::Attenuate(a, b, c, d)),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Drop(a, b)),
        5 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c)| Op::Invoke(a, b, c)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::SaveLoad(a, b)),
    ]
}

/// A host that records what it is asked and checks the key against the root's grants.
#[derive(Default)]
struct Recorder(Vec<(u8, String, Vec<u8>, u64, u64)>);

impl Host for Recorder {
    fn invoke(&mut self, call: Call<'_>) -> Reply {
        let k = &call.key;
        // The authority property itself: only root grants, never wider.
        let granted = matches!(
            (k.kind, k.name.as_str()),
            (KeyKind::Console, "console") | (KeyKind::Fs, "data")
        );
        assert!(granted, "the host was asked to act on {k:?}");
        assert_eq!(k.rights & !7, 0, "{k:?}");
        assert!(k.scope.is_empty() || model_path_ok(&k.scope), "{k:?}");
        self.0.push((
            k.kind.code(),
            k.name.clone(),
            k.scope.clone(),
            k.rights,
            call.op,
        ));
        Reply::ok(0)
    }
}

fn root() -> (Process, MProc) {
    let m = assemble_verified(
        ".memory 256\nfunc main() -> 0\n ret\nend\nfunc child() -> 0\n ret\nend\n",
        "model.rasm",
    )
    .unwrap();
    let mut p = Process::new(m, 0);
    let mut model = MProc::default();
    for key in [
        HostKey::new(KeyKind::Console, "console", 0),
        HostKey::new(KeyKind::Fs, "data", 0),
        HostKey::new(KeyKind::Random, "rnd", 5),
    ] {
        model.keys.push(MKey::Host {
            kind: key.kind.code(),
            name: key.name.clone(),
            rights: key.rights,
            scope: key.scope.clone(),
            state: key.state,
        });
        p.keys.push(Key::Host(Box::new(key)));
    }
    (p, model)
}

fn pick(n: u8, len: usize) -> usize {
    usize::from(n) % len.max(1)
}

/// A slot number that may be beyond the list.
fn slot_of(n: u8, keys: usize) -> u64 {
    u64::from(n) % (keys as u64 + 2)
}

fn run(ops: &[Op]) {
    let (mut real, mut model) = root();
    let mut host = Recorder::default();
    let mut expected_calls = Vec::new();
    let mut b = Budget::standalone(u64::MAX / 2, u64::MAX / 2);
    for op in ops {
        let mut all = Vec::new();
        paths(&model, &mut Vec::new(), &mut all);
        let who = |n: u8| all[pick(n, all.len())].clone();
        match *op {
            Op::Spawn(w) => {
                let path = who(w);
                let r = ops::spawn(real_at(&mut real, &path), &mut b, 1);
                let m = model_at(&mut model, &path);
                assert_eq!(r, Ok(m.insert(MKey::Proc(MProc::default())) as u64));
            }
            Op::Give(w, s, c) => {
                let path = who(w);
                let m = model_at(&mut model, &path);
                let (slot, child) = (slot_of(s, m.keys.len()), slot_of(c, m.keys.len()));
                let key = m.keys.get(slot as usize).cloned();
                let expect = match (key, m.keys.get(child as usize)) {
                    (Some(k @ MKey::Host { .. }), Some(MKey::Proc(_))) => {
                        let MKey::Proc(target) = &mut m.keys[child as usize] else {
                            unreachable!()
                        };
                        Ok(target.insert(k) as u64)
                    }
                    _ => Err(Stop::Fault(Fault::InvalidKey)),
                };
                let r = ops::key_give(real_at(&mut real, &path), &mut b, slot, child);
                assert_eq!(r, expect, "{op:?}");
            }
            Op::Attenuate(w, s, rights, pth) => {
                let path = who(w);
                let bytes = PATHS[pick(pth, PATHS.len())];
                let m = model_at(&mut model, &path);
                let slot = slot_of(s, m.keys.len());
                let expect = match m.keys.get(slot as usize).cloned() {
                    Some(MKey::Host {
                        kind,
                        name,
                        rights: had,
                        scope,
                        state,
                    }) => {
                        if !bytes.is_empty() && kind != 5 {
                            Ok((u64::MAX, 2))
                        } else if !bytes.is_empty() && !model_path_ok(bytes) {
                            Ok((u64::MAX, 3))
                        } else {
                            let mut scope = scope;
                            if !bytes.is_empty() {
                                if !scope.is_empty() {
                                    scope.push(b'/');
                                }
                                scope.extend_from_slice(bytes);
                            }
                            let new = MKey::Host {
                                kind,
                                name,
                                rights: had & u64::from(rights),
                                scope,
                                state,
                            };
                            Ok((m.insert(new) as u64, 0))
                        }
                    }
                    _ => Err(Stop::Fault(Fault::InvalidKey)),
                };
                let p = real_at(&mut real, &path);
                p.memory[..bytes.len()].copy_from_slice(bytes);
                let r =
                    ops::key_attenuate(p, &mut b, slot, u64::from(rights), 0, bytes.len() as u64);
                assert_eq!(r, expect, "{op:?}");
            }
            Op::Drop(w, s) => {
                let path = who(w);
                let m = model_at(&mut model, &path);
                let slot = slot_of(s, m.keys.len());
                let expect = match m.keys.get(slot as usize) {
                    Some(MKey::Empty) | None => Err(Fault::InvalidKey),
                    Some(_) => {
                        m.keys[slot as usize] = MKey::Empty;
                        while m.keys.last() == Some(&MKey::Empty) {
                            m.keys.pop();
                        }
                        Ok(())
                    }
                };
                let r = ops::key_drop(real_at(&mut real, &path), &mut b, slot);
                assert_eq!(r, expect, "{op:?}");
            }
            Op::Invoke(w, s, o) => {
                let path = who(w);
                let op_code = u64::from(o % 9);
                let m = model_at(&mut model, &path);
                let slot = slot_of(s, m.keys.len());
                let calls_before = expected_calls.len();
                let expect = match m.keys.get_mut(slot as usize) {
                    Some(MKey::Host {
                        kind,
                        name,
                        rights,
                        scope,
                        state,
                    }) => match model_right(*kind, op_code) {
                        None => Ok((0, 2)),
                        Some(r) if *rights & r != r => Ok((0, 1)),
                        Some(_) if *kind == 4 => {
                            // The VM answers random keys (SplitMix64); `fill` of 8 bytes
                            // takes one word and answers `len`.
                            *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                            let mut z = *state;
                            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                            Ok((if op_code == 0 { z ^ (z >> 31) } else { 8 }, 0))
                        }
                        Some(_) => {
                            expected_calls.push((
                                *kind,
                                name.clone(),
                                scope.clone(),
                                *rights,
                                op_code,
                            ));
                            Ok((0, 0))
                        }
                    },
                    _ => Err(Stop::Fault(Fault::InvalidKey)),
                };
                let p = real_at(&mut real, &path);
                let root = ops::RootState {
                    clock: 0,
                    headroom: u64::MAX,
                    records: 0,
                };
                let r = ops::key_invoke(p, &mut b, &mut host, root, slot, op_code, 0, 0, 8);
                // Exactly the answers the host gave make transcript records.
                let host_answered = expected_calls.len() > calls_before;
                let r = r.map(|(reply, record)| {
                    assert_eq!(record.is_some(), host_answered, "{op:?}");
                    (reply.r, reply.err)
                });
                assert_eq!(r, expect, "{op:?}");
            }
            Op::SaveLoad(w, c) => {
                let path = who(w);
                let m = model_at(&mut model, &path);
                let child = slot_of(c, m.keys.len());
                let expect = match m.keys.get(child as usize).cloned() {
                    Some(MKey::Proc(sub)) if sub.holds_host_authority() => Ok((u64::MAX, 3)),
                    Some(MKey::Proc(sub)) => Ok((m.insert(MKey::Proc(sub)) as u64, 0)),
                    _ => Err(Stop::Fault(Fault::InvalidKey)),
                };
                let p = real_at(&mut real, &path);
                if let Some(c) = p.child(child) {
                    // Room for the image (memory is not what this test is about).
                    let need = rarvm_runtime::image::encoded_len(c) as usize;
                    p.memory.resize(p.memory.len().max(need), 0);
                }
                let room = p.memory.len() as u64;
                let r = ops::child_save(p, &mut b, child, 0, room)
                    .and_then(|len| ops::child_load(p, &mut b, 0, len));
                assert_eq!(r, expect, "{op:?}");
            }
        }
        assert_eq!(snapshot(&real), model, "after {op:?}");
        // Every process may hold what it likes (memory is not what this test is about);
        // footprints stay exact, so saved images are valid.
        real.visit_post_order::<()>(&mut |p, _| {
            p.mem_limit = u64::MAX >> 2;
            Ok(())
        })
        .unwrap();
        real.recompute_footprints().unwrap();
    }
    assert_eq!(host.0, expected_calls);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn key_operations_never_reach_beyond_what_was_given(ops in prop::collection::vec(op(), 1..80)) {
        run(&ops);
    }
}
