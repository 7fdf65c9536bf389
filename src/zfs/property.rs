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

/// Parses the output of `zpool get`/`zfs get` with `-H -p -o name,property,value,source`.
///
/// A value may itself hold tabs (user properties), so the name and property are the first two
/// fields, the source the last, and the value everything between.
pub fn parse_property_table(output: &str) -> Result<Vec<PropertyRow>, ParseError> {
    numbered_lines(output)
        .map(|(number, line)| parse_row(number, line))
        .collect()
}

fn parse_row(number: usize, line: &str) -> Result<PropertyRow, ParseError> {
    let fields = line.split('\t').count();
    let too_few = || ParseError::at(number, line, FIELDS_EXPECTED, fields.to_string());
    let (name, tail) = line.split_once('\t').ok_or_else(too_few)?;
    let (property, tail) = tail.split_once('\t').ok_or_else(too_few)?;
    let (value, source_text) = tail.rsplit_once('\t').ok_or_else(too_few)?;
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
    let source = match all_consuming(property_source).parse(source_text) {
        Ok((_, source)) => source,
        Err(_) => {
            return Err(ParseError::at(
                number,
                line,
                "a source (local, default, inherited from NAME, received, temporary or -)",
                format!("`{source_text}`"),
            ))
        }
    };
    Ok(PropertyRow {
        name: name.to_string(),
        property: property.to_string(),
        value: value.to_string(),
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
