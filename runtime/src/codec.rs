//! Little-endian readers and writers shared by the module and image formats.
//!
//! The reader treats its input as hostile: every read is bounds-checked and every length
//! is checked against the bytes that remain before anything is allocated.

use std::fmt;

/// Why bytes could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset where the problem was found.
    pub offset: usize,
    pub message: String,
    /// Set when decoding stopped before judging the input: what it decodes to would hold at
    /// least this many bytes, more than the decoder was allowed (see [`crate::module::Module::decode_within`]).
    pub too_large: Option<u64>,
}

impl DecodeError {
    /// Decoding stopped at `offset` because the result would hold at least `need` bytes.
    pub fn too_large(offset: usize, need: u64, limit: u64) -> DecodeError {
        DecodeError {
            offset,
            message: format!("it would hold at least {need} bytes, more than the {limit} allowed"),
            too_large: Some(need),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for DecodeError {}

/// A bounds-checked cursor over untrusted bytes.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn error(&self, message: impl Into<String>) -> DecodeError {
        DecodeError {
            offset: self.pos,
            message: message.into(),
            too_large: None,
        }
    }

    pub fn error_at(&self, offset: usize, message: impl Into<String>) -> DecodeError {
        DecodeError {
            offset,
            message: message.into(),
            too_large: None,
        }
    }

    /// Takes `n` bytes, or fails naming `what` if fewer remain.
    pub fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() as u64 {
            return Err(self.error(format!(
                "truncated {what}: needs {n} bytes, {} remain",
                self.remaining()
            )));
        }
        let n = n as usize;
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], DecodeError> {
        let slice = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u16(&mut self, what: &str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads a count of items that each take at least `min_item_bytes`, rejecting counts
    /// above `max` or that the remaining input cannot hold.
    pub fn count(
        &mut self,
        what: &str,
        max: usize,
        min_item_bytes: usize,
    ) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.u32(what)? as usize;
        if n > max {
            return Err(self.error_at(at, format!("{what} is {n}, more than the limit {max}")));
        }
        if n.saturating_mul(min_item_bytes) > self.remaining() {
            return Err(self.error_at(
                at,
                format!("{what} is {n}, but only {} bytes remain", self.remaining()),
            ));
        }
        Ok(n)
    }

    /// Reads `n` little-endian words.
    pub fn words(&mut self, n: usize, what: &str) -> Result<Vec<u64>, DecodeError> {
        let bytes = self.take((n as u64).saturating_mul(8), what)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }

    pub fn expect_end(&self, what: &str) -> Result<(), DecodeError> {
        if self.remaining() != 0 {
            return Err(self.error(format!(
                "{} trailing bytes after the {what}",
                self.remaining()
            )));
        }
        Ok(())
    }
}

/// An append-only little-endian writer.
#[derive(Default)]
pub struct Writer {
    pub bytes: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    pub fn raw(&mut self, v: &[u8]) {
        self.bytes.extend_from_slice(v);
    }

    /// A count that the format stores as `u32`; callers keep counts within the limits.
    pub fn len32(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("count within the format's u32 limits"));
    }

    pub fn words(&mut self, v: &[u64]) {
        for w in v {
            self.u64(*w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_rejects_truncation_and_huge_counts() {
        let mut r = Reader::new(&[1, 0, 0]);
        assert!(r.u32("x").unwrap_err().message.contains("truncated x"));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0]);
        assert!(r.count("items", usize::MAX, 1).is_err());
        let mut r = Reader::new(&[2, 0, 0, 0, 9, 9]);
        assert_eq!(r.count("items", 10, 1).unwrap(), 2);
        let mut r = Reader::new(&[0; 8]);
        assert!(r.take(u64::MAX, "memory").is_err());
    }
}
