//! Programs: verified modules ready to run, from assembler text or module bytes.

use std::sync::Arc;

use rarvm_runtime::asm;
use rarvm_runtime::debug::Position;
use rarvm_runtime::module::{Module, MODULE_MAGIC};
use rarvm_runtime::verify::{self, VerifiedModule};

use crate::Error;

/// A verified module: code an engine can run (`docs/SPEC.md` §3, §4).
#[derive(Clone, Debug)]
pub struct Program(pub(crate) Arc<VerifiedModule>);

impl Program {
    /// Assembles and verifies `.rasm` text; `file` names it in errors.
    ///
    /// # Errors
    /// [`Error::Asm`] with `file:line:col` and the problem (verification errors too, at the
    /// instruction's line).
    pub fn from_source(src: &str, file: &str) -> Result<Program, Error> {
        asm::assemble_verified(src, file)
            .map(Program)
            .map_err(Error::Asm)
    }

    /// Decodes and verifies a binary module.
    ///
    /// # Errors
    /// [`Error::Module`] or [`Error::Verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Program, Error> {
        let m = Module::decode(bytes).map_err(Error::Module)?;
        verify::verify(m).map(Program).map_err(Error::Verify)
    }

    /// The canonical binary encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.bytes().to_vec()
    }

    /// The program as `.rasm` text that assembles to the same module.
    pub fn disassemble(&self) -> String {
        asm::disassemble(self.0.module())
    }

    /// The number of parameters of the entry function: the arguments a new root takes.
    pub fn entry_params(&self) -> u32 {
        self.0.func(self.0.module().entry).params
    }

    /// Each function's name, parameters and results, in index order.
    pub fn functions(&self) -> impl Iterator<Item = (&str, u32, u32)> {
        self.0
            .module()
            .funcs
            .iter()
            .map(|f| (f.name.as_str(), f.params, f.results))
    }

    /// The number of instructions in all its functions.
    pub fn instructions(&self) -> usize {
        self.0.module().funcs.iter().map(|f| f.code.len()).sum()
    }

    /// The mnemonics of the instructions it uses.
    pub fn mnemonics(&self) -> std::collections::BTreeSet<&'static str> {
        self.0
            .module()
            .funcs
            .iter()
            .flat_map(|f| f.code.iter().map(|i| i.info().mnemonic))
            .collect()
    }

    /// The source position of instruction `pc` of function `func`, when the program
    /// carries a debug section (`docs/SPEC.md` §3.2) that gives one: a compiled Entish
    /// program does, assembler text does not.
    pub fn position(&self, func: u32, pc: u32) -> Option<Position> {
        self.0.position(func, pc)
    }

    /// True when the program says where its code came from (a debug section).
    pub fn has_positions(&self) -> bool {
        self.0.module().debug.is_some()
    }

    /// The data segments: offsets and bytes placed in initial memory.
    pub fn data(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.0
            .module()
            .data
            .iter()
            .map(|d| (d.offset, d.bytes.as_slice()))
    }
}

/// What a file holds: a program (from `.rasm` text or a binary module), or image bytes.
pub enum Input {
    Program(Program),
    Image(Vec<u8>),
}

impl Input {
    /// Recognises `bytes` by their magic; anything else must be UTF-8 assembler text.
    ///
    /// # Errors
    /// The assembler's, decoder's or verifier's error, or [`Error::Unrecognized`].
    pub fn parse(bytes: Vec<u8>, file: &str) -> Result<Input, Error> {
        if bytes.starts_with(rarvm_runtime::image::IMAGE_MAGIC) {
            return Ok(Input::Image(bytes));
        }
        if bytes.starts_with(MODULE_MAGIC) {
            return Program::from_bytes(&bytes).map(Input::Program);
        }
        let text = String::from_utf8(bytes).map_err(|_| Error::Unrecognized {
            file: file.to_string(),
        })?;
        Program::from_source(&text, file).map(Input::Program)
    }
}

/// Assembler text as module bytes, unverified — what a program hands `spawn.bytes` to see
/// verification fail — and module bytes back as text.
pub mod text {
    use rarvm_runtime::asm;
    use rarvm_runtime::module::Module;

    use crate::Error;

    /// Every instruction's mnemonic, in opcode order (`docs/SPEC.md` §6).
    pub const MNEMONICS: [&str; rarvm_runtime::isa::OPS.len()] = {
        let mut out = [""; rarvm_runtime::isa::OPS.len()];
        let mut i = 0;
        while i < out.len() {
            out[i] = rarvm_runtime::isa::OPS[i].mnemonic;
            i += 1;
        }
        out
    };

    /// Assembles `src` into module bytes without verifying them.
    ///
    /// # Errors
    /// [`Error::Asm`].
    pub fn assemble(src: &str, file: &str) -> Result<Vec<u8>, Error> {
        asm::assemble(src, file)
            .map(|m| m.encode())
            .map_err(Error::Asm)
    }

    /// Module bytes (verified or not) as `.rasm` text that assembles to the same bytes.
    ///
    /// # Errors
    /// [`Error::Module`] for bytes that are not a module.
    pub fn disassemble(bytes: &[u8]) -> Result<String, Error> {
        Module::decode(bytes)
            .map(|m| asm::disassemble(&m))
            .map_err(Error::Module)
    }
}
