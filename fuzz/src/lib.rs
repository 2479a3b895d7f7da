//! The fuzz harnesses of ssoflow (issue 6, item 1), one module per target.
//!
//! Each module has a `run(data)` that the libFuzzer binary in `fuzz_targets/`
//! calls, so the same code also replays the committed corpus and the crash
//! regressions under plain `cargo test` (`tests/replay.rs`), without nightly.
//!
//! Every harness checks invariants, not only "no panic": a broken invariant
//! panics with a message saying which, and libFuzzer records the input.

#![forbid(unsafe_code)]

// The flow harnesses drive the flows through `ssoflow_core::oracle`, which
// exists only under `--cfg fuzzing` (rustdoc, collecting the doctests, does
// not get the flag and needs none).
#[cfg(not(any(fuzzing, doctest)))]
compile_error!(
    "build ssoflow-fuzz with `--cfg fuzzing`: run `cargo test` from inside fuzz/ \
     (fuzz/.cargo/config.toml sets it), or `cargo +nightly fuzz`, which sets it itself"
);

pub mod auth_code_callback;
pub mod aws_config;
pub mod cache_files;
pub mod emulator_request;
pub mod flow_response;
pub mod flow_sequence;

mod canned;
mod input;

/// The names of the targets, as `fuzz_targets/<name>.rs`, `corpus/<name>/`
/// and `regressions/<name>/` spell them.
pub const TARGETS: [&str; 6] = [
    "flow_response",
    "flow_sequence",
    "cache_files",
    "aws_config",
    "emulator_request",
    "auth_code_callback",
];

/// Runs the harness of `target` on one input; `false` for an unknown name.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "flow_response" => flow_response::run(data),
        "flow_sequence" => flow_sequence::run(data),
        "cache_files" => cache_files::run(data),
        "aws_config" => aws_config::run(data),
        "emulator_request" => emulator_request::run(data),
        "auth_code_callback" => auth_code_callback::run(data),
        _ => return false,
    }
    true
}
