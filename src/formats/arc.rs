//! The ZFS ARC limit (`zfs_arc_max`): at run time in /sys/module/zfs/parameters, and for every
//! later boot in /etc/modprobe.d/zfs.conf, which Proxmox's installer also writes
//! (`options zfs zfs_arc_max=BYTES`). The initramfs carries a copy of modprobe.d, so a change
//! there is followed by `update-initramfs -u -k all`, as Proxmox's admin guide says.

pub const RUNTIME_PARAMETER: &str = "/sys/module/zfs/parameters/zfs_arc_max";
pub const MODPROBE_CONF: &str = "/etc/modprobe.d/zfs.conf";
pub const MIN_PARAMETER: &str = "/sys/module/zfs/parameters/zfs_arc_min";
pub const MEMINFO: &str = "/proc/meminfo";
/// ZFS ignores a zfs_arc_max that is not above 64 MiB and keeps its default.
pub const MINIMUM: u64 = 64 << 20;

/// MemTotal of /proc/meminfo in bytes: the memory OpenZFS sizes the ARC by.
pub fn parse_meminfo(text: &str) -> Result<u64, String> {
    text.lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .and_then(|kib| kib.checked_mul(1024))
        .ok_or_else(|| format!("{MEMINFO} has no `MemTotal: N kB` line"))
}

/// The ARC's floor that OpenZFS holds a zfs_arc_max against: zfs_arc_min when set (non-zero),
/// otherwise its default of 1/32 of the RAM (pve-docs local-zfs, "Limit ZFS Memory Usage").
pub fn effective_min(arc_min: u64, ram: u64) -> u64 {
    if arc_min == 0 {
        ram / 32
    } else {
        arc_min
    }
}

/// Why OpenZFS would ignore `wanted` as zfs_arc_max on a host with `ram` bytes whose ARC floor
/// is `floor` (see `effective_min`), and a value it would take instead; None when it takes it.
///
/// OpenZFS keeps its default limit for a zfs_arc_max at or below the floor, at or below
/// 64 MiB, or not below the RAM, yet /sys/module/zfs/parameters/zfs_arc_max reads back the
/// written value: reading it back proves nothing (pve-docs local-zfs, "Limit ZFS Memory Usage").
pub fn ignored(wanted: u64, ram: u64, floor: u64) -> Option<Ignored> {
    let why = if wanted <= floor {
        format!(
            "it is not above zfs_arc_min ({})",
            crate::formats::size::binary(floor)
        )
    } else if wanted <= MINIMUM {
        "it is not above 64 MiB".to_string()
    } else if wanted >= ram {
        format!(
            "it is not below the RAM ({})",
            crate::formats::size::binary(ram)
        )
    } else {
        return None;
    };
    // The next whole GiB above the floor (and above 64 MiB): a value one would write by hand.
    const GIB: u64 = 1 << 30;
    let lowest = floor.max(MINIMUM) / GIB * GIB + GIB;
    let suggestion = (lowest < ram).then_some(lowest);
    Some(Ignored { why, suggestion })
}

/// A zfs_arc_max OpenZFS would not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub why: String,
    /// A limit it would take, when the RAM leaves room for one.
    pub suggestion: Option<u64>,
}

/// The value of a run-time parameter file at `path`; 0 means ZFS's own default.
pub fn parse_runtime(path: &str, text: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{path}: `{}` is not a number of bytes", text.trim()))
}

/// The zfs_arc_max that modprobe.d text sets for the zfs module, if any (the last one wins, as
/// modprobe reads them).
pub fn configured(conf: &str) -> Option<u64> {
    setting(conf, "zfs_arc_max=")
}

/// The zfs_arc_min that modprobe.d text sets for the next boot, if any.
pub fn configured_min(conf: &str) -> Option<u64> {
    setting(conf, "zfs_arc_min=")
}

/// The value after `prefix` (`NAME=`) on the last `options zfs` line that sets it.
fn setting(conf: &str, prefix: &str) -> Option<u64> {
    option_lines(conf)
        .filter_map(|words| {
            words
                .iter()
                .filter_map(|w| w.strip_prefix(prefix))
                .next_back()
                .and_then(|v| v.parse().ok())
        })
        .last()
}

/// The words after `options zfs` of each such line.
fn option_lines(conf: &str) -> impl Iterator<Item = Vec<&str>> {
    conf.lines().filter_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        (words.next() == Some("options") && words.next() == Some("zfs")).then(|| words.collect())
    })
}

/// `conf` setting zfs_arc_max to `bytes`: the value replaced where a line sets it, otherwise a
/// line appended; every other line kept as it is. Merging twice changes nothing more.
pub fn merge(conf: &str, bytes: u64) -> String {
    let wanted = format!("zfs_arc_max={bytes}");
    let mut replaced = false;
    let mut out: Vec<String> = conf
        .lines()
        .map(|line| {
            let (body, comment) = match line.find('#') {
                Some(i) => line.split_at(i),
                None => (line, ""),
            };
            let mut words = body.split_whitespace();
            if words.next() != Some("options") || words.next() != Some("zfs") {
                return line.to_string();
            }
            if !body.contains("zfs_arc_max=") {
                return line.to_string();
            }
            replaced = true;
            let rest: Vec<String> = words
                .map(|w| {
                    if w.starts_with("zfs_arc_max=") {
                        wanted.clone()
                    } else {
                        w.to_string()
                    }
                })
                .collect();
            let mut merged = format!("options zfs {}", rest.join(" "));
            if !comment.is_empty() {
                merged.push(' ');
                merged.push_str(comment);
            }
            merged
        })
        .collect();
    if !replaced {
        out.push(format!("options zfs {wanted}"));
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn memtotal_is_read_in_bytes() {
        let meminfo = "MemTotal:       65849316 kB\nMemFree:        1000 kB\n";
        assert_eq!(parse_meminfo(meminfo), Ok(65849316 * 1024));
        assert!(parse_meminfo("MemFree: 1 kB\n").is_err());
        assert!(parse_meminfo("MemTotal: lots kB\n").is_err());
    }

    #[test]
    fn a_limit_at_or_below_the_floor_is_ignored_and_a_working_one_suggested() {
        let ram = 64 * GIB;
        let floor = effective_min(0, ram);
        assert_eq!(floor, 2 * GIB);
        // At the floor: ignored, although sysfs would read the value back.
        let at = ignored(2 * GIB, ram, floor).unwrap();
        assert!(at.why.contains("zfs_arc_min (2.00 GiB)"), "{}", at.why);
        assert_eq!(at.suggestion, Some(3 * GIB));
        assert!(ignored(GIB, ram, floor).is_some());
        assert_eq!(ignored(2 * GIB + 1, ram, floor), None);
        assert_eq!(ignored(8 * GIB, ram, floor), None);
        // An explicit zfs_arc_min replaces the default.
        assert_eq!(effective_min(4 * GIB, ram), 4 * GIB);
        assert!(ignored(3 * GIB, ram, 4 * GIB).is_some());
        // Not below the RAM.
        let all = ignored(64 * GIB, ram, floor).unwrap();
        assert!(all.why.contains("RAM"), "{}", all.why);
        // A small host: the floor is under 64 MiB, which binds instead.
        let small = ignored(64 << 20, GIB, effective_min(0, GIB)).unwrap();
        assert!(small.why.contains("64 MiB"), "{}", small.why);
        assert_eq!(small.suggestion, None, "1 GiB is the whole RAM");
        assert_eq!(ignored(512 << 20, GIB, effective_min(0, GIB)), None);
    }

    #[test]
    fn the_installers_line_is_replaced_and_other_options_kept() {
        let conf = "options zfs zfs_arc_max=3363831808\noptions zfs zfs_prefetch_disable=1\n";
        let merged = merge(conf, 8 << 30);
        assert_eq!(
            merged,
            "options zfs zfs_arc_max=8589934592\noptions zfs zfs_prefetch_disable=1\n"
        );
        assert_eq!(configured(&merged), Some(8 << 30));
        assert_eq!(merge(&merged, 8 << 30), merged);
    }

    #[test]
    fn a_missing_setting_is_appended() {
        assert_eq!(merge("", 1 << 30), "options zfs zfs_arc_max=1073741824\n");
        let other = "# tuning\noptions zfs zfs_txg_timeout=10\n";
        assert_eq!(
            merge(other, 1 << 30),
            "# tuning\noptions zfs zfs_txg_timeout=10\noptions zfs zfs_arc_max=1073741824\n"
        );
        assert_eq!(configured(other), None);
    }

    #[test]
    fn commented_settings_do_not_count() {
        assert_eq!(configured("#options zfs zfs_arc_max=5\n"), None);
        assert_eq!(configured("options zfs zfs_arc_max=5 # small\n"), Some(5));
        assert_eq!(
            configured_min("options zfs zfs_arc_max=5 zfs_arc_min=3\n"),
            Some(3)
        );
        assert_eq!(parse_runtime(RUNTIME_PARAMETER, "0\n"), Ok(0));
        assert!(parse_runtime(MIN_PARAMETER, "lots").is_err());
    }
}
