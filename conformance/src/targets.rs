//! The bodies of the `cargo fuzz` targets (`conformance/fuzz/`), kept here so the targets stay
//! thin and the same checks run in ordinary tests. Each takes arbitrary bytes and panics only
//! if rarvm breaks a promise: hostile input gets an error, never a crash, and whatever is
//! accepted round-trips and runs the same on every engine.

use std::cell::RefCell;

use rarvm::{text, EngineKind, Program, Vm};

use crate::oracle::{fuzz_one, Oracle};

/// Images: any bytes decode or are rejected; accepted images re-encode to the same bytes
/// and can be resumed.
pub fn image_loader(data: &[u8]) {
    let Ok(mut vm) = Vm::from_image(data) else {
        return;
    };
    assert_eq!(vm.image(), data, "an accepted image is canonical");
    vm.set_engine(EngineKind::Interp)
        .expect("the interpreter always runs");
    vm.run(10_000, 1 << 16);
    let again = vm.image();
    Vm::from_image(&again).expect("a run's image decodes");
}

/// Assembler text: any text assembles or is rejected with a position; what verifies
/// disassembles to text that assembles to the same module.
pub fn assembler(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(bytes) = text::assemble(src, "fuzz.rasm") else {
        return;
    };
    let Ok(program) = Program::from_bytes(&bytes) else {
        return;
    };
    let back =
        text::assemble(&program.disassemble(), "disassembled.rasm").expect("disassembly assembles");
    assert_eq!(back, bytes, "disassembly round-trips");
    Program::from_source(src, "fuzz.rasm").expect("verified above");
}

/// Module bytes, as `spawn.bytes` sees them: decode, verify, and if valid, run briefly on
/// every engine with the same result.
pub fn module_bytes(data: &[u8]) {
    let Ok(program) = Program::from_bytes(data) else {
        return;
    };
    assert_eq!(program.to_bytes(), data, "an accepted module is canonical");
    let args = vec![3; program.entry_params() as usize];
    let mut first = None;
    for kind in [
        EngineKind::Reference,
        EngineKind::Interp,
        EngineKind::JitEager,
    ] {
        let mut vm = Vm::new(&program, &args).expect("arity matches");
        vm.set_engine(kind).expect("engines run on this host");
        let out = vm.run(20_000, 1 << 16);
        let img = vm.image();
        match &first {
            None => first = Some((out, img)),
            Some((o, i)) => assert!(
                out == *o && img == *i,
                "engines disagree on fuzzed module bytes"
            ),
        }
    }
}

thread_local! {
    static ORACLE: RefCell<Oracle> = RefCell::new(Oracle::new());
}

/// The differential oracle on a generated program chosen by the input.
pub fn differential(data: &[u8]) {
    let mut seed = [0u8; 8];
    let n = data.len().min(8);
    seed[..n].copy_from_slice(&data[..n]);
    let index = data.get(8).copied().unwrap_or(0);
    ORACLE.with(|o| {
        if let Err(report) = fuzz_one(
            &mut o.borrow_mut(),
            u64::from_le_bytes(seed),
            u64::from(index),
        ) {
            panic!("{report}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_accept_garbage_and_real_inputs() {
        let real = Vm::new(
            &Program::from_source("func main() -> 1\n push 1\n ret\nend\n", "t").unwrap(),
            &[],
        )
        .unwrap()
        .image();
        for data in [&b""[..], b"RARVMIMG", b"\xff\x00garbage", &real] {
            image_loader(data);
            assembler(data);
            module_bytes(data);
        }
        let src = "func main(x) -> 1\n local.get x\n ret\nend\n";
        assembler(src.as_bytes());
        module_bytes(&Program::from_source(src, "t").unwrap().to_bytes());
        differential(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
}
