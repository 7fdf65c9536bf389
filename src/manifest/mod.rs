//! The completion manifest: what was found and done, as JSON (schema: schema/manifest.schema.json),
//! written atomically and signed with the host's SSH key. A refused or failed run writes one too.

pub mod allowed_signers;
mod build;
pub mod fleet;
pub mod signing;

pub use build::{from_report, host_identity, previous_baselines, RunInfo};

use crate::apply::atomic_file::{write_atomically, WriteError};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const SCHEMA: &str = "phoenix-zfs-manifest/1";
pub const DEFAULT_PATH: &str = "/var/lib/phoenix-zfs/manifest.json";
pub const DEFAULT_HOST_KEY: &str = "/etc/ssh/ssh_host_ed25519_key";

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub schema: &'static str,
    pub tool: Tool,
    pub host: Host,
    pub command: String,
    /// Where the run happened: a normal host, a rescue target, a host read with `--root`.
    pub situation: crate::host::target::Situation,
    pub started_at: String,
    pub finished_at: String,
    pub layout: LayoutRecord,
    pub drives: Vec<DriveRecord>,
    pub pools: Vec<PoolRecord>,
    pub datasets: Vec<DatasetRecord>,
    pub actions: Vec<ActionRecord>,
    pub services: ServicesRecord,
    pub warnings: Vec<String>,
    pub outcome: Outcome,
}

/// The services around the pools as this run left them, and what it had to leave for later.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServicesRecord {
    /// The layout's Proxmox storages as storage.cfg has them.
    pub storages: Vec<StorageRecord>,
    /// Datasets exported over NFS, with their `sharenfs`.
    pub exports: Vec<ExportRecord>,
    /// The by-id paths smartd.conf watches in phoenix-zfs' block.
    pub smartd_devices: Vec<String>,
    pub deferred: Vec<crate::plan::Deferred>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StorageRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub settings: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportRecord {
    pub dataset: String,
    pub sharenfs: String,
}

/// A drive's NVMe health: the first reading phoenix-zfs took (carried from manifest to
/// manifest) and this run's, so wear since provisioning is one subtraction.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct HealthRecord {
    pub baseline: crate::formats::wear::WearBaseline,
    pub baseline_at: String,
    pub current: crate::formats::wear::WearBaseline,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Tool {
    pub fn this() -> Tool {
        Tool {
            name: "phoenix-zfs",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub hostname: String,
    pub machine_id: Option<String>,
    /// `SHA256:...` of the key that signs this manifest.
    pub host_key_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
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
    /// Pool drives only; None when the controller could not be read.
    pub health: Option<HealthRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolRecord {
    pub name: String,
    pub guid: Option<String>,
    pub health: String,
    pub devices: Vec<String>,
    /// `zpool status`'s scan line: a replacement's resilver, in progress or done, or the last
    /// scrub; None when the pool was never scanned.
    pub scan: Option<String>,
    pub properties: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatasetRecord {
    pub name: String,
    pub guid: Option<String>,
    pub properties: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionResult {
    Done,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub status: OutcomeStatus,
    pub exit_code: u8,
    /// Why the run was refused or failed; empty when done.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

    #[test]
    fn signature_sits_beside_the_manifest() {
        assert_eq!(
            signature_path(Path::new("/var/lib/phoenix-zfs/manifest.json")),
            Path::new("/var/lib/phoenix-zfs/manifest.json.sig")
        );
    }
}
