//! When functions are compiled: compilation is *earned*.
//!
//! Gas is a promise about the host, and the JIT cannot charge gas of its own (every engine
//! charges exactly the same). So the JIT spends host CPU on compiling a function only after
//! the program has spent gas interpreting it in proportion to what the compile costs: a
//! function's *heat* is the gas the interpreter charged while running it, and it is compiled
//! once its heat reaches [`Mode`]'s rate times its [`compile_cost`]. Every unit of gas is
//! counted in one function's heat, so all compiling is bounded by a constant times the gas
//! the program was charged, whatever code it brings (`spawn.bytes`, `child.load`) and
//! however it calls it. A single compile is bounded too: functions whose cost exceeds
//! [`MAX_COMPILE_COST`] stay interpreted.
//!
//! Heat and compiled code never influence results, gas or images: they decide only which
//! engine runs the next block.

use rarvm_interp::Tiering;
use rarvm_runtime::isa::{Class, Flow, Metering, Opcode};
use rarvm_runtime::verify::{VerifiedModule, UNREACHABLE};

use std::sync::Arc;

use crate::cache::{ModuleCode, ModuleState};
use crate::Jit;

/// The most a single function's compile may cost, in cost units ([`compile_cost`]). Above
/// it a function stays in the interpreter, where it costs nothing extra: Cranelift's time
/// grows faster than linearly on large functions of some shapes (many branches, exits or
/// calls), so a bound keeps every compile short (tens of milliseconds here).
pub const MAX_COMPILE_COST: u64 = 4_000;
/// What any compile costs, in cost units, however small the function: Cranelift's work
/// per function (its contexts, the register allocator's set-up, an executable mapping of
/// its own) is about 300 to 600 µs here even for a function of four instructions.
pub const FUNC_COMPILE_COST: u64 = 32;
/// Most locals a compiled function may have.
pub const MAX_COMPILE_LOCALS: u32 = 4096;

/// Gas a function must have spent in the interpreter per unit of its compile cost before
/// [`Mode::Jit`] compiles it: the least that keeps compiling within the promise. Measured
/// (`cargo run --release -p rarvm-benches --example compile_shapes`), a cost unit takes
/// 8 to 40 µs of Cranelift's time on functions up to [`MAX_COMPILE_COST`], the worst shapes
/// at the largest size; the interpreter runs about a gas per nanosecond, so at this rate
/// compiling costs at most about 20 times what interpreting the gas that paid for it did.
///
/// [`Mode::Jit`]: crate::Mode::Jit
pub const JIT_RATE: u64 = 2_000;
/// The same for [`Mode::Auto`], which compiles only what is clearly hot.
///
/// [`Mode::Auto`]: crate::Mode::Auto
pub const AUTO_RATE: u64 = 8_000;

/// Where native code of function `f` may be entered from the runtime: its entry, the
/// continuation after every call and every instruction that leaves to the machine
/// (`recurse`, `key.invoke`, `yield`), and every target of a backward branch (loop
/// headers). The interpreter runs a resumed process from any other block start up to the
/// next of these, so native code need not be enterable everywhere — which keeps its
/// dispatch, and Cranelift's work, small.
pub fn entry_points(m: &VerifiedModule, f: u32) -> Vec<bool> {
    let func = m.func(f);
    let info = m.info(f);
    let reachable = |pc: usize| pc < func.code.len() && info.height[pc] != UNREACHABLE;
    let mut entry = vec![false; func.code.len()];
    entry[0] = true;
    for (pc, ins) in func.code.iter().enumerate() {
        if !reachable(pc) {
            continue;
        }
        let op = ins.opcode();
        if matches!(
            op,
            Opcode::Call | Opcode::Recurse | Opcode::KeyInvoke | Opcode::Yield
        ) && reachable(pc + 1)
        {
            entry[pc + 1] = true;
        }
        let mut backward = |t: u32| {
            if t as usize <= pc {
                entry[t as usize] = true;
            }
        };
        func.targets(pc).for_each(&mut backward);
    }
    entry
}

/// What compiling function `f` costs the host, in units of about a microsecond of
/// Cranelift's time, or `None` if it is too large to compile ([`MAX_COMPILE_COST`]).
///
/// Translation is linear in this: a fixed cost per function ([`FUNC_COMPILE_COST`]),
/// each instruction and each of its branch targets (every
/// entry of a `switch` table is an edge and a jump-table slot for Cranelift, about as dear
/// as an instruction's share of a cost unit), plus the words its frame loads at each
/// entry and stores at each exit (every gas check, every instruction that can fault
/// or leave), each a few Cranelift instructions.
pub fn compile_cost(m: &VerifiedModule, f: u32) -> Option<u64> {
    let func = m.func(f);
    let info = m.info(f);
    if func.local_count() > MAX_COMPILE_LOCALS {
        return None;
    }
    let locals = u64::from(func.local_count());
    let entries = entry_points(m, f);
    let mut cost = FUNC_COMPILE_COST * COST_UNIT;
    for (pc, ins) in func.code.iter().enumerate() {
        let h = info.height[pc];
        if h == UNREACHABLE {
            continue;
        }
        let i = ins.info();
        let charges = info.leader[pc] && i.metering == Metering::Block;
        let points = u64::from(entries[pc]) + u64::from(charges) + exits(ins.opcode());
        let targets = func.targets(pc).count() as u64;
        cost = cost.saturating_add(1 + targets + points.saturating_mul(locals + u64::from(h)));
        if cost / COST_UNIT > MAX_COMPILE_COST {
            return None;
        }
    }
    Some(cost.div_ceil(COST_UNIT).max(1))
}

/// How many ways out of native code an instruction has, each storing the frame.
fn exits(op: Opcode) -> u64 {
    match op.info().class {
        Class::Stack | Class::Unary | Class::Compare => 0,
        Class::Binary => u64::from(matches!(
            op,
            Opcode::DivU | Opcode::DivS | Opcode::RemU | Opcode::RemS
        )),
        Class::Memory => u64::from(op != Opcode::MemSize),
        Class::Control => match op.info().flow {
            Flow::Next | Flow::Jump | Flow::Branch | Flow::Switch => 0,
            Flow::Call => 3,
            Flow::Return | Flow::Stop | Flow::Exit => 1,
        },
        Class::Process => u64::from(!matches!(op, Opcode::GasLeft | Opcode::MemLeft)),
        Class::Bulk | Class::Children | Class::Keys => 1,
    }
}

/// Words moved (and instructions) per cost unit.
const COST_UNIT: u64 = 4;

/// The tiering policy while the interpreter runs a process of a module with native code:
/// counts the gas each function spends as its heat, compiles functions that have earned it,
/// and hands over at entry points of compiled ones.
pub(crate) struct Policy<'a> {
    pub jit: &'a mut Jit,
    pub code: &'a mut ModuleCode,
    pub module: &'a Arc<VerifiedModule>,
    pub state: &'a Arc<ModuleState>,
    /// The function running, which the gas spent since `fuel` is charged to.
    pub current: u32,
    pub fuel: u64,
}

impl Policy<'_> {
    /// Charges the gas spent since the last event (`fuel` now left) to the running function.
    pub fn settle(&mut self, fuel: u64) {
        let spent = self.fuel.saturating_sub(fuel);
        self.fuel = fuel;
        let heat = &mut self.code.heat[self.current as usize];
        *heat = heat.saturating_add(spent);
    }
}

impl Tiering for Policy<'_> {
    fn enter(&mut self, func: u32, pc: u32, _backward: bool, fuel: u64) -> bool {
        self.settle(fuel);
        self.current = func;
        if self.jit.earned(self.code, func) {
            self.jit.compile(self.module, self.state, self.code, func);
        }
        self.code.enterable(func, pc, fuel)
    }
}
