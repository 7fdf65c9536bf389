//! Tests of the layout file: parsing, validation and the errors that point at the offending key.

use super::*;

fn parse(text: &str) -> Result<Layout, LayoutError> {
    Layout::parse(text, "test.toml")
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
