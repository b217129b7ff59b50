//! Finding, reading and parsing the files of a program: the main file, the `.et` files it
//! imports (relative to the importing file) and the standard library.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use crate::ast::{File, Ident, Item};
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::SourceFile;

/// Most files one program may have.
pub const MAX_FILES: usize = 4096;
/// Largest source file, in bytes.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// Where source text comes from.
pub trait SourceLoader {
    /// The text of the file at `path`.
    ///
    /// # Errors
    /// A message saying why it cannot be read (it is shown at the `import`).
    fn load(&self, path: &Path) -> Result<String, String>;
}

/// Reads files from the filesystem.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsLoader;

impl SourceLoader for FsLoader {
    fn load(&self, path: &Path) -> Result<String, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))
    }
}

/// Files held in memory, by path.
#[derive(Clone, Debug, Default)]
pub struct MemoryLoader {
    files: BTreeMap<PathBuf, String>,
}

impl MemoryLoader {
    pub fn new(files: impl IntoIterator<Item = (PathBuf, String)>) -> MemoryLoader {
        MemoryLoader {
            files: files.into_iter().map(|(p, t)| (normalize(&p), t)).collect(),
        }
    }

    pub fn insert(&mut self, path: impl AsRef<Path>, text: impl Into<String>) {
        self.files.insert(normalize(path.as_ref()), text.into());
    }
}

impl SourceLoader for MemoryLoader {
    fn load(&self, path: &Path) -> Result<String, String> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| format!("no file {}", path.display()))
    }
}

/// `a/./b/../c` as `a/c`, lexically.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c.as_os_str()),
        }
    }
    out
}

/// One parsed file of the program.
#[derive(Debug)]
pub struct ModuleSrc {
    /// Index into [`Program::files`].
    pub file: u32,
    /// The prefix of its functions' names in the module (`""` for the main file,
    /// `std.io`, `lib.util`).
    pub qual: String,
    pub ast: File,
    /// For each `import`/`from` item (by item index): the module it names.
    pub imports: HashMap<usize, u32>,
    /// True when the file had syntax errors.
    pub broken: bool,
}

/// Every file of a program, parsed.
#[derive(Debug)]
pub struct Program {
    pub files: Vec<SourceFile>,
    /// `modules[0]` is the main file.
    pub modules: Vec<ModuleSrc>,
    /// Syntax and import errors.
    pub diags: Vec<Diagnostic>,
}

enum Key {
    Std(String),
    Path(PathBuf),
}

/// Loads the main file and, transitively, everything it imports.
///
/// # Errors
/// Only when the main file itself cannot be read; syntax and import problems are kept in
/// [`Program::diags`].
pub fn load(loader: &dyn SourceLoader, main: &Path) -> Result<Program, Diagnostics> {
    let main = normalize(main);
    let text = loader.load(&main).map_err(|m| Diagnostics {
        items: vec![Diagnostic::error(Code::Import, crate::span(0, 0, 0), m)],
        files: vec![SourceFile {
            name: main.display().to_string(),
            text: String::new(),
        }],
    })?;
    let base = main.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut p = Program {
        files: Vec::new(),
        modules: Vec::new(),
        diags: Vec::new(),
    };
    let mut by_key: HashMap<String, u32> = HashMap::new();
    let mut quals: HashMap<String, u32> = HashMap::new();
    add(
        &mut p,
        main.display().to_string(),
        text,
        String::new(),
        &mut quals,
    );
    by_key.insert(format!("path:{}", main.display()), 0);
    let mut next = 0;
    while next < p.modules.len() {
        let dir = if next == 0 {
            base.clone()
        } else {
            p.files[p.modules[next].file as usize]
                .name
                .rsplit_once('/')
                .map_or(base.clone(), |(d, _)| PathBuf::from(d))
        };
        let wanted: Vec<(usize, Vec<Ident>)> = p.modules[next]
            .ast
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Item::Import { path, .. } | Item::FromImport { path, .. } => {
                    Some((i, path.clone()))
                }
                _ => None,
            })
            .collect();
        for (item, path) in wanted {
            let span = crate::join(path[0].span, path[path.len() - 1].span);
            let names: Vec<&str> = path.iter().map(|i| i.name.as_str()).collect();
            let (key, display, qual) = if names[0] == "std" {
                if names.len() != 2 {
                    p.diags.push(
                        Diagnostic::error(
                            Code::Import,
                            span,
                            "the standard library has no such module",
                        )
                        .expected([format!(
                            "`std.NAME` with NAME one of {}",
                            crate::std_lib::names().join(", ")
                        )]),
                    );
                    continue;
                }
                (
                    Key::Std(names[1].to_string()),
                    format!("std/{}.et", names[1]),
                    names.join("."),
                )
            } else {
                let mut rel = dir.clone();
                for n in &names {
                    rel.push(n);
                }
                rel.set_extension("et");
                let rel = normalize(&rel);
                let qual = qual_name(&base, &rel);
                (Key::Path(rel.clone()), rel.display().to_string(), qual)
            };
            let k = match &key {
                Key::Std(n) => format!("std:{n}"),
                Key::Path(pth) => format!("path:{}", pth.display()),
            };
            if let Some(&m) = by_key.get(&k) {
                p.modules[next].imports.insert(item, m);
                continue;
            }
            if p.modules.len() >= MAX_FILES {
                p.diags.push(Diagnostic::error(
                    Code::Limit,
                    span,
                    format!("more than {MAX_FILES} files in one program"),
                ));
                continue;
            }
            let text = match &key {
                Key::Std(n) => crate::std_lib::source(n)
                    .map(str::to_string)
                    .ok_or_else(|| format!("the standard library has no module `{n}`")),
                Key::Path(pth) => loader.load(pth),
            };
            match text {
                Ok(text) if text.len() > MAX_FILE_BYTES => p.diags.push(Diagnostic::error(
                    Code::Limit,
                    span,
                    format!("{display} is larger than {MAX_FILE_BYTES} bytes"),
                )),
                Ok(text) => {
                    let m = add(&mut p, display, text, qual, &mut quals);
                    by_key.insert(k, m);
                    p.modules[next].imports.insert(item, m);
                }
                Err(msg) => {
                    let mut d = Diagnostic::error(Code::Import, span, msg);
                    if let Key::Std(_) = key {
                        d = d.expected([format!("one of {}", crate::std_lib::names().join(", "))]);
                    }
                    p.diags.push(d);
                }
            }
        }
        next += 1;
    }
    Ok(p)
}

/// Lexes and parses a file and appends it as a module; returns its index.
fn add(
    p: &mut Program,
    name: String,
    text: String,
    qual: String,
    quals: &mut HashMap<String, u32>,
) -> u32 {
    let file = u32::try_from(p.files.len()).unwrap_or(u32::MAX);
    let before = p.diags.len();
    let toks = crate::lexer::tokenize(&text, file, &mut p.diags);
    let ast = crate::parser::parse_file(&toks, file, text.len(), &mut p.diags);
    let broken = p.diags.len() > before;
    let mut qual = qual;
    if !qual.is_empty() {
        let n = quals.entry(qual.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            qual = format!("{qual}_{n}");
        }
    }
    p.files.push(SourceFile { name, text });
    p.modules.push(ModuleSrc {
        file,
        qual,
        ast,
        imports: HashMap::new(),
        broken,
    });
    file
}

/// The dotted name of an imported file relative to the main file's directory, made of
/// valid name characters.
fn qual_name(base: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(base).unwrap_or(file);
    let mut parts: Vec<String> = Vec::new();
    for c in rel.with_extension("").components() {
        let s = match c {
            Component::ParentDir => "up".to_string(),
            Component::Normal(n) => n.to_string_lossy().into_owned(),
            _ => continue,
        };
        let mut clean: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if clean.is_empty() || clean.starts_with(|c: char| c.is_ascii_digit()) {
            clean.insert(0, '_');
        }
        parts.push(clean);
    }
    if parts.is_empty() {
        parts.push("_".into());
    }
    parts.join(".")
}
