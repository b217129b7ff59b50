//! The interpreter loop: the reference semantics of every instruction.

use rarvm_runtime::engine::Stop;
use rarvm_runtime::engine::{Budget, Exit};
use rarvm_runtime::isa::{Field, Instr};
use rarvm_runtime::limits::{MAX_CALL_DEPTH, MAX_STACK_WORDS};
use rarvm_runtime::ops;
use rarvm_runtime::process::{Fault, Frame, Process};

use crate::access::{Load, Store};
use crate::alu::{Alu, Div, Un};
use crate::lower::{lower, lower_reference, switch_entry, Func, Op};

/// Lets another engine take over at block starts (see [`crate::Tiering`]).
pub trait Tiering {
    /// Control is about to enter the block at `pc` of `func` — a callee's entry, a caller's
    /// continuation after a return, or the target of a backward branch (`backward`) —
    /// with `fuel` left in the budget. Returning true stops the interpreter there, with
    /// the block not yet paid.
    fn enter(&mut self, func: u32, pc: u32, backward: bool, fuel: u64) -> bool;

    /// True when [`Tiering::enter`] always returns false, so the interpreter need not ask.
    const NEVER: bool = false;
}

/// Never hands over: the plain reference interpreter.
pub struct NoTiering;

impl Tiering for NoTiering {
    const NEVER: bool = true;

    #[inline(always)]
    fn enter(&mut self, _func: u32, _pc: u32, _backward: bool, _fuel: u64) -> bool {
        false
    }
}

/// How an interpreter run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The process must stop (see [`Exit`]).
    Exit(Exit),
    /// The tiering policy asked to hand over at the top frame's pc, a block start whose
    /// block is not paid.
    HandOver,
}

/// Runs `p` from its top frame's pc (a block start, unpaid) until it must stop or `tier`
/// asks to hand over.
pub fn run<T: Tiering>(p: &mut Process, b: &mut Budget, tier: &mut T) -> Outcome {
    let lowered = p.module.engine_data(lower);
    exec::<T, false>(p, b, tier, &lowered.funcs)
}

/// Runs `p` as [`run`] does, on the reference lowering: one op per instruction.
pub(crate) fn run_reference(p: &mut Process, b: &mut Budget) -> Exit {
    let lowered = p.module.engine_data(lower_reference);
    match exec::<_, true>(p, b, &mut NoTiering, &lowered.0.funcs) {
        Outcome::Exit(exit) => exit,
        Outcome::HandOver => unreachable!("NoTiering never hands over"),
    }
}

/// Word `i` of the value stack. The verifier proves every operand and local index the loop
/// uses lies in the running frame, which `reserve_stack` keeps inside the stack's length;
/// the reference loop (`CHECKED`) checks it anyway, so a broken invariant panics there
/// instead of going unnoticed.
#[inline(always)]
fn word<const CHECKED: bool>(stack: &mut [u64], i: usize) -> &mut u64 {
    if CHECKED {
        &mut stack[i]
    } else {
        debug_assert!(i < stack.len());
        // SAFETY: `i` is an operand or local of the running frame (verified stack heights
        // and local indices), and the frame lies within the stack's length (reserved on
        // entry, on every call and on every return).
        unsafe { stack.get_unchecked_mut(i) }
    }
}

/// Element `i` of `s`, read: [`word`] read only, and the loop's op fetch. Every op index
/// the loop reaches is in bounds too: entries and branch targets are op indices, and the
/// op after any op that can fall through exists, since the verifier rejects functions
/// whose control can fall off the end.
#[inline(always)]
fn at<const CHECKED: bool, T>(s: &[T], i: usize) -> &T {
    if CHECKED {
        &s[i]
    } else {
        debug_assert!(i < s.len());
        // SAFETY: `i` is an operand or local of the running frame, as in `word`, or an op
        // index the loop reached: an entry, a branch target or the op after one that falls
        // through, all in bounds as said above.
        unsafe { s.get_unchecked(i) }
    }
}

fn exec<T: Tiering, const CHECKED: bool>(
    p: &mut Process,
    b: &mut Budget,
    tier: &mut T,
    funcs: &[Func],
) -> Outcome {
    let top = *p.frames.last().expect("a running process has a frame");
    let mut f: &Func = &funcs[top.func as usize];
    let mut ip = f.entry_of[top.pc as usize] as usize;
    let mut base = top.base as usize;
    let mut sp = p.stack.len();
    p.reserve_stack(base + f.frame_words);

    // Word `i` of the value stack, a place.
    macro_rules! w {
        ($i:expr) => {
            *word::<CHECKED>(&mut p.stack, $i)
        };
    }
    // Word `i` of the value stack, read (also beside a borrow of the whole process).
    macro_rules! r {
        ($i:expr) => {
            *at::<CHECKED, _>(&p.stack, $i)
        };
    }
    // Leaves the state canonical at op `ip` and returns `e`.
    macro_rules! exit {
        ($e:expr) => {{
            p.stack.truncate(sp);
            p.frames.last_mut().expect("frame").pc = f.pc_of[ip];
            return Outcome::Exit($e);
        }};
    }
    // Goes to op `t`; a backward jump may hand over at the loop header.
    macro_rules! goto {
        ($t:expr) => {{
            let t = $t as usize;
            if t <= ip
                && tier.enter(
                    p.frames.last().expect("frame").func,
                    f.pc_of[t],
                    true,
                    b.fuel,
                )
            {
                ip = t;
                p.stack.truncate(sp);
                p.frames.last_mut().expect("frame").pc = f.pc_of[ip];
                return Outcome::HandOver;
            }
            ip = t;
        }};
    }
    // Jumps to op `t`.
    macro_rules! branch {
        ($t:expr) => {{
            goto!($t);
            continue;
        }};
    }
    // Pays `cost`, the charge of the block at op `ip`, and goes on after that charge; stops
    // at it when the gas is short.
    macro_rules! charge {
        ($cost:expr) => {{
            let cost = u64::from($cost);
            if !b.charge_gas(cost) {
                exit!(Exit::OutOfGas(cost));
            }
            ip += 1;
            continue;
        }};
    }
    // A branch not taken: on to the next op, paying its block's charge if it begins one
    // (saving that charge a dispatch of its own).
    macro_rules! fall {
        () => {{
            ip += 1;
            if let Op::Charge(cost) = at::<CHECKED, _>(&f.ops, ip).op {
                charge!(cost);
            }
            continue;
        }};
    }
    macro_rules! fault {
        ($fault:expr) => {
            exit!(Exit::Fault($fault))
        };
    }
    // Exits on a `Stop` from a shared instruction, else yields its value.
    macro_rules! sys {
        ($call:expr) => {
            match $call {
                Ok(v) => v,
                Err(stop) => exit!(Exit::from(stop)),
            }
        };
    }
    macro_rules! binop {
        (|$x:ident, $y:ident| $e:expr) => {{
            let $y = w!(sp - 1);
            let $x = w!(sp - 2);
            w!(sp - 2) = $e;
            sp -= 1;
        }};
    }
    // Local `i` of the running frame.
    macro_rules! local {
        ($i:expr) => {
            w!(base + $i as usize)
        };
    }
    macro_rules! unop {
        ($un:expr) => {
            w!(sp - 1) = $un.eval(w!(sp - 1))
        };
    }
    // Division-like ops: fault on a zero divisor, leaving the operands in place.
    macro_rules! divop {
        ($div:expr) => {{
            let Some(v) = $div.eval(w!(sp - 2), w!(sp - 1)) else {
                fault!(Fault::DivisionByZero);
            };
            w!(sp - 2) = v;
            sp -= 1;
        }};
    }
    macro_rules! load_op {
        ($load:expr, $off:expr) => {{
            match $load.read(&p.memory, w!(sp - 1), $off) {
                Some(v) => w!(sp - 1) = v,
                None => fault!(Fault::OutOfBounds),
            }
        }};
    }
    macro_rules! store_op {
        ($store:expr, $off:expr) => {{
            let (addr, v) = (w!(sp - 2), w!(sp - 1));
            if !$store.write(&mut p.memory, addr, $off, v) {
                fault!(Fault::OutOfBounds);
            }
            sp -= 2;
        }};
    }
    // A fused run's closing access faulted: its operands are on the stack up to `sp`; stop
    // at the access, the run's instruction `k`.
    macro_rules! fault_at {
        ($k:expr, $fault:expr) => {{
            p.stack.truncate(sp);
            p.frames.last_mut().expect("frame").pc = f.pc_of[ip] + $k;
            return Outcome::Exit(Exit::Fault($fault));
        }};
    }

    // A fused run's access at its instruction `k` faulted, having found `a` and `b` on top
    // of the stack: push them and stop at the access.
    macro_rules! fault_with {
        ($k:expr; $a:expr, $b:expr) => {{
            w!(sp) = $a;
            w!(sp + 1) = $b;
            sp += 2;
            fault_at!($k, Fault::OutOfBounds);
        }};
    }

    // A fused run closing in load `l` at `addr + o`, instruction `k` of the run: the loaded
    // word goes to stack word `slot`, the run's last, or on a fault the address the load
    // would have found there.
    macro_rules! fused_load {
        ($l:expr, $addr:expr, $o:expr, $slot:expr, $k:expr) => {{
            let (addr, slot) = ($addr, $slot);
            let v = $l.read(&p.memory, addr, $o);
            w!(slot) = v.unwrap_or(addr);
            sp = slot + 1;
            if v.is_none() {
                fault_at!($k, Fault::OutOfBounds);
            }
            ip += 1;
            continue;
        }};
        // A load at `addr + o`, instruction `k` of a run, whose word the run goes on with;
        // on a fault, the address the load found is pushed.
        (value $l:expr, $addr:expr, $o:expr, $k:expr) => {{
            let addr = $addr;
            match $l.read(&p.memory, addr, $o) {
                Some(v) => v,
                None => {
                    w!(sp) = addr;
                    sp += 1;
                    fault_at!($k, Fault::OutOfBounds);
                }
            }
        }};
    }

    loop {
        // Where it is built, threaded dispatch runs the ops it takes, up to one it leaves
        // to this loop (see `crate::threaded`).
        #[cfg(rarvm_threaded)]
        if !CHECKED {
            (ip, sp) = crate::threaded::enter(p, b, funcs, f, T::NEVER, ip, base, sp);
            let top = p.frames.last().expect("a running process has a frame");
            f = &funcs[top.func as usize];
            base = top.base as usize;
        }
        let ins = match at::<CHECKED, _>(&f.ops, ip).op {
            Op::Charge(cost) => charge!(cost),
            Op::I(ins) => ins,
            Op::Call(callee, _) => Instr::Call(callee),
            Op::JmpCharge(cost, t) => {
                goto!(t);
                charge!(cost);
            }
            // ---- fused runs (see `crate::fuse`) ----
            Op::Mov(d, x) => {
                w!(base + d as usize) = local!(x);
                ip += 1;
                continue;
            }
            Op::Get2(x, y) => {
                w!(sp) = w!(base + x as usize);
                w!(sp + 1) = w!(base + y as usize);
                sp += 2;
                ip += 1;
                continue;
            }
            Op::BinL(op, x) => {
                w!(sp - 1) = op.eval(w!(sp - 1), local!(x));
                ip += 1;
                continue;
            }
            Op::BinLL(op, x, y) => {
                w!(sp) = op.eval(local!(x), local!(y));
                sp += 1;
                ip += 1;
                continue;
            }
            Op::BinLI(op, x, c) => {
                w!(sp) = op.eval(local!(x), u64::from(c));
                sp += 1;
                ip += 1;
                continue;
            }
            Op::BinI(op, c) => {
                w!(sp - 1) = op.eval(w!(sp - 1), c.get());
                ip += 1;
                continue;
            }
            Op::TeeI(op, d, c) => {
                let v = op.eval(w!(sp - 1), c.get());
                w!(sp - 1) = v;
                w!(base + d as usize) = v;
                ip += 1;
                continue;
            }
            Op::BinSet(op, d) => {
                let v = op.eval(w!(sp - 2), w!(sp - 1));
                sp -= 2;
                w!(base + d as usize) = v;
                ip += 1;
                continue;
            }
            Op::BinTee(op, d) => {
                let v = op.eval(w!(sp - 2), w!(sp - 1));
                sp -= 1;
                w!(sp - 1) = v;
                w!(base + d as usize) = v;
                ip += 1;
                continue;
            }
            Op::SetL(op, d, x) => {
                sp -= 1;
                w!(base + d as usize) = op.eval(w!(sp), local!(x));
                ip += 1;
                continue;
            }
            Op::SetLL(op, d, x, y) => {
                w!(base + d as usize) = op.eval(local!(x), local!(y));
                ip += 1;
                continue;
            }
            Op::SetLI(op, d, x, c) => {
                w!(base + d as usize) = op.eval(local!(x), u64::from(c));
                ip += 1;
                continue;
            }
            Op::TeeLI(op, d, x, c) => {
                let v = op.eval(local!(x), u64::from(c));
                w!(base + d as usize) = v;
                w!(sp) = v;
                sp += 1;
                ip += 1;
                continue;
            }
            Op::Br(op, nz, t) => {
                let v = op.eval(w!(sp - 2), w!(sp - 1));
                sp -= 2;
                if (v != 0) == nz {
                    branch!(t);
                }
                fall!();
            }
            Op::BrL(nz, x, t) => {
                if (local!(x) != 0) == nz {
                    branch!(t);
                }
                fall!();
            }
            Op::BrSL(op, nz, x, t) => {
                sp -= 1;
                if (op.eval(w!(sp), local!(x)) != 0) == nz {
                    branch!(t);
                }
                fall!();
            }
            Op::BrI(op, nz, c, t) => {
                sp -= 1;
                if (op.eval(w!(sp), u64::from(c)) != 0) == nz {
                    branch!(t);
                }
                fall!();
            }
            Op::BrLL(op, nz, x, y, t) => {
                if (op.eval(local!(x), local!(y)) != 0) == nz {
                    branch!(t);
                }
                fall!();
            }
            Op::BrLI(op, nz, x, c, t) => {
                if (op.eval(local!(x), u64::from(c)) != 0) == nz {
                    branch!(t);
                }
                fall!();
            }
            Op::MovBr(nz, d, x, t) => {
                let v = local!(x);
                w!(base + d as usize) = v;
                if (v != 0) == nz {
                    branch!(t);
                }
                fall!();
            }
            Op::LoadSet(l, d, o) => {
                let Some(v) = l.read(&p.memory, w!(sp - 1), o) else {
                    fault!(Fault::OutOfBounds);
                };
                sp -= 1;
                w!(base + d as usize) = v;
                ip += 1;
                continue;
            }
            Op::LoadTee(l, d, o) => {
                let Some(v) = l.read(&p.memory, w!(sp - 1), o) else {
                    fault!(Fault::OutOfBounds);
                };
                w!(sp - 1) = v;
                w!(base + d as usize) = v;
                ip += 1;
                continue;
            }
            Op::LoadL(l, x, o) => fused_load!(l, local!(x), o, sp, 1),
            // A load between a local read and a write: on a fault, the address is the
            // operand the load found.
            Op::LoadLSet(l, d, x, o) => {
                let v = fused_load!(value l, local!(x), o, 1);
                w!(base + d as usize) = v;
                ip += 1;
                continue;
            }
            Op::LoadLTee(l, d, x, o) => {
                let v = fused_load!(value l, local!(x), o, 1);
                w!(base + d as usize) = v;
                w!(sp) = v;
                sp += 1;
                ip += 1;
                continue;
            }
            Op::LoadLBr(l, nz, x, o, t) => {
                if (fused_load!(value l, local!(x), o, 1) != 0) == nz {
                    branch!(t);
                }
                fall!();
            }
            Op::LoadLSwitch(l, x, o, t) => {
                let i = fused_load!(value l, local!(x), o, 1);
                let table = &f.tables[t as usize];
                branch!(table[switch_entry(table.len(), i)]);
            }
            // The store writes where the load read, as wide: it faults only if the load did.
            Op::Update(l, op, x, c, o) => {
                let addr = local!(x);
                let Some(v) = l.read(&p.memory, addr, o) else {
                    fault_with!(2; addr, addr);
                };
                let v = op.eval(v, u64::from(c));
                if !l.store().write(&mut p.memory, addr, o, v) {
                    fault_with!(5; addr, v);
                }
                ip += 1;
                continue;
            }
            Op::LoadS(op, l, o) => fused_load!(l, op.eval(w!(sp - 2), w!(sp - 1)), o, sp - 2, 1),
            Op::LoadSL(op, l, x, o) => fused_load!(l, op.eval(w!(sp - 1), local!(x)), o, sp - 1, 2),
            Op::LoadLI(op, l, x, c, o) => {
                fused_load!(l, op.eval(local!(x), u64::from(c)), o, sp, 3)
            }
            Op::LoadI(op, l, c, o) => {
                fused_load!(l, op.eval(w!(sp - 1), u64::from(c)), o, sp - 1, 2)
            }
            Op::StoreL(s, x, o) => {
                let (addr, v) = (w!(sp - 1), local!(x));
                if !s.write(&mut p.memory, addr, o, v) {
                    w!(sp) = v;
                    sp += 1;
                    fault_at!(1, Fault::OutOfBounds);
                }
                sp -= 1;
                ip += 1;
                continue;
            }
            Op::StoreLL(s, x, y, o) => {
                let (addr, v) = (local!(x), local!(y));
                if !s.write(&mut p.memory, addr, o, v) {
                    fault_with!(2; addr, v);
                }
                ip += 1;
                continue;
            }
            Op::StoreLLL(s, op, x, y, z, o) => {
                let (addr, v) = (local!(x), op.eval(local!(y), local!(z)));
                if !s.write(&mut p.memory, addr, o, v) {
                    fault_with!(4; addr, v);
                }
                ip += 1;
                continue;
            }
            Op::StoreLI(s, x, c, o) => {
                let addr = local!(x);
                if !s.write(&mut p.memory, addr, o, u64::from(c)) {
                    fault_with!(2; addr, u64::from(c));
                }
                ip += 1;
                continue;
            }
        };
        match ins {
            // ---- control ----
            Instr::Nop => {}
            Instr::Trap => fault!(Fault::Trap),
            Instr::Halt => exit!(Exit::Halt),
            Instr::Jmp(t) => branch!(t),
            Instr::Jz(t) => {
                sp -= 1;
                if w!(sp) == 0 {
                    branch!(t);
                }
            }
            Instr::Jnz(t) => {
                sp -= 1;
                if w!(sp) != 0 {
                    branch!(t);
                }
            }
            Instr::Switch(t) => {
                sp -= 1;
                let table = &f.tables[t as usize];
                branch!(table[switch_entry(table.len(), w!(sp))]);
            }
            Instr::Call(callee) => {
                let c = &funcs[callee as usize];
                if p.frames.len() >= MAX_CALL_DEPTH {
                    fault!(Fault::CallDepth);
                }
                let new_base = sp - c.params;
                if new_base + c.frame_words > MAX_STACK_WORDS {
                    fault!(Fault::StackOverflow);
                }
                if let Err(stop) = b.charge(c.call_gas, c.frame_bytes) {
                    exit!(stop.into());
                }
                rarvm_runtime::meter::touched(8 * c.frame_words as u64);
                p.frames.last_mut().expect("frame").pc = f.pc_of[ip] + 1;
                p.frames.push(Frame {
                    func: callee,
                    pc: 0,
                    base: new_base as u32,
                });
                p.reserve_stack(new_base + c.frame_words);
                p.stack[sp..new_base + c.locals].fill(0);
                sp = new_base + c.locals;
                base = new_base;
                f = c;
                ip = f.entry_of[0] as usize;
                if tier.enter(callee, 0, false, b.fuel) {
                    p.stack.truncate(sp);
                    return Outcome::HandOver;
                }
                continue;
            }
            Instr::Ret => {
                if p.frames.len() == 1 {
                    p.stack.truncate(sp);
                    p.frames[0].pc = f.pc_of[ip];
                    return Outcome::Exit(match ops::return_from_entry(p, b) {
                        Ok(()) => Exit::Return,
                        Err(fault) => Exit::Fault(fault),
                    });
                }
                let from = sp - f.results;
                p.stack.copy_within(from..sp, base);
                sp = base + f.results;
                b.refund_mem(f.frame_bytes);
                p.frames.pop();
                let caller = *p.frames.last().expect("a caller frame");
                f = &funcs[caller.func as usize];
                base = caller.base as usize;
                // A run that began inside the callee reserved only the callee's frame; the
                // caller's may reach further (more operands after the call than the callee
                // has words).
                p.reserve_stack(base + f.frame_words);
                ip = f.entry_of[caller.pc as usize] as usize;
                if tier.enter(caller.func, caller.pc, false, b.fuel) {
                    p.stack.truncate(sp);
                    return Outcome::HandOver;
                }
                continue;
            }

            // ---- operand stack and locals ----
            Instr::Push(v) => {
                w!(sp) = v;
                sp += 1;
            }
            Instr::Drop => sp -= 1,
            Instr::Dup => {
                w!(sp) = w!(sp - 1);
                sp += 1;
            }
            Instr::Swap => p.stack.swap(sp - 1, sp - 2),
            Instr::Over => {
                w!(sp) = w!(sp - 2);
                sp += 1;
            }
            Instr::Select => {
                let c = w!(sp - 1);
                let v = if c != 0 { w!(sp - 3) } else { w!(sp - 2) };
                w!(sp - 3) = v;
                sp -= 2;
            }
            Instr::LocalGet(i) => {
                w!(sp) = w!(base + i as usize);
                sp += 1;
            }
            Instr::LocalSet(i) => {
                sp -= 1;
                w!(base + i as usize) = w!(sp);
            }
            Instr::LocalTee(i) => w!(base + i as usize) = w!(sp - 1),

            // ---- arithmetic ----
            Instr::Add => binop!(|x, y| Alu::Add.eval(x, y)),
            Instr::Sub => binop!(|x, y| Alu::Sub.eval(x, y)),
            Instr::Mul => binop!(|x, y| Alu::Mul.eval(x, y)),
            Instr::DivU => divop!(Div::DivU),
            Instr::DivS => divop!(Div::DivS),
            Instr::RemU => divop!(Div::RemU),
            Instr::RemS => divop!(Div::RemS),
            Instr::And => binop!(|x, y| Alu::And.eval(x, y)),
            Instr::Or => binop!(|x, y| Alu::Or.eval(x, y)),
            Instr::Xor => binop!(|x, y| Alu::Xor.eval(x, y)),
            Instr::Shl => binop!(|x, y| Alu::Shl.eval(x, y)),
            Instr::ShrU => binop!(|x, y| Alu::ShrU.eval(x, y)),
            Instr::ShrS => binop!(|x, y| Alu::ShrS.eval(x, y)),
            Instr::Rotl => binop!(|x, y| Alu::Rotl.eval(x, y)),
            Instr::Rotr => binop!(|x, y| Alu::Rotr.eval(x, y)),
            Instr::Not => unop!(Un::Not),
            Instr::Neg => unop!(Un::Neg),
            Instr::Clz => unop!(Un::Clz),
            Instr::Ctz => unop!(Un::Ctz),
            Instr::Popcnt => unop!(Un::Popcnt),
            Instr::Eqz => unop!(Un::Eqz),
            Instr::Eq => binop!(|x, y| Alu::Eq.eval(x, y)),
            Instr::Ne => binop!(|x, y| Alu::Ne.eval(x, y)),
            Instr::LtU => binop!(|x, y| Alu::LtU.eval(x, y)),
            Instr::LtS => binop!(|x, y| Alu::LtS.eval(x, y)),
            Instr::GtU => binop!(|x, y| Alu::GtU.eval(x, y)),
            Instr::GtS => binop!(|x, y| Alu::GtS.eval(x, y)),
            Instr::LeU => binop!(|x, y| Alu::LeU.eval(x, y)),
            Instr::LeS => binop!(|x, y| Alu::LeS.eval(x, y)),
            Instr::GeU => binop!(|x, y| Alu::GeU.eval(x, y)),
            Instr::GeS => binop!(|x, y| Alu::GeS.eval(x, y)),

            // ---- memory ----
            Instr::Load8U(o) => load_op!(Load::U8, o),
            Instr::Load8S(o) => load_op!(Load::S8, o),
            Instr::Load16U(o) => load_op!(Load::U16, o),
            Instr::Load16S(o) => load_op!(Load::S16, o),
            Instr::Load32U(o) => load_op!(Load::U32, o),
            Instr::Load32S(o) => load_op!(Load::S32, o),
            Instr::Load64(o) => load_op!(Load::W64, o),
            Instr::Store8(o) => store_op!(Store::W8, o),
            Instr::Store16(o) => store_op!(Store::W16, o),
            Instr::Store32(o) => store_op!(Store::W32, o),
            Instr::Store64(o) => store_op!(Store::W64, o),
            Instr::MemSize => {
                w!(sp) = p.memory.len() as u64;
                sp += 1;
            }
            Instr::MemGrow => {
                let old = sys!(ops::mem_grow(p, b, r!(sp - 1)));
                w!(sp - 1) = old;
            }
            Instr::MemCopy => {
                let (d, s, n) = (w!(sp - 3), w!(sp - 2), w!(sp - 1));
                sys!(ops::mem_copy(p, b, d, s, n));
                sp -= 3;
            }
            Instr::MemFill => {
                let (d, v, n) = (w!(sp - 3), w!(sp - 2), w!(sp - 1));
                sys!(ops::mem_fill(p, b, d, v, n));
                sp -= 3;
            }

            // ---- this process ----
            Instr::GasLeft => {
                w!(sp) = b.own_gas();
                sp += 1;
            }
            Instr::MemLeft => {
                w!(sp) = b.own_mem();
                sp += 1;
            }
            Instr::In => {
                let v = sys!(ops::port_in(p).map_err(Stop::from));
                w!(sp) = v;
                sp += 1;
            }
            Instr::Out => {
                sys!(ops::port_out(p, r!(sp - 1)).map_err(Stop::from));
                sp -= 1;
            }
            Instr::Yield => {
                ip += 1;
                exit!(Exit::Yield);
            }

            // ---- children ----
            Instr::Spawn(func) => {
                let slot = sys!(ops::spawn(p, b, func));
                w!(sp) = slot;
                sp += 1;
            }
            Instr::SpawnBytes => {
                let (slot, err) = sys!(ops::spawn_bytes(p, b, r!(sp - 2), r!(sp - 1)));
                w!(sp - 2) = slot;
                w!(sp - 1) = err;
            }
            Instr::Recurse => exit!(Exit::Recurse),
            Instr::ChildPush => {
                sys!(ops::child_push(p, r!(sp - 2), r!(sp - 1)).map_err(Stop::from));
                sp -= 2;
            }
            Instr::ChildPop => {
                let v = sys!(ops::child_pop(p, r!(sp - 1)).map_err(Stop::from));
                w!(sp - 1) = v;
            }
            Instr::ChildInfo(field) => {
                let field = Field::from_u8(field).expect("verified field");
                let v = sys!(ops::child_info(p, r!(sp - 1), field).map_err(Stop::from));
                w!(sp - 1) = v;
            }
            Instr::ChildGrow => {
                let old = sys!(ops::child_grow(p, b, r!(sp - 2), r!(sp - 1)));
                w!(sp - 2) = old;
                sp -= 1;
            }
            Instr::ChildWrite | Instr::ChildRead => {
                let (slot, d, s, n) = (w!(sp - 4), w!(sp - 3), w!(sp - 2), w!(sp - 1));
                if ins == Instr::ChildWrite {
                    sys!(ops::child_write(p, b, slot, d, s, n));
                } else {
                    sys!(ops::child_read(p, b, slot, d, s, n));
                }
                sp -= 4;
            }
            Instr::ChildSave => {
                let (slot, addr, cap) = (w!(sp - 3), w!(sp - 2), w!(sp - 1));
                let len = sys!(ops::child_save(p, b, slot, addr, cap));
                w!(sp - 3) = len;
                sp -= 2;
            }
            Instr::ChildLoad => {
                let (slot, err) = sys!(ops::child_load(p, b, r!(sp - 2), r!(sp - 1)));
                w!(sp - 2) = slot;
                w!(sp - 1) = err;
            }

            // ---- keys ----
            Instr::KeyKind => w!(sp - 1) = ops::key_kind(p, r!(sp - 1)),
            Instr::KeyDrop => {
                sys!(ops::key_drop(p, b, r!(sp - 1)).map_err(Stop::from));
                sp -= 1;
            }
            Instr::KeyRights => w!(sp - 1) = ops::key_rights(p, r!(sp - 1)),
            Instr::KeyGive => {
                let cslot = sys!(ops::key_give(p, b, r!(sp - 2), r!(sp - 1)));
                w!(sp - 2) = cslot;
                sp -= 1;
            }
            Instr::KeyAttenuate => {
                let (slot, rights, addr, len) = (w!(sp - 4), w!(sp - 3), w!(sp - 2), w!(sp - 1));
                let (new, err) = sys!(ops::key_attenuate(p, b, slot, rights, addr, len));
                w!(sp - 4) = new;
                w!(sp - 3) = err;
                sp -= 2;
            }
            Instr::KeyInvoke => exit!(Exit::Invoke),
        }
        ip += 1;
    }
}
