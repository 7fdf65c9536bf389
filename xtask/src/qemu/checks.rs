//! What a scenario must show, checked on the host from what the guest carried out: step exit
//! codes and drive hashes, the pools and datasets zpool/zfs report, the signed manifest (with
//! stock ssh-keygen), and drives compared byte for byte on the host.

use crate::qemu::boot_script::{HASHED_HEAD_MIB, HASHED_TAIL_MIB};
use crate::qemu::scenario::{Boot, Scenario};
use anyhow::{Context, Result};
use phoenix_zfs::runner::Transcript;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// sha256 over the non-zero 4 KiB blocks of a sparse backing file, each with its offset: equal
/// digests mean equal drives, however the host file system happens to lay out holes and zeros,
/// and only the written extents are read.
pub fn whole_drive_digest(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    const BLOCK: usize = 4096;
    let mut file =
        fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata()?.len() as i64;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos: i64 = 0;
    while pos < len {
        let data = match nix::unistd::lseek(&file, pos, nix::unistd::Whence::SeekData) {
            Ok(d) => d,
            Err(nix::errno::Errno::ENXIO) => break,
            Err(e) => return Err(e).context("SEEK_DATA"),
        };
        let hole =
            nix::unistd::lseek(&file, data, nix::unistd::Whence::SeekHole).context("SEEK_HOLE")?;
        // Start on the block grid so that the same bytes always hash the same way.
        let mut at = data - data % BLOCK as i64;
        file.seek(SeekFrom::Start(at as u64))?;
        while at < hole {
            let want = ((hole - at) as usize).min(buf.len());
            let n = file.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            for (i, block) in buf[..n].chunks(BLOCK).enumerate() {
                if block.iter().any(|&b| b != 0) {
                    hasher.update((at + (i * BLOCK) as i64).to_le_bytes());
                    hasher.update(block);
                }
            }
            at += n as i64;
        }
        pos = hole;
    }
    Ok(format!("{:x}", hasher.finalize()))
}

pub struct StepResult {
    pub status: Option<i32>,
    pub stdout: String,
    /// The drive hashes before and after the step (boot_script.rs `hash_drives`), when written.
    pub before: Option<String>,
    pub after: Option<String>,
    pub commands: Vec<Vec<String>>,
    pub power_cut: bool,
}

pub struct BootResults {
    pub steps: Vec<StepResult>,
    /// The serials of the drives plugged in during this boot: each must be hashed.
    pub serials: Vec<String>,
    /// What the guest wrote to prepare-failed: a drive's content could not be written.
    pub prepare_failed: Option<String>,
    /// The manifests this boot left: one per phoenix-zfs step that wrote one, and the last.
    pub manifests: Vec<PathBuf>,
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

impl BootResults {
    pub fn load(out: &Path, boot: &Boot, serials: Vec<String>) -> Result<BootResults> {
        let cut = out.join("power-cut").exists();
        let mut steps = Vec::new();
        let mut manifests = Vec::new();
        for n in 1..=boot.steps.len() {
            let stem = |ext: &str| out.join(format!("step-{n}.{ext}"));
            // A step that recorded nothing (it ran no zpool or zfs) has no directory.
            let commands = Transcript::argvs_in(&stem("zfs")).unwrap_or_default();
            if stem("manifest.json").exists() {
                manifests.push(stem("manifest.json"));
            }
            steps.push(StepResult {
                status: read(&stem("status")).trim().parse().ok(),
                stdout: read(&stem("stdout")),
                before: fs::read_to_string(stem("before")).ok(),
                after: fs::read_to_string(stem("after")).ok(),
                commands,
                power_cut: cut && boot.steps[n - 1].power_cut_after_action.is_some(),
            });
        }
        if out.join("state/manifest.json").exists() {
            manifests.push(out.join("state/manifest.json"));
        }
        Ok(BootResults {
            steps,
            serials,
            prepare_failed: fs::read_to_string(out.join("prepare-failed")).ok(),
            manifests,
        })
    }

    pub fn check_steps(&self, boot_no: usize, boot: &Boot) -> Vec<String> {
        let mut failures = Vec::new();
        if let Some(what) = &self.prepare_failed {
            // The drive would otherwise run as blank, and a refusal test on it would prove
            // nothing.
            failures.push(format!(
                "boot {boot_no}: a drive's content could not be prepared (see prepare-*.log): {}",
                what.trim()
            ));
        }
        for (i, (step, result)) in boot.steps.iter().zip(&self.steps).enumerate() {
            let at = format!("boot {boot_no} step {} (`{}`)", i + 1, step.run.join(" "));
            if let Some(action) = step.power_cut_after_action {
                if !result.power_cut {
                    failures.push(format!(
                        "{at}: the power was not cut after action {action}: apply ended first"
                    ));
                }
                continue;
            }
            if result.status != Some(step.expected_exit()) {
                failures.push(format!(
                    "{at}: exit {:?}, expected {}; stdout: {}",
                    result.status,
                    step.expected_exit(),
                    result.stdout.trim()
                ));
            }
            for s in &step.stdout_contains {
                if !result.stdout.contains(s.as_str()) {
                    failures.push(format!(
                        "{at}: stdout lacks `{s}`: {}",
                        result.stdout.trim()
                    ));
                }
            }
            if step.unchanged {
                failures.extend(
                    unchanged_failures(
                        &self.serials,
                        result.before.as_deref(),
                        result.after.as_deref(),
                    )
                    .into_iter()
                    .map(|f| format!("{at}: {f}")),
                );
            }
            // The count is of the storage tools' changes (zpool, zfs, wipefs, ...), as the
            // format documents it; a step that expects none must also have run no other
            // command that changes anything (a service reload, a package install, pct).
            if let Some(expected) = step.mutating_commands {
                let storage: Vec<String> = result
                    .commands
                    .iter()
                    .filter(|a| phoenix_zfs::runner::changes_storage(a))
                    .map(|a| a.join(" "))
                    .collect();
                if storage.len() != expected {
                    failures.push(format!(
                        "{at}: {} mutating command(s), expected {expected}: {storage:?}",
                        storage.len()
                    ));
                }
                let other: Vec<String> = result
                    .commands
                    .iter()
                    .filter(|a| {
                        phoenix_zfs::runner::is_mutating(a)
                            && !phoenix_zfs::runner::changes_storage(a)
                    })
                    .map(|a| a.join(" "))
                    .collect();
                if expected == 0 && !other.is_empty() {
                    failures.push(format!(
                        "{at}: expected no change, but it ran {} other mutating command(s): {other:?}",
                        other.len()
                    ));
                }
            }
            if let Some(most) = step.zfs_commands_at_most {
                let zfs = result
                    .commands
                    .iter()
                    .filter(|a| {
                        a.first()
                            .is_some_and(|p| p.ends_with("zpool") || p.ends_with("zfs"))
                    })
                    .count();
                if zfs > most {
                    failures.push(format!(
                        "{at}: {zfs} zpool/zfs processes, at most {most} allowed"
                    ));
                }
            }
        }
        failures
    }
}

/// serial -> its hash_drives line after the serial ("HEAD TAIL", or "no-by-id-link").
fn hash_lines(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .filter_map(|l| l.trim().split_once(' '))
        .collect()
}

/// Why the drives of `serials` cannot be shown unchanged by the hashes before and after a step:
/// every drive must have been hashed both times, and to the same digests.
fn unchanged_failures(
    serials: &[String],
    before: Option<&str>,
    after: Option<&str>,
) -> Vec<String> {
    let (Some(before), Some(after)) = (before, after) else {
        return vec!["no drive hashes came back".into()];
    };
    let (before, after) = (hash_lines(before), hash_lines(after));
    let mut failures = Vec::new();
    for serial in serials {
        match (before.get(serial.as_str()), after.get(serial.as_str())) {
            (Some(b), Some(a)) if *b == "no-by-id-link" || *a == "no-by-id-link" => {
                failures.push(format!(
                    "drive {serial} had no /dev/disk/by-id link in the guest, so it was not \
                     hashed; see state/by-id"
                ))
            }
            (Some(b), Some(a)) if b == a => {}
            (Some(_), Some(_)) => failures.push(format!(
                "drive {serial}: its first {HASHED_HEAD_MIB} MiB or last {HASHED_TAIL_MIB} MiB \
                 changed"
            )),
            _ => failures.push(format!(
                "drive {serial} is missing from the hashes before or after the step"
            )),
        }
    }
    failures
}

/// name -> property -> value, from `zpool get`/`zfs get -H -p -o name,property,value`.
fn property_table(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut table: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for line in text.lines() {
        let mut f = line.splitn(3, '\t');
        if let (Some(n), Some(p), Some(v)) = (f.next(), f.next(), f.next()) {
            table
                .entry(n.to_string())
                .or_default()
                .insert(p.to_string(), v.to_string());
        }
    }
    table
}

/// A state file the guest's collect_state wrote only when its command succeeded; missing, the
/// failure to report (with the command's stderr), never an empty answer.
fn state_file(state: &Path, name: &str) -> std::result::Result<String, String> {
    match fs::read_to_string(state.join(name)) {
        Ok(text) => Ok(text),
        Err(e) => {
            let stderr = read(&state.join(format!("{name}.stderr")));
            Err(format!(
                "state/{name} is missing ({e}): the guest could not collect it, so nothing about \
                 it can be checked; stderr: {}",
                if stderr.trim().is_empty() {
                    "none (was collect_state reached? a power cut or a stuck step skips it)"
                } else {
                    stderr.trim()
                }
            ))
        }
    }
}

pub fn check_expect(scenario: &Scenario, state: &Path, run_dir: &Path) -> Result<Vec<String>> {
    let expect = &scenario.expect;
    let mut failures = Vec::new();
    if let Some(want) = &expect.pools {
        match state_file(state, "pools") {
            Err(f) => failures.push(f),
            Ok(text) => {
                let pools: BTreeSet<String> = text.lines().map(str::to_string).collect();
                let want: BTreeSet<String> = want.iter().cloned().collect();
                if pools != want {
                    failures.push(format!("pools {pools:?}, expected {want:?}"));
                }
            }
        }
    }
    if expect.datasets.is_some() || !expect.dataset.is_empty() {
        match state_file(state, "zfs-get") {
            Err(f) => failures.push(f),
            Ok(text) => failures.extend(check_datasets(expect, &property_table(&text))),
        }
    }
    if !expect.pool.is_empty() {
        let statuses = state_file(state, "zpool-status").and_then(|text| {
            phoenix_zfs::formats::zfs::parse_zpool_status(&text)
                .map_err(|e| format!("state/zpool-status cannot be parsed: {e}"))
        });
        let props = if expect.pool.values().any(|p| !p.properties.is_empty()) {
            state_file(state, "zpool-get").map(|t| property_table(&t))
        } else {
            Ok(BTreeMap::new())
        };
        match (statuses, props) {
            (Ok(statuses), Ok(props)) => failures.extend(check_pools(expect, &statuses, &props)),
            (statuses, props) => {
                failures.extend(statuses.err());
                failures.extend(props.err());
            }
        }
    }
    if let Some(m) = &expect.manifest {
        failures.extend(check_manifest(m, state, run_dir)?);
    }
    Ok(failures)
}

/// The [expect] table `want` as a subset of the state read back: each key it names must have
/// its value in `have`; what `have` holds beyond it is not checked.
fn subset_failures(
    what: &str,
    want: &BTreeMap<String, String>,
    have: Option<&BTreeMap<String, String>>,
) -> Vec<String> {
    let Some(have) = have else {
        return vec![format!("{what} does not exist")];
    };
    want.iter()
        .filter(|(k, v)| have.get(*k) != Some(v))
        .map(|(k, v)| format!("{what}: {k} is {:?}, expected {v}", have.get(k)))
        .collect()
}

fn check_datasets(
    expect: &crate::qemu::scenario::Expect,
    datasets: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(n) = expect.datasets {
        let count = datasets.keys().filter(|d| d.contains('/')).count();
        if count != n {
            failures.push(format!(
                "{count} datasets below the pools, expected {n}: {:?}",
                datasets.keys().collect::<Vec<_>>()
            ));
        }
    }
    for (name, want) in &expect.dataset {
        failures.extend(subset_failures(
            &format!("dataset {name}"),
            want,
            datasets.get(name),
        ));
    }
    failures
}

fn check_pools(
    expect: &crate::qemu::scenario::Expect,
    statuses: &[phoenix_zfs::formats::zfs::PoolStatus],
    pool_props: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, want) in &expect.pool {
        let Some(status) = statuses.iter().find(|s| &s.name == name) else {
            failures.push(format!("pool {name} is not in zpool status"));
            continue;
        };
        let shape = match status.config.children.as_slice() {
            [one] if one.children.is_empty() => "single",
            [one] if one.name.starts_with("mirror") => "mirror",
            _ => "other",
        };
        let what = format!("pool {name}");
        let vdev = want.vdev.iter().map(|v| ("vdev".to_string(), v.clone()));
        let have = BTreeMap::from([("vdev".to_string(), shape.to_string())]);
        failures.extend(subset_failures(&what, &vdev.collect(), Some(&have)));
        if let Some(drives) = &want.drives {
            let leaves: Vec<String> = status
                .config
                .leaves()
                .iter()
                .map(|l| l.name.clone())
                .collect();
            for serial in drives {
                if !leaves.iter().any(|l| l.contains(&format!("_{serial}_"))) {
                    failures.push(format!(
                        "pool {name}: no member on drive {serial}: {leaves:?}"
                    ));
                }
            }
            if leaves.len() != drives.len() {
                failures.push(format!(
                    "pool {name}: {} members, expected {}: {leaves:?}",
                    leaves.len(),
                    drives.len()
                ));
            }
        }
        let empty = BTreeMap::new();
        let have = pool_props.get(name).unwrap_or(&empty);
        failures.extend(subset_failures(&what, &want.properties, Some(have)));
    }
    failures
}

fn check_manifest(
    m: &crate::qemu::scenario::ManifestExpect,
    state: &Path,
    run_dir: &Path,
) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    let path = state.join("manifest.json");
    let Ok(bytes) = fs::read(&path) else {
        return Ok(vec![
            "no manifest at /var/lib/phoenix-zfs/manifest.json".into()
        ]);
    };
    let manifest = phoenix_zfs::manifest::Manifest::parse(&path, &bytes)?;
    if let Some(o) = &m.outcome {
        let status = serde_json::to_value(manifest.outcome.status)?;
        if status != o.as_str() {
            failures.push(format!("manifest outcome {status}, expected {o}"));
        }
    }
    if let Some(code) = m.exit_code {
        if manifest.outcome.exit_code != code {
            failures.push(format!(
                "manifest exit code {}, expected {code}",
                manifest.outcome.exit_code
            ));
        }
    }
    let drive = |serial: &str| {
        manifest
            .drives
            .iter()
            .find(|d| d.serial.as_deref() == Some(serial))
    };
    for (serial, role) in &m.drive_roles {
        match drive(serial) {
            Some(d) if d.role.as_ref() == Some(role) => {}
            other => failures.push(format!(
                "manifest: drive {serial} role {:?}, expected {role}",
                other.map(|d| &d.role)
            )),
        }
    }
    for (serial, verdict) in &m.firmware_verdicts {
        let found = drive(serial)
            .map(|d| serde_json::to_value(&d.firmware_verdict))
            .transpose()?;
        match found {
            Some(v) if v["verdict"] == verdict.as_str() => {}
            other => failures.push(format!(
                "manifest: drive {serial} firmware verdict {:?}, expected {verdict}",
                other
            )),
        }
    }
    for serial in &m.health {
        match drive(serial) {
            Some(d) if d.health.is_some() => {}
            other => failures.push(format!(
                "manifest: drive {serial} has no health baseline: {:?}",
                other.map(|d| &d.health)
            )),
        }
    }
    let services = &manifest.services;
    let storages = services.storages.iter().map(|s| &s.id);
    let exports = services.exports.iter().map(|e| &e.dataset);
    for (list, found, wanted) in [
        (
            "storages",
            storages.cloned().collect::<Vec<_>>(),
            &m.storages,
        ),
        ("exports", exports.cloned().collect(), &m.exports),
    ] {
        if let Some(wanted) = wanted {
            let (mut found, mut wanted) = (found, wanted.clone());
            found.sort();
            wanted.sort();
            if found != wanted {
                failures.push(format!(
                    "manifest: services.{list} {found:?}, expected {wanted:?}"
                ));
            }
        }
    }
    if let Some(n) = m.deferred {
        let found = services.deferred.len();
        if found != n {
            failures.push(format!(
                "manifest: {found} deferred item(s), expected {n}: {}",
                serde_json::to_value(&services.deferred)?
            ));
        }
    }
    for (pool, wanted) in &m.pool_scans {
        let scan = manifest
            .pools
            .iter()
            .find(|p| p.name == *pool)
            .map(|p| &p.scan);
        if !scan
            .and_then(Option::as_deref)
            .is_some_and(|s| s.contains(wanted.as_str()))
        {
            failures.push(format!(
                "manifest: pool {pool} scan {scan:?}, expected it to contain {wanted:?}"
            ));
        }
    }
    if m.ssh_keygen_verify {
        let public = read(&state.join("ssh_host_ed25519_key.pub"));
        let fields: Vec<&str> = public.split_whitespace().take(2).collect();
        let signers = run_dir.join("allowed_signers");
        fs::write(&signers, format!("guest {}\n", fields.join(" ")))?;
        let ok = Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(&signers)
            .args(["-I", "guest", "-n", "phoenix-zfs-manifest", "-s"])
            .arg(state.join("manifest.json.sig"))
            .stdin(fs::File::open(&path)?)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("could not run ssh-keygen")?
            .success();
        if !ok {
            failures.push("ssh-keygen -Y verify rejects the manifest signature".into());
        }
    }
    Ok(failures)
}

/// Checks each manifest against the JSON schema with Python's jsonschema (draft 2020-12, with
/// formats): a validator that owes phoenix-zfs nothing, as tests/it/manifest_interop.rs uses it.
const VALIDATE_PY: &str = r#"
import json, sys
try:
    import jsonschema
except ImportError as e:
    print("python3 has no jsonschema module (%s): install Debian's python3-jsonschema" % e)
    sys.exit(2)
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
bad = 0
for path in sys.argv[2:]:
    try:
        doc = json.load(open(path))
    except ValueError as e:
        print("%s: not JSON: %s" % (path, e))
        bad += 1
        continue
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        print("%s: at /%s: %s" % (path, "/".join(map(str, err.absolute_path)), err.message))
        bad += 1
# 3, not 1: an uncaught exception (a broken schema, say) exits 1 and must not read as a list.
sys.exit(3 if bad else 0)
"#;

/// Debian's python3 first: python3-jsonschema installs for it, and a python3 earlier on PATH
/// (pyenv, a venv) may lack the module.
fn python3() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Every manifest that does not validate against `schema`, one failure per violation, with the
/// file and the JSON path; a validator that cannot run is a failure too, never a pass.
pub fn validate_manifests(schema: &Path, manifests: &[PathBuf]) -> Vec<String> {
    if manifests.is_empty() {
        return Vec::new();
    }
    let out = match Command::new(python3())
        .args(["-c", VALIDATE_PY])
        .arg(schema)
        .args(manifests)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            return vec![format!(
                "cannot run {} to validate the manifests against {}: {e}; install python3 and \
                 python3-jsonschema",
                python3(),
                schema.display()
            )]
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(0) => Vec::new(),
        Some(3) if !stdout.trim().is_empty() => stdout
            .lines()
            .map(|l| format!("manifest does not match {}: {l}", schema.display()))
            .collect(),
        _ => vec![format!(
            "could not validate the manifests against {} ({}): {} {}",
            schema.display(),
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )],
    }
}

pub fn check_untouched(
    scenario: &Scenario,
    before: &[(String, String)],
    after: &[(String, String)],
) -> Vec<String> {
    let mut failures = Vec::new();
    for (serial, digest) in before {
        let wanted = scenario.expect.all_untouched || scenario.expect.untouched.contains(serial);
        let now = after.iter().find(|(s, _)| s == serial).map(|(_, d)| d);
        if wanted && now != Some(digest) {
            failures.push(format!("drive {serial} changed, but must be untouched"));
        }
    }
    failures
}

/// The drives of `untouched_after_boot` whose digest at the end differs from the one taken after
/// their boot. `after_boot` holds (serial, boot, digest) as the runner took them.
pub fn check_untouched_after_boot(
    scenario: &Scenario,
    after_boot: &[(String, usize, String)],
    at_end: &[(String, String)],
) -> Vec<String> {
    let mut failures = Vec::new();
    for (serial, &boot) in &scenario.expect.untouched_after_boot {
        let then = after_boot
            .iter()
            .find(|(s, b, _)| s == serial && *b == boot)
            .map(|(_, _, d)| d);
        let now = at_end.iter().find(|(s, _)| s == serial).map(|(_, d)| d);
        match (then, now) {
            (Some(then), Some(now)) if then == now => {}
            (Some(_), Some(_)) => failures.push(format!(
                "drive {serial} changed after boot {boot}, but must be untouched since"
            )),
            _ => failures.push(format!(
                "drive {serial}: no digest after boot {boot} or at the end (did that boot run?)"
            )),
        }
    }
    failures
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn sparse_digest_sees_data_not_holes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let f = fs::File::create(&a).unwrap();
        f.set_len(64 << 20).unwrap();
        let blank = whole_drive_digest(&a).unwrap();
        let mut f = fs::OpenOptions::new().write(true).open(&a).unwrap();
        use std::io::Write;
        f.seek(SeekFrom::Start(40 << 20)).unwrap();
        f.write_all(b"data").unwrap();
        drop(f);
        assert_ne!(whole_drive_digest(&a).unwrap(), blank);
    }

    // Every check below is shown twice: passing on good input and failing on bad input, so
    // that none of them can quietly pass everything.

    fn scenario(text: &str) -> Scenario {
        let s: Scenario = toml::from_str(text).unwrap();
        s
    }

    const DRIVES: &str = r#"
description = "x"
[[drive]]
serial = "S2TA0001"
size = 2000398934016
[[drive]]
serial = "S2TA0002"
size = 2000398934016
"#;

    fn one_step(step: &str) -> Scenario {
        scenario(&format!("{DRIVES}[[boot]]\n[[boot.step]]\n{step}\n"))
    }

    const SAME: &str = "S2TA0001 aa bb\nS2TA0002 cc dd\n";

    fn result(status: i32, stdout: &str, before: &str, after: &str) -> StepResult {
        StepResult {
            status: Some(status),
            stdout: stdout.into(),
            before: Some(before.into()),
            after: Some(after.into()),
            commands: Vec::new(),
            power_cut: false,
        }
    }

    fn boot(step: StepResult) -> BootResults {
        BootResults {
            steps: vec![step],
            serials: vec!["S2TA0001".into(), "S2TA0002".into()],
            prepare_failed: None,
            manifests: Vec::new(),
        }
    }

    fn step_failures(step: &str, r: StepResult) -> Vec<String> {
        let s = one_step(step);
        boot(r).check_steps(1, &s.boots[0])
    }

    #[test]
    fn the_exit_code_must_match() {
        let step = "run = [\"phoenix-zfs\", \"apply\"]\nexit = 5";
        assert!(step_failures(step, result(5, "", SAME, SAME)).is_empty());
        let f = step_failures(step, result(0, "all done", SAME, SAME));
        assert!(f[0].contains("exit Some(0), expected 5"), "{f:?}");
        // Absent means 0.
        assert!(!step_failures("run = [\"true\"]", result(1, "", SAME, SAME)).is_empty());
        let mut none = result(0, "", SAME, SAME);
        none.status = None;
        assert!(!step_failures("run = [\"true\"]", none).is_empty());
    }

    #[test]
    fn stdout_must_contain_every_string() {
        let step = "run = [\"true\"]\nstdout_contains = [\"tank\", \"/mnt/old\"]";
        assert!(step_failures(step, result(0, "pool tank on /mnt/old", SAME, SAME)).is_empty());
        let f = step_failures(step, result(0, "pool tank", SAME, SAME));
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].contains("lacks `/mnt/old`"), "{f:?}");
    }

    #[test]
    fn unchanged_needs_every_drive_hashed_the_same_before_and_after() {
        let step = "run = [\"true\"]\nunchanged = true";
        assert!(step_failures(step, result(0, "", SAME, SAME)).is_empty());
        let changed = "S2TA0001 aa bb\nS2TA0002 cc XX\n";
        let f = step_failures(step, result(0, "", SAME, changed));
        assert!(
            f.len() == 1 && f[0].contains("drive S2TA0002: its first 4 MiB or last 16 MiB changed"),
            "{f:?}"
        );
        // A drive without its by-id link was not hashed: that is no proof it is unchanged.
        let unlinked = "S2TA0001 aa bb\nS2TA0002 no-by-id-link\n";
        let f = step_failures(step, result(0, "", unlinked, unlinked));
        assert!(
            f.len() == 1 && f[0].contains("drive S2TA0002 had no /dev/disk/by-id link"),
            "{f:?}"
        );
        // A drive left out of the hashes altogether.
        let one = "S2TA0001 aa bb\n";
        let f = step_failures(step, result(0, "", one, one));
        assert!(
            f.len() == 1 && f[0].contains("drive S2TA0002 is missing"),
            "{f:?}"
        );
        // Empty hash files (the guest's hash_drives never ran) and no files at all.
        let f = step_failures(step, result(0, "", "", ""));
        assert_eq!(f.len(), 2, "{f:?}");
        let mut none = result(0, "", SAME, SAME);
        none.after = None;
        let f = step_failures(step, none);
        assert!(f[0].contains("no drive hashes came back"), "{f:?}");
        // Without `unchanged`, a change is no failure.
        assert!(step_failures("run = [\"true\"]", result(0, "", SAME, changed)).is_empty());
    }

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn mutating_commands_are_counted_exactly() {
        let step = "run = [\"phoenix-zfs\", \"apply\"]\nmutating_commands = 0";
        let mut r = result(0, "", SAME, SAME);
        r.commands = vec![argv(&["zpool", "list", "-H"]), argv(&["zfs", "get", "all"])];
        assert!(step_failures(step, r).is_empty());
        let mut r = result(0, "", SAME, SAME);
        r.commands = vec![
            argv(&["zpool", "list", "-H"]),
            argv(&["wipefs", "--all", "/dev/nvme0n1"]),
        ];
        let f = step_failures(step, r);
        assert!(
            f.len() == 1 && f[0].contains("1 mutating command(s), expected 0"),
            "{f:?}"
        );
        assert!(f[0].contains("wipefs --all /dev/nvme0n1"), "{f:?}");
        // Too few is as wrong as too many.
        let f = step_failures(
            "run = [\"true\"]\nmutating_commands = 2",
            result(0, "", SAME, SAME),
        );
        assert!(f[0].contains("0 mutating command(s), expected 2"), "{f:?}");
        // A refusal changes nothing at all: a service reload counts against `= 0` too...
        let mut r = result(0, "", SAME, SAME);
        r.commands = vec![argv(&["systemctl", "reload", "smartd.service"])];
        let f = step_failures(step, r);
        assert!(
            f.len() == 1 && f[0].contains("other mutating command(s)"),
            "{f:?}"
        );
        // ...but not in a step that changes storage, whose count is the storage tools'.
        let mut r = result(0, "", SAME, SAME);
        r.commands = vec![
            argv(&["zpool", "create", "t", "a"]),
            argv(&["systemctl", "reload", "smartd.service"]),
            argv(&["pvesm", "add", "dir", "x"]),
        ];
        let f = step_failures("run = [\"true\"]\nmutating_commands = 1", r);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn zfs_commands_are_bounded() {
        let step = "run = [\"true\"]\nzfs_commands_at_most = 2";
        let mut r = result(0, "", SAME, SAME);
        r.commands = vec![
            argv(&["/usr/sbin/zpool", "list"]),
            argv(&["smartctl", "-j"]),
            argv(&["zfs", "get"]),
        ];
        assert!(step_failures(step, r).is_empty());
        let mut r = result(0, "", SAME, SAME);
        r.commands = vec![
            argv(&["zpool", "list"]),
            argv(&["zpool", "status"]),
            argv(&["zfs", "get"]),
        ];
        let f = step_failures(step, r);
        assert!(
            f.len() == 1 && f[0].contains("3 zpool/zfs processes, at most 2"),
            "{f:?}"
        );
    }

    #[test]
    fn a_power_cut_step_must_have_cut_the_power() {
        let step = "run = [\"phoenix-zfs\", \"apply\", \"--yes\"]\npower_cut_after_action = 2";
        let mut r = result(0, "", SAME, SAME);
        r.power_cut = true;
        assert!(step_failures(step, r).is_empty());
        let f = step_failures(step, result(0, "", SAME, SAME));
        assert!(
            f.len() == 1 && f[0].contains("the power was not cut after action 2"),
            "{f:?}"
        );
    }

    #[test]
    fn a_drive_whose_content_could_not_be_prepared_fails_the_boot() {
        let s = one_step("run = [\"true\"]");
        let mut results = boot(result(0, "", SAME, SAME));
        assert!(results.check_steps(1, &s.boots[0]).is_empty());
        results.prepare_failed = Some("S2TA0002: writing luks2 failed\n".into());
        let f = results.check_steps(1, &s.boots[0]);
        assert!(
            f.len() == 1 && f[0].contains("S2TA0002: writing luks2 failed"),
            "{f:?}"
        );
    }

    #[test]
    fn boot_results_load_what_the_guest_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let s = scenario(&format!(
            "{DRIVES}[[boot]]\n[[boot.step]]\nrun = [\"phoenix-zfs\", \"apply\"]\n\
             [[boot.step]]\nrun = [\"phoenix-zfs\", \"apply\"]\npower_cut_after_action = 1\n"
        ));
        fs::write(out.join("step-1.status"), "5\n").unwrap();
        fs::write(out.join("step-1.stdout"), "refused").unwrap();
        fs::write(out.join("step-1.before"), SAME).unwrap();
        fs::write(out.join("step-1.after"), SAME).unwrap();
        fs::write(out.join("step-1.manifest.json"), "{}").unwrap();
        fs::create_dir(out.join("step-1.zfs")).unwrap();
        fs::write(out.join("step-1.zfs/0002-zpool-list.argv"), "zpool\nlist\n").unwrap();
        fs::write(out.join("step-1.zfs/0001-wipefs.argv"), "wipefs\n-a\n").unwrap();
        fs::write(out.join("step-1.zfs/0001-wipefs.stdout"), "ignored").unwrap();
        fs::write(out.join("power-cut"), "power cut after: step 2 action 1").unwrap();
        fs::write(out.join("prepare-failed"), "S2TA0001: writing exfat failed").unwrap();
        let r = BootResults::load(out, &s.boots[0], vec!["S2TA0001".into()]).unwrap();
        assert_eq!(r.steps[0].status, Some(5));
        assert_eq!(r.steps[0].stdout, "refused");
        assert_eq!(r.steps[0].before.as_deref(), Some(SAME));
        assert_eq!(
            r.steps[0].commands,
            [argv(&["wipefs", "-a"]), argv(&["zpool", "list"])]
        );
        assert!(
            !r.steps[0].power_cut,
            "only the step with power_cut_after_action was cut"
        );
        assert!(r.steps[1].power_cut);
        assert_eq!(r.steps[1].status, None);
        assert_eq!(r.steps[1].after, None);
        assert_eq!(r.manifests, [out.join("step-1.manifest.json")]);
        assert!(r.prepare_failed.is_some());
        let f = r.check_steps(1, &s.boots[0]);
        assert!(
            f.iter().any(|f| f.contains("could not be prepared")),
            "{f:?}"
        );
        assert!(
            f.iter().any(|f| f.contains("exit Some(5), expected 0")),
            "{f:?}"
        );
    }

    const STATUS: &str = "  pool: fastData
 state: ONLINE
config:

	NAME                                                                  STATE     READ WRITE CKSUM
	fastData                                                              ONLINE       0     0     0
	  /dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_4TB_S4TB0001_1-part1  ONLINE       0     0     0

errors: No known data errors

  pool: quickOS
 state: ONLINE
config:

	NAME                                                                    STATE     READ WRITE CKSUM
	quickOS                                                                 ONLINE       0     0     0
	  mirror-0                                                              ONLINE       0     0     0
	    /dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0001_1-part1  ONLINE       0     0     0
	    /dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0002_1-part1  ONLINE       0     0     0

errors: No known data errors
";

    /// A state directory as collect_state leaves it after a good first boot.
    fn good_state(dir: &Path) {
        fs::write(dir.join("pools"), "quickOS\nfastData\n").unwrap();
        fs::write(dir.join("zpool-status"), STATUS).unwrap();
        fs::write(
            dir.join("zpool-get"),
            "quickOS\tashift\t12\nquickOS\tautotrim\ton\nfastData\tashift\t12\n",
        )
        .unwrap();
        fs::write(
            dir.join("zfs-get"),
            "quickOS\tcompression\tlz4\nquickOS/vm-disks\trecordsize\t131072\n\
             quickOS/vm-disks\tquota\t858993459200\nfastData/iso\trecordsize\t1048576\n",
        )
        .unwrap();
    }

    const THREE: &str = r#"
description = "x"
[[drive]]
serial = "S2TA0001"
size = 2000398934016
[[drive]]
serial = "S2TA0002"
size = 2000398934016
[[drive]]
serial = "S4TB0001"
size = 4000787030016
[[boot]]
"#;

    fn expect_failures(expect: &str, state: impl Fn(&Path)) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        state(dir.path());
        let s = scenario(&format!("{THREE}[expect]\n{expect}\n"));
        s.check().unwrap();
        check_expect(&s, dir.path(), dir.path()).unwrap()
    }

    #[test]
    fn pools_must_be_exactly_those_imported() {
        assert!(expect_failures("pools = [\"fastData\", \"quickOS\"]", good_state).is_empty());
        let f = expect_failures("pools = [\"quickOS\"]", good_state);
        assert!(
            f.len() == 1 && f[0].contains("expected {\"quickOS\"}"),
            "{f:?}"
        );
        let f = expect_failures("pools = []", good_state);
        assert_eq!(f.len(), 1, "{f:?}");
        // No pools at all, truly: an empty list that zpool list gave.
        let none = |d: &Path| fs::write(d.join("pools"), "").unwrap();
        assert!(expect_failures("pools = []", none).is_empty());
    }

    #[test]
    fn a_missing_state_file_fails_instead_of_reading_as_empty() {
        let failed = |d: &Path| {
            fs::write(
                d.join("pools.stderr"),
                "The ZFS modules cannot be auto-loaded.\nexit 1: zpool list -H -o name\n",
            )
            .unwrap()
        };
        let f = expect_failures("pools = []", failed);
        assert!(
            f.len() == 1 && f[0].contains("state/pools is missing"),
            "{f:?}"
        );
        assert!(f[0].contains("cannot be auto-loaded"), "{f:?}");
        let f = expect_failures("pools = []", |_| {});
        assert!(f[0].contains("was collect_state reached?"), "{f:?}");
        let f = expect_failures("datasets = 0", |_| {});
        assert!(
            f.len() == 1 && f[0].contains("state/zfs-get is missing"),
            "{f:?}"
        );
        let f = expect_failures(
            "[expect.dataset.\"quickOS\"]\ncompression = \"lz4\"",
            |_| {},
        );
        assert!(
            f.len() == 1 && f[0].contains("state/zfs-get is missing"),
            "{f:?}"
        );
        let f = expect_failures("[expect.pool.quickOS]\nvdev = \"mirror\"", |_| {});
        assert!(
            f.len() == 1 && f[0].contains("state/zpool-status is missing"),
            "{f:?}"
        );
        let no_get = |d: &Path| {
            good_state(d);
            fs::remove_file(d.join("zpool-get")).unwrap();
        };
        let f = expect_failures(
            "[expect.pool.quickOS]\nproperties = { ashift = \"12\" }",
            no_get,
        );
        assert!(
            f.len() == 1 && f[0].contains("state/zpool-get is missing"),
            "{f:?}"
        );
        // Nothing expected, nothing needed.
        assert!(expect_failures("", |_| {}).is_empty());
    }

    #[test]
    fn datasets_are_counted_below_the_pools() {
        assert!(expect_failures("datasets = 2", good_state).is_empty());
        let f = expect_failures("datasets = 8", good_state);
        assert!(
            f.len() == 1 && f[0].contains("2 datasets below the pools, expected 8"),
            "{f:?}"
        );
    }

    #[test]
    fn dataset_properties_must_match() {
        let good = "[expect.dataset.\"quickOS/vm-disks\"]\nrecordsize = \"131072\"\nquota = \"858993459200\"";
        assert!(expect_failures(good, good_state).is_empty());
        let f = expect_failures(&good.replace("131072", "16384"), good_state);
        assert!(
            f.len() == 1 && f[0].contains("recordsize is Some(\"131072\"), expected 16384"),
            "{f:?}"
        );
        let f = expect_failures(&good.replace("vm-disks", "lxc-disks"), good_state);
        assert!(
            f.len() == 1 && f[0].contains("dataset quickOS/lxc-disks does not exist"),
            "{f:?}"
        );
    }

    #[test]
    fn a_pools_shape_members_and_properties_must_match() {
        let good =
            "[expect.pool.quickOS]\nvdev = \"mirror\"\ndrives = [\"S2TA0001\", \"S2TA0002\"]\n\
                    properties = { ashift = \"12\", autotrim = \"on\" }\n\
                    [expect.pool.fastData]\nvdev = \"single\"\ndrives = [\"S4TB0001\"]";
        assert!(expect_failures(good, good_state).is_empty());
        let f = expect_failures("[expect.pool.fastData]\nvdev = \"mirror\"", good_state);
        assert!(
            f.len() == 1 && f[0].contains("vdev is Some(\"single\"), expected mirror"),
            "{f:?}"
        );
        let f = expect_failures(
            "[expect.pool.quickOS]\ndrives = [\"S2TA0001\", \"S4TB0001\"]",
            good_state,
        );
        assert!(
            f.len() == 1 && f[0].contains("no member on drive S4TB0001"),
            "{f:?}"
        );
        let f = expect_failures("[expect.pool.quickOS]\ndrives = [\"S2TA0001\"]", good_state);
        assert!(
            f.len() == 1 && f[0].contains("2 members, expected 1"),
            "{f:?}"
        );
        let f = expect_failures(
            "[expect.pool.quickOS]\nproperties = { autotrim = \"off\" }",
            good_state,
        );
        assert!(
            f.len() == 1 && f[0].contains("autotrim is Some(\"on\"), expected off"),
            "{f:?}"
        );
        let f = expect_failures("[expect.pool.tank]\nvdev = \"single\"", good_state);
        assert!(
            f.len() == 1 && f[0].contains("pool tank is not in zpool status"),
            "{f:?}"
        );
    }

    fn manifest_state(manifest: serde_json::Value) -> impl Fn(&Path) {
        move |d: &Path| fs::write(d.join("manifest.json"), manifest.to_string()).unwrap()
    }

    /// A manifest as phoenix-zfs writes it, with what the expectations look at.
    pub(crate) fn sample_manifest() -> serde_json::Value {
        let wear = serde_json::json!({ "percentage_used": 0, "available_spare": 100,
            "available_spare_threshold": 10, "data_units_written": 0, "media_errors": 0,
            "critical_warning": 0, "power_on_hours": 1, "unsafe_shutdowns": 0 });
        let drive = |serial: &str, role: &str, verdict: &str, health: serde_json::Value| {
            serde_json::json!({ "name": "nvme0n1", "model": null, "serial": serial,
                "firmware": null, "size_bytes": 0, "logical_block_size": 512, "by_id": "",
                "role": role, "firmware_verdict": { "verdict": verdict },
                "signatures_before": [], "health": health })
        };
        serde_json::json!({
            "schema": "phoenix-zfs-manifest/1",
            "tool": { "name": "phoenix-zfs", "version": "0.1.0" },
            "host": { "hostname": "guest", "machine_id": null, "host_key_fingerprint": null },
            "command": "apply",
            "situation": { "kind": "normal-host" },
            "started_at": "2026-12-01T08:00:00Z",
            "finished_at": "2026-12-01T08:00:09Z",
            "layout": { "source": "<default layout>", "sha256": "", "content": {} },
            "outcome": { "status": "done", "exit_code": 0, "reasons": [] },
            "drives": [
                drive("S2TA0001", "quickOS", "no-known-issue", serde_json::json!({
                    "baseline": wear, "baseline_at": "2026-12-01T08:00:00Z", "current": wear })),
                drive("S4TB0001", "fastData", "not-in-policy", serde_json::Value::Null)
            ],
            "pools": [ { "name": "quickOS", "guid": null, "health": "ONLINE", "devices": [],
                         "scan": "resilvered 1M in 00:00:01 with 0 errors", "properties": {} } ],
            "datasets": [],
            "actions": [],
            "services": {
                "storages": [ { "id": "quickOS-vm-disks", "type": "zfspool", "settings": {} },
                              { "id": "fastData-iso", "type": "dir", "settings": {} } ],
                "exports": [ { "dataset": "quickOS/shared-prod-data", "sharenfs": "on" } ],
                "smartd_devices": [],
                "deferred": [ { "subject": "storage pvesm", "why": "no pvesm" } ]
            },
            "warnings": []
        })
    }

    #[test]
    fn the_manifest_must_say_what_is_expected() {
        let m = |toml: &str| {
            expect_failures(
                &format!("[expect.manifest]\n{toml}"),
                manifest_state(sample_manifest()),
            )
        };
        let cases = [
            (
                "outcome = \"done\"",
                "outcome = \"refused\"",
                "manifest outcome",
            ),
            ("exit_code = 0", "exit_code = 3", "manifest exit code"),
            (
                "drive_roles = { S2TA0001 = \"quickOS\", S4TB0001 = \"fastData\" }",
                "drive_roles = { S2TA0001 = \"fastData\" }",
                "drive S2TA0001 role",
            ),
            (
                "firmware_verdicts = { S2TA0001 = \"no-known-issue\" }",
                "firmware_verdicts = { S2TA0001 = \"known-bad\" }",
                "firmware verdict",
            ),
            (
                "health = [\"S2TA0001\"]",
                "health = [\"S4TB0001\"]",
                "no health baseline",
            ),
            (
                "storages = [\"fastData-iso\", \"quickOS-vm-disks\"]",
                "storages = [\"quickOS-vm-disks\"]",
                "services.storages",
            ),
            (
                "exports = [\"quickOS/shared-prod-data\"]",
                "exports = []",
                "services.exports",
            ),
            (
                "deferred = 1",
                "deferred = 0",
                "1 deferred item(s), expected 0",
            ),
            (
                "pool_scans = { quickOS = \"resilvered\" }",
                "pool_scans = { quickOS = \"scrub\" }",
                "pool quickOS scan",
            ),
        ];
        for (good, bad, message) in cases {
            assert!(m(good).is_empty(), "{good}: {:?}", m(good));
            let f = m(bad);
            assert!(f.len() == 1 && f[0].contains(message), "{bad}: {f:?}");
        }
        let f = expect_failures("[expect.manifest]\noutcome = \"done\"", |_| {});
        assert!(f.len() == 1 && f[0].contains("no manifest"), "{f:?}");
    }

    #[test]
    fn the_manifest_signature_is_checked_with_stock_ssh_keygen() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("ssh_host_ed25519_key");
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "guest", "-f"])
            .arg(&key)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let state = dir.path().join("state");
        fs::create_dir(&state).unwrap();
        fs::write(state.join("manifest.json"), sample_manifest().to_string()).unwrap();
        fs::copy(
            key.with_extension("pub"),
            state.join("ssh_host_ed25519_key.pub"),
        )
        .unwrap();
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-Y", "sign", "-n", "phoenix-zfs-manifest", "-f"])
            .arg(&key)
            .arg(state.join("manifest.json"))
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let s = scenario(&format!(
            "{THREE}[expect.manifest]\nssh_keygen_verify = true\n"
        ));
        assert!(check_expect(&s, &state, dir.path()).unwrap().is_empty());
        let mut changed = sample_manifest();
        changed["outcome"]["exit_code"] = 5.into();
        fs::write(state.join("manifest.json"), changed.to_string()).unwrap();
        let f = check_expect(&s, &state, dir.path()).unwrap();
        assert!(
            f.len() == 1 && f[0].contains("rejects the manifest signature"),
            "{f:?}"
        );
    }

    #[test]
    fn untouched_drives_must_be_identical_on_the_host() {
        let before = vec![
            ("S2TA0001".to_string(), "d1".to_string()),
            ("S4TB0001".to_string(), "d4".to_string()),
        ];
        let after_same = before.clone();
        let after_changed = vec![
            ("S2TA0001".to_string(), "d1".to_string()),
            ("S4TB0001".to_string(), "XX".to_string()),
        ];
        let named = scenario(&format!("{THREE}[expect]\nuntouched = [\"S4TB0001\"]\n"));
        assert!(check_untouched(&named, &before, &after_same).is_empty());
        let f = check_untouched(&named, &before, &after_changed);
        assert!(
            f.len() == 1 && f[0].contains("drive S4TB0001 changed"),
            "{f:?}"
        );
        let other = scenario(&format!("{THREE}[expect]\nuntouched = [\"S2TA0001\"]\n"));
        assert!(check_untouched(&other, &before, &after_changed).is_empty());
        let all = scenario(&format!("{THREE}[expect]\nall_untouched = true\n"));
        assert_eq!(check_untouched(&all, &before, &after_changed).len(), 1);
        // A drive whose backing file is gone afterwards changed too.
        assert_eq!(check_untouched(&all, &before, &after_same[..1]).len(), 1);
    }

    #[test]
    fn manifests_are_validated_against_the_json_schema() {
        let dir = tempfile::tempdir().unwrap();
        let schema = crate::util::workspace_root().join("schema/manifest.schema.json");
        assert!(validate_manifests(&schema, &[]).is_empty());
        let empty = dir.path().join("empty.json");
        fs::write(&empty, "{}").unwrap();
        let broken = dir.path().join("broken.json");
        fs::write(&broken, "{\"schema\": ").unwrap();
        let f = validate_manifests(&schema, &[empty.clone(), broken.clone()]);
        assert!(
            f.iter().any(|f| f.contains("empty.json") && f.contains("'outcome' is a required property")),
            "{f:?}"
        );
        assert!(
            f.iter().any(|f| f.contains("broken.json: not JSON")),
            "{f:?}"
        );
        // And a document the schema allows passes: a small schema of the same draft.
        let small = dir.path().join("small.schema.json");
        fs::write(
            &small,
            r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                "required": ["outcome"], "properties": {"outcome": {"type": "string"}}}"#,
        )
        .unwrap();
        let good = dir.path().join("good.json");
        fs::write(&good, "{\"outcome\": \"done\"}").unwrap();
        assert!(validate_manifests(&small, std::slice::from_ref(&good)).is_empty());
        let f = validate_manifests(&small, &[good, empty]);
        assert!(f.len() == 1 && f[0].contains("empty.json"), "{f:?}");
        // A schema that is not one is no pass either.
        fs::write(&small, "{\"type\": 5}").unwrap();
        assert!(!validate_manifests(&small, &[broken]).is_empty());
    }

    #[test]
    fn a_drive_untouched_after_a_boot_must_keep_that_boots_contents() {
        let text =
            format!("{THREE}[[boot]]\n[expect]\nuntouched_after_boot = {{ S2TA0001 = 1 }}\n");
        let s = scenario(&text);
        s.check().unwrap();
        let after_boot = vec![("S2TA0001".to_string(), 1, "d1".to_string())];
        let same = vec![("S2TA0001".to_string(), "d1".to_string())];
        let changed = vec![("S2TA0001".to_string(), "XX".to_string())];
        assert!(check_untouched_after_boot(&s, &after_boot, &same).is_empty());
        let f = check_untouched_after_boot(&s, &after_boot, &changed);
        assert!(
            f.len() == 1 && f[0].contains("changed after boot 1"),
            "{f:?}"
        );
        let f = check_untouched_after_boot(&s, &[], &same);
        assert!(
            f.len() == 1 && f[0].contains("no digest after boot 1"),
            "{f:?}"
        );
        // The last boot has nothing after it, and boot 0 does not exist.
        for bad in ["S2TA0001 = 2", "S2TA0001 = 0", "S9XX0001 = 1"] {
            let s = scenario(&text.replace("S2TA0001 = 1", bad));
            assert!(s.check().is_err(), "{bad}");
        }
    }
}
