//! /etc/pve/storage.cfg, read and written the way Proxmox does it (pve-common
//! src/PVE/SectionConfig.pm parse_config/write_config, pve-storage src/PVE/Storage/Plugin.pm).
//!
//! The format: a `TYPE: ID` header line, then indented `key value` lines (Proxmox writes a tab;
//! it reads any whitespace), a bare key meaning 1 (only booleans may be bare). A blank line ends a
//! section. Lines whose first non-blank character is `#` are skipped anywhere, also inside a
//! section. Proxmox skips what it cannot read with a warning and later rewrites the file without
//! it; this parser refuses such lines instead, naming them, because phoenix-zfs must not plan (or
//! the stand-in write) over a file whose meaning it does not know.

use super::plugins;
use nom::bytes::complete::{tag, take_till1, take_while1};
use nom::character::complete::{space0, space1};
use nom::combinator::{all_consuming, opt, rest};
use nom::sequence::preceded;
use nom::{IResult, Parser};
use serde::Serialize;
use std::collections::BTreeMap;
use thiserror::Error;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StorageConfig {
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// `dir`, `zfspool`, `nfs`, ...: lower-cased, as Proxmox reads it.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    /// 1-based line of the header; 0 for a section made in code.
    pub line: usize,
    /// In file order. A bare key is stored with the value `1`.
    pub properties: Vec<Property>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Property {
    pub key: String,
    pub value: String,
    /// 1-based; 0 for a property set in code.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("storage.cfg line {line}: {problem}\n  | {text}")]
pub struct ParseError {
    pub line: usize,
    /// The offending line, cut to 80 characters.
    pub text: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    #[error("expected a section header `TYPE: ID` (Proxmox would ignore this line)")]
    ExpectedHeader,
    #[error(
        "expected an indented `key value` line; a section header needs a blank line before it \
         (Proxmox would ignore this line and read what follows into section `{section}`)"
    )]
    ExpectedProperty { section: String },
    #[error("storage ID `{id}` is not valid: 2 or more characters, a letter first, then letters, digits, `-_.`, not ending in `-_.` (Proxmox skips this section)")]
    InvalidId { id: String },
    #[error("storage ID `{id}` is defined twice (first on line {first}); Proxmox keeps only the last one: remove one of them")]
    DuplicateId { id: String, first: usize },
    #[error("`{key}` is set twice in section `{section}` (first on line {first}); Proxmox keeps only the first: remove one of them")]
    DuplicateKey {
        section: String,
        key: String,
        first: usize,
    },
    #[error("the value holds a carriage return, which Proxmox rejects (\"property contains a line feed\")")]
    ControlCharacter,
}

/// Why a key or value cannot go into storage.cfg.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    #[error("property name `{0}` is empty or holds whitespace")]
    BadKey(String),
    #[error("value `{value}` of `{key}` spans lines or has leading or trailing whitespace")]
    BadValue { key: String, value: String },
}

impl StorageConfig {
    /// Parses storage.cfg. An empty file is a configuration without storages.
    pub fn parse(text: &str) -> Result<StorageConfig, ParseError> {
        let mut sections: Vec<Section> = Vec::new();
        let mut first_line_of: BTreeMap<String, usize> = BTreeMap::new();
        // Some(index) while inside a section, i.e. until a blank line.
        let mut open: Option<usize> = None;
        for (index, raw) in text.split('\n').enumerate() {
            let number = index + 1;
            // Proxmox's `^\s*#` skips comments anywhere without ending a section.
            if raw.trim_start().starts_with('#') {
                continue;
            }
            let error = |problem| ParseError {
                line: number,
                text: excerpt(raw),
                problem,
            };
            if raw.is_empty() {
                open = None;
                continue;
            }
            // Whitespace-only lines carry nothing; Proxmox ignores them too.
            if raw.trim().is_empty() {
                continue;
            }
            match open.and_then(|i| sections.get_mut(i)) {
                Some(section) => {
                    let Ok((_, (key, value))) = property_line(raw) else {
                        return Err(error(Problem::ExpectedProperty {
                            section: section.id.clone(),
                        }));
                    };
                    if value.is_some_and(|v| v.contains('\r')) {
                        return Err(error(Problem::ControlCharacter));
                    }
                    if let Some(first) = section.properties.iter().find(|p| p.key == key) {
                        return Err(error(Problem::DuplicateKey {
                            section: section.id.clone(),
                            key: key.to_string(),
                            first: first.line,
                        }));
                    }
                    section.properties.push(Property {
                        key: key.to_string(),
                        value: value.unwrap_or("1").to_string(),
                        line: number,
                    });
                }
                None => {
                    let Ok((_, (kind, id))) = header_line(raw) else {
                        return Err(error(Problem::ExpectedHeader));
                    };
                    if !valid_storage_id(id) {
                        return Err(error(Problem::InvalidId { id: id.to_string() }));
                    }
                    if let Some(&first) = first_line_of.get(id) {
                        return Err(error(Problem::DuplicateId {
                            id: id.to_string(),
                            first,
                        }));
                    }
                    first_line_of.insert(id.to_string(), number);
                    sections.push(Section {
                        kind: kind.to_ascii_lowercase(),
                        id: id.to_string(),
                        line: number,
                        properties: Vec::new(),
                    });
                    open = Some(sections.len() - 1);
                }
            }
        }
        Ok(StorageConfig { sections })
    }

    pub fn get(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.id == id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Section> {
        self.sections.iter_mut().find(|s| s.id == id)
    }

    /// The file as Proxmox's write_config writes it: sections in order, each a header, then
    /// tab-indented lines (`comment` first, `disable` bare, then the type's required keys
    /// sorted, then the rest sorted), then a blank line. Booleans are written `1`/`0` by
    /// Proxmox; a bare key read from a file is already stored as `1`.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for section in &self.sections {
            out.push_str(&section.kind);
            out.push_str(": ");
            out.push_str(&section.id);
            out.push('\n');
            for property in section.write_order() {
                if property.key == "disable" {
                    out.push_str("\tdisable\n");
                } else {
                    out.push('\t');
                    out.push_str(&property.key);
                    out.push(' ');
                    out.push_str(&property.value);
                    out.push('\n');
                }
            }
            out.push('\n');
        }
        out
    }
}

impl Section {
    pub fn new(kind: &str, id: &str) -> Section {
        Section {
            kind: kind.to_ascii_lowercase(),
            id: id.to_string(),
            line: 0,
            properties: Vec::new(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    }

    pub fn property(&self, key: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.key == key)
    }

    /// The `content` list as a set of names (Proxmox keeps it as a hash: order carries nothing).
    pub fn content(&self) -> std::collections::BTreeSet<&str> {
        self.get("content")
            .map(|c| {
                c.split(|ch: char| ch == ',' || ch == ';' || ch.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sets a key, replacing its value in place or appending it.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ValueError> {
        if key.is_empty() || key.chars().any(char::is_whitespace) {
            return Err(ValueError::BadKey(key.to_string()));
        }
        if value.contains(['\n', '\r']) || value.trim() != value {
            return Err(ValueError::BadValue {
                key: key.to_string(),
                value: value.to_string(),
            });
        }
        match self.properties.iter_mut().find(|p| p.key == key) {
            Some(p) => p.value = value.to_string(),
            None => self.properties.push(Property {
                key: key.to_string(),
                value: value.to_string(),
                line: 0,
            }),
        }
        Ok(())
    }

    /// The keys and values, in file order, without line numbers: what two sections must share
    /// to mean the same storage.
    pub fn settings(&self) -> Vec<(&str, &str)> {
        self.properties
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect()
    }

    fn write_order(&self) -> Vec<&Property> {
        let required = plugins::plugin(&self.kind).map_or(&[][..], |p| p.required);
        fn rank<'a>(p: &'a Property, required: &[&str]) -> (u8, &'a str) {
            match p.key.as_str() {
                "comment" => (0, ""),
                "disable" => (1, ""),
                k if required.contains(&k) => (2, k),
                k => (3, k),
            }
        }
        let mut written: Vec<&Property> = self
            .properties
            .iter()
            // Proxmox writes nothing for an empty value and drops a false `disable`.
            .filter(|p| !(p.value.is_empty() || p.key == "disable" && p.value == "0"))
            .collect();
        written.sort_by(|a, b| rank(a, required).cmp(&rank(b, required)));
        written
    }
}

/// Proxmox's storage ID rule (pve-common JSONSchema.pm parse_id).
pub fn valid_storage_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    bytes.len() >= 2
        && first.is_ascii_alphabetic()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(b))
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// `^(\S+):\s*(\S+)\s*$`, with the type stopping at the first colon.
fn header_line(line: &str) -> IResult<&str, (&str, &str)> {
    all_consuming((
        take_till1(|c: char| c == ':' || is_space(c)),
        preceded(tag(":"), preceded(space0, take_till1(is_space))),
        take_while1(is_space).or(tag("")),
    ))
    .map(|(kind, id, _)| (kind, id))
    .parse(line)
}

/// `^\s+(\S+)(\s+(.*\S))?\s*$`: the value keeps inner whitespace, loses trailing whitespace.
fn property_line(line: &str) -> IResult<&str, (&str, Option<&str>)> {
    (
        take_while1(is_space),
        take_till1(is_space),
        opt(preceded(space1, rest)),
    )
        .map(|(_, key, value): (_, &str, Option<&str>)| {
            let value = value.map(str::trim_end).filter(|v| !v.is_empty());
            (key, value)
        })
        .parse(line)
}

fn excerpt(line: &str) -> String {
    const MAX: usize = 80;
    match line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", line.get(..i).unwrap_or(line)),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> (usize, Problem) {
        let e = StorageConfig::parse(text).unwrap_err();
        (e.line, e.problem)
    }

    #[test]
    fn reads_tabs_spaces_bare_keys_and_comments() {
        let text = "# managed by hand\ndir: local\n\tpath /var/lib/vz\n    # a comment inside\n  content iso,vztmpl \n\nZFSPool:local-zfs\n\tsparse\n\tpool rpool/data\n";
        let cfg = StorageConfig::parse(text).unwrap();
        assert_eq!(cfg.sections.len(), 2);
        let local = cfg.get("local").unwrap();
        assert_eq!(local.line, 2);
        assert_eq!(
            local.settings(),
            [("path", "/var/lib/vz"), ("content", "iso,vztmpl")]
        );
        let zfs = cfg.get("local-zfs").unwrap();
        assert_eq!(zfs.kind, "zfspool");
        assert_eq!(zfs.get("sparse"), Some("1"));
        assert_eq!(zfs.property("pool").unwrap().line, 9);
    }

    #[test]
    fn values_keep_inner_spaces() {
        let cfg = StorageConfig::parse("pbs: bk\n\tcomment two  words\t\n").unwrap();
        assert_eq!(cfg.get("bk").unwrap().get("comment"), Some("two  words"));
    }

    #[test]
    fn a_header_right_after_a_section_is_refused() {
        let (line, p) = problem("dir: a1\n\tpath /a\ndir: b1\n\tpath /b\n");
        assert_eq!(line, 3);
        assert_eq!(
            p,
            Problem::ExpectedProperty {
                section: "a1".into()
            }
        );
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(problem("\tpath /x\n").1, Problem::ExpectedHeader);
        assert_eq!(problem("dir local\n").1, Problem::ExpectedHeader);
        assert_eq!(problem("dir: a b\n").1, Problem::ExpectedHeader);
        assert_eq!(problem("dir: x\n").1, Problem::InvalidId { id: "x".into() });
        assert_eq!(
            problem("dir: 1abc\n").1,
            Problem::InvalidId { id: "1abc".into() }
        );
        assert_eq!(
            problem("dir: aa\n\nzfspool: aa\n"),
            (
                3,
                Problem::DuplicateId {
                    id: "aa".into(),
                    first: 1
                }
            )
        );
        assert_eq!(
            problem("dir: aa\n\tpath /a\n\tpath /b\n"),
            (
                3,
                Problem::DuplicateKey {
                    section: "aa".into(),
                    key: "path".into(),
                    first: 2
                }
            )
        );
    }

    #[test]
    fn crlf_line_ends_are_read() {
        let cfg = StorageConfig::parse("dir: local\r\n\tpath /var/lib/vz\r\n").unwrap();
        assert_eq!(cfg.get("local").unwrap().get("path"), Some("/var/lib/vz"));
    }

    #[test]
    fn writes_in_write_config_order() {
        let cfg = StorageConfig::parse(
            "zfspool: tank\n\tsparse\n\tcontent images\n\tdisable\n\tpool tank/data\n",
        )
        .unwrap();
        assert_eq!(
            cfg.to_text(),
            "zfspool: tank\n\tdisable\n\tpool tank/data\n\tcontent images\n\tsparse 1\n\n"
        );
    }

    #[test]
    fn false_disable_and_empty_values_are_not_written() {
        let mut s = Section::new("dir", "aa");
        s.set("path", "/a").unwrap();
        s.set("disable", "0").unwrap();
        s.set("content", "").unwrap();
        let cfg = StorageConfig { sections: vec![s] };
        assert_eq!(cfg.to_text(), "dir: aa\n\tpath /a\n\n");
    }

    #[test]
    fn set_refuses_what_cannot_be_written() {
        let mut s = Section::new("dir", "aa");
        assert!(s.set("a b", "x").is_err());
        assert!(s.set("path", "/a\n\tpool x").is_err());
        assert!(s.set("path", " /a").is_err());
    }

    #[test]
    fn storage_ids() {
        for ok in ["local", "local-zfs", "a1", "quickOS-vm-disks", "x.y_z"] {
            assert!(valid_storage_id(ok), "{ok}");
        }
        for bad in ["", "a", "1a", "a-", "a b", "ä1", "-a"] {
            assert!(!valid_storage_id(bad), "{bad}");
        }
    }
}
