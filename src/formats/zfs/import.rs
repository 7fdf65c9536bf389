//! `zpool import -d DIR` without a pool argument: the pools that could be imported, each with
//! its GUID, state, what zpool advises, and the same vdev tree `zpool status` prints (without
//! error counts). With `-D` it lists only destroyed pools (`state: ONLINE (DESTROYED)`), and
//! without it never one (`zpool_do_import` skips the other kind), in the same format.

use nom::bytes::complete::tag;
use nom::combinator::{all_consuming, opt};
use nom::{IResult, Parser};
use serde::{Deserialize, Serialize};

use super::error::ParseError;
use super::report::{parse_reports, Field, PoolReport, ReportField, ReportKind};
use super::state::{VdevState, STATE_EXPECTED};
use super::vdev::{pool_devices, VdevClass, VdevNode, VdevSections};

/// One pool `zpool import` found on the scanned devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportablePool {
    pub name: String,
    /// The pool GUID (`id:`), which imports it unambiguously when names collide.
    pub guid: u64,
    pub state: VdevState,
    /// The pool was destroyed (`state: ONLINE (DESTROYED)`, listed with `-D`).
    pub destroyed: bool,
    /// `status:` text, when the pool needs attention.
    pub status: Option<String>,
    /// `action:` text: whether and how it can be imported ("... using the '-f' flag.").
    pub action: Option<String>,
    /// `comment:`, the pool's comment property.
    pub comment: Option<String>,
    /// `see:` link to the OpenZFS message catalogue.
    pub see: Option<String>,
    pub config: VdevNode,
    pub sections: VdevSections,
    /// Text printed after the tree ("Additional devices are known to be part of this pool...").
    pub notes: Option<String>,
    /// Other `key: text` lines.
    pub other_fields: Vec<ReportField>,
}

impl ImportablePool {
    /// Every device of the pool, of every class, in printed order.
    pub fn devices(&self) -> Vec<(VdevClass, &VdevNode)> {
        pool_devices(&self.config, &self.sections)
    }
}

/// Parses the output of `zpool import` with no pool named. No pools to import prints nothing
/// on stdout ("no pools available to import" goes to stderr), which is an empty list.
pub fn parse_zpool_import_scan(output: &str) -> Result<Vec<ImportablePool>, ParseError> {
    parse_reports(output, ReportKind::Import)?
        .into_iter()
        .map(importable_pool)
        .collect()
}

fn importable_pool(report: PoolReport) -> Result<ImportablePool, ParseError> {
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
    let mut guid = None;
    let mut state = None;
    let mut importable = ImportablePool {
        name: pool.text.clone(),
        guid: 0,
        state: VdevState::Unknown,
        destroyed: false,
        status: None,
        action: None,
        comment: None,
        see: None,
        config: tree.root,
        sections: tree.sections,
        notes: None,
        other_fields: Vec::new(),
    };
    for field in fields.chain(trailer) {
        match field.key {
            "id" => guid = Some(parse_guid(&field)?),
            "state" => state = Some(parse_import_state(&field)?),
            "status" => importable.status = Some(field.text),
            "action" => importable.action = Some(field.text),
            "comment" => importable.comment = Some(field.text),
            "see" => importable.see = Some(field.text),
            key => importable.other_fields.push(ReportField {
                key: key.to_string(),
                text: field.text,
            }),
        }
    }
    let missing = |what: &str| {
        ParseError::at(
            pool.number,
            pool.line,
            format!("{what} for pool `{}` before `config:`", importable.name),
            "none",
        )
    };
    importable.guid = guid.ok_or_else(|| missing("an `id:` line"))?;
    (importable.state, importable.destroyed) = state.ok_or_else(|| missing("a `state:` line"))?;
    if importable.config.name != importable.name {
        return Err(ParseError::at(
            pool.number,
            pool.line,
            format!(
                "the vdev tree of pool `{}` to start with its name",
                importable.name
            ),
            format!("`{}`", importable.config.name),
        ));
    }
    if let Some(&(number, line)) = listed.first() {
        return Err(ParseError::at(
            number,
            line,
            "only tab-indented notes after the vdev tree of an importable pool",
            "a space-indented line",
        ));
    }
    if !notes.is_empty() {
        let text: Vec<&str> = notes.iter().map(|(_, line)| line.trim()).collect();
        importable.notes = Some(text.join("\n"));
    }
    Ok(importable)
}

fn parse_guid(field: &Field) -> Result<u64, ParseError> {
    field.text.parse().map_err(|_| {
        ParseError::at(
            field.number,
            field.line,
            "`id:` to be the pool GUID as a decimal 64-bit number",
            format!("`{}`", field.text),
        )
    })
}

fn parse_import_state(field: &Field) -> Result<(VdevState, bool), ParseError> {
    let parsed = all_consuming(state_and_destroyed).parse(&field.text);
    let invalid = || {
        ParseError::at(
            field.number,
            field.line,
            format!("`state:` to be {STATE_EXPECTED}, optionally followed by ` (DESTROYED)`"),
            format!("`{}`", field.text),
        )
    };
    let (_, (word, destroyed)) = parsed.map_err(|_| invalid())?;
    let state = VdevState::from_word(word).ok_or_else(invalid)?;
    Ok((state, destroyed))
}

fn state_and_destroyed(text: &str) -> IResult<&str, (&str, bool)> {
    (
        nom::bytes::complete::take_while1(|c: char| c.is_ascii_uppercase()),
        opt(tag(" (DESTROYED)")).map(|marker| marker.is_some()),
    )
        .parse(text)
}
