//! rarvm's interpreters: [`Reference`], the semantic oracle every other engine must match,
//! and [`Interp`], the same loop over fused ops.
//!
//! Both implement [`rarvm_runtime::Engine`]. Each lowers a function once into an op array
//! with one gas charge at the head of every block (cached on the module and shared by all
//! processes running it) and executes it with a plain `match` — no allocation or hashing
//! per instruction. Process-tree and bulk-memory instructions call the shared semantics in
//! [`rarvm_runtime::sys`].
//!
//! In optimized builds for x86-64 and aarch64, [`Interp`] runs the plain cases of its ops
//! by threaded dispatch: each op a function that jumps to the next op's function, so every
//! op dispatches through a branch of its own. Anything else — a stop, a fault, a tiering
//! policy's hand-over point, an instruction beyond memory, gas and frames — goes back to
//! the `match` loop before it changes anything, and the loop executes it; elsewhere (the
//! browser's wasm32 build, unoptimized builds) the loop runs every op.
//!
//! # The invariant fused ops keep
//! Only block starts and the instructions that can stop a process are observable: stops,
//! images and hand-overs to native code happen there. [`Interp`]'s lowering fuses short
//! runs inside a block (`local.get a; push c; add; local.set d`, `local.get a;
//! local.get b; lt_u; jz t`, `local.get a; push 8; mul; load64 0`, …) into one op, but
//! only runs of instructions that cannot fault or stop, with no block start after their
//! first instruction — but for a closing load or store; a load just before a local write,
//! a branch or a `switch`; and a word loaded, computed and stored back in place
//! (`local.get a; local.get a; load8_u 0; push 1; add; store8 0`) — whose `out_of_bounds`
//! fault first writes the operands it would have found and stops at its own pc, and an
//! opening load, which faults before anything changed. So at every observable point the frame is
//! canonical — the same locals, the same operand words up to the stack height — and gas is
//! charged per block exactly as [`Reference`] charges it, though a jump or a fused branch
//! may pay the charge of the block it enters instead of that block's charge op.
//!
//! # Example
//! ```
//! use rarvm_interp::Interp;
//! use rarvm_runtime::{asm, machine, process::{Process, Status}};
//!
//! let src = "func main(n) -> 1\n local.get n\n local.get n\n mul\n ret\nend\n";
//! let module = asm::assemble_verified(src, "square.rasm").unwrap();
//! let mut root = Box::new(Process::new(module, 0));
//! root.port.push(12);
//! let root = machine::run(root, &mut Interp, 1_000, 4096);
//! assert_eq!((root.status, root.port.as_slice()), (Status::Returned, &[144][..]));
//! ```

//!
//! Another engine can run the interpreter under a [`Tiering`] policy that takes over at
//! block starts (function entries, returns, loop headers): see [`run`].

mod access;
mod alu;
mod exec;
mod fuse;
mod lower;
#[cfg(rarvm_threaded)]
mod threaded;

pub use exec::{run, NoTiering, Outcome, Tiering};
use rarvm_runtime::engine::{Budget, Engine, Exit};
use rarvm_runtime::process::Process;

/// The interpreter: fused ops where they apply.
#[derive(Clone, Copy, Debug, Default)]
pub struct Interp;

/// The reference interpreter: one op per instruction, the definition every engine —
/// [`Interp`] included — is compared against.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reference;

impl Engine for Reference {
    fn run(&mut self, leaf: &mut Process, budget: &mut Budget) -> Exit {
        exec::run_reference(leaf, budget)
    }
}

impl Engine for Interp {
    fn run(&mut self, leaf: &mut Process, budget: &mut Budget) -> Exit {
        match exec::run(leaf, budget, &mut NoTiering) {
            Outcome::Exit(exit) => exit,
            Outcome::HandOver => unreachable!("NoTiering never hands over"),
        }
    }
}
