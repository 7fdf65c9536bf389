//! What phoenix-zfs knows about ZFS properties: which names exist, which values they take, and how
//! a value written in a layout (`128K`, `800G`) compares with what `zfs get -p` prints (`131072`).

use crate::formats::size::ZfsSize;

/// Where a property is set: on the pool (`zpool create -o`) or on a dataset (`zfs create -o`,
/// `zpool create -O` for the pool's root dataset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyScope {
    Pool,
    Dataset,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Choice(&'static [&'static str]),
    /// A power of two between the bounds, in bytes, spelt as a ZFS size.
    PowerOfTwo(u64, u64),
    /// A ZFS size, or `none`, which `zfs get -p` prints as 0.
    SizeOrNone,
    Integer(u64, u64),
    Text,
    /// An absolute path, `none` or `legacy`.
    Mountpoint,
    /// compression: a fixed set plus gzip-N, zstd-N and zstd-fast-N.
    Compression,
}

const ON_OFF: &[&str] = &["on", "off"];

fn pool_property(name: &str) -> Option<Kind> {
    Some(match name {
        "ashift" => Kind::Integer(9, 16),
        "autotrim" | "autoexpand" | "autoreplace" | "listsnapshots" | "multihost" => {
            Kind::Choice(ON_OFF)
        }
        "failmode" => Kind::Choice(&["wait", "continue", "panic"]),
        "comment" | "compatibility" | "cachefile" => Kind::Text,
        _ => return None,
    })
}

fn dataset_property(name: &str) -> Option<Kind> {
    Some(match name {
        "recordsize" => Kind::PowerOfTwo(512, 16 << 20),
        "volblocksize" => Kind::PowerOfTwo(512, 128 << 10),
        "compression" => Kind::Compression,
        "sync" => Kind::Choice(&["standard", "always", "disabled"]),
        "quota" | "refquota" | "reservation" | "refreservation" | "special_small_blocks" => {
            Kind::SizeOrNone
        }
        "atime" | "relatime" | "readonly" | "exec" | "setuid" | "devices" | "overlay" | "vscan"
        | "nbmand" => Kind::Choice(ON_OFF),
        "xattr" => Kind::Choice(&["on", "off", "sa", "dir"]),
        "acltype" => Kind::Choice(&["off", "noacl", "nfsv4", "posix", "posixacl"]),
        "aclinherit" => Kind::Choice(&[
            "discard",
            "noallow",
            "restricted",
            "passthrough",
            "passthrough-x",
        ]),
        "dnodesize" => Kind::Choice(&["legacy", "auto", "1k", "2k", "4k", "8k", "16k"]),
        "canmount" => Kind::Choice(&["on", "off", "noauto"]),
        "logbias" => Kind::Choice(&["latency", "throughput"]),
        "primarycache" | "secondarycache" => Kind::Choice(&["all", "none", "metadata"]),
        "checksum" => Kind::Choice(&[
            "on",
            "off",
            "fletcher2",
            "fletcher4",
            "sha256",
            "sha512",
            "skein",
            "edonr",
            "blake3",
        ]),
        "copies" => Kind::Integer(1, 3),
        "dedup" => Kind::Choice(&[
            "on",
            "off",
            "verify",
            "sha256",
            "sha256,verify",
            "sha512",
            "blake3",
        ]),
        "redundant_metadata" => Kind::Choice(&["all", "most", "some", "none"]),
        "snapdir" => Kind::Choice(&["hidden", "visible", "disabled"]),
        "mountpoint" => Kind::Mountpoint,
        "sharenfs" | "sharesmb" => Kind::Text,
        _ => return None,
    })
}

fn property_kind(scope: PropertyScope, name: &str) -> Option<Kind> {
    match scope {
        PropertyScope::Pool => pool_property(name),
        PropertyScope::Dataset => dataset_property(name),
    }
}

/// Checks one `name = value` pair as it would be passed to `zpool create -o` or `zfs create -o`.
/// The error says what is wrong and what is accepted, without the file context (the caller adds it).
pub fn check(scope: PropertyScope, name: &str, value: &str) -> Result<(), String> {
    if scope == PropertyScope::Dataset && name.contains(':') {
        return check_user_property(name, value);
    }
    let kind = property_kind(scope, name);
    let Some(kind) = kind else {
        let what = match scope {
            PropertyScope::Pool => "pool property (zpool create -o)",
            PropertyScope::Dataset => "dataset property (zfs create -o); user properties need a colon, like `phoenix:owner`",
        };
        return Err(format!("`{name}` is not a {what} that phoenix-zfs knows"));
    };
    match kind {
        Kind::Choice(allowed) if allowed.contains(&value) => Ok(()),
        Kind::Choice(allowed) => Err(format!(
            "`{name}` cannot be `{value}`: use one of {}",
            allowed.join(", ")
        )),
        Kind::PowerOfTwo(lo, hi) => {
            let bytes = ZfsSize::parse(value)
                .map_err(|e| format!("`{name}`: {e}"))?
                .bytes();
            if bytes.is_power_of_two() && (lo..=hi).contains(&bytes) {
                Ok(())
            } else {
                Err(format!(
                    "`{name}` cannot be `{value}`: it must be a power of two from {} to {}",
                    ZfsSize(lo),
                    ZfsSize(hi)
                ))
            }
        }
        Kind::SizeOrNone if value == "none" => Ok(()),
        Kind::SizeOrNone => ZfsSize::parse(value)
            .map(drop)
            .map_err(|e| format!("`{name}`: {e}, or none")),
        Kind::Integer(lo, hi) => match value.parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(()),
            _ => Err(format!(
                "`{name}` cannot be `{value}`: it must be a whole number from {lo} to {hi}"
            )),
        },
        Kind::Text => Ok(()),
        Kind::Mountpoint if value == "none" || value == "legacy" || value.starts_with('/') => {
            Ok(())
        }
        Kind::Mountpoint => Err(format!(
            "`mountpoint` cannot be `{value}`: use an absolute path, none or legacy"
        )),
        Kind::Compression => check_compression(value),
    }
}

fn check_compression(value: &str) -> Result<(), String> {
    let level_in = |prefix: &str, lo: u32, hi: u32| {
        value
            .strip_prefix(prefix)
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (lo..=hi).contains(&n))
    };
    let plain = [
        "on",
        "off",
        "lz4",
        "lzjb",
        "gzip",
        "zle",
        "zstd",
        "zstd-fast",
    ]
    .contains(&value);
    if plain
        || level_in("gzip-", 1, 9)
        || level_in("zstd-", 1, 19)
        || level_in("zstd-fast-", 1, 1000)
    {
        Ok(())
    } else {
        Err(format!(
            "`compression` cannot be `{value}`: use lz4, zstd, zstd-1..19, zstd-fast-N, gzip, gzip-1..9, zle, on or off"
        ))
    }
}

fn check_user_property(name: &str, value: &str) -> Result<(), String> {
    let (module, _) = name.split_once(':').unwrap_or((name, ""));
    let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.:".contains(c);
    if module.is_empty() || !name.chars().all(valid) || name.len() > 256 {
        return Err(format!(
            "`{name}` is not a valid user property name: lowercase letters, digits, `-_.:`, with a `module:` prefix"
        ));
    }
    if value.len() > 8192 {
        return Err(format!(
            "the value of `{name}` is longer than ZFS's 8192 bytes"
        ));
    }
    Ok(())
}

/// The form `zfs get -p` / `zpool get -p` prints for a value written in a layout, so that desired and
/// observed values compare as strings: sizes become bytes, `none` sizes become 0.
pub fn normalize(scope: PropertyScope, name: &str, value: &str) -> String {
    let kind = property_kind(scope, name);
    match (name, value) {
        // Aliases zfs accepts but never prints back.
        ("acltype", "posixacl") => return "posix".to_string(),
        ("acltype", "noacl") => return "off".to_string(),
        // OpenZFS 2.2 made system-attribute xattrs what `on` means, and prints `sa` back as `on`.
        ("xattr", "sa") => return "on".to_string(),
        _ => {}
    }
    match kind {
        Some(Kind::PowerOfTwo(..)) | Some(Kind::SizeOrNone) => match value {
            "none" => "0".to_string(),
            v => ZfsSize::parse(v)
                .map(|s| s.bytes().to_string())
                .unwrap_or_else(|_| v.to_string()),
        },
        _ => value.to_string(),
    }
}

/// An observed `-p` value spelt as a layout writes it, so that a difference compares like with
/// like: `1048576` is `1M`, a size of 0 is `none`. The inverse of [`normalize`] for sizes;
/// anything else, or a size that is not a number, as it is.
pub fn in_layout_units(scope: PropertyScope, name: &str, value: &str) -> String {
    let kind = property_kind(scope, name);
    match (kind, value.parse::<u64>()) {
        (Some(Kind::SizeOrNone), Ok(0)) => "none".into(),
        (Some(Kind::PowerOfTwo(..) | Kind::SizeOrNone), Ok(bytes)) => ZfsSize(bytes).to_string(),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PropertyScope::*;

    #[test]
    fn accepts_what_zfs_accepts() {
        for (n, v) in [
            ("recordsize", "16K"),
            ("recordsize", "1M"),
            ("compression", "zstd-3"),
            ("compression", "lz4"),
            ("sync", "always"),
            ("quota", "1.4T"),
            ("quota", "none"),
            ("mountpoint", "/srv/x"),
            ("phoenix:role", "vm-disks"),
        ] {
            assert_eq!(check(Dataset, n, v), Ok(()), "{n}={v}");
        }
        assert_eq!(check(Pool, "ashift", "12"), Ok(()));
        assert_eq!(check(Pool, "autotrim", "on"), Ok(()));
    }

    #[test]
    fn rejects_with_the_accepted_values() {
        assert!(check(Dataset, "recordsize", "100K")
            .unwrap_err()
            .contains("power of two from 512 to 16M"));
        assert!(check(Dataset, "sync", "sometimes")
            .unwrap_err()
            .contains("standard, always, disabled"));
        assert!(check(Dataset, "compression", "zstd-20").is_err());
        assert!(check(Dataset, "recrodsize", "1M")
            .unwrap_err()
            .contains("not a dataset property"));
        assert!(check(Pool, "ashift", "8")
            .unwrap_err()
            .contains("from 9 to 16"));
        assert!(check(Pool, "recordsize", "1M")
            .unwrap_err()
            .contains("not a pool property"));
        assert!(check(Dataset, "Bad:Name", "x").is_err());
    }

    /// Values as a layout writes them and as `zfs get -p` prints them, each the other's form.
    const BOTH_WAYS: &[(PropertyScope, &str, &str, &str)] = &[
        (Dataset, "recordsize", "128K", "131072"),
        (Dataset, "recordsize", "16K", "16384"),
        (Dataset, "recordsize", "1M", "1048576"),
        (Dataset, "quota", "800G", "858993459200"),
        (Dataset, "quota", "100G", "107374182400"),
        (Dataset, "quota", "none", "0"),
        (Dataset, "compression", "lz4", "lz4"),
        (Pool, "ashift", "12", "12"),
    ];

    #[test]
    fn layout_values_and_what_get_p_prints_convert_both_ways() {
        for &(scope, name, layout, printed) in BOTH_WAYS {
            assert_eq!(normalize(scope, name, layout), printed, "{name} = {layout}");
            assert_eq!(
                in_layout_units(scope, name, printed),
                layout,
                "{name}: {printed}"
            );
        }
        // Aliases zfs never prints back, and values no layout writes: one way only.
        assert_eq!(normalize(Dataset, "acltype", "posixacl"), "posix");
        assert_eq!(normalize(Dataset, "xattr", "sa"), "on");
        // What the layout writes 1.4T as, to the byte, is not a whole number of any unit.
        assert_eq!(in_layout_units(Dataset, "quota", "1539316278886"), "1.40T");
        assert_eq!(in_layout_units(Dataset, "recordsize", "-"), "-");
    }
}
