//! `cargo xtask check-answer [FILE]`: checks a Proxmox automated-installer answer file
//! (default image/answer.toml) the way the installer reads it: into serde structs shaped like
//! proxmox-auto-installer's answer types (all `deny_unknown_fields`, kebab-case keys with their
//! snake_case spellings as aliases), then the bounds and cross-key rules the installer applies
//! after reading (its utils.rs verify_* and the TryFrom conversions of its answer.rs).
//!
//! The structs are those of the newest installer; the older ones differ in a few keys (up to
//! 8.3.x only the snake_case spellings; `reboot-mode` from 8.4.3; `interface-name-pinning`
//! from 9.1.0), listed in [`INSTALLERS`] and [`unknown_to`]. The file is checked once per
//! version, which prints which versions accept it and, for each that does not, the first
//! offending key with its line.

use crate::flags::CheckAnswerOptions;
use crate::util::workspace_root;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// `cargo xtask check-answer`.
pub fn check(options: &CheckAnswerOptions) -> Result<()> {
    let file = options
        .file
        .clone()
        .unwrap_or_else(|| workspace_root().join("image/answer.toml"));
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let verdicts = verdicts(&text);
    println!(
        "{}: checked against the installer's answer types ({} installer versions)",
        file.display(),
        INSTALLERS.len()
    );
    print!("{}", report(&file.display().to_string(), &verdicts));
    if verdicts.iter().any(|v| v.problems.is_empty()) {
        return Ok(());
    }
    bail!(
        "no installer version accepts {}; fix the first problem each one names",
        file.display()
    )
}

/// A range of installer versions whose answer types read the same keys under the same
/// spellings (versions and commits of proxmox/pve-installer), with what is printed with its
/// verdict: what else differs for a phoenix-zfs host.
#[derive(Debug)]
struct Installer {
    version: &'static str,
    until: &'static str,
    note: Option<&'static str>,
}

const INSTALLERS: &[Installer] = &[
    Installer {
        version: "8.3.0",
        until: "8.3.1",
        note: Some("its fully-up unit lacks After=pveproxy.service (added in 8.3.2 by 0b961bc), so the hook may run before /etc/pve is mounted"),
    },
    Installer {
        version: "8.3.2",
        until: "8.3.x",
        note: Some("reads only snake_case keys; image/answer.toml uses the kebab-case spellings of 8.4 and later"),
    },
    Installer {
        version: "8.4.0",
        until: "8.4.2",
        note: None,
    },
    Installer {
        version: "8.4.3",
        until: "9.0.x",
        note: None,
    },
    Installer {
        version: "9.1.0",
        until: "9.2.x",
        note: Some("proxmox-rs means to drop the snake_case aliases in a later major version; write kebab-case"),
    },
];

impl Installer {
    /// Whether this version comes before `version`, a row of [`INSTALLERS`].
    fn before(&self, version: &str) -> bool {
        let row = |v: &str| INSTALLERS.iter().position(|i| i.version == v);
        row(self.version) < row(version)
    }

    /// Reads a key with two spellings only under its snake_case one (before e126ee8, 8.4.0).
    /// image/answer.toml is meant for the others: docs/guide.md and image/README.md say so, and a
    /// unit test checks that exactly they accept it.
    fn snake_case_only(&self) -> bool {
        self.before("8.4.0")
    }
}

/// The keys with a snake_case alias that installers up to 8.3.x read only under that alias,
/// by their kebab-case path. `first-boot` (new in 8.3.0, 6526662) was kebab-case from the
/// start, without aliases until 8.4.0.
const SNAKE_CASE_BEFORE_8_4: &[&str] = &[
    "global.root-password",
    "global.root-password-hashed",
    "global.reboot-on-error",
    "global.root-ssh-keys",
    "disk-setup.disk-list",
    "disk-setup.filter-match",
    "disk-setup.zfs.arc-max",
    "post-installation-webhook.cert-fingerprint",
];

/// Why `installer` rejects a key written at `path` that the newest installer reads: a hint
/// (possibly empty) when it does not know the key under that spelling, else None.
fn unknown_to(installer: &Installer, path: &str) -> Option<String> {
    let snake = |path: &str| path.rsplit('.').next().unwrap_or(path).replace('-', "_");
    if installer.snake_case_only() {
        if SNAKE_CASE_BEFORE_8_4.contains(&path) {
            return Some(format!(" (did you mean `{}`?)", snake(path)));
        }
        if path == "first-boot.cert_fingerprint" {
            return Some(" (did you mean `cert-fingerprint`?)".into());
        }
    }
    // reboot-mode arrived with 386c7f8 (8.4.3), interface-name-pinning with bb621a8 (9.1.0).
    let lacks = (installer.before("8.4.3")
        && ["global.reboot-mode", "global.reboot_mode"].contains(&path))
        || (installer.before("9.1.0") && path == "network.interface-name-pinning");
    lacks.then(String::new)
}

// The installer's answer types (proxmox-auto-installer answer.rs, options.rs), newest version.

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Answer {
    global: Global,
    network: Network,
    disk_setup: DiskSetup,
    #[allow(dead_code)]
    post_installation_webhook: Option<PostInstallationWebhook>,
    first_boot: Option<FirstBoot>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
struct Global {
    country: String,
    fqdn: Fqdn,
    keyboard: Keyboard,
    mailto: String,
    timezone: String,
    #[serde(alias = "root_password")]
    root_password: Option<String>,
    #[serde(alias = "root_password_hashed")]
    root_password_hashed: Option<String>,
    #[serde(default, alias = "reboot_on_error")]
    reboot_on_error: bool,
    #[serde(alias = "reboot_mode")]
    reboot_mode: Option<RebootMode>,
    #[serde(default, alias = "root_ssh_keys")]
    root_ssh_keys: Vec<String>,
}

/// A plain FQDN, or where to take it from.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum Fqdn {
    Name(String),
    Extended(FqdnExtended),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
struct FqdnExtended {
    source: Option<FqdnSource>,
    domain: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FqdnSource {
    FromDhcp,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Keyboard {
    De,
    DeCh,
    Dk,
    EnGb,
    EnUs,
    Es,
    Fi,
    Fr,
    FrBe,
    FrCa,
    FrCh,
    Hu,
    Is,
    It,
    Jp,
    Lt,
    Mk,
    Nl,
    No,
    Pl,
    Pt,
    PtBr,
    Se,
    Si,
    Tr,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RebootMode {
    Reboot,
    PowerOff,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Network {
    #[serde(default)]
    source: NetworkSource,
    cidr: Option<String>,
    dns: Option<String>,
    gateway: Option<String>,
    filter: Option<BTreeMap<String, String>>,
    #[allow(dead_code)]
    interface_name_pinning: Option<InterfaceNamePinning>,
}

#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum NetworkSource {
    #[default]
    FromDhcp,
    FromAnswer,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
struct InterfaceNamePinning {
    enabled: bool,
    mapping: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct DiskSetup {
    filesystem: Filesystem,
    #[serde(default, alias = "disk_list")]
    disk_list: Vec<String>,
    filter: Option<BTreeMap<String, String>>,
    #[allow(dead_code)]
    #[serde(alias = "filter_match")]
    filter_match: Option<FilterMatch>,
    zfs: Option<ZfsOptions>,
    lvm: Option<LvmOptions>,
    btrfs: Option<BtrfsOptions>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Filesystem {
    Ext4,
    Xfs,
    Zfs,
    Btrfs,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FilterMatch {
    Any,
    All,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
struct ZfsOptions {
    raid: Option<ZfsRaid>,
    ashift: Option<i64>,
    #[serde(alias = "arc_max")]
    arc_max: Option<i64>,
    checksum: Option<ZfsChecksum>,
    compress: Option<ZfsCompress>,
    copies: Option<i64>,
    hdsize: Option<f64>,
}

#[derive(Debug, Deserialize)]
enum ZfsRaid {
    #[serde(rename = "raid0", alias = "RAID0")]
    Raid0,
    #[serde(rename = "raid1", alias = "RAID1")]
    Raid1,
    #[serde(rename = "raid10", alias = "RAID10")]
    Raid10,
    #[serde(rename = "raidz-1", alias = "RAIDZ-1")]
    RaidZ1,
    #[serde(rename = "raidz-2", alias = "RAIDZ-2")]
    RaidZ2,
    #[serde(rename = "raidz-3", alias = "RAIDZ-3")]
    RaidZ3,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ZfsChecksum {
    On,
    Fletcher4,
    Sha256,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ZfsCompress {
    On,
    Off,
    Lzjb,
    Lz4,
    Zle,
    Gzip,
    Zstd,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LvmOptions {
    hdsize: Option<f64>,
    swapsize: Option<f64>,
    maxroot: Option<f64>,
    maxvz: Option<f64>,
    minfree: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct BtrfsOptions {
    hdsize: Option<f64>,
    raid: Option<BtrfsRaid>,
    compress: Option<BtrfsCompress>,
}

#[derive(Debug, Deserialize)]
enum BtrfsRaid {
    #[serde(rename = "raid0", alias = "RAID0")]
    Raid0,
    #[serde(rename = "raid1", alias = "RAID1")]
    Raid1,
    #[serde(rename = "raid10", alias = "RAID10")]
    Raid10,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum BtrfsCompress {
    On,
    Off,
    Zlib,
    Lzo,
    Zstd,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
struct PostInstallationWebhook {
    url: String,
    #[serde(alias = "cert_fingerprint")]
    cert_fingerprint: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
struct FirstBoot {
    source: FirstBootSource,
    ordering: Option<FirstBootOrdering>,
    url: Option<String>,
    #[serde(alias = "cert_fingerprint")]
    cert_fingerprint: Option<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FirstBootSource {
    FromIso,
    FromUrl,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FirstBootOrdering {
    BeforeNetwork,
    NetworkOnline,
    FullyUp,
}

impl Filesystem {
    fn name(self) -> &'static str {
        match self {
            Filesystem::Ext4 => "ext4",
            Filesystem::Xfs => "xfs",
            Filesystem::Zfs => "zfs",
            Filesystem::Btrfs => "btrfs",
        }
    }
}

/// One thing wrong with an answer file, placed at a section and key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    section: String,
    key: String,
    message: String,
}

impl Problem {
    fn new(section: &str, key: &str, message: impl Into<String>) -> Problem {
        Problem {
            section: section.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let section = if self.section.is_empty() {
            "top level".to_string()
        } else {
            format!("[{}]", self.section)
        };
        if self.key.is_empty() {
            write!(f, "{section}: {}", self.message)
        } else {
            write!(f, "{section} `{}`: {}", self.key, self.message)
        }
    }
}

/// A problem with the line of the key it names (or of its section), when the file has one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Located {
    line: Option<usize>,
    problem: Problem,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.problem),
            None => write!(f, "{}", self.problem),
        }
    }
}

/// What the installer checks after reading the types: bounds and cross-key rules, in its
/// words where it has any (utils.rs verify_*, answer.rs TryFrom<DiskSetup>,
/// TryFrom<NetworkInAnswer>; bounds from proxmox-installer-types' API schema).
fn rules(answer: &Answer) -> Vec<Problem> {
    let mut problems = Vec::new();
    let global = &answer.global;
    let passwords = [&global.root_password, &global.root_password_hashed];
    let set = passwords.iter().filter(|p| p.is_some()).count();
    if set != 1 {
        problems.push(Problem::new("global", "", format!(
            "set exactly one of `root-password`, `root-password-hashed` ({set} set; installer: utils.rs verify_email_and_root_password_settings)"
        )));
    }
    let disks = &answer.disk_setup;
    // An empty list or table is as good as absent to the installer.
    let set = usize::from(!disks.disk_list.is_empty())
        + usize::from(disks.filter.as_ref().is_some_and(|f| !f.is_empty()));
    if set != 1 {
        problems.push(Problem::new("disk-setup", "", format!(
            "set exactly one of `disk-list`, `filter` ({set} set; installer: answer.rs TryFrom<DiskSetup>: \"Need either 'disk-list' or 'filter' set\", \"Cannot use both\")"
        )));
    }
    let fs = disks.filesystem;
    let only_with: [(&str, bool, &[Filesystem]); 3] = [
        ("zfs", disks.zfs.is_some(), &[Filesystem::Zfs]),
        (
            "lvm",
            disks.lvm.is_some(),
            &[Filesystem::Ext4, Filesystem::Xfs],
        ),
        ("btrfs", disks.btrfs.is_some(), &[Filesystem::Btrfs]),
    ];
    for (key, present, allowed) in only_with {
        if present && !allowed.contains(&fs) {
            let names: Vec<String> = allowed.iter().map(|a| format!("`{}`", a.name())).collect();
            problems.push(Problem::new("disk-setup", key, format!(
                "only allowed when `disk-setup.filesystem` is {}, not `{}` (installer: answer.rs TryFrom<DiskSetup>: \"make sure only '{}' options are set\")",
                names.join(" or "), fs.name(), fs.name()
            )));
        }
    }
    let zfs_raid = disks.zfs.as_ref().is_some_and(|z| z.raid.is_some());
    let btrfs_raid = disks.btrfs.as_ref().is_some_and(|b| b.raid.is_some());
    for (key, wanted, raid) in [
        ("zfs", Filesystem::Zfs, zfs_raid),
        ("btrfs", Filesystem::Btrfs, btrfs_raid),
    ] {
        if fs == wanted && !raid {
            problems.push(Problem::new(&format!("disk-setup.{key}"), "raid", format!(
                "required when `disk-setup.filesystem` is `{key}` (installer: answer.rs TryFrom<DiskSetup>: \"raid level '{key}.raid' must be set\")"
            )));
        }
    }
    if let Some(first_boot) = &answer.first_boot {
        if first_boot.source == FirstBootSource::FromUrl && first_boot.url.is_none() {
            problems.push(Problem::new("first-boot", "url", "required when `first-boot.source` is `from-url` (installer: utils.rs verify_first_boot_settings: \"first-boot executable source set to URL, but none specified!\")"));
        }
    }
    let network = &answer.network;
    let statics = [
        ("cidr", network.cidr.is_some()),
        ("dns", network.dns.is_some()),
        ("gateway", network.gateway.is_some()),
        ("filter", network.filter.is_some()),
    ];
    for (key, present) in statics {
        let message = match (&network.source, present) {
            (NetworkSource::FromAnswer, false) => format!("required when `network.source` is `from-answer` (installer: answer.rs TryFrom<NetworkInAnswer>: \"Field '{key}' must be set.\")"),
            (NetworkSource::FromDhcp, true) => format!("only allowed when `network.source` is `from-answer`, not `from-dhcp` (installer: answer.rs TryFrom<NetworkInAnswer>: \"Field '{key}' not supported for 'from-dhcp' config.\")"),
            _ => continue,
        };
        problems.push(Problem::new("network", key, message));
    }
    let mut bound = |section: &str, key: &str, value: Option<f64>, min: f64, max: Option<f64>| {
        let message = match value {
            Some(n) if n < min => format!("{n} is below the minimum {min}"),
            Some(n) if max.is_some_and(|max| n > max) => {
                format!("{n} is above the maximum {}", max.unwrap_or(n))
            }
            _ => return,
        };
        problems.push(Problem::new(section, key, message));
    };
    if let Some(zfs) = &disks.zfs {
        let int = |n: Option<i64>| n.map(|n| n as f64);
        bound("disk-setup.zfs", "ashift", int(zfs.ashift), 9.0, Some(16.0));
        bound("disk-setup.zfs", "arc-max", int(zfs.arc_max), 64.0, None);
        bound("disk-setup.zfs", "copies", int(zfs.copies), 1.0, Some(3.0));
        bound("disk-setup.zfs", "hdsize", zfs.hdsize, 2.0, None);
    }
    if let Some(lvm) = &disks.lvm {
        bound("disk-setup.lvm", "hdsize", lvm.hdsize, 2.0, None);
        bound("disk-setup.lvm", "swapsize", lvm.swapsize, 0.0, None);
        bound("disk-setup.lvm", "maxroot", lvm.maxroot, 2.0, None);
        bound("disk-setup.lvm", "maxvz", lvm.maxvz, 0.0, None);
        bound("disk-setup.lvm", "minfree", lvm.minfree, 0.0, None);
    }
    if let Some(btrfs) = &disks.btrfs {
        bound("disk-setup.btrfs", "hdsize", btrfs.hdsize, 2.0, None);
    }
    problems
}

/// Where every key of a TOML text and its value start, by its dotted path as written (a
/// table's key is that of its header or of its first dotted key); or why the text is not TOML.
fn key_starts(text: &str) -> Result<BTreeMap<String, (usize, usize)>, toml::de::Error> {
    fn walk(
        table: &toml::de::DeTable,
        prefix: &str,
        starts: &mut BTreeMap<String, (usize, usize)>,
    ) {
        for (key, value) in table {
            let path = match prefix {
                "" => key.get_ref().to_string(),
                _ => format!("{prefix}.{}", key.get_ref()),
            };
            let start = (key.span().start, value.span().start);
            starts.entry(path.clone()).or_insert(start);
            if let toml::de::DeValue::Table(inner) = value.get_ref() {
                walk(inner, &path, starts);
            }
        }
    }
    let mut starts = BTreeMap::new();
    walk(toml::de::DeTable::parse(text)?.get_ref(), "", &mut starts);
    Ok(starts)
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('.').unwrap_or(("", path))
}

/// serde's error as a problem at the key it is about: toml places an unknown field at its
/// key, a missing one at its table, a wrong value at the value.
fn serde_problem(
    text: &str,
    starts: &BTreeMap<String, (usize, usize)>,
    error: &toml::de::Error,
) -> Located {
    let message = error.message().trim_end();
    let offset = error.span().map(|s| s.start);
    let line = offset.map(|o| line_at(text, o));
    let field = |prefix: &str| {
        let (name, tail) = message.strip_prefix(prefix)?.split_once('`')?;
        Some((name.to_string(), tail.trim_start_matches(',').trim()))
    };
    let at = starts
        .iter()
        .filter(|(_, (key, value))| Some(*key) == offset || Some(*value) == offset)
        .map(|(path, _)| path.as_str())
        .max_by_key(|path| path.len())
        .unwrap_or("");
    let problem = if let Some((name, expected)) = field("unknown field `") {
        let message = format!("unknown key; the installer rejects unknown keys ({expected})");
        Problem::new(split(at).0, &name, message)
    } else if let Some((name, _)) = field("missing field `") {
        Problem::new(at, &name, "required by the installer, but missing")
    } else {
        let (section, key) = split(at);
        Problem::new(section, key, message)
    };
    Located { line, problem }
}

/// One installer version's verdict on a file: its problems, in the order of the file's lines.
#[derive(Debug)]
struct Verdict {
    installer: &'static Installer,
    problems: Vec<Located>,
}

/// The verdict of every installer version on `text`.
fn verdicts(text: &str) -> Vec<Verdict> {
    let starts = match key_starts(text) {
        Ok(starts) => starts,
        Err(error) => {
            let message = format!("not valid TOML: {}", error.to_string().trim_end());
            let problems = vec![Located {
                line: None,
                problem: Problem::new("", "", message),
            }];
            let verdict = |installer| Verdict {
                installer,
                problems: problems.clone(),
            };
            return INSTALLERS.iter().map(verdict).collect();
        }
    };
    let line_of = |section: &str, key: &str| -> (Option<usize>, bool) {
        let path = |key: &str| match section {
            "" => key.to_string(),
            _ => format!("{section}.{key}"),
        };
        let at_key = [key.to_string(), key.replace('-', "_")]
            .iter()
            .filter(|_| !key.is_empty())
            .find_map(|k| starts.get(&path(k)));
        match at_key {
            Some((start, _)) => (Some(line_at(text, *start)), true),
            None => (starts.get(section).map(|(s, _)| line_at(text, *s)), false),
        }
    };
    let common: Vec<(bool, Located)> = match toml::from_str::<Answer>(text) {
        Ok(answer) => rules(&answer)
            .into_iter()
            .map(|problem| {
                let (line, at_key) = line_of(&problem.section, &problem.key);
                (at_key, Located { line, problem })
            })
            .collect(),
        Err(error) => vec![(true, serde_problem(text, &starts, &error))],
    };
    INSTALLERS
        .iter()
        .map(|installer| {
            let mut located = common.clone();
            for (path, (start, _)) in &starts {
                if let Some(hint) = unknown_to(installer, path) {
                    let (section, key) = split(path);
                    let message = format!("unknown key; the installer rejects unknown keys{hint}");
                    let line = Some(line_at(text, *start));
                    let problem = Problem::new(section, key, message);
                    located.push((true, Located { line, problem }));
                }
            }
            // The offending keys first, in the order of the file, as the installer meets them;
            // then what is wrong with a section as a whole.
            located.sort_by_key(|(at_key, l)| (!at_key, l.line.unwrap_or(usize::MAX)));
            Verdict {
                installer,
                problems: located.into_iter().map(|(_, l)| l).collect(),
            }
        })
        .collect()
}

/// The lines `check-answer` prints: one per installer version, then the versions that accept.
fn report(file: &str, verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    for v in verdicts {
        let i = v.installer;
        // Whether phoenix-zfs supports the version is a fact of the table, not of this file.
        let range = format!(
            "{} to {}{}",
            i.version,
            i.until,
            if i.snake_case_only() {
                " (unsupported)"
            } else {
                ""
            }
        );
        match v.problems.first() {
            None => out.push_str(&format!("  installer {range}: accepts it\n")),
            Some(first) => {
                let more = match v.problems.len() {
                    1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                };
                out.push_str(&format!(
                    "  installer {range}: rejects it: {file}: {first}{more}\n"
                ));
            }
        }
        if let Some(note) = i.note {
            out.push_str(&format!("    note: {note}\n"));
        }
    }
    let accepting: Vec<String> = verdicts
        .iter()
        .filter(|v| v.problems.is_empty())
        .map(|v| format!("{} to {}", v.installer.version, v.installer.until))
        .collect();
    if accepting.is_empty() {
        out.push_str("accepted by: no installer version\n");
    } else {
        out.push_str(&format!("accepted by: {}\n", accepting.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The newest installer's problems with `text`, without their lines.
    fn problems(text: &str) -> Vec<String> {
        let verdicts = verdicts(text);
        let newest = verdicts.last().unwrap();
        newest
            .problems
            .iter()
            .map(|l| l.problem.to_string())
            .collect()
    }

    const GOOD: &str = r#"
[global]
keyboard = "de-ch"
country = "ch"
fqdn = { source = "from-dhcp", domain = "example.org" }
mailto = "admin@example.org"
timezone = "Europe/Zurich"
root_password = "correct horse battery"
root-ssh-keys = ["ssh-ed25519 AAAA... admin"]

[network]
source = "from-answer"
cidr = "192.0.2.10/24"
dns = "192.0.2.1"
gateway = "192.0.2.1"
filter.ID_NET_NAME_MAC = "*525400123456"

[disk-setup]
filesystem = "zfs"
disk-list = ["sda", "sdb"]
zfs.raid = "RAID1"
zfs.ashift = 12
zfs.hdsize = 64

[post-installation-webhook]
url = "https://deploy.example.org/done"

[first-boot]
source = "from-url"
url = "https://deploy.example.org/hook"
"#;

    #[test]
    fn the_shipped_answer_file_passes() {
        let text = std::fs::read_to_string(workspace_root().join("image/answer.toml")).unwrap();
        assert_eq!(problems(&text), Vec::<String>::new());
    }

    #[test]
    fn a_full_answer_file_with_aliases_passes() {
        assert_eq!(problems(GOOD), Vec::<String>::new());
    }

    #[test]
    fn unknown_keys_are_named_with_their_section_and_line() {
        let text = GOOD.replace("filesystem = \"zfs\"", "filesytem = \"zfs\"");
        let verdicts = verdicts(&text);
        let first = verdicts.last().unwrap().problems[0].to_string();
        assert!(
            first.starts_with("line 19: [disk-setup] `filesytem`: unknown key; the installer rejects unknown keys (expected one of `filesystem`"),
            "{first}"
        );
        let found = problems(&format!("{GOOD}\n[first-boot.extra]\nx = 1\n"));
        assert!(
            found[0].starts_with("[first-boot] `extra`: unknown key"),
            "{found:#?}"
        );
        let found = problems(&format!("bogus = 1\n{GOOD}"));
        assert!(
            found[0].starts_with("top level `bogus`: unknown key"),
            "{found:#?}"
        );
        let found = problems(&GOOD.replace("filesystem = \"zfs\"\n", ""));
        assert_eq!(
            found,
            ["[disk-setup] `filesystem`: required by the installer, but missing"]
        );
        let pinning = "source = \"from-answer\"\ninterface-name-pinning.mapping.x = \"y\"";
        let found = problems(&GOOD.replace("source = \"from-answer\"", pinning));
        assert_eq!(
            found,
            ["[network.interface-name-pinning] `enabled`: required by the installer, but missing"]
        );
    }

    #[test]
    fn wrong_types_and_values_are_refused() {
        let cases = [
            ("zfs.ashift = 12", "zfs.ashift = 17", "[disk-setup.zfs] `ashift`: 17 is above the maximum 16"),
            ("zfs.ashift = 12", "zfs.ashift = 8", "[disk-setup.zfs] `ashift`: 8 is below the minimum 9"),
            ("zfs.ashift = 12", "zfs.ashift = \"12\"", "[disk-setup.zfs] `ashift`: invalid type: string \"12\", expected i64"),
            ("zfs.raid = \"RAID1\"", "zfs.raid = \"mirror\"", "[disk-setup.zfs] `raid`: unknown variant `mirror`, expected one of `RAID0`, `raid0`"),
            ("keyboard = \"de-ch\"", "keyboard = \"de_CH\"", "[global] `keyboard`: unknown variant `de_CH`"),
            ("filter.ID_NET_NAME_MAC = \"*525400123456\"", "filter.ID_NET_NAME_MAC = 525400123456", "[network.filter] `ID_NET_NAME_MAC`: invalid type: integer `525400123456`, expected a string"),
            ("fqdn = { source = \"from-dhcp\", domain = \"example.org\" }", "fqdn = 7", "[global] `fqdn`: data did not match any variant"),
        ];
        for (from, to, expected) in cases {
            let found = problems(&GOOD.replace(from, to));
            assert!(
                found.iter().any(|p| p.starts_with(expected)),
                "{to}: {found:#?}"
            );
        }
    }

    #[test]
    fn the_installers_cross_key_rules_hold() {
        let both = GOOD.replace(
            "root_password = ",
            "root-password-hashed = \"!\"\nroot_password = ",
        );
        assert!(problems(&both)[0].starts_with(
            "[global]: set exactly one of `root-password`, `root-password-hashed` (2 set"
        ));
        let neither = GOOD.replace("disk-list = [\"sda\", \"sdb\"]", "disk-list = []");
        assert!(problems(&neither)[0]
            .starts_with("[disk-setup]: set exactly one of `disk-list`, `filter` (0 set"));
        let no_raid = GOOD.replace("zfs.raid = \"RAID1\"\n", "");
        assert!(problems(&no_raid)[0].starts_with(
            "[disk-setup.zfs] `raid`: required when `disk-setup.filesystem` is `zfs`"
        ));
        let lvm_on_zfs = format!(
            "{}\nlvm.maxroot = 10\n",
            GOOD.split("[post-installation-webhook]").next().unwrap()
        );
        assert!(problems(&lvm_on_zfs).iter().any(|p| p.starts_with("[disk-setup] `lvm`: only allowed when `disk-setup.filesystem` is `ext4` or `xfs`, not `zfs`")));
        let no_url = GOOD.replace("url = \"https://deploy.example.org/hook\"\n", "");
        assert!(problems(&no_url)[0]
            .starts_with("[first-boot] `url`: required when `first-boot.source` is `from-url`"));
        // The default network source is from-dhcp, which takes no static address.
        let dhcp = GOOD.replace("source = \"from-answer\"\n", "");
        let found = problems(&dhcp);
        assert!(found.iter().any(|p| p.starts_with("[network] `cidr`: only allowed when `network.source` is `from-answer`, not `from-dhcp`")), "{found:#?}");
    }

    /// A small answer file: `{pw}`, `{keys}`, `{match}` are the spellings to test; `{extra}`
    /// more keys of [global].
    fn small(pw: &str, keys: &str, filter_match: &str, extra: &str) -> String {
        format!(
            "[global]\nkeyboard = \"en-us\"\ncountry = \"us\"\nfqdn = \"pve1.example.org\"\n\
             mailto = \"root@example.org\"\ntimezone = \"UTC\"\n{pw} = \"!\"\n{keys} = []\n{extra}\
             \n[network]\nsource = \"from-dhcp\"\n\
             \n[disk-setup]\nfilesystem = \"ext4\"\nfilter.ID_BUS = \"ata\"\n{filter_match} = \"any\"\n\
             \n[first-boot]\nsource = \"from-iso\"\nordering = \"fully-up\"\n"
        )
    }

    fn kebab() -> String {
        small("root-password-hashed", "root-ssh-keys", "filter-match", "")
    }

    fn snake() -> String {
        small("root_password_hashed", "root_ssh_keys", "filter_match", "")
    }

    /// Each version's verdict: None when it accepts, else its first problem as printed.
    fn verdicts_of(text: &str) -> BTreeMap<String, Option<String>> {
        verdicts(text)
            .iter()
            .map(|v| {
                (
                    v.installer.version.to_string(),
                    v.problems.first().map(ToString::to_string),
                )
            })
            .collect()
    }

    fn accepts(text: &str, version: &str) -> bool {
        let verdicts = verdicts_of(text);
        match verdicts.get(version) {
            Some(verdict) => verdict.is_none(),
            None => panic!("no installer row {version}: {verdicts:#?}"),
        }
    }

    #[test]
    fn installers_8_3_0_and_8_3_2_read_snake_case_only() {
        for version in ["8.3.0", "8.3.2"] {
            assert!(accepts(&snake(), version), "{version}");
            let verdicts = verdicts_of(&kebab());
            assert_eq!(
                verdicts[version].as_deref(),
                Some("line 7: [global] `root-password-hashed`: unknown key; the installer rejects unknown keys (did you mean `root_password_hashed`?)"),
                "{version}"
            );
            // Its first-boot section was kebab-case from the start, without snake aliases.
            let fp = format!("{}cert-fingerprint = \"AA:BB\"\n", snake());
            assert!(accepts(&fp, version), "{version}");
            let fp = format!("{}cert_fingerprint = \"AA:BB\"\n", snake());
            let verdict = verdicts_of(&fp)[version].clone().unwrap();
            assert!(
                verdict.starts_with("line 21: [first-boot] `cert_fingerprint`: unknown key"),
                "{version}: {verdict}"
            );
            // reboot-mode arrived in 8.4.3.
            let mode = small(
                "root_password_hashed",
                "root_ssh_keys",
                "filter_match",
                "reboot_mode = \"power-off\"\n",
            );
            assert!(!accepts(&mode, version), "{version}");
        }
    }

    #[test]
    fn installer_8_4_0_reads_both_spellings_but_not_reboot_mode() {
        assert!(accepts(&kebab(), "8.4.0"));
        assert!(accepts(&snake(), "8.4.0"));
        let mode = small(
            "root-password-hashed",
            "root-ssh-keys",
            "filter-match",
            "reboot-mode = \"power-off\"\n",
        );
        let verdict = verdicts_of(&mode)["8.4.0"].clone().unwrap();
        assert!(
            verdict.starts_with("line 9: [global] `reboot-mode`: unknown key"),
            "{verdict}"
        );
        assert!(accepts(&mode, "8.4.3"));
    }

    #[test]
    fn installer_8_4_3_reads_reboot_mode_but_not_interface_pinning() {
        assert!(accepts(&kebab(), "8.4.3"));
        assert!(accepts(&snake(), "8.4.3"));
        let pinning = kebab().replace(
            "source = \"from-dhcp\"\n",
            "source = \"from-dhcp\"\ninterface-name-pinning.enabled = true\n",
        );
        let verdict = verdicts_of(&pinning)["8.4.3"].clone().unwrap();
        assert!(
            verdict.starts_with("line 12: [network] `interface-name-pinning`: unknown key"),
            "{verdict}"
        );
        assert!(accepts(&pinning, "9.1.0"));
    }

    #[test]
    fn installer_9_1_0_reads_both_spellings_and_every_key() {
        assert!(accepts(&kebab(), "9.1.0"));
        assert!(accepts(&snake(), "9.1.0"));
        // Both spellings of one key at once are one key set twice.
        let twice = small(
            "root-password-hashed",
            "root-ssh-keys",
            "filter-match",
            "root_ssh_keys = []\n",
        );
        let verdict = verdicts_of(&twice)["9.1.0"].clone().unwrap();
        assert!(
            verdict.contains("duplicate field `root-ssh-keys`"),
            "{verdict}"
        );
    }

    /// What docs/guide.md and image/README.md say: the shipped file is for 8.4.0 and later, which
    /// are the rows reading kebab-case, and exactly those accept it.
    #[test]
    fn the_shipped_answer_file_is_accepted_by_the_supported_installers() {
        let text = std::fs::read_to_string(workspace_root().join("image/answer.toml")).unwrap();
        let verdicts = verdicts(&text);
        let accepting: Vec<&str> = verdicts
            .iter()
            .filter(|v| v.problems.is_empty())
            .map(|v| v.installer.version)
            .collect();
        let supported: Vec<&str> = INSTALLERS
            .iter()
            .filter(|i| !i.snake_case_only())
            .map(|i| i.version)
            .collect();
        assert_eq!(accepting, supported);
        assert_eq!(supported, ["8.4.0", "8.4.3", "9.1.0"]);
        assert!(
            text.starts_with("# Answer file for Proxmox VE's automated installer (8.4.0 or later;")
        );
        for document in ["docs/guide.md", "image/README.md"] {
            let doc = std::fs::read_to_string(workspace_root().join(document)).unwrap();
            assert!(doc.contains("8.4.0 or later"), "{document}");
        }
        let report = report("answer.toml", &verdicts);
        assert!(
            report.ends_with("accepted by: 8.4.0 to 8.4.2, 8.4.3 to 9.0.x, 9.1.0 to 9.2.x\n"),
            "{report}"
        );
        assert!(report.contains("installer 8.3.2 to 8.3.x (unsupported): rejects it: answer.toml: line 19: [global] `root-password-hashed`: unknown key"), "{report}");
    }

    /// The keys 8.3.x knows only in snake_case are keys the newest installer reads under
    /// both spellings.
    #[test]
    fn the_snake_case_table_names_keys_of_the_answer_types() {
        for path in SNAKE_CASE_BEFORE_8_4 {
            let (section, key) = path.split_once('.').unwrap();
            for spelling in [key.to_string(), key.replace('-', "_")] {
                let text = GOOD.replace(
                    &format!("[{section}]\n"),
                    &format!("[{section}]\n{spelling} = 1\n"),
                );
                let found = problems(&text);
                assert!(
                    !found.iter().any(|p| p.contains("unknown")),
                    "{spelling}: {found:#?}"
                );
            }
        }
    }

    #[test]
    fn broken_toml_is_reported_with_its_place() {
        let found = problems("[global\ncountry = \"us\"\n");
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("top level: not valid TOML: TOML parse error at line 1"),
            "{found:#?}"
        );
    }
}
