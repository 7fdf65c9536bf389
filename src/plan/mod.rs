//! Desired layout against observed state: an ordered list of actions, the warnings an expert would
//! give, and the blockers that stop the run before anything changes. Pure: no I/O, no processes.

use crate::exit::Exit;
use crate::firmware::{DriveFirmware, Enforcement};
use crate::formats::ondisk::SignatureKind;
use crate::formats::size;
use crate::layout::properties::{in_layout_units, normalize, PropertyScope};
use crate::layout::{layout_warnings, quota_overcommit, Layout, PoolSpec, VdevLayout, Warning};
use crate::matching::{Assignment, MatchReport};
use crate::model::disk::{Inventory, ProbeState};
use crate::model::pending::PendingCreate;
use crate::model::pools::{DatasetKind, Observed};
use serde::Serialize;
use std::collections::BTreeMap;

mod action;
mod blocker;
pub mod kept;
mod services;

#[cfg(test)]
mod gate_tests;

pub use action::{wiped_drives, Action, Difference, PropertyChange, WipeConsent};
pub use blocker::Blocker;
pub use services::{Deferred, NFS_SERVER_PACKAGE};

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
    /// The exit the blockers call for: hardware (3) before firmware (4) before data (5), the
    /// order in which an administrator has to fix them.
    pub fn exit(&self) -> Option<Exit> {
        self.blockers.iter().map(Blocker::exit).min()
    }

    /// [`Plan::exit`] as the number the manifest and the JSON output carry.
    pub fn exit_code(&self) -> Option<u8> {
        self.exit().map(Exit::code)
    }

    /// What apply asks on a terminal before it acts: it names each drive it erases, and says so
    /// when it erases none.
    pub fn confirmation(&self) -> String {
        let n = self.actions.len();
        match action::wiped_drives(&self.actions).as_slice() {
            [] => format!("Apply these {n} action(s)? No drive is wiped."),
            drives => format!(
                "Apply these {n} action(s), ERASING everything on {}?",
                drives.join(", ")
            ),
        }
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
    pub services: &'a crate::model::services::HostServices,
    pub target: &'a crate::host::target::Target,
}

/// What the administrator allowed beyond the safe default, on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consent {
    /// Serials whose drives may be wiped (`--wipe SERIAL`).
    pub wipe: Vec<String>,
    /// Pools that another system had imported last may be imported (`--force-import`).
    pub force_import: bool,
}

/// Each name of `consent.wipe` must be a drive's [`wipe_name`](crate::model::disk::Disk::wipe_name)
/// among `disks`: a typo would otherwise pass as a consent that consents to nothing, and the run
/// would refuse the drive it was meant for. The error names the first such name and the names
/// the host has. The command line checks it once the drives are read, before anything is planned.
pub fn check_wipes(consent: &Consent, disks: &[crate::model::disk::Disk]) -> Result<(), String> {
    let present: Vec<String> = disks.iter().filter_map(|d| d.wipe_name(disks)).collect();
    match consent.wipe.iter().find(|w| !present.contains(w)) {
        None => Ok(()),
        Some(named) => Err(format!(
            "--wipe {named}: no drive here has that serial; the drives here: {}",
            present.join(", ")
        )),
    }
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
    if facts.observed.other_pools_unknown {
        plan.notes.push(
            "this --root host's transcripts ask `zpool list` for the layout's pools only: pools the layout does not describe are unknown here".into(),
        );
    }
    if facts.observed.destroyed_unknown {
        plan.notes.push(
            "this --root host's transcripts hold no `zpool import -D`: destroyed pools, which `zpool import -D` could bring back, are unknown here".into(),
        );
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
            name: fw.name.clone(),
            serial: fw.serial.clone(),
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

    let observed = facts.services.observed;
    if !observed {
        plan.notes.push(
            "NFS exports, Proxmox storages and smartd are not observed on a host read with --root: nothing is said of them".into(),
        );
    }
    let sharenfs = match observed {
        true => services::nfs_properties(facts, &mut plan),
        false => BTreeMap::new(),
    };
    for pool in &facts.layout.pools {
        let assignment = facts
            .matches
            .assignments
            .iter()
            .find(|a| a.pool == pool.name());
        plan_pool(facts, pool, assignment, &sharenfs, &mut plan);
    }
    if observed {
        services::plan_services(facts, &mut plan);
    }
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
    if facts.matches.name_taken(name) {
        // A pool that is not the layout's has the name: matching's refusal says whose it is.
        return;
    }
    if let Some(observed) = facts.observed.pool(name) {
        if assignment.is_some_and(|a| !a.drives.iter().any(|d| d.in_place)) {
            plan.blockers.push(Blocker::PoolElsewhere {
                pool: name.into(),
                devices: observed.members.iter().map(|m| m.path.clone()).collect(),
            });
            return;
        }
        plan_replacements(facts, pool, observed, assignment, plan);
        plan_pool_properties(pool, observed, plan);
        plan_datasets(facts, pool, sharenfs, plan);
        return;
    }
    // The exported pool matching found to be the layout's, by its guid.
    let importable = facts.matches.found(name).and_then(|found| {
        facts
            .observed
            .importable
            .iter()
            .find(|p| Some(p.guid) == found.guid)
    });
    if let Some(importable) = importable {
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
    for drive in &assignment.drives {
        let Some(disk) = facts.inventory.disks.iter().find(|d| d.name == drive.name) else {
            continue;
        };
        if !clear_to_write(facts, Some(name), disk, &drive.path, plan) {
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
        altroot: facts.target.altroot(),
    });
    for ds in facts.layout.datasets_of(name) {
        plan.actions.push(Action::CreateDataset {
            dataset: ds.name().into(),
            properties: desired_properties(ds, sharenfs),
        });
    }
}

/// The one gate in front of every command that writes a drive (create, replace): the drive is
/// proven blank (every byte read is zero, and no witness objects); or it holds exactly the
/// remains of a create of `pool` that the journal names it for, which are wiped; or the
/// administrator named its serial with --wipe and everything on it could be read, and it is
/// wiped. Otherwise the drive is refused. Returns whether it may be written.
fn clear_to_write(
    facts: &Facts,
    journal_pool: Option<&str>,
    disk: &crate::model::disk::Disk,
    path: &str,
    plan: &mut Plan,
) -> bool {
    let found = crate::contents::findings(disk);
    if found.is_empty() {
        return true;
    }
    let serial = disk.serial.as_deref();
    let journaled = journal_pool.and_then(|pool| {
        facts
            .pending
            .iter()
            .find(|p| p.pool == pool && p.names(serial, path))
    });
    if let Some(entry) = journaled {
        let pool = entry.pool.as_str();
        let mut foreign: Vec<String> = crate::contents::foreign_to_create(disk, pool)
            .iter()
            .map(ToString::to_string)
            .collect();
        if let Some(guids) = mixed_pool_guids(facts, entry) {
            foreign.push(format!(
                "the drives the entry names carry labels of {} different pools named `{pool}` (guids {})",
                guids.len(),
                guids.join(", ")
            ));
        }
        if foreign.is_empty() {
            plan.notes.push(format!(
                "{} holds only the remains of the creation of pool `{pool}` begun at {} (the journal {} names it): apply wipes them and creates the pool again",
                disk.describe(),
                entry.started_at,
                crate::apply::journal::PATH
            ));
            plan.actions.push(Action::WipeDrive {
                drive: disk.describe(),
                serial: serial.unwrap_or_default().to_string(),
                path: path.to_string(),
                signatures: found.clone(),
                consent: WipeConsent::InterruptedCreate {
                    pool: pool.to_string(),
                    started_at: entry.started_at.clone(),
                },
            });
            return true;
        }
        plan.notes.push(format!(
            "the journal {} names {} for pool `{pool}`, but the drive holds more than that creation leaves ({}): the entry is not honoured",
            crate::apply::journal::PATH,
            disk.describe(),
            foreign.join("; ")
        ));
    }
    let wipe_name = disk.wipe_name(&facts.inventory.disks);
    let named = wipe_name
        .as_deref()
        .is_some_and(|name| facts.consent.wipe.iter().any(|w| w == name));
    let readable = crate::contents::fully_read(disk);
    if named && readable {
        plan_wipe(disk, path, found, plan);
        return true;
    }
    plan.blockers.push(Blocker::DriveHoldsData {
        disk: disk.name.clone(),
        model: disk.model.clone(),
        serial: disk.serial.clone(),
        wipe_name,
        path: path.to_string(),
        found,
        readable,
        layout_pool: crate::contents::label_pool_names(disk)
            .into_iter()
            .find(|name| facts.layout.pool(name).is_some()),
    });
    false
}

/// The pool GUIDs of the labels on the drives a journal entry names, when there is more than
/// one: one create makes one pool, so labels of two are not its remains.
fn mixed_pool_guids(
    facts: &Facts,
    entry: &crate::model::pending::PendingCreate,
) -> Option<Vec<String>> {
    let mut guids: Vec<String> = facts
        .inventory
        .disks
        .iter()
        .filter(|d| entry.names(d.serial.as_deref(), &d.preferred_path))
        .flat_map(crate::contents::label_pool_guids)
        .collect();
    guids.sort();
    guids.dedup();
    (guids.len() > 1).then_some(guids)
}

/// What --wipe SERIAL does to a drive: the ZFS labels of an old pool cleared where they are
/// (whole disk or partition), every partition holding anything wiped, then the disk itself.
/// Partitions only a table describes have no device node to address: wiping the disk's table
/// and creating the pool over them is what erases them.
fn plan_wipe(
    disk: &crate::model::disk::Disk,
    path: &str,
    found: Vec<crate::contents::Finding>,
    plan: &mut Plan,
) {
    let has_zfs_label = |probe: &ProbeState, udev: Option<&crate::model::disk::BlkidView>| {
        probe
            .signatures()
            .is_some_and(|s| s.iter().any(|s| s.kind == SignatureKind::ZfsLabel))
            || udev.is_some_and(|v| v.fs_type.as_deref() == Some("zfs_member"))
    };
    for p in disk.partitions.iter().filter(|p| p.has_node()) {
        let Some(number) = p.number else { continue };
        let part_path = format!("{path}-part{number}");
        if has_zfs_label(&p.probe, p.udev.as_ref()) {
            plan.actions.push(Action::ClearZfsLabels {
                drive: disk.describe(),
                path: part_path.clone(),
            });
        }
        let holds = found
            .iter()
            .any(|f| f.device == p.name && f.witness != crate::contents::Witness::Kernel);
        if holds {
            plan.actions.push(Action::WipeDrive {
                drive: format!("{} partition {number}", disk.describe()),
                serial: disk.serial.clone().unwrap_or_default(),
                path: part_path,
                signatures: found
                    .iter()
                    .filter(|f| f.device == p.name)
                    .cloned()
                    .collect(),
                consent: WipeConsent::Named,
            });
        }
    }
    if has_zfs_label(&disk.probe, disk.udev.as_ref()) {
        plan.actions.push(Action::ClearZfsLabels {
            drive: disk.describe(),
            path: path.to_string(),
        });
    }
    plan.actions.push(Action::WipeDrive {
        drive: disk.describe(),
        serial: disk.serial.clone().unwrap_or_default(),
        path: path.to_string(),
        signatures: found.clone(),
        consent: WipeConsent::Named,
    });
}

/// A degraded mirror of the layout: each missing member is replaced by a drive matching chose
/// for it, once that drive is provably blank (or named with --wipe); a member with no drive
/// to replace it is a warning, since the pool still serves its data.
fn plan_replacements(
    facts: &Facts,
    pool: &PoolSpec,
    observed: &crate::model::pools::ObservedPool,
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
                    "pool `{name}` is {}: member {}{was} is {}; plug in a blank drive ({}) and run `{}` to put it in its place",
                    observed.health,
                    member.name,
                    member.state,
                    crate::matching::wanted(pool),
                    crate::remedy::APPLY
                ),
            });
            continue;
        };
        let Some(disk) = facts.inventory.disks.iter().find(|d| d.name == drive.name) else {
            continue;
        };
        // No journal entry is ever written for a replacement: only blank or --wipe.
        if !clear_to_write(facts, None, disk, &drive.path, plan) {
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

fn plan_pool_properties(
    pool: &PoolSpec,
    observed: &crate::model::pools::ObservedPool,
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
            from: in_layout_units(PropertyScope::Pool, prop, have),
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
    let observed: BTreeMap<&str, &crate::model::pools::ObservedDataset> = facts
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
                    from: in_layout_units(PropertyScope::Dataset, prop, current),
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
