//! libFuzzer entry point; the harness is `ssoflow_fuzz::aws_config` (see its docs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssoflow_fuzz::aws_config::run(data));
