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

/// Why debug-section bytes were rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugDecodeError(pub String);

impl fmt::Display for DebugDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad debug section: {}", self.0)
    }
}

impl std::error::Error for DebugDecodeError {}

/// Appends `v` as minimal unsigned LEB128.
fn leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Reads a minimal unsigned LEB128 number.
fn unleb(r: &mut rarvm_runtime::codec::Reader<'_>) -> Result<u64, DebugDecodeError> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = r.u8("number").map_err(|x| DebugDecodeError(x.message))?;
        let part = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return Err(DebugDecodeError("a number beyond 64 bits".into()));
        }
        v |= part << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(DebugDecodeError("a number not in its shortest form".into()));
            }
            return Ok(v);
        }
    }
    Err(DebugDecodeError("a number beyond 64 bits".into()))
}

/// The first bytes of an encoded source map (the proposed module debug section).
pub const DEBUG_MAGIC: &[u8; 8] = b"RARVMDBG";

impl SourceMap {
    /// The canonical encoding proposed for a module's debug section (little-endian):
    /// `RARVMDBG`, version u32 (1), the file names (count u32, then each as len u32 and
    /// UTF-8 bytes), then for each function: its Entish name (len u8, bytes), its file
    /// u32, and its positions as runs, one for each instruction where the position
    /// changes: a count u32, then per run three minimal unsigned LEB128 numbers — the pc
    /// step from the previous run (0 for the first, at pc 0; else at least 1), the line
    /// as a zigzag-encoded difference from the previous run's line (from 0), and the
    /// column.
    pub fn encode(&self, files: &[SourceFile]) -> Vec<u8> {
        let mut w = rarvm_runtime::codec::Writer::default();
        w.raw(DEBUG_MAGIC);
        w.u32(1);
        w.len32(files.len());
        for f in files {
            w.len32(f.name.len());
            w.raw(f.name.as_bytes());
        }
        w.len32(self.funcs.len());
        for f in &self.funcs {
            let name = &f.name.as_bytes()[..f.name.len().min(255)];
            w.u8(name.len() as u8);
            w.raw(name);
            w.u32(f.file);
            let runs: Vec<(usize, (u32, u32))> = f
                .positions
                .iter()
                .enumerate()
                .filter(|(pc, p)| *pc == 0 || f.positions[pc - 1] != **p)
                .map(|(pc, p)| (pc, *p))
                .collect();
            w.len32(runs.len());
            let (mut last_pc, mut last_line) = (0u64, 0i64);
            for (pc, (line, col)) in runs {
                leb(&mut w.bytes, pc as u64 - last_pc);
                let d = i64::from(line) - last_line;
                leb(&mut w.bytes, ((d << 1) ^ (d >> 63)) as u64);
                leb(&mut w.bytes, u64::from(col));
                last_pc = pc as u64;
                last_line = i64::from(line);
            }
        }
        w.bytes
    }

    /// Decodes [`SourceMap::encode`]'s bytes, given each function's instruction count;
    /// gives the map and the file names. Only canonical encodings are accepted.
    ///
    /// # Errors
    /// Truncated or trailing bytes, counts that do not match `code_lens`, runs out of
    /// order or repeating a position, names that are not UTF-8, files out of range.
    pub fn decode(
        bytes: &[u8],
        code_lens: &[u32],
    ) -> Result<(SourceMap, Vec<String>), DebugDecodeError> {
        let bad = |m: &str| DebugDecodeError(m.to_string());
        let mut r = rarvm_runtime::codec::Reader::new(bytes);
        let e = |x: rarvm_runtime::codec::DecodeError| DebugDecodeError(x.message);
        if r.take(8, "magic").map_err(e)? != DEBUG_MAGIC {
            return Err(bad("bad magic"));
        }
        if r.u32("version").map_err(e)? != 1 {
            return Err(bad("unsupported version"));
        }
        let nfiles = r.count("file count", 1 << 16, 4).map_err(e)?;
        let mut files = Vec::with_capacity(nfiles);
        for _ in 0..nfiles {
            let n = r.u32("name length").map_err(e)?;
            let name = r.take(u64::from(n), "file name").map_err(e)?;
            files.push(
                String::from_utf8(name.to_vec()).map_err(|_| bad("a file name is not UTF-8"))?,
            );
        }
        let nfuncs = r.count("function count", code_lens.len(), 9).map_err(e)?;
        if nfuncs != code_lens.len() {
            return Err(bad("the function count differs from the module's"));
        }
        let mut funcs = Vec::with_capacity(nfuncs);
        for &len in code_lens {
            let n = r.u8("name length").map_err(e)?;
            let name =
                String::from_utf8(r.take(u64::from(n), "function name").map_err(e)?.to_vec())
                    .map_err(|_| bad("a function name is not UTF-8"))?;
            let file = r.u32("file").map_err(e)?;
            if file as usize >= nfiles {
                return Err(bad("a file index is out of range"));
            }
            let nruns = r.count("run count", len as usize, 3).map_err(e)?;
            let mut positions: Vec<(u32, u32)> = Vec::with_capacity(len as usize);
            let mut prev: Option<(u32, (u32, u32))> = None;
            let mut line = 0i64;
            for _ in 0..nruns {
                let step = unleb(&mut r)?;
                let pc = prev.map_or(0, |(q, _)| u64::from(q)).checked_add(step);
                let pc = pc
                    .and_then(|p| u32::try_from(p).ok())
                    .ok_or_else(|| bad("a pc out of range"))?;
                if prev.is_some() && step == 0 {
                    return Err(bad("runs out of order"));
                }
                let z = unleb(&mut r)?;
                line = line
                    .checked_add(((z >> 1) as i64) ^ -((z & 1) as i64))
                    .ok_or_else(|| bad("a line out of range"))?;
                let col =
                    u32::try_from(unleb(&mut r)?).map_err(|_| bad("a column out of range"))?;
                let p = (
                    u32::try_from(line).map_err(|_| bad("a line out of range"))?,
                    col,
                );
                match prev {
                    None if pc != 0 => return Err(bad("the first run must start at pc 0")),
                    Some((q, pp)) if pc <= q || pp == p => {
                        return Err(bad("runs out of order or repeating a position"))
                    }
                    _ => {}
                }
                if pc >= len {
                    return Err(bad("a run starts past the function's end"));
                }
                if let Some((_, pp)) = prev {
                    positions.resize(pc as usize, pp);
                }
                prev = Some((pc, p));
            }
            match prev {
                Some((_, pp)) => positions.resize(len as usize, pp),
                None if len > 0 => return Err(bad("a function without positions")),
                None => {}
            }
            funcs.push(FuncMap {
                name,
                file,
                positions,
            });
        }
        r.expect_end("debug section").map_err(e)?;
        Ok((SourceMap { funcs }, files))
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
