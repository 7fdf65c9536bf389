//! Desired layout against observed state: an ordered list of actions, the warnings an expert would
//! give, and the blockers that stop the run before anything changes. Pure: no I/O, no processes.

use crate::firmware::{DriveFirmware, Enforcement};
use crate::inventory::{Inventory, ProbeState};
use crate::layout::properties::{normalize, PropertyScope};
use crate::layout::{layout_warnings, quota_overcommit, Layout, PoolSpec, VdevLayout, Warning};
use crate::matching::{Assignment, MatchProblem, MatchReport};
use crate::observed::{DatasetKind, Observed};
use crate::size;
use crate::zfs::{self, Topology, TopologyKind};
use serde::Serialize;
use std::collections::BTreeMap;

/// One change to the world. Every variant is safe to retry: apply re-plans from observed state,
/// so an action that already happened is simply not planned again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Erase the signatures of a drive the administrator named with `--wipe SERIAL`.
    WipeDrive {
        drive: String,
        serial: String,
        path: String,
        signatures: Vec<String>,
    },
    /// Import an existing, exported pool by GUID, keeping by-id device names.
    ImportPool { pool: String, guid: u64 },
    CreatePool {
        pool: String,
        vdev: VdevLayout,
        devices: Vec<String>,
        properties: BTreeMap<String, String>,
        filesystem_properties: BTreeMap<String, String>,
    },
    SetPoolProperty {
        pool: String,
        property: String,
        from: String,
        to: String,
    },
    CreateDataset {
        dataset: String,
        properties: BTreeMap<String, String>,
    },
    SetDatasetProperties {
        dataset: String,
        changes: Vec<PropertyChange>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PropertyChange {
    pub property: String,
    /// As `zfs get -p` printed it.
    pub from: String,
    /// As the layout writes it.
    pub to: String,
}

impl Action {
    /// The one command that carries out this action.
    pub fn argv(&self) -> Vec<String> {
        let pairs = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        match self {
            Action::WipeDrive { path, .. } => vec!["wipefs".into(), "--all".into(), path.clone()],
            Action::ImportPool { guid, .. } => zfs::zpool_import(&guid.to_string(), None, None),
            Action::CreatePool {
                pool,
                vdev,
                devices,
                properties,
                filesystem_properties,
            } => {
                let kind = match vdev {
                    VdevLayout::Single => TopologyKind::Single,
                    VdevLayout::Mirror => TopologyKind::Mirror,
                };
                let topology = Topology {
                    kind,
                    devices: devices.clone(),
                };
                zfs::zpool_create(
                    pool,
                    &topology,
                    &pairs(properties),
                    &pairs(filesystem_properties),
                )
            }
            Action::SetPoolProperty {
                pool, property, to, ..
            } => zfs::zpool_set(pool, property, to),
            Action::CreateDataset {
                dataset,
                properties,
            } => zfs::zfs_create(dataset, &pairs(properties)),
            Action::SetDatasetProperties { dataset, changes } => {
                let props: Vec<(String, String)> = changes
                    .iter()
                    .map(|c| (c.property.clone(), c.to.clone()))
                    .collect();
                zfs::zfs_set(dataset, &props)
            }
        }
    }

    pub fn summary(&self) -> String {
        let props = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            Action::WipeDrive {
                drive,
                serial,
                signatures,
                ..
            } => {
                format!(
                    "wipe {drive} (serial {serial}): erase {}",
                    signatures.join(", ")
                )
            }
            Action::ImportPool { pool, guid } => format!("import pool {pool} (guid {guid})"),
            Action::CreatePool {
                pool,
                vdev,
                devices,
                properties,
                filesystem_properties,
            } => format!(
                "create pool {pool}: {vdev} of {} [{}] [root: {}]",
                devices.join(" "),
                props(properties),
                props(filesystem_properties)
            ),
            Action::SetPoolProperty {
                pool,
                property,
                from,
                to,
            } => format!("set {property}={to} on pool {pool} (now {from})"),
            Action::CreateDataset {
                dataset,
                properties,
            } => format!("create dataset {dataset} [{}]", props(properties)),
            Action::SetDatasetProperties { dataset, changes } => {
                let c: Vec<String> = changes
                    .iter()
                    .map(|c| format!("{}={} (now {})", c.property, c.to, c.from))
                    .collect();
                format!("set on {dataset}: {}", c.join(", "))
            }
        }
    }
}

/// A reason not to touch anything. Each maps to one of DESIGN.md's exit codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "blocker", rename_all = "kebab-case")]
pub enum Blocker {
    /// Exit 3: the drives do not fit the layout.
    Hardware {
        problem: MatchProblem,
        message: String,
    },
    /// Exit 4: firmware policy refused a drive.
    Firmware {
        drive: String,
        revision: String,
        message: String,
    },
    /// Exit 5: a drive chosen for a pool holds data, and was not named with --wipe.
    DriveHoldsData {
        drive: String,
        serial: Option<String>,
        found: Vec<String>,
    },
    /// Exit 3: a pool of the layout exists on drives other than the ones matched.
    PoolElsewhere { pool: String, devices: Vec<String> },
    /// Exit 5: a dataset of the layout exists as a zvol.
    WrongDatasetKind { dataset: String },
}

impl Blocker {
    pub fn exit_code(&self) -> u8 {
        match self {
            Blocker::Hardware { .. } | Blocker::PoolElsewhere { .. } => 3,
            Blocker::Firmware { .. } => 4,
            Blocker::DriveHoldsData { .. } | Blocker::WrongDatasetKind { .. } => 5,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Blocker::Hardware { message, .. } => message.clone(),
            Blocker::Firmware { drive, revision, message } => format!("{drive}: firmware {revision}: {message}"),
            Blocker::DriveHoldsData { drive, serial, found } => {
                let serial = serial.as_deref().unwrap_or("SERIAL");
                format!("{drive} holds data ({}); nothing was changed. If it may be erased, run again with --wipe {serial}", found.join("; "))
            }
            Blocker::PoolElsewhere { pool, devices } => format!(
                "pool `{pool}` exists on {}, not on the drives the layout matched; import or rename it by hand, phoenix-zfs will not touch it",
                devices.join(", ")
            ),
            Blocker::WrongDatasetKind { dataset } => {
                format!("`{dataset}` exists as a zvol, but the layout describes a file system; rename or move it by hand")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub warnings: Vec<Warning>,
    pub blockers: Vec<Blocker>,
    /// Things worth saying that are neither actions nor problems.
    pub notes: Vec<String>,
}

impl Plan {
    /// The exit code the blockers call for: hardware (3) before firmware (4) before data (5),
    /// the order in which an administrator has to fix them.
    pub fn exit_code(&self) -> Option<u8> {
        self.blockers.iter().map(Blocker::exit_code).min()
    }
}

pub struct Facts<'a> {
    pub layout: &'a Layout,
    pub inventory: &'a Inventory,
    pub matches: &'a MatchReport,
    pub firmware: &'a [DriveFirmware],
    pub observed: &'a Observed,
    /// Serials the administrator allowed to be wiped (`--wipe SERIAL`).
    pub wipe: &'a [String],
}

pub fn plan(facts: &Facts) -> Plan {
    let mut plan = Plan {
        actions: Vec::new(),
        warnings: Vec::new(),
        blockers: Vec::new(),
        notes: Vec::new(),
    };
    for problem in &facts.matches.problems {
        plan.blockers.push(Blocker::Hardware {
            message: problem.to_string(),
            problem: problem.clone(),
        });
    }
    // Only drives chosen for a pool can stop the run; a bad drive left alone is reported by detect.
    let chosen: Vec<&DriveFirmware> = facts
        .firmware
        .iter()
        .filter(|f| facts.matches.pool_of(&f.name).is_some())
        .collect();
    for fw in chosen
        .iter()
        .filter(|f| f.verdict.refuses(facts.layout.firmware.mode))
    {
        plan.blockers.push(Blocker::Firmware {
            drive: fw.drive.clone(),
            revision: fw.revision.clone(),
            message: fw.verdict.to_string(),
        });
    }
    for fw in chosen
        .iter()
        .filter(|f| f.verdict.is_problem() && !f.verdict.refuses(facts.layout.firmware.mode))
    {
        let mode = if facts.layout.firmware.mode == Enforcement::Warn {
            " (firmware mode is warn)"
        } else {
            ""
        };
        plan.warnings.push(Warning {
            code: "firmware",
            subject: fw.drive.clone(),
            message: format!(
                "{}: firmware {}: {}{mode}",
                fw.drive, fw.revision, fw.verdict
            ),
        });
    }
    plan.warnings.extend(hardware_aware_warnings(facts));

    for pool in &facts.layout.pools {
        let assignment = facts
            .matches
            .assignments
            .iter()
            .find(|a| a.pool == pool.name());
        plan_pool(facts, pool, assignment, &mut plan);
    }
    // Order matters for a resumable apply: wipes and imports, then pools, then datasets.
    plan.actions.sort_by_key(|a| match a {
        Action::WipeDrive { .. } => 0,
        Action::ImportPool { .. } => 1,
        Action::CreatePool { .. } => 2,
        Action::SetPoolProperty { .. } => 3,
        Action::CreateDataset { .. } | Action::SetDatasetProperties { .. } => 4,
    });
    plan
}

fn string_map(m: &BTreeMap<String, crate::layout::PropertyValue>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| (k.clone(), v.as_str().to_string()))
        .collect()
}

fn plan_pool(facts: &Facts, pool: &PoolSpec, assignment: Option<&Assignment>, plan: &mut Plan) {
    let name = pool.name();
    if let Some(observed) = facts.observed.pool(name) {
        if assignment.is_some_and(|a| !a.drives.iter().any(|d| d.in_place)) {
            plan.blockers.push(Blocker::PoolElsewhere {
                pool: name.into(),
                devices: observed.device_paths.clone(),
            });
            return;
        }
        plan_pool_properties(pool, observed, plan);
        plan_datasets(facts, pool, plan);
        return;
    }
    if let Some(importable) = facts.observed.importable(name) {
        plan.actions.push(Action::ImportPool {
            pool: name.into(),
            guid: importable.guid,
        });
        plan.notes.push(format!(
            "pool `{name}` exists but is not imported: apply imports it, then plans its datasets again from what the import shows"
        ));
        return;
    }
    let Some(assignment) = assignment else { return };
    let mut blocked = false;
    for drive in &assignment.drives {
        let Some(disk) = facts.inventory.disks.iter().find(|d| d.name == drive.name) else {
            continue;
        };
        let found: Vec<String> = match &disk.probe {
            ProbeState::Read { signatures } => signatures
                .iter()
                .map(|s| {
                    let label = s
                        .label
                        .as_deref()
                        .map(|l| format!(" `{l}`"))
                        .unwrap_or_default();
                    format!("{:?}{label} at byte {}", s.kind, s.offset).to_lowercase()
                })
                .collect(),
            ProbeState::Unreadable { error } => {
                vec![format!("could not be read to prove it blank: {error}")]
            }
            ProbeState::NotProbed => vec!["not probed".into()],
        };
        let found: Vec<String> = if disk.partitions.is_empty() {
            found
        } else {
            std::iter::once(format!("partitions {}", disk.partitions.join(", ")))
                .chain(found)
                .collect()
        };
        if found.is_empty() {
            continue;
        }
        let serial = disk.serial.clone();
        if serial.as_ref().is_some_and(|s| facts.wipe.contains(s))
            && !matches!(disk.probe, ProbeState::Unreadable { .. })
        {
            plan.actions.push(Action::WipeDrive {
                drive: disk.describe(),
                serial: serial.unwrap_or_default(),
                path: drive.path.clone(),
                signatures: found,
            });
        } else {
            plan.blockers.push(Blocker::DriveHoldsData {
                drive: disk.describe(),
                serial,
                found,
            });
            blocked = true;
        }
    }
    if blocked {
        return;
    }
    plan.actions.push(Action::CreatePool {
        pool: name.into(),
        vdev: pool.vdev,
        devices: assignment.drives.iter().map(|d| d.path.clone()).collect(),
        properties: string_map(&pool.properties),
        filesystem_properties: string_map(&pool.filesystem_properties),
    });
    for ds in facts.layout.datasets_of(name) {
        plan.actions.push(Action::CreateDataset {
            dataset: ds.name().into(),
            properties: string_map(&ds.properties),
        });
    }
}

fn plan_pool_properties(
    pool: &PoolSpec,
    observed: &crate::observed::ObservedPool,
    plan: &mut Plan,
) {
    for (prop, value) in &pool.properties {
        let want = normalize(PropertyScope::Pool, prop, value.as_str());
        let Some(have) = observed.properties.get(prop) else {
            continue;
        };
        if *have == want {
            continue;
        }
        if prop == "ashift" {
            // ashift is fixed per vdev when it is created; the pool property only seeds new vdevs.
            plan.warnings.push(Warning {
                code: "ashift-differs",
                subject: pool.name().into(),
                message: format!(
                    "pool `{}` has ashift {have}, the layout says {want}: ashift is fixed when a vdev is created and cannot be changed in place",
                    pool.name()
                ),
            });
            continue;
        }
        plan.actions.push(Action::SetPoolProperty {
            pool: pool.name().into(),
            property: prop.clone(),
            from: have.clone(),
            to: value.as_str().into(),
        });
    }
}

fn plan_datasets(facts: &Facts, pool: &PoolSpec, plan: &mut Plan) {
    let root = std::iter::once((
        pool.name().to_string(),
        string_map(&pool.filesystem_properties),
    ));
    let children = facts
        .layout
        .datasets_of(pool.name())
        .map(|d| (d.name().to_string(), string_map(&d.properties)));
    for (name, desired) in root.chain(children) {
        let Some(have) = facts.observed.dataset(&name) else {
            plan.actions.push(Action::CreateDataset {
                dataset: name,
                properties: desired,
            });
            continue;
        };
        if have.kind == DatasetKind::Volume {
            plan.blockers
                .push(Blocker::WrongDatasetKind { dataset: name });
            continue;
        }
        let changes: Vec<PropertyChange> = desired
            .iter()
            .filter_map(|(prop, value)| {
                let want = normalize(PropertyScope::Dataset, prop, value);
                let current = have
                    .properties
                    .get(prop)
                    .map(|v| v.value.as_str())
                    .unwrap_or("");
                (current != want).then(|| PropertyChange {
                    property: prop.clone(),
                    from: current.into(),
                    to: value.clone(),
                })
            })
            .collect();
        if !changes.is_empty() {
            plan.actions.push(Action::SetDatasetProperties {
                dataset: name,
                changes,
            });
        }
    }
}

/// The layout's own warnings, with the pool capacity taken from the matched drives where known.
fn hardware_aware_warnings(facts: &Facts) -> Vec<Warning> {
    let mut warnings: Vec<Warning> = layout_warnings(facts.layout);
    for a in &facts.matches.assignments {
        let Some(pool) = facts.layout.pool(&a.pool) else {
            continue;
        };
        let Some(smallest) = a.drives.iter().map(|d| d.size_bytes).min() else {
            continue;
        };
        let largest = a
            .drives
            .iter()
            .map(|d| d.size_bytes)
            .max()
            .unwrap_or(smallest);
        if pool.vdev == VdevLayout::Mirror && largest != smallest {
            warnings.push(Warning {
                code: "mirror-sizes-differ",
                subject: a.pool.clone(),
                message: format!(
                    "the members of mirror `{}` differ in size ({} to {}): the pool holds {}, the smallest",
                    a.pool,
                    size::decimal(smallest),
                    size::decimal(largest),
                    size::decimal(smallest)
                ),
            });
        }
        warnings.retain(|w| !(w.code == "quota-overcommit" && w.subject == a.pool));
        let what = match pool.vdev {
            VdevLayout::Mirror => format!("a mirror of {} drives", size::decimal(smallest)),
            VdevLayout::Single => format!("a single {} drive", size::decimal(smallest)),
        };
        warnings.extend(quota_overcommit(facts.layout, pool, smallest, &what));
    }
    warnings
}
