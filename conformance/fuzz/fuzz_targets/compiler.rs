#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rarvm_lang::fuzz::compile_bytes(data));
