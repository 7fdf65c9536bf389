//! On-disk signature probe: the contract only, until the probe work lands (branch `probe`).

use serde::{Deserialize, Serialize};

pub const PROBE_WINDOW: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub kind: SignatureKind,
    pub offset: u64,
    pub label: Option<String>,
    pub uuid: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureKind {
    Gpt,
    GptBackup,
    Mbr,
    ProtectiveMbr,
    ZfsLabel,
    Lvm2,
    MdRaid,
    Luks,
    Ext,
    Xfs,
    Btrfs,
    Swap,
}

pub fn probe(_head: &[u8], _tail: &[u8], _size: u64, _logical_block_size: u32) -> Vec<Signature> {
    Vec::new()
}

impl SignatureKind {
    pub fn name(self) -> &'static str {
        "unknown"
    }
}
