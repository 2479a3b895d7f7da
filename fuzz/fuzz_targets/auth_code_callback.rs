//! libFuzzer entry point; the harness is `ssoflow_fuzz::auth_code_callback` (see its docs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssoflow_fuzz::auth_code_callback::run(data));
