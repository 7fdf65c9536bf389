//! The command line of `cargo xtask`: every task and every option, in one place. Each task is a
//! function taking its options struct from here, so a task that needs another one calls it with
//! a value (`dist::build(&DistOptions { allow_oversize: true, ..Default::default() })`), never
//! with argv strings, and an option no task knows is an error instead of being dropped.
//!
//! clap with the main crate's features (no colour, no suggestions): the workspace resolves one
//! clap, and the shipped binary's build must not pick up what only xtask would want.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Developer tasks of phoenix-zfs."
)]
pub struct Xtask {
    #[command(subcommand)]
    pub task: Task,
}

#[derive(Debug, Subcommand)]
pub enum Task {
    /// Run every test (unit, fixture, QEMU) and compile the benches and fuzz targets: the
    /// README's test command.
    Test,
    /// Build the static x86_64 musl binary into target/dist/phoenix-zfs.
    Dist(DistOptions),
    /// Build it and write the Proxmox first-boot hook target/dist/proxmox-first-boot.
    Hook(HookOptions),
    /// Write the manual pages target/man/phoenix-zfs.1 (and one per command) and the bash, zsh
    /// and fish completions under target/completions/, from the binary's clap definition.
    Man,
    /// Build (or reuse from cache) the QEMU guest image with OpenZFS.
    Guest,
    /// Write the synthesized fixture hosts under tests/fixtures/hosts from their specs.
    FixtureHosts(FixtureHostsOptions),
    /// Boot the guest with NVMe drives, run a script in it, unpack its results.
    GuestRun(GuestRunOptions),
    /// The main job: first boot of a QEMU host with the default layout; leaves the signed
    /// manifest, the guest's host key and an allowed_signers file naming it for the manifest's
    /// host in target/demo/, and shows the host with `phoenix-zfs manifest show`.
    Demo(DemoOptions),
    /// Run the QEMU scenarios of qemu-tests/ (all by default).
    QemuTest(QemuTestOptions),
    /// Copy a scenario step's recorded zpool/zfs transcripts into tests/fixtures/replay/CASE,
    /// and its exit code and number of storage changes into the case's case.toml.
    RecordReplay(RecordReplayOptions),
    /// Check a Proxmox installer answer file against the answer types of each installer
    /// version (xtask/src/answer.rs); names the versions accepting it.
    CheckAnswer(CheckAnswerOptions),
    /// The core benchmarks (criterion) and the binary's start time, checked against their
    /// targets (linear growth, 80,000 property lines under 100 ms, start under 5 ms).
    Bench(BenchOptions),
    /// One QEMU boot timing the floor (serial and in lanes), apply, the converged rerun, and
    /// verify and the rerun with 300 zvols and 5,000 snapshots; last line: the ratios (apply
    /// against the floor in lanes is the target, against the serial one information).
    BenchGuest(BenchGuestOptions),
}

impl Task {
    /// The task's name as typed, for its log file target/logs/TASK.log.
    pub fn name(&self) -> &'static str {
        match self {
            Task::Test => "test",
            Task::Dist(_) => "dist",
            Task::Hook(_) => "hook",
            Task::Man => "man",
            Task::Guest => "guest",
            Task::FixtureHosts(_) => "fixture-hosts",
            Task::GuestRun(_) => "guest-run",
            Task::Demo(_) => "demo",
            Task::QemuTest(_) => "qemu-test",
            Task::RecordReplay(_) => "record-replay",
            Task::CheckAnswer(_) => "check-answer",
            Task::Bench(_) => "bench",
            Task::BenchGuest(_) => "bench-guest",
        }
    }
}

/// Which compiler and std build the static binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Route {
    /// Debian's rustc-web building std for musl (the default: smallest, and its packages are
    /// always reachable, so every machine builds from the same inputs).
    #[default]
    Debian,
    /// rustup's prebuilt musl std (`rustup target add`, not promised to download).
    Rustup,
    /// rustup if its musl target can be had within 90 s, else debian.
    Auto,
}

#[derive(Debug, Clone, Default, Args)]
pub struct DistOptions {
    /// Which compiler and std build the binary.
    #[arg(long, value_enum, default_value_t = Route::Debian, value_name = "ROUTE")]
    pub route: Route,
    /// build-std features for the debian route (default: optimize_for_size; `none` for none).
    #[arg(long, value_name = "LIST")]
    pub std_features: Option<String>,
    /// Extra flags for the musl target, appended to the route's defaults (repeatable, split at
    /// whitespace); the last of a repeated -C flag wins, so `--rustflags -Cpanic=abort` brings
    /// panic messages back (debian defaults: -Zunstable-options -Cpanic=immediate-abort
    /// -Crelocation-model=static -Cforce-unwind-tables=no; rustup: the last two; both: --cfg
    /// curve25519_dalek_backend="serial").
    #[arg(long, value_name = "FLAGS", allow_hyphen_values = true)]
    pub rustflags: Vec<String>,
    /// Do not fail when the binary exceeds the 1 MiB first-boot hook limit.
    #[arg(long)]
    pub allow_oversize: bool,
}

impl DistOptions {
    /// The extra rustflags one by one, as the shell would split each `--rustflags` value.
    pub fn extra_rustflags(&self) -> Vec<String> {
        self.rustflags
            .iter()
            .flat_map(|flags| flags.split_whitespace().map(String::from))
            .collect()
    }
}

/// The form of the first-boot hook file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Form {
    /// The bare binary when it fits with 32 KiB to spare, else the gzip wrapper (the default).
    #[default]
    Auto,
    /// The static binary itself.
    Bare,
    /// A POSIX sh wrapper that checks, unpacks and runs the binary compressed with gzip -9.
    Gzip,
}

/// Builds target/dist/phoenix-zfs (`cargo xtask dist`), then writes the Proxmox first-boot hook
/// target/dist/proxmox-first-boot (at most 1,048,576 bytes) and checks that it runs.
#[derive(Debug, Clone, Default, Args)]
pub struct HookOptions {
    /// Which form ships.
    #[arg(long, value_enum, default_value_t = Form::Auto, value_name = "FORM")]
    pub form: Form,
    /// The options of `cargo xtask dist`.
    #[command(flatten)]
    pub dist: DistOptions,
}

#[derive(Debug, Clone, Default, Args)]
pub struct FixtureHostsOptions {
    /// Only these specs (tests/fixtures/hosts/NAME.toml); all by default.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

/// An emulated NVMe drive of `--nvme SERIAL:SIZE[:LBS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvmeSpec {
    pub serial: String,
    pub size_bytes: u64,
    pub logical_block_size: u32,
}

/// An extra blank virtio disk of `--disk SERIAL:SIZE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpec {
    pub serial: String,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, Args)]
pub struct GuestRunOptions {
    /// Executable run in the guest as /run/phx/run (cwd /run/phx, $PHX_OUT=/run/phx/out:
    /// whatever it writes there comes back).
    #[arg(long, value_name = "FILE")]
    pub script: PathBuf,
    /// Where the guest's results are unpacked.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// An emulated NVMe drive; SIZE in bytes or with K/M/G/T (binary), LBS 512 (default) or
    /// 4096. Repeatable. Default: S2TA0001 and S2TA0002 at 2000398934016 bytes, S4TB0001 at
    /// 4000787030016 bytes.
    #[arg(long, value_name = "SERIAL:SIZE[:LBS]", value_parser = parse_nvme)]
    pub nvme: Vec<NvmeSpec>,
    /// An extra blank virtio disk (/dev/disk/by-id/virtio-SERIAL). Repeatable.
    #[arg(long, value_name = "SERIAL:SIZE", value_parser = parse_disk)]
    pub disk: Vec<DiskSpec>,
    /// Put FILE into /run/phx next to the script. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub add: Vec<PathBuf>,
    /// Kill the guest after this long.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub timeout: u64,
    /// Use KVM instead of TCG (where nested KVM works).
    #[arg(long)]
    pub kvm: bool,
    /// Keep the run directory's disk images for inspection.
    #[arg(long)]
    pub keep: bool,
    /// Kernel and systemd status messages in the console log.
    #[arg(long)]
    pub verbose_console: bool,
}

#[derive(Debug, Clone, Default, Args)]
pub struct DemoOptions {
    /// Use KVM instead of TCG (where nested KVM works).
    #[arg(long)]
    pub kvm: bool,
}

#[derive(Debug, Clone, Default, Args)]
pub struct QemuTestOptions {
    /// Scenario names (qemu-tests/scenarios/NAME.toml) or files; all by default.
    #[arg(value_name = "SCENARIO")]
    pub scenarios: Vec<String>,
    /// Use KVM instead of TCG (where nested KVM works).
    #[arg(long)]
    pub kvm: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RecordReplayOptions {
    /// The replay case: tests/fixtures/replay/CASE.
    pub case: String,
    /// The scenario that recorded it (run by `cargo xtask qemu-test SCENARIO` first).
    pub scenario: String,
    /// The boot's number, from 1.
    pub boot: String,
    /// The step's number within the boot, from 1.
    pub step: String,
}

#[derive(Debug, Clone, Default, Args)]
pub struct CheckAnswerOptions {
    /// The answer file (default image/answer.toml).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct BenchOptions {
    /// Skip building target/dist/phoenix-zfs and timing its start.
    #[arg(long)]
    pub no_startup: bool,
}

#[derive(Debug, Clone, Default, Args)]
pub struct BenchGuestOptions {
    /// Where the guest's results are unpacked (default target/bench-guest).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Use KVM instead of TCG (where nested KVM works).
    #[arg(long)]
    pub kvm: bool,
    /// No boot: print the table and ratios of an earlier run's results in DIR.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

/// `SERIAL:SIZE[:LBS]`; SIZE as ZFS reads sizes (bytes, or binary K/M/G/T).
fn parse_nvme(spec: &str) -> Result<NvmeSpec, String> {
    let mut parts = spec.split(':');
    let (Some(serial), Some(size)) = (parts.next(), parts.next()) else {
        return Err(format!("`{spec}`: expected SERIAL:SIZE[:LBS]"));
    };
    let logical_block_size = match parts.next() {
        None => 512,
        Some(text) => text
            .parse()
            .map_err(|_| format!("`{spec}`: block size `{text}` is not a number"))?,
    };
    if parts.next().is_some() {
        return Err(format!("`{spec}`: expected SERIAL:SIZE[:LBS]"));
    }
    Ok(NvmeSpec {
        serial: serial.to_string(),
        size_bytes: parse_size(size)?,
        logical_block_size,
    })
}

/// `SERIAL:SIZE`.
fn parse_disk(spec: &str) -> Result<DiskSpec, String> {
    let (serial, size) = spec
        .split_once(':')
        .ok_or_else(|| format!("`{spec}`: expected SERIAL:SIZE"))?;
    Ok(DiskSpec {
        serial: serial.to_string(),
        size_bytes: parse_size(size)?,
    })
}

/// SIZE in the library's ZFS size grammar, so that the project has one reader of sizes.
fn parse_size(text: &str) -> Result<u64, String> {
    phoenix_zfs::formats::size::ZfsSize::parse(text)
        .map(|size| size.bytes())
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Task, clap::Error> {
        Xtask::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied()))
            .map(|xtask| xtask.task)
    }

    fn dist(args: &[&str]) -> DistOptions {
        match parse(&[&["dist"], args].concat()).unwrap() {
            Task::Dist(options) => options,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Xtask::command().debug_assert();
    }

    #[test]
    fn dist_defaults_to_the_debian_route_and_fails_on_oversize() {
        let options = dist(&[]);
        assert_eq!(options.route, Route::Debian);
        assert_eq!(options.std_features, None);
        assert!(options.extra_rustflags().is_empty());
        assert!(!options.allow_oversize);
        assert!(dist(&["--allow-oversize"]).allow_oversize);
    }

    #[test]
    fn rustflags_take_values_that_start_with_a_dash_and_split_at_whitespace() {
        let options = dist(&[
            "--route",
            "rustup",
            "--std-features",
            "none",
            "--rustflags",
            "-Cpanic=abort -Zlocation-detail=none",
            "--rustflags",
            "-Copt-level=s",
        ]);
        assert_eq!(options.route, Route::Rustup);
        assert_eq!(options.std_features.as_deref(), Some("none"));
        assert_eq!(
            options.extra_rustflags(),
            ["-Cpanic=abort", "-Zlocation-detail=none", "-Copt-level=s"]
        );
    }

    #[test]
    fn bad_arguments_say_what_was_wrong() {
        let err = parse(&["dist", "--route", "gnu"]).unwrap_err().to_string();
        assert!(
            err.contains("invalid value 'gnu' for '--route <ROUTE>'"),
            "{err}"
        );
        assert!(err.contains("debian, rustup, auto"), "{err}");
        let err = parse(&["dist", "--route"]).unwrap_err().to_string();
        assert!(
            err.contains("a value is required for '--route <ROUTE>'"),
            "{err}"
        );
        let err = parse(&["dist", "--fast"]).unwrap_err().to_string();
        assert!(err.contains("unexpected argument '--fast'"), "{err}");
    }

    #[test]
    fn hook_takes_its_form_and_the_options_of_dist() {
        let Task::Hook(options) = parse(&["hook", "--form", "gzip", "--route", "rustup"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(options.form, Form::Gzip);
        assert_eq!(options.dist.route, Route::Rustup);
        let Task::Hook(options) = parse(&["hook"]).unwrap() else {
            panic!()
        };
        assert_eq!(options.form, Form::Auto);
        assert!(parse(&["hook", "--form", "zip"]).is_err());
        assert!(parse(&["hook", "--form"]).is_err());
        assert!(parse(&["hook", "--fast"]).is_err());
    }

    #[test]
    fn unknown_flags_are_errors_in_every_task() {
        for task in [
            "test",
            "dist",
            "hook",
            "man",
            "guest",
            "fixture-hosts",
            "demo",
            "qemu-test",
            "check-answer",
            "bench",
            "bench-guest",
        ] {
            let err = parse(&[task, "--no-such-flag"]).unwrap_err().to_string();
            assert!(err.contains("'--no-such-flag'"), "{task}: {err}");
        }
        assert!(parse(&["no-such-task"]).is_err());
        assert!(parse(&["guest", "extra"]).is_err());
        assert!(parse(&["check-answer", "a.toml", "b.toml"]).is_err());
        assert!(parse(&["record-replay", "case", "scenario", "1"]).is_err());
    }

    #[test]
    fn the_documented_invocations_parse() {
        for line in [
            "test",
            "demo",
            "qemu-test",
            "qemu-test 01-first-boot 02-rerun --kvm",
            "hook",
            "man",
            "dist --allow-oversize",
            "guest",
            "fixture-hosts",
            "fixture-hosts realistic",
            "check-answer",
            "check-answer image/answer.toml",
            "record-replay CASE NAME 1 2",
            "bench",
            "bench --no-startup",
            "bench-guest",
            "bench-guest --report target/bench-guest",
            "guest-run --script qemu-tests/guest-smoke.sh --out DIR",
            "guest-run --script s.sh --add target/dist/phoenix-zfs --out out --nvme S1:1G:4096 \
             --disk D1:64M --timeout 60 --kvm --keep --verbose-console",
        ] {
            let args: Vec<&str> = line.split_whitespace().collect();
            parse(&args).unwrap_or_else(|err| panic!("{line}: {err}"));
        }
    }

    #[test]
    fn guest_run_needs_script_and_out_and_defaults_to_900_seconds() {
        let Task::GuestRun(options) = parse(&["guest-run", "--script", "s", "--out", "o"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(options.timeout, 900);
        assert!(options.nvme.is_empty());
        let err = parse(&["guest-run", "--out", "o"]).unwrap_err().to_string();
        assert!(err.contains("--script <FILE>"), "{err}");
        let err = parse(&["guest-run", "--script", "s"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--out <DIR>"), "{err}");
        let err = parse(&[
            "guest-run",
            "--script",
            "s",
            "--out",
            "o",
            "--timeout",
            "soon",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("'soon'"), "{err}");
    }

    #[test]
    fn sizes_in_bytes_and_binary_units_as_zfs_reads_them() {
        assert_eq!(parse_size("2000398934016").ok(), Some(2_000_398_934_016));
        assert_eq!(parse_size("64M").ok(), Some(64 << 20));
        assert_eq!(parse_size("1T").ok(), Some(1 << 40));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn nvme_spec_with_optional_block_size() {
        let spec = |serial: &str, size_bytes, logical_block_size| NvmeSpec {
            serial: serial.into(),
            size_bytes,
            logical_block_size,
        };
        assert_eq!(parse_nvme("S1:1G").ok(), Some(spec("S1", 1 << 30, 512)));
        assert_eq!(
            parse_nvme("S1:1G:4096").ok(),
            Some(spec("S1", 1 << 30, 4096))
        );
        assert!(parse_nvme("S1").is_err());
        assert!(parse_nvme("S1:1G:4096:x").is_err());
        assert_eq!(
            parse_disk("D1:64M").ok(),
            Some(DiskSpec {
                serial: "D1".into(),
                size_bytes: 64 << 20
            })
        );
        assert!(parse_disk("D1").is_err());
    }
}
