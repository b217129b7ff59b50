//! The bodies of the `cargo fuzz` targets (`conformance/fuzz/`), kept here so the targets stay
//! thin and the same checks run in ordinary tests. Each takes arbitrary bytes and panics only
//! if rarvm breaks a promise: hostile input gets an error, never a crash, and whatever is
//! accepted round-trips and runs the same on every engine.

use std::cell::RefCell;

use rarvm::runtime::asm::{assemble, assemble_verified, disassemble};
use rarvm::runtime::{module, verify};
use rarvm::{image, EngineKind, Vm};

use crate::oracle::{fuzz_one, Oracle};

/// Images: any bytes decode or are rejected; accepted images re-encode to the same bytes
/// and can be resumed.
pub fn image_loader(data: &[u8]) {
    let Ok(tree) = image::decode(data) else {
        return;
    };
    assert_eq!(image::encode(&tree), data, "an accepted image is canonical");
    let mut vm = Vm::from_image(data).expect("decoded above");
    vm.set_engine(EngineKind::Interp)
        .expect("the interpreter always runs");
    vm.run(10_000, 1 << 16);
    let again = vm.image();
    image::decode(&again).expect("a run's image decodes");
}

/// Assembler text: any text assembles or is rejected with a position; what verifies
/// disassembles to text that assembles to the same module.
pub fn assembler(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(module) = assemble(text, "fuzz.rasm") else {
        return;
    };
    if verify::verify(module.clone()).is_err() {
        return;
    }
    let back = assemble(&disassemble(&module), "disassembled.rasm").expect("disassembly assembles");
    assert_eq!(back, module, "disassembly round-trips");
    assemble_verified(text, "fuzz.rasm").expect("verified above");
}

/// Module bytes, as `spawn.bytes` sees them: decode, verify, and if valid, run briefly on
/// every engine with the same result.
pub fn module_bytes(data: &[u8]) {
    let Ok(m) = module::Module::decode(data) else {
        return;
    };
    assert_eq!(m.encode(), data, "an accepted module is canonical");
    let Ok(verified) = verify::verify(m) else {
        return;
    };
    let module = rarvm::Module::from_bytes(verified.bytes()).expect("verified above");
    let f = verified.func(verified.module().entry);
    let args = vec![3; f.params as usize];
    let mut first = None;
    for kind in [EngineKind::Interp, EngineKind::Jit] {
        let mut vm = Vm::new(&module, &args).expect("arity matches");
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
            &rarvm::Module::from_source("func main() -> 1\n push 1\n ret\nend\n", "t").unwrap(),
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
        module_bytes(&rarvm::Module::from_source(src, "t").unwrap().to_bytes());
        differential(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
}
