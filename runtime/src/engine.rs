//! The contract between the machine and an execution engine.
//!
//! The [`crate::machine`] owns the process tree and the run chain; an [`Engine`] runs the
//! chain's deepest process (the leaf) until something only the machine can decide.
//! Engines see one effective budget — the minimum over the chain — so their hot paths do
//! not depend on nesting depth.

use crate::process::{Fault, Process};

/// The resources the leaf may use during one engine run.
///
/// `fuel` and `mem` are the effective budgets: the least gas and memory headroom of any
/// process on the chain. The leaf's own gas left is `gas_extra + fuel` and its own
/// headroom `mem_extra + mem`. An engine only ever lowers `fuel` by charges, and changes
/// `mem` by exactly the footprint it adds (charge) or releases (refund).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub fuel: u64,
    pub mem: u64,
    pub gas_extra: u64,
    pub mem_extra: u64,
}

impl Budget {
    /// A budget for a lone process: what it has is what it may use.
    pub fn standalone(gas: u64, mem: u64) -> Budget {
        Budget {
            fuel: gas,
            mem,
            gas_extra: 0,
            mem_extra: 0,
        }
    }

    /// Charges `gas` if every process on the chain can pay; else changes nothing.
    #[inline]
    pub fn charge_gas(&mut self, gas: u64) -> bool {
        match self.fuel.checked_sub(gas) {
            Some(left) => {
                self.fuel = left;
                true
            }
            None => false,
        }
    }

    /// Charges `gas` and `mem` bytes of footprint together, or neither: out of gas first,
    /// then out of memory.
    ///
    /// # Errors
    /// [`Stop::OutOfGas`] or [`Stop::OutOfMemory`] with what was asked; nothing changed.
    #[inline]
    pub fn charge(&mut self, gas: u64, mem: u64) -> Result<(), Stop> {
        if self.fuel < gas {
            return Err(Stop::OutOfGas(gas));
        }
        if self.mem < mem {
            return Err(Stop::OutOfMemory(mem));
        }
        self.fuel -= gas;
        self.mem -= mem;
        Ok(())
    }

    /// Charges `bytes` of footprint if every process on the chain has the headroom.
    #[inline]
    pub fn charge_mem(&mut self, bytes: u64) -> bool {
        match self.mem.checked_sub(bytes) {
            Some(left) => {
                self.mem = left;
                true
            }
            None => false,
        }
    }

    /// Gives back `bytes` of footprint.
    #[inline]
    pub fn refund_mem(&mut self, bytes: u64) {
        self.mem = self.mem.saturating_add(bytes);
    }

    /// The leaf's own gas left.
    pub fn own_gas(&self) -> u64 {
        self.gas_extra.saturating_add(self.fuel)
    }

    /// The leaf's own memory headroom.
    pub fn own_mem(&self) -> u64 {
        self.mem_extra.saturating_add(self.mem)
    }
}

/// Why an engine stopped running the leaf. In every case the leaf's state is canonical:
/// the top frame's `pc`, the value stack (its length is the stack pointer) and memory are
/// exactly as `docs/SPEC.md` defines for that point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// A block or a self-metered instruction costs `need` gas, more than `fuel`. Nothing
    /// of it ran; `pc` is at its start.
    OutOfGas(u64),
    /// A self-metered instruction needs `need` bytes of footprint, more than `mem`.
    /// `pc` is at the instruction, whose operands are still on the stack.
    OutOfMemory(u64),
    /// The instruction at `pc` faulted; its operands are still on the stack.
    Fault(Fault),
    /// `yield` executed; `pc` is at the next instruction.
    Yield,
    /// `halt` executed; `pc` is at it.
    Halt,
    /// The entry function returned; frames are empty and the results are on the port.
    Return,
    /// `recurse` is at `pc` with its operands on the stack; the machine executes it.
    Recurse,
    /// `key.invoke` is at `pc` with its operands on the stack, its gas not charged; the
    /// machine executes it with its host.
    Invoke,
    /// The self-metered instruction at `pc` (`child.save`) needs a child whose frozen
    /// descendants are still on the machine's run chain. Nothing ran; the machine puts
    /// the subtree back together and runs the leaf again from `pc`.
    Fold,
}

/// Why an instruction the engines share (`crate::ops`) could not complete.
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

/// Something that runs process code: the reference interpreter, the JIT, or both.
pub trait Engine {
    /// Runs `leaf` from the top frame's `pc` — a block start whose block has not been
    /// paid — until it must stop, and says why.
    ///
    /// The leaf's status is `Running` and it has no running child. `budget` is the
    /// effective budget; on return it holds what is left. The cached `footprint` of the
    /// leaf need not be kept current: the machine derives it from the change of `mem`.
    fn run(&mut self, leaf: &mut Process, budget: &mut Budget) -> Exit;
}

impl<E: Engine + ?Sized> Engine for &mut E {
    fn run(&mut self, leaf: &mut Process, budget: &mut Budget) -> Exit {
        (**self).run(leaf, budget)
    }
}

impl<E: Engine + ?Sized> Engine for Box<E> {
    fn run(&mut self, leaf: &mut Process, budget: &mut Budget) -> Exit {
        (**self).run(leaf, budget)
    }
}
