//! Shared helpers for the developer tasks: one way to run a command, the log that takes the
//! noisy tools' output, and the cache location.

use anyhow::{bail, Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// How much of a failed tool's output the console gets; the rest stays in the log.
const FAILURE_TAIL_LINES: usize = 30;

static TOOL_LOG: OnceLock<PathBuf> = OnceLock::new();
static TOOL_LOG_ANNOUNCED: AtomicBool = AtomicBool::new(false);

/// The workspace root (the parent of xtask/).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Slow caches live outside the checkout, keyed by their inputs, so CI on the same machine
/// reuses them and a fresh machine rebuilds them.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("PHOENIX_ZFS_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache/phoenix-zfs")
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Sends the output of the noisy tools (apt, dkms, mmdebstrap, debugfs, the nested builds) of
/// this run to target/logs/TASK.log; the previous run's stays beside it as TASK.previous.log,
/// so that a rerun does not wipe the log of the failure it reruns. Without it, everything goes
/// to the console.
/// The files of `dir` whose extension is `extension` (scenarios, host specs), sorted.
pub fn files_with_extension(dir: &Path, extension: &str) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    Ok(files)
}

pub fn start_tool_log(task: &str) {
    let dir = workspace_root().join("target/logs");
    let path = dir.join(format!("{task}.log"));
    let _ = fs::rename(&path, dir.join(format!("{task}.previous.log")));
    if fs::create_dir_all(&dir).is_ok() && File::create(&path).is_ok() {
        let _ = TOOL_LOG.set(path);
    }
}

pub fn tool_log() -> Option<&'static Path> {
    TOOL_LOG.get().map(PathBuf::as_path)
}

/// The log for appending, announced on the console the first time anything goes into it.
fn open_tool_log() -> Option<(&'static Path, File)> {
    let path = tool_log()?;
    let file = OpenOptions::new().append(true).open(path).ok()?;
    if !TOOL_LOG_ANNOUNCED.swap(true, Ordering::SeqCst) {
        eprintln!(
            "xtask: the output of apt, dkms, mmdebstrap, debugfs and the builds goes to {}",
            display_path(path)
        );
    }
    Some((path, file))
}

/// A line for whoever repeats a step by hand (a command line, a build's variables): into the
/// tool log when there is one, else onto the console.
pub fn note(line: &str) {
    match open_tool_log() {
        Some((_, mut file)) => {
            let _ = writeln!(file, "xtask: {line}");
        }
        None => eprintln!("xtask: {line}"),
    }
}

/// A path under the workspace as the user would type it from there.
pub fn display_path(path: &Path) -> String {
    let root = workspace_root();
    path.strip_prefix(&root)
        .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
}

/// The last `lines` lines of `text`, for a failure message.
pub fn tail_lines(text: &str, lines: usize) -> &str {
    if lines == 0 {
        return "";
    }
    let trimmed = text.trim_end();
    let start = trimmed
        .rmatch_indices('\n')
        .nth(lines.saturating_sub(1))
        .map_or(0, |(at, _)| at + 1);
    &trimmed[start..]
}

/// Runs a noisy tool with its stdout and stderr appended to the tool log. On failure the
/// console gets the last lines of its output and where the rest is; the error names the command.
pub fn run_logged(cmd: &mut Command) -> Result<()> {
    logged(cmd, false).map(drop)
}

/// Like [`output`] for a noisy tool: returns its stdout; its stderr goes to the tool log.
pub fn output_logged(cmd: &mut Command) -> Result<String> {
    let stdout = logged(cmd, true)?;
    String::from_utf8(stdout)
        .with_context(|| format!("`{}` printed non-UTF-8 output", describe(cmd)))
}

fn logged(cmd: &mut Command, capture: bool) -> Result<Vec<u8>> {
    let Some((log, mut file)) = open_tool_log() else {
        return if capture {
            output(cmd).map(String::into_bytes)
        } else {
            run(cmd).map(|()| Vec::new())
        };
    };
    let line = describe(cmd);
    writeln!(file, "\n$ {line}")?;
    let start = file.seek(SeekFrom::End(0))?;
    // Nothing may wait for an answer nobody sees.
    cmd.stdin(Stdio::null()).stderr(file.try_clone()?);
    let (status, stdout) = if capture {
        let out = cmd
            .stdout(Stdio::piped())
            .output()
            .with_context(|| format!("could not start `{line}`"))?;
        (out.status, out.stdout)
    } else {
        let status = cmd
            .stdout(file.try_clone()?)
            .status()
            .with_context(|| format!("could not start `{line}`"))?;
        (status, Vec::new())
    };
    if status.success() {
        return Ok(stdout);
    }
    let mut text = String::new();
    if let Ok(mut reader) = File::open(log) {
        let _ = reader.seek(SeekFrom::Start(start));
        let _ = reader.read_to_string(&mut text);
    }
    eprintln!(
        "xtask: `{line}` failed ({status}); its last lines:\n{}\nxtask: its full output: {}",
        tail_lines(&text, FAILURE_TAIL_LINES),
        log.display()
    );
    bail!("`{line}` failed: {status} (output in {})", log.display())
}

/// Runs a command with inherited stdout/stderr; fails with the full command line. The command
/// line itself goes to the tool log when there is one.
pub fn run(cmd: &mut Command) -> Result<()> {
    let line = describe(cmd);
    note(&format!("$ {line}"));
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed: {status}");
    }
    Ok(())
}

/// Runs a command and returns its stdout as a string; stderr passes through.
pub fn output(cmd: &mut Command) -> Result<String> {
    let line = describe(cmd);
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    if !out.status.success() {
        bail!("`{line}` failed: {}", out.status);
    }
    String::from_utf8(out.stdout).with_context(|| format!("`{line}` printed non-UTF-8 output"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test that sets the process-wide tool log: a OnceLock is set once.
    #[test]
    fn noisy_tools_go_to_the_log_and_a_failure_shows_its_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("task.log");
        File::create(&log).unwrap();
        TOOL_LOG.set(log.clone()).unwrap();

        run_logged(Command::new("sh").args(["-c", "echo chatter; echo more chatter >&2"])).unwrap();
        let out = output_logged(Command::new("sh").args(["-c", "echo result; echo noise >&2"]));
        assert_eq!(out.unwrap(), "result\n");
        let error = run_logged(Command::new("sh").args(["-c", "echo why it failed >&2; exit 3"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("exit status: 3"), "{error}");
        assert!(error.contains(&log.display().to_string()), "{error}");

        let text = fs::read_to_string(&log).unwrap();
        for expected in [
            "$ sh -c echo chatter",
            "chatter\nmore chatter",
            "noise",
            "why it failed",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} not in the log:\n{text}"
            );
        }
        assert!(
            !text.contains("\nresult\n"),
            "captured stdout leaked into the log:\n{text}"
        );
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_lines("a\nb\nc", 5), "a\nb\nc");
        assert_eq!(tail_lines("a\nb\nc\n\n", 1), "c");
        assert_eq!(tail_lines("", 3), "");
        assert_eq!(tail_lines("a\nb", 0), "");
    }
}
