#![no_main]

libfuzzer_sys::fuzz_target!(
    init: openbsp_fuzzing::write_seeds("cloud_send"),
    |data: &[u8]| openbsp_fuzzing::cloud_send(data)
);
