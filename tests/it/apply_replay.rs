//! apply, replayed: each case under tests/fixtures/replay/ holds the zpool/zfs transcripts one real
//! `phoenix-zfs apply` run recorded inside the QEMU guest (PHOENIX_ZFS_RECORD, OpenZFS 2.3), and a
//! case.toml saying on which fixture host, with which layout and --wipe, and what the outcome was.
//! Replaying the same inventory must issue exactly the recorded commands, the changes in order
//! (reads between two changes in any order: some run at once), and end the same way: this pins apply's behaviour on blank, converged, partial, drifted and exported hosts
//! and after a failing command, without root and without a VM.

use crate::fixtures;
use phoenix_zfs::apply::journal::Journal;
use phoenix_zfs::apply::{apply, ApplyReport, Ending, Inputs, Silent};
use phoenix_zfs::host::root::HostRoot;
use phoenix_zfs::layout::Layout;
use phoenix_zfs::runner::{changes_storage, is_mutating, ReplayRunner, Transcript};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// Which scenario step of qemu-tests recorded the transcripts.
    recorded_by: String,
    host: String,
    #[serde(default)]
    layout: Option<String>,
    #[serde(default)]
    wipe: Vec<String>,
    /// The step's exit code, and how many of its transcripts change storage: both written by
    /// `cargo xtask record-replay` from the step's results, not by hand.
    exit_code: u8,
    mutating_commands: usize,
    /// For failures: a word the failure reason must contain.
    #[serde(default)]
    failure_mentions: Option<String>,
}

/// Programs of the guest that the replay host lacks: Proxmox's pvesm (the stand-in), smartmontools
/// and systemctl. What they do is covered by tests/it/plan_cases.rs and the QEMU scenarios; here
/// only the ZFS side (and the `ip` call that finds the export network) is replayed.
const NOT_ON_THE_REPLAY_HOST: &[&str] = &["smartctl", "pvesm", "systemctl"];

/// Reads phoenix-zfs makes that some cases were recorded without (the run that recorded them did
/// not ask yet). The replay answers such a read "not recorded", which phoenix-zfs takes as
/// "unknown on this host" (a plan note), as for any `--root` host an older version recorded; it is
/// left out of the comparison only for a case whose recording lacks it, and a case recorded
/// since shows it in its place.
const ASKED_SINCE_SOME_RECORDINGS: &[&[&str]] =
    &[&["zpool", "import", "-D", "-d", "/dev/disk/by-id"]];

/// A copy of the fixture host with what the guest's network and NFS server look like from the
/// files phoenix-zfs reads: the default route through vmbr0, and exportfs installed.
pub(crate) fn with_guest_network(host: &Path, scratch: &Path) -> Result<PathBuf, String> {
    let root = scratch.join("host");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(host)
        .arg(&root)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("cp -a {} failed", host.display()));
    }
    let write = |path: &str, text: &str| -> Result<(), String> {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| e.to_string())
    };
    write(
        "proc/net/route",
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\nvmbr0\t00000000\t0132A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\nvmbr0\t0032A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
    )?;
    write("usr/sbin/exportfs", "")?;
    Ok(root)
}

/// The commands as the replay compares them: every change in its place, and between two changes
/// the reads in any order (apply runs independent reads at once, so they finish, and are
/// recorded, in whichever order the host lets them). A run of zpool/zfs changes to more than one
/// pool compares as each pool's changes in order: apply runs one pool's beside another's.
fn changes_in_order(commands: &[Vec<String>]) -> Vec<Vec<Vec<String>>> {
    let mut groups = vec![Vec::new()];
    let mut lanes: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    let close_lanes = |lanes: &mut Vec<(String, Vec<Vec<String>>)>, groups: &mut Vec<_>| {
        lanes.sort();
        for (_, changes) in lanes.drain(..) {
            groups.push(changes);
        }
    };
    for argv in commands {
        if !is_mutating(argv) {
            if !lanes.is_empty() {
                // Reads come only before or after a run of pool changes.
                close_lanes(&mut lanes, &mut groups);
                groups.push(Vec::new());
            }
            groups.last_mut().unwrap().push(argv.clone());
            continue;
        }
        groups.last_mut().unwrap().sort();
        match pool_changed(argv) {
            Some(pool) => match lanes.iter_mut().find(|(p, _)| *p == pool) {
                Some((_, changes)) => changes.push(argv.clone()),
                None => lanes.push((pool, vec![argv.clone()])),
            },
            None => {
                close_lanes(&mut lanes, &mut groups);
                groups.push(vec![argv.clone()]);
                groups.push(Vec::new());
            }
        }
    }
    close_lanes(&mut lanes, &mut groups);
    groups.last_mut().unwrap().sort();
    groups.retain(|g| !g.is_empty());
    groups
}

/// The pool a `zpool create|set|replace` or `zfs create|set` changes: its first operand that is
/// neither an option, an option's value (`k=v`, a path) nor a vdev keyword, up to the first `/`.
fn pool_changed(argv: &[String]) -> Option<String> {
    let tool = argv.first()?.as_str();
    let verb = argv.get(1)?.as_str();
    if !matches!(
        (tool, verb),
        ("zpool", "create" | "set" | "replace") | ("zfs", "create" | "set")
    ) {
        return None;
    }
    argv[2..]
        .iter()
        .find(|a| !a.starts_with('-') && !a.contains('=') && !a.starts_with('/'))
        .map(|operand| operand.split('/').next().unwrap_or(operand).to_string())
}

#[test]
fn reads_between_changes_compare_in_any_order_changes_never() {
    let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    let a = [argv("zpool list"), argv("zfs get x"), argv("zpool status")];
    let b = [argv("zpool list"), argv("zpool status"), argv("zfs get x")];
    assert_eq!(changes_in_order(&a), changes_in_order(&b));
    let c = [argv("pvesm add a"), argv("pvesm add b")];
    let d = [argv("pvesm add b"), argv("pvesm add a")];
    assert_ne!(changes_in_order(&c), changes_in_order(&d));
    let e = [argv("zpool list"), argv("zfs create p/a")];
    let f = [argv("zfs create p/a"), argv("zpool list")];
    assert_ne!(changes_in_order(&e), changes_in_order(&f));
}

#[test]
fn two_pools_changes_compare_by_pool_each_in_order() {
    let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    let serial = [
        argv("zpool list"),
        argv("zpool create -o ashift=12 -R /mnt quick mirror /dev/a /dev/b"),
        argv("zpool create -o ashift=12 -R /mnt fast /dev/c"),
        argv("zfs create -o quota=1G quick/a"),
        argv("zfs create fast/b"),
        argv("pvesm add dir x"),
    ];
    let side_by_side = [
        serial[0].clone(),
        serial[2].clone(),
        serial[4].clone(),
        serial[1].clone(),
        serial[3].clone(),
        serial[5].clone(),
    ];
    assert_eq!(changes_in_order(&serial), changes_in_order(&side_by_side));
    let dataset_before_its_pool = [
        serial[0].clone(),
        serial[3].clone(),
        serial[1].clone(),
        serial[2].clone(),
        serial[4].clone(),
        serial[5].clone(),
    ];
    assert_ne!(
        changes_in_order(&serial),
        changes_in_order(&dataset_before_its_pool)
    );
}

fn replay(dir: &Path) -> Result<(), String> {
    let case: Case =
        toml::from_str(&std::fs::read_to_string(dir.join("case.toml")).map_err(|e| e.to_string())?)
            .map_err(|e| format!("case.toml: {e}"))?;
    let transcripts = Transcript::load_dir(dir).map_err(|e| e.to_string())?;
    // The case against its own recording, whatever apply does today: a hand edit of
    // mutating_commands that disagrees with the transcripts fails here.
    let recorded_changes = transcripts
        .iter()
        .filter(|t| changes_storage(&t.argv))
        .count();
    if recorded_changes != case.mutating_commands {
        return Err(format!(
            "case.toml says mutating_commands = {}, but {recorded_changes} of the recorded \
             transcripts change storage; record the case again with `cargo xtask record-replay`",
            case.mutating_commands
        ));
    }
    let recorded: Vec<Vec<String>> = transcripts
        .iter()
        .map(|t| t.argv.clone())
        .filter(|argv| !NOT_ON_THE_REPLAY_HOST.contains(&argv[0].as_str()))
        .collect();
    let layout = match &case.layout {
        Some(l) => Layout::load(&fixtures::repo().join("qemu-tests/scenarios").join(l))
            .map_err(|e| e.to_string())?,
        None => Layout::default_layout(),
    };
    let runner = ReplayRunner::new(transcripts);
    let state = tempfile::tempdir().map_err(|e| e.to_string())?;
    let host = with_guest_network(&fixtures::path("hosts").join(&case.host), state.path())?;
    let journal = Journal::at(state.path().join("pending.json"));
    let inputs = Inputs {
        root: &HostRoot(host),
        target: &phoenix_zfs::host::target::Target::RunningSystem,
        layout: &layout,
        runner: &runner,
        consent: &phoenix_zfs::plan::Consent {
            wipe: case.wipe.clone(),
            force_import: false,
        },
        journal: &journal,
    };
    let report = apply(&inputs, &mut Silent);
    let mut seen = runner.seen();
    seen.retain(|argv| {
        recorded.contains(argv) || !ASKED_SINCE_SOME_RECORDINGS.iter().any(|a| argv == a)
    });
    if changes_in_order(&seen) != changes_in_order(&recorded) {
        return Err(format!("({}) commands differ from the recording:\n  ran:      {seen:?}\n  recorded: {recorded:?}", case.recorded_by));
    }
    if report.ending.exit_code() != case.exit_code {
        return Err(format!(
            "exit {} ({:?}), recorded {}",
            report.ending.exit_code(),
            report.ending,
            case.exit_code
        ));
    }
    let mutating = seen.iter().filter(|a| is_mutating(a)).count();
    if mutating != case.mutating_commands {
        return Err(format!(
            "{mutating} mutating commands, recorded {}",
            case.mutating_commands
        ));
    }
    if let (Some(word), Ending::Failed { reasons }) = (&case.failure_mentions, &report.ending) {
        if !reasons.iter().any(|r| r.contains(word.as_str())) {
            return Err(format!(
                "failure reasons {reasons:?} do not mention `{word}`"
            ));
        }
    }
    Ok(())
}

#[test]
fn every_recorded_apply_replays_identically() {
    let root = fixtures::path("replay");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read the replay cases in {}: {e}", root.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("case.toml").is_file())
        .collect();
    cases.sort();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            replay(c)
                .err()
                .map(|e| format!("{}: {e}", c.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        cases.len() >= 6,
        "only {} replay cases in {}",
        cases.len(),
        root.display()
    );
}

/// The recorded first apply on the blank host, as the replay host can answer it.
fn blank_host_transcripts() -> Vec<Transcript> {
    Transcript::load_dir(&fixtures::path("replay/blank-host-first-apply"))
        .unwrap()
        .into_iter()
        .filter(|t| !NOT_ON_THE_REPLAY_HOST.contains(&t.argv[0].as_str()))
        .collect()
}

/// apply with the default layout on the blank fixture host (qemu-default, synthesized in the
/// shape of the guest the transcripts were recorded in), answered from `transcripts`.
fn apply_on_blank_host(transcripts: Vec<Transcript>) -> (ApplyReport, ReplayRunner) {
    let (report, runner, _) = apply_with_journal(transcripts, Vec::new());
    (report, runner)
}

/// The same, with `pending` in the journal before; returns what the journal holds after.
fn apply_with_journal(
    transcripts: Vec<Transcript>,
    pending: Vec<phoenix_zfs::model::pending::PendingCreate>,
) -> (
    ApplyReport,
    ReplayRunner,
    Vec<phoenix_zfs::model::pending::PendingCreate>,
) {
    let runner = ReplayRunner::new(transcripts);
    let state = tempfile::tempdir().unwrap();
    let host = with_guest_network(&fixtures::path("hosts/qemu-default"), state.path()).unwrap();
    let journal = Journal::at(state.path().join("pending.json"));
    for entry in pending {
        journal.begin(entry).unwrap();
    }
    let inputs = Inputs {
        root: &HostRoot(host),
        target: &phoenix_zfs::host::target::Target::RunningSystem,
        layout: &Layout::default_layout(),
        runner: &runner,
        consent: &Default::default(),
        journal: &journal,
    };
    let report = apply(&inputs, &mut Silent);
    let left = journal.load().unwrap();
    (report, runner, left)
}

/// `zpool create` losing the race with udev ("one or more devices is currently unavailable",
/// met in the QEMU guest under load) is redone once, after `udevadm settle`: the blank
/// host's recorded first apply, with that failure put in front of its first create.
#[test]
fn a_create_that_races_udev_is_redone_after_udev_settles() {
    let mut transcripts = blank_host_transcripts();
    let first_create = transcripts
        .iter()
        .position(|t| t.argv[..2] == ["zpool", "create"])
        .expect("the blank host's apply creates pools");
    let mut raced = transcripts[first_create].clone();
    raced.output.code = Some(1);
    raced.output.stderr =
        "cannot create 'quickOS': one or more devices is currently unavailable\n".into();
    transcripts.insert(first_create, raced);
    // The round after the race sees no pools yet: the replay hands out a command's recordings
    // in order, so the first `zpool list` (no pools) is recorded twice.
    let first_list = transcripts
        .iter()
        .position(|t| t.argv[..2] == ["zpool", "list"])
        .expect("apply looks for the pools first");
    let again = transcripts[first_list].clone();
    transcripts.insert(first_list + 1, again);
    let mut settled = transcripts[0].clone();
    settled.argv = ["udevadm", "settle", "--timeout=60"]
        .map(String::from)
        .to_vec();
    settled.output.code = Some(0);
    settled.output.stdout.clear();
    settled.output.stderr.clear();
    transcripts.push(settled);

    let (report, runner) = apply_on_blank_host(transcripts);
    assert!(
        matches!(report.ending, Ending::Converged { changed: true }),
        "{:?}",
        report.ending
    );
    let creates: Vec<&str> = report
        .actions
        .iter()
        .filter(|r| r.argv[..2] == ["zpool", "create"] && r.argv.contains(&"quickOS".to_string()))
        .map(|r| match r.result {
            phoenix_zfs::manifest::ActionResult::Done => "done",
            phoenix_zfs::manifest::ActionResult::Failed => "failed",
        })
        .collect();
    // fastData's create runs beside quickOS's; the replay's second `zpool list` (no pools) has
    // the next round create it again, so only quickOS's creates say what happened.
    assert_eq!(creates, ["failed", "done"]);
    let seen = runner.seen();
    let settle = seen
        .iter()
        .position(|a| a[0] == "udevadm")
        .expect("udevadm settle ran");
    assert!(settle > first_create, "{seen:?}");
}

/// Both pools are created side by side: when both creates fail, apply says why for each, runs
/// no dataset of either, and nothing after them.
#[test]
fn two_failing_creates_are_both_reported_and_nothing_after_them_runs() {
    let transcripts = blank_host_transcripts()
        .into_iter()
        .map(|mut t| {
            if t.argv[..2] == ["zpool", "create"] {
                t.output.code = Some(1);
                t.output.stderr = "cannot create: I/O error\n".into();
            }
            t
        })
        .collect();
    let (report, runner, journal) = apply_with_journal(transcripts, Vec::new());
    let Ending::Failed { reasons } = &report.ending else {
        panic!("{:?}", report.ending);
    };
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    // The drives are still blank: the creates wrote nothing, so nothing is left for a later
    // run to recognise, and no entry may vouch for whatever the drives hold next.
    assert_eq!(journal, []);
    assert!(
        reasons[0].contains(" quickOS ") && reasons[1].contains(" fastData "),
        "{reasons:?}"
    );
    let changes: Vec<String> = runner
        .mutating_seen()
        .iter()
        .map(|argv| argv[..2].join(" "))
        .collect();
    assert_eq!(changes, ["zpool create", "zpool create"]);
}

/// A journal entry left by an earlier run on drives that are blank again vouches for nothing and
/// changes nothing: the pools are created as on any blank host, and the entry is gone after.
#[test]
fn a_stale_journal_entry_on_blank_drives_is_spent_by_the_create() {
    let stale = phoenix_zfs::model::pending::PendingCreate {
        pool: "quickOS".into(),
        drives: vec![phoenix_zfs::model::pending::JournaledDrive {
            serial: Some("S2TA0001".into()),
            path: "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001_1".into(),
        }],
        started_at: "2026-01-01T00:00:00Z".into(),
    };
    let (report, runner, journal) = apply_with_journal(blank_host_transcripts(), vec![stale]);
    assert!(
        matches!(report.ending, Ending::Converged { changed: true }),
        "{:?}",
        report.ending
    );
    assert_eq!(journal, []);
    assert!(
        !runner
            .mutating_seen()
            .iter()
            .any(|a| a.contains(&"-f".to_string()) || a[0] == "wipefs"),
        "{:?}",
        runner.mutating_seen()
    );
}
