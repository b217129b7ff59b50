//! The compiler never panics: mutated versions of every `.et` file of the repository and
//! of the standard library compile or give diagnostics (the body of the `compiler` fuzz
//! target, `rarvm_lang::fuzz::compile_bytes`, checks each one).

use crate::common::repo;

/// Every `.et` source: examples, kernels, conformance cases and the standard library.
fn sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in [
        "examples",
        "benches/programs",
        "conformance/tests/cases/lang",
    ] {
        let mut files: Vec<_> = std::fs::read_dir(repo().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "et"))
            .collect();
        files.sort();
        for f in files {
            out.push((
                f.display().to_string(),
                std::fs::read_to_string(&f).unwrap(),
            ));
        }
    }
    for (name, src) in rarvm_lang::standard_library() {
        out.push((format!("std/{name}.et"), src.to_string()));
    }
    out
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ":",
    "\n",
    "    ",
    "\t",
    "<",
    ">",
    "<50,",
    ">(",
    "else",
    "if ",
    "def ",
    "return",
    "yield",
    "spawn ",
    "new ",
    "u8",
    "[u64]",
    "key",
    "\"",
    "'",
    "#",
    "é",
    "∑",
    "0x",
    "99999999999999999999",
    "-",
    "not ",
    "and",
    ",",
    ".",
    "=",
    "+=",
    "typ ",
    "import std.",
    "from ",
    "grant ",
    "match ",
    "case _:",
    "for i in range(",
    "while True:",
    "break",
    "continue",
    "\\",
    "_",
    "as i64",
];

fn mutate(src: &str, rng: &mut Rng) -> String {
    let mut b: Vec<char> = src.chars().collect();
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            break;
        }
        let at = rng.below(b.len());
        match rng.below(6) {
            0 => {
                let n = rng.below(12).min(b.len() - at);
                b.drain(at..at + n);
            }
            1 | 2 => {
                let p = PIECES[rng.below(PIECES.len())];
                for (k, c) in p.chars().enumerate() {
                    b.insert(at + k, c);
                }
            }
            3 => {
                let other = rng.below(b.len());
                b.swap(at, other);
            }
            4 => b.truncate(at),
            _ => {
                let end = (at + rng.below(80)).min(b.len());
                let piece: Vec<char> = b[at..end].to_vec();
                let to = rng.below(b.len());
                for (k, c) in piece.into_iter().enumerate() {
                    b.insert(to + k, c);
                }
            }
        }
    }
    b.into_iter().collect()
}

#[test]
fn mutated_sources_never_crash_the_compiler() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut failures = 0usize;
    let mut total = 0usize;
    for (name, src) in sources() {
        // The original compiles (std modules have no `main`: they give a diagnostic).
        rarvm_lang::fuzz::compile_bytes(src.as_bytes());
        for _ in 0..60 {
            let m = mutate(&src, &mut rng);
            let r = std::panic::catch_unwind(|| rarvm_lang::fuzz::compile_bytes(m.as_bytes()));
            total += 1;
            if r.is_err() {
                failures += 1;
                eprintln!("{name}: the compiler panicked on:\n{m}\n");
            }
        }
    }
    assert!(total > 1000);
    assert_eq!(failures, 0);
}

#[test]
fn garbage_is_diagnosed() {
    for input in [
        &b""[..],
        b"\xff\xfe",
        b"\0\0\0",
        b"def",
        b"def main(",
        b"(((((",
        b"\n\n\n    \n",
        "é∑😀".as_bytes(),
    ] {
        rarvm_lang::fuzz::compile_bytes(input);
    }
}
