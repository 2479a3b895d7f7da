//! libFuzzer entry point; the harness is `ssoflow_fuzz::flow_response` (see its docs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssoflow_fuzz::flow_response::run(data));
