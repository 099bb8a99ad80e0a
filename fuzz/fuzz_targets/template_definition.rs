#![no_main]

libfuzzer_sys::fuzz_target!(
    init: openbsp_fuzzing::write_seeds("template_definition"),
    |data: &[u8]| openbsp_fuzzing::template_definition(data)
);
