//! Bind mounts of the shared datasets into a Proxmox container: which host paths the container
//! already binds (from its config, /etc/pve/lxc/CTID.conf), and the `pct set` commands that add
//! the missing ones. Pure: the config comes in as text, the datasets' mountpoints as observed.
//!
//! The config format (pve-container's PVE::LXC::Config): `key: value` lines for the current
//! configuration; a `[pve:pending]` section with changes not applied yet (a mount point whose
//! hotplug failed waits there for the next start, and its slot is taken); other `[name]`
//! sections are snapshots, which must be ignored here. A mount point is
//! `mpN: VOLUME,mp=PATH[,key=value...]` with N from 0 to 255, where a bind mount's VOLUME is an
//! absolute host path. Raw LXC keys pass through as well: `lxc.mount.entry: SRC TARGET none
//! bind...` binds SRC without taking an mpN slot.

use crate::layout::Layout;
use serde::Serialize;
use std::collections::BTreeMap;
use thiserror::Error;

/// pve-container's MAX_MOUNT_POINTS.
pub const MAX_MOUNT_POINTS: u16 = 256;
/// pve-container's section of changes not applied yet.
const PENDING_SECTION: &str = "[pve:pending]";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountPoint {
    pub index: u16,
    /// A host path for a bind mount, or a storage volume (`local-zfs:subvol-...`).
    pub volume: String,
    /// Where it appears in the container.
    pub path: Option<String>,
    pub line: usize,
    /// In `[pve:pending]`: applied when the container next starts.
    pub pending: bool,
}

/// An `lxc.mount.entry` bind mount: the host path `source` at `target` inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawBind {
    pub source: String,
    pub target: String,
    pub line: usize,
}

/// What a container's config says about mounts, snapshots left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContainerMounts {
    /// The `mpN` entries, current ones first, then pending ones.
    pub mount_points: Vec<MountPoint>,
    pub raw_binds: Vec<RawBind>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{line}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// The mount points of the current configuration and of `[pve:pending]`, and the
/// `lxc.mount.entry` binds; snapshot sections skipped.
pub fn parse_mounts(file: &str, text: &str) -> Result<ContainerMounts, ConfigError> {
    let mut found = ContainerMounts::default();
    let mut pending = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            if line == PENDING_SECTION {
                pending = true;
                continue;
            }
            // A snapshot: the sections after it are snapshots too, or the pending section,
            // which pve-container writes before them; nothing current follows.
            break;
        }
        let error = |message: String| ConfigError {
            file: file.to_string(),
            line: i + 1,
            message,
        };
        if let Some(entry) = line.strip_prefix("lxc.mount.entry") {
            let entry = entry.trim_start();
            let entry = entry
                .strip_prefix(':')
                .or_else(|| entry.strip_prefix('='))
                .ok_or_else(|| error(format!("`{line}` is not `lxc.mount.entry: ...`")))?;
            if let Some(bind) = raw_bind(entry, i + 1) {
                found.raw_binds.push(bind);
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("mp") else {
            continue;
        };
        let Some((digits, value)) = rest.split_once(':') else {
            continue;
        };
        let index: u16 = match digits.parse() {
            Ok(n) if n < MAX_MOUNT_POINTS => n,
            _ if !digits.chars().all(|c| c.is_ascii_digit()) => continue,
            _ => {
                return Err(error(format!(
                    "`mp{digits}` is not a mount point key (mp0 to mp255)"
                )))
            }
        };
        let mut parts = value.trim().split(',');
        let volume = parts.next().unwrap_or("").trim();
        if volume.is_empty() {
            return Err(error(format!("`mp{index}` has no volume")));
        }
        let path = parts
            .filter_map(|p| p.trim().strip_prefix("mp="))
            .map(str::to_string)
            .next();
        found.mount_points.push(MountPoint {
            index,
            volume: volume.to_string(),
            path,
            line: i + 1,
            pending,
        });
    }
    Ok(found)
}

/// An fstab-style `SRC TARGET TYPE OPTIONS [DUMP PASS]` entry when it is a bind (`bind` or
/// `rbind` among its options). fstab writes a space in a path as `\040`.
fn raw_bind(entry: &str, line: usize) -> Option<RawBind> {
    let fields: Vec<&str> = entry.split_whitespace().collect();
    let [source, target, _fstype, options, ..] = fields[..] else {
        return None;
    };
    options
        .split(',')
        .any(|o| o == "bind" || o == "rbind")
        .then(|| RawBind {
            source: source.replace("\\040", " "),
            target: format!("/{}", target.replace("\\040", " ").trim_start_matches('/')),
            line,
        })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum BindChange {
    Add {
        dataset: String,
        argv: Vec<String>,
    },
    /// Bound already; `path` differs from the layout's only when the administrator chose so.
    Present {
        dataset: String,
        /// `mp2`, `mp1 (pending: applied when the container next starts)`, or
        /// `lxc.mount.entry (line 7)`.
        slot: String,
        path: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AttachError {
    #[error("dataset `{}` has no mountpoint to bind (run `{}` first, or check `zfs get mountpoint {}`)", .0, crate::remedy::APPLY, .0)]
    NoMountpoint(String),
    #[error("container {ctid} has all {MAX_MOUNT_POINTS} mount point slots in use")]
    NoFreeSlot { ctid: u32 },
}

/// The `pct set` commands that bind every shared dataset of the layout into container `ctid`
/// that is not bound yet, each in the lowest free `mpN` slot. The layout's mount options were
/// checked against what Proxmox accepts when it was loaded.
pub fn bind_changes(
    layout: &Layout,
    ctid: u32,
    existing: &ContainerMounts,
    mountpoints: &BTreeMap<String, String>,
) -> Result<Vec<BindChange>, AttachError> {
    let mut used: Vec<u16> = existing.mount_points.iter().map(|m| m.index).collect();
    let mut changes = Vec::new();
    let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
    for dataset in &layout.datasets {
        let Some(bind) = &dataset.bind_mount else {
            continue;
        };
        let name = dataset.name().to_string();
        let host_path = mountpoints
            .get(&name)
            .filter(|m| m.starts_with('/'))
            .ok_or_else(|| AttachError::NoMountpoint(name.clone()))?;
        let bound = existing
            .mount_points
            .iter()
            .find(|m| same(&m.volume, host_path))
            .map(|m| {
                let slot = if m.pending {
                    format!(
                        "mp{} (pending: applied when the container next starts)",
                        m.index
                    )
                } else {
                    format!("mp{}", m.index)
                };
                (slot, m.path.clone())
            })
            .or_else(|| {
                existing
                    .raw_binds
                    .iter()
                    .find(|b| same(&b.source, host_path))
                    .map(|b| {
                        (
                            format!("lxc.mount.entry (line {})", b.line),
                            Some(b.target.clone()),
                        )
                    })
            });
        if let Some((slot, path)) = bound {
            changes.push(BindChange::Present {
                dataset: name,
                slot,
                path,
            });
            continue;
        }
        let index = (0..MAX_MOUNT_POINTS)
            .find(|i| !used.contains(i))
            .ok_or(AttachError::NoFreeSlot { ctid })?;
        used.push(index);
        let mut spec = format!("{host_path},mp={}", bind.path);
        if !bind.options.is_empty() {
            spec.push_str(&format!(",mountoptions={}", bind.options.join(";")));
        }
        changes.push(BindChange::Add {
            dataset: name,
            argv: vec![
                "pct".into(),
                "set".into(),
                ctid.to_string(),
                format!("-mp{index}"),
                spec,
            ],
        });
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "arch: amd64\nhostname: web\nmp0: local-zfs:subvol-101-disk-1,mp=/data,size=8G\nmp2: /quickOS/shared-prod-data,mp=/srv/prod\nrootfs: local-zfs:subvol-101-disk-0,size=8G\n\n[before-upgrade]\nmp1: /old,mp=/old\n";

    fn mountpoints() -> BTreeMap<String, String> {
        Layout::default_layout()
            .datasets
            .iter()
            .map(|d| (d.name().to_string(), format!("/{}", d.name())))
            .collect()
    }

    #[test]
    fn snapshot_sections_are_not_the_current_config() {
        let mps = parse_mounts("101.conf", CONFIG).unwrap().mount_points;
        assert_eq!(mps.iter().map(|m| m.index).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(mps[1].path.as_deref(), Some("/srv/prod"));
    }

    /// pve-container writes `[pve:pending]` after the current config and before snapshots.
    const PENDING: &str = "arch: amd64\nmp0: /quickOS/shared-prod-data,mp=/srv/prod\nrootfs: local-zfs:subvol-102-disk-0,size=8G\n\n[pve:pending]\nmp1: /quickOS/shared-prod-data-sync,mp=/mnt/shared-prod-data-sync\nmp2: local-zfs:subvol-102-disk-1,mp=/data,size=1G\n\n[before-upgrade]\nmp3: /fastData/shared-test-data,mp=/old\n";

    #[test]
    fn a_pending_mount_point_takes_its_slot_and_counts_as_bound() {
        let mounts = parse_mounts("102.conf", PENDING).unwrap();
        let slots: Vec<(u16, bool)> = mounts
            .mount_points
            .iter()
            .map(|m| (m.index, m.pending))
            .collect();
        assert_eq!(slots, [(0, false), (1, true), (2, true)]);
        let changes =
            bind_changes(&Layout::default_layout(), 102, &mounts, &mountpoints()).unwrap();
        assert!(
            changes.contains(&BindChange::Present {
                dataset: "quickOS/shared-prod-data-sync".into(),
                slot: "mp1 (pending: applied when the container next starts)".into(),
                path: Some("/mnt/shared-prod-data-sync".into()),
            }),
            "{changes:?}"
        );
        // The snapshot's mp3 is not current: shared-test-data is added, in the first free slot
        // after the pending ones.
        let adds: Vec<&str> = changes
            .iter()
            .filter_map(|c| match c {
                BindChange::Add { argv, .. } => Some(argv[3].as_str()),
                BindChange::Present { .. } => None,
            })
            .collect();
        assert_eq!(adds, ["-mp3", "-mp4"]);
    }

    #[test]
    fn an_lxc_mount_entry_of_the_same_path_is_a_bind_already() {
        let config = "arch: amd64\nlxc.mount.entry: /fastData/shared-bulk-data/ mnt/bulk none rbind,create=dir 0 0\nlxc.mount.entry: /dev/net dev/net none bind,create=dir\nlxc.mount.entry: tmpfs tmp tmpfs defaults\nrootfs: local-zfs:subvol-103-disk-0,size=8G\n";
        let mounts = parse_mounts("103.conf", config).unwrap();
        assert_eq!(mounts.raw_binds.len(), 2, "{mounts:?}");
        assert!(mounts.mount_points.is_empty());
        let changes =
            bind_changes(&Layout::default_layout(), 103, &mounts, &mountpoints()).unwrap();
        assert!(
            changes.contains(&BindChange::Present {
                dataset: "fastData/shared-bulk-data".into(),
                slot: "lxc.mount.entry (line 2)".into(),
                path: Some("/mnt/bulk".into()),
            }),
            "{changes:?}"
        );
        let adds = changes
            .iter()
            .filter(|c| matches!(c, BindChange::Add { .. }))
            .count();
        assert_eq!(adds, 3, "{changes:?}");
    }

    #[test]
    fn missing_binds_take_the_lowest_free_slots_and_present_ones_are_kept() {
        let layout = Layout::default_layout();
        let existing = parse_mounts("101.conf", CONFIG).unwrap();
        let changes = bind_changes(&layout, 101, &existing, &mountpoints()).unwrap();
        let adds: Vec<&Vec<String>> = changes
            .iter()
            .filter_map(|c| match c {
                BindChange::Add { argv, .. } => Some(argv),
                BindChange::Present { .. } => None,
            })
            .collect();
        assert_eq!(
            adds[0],
            &[
                "pct",
                "set",
                "101",
                "-mp1",
                "/quickOS/shared-prod-data-sync,mp=/mnt/shared-prod-data-sync"
            ]
        );
        assert_eq!(adds[1][3], "-mp3");
        assert_eq!(adds.len(), 3);
        assert!(changes.contains(&BindChange::Present {
            dataset: "quickOS/shared-prod-data".into(),
            slot: "mp2".into(),
            path: Some("/srv/prod".into())
        }));
        // Once added, nothing is left to do.
        let mut text = CONFIG.replace("\n\n[", "\nmp1: /quickOS/shared-prod-data-sync,mp=/x\nmp3: /fastData/shared-test-data,mp=/y\nmp4: /fastData/shared-bulk-data,mp=/z\n\n[");
        text.push('\n');
        let again = bind_changes(
            &layout,
            101,
            &parse_mounts("101.conf", &text).unwrap(),
            &mountpoints(),
        )
        .unwrap();
        assert!(
            again
                .iter()
                .all(|c| matches!(c, BindChange::Present { .. })),
            "{again:?}"
        );
    }

    #[test]
    fn layout_options_become_proxmox_mountoptions() {
        let layout = Layout::default_layout();
        let changes =
            bind_changes(&layout, 200, &ContainerMounts::default(), &mountpoints()).unwrap();
        let BindChange::Add { argv, .. } = &changes[0] else {
            panic!()
        };
        assert_eq!(
            argv[4],
            "/quickOS/shared-prod-data,mp=/mnt/shared-prod-data,mountoptions=noatime"
        );
    }

    #[test]
    fn a_bad_key_names_the_file_and_line() {
        let err = parse_mounts("/etc/pve/lxc/7.conf", "mp999: /a,mp=/b\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/pve/lxc/7.conf:1: `mp999` is not a mount point key (mp0 to mp255)"
        );
    }
}
