//! Human and JSON output of detect and plan. Human output is for a terminal or a journal: one
//! fact per line, the important word first.

use crate::failure::print_error;
use phoenix_zfs::contents;
use phoenix_zfs::exit::Exit;
use phoenix_zfs::formats::size::{self, SizeClass};
use phoenix_zfs::host::assess::Assessment;
use phoenix_zfs::host::inventory::{Disk, ProbeState, Transport};
use phoenix_zfs::host::services::Availability;
use phoenix_zfs::host::target::Situation;
use phoenix_zfs::manifest::HealthRecord;
use phoenix_zfs::runner;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => print_error(format!("cannot write JSON: {e}")),
    }
}

pub fn detect_json(a: &Assessment, baselines: &BTreeMap<String, HealthRecord>) -> Value {
    json!({
        "inventory": a.inventory,
        "matching": a.matching,
        "firmware": a.firmware,
        "health": a.services.health,
        "health_baselines": baselines,
        "pools": a.observed.pools,
        "importable_pools": a.observed.importable,
        "import_scan_skipped": a.observed.import_scan_skipped,
        "blockers": a.plan.blockers,
        "exit_code": a.plan.exit().unwrap_or(Exit::Done).code(),
    })
}

pub fn plan_json(a: &Assessment, situation: &Situation) -> Value {
    let with_argv = phoenix_zfs::plan::kept::actions_json;
    json!({
        "situation": situation,
        "actions": with_argv(&a.plan.actions),
        "afterwards": with_argv(&a.plan.afterwards),
        "warnings": a.plan.warnings,
        "blockers": a.plan.blockers,
        "notes": a.plan.notes,
        "deferred": a.plan.deferred,
        "exit_code": a.plan.exit().unwrap_or(Exit::Done).code(),
    })
}

fn probe_summary(d: &Disk) -> String {
    match &d.probe {
        ProbeState::NotProbed => "not probed".into(),
        ProbeState::Unreadable { error } => format!("unreadable: {error}"),
        ProbeState::Read { .. } if contents::findings(d).is_empty() => "blank".into(),
        ProbeState::Read { .. } => "holds data (see below)".into(),
    }
}

/// What each witness found on a drive that is not blank, one line each.
fn findings(d: &Disk) {
    if !matches!(d.probe, ProbeState::Read { .. }) {
        return;
    }
    for f in contents::findings(d) {
        println!(
            "            {:<10} {}: {}",
            f.witness.to_string(),
            f.device,
            f.what
        );
    }
}

fn class(bytes: u64) -> String {
    SizeClass::of_drive(bytes, 0.01).map_or_else(|| "no class".into(), |c| format!("class {c}"))
}

pub fn detect(a: &Assessment, baselines: &BTreeMap<String, HealthRecord>) {
    println!("phoenix-zfs detect: root {}", a.inventory.root);
    for note in &a.inventory.notes {
        println!("note: {note}");
    }
    if let Some(why) = &a.observed.import_scan_skipped {
        println!("note: `zpool import` was not asked for exported pools: {why}");
    }
    println!();
    println!("NVMe drives:");
    for d in a
        .inventory
        .disks
        .iter()
        .filter(|d| d.transport == Transport::Nvme)
    {
        let role = a
            .matching
            .pool_of(&d.name)
            .map_or("-".to_string(), |p| format!("-> {p}"));
        println!(
            "  {:<9} {:<32} serial {:<16} fw {:<10} {} ({}) lbs {}  {}  {role}",
            d.name,
            d.model.as_deref().unwrap_or("?"),
            d.serial.as_deref().unwrap_or("?"),
            d.firmware.as_deref().unwrap_or("?"),
            size::decimal(d.size_bytes),
            class(d.size_bytes),
            d.logical_block_size,
            probe_summary(d),
        );
        println!("            {}", d.preferred_path);
        findings(d);
    }
    let others: Vec<&Disk> = a
        .inventory
        .disks
        .iter()
        .filter(|d| d.transport != Transport::Nvme)
        .collect();
    if !others.is_empty() {
        println!("Other block devices (never used):");
        for d in others {
            let why: Vec<String> = d.ineligible.iter().map(ToString::to_string).collect();
            println!(
                "  {:<9} {:<32} {}  {}",
                d.name,
                d.model.as_deref().unwrap_or("-"),
                size::decimal(d.size_bytes),
                why.join("; ")
            );
        }
    }
    println!();
    println!("Matching:");
    for dec in &a.matching.decisions {
        println!("  {}: {}", dec.drive, dec.reason);
    }
    for asg in &a.matching.assignments {
        let names: Vec<String> = asg.drives.iter().map(|d| d.name.clone()).collect();
        println!("  pool {}: {}", asg.pool, names.join(", "));
    }
    println!();
    println!("Firmware:");
    for f in &a.firmware {
        println!("  {} {}: {}", f.drive, f.revision, f.verdict);
    }
    println!();
    health(a, baselines);
    journal_notes(a);
    verdict(a);
}

/// What apply will make of the journal's entries (an interrupted create honoured or not).
fn journal_notes(a: &Assessment) {
    let journal = phoenix_zfs::apply::journal::PATH;
    for note in a.plan.notes.iter().filter(|n| n.contains(journal)) {
        println!("note: {note}");
    }
}

/// Each pool drive's wear now, next to the baseline the manifest keeps.
fn health(a: &Assessment, baselines: &BTreeMap<String, HealthRecord>) {
    if a.services.health.is_empty() {
        return;
    }
    println!("Health (smartctl):");
    for h in &a.services.health {
        let now = match &h.reading {
            Availability::Ready { value } => value,
            Availability::Unavailable { why } => {
                println!("  {}: not read: {why}", h.drive);
                continue;
            }
        };
        let mut line = format!(
            "  {}: {}% used, {}% spare, {} written, {} media errors, critical warning 0x{:02x}",
            h.drive,
            now.percentage_used,
            now.available_spare,
            size::decimal(u64::try_from(now.bytes_written()).unwrap_or(u64::MAX)),
            now.media_errors,
            now.critical_warning
        );
        if let Some(base) = h.serial.as_ref().and_then(|s| baselines.get(s)) {
            let written = now
                .bytes_written()
                .saturating_sub(base.baseline.bytes_written());
            line.push_str(&format!(
                "; since the baseline of {}: +{} points used, {} written",
                base.baseline_at,
                now.percentage_used
                    .saturating_sub(base.baseline.percentage_used),
                size::decimal(u64::try_from(written).unwrap_or(u64::MAX))
            ));
        }
        println!("{line}");
    }
    println!();
}

fn verdict(a: &Assessment) {
    if a.plan.blockers.is_empty() {
        println!("result: the drives fit the layout");
        return;
    }
    for b in &a.plan.blockers {
        refusal(b);
    }
}

/// A refusal: its first line after `refused:`, the rest indented under it.
pub fn refusal(blocker: &phoenix_zfs::plan::Blocker) {
    for (i, line) in blocker.lines().iter().enumerate() {
        if i == 0 {
            println!("refused: {line}");
        } else {
            println!("    {line}");
        }
    }
}

pub fn plan(a: &Assessment) {
    if a.plan.actions.is_empty() && a.plan.blockers.is_empty() {
        println!("nothing to do: the host matches the layout");
    }
    let numbered = a.plan.actions.iter().chain(&a.plan.afterwards);
    for (i, action) in numbered.enumerate() {
        if i == a.plan.actions.len() {
            println!("then, once the host matches the layout:");
        }
        println!("{:>3}. {}", i + 1, action.summary());
        let argv = action.argv();
        if !argv.is_empty() {
            println!("     $ {}", runner::display(&argv));
        }
    }
    for note in &a.plan.notes {
        println!("note: {note}");
    }
    deferred(a);
    for w in &a.plan.warnings {
        println!("warning[{}]: {}", w.code, w.message);
    }
    if !a.plan.blockers.is_empty() {
        println!();
        verdict(a);
    }
}

/// What cannot be done on this host now, said where `plan`, `apply` and `verify` report.
pub fn deferred(a: &Assessment) {
    for d in &a.plan.deferred {
        println!("deferred: {}: {}", d.subject, d.why);
    }
}

pub fn verify(a: &Assessment) {
    deferred(a);
    journal_notes(a);
    // A limit OpenZFS would ignore is not set, so it is no difference either; said here so that
    // `in sync` is not read as the ARC being limited.
    for w in a
        .plan
        .warnings
        .iter()
        .filter(|w| w.code == "arc-max-ignored")
    {
        println!("warning[{}]: {}", w.code, w.message);
    }
    if a.plan.actions.is_empty() && a.plan.blockers.is_empty() {
        println!("in sync: the host matches the layout");
        return;
    }
    for action in &a.plan.actions {
        for line in differences(action) {
            println!("differs: {line}");
        }
    }
    verdict(a);
}

/// What an action says about the host, in the words of a diff rather than of a plan.
fn differences(action: &phoenix_zfs::plan::Action) -> Vec<String> {
    use phoenix_zfs::plan::Action;
    match action {
        Action::ClearZfsLabels { drive, .. } => {
            vec![format!("{drive} holds the labels of an old pool")]
        }
        Action::WipeDrive { drive, consent, .. } => {
            vec![format!("{drive} holds data ({consent})")]
        }
        Action::ImportPool { pool, .. } => vec![format!("pool {pool} exists but is not imported")],
        // Never among the differences: the hand-over runs after convergence.
        Action::ExportPool { .. } => Vec::new(),
        Action::CreatePool { pool, .. } => vec![format!("pool {pool} does not exist")],
        Action::ReplaceMember {
            pool, missing, was, ..
        } => vec![format!(
            "pool {pool}: member {missing} is missing{}",
            was.as_deref()
                .map(|w| format!(" (was {w})"))
                .unwrap_or_default()
        )],
        Action::SetPoolProperty {
            pool,
            property,
            from,
            to,
        } => {
            vec![format!(
                "pool {pool}: {property} is {from}, the layout says {to}"
            )]
        }
        Action::CreateDataset { dataset, .. } => vec![format!("dataset {dataset} does not exist")],
        Action::SetDatasetProperties { dataset, changes } => changes
            .iter()
            .map(|c| {
                format!(
                    "dataset {dataset}: {} is {}, the layout says {}",
                    c.property, c.from, c.to
                )
            })
            .collect(),
        Action::InstallPackages { packages, .. } => {
            vec![format!("{} is not installed", packages.join(", "))]
        }
        Action::RegisterStorage {
            storage, change, ..
        } => {
            if change == "add" {
                vec![format!("Proxmox storage {storage} is not registered")]
            } else {
                vec![format!("Proxmox storage {storage} differs: {change}")]
            }
        }
        Action::WriteFile { path, purpose, .. } => {
            vec![format!(
                "{path} is not as phoenix-zfs writes it ({purpose})"
            )]
        }
        // Follows a WriteFile, which already said what differs.
        Action::ReloadService { .. } | Action::RefreshInitramfs { .. } => Vec::new(),
        Action::SetModuleParameter { path, from, to } => {
            vec![format!("{path} is {from}, the layout says {to}")]
        }
        Action::BindMount { ctid, dataset, .. } => {
            vec![format!("{dataset} is not bound into container {ctid}")]
        }
    }
}
