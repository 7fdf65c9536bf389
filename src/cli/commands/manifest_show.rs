//! `phoenix-zfs manifest show`: one manifest as an administrator reads it: the pools, datasets,
//! Proxmox storages, NFS exports and drives the run left, what it deferred, how it ended, and
//! whether the signature beside it holds. The signature is checked by `manifest verify`'s code
//! against the key inside it; whom that key belongs to is `manifest verify`'s question.

use crate::failure::{Failure, Outcome};
use phoenix_zfs::exit::Exit;
use phoenix_zfs::formats::size::ZfsSize;
use phoenix_zfs::manifest::fleet::{self, Anchor, DriveSummary, Report, Verdict};
use phoenix_zfs::manifest::DEFAULT_PATH;
use phoenix_zfs::runner;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// The `schema` of `manifest show --json`.
pub const SCHEMA: &str = "phoenix-zfs-manifest-show/1";

/// The dataset properties shown: those that decide how a dataset serves its workload.
const KEY_PROPERTIES: [&str; 4] = ["recordsize", "compression", "sync", "quota"];

/// What `manifest show` prints, and `--json` as it is: the verdict on the signature, what
/// `manifest verify` reads of the run, and the manifest's own records of what the run left
/// (schema/manifest.schema.json), not copies in types of their own, for which the first-boot
/// hook has no room.
#[derive(Debug, Serialize)]
pub struct Shown<'a> {
    pub schema: &'static str,
    pub manifest: String,
    pub host: Option<String>,
    pub outcome: Option<String>,
    pub exit_code: Option<u64>,
    pub reasons: Vec<String>,
    /// `signed` (it holds, by the key inside it), `unsigned`, or `does-not-match`.
    pub signature: &'static str,
    /// `SHA256:...` of the key inside a signature that holds.
    pub signer: Option<String>,
    /// Why the manifest is unsigned or its signature does not match.
    pub detail: String,
    pub pools: &'a Value,
    pub datasets: &'a Value,
    pub storages: &'a Value,
    pub exports: &'a Value,
    pub drives: &'a Value,
    pub deferred: &'a Value,
    /// The layout's pools, for each pool's vdev.
    #[serde(skip)]
    pub layout_pools: &'a Value,
    /// How each drive's wear moved since its baseline, in the order of `drives`.
    #[serde(skip)]
    pub wear: Vec<DriveSummary>,
}

/// Shows MANIFEST; exit 0 whenever it could be read, whatever its signature says (that verdict,
/// with a trust anchor, is `manifest verify`'s).
pub fn run(file: &Path, json: bool) -> Outcome {
    let (bytes, value) = fleet::read(file).map_err(|why| {
        Failure::said(
            Exit::Unexpected,
            format!(
                "{why}: name a manifest phoenix-zfs wrote (a host keeps its own in {DEFAULT_PATH})"
            ),
        )
    })?;
    let report = fleet::check_read(file, &bytes, &value, &Anchor::Embedded { trusted: true }, 0);
    let shown = Shown::new(&value, report);
    if json {
        // Through a Value: its pretty printer is already in the binary, a second one per type is not.
        crate::render::json(&serde_json::to_value(&shown).unwrap_or_default());
    } else {
        print!("{}", shown.text());
    }
    Ok(Exit::Done)
}

fn items(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// A JSON string, or `none` for anything else (null).
fn text<'v>(v: &'v Value, none: &'v str) -> &'v str {
    v.as_str().unwrap_or(none)
}

impl<'a> Shown<'a> {
    /// `value` as read from a manifest file; `report` is `manifest verify`'s of it with the
    /// embedded key trusted.
    pub fn new(value: &'a Value, report: Report) -> Shown<'a> {
        let signature = match report.verdict {
            Verdict::Unsigned => "unsigned",
            Verdict::Invalid => "does-not-match",
            _ => "signed",
        };
        let holds = signature == "signed";
        let services = &value["services"];
        Shown {
            schema: SCHEMA,
            manifest: report.file,
            host: report.host,
            outcome: report.outcome,
            exit_code: report.exit_code,
            reasons: report.reasons,
            signature,
            signer: report.signer.filter(|_| holds),
            detail: if holds { String::new() } else { report.detail },
            pools: &value["pools"],
            datasets: &value["datasets"],
            storages: &services["storages"],
            exports: &services["exports"],
            drives: &value["drives"],
            deferred: &services["deferred"],
            // The layout as its TOML spells it: `[[pool]]`.
            layout_pools: &value["layout"]["content"]["pool"],
            wear: report.drives,
        }
    }

    /// The text `manifest show` prints: a head, then one table per subject.
    pub fn text(&self) -> String {
        let or = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
        let mut out = format!(
            "manifest {}: host {}\noutcome: {} (exit {})\n",
            self.manifest,
            or(&self.host),
            or(&self.outcome),
            or(&self.exit_code.map(|c| c.to_string())),
        );
        for reason in &self.reasons {
            for line in reason.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        // A row is its cells joined by tabs, which `table` lines up.
        let mut rows = Vec::new();
        for p in items(self.pools) {
            let vdev = items(self.layout_pools)
                .iter()
                .find(|l| l["name"] == p["name"])
                .map_or("?", |l| text(&l["vdev"], "?"));
            let mut row = format!(
                "{}\t{}\t{vdev}\t",
                text(&p["name"], "?"),
                text(&p["health"], "?")
            );
            for device in items(&p["devices"]) {
                let device = text(device, "?");
                let short = device.strip_prefix("/dev/disk/by-id/").unwrap_or(device);
                let _ = write!(row, "{short}, ");
            }
            rows.push(row);
        }
        table(&mut out, "pools", &mut rows);
        for d in items(self.datasets) {
            let mut row = format!("{}\t", text(&d["name"], "?"));
            for key in KEY_PROPERTIES {
                let Some(v) = d["properties"][key].as_str() else {
                    continue;
                };
                let _ = match (key, ZfsSize::parse(v)) {
                    ("quota", Ok(ZfsSize(0))) => write!(row, "{key}=none "),
                    ("recordsize" | "quota", Ok(size)) => write!(row, "{key}={size} "),
                    _ => write!(row, "{key}={v} "),
                };
            }
            rows.push(row);
        }
        table(&mut out, "datasets", &mut rows);
        for s in items(self.storages) {
            let mut row = format!("{}\t{}\t", text(&s["id"], "?"), text(&s["type"], "?"));
            for key in ["pool", "path", "content"] {
                if let Some(v) = s["settings"][key].as_str() {
                    let _ = write!(row, "{key} {v}, ");
                }
            }
            rows.push(row);
        }
        table(&mut out, "Proxmox storages", &mut rows);
        two_columns(&mut rows, self.exports, ["dataset", "sharenfs"]);
        table(&mut out, "NFS exports", &mut rows);
        for (d, wear) in items(self.drives).iter().zip(&self.wear) {
            let mut row = format!(
                "{}\t{}\t{}\tfirmware {}\t",
                wear.drive,
                text(&d["serial"], "-"),
                text(&d["role"], "-"),
                wear.firmware
            );
            let now = &d["health"]["current"];
            let _ = match now["critical_warning"].as_u64() {
                None => write!(row, "health not read"),
                Some(warning) => write!(
                    row,
                    "{}% used, {}% spare, {} media errors, critical warning 0x{warning:02x}",
                    now["percentage_used"], now["available_spare"], now["media_errors"]
                ),
            };
            if !wear.wear_moved.is_empty() {
                let since = text(&d["health"]["baseline_at"], "?");
                let _ = write!(row, "; since {since}: {}", wear.wear_moved.join(", "));
            }
            rows.push(row);
        }
        table(&mut out, "drives", &mut rows);
        two_columns(&mut rows, self.deferred, ["subject", "why"]);
        table(&mut out, "deferred", &mut rows);
        let _ = write!(out, "\nsignature ({}.sig)\n  ", self.manifest);
        let _ = match (self.signature, &self.signer) {
            ("signed", Some(signer)) => writeln!(
                out,
                "signed by {signer} (embedded key; check it with `{}`)",
                phoenix_zfs::remedy::verify_signed(&runner::display(std::slice::from_ref(
                    &self.manifest
                )))
            ),
            ("unsigned", _) => writeln!(out, "unsigned: {}", self.detail),
            _ => writeln!(out, "signature does not match: {}", self.detail),
        };
        out
    }
}

/// A row per item of `list`: its two `keys`' strings.
fn two_columns(rows: &mut Vec<String>, list: &Value, keys: [&str; 2]) {
    for item in items(list) {
        let [first, second] = keys.map(|key| text(&item[key], "?"));
        rows.push(format!("{first}\t{second}"));
    }
}

/// The one table of `manifest show`: `TITLE (N)`, then a line per row (taken out of `rows`), its
/// tab-separated cells each as wide as the widest of its column, the last one as long as it is
/// (without the `, ` or space a row's list ends with).
fn table(out: &mut String, title: &str, rows: &mut Vec<String>) {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows.iter() {
        for (i, cell) in row.split('\t').enumerate() {
            if widths.len() == i {
                widths.push(0);
            }
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let _ = writeln!(out, "\n{title} ({})", rows.len());
    for row in rows.drain(..) {
        let mut line = String::new();
        let mut cells = row.split('\t').zip(&widths).peekable();
        while let Some((cell, width)) = cells.next() {
            let width = if cells.peek().is_some() { *width } else { 0 };
            let _ = write!(line, "  {cell:<width$}");
        }
        let _ = writeln!(out, "{}", line.trim_end_matches([' ', ',']));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest as a first boot writes it, trimmed to what `show` reads.
    fn manifest() -> Value {
        serde_json::json!({
            "host": {"hostname": "phoenix-guest"},
            "layout": {"content": {"pool": [{"name": "quickOS", "vdev": "mirror"}]}},
            "outcome": {"status": "refused", "exit_code": 3, "reasons": ["first\nsecond"]},
            "pools": [{"name": "quickOS", "health": "ONLINE", "devices": [
                "/dev/disk/by-id/nvme-A_S2TA0001-part1", "/dev/disk/by-id/nvme-A_S2TA0002-part1"]},
                {"name": "tank", "health": "DEGRADED", "devices": []}],
            "datasets": [{"name": "quickOS", "properties": {"quota": "0", "guid": "1"}},
                         {"name": "quickOS/vm-disks", "properties": {
                "recordsize": "131072", "compression": "lz4", "quota": "858993459200",
                "mountpoint": "/quickOS/vm-disks"}}],
            "drives": [{"name": "nvme0n1", "serial": "S2TA0001", "role": "quickOS",
                        "firmware_verdict": {"verdict": "no-known-issue"},
                        "health": {"baseline_at": "2026-12-01T08:00:00Z",
                                   "baseline": wear(0), "current": wear(3)}},
                       {"name": "nvme2n1", "serial": null, "role": null,
                        "firmware_verdict": {"verdict": "not-in-policy"}, "health": null}],
            "services": {
                "storages": [{"id": "quickOS-vm-disks", "type": "zfspool",
                              "settings": {"pool": "quickOS/vm-disks", "content": "images"}},
                             {"id": "fastData-shared-iso", "type": "dir",
                              "settings": {"path": "/fastData/shared-iso", "content": "iso,vztmpl"}}],
                "exports": [{"dataset": "fastData/shared-iso", "sharenfs": "rw=@10.0.0.0/24"}],
                "deferred": [{"subject": "nfs fastData/shared-iso", "why": "no network"}]
            }
        })
    }

    fn wear(used: u8) -> Value {
        serde_json::json!({"percentage_used": used, "available_spare": 100,
            "available_spare_threshold": 10, "data_units_written": 0, "media_errors": 0,
            "critical_warning": 0, "power_on_hours": 1, "unsafe_shutdowns": 0})
    }

    /// What `manifest show` prints of `value` written to DIR/manifest.json, with a signature
    /// over `signature` beside it when given (made with a fixed key).
    fn shown_with(dir: &Path, value: &Value, signature: Option<&[u8]>) -> String {
        let file = dir.join("manifest.json");
        let bytes = serde_json::to_vec(value).unwrap();
        std::fs::write(&file, &bytes).unwrap();
        let sig = phoenix_zfs::manifest::signature_path(&file);
        let _ = std::fs::remove_file(&sig);
        if let Some(signed) = signature {
            let key =
                ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[7; 32]));
            let pem = phoenix_zfs::manifest::signing::sign(&key, signed).unwrap();
            std::fs::write(&sig, pem).unwrap();
        }
        let report = fleet::check(&file, &Anchor::Embedded { trusted: true }, 0);
        Shown::new(value, report).text()
    }

    /// The manifest with the schema and layout digest a signed one must carry.
    fn intact() -> Value {
        let mut value = manifest();
        let content = value["layout"]["content"].clone();
        value["schema"] = phoenix_zfs::manifest::SCHEMA.into();
        value["layout"]["sha256"] = phoenix_zfs::manifest::sha256_hex(
            phoenix_zfs::manifest::canonical_json(&content).as_bytes(),
        )
        .into();
        value
    }

    #[test]
    fn it_names_pools_datasets_services_drives_and_the_signature() {
        let dir = tempfile::tempdir().unwrap();
        let value = intact();
        let bytes = serde_json::to_vec(&value).unwrap();
        let text = shown_with(dir.path(), &value, Some(&bytes));
        let m = dir.path().join("manifest.json");
        let m = m.display();
        for expected in [
            format!("manifest {m}: host phoenix-guest\noutcome: refused (exit 3)\n  first\n  second\n"),
            "\npools (2)\n  quickOS  ONLINE    mirror  nvme-A_S2TA0001-part1, nvme-A_S2TA0002-part1\n  tank     DEGRADED  ?\n".into(),
            "\ndatasets (2)\n  quickOS           quota=none\n  quickOS/vm-disks  recordsize=128K compression=lz4 quota=800G\n".into(),
            "\nProxmox storages (2)\n  quickOS-vm-disks     zfspool  pool quickOS/vm-disks, content images\n  fastData-shared-iso  dir      path /fastData/shared-iso, content iso,vztmpl\n".into(),
            "\nNFS exports (1)\n  fastData/shared-iso  rw=@10.0.0.0/24\n".into(),
            "\ndrives (2)\n  nvme0n1  S2TA0001  quickOS  firmware no-known-issue  3% used, 100% spare, 0 media errors, critical warning 0x00; since 2026-12-01T08:00:00Z: percentage_used 0 -> 3\n  nvme2n1  -         -        firmware not-in-policy   health not read\n".into(),
            "\ndeferred (1)\n  nfs fastData/shared-iso  no network\n".into(),
            format!("\nsignature ({m}.sig)\n  signed by SHA256:"),
            format!(" (embedded key; check it with `phoenix-zfs manifest verify --allowed-signers FILE {m}`)\n"),
        ] {
            assert!(text.contains(&expected), "{expected:?} missing from:\n{text}");
        }
        assert!(!text.contains("mountpoint"), "{text}");
    }

    #[test]
    fn an_unsigned_or_changed_manifest_says_so_and_names_no_signer() {
        let dir = tempfile::tempdir().unwrap();
        let value = intact();
        let unsigned = shown_with(dir.path(), &value, None);
        assert!(
            unsigned.contains("\n  unsigned: cannot read the signature "),
            "{unsigned}"
        );
        let changed = shown_with(dir.path(), &value, Some(b"another manifest"));
        assert!(
            changed.contains("\n  signature does not match: bad signature"),
            "{changed}"
        );
        assert!(!changed.contains("signed by"), "{changed}");
    }

    #[test]
    fn json_is_the_shown_object_with_its_schema() {
        let value = manifest();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("manifest.json");
        std::fs::write(&file, serde_json::to_vec(&value).unwrap()).unwrap();
        let report = fleet::check(&file, &Anchor::Embedded { trusted: true }, 0);
        let json = serde_json::to_value(Shown::new(&value, report)).unwrap();
        assert_eq!(json["schema"], SCHEMA);
        assert_eq!(json["signature"], "unsigned");
        assert_eq!(json["signer"], Value::Null);
        assert_eq!(json["host"], "phoenix-guest");
        assert_eq!(json["exit_code"], 3);
        assert_eq!(json["pools"], value["pools"]);
        assert_eq!(json["datasets"], value["datasets"]);
        assert_eq!(json["storages"], value["services"]["storages"]);
        assert_eq!(json["drives"][0]["health"]["current"]["percentage_used"], 3);
        assert_eq!(json.get("layout_pools"), None);
    }

    #[test]
    fn a_table_aligns_its_columns_and_leaves_the_last_ragged() {
        let mut out = String::new();
        let mut rows = vec!["a\tbb\tc, ".to_string(), "ccc\td\teeee".to_string()];
        table(&mut out, "t", &mut rows);
        assert_eq!(out, "\nt (2)\n  a    bb  c\n  ccc  d   eeee\n");
        assert!(rows.is_empty());
    }
}
