//! What exists now, as far as the plan cares: pools (imported and importable), datasets and their
//! effective property values in `-p` form. Built from zpool/zfs output by `zfs::observe`, or empty
//! on a blank host.

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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub pools: Vec<ObservedPool>,
    /// Datasets of the layout's pools (and their root datasets), nothing else.
    pub datasets: Vec<ObservedDataset>,
    pub importable: Vec<ImportablePool>,
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
        });
        let importable = self
            .importable
            .iter()
            .map(|p| crate::matching::ExistingPool {
                name: p.name.clone(),
                device_paths: p.device_paths.clone(),
                imported: false,
            });
        imported.chain(importable).collect()
    }
}
