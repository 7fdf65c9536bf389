//! pvesm-standin: a stand-in for Proxmox VE's `pvesm` on test machines where Proxmox VE cannot
//! be installed. It implements `pvesm add zfspool|dir`, `pvesm set` and `pvesm status` over
//! storage.cfg in Proxmox's own format, through phoenix-zfs' storage_cfg module, and refuses
//! everything else. See README.md for where it differs from the real program.

mod cli;
mod failure;
mod options;
mod status;
mod storage;

use cli::Request;
use failure::Failure;
use phoenix_zfs::formats::mountinfo;
use phoenix_zfs::formats::proxmox::storage_cfg::{Section, StorageConfig};
use phoenix_zfs::report::Report;
use status::StatusRow;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const DEFAULT_CONFIG: &str = "/etc/pve/storage.cfg";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = std::env::var_os("PVESM_STANDIN_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let mut warnings = Vec::new();
    let result = run(&args, &config, &mut warnings);
    for w in &warnings {
        eprintln!("{w}");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", Report(&failure));
            if failure.shows_usage() {
                eprintln!("{}", cli::usage_line(&args));
            }
            // What a Perl `die` leaves as exit status.
            ExitCode::from(255)
        }
    }
}

fn run(args: &[String], path: &Path, warnings: &mut Vec<String>) -> Result<(), Failure> {
    match cli::parse(args)? {
        Request::Help => {
            print!("{}", cli::HELP);
            Ok(())
        }
        Request::Status => {
            let config = load(path)?;
            let rows: Vec<StatusRow> = config
                .sections
                .iter()
                .map(|s| section_status(s, warnings))
                .collect();
            print!("{}", status::format(&rows));
            Ok(())
        }
        Request::Add { kind, id, options } => {
            let mut config = load(path)?;
            storage::add(&mut config, &kind, &id, &options, &RealHost, warnings)?;
            save(path, &config)
        }
        Request::Set { id, options } => {
            let mut config = load(path)?;
            storage::set(&mut config, &id, &options, warnings)?;
            save(path, &config)
        }
    }
}

/// The configuration as pvesm sees it: a missing file is an empty one, and Plugin.pm's
/// read-time defaults are applied (so they are in the next file written).
fn load(path: &Path) -> Result<StorageConfig, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Failure::StandIn(format!(
                "cannot read {}: {}",
                path.display(),
                Report(&e)
            )))
        }
    };
    let mut config = StorageConfig::parse(&text).map_err(|e| {
        Failure::StandIn(format!(
            "{}: {}\n(Proxmox would skip what it cannot read and drop it on the next write; this stand-in refuses to.)",
            path.display(),
            Report(&e)
        ))
    })?;
    storage::read_defaults(&mut config);
    Ok(config)
}

/// Writes the whole file, as pmxcfs does, replacing it in one rename.
fn save(path: &Path, config: &StorageConfig) -> Result<(), Failure> {
    let fail = |e: std::io::Error| {
        Failure::StandIn(format!("cannot write {}: {}", path.display(), Report(&e)))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp.{}", std::process::id()));
    std::fs::write(&temporary, config.to_text()).map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(fail)
}

struct RealHost;

impl storage::Host for RealHost {
    fn zfs_mountpoint(&self, dataset: &str) -> Option<String> {
        zfs_get(&["mountpoint"], dataset)?.into_iter().next()
    }

    fn is_mounted(&self, path: &str) -> bool {
        let Ok(real) = std::fs::canonicalize(path) else {
            return false;
        };
        let table = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        mountinfo::parse(&table)
            .iter()
            .any(|m| Path::new(&m.mountpoint) == real)
    }
}

/// `zfs get -o value -Hp PROPS DATASET`, one value per line; None when zfs fails or is absent.
fn zfs_get(properties: &[&str], dataset: &str) -> Option<Vec<String>> {
    let output = Command::new("zfs")
        .args(["get", "-o", "value", "-Hp", &properties.join(","), dataset])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

fn section_status(section: &Section, warnings: &mut Vec<String>) -> StatusRow {
    let mut row = StatusRow::inactive(section);
    if !row.enabled {
        return row;
    }
    match section.kind.as_str() {
        "zfspool" => {
            let pool = section.get("pool").unwrap_or_default();
            let numbers: Option<Vec<u64>> = zfs_get(&["available", "used"], pool)
                .and_then(|lines| lines.iter().map(|l| l.trim().parse().ok()).collect());
            match numbers.as_deref() {
                Some(&[avail, used]) => {
                    row.active = true;
                    row.avail = avail;
                    row.used = used;
                    row.total = avail.saturating_add(used);
                }
                _ => warnings.push(format!("zfs error: cannot get usage of '{pool}'")),
            }
        }
        "dir" => {
            let path = section.get("path").unwrap_or_default();
            let must_be_mounted = match section.get("is_mountpoint").map(options::parse_boolean) {
                Some(Some(true)) => Some(path.to_string()),
                Some(None) => section.get("is_mountpoint").map(str::to_string),
                _ => None,
            };
            if must_be_mounted.is_some_and(|mp| !storage::Host::is_mounted(&RealHost, &mp)) {
                return row;
            }
            if let Ok(fs) = nix::sys::statvfs::statvfs(path) {
                let unit = fs.fragment_size();
                row.active = true;
                row.total = fs.blocks().saturating_mul(unit);
                row.avail = fs.blocks_available().saturating_mul(unit);
                row.used = row
                    .total
                    .saturating_sub(fs.blocks_free().saturating_mul(unit));
            }
        }
        other => warnings.push(format!(
            "pvesm-standin: cannot query '{other}' storage '{}'; shown as inactive",
            section.id
        )),
    }
    row
}
