//! Why a run stops before it changes anything, each with its exit code.

use crate::contents::Finding;
use crate::exit::Exit;
use crate::matching::MatchProblem;
use serde::Serialize;

/// A reason not to touch anything. Each maps to one exit code of [`Exit`]. In JSON every kind
/// has one shape (see its `Serialize`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// Exit 3: the drives do not fit the layout.
    Hardware {
        problem: MatchProblem,
        message: String,
    },
    /// Exit 4: firmware policy refused a drive.
    Firmware {
        /// The kernel's name for it (`nvme0n1`).
        name: String,
        serial: Option<String>,
        /// The drive in words, for the message.
        drive: String,
        revision: String,
        message: String,
    },
    /// Exit 4: the drive's own controller reports it read-only or degraded (NVMe critical
    /// warning bits 3 and 2).
    DriveHealth {
        name: String,
        serial: Option<String>,
        drive: String,
        critical_warning: u8,
        reasons: Vec<crate::formats::wear::WearRefusal>,
    },
    /// Exit 5: a drive chosen for a pool holds data, and was not named with --wipe.
    DriveHoldsData {
        /// The kernel's name for it (`nvme0n1`).
        disk: String,
        model: Option<String>,
        serial: Option<String>,
        /// What `--wipe` names it with: the serial, or `SERIAL/NSID` for one namespace of
        /// several.
        wipe_name: Option<String>,
        /// The by-id path a write would take.
        path: String,
        /// What each witness found, the first first.
        found: Vec<Finding>,
        /// Everything on it could be read: only then can --wipe say what it erases.
        readable: bool,
        /// The layout's pool whose ZFS labels it carries, which no import scan offered: that
        /// pool may be on it, and --wipe would end it.
        layout_pool: Option<String>,
    },
    /// Exit 3: a pool of the layout exists on drives other than the ones matched.
    PoolElsewhere { pool: String, devices: Vec<String> },
    /// Exit 5: the pool exists, but zpool import says another system had it imported last.
    PoolLastUsedElsewhere { pool: String, guid: u64 },
    /// Exit 5: a dataset of the layout exists as a zvol.
    WrongDatasetKind { dataset: String },
}

/// Every kind alike: what it is, its exit code, the pool, dataset and drive it is about (null
/// where it is about none), its one-line message, and what each witness found (empty but for a
/// drive that holds data). The details of a hardware refusal are matching's `problems`.
impl Serialize for Blocker {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shape<'a> {
            kind: &'static str,
            exit_code: u8,
            pool: Option<&'a str>,
            dataset: Option<&'a str>,
            drive: Option<&'a str>,
            serial: Option<&'a str>,
            message: String,
            found: &'a [Finding],
        }
        let mut shape = Shape {
            kind: "",
            exit_code: self.exit().code(),
            pool: None,
            dataset: None,
            drive: None,
            serial: None,
            message: self.message(),
            found: &[],
        };
        shape.kind = match self {
            Blocker::Hardware { problem, .. } => {
                shape.pool = problem.pool();
                "hardware"
            }
            Blocker::Firmware { name, serial, .. } | Blocker::DriveHealth { name, serial, .. } => {
                (shape.drive, shape.serial) = (Some(name.as_str()), serial.as_deref());
                if matches!(self, Blocker::Firmware { .. }) {
                    "firmware"
                } else {
                    "drive-health"
                }
            }
            Blocker::DriveHoldsData {
                disk,
                serial,
                found,
                ..
            } => {
                (shape.drive, shape.serial, shape.found) =
                    (Some(disk.as_str()), serial.as_deref(), found);
                "drive-holds-data"
            }
            Blocker::PoolElsewhere { pool, .. } => {
                shape.pool = Some(pool);
                "pool-elsewhere"
            }
            Blocker::PoolLastUsedElsewhere { pool, .. } => {
                shape.pool = Some(pool);
                "pool-last-used-elsewhere"
            }
            Blocker::WrongDatasetKind { dataset } => {
                shape.dataset = Some(dataset);
                "wrong-dataset-kind"
            }
        };
        shape.serialize(s)
    }
}

impl Blocker {
    /// The refusal as a person reads it: one short line saying what and where, the details
    /// below it (indented), and what to do last, as a command that runs as printed.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Blocker::DriveHoldsData {
                disk,
                model,
                serial,
                wipe_name,
                path,
                found,
                readable,
                layout_pool,
            } => {
                let who = format!(
                    "{} ({disk}, {})",
                    serial.as_deref().unwrap_or("a drive without serial"),
                    model.as_deref().unwrap_or("unknown model")
                );
                let first = found.first().map_or_else(String::new, |f| {
                    format!(": {} on {} ({})", f.what, f.device, f.witness)
                });
                let more = match found.len() {
                    0 | 1 => String::new(),
                    n => format!(", and {} more", n - 1),
                };
                let mut lines = vec![if *readable {
                    format!("{who} holds data{first}{more}")
                } else {
                    format!("{who} cannot be proven blank{first}{more}")
                }];
                lines.extend(
                    found.iter().map(|f| {
                        format!("  {:<10} {}: {}", f.witness.to_string(), f.device, f.what)
                    }),
                );
                lines.push(format!("  {:<10} {path}", "path"));
                let apply = crate::remedy::APPLY;
                let erase = match (readable, wipe_name) {
                    (true, Some(name)) => format!(
                        "if its data may be erased: {}",
                        crate::remedy::wipe(name)
                    ),
                    (true, None) => format!(
                        "--wipe has no serial to name it by: if its data may be erased, erase it yourself (`wipefs --all {path}`), then `{apply}`"
                    ),
                    (false, _) => format!(
                        "nothing is written to a drive that cannot be read, not even with --wipe: check it (dmesg; smartctl -a /dev/{disk}), then `{apply}`"
                    ),
                };
                // The layout's own pool may be on it: erasing comes only after ZFS says it is not.
                lines.push(match layout_pool {
                    Some(pool) => format!(
                        "it has labels of the layout's pool `{pool}`: if `zpool import -d {} {pool}` finds it, import it and run `{apply}`; only otherwise, {erase}",
                        crate::formats::zfs::BY_ID_DIR
                    ),
                    None => erase,
                });
                lines
            }
            Blocker::Hardware {
                problem:
                    MatchProblem::Missing {
                        pool,
                        needed,
                        found,
                        wanted,
                        unusable,
                    },
                ..
            } if !unusable.is_empty() => {
                let mut lines = vec![format!(
                    "pool `{pool}` needs {needed} drive(s) of {wanted}, found {} usable{}; {} present but not usable:",
                    found.len(),
                    if found.is_empty() { String::new() } else { format!(" ({})", found.join(", ")) },
                    unusable.len()
                )];
                lines.extend(unusable.iter().map(|u| format!("  {u}")));
                lines.push(
                    format!("release them as said above (phoenix-zfs never does), or install the missing drive(s); then `{}`", crate::remedy::APPLY),
                );
                lines
            }
            other => vec![other.message()],
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            Blocker::Hardware { .. } | Blocker::PoolElsewhere { .. } => Exit::HardwareMismatch,
            Blocker::Firmware { .. } | Blocker::DriveHealth { .. } => Exit::DriveRefused,
            Blocker::DriveHoldsData { .. }
            | Blocker::WrongDatasetKind { .. }
            | Blocker::PoolLastUsedElsewhere { .. } => Exit::DataRefused,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Blocker::Hardware { message, .. } => message.clone(),
            Blocker::Firmware { drive, revision, message, .. } => format!("{drive}: firmware {revision}: {message}"),
            Blocker::DriveHealth { drive, critical_warning, reasons, .. } => {
                let said: Vec<&str> = reasons.iter().map(|r| r.describe()).collect();
                format!("{drive}: its controller reports critical warning 0x{critical_warning:02x} ({}); it must not hold a pool. Replace the drive (see `smartctl -a` for its log)", said.join(", "))
            }
            Blocker::DriveHoldsData { .. } => {
                let lines = self.lines();
                let [headline, details @ .., remedy] = lines.as_slice() else {
                    return String::new();
                };
                let details: Vec<&str> = details.iter().map(|d| d.trim()).collect();
                format!("{headline}: {}. {remedy}", details.join("; "))
            }
            Blocker::PoolElsewhere { pool, devices } => format!(
                "pool `{pool}` exists on {}, not on the drives the layout matched; import or rename it by hand, phoenix-zfs will not touch it",
                devices.join(", ")
            ),
            Blocker::PoolLastUsedElsewhere { pool, guid } => format!(
                "pool `{pool}` (guid {guid}) was last imported by another system, so zpool import wants -f. If that system is this host itself (a live rescue system, a reinstall, a changed /etc/hostid) and no other host can reach the drives: `{}`. Importing a pool that another running host uses corrupts it",
                crate::remedy::FORCE_IMPORT
            ),
            Blocker::WrongDatasetKind { dataset } => {
                format!("`{dataset}` exists as a zvol, but the layout describes a file system; rename or move it by hand")
            }
        }
    }
}
