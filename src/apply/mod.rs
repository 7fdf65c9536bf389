//! The only module that changes the world: runs the plan's actions through the runner (one
//! pool's beside another's, everything else one by one: lanes.rs), and plans again from what is
//! observed whenever the world may have moved (after an import, and at the end to prove
//! convergence). Nothing is carried between runs but the disks: an apply cut off at any point is
//! finished by the next one.

use crate::apply::journal::Journal;
use crate::assess::{assess, Assessment, ZfsSource};
use crate::exit::Exit;
use crate::formats::zfs::ZfsFailure;
use crate::host::root::HostRoot;
use crate::host::target::Target;
use crate::layout::Layout;
use crate::manifest::{now_rfc3339, ActionRecord, ActionResult};
use crate::model::disk::Inventory;
use crate::model::pending::{JournaledDrive, PendingCreate};
use crate::plan::Action;
use crate::report::Report;
use crate::runner::{self, Runner};
use std::time::{Duration, Instant};

pub mod atomic_file;
pub mod deferred;
pub mod journal;
mod lanes;

use lanes::{Executed, Step};

/// Creating a pool on a large drive can take a while (labels, TRIM with autotrim); nothing
/// legitimate takes ten minutes.
pub const CHANGE_TIMEOUT: Duration = Duration::from_secs(600);

/// How many times apply plans again before it gives up on converging. Each round either runs
/// actions or ends; two rounds suffice for an import followed by its datasets.
const MAX_ROUNDS: usize = 4;

/// Progress reporting, implemented by the command line (a status line on a terminal, plain
/// lines otherwise) and by tests. Always called from apply's own thread; `index` is the action's place
/// among the run's actions, and since different pools' actions run at once, one action may start
/// before another has finished.
pub trait Progress {
    fn round(&mut self, actions: &[Action]);
    fn started(&mut self, index: usize, action: &Action);
    fn finished(&mut self, index: usize, record: &ActionRecord);
}

/// Does nothing: for callers that only want the result.
pub struct Silent;

impl Progress for Silent {
    fn round(&mut self, _: &[Action]) {}
    fn started(&mut self, _: usize, _: &Action) {}
    fn finished(&mut self, _: usize, _: &ActionRecord) {}
}

#[derive(Debug)]
pub enum Ending {
    /// The host matches the layout; `changed` says whether this run made changes.
    Converged { changed: bool },
    /// Blockers stopped the run before any change (their exit code: 3, 4 or 5).
    Refused {
        exit: Exit,
        /// What the manifest records: each blocker's message.
        reasons: Vec<String>,
        /// The blockers themselves, for the refusal as a person reads it.
        blockers: Vec<crate::plan::Blocker>,
    },
    /// A command failed (exit 6); a rerun resumes.
    Failed { reasons: Vec<String> },
    /// The state could not be read (exit 1).
    Unexpected { reasons: Vec<String> },
}

impl Ending {
    pub fn exit(&self) -> Exit {
        match self {
            Ending::Converged { .. } => Exit::Done,
            Ending::Refused { exit, .. } => *exit,
            Ending::Failed { .. } => Exit::CommandFailed,
            Ending::Unexpected { .. } => Exit::Unexpected,
        }
    }

    /// [`Ending::exit`] as the number the manifest records.
    pub fn exit_code(&self) -> u8 {
        self.exit().code()
    }
}

#[derive(Debug)]
pub struct ApplyReport {
    pub ending: Ending,
    pub actions: Vec<ActionRecord>,
    /// The first assessment: what the host was before this run.
    pub first: Option<Assessment>,
    /// The last assessment: the state the manifest describes. None only when the very first
    /// observation failed.
    pub last: Option<Assessment>,
}

impl ApplyReport {
    fn ended(
        ending: Ending,
        actions: Vec<ActionRecord>,
        first: Option<Assessment>,
        last: Assessment,
    ) -> ApplyReport {
        ApplyReport {
            ending,
            actions,
            first,
            last: Some(last),
        }
    }

    fn failed(
        reason: String,
        actions: Vec<ActionRecord>,
        first: Option<Assessment>,
        last: Assessment,
    ) -> ApplyReport {
        let ending = Ending::Failed {
            reasons: vec![reason],
        };
        ApplyReport::ended(ending, actions, first, last)
    }
}

/// Writes a file a `WriteFile` action carries, under `root` (the target's tree for configuration,
/// the host's for sysfs).
/// `replace`: write a temporary file and rename it over the target; otherwise write in place
/// (sysfs parameters, which take a value per write and cannot be renamed over).
fn write_file(
    root: &HostRoot,
    summary: String,
    path: &str,
    content: &str,
    replace: bool,
) -> ActionRecord {
    let started_at = now_rfc3339();
    let clock = Instant::now();
    // The error names `path` as the target system knows it, not under the host's root.
    let result = if replace {
        crate::apply::atomic_file::write_atomically(&root.path(path), content.as_bytes())
            .map_err(|e| e.source)
    } else {
        std::fs::write(root.path(path), content.as_bytes())
    };
    tracing::info!(path = %path, bytes = content.len(), ok = result.is_ok(), "wrote file");
    ActionRecord {
        summary,
        argv: Vec::new(),
        started_at,
        duration_ms: clock.elapsed().as_millis() as u64,
        result: if result.is_ok() {
            ActionResult::Done
        } else {
            ActionResult::Failed
        },
        exit_code: None,
        error: result
            .err()
            .map(|e| format!("cannot write {path}: {}", Report(&e))),
    }
}

/// Runs one action's command and records how it went.
pub fn run_action(runner: &dyn Runner, action: &Action) -> ActionRecord {
    run_classified(runner, action).0
}

/// The record, and for a failed zpool/zfs command what its stderr says went wrong.
fn run_classified(runner: &dyn Runner, action: &Action) -> (ActionRecord, Option<ZfsFailure>) {
    let argv = action.argv();
    let started_at = now_rfc3339();
    let clock = Instant::now();
    let result = runner.run(&argv, CHANGE_TIMEOUT);
    let duration_ms = clock.elapsed().as_millis() as u64;
    let mut failure = None;
    let (result, exit_code, error) = match result {
        Ok(out) if out.success() => (ActionResult::Done, Some(0), None),
        Ok(out) => {
            // zfs's own words first; then, when the failure is one zfs is known for, what it
            // means and what to do.
            let stderr = out.stderr.trim().replace('\n', " / ");
            let classified = crate::formats::zfs::classify_stderr(&out.stderr);
            let text = match &classified {
                ZfsFailure::Unknown { .. } if stderr.is_empty() => {
                    "it printed nothing on stderr".to_string()
                }
                ZfsFailure::Unknown { .. } => stderr,
                known => format!("{stderr} ({known})"),
            };
            failure = Some(classified);
            (ActionResult::Failed, out.code, Some(text))
        }
        Err(e) => (ActionResult::Failed, None, Some(Report(&e).to_string())),
    };
    let record = ActionRecord {
        summary: action.summary(),
        argv,
        started_at,
        duration_ms,
        result,
        exit_code,
        error,
    };
    (record, failure)
}

/// A pool's creation that was not begun, since the journal could not say it was: a create cut
/// off without its entry would leave drives that a rerun cannot tell from someone's data.
#[derive(Debug, thiserror::Error)]
#[error("pool {pool} was not created")]
pub struct NotBegun {
    pool: String,
    #[source]
    source: crate::apply::journal::JournalError,
}

/// The drives and partitions an action writes, by the path it names them with.
fn written_paths(action: &Action) -> Vec<&str> {
    match action {
        Action::WipeDrive { path, .. } | Action::ClearZfsLabels { path, .. } => vec![path],
        Action::CreatePool { devices, .. } => devices.iter().map(String::as_str).collect(),
        Action::ReplaceMember { new_device, .. } => vec![new_device],
        _ => Vec::new(),
    }
}

/// Why `path` no longer names the device the witnesses read (a drive pulled, swapped or
/// renumbered since), or None when it still does: the same kernel name and, on the host itself,
/// the same device number.
fn device_moved(root: &HostRoot, inventory: &Inventory, path: &str) -> Option<String> {
    let (disk_path, number) = match path.rsplit_once("-part") {
        Some((disk, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (disk, n.parse::<u32>().ok())
        }
        _ => (path, None),
    };
    let Some(disk) = inventory
        .disks
        .iter()
        .find(|d| d.preferred_path == disk_path)
    else {
        return Some(format!("{path} is not a drive phoenix-zfs read"));
    };
    let (name, major_minor) = match number {
        None => (disk.name.as_str(), disk.major_minor.as_deref()),
        Some(n) => match disk
            .partitions
            .iter()
            .find(|p| p.number == Some(n) && p.has_node())
        {
            Some(p) => (p.name.as_str(), p.major_minor.as_deref()),
            None => return Some(format!("{path}: {} had no partition {n}", disk.name)),
        },
    };
    let now = match crate::host::identity::resolve(root, path) {
        Ok(now) => now,
        Err(e) => return Some(Report(&e).to_string()),
    };
    let same_number = match (now.major_minor.as_deref(), major_minor) {
        (Some(now), Some(then)) => now == then,
        _ => true,
    };
    if now.name == name && same_number {
        return None;
    }
    Some(format!(
        "{path} now leads to {} ({}), not to {name} ({}) that phoenix-zfs read and proved writable",
        now.name,
        now.major_minor.as_deref().unwrap_or("no device number"),
        major_minor.unwrap_or("no device number")
    ))
}

/// Why the round must not begin: a drive it would write is not the one read any more.
fn devices_moved(root: &HostRoot, inventory: &Inventory, actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .flat_map(written_paths)
        .filter_map(|path| device_moved(root, inventory, path))
        .map(|why| {
            format!(
                "{why}: nothing was written to it; `{}` reads the drives anew",
                crate::remedy::APPLY
            )
        })
        .collect()
}

/// Runs one action: the command, or the file it writes; a pool's creation written into the
/// journal before, with the serial of the drive at each path as `inventory` read it, and cleared
/// from it after, unless the create failed after it began to write the drives.
fn execute(
    root: &HostRoot,
    target: &Target,
    runner: &dyn Runner,
    journal: &Journal,
    inventory: &Inventory,
    action: &Action,
) -> Executed {
    // Checked again right before the write: the round's own check may be seconds old.
    let moved = devices_moved(root, inventory, std::slice::from_ref(action));
    if !moved.is_empty() {
        let record = ActionRecord {
            summary: action.summary(),
            argv: action.argv(),
            started_at: now_rfc3339(),
            duration_ms: 0,
            result: ActionResult::Failed,
            exit_code: None,
            error: Some(moved.join("; ")),
        };
        return Ok((record, None));
    }
    if let Action::CreatePool { pool, devices, .. } = action {
        let drives = devices
            .iter()
            .map(|path| JournaledDrive {
                serial: inventory
                    .disks
                    .iter()
                    .find(|d| d.preferred_path == *path)
                    .and_then(|d| d.serial.clone()),
                path: path.clone(),
            })
            .collect();
        let entry = PendingCreate {
            pool: pool.clone(),
            drives,
            started_at: now_rfc3339(),
        };
        journal.begin(entry).map_err(|source| NotBegun {
            pool: pool.clone(),
            source,
        })?;
    }
    let (record, failure) = match action {
        Action::WriteFile { path, content, .. } => (
            write_file(&target.files(root), action.summary(), path, content, true),
            None,
        ),
        Action::SetModuleParameter { path, to, .. } => {
            (write_file(root, action.summary(), path, to, false), None)
        }
        _ => run_classified(runner, action),
    };
    if let Action::CreatePool { pool, devices, .. } = action {
        // A create that failed before it wrote anything (a mount point in the way, a device
        // zpool refused) leaves nothing for a later run to recognise: its entry goes too.
        let blank = |path: &String| {
            let disk = inventory.disks.iter().find(|d| d.preferred_path == *path);
            disk.is_some_and(|d| crate::host::inventory::device_is_blank(root, path, d.size_bytes))
        };
        let spent = record.result == ActionResult::Done || devices.iter().all(blank);
        if spent {
            if let Err(e) = journal.finish(pool) {
                tracing::warn!(error = %Report(&e), "cannot clear the journal entry of pool {pool}");
            }
        }
    }
    Ok((record, failure))
}

/// Why a failed action stopped the run: its command and what went wrong.
fn failure_reason(record: &ActionRecord) -> String {
    let error = record.error.clone().unwrap_or_default();
    if record.argv.is_empty() {
        error
    } else {
        format!("`{}`: {error}", runner::display(&record.argv))
    }
}

/// Waits until udev has handled every event queued so far (the new partitions among them).
fn udevadm_settle_argv() -> Vec<String> {
    ["udevadm", "settle", "--timeout=60"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// What apply works on: the host it reads, the system it provisions, the layout it converges
/// to, how it runs commands, what the administrator consented to, and the journal of creates.
pub struct Inputs<'a> {
    pub root: &'a HostRoot,
    pub target: &'a Target,
    pub layout: &'a Layout,
    pub runner: &'a dyn Runner,
    pub consent: &'a crate::plan::Consent,
    pub journal: &'a Journal,
}

/// Converges the host to the layout, within what `consent` allows.
pub fn apply(inputs: &Inputs, progress: &mut dyn Progress) -> ApplyReport {
    apply_from(None, inputs, progress)
}

/// [`apply`], its first round acting on `read`, the host as the caller read it with the same
/// layout, consent and journal, instead of reading it again: `apply --plan` runs the round it
/// checked against the kept plan, with nothing read in between.
pub fn apply_from(
    mut read: Option<Assessment>,
    inputs: &Inputs,
    progress: &mut dyn Progress,
) -> ApplyReport {
    let Inputs {
        root,
        target,
        layout,
        runner,
        consent,
        journal,
    } = *inputs;
    let mut records: Vec<ActionRecord> = Vec::new();
    let mut first: Option<Assessment> = None;
    let mut last = None;
    let mut settled_for_retry = false;
    'rounds: for _ in 0..MAX_ROUNDS {
        let pending = journal.load_or_none();
        // The network and drive health do not change between rounds; what the actions change
        // (pools, datasets, storage.cfg, smartd.conf) is read again, the pools the last round
        // made or imported while `zpool list` runs.
        let earlier = last.as_ref();
        let assessment = match read.take().map(Ok).unwrap_or_else(|| {
            assess(
                root,
                target,
                layout,
                ZfsSource::Tools(runner),
                consent,
                &pending,
                earlier,
            )
        }) {
            Ok(a) => a,
            Err(e) => {
                return ApplyReport {
                    ending: Ending::Unexpected {
                        reasons: vec![Report(&e).to_string()],
                    },
                    actions: records,
                    first,
                    last,
                }
            }
        };
        if first.is_none() {
            first = Some(assessment.clone());
        }
        // A pool that exists (imported or importable) is no longer being created: its entry is
        // spent, and must not vouch for drives later.
        for entry in &pending {
            let exists = assessment.observed.pool(&entry.pool).is_some()
                || assessment.observed.importable(&entry.pool).is_some();
            if exists {
                if let Err(e) = journal.finish(&entry.pool) {
                    tracing::warn!(error = %Report(&e), "cannot clear the journal entry of pool {}", entry.pool);
                }
            }
        }
        if let Some(exit) = assessment.plan.exit() {
            let reasons = assessment
                .plan
                .blockers
                .iter()
                .map(|b| b.message())
                .collect();
            return ApplyReport::ended(
                Ending::Refused {
                    exit,
                    reasons,
                    blockers: assessment.plan.blockers.clone(),
                },
                records,
                first,
                assessment,
            );
        }
        if assessment.plan.actions.is_empty() {
            let changed = !records.is_empty() || !assessment.plan.afterwards.is_empty();
            if let Some(reason) =
                run_afterwards(runner, &assessment.plan.afterwards, &mut records, progress)
            {
                return ApplyReport::failed(reason, records, first, assessment);
            }
            return ApplyReport::ended(Ending::Converged { changed }, records, first, assessment);
        }
        let moved = devices_moved(root, &assessment.inventory, &assessment.plan.actions);
        if !moved.is_empty() {
            return ApplyReport::ended(
                Ending::Failed { reasons: moved },
                records,
                first,
                assessment,
            );
        }
        progress.round(&assessment.plan.actions);
        let actions = &assessment.plan.actions;
        let base = records.len();
        let inventory = &assessment.inventory;
        let run_one = |action: &Action| execute(root, target, runner, journal, inventory, action);
        for step in lanes::steps(actions) {
            let ran = match &step {
                Step::Alone(index) => {
                    progress.started(base + index, &actions[*index]);
                    let executed = run_one(&actions[*index]);
                    if let Ok((record, _)) = &executed {
                        progress.finished(base + index, record);
                    }
                    vec![(*index, executed)]
                }
                Step::SideBySide(lanes) => {
                    lanes::run_side_by_side(lanes, actions, base, progress, &run_one)
                }
            };
            let mut failures = Vec::new();
            let mut retry = false;
            for (_, executed) in ran {
                let (record, zfs_failure) = match executed {
                    Ok(ran) => ran,
                    Err(not_begun) => {
                        failures.push(Report(&not_begun).to_string());
                        continue;
                    }
                };
                if record.result == ActionResult::Failed {
                    let unavailable =
                        matches!(zfs_failure, Some(ZfsFailure::DevicesUnavailable { .. }));
                    if unavailable && !settled_for_retry {
                        retry = true;
                    } else {
                        failures.push(failure_reason(&record));
                    }
                }
                records.push(record);
            }
            if !failures.is_empty() {
                let ending = Ending::Failed { reasons: failures };
                return ApplyReport::ended(ending, records, first, assessment);
            }
            if retry {
                // udev still had the new partitions open: wait for it, then plan again. The
                // journal names these drives, so the next round wipes what the create left
                // and creates again.
                settled_for_retry = true;
                let settle = udevadm_settle_argv();
                if let Err(e) = runner.run(&settle, CHANGE_TIMEOUT) {
                    tracing::warn!(error = %Report(&e), "udevadm settle failed; retrying the create anyway");
                }
                last = Some(assessment);
                continue 'rounds;
            }
            // An import reveals datasets and properties the plan could not see: once the
            // imports (planned first, together) are done, plan again.
            if let Step::Alone(index) = step {
                let next_is_import =
                    matches!(actions.get(index + 1), Some(Action::ImportPool { .. }));
                if matches!(actions[index], Action::ImportPool { .. }) && !next_is_import {
                    break;
                }
            }
        }
        last = Some(assessment);
    }
    let reasons = vec![format!(
        "the host still differs from the layout after {MAX_ROUNDS} rounds of changes; `{}` shows what differs",
        crate::remedy::VERIFY
    )];
    ApplyReport {
        ending: Ending::Failed { reasons },
        actions: records,
        first,
        last,
    }
}

/// The plan's `afterwards` (the hand-over exports), once the host matches the layout. Returns
/// why it stopped, when an action failed.
fn run_afterwards(
    runner: &dyn Runner,
    afterwards: &[Action],
    records: &mut Vec<ActionRecord>,
    progress: &mut dyn Progress,
) -> Option<String> {
    if afterwards.is_empty() {
        return None;
    }
    progress.round(afterwards);
    for action in afterwards {
        let index = records.len();
        progress.started(index, action);
        let record = run_action(runner, action);
        progress.finished(index, &record);
        let failed = record.result == ActionResult::Failed;
        let reason = failure_reason(&record);
        records.push(record);
        if failed {
            return Some(reason);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::ondisk::PartitionSource;
    use crate::model::disk::{Disk, Partition, ProbeState};
    use std::os::unix::fs::symlink;

    fn inventory(disks: Vec<Disk>) -> Inventory {
        Inventory {
            root: "/".into(),
            udev_database: true,
            notes: Vec::new(),
            disks,
            zvols: 0,
            udev_zfs: Default::default(),
        }
    }

    /// Three levels, each said once and in order: the pool, the journal, the file system's words.
    #[test]
    fn a_pool_not_begun_reports_the_journal_and_its_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("run");
        std::fs::write(&not_a_dir, "a file where the journal's directory must be").unwrap();
        let journal = Journal::at(not_a_dir.join("journal.json"));
        let entry = PendingCreate {
            pool: "tank".into(),
            drives: Vec::new(),
            started_at: now_rfc3339(),
        };
        let source = journal.begin(entry).unwrap_err();
        let io_words = std::error::Error::source(&source).unwrap().to_string();
        let not_begun = NotBegun {
            pool: "tank".into(),
            source,
        };
        let line = crate::report::Report(&not_begun).to_string();
        let levels = [
            "pool tank was not created".to_string(),
            format!("cannot write the journal {}", journal.path().display()),
            io_words,
        ];
        assert_eq!(line, levels.join(": "));
        for level in &levels {
            assert_eq!(line.matches(level.as_str()).count(), 1, "{level} in {line}");
        }
    }

    #[test]
    fn a_link_that_leads_elsewhere_now_stops_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot(dir.path().to_path_buf());
        std::fs::create_dir_all(dir.path().join("dev/disk/by-id")).unwrap();
        for node in ["nvme0n1", "nvme0n1p1", "nvme1n1"] {
            std::fs::write(dir.path().join("dev").join(node), b"").unwrap();
        }
        let mut disk = Disk::test_nvme("nvme0n1", "X", "S1", 1 << 40);
        disk.partitions = vec![Partition {
            name: "nvme0n1p1".into(),
            number: Some(1),
            start_bytes: Some(1 << 20),
            size_bytes: 1 << 30,
            listed_by: vec![PartitionSource::Kernel],
            probe: ProbeState::NotProbed,
            udev: None,
            major_minor: None,
        }];
        let link = dir.path().join(disk.preferred_path.trim_start_matches('/'));
        let part_link = format!("{}-part1", link.display());
        let path = disk.preferred_path.clone();
        let inventory = inventory(vec![disk]);

        symlink("../../nvme0n1", &link).unwrap();
        symlink("../../nvme0n1p1", &part_link).unwrap();
        assert_eq!(device_moved(&root, &inventory, &path), None);
        assert_eq!(
            device_moved(&root, &inventory, &format!("{path}-part1")),
            None
        );

        std::fs::remove_file(&link).unwrap();
        symlink("../../nvme1n1", &link).unwrap();
        let why = device_moved(&root, &inventory, &path).expect("moved");
        assert!(why.contains("now leads to nvme1n1"), "{why}");
        std::fs::remove_file(&link).unwrap();
        assert!(device_moved(&root, &inventory, &path).is_some(), "gone");
        assert!(device_moved(&root, &inventory, &format!("{path}-part2")).is_some());
        assert!(device_moved(&root, &inventory, "/dev/disk/by-id/other").is_some());

        let create = Action::CreatePool {
            pool: "quickOS".into(),
            vdev: crate::layout::VdevLayout::Single,
            devices: vec![path.clone()],
            properties: Default::default(),
            filesystem_properties: Default::default(),
            altroot: None,
        };
        let reasons = devices_moved(&root, &inventory, &[create]);
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0]
            .ends_with("nothing was written to it; `phoenix-zfs apply` reads the drives anew"));
    }
}
