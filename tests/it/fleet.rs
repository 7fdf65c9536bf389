//! `manifest verify` over a fleet: manifests of several hosts, one allowed_signers file, and the
//! same verdict from phoenix-zfs and from stock `ssh-keygen -Y verify -f allowed_signers -I HOST`.
//! Plus the worked example of docs/guide.md, run as written.

use crate::fixtures;
use phoenix_zfs::apply::{ApplyReport, Ending};
use phoenix_zfs::exit::Exit;
use phoenix_zfs::layout::Layout;
use phoenix_zfs::manifest::{self, signature_path, Host, Manifest, RunInfo};
use phoenix_zfs::model::pools::ObservedPool;
use phoenix_zfs::plan::Deferred;
use ssh_key::{HashAlg, PrivateKey};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// What one host's run recorded.
struct Run<'a> {
    fixture: &'a str,
    ending: Ending,
    pools: &'a [(&'a str, &'a str)],
    deferred: &'a [(&'a str, &'a str)],
    /// How much the first drive's percentage_used has grown since its baseline.
    worn: Option<u8>,
}

fn manifest_of(hostname: &str, key: &PrivateKey, run: Run<'_>) -> Manifest {
    let layout = Layout::default_layout();
    let mut a = fixtures::assess_without_zfs(run.fixture, &layout);
    fixtures::with_qemu_guest_health(&mut a, |d| d.nvme_controller.is_some());
    for (name, health) in run.pools {
        a.observed.pools.push(ObservedPool {
            name: name.to_string(),
            guid: Some(1),
            health: health.to_string(),
            members: Vec::new(),
            data_vdevs: Vec::new(),
            properties: Default::default(),
            scan: None,
            missing: Vec::new(),
        });
    }
    // A recorded host has no services to observe, so the plan defers them all; the runs here
    // defer only what they say.
    a.plan.deferred.clear();
    for (subject, why) in run.deferred {
        a.plan.deferred.push(Deferred {
            subject: subject.to_string(),
            why: why.to_string(),
        });
    }
    // A refusal says what the plan's blockers say.
    let ending = match run.ending {
        Ending::Refused { reasons, .. } if reasons.is_empty() => Ending::Refused {
            exit: a.plan.exit().unwrap(),
            reasons: a.plan.blockers.iter().map(|b| b.message()).collect(),
            blockers: a.plan.blockers.clone(),
        },
        other => other,
    };
    let report = ApplyReport {
        ending,
        actions: Vec::new(),
        first: Some(a.clone()),
        last: Some(a),
    };
    let info = RunInfo {
        command: "apply",
        started_at: manifest::now_rfc3339(),
        layout_source: "<default layout>",
        layout: &layout,
        host: Host {
            hostname: hostname.to_string(),
            machine_id: None,
            host_key_fingerprint: Some(key.fingerprint(HashAlg::Sha256).to_string()),
        },
        baselines: Default::default(),
        situation: phoenix_zfs::host::target::Situation::NormalHost,
    };
    let mut m = manifest::from_report(info, &report);
    if let Some(grown) = run.worn {
        let health = m
            .drives
            .iter_mut()
            .find_map(|d| d.health.as_mut())
            .expect("a drive with a health reading");
        health.current.percentage_used = health.baseline.percentage_used + grown;
    }
    m
}

fn write(dir: &Path, relative: &str, m: &Manifest, key: &PrivateKey) -> PathBuf {
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    manifest::write_signed(m, &path, key).unwrap();
    path
}

fn done(fixture: &str) -> Run<'_> {
    Run {
        fixture,
        ending: Ending::Converged { changed: true },
        pools: &[("quickOS", "ONLINE"), ("fastData", "ONLINE")],
        deferred: &[],
        worn: None,
    }
}

fn public_line(key: &PrivateKey) -> String {
    let openssh = key.public_key().to_openssh().unwrap();
    openssh
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn phoenix(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
        .current_dir(dir)
        .args(["manifest", "verify"])
        .args(args)
        .output()
        .unwrap()
}

/// Stock OpenSSH's verdict on one host's manifest.
fn ssh_keygen_allows(dir: &Path, signers: &str, host: &str, manifest: &Path) -> bool {
    Command::new("ssh-keygen")
        .current_dir(dir)
        .args(["-Y", "verify", "-f", signers, "-I", host])
        .args(["-n", "phoenix-zfs-manifest", "-s"])
        .arg(signature_path(manifest))
        .stdin(std::fs::File::open(manifest).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ssh-keygen runs")
        .success()
}

/// An Ed25519 key made by ssh-keygen, as openssh-server makes host keys.
fn ssh_keygen_key(dir: &Path, name: &str) -> PrivateKey {
    manifest::signing::load_host_key(&fixtures::ssh_keygen_ed25519(&dir.join(name), name)).unwrap()
}

#[test]
fn three_hosts_get_the_same_verdict_from_phoenix_zfs_and_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let a = ssh_keygen_key(&keys, "pve-a");
    let b = ssh_keygen_key(&keys, "pve-b");
    let c_old = ssh_keygen_key(&keys, "pve-c-before-reinstall");
    let c_new = ssh_keygen_key(&keys, "pve-c");
    // Quotes, a principal list, options and a wildcard line, as ssh-keygen(1) allows them;
    // pve-c is listed with the key it had before it was reinstalled.
    let signers = format!(
        "# the fleet's host keys\n\
         pve-a {} root@pve-a\n\
         pve-b.example.org,\"pve-b\" namespaces=\"file,phoenix-zfs-manifest\" {}\n\
         pve-c {}\n\
         pve-* namespaces=\"git\" {}\n",
        public_line(&a),
        public_line(&b),
        public_line(&c_old),
        public_line(&c_new),
    );
    std::fs::write(dir.path().join("allowed_signers"), signers).unwrap();
    let hosts = [("pve-a", &a), ("pve-b", &b), ("pve-c", &c_new)];
    let files: Vec<PathBuf> = hosts
        .iter()
        .map(|(host, key)| {
            write(
                dir.path(),
                &format!("manifests/{host}/manifest.json"),
                &manifest_of(host, key, done("qemu-default")),
                key,
            )
        })
        .collect();
    let file_args: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();

    let mut args = vec!["--allowed-signers", "allowed_signers", "--json"];
    args.extend(&file_args);
    let out = phoenix(dir.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (i, (host, _)) in hosts.iter().enumerate() {
        let report = &json["manifests"][i];
        assert_eq!(report["host"], *host);
        let phoenix_ok = report["verdict"] == "ok";
        let ssh_ok = ssh_keygen_allows(dir.path(), "allowed_signers", host, &files[i]);
        assert_eq!(
            phoenix_ok, ssh_ok,
            "{host}: phoenix-zfs {report}, ssh-keygen {ssh_ok}"
        );
    }
    assert_eq!(json["manifests"][0]["verdict"], "ok");
    assert_eq!(json["manifests"][1]["verdict"], "ok");
    assert_eq!(json["manifests"][2]["verdict"], "not-allowed");
    let why = json["manifests"][2]["detail"].as_str().unwrap();
    assert!(why.contains("(line 4)"), "{why}");
    assert!(why.contains("only for namespaces \"git\""), "{why}");

    // The human form: one line per host, then the tally.
    let mut args = vec!["--allowed-signers", "allowed_signers"];
    args.extend(&file_args);
    let out = phoenix(dir.path(), &args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].starts_with("pve-a: ok: good signature by SHA256:"),
        "{stdout}"
    );
    assert!(lines[0].contains("(allowed_signers line 2 for pve-a); outcome done; pools quickOS ONLINE, fastData ONLINE; deferred none"), "{stdout}");
    assert!(lines[2].starts_with("pve-c: NOT ALLOWED: "), "{stdout}");
    assert_eq!(lines[3], "3 manifests: 2 ok, 1 not-allowed");

    // Without pve-c, every manifest checks out.
    let mut args = vec!["--allowed-signers", "allowed_signers"];
    args.extend(&file_args[..2]);
    assert_eq!(phoenix(dir.path(), &args).status.code(), Some(0));

    // The file now lists pve-c's new key: both tools accept it.
    let fixed = std::fs::read_to_string(dir.path().join("allowed_signers"))
        .unwrap()
        .replace(&public_line(&c_old), &public_line(&c_new));
    std::fs::write(dir.path().join("allowed_signers"), fixed).unwrap();
    assert!(ssh_keygen_allows(
        dir.path(),
        "allowed_signers",
        "pve-c",
        &files[2]
    ));
    let mut args = vec!["--allowed-signers", "allowed_signers"];
    args.extend(&file_args);
    assert_eq!(phoenix(dir.path(), &args).status.code(), Some(0));

    // Another host's key is refused by both, whatever the manifest claims.
    assert!(!ssh_keygen_allows(
        dir.path(),
        "allowed_signers",
        "pve-b",
        &files[0]
    ));
}

#[test]
fn without_a_trust_anchor_the_verdict_is_untrusted_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[7; 32]));
    let file = write(
        dir.path(),
        "manifest.json",
        &manifest_of("pve-a", &key, done("qemu-default")),
        &key,
    );
    let out = phoenix(dir.path(), &["manifest.json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("pve-a: UNTRUSTED: signed by SHA256:"),
        "{stdout}"
    );
    assert!(stdout.contains("--allowed-signers"), "{stdout}");
    let out = phoenix(dir.path(), &["manifest.json", "--trust-embedded-key"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // A changed manifest (one byte more, still JSON), then an unsigned one.
    let signed = std::fs::read(&file).unwrap();
    std::fs::write(&file, [signed.as_slice(), b" "].concat()).unwrap();
    let out = phoenix(dir.path(), &["manifest.json", "--trust-embedded-key"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("pve-a: INVALID: bad signature"),
        "{stdout}"
    );
    std::fs::write(&file, &signed).unwrap();
    std::fs::remove_file(signature_path(&file)).unwrap();
    let out = phoenix(dir.path(), &["manifest.json", "--trust-embedded-key"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("pve-a: UNSIGNED: "));
    // A bad allowed_signers line is a usage error naming the line.
    std::fs::write(dir.path().join("signers"), "pve-a ssh-ed25519\n").unwrap();
    let out = phoenix(
        dir.path(),
        &["--allowed-signers", "signers", "manifest.json"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("signers:1: "),
        "{out:?}"
    );
}

/// The worked example of docs/guide.md: keys from fixed seeds, so that its output is the same on every
/// run, under the paths an Ansible fetch makes.
#[test]
fn the_guide_fleet_example_is_what_the_binary_prints() {
    let guide = std::fs::read_to_string(fixtures::repo().join("docs/guide.md")).unwrap();
    let example = guide
        .split("<!-- fleet-example -->")
        .nth(1)
        .expect("docs/guide.md has a <!-- fleet-example --> section");
    let blocks: Vec<&str> = example
        .split("```")
        .skip(1)
        .step_by(2)
        .map(|b| b.split_once('\n').map_or(b, |(_, body)| body))
        .collect();
    let (signers_shown, session) = (blocks[0], blocks[1]);

    let dir = tempfile::tempdir().unwrap();
    let key = |seed: u8| PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]));
    let (a, b, c, d_old, d_new) = (key(1), key(2), key(3), key(4), key(5));
    let signers = format!(
        "pve-a {}\npve-b {}\npve-c {}\npve-d {}\n",
        public_line(&a),
        public_line(&b),
        public_line(&c),
        public_line(&d_old)
    );
    assert_eq!(
        signers_shown, signers,
        "the allowed_signers of docs/guide.md"
    );
    std::fs::write(dir.path().join("allowed_signers"), &signers).unwrap();
    let fetched = |host: &str| format!("manifests/{host}/var/lib/phoenix-zfs/manifest.json");
    write(
        dir.path(),
        &fetched("pve-a"),
        &manifest_of("pve-a", &a, done("qemu-default")),
        &a,
    );
    let b_run = Run {
        deferred: &[(
            "nfs quickOS/shared-prod-data",
            "no default route: the exports' network is not known",
        )],
        worn: Some(3),
        ..done("qemu-default")
    };
    write(
        dir.path(),
        &fetched("pve-b"),
        &manifest_of("pve-b", &b, b_run),
        &b,
    );
    let c_run = Run {
        fixture: "missing-2tb",
        ending: Ending::Refused {
            // Replaced by the plan's own exit and reasons when the manifest is built.
            exit: Exit::Done,
            reasons: Vec::new(),
            blockers: Vec::new(),
        },
        pools: &[],
        deferred: &[],
        worn: None,
    };
    write(
        dir.path(),
        &fetched("pve-c"),
        &manifest_of("pve-c", &c, c_run),
        &c,
    );
    // pve-d was reinstalled: a new host key the file does not list yet.
    write(
        dir.path(),
        &fetched("pve-d"),
        &manifest_of("pve-d", &d_new, done("qemu-default")),
        &d_new,
    );

    let mut lines = session.lines();
    let command = lines.next().unwrap().strip_prefix("$ ").unwrap();
    let expected: Vec<&str> = lines
        .by_ref()
        .take_while(|l| !l.starts_with("$ "))
        .collect();
    let code: i32 = lines.next().unwrap().parse().unwrap();
    let mut words = command.split_whitespace();
    assert_eq!(words.next(), Some("phoenix-zfs"));
    let mut args: Vec<String> = Vec::new();
    for word in words {
        // The shell's glob, sorted as the shell sorts it.
        if word.contains('*') {
            let mut hosts: Vec<String> = std::fs::read_dir(dir.path().join("manifests"))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            hosts.sort();
            args.extend(hosts.iter().map(|h| fetched(h)));
        } else {
            args.push(word.to_string());
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_phoenix-zfs"))
        .current_dir(dir.path())
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected, "{stdout}");
    assert_eq!(out.status.code(), Some(code));

    // Stock ssh-keygen agrees host by host.
    for (host, trusted) in [
        ("pve-a", true),
        ("pve-b", true),
        ("pve-c", true),
        ("pve-d", false),
    ] {
        let file = dir.path().join(fetched(host));
        assert_eq!(
            ssh_keygen_allows(dir.path(), "allowed_signers", host, &file),
            trusted,
            "{host}"
        );
    }
}

/// Keys of every kind ssh-keygen makes are read from allowed_signers as OpenSSH reads them: the
/// same SHA256 fingerprint as `ssh-keygen -l`, and the same refusal of a host whose line names
/// another kind of key, even though the binary decodes only Ed25519 keys.
#[test]
fn allowed_signers_keys_of_every_kind_have_ssh_keygens_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    let mut expected = Vec::new();
    for (kind, bits) in [
        ("ecdsa", "256"),
        ("ecdsa", "521"),
        ("rsa", "2048"),
        ("ed25519", "256"),
    ] {
        let path = dir.path().join(format!("{kind}{bits}"));
        let made = Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-t", kind, "-b", bits, "-f"])
            .arg(&path)
            .status()
            .expect("ssh-keygen runs");
        assert!(made.success());
        let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        lines.push_str(&format!("host-{kind}{bits} {public}"));
        let listed = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(path.with_extension("pub"))
            .output()
            .expect("ssh-keygen runs");
        let listed = String::from_utf8(listed.stdout).unwrap();
        expected.push(listed.split_whitespace().nth(1).unwrap().to_string());
    }
    let signers = manifest::allowed_signers::AllowedSigners::parse("allowed_signers", &lines)
        .expect("ssh-keygen's own public keys parse");
    let got: Vec<String> = signers
        .entries
        .iter()
        .map(|e| e.fingerprint.clone())
        .collect();
    assert_eq!(got, expected);

    let signer = ssh_keygen_key(dir.path(), "host");
    let refused = signers
        .allows(
            "host-ecdsa256",
            signer.public_key(),
            "phoenix-zfs-manifest",
            0,
        )
        .unwrap_err();
    assert!(refused.contains(&expected[0]), "{refused}");

    let bad = "host-x ecdsa-sha2-nistp256 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti\n";
    let err = manifest::allowed_signers::AllowedSigners::parse("f", bad).unwrap_err();
    assert!(
        err.to_string().contains("it encodes a ssh-ed25519 key"),
        "{err}"
    );
}
