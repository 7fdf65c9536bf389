//! The runner that records: it runs commands through another runner and writes each one as a
//! transcript that the replay runner can load.

use super::{lock, Output, RunError, Runner};
use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// Runs commands through another runner and writes each one as a transcript into a directory
/// (`0001-zpool.argv`, `.stdout`, `.stderr`, `.status`): how the replay tests' transcripts are
/// recorded from real OpenZFS in the QEMU guest (PHOENIX_ZFS_RECORD=DIR).
pub struct RecordingRunner<R: Runner> {
    inner: R,
    dir: std::path::PathBuf,
    count: Mutex<usize>,
}

impl<R: Runner> RecordingRunner<R> {
    pub fn new(inner: R, dir: std::path::PathBuf) -> io::Result<RecordingRunner<R>> {
        std::fs::create_dir_all(&dir)?;
        let existing = std::fs::read_dir(&dir)?
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "argv"))
            .count();
        Ok(RecordingRunner {
            inner,
            dir,
            count: Mutex::new(existing),
        })
    }
}

impl<R: Runner> Runner for RecordingRunner<R> {
    fn run(&self, argv: &[String], timeout: Duration) -> Result<Output, RunError> {
        let result = self.inner.run(argv, timeout);
        if let Ok(out) = &result {
            let mut count = lock(&self.count);
            *count += 1;
            let tool = argv
                .first()
                .and_then(|p| Path::new(p).file_name())
                .map_or("cmd".into(), |f| f.to_string_lossy().into_owned());
            let stem = self.dir.join(format!(
                "{:04}-{tool}-{}",
                *count,
                argv.get(1).map_or("", String::as_str)
            ));
            let write = |ext: &str, text: &str| {
                if let Err(e) = std::fs::write(stem.with_extension(ext), text) {
                    tracing::warn!(path = %stem.display(), error = %crate::report::Report(&e), "cannot record transcript");
                }
            };
            let mut lines = argv.join("\n");
            lines.push('\n');
            write("argv", &lines);
            write("stdout", &out.stdout);
            write("stderr", &out.stderr);
            write("status", &format!("{}\n", out.code.unwrap_or(-1)));
        }
        result
    }
}
