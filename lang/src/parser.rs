//! The parser: chumsky over the layout-processed token list, with statement- and
//! item-level error recovery so that every syntax error of a file is reported.

use chumsky::input::ValueInput;
use chumsky::prelude::*;

use crate::ast::*;
use crate::diag::{Code, Diagnostic};
use crate::lexer::Tok;
use crate::Span;

type Ex<'t, 's> = extra::Err<Rich<'t, Tok<'s>, Span>>;

/// Parses one file's tokens. Syntax errors go to `diags`; the returned tree holds
/// `Error` nodes where they were.
pub fn parse_file(
    toks: &[(Tok<'_>, Span)],
    file: u32,
    len: usize,
    diags: &mut Vec<Diagnostic>,
) -> File {
    let eoi = crate::span(file, len, len);
    let (out, errs) = file_parser()
        .parse(toks.split_token_span(eoi))
        .into_output_errors();
    for e in errs {
        diags.push(rich_to_diag(e));
    }
    let file = out.unwrap_or_default();
    if let Some(at) = file.too_deep() {
        diags.push(
            Diagnostic::error(
                Code::Limit,
                at,
                format!("expressions nested more than {MAX_EXPR_DEPTH} deep"),
            )
            .note("split it with variables"),
        );
        file.dismantle();
        return File::default();
    }
    file
}

fn rich_to_diag(e: Rich<'_, Tok<'_>, Span>) -> Diagnostic {
    use chumsky::error::{RichPattern, RichReason};
    let span = *e.span();
    let mut expected: Vec<String> = e
        .expected()
        .filter_map(|p| match p {
            RichPattern::Token(t) => Some(t.to_string()),
            RichPattern::Label(l) => Some(l.to_string()),
            RichPattern::Identifier(i) => Some(format!("`{i}`")),
            RichPattern::EndOfInput => Some("end of input".to_string()),
            _ => None,
        })
        .collect();
    expected.sort();
    expected.dedup();
    // A long list of operators that could continue an expression says little: name them
    // together.
    const CONTINUATIONS: &[&str] = &[
        "`!=`",
        "`%`",
        "`&`",
        "`*`",
        "`+`",
        "`-`",
        "`.`",
        "`/`",
        "`<<`",
        "`<=`",
        "`<`",
        "`==`",
        "`>=`",
        "`>>`",
        "`>`",
        "`[`",
        "`^`",
        "`and`",
        "`as`",
        "`if`",
        "`or`",
        "`|`",
        "arguments",
    ];
    let ops = expected
        .iter()
        .filter(|e| CONTINUATIONS.contains(&e.as_str()))
        .count();
    if ops >= 5 {
        expected.retain(|e| !CONTINUATIONS.contains(&e.as_str()));
        expected.push("an operator".into());
    }
    let message = match e.reason() {
        RichReason::Custom(m) => return Diagnostic::error(Code::Syntax, span, m.clone()),
        RichReason::ExpectedFound { found, .. } => match found {
            Some(t) => format!("unexpected {}", &**t),
            None => "unexpected end of input".to_string(),
        },
    };
    Diagnostic::error(Code::Syntax, span, message).expected(expected)
}

fn ident<'t, 's: 't, I>() -> impl Parser<'t, I, Ident, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Tok<'s>, Span = Span>,
{
    select! { Tok::Ident(s) => s }
        .map_with(|s: &str, e| Ident {
            name: s.to_string(),
            span: e.span(),
        })
        .labelled("a name")
}

/// `a.b.c`
fn path<'t, 's: 't, I>() -> impl Parser<'t, I, Vec<Ident>, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Tok<'s>, Span = Span>,
{
    ident()
        .separated_by(just(Tok::Dot))
        .at_least(1)
        .collect::<Vec<_>>()
}

fn type_expr<'t, 's: 't, I>() -> impl Parser<'t, I, TypeExpr, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Tok<'s>, Span = Span>,
{
    recursive(|ty| {
        path()
            .map(TypeExpr::Name)
            .or(ty
                .delimited_by(just(Tok::LBracket), just(Tok::RBracket))
                .map_with(|t, e| TypeExpr::Array(Box::new(t), e.span())))
            .labelled("a type")
    })
}

/// The value of an integer literal: decimal, `0x`, `0o` or `0b`, with `_` separators.
pub fn parse_int(s: &str) -> Result<u64, String> {
    let t: String = s.chars().filter(|c| *c != '_').collect();
    let (digits, radix) = if let Some(h) = t.strip_prefix("0x").or(t.strip_prefix("0X")) {
        (h, 16)
    } else if let Some(b) = t.strip_prefix("0b").or(t.strip_prefix("0B")) {
        (b, 2)
    } else if let Some(o) = t.strip_prefix("0o").or(t.strip_prefix("0O")) {
        (o, 8)
    } else {
        (t.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(format!("`{s}` is not a number"));
    }
    u64::from_str_radix(digits, radix)
        .map_err(|_| format!("the literal `{s}` does not fit in 64 bits"))
}

/// The bytes of a string or character literal's body (quotes stripped).
pub fn unescape(body: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let b = match chars.next() {
            Some('n') => b'\n',
            Some('t') => b'\t',
            Some('r') => b'\r',
            Some('0') => 0,
            Some('\\') => b'\\',
            Some('"') => b'"',
            Some('\'') => b'\'',
            Some('x') => {
                let h: String = chars.by_ref().take(2).collect();
                match u8::from_str_radix(&h, 16) {
                    Ok(v) if h.len() == 2 => v,
                    _ => {
                        return Err(format!(
                            "`\\x{h}` is not an escape: write `\\x` and two hex digits"
                        ))
                    }
                }
            }
            Some(o) => {
                return Err(format!(
                    "`\\{o}` is not an escape (use \\n \\t \\r \\0 \\\\ \\\" \\' or \\xHH)"
                ))
            }
            None => return Err("a lone `\\` at the end of the literal".into()),
        };
        out.push(b);
    }
    Ok(out)
}

type BoxedP<'t, 's, I, O> = Boxed<'t, 't, I, O, Ex<'t, 's>>;

fn expr<'t, 's: 't, I>() -> BoxedP<'t, 's, I, Expr>
where
    I: ValueInput<'t, Token = Tok<'s>, Span = Span>,
{
    expr_parsers().0
}

/// The full expression parser, and the one for the operands of `|` (shifts and tighter),
/// which `case` patterns use so that `|` can separate them.
fn expr_parsers<'t, 's: 't, I>() -> (BoxedP<'t, 's, I, Expr>, BoxedP<'t, 's, I, Expr>)
where
    I: ValueInput<'t, Token = Tok<'s>, Span = Span>,
{
    // Only `recursive` (whose inner references are weak) builds the cycles: parsers made
    // with `Recursive::declare` would keep themselves alive and leak on every parse.
    let mut shift_out: Option<BoxedP<'t, 's, I, Expr>> = None;
    let expr = recursive(|expr| {
        let int = select! { Tok::Int(s) => s }.validate(|s: &str, e, emitter| {
            let v = parse_int(s).unwrap_or_else(|m| {
                emitter.emit(Rich::custom(e.span(), m));
                0
            });
            Expr::new(ExprKind::Int(v), e.span())
        });
        let chr = select! { Tok::Char(s) => s }.validate(|s: &str, e, emitter| {
            let body = &s[1..s.len() - 1];
            let v = match unescape(body) {
                Ok(b) if b.len() == 1 => u64::from(b[0]),
                Ok(_) => {
                    emitter.emit(Rich::custom(
                        e.span(),
                        "a character literal holds one byte (an ASCII character or an escape)",
                    ));
                    0
                }
                Err(m) => {
                    emitter.emit(Rich::custom(e.span(), m));
                    0
                }
            };
            Expr::new(ExprKind::Int(v), e.span())
        });
        let string = select! { Tok::Str(s) => s }.validate(|s: &str, e, emitter| {
            let bytes = unescape(&s[1..s.len() - 1]).unwrap_or_else(|m| {
                emitter.emit(Rich::custom(e.span(), m));
                Vec::new()
            });
            Expr::new(ExprKind::Str(bytes), e.span())
        });
        let boolean = select! { Tok::True => true, Tok::False => false }
            .map_with(|b, e| Expr::new(ExprKind::Bool(b), e.span()));

        let items = expr
            .clone()
            .separated_by(just(Tok::Comma))
            .allow_trailing()
            .collect::<Vec<_>>();
        let args = items
            .clone()
            .delimited_by(just(Tok::LParen), just(Tok::RParen))
            .labelled("arguments");

        let path_expr = path().map(|p: Vec<Ident>| {
            let mut it = p.into_iter();
            let first = it.next().expect("a path has a name");
            let mut e = Expr::new(ExprKind::Name(first.name), first.span);
            for f in it {
                let sp = crate::join(e.span, f.span);
                e = Expr::new(ExprKind::Field(Box::new(e), f), sp);
            }
            e
        });

        let spawn = just(Tok::Spawn)
            .ignore_then(path_expr.clone())
            .then(args.clone().or_not())
            .map_with(|(callee, args), e| {
                Expr::new(
                    ExprKind::Spawn {
                        callee: Box::new(callee),
                        args,
                    },
                    e.span(),
                )
            });

        let new = just(Tok::New)
            .ignore_then(
                path().map(TypeExpr::Name).or(type_expr()
                    .delimited_by(just(Tok::LBracket), just(Tok::RBracket))
                    .map_with(|t, e| TypeExpr::Array(Box::new(t), e.span()))),
            )
            .then(
                expr.clone()
                    .delimited_by(just(Tok::LBracket), just(Tok::RBracket)),
            )
            .map_with(|(elem, count), e| {
                Expr::new(
                    ExprKind::New {
                        elem,
                        count: Box::new(count),
                    },
                    e.span(),
                )
            });

        let field_init = ident()
            .then_ignore(just(Tok::Colon))
            .or_not()
            .then(expr.clone());
        let record = path()
            .then(
                field_init
                    .separated_by(just(Tok::Comma))
                    .allow_trailing()
                    .collect::<Vec<_>>()
                    .delimited_by(just(Tok::LBrace), just(Tok::RBrace)),
            )
            .map_with(|(name, fields), e| Expr::new(ExprKind::Record { name, fields }, e.span()));

        let paren = items
            .clone()
            .then(just(Tok::Comma).or_not())
            .delimited_by(just(Tok::LParen), just(Tok::RParen))
            .map_with(|(mut items, _), e| {
                if items.len() == 1 {
                    let inner = items.pop().expect("one item");
                    Expr::new(ExprKind::Paren(Box::new(inner)), e.span())
                } else {
                    Expr::new(ExprKind::Tuple(items), e.span())
                }
            });
        let array = items
            .clone()
            .delimited_by(just(Tok::LBracket), just(Tok::RBracket))
            .map_with(|items, e| Expr::new(ExprKind::Array(items), e.span()));

        let index = expr
            .clone()
            .or_not()
            .then(just(Tok::Colon).ignore_then(expr.clone().or_not()).or_not())
            .delimited_by(just(Tok::LBracket), just(Tok::RBracket))
            .validate(|(lo, hi), e, emitter| match (lo, hi) {
                (Some(i), None) => Post::Index(i),
                (lo, Some(hi)) => Post::Slice(lo, hi),
                (None, None) => {
                    emitter.emit(Rich::custom(e.span(), "an index is missing"));
                    Post::Index(Expr::new(ExprKind::Error, e.span()))
                }
            });
        let post_ops = choice((
            just(Tok::Dot).ignore_then(ident()).map(Post::Field),
            index,
            args.clone().map(Post::Call),
        ))
        .repeated();
        let prefix = choice((
            just(Tok::Minus).to(UnOp::Neg),
            just(Tok::Tilde).to(UnOp::BitNot),
        ));
        let atom = recursive(|atom| {
            // A sandbox call's fallback: a unary expression (prefix operators on an atom
            // with its postfix operations).
            let fallback = recursive(|u| {
                prefix
                    .then(u)
                    .map_with(|(op, x), e| Expr::new(ExprKind::Unary(op, Box::new(x)), e.span()))
                    .or(atom.clone().foldl_with(post_ops.clone(), apply_post))
            });
            let sandbox = path_expr
                .clone()
                .then(
                    expr.clone()
                        .or_not()
                        .then(just(Tok::Comma).ignore_then(expr.clone().or_not()).or_not())
                        .delimited_by(just(Tok::SbOpen), just(Tok::SbClose)),
                )
                .then(args.clone())
                .then(just(Tok::Else).ignore_then(fallback).or_not())
                .map_with(|(((callee, (gas, mem)), args), fallback), e| {
                    Expr::new(
                        ExprKind::Sandbox {
                            callee: Box::new(callee),
                            gas: gas.map(Box::new),
                            mem: mem.flatten().map(Box::new),
                            args,
                            fallback: fallback.map(Box::new),
                        },
                        e.span(),
                    )
                });

            choice((
                int, chr, string, boolean, new, spawn, sandbox, record, path_expr, paren, array,
            ))
            .labelled("an expression")
            .boxed()
        });
        let postfix = atom.foldl_with(post_ops, apply_post);

        let unary = recursive(|unary| {
            prefix
                .then(unary)
                .map_with(|(op, x), e| Expr::new(ExprKind::Unary(op, Box::new(x)), e.span()))
                .or(postfix)
        });

        let cast = unary.clone().foldl_with(
            just(Tok::As).ignore_then(type_expr()).repeated(),
            |x, t, e| Expr::new(ExprKind::Cast(Box::new(x), t), e.span()),
        );

        let bin = |ops: Vec<(Tok<'s>, BinOp)>| {
            choice(
                ops.into_iter()
                    .map(|(t, op)| just(t).to(op))
                    .collect::<Vec<_>>(),
            )
        };
        let fold = |x: Expr,
                    (op, y): (BinOp, Expr),
                    e: &mut chumsky::input::MapExtra<'t, '_, I, Ex<'t, 's>>| {
            Expr::new(ExprKind::Binary(op, Box::new(x), Box::new(y)), e.span())
        };
        let term = cast.clone().foldl_with(
            bin(vec![
                (Tok::Star, BinOp::Mul),
                (Tok::Slash, BinOp::Div),
                (Tok::Percent, BinOp::Rem),
            ])
            .then(cast)
            .repeated(),
            fold,
        );
        let arith = term.clone().foldl_with(
            bin(vec![(Tok::Plus, BinOp::Add), (Tok::Minus, BinOp::Sub)])
                .then(term)
                .repeated(),
            fold,
        );
        let shift = arith
            .clone()
            .foldl_with(
                bin(vec![(Tok::Shl, BinOp::Shl), (Tok::Shr, BinOp::Shr)])
                    .then(arith)
                    .repeated(),
                fold,
            )
            .boxed();
        shift_out = Some(shift.clone());
        let band = shift.clone().foldl_with(
            bin(vec![(Tok::Amp, BinOp::And)])
                .then(shift.clone())
                .repeated(),
            fold,
        );
        let bxor = band.clone().foldl_with(
            bin(vec![(Tok::Caret, BinOp::Xor)]).then(band).repeated(),
            fold,
        );
        let bor = bxor.clone().foldl_with(
            bin(vec![(Tok::Pipe, BinOp::Or)]).then(bxor).repeated(),
            fold,
        );
        let cmp_op = choice((
            just(Tok::EqEq).to(CmpOp::Eq),
            just(Tok::Ne).to(CmpOp::Ne),
            just(Tok::Lt).to(CmpOp::Lt),
            just(Tok::Le).to(CmpOp::Le),
            just(Tok::Gt).to(CmpOp::Gt),
            just(Tok::Ge).to(CmpOp::Ge),
        ));
        let comparison = bor
            .clone()
            .then(cmp_op.then(bor).or_not())
            .map_with(|(a, rest), e| match rest {
                None => a,
                Some((op, b)) => {
                    Expr::new(ExprKind::Compare(op, Box::new(a), Box::new(b)), e.span())
                }
            })
            .boxed();
        let not = recursive(|not| {
            just(Tok::Not)
                .ignore_then(not)
                .map_with(|x, e| Expr::new(ExprKind::Not(Box::new(x)), e.span()))
                .or(comparison)
        });
        let and = not
            .clone()
            .foldl_with(just(Tok::And).ignore_then(not).repeated(), |a, b, e| {
                Expr::new(ExprKind::And(Box::new(a), Box::new(b)), e.span())
            });
        let or = and
            .clone()
            .foldl_with(just(Tok::Or).ignore_then(and).repeated(), |a, b, e| {
                Expr::new(ExprKind::Or(Box::new(a), Box::new(b)), e.span())
            });
        or.clone()
            .then(
                just(Tok::If)
                    .ignore_then(or)
                    .then_ignore(just(Tok::Else))
                    .then(expr.clone())
                    .or_not(),
            )
            .map_with(|(then, rest), e| match rest {
                None => then,
                Some((cond, els)) => Expr::new(
                    ExprKind::Cond {
                        cond: Box::new(cond),
                        then: Box::new(then),
                        els: Box::new(els),
                    },
                    e.span(),
                ),
            })
            .labelled("an expression")
    });
    let shift = shift_out.expect("the expression parser defines the shift level");
    (expr.boxed(), shift)
}

enum Post {
    Field(Ident),
    Index(Expr),
    Slice(Option<Expr>, Option<Expr>),
    Call(Vec<Expr>),
}

/// Applies a postfix operation (field, index, slice, call) to `base`.
fn apply_post<'t, 's: 't, I>(
    base: Expr,
    post: Post,
    e: &mut chumsky::input::MapExtra<'t, '_, I, Ex<'t, 's>>,
) -> Expr
where
    I: ValueInput<'t, Token = Tok<'s>, Span = Span>,
{
    let kind = match post {
        Post::Field(f) => ExprKind::Field(Box::new(base), f),
        Post::Index(i) => ExprKind::Index(Box::new(base), Box::new(i)),
        Post::Slice(lo, hi) => ExprKind::Slice(Box::new(base), lo.map(Box::new), hi.map(Box::new)),
        Post::Call(args) => ExprKind::Call {
            callee: Box::new(base),
            args,
        },
    };
    Expr::new(kind, e.span())
}

/// The expressions a `case` matches: constants at the precedence of shifts, so that `|`
/// separates alternatives. `shift` must come from the same [`expr_parsers`] call as the
/// expression parser used beside it (it refers to it weakly).
fn pattern<'t, 's: 't, I>(
    shift: BoxedP<'t, 's, I, Expr>,
) -> impl Parser<'t, I, Option<Expr>, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Tok<'s>, Span = Span>,
{
    select! { Tok::Ident("_") => () }
        .to(None)
        .or(shift.map(Some))
        .labelled("a pattern")
}

/// Skips the rest of a line (and the indented block it opens, if any).
fn skip_line<'t, 's: 't, I>() -> impl Parser<'t, I, (), Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Tok<'s>, Span = Span>,
{
    let block = nested_delimiters(Tok::Indent, Tok::Dedent, [], |_| ());
    none_of([Tok::Newline, Tok::Indent, Tok::Dedent])
        .repeated()
        .then(just(Tok::Newline))
        .then(block.or_not())
        .ignored()
        .or(nested_delimiters(Tok::Indent, Tok::Dedent, [], |_| ()))
}

fn stmts<'t, 's: 't, I>() -> impl Parser<'t, I, Vec<Stmt>, Ex<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Tok<'s>, Span = Span>,
{
    recursive(
        |block: Recursive<dyn Parser<'t, I, Vec<Stmt>, Ex<'t, 's>>>| {
            let (e, shift) = expr_parsers();
            let exprs = e
                .clone()
                .separated_by(just(Tok::Comma))
                .at_least(1)
                .collect::<Vec<_>>();
            let tuple_of = |mut v: Vec<Expr>| {
                if v.len() == 1 {
                    v.pop().expect("one")
                } else {
                    let sp = crate::join(v[0].span, v[v.len() - 1].span);
                    Expr::new(ExprKind::Tuple(v), sp)
                }
            };
            let aug = choice((
                just(Tok::PlusEq).to(BinOp::Add),
                just(Tok::MinusEq).to(BinOp::Sub),
                just(Tok::StarEq).to(BinOp::Mul),
                just(Tok::SlashEq).to(BinOp::Div),
                just(Tok::PercentEq).to(BinOp::Rem),
                just(Tok::AmpEq).to(BinOp::And),
                just(Tok::PipeEq).to(BinOp::Or),
                just(Tok::CaretEq).to(BinOp::Xor),
                just(Tok::ShlEq).to(BinOp::Shl),
                just(Tok::ShrEq).to(BinOp::Shr),
            ));
            let decl = ident()
                .then_ignore(just(Tok::Colon))
                .then(type_expr())
                .then_ignore(just(Tok::Assign))
                .then(e.clone())
                .map(|((name, ty), value)| StmtKind::Decl { name, ty, value });
            enum Rest {
                Assign(Vec<Expr>),
                Aug(BinOp, Expr),
            }
            let assign_or_expr = exprs
                .clone()
                .then(
                    just(Tok::Assign)
                        .ignore_then(exprs.clone())
                        .map(Rest::Assign)
                        .or(aug.then(e.clone()).map(|(op, v)| Rest::Aug(op, v)))
                        .or_not(),
                )
                .validate(move |(lhs, rest), ex, emitter| match rest {
                    None => {
                        if lhs.len() > 1 {
                            emitter.emit(Rich::custom(
                                ex.span(),
                                "a tuple on its own is not a statement (expected `=`)",
                            ));
                        }
                        StmtKind::Expr(tuple_of(lhs))
                    }
                    Some(Rest::Assign(rhs)) => StmtKind::Assign {
                        targets: lhs,
                        value: tuple_of(rhs),
                    },
                    Some(Rest::Aug(op, value)) => {
                        if lhs.len() > 1 {
                            emitter.emit(Rich::custom(
                                ex.span(),
                                "an augmented assignment has one target",
                            ));
                        }
                        StmtKind::AugAssign {
                            target: tuple_of(lhs),
                            op,
                            value,
                        }
                    }
                });
            let simple = choice((
                just(Tok::Pass).to(StmtKind::Pass),
                just(Tok::Break).to(StmtKind::Break),
                just(Tok::Continue).to(StmtKind::Continue),
                just(Tok::Return)
                    .ignore_then(exprs.clone().or_not())
                    .map(|v| StmtKind::Return(v.unwrap_or_default())),
                just(Tok::Yield)
                    .ignore_then(exprs.clone().or_not())
                    .map(|v| StmtKind::Yield(v.unwrap_or_default())),
                just(Tok::Assert)
                    .ignore_then(e.clone())
                    .map(StmtKind::Assert),
                decl,
                assign_or_expr,
            ))
            .map_with(|kind, ex| Stmt {
                kind,
                span: ex.span(),
            })
            .labelled("a statement");

            let suite = just(Tok::Newline)
                .ignore_then(
                    block
                        .clone()
                        .delimited_by(just(Tok::Indent), just(Tok::Dedent)),
                )
                .or(simple
                    .clone()
                    .then_ignore(just(Tok::Newline))
                    .map(|s| vec![s]))
                .labelled("an indented block");

            let if_stmt = just(Tok::If)
                .ignore_then(e.clone())
                .then_ignore(just(Tok::Colon))
                .then(suite.clone())
                .then(
                    just(Tok::Elif)
                        .ignore_then(e.clone())
                        .then_ignore(just(Tok::Colon))
                        .then(suite.clone())
                        .repeated()
                        .collect::<Vec<_>>(),
                )
                .then(
                    just(Tok::Else)
                        .ignore_then(just(Tok::Colon))
                        .ignore_then(suite.clone())
                        .or_not(),
                )
                .map(|(((c, b), elifs), els)| {
                    let mut arms = vec![(c, b)];
                    arms.extend(elifs);
                    StmtKind::If { arms, els }
                });
            let while_stmt = just(Tok::While)
                .ignore_then(e.clone())
                .then_ignore(just(Tok::Colon))
                .then(suite.clone())
                .map(|(cond, body)| StmtKind::While { cond, body });
            let for_stmt = just(Tok::For)
                .ignore_then(ident())
                .then_ignore(just(Tok::In))
                .then(e.clone())
                .then_ignore(just(Tok::Colon))
                .then(suite.clone())
                .map(|((var, iter), body)| StmtKind::For { var, iter, body });
            let case = just(Tok::Case)
                .ignore_then(
                    pattern(shift)
                        .separated_by(just(Tok::Pipe))
                        .at_least(1)
                        .collect::<Vec<_>>(),
                )
                .then_ignore(just(Tok::Colon))
                .then(suite.clone())
                .map_with(|(pats, body), ex| Case {
                    patterns: pats.into_iter().flatten().collect(),
                    body,
                    span: ex.span(),
                });
            let match_stmt = just(Tok::Match)
                .ignore_then(e.clone())
                .then_ignore(just(Tok::Colon))
                .then_ignore(just(Tok::Newline))
                .then(
                    case.repeated()
                        .at_least(1)
                        .collect::<Vec<_>>()
                        .delimited_by(just(Tok::Indent), just(Tok::Dedent)),
                )
                .map(|(scrutinee, cases)| StmtKind::Match { scrutinee, cases });

            let compound =
                choice((if_stmt, while_stmt, for_stmt, match_stmt)).map_with(|kind, ex| Stmt {
                    kind,
                    span: ex.span(),
                });
            let stmt = compound
                .or(simple.then_ignore(just(Tok::Newline)))
                .recover_with(via_parser(skip_line().map_with(|_, ex| Stmt {
                    kind: StmtKind::Error,
                    span: ex.span(),
                })));
            stmt.repeated().at_least(1).collect::<Vec<_>>()
        },
    )
}

fn file_parser<'t, 's: 't, I>() -> impl Parser<'t, I, File, Ex<'t, 's>>
where
    I: ValueInput<'t, Token = Tok<'s>, Span = Span>,
{
    let body = just(Tok::Newline)
        .ignore_then(stmts().delimited_by(just(Tok::Indent), just(Tok::Dedent)))
        .or(stmts())
        .labelled("an indented block");
    let param = ident()
        .then(just(Tok::Colon).ignore_then(type_expr()).or_not())
        .map(|(name, ty)| Param { name, ty });
    let ret = just(Tok::Arrow).ignore_then(
        type_expr()
            .separated_by(just(Tok::Comma))
            .collect::<Vec<_>>()
            .delimited_by(just(Tok::LParen), just(Tok::RParen))
            .or(type_expr().map(|t| vec![t])),
    );
    let def = just(Tok::Def)
        .ignore_then(ident())
        .then(
            param
                .separated_by(just(Tok::Comma))
                .allow_trailing()
                .collect::<Vec<_>>()
                .delimited_by(just(Tok::LParen), just(Tok::RParen)),
        )
        .then(ret.or_not())
        .then_ignore(just(Tok::Colon))
        .map_with(|x, e| (x, e.span()))
        .then(body)
        .map(|((((name, params), ret), span), body)| {
            Item::Def(FuncDef {
                name,
                params,
                ret,
                body,
                span,
            })
        });
    let import = just(Tok::Import)
        .ignore_then(path())
        .then(just(Tok::As).ignore_then(ident()).or_not())
        .then_ignore(just(Tok::Newline))
        .map(|(path, alias)| Item::Import { path, alias });
    let from = just(Tok::From)
        .ignore_then(path())
        .then_ignore(just(Tok::Import))
        .then(
            ident()
                .then(just(Tok::As).ignore_then(ident()).or_not())
                .separated_by(just(Tok::Comma))
                .at_least(1)
                .collect::<Vec<_>>(),
        )
        .then_ignore(just(Tok::Newline))
        .map(|(path, names)| Item::FromImport { path, names });
    let typ = just(Tok::Typ)
        .ignore_then(ident())
        .then(
            type_expr()
                .then(ident())
                .separated_by(just(Tok::Comma))
                .allow_trailing()
                .collect::<Vec<_>>()
                .delimited_by(just(Tok::LBrace), just(Tok::RBrace)),
        )
        .then_ignore(just(Tok::Newline))
        .map(|(name, fields)| Item::Typ { name, fields });
    let grant = just(Tok::Grant)
        .ignore_then(ident())
        .then_ignore(just(Tok::Colon))
        .then(ident())
        .then_ignore(just(Tok::Newline))
        .map_with(|(name, kind), e| Item::Grant {
            name,
            kind,
            span: e.span(),
        });
    let constant = ident()
        .then(just(Tok::Colon).ignore_then(type_expr()).or_not())
        .then_ignore(just(Tok::Assign))
        .then(expr())
        .then_ignore(just(Tok::Newline))
        .map(|((name, ty), value)| Item::Const { name, ty, value });
    let item = choice((def, import, from, typ, grant, constant))
        .labelled("a definition (`def`, `import`, `from`, `typ`, `grant` or `NAME = …`)")
        .recover_with(via_parser(skip_line().to(Item::Error)));
    item.repeated()
        .collect::<Vec<_>>()
        .then_ignore(end())
        .map(|items| File { items })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> (File, Vec<Diagnostic>) {
        let mut d = Vec::new();
        let toks = crate::lexer::tokenize(src, 0, &mut d);
        let f = parse_file(&toks, 0, src.len(), &mut d);
        (f, d)
    }

    #[test]
    fn parses_the_showcase() {
        let (f, d) = parse(
            "# f\ndef f(x):\n    return x + 1\n\ndef main(x):\n    return f<50, 50>(x) else 0\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(f.items.len(), 2);
    }

    #[test]
    fn recovers_and_reports_every_bad_line() {
        let (f, d) =
            parse("def f(x):\n    y = = 1\n    return x +\n\ndef g():\n    return (1\nh = 3\n");
        assert!(d.len() >= 3, "{d:?}");
        assert!(f
            .items
            .iter()
            .any(|i| matches!(i, Item::Def(d) if d.name.name == "f")));
    }

    #[test]
    fn literals() {
        assert_eq!(parse_int("0x_ff"), Ok(255));
        assert_eq!(parse_int("1_000"), Ok(1000));
        assert!(parse_int("18446744073709551616").is_err());
        assert_eq!(unescape(r"a\n\x41"), Ok(b"a\nA".to_vec()));
        assert!(unescape(r"\q").is_err());
    }
}
