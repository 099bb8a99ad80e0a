#![no_main]

libfuzzer_sys::fuzz_target!(
    init: openbsp_fuzzing::write_seeds("campaign_import"),
    |data: &[u8]| openbsp_fuzzing::campaign_import(data)
);
