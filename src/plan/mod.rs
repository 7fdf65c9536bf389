//! Desired layout against observed state: an ordered list of actions, the warnings an expert would
//! give, and the blockers that stop the run before anything changes. Pure: no I/O, no processes.

use crate::firmware::{DriveFirmware, Enforcement};
use crate::inventory::probe::{Signature, SignatureKind};
use crate::inventory::{Inventory, ProbeState};
use crate::journal::PendingCreate;
use crate::layout::properties::{normalize, PropertyScope};
use crate::layout::{layout_warnings, quota_overcommit, Layout, PoolSpec, VdevLayout, Warning};
use crate::matching::{Assignment, MatchReport};
use crate::observed::{DatasetKind, Observed};
use crate::size;
use serde::Serialize;
use std::collections::BTreeMap;

mod action;
mod blocker;
mod services;

pub use action::{Action, PropertyChange};
pub use blocker::Blocker;
pub use services::{Deferred, NFS_SERVER_PACKAGE, SMARTD_UNIT};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub warnings: Vec<Warning>,
    pub blockers: Vec<Blocker>,
    /// Things worth saying that are neither actions nor problems.
    pub notes: Vec<String>,
    /// What the layout asks for that cannot be done on this host now; a later run does it.
    pub deferred: Vec<Deferred>,
    /// Run once the host matches the layout, in order: from a live system, the export that
    /// hands the pools back to the installed system.
    pub afterwards: Vec<Action>,
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
    pub consent: &'a Consent,
    /// Pool creations an earlier apply began and did not finish (the journal).
    pub pending: &'a [PendingCreate],
    pub services: &'a crate::services::HostServices,
    pub target: &'a crate::target::Target,
}

/// What the administrator allowed beyond the safe default, on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consent {
    /// Serials whose drives may be wiped (`--wipe SERIAL`).
    pub wipe: Vec<String>,
    /// Pools that another system had imported last may be imported (`--force-import`).
    pub force_import: bool,
}

pub fn plan(facts: &Facts) -> Plan {
    let mut plan = Plan {
        actions: Vec::new(),
        warnings: Vec::new(),
        blockers: Vec::new(),
        notes: Vec::new(),
        deferred: Vec::new(),
        afterwards: Vec::new(),
    };
    if let Some(why) = &facts.observed.import_scan_skipped {
        plan.notes.push(format!(
            "`zpool import` was not asked for exported pools: {why}"
        ));
    }
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
    services::health_blockers(facts, &mut plan);
    plan.warnings.extend(hardware_aware_warnings(facts));

    let sharenfs = services::nfs_properties(facts, &mut plan);
    for pool in &facts.layout.pools {
        let assignment = facts
            .matches
            .assignments
            .iter()
            .find(|a| a.pool == pool.name());
        plan_pool(facts, pool, assignment, &sharenfs, &mut plan);
    }
    services::plan_services(facts, &mut plan);
    plan_handover(facts, &mut plan);
    // Order matters for a resumable apply: wipes and imports, then pools, then datasets, then
    // the services that rest on them.
    plan.actions.sort_by_key(|a| match a {
        Action::ClearZfsLabels { .. } | Action::WipeDrive { .. } => 0,
        Action::ImportPool { .. } => 1,
        Action::CreatePool { .. } | Action::ReplaceMember { .. } => 2,
        Action::SetPoolProperty { .. } => 3,
        Action::CreateDataset { .. } | Action::SetDatasetProperties { .. } => 4,
        Action::InstallPackages { .. } => 5,
        Action::RegisterStorage { .. } => 6,
        Action::WriteFile { .. } => 7,
        Action::ReloadService { .. } => 8,
        Action::SetModuleParameter { .. } => 10,
        Action::RefreshInitramfs { .. } => 12,
        Action::BindMount { .. } => 9,
        Action::ExportPool { .. } => 13,
    });
    plan
}

/// From a live system: every pool of the layout that is (or is about to be) imported here goes
/// back to the installed system at the end. Its next boot imports it; the deferred unit makes
/// sure of that for a pool its zpool.cache does not list (one created or imported from here).
fn plan_handover(facts: &Facts, plan: &mut Plan) {
    if !facts.target.exports_pools() {
        return;
    }
    for pool in &facts.layout.pools {
        let name = pool.name();
        let here = facts.observed.pool(name).is_some()
            || plan.actions.iter().any(|a| {
                matches!(a, Action::ImportPool { pool, .. } | Action::CreatePool { pool, .. } if pool == name)
            });
        if !here {
            continue;
        }
        plan.afterwards.push(Action::ExportPool {
            pool: name.into(),
            why: "the installed system imports it at its next boot".into(),
        });
        plan.deferred.push(Deferred {
            subject: format!("import {name}"),
            why: "exported for the installed system; its next boot imports it".into(),
        });
    }
}

/// What the layout sets on a dataset, plus its `sharenfs` when it is exported now.
fn desired_properties(
    ds: &crate::layout::DatasetSpec,
    sharenfs: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut desired = string_map(&ds.properties);
    if let Some(value) = sharenfs.get(ds.name()) {
        desired.insert("sharenfs".into(), value.clone());
    }
    desired
}

fn string_map(m: &BTreeMap<String, crate::layout::PropertyValue>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| (k.clone(), v.as_str().to_string()))
        .collect()
}

fn plan_pool(
    facts: &Facts,
    pool: &PoolSpec,
    assignment: Option<&Assignment>,
    sharenfs: &BTreeMap<String, String>,
    plan: &mut Plan,
) {
    let name = pool.name();
    if let Some(observed) = facts.observed.pool(name) {
        if assignment.is_some_and(|a| !a.drives.iter().any(|d| d.in_place)) {
            plan.blockers.push(Blocker::PoolElsewhere {
                pool: name.into(),
                devices: observed.device_paths.clone(),
            });
            return;
        }
        plan_replacements(facts, pool, observed, assignment, plan);
        plan_pool_properties(pool, observed, plan);
        plan_datasets(facts, pool, sharenfs, plan);
        return;
    }
    if let Some(importable) = facts.observed.importable(name) {
        if importable.last_used_elsewhere && !facts.consent.force_import {
            plan.blockers.push(Blocker::PoolLastUsedElsewhere {
                pool: name.into(),
                guid: importable.guid,
            });
            return;
        }
        plan.actions.push(Action::ImportPool {
            pool: name.into(),
            guid: importable.guid,
            force: importable.last_used_elsewhere,
            altroot: facts.target.altroot(),
        });
        plan.notes.push(format!(
            "pool `{name}` exists but is not imported: apply imports it, then plans its datasets again from what the import shows"
        ));
        return;
    }
    let Some(assignment) = assignment else { return };
    let mut blocked = false;
    let mut force = false;
    for drive in &assignment.drives {
        let Some(disk) = facts.inventory.disks.iter().find(|d| d.name == drive.name) else {
            continue;
        };
        let found = held_data(disk);
        if found.is_empty() {
            continue;
        }
        if interrupted_here(facts.pending, name, &drive.path, &disk.probe) {
            // Our own `zpool create`, cut off after it partitioned the drive: redo it with -f.
            force = true;
            continue;
        }
        if !wipe_or_refuse(facts, disk, &drive.path, found, plan) {
            blocked = true;
        }
    }
    if blocked {
        return;
    }
    plan.actions.push(Action::CreatePool {
        pool: name.into(),
        force,
        vdev: pool.vdev,
        devices: assignment.drives.iter().map(|d| d.path.clone()).collect(),
        properties: string_map(&pool.properties),
        filesystem_properties: string_map(&pool.filesystem_properties),
        altroot: facts.target.altroot(),
    });
    for ds in facts.layout.datasets_of(name) {
        plan.actions.push(Action::CreateDataset {
            dataset: ds.name().into(),
            properties: desired_properties(ds, sharenfs),
        });
    }
}

/// What a drive holds that a pool created on it would destroy, in words; empty when it is
/// provably blank.
fn held_data(disk: &crate::inventory::Disk) -> Vec<String> {
    let found: Vec<String> = match &disk.probe {
        ProbeState::Read { signatures } => signatures
            .iter()
            .map(|s| {
                let label = s
                    .label
                    .as_deref()
                    .map(|l| format!(" `{l}`"))
                    .unwrap_or_default();
                format!("{}{label} at byte {}", s.kind, s.offset)
            })
            .collect(),
        ProbeState::Unreadable { error } => {
            vec![format!("could not be read to prove it blank: {error}")]
        }
        ProbeState::NotProbed => vec!["not probed".into()],
    };
    if disk.partitions.is_empty() {
        found
    } else {
        std::iter::once(format!("partitions {}", disk.partitions.join(", ")))
            .chain(found)
            .collect()
    }
}

/// A drive that holds `found` is wiped when the administrator named its serial with --wipe
/// (and it could be read), and otherwise refused. Returns whether it may be used.
fn wipe_or_refuse(
    facts: &Facts,
    disk: &crate::inventory::Disk,
    path: &str,
    found: Vec<String>,
    plan: &mut Plan,
) -> bool {
    let serial = disk.serial.clone();
    if serial
        .as_ref()
        .is_some_and(|s| facts.consent.wipe.contains(s))
        && !matches!(disk.probe, ProbeState::Unreadable { .. })
    {
        for label_path in zfs_label_paths(&disk.probe, path) {
            plan.actions.push(Action::ClearZfsLabels {
                drive: disk.describe(),
                path: label_path,
            });
        }
        plan.actions.push(Action::WipeDrive {
            drive: disk.describe(),
            serial: serial.unwrap_or_default(),
            path: path.to_string(),
            signatures: found,
        });
        true
    } else {
        plan.blockers.push(Blocker::DriveHoldsData {
            drive: disk.describe(),
            serial,
            found,
        });
        false
    }
}

/// A degraded mirror of the layout: each missing member is replaced by a drive matching chose
/// for it, once that drive is provably blank (or named with --wipe); a member with no drive
/// to replace it is a warning, since the pool still serves its data.
fn plan_replacements(
    facts: &Facts,
    pool: &PoolSpec,
    observed: &crate::observed::ObservedPool,
    assignment: Option<&Assignment>,
    plan: &mut Plan,
) {
    let name = pool.name();
    if let Some(scan) = observed
        .scan
        .as_deref()
        .filter(|s| s.starts_with("resilver in progress"))
    {
        plan.notes
            .push(format!("pool `{name}` is resilvering: {scan}"));
    }
    let mut newcomers = assignment
        .into_iter()
        .flat_map(|a| &a.drives)
        .filter(|d| !d.in_place);
    for member in &observed.missing {
        let was = member
            .was
            .as_deref()
            .map(|w| format!(" (was {w})"))
            .unwrap_or_default();
        let Some(drive) = newcomers.next() else {
            plan.warnings.push(Warning {
                code: "pool-degraded",
                subject: name.into(),
                message: format!(
                    "pool `{name}` is {}: member {}{was} is {}; plug in a blank drive ({}) and run `phoenix-zfs apply` to put it in its place",
                    observed.health,
                    member.name,
                    member.state,
                    crate::matching::wanted(pool)
                ),
            });
            continue;
        };
        let Some(disk) = facts.inventory.disks.iter().find(|d| d.name == drive.name) else {
            continue;
        };
        let found = held_data(disk);
        if !found.is_empty() && !wipe_or_refuse(facts, disk, &drive.path, found, plan) {
            continue;
        }
        plan.actions.push(Action::ReplaceMember {
            pool: name.into(),
            missing: member.name.clone(),
            was: member.was.clone(),
            drive: disk.describe(),
            new_device: drive.path.clone(),
        });
    }
}

/// Whether a drive holds nothing but what an interrupted `zpool create` of `pool` on it leaves:
/// the journal names the drive for that pool, and every signature is the whole-disk ZFS
/// partitioning or a label of that same pool.
fn interrupted_here(pending: &[PendingCreate], pool: &str, path: &str, probe: &ProbeState) -> bool {
    let journaled = pending
        .iter()
        .any(|p| p.pool == pool && p.devices.iter().any(|d| d == path));
    let ProbeState::Read { signatures } = probe else {
        return false;
    };
    journaled
        && signatures.iter().all(|s| match s.kind {
            SignatureKind::ProtectiveMbr | SignatureKind::GptBackup => true,
            SignatureKind::Gpt => s
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("whole-disk ZFS")),
            SignatureKind::ZfsLabel => s.label.as_deref().is_none_or(|l| l == pool),
            _ => false,
        })
}

/// Where an old pool's labels sit on a drive: on the whole disk when they were found there, in
/// partition 1 when the drive has the GPT a whole-disk `zpool create` makes.
fn zfs_label_paths(probe: &ProbeState, disk_path: &str) -> Vec<String> {
    let ProbeState::Read { signatures } = probe else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    if signatures.iter().any(|s| s.kind == SignatureKind::ZfsLabel) {
        paths.push(disk_path.to_string());
    }
    let whole_disk_vdev = |s: &&Signature| {
        s.kind == SignatureKind::Gpt
            && s.detail
                .as_deref()
                .is_some_and(|d| d.contains("whole-disk ZFS"))
    };
    if signatures.iter().any(|s| whole_disk_vdev(&s)) {
        paths.push(format!("{disk_path}-part1"));
    }
    paths
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

fn plan_datasets(
    facts: &Facts,
    pool: &PoolSpec,
    sharenfs: &BTreeMap<String, String>,
    plan: &mut Plan,
) {
    let root = std::iter::once((
        pool.name().to_string(),
        string_map(&pool.filesystem_properties),
    ));
    let children = facts
        .layout
        .datasets_of(pool.name())
        .map(|d| (d.name().to_string(), desired_properties(d, sharenfs)));
    // Indexed once: a linear lookup per layout dataset made planning quadratic in datasets.
    let observed: BTreeMap<&str, &crate::observed::ObservedDataset> = facts
        .observed
        .datasets
        .iter()
        .map(|d| (d.name.as_str(), d))
        .collect();
    for (name, desired) in root.chain(children) {
        let Some(have) = observed.get(name.as_str()).copied() else {
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
                // Normalised on both sides: an older zfs may print the form the layout uses.
                let same = normalize(PropertyScope::Dataset, prop, current) == want;
                (!same).then(|| PropertyChange {
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
