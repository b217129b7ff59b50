//! Entish, the high-level language of rarvm (`docs/LANG.md` is its normative definition).
//!
//! [`compile`] turns a main file and the files it imports into a
//! [`rarvm_runtime::module::Module`] that passes [`rarvm_runtime::verify`], with a
//! [`SourceMap`] from every instruction back to `file:line:col`; [`check`] stops after
//! type checking. Both return every problem of every file as [`Diagnostics`].
//!
//! # Example
//! ```
//! use rarvm_lang::{compile_str, Options};
//!
//! let src = "def f(x):\n    return x + 1\n\ndef main(x):\n    return f<50, 50>(x) else 0\n";
//! let compiled = compile_str("sandbox.et", src, &Options::default()).unwrap();
//! let verified = rarvm_runtime::verify(compiled.module.clone()).unwrap();
//! assert_eq!(verified.module().funcs[0].name, "main");
//! ```

pub mod ast;
mod check;
pub mod diag;
mod emit;
pub mod fuzz;
pub mod gen;
mod lexer;
mod loader;
mod lower;
mod parser;
mod std_lib;
mod types;

use std::fmt;
use std::path::{Path, PathBuf};

pub use diag::{Code, Diagnostic, Diagnostics, Located};
pub use loader::{FsLoader, MemoryLoader, SourceLoader};

/// A byte range in one source file; the context is the file's index in
/// [`Compiled::files`] (or [`Diagnostics::files`]).
pub type Span = chumsky::span::SimpleSpan<usize, u32>;

pub(crate) fn span(file: u32, start: usize, end: usize) -> Span {
    <Span as chumsky::span::Span>::new(file, start..end)
}

/// The smallest span covering `a` and `b` (of the same file).
pub(crate) fn join(a: Span, b: Span) -> Span {
    span(a.context, a.start.min(b.start), a.end.max(b.end))
}

/// One source file of a compilation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// The name diagnostics and positions show: the path as given for the main file and
    /// relative imports, `std/NAME.et` for the standard library.
    pub name: String,
    pub text: String,
}

/// What the compiler may change about its output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Fold constants and apply the peephole rules of `docs/LANG.md` §Lowering (on by
    /// default; off gives the literal lowering of every construct).
    pub optimize: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { optimize: true }
    }
}

/// A position in the source: `file.et:LINE:COL in FUNCTION`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    pub file: String,
    pub line: u32,
    pub col: u32,
    /// The Entish name of the function (`main`, `io.print`).
    pub function: String,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{} in {}",
            self.file, self.line, self.col, self.function
        )
    }
}

/// Where each instruction of a compiled module came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMap {
    /// One entry per function of the module, in the module's order.
    pub funcs: Vec<FuncMap>,
}

/// The source positions of one function's instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncMap {
    /// The Entish name (the module function's name is the same, qualified by its file's
    /// import path).
    pub name: String,
    /// Index into [`Compiled::files`].
    pub file: u32,
    /// For instruction `pc`: its 1-based line and column in `file`.
    pub positions: Vec<(u32, u32)>,
}

impl SourceMap {
    /// The source position of instruction `pc` of function `func`, with `files` the
    /// compilation's [`Compiled::files`].
    pub fn position(&self, files: &[SourceFile], func: u32, pc: u32) -> Option<Position> {
        let f = self.funcs.get(func as usize)?;
        let &(line, col) = f.positions.get(pc as usize)?;
        Some(Position {
            file: files.get(f.file as usize)?.name.clone(),
            line,
            col,
            function: f.name.clone(),
        })
    }
}

/// A host grant the program declares (`grant NAME: KIND`): the root's key slot `slot`
/// must hold a key of this kind granted under this name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantDecl {
    pub slot: u32,
    pub name: String,
    /// The kind code (`rarvm_runtime::keys::KeyKind::code`).
    pub kind: u8,
}

/// The result of a successful compilation.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The module; it passes [`rarvm_runtime::verify`].
    pub module: rarvm_runtime::module::Module,
    pub source_map: SourceMap,
    /// Every file that took part, the main file first.
    pub files: Vec<SourceFile>,
    /// The grants the main file declares, in slot order.
    pub grants: Vec<GrantDecl>,
}

impl Compiled {
    /// The canonical module bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.module.encode()
    }

    /// `file.et:LINE:COL in FUNCTION` for instruction `pc` of function `func`.
    pub fn position(&self, func: u32, pc: u32) -> Option<Position> {
        self.source_map.position(&self.files, func, pc)
    }

    /// The module as `.rasm` text (the disassembler's).
    pub fn rasm(&self) -> String {
        rarvm_runtime::asm::disassemble(&self.module)
    }
}

/// The standard library's modules: `(NAME, source)` for each `std.NAME`.
pub fn standard_library() -> &'static [(&'static str, &'static str)] {
    std_lib::all()
}

/// Compiles the program whose main file is `main`, reading it and its imports through
/// `loader`.
///
/// # Errors
/// Every diagnostic of every file, when there is at least one.
pub fn compile(
    loader: &dyn SourceLoader,
    main: &Path,
    options: &Options,
) -> Result<Compiled, Diagnostics> {
    let program = loader::load(loader, main)?;
    let checked = check::check(&program, options)?;
    let compiled = lower::lower(&checked, options);
    compiled.map_err(|items| Diagnostics {
        items,
        files: program.files.clone(),
    })
}

/// Compiles a program held in memory: the main file `name` with text `src`; relative
/// imports are not available, the standard library is.
///
/// # Errors
/// As [`compile`].
pub fn compile_str(name: &str, src: &str, options: &Options) -> Result<Compiled, Diagnostics> {
    let loader = MemoryLoader::new([(PathBuf::from(name), src.to_string())]);
    compile(&loader, Path::new(name), options)
}

/// Parses and type-checks the program without generating code.
///
/// # Errors
/// As [`compile`].
pub fn check(loader: &dyn SourceLoader, main: &Path) -> Result<Vec<SourceFile>, Diagnostics> {
    let program = loader::load(loader, main)?;
    check::check(&program, &Options::default())?;
    Ok(program.files)
}
