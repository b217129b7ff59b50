//! Modules: functions, initial memory and data, and their canonical binary encoding.
//!
//! A [`Module`] is unverified; [`crate::verify`] turns it into a
//! [`crate::VerifiedModule`], the only form an engine runs. Every field of the
//! encoding but the numbers of the optional debug section ([`crate::debug`]) is
//! fixed-width, and every accepted input re-encodes to the same bytes.

use crate::codec::{DecodeError, Reader, Writer};
use crate::debug::DebugInfo;
use crate::isa::{ImmKind, Instr, Opcode};
use crate::limits::*;

/// The first bytes of every encoded module.
pub const MODULE_MAGIC: &[u8; 8] = b"RARVMMOD";
/// The module format version this build reads and writes.
pub const MODULE_VERSION: u32 = 2;

/// An unverified module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// Initial size of a process's memory, in bytes.
    pub memory_size: u64,
    /// Index of the function a process created from bytes or by the host starts in.
    pub entry: u32,
    /// Bytes copied into initial memory, in order.
    pub data: Vec<DataSegment>,
    pub funcs: Vec<Function>,
    /// Where each instruction came from in its source, if the compiler said so. Engines
    /// never read it; it is part of the encoding, so it counts in the code footprint.
    pub debug: Option<DebugInfo>,
}

/// Bytes placed in initial memory at `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSegment {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// One function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    pub params: u32,
    pub results: u32,
    /// Locals beyond the parameters, zeroed at entry.
    pub locals: u32,
    pub code: Vec<Instr>,
    /// Branch tables of `switch` instructions: targets, the default last.
    pub tables: Vec<Vec<u32>>,
}

impl Function {
    /// Parameters plus locals.
    pub fn local_count(&self) -> u32 {
        self.params + self.locals
    }

    /// The branch targets of the instruction at `pc`, as its immediate's kind names them:
    /// one for a jump, a whole table for `switch`, none otherwise. For verified code.
    pub fn targets(&self, pc: usize) -> impl Iterator<Item = u32> + '_ {
        let ins = self.code[pc];
        let (one, table): (Option<u32>, &[u32]) = match ins.info().imm {
            ImmKind::Target => (Some(ins.imm() as u32), &[]),
            ImmKind::Table => (None, &self.tables[ins.imm() as usize]),
            ImmKind::None
            | ImmKind::Word
            | ImmKind::Local
            | ImmKind::Func
            | ImmKind::Offset
            | ImmKind::Field => (None, &[]),
        };
        one.into_iter().chain(table.iter().copied())
    }
}

/// True for names the assembler can write: `[A-Za-z_][A-Za-z0-9_.]*`, at most
/// [`MAX_NAME`] bytes.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_');
    first_ok
        && name.len() <= MAX_NAME
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

impl Module {
    /// The canonical encoding (`docs/SPEC.md` §Module format).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(MODULE_MAGIC);
        w.u32(MODULE_VERSION);
        w.u64(self.memory_size);
        w.u32(self.entry);
        w.len32(self.data.len());
        for seg in &self.data {
            w.u64(seg.offset);
            w.u64(seg.bytes.len() as u64);
            w.raw(&seg.bytes);
        }
        w.len32(self.funcs.len());
        for f in &self.funcs {
            w.u8(u8::try_from(f.name.len()).expect("name length checked by the verifier"));
            w.raw(f.name.as_bytes());
            w.u32(f.params);
            w.u32(f.results);
            w.u32(f.locals);
            let code = encode_code(f);
            w.len32(code.len());
            w.raw(&code);
        }
        match &self.debug {
            None => w.u32(0),
            Some(d) => {
                let mut section = Writer::default();
                d.encode(&mut section);
                w.len32(section.bytes.len());
                w.raw(&section.bytes);
            }
        }
        w.bytes
    }

    /// Decodes a module, rejecting anything but a canonical encoding.
    ///
    /// # Errors
    /// A [`DecodeError`] naming the byte offset and the problem: bad magic or version,
    /// truncation, counts beyond the limits, unknown opcodes, malformed names, a malformed
    /// debug section, trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Module, DecodeError> {
        Self::decode_within(bytes, u64::MAX)
    }

    /// [`Module::decode`], stopping as soon as the code footprint of what was read
    /// ([`code_footprint`]) exceeds `limit`: the host never holds more of a hostile module
    /// than it was allowed to.
    ///
    /// # Errors
    /// As [`Module::decode`]; an error with [`DecodeError::too_large`] set when the limit
    /// stopped it.
    pub fn decode_within(bytes: &[u8], limit: u64) -> Result<Module, DecodeError> {
        let mut meter = Meter {
            limit,
            instrs: 0,
            targets: 0,
            funcs: 0,
        };
        Self::read(&mut Reader::new(bytes), &mut meter)
    }

    /// Reads one module from `r` and requires that it is the whole input.
    fn read(r: &mut Reader<'_>, meter: &mut Meter) -> Result<Module, DecodeError> {
        let magic = r.take(8, "module magic")?;
        if magic != MODULE_MAGIC {
            return Err(r.error_at(0, "not a rarvm module (bad magic)"));
        }
        let version = r.u32("module version")?;
        if version != MODULE_VERSION {
            return Err(r.error_at(8, format!("unsupported module version {version}")));
        }
        let memory_size = r.u64("memory size")?;
        let entry = r.u32("entry function")?;
        let ndata = r.count("data segment count", MAX_DATA_SEGMENTS, 16)?;
        let mut data = Vec::with_capacity(ndata);
        for _ in 0..ndata {
            let offset = r.u64("data offset")?;
            let len = r.u64("data length")?;
            let bytes = r.take(len, "data segment")?.to_vec();
            data.push(DataSegment { offset, bytes });
        }
        let nfuncs = r.count("function count", MAX_FUNCS, 17)?;
        // Every function will count: check before making room for them.
        meter.funcs = nfuncs as u64;
        meter.check(r.pos())?;
        let mut funcs = Vec::with_capacity(nfuncs);
        for index in 0..nfuncs {
            let at = r.pos();
            let name_len = r.u8("function name length")?;
            let name_bytes = r.take(u64::from(name_len), "function name")?;
            let name = match std::str::from_utf8(name_bytes) {
                Ok(s) if is_valid_name(s) => s.to_string(),
                _ => return Err(r.error_at(at, format!("function {index} has an invalid name"))),
            };
            let params = r.u32("parameter count")?;
            let results = r.u32("result count")?;
            let locals = r.u32("local count")?;
            let code_len = r.u32("code length")?;
            let code_at = r.pos();
            let code_bytes = r.take(u64::from(code_len), "function code")?;
            let (code, tables) = decode_code(code_bytes, code_at, meter).map_err(|mut e| {
                e.offset += code_at;
                if e.too_large.is_none() {
                    e.message = format!("function `{name}`: {}", e.message);
                }
                e
            })?;
            funcs.push(Function {
                name,
                params,
                results,
                locals,
                code,
                tables,
            });
        }
        let debug_len = r.u32("debug section length")?;
        let debug = if debug_len == 0 {
            None
        } else {
            let section_at = r.pos();
            let section = r.take(u64::from(debug_len), "debug section")?;
            // The whole section is held from here on: count it before decoding it.
            meter.check(r.pos())?;
            let debug = DebugInfo::decode(section, &funcs).map_err(|mut e| {
                e.offset += section_at;
                e
            })?;
            Some(debug)
        };
        r.expect_end("module")?;
        Ok(Module {
            memory_size,
            entry,
            data,
            funcs,
            debug,
        })
    }

    /// The number of instructions of all functions.
    pub fn instruction_count(&self) -> u64 {
        self.funcs.iter().map(|f| f.code.len() as u64).sum()
    }

    /// The number of entries of all `switch` tables of all functions.
    pub fn target_count(&self) -> u64 {
        self.funcs
            .iter()
            .flat_map(|f| &f.tables)
            .map(|t| t.len() as u64)
            .sum()
    }
}

/// What the host holds for a module: its encoding of `len` bytes, and for each of its
/// `instrs` instructions, `targets` entries of `switch` tables and `funcs` functions the
/// decoded, verified and lowered forms the engines keep (`docs/SPEC.md` §5.3). A child
/// whose module is its own counts this in its parent's footprint.
pub const fn code_footprint(len: u64, instrs: u64, targets: u64, funcs: u64) -> u64 {
    len.saturating_add(instrs.saturating_mul(CODE_BYTES_PER_INSTR))
        .saturating_add(targets.saturating_mul(CODE_BYTES_PER_TARGET))
        .saturating_add(funcs.saturating_mul(CODE_BYTES_PER_FUNC))
}

/// Counts what a decoder has read, against a limit on its code footprint.
struct Meter {
    limit: u64,
    instrs: u64,
    targets: u64,
    funcs: u64,
}

impl Meter {
    /// Fails when the footprint of everything up to byte `pos` exceeds the limit.
    #[inline]
    fn check(&self, pos: usize) -> Result<(), DecodeError> {
        let need = code_footprint(pos as u64, self.instrs, self.targets, self.funcs);
        if need > self.limit {
            return Err(DecodeError::too_large(pos, need, self.limit));
        }
        Ok(())
    }

    /// [`Meter::check`] at byte `pos` of a function's code, which starts at byte `base` of
    /// the module; the error's offset is within the code, as the code's other errors are.
    #[inline]
    fn check_in(&self, base: usize, pos: usize) -> Result<(), DecodeError> {
        self.check(base + pos).map_err(|mut e| {
            e.offset -= base;
            e
        })
    }
}

/// Encodes one function's instructions.
pub fn encode_code(f: &Function) -> Vec<u8> {
    let mut w = Writer::default();
    for ins in &f.code {
        let info = ins.info();
        w.u8(info.opcode as u8);
        let imm = ins.imm();
        match info.imm {
            ImmKind::None => {}
            ImmKind::Word => w.u64(imm),
            ImmKind::Local | ImmKind::Target | ImmKind::Func | ImmKind::Offset => w.u32(imm as u32),
            ImmKind::Field => w.u8(imm as u8),
            ImmKind::Table => {
                let table = &f.tables[imm as usize];
                w.len32(table.len() - 1);
                for t in table {
                    w.u32(*t);
                }
            }
        }
    }
    w.bytes
}

/// Decodes a function's instruction bytes (at offset `base` of the module) into
/// instructions and branch tables, counting them against `meter`.
fn decode_code(
    bytes: &[u8],
    base: usize,
    meter: &mut Meter,
) -> Result<(Vec<Instr>, Vec<Vec<u32>>), DecodeError> {
    let mut r = Reader::new(bytes);
    let mut code = Vec::new();
    let mut tables = Vec::new();
    while r.remaining() > 0 {
        if code.len() >= MAX_CODE {
            return Err(r.error(format!("more than {MAX_CODE} instructions")));
        }
        meter.instrs += 1;
        meter.check_in(base, r.pos())?;
        let at = r.pos();
        let byte = r.u8("opcode")?;
        let op = Opcode::from_u8(byte)
            .ok_or_else(|| r.error_at(at, format!("unknown opcode 0x{byte:02x}")))?;
        let imm = match op.info().imm {
            ImmKind::None => 0,
            ImmKind::Word => r.u64("immediate")?,
            ImmKind::Local | ImmKind::Target | ImmKind::Func | ImmKind::Offset => {
                u64::from(r.u32("immediate")?)
            }
            ImmKind::Field => u64::from(r.u8("immediate")?),
            ImmKind::Table => {
                let n = r.count("switch table size", MAX_SWITCH - 1, 4)?;
                let targets = r.take((n as u64 + 1) * 4, "switch table")?;
                // The table will count: check before holding it.
                meter.targets += n as u64 + 1;
                meter.check_in(base, r.pos())?;
                tables.push(
                    targets
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                );
                (tables.len() - 1) as u64
            }
        };
        code.push(Instr::from_parts(op, imm));
    }
    Ok((code, tables))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debug::Run;

    fn sample() -> Module {
        Module {
            memory_size: 64,
            entry: 0,
            data: vec![DataSegment {
                offset: 8,
                bytes: b"hi".to_vec(),
            }],
            funcs: vec![Function {
                name: "main".into(),
                params: 1,
                results: 1,
                locals: 0,
                code: vec![
                    Instr::LocalGet(0),
                    Instr::Switch(0),
                    Instr::Push(7),
                    Instr::Ret,
                ],
                tables: vec![vec![2, 2, 3]],
            }],
            debug: None,
        }
    }

    /// The sample with a debug section: a line far from 0 and back, a column needing two
    /// LEB128 bytes.
    fn with_debug() -> Module {
        let mut m = sample();
        m.debug = Some(DebugInfo {
            files: vec!["sample.et".into()],
            funcs: vec![crate::debug::FuncDebug {
                name: "main".into(),
                file: 0,
                runs: vec![
                    Run {
                        pc: 0,
                        line: 1000,
                        col: 1,
                    },
                    Run {
                        pc: 2,
                        line: 3,
                        col: 200,
                    },
                ],
            }],
        });
        m
    }

    #[test]
    fn encode_decode_roundtrip() {
        let m = sample();
        let bytes = m.encode();
        let back = Module::decode(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(Module::decode(&bytes[..n]).is_err(), "prefix {n} accepted");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(Module::decode(&long)
            .unwrap_err()
            .message
            .contains("trailing"));
    }

    /// A `switch` table counts in the footprint before the decoder holds it: a function of
    /// four instructions with a table of 60,000 entries needs room for every entry.
    #[test]
    fn switch_tables_count_before_they_are_held() {
        let mut m = sample();
        m.funcs[0].tables[0] = vec![2; 60_000];
        let bytes = m.encode();
        let need = code_footprint(bytes.len() as u64, 4, 60_000, 1);
        assert!(Module::decode_within(&bytes, need).is_ok());
        let short = code_footprint(bytes.len() as u64, 4, 59_999, 1);
        let err = Module::decode_within(&bytes, short)
            .map(|_| ())
            .unwrap_err();
        assert!(err.too_large.is_some(), "{}", err.message);
    }

    #[test]
    fn debug_sections_decode_canonically_and_within_the_budget() {
        let m = with_debug();
        let bytes = m.encode();
        assert_eq!(bytes.len(), sample().encode().len() + 39);
        let back = Module::decode(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.encode(), bytes);
        for n in 0..bytes.len() {
            assert!(Module::decode(&bytes[..n]).is_err(), "prefix {n} accepted");
        }
        // The section's bytes count in the footprint the decoder may hold, as do the
        // instructions and every entry of the switch table.
        assert_eq!((m.instruction_count(), m.target_count()), (4, 3));
        let need = code_footprint(bytes.len() as u64, 4, 3, 1);
        assert!(Module::decode_within(&bytes, need).is_ok());
        let short = Module::decode_within(&bytes, need - 1).unwrap_err();
        assert_eq!(short.too_large, Some(need));
        // A run's column of 200 padded to three bytes is the same number, not the same
        // encoding.
        let col = bytes.len() - 2;
        assert_eq!(bytes[col..], [0xc8, 0x01]);
        let mut padded = bytes[..col].to_vec();
        padded.extend_from_slice(&[0xc8, 0x81, 0x00]);
        let len_at = sample().encode().len() - 4;
        padded[len_at] += 1;
        let e = Module::decode(&padded).unwrap_err();
        assert!(e.message.contains("shortest form"), "{e}");
    }

    #[test]
    fn debug_sections_bound_what_they_allocate() {
        let bytes = with_debug().encode();
        let at = sample().encode().len();
        // More files than functions.
        let mut many = bytes.clone();
        many[at..at + 4].copy_from_slice(&2u32.to_le_bytes());
        assert!(Module::decode(&many).unwrap_err().message.contains("limit"));
        // More runs than instructions.
        let runs_at = bytes.len() - 9 - 4;
        let mut runs = bytes.clone();
        runs[runs_at..runs_at + 4].copy_from_slice(&5u32.to_le_bytes());
        assert!(Module::decode(&runs).unwrap_err().message.contains("limit"));
        // Every single-byte change is an error or another canonical module, never a panic.
        for i in at..bytes.len() {
            for v in [0, 1, 0x7f, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                if let Ok(m) = Module::decode(&b) {
                    assert_eq!(m.encode(), b);
                }
            }
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(is_valid_name("main"));
        assert!(is_valid_name("a.b_9"));
        assert!(!is_valid_name("9a"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a b"));
    }
}
