//! The test guest's stand-in for the unit Proxmox's installer enables for a `fully-up` first-boot
//! hook (qemu-tests/harness/proxmox-first-boot-multi-user.service) must order and condition the
//! hook exactly as the real one does, or the scenarios prove phoenix-zfs under an ordering no
//! host has (the stand-in once waited for network-online.target, which hid the late-route case).
//! This compares its directives with the real unit's, kept verbatim with its source in
//! xtask/testdata/proxmox-first-boot-multi-user.service.

use std::collections::BTreeMap;

/// Keys whose value is a space-separated list of unit names, where systemd merges repeated
/// lines and the order of the names means nothing.
const UNIT_LISTS: &[&str] = &[
    "After",
    "Before",
    "Wants",
    "Requires",
    "Requisite",
    "BindsTo",
    "PartOf",
    "Upholds",
    "Conflicts",
    "WantedBy",
    "RequiredBy",
    "Alias",
    "Also",
];

/// A unit's directives as systemd reads them: per (section, key), the values in file order, or
/// for the unit lists the sorted names. Order between different keys carries no meaning.
pub type Directives = BTreeMap<(String, String), Vec<String>>;

/// Parses a unit file (systemd.syntax(7): `[Section]` headers, `Key=Value` lines, `#` and `;`
/// comments, a trailing backslash continuing a line). An empty value resets the key, as in
/// systemd.
pub fn parse_unit(text: &str) -> Result<Directives, String> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if pending.is_none() && (line.is_empty() || line.starts_with('#') || line.starts_with(';'))
        {
            continue;
        }
        let (start, mut joined) = pending.take().unwrap_or((index + 1, String::new()));
        match line.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                joined.push(' ');
                pending = Some((start, joined));
            }
            None => {
                joined.push_str(line);
                lines.push((start, joined));
            }
        }
    }
    if let Some((start, _)) = pending {
        return Err(format!(
            "line {start}: a continuation runs past the end of the file"
        ));
    }
    let mut section: Option<String> = None;
    let mut directives = Directives::new();
    for (number, line) in lines {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.to_string());
            continue;
        }
        let Some(section) = &section else {
            return Err(format!(
                "line {number}: `{line}` comes before any [section]"
            ));
        };
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {number}: `{line}` is not Key=Value"))?;
        let (key, value) = (key.trim(), value.trim());
        let values = directives
            .entry((section.clone(), key.to_string()))
            .or_default();
        if value.is_empty() {
            values.clear();
        } else if UNIT_LISTS.contains(&key) {
            values.extend(value.split_whitespace().map(str::to_string));
            values.sort();
            values.dedup();
        } else {
            values.push(value.to_string());
        }
    }
    directives.retain(|_, values| !values.is_empty());
    Ok(directives)
}

/// Every difference between `actual` and `expected`, one line each; empty when they agree.
pub fn differences(actual: &Directives, expected: &Directives) -> Vec<String> {
    let mut keys: Vec<&(String, String)> = actual.keys().chain(expected.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (section, name) = key;
            match (actual.get(key), expected.get(key)) {
                (Some(a), Some(e)) if a == e => None,
                (Some(a), Some(e)) if UNIT_LISTS.contains(&name.as_str()) => {
                    let only = |x: &[String], y: &[String]| -> String {
                        let names: Vec<&str> = x
                            .iter()
                            .filter(|n| !y.contains(n))
                            .map(String::as_str)
                            .collect();
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(" ")
                        }
                    };
                    Some(format!(
                        "[{section}] {name}: {} not in the real unit; {} missing",
                        only(a, e),
                        only(e, a)
                    ))
                }
                (Some(a), Some(e)) => Some(format!(
                    "[{section}] {name}: {} instead of {}",
                    a.join(" | "),
                    e.join(" | ")
                )),
                (Some(a), None) => Some(format!(
                    "[{section}] {name}={} is not in the real unit",
                    a.join(" | ")
                )),
                (None, Some(e)) => Some(format!("[{section}] {name}={} is missing", e.join(" | "))),
                (None, None) => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST_UNIT: &str =
        include_str!("../../../qemu-tests/harness/proxmox-first-boot-multi-user.service");

    const REAL_UNIT: &str = include_str!("../../testdata/proxmox-first-boot-multi-user.service");

    fn real_unit() -> Directives {
        parse_unit(REAL_UNIT).unwrap()
    }

    fn guest_differences(guest_text: &str) -> Vec<String> {
        differences(&parse_unit(guest_text).unwrap(), &real_unit())
    }

    #[test]
    fn guest_unit_matches_the_installers_fully_up_unit() {
        let diff = guest_differences(GUEST_UNIT);
        assert!(
            diff.is_empty(),
            "qemu-tests/harness/proxmox-first-boot-multi-user.service differs from the real unit \
             (xtask/testdata/proxmox-first-boot-multi-user.service):\n{}",
            diff.join("\n")
        );
        // Nothing in the real unit waits for the network: the scenarios must not either.
        assert!(!GUEST_UNIT
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .any(|l| l.contains("network-online.target")));
    }

    #[test]
    fn a_changed_directive_is_a_difference() {
        let replace = |from: &str, to: &str| {
            assert!(GUEST_UNIT.contains(from), "{from}");
            GUEST_UNIT.replacen(from, to, 1)
        };
        let cases = [
            (
                // The looseness this test was written against.
                replace(
                    "After=systemd-remount-fs.service",
                    "After=network-online.target systemd-remount-fs.service",
                ),
                "[Unit] After: network-online.target not in the real unit; none missing",
            ),
            (
                replace("\nWants=", "\nWants=network-online.target "),
                "[Unit] Wants: network-online.target not in the real unit",
            ),
            (
                replace("ConditionPathIsReadWrite=/var/lib\n", ""),
                "[Unit] ConditionPathIsReadWrite=/var/lib is missing",
            ),
            (
                replace("RemainAfterExit=yes", "RemainAfterExit=no"),
                "[Service] RemainAfterExit: no instead of yes",
            ),
            (
                replace("/usr/bin/rm -v", "rm -f"),
                "[Service] ExecStartPost: rm -f",
            ),
            (
                replace("[Install]\n", "[Install]\nAlso=phx-net.service\n"),
                "[Install] Also=phx-net.service is not in the real unit",
            ),
        ];
        for (text, expected) in cases {
            let diff = guest_differences(&text);
            assert!(
                diff.iter().any(|d| d.starts_with(expected)),
                "expected a difference starting `{expected}`, got {diff:?}"
            );
        }
    }

    #[test]
    fn the_order_of_names_and_of_keys_is_no_difference_but_of_exec_lines_is() {
        let a = parse_unit("[Unit]\nAfter=a.service b.service\nWants=c.service\n").unwrap();
        let b = parse_unit("[Unit]\nWants=c.service\nAfter=b.service\nAfter=a.service\n").unwrap();
        assert!(differences(&a, &b).is_empty());
        let one = parse_unit("[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n").unwrap();
        let two = parse_unit("[Service]\nExecStart=/bin/b\nExecStart=/bin/a\n").unwrap();
        assert_eq!(differences(&one, &two).len(), 1);
        // An empty value resets the list, as systemd does.
        let reset =
            parse_unit("[Unit]\nAfter=x.service\nAfter=\nAfter=b.service a.service\n").unwrap();
        let plain = parse_unit("[Unit]\nAfter=a.service b.service\n").unwrap();
        assert!(differences(&reset, &plain).is_empty());
    }

    #[test]
    fn malformed_units_are_named() {
        assert!(parse_unit("After=a.service\n")
            .unwrap_err()
            .contains("before any [section]"));
        assert!(parse_unit("[Unit]\nAfter a.service\n")
            .unwrap_err()
            .contains("not Key=Value"));
        assert!(parse_unit("[Unit]\nAfter=a \\\n")
            .unwrap_err()
            .contains("continuation"));
    }
}
