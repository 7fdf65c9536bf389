//! phoenix-zfs: turns blank NVMe drives into the Phoenix OpenZFS layout of a Proxmox VE host.
//!
//! The folders say what a module may touch:
//!
//! - [`model`] holds the data a host is described by: a drive and what it holds, the ZFS pools
//!   and datasets as they are. Types and their small pure helpers, importing only [`formats`].
//! - [`host`] reads the machine and never writes it: block devices and what is on them, the ZFS
//!   pools and datasets as they are, the services around them, and where the run is. It fills
//!   the model and judges nothing.
//! - [`assess`] is the read-only half of a run, above both: it has [`host`] read and the core
//!   judge what was read, and ends with the plan.
//! - [`apply`] is the only writer: it carries out a plan, with the journal it keeps before
//!   creating a pool and the atomic file replacement it writes configuration with.
//! - [`runner`] is the only place that spawns a process: every external command, with its argv,
//!   timeout and log line, whether run for real, replayed or recorded.
//! - [`formats`] parses and writes other tools' text and on-disk formats (zpool/zfs output,
//!   Proxmox's storage.cfg, smartd.conf, NFS options, the ARC limit, smartctl's wear report, ZFS
//!   sizes, the udev database, mountinfo, partition tables and file system signatures): pure, no
//!   I/O.
//! - The modules at the top level are the pure core, functions from data to data: the desired
//!   [`layout`], drives [`matching`] pools, what a drive [`contents`] say, [`firmware`] policy,
//!   whether an [`import_scan`] can find anything, model [`glob`]s, the [`plan`], and the
//!   [`exit`] codes its blockers, apply's ending and the command line share, and the [`remedy`]
//!   commands its messages tell an administrator to run. Beside
//!   them, two modules that serve the whole program: the [`manifest`] (the run's signed record,
//!   which reads and writes only its own files), the [`log`] on stderr and the [`report`] that
//!   turns an error and its causes into one line.

pub mod apply;
pub mod assess;
pub mod formats;
pub mod host;
pub mod runner;

pub mod contents;
pub mod exit;
pub mod firmware;
pub mod glob;
pub mod import_scan;
pub mod layout;
pub mod matching;
pub mod plan;
pub mod remedy;

pub mod log;
pub mod manifest;
pub mod model;
pub mod report;

/// What `--version` prints after the name: the package version, the commit it was built from
/// (`unknown` outside a git checkout) and the first 12 hex digits of the embedded default
/// layout's SHA-256, so that a binary found on a host says which layout it applies (build.rs).
pub const VERSION: &str = env!("PHOENIX_ZFS_VERSION");
