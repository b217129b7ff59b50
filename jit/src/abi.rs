//! The contract between native code and the runtime: the context native code reads and
//! writes, its status and exit codes, frame records, and the `extern "C"` helpers native
//! code calls for instructions whose semantics live in [`rarvm_runtime::sys`].
//!
//! Native function signature: `extern "C" fn(ctx, vals, entry, used, fuel) -> (fuel,
//! result0)`, where `vals` points at the frame's first local in the process's value stack;
//! `entry` is 0 for a call or the block start to resume at plus 1; `used` the frame bytes of
//! the native frames above the one the runtime entered (0 for that frame), which `ctx.mem`
//! does not reflect; `fuel` at most [`FUEL_CAP`]. Arguments travel through the callee's frame in
//! `vals`; the first result in a register, the rest through `vals`. A returned fuel of
//! [`FUEL_EXIT`] means native code was left (`ctx.fuel` and `ctx.exit_*` say the rest);
//! [`FUEL_NOT_COMPILED`] comes from the stand-in for a function not compiled yet, with the
//! fuel it was given as the second result.

use rarvm_runtime::engine::Budget;
use rarvm_runtime::engine::Stop;
use rarvm_runtime::isa::Field;
use rarvm_runtime::ops;
use rarvm_runtime::process::{Fault, Process};

/// Returned as the fuel when the function (or one it called) left native code.
pub const FUEL_EXIT: u64 = u64::MAX;
/// Returned as the fuel by the stand-in for functions not compiled yet; the caller turns it
/// into an exit with the callee's frame pushed at pc 0.
pub const FUEL_NOT_COMPILED: u64 = u64::MAX - 1;
/// Most fuel native code is given; the runtime keeps the rest in reserve.
pub const FUEL_CAP: u64 = 1 << 62;

rarvm_runtime::code_enum! {
    /// Why native code exited (`ctx.exit_reason`).
    pub enum Reason {
        OutOfGas = 1 => "out_of_gas",
        OutOfMemory = 2 => "out_of_memory",
        Fault = 3 => "fault",
        Yield = 4 => "yield",
        Halt = 5 => "halt",
        /// `ret` in the process's entry frame: the runtime moves the results to the port.
        RetEntry = 6 => "return",
        Recurse = 7 => "recurse",
        Fold = 8 => "fold",
        /// A call beyond `used_limit`: the interpreter executes it with exact checks.
        Recheck = 9 => "recheck",
        /// A call reached a function that is not compiled; its frame is pushed at pc 0.
        NotCompiled = 10 => "not_compiled",
        /// `key.invoke`: the machine executes it with its host.
        Invoke = 11 => "invoke",
    }
}

impl Reason {
    pub fn from_u64(v: u64) -> Option<Reason> {
        u8::try_from(v).ok().and_then(Reason::from_u8)
    }
}

/// A frame as native code writes it when it exits.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct FrameRecord {
    pub func: u64,
    pub pc: u64,
    pub base: u64,
}

/// Everything native code shares with the runtime during one native entry.
#[repr(C)]
pub struct Ctx {
    /// The effective budget (see [`Budget`]). Native code keeps `fuel` in a register and
    /// writes it back at helpers and exits; `mem` does not include the frame bytes of the
    /// native frames in progress, which native code passes down as `used`.
    pub fuel: u64,
    pub mem: u64,
    pub gas_extra: u64,
    pub mem_extra: u64,
    /// The process's value stack.
    pub stack_base: *mut u64,
    /// The process's linear memory.
    pub mem_base: *mut u8,
    pub mem_size: u64,
    /// Calls that would take `used` past this go to the interpreter. It is at most `mem`
    /// and at most `struct_limit`.
    pub used_limit: u64,
    /// Frame bytes within which native calls stay inside the frame limit, the value stack's
    /// limit and capacity, and the host stack (frames are charged at least 16 bytes).
    pub struct_limit: u64,
    /// Native entry of each function of the running module.
    pub table: *const *const u8,
    /// Where exiting frames write their records, innermost first.
    pub frames: *mut FrameRecord,
    /// Nonzero if the frame the runtime entered is the process's entry frame.
    pub entered_is_entry: u64,
    pub process: *mut Process,
    /// Native frame bytes outstanding at the last helper call or exit.
    pub used: u64,
    pub exit_reason: u64,
    pub exit_arg: u64,
    /// The value-stack length at the exit.
    pub exit_sp: u64,
    /// Frame records written at the exit.
    pub exit_frames: u64,
    /// Results of the last helper.
    pub out: [u64; 2],
}

impl Ctx {
    /// The budget as the runtime sees it: with the outstanding native frames charged.
    pub fn budget(&self) -> Budget {
        Budget {
            fuel: self.fuel,
            mem: self.mem - self.used,
            gas_extra: self.gas_extra,
            mem_extra: self.mem_extra,
        }
    }

    pub fn set_budget(&mut self, b: &Budget) {
        self.fuel = b.fuel;
        self.mem = b.mem + self.used;
        self.gas_extra = b.gas_extra;
        self.mem_extra = b.mem_extra;
    }
}

/// What a helper returns: 0, or an exit [`Reason`] with `ctx.exit_arg` set.
pub type HelperStatus = u32;

/// Signature of every helper: `(ctx, a, b, c, d) -> status`.
pub type Helper = extern "C" fn(*mut Ctx, u64, u64, u64, u64) -> HelperStatus;

/// The two results of a native function as the C ABI returns them: in two registers on
/// x86-64 (rax, rdx) and aarch64 (x0, x1), where Cranelift returns two integer results.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct NativeResult {
    pub fuel: u64,
    pub result0: u64,
}

/// A native function.
pub type NativeFn = unsafe extern "C" fn(*mut Ctx, *mut u64, u64, u64, u64) -> NativeResult;

/// The stand-in for functions that are not compiled.
pub extern "C" fn not_compiled(
    _ctx: *mut Ctx,
    _vals: *mut u64,
    _entry: u64,
    _used: u64,
    fuel: u64,
) -> NativeResult {
    NativeResult {
        fuel: FUEL_NOT_COMPILED,
        result0: fuel,
    }
}

/// Runs a shared instruction on the process behind `ctx` and maps its outcome.
///
/// # Safety
/// `ctx` must be the context of a live native entry: `ctx.process` points to the process
/// the native code runs, which nothing else accesses during the call.
unsafe fn run<R>(
    ctx: *mut Ctx,
    op: impl FnOnce(&mut Process, &mut Budget) -> Result<R, Stop>,
    out: impl FnOnce(&mut Ctx, R),
) -> HelperStatus {
    // SAFETY: the caller guarantees `ctx` and `ctx.process` are valid and unaliased for
    // the duration of this helper call; native code is suspended in the call.
    let (ctx, p) = unsafe { (&mut *ctx, &mut *(*ctx).process) };
    let mut budget = ctx.budget();
    let result = op(p, &mut budget);
    ctx.set_budget(&budget);
    // Calls within `used_limit` skip the memory check: keep it sound if headroom changed.
    ctx.used_limit = ctx.struct_limit.min(ctx.mem);
    ctx.mem_base = p.memory.as_mut_ptr();
    ctx.mem_size = p.memory.len() as u64;
    match result {
        Ok(r) => {
            out(ctx, r);
            0
        }
        Err(stop) => {
            let (reason, arg) = match stop {
                Stop::Fault(f) => (Reason::Fault, f as u64),
                Stop::OutOfGas(g) => (Reason::OutOfGas, g),
                Stop::OutOfMemory(m) => (Reason::OutOfMemory, m),
                Stop::Fold => (Reason::Fold, 0),
            };
            ctx.exit_arg = arg;
            reason as u32
        }
    }
}

fn fault(f: Fault) -> Stop {
    Stop::Fault(f)
}

macro_rules! helpers {
    ($($(#[$doc:meta])* $name:ident($a:pat, $b:pat, $c:pat, $d:pat) => $op:expr, $out:expr;)*) => {
        $(
            $(#[$doc])*
            pub extern "C" fn $name(ctx: *mut Ctx, $a: u64, $b: u64, $c: u64, $d: u64) -> HelperStatus {
                // SAFETY: native code reaches helpers only through calls it makes with the
                // `ctx` of its live native entry, which is what `run` requires.
                unsafe { run(ctx, $op, $out) }
            }
        )*
    };
}

helpers! {
    /// `mem.grow`: out0 = the old size.
    mem_grow(n, _, _, _) => |p, b| ops::mem_grow(p, b, n), |c, old| c.out[0] = old;
    mem_copy(dst, src, len, _) => |p, b| ops::mem_copy(p, b, dst, src, len), |_, ()| ();
    mem_fill(dst, byte, len, _) => |p, b| ops::mem_fill(p, b, dst, byte, len), |_, ()| ();
    port_in(_, _, _, _) => |p, _| ops::port_in(p).map_err(fault), |c, v| c.out[0] = v;
    port_out(v, _, _, _) => |p, _| ops::port_out(p, v).map_err(fault), |_, ()| ();
    spawn(func, _, _, _) => |p, b| ops::spawn(p, b, func as u32), |c, slot| c.out[0] = slot;
    spawn_bytes(addr, len, _, _) => |p, b| ops::spawn_bytes(p, b, addr, len), |c, (s, e)| c.out = [s, e];
    child_push(slot, v, _, _) => |p, _| ops::child_push(p, slot, v).map_err(fault), |_, ()| ();
    child_pop(slot, _, _, _) => |p, _| ops::child_pop(p, slot).map_err(fault), |c, v| c.out[0] = v;
    child_info(slot, field, _, _) => |p, _| {
        let field = Field::from_u8(field as u8).expect("verified field");
        ops::child_info(p, slot, field).map_err(fault)
    }, |c, v| c.out[0] = v;
    child_grow(slot, n, _, _) => |p, b| ops::child_grow(p, b, slot, n), |c, old| c.out[0] = old;
    child_write(slot, dst, src, len) => |p, b| ops::child_write(p, b, slot, dst, src, len), |_, ()| ();
    child_read(slot, dst, src, len) => |p, b| ops::child_read(p, b, slot, dst, src, len), |_, ()| ();
    child_save(slot, addr, cap, _) => |p, b| ops::child_save(p, b, slot, addr, cap), |c, len| c.out[0] = len;
    child_load(addr, len, _, _) => |p, b| ops::child_load(p, b, addr, len), |c, (s, e)| c.out = [s, e];
    key_kind(slot, _, _, _) => |p, _| Ok(ops::key_kind(p, slot)), |c, k| c.out[0] = k;
    key_drop(slot, _, _, _) => |p, b| ops::key_drop(p, b, slot).map_err(fault), |_, ()| ();
    key_rights(slot, _, _, _) => |p, _| Ok(ops::key_rights(p, slot)), |c, r| c.out[0] = r;
    key_give(slot, child, _, _) => |p, b| ops::key_give(p, b, slot, child), |c, s| c.out[0] = s;
    key_attenuate(slot, rights, addr, len) => |p, b| ops::key_attenuate(p, b, slot, rights, addr, len), |c, (s, e)| c.out = [s, e];
}
