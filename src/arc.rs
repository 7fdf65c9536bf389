//! The ZFS ARC limit (`zfs_arc_max`): at run time in /sys/module/zfs/parameters, and for every
//! later boot in /etc/modprobe.d/zfs.conf, which Proxmox's installer also writes
//! (`options zfs zfs_arc_max=BYTES`). The initramfs carries a copy of modprobe.d, so a change
//! there is followed by `update-initramfs -u -k all`, as Proxmox's admin guide says.

pub const RUNTIME_PARAMETER: &str = "/sys/module/zfs/parameters/zfs_arc_max";
pub const MODPROBE_CONF: &str = "/etc/modprobe.d/zfs.conf";
/// ZFS ignores a zfs_arc_max below 64 MiB (arc_c_min's floor) and keeps its default.
pub const MINIMUM: u64 = 64 << 20;

/// The value of the run-time parameter file; 0 means ZFS's own default.
pub fn parse_runtime(text: &str) -> Result<u64, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "{RUNTIME_PARAMETER}: `{}` is not a number of bytes",
            text.trim()
        )
    })
}

/// The zfs_arc_max that modprobe.d text sets for the zfs module, if any (the last one wins, as
/// modprobe reads them).
pub fn configured(conf: &str) -> Option<u64> {
    option_lines(conf)
        .filter_map(|words| {
            words
                .iter()
                .filter_map(|w| w.strip_prefix("zfs_arc_max="))
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
        assert_eq!(parse_runtime("0\n"), Ok(0));
        assert!(parse_runtime("lots").is_err());
    }
}
