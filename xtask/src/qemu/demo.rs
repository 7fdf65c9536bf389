//! `cargo xtask demo`: the README's main job. Boots the default three-drive host with the
//! first-boot unit (scenario 01-first-boot), checks what it made, leaves the signed manifest and
//! the guest's public host key in target/demo/, and ends with a short summary of the host: pools,
//! datasets, Proxmox storages, NFS exports, the signature as stock ssh-keygen judges it.

use crate::flags::{DemoOptions, HookOptions};
use crate::guest::final_image;
use crate::qemu::scenario::Scenario;
use crate::qemu::test::run_scenario;
use crate::qemu::Accel;
use crate::util::{self, workspace_root};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const SCENARIO: &str = "01-first-boot";
/// The files the guest leaves that make the manifest checkable on its own.
const KEPT: [&str; 3] = [
    "manifest.json",
    "manifest.json.sig",
    "ssh_host_ed25519_key.pub",
];

/// `cargo xtask demo`.
pub fn demo(options: &DemoOptions) -> Result<()> {
    let accel = if options.kvm { Accel::Kvm } else { Accel::Tcg };
    let root = workspace_root();
    let path = root.join(format!("qemu-tests/scenarios/{SCENARIO}.toml"));
    let scenario = Scenario::load(&path)?;
    crate::hook::build(&HookOptions::default())?;
    // The manifest's signature is checked with the host's own ssh-keygen.
    crate::test::ensure_test_tools()?;
    let image = final_image::ensure_image_with(&root.join("target/dist/phoenix-zfs"))?;
    let started = Instant::now();
    let failures = run_scenario(SCENARIO, &path, &scenario, &image, accel)?;
    let boot_seconds = started.elapsed().as_secs_f64();
    let state = root.join(format!("target/qemu-test/{SCENARIO}/boot-1/results/state"));
    let demo = root.join("target/demo");
    std::fs::create_dir_all(&demo)?;
    for file in KEPT {
        std::fs::copy(state.join(file), demo.join(file)).with_context(|| {
            format!(
                "the guest left no {file} in {} (console: target/qemu-test/{SCENARIO}/boot-1/console.log)",
                state.display()
            )
        })?;
    }
    let manifest_path = demo.join("manifest.json");
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest_path)?)
        .with_context(|| format!("{} is not JSON", manifest_path.display()))?;
    let verified = verify_signature(&demo)?;
    let accel_name = match accel {
        Accel::Kvm => "KVM",
        Accel::Tcg => "TCG",
    };
    println!();
    print!(
        "{}",
        summary(
            &manifest,
            &format!("{boot_seconds:.0} s in QEMU ({accel_name})"),
            &verified,
            &util::display_path(&manifest_path),
        )
    );
    if let Some(log) = util::tool_log() {
        println!(
            "tool output of this run (apt, dkms, mmdebstrap, debugfs, builds): {}",
            util::display_path(log)
        );
    }
    if !failures.is_empty() {
        bail!(
            "the first boot did not do what it must:\n  {}\n(guest console: target/qemu-test/{SCENARIO}/boot-1/console.log)",
            failures.join("\n  ")
        );
    }
    if verified.is_err() {
        bail!("ssh-keygen rejects the manifest's signature: see the summary above");
    }
    println!("all checks of the first boot passed");
    Ok(())
}

/// `ssh-keygen -Y verify` of target/demo/manifest.json against the guest's host key, as the
/// README tells a user to run it: Ok(its verdict line) or Err(what it said instead).
fn verify_signature(demo: &Path) -> Result<std::result::Result<String, String>> {
    let public = std::fs::read_to_string(demo.join("ssh_host_ed25519_key.pub"))?;
    let key: Vec<&str> = public.split_whitespace().take(2).collect();
    let signers = demo.join("allowed_signers");
    std::fs::write(&signers, format!("guest {}\n", key.join(" ")))?;
    let out = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(&signers)
        .args(["-I", "guest", "-n", "phoenix-zfs-manifest", "-s"])
        .arg(demo.join("manifest.json.sig"))
        .stdin(std::fs::File::open(demo.join("manifest.json"))?)
        .output()
        .context("could not run ssh-keygen (package openssh-client)")?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = said.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    Ok(if out.status.success() {
        Ok(line.trim().to_string())
    } else {
        Err(format!("{} ({})", line.trim(), out.status))
    })
}

fn strings<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value[key].as_array().into_iter().flatten()
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("?")
}

/// A byte count as zfs get -p prints it, in ZFS's binary units as plain zfs get shows it
/// (`131072` -> `128K`, `1539316278886` -> `1.40T`); `0` is a quota's `none`.
fn human_bytes(value: &str) -> String {
    let Ok(amount) = value.parse::<u64>() else {
        return value.to_string();
    };
    if amount == 0 {
        return "none".to_string();
    }
    let units = ["", "K", "M", "G", "T", "P", "E"];
    let power = units
        .iter()
        .enumerate()
        .take_while(|(k, _)| amount >= 1u64 << (10 * *k as u32))
        .last()
        .map_or(0, |(k, _)| k);
    let scale = 1u64 << (10 * power as u32);
    if amount % scale == 0 {
        format!("{}{}", amount / scale, units[power])
    } else {
        format!("{:.2}{}", amount as f64 / scale as f64, units[power])
    }
}

/// The closing summary of the demo, from the manifest the guest wrote.
fn summary(
    manifest: &Value,
    took: &str,
    verified: &std::result::Result<String, String>,
    manifest_path: &str,
) -> String {
    let mut out = String::new();
    let outcome = &manifest["outcome"];
    let _ = writeln!(
        out,
        "first boot of the default host: {} (exit {}), {took}",
        text(outcome, "status"),
        outcome["exit_code"]
    );
    let pools: Vec<&Value> = strings(manifest, "pools").collect();
    let _ = writeln!(out, "\npools ({})", pools.len());
    for pool in pools {
        let devices: Vec<&str> = strings(pool, "devices")
            .filter_map(Value::as_str)
            .map(|d| d.rsplit('/').next().unwrap_or(d))
            .collect();
        let _ = writeln!(
            out,
            "  {:<10} {:<8} {}",
            text(pool, "name"),
            text(pool, "health"),
            devices.join(", ")
        );
    }
    let datasets: Vec<&Value> = strings(manifest, "datasets").collect();
    let roots = datasets
        .iter()
        .filter(|d| !text(d, "name").contains('/'))
        .count();
    let _ = writeln!(
        out,
        "\ndatasets ({}; pool roots: {roots})",
        datasets.len() - roots
    );
    for dataset in datasets {
        let properties = &dataset["properties"];
        let shown: Vec<String> = ["recordsize", "compression", "sync", "quota"]
            .into_iter()
            .filter_map(|name| {
                let value = properties[name].as_str()?;
                let value = if matches!(name, "recordsize" | "quota") {
                    human_bytes(value)
                } else {
                    value.to_string()
                };
                Some(format!("{name}={value}"))
            })
            .collect();
        let _ = writeln!(out, "  {:<30} {}", text(dataset, "name"), shown.join(" "));
    }
    let services = &manifest["services"];
    let storages: Vec<&Value> = strings(services, "storages").collect();
    let _ = writeln!(out, "\nProxmox storages ({})", storages.len());
    for storage in storages {
        let settings = &storage["settings"];
        let place = ["pool", "path"]
            .into_iter()
            .find_map(|key| settings[key].as_str().map(|v| format!("{key} {v}")))
            .unwrap_or_default();
        let content = settings["content"]
            .as_str()
            .map_or(String::new(), |c| format!(", content {c}"));
        let _ = writeln!(
            out,
            "  {:<26} {:<8} {place}{content}",
            text(storage, "id"),
            text(storage, "type")
        );
    }
    let exports: Vec<&Value> = strings(services, "exports").collect();
    let _ = writeln!(out, "\nNFS exports ({})", exports.len());
    for export in exports {
        let _ = writeln!(
            out,
            "  {:<30} {}",
            text(export, "dataset"),
            text(export, "sharenfs")
        );
    }
    let _ = writeln!(out, "\nmanifest signature (ssh-keygen -Y verify):");
    match verified {
        Ok(line) => {
            let _ = writeln!(out, "  {line}");
        }
        Err(said) => {
            let _ = writeln!(out, "  REJECTED: {said}");
        }
    }
    let dir = Path::new(manifest_path)
        .parent()
        .map_or(String::new(), |d| d.display().to_string());
    let _ = writeln!(
        out,
        "\nfull manifest: {manifest_path} (signature {dir}/manifest.json.sig, host key \
         {dir}/ssh_host_ed25519_key.pub; the check, by hand: ssh-keygen -Y verify -f \
         {dir}/allowed_signers -I guest -n phoenix-zfs-manifest -s {dir}/manifest.json.sig < \
         {manifest_path})"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_units_like_zfs() {
        assert_eq!(human_bytes("131072"), "128K");
        assert_eq!(human_bytes("858993459200"), "800G");
        assert_eq!(human_bytes("1539316278886"), "1.40T");
        assert_eq!(human_bytes("2199023255552"), "2T");
        assert_eq!(human_bytes("512"), "512");
        assert_eq!(human_bytes("1536"), "1.50K");
        assert_eq!(human_bytes("0"), "none");
        assert_eq!(human_bytes("none"), "none");
    }

    #[test]
    fn summary_names_pools_datasets_services_and_the_signature() {
        let manifest = serde_json::json!({
            "outcome": {"status": "done", "exit_code": 0, "reasons": []},
            "pools": [{"name": "quickOS", "health": "ONLINE", "devices": [
                "/dev/disk/by-id/nvme-A_S2TA0001-part1", "/dev/disk/by-id/nvme-A_S2TA0002-part1"]}],
            "datasets": [{"name": "quickOS", "properties": {"quota": "0"}},
                         {"name": "quickOS/vm-disks", "properties": {
                "recordsize": "131072", "compression": "lz4", "quota": "858993459200"}}],
            "services": {
                "storages": [{"id": "quickOS-vm-disks", "type": "zfspool",
                              "settings": {"pool": "quickOS/vm-disks", "content": "images"}}],
                "exports": [{"dataset": "fastData/shared-iso", "sharenfs": "rw=@10.0.0.0/24"}],
            }
        });
        let text = summary(
            &manifest,
            "74 s in QEMU (TCG)",
            &Ok(
                "Good \"phoenix-zfs-manifest\" signature for guest with ED25519 key SHA256:x"
                    .into(),
            ),
            "target/demo/manifest.json",
        );
        for expected in [
            "first boot of the default host: done (exit 0), 74 s in QEMU (TCG)",
            "quickOS    ONLINE   nvme-A_S2TA0001-part1, nvme-A_S2TA0002-part1",
            "datasets (1; pool roots: 1)",
            "quota=none",
            "quickOS/vm-disks",
            "recordsize=128K compression=lz4 quota=800G",
            "quickOS-vm-disks           zfspool  pool quickOS/vm-disks, content images",
            "fastData/shared-iso            rw=@10.0.0.0/24",
            "  Good \"phoenix-zfs-manifest\" signature for guest",
            "full manifest: target/demo/manifest.json",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
        let rejected = summary(&manifest, "", &Err("bad".into()), "m.json");
        assert!(rejected.contains("REJECTED: bad"));
    }
}
