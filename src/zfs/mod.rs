//! zpool and zfs: argv builders and parsers of their scripted output (owned by the zfs work).
