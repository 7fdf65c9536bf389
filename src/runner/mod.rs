//! The one place that spawns processes. Commands are argv vectors, never shell strings; each has a
//! timeout; each is logged with its result. Tests use [`ReplayRunner`], which answers from
//! transcripts recorded from real tools and remembers what it was asked to run.
//!
//! Here: the [`Runner`] trait, its [`Output`] and [`RunError`], and what an argv says about
//! itself (how it is displayed, whether it changes anything). The runners are apart: real
//! processes in `system.rs`, transcripts answering in `replay.rs`, transcripts written in
//! `record.rs`.
//!
//! Errors, here and in the whole library: each is a thiserror type naming what it happened to
//! (the command in backticks first, a path, a device) and, when something lower failed, that
//! cause as its `#[source]`, never also in its own message. An error becomes text only through
//! [`crate::report::Report`], which prints the message and then each cause once
//! (`what: cause: cause's cause`): the command line's error lines, xtask's, the pvesm stand-in's,
//! and the text kept in the manifest, the plan and the log.

mod record;
mod replay;
mod system;

pub use record::RecordingRunner;
pub use replay::{ReplayRunner, Transcript};
pub use system::SystemRunner;

use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

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

/// Why a command did not run to its end. A command that ran and exited non-zero is no error
/// here: only its caller knows whether that is a failure.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program is not installed, or not where the argv says.
    #[error("`{command}`: program not found; is it installed and on PATH?")]
    NotFound { command: String },
    /// The program exists but could not be started or waited for (permissions, resources).
    #[error("`{command}`: could not start")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("`{command}`: killed after {} s without finishing", .after.as_secs())]
    TimedOut { command: String, after: Duration },
    /// A replay runner has no transcript for this command.
    #[error("`{command}`: no recorded transcript for this command")]
    NotRecorded { command: String },
}

impl RunError {
    /// `source` from starting or waiting for `command`: a missing program is told apart, since
    /// its remedy (install it) differs from every other cause's.
    pub(crate) fn spawn(command: String, source: io::Error) -> RunError {
        if source.kind() == io::ErrorKind::NotFound {
            RunError::NotFound { command }
        } else {
            RunError::Spawn { command, source }
        }
    }
}

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
/// anything, by their exact shape: the program, its subcommand, the options known to only read
/// (an option not listed, such as `zpool import -a`, `zpool status -c SCRIPT`, `udevadm info
/// --cleanup-db`, makes the command mutating) and whether operands may follow (`hostname NAME`
/// sets the name). Everything else is mutating.
pub fn is_read_only(argv: &[String]) -> bool {
    let sub = argv.get(1).map(String::as_str).unwrap_or("");
    let rest = argv.get(2..).unwrap_or(&[]);
    let all = argv.get(1..).unwrap_or(&[]);
    match program(argv) {
        "zpool" => match sub {
            "list" => Shape::new("HpPvgL", &["-o", "-T"])
                .any_operands()
                .fits(rest),
            "get" => Shape::new("Hp", &["-o"]).any_operands().fits(rest),
            // Not -c: it runs scripts from zpool.d for every vdev.
            "status" => Shape::new("PpvxgLDtsei", &["-T"]).any_operands().fits(rest),
            "iostat" => Shape::new("vHpPgLylqrw", &["-T"]).any_operands().fits(rest),
            "history" => Shape::new("il", &[]).any_operands().fits(rest),
            // Not -c: it clears the events.
            "events" => Shape::new("vHf", &[]).fits(rest),
            "version" => Shape::new("", &[]).fits(rest),
            // A scan lists pools; naming one (or -a, all of them) imports it.
            "import" => Shape::new("D", &["-d", "-R", "-o", "-c"]).fits(rest),
            _ => false,
        },
        "zfs" => match sub {
            "list" => Shape::new("Hpr", &["-o", "-t", "-s", "-S", "-d"])
                .any_operands()
                .fits(rest),
            "get" => Shape::new("Hpr", &["-o", "-t", "-s", "-d"])
                .any_operands()
                .fits(rest),
            "version" => Shape::new("", &[]).fits(rest),
            "holds" => Shape::new("rHp", &[]).any_operands().fits(rest),
            "userspace" | "groupspace" | "projectspace" => {
                Shape::new("Hpni", &["-o", "-s", "-S", "-t"])
                    .any_operands()
                    .fits(rest)
            }
            _ => false,
        },
        // --no-act does everything but the write.
        "wipefs" => all.iter().any(|a| a == "--no-act" || a == "-n"),
        "pvesm" => matches!(sub, "status" | "list" | "path" | "scan"),
        "exportfs" => !all.is_empty() && all.iter().all(|a| a == "-v" || a == "-s"),
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
        "smartctl" => all.iter().all(|a| {
            matches!(
                a.as_str(),
                "-j" | "-a" | "-x" | "-i" | "-H" | "-A" | "-B" | "/dev/null"
            ) || a.starts_with("/dev/")
        }),
        "ip" => {
            let words: Vec<&str> = all
                .iter()
                .map(String::as_str)
                .filter(|a| !a.starts_with('-'))
                .collect();
            matches!(
                words.first(),
                Some(&("addr" | "address" | "route" | "link"))
            ) && matches!(words.get(1), None | Some(&("show" | "list" | "dev")))
        }
        "udevadm" => match sub {
            "settle" => Shape::new("", &["-t", "--timeout", "-E", "--exit-if-exists"]).fits(rest),
            // Not --cleanup-db (-c): it deletes the database.
            "info" => Shape::new(
                "raxte",
                &[
                    "-q",
                    "--query",
                    "-p",
                    "--path",
                    "-n",
                    "--name",
                    "-P",
                    "--export-prefix",
                    "-d",
                    "--device-id-of-file",
                    "--property",
                ],
            )
            .with_long(&[
                "--root",
                "--attribute-walk",
                "--export",
                "--tree",
                "--export-db",
                "--value",
            ])
            .any_operands()
            .fits(rest),
            _ => false,
        },
        "nvme" => matches!(
            sub,
            "list" | "id-ctrl" | "id-ns" | "fw-log" | "smart-log" | "error-log"
        ),
        "blkid" | "lsblk" | "findmnt" | "cat" | "stat" | "uname" => true,
        // Without an operand or -F/-b it only prints.
        "hostname" => Shape::new("sfdiIAya", &[])
            .with_long(&[
                "--short",
                "--fqdn",
                "--domain",
                "--ip-address",
                "--all-ip-addresses",
                "--all-fqdns",
                "--yp",
                "--alias",
            ])
            .fits(all),
        _ => false,
    }
}

/// The options and operands of a read-only invocation: single-letter flags (which may be
/// combined, `-Hp`), options that take a value (as the next argument, or `--opt=value`), long
/// flags, and whether operands may follow.
struct Shape<'a> {
    flags: &'a str,
    with_value: &'a [&'a str],
    long: &'a [&'a str],
    operands: bool,
}

impl<'a> Shape<'a> {
    fn new(flags: &'a str, with_value: &'a [&'a str]) -> Shape<'a> {
        Shape {
            flags,
            with_value,
            long: &[],
            operands: false,
        }
    }

    fn with_long(self, long: &'a [&'a str]) -> Shape<'a> {
        Shape { long, ..self }
    }

    fn any_operands(self) -> Shape<'a> {
        Shape {
            operands: true,
            ..self
        }
    }

    fn fits(&self, args: &[String]) -> bool {
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let arg = arg.as_str();
            if self.with_value.contains(&arg) {
                if args.next().is_none() {
                    return false;
                }
            } else if let Some((option, _)) = arg.split_once('=').filter(|_| arg.starts_with("--"))
            {
                if !self.with_value.contains(&option) {
                    return false;
                }
            } else if arg.starts_with("--") {
                if !self.long.contains(&arg) {
                    return false;
                }
            } else if let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty()) {
                if !letters.chars().all(|c| self.flags.contains(c)) {
                    return false;
                }
            } else if !self.operands {
                return false;
            }
        }
        true
    }
}

/// Sync: independent reads (the drives' health, a pool's status and its datasets) run at once.
pub trait Runner: Sync {
    /// Runs `argv` to completion or until `timeout`. A non-zero exit is an `Ok` with that code:
    /// only the caller knows whether it is a failure.
    fn run(&self, argv: &[String], timeout: Duration) -> Result<Output, RunError>;
}

/// A panicking test thread must not hide what the others saw.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn only_the_exact_shapes_of_reading_are_read_only() {
        for reading in [
            "zpool list -H -p -o name,ashift,autotrim,guid,health quickOS",
            "zpool list -Hp",
            "zpool status -P -p quickOS fastData",
            "zpool import -d /dev/disk/by-id",
            "zpool import -D -d /dev/disk/by-id",
            "zfs get -H -p -o name,property,value,source -t filesystem,volume recordsize quickOS",
            "udevadm settle --timeout=60",
            "udevadm info --query=property --name=/dev/nvme0n1",
            "udevadm info -q property -n /dev/nvme0n1",
            "hostname",
            "hostname --fqdn",
            "wipefs --no-act /dev/nvme0n1",
        ] {
            assert!(is_read_only(&argv(reading)), "{reading}");
        }
        for changing in [
            "zpool import -a",
            "zpool import -a -d /dev/disk/by-id",
            "zpool status -c smart",
            "zpool status -P -c lsblk quickOS",
            "zpool events -c",
            "udevadm info --cleanup-db",
            "udevadm info -c",
            "udevadm trigger",
            "hostname pve1",
            "hostname -F /etc/hostname",
            "zpool list -H -o name quickOS -Z",
            "zfs get -H -o",
            "zpool frobnicate",
        ] {
            assert!(is_mutating(&argv(changing)), "{changing}");
        }
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
        // -D lists destroyed pools; naming one brings it back.
        assert!(!is_mutating(&argv("zpool import -D -d /dev/disk/by-id")));
        assert!(!is_mutating(&argv("zpool import -D")));
        assert!(is_mutating(&argv("zpool import -D tank")));
        assert!(is_mutating(&argv(
            "zpool import -D -d /dev/disk/by-id 1234"
        )));
        assert!(is_mutating(&argv(
            "zpool import -D -f -d /dev/disk/by-id 1234 tank-old"
        )));
        assert!(!is_mutating(
            &crate::formats::zfs::zpool_import_destroyed_scan_argv()
        ));
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
