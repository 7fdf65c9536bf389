//! `zpool get -H -p -o name,property,value,source` and `zfs get -H -p -o name,property,value,source`:
//! one property of one pool or dataset per line, tab-separated.

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::combinator::{all_consuming, rest, value, verify};
use nom::sequence::preceded;
use nom::{IResult, Parser};
use serde::{Deserialize, Serialize};

use super::error::{numbered_lines, ParseError};
use super::units::parse_zfs_size;

/// The `-o` columns every property query asks for, in the order the parser reads them.
pub const PROPERTY_COLUMNS: &str = "name,property,value,source";

const FIELDS_EXPECTED: &str = "4 tab-separated fields (name, property, value, source)";

/// Where a property's value comes from, as the SOURCE column says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertySource {
    Local,
    Default,
    Inherited {
        from: String,
    },
    Received,
    Temporary,
    /// "-": read-only and statistics properties have no source.
    None,
}

/// One line of `get -H -p` output. `value` is kept raw: with `-p` numbers are exact integers,
/// "-" means no value, and user properties may hold any text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyRow {
    pub name: String,
    pub property: String,
    pub value: String,
    pub source: PropertySource,
}

impl PropertyRow {
    /// The value as an exact integer (`-p` output), `None` for "-" or any non-number.
    pub fn value_u64(&self) -> Option<u64> {
        self.value.parse().ok()
    }

    /// The value as a byte count: an exact integer, a ZFS size like "128K", or "none" (0).
    pub fn value_bytes(&self) -> Option<u64> {
        parse_zfs_size(&self.value)
    }

    /// Whether the value is set here rather than inherited or defaulted.
    pub fn is_local(&self) -> bool {
        self.source == PropertySource::Local
    }
}

/// One line of `get -H -p` output, borrowed from the output: what a reader that builds its own
/// structures (observe) walks, without four allocations per line. The source has been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertyLine<'a> {
    pub name: &'a str,
    pub property: &'a str,
    pub value: &'a str,
    /// The SOURCE column as printed: `local`, `default`, `inherited from NAME`, ...
    pub source: &'a str,
}

impl PropertyLine<'_> {
    pub fn is_local(&self) -> bool {
        self.source == "local"
    }

    pub fn to_row(self) -> PropertyRow {
        let source = match all_consuming(property_source).parse(self.source) {
            Ok((_, source)) => source,
            Err(_) => unreachable!("property_lines checked the source `{}`", self.source),
        };
        PropertyRow {
            name: self.name.to_string(),
            property: self.property.to_string(),
            value: self.value.to_string(),
            source,
        }
    }
}

/// Parses the output of `zpool get`/`zfs get` with `-H -p -o name,property,value,source`.
///
/// A value may itself hold tabs (user properties), so the name and property are the first two
/// fields, the source the last, and the value everything between.
pub fn parse_property_table(output: &str) -> Result<Vec<PropertyRow>, ParseError> {
    // Sized up front: a get on a big host is tens of thousands of rows, and growing the vector by
    // doubling copied them several times over.
    let mut rows = Vec::with_capacity(line_count(output));
    for line in property_lines(output) {
        rows.push(line?.to_row());
    }
    Ok(rows)
}

/// The lines of [`parse_property_table`]'s input, borrowed; an error ends the useful output.
pub fn property_lines(
    output: &str,
) -> impl Iterator<Item = Result<PropertyLine<'_>, ParseError>> + '_ {
    numbered_lines(output).map(|(number, line)| parse_line(number, line))
}

/// An upper bound of the lines in `output`, for sizing what is built from them.
pub fn line_count(output: &str) -> usize {
    output.bytes().filter(|&b| b == b'\n').count() + 1
}

fn parse_line(number: usize, line: &str) -> Result<PropertyLine<'_>, ParseError> {
    let too_few = || {
        let fields = line.split('\t').count();
        ParseError::at(number, line, FIELDS_EXPECTED, fields.to_string())
    };
    let (name, tail) = line.split_once('\t').ok_or_else(too_few)?;
    let (property, tail) = tail.split_once('\t').ok_or_else(too_few)?;
    let (value, source) = tail.rsplit_once('\t').ok_or_else(too_few)?;
    if name.is_empty() {
        return Err(ParseError::at(
            number,
            line,
            "a pool or dataset name in the first field",
            "an empty field",
        ));
    }
    if property.is_empty() {
        return Err(ParseError::at(
            number,
            line,
            "a property name in the second field",
            "an empty field",
        ));
    }
    let known = matches!(source, "local" | "default" | "received" | "temporary" | "-")
        || source
            .strip_prefix("inherited from ")
            .is_some_and(|from| !from.is_empty());
    if !known {
        return Err(ParseError::at(
            number,
            line,
            "a source (local, default, inherited from NAME, received, temporary or -)",
            format!("`{source}`"),
        ));
    }
    Ok(PropertyLine {
        name,
        property,
        value,
        source,
    })
}

fn property_source(input: &str) -> IResult<&str, PropertySource> {
    alt((
        value(PropertySource::Local, tag("local")),
        value(PropertySource::Default, tag("default")),
        value(PropertySource::Received, tag("received")),
        value(PropertySource::Temporary, tag("temporary")),
        value(PropertySource::None, tag("-")),
        preceded(
            tag("inherited from "),
            verify(rest, |from: &str| !from.is_empty()),
        )
        .map(|from: &str| PropertySource::Inherited {
            from: from.to_string(),
        }),
    ))
    .parse(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_kind() {
        let output = "quickOS\tashift\t12\tlocal\n\
                      quickOS/vm-disks\tcompression\tlz4\tinherited from quickOS\n\
                      quickOS/vm-disks\tsync\tstandard\tdefault\n\
                      quickOS/vm-disks\tused\t98304\t-\n\
                      quickOS/vm-disks\tquota\t0\treceived\n\
                      quickOS/vm-disks\tatime\toff\ttemporary\n";
        let rows = parse_property_table(output).unwrap();
        let sources: Vec<_> = rows.iter().map(|row| row.source.clone()).collect();
        assert_eq!(
            sources,
            vec![
                PropertySource::Local,
                PropertySource::Inherited {
                    from: "quickOS".into()
                },
                PropertySource::Default,
                PropertySource::None,
                PropertySource::Received,
                PropertySource::Temporary,
            ]
        );
        assert_eq!(rows[3].value_u64(), Some(98_304));
        assert_eq!(rows[4].value_bytes(), Some(0));
    }

    #[test]
    fn values_may_hold_tabs_and_be_empty() {
        let rows = parse_property_table(
            "fastData\tphoenix:note\ta\tb\tlocal\nfastData\tphoenix:x\t\tlocal",
        )
        .unwrap();
        assert_eq!(rows[0].value, "a\tb");
        assert_eq!(rows[1].value, "");
    }

    #[test]
    fn borrowed_lines_read_as_the_rows_do() {
        let output = "quickOS\tquota\t0\tlocal\nquickOS/a\tquota\t0\tinherited from quickOS\n";
        let lines: Vec<PropertyLine> = property_lines(output).collect::<Result<_, _>>().unwrap();
        assert!(lines[0].is_local() && !lines[1].is_local());
        let rows: Vec<PropertyRow> = lines.into_iter().map(PropertyLine::to_row).collect();
        assert_eq!(Ok(rows), parse_property_table(output));
        assert!(property_lines("a\tb\tc\tinherited\n").all(|l| l.is_err()));
    }

    #[test]
    fn empty_output_is_no_rows() {
        assert_eq!(parse_property_table(""), Ok(vec![]));
    }

    #[test]
    fn too_few_fields_names_the_line() {
        let error = parse_property_table("quickOS\tsize\t1\t-\nquickOS\tfree\t2\t-\nquickOS\tsize")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 3: expected 4 tab-separated fields (name, property, value, source), found 2: `quickOS\\tsize`"
        );
    }

    #[test]
    fn unknown_source_is_rejected() {
        let error = parse_property_table("quickOS\tsize\t1\tinherited\n").unwrap_err();
        assert_eq!(error.line, 1);
        assert!(error.expected.starts_with("a source"), "{error}");
        assert!(parse_property_table("a\tb\tc\tinherited from \n").is_err());
        assert!(parse_property_table("\tb\tc\t-\n").is_err());
        assert!(parse_property_table("a\t\tc\t-\n").is_err());
    }
}
