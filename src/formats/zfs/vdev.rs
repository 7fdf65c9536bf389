//! The vdev tree that `zpool status` and `zpool import` print under `config:`.
//!
//! Both come from the same code in zpool_main.c: each row is a tab, two spaces per level of
//! depth, the vdev name padded to a common width, then the state (and, in `status`, the READ,
//! WRITE and CKSUM counts), then an optional note ("was /dev/...", "(resilvering)", ...).
//! Top-level rows of the allocation classes and of cache and spares follow under a bare
//! header row ("logs", "cache", ...). Names are taken to hold no whitespace.
//!
//! Every row under any header is a device of the pool as much as a row of the main tree: a
//! special or dedup vdev holds the pool's metadata, a log its last synchronous writes, and a
//! cache or spare device carries the pool's label. [`pool_devices`] lists them all, each with
//! its [`VdevClass`].

use nom::bytes::complete::{tag, take_till1, take_while, take_while1};
use nom::character::complete::{char, space1, u64 as decimal, u8 as small};
use nom::combinator::all_consuming;
use nom::multi::count;
use nom::sequence::preceded;
use nom::{IResult, Parser};
use serde::{Deserialize, Serialize};

use super::error::ParseError;
use super::state::{VdevState, STATE_EXPECTED};
use super::units::parse_count;

/// What a vdev is, read from its name the way `zpool_vdev_name` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum VdevKind {
    /// The pool itself (its row carries the pool's name).
    Root,
    Mirror,
    RaidZ {
        parity: u8,
    },
    DRaid {
        parity: u8,
        data: u64,
        children: u64,
        spares: u64,
    },
    /// A device being replaced by a hot spare ("spare-N").
    Spare,
    /// A device being replaced ("replacing-N").
    Replacing,
    /// A block device (a path under /dev with `-P`, a device name without).
    Disk,
    /// A file used as a device (an absolute path outside /dev).
    File,
    /// A dRAID distributed spare ("draidP-T-S").
    DraidSpare,
}

impl VdevKind {
    /// Whether this kind groups other vdevs (and must have at least one).
    pub fn is_group(self) -> bool {
        !matches!(self, VdevKind::Disk | VdevKind::File | VdevKind::DraidSpare)
    }
}

/// READ, WRITE and CKSUM columns of `zpool status` (exact with `-p`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VdevErrorCounts {
    pub read: u64,
    pub write: u64,
    pub checksum: u64,
}

/// One row of the config tree and the rows nested under it.
///
/// `state` is absent only for cache and spare devices in `zpool import` output, which prints
/// their names alone; `errors` is present only in `zpool status` output (and not for spares).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VdevNode {
    /// The pool name (root), a group name like "mirror-0", or the device path/name. A missing
    /// device is named by its GUID and its last path is in `note` as "was PATH".
    pub name: String,
    pub kind: VdevKind,
    pub state: Option<VdevState>,
    pub errors: Option<VdevErrorCounts>,
    /// What zpool printed after the columns: "cannot open", "was /dev/...", "(trimming)", ...
    pub note: Option<String>,
    pub children: Vec<VdevNode>,
}

impl VdevNode {
    /// Every device row (leaf) at or below this node, in printed order.
    pub fn leaves(&self) -> Vec<&VdevNode> {
        if self.children.is_empty() {
            return vec![self];
        }
        self.children.iter().flat_map(VdevNode::leaves).collect()
    }

    /// The path a missing device had, from a "was PATH" note.
    pub fn was_path(&self) -> Option<&str> {
        self.note.as_deref()?.strip_prefix("was ")
    }
}

/// The vdevs printed after the main tree, each under its own header row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VdevSections {
    pub dedup: Vec<VdevNode>,
    pub special: Vec<VdevNode>,
    pub logs: Vec<VdevNode>,
    pub cache: Vec<VdevNode>,
    pub spares: Vec<VdevNode>,
}

/// What a device does for its pool: the main tree's data, or the class whose header zpool
/// prints it under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VdevClass {
    Data,
    Dedup,
    Special,
    Log,
    Cache,
    Spare,
}

impl VdevClass {
    /// The word for it in messages: "the special vdev of pool `tank`".
    pub fn as_str(self) -> &'static str {
        match self {
            VdevClass::Data => "data",
            VdevClass::Dedup => "dedup",
            VdevClass::Special => "special",
            VdevClass::Log => "log",
            VdevClass::Cache => "cache",
            VdevClass::Spare => "spare",
        }
    }
}

impl std::fmt::Display for VdevClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every device row of a pool, in printed order with its class: the leaves of the main tree
/// (none when `zpool import` printed the pool's row alone), then those under each header.
pub fn pool_devices<'a>(
    root: &'a VdevNode,
    sections: &'a VdevSections,
) -> Vec<(VdevClass, &'a VdevNode)> {
    let data = root
        .children
        .iter()
        .flat_map(VdevNode::leaves)
        .map(|leaf| (VdevClass::Data, leaf));
    let classes = [
        (VdevClass::Dedup, &sections.dedup),
        (VdevClass::Special, &sections.special),
        (VdevClass::Log, &sections.logs),
        (VdevClass::Cache, &sections.cache),
        (VdevClass::Spare, &sections.spares),
    ];
    let others = classes.into_iter().flat_map(|(class, tops)| {
        tops.iter()
            .flat_map(VdevNode::leaves)
            .map(move |leaf| (class, leaf))
    });
    data.chain(others).collect()
}

/// Which command printed the tree, and so which columns its rows have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeStyle {
    /// `zpool status`: counts after the state, plus `extra_columns` more the header announced
    /// (SLOW, POWER, DIO) that are skipped.
    Status { extra_columns: usize },
    /// `zpool import`: state only; cache and spares rows are bare names.
    Import,
}

/// The parsed `config:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigTree {
    pub root: VdevNode,
    pub sections: VdevSections,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Dedup,
    Special,
    Logs,
    Cache,
    Spares,
}

impl Section {
    fn from_header(text: &str) -> Option<Self> {
        match text.trim_end() {
            "dedup" => Some(Section::Dedup),
            "special" => Some(Section::Special),
            "logs" => Some(Section::Logs),
            "cache" => Some(Section::Cache),
            "spares" => Some(Section::Spares),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum RowShape {
    Counted { extra_columns: usize },
    StateOnly,
    NameOnly,
}

/// The columns of a row in the main tree (`section` None) or under a section header.
fn row_shape(style: TreeStyle, section: Option<Section>) -> RowShape {
    match (style, section) {
        (TreeStyle::Status { .. }, Some(Section::Spares)) => RowShape::StateOnly,
        (TreeStyle::Status { extra_columns }, _) => RowShape::Counted { extra_columns },
        (TreeStyle::Import, Some(Section::Cache | Section::Spares)) => RowShape::NameOnly,
        (TreeStyle::Import, _) => RowShape::StateOnly,
    }
}

struct Row<'a> {
    number: usize,
    line: &'a str,
    depth: usize,
    node: VdevNode,
}

/// Parses the tree rows (each still starting with its tab). `lines` must not be empty.
pub(crate) fn parse_config_tree(
    lines: &[(usize, &str)],
    style: TreeStyle,
) -> Result<ConfigTree, ParseError> {
    let mut main_rows: Vec<Row> = Vec::new();
    let mut sections: Vec<(Section, usize, &str, Vec<Row>)> = Vec::new();
    for (index, &(number, line)) in lines.iter().enumerate() {
        let text = line.strip_prefix('\t').unwrap_or(line);
        if index > 0 {
            if let Some(section) = Section::from_header(text) {
                sections.push((section, number, line, Vec::new()));
                continue;
            }
        }
        let section = sections.last().map(|(section, ..)| *section);
        let mut row = parse_row(number, line, text, row_shape(style, section))?;
        if index == 0 {
            row.node.kind = VdevKind::Root;
        } else if row.depth == 0 {
            return Err(ParseError::at(
                number,
                line,
                "an indented vdev row or a section header (dedup, special, logs, cache, spares)",
                "a second unindented row",
            ));
        }
        match sections.last_mut() {
            Some((_, _, _, rows)) => rows.push(row),
            None => main_rows.push(row),
        }
    }

    let (root_number, root_line) = lines.first().copied().unwrap_or((1, ""));
    let root = assemble(main_rows, 0)?
        .pop()
        .ok_or_else(|| ParseError::end_of_output(root_number, "the vdev tree"))?;
    if root.children.is_empty() && style != TreeStyle::Import {
        return Err(ParseError::at(
            root_number,
            root_line,
            format!(
                "the top-level vdevs of pool `{}` on the following lines",
                root.name
            ),
            "none",
        ));
    }

    let mut grouped = VdevSections::default();
    for (section, number, line, rows) in sections {
        if rows.is_empty() {
            return Err(ParseError::at(
                number,
                line,
                "the devices of this section on the following lines",
                "none",
            ));
        }
        let nodes = assemble(rows, 2)?;
        match section {
            Section::Dedup => grouped.dedup.extend(nodes),
            Section::Special => grouped.special.extend(nodes),
            Section::Logs => grouped.logs.extend(nodes),
            Section::Cache => grouped.cache.extend(nodes),
            Section::Spares => grouped.spares.extend(nodes),
        }
    }
    Ok(ConfigTree {
        root,
        sections: grouped,
    })
}

/// Nests rows by depth: each row belongs to the nearest row above it that is two spaces less
/// indented; rows at `top_depth` are returned.
fn assemble(rows: Vec<Row>, top_depth: usize) -> Result<Vec<VdevNode>, ParseError> {
    let mut tops: Vec<VdevNode> = Vec::new();
    let mut open: Vec<Row> = Vec::new();
    for row in rows {
        while open.last().is_some_and(|last| last.depth >= row.depth) {
            close_last(&mut open, &mut tops)?;
        }
        let expected = open.last().map_or(top_depth, |parent| parent.depth + 2);
        if row.depth != expected {
            return Err(ParseError::at(
                row.number,
                row.line,
                format!("{expected} spaces of indentation"),
                row.depth.to_string(),
            ));
        }
        if let Some(parent) = open.last() {
            if !parent.node.kind.is_group() {
                return Err(ParseError::at(
                    row.number,
                    row.line,
                    format!(
                        "no rows nested under `{}`, which is a device, not a group",
                        parent.node.name
                    ),
                    format!("`{}`", row.node.name),
                ));
            }
        }
        open.push(row);
    }
    while !open.is_empty() {
        close_last(&mut open, &mut tops)?;
    }
    Ok(tops)
}

fn close_last(open: &mut Vec<Row>, tops: &mut Vec<VdevNode>) -> Result<(), ParseError> {
    let Some(row) = open.pop() else {
        return Ok(());
    };
    if row.node.kind.is_group() && row.node.kind != VdevKind::Root && row.node.children.is_empty() {
        return Err(ParseError::at(
            row.number,
            row.line,
            format!("the members of `{}` on the following lines", row.node.name),
            "none",
        ));
    }
    match open.last_mut() {
        Some(parent) => parent.node.children.push(row.node),
        None => tops.push(row.node),
    }
    Ok(())
}

fn parse_row<'a>(
    number: usize,
    line: &'a str,
    text: &'a str,
    shape: RowShape,
) -> Result<Row<'a>, ParseError> {
    let columns = text.split_whitespace().count();
    let (expected, wanted) = match shape {
        RowShape::Counted { extra_columns } => (
            "a vdev row: name, state, read, write and checksum error counts",
            5 + extra_columns,
        ),
        RowShape::StateOnly => ("a vdev row: name and state", 2),
        RowShape::NameOnly => ("a device name alone", 1),
    };
    let short = || {
        ParseError::at(
            number,
            line,
            format!("{expected} ({wanted} columns)"),
            format!("{columns}"),
        )
    };
    let (after_name, (indent, name)) = indented_name(text).map_err(|_| short())?;
    let depth = indent.len();
    if depth % 2 != 0 {
        return Err(ParseError::at(
            number,
            line,
            "indentation in steps of two spaces",
            depth.to_string(),
        ));
    }
    let mut node = VdevNode {
        name: name.to_string(),
        kind: kind_from_name(name),
        state: None,
        errors: None,
        note: None,
        children: Vec::new(),
    };
    let remainder = match shape {
        RowShape::NameOnly => after_name,
        RowShape::StateOnly => {
            let (remainder, state) = word(after_name).map_err(|_| short())?;
            node.state = Some(parse_state(number, line, state)?);
            remainder
        }
        RowShape::Counted { extra_columns } => {
            let (remainder, (state, read, write, checksum, _extra)) =
                (word, word, word, word, count(word, extra_columns))
                    .parse(after_name)
                    .map_err(|_| short())?;
            node.state = Some(parse_state(number, line, state)?);
            let error_count = |column: &str, text: &str| {
                parse_count(text).ok_or_else(|| {
                    ParseError::at(
                        number,
                        line,
                        format!("{column} errors as a number"),
                        format!("`{text}`"),
                    )
                })
            };
            node.errors = Some(VdevErrorCounts {
                read: error_count("read", read)?,
                write: error_count("write", write)?,
                checksum: error_count("checksum", checksum)?,
            });
            remainder
        }
    };
    let note = remainder.trim();
    if !note.is_empty() {
        if matches!(shape, RowShape::NameOnly) {
            return Err(short());
        }
        node.note = Some(note.to_string());
    }
    Ok(Row {
        number,
        line,
        depth,
        node,
    })
}

fn parse_state(number: usize, line: &str, word: &str) -> Result<VdevState, ParseError> {
    VdevState::from_word(word)
        .ok_or_else(|| ParseError::at(number, line, STATE_EXPECTED, format!("`{word}`")))
}

fn indented_name(text: &str) -> IResult<&str, (&str, &str)> {
    (
        take_while(|c| c == ' '),
        take_till1(|c: char| c.is_whitespace()),
    )
        .parse(text)
}

fn word(text: &str) -> IResult<&str, &str> {
    preceded(space1, take_till1(|c: char| c.is_whitespace())).parse(text)
}

/// Group vdevs are named TYPE-ID ("mirror-0", "raidz2-1", "draid2:4d:8c:1s-0"); anything else
/// is a device.
fn kind_from_name(name: &str) -> VdevKind {
    if let Ok((_, kind)) = all_consuming(group_name).parse(name) {
        return kind;
    }
    if all_consuming(draid_spare_name).parse(name).is_ok() {
        return VdevKind::DraidSpare;
    }
    if name.starts_with('/') && !name.starts_with("/dev/") {
        return VdevKind::File;
    }
    VdevKind::Disk
}

fn group_name(name: &str) -> IResult<&str, VdevKind> {
    let (remainder, kind) = nom::branch::alt((
        tag("mirror").map(|_| VdevKind::Mirror),
        tag("spare").map(|_| VdevKind::Spare),
        tag("replacing").map(|_| VdevKind::Replacing),
        preceded(tag("raidz"), small).map(|parity| VdevKind::RaidZ { parity }),
        (
            preceded(tag("draid"), small),
            preceded(char(':'), decimal),
            preceded(tag("d:"), decimal),
            preceded(tag("c:"), decimal),
            char('s'),
        )
            .map(|(parity, data, children, spares, _)| VdevKind::DRaid {
                parity,
                data,
                children,
                spares,
            }),
    ))
    .parse(name)?;
    let (remainder, _) = (char('-'), take_while1(|c: char| c.is_ascii_digit())).parse(remainder)?;
    Ok((remainder, kind))
}

fn draid_spare_name(name: &str) -> IResult<&str, ()> {
    (
        tag("draid"),
        decimal,
        char('-'),
        decimal,
        char('-'),
        decimal,
    )
        .map(|_| ())
        .parse(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(text: &str) -> Vec<(usize, &str)> {
        text.lines().enumerate().map(|(i, l)| (i + 1, l)).collect()
    }

    const STATUS: TreeStyle = TreeStyle::Status { extra_columns: 0 };

    #[test]
    fn kinds_from_names() {
        assert_eq!(kind_from_name("mirror-0"), VdevKind::Mirror);
        assert_eq!(kind_from_name("raidz3-12"), VdevKind::RaidZ { parity: 3 });
        assert_eq!(
            kind_from_name("draid2:4d:11c:1s-0"),
            VdevKind::DRaid {
                parity: 2,
                data: 4,
                children: 11,
                spares: 1
            }
        );
        assert_eq!(kind_from_name("draid2-0-0"), VdevKind::DraidSpare);
        assert_eq!(kind_from_name("spare-1"), VdevKind::Spare);
        assert_eq!(kind_from_name("replacing-0"), VdevKind::Replacing);
        assert_eq!(
            kind_from_name("/dev/disk/by-id/nvme-X-part1"),
            VdevKind::Disk
        );
        assert_eq!(kind_from_name("nvme0n1"), VdevKind::Disk);
        assert_eq!(kind_from_name("/var/tmp/a.img"), VdevKind::File);
        assert_eq!(kind_from_name("mirror-"), VdevKind::Disk);
        assert_eq!(kind_from_name("mirror-0x"), VdevKind::Disk);
        assert_eq!(kind_from_name("raidz-0"), VdevKind::Disk);
    }

    #[test]
    fn nested_rows_with_notes() {
        let tree = parse_config_tree(
            &numbered(
                "\tquickOS      DEGRADED     0     0     0\n\
                 \t  mirror-0   DEGRADED     0     0     0\n\
                 \t    /dev/a   ONLINE       0     0     0  (trimming)\n\
                 \t    123456   UNAVAIL      0     0     0  was /dev/b\n\
                 \tspares\n\
                 \t  /dev/c     AVAIL\n",
            ),
            STATUS,
        )
        .unwrap();
        assert_eq!(tree.root.kind, VdevKind::Root);
        let mirror = &tree.root.children[0];
        assert_eq!(mirror.kind, VdevKind::Mirror);
        assert_eq!(mirror.children[0].note.as_deref(), Some("(trimming)"));
        assert_eq!(mirror.children[1].was_path(), Some("/dev/b"));
        assert_eq!(tree.sections.spares[0].state, Some(VdevState::Avail));
        assert_eq!(tree.sections.spares[0].errors, None);
        assert_eq!(tree.root.leaves().len(), 2);
    }

    #[test]
    fn group_without_members_is_truncation() {
        let error = parse_config_tree(
            &numbered("\tp  ONLINE 0 0 0\n\t  mirror-0  ONLINE 0 0 0\n"),
            STATUS,
        )
        .unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.expected.contains("members of `mirror-0`"), "{error}");
    }

    #[test]
    fn malformed_rows() {
        let cases = [
            ("\tp  ONLINE 0 0\n\t  d ONLINE 0 0 0\n", "5 columns", 1),
            (
                "\tp  ONLINE 0 0 0\n\t   d ONLINE 0 0 0\n",
                "steps of two",
                2,
            ),
            ("\tp  ONLINE 0 0 0\n\t    d ONLINE 0 0 0\n", "2 spaces", 2),
            ("\tp  ONLINE 0 0 0\n\t  d ONLINE x 0 0\n", "read errors", 2),
            ("\tp  FINE 0 0 0\n\t  d ONLINE 0 0 0\n", "a state", 1),
            (
                "\tp  ONLINE 0 0 0\n\t  d ONLINE 0 0 0\n\t    e ONLINE 0 0 0\n",
                "device, not a group",
                3,
            ),
            (
                "\tp  ONLINE 0 0 0\n\t  d ONLINE 0 0 0\n\tq  ONLINE 0 0 0\n",
                "section header",
                3,
            ),
            (
                "\tp  ONLINE 0 0 0\n\t  d ONLINE 0 0 0\n\tlogs\n",
                "devices of this section",
                3,
            ),
            ("\tp  ONLINE 0 0 0\n", "top-level vdevs", 1),
        ];
        for (text, needle, line) in cases {
            let error = parse_config_tree(&numbered(text), STATUS).unwrap_err();
            assert!(error.to_string().contains(needle), "{text:?}: {error}");
            assert_eq!(error.line, line, "{text:?}: {error}");
        }
    }

    #[test]
    fn import_rows_have_no_counts() {
        let tree = parse_config_tree(
            &numbered("\tfastData    ONLINE\n\t  nvme-A    ONLINE\n\tcache\n\t  nvme-B\n"),
            TreeStyle::Import,
        )
        .unwrap();
        assert_eq!(tree.root.children[0].errors, None);
        assert_eq!(tree.sections.cache[0].state, None);
        assert!(parse_config_tree(
            &numbered("\tp  ONLINE\n\tcache\n\t  nvme-B  ONLINE\n"),
            TreeStyle::Import
        )
        .is_err());
    }

    #[test]
    fn every_class_is_a_device_of_the_pool() {
        // The shape print_import_config and print_class_vdevs give a pool with every class:
        // cache and spares inside the main tree's printing, then dedup, special and logs.
        let import = parse_config_tree(
            &numbered(
                "\ttank            ONLINE\n\t  d               ONLINE\n\tcache\n\t  c\n\tspares\n\t  s\n\tdedup\t\n\t  u               ONLINE\n\tspecial\t\n\t  mirror-1        ONLINE\n\t    p1            ONLINE\n\t    p2            ONLINE\n\tlogs\t\n\t  l               ONLINE\n",
            ),
            TreeStyle::Import,
        )
        .unwrap();
        let devices: Vec<(VdevClass, &str)> = pool_devices(&import.root, &import.sections)
            .into_iter()
            .map(|(class, leaf)| (class, leaf.name.as_str()))
            .collect();
        assert_eq!(
            devices,
            [
                (VdevClass::Data, "d"),
                (VdevClass::Dedup, "u"),
                (VdevClass::Special, "p1"),
                (VdevClass::Special, "p2"),
                (VdevClass::Log, "l"),
                (VdevClass::Cache, "c"),
                (VdevClass::Spare, "s"),
            ]
        );
        // A pool printed as its row alone has no device, not itself.
        let bare = parse_config_tree(&numbered("\ttank  UNAVAIL\n"), TreeStyle::Import).unwrap();
        assert!(pool_devices(&bare.root, &bare.sections).is_empty());
    }
}
