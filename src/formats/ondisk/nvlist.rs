//! The XDR-encoded nvlist OpenZFS keeps in every vdev label (module/nvpair/nvpair.c, `nvs_xdr`).
//! Only the top level is decoded, and only the value types a label's identity needs; every pair
//! carries its encoded size, so everything else is stepped over, nested lists included.

use nom::bytes::complete::take;
use nom::number::complete::{be_u32, be_u64, u8 as byte};
use nom::Parser;

use super::fields::{skip, Parsed};

/// `nvs_header_t.nvh_encoding` for XDR.
const ENCODING_XDR: u8 = 1;
/// `data_type_t` values the probe reads.
const DATA_TYPE_UINT64: u32 = 8;
const DATA_TYPE_STRING: u32 = 9;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    U64(u64),
    Str(String),
    /// Any other type, kept only so callers can tell "present" from "absent".
    Other {
        data_type: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pair {
    pub(crate) name: String,
    pub(crate) value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NvlistError {
    #[error("nvlist header at byte 0: expected XDR encoding (1), found {found}")]
    NotXdr { found: u8 },
    #[error("nvlist at byte {offset}: expected {expected}")]
    Malformed {
        offset: usize,
        expected: &'static str,
    },
}

/// The top-level pairs of a packed nvlist (header included), in stored order.
pub(crate) fn parse(packed: &[u8]) -> Result<Vec<Pair>, NvlistError> {
    let at = |rest: &[u8]| packed.len().saturating_sub(rest.len());
    let malformed = |rest: &[u8], expected| NvlistError::Malformed {
        offset: at(rest),
        expected,
    };
    let (rest, (encoding, _endian, _)) = (byte, byte, skip(2))
        .parse(packed)
        .map_err(|_: nom::Err<nom::error::Error<&[u8]>>| malformed(packed, "a 4-byte header"))?;
    if encoding != ENCODING_XDR {
        return Err(NvlistError::NotXdr { found: encoding });
    }
    let (mut rest, _version_and_flags) =
        skip(8)(rest).map_err(|_| malformed(rest, "nvlist version and flags"))?;
    let mut pairs = Vec::new();
    loop {
        let (after_sizes, (encoded_size, decoded_size)) =
            (be_u32, be_u32)
                .parse(rest)
                .map_err(|_: nom::Err<nom::error::Error<&[u8]>>| {
                    malformed(rest, "pair sizes or the end marker")
                })?;
        if encoded_size == 0 && decoded_size == 0 {
            return Ok(pairs);
        }
        let body_len = encoded_size
            .checked_sub(8)
            .ok_or_else(|| malformed(rest, "an encoded pair size of at least 8"))?;
        let (next, body) = take(body_len as usize)(after_sizes).map_err(
            |_: nom::Err<nom::error::Error<&[u8]>>| {
                malformed(rest, "a pair as long as its encoded size")
            },
        )?;
        let (_, pair) =
            pair_body(body).map_err(|_| malformed(after_sizes, "a name, type and value"))?;
        pairs.push(pair);
        rest = next;
    }
}

fn pair_body(body: &[u8]) -> Parsed<'_, Pair> {
    let (rest, (name, data_type, _element_count)) = (xdr_string, be_u32, be_u32).parse(body)?;
    let (rest, value) = match data_type {
        DATA_TYPE_UINT64 => be_u64(rest).map(|(rest, value)| (rest, Value::U64(value)))?,
        DATA_TYPE_STRING => xdr_string(rest).map(|(rest, text)| (rest, Value::Str(text)))?,
        data_type => (rest, Value::Other { data_type }),
    };
    Ok((rest, Pair { name, value }))
}

/// An XDR string: a big-endian length, the bytes, zero padding to a multiple of four.
fn xdr_string(input: &[u8]) -> Parsed<'_, String> {
    let (rest, len) = be_u32(input)?;
    let (rest, bytes) = take(len as usize)(rest)?;
    let (rest, _) = take((4 - len as usize % 4) % 4)(rest)?;
    Ok((rest, String::from_utf8_lossy(bytes).into_owned()))
}

pub(crate) fn find_u64(pairs: &[Pair], name: &str) -> Option<u64> {
    pairs.iter().find_map(|pair| match &pair.value {
        Value::U64(value) if pair.name == name => Some(*value),
        _ => None,
    })
}

pub(crate) fn find_str<'a>(pairs: &'a [Pair], name: &str) -> Option<&'a str> {
    pairs.iter().find_map(|pair| match &pair.value {
        Value::Str(text) if pair.name == name => Some(text.as_str()),
        _ => None,
    })
}

/// Builds packed XDR nvlists the way `nvlist_pack(..., NV_ENCODE_XDR, ...)` lays them out, for
/// tests here and in the ZFS label probe.
#[cfg(test)]
pub(crate) mod build {
    pub(crate) enum TestValue<'a> {
        U64(u64),
        Str(&'a str),
        /// An embedded nvlist (type 19) holding one uint64, to check it is stepped over.
        Nested(&'a str, u64),
    }

    fn xdr_string(out: &mut Vec<u8>, text: &str) {
        out.extend_from_slice(&(text.len() as u32).to_be_bytes());
        out.extend_from_slice(text.as_bytes());
        out.resize(out.len() + (4 - text.len() % 4) % 4, 0);
    }

    fn list_body(out: &mut Vec<u8>, pairs: &[(&str, TestValue)]) {
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&1u32.to_be_bytes());
        for (name, value) in pairs {
            let mut body = Vec::new();
            xdr_string(&mut body, name);
            let data_type: u32 = match value {
                TestValue::U64(_) => 8,
                TestValue::Str(_) => 9,
                TestValue::Nested(..) => 19,
            };
            body.extend_from_slice(&data_type.to_be_bytes());
            body.extend_from_slice(&1u32.to_be_bytes());
            match value {
                TestValue::U64(number) => body.extend_from_slice(&number.to_be_bytes()),
                TestValue::Str(text) => xdr_string(&mut body, text),
                TestValue::Nested(inner_name, number) => {
                    list_body(&mut body, &[(inner_name, TestValue::U64(*number))])
                }
            }
            let size = (body.len() + 8) as u32;
            out.extend_from_slice(&size.to_be_bytes());
            out.extend_from_slice(&size.to_be_bytes());
            out.extend_from_slice(&body);
        }
        out.extend_from_slice(&[0; 8]);
    }

    pub(crate) fn packed(pairs: &[(&str, TestValue)]) -> Vec<u8> {
        let mut out = vec![1, 1, 0, 0];
        list_body(&mut out, pairs);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::build::{packed, TestValue};
    use super::*;

    #[test]
    fn reads_top_level_pairs_and_steps_over_nested_lists() {
        let bytes = packed(&[
            ("version", TestValue::U64(5000)),
            ("name", TestValue::Str("tank")),
            ("vdev_tree", TestValue::Nested("guid", 99)),
            ("pool_guid", TestValue::U64(123)),
        ]);
        let pairs = parse(&bytes).expect("a valid nvlist");
        assert_eq!(pairs.len(), 4);
        assert_eq!(find_str(&pairs, "name"), Some("tank"));
        assert_eq!(find_u64(&pairs, "pool_guid"), Some(123));
        assert_eq!(find_u64(&pairs, "guid"), None, "nested pairs stay nested");
        assert_eq!(pairs[2].value, Value::Other { data_type: 19 });
    }

    #[test]
    fn errors_point_at_the_offending_byte() {
        assert_eq!(parse(&[0, 1, 0, 0]), Err(NvlistError::NotXdr { found: 0 }));
        let mut bytes = packed(&[("name", TestValue::Str("tank"))]);
        bytes.truncate(bytes.len() - 12);
        let error = parse(&bytes).expect_err("truncated");
        assert_eq!(
            error,
            NvlistError::Malformed {
                offset: 12,
                expected: "a pair as long as its encoded size"
            }
        );
        assert_eq!(
            error.to_string(),
            "nvlist at byte 12: expected a pair as long as its encoded size"
        );
    }

    #[test]
    fn an_undersized_pair_is_rejected_not_looped_on() {
        let mut bytes = vec![1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        bytes.extend_from_slice(&4u32.to_be_bytes());
        bytes.extend_from_slice(&4u32.to_be_bytes());
        assert!(matches!(
            parse(&bytes),
            Err(NvlistError::Malformed { offset: 12, .. })
        ));
    }
}
