//! The assembler (`.rasm` text → [`Module`]) and disassembler (the reverse).
//!
//! ```text
//! ; comments run to the end of the line
//! .memory 65536              ; initial memory size in bytes (default: end of the last data)
//! .data 16 "hello\n" 0 u32 7 ; bytes at an offset: strings, x"hex", numbers (u8 unless
//!                            ; u16/u32/u64 switches the width)
//! .const LIMIT 100           ; a named word for `push`
//! .entry main                ; the entry function (default: `main`, else the first)
//!
//! func fib(n) -> 1           ; parameters by name, or a count: func f(2) -> 1
//!     locals(a, b)           ; optional: named locals, or a count: locals 2
//!     local.get n
//!     push 2
//!     lt_u
//!     jnz base               ; labels are function-local
//!     ...
//! base:
//!     local.get n
//!     ret
//! end
//! ```
//! Operands: `push` takes a number (decimal, `-5`, `0x1f`, `0b101`, `'a'`) or a constant
//! (a `.const`, or a predefined key name such as `fs.read`, `right.read`, `err.denied`);
//! locals a name or index; branches a label; `call`/`spawn` a function name; loads and
//! stores an optional offset (a number or constant); `child.info` a field name; `switch L0 L1 .. else Ldefault`.
//! Every error names `file:line:col` and what was expected.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::isa::{Field, ImmKind, Instr, Opcode};
use crate::keys::predefined_constant;
use crate::module::{is_valid_name, DataSegment, Function, Module};
use crate::verify::{verify, VerifiedModule};

/// An assembler error at a source position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for AsmError {}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Int(i128),
    Str(Vec<u8>),
    Punct(&'static str),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Int(v) => write!(f, "number {v}"),
            Tok::Str(_) => write!(f, "a string"),
            Tok::Punct(p) => write!(f, "`{p}`"),
        }
    }
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    col: usize,
}

/// Tokens of one line, with a cursor.
struct Line<'a> {
    file: &'a str,
    no: usize,
    toks: Vec<Token>,
    pos: usize,
    end_col: usize,
}

impl Line<'_> {
    fn err_at(&self, col: usize, message: impl Into<String>) -> AsmError {
        AsmError {
            file: self.file.to_string(),
            line: self.no,
            col,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn col(&self) -> usize {
        self.peek().map_or(self.end_col, |t| t.col)
    }

    fn found(&self) -> String {
        self.peek()
            .map_or("end of line".to_string(), |t| t.tok.to_string())
    }

    fn expected(&self, what: &str) -> AsmError {
        self.err_at(
            self.col(),
            format!("expected {what}, found {}", self.found()),
        )
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn expect_end(&self) -> Result<(), AsmError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.expected("end of line"))
        }
    }

    fn ident(&mut self, what: &str) -> Result<(String, usize), AsmError> {
        match self.peek() {
            Some(Token {
                tok: Tok::Ident(s),
                col,
            }) => {
                let r = (s.clone(), *col);
                self.pos += 1;
                Ok(r)
            }
            _ => Err(self.expected(what)),
        }
    }

    fn punct(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Token { tok: Tok::Punct(q), .. }) if *q == p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn int(&mut self, what: &str, min: i128, max: i128) -> Result<i128, AsmError> {
        match self.peek() {
            Some(Token {
                tok: Tok::Int(v),
                col,
            }) => {
                let (v, col) = (*v, *col);
                if v < min || v > max {
                    return Err(
                        self.err_at(col, format!("{what} {v} is out of range {min}..={max}"))
                    );
                }
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.expected(what)),
        }
    }
}

fn lex_line<'a>(file: &'a str, no: usize, text: &str) -> Result<Line<'a>, AsmError> {
    let err = |col: usize, m: String| AsmError {
        file: file.to_string(),
        line: no,
        col,
        message: m,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c == ';' {
            break;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '(' || c == ')' || c == ',' || c == ':' {
            let p = match c {
                '(' => "(",
                ')' => ")",
                ',' => ",",
                _ => ":",
            };
            toks.push(Token {
                tok: Tok::Punct(p),
                col,
            });
            i += 1;
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'>') {
            toks.push(Token {
                tok: Tok::Punct("->"),
                col,
            });
            i += 2;
            continue;
        }
        if c == 'x' && chars.get(i + 1) == Some(&'"') {
            let start = i + 2;
            let mut j = start;
            while j < chars.len() && chars[j] != '"' {
                j += 1;
            }
            if j >= chars.len() {
                return Err(err(col, "unterminated hex string".into()));
            }
            let hex: String = chars[start..j]
                .iter()
                .filter(|c| !c.is_whitespace())
                .collect();
            if !hex.len().is_multiple_of(2) || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(err(
                    col,
                    "a hex string needs an even number of hex digits".into(),
                ));
            }
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|k| u8::from_str_radix(&hex[k..k + 2], 16).unwrap())
                .collect();
            toks.push(Token {
                tok: Tok::Str(bytes),
                col,
            });
            i = j + 1;
            continue;
        }
        if c == '"' {
            let mut bytes = Vec::new();
            let mut j = i + 1;
            loop {
                let Some(&d) = chars.get(j) else {
                    return Err(err(col, "unterminated string".into()));
                };
                j += 1;
                match d {
                    '"' => break,
                    '\\' => {
                        let (b, used) = unescape(&chars[j..])
                            .ok_or_else(|| err(j, "unknown escape in string".into()))?;
                        bytes.push(b);
                        j += used;
                    }
                    _ => {
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(d.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            toks.push(Token {
                tok: Tok::Str(bytes),
                col,
            });
            i = j;
            continue;
        }
        if c == '\'' {
            let (v, used) = match chars.get(i + 1) {
                Some('\\') => unescape(&chars[i + 2..]).map(|(b, u)| (u32::from(b), u + 1)),
                Some(&d) if d != '\'' => Some((d as u32, 1)),
                _ => None,
            }
            .ok_or_else(|| err(col, "bad character literal".into()))?;
            if chars.get(i + 1 + used) != Some(&'\'') {
                return Err(err(col, "unterminated character literal".into()));
            }
            toks.push(Token {
                tok: Tok::Int(i128::from(v)),
                col,
            });
            i += used + 2;
            continue;
        }
        if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let text: String = chars[i..j].iter().filter(|c| **c != '_').collect();
            let v = parse_int(&text).ok_or_else(|| err(col, format!("invalid number `{text}`")))?;
            toks.push(Token {
                tok: Tok::Int(v),
                col,
            });
            i = j;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == '.' {
            let mut j = i + 1;
            while j < chars.len()
                && (chars[j].is_ascii_alphanumeric() || chars[j] == '_' || chars[j] == '.')
            {
                j += 1;
            }
            toks.push(Token {
                tok: Tok::Ident(chars[i..j].iter().collect()),
                col,
            });
            i = j;
            continue;
        }
        return Err(err(col, format!("unexpected character {c:?}")));
    }
    Ok(Line {
        file,
        no,
        toks,
        pos: 0,
        end_col: chars.len() + 1,
    })
}

fn unescape(rest: &[char]) -> Option<(u8, usize)> {
    Some(match rest.first()? {
        'n' => (b'\n', 1),
        't' => (b'\t', 1),
        'r' => (b'\r', 1),
        '0' => (0, 1),
        '\\' => (b'\\', 1),
        '"' => (b'"', 1),
        '\'' => (b'\'', 1),
        'x' => {
            let hex: String = rest.get(1..3)?.iter().collect();
            (u8::from_str_radix(&hex, 16).ok()?, 3)
        }
        _ => return None,
    })
}

fn parse_int(text: &str) -> Option<i128> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text),
    };
    let v = if let Some(h) = body.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if let Some(b) = body.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else {
        body.parse::<i128>().ok()?
    };
    Some(if neg { -v } else { v })
}

const WORD_MIN: i128 = i64::MIN as i128;
const WORD_MAX: i128 = u64::MAX as i128;

/// A reference to resolve once everything is read.
struct Fixup {
    func: usize,
    pc: usize,
    table: Option<(usize, usize)>,
    name: String,
    line: usize,
    col: usize,
}

struct FuncBuild {
    func: Function,
    locals: BTreeMap<String, u32>,
    labels: BTreeMap<String, u32>,
    label_refs: Vec<Fixup>,
    lines: Vec<(usize, usize)>,
    /// Line and column of the `func` header, where a missing `end` is reported.
    header: (usize, usize),
}

/// Assembles `src` (named `file` in errors) into an unverified module.
///
/// # Errors
/// The first syntax or name error, with its position.
pub fn assemble(src: &str, file: &str) -> Result<Module, AsmError> {
    Ok(parse(src, file)?.0)
}

/// Assembles and verifies `src`; verification errors point at the offending line.
///
/// # Errors
/// As [`assemble`], plus verification errors located at their source line.
pub fn assemble_verified(src: &str, file: &str) -> Result<Arc<VerifiedModule>, AsmError> {
    let (module, lines) = parse(src, file)?;
    verify(module).map_err(|e| {
        let (line, col) = match (&e.func, e.pc) {
            (Some((f, _)), Some(pc)) => lines[*f as usize]
                .get(pc as usize)
                .copied()
                .unwrap_or((1, 1)),
            (Some((f, _)), None) => lines[*f as usize].first().map_or((1, 1), |l| (l.0, 1)),
            _ => (1, 1),
        };
        AsmError {
            file: file.to_string(),
            line,
            col,
            message: e.to_string(),
        }
    })
}

type Lines = Vec<Vec<(usize, usize)>>;

fn parse(src: &str, file: &str) -> Result<(Module, Lines), AsmError> {
    let mut memory: Option<u64> = None;
    let mut entry: Option<(String, usize, usize)> = None;
    let mut data = Vec::new();
    let mut consts: BTreeMap<String, u64> = BTreeMap::new();
    let mut funcs: Vec<FuncBuild> = Vec::new();
    let mut calls: Vec<Fixup> = Vec::new();
    let mut current: Option<FuncBuild> = None;
    let mut last_line = 1;

    for (i, text) in src.lines().enumerate() {
        let mut line = lex_line(file, i + 1, text)?;
        last_line = i + 1;
        if line.at_end() {
            continue;
        }
        if let Some(fb) = current.as_mut() {
            // Labels first: `name:` possibly followed by an instruction.
            while line.toks.len() > line.pos + 1 && line.toks[line.pos + 1].tok == Tok::Punct(":") {
                let (name, col) = line.ident("a label")?;
                line.pos += 1;
                if name == "else" {
                    return Err(line.err_at(col, "`else` cannot be a label"));
                }
                if fb
                    .labels
                    .insert(name.clone(), fb.func.code.len() as u32)
                    .is_some()
                {
                    return Err(line.err_at(col, format!("label `{name}` is defined twice")));
                }
            }
            if line.at_end() {
                continue;
            }
            let (word, col) = line.ident("an instruction, a label or `end`")?;
            if word == "func" {
                return Err(missing_end(file, fb));
            }
            if word == "end" {
                line.expect_end()?;
                let fb = current.take().expect("inside a function");
                funcs.push(finish_function(fb, file)?);
                continue;
            }
            if word == "locals" {
                if !fb.func.code.is_empty() || fb.func.locals != 0 {
                    return Err(line.err_at(col, "`locals` must come first in a function, once"));
                }
                parse_locals(&mut line, fb)?;
                line.expect_end()?;
                continue;
            }
            parse_instr(&mut line, &word, col, fb, funcs.len(), &consts, &mut calls)?;
            line.expect_end()?;
            continue;
        }
        let (word, col) = line.ident("a directive or `func`")?;
        match word.as_str() {
            ".memory" => {
                memory = Some(line.int("a memory size", 0, i128::from(u64::MAX))? as u64);
            }
            ".entry" => {
                let (name, c) = line.ident("a function name")?;
                entry = Some((name, line.no, c));
            }
            ".const" => {
                let (name, c) = line.ident("a constant name")?;
                let v = line.int("a value", WORD_MIN, WORD_MAX)?;
                if consts.insert(name.clone(), v as u64).is_some() {
                    return Err(line.err_at(c, format!("constant `{name}` is defined twice")));
                }
            }
            ".data" => data.push(parse_data(&mut line)?),
            "func" => {
                let at = (line.no, col);
                current = Some(parse_header(&mut line, at)?);
            }
            _ => {
                return Err(line.err_at(
                    col,
                    format!("expected a directive or `func`, found `{word}`"),
                ))
            }
        }
        line.expect_end()?;
    }
    if let Some(fb) = &current {
        return Err(missing_end(file, fb));
    }
    if funcs.is_empty() {
        return Err(AsmError {
            file: file.into(),
            line: last_line,
            col: 1,
            message: "expected at least one `func`".into(),
        });
    }
    let index: BTreeMap<String, u32> = funcs
        .iter()
        .enumerate()
        .map(|(i, f)| (f.func.name.clone(), i as u32))
        .collect();
    for fx in calls {
        let Some(&target) = index.get(&fx.name) else {
            return Err(AsmError {
                file: file.into(),
                line: fx.line,
                col: fx.col,
                message: format!("no function named `{}`", fx.name),
            });
        };
        let ins = &mut funcs[fx.func].func.code[fx.pc];
        *ins = Instr::from_parts(ins.opcode(), u64::from(target));
    }
    let entry = match entry {
        Some((name, line, col)) => *index.get(&name).ok_or_else(|| AsmError {
            file: file.into(),
            line,
            col,
            message: format!("no function named `{name}`"),
        })?,
        None => index.get("main").copied().unwrap_or(0),
    };
    let memory_size = memory.unwrap_or_else(|| {
        data.iter()
            .map(|d: &DataSegment| d.offset + d.bytes.len() as u64)
            .max()
            .unwrap_or(0)
    });
    let lines = funcs.iter().map(|f| f.lines.clone()).collect();
    let funcs = funcs.into_iter().map(|f| f.func).collect();
    Ok((
        Module {
            memory_size,
            entry,
            data,
            funcs,
            debug: None,
        },
        lines,
    ))
}

/// The error for a function whose `end` is missing, at its header.
fn missing_end(file: &str, fb: &FuncBuild) -> AsmError {
    AsmError {
        file: file.into(),
        line: fb.header.0,
        col: fb.header.1,
        message: format!(
            "function `{}` has no `end` (expected `end` before the next `func` or the end of the file)",
            fb.func.name
        ),
    }
}

fn parse_header(line: &mut Line<'_>, at: (usize, usize)) -> Result<FuncBuild, AsmError> {
    let (name, col) = line.ident("a function name")?;
    if !is_valid_name(&name) {
        return Err(line.err_at(col, format!("`{name}` is not a valid function name")));
    }
    let mut fb = FuncBuild {
        func: Function {
            name,
            params: 0,
            results: 0,
            locals: 0,
            code: vec![],
            tables: vec![],
        },
        locals: BTreeMap::new(),
        labels: BTreeMap::new(),
        label_refs: vec![],
        lines: vec![],
        header: at,
    };
    if !line.punct("(") {
        return Err(line.expected("`(`"));
    }
    if let Some(Token {
        tok: Tok::Int(_), ..
    }) = line.peek()
    {
        fb.func.params = line.int("a parameter count", 0, 64)? as u32;
    } else {
        fb.func.params = name_list(line, &mut fb.locals, 0)?;
    }
    if !line.punct(")") {
        return Err(line.expected("`)`"));
    }
    if line.punct("->") {
        fb.func.results = line.int("a result count", 0, 64)? as u32;
    }
    if !line.at_end() {
        let (word, col) = line.ident("`->` or `locals`")?;
        if word != "locals" {
            return Err(line.err_at(col, format!("expected `->` or `locals`, found `{word}`")));
        }
        parse_locals(line, &mut fb)?;
    }
    Ok(fb)
}

/// Reads `a, b, c` up to `)`, naming locals from index `first`; returns how many.
fn name_list(
    line: &mut Line<'_>,
    names: &mut BTreeMap<String, u32>,
    first: u32,
) -> Result<u32, AsmError> {
    let mut n = 0;
    while !matches!(
        line.peek(),
        Some(Token {
            tok: Tok::Punct(")"),
            ..
        }) | None
    ) {
        if n > 0 && !line.punct(",") {
            return Err(line.expected("`,` or `)`"));
        }
        let (name, col) = line.ident("a local name")?;
        if names.insert(name.clone(), first + n).is_some() {
            return Err(line.err_at(col, format!("local `{name}` is named twice")));
        }
        n += 1;
    }
    Ok(n)
}

fn parse_locals(line: &mut Line<'_>, fb: &mut FuncBuild) -> Result<(), AsmError> {
    if line.punct("(") {
        fb.func.locals = name_list(line, &mut fb.locals, fb.func.params)?;
        if !line.punct(")") {
            return Err(line.expected("`)`"));
        }
    } else {
        fb.func.locals = line.int("a local count or `(`", 0, 65_535)? as u32;
    }
    Ok(())
}

fn parse_data(line: &mut Line<'_>) -> Result<DataSegment, AsmError> {
    let offset = line.int("a data offset", 0, i128::from(u64::MAX))? as u64;
    let mut bytes = Vec::new();
    let mut width = 1usize;
    while let Some(t) = line.peek().cloned() {
        match t.tok {
            Tok::Str(s) => {
                bytes.extend_from_slice(&s);
                line.pos += 1;
            }
            Tok::Ident(ref w) if matches!(w.as_str(), "u8" | "u16" | "u32" | "u64") => {
                width = w[1..].parse::<usize>().unwrap() / 8;
                line.pos += 1;
            }
            Tok::Int(_) => {
                let bits = 8 * width as u32;
                let max = if bits == 64 {
                    WORD_MAX
                } else {
                    (1i128 << bits) - 1
                };
                let min = -(1i128 << (bits - 1));
                let v = line.int("a value", min, max)?;
                bytes.extend_from_slice(&(v as u64).to_le_bytes()[..width]);
            }
            _ => return Err(line.expected("a string, number or width (u8, u16, u32, u64)")),
        }
    }
    Ok(DataSegment { offset, bytes })
}

/// A `.const` of the file, else a name the assembler predefines for keys
/// ([`predefined_constant`]).
fn constant(consts: &BTreeMap<String, u64>, name: &str) -> Option<u64> {
    consts
        .get(name)
        .copied()
        .or_else(|| predefined_constant(name))
}

fn parse_instr(
    line: &mut Line<'_>,
    word: &str,
    col: usize,
    fb: &mut FuncBuild,
    func_index: usize,
    consts: &BTreeMap<String, u64>,
    calls: &mut Vec<Fixup>,
) -> Result<(), AsmError> {
    let op = Opcode::from_mnemonic(word)
        .ok_or_else(|| line.err_at(col, format!("unknown instruction `{word}`")))?;
    let pc = fb.func.code.len();
    let imm: u64 = match op.info().imm {
        ImmKind::None => 0,
        ImmKind::Word => match line.peek().map(|t| t.tok.clone()) {
            Some(Tok::Ident(name)) => {
                let c = line.col();
                line.pos += 1;
                constant(consts, &name)
                    .ok_or_else(|| line.err_at(c, format!("no constant named `{name}`")))?
            }
            _ => line.int("a number or constant", WORD_MIN, WORD_MAX)? as u64,
        },
        ImmKind::Local => match line.peek().map(|t| t.tok.clone()) {
            Some(Tok::Ident(name)) => {
                let c = line.col();
                line.pos += 1;
                u64::from(
                    *fb.locals
                        .get(&name)
                        .ok_or_else(|| line.err_at(c, format!("no local named `{name}`")))?,
                )
            }
            _ => line.int("a local name or index", 0, i128::from(u32::MAX))? as u64,
        },
        ImmKind::Target => {
            let (name, c) = line.ident("a label")?;
            fb.label_refs.push(Fixup {
                func: func_index,
                pc,
                table: None,
                name,
                line: line.no,
                col: c,
            });
            0
        }
        ImmKind::Func => {
            let (name, c) = line.ident("a function name")?;
            calls.push(Fixup {
                func: func_index,
                pc,
                table: None,
                name,
                line: line.no,
                col: c,
            });
            0
        }
        ImmKind::Offset => match line.peek().map(|t| t.tok.clone()) {
            None => 0,
            Some(Tok::Ident(name)) => {
                let c = line.col();
                line.pos += 1;
                let v = constant(consts, &name)
                    .ok_or_else(|| line.err_at(c, format!("no constant named `{name}`")))?;
                if v > u64::from(u32::MAX) {
                    return Err(line.err_at(
                        c,
                        format!("offset `{name}` = {v} is out of range 0..={}", u32::MAX),
                    ));
                }
                v
            }
            _ => line.int("an offset or constant", 0, i128::from(u32::MAX))? as u64,
        },
        ImmKind::Field => match line.peek().map(|t| t.tok.clone()) {
            Some(Tok::Ident(name)) => {
                let c = line.col();
                line.pos += 1;
                Field::from_name(&name)
                    .ok_or_else(|| line.err_at(c, format!("no field named `{name}`")))?
                    as u64
            }
            _ => line.int("a field name", 0, 255)? as u64,
        },
        ImmKind::Table => {
            let t = fb.func.tables.len();
            let mut targets = Vec::new();
            loop {
                let (mut name, mut c) = line.ident("a label or `else`")?;
                let default = name == "else";
                if default {
                    (name, c) = line.ident("the default label")?;
                }
                let table = Some((t, targets.len()));
                fb.label_refs.push(Fixup {
                    func: func_index,
                    pc,
                    table,
                    name,
                    line: line.no,
                    col: c,
                });
                targets.push(0);
                if default {
                    break;
                }
            }
            fb.func.tables.push(targets);
            t as u64
        }
    };
    fb.func.code.push(Instr::from_parts(op, imm));
    fb.lines.push((line.no, col));
    Ok(())
}

fn finish_function(mut fb: FuncBuild, file: &str) -> Result<FuncBuild, AsmError> {
    for fx in std::mem::take(&mut fb.label_refs) {
        let Some(&target) = fb.labels.get(&fx.name) else {
            return Err(AsmError {
                file: file.into(),
                line: fx.line,
                col: fx.col,
                message: format!("no label named `{}`", fx.name),
            });
        };
        match fx.table {
            Some((t, i)) => fb.func.tables[t][i] = target,
            None => {
                let ins = &mut fb.func.code[fx.pc];
                *ins = Instr::from_parts(ins.opcode(), u64::from(target));
            }
        }
    }
    Ok(fb)
}

/// Disassembles a module into text that [`assemble`] turns back into the same module.
pub fn disassemble(m: &Module) -> String {
    let mut out = String::from("; rarvm module\n");
    out.push_str(&format!(".memory {}\n", m.memory_size));
    if let Some(f) = m.funcs.get(m.entry as usize) {
        out.push_str(&format!(".entry {}\n", f.name));
    }
    for seg in &m.data {
        let hex: String = seg.bytes.iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&format!(".data {} x\"{hex}\"\n", seg.offset));
    }
    for f in &m.funcs {
        out.push('\n');
        out.push_str(&format!("func {}({}) -> {}", f.name, f.params, f.results));
        if f.locals > 0 {
            out.push_str(&format!(" locals {}", f.locals));
        }
        out.push('\n');
        let mut targets = std::collections::BTreeSet::new();
        for ins in &f.code {
            match ins.info().imm {
                ImmKind::Target => {
                    targets.insert(ins.imm() as u32);
                }
                ImmKind::Table => targets.extend(f.tables[ins.imm() as usize].iter().copied()),
                _ => {}
            }
        }
        for (pc, ins) in f.code.iter().enumerate() {
            if targets.contains(&(pc as u32)) {
                out.push_str(&format!("L{pc}:\n"));
            }
            let info = ins.info();
            out.push_str("    ");
            out.push_str(info.mnemonic);
            let imm = ins.imm();
            match info.imm {
                ImmKind::None => {}
                ImmKind::Word if imm > i64::MAX as u64 => out.push_str(&format!(" {}", imm as i64)),
                ImmKind::Word | ImmKind::Local => out.push_str(&format!(" {imm}")),
                ImmKind::Offset if imm == 0 => {}
                ImmKind::Offset => out.push_str(&format!(" {imm}")),
                ImmKind::Target => out.push_str(&format!(" L{imm}")),
                ImmKind::Func => {
                    let name = m
                        .funcs
                        .get(imm as usize)
                        .map_or_else(|| format!("#{imm}"), |f| f.name.clone());
                    out.push_str(&format!(" {name}"));
                }
                ImmKind::Field => match Field::from_u8(imm as u8) {
                    Some(field) => out.push_str(&format!(" {}", field.name())),
                    None => out.push_str(&format!(" {imm}")),
                },
                ImmKind::Table => {
                    let table = &f.tables[imm as usize];
                    let (default, cases) = table.split_last().expect("tables have a default");
                    for t in cases {
                        out.push_str(&format!(" L{t}"));
                    }
                    out.push_str(&format!(" else L{default}"));
                }
            }
            out.push('\n');
        }
        out.push_str("end\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"
; a test program
.memory 32
.data 4 "ab" u16 258 u8 -1 x"ff00"
.const BIG 0xffff_ffff_ffff_ffff
func main(x) -> 1 locals(i, acc)
    local.get x
    switch one two else three
one:
    push BIG
    jmp done
two: push -2
    jmp done
three:
    push 'a'
done:
    call helper
    ret
end
func helper(1) -> 1
    load64 8
    child.info gas_left
    ret
end
"#;

    #[test]
    fn assembles_everything() {
        let m = assemble(SRC, "t.rasm").unwrap();
        assert_eq!(m.memory_size, 32);
        assert_eq!(m.data[0].bytes, vec![b'a', b'b', 2, 1, 0xff, 0xff, 0]);
        let main = &m.funcs[0];
        assert_eq!(main.params, 1);
        assert_eq!(main.locals, 2);
        assert_eq!(main.code[1], Instr::Switch(0));
        assert_eq!(main.tables[0], vec![2, 4, 6]);
        assert_eq!(main.code[2], Instr::Push(u64::MAX));
        assert_eq!(main.code[4], Instr::Push(-2i64 as u64));
        assert_eq!(main.code[6], Instr::Push(97));
        assert_eq!(main.code[7], Instr::Call(1));
        assert_eq!(m.funcs[1].code[0], Instr::Load64(8));
        assert_eq!(m.funcs[1].code[1], Instr::ChildInfo(Field::GasLeft as u8));
    }

    #[test]
    fn disassembly_reassembles_to_the_same_module() {
        let m = assemble(SRC, "t.rasm").unwrap();
        let text = disassemble(&m);
        let back = assemble(&text, "d.rasm").unwrap();
        assert_eq!(back, m);
        assert_eq!(back.encode(), m.encode());
    }

    #[test]
    fn errors_name_position_and_expectation() {
        let e = assemble("func main() -> 1\n    push\nend\n", "x.rasm").unwrap_err();
        assert_eq!((e.line, e.col), (2, 9));
        assert_eq!(
            e.to_string(),
            "x.rasm:2:9: expected a number or constant, found end of line"
        );
        let e = assemble("func main()\n  jmp nowhere\nend\n", "x.rasm").unwrap_err();
        assert_eq!(e.to_string(), "x.rasm:2:7: no label named `nowhere`");
        let e = assemble("func main()\n  frob\nend\n", "x.rasm").unwrap_err();
        assert_eq!(e.to_string(), "x.rasm:2:3: unknown instruction `frob`");
        let e = assemble("func main()\n  call g\nend\n", "x.rasm").unwrap_err();
        assert!(e.to_string().contains("no function named `g`"));
        let e = assemble("; a\nfunc main()\n  ret\n", "x.rasm").unwrap_err();
        assert!(e.message.contains("has no `end`"));
        assert_eq!((e.line, e.col), (2, 1), "reported at the header");
        let e = assemble("func a()\n ret\n func main()\n ret\nend\n", "x.rasm").unwrap_err();
        assert!(e.message.contains("`a` has no `end`"), "{e}");
        assert_eq!((e.line, e.col), (1, 1));
        let e = assemble("func main()\n push 0x1_0000_0000_0000_0000\nend", "x.rasm").unwrap_err();
        assert!(e.message.contains("out of range"), "{e}");
        let e = assemble(".data 0 \"abc\nfunc main()\nend", "x.rasm").unwrap_err();
        assert!(e.message.contains("unterminated string"));
    }

    #[test]
    fn verification_errors_point_at_the_line() {
        let e = assemble_verified(
            "func main() -> 1\n    push 1\n    add\n    ret\nend\n",
            "v.rasm",
        )
        .unwrap_err();
        assert_eq!((e.line, e.col), (3, 5));
        assert!(e.message.contains("stack underflow"), "{e}");
    }
}
