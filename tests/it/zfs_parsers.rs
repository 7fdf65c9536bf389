//! Runs every zpool/zfs parser over every transcript under tests/fixtures/zfs/: the ones written
//! from the OpenZFS source (from-source/) and the ones recorded in the QEMU guest (openzfs-2.3/,
//! and apply's under tests/fixtures/replay/). A fixture directory that is missing or holds no
//! transcript fails the test: a parser checked against nothing has not been checked. Each stdout is parsed by the parser for the command that
//! printed it; failures are classified from stderr.

use std::fs;
use std::path::{Path, PathBuf};

use crate::fixtures;
use phoenix_zfs::formats::zfs::{
    classify_stderr, parse_property_table, parse_zfs_list, parse_zfs_size, parse_zpool_import_scan,
    parse_zpool_list, parse_zpool_list_props, parse_zpool_status, DatasetType, DeviceHolder,
    PropertySource, VdevClass, VdevKind, VdevNode, VdevState, ZfsFailure, DATASET_LIST_COLUMNS,
    POOL_LIST_COLUMNS, PROPERTY_COLUMNS,
};
use phoenix_zfs::runner;

/// A recorded command (the runner's transcript format) and the file it came from.
struct Transcript {
    path: PathBuf,
    argv: Vec<String>,
    stdout: String,
    stderr: String,
    status: i32,
}

fn fixtures_root() -> PathBuf {
    fixtures::path("zfs")
}

fn load_all(under: &Path) -> Vec<Transcript> {
    let mut found = Vec::new();
    collect(under, &mut found);
    assert!(
        !found.is_empty(),
        "{} holds no transcript (*.argv): the fixtures are missing from this checkout",
        under.display()
    );
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

fn collect(dir: &Path, found: &mut Vec<Transcript>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| {
        panic!(
            "cannot read the fixture directory {}: {e} (it is part of the repository; restore it)",
            dir.display()
        )
    });
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        let path = entry.path();
        if path.is_dir() {
            collect(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "argv") {
            found.push(load(&path));
        }
    }
}

fn load(argv_path: &Path) -> Transcript {
    let recorded = runner::Transcript::load(&argv_path.with_extension(""))
        .unwrap_or_else(|e| panic!("{}: {e}", argv_path.display()));
    Transcript {
        path: argv_path.to_path_buf(),
        argv: recorded.argv,
        status: recorded
            .output
            .code
            .unwrap_or_else(|| panic!("{}: no exit code", argv_path.display())),
        stdout: recorded.output.stdout,
        stderr: recorded.output.stderr,
    }
}

fn load_one(relative: &str) -> Transcript {
    load(&fixtures_root().join(relative).with_extension("argv"))
}

/// The value after `-o` in an argv.
fn output_columns(argv: &[String]) -> Option<&str> {
    let at = argv.iter().position(|arg| arg == "-o")?;
    argv.get(at + 1).map(String::as_str)
}

/// Whether a `get` prints the columns `parse_property_table` reads: `get`'s default columns are
/// name, property, value, source.
fn prints_property_columns(argv: &[String]) -> bool {
    output_columns(argv).is_none_or(|columns| columns == PROPERTY_COLUMNS)
}

/// Whether a `zpool list` prints the columns `parse_zpool_list` reads ("allocated" is the long
/// name of "alloc").
fn prints_pool_list_columns(argv: &[String]) -> bool {
    output_columns(argv)
        .is_some_and(|columns| columns.replace("allocated", "alloc") == POOL_LIST_COLUMNS)
}

/// Lines of stdout that start a pool report.
fn pool_header_count(stdout: &str) -> usize {
    stdout
        .lines()
        .filter(|line| line.trim_start().starts_with("pool: "))
        .count()
}

#[derive(Default, Debug)]
struct Tally {
    property_tables: usize,
    pool_lists: usize,
    dataset_lists: usize,
    statuses: usize,
    import_scans: usize,
    failures: usize,
}

/// Parses one transcript's stdout by its command; returns which parser ran.
fn check(transcript: &Transcript, tally: &mut Tally) {
    let name = transcript.path.display();
    let argv: Vec<&str> = transcript.argv.iter().map(String::as_str).collect();
    let lines = transcript.stdout.lines().count();
    // The recordings hold every command apply ran (smartctl, ip, systemctl, pvesm too); this
    // test is about zpool and zfs.
    if !matches!(argv.first(), Some(&("zpool" | "zfs"))) {
        return;
    }
    if transcript.status != 0 {
        tally.failures += 1;
        // Every failure a transcript shows is one classify_stderr knows by name; a new one
        // should be taught to it (what it names is checked per case below).
        let failure = classify_stderr(&transcript.stderr);
        assert!(
            !matches!(failure, ZfsFailure::Unknown { .. }),
            "{name}: unnamed failure {failure:?}"
        );
    }
    match argv.get(..2) {
        Some(["zpool" | "zfs", "get"]) if prints_property_columns(&transcript.argv) => {
            let rows =
                parse_property_table(&transcript.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(rows.len(), lines, "{name}: one row per line");
            tally.property_tables += 1;
        }
        Some(["zpool", "list"]) if prints_pool_list_columns(&transcript.argv) => {
            let rows =
                parse_zpool_list(&transcript.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(rows.len(), lines, "{name}: one row per line");
            tally.pool_lists += 1;
        }
        Some(["zpool", "list"]) if output_columns(&transcript.argv).is_some() => {
            let columns: Vec<&str> = output_columns(&transcript.argv)
                .unwrap_or_default()
                .split(',')
                .collect();
            if let ["name", props @ ..] = &columns[..] {
                let rows = parse_zpool_list_props(&transcript.stdout, props)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(rows.len(), lines, "{name}: one row per line");
                tally.pool_lists += 1;
            }
        }
        Some(["zfs", "list"]) if output_columns(&transcript.argv) == Some(DATASET_LIST_COLUMNS) => {
            let rows = parse_zfs_list(&transcript.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(rows.len(), lines, "{name}: one row per line");
            tally.dataset_lists += 1;
        }
        Some(["zpool", "status"]) => {
            let pools =
                parse_zpool_status(&transcript.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                pools.len(),
                pool_header_count(&transcript.stdout),
                "{name}: one report per pool"
            );
            tally.statuses += 1;
        }
        Some(["zpool", "import"]) if is_import_scan(&argv) => {
            let pools = parse_zpool_import_scan(&transcript.stdout)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                pools.len(),
                pool_header_count(&transcript.stdout),
                "{name}: one report per pool"
            );
            tally.import_scans += 1;
        }
        _ => {}
    }
}

/// `zpool import` with options only (no pool named) lists instead of importing.
fn is_import_scan(argv: &[&str]) -> bool {
    let mut args = argv.iter().skip(2);
    while let Some(arg) = args.next() {
        match *arg {
            "-d" | "-c" | "-o" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            _ => return false,
        }
    }
    true
}

#[test]
fn every_source_written_transcript_parses() {
    let transcripts = load_all(&fixtures_root().join("from-source"));
    let mut tally = Tally::default();
    for transcript in &transcripts {
        check(transcript, &mut tally);
    }
    eprintln!("from-source: {} transcripts, {tally:?}", transcripts.len());
    assert!(tally.property_tables >= 3, "{tally:?}");
    assert!(tally.pool_lists >= 1, "{tally:?}");
    assert!(tally.dataset_lists >= 1, "{tally:?}");
    assert!(tally.statuses >= 4, "{tally:?}");
    assert!(tally.import_scans >= 4, "{tally:?}");
    assert!(tally.failures >= 5, "{tally:?}");
}

#[test]
fn every_recorded_transcript_parses() {
    let recorded = fixtures_root().join("openzfs-2.3");
    let mut transcripts = load_all(&recorded);
    // What apply's QEMU scenarios recorded of phoenix-zfs's own commands: real OpenZFS 2.3
    // output of exactly the argv this module builds.
    transcripts.extend(load_all(&fixtures_root().join("../replay")));
    let mut tally = Tally::default();
    for transcript in &transcripts {
        check(transcript, &mut tally);
    }
    eprintln!("recorded: {} transcripts, {tally:?}", transcripts.len());
    // What the recording script captures: every parser must have met real output.
    assert!(tally.property_tables >= 1, "{tally:?}");
    assert!(tally.pool_lists >= 1, "{tally:?}");
    assert!(tally.dataset_lists >= 1, "{tally:?}");
    assert!(tally.statuses >= 1, "{tally:?}");
    assert!(tally.import_scans >= 1, "{tally:?}");
}

#[test]
fn healthy_layout_reads_back() {
    let status = parse_zpool_status(&load_one("from-source/healthy/zpool-status").stdout).unwrap();
    let quick = &status[0];
    assert_eq!(
        (quick.name.as_str(), quick.state),
        ("quickOS", VdevState::Online)
    );
    assert!(quick.has_no_known_data_errors());
    assert_eq!(quick.scan, None, "a new 2.3 pool prints no scan line");
    let mirror = &quick.config.children[0];
    assert_eq!(mirror.kind, VdevKind::Mirror);
    let paths: Vec<&str> = mirror.children.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S7U6NJ0X100001A-part1",
            "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S7U6NJ0X100002B-part1"
        ]
    );
    assert!(mirror.children.iter().all(|d| d.kind == VdevKind::Disk));
    let fast = &status[1];
    assert_eq!(fast.config.children[0].kind, VdevKind::Disk);
    assert!(fast
        .scan
        .as_deref()
        .unwrap()
        .starts_with("scrub repaired 0B"));

    let props = parse_zpool_list_props(
        &load_one("from-source/healthy/zpool-list-props").stdout,
        &["ashift", "autotrim", "guid", "health"],
    )
    .unwrap();
    assert_eq!(props.len(), 2, "the pool that is not imported has no row");
    assert_eq!(props[1].value("guid"), Some("1311278213400125460"));

    let pools = parse_zpool_list(&load_one("from-source/healthy/zpool-list").stdout).unwrap();
    assert_eq!(pools[1].name, "fastData");
    assert_eq!(pools[1].size, Some(3_985_729_650_688));

    let rows = parse_property_table(&load_one("from-source/healthy/zfs-get").stdout).unwrap();
    let get = |dataset: &str, property: &str| {
        rows.iter()
            .find(|row| row.name == dataset && row.property == property)
            .unwrap_or_else(|| panic!("{dataset} {property}"))
    };
    assert_eq!(
        get("fastData/shared-bulk-data", "quota").value_bytes(),
        parse_zfs_size("1.4T")
    );
    assert_eq!(
        get("quickOS/lxc-disks", "recordsize").value_bytes(),
        parse_zfs_size("16K")
    );
    assert_eq!(
        get("quickOS/vm-disks", "compression").source,
        PropertySource::Inherited {
            from: "quickOS".into()
        }
    );
    assert_eq!(
        get("quickOS/vm-disks/vm-100-disk-0", "recordsize").value_u64(),
        None
    );

    let datasets = parse_zfs_list(&load_one("from-source/healthy/zfs-list").stdout).unwrap();
    assert_eq!(datasets.len(), 11);
    assert_eq!(
        datasets
            .iter()
            .filter(|d| d.kind == DatasetType::Volume)
            .count(),
        1
    );
}

#[test]
fn degraded_mirror_with_every_section() {
    let status = parse_zpool_status(&load_one("from-source/degraded/zpool-status").stdout).unwrap();
    let pool = &status[0];
    assert_eq!(pool.state, VdevState::Degraded);
    assert_eq!(
        pool.status.as_deref(),
        Some(
            "One or more devices could not be used because the label is missing or\n\
             invalid.  Sufficient replicas exist for the pool to continue\n\
             functioning in a degraded state."
        )
    );
    assert_eq!(
        pool.action.as_deref(),
        Some("Replace the device using 'zpool replace'.")
    );
    assert_eq!(
        pool.see.as_deref(),
        Some("https://openzfs.github.io/openzfs-docs/msg/ZFS-8000-4J")
    );
    let halves = &pool.config.children[0].children;
    assert_eq!(halves[0].note.as_deref(), Some("(trimming)"));
    assert_eq!(halves[1].name, "7350918471337260932");
    assert_eq!(halves[1].state, Some(VdevState::Unavail));
    assert_eq!(
        halves[1].was_path(),
        Some("/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S7U6NJ0X100002B-part1")
    );
    assert_eq!(pool.sections.logs[0].kind, VdevKind::Mirror);
    assert_eq!(pool.sections.logs[0].children.len(), 2);
    assert_eq!(pool.sections.cache.len(), 1);
    assert_eq!(pool.sections.spares[0].state, Some(VdevState::Avail));
    assert_eq!(pool.sections.spares[0].errors, None);
}

#[test]
fn scrub_in_progress_with_permanent_errors() {
    let status =
        parse_zpool_status(&load_one("from-source/scrubbing/zpool-status").stdout).unwrap();
    let pool = &status[0];
    assert_eq!(pool.config.children[0].errors.unwrap().checksum, 12);
    assert_eq!(pool.scan.as_deref().unwrap().lines().count(), 3);
    assert!(!pool.has_no_known_data_errors());
    assert_eq!(
        pool.error_files,
        [
            "fastData/shared-bulk-data:<0x1b>",
            "/fastData/shared-iso/debian-12.iso"
        ]
    );
}

#[test]
fn import_scans_of_both_versions() {
    let pools = parse_zpool_import_scan(&load_one("from-source/exported/zpool-import-scan").stdout)
        .unwrap();
    assert_eq!(pools.len(), 2);
    assert_eq!(pools[0].guid, 9_816_403_616_924_958_385);
    assert_eq!(pools[0].config.children[0].kind, VdevKind::Mirror);
    assert_eq!(pools[0].config.children[0].children[0].errors, None);
    assert_eq!(pools[1].comment.as_deref(), Some("phoenix fastData"));
    assert_eq!(pools[1].sections.cache[0].name, "nvme-cache");
    assert_eq!(pools[1].sections.spares[0].state, None);

    let foreign =
        parse_zpool_import_scan(&load_one("from-source/foreign/zpool-import-scan").stdout).unwrap();
    let missing = &foreign[0].config.children[0].children[1];
    assert_eq!(missing.state, Some(VdevState::Unavail));
    assert_eq!(missing.note.as_deref(), Some("cannot open"));
    assert!(foreign[0]
        .action
        .as_deref()
        .unwrap()
        .contains("despite missing"));

    let old =
        parse_zpool_import_scan(&load_one("from-source/exported-2.2/zpool-import-scan").stdout)
            .unwrap();
    assert!(old[0].destroyed);
    assert_eq!(
        old[0].config.children[0].kind,
        VdevKind::RaidZ { parity: 1 }
    );
    assert_eq!(old[0].sections.logs[0].name, "nvme-log");
    assert!(old[0]
        .notes
        .as_deref()
        .unwrap()
        .starts_with("Additional devices"));

    assert_eq!(
        parse_zpool_import_scan(&load_one("from-source/blank/zpool-import-scan").stdout),
        Ok(vec![])
    );
}

#[test]
fn failures_are_named() {
    let named = |slug: &str| classify_stderr(&load_one(slug).stderr);
    assert_eq!(
        named("from-source/healthy/zfs-create-exists"),
        ZfsFailure::DatasetExists {
            dataset: "quickOS/vm-disks".into()
        }
    );
    assert_eq!(
        named("from-source/healthy/zpool-create-exists"),
        ZfsFailure::PoolExists {
            pool: "quickOS".into()
        }
    );
    assert_eq!(
        named("from-source/healthy/zpool-import-name-taken"),
        ZfsFailure::PoolExists {
            pool: "quickOS".into()
        }
    );
    assert!(matches!(
        named("from-source/exported/zpool-create-in-use"),
        ZfsFailure::DeviceInUse { holder: DeviceHolder::Pool { ref pool, .. }, .. } if pool == "quickOS"
    ));
    assert_eq!(
        named("from-source/healthy/zpool-list-props"),
        ZfsFailure::NoSuchPool {
            pool: "oldPool".into()
        }
    );
    assert_eq!(
        named("from-source/blank/zpool-status-missing"),
        ZfsFailure::NoSuchPool {
            pool: "quickOS".into()
        }
    );
    assert_eq!(
        named("from-source/blank/zfs-get-missing"),
        ZfsFailure::DatasetNotFound {
            dataset: "quickOS/vm-disks".into()
        }
    );
}

/// Cutting a report anywhere inside its vdev tree, or dropping one row of it, must be an error
/// (a group left without members, a pool without vdevs) or still a well-formed result — never a
/// panic, and never the same tree as before.
#[test]
fn truncated_and_damaged_trees() {
    let stdout = load_one("from-source/degraded/zpool-status").stdout;
    let lines: Vec<&str> = stdout.lines().collect();
    let tree_start = lines.iter().position(|l| l.starts_with("\tNAME")).unwrap() + 1;
    let full = parse_zpool_status(&stdout).unwrap();
    for cut in tree_start..lines.len() {
        let truncated = lines[..cut].join("\n");
        match parse_zpool_status(&truncated) {
            Ok(pools) => assert_ne!(pools, full, "cut after line {cut}"),
            Err(error) => assert!(error.line >= 1, "{error}"),
        }
    }
    // Without its mirror's members the tree is truncated.
    let error = parse_zpool_status(&lines[..tree_start + 2].join("\n")).unwrap_err();
    assert!(
        error.to_string().contains("members of `mirror-0`"),
        "{error}"
    );
    // A row missing its counts.
    let damaged = stdout.replacen("DEGRADED     0     0     0", "DEGRADED     0", 1);
    let error = parse_zpool_status(&damaged).unwrap_err();
    assert_eq!(error.line, tree_start + 1, "{error}");
    // A report that stops before its tree.
    let error = parse_zpool_status("  pool: quickOS\n state: ONLINE\n").unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 3: expected a `config:` line followed by the pool's vdev tree, found end of output"
    );
    let error = parse_zpool_status("  pool: quickOS\n state: ONLINE\nconfig:\n\n").unwrap_err();
    assert!(
        error.to_string().contains("NAME STATE READ WRITE CKSUM"),
        "{error}"
    );
}

#[test]
fn malformed_headers() {
    let healthy = load_one("from-source/healthy/zpool-status").stdout;
    let bad_state = healthy.replacen(" state: ONLINE", " state: GREAT", 1);
    let error = parse_zpool_status(&bad_state).unwrap_err();
    assert_eq!(error.line, 2);
    let no_state = healthy.replacen(" state: ONLINE\n", "", 1);
    assert!(parse_zpool_status(&no_state).is_err());
    let renamed_root = healthy.replacen("\tquickOS ", "\tslowOS  ", 1);
    assert!(parse_zpool_status(&renamed_root).is_err());
    assert!(parse_zpool_status("garbage\n").is_err());

    let scan = load_one("from-source/exported/zpool-import-scan").stdout;
    let bad_guid = scan.replacen("9816403616924958385", "98164036169249583851", 1);
    let error = parse_zpool_import_scan(&bad_guid).unwrap_err();
    assert_eq!(error.line, 2, "{error}");
    assert!(error.to_string().contains("decimal 64-bit"), "{error}");
    let no_id = scan.replacen("    id: 9816403616924958385\n", "", 1);
    assert!(parse_zpool_import_scan(&no_id).is_err());
}

/// The transcripts recorded from OpenZFS 2.3.2 in the QEMU guest, read back exactly.
#[test]
fn recorded_default_layout_reads_back() {
    let status =
        parse_zpool_status(&load_one("openzfs-2.3/default/zpool-status-P").stdout).unwrap();
    let names: Vec<&str> = status.iter().map(|pool| pool.name.as_str()).collect();
    assert_eq!(names, ["fastData", "quickOS"]);
    assert!(status.iter().all(|pool| pool.state == VdevState::Online
        && pool.has_no_known_data_errors()
        && pool.scan.is_none()));
    let mirror = &status[1].config.children[0];
    assert_eq!(mirror.kind, VdevKind::Mirror);
    let leaves: Vec<&str> = status[1]
        .config
        .leaves()
        .iter()
        .map(|leaf| leaf.name.as_str())
        .collect();
    assert_eq!(
        leaves,
        [
            "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001-part1",
            "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0002-part1"
        ]
    );
    assert_eq!(
        status[0].config.children[0].errors,
        Some(phoenix_zfs::formats::zfs::VdevErrorCounts {
            read: 0,
            write: 0,
            checksum: 0
        })
    );

    let short =
        parse_zpool_status(&load_one("openzfs-2.3/default/zpool-status-quickOS").stdout).unwrap();
    assert_eq!(
        short[0].config.leaves()[0].name,
        "nvme-QEMU_NVMe_Ctrl_S2TA0001"
    );

    let pools = parse_zpool_list(&load_one("openzfs-2.3/default/zpool-list").stdout).unwrap();
    assert_eq!(pools[1].name, "quickOS");
    assert_eq!(pools[1].size, Some(1_992_864_825_344));
    assert_eq!(pools[1].guid, 6_718_951_398_331_228_127);

    // ZFS stored the layout's binary sizes exactly as parse_zfs_size reads them.
    let rows =
        parse_property_table(&load_one("openzfs-2.3/default/zfs-get-selected").stdout).unwrap();
    let value = |dataset: &str, property: &str| {
        rows.iter()
            .find(|row| row.name == dataset && row.property == property)
            .unwrap_or_else(|| panic!("{dataset} {property}"))
    };
    for (dataset, quota, recordsize) in [
        ("quickOS/vm-disks", "800G", "128K"),
        ("quickOS/lxc-disks", "600G", "16K"),
        ("quickOS/shared-prod-data-sync", "100G", "16K"),
        ("fastData/shared-backups", "2T", "1M"),
        ("fastData/shared-bulk-data", "1.4T", "1M"),
    ] {
        assert_eq!(
            value(dataset, "quota").value_bytes(),
            parse_zfs_size(quota),
            "{dataset}"
        );
        assert_eq!(
            value(dataset, "recordsize").value_bytes(),
            parse_zfs_size(recordsize),
            "{dataset}"
        );
        assert!(value(dataset, "quota").is_local());
    }
    assert_eq!(
        value("quickOS/vm-disks/vm-100-disk-0", "quota").source,
        PropertySource::None
    );

    let snapshots =
        parse_zfs_list(&load_one("openzfs-2.3/default/zfs-list-snapshots").stdout).unwrap();
    assert_eq!(snapshots[0].kind, DatasetType::Snapshot);
}

#[test]
fn recorded_degraded_and_exported_pools() {
    let status =
        parse_zpool_status(&load_one("openzfs-2.3/degraded/zpool-status-P").stdout).unwrap();
    let pool = &status[0];
    assert_eq!(pool.state, VdevState::Degraded);
    assert!(pool
        .status
        .as_deref()
        .unwrap()
        .starts_with("One or more devices has been taken offline"));
    assert!(pool
        .action
        .as_deref()
        .unwrap()
        .ends_with("'zpool replace'."));
    let offline = pool.config.leaves()[1];
    assert_eq!(
        offline.name,
        "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0002-part1"
    );
    assert_eq!(offline.state, Some(VdevState::Offline));

    let scan = parse_zpool_import_scan(&load_one("openzfs-2.3/exported/zpool-import-by-id").stdout)
        .unwrap();
    let found: Vec<(&str, u64)> = scan
        .iter()
        .map(|pool| (pool.name.as_str(), pool.guid))
        .collect();
    assert_eq!(
        found,
        [
            ("fastData", 13_879_196_670_207_654_616),
            ("quickOS", 6_718_951_398_331_228_127)
        ]
    );
    assert!(scan
        .iter()
        .all(|pool| pool.state == VdevState::Online && !pool.destroyed));
    assert_eq!(
        scan[1].action.as_deref(),
        Some("The pool can be imported using its name or numeric identifier.")
    );
    let leaves: Vec<&str> = scan[1]
        .config
        .leaves()
        .iter()
        .map(|leaf| leaf.name.as_str())
        .collect();
    assert_eq!(
        leaves,
        [
            "nvme-QEMU_NVMe_Ctrl_S2TA0001",
            "nvme-QEMU_NVMe_Ctrl_S2TA0002"
        ]
    );

    let nothing = load_one("openzfs-2.3/blank/zpool-import-none");
    assert_eq!((nothing.status, nothing.stdout.as_str()), (0, ""));
    assert_eq!(parse_zpool_import_scan(&nothing.stdout), Ok(vec![]));
}

#[test]
fn recorded_failures_are_named() {
    let named = |slug: &str| classify_stderr(&load_one(slug).stderr);
    assert_eq!(
        named("openzfs-2.3/default/fail-zfs-create-exists"),
        ZfsFailure::DatasetExists {
            dataset: "quickOS/vm-disks".into()
        }
    );
    assert_eq!(
        named("openzfs-2.3/default/fail-zfs-get-missing"),
        ZfsFailure::DatasetNotFound {
            dataset: "quickOS/nope".into()
        }
    );
    // A member of an imported pool: zpool's exclusive open fails before any label is read.
    assert_eq!(
        named("openzfs-2.3/default/fail-zpool-create-in-use"),
        ZfsFailure::Busy {
            object: "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001".into()
        }
    );
    assert_eq!(
        named("openzfs-2.3/default/fail-zpool-import-imported"),
        ZfsFailure::PoolExists {
            pool: "quickOS".into()
        }
    );
}

/// Each device as (class, name, state), in printed order.
fn devices(found: Vec<(VdevClass, &VdevNode)>) -> Vec<(VdevClass, String, Option<VdevState>)> {
    found
        .into_iter()
        .map(|(class, leaf)| (class, leaf.name.clone(), leaf.state))
        .collect()
}

/// The pool with a device of every class on the small virtio disks (qemu-tests/record/
/// zfs-transcripts.sh, state `classes`), imported, exported and destroyed.
#[test]
fn recorded_pool_with_a_vdev_of_every_class() {
    use VdevClass::*;
    let online = Some(VdevState::Online);
    let status =
        parse_zpool_status(&load_one("openzfs-2.3/classes/zpool-status-P-p").stdout).unwrap();
    let path = |disk: &str| format!("/dev/disk/by-id/virtio-zc-{disk}-part1");
    assert_eq!(
        devices(status[0].devices()),
        [
            (Data, path("data"), online),
            (Dedup, path("dedup"), online),
            (Special, path("special1"), online),
            (Special, path("special2"), online),
            (Log, path("log"), online),
            (Cache, path("cache"), online),
            (Spare, path("spare"), Some(VdevState::Avail)),
        ]
    );
    assert_eq!(status[0].sections.special[0].kind, VdevKind::Mirror);

    // zpool import names them without a path, cache and spares without a state (and prints
    // them before the other classes); -D lists the pool once it is destroyed, and only then.
    let name = |disk: &str| format!("virtio-zc-{disk}");
    let listed = [
        (Data, name("data"), online),
        (Dedup, name("dedup"), online),
        (Special, name("special1"), online),
        (Special, name("special2"), online),
        (Log, name("log"), online),
        (Cache, name("cache"), None),
        (Spare, name("spare"), None),
    ];
    let exported =
        parse_zpool_import_scan(&load_one("openzfs-2.3/classes/zpool-import").stdout).unwrap();
    let tank = exported.iter().find(|p| p.name == "tank").unwrap();
    assert!(!tank.destroyed);
    assert_eq!(devices(tank.devices()), listed);
    let none = load_one("openzfs-2.3/classes/zpool-import-destroyed-none");
    assert_eq!(
        (none.status, none.stderr.trim()),
        (0, "no pools available to import")
    );
    assert_eq!(parse_zpool_import_scan(&none.stdout), Ok(vec![]));

    let destroyed =
        parse_zpool_import_scan(&load_one("openzfs-2.3/destroyed/zpool-import-destroyed").stdout)
            .unwrap();
    assert_eq!(destroyed.len(), 1);
    assert!(destroyed[0].destroyed);
    assert_eq!(
        (destroyed[0].name.as_str(), destroyed[0].guid),
        ("tank", tank.guid)
    );
    assert_eq!(devices(destroyed[0].devices()), listed);
    let after =
        parse_zpool_import_scan(&load_one("openzfs-2.3/destroyed/zpool-import").stdout).unwrap();
    assert!(
        after.iter().all(|p| p.name != "tank" && !p.destroyed),
        "{after:?}"
    );
}

/// tank with its data on the 4 TB drive and one class on the 2 TB pair, each as `zpool status
/// -P -p` shows it imported and `zpool import` exported.
#[test]
fn recorded_classes_on_the_2tb_pair() {
    use VdevClass::*;
    let a = "nvme-QEMU_NVMe_Ctrl_S2TA0001";
    let b = "nvme-QEMU_NVMe_Ctrl_S2TA0002";
    let c = "nvme-QEMU_NVMe_Ctrl_S4TB0001";
    for (state, on_pair) in [
        ("special-2tb", [Special, Special]),
        ("log-2tb", [Log, Log]),
        ("dedup-2tb", [Dedup, Dedup]),
        ("cache-spare-2tb", [Cache, Spare]),
    ] {
        let expected = |name: &dyn Fn(&str) -> String| {
            vec![
                (Data, name(c)),
                (on_pair[0], name(a)),
                (on_pair[1], name(b)),
            ]
        };
        let class_and_name = |found: Vec<(VdevClass, &VdevNode)>| -> Vec<(VdevClass, String)> {
            found
                .into_iter()
                .map(|(class, leaf)| (class, leaf.name.clone()))
                .collect()
        };
        let status =
            parse_zpool_status(&load_one(&format!("openzfs-2.3/{state}/zpool-status-P-p")).stdout)
                .unwrap();
        assert_eq!(status.len(), 1, "{state}");
        assert_eq!(
            class_and_name(status[0].devices()),
            expected(&|disk| format!("/dev/disk/by-id/{disk}-part1")),
            "{state}"
        );
        let scan =
            parse_zpool_import_scan(&load_one(&format!("openzfs-2.3/{state}/zpool-import")).stdout)
                .unwrap();
        assert_eq!(scan.len(), 1, "{state}");
        assert_eq!(
            class_and_name(scan[0].devices()),
            expected(&|disk| disk.to_string()),
            "{state}"
        );
    }
    // Both destroyed tanks, the small disks' and the last one on the NVMe drives, with their
    // own GUIDs under one name.
    let destroyed = parse_zpool_import_scan(
        &load_one("openzfs-2.3/destroyed-2tb/zpool-import-destroyed").stdout,
    )
    .unwrap();
    assert_eq!(destroyed.len(), 2);
    assert!(destroyed.iter().all(|p| p.name == "tank" && p.destroyed));
    assert_ne!(destroyed[0].guid, destroyed[1].guid);
    let last = class_names(&destroyed[1]);
    assert_eq!(last, [(Data, c), (Cache, a), (Spare, b)]);
}

fn class_names(pool: &phoenix_zfs::formats::zfs::ImportablePool) -> Vec<(VdevClass, &str)> {
    pool.devices()
        .into_iter()
        .map(|(class, leaf)| (class, leaf.name.as_str()))
        .collect()
}
