//! probe(), the zero proof over the same bytes and the partition tables' extents must never
//! panic, whatever the bytes and however head, tail and size disagree.
//!
//! Input layout: byte 0 picks the logical block size, bytes 1..9 are the device size beyond the
//! probed bytes (little-endian), the rest is split in half into head and tail. Seeds made from
//! the signature fixtures put real structures at their real offsets.
#![no_main]
use libfuzzer_sys::fuzz_target;
use phoenix_zfs::formats::ondisk::{probe, survey, table_partitions, ReadBytes};

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

    // The zero proof over the same bytes: what it recognises is what probe() does, and every
    // non-zero byte is either accounted for or reported.
    let mut read = ReadBytes::new(size);
    read.insert(0, head.to_vec());
    read.insert(size.saturating_sub(tail.len() as u64), tail.to_vec());
    let surveyed = survey(&read, block_size, &[]);
    let any_data = head.iter().chain(tail).any(|&b| b != 0);
    if any_data {
        assert!(!surveyed.signatures.is_empty() || !surveyed.unrecognised.is_empty());
    } else {
        assert!(surveyed.unrecognised.is_empty());
    }
    for partition in table_partitions(read.head(), read.tail(), size, block_size) {
        let _ = read.slice(partition.extent);
    }
});
