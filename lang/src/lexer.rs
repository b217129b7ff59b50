//! Tokens (logos) and the layout pass that turns indentation into `Indent`, `Dedent` and
//! `Newline` tokens, as Python does: inside brackets, line breaks and indentation do not
//! count; blank and comment-only lines are ignored.

use std::fmt;

use logos::Logos;

use crate::diag::{Code, Diagnostic};
use crate::Span;

/// Deepest nesting of brackets, and of indented blocks, a file may have.
pub const MAX_NESTING: usize = 200;

#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[logos(skip r"[ \t\r\f]+")]
#[logos(skip(r"#[^\n]*", allow_greedy = true))]
pub enum Tok<'s> {
    #[token("\n")]
    Newline,
    /// Produced by the layout pass only.
    Indent,
    /// Produced by the layout pass only.
    Dedent,
    /// The `<` opening a sandbox call's allowances (`f<gas, mem>(…)`); layout pass only.
    SbOpen,
    /// The `>` closing a sandbox call's allowances; layout pass only.
    SbClose,

    #[token("def")]
    Def,
    #[token("return")]
    Return,
    #[token("if")]
    If,
    #[token("elif")]
    Elif,
    #[token("else")]
    Else,
    #[token("while")]
    While,
    #[token("for")]
    For,
    #[token("in")]
    In,
    #[token("break")]
    Break,
    #[token("continue")]
    Continue,
    #[token("pass")]
    Pass,
    #[token("yield")]
    Yield,
    #[token("and")]
    And,
    #[token("or")]
    Or,
    #[token("not")]
    Not,
    #[token("True")]
    True,
    #[token("False")]
    False,
    #[token("import")]
    Import,
    #[token("from")]
    From,
    #[token("as")]
    As,
    #[token("typ")]
    Typ,
    #[token("grant")]
    Grant,
    #[token("spawn")]
    Spawn,
    #[token("new")]
    New,
    #[token("match")]
    Match,
    #[token("case")]
    Case,
    #[token("assert")]
    Assert,

    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'s str),
    #[regex(r"[0-9][0-9A-Za-z_]*")]
    Int(&'s str),
    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    Str(&'s str),
    #[regex(r"'([^'\\\n]|\\[^\n])+'")]
    Char(&'s str),

    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("&")]
    Amp,
    #[token("|")]
    Pipe,
    #[token("^")]
    Caret,
    #[token("~")]
    Tilde,
    #[token("<<")]
    Shl,
    #[token(">>")]
    Shr,
    #[token("==")]
    EqEq,
    #[token("!=")]
    Ne,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("=")]
    Assign,
    #[token("+=")]
    PlusEq,
    #[token("-=")]
    MinusEq,
    #[token("*=")]
    StarEq,
    #[token("/=")]
    SlashEq,
    #[token("%=")]
    PercentEq,
    #[token("&=")]
    AmpEq,
    #[token("|=")]
    PipeEq,
    #[token("^=")]
    CaretEq,
    #[token("<<=")]
    ShlEq,
    #[token(">>=")]
    ShrEq,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token(".")]
    Dot,
    #[token("->")]
    Arrow,
    /// A character that starts no token (produced for logos errors).
    Error,
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Tok::Newline => "end of line",
            Tok::Indent => "indented block",
            Tok::Dedent => "end of block",
            Tok::SbOpen => "`<`",
            Tok::SbClose => "`>`",
            Tok::Ident(s) => return write!(f, "name `{s}`"),
            Tok::Int(s) => return write!(f, "number `{s}`"),
            Tok::Str(_) => "string",
            Tok::Char(s) => return write!(f, "character {s}"),
            Tok::Error => "invalid character",
            other => return write!(f, "`{}`", other.text()),
        };
        f.write_str(s)
    }
}

impl Tok<'_> {
    /// The source text of a fixed token.
    pub fn text(&self) -> &'static str {
        match self {
            Tok::Def => "def",
            Tok::Return => "return",
            Tok::If => "if",
            Tok::Elif => "elif",
            Tok::Else => "else",
            Tok::While => "while",
            Tok::For => "for",
            Tok::In => "in",
            Tok::Break => "break",
            Tok::Continue => "continue",
            Tok::Pass => "pass",
            Tok::Yield => "yield",
            Tok::And => "and",
            Tok::Or => "or",
            Tok::Not => "not",
            Tok::True => "True",
            Tok::False => "False",
            Tok::Import => "import",
            Tok::From => "from",
            Tok::As => "as",
            Tok::Typ => "typ",
            Tok::Grant => "grant",
            Tok::Spawn => "spawn",
            Tok::New => "new",
            Tok::Match => "match",
            Tok::Case => "case",
            Tok::Assert => "assert",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Amp => "&",
            Tok::Pipe => "|",
            Tok::Caret => "^",
            Tok::Tilde => "~",
            Tok::Shl => "<<",
            Tok::Shr => ">>",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Assign => "=",
            Tok::PlusEq => "+=",
            Tok::MinusEq => "-=",
            Tok::StarEq => "*=",
            Tok::SlashEq => "/=",
            Tok::PercentEq => "%=",
            Tok::AmpEq => "&=",
            Tok::PipeEq => "|=",
            Tok::CaretEq => "^=",
            Tok::ShlEq => "<<=",
            Tok::ShrEq => ">>=",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Comma => ",",
            Tok::Colon => ":",
            Tok::Dot => ".",
            Tok::Arrow => "->",
            Tok::SbOpen => "<",
            Tok::SbClose => ">",
            Tok::Newline | Tok::Indent | Tok::Dedent => "",
            Tok::Ident(_) | Tok::Int(_) | Tok::Str(_) | Tok::Char(_) | Tok::Error => "",
        }
    }
}

/// Lexes `src` and applies the layout rules. Problems (invalid characters, tabs in
/// indentation, inconsistent dedents, nesting beyond [`MAX_NESTING`]) are pushed to
/// `diags`; the token list is still usable for parsing the rest of the file, except after
/// a nesting error, which truncates it.
pub fn tokenize<'s>(src: &'s str, file: u32, diags: &mut Vec<Diagnostic>) -> Vec<(Tok<'s>, Span)> {
    let mut out: Vec<(Tok<'s>, Span)> = Vec::new();
    let mut indents: Vec<usize> = vec![0];
    let mut depth: usize = 0;
    let mut opens: Vec<(usize, usize)> = Vec::new();
    let mut line_start = true;
    let mut prefix_run = 0usize;
    let mut lex = Tok::lexer(src);
    let span = |a: usize, b: usize| crate::span(file, a, b);
    while let Some(res) = lex.next() {
        let r = lex.span();
        let tok = match res {
            Ok(t) => t,
            Err(()) => {
                let ch = src[r.start..].chars().next().unwrap_or('?');
                let what = if ch == '"' {
                    "this string is not closed on its line".to_string()
                } else if ch == '\'' {
                    "this character literal is not closed".to_string()
                } else {
                    format!("invalid character {ch:?}")
                };
                diags.push(
                    Diagnostic::error(Code::Syntax, span(r.start, r.end), what)
                        .expected(["a token"]),
                );
                Tok::Error
            }
        };
        if tok == Tok::Newline && depth > 0 && starts_statement(&mut lex.clone()) {
            // A line that can only begin a statement: the bracket was never closed.
            if let Some(&(a, b)) = opens.first() {
                diags.push(
                    Diagnostic::error(Code::Syntax, span(a, b), "this bracket is never closed")
                        .expected(["a closing bracket before the end of the line"]),
                );
            }
            opens.clear();
            depth = 0;
        }
        if tok == Tok::Newline {
            if depth == 0 {
                if !matches!(out.last(), None | Some((Tok::Newline, _))) {
                    out.push((Tok::Newline, span(r.start, r.start)));
                }
                line_start = true;
            }
            continue;
        }
        if line_start && depth == 0 {
            line_start = false;
            let ls = src[..r.start].rfind('\n').map_or(0, |i| i + 1);
            let lead = &src[ls..r.start];
            if let Some(t) = lead.find('\t') {
                diags.push(
                    Diagnostic::error(
                        Code::Syntax,
                        span(ls + t, ls + t + 1),
                        "a tab in indentation: indent with spaces",
                    )
                    .expected(["spaces"]),
                );
            }
            let col = lead.len();
            let top = *indents.last().unwrap_or(&0);
            let here = span(r.start, r.start);
            if col > top {
                if indents.len() > MAX_NESTING {
                    diags.push(Diagnostic::error(
                        Code::Limit,
                        span(r.start, r.end),
                        format!("blocks nested more than {MAX_NESTING} deep"),
                    ));
                    out.truncate(0);
                    return out;
                }
                indents.push(col);
                out.push((Tok::Indent, here));
            } else if col < top {
                while col < *indents.last().unwrap_or(&0) {
                    indents.pop();
                    out.push((Tok::Dedent, here));
                }
                if col != *indents.last().unwrap_or(&0) {
                    diags.push(
                        Diagnostic::error(
                            Code::Syntax,
                            span(ls, r.start.max(ls + 1).min(src.len())),
                            "this line's indentation matches no enclosing block",
                        )
                        .expected(["the indentation of an enclosing block"]),
                    );
                    indents.push(col);
                }
            }
        }
        match tok {
            Tok::LParen | Tok::LBracket | Tok::LBrace => {
                depth += 1;
                opens.push((r.start, r.end));
                if depth > MAX_NESTING {
                    diags.push(Diagnostic::error(
                        Code::Limit,
                        span(r.start, r.end),
                        format!("brackets nested more than {MAX_NESTING} deep"),
                    ));
                    out.truncate(0);
                    return out;
                }
            }
            Tok::RParen | Tok::RBracket | Tok::RBrace => {
                depth = depth.saturating_sub(1);
                opens.pop();
            }
            _ => {}
        }
        if matches!(tok, Tok::Minus | Tok::Tilde | Tok::Not) {
            prefix_run += 1;
            if prefix_run > MAX_NESTING {
                diags.push(Diagnostic::error(
                    Code::Limit,
                    span(r.start, r.end),
                    format!("more than {MAX_NESTING} operators in a row"),
                ));
                out.truncate(0);
                return out;
            }
        } else {
            prefix_run = 0;
        }
        out.push((tok, span(r.start, r.end)));
    }
    let end = src.len();
    if !matches!(out.last(), None | Some((Tok::Newline, _))) {
        out.push((Tok::Newline, span(end, end)));
    }
    while indents.len() > 1 {
        indents.pop();
        out.push((Tok::Dedent, span(end, end)));
    }
    mark_sandbox_calls(&mut out);
    out
}

/// True when the next token (of the lexer given) is a keyword that only begins a
/// statement or definition, so cannot continue an expression from the line before.
fn starts_statement<'s>(lex: &mut logos::Lexer<'s, Tok<'s>>) -> bool {
    matches!(
        lex.next(),
        Some(Ok(Tok::Def
            | Tok::Typ
            | Tok::Import
            | Tok::From
            | Tok::Grant
            | Tok::Return
            | Tok::While
            | Tok::For
            | Tok::Match
            | Tok::Case
            | Tok::Pass
            | Tok::Break
            | Tok::Continue
            | Tok::Yield
            | Tok::Assert
            | Tok::Elif))
    )
}

/// Retags the `<` and `>` of every sandbox call `NAME<…>(`: a `<` right after a name
/// whose matching `>` (at the same bracket depth, with nothing between that cannot be
/// part of an allowance: comparisons, `and`, `or`, `if`, `:`, `=`, line ends) is
/// followed by `(`. Deciding this before parsing keeps the parser free of backtracking.
fn mark_sandbox_calls(toks: &mut [(Tok<'_>, Span)]) {
    let mut i = 1;
    while i + 1 < toks.len() {
        if toks[i].0 == Tok::Lt && matches!(toks[i - 1].0, Tok::Ident(_)) {
            let mut depth = 0usize;
            let mut j = i + 1;
            let close = loop {
                let Some((t, _)) = toks.get(j) else {
                    break None;
                };
                match t {
                    Tok::LParen | Tok::LBracket | Tok::LBrace => depth += 1,
                    Tok::RParen | Tok::RBracket | Tok::RBrace => {
                        if depth == 0 {
                            break None;
                        }
                        depth -= 1;
                    }
                    Tok::Gt if depth == 0 => break Some(j),
                    Tok::Newline | Tok::Indent | Tok::Dedent => break None,
                    Tok::Lt
                    | Tok::Le
                    | Tok::Ge
                    | Tok::EqEq
                    | Tok::Ne
                    | Tok::And
                    | Tok::Or
                    | Tok::Not
                    | Tok::If
                    | Tok::Else
                    | Tok::Colon
                    | Tok::Assign
                    | Tok::In
                    | Tok::Arrow
                        if depth == 0 =>
                    {
                        break None
                    }
                    _ => {}
                }
                j += 1;
            };
            if let Some(j) = close {
                if toks.get(j + 1).map(|t| t.0) == Some(Tok::LParen) {
                    toks[i].0 = Tok::SbOpen;
                    toks[j].0 = Tok::SbClose;
                    i = j;
                }
            }
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<String> {
        let mut d = Vec::new();
        tokenize(src, 0, &mut d)
            .into_iter()
            .map(|(t, _)| match t {
                Tok::Newline => "NL".to_string(),
                Tok::Indent => "IN".to_string(),
                Tok::Dedent => "DE".to_string(),
                t => t.to_string(),
            })
            .collect()
    }

    #[test]
    fn layout_follows_indentation_and_ignores_brackets_and_blank_lines() {
        let toks = kinds("def f(a,\n   b):\n    # c\n\n    return a\nx = 1\n");
        assert_eq!(
            toks.join(" "),
            "`def` name `f` `(` name `a` `,` name `b` `)` `:` NL IN `return` name `a` NL DE name `x` `=` number `1` NL"
        );
    }

    #[test]
    fn tabs_and_bad_dedents_are_reported() {
        let mut d = Vec::new();
        tokenize("if x:\n\tpass\n", 0, &mut d);
        assert!(d[0].message.contains("tab"));
        let mut d = Vec::new();
        tokenize("if x:\n    pass\n  pass\n", 0, &mut d);
        assert!(d[0].message.contains("indentation"));
    }

    #[test]
    fn sandbox_calls_are_told_from_comparisons() {
        let k = kinds("y = f<50, 50>(x) if a < b else g<, 9>(a > b)\n");
        assert_eq!(k.iter().filter(|t| *t == "`<`").count(), 3);
        let mut d = Vec::new();
        let t = tokenize("y = f<50, 50>(x) if a < b else g<, 9>(a > b)\n", 0, &mut d);
        let opens = t.iter().filter(|t| t.0 == Tok::SbOpen).count();
        let closes = t.iter().filter(|t| t.0 == Tok::SbClose).count();
        assert_eq!((opens, closes), (2, 2));
        let t = tokenize("x = a < b and c > (d)\n", 0, &mut d);
        assert!(!t.iter().any(|t| t.0 == Tok::SbOpen));
    }

    #[test]
    fn deep_brackets_are_a_limit_error() {
        let mut d = Vec::new();
        let src = "(".repeat(10_000);
        assert!(tokenize(&src, 0, &mut d).is_empty());
        assert_eq!(d[0].code, Code::Limit);
    }
}
