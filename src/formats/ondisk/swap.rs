//! Linux swap areas and hibernation images: a magic in the last ten bytes of the first page, for
//! every page size Linux supports, and for version 1 the header at 1 KiB (include/linux/swap.h,
//! union swap_header).

use nom::number::complete::le_u32;
use nom::Parser;

use super::fields::{array, host_u32, skip, Parsed};
use super::text::{human_size, nul_padded, uuid};
use super::window::DeviceWindow;
use super::{Signature, SignatureKind};

const PAGE_SIZES: [u64; 5] = [4096, 8192, 16384, 32768, 65536];
const MAGIC_LEN: u64 = 10;
const HEADER_OFFSET: u64 = 1024;
/// version, last_page, nr_badpages, uuid, volume name, and the first 34 padding words, whose
/// 33rd and 34th blkid requires to be zero before trusting uuid and name.
const HEADER_SIZE: usize = 12 + 16 + 16 + 34 * 4;

/// The magics blkid accepts at `page size - 10`, and what each one means.
const MAGICS: [(&[u8], &str); 6] = [
    (b"SWAPSPACE2", "swap v1"),
    (b"SWAP-SPACE", "swap v0"),
    (b"S1SUSPEND", "hibernation image (swsuspend)"),
    (b"S2SUSPEND", "hibernation image (swsuspend)"),
    (b"ULSUSPEND", "hibernation image (uswsusp)"),
    (b"LINHIB0001", "hibernation image (swsuspend)"),
];

struct HeaderV1 {
    version: u32,
    last_page: u32,
    uuid: [u8; 16],
    name: [u8; 16],
    padding_words_32_33_clear: bool,
}

/// The header is in the byte order of the host that wrote it; `version == 1` tells which.
fn header_v1(input: &[u8]) -> Parsed<'_, HeaderV1> {
    let (_, little_endian_version) = le_u32(input)?;
    let word = host_u32(little_endian_version != 1);
    let (rest, (version, last_page, _bad_pages, uuid, name, _, padding_32, padding_33)) = (
        word,
        word,
        word,
        array::<16>,
        array::<16>,
        skip(32 * 4),
        word,
        word,
    )
        .parse(input)?;
    Ok((
        rest,
        HeaderV1 {
            version,
            last_page,
            uuid,
            name,
            padding_words_32_33_clear: padding_32 == 0 && padding_33 == 0,
        },
    ))
}

pub(super) fn probe(device: &DeviceWindow) -> Option<Signature> {
    PAGE_SIZES
        .iter()
        .find_map(|&page_size| probe_page_size(device, page_size))
}

fn probe_page_size(device: &DeviceWindow, page_size: u64) -> Option<Signature> {
    let offset = page_size - MAGIC_LEN;
    let tail = device.bytes(offset, MAGIC_LEN as usize)?;
    let (magic, meaning) = MAGICS.iter().find(|(magic, _)| tail.starts_with(magic))?;
    let mut signature = Signature {
        kind: SignatureKind::Swap,
        offset,
        label: None,
        uuid: None,
        detail: Some(format!("{meaning}, {page_size}-byte pages")),
    };
    if *magic != b"SWAPSPACE2" {
        return Some(signature);
    }
    let (_, header) = header_v1(device.bytes(HEADER_OFFSET, HEADER_SIZE)?).ok()?;
    if header.version != 1 || header.last_page == 0 {
        return None;
    }
    if header.padding_words_32_33_clear {
        signature.label = nul_padded(&header.name);
        signature.uuid = uuid(&header.uuid);
    }
    signature.detail = Some(format!(
        "swap v1, {page_size}-byte pages, {}",
        human_size((u64::from(header.last_page) + 1) * page_size)
    ));
    Some(signature)
}
