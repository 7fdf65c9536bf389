//! The one place that spawns processes. Commands are argv vectors, never shell strings; each has a
//! timeout; each is logged with its result. Tests use [`ReplayRunner`], which answers from
//! transcripts recorded from real tools and remembers what it was asked to run.

use std::fmt;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit code; None when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

#[derive(Debug)]
pub enum RunError {
    /// The program could not be started (not installed, not executable).
    Spawn {
        command: String,
        error: io::Error,
    },
    TimedOut {
        command: String,
        after: Duration,
    },
    /// A replay runner has no transcript for this command.
    NotRecorded {
        command: String,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Spawn { command, error } if error.kind() == io::ErrorKind::NotFound => {
                write!(
                    f,
                    "`{command}`: program not found; is it installed and on PATH?"
                )
            }
            RunError::Spawn { command, error } => {
                write!(f, "`{command}`: could not start: {error}")
            }
            RunError::TimedOut { command, after } => {
                write!(
                    f,
                    "`{command}`: killed after {:.0} s without finishing",
                    after.as_secs_f64()
                )
            }
            RunError::NotRecorded { command } => {
                write!(f, "`{command}`: no recorded transcript for this command")
            }
        }
    }
}

impl std::error::Error for RunError {}

/// A command line as a human would type it, for logs and error messages. Arguments with spaces
/// or quotes are single-quoted so the line can be pasted into a shell.
pub fn display(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a command may change anything: every command that is not on the explicit list of
/// read-only invocations ([`is_read_only`]). Classified from the argv itself so that a test can
/// check "nothing mutating ran" without trusting the code that built the command; a program
/// nobody listed counts as mutating.
pub fn is_mutating(argv: &[String]) -> bool {
    !is_read_only(argv)
}

/// Whether a mutating command writes pools, datasets or disks (the storage tools), as opposed
/// to services and files (systemctl, pvesm, apt-get, ...).
pub fn changes_storage(argv: &[String]) -> bool {
    let storage_tool = matches!(
        program(argv),
        "zpool" | "zfs" | "wipefs" | "sgdisk" | "sfdisk" | "parted" | "blkdiscard" | "dd"
    ) || program(argv).starts_with("mkfs");
    storage_tool && is_mutating(argv)
}

fn program(argv: &[String]) -> &str {
    argv.first()
        .map(|p| {
            Path::new(p)
                .file_name()
                .map_or(p.as_str(), |f| f.to_str().unwrap_or(""))
        })
        .unwrap_or("")
}

/// The invocations phoenix-zfs (and an administrator's usual reading) makes that cannot change
/// anything. Everything else is mutating.
pub fn is_read_only(argv: &[String]) -> bool {
    let sub = argv.get(1).map(String::as_str).unwrap_or("");
    let rest = argv.get(2..).unwrap_or(&[]);
    match program(argv) {
        "zpool" => match sub {
            "list" | "get" | "status" | "iostat" | "history" | "events" | "version" => true,
            // `zpool import` alone, or with only options, scans; naming a pool imports it.
            "import" => !names_an_operand(rest, &["-d", "-R", "-o", "-c"]),
            _ => false,
        },
        "zfs" => matches!(
            sub,
            "list" | "get" | "version" | "holds" | "userspace" | "groupspace" | "projectspace"
        ),
        "wipefs" => argv.iter().any(|a| a == "--no-act" || a == "-n"),
        "pvesm" => matches!(sub, "status" | "list" | "path" | "scan"),
        "exportfs" => argv.len() > 1 && argv[1..].iter().all(|a| a == "-v" || a == "-s"),
        "systemctl" => matches!(
            sub,
            "is-active"
                | "is-enabled"
                | "is-failed"
                | "is-system-running"
                | "show"
                | "status"
                | "list-units"
                | "cat"
        ),
        // Reading a drive's identity and health: every option phoenix-zfs passes reads.
        "smartctl" => argv[1..].iter().all(|a| {
            matches!(
                a.as_str(),
                "-j" | "-a" | "-x" | "-i" | "-H" | "-A" | "-B" | "/dev/null"
            ) || a.starts_with("/dev/")
        }),
        "ip" => {
            let words: Vec<&str> = argv[1..]
                .iter()
                .map(String::as_str)
                .filter(|a| !a.starts_with('-'))
                .collect();
            matches!(
                words.first(),
                Some(&("addr" | "address" | "route" | "link"))
            ) && matches!(words.get(1), None | Some(&("show" | "list" | "dev")))
        }
        "udevadm" => matches!(sub, "settle" | "info"),
        "nvme" => matches!(
            sub,
            "list" | "id-ctrl" | "id-ns" | "fw-log" | "smart-log" | "error-log"
        ),
        "blkid" | "lsblk" | "findmnt" | "cat" | "stat" | "uname" | "hostname" => true,
        _ => false,
    }
}

/// Whether `args` hold an operand besides the options and the values of `with_value`.
fn names_an_operand(args: &[String], with_value: &[&str]) -> bool {
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if with_value.contains(&arg.as_str()) {
            rest.next();
        } else if !arg.starts_with('-') {
            return true;
        }
    }
    false
}

/// Sync: independent reads (the drives' health, a pool's status and its datasets) run at once.
pub trait Runner: Sync {
    /// Runs `argv` to completion or until `timeout`. A non-zero exit is an `Ok` with that code:
    /// only the caller knows whether it is a failure.
    fn run(&self, argv: &[String], timeout: Duration) -> Result<Output, RunError>;
}

/// Runs real processes.
#[derive(Debug, Default)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&self, argv: &[String], timeout: Duration) -> Result<Output, RunError> {
        let command = display(argv);
        let started = Instant::now();
        let (program, args) = argv.split_first().ok_or_else(|| RunError::Spawn {
            command: command.clone(),
            error: io::Error::new(io::ErrorKind::InvalidInput, "empty command"),
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
            .map_err(|error| RunError::Spawn {
                command: command.clone(),
                error,
            })?;
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
        let out = result.map_err(|error| RunError::Spawn {
            command: command.clone(),
            error,
        })?;
        let output = Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            duration: started.elapsed(),
        };
        log(&command, &output);
        Ok(output)
    }
}

fn log(command: &str, output: &Output) {
    let ms = output.duration.as_millis() as u64;
    if output.success() {
        tracing::info!(command = %command, code = 0, ms, "ran");
    } else {
        tracing::warn!(command = %command, code = ?output.code, ms, stderr = %output.stderr.trim(), "ran, failed");
    }
    tracing::debug!(command = %command, stdout = %output.stdout, "output");
}

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

    /// Every transcript in a directory (files ending in .argv).
    pub fn load_dir(dir: &Path) -> io::Result<Vec<Transcript>> {
        let mut stems: Vec<_> = std::fs::read_dir(dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "argv"))
            .collect();
        stems.sort();
        stems
            .iter()
            .map(|s| Transcript::load(&s.with_extension("")))
            .collect()
    }
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

/// Runs commands through another runner and writes each one as a transcript into a directory
/// (`0001-zpool.argv`, `.stdout`, `.stderr`, `.status`): how the replay tests' transcripts are
/// recorded from real OpenZFS in the QEMU guest (PHOENIX_ZFS_RECORD=DIR).
/// A panicking test thread must not hide what the others saw.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

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
                    tracing::warn!(path = %stem.display(), error = %e, "cannot record transcript");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn classifies_mutating_commands_from_argv() {
        assert!(!is_mutating(&argv("zpool list -H -p")));
        assert!(!is_mutating(&argv("zpool import")));
        assert!(!is_mutating(&argv("zpool import -d /dev/disk/by-id")));
        assert!(is_mutating(&argv("zpool import -d /dev/disk/by-id 1234")));
        assert!(!is_mutating(&argv(
            "zpool import -R /mnt -d /dev/disk/by-id"
        )));
        assert!(is_mutating(&argv(
            "zpool import -R /mnt -f -d /dev/disk/by-id 1234"
        )));
        assert!(is_mutating(&argv("zpool create quickOS mirror a b")));
        assert!(is_mutating(&argv("zfs create -o quota=1G quickOS/x")));
        assert!(!is_mutating(&argv("zfs get -H -p all quickOS")));
        assert!(is_mutating(&argv("wipefs --all /dev/x")));
        assert!(!is_mutating(&argv("wipefs --no-act /dev/x")));
        assert!(!is_mutating(&argv("/usr/sbin/zpool status -P")));
    }

    #[test]
    fn a_program_nobody_listed_is_mutating() {
        for changing in [
            "systemctl reload smartd.service",
            "systemctl restart nfs-server",
            "apt-get install -y nfs-kernel-server",
            "update-initramfs -u",
            "pct set 101 -mp0 /x,mp=/y",
            "pvesm add zfspool quickOS-vm-disks --pool quickOS/vm-disks",
            "exportfs -ra",
            "ip addr add 10.0.0.1/24 dev eth0",
            "smartctl -s on /dev/nvme0",
            "udevadm trigger",
            "zpool labelclear -f /dev/x",
            "some-future-tool --do-it",
        ] {
            assert!(is_mutating(&argv(changing)), "{changing}");
        }
        for reading in [
            "systemctl is-active rescue.target emergency.target",
            "smartctl -j -a -B /dev/null /dev/nvme0",
            "ip -j addr show dev vmbr0",
            "ip -j route",
            "udevadm settle --timeout=60",
            "pvesm status",
            "exportfs -v",
        ] {
            assert!(!is_mutating(&argv(reading)), "{reading}");
        }
    }

    #[test]
    fn storage_changes_are_the_storage_tools_mutating_commands() {
        assert!(changes_storage(&argv("zpool create t a")));
        assert!(changes_storage(&argv("wipefs --all /dev/x")));
        assert!(!changes_storage(&argv("zpool status -P")));
        assert!(!changes_storage(&argv("systemctl reload smartd.service")));
    }

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
        assert!(err.to_string().contains("program not found"), "{err}");
    }

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

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        assert_eq!(
            display(&argv("zfs set sharenfs=rw=@10.0.0.0/24 a/b")),
            "zfs set sharenfs=rw=@10.0.0.0/24 a/b"
        );
        assert_eq!(
            display(&["echo".into(), "a b".into(), "it's".into()]),
            r"echo 'a b' 'it'\''s'"
        );
    }
}
