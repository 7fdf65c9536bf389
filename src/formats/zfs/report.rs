//! The per-pool report that `zpool status` and `zpool import` (without arguments) print:
//! `key: text` lines (continued on lines starting with a tab), `config:`, the vdev tree, and
//! what follows it (`errors:` and, with `-v`, the damaged files).
//!
//! Keys are right-aligned with spaces ("  pool:", " state:", "   see:") and `zpool import`
//! indents them one more space when a pool has a comment, so keys are matched after any
//! leading spaces. Unknown keys are kept, so a newer OpenZFS adding a line does not break us.

use nom::bytes::complete::take_while1;
use nom::character::complete::{char, space0};
use nom::combinator::{eof, rest, verify};
use nom::sequence::preceded;
use nom::{IResult, Parser};
use serde::{Deserialize, Serialize};

use super::error::{numbered_lines, ParseError};
use super::vdev::{parse_config_tree, ConfigTree, TreeStyle};

/// A `key: text` line of a report that has no field of its own in the parsed type
/// (`remove:`, `checkpoint:`, `expand:`, `scan warning:`, ...). Continuation lines are joined
/// with newlines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportField {
    pub key: String,
    pub text: String,
}

/// One field as read, with the line it started on for error messages.
pub(crate) struct Field<'a> {
    pub number: usize,
    pub line: &'a str,
    pub key: &'a str,
    pub text: String,
}

/// One pool's report, before status/import give its fields their meaning.
pub(crate) struct PoolReport<'a> {
    /// From `pool:` up to (not including) `config:`.
    pub header: Vec<Field<'a>>,
    pub tree: ConfigTree,
    /// `key: text` lines after the tree (`errors:`).
    pub trailer: Vec<Field<'a>>,
    /// Tab-indented lines after the tree ("Additional devices are known ..."), with numbers.
    pub notes: Vec<(usize, &'a str)>,
    /// Space-indented lines after the tree: the files `errors:` lists with `-v`.
    pub listed: Vec<(usize, &'a str)>,
}

/// Which command printed the reports: `zpool status` puts a column header before the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReportKind {
    Status,
    Import,
}

struct Lines<'a> {
    lines: Vec<(usize, &'a str)>,
    next: usize,
}

impl<'a> Lines<'a> {
    fn peek(&self) -> Option<(usize, &'a str)> {
        self.lines.get(self.next).copied()
    }

    fn advance(&mut self) {
        self.next += 1;
    }

    fn skip_blank(&mut self) {
        while self.peek().is_some_and(|(_, line)| line.trim().is_empty()) {
            self.advance();
        }
    }

    /// The number the next line would have: where "the output ended" errors point.
    fn end_number(&self) -> usize {
        self.lines.last().map_or(1, |(number, _)| number + 1)
    }

    /// A `key: text` line and its tab-indented continuation lines, if the next line is one.
    fn field(&mut self) -> Option<Field<'a>> {
        let (number, line) = self.peek()?;
        let (_, (key, first)) = field_line(line).ok()?;
        self.advance();
        let mut text = first.trim_end().to_string();
        while let Some((_, continued)) = self.peek().filter(|(_, l)| l.starts_with('\t')) {
            text.push('\n');
            text.push_str(continued.trim());
            self.advance();
        }
        Some(Field {
            number,
            line,
            key,
            text,
        })
    }
}

/// `  key: text`, `key:` at the end of the line, or keys with spaces such as `scan warning:`.
fn field_line(line: &str) -> IResult<&str, (&str, &str)> {
    (
        preceded(
            space0,
            verify(
                take_while1(|c: char| c.is_ascii_lowercase() || c == ' '),
                |key: &str| !key.ends_with(' '),
            ),
        ),
        preceded(
            char(':'),
            nom::branch::alt((eof, preceded(char(' '), rest))),
        ),
    )
        .parse(line)
}

/// Splits the output into pool reports. Empty output (no pools) is no reports.
pub(crate) fn parse_reports(
    output: &str,
    kind: ReportKind,
) -> Result<Vec<PoolReport<'_>>, ParseError> {
    let mut lines = Lines {
        lines: numbered_lines(output).collect(),
        next: 0,
    };
    let mut reports = Vec::new();
    loop {
        lines.skip_blank();
        let Some((number, line)) = lines.peek() else {
            return Ok(reports);
        };
        let first = lines
            .field()
            .filter(|field| field.key == "pool")
            .ok_or_else(|| {
                ParseError::at(
                    number,
                    line,
                    "`pool: NAME` starting a pool's report",
                    "another line",
                )
            })?;
        let header = read_header(&mut lines, first)?;
        let tree = read_tree(&mut lines, kind)?;
        let mut report = PoolReport {
            header,
            tree,
            trailer: Vec::new(),
            notes: Vec::new(),
            listed: Vec::new(),
        };
        read_trailer(&mut lines, &mut report)?;
        reports.push(report);
    }
}

fn read_header<'a>(lines: &mut Lines<'a>, first: Field<'a>) -> Result<Vec<Field<'a>>, ParseError> {
    let mut header = vec![first];
    loop {
        lines.skip_blank();
        let Some((number, line)) = lines.peek() else {
            return Err(ParseError::end_of_output(
                lines.end_number(),
                "a `config:` line followed by the pool's vdev tree",
            ));
        };
        let field = lines.field().ok_or_else(|| {
            ParseError::at(
                number,
                line,
                "a `key: text` line (state:, status:, action:, scan:, config:, ...)",
                "a line without a key",
            )
        })?;
        match field.key {
            "pool" => {
                return Err(ParseError::at(
                    number,
                    line,
                    "`config:` and the vdev tree of the pool before",
                    "the next pool",
                ))
            }
            "config" if field.text.is_empty() => return Ok(header),
            "config" => {
                return Err(ParseError::at(
                    number,
                    line,
                    "the vdev tree after `config:`",
                    format!("`{}`", field.text),
                ))
            }
            _ => header.push(field),
        }
    }
}

fn read_tree(lines: &mut Lines, kind: ReportKind) -> Result<ConfigTree, ParseError> {
    lines.skip_blank();
    let style = match kind {
        ReportKind::Import => TreeStyle::Import,
        ReportKind::Status => {
            let Some((number, line)) = lines.peek() else {
                return Err(ParseError::end_of_output(
                    lines.end_number(),
                    "the column header `NAME STATE READ WRITE CKSUM`",
                ));
            };
            let columns: Vec<&str> = line.split_whitespace().collect();
            if !line.starts_with('\t')
                || columns.get(..5) != Some(&["NAME", "STATE", "READ", "WRITE", "CKSUM"][..])
            {
                return Err(ParseError::at(
                    number,
                    line,
                    "the column header `NAME STATE READ WRITE CKSUM`",
                    "another line",
                ));
            }
            lines.advance();
            TreeStyle::Status {
                extra_columns: columns.len() - 5,
            }
        }
    };
    let start = lines.next;
    while lines.peek().is_some_and(|(_, line)| line.starts_with('\t')) {
        lines.advance();
    }
    let rows = lines.lines.get(start..lines.next).unwrap_or_default();
    if rows.is_empty() {
        return Err(match lines.peek() {
            Some((number, line)) => ParseError::at(
                number,
                line,
                "the vdev tree (tab-indented rows)",
                "another line",
            ),
            None => ParseError::end_of_output(lines.end_number(), "the vdev tree"),
        });
    }
    parse_config_tree(rows, style)
}

fn read_trailer<'a>(lines: &mut Lines<'a>, report: &mut PoolReport<'a>) -> Result<(), ParseError> {
    loop {
        lines.skip_blank();
        let Some((number, line)) = lines.peek() else {
            return Ok(());
        };
        if let Ok((_, (key, _))) = field_line(line) {
            if key == "pool" {
                return Ok(());
            }
            if let Some(field) = lines.field() {
                report.trailer.push(field);
            }
        } else if line.starts_with('\t') {
            report.notes.push((number, line));
            lines.advance();
        } else if line.starts_with(' ') {
            report.listed.push((number, line));
            lines.advance();
        } else {
            return Err(ParseError::at(
                number,
                line,
                "`errors:`, the next `pool:`, or the end of the output",
                "an unindented line without a key",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_lines() {
        assert_eq!(
            field_line("  pool: quickOS").unwrap().1,
            ("pool", "quickOS")
        );
        assert_eq!(field_line("config:").unwrap().1, ("config", ""));
        assert_eq!(
            field_line("    scan warning: skipped blocks").unwrap().1,
            ("scan warning", "skipped blocks")
        );
        assert!(field_line("\tNAME STATE").is_err());
        assert!(field_line("        data:<0x0>").is_err());
        assert!(field_line("Pool: x").is_err());
        assert!(field_line("pool :x").is_err());
    }
}
