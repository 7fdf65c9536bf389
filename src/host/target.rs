//! The system phoenix-zfs provisions ([`Target`]) and the situation the run is in ([`Situation`]),
//! one module because both describe "a live system at DIR": the target says where its files and
//! pools are, the situation says what that means for the run and is said at the top of `plan` and
//! `apply` and kept in the manifest.
//!
//! The target is usually the system phoenix-zfs runs on. From a live rescue system it is the
//! installed system whose root the administrator mounted (`--target-root DIR`): its files
//! (manifest, host key, smartd.conf, modprobe.d, the deferred unit) are under DIR, its pools are
//! imported and created with DIR as altroot so their mount points land under DIR, and exported at
//! the end so that the installed system imports them cleanly at its next boot. What needs the
//! installed system running (pmxcfs for storage.cfg, its NFS server and network) waits for that
//! boot.
//!
//! The situation: a normally booted host, a host in systemd's rescue or emergency target (no
//! network, no pmxcfs, pools perhaps not imported), a live rescue system working on an installed
//! root (`--target-root`), or a host tree read with `--root`. What a situation cannot do is found
//! by the services themselves (host/services.rs) and deferred; this only names it.

use crate::host::root::HostRoot;
use crate::model::pools::Observed;
use crate::runner::Runner;
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// The system phoenix-zfs runs on (or the host read with `--root`).
    #[default]
    RunningSystem,
    /// An installed system mounted at `dir` under a live system.
    MountedRoot {
        dir: PathBuf,
        /// `--keep-imported`: leave the pools imported under `dir` at the end.
        keep_imported: bool,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("--target-root {0}: {1}")]
    Unusable(String, &'static str),
}

impl Target {
    /// `--target-root DIR`, checked: DIR must be the root of an installed system, not `/`.
    pub fn mounted_root(dir: &Path, keep_imported: bool) -> Result<Target, TargetError> {
        let shown = dir.display().to_string();
        let canonical = dir.canonicalize().map_err(|_| {
            TargetError::Unusable(
                shown.clone(),
                "no such directory: mount the installed system's root there first (e.g. `mount /dev/sdX3 /mnt`)",
            )
        })?;
        if canonical == Path::new("/") {
            return Err(TargetError::Unusable(
                shown,
                "is the running system's root: leave out --target-root",
            ));
        }
        if !canonical.join("etc").is_dir() {
            return Err(TargetError::Unusable(
                shown,
                "has no etc/: it is not the root of an installed system (is the right file system mounted there?)",
            ));
        }
        Ok(Target::MountedRoot {
            dir: canonical,
            keep_imported,
        })
    }

    /// The tree the target's files (configuration, manifest, units) are read from and written
    /// to: DIR for a mounted root, else the host root.
    pub fn files(&self, host: &HostRoot) -> HostRoot {
        match self {
            Target::RunningSystem => host.clone(),
            Target::MountedRoot { dir, .. } => HostRoot(dir.clone()),
        }
    }

    /// Where a file of the target lives, as this process opens it. On the running system an
    /// absolute path stays what it is (`--manifest PATH` and the defaults are the live host's).
    pub fn path(&self, path: &Path) -> PathBuf {
        match self {
            Target::RunningSystem => path.to_path_buf(),
            Target::MountedRoot { dir, .. } => dir.join(path.strip_prefix("/").unwrap_or(path)),
        }
    }

    /// `zpool import/create -R`: where the target's pools are mounted from here.
    pub fn altroot(&self) -> Option<String> {
        match self {
            Target::RunningSystem => None,
            Target::MountedRoot { dir, .. } => Some(dir.display().to_string()),
        }
    }

    /// Its services (pmxcfs, smartd, the NFS server, the zfs module's parameters) run here.
    pub fn is_running(&self) -> bool {
        matches!(self, Target::RunningSystem)
    }

    /// The pools go back to the installed system at the end of the run.
    pub fn exports_pools(&self) -> bool {
        matches!(
            self,
            Target::MountedRoot {
                keep_imported: false,
                ..
            }
        )
    }

    /// zfs prints every mountpoint of a pool imported with an altroot with the altroot in front;
    /// the layout's mountpoints are the installed system's own.
    pub fn strip_altroot(&self, observed: &mut Observed) {
        let Some(altroot) = self.altroot() else {
            return;
        };
        for dataset in &mut observed.datasets {
            if let Some(mountpoint) = dataset.properties.get_mut("mountpoint") {
                if let Some(rest) = under(&mountpoint.value, &altroot) {
                    mountpoint.value = rest;
                }
            }
        }
    }
}

/// `path` as seen inside `altroot`, when it lies under it.
fn under(path: &str, altroot: &str) -> Option<String> {
    let rest = path.strip_prefix(altroot.trim_end_matches('/'))?;
    if rest.is_empty() {
        Some("/".into())
    } else if rest.starts_with('/') {
        Some(rest.to_string())
    } else {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Situation {
    NormalHost,
    /// systemd's rescue.target or emergency.target is active.
    RescueTarget {
        target: String,
    },
    /// A live rescue system provisioning the installed system mounted at `target_root`
    /// (`--target-root`).
    LiveSystem {
        target_root: String,
        /// The pools are exported at the end (no `--keep-imported`).
        exports_pools: bool,
    },
    /// `--root DIR`: a host tree, recorded by `debug snapshot-host` or synthesized from a spec,
    /// not the one phoenix-zfs runs on. The manifest names it `recorded-host`, as manifests
    /// already signed do.
    RecordedHost {
        root: String,
    },
}

impl fmt::Display for Situation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Situation::NormalHost => f.write_str("normal host"),
            Situation::RescueTarget { target } => write!(
                f,
                "{target} (single-user mode): pools are imported and converged; Proxmox storages and NFS exports wait for the next normal boot"
            ),
            Situation::LiveSystem {
                target_root,
                exports_pools,
            } => write!(
                f,
                "live system, installed root at {target_root}: pools are imported under {target_root}{}; Proxmox storages and NFS exports wait for the installed system's next boot",
                if *exports_pools {
                    " and exported at the end"
                } else {
                    " and left imported (--keep-imported)"
                }
            ),
            Situation::RecordedHost { root } => write!(f, "host tree under {root}"),
        }
    }
}

/// `systemctl is-active rescue.target emergency.target`: one state per line, in that order.
fn is_active_argv() -> Vec<String> {
    [
        "systemctl",
        "is-active",
        "rescue.target",
        "emergency.target",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The situation of the live host. A host where systemd cannot be asked is taken as normal:
/// the services then find for themselves what is missing.
pub fn detect_situation(runner: &dyn Runner) -> Situation {
    let argv = is_active_argv();
    let Ok(out) = runner.run(&argv, Duration::from_secs(10)) else {
        return Situation::NormalHost;
    };
    parse_is_active(&out.stdout)
}

fn parse_is_active(stdout: &str) -> Situation {
    ["rescue.target", "emergency.target"]
        .iter()
        .zip(stdout.lines())
        .find(|(_, state)| state.trim() == "active")
        .map_or(Situation::NormalHost, |(target, _)| {
            Situation::RescueTarget {
                target: target.to_string(),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::pools::{DatasetKind, ObservedDataset, ObservedValue};

    fn mounted(dir: &str) -> Target {
        Target::MountedRoot {
            dir: dir.into(),
            keep_imported: false,
        }
    }

    #[test]
    fn files_of_a_mounted_root_are_under_it() {
        let t = mounted("/mnt");
        assert_eq!(
            t.path(Path::new("/var/lib/phoenix-zfs/manifest.json")),
            Path::new("/mnt/var/lib/phoenix-zfs/manifest.json")
        );
        assert_eq!(
            t.files(&HostRoot::live()).path("/etc/smartd.conf"),
            Path::new("/mnt/etc/smartd.conf")
        );
        assert_eq!(
            Target::RunningSystem.path(Path::new("/etc/x")),
            Path::new("/etc/x")
        );
        assert_eq!(t.altroot().as_deref(), Some("/mnt"));
        assert!(t.exports_pools() && !t.is_running());
    }

    #[test]
    fn altroot_is_taken_off_observed_mountpoints_only_where_it_is_a_prefix() {
        let dataset = |name: &str, mp: &str| ObservedDataset {
            name: name.into(),
            kind: DatasetKind::Filesystem,
            properties: [(
                "mountpoint".to_string(),
                ObservedValue {
                    value: mp.into(),
                    local: false,
                },
            )]
            .into(),
        };
        let mut observed = Observed {
            datasets: vec![
                dataset("quickOS", "/mnt/quickOS"),
                dataset("fastData/x", "/mntx/y"),
                dataset("fastData/y", "legacy"),
                dataset("fastData/z", "/mnt"),
            ],
            ..Observed::default()
        };
        mounted("/mnt/").strip_altroot(&mut observed);
        let values: Vec<&str> = observed
            .datasets
            .iter()
            .map(|d| d.properties["mountpoint"].value.as_str())
            .collect();
        assert_eq!(values, ["/quickOS", "/mntx/y", "legacy", "/"]);
    }

    #[test]
    fn a_target_root_that_is_not_an_installed_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = Target::mounted_root(dir.path(), false).unwrap_err();
        assert!(e.to_string().contains("has no etc/"), "{e}");
        let e = Target::mounted_root(Path::new("/"), false).unwrap_err();
        assert!(e.to_string().contains("leave out --target-root"), "{e}");
        let e = Target::mounted_root(&dir.path().join("nope"), false).unwrap_err();
        assert!(e.to_string().contains("no such directory"), "{e}");
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        assert!(Target::mounted_root(dir.path(), true).is_ok());
    }

    #[test]
    fn the_active_target_names_the_situation() {
        assert_eq!(
            parse_is_active("inactive\ninactive\n"),
            Situation::NormalHost
        );
        assert_eq!(
            parse_is_active("active\ninactive\n"),
            Situation::RescueTarget {
                target: "rescue.target".into()
            }
        );
        assert_eq!(
            parse_is_active("inactive\nactive\n"),
            Situation::RescueTarget {
                target: "emergency.target".into()
            }
        );
        assert_eq!(parse_is_active(""), Situation::NormalHost);
    }
}
