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

mod ast;
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

/// A position in the source: `file.et:LINE:COL in FUNCTION` (the runtime's, which reads
/// it from a module's debug section).
pub use rarvm_runtime::debug::Position;

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
    /// The map as a module's debug section (`docs/SPEC.md` §3.2): the files that hold an
    /// emitted function, in order of their first function, and for each function a run
    /// at each instruction whose position differs from the one before.
    pub fn debug_info(&self, files: &[SourceFile]) -> rarvm_runtime::debug::DebugInfo {
        use rarvm_runtime::debug::{DebugInfo, FuncDebug, Run};
        let mut index: Vec<Option<u32>> = vec![None; files.len()];
        let mut names = Vec::new();
        let funcs = self
            .funcs
            .iter()
            .map(|f| {
                let file = *index[f.file as usize].get_or_insert_with(|| {
                    names.push(files[f.file as usize].name.clone());
                    names.len() as u32 - 1
                });
                let runs = f
                    .positions
                    .iter()
                    .enumerate()
                    .filter(|(pc, p)| *pc == 0 || f.positions[pc - 1] != **p)
                    .map(|(pc, &(line, col))| Run {
                        pc: pc as u32,
                        line,
                        col,
                    })
                    .collect();
                FuncDebug {
                    name: f.name.clone(),
                    file,
                    runs,
                }
            })
            .collect();
        DebugInfo {
            files: names,
            funcs,
        }
    }

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

impl GrantDecl {
    /// The name of its kind (`console`, `fs`, `custom16`).
    pub fn kind_name(&self) -> String {
        rarvm_runtime::keys::KeyKind::from_code(self.kind)
            .map_or_else(|| format!("kind {}", self.kind), |k| k.name())
    }
}

impl fmt::Display for GrantDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "grant {}: {}", self.name, self.kind_name())
    }
}

/// Why the grants a host offers do not fit the program's `grant` declarations
/// ([`Compiled::order_grants`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantMismatch {
    /// A declared grant that nothing offered under its name.
    Missing(GrantDecl),
    /// A grant offered under a declared name, of another kind.
    Kind { declared: GrantDecl, given: u8 },
    /// A grant offered under a name the program does not declare.
    Undeclared { name: String, kind: u8 },
    /// Two grants offered under one name.
    Twice(String),
}

impl fmt::Display for GrantMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = |k: u8| {
            rarvm_runtime::keys::KeyKind::from_code(k)
                .map_or_else(|| format!("kind {k}"), |k| k.name())
        };
        match self {
            GrantMismatch::Missing(d) => write!(
                f,
                "the program declares `{d}`, but no grant is named `{}`",
                d.name
            ),
            GrantMismatch::Kind { declared, given } => write!(
                f,
                "the program declares `{declared}`, but the grant named `{}` is a {} key",
                declared.name,
                kind(*given)
            ),
            GrantMismatch::Undeclared { name, kind: k } => write!(
                f,
                "the grant `{name}` ({}) is not one the program declares",
                kind(*k)
            ),
            GrantMismatch::Twice(name) => write!(f, "two grants are named `{name}`"),
        }
    }
}

impl std::error::Error for GrantMismatch {}

/// The result of a successful compilation.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The module; it passes [`rarvm_runtime::verify`]. It carries the source map as its
    /// debug section ([`SourceMap::debug_info`]) unless [`Compiled::strip`] dropped it.
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

    /// Drops the module's debug section: the bytes no longer say where code came from,
    /// and are smaller (the source map stays here).
    pub fn strip(&mut self) {
        self.module.debug = None;
    }

    /// Puts the grants a host offers — `(name, kind code)` each — in the order of the
    /// program's declarations (`docs/LANG.md` §9): for each [`GrantDecl`] in slot order, the
    /// index in `offered` of the grant of its name. Every declared grant must be offered,
    /// with its kind, and nothing else.
    ///
    /// # Errors
    /// The first declared grant not offered or of another kind, the first offered grant
    /// not declared, or a name offered twice.
    pub fn order_grants(&self, offered: &[(&str, u8)]) -> Result<Vec<usize>, GrantMismatch> {
        for (i, (name, _)) in offered.iter().enumerate() {
            if offered[..i].iter().any(|(n, _)| n == name) {
                return Err(GrantMismatch::Twice(name.to_string()));
            }
        }
        let mut order = Vec::with_capacity(self.grants.len());
        for d in &self.grants {
            let Some(i) = offered.iter().position(|(n, _)| *n == d.name) else {
                return Err(GrantMismatch::Missing(d.clone()));
            };
            if offered[i].1 != d.kind {
                return Err(GrantMismatch::Kind {
                    declared: d.clone(),
                    given: offered[i].1,
                });
            }
            order.push(i);
        }
        if let Some((name, kind)) = offered
            .iter()
            .find(|(n, _)| !self.grants.iter().any(|d| d.name == *n))
        {
            return Err(GrantMismatch::Undeclared {
                name: name.to_string(),
                kind: *kind,
            });
        }
        Ok(order)
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
