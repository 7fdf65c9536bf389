//! The mountinfo parser on arbitrary text: no panic, every non-empty line is either a mount or
//! an error naming that line, and a device number reads back as it prints.
#![no_main]
use libfuzzer_sys::fuzz_target;
use phoenix_zfs::formats::mountinfo::{parse_mountinfo, DeviceNumber};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (mounts, errors) = parse_mountinfo(text);
    let lines = text.lines().filter(|l| !l.is_empty()).count();
    assert_eq!(mounts.len() + errors.len(), lines);
    let total = text.lines().count();
    assert!(errors.windows(2).all(|w| w[0].line < w[1].line));
    assert!(errors.iter().all(|e| e.line >= 1 && e.line <= total));
    for m in &mounts {
        assert_eq!(DeviceNumber::parse(&m.device.to_string()), Some(m.device));
        assert!(m.mountpoint.starts_with('/'));
    }
});
