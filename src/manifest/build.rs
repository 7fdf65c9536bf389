//! Assembles the manifest of one run from what apply reports.

use super::*;
use crate::apply::{ApplyReport, Ending};
use crate::layout::Layout;
use crate::model::disk::{ProbeState, Transport};
use crate::model::services::Availability;
use std::collections::BTreeMap;

/// Who this host is: hostname, machine-id, and the fingerprint of the key that signs.
/// The identity of the system whose files are under `files`: the running host's own name, or for
/// an installed root under a live system the name in its /etc/hostname.
pub fn host_identity(
    files: &crate::host::root::HostRoot,
    key: Option<&ssh_key::PrivateKey>,
) -> Host {
    let running = files.0 == std::path::Path::new("/");
    let hostname = if running {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
    } else {
        std::fs::read_to_string(files.path("/etc/hostname"))
            .ok()
            .and_then(|h| h.split_whitespace().next().map(str::to_string))
    }
    .unwrap_or_else(|| "unknown".into());
    let machine_id = std::fs::read_to_string(files.path("/etc/machine-id"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let host_key_fingerprint = key.map(|k| k.fingerprint(ssh_key::HashAlg::Sha256).to_string());
    Host {
        hostname,
        machine_id,
        host_key_fingerprint,
    }
}

pub struct RunInfo<'a> {
    pub command: &'a str,
    pub started_at: String,
    pub layout_source: &'a str,
    pub layout: &'a Layout,
    pub host: Host,
    /// Health baselines of the previous manifest, by serial.
    pub baselines: BTreeMap<String, HealthRecord>,
    pub situation: crate::host::target::Situation,
}

/// The health records of a manifest already on disk, by serial; empty when there is none or
/// it cannot be read (the first reading then becomes the baseline).
pub fn previous_baselines(path: &Path) -> BTreeMap<String, HealthRecord> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    let Ok(value) = serde_json::from_str::<Value>(&text) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for drive in value["drives"].as_array().into_iter().flatten() {
        let (Some(serial), Ok(health)) = (
            drive["serial"].as_str(),
            serde_json::from_value::<HealthRecord>(drive["health"].clone()),
        ) else {
            continue;
        };
        out.insert(serial.to_string(), health);
    }
    out
}

pub fn from_report(run: RunInfo, report: &ApplyReport) -> Manifest {
    let (status, reasons) = match &report.ending {
        Ending::Converged { changed: true } => (OutcomeStatus::Done, Vec::new()),
        Ending::Converged { changed: false } => (OutcomeStatus::NothingToDo, Vec::new()),
        Ending::Refused { reasons, .. } => (OutcomeStatus::Refused, reasons.clone()),
        Ending::Failed { reasons } | Ending::Unexpected { reasons } => {
            (OutcomeStatus::Failed, reasons.clone())
        }
    };
    let mut manifest = Manifest {
        schema: SCHEMA.into(),
        tool: Tool::this(),
        host: run.host,
        command: run.command.to_string(),
        situation: run.situation.clone(),
        started_at: run.started_at,
        finished_at: now_rfc3339(),
        layout: LayoutRecord::new(run.layout_source, run.layout),
        drives: Vec::new(),
        pools: Vec::new(),
        datasets: Vec::new(),
        actions: report.actions.clone(),
        services: ServicesRecord::default(),
        warnings: Vec::new(),
        outcome: Outcome {
            status,
            exit_code: report.ending.exit_code(),
            reasons,
        },
    };
    let Some(a) = &report.last else {
        return manifest;
    };
    manifest.warnings = a
        .plan
        .warnings
        .iter()
        .map(|w| format!("{}: {}", w.code, w.message))
        .collect();
    // What the drives held is what the first look saw, before this run changed them.
    let before = report.first.as_ref().unwrap_or(a);
    for d in before
        .inventory
        .disks
        .iter()
        .filter(|d| d.transport == Transport::Nvme)
    {
        let verdict = a
            .firmware
            .iter()
            .find(|f| f.name == d.name)
            .map(|f| f.verdict.clone());
        let signatures_before = match &d.probe {
            ProbeState::Read {
                signatures,
                unrecognised,
                ..
            } => signatures
                .iter()
                .map(|s| format!("{} at {}", s.kind.name(), s.offset))
                .chain(
                    unrecognised
                        .first()
                        .map(|run| format!("unrecognised data at {}", run.offset)),
                )
                .collect(),
            ProbeState::Unreadable { error } => vec![format!("unreadable: {error}")],
            ProbeState::NotProbed => Vec::new(),
        };
        manifest.drives.push(DriveRecord {
            name: d.name.clone(),
            model: d.model.clone(),
            serial: d.serial.clone(),
            firmware: d.firmware.clone(),
            size_bytes: d.size_bytes,
            logical_block_size: d.logical_block_size,
            by_id: d.preferred_path.clone(),
            role: a.matching.pool_of(&d.name).map(str::to_string),
            firmware_verdict: verdict.unwrap_or(crate::firmware::FirmwareVerdict::NotInPolicy),
            signatures_before,
            health: health_record([a, before], &d.name, d.serial.as_deref(), &run.baselines),
        });
    }
    manifest.services = services_record(run.layout, a);
    for p in &a.observed.pools {
        manifest.pools.push(PoolRecord {
            name: p.name.clone(),
            guid: p.guid.map(|g| g.to_string()),
            health: p.health.clone(),
            devices: p.members.iter().map(|m| m.path.clone()).collect(),
            scan: p.scan.clone(),
            properties: p
                .properties
                .iter()
                .filter(|(k, _)| k.as_str() != "guid")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        });
    }
    for d in &a.observed.datasets {
        manifest.datasets.push(DatasetRecord {
            name: d.name.clone(),
            guid: d.properties.get("guid").map(|v| v.value.clone()),
            properties: d
                .properties
                .iter()
                .filter(|(k, _)| k.as_str() != "guid")
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
        });
    }
    manifest
}

/// `looks`: the assessments of this run, latest first. Health is read in the look before the
/// drives are written, so the last look of a run that made the pools has none of its own.
fn health_record(
    looks: [&crate::assess::Assessment; 2],
    drive: &str,
    serial: Option<&str>,
    baselines: &BTreeMap<String, HealthRecord>,
) -> Option<HealthRecord> {
    let previous = serial.and_then(|s| baselines.get(s));
    // Health is read for drives about to be written; a pool member already in place keeps the
    // record of the run that read it (`phoenix-zfs detect` reads them all).
    let Some(current) = looks
        .iter()
        .flat_map(|a| &a.services.health)
        .find(|h| h.drive == drive)
        .and_then(|h| h.reading.ready().copied())
    else {
        return previous.cloned();
    };
    let (baseline, baseline_at) = match previous {
        Some(previous) => (previous.baseline, previous.baseline_at.clone()),
        None => (current, now_rfc3339()),
    };
    Some(HealthRecord {
        baseline,
        baseline_at,
        current,
    })
}

fn services_record(layout: &Layout, a: &crate::assess::Assessment) -> ServicesRecord {
    let storages = match &a.services.proxmox {
        Availability::Ready { value } => layout
            .datasets
            .iter()
            .filter_map(|d| value.get(&d.proxmox.as_ref()?.storage))
            .map(|s| StorageRecord {
                id: s.id.clone(),
                kind: s.kind.clone(),
                settings: s
                    .settings()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            })
            .collect(),
        Availability::Unavailable { .. } => Vec::new(),
    };
    let exports = a
        .observed
        .datasets
        .iter()
        .filter_map(|d| {
            let value = &d.properties.get("sharenfs")?.value;
            (value != "off" && value != "-").then(|| ExportRecord {
                dataset: d.name.clone(),
                sharenfs: value.clone(),
            })
        })
        .collect();
    let smartd_devices = match &a.services.smartd {
        Availability::Ready { value } => crate::formats::smartd::block_devices(value),
        Availability::Unavailable { .. } => Vec::new(),
    };
    ServicesRecord {
        storages,
        exports,
        smartd_devices,
        deferred: a.plan.deferred.clone(),
    }
}
