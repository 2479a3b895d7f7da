//! libFuzzer entry point; the harness is `ssoflow_fuzz::cache_files` (see its docs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssoflow_fuzz::cache_files::run(data));
