//! Drives to pools: by size class (IDEMA capacity with tolerance), model pattern and, when the
//! layout pins them, serial. Every drive gets a stated reason for being chosen or not, and any
//! doubt (a drive missing, one too many, one drive fitting two pools) stops the run with an
//! explanation instead of a guess.
//!
//! Pools that exist come first. A member of any class of a pool the layout does not describe,
//! imported, exported or destroyed, is never a candidate. A pool with a layout pool's name is
//! that pool only when it has the layout's shape on drives the layout would choose
//! ([`not_the_layouts`]); its data drives are then in place, and otherwise it is named as a
//! problem and its drives are another pool's.

use crate::contents::{member_is_on, member_of};
use crate::formats::size::{self, SizeClass};
use crate::formats::zfs::{VdevClass, VdevKind};
use crate::glob;
use crate::layout::{Layout, PoolSpec, VdevLayout};
use crate::model::disk::{Disk, Inventory, Transport};
use crate::model::pools::{DataVdev, ExistingPool, PoolMember, Presence};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssignedDrive {
    pub name: String,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub path: String,
    pub size_bytes: u64,
    /// Already a member of this pool: nothing to do for this drive.
    pub in_place: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub pool: String,
    pub drives: Vec<AssignedDrive>,
}

/// Why the hardware does not fit the layout. Each names the pool and the drives involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum MatchProblem {
    Missing {
        pool: String,
        needed: usize,
        found: Vec<String>,
        wanted: String,
        /// Drives that fit the pool but may not be used, each with why (mounted, held by
        /// device-mapper, a member of another pool, ...): the drive is there, not missing.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        unusable: Vec<String>,
    },
    ExtraCandidates {
        pool: String,
        needed: usize,
        found: Vec<String>,
        wanted: String,
    },
    /// Two namespaces of one drive (one controller serial) would be the same mirror: it would
    /// lose both copies with that drive.
    MirrorOnOneDrive {
        pool: String,
        serial: String,
        namespaces: Vec<String>,
    },
    FitsSeveralPools {
        drive: String,
        pools: Vec<String>,
    },
    /// A pool with a layout pool's name that is not that pool: another shape, drives the layout
    /// would not choose, or another of the name fits as well. Neither it nor the layout's pool
    /// is touched.
    NotTheLayoutsPool {
        pool: String,
        presence: Presence,
        guid: Option<u64>,
        /// The drives it is on, described, and the paths of members on none of the host's drives.
        drives: Vec<String>,
        /// What differs from the layout's pool.
        why: Vec<String>,
    },
}

impl MatchProblem {
    /// The one pool the problem is about; None for a drive that fits several.
    pub fn pool(&self) -> Option<&str> {
        match self {
            MatchProblem::Missing { pool, .. }
            | MatchProblem::ExtraCandidates { pool, .. }
            | MatchProblem::MirrorOnOneDrive { pool, .. }
            | MatchProblem::NotTheLayoutsPool { pool, .. } => Some(pool),
            MatchProblem::FitsSeveralPools { .. } => None,
        }
    }
}

impl std::fmt::Display for MatchProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MatchProblem::Missing { pool, needed, found, wanted, unusable } => {
                write!(f, "pool `{pool}` needs {needed} drive(s) of {wanted}, found {} usable", found.len())?;
                if !found.is_empty() {
                    write!(f, ": {}", found.join(", "))?;
                }
                if unusable.is_empty() {
                    return write!(f, "; install the missing drive(s), or describe the drives there are: {}", crate::remedy::EDIT_LAYOUT);
                }
                write!(f, ". Present but not usable: {}", unusable.join("; "))
            }
            MatchProblem::ExtraCandidates { pool, needed, found, wanted } => write!(
                f,
                "pool `{pool}` needs {needed} drive(s) of {wanted}, and {} fit: {}; name the ones to use with `serials = [...]` in the layout",
                found.len(),
                found.join(", ")
            ),
            MatchProblem::MirrorOnOneDrive { pool, serial, namespaces } => write!(
                f,
                "pool `{pool}` is a mirror, but {} are namespaces of one drive (serial {serial}): a mirror on one drive dies with it. Pin distinct drives with `serials = [...]` in the layout",
                namespaces.join(" and ")
            ),
            MatchProblem::FitsSeveralPools { drive, pools } => write!(
                f,
                "{drive} fits pools {}; pin it with `serials = [...]` in the pool it belongs to",
                pools.join(" and ")
            ),
            MatchProblem::NotTheLayoutsPool { pool, presence, guid, drives, why } => {
                let on = if drives.is_empty() { "no drive of this host".to_string() } else { drives.join(", ") };
                let known = guid.map(|g| format!(" (guid {g})")).unwrap_or_default();
                write!(
                    f,
                    "the {} pool `{pool}`{known} on {on} is not the layout's `{pool}`: {}. phoenix-zfs leaves it and its drives alone and makes no other `{pool}`. To keep its data under another name: {}; if it and its data may go: {}; then `{}`",
                    presence.as_str(),
                    why.join("; "),
                    rename_commands(pool, *presence, *guid),
                    destroy_commands(pool, *presence, *guid),
                    crate::remedy::APPLY
                )
            }
        }
    }
}

/// `zpool import -d /dev/disk/by-id GUID` (or the pool's name when its GUID is not known).
fn import_command(pool: &str, guid: Option<u64>) -> String {
    let which = guid.map_or_else(|| pool.to_string(), |g| g.to_string());
    format!("zpool import -d {} {which}", crate::formats::zfs::BY_ID_DIR)
}

/// The commands that destroy the pool `pool`, as an administrator runs them.
fn destroy_commands(pool: &str, presence: Presence, guid: Option<u64>) -> String {
    match presence {
        Presence::Imported => format!("`zpool destroy {pool}`"),
        Presence::Exported | Presence::Destroyed => {
            format!("`{} && zpool destroy {pool}`", import_command(pool, guid))
        }
    }
}

/// The commands that give the pool `pool` another name and leave it exported, as an
/// administrator runs them.
fn rename_commands(pool: &str, presence: Presence, guid: Option<u64>) -> String {
    let new_name = format!("{pool}-old");
    let which = guid.map_or_else(|| pool.to_string(), |g| g.to_string());
    let import = format!(
        "zpool import -d {} {which} {new_name}",
        crate::formats::zfs::BY_ID_DIR
    );
    let export = format!("zpool export {new_name}");
    match presence {
        Presence::Imported => format!("`zpool export {pool} && {import} && {export}`"),
        Presence::Exported | Presence::Destroyed => format!("`{import} && {export}`"),
    }
}

/// The decision about one drive, in words, for `detect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriveDecision {
    /// The drive's kernel name: the inventory has its model, serial, path and size.
    pub name: String,
    pub pool: Option<String>,
    pub reason: String,
}

/// A pool of the layout that exists on this host as the layout describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayoutPoolFound {
    pub pool: String,
    pub presence: Presence,
    /// What an exported one is imported by.
    pub guid: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchReport {
    pub assignments: Vec<Assignment>,
    pub decisions: Vec<DriveDecision>,
    pub problems: Vec<MatchProblem>,
    /// The layout's pools that exist here, imported or importable, with its shape on drives it
    /// would choose.
    pub found: Vec<LayoutPoolFound>,
}

impl MatchReport {
    pub fn fits(&self) -> bool {
        self.problems.is_empty()
    }

    /// The existing pool that is the layout's `pool`, if any.
    pub fn found(&self, pool: &str) -> Option<&LayoutPoolFound> {
        self.found.iter().find(|f| f.pool == pool)
    }

    /// Whether a pool that is not the layout's `pool` holds its name, and none that is: nothing
    /// may then be made or imported under that name.
    pub fn name_taken(&self, pool: &str) -> bool {
        self.found(pool).is_none()
            && self.problems.iter().any(
                |p| matches!(p, MatchProblem::NotTheLayoutsPool { pool: name, .. } if name == pool),
            )
    }

    pub fn pool_of(&self, drive: &str) -> Option<&str> {
        self.assignments
            .iter()
            .find(|a| a.drives.iter().any(|d| d.name == drive))
            .map(|a| a.pool.as_str())
    }
}

/// What a pool's drives must be, in words: its size class, models and pinned serials.
pub fn wanted(pool: &PoolSpec) -> String {
    let mut parts = Vec::new();
    if let Some(class) = pool.size_class {
        parts.push(format!("class {class}"));
    }
    if !pool.models.is_empty() {
        parts.push(format!("model {}", pool.models.join(" or ")));
    }
    if !pool.serials.is_empty() {
        parts.push(format!("serial {}", pool.serials.join(" or ")));
    }
    if parts.is_empty() {
        "any size and model".into()
    } else {
        parts.join(", ")
    }
}

/// Why `disk` does not fit `pool`, or None when it does.
fn misfit(disk: &Disk, pool: &PoolSpec, tolerance: f64) -> Option<String> {
    if let Some(class) = pool.size_class {
        if !class.contains(disk.size_bytes, tolerance) {
            let actual = SizeClass::of_drive(disk.size_bytes, tolerance)
                .map_or_else(|| "no standard class".to_string(), |c| format!("class {c}"));
            return Some(format!(
                "{} is {actual}, pool `{}` wants {class}",
                size::decimal(disk.size_bytes),
                pool.name()
            ));
        }
    }
    let model = disk.model.as_deref().unwrap_or("");
    if !pool.models.is_empty() && !pool.models.iter().any(|m| glob::matches(m, model)) {
        return Some(format!(
            "model `{model}` is not {} (pool `{}`)",
            pool.models.join(" or "),
            pool.name()
        ));
    }
    if !pool.serials.is_empty()
        && !disk
            .serial
            .as_deref()
            .is_some_and(|s| pool.serials.iter().any(|p| p == s))
    {
        return Some(format!(
            "serial {} is not pinned for pool `{}`",
            disk.serial.as_deref().unwrap_or("(none)"),
            pool.name()
        ));
    }
    None
}

/// "the special vdev of", "a member of": how a member serves its pool, in words.
fn role(member: &PoolMember) -> String {
    match member.class {
        VdevClass::Data => "a member of".to_string(),
        class => format!("in the {class} vdev of"),
    }
}

/// The path of the device `member` is on `disk`, as an administrator passes it to a command: the
/// partition it is (a whole-disk vdev's labels are in partition 1, whichever of the two zpool
/// names), by its by-id link where the disk has one.
fn device_path(disk: &Disk, member: &PoolMember) -> String {
    let by_number = member.major_minor.as_ref().and_then(|dev| {
        disk.partitions
            .iter()
            .find(|p| p.major_minor.as_ref() == Some(dev))
    });
    let by_name = || {
        disk.partitions.iter().find(|p| {
            let number = p.number.map(|n| format!("-part{n}"));
            member.path.rsplit('/').next() == Some(p.name.as_str())
                || number.is_some_and(|n| member.path.ends_with(&n))
        })
    };
    let whole_disk_vdev = || disk.partitions.iter().find(|p| p.number == Some(1));
    let Some(partition) = by_number.or_else(by_name).or_else(whole_disk_vdev) else {
        return disk.preferred_path.clone();
    };
    match partition.number {
        Some(n) if disk.preferred_path.starts_with("/dev/disk/") => {
            format!("{}-part{n}", disk.preferred_path)
        }
        _ => format!("/dev/{}", partition.name),
    }
}

/// Why a drive holding a member of a pool that is not the layout's stays out, with what the
/// administrator could do himself: phoenix-zfs never destroys another pool. A pool with a
/// layout pool's name (`named_like_ours`) is refused on its own, with what to do about it.
fn foreign_member(
    pool: &ExistingPool,
    member: &PoolMember,
    disk: &Disk,
    named_like_ours: bool,
) -> String {
    let name = &pool.name;
    let role = role(member);
    let presence = pool.presence.as_str();
    let never = "phoenix-zfs never uses another pool's drive, --wipe or not";
    let apply = crate::remedy::APPLY;
    if named_like_ours {
        return format!(
            "is {role} the {presence} pool `{name}`, which is not the layout's `{name}` (see its refusal); {never}"
        );
    }
    let destroy = destroy_commands(name, pool.presence, pool.guid);
    match pool.presence {
        Presence::Imported => format!(
            "is {role} the imported pool `{name}`, which the layout does not describe; {never}. If `{name}` and its data may go, run {destroy} yourself, then `{apply}`"
        ),
        Presence::Exported => format!(
            "is {role} the exported pool `{name}` (`zpool import` lists it), which the layout does not describe; {never}. If `{name}` and its data may go, run {destroy} yourself, then `{apply}`"
        ),
        Presence::Destroyed => format!(
            "is {role} the destroyed pool `{name}`, whose data `zpool import -D` can still bring back; {never}. To recover it: `zpool import -D -d {} {}`. If its data may go, run `zpool labelclear -f {}` yourself, then `{apply}`",
            crate::formats::zfs::BY_ID_DIR,
            pool.guid.map_or_else(|| name.clone(), |g| g.to_string()),
            device_path(disk, member)
        ),
    }
}

/// The layout's `pool` as a pool's main tree shows it: one device, or one mirror of its drives.
fn layout_shape(pool: &PoolSpec) -> DataVdev {
    let drives = *pool.drives.get_ref() as usize;
    match pool.vdev {
        VdevLayout::Single => DataVdev::new(VdevKind::Disk, 1),
        VdevLayout::Mirror => DataVdev::new(VdevKind::Mirror, drives),
    }
}

/// A pool's main tree in words: "a single device", "a mirror of 3", "2 top-level vdevs (...)".
fn describe_shape(vdevs: &[DataVdev]) -> String {
    let one = |v: &DataVdev| match v.kind {
        // A single device being replaced is still one device.
        VdevKind::Disk | VdevKind::Replacing | VdevKind::Spare => "a single device".to_string(),
        VdevKind::File => "a file".to_string(),
        VdevKind::Mirror => format!("a mirror of {}", v.devices),
        VdevKind::RaidZ { parity } => format!("a raidz{parity} of {}", v.devices),
        VdevKind::DRaid { parity, .. } => format!("a draid{parity} of {}", v.devices),
        // Neither is ever a top-level vdev of a pool's main tree.
        VdevKind::Root | VdevKind::DraidSpare => "another kind of vdev".to_string(),
    };
    match vdevs {
        [] => "of a shape zpool did not show".to_string(),
        [single] => one(single),
        several => format!(
            "{} top-level vdevs ({})",
            several.len(),
            several.iter().map(one).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Why `existing`, a pool with the name of the layout's `pool`, is not that pool, or nothing when
/// it is: the layout's shape (one device, or one mirror of its drive count), and every data
/// member on a drive of its own that the layout would choose ([`misfit`]: size class, models,
/// pinned serials). A member on none of the host's devices is gone (a degraded mirror) and is
/// not held against it. The one place that decides whether an existing pool fits a layout pool.
pub fn not_the_layouts(
    pool: &PoolSpec,
    existing: &ExistingPool,
    disks: &[Disk],
    tolerance: f64,
) -> Vec<String> {
    let mut why = Vec::new();
    let wanted_shape = layout_shape(pool);
    let shape_fits = match existing.data_vdevs.as_slice() {
        [only] if wanted_shape.kind == VdevKind::Disk => matches!(
            only.kind,
            VdevKind::Disk | VdevKind::Replacing | VdevKind::Spare
        ),
        [only] => *only == wanted_shape,
        _ => false,
    };
    if !shape_fits {
        why.push(format!(
            "it is {}, the layout's is {}",
            describe_shape(&existing.data_vdevs),
            describe_shape(&[wanted_shape])
        ));
    }
    let mut held: BTreeMap<&str, usize> = BTreeMap::new();
    for member in existing
        .members
        .iter()
        .filter(|m| m.class == VdevClass::Data)
    {
        match disks.iter().find(|d| member_is_on(member, d)) {
            Some(disk) => *held.entry(disk.name.as_str()).or_default() += 1,
            None if member.major_minor.is_some() => why.push(format!(
                "its member {} is none of the host's drives",
                member.path
            )),
            None => {}
        }
    }
    for (name, count) in &held {
        let Some(disk) = disks.iter().find(|d| d.name == *name) else {
            continue;
        };
        if disk.transport != Transport::Nvme {
            why.push(format!("{} is not an NVMe drive", disk.name));
        } else if let Some(misfit) = misfit(disk, pool, tolerance) {
            why.push(format!("{}: {misfit}", disk.name));
        }
        if *count > 1 {
            why.push(format!("{} holds {count} of its members", disk.name));
        }
    }
    why
}

/// The drives `existing` is on, described, and the paths of members on none of them.
fn drives_of(existing: &ExistingPool, disks: &[Disk]) -> Vec<String> {
    let mut drives: Vec<String> = Vec::new();
    for member in &existing.members {
        let said = match disks.iter().find(|d| member_is_on(member, d)) {
            Some(disk) => disk.describe(),
            None if member.major_minor.is_some() => member.path.clone(),
            None => continue,
        };
        if !drives.contains(&said) {
            drives.push(said);
        }
    }
    drives
}

/// Which existing pool each layout pool is, and the pools with a layout pool's name that are
/// not it (with why). An imported pool is the name's, as zpool sees it; among exported ones, the
/// one that fits, and none when several do: phoenix-zfs does not choose between them.
fn layout_pools_found<'e>(
    layout: &Layout,
    inventory: &Inventory,
    existing: &'e [ExistingPool],
) -> (Vec<(&'e ExistingPool, LayoutPoolFound)>, Vec<MatchProblem>) {
    let tolerance = layout.matching.tolerance();
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for pool in &layout.pools {
        let named = |presence: Presence| {
            existing
                .iter()
                .filter(move |e| e.name == pool.name() && e.presence == presence)
        };
        let judged: Vec<(&ExistingPool, Vec<String>)> = match named(Presence::Imported).next() {
            Some(imported) => vec![(
                imported,
                not_the_layouts(pool, imported, &inventory.disks, tolerance),
            )],
            None => named(Presence::Exported)
                .map(|e| (e, not_the_layouts(pool, e, &inventory.disks, tolerance)))
                .collect(),
        };
        let fitting: Vec<&ExistingPool> = judged
            .iter()
            .filter(|(_, why)| why.is_empty())
            .map(|(e, _)| *e)
            .collect();
        if let [adopted] = fitting.as_slice() {
            found.push((
                *adopted,
                LayoutPoolFound {
                    pool: pool.name().to_string(),
                    presence: adopted.presence,
                    guid: adopted.guid,
                },
            ));
            continue;
        }
        for (stranger, mut why) in judged {
            if why.is_empty() {
                why.push(format!(
                    "{} pools named `{}` fit the layout, and phoenix-zfs does not choose between them",
                    fitting.len(),
                    pool.name()
                ));
            }
            problems.push(MatchProblem::NotTheLayoutsPool {
                pool: stranger.name.clone(),
                presence: stranger.presence,
                guid: stranger.guid,
                drives: drives_of(stranger, &inventory.disks),
                why,
            });
        }
    }
    (found, problems)
}

pub fn match_drives(
    layout: &Layout,
    inventory: &Inventory,
    existing: &[ExistingPool],
) -> MatchReport {
    let tolerance = layout.matching.tolerance();
    let nvme: Vec<&Disk> = inventory
        .disks
        .iter()
        .filter(|d| d.transport == Transport::Nvme)
        .collect();
    let (found, mut problems) = layout_pools_found(layout, inventory, existing);
    let mut decisions = Vec::new();
    let mut in_place: BTreeMap<&str, &str> = BTreeMap::new();
    let mut fitting: BTreeMap<&str, Vec<&Disk>> = BTreeMap::new();

    // Drives that fit a pool by size and model but may not be used, by pool: said in `Missing`.
    let mut unusable: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut note_unusable = |disk: &Disk, why: String| {
        for pool in layout
            .pools
            .iter()
            .filter(|p| misfit(disk, p, tolerance).is_none())
        {
            unusable
                .entry(pool.name())
                .or_default()
                .push(format!("{} {why}", disk.describe()));
        }
    };
    for disk in &nvme {
        // Membership comes first: a layout pool's own drives are "mounted" through that pool's
        // datasets, which must not make them strangers to it.
        if let Some((home, member)) = member_of(disk, existing) {
            let ours = found
                .iter()
                .find(|(pool, _)| std::ptr::eq(*pool, home))
                .map(|(_, f)| f.pool.as_str());
            match ours {
                Some(pool) if member.class == VdevClass::Data => {
                    in_place.insert(disk.name.as_str(), pool);
                    decisions.push(DriveDecision {
                        name: disk.name.clone(),
                        pool: Some(pool.to_string()),
                        reason: format!("already a member of pool `{pool}`"),
                    });
                }
                Some(pool) => {
                    // The layout describes its pools' data vdevs; one the administrator added
                    // (a log, a cache, a spare...) is the pool's and stays as it is.
                    let why = format!(
                        "is in the {} vdev of pool `{pool}`; the layout describes its data vdevs only, and phoenix-zfs leaves this one as it is",
                        member.class
                    );
                    note_unusable(disk, why.clone());
                    decisions.push(DriveDecision {
                        name: disk.name.clone(),
                        pool: None,
                        reason: format!("ineligible: {why}"),
                    });
                }
                None => {
                    // Another pool's drive, imported, exported or destroyed, or one of a layout
                    // pool's name that is not it: never a candidate, whatever --wipe says.
                    let named_like_ours =
                        home.presence != Presence::Destroyed && layout.pool(&home.name).is_some();
                    let why = foreign_member(home, member, disk, named_like_ours);
                    note_unusable(disk, why.clone());
                    decisions.push(DriveDecision {
                        name: disk.name.clone(),
                        pool: None,
                        reason: format!("ineligible: {why}"),
                    });
                }
            }
            continue;
        }
        if !disk.is_candidate() {
            let reasons: Vec<String> = disk.ineligible.iter().map(ToString::to_string).collect();
            note_unusable(disk, format!("is {}", reasons.join("; ")));
            decisions.push(DriveDecision {
                name: disk.name.clone(),
                pool: None,
                reason: format!("ineligible: {}", reasons.join("; ")),
            });
            continue;
        }
        let fits: Vec<&PoolSpec> = layout
            .pools
            .iter()
            .filter(|p| misfit(disk, p, tolerance).is_none())
            .collect();
        match fits.as_slice() {
            [] => {
                let why: Vec<String> = layout
                    .pools
                    .iter()
                    .filter_map(|p| misfit(disk, p, tolerance))
                    .collect();
                decisions.push(DriveDecision {
                    name: disk.name.clone(),
                    pool: None,
                    reason: format!("left alone: {}", why.join("; ")),
                });
            }
            [pool] => fitting.entry(pool.name()).or_default().push(disk),
            several => {
                let pools: Vec<String> = several.iter().map(|p| p.name().to_string()).collect();
                problems.push(MatchProblem::FitsSeveralPools {
                    drive: disk.describe(),
                    pools,
                });
            }
        }
    }

    let mut assignments = Vec::new();
    for pool in &layout.pools {
        let name_taken = !found.iter().any(|(_, f)| f.pool == pool.name())
            && problems.iter().any(|p| {
                matches!(p, MatchProblem::NotTheLayoutsPool { pool: held, .. } if held == pool.name())
            });
        if name_taken {
            // Nothing is made under a name another pool holds: its refusal says why, and no
            // drive is missing or in excess for a pool that will not be made.
            for d in fitting.remove(pool.name()).unwrap_or_default() {
                decisions.push(DriveDecision {
                    name: d.name.clone(),
                    pool: None,
                    reason: format!(
                        "left alone: fits pool `{}`, whose name a pool that is not the layout's holds",
                        pool.name()
                    ),
                });
            }
            continue;
        }
        let needed = *pool.drives.get_ref() as usize;
        let mut drives: Vec<AssignedDrive> = nvme
            .iter()
            .filter(|d| in_place.get(d.name.as_str()) == Some(&pool.name()))
            .map(|d| assigned(d, true))
            .collect();
        let candidates = fitting.remove(pool.name()).unwrap_or_default();
        let free_slots = needed.saturating_sub(drives.len());
        // An imported pool with some of its drives here and members zpool reports missing is
        // degraded, not absent: the plan replaces what it can and warns about the rest.
        let missing_members = found
            .iter()
            .find(|(e, f)| f.pool == pool.name() && e.presence == Presence::Imported)
            .map_or(0, |(e, _)| e.missing);
        let degraded = !drives.is_empty() && missing_members > 0;
        let names: Vec<String> = candidates.iter().map(|d| d.describe()).collect();
        if free_slots == 0 {
            // Complete with members already in place: further fitting drives stay alone.
            for d in &candidates {
                decisions.push(DriveDecision {
                    name: d.name.clone(),
                    pool: None,
                    reason: format!(
                        "left alone: pool `{}` already has its {needed} drive(s)",
                        pool.name()
                    ),
                });
            }
        } else if candidates.len() > free_slots {
            problems.push(MatchProblem::ExtraCandidates {
                pool: pool.name().into(),
                needed,
                found: names,
                wanted: wanted(pool),
            });
            continue;
        } else {
            for d in &candidates {
                let reason = if degraded {
                    format!(
                        "replaces a missing member of pool `{}` ({})",
                        pool.name(),
                        wanted(pool)
                    )
                } else {
                    format!("fits pool `{}` ({})", pool.name(), wanted(pool))
                };
                decisions.push(DriveDecision {
                    name: d.name.clone(),
                    pool: Some(pool.name().into()),
                    reason,
                });
                drives.push(assigned(d, false));
            }
        }
        if pool.vdev == VdevLayout::Mirror {
            if let Some(problem) = one_drive_twice(pool.name(), &drives) {
                problems.push(problem);
                continue;
            }
        }
        if drives.len() < needed && !(degraded && needed - drives.len() <= missing_members) {
            let found = drives.iter().map(|d| d.name.clone()).collect();
            problems.push(MatchProblem::Missing {
                pool: pool.name().into(),
                needed,
                found,
                wanted: wanted(pool),
                unusable: unusable.remove(pool.name()).unwrap_or_default(),
            });
            continue;
        }
        assignments.push(Assignment {
            pool: pool.name().into(),
            drives,
        });
    }
    MatchReport {
        assignments,
        decisions,
        problems,
        found: found.into_iter().map(|(_, f)| f).collect(),
    }
}

/// Namespaces of one drive among a mirror's drives: the controller serial they share names it.
fn one_drive_twice(pool: &str, drives: &[AssignedDrive]) -> Option<MatchProblem> {
    drives.iter().find_map(|d| {
        let serial = d.serial.as_deref()?;
        let namespaces: Vec<String> = drives
            .iter()
            .filter(|other| other.serial.as_deref() == Some(serial))
            .map(|other| other.name.clone())
            .collect();
        (namespaces.len() > 1).then(|| MatchProblem::MirrorOnOneDrive {
            pool: pool.into(),
            serial: serial.into(),
            namespaces,
        })
    })
}

fn assigned(d: &Disk, in_place: bool) -> AssignedDrive {
    AssignedDrive {
        name: d.name.clone(),
        serial: d.serial.clone(),
        model: d.model.clone(),
        path: d.preferred_path.clone(),
        size_bytes: d.size_bytes,
        in_place,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::disk::{Ineligible, Partition, ProbeState};

    const TB2: u64 = 2_000_398_934_016;
    const TB4: u64 = 4_000_787_030_016;

    /// nvme0n1 and nvme1n1 (2 TB, S2TA0001/2), nvme2n1 (4 TB), sda (a SATA disk), numbered
    /// 259:N and 8:0, each with a partition 1 numbered 259:1N (8:1).
    fn disks() -> Vec<Disk> {
        let disk = |i: u32, serial: &str, size| {
            let mut d = Disk::test_nvme(&format!("nvme{i}n1"), "QEMU NVMe Ctrl", serial, size);
            d.major_minor = Some(format!("259:{i}"));
            d.partitions = vec![Partition {
                name: format!("nvme{i}n1p1"),
                number: Some(1),
                start_bytes: Some(1 << 20),
                size_bytes: size - (8 << 20),
                listed_by: vec![crate::formats::ondisk::PartitionSource::Kernel],
                probe: ProbeState::NotProbed,
                udev: None,
                major_minor: Some(format!("259:1{i}")),
            }];
            d
        };
        let mut sata = disk(9, "SATA0001", TB2);
        sata.name = "sda".into();
        sata.transport = Transport::Sata;
        sata.major_minor = Some("8:0".into());
        sata.partitions[0].major_minor = Some("8:1".into());
        sata.ineligible = vec![Ineligible::NotNvme {
            transport: Transport::Sata,
        }];
        vec![
            disk(0, "S2TA0001", TB2),
            disk(1, "S2TA0002", TB2),
            disk(2, "S4TB0001", TB4),
            sata,
        ]
    }

    fn member(dev: Option<&str>, class: VdevClass) -> PoolMember {
        PoolMember {
            major_minor: dev.map(str::to_string),
            ..PoolMember::new(dev.unwrap_or("9962378560323266958"), class)
        }
    }

    fn existing(data_vdevs: Vec<DataVdev>, members: Vec<PoolMember>) -> ExistingPool {
        ExistingPool {
            name: "quickOS".into(),
            guid: Some(1),
            presence: Presence::Exported,
            members,
            data_vdevs,
            missing: 0,
        }
    }

    fn why(existing: &ExistingPool) -> Vec<String> {
        let layout = Layout::default_layout();
        let mut quick = layout.pools[0].clone();
        quick.models.clear();
        not_the_layouts(&quick, existing, &disks(), 0.01)
    }

    fn mirror(n: usize) -> Vec<DataVdev> {
        vec![DataVdev::new(VdevKind::Mirror, n)]
    }

    #[test]
    fn the_layouts_shape_on_drives_it_would_choose_fits() {
        let data = |dev| member(Some(dev), VdevClass::Data);
        let fits = existing(mirror(2), vec![data("259:10"), data("259:11")]);
        assert_eq!(why(&fits), Vec::<String>::new());
        // A member gone (named by its GUID) is not held against a mirror; a log beside it
        // on any drive is the administrator's.
        let degraded = existing(
            mirror(2),
            vec![
                data("259:10"),
                member(None, VdevClass::Data),
                member(Some("259:12"), VdevClass::Log),
            ],
        );
        assert_eq!(why(&degraded), Vec::<String>::new());
    }

    #[test]
    fn another_shape_or_drive_is_not_the_layouts() {
        let data = |dev| member(Some(dev), VdevClass::Data);
        let cases: [(ExistingPool, &str); 6] = [
            (
                existing(vec![DataVdev::new(VdevKind::Disk, 1)], vec![data("259:10")]),
                "it is a single device, the layout's is a mirror of 2",
            ),
            (
                existing(mirror(3), vec![data("259:10"), data("259:11"), data("259:12")]),
                "it is a mirror of 3, the layout's is a mirror of 2",
            ),
            (
                existing(
                    vec![
                        DataVdev::new(VdevKind::Disk, 1),
                        DataVdev::new(VdevKind::Disk, 1),
                    ],
                    vec![data("259:10"), data("259:11")],
                ),
                "it is 2 top-level vdevs (a single device, a single device), the layout's is a mirror of 2",
            ),
            (
                existing(mirror(2), vec![data("259:10"), data("259:12")]),
                "nvme2n1: 4.00 TB is class 4TB, pool `quickOS` wants 2TB",
            ),
            (
                existing(mirror(2), vec![data("259:10"), data("259:0")]),
                "nvme0n1 holds 2 of its members",
            ),
            (
                existing(mirror(2), vec![data("259:10"), data("8:1")]),
                "sda is not an NVMe drive",
            ),
        ];
        for (pool, expected) in cases {
            let said = why(&pool);
            assert!(said.iter().any(|w| w == expected), "{expected}: {said:?}");
        }
        let elsewhere = existing(mirror(2), vec![data("259:10"), data("7:3")]);
        assert_eq!(
            why(&elsewhere),
            ["its member 7:3 is none of the host's drives"]
        );
    }

    #[test]
    fn pinned_serials_decide_too() {
        let data = |dev| member(Some(dev), VdevClass::Data);
        let mut quick = Layout::default_layout().pools[0].clone();
        quick.models.clear();
        quick.serials = vec!["S2TA0001".into(), "S2TA0003".into()];
        let pool = existing(mirror(2), vec![data("259:10"), data("259:11")]);
        assert_eq!(
            not_the_layouts(&quick, &pool, &disks(), 0.01),
            ["nvme1n1: serial S2TA0002 is not pinned for pool `quickOS`"]
        );
    }

    #[test]
    fn a_layout_pools_own_log_drive_is_neither_in_place_nor_a_candidate() {
        let mut layout = Layout::default_layout();
        for pool in &mut layout.pools {
            pool.models.clear();
        }
        let inventory = Inventory {
            root: "/".into(),
            udev_database: true,
            notes: Vec::new(),
            disks: disks(),
            zvols: 0,
            udev_zfs: Default::default(),
        };
        let quick = ExistingPool {
            presence: Presence::Imported,
            ..existing(
                mirror(2),
                vec![
                    member(Some("259:10"), VdevClass::Data),
                    member(Some("259:11"), VdevClass::Data),
                    member(Some("259:12"), VdevClass::Log),
                ],
            )
        };
        let report = match_drives(&layout, &inventory, &[quick]);
        assert_eq!(report.found("quickOS").map(|f| f.guid), Some(Some(1)));
        let quick = report
            .assignments
            .iter()
            .find(|a| a.pool == "quickOS")
            .unwrap();
        assert!(quick.drives.iter().all(|d| d.in_place) && quick.drives.len() == 2);
        let [MatchProblem::Missing { pool, unusable, .. }] = report.problems.as_slice() else {
            panic!("{:#?}", report.problems);
        };
        assert_eq!(pool, "fastData");
        assert!(
            unusable[0].contains("is in the log vdev of pool `quickOS`"),
            "{unusable:?}"
        );
    }

    #[test]
    fn two_namespaces_of_one_drive_are_never_one_mirror() {
        let model = "Samsung SSD 990 EVO Plus 2TB";
        let mut second = Disk::test_nvme("nvme0n2", model, "S2TA0001", TB2);
        second.preferred_path =
            "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0001_2".into();
        let inventory = Inventory {
            root: "/".into(),
            udev_database: true,
            notes: Vec::new(),
            disks: vec![
                Disk::test_nvme("nvme0n1", model, "S2TA0001", TB2),
                second,
                Disk::test_nvme(
                    "nvme1n1",
                    "Samsung SSD 990 EVO Plus 4TB",
                    "S4TA0001",
                    4_000_787_030_016,
                ),
            ],
            zvols: 0,
            udev_zfs: Default::default(),
        };
        let report = match_drives(&Layout::default_layout(), &inventory, &[]);
        let [MatchProblem::MirrorOnOneDrive {
            pool,
            serial,
            namespaces,
        }] = report.problems.as_slice()
        else {
            panic!("{:#?}", report.problems);
        };
        assert_eq!((pool.as_str(), serial.as_str()), ("quickOS", "S2TA0001"));
        assert_eq!(namespaces, &["nvme0n1", "nvme0n2"]);
        assert!(report.assignments.iter().all(|a| a.pool != "quickOS"));
        let said = report.problems[0].to_string();
        assert!(
            said.contains("namespaces of one drive (serial S2TA0001)"),
            "{said}"
        );
    }
}
