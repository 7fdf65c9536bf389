//! The capture of a device that `debug snapshot-host` writes and `--root DIR` reads: the windows
//! the probe read, so that a host read later sees what this one saw.
//!
//! `dev/NAME` holds the bytes of the windows that are not all zero, one after the other, and
//! `dev/NAME.windows` says where each window lies, one line per window:
//!
//! ```text
//! 0 1048576          1 MiB at offset 0, its bytes next in dev/NAME
//! 1048576 3145728 zeros   3 MiB read as zeros, not stored
//! ```
//!
//! A capture without an index was written by an older version: its first and last MiB, one after
//! the other (a device smaller than that is there once).

use crate::formats::ondisk::{ReadBytes, PROBE_WINDOW};

/// The file beside a capture that indexes it.
pub const INDEX_SUFFIX: &str = ".windows";

/// Runs of zeros shorter than this are stored with the data around them.
const ZERO_RUN: usize = 4096;

/// What is wrong with a capture, by line of its index.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaptureError {
    #[error(
        "line {line}: expected `OFFSET LENGTH` or `OFFSET LENGTH zeros` in bytes, found `{text}`"
    )]
    Line { line: usize, text: String },
    #[error("line {line}: the index needs {needed} bytes of data, the capture holds {held}")]
    Short {
        line: usize,
        needed: usize,
        held: usize,
    },
}

/// The bytes a capture holds of a device of `size` bytes.
pub fn decode(data: &[u8], index: Option<&str>, size: u64) -> Result<ReadBytes, CaptureError> {
    let mut bytes = ReadBytes::new(size);
    let Some(index) = index else {
        let window = data.len().min(PROBE_WINDOW as usize);
        bytes.insert(0, data[..window].to_vec());
        bytes.insert(
            size.saturating_sub(window as u64),
            data[data.len() - window..].to_vec(),
        );
        return Ok(bytes);
    };
    let mut at = 0usize;
    for (number, text) in index.lines().enumerate() {
        let line = number + 1;
        let bad = || CaptureError::Line {
            line,
            text: text.to_string(),
        };
        let mut words = text.split_whitespace();
        let (Some(offset), Some(len)) = (words.next(), words.next()) else {
            return Err(bad());
        };
        let offset: u64 = offset.parse().map_err(|_| bad())?;
        let len: usize = len.parse().map_err(|_| bad())?;
        match words.next() {
            None => {
                let chunk = data
                    .get(at..at.saturating_add(len))
                    .ok_or(CaptureError::Short {
                        line,
                        needed: at.saturating_add(len),
                        held: data.len(),
                    })?;
                bytes.insert(offset, chunk.to_vec());
                at += len;
            }
            Some("zeros") if words.next().is_none() => bytes.insert(offset, vec![0; len]),
            Some(_) => return Err(bad()),
        }
    }
    Ok(bytes)
}

/// The capture of `bytes`: the data file's bytes and the index.
pub fn encode(bytes: &ReadBytes) -> (Vec<u8>, String) {
    let mut data = Vec::new();
    let mut index = String::new();
    for (offset, chunk) in bytes.chunks() {
        for (start, end, zero) in runs(chunk) {
            let at = offset + start as u64;
            if zero {
                index.push_str(&format!("{at} {} zeros\n", end - start));
            } else {
                index.push_str(&format!("{at} {}\n", end - start));
                data.extend_from_slice(&chunk[start..end]);
            }
        }
    }
    (data, index)
}

/// `chunk` cut into runs of zeros (at least [`ZERO_RUN`] long, block aligned) and of data.
fn runs(chunk: &[u8]) -> Vec<(usize, usize, bool)> {
    let mut runs: Vec<(usize, usize, bool)> = Vec::new();
    for (index, block) in chunk.chunks(ZERO_RUN).enumerate() {
        let start = index * ZERO_RUN;
        let zero = block.len() == ZERO_RUN && block.iter().all(|&b| b == 0);
        match runs.last_mut() {
            Some(run) if run.2 == zero => run.1 = start + block.len(),
            _ => runs.push((start, start + block.len(), zero)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_reads_back_what_was_read() {
        let mut read = ReadBytes::new(1 << 30);
        let mut head = vec![0u8; 4 << 20];
        head[510] = 0x55;
        head[(2 << 20) + 7] = 9;
        read.insert(0, head);
        read.insert((1 << 30) - (1 << 20), vec![0u8; 1 << 20]);
        let (data, index) = encode(&read);
        assert_eq!(data.len(), 2 * ZERO_RUN, "only the blocks holding data");
        assert_eq!(
            index,
            "0 4096\n4096 2093056 zeros\n2097152 4096\n2101248 2093056 zeros\n1072693248 1048576 zeros\n"
        );
        assert_eq!(decode(&data, Some(&index), 1 << 30), Ok(read));
    }

    #[test]
    fn an_old_capture_is_its_first_and_last_mib() {
        let mut data = vec![1u8; 2 << 20];
        data[(1 << 20)..].fill(2);
        let read = decode(&data, None, 1 << 30).unwrap();
        assert_eq!(read.head(), &data[..1 << 20]);
        assert_eq!(read.tail(), &data[1 << 20..]);
        let small = decode(&[3u8; 100], None, 100).unwrap();
        assert_eq!(small.head(), &[3u8; 100][..]);
    }

    #[test]
    fn a_bad_index_names_its_line() {
        assert_eq!(
            decode(&[], Some("0 10 zeros\n12 x\n"), 100),
            Err(CaptureError::Line {
                line: 2,
                text: "12 x".into()
            })
        );
        assert_eq!(
            decode(&[0; 4], Some("0 10\n"), 100),
            Err(CaptureError::Short {
                line: 1,
                needed: 10,
                held: 4
            })
        );
    }
}
