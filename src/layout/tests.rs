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
