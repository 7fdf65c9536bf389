//! Drives to pools: by size class (IDEMA capacity with tolerance), model pattern and, when the
//! layout pins them, serial. Every drive gets a stated reason for being chosen or not, and any
//! doubt (a drive missing, one too many, one drive fitting two pools) stops the run with an
//! explanation instead of a guess.

use crate::formats::size::{self, SizeClass};
use crate::glob;
use crate::host::inventory::{Disk, Inventory, Transport};
use crate::layout::{Layout, PoolSpec};
use serde::Serialize;
use std::collections::BTreeMap;

/// A pool that already exists on the host (imported or importable), with its member devices as
/// `zpool status -P` / `zpool import` print them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExistingPool {
    pub name: String,
    pub device_paths: Vec<String>,
    /// Imported on this host now (as opposed to only visible to `zpool import`).
    pub imported: bool,
    /// Mirror members zpool reports gone or failed, which a new drive may replace.
    pub missing: usize,
}

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
    FitsSeveralPools {
        drive: String,
        pools: Vec<String>,
    },
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
                    return write!(f, "; install the missing drive(s), or change the layout's size_class/models");
                }
                write!(f, ". Present but not usable: {}", unusable.join("; "))
            }
            MatchProblem::ExtraCandidates { pool, needed, found, wanted } => write!(
                f,
                "pool `{pool}` needs {needed} drive(s) of {wanted}, and {} fit: {}; name the ones to use with `serials = [...]` in the layout",
                found.len(),
                found.join(", ")
            ),
            MatchProblem::FitsSeveralPools { drive, pools } => write!(
                f,
                "{drive} fits pools {}; pin it with `serials = [...]` in the pool it belongs to",
                pools.join(" and ")
            ),
        }
    }
}

/// The decision about one drive, in words, for `detect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriveDecision {
    pub drive: String,
    pub pool: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchReport {
    pub assignments: Vec<Assignment>,
    pub decisions: Vec<DriveDecision>,
    pub problems: Vec<MatchProblem>,
}

impl MatchReport {
    pub fn fits(&self) -> bool {
        self.problems.is_empty()
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

/// Why a member of a pool the layout does not describe stays out, with what the administrator
/// could do himself: phoenix-zfs never destroys another pool.
fn foreign_member(pool: &ExistingPool) -> String {
    let name = &pool.name;
    if pool.imported {
        format!(
            "is a member of the imported pool `{name}`, which the layout does not describe; phoenix-zfs never uses another pool's drive, --wipe or not. If `{name}` and its data may go, run `zpool destroy {name}` yourself, then run phoenix-zfs again"
        )
    } else {
        format!(
            "is a member of the exported pool `{name}` (`zpool import` lists it), which the layout does not describe; phoenix-zfs never uses another pool's drive, --wipe or not. If `{name}` and its data may go, run `zpool import {name} && zpool destroy {name}` yourself, then run phoenix-zfs again"
        )
    }
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
    let mut decisions = Vec::new();
    let mut in_place: BTreeMap<&str, &str> = BTreeMap::new();
    let mut fitting: BTreeMap<&str, Vec<&Disk>> = BTreeMap::new();
    let mut problems = Vec::new();

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
        let home = crate::contents::member_of(disk, existing);
        // Membership comes first: a layout pool's own drives are "mounted" through that pool's
        // datasets, which must not make them strangers to it.
        if let Some(home) = home.filter(|h| layout.pool(&h.name).is_some()) {
            in_place.insert(
                disk.name.as_str(),
                layout.pool(&home.name).map_or("", |p| p.name()),
            );
            decisions.push(DriveDecision {
                drive: disk.describe(),
                pool: Some(home.name.clone()),
                reason: format!("already a member of pool `{}`", home.name),
            });
            continue;
        }
        if let Some(foreign) = home {
            // Another pool's drive, imported or not: never a candidate, whatever --wipe says.
            let why = foreign_member(foreign);
            note_unusable(disk, why.clone());
            decisions.push(DriveDecision {
                drive: disk.describe(),
                pool: None,
                reason: format!("ineligible: {why}"),
            });
            continue;
        }
        if !disk.is_candidate() {
            let reasons: Vec<String> = disk.ineligible.iter().map(ToString::to_string).collect();
            note_unusable(disk, format!("is {}", reasons.join("; ")));
            decisions.push(DriveDecision {
                drive: disk.describe(),
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
                    drive: disk.describe(),
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
        let missing_members = existing
            .iter()
            .find(|p| p.imported && p.name == pool.name())
            .map_or(0, |p| p.missing);
        let degraded = !drives.is_empty() && missing_members > 0;
        let names: Vec<String> = candidates.iter().map(|d| d.describe()).collect();
        if free_slots == 0 {
            // Complete with members already in place: further fitting drives stay alone.
            for d in &candidates {
                decisions.push(DriveDecision {
                    drive: d.describe(),
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
                    drive: d.describe(),
                    pool: Some(pool.name().into()),
                    reason,
                });
                drives.push(assigned(d, false));
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
    }
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
