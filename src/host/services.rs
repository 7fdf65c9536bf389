//! The host services phoenix-zfs sets up around the pools, as they are now: Proxmox's storage
//! configuration, the NFS server and the network its exports are for, smartd's configuration,
//! and the health each pool drive's controller reports. Read once per assessment, through the
//! runner for commands and under the host root for files, and handed to the pure planner.
//!
//! Nothing here fails the run: a service that cannot be read is `Unavailable` with the reason,
//! and the planner defers what depends on it.

use crate::formats::nfs::{self, Network};
use crate::formats::proxmox::storage_cfg::StorageConfig;
use crate::formats::wear;
use crate::host::root::HostRoot;
use crate::host::target::Target;
use crate::host::ObserveError;
use crate::layout::Layout;
use crate::model::disk::Disk;
use crate::model::services::{ArcState, Availability, DriveHealth, HostServices, NfsServer};
use crate::report::Report;
use crate::runner::Runner;
use std::time::Duration;

pub const STORAGE_CFG: &str = "/etc/pve/storage.cfg";
const PMXCFS_MOUNTPOINT: &str = "/etc/pve";
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Where programs live on a Debian host, searched in this order (root's PATH under systemd).
const PROGRAM_DIRS: &[&str] = &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"];

/// The installed program `name` under `root`, as its path on the host.
pub fn find_program(root: &HostRoot, name: &str) -> Option<String> {
    PROGRAM_DIRS
        .iter()
        .map(|dir| format!("{dir}/{name}"))
        .find(|p| root.path(p).exists())
}

/// What the first round reads before the drives are matched, so that it waits beside the
/// inventory's probes instead of after them: the management network (`ip`), and the health of
/// the drives that look about to be written. Whatever the final match needs beyond it is read
/// by [`observe`] itself.
#[derive(Debug, Default)]
pub struct ReadAhead {
    /// The network the exports are for, when it had to be asked of `ip`.
    pub network: Option<Result<Network, NetworkError>>,
    pub health: Vec<DriveHealth>,
}

/// The management network, read ahead when [`observe`] would ask `ip` for it: a running system
/// whose layout exports to the `auto` network, and no earlier round that knows it.
pub fn read_network_ahead(
    root: &HostRoot,
    target: &Target,
    runner: &dyn Runner,
    layout: &Layout,
    earlier: Option<&HostServices>,
) -> Option<Result<Network, NetworkError>> {
    let wants_exports = layout.datasets.iter().any(|d| d.nfs.is_some());
    let known = earlier.is_some_and(|e| e.nfs.network.ready().is_some());
    if !matches!(target, Target::RunningSystem)
        || !wants_exports
        || layout.nfs.network != "auto"
        || known
    {
        return None;
    }
    let text = std::fs::read_to_string(root.path(nfs::ROUTE_TABLE)).ok()?;
    let interface = nfs::default_route_interface(&text).ok()?;
    Some(interface_network(runner, &interface))
}

/// Reads the services. The target's files (storage.cfg, smartd.conf, modprobe.d, its installed
/// programs) are read under `target`'s tree; the kernel's view (mounts, routes, the module's
/// parameters) and the drives' health come from the host phoenix-zfs runs on.
/// `drives_to_write` are the disks a pool is about to be made on (their health decides whether
/// that may happen). `earlier` is what an earlier round of the same run
/// read: the management network is taken from it rather than asked of `ip` again.
pub fn observe(
    root: &HostRoot,
    target: &Target,
    runner: &dyn Runner,
    layout: &Layout,
    drives_to_write: &[&Disk],
    earlier: Option<&HostServices>,
    read_ahead: ReadAhead,
) -> HostServices {
    // Read once: whether pmxcfs is mounted and whether the root is ZFS both come from it.
    let mounts = std::fs::read_to_string(root.path("/proc/mounts"))
        .map(|text| crate::formats::mountinfo::parse(&text))
        .unwrap_or_default();
    let files = target.files(root);
    let ReadAhead {
        network: network_read_ahead,
        health: health_read_ahead,
    } = read_ahead;
    let known_network = earlier
        .and_then(|e| e.nfs.network.ready().copied())
        .map(Ok)
        .or(network_read_ahead);
    let unread: Vec<&Disk> = drives_to_write
        .iter()
        .filter(|d| !health_read_ahead.iter().any(|h| h.drive == d.name))
        .copied()
        .collect();
    // The network (`ip`) is asked while the drives' health is read.
    let (nfs, mut health_read_now) = std::thread::scope(|scope| {
        let health = scope.spawn(|| observe_healths(root, runner, &unread));
        let nfs = match target {
            Target::RunningSystem => observe_nfs(root, runner, layout, known_network),
            Target::MountedRoot { .. } => waiting_for_nfs(&files),
        };
        let health = health
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (nfs, health)
    });
    // In the order of `drives_to_write`, whenever each was read.
    let mut health_read_ahead = health_read_ahead;
    let health = drives_to_write
        .iter()
        .filter_map(|d| {
            let taken = |readings: &mut Vec<DriveHealth>| {
                let at = readings.iter().position(|h| h.drive == d.name)?;
                Some(readings.remove(at))
            };
            taken(&mut health_read_ahead).or_else(|| taken(&mut health_read_now))
        })
        .collect();
    let proxmox = match target {
        Target::RunningSystem => observe_proxmox(root, layout, &mounts),
        Target::MountedRoot { .. } => Availability::Unavailable {
            why: "a live system: the installed system's pmxcfs (/etc/pve) runs only when it is booted"
                .into(),
        },
    };
    let root_mountpoint = target.altroot().unwrap_or_else(|| "/".into());
    HostServices {
        proxmox,
        nfs,
        smartd: match find_program(&files, "smartd") {
            None => Availability::Unavailable {
                why: "smartmontools is not installed (no smartd)".into(),
            },
            Some(_) => read_text(&files, crate::formats::smartd::SMARTD_CONF, true),
        },
        health,
        arc: layout.zfs.arc_max.as_ref().map(|_| ArcState {
            runtime: read_module_parameter(root, crate::formats::arc::RUNTIME_PARAMETER),
            modprobe_conf: read_text(&files, crate::formats::arc::MODPROBE_CONF, true),
            // The hardware's, so the host's even from a live system: the installed system
            // boots on the same RAM.
            ram: match read_text(root, crate::formats::arc::MEMINFO, false) {
                Availability::Ready { value } => match crate::formats::arc::parse_meminfo(&value) {
                    Ok(value) => Availability::Ready { value },
                    Err(why) => Availability::Unavailable { why },
                },
                Availability::Unavailable { why } => Availability::Unavailable { why },
            },
            arc_min: read_module_parameter(root, crate::formats::arc::MIN_PARAMETER),
            root_on_zfs: mounts
                .iter()
                .any(|m| m.mountpoint == root_mountpoint && m.fstype == "zfs"),
        }),
        observed: true,
    }
}

/// A number of bytes from /sys/module/zfs/parameters (0: ZFS's own default).
fn read_module_parameter(root: &HostRoot, path: &str) -> Availability<u64> {
    match read_text(root, path, false) {
        Availability::Ready { value } => match crate::formats::arc::parse_runtime(path, &value) {
            Ok(value) => Availability::Ready { value },
            Err(why) => Availability::Unavailable { why },
        },
        Availability::Unavailable { why } => Availability::Unavailable {
            why: format!("{why} (is the zfs module loaded?)"),
        },
    }
}

/// From a live system: the installed system's exports are for its own network, known at its
/// next boot (as is its storage.cfg, which lives in pmxcfs's database and shows in /etc/pve only
/// while pmxcfs runs on it).
fn waiting_for_nfs(files: &HostRoot) -> NfsServer {
    NfsServer {
        installed: find_program(files, "exportfs").is_some(),
        network: Availability::Unavailable {
            why: "a live system: the exports are for the installed system's network".into(),
        },
        online: false,
    }
}

fn read_text(root: &HostRoot, path: &str, missing_is_empty: bool) -> Availability<String> {
    match std::fs::read_to_string(root.path(path)) {
        Ok(text) => Availability::Ready { value: text },
        Err(e) if missing_is_empty && e.kind() == std::io::ErrorKind::NotFound => {
            Availability::Ready {
                value: String::new(),
            }
        }
        Err(e) => Availability::Unavailable {
            why: format!("cannot read {path}: {}", Report(&e)),
        },
    }
}

fn observe_proxmox(
    root: &HostRoot,
    layout: &Layout,
    mounts: &[crate::formats::mountinfo::Mount],
) -> Availability<StorageConfig> {
    if layout.datasets.iter().all(|d| d.proxmox.is_none()) {
        return Availability::Unavailable {
            why: "the layout registers no Proxmox storage".into(),
        };
    }
    if find_program(root, "pvesm").is_none() {
        return Availability::Unavailable {
            why: "pvesm is not installed: this is not a Proxmox VE host".into(),
        };
    }
    // pmxcfs mounts /etc/pve; without it (rescue target, cluster file system down) the directory
    // is empty and pvesm cannot work. The installer always writes storage.cfg.
    if !mounts.iter().any(|m| m.mountpoint == PMXCFS_MOUNTPOINT) {
        return Availability::Unavailable {
            why: format!(
                "{PMXCFS_MOUNTPOINT} is not mounted: the Proxmox cluster file system (pve-cluster.service) is not running"
            ),
        };
    }
    match std::fs::read_to_string(root.path(STORAGE_CFG)) {
        Ok(text) => match StorageConfig::parse(&text) {
            Ok(config) => Availability::Ready { value: config },
            Err(e) => Availability::Unavailable {
                why: format!("{STORAGE_CFG}: {}", Report(&e)),
            },
        },
        Err(e) => Availability::Unavailable {
            why: format!(
                "cannot read {STORAGE_CFG} ({}): the Proxmox cluster file system (pve-cluster.service) is not running",
                Report(&e)
            ),
        },
    }
}

fn observe_nfs(
    root: &HostRoot,
    runner: &dyn Runner,
    layout: &Layout,
    known: Option<Result<Network, NetworkError>>,
) -> NfsServer {
    let installed = find_program(root, "exportfs").is_some();
    let route = std::fs::read_to_string(root.path(nfs::ROUTE_TABLE))
        .map_err(|source| NetworkError::Routes { source })
        .and_then(|text| Ok(nfs::default_route_interface(&text)?));
    let online = route.is_ok();
    let wants_exports = layout.datasets.iter().any(|d| d.nfs.is_some());
    let detected = if wants_exports && layout.nfs.network == "auto" {
        route
            .and_then(|interface| match known {
                Some(network) => network,
                None => interface_network(runner, &interface),
            })
            .map_err(|e| Report(&e).to_string())
    } else {
        Err("not needed".to_string())
    };
    let network = match nfs::export_network(&layout.nfs, detected) {
        Ok(value) => Availability::Ready { value },
        Err(e) => Availability::Unavailable {
            why: Report(&e).to_string(),
        },
    };
    NfsServer {
        installed,
        network,
        online,
    }
}

/// Why the management network is not known.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("cannot read {}", nfs::ROUTE_TABLE)]
    Routes {
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Route(#[from] nfs::RouteError),
    #[error(transparent)]
    Ip(#[from] ObserveError),
    #[error(transparent)]
    Address(#[from] nfs::AddressError),
}

/// The IPv4 network of `interface`. `ip` prints why whenever it fails, so its stderr decides.
fn interface_network(runner: &dyn Runner, interface: &str) -> Result<Network, NetworkError> {
    let out = crate::host::read(runner, &nfs::ip_addr_argv(interface), READ_TIMEOUT, &[])?;
    Ok(nfs::interface_network(&out.stdout, interface)?)
}

/// The drives' health, read at once: each smartctl waits on its own controller, and one after
/// another their times add up (BENCHMARKS.md, "Apply's own part"). In the order of `drives`.
pub fn observe_healths(root: &HostRoot, runner: &dyn Runner, drives: &[&Disk]) -> Vec<DriveHealth> {
    std::thread::scope(|scope| {
        let readings: Vec<_> = drives
            .iter()
            .map(|d| scope.spawn(move || observe_health(root, runner, d)))
            .collect();
        readings
            .into_iter()
            .map(|r| r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// One drive's health as its controller reports it now (`smartctl -j -a`).
pub fn observe_health(root: &HostRoot, runner: &dyn Runner, disk: &Disk) -> DriveHealth {
    let reading = match (&disk.nvme_controller, find_program(root, "smartctl")) {
        (_, None) => Availability::Unavailable {
            why: "smartmontools is not installed (no smartctl)".into(),
        },
        (None, _) => Availability::Unavailable {
            why: "not an NVMe drive".into(),
        },
        (Some(controller), Some(_)) => {
            let argv = wear::smartctl_argv(&format!("/dev/{controller}"));
            // smartctl's exit status is a bit field that is non-zero for a drive with any logged
            // error; the JSON says whether the health log was read.
            match runner.run(&argv, READ_TIMEOUT) {
                Ok(out) => match wear::parse_smartctl(&out.stdout) {
                    Ok(value) => Availability::Ready { value },
                    Err(e) => Availability::Unavailable {
                        why: Report(&e).to_string(),
                    },
                },
                Err(e) => Availability::Unavailable {
                    why: Report(&e).to_string(),
                },
            }
        }
    };
    DriveHealth {
        drive: disk.name.clone(),
        serial: disk.serial.clone(),
        by_id: disk.preferred_path.clone(),
        reading,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{Output, RunError};
    use std::sync::Mutex;

    /// Answers every command with nothing and records what was run.
    #[derive(Default)]
    struct Quiet(Mutex<Vec<String>>);

    impl Runner for Quiet {
        fn run(&self, argv: &[String], _: Duration) -> Result<Output, RunError> {
            self.0.lock().unwrap().push(argv.join(" "));
            Ok(Output {
                code: Some(0),
                stdout: String::new(),
                stderr: String::new(),
                duration: Duration::ZERO,
            })
        }
    }

    fn drive(name: &str, serial: &str, controller: &str) -> Disk {
        let mut disk = Disk::test_nvme(
            name,
            "Samsung SSD 990 EVO Plus 2TB",
            serial,
            2_000_398_934_016,
        );
        disk.nvme_controller = Some(controller.into());
        disk
    }

    #[test]
    fn health_read_ahead_is_used_and_only_the_other_drives_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/sbin")).unwrap();
        std::fs::write(dir.path().join("usr/sbin/smartctl"), "").unwrap();
        let root = HostRoot(dir.path().to_path_buf());
        let (first, second) = (
            drive("nvme0n1", "S1", "nvme0"),
            drive("nvme1n1", "S2", "nvme1"),
        );
        let read_ahead = ReadAhead {
            network: None,
            health: vec![DriveHealth {
                drive: "nvme0n1".into(),
                serial: Some("S1".into()),
                by_id: first.preferred_path.clone(),
                reading: Availability::Unavailable {
                    why: "read ahead".into(),
                },
            }],
        };
        let runner = Quiet::default();
        let services = observe(
            &root,
            &Target::RunningSystem,
            &runner,
            &Layout::default_layout(),
            &[&first, &second],
            None,
            read_ahead,
        );
        let drives: Vec<&str> = services.health.iter().map(|h| h.drive.as_str()).collect();
        assert_eq!(drives, ["nvme0n1", "nvme1n1"]);
        assert_eq!(
            services.health[0].reading,
            Availability::Unavailable {
                why: "read ahead".into()
            }
        );
        let smartctl: Vec<String> = runner
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.starts_with("smartctl"))
            .cloned()
            .collect();
        assert_eq!(smartctl, ["smartctl -j -a -B /dev/null /dev/nvme1"]);
    }
}
