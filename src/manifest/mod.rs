//! The completion manifest: what was found and done, as JSON (schema: schema/manifest.schema.json),
//! written atomically and signed with the host's SSH key. A refused or failed run writes one too.

pub mod allowed_signers;
mod build;
pub mod fleet;
pub mod signing;

pub use build::{from_report, host_identity, previous_baselines, RunInfo};

use crate::apply::atomic_file::{write_atomically, WriteError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const SCHEMA: &str = "phoenix-zfs-manifest/1";
pub const DEFAULT_PATH: &str = "/var/lib/phoenix-zfs/manifest.json";
pub const DEFAULT_HOST_KEY: &str = "/etc/ssh/ssh_host_ed25519_key";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub tool: Tool,
    pub host: Host,
    pub command: String,
    /// Where the run happened: a normal host, a rescue target, a host read with `--root`.
    /// Manifests from before it was recorded came from normal hosts.
    #[serde(default = "normal_host")]
    pub situation: crate::host::target::Situation,
    pub started_at: String,
    pub finished_at: String,
    pub layout: LayoutRecord,
    pub drives: Vec<DriveRecord>,
    pub pools: Vec<PoolRecord>,
    pub datasets: Vec<DatasetRecord>,
    pub actions: Vec<ActionRecord>,
    /// Absent from manifests written before services were provisioned.
    #[serde(default)]
    pub services: ServicesRecord,
    pub warnings: Vec<String>,
    pub outcome: Outcome,
}

/// The services around the pools as this run left them, and what it had to leave for later.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServicesRecord {
    /// The layout's Proxmox storages as storage.cfg has them.
    pub storages: Vec<StorageRecord>,
    /// Datasets exported over NFS, with their `sharenfs`.
    pub exports: Vec<ExportRecord>,
    /// The by-id paths smartd.conf watches in phoenix-zfs' block.
    pub smartd_devices: Vec<String>,
    pub deferred: Vec<crate::plan::Deferred>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub settings: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRecord {
    pub dataset: String,
    pub sharenfs: String,
}

/// A drive's NVMe health: the first reading phoenix-zfs took (carried from manifest to
/// manifest) and this run's, so wear since provisioning is one subtraction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthRecord {
    pub baseline: crate::formats::wear::WearBaseline,
    pub baseline_at: String,
    pub current: crate::formats::wear::WearBaseline,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    pub fn this() -> Tool {
        Tool {
            name: "phoenix-zfs".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub hostname: String,
    pub machine_id: Option<String>,
    /// `SHA256:...` of the key that signs this manifest.
    pub host_key_fingerprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayoutRecord {
    /// The file given with --layout, or `<default layout>`.
    pub source: String,
    /// sha256 of `content` in canonical JSON (keys sorted, no spaces): `manifest verify` recomputes it.
    pub sha256: String,
    pub content: Value,
}

impl LayoutRecord {
    pub fn new(source: &str, layout: &crate::layout::Layout) -> LayoutRecord {
        let content = serde_json::to_value(layout).unwrap_or(Value::Null);
        LayoutRecord {
            source: source.to_string(),
            sha256: sha256_hex(canonical_json(&content).as_bytes()),
            content,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriveRecord {
    pub name: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
    pub size_bytes: u64,
    pub logical_block_size: u32,
    pub by_id: String,
    /// The pool it was chosen for; None for drives left alone.
    pub role: Option<String>,
    pub firmware_verdict: crate::firmware::FirmwareVerdict,
    pub signatures_before: Vec<String>,
    /// Pool drives only; None when the controller could not be read (or, in manifests written
    /// before health was read, absent).
    #[serde(default)]
    pub health: Option<HealthRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolRecord {
    pub name: String,
    pub guid: Option<String>,
    pub health: String,
    pub devices: Vec<String>,
    /// `zpool status`'s scan line: a replacement's resilver, in progress or done, or the last
    /// scrub; None when the pool was never scanned (or, in older manifests, absent).
    #[serde(default)]
    pub scan: Option<String>,
    pub properties: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRecord {
    pub name: String,
    pub guid: Option<String>,
    pub properties: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub summary: String,
    pub argv: Vec<String>,
    pub started_at: String,
    pub duration_ms: u64,
    pub result: ActionResult,
    pub exit_code: Option<i32>,
    /// stderr of a failed command, trimmed.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionResult {
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: OutcomeStatus,
    pub exit_code: u8,
    /// Why the run was refused or failed; empty when done.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeStatus {
    /// Changes were made and the host now matches the layout.
    Done,
    /// The host already matched the layout.
    NothingToDo,
    /// Stopped before changing anything (exit 3, 4 or 5).
    Refused,
    /// A command failed during apply (exit 6) or something unexpected happened (exit 1).
    Failed,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// JSON with object keys sorted and no insignificant whitespace, so that the same value always
/// has the same bytes and the same digest.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&map[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The signature file of a manifest: `manifest.json.sig` beside `manifest.json`.
pub fn signature_path(manifest: &Path) -> PathBuf {
    let mut name = manifest.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// RFC 3339 UTC time, to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Why a file is not a manifest this phoenix-zfs can read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestReadError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} line {line} column {column} is not a manifest as phoenix-zfs writes it ({SCHEMA}); name the manifest.json a phoenix-zfs run wrote, unedited",
        path.display()
    )]
    NotAManifest {
        path: PathBuf,
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },
}

impl Manifest {
    /// The manifest in `path`, and its bytes exactly as on disk: the signature covers those, never
    /// a re-serialisation of what they say. The hook's own readers (fleet, `manifest show`, the
    /// previous baselines) read a `Value` instead: this reader's derived code would cost the
    /// hook 39 KB (BENCHMARKS.md, "Binary size").
    pub fn read(path: &Path) -> Result<(Vec<u8>, Manifest), ManifestReadError> {
        let bytes = std::fs::read(path).map_err(|source| ManifestReadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let manifest = Manifest::parse(path, &bytes)?;
        Ok((bytes, manifest))
    }

    /// `bytes` read from `path` (named in the error) as a manifest.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Manifest, ManifestReadError> {
        serde_json::from_slice(bytes).map_err(|source| ManifestReadError::NotAManifest {
            path: path.to_path_buf(),
            line: source.line(),
            column: source.column(),
            source,
        })
    }
}

fn normal_host() -> crate::host::target::Situation {
    crate::host::target::Situation::NormalHost
}

/// Why the manifest or its signature is not on disk.
#[derive(Debug, thiserror::Error)]
pub enum ManifestWriteError {
    #[error("cannot serialise the manifest")]
    Serialise(#[source] serde_json::Error),
    #[error(transparent)]
    Sign(#[from] signing::SigningError),
    #[error("cannot remove the old signature {}", path.display())]
    StaleSignature {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Writes the manifest (pretty JSON, keys sorted) and its signature, each atomically: the
/// manifest first, so a signature on disk always belongs to the manifest beside it or to none.
pub fn write_signed(
    manifest: &Manifest,
    path: &Path,
    key: &ssh_key::PrivateKey,
) -> Result<(), ManifestWriteError> {
    let mut text = serde_json::to_value(manifest)
        .and_then(|value| serde_json::to_string_pretty(&value))
        .map_err(ManifestWriteError::Serialise)?;
    text.push('\n');
    let signature = signing::sign(key, text.as_bytes())?;
    let sig_path = signature_path(path);
    // A stale signature must not sit beside a new manifest, even for the moment between writes.
    match std::fs::remove_file(&sig_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ManifestWriteError::StaleSignature {
                path: sig_path,
                source,
            })
        }
    }
    write_atomically(path, text.as_bytes())?;
    Ok(write_atomically(&sig_path, signature.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[{"z":1,"y":"x"}],"c":null}}"#).unwrap();
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"d":[{"y":"x","z":1}]},"b":1}"#
        );
    }

    /// A manifest with one of each record, as the writer fills them.
    fn written() -> Manifest {
        let wear = crate::formats::wear::WearBaseline {
            percentage_used: 3,
            available_spare: 100,
            available_spare_threshold: 10,
            data_units_written: 7,
            media_errors: 0,
            critical_warning: 0,
            power_on_hours: 5,
            unsafe_shutdowns: 1,
        };
        let props = |k: &str, v: &str| [(k.to_string(), v.to_string())].into();
        Manifest {
            schema: SCHEMA.into(),
            tool: Tool::this(),
            host: Host {
                hostname: "pve-a".into(),
                machine_id: Some("0123".into()),
                host_key_fingerprint: None,
            },
            command: "apply".into(),
            situation: crate::host::target::Situation::RescueTarget {
                target: "rescue.target".into(),
            },
            started_at: "2026-12-01T08:00:00Z".into(),
            finished_at: "2026-12-01T08:00:09Z".into(),
            layout: LayoutRecord::new("<default layout>", &crate::layout::Layout::default_layout()),
            drives: vec![DriveRecord {
                name: "nvme0n1".into(),
                model: Some("QEMU NVMe Ctrl".into()),
                serial: Some("S2TA0001".into()),
                firmware: None,
                size_bytes: 1 << 30,
                logical_block_size: 512,
                by_id: "/dev/disk/by-id/nvme-QEMU_S2TA0001".into(),
                role: Some("quickOS".into()),
                firmware_verdict: crate::firmware::FirmwareVerdict::NotComparable {
                    minimum: "2.0".into(),
                },
                signatures_before: vec!["gpt at 512".into()],
                health: Some(HealthRecord {
                    baseline: wear,
                    baseline_at: "2026-11-01T08:00:00Z".into(),
                    current: wear,
                }),
            }],
            pools: vec![PoolRecord {
                name: "quickOS".into(),
                guid: Some("42".into()),
                health: "ONLINE".into(),
                devices: vec!["/dev/disk/by-id/nvme-QEMU_S2TA0001-part1".into()],
                scan: Some("scrub repaired 0B".into()),
                properties: props("ashift", "12"),
            }],
            datasets: vec![DatasetRecord {
                name: "quickOS/vm-disks".into(),
                guid: None,
                properties: props("recordsize", "16384"),
            }],
            actions: vec![ActionRecord {
                summary: "create pool quickOS".into(),
                argv: vec!["zpool".into(), "create".into()],
                started_at: "2026-12-01T08:00:01Z".into(),
                duration_ms: 80,
                result: ActionResult::Failed,
                exit_code: Some(1),
                error: Some("no such device".into()),
            }],
            services: ServicesRecord {
                storages: vec![StorageRecord {
                    id: "quickOS-vm-disks".into(),
                    kind: "zfspool".into(),
                    settings: props("pool", "quickOS/vm-disks"),
                }],
                exports: vec![ExportRecord {
                    dataset: "fastData/shared-iso".into(),
                    sharenfs: "rw".into(),
                }],
                smartd_devices: vec!["/dev/disk/by-id/nvme-QEMU_S2TA0001".into()],
                deferred: vec![crate::plan::Deferred {
                    subject: "nfs fastData/shared-iso".into(),
                    why: "no network".into(),
                }],
            },
            warnings: vec!["W1: a warning".into()],
            outcome: Outcome {
                status: OutcomeStatus::Failed,
                exit_code: 6,
                reasons: vec!["`zpool create` failed".into()],
            },
        }
    }

    /// `manifest` as `write_signed` puts it on disk.
    fn bytes_of(manifest: &Manifest) -> Vec<u8> {
        let value = serde_json::to_value(manifest).unwrap();
        serde_json::to_vec_pretty(&value).unwrap()
    }

    #[test]
    fn a_written_manifest_reads_back_equal() {
        let manifest = written();
        let path = Path::new("/var/lib/phoenix-zfs/manifest.json");
        assert_eq!(
            Manifest::parse(path, &bytes_of(&manifest)).unwrap(),
            manifest
        );
    }

    #[test]
    fn a_manifest_from_before_the_later_fields_still_reads() {
        let mut value = serde_json::to_value(written()).unwrap();
        let root = value.as_object_mut().unwrap();
        root.remove("situation");
        root.remove("services");
        value["drives"][0].as_object_mut().unwrap().remove("health");
        value["pools"][0].as_object_mut().unwrap().remove("scan");
        let old = Manifest::parse(Path::new("old.json"), value.to_string().as_bytes()).unwrap();
        assert_eq!(old.situation, crate::host::target::Situation::NormalHost);
        assert_eq!(old.services, ServicesRecord::default());
        assert_eq!((&old.drives[0].health, &old.pools[0].scan), (&None, &None));
        // A newer writer's field is read past, not refused.
        value["pools"][0]["later"] = "x".into();
        assert!(Manifest::parse(Path::new("new.json"), value.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn a_malformed_manifest_is_named_with_its_line_and_column() {
        let mut value = serde_json::to_value(written()).unwrap();
        value["outcome"]["exit_code"] = "six".into();
        let text = serde_json::to_string_pretty(&value).unwrap();
        let line = text.lines().position(|l| l.contains("\"six\"")).unwrap() + 1;
        let err =
            Manifest::parse(Path::new("/srv/pve-a/manifest.json"), text.as_bytes()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("/srv/pve-a/manifest.json line {line} column ")),
            "{message}"
        );
        assert!(message.contains("name the manifest.json"), "{message}");
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(cause.contains("invalid type: string \"six\""), "{cause}");
        let missing = Manifest::read(Path::new("/nonexistent/manifest.json")).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "cannot read /nonexistent/manifest.json"
        );
    }

    #[test]
    fn signature_sits_beside_the_manifest() {
        assert_eq!(
            signature_path(Path::new("/var/lib/phoenix-zfs/manifest.json")),
            Path::new("/var/lib/phoenix-zfs/manifest.json.sig")
        );
    }
}
