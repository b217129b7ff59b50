//! Gas regions: one gas check for a whole acyclic stretch of code.
//!
//! The interpreter charges every basic block at its start and stops out of gas at the first
//! block it cannot pay. Native code keeps that exactly while comparing far less often: the
//! blocks of a function are cut into *regions* at *check points* — every entry point (so
//! every loop header, see [`entry_points`]) and every block that follows an instruction which
//! spends gas of its own (a call, a self-metered or runtime-executed instruction). Between
//! check points control only goes forward, so the blocks reachable from a check point before
//! the next one form an acyclic graph, and [`Regions::need`] is the most gas any path
//! through it can charge: its blocks' costs, and the gas of the calls in it. A check point
//! compares the fuel against that need once; the blocks after it, and those calls, subtract
//! their gas without a compare, since no path can run out before the next check.
//!
//! When the fuel is below the need, native code leaves at the check point's block start —
//! the state the interpreter would hold there — and the interpreter, which charges block by
//! block, runs on: it stops out of gas at exactly the block where it must, or hands back to
//! native code at an entry point whose need the fuel covers again. So a stop happens at the
//! same block with the same counters and image on every engine; only fewer compares run.

use rarvm_runtime::isa::{dynamic_gas, Class, Flow, Instr, Metering, Opcode};
use rarvm_runtime::verify::{VerifiedModule, UNREACHABLE};

use crate::tier::entry_points;

/// [`Regions::entry_needs`] where native code cannot be entered.
pub(crate) const NOT_ENTRY: u64 = u64::MAX;

/// Where function `f`'s native code checks gas, and how much.
pub(crate) struct Regions {
    /// Where the runtime may enter ([`entry_points`]); each is a check point.
    pub entry: Vec<bool>,
    /// At a check point, the most gas any path from it to the next check point charges,
    /// its own block included; 0 elsewhere, and where nothing needs checking.
    pub need: Vec<u64>,
    /// At a `call`: whether its region's need includes the call's gas, so that the call
    /// charges it without a check of its own.
    pub covered: Vec<bool>,
}

impl Regions {
    /// The regions of function `f` of `m`.
    pub fn of(m: &VerifiedModule, f: u32) -> Regions {
        let func = m.func(f);
        let info = m.info(f);
        let len = func.code.len();
        let reachable = |pc: usize| pc < len && info.height[pc] != UNREACHABLE;
        let entry = entry_points(m, f);
        let mut check = entry.clone();
        // Each block's successors, found at its last instruction.
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); len];
        let mut start = 0;
        let mut spends = false;
        for pc in 0..len {
            if info.leader[pc] {
                start = pc;
                spends = false;
            }
            if !reachable(pc) {
                continue;
            }
            let op = func.code[pc].opcode();
            spends |= !keeps_fuel(op);
            let flow = op.info().flow;
            if !(flow.ends_block() || pc + 1 >= len || info.leader[pc + 1]) {
                continue;
            }
            let next = match flow {
                Flow::Next | Flow::Branch | Flow::Call | Flow::Exit => Some(pc + 1),
                Flow::Jump | Flow::Switch | Flow::Return | Flow::Stop => None,
            };
            let out: Vec<usize> = func
                .targets(pc)
                .map(|t| t as usize)
                .chain(next)
                .filter(|&t| reachable(t))
                .collect();
            if spends {
                // What the block spent beyond its cost is unknown here: check again after.
                out.iter().for_each(|&t| check[t] = true);
            }
            succ[start] = out;
        }
        // A call is a block of its own (it charges its own gas). One that is not a check
        // point lies inside a region whose check point is a block-metered block: that
        // region's need includes the call's gas (known from the callee's frame), so the
        // call charges it without a check of its own.
        let mut covered = vec![false; len];
        let mut extra = vec![0u64; len];
        for pc in (0..len).filter(|&pc| reachable(pc) && !check[pc]) {
            if let Instr::Call(callee) = func.code[pc] {
                covered[pc] = true;
                extra[pc] = call_gas(m, callee);
            }
        }
        // Forward only between check points (a backward target is a loop header, an entry
        // point), so one pass from the end computes every need.
        let mut need = vec![0u64; len];
        for pc in (0..len).rev().filter(|&pc| info.is_block_start(pc as u32)) {
            let onward = succ[pc]
                .iter()
                .filter(|&&t| !check[t])
                .map(|&t| {
                    debug_assert!(t > pc, "only check points are reached backward");
                    need[t]
                })
                .max()
                .unwrap_or(0);
            need[pc] = u64::from(info.block_cost[pc])
                .saturating_add(extra[pc])
                .saturating_add(onward);
        }
        for (pc, n) in need.iter_mut().enumerate() {
            if !check[pc] {
                *n = 0;
            }
        }
        Regions {
            entry,
            need,
            covered,
        }
    }

    /// What entering at each pc needs: the fuel its region needs at an entry point (nothing
    /// for code run unmetered), [`NOT_ENTRY`] elsewhere.
    pub fn entry_needs(&self, metered: bool) -> Box<[u64]> {
        self.entry
            .iter()
            .zip(&self.need)
            .map(|(&e, &n)| match (e, metered) {
                (false, _) => NOT_ENTRY,
                (true, true) => n,
                (true, false) => 0,
            })
            .collect()
    }
}

/// The gas a `call` of `callee` charges: the call is self-metered, a block of its own.
pub(crate) fn call_gas(m: &VerifiedModule, callee: u32) -> u64 {
    dynamic_gas(Opcode::Call, m.info(callee).frame_bytes)
}

/// True when `op` changes the fuel only through its block's cost: native code then knows
/// the fuel after it without a check.
fn keeps_fuel(op: Opcode) -> bool {
    let i = op.info();
    if i.metering != Metering::Block {
        return false;
    }
    match i.class {
        Class::Stack | Class::Unary | Class::Binary | Class::Compare | Class::Memory => true,
        Class::Control => matches!(
            i.flow,
            Flow::Next | Flow::Jump | Flow::Branch | Flow::Switch
        ),
        Class::Process => matches!(op, Opcode::GasLeft | Opcode::MemLeft),
        Class::Bulk | Class::Children | Class::Keys => false,
    }
}
