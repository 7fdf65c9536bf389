//! Reads the ZFS state the layout cares about, with as few and as narrow zpool/zfs calls as
//! possible: the layout's pools by name, its datasets by name, only the properties it sets, no
//! recursion and so never a walk over snapshots or zvols. A converged host costs three commands.
//! Every member of every pool it reads, of every vdev class, is looked up on the host
//! ([`super::devices`]) before it is returned.

use crate::formats::zfs::{self, DatasetType};
use crate::host::judge;
use crate::host::root::HostRoot;
use crate::host::zfs_state::devices;
use crate::host::ObserveError;
use crate::layout::Layout;
use crate::model::pools::{
    DatasetKind, ImportablePool, Observed, ObservedDataset, ObservedPool, ObservedValue, OtherPool,
};
use crate::runner::{self, Output, Runner};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Reading commands answer in well under a second on a healthy host; a minute means a hung pool.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A reading command with the read timeout.
fn read(runner: &dyn Runner, argv: &[String], tolerated: &[&str]) -> Result<Output, ObserveError> {
    crate::host::read(runner, argv, READ_TIMEOUT, tolerated)
}

/// The whole observation, the import scans always run when a layout pool is missing: for a
/// caller without an inventory to judge the scans by. assess runs the two halves itself.
pub fn observe(
    root: &HostRoot,
    runner: &dyn Runner,
    layout: &Layout,
) -> Result<Observed, ObserveError> {
    let mut observed = observe_imported(root, runner, layout, None)?;
    scan_importable(root, runner, layout, &mut observed, || None)?;
    Ok(observed)
}

/// The layout's pools that are imported, and their datasets; and the members of every other
/// imported pool, which no plan may touch.
///
/// `expected`: the pools that should be imported now (after a round of apply's actions): their
/// status and datasets are read while `zpool list` runs, and used only when it lists exactly
/// them; otherwise they are read again for what it lists.
pub fn observe_imported(
    root: &HostRoot,
    runner: &dyn Runner,
    layout: &Layout,
    expected: Option<&BTreeSet<String>>,
) -> Result<Observed, ObserveError> {
    let mut columns: BTreeSet<String> = ["guid", "health"].iter().map(|s| s.to_string()).collect();
    columns.extend(
        layout
            .pools
            .iter()
            .flat_map(|p| p.properties.keys().cloned()),
    );
    let columns: Vec<String> = columns.into_iter().collect();

    // Every imported pool, not only the layout's: another pool's drives are never candidates.
    // Not `zpool get`: since OpenZFS 2.2 a missing second pool makes it a usage error.
    let mut observed = Observed::default();
    let expected: Option<Vec<String>> = expected
        .filter(|pools| !pools.is_empty())
        .map(|pools| pools.iter().cloned().collect());
    let (listed, read_ahead) = std::thread::scope(|scope| {
        let read_ahead = expected
            .as_deref()
            .map(|pools| scope.spawn(move || read_pools(runner, layout, pools)));
        let listed = list_pools(runner, layout, &columns, &mut observed);
        let read_ahead =
            read_ahead.map(|r| r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (listed, read_ahead)
    });
    let by_pool = listed?;
    let imported: Vec<String> = by_pool.keys().cloned().collect();
    if imported.is_empty() {
        return Ok(observed);
    }
    let (status, datasets) = match read_ahead {
        Some(read) if expected.as_ref() == Some(&imported) => read,
        _ => read_pools(runner, layout, &imported),
    };
    let statuses = status?;
    for (name, properties) in by_pool {
        let status = statuses.iter().find(|s| s.name == name);
        if layout.pool(&name).is_some() {
            observed
                .pools
                .push(ObservedPool::from_status(name, properties, status));
        } else {
            observed
                .other_pools
                .push(OtherPool::from_status(name, status));
        }
    }
    observed.datasets = datasets?;
    devices::resolve(root, observed.members_mut());
    Ok(observed)
}

/// Every imported pool with the `columns` asked of it, by name.
fn list_pools(
    runner: &dyn Runner,
    layout: &Layout,
    columns: &[String],
    observed: &mut Observed,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ObserveError> {
    // Every imported pool, not only the layout's: another pool's drives are never candidates.
    // Not `zpool get`: since OpenZFS 2.2 a missing second pool makes it a usage error.
    let mut argv = zfs::zpool_list_props_argv(columns, &[] as &[&str]);
    let out = match runner.run(&argv, READ_TIMEOUT) {
        Err(runner::RunError::NotRecorded { .. }) => {
            // A host recorded by an earlier phoenix-zfs (`--root DIR` with zfs-commands/) asked
            // for the layout's pools by name: read what it has; other pools stay unknown there.
            let pools: Vec<&str> = layout.pools.iter().map(|p| p.name()).collect();
            argv = zfs::zpool_list_props_argv(columns, &pools);
            observed.other_pools_unknown = true;
            read(runner, &argv, &["no such pool"])?
        }
        ran => judge(&argv, ran, &[])?,
    };
    Ok(zfs::parse_zpool_list_props(&out.stdout, columns)
        .map_err(|e| ObserveError::output(&argv, e))?
        .into_iter()
        .map(|p| (p.name, p.values))
        .collect())
}

/// The members of the `imported` pools (`zpool status`), and the datasets of those that are the
/// layout's: two independent reads, side by side (under emulation each process costs tens of
/// milliseconds).
#[allow(clippy::type_complexity)]
fn read_pools(
    runner: &dyn Runner,
    layout: &Layout,
    imported: &[String],
) -> (
    Result<Vec<zfs::PoolStatus>, ObserveError>,
    Result<Vec<ObservedDataset>, ObserveError>,
) {
    let ours: Vec<String> = imported
        .iter()
        .filter(|p| layout.pool(p).is_some())
        .cloned()
        .collect();
    let argv = zfs::zpool_status_argv(imported);
    std::thread::scope(|scope| {
        let datasets = scope.spawn(|| {
            if ours.is_empty() {
                return Ok(Vec::new());
            }
            observe_datasets(runner, layout, &ours)
        });
        let status = read(runner, &argv, &[]).and_then(|out| {
            zfs::parse_zpool_status(&out.stdout).map_err(|e| ObserveError::output(&argv, e))
        });
        let datasets = datasets
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (status, datasets)
    })
}

/// When a layout pool is not imported, or one has a member to replace (so that a drive may be
/// written), the pools `zpool import` finds and the destroyed ones `zpool import -D` finds (it
/// lists those alone): their members are never written. `skip` is asked first: why the scans
/// can find nothing here ([`crate::import_scan`]: a destroyed pool keeps its labels like any
/// other), or None to scan; a skipped scan's reason is kept in the observation.
pub fn scan_importable(
    root: &HostRoot,
    runner: &dyn Runner,
    layout: &Layout,
    observed: &mut Observed,
    skip: impl FnOnce() -> Option<String>,
) -> Result<(), ObserveError> {
    let nothing_to_write = layout.pools.iter().all(|p| {
        observed
            .pool(p.name())
            .is_some_and(|o| o.missing.is_empty())
    });
    if nothing_to_write {
        return Ok(());
    }
    if let Some(why) = skip() {
        tracing::info!(why = %why, "zpool import scan skipped");
        observed.import_scan_skipped = Some(why);
        return Ok(());
    }
    // One after the other, never side by side: each scan has the kernel try every pool it finds
    // under the one temporary name `$import`, and since OpenZFS 2.3 lets imports run at once
    // (docs/facts.md), two scans together silently lose pools ("no pools available to import"
    // for a pool that is there).
    let importable = scan(runner);
    let destroyed = scan_destroyed(runner);
    observed.importable = importable?
        .into_iter()
        .filter(|p| !p.destroyed)
        .map(ImportablePool::from_scan)
        .collect();
    match destroyed? {
        Some(pools) => {
            observed.destroyed = pools
                .into_iter()
                .filter(|p| p.destroyed)
                .map(ImportablePool::from_scan)
                .collect();
        }
        None => observed.destroyed_unknown = true,
    }
    devices::resolve(root, observed.members_mut());
    Ok(())
}

/// What zpool says when a scan finds nothing, on stderr (exit 0).
const NOTHING_TO_IMPORT: &str = "no pools available to import";

/// The pools `zpool import` lists.
fn scan(runner: &dyn Runner) -> Result<Vec<zfs::ImportablePool>, ObserveError> {
    let argv = zfs::zpool_import_scan_argv();
    let out = read(runner, &argv, &[NOTHING_TO_IMPORT])?;
    zfs::parse_zpool_import_scan(&out.stdout).map_err(|e| ObserveError::output(&argv, e))
}

/// The destroyed pools `zpool import -D` lists; None on a host read with `--root` whose
/// transcripts were recorded by a phoenix-zfs that did not ask it, which is read for what it
/// has, like `zpool list` there.
fn scan_destroyed(runner: &dyn Runner) -> Result<Option<Vec<zfs::ImportablePool>>, ObserveError> {
    let argv = zfs::zpool_import_destroyed_scan_argv();
    let out = match runner.run(&argv, READ_TIMEOUT) {
        Err(runner::RunError::NotRecorded { .. }) => return Ok(None),
        ran => judge(&argv, ran, &[NOTHING_TO_IMPORT])?,
    };
    zfs::parse_zpool_import_scan(&out.stdout)
        .map(Some)
        .map_err(|e| ObserveError::output(&argv, e))
}

/// One `zfs get` naming each dataset of the imported pools (their root datasets included).
fn observe_datasets(
    runner: &dyn Runner,
    layout: &Layout,
    imported: &[String],
) -> Result<Vec<ObservedDataset>, ObserveError> {
    let mut names: Vec<String> = imported.to_vec();
    names.extend(
        layout
            .datasets
            .iter()
            .filter(|d| imported.iter().any(|p| p == d.pool()))
            .map(|d| d.name().to_string()),
    );
    // guid identifies the dataset in the manifest; the rest are what the layout sets.
    let mut props: BTreeSet<String> = BTreeSet::from(["type".to_string(), "guid".to_string()]);
    props.extend(
        layout
            .datasets
            .iter()
            .flat_map(|d| d.properties.keys().cloned()),
    );
    props.extend(
        layout
            .pools
            .iter()
            .flat_map(|p| p.filesystem_properties.keys().cloned()),
    );
    // What the services need: the exports' current value, and where dir storages are mounted.
    if layout.datasets.iter().any(|d| d.nfs.is_some()) {
        props.insert("sharenfs".into());
    }
    if layout.datasets.iter().any(|d| d.proxmox.is_some()) {
        props.insert("mountpoint".into());
    }
    let props: Vec<String> = props.into_iter().collect();

    let argv = zfs::zfs_get_argv(&props, &names, false, &[] as &[DatasetType]);
    let out = read(runner, &argv, &["dataset does not exist"])?;
    // Borrowed lines, one owned name per dataset: a big host answers with thousands of lines.
    let mut datasets: BTreeMap<&str, ObservedDataset> = BTreeMap::new();
    for line in zfs::property_lines(&out.stdout) {
        let line = line.map_err(|e| ObserveError::output(&argv, e))?;
        let entry = datasets
            .entry(line.name)
            .or_insert_with(|| ObservedDataset {
                name: line.name.to_string(),
                kind: DatasetKind::Filesystem,
                properties: BTreeMap::new(),
            });
        if line.property == "type" {
            entry.kind = if line.value == "volume" {
                DatasetKind::Volume
            } else {
                DatasetKind::Filesystem
            };
            continue;
        }
        entry.properties.insert(
            line.property.to_string(),
            ObservedValue {
                value: line.value.to_string(),
                local: line.is_local(),
            },
        );
    }
    Ok(datasets.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::zfs::VdevClass;
    use crate::model::pools::{PoolMember, Presence};
    use crate::runner::{ReplayRunner, Transcript};

    /// The fixture host qemu-default: nvme0n1 (S2TA0001) and its by-id links, no partitions.
    fn host() -> HostRoot {
        HostRoot(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/hosts/qemu-default"),
        )
    }

    fn transcript(argv: &[&str], code: i32, stdout: &str, stderr: &str) -> Transcript {
        Transcript {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            output: Output {
                code: Some(code),
                stdout: stdout.into(),
                stderr: stderr.into(),
                duration: Duration::ZERO,
            },
        }
    }

    const COLUMNS: &str = "name,ashift,autotrim,guid,health";

    #[test]
    fn every_imported_pool_is_read_and_another_pools_members_are_kept() {
        let status = "  pool: tank\n state: ONLINE\nconfig:\n\n\tNAME  STATE  READ WRITE CKSUM\n\ttank  ONLINE  0 0 0\n\t  /dev/disk/by-id/nvme-X_S1-part1  ONLINE  0 0 0\n\nerrors: No known data errors\n";
        let runner = ReplayRunner::new(vec![
            transcript(
                &["zpool", "list", "-H", "-p", "-o", COLUMNS],
                0,
                "tank\t12\toff\t77\tONLINE\n",
                "",
            ),
            transcript(&["zpool", "status", "-P", "-p", "tank"], 0, status, ""),
        ]);
        let observed = observe_imported(&host(), &runner, &Layout::default_layout(), None).unwrap();
        assert!(observed.pools.is_empty());
        assert_eq!(
            observed.other_pools,
            [OtherPool {
                name: "tank".into(),
                members: vec![PoolMember::new(
                    "/dev/disk/by-id/nvme-X_S1-part1",
                    VdevClass::Data
                )]
            }]
        );
        // No dataset of the layout can be in another pool: no `zfs get` was asked.
        assert_eq!(runner.seen().len(), 2, "{:?}", runner.seen());
    }

    #[test]
    fn a_host_recorded_by_an_earlier_version_is_still_read() {
        let runner = ReplayRunner::new(vec![transcript(
            &[
                "zpool", "list", "-H", "-p", "-o", COLUMNS, "quickOS", "fastData",
            ],
            1,
            "",
            "cannot open 'quickOS': no such pool\ncannot open 'fastData': no such pool\n",
        )]);
        let observed = observe_imported(&host(), &runner, &Layout::default_layout(), None).unwrap();
        assert!(observed.pools.is_empty() && observed.other_pools_unknown);
    }

    /// `zpool import` output of one pool `name` with a special vdev on the 2 TB drive S2TA0001
    /// of the fixture host (bare names, as the scan prints them), `destroyed` or not.
    fn listing(name: &str, guid: u64, destroyed: bool) -> String {
        let state = if destroyed {
            "ONLINE (DESTROYED)"
        } else {
            "ONLINE"
        };
        format!(
            "  pool: {name}\n    id: {guid}\n state: {state}\naction: The pool can be imported using its name or numeric identifier.\nconfig:\n\n\t{name}                                          ONLINE\n\t  nvme-Samsung_SSD_990_EVO_Plus_4TB_S4TB0001  ONLINE\n\tspecial\t\n\t  nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0001  ONLINE\n"
        )
    }

    fn scan_argv(destroyed: bool) -> Vec<String> {
        if destroyed {
            zfs::zpool_import_destroyed_scan_argv()
        } else {
            zfs::zpool_import_scan_argv()
        }
    }

    fn scanned(transcripts: Vec<Transcript>) -> Result<Observed, ObserveError> {
        let runner = ReplayRunner::new(transcripts);
        let mut observed = Observed::default();
        scan_importable(
            &host(),
            &runner,
            &Layout::default_layout(),
            &mut observed,
            || None,
        )?;
        Ok(observed)
    }

    fn answer(destroyed: bool, stdout: &str) -> Transcript {
        let argv = scan_argv(destroyed);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let stderr = if stdout.is_empty() {
            "no pools available to import\n"
        } else {
            ""
        };
        transcript(&argv, 0, stdout, stderr)
    }

    #[test]
    fn exported_and_destroyed_pools_are_read_with_every_member_and_its_device() {
        let observed = scanned(vec![
            answer(false, &listing("tank", 7, false)),
            answer(true, &listing("old", 9, true)),
        ])
        .unwrap();
        assert_eq!(observed.importable.len(), 1);
        assert_eq!(observed.destroyed.len(), 1);
        assert!(!observed.destroyed_unknown);
        let old = &observed.destroyed[0];
        assert_eq!((old.name.as_str(), old.guid), ("old", 9));
        let classes: Vec<(VdevClass, Option<&str>)> = old
            .members
            .iter()
            .map(|m| (m.class, m.major_minor.as_deref()))
            .collect();
        // Through the fixture host's by-id links to nvme2n1 and nvme0n1, and their sysfs `dev`.
        assert_eq!(
            classes,
            [
                (VdevClass::Data, Some("259:5")),
                (VdevClass::Special, Some("259:1"))
            ]
        );
        let existing = observed.existing_pools();
        let presences: Vec<(&str, Presence)> = existing
            .iter()
            .map(|p| (p.name.as_str(), p.presence))
            .collect();
        assert_eq!(
            presences,
            [("tank", Presence::Exported), ("old", Presence::Destroyed)]
        );
    }

    #[test]
    fn nothing_destroyed_is_an_empty_list() {
        let observed = scanned(vec![answer(false, ""), answer(true, "")]).unwrap();
        assert!(observed.importable.is_empty() && observed.destroyed.is_empty());
        assert!(!observed.destroyed_unknown);
    }

    #[test]
    fn a_recording_without_the_destroyed_scan_is_read_for_what_it_has() {
        let observed = scanned(vec![answer(false, &listing("tank", 7, false))]).unwrap();
        assert_eq!(observed.importable.len(), 1);
        assert!(observed.destroyed_unknown);
        // The scan of importable pools is no less needed than before.
        let error = scanned(vec![answer(true, "")]).unwrap_err();
        assert!(
            matches!(
                error,
                ObserveError::Run(runner::RunError::NotRecorded { .. })
            ),
            "{error}"
        );
        // A destroyed scan that ran and failed is an error like any other read's.
        let failed = transcript(
            &scan_argv(true)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            1,
            "",
            "internal error: out of memory\n",
        );
        let error = scanned(vec![answer(false, ""), failed]).unwrap_err();
        assert!(error.to_string().contains("zpool import -D"), "{error}");
    }

    /// Answers zpool list with `listed`, zpool status with a one-disk tree for each pool it
    /// names that is listed (an error for the others), zfs get with nothing; records every argv.
    struct Pools {
        listed: Vec<&'static str>,
        seen: std::sync::Mutex<Vec<String>>,
    }

    impl Runner for Pools {
        fn run(&self, argv: &[String], _: Duration) -> Result<Output, runner::RunError> {
            self.seen.lock().unwrap().push(argv.join(" "));
            let output = |code, stdout: String, stderr: String| Output {
                code: Some(code),
                stdout,
                stderr,
                duration: Duration::ZERO,
            };
            Ok(match (argv[0].as_str(), argv[1].as_str()) {
                ("zpool", "list") => output(
                    0,
                    self.listed
                        .iter()
                        .map(|p| format!("{p}\t12\ton\t7\tONLINE\n"))
                        .collect(),
                    String::new(),
                ),
                ("zpool", "status") => {
                    let (mut stdout, mut stderr) = (String::new(), String::new());
                    for pool in &argv[4..] {
                        if self.listed.contains(&pool.as_str()) {
                            stdout += &format!("  pool: {pool}\n state: ONLINE\nconfig:\n\n\tNAME  STATE  READ WRITE CKSUM\n\t{pool}  ONLINE  0 0 0\n\t  /dev/disk/by-id/nvme-X_{pool}-part1  ONLINE  0 0 0\n\nerrors: No known data errors\n\n");
                        } else {
                            stderr += &format!("cannot open '{pool}': no such pool\n");
                        }
                    }
                    output(if stderr.is_empty() { 0 } else { 1 }, stdout, stderr)
                }
                _ => output(0, String::new(), String::new()),
            })
        }
    }

    fn pools(listed: &[&'static str]) -> Pools {
        Pools {
            listed: listed.to_vec(),
            seen: Default::default(),
        }
    }

    fn expecting(pools: &[&str]) -> BTreeSet<String> {
        pools.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn expected_pools_are_read_while_zpool_list_runs_and_not_again() {
        let runner = pools(&["fastData", "quickOS"]);
        let layout = Layout::default_layout();
        let expected = expecting(&["quickOS", "fastData"]);
        let observed = observe_imported(&host(), &runner, &layout, Some(&expected)).unwrap();
        let names: Vec<&str> = observed.pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["fastData", "quickOS"]);
        assert_eq!(
            observed.pools[1].members,
            [PoolMember::new(
                "/dev/disk/by-id/nvme-X_quickOS-part1",
                VdevClass::Data
            )]
        );
        let seen = runner.seen.lock().unwrap();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen.contains(&"zpool status -P -p fastData quickOS".to_string()));
    }

    #[test]
    fn a_wrong_expectation_is_read_again_for_what_zpool_list_lists() {
        // An apply round expected fastData too, but its create did not make it.
        let runner = pools(&["quickOS", "tank"]);
        let layout = Layout::default_layout();
        let expected = expecting(&["quickOS", "fastData"]);
        let observed = observe_imported(&host(), &runner, &layout, Some(&expected)).unwrap();
        let names: Vec<&str> = observed.pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["quickOS"]);
        assert_eq!(
            observed.other_pools,
            [OtherPool {
                name: "tank".into(),
                members: vec![PoolMember::new(
                    "/dev/disk/by-id/nvme-X_tank-part1",
                    VdevClass::Data
                )]
            }]
        );
        let seen = runner.seen.lock().unwrap();
        assert!(
            seen.contains(&"zpool status -P -p fastData quickOS".to_string()),
            "{seen:?}"
        );
        assert!(
            seen.contains(&"zpool status -P -p quickOS tank".to_string()),
            "{seen:?}"
        );
    }

    #[test]
    fn without_an_expectation_nothing_is_read_ahead() {
        let runner = pools(&[]);
        let observed = observe_imported(
            &host(),
            &runner,
            &Layout::default_layout(),
            Some(&BTreeSet::new()),
        )
        .unwrap();
        assert!(observed.pools.is_empty());
        assert_eq!(runner.seen.lock().unwrap().len(), 1);
    }
}
