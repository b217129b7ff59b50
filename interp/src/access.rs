//! Loads and stores: one definition of each width, used by the instruction's own arm and
//! by every fused op that ends in one.

/// A load's width and extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Load {
    U8,
    S8,
    U16,
    S16,
    U32,
    S32,
    W64,
}

/// A store's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Store {
    W8,
    W16,
    W32,
    W64,
}

/// Where `width` bytes at `addr + offset` begin, if they all lie inside `size` bytes
/// (computed without wrapping).
#[inline(always)]
fn ea(addr: u64, offset: u32, width: usize, size: usize) -> Option<usize> {
    let a = addr.checked_add(u64::from(offset))?;
    if a.checked_add(width as u64)? > size as u64 {
        return None;
    }
    Some(a as usize)
}

#[inline(always)]
fn bytes<const N: usize>(mem: &[u8], at: usize) -> [u8; N] {
    let mut b = [0u8; N];
    b.copy_from_slice(&mem[at..at + N]);
    b
}

impl Load {
    /// Every kind, in discriminant order (`ALL[l as usize] == l`).
    #[cfg(rarvm_threaded)]
    pub const ALL: [Load; 7] = [
        Load::U8,
        Load::S8,
        Load::U16,
        Load::S16,
        Load::U32,
        Load::S32,
        Load::W64,
    ];

    /// The store of this load's width.
    pub fn store(self) -> Store {
        match self {
            Load::U8 | Load::S8 => Store::W8,
            Load::U16 | Load::S16 => Store::W16,
            Load::U32 | Load::S32 => Store::W32,
            Load::W64 => Store::W64,
        }
    }

    /// The word the load reads at `addr + offset`, or `None` when that is out of bounds.
    #[inline(always)]
    pub fn read(self, mem: &[u8], addr: u64, offset: u32) -> Option<u64> {
        let width = match self {
            Load::U8 | Load::S8 => 1,
            Load::U16 | Load::S16 => 2,
            Load::U32 | Load::S32 => 4,
            Load::W64 => 8,
        };
        let at = ea(addr, offset, width, mem.len())?;
        Some(match self {
            Load::U8 => u64::from(mem[at]),
            Load::S8 => mem[at] as i8 as i64 as u64,
            Load::U16 => u64::from(u16::from_le_bytes(bytes(mem, at))),
            Load::S16 => i16::from_le_bytes(bytes(mem, at)) as i64 as u64,
            Load::U32 => u64::from(u32::from_le_bytes(bytes(mem, at))),
            Load::S32 => i32::from_le_bytes(bytes(mem, at)) as i64 as u64,
            Load::W64 => u64::from_le_bytes(bytes(mem, at)),
        })
    }
}

impl Store {
    /// Every kind, in discriminant order (`ALL[s as usize] == s`).
    #[cfg(rarvm_threaded)]
    pub const ALL: [Store; 4] = [Store::W8, Store::W16, Store::W32, Store::W64];

    /// Writes the low bytes of `v` at `addr + offset`; false (and nothing written) when
    /// that is out of bounds.
    #[inline(always)]
    pub fn write(self, mem: &mut [u8], addr: u64, offset: u32, v: u64) -> bool {
        let width = match self {
            Store::W8 => 1,
            Store::W16 => 2,
            Store::W32 => 4,
            Store::W64 => 8,
        };
        let Some(at) = ea(addr, offset, width, mem.len()) else {
            return false;
        };
        match self {
            Store::W8 => mem[at] = v as u8,
            Store::W16 => mem[at..at + 2].copy_from_slice(&(v as u16).to_le_bytes()),
            Store::W32 => mem[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes()),
            Store::W64 => mem[at..at + 8].copy_from_slice(&v.to_le_bytes()),
        }
        true
    }
}
