//! A capture's index and data as `--root` reads them: never a panic, and what decodes encodes
//! back to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use phoenix_zfs::host::inventory::capture::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let Some((sizes, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let size = u64::from(u32::from_le_bytes(*sizes));
    let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let (index, payload) = rest.split_at(split);
    let Ok(index) = std::str::from_utf8(index) else {
        return;
    };
    // Bound what an index may ask for: the fuzzer would otherwise allocate terabytes of zeros.
    if index
        .split_whitespace()
        .filter_map(|w| w.parse::<u64>().ok())
        .any(|n| n > 1 << 24)
    {
        return;
    }
    for index in [Some(index), None] {
        if let Ok(read) = decode(payload, index, size) {
            let (again_data, again_index) = encode(&read);
            assert_eq!(decode(&again_data, Some(&again_index), size), Ok(read));
        }
    }
});
