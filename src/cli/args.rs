//! The command line as clap reads it: global options and one variant per command. xtask reads
//! this file too, for the manual page and the shell completions (`cargo xtask man`).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "phoenix-zfs",
    version = phoenix_zfs::VERSION,
    about = "Turns blank NVMe drives into the Phoenix OpenZFS layout of a Proxmox VE host",
    after_help = phoenix_zfs::exit::HELP
)]
pub struct Cli {
    /// Read the host under DIR instead of / (a `debug snapshot-host` copy).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug). PHOENIX_ZFS_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// What detect, plan, apply and verify share: the layout, and the system provisioned (the
/// running one, or an installed root under a live system; firstboot and attach work on the
/// running system). One definition, so that the binary carries one copy of its parser.
#[derive(Args)]
pub struct HostArgs {
    /// The layout file [default: the embedded one].
    #[arg(long, value_name = "FILE")]
    pub layout: Option<PathBuf>,
    /// From a live system: provision the installed root mounted at DIR.
    #[arg(long, value_name = "DIR", conflicts_with = "root")]
    pub target_root: Option<PathBuf>,
    /// With --target-root: leave the pools imported at the end.
    #[arg(long, requires = "target_root")]
    pub keep_imported: bool,
}

/// What plan and apply may do beyond the safe default.
#[derive(Args)]
pub struct ConsentArgs {
    /// Allow wiping the drive with this serial (repeatable; SERIAL/NSID for one namespace).
    #[arg(long, value_name = "SERIAL")]
    pub wipe: Vec<String>,
    /// Import pools another system had imported last (zpool import -f).
    #[arg(long)]
    pub force_import: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// Inventory, probe results, matching and firmware verdicts; exit 3 when the drives do not fit.
    Detect {
        #[command(flatten)]
        host: HostArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// What apply would do, with warnings; changes nothing.
    Plan {
        #[command(flatten)]
        host: HostArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        consent: ConsentArgs,
        /// Keep the plan in FILE, with a fingerprint of the host it was made from, for
        /// `apply --plan FILE`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Converge the host to the layout, then write and sign the manifest.
    Apply {
        #[command(flatten)]
        host: HostArgs,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        consent: ConsentArgs,
        /// The signed manifest [default: /var/lib/phoenix-zfs/manifest.json].
        #[arg(long, value_name = "PATH")]
        manifest: Option<PathBuf>,
        /// The key that signs it [default: /etc/ssh/ssh_host_ed25519_key].
        #[arg(long, value_name = "PATH")]
        host_key: Option<PathBuf>,
        /// Run the plan `plan --out FILE` kept, without asking, only while the host reads as it
        /// did then (exit 7 and nothing changed otherwise); its layout and consent are the plan's.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["layout", "wipe", "force_import"])]
        plan: Option<PathBuf>,
    },
    /// Compare the live state with the layout; exit 7 when they differ.
    Verify {
        #[command(flatten)]
        host: HostArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show a manifest, or check manifests' signatures and the digests inside them.
    Manifest {
        #[command(subcommand)]
        command: ManifestCommand,
    },
    /// The unattended first boot (also as Proxmox's first-boot hook); with --root DIR, all it
    /// installs and writes goes under DIR.
    Firstboot {
        /// Print what it would install, run and write; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Bind the layout's shared datasets into container CTID (`pct set`), those it lacks.
    Attach {
        /// The container's ID (`pct list`).
        ctid: u32,
        /// The layout file [default: the embedded one].
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
pub enum ManifestCommand {
    /// What a manifest records: pools, datasets, storages, exports, drives, deferred steps, the
    /// outcome, and whether MANIFEST.sig holds.
    Show {
        /// A manifest, with MANIFEST.sig beside it.
        #[arg(value_name = "MANIFEST")]
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One line per MANIFEST: its signature, digests and signer.
    Verify {
        /// A manifest, with MANIFEST.sig beside it.
        #[arg(required = true, value_name = "MANIFEST")]
        files: Vec<PathBuf>,
        /// The signer must be this public key.
        #[arg(long, value_name = "PUB", conflicts_with = "allowed_signers")]
        key: Option<PathBuf>,
        /// OpenSSH allowed_signers: the signer must be listed for the manifest's host.
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,
        /// Without --key or --allowed-signers, accept the key inside each signature.
        #[arg(long, conflicts_with_all = ["key", "allowed_signers"])]
        trust_embedded_key: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum DebugCommand {
    /// Copy what phoenix-zfs reads of this host into DIR, for `--root DIR`.
    SnapshotHost {
        /// Where the copy goes.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum LayoutCommand {
    /// Print the embedded default layout.
    Show,
    /// Validate a layout file; exit 2 with each problem as FILE:LINE:COL.
    Check {
        /// The layout file.
        file: PathBuf,
    },
}
