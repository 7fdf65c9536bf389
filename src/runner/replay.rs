//! The runner that answers from transcripts recorded from real tools, for tests and fixture
//! hosts, and remembers every command it was asked to run.

use super::{display, is_mutating, lock, Output, RunError, Runner};
use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// One recorded command and what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    pub argv: Vec<String>,
    pub output: Output,
}

impl Transcript {
    /// Loads `<stem>.argv` (one argument per line), `.stdout`, `.stderr` and `.status` (the exit
    /// code), the format recorded inside the QEMU guest. Missing stdout/stderr mean empty.
    pub fn load(stem: &Path) -> io::Result<Transcript> {
        let read = |ext: &str| std::fs::read_to_string(stem.with_extension(ext));
        let argv = read("argv")?.lines().map(str::to_string).collect();
        let status = read("status")?;
        let code = status.trim().parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: `{}` is not an exit code",
                    stem.with_extension("status").display(),
                    status.trim()
                ),
            )
        })?;
        Ok(Transcript {
            argv,
            output: Output {
                code: Some(code),
                stdout: read("stdout").unwrap_or_default(),
                stderr: read("stderr").unwrap_or_default(),
                duration: Duration::ZERO,
            },
        })
    }

    /// Every transcript in a directory (files ending in .argv), in the order they were recorded.
    pub fn load_dir(dir: &Path) -> io::Result<Vec<Transcript>> {
        recorded_stems(dir)?
            .iter()
            .map(|s| Transcript::load(s))
            .collect()
    }

    /// The argv of every command recorded in a directory, in order, finished or not: a power cut
    /// leaves the argv of the command it interrupted and no status.
    pub fn argvs_in(dir: &Path) -> io::Result<Vec<Vec<String>>> {
        recorded_stems(dir)?
            .iter()
            .map(|s| {
                let text = std::fs::read_to_string(s.with_extension("argv"))?;
                Ok(text.lines().map(str::to_string).collect())
            })
            .collect()
    }
}

/// The recording's stems (NNNN-TOOL-SUB), sorted: the number is the order of the commands.
fn recorded_stems(dir: &Path) -> io::Result<Vec<std::path::PathBuf>> {
    let mut stems: Vec<_> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "argv"))
        .map(|p| p.with_extension(""))
        .collect();
    stems.sort();
    Ok(stems)
}

/// Answers from transcripts and remembers every command it was asked to run, in order.
/// Later transcripts for the same argv answer later calls, so a sequence (create fails, then
/// succeeds) can be replayed; the last one keeps answering.
#[derive(Debug, Default)]
pub struct ReplayRunner {
    transcripts: Mutex<Vec<(Transcript, bool)>>,
    seen: Mutex<Vec<Vec<String>>>,
}

impl ReplayRunner {
    pub fn new(transcripts: Vec<Transcript>) -> ReplayRunner {
        ReplayRunner {
            transcripts: Mutex::new(transcripts.into_iter().map(|t| (t, false)).collect()),
            seen: Mutex::default(),
        }
    }

    pub fn seen(&self) -> Vec<Vec<String>> {
        lock(&self.seen).clone()
    }

    pub fn mutating_seen(&self) -> Vec<Vec<String>> {
        lock(&self.seen)
            .iter()
            .filter(|a| is_mutating(a))
            .cloned()
            .collect()
    }
}

impl Runner for ReplayRunner {
    fn run(&self, argv: &[String], _timeout: Duration) -> Result<Output, RunError> {
        lock(&self.seen).push(argv.to_vec());
        let mut transcripts = lock(&self.transcripts);
        let matching: Vec<usize> = (0..transcripts.len())
            .filter(|&i| transcripts[i].0.argv == argv)
            .collect();
        let pick = matching
            .iter()
            .copied()
            .find(|&i| !transcripts[i].1)
            .or(matching.last().copied());
        match pick {
            Some(i) => {
                transcripts[i].1 = true;
                Ok(transcripts[i].0.output.clone())
            }
            None => Err(RunError::NotRecorded {
                command: display(argv),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::tests::argv;

    #[test]
    fn replay_answers_in_order_and_remembers() {
        let t = |code| Transcript {
            argv: argv("zfs create quickOS/x"),
            output: Output {
                code: Some(code),
                stdout: String::new(),
                stderr: String::new(),
                duration: Duration::ZERO,
            },
        };
        let r = ReplayRunner::new(vec![t(1), t(0)]);
        assert_eq!(
            r.run(&argv("zfs create quickOS/x"), Duration::ZERO)
                .unwrap()
                .code,
            Some(1)
        );
        assert_eq!(
            r.run(&argv("zfs create quickOS/x"), Duration::ZERO)
                .unwrap()
                .code,
            Some(0)
        );
        assert_eq!(
            r.run(&argv("zfs create quickOS/x"), Duration::ZERO)
                .unwrap()
                .code,
            Some(0)
        );
        assert!(r
            .run(&argv("zfs destroy quickOS/x"), Duration::ZERO)
            .is_err());
        assert_eq!(r.mutating_seen().len(), 4);
    }
}
