//! Firmware policy: NVMe firmware revisions known to destroy drives or data, and the verdict for
//! each drive. The built-in rules below come from public reports, cited next to each entry.

use crate::glob;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// What a failing verdict does to the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    /// Stop before any change (exit 4).
    #[default]
    Enforce,
    /// Go on, and record the verdict in the manifest.
    Warn,
}

/// How bad one finding is on its own, before the layout's mode is applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Data or drive at risk: refused under `enforce`.
    #[default]
    Refuse,
    /// Worth knowing, never a reason to stop (e.g. a bug seen only under another OS).
    Warn,
}

/// A revision with a known problem, or the minimum below which drives have one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub revision: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_by: Option<String>,
    /// Where this is documented, so an administrator can check it.
    pub source: String,
    #[serde(default)]
    pub severity: Severity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmwareRule {
    /// Glob over the drive's model string.
    pub model: String,
    #[serde(default)]
    pub bad: Vec<Finding>,
    /// Revisions older than this one have the finding's problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<Finding>,
}

fn finding(
    revision: &str,
    reason: &str,
    fixed_by: Option<&str>,
    source: &str,
    severity: Severity,
) -> Finding {
    Finding {
        revision: revision.into(),
        reason: reason.into(),
        fixed_by: fixed_by.map(Into::into),
        source: source.into(),
        severity,
    }
}

/// The policy shipped with phoenix-zfs.
pub fn builtin_rules() -> Vec<FirmwareRule> {
    vec![
        FirmwareRule {
            model: "Samsung SSD 980 PRO*".into(),
            // Drives (mostly 2 TB) locked themselves read-only as media errors climbed and spare fell.
            bad: vec![finding(
                "3B2QGXA7",
                "drives lock themselves read-only after media errors climb and available spare falls",
                Some("5B2QGXA7"),
                "Tom's Hardware France, \"Samsung publie un correctif pour les SSD 980 Pro mourants\"; hwupgrade.it, 1 Feb 2023; nascompares.com, 2 Feb 2023",
                Severity::Refuse,
            )],
            minimum: None,
        },
        FirmwareRule {
            model: "Samsung SSD 990 PRO*".into(),
            // Health fell 10-30 % within days; read-only at 0 %. The update does not restore lost health.
            bad: vec![finding(
                "0B2QJXD7",
                "available spare and media errors miscounted: health falls fast and the drive turns read-only at 0 %",
                Some("1B2QJXD7"),
                "tomshardware.com/news/samsung-990-pro-health-dropping-fast; tomshardware.com/news/samsung-990-pro-firmware-update-released-ssd-health",
                Severity::Refuse,
            )],
            minimum: None,
        },
        FirmwareRule {
            model: "WD_BLACK SN770*2TB".into(),
            bad: vec![],
            // Crashes under Windows 11 24H2 (host memory buffer): irrelevant to Linux, so a warning.
            minimum: Some(finding(
                "731130WD",
                "crashes under Windows 11 24H2 with the host memory buffer (Windows only)",
                Some("731130WD"),
                "SanDisk knowledge base, a_id 51469",
                Severity::Warn,
            )),
        },
        FirmwareRule {
            model: "WD Blue SN580*2TB".into(),
            bad: vec![],
            minimum: Some(finding(
                "281050WD",
                "crashes under Windows 11 24H2 with the host memory buffer (Windows only)",
                Some("281050WD"),
                "SanDisk knowledge base, a_id 51469",
                Severity::Warn,
            )),
        },
    ]
}

pub fn validate_rules(rules: &[FirmwareRule]) -> Result<(), String> {
    for rule in rules {
        if rule.model.trim().is_empty() {
            return Err("a [[firmware.rule]] has an empty model pattern".into());
        }
        for f in rule.bad.iter().chain(&rule.minimum) {
            if f.revision.trim().is_empty()
                || f.reason.trim().is_empty()
                || f.source.trim().is_empty()
            {
                return Err(format!(
                    "firmware rule for `{}`: every finding needs revision, reason and source (where it is documented)",
                    rule.model
                ));
            }
        }
        if let Some(min) = &rule.minimum {
            if !comparable(&min.revision, &min.revision) {
                return Err(format!(
                    "firmware rule for `{}`: minimum `{}` has no digits to compare",
                    rule.model, min.revision
                ));
            }
        }
    }
    Ok(())
}

/// The verdict on one drive's firmware.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum FirmwareVerdict {
    /// A rule covers this model and the revision has no known problem.
    NoKnownIssue,
    /// No rule covers this model: nothing is known either way.
    NotInPolicy,
    KnownBad {
        finding: Finding,
    },
    BelowMinimum {
        finding: Finding,
    },
    /// A minimum exists, but the revision cannot be ordered against it (a different numbering).
    NotComparable {
        minimum: String,
    },
}

impl FirmwareVerdict {
    /// Whether the run must stop under this policy mode.
    pub fn refuses(&self, mode: Enforcement) -> bool {
        match self {
            FirmwareVerdict::KnownBad { finding } | FirmwareVerdict::BelowMinimum { finding } => {
                mode == Enforcement::Enforce && finding.severity == Severity::Refuse
            }
            _ => false,
        }
    }

    pub fn is_problem(&self) -> bool {
        matches!(
            self,
            FirmwareVerdict::KnownBad { .. } | FirmwareVerdict::BelowMinimum { .. }
        )
    }
}

/// Each verdict first by its JSON name (`known-bad`, `not-in-policy`...), then what it rests on.
impl fmt::Display for FirmwareVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirmwareVerdict::NoKnownIssue => f.write_str("no-known-issue"),
            FirmwareVerdict::NotInPolicy => f.write_str("not-in-policy: no rule covers the model"),
            FirmwareVerdict::KnownBad { finding } => {
                write!(f, "known-bad: {}", finding.reason)?;
                if let Some(fix) = &finding.fixed_by {
                    write!(f, "; fixed by {fix}")?;
                }
                write!(f, " (source: {})", finding.source)
            }
            FirmwareVerdict::BelowMinimum { finding } => {
                write!(
                    f,
                    "below-minimum: older than {}: {} (source: {})",
                    finding.revision, finding.reason, finding.source
                )
            }
            FirmwareVerdict::NotComparable { minimum } => {
                write!(f, "not-comparable with the minimum {minimum}")
            }
        }
    }
}

/// Judges one drive: layout rules first (they are the administrator's), then the built-in ones.
pub fn verdict(model: &str, revision: &str, layout_rules: &[FirmwareRule]) -> FirmwareVerdict {
    let builtin = builtin_rules();
    let applicable: Vec<&FirmwareRule> = layout_rules
        .iter()
        .chain(builtin.iter())
        .filter(|r| glob::matches(&r.model, model))
        .collect();
    if applicable.is_empty() {
        return FirmwareVerdict::NotInPolicy;
    }
    let revision = revision.trim();
    for rule in &applicable {
        if let Some(f) = rule
            .bad
            .iter()
            .find(|f| f.revision.eq_ignore_ascii_case(revision))
        {
            return FirmwareVerdict::KnownBad { finding: f.clone() };
        }
    }
    for rule in &applicable {
        if let Some(min) = &rule.minimum {
            if !comparable(revision, &min.revision) {
                return FirmwareVerdict::NotComparable {
                    minimum: min.revision.clone(),
                };
            }
            if compare_revisions(revision, &min.revision) == Ordering::Less {
                return FirmwareVerdict::BelowMinimum {
                    finding: min.clone(),
                };
            }
        }
    }
    FirmwareVerdict::NoKnownIssue
}

#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Number(u64),
    Text(&'a str),
}

fn pieces(rev: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = rev;
    while let Some(first) = rest.chars().next() {
        let digit = first.is_ascii_digit();
        let end = rest
            .find(|c: char| c.is_ascii_digit() != digit)
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at(end);
        out.push(match run.parse::<u64>() {
            Ok(n) if digit => Piece::Number(n),
            _ => Piece::Text(run),
        });
        rest = tail;
    }
    out
}

/// Two revisions can be ordered when they have the same shape: the same text between their numbers
/// (`3B2QGXA7` and `5B2QGXA7`, `10.0.2` and `10.1.0`). Vendors number firmware in their own ways, and
/// guessing across shapes would turn a policy into noise.
fn comparable(a: &str, b: &str) -> bool {
    let (pa, pb) = (pieces(a), pieces(b));
    pa.len() == pb.len()
        && pa.iter().any(|p| matches!(p, Piece::Number(_)))
        && pa.iter().zip(&pb).all(|(x, y)| match (x, y) {
            (Piece::Number(_), Piece::Number(_)) => true,
            (Piece::Text(s), Piece::Text(t)) => s.eq_ignore_ascii_case(t),
            _ => false,
        })
}

fn compare_revisions(a: &str, b: &str) -> Ordering {
    for (x, y) in pieces(a).iter().zip(pieces(b).iter()) {
        if let (Piece::Number(m), Piece::Number(n)) = (x, y) {
            match m.cmp(n) {
                Ordering::Equal => continue,
                other => return other,
            }
        }
    }
    Ordering::Equal
}

/// The verdict on one drive chosen for a pool, for the plan, `detect` and the manifest. In
/// detect's JSON, the verdict's fields stand beside the drive's (`cli/render.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveFirmware {
    /// Kernel name (`nvme0n1`), to find the drive in the match report.
    pub name: String,
    /// The drive in words, for messages.
    pub drive: String,
    pub serial: Option<String>,
    pub model: String,
    pub revision: String,
    pub verdict: FirmwareVerdict,
}

/// Judges every NVMe drive of the inventory (not only the chosen ones: a bad drive left alone is
/// still worth a line in `detect`).
pub fn judge(
    inventory: &crate::model::disk::Inventory,
    layout_rules: &[FirmwareRule],
) -> Vec<DriveFirmware> {
    inventory
        .disks
        .iter()
        .filter(|d| d.transport == crate::model::disk::Transport::Nvme)
        .map(|d| {
            let model = d.model.clone().unwrap_or_default();
            let revision = d.firmware.clone().unwrap_or_default();
            DriveFirmware {
                name: d.name.clone(),
                drive: d.describe(),
                serial: d.serial.clone(),
                verdict: verdict(&model, &revision, layout_rules),
                model,
                revision,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_bad_samsung_revisions_are_refused() {
        let v = verdict("Samsung SSD 980 PRO 2TB", "3B2QGXA7", &[]);
        assert!(
            matches!(&v, FirmwareVerdict::KnownBad { finding } if finding.fixed_by.as_deref() == Some("5B2QGXA7"))
        );
        assert!(v.refuses(Enforcement::Enforce));
        assert!(!v.refuses(Enforcement::Warn));
        assert_eq!(
            verdict("Samsung SSD 980 PRO 2TB", "5B2QGXA7", &[]),
            FirmwareVerdict::NoKnownIssue
        );
        assert!(verdict("Samsung SSD 990 PRO 4TB", "0B2QJXD7", &[]).refuses(Enforcement::Enforce));
        assert_eq!(
            verdict("Samsung SSD 990 PRO 4TB", "4B2QJXD7", &[]),
            FirmwareVerdict::NoKnownIssue
        );
    }

    #[test]
    fn windows_only_bugs_warn_but_never_refuse() {
        let v = verdict("WD_BLACK SN770 NVMe SSD 2TB", "731100WD", &[]);
        assert!(matches!(v, FirmwareVerdict::BelowMinimum { .. }));
        assert!(v.is_problem());
        assert!(!v.refuses(Enforcement::Enforce));
        assert_eq!(
            verdict("WD_BLACK SN770 NVMe SSD 2TB", "731130WD", &[]),
            FirmwareVerdict::NoKnownIssue
        );
    }

    #[test]
    fn unknown_models_are_not_in_policy() {
        assert_eq!(
            verdict("Samsung SSD 990 EVO Plus 2TB", "2B2QKXG7", &[]),
            FirmwareVerdict::NotInPolicy
        );
        assert_eq!(
            verdict("QEMU NVMe Ctrl", "10.0.2", &[]),
            FirmwareVerdict::NotInPolicy
        );
    }

    #[test]
    fn layout_rules_extend_the_policy() {
        let rule = FirmwareRule {
            model: "QEMU NVMe Ctrl".into(),
            bad: vec![finding(
                "10.0.2",
                "test",
                None,
                "test policy",
                Severity::Refuse,
            )],
            minimum: None,
        };
        assert!(
            verdict("QEMU NVMe Ctrl", "10.0.2", std::slice::from_ref(&rule))
                .refuses(Enforcement::Enforce)
        );
        let min = FirmwareRule {
            model: "QEMU*".into(),
            bad: vec![],
            minimum: Some(finding("10.1.0", "old", None, "test", Severity::Refuse)),
        };
        assert!(matches!(
            verdict("QEMU NVMe Ctrl", "10.0.2", std::slice::from_ref(&min)),
            FirmwareVerdict::BelowMinimum { .. }
        ));
        assert_eq!(
            verdict("QEMU NVMe Ctrl", "10.1.0", std::slice::from_ref(&min)),
            FirmwareVerdict::NoKnownIssue
        );
        assert!(matches!(
            verdict("QEMU NVMe Ctrl", "beta", &[min]),
            FirmwareVerdict::NotComparable { .. }
        ));
    }

    #[test]
    fn revisions_order_by_their_numbers() {
        assert_eq!(compare_revisions("3B2QGXA7", "5B2QGXA7"), Ordering::Less);
        assert_eq!(compare_revisions("10.0.2", "9.9.9"), Ordering::Greater);
        assert!(!comparable("3B2QGXA7", "731130WD"));
    }
}
