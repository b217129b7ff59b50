//! Everything that can go wrong loading code or images, or configuring a VM.

use std::fmt;

use rarvm_runtime::asm::AsmError;
use rarvm_runtime::codec::DecodeError;
use rarvm_runtime::host::GrantError;
use rarvm_runtime::verify::VerifyError;

use crate::EngineKind;

/// Anything that can go wrong loading code or images, or configuring a [`crate::Vm`].
#[derive(Debug)]
pub enum Error {
    /// Assembler text with a syntax or name error (`file:line:col` and what was expected).
    Asm(AsmError),
    /// Bytes that are not a module (the byte offset and the problem).
    Module(DecodeError),
    /// A module that fails verification (the function, instruction and reason).
    Verify(VerifyError),
    /// Bytes that are not a valid image (the byte offset and the problem).
    Image(DecodeError),
    /// The entry function takes `expected` arguments but `given` were passed.
    Arity {
        function: String,
        expected: u32,
        given: usize,
    },
    /// Input that is neither assembler text, a module nor an image.
    Unrecognized { file: String },
    /// The engine cannot run here: this build has no JIT, or the host has no backend.
    EngineUnavailable { engine: EngineKind, reason: String },
    /// A grant was refused.
    Grant(GrantError),
    /// A transcript that does not continue this run's, which has `records` records.
    Replay { records: usize },
    /// More words than a port holds.
    Port { words: usize, max: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Asm(e) => write!(f, "{e}"),
            Error::Module(e) => write!(f, "invalid module: {e}"),
            Error::Verify(e) => write!(f, "module fails verification: {e}"),
            Error::Image(e) => write!(f, "invalid image: {e}"),
            Error::Arity {
                function,
                expected,
                given,
            } => write!(
                f,
                "`{function}` takes {expected} argument(s), {given} given"
            ),
            Error::Unrecognized { file } => write!(
                f,
                "{file}: neither assembler text (UTF-8), a module nor an image"
            ),
            Error::EngineUnavailable { engine, reason } => {
                write!(f, "engine `{}` cannot run here: {reason}", engine.name())
            }
            Error::Grant(e) => write!(f, "{e}"),
            Error::Replay { records } => write!(
                f,
                "the replayed transcript does not continue this run's ({records} records)"
            ),
            Error::Port { words, max } => {
                write!(
                    f,
                    "{words} words do not fit a port, which holds at most {max}"
                )
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<GrantError> for Error {
    fn from(e: GrantError) -> Error {
        Error::Grant(e)
    }
}
