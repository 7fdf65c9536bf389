//! `cargo xtask check-answer [FILE]`: checks a Proxmox automated-installer answer file
//! (default image/answer.toml) against the installer's schema as image/answer-schema.toml
//! writes it down: TOML syntax, every key known (the installer rejects unknown keys), of its
//! type and allowed values, required keys present, and the installer's cross-key rules.

use crate::util::workspace_root;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use toml::{Table, Value};

pub fn main(args: &[String]) -> Result<()> {
    let root = workspace_root();
    let file = match args {
        [] => root.join("image/answer.toml"),
        [file] => PathBuf::from(file),
        _ => bail!("usage: cargo xtask check-answer [FILE]"),
    };
    let schema_path = root.join("image/answer-schema.toml");
    let schema_text = std::fs::read_to_string(&schema_path)
        .with_context(|| format!("cannot read the schema {}", schema_path.display()))?;
    let schema = Schema::parse(&schema_text)
        .with_context(|| format!("{} is not a valid schema", schema_path.display()))?;
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let problems = schema.check(&text);
    if problems.is_empty() {
        println!(
            "{}: valid ({} keys and {} rules of {})",
            file.display(),
            schema.keys.len(),
            schema.rules.len(),
            schema_path.display()
        );
        return Ok(());
    }
    for p in &problems {
        eprintln!("error: {}: {p}", file.display());
    }
    bail!(
        "{} does not pass the installer's schema: {} problem(s)",
        file.display(),
        problems.len()
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum KeyType {
    String,
    Boolean,
    Integer,
    Number,
    StringArray,
    Enum,
    Table,
    Map,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMore {
    One(KeyType),
    More(Vec<KeyType>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySpec {
    path: String,
    #[serde(rename = "type")]
    types: OneOrMore,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    allowed: Vec<String>,
    default: Option<String>,
    min: Option<f64>,
    max: Option<f64>,
    #[serde(default)]
    aliases: Vec<String>,
    #[allow(dead_code)]
    source: String,
}

impl KeySpec {
    fn types(&self) -> &[KeyType] {
        match &self.types {
            OneOrMore::One(t) => std::slice::from_ref(t),
            OneOrMore::More(ts) => ts,
        }
    }

    fn section(&self) -> &str {
        self.path.rsplit_once('.').map_or("", |(s, _)| s)
    }

    fn name(&self) -> &str {
        self.path.rsplit_once('.').map_or(&self.path, |(_, k)| k)
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum Rule {
    ExactlyOneOf {
        paths: Vec<String>,
        source: String,
    },
    RequiredIf {
        path: String,
        when: String,
        equals: Vec<String>,
        source: String,
    },
    OnlyIf {
        path: String,
        when: String,
        equals: Vec<String>,
        source: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Schema {
    #[serde(rename = "key")]
    keys: Vec<KeySpec>,
    #[serde(rename = "rule", default)]
    rules: Vec<Rule>,
}

/// One thing wrong with an answer file, placed at a section and key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    section: String,
    key: String,
    message: String,
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

fn split(path: &str) -> (String, String) {
    match path.rsplit_once('.') {
        Some((s, k)) => (s.to_string(), k.to_string()),
        None => (String::new(), path.to_string()),
    }
}

/// Set and not empty: the installer treats an empty list or table like an absent one.
fn is_set(value: &Value) -> bool {
    match value {
        Value::Array(a) => !a.is_empty(),
        Value::Table(t) => !t.is_empty(),
        _ => true,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

impl Schema {
    fn parse(text: &str) -> Result<Schema> {
        let schema: Schema = toml::from_str(text)?;
        for k in &schema.keys {
            if k.types().contains(&KeyType::Enum) && k.allowed.is_empty() {
                bail!("`{}` is an enum without allowed values", k.path);
            }
        }
        Ok(schema)
    }

    fn spec(&self, section: &str, key: &str) -> Option<&KeySpec> {
        self.keys.iter().find(|k| {
            k.section() == section && (k.name() == key || k.aliases.iter().any(|a| a == key))
        })
    }

    fn check(&self, text: &str) -> Vec<Problem> {
        let document: Table = match toml::from_str(text) {
            Ok(t) => t,
            Err(e) => {
                return vec![Problem {
                    section: String::new(),
                    key: String::new(),
                    message: format!("not valid TOML: {}", e.to_string().trim_end()),
                }]
            }
        };
        let mut problems = Vec::new();
        let mut found: BTreeMap<String, &Value> = BTreeMap::new();
        self.check_table(&document, "", &mut found, &mut problems);
        self.check_rules(&found, &mut problems);
        problems
    }

    fn check_table<'a>(
        &self,
        table: &'a Table,
        section: &str,
        found: &mut BTreeMap<String, &'a Value>,
        problems: &mut Vec<Problem>,
    ) {
        let problem = |key: &str, message: String| Problem {
            section: section.to_string(),
            key: key.to_string(),
            message,
        };
        for (key, value) in table {
            let Some(spec) = self.spec(section, key) else {
                let known: Vec<&str> = self
                    .keys
                    .iter()
                    .filter(|k| k.section() == section)
                    .map(KeySpec::name)
                    .collect();
                let near = known
                    .iter()
                    .filter(|k| edit_distance(k, key) <= 2)
                    .min_by_key(|k| edit_distance(k, key));
                let hint = match near {
                    Some(k) => format!(" (did you mean `{k}`?)"),
                    None if known.is_empty() => String::new(),
                    None => format!(" (known here: {})", known.join(", ")),
                };
                problems.push(problem(
                    key,
                    format!("unknown key; the installer rejects unknown keys{hint}"),
                ));
                continue;
            };
            if found.contains_key(&spec.path) {
                problems.push(problem(
                    key,
                    format!("`{}` is set twice, under two of its spellings", spec.path),
                ));
                continue;
            }
            found.insert(spec.path.clone(), value);
            if let Err(message) = self.check_value(spec, value, found, problems) {
                problems.push(problem(key, message));
            }
        }
        for spec in self
            .keys
            .iter()
            .filter(|k| k.section() == section && k.required)
        {
            if !found.contains_key(&spec.path) {
                problems.push(problem(
                    spec.name(),
                    "required by the installer, but missing".into(),
                ));
            }
        }
    }

    fn check_value<'a>(
        &self,
        spec: &KeySpec,
        value: &'a Value,
        found: &mut BTreeMap<String, &'a Value>,
        problems: &mut Vec<Problem>,
    ) -> Result<(), String> {
        let types = spec.types();
        let bounds = |n: f64| -> Result<(), String> {
            match (spec.min, spec.max) {
                (Some(min), _) if n < min => Err(format!("{n} is below the minimum {min}")),
                (_, Some(max)) if n > max => Err(format!("{n} is above the maximum {max}")),
                _ => Ok(()),
            }
        };
        for t in types {
            match (t, value) {
                (KeyType::String, Value::String(_)) | (KeyType::Boolean, Value::Boolean(_)) => {
                    return Ok(())
                }
                (KeyType::Integer | KeyType::Number, Value::Integer(n)) => {
                    return bounds(*n as f64)
                }
                (KeyType::Number, Value::Float(n)) => return bounds(*n),
                (KeyType::StringArray, Value::Array(items)) => {
                    return match items.iter().find(|v| !v.is_str()) {
                        Some(v) => Err(format!("holds {}; expected strings only", describe(v))),
                        None => Ok(()),
                    }
                }
                (KeyType::Enum, Value::String(s)) => {
                    return if spec.allowed.contains(s) {
                        Ok(())
                    } else {
                        Err(format!("`{s}` is not one of: {}", spec.allowed.join(", ")))
                    }
                }
                (KeyType::Map, Value::Table(t)) => {
                    return match t.iter().find(|(_, v)| !v.is_str()) {
                        Some((k, v)) => Err(format!(
                            "`{k}` is {}; this table maps names to strings",
                            describe(v)
                        )),
                        None => Ok(()),
                    }
                }
                (KeyType::Table, Value::Table(t)) => {
                    self.check_table(t, &spec.path, found, problems);
                    return Ok(());
                }
                _ => {}
            }
        }
        let expected: Vec<String> = types
            .iter()
            .map(|t| match t {
                KeyType::String | KeyType::Enum => "a string".to_string(),
                KeyType::Boolean => "a boolean".to_string(),
                KeyType::Integer => "an integer".to_string(),
                KeyType::Number => "a number".to_string(),
                KeyType::StringArray => "an array of strings".to_string(),
                KeyType::Table | KeyType::Map => "a table".to_string(),
            })
            .collect();
        Err(format!(
            "is {}, expected {}",
            describe(value),
            expected.join(" or ")
        ))
    }

    /// A key's value as the rules compare it: as written, or the installer's default.
    fn value_of(&self, found: &BTreeMap<String, &Value>, path: &str) -> Option<String> {
        match found.get(path) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
            None => self
                .keys
                .iter()
                .find(|k| k.path == path)
                .and_then(|k| k.default.clone()),
        }
    }

    fn check_rules(&self, found: &BTreeMap<String, &Value>, problems: &mut Vec<Problem>) {
        let present = |path: &str| found.get(path).is_some_and(|v| is_set(v));
        for rule in &self.rules {
            match rule {
                Rule::ExactlyOneOf { paths, source } => {
                    let Some(first) = paths.first() else { continue };
                    let (section, _) = split(first);
                    if !section.is_empty() && !found.contains_key(&section) {
                        continue;
                    }
                    let set: Vec<&String> = paths.iter().filter(|p| present(p)).collect();
                    if set.len() != 1 {
                        let names: Vec<String> =
                            paths.iter().map(|p| format!("`{}`", split(p).1)).collect();
                        problems.push(Problem {
                            section,
                            key: String::new(),
                            message: format!(
                                "set exactly one of {} ({} set; installer: {source})",
                                names.join(", "),
                                set.len()
                            ),
                        });
                    }
                }
                Rule::RequiredIf {
                    path,
                    when,
                    equals,
                    source,
                } => {
                    let Some(v) = self.value_of(found, when) else {
                        continue;
                    };
                    if equals.contains(&v) && !present(path) {
                        let (section, key) = split(path);
                        problems.push(Problem {
                            section,
                            key,
                            message: format!(
                                "required when `{when}` is `{v}` (installer: {source})"
                            ),
                        });
                    }
                }
                Rule::OnlyIf {
                    path,
                    when,
                    equals,
                    source,
                } => {
                    let Some(v) = self.value_of(found, when) else {
                        continue;
                    };
                    if found.contains_key(path.as_str()) && !equals.contains(&v) {
                        let (section, key) = split(path);
                        problems.push(Problem {
                            section,
                            key,
                            message: format!(
                                "only allowed when `{when}` is {}, not `{v}` (installer: {source})",
                                equals
                                    .iter()
                                    .map(|e| format!("`{e}`"))
                                    .collect::<Vec<_>>()
                                    .join(" or ")
                            ),
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let text =
            std::fs::read_to_string(workspace_root().join("image/answer-schema.toml")).unwrap();
        Schema::parse(&text).unwrap()
    }

    fn problems(text: &str) -> Vec<String> {
        schema()
            .check(text)
            .iter()
            .map(ToString::to_string)
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
    fn unknown_keys_are_named_with_their_section() {
        let text = GOOD.replace("filesystem = \"zfs\"", "filesytem = \"zfs\"");
        let found = problems(&text);
        assert!(
            found.contains(&"[disk-setup] `filesytem`: unknown key; the installer rejects unknown keys (did you mean `filesystem`?)".to_string()),
            "{found:#?}"
        );
        assert!(
            found.contains(
                &"[disk-setup] `filesystem`: required by the installer, but missing".to_string()
            ),
            "{found:#?}"
        );
        let found = problems(&format!("{GOOD}\n[first-boot.extra]\nx = 1\n"));
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("[first-boot] `extra`: unknown key")),
            "{found:#?}"
        );
        let found = problems(&format!("bogus = 1\n{GOOD}"));
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("top level `bogus`: unknown key")),
            "{found:#?}"
        );
    }

    #[test]
    fn wrong_types_and_values_are_refused() {
        let cases = [
            ("zfs.ashift = 12", "zfs.ashift = 17", "[disk-setup.zfs] `ashift`: 17 is above the maximum 16"),
            ("zfs.ashift = 12", "zfs.ashift = \"12\"", "[disk-setup.zfs] `ashift`: is a string, expected an integer"),
            ("zfs.raid = \"RAID1\"", "zfs.raid = \"mirror\"", "[disk-setup.zfs] `raid`: `mirror` is not one of: raid0, raid1, raid10, raidz-1, raidz-2, raidz-3, RAID0, RAID1, RAID10, RAIDZ-1, RAIDZ-2, RAIDZ-3"),
            ("keyboard = \"de-ch\"", "keyboard = \"de_CH\"", "[global] `keyboard`: `de_CH` is not one of"),
            ("filter.ID_NET_NAME_MAC = \"*525400123456\"", "filter.ID_NET_NAME_MAC = 525400123456", "[network] `filter`: `ID_NET_NAME_MAC` is an integer; this table maps names to strings"),
            ("fqdn = { source = \"from-dhcp\", domain = \"example.org\" }", "fqdn = 7", "[global] `fqdn`: is an integer, expected a string or a table"),
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
