//! Entering native code from the runtime and coming back: the canonical process state is
//! handed to native code at an entry point, and rebuilt from what native code wrote when it
//! leaves; the interpreter runs whatever native code cannot.

use std::sync::Arc;

use rarvm_interp::Outcome;
use rarvm_runtime::engine::{Budget, Exit};
use rarvm_runtime::limits::{MAX_CALL_DEPTH, MAX_STACK_WORDS};
use rarvm_runtime::ops;
use rarvm_runtime::process::{Fault, Frame, Process};
use rarvm_runtime::verify::VerifiedModule;

use crate::abi::{Ctx, FrameRecord, NativeFn, Reason, FUEL_CAP, FUEL_EXIT};
use crate::cache::{ModuleCode, ModuleState};
use crate::tier::Policy;
use crate::{Jit, STACK_FALLBACK, STACK_RESERVE};

/// Value-stack words reserved beyond the entered frame for native calls: no more than a
/// trimmed process keeps anyway (`Process::trim`), so entering native code does not make
/// a process hold more than its footprint counts.
const AHEAD_WORDS: usize = 16;

impl Jit {
    /// Runs the top frame natively from its pc, an entry point of its compiled code.
    /// Returns an exit for the machine, or `None` to continue with the (new) top frame.
    pub(crate) fn native(
        &mut self,
        p: &mut Process,
        b: &mut Budget,
        state: &Arc<ModuleState>,
        code: &mut ModuleCode,
    ) -> Option<Exit> {
        let top = *p.frames.last().expect("a running process has a frame");
        let entered = p.frames.len() - 1;
        let module = Arc::clone(&p.module);
        let info = module.info(top.func);
        let compiled = code.code[top.func as usize]
            .clone()
            .expect("entered functions are compiled");
        debug_assert!(
            code.enterable(top.func, top.pc, b.fuel),
            "entered at an entry point its fuel covers"
        );
        // Value-stack room for the entered frame and a few native calls. Native calls beyond
        // the capacity go to the interpreter, which grows the stack (doubling) as the frames
        // it pays for need; what a stopped process keeps is trimmed (`Process::trim`).
        let frame_end = top.base as usize + info.frame_words as usize;
        let ahead = (code.max_frame_words as usize).min(AHEAD_WORDS);
        if p.stack.capacity() < frame_end + ahead {
            p.stack.reserve(frame_end + ahead - p.stack.len());
        }
        // Host stack for native recursion: what the thread has left, minus a reserve.
        let room = stacker::remaining_stack()
            .unwrap_or(STACK_FALLBACK)
            .saturating_sub(STACK_RESERVE);
        if compiled.frame as usize > room {
            // Not even this frame fits on the host stack: the interpreter needs none.
            return self.interpret(p, b, &module, state, code);
        }
        // Native calls within `struct_limit` frame bytes stay inside the frame limit, the
        // value stack's limit and capacity, and the host stack: there are at most
        // `struct_limit / min_frame_bytes` of them, each reserving at most `max_frame_words`
        // words and `max_native_frame` bytes of host stack.
        let by_depth = MAX_CALL_DEPTH.saturating_sub(p.frames.len());
        let by_stack = room / code.max_native_frame.max(1) as usize;
        let words = p.stack.capacity().min(MAX_STACK_WORDS);
        let by_words = words.saturating_sub(frame_end) / code.max_frame_words as usize;
        let frames_ok = by_depth.min(by_stack).min(by_words) as u64;
        let struct_limit = frames_ok.saturating_mul(code.min_frame_bytes);
        if self.frames.is_empty() {
            self.frames = vec![FrameRecord::default(); MAX_CALL_DEPTH];
        }
        let stack_base = p.stack.as_mut_ptr();
        // SAFETY: `top.base` is within the value stack (a frame starts at or below its length).
        let vals = unsafe { stack_base.add(top.base as usize) };
        // Native fuel stays below the exit sentinels; the rest waits in reserve.
        let reserve = b.fuel.saturating_sub(FUEL_CAP);
        let mut ctx = Ctx {
            fuel: b.fuel - reserve,
            mem: b.mem,
            gas_extra: b.gas_extra + reserve,
            mem_extra: b.mem_extra,
            stack_base,
            mem_base: p.memory.as_mut_ptr(),
            mem_size: p.memory.len() as u64,
            used_limit: struct_limit.min(b.mem),
            struct_limit,
            table: code.table.as_ptr(),
            frames: self.frames.as_mut_ptr(),
            entered_is_entry: u64::from(entered == 0),
            process: p as *mut Process,
            used: 0,
            exit_reason: 0,
            exit_arg: 0,
            exit_sp: 0,
            exit_frames: 0,
            out: [0; 2],
        };
        // SAFETY: `compiled.entry` is native code compiled by our backend for this module's
        // function `top.func` with signature `NativeFn`, kept alive by `compiled` (and the
        // table, which nothing changes while native code runs). `ctx` describes `p`, which
        // native code and the helpers it calls access only through `ctx` until it returns;
        // the value stack has capacity for the entered frame, `top.pc` is an entry point of
        // this code, and `vals` holds that frame's canonical words.
        let result = unsafe {
            let f: NativeFn = std::mem::transmute::<*const u8, NativeFn>(compiled.entry);
            f(&mut ctx, vals, u64::from(top.pc) + 1, 0, ctx.fuel)
        };
        self.stats.native_entries += 1;
        let exited = result.fuel == FUEL_EXIT;
        if !exited {
            // Every native frame returned: nothing is outstanding.
            ctx.fuel = result.fuel;
            ctx.used = 0;
        }
        *b = ctx.budget();
        b.fuel += reserve;
        b.gas_extra -= reserve;
        let results = module.func(top.func).results as usize;
        if !exited {
            // The entered frame returned to a caller that is not native: finish the
            // return as the interpreter does.
            self.stats.native_returns += 1;
            // SAFETY: native `ret` wrote results 1.. at `vals[1..results]` and returned the
            // first, written here; the words below `top.base` were already initialized, and
            // the capacity covers the entered frame, which holds at least its results.
            unsafe {
                if results > 0 {
                    vals.write(result.result0);
                }
                p.stack.set_len(top.base as usize + results);
            }
            p.stack_written();
            p.frames.pop();
            b.refund_mem(info.frame_bytes);
            return None;
        }
        // Records are innermost first; the last is the entered frame.
        let records = &self.frames[..ctx.exit_frames as usize];
        p.frames.truncate(entered);
        p.frames.extend(records.iter().rev().map(|r| Frame {
            func: r.func as u32,
            pc: r.pc as u32,
            base: r.base as u32,
        }));
        let reason = Reason::from_u64(ctx.exit_reason).expect("native code writes a known reason");
        if reason == Reason::NotCompiled {
            // The callee's locals beyond its arguments were not written: zero them.
            let callee = *p.frames.last().expect("the callee's frame");
            let f = module.func(callee.func);
            let from = callee.base as usize + f.params as usize;
            let to = callee.base as usize + f.local_count() as usize;
            // SAFETY: `to <= exit_sp <= capacity` (the callee's locals end at `exit_sp`), so
            // the range lies in the value stack's allocation.
            unsafe { std::ptr::write_bytes(stack_base.add(from), 0, to - from) };
        }
        // SAFETY: every exiting native frame wrote all its locals and operands (a callee
        // that was not compiled has its arguments written by its caller and its other locals
        // zeroed just above), and the frames are contiguous from the entered frame's base to
        // `exit_sp`; the words below were initialized before the entry.
        unsafe { p.stack.set_len(ctx.exit_sp as usize) };
        p.stack_written();
        self.stats.exits[reason as usize - 1] += 1;
        let arg = ctx.exit_arg;
        match reason {
            // Out of native fuel with more in reserve: continue from the block start.
            Reason::OutOfGas if arg <= b.fuel => None,
            Reason::OutOfGas => Some(Exit::OutOfGas(arg)),
            Reason::OutOfMemory => Some(Exit::OutOfMemory(arg)),
            Reason::Fault => Some(Exit::Fault(
                Fault::from_u8(arg as u8).expect("native code writes a fault code"),
            )),
            Reason::Yield => Some(Exit::Yield),
            Reason::Halt => Some(Exit::Halt),
            Reason::Recurse => Some(Exit::Recurse),
            Reason::Invoke => Some(Exit::Invoke),
            Reason::Fold => Some(Exit::Fold),
            Reason::RetEntry => Some(match ops::return_from_entry(p, b) {
                Ok(()) => Exit::Return,
                Err(f) => Exit::Fault(f),
            }),
            // The interpreter executes the call with exact checks and hands back at the
            // callee's entry, on a fresh host stack budget. If the value stack's capacity
            // was what stopped native calls, double it: deep recursion then stays native.
            Reason::Recheck => {
                if by_words < by_depth.min(by_stack) {
                    // No more than the frames the chain's headroom could pay for.
                    let payable = p.stack.len() + usize::try_from(b.mem / 8).unwrap_or(usize::MAX);
                    let want = (2 * p.stack.capacity()).min(payable).min(MAX_STACK_WORDS);
                    if want > p.stack.capacity() {
                        p.stack.reserve(want - p.stack.len());
                    }
                }
                self.interpret(p, b, &module, state, code)
            }
            Reason::NotCompiled => None,
        }
    }

    /// Runs the interpreter until it stops or hands over to native code, counting heat and
    /// compiling what earns it.
    pub(crate) fn interpret(
        &mut self,
        p: &mut Process,
        b: &mut Budget,
        module: &Arc<VerifiedModule>,
        state: &Arc<ModuleState>,
        code: &mut ModuleCode,
    ) -> Option<Exit> {
        self.stats.interp_runs += 1;
        let current = p.frames.last().expect("a running process has a frame").func;
        let mut policy = Policy {
            jit: self,
            code,
            module,
            state,
            current,
            fuel: b.fuel,
        };
        let outcome = rarvm_interp::run(p, b, &mut policy);
        policy.settle(b.fuel);
        match outcome {
            Outcome::Exit(e) => Some(e),
            Outcome::HandOver => None,
        }
    }
}
