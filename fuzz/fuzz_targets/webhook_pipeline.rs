#![no_main]

libfuzzer_sys::fuzz_target!(
    init: openbsp_fuzzing::write_seeds("webhook_pipeline"),
    |data: &[u8]| openbsp_fuzzing::webhook_pipeline(data)
);
