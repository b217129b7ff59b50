//! Threaded dispatch: [`crate::Interp`]'s fast path where the compiler builds it (see
//! `build.rs`).
//!
//! Every op the fast path takes is a function ending in a call of the next op's function
//! in tail position, which optimizing LLVM on x86-64 and aarch64 turns into a jump. Each
//! op thus dispatches through an indirect jump of its own, predicted on its own, instead
//! of the one shared jump at the head of a `match` loop; the loop's state (the op, the
//! frame, the operand stack top and the fuel left) travels in argument registers. A
//! function is chosen for each op when the function is lowered, knowing the ops around
//! it: a branch whose next op or target begins a charged block pays that charge itself,
//! as a call pays its callee's entry block and a return the block after the call, and
//! only a branch backward asks whether a tiering policy watches it; a set
//! or store followed by a jump to a charged block takes the jump, and an op followed by a
//! `ret` of one result returns, saving those ops a dispatch of their own.
//!
//! The fast path takes only the plain case of an op: one that would stop (gas short, a
//! fault, a backward jump a tiering policy may take over at) or that touches more than
//! memory, gas, locals and operands — and every op it has no function for — returns to
//! [`crate::exec`]'s loop at that op *before changing anything*, and the loop executes
//! it. So every stop, fault and image is made by the loop, whose semantics stay the only
//! ones for anything observable; this module is an accelerator for the runs between.
//!
//! # Safety
//! The pointers the functions receive come from [`enter`]: `ip` points at an op of the
//! running function's op array (an entry, a branch target, or the op after one that falls
//! through — all in bounds, see `crate::exec::at`), `fp` at the frame's first local and
//! `sp` one past its operand stack's top. Verified stack heights and local indices keep
//! every word an op reads or writes inside the frame, which `reserve_stack` keeps inside
//! the stack's length, and nothing here resizes the stack. [`handler`] hands each op to
//! its own function only, so each function's `let … else` names the op it was given.

use std::hint::unreachable_unchecked;

use rarvm_runtime::engine::Budget;
use rarvm_runtime::isa::Instr;
use rarvm_runtime::limits::{MAX_CALL_DEPTH, MAX_STACK_WORDS};
use rarvm_runtime::process::{Frame, Process};

use crate::access::{Load, Store};
use crate::alu::{Alu, Div, Un};
use crate::lower::{switch_entry, Func, Op, Slot};

/// What the fast path reads besides the frame.
pub(crate) struct Cx<'a> {
    funcs: &'a [Func],
    /// The running function, its first op and its `switch` tables.
    f: &'a Func,
    ops: *const Slot,
    tables: &'a [Box<[u32]>],
    mem: &'a mut [u8],
    frames: &'a mut Vec<Frame>,
    /// The value stack's first word, its length, and how far a callee's frame may reach
    /// on it (its length, at most the stack limit).
    stack: *mut u64,
    stack_len: usize,
    stack_limit: usize,
    /// How many frames there may be without the loop's help: below the depth limit, and
    /// no more than fit without growing `frames`.
    frames_limit: usize,
    /// The fuel left where the fast path returned (it travels in a register until then).
    fuel: u64,
    mem_left: u64,
    /// Backward jumps, calls and returns need not return to the loop: no tiering policy
    /// watches them.
    back: bool,
}

impl<'a> Cx<'a> {
    /// Makes `f` the running function.
    #[inline(always)]
    fn switch_to(&mut self, f: &'a Func) {
        self.f = f;
        self.ops = f.ops.as_ptr();
        self.tables = &f.tables;
    }
}

/// Where the fast path returned to the loop: the op it did not take, and the stack top.
pub(crate) struct At {
    ip: *const Slot,
    sp: *mut u64,
}

pub(crate) type H = for<'a, 'b> fn(&'b mut Cx<'a>, *const Slot, *mut u64, *mut u64, u64) -> At;

/// Runs the ops from index `ip` of `f`, the top frame's function, with the frame at
/// `base` and the stack top at `sp`, until one the fast path does not take; returns that
/// op's index and the stack top. Calls and returns may have changed the top frame.
#[allow(clippy::too_many_arguments)]
pub(crate) fn enter(
    p: &mut Process,
    b: &mut Budget,
    funcs: &[Func],
    f: &Func,
    back: bool,
    ip: usize,
    base: usize,
    sp: usize,
) -> (usize, usize) {
    let stack = p.stack.as_mut_ptr();
    let frames_limit = p.frames.capacity().min(MAX_CALL_DEPTH);
    let mut cx = Cx {
        funcs,
        f,
        ops: f.ops.as_ptr(),
        tables: &f.tables,
        mem: &mut p.memory,
        frames: &mut p.frames,
        stack,
        stack_len: p.stack.len(),
        stack_limit: p.stack.len().min(MAX_STACK_WORDS),
        frames_limit,
        fuel: b.fuel,
        mem_left: b.mem,
        back,
    };
    // SAFETY: `ip` is an op index the loop reached, `base` and `sp` lie within the frame
    // the loop reserved (see the module docs).
    let at = unsafe {
        let ip = cx.ops.add(ip);
        go(&mut cx, ip, stack.add(base), stack.add(sp), b.fuel)
    };
    (b.fuel, b.mem) = (cx.fuel, cx.mem_left);
    // SAFETY: both pointers were derived from the running function's ops and from `stack`,
    // and stayed in their arrays.
    unsafe {
        (
            at.ip.offset_from(cx.ops) as usize,
            at.sp.offset_from(stack) as usize,
        )
    }
}

/// Dispatches op `ip`.
#[inline(always)]
unsafe fn go(cx: &mut Cx<'_>, ip: *const Slot, fp: *mut u64, sp: *mut u64, fuel: u64) -> At {
    ((*ip).h)(cx, ip, fp, sp, fuel)
}

/// Back to the loop at `ip` with the stack top at `sp` and `fuel` left.
#[inline(always)]
fn out(cx: &mut Cx<'_>, ip: *const Slot, sp: *mut u64, fuel: u64) -> At {
    cx.fuel = fuel;
    At { ip, sp }
}

/// Back to the loop at `ip`, unchanged.
pub(crate) fn to_loop(
    cx: &mut Cx<'_>,
    ip: *const Slot,
    _: *mut u64,
    sp: *mut u64,
    fuel: u64,
) -> At {
    out(cx, ip, sp, fuel)
}

/// Zeroes `n` words at `at`, word by word: a frame's few locals, not worth a call of
/// `memset` (whose call would make every call save and restore the callee-saved registers).
#[inline(always)]
unsafe fn zero(at: *mut u64, n: usize) {
    for i in 0..n {
        // Volatile only to keep the loop a loop rather than a call of `memset`.
        std::ptr::write_volatile(at.add(i), 0);
    }
}

/// Moves `n` words from `from` down to `to` (`to <= from`), word by word, as [`zero`].
#[inline(always)]
unsafe fn copy(from: *const u64, to: *mut u64, n: usize) {
    for i in 0..n {
        std::ptr::write_volatile(to.add(i), *from.add(i));
    }
}

/// Binds the operands of the op at `ip`, the function's own op (see [`handler`]).
macro_rules! operands {
    ($ip:ident, $pat:pat) => {
        let $pat = (*$ip).op else {
            // SAFETY: `handler` gives each function only its own op.
            unreachable_unchecked()
        };
    };
}

/// The op at `t`, unless it is a backward jump the loop must see. `BACK`: the target is at
/// or before the branch, as the branch's function was chosen knowing, so the jump is taken
/// here only when no policy watches backward jumps.
#[inline(always)]
unsafe fn target<const BACK: bool>(cx: &Cx<'_>, t: u32) -> Option<*const Slot> {
    (!BACK || cx.back).then(|| cx.ops.add(t as usize))
}

/// Enters the op at `to` with the stack top at `sp`. When `CHARGE` — the op there is a
/// block's charge, as the function was chosen knowing — pays it and goes on after it; if
/// the gas is short, the charge's own function stops there.
#[inline(always)]
unsafe fn enter_at<const CHARGE: bool>(
    cx: &mut Cx<'_>,
    to: *const Slot,
    fp: *mut u64,
    sp: *mut u64,
    fuel: u64,
) -> At {
    if CHARGE {
        operands!(to, Op::Charge(cost));
        return pay(cx, to, cost, fp, sp, fuel);
    }
    go(cx, to, fp, sp, fuel)
}

/// Pays `cost`, the charge at `to`, and goes on after it; if the gas is short, the
/// charge's own function stops there.
#[inline(always)]
unsafe fn pay(
    cx: &mut Cx<'_>,
    to: *const Slot,
    cost: u32,
    fp: *mut u64,
    sp: *mut u64,
    fuel: u64,
) -> At {
    let cost = u64::from(cost);
    if fuel >= cost {
        return go(cx, to.add(1), fp, sp, fuel - cost);
    }
    go(cx, to, fp, sp, fuel)
}

/// Goes on after op `ip` with the stack top at `sp`. When `JUMP` — the next op is a jump
/// to a charged block (`JmpCharge`), backward when `BACK`, as the function was chosen
/// knowing — takes that jump too, paying the target's charge (whose own function stops
/// when the gas is short); when the jump must go back to the loop, the jump's own function
/// does.
#[inline(always)]
unsafe fn then<const JUMP: bool, const BACK: bool>(
    cx: &mut Cx<'_>,
    ip: *const Slot,
    fp: *mut u64,
    sp: *mut u64,
    fuel: u64,
) -> At {
    let next = ip.add(1);
    if JUMP {
        operands!(next, Op::JmpCharge(cost, t));
        if let Some(to) = target::<BACK>(cx, t) {
            return pay(cx, to, cost, fp, sp, fuel);
        }
    }
    go(cx, next, fp, sp, fuel)
}

/// Goes where `switch` table `t` sends `i`, the stack top then `sp` (paying the target's
/// charge when `TC`: every target is a charge); a table may go both ways, so a backward
/// target goes back to the loop at `ip` while a policy watches — unless `TF`: every
/// target is forward.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn switch_on<const TC: bool, const TF: bool>(
    cx: &mut Cx<'_>,
    ip: *const Slot,
    fp: *mut u64,
    sp0: *mut u64,
    fuel: u64,
    t: u32,
    i: u64,
    sp: *mut u64,
) -> At {
    // SAFETY: the verifier proved the table exists; it holds at least its default, and
    // `switch_entry` is one of its entries.
    let table = cx.tables.get_unchecked(t as usize);
    let to = cx
        .ops
        .add(*table.get_unchecked(switch_entry(table.len(), i)) as usize);
    if TF || cx.back || to > ip {
        return enter_at::<TC>(cx, to, fp, sp, fuel);
    }
    out(cx, ip, sp0, fuel)
}

/// Enters the op at `to`, a block start, with the stack top at `sp`: pays the block's
/// charge if it has one (a block whose first instruction is self-metered has none) and
/// goes on after it; if the gas is short, the charge's own function stops there.
#[inline(always)]
unsafe fn charged(cx: &mut Cx<'_>, to: *const Slot, fp: *mut u64, sp: *mut u64, fuel: u64) -> At {
    if let Op::Charge(cost) = (*to).op {
        return pay(cx, to, cost, fp, sp, fuel);
    }
    go(cx, to, fp, sp, fuel)
}

/// Goes on after op `ip` with the stack top at `sp`. When `RET` — the next op is a `ret`
/// of one result, as the function was chosen knowing — returns, saving the `ret` a
/// dispatch of its own.
#[inline(always)]
unsafe fn next<const RET: bool>(
    cx: &mut Cx<'_>,
    ip: *const Slot,
    fp: *mut u64,
    sp: *mut u64,
    fuel: u64,
) -> At {
    if RET {
        ret::<true>(cx, ip.add(1), fp, sp, fuel)
    } else {
        go(cx, ip.add(1), fp, sp, fuel)
    }
}

/// Goes to `t` with the stack top at `sp` (paying its charge when `tc`; `tb`: `t` is
/// backward), or back to the loop at `ip` and `sp0`.
macro_rules! branch {
    ($cx:ident, $ip:ident, $fp:ident, $sp0:ident, $fuel:ident, $t:expr, $sp:expr, $tc:expr, $tb:expr) => {
        match target::<$tb>($cx, $t) {
            Some(to) => enter_at::<$tc>($cx, to, $fp, $sp, $fuel),
            None => out($cx, $ip, $sp0, $fuel),
        }
    };
}

/// Takes the branch to `t` when `taken`, else goes on, the stack top at `sp`; `C` and `TC`
/// say whether the next op and the target op are charges (see [`enter_at`]), `TB` whether
/// the target is backward (see [`target`]).
macro_rules! cond {
    ($cx:ident, $ip:ident, $fp:ident, $sp0:ident, $fuel:ident, $taken:expr, $t:expr, $sp:expr) => {{
        let sp = $sp;
        if $taken {
            branch!($cx, $ip, $fp, $sp0, $fuel, $t, sp, TC, TB)
        } else {
            enter_at::<C>($cx, $ip.add(1), $fp, sp, $fuel)
        }
    }};
}

/// A load of kind `L` at `addr + o` whose word goes to `slot`, the stack top then `sp`;
/// out of bounds, back to the loop, which faults.
macro_rules! load {
    ($cx:ident, $ip:ident, $fp:ident, $sp0:ident, $fuel:ident, $l:expr, $addr:expr, $o:expr, $slot:expr, $sp:expr, $j:expr, $jb:expr) => {
        match $l.read($cx.mem, $addr, $o) {
            Some(v) => {
                *$slot = v;
                then::<$j, $jb>($cx, $ip, $fp, $sp, $fuel)
            }
            None => out($cx, $ip, $sp0, $fuel),
        }
    };
}

/// A store of kind `S` of `v` at `addr + o`, the stack top then `sp`.
macro_rules! store {
    ($cx:ident, $ip:ident, $fp:ident, $sp0:ident, $fuel:ident, $s:expr, $addr:expr, $v:expr, $o:expr, $sp:expr, $j:expr, $jb:expr) => {
        if $s.write($cx.mem, $addr, $o, $v) {
            then::<$j, $jb>($cx, $ip, $fp, $sp, $fuel)
        } else {
            out($cx, $ip, $sp0, $fuel)
        }
    };
}

/// Defines op functions: `fn name<consts>(cx, ip, fp, sp) { body }`, the body unsafe
/// (see the module docs).
macro_rules! ops {
    ($( fn $name:ident $(<$(const $g:ident: $gt:ty),*>)? ($cx:ident, $ip:ident, $fp:ident, $sp:ident, $fuel:ident) $body:block )*) => {$(
        #[allow(unused_variables)]
        fn $name $(<$(const $g: $gt),*>)? ($cx: &mut Cx<'_>, $ip: *const Slot, $fp: *mut u64, $sp: *mut u64, $fuel: u64) -> At {
            // SAFETY: see the module docs.
            unsafe { $body }
        }
    )*};
}

#[inline(always)]
fn alu<const A: u8>() -> Alu {
    Alu::ALL[A as usize]
}

/// Whether a branch on `v`, the result of `A`, is taken, `nz` its sense: a comparison's
/// branch goes when it holds (see `fuse::when_holds`, and [`handler`], which gives any
/// other to the loop), so its function reads no sense and branches on `v` alone.
#[inline(always)]
fn holds<const A: u8>(v: u64, nz: bool) -> bool {
    if alu::<A>().negated().is_some() {
        v != 0
    } else {
        (v != 0) == nz
    }
}

#[inline(always)]
fn ld<const L: u8>() -> Load {
    Load::ALL[L as usize]
}

#[inline(always)]
fn st<const S: u8>() -> Store {
    Store::ALL[S as usize]
}

/// Local `i`.
macro_rules! l {
    ($fp:ident, $i:expr) => {
        *$fp.add($i as usize)
    };
}

ops! {
    fn charge(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::Charge(cost));
        let cost = u64::from(cost);
        if fuel < cost {
            return out(cx, ip, sp, fuel);
        }
        go(cx, ip.add(1), fp, sp, fuel - cost)
    }
    fn jmp_charge<const B: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::JmpCharge(cost, t));
        let cost = u64::from(cost);
        match target::<B>(cx, t) {
            Some(to) if fuel >= cost => go(cx, to.add(1), fp, sp, fuel - cost),
            _ => out(cx, ip, sp, fuel),
        }
    }
    fn mov<const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::Mov(d, x));
        l!(fp, d) = l!(fp, x);
        then::<J, JB>(cx, ip, fp, sp, fuel)
    }
    fn get2(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::Get2(x, y));
        *sp = l!(fp, x);
        *sp.add(1) = l!(fp, y);
        go(cx, ip.add(1), fp, sp.add(2), fuel)
    }
    fn bin_l<const A: u8, const R: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::BinL(_, x));
        *sp.sub(1) = alu::<A>().eval(*sp.sub(1), l!(fp, x));
        next::<R>(cx, ip, fp, sp, fuel)
    }
    fn bin_ll<const A: u8, const R: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::BinLL(_, x, y));
        *sp = alu::<A>().eval(l!(fp, x), l!(fp, y));
        next::<R>(cx, ip, fp, sp.add(1), fuel)
    }
    fn bin_li<const A: u8, const R: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::BinLI(_, x, c));
        *sp = alu::<A>().eval(l!(fp, x), u64::from(c));
        next::<R>(cx, ip, fp, sp.add(1), fuel)
    }
    fn bin_i<const A: u8>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::BinI(_, c));
        *sp.sub(1) = alu::<A>().eval(*sp.sub(1), c.get());
        go(cx, ip.add(1), fp, sp, fuel)
    }
    fn tee_i<const A: u8>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::TeeI(_, d, c));
        let v = alu::<A>().eval(*sp.sub(1), c.get());
        *sp.sub(1) = v;
        l!(fp, d) = v;
        go(cx, ip.add(1), fp, sp, fuel)
    }
    fn bin_set<const A: u8, const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::BinSet(_, d));
        l!(fp, d) = alu::<A>().eval(*sp.sub(2), *sp.sub(1));
        then::<J, JB>(cx, ip, fp, sp.sub(2), fuel)
    }
    fn bin_tee<const A: u8>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::BinTee(_, d));
        let v = alu::<A>().eval(*sp.sub(2), *sp.sub(1));
        *sp.sub(2) = v;
        l!(fp, d) = v;
        go(cx, ip.add(1), fp, sp.sub(1), fuel)
    }
    fn set_l<const A: u8, const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::SetL(_, d, x));
        l!(fp, d) = alu::<A>().eval(*sp.sub(1), l!(fp, x));
        then::<J, JB>(cx, ip, fp, sp.sub(1), fuel)
    }
    fn set_ll<const A: u8, const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::SetLL(_, d, x, y));
        l!(fp, d) = alu::<A>().eval(l!(fp, x), l!(fp, y));
        then::<J, JB>(cx, ip, fp, sp, fuel)
    }
    fn set_li<const A: u8, const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::SetLI(_, d, x, c));
        l!(fp, d) = alu::<A>().eval(l!(fp, x), u64::from(c));
        then::<J, JB>(cx, ip, fp, sp, fuel)
    }
    fn tee_li<const A: u8>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::TeeLI(_, d, x, c));
        let v = alu::<A>().eval(l!(fp, x), u64::from(c));
        l!(fp, d) = v;
        *sp = v;
        go(cx, ip.add(1), fp, sp.add(1), fuel)
    }
    fn br<const A: u8, const C: bool, const TC: bool, const TB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::Br(_, nz, t));
        let v = alu::<A>().eval(*sp.sub(2), *sp.sub(1));
        cond!(cx, ip, fp, sp, fuel, holds::<A>(v, nz), t, sp.sub(2))
    }
    fn br_l<const C: bool, const TC: bool, const TB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::BrL(nz, x, t));
        cond!(cx, ip, fp, sp, fuel, (l!(fp, x) != 0) == nz, t, sp)
    }
    fn br_sl<const A: u8, const C: bool, const TC: bool, const TB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::BrSL(_, nz, x, t));
        let v = alu::<A>().eval(*sp.sub(1), l!(fp, x));
        cond!(cx, ip, fp, sp, fuel, holds::<A>(v, nz), t, sp.sub(1))
    }
    fn br_i<const A: u8, const C: bool, const TC: bool, const TB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::BrI(_, nz, c, t));
        let v = alu::<A>().eval(*sp.sub(1), u64::from(c));
        cond!(cx, ip, fp, sp, fuel, holds::<A>(v, nz), t, sp.sub(1))
    }
    fn br_ll<const A: u8, const C: bool, const TC: bool, const TB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::BrLL(_, nz, x, y, t));
        let v = alu::<A>().eval(l!(fp, x), l!(fp, y));
        cond!(cx, ip, fp, sp, fuel, holds::<A>(v, nz), t, sp)
    }
    fn mov_br<const C: bool, const TC: bool, const TB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::MovBr(nz, d, x, t));
        let v = l!(fp, x);
        l!(fp, d) = v;
        cond!(cx, ip, fp, sp, fuel, (v != 0) == nz, t, sp)
    }
    fn br_li<const A: u8, const C: bool, const TC: bool, const TB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::BrLI(_, nz, x, c, t));
        let v = alu::<A>().eval(l!(fp, x), u64::from(c));
        cond!(cx, ip, fp, sp, fuel, holds::<A>(v, nz), t, sp)
    }
    fn load_set<const L: u8, const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::LoadSet(_, d, o));
        load!(cx, ip, fp, sp, fuel, ld::<L>(), *sp.sub(1), o, fp.add(d as usize), sp.sub(1), J, JB)
    }
    fn load_tee<const L: u8>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::LoadTee(_, d, o));
        match ld::<L>().read(cx.mem, *sp.sub(1), o) {
            Some(v) => {
                *sp.sub(1) = v;
                l!(fp, d) = v;
                go(cx, ip.add(1), fp, sp, fuel)
            }
            None => out(cx, ip, sp, fuel),
        }
    }
    fn load_l<const L: u8>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::LoadL(_, x, o));
        load!(cx, ip, fp, sp, fuel, ld::<L>(), l!(fp, x), o, sp, sp.add(1), false, false)
    }
    fn load_l_set<const L: u8, const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::LoadLSet(_, d, x, o));
        load!(cx, ip, fp, sp, fuel, ld::<L>(), l!(fp, x), o, fp.add(d as usize), sp, J, JB)
    }
    fn load_l_tee<const L: u8>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::LoadLTee(_, d, x, o));
        match ld::<L>().read(cx.mem, l!(fp, x), o) {
            Some(v) => {
                l!(fp, d) = v;
                *sp = v;
                go(cx, ip.add(1), fp, sp.add(1), fuel)
            }
            None => out(cx, ip, sp, fuel),
        }
    }
    fn load_l_br<const L: u8, const NZ: bool, const C: bool, const TC: bool, const TB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::LoadLBr(_, _, x, o, t));
        match ld::<L>().read(cx.mem, l!(fp, x), o) {
            Some(v) => cond!(cx, ip, fp, sp, fuel, (v != 0) == NZ, t, sp),
            None => out(cx, ip, sp, fuel),
        }
    }
    fn load_l_switch<const L: u8, const TC: bool, const TF: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::LoadLSwitch(_, x, o, t));
        match ld::<L>().read(cx.mem, l!(fp, x), o) {
            Some(i) => switch_on::<TC, TF>(cx, ip, fp, sp, fuel, t, i, sp),
            None => out(cx, ip, sp, fuel),
        }
    }
    fn update<const L: u8, const A: u8, const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::Update(_, _, x, c, o));
        let addr = l!(fp, x);
        let Some(v) = ld::<L>().read(cx.mem, addr, o) else {
            return out(cx, ip, sp, fuel);
        };
        // Where the load read, the store of its width writes: it fits.
        if !ld::<L>().store().write(cx.mem, addr, o, alu::<A>().eval(v, u64::from(c))) {
            return out(cx, ip, sp, fuel);
        }
        then::<J, JB>(cx, ip, fp, sp, fuel)
    }
    fn load_s<const A: u8, const L: u8>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::LoadS(_, _, o));
        let addr = alu::<A>().eval(*sp.sub(2), *sp.sub(1));
        load!(cx, ip, fp, sp, fuel, ld::<L>(), addr, o, sp.sub(2), sp.sub(1), false, false)
    }
    fn load_sl<const A: u8, const L: u8>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::LoadSL(_, _, x, o));
        let addr = alu::<A>().eval(*sp.sub(1), l!(fp, x));
        load!(cx, ip, fp, sp, fuel, ld::<L>(), addr, o, sp.sub(1), sp, false, false)
    }
    fn load_li<const A: u8, const L: u8>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::LoadLI(_, _, x, c, o));
        let addr = alu::<A>().eval(l!(fp, x), u64::from(c));
        load!(cx, ip, fp, sp, fuel, ld::<L>(), addr, o, sp, sp.add(1), false, false)
    }
    fn load_i<const A: u8, const L: u8>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::LoadI(_, _, c, o));
        let addr = alu::<A>().eval(*sp.sub(1), u64::from(c));
        load!(cx, ip, fp, sp, fuel, ld::<L>(), addr, o, sp.sub(1), sp, false, false)
    }
    fn store_l<const S: u8, const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::StoreL(_, x, o));
        store!(cx, ip, fp, sp, fuel, st::<S>(), *sp.sub(1), l!(fp, x), o, sp.sub(1), J, JB)
    }
    fn store_ll<const S: u8, const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::StoreLL(_, x, y, o));
        store!(cx, ip, fp, sp, fuel, st::<S>(), l!(fp, x), l!(fp, y), o, sp, J, JB)
    }
    fn store_lll<const S: u8, const A: u8, const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::StoreLLL(_, _, x, y, z, o));
        let v = alu::<A>().eval(l!(fp, y), l!(fp, z));
        store!(cx, ip, fp, sp, fuel, st::<S>(), l!(fp, x), v, o, sp, J, JB)
    }
    fn store_li<const S: u8, const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::StoreLI(_, x, c, o));
        store!(cx, ip, fp, sp, fuel, st::<S>(), l!(fp, x), u64::from(c), o, sp, J, JB)
    }

    // ---- single instructions ----
    fn nop(cx, ip, fp, sp, fuel) {
        go(cx, ip.add(1), fp, sp, fuel)
    }
    fn jmp<const TC: bool, const TB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::I(Instr::Jmp(t)));
        branch!(cx, ip, fp, sp, fuel, t, sp, TC, TB)
    }
    fn jz<const C: bool, const TC: bool, const TB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::I(Instr::Jz(t)));
        cond!(cx, ip, fp, sp, fuel, *sp.sub(1) == 0, t, sp.sub(1))
    }
    fn jnz<const C: bool, const TC: bool, const TB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::I(Instr::Jnz(t)));
        cond!(cx, ip, fp, sp, fuel, *sp.sub(1) != 0, t, sp.sub(1))
    }
    fn switch<const TC: bool, const TF: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::I(Instr::Switch(t)));
        switch_on::<TC, TF>(cx, ip, fp, sp, fuel, t, *sp.sub(1), sp.sub(1))
    }
    fn call(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::Call(callee, pc));
        // SAFETY: the verifier proved the callee exists.
        let c = cx.funcs.get_unchecked(callee as usize);
        let args = sp.sub(c.params);
        let base = args.offset_from(cx.stack) as usize;
        // Anything but a plain call — a policy watching, a fault, a stop, a stack to
        // grow — is the loop's.
        if !cx.back
            || cx.frames.len() >= cx.frames_limit
            || base + c.frame_words > cx.stack_limit
            || fuel < c.call_gas
            || cx.mem_left < c.frame_bytes
        {
            return out(cx, ip, sp, fuel);
        }
        cx.mem_left -= c.frame_bytes;
        rarvm_runtime::meter::touched(8 * c.frame_words as u64);
        if let Some(top) = cx.frames.last_mut() {
            top.pc = pc;
        }
        let n = cx.frames.len();
        // SAFETY: `n` is below the capacity (`frames_limit`, checked above), and a `Frame` has no drop.
        cx.frames.as_mut_ptr().add(n).write(Frame {
            func: callee,
            pc: 0,
            base: base as u32,
        });
        cx.frames.set_len(n + 1);
        zero(sp, c.locals - c.params);
        cx.switch_to(c);
        // A function begins at its first op: its entry block's charge, paid here.
        charged(cx, cx.ops, args, args.add(c.locals), fuel - c.call_gas)
    }
    fn ret<const ONE: bool>(cx, ip, fp, sp, fuel) {
        let n = cx.frames.len();
        // Returning from the entry function, a policy watching, or a caller's frame
        // reaching past the stack: the loop's.
        if !cx.back || n < 2 {
            return out(cx, ip, sp, fuel);
        }
        // SAFETY: `n >= 2`; a frame names a function of the module.
        let caller = *cx.frames.get_unchecked(n - 2);
        let cf = cx.funcs.get_unchecked(caller.func as usize);
        if caller.base as usize + cf.frame_words > cx.stack_len {
            return out(cx, ip, sp, fuel);
        }
        let results = if ONE { 1 } else { cx.f.results };
        if ONE {
            *fp = *sp.sub(1);
        } else {
            copy(sp.sub(results), fp, results);
        }
        cx.mem_left = cx.mem_left.saturating_add(cx.f.frame_bytes);
        // SAFETY: `n >= 2`, and a `Frame` has no drop.
        cx.frames.set_len(n - 1);
        cx.switch_to(cf);
        // SAFETY: a caller's pc is the instruction after its call, which exists (a call
        // falls through).
        let to = cx.ops.add(*cf.entry_of.get_unchecked(caller.pc as usize) as usize);
        let cfp = cx.stack.add(caller.base as usize);
        // The block after a call, paid here.
        charged(cx, to, cfp, fp.add(results), fuel)
    }
    fn push(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::I(Instr::Push(v)));
        *sp = v;
        go(cx, ip.add(1), fp, sp.add(1), fuel)
    }
    fn pop(cx, ip, fp, sp, fuel) {
        go(cx, ip.add(1), fp, sp.sub(1), fuel)
    }
    fn dup(cx, ip, fp, sp, fuel) {
        *sp = *sp.sub(1);
        go(cx, ip.add(1), fp, sp.add(1), fuel)
    }
    fn swap(cx, ip, fp, sp, fuel) {
        std::ptr::swap(sp.sub(1), sp.sub(2));
        go(cx, ip.add(1), fp, sp, fuel)
    }
    fn over(cx, ip, fp, sp, fuel) {
        *sp = *sp.sub(2);
        go(cx, ip.add(1), fp, sp.add(1), fuel)
    }
    fn select(cx, ip, fp, sp, fuel) {
        if *sp.sub(1) == 0 {
            *sp.sub(3) = *sp.sub(2);
        }
        go(cx, ip.add(1), fp, sp.sub(2), fuel)
    }
    fn local_get<const R: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::I(Instr::LocalGet(i)));
        *sp = l!(fp, i);
        next::<R>(cx, ip, fp, sp.add(1), fuel)
    }
    fn local_set<const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::I(Instr::LocalSet(i)));
        l!(fp, i) = *sp.sub(1);
        then::<J, JB>(cx, ip, fp, sp.sub(1), fuel)
    }
    fn local_tee(cx, ip, fp, sp, fuel) {
        operands!(ip, Op::I(Instr::LocalTee(i)));
        l!(fp, i) = *sp.sub(1);
        go(cx, ip.add(1), fp, sp, fuel)
    }
    fn bin<const A: u8, const R: bool>(cx, ip, fp, sp, fuel) {
        *sp.sub(2) = alu::<A>().eval(*sp.sub(2), *sp.sub(1));
        next::<R>(cx, ip, fp, sp.sub(1), fuel)
    }
    fn div<const D: u8>(cx, ip, fp, sp, fuel) {
        match Div::ALL[D as usize].eval(*sp.sub(2), *sp.sub(1)) {
            Some(v) => {
                *sp.sub(2) = v;
                go(cx, ip.add(1), fp, sp.sub(1), fuel)
            }
            None => out(cx, ip, sp, fuel),
        }
    }
    fn un<const U: u8>(cx, ip, fp, sp, fuel) {
        *sp.sub(1) = Un::ALL[U as usize].eval(*sp.sub(1));
        go(cx, ip.add(1), fp, sp, fuel)
    }
    fn load<const L: u8>(cx, ip, fp, sp, fuel) {
        operands!(
            ip,
            Op::I(
                Instr::Load8U(o)
                | Instr::Load8S(o)
                | Instr::Load16U(o)
                | Instr::Load16S(o)
                | Instr::Load32U(o)
                | Instr::Load32S(o)
                | Instr::Load64(o),
            )
        );
        load!(cx, ip, fp, sp, fuel, ld::<L>(), *sp.sub(1), o, sp.sub(1), sp, false, false)
    }
    fn store<const S: u8, const J: bool, const JB: bool>(cx, ip, fp, sp, fuel) {
        operands!(
            ip,
            Op::I(Instr::Store8(o) | Instr::Store16(o) | Instr::Store32(o) | Instr::Store64(o))
        );
        store!(cx, ip, fp, sp, fuel, st::<S>(), *sp.sub(2), *sp.sub(1), o, sp.sub(2), J, JB)
    }
    fn mem_size(cx, ip, fp, sp, fuel) {
        *sp = cx.mem.len() as u64;
        go(cx, ip.add(1), fp, sp.add(1), fuel)
    }
}

/// The function instantiated for the kinds given: `mono!(f [] alu a, load l)` is
/// `f::<{a as u8}, {l as u8}>` for the values `a` and `l` hold.
macro_rules! mono {
    ($f:ident [$($c:tt),*]) => { $f::<$($c),*> as H };
    ($f:ident [$($c:tt),*] alu $a:expr $(, $k:ident $e:expr)*) => {
        match $a {
            Alu::Add => mono!($f [$($c,)* {Alu::Add as u8}] $($k $e),*),
            Alu::Sub => mono!($f [$($c,)* {Alu::Sub as u8}] $($k $e),*),
            Alu::Mul => mono!($f [$($c,)* {Alu::Mul as u8}] $($k $e),*),
            Alu::And => mono!($f [$($c,)* {Alu::And as u8}] $($k $e),*),
            Alu::Or => mono!($f [$($c,)* {Alu::Or as u8}] $($k $e),*),
            Alu::Xor => mono!($f [$($c,)* {Alu::Xor as u8}] $($k $e),*),
            Alu::Shl => mono!($f [$($c,)* {Alu::Shl as u8}] $($k $e),*),
            Alu::ShrU => mono!($f [$($c,)* {Alu::ShrU as u8}] $($k $e),*),
            Alu::ShrS => mono!($f [$($c,)* {Alu::ShrS as u8}] $($k $e),*),
            Alu::Rotl => mono!($f [$($c,)* {Alu::Rotl as u8}] $($k $e),*),
            Alu::Rotr => mono!($f [$($c,)* {Alu::Rotr as u8}] $($k $e),*),
            Alu::Eq => mono!($f [$($c,)* {Alu::Eq as u8}] $($k $e),*),
            Alu::Ne => mono!($f [$($c,)* {Alu::Ne as u8}] $($k $e),*),
            Alu::LtU => mono!($f [$($c,)* {Alu::LtU as u8}] $($k $e),*),
            Alu::LtS => mono!($f [$($c,)* {Alu::LtS as u8}] $($k $e),*),
            Alu::GtU => mono!($f [$($c,)* {Alu::GtU as u8}] $($k $e),*),
            Alu::GtS => mono!($f [$($c,)* {Alu::GtS as u8}] $($k $e),*),
            Alu::LeU => mono!($f [$($c,)* {Alu::LeU as u8}] $($k $e),*),
            Alu::LeS => mono!($f [$($c,)* {Alu::LeS as u8}] $($k $e),*),
            Alu::GeU => mono!($f [$($c,)* {Alu::GeU as u8}] $($k $e),*),
            Alu::GeS => mono!($f [$($c,)* {Alu::GeS as u8}] $($k $e),*),
        }
    };
    ($f:ident [$($c:tt),*] flag $b:expr $(, $k:ident $e:expr)*) => {
        if $b {
            mono!($f [$($c,)* true] $($k $e),*)
        } else {
            mono!($f [$($c,)* false] $($k $e),*)
        }
    };
    // A fused op's successor: no jump to fold, a jump forward, a jump backward.
    ($f:ident [$($c:tt),*] jump $j:expr $(, $k:ident $e:expr)*) => {
        match $j {
            None => mono!($f [$($c,)* false, false] $($k $e),*),
            Some(false) => mono!($f [$($c,)* true, false] $($k $e),*),
            Some(true) => mono!($f [$($c,)* true, true] $($k $e),*),
        }
    };
    ($f:ident [$($c:tt),*] load $l:expr $(, $k:ident $e:expr)*) => {
        match $l {
            Load::U8 => mono!($f [$($c,)* {Load::U8 as u8}] $($k $e),*),
            Load::S8 => mono!($f [$($c,)* {Load::S8 as u8}] $($k $e),*),
            Load::U16 => mono!($f [$($c,)* {Load::U16 as u8}] $($k $e),*),
            Load::S16 => mono!($f [$($c,)* {Load::S16 as u8}] $($k $e),*),
            Load::U32 => mono!($f [$($c,)* {Load::U32 as u8}] $($k $e),*),
            Load::S32 => mono!($f [$($c,)* {Load::S32 as u8}] $($k $e),*),
            Load::W64 => mono!($f [$($c,)* {Load::W64 as u8}] $($k $e),*),
        }
    };
    ($f:ident [$($c:tt),*] store $s:expr $(, $k:ident $e:expr)*) => {
        match $s {
            Store::W8 => mono!($f [$($c,)* {Store::W8 as u8}] $($k $e),*),
            Store::W16 => mono!($f [$($c,)* {Store::W16 as u8}] $($k $e),*),
            Store::W32 => mono!($f [$($c,)* {Store::W32 as u8}] $($k $e),*),
            Store::W64 => mono!($f [$($c,)* {Store::W64 as u8}] $($k $e),*),
        }
    };
}

/// The function that runs op `i` of `ops` (of which it reads only the ops, not their
/// functions), the ops of a function with `results` results —
/// its own, or [`to_loop`] for an op the fast path does not take. A branch's function
/// knows whether the op after it and the ops it branches to are charges, which it then
/// pays itself, and whether its target lies backward, where a watching policy must see it;
/// a function that falls through knows whether the op after it is a jump to
/// a charged block, which it then takes, or a `ret`.
pub(crate) fn handler(ops: &[Slot], tables: &[Box<[u32]>], results: usize, i: usize) -> H {
    let next = || ops.get(i + 1).map(|s| s.op);
    let charge_at = |k: u32| matches!(ops.get(k as usize).map(|s| s.op), Some(Op::Charge(_)));
    let back = |t: u32| t as usize <= i;
    // Every target of `switch` table `t` is a charge; every one lies after this op.
    let all_charged = |t: u32| tables[t as usize].iter().all(|&k| charge_at(k));
    let all_forward = |t: u32| tables[t as usize].iter().all(|&k| k as usize > i);
    // What the next op is, asked only by the ops that fold it (most ops do not): a
    // charge, a jump to a charged block and whether it goes back, a `ret` of one result.
    let c = || charge_at(i as u32 + 1);
    let j = || match next() {
        Some(Op::JmpCharge(_, t)) => Some(t as usize <= i + 1),
        _ => None,
    };
    let one = results == 1;
    let r = || one && matches!(next(), Some(Op::I(Instr::Ret)));
    match ops[i].op {
        Op::Charge(_) => charge,
        Op::I(Instr::Switch(t)) => mono!(switch [] flag all_charged(t), flag all_forward(t)),
        Op::I(ins) => instr(ins, c, j, r, one, charge_at, back),
        Op::JmpCharge(_, t) => mono!(jmp_charge [] flag back(t)),
        Op::Call(..) => call,
        Op::Mov(..) => mono!(mov [] jump j()),
        Op::Get2(..) => get2,
        Op::BinL(a, _) => mono!(bin_l [] alu a, flag r()),
        Op::BinLL(a, ..) => mono!(bin_ll [] alu a, flag r()),
        Op::BinLI(a, ..) => mono!(bin_li [] alu a, flag r()),
        Op::BinI(a, _) => mono!(bin_i [] alu a),
        Op::TeeI(a, ..) => mono!(tee_i [] alu a),
        Op::MovBr(_, _, _, t) => mono!(mov_br [] flag c(), flag charge_at(t), flag back(t)),
        Op::LoadLSet(l, ..) => mono!(load_l_set [] load l, jump j()),
        Op::LoadLTee(l, ..) => mono!(load_l_tee [] load l),
        Op::LoadLSwitch(l, _, _, t) => {
            mono!(load_l_switch [] load l, flag all_charged(t), flag all_forward(t))
        }
        Op::Update(l, a, ..) => mono!(update [] load l, alu a, jump j()),
        Op::LoadLBr(l, nz, _, _, t) => {
            mono!(load_l_br [] load l, flag nz, flag c(), flag charge_at(t), flag back(t))
        }
        Op::StoreLLL(s, a, ..) => mono!(store_lll [] store s, alu a, jump j()),
        Op::BinSet(a, _) => mono!(bin_set [] alu a, jump j()),
        Op::BinTee(a, _) => mono!(bin_tee [] alu a),
        Op::SetL(a, ..) => mono!(set_l [] alu a, jump j()),
        Op::SetLL(a, ..) => mono!(set_ll [] alu a, jump j()),
        Op::SetLI(a, ..) => mono!(set_li [] alu a, jump j()),
        Op::TeeLI(a, ..) => mono!(tee_li [] alu a),
        // A comparison's branch is built to go when it holds; its function assumes so.
        Op::Br(a, false, _)
        | Op::BrSL(a, false, ..)
        | Op::BrI(a, false, ..)
        | Op::BrLL(a, false, ..)
        | Op::BrLI(a, false, ..)
            if a.negated().is_some() =>
        {
            to_loop
        }
        Op::Br(a, _, t) => mono!(br [] alu a, flag c(), flag charge_at(t), flag back(t)),
        Op::BrL(_, _, t) => mono!(br_l [] flag c(), flag charge_at(t), flag back(t)),
        Op::BrSL(a, _, _, t) => mono!(br_sl [] alu a, flag c(), flag charge_at(t), flag back(t)),
        Op::BrI(a, _, _, t) => mono!(br_i [] alu a, flag c(), flag charge_at(t), flag back(t)),
        Op::BrLL(a, _, _, _, t) => mono!(br_ll [] alu a, flag c(), flag charge_at(t), flag back(t)),
        Op::BrLI(a, _, _, _, t) => mono!(br_li [] alu a, flag c(), flag charge_at(t), flag back(t)),
        Op::LoadSet(l, ..) => mono!(load_set [] load l, jump j()),
        Op::LoadTee(l, ..) => mono!(load_tee [] load l),
        Op::LoadL(l, ..) => mono!(load_l [] load l),
        Op::LoadS(a, l, _) => mono!(load_s [] alu a, load l),
        Op::LoadSL(a, l, ..) => mono!(load_sl [] alu a, load l),
        Op::LoadLI(a, l, ..) => mono!(load_li [] alu a, load l),
        Op::LoadI(a, l, ..) => mono!(load_i [] alu a, load l),
        Op::StoreL(s, ..) => mono!(store_l [] store s, jump j()),
        Op::StoreLL(s, ..) => mono!(store_ll [] store s, jump j()),
        Op::StoreLI(s, ..) => mono!(store_li [] store s, jump j()),
    }
}

/// The function that runs instruction `ins` on its own; `c`, `j`, `r`: the op after it is
/// a charge, a jump to a charged block (`Some(backward)`), a `ret` of one result; `one`:
/// the function has one result; `charge_at`, `back`: whether op `t` is a charge, and at or
/// before this one.
fn instr(
    ins: Instr,
    c: impl Fn() -> bool,
    j: impl Fn() -> Option<bool>,
    r: impl Fn() -> bool,
    one: bool,
    charge_at: impl Fn(u32) -> bool,
    back: impl Fn(u32) -> bool,
) -> H {
    match ins {
        Instr::Nop => nop,
        Instr::Jmp(t) => mono!(jmp [] flag charge_at(t), flag back(t)),
        Instr::Jz(t) => mono!(jz [] flag c(), flag charge_at(t), flag back(t)),
        Instr::Jnz(t) => mono!(jnz [] flag c(), flag charge_at(t), flag back(t)),
        // A `switch` knows its table (see `handler`).
        Instr::Switch(_) => mono!(switch [] flag false, flag false),
        // Lowered as `Op::Call`.
        Instr::Call(_) => to_loop,
        Instr::Ret => mono!(ret [] flag one),
        Instr::Push(_) => push,
        Instr::Drop => pop,
        Instr::Dup => dup,
        Instr::Swap => swap,
        Instr::Over => over,
        Instr::Select => select,
        Instr::LocalGet(_) => mono!(local_get [] flag r()),
        Instr::LocalSet(_) => mono!(local_set [] jump j()),
        Instr::LocalTee(_) => local_tee,
        Instr::Add => mono!(bin [] alu Alu::Add, flag r()),
        Instr::Sub => mono!(bin [] alu Alu::Sub, flag r()),
        Instr::Mul => mono!(bin [] alu Alu::Mul, flag r()),
        Instr::And => mono!(bin [] alu Alu::And, flag r()),
        Instr::Or => mono!(bin [] alu Alu::Or, flag r()),
        Instr::Xor => mono!(bin [] alu Alu::Xor, flag r()),
        Instr::Shl => mono!(bin [] alu Alu::Shl, flag r()),
        Instr::ShrU => mono!(bin [] alu Alu::ShrU, flag r()),
        Instr::ShrS => mono!(bin [] alu Alu::ShrS, flag r()),
        Instr::Rotl => mono!(bin [] alu Alu::Rotl, flag r()),
        Instr::Rotr => mono!(bin [] alu Alu::Rotr, flag r()),
        Instr::Eq => mono!(bin [] alu Alu::Eq, flag r()),
        Instr::Ne => mono!(bin [] alu Alu::Ne, flag r()),
        Instr::LtU => mono!(bin [] alu Alu::LtU, flag r()),
        Instr::LtS => mono!(bin [] alu Alu::LtS, flag r()),
        Instr::GtU => mono!(bin [] alu Alu::GtU, flag r()),
        Instr::GtS => mono!(bin [] alu Alu::GtS, flag r()),
        Instr::LeU => mono!(bin [] alu Alu::LeU, flag r()),
        Instr::LeS => mono!(bin [] alu Alu::LeS, flag r()),
        Instr::GeU => mono!(bin [] alu Alu::GeU, flag r()),
        Instr::GeS => mono!(bin [] alu Alu::GeS, flag r()),
        Instr::DivU => div::<{ Div::DivU as u8 }>,
        Instr::DivS => div::<{ Div::DivS as u8 }>,
        Instr::RemU => div::<{ Div::RemU as u8 }>,
        Instr::RemS => div::<{ Div::RemS as u8 }>,
        Instr::Not => un::<{ Un::Not as u8 }>,
        Instr::Neg => un::<{ Un::Neg as u8 }>,
        Instr::Clz => un::<{ Un::Clz as u8 }>,
        Instr::Ctz => un::<{ Un::Ctz as u8 }>,
        Instr::Popcnt => un::<{ Un::Popcnt as u8 }>,
        Instr::Eqz => un::<{ Un::Eqz as u8 }>,
        Instr::Load8U(_) => mono!(load [] load Load::U8),
        Instr::Load8S(_) => mono!(load [] load Load::S8),
        Instr::Load16U(_) => mono!(load [] load Load::U16),
        Instr::Load16S(_) => mono!(load [] load Load::S16),
        Instr::Load32U(_) => mono!(load [] load Load::U32),
        Instr::Load32S(_) => mono!(load [] load Load::S32),
        Instr::Load64(_) => mono!(load [] load Load::W64),
        Instr::Store8(_) => mono!(store [] store Store::W8, jump j()),
        Instr::Store16(_) => mono!(store [] store Store::W16, jump j()),
        Instr::Store32(_) => mono!(store [] store Store::W32, jump j()),
        Instr::Store64(_) => mono!(store [] store Store::W64, jump j()),
        Instr::MemSize => mem_size,
        // Stops and everything that touches more than memory, gas and frames: the loop's.
        Instr::Trap
        | Instr::Halt
        | Instr::MemGrow
        | Instr::MemCopy
        | Instr::MemFill
        | Instr::GasLeft
        | Instr::MemLeft
        | Instr::In
        | Instr::Out
        | Instr::Yield
        | Instr::Spawn(_)
        | Instr::SpawnBytes
        | Instr::Recurse
        | Instr::ChildPush
        | Instr::ChildPop
        | Instr::ChildInfo(_)
        | Instr::ChildGrow
        | Instr::ChildWrite
        | Instr::ChildRead
        | Instr::ChildSave
        | Instr::ChildLoad
        | Instr::KeyKind
        | Instr::KeyDrop
        | Instr::KeyRights
        | Instr::KeyGive
        | Instr::KeyAttenuate
        | Instr::KeyInvoke => to_loop,
    }
}

#[cfg(test)]
mod tests {
    use rarvm_runtime::asm::assemble_verified;
    use rarvm_runtime::engine::Engine;
    use rarvm_runtime::machine;
    use rarvm_runtime::process::{Process, Status};

    use crate::access::{Load, Store};
    use crate::alu::{Alu, Div, Un};
    use crate::{Interp, Reference};

    /// The functions find a kind from its discriminant through `ALL`.
    #[test]
    fn kinds_are_listed_in_discriminant_order() {
        assert!(Alu::ALL.iter().enumerate().all(|(i, &a)| a as usize == i));
        assert!(Load::ALL.iter().enumerate().all(|(i, &l)| l as usize == i));
        assert!(Store::ALL.iter().enumerate().all(|(i, &s)| s as usize == i));
        assert!(Div::ALL.iter().enumerate().all(|(i, &d)| d as usize == i));
        assert!(Un::ALL.iter().enumerate().all(|(i, &u)| u as usize == i));
    }

    const LOOP: &str = "func main(n) -> 1 locals(i, acc)
 push 64
 mem.grow
 drop
top:
 local.get i
 local.get n
 lt_u
 jz done
 local.get i
 push 7
 and
 push 8
 mul
 local.get acc
 store64 0
 local.get i
 push 7
 and
 push 3
 shl
 load64 0
 local.get i
 call mix
 local.set acc
 local.get i
 push 3
 rem_u
 switch a b else c
a:
 local.get acc
 push 1
 add
 local.set acc
 jmp next
b:
 local.get acc
 dup
 swap
 over
 select
 local.set acc
 jmp next
c:
 local.get acc
 not
 neg
 local.set acc
next:
 local.get i
 push 1
 add
 local.set i
 jmp top
done:
 local.get acc
 ret
end
func mix(v, i) -> 1
 local.get v
 local.get i
 push 13
 rotl
 xor
 ret
end
";

    fn run(engine: &mut impl Engine, n: u64) -> Vec<u64> {
        let module = assemble_verified(LOOP, "loop.rasm").unwrap();
        let mut root = Box::new(Process::new(module, 0));
        root.port.push(n);
        let root = machine::run(root, engine, 1 << 40, 1 << 20);
        assert_eq!(root.status, Status::Returned);
        root.port.clone()
    }

    /// Every op function reaches the next by a jump, not by a call that keeps its native
    /// frame: a million turns of a loop through loads, stores, calls, returns, a `switch`
    /// and stack shuffles run on a thread whose 256 KiB stack a call per op would overflow
    /// many times over — and end with the reference's answer.
    #[test]
    fn ops_jump_to_the_next_without_growing_the_native_stack() {
        let n = 1_000_000;
        let fast = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || run(&mut Interp, n))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(fast, run(&mut Reference, n));
    }
}
