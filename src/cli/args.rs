//! The command line as clap reads it: global options and one variant per command.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "phoenix-zfs",
    version,
    about = "Turns blank NVMe drives into the Phoenix OpenZFS layout of a Proxmox VE host"
)]
pub struct Cli {
    /// Read sys/, run/udev/, dev/ and proc/mounts under DIR instead of / (tests, fixture hosts, snapshots).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// From a live rescue system: provision the installed system whose root is mounted at DIR
    /// (its manifest, host key and configuration under DIR; pools imported with DIR as altroot
    /// and exported at the end; Proxmox storages and NFS exports deferred to its next boot).
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "root")]
    pub target_root: Option<PathBuf>,
    /// With --target-root: leave the pools imported under DIR at the end instead of exporting
    /// them for the installed system.
    #[arg(long, global = true, requires = "target_root")]
    pub keep_imported: bool,
    /// More log output on stderr (-v info, -vv debug). PHOENIX_ZFS_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
        /// Allow wiping the drive with this serial (repeatable; SERIAL/NSID for one namespace
        /// of a drive with several); shown as a planned action.
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
        /// Allow wiping the drive with this serial when it holds data (repeatable; SERIAL/NSID
        /// for one namespace of a drive with several).
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
    /// Show a manifest, or check manifests' signatures and the digests inside them.
    Manifest {
        #[command(subcommand)]
        command: ManifestCommand,
    },
    /// The unattended first boot: install to /usr/local/sbin, apply --yes, leave a notice on failure.
    /// Also what runs when this binary is started as Proxmox's `proxmox-first-boot ORDERING` hook.
    /// With --root DIR, everything it installs and writes goes under DIR.
    Firstboot {
        /// Print what it would install, run and write; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
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
pub enum ManifestCommand {
    /// Show what a manifest records: pools, datasets, Proxmox storages, NFS exports, drives,
    /// what was deferred, the outcome, and whether MANIFEST.sig holds (by the key inside it).
    Show {
        #[arg(value_name = "MANIFEST")]
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
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
pub enum DebugCommand {
    /// Copy what phoenix-zfs reads (sysfs, udev database, by-id links, mounts, the first and
    /// last MiB of each NVMe drive) into DIR, so that `--root DIR` sees this host.
    SnapshotHost { dir: PathBuf },
}

#[derive(Subcommand)]
pub enum LayoutCommand {
    /// Print the embedded default layout as TOML (a valid layout file).
    Show,
    /// Validate a layout file; exit 2 with the file, line and key when it is invalid.
    Check { file: PathBuf },
}
