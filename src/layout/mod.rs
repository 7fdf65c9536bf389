//! The desired state: pools, datasets and how they are served. The layout is data, not code: the
//! default is the TOML file embedded below, and a file of the same shape can replace it.

mod from_toml;
pub mod properties;
mod validate;

use crate::firmware::{Enforcement, FirmwareRule};
use crate::formats::size::SizeClass;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use toml::Spanned;

pub use validate::{layout_warnings, quota_overcommit, usable_estimate, Warning};

/// The embedded default layout, exactly as `phoenix-zfs layout show` prints it.
pub const DEFAULT_LAYOUT_TOML: &str = include_str!("default.toml");

#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub version: u32,
    pub matching: MatchingPolicy,
    pub firmware: FirmwareSettings,
    pub nfs: NfsSettings,
    pub zfs: ZfsModuleSettings,
    #[serde(rename = "pool")]
    pub pools: Vec<PoolSpec>,
    #[serde(rename = "dataset")]
    pub datasets: Vec<DatasetSpec>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MatchingPolicy {
    pub size_tolerance_percent: f64,
}

fn default_tolerance() -> f64 {
    1.0
}

impl Default for MatchingPolicy {
    fn default() -> Self {
        MatchingPolicy {
            size_tolerance_percent: default_tolerance(),
        }
    }
}

impl MatchingPolicy {
    pub fn tolerance(&self) -> f64 {
        self.size_tolerance_percent / 100.0
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FirmwareSettings {
    pub mode: Enforcement,
    /// Rules added to the built-in policy.
    #[serde(rename = "rule")]
    pub rules: Vec<FirmwareRule>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NfsSettings {
    /// `auto` (the network of the default route's interface) or a CIDR such as 10.0.0.0/24.
    pub network: String,
    pub root_squash: bool,
    /// Install nfs-kernel-server when it is missing and the host is online; Proxmox's ISO
    /// ships only the NFS client.
    pub install_server: bool,
}

fn default_network() -> String {
    "auto".into()
}

impl Default for NfsSettings {
    fn default() -> Self {
        NfsSettings {
            network: default_network(),
            root_squash: true,
            install_server: true,
        }
    }
}

/// How a pool's drives are arranged into its one top-level vdev.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VdevLayout {
    /// One drive, no redundancy.
    Single,
    /// Every drive holds a full copy.
    Mirror,
}

impl fmt::Display for VdevLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VdevLayout::Single => "single",
            VdevLayout::Mirror => "mirror",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolSpec {
    pub name: Spanned<String>,
    pub vdev: VdevLayout,
    pub drives: Spanned<u32>,
    /// Nominal capacity of every member, as sold (`2TB`); absent means any size.
    pub size_class: Option<SizeClass>,
    /// Glob patterns (`*`, `?`) over the drive's model string; empty means any model.
    pub models: Vec<String>,
    /// Serial numbers that pin exactly which drives belong here, when the hardware is ambiguous.
    pub serials: Vec<String>,
    /// `zpool create -o`.
    pub properties: BTreeMap<String, PropertyValue>,
    /// `zpool create -O`: the pool's root dataset, inherited by every dataset below it.
    pub filesystem_properties: BTreeMap<String, PropertyValue>,
}

/// What a dataset is for: it decides which properties matter and which warnings apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetRole {
    /// Plain files: NFS exports, bind mounts, Proxmox dir storage.
    Files,
    /// Parent of per-VM zvols made by Proxmox (zfspool storage, content images).
    Zvols,
    /// Parent of per-container subvolumes made by Proxmox (zfspool storage, content rootdir).
    Subvols,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatasetSpec {
    pub name: Spanned<String>,
    pub serves: DatasetRole,
    pub properties: BTreeMap<String, PropertyValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxmox: Option<ProxmoxStorage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nfs: Option<NfsExport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_mount: Option<BindMount>,
}

impl DatasetSpec {
    /// The pool a dataset lives in: the first component of its name.
    pub fn pool(&self) -> &str {
        self.name.get_ref().split('/').next().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    Zfspool,
    Dir,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProxmoxStorage {
    pub storage: String,
    #[serde(rename = "type")]
    pub kind: StorageType,
    pub content: Vec<String>,
    /// zfspool only: create zvols thin (`sparse 1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sparse: Option<bool>,
    /// zfspool only: the volblocksize of the zvols Proxmox creates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocksize: Option<String>,
}

/// Settings of the ZFS kernel module.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ZfsModuleSettings {
    /// The ARC's upper limit as a ZFS size (`8G`); absent leaves ZFS's default (half the RAM on
    /// Linux, or what the installer set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arc_max: Option<String>,
}

impl ZfsModuleSettings {
    /// arc_max in bytes; validation made sure it parses.
    pub fn arc_max_bytes(&self) -> Option<u64> {
        self.arc_max
            .as_deref()
            .and_then(|t| crate::formats::size::ZfsSize::parse(t).ok())
            .map(|s| s.bytes())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NfsExport {
    /// Writes are acknowledged only when on stable storage (`sync`); otherwise `async`.
    pub sync: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BindMount {
    /// Where the dataset appears inside a container.
    pub path: String,
    pub options: Vec<String>,
}

/// A property value as written in TOML: a string, or for convenience an integer or a boolean
/// (`ashift = 12`, `atime = false` becomes `off`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct PropertyValue(pub String);

impl From<PropertyValue> for String {
    fn from(v: PropertyValue) -> String {
        v.0
    }
}

impl PropertyValue {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A layout that could not be used: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}{}: {message}", place(.position))]
pub struct LayoutError {
    /// The file as the user named it, or `<default layout>`.
    pub source_name: String,
    /// 1-based line and column, when the problem has a place in the file.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

/// Every problem a layout file has, one [`LayoutError`] each, in the order of the file: one run of
/// `layout check` shows all there is to fix. A file that TOML or the layout's shape refuses has
/// one (the reading stops there); a file that reads has every rule's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LayoutErrors(pub Vec<LayoutError>);

impl fmt::Display for LayoutErrors {
    /// One `FILE:LINE:COL: message` line each.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<LayoutError> for LayoutErrors {
    fn from(e: LayoutError) -> Self {
        LayoutErrors(vec![e])
    }
}

/// `:LINE:COL`, the way compilers point into a file.
fn place(position: &Option<(usize, usize)>) -> String {
    position.map_or(String::new(), |(line, col)| format!(":{line}:{col}"))
}

/// Line and column (1-based) of a byte offset in `text`.
pub(crate) fn position_of(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

impl Layout {
    /// The embedded default layout. It is tested to parse and validate, so this cannot fail at run time.
    pub fn default_layout() -> Layout {
        Layout::parse(DEFAULT_LAYOUT_TOML, "<default layout>")
            .unwrap_or_else(|e| unreachable!("the embedded default layout is invalid: {e}"))
    }

    /// Parses and validates a layout; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Layout, LayoutErrors> {
        let layout = from_toml::parse(text).map_err(|e| LayoutError {
            source_name: source_name.to_string(),
            position: e.span.map(|s| position_of(text, s.start)),
            message: e.message.trim_end().replace('\n', "; "),
        })?;
        let problems: Vec<LayoutError> = validate::validate(&layout)
            .into_iter()
            .map(|problem| LayoutError {
                source_name: source_name.to_string(),
                position: problem.span.map(|s| position_of(text, s.start)),
                message: problem.message,
            })
            .collect();
        if problems.is_empty() {
            Ok(layout)
        } else {
            Err(LayoutErrors(problems))
        }
    }

    pub fn load(path: &Path) -> Result<Layout, LayoutErrors> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| LayoutError {
            source_name: name.clone(),
            position: None,
            message: format!("cannot read the layout: {e}"),
        })?;
        Layout::parse(&text, &name)
    }

    pub fn pool(&self, name: &str) -> Option<&PoolSpec> {
        self.pools.iter().find(|p| p.name.get_ref() == name)
    }

    /// Datasets of one pool, parents before children (layout order is kept otherwise).
    pub fn datasets_of<'a>(&'a self, pool: &'a str) -> impl Iterator<Item = &'a DatasetSpec> + 'a {
        self.datasets.iter().filter(move |d| d.pool() == pool)
    }
}

impl PoolSpec {
    pub fn name(&self) -> &str {
        self.name.get_ref()
    }
}

impl DatasetSpec {
    pub fn name(&self) -> &str {
        self.name.get_ref()
    }
}

#[cfg(test)]
mod tests;
