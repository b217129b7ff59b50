//! rarvm's runtime: everything about the machine that is not an execution engine.
//!
//! - [`isa`]: the instruction set, defined once as a table.
//! - [`module`] and [`verify`]: modules, their canonical encoding, and the verifier that
//!   produces the [`VerifiedModule`] engines run; [`debug`]: a module's optional source
//!   positions, which no engine reads.
//! - [`asm`]: the `.rasm` assembler and the disassembler.
//! - [`process`]: process state; [`machine`]: the process tree, the run chain and the
//!   intentional resource model; [`sys`]: the process-tree and bulk-memory instructions
//!   shared by every engine; [`engine`]: the contract an engine implements.
//! - [`keys`] and [`host`]: keys to host resources, and the host that answers them.
//! - [`image`]: the canonical image format of a paused process tree.
//!
//! # Example
//! ```
//! use rarvm_runtime::{asm, engine::{Budget, Engine, Exit}, machine, process::{Process, Status}};
//!
//! // A toy engine that can only run a function that immediately returns its argument.
//! struct Echo;
//! impl Engine for Echo {
//!     fn run(&mut self, leaf: &mut Process, budget: &mut Budget) -> Exit {
//!         let cost = leaf.module.info(0).block_cost[0] as u64;
//!         if !budget.charge_gas(cost) {
//!             return Exit::OutOfGas(cost);
//!         }
//!         rarvm_runtime::ops::return_from_entry(leaf, budget).unwrap();
//!         Exit::Return
//!     }
//! }
//!
//! let module = asm::assemble_verified("func main(x) -> 1\n local.get x\n ret\nend\n", "echo.rasm").unwrap();
//! let mut root = Box::new(Process::new(module, 0));
//! root.port.push(41);
//! let root = machine::run(root, &mut Echo, 100, 0);
//! assert_eq!(root.status, Status::Returned);
//! assert_eq!(root.port, vec![41]);
//! assert_eq!(root.gas_used, 3);
//! ```

pub mod asm;
pub mod codec;
mod codes;
pub mod debug;
pub mod engine;
pub mod host;
pub mod image;
pub mod isa;
pub mod keys;
pub mod limits;
pub mod machine;
pub mod meter;
pub mod module;
pub mod ops;
pub mod process;
pub mod shells;
pub mod verify;

pub use engine::{Budget, Engine, Exit};
pub use isa::{Instr, Opcode};
pub use module::Module;
pub use process::{Fault, Process, Status};
pub use verify::{verify, VerifiedModule, VerifyError};
