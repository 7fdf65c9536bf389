//! Human and JSON output of detect, plan and verify. Human output is for a terminal or a journal:
//! one fact per line, the important word first. JSON output is an interface: each document names
//! its `schema` (schema/detect.schema.json and its siblings describe them), and says what the
//! text says, with the same words.

use crate::failure::print_error;
use phoenix_zfs::assess::Assessment;
use phoenix_zfs::contents;
use phoenix_zfs::exit::Exit;
use phoenix_zfs::formats::size::{self, SizeClass};
use phoenix_zfs::host::target::Situation;
use phoenix_zfs::manifest::HealthRecord;
use phoenix_zfs::model::disk::{Disk, ProbeState};
use phoenix_zfs::model::services::Availability;
use phoenix_zfs::plan::{Action, Difference};
use phoenix_zfs::remedy::Invocation;
use phoenix_zfs::report::Report;
use phoenix_zfs::runner;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => print_error(&format!("cannot write JSON: {}", Report(&e))),
    }
}

fn exit_code(a: &Assessment) -> u8 {
    a.plan.exit().unwrap_or(Exit::Done).code()
}

pub fn detect_json(a: &Assessment, baselines: &BTreeMap<String, HealthRecord>) -> Value {
    json!({
        "schema": "phoenix-zfs/detect/1",
        "exit_code": exit_code(a),
        "inventory": a.inventory,
        "matching": a.matching,
        "firmware": firmware_json(a),
        "health": a.services.health,
        "health_baselines": baselines,
        "pools": a.observed.pools,
        "importable_pools": a.observed.importable,
        "import_scan_skipped": a.observed.import_scan_skipped,
        "blockers": a.plan.blockers,
    })
}

/// Each drive's firmware verdict (`verdict`, and `finding` or `minimum`) with the drive's kernel
/// name beside it, as matching's decisions have it: the inventory has its serial, model and
/// revision.
fn firmware_json(a: &Assessment) -> Vec<Value> {
    a.firmware
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(&f.verdict).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut v {
                map.insert("name".into(), json!(f.name));
            }
            v
        })
        .collect()
}

pub fn plan_json(a: &Assessment, situation: &Situation) -> Value {
    let with_argv = phoenix_zfs::plan::kept::actions_json;
    json!({
        "schema": "phoenix-zfs/plan/1",
        "exit_code": exit_code(a),
        "situation": situation,
        "actions": with_argv(&a.plan.actions),
        "afterwards": with_argv(&a.plan.afterwards),
        "warnings": a.plan.warnings,
        "blockers": a.plan.blockers,
        "notes": a.plan.notes,
        "deferred": a.plan.deferred,
    })
}

/// `exit` is the one verify exits with.
pub fn verify_json(a: &Assessment, exit: Exit) -> Value {
    json!({
        "schema": "phoenix-zfs/verify/1",
        "exit_code": exit.code(),
        "differences": differences(a),
        "deferred": a.plan.deferred,
        "blockers": a.plan.blockers,
    })
}

/// What the probe's reading of a drive comes to, in one word or two.
fn contents_in_brief(d: &Disk) -> &'static str {
    match &d.probe {
        ProbeState::NotProbed => "not-probed",
        ProbeState::Unreadable { .. } => "unreadable",
        ProbeState::Read { .. } if contents::findings(d).is_empty() => "blank",
        ProbeState::Read { .. } => "holds data",
    }
}

pub fn detect(a: &Assessment, baselines: &BTreeMap<String, HealthRecord>, remedies: &Invocation) {
    println!("phoenix-zfs detect: root {}", a.inventory.root);
    for note in &a.inventory.notes {
        println!("note: {note}");
    }
    println!();
    let row = |cells: [&str; 7]| {
        println!(
            "{:<9} {:<30} {:<16} {:>9}  {:<10} {:<10}  {}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]
        )
    };
    row([
        "DEVICE", "MODEL", "SERIAL", "SIZE", "FIRMWARE", "CONTENTS", "ROLE",
    ]);
    for d in &a.inventory.disks {
        let role = match a.matching.pool_of(&d.name) {
            Some(pool) => pool,
            None if d.is_candidate() => "-",
            None => "not usable",
        };
        row([
            &d.name,
            d.model.as_deref().unwrap_or("-"),
            d.serial.as_deref().unwrap_or("-"),
            &size::decimal(d.size_bytes),
            d.firmware.as_deref().unwrap_or("-"),
            contents_in_brief(d),
            role,
        ]);
    }
    for d in &a.inventory.disks {
        println!();
        drive_details(a, d);
    }
    println!();
    pool_states(a);
    health(a, baselines);
    notes(a);
    if a.plan.blockers.is_empty() {
        println!("result: the drives fit the layout");
    }
    for b in &a.plan.blockers {
        refusal(b, remedies);
    }
}

/// Under the table, one drive: its path and class, what matching and the firmware policy made
/// of it (a pool's member: whose), its partitions, what each witness found (with what the probe
/// read of it).
fn drive_details(a: &Assessment, d: &Disk) {
    let class = SizeClass::of_drive(d.size_bytes, 0.01)
        .map_or_else(|| "no size class".into(), |c| format!("class {c}"));
    println!(
        "{}: {}, {class}, {}-byte blocks",
        d.name, d.preferred_path, d.logical_block_size
    );
    let line = |tag: &str, text: &str| println!("  {tag:<10} {text}");
    match a.matching.decisions.iter().find(|x| x.name == d.name) {
        Some(decision) => line("matching", &decision.reason),
        // Matching judges the NVMe drives; the inventory says why any other device is not one.
        None => {
            let why: Vec<String> = d.ineligible.iter().map(ToString::to_string).collect();
            line("matching", &format!("ineligible: {}", why.join("; ")));
        }
    }
    if let Some(f) = a.firmware.iter().find(|f| f.name == d.name) {
        line("firmware", &format!("{}: {}", f.revision, f.verdict));
    }
    for p in &d.partitions {
        let by: Vec<String> = p.listed_by.iter().map(ToString::to_string).collect();
        line(
            "partition",
            &format!(
                "{}: number {}, {}, listed by {}",
                p.name,
                p.number.map_or_else(|| "?".into(), |n| n.to_string()),
                size::decimal(p.size_bytes),
                by.join(", ")
            ),
        );
    }
    if !matches!(d.probe, ProbeState::NotProbed) {
        // The kernel's partitions are the `partition` lines above.
        for f in contents::findings(d)
            .into_iter()
            .filter(|f| f.witness != contents::Witness::Kernel)
        {
            let detail = f
                .detail
                .as_deref()
                .map(|x| format!(": {x}"))
                .unwrap_or_default();
            line(
                &f.witness.to_string(),
                &format!("{}: {}{detail}", f.device, f.what),
            );
        }
    }
}

/// Every pool ZFS knows of here, with its state: imported ones with their health, the ones
/// `zpool import` lists and whether another system had them last.
fn pool_states(a: &Assessment) {
    let o = &a.observed;
    if o.pools.is_empty()
        && o.other_pools.is_empty()
        && o.importable.is_empty()
        && o.destroyed.is_empty()
    {
        return;
    }
    println!("Pools:");
    for p in &o.pools {
        println!("  {}: imported, {}", p.name, p.health);
    }
    for p in &o.other_pools {
        println!("  {}: imported, not the layout's", p.name);
    }
    let listed = o.importable.iter().map(|p| (p, "exported"));
    for (p, presence) in listed.chain(o.destroyed.iter().map(|p| (p, "destroyed"))) {
        let elsewhere = match p.last_used_elsewhere {
            true => ", last imported by another system",
            false => "",
        };
        println!(
            "  {}: {presence}, {}, guid {}{elsewhere}",
            p.name, p.state, p.guid
        );
    }
    println!();
}

/// The plan's notes: what apply will make of the journal's entries, what a host read with
/// `--root` cannot show, what was not asked.
fn notes(a: &Assessment) {
    for note in &a.plan.notes {
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

/// A refusal: its first line after `refused:`, the rest indented under it.
pub fn refusal(blocker: &phoenix_zfs::plan::Blocker, remedies: &Invocation) {
    for (i, line) in blocker
        .lines()
        .iter()
        .map(|l| remedies.carry(l))
        .enumerate()
    {
        if i == 0 {
            println!("refused: {line}");
        } else {
            println!("    {line}");
        }
    }
}

/// `2 pools`, `1 pool property`, `4 pool properties`.
fn count(n: usize, noun: &str) -> String {
    match noun.strip_suffix('y') {
        _ if n == 1 || noun.ends_with('s') => format!("{n} {noun}"),
        Some(stem) => format!("{n} {stem}ies"),
        None => format!("{n} {noun}s"),
    }
}

/// What plan's first line counts, by verb and noun, in the order it says them; a verb said twice
/// in a row is said once (`create 2 pools and 8 datasets`).
const COUNTED: [(&str, &str); 16] = [
    ("import", "pool"),
    ("create", "pool"),
    ("create", "dataset"),
    ("replace", "mirror member"),
    ("change", "dataset"),
    ("change", "storage"),
    ("set", "pool property"),
    ("set", "NFS export"),
    ("set", "module parameter"),
    ("register", "storage"),
    ("install", "package"),
    ("write", "file"),
    ("reload", "service"),
    ("update", "initramfs"),
    ("bind", "dataset"),
    ("export", "pool"),
];

/// What `actions` do, counted (`create 2 pools and 8 datasets, register 4 storages`), then the
/// drives they wipe (`; wipe 2 drives (S1, S2)`).
fn what_it_does(actions: &[Action]) -> String {
    let mut counts = [0usize; COUNTED.len()];
    for action in actions {
        counts[match action {
            Action::ClearZfsLabels { .. } | Action::WipeDrive { .. } => continue,
            Action::ImportPool { .. } => 0,
            Action::CreatePool { .. } => 1,
            Action::CreateDataset { properties, .. } => {
                counts[7] += usize::from(properties.contains_key("sharenfs"));
                2
            }
            Action::ReplaceMember { .. } => 3,
            Action::SetDatasetProperties { changes, .. } => {
                counts[7] += usize::from(changes.iter().any(|c| c.property == "sharenfs"));
                4
            }
            Action::RegisterStorage { change, .. } if change != "add" => 5,
            Action::SetPoolProperty { .. } => 6,
            Action::SetModuleParameter { .. } => 8,
            Action::RegisterStorage { .. } => 9,
            Action::InstallPackages { .. } => 10,
            Action::WriteFile { .. } => 11,
            Action::ReloadService { .. } => 12,
            Action::RefreshInitramfs { .. } => 13,
            Action::BindMount { .. } => 14,
            Action::ExportPool { .. } => 15,
        }] += 1;
    }
    let mut text = String::new();
    let mut last = "";
    for ((verb, noun), n) in COUNTED.iter().zip(counts) {
        if n == 0 {
            continue;
        }
        if *verb == last {
            text.push_str(" and ");
        } else {
            if !text.is_empty() {
                text.push_str(", ");
            }
            text.push_str(verb);
            text.push(' ');
        }
        text.push_str(&count(n, noun));
        last = verb;
    }
    let wiped = phoenix_zfs::plan::wiped_drives(actions);
    if !wiped.is_empty() {
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(&format!(
            "wipe {} ({})",
            count(wiped.len(), "drive"),
            wiped.join(", ")
        ));
    }
    text
}

/// The plan: first what apply would do (or that it would do nothing, and why), then each action
/// with its command, those that erase a drive marked, then notes, deferred steps and warnings.
pub fn plan(a: &Assessment, remedies: &Invocation) {
    let p = &a.plan;
    let would = what_it_does(&p.actions);
    if !p.blockers.is_empty() {
        println!(
            "apply would change nothing: refused (exit {})",
            exit_code(a)
        );
        for b in &p.blockers {
            refusal(b, remedies);
        }
        if !p.actions.is_empty() {
            println!("once that is resolved, apply would: {would}");
        }
    } else if p.actions.is_empty() {
        println!("nothing to do: the host matches the layout");
    } else {
        println!("apply would: {would}");
    }
    for (i, action) in p.actions.iter().chain(&p.afterwards).enumerate() {
        if i == p.actions.len() {
            println!("then, once the host matches the layout:");
        }
        let mark = if action.destroys_data() {
            "[destroys data] "
        } else {
            ""
        };
        println!("{:>3}. {mark}{}", i + 1, action.summary());
        let argv = action.argv();
        if !argv.is_empty() {
            println!("     $ {}", runner::display(&argv));
        }
    }
    notes(a);
    for d in &p.deferred {
        println!("deferred: {}: {}", d.subject, remedies.carry(&d.why));
    }
    for w in &p.warnings {
        println!("warning[{}]: {}", w.code, remedies.carry(&w.message));
    }
}

/// Every difference the plan's actions say there is, in their order.
fn differences(a: &Assessment) -> Vec<Difference> {
    let mut found = Vec::new();
    for action in &a.plan.actions {
        action.differences(&mut found);
    }
    found
}

/// verify: notes, one `differs:` line per difference, refusals, the deferred steps under their
/// own heading, and last the one verdict that matches `exit`.
pub fn verify(a: &Assessment, exit: Exit, remedies: &Invocation) {
    notes(a);
    // A limit OpenZFS would ignore is not set, so it is no difference either; said here so that
    // `in sync` is not read as the ARC being limited.
    for w in a
        .plan
        .warnings
        .iter()
        .filter(|w| w.code == "arc-max-ignored")
    {
        println!("warning[{}]: {}", w.code, remedies.carry(&w.message));
    }
    let differences = differences(a);
    for d in &differences {
        println!("differs: {d}");
    }
    for b in &a.plan.blockers {
        refusal(b, remedies);
    }
    if !a.plan.deferred.is_empty() {
        println!("deferred (not differences: apply does them once the host allows):");
    }
    for d in &a.plan.deferred {
        println!("  {}: {}", d.subject, remedies.carry(&d.why));
    }
    let differ = count(differences.len(), "difference");
    match exit {
        Exit::Done => println!("in sync: the host matches the layout"),
        Exit::Differs => println!(
            "result: {differ} from the layout (exit 7); apply makes the host match"
        ),
        refused => println!(
            "result: refused (exit {}) and {differ} from the layout; apply changes nothing until the refusal is resolved",
            refused.code()
        ),
    }
}
