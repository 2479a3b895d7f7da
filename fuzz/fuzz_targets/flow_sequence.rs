//! libFuzzer entry point; the harness is `ssoflow_fuzz::flow_sequence` (see its docs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssoflow_fuzz::flow_sequence::run(data));
