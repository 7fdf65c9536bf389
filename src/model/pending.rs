//! The pool creations apply began and has not seen through, as its journal records them
//! (`apply::journal` reads and writes the file): what lets a rerun recognise an interrupted create's
//! remains as its own.

use serde::{Deserialize, Serialize};

/// A drive a create was begun on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournaledDrive {
    /// None only for a drive that reports no serial: such an entry is never honoured.
    pub serial: Option<String>,
    /// The by-id path the create named.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingCreate {
    pub pool: String,
    pub drives: Vec<JournaledDrive>,
    pub started_at: String,
}

impl PendingCreate {
    /// Whether this entry names the drive with `serial` at `path`, both.
    pub fn names(&self, serial: Option<&str>, path: &str) -> bool {
        serial.is_some()
            && self
                .drives
                .iter()
                .any(|d| d.serial.as_deref() == serial && d.path == path)
    }
}
