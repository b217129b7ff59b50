//! rarvm: a resource-aware, recursively sandboxable virtual machine — the embedding API.
//!
//! A [`Vm`] holds one root process — created from a [`Program`], or resumed from an image
//! — and runs it on a chosen [`EngineKind`] with gas and memory allowances. Every stop is a
//! pause point: the state can be written as an [`image`](Vm::image), hashed, and resumed
//! here or elsewhere. A process reaches nothing outside itself unless the VM grants it a
//! resource ([`Vm::grant`]); [`Vm::root`] gives a read-only view of the tree.
//!
//! Features: `jit` (default) adds the Cranelift JIT; `os` (default) adds the operating
//! system's resources ([`os`]: console, wall clock, directories, network, terminal
//! prompts). Without them (`--no-default-features`) this is an interpreter-only library
//! that builds for `wasm32-unknown-unknown`.
//!
//! # Example
//! ```
//! use rarvm::{EngineKind, Program, Status, Vm};
//!
//! // f(x) = x + 1, run as a sandboxed child with 50 gas and 256 spare bytes.
//! let src = r#"
//! func f(x) -> 1
//!     local.get x
//!     push 1
//!     add
//!     ret
//! end
//! func main(x) -> 1 locals(c)
//!     spawn f
//!     local.tee c
//!     local.get x
//!     child.push
//!     local.get c
//!     push 50
//!     push 256
//!     recurse
//!     drop
//!     local.get c
//!     child.pop
//!     ret
//! end
//! "#;
//! let program = Program::from_source(src, "sandbox.rasm")?;
//! let mut vm = Vm::new(&program, &[41])?;
//! vm.set_engine(EngineKind::Interp)?;
//! let out = vm.run(1_000_000, 1 << 20);
//! assert_eq!(out.status, Status::Returned);
//! assert_eq!(out.results, vec![42]);
//!
//! // Pause points serialize; an image resumes to the same result.
//! let mut vm = Vm::new(&program, &[41])?;
//! let first = vm.run(10, 1 << 20);
//! assert_eq!(first.status, Status::OutOfGas);
//! let mut resumed = Vm::from_image(&vm.image())?;
//! assert_eq!(resumed.run(1_000_000, 0).results, vec![42]);
//! # Ok::<(), rarvm::Error>(())
//! ```

mod engine;
mod error;
mod inspect;
mod program;
mod vm;

pub use engine::EngineKind;
pub use error::Error;
pub use inspect::{KeyView, ProcessView};
pub use program::{text, Input, Program};
pub use rarvm_runtime::debug::Position;
pub use rarvm_runtime::process::{Fault, Status};
pub use vm::{Outcome, Vm};

/// The host contract: what grants are, and how resources and prompts answer keys
/// (`docs/SPEC.md` §9). [`os`] has the operating system's resources.
pub mod host {
    pub use rarvm_runtime::host::{
        quote, Decision, Grant, GrantError, Prompt, Record, ReplayState, Reply, Request, Resource,
        ResourceCall, Transcript,
    };
    pub use rarvm_runtime::keys::{
        HostKey, HostOp, KeyError, KeyKind, Operation, FIRST_CUSTOM_KIND, HOST_OPS, LIST_ENTRY_GAS,
        RIGHTS_ALL, RIGHT_CREATE, RIGHT_READ, RIGHT_WRITE,
    };
}

/// The operating system's resources: console, wall clock, directories, network endpoints,
/// prompts on the terminal, and the `--grant` syntax that names them.
#[cfg(feature = "os")]
pub use rarvm_host_os as os;

/// Images: the canonical bytes of a paused tree (`docs/SPEC.md` §11).
pub mod image {
    pub use rarvm_runtime::image::{hash_hex, IMAGE_MAGIC};
}

/// The instruction table (`docs/SPEC.md` §6): each opcode's mnemonic, immediate, stack
/// effect, gas, metering, control flow and class, in opcode order; and the fields
/// `child.info` reads.
pub mod isa {
    pub use rarvm_runtime::isa::{Class, Field, Flow, ImmKind, Metering, OpInfo, StackEffect, OPS};
}
pub use isa::Field;

/// Counters of host work for tests that hold it against gas (feature `meter`).
pub use rarvm_runtime::meter;

#[cfg(feature = "jit")]
pub use rarvm_jit::{
    Stats as JitStats, AUTO_RATE, DEFAULT_CODE_LIMIT, FUNC_COMPILE_COST, JIT_RATE,
};
