//! `cargo xtask demo`: the README's main job. Boots the default three-drive host with the
//! first-boot unit (scenario 01-first-boot), checks what it made, leaves the signed manifest, the
//! guest's public host key and an allowed_signers file naming it for the manifest's host in
//! target/demo/, and ends with the host as the shipped binary's `phoenix-zfs manifest show` prints
//! it (pools, datasets, Proxmox storages, NFS exports, drives, the signature), then the signature
//! as stock ssh-keygen and `phoenix-zfs manifest verify --allowed-signers` judge it.

use crate::flags::{DemoOptions, HookOptions};
use crate::guest::final_image;
use crate::qemu::scenario::Scenario;
use crate::qemu::test::run_scenario;
use crate::qemu::Accel;
use crate::util::{self, workspace_root};
use anyhow::{bail, Context, Result};
use phoenix_zfs::manifest::Manifest;
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
    let (_, manifest) = Manifest::read(&manifest_path)?;
    let host = recorded_host(&manifest)?;
    let public = std::fs::read_to_string(demo.join("ssh_host_ed25519_key.pub"))?;
    std::fs::write(
        demo.join("allowed_signers"),
        allowed_signers_line(host, &public),
    )?;
    let verified = verify_signature(&demo, host)?;
    // The binary the guest ran, built for this machine's architecture: what an administrator
    // runs on the manifest.
    // Run from the workspace on the paths the summary prints, so that its lines name them so.
    let binary = root.join("target/dist/phoenix-zfs");
    let shown = util::output(Command::new(&binary).current_dir(&root).args([
        "manifest",
        "show",
        "target/demo/manifest.json",
    ]))?;
    let checked = Command::new(&binary)
        .current_dir(&root)
        .args(["manifest", "verify", "--allowed-signers"])
        .args(["target/demo/allowed_signers", "target/demo/manifest.json"])
        .output()
        .with_context(|| format!("could not run {}", binary.display()))?;
    let checked_line = String::from_utf8_lossy(&checked.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let accel_name = match accel {
        Accel::Kvm => "KVM",
        Accel::Tcg => "TCG",
    };
    println!();
    print!(
        "{}",
        summary(&Summary {
            took: &format!("{boot_seconds:.0} s in QEMU ({accel_name})"),
            shown: &shown,
            verified: &verified,
            checked: &checked_line,
            manifest_path: &util::display_path(&manifest_path),
            host,
        })
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
    // 8 is a good signature over a run that did not finish, which the failures above report.
    if !matches!(checked.status.code(), Some(0 | 8)) {
        bail!(
            "`phoenix-zfs manifest verify --allowed-signers` rejects the manifest ({}): see the summary above",
            checked.status
        );
    }
    println!("all checks of the first boot passed");
    Ok(())
}

/// The host name the manifest records: the principal its signer is allowed for, in
/// allowed_signers as for `manifest verify --allowed-signers` and `ssh-keygen -Y verify -I`.
fn recorded_host(manifest: &Manifest) -> Result<&str> {
    Some(manifest.host.hostname.as_str())
        .filter(|name| !name.is_empty())
        .context("the manifest records no host.hostname")
}

/// allowed_signers' line for `host`: its name, then the public key's type and base64 (without
/// the comment).
fn allowed_signers_line(host: &str, public_key: &str) -> String {
    let key: Vec<&str> = public_key.split_whitespace().take(2).collect();
    format!("{host} {}\n", key.join(" "))
}

/// `ssh-keygen -Y verify` of DEMO/manifest.json against DEMO/allowed_signers for `host`, as the
/// README tells a user to run it: Ok(its verdict line) or Err(what it said instead).
fn verify_signature(demo: &Path, host: &str) -> Result<std::result::Result<String, String>> {
    let out = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(demo.join("allowed_signers"))
        .args(["-I", host, "-n", "phoenix-zfs-manifest", "-s"])
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

/// What the demo's closing summary is made of.
struct Summary<'a> {
    took: &'a str,
    /// What `phoenix-zfs manifest show` printed.
    shown: &'a str,
    /// ssh-keygen's verdict.
    verified: &'a std::result::Result<String, String>,
    /// The line `phoenix-zfs manifest verify --allowed-signers` printed.
    checked: &'a str,
    manifest_path: &'a str,
    host: &'a str,
}

/// The closing summary of the demo: the manifest as `manifest show` prints it, then the
/// signature as the two verifiers judge it and how to check it by hand.
fn summary(s: &Summary<'_>) -> String {
    let dir = Path::new(s.manifest_path)
        .parent()
        .map_or(String::new(), |d| d.display().to_string());
    let verified = match s.verified {
        Ok(line) => line.clone(),
        Err(said) => format!("REJECTED: {said}"),
    };
    format!(
        "first boot of the default host, {took}; `phoenix-zfs manifest show {path}`:\n\n\
         {shown}\n\
         manifest signature against {dir}/allowed_signers (the guest's host key for {host}):\n  \
         ssh-keygen -Y verify: {verified}\n  \
         phoenix-zfs manifest verify: {checked}\n\n\
         the checks, by hand: ssh-keygen -Y verify -f {dir}/allowed_signers -I {host} -n \
         phoenix-zfs-manifest -s {dir}/manifest.json.sig < {path}; phoenix-zfs manifest verify \
         --allowed-signers {dir}/allowed_signers {path}\n",
        took = s.took,
        path = s.manifest_path,
        shown = s.shown,
        host = s.host,
        checked = s.checked,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use phoenix_zfs::manifest::allowed_signers::AllowedSigners;
    use phoenix_zfs::manifest::fleet::{self, Anchor, Verdict};
    use phoenix_zfs::manifest::{canonical_json, sha256_hex, signing};

    #[test]
    fn summary_shows_the_manifest_and_both_verdicts_for_the_recorded_host() {
        let shown = "manifest target/demo/manifest.json: host phoenix-guest\n\npools (2)\n  quickOS  ONLINE  mirror  nvme-A-part1\n\ndatasets (8; pool roots: 2)\n\nProxmox storages (4)\n\nNFS exports (4)\n\nsignature (target/demo/manifest.json.sig)\n  signed by SHA256:x\n";
        let verified = Ok(
            "Good \"phoenix-zfs-manifest\" signature for phoenix-guest with ED25519 key SHA256:x"
                .to_string(),
        );
        let text = summary(&Summary {
            took: "74 s in QEMU (TCG)",
            shown,
            verified: &verified,
            checked: "phoenix-guest: ok: good signature by SHA256:x",
            manifest_path: "target/demo/manifest.json",
            host: "phoenix-guest",
        });
        for expected in [
            "first boot of the default host, 74 s in QEMU (TCG); `phoenix-zfs manifest show target/demo/manifest.json`:\n\n",
            shown,
            "  ssh-keygen -Y verify: Good \"phoenix-zfs-manifest\" signature for phoenix-guest",
            "  phoenix-zfs manifest verify: phoenix-guest: ok: good signature by SHA256:x\n",
            "ssh-keygen -Y verify -f target/demo/allowed_signers -I phoenix-guest -n phoenix-zfs-manifest -s target/demo/manifest.json.sig < target/demo/manifest.json;",
            "phoenix-zfs manifest verify --allowed-signers target/demo/allowed_signers target/demo/manifest.json\n",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
        }
        let rejected = summary(&Summary {
            took: "",
            shown,
            verified: &Err("bad".into()),
            checked: "",
            manifest_path: "m.json",
            host: "h",
        });
        assert!(rejected.contains("ssh-keygen -Y verify: REJECTED: bad"));
    }

    /// The allowed_signers the demo writes names the host the manifest records, so that both
    /// stock ssh-keygen (with `-I` that host) and `phoenix-zfs manifest verify --allowed-signers`
    /// accept a manifest signed by the guest's key: a real key and signature, as the guest makes
    /// them.
    #[test]
    fn allowed_signers_names_the_manifests_host_for_both_verifiers() {
        let demo = tempfile::tempdir().unwrap();
        let demo = demo.path();
        let key_path = demo.join("ssh_host_ed25519_key");
        let made = Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "root@phoenix-guest",
                "-f",
            ])
            .arg(&key_path)
            .status()
            .expect("ssh-keygen runs");
        assert!(made.success());
        let key = signing::load_host_key(&key_path).unwrap();
        let layout = serde_json::json!({"version": 1});
        let mut manifest = crate::qemu::checks::tests::sample_manifest();
        manifest["host"]["hostname"] = "phoenix-guest".into();
        manifest["layout"]["sha256"] = sha256_hex(canonical_json(&layout).as_bytes()).into();
        manifest["layout"]["content"] = layout;
        let text = format!("{}\n", serde_json::to_string_pretty(&manifest).unwrap());
        let manifest: Manifest = serde_json::from_str(&text).unwrap();
        std::fs::write(demo.join("manifest.json"), &text).unwrap();
        let signature = signing::sign(&key, text.as_bytes()).unwrap();
        std::fs::write(demo.join("manifest.json.sig"), signature).unwrap();

        let host = recorded_host(&manifest).unwrap();
        assert_eq!(host, "phoenix-guest");
        let public = std::fs::read_to_string(demo.join("ssh_host_ed25519_key.pub")).unwrap();
        let line = allowed_signers_line(host, &public);
        assert!(line.starts_with("phoenix-guest ssh-ed25519 AAAA"), "{line}");
        assert!(!line.contains("root@"), "{line}");
        std::fs::write(demo.join("allowed_signers"), &line).unwrap();

        let verified = verify_signature(demo, host).unwrap();
        assert!(
            verified
                .as_ref()
                .is_ok_and(|l| l.contains("signature for phoenix-guest")),
            "{verified:?}"
        );
        let signers = AllowedSigners::parse("allowed_signers", &line).unwrap();
        let report = fleet::check(
            &demo.join("manifest.json"),
            &Anchor::AllowedSigners(&signers),
            0,
        );
        assert_eq!(report.verdict, Verdict::Ok, "{}", report.detail);
        // The principal the demo wrote before: ssh-keygen and manifest verify both refuse it.
        let guest = allowed_signers_line("guest", &public);
        std::fs::write(demo.join("allowed_signers"), &guest).unwrap();
        assert!(verify_signature(demo, host).unwrap().is_err());
        let signers = AllowedSigners::parse("allowed_signers", &guest).unwrap();
        let report = fleet::check(
            &demo.join("manifest.json"),
            &Anchor::AllowedSigners(&signers),
            0,
        );
        assert_eq!(report.verdict, Verdict::NotAllowed);
    }

    #[test]
    fn a_manifest_without_a_host_name_is_an_error_that_says_so() {
        let mut manifest = crate::qemu::checks::tests::sample_manifest();
        manifest["host"]["hostname"] = "".into();
        let err = recorded_host(&serde_json::from_value(manifest).unwrap()).unwrap_err();
        assert!(err.to_string().contains("host.hostname"), "{err}");
    }
}
