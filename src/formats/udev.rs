//! The udev database, read directly: /run/udev/data/bMAJ:MIN. libudev cannot be linked into a
//! static musl binary, and the file format (systemd's internal one) has been stable for years.
//!
//! Each line is `P:VALUE` with a one-character prefix: `E:KEY=VALUE` a property, `S:LINK` a symlink
//! under /dev, `G:`/`Q:` tags, `I:` init time, `L:` link priority, `W:` watch handle. Prefixes this
//! reader does not use are skipped, not rejected, so newer systemd versions keep working.

use nom::bytes::complete::{tag, take_till};
use nom::character::complete::{anychar, char};
use nom::combinator::rest;
use nom::sequence::{separated_pair, terminated};
use nom::{IResult, Parser};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UdevRecord {
    /// `E:` lines: ID_MODEL, ID_SERIAL_SHORT, ID_WWN, ID_PATH, ...
    pub properties: BTreeMap<String, String>,
    /// `S:` lines, relative to /dev (e.g. `disk/by-id/nvme-Samsung_SSD_990_PRO_4TB_S7KGNU0X123456`).
    pub links: Vec<String>,
    /// `G:` lines.
    pub tags: Vec<String>,
}

impl UdevRecord {
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The /dev/disk/by-id links, as absolute paths.
    pub fn by_id_links(&self) -> impl Iterator<Item = String> + '_ {
        self.links
            .iter()
            .filter(|l| l.starts_with("disk/by-id/"))
            .map(|l| format!("/dev/{l}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: expected {expected}, found `{text}`")]
pub struct UdevParseError {
    pub line: usize,
    pub text: String,
    pub expected: &'static str,
}

enum Entry<'a> {
    Property(&'a str, &'a str),
    Link(&'a str),
    Tag(&'a str),
    Other,
}

fn entry(line: &str) -> IResult<&str, Entry<'_>> {
    let (value, prefix) = terminated(anychar, char(':')).parse(line)?;
    match prefix {
        'E' => {
            let (rest_, (key, val)) =
                separated_pair(take_till(|c| c == '='), tag("="), rest).parse(value)?;
            Ok((rest_, Entry::Property(key, val)))
        }
        'S' => Ok(("", Entry::Link(value))),
        'G' => Ok(("", Entry::Tag(value))),
        _ => Ok(("", Entry::Other)),
    }
}

/// Parses one database file. Empty lines are allowed; a line without the `P:` shape is an error
/// naming the line, because it means the file is not what this reader understands.
pub fn parse(text: &str) -> Result<UdevRecord, UdevParseError> {
    let mut record = UdevRecord::default();
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let error = |expected| UdevParseError {
            line: index + 1,
            text: truncate(line),
            expected,
        };
        let (_, parsed) =
            entry(line).map_err(|_| error("`P:VALUE` with a one-character prefix"))?;
        match parsed {
            Entry::Property("", _) => return Err(error("`E:KEY=VALUE` with a key")),
            Entry::Property(key, value) => {
                record.properties.insert(key.to_string(), value.to_string());
            }
            Entry::Link(link) => record.links.push(link.to_string()),
            Entry::Tag(t) => record.tags.push(t.to_string()),
            Entry::Other => {}
        }
    }
    Ok(record)
}

fn truncate(line: &str) -> String {
    const MAX: usize = 80;
    match line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from the project's QEMU guest (systemd 252, Debian 12), nvme0n1 (docs/facts.md,
    // "QEMU's emulated NVMe controller").
    const QEMU_NVME: &str = "S:disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001_1
S:disk/by-path/pci-0000:00:04.0-nvme-1
S:disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001
S:disk/by-id/nvme-nvme.1b36-5332544130303031-51454d55204e564d65204374726c-00000001
W:2
I:2811423
E:ID_SERIAL_SHORT=S2TA0001
E:ID_WWN=nvme.1b36-5332544130303031-51454d55204e564d65204374726c-00000001
E:ID_MODEL=QEMU NVMe Ctrl
E:ID_REVISION=10.0.2
E:ID_NSID=1
E:ID_SERIAL=QEMU_NVMe_Ctrl_S2TA0001_1
E:ID_PATH=pci-0000:00:04.0-nvme-1
E:ID_PATH_TAG=pci-0000_00_04_0-nvme-1
G:systemd
Q:systemd
V:1
";

    #[test]
    fn reads_properties_links_and_tags() {
        let r = parse(QEMU_NVME).unwrap();
        assert_eq!(r.property("ID_MODEL"), Some("QEMU NVMe Ctrl"));
        assert_eq!(r.property("ID_SERIAL_SHORT"), Some("S2TA0001"));
        assert_eq!(r.by_id_links().count(), 3);
        assert_eq!(r.tags, ["systemd"]);
        assert!(r
            .links
            .contains(&"disk/by-path/pci-0000:00:04.0-nvme-1".to_string()));
    }

    #[test]
    fn values_may_contain_equals_and_colons() {
        let r = parse("E:ID_FS_LABEL=a=b:c\nE:EMPTY=\n").unwrap();
        assert_eq!(r.property("ID_FS_LABEL"), Some("a=b:c"));
        assert_eq!(r.property("EMPTY"), None);
    }

    #[test]
    fn unknown_prefixes_are_skipped() {
        let r = parse("Z:future\nN:nvme0n1\nE:A=1\n").unwrap();
        assert_eq!(r.property("A"), Some("1"));
    }

    #[test]
    fn malformed_lines_are_errors_with_line_numbers() {
        let err = parse("E:A=1\nthis is not udev\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("`this is not udev`"));
        assert_eq!(parse("E:novalue\n").unwrap_err().line, 1);
        assert_eq!(parse("E:=x\n").unwrap_err().line, 1);
    }
}
