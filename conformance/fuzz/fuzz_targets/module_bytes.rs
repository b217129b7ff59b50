#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rarvm_conformance::targets::module_bytes(data));
