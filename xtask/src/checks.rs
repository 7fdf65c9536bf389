//! What a scenario must show, checked on the host from what the guest carried out: step exit
//! codes and drive hashes, the pools and datasets zpool/zfs report, the signed manifest (with
//! stock ssh-keygen), and drives compared byte for byte on the host.

use crate::scenario::{Boot, Scenario};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
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
    pub hashes: Option<(String, String)>,
    pub commands: Vec<Vec<String>>,
    pub power_cut: bool,
}

pub struct BootResults {
    pub steps: Vec<StepResult>,
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

impl BootResults {
    pub fn load(out: &Path, boot: &Boot) -> Result<BootResults> {
        let cut = out.join("power-cut").exists();
        let mut steps = Vec::new();
        for n in 1..=boot.steps.len() {
            let stem = |ext: &str| out.join(format!("step-{n}.{ext}"));
            let hashes = stem("after")
                .exists()
                .then(|| (read(&stem("before")), read(&stem("after"))));
            let mut commands = Vec::new();
            let mut argv_files: Vec<_> = fs::read_dir(stem("zfs"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect();
            argv_files.sort();
            for f in argv_files
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "argv"))
            {
                commands.push(read(f).lines().map(str::to_string).collect());
            }
            steps.push(StepResult {
                status: read(&stem("status")).trim().parse().ok(),
                stdout: read(&stem("stdout")),
                hashes,
                commands,
                power_cut: cut && boot.steps[n - 1].power_cut_after_action.is_some(),
            });
        }
        Ok(BootResults { steps })
    }

    pub fn check_steps(&self, boot_no: usize, boot: &Boot) -> Vec<String> {
        let mut failures = Vec::new();
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
            if result.status != Some(step.exit) {
                failures.push(format!(
                    "{at}: exit {:?}, expected {}; stdout: {}",
                    result.status,
                    step.exit,
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
                match &result.hashes {
                    Some((before, after)) if before == after && !before.trim().is_empty() => {}
                    Some(_) => failures.push(format!("{at}: a drive's first or last MiB changed")),
                    None => failures.push(format!("{at}: no drive hashes came back")),
                }
            }
            let mutating = result
                .commands
                .iter()
                .filter(|a| phoenix_zfs::runner::is_mutating(a))
                .count();
            if let Some(expected) = step.mutating_commands {
                if mutating != expected {
                    let list: Vec<String> = result
                        .commands
                        .iter()
                        .filter(|a| phoenix_zfs::runner::is_mutating(a))
                        .map(|a| a.join(" "))
                        .collect();
                    failures.push(format!(
                        "{at}: {mutating} mutating command(s), expected {expected}: {list:?}"
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

pub fn check_expect(scenario: &Scenario, state: &Path, run_dir: &Path) -> Result<Vec<String>> {
    let expect = &scenario.expect;
    let mut failures = Vec::new();
    let pools: BTreeSet<String> = read(&state.join("pools"))
        .lines()
        .map(str::to_string)
        .collect();
    if let Some(want) = &expect.pools {
        let want: BTreeSet<String> = want.iter().cloned().collect();
        if pools != want {
            failures.push(format!("pools {pools:?}, expected {want:?}"));
        }
    }
    let datasets = property_table(&read(&state.join("zfs-get")));
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
        match datasets.get(name) {
            None => failures.push(format!("dataset {name} does not exist")),
            Some(have) => {
                for (p, v) in want {
                    if have.get(p) != Some(v) {
                        failures.push(format!(
                            "dataset {name}: {p} is {:?}, expected {v}",
                            have.get(p)
                        ));
                    }
                }
            }
        }
    }
    let pool_props = property_table(&read(&state.join("zpool-get")));
    let statuses = phoenix_zfs::zfs::parse_zpool_status(&read(&state.join("zpool-status")))
        .unwrap_or_default();
    for (name, want) in &expect.pool {
        let Some(status) = statuses.iter().find(|s| &s.name == name) else {
            failures.push(format!("pool {name} is not in zpool status"));
            continue;
        };
        let top = &status.config.children;
        if let Some(vdev) = &want.vdev {
            let shape = match top.as_slice() {
                [one] if one.children.is_empty() => "single",
                [one] if one.name.starts_with("mirror") => "mirror",
                _ => "other",
            };
            if shape != vdev {
                failures.push(format!("pool {name}: vdev is {shape}, expected {vdev}"));
            }
        }
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
        for (p, v) in &want.properties {
            let have = pool_props.get(name).and_then(|m| m.get(p));
            if have != Some(v) {
                failures.push(format!("pool {name}: {p} is {have:?}, expected {v}"));
            }
        }
    }
    if let Some(m) = &expect.manifest {
        failures.extend(check_manifest(m, state, run_dir)?);
    }
    Ok(failures)
}

fn check_manifest(
    m: &crate::scenario::ManifestExpect,
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
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).context("manifest.json is not JSON")?;
    if let Some(o) = &m.outcome {
        if value["outcome"]["status"] != o.as_str() {
            failures.push(format!(
                "manifest outcome {}, expected {o}",
                value["outcome"]["status"]
            ));
        }
    }
    if let Some(code) = m.exit_code {
        if value["outcome"]["exit_code"] != code {
            failures.push(format!(
                "manifest exit code {}, expected {code}",
                value["outcome"]["exit_code"]
            ));
        }
    }
    let drive = |serial: &str| {
        value["drives"]
            .as_array()
            .and_then(|d| d.iter().find(|x| x["serial"] == serial).cloned())
    };
    for (serial, role) in &m.drive_roles {
        match drive(serial) {
            Some(d) if d["role"] == role.as_str() => {}
            other => failures.push(format!(
                "manifest: drive {serial} role {:?}, expected {role}",
                other.map(|d| d["role"].clone())
            )),
        }
    }
    for (serial, verdict) in &m.firmware_verdicts {
        match drive(serial) {
            Some(d) if d["firmware_verdict"]["verdict"] == verdict.as_str() => {}
            other => failures.push(format!(
                "manifest: drive {serial} firmware verdict {:?}, expected {verdict}",
                other.map(|d| d["firmware_verdict"].clone())
            )),
        }
    }
    for serial in &m.health {
        match drive(serial) {
            Some(d)
                if d["health"]["baseline"].is_object() && d["health"]["current"].is_object() => {}
            other => failures.push(format!(
                "manifest: drive {serial} has no health baseline: {:?}",
                other.map(|d| d["health"].clone())
            )),
        }
    }
    let listed = |list: &str, key: &str| -> Vec<String> {
        let mut names: Vec<String> = value["services"][list]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x[key].as_str().map(str::to_string))
            .collect();
        names.sort();
        names
    };
    for (list, key, wanted) in [
        ("storages", "id", &m.storages),
        ("exports", "dataset", &m.exports),
    ] {
        if let Some(wanted) = wanted {
            let mut wanted = wanted.clone();
            wanted.sort();
            let found = listed(list, key);
            if found != wanted {
                failures.push(format!(
                    "manifest: services.{list} {found:?}, expected {wanted:?}"
                ));
            }
        }
    }
    if let Some(n) = m.deferred {
        let found = value["services"]["deferred"].as_array().map_or(0, Vec::len);
        if found != n {
            failures.push(format!(
                "manifest: {found} deferred item(s), expected {n}: {}",
                value["services"]["deferred"]
            ));
        }
    }
    for (pool, wanted) in &m.pool_scans {
        let scan = value["pools"]
            .as_array()
            .and_then(|p| p.iter().find(|x| x["name"] == pool.as_str()))
            .map(|p| p["scan"].clone());
        if !scan
            .as_ref()
            .and_then(|s| s.as_str())
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

#[cfg(test)]
mod tests {
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
}
