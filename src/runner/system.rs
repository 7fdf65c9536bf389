//! The runner of real processes: each in its own process group, with stdin closed, `LC_ALL=C`
//! (the parsers read the C locale's output), killed with its group at the timeout, and logged.

use super::{display, Output, RunError, Runner};
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Runs real processes.
#[derive(Debug, Default)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&self, argv: &[String], timeout: Duration) -> Result<Output, RunError> {
        let command = display(argv);
        let started = Instant::now();
        let started_at = SystemTime::now();
        let (program, args) = argv.split_first().ok_or_else(|| RunError::Spawn {
            command: command.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "empty command"),
        })?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("LC_ALL", "C")
            // Its own process group, so a timeout kills everything it started.
            .process_group(0)
            .spawn()
            .map_err(|e| RunError::spawn(command.clone(), e))?;
        let pid = child.id() as i32;
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(child.wait_with_output());
        });
        let result = match finished.recv_timeout(timeout) {
            Ok(result) => result,
            Err(_) => {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = finished.recv();
                tracing::error!(command = %command, timeout_s = timeout.as_secs(), "command timed out");
                return Err(RunError::TimedOut {
                    command,
                    after: timeout,
                });
            }
        };
        let out = result.map_err(|source| RunError::Spawn {
            command: command.clone(),
            source,
        })?;
        let output = Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            duration: started.elapsed(),
        };
        log(&command, started_at, &output);
        Ok(output)
    }
}

/// `at_us` (wall clock, microseconds since the epoch) and `us` place each command on the same
/// clock as bash's `$EPOCHREALTIME`, which the floor of `cargo xtask bench-guest` stamps its
/// commands with: the bench lays both sides' commands out side by side and counts the time apply
/// spends outside any command.
fn log(command: &str, started_at: SystemTime, output: &Output) {
    let ms = output.duration.as_millis() as u64;
    let us = output.duration.as_micros() as u64;
    let at_us = started_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    if output.success() {
        tracing::info!(command = %command, code = 0, ms, at_us, us, "ran");
    } else {
        // Info, not a warning: whether a status is a failure is the caller's to say (`systemctl
        // is-active` answers 3 on every healthy host), and a caller that fails says so itself.
        tracing::info!(command = %command, code = ?output.code, ms, at_us, us, stderr = %output.stderr.trim(), "ran, failed");
    }
    tracing::debug!(command = %command, stdout = %output.stdout, "output");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::tests::argv;

    #[test]
    fn real_commands_report_exit_codes_and_output() {
        let script = vec![
            "sh".to_string(),
            "-c".to_string(),
            "echo hi; exit 3".to_string(),
        ];
        let out = SystemRunner.run(&script, Duration::from_secs(10)).unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "hi\n");
    }

    #[test]
    fn timeouts_kill_the_command() {
        let err = SystemRunner
            .run(&argv("sleep 30"), Duration::from_millis(200))
            .unwrap_err();
        assert!(matches!(err, RunError::TimedOut { .. }), "{err}");
    }

    #[test]
    fn missing_programs_say_so() {
        let err = SystemRunner
            .run(&argv("phoenix-zfs-no-such-program"), Duration::from_secs(5))
            .unwrap_err();
        assert!(matches!(err, RunError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("program not found"), "{err}");
    }
}
