//! This process's port, and returning from the entry function through it.

use crate::engine::Budget;
use crate::limits::MAX_PORT;
use crate::process::{Fault, Process};

/// `in`: `-- v`.
pub fn port_in(p: &mut Process) -> Result<u64, Fault> {
    p.port.pop().ok_or(Fault::StackUnderflow)
}

/// `out`: `v --`.
pub fn port_out(p: &mut Process, v: u64) -> Result<(), Fault> {
    if p.port.len() >= MAX_PORT {
        return Err(Fault::StackOverflow);
    }
    p.port.push(v);
    Ok(())
}

/// `ret` from the entry function. The engine has made the state canonical at the `ret`:
/// one frame whose operand stack holds exactly the results. Appends them to the port,
/// pops the frame and refunds its footprint.
pub fn return_from_entry(p: &mut Process, b: &mut Budget) -> Result<(), Fault> {
    let frame = *p
        .frames
        .last()
        .expect("returning process has its entry frame");
    let results = p.module.func(frame.func).results as usize;
    if p.port.len() + results > MAX_PORT {
        return Err(Fault::StackOverflow);
    }
    let from = p.stack.len() - results;
    p.port.extend_from_slice(&p.stack[from..]);
    p.stack.clear();
    p.frames.clear();
    b.refund_mem(p.module.info(frame.func).frame_bytes);
    Ok(())
}
