//! Every kind of diagnostic, with its position, the source line, and what was expected.

use rarvm_lang::Code;

use crate::common::*;

/// The codes and `line:col` of a program's diagnostics.
fn codes(src: &str) -> Vec<(Code, u32, u32)> {
    errors(src)
        .located()
        .iter()
        .map(|l| (l.code, l.line, l.col))
        .collect()
}

#[test]
fn a_type_error_names_its_place_and_what_was_expected() {
    let d = errors("def main():\n    x: i64 = 1\n    y: u64 = x\n    return y\n");
    let l = &d.located()[0];
    assert_eq!(
        (l.code, l.file.as_str(), l.line, l.col),
        (Code::Type, "test.et", 3, 14)
    );
    assert_eq!(l.expected, ["u64"]);
    let text = d.render(false);
    assert!(text.contains("test.et:3:14"), "{text}");
    assert!(
        text.contains("    y: u64 = x"),
        "the source line is shown:\n{text}"
    );
    assert!(text.contains('┬'), "the span is underlined:\n{text}");
    assert!(text.contains("as u64"), "a hint:\n{text}");
}

#[test]
fn unknown_names_with_a_hint() {
    let d = errors("def main():\n    count = 1\n    return cuont + 1\n");
    let l = &d.located()[0];
    assert_eq!((l.code, l.line, l.col), (Code::UnknownName, 3, 12));
    assert!(l.notes.iter().any(|n| n.contains("count")), "{:?}", l.notes);
    assert_eq!(
        codes("def main():\n    return nope(1)\n")[0].0,
        Code::UnknownName
    );
    assert_eq!(
        codes("def main():\n    x: Vec = 1\n")[0].0,
        Code::UnknownName
    );
}

#[test]
fn wrong_arity_of_calls_builtins_unpacking_and_records() {
    let f = "def f(a, b):\n    return a + b\n";
    assert_eq!(
        codes(&format!("{f}def main():\n    return f(1)\n")),
        [(Code::Arity, 4, 12)]
    );
    assert_eq!(codes("def main():\n    return len()\n")[0].0, Code::Arity);
    assert_eq!(
        codes("def g() -> (u64, u64):\n    return 1, 2\ndef main():\n    a, b, c = g()\n    return a\n")[0].0,
        Code::Arity
    );
    assert_eq!(
        codes("typ P {u64 x, u64 y}\ndef main():\n    p = P{1}\n    return p.x\n")[0].0,
        Code::Arity
    );
}

#[test]
fn a_missing_return() {
    let d = errors("def f(x):\n    if x > 1:\n        return x\n\ndef main(x):\n    return f(x)\n");
    let l = &d.located()[0];
    assert_eq!((l.code, l.line, l.col), (Code::MissingReturn, 1, 5));
    // Every path returning, or a loop that never ends, is fine.
    compile_src("def f(x):\n    if x > 1:\n        return x\n    else:\n        return 0\n\ndef main(x):\n    return f(x)\n");
    compile_src(
        "def f(x) -> u64:\n    while True:\n        x += 1\n\ndef main(x):\n    return f(x)\n",
    );
}

#[test]
fn assigning_to_constants_grants_functions_and_loop_variables() {
    assert_eq!(
        codes("N = 3\ndef main():\n    N = 4\n    return N\n"),
        [(Code::AssignToConstant, 3, 5)]
    );
    assert_eq!(
        codes("grant c: console\ndef main():\n    c = 1\n")[0].0,
        Code::AssignToConstant
    );
    assert_eq!(
        codes("def f():\n    pass\ndef main():\n    f = 1\n")[0].0,
        Code::AssignToConstant
    );
    assert_eq!(
        codes("def main():\n    for i in range(3):\n        i += 1\n")[0].0,
        Code::AssignToConstant
    );
    assert_eq!(
        codes("import std.keys\ndef main():\n    keys.READ = 2\n")[0].0,
        Code::AssignToConstant
    );
}

#[test]
fn syntax_errors_are_all_reported_with_what_was_expected() {
    let src = "def main(:\n    return 1\n\ndef f(x):\n    y = = 2\n    return x +\n\ndef g():\n    while:\n        pass\n";
    let d = errors(src);
    let ls = d.located();
    assert!(ls.len() >= 3, "{}", d.render(false));
    assert!(ls.iter().all(|l| l.code == Code::Syntax));
    let lines: Vec<u32> = ls.iter().map(|l| l.line).collect();
    for line in [1, 5, 6, 9] {
        assert!(
            lines.contains(&line),
            "line {line} in {lines:?}\n{}",
            d.render(false)
        );
    }
    assert!(ls.iter().all(|l| !l.expected.is_empty()), "{ls:?}");
}

#[test]
fn lexical_and_layout_errors() {
    for src in [
        "def main():\n    return 1 $ 2\n",
        "def main():\n\treturn 1\n",
        "def main():\n        x = 1\n    return x\n",
        "def main():\n    return \"open\n",
        "def main():\n    return 99999999999999999999\n",
        "def main():\n    return \"\\q\"\n",
        "def main():\n    x = f(1,\n    return 2\n",
    ] {
        assert!(
            codes(src).iter().any(|c| c.0 == Code::Syntax),
            "{src:?}: {:?}",
            codes(src)
        );
    }
}

#[test]
fn type_errors_of_every_kind_are_reported_together() {
    let src = "def main():\n    a = 1 + True\n    b: bool = 3\n    c = \"s\" < \"t\"\n    if 1:\n        pass\n    return a\n";
    let ls = errors(src).located();
    assert!(ls.len() >= 4, "{ls:?}");
    assert!(ls.iter().all(|l| l.code == Code::Type), "{ls:?}");
}

#[test]
fn constants_that_do_not_fit_or_divide_by_zero() {
    assert_eq!(
        codes("def main():\n    x: u64 = -1\n    return x\n")[0].0,
        Code::Constant
    );
    assert_eq!(
        codes("X = 1 / 0\ndef main():\n    return X\n")[0].0,
        Code::Constant
    );
    assert_eq!(
        codes("def main(x):\n    return x % 0\n")[0].0,
        Code::Constant
    );
    assert_eq!(
        codes("A = B\nB = A\ndef main():\n    return A\n")[0].0,
        Code::Constant
    );
    assert_eq!(
        codes("def main():\n    return \"abc\"[5]\n")[0].0,
        Code::Constant
    );
}

#[test]
fn misplaced_constructs() {
    assert_eq!(codes("def main():\n    break\n")[0].0, Code::Misplaced);
    assert_eq!(
        codes("def f(a: [key]):\n    pass\ndef main():\n    f<9>(new key[1])\n")[0].0,
        Code::Misplaced
    );
    assert_eq!(
        codes("def f() -> [u8]:\n    return \"x\"\ndef main():\n    x = f<9>() else \"y\"\n")[0].0,
        Code::Misplaced
    );
}

#[test]
fn duplicates() {
    assert_eq!(
        codes("def f():\n    pass\ndef f():\n    pass\ndef main():\n    f()\n")[0].0,
        Code::Duplicate
    );
    assert_eq!(
        codes("def f(a, a):\n    pass\ndef main():\n    f(1, 2)\n")[0].0,
        Code::Duplicate
    );
    assert_eq!(
        codes("typ P {u64 x, u64 x}\ndef main():\n    pass\n")[0].0,
        Code::Duplicate
    );
}

#[test]
fn imports_that_cannot_be_found() {
    assert_eq!(
        codes("import std.nothing\ndef main():\n    pass\n")[0].0,
        Code::Import
    );
    assert_eq!(
        codes("import missing\ndef main():\n    pass\n")[0].0,
        Code::Import
    );
    assert_eq!(
        codes("from std.keys import NOPE\ndef main():\n    pass\n")[0].0,
        Code::UnknownName
    );
}

#[test]
fn no_main_and_limits() {
    assert_eq!(codes("def f():\n    pass\n")[0].0, Code::UnknownName);
    let deep = format!(
        "def main():\n    return {}1{}\n",
        "(".repeat(1000),
        ")".repeat(1000)
    );
    assert_eq!(codes(&deep)[0].0, Code::Limit);
    let mut nested = String::from("def main():\n");
    for d in 0..300 {
        nested.push_str(&" ".repeat(4 * (d + 1)));
        nested.push_str("if True:\n");
    }
    nested.push_str(&" ".repeat(4 * 301));
    nested.push_str("pass\n");
    assert_eq!(codes(&nested)[0].0, Code::Limit);
}

#[test]
fn positions_count_characters_not_bytes() {
    let d = errors("def main():\n    s = \"héllo\" + nope\n");
    let l = &d.located()[0];
    assert_eq!((l.line, l.col), (2, 19));
    assert!(d.render(false).contains("héllo"));
}

#[test]
fn deep_and_huge_inputs_are_limits_not_crashes() {
    let long_sum = format!("def main():\n    return {}1\n", "1 + ".repeat(5000));
    assert_eq!(codes(&long_sum)[0].0, Code::Limit);
    let minus = format!(
        "def main():\n    x: i64 = {}1\n    return x\n",
        "- ".repeat(5000)
    );
    assert_eq!(codes(&minus)[0].0, Code::Limit);
    let nots = format!("def main():\n    return {}True\n", "not ".repeat(300));
    assert_eq!(codes(&nots)[0].0, Code::Limit);
    // Just within the limits, it compiles.
    let ok = format!("def main():\n    return {}1\n", "1 + ".repeat(200));
    assert_eq!(results(&ok, &[]), vec![201]);
    let mut nested = String::from("def main(x):\n");
    for d in 0..150 {
        nested.push_str(&" ".repeat(4 * (d + 1)));
        nested.push_str("if x > 0:\n");
    }
    nested.push_str(&" ".repeat(4 * 151));
    nested.push_str("return 7\n    return 1\n");
    assert_eq!(results(&nested, &[1]), vec![7]);
}

#[test]
fn the_deepest_program_within_the_limits_compiles_in_a_small_stack() {
    let mut src = String::from("def main(x):\n");
    let depth = 190;
    for d in 0..depth {
        src.push_str(&" ".repeat(4 * (d + 1)));
        src.push_str("if x > 0:\n");
    }
    src.push_str(&" ".repeat(4 * (depth + 1)));
    src.push_str(&format!(
        "return {}x{}\n",
        "(1 + ".repeat(120),
        ")".repeat(120)
    ));
    src.push_str("    return 1\n");
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || results(&src, &[1]))
        .unwrap();
    assert_eq!(handle.join().unwrap(), vec![121]);
}

#[test]
fn colored_rendering_and_the_one_line_form() {
    let d = errors("def main():\n    return nope\n");
    let colored = d.render(true);
    assert!(colored.contains("\u{1b}["), "ANSI colors");
    assert_eq!(
        d.to_string(),
        "test.et:2:12: error[unknown-name]: unknown name `nope`\n"
    );
}
