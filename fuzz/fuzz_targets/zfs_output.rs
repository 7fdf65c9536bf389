#![no_main]
//! Every zpool/zfs output parser on arbitrary text: none may panic, and a parser that accepts
//! line-per-row output must return one row per line.

use libfuzzer_sys::fuzz_target;
use phoenix_zfs::formats::zfs;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rows) = zfs::parse_property_table(text) {
        assert_eq!(rows.len(), text.lines().count());
    }
    if let Ok(rows) = zfs::parse_zpool_list(text) {
        assert_eq!(rows.len(), text.lines().count());
    }
    if let Ok(rows) = zfs::parse_zfs_list(text) {
        assert_eq!(rows.len(), text.lines().count());
    }
    if let Ok(rows) = zfs::parse_zpool_list_props(text, &["ashift", "autotrim", "guid"]) {
        assert_eq!(rows.len(), text.lines().count());
    }
    let _ = zfs::parse_zpool_status(text);
    let _ = zfs::parse_zpool_import_scan(text);
    let _ = zfs::classify_stderr(text);
    for line in text.lines().take(64) {
        let _ = zfs::parse_zfs_size(line);
    }
});
