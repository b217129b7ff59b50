//! Loader hardening: images are hostile input. Every truncation, byte flip, huge length
//! or trailing garbage gets an error — never a panic — and anything accepted is canonical.

use rarvm::host::Grant;
use rarvm::os::{Capture, Console, Dir};
use rarvm::{image, Program, Vm};

fn example(name: &str) -> Program {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    Program::from_source(&std::fs::read_to_string(&path).unwrap(), &path).unwrap()
}

/// Images at interesting pause points: fresh, mid-run with frozen children and deep
/// frames, and finished.
fn images() -> Vec<(String, Vec<u8>)> {
    let cases: [(&str, &[u64], &[u64]); 6] = [
        ("sandbox.rasm", &[41], &[0, 120, 170, 1_000]),
        ("sandbox_loop.rasm", &[7], &[160, 1_000]),
        ("fib.rasm", &[10], &[300, 5_000]),
        ("sieve.rasm", &[300], &[2_000, 100_000]),
        ("replicate.rasm", &[], &[3_000, 40_000]),
        ("nested.rasm", &[3], &[2_000, 150_000]),
    ];
    let mut out = Vec::new();
    // Host keys (narrowed, attenuated, given to children) and transcripts.
    let dir = format!("{}/examples/library", env!("CARGO_MANIFEST_DIR"));
    for (name, gases) in [
        ("library.rasm", &[100, 5_000, 12_000, 100_000][..]),
        ("confined.rasm", &[3_000, 100_000][..]),
    ] {
        let m = example(name);
        for &gas in gases {
            let mut vm = Vm::new(&m, &[]).unwrap();
            if name == "library.rasm" {
                let fs = Dir::open(std::path::Path::new(&dir), true).unwrap();
                vm.grant(None, Grant::Resource(Box::new(fs))).unwrap();
            }
            let console = Console::new(Box::new(Capture::default()), Box::new(std::io::empty()));
            vm.grant(None, Grant::Resource(Box::new(console))).unwrap();
            vm.run(gas, 1 << 20);
            out.push((format!("{name} after {gas} gas"), vm.image()));
        }
    }
    // Children parked under the root, with chains of frozen processes (SPEC §8.2).
    let parked = switch_parked();
    for gas in [700, 3_000, 5_000] {
        let mut vm = Vm::new(&parked, &[]).unwrap();
        vm.run(gas, 1 << 20);
        out.push((format!("switch_parked.rasm after {gas} gas"), vm.image()));
    }
    for (name, args, gases) in cases {
        let m = example(name);
        out.push((format!("{name} ready"), Vm::new(&m, args).unwrap().image()));
        for &gas in gases {
            let mut vm = Vm::new(&m, args).unwrap();
            vm.run(gas, 1 << 20);
            out.push((format!("{name} after {gas} gas"), vm.image()));
        }
    }
    out
}

fn switch_parked() -> Program {
    let path = format!(
        "{}/conformance/tests/cases/intentional/switch_parked.rasm",
        env!("CARGO_MANIFEST_DIR")
    );
    Program::from_source(&std::fs::read_to_string(&path).unwrap(), &path).unwrap()
}

/// Where the root's process record starts: after the magic, version and module table.
fn root_record(bytes: &[u8]) -> usize {
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    let mut at = 16;
    for _ in 0..u32_at(12) {
        let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        at += 8 + len as usize;
    }
    at
}

#[test]
fn a_parked_slot_must_name_a_stopped_child_with_frozen_processes() {
    let mut vm = Vm::new(&switch_parked(), &[]).unwrap();
    vm.run(5_000, 1 << 20);
    let bytes = vm.image();
    let field = root_record(&bytes) + 10;
    let parked = u16::from_le_bytes([bytes[field], bytes[field + 1]]);
    assert!(parked > 0, "the root stopped with a child parked under it");
    for (value, why) in [
        (4_097u16, "beyond any key list"),
        (100, "nothing is parked there"),
        (3, "nothing is parked there"),
    ] {
        let mut bad = bytes.clone();
        bad[field..field + 2].copy_from_slice(&value.to_le_bytes());
        let err = Vm::from_image(&bad)
            .err()
            .expect("a wrong parked slot is an error");
        assert!(err.to_string().contains(why), "{value}: {err}");
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn valid_images_roundtrip_exactly() {
    let mut with_transcript = 0;
    for (what, bytes) in images() {
        let vm = Vm::from_image(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(vm.image(), bytes, "{what}");
        if !vm.transcript().is_empty() {
            with_transcript += 1;
        }
    }
    assert!(with_transcript >= 4);
}

/// Loading images one after another into one VM, each built in the memory the one before
/// it handed back, gives each image exactly; a truncated image is an error that leaves the
/// VM as it was.
#[test]
fn images_loaded_into_reused_memory_roundtrip_exactly() {
    let all = images();
    let mut vm = Vm::from_image(&all[0].1).unwrap();
    // Far too large at first; then the memory of the image before, larger or smaller.
    let mut memory = Vec::with_capacity(1 << 22);
    for (what, bytes) in all.iter().chain(all.iter().rev()) {
        vm.load_image_reusing(bytes, &mut memory)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(&vm.image(), bytes, "{what}");
        let before = vm.image();
        assert!(vm
            .load_image_reusing(&bytes[..bytes.len() - 1], &mut memory)
            .is_err());
        assert_eq!(vm.image(), before, "{what}: a failed load changed the VM");
    }
}

#[test]
fn every_truncation_is_rejected() {
    for (what, bytes) in images() {
        let step = (bytes.len() / 3000).max(1);
        for n in (0..bytes.len()).step_by(step) {
            assert!(
                Vm::from_image(&bytes[..n]).is_err(),
                "{what}: prefix of {n} bytes accepted"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(
            Vm::from_image(&longer).is_err(),
            "{what}: trailing byte accepted"
        );
    }
}

#[test]
fn byte_flips_never_panic_and_accepted_images_are_canonical() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut accepted = 0;
    let mut tried = 0;
    for (what, bytes) in images() {
        for _ in 0..400 {
            let mut m = bytes.clone();
            for _ in 0..1 + rng.next() % 3 {
                let at = (rng.next() % m.len() as u64) as usize;
                m[at] ^= 1 << (rng.next() % 8);
            }
            tried += 1;
            if let Ok(vm) = Vm::from_image(&m) {
                accepted += 1;
                assert_eq!(
                    vm.image(),
                    m,
                    "{what}: a mutated image was accepted but is not canonical"
                );
            }
        }
    }
    // Flips in memory, gas counters or port words still make valid images.
    assert!(
        accepted > 0 && accepted < tried,
        "{accepted} of {tried} accepted"
    );
}

#[test]
fn huge_lengths_are_errors_not_allocations() {
    let bytes = Vm::new(&example("sieve.rasm"), &[10]).unwrap().image();
    // Every u32 and u64 field, in turn, claims an enormous length.
    for at in 8..bytes.len().saturating_sub(8) {
        for huge in [u64::MAX, 1 << 60, u64::from(u32::MAX)] {
            let mut m = bytes.clone();
            m[at..at + 8].copy_from_slice(&huge.to_le_bytes());
            let _ = Vm::from_image(&m);
            let mut m = bytes.clone();
            m[at..at + 4].copy_from_slice(&(huge as u32).to_le_bytes());
            let _ = Vm::from_image(&m);
        }
    }
    let mut m = bytes.clone();
    m[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = Vm::from_image(&m).err().unwrap();
    assert!(e.to_string().contains("module count"), "{e}");
}

#[test]
fn garbage_is_rejected_with_a_reason() {
    assert!(Vm::from_image(b"hello world")
        .err()
        .unwrap()
        .to_string()
        .contains("not a rarvm image"));
    let mut rng = Rng(42);
    for len in 0..300 {
        let mut m: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len >= 8 {
            m[..8].copy_from_slice(image::IMAGE_MAGIC);
        }
        assert!(Vm::from_image(&m).is_err());
    }
}
