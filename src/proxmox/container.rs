//! Bind mounts of the shared datasets into a Proxmox container: which `mpN` entries the
//! container has (from its config, /etc/pve/lxc/CTID.conf), and the `pct set` commands that add
//! the missing ones. Pure: the config comes in as text, the datasets' mountpoints as observed.
//!
//! The config format (pve-container's PVE::LXC::Config): `key: value` lines for the current
//! configuration, then `[snapshot]` sections that must be ignored here; a mount point is
//! `mpN: VOLUME,mp=PATH[,key=value...]` with N from 0 to 255, where a bind mount's VOLUME is an
//! absolute host path.

use crate::layout::Layout;
use serde::Serialize;
use std::collections::BTreeMap;
use thiserror::Error;

/// pve-container's MAX_MOUNT_POINTS.
pub const MAX_MOUNT_POINTS: u16 = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountPoint {
    pub index: u16,
    /// A host path for a bind mount, or a storage volume (`local-zfs:subvol-...`).
    pub volume: String,
    /// Where it appears in the container.
    pub path: Option<String>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{line}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// The mount points of the current configuration (snapshots skipped).
pub fn parse_mount_points(file: &str, text: &str) -> Result<Vec<MountPoint>, ConfigError> {
    let mut found = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            break;
        }
        let Some(rest) = line.strip_prefix("mp") else {
            continue;
        };
        let Some((digits, value)) = rest.split_once(':') else {
            continue;
        };
        let error = |message: String| ConfigError {
            file: file.to_string(),
            line: i + 1,
            message,
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
        found.push(MountPoint {
            index,
            volume: volume.to_string(),
            path,
            line: i + 1,
        });
    }
    Ok(found)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum BindChange {
    Add {
        dataset: String,
        argv: Vec<String>,
    },
    /// Mounted already; `path` differs from the layout's only when the administrator chose so.
    Present {
        dataset: String,
        index: u16,
        path: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AttachError {
    #[error("dataset `{0}` has no mountpoint to bind (run `phoenix-zfs apply` first, or check `zfs get mountpoint {0}`)")]
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
    existing: &[MountPoint],
    mountpoints: &BTreeMap<String, String>,
) -> Result<Vec<BindChange>, AttachError> {
    let mut used: Vec<u16> = existing.iter().map(|m| m.index).collect();
    let mut changes = Vec::new();
    for dataset in &layout.datasets {
        let Some(bind) = &dataset.bind_mount else {
            continue;
        };
        let name = dataset.name().to_string();
        let host_path = mountpoints
            .get(&name)
            .filter(|m| m.starts_with('/'))
            .ok_or_else(|| AttachError::NoMountpoint(name.clone()))?;
        if let Some(m) = existing
            .iter()
            .find(|m| m.volume.trim_end_matches('/') == host_path.trim_end_matches('/'))
        {
            changes.push(BindChange::Present {
                dataset: name,
                index: m.index,
                path: m.path.clone(),
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
        let mps = parse_mount_points("101.conf", CONFIG).unwrap();
        assert_eq!(mps.iter().map(|m| m.index).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(mps[1].path.as_deref(), Some("/srv/prod"));
    }

    #[test]
    fn missing_binds_take_the_lowest_free_slots_and_present_ones_are_kept() {
        let layout = Layout::default_layout();
        let existing = parse_mount_points("101.conf", CONFIG).unwrap();
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
            index: 2,
            path: Some("/srv/prod".into())
        }));
        // Once added, nothing is left to do.
        let mut text = CONFIG.replace("\n\n[", "\nmp1: /quickOS/shared-prod-data-sync,mp=/x\nmp3: /fastData/shared-test-data,mp=/y\nmp4: /fastData/shared-bulk-data,mp=/z\n\n[");
        text.push('\n');
        let again = bind_changes(
            &layout,
            101,
            &parse_mount_points("101.conf", &text).unwrap(),
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
        let changes = bind_changes(&layout, 200, &[], &mountpoints()).unwrap();
        let BindChange::Add { argv, .. } = &changes[0] else {
            panic!()
        };
        assert_eq!(
            argv[4],
            "/quickOS/shared-prod-data,mp=/mnt/shared-prod-data,mountoptions=discard;noatime"
        );
    }

    #[test]
    fn a_bad_key_names_the_file_and_line() {
        let err = parse_mount_points("/etc/pve/lxc/7.conf", "mp999: /a,mp=/b\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/pve/lxc/7.conf:1: `mp999` is not a mount point key (mp0 to mp255)"
        );
    }
}
