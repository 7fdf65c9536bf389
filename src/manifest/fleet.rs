//! Manifests of many hosts checked at once: each one's signature against a trust anchor (an
//! allowed_signers file whose principal is the host name the manifest records, one public key,
//! or, only when asked, the key inside the signature), its digests, and what the run did, as one
//! verdict per host.

use super::allowed_signers::AllowedSigners;
use super::signing::{self, VerifyError, NAMESPACE};
use super::{canonical_json, sha256_hex, signature_path, SCHEMA};
use crate::exit::Exit;
use serde::Serialize;
use serde_json::Value;
use ssh_key::{HashAlg, PublicKey};
use std::path::Path;

/// Who vouches for the signers.
pub enum Anchor<'a> {
    AllowedSigners(&'a AllowedSigners),
    /// `--key PUB`: every manifest must be signed by this key.
    Key(&'a PublicKey),
    /// No anchor: the key inside each signature; `trusted` with --trust-embedded-key.
    Embedded {
        trusted: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Trusted signature, intact, and the run left the host matching its layout.
    Ok,
    /// Trusted and intact, but the run refused (exit 3-5) or failed (exit 1, 6).
    Refused,
    Failed,
    /// Intact, but signed by a key nothing vouches for.
    Untrusted,
    /// Intact, but the signer is not the key the anchor names for this host.
    NotAllowed,
    /// No signature beside the manifest.
    Unsigned,
    /// Unreadable, not a manifest, a bad signature or a changed byte.
    Invalid,
}

impl Verdict {
    /// Whether the manifest itself is in doubt (as opposed to the host's run).
    pub fn is_check_failure(self) -> bool {
        !matches!(self, Verdict::Ok | Verdict::Refused | Verdict::Failed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolSummary {
    pub name: String,
    pub health: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeferredSummary {
    pub subject: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriveSummary {
    pub drive: String,
    /// The firmware verdict's name (`no-known-issue`, `known-bad`, ...).
    pub firmware: String,
    /// How the wear counters moved since the baseline (`percentage_used 0 -> 3`); empty when
    /// they did not, or the drive has no reading.
    pub wear_moved: Vec<String>,
}

/// One host's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub file: String,
    /// The host name the manifest records; None when it cannot be read.
    pub host: Option<String>,
    pub verdict: Verdict,
    /// Why the verdict is not `ok`, or what vouched for the signer.
    pub detail: String,
    /// `SHA256:...` of the key that made the signature.
    pub signer: Option<String>,
    pub outcome: Option<String>,
    pub exit_code: Option<u64>,
    /// Why the run was refused or failed.
    pub reasons: Vec<String>,
    pub pools: Vec<PoolSummary>,
    pub deferred: Vec<DeferredSummary>,
    pub drives: Vec<DriveSummary>,
}

/// The wear counters whose movement matters: life used, spare left, media errors, warnings.
const WEAR_FIELDS: [&str; 4] = [
    "percentage_used",
    "available_spare",
    "media_errors",
    "critical_warning",
];

/// Checks one manifest file and its `.sig`. `now` is seconds since the epoch (for
/// allowed_signers' valid-after and valid-before).
pub fn check(path: &Path, anchor: &Anchor<'_>, now: u64) -> Report {
    match read(path) {
        Ok((bytes, value)) => check_read(path, &bytes, &value, anchor, now),
        Err(detail) => Report {
            detail,
            ..Report::of(path)
        },
    }
}

/// A manifest's bytes, which its signature covers, and their JSON; or why there are none.
pub fn read(path: &Path) -> Result<(Vec<u8>, Value), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    Ok((bytes, value))
}

/// [`check`] of a manifest already read from `path` (`bytes`, parsed as `value`); its signature
/// is read beside it.
pub fn check_read(
    path: &Path,
    bytes: &[u8],
    value: &Value,
    anchor: &Anchor<'_>,
    now: u64,
) -> Report {
    let mut report = Report::of(path);
    report.host = value["host"]["hostname"].as_str().map(str::to_string);
    summarize(value, &mut report);
    let sig_path = signature_path(path);
    let pem = match std::fs::read_to_string(&sig_path) {
        Ok(p) => p,
        Err(e) => {
            report.verdict = Verdict::Unsigned;
            report.detail = format!("cannot read the signature {}: {e}", sig_path.display());
            return report;
        }
    };
    let signer = match intact(bytes, &pem, value) {
        Ok(signer) => signer,
        Err(why) => {
            report.detail = crate::report::Report(&why).to_string();
            return report;
        }
    };
    let fingerprint = signer.fingerprint(HashAlg::Sha256).to_string();
    report.signer = Some(fingerprint.clone());
    let vouched = match anchor {
        Anchor::AllowedSigners(signers) => {
            let host = report.host.clone().unwrap_or_default();
            signers
                .allows(&host, &signer, NAMESPACE, now)
                .map(|entry| format!("{} line {} for {host}", signers.source, entry.line))
                .map_err(|why| (Verdict::NotAllowed, why))
        }
        Anchor::Key(key) if key.key_data() == signer.key_data() => Ok("the given key".into()),
        Anchor::Key(key) => Err((
            Verdict::NotAllowed,
            format!(
                "signed by {fingerprint}, not by the given key {}",
                key.fingerprint(HashAlg::Sha256)
            ),
        )),
        Anchor::Embedded { trusted: true } => {
            Ok("the key inside the signature, trusted by --trust-embedded-key".into())
        }
        Anchor::Embedded { trusted: false } => Err((
            Verdict::Untrusted,
            format!(
                "signed by {fingerprint}, the key inside the signature, which nothing vouches for: `{}` (or --key PUB, or --trust-embedded-key to accept it)",
                crate::remedy::VERIFY_SIGNED
            ),
        )),
    };
    match vouched {
        Ok(by) => {
            report.detail = by;
            report.verdict = match report.outcome.as_deref() {
                Some("done" | "nothing-to-do") => Verdict::Ok,
                Some("refused") => Verdict::Refused,
                _ => Verdict::Failed,
            };
        }
        Err((verdict, why)) => {
            report.verdict = verdict;
            report.detail = why;
        }
    }
    report
}

/// Why a signed manifest is not the one its host wrote.
#[derive(Debug, thiserror::Error)]
enum NotIntact {
    #[error(transparent)]
    Signature(#[from] VerifyError),
    #[error("schema is {0}, expected \"{SCHEMA}\"")]
    Schema(Value),
    #[error("layout digest {recorded} does not match its content ({actual})")]
    LayoutDigest { recorded: String, actual: String },
    #[error("signed by {signer}, but the manifest names host key {named}")]
    HostKey { signer: String, named: String },
}

/// The signer, when `pem` is a good manifest signature over `bytes` by the key it carries and
/// the manifest's own digests and host key agree.
fn intact(bytes: &[u8], pem: &str, value: &Value) -> Result<PublicKey, NotIntact> {
    let signer = signing::verify(bytes, pem)?;
    if value["schema"] != SCHEMA {
        return Err(NotIntact::Schema(value["schema"].clone()));
    }
    let recorded = value["layout"]["sha256"].as_str().unwrap_or_default();
    let actual = sha256_hex(canonical_json(&value["layout"]["content"]).as_bytes());
    if recorded != actual {
        return Err(NotIntact::LayoutDigest {
            recorded: recorded.to_string(),
            actual,
        });
    }
    let signer_fingerprint = signer.fingerprint(HashAlg::Sha256).to_string();
    if let Some(named) = value["host"]["host_key_fingerprint"].as_str() {
        if named != signer_fingerprint {
            return Err(NotIntact::HostKey {
                signer: signer_fingerprint,
                named: named.to_string(),
            });
        }
    }
    Ok(signer)
}

/// What the run did, read from the manifest (trusted only as far as the verdict says).
fn summarize(value: &Value, report: &mut Report) {
    let text = |v: &Value| v.as_str().unwrap_or("?").to_string();
    let items = |v: &Value| v.as_array().cloned().unwrap_or_default();
    report.outcome = value["outcome"]["status"].as_str().map(str::to_string);
    report.exit_code = value["outcome"]["exit_code"].as_u64();
    report.reasons = items(&value["outcome"]["reasons"])
        .iter()
        .map(text)
        .collect();
    report.pools = items(&value["pools"])
        .iter()
        .map(|p| PoolSummary {
            name: text(&p["name"]),
            health: text(&p["health"]),
        })
        .collect();
    report.deferred = items(&value["services"]["deferred"])
        .iter()
        .map(|d| DeferredSummary {
            subject: text(&d["subject"]),
            why: text(&d["why"]),
        })
        .collect();
    report.drives = items(&value["drives"])
        .iter()
        .map(|d| {
            let health = &d["health"];
            let wear_moved = WEAR_FIELDS
                .iter()
                .filter_map(|field| {
                    let (before, now) = (&health["baseline"][field], &health["current"][field]);
                    (before.is_u64() && now.is_u64() && before != now)
                        .then(|| format!("{field} {before} -> {now}"))
                })
                .collect();
            DriveSummary {
                drive: text(&d["name"]),
                firmware: text(&d["firmware_verdict"]["verdict"]),
                wear_moved,
            }
        })
        .collect();
}

impl Report {
    /// The report of a manifest not yet read: invalid until checked.
    fn of(path: &Path) -> Report {
        Report {
            file: path.display().to_string(),
            host: None,
            verdict: Verdict::Invalid,
            detail: String::new(),
            signer: None,
            outcome: None,
            exit_code: None,
            reasons: Vec::new(),
            pools: Vec::new(),
            deferred: Vec::new(),
            drives: Vec::new(),
        }
    }

    /// One line: `HOST: VERDICT: ...; outcome ...; pools ...; deferred ...; wear moved ...;
    /// firmware ...`.
    pub fn line(&self) -> String {
        let host = self.host.as_deref().unwrap_or(&self.file);
        let verdict = match self.verdict {
            Verdict::Ok => "ok",
            Verdict::Refused => "refused",
            Verdict::Failed => "failed",
            Verdict::Untrusted => "UNTRUSTED",
            Verdict::NotAllowed => "NOT ALLOWED",
            Verdict::Unsigned => "UNSIGNED",
            Verdict::Invalid => "INVALID",
        };
        let head = match (self.verdict, &self.signer) {
            (Verdict::Ok | Verdict::Refused | Verdict::Failed, Some(signer)) => {
                format!(
                    "{host}: {verdict}: good signature by {signer} ({})",
                    self.detail
                )
            }
            _ => format!("{host}: {verdict}: {}", self.detail),
        };
        if matches!(self.verdict, Verdict::Invalid | Verdict::Unsigned) {
            return format!("{head} [{}]", self.file);
        }
        // The first line of the first reason: the rest is in the manifest and in --json.
        let reason = self
            .reasons
            .first()
            .and_then(|r| r.lines().next())
            .map(|r| match self.reasons.len() {
                1 => format!(": {r}"),
                n => format!(": {r}; {} more", n - 1),
            })
            .unwrap_or_default();
        let outcome = match (&self.outcome, self.exit_code) {
            (Some(o), Some(code)) if code != 0 => format!("{o} (exit {code}{reason})"),
            (Some(o), _) => o.clone(),
            (None, _) => "unknown".into(),
        };
        let pools = list(
            self.pools
                .iter()
                .map(|p| format!("{} {}", p.name, p.health)),
        );
        let deferred = list(self.deferred.iter().map(|d| d.subject.clone()));
        let wear = list(
            self.drives
                .iter()
                .filter(|d| !d.wear_moved.is_empty())
                .map(|d| format!("{} {}", d.drive, d.wear_moved.join(", "))),
        );
        format!(
            "{head}; outcome {outcome}; pools {pools}; deferred {deferred}; wear moved {wear}; firmware {}",
            self.firmware()
        )
    }

    /// `no-known-issue 2, not-in-policy 1`, with the drives named for any other verdict.
    fn firmware(&self) -> String {
        let mut kinds: Vec<&str> = self.drives.iter().map(|d| d.firmware.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let parts = kinds.into_iter().map(|kind| {
            let drives: Vec<&str> = self
                .drives
                .iter()
                .filter(|d| d.firmware == kind)
                .map(|d| d.drive.as_str())
                .collect();
            if matches!(kind, "no-known-issue" | "not-in-policy") {
                format!("{kind} {}", drives.len())
            } else {
                format!("{kind} {}", drives.join(" "))
            }
        });
        list(parts)
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// The exit status for a set of verdicts: 1 when any manifest is in doubt (unsigned, invalid,
/// untrusted, not allowed), else 8 when any host's run was refused or failed, else 0.
pub fn exit(reports: &[Report]) -> Exit {
    if reports.iter().any(|r| r.verdict.is_check_failure()) {
        Exit::ManifestInDoubt
    } else if reports
        .iter()
        .any(|r| matches!(r.verdict, Verdict::Refused | Verdict::Failed))
    {
        Exit::RunNotDone
    } else {
        Exit::Done
    }
}

/// `3 manifests: 1 ok, 1 refused, 1 not-allowed`.
pub fn tally(reports: &[Report]) -> String {
    let mut counts: Vec<(Verdict, usize)> = Vec::new();
    for r in reports {
        match counts.iter_mut().find(|(v, _)| *v == r.verdict) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.verdict, 1)),
        }
    }
    counts.sort_by_key(|(v, _)| *v as u8);
    let parts: Vec<String> = counts
        .iter()
        .map(|(v, n)| {
            let name = serde_json::to_value(v)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            format!("{n} {name}")
        })
        .collect();
    format!(
        "{} manifest{}: {}",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        parts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(host: &str, verdict: Verdict) -> Report {
        Report {
            file: format!("{host}/manifest.json"),
            host: Some(host.into()),
            verdict,
            detail: "allowed_signers line 1 for pve-a".into(),
            signer: Some("SHA256:x".into()),
            outcome: Some("done".into()),
            exit_code: Some(0),
            reasons: Vec::new(),
            pools: vec![PoolSummary {
                name: "quickOS".into(),
                health: "DEGRADED".into(),
            }],
            deferred: Vec::new(),
            drives: vec![
                DriveSummary {
                    drive: "nvme0n1".into(),
                    firmware: "no-known-issue".into(),
                    wear_moved: Vec::new(),
                },
                DriveSummary {
                    drive: "nvme1n1".into(),
                    firmware: "known-bad".into(),
                    wear_moved: vec!["media_errors 0 -> 2".into()],
                },
            ],
        }
    }

    #[test]
    fn a_line_says_health_wear_and_firmware_by_drive() {
        assert_eq!(
            report("pve-a", Verdict::Ok).line(),
            "pve-a: ok: good signature by SHA256:x (allowed_signers line 1 for pve-a); outcome done; pools quickOS DEGRADED; deferred none; wear moved nvme1n1 media_errors 0 -> 2; firmware known-bad nvme1n1, no-known-issue 1"
        );
        let mut unsigned = report("pve-b", Verdict::Unsigned);
        unsigned.detail = "cannot read the signature".into();
        assert_eq!(
            unsigned.line(),
            "pve-b: UNSIGNED: cannot read the signature [pve-b/manifest.json]"
        );
    }

    #[test]
    fn a_manifest_in_doubt_outweighs_a_refused_run() {
        let ok = report("a", Verdict::Ok);
        let refused = report("b", Verdict::Refused);
        let untrusted = report("c", Verdict::Untrusted);
        assert_eq!(exit(std::slice::from_ref(&ok)).code(), 0);
        assert_eq!(exit(&[ok.clone(), refused.clone()]).code(), 8);
        assert_eq!(exit(&[refused.clone(), untrusted.clone()]).code(), 1);
        assert_eq!(
            tally(&[untrusted, ok.clone(), refused, ok]),
            "4 manifests: 2 ok, 1 refused, 1 untrusted"
        );
    }
}
