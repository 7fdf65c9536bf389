//! The zero proof: which bytes of a device phoenix-zfs reads before it may write it, and what
//! those bytes show. A device is blank when every byte read is zero; a non-zero byte that no
//! recognised structure accounts for is "unrecognised data", which refuses like any signature.
//! Recognition explains what is there; it never decides that nothing is.
//!
//! The windows cover what a write by phoenix-zfs would destroy first: `zpool create` on a whole
//! disk writes its GPT at both ends, partition 1's first two labels from 1 MiB and its last two
//! just before the 8 MiB partition 9 at the end; `wipefs` and `zpool labelclear` write at the same
//! places. So a disk is read over its first 4 MiB and last 16 MiB, and each partition that anyone
//! describes (the kernel, either GPT copy, an entry array without its header, a DOS table) over
//! its first and last MiB.

use super::window::DeviceWindow;
use super::{claimed, is_zpool_whole_disk_table, probe, Extent, Signature, PROBE_WINDOW};

const MIB: u64 = 1024 * 1024;
/// Read at the start of a disk.
pub const DISK_HEAD: u64 = 4 * MIB;
/// Read at the end of a disk.
pub const DISK_TAIL: u64 = 16 * MIB;
/// Zeros are checked a sector at a time; unrecognised data is reported by sector runs.
const SECTOR: u64 = 512;
/// Beyond this many runs of unrecognised data, the count of bytes says the rest.
const MAX_RUNS: usize = 16;

/// The windows a disk of `size` bytes is read over.
pub fn disk_windows(size: u64) -> Vec<Extent> {
    windows(
        Extent {
            offset: 0,
            len: size,
        },
        DISK_HEAD,
        DISK_TAIL,
    )
}

/// The windows a partition at `extent` of its disk is read over, by disk offset.
pub fn partition_windows(extent: Extent) -> Vec<Extent> {
    windows(extent, PROBE_WINDOW, PROBE_WINDOW)
}

fn windows(extent: Extent, head: u64, tail: u64) -> Vec<Extent> {
    let head = Extent {
        offset: extent.offset,
        len: head.min(extent.len),
    };
    let tail_len = tail.min(extent.len);
    let tail = Extent {
        offset: extent.end() - tail_len,
        len: tail_len,
    };
    if tail.offset <= head.end() {
        return vec![Extent {
            offset: extent.offset,
            len: extent.len,
        }];
    }
    vec![head, tail]
}

/// The bytes read of one device (a disk, or a partition cut out of its disk's bytes), by their
/// offset on it, and the ranges a capture of a host (`--root`) did not hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadBytes {
    size: u64,
    /// Sorted by offset, neither overlapping nor touching.
    chunks: Vec<(u64, Vec<u8>)>,
    not_captured: Vec<Extent>,
}

impl ReadBytes {
    pub fn new(size: u64) -> ReadBytes {
        ReadBytes {
            size,
            chunks: Vec::new(),
            not_captured: Vec::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds bytes read at `offset`, merged with what touches them (the new bytes win where they
    /// overlap); what lies past the device's end is dropped.
    pub fn insert(&mut self, offset: u64, mut bytes: Vec<u8>) {
        if offset >= self.size {
            return;
        }
        bytes.truncate(usize::try_from(self.size - offset).unwrap_or(usize::MAX));
        if bytes.is_empty() {
            return;
        }
        let end = offset + bytes.len() as u64;
        let (touching, mut kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.chunks)
            .into_iter()
            .partition(|(at, chunk)| *at <= end && offset <= at + chunk.len() as u64);
        let start = touching.iter().map(|(at, _)| *at).fold(offset, u64::min);
        let stop = touching
            .iter()
            .map(|(at, chunk)| at + chunk.len() as u64)
            .fold(end, u64::max);
        let mut combined = vec![0u8; (stop - start) as usize];
        for (at, chunk) in touching
            .iter()
            .map(|(at, c)| (*at, c.as_slice()))
            .chain([(offset, bytes.as_slice())])
        {
            let from = (at - start) as usize;
            combined[from..from + chunk.len()].copy_from_slice(chunk);
        }
        kept.push((start, combined));
        kept.sort_by_key(|(at, _)| *at);
        self.chunks = kept;
    }

    /// Records that `extent` could not be read because the capture does not hold it.
    pub fn not_captured(&mut self, extent: Extent) {
        if extent.len > 0 {
            self.not_captured.push(extent);
        }
    }

    /// The ranges a capture did not hold: empty for a device read on the host itself.
    pub fn missing(&self) -> &[Extent] {
        &self.not_captured
    }

    /// Whether every byte of `extent` was read.
    pub fn covers(&self, extent: Extent) -> bool {
        extent.len == 0
            || self
                .chunks
                .iter()
                .any(|(at, chunk)| *at <= extent.offset && extent.end() <= at + chunk.len() as u64)
    }

    /// The bytes read from offset 0 on, as far as they run without a gap.
    pub fn head(&self) -> &[u8] {
        match self.chunks.first() {
            Some((0, chunk)) => chunk,
            _ => &[],
        }
    }

    /// The bytes read up to the device's end, as far back as they run without a gap.
    pub fn tail(&self) -> &[u8] {
        match self.chunks.last() {
            Some((at, chunk)) if at + chunk.len() as u64 == self.size => chunk,
            _ => &[],
        }
    }

    /// What was read of `extent`, with offsets relative to its start: a partition's bytes out
    /// of its disk's.
    pub fn slice(&self, extent: Extent) -> ReadBytes {
        let end = extent.end().min(self.size);
        let mut part = ReadBytes::new(end.saturating_sub(extent.offset));
        for (at, chunk) in &self.chunks {
            let from = extent.offset.max(*at);
            let to = end.min(at + chunk.len() as u64);
            if from < to {
                let bytes = chunk[(from - at) as usize..(to - at) as usize].to_vec();
                part.insert(from - extent.offset, bytes);
            }
        }
        for gap in &self.not_captured {
            let from = extent.offset.max(gap.offset);
            let to = end.min(gap.end());
            if from < to {
                part.not_captured(Extent {
                    offset: from - extent.offset,
                    len: to - from,
                });
            }
        }
        part
    }

    /// The runs of bytes read, by offset.
    pub fn chunks(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.chunks
            .iter()
            .map(|(at, chunk)| (*at, chunk.as_slice()))
    }

    /// Whether every byte read is zero.
    pub fn is_all_zero(&self) -> bool {
        self.chunks.iter().all(|(_, chunk)| all_zero(chunk))
    }
}

/// Whether `bytes` are all zero, sixteen at a time: tens of MiB per drive are checked.
fn all_zero(bytes: &[u8]) -> bool {
    let mut wide = bytes.chunks_exact(16);
    let words_zero = wide
        .by_ref()
        .all(|w| u128::from_ne_bytes(w.try_into().unwrap_or([1; 16])) == 0);
    words_zero && wide.remainder().iter().all(|&b| b == 0)
}

/// What the bytes read of a device show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Survey {
    /// The structures recognised.
    pub signatures: Vec<Signature>,
    /// Runs of non-zero bytes that no recognised structure accounts for (at most a few; the
    /// first offset of each is the first non-zero byte).
    pub unrecognised: Vec<Extent>,
    /// How many non-zero bytes in all no structure accounts for.
    pub unrecognised_bytes: u64,
    /// The device holds exactly the GPT that `zpool create` writes on a whole disk.
    pub zpool_whole_disk_table: bool,
}

/// Recognises what `bytes` hold and proves the rest zero. `delegated`: ranges whose bytes another
/// survey answers for (a disk's partitions, each surveyed on its own).
pub fn survey(bytes: &ReadBytes, logical_block_size: u32, delegated: &[Extent]) -> Survey {
    let (head, tail, size) = (bytes.head(), bytes.tail(), bytes.size());
    let signatures = probe(head, tail, size, logical_block_size);
    let device = DeviceWindow::new(head, tail, size);
    let mut accounted = claimed(&device, logical_block_size, &signatures);
    accounted.extend_from_slice(delegated);
    let mut unrecognised: Vec<Extent> = Vec::new();
    let mut unrecognised_bytes = 0u64;
    for (at, chunk) in bytes.chunks() {
        for (index, sector) in chunk.chunks(SECTOR as usize).enumerate() {
            if all_zero(sector) {
                continue;
            }
            let start = at + index as u64 * SECTOR;
            let whole = Extent {
                offset: start,
                len: sector.len() as u64,
            };
            if accounted
                .iter()
                .any(|a| a.offset <= whole.offset && whole.end() <= a.end())
            {
                continue;
            }
            let loose: Vec<u64> = sector
                .iter()
                .enumerate()
                .filter(|(_, &b)| b != 0)
                .map(|(i, _)| start + i as u64)
                .filter(|offset| !accounted.iter().any(|a| a.contains(*offset)))
                .collect();
            let Some(&first) = loose.first() else {
                continue;
            };
            unrecognised_bytes += loose.len() as u64;
            let runs = unrecognised.len();
            match unrecognised.last_mut() {
                Some(run) if run.end() == start => run.len = whole.end() - run.offset,
                _ if runs >= MAX_RUNS => {}
                _ => unrecognised.push(Extent {
                    offset: first,
                    len: whole.end() - first,
                }),
            }
        }
    }
    Survey {
        zpool_whole_disk_table: is_zpool_whole_disk_table(head, tail, size, logical_block_size),
        signatures,
        unrecognised,
        unrecognised_bytes,
    }
}
