//! libFuzzer entry point; the harness is `ssoflow_fuzz::emulator_request` (see its docs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssoflow_fuzz::emulator_request::run(data));
