//! The instruction set, defined once.
//!
//! Every instruction is one row of the [`isa!`] table below. The table generates the
//! [`Opcode`] enum, the typed [`Instr`] enum (opcode plus its immediate), and the
//! [`OpInfo`] rows with mnemonics, immediate kinds, stack effects, gas costs, metering
//! classes and control flow. The assembler, disassembler, codec, verifier, interpreter,
//! JIT and the instruction table in `docs/SPEC.md` ([`markdown_table`]) all read it.

use std::fmt;

/// The kind of immediate operand that follows an opcode in the binary encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImmKind {
    /// No immediate.
    None,
    /// A 64-bit constant word (8 bytes).
    Word,
    /// A local variable index (4 bytes).
    Local,
    /// A branch target: an instruction index in the same function (4 bytes).
    Target,
    /// A function index in the same module (4 bytes).
    Func,
    /// A static byte offset added to a memory address (4 bytes).
    Offset,
    /// A [`Field`] selector of `child.info` (1 byte).
    Field,
    /// A branch table: `n` (4 bytes), then `n + 1` targets of 4 bytes; the last is the default.
    Table,
}

impl ImmKind {
    /// Size in bytes of the fixed part of the immediate.
    pub const fn size(self) -> usize {
        match self {
            ImmKind::None => 0,
            ImmKind::Word => 8,
            ImmKind::Local | ImmKind::Target | ImmKind::Func | ImmKind::Offset | ImmKind::Table => {
                4
            }
            ImmKind::Field => 1,
        }
    }

    fn spec_name(self) -> &'static str {
        match self {
            ImmKind::None => "",
            ImmKind::Word => "word:u64",
            ImmKind::Local => "local:u32",
            ImmKind::Target => "target:u32",
            ImmKind::Func => "func:u32",
            ImmKind::Offset => "offset:u32",
            ImmKind::Field => "field:u8",
            ImmKind::Table => "n:u32, n+1 × target:u32",
        }
    }
}

/// How many operand-stack words an instruction pops and pushes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackEffect {
    /// A fixed number of pops, then pushes.
    Fixed { pops: u8, pushes: u8 },
    /// Pops the callee's parameters, pushes its results.
    Call,
    /// Requires exactly the function's results on the stack and returns them.
    Ret,
}

const fn fixed(pops: u8, pushes: u8) -> StackEffect {
    StackEffect::Fixed { pops, pushes }
}

/// Where an instruction's gas is charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metering {
    /// Its cost is part of its basic block's cost, charged at block entry.
    Block,
    /// It forms a basic block by itself and charges its whole cost when it executes:
    /// the base cost plus `rate` gas per `unit` bytes (rounded up) of its data-dependent
    /// size (`unit == 0`: no data-dependent part). It may stop the process out of gas
    /// or out of memory at itself.
    SelfMetered { rate: u32, unit: u32 },
}

/// Where control goes after an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// To the next instruction.
    Next,
    /// To its target only.
    Jump,
    /// To its target or the next instruction.
    Branch,
    /// To one of its table's targets.
    Switch,
    /// Into the callee, then to the next instruction.
    Call,
    /// Back to the caller.
    Return,
    /// Nowhere: the process stops.
    Stop,
    /// Out to the machine (recurse, yield, key.invoke), later to the next instruction.
    Exit,
}

impl Flow {
    /// True when the instruction ends its basic block.
    pub const fn ends_block(self) -> bool {
        !matches!(self, Flow::Next)
    }
}

/// What an instruction works on: the table's grouping, which engines and the program
/// generator use instead of lists of opcodes of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Control flow.
    Control,
    /// The operand stack and locals.
    Stack,
    /// Two words to one by arithmetic or bits.
    Binary,
    /// One word to one.
    Unary,
    /// Two words to a truth value (1 or 0).
    Compare,
    /// Loads, stores and `mem.size`: native code touches linear memory directly.
    Memory,
    /// Bulk memory operations, executed by the runtime.
    Bulk,
    /// This process's counters, port and yield.
    Process,
    /// Children.
    Children,
    /// Keys.
    Keys,
}

/// Everything the table says about one opcode.
#[derive(Clone, Copy, Debug)]
pub struct OpInfo {
    pub opcode: Opcode,
    pub mnemonic: &'static str,
    pub imm: ImmKind,
    pub stack: StackEffect,
    pub gas: u32,
    pub metering: Metering,
    pub flow: Flow,
    pub class: Class,
    pub doc: &'static str,
}

impl OpInfo {
    /// True when the instruction charges its own gas (see [`Metering::SelfMetered`]).
    pub const fn self_metered(&self) -> bool {
        matches!(self.metering, Metering::SelfMetered { .. })
    }

    /// True when native code reads or writes linear memory (or its size) for it.
    pub const fn touches_memory(&self) -> bool {
        matches!(self.class, Class::Memory)
    }
}

crate::code_enum! {
    /// The selector of `child.info`.
    pub enum Field {
        Status = 0 => "status",
        Fault = 1 => "fault",
        GasLeft = 2 => "gas_left",
        GasUsed = 3 => "gas_used",
        Footprint = 4 => "footprint",
        MemLimit = 5 => "mem_limit",
        MemSize = 6 => "mem_size",
        Port = 7 => "port",
    }
}

impl Field {
    pub fn from_name(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// Turns an `Instr` variant with an optional payload into a pattern.
macro_rules! instr_pat {
    ($name:ident, $x:ident) => {
        Instr::$name
    };
    ($name:ident, $x:ident, $ty:ty) => {
        Instr::$name($x)
    };
}

/// The immediate of a matched `Instr`, widened to a word.
macro_rules! instr_imm {
    ($x:ident) => {
        0
    };
    ($x:ident, $ty:ty) => {
        u64::from($x)
    };
}

/// Builds an `Instr` from an opcode and a word immediate already range-checked by its kind.
macro_rules! instr_make {
    ($name:ident, $v:ident) => {
        Instr::$name
    };
    ($name:ident, $v:ident, $ty:ty) => {
        // The codec reads exactly `size_of::<$ty>()` bytes, so the value always fits.
        Instr::$name($v as $ty)
    };
}

macro_rules! isa {
    ($(
        $code:literal $name:ident $(($ty:ty))? = $mn:literal, $imm:ident, $stack:expr,
        gas $gas:literal, $meter:expr, $flow:ident, $class:ident, $doc:literal;
    )*) => {
        /// An instruction's operation code: the first byte of its encoding.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Opcode { $($name = $code,)* }

        /// A decoded instruction: its opcode and typed immediate.
        ///
        /// `Switch` holds an index into its function's branch tables.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Instr { $($name $(($ty))?,)* }

        /// The instruction table, in opcode order.
        pub const OPS: &[OpInfo] = &[$(
            OpInfo {
                opcode: Opcode::$name,
                mnemonic: $mn,
                imm: ImmKind::$imm,
                stack: $stack,
                gas: $gas,
                metering: $meter,
                flow: Flow::$flow,
                class: Class::$class,
                doc: $doc,
            },
        )*];

        impl Opcode {
            /// The opcode whose encoding is `byte`, if any.
            #[inline]
            pub const fn from_u8(byte: u8) -> Option<Opcode> {
                match byte {
                    $($code => Some(Opcode::$name),)*
                    _ => None,
                }
            }
        }

        impl Instr {
            /// This instruction's opcode.
            #[inline]
            pub const fn opcode(&self) -> Opcode {
                match self {
                    $(instr_pat!($name, _x $(, $ty)?) => Opcode::$name,)*
                }
            }

            /// The immediate as a word (0 for instructions without one).
            #[inline]
            pub fn imm(&self) -> u64 {
                match *self {
                    $(instr_pat!($name, x $(, $ty)?) => instr_imm!(x $(, $ty)?),)*
                }
            }

            /// Builds an instruction from its opcode and immediate. The immediate must fit
            /// the opcode's [`ImmKind`] (the codec guarantees it); excess bits are dropped.
            #[inline]
            pub fn from_parts(op: Opcode, imm: u64) -> Instr {
                match op {
                    $(Opcode::$name => instr_make!($name, imm $(, $ty)?),)*
                }
            }
        }
    };
}

const BLOCK: Metering = Metering::Block;
const fn self_metered(unit: u32) -> Metering {
    Metering::SelfMetered { rate: 1, unit }
}
/// Metering at `rate` gas per `unit` bytes.
const fn self_metered_at(rate: u32, unit: u32) -> Metering {
    Metering::SelfMetered { rate, unit }
}

isa! {
    // ---- control -------------------------------------------------------------------
    0x00 Nop = "nop", None, fixed(0, 0), gas 1, BLOCK, Next, Control,
        "Does nothing.";
    0x01 Trap = "trap", None, fixed(0, 0), gas 1, BLOCK, Stop, Control,
        "Faults with `trap`.";
    0x02 Halt = "halt", None, fixed(0, 0), gas 1, BLOCK, Stop, Control,
        "Stops the process with status `halted`; its frames stay as they are.";
    0x03 Jmp(u32) = "jmp", Target, fixed(0, 0), gas 1, BLOCK, Jump, Control,
        "Continues at `target`.";
    0x04 Jz(u32) = "jz", Target, fixed(1, 0), gas 1, BLOCK, Branch, Control,
        "Pops `c`; continues at `target` if `c == 0`, else at the next instruction.";
    0x05 Jnz(u32) = "jnz", Target, fixed(1, 0), gas 1, BLOCK, Branch, Control,
        "Pops `c`; continues at `target` if `c != 0`, else at the next instruction.";
    0x06 Switch(u32) = "switch", Table, fixed(1, 0), gas 2, BLOCK, Switch, Control,
        "Pops `i`; continues at target `i` if `i < n`, else at the default (last) target.";
    0x07 Call(u32) = "call", Func, StackEffect::Call, gas 5, self_metered(32), Call, Control,
        "Pops the callee's parameters and enters it with a new frame (parameters, then zeroed locals). \
         Faults `call_depth` beyond the frame limit, `stack_overflow` beyond the value-stack limit; \
         the frame's bytes are charged as memory. Dynamic size: the callee's frame bytes.";
    0x08 Ret = "ret", None, StackEffect::Ret, gas 2, BLOCK, Return, Control,
        "Returns the function's results (exactly the words on its operand stack) to the caller. \
         From the entry function: the results are appended to the port and the process is `returned`.";

    // ---- operand stack and locals ----------------------------------------------------
    0x10 Push(u64) = "push", Word, fixed(0, 1), gas 1, BLOCK, Next, Stack,
        "Pushes `word`.";
    0x11 Drop = "drop", None, fixed(1, 0), gas 1, BLOCK, Next, Stack,
        "Pops and discards a word.";
    0x12 Dup = "dup", None, fixed(1, 2), gas 1, BLOCK, Next, Stack,
        "`a -- a a`.";
    0x13 Swap = "swap", None, fixed(2, 2), gas 1, BLOCK, Next, Stack,
        "`a b -- b a`.";
    0x14 Over = "over", None, fixed(2, 3), gas 1, BLOCK, Next, Stack,
        "`a b -- a b a`.";
    0x15 Select = "select", None, fixed(3, 1), gas 1, BLOCK, Next, Stack,
        "`a b c -- (c != 0 ? a : b)`.";
    0x18 LocalGet(u32) = "local.get", Local, fixed(0, 1), gas 1, BLOCK, Next, Stack,
        "Pushes local `local`.";
    0x19 LocalSet(u32) = "local.set", Local, fixed(1, 0), gas 1, BLOCK, Next, Stack,
        "Pops a word into local `local`.";
    0x1a LocalTee(u32) = "local.tee", Local, fixed(1, 1), gas 1, BLOCK, Next, Stack,
        "Copies the top word into local `local` without popping it.";

    // ---- arithmetic (wrapping, 64-bit) -------------------------------------------------
    0x20 Add = "add", None, fixed(2, 1), gas 1, BLOCK, Next, Binary,
        "`a b -- a + b` (wrapping).";
    0x21 Sub = "sub", None, fixed(2, 1), gas 1, BLOCK, Next, Binary,
        "`a b -- a - b` (wrapping).";
    0x22 Mul = "mul", None, fixed(2, 1), gas 3, BLOCK, Next, Binary,
        "`a b -- a * b` (wrapping, low 64 bits).";
    0x23 DivU = "div_u", None, fixed(2, 1), gas 4, BLOCK, Next, Binary,
        "`a b -- a / b` unsigned. Faults `division_by_zero` if `b == 0`.";
    0x24 DivS = "div_s", None, fixed(2, 1), gas 4, BLOCK, Next, Binary,
        "`a b -- a / b` signed, rounding toward zero; `i64::MIN / -1 = i64::MIN`. Faults `division_by_zero` if `b == 0`.";
    0x25 RemU = "rem_u", None, fixed(2, 1), gas 4, BLOCK, Next, Binary,
        "`a b -- a % b` unsigned. Faults `division_by_zero` if `b == 0`.";
    0x26 RemS = "rem_s", None, fixed(2, 1), gas 4, BLOCK, Next, Binary,
        "`a b -- a % b` signed, sign of `a`; `i64::MIN % -1 = 0`. Faults `division_by_zero` if `b == 0`.";
    0x27 And = "and", None, fixed(2, 1), gas 1, BLOCK, Next, Binary,
        "`a b -- a & b`.";
    0x28 Or = "or", None, fixed(2, 1), gas 1, BLOCK, Next, Binary,
        "`a b -- a | b`.";
    0x29 Xor = "xor", None, fixed(2, 1), gas 1, BLOCK, Next, Binary,
        "`a b -- a ^ b`.";
    0x2a Shl = "shl", None, fixed(2, 1), gas 1, BLOCK, Next, Binary,
        "`a b -- a << (b mod 64)`.";
    0x2b ShrU = "shr_u", None, fixed(2, 1), gas 1, BLOCK, Next, Binary,
        "`a b -- a >> (b mod 64)`, logical.";
    0x2c ShrS = "shr_s", None, fixed(2, 1), gas 1, BLOCK, Next, Binary,
        "`a b -- a >> (b mod 64)`, arithmetic.";
    0x2d Rotl = "rotl", None, fixed(2, 1), gas 1, BLOCK, Next, Binary,
        "`a b -- a rotated left by (b mod 64)`.";
    0x2e Rotr = "rotr", None, fixed(2, 1), gas 1, BLOCK, Next, Binary,
        "`a b -- a rotated right by (b mod 64)`.";
    0x30 Not = "not", None, fixed(1, 1), gas 1, BLOCK, Next, Unary,
        "`a -- !a` (bitwise complement).";
    0x31 Neg = "neg", None, fixed(1, 1), gas 1, BLOCK, Next, Unary,
        "`a -- 0 - a` (wrapping).";
    0x32 Clz = "clz", None, fixed(1, 1), gas 1, BLOCK, Next, Unary,
        "`a -- leading zero bits of a` (64 for 0).";
    0x33 Ctz = "ctz", None, fixed(1, 1), gas 1, BLOCK, Next, Unary,
        "`a -- trailing zero bits of a` (64 for 0).";
    0x34 Popcnt = "popcnt", None, fixed(1, 1), gas 1, BLOCK, Next, Unary,
        "`a -- number of one bits of a`.";
    0x35 Eqz = "eqz", None, fixed(1, 1), gas 1, BLOCK, Next, Unary,
        "`a -- (a == 0)` as 1 or 0.";
    0x38 Eq = "eq", None, fixed(2, 1), gas 1, BLOCK, Next, Compare,
        "`a b -- (a == b)`.";
    0x39 Ne = "ne", None, fixed(2, 1), gas 1, BLOCK, Next, Compare,
        "`a b -- (a != b)`.";
    0x3a LtU = "lt_u", None, fixed(2, 1), gas 1, BLOCK, Next, Compare,
        "`a b -- (a < b)` unsigned.";
    0x3b LtS = "lt_s", None, fixed(2, 1), gas 1, BLOCK, Next, Compare,
        "`a b -- (a < b)` signed.";
    0x3c GtU = "gt_u", None, fixed(2, 1), gas 1, BLOCK, Next, Compare,
        "`a b -- (a > b)` unsigned.";
    0x3d GtS = "gt_s", None, fixed(2, 1), gas 1, BLOCK, Next, Compare,
        "`a b -- (a > b)` signed.";
    0x3e LeU = "le_u", None, fixed(2, 1), gas 1, BLOCK, Next, Compare,
        "`a b -- (a <= b)` unsigned.";
    0x3f LeS = "le_s", None, fixed(2, 1), gas 1, BLOCK, Next, Compare,
        "`a b -- (a <= b)` signed.";
    0x40 GeU = "ge_u", None, fixed(2, 1), gas 1, BLOCK, Next, Compare,
        "`a b -- (a >= b)` unsigned.";
    0x41 GeS = "ge_s", None, fixed(2, 1), gas 1, BLOCK, Next, Compare,
        "`a b -- (a >= b)` signed.";

    // ---- linear memory -----------------------------------------------------------------
    0x50 Load8U(u32) = "load8_u", Offset, fixed(1, 1), gas 2, BLOCK, Next, Memory,
        "`addr -- byte at addr + offset`, zero-extended. Faults `out_of_bounds` unless the bytes lie inside memory.";
    0x51 Load8S(u32) = "load8_s", Offset, fixed(1, 1), gas 2, BLOCK, Next, Memory,
        "`addr -- byte`, sign-extended.";
    0x52 Load16U(u32) = "load16_u", Offset, fixed(1, 1), gas 2, BLOCK, Next, Memory,
        "`addr -- u16` (little-endian), zero-extended.";
    0x53 Load16S(u32) = "load16_s", Offset, fixed(1, 1), gas 2, BLOCK, Next, Memory,
        "`addr -- i16`, sign-extended.";
    0x54 Load32U(u32) = "load32_u", Offset, fixed(1, 1), gas 2, BLOCK, Next, Memory,
        "`addr -- u32`, zero-extended.";
    0x55 Load32S(u32) = "load32_s", Offset, fixed(1, 1), gas 2, BLOCK, Next, Memory,
        "`addr -- i32`, sign-extended.";
    0x56 Load64(u32) = "load64", Offset, fixed(1, 1), gas 2, BLOCK, Next, Memory,
        "`addr -- u64`.";
    0x58 Store8(u32) = "store8", Offset, fixed(2, 0), gas 2, BLOCK, Next, Memory,
        "`addr v --`; stores the low byte of `v` at `addr + offset`.";
    0x59 Store16(u32) = "store16", Offset, fixed(2, 0), gas 2, BLOCK, Next, Memory,
        "`addr v --`; stores the low 16 bits.";
    0x5a Store32(u32) = "store32", Offset, fixed(2, 0), gas 2, BLOCK, Next, Memory,
        "`addr v --`; stores the low 32 bits.";
    0x5b Store64(u32) = "store64", Offset, fixed(2, 0), gas 2, BLOCK, Next, Memory,
        "`addr v --`; stores all 64 bits.";
    0x5c MemSize = "mem.size", None, fixed(0, 1), gas 1, BLOCK, Next, Memory,
        "`-- size`: the memory size in bytes.";
    0x5d MemGrow = "mem.grow", None, fixed(1, 1), gas 10, self_metered(32), Next, Bulk,
        "`n -- old_size`: appends `n` zero bytes, charged as memory. Faults `memory_cap` beyond the memory limit. Dynamic size: `n`.";
    0x5e MemCopy = "mem.copy", None, fixed(3, 0), gas 5, self_metered(32), Next, Bulk,
        "`dst src len --`: copies `len` bytes (ranges may overlap). Faults `out_of_bounds` unless both ranges lie inside memory. Dynamic size: `len`.";
    0x5f MemFill = "mem.fill", None, fixed(3, 0), gas 5, self_metered(32), Next, Bulk,
        "`dst byte len --`: fills `len` bytes with the low byte of `byte`. Dynamic size: `len`.";

    // ---- this process ------------------------------------------------------------------
    0x60 GasLeft = "gas.left", None, fixed(0, 1), gas 1, BLOCK, Next, Process,
        "`-- g`: this process's own gas left (after its block was charged).";
    0x61 MemLeft = "mem.left", None, fixed(0, 1), gas 1, BLOCK, Next, Process,
        "`-- m`: this process's own memory headroom: `mem_limit - footprint`.";
    0x62 In = "in", None, fixed(0, 1), gas 1, BLOCK, Next, Process,
        "`-- v`: pops the top word of this process's port. Faults `stack_underflow` if it is empty.";
    0x63 Out = "out", None, fixed(1, 0), gas 1, BLOCK, Next, Process,
        "`v --`: pushes `v` onto this process's port. Faults `stack_overflow` if it is full.";
    0x64 Yield = "yield", None, fixed(0, 0), gas 10, BLOCK, Exit, Process,
        "Pauses the process with status `yielded`; `recurse` resumes it at the next instruction.";

    // ---- children ----------------------------------------------------------------------
    0x70 Spawn(u32) = "spawn", Func, fixed(0, 1), gas 100, self_metered(32), Next, Children,
        "`-- slot`: creates a `ready` child running function `func` of this module (sharing its code) \
         with the module's initial memory; its footprint plus a key is charged as memory. Faults `key_limit` if the key list is full. \
         Dynamic size: the child's initial memory plus its entry frame's bytes.";
    0x71 SpawnBytes = "spawn.bytes", None, fixed(2, 2), gas 200, self_metered_at(CODE_BYTE_GAS, 1), Next, Children,
        "`addr len -- slot err`: decodes and verifies a module from memory and creates a `ready` child running its entry function. \
         `err` is 0 on success, 1 if the bytes are not a module, 2 if it fails verification (then `slot` is `u64::MAX`). \
         Gas is charged before decoding and kept even if the child then does not fit. Dynamic size: `len`; then, \
         as for `spawn`, 1 per 32 B of the child's initial memory and entry frame, charged with its memory.";
    0x72 Recurse = "recurse", None, fixed(3, 1), gas 50, BLOCK, Exit, Children,
        "`slot gas mem -- status`: adds `gas` and `mem` to the child's allowances and runs it until it stops; \
         pushes its status. Faults `invalid_key` unless `slot` holds a process.";
    0x73 ChildPush = "child.push", None, fixed(2, 0), gas 5, BLOCK, Next, Children,
        "`slot v --`: pushes `v` onto the child's port. Faults `stack_overflow` if it is full.";
    0x74 ChildPop = "child.pop", None, fixed(1, 1), gas 5, BLOCK, Next, Children,
        "`slot -- v`: pops the top word of the child's port. Faults `stack_underflow` if it is empty.";
    0x75 ChildInfo(u8) = "child.info", Field, fixed(1, 1), gas 5, BLOCK, Next, Children,
        "`slot -- v`: reads a field of the child: status, fault, gas_left, gas_used, footprint, mem_limit, mem_size or port (its length).";
    0x76 ChildGrow = "child.grow", None, fixed(2, 1), gas 10, self_metered(32), Next, Children,
        "`slot n -- old_size`: grows the child's memory by `n` zero bytes and raises its memory limit by `n`; charged as this process's memory. Dynamic size: `n`.";
    0x77 ChildWrite = "child.write", None, fixed(4, 0), gas 10, self_metered(32), Next, Children,
        "`slot dst src len --`: copies `len` bytes from this memory at `src` to the child's memory at `dst`. Dynamic size: `len`.";
    0x78 ChildRead = "child.read", None, fixed(4, 0), gas 10, self_metered(32), Next, Children,
        "`slot dst src len --`: copies `len` bytes from the child's memory at `src` to this memory at `dst`. Dynamic size: `len`.";
    0x79 ChildSave = "child.save", None, fixed(3, 1), gas 100, self_metered(32), Next, Children,
        "`slot addr cap -- len`: writes the image of the child and its subtree at `addr` if its length is at most `cap`; \
         pushes the length either way. Faults `out_of_bounds` unless `addr .. addr + cap` lies inside memory. \
         Dynamic size: the child's total footprint plus its module's encoding (at least the image length).";
    0x7a ChildLoad = "child.load", None, fixed(2, 2), gas 200, self_metered(1), Next, Children,
        "`addr len -- slot err`: decodes an image from memory into a new child (`err` 0), or pushes `u64::MAX 1` if the bytes are not a valid image, `u64::MAX 3` if it holds keys the host answers or a transcript. \
         Gas is charged before decoding and kept even if the child then does not fit. Dynamic size: `len`, and the \
         modules its image holds at `spawn.bytes`' rate; then 1 per 32 B of the new child's total footprint, charged with it.";

    // ---- keys --------------------------------------------------------------------------
    0x80 KeyKind = "key.kind", None, fixed(1, 1), gas 2, BLOCK, Next, Keys,
        "`slot -- kind`: 0 if the slot is empty or beyond the key list, 1 if it holds a process, else the host key's kind code (§Keys).";
    0x81 KeyDrop = "key.drop", None, fixed(1, 0), gas 20, BLOCK, Next, Keys,
        "`slot --`: drops the key and releases its footprint; a child is destroyed with its subtree. Faults `invalid_key` if the slot is empty.";
    0x82 KeyRights = "key.rights", None, fixed(1, 1), gas 2, BLOCK, Next, Keys,
        "`slot -- rights`: the rights a host key carries; 0 for an empty slot, a process, or a slot beyond the key list.";
    0x83 KeyGive = "key.give", None, fixed(2, 1), gas 20, self_metered(0), Next, Keys,
        "`slot child -- cslot`: copies the host key in `slot` into the lowest free slot of the child's key list and pushes that slot. \
         Raises the child's memory limit by the key's footprint, which is charged as this process's memory. \
         Faults `invalid_key` unless `slot` holds a host key and `child` a process; `key_limit` if the child's list is full.";
    0x84 KeyAttenuate = "key.attenuate", None, fixed(4, 2), gas 20, self_metered(16), Next, Keys,
        "`slot rights addr len -- slot' err`: derives a key with the rights `rights(slot) & rights` and, for a filesystem key with `len > 0`, \
         the scope narrowed to the relative path at `addr .. addr + len`; charges its footprint and pushes its slot and 0, \
         or `u64::MAX` and `bad_path` (or `unsupported` for a kind without a scope). Dynamic size: `len`.";
    0x85 KeyInvoke = "key.invoke", None, fixed(5, 2), gas 100, self_metered(16), Exit, Keys,
        "`slot op arg addr len -- r err`: performs operation `op` of the host key in `slot` with the word `arg` and the memory range `addr .. addr + len` \
         (see §Keys); pushes its result and error code. A host answer is recorded in the root's transcript, charged to the root's memory. \
         Faults `invalid_key` unless `slot` holds a host key. Dynamic size: `len`; a call the host answers adds `HOST_CALL_GAS` \
         for it and for each component of the key's scope.";
}

impl Opcode {
    /// Everything the table says about this opcode.
    #[inline]
    pub fn info(self) -> &'static OpInfo {
        &OPS[INDEX[self as usize] as usize]
    }

    /// The opcode written as `mnemonic` in assembler text.
    pub fn from_mnemonic(mnemonic: &str) -> Option<Opcode> {
        OPS.iter()
            .find(|i| i.mnemonic == mnemonic)
            .map(|i| i.opcode)
    }

    /// All opcodes in encoding order.
    pub fn all() -> impl Iterator<Item = Opcode> {
        OPS.iter().map(|i| i.opcode)
    }
}

impl Instr {
    /// Everything the table says about this instruction's opcode.
    #[inline]
    pub fn info(&self) -> &'static OpInfo {
        self.opcode().info()
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.info().mnemonic)
    }
}

/// `INDEX[byte]` is the row of opcode `byte` in [`OPS`].
const INDEX: [u8; 256] = {
    let mut index = [u8::MAX; 256];
    let mut i = 0;
    while i < OPS.len() {
        index[OPS[i].opcode as usize] = i as u8;
        i += 1;
    }
    index
};

/// The gas of a self-metered instruction whose data-dependent size is `bytes`: its base
/// cost plus `ceil(bytes / unit)`, saturating at `u64::MAX`.
#[inline]
pub fn dynamic_gas(op: Opcode, bytes: u64) -> u64 {
    u64::from(op.info().gas).saturating_add(unit_gas(op, bytes))
}

/// The data-dependent part of [`dynamic_gas`] alone: `ceil(bytes / unit)` (0 without one).
#[inline]
pub fn unit_gas(op: Opcode, bytes: u64) -> u64 {
    match op.info().metering {
        Metering::SelfMetered { rate, unit } if unit > 0 => bytes
            .div_ceil(u64::from(unit))
            .saturating_mul(u64::from(rate)),
        _ => 0,
    }
}

/// Gas per byte of module code handed to the host to decode, verify and prepare to run
/// (`spawn.bytes`, and the modules of an image at `child.load`): the most work per gas
/// a host does, priced so that it stays within `docs/SPEC.md` §7.1's bound. A one-byte
/// instruction costs the host some 500 instructions of work and 57 bytes of fresh memory
/// it must fault in (decoded, verified and lowered forms); at 16 gas a byte, that sat at
/// the bound.
pub const CODE_BYTE_GAS: u32 = 32;

/// Gas per 32 bytes a process comes to hold that instructions copy or zero for it: the
/// second phase of `spawn.bytes` and `child.load` (the child's memory and frames).
pub const HOLD_UNIT: u64 = 32;

/// Renders the instruction table as the Markdown table embedded in `docs/SPEC.md`.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| opcode | mnemonic | immediate | stack | gas | metering | flow | semantics |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for op in OPS {
        let stack = match op.stack {
            StackEffect::Fixed { pops, pushes } => format!("{pops} → {pushes}"),
            StackEffect::Call => "params → results".to_string(),
            StackEffect::Ret => "results → ∅".to_string(),
        };
        let metering = match op.metering {
            Metering::Block => "block".to_string(),
            Metering::SelfMetered { unit: 0, .. } => "self".to_string(),
            Metering::SelfMetered { rate, unit } => format!("self, +{rate} per {unit} B"),
        };
        let flow = format!("{:?}", op.flow).to_lowercase();
        out.push_str(&format!(
            "| `0x{:02x}` | `{}` | {} | {} | {} | {} | {} | {} |\n",
            op.opcode as u8,
            op.mnemonic,
            op.imm.spec_name(),
            stack,
            op.gas,
            metering,
            flow,
            op.doc.replace('|', "\\|"),
        ));
    }
    out
}

/// Checks that `docs/SPEC.md` holds `table` between the markers of section `marker`
/// (generated from `source`), or rewrites it there when `UPDATE_SPEC` is set.
#[cfg(test)]
pub(crate) fn check_spec_section(marker: &str, source: &str, table: &str) {
    let begin = format!("<!-- BEGIN {marker} (generated from {source}) -->\n");
    let end = format!("<!-- END {marker} -->");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/SPEC.md");
    let spec = std::fs::read_to_string(path).expect("docs/SPEC.md exists");
    let start = spec
        .find(&begin)
        .unwrap_or_else(|| panic!("SPEC.md has the marker {begin:?}"))
        + begin.len();
    let stop = spec
        .find(&end)
        .unwrap_or_else(|| panic!("SPEC.md has the marker {end:?}"));
    if spec[start..stop] != *table {
        if std::env::var_os("UPDATE_SPEC").is_some() {
            let updated = format!("{}{}{}", &spec[..start], table, &spec[stop..]);
            std::fs::write(path, updated).expect("SPEC.md is writable");
        } else {
            panic!("docs/SPEC.md's {marker} is stale: run UPDATE_SPEC=1 cargo test -p rarvm-runtime spec_table");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_and_mnemonics_are_unique_and_indexed() {
        let mut seen = std::collections::BTreeSet::new();
        for (i, op) in OPS.iter().enumerate() {
            assert!(
                seen.insert(op.mnemonic),
                "duplicate mnemonic {}",
                op.mnemonic
            );
            assert_eq!(Opcode::from_u8(op.opcode as u8), Some(op.opcode));
            assert_eq!(op.opcode.info().mnemonic, op.mnemonic);
            assert_eq!(Opcode::from_mnemonic(op.mnemonic), Some(op.opcode));
            if i > 0 {
                assert!(
                    OPS[i - 1].opcode < op.opcode,
                    "table not in opcode order at {}",
                    op.mnemonic
                );
            }
        }
        let defined = (0..=255u8)
            .filter(|b| Opcode::from_u8(*b).is_some())
            .count();
        assert_eq!(defined, OPS.len());
    }

    #[test]
    fn immediates_roundtrip_through_parts() {
        for op in Opcode::all() {
            let imm = match op.info().imm {
                ImmKind::None => 0,
                ImmKind::Word => 0xdead_beef_0123_4567,
                ImmKind::Field => 7,
                _ => 0x1234_5678,
            };
            let ins = Instr::from_parts(op, imm);
            assert_eq!(ins.opcode(), op);
            assert_eq!(ins.imm(), imm, "{op}");
        }
    }

    #[test]
    fn self_metered_instructions_end_blocks_or_flow_next() {
        for op in OPS {
            if op.self_metered() {
                assert!(
                    matches!(op.flow, Flow::Next | Flow::Call | Flow::Exit),
                    "{}",
                    op.mnemonic
                );
            }
        }
    }

    #[test]
    fn instr_stays_small() {
        assert_eq!(std::mem::size_of::<Instr>(), 16);
    }

    /// `docs/SPEC.md` embeds [`markdown_table`] between markers; regenerate it with
    /// `UPDATE_SPEC=1 cargo test -p rarvm-runtime spec_table`.
    #[test]
    fn spec_table_is_current() {
        check_spec_section("INSTRUCTION TABLE", "runtime/src/isa.rs", &markdown_table());
    }

    #[test]
    fn dynamic_gas_rounds_up_and_saturates() {
        assert_eq!(dynamic_gas(Opcode::MemCopy, 0), 5);
        assert_eq!(dynamic_gas(Opcode::MemCopy, 1), 6);
        assert_eq!(dynamic_gas(Opcode::MemCopy, 32), 6);
        assert_eq!(dynamic_gas(Opcode::MemCopy, 33), 7);
        assert_eq!(dynamic_gas(Opcode::Spawn, 64), 102);
        assert_eq!(dynamic_gas(Opcode::SpawnBytes, 10), 200 + 10 * 32);
        assert_eq!(dynamic_gas(Opcode::SpawnBytes, u64::MAX), u64::MAX);
        assert_eq!(unit_gas(Opcode::ChildLoad, 5), 5);
        assert_eq!(unit_gas(Opcode::MemCopy, 65), 3);
        assert_eq!(unit_gas(Opcode::Nop, 5), 0);
    }
}
