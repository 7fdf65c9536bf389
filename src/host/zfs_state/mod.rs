//! What exists now, as far as the plan cares: pools (imported and importable), datasets and their
//! effective property values in `-p` form. Built from zpool/zfs output by [`read`], or empty
//! on a blank host.

pub mod read;

use crate::formats::zfs::{PoolStatus, VdevKind, VdevNode, VdevState};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedPool {
    pub name: String,
    pub guid: Option<u64>,
    pub health: String,
    /// Leaf devices as `zpool status -P` prints them (by-id paths, `-part1` for whole disks).
    pub device_paths: Vec<String>,
    /// Pool properties, `zpool get -p` values.
    pub properties: BTreeMap<String, String>,
    /// The `scan:` line of `zpool status`: the last or running scrub or resilver, which is how
    /// the manifest shows that a replacement's resilver started.
    pub scan: Option<String>,
    /// Mirror members zpool can no longer use and nothing is replacing yet.
    pub missing: Vec<MissingMember>,
}

/// A mirror member that is UNAVAIL, REMOVED or FAULTED, as `zpool status -P` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingMember {
    /// What `zpool replace` takes as the old device: the vdev GUID once the path is gone, else
    /// the path.
    pub name: String,
    /// The path it had (zpool's "was PATH" note).
    pub was: Option<String>,
    pub state: String,
}

impl ObservedPool {
    /// The pool as `zpool list` (its properties, guid and health among them) and
    /// `zpool status -P -p` (its tree and scan line, when it printed this pool) show it.
    pub fn from_status(
        name: String,
        properties: BTreeMap<String, String>,
        status: Option<&PoolStatus>,
    ) -> ObservedPool {
        ObservedPool {
            guid: properties.get("guid").and_then(|g| g.parse().ok()),
            health: properties.get("health").cloned().unwrap_or_default(),
            device_paths: status
                .map(|s| s.config.leaves().iter().map(|l| l.name.clone()).collect())
                .unwrap_or_default(),
            scan: status.and_then(|s| s.scan.clone()),
            missing: status
                .map(|s| missing_members(&s.config))
                .unwrap_or_default(),
            name,
            properties,
        }
    }
}

/// Members of mirrors that are gone or failed. One under a `replacing-N` or `spare-N` group is
/// already being replaced; a lost single-disk vdev cannot be replaced (the pool is unusable).
fn missing_members(node: &VdevNode) -> Vec<MissingMember> {
    let mut found = Vec::new();
    for child in &node.children {
        if node.kind == VdevKind::Mirror && child.children.is_empty() {
            let gone = matches!(
                child.state,
                Some(VdevState::Unavail | VdevState::Removed | VdevState::Faulted)
            );
            if gone {
                found.push(MissingMember {
                    name: child.name.clone(),
                    was: child.was_path().map(str::to_string),
                    state: child
                        .state
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                });
            }
        } else if !matches!(child.kind, VdevKind::Replacing | VdevKind::Spare) {
            found.extend(missing_members(child));
        }
    }
    found
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    Filesystem,
    Volume,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedValue {
    /// As `zfs get -p` prints it.
    pub value: String,
    /// Set on this dataset itself (`local`), rather than inherited or default.
    pub local: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedDataset {
    pub name: String,
    pub kind: DatasetKind,
    pub properties: BTreeMap<String, ObservedValue>,
}

/// A pool `zpool import` can see but that is not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportablePool {
    pub name: String,
    pub guid: u64,
    pub state: String,
    pub device_paths: Vec<String>,
    /// zpool import asks for `-f`: another host (or this host's earlier installation, seen
    /// from a live system) had it imported last.
    pub last_used_elsewhere: bool,
}

/// An imported pool the layout does not describe: only its members matter, which no plan
/// may touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtherPool {
    pub name: String,
    /// Leaf devices as `zpool status -P` prints them.
    pub device_paths: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observed {
    /// The layout's pools that are imported.
    pub pools: Vec<ObservedPool>,
    /// Every other imported pool.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_pools: Vec<OtherPool>,
    /// A host read with `--root` whose transcripts list the layout's pools only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub other_pools_unknown: bool,
    /// Datasets of the layout's pools (and their root datasets), nothing else.
    pub datasets: Vec<ObservedDataset>,
    pub importable: Vec<ImportablePool>,
    /// Why `zpool import` was not asked for importable pools, when a layout pool was missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_scan_skipped: Option<String>,
}

impl Observed {
    pub fn pool(&self, name: &str) -> Option<&ObservedPool> {
        self.pools.iter().find(|p| p.name == name)
    }

    pub fn dataset(&self, name: &str) -> Option<&ObservedDataset> {
        self.datasets.iter().find(|d| d.name == name)
    }

    pub fn importable(&self, name: &str) -> Option<&ImportablePool> {
        self.importable.iter().find(|p| p.name == name)
    }

    /// Every pool with its member devices, imported or not, for matching drives to pools.
    pub fn existing_pools(&self) -> Vec<crate::matching::ExistingPool> {
        let imported = self.pools.iter().map(|p| crate::matching::ExistingPool {
            name: p.name.clone(),
            device_paths: p.device_paths.clone(),
            imported: true,
            missing: p.missing.len(),
        });
        let others = self
            .other_pools
            .iter()
            .map(|p| crate::matching::ExistingPool {
                name: p.name.clone(),
                device_paths: p.device_paths.clone(),
                imported: true,
                missing: 0,
            });
        let importable = self
            .importable
            .iter()
            .map(|p| crate::matching::ExistingPool {
                name: p.name.clone(),
                device_paths: p.device_paths.clone(),
                imported: false,
                missing: 0,
            });
        imported.chain(others).chain(importable).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(tree: &str) -> ObservedPool {
        let text = format!(
            "  pool: quickOS\n state: DEGRADED\n  scan: resilver in progress since Wed Nov 25 20:17:16 2026\nconfig:\n\n\tNAME  STATE  READ WRITE CKSUM\n{tree}\nerrors: No known data errors\n"
        );
        let status = crate::formats::zfs::parse_zpool_status(&text).unwrap();
        ObservedPool::from_status("quickOS".into(), BTreeMap::new(), status.first())
    }

    #[test]
    fn a_member_already_being_replaced_is_not_missing_again() {
        let resilvering = pool(
            "\tquickOS  DEGRADED 0 0 0\n\t  mirror-0  DEGRADED 0 0 0\n\t    /dev/a-part1  ONLINE 0 0 0\n\t    replacing-1  DEGRADED 0 0 0\n\t      99  UNAVAIL 0 0 0  was /dev/b-part1\n\t      /dev/c-part1  ONLINE 0 0 0  (resilvering)\n",
        );
        assert!(resilvering.missing.is_empty(), "{resilvering:#?}");
        assert!(resilvering
            .scan
            .unwrap()
            .starts_with("resilver in progress"));

        let degraded = pool(
            "\tquickOS  DEGRADED 0 0 0\n\t  mirror-0  DEGRADED 0 0 0\n\t    /dev/a-part1  ONLINE 0 0 0\n\t    99  REMOVED 0 0 0  was /dev/b-part1\n",
        );
        assert_eq!(
            degraded.missing,
            [MissingMember {
                name: "99".into(),
                was: Some("/dev/b-part1".into()),
                state: "REMOVED".into()
            }]
        );
    }
}
