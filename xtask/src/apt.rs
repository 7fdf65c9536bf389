//! Every apt decision xtask makes: when the package lists are too old to install from, what is
//! missing or too old, and what to tell the user when apt cannot help. The decisions are pure
//! functions (tested below); the few functions at the end carry them out through `util::run`.
//!
//! Why this exists: a fresh machine's package lists can be months old. Installing from them
//! gave Debian's rustc-web 1.85 where bookworm-security had 1.96, and because the packages then
//! counted as installed, every rerun failed the same way.

use crate::util::run_logged;
use anyhow::{Context, Result};
use std::cmp::Ordering;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::time::{Duration, SystemTime};

const LISTS_DIR: &str = "/var/lib/apt/lists";
/// Debian's security and updates suites re-sign their Release files at least daily, so lists
/// older than a day have missed at least one publication.
const LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// Another apt (unattended-upgrades, a concurrent xtask) may hold the lock for a while; waiting
/// a quarter of an hour beats failing at once.
const LOCK_TIMEOUT: &str = "DPkg::Lock::Timeout=900";

/// `apt-get update` ran in this process: once per xtask run is enough.
static REFRESHED: AtomicBool = AtomicBool::new(false);

/// Packages installed and upgraded together, so that they stay one release (a compiler and its
/// std sources), with the versions they must and should have.
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    pub packages: &'a [&'a str],
    /// Below this the task cannot work at all: fail after an upgrade that did not reach it.
    pub minimum: Option<&'a str>,
    /// Below this apt upgrades the group once; the caller copes with less (and says so).
    pub preferred: Option<&'a str>,
}

impl<'a> Want<'a> {
    /// Packages that only need to be there, at any version.
    pub const fn any(packages: &'a [&'a str]) -> Want<'a> {
        Want {
            packages,
            minimum: None,
            preferred: None,
        }
    }
}

/// What apt must do for a list of wants, given what dpkg has installed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every package of every group that has a missing or too old member, in one command.
    pub install: Vec<String>,
    /// One line per reason, for the user: `rustc-web 1.85.0-1 is older than 1.92`.
    pub reasons: Vec<String>,
}

pub fn plan(wants: &[Want], installed: &dyn Fn(&str) -> Option<String>) -> Plan {
    let mut result = Plan::default();
    for want in wants {
        let mut group_needed = false;
        for package in want.packages {
            let reason = match installed(package) {
                None => Some(format!("{package} is not installed")),
                Some(version) => [want.minimum, want.preferred]
                    .into_iter()
                    .flatten()
                    .find(|floor| compare_versions(&version, floor) == Ordering::Less)
                    .map(|floor| format!("{package} {version} is older than {floor}")),
            };
            if let Some(reason) = reason {
                result.reasons.push(reason);
                group_needed = true;
            }
        }
        if group_needed {
            for package in want.packages {
                if !result.install.iter().any(|p| p == package) {
                    result.install.push(package.to_string());
                }
            }
        }
    }
    result
}

/// After apt ran: fails with what happened and what to run when a package is still missing or
/// below its minimum; returns a warning per package still below its preferred version.
pub fn verdict<'a>(
    wants: &[Want<'a>],
    installed: &dyn Fn(&str) -> Option<String>,
    target_release: Option<&str>,
) -> std::result::Result<Vec<String>, String> {
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    for want in wants {
        for package in want.packages {
            let Some(version) = installed(package) else {
                failures.push(format!("{package} is still not installed"));
                continue;
            };
            let below = |floor: Option<&'a str>| {
                floor.filter(|floor| compare_versions(&version, floor) == Ordering::Less)
            };
            if let Some(minimum) = below(want.minimum) {
                failures.push(format!(
                    "{package} is {version}, older than the {minimum} this task needs"
                ));
            } else if let Some(preferred) = below(want.preferred) {
                warnings.push(format!(
                    "{package} is {version}, older than the preferred {preferred}, and the \
                     configured apt sources offer nothing newer"
                ));
            }
        }
    }
    if failures.is_empty() {
        return Ok(warnings);
    }
    let all: Vec<&str> = wants
        .iter()
        .flat_map(|w| w.packages.iter().copied())
        .collect();
    let release = target_release.map_or(String::new(), |r| format!("-t {r} "));
    Err(format!(
        "{} after `apt-get install`. The configured apt sources \
         (/etc/apt/sources.list, /etc/apt/sources.list.d/) do not offer it: add the suite that \
         does (for Debian's Rust: bookworm-security, component main), then run \
         `apt-get update && apt-get install -y {release}{}` and retry",
        failures.join("; "),
        all.join(" ")
    ))
}

/// Whether package lists whose newest Release file was written at `newest` are too old to
/// install from at `now`. No lists at all are stale; a clock behind the files is not.
pub fn lists_stale(newest: Option<SystemTime>, now: SystemTime) -> bool {
    match newest {
        None => true,
        Some(time) => now
            .duration_since(time)
            .is_ok_and(|age| age > LISTS_MAX_AGE),
    }
}

/// The files apt fetches per suite and dates from the archive's publication: `*_InRelease`
/// (signed) or `*_Release` (with a detached `*_Release.gpg`).
pub fn is_release_file(name: &str) -> bool {
    name.ends_with("_InRelease") || name.ends_with("_Release")
}

/// `Some(version)` when dpkg-query printed a fully installed package (status `ii`).
pub fn parse_dpkg_query(text: &str) -> Option<String> {
    let (status, version) = text.lines().next()?.split_once('\t')?;
    let version = version.trim();
    (status.trim() == "ii" && !version.is_empty()).then(|| version.to_string())
}

/// Debian's version order (deb-version(7)): epoch, then upstream version, then revision, each
/// compared as alternating non-digit and digit runs, where `~` sorts before everything, even
/// the end of the string, and letters before other characters.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (epoch_a, upstream_a, revision_a) = split_version(a);
    let (epoch_b, upstream_b, revision_b) = split_version(b);
    epoch_a
        .cmp(&epoch_b)
        .then_with(|| compare_fragment(upstream_a, upstream_b))
        .then_with(|| compare_fragment(revision_a, revision_b))
}

fn split_version(version: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match version.split_once(':') {
        Some((epoch, rest)) if !epoch.is_empty() && epoch.bytes().all(|c| c.is_ascii_digit()) => {
            (epoch.parse().unwrap_or(u64::MAX), rest)
        }
        _ => (0, version),
    };
    let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
    (epoch, upstream, revision)
}

fn char_order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's verrevcmp.
fn compare_fragment(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit_at = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit_at(a, i)) || (j < b.len() && !digit_at(b, j)) {
            let (ca, cb) = (char_order(a.get(i).copied()), char_order(b.get(j).copied()));
            if ca != cb {
                return ca.cmp(&cb);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_difference = Ordering::Equal;
        while digit_at(a, i) && digit_at(b, j) {
            if first_difference == Ordering::Equal {
                first_difference = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit_at(a, i) {
            return Ordering::Greater;
        }
        if digit_at(b, j) {
            return Ordering::Less;
        }
        if first_difference != Ordering::Equal {
            return first_difference;
        }
    }
    Ordering::Equal
}

// What follows runs apt and dpkg; everything it decides, it asks the functions above.

/// The installed version of `package`, or None when dpkg does not have it fully installed.
pub fn installed_version(package: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}\t${Version}\n", package])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_dpkg_query(&String::from_utf8_lossy(&out.stdout))
}

/// Like [`installed_version`], for packages that must be there by now.
pub fn require_installed(package: &str) -> Result<String> {
    installed_version(package).with_context(|| {
        format!("package {package} is not installed; run `apt-get install {package}`")
    })
}

/// Installs what `wants` lack or upgrades what is too old, in one apt-get command (with
/// `target_release` as `-t`), refreshing stale package lists first. Does no apt work at all when
/// everything is there. Returns the warnings of [`verdict`] for the caller to act on.
pub fn ensure(wants: &[Want], target_release: Option<&str>) -> Result<Vec<String>> {
    let todo = plan(wants, &installed_version);
    if todo.install.is_empty() {
        return Ok(Vec::new());
    }
    eprintln!("xtask: apt: {}", todo.reasons.join("; "));
    refresh_if_stale()?;
    if let Err(err) = install(&todo.install, target_release) {
        // Lists younger than a day can still name a .deb the mirror has replaced since.
        if REFRESHED.load(AtomicOrdering::SeqCst) {
            return Err(err);
        }
        refresh("apt-get install failed, perhaps on files the mirror no longer has")?;
        install(&todo.install, target_release)?;
    }
    verdict(wants, &installed_version, target_release).map_err(anyhow::Error::msg)
}

/// `apt-get update`, unless it already ran in this xtask run.
pub fn refresh_if_stale() -> Result<()> {
    if REFRESHED.load(AtomicOrdering::SeqCst) {
        return Ok(());
    }
    let newest = newest_release_file(Path::new(LISTS_DIR));
    if !lists_stale(newest, SystemTime::now()) {
        return Ok(());
    }
    let age = newest
        .and_then(|time| SystemTime::now().duration_since(time).ok())
        .map_or("there are none".to_string(), |age| {
            format!("the newest is {} days old", age.as_secs() / 86_400)
        });
    refresh(&format!("the package lists are stale ({age})"))
}

/// `apt-get update` unless it already ran in this xtask run, whatever the lists' age: a package
/// the lists should know is not in them.
pub fn refresh_once(reason: &str) -> Result<()> {
    if REFRESHED.load(AtomicOrdering::SeqCst) {
        return Ok(());
    }
    refresh(reason)
}

/// `apt-get update` now, whatever the lists' age: the sources changed, or a package the lists
/// should know is not in them.
pub fn refresh(reason: &str) -> Result<()> {
    eprintln!("xtask: apt: refreshing the package lists: {reason}");
    REFRESHED.store(true, AtomicOrdering::SeqCst);
    // apt-get update fails when any one source fails, a third-party one included, yet keeps
    // every list it did fetch: go on with those. What is still missing or too old afterwards
    // fails in `verdict` with what to run.
    if let Err(err) = run_logged(apt_get().arg("update")) {
        eprintln!(
            "xtask: warning: {}; going on with the lists it could fetch. Check the network \
             to the mirrors and the files in /etc/apt/sources.list.d/",
            phoenix_zfs::report::Report(err.as_ref())
        );
    }
    Ok(())
}

fn install(packages: &[String], target_release: Option<&str>) -> Result<()> {
    eprintln!("xtask: apt: installing {}", packages.join(" "));
    let mut apt = apt_get();
    // An upgrade that meets a locally changed conffile keeps the local one instead of asking.
    apt.args([
        "install",
        "-y",
        "--no-install-recommends",
        "-o",
        "Dpkg::Options::=--force-confdef",
        "-o",
        "Dpkg::Options::=--force-confold",
    ]);
    if let Some(release) = target_release {
        apt.args(["-t", release]);
    }
    run_logged(apt.args(packages))
}

fn apt_get() -> Command {
    let mut apt = Command::new("apt-get");
    apt.env("DEBIAN_FRONTEND", "noninteractive")
        .args(["-o", LOCK_TIMEOUT]);
    apt
}

fn newest_release_file(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|entry| is_release_file(&entry.file_name().to_string_lossy()))
        .filter_map(|entry| entry.metadata().ok()?.modified().ok())
        .max()
}

#[cfg(test)]
#[path = "apt_tests.rs"]
mod tests;
