//! `zpool status -P -p [POOL...]`: each pool's state, what zpool says is wrong and what to do,
//! the last scan, the vdev tree, and the data error summary.

use serde::{Deserialize, Serialize};

use super::error::ParseError;
use super::report::{parse_reports, Field, PoolReport, ReportField, ReportKind};
use super::state::{VdevState, STATE_EXPECTED};
use super::vdev::{pool_devices, VdevClass, VdevNode, VdevSections};

/// One pool of `zpool status` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStatus {
    pub name: String,
    pub state: VdevState,
    /// `status:` text (lines joined with newlines), present when something is wrong.
    pub status: Option<String>,
    /// `action:` text: what zpool suggests doing.
    pub action: Option<String>,
    /// `see:` link to the OpenZFS message catalogue.
    pub see: Option<String>,
    /// `scan:` text: the last or running scrub or resilver.
    pub scan: Option<String>,
    /// The main vdev tree; its root row is the pool.
    pub config: VdevNode,
    /// Vdevs under the `dedup`, `special`, `logs`, `cache` and `spares` headers.
    pub sections: VdevSections,
    /// `errors:` text, e.g. "No known data errors".
    pub errors: Option<String>,
    /// Files with permanent errors, listed after `errors:` with `-v`.
    pub error_files: Vec<String>,
    /// Other `key: text` lines (remove:, checkpoint:, expand:, scan warning:, ...).
    pub other_fields: Vec<ReportField>,
}

impl PoolStatus {
    /// True when zpool reports no data errors (an `errors:` line saying so).
    pub fn has_no_known_data_errors(&self) -> bool {
        self.errors.as_deref() == Some("No known data errors")
    }

    /// Every device of the pool, of every class, in printed order.
    pub fn devices(&self) -> Vec<(VdevClass, &VdevNode)> {
        pool_devices(&self.config, &self.sections)
    }
}

/// Parses `zpool status` output (any flags that keep the default layout: `-P`, `-p`, `-v`,
/// `-s`, `-t`, ...). Empty output (no pools) is an empty list.
pub fn parse_zpool_status(output: &str) -> Result<Vec<PoolStatus>, ParseError> {
    parse_reports(output, ReportKind::Status)?
        .into_iter()
        .map(pool_status)
        .collect()
}

fn pool_status(report: PoolReport) -> Result<PoolStatus, ParseError> {
    let PoolReport {
        header,
        tree,
        trailer,
        notes,
        listed,
    } = report;
    let mut fields = header.into_iter();
    let Some(pool) = fields.next() else {
        return Err(ParseError::end_of_output(1, "`pool: NAME`"));
    };
    let mut status = PoolStatus {
        name: pool.text.clone(),
        state: VdevState::Unknown,
        status: None,
        action: None,
        see: None,
        scan: None,
        config: tree.root,
        sections: tree.sections,
        errors: None,
        error_files: listed
            .iter()
            .map(|(_, line)| line.trim().to_string())
            .collect(),
        other_fields: Vec::new(),
    };
    let mut state_seen = false;
    for field in fields.chain(trailer) {
        match field.key {
            "state" => {
                status.state = parse_pool_state(&field)?;
                state_seen = true;
            }
            "status" => status.status = Some(field.text),
            "action" => status.action = Some(field.text),
            "see" => status.see = Some(field.text),
            "scan" => status.scan = Some(field.text),
            "errors" => status.errors = Some(field.text),
            key => status.other_fields.push(ReportField {
                key: key.to_string(),
                text: field.text,
            }),
        }
    }
    if !state_seen {
        return Err(ParseError::at(
            pool.number,
            pool.line,
            format!("a `state:` line for pool `{}`", status.name),
            "none before `config:`",
        ));
    }
    if status.config.name != status.name {
        return Err(ParseError::at(
            pool.number,
            pool.line,
            format!(
                "the vdev tree of pool `{}` to start with its name",
                status.name
            ),
            format!("`{}`", status.config.name),
        ));
    }
    if let Some(&(number, line)) = notes.first() {
        return Err(ParseError::at(
            number,
            line,
            "`errors:` or the next pool after the vdev tree",
            "more tab-indented text",
        ));
    }
    Ok(status)
}

fn parse_pool_state(field: &Field) -> Result<VdevState, ParseError> {
    VdevState::from_word(&field.text).ok_or_else(|| {
        ParseError::at(
            field.number,
            field.line,
            format!("`state:` to be {STATE_EXPECTED}"),
            format!("`{}`", field.text),
        )
    })
}
