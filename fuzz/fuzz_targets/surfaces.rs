#![no_main]

libfuzzer_sys::fuzz_target!(
    init: openbsp_fuzzing::write_seeds("surfaces"),
    |data: &[u8]| openbsp_fuzzing::surfaces(data)
);
