//! What is read from the machine, never written: the block devices and what is on them
//! ([`inventory`]), the ZFS pools and datasets as they are ([`zfs_state`]), the services around
//! them ([`services`]), the system provisioned and the situation of the run ([`target`]), and
//! where the host's files are ([`root`]). What is read lands in the [`model`](crate::model); the
//! core judges it, and [`assess`](crate::assess) puts the two together. Here: how a reading
//! command is run and judged ([`read`]), and [`ObserveError`], which says whether it did not run,
//! failed, or printed what no parser knows.
//!
//! The one file written from here is a copy: `inventory::snapshot` copies what the inventory
//! reads into the directory `debug snapshot-host` is given, so that a host can be read again
//! with `--root`; the host itself is left as it was.

pub mod identity;
pub mod inventory;
pub mod root;
pub mod services;
pub mod target;
pub mod zfs_state;

use crate::formats::zfs::ParseError;
use crate::runner::{self, Output, RunError, Runner};
use std::time::Duration;

/// Why a reading command told nothing: it did not run, it ran and failed, or what it printed
/// is not what the parser knows. Each message starts with the command.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("`{command}`: failed ({}): {stderr}", ended(*.code))]
    Failed {
        command: String,
        /// None when a signal ended it.
        code: Option<i32>,
        /// Its stderr lines that were not expected, joined with ` / `.
        stderr: String,
    },
    #[error("`{command}`: cannot read its output")]
    Output {
        command: String,
        #[source]
        source: ParseError,
    },
}

impl ObserveError {
    /// `argv`'s output did not parse.
    pub fn output(argv: &[String], source: ParseError) -> ObserveError {
        ObserveError::Output {
            command: runner::display(argv),
            source,
        }
    }
}

fn ended(code: Option<i32>) -> String {
    code.map_or("a signal".to_string(), |c| format!("exit {c}"))
}

/// Runs a reading command. A non-zero exit is accepted when every stderr line is one of the
/// `tolerated` answers (zpool and zfs go on with the other names and exit 1 on a missing one).
pub fn read(
    runner: &dyn Runner,
    argv: &[String],
    timeout: Duration,
    tolerated: &[&str],
) -> Result<Output, ObserveError> {
    judge(argv, runner.run(argv, timeout), tolerated)
}

/// What [`read`] makes of a command's result.
pub fn judge(
    argv: &[String],
    ran: Result<Output, RunError>,
    tolerated: &[&str],
) -> Result<Output, ObserveError> {
    let out = ran?;
    let unexpected: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !tolerated.iter().any(|t| l.contains(t)))
        .collect();
    if !out.success() && !unexpected.is_empty() {
        return Err(ObserveError::Failed {
            command: runner::display(argv),
            code: out.code,
            stderr: unexpected.join(" / "),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv() -> Vec<String> {
        vec!["zpool".into(), "list".into()]
    }

    fn ended_with(code: i32, stderr: &str) -> Result<Output, RunError> {
        Ok(Output {
            code: Some(code),
            stdout: String::new(),
            stderr: stderr.into(),
            duration: Duration::ZERO,
        })
    }

    #[test]
    fn a_timeout_a_failure_and_a_tolerated_answer_are_told_apart() {
        let timed_out = Err(RunError::TimedOut {
            command: "zpool list".into(),
            after: Duration::from_secs(60),
        });
        let err = judge(&argv(), timed_out, &[]).unwrap_err();
        assert!(matches!(err, ObserveError::Run(RunError::TimedOut { .. })));
        assert_eq!(
            err.to_string(),
            "`zpool list`: killed after 60 s without finishing"
        );
        let err = judge(&argv(), ended_with(1, "no pool\nbroken\n"), &["no pool"]).unwrap_err();
        assert_eq!(err.to_string(), "`zpool list`: failed (exit 1): broken");
        assert!(judge(&argv(), ended_with(1, "no pool\n"), &["no pool"]).is_ok());
    }
}
