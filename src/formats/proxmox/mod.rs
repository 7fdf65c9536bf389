//! Proxmox storages: what `pvesm` has to do so that every dataset the layout serves as a Proxmox
//! storage is registered as one. Pure: storage.cfg comes in parsed, the mountpoints of the
//! datasets come in as observed (`zfs get mountpoint`), and out come `pvesm` argv vectors.
//!
//! A storage that already matches produces nothing; a storage that differs in something `pvesm
//! set` can change produces a Set; a storage that differs in its type or a fixed key (`pool`,
//! `path`), or another storage already over the same dataset, is a Conflict that phoenix-zfs
//! reports and never resolves by itself.

pub mod blocksize;
pub mod container;
pub mod hook;
pub mod plugins;
pub mod storage_cfg;

use crate::layout::{Layout, ProxmoxStorage, StorageType};
use blocksize::blocksize_bytes;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use storage_cfg::{Section, StorageConfig};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum StorageChange {
    Add {
        id: String,
        kind: StorageType,
        argv: Vec<String>,
    },
    Set {
        id: String,
        argv: Vec<String>,
        /// What differs, as `key: now -> wanted`, one item per key.
        what: Vec<String>,
    },
    Conflict {
        id: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoragePlanError {
    #[error("dataset `{dataset}` is served as dir storage `{storage}`, but its mountpoint was not given: observe it with `zfs get -H -o value mountpoint {dataset}` (or pass the mountpoint it will get)")]
    NoMountpoint { dataset: String, storage: String },
    #[error("dataset `{dataset}` has mountpoint `{mountpoint}`, which a dir storage cannot use: give the dataset a mountpoint under / (`zfs set mountpoint=/{dataset} {dataset}`)")]
    UnusableMountpoint { dataset: String, mountpoint: String },
}

/// The storage changes that make storage.cfg serve the layout. `mountpoints` maps dataset
/// names to their mountpoints; it needs an entry for every dataset served as a dir storage.
pub fn storage_changes(
    layout: &Layout,
    config: &StorageConfig,
    mountpoints: &BTreeMap<String, String>,
) -> Result<Vec<StorageChange>, StoragePlanError> {
    let mut changes = Vec::new();
    for dataset in &layout.datasets {
        let Some(wanted) = &dataset.proxmox else {
            continue;
        };
        let target = match wanted.kind {
            StorageType::Zfspool => dataset.name().to_string(),
            StorageType::Dir => dir_path(dataset.name(), &wanted.storage, mountpoints)?,
        };
        let change = match config.get(&wanted.storage) {
            None => match same_target_elsewhere(config, wanted, &target) {
                Some(other) => Some(StorageChange::Conflict {
                    id: wanted.storage.clone(),
                    message: format!(
                        "{} `{target}` is already Proxmox storage `{}` (storage.cfg line {}); a second storage over it would list every volume twice: name that storage in the layout instead, or remove it with `pvesm remove {}`",
                        key_of(wanted.kind), other.id, other.line, other.id
                    ),
                }),
                None => Some(StorageChange::Add {
                    id: wanted.storage.clone(),
                    kind: wanted.kind,
                    argv: add_argv(wanted, &target),
                }),
            },
            Some(existing) => compare(existing, wanted, &target),
        };
        changes.extend(change);
    }
    Ok(changes)
}

/// The name of a storage type as storage.cfg and `pvesm add` write it.
pub fn type_name(kind: StorageType) -> &'static str {
    match kind {
        StorageType::Zfspool => "zfspool",
        StorageType::Dir => "dir",
    }
}

/// The fixed key that ties a storage to its dataset.
fn key_of(kind: StorageType) -> &'static str {
    match kind {
        StorageType::Zfspool => "pool",
        StorageType::Dir => "path",
    }
}

fn dir_path(
    dataset: &str,
    storage: &str,
    mountpoints: &BTreeMap<String, String>,
) -> Result<String, StoragePlanError> {
    let mountpoint = mountpoints
        .get(dataset)
        .ok_or_else(|| StoragePlanError::NoMountpoint {
            dataset: dataset.to_string(),
            storage: storage.to_string(),
        })?;
    if !mountpoint.starts_with('/') {
        return Err(StoragePlanError::UnusableMountpoint {
            dataset: dataset.to_string(),
            mountpoint: mountpoint.clone(),
        });
    }
    Ok(normalize_path(mountpoint).to_string())
}

fn normalize_path(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

fn same_target_elsewhere<'a>(
    config: &'a StorageConfig,
    wanted: &ProxmoxStorage,
    target: &str,
) -> Option<&'a Section> {
    let kind = type_name(wanted.kind);
    let key = key_of(wanted.kind);
    config.sections.iter().find(|s| {
        s.kind == kind && s.id != wanted.storage && s.get(key).map(normalize_path) == Some(target)
    })
}

/// The wanted content list, deduplicated and sorted: the order carries nothing to Proxmox.
fn content_list(wanted: &ProxmoxStorage) -> String {
    let set: BTreeSet<&str> = wanted.content.iter().map(String::as_str).collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn add_argv(wanted: &ProxmoxStorage, target: &str) -> Vec<String> {
    let mut argv: Vec<String> = [
        "pvesm",
        "add",
        type_name(wanted.kind),
        &wanted.storage,
        match wanted.kind {
            StorageType::Zfspool => "--pool",
            StorageType::Dir => "--path",
        },
        target,
        "--content",
        &content_list(wanted),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (key, value) in settable(wanted) {
        argv.push(format!("--{key}"));
        argv.push(value);
    }
    argv
}

/// The keys besides `content` that the layout decides and `pvesm set` may change.
fn settable(wanted: &ProxmoxStorage) -> Vec<(&'static str, String)> {
    let mut keys = Vec::new();
    match wanted.kind {
        StorageType::Zfspool => {
            if let Some(sparse) = wanted.sparse {
                keys.push(("sparse", if sparse { "1" } else { "0" }.to_string()));
            }
            if let Some(bs) = &wanted.blocksize {
                keys.push(("blocksize", bs.clone()));
            }
        }
        // The path is a ZFS mountpoint: with this, Proxmox treats the storage as offline when
        // the dataset is not mounted instead of writing backups into the empty directory.
        StorageType::Dir => keys.push(("is_mountpoint", "yes".to_string())),
    }
    keys
}

fn compare(existing: &Section, wanted: &ProxmoxStorage, target: &str) -> Option<StorageChange> {
    let id = wanted.storage.clone();
    let kind = type_name(wanted.kind);
    if existing.kind != kind {
        return Some(StorageChange::Conflict {
            id,
            message: format!(
                "storage `{}` (storage.cfg line {}) is of type `{}`, the layout wants `{kind}`; phoenix-zfs never changes a storage's type: rename the storage in the layout, or remove it with `pvesm remove {}`",
                existing.id, existing.line, existing.kind, existing.id
            ),
        });
    }
    let key = key_of(wanted.kind);
    let have = existing.get(key).map(normalize_path);
    if have != Some(target) {
        let have = have.map_or("no value".to_string(), |v| format!("`{v}`"));
        return Some(StorageChange::Conflict {
            id,
            message: format!(
                "storage `{}` (storage.cfg line {}) has {key} {have}, the layout wants `{target}`; `{key}` is fixed once a storage exists: rename the storage in the layout, or remove it with `pvesm remove {}`",
                existing.id, existing.line, existing.id
            ),
        });
    }

    let mut argv: Vec<String> = vec!["pvesm".into(), "set".into(), id.clone()];
    let mut what = Vec::new();
    let content_now = existing.content();
    let content_wanted = content_list(wanted);
    if content_now != content_wanted.split(',').collect() {
        what.push(format!(
            "content: {} -> {content_wanted}",
            existing.get("content").unwrap_or("(default)")
        ));
        argv.extend(["--content".to_string(), content_wanted]);
    }
    for (key, value) in settable(wanted) {
        let now = existing.get(key);
        if !same_setting(key, now, &value, target) {
            what.push(format!("{key}: {} -> {value}", now.unwrap_or("(unset)")));
            argv.extend([format!("--{key}"), value]);
        }
    }
    (!what.is_empty()).then_some(StorageChange::Set { id, argv, what })
}

/// Whether a storage.cfg value already means what the layout wants.
fn same_setting(key: &str, now: Option<&str>, wanted: &str, path: &str) -> bool {
    match key {
        // Proxmox's default for a missing `sparse` is off.
        "sparse" => now.unwrap_or("0") == wanted,
        "blocksize" => now.and_then(blocksize_bytes) == blocksize_bytes(wanted),
        // `yes` is a shortcut for the storage's own path (DirPlugin.pm parse_is_mountpoint).
        "is_mountpoint" => now.is_some_and(|v| {
            matches!(v.to_ascii_lowercase().as_str(), "1" | "on" | "yes" | "true")
                || normalize_path(v) == path
        }),
        _ => now == Some(wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_mountpoint_yes_means_the_path() {
        assert!(same_setting("is_mountpoint", Some("yes"), "yes", "/a"));
        assert!(same_setting("is_mountpoint", Some("1"), "yes", "/a"));
        assert!(same_setting("is_mountpoint", Some("/a/"), "yes", "/a"));
        assert!(!same_setting("is_mountpoint", Some("no"), "yes", "/a"));
        assert!(!same_setting("is_mountpoint", None, "yes", "/a"));
    }
}
