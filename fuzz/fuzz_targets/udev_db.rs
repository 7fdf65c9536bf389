#![no_main]
//! The udev database reader and /proc/mounts parser: any bytes give a record or an error, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(record) = phoenix_zfs::formats::udev::parse(text) {
            let _ = record.by_id_links().count();
        }
        let _ = phoenix_zfs::formats::mountinfo::parse(text);
    }
});
