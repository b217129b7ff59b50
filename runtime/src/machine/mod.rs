//! The machine: runs a process tree on an [`Engine`] under the intentional resource model.
//!
//! While a tree runs, the processes from the root down to the deepest one that is
//! running or frozen form the *spine*, held in a `Vec` of links — never on the host
//! stack. Links `0..=leaf` are *active*: the leaf executes and every charge applies to all
//! of them. Links below the leaf are *parked*: a stopped child of the leaf and the
//! processes frozen inside it, waiting for a `recurse` to resume them.
//!
//! Each link's gas left and memory headroom live in a min segment tree ([`tree`]). After
//! an engine run the machine adds the charge to the active prefix, and the engine's
//! effective budget is the minimum over that prefix: the hot path never looks at depth,
//! and each transition (push, stop, refuel, settle) costs O(log depth). Stopping a
//! process only moves the leaf index, so refuelling an ancestor at any distance resumes
//! the deepest frozen process in O(log depth) too.
//!
//! When a charge fails, the *outermost* process that cannot pay stops (out of gas or out
//! of memory); everything below it stays frozen with status `Running`, and its parent
//! continues after its `recurse`. A parked child sits in its parent's key slot with its
//! counters settled, so the parent can inspect, feed, save or drop it; its frozen
//! descendants stay on the spine (their slots hold [`Key::Active`]) until the parent
//! resumes it, abandons it for another child, saves it, or drops it.

mod tree;

use crate::engine::Stop;
use crate::engine::{Budget, Engine, Exit};
use crate::host::{Host, NoHost};
use crate::limits::RELINK_GAS;
use crate::ops;
use crate::process::{Fault, Key, Process, Status};
use tree::MinTree;

/// Adds `gas` and `mem` to `root`'s allowances and runs it until it stops (the host's
/// `recurse`). A root that has finished (returned, halted, faulted) is returned unchanged
/// apart from its allowances.
pub fn run<E: Engine + ?Sized>(
    root: Box<Process>,
    engine: &mut E,
    gas: u64,
    mem: u64,
) -> Box<Process> {
    run_with_host(root, engine, &mut NoHost, gas, mem)
}

/// [`run`] with a host answering `key.invoke` on keys that reach outside the tree.
pub fn run_with_host<E: Engine + ?Sized>(
    mut root: Box<Process>,
    engine: &mut E,
    host: &mut dyn Host,
    gas: u64,
    mem: u64,
) -> Box<Process> {
    root.gas_left = root.gas_left.saturating_add(gas);
    root.mem_limit = root.mem_limit.saturating_add(mem);
    let mut m = Machine {
        chain: Vec::new(),
        leaf: 0,
        gas: MinTree::new(),
        mem: MinTree::new(),
    };
    if let Err(root) = m.enter(root, 0) {
        return root;
    }
    loop {
        let exit = match m.step(engine) {
            Exit::Invoke => match m.invoke(host) {
                Ok(()) => continue,
                Err(stop) => Exit::from(stop),
            },
            exit => exit,
        };
        if let Some(root) = m.handle(exit) {
            return root;
        }
    }
}

struct Machine {
    chain: Vec<Link>,
    /// Index of the executing link.
    leaf: usize,
    /// Gas left of each link.
    gas: MinTree,
    /// Memory headroom (`mem_limit - footprint`) of each link.
    mem: MinTree,
}

/// One process on the spine.
struct Link {
    /// The process; `None` while it is parked in its parent's key slot (then its status
    /// is not `Running` and its counters are settled).
    proc: Option<Box<Process>>,
    /// The slot of the parent's key list it belongs in.
    slot: u32,
    /// `gas_used + gas_left` when it was last activated: its gas used is this minus its
    /// current gas left.
    used_base: u128,
    /// For a parked stopped link: the link that was executing when it stopped, where a
    /// resume continues (itself, or the deepest process frozen inside it).
    resume_to: usize,
}

impl Machine {
    fn proc(&mut self, j: usize) -> &mut Process {
        self.chain[j]
            .proc
            .as_deref_mut()
            .expect("active and frozen links hold their process")
    }

    /// Loads link `j`'s tree values and gas base from its process's fields.
    fn activate(&mut self, j: usize) {
        let p = self.chain[j]
            .proc
            .as_deref()
            .expect("an activated link holds its process");
        let (gas_left, used, headroom) = (
            p.gas_left,
            p.gas_used,
            i128::from(p.mem_limit) - i128::from(p.footprint),
        );
        self.gas.reserve(j);
        self.mem.reserve(j);
        self.gas.set(j, i128::from(gas_left));
        self.mem.set(j, headroom);
        self.chain[j].used_base = u128::from(used) + u128::from(gas_left);
    }

    /// Writes link `j`'s settled counters into its process.
    fn settle(&mut self, j: usize) {
        let gas_left = self.gas.get(j).clamp(0, i128::from(u64::MAX)) as u64;
        let headroom = self.mem.get(j);
        let used_base = self.chain[j].used_base;
        let p = self.proc(j);
        p.gas_left = gas_left;
        p.gas_used = u64::try_from(used_base - u128::from(gas_left)).unwrap_or(u64::MAX);
        p.footprint = (i128::from(p.mem_limit) - headroom).clamp(0, i128::from(u64::MAX)) as u64;
    }

    /// Appends `p` to the spine below the leaf and makes it the leaf.
    fn push(&mut self, p: Box<Process>, slot: u32) {
        debug_assert_eq!(
            self.chain.len(),
            if self.chain.is_empty() {
                0
            } else {
                self.leaf + 1
            }
        );
        self.leaf = self.link(p, slot);
    }

    /// Appends `p` to the end of the spine (activated, as its counters say); its index.
    fn link(&mut self, mut p: Box<Process>, slot: u32) -> usize {
        p.on_spine = true;
        let j = self.chain.len();
        self.chain.push(Link {
            proc: Some(p),
            slot,
            used_base: 0,
            resume_to: j,
        });
        self.activate(j);
        j
    }

    /// Makes `p` (just taken from `slot` of the leaf, or the root) the new leaf, then
    /// descends through its frozen running children. Gives `p` back if it cannot run.
    fn enter(&mut self, mut p: Box<Process>, slot: u32) -> Result<(), Box<Process>> {
        match p.status {
            Status::Returned | Status::Halted | Status::Faulted => return Err(p),
            Status::Ready => {
                let delta = ops::start(&mut p);
                if p.status == Status::Faulted {
                    // The entry frame's footprint leaves the leaf's (and the chain's) total.
                    if !self.chain.is_empty() {
                        self.mem.add_prefix(self.leaf, -delta);
                    }
                    return Err(p);
                }
            }
            Status::Yielded | Status::OutOfGas | Status::OutOfMemory => p.status = Status::Running,
            Status::Running => {}
        }
        let frozen = p.frozen_depth;
        let top = self.chain.len();
        self.push(p, slot);
        self.leaf = self.descend(self.leaf);
        // A chain parked under the leaf goes back below it, as it was when the run that
        // parked it stopped (the image records it), and so on for chains parked deeper.
        loop {
            let last = self.chain.len() - 1;
            let Some(k) = self.proc(last).parked_slot else {
                break;
            };
            let Key::Process(c) =
                std::mem::replace(&mut self.proc(last).keys[k as usize], Key::Active)
            else {
                unreachable!("a parked slot holds a process")
            };
            let j = self.link(c, k);
            let deepest = self.descend(j);
            self.chain[j].resume_to = deepest;
            let c = self.chain[j].proc.take().expect("just linked");
            self.proc(last).keys[k as usize] = Key::Process(c);
        }
        debug_assert_eq!(
            self.chain.len() - top - 1,
            frozen as usize,
            "a process knows the depth of the chain frozen in it"
        );
        Ok(())
    }

    /// Links the running children frozen below link `j`, one below the other; the index of
    /// the deepest.
    fn descend(&mut self, mut j: usize) -> usize {
        debug_assert_eq!(
            self.chain.len(),
            j + 1,
            "descending from the end of the spine"
        );
        while let Some(k) = self.proc(j).running_child() {
            let Key::Process(child) =
                std::mem::replace(&mut self.proc(j).keys[k as usize], Key::Active)
            else {
                unreachable!("running_child returns a process slot")
            };
            j = self.link(child, k);
        }
        j
    }

    /// The leaf's effective budget.
    fn budget(&self) -> Budget {
        let clamp = |v: i128| v.clamp(0, i128::from(u64::MAX)) as u64;
        let fuel = clamp(self.gas.min_prefix(self.leaf));
        let mem = clamp(self.mem.min_prefix(self.leaf));
        let own_gas = clamp(self.gas.get(self.leaf));
        let own_mem = clamp(self.mem.get(self.leaf));
        Budget {
            fuel,
            mem,
            gas_extra: own_gas - fuel,
            mem_extra: own_mem - mem,
        }
    }

    /// Runs the leaf on `engine` and charges what it used to the active links.
    fn step<E: Engine + ?Sized>(&mut self, engine: &mut E) -> Exit {
        let given = self.budget();
        let mut b = given;
        let leaf = self.leaf;
        let exit = engine.run(self.proc(leaf), &mut b);
        debug_assert!(b.fuel <= given.fuel, "engines only spend gas");
        self.gas.add_prefix(leaf, -i128::from(given.fuel - b.fuel));
        self.mem
            .add_prefix(leaf, i128::from(b.mem) - i128::from(given.mem));
        self.check_parked();
        exit
    }

    /// Drops the parked links if the leaf dropped the child they hang from.
    fn check_parked(&mut self) {
        if self.chain.len() <= self.leaf + 1 {
            return;
        }
        let slot = self.chain[self.leaf + 1].slot as usize;
        let intact =
            matches!(self.proc(self.leaf).keys.get(slot), Some(Key::Process(c)) if c.on_spine);
        if !intact {
            self.chain.truncate(self.leaf + 1);
            self.proc(self.leaf).parked_slot = None;
        }
    }

    /// Acts on an engine exit. Returns the root when it has stopped.
    fn handle(&mut self, exit: Exit) -> Option<Box<Process>> {
        let leaf = self.leaf;
        match exit {
            Exit::OutOfGas(need) => {
                let i = self.gas.first_below(leaf, i128::from(need)).unwrap_or(leaf);
                self.stop(i, Status::OutOfGas)
            }
            Exit::OutOfMemory(need) => {
                let i = self.mem.first_below(leaf, i128::from(need)).unwrap_or(leaf);
                self.stop(i, Status::OutOfMemory)
            }
            Exit::Fault(fault) => self.fault(fault),
            Exit::Yield => self.stop(leaf, Status::Yielded),
            Exit::Halt => self.stop(leaf, Status::Halted),
            Exit::Return => self.stop(leaf, Status::Returned),
            Exit::Recurse => self.recurse(),
            Exit::Invoke => unreachable!("the run loop executes key.invoke"),
            Exit::Fold => {
                self.fold_parked(false);
                None
            }
        }
    }

    /// Executes the leaf's `key.invoke`: `slot op arg addr len -- r err`, charging its gas
    /// to the active links. On a stop the operands stay for the retry.
    /// A host's answer is appended to the root's transcript and charged to the root alone.
    fn invoke(&mut self, host: &mut dyn Host) -> Result<(), Stop> {
        let given = self.budget();
        let mut b = given;
        let leaf = self.leaf;
        let root_used =
            self.chain[0].used_base - self.gas.get(0).clamp(0, i128::from(u64::MAX)) as u128;
        let root = ops::RootState {
            clock: u64::try_from(root_used).unwrap_or(u64::MAX),
            headroom: self.mem.get(0).clamp(0, i128::from(u64::MAX)) as u64,
            records: self.proc(0).transcript.len(),
        };
        let p = self.proc(leaf);
        let n = p.stack.len();
        let [slot, op, arg, addr, len] = p.stack[n - 5..] else {
            unreachable!("the verifier guarantees key.invoke's five operands")
        };
        let (reply, record) = ops::key_invoke(p, &mut b, host, root, slot, op, arg, addr, len)?;
        p.stack.truncate(n - 5);
        p.stack.extend([reply.r, reply.err]);
        p.frames
            .last_mut()
            .expect("a process in key.invoke has a frame")
            .pc += 1;
        self.gas.add_prefix(leaf, -i128::from(given.fuel - b.fuel));
        if let Some(record) = record {
            self.mem.add_prefix(0, -i128::from(record.footprint()));
            self.proc(0).transcript.push(record);
        }
        Ok(())
    }

    fn fault(&mut self, fault: Fault) -> Option<Box<Process>> {
        self.proc(self.leaf).fault = fault;
        self.stop(self.leaf, Status::Faulted)
    }

    /// Stops link `i` with `status`. The links below it down to the leaf stay on the spine,
    /// frozen; `i` itself goes back to its parent's slot and the parent continues.
    fn stop(&mut self, i: usize, status: Status) -> Option<Box<Process>> {
        let resume_to = self.leaf;
        self.settle(i);
        let running_slot = self.chain.get(i + 1).map(|l| l.slot);
        let p = self.proc(i);
        p.status = status;
        p.running_slot = running_slot.filter(|_| resume_to > i);
        p.trim();
        if i == 0 {
            self.leaf = 0;
            self.fold_parked(true);
            let mut root = self
                .chain
                .pop()
                .and_then(|l| l.proc)
                .expect("the root link");
            root.on_spine = false;
            return Some(root);
        }
        let slot = self.chain[i].slot as usize;
        let (p, parked) = if self.chain.len() == i + 1 {
            let mut p = self
                .chain
                .pop()
                .and_then(|l| l.proc)
                .expect("the stopped link");
            p.on_spine = false;
            p.frozen_depth = 0;
            (p, None)
        } else {
            self.chain[i].resume_to = resume_to;
            (
                self.chain[i].proc.take().expect("the stopped link"),
                Some(slot as u32),
            )
        };
        self.leaf = i - 1;
        let parent = self.proc(i - 1);
        parent.parked_slot = parked;
        parent.keys[slot] = Key::Process(p);
        complete_recurse(parent, status);
        None
    }

    /// Executes the leaf's `recurse`: `slot gas mem -- status`.
    fn recurse(&mut self) -> Option<Box<Process>> {
        let leaf = self.leaf;
        let p = self.proc(leaf);
        let n = p.stack.len();
        let (slot, gas, mem) = (p.stack[n - 3], p.stack[n - 2], p.stack[n - 1]);
        let Some(index) = usize::try_from(slot)
            .ok()
            .filter(|i| matches!(p.keys.get(*i), Some(Key::Process(_))))
        else {
            return self.fault(Fault::InvalidKey);
        };
        // Resuming a child with processes frozen in it takes them out of their slots onto the
        // spine: paid first, at RELINK_GAS per process, unless it is the child parked under
        // this one, whose chain is there already. Putting a parked chain back into its
        // slots when this process turns to another child is work its entry (or its
        // building) paid for. Both are tree state, the same however the run was sliced
        // (`docs/SPEC.md` §8).
        let Key::Process(c) = &p.keys[index] else {
            unreachable!("slot was checked to hold a process")
        };
        let relinked = if p.parked_slot == Some(index as u32) || c.status.is_final() {
            0
        } else {
            u64::from(c.frozen_depth)
        };
        if relinked > 0 {
            let cost = relinked.saturating_mul(RELINK_GAS);
            if self.gas.min_prefix(leaf) < i128::from(cost) {
                let i = self.gas.first_below(leaf, i128::from(cost)).unwrap_or(leaf);
                return self.stop(i, Status::OutOfGas);
            }
            self.gas.add_prefix(leaf, -i128::from(cost));
        }
        let p = self.proc(leaf);
        p.stack.truncate(n - 3);
        p.trim();
        let Key::Process(mut child) = std::mem::replace(&mut p.keys[index], Key::Active) else {
            unreachable!("slot was checked to hold a process")
        };
        child.gas_left = child.gas_left.saturating_add(gas);
        child.mem_limit = child.mem_limit.saturating_add(mem);
        let parked = self.chain.len() > leaf + 1;
        if parked && child.on_spine {
            debug_assert_eq!(self.proc(leaf).parked_slot, Some(index as u32));
            // Resume the parked child: it rejoins the active chain, and execution continues
            // where it stopped — in it, or in the deepest process frozen inside it.
            if child.status.is_final() {
                let status = child.status;
                let p = self.proc(leaf);
                p.keys[index] = Key::Process(child);
                complete_recurse(p, status);
                return None;
            }
            child.status = Status::Running;
            self.proc(leaf).parked_slot = None;
            let j = leaf + 1;
            self.chain[j].proc = Some(child);
            self.activate(j);
            self.leaf = self.chain[j].resume_to;
            return None;
        }
        if parked {
            // The leaf turns to another child: put the parked one back together first.
            let p = self.proc(leaf);
            p.keys[index] = Key::Process(child);
            self.fold_parked(false);
            let p = self.proc(leaf);
            let Key::Process(c) = std::mem::replace(&mut p.keys[index], Key::Active) else {
                unreachable!("slot was checked to hold a process")
            };
            child = c;
        }
        if let Err(child) = self.enter(child, index as u32) {
            let status = child.status;
            let p = self.proc(leaf);
            p.keys[index] = Key::Process(child);
            complete_recurse(p, status);
        }
        None
    }

    /// Puts the parked links back into their parents' key slots, so the leaf's subtree is
    /// an ordinary tree again. With `keep`, the parked chains stay parked (the root stopped:
    /// entering it again puts them back on the spine); else the leaf turns away from them.
    fn fold_parked(&mut self, keep: bool) {
        let first = self.leaf + 1;
        // Bring the processes parked in slots into their links, settling the frozen ones.
        for j in first..self.chain.len() {
            if self.chain[j].proc.is_none() {
                let slot = self.chain[j].slot as usize;
                let Key::Process(p) =
                    std::mem::replace(&mut self.proc(j - 1).keys[slot], Key::Active)
                else {
                    unreachable!("a parked process sits in its parent's slot")
                };
                self.chain[j].proc = Some(p);
            } else {
                self.settle(j);
            }
        }
        // Each folded process learns how many frozen ones hang below it.
        let mut below = 0;
        while self.chain.len() > first {
            let link = self.chain.pop().expect("parked link");
            let mut p = link.proc.expect("folded links hold their process");
            p.on_spine = false;
            if !keep {
                p.parked_slot = None;
            }
            p.frozen_depth = below;
            below = if p.status == Status::Running || keep {
                below + 1
            } else {
                0
            };
            if p.status == Status::Running {
                p.trim();
            }
            let parent = self.proc(self.chain.len() - 1);
            parent.running_slot = (p.status == Status::Running).then_some(link.slot);
            parent.keys[link.slot as usize] = Key::Process(p);
        }
        let leaf = self.leaf;
        let p = self.proc(leaf);
        if keep {
            p.frozen_depth = below;
        } else {
            p.parked_slot = None;
        }
    }
}

/// Finishes `parent`'s `recurse` once its child stopped with `status`.
fn complete_recurse(parent: &mut Process, status: Status) {
    parent.stack.push(status as u64);
    parent
        .frames
        .last_mut()
        .expect("a process in recurse has a frame")
        .pc += 1;
}
