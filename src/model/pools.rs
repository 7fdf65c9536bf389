//! What exists now, as far as the plan cares: pools (imported, importable and destroyed but
//! still importable), every device of each in every vdev class, datasets and their effective
//! property values in `-p` form. Built from zpool/zfs output by `host::zfs_state::read`, with each
//! device's number found on the host, or empty on a blank host.

use crate::formats::zfs::{
    pool_devices, PoolStatus, VdevClass, VdevKind, VdevNode, VdevSections, VdevState,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// One device of a pool: how zpool names it, the class of vdev it serves in, and which block
/// device of this host it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolMember {
    /// As zpool prints it: a path (`zpool status -P`: by-id, `-part1` for a whole disk), the
    /// last part of one (`zpool import`), or the vdev GUID of a device that is gone.
    pub path: String,
    pub class: VdevClass,
    /// The block device's `major:minor` on this host, resolved from `path` (`host::zfs_state::devices`); None
    /// where it cannot be: a device named by its GUID, or a path this host (or the copy of it
    /// read with `--root`) does not have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major_minor: Option<String>,
}

impl PoolMember {
    /// A member as zpool printed it, its device not looked up yet.
    pub fn new(path: impl Into<String>, class: VdevClass) -> PoolMember {
        PoolMember {
            path: path.into(),
            class,
            major_minor: None,
        }
    }
}

/// One top-level vdev of a pool's main tree: what a layout's pool is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DataVdev {
    pub kind: VdevKind,
    /// How many devices it is made of: a group's members (one being replaced, under
    /// `replacing-N` or `spare-N`, counts once), 1 for a device.
    pub devices: usize,
}

impl DataVdev {
    /// A top-level vdev of `kind` made of `devices`.
    pub fn new(kind: VdevKind, devices: usize) -> DataVdev {
        DataVdev { kind, devices }
    }
}

/// Every device of the pool printed as `root` and `sections`, with its class.
fn members(root: &VdevNode, sections: &VdevSections) -> Vec<PoolMember> {
    pool_devices(root, sections)
        .into_iter()
        .map(|(class, leaf)| PoolMember::new(leaf.name.clone(), class))
        .collect()
}

/// The top-level vdevs of the main tree.
fn data_vdevs(root: &VdevNode) -> Vec<DataVdev> {
    root.children
        .iter()
        .map(|top| DataVdev {
            kind: top.kind,
            devices: match top.kind {
                VdevKind::Mirror | VdevKind::RaidZ { .. } | VdevKind::DRaid { .. } => {
                    top.children.len()
                }
                _ => 1,
            },
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedPool {
    pub name: String,
    pub guid: Option<u64>,
    pub health: String,
    /// Every device of every class, as `zpool status -P` prints them.
    pub members: Vec<PoolMember>,
    /// The top-level vdevs of its main tree.
    pub data_vdevs: Vec<DataVdev>,
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
            members: status
                .map(|s| members(&s.config, &s.sections))
                .unwrap_or_default(),
            data_vdevs: status.map(|s| data_vdevs(&s.config)).unwrap_or_default(),
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

/// A pool `zpool import` can see but that is not imported (or, listed by `zpool import -D`,
/// one that was destroyed and can still be brought back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportablePool {
    pub name: String,
    pub guid: u64,
    pub state: String,
    /// Every device of every class, as `zpool import` prints them (the last part of each path).
    pub members: Vec<PoolMember>,
    /// The top-level vdevs of its main tree.
    pub data_vdevs: Vec<DataVdev>,
    /// zpool import asks for `-f`: another host (or this host's earlier installation, seen
    /// from a live system) had it imported last.
    pub last_used_elsewhere: bool,
}

impl ImportablePool {
    /// The pool as `zpool import` (or `zpool import -D`) listed it.
    pub fn from_scan(pool: crate::formats::zfs::ImportablePool) -> ImportablePool {
        ImportablePool {
            members: members(&pool.config, &pool.sections),
            data_vdevs: data_vdevs(&pool.config),
            // zpool import's own advice: "... can be imported using its name or numeric
            // identifier and the '-f' flag", after "The pool was last accessed by another
            // system".
            last_used_elsewhere: pool
                .action
                .as_deref()
                .is_some_and(|a| a.contains("'-f' flag")),
            state: pool.state.as_str().to_string(),
            guid: pool.guid,
            name: pool.name,
        }
    }
}

/// An imported pool the layout does not describe: only its members matter, which no plan
/// may touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtherPool {
    pub name: String,
    /// Every device of every class, as `zpool status -P` prints them.
    pub members: Vec<PoolMember>,
}

impl OtherPool {
    /// The pool as `zpool status -P` showed it (no members when it was not shown).
    pub fn from_status(name: String, status: Option<&PoolStatus>) -> OtherPool {
        OtherPool {
            members: status
                .map(|s| members(&s.config, &s.sections))
                .unwrap_or_default(),
            name,
        }
    }
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
    /// Destroyed pools `zpool import -D` still finds: `zpool import -D` brings one back, so its
    /// members hold data as much as any other pool's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destroyed: Vec<ImportablePool>,
    /// A host read with `--root` whose transcripts do not hold `zpool import -D` (recorded before
    /// phoenix-zfs asked it): destroyed pools are unknown there.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub destroyed_unknown: bool,
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

    /// Every pool with its members, imported, exported or destroyed, for matching drives to
    /// pools.
    pub fn existing_pools(&self) -> Vec<ExistingPool> {
        let imported = self.pools.iter().map(|p| ExistingPool {
            name: p.name.clone(),
            guid: p.guid,
            presence: Presence::Imported,
            members: p.members.clone(),
            data_vdevs: p.data_vdevs.clone(),
            missing: p.missing.len(),
        });
        let others = self.other_pools.iter().map(|p| ExistingPool {
            name: p.name.clone(),
            guid: None,
            presence: Presence::Imported,
            members: p.members.clone(),
            data_vdevs: Vec::new(),
            missing: 0,
        });
        let listed = |presence: Presence| {
            move |p: &ImportablePool| ExistingPool {
                name: p.name.clone(),
                guid: Some(p.guid),
                presence,
                members: p.members.clone(),
                data_vdevs: p.data_vdevs.clone(),
                missing: 0,
            }
        };
        let importable = self.importable.iter().map(listed(Presence::Exported));
        let destroyed = self.destroyed.iter().map(listed(Presence::Destroyed));
        imported
            .chain(others)
            .chain(importable)
            .chain(destroyed)
            .collect()
    }

    /// Every member of every pool, to look their devices up on the host.
    pub fn members_mut(&mut self) -> impl Iterator<Item = &mut PoolMember> {
        let imported = self.pools.iter_mut().flat_map(|p| p.members.iter_mut());
        let others = self
            .other_pools
            .iter_mut()
            .flat_map(|p| p.members.iter_mut());
        let listed = self
            .importable
            .iter_mut()
            .chain(self.destroyed.iter_mut())
            .flat_map(|p| p.members.iter_mut());
        imported.chain(others).chain(listed)
    }
}

/// A pool that exists on the host (imported, importable or destroyed), with every member
/// device of every class: what drives are compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExistingPool {
    pub name: String,
    /// Known for importable and destroyed pools, which are imported by it, and for the
    /// layout's imported ones.
    pub guid: Option<u64>,
    pub presence: Presence,
    pub members: Vec<PoolMember>,
    /// The top-level vdevs of its main tree; empty for an imported pool the layout does not
    /// describe, whose shape nothing asks.
    pub data_vdevs: Vec<DataVdev>,
    /// Mirror members zpool reports gone or failed, which a new drive may replace.
    pub missing: usize,
}

/// How a pool is on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Imported,
    /// Not imported; `zpool import` lists it.
    Exported,
    /// Destroyed; `zpool import -D` lists it and can bring it back.
    Destroyed,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Imported => "imported",
            Presence::Exported => "exported",
            Presence::Destroyed => "destroyed",
        }
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
