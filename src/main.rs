//! phoenix-zfs command line: parses arguments, runs the library, turns results into output and
//! the exit codes of DESIGN.md.

mod attach;
mod commands;
mod progress;
mod render;

use clap::{Parser, Subcommand};
use phoenix_zfs::host::assess::{assess, Assessment, ZfsSource};
use phoenix_zfs::host::inventory::HostRoot;
use phoenix_zfs::host::target::Situation;
use phoenix_zfs::host::target::Target;
use phoenix_zfs::layout::{layout_warnings, Layout, LayoutError, DEFAULT_LAYOUT_TOML};
use phoenix_zfs::manifest;
use phoenix_zfs::plan::Consent;
use phoenix_zfs::runner::{RecordingRunner, ReplayRunner, Runner, SystemRunner, Transcript};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit codes. 3, 4 and 5 are refusals: before any action, nothing was changed.
mod exit {
    pub const UNEXPECTED: u8 = 1;
    pub const USAGE: u8 = 2;
    /// `verify`: the host differs from the layout.
    pub const DRIFT: u8 = 7;
}

#[derive(Parser)]
#[command(
    name = "phoenix-zfs",
    version,
    about = "Turns blank NVMe drives into the Phoenix OpenZFS layout of a Proxmox VE host"
)]
struct Cli {
    /// Read sys/, run/udev/, dev/ and proc/mounts under DIR instead of / (tests, fixture hosts, snapshots).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// From a live rescue system: provision the installed system whose root is mounted at DIR
    /// (its manifest, host key and configuration under DIR; pools imported with DIR as altroot
    /// and exported at the end; Proxmox storages and NFS exports deferred to its next boot).
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "root")]
    target_root: Option<PathBuf>,
    /// With --target-root: leave the pools imported under DIR at the end instead of exporting
    /// them for the installed system.
    #[arg(long, global = true, requires = "target_root")]
    keep_imported: bool,
    /// More log output on stderr (-v info, -vv debug). PHOENIX_ZFS_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inventory, probe results, matching and firmware verdicts; exit 3 when the drives do not fit.
    Detect {
        #[arg(long, value_name = "FILE")]
        layout: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// What apply would do, with warnings; changes nothing.
    Plan {
        #[arg(long, value_name = "FILE")]
        layout: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Allow wiping the drive with this serial (repeatable); shown as a planned action.
        #[arg(long, value_name = "SERIAL")]
        wipe: Vec<String>,
        /// Plan `zpool import -f` for pools another system had imported last.
        #[arg(long)]
        force_import: bool,
    },
    /// Converge the host to the layout, then write and sign the manifest.
    Apply {
        #[arg(long, value_name = "FILE")]
        layout: Option<PathBuf>,
        /// Do not ask: the first-boot unit passes this.
        #[arg(long)]
        yes: bool,
        /// Allow wiping the drive with this serial when it holds data (repeatable).
        #[arg(long, value_name = "SERIAL")]
        wipe: Vec<String>,
        /// Import pools that another system had imported last (zpool import -f); only for
        /// this host's own pools seen from a live system or after a reinstall.
        #[arg(long)]
        force_import: bool,
        /// Where the signed manifest goes [default: /var/lib/phoenix-zfs/manifest.json, under
        /// --target-root DIR when given].
        #[arg(long, value_name = "PATH")]
        manifest: Option<PathBuf>,
        /// The OpenSSH Ed25519 private key that signs the manifest [default:
        /// /etc/ssh/ssh_host_ed25519_key, under --target-root DIR when given].
        #[arg(long, value_name = "PATH")]
        host_key: Option<PathBuf>,
    },
    /// Compare the live state with the layout; exit 7 when they differ.
    Verify {
        #[arg(long, value_name = "FILE")]
        layout: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Check a manifest's signature and the digests inside it.
    Manifest {
        #[command(subcommand)]
        command: ManifestCommand,
    },
    /// The unattended first boot: install to /usr/local/sbin, apply --yes, leave a notice on failure.
    /// Also what runs when this binary is started as Proxmox's `proxmox-first-boot ORDERING` hook.
    Firstboot,
    /// Bind the layout's shared datasets into Proxmox container CTID (`pct set CTID -mpN`);
    /// datasets it already has are left alone.
    Attach {
        ctid: u32,
        #[arg(long, value_name = "FILE")]
        layout: Option<PathBuf>,
        /// Print the `pct set` commands instead of running them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Tools for bug reports and test fixtures.
    Debug {
        #[command(subcommand)]
        command: DebugCommand,
    },
    /// The layout: print the default, or validate a file.
    Layout {
        #[command(subcommand)]
        command: LayoutCommand,
    },
}

#[derive(Subcommand)]
enum ManifestCommand {
    /// Verify each MANIFEST against MANIFEST.sig and a trust anchor; one line per host. Exit 1
    /// when any is unsigned, changed, or signed by a key the anchor does not name for its host;
    /// else 8 when any host's run was refused or failed.
    Verify {
        #[arg(required = true, value_name = "MANIFEST")]
        files: Vec<PathBuf>,
        /// The signer must be this public key.
        #[arg(long, value_name = "PUB", conflicts_with = "allowed_signers")]
        key: Option<PathBuf>,
        /// OpenSSH's allowed_signers file (as for `ssh-keygen -Y verify -f`): the signer must be
        /// listed for the host name the manifest records.
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,
        /// Without --key or --allowed-signers, accept the key inside each signature.
        #[arg(long, conflicts_with_all = ["key", "allowed_signers"])]
        trust_embedded_key: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DebugCommand {
    /// Copy what phoenix-zfs reads (sysfs, udev database, by-id links, mounts, the first and
    /// last MiB of each NVMe drive) into DIR, so that `--root DIR` sees this host.
    SnapshotHost { dir: PathBuf },
}

#[derive(Subcommand)]
enum LayoutCommand {
    /// Print the embedded default layout as TOML (a valid layout file).
    Show,
    /// Validate a layout file; exit 2 with the file, line and key when it is invalid.
    Check { file: PathBuf },
}

/// The ordering Proxmox's installer started this binary with as its first-boot hook
/// (`/var/lib/proxmox-first-boot/proxmox-first-boot ORDERING`), `Some(None)` when started under
/// the hook's name without one, `None` when this is not the hook.
fn started_as_proxmox_hook() -> Option<Option<String>> {
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_default();
    let first = args.next();
    let named_as_hook = Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n == "proxmox-first-boot");
    match first {
        Some(arg) if phoenix_zfs::formats::proxmox::hook::is_ordering(&arg) => Some(Some(arg)),
        None if named_as_hook => Some(None),
        _ => None,
    }
}

fn main() -> ExitCode {
    // Output piped into `head` ends quietly, as in every Unix tool, instead of a write error.
    // SAFETY: called first thing, before any thread exists.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    };
    if let Some(ordering) = started_as_proxmox_hook() {
        init_logging(1);
        return ExitCode::from(commands::firstboot(&HostRoot::live(), ordering.as_deref()));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    init_logging(cli.verbose);
    ExitCode::from(run(cli))
}

/// A plain level, from -v or PHOENIX_ZFS_LOG (error, warn, info, debug, trace). Per-module
/// filters would need tracing-subscriber's env-filter and its regex engine: 124 KB of a binary
/// that must fit Proxmox's 1 MiB hook, for a feature nobody needs in a one-module tool.
fn init_logging(verbose: u8) {
    use tracing::level_filters::LevelFilter;
    let from_flags = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    };
    let level = std::env::var("PHOENIX_ZFS_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(from_flags);
    phoenix_zfs::log::StderrLog::new(level).install();
}

pub(crate) fn error(message: impl std::fmt::Display) {
    eprintln!("phoenix-zfs: error: {message}");
}

pub(crate) fn load_layout(file: Option<&Path>) -> Result<Layout, LayoutError> {
    match file {
        Some(path) => Layout::load(path),
        None => Ok(Layout::default_layout()),
    }
}

fn run(cli: Cli) -> u8 {
    let root = cli
        .root
        .clone()
        .map(HostRoot)
        .unwrap_or_else(HostRoot::live);
    let target = match &cli.target_root {
        None => Target::RunningSystem,
        Some(dir) => match Target::mounted_root(dir, cli.keep_imported) {
            Ok(t) => t,
            Err(e) => {
                error(e);
                return exit::USAGE;
            }
        },
    };
    if !target.is_running() && matches!(cli.command, Command::Firstboot | Command::Attach { .. }) {
        error("--target-root is for detect, plan, apply and verify: `firstboot` and `attach` work on the running system");
        return exit::USAGE;
    }
    match cli.command {
        Command::Firstboot => commands::firstboot(&root, None),
        Command::Attach {
            ctid,
            layout,
            dry_run,
        } => attach::attach(&root, ctid, layout.as_deref(), dry_run),
        Command::Debug {
            command: DebugCommand::SnapshotHost { dir },
        } => match phoenix_zfs::host::inventory::snapshot::snapshot(&root, &dir) {
            Ok(n) => {
                println!("{}: {n} block device(s) recorded", dir.display());
                0
            }
            Err(e) => {
                error(format!(
                    "cannot snapshot the host into {}: {e}",
                    dir.display()
                ));
                exit::UNEXPECTED
            }
        },
        Command::Layout {
            command: LayoutCommand::Show,
        } => {
            print!("{DEFAULT_LAYOUT_TOML}");
            0
        }
        Command::Layout {
            command: LayoutCommand::Check { file },
        } => match Layout::load(&file) {
            Ok(layout) => {
                println!(
                    "{}: valid: {} pool(s), {} dataset(s)",
                    file.display(),
                    layout.pools.len(),
                    layout.datasets.len()
                );
                for w in layout_warnings(&layout) {
                    println!("warning[{}]: {}", w.code, w.message);
                }
                0
            }
            Err(e) => {
                error(e);
                exit::USAGE
            }
        },
        Command::Detect { layout, json } => with_assessment(
            &root,
            &target,
            layout.as_deref(),
            &Consent::default(),
            Need::AllHealth,
            |a, _| {
                let baselines =
                    manifest::previous_baselines(&target.files(&root).path(manifest::DEFAULT_PATH));
                if json {
                    render::json(&render::detect_json(a, &baselines));
                } else {
                    render::detect(a, &baselines);
                }
                a.plan.exit_code().unwrap_or(0)
            },
        ),
        Command::Apply {
            layout,
            yes,
            wipe,
            force_import,
            manifest,
            host_key,
        } => commands::apply(
            &root,
            &target,
            layout.as_deref(),
            yes,
            &Consent { wipe, force_import },
            &manifest.unwrap_or_else(|| target.path(Path::new(manifest::DEFAULT_PATH))),
            &host_key.unwrap_or_else(|| target.path(Path::new(manifest::DEFAULT_HOST_KEY))),
        ),
        Command::Verify { layout, json } => with_assessment(
            &root,
            &target,
            layout.as_deref(),
            &Consent::default(),
            Need::Plan,
            |a, s| {
                if json {
                    render::json(&render::plan_json(a, s));
                } else {
                    render::verify(a);
                }
                match a.plan.exit_code() {
                    Some(code) => code,
                    None if a.plan.actions.is_empty() => 0,
                    None => exit::DRIFT,
                }
            },
        ),
        Command::Manifest {
            command:
                ManifestCommand::Verify {
                    files,
                    key,
                    allowed_signers,
                    trust_embedded_key,
                    json,
                },
        } => commands::verify_manifests(
            &files,
            &commands::TrustAnchor {
                key: key.as_deref(),
                allowed_signers: allowed_signers.as_deref(),
                trust_embedded_key,
            },
            json,
        ),
        Command::Plan {
            layout,
            json,
            wipe,
            force_import,
        } => {
            let consent = Consent { wipe, force_import };
            with_assessment(
                &root,
                &target,
                layout.as_deref(),
                &consent,
                Need::Plan,
                |a, s| {
                    if json {
                        render::json(&render::plan_json(a, s));
                    } else {
                        println!("situation: {s}");
                        render::plan(a);
                    }
                    a.plan.exit_code().unwrap_or(0)
                },
            )
        }
    }
}

/// Where ZFS state comes from for a root: the live tools on `/`, the transcripts in
/// DIR/zfs-commands/ of a host read with `--root`, or nothing.
pub(crate) enum ZfsTools {
    Runner(Box<dyn Runner>),
    Absent,
}

pub(crate) fn zfs_tools(root: &HostRoot) -> Result<ZfsTools, u8> {
    if root.0 == Path::new("/") {
        if let Some(dir) = std::env::var_os("PHOENIX_ZFS_RECORD") {
            return match RecordingRunner::new(SystemRunner, dir.into()) {
                Ok(r) => Ok(ZfsTools::Runner(Box::new(r))),
                Err(e) => {
                    error(format!("PHOENIX_ZFS_RECORD: {e}"));
                    Err(exit::UNEXPECTED)
                }
            };
        }
        return Ok(ZfsTools::Runner(Box::new(SystemRunner)));
    }
    let transcripts = root.path("zfs-commands");
    if !transcripts.is_dir() {
        return Ok(ZfsTools::Absent);
    }
    match Transcript::load_dir(&transcripts) {
        Ok(t) => Ok(ZfsTools::Runner(Box::new(ReplayRunner::new(t)))),
        Err(e) => {
            error(format!("{}: {e}", transcripts.display()));
            Err(exit::UNEXPECTED)
        }
    }
}

/// Loads the layout, assesses the host, and hands the result to `show`.
/// Where this run happens: asked of systemd on the live host, a host read with `--root` otherwise.
pub(crate) fn situation_of(root: &HostRoot, target: &Target, tools: &ZfsTools) -> Situation {
    if let Target::MountedRoot { dir, .. } = target {
        return Situation::LiveSystem {
            target_root: dir.display().to_string(),
            exports_pools: target.exports_pools(),
        };
    }
    match tools {
        ZfsTools::Runner(runner) if root.0 == Path::new("/") => {
            phoenix_zfs::host::target::detect_situation(runner.as_ref())
        }
        _ => Situation::RecordedHost {
            root: root.0.display().to_string(),
        },
    }
}

/// What a command needs beyond what plan and apply read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Plan,
    /// `detect`: the health of every pool drive, not only of those about to be written.
    AllHealth,
}

/// Adds the health of the pool drives the assessment did not read (those already in place).
fn read_pool_health(root: &HostRoot, runner: &dyn Runner, a: &mut Assessment) {
    let in_place: Vec<String> = a
        .matching
        .assignments
        .iter()
        .flat_map(|p| &p.drives)
        .filter(|d| !a.services.health.iter().any(|h| h.drive == d.name))
        .map(|d| d.name.clone())
        .collect();
    for name in in_place {
        if let Some(disk) = a.inventory.disks.iter().find(|d| d.name == name) {
            let reading = phoenix_zfs::host::services::observe_health(root, runner, disk);
            a.services.health.push(reading);
        }
    }
}

fn with_assessment(
    root: &HostRoot,
    target: &Target,
    layout: Option<&Path>,
    consent: &Consent,
    need: Need,
    show: impl FnOnce(&Assessment, &Situation) -> u8,
) -> u8 {
    let layout = match load_layout(layout) {
        Ok(l) => l,
        Err(e) => {
            error(e);
            return exit::USAGE;
        }
    };
    let tools = match zfs_tools(root) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let zfs = match &tools {
        ZfsTools::Runner(r) => ZfsSource::Tools(r.as_ref()),
        ZfsTools::Absent => ZfsSource::Absent,
    };
    let situation = situation_of(root, target, &tools);
    // plan, detect and verify show the decision apply would make about an interrupted create.
    let pending = phoenix_zfs::apply::journal::Journal::of(&target.files(root)).load_or_none();
    match assess(root, target, &layout, zfs, consent, &pending, None) {
        Ok(mut a) => {
            if let (Need::AllHealth, ZfsTools::Runner(runner)) = (need, &tools) {
                read_pool_health(root, runner.as_ref(), &mut a);
            }
            show(&a, &situation)
        }
        Err(e) => {
            error(e);
            exit::UNEXPECTED
        }
    }
}
