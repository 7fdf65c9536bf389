//! probe() must never panic, whatever the bytes and however head, tail and size disagree.
//!
//! Input layout: byte 0 picks the logical block size, bytes 1..9 are the device size beyond the
//! probed bytes (little-endian), the rest is split in half into head and tail. Seeds made from
//! the signature fixtures put real structures at their real offsets.
#![no_main]
use libfuzzer_sys::fuzz_target;
use phoenix_zfs::host::inventory::probe::probe;

const BLOCK_SIZES: [u32; 4] = [512, 4096, 0, 1024];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some((gap, bytes)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let block_size = BLOCK_SIZES[usize::from(selector) % BLOCK_SIZES.len()];
    let (head, tail) = bytes.split_at(bytes.len() / 2);
    let probed = (head.len() + tail.len()) as u64;
    let size = if selector & 0x80 != 0 {
        // Lengths that contradict the size, the way only a buggy caller would pass them.
        u64::from_le_bytes(*gap)
    } else {
        probed.saturating_add(u64::from_le_bytes(*gap) % (1 << 44))
    };
    let found = probe(head, tail, size, block_size);
    assert!(found
        .windows(2)
        .all(|pair| pair[0].offset <= pair[1].offset));
});
