//! The services around the pools: NFS exports (as `sharenfs` properties), Proxmox storages,
//! smartd's watch list, and drives whose controller refuses to be trusted. What the host cannot
//! do now (no pmxcfs, no NFS server and no network to fetch it) is deferred, never a failure:
//! the pools come first.

use super::{Action, Blocker, Facts, Plan};
use crate::formats::arc;
use crate::formats::nfs;
use crate::formats::proxmox::{self, StorageChange};
use crate::formats::smartd::{self, SmartdPolicy};
use crate::layout::Warning;
use crate::model::services::Availability;
use serde::Serialize;
use std::collections::BTreeMap;

pub const NFS_SERVER_PACKAGE: &str = "nfs-kernel-server";

/// Something the layout asks for that this run cannot do, and why; a later run does it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Deferred {
    /// `storage ID`, `nfs DATASET`.
    pub subject: String,
    pub why: String,
}

/// Refuses pool drives whose controller says they are read-only or degraded.
pub(super) fn health_blockers(facts: &Facts, plan: &mut Plan) {
    for drive in &facts.services.health {
        let Some(reading) = drive.reading.ready() else {
            continue;
        };
        let reasons = reading.refusals();
        if !reasons.is_empty() {
            let describe = facts
                .inventory
                .disks
                .iter()
                .find(|d| d.name == drive.drive)
                .map_or(drive.drive.clone(), |d| d.describe());
            plan.blockers.push(Blocker::DriveHealth {
                name: drive.drive.clone(),
                serial: drive.serial.clone(),
                drive: describe,
                critical_warning: reading.critical_warning,
                reasons,
            });
        }
    }
}

/// The `sharenfs` value each exported dataset should have, when the exports can be made now.
/// Otherwise the install of the NFS server is planned or the exports deferred, and no dataset
/// gets a `sharenfs` this run.
pub(super) fn nfs_properties(facts: &Facts, plan: &mut Plan) -> BTreeMap<String, String> {
    let exported: Vec<&str> = facts
        .layout
        .datasets
        .iter()
        .filter(|d| d.nfs.is_some())
        .map(|d| d.name())
        .collect();
    if exported.is_empty() {
        return BTreeMap::new();
    }
    let server = &facts.services.nfs;
    let defer = |plan: &mut Plan, why: &str| {
        for dataset in &exported {
            plan.deferred.push(Deferred {
                subject: format!("nfs {dataset}"),
                why: why.to_string(),
            });
        }
    };
    let network = match &server.network {
        Availability::Ready { value } => *value,
        Availability::Unavailable { why } => {
            defer(plan, why);
            return BTreeMap::new();
        }
    };
    if !server.installed {
        if facts.layout.nfs.install_server && server.online {
            plan.actions.push(Action::InstallPackages {
                packages: vec![NFS_SERVER_PACKAGE.into()],
                why: "the NFS server for the exports; Proxmox's ISO ships only the client".into(),
            });
            plan.notes.push(
                "the exports are set once the NFS server is installed (the next round of this apply)"
                    .into(),
            );
        } else {
            let why = if facts.layout.nfs.install_server {
                "the NFS server (nfs-kernel-server) is not installed and there is no default route to fetch it".to_string()
            } else {
                format!("the NFS server (nfs-kernel-server) is not installed, and the layout says `[nfs] install_server = false`: install it (`apt-get install {NFS_SERVER_PACKAGE}`), then `{}`", crate::remedy::APPLY)
            };
            defer(plan, &why);
        }
        return BTreeMap::new();
    }
    nfs::sharenfs_settings(facts.layout, &network)
        .into_iter()
        .collect()
}

/// Proxmox storages and smartd, planned after the datasets they rest on.
pub(super) fn plan_services(facts: &Facts, plan: &mut Plan) {
    plan_storages(facts, plan);
    plan_smartd(facts, plan);
    plan_arc(facts, plan);
}

/// The ARC limit now (sysfs) and for every later boot (modprobe.d, then the initramfs).
fn plan_arc(facts: &Facts, plan: &mut Plan) {
    let (Some(wanted), Some(state)) = (facts.layout.zfs.arc_max_bytes(), &facts.services.arc)
    else {
        return;
    };
    if arc_limit_ignored(wanted, state, plan) {
        return;
    }
    match &state.runtime {
        // A live system's own module is not the installed system's: modprobe.d sets that one.
        _ if !facts.target.is_running() => {}
        Availability::Ready { value } if *value == wanted => {}
        Availability::Ready { value } => plan.actions.push(Action::SetModuleParameter {
            path: arc::RUNTIME_PARAMETER.into(),
            from: value.to_string(),
            to: wanted.to_string(),
        }),
        Availability::Unavailable { why } => plan.deferred.push(Deferred {
            subject: "zfs_arc_max now".into(),
            why: why.clone(),
        }),
    }
    match &state.modprobe_conf {
        Availability::Ready { value } if arc::configured(value) == Some(wanted) => {}
        Availability::Ready { value } => {
            plan.actions.push(Action::WriteFile {
                path: arc::MODPROBE_CONF.into(),
                content: arc::merge(value, wanted),
                purpose: format!("zfs_arc_max={wanted} from the next boot on"),
            });
            // Proxmox's admin guide: with a ZFS root, the initramfs loads the module and must
            // carry the new line; otherwise the module loads from the root file system.
            if state.root_on_zfs && !facts.target.is_running() {
                plan.warnings.push(Warning {
                    code: "arc-max",
                    subject: arc::MODPROBE_CONF.into(),
                    message: "the installed root is ZFS: its initramfs carries modprobe.d; run `update-initramfs -u -k all` on it after its next boot".into(),
                });
            } else if state.root_on_zfs {
                plan.actions.push(Action::RefreshInitramfs {
                    why: format!(
                        "the root file system is ZFS: it carries {}",
                        arc::MODPROBE_CONF
                    ),
                });
            }
        }
        Availability::Unavailable { why } => plan.warnings.push(Warning {
            code: "arc-max",
            subject: arc::MODPROBE_CONF.into(),
            message: format!("the ARC limit is not made persistent: {why}"),
        }),
    }
}

/// Whether OpenZFS would ignore `wanted` on this host, said as a warning when so: writing it
/// would change nothing but the number sysfs reads back, and a plan must not report that done.
/// Held against the floor now (zfs_arc_min, or its default of 1/32 of the RAM) and at the next
/// boot (a zfs_arc_min modprobe.d sets).
fn arc_limit_ignored(
    wanted: u64,
    state: &crate::model::services::ArcState,
    plan: &mut Plan,
) -> bool {
    let ram = match &state.ram {
        Availability::Ready { value } => *value,
        Availability::Unavailable { why } => {
            plan.warnings.push(Warning {
                code: "arc-max",
                subject: "zfs.arc_max".into(),
                message: format!(
                    "the ARC limit is not checked against the RAM ({why}): OpenZFS ignores a zfs_arc_max at or below zfs_arc_min (by default 1/32 of the RAM)"
                ),
            });
            return false;
        }
    };
    // A module that is not loaded starts with the default floor.
    let now = arc::effective_min(state.arc_min.ready().copied().unwrap_or(0), ram);
    let next_boot = state
        .modprobe_conf
        .ready()
        .and_then(|conf| arc::configured_min(conf))
        .map_or(0, |min| arc::effective_min(min, ram));
    let floor = now.max(next_boot);
    let Some(ignored) = arc::ignored(wanted, ram, floor) else {
        return false;
    };
    let default_floor = state.arc_min.ready().copied().unwrap_or(0) == 0 && next_boot == 0;
    let floor_is = if default_floor {
        format!(
            " (zfs_arc_min's default: 1/32 of the {} of RAM)",
            crate::formats::size::binary(ram)
        )
    } else {
        String::new()
    };
    let instead = match ignored.suggestion {
        Some(bytes) => format!(
            "set zfs.arc_max above {}{floor_is} and below the RAM, e.g. \"{}\"",
            crate::formats::size::ZfsSize(floor.max(arc::MINIMUM)),
            crate::formats::size::ZfsSize(bytes)
        ),
        None => format!(
            "this host's {} of RAM leaves no limit OpenZFS would take: remove zfs.arc_max",
            crate::formats::size::binary(ram)
        ),
    };
    plan.warnings.push(Warning {
        code: "arc-max-ignored",
        subject: "zfs.arc_max".into(),
        message: format!(
            "zfs.arc_max = {} ({wanted} bytes) would be ignored by OpenZFS: {}. The ARC would keep its current limit although {} would read back the new value, so it is neither set now nor written to {}: {instead}",
            crate::formats::size::ZfsSize(wanted),
            ignored.why,
            arc::RUNTIME_PARAMETER,
            arc::MODPROBE_CONF,
        ),
    });
    true
}

fn plan_storages(facts: &Facts, plan: &mut Plan) {
    let wanted: Vec<&str> = facts
        .layout
        .datasets
        .iter()
        .filter_map(|d| d.proxmox.as_ref().map(|p| p.storage.as_str()))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let config = match &facts.services.proxmox {
        Availability::Ready { value } => value,
        Availability::Unavailable { why } => {
            for storage in wanted {
                plan.deferred.push(Deferred {
                    subject: format!("storage {storage}"),
                    why: why.clone(),
                });
            }
            return;
        }
    };
    let mountpoints = expected_mountpoints(facts);
    let changes = match proxmox::storage_changes(facts.layout, config, &mountpoints) {
        Ok(changes) => changes,
        Err(e) => {
            plan.warnings.push(Warning {
                code: "storage",
                subject: "storage.cfg".into(),
                message: e.to_string(),
            });
            return;
        }
    };
    for change in changes {
        match change {
            StorageChange::Add { id, argv, .. } => plan.actions.push(Action::RegisterStorage {
                storage: id,
                change: "add".into(),
                argv,
            }),
            StorageChange::Set { id, argv, what } => plan.actions.push(Action::RegisterStorage {
                storage: id,
                change: format!("set ({})", what.join("; ")),
                argv,
            }),
            StorageChange::Conflict { id, message } => plan.warnings.push(Warning {
                code: "storage-conflict",
                subject: id,
                message,
            }),
        }
    }
}

/// Where each dataset is (or will be, once created) mounted: what zfs says for one that
/// exists, else its own `mountpoint` from the layout, else below its pool's mountpoint.
fn expected_mountpoints(facts: &Facts) -> BTreeMap<String, String> {
    let observed = |name: &str| {
        facts
            .observed
            .dataset(name)
            .and_then(|d| d.properties.get("mountpoint"))
            .map(|v| v.value.clone())
    };
    facts
        .layout
        .datasets
        .iter()
        .map(|d| {
            let name = d.name().to_string();
            let mountpoint = observed(&name)
                .or_else(|| {
                    d.properties
                        .get("mountpoint")
                        .map(|v| v.as_str().to_string())
                })
                .unwrap_or_else(|| {
                    let pool_mount = observed(d.pool()).unwrap_or_else(|| format!("/{}", d.pool()));
                    let below = name.strip_prefix(d.pool()).unwrap_or(&name);
                    format!("{}{below}", pool_mount.trim_end_matches('/'))
                });
            (name, mountpoint)
        })
        .collect()
}

fn plan_smartd(facts: &Facts, plan: &mut Plan) {
    let existing = match &facts.services.smartd {
        Availability::Ready { value } => value,
        Availability::Unavailable { why } => {
            plan.notes
                .push(format!("the pool drives are not added to smartd: {why}"));
            return;
        }
    };
    // Sorted: the order drives are found in follows PCI enumeration, which may change from one
    // boot to the next, and smartd.conf must not be rewritten for that.
    let mut paths: Vec<String> = facts
        .matches
        .assignments
        .iter()
        .flat_map(|a| a.drives.iter().map(|d| d.path.clone()))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return;
    }
    let merged = smartd::render_block(&paths, &SmartdPolicy::default())
        .and_then(|block| smartd::merge_block(existing, &block));
    match merged {
        Ok(content) if content == *existing => {}
        Ok(content) => {
            plan.actions.push(Action::WriteFile {
                path: smartd::SMARTD_CONF.into(),
                content,
                purpose: format!("smartd watches the {} pool drives", paths.len()),
            });
            // From a live system the installed system's smartd reads the file when it starts.
            if facts.target.is_running() {
                plan.actions.push(Action::ReloadService {
                    unit: smartd::SMARTD_UNIT.into(),
                });
            }
        }
        Err(e) => plan.warnings.push(Warning {
            code: "smartd",
            subject: smartd::SMARTD_CONF.into(),
            message: e.to_string(),
        }),
    }
}
