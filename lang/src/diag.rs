//! Diagnostics: what went wrong, where, and what was expected, in a structured form and
//! rendered with ariadne.

use std::fmt;

use crate::{SourceFile, Span};

/// The kind of a diagnostic; `docs/LANG.md` §Diagnostics lists every one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// The text is not Entish: an unexpected token, an unclosed bracket, bad indentation.
    Syntax,
    /// A name that nothing defines.
    UnknownName,
    /// A name defined twice in one scope.
    Duplicate,
    /// A value of the wrong type.
    Type,
    /// A call with the wrong number of arguments, or an unpacking of the wrong width.
    Arity,
    /// A function with results whose end can be reached without `return`.
    MissingReturn,
    /// An assignment to a module constant, a grant, a function or a `for` variable.
    AssignToConstant,
    /// A construct where it is not allowed: `break` outside a loop, a key passed where
    /// it cannot go, `grant` outside the main file.
    Misplaced,
    /// A constant expression that overflows, divides by zero or does not fit its type.
    Constant,
    /// An import that cannot be found or read, or imports that form a cycle.
    Import,
    /// Something beyond a compiler or machine limit (nesting, locals, code size).
    Limit,
}

impl Code {
    /// The stable name shown in brackets after `error`.
    pub fn name(self) -> &'static str {
        match self {
            Code::Syntax => "syntax",
            Code::UnknownName => "unknown-name",
            Code::Duplicate => "duplicate",
            Code::Type => "type",
            Code::Arity => "arity",
            Code::MissingReturn => "missing-return",
            Code::AssignToConstant => "assign-to-constant",
            Code::Misplaced => "misplaced",
            Code::Constant => "constant",
            Code::Import => "import",
            Code::Limit => "limit",
        }
    }
}

/// One problem in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub span: Span,
    pub message: String,
    /// What would have been accepted here, if the compiler knows.
    pub expected: Vec<String>,
    /// Further explanation, or a hint how to fix it.
    pub notes: Vec<String>,
    /// Other places that explain it (e.g. the earlier definition of a duplicate).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            span,
            message: message.into(),
            expected: Vec::new(),
            notes: Vec::new(),
            related: Vec::new(),
        }
    }

    pub fn expected<S: Into<String>>(mut self, what: impl IntoIterator<Item = S>) -> Diagnostic {
        self.expected.extend(what.into_iter().map(Into::into));
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn related(mut self, span: Span, what: impl Into<String>) -> Diagnostic {
        self.related.push((span, what.into()));
        self
    }
}

/// A diagnostic with its position resolved: the plain structured form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub code: Code,
    /// The file's name as the compiler was given it.
    pub file: String,
    /// 1-based line and column (in characters) of the start of the span.
    pub line: u32,
    pub col: u32,
    pub end_line: u32,
    pub end_col: u32,
    pub message: String,
    pub expected: Vec<String>,
    pub notes: Vec<String>,
}

impl fmt::Display for Located {
    /// `file:line:col: error[code]: message (expected …)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error[{}]: {}",
            self.file,
            self.line,
            self.col,
            self.code.name(),
            self.message
        )?;
        if !self.expected.is_empty() {
            write!(f, " (expected {})", expected_list(&self.expected))?;
        }
        Ok(())
    }
}

/// `a`, `a or b`, `a, b or c`.
pub fn expected_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Every problem found in a compilation, with the sources they point into.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    pub files: Vec<SourceFile>,
}

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The diagnostics with resolved file names, lines and columns, in source order.
    pub fn located(&self) -> Vec<Located> {
        self.items.iter().map(|d| self.locate(d)).collect()
    }

    fn locate(&self, d: &Diagnostic) -> Located {
        let file = self.files.get(d.span.context as usize);
        let (name, text) = file.map_or(("<unknown>", ""), |f| (f.name.as_str(), f.text.as_str()));
        let (line, col) = line_col(text, d.span.start);
        let (end_line, end_col) = line_col(text, d.span.end);
        Located {
            code: d.code,
            file: name.to_string(),
            line,
            col,
            end_line,
            end_col,
            message: d.message.clone(),
            expected: d.expected.clone(),
            notes: d.notes.clone(),
        }
    }

    /// Renders every diagnostic with ariadne: the `file:line:col` header, the source line
    /// with the span underlined, what was expected and any notes. `color` adds ANSI colors.
    pub fn render(&self, color: bool) -> String {
        use ariadne::{Color, Config, Label, Report, ReportKind};
        let mut out = Vec::new();
        let mut cache = Cache {
            names: self.files.iter().map(|f| f.name.clone()).collect(),
            sources: self
                .files
                .iter()
                .map(|f| ariadne::Source::from(f.text.clone()))
                .collect(),
        };
        for d in &self.items {
            let loc = self.locate(d);
            let name = loc.file.clone();
            let range = clamp(&self.files, d.span);
            let mut label = Label::new((name.clone(), range.clone())).with_color(Color::Red);
            let label_text = if d.expected.is_empty() {
                d.message.clone()
            } else {
                format!("expected {}", expected_list(&d.expected))
            };
            label = label.with_message(label_text);
            let mut report = Report::build(ReportKind::Error, (name.clone(), range))
                .with_config(Config::default().with_color(color))
                .with_code(d.code.name())
                .with_message(format!(
                    "{}:{}:{}: {}",
                    loc.file, loc.line, loc.col, d.message
                ))
                .with_label(label);
            for (span, what) in &d.related {
                let rname = self
                    .files
                    .get(span.context as usize)
                    .map_or("<unknown>".to_string(), |f| f.name.clone());
                report = report.with_label(
                    Label::new((rname, clamp(&self.files, *span)))
                        .with_color(Color::Blue)
                        .with_message(what.clone()),
                );
            }
            for n in &d.notes {
                report = report.with_note(n.clone());
            }
            // Writing into a Vec cannot fail; a report that still fails is skipped.
            let _ = report.finish().write(&mut cache, &mut out);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl fmt::Display for Diagnostics {
    /// One line per diagnostic (`file:line:col: error[code]: message`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in self.located() {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A byte span made safe for ariadne: inside the text, on character boundaries, in
/// character offsets.
fn clamp(files: &[SourceFile], span: Span) -> std::ops::Range<usize> {
    let text = files
        .get(span.context as usize)
        .map_or("", |f| f.text.as_str());
    let to_char = |b: usize| {
        let mut b = b.min(text.len());
        while !text.is_char_boundary(b) {
            b -= 1;
        }
        text[..b].chars().count()
    };
    let start = to_char(span.start);
    let end = to_char(span.end).max(start);
    start..end
}

/// 1-based line and character column of byte offset `at`.
pub fn line_col(text: &str, at: usize) -> (u32, u32) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}

struct Cache {
    names: Vec<String>,
    sources: Vec<ariadne::Source<String>>,
}

impl ariadne::Cache<String> for Cache {
    type Storage = String;

    fn fetch(&mut self, id: &String) -> Result<&ariadne::Source<String>, impl fmt::Debug> {
        match self.names.iter().position(|n| n == id) {
            Some(i) => Ok(&self.sources[i]),
            None => Err(format!("no source named {id}")),
        }
    }

    fn display<'b>(&self, id: &'b String) -> Option<impl fmt::Display + 'b> {
        Some(id.clone())
    }
}
