//! The machine's fixed limits and footprint constants (normative: `docs/SPEC.md` §Limits).

/// Largest linear memory of one process, in bytes (4 GiB).
pub const MAX_MEMORY: u64 = 1 << 32;
/// Most frames one process may have.
pub const MAX_CALL_DEPTH: usize = 1 << 16;
/// Most words one process's value stack (all frames' locals and operands) may hold.
pub const MAX_STACK_WORDS: usize = 1 << 24;
/// Most words in one process's port.
pub const MAX_PORT: usize = 64;
/// Most slots in one process's key list.
pub const MAX_KEYS: usize = 4096;

/// Most functions in one module.
pub const MAX_FUNCS: usize = 1 << 16;
/// Most instructions in one function.
pub const MAX_CODE: usize = 1 << 20;
/// Most parameters, and most results, of one function.
pub const MAX_PARAMS: u32 = 64;
/// Most locals (parameters included) of one function.
pub const MAX_LOCALS: u32 = 65_535;
/// Highest operand-stack height a function may reach.
pub const MAX_HEIGHT: u32 = 65_535;
/// Most targets in one `switch` table (default included).
pub const MAX_SWITCH: usize = 1 << 16;
/// Longest function name, in bytes.
pub const MAX_NAME: usize = 255;
/// Most data segments in one module.
pub const MAX_DATA_SEGMENTS: usize = 1 << 16;

/// Footprint of a process record, its port and bookkeeping, in bytes.
pub const PROCESS_BYTES: u64 = 1024;
/// Footprint of one occupied key slot, in bytes.
pub const KEY_BYTES: u64 = 16;
/// Footprint of one frame's record, in bytes (its words are charged separately).
pub const FRAME_RECORD_BYTES: u64 = 16;
/// Footprint of each instruction of a module a process holds as a child's code, besides
/// its encoding: the host's decoded, verified and lowered forms of it.
pub const CODE_BYTES_PER_INSTR: u64 = 96;
/// Footprint of each entry of such a module's `switch` tables, besides its encoding: the
/// host's decoded form and each lowering's (an instruction's share covers its own, not its
/// table's, which may hold up to [`MAX_SWITCH`] entries).
pub const CODE_BYTES_PER_TARGET: u64 = 16;
/// Footprint of each function of such a module, besides its encoding and instructions.
pub const CODE_BYTES_PER_FUNC: u64 = 512;
/// Gas per frozen process a `recurse` moves between the spine and its slots when it
/// resumes a child other than the one parked under it (`docs/SPEC.md` §8).
pub const RELINK_GAS: u64 = 48;
