//! The language's semantics, run on the interpreter.

use rarvm_runtime::process::{Fault, Status};

use crate::common::*;

#[test]
fn arithmetic_picks_signed_or_unsigned_instructions_by_type() {
    let src = "def main():\n    a: i64 = -7\n    b: i64 = 2\n    u = 18446744073709551609\n    return a / b, a % b, a >> 1, a < b, u / 2, u >> 1, u < 2, (a as u64) == u\n";
    let r = results(src, &[]);
    assert_eq!(
        r,
        vec![
            (-3i64) as u64,
            (-1i64) as u64,
            (-4i64) as u64,
            1,
            u64::MAX / 2 - 3,
            u64::MAX / 2 - 3,
            0,
            1
        ]
    );
    // Wrapping.
    assert_eq!(
        results(
            "def main(x):\n    return x + 1, x * 2, 0 - x\n",
            &[u64::MAX]
        ),
        vec![0, u64::MAX - 1, 1]
    );
    let r = results(
        "def main():\n    m: i64 = -9223372036854775808\n    return m / -1, m % -1, -m\n",
        &[],
    );
    assert_eq!(r, vec![i64::MIN as u64, 0, i64::MIN as u64]);
}

#[test]
fn constants_are_exact_untyped_and_folded() {
    let src = "BIG = 1 << 40\nNEG = -5\nK: i64 = 3\ndef main():\n    x: i64 = NEG * K\n    return BIG + 1, x, (BIG >> 38) % 3, ~0\n";
    assert_eq!(
        results(src, &[]),
        vec![(1 << 40) + 1, (-15i64) as u64, 1, u64::MAX]
    );
    // Folding leaves no arithmetic behind.
    let c = compile_src("def main():\n    return (3 + 4) * 2 - 1\n");
    assert_eq!(c.module.funcs[0].code.len(), 2, "{}", c.rasm());
}

#[test]
fn and_or_short_circuit() {
    let src = "def boom() -> bool:\n    trap()\n    return True\n\ndef main(x):\n    a = x > 5 and boom()\n    b = x < 5 or boom()\n    c = not (x == 0)\n    return a, b, c\n";
    assert_eq!(results(src, &[1]), vec![0, 1, 1]);
    let c = compile_src(src);
    let r = run(&c, &[9]);
    assert_eq!((r.status, r.fault), (Status::Faulted, Fault::Trap));
}

#[test]
fn if_elif_else_and_conditional_expressions() {
    let src = "def sign(x: i64) -> i64:\n    if x < 0:\n        return -1\n    elif x == 0:\n        return 0\n    else:\n        return 1\n\ndef main():\n    a = sign(-5)\n    b = sign(0)\n    c = sign(9)\n    d = 10 if a < 0 else 20\n    return a, b, c, d\n";
    assert_eq!(results(src, &[]), vec![u64::MAX, 0, 1, 10]);
}

#[test]
fn while_break_continue() {
    let src = "def main(n):\n    total = 0\n    i = 0\n    while True:\n        i += 1\n        if i > n:\n            break\n        if i % 2 == 0:\n            continue\n        total += i\n    return total\n";
    assert_eq!(results(src, &[10]), vec![1 + 3 + 5 + 7 + 9]);
}

#[test]
fn for_over_ranges_with_every_kind_of_step() {
    let cases: &[(&str, u64)] = &[
        ("range(5)", 1 + 2 + 3 + 4),
        ("range(2, 5)", 2 + 3 + 4),
        ("range(0, 10, 3)", 3 + 6 + 9),
        ("range(10, 0, -1)", 55),
        ("range(10, 0, -3)", 10 + 7 + 4 + 1),
        ("range(5, 0, -7)", 5),
        ("range(5, 5)", 0),
        ("range(6, 2)", 0),
        ("range(18446744073709551610, 18446744073709551615, 2)", 0),
    ];
    for (r, want) in cases {
        let src =
            format!("def main():\n    t = 0\n    for i in {r}:\n        t += i\n    return t\n");
        let want = if r.starts_with("range(184") {
            18446744073709551610u64
                .wrapping_add(18446744073709551612)
                .wrapping_add(18446744073709551614)
        } else {
            *want
        };
        assert_eq!(results(&src, &[]), vec![want], "{r}");
    }
    // Signed ranges and steps only known when the loop starts.
    let src = "def main(s: i64, step: i64):\n    t: i64 = 0\n    n = 0\n    for i in range(s, -s, step):\n        t += i\n        n += 1\n    return t, n\n";
    assert_eq!(results(src, &[3, (-1i64) as u64]), vec![3, 6]);
    assert_eq!(
        results(src, &[(-3i64) as u64, 1]),
        vec![(-3i64 - 2 - 1 + 1 + 2) as u64, 6]
    );
    assert_eq!(results(src, &[(-3i64) as u64, (-2i64) as u64]), vec![0, 0]);
    assert_eq!(results(src, &[4, (-3i64) as u64]), vec![3, 3]);
    assert_eq!(results(src, &[3, 1]), vec![0, 0]);
    let src = "def main(a: i64, b: i64, step: i64):\n    t: i64 = 0\n    for i in range(a, b, step):\n        t += i\n    return t\n";
    assert_eq!(
        results(src, &[10, (-10i64) as u64, (-4i64) as u64]),
        vec![(10 + 6 + 2 - 2 - 6) as u64]
    );
    let zero = compile_src("def main(s):\n    for i in range(0, 9, s):\n        pass\n");
    assert_eq!(run(&zero, &[0]).fault, Fault::Trap);
}

#[test]
fn arrays_records_slices_and_bounds() {
    let src = "typ P {u64 x, i64 y}\n\ndef main(i):\n    a = new u64[4]\n    for k in range(len(a)):\n        a[k] = k * k\n    ps = new P[3]\n    ps[1] = P{7, -2}\n    ps[2].x = 9\n    p = ps[1]\n    p.x += 1\n    b = [10, 20, 30]\n    s = \"hello\"[1:4]\n    return a[3], p.x, p.y, ps[2].x, b[i], len(s), s[0]\n";
    assert_eq!(
        results(src, &[2]),
        vec![9, 8, (-2i64) as u64, 9, 30, 3, u64::from(b'e')]
    );
    // Out of range: a fault, at the indexing expression.
    let c = compile_src(src);
    let r = run(&c, &[3]);
    assert_eq!((r.status, r.fault), (Status::Faulted, Fault::OutOfBounds));
    assert_eq!(r.position(&c).as_deref(), Some("test.et:14:37 in main"));
    let r = run(
        &compile_src("def main(i):\n    s = \"abc\"\n    t = s[i:2]\n    return len(t)\n"),
        &[3],
    );
    assert_eq!(r.fault, Fault::OutOfBounds);
    let r = run(
        &compile_src("def main(n):\n    a = new u64[n]\n    return len(a)\n"),
        &[u64::MAX / 4],
    );
    assert_eq!(r.fault, Fault::MemoryCap);
}

#[test]
fn for_each_over_arrays_and_bytes() {
    let src = "typ P {u64 x, u64 y}\ndef main():\n    t = 0\n    for c in \"abc\":\n        t += c\n    for p in [P{1, 2}, P{3, 4}]:\n        t += p.x * p.y\n    for w in new u64[0]:\n        t += 1000\n    return t\n";
    assert_eq!(results(src, &[]), vec![(97 + 98 + 99) + 2 + 12]);
}

#[test]
fn several_results_and_tuple_unpacking() {
    let src = "def divmod(a, b) -> (u64, u64):\n    return a / b, a % b\n\ndef main(a, b):\n    q, r = divmod(a, b)\n    x, y = r, q\n    x, y = y, x\n    _, z = divmod(b, 2)\n    return q, r, x, y, z\n";
    assert_eq!(results(src, &[17, 5]), vec![3, 2, 3, 2, 1]);
}

#[test]
fn match_compiles_to_a_switch_or_comparisons() {
    let dense = "def f(x):\n    match x:\n        case 0 | 1:\n            return 10\n        case 2:\n            return 20\n        case 4:\n            return 40\n        case _:\n            return 99\n\ndef main(x):\n    return f(x)\n";
    for (x, want) in [
        (0, 10),
        (1, 10),
        (2, 20),
        (3, 99),
        (4, 40),
        (5, 99),
        (u64::MAX, 99),
    ] {
        assert_eq!(results(dense, &[x]), vec![want]);
    }
    assert!(compile_src(dense).rasm().contains("switch"));
    let sparse = "def main(x: i64):\n    r = 0\n    match x:\n        case -1000000:\n            r = 1\n        case 5000000:\n            r = 2\n    return r\n";
    assert_eq!(results(sparse, &[(-1_000_000i64) as u64]), vec![1]);
    assert_eq!(results(sparse, &[5_000_000]), vec![2]);
    assert_eq!(results(sparse, &[7]), vec![0]);
    assert!(!compile_src(sparse).rasm().contains("switch"));
}

#[test]
fn casts_and_builtins() {
    let src = "def main(x):\n    s = x as i64\n    return min(s, -1) as u64, max(x, 3), clz(x), popcnt(x), rotl(x, 60), True as u64\n";
    assert_eq!(results(src, &[16]), vec![u64::MAX, 16, 59, 1, 1, 1]);
}

#[test]
fn imports_of_files_and_the_standard_library() {
    let mut loader = rarvm_lang::MemoryLoader::default();
    loader.insert("app/main.et", "import util\nfrom lib.shapes import Box, area\ndef main():\n    return util.twice(area(Box{3, 4}))\n");
    loader.insert("app/util.et", "def twice(x):\n    return 2 * x\n");
    loader.insert("app/lib/shapes.et", "from std.mem import equal\ntyp Box {u64 w, u64 h}\ndef area(b: Box):\n    return b.w * b.h\n");
    let c = rarvm_lang::compile(
        &loader,
        std::path::Path::new("app/main.et"),
        &rarvm_lang::Options::default(),
    )
    .unwrap_or_else(|d| panic!("{}", d.render(false)));
    let names: Vec<&str> = c.module.funcs.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["main", "util.twice", "lib.shapes.area"]);
    assert_eq!(c.files.len(), 4, "main, util, shapes and std/mem");
    assert_eq!(run(&c, &[]).port, vec![24]);
}

#[test]
fn the_standard_library_formats_and_prints() {
    let src = "import std.io\nimport std.mem\nimport std.fmt\ngrant console: console\ndef main():\n    io.print_u64(console, 1234567890)\n    io.newline(console)\n    io.print_i64(console, -42)\n    io.print(console, \" \")\n    io.print_hex(console, 255)\n    buf = new u8[8]\n    mem.put_u32(buf, 2, 0xdeadbeef)\n    return mem.get_u32(buf, 2), mem.equal(\"ab\", \"ab\"), mem.index_of(\"abc\", 'c')\n";
    let c = compile_src(src);
    let r = run(&c, &[]);
    assert_eq!(r.port, vec![0xdeadbeef, 1, 2]);
    assert_eq!(r.console, "1234567890\n-42 ff");
}

#[test]
fn sandbox_calls_give_results_outcomes_or_fallbacks() {
    let src = "from std.proc import OUT_OF_GAS, FAULT, RETURNED\n\ndef f(x) -> (u64, u64):\n    return x + 1, x * 2\n\ndef slow(x) -> u64:\n    while True:\n        x += 1\n\ndef bad(x) -> u64:\n    return 10 / x\n\ndef main(x):\n    a, b = f<100, 100>(x) else (0, 0)\n    o = slow<200>(x)\n    p = bad<1000, 0>(0)\n    q = bad<>(5)\n    v = q.value\n    return a, b, o.status == OUT_OF_GAS, o.gas_used, p.status == FAULT, p.fault, q.ok, v\n";
    let r = results(src, &[20]);
    assert_eq!(r[..3], [21, 40, 1]);
    assert!(
        r[3] > 0 && r[3] <= 200,
        "the child used at most its allowance: {}",
        r[3]
    );
    assert_eq!(r[4..], [1, Fault::DivisionByZero as u64, 1, 2]);
}

#[test]
fn a_parent_may_intend_more_than_it_has() {
    // The child is promised far more than the root has: it stops when the root does.
    let src = "def spin() -> u64:\n    while True:\n        pass\n\ndef main():\n    return spin<1000000000000>() else 7\n";
    let c = compile_src(src);
    let r = run_with(
        &c,
        &Setup {
            gas: 10_000,
            ..Setup::default()
        },
    );
    assert_eq!(r.status, Status::OutOfGas);
}

#[test]
fn processes_as_values_spawn_run_yield_resume_save_load_drop() {
    let src = "from std.proc import YIELDED, RETURNED, READY\n\ndef counter(n) -> u64:\n    i = 0\n    while i < n:\n        yield i\n        i += 1\n    return 100\n\ndef main():\n    c = spawn counter(3)\n    ready = c.status == READY\n    t = 0\n    while c.run(10000, 10000) == YIELDED:\n        t += c.pop()\n    last = c.pop()\n    used = c.gas_used\n    c.drop()\n    d = spawn counter(5)\n    d.run(10000, 10000)\n    image = new u8[4096]\n    n = d.save(image)\n    e, err = load(image[:n])\n    e.run(10000, 0)\n    first = d.pop()\n    second = e.pop()\n    return ready, t, last, used > 0, err, first, second, n < 4096\n";
    assert_eq!(results(src, &[]), vec![1, 1 + 2, 100, 1, 0, 0, 1, 1]);
}

#[test]
fn spawn_bytes_of_a_module_written_by_the_program() {
    let src = "import std.module as m\n\ndef main(x):\n    code = new u8[64]\n    at = m.op_u32(code, 0, m.LOCAL_GET, 0)\n    at = m.push(code, at, 3)\n    at = m.op(code, at, m.MUL)\n    at = m.op(code, at, m.RET)\n    out = new u8[128]\n    n = m.header(out, 0, 0, 0, 1)\n    n = m.finish(out, m.function(out, n, \"f\", 1, 1, 0, code[:at]))\n    c, err = spawn_bytes(out[:n])\n    c.push(x)\n    c.run(1000, 0)\n    bad, err2 = spawn_bytes(out[:n - 1])\n    return err, c.pop(), err2, bad as u64\n";
    assert_eq!(results(src, &[14]), vec![0, 42, 1, u64::MAX]);
}

#[test]
fn keys_are_given_attenuated_and_invoked_with_error_codes() {
    let src = "import std.io\nimport std.random as rnd\nfrom std.keys import READ, WRITE, CONSOLE, UNSUPPORTED, DENIED\ngrant console: console\ngrant random: random\n\ndef child(k: key) -> u64:\n    _, err = k.invoke(0, 0, \"hi from the child\\n\")\n    return err\n\ndef main():\n    r1, _ = rnd.next(random)\n    ro, _ = console.attenuate(READ)\n    _, denied = ro.invoke(0, 0, \"no\")\n    _, bad = console.attenuate(READ, \"a/b\")\n    e = child<100000, 10000>(console) else 99\n    f = child<100000, 10000>(ro) else 99\n    return r1, ro.rights, denied, bad, e, f, console.kind\n";
    let c = compile_src(src);
    let r = run_with(
        &c,
        &Setup {
            seed: 0,
            ..Setup::default()
        },
    );
    assert_eq!(
        r.status,
        Status::Returned,
        "{:?} {:?}",
        r.fault,
        r.position(&c)
    );
    assert_eq!(r.port, vec![0xe220_a839_7b1d_cdaf, 1, 1, 2, 0, 1, 2]);
    assert_eq!(r.console, "hi from the child\n");
}

#[test]
fn faults_and_stops_are_reported_at_their_source_position() {
    let src = "def div(a, b):\n    return a / b\n\ndef main(x):\n    return div(10, x)\n";
    let c = compile_src(src);
    let r = run(&c, &[0]);
    assert_eq!(r.fault, Fault::DivisionByZero);
    assert_eq!(r.position(&c).as_deref(), Some("test.et:2:12 in div"));
    let spin = compile_src("def main():\n    n = 0\n    while True:\n        n += 1\n");
    let r = run_with(
        &spin,
        &Setup {
            gas: 1000,
            ..Setup::default()
        },
    );
    assert_eq!(r.status, Status::OutOfGas);
    let at = r.position(&spin).unwrap();
    assert!(
        at.starts_with("test.et:") && at.ends_with(" in main"),
        "{at}"
    );
}

#[test]
fn assert_halt_and_trap() {
    let r = run(
        &compile_src("def main(x):\n    assert x > 1\n    return x\n"),
        &[0],
    );
    assert_eq!(r.fault, Fault::Trap);
    let r = run(&compile_src("def main():\n    halt()\n"), &[]);
    assert_eq!(r.status, Status::Halted);
}

#[test]
fn the_same_source_gives_the_same_bytes() {
    for f in [
        "examples/library.et",
        "benches/programs/bf.et",
        "examples/nested.et",
    ] {
        let a = compile_file(f);
        let b = compile_file(f);
        assert_eq!(a.bytes(), b.bytes(), "{f}");
        assert_eq!(a.source_map, b.source_map);
    }
}

#[test]
fn checks_are_left_out_only_when_an_earlier_one_proves_them() {
    let src = "def main(i, c):\n    a = [1, 2, 3]\n    x = a[i]\n    if c == 1:\n        i += 1\n    y = a[i]\n    z = a[0] + a[i]\n    return x + y + z\n";
    let c = compile_src(src);
    assert_eq!(run(&c, &[1, 0]).port, vec![2 + 2 + 1 + 2]);
    assert_eq!(run(&c, &[1, 1]).port, vec![2 + 3 + 1 + 3]);
    let r = run(&c, &[2, 1]);
    assert_eq!((r.status, r.fault), (Status::Faulted, Fault::OutOfBounds));
    assert_eq!(r.position(&c).as_deref(), Some("test.et:6:9 in main"));
    // Three checks: a[i], a[i] after the `if` (i may have changed), and a[0] is not
    // proven by a[i]; the last a[i] is.
    // Each failed check branches to a block of its own that faults.
    assert_eq!(
        c.rasm().matches("load8_u\n    trap").count(),
        3,
        "{}",
        c.rasm()
    );
}

#[test]
fn arrays_and_records_travel_to_children_by_copy() {
    let src = "typ P {u64 x, u64 y}\n\ndef total(a: [u64], s: [u8], p: P) -> P:\n    t = 0\n    for v in a:\n        t += v\n    a[0] = 1000\n    return P{t + len(s), p.x * p.y}\n\ndef main():\n    a = [1, 2, 3]\n    r = total<100000, 4096>(a, \"four\", P{5, 6}) else P{0, 0}\n    o = total<100000, 0>(a, \"four\", P{5, 6})\n    return r.x, r.y, a[0], o.ok, o.value.x\n";
    // The child's write to its copy does not reach the parent. Copying grows the
    // child's memory and its limit alike (charged to the parent), so a child given no
    // memory allowance still receives its arguments.
    let r = results(src, &[]);
    assert_eq!(r[..3], [6 + 4, 30, 1]);
    assert_eq!(r[3..], [1, 10]);
}

#[test]
fn modules_carry_the_source_map_as_their_debug_section() {
    let mut c = compile_file("examples/library.et");
    let bytes = c.bytes();
    let m = rarvm_runtime::module::Module::decode(&bytes).unwrap();
    assert_eq!(m, c.module);
    let v = rarvm_runtime::verify(m).unwrap();
    let mut instrs = 0;
    for (i, f) in c.module.funcs.iter().enumerate() {
        for pc in 0..f.code.len() as u32 {
            assert_eq!(v.position(i as u32, pc), c.position(i as u32, pc));
        }
        instrs += f.code.len();
    }
    // The files are named as the compilation names them, the main file first.
    let debug = c.module.debug.as_ref().unwrap();
    assert_eq!(debug.files[0], c.files[0].name);
    assert!(debug
        .files
        .iter()
        .all(|f| c.files.iter().any(|s| s.name == *f)));
    // A file that holds no emitted code is not named.
    let only_constants = compile_src("from std.keys import READ\n\ndef main():\n    return READ\n");
    assert_eq!(only_constants.module.debug.unwrap().files, ["test.et"]);
    // Runs make it small: a few bytes per instruction, and stripping drops them all.
    c.strip();
    let stripped = c.bytes();
    let section = bytes.len() - stripped.len();
    assert!(
        section < instrs * 3,
        "{section} bytes for {instrs} instructions"
    );
    let m = rarvm_runtime::module::Module::decode(&stripped).unwrap();
    assert_eq!(m.debug, None);
    assert_eq!(m.funcs, c.module.funcs);
}

#[test]
fn unoptimized_code_computes_the_same() {
    let plain = rarvm_lang::Options { optimize: false };
    for (file, args) in [
        ("examples/sandbox.et", &[41u64][..]),
        ("examples/nested.et", &[2]),
        ("examples/evolve.et", &[7]),
        ("benches/programs/sieve.et", &[1000]),
        ("benches/programs/sort.et", &[300]),
        ("benches/programs/matmul.et", &[9]),
        ("benches/programs/bf.et", &[]),
        // Not fannkuch.et: optimized, its `for m in range(r)` (mostly one or two
        // iterations) is versioned, and the conditions cost more than the checks they
        // save: 3805337 gas against 3690339 unoptimized at n = 7.
        ("benches/programs/crc32.et", &[500, 2]),
        ("benches/programs/list.et", &[100, 3]),
        ("conformance/tests/cases/lang/ranges.et", &[10]),
        ("conformance/tests/cases/lang/hoisted_bounds.et", &[0]),
        ("conformance/tests/cases/lang/hoisted_bounds.et", &[1]),
        ("conformance/tests/cases/lang/hoisted_bounds.et", &[2]),
        ("conformance/tests/cases/lang/hoisted_bounds.et", &[3]),
        ("conformance/tests/cases/lang/carried_checks.et", &[16]),
        ("conformance/tests/cases/lang/carried_checks.et", &[40]),
        ("conformance/tests/cases/lang/carried_retry.et", &[20]),
    ] {
        let fast = compile_file(file);
        let slow = rarvm_lang::compile(&rarvm_lang::FsLoader, &repo().join(file), &plain).unwrap();
        let setup = Setup {
            args,
            gas: 10_000_000_000,
            ..Setup::default()
        };
        let a = run_with(&fast, &setup);
        let b = run_with(&slow, &setup);
        assert_eq!(
            (a.status, &a.port, &a.console),
            (b.status, &b.port, &b.console),
            "{file}"
        );
        // A loop versioned for a bounds check it then fails pays for the check: only
        // a run that returns is held to costing no more.
        assert!(
            a.gas_used <= b.gas_used || a.status != Status::Returned,
            "{file}: optimized code costs no more gas ({} against {})",
            a.gas_used,
            b.gas_used
        );
    }
}

#[test]
fn imports_may_be_cyclic_and_are_relative_to_the_importing_file() {
    let mut loader = rarvm_lang::MemoryLoader::default();
    loader.insert(
        "p/main.et",
        "import a\ndef main(n):\n    return a.even(n)\n",
    );
    loader.insert("p/a.et", "import sub.b\ndef even(n) -> u64:\n    if n == 0:\n        return 1\n    return b.odd(n - 1)\n");
    loader.insert("p/sub/b.et", "import up\ndef odd(n) -> u64:\n    if n == 0:\n        return 0\n    return up.even(n - 1)\n");
    loader.insert("p/sub/up.et", "from std.keys import OK\ndef even(n) -> u64:\n    if n == 0:\n        return 1 + OK\n    return (n % 2 == 0) as u64\n");
    let c = rarvm_lang::compile(
        &loader,
        std::path::Path::new("p/main.et"),
        &rarvm_lang::Options::default(),
    )
    .unwrap_or_else(|d| panic!("{}", d.render(false)));
    assert_eq!(run(&c, &[10]).port, vec![1]);
    assert_eq!(run(&c, &[7]).port, vec![0]);
    // A cycle of imports: each file is loaded once.
    let mut cyc = rarvm_lang::MemoryLoader::default();
    cyc.insert("main.et", "import x\ndef main():\n    return x.f(3)\n");
    cyc.insert(
        "x.et",
        "import y\ndef f(n) -> u64:\n    if n == 0:\n        return 0\n    return y.g(n - 1) + 1\n",
    );
    cyc.insert("y.et", "import x\ndef g(n) -> u64:\n    return x.f(n)\n");
    let c = rarvm_lang::compile(
        &cyc,
        std::path::Path::new("main.et"),
        &rarvm_lang::Options::default(),
    )
    .unwrap();
    assert_eq!(c.files.len(), 3);
    assert_eq!(run(&c, &[]).port, vec![3]);
}

#[test]
fn the_original_entish_record_syntax() {
    let src = "typ vector {u start, u length}\n\ndef end(v: vector) -> u:\n    return v.start + v.length\n\ndef main():\n    return end(vector{3, 4})\n";
    assert_eq!(results(src, &[]), vec![7]);
}

#[test]
fn no_round_trips_through_locals() {
    for f in [
        "examples/library.et",
        "examples/evolve.et",
        "benches/programs/hash.et",
        "benches/programs/sort.et",
        "benches/programs/bf.et",
    ] {
        let c = compile_file(f);
        for func in &c.module.funcs {
            use rarvm_runtime::Instr::{Drop, Jmp, Jnz, Jz, LocalGet, LocalSet, LocalTee};
            // Instructions control can jump to: there a pair is not straight-line code.
            let mut targets: Vec<u32> = func.tables.iter().flatten().copied().collect();
            targets.extend(func.code.iter().filter_map(|i| match i {
                Jmp(t) | Jz(t) | Jnz(t) => Some(*t),
                _ => None,
            }));
            for (pc, w) in func.code.windows(2).enumerate() {
                let round_trip = matches!((w[0], w[1]), (LocalSet(a), LocalGet(b)) if a == b)
                    || matches!((w[0], w[1]), (LocalTee(_), Drop));
                let joined = targets.contains(&(pc as u32 + 1));
                assert!(
                    !round_trip || joined,
                    "{f}: {} has {:?} at {pc}",
                    func.name,
                    w
                );
            }
        }
    }
}

#[test]
fn a_child_made_from_bytes_pays_for_its_positions() {
    // A parent spawns the compiled `f` from bytes in its memory, with and without the
    // debug section: gas and footprint differ by exactly the section's bytes.
    let mut c = compile_src("def main(x):\n    return x * 3 + 1\n");
    let full = c.bytes();
    c.strip();
    let bare = c.bytes();
    let section = (full.len() - bare.len()) as u64;
    assert!(section > 0);
    let run_parent = |bytes: &[u8]| {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let src = format!(
            ".data 0 x\"{hex}\"\nfunc main() -> 1\n    push 0\n    push {}\n    spawn.bytes\n    drop\n    push 7\n    child.push\n    halt\nend\n",
            bytes.len()
        );
        let m = rarvm_runtime::asm::assemble_verified(&src, "parent.rasm").unwrap();
        let root = Box::new(rarvm_runtime::Process::new(m, 0));
        let root = rarvm_runtime::machine::run(root, &mut rarvm_interp::Interp, 1_000_000, 1 << 20);
        assert_eq!(root.status, Status::Halted);
        (root.gas_used, root.footprint, root.memory.len() as u64)
    };
    let (gas_full, fp_full, mem_full) = run_parent(&full);
    let (gas_bare, fp_bare, mem_bare) = run_parent(&bare);
    assert_eq!(
        gas_full - gas_bare,
        u64::from(rarvm_runtime::isa::CODE_BYTE_GAS) * section,
        "spawn.bytes charges 200 + 16 × len"
    );
    let memory = mem_full - mem_bare;
    assert_eq!(
        fp_full - fp_bare,
        memory + section,
        "the child's code footprint"
    );
}
