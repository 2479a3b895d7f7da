//! Replays the committed seeds (`corpus/<target>/`) and crash regressions
//! (`regressions/<target>/`) through the harnesses, without libFuzzer:
//! `cd fuzz && cargo test` runs on stable (from inside `fuzz/`, whose
//! `.cargo/config.toml` sets `--cfg fuzzing`).

use std::path::Path;

#[test]
fn every_committed_input_passes_its_harness() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0;
    for dir in ["corpus", "regressions"] {
        for target in ssoflow_fuzz::TARGETS {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
                continue;
            };
            let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths.into_iter().filter(|p| p.is_file()) {
                let data = std::fs::read(&path).expect("readable input");
                println!("{}", path.display());
                assert!(ssoflow_fuzz::run(target, &data));
                replayed += 1;
            }
        }
    }
    assert!(
        replayed > 0,
        "no committed inputs found under {}",
        root.display()
    );
}
