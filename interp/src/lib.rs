//! rarvm's reference interpreter: the semantic oracle every other engine must match.
//!
//! [`Interp`] implements [`rarvm_runtime::Engine`]. It lowers each function once into an
//! op array with one gas charge at the head of every block (cached on the module and
//! shared by all processes running it) and executes it with a plain `match` — no
//! allocation or hashing per instruction. Process-tree and bulk-memory instructions call
//! the shared semantics in [`rarvm_runtime::sys`].
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

mod exec;
mod lower;

pub use exec::{run, NoTiering, Outcome, Tiering};
use rarvm_runtime::engine::{Budget, Engine, Exit};
use rarvm_runtime::process::Process;

/// The reference interpreter.
#[derive(Clone, Copy, Debug, Default)]
pub struct Interp;

impl Engine for Interp {
    fn run(&mut self, leaf: &mut Process, budget: &mut Budget) -> Exit {
        match exec::run(leaf, budget, &mut NoTiering) {
            Outcome::Exit(exit) => exit,
            Outcome::HandOver => unreachable!("NoTiering never hands over"),
        }
    }
}
