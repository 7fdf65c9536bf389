//! nom building blocks shared by the on-disk header parsers.

use nom::bytes::complete::take;
use nom::number::complete::{be_u32, le_u32};
use nom::IResult;

/// The parse result every header parser in this module returns.
pub(crate) type Parsed<'a, T> = IResult<&'a [u8], T>;

/// A fixed-size byte field (UUIDs, labels, magic numbers).
pub(crate) fn array<const N: usize>(input: &[u8]) -> Parsed<'_, [u8; N]> {
    let (rest, bytes) = take(N)(input)?;
    let mut field = [0u8; N];
    field.copy_from_slice(bytes);
    Ok((rest, field))
}

/// Skips `count` bytes of fields the probe does not need.
pub(crate) fn skip(count: usize) -> impl FnMut(&[u8]) -> Parsed<'_, ()> {
    move |input| take(count)(input).map(|(rest, _)| (rest, ()))
}

/// A 32-bit word in the byte order of the host that wrote the structure.
pub(crate) fn host_u32(big_endian: bool) -> impl Fn(&[u8]) -> Parsed<'_, u32> + Copy {
    move |input| {
        if big_endian {
            be_u32(input)
        } else {
            le_u32(input)
        }
    }
}
