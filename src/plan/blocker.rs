//! Why a run stops before it changes anything, each with its exit code.

use crate::exit::Exit;
use crate::matching::MatchProblem;
use serde::Serialize;

/// A reason not to touch anything. Each maps to one exit code of [`Exit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "blocker", rename_all = "kebab-case")]
pub enum Blocker {
    /// Exit 3: the drives do not fit the layout.
    Hardware {
        problem: MatchProblem,
        message: String,
    },
    /// Exit 4: firmware policy refused a drive.
    Firmware {
        drive: String,
        revision: String,
        message: String,
    },
    /// Exit 4: the drive's own controller reports it read-only or degraded (NVMe critical
    /// warning bits 3 and 2).
    DriveHealth {
        drive: String,
        critical_warning: u8,
        reasons: Vec<crate::formats::wear::WearRefusal>,
    },
    /// Exit 5: a drive chosen for a pool holds data, and was not named with --wipe.
    DriveHoldsData {
        drive: String,
        serial: Option<String>,
        found: Vec<String>,
        /// Everything on it could be read: only then can --wipe say what it erases.
        readable: bool,
    },
    /// Exit 3: a pool of the layout exists on drives other than the ones matched.
    PoolElsewhere { pool: String, devices: Vec<String> },
    /// Exit 5: the pool exists, but zpool import says another system had it imported last.
    PoolLastUsedElsewhere { pool: String, guid: u64 },
    /// Exit 5: a dataset of the layout exists as a zvol.
    WrongDatasetKind { dataset: String },
}

impl Blocker {
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
            Blocker::Firmware { drive, revision, message } => format!("{drive}: firmware {revision}: {message}"),
            Blocker::DriveHealth { drive, critical_warning, reasons } => {
                let said: Vec<&str> = reasons.iter().map(|r| r.describe()).collect();
                format!("{drive}: its controller reports critical warning 0x{critical_warning:02x} ({}); it must not hold a pool. Replace the drive (see `smartctl -a` for its log)", said.join(", "))
            }
            Blocker::DriveHoldsData { drive, serial, found, readable: true } => {
                let serial = serial.as_deref().unwrap_or("SERIAL");
                format!("{drive} holds data: {}. If it may be erased, run `phoenix-zfs apply --wipe {serial}`", found.join("; "))
            }
            Blocker::DriveHoldsData { drive, found, readable: false, .. } => {
                format!("{drive} cannot be proven blank: {}. Nothing is written to a drive that cannot be read (not even with --wipe): check the drive (`dmesg`, `smartctl -a`) and run phoenix-zfs again", found.join("; "))
            }
            Blocker::PoolElsewhere { pool, devices } => format!(
                "pool `{pool}` exists on {}, not on the drives the layout matched; import or rename it by hand, phoenix-zfs will not touch it",
                devices.join(", ")
            ),
            Blocker::PoolLastUsedElsewhere { pool, guid } => format!(
                "pool `{pool}` (guid {guid}) was last imported by another system, so zpool import wants -f. If that system is this host itself (a live rescue system, a reinstall, a changed /etc/hostid) and no other host can reach the drives, run again with --force-import. Importing a pool that another running host uses corrupts it"
            ),
            Blocker::WrongDatasetKind { dataset } => {
                format!("`{dataset}` exists as a zvol, but the layout describes a file system; rename or move it by hand")
            }
        }
    }
}
