//! The signed manifest, checked by tools that owe phoenix-zfs nothing: stock OpenSSH's
//! `ssh-keygen -Y verify` for the signature, Python's `jsonschema` for the schema. One changed
//! byte must make both ssh-keygen and `phoenix-zfs manifest verify` reject the manifest.

use crate::fixtures;
use phoenix_zfs::apply::{ApplyReport, Ending};
use phoenix_zfs::formats::zfs::{VdevClass, VdevKind};
use phoenix_zfs::layout::Layout;
use phoenix_zfs::manifest::{self, signature_path, RunInfo};
use phoenix_zfs::model::pools::{DataVdev, ObservedPool, PoolMember};
use phoenix_zfs::plan::Deferred;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A real Ed25519 key made by ssh-keygen, as openssh-server makes host keys.
fn host_key(dir: &Path) -> PathBuf {
    fixtures::ssh_keygen_ed25519(&dir.join("ssh_host_ed25519_key"), "test-host")
}

/// A refused run's manifest for the missing-2tb host: the run needs no ZFS tools at all.
fn write_manifest(dir: &Path, key_path: &Path) -> PathBuf {
    let layout = Layout::default_layout();
    let mut assessment = fixtures::assess_without_zfs("missing-2tb", &layout);
    // The services a live host reports, so that the schema sees them filled in: the health
    // smartctl read in the QEMU guest, for every drive, and one deferred storage.
    fixtures::with_qemu_guest_health(&mut assessment, |_| true);
    // A degraded mirror whose new member resilvers: the pool record with its scan line.
    assessment.observed.pools.push(ObservedPool {
        name: "quickOS".into(),
        guid: Some(6718951398331228127),
        health: "DEGRADED".into(),
        members: [
            "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0001_1-part1",
            "1111111111111111111",
            "/dev/disk/by-id/nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0003_1-part1",
        ]
        .map(|path| PoolMember::new(path, VdevClass::Data))
        .to_vec(),
        data_vdevs: vec![DataVdev::new(VdevKind::Mirror, 2)],
        properties: [("ashift".to_string(), "12".to_string())].into(),
        scan: Some("resilver in progress since Tue Nov 24 10:00:00 2026".into()),
        missing: Vec::new(),
    });
    assessment.plan.deferred.push(Deferred {
        subject: "storage quickOS-vm-disks".into(),
        why: "cannot read /etc/pve/storage.cfg".into(),
    });
    let exit = assessment.plan.exit().unwrap();
    let reasons = assessment
        .plan
        .blockers
        .iter()
        .map(|b| b.message())
        .collect();
    let report = ApplyReport {
        ending: Ending::Refused {
            exit,
            reasons,
            blockers: Vec::new(),
        },
        actions: Vec::new(),
        first: Some(assessment.clone()),
        last: Some(assessment),
    };
    let key = manifest::signing::load_host_key(key_path).unwrap();
    let run = RunInfo {
        command: "apply",
        started_at: manifest::now_rfc3339(),
        layout_source: "<default layout>",
        layout: &layout,
        host: manifest::host_identity(&phoenix_zfs::host::root::HostRoot::live(), Some(&key)),
        baselines: Default::default(),
        situation: phoenix_zfs::host::target::Situation::NormalHost,
    };
    let path = dir.join("manifest.json");
    manifest::write_signed(&manifest::from_report(run, &report), &path, &key).unwrap();
    path
}

fn ssh_keygen_verifies(dir: &Path, manifest: &Path, key: &Path) -> bool {
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let fields: Vec<&str> = public.split_whitespace().take(2).collect();
    let signers = dir.join("allowed_signers");
    std::fs::write(&signers, format!("test-host {}\n", fields.join(" "))).unwrap();
    let status = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(&signers)
        .args(["-I", "test-host", "-n", "phoenix-zfs-manifest", "-s"])
        .arg(signature_path(manifest))
        .stdin(std::fs::File::open(manifest).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ssh-keygen runs");
    status.success()
}

/// Exit 8 is a good signature over a refused run, which this manifest records.
fn phoenix_verifies(manifest: &Path, key: &Path) -> bool {
    let status = Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
        .args(["manifest", "verify"])
        .arg(manifest)
        .arg("--key")
        .arg(key.with_extension("pub"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(matches!(status.code(), Some(0 | 1 | 8)), "{status}");
    status.code() == Some(8)
}

#[test]
fn stock_ssh_keygen_accepts_the_signature_and_one_changed_byte_breaks_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = host_key(dir.path());
    let manifest = write_manifest(dir.path(), &key);
    assert!(
        ssh_keygen_verifies(dir.path(), &manifest, &key),
        "ssh-keygen rejected a good signature"
    );
    assert!(
        phoenix_verifies(&manifest, &key),
        "phoenix-zfs rejected a good signature"
    );

    let mut bytes = std::fs::read(&manifest).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&manifest, &bytes).unwrap();
    assert!(
        !ssh_keygen_verifies(dir.path(), &manifest, &key),
        "ssh-keygen accepted a changed manifest"
    );
    assert!(
        !phoenix_verifies(&manifest, &key),
        "phoenix-zfs accepted a changed manifest"
    );
}

#[test]
fn another_hosts_key_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let key = host_key(dir.path());
    let manifest = write_manifest(dir.path(), &key);
    let other = tempfile::tempdir().unwrap();
    let other_key = host_key(other.path());
    assert!(!phoenix_verifies(&manifest, &other_key));
}

#[test]
fn the_manifest_validates_against_the_schema_with_python_jsonschema() {
    let dir = tempfile::tempdir().unwrap();
    let key = host_key(dir.path());
    let manifest = write_manifest(dir.path(), &key);
    let schema = fixtures::repo().join("schema/manifest.schema.json");
    let script = "import json,sys,jsonschema\n\
                  schema=json.load(open(sys.argv[1]))\n\
                  jsonschema.Draft202012Validator.check_schema(schema)\n\
                  jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(json.load(open(sys.argv[2])))\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&schema)
        .arg(&manifest)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "schema validation failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(
        value["pools"][0]["scan"],
        "resilver in progress since Tue Nov 24 10:00:00 2026"
    );
    // And the validator is not a rubber stamp: a manifest missing its outcome fails.
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    value.as_object_mut().unwrap().remove("outcome");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, value.to_string()).unwrap();
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&schema)
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

fn show(args: &[&Path]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
        .args(["manifest", "show"])
        .args(args)
        .output()
        .unwrap()
}

/// `manifest show` on a signed manifest with the services a first boot leaves (the demo prints
/// this for its summary): pools, datasets, storages, exports, drives, what was deferred, and the
/// signature, which holds, then does not after one changed byte, then is gone.
#[test]
fn manifest_show_names_what_the_run_left_and_whether_the_signature_holds() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = host_key(dir.path());
    let manifest = write_manifest(dir.path(), &key_path);
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    value["datasets"] = serde_json::json!([
        {"name": "quickOS", "guid": "1", "properties": {"quota": "0"}},
        {"name": "quickOS/vm-disks", "guid": "2", "properties": {
            "recordsize": "131072", "compression": "lz4", "sync": "standard",
            "quota": "858993459200"}}]);
    value["services"]["storages"] = serde_json::json!([{"id": "quickOS-vm-disks",
        "type": "zfspool", "settings": {"pool": "quickOS/vm-disks", "content": "images"}}]);
    value["services"]["exports"] = serde_json::json!([
        {"dataset": "fastData/shared-iso", "sharenfs": "rw=@10.0.0.0/24,no_subtree_check"}]);
    let text = format!("{}\n", serde_json::to_string_pretty(&value).unwrap());
    std::fs::write(&manifest, &text).unwrap();
    let key = manifest::signing::load_host_key(&key_path).unwrap();
    let signature = manifest::signing::sign(&key, text.as_bytes()).unwrap();
    std::fs::write(signature_path(&manifest), signature).unwrap();
    let fingerprint = key.fingerprint(ssh_key::HashAlg::Sha256).to_string();

    let out = show(&[&manifest]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let m = manifest.display();
    for expected in [
        format!("manifest {m}: host "),
        "outcome: refused (exit 3)\n  pool `quickOS` needs 2 drive(s)".into(),
        "\npools (1)\n  quickOS  DEGRADED  mirror  nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0001_1-part1, 1111111111111111111, nvme-Samsung_SSD_990_EVO_Plus_2TB_S2TA0003_1-part1\n".into(),
        "\ndatasets (2)\n  quickOS           quota=none\n  quickOS/vm-disks  recordsize=128K compression=lz4 sync=standard quota=800G\n".into(),
        "\nProxmox storages (1)\n  quickOS-vm-disks  zfspool  pool quickOS/vm-disks, content images\n".into(),
        "\nNFS exports (1)\n  fastData/shared-iso  rw=@10.0.0.0/24,no_subtree_check\n".into(),
        "firmware not-in-policy".into(),
        "% used, ".into(),
        "\ndeferred (1)\n  storage quickOS-vm-disks  cannot read /etc/pve/storage.cfg\n".into(),
        format!("\nsignature ({m}.sig)\n  signed by {fingerprint} (embedded key; check it with `phoenix-zfs manifest verify --allowed-signers FILE {m}`)\n"),
    ] {
        assert!(said.contains(&expected), "{expected:?} missing from:\n{said}");
    }

    let out = Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
        .args(["manifest", "show", "--json"])
        .arg(&manifest)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema"], "phoenix-zfs-manifest-show/1");
    assert_eq!(json["signature"], "signed");
    assert_eq!(json["signer"], fingerprint.as_str());
    assert_eq!(json["pools"][0]["name"], "quickOS");
    assert_eq!(json["datasets"][1]["properties"]["quota"], "858993459200");
    assert_eq!(json["exit_code"], 3);

    // Changed after it was signed, and still JSON.
    let changed = text.replace("\"DEGRADED\"", "\"ONLINE\"");
    assert_ne!(changed, text);
    std::fs::write(&manifest, changed).unwrap();
    let out = show(&[&manifest]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("\n  signature does not match: "), "{said}");
    assert!(!said.contains("signed by"), "{said}");

    std::fs::remove_file(signature_path(&manifest)).unwrap();
    let said = String::from_utf8_lossy(&show(&[&manifest]).stdout).into_owned();
    assert!(
        said.contains("\n  unsigned: cannot read the signature "),
        "{said}"
    );

    let missing = dir.path().join("none.json");
    let out = show(&[&missing]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot read {}", missing.display()))
            && stderr.contains("/var/lib/phoenix-zfs/manifest.json"),
        "{stderr}"
    );
}
