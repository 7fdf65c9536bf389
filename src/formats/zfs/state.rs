//! The state words zpool prints for pools and vdevs (`zpool_state_to_name` and
//! `zpool_get_state_str` in libzfs; INUSE/AVAIL for hot spares in `zpool status`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Health of a pool (HEALTH column, `state:` line) or of one vdev (STATE column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VdevState {
    #[serde(rename = "ONLINE")]
    Online,
    #[serde(rename = "DEGRADED")]
    Degraded,
    #[serde(rename = "FAULTED")]
    Faulted,
    #[serde(rename = "OFFLINE")]
    Offline,
    #[serde(rename = "REMOVED")]
    Removed,
    #[serde(rename = "UNAVAIL")]
    Unavail,
    /// Detached by `zpool split`.
    #[serde(rename = "SPLIT")]
    Split,
    /// A pool whose I/O is suspended (only ever a pool's health).
    #[serde(rename = "SUSPENDED")]
    Suspended,
    /// A hot spare that is replacing a device.
    #[serde(rename = "INUSE")]
    InUse,
    /// A hot spare ready for use.
    #[serde(rename = "AVAIL")]
    Avail,
    /// libzfs's word for a state it has no name for.
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

const ALL: [VdevState; 11] = [
    VdevState::Online,
    VdevState::Degraded,
    VdevState::Faulted,
    VdevState::Offline,
    VdevState::Removed,
    VdevState::Unavail,
    VdevState::Split,
    VdevState::Suspended,
    VdevState::InUse,
    VdevState::Avail,
    VdevState::Unknown,
];

/// What an error message says a state column should have held.
pub(crate) const STATE_EXPECTED: &str =
    "a state (ONLINE, DEGRADED, FAULTED, OFFLINE, REMOVED, UNAVAIL, SPLIT, SUSPENDED, INUSE, AVAIL, UNKNOWN)";

impl VdevState {
    /// The word zpool prints for this state.
    pub fn as_str(self) -> &'static str {
        match self {
            VdevState::Online => "ONLINE",
            VdevState::Degraded => "DEGRADED",
            VdevState::Faulted => "FAULTED",
            VdevState::Offline => "OFFLINE",
            VdevState::Removed => "REMOVED",
            VdevState::Unavail => "UNAVAIL",
            VdevState::Split => "SPLIT",
            VdevState::Suspended => "SUSPENDED",
            VdevState::InUse => "INUSE",
            VdevState::Avail => "AVAIL",
            VdevState::Unknown => "UNKNOWN",
        }
    }

    /// The state a word names, exactly as zpool prints it (upper case).
    pub fn from_word(word: &str) -> Option<Self> {
        ALL.into_iter().find(|state| state.as_str() == word)
    }

    /// Whether the pool or vdev serves I/O with full redundancy.
    pub fn is_online(self) -> bool {
        self == VdevState::Online
    }
}

impl fmt::Display for VdevState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back() {
        for state in ALL {
            assert_eq!(VdevState::from_word(state.as_str()), Some(state));
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{state}\"")
            );
        }
        assert_eq!(VdevState::from_word("online"), None);
        assert_eq!(VdevState::from_word("ONLINE "), None);
    }
}
