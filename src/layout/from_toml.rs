//! The layout from TOML text: toml's spanned document tree, read field by field.
//!
//! serde's derived `Deserialize` through toml's `ValueDeserializer` gave every field type of the
//! layout its own copy of toml's deserializer, in a binary that must fit Proxmox's 1 MiB
//! first-boot hook (the bytes: BENCHMARKS.md, "The first-boot hook"). Reading the one parsed tree
//! by hand costs a fraction of that and keeps what the derive gave: unknown keys are errors,
//! defaults as documented, and every error has the place in the file it is about.

use super::{
    BindMount, DatasetRole, DatasetSpec, FirmwareSettings, Layout, MatchingPolicy, NfsExport,
    NfsSettings, PoolSpec, PropertyValue, ProxmoxStorage, StorageType, VdevLayout,
    ZfsModuleSettings,
};
use crate::firmware::{Enforcement, Finding, FirmwareRule, Severity};
use crate::formats::size::SizeClass;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

type Value<'i> = Spanned<DeValue<'i>>;

/// What is wrong and where: a byte range of the text.
#[derive(Debug)]
pub(super) struct Error {
    pub span: Option<Range<usize>>,
    pub message: String,
}

type Result<T> = std::result::Result<T, Error>;

fn at(span: Range<usize>, message: String) -> Error {
    Error {
        span: Some(span),
        message,
    }
}

pub(super) fn parse(text: &str) -> Result<Layout> {
    let document = DeTable::parse(text).map_err(|e| Error {
        span: e.span(),
        message: e.message().to_string(),
    })?;
    let span = document.span();
    let mut t = Fields::new(
        document.get_ref(),
        span,
        &[
            "version", "matching", "firmware", "nfs", "zfs", "pool", "dataset",
        ],
    )?;
    Ok(Layout {
        version: t.required("version", u32_value)?,
        matching: t.optional("matching", matching)?.unwrap_or_default(),
        firmware: t.optional("firmware", firmware)?.unwrap_or_default(),
        nfs: t.optional("nfs", nfs)?.unwrap_or_default(),
        zfs: t.optional("zfs", zfs_module)?.unwrap_or_default(),
        pools: t.required("pool", |v| list(v, pool))?,
        datasets: t
            .optional("dataset", |v| list(v, dataset))?
            .unwrap_or_default(),
    })
}

/// The fields of one table, after checking that it has no others.
struct Fields<'a, 'i> {
    table: &'a DeTable<'i>,
    span: Range<usize>,
}

impl<'a, 'i> Fields<'a, 'i> {
    fn new(table: &'a DeTable<'i>, span: Range<usize>, known: &[&str]) -> Result<Self> {
        if let Some(key) = table
            .keys()
            .find(|key| !known.contains(&key.get_ref().as_ref()))
        {
            return Err(at(
                key.span(),
                format!(
                    "unknown field `{}`, expected {}",
                    key.get_ref(),
                    one_of(known)
                ),
            ));
        }
        Ok(Fields { table, span })
    }

    fn of(value: &'a Value<'i>, known: &[&str]) -> Result<Self> {
        match value.get_ref() {
            DeValue::Table(table) => Fields::new(table, value.span(), known),
            other => Err(invalid(value, other, "a table")),
        }
    }

    fn get(&self, name: &str) -> Option<&'a Value<'i>> {
        self.table
            .iter()
            .find(|(key, _)| key.get_ref() == name)
            .map(|(_, value)| value)
    }

    fn optional<T>(
        &mut self,
        name: &str,
        read: impl FnOnce(&Value<'i>) -> Result<T>,
    ) -> Result<Option<T>> {
        self.get(name).map(read).transpose()
    }

    fn required<T>(&mut self, name: &str, read: impl FnOnce(&Value<'i>) -> Result<T>) -> Result<T> {
        match self.get(name) {
            Some(value) => read(value),
            None => Err(at(self.span.clone(), format!("missing field `{name}`"))),
        }
    }
}

/// serde's wording for a list of accepted names.
fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing".to_string(),
        [one] => format!("`{one}`"),
        [a, b] => format!("`{a}` or `{b}`"),
        _ => {
            let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
            format!("one of {}", quoted.join(", "))
        }
    }
}

fn invalid(value: &Value<'_>, found: &DeValue<'_>, expected: &str) -> Error {
    let found = match found {
        DeValue::String(s) => format!("string {s:?}"),
        DeValue::Integer(i) => format!("integer `{i}`"),
        DeValue::Float(f) => format!("floating point `{f}`"),
        DeValue::Boolean(b) => format!("boolean `{b}`"),
        DeValue::Datetime(d) => format!("datetime `{d}`"),
        DeValue::Array(_) => "sequence".to_string(),
        DeValue::Table(_) => "map".to_string(),
    };
    at(
        value.span(),
        format!("invalid type: {found}, expected {expected}"),
    )
}

fn string(value: &Value<'_>) -> Result<String> {
    match value.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        other => Err(invalid(value, other, "a string")),
    }
}

fn boolean(value: &Value<'_>) -> Result<bool> {
    match value.get_ref() {
        DeValue::Boolean(b) => Ok(*b),
        other => Err(invalid(value, other, "a boolean")),
    }
}

fn integer(value: &Value<'_>) -> Result<Option<i64>> {
    match value.get_ref() {
        DeValue::Integer(i) => Ok(i64::from_str_radix(i.as_str(), i.radix()).ok()),
        other => Err(invalid(value, other, "an integer")),
    }
}

fn u32_value(value: &Value<'_>) -> Result<u32> {
    integer(value)?
        .and_then(|i| u32::try_from(i).ok())
        .ok_or_else(|| {
            at(
                value.span(),
                format!("invalid value: integer `{}`, expected u32", raw(value)),
            )
        })
}

fn raw<'a>(value: &'a Value<'_>) -> &'a str {
    match value.get_ref() {
        DeValue::Integer(i) => i.as_str(),
        DeValue::Float(f) => f.as_str(),
        _ => "",
    }
}

/// A float, or an integer where a float is wanted (`size_tolerance_percent = 2`).
fn float(value: &Value<'_>) -> Result<f64> {
    let parsed = match value.get_ref() {
        DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
        DeValue::Integer(_) => integer(value)?.map(|i| i as f64),
        other => return Err(invalid(value, other, "f64")),
    };
    parsed.ok_or_else(|| at(value.span(), format!("`{}` is not a number", raw(value))))
}

fn list<'i, T>(value: &Value<'i>, item: impl Fn(&Value<'i>) -> Result<T>) -> Result<Vec<T>> {
    match value.get_ref() {
        DeValue::Array(items) => items.iter().map(item).collect(),
        other => Err(invalid(value, other, "a sequence")),
    }
}

fn strings(value: &Value<'_>) -> Result<Vec<String>> {
    list(value, string)
}

fn variant<T: Copy>(value: &Value<'_>, variants: &[(&str, T)]) -> Result<T> {
    let name = string(value)?;
    variants
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = variants.iter().map(|(known, _)| *known).collect();
            at(
                value.span(),
                format!("unknown variant `{name}`, expected {}", one_of(&names)),
            )
        })
}

fn spanned<T>(value: &Value<'_>, read: impl FnOnce(&Value<'_>) -> Result<T>) -> Result<Spanned<T>> {
    Ok(Spanned::new(value.span(), read(value)?))
}

fn matching(value: &Value<'_>) -> Result<MatchingPolicy> {
    let mut t = Fields::of(value, &["size_tolerance_percent"])?;
    Ok(MatchingPolicy {
        size_tolerance_percent: t
            .optional("size_tolerance_percent", float)?
            .unwrap_or(MatchingPolicy::default().size_tolerance_percent),
    })
}

fn firmware(value: &Value<'_>) -> Result<FirmwareSettings> {
    let mut t = Fields::of(value, &["mode", "rule"])?;
    Ok(FirmwareSettings {
        mode: t
            .optional("mode", |v| {
                variant(
                    v,
                    &[
                        ("enforce", Enforcement::Enforce),
                        ("warn", Enforcement::Warn),
                    ],
                )
            })?
            .unwrap_or_default(),
        rules: t
            .optional("rule", |v| list(v, firmware_rule))?
            .unwrap_or_default(),
    })
}

fn firmware_rule(value: &Value<'_>) -> Result<FirmwareRule> {
    let mut t = Fields::of(value, &["model", "bad", "minimum"])?;
    Ok(FirmwareRule {
        model: t.required("model", string)?,
        bad: t.optional("bad", |v| list(v, finding))?.unwrap_or_default(),
        minimum: t.optional("minimum", finding)?,
    })
}

fn finding(value: &Value<'_>) -> Result<Finding> {
    let mut t = Fields::of(
        value,
        &["revision", "reason", "fixed_by", "source", "severity"],
    )?;
    Ok(Finding {
        revision: t.required("revision", string)?,
        reason: t.required("reason", string)?,
        fixed_by: t.optional("fixed_by", string)?,
        source: t.required("source", string)?,
        severity: t
            .optional("severity", |v| {
                variant(v, &[("refuse", Severity::Refuse), ("warn", Severity::Warn)])
            })?
            .unwrap_or_default(),
    })
}

fn nfs(value: &Value<'_>) -> Result<NfsSettings> {
    let mut t = Fields::of(value, &["network", "root_squash", "install_server"])?;
    let defaults = NfsSettings::default();
    Ok(NfsSettings {
        network: t.optional("network", string)?.unwrap_or(defaults.network),
        root_squash: t
            .optional("root_squash", boolean)?
            .unwrap_or(defaults.root_squash),
        install_server: t
            .optional("install_server", boolean)?
            .unwrap_or(defaults.install_server),
    })
}

fn zfs_module(value: &Value<'_>) -> Result<ZfsModuleSettings> {
    let mut t = Fields::of(value, &["arc_max"])?;
    Ok(ZfsModuleSettings {
        arc_max: t.optional("arc_max", string)?,
    })
}

fn pool(value: &Value<'_>) -> Result<PoolSpec> {
    let mut t = Fields::of(
        value,
        &[
            "name",
            "vdev",
            "drives",
            "size_class",
            "models",
            "serials",
            "properties",
            "filesystem_properties",
        ],
    )?;
    Ok(PoolSpec {
        name: t.required("name", |v| spanned(v, string))?,
        vdev: t.required("vdev", |v| {
            variant(
                v,
                &[
                    ("single", VdevLayout::Single),
                    ("mirror", VdevLayout::Mirror),
                ],
            )
        })?,
        drives: t.required("drives", |v| spanned(v, u32_value))?,
        size_class: t.optional("size_class", size_class)?,
        models: t.optional("models", strings)?.unwrap_or_default(),
        serials: t.optional("serials", strings)?.unwrap_or_default(),
        properties: t.optional("properties", properties)?.unwrap_or_default(),
        filesystem_properties: t
            .optional("filesystem_properties", properties)?
            .unwrap_or_default(),
    })
}

fn size_class(value: &Value<'_>) -> Result<SizeClass> {
    SizeClass::parse(&string(value)?).map_err(|message| at(value.span(), message))
}

fn dataset(value: &Value<'_>) -> Result<DatasetSpec> {
    let mut t = Fields::of(
        value,
        &[
            "name",
            "serves",
            "properties",
            "note",
            "proxmox",
            "nfs",
            "bind_mount",
        ],
    )?;
    Ok(DatasetSpec {
        name: t.required("name", |v| spanned(v, string))?,
        serves: t.required("serves", |v| {
            variant(
                v,
                &[
                    ("files", DatasetRole::Files),
                    ("zvols", DatasetRole::Zvols),
                    ("subvols", DatasetRole::Subvols),
                ],
            )
        })?,
        properties: t.optional("properties", properties)?.unwrap_or_default(),
        note: t.optional("note", string)?,
        proxmox: t.optional("proxmox", proxmox)?,
        nfs: t.optional("nfs", nfs_export)?,
        bind_mount: t.optional("bind_mount", bind_mount)?,
    })
}

fn proxmox(value: &Value<'_>) -> Result<ProxmoxStorage> {
    let mut t = Fields::of(
        value,
        &["storage", "type", "content", "sparse", "blocksize"],
    )?;
    Ok(ProxmoxStorage {
        storage: t.required("storage", string)?,
        kind: t.required("type", |v| {
            variant(
                v,
                &[("zfspool", StorageType::Zfspool), ("dir", StorageType::Dir)],
            )
        })?,
        content: t.required("content", strings)?,
        sparse: t.optional("sparse", boolean)?,
        blocksize: t.optional("blocksize", pve_blocksize)?,
    })
}

/// A zfspool storage's blocksize, refused here, where its place in the file is known, unless
/// pve-storage would take it: `pvesm add` would fail on the first boot otherwise.
fn pve_blocksize(value: &Value<'_>) -> Result<String> {
    let text = string(value)?;
    match crate::formats::proxmox::blocksize::blocksize_bytes(&text) {
        Some(_) => Ok(text),
        None => Err(at(
            value.span(),
            format!(
                "proxmox.blocksize = {text:?} is not a block size Proxmox accepts: write {}",
                crate::formats::proxmox::blocksize::BLOCKSIZE_SYNTAX
            ),
        )),
    }
}

fn nfs_export(value: &Value<'_>) -> Result<NfsExport> {
    let mut t = Fields::of(value, &["sync"])?;
    Ok(NfsExport {
        sync: t.required("sync", boolean)?,
    })
}

fn bind_mount(value: &Value<'_>) -> Result<BindMount> {
    let mut t = Fields::of(value, &["path", "options"])?;
    Ok(BindMount {
        path: t.required("path", string)?,
        options: t.optional("options", strings)?.unwrap_or_default(),
    })
}

/// ZFS properties by name. A value is a string, or for convenience an integer or a boolean
/// (`ashift = 12`, `atime = false` becomes `off`).
fn properties(value: &Value<'_>) -> Result<BTreeMap<String, PropertyValue>> {
    let DeValue::Table(table) = value.get_ref() else {
        return Err(invalid(value, value.get_ref(), "a map"));
    };
    table
        .iter()
        .map(|(key, value)| {
            let text = match value.get_ref() {
                DeValue::String(s) => s.to_string(),
                DeValue::Integer(_) => match integer(value)? {
                    Some(n) => n.to_string(),
                    None => {
                        return Err(at(
                            value.span(),
                            format!("integer `{}` is out of range", raw(value)),
                        ))
                    }
                },
                DeValue::Boolean(true) => "on".to_string(),
                DeValue::Boolean(false) => "off".to_string(),
                other => {
                    return Err(invalid(
                        value,
                        other,
                        "a property value (a string, an integer or a boolean)",
                    ))
                }
            };
            Ok((key.get_ref().to_string(), PropertyValue(text)))
        })
        .collect()
}
