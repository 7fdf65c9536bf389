//! Where the host's files are: the live machine's `/`, or the copy of one that `--root DIR`
//! names (tests, fixture hosts, `debug snapshot-host`), read through the same paths.

use std::path::PathBuf;

/// Where the host's sys/, run/udev/, dev/ and proc/ are: `/` on a live host.
#[derive(Debug, Clone)]
pub struct HostRoot(pub PathBuf);

impl HostRoot {
    pub fn live() -> HostRoot {
        HostRoot(PathBuf::from("/"))
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.0.join(relative.trim_start_matches('/'))
    }
}
