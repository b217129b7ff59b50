//! The standard library: Entish modules shipped inside the compiler, imported as
//! `import std.NAME`.

const MODULES: &[(&str, &str)] = &[
    ("io", include_str!("../std/io.et")),
    ("fmt", include_str!("../std/fmt.et")),
    ("mem", include_str!("../std/mem.et")),
    ("proc", include_str!("../std/proc.et")),
    ("keys", include_str!("../std/keys.et")),
    ("console", include_str!("../std/console.et")),
    ("clock", include_str!("../std/clock.et")),
    ("random", include_str!("../std/random.et")),
    ("fs", include_str!("../std/fs.et")),
    ("net", include_str!("../std/net.et")),
    ("module", include_str!("../std/module.et")),
    ("vat", include_str!("../std/vat.et")),
];

/// The names of the standard library's modules.
pub fn names() -> Vec<&'static str> {
    MODULES.iter().map(|(n, _)| *n).collect()
}

/// The source of `std.NAME`.
pub fn source(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Every module, for tests and the fuzzer's seeds.
pub fn all() -> &'static [(&'static str, &'static str)] {
    MODULES
}
