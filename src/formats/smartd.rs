//! smartd monitoring of the pool drives: the lines phoenix-zfs owns in /etc/smartd.conf,
//! between `# BEGIN phoenix-zfs` and `# END phoenix-zfs`, and merging them into the file.
//!
//! smartd.conf(5): a `DEVICESCAN` entry makes smartd ignore every line after it, and Debian's
//! (so Proxmox's) stock file consists of exactly such a line. Device entries therefore go before
//! the first DEVICESCAN; DEVICESCAN then skips the devices they name (symlinks resolved), so
//! each drive is watched once, with these directives.
//!
//! smartd is one concept on one path through the layers: the file's text and the unit to reload
//! are here; host/services.rs reads the file (when smartmontools is installed); plan/services.rs
//! merges the block into it and plans the write and the reload.

use std::fmt::Write as _;
use thiserror::Error;

pub const SMARTD_CONF: &str = "/etc/smartd.conf";
/// The unit that runs smartd on Debian, reloaded after the file changes.
pub const SMARTD_UNIT: &str = "smartmontools.service";
pub const BEGIN_MARKER: &str = "# BEGIN phoenix-zfs";
pub const END_MARKER: &str = "# END phoenix-zfs";

/// What smartd watches on each drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmartdPolicy {
    /// Composite temperature (°C) logged at LOG_INFO; 0 turns the report off.
    pub temperature_info: u8,
    /// Composite temperature (°C) that warns by mail; 0 turns the report off.
    pub temperature_critical: u8,
    /// `-m`: who gets the warning mails.
    pub mail_to: String,
}

impl Default for SmartdPolicy {
    fn default() -> Self {
        SmartdPolicy {
            temperature_info: 60,
            temperature_critical: 70,
            mail_to: "root".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SmartdError {
    #[error("`{0}` cannot name a device in smartd.conf: use its absolute /dev/disk/by-id path, which has no whitespace")]
    BadDevicePath(String),
    #[error("`{0}` cannot be a mail target in smartd.conf: it must be one word without whitespace or `#`")]
    BadMailTarget(String),
    #[error("smartd.conf line {line}: `{found}` without a matching `{missing}`: remove the partial phoenix-zfs block by hand, then `{}`", crate::remedy::APPLY)]
    UnbalancedMarkers {
        line: usize,
        found: &'static str,
        missing: &'static str,
    },
    #[error("smartd.conf line {line}: a second `{BEGIN_MARKER}` (the first is on line {first}): remove one of the blocks by hand")]
    SecondBlock { line: usize, first: usize },
}

/// The phoenix-zfs block, one entry per drive, in the order given. The paths should be the
/// drives' /dev/disk/by-id links, which stay the same when controllers are renumbered.
pub fn render_block(by_id_paths: &[String], policy: &SmartdPolicy) -> Result<String, SmartdError> {
    if policy.mail_to.is_empty()
        || policy
            .mail_to
            .contains(|c: char| c.is_whitespace() || c == '#')
    {
        return Err(SmartdError::BadMailTarget(policy.mail_to.clone()));
    }
    let mut block = String::new();
    block.push_str(BEGIN_MARKER);
    block.push_str(
        "\n# NVMe drives of the phoenix-zfs pools. Written by phoenix-zfs: changes between\n\
         # these markers are replaced on its next run. -a: health (critical warning byte),\n\
         # error log, self-test log; -W: composite temperature, log at INFO, mail at CRIT.\n",
    );
    for path in by_id_paths {
        if !path.starts_with('/') || path.contains(|c: char| c.is_whitespace() || c == '#') {
            return Err(SmartdError::BadDevicePath(path.clone()));
        }
        let _ = writeln!(
            block,
            "{path} -d nvme -a -W 0,{},{} -m {}",
            policy.temperature_info, policy.temperature_critical, policy.mail_to
        );
    }
    block.push_str(END_MARKER);
    block.push('\n');
    Ok(block)
}

/// The devices phoenix-zfs' block in `conf` names, in order; empty without a block.
pub fn block_devices(conf: &str) -> Vec<String> {
    conf.lines()
        .skip_while(|l| l.trim() != BEGIN_MARKER)
        .take_while(|l| l.trim() != END_MARKER)
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Where the block is and where DEVICESCAN is, by 0-based line index.
struct Positions {
    block: Option<(usize, usize)>,
    devicescan: Option<usize>,
}

fn locate(lines: &[&str]) -> Result<Positions, SmartdError> {
    let mut begin: Option<usize> = None;
    let mut block = None;
    let mut devicescan = None;
    let mut continued = false;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed == BEGIN_MARKER {
            if let Some(first) = begin.or(block.map(|(b, _)| b)) {
                return Err(SmartdError::SecondBlock {
                    line: i + 1,
                    first: first + 1,
                });
            }
            begin = Some(i);
        } else if trimmed == END_MARKER {
            let Some(b) = begin.take() else {
                return Err(SmartdError::UnbalancedMarkers {
                    line: i + 1,
                    found: END_MARKER,
                    missing: BEGIN_MARKER,
                });
            };
            block = Some((b, i));
        } else if begin.is_none() && !continued && devicescan.is_none() {
            let entry = trimmed.split('#').next().unwrap_or("");
            if entry.split_whitespace().next() == Some("DEVICESCAN") {
                devicescan = Some(i);
            }
        }
        continued = !trimmed.starts_with('#') && trimmed.ends_with('\\');
    }
    if let Some(b) = begin {
        return Err(SmartdError::UnbalancedMarkers {
            line: b + 1,
            found: BEGIN_MARKER,
            missing: END_MARKER,
        });
    }
    Ok(Positions { block, devicescan })
}

/// `existing` with the phoenix-zfs block set to `block`: replaced where it is when it is
/// before any DEVICESCAN line (where smartd reads it), otherwise moved or inserted just before
/// the first DEVICESCAN, or appended when there is none. Merging twice changes nothing more.
pub fn merge_block(existing: &str, block: &str) -> Result<String, SmartdError> {
    let lines = split_lines(existing);
    let found = locate(&lines)?;
    let block_lines = split_lines(block);
    let mut out: Vec<&str> = Vec::with_capacity(lines.len() + block_lines.len());
    match (found.block, found.devicescan) {
        (Some((begin, end)), scan) if scan.is_none_or(|s| begin < s) => {
            out.extend(lines.get(..begin).unwrap_or_default());
            out.extend(&block_lines);
            out.extend(lines.get(end + 1..).unwrap_or_default());
        }
        (old, scan) => {
            let kept: Vec<(usize, &str)> = lines
                .iter()
                .copied()
                .enumerate()
                .filter(|(i, _)| old.is_none_or(|(b, e)| *i < b || *i > e))
                .collect();
            let mut inserted = false;
            for (i, line) in kept {
                if Some(i) == scan {
                    out.extend(&block_lines);
                    inserted = true;
                }
                out.push(line);
            }
            if !inserted {
                out.extend(&block_lines);
            }
        }
    }
    let mut text = out.join("\n");
    if !out.is_empty() {
        text.push('\n');
    }
    Ok(text)
}

/// Lines split at `\n` only: `str::lines` would also eat a `\r` before it, and every merge
/// would change such a line again.
fn split_lines(text: &str) -> Vec<&str> {
    match text.strip_suffix('\n') {
        Some(body) => body.split('\n').collect(),
        None if text.is_empty() => Vec::new(),
        None => text.split('\n').collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(paths: &[&str]) -> String {
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        render_block(&paths, &SmartdPolicy::default()).unwrap()
    }

    #[test]
    fn renders_one_line_per_drive() {
        let b = block(&["/dev/disk/by-id/nvme-A_1", "/dev/disk/by-id/nvme-B_2"]);
        assert!(b.starts_with("# BEGIN phoenix-zfs\n"));
        assert!(b.ends_with("# END phoenix-zfs\n"));
        assert!(b.contains("\n/dev/disk/by-id/nvme-A_1 -d nvme -a -W 0,60,70 -m root\n"));
        assert!(b.contains("\n/dev/disk/by-id/nvme-B_2 -d nvme -a -W 0,60,70 -m root\n"));
    }

    #[test]
    fn refuses_paths_smartd_would_split() {
        let bad = render_block(&["/dev/disk/by-id/a b".into()], &SmartdPolicy::default());
        assert!(matches!(bad, Err(SmartdError::BadDevicePath(_))));
        let rel = render_block(&["nvme0n1".into()], &SmartdPolicy::default());
        assert!(matches!(rel, Err(SmartdError::BadDevicePath(_))));
    }

    #[test]
    fn goes_before_devicescan_and_stays_put() {
        let stock = "# comment\nDEVICESCAN -d removable -n standby -m root\n";
        let b = block(&["/dev/disk/by-id/nvme-A_1"]);
        let once = merge_block(stock, &b).unwrap();
        assert!(once.starts_with("# comment\n# BEGIN phoenix-zfs\n"));
        assert!(once.ends_with("# END phoenix-zfs\nDEVICESCAN -d removable -n standby -m root\n"));
        assert_eq!(merge_block(&once, &b).unwrap(), once);
    }

    #[test]
    fn replaces_the_block_in_place() {
        let old = block(&["/dev/disk/by-id/nvme-OLD"]);
        let new = block(&["/dev/disk/by-id/nvme-NEW"]);
        let text = format!("DEFAULT -m root\n{old}/dev/sda -a\nDEVICESCAN\n");
        let merged = merge_block(&text, &new).unwrap();
        assert_eq!(
            merged,
            format!("DEFAULT -m root\n{new}/dev/sda -a\nDEVICESCAN\n")
        );
    }

    #[test]
    fn a_block_after_devicescan_moves_before_it() {
        let b = block(&["/dev/disk/by-id/nvme-A_1"]);
        let text = format!("DEVICESCAN -a\n{b}");
        assert_eq!(
            merge_block(&text, &b).unwrap(),
            format!("{b}DEVICESCAN -a\n")
        );
    }

    #[test]
    fn appends_without_devicescan_and_reads_continuations() {
        let b = block(&["/dev/disk/by-id/nvme-A_1"]);
        let text = "/dev/sda -a \\\n  DEVICESCAN\n# DEVICESCAN\n";
        assert_eq!(merge_block(text, &b).unwrap(), format!("{text}{b}"));
        assert_eq!(merge_block("", &b).unwrap(), b);
    }

    #[test]
    fn carriage_returns_survive_merging() {
        let b = block(&["/dev/disk/by-id/nvme-A_1"]);
        let text = "/dev/sda -a\r\r\n\n# x\r\n";
        let once = merge_block(text, &b).unwrap();
        assert_eq!(once, format!("{text}{b}"));
        assert_eq!(merge_block(&once, &b).unwrap(), once);
    }

    #[test]
    fn broken_markers_are_refused() {
        let b = block(&[]);
        assert!(matches!(
            merge_block("# BEGIN phoenix-zfs\nx\n", &b),
            Err(SmartdError::UnbalancedMarkers { line: 1, .. })
        ));
        assert!(matches!(
            merge_block("x\n# END phoenix-zfs\n", &b),
            Err(SmartdError::UnbalancedMarkers { line: 2, .. })
        ));
        assert!(matches!(
            merge_block(&format!("{b}{b}"), &b),
            Err(SmartdError::SecondBlock { .. })
        ));
    }

    #[test]
    fn block_devices_lists_only_the_block() {
        let block = render_block(
            &[
                "/dev/disk/by-id/nvme-A_1".into(),
                "/dev/disk/by-id/nvme-B_2".into(),
            ],
            &SmartdPolicy::default(),
        )
        .unwrap();
        let conf = merge_block("/dev/sda -a\nDEVICESCAN -m root\n", &block).unwrap();
        assert_eq!(
            block_devices(&conf),
            ["/dev/disk/by-id/nvme-A_1", "/dev/disk/by-id/nvme-B_2"]
        );
        assert!(block_devices("DEVICESCAN\n").is_empty());
    }
}
