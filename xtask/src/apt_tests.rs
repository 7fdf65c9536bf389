//! Tests of apt.rs: version comparison as dpkg does it, the packages to install and when the
//! package lists count as stale, on canned apt and dpkg output.

use super::*;
use std::collections::HashMap;

fn dpkg(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect();
    move |package| map.get(package).cloned()
}

const RUST: [&str; 3] = ["rustc-web", "cargo-web", "rust-web-src"];
const TOOLCHAIN: Want = Want {
    packages: &RUST,
    minimum: Some("1.85"),
    preferred: Some("1.92"),
};
/// What bookworm had in May 2026, and what bookworm-security had in December.
const OLD: &str = "1.85.0+dfsg3-1~deb12u3";
const NEW: &str = "1.96.0+dfsg1-1~deb12u1";

#[test]
fn debian_version_order() {
    use Ordering::*;
    let cases = [
        ("1.0", "1.0", Equal),
        ("1.0", "1.0-0", Equal),
        ("1.0~rc1", "1.0", Less),
        ("1.0~~", "1.0~", Less),
        ("1.0", "1.0+b1", Less),
        ("1.0a", "1.0+", Less),
        ("1.9", "1.10", Less),
        ("1.010", "1.9", Greater),
        ("1:0.1", "9.9", Greater),
        ("2.3.2-2~bpo12+1", "2.3.2-2", Less),
        ("1.2-3", "1.2-10", Less),
        ("1:16.0.6-15~deb12u1", "1:16.0.6-15", Less),
        (OLD, NEW, Less),
        (OLD, "1.85", Greater),
        (OLD, "1.92", Less),
        (NEW, "1.92", Greater),
        ("1.92.0~beta1-1", "1.92", Greater),
        ("1.92~beta1-1", "1.92", Less),
    ];
    for (a, b, expected) in cases {
        assert_eq!(compare_versions(a, b), expected, "{a} vs {b}");
        assert_eq!(compare_versions(b, a), expected.reverse(), "{b} vs {a}");
    }
}

/// The comparator against dpkg itself, where dpkg is there to ask.
#[test]
fn debian_version_order_agrees_with_dpkg() {
    let versions = [
        OLD,
        NEW,
        "1.85",
        "1.92",
        "1.0~rc1",
        "1.0",
        "1.0+b1",
        "1:0.1",
        "2.3.2-2~bpo12+1",
        "1.0a",
        "1.0+",
        "1.10",
        "1.9",
        "1.92.0~beta1-1",
        "1.92~beta1",
    ];
    for a in versions {
        for b in versions {
            let Ok(out) = Command::new("dpkg")
                .args(["--compare-versions", a, "lt", b])
                .status()
            else {
                return;
            };
            let dpkg_less = out.success();
            assert_eq!(
                compare_versions(a, b) == Ordering::Less,
                dpkg_less,
                "{a} < {b}"
            );
        }
    }
}

#[test]
fn nothing_to_do_when_everything_is_there_and_new_enough() {
    let installed = dpkg(&[
        ("rustc-web", NEW),
        ("cargo-web", NEW),
        ("rust-web-src", NEW),
        ("musl-tools", "1.2.3-1"),
    ]);
    let todo = plan(&[TOOLCHAIN, Want::any(&["musl-tools"])], &installed);
    assert_eq!(todo, Plan::default());
}

#[test]
fn a_missing_package_is_installed_alone() {
    let installed = dpkg(&[
        ("rustc-web", NEW),
        ("cargo-web", NEW),
        ("rust-web-src", NEW),
    ]);
    let todo = plan(&[TOOLCHAIN, Want::any(&["musl-tools"])], &installed);
    assert_eq!(todo.install, ["musl-tools"]);
    assert_eq!(todo.reasons, ["musl-tools is not installed"]);
}

#[test]
fn a_too_old_compiler_upgrades_its_whole_group_in_one_command() {
    // Only rustc-web is old: cargo-web and the std sources go along, to stay one release.
    let installed = dpkg(&[
        ("rustc-web", OLD),
        ("cargo-web", NEW),
        ("rust-web-src", NEW),
        ("musl-tools", "1.2.3-1"),
    ]);
    let todo = plan(&[TOOLCHAIN, Want::any(&["musl-tools"])], &installed);
    assert_eq!(todo.install, RUST);
    assert_eq!(
        todo.reasons,
        [format!("rustc-web {OLD} is older than 1.92")]
    );
}

#[test]
fn the_broken_fresh_machine_upgrades_and_installs_together() {
    let installed = dpkg(&[
        ("rustc-web", OLD),
        ("cargo-web", OLD),
        ("rust-web-src", OLD),
    ]);
    let todo = plan(&[TOOLCHAIN, Want::any(&["musl-tools"])], &installed);
    assert_eq!(
        todo.install,
        ["rustc-web", "cargo-web", "rust-web-src", "musl-tools"]
    );
    assert_eq!(todo.reasons.len(), 4);
}

#[test]
fn verdict_after_a_good_upgrade_is_silent() {
    let installed = dpkg(&[
        ("rustc-web", NEW),
        ("cargo-web", NEW),
        ("rust-web-src", NEW),
    ]);
    assert_eq!(verdict(&[TOOLCHAIN], &installed, None), Ok(vec![]));
}

#[test]
fn verdict_warns_below_preferred_and_fails_below_minimum() {
    let installed = dpkg(&[
        ("rustc-web", OLD),
        ("cargo-web", OLD),
        ("rust-web-src", OLD),
    ]);
    let warnings = verdict(&[TOOLCHAIN], &installed, None).unwrap();
    assert_eq!(warnings.len(), 3);
    assert!(warnings[0].contains("older than the preferred 1.92"));

    let strict = Want {
        minimum: Some("1.92"),
        ..TOOLCHAIN
    };
    let error = verdict(&[strict], &installed, Some("bookworm-backports")).unwrap_err();
    assert!(error.contains(&format!("rustc-web is {OLD}, older than the 1.92")));
    assert!(error.contains(
        "`apt-get update && apt-get install -y -t bookworm-backports rustc-web cargo-web rust-web-src`"
    ));
}

#[test]
fn verdict_fails_when_apt_left_a_package_out() {
    let error = verdict(&[Want::any(&["zfs-dkms"])], &dpkg(&[]), None).unwrap_err();
    assert!(error.starts_with("zfs-dkms is still not installed after `apt-get install`"));
}

#[test]
fn lists_older_than_a_day_are_stale() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let hours = |h: u64| Duration::from_secs(h * 3600);
    assert!(lists_stale(None, now));
    assert!(!lists_stale(Some(now - hours(23)), now));
    assert!(lists_stale(Some(now - hours(25)), now));
    // This machine: lists from May 2026, used in December.
    assert!(lists_stale(Some(now - hours(24 * 200)), now));
    // A clock behind the files (a VM restored from an old snapshot) is no reason to refresh.
    assert!(!lists_stale(Some(now + hours(5)), now));
}

#[test]
fn release_files_are_told_from_package_indexes() {
    assert!(is_release_file(
        "deb.debian.org_debian-security_dists_bookworm-security_InRelease"
    ));
    assert!(is_release_file("mirror_debian_dists_bookworm_Release"));
    assert!(!is_release_file("mirror_debian_dists_bookworm_Release.gpg"));
    assert!(!is_release_file(
        "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
    ));
    assert!(!is_release_file("lock"));
}

#[test]
fn dpkg_query_needs_fully_installed() {
    assert_eq!(parse_dpkg_query("ii \t1.2-3\n").as_deref(), Some("1.2-3"));
    assert_eq!(parse_dpkg_query("ii \t1.2-3").as_deref(), Some("1.2-3"));
    assert_eq!(parse_dpkg_query("rc \t1.2-3\n"), None);
    assert_eq!(parse_dpkg_query("iU \t1.2-3\n"), None);
    assert_eq!(parse_dpkg_query("un \t\n"), None);
    assert_eq!(parse_dpkg_query(""), None);
}
