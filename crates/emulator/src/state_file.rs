//! The state file: the service's [`ServiceSnapshot`] as JSON, read once at
//! start-up and rewritten after changes. Every write is atomic (a temporary
//! file in the same directory, fsync, rename, fsync of the directory), so a
//! crash leaves the old file or the new one, never half of either. The file
//! holds client secrets and refresh tokens, so it is created with mode 0600.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ssoflow_files::write_atomically;
use ssoflow_test_transport::{Service, ServiceConfig, ServiceSnapshot};
use tokio::sync::Notify;

use crate::Shared;

/// Changes arriving within this time of each other are written together, so a
/// busy emulator rewrites its file a few times a second, not per request.
const WRITE_COALESCE: Duration = Duration::from_millis(100);

/// The state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// Reading failed (permissions, a directory in its place).
    #[error("cannot read the state file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not a state file this emulator wrote, or is damaged.
    #[error(
        "the state file {path} is corrupt ({detail}); move it away or delete it to start with an \
         empty emulator"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line and column where JSON parsing stopped.
        detail: String,
    },
    /// Writing failed; the previous file, if any, is untouched.
    #[error("cannot write the state file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// The service saved in `path`, or `None` when there is no such file yet.
pub(crate) fn load(path: &Path, config: ServiceConfig) -> Result<Option<Service>, StateFileError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateFileError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let corrupt = |detail: String| StateFileError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    let snapshot: ServiceSnapshot =
        serde_json::from_slice(&bytes).map_err(|error| corrupt(error.to_string()))?;
    Service::restore(config, snapshot)
        .map(Some)
        .map_err(|error| corrupt(error.to_string()))
}

/// The background task that rewrites the state file after changes.
pub(crate) struct Writer {
    task: tokio::task::JoinHandle<()>,
    path: PathBuf,
    shared: Arc<Shared>,
}

impl Writer {
    pub(crate) fn spawn(path: PathBuf, shared: Arc<Shared>, changed: Arc<Notify>) -> Writer {
        let task = {
            let path = path.clone();
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                loop {
                    changed.notified().await;
                    tokio::time::sleep(WRITE_COALESCE).await;
                    if let Err(error) = save(path.clone(), Arc::clone(&shared)).await {
                        // Nobody awaits this task; the final save in
                        // `finish` reports its own error to the caller.
                        eprintln!("ssoflow-emulator: {error}");
                    }
                }
            })
        };
        Writer { task, path, shared }
    }

    /// Stops the background writes and saves once more, reporting the outcome.
    pub(crate) async fn finish(self) -> Result<(), crate::EmulatorError> {
        self.task.abort();
        let _ = self.task.await;
        save(self.path, self.shared).await.map_err(Into::into)
    }
}

async fn save(path: PathBuf, shared: Arc<Shared>) -> Result<(), StateFileError> {
    let snapshot = shared.read_service(Service::snapshot);
    let target = path.clone();
    let written = tokio::task::spawn_blocking(move || {
        let bytes = serde_json::to_vec(&snapshot).map_err(std::io::Error::other)?;
        write_atomically(&target, &bytes)
    })
    .await
    .unwrap_or_else(|join| Err(std::io::Error::other(join.to_string())));
    written.map_err(|source| StateFileError::Write { path, source })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ssoflow-emulator-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_missing_file_is_a_fresh_start() {
        let dir = scratch("missing");
        assert!(
            load(&dir.join("state.json"), ServiceConfig::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn corrupt_or_foreign_files_are_reported_with_their_path() {
        let dir = scratch("corrupt");
        let path = dir.join("state.json");
        for content in [&b"{\"version\":1,\"state\":{\"regis"[..], b"[1,2,3]", b"{\"version\":9,\"state\":{\"registrations\":{},\"authorizations\":{},\"user_codes\":{},\"refresh_tokens\":{}}}"] {
            std::fs::write(&path, content).unwrap();
            let error = load(&path, ServiceConfig::default()).unwrap_err();
            let text = error.to_string();
            assert!(matches!(error, StateFileError::Corrupt { .. }), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains("delete it"), "{text}");
        }
    }
}
