//! Tests of the layout file: parsing, validation and the errors that point at the offending key.

use super::*;

/// The layout, or its first error (the tests of one rule break one rule).
fn parse(text: &str) -> Result<Layout, LayoutError> {
    Layout::parse(text, "test.toml").map_err(|e| e.0.into_iter().next().unwrap())
}

#[test]
fn the_default_layout_is_valid_and_as_designed() {
    let layout = Layout::default_layout();
    let names: Vec<&str> = layout.pools.iter().map(|p| p.name()).collect();
    assert_eq!(names, ["quickOS", "fastData"]);
    assert_eq!(layout.datasets.len(), 8);
    let sync = layout
        .datasets
        .iter()
        .find(|d| d.name() == "quickOS/shared-prod-data-sync")
        .unwrap();
    assert_eq!(sync.properties["sync"].as_str(), "always");
    assert_eq!(sync.properties["quota"].as_str(), "100G");
}

#[test]
fn the_default_layout_draws_the_experts_warnings() {
    let warnings = layout_warnings(&Layout::default_layout());
    let codes: Vec<(&str, &str)> = warnings
        .iter()
        .map(|w| (w.code, w.subject.as_str()))
        .collect();
    assert!(
        codes.contains(&("quota-overcommit", "quickOS")),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("quota-overcommit", "fastData")),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("recordsize-on-zvols", "quickOS/vm-disks")),
        "{codes:?}"
    );
    let quick = warnings
        .iter()
        .find(|w| w.code == "quota-overcommit" && w.subject == "quickOS")
        .unwrap();
    assert!(quick.message.contains("1.86 TiB"), "{}", quick.message);
}

#[test]
fn discard_on_a_bind_mount_is_a_warning_and_not_in_the_default() {
    let codes = |layout: &Layout| {
        layout_warnings(layout)
            .into_iter()
            .filter(|w| w.code == "bind-discard")
            .map(|w| w.subject)
            .collect::<Vec<_>>()
    };
    assert!(codes(&Layout::default_layout()).is_empty());
    let text = DEFAULT_LAYOUT_TOML.replace(
        "options = [\"noatime\"]",
        "options = [\"discard\", \"noatime\"]",
    );
    assert_ne!(text, DEFAULT_LAYOUT_TOML);
    assert_eq!(codes(&parse(&text).unwrap()), ["quickOS/shared-prod-data"]);
}

#[test]
fn shown_layout_round_trips() {
    let reparsed = parse(DEFAULT_LAYOUT_TOML).unwrap();
    let again = toml::to_string(&reparsed).unwrap();
    let third = parse(&again).unwrap();
    assert_eq!(third.datasets.len(), 8);
}

#[test]
fn unknown_keys_name_the_line() {
    let text =
        DEFAULT_LAYOUT_TOML.replace("vdev = \"mirror\"", "vdev = \"mirror\"\nrecrodsize = 1");
    let err = parse(&text).unwrap_err();
    assert_eq!(err.source_name, "test.toml");
    let line = text
        .lines()
        .position(|l| l.starts_with("recrodsize"))
        .unwrap()
        + 1;
    assert_eq!(err.position.map(|p| p.0), Some(line), "{err}");
    assert!(err.message.contains("recrodsize"), "{err}");
}

#[test]
fn blocksizes_pve_storage_refuses_name_file_line_key_value_and_rule() {
    let line = DEFAULT_LAYOUT_TOML
        .lines()
        .position(|l| l.contains("blocksize = \"16k\""))
        .unwrap()
        + 1;
    for spelling in ["16KB", "16KiB", "0.5K", "16384B", "12k"] {
        let text = DEFAULT_LAYOUT_TOML.replace(
            "blocksize = \"16k\"",
            &format!("blocksize = \"{spelling}\""),
        );
        let err = parse(&text).unwrap_err();
        assert_eq!(err.position.map(|p| p.0), Some(line), "{err}");
        let shown = err.to_string();
        assert!(shown.starts_with(&format!("test.toml:{line}:")), "{shown}");
        assert!(
            shown.contains(&format!("proxmox.blocksize = \"{spelling}\"")),
            "{shown}"
        );
        assert!(shown.contains("^([1-9][0-9]*)([km])?$"), "{shown}");
    }
    for spelling in ["16K", "16384", "8k"] {
        let text = DEFAULT_LAYOUT_TOML.replace(
            "blocksize = \"16k\"",
            &format!("blocksize = \"{spelling}\""),
        );
        assert!(parse(&text).is_ok(), "{spelling}");
    }
}

#[test]
fn an_arc_limit_zfs_always_ignores_is_an_error() {
    let with = |arc: &str| {
        let text = DEFAULT_LAYOUT_TOML.replacen(
            "[[pool]]",
            &format!("[zfs]\narc_max = \"{arc}\"\n\n[[pool]]"),
            1,
        );
        parse(&text)
    };
    let err = with("64M").unwrap_err().to_string();
    assert!(err.contains("not above 64M"), "{err}");
    assert!(with("63M").is_err());
    assert_eq!(with("65M").unwrap().zfs.arc_max_bytes(), Some(65 << 20));
}

#[test]
fn bad_property_values_say_what_is_accepted() {
    let text = DEFAULT_LAYOUT_TOML.replace("sync = \"always\"", "sync = \"sometimes\"");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("quickOS/shared-prod-data-sync"), "{err}");
    assert!(err.contains("standard, always, disabled"), "{err}");
    assert!(err.starts_with("test.toml:"), "{err}");
}

#[test]
fn structural_mistakes_are_caught() {
    let cases = [
        (
            "drives = 2",
            "drives = 1",
            "a mirror needs at least 2 drives",
        ),
        (
            "name = \"quickOS/lxc-disks\"",
            "name = \"quickOS/lxc-disks/x/y\"",
            "comes before its parent",
        ),
        (
            "name = \"fastData/shared-iso\"",
            "name = \"slowData/shared-iso\"",
            "which the layout does not describe",
        ),
        (
            "content = [\"backup\"]",
            "content = [\"images\", \"bogus\"]",
            "content `bogus` is not allowed",
        ),
        ("quota = \"2T\"", "quota = \"2X\"", "unknown unit"),
        ("version = 1", "version = 2", "version 2 is not supported"),
        (
            "size_class = \"4TB\"",
            "size_class = \"4TiB\"",
            "not a drive size class",
        ),
        (
            "mode = \"enforce\"",
            "mode = \"strict\"",
            "unknown variant `strict`",
        ),
    ];
    for (from, to, expected) in cases {
        assert!(DEFAULT_LAYOUT_TOML.contains(from), "{from}");
        let err = parse(&DEFAULT_LAYOUT_TOML.replacen(from, to, 1))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{from} -> {to}: {err}");
    }
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for text in [
        "",
        "[[pool]]",
        "version = \"one\"",
        "\u{0}",
        "pool = 3\nversion = 1",
    ] {
        assert!(parse(text).is_err(), "{text:?}");
    }
}

#[test]
fn type_and_missing_field_errors_name_the_place() {
    let cases = [
        (
            "drives = 2",
            "drives = \"two\"",
            "invalid type: string \"two\", expected an integer",
        ),
        (
            "drives = 2",
            "drives = -2",
            "invalid value: integer `-2`, expected u32",
        ),
        (
            "vdev = \"mirror\"",
            "vdev = \"raid5\"",
            "unknown variant `raid5`, expected `single` or `mirror`",
        ),
        (
            "serves = \"zvols\"",
            "serves = \"blobs\"",
            "expected one of `files`, `zvols`, `subvols`",
        ),
        (
            "sync = \"always\"",
            "sync = [1]",
            "invalid type: sequence, expected a property value",
        ),
        (
            "size_tolerance_percent = 1.0",
            "size_tolerance_percent = \"x\"",
            "expected f64",
        ),
    ];
    for (from, to, expected) in cases {
        assert!(DEFAULT_LAYOUT_TOML.contains(from), "{from}");
        let text = DEFAULT_LAYOUT_TOML.replacen(from, to, 1);
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains(expected), "{from} -> {to}: {err}");
        let at = text.find(to).unwrap();
        let changed_line = text[..at].matches('\n').count() + 1;
        let last_line = changed_line + to.matches('\n').count();
        let line = err.position.map(|p| p.0).unwrap_or(0);
        assert!(
            (changed_line..=last_line).contains(&line),
            "{from} -> {to}: {err}"
        );
    }
    let err = parse("version = 1\n[[pool]]\nname = \"p\"\nvdev = \"single\"\n").unwrap_err();
    assert_eq!(err.to_string(), "test.toml:2:1: missing field `drives`");
}

#[test]
fn defaults_and_convenience_values_read_as_documented() {
    let layout = parse(
        "version = 1\n[[pool]]\nname = \"p\"\nvdev = \"single\"\ndrives = 1\n\
         properties = { ashift = 12, autotrim = true, comment = \"x\" }\n\
         [matching]\nsize_tolerance_percent = 2\n",
    )
    .unwrap();
    assert_eq!(layout.matching.size_tolerance_percent, 2.0);
    assert_eq!(layout.nfs.network, "auto");
    assert!(layout.nfs.root_squash);
    assert_eq!(layout.firmware.mode, Enforcement::Enforce);
    assert!(layout.datasets.is_empty());
    let pool = &layout.pools[0];
    assert_eq!(pool.drives.span(), text_span("drives = 1", 9, 10));
    let shown: Vec<(&str, &str)> = pool
        .properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        shown,
        [("ashift", "12"), ("autotrim", "on"), ("comment", "x")]
    );
}

/// The byte range `start..end` inside the line `line` of the test layout above.
fn text_span(line: &str, start: usize, end: usize) -> std::ops::Range<usize> {
    let text = "version = 1\n[[pool]]\nname = \"p\"\nvdev = \"single\"\ndrives = 1\n";
    let at = text.find(line).unwrap();
    at + start..at + end
}

/// Every problem of `text`, as `LINE:COL: message` (the file name is the same for all).
fn problems(text: &str) -> Vec<String> {
    match Layout::parse(text, "bad.toml") {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .0
            .iter()
            .map(|e| {
                let shown = e.to_string();
                shown
                    .strip_prefix("bad.toml:")
                    .unwrap_or(&shown)
                    .to_string()
            })
            .collect(),
    }
}

/// A layout of one single-drive pool `pool` and `datasets` (TOML `[[dataset]]` tables).
fn one_pool(pool: &str, datasets: &str) -> String {
    format!("version = 1\n[[pool]]\nname = \"{pool}\"\nvdev = \"single\"\ndrives = 1\n{datasets}")
}

fn dataset(name: &str, extra: &str) -> String {
    format!("[[dataset]]\nname = \"{name}\"\nserves = \"files\"\n{extra}")
}

#[test]
fn pool_names_follow_zfs_pool_namecheck_and_zpools_reserved_words() {
    for good in [
        "tank",
        "quickOS",
        "a",
        "cache",
        "my pool",
        "p.1:2_3-4",
        "logs",
        "spar",
    ] {
        assert_eq!(
            problems(&one_pool(good, "")),
            Vec::<String>::new(),
            "{good}"
        );
    }
    let long = format!("p{}", "x".repeat(238));
    assert_eq!(long.len(), 239);
    assert!(problems(&one_pool(&long, "")).is_empty());
    let too_long = format!("{long}x");
    for (bad, why) in [
        ("mirror", "reserved"),
        ("mirrorpool", "reserved"),
        ("raidz2x", "reserved"),
        ("draid", "reserved"),
        ("spares", "reserved"),
        ("log", "reserved"),
        ("c0t0d0", "Solaris disk"),
        ("c9", "Solaris disk"),
        ("1tank", "begin with a letter"),
        ("_tank", "begin with a letter"),
        ("", "begin with a letter"),
        ("ta/nk", "character ZFS does not take"),
        ("tank%", "character ZFS does not take"),
        ("tänk", "character ZFS does not take"),
        (too_long.as_str(), "longer than the 239 characters"),
    ] {
        let found = problems(&one_pool(bad, ""));
        assert_eq!(found.len(), 1, "{bad}: {found:?}");
        assert!(found[0].starts_with("3:8: pool name"), "{bad}: {found:?}");
        assert!(found[0].contains(why), "{bad}: {found:?}");
    }
}

#[test]
fn dataset_names_follow_zfs_dataset_namecheck() {
    for good in ["p/a", "p/a b", "p/a.b:c_d-e", "p/..a", "p/a..b"] {
        let text = one_pool("p", &dataset(good, ""));
        assert_eq!(problems(&text), Vec::<String>::new(), "{good}");
    }
    let longest = format!("p/{}", "x".repeat(253));
    assert_eq!(longest.len(), 255);
    assert!(problems(&one_pool("p", &dataset(&longest, ""))).is_empty());
    let too_long = format!("{longest}x");
    for (bad, why) in [
        ("p", "names no dataset inside a pool"),
        ("p/a@snap", "character ZFS does not take"),
        ("p/a%b", "character ZFS does not take"),
        ("p/a\\tb", "character ZFS does not take"),
        ("p//a", "empty, `.` or `..` component"),
        ("p/a/", "empty, `.` or `..` component"),
        ("p/.", "empty, `.` or `..` component"),
        ("p/..", "empty, `.` or `..` component"),
        (too_long.as_str(), "longer than the 255 characters"),
    ] {
        let found = problems(&one_pool("p", &dataset(bad, "")));
        assert_eq!(found.len(), 1, "{bad}: {found:?}");
        assert!(
            found[0].starts_with("7:8: dataset name"),
            "{bad}: {found:?}"
        );
        assert!(found[0].contains(why), "{bad}: {found:?}");
    }
}

#[test]
fn two_datasets_at_one_mount_point_are_refused_whichever_way_they_get_there() {
    // Inherited /p/a against an explicit /p/a.
    let text = one_pool(
        "p",
        &[
            dataset("p/a", ""),
            dataset("p/b", "properties = { mountpoint = \"/p/a/\" }\n"),
        ]
        .concat(),
    );
    assert_eq!(
        problems(&text),
        ["10:8: dataset `p/b` mounts at /p/a, where `p/a` does: one would hide the other"]
    );
    // A pool's root moved onto another pool's.
    let text = "version = 1\n\
        [[pool]]\nname = \"p\"\nvdev = \"single\"\ndrives = 1\n\
        [[pool]]\nname = \"q\"\nvdev = \"single\"\ndrives = 1\n\
        filesystem_properties = { mountpoint = \"/p\" }\n";
    assert_eq!(
        problems(text),
        ["7:8: pool `q` mounts at /p, where `p` does: one would hide the other"]
    );
    // Inheritance follows the parent's mountpoint; none and legacy mount nothing to collide.
    let text = one_pool(
        "p",
        &[
            dataset("p/a", "properties = { mountpoint = \"/srv\" }\n"),
            dataset("p/a/x", ""),
            dataset("p/b", "properties = { mountpoint = \"/srv/x\" }\n"),
            dataset("p/c", "properties = { mountpoint = \"none\" }\n"),
            dataset("p/d", "properties = { mountpoint = \"none\" }\n"),
            dataset("p/d/x", ""),
            dataset("p/e", "properties = { mountpoint = \"legacy\" }\n"),
        ]
        .concat(),
    );
    assert_eq!(
        problems(&text),
        ["14:8: dataset `p/b` mounts at /srv/x, where `p/a/x` does: one would hide the other"]
    );
}

#[test]
fn two_datasets_bound_at_one_container_path_are_refused() {
    let text = one_pool(
        "p",
        &[
            dataset("p/a", "bind_mount = { path = \"/mnt/data\" }\n"),
            dataset("p/b", "bind_mount = { path = \"/mnt/data/\" }\n"),
            dataset("p/c", "bind_mount = { path = \"/mnt/other\" }\n"),
        ]
        .concat(),
    );
    assert_eq!(
        problems(&text),
        ["11:8: dataset `p/b`: bind_mount.path `/mnt/data/` is `p/a`'s too: in a container one would hide the other"]
    );
}

#[test]
fn one_run_reports_every_problem_each_at_its_place() {
    let text = "version = 1\n\
        [[pool]]\nname = \"mirror\"\nvdev = \"single\"\ndrives = 2\n\
        [[pool]]\nname = \"q\"\nvdev = \"mirror\"\ndrives = 2\n\
        [[dataset]]\nname = \"q/a\"\nserves = \"files\"\nbind_mount = { path = \"/m\" }\n\
        [[dataset]]\nname = \"q/a/..\"\nserves = \"files\"\n\
        [[dataset]]\nname = \"q/b\"\nserves = \"files\"\nbind_mount = { path = \"/m\" }\n\
        properties = { mountpoint = \"/q/a\" }\n";
    assert_eq!(
        problems(text),
        [
            "3:8: pool name `mirror` is reserved by zpool: it must not be `log` nor begin with mirror, raidz, draid or spare",
            "5:10: pool `mirror`: vdev = \"single\" takes exactly 1 drive, not 2",
            "15:8: dataset name `q/a/..` has an empty, `.` or `..` component",
            "18:8: dataset `q/b` mounts at /q/a, where `q/a` does: one would hide the other",
            "18:8: dataset `q/b`: bind_mount.path `/m` is `q/a`'s too: in a container one would hide the other",
        ]
    );
    let shown = Layout::parse(text, "bad.toml").unwrap_err().to_string();
    assert_eq!(shown.lines().count(), 5, "{shown}");
    assert!(shown.lines().all(|l| l.starts_with("bad.toml:")), "{shown}");
}
