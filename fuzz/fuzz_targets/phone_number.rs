#![no_main]

libfuzzer_sys::fuzz_target!(
    init: openbsp_fuzzing::write_seeds("phone_number"),
    |data: &[u8]| openbsp_fuzzing::phone_number(data)
);
