//! Translation of one verified function into Cranelift IR.
//!
//! Locals and operand-stack slots are Cranelift [`Variable`]s, so values live in registers;
//! the canonical in-memory frame (`vals`) is read on entry and written only where native
//! code is left. Every basic block subtracts its cost from the fuel variable, and only the
//! check points of [`crate::gas`] compare it, once per region; every way out of native code goes through a cold stub that stores the
//! frame exactly as the interpreter would hold it at that instruction.

use std::mem::offset_of;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    self, types, AbiParam, Block, Endianness, InstBuilder, MemFlagsData, SigRef, Signature, Value,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, Switch, Variable};
use rarvm_runtime::isa::{Instr, Metering, StackEffect};
use rarvm_runtime::module::Function;
use rarvm_runtime::process::Fault;
use rarvm_runtime::verify::{FuncInfo, VerifiedModule, UNREACHABLE};

use crate::abi::{self, Ctx, FrameRecord, Helper, Reason, FUEL_EXIT, FUEL_NOT_COMPILED};
use crate::gas::{call_gas, Regions};

const I64: types::Type = types::I64;
const I32: types::Type = types::I32;

/// `(ctx, vals, entry, used, fuel) -> (fuel, result0)`; see [`crate::abi`].
pub(crate) fn native_signature(cc: CallConv) -> Signature {
    let mut s = Signature::new(cc);
    s.params.extend([AbiParam::new(I64); 5]);
    s.returns.extend([AbiParam::new(I64); 2]);
    s
}

/// `(ctx, a, b, c, d) -> status` of every helper.
fn helper_signature(cc: CallConv) -> Signature {
    let mut s = Signature::new(cc);
    s.params.extend([AbiParam::new(I64); 5]);
    s.returns.push(AbiParam::new(I32));
    s
}

/// How an exit stub learns its reason.
#[derive(Clone, Copy)]
enum ExitKind {
    /// A fixed reason and argument.
    Static(Reason, u64),
    /// A helper's status, whose argument the helper already wrote.
    Dynamic(Value),
}

struct Tx<'a, 'b> {
    b: &'a mut FunctionBuilder<'b>,
    m: &'a VerifiedModule,
    index: u32,
    f: &'a Function,
    info: &'a FuncInfo,
    nlocals: u32,
    ctx: Value,
    vals: Value,
    used: Value,
    /// Whether the function touches linear memory (else its base and size are not loaded).
    uses_memory: bool,
    /// The function itself, for direct recursive calls.
    this: ir::FuncRef,
    /// False for trusted code run without gas checks on blocks and calls.
    metered: bool,
    locals: Vec<Variable>,
    stack: Vec<Variable>,
    fuel: Variable,
    mem_base: Variable,
    mem_size: Variable,
    /// For widths 1, 2, 4 and 8: `max(size + 1 - width, 0)`, the first address at which
    /// an access of that width at offset 0 is out of bounds (see [`Tx::linear_addr`]).
    mem_limit: [Variable; 4],
    blocks: Vec<Option<Block>>,
    /// For each loop header (a block start some later instruction branches back to): the
    /// last instruction that does.
    last_backward: Vec<Option<usize>>,
    /// For each loop header: a block of its own that every edge into the loop but its
    /// backward branches goes through (the dispatch's included), so that values the loop
    /// does not change are not merged at the header and Cranelift can hoist what is
    /// computed from them out of the loop.
    preheaders: Vec<Option<Block>>,
    /// The shared exit tail, created by the first exit.
    tail: Option<Block>,
    /// The shared tail of calls whose callee left native code, created by the first.
    call_tail: Option<Block>,
    /// Where the runtime may enter and where gas is checked: see [`crate::gas`].
    regions: &'a Regions,
    native_sig: SigRef,
    helper_sig: SigRef,
}

fn trusted() -> MemFlagsData {
    MemFlagsData::trusted()
}

/// Flags of linear-memory accesses: bounds-checked before, possibly unaligned,
/// little-endian on every host.
fn linear() -> MemFlagsData {
    MemFlagsData::new()
        .with_notrap()
        .with_endianness(Endianness::Little)
}

fn off(field: usize) -> i32 {
    field as i32
}

/// Translates function `index` of `m` into `b`'s function; `this` refers to the function
/// being built, `regions` its [`Regions`]. Unless `metered`, blocks and calls are not charged
/// (trusted code).
pub(crate) fn translate(
    b: &mut FunctionBuilder<'_>,
    m: &VerifiedModule,
    index: u32,
    regions: &Regions,
    cc: CallConv,
    this: ir::FuncRef,
    metered: bool,
) {
    let f = m.func(index);
    let info = m.info(index);
    let native_sig = b.import_signature(native_signature(cc));
    let helper_sig = b.import_signature(helper_signature(cc));
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let params = b.block_params(entry).to_vec();
    let (ctx, vals, entry_pc, used, fuel_in) =
        (params[0], params[1], params[2], params[3], params[4]);
    let nlocals = f.local_count();
    let locals = (0..nlocals).map(|_| b.declare_var(I64)).collect();
    let stack = (0..info.max_height).map(|_| b.declare_var(I64)).collect();
    let fuel = b.declare_var(I64);
    let mem_base = b.declare_var(I64);
    let mem_size = b.declare_var(I64);
    let mem_limit = [(); 4].map(|()| b.declare_var(I64));
    let uses_memory = f.code.iter().any(|i| i.info().touches_memory());
    let blocks: Vec<Option<Block>> = (0..f.code.len())
        .map(|pc| (info.leader[pc] && info.height[pc] != UNREACHABLE).then(|| b.create_block()))
        .collect();
    let last_backward = last_backward(f, info);
    let preheaders = last_backward
        .iter()
        .zip(&blocks)
        .map(|(last, block)| (last.is_some() && block.is_some()).then(|| b.create_block()))
        .collect();
    let mut tx = Tx {
        b,
        m,
        index,
        f,
        info,
        nlocals,
        ctx,
        vals,
        used,
        uses_memory,
        this,
        metered,
        locals,
        stack,
        fuel,
        mem_base,
        mem_size,
        mem_limit,
        blocks,
        last_backward,
        preheaders,
        tail: None,
        call_tail: None,
        regions,
        native_sig,
        helper_sig,
    };
    tx.b.def_var(fuel, fuel_in);
    tx.reload_memory();
    tx.dispatch(entry_pc);
    tx.body();
    tx.fill_tails();
    tx.b.seal_all_blocks();
}

/// A cold block with `params` 64-bit parameters, for a tail the function's exits share.
fn shared_block(b: &mut FunctionBuilder<'_>, params: usize) -> Block {
    let t = b.create_block();
    b.set_cold_block(t);
    for _ in 0..params {
        b.append_block_param(t, I64);
    }
    t
}

/// For each instruction that some later (or the same) instruction branches to: the last
/// that does.
fn last_backward(f: &Function, info: &FuncInfo) -> Vec<Option<usize>> {
    let len = f.code.len();
    let mut last = vec![None::<usize>; len];
    for pc in 0..len {
        if info.height[pc] == UNREACHABLE {
            continue;
        }
        for t in f.targets(pc) {
            let t = t as usize;
            if t <= pc {
                last[t] = Some(last[t].map_or(pc, |p: usize| p.max(pc)));
            }
        }
    }
    last
}

impl Tx<'_, '_> {
    /// The block a branch from `from` (`None`: the dispatch) to block start `t` jumps to:
    /// a loop header's preheader unless the branch is one of the loop's backward branches.
    fn edge(&self, from: Option<u32>, t: u32) -> Block {
        let t = t as usize;
        let backward = from.is_some_and(|from| t <= from as usize);
        match self.preheaders[t] {
            Some(pre) if !backward => pre,
            _ => self.blocks[t].expect("a branch target is a block start"),
        }
    }

    fn load_ctx(&mut self, field: usize) -> Value {
        self.b.ins().load(I64, trusted(), self.ctx, off(field))
    }

    fn store_ctx(&mut self, field: usize, v: Value) {
        self.b.ins().store(trusted(), v, self.ctx, off(field));
    }

    fn store_ctx_const(&mut self, field: usize, c: u64) {
        let v = self.b.ins().iconst(I64, c as i64);
        self.store_ctx(field, v);
    }

    fn load_val(&mut self, word: u32) -> Value {
        self.b
            .ins()
            .load(I64, trusted(), self.vals, (word * 8) as i32)
    }

    fn store_val(&mut self, word: u32, v: Value) {
        self.b
            .ins()
            .store(trusted(), v, self.vals, (word * 8) as i32);
    }

    fn s(&mut self, slot: u32) -> Value {
        self.b.use_var(self.stack[slot as usize])
    }

    fn set_s(&mut self, slot: u32, v: Value) {
        self.b.def_var(self.stack[slot as usize], v);
    }

    fn reload_memory(&mut self) {
        if !self.uses_memory {
            return;
        }
        let mb = self.load_ctx(offset_of!(Ctx, mem_base));
        self.b.def_var(self.mem_base, mb);
        let ms = self.load_ctx(offset_of!(Ctx, mem_size));
        self.b.def_var(self.mem_size, ms);
        // Computed where the size changes, not at each access: loop headers merge the
        // size as a block parameter, so Cranelift could not hoist a limit computed there.
        // Limits no access uses are removed as dead code.
        let zero = self.iconst(0);
        for (log, var) in self.mem_limit.into_iter().enumerate() {
            let past_end = self.b.ins().iadd_imm_s(ms, 1 - (1 << log));
            let limit = self.b.ins().smax(past_end, zero);
            self.b.def_var(var, limit);
        }
    }

    /// The index in the value stack of this frame's first local (cold paths only).
    fn base_idx(&mut self) -> Value {
        let stack_base = self.load_ctx(offset_of!(Ctx, stack_base));
        let delta = self.b.ins().isub(self.vals, stack_base);
        self.b.ins().ushr_imm_u(delta, 3)
    }

    /// Returns to the caller after an exit (the fuel is in `ctx`).
    fn return_exit(&mut self) {
        let sentinel = self.iconst(FUEL_EXIT);
        let zero = self.iconst(0);
        self.b.ins().return_(&[sentinel, zero]);
    }

    fn iconst(&mut self, v: u64) -> Value {
        self.b.ins().iconst(I64, v as i64)
    }

    /// Loads the frame for a call (`entry == 0`) or a resume at a block start.
    fn dispatch(&mut self, entry_pc: Value) {
        let call = self.b.create_block();
        let resume = self.b.create_block();
        self.b.ins().brif(entry_pc, resume, &[], call, &[]);

        self.b.switch_to_block(call);
        self.b.seal_block(call);
        for i in 0..self.nlocals {
            let v = if i < self.f.params {
                self.load_val(i)
            } else {
                self.iconst(0)
            };
            self.b.def_var(self.locals[i as usize], v);
        }
        let first = self.edge(None, 0);
        self.b.ins().jump(first, &[]);

        self.b.switch_to_block(resume);
        self.b.seal_block(resume);
        for i in 0..self.nlocals {
            let v = self.load_val(i);
            self.b.def_var(self.locals[i as usize], v);
        }
        let trap = self.b.create_block();
        self.b.set_cold_block(trap);
        let mut switch = Switch::new();
        let mut loads = Vec::new();
        for pc in 0..self.f.code.len() {
            if self.regions.entry[pc] {
                let load = self.b.create_block();
                switch.set_entry(pc as u128 + 1, load);
                loads.push((pc, load));
            }
        }
        switch.emit(self.b, entry_pc, trap);
        for (pc, load) in loads {
            self.b.switch_to_block(load);
            self.b.seal_block(load);
            for j in 0..self.info.height[pc] {
                let v = self.load_val(self.nlocals + j);
                self.set_s(j, v);
            }
            let target = self.edge(None, pc as u32);
            self.b.ins().jump(target, &[]);
        }
        self.b.switch_to_block(trap);
        self.b.seal_block(trap);
        // The driver enters native code only at the entries it was compiled with.
        self.b
            .ins()
            .trap(ir::TrapCode::user(1).expect("nonzero trap code"));
    }

    /// Translates every reachable instruction.
    ///
    /// Blocks are sealed as soon as every branch into them has been translated — at once
    /// for blocks entered only from before them (the dispatch comes first), after their
    /// last backward branch for loop headers — so variables resolve without placeholder
    /// parameters and Cranelift's work stays linear in the function.
    fn body(&mut self) {
        let len = self.f.code.len();
        let mut seal_after: Vec<Vec<usize>> = vec![Vec::new(); len];
        for (t, last) in self.last_backward.iter().enumerate() {
            if let Some(pc) = last {
                seal_after[*pc].push(t);
            }
        }
        let mut open = false;
        for (pc, seals) in seal_after.iter().enumerate() {
            let h = self.info.height[pc];
            if h == UNREACHABLE {
                continue;
            }
            if let Some(block) = self.blocks[pc] {
                if let Some(pre) = self.preheaders[pc] {
                    // Every edge into it is translated: the dispatch's and those from before.
                    if open {
                        self.b.ins().jump(pre, &[]);
                    }
                    self.b.switch_to_block(pre);
                    self.b.seal_block(pre);
                    open = true;
                }
                if open {
                    self.b.ins().jump(block, &[]);
                }
                self.b.switch_to_block(block);
                if self.last_backward[pc].is_none() {
                    self.b.seal_block(block);
                }
                if self.f.code[pc].info().metering == Metering::Block {
                    self.charge(pc as u32, h);
                }
            }
            open = self.instr(pc as u32, h);
            for &t in seals {
                self.b
                    .seal_block(self.blocks[t].expect("a branch target is a block"));
            }
        }
    }

    /// Charges the block at `pc`. A check point first compares the fuel with its region's
    /// need and, when short, leaves out of gas (for the block's own cost) with the state at
    /// `pc`, for the interpreter to go on block by block.
    fn charge(&mut self, pc: u32, h: u32) {
        if !self.metered {
            return;
        }
        let cost = u64::from(self.info.block_cost[pc as usize]);
        let need = self.regions.need[pc as usize];
        if need > 0 {
            let fuel = self.b.use_var(self.fuel);
            let short = self
                .b
                .ins()
                .icmp_imm_s(IntCC::UnsignedLessThan, fuel, need as i64);
            self.exit_if(short, pc, h, ExitKind::Static(Reason::OutOfGas, cost));
        }
        let fuel = self.b.use_var(self.fuel);
        let left = self.b.ins().iadd_imm_s(fuel, -(cost as i64));
        self.b.def_var(self.fuel, left);
    }

    /// Branches to a cold exit stub when `cond` holds; continues in a fresh block.
    fn exit_if(&mut self, cond: Value, pc: u32, h: u32, kind: ExitKind) {
        let stub = self.b.create_block();
        self.b.set_cold_block(stub);
        let cont = self.b.create_block();
        self.b.ins().brif(cond, stub, &[], cont, &[]);
        self.b.seal_block(stub);
        self.b.switch_to_block(stub);
        self.exit(pc, h, kind);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
    }

    /// Stores this frame as the state at `pc` with `h` operands, records it, and leaves.
    /// The frame's words are stored here; the rest is the function's one shared exit tail.
    fn exit(&mut self, pc: u32, h: u32, kind: ExitKind) {
        self.store_frame(h);
        let (reason, arg) = match kind {
            ExitKind::Static(reason, arg) => (self.iconst(reason as u64), self.iconst(arg)),
            ExitKind::Dynamic(reason) => {
                // The helper wrote its argument already; the tail stores it back.
                let reason = self.b.ins().uextend(I64, reason);
                (reason, self.load_ctx(offset_of!(Ctx, exit_arg)))
            }
        };
        let pc = self.iconst(u64::from(pc));
        let words = self.iconst(u64::from(self.nlocals + h));
        let fuel = self.b.use_var(self.fuel);
        let tail = self.tail();
        self.jump_with(tail, &[pc, words, reason, arg, fuel]);
    }

    /// The shared exit tail: `(pc, words, reason, arg, fuel)` — records this frame at `pc`
    /// holding `words` words, writes the exit and returns to the runtime. Declared here at
    /// its first use; [`Tx::fill_tails`] writes its body once every block is filled.
    fn tail(&mut self) -> Block {
        *self.tail.get_or_insert_with(|| shared_block(self.b, 5))
    }

    /// The shared tail of calls whose callee left native code: `(fuel, result0, callee,
    /// callee_vals, callee_locals, used, next)` — the callee's two results, which callee
    /// and where its frame starts, how many locals it has, `used` with its frame, and the
    /// pc this frame resumes at. The caller stored its frame before jumping here. Filled by
    /// [`Tx::fill_tails`].
    fn call_tail(&mut self) -> Block {
        *self
            .call_tail
            .get_or_insert_with(|| shared_block(self.b, 7))
    }

    /// Jumps to shared tail `t` with `args`.
    fn jump_with(&mut self, t: Block, args: &[Value]) {
        let args: Vec<ir::BlockArg> = args.iter().map(|&v| v.into()).collect();
        self.b.ins().jump(t, &args);
    }

    /// Switches to shared tail `t` to fill it; returns its parameters.
    fn fill_shared(&mut self, t: Block) -> Vec<Value> {
        self.b.switch_to_block(t);
        self.b.seal_block(t);
        self.b.block_params(t).to_vec()
    }

    /// Writes the bodies of the shared tails that are used (after the function's body: a
    /// block is filled before the builder switches away from it).
    fn fill_tails(&mut self) {
        self.fill_call_tail();
        self.fill_exit_tail();
    }

    /// The call tail: a callee that was not compiled comes first, as the frame of a call
    /// at its pc 0 with the call charged (the runtime zeroes its locals beyond the
    /// arguments); then this frame, at the pc after the call.
    fn fill_call_tail(&mut self) {
        let Some(t) = self.call_tail else {
            return;
        };
        let p = self.fill_shared(t);
        let (fuel_back, result0, callee, callee_vals, locals, used, next) =
            (p[0], p[1], p[2], p[3], p[4], p[5], p[6]);
        let not_compiled = self.b.create_block();
        self.b.set_cold_block(not_compiled);
        let common = self.b.create_block();
        self.b.set_cold_block(common);
        let nc = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, fuel_back, FUEL_NOT_COMPILED as i64);
        self.b.ins().brif(nc, not_compiled, &[], common, &[]);
        self.b.seal_block(not_compiled);
        self.b.switch_to_block(not_compiled);
        let stack_base = self.load_ctx(offset_of!(Ctx, stack_base));
        let delta = self.b.ins().isub(callee_vals, stack_base);
        let callee_base = self.b.ins().ushr_imm_u(delta, 3);
        let zero = self.iconst(0);
        self.push_record(callee, zero, callee_base);
        let sp = self.b.ins().iadd(callee_base, locals);
        self.store_ctx(offset_of!(Ctx, exit_sp), sp);
        self.store_ctx_const(offset_of!(Ctx, exit_reason), Reason::NotCompiled as u64);
        self.store_ctx(offset_of!(Ctx, used), used);
        // The stand-in hands back the fuel it was given as its second result.
        self.store_ctx(offset_of!(Ctx, fuel), result0);
        self.b.ins().jump(common, &[]);
        self.b.seal_block(common);
        self.b.switch_to_block(common);
        let base = self.base_idx();
        let this = self.iconst(u64::from(self.index));
        self.push_record(this, next, base);
        self.return_exit();
    }

    /// The exit tail's body.
    fn fill_exit_tail(&mut self) {
        let Some(t) = self.tail else {
            return;
        };
        let p = self.fill_shared(t);
        let (pc, words, reason, arg, fuel) = (p[0], p[1], p[2], p[3], p[4]);
        let base = self.base_idx();
        let func = self.iconst(u64::from(self.index));
        self.push_record(func, pc, base);
        let sp = self.b.ins().iadd(base, words);
        self.store_ctx(offset_of!(Ctx, exit_sp), sp);
        self.store_ctx(offset_of!(Ctx, used), self.used);
        self.store_ctx(offset_of!(Ctx, exit_reason), reason);
        self.store_ctx(offset_of!(Ctx, exit_arg), arg);
        self.store_ctx(offset_of!(Ctx, fuel), fuel);
        self.return_exit();
    }

    /// Writes the locals and the bottom `h` operands to `vals`.
    fn store_frame(&mut self, h: u32) {
        for i in 0..self.nlocals {
            let v = self.b.use_var(self.locals[i as usize]);
            self.store_val(i, v);
        }
        for j in 0..h {
            let v = self.s(j);
            self.store_val(self.nlocals + j, v);
        }
    }

    /// Appends a frame record: exiting frames record themselves innermost first.
    fn push_record(&mut self, func: Value, pc: Value, base: Value) {
        let index = self.load_ctx(offset_of!(Ctx, exit_frames));
        let next = self.b.ins().iadd_imm_s(index, 1);
        self.store_ctx(offset_of!(Ctx, exit_frames), next);
        let frames = self.load_ctx(offset_of!(Ctx, frames));
        let offset = self
            .b
            .ins()
            .imul_imm_s(index, size_of::<FrameRecord>() as i64);
        let rec = self.b.ins().iadd(frames, offset);
        self.b
            .ins()
            .store(trusted(), func, rec, off(offset_of!(FrameRecord, func)));
        self.b
            .ins()
            .store(trusted(), pc, rec, off(offset_of!(FrameRecord, pc)));
        self.b
            .ins()
            .store(trusted(), base, rec, off(offset_of!(FrameRecord, base)));
    }

    /// Calls `helper` with up to four arguments; exits with the state at `pc` if it fails.
    fn helper(&mut self, pc: u32, h: u32, helper: Helper, args: &[Value]) {
        let fuel = self.b.use_var(self.fuel);
        self.store_ctx(offset_of!(Ctx, fuel), fuel);
        self.store_ctx(offset_of!(Ctx, used), self.used);
        let callee = self.iconst(helper as usize as u64);
        let mut all = vec![self.ctx];
        all.extend_from_slice(args);
        while all.len() < 5 {
            all.push(self.iconst(0));
        }
        let call = self.b.ins().call_indirect(self.helper_sig, callee, &all);
        let status = self.b.inst_results(call)[0];
        let fuel = self.load_ctx(offset_of!(Ctx, fuel));
        self.b.def_var(self.fuel, fuel);
        self.exit_if(status, pc, h, ExitKind::Dynamic(status));
        self.reload_memory();
    }

    fn out(&mut self, i: usize) -> Value {
        self.load_ctx(offset_of!(Ctx, out) + 8 * i)
    }

    /// The native address of `width` bytes at `addr + offset`, or an `out_of_bounds` exit.
    ///
    /// One compare per access: the bytes are in bounds iff `addr < limit`, where `limit` is
    /// `size + 1 - (offset + width)`, or 0 when the memory is smaller than `offset + width`
    /// (memory is at most `MAX_MEMORY`, 4 GiB, so the subtractions cannot wrap as signed
    /// values).
    fn linear_addr(&mut self, pc: u32, h: u32, addr: Value, offset: u32, width: u32) -> Value {
        let mut limit = self
            .b
            .use_var(self.mem_limit[width.trailing_zeros() as usize]);
        if offset != 0 {
            let past_end = self.b.ins().iadd_imm_s(limit, -i64::from(offset));
            let zero = self.iconst(0);
            limit = self.b.ins().smax(past_end, zero);
        }
        let oob = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, addr, limit);
        self.exit_if(
            oob,
            pc,
            h,
            ExitKind::Static(Reason::Fault, Fault::OutOfBounds as u64),
        );
        let base = self.b.use_var(self.mem_base);
        let at = self.b.ins().iadd(base, addr);
        self.b.ins().iadd_imm_s(at, i64::from(offset))
    }

    fn binop(&mut self, h: u32, op: impl FnOnce(&mut FunctionBuilder<'_>, Value, Value) -> Value) {
        let y = self.s(h - 1);
        let x = self.s(h - 2);
        let r = op(self.b, x, y);
        self.set_s(h - 2, r);
    }

    fn unop(&mut self, h: u32, op: impl FnOnce(&mut FunctionBuilder<'_>, Value) -> Value) {
        let x = self.s(h - 1);
        let r = op(self.b, x);
        self.set_s(h - 1, r);
    }

    fn cmp(&mut self, h: u32, cc: IntCC) {
        self.binop(h, |b, x, y| {
            let c = b.ins().icmp(cc, x, y);
            b.ins().uextend(I64, c)
        });
    }

    /// Division-like ops: a zero divisor faults with the operands in place.
    fn divop(&mut self, pc: u32, h: u32, signed: bool, rem: bool) {
        let y = self.s(h - 1);
        let zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
        self.exit_if(
            zero,
            pc,
            h,
            ExitKind::Static(Reason::Fault, Fault::DivisionByZero as u64),
        );
        let y = self.s(h - 1);
        let x = self.s(h - 2);
        let r = if signed {
            // Cranelift traps on i64::MIN / -1; the machine defines it (wrapping): divide
            // by 1 instead and pick the defined answer, -x or 0.
            let m1 = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
            let one = self.iconst(1);
            let safe = self.b.ins().select(m1, one, y);
            let (r, special) = if rem {
                (self.b.ins().srem(x, safe), self.iconst(0))
            } else {
                (self.b.ins().sdiv(x, safe), self.b.ins().ineg(x))
            };
            self.b.ins().select(m1, special, r)
        } else if rem {
            self.b.ins().urem(x, y)
        } else {
            self.b.ins().udiv(x, y)
        };
        self.set_s(h - 2, r);
    }

    fn load(&mut self, pc: u32, h: u32, offset: u32, width: u32, signed: bool) {
        let addr = self.s(h - 1);
        let at = self.linear_addr(pc, h, addr, offset, width);
        let v = match (width, signed) {
            (1, false) => self.b.ins().uload8(I64, linear(), at, 0),
            (1, true) => self.b.ins().sload8(I64, linear(), at, 0),
            (2, false) => self.b.ins().uload16(I64, linear(), at, 0),
            (2, true) => self.b.ins().sload16(I64, linear(), at, 0),
            (4, false) => self.b.ins().uload32(linear(), at, 0),
            (4, true) => self.b.ins().sload32(linear(), at, 0),
            _ => self.b.ins().load(I64, linear(), at, 0),
        };
        self.set_s(h - 1, v);
    }

    fn store(&mut self, pc: u32, h: u32, offset: u32, width: u32) {
        let addr = self.s(h - 2);
        let v = self.s(h - 1);
        let at = self.linear_addr(pc, h, addr, offset, width);
        match width {
            1 => self.b.ins().istore8(linear(), v, at, 0),
            2 => self.b.ins().istore16(linear(), v, at, 0),
            4 => self.b.ins().istore32(linear(), v, at, 0),
            _ => self.b.ins().store(linear(), v, at, 0),
        };
    }

    /// Runs `helper` for the instruction at `pc` on the operands it pops (the table's stack
    /// effect), with `extra` arguments after them, and pushes the outputs it pushes.
    fn via_helper(&mut self, pc: u32, h: u32, helper: Helper, extra: &[u64]) {
        let StackEffect::Fixed { pops, pushes } = self.f.code[pc as usize].info().stack else {
            unreachable!("only instructions with a fixed stack effect run through helpers")
        };
        let (pops, pushes) = (u32::from(pops), u32::from(pushes));
        let mut args: Vec<Value> = (h - pops..h).map(|j| self.s(j)).collect();
        for c in extra {
            let v = self.iconst(*c);
            args.push(v);
        }
        self.helper(pc, h, helper, &args);
        for i in 0..pushes {
            let v = self.out(i as usize);
            self.set_s(h - pops + i, v);
        }
    }

    /// `call callee` at `pc` with `h` operands.
    fn call(&mut self, pc: u32, h: u32, callee: u32) {
        let cf = self.m.func(callee);
        let ci = self.m.info(callee);
        let (np, nr, lc) = (cf.params, cf.results, cf.local_count());
        let k = self.nlocals + h - np;
        let fb = ci.frame_bytes;
        let state = |reason: Reason, arg: u64| ExitKind::Static(reason, arg);

        // One compare covers the frame limit, the value-stack limit and capacity, the host
        // stack and the memory for frames: the runtime keeps `used_limit` low enough that any
        // call within it passes all of them. Past it, the call is left to the interpreter,
        // which checks each exactly, in the machine's order.
        let used = self.b.ins().iadd_imm_s(self.used, fb as i64);
        let limit = self.load_ctx(offset_of!(Ctx, used_limit));
        let near = self.b.ins().icmp(IntCC::UnsignedGreaterThan, used, limit);
        self.exit_if(near, pc, h, state(Reason::Recheck, 0));
        let gas = if self.metered {
            call_gas(self.m, callee)
        } else {
            0
        };
        // Unless the region's need covered it (see [`crate::gas`]).
        if gas > 0 && !self.regions.covered[pc as usize] {
            let fuel = self.b.use_var(self.fuel);
            let poor = self
                .b
                .ins()
                .icmp_imm_s(IntCC::UnsignedLessThan, fuel, gas as i64);
            self.exit_if(poor, pc, h, state(Reason::OutOfGas, gas));
        }

        // Commit the call's charges and pass the arguments through the callee's frame.
        let fuel = self.b.use_var(self.fuel);
        let fuel = self.b.ins().iadd_imm_s(fuel, -(gas as i64));
        for i in 0..np {
            let v = self.s(h - np + i);
            self.store_val(k + i, v);
        }
        let callee_vals = self.b.ins().iadd_imm_s(self.vals, i64::from(k * 8));
        let call_entry = self.iconst(0);
        let args = [self.ctx, callee_vals, call_entry, used, fuel];
        let call = if callee == self.index {
            self.b.ins().call(self.this, &args)
        } else {
            let table = self.load_ctx(offset_of!(Ctx, table));
            let target = self
                .b
                .ins()
                .load(I64, trusted(), table, (callee * 8) as i32);
            self.b.ins().call_indirect(self.native_sig, target, &args)
        };
        let (fuel_back, result0) = (self.b.inst_results(call)[0], self.b.inst_results(call)[1]);

        // The callee left native code: store this frame below its arguments and pass the
        // exit on through the shared tail.
        let stub = self.b.create_block();
        self.b.set_cold_block(stub);
        let back = self.b.create_block();
        let left = self.b.ins().icmp_imm_s(
            IntCC::UnsignedGreaterThanOrEqual,
            fuel_back,
            FUEL_NOT_COMPILED as i64,
        );
        self.b.ins().brif(left, stub, &[], back, &[]);
        self.b.seal_block(stub);
        self.b.switch_to_block(stub);
        self.store_frame(h - np);
        // Recomputed here rather than kept alive across the call.
        let callee_vals = self.b.ins().iadd_imm_s(self.vals, i64::from(k * 8));
        let used = self.b.ins().iadd_imm_s(self.used, fb as i64);
        let callee_v = self.iconst(u64::from(callee));
        let locals = self.iconst(u64::from(lc));
        let next = self.iconst(u64::from(pc) + 1);
        let tail = self.call_tail();
        let args = [
            fuel_back,
            result0,
            callee_v,
            callee_vals,
            locals,
            used,
            next,
        ];
        self.jump_with(tail, &args);

        self.b.switch_to_block(back);
        self.b.seal_block(back);
        self.b.def_var(self.fuel, fuel_back);
        if nr > 0 {
            self.set_s(h - np, result0);
        }
        for i in 1..nr {
            let v = self.load_val(k + i);
            self.set_s(h - np + i, v);
        }
        self.reload_memory();
    }

    /// `ret` with `h` operands (exactly the results).
    fn ret(&mut self, pc: u32, h: u32) {
        // The process's entry frame returns through the runtime. Only a frame the runtime
        // entered has no native frames below it (`used == 0`); the context says whether it
        // is the entry frame.
        let entered = self.b.ins().icmp_imm_s(IntCC::Equal, self.used, 0);
        let check = self.b.create_block();
        self.b.set_cold_block(check);
        let normal = self.b.create_block();
        self.b.ins().brif(entered, check, &[], normal, &[]);
        self.b.seal_block(check);
        self.b.switch_to_block(check);
        let bottom = self.load_ctx(offset_of!(Ctx, entered_is_entry));
        self.exit_if(bottom, pc, h, ExitKind::Static(Reason::RetEntry, 0));
        self.b.ins().jump(normal, &[]);
        self.b.switch_to_block(normal);
        self.b.seal_block(normal);
        for i in 1..h {
            let v = self.s(i);
            self.store_val(i, v);
        }
        let result0 = if h > 0 { self.s(0) } else { self.iconst(0) };
        let fuel = self.b.use_var(self.fuel);
        self.b.ins().return_(&[fuel, result0]);
    }

    /// Translates the instruction at `pc`; returns whether control falls through.
    fn instr(&mut self, pc: u32, h: u32) -> bool {
        let ins = self.f.code[pc as usize];
        let fault = |f: Fault| ExitKind::Static(Reason::Fault, f as u64);
        match ins {
            Instr::Nop => {}
            Instr::Trap => {
                self.exit(pc, h, fault(Fault::Trap));
                return false;
            }
            Instr::Halt => {
                self.exit(pc, h, ExitKind::Static(Reason::Halt, 0));
                return false;
            }
            Instr::Jmp(t) => {
                let target = self.edge(Some(pc), t);
                self.b.ins().jump(target, &[]);
                return false;
            }
            Instr::Jz(t) | Instr::Jnz(t) => {
                let c = self.s(h - 1);
                let target = self.edge(Some(pc), t);
                let next = self.edge(Some(pc), pc + 1);
                if matches!(ins, Instr::Jz(_)) {
                    self.b.ins().brif(c, next, &[], target, &[]);
                } else {
                    self.b.ins().brif(c, target, &[], next, &[]);
                }
                return false;
            }
            Instr::Switch(t) => {
                let i = self.s(h - 1);
                let table = &self.f.tables[t as usize];
                let (default, cases) = table.split_last().expect("tables have a default");
                let mut switch = Switch::new();
                for (k, target) in cases.iter().enumerate() {
                    switch.set_entry(k as u128, self.edge(Some(pc), *target));
                }
                let default = self.edge(Some(pc), *default);
                switch.emit(self.b, i, default);
                return false;
            }
            Instr::Call(callee) => self.call(pc, h, callee),
            Instr::Ret => {
                self.ret(pc, h);
                return false;
            }
            Instr::Push(v) => {
                let c = self.iconst(v);
                self.set_s(h, c);
            }
            Instr::Drop => {}
            Instr::Dup => {
                let v = self.s(h - 1);
                self.set_s(h, v);
            }
            Instr::Swap => {
                let (a, b) = (self.s(h - 2), self.s(h - 1));
                self.set_s(h - 2, b);
                self.set_s(h - 1, a);
            }
            Instr::Over => {
                let v = self.s(h - 2);
                self.set_s(h, v);
            }
            Instr::Select => {
                let c = self.s(h - 1);
                let no = self.s(h - 2);
                let yes = self.s(h - 3);
                let v = self.b.ins().select(c, yes, no);
                self.set_s(h - 3, v);
            }
            Instr::LocalGet(i) => {
                let v = self.b.use_var(self.locals[i as usize]);
                self.set_s(h, v);
            }
            Instr::LocalSet(i) | Instr::LocalTee(i) => {
                let v = self.s(h - 1);
                self.b.def_var(self.locals[i as usize], v);
            }
            Instr::Add => self.binop(h, |b, x, y| b.ins().iadd(x, y)),
            Instr::Sub => self.binop(h, |b, x, y| b.ins().isub(x, y)),
            Instr::Mul => self.binop(h, |b, x, y| b.ins().imul(x, y)),
            Instr::DivU => self.divop(pc, h, false, false),
            Instr::DivS => self.divop(pc, h, true, false),
            Instr::RemU => self.divop(pc, h, false, true),
            Instr::RemS => self.divop(pc, h, true, true),
            Instr::And => self.binop(h, |b, x, y| b.ins().band(x, y)),
            Instr::Or => self.binop(h, |b, x, y| b.ins().bor(x, y)),
            Instr::Xor => self.binop(h, |b, x, y| b.ins().bxor(x, y)),
            Instr::Shl => self.binop(h, |b, x, y| b.ins().ishl(x, y)),
            Instr::ShrU => self.binop(h, |b, x, y| b.ins().ushr(x, y)),
            Instr::ShrS => self.binop(h, |b, x, y| b.ins().sshr(x, y)),
            Instr::Rotl => self.binop(h, |b, x, y| b.ins().rotl(x, y)),
            Instr::Rotr => self.binop(h, |b, x, y| b.ins().rotr(x, y)),
            Instr::Not => self.unop(h, |b, x| b.ins().bnot(x)),
            Instr::Neg => self.unop(h, |b, x| b.ins().ineg(x)),
            Instr::Clz => self.unop(h, |b, x| b.ins().clz(x)),
            Instr::Ctz => self.unop(h, |b, x| b.ins().ctz(x)),
            Instr::Popcnt => self.unop(h, |b, x| b.ins().popcnt(x)),
            Instr::Eqz => self.unop(h, |b, x| {
                let c = b.ins().icmp_imm_s(IntCC::Equal, x, 0);
                b.ins().uextend(I64, c)
            }),
            Instr::Eq => self.cmp(h, IntCC::Equal),
            Instr::Ne => self.cmp(h, IntCC::NotEqual),
            Instr::LtU => self.cmp(h, IntCC::UnsignedLessThan),
            Instr::LtS => self.cmp(h, IntCC::SignedLessThan),
            Instr::GtU => self.cmp(h, IntCC::UnsignedGreaterThan),
            Instr::GtS => self.cmp(h, IntCC::SignedGreaterThan),
            Instr::LeU => self.cmp(h, IntCC::UnsignedLessThanOrEqual),
            Instr::LeS => self.cmp(h, IntCC::SignedLessThanOrEqual),
            Instr::GeU => self.cmp(h, IntCC::UnsignedGreaterThanOrEqual),
            Instr::GeS => self.cmp(h, IntCC::SignedGreaterThanOrEqual),
            Instr::Load8U(o) => self.load(pc, h, o, 1, false),
            Instr::Load8S(o) => self.load(pc, h, o, 1, true),
            Instr::Load16U(o) => self.load(pc, h, o, 2, false),
            Instr::Load16S(o) => self.load(pc, h, o, 2, true),
            Instr::Load32U(o) => self.load(pc, h, o, 4, false),
            Instr::Load32S(o) => self.load(pc, h, o, 4, true),
            Instr::Load64(o) => self.load(pc, h, o, 8, false),
            Instr::Store8(o) => self.store(pc, h, o, 1),
            Instr::Store16(o) => self.store(pc, h, o, 2),
            Instr::Store32(o) => self.store(pc, h, o, 4),
            Instr::Store64(o) => self.store(pc, h, o, 8),
            Instr::MemSize => {
                let v = self.b.use_var(self.mem_size);
                self.set_s(h, v);
            }
            Instr::MemGrow => self.via_helper(pc, h, abi::mem_grow, &[]),
            Instr::MemCopy => self.via_helper(pc, h, abi::mem_copy, &[]),
            Instr::MemFill => self.via_helper(pc, h, abi::mem_fill, &[]),
            Instr::GasLeft => {
                let extra = self.load_ctx(offset_of!(Ctx, gas_extra));
                let fuel = self.b.use_var(self.fuel);
                let v = self.b.ins().iadd(extra, fuel);
                self.set_s(h, v);
            }
            Instr::MemLeft => {
                let extra = self.load_ctx(offset_of!(Ctx, mem_extra));
                let mem = self.load_ctx(offset_of!(Ctx, mem));
                let mem = self.b.ins().isub(mem, self.used);
                let v = self.b.ins().iadd(extra, mem);
                self.set_s(h, v);
            }
            Instr::In => self.via_helper(pc, h, abi::port_in, &[]),
            Instr::Out => self.via_helper(pc, h, abi::port_out, &[]),
            Instr::Yield => {
                self.exit(pc + 1, h, ExitKind::Static(Reason::Yield, 0));
                return false;
            }
            Instr::Spawn(func) => self.via_helper(pc, h, abi::spawn, &[u64::from(func)]),
            Instr::SpawnBytes => self.via_helper(pc, h, abi::spawn_bytes, &[]),
            Instr::Recurse => {
                self.exit(pc, h, ExitKind::Static(Reason::Recurse, 0));
                return false;
            }
            Instr::ChildPush => self.via_helper(pc, h, abi::child_push, &[]),
            Instr::ChildPop => self.via_helper(pc, h, abi::child_pop, &[]),
            Instr::ChildInfo(field) => self.via_helper(pc, h, abi::child_info, &[u64::from(field)]),
            Instr::ChildGrow => self.via_helper(pc, h, abi::child_grow, &[]),
            Instr::ChildWrite => self.via_helper(pc, h, abi::child_write, &[]),
            Instr::ChildRead => self.via_helper(pc, h, abi::child_read, &[]),
            Instr::ChildSave => self.via_helper(pc, h, abi::child_save, &[]),
            Instr::ChildLoad => self.via_helper(pc, h, abi::child_load, &[]),
            Instr::KeyKind => self.via_helper(pc, h, abi::key_kind, &[]),
            Instr::KeyDrop => self.via_helper(pc, h, abi::key_drop, &[]),
            Instr::KeyRights => self.via_helper(pc, h, abi::key_rights, &[]),
            Instr::KeyGive => self.via_helper(pc, h, abi::key_give, &[]),
            Instr::KeyAttenuate => self.via_helper(pc, h, abi::key_attenuate, &[]),
            Instr::KeyInvoke => {
                self.exit(pc, h, ExitKind::Static(Reason::Invoke, 0));
                return false;
            }
        }
        // Instructions that end their block (self-metered ones) fall into the next leader.
        true
    }
}
