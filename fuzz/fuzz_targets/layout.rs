#![no_main]
//! Layout loading and validation: any text gives a layout or an error with a position, never a
//! panic; a valid layout's warnings are computed too (they do arithmetic on sizes).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(layout) = phoenix_zfs::layout::Layout::parse(text, "fuzz.toml") {
            let _ = phoenix_zfs::layout::layout_warnings(&layout);
        }
        let _ = phoenix_zfs::formats::size::ZfsSize::parse(text);
        let _ = phoenix_zfs::formats::size::SizeClass::parse(text);
    }
});
