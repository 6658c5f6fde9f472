//! A directory only one test uses, removed on drop: for SQLite files.
//! Shared with `session/tests` by `#[path]`.

use std::path::PathBuf;

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(test: &str) -> Self {
        let nanos = std::time::UNIX_EPOCH
            .elapsed()
            .expect("clock")
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "hyper-session-{test}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        Self(dir)
    }

    /// The database file's path in it.
    pub fn db(&self) -> PathBuf {
        self.0.join("sessions.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
