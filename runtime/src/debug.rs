//! Debug sections: where each instruction of a module came from in its source
//! (`docs/SPEC.md` §3.2).
//!
//! A module may carry one [`DebugInfo`]: the source files, and for each function its name
//! in the source language, its file, and *runs* — the instructions where the source
//! position changes. Engines never read it. It is part of the module's encoding, so it
//! counts in the module's code size and code footprint, in its hash and in the gas that
//! decoding or saving the module costs, like any other byte.

use std::fmt;

use crate::codec::{DecodeError, Reader, Writer};
use crate::module::Function;

/// Where each instruction of a module came from: one entry per function of the module.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DebugInfo {
    /// The source files' names (UTF-8), each named by at least one function.
    pub files: Vec<String>,
    /// One entry per function of the module, in the module's order.
    pub funcs: Vec<FuncDebug>,
}

/// The source of one function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FuncDebug {
    /// Its name in the source language (`main`, `io.print`): any UTF-8, at most 255
    /// bytes.
    pub name: String,
    /// Index into [`DebugInfo::files`].
    pub file: u32,
    /// The instructions where the position changes, by increasing pc; each run covers its
    /// pc up to the next run's. Instructions before the first run have no position.
    pub runs: Vec<Run>,
}

/// From instruction `pc` on, the code comes from `line`:`col` (1-based by convention;
/// 0 for unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub pc: u32,
    pub line: u32,
    pub col: u32,
}

/// A source position: `file:LINE:COL in FUNCTION`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    pub file: String,
    pub line: u32,
    pub col: u32,
    /// The function's name in the source language.
    pub function: String,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{} in {}",
            self.file, self.line, self.col, self.function
        )
    }
}

/// Why a debug section does not fit its module's code (found by the verifier).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugError {
    /// The function whose entry is wrong, if one is.
    pub func: Option<u32>,
    /// The run's pc, if a run is wrong.
    pub pc: Option<u32>,
    pub message: String,
}

impl DebugInfo {
    /// The source position of instruction `pc` of function `func`, if the section gives
    /// one.
    pub fn position(&self, func: u32, pc: u32) -> Option<Position> {
        let f = self.funcs.get(func as usize)?;
        let after = f.runs.partition_point(|r| r.pc <= pc);
        let run = f.runs.get(after.checked_sub(1)?)?;
        Some(Position {
            file: self.files.get(f.file as usize)?.clone(),
            line: run.line,
            col: run.col,
            function: f.name.clone(),
        })
    }

    /// Appends the section's contents (without its length) to `w` (`docs/SPEC.md` §3.2).
    /// Total on any value; only a section that passes [`DebugInfo::check`] decodes again.
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.len32(self.files.len());
        for name in &self.files {
            w.len32(name.len());
            w.raw(name.as_bytes());
        }
        for f in &self.funcs {
            let name = &f.name.as_bytes()[..f.name.len().min(255)];
            w.u8(name.len() as u8);
            w.raw(name);
            w.u32(f.file);
            w.len32(f.runs.len());
            let (mut pc, mut line) = (0u32, 0u32);
            for r in &f.runs {
                leb(w, u64::from(r.pc.wrapping_sub(pc)));
                let d = i64::from(r.line) - i64::from(line);
                leb(w, ((d << 1) ^ (d >> 63)) as u64);
                leb(w, u64::from(r.col));
                (pc, line) = (r.pc, r.line);
            }
        }
    }

    /// Decodes a section's contents for a module whose functions are `funcs`. Every count
    /// is bounded before anything is allocated — files by the number of functions, runs
    /// by the function's instructions — so the decoded form is covered by the module's
    /// code footprint (`docs/SPEC.md` §3.2). Offsets in errors are relative to `bytes`.
    ///
    /// # Errors
    /// Truncated or trailing bytes, numbers not in their shortest form or beyond their
    /// range, names that are not UTF-8, counts beyond those bounds.
    pub(crate) fn decode(bytes: &[u8], funcs: &[Function]) -> Result<DebugInfo, DecodeError> {
        let mut r = Reader::new(bytes);
        let nfiles = r.count("debug file count", funcs.len(), 4)?;
        let mut files = Vec::with_capacity(nfiles);
        for _ in 0..nfiles {
            let at = r.pos();
            let len = r.u32("debug file name length")?;
            let name = r.take(u64::from(len), "debug file name")?;
            let name = std::str::from_utf8(name)
                .map_err(|_| r.error_at(at, "a debug file name is not UTF-8"))?;
            files.push(name.to_string());
        }
        let mut out = Vec::with_capacity(funcs.len().min(r.remaining() / 9));
        for (index, f) in funcs.iter().enumerate() {
            let at = r.pos();
            let len = r.u8("debug function name length")?;
            let name = r.take(u64::from(len), "debug function name")?;
            let name = std::str::from_utf8(name).map_err(|_| {
                r.error_at(at, format!("function {index}'s debug name is not UTF-8"))
            })?;
            let file = r.u32("debug file index")?;
            let nruns = r.count("run count", f.code.len(), 3)?;
            let mut runs = Vec::with_capacity(nruns);
            let (mut pc, mut line) = (0u32, 0u32);
            for _ in 0..nruns {
                let at = r.pos();
                let step = unleb(&mut r)?;
                pc = u64::from(pc)
                    .checked_add(step)
                    .and_then(|p| u32::try_from(p).ok())
                    .ok_or_else(|| r.error_at(at, "a run's pc is beyond 32 bits"))?;
                let at = r.pos();
                let z = unleb(&mut r)?;
                let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
                line = i64::from(line)
                    .checked_add(d)
                    .and_then(|l| u32::try_from(l).ok())
                    .ok_or_else(|| r.error_at(at, "a run's line is beyond 32 bits"))?;
                let at = r.pos();
                let col = u32::try_from(unleb(&mut r)?)
                    .map_err(|_| r.error_at(at, "a run's column is beyond 32 bits"))?;
                runs.push(Run { pc, line, col });
            }
            out.push(FuncDebug {
                name: name.to_string(),
                file,
                runs,
            });
        }
        r.expect_end("debug section")?;
        Ok(DebugInfo { files, funcs: out })
    }

    /// Checks that the section describes `funcs`: one entry per function, files in range
    /// and each named by a function, at most as many files as functions, names within 255
    /// bytes, and runs at strictly increasing pcs inside their function, each at a position
    /// different from the run before.
    ///
    /// # Errors
    /// The first problem, with the function and run it is in.
    pub fn check(&self, funcs: &[Function]) -> Result<(), DebugError> {
        let err =
            |func: Option<u32>, pc: Option<u32>, message: String| DebugError { func, pc, message };
        if self.funcs.len() != funcs.len() {
            return Err(err(
                None,
                None,
                format!(
                    "{} debug entries for {} functions",
                    self.funcs.len(),
                    funcs.len()
                ),
            ));
        }
        if self.files.len() > funcs.len() {
            return Err(err(
                None,
                None,
                format!(
                    "{} debug files for {} functions",
                    self.files.len(),
                    funcs.len()
                ),
            ));
        }
        if let Some(f) = self.files.iter().find(|f| u32::try_from(f.len()).is_err()) {
            return Err(err(None, None, format!("a file name of {} bytes", f.len())));
        }
        let mut used = vec![false; self.files.len()];
        for (index, (d, f)) in self.funcs.iter().zip(funcs).enumerate() {
            let here = Some(index as u32);
            if d.name.len() > 255 {
                return Err(err(here, None, "a debug name beyond 255 bytes".into()));
            }
            match used.get_mut(d.file as usize) {
                Some(u) => *u = true,
                None => {
                    return Err(err(
                        here,
                        None,
                        format!("debug file {} does not exist", d.file),
                    ))
                }
            }
            let mut prev: Option<&Run> = None;
            for r in &d.runs {
                let at = Some(r.pc);
                if r.pc as usize >= f.code.len() {
                    return Err(err(here, at, "a run past the function's end".into()));
                }
                match prev {
                    Some(p) if r.pc <= p.pc => {
                        return Err(err(here, at, "runs out of order".into()))
                    }
                    Some(p) if (p.line, p.col) == (r.line, r.col) => {
                        return Err(err(
                            here,
                            at,
                            "a run at the same position as the one before".into(),
                        ))
                    }
                    _ => {}
                }
                prev = Some(r);
            }
        }
        if let Some(i) = used.iter().position(|u| !u) {
            return Err(err(
                None,
                None,
                format!("debug file {i} is named by no function"),
            ));
        }
        Ok(())
    }
}

/// Appends `v` as unsigned LEB128 in its shortest form.
fn leb(w: &mut Writer, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            w.u8(b);
            return;
        }
        w.u8(b | 0x80);
    }
}

/// Reads an unsigned LEB128 number, rejecting any but its shortest form.
fn unleb(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    let at = r.pos();
    let mut v = 0u64;
    for i in 0..10 {
        let b = r.u8("number")?;
        if i == 9 && b > 1 {
            return Err(r.error_at(at, "a number beyond 64 bits"));
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(r.error_at(at, "a number not in its shortest form"));
            }
            return Ok(v);
        }
    }
    Err(r.error_at(at, "a number beyond 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: u64) -> Vec<u8> {
        let mut w = Writer::default();
        leb(&mut w, v);
        assert_eq!(unleb(&mut Reader::new(&w.bytes)).unwrap(), v);
        w.bytes
    }

    #[test]
    fn numbers_have_one_encoding() {
        assert_eq!(roundtrip(0), [0]);
        assert_eq!(roundtrip(127), [127]);
        assert_eq!(roundtrip(128), [0x80, 1]);
        assert_eq!(roundtrip(u64::MAX).len(), 10);
        for bad in [
            &[0x80, 0][..],
            &[0xff, 0x80, 0],
            &[0xff; 10],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2],
            &[0x80],
        ] {
            assert!(unleb(&mut Reader::new(bad)).is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn positions_come_from_the_last_run_at_or_before() {
        let d = DebugInfo {
            files: vec!["a.et".into()],
            funcs: vec![FuncDebug {
                name: "f".into(),
                file: 0,
                runs: vec![
                    Run {
                        pc: 1,
                        line: 2,
                        col: 5,
                    },
                    Run {
                        pc: 4,
                        line: 3,
                        col: 1,
                    },
                ],
            }],
        };
        assert_eq!(d.position(0, 0), None);
        assert_eq!(d.position(0, 1).unwrap().to_string(), "a.et:2:5 in f");
        assert_eq!(d.position(0, 3).unwrap().line, 2);
        assert_eq!(d.position(0, 9).unwrap().to_string(), "a.et:3:1 in f");
        assert_eq!(d.position(1, 0), None);
    }
}
