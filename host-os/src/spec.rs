//! The `--grant` syntax: `[NAME=]SPEC`.

use std::path::Path;

use rarvm_runtime::host::Grant;

use crate::{Console, Dir, Endpoint, WallClock};

/// Parses `[NAME=]SPEC` — `console`, `clock`, `clock:virtual`, `random:SEED`, `fs:DIR:ro`,
/// `fs:DIR:rw`, `net:HOST:PORT` — into a name (if given) and the grant. For a
/// `deterministic` host, `console` is output-only and `clock` virtual (`docs/SPEC.md` §9.2).
///
/// # Errors
/// A message naming what is wrong with `spec`, or why a directory cannot be opened.
pub fn parse_grant(spec: &str, deterministic: bool) -> Result<(Option<String>, Grant), String> {
    let (name, body) = match spec.split_once('=') {
        Some((name, body)) if !name.contains(':') => (Some(name.to_string()), body),
        _ => (None, spec),
    };
    let (kind, rest) = body.split_once(':').unwrap_or((body, ""));
    let bad = |why: &str| format!("invalid grant `{spec}`: {why}");
    let resource = |r: Box<dyn rarvm_runtime::host::Resource>| Grant::Resource(r);
    let grant = match (kind, rest) {
        ("console", "") if deterministic => {
            resource(Box::new(Console::output_only(Box::new(std::io::stdout()))))
        }
        ("console", "") => resource(Box::new(Console::stdio())),
        ("clock", "") if deterministic => Grant::VirtualClock,
        ("clock", "") => resource(Box::new(WallClock)),
        ("clock", "virtual") => Grant::VirtualClock,
        ("random", seed) => Grant::Random {
            seed: parse_u64(seed).ok_or_else(|| bad("expected random:SEED with a u64 seed"))?,
        },
        ("fs", rest) => {
            let (dir, mode) = rest
                .rsplit_once(':')
                .ok_or_else(|| bad("expected fs:DIR:ro or fs:DIR:rw"))?;
            let writable = match mode {
                "ro" => false,
                "rw" => true,
                _ => return Err(bad("the mode must be ro or rw")),
            };
            if dir.is_empty() {
                return Err(bad("the directory is empty"));
            }
            let dir = Dir::open(Path::new(dir), writable)
                .map_err(|e| format!("cannot grant directory {dir}: {e}"))?;
            resource(Box::new(dir))
        }
        ("net", rest) => {
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| bad("expected net:HOST:PORT"))?;
            let port = port
                .parse::<u16>()
                .map_err(|_| bad("the port must be a number from 0 to 65535"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err(bad("the host is empty"));
            }
            resource(Box::new(Endpoint::new(host, port)))
        }
        _ => {
            return Err(bad(
                "expected console, clock, clock:virtual, random:SEED, fs:DIR:ro, fs:DIR:rw or net:HOST:PORT",
            ))
        }
    };
    Ok((name, grant))
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}
