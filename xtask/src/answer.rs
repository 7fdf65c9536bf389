//! `cargo xtask check-answer [FILE]`: checks a Proxmox automated-installer answer file
//! (default image/answer.toml) against the installer's schema as image/answer-schema.toml
//! writes it down: TOML syntax, every key known (the installer rejects unknown keys), of its
//! type and allowed values, required keys present, and the installer's cross-key rules.
//!
//! It checks the file once per installer version of the schema's `[[installer]]` table, since
//! the versions spell keys differently (up to 8.3.x only snake_case; kebab-case from 8.4.0)
//! and know different keys, and prints which versions accept the file and, for each that does
//! not, the first offending key with its line.

use crate::flags::CheckAnswerOptions;
use crate::util::workspace_root;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

use toml::{Table, Value};

/// `cargo xtask check-answer`.
pub fn check(options: &CheckAnswerOptions) -> Result<()> {
    let root = workspace_root();
    let file = options
        .file
        .clone()
        .unwrap_or_else(|| root.join("image/answer.toml"));
    let schema_path = root.join("image/answer-schema.toml");
    let schema_text = std::fs::read_to_string(&schema_path)
        .with_context(|| format!("cannot read the schema {}", schema_path.display()))?;
    let schema = Schema::parse(&schema_text)
        .with_context(|| format!("{} is not a valid schema", schema_path.display()))?;
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let verdicts = schema.verdicts(&text);
    println!(
        "{}: checked against {} ({} keys, {} rules, {} installer versions)",
        file.display(),
        schema_path.display(),
        schema.keys.len(),
        schema.rules.len(),
        schema.installers.len()
    );
    print!("{}", report(&file.display().to_string(), &verdicts));
    if verdicts.iter().any(|v| v.problems.is_empty()) {
        return Ok(());
    }
    bail!(
        "no installer version of {} accepts {}; fix the first problem each one names",
        schema_path.display(),
        file.display()
    )
}

/// One installer version's verdict on a file: its problems, in the order of the file's lines.
#[derive(Debug)]
struct Verdict<'a> {
    installer: &'a Installer,
    problems: Vec<Located>,
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

/// The lines `check-answer` prints: one per installer version, then the versions that accept.
fn report(file: &str, verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    for v in verdicts {
        let i = v.installer;
        // Whether phoenix-zfs supports the version is a fact of the schema, not of this file.
        let range = format!(
            "{} to {}{}",
            i.version,
            i.until,
            if i.supported { "" } else { " (unsupported)" }
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
        if let Some(note) = &i.note {
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

/// How one installer version spells the keys that have two spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Spelling {
    /// Only the alias (snake_case), as up to 8.3.x.
    Snake,
    /// The kebab-case name and its snake_case alias, as from 8.4.0.
    Both,
}

/// One row of the schema's `[[installer]]` table: a range of installer versions whose answer
/// types read the same keys under the same spellings.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Installer {
    version: String,
    until: String,
    spelling: Spelling,
    #[serde(default)]
    kebab_only: Vec<String>,
    #[serde(default)]
    without: Vec<String>,
    supported: bool,
    note: Option<String>,
    #[allow(dead_code)]
    source: String,
}

impl Installer {
    /// The names under which this version reads `spec`, or none when it lacks the key.
    fn names<'a>(&self, spec: &'a KeySpec) -> Vec<&'a str> {
        if self
            .without
            .iter()
            .any(|w| spec.path == *w || spec.path.starts_with(&format!("{w}.")))
        {
            return Vec::new();
        }
        let aliases = spec.aliases.iter().map(String::as_str);
        match self.spelling {
            Spelling::Snake
                if !spec.aliases.is_empty() && !self.kebab_only.contains(&spec.path) =>
            {
                aliases.collect()
            }
            Spelling::Snake => vec![spec.name()],
            Spelling::Both => std::iter::once(spec.name()).chain(aliases).collect(),
        }
    }
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

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMore {
    One(KeyType),
    More(Vec<KeyType>),
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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
    #[serde(rename = "installer", default)]
    installers: Vec<Installer>,
    /// Set in the copy `for_installer` makes: the names each key is read under, by path.
    #[serde(skip)]
    names: Option<BTreeMap<String, Vec<String>>>,
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

/// The line of every key of a TOML text, by its dotted path as written (a table's line is that
/// of its header or of its first dotted key). Empty when the text is not valid TOML.
fn key_lines(text: &str) -> BTreeMap<String, usize> {
    fn walk(
        table: &toml::de::DeTable,
        prefix: &str,
        text: &str,
        lines: &mut BTreeMap<String, usize>,
    ) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            let start = key.span().start.min(text.len());
            let line = text[..start].matches('\n').count() + 1;
            lines.entry(path.clone()).or_insert(line);
            if let toml::de::DeValue::Table(inner) = value.get_ref() {
                walk(inner, &path, text, lines);
            }
        }
    }
    let mut lines = BTreeMap::new();
    if let Ok(table) = toml::de::DeTable::parse(text) {
        walk(table.get_ref(), "", text, &mut lines);
    }
    lines
}

/// The line a problem is at, and whether that is the line of a key it names (else of its
/// section, or none).
fn line_of(lines: &BTreeMap<String, usize>, problem: &Problem) -> (Option<usize>, bool) {
    let key_path = match (problem.section.as_str(), problem.key.as_str()) {
        (_, "") => None,
        ("", key) => Some(key.to_string()),
        (section, key) => Some(format!("{section}.{key}")),
    };
    match key_path.and_then(|p| lines.get(&p)) {
        Some(line) => (Some(*line), true),
        None => (lines.get(&problem.section).copied(), false),
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

    /// The names the installer reads `spec` under: all its spellings, or in the copy made
    /// for one installer version, that version's.
    fn names_of<'a>(&'a self, spec: &'a KeySpec) -> Vec<&'a str> {
        match &self.names {
            Some(names) => names
                .get(&spec.path)
                .map(|n| n.iter().map(String::as_str).collect())
                .unwrap_or_default(),
            None => std::iter::once(spec.name())
                .chain(spec.aliases.iter().map(String::as_str))
                .collect(),
        }
    }

    fn spec(&self, section: &str, key: &str) -> Option<&KeySpec> {
        self.keys
            .iter()
            .find(|k| k.section() == section && self.names_of(k).contains(&key))
    }

    /// The schema as one installer version reads it: its spellings, without the keys it lacks.
    fn for_installer(&self, installer: &Installer) -> Schema {
        let keys: Vec<KeySpec> = self
            .keys
            .iter()
            .filter(|k| !installer.names(k).is_empty())
            .cloned()
            .collect();
        let names = keys
            .iter()
            .map(|k| {
                let names = installer.names(k).into_iter().map(str::to_string).collect();
                (k.path.clone(), names)
            })
            .collect();
        Schema {
            keys,
            rules: self.rules.clone(),
            installers: Vec::new(),
            names: Some(names),
        }
    }

    /// The verdict of every installer version of the schema on `text`.
    fn verdicts(&self, text: &str) -> Vec<Verdict<'_>> {
        let lines = key_lines(text);
        self.installers
            .iter()
            .map(|installer| {
                let problems = self.for_installer(installer).check(text);
                let mut located: Vec<(bool, Located)> = problems
                    .into_iter()
                    .map(|problem| {
                        let (line, at_key) = line_of(&lines, &problem);
                        (at_key, Located { line, problem })
                    })
                    .collect();
                // The offending keys first, in the order of the file, as the installer meets
                // them; then what is wrong with a section as a whole (a missing key, a cross-key
                // rule), often only a consequence of an unknown spelling above.
                located.sort_by_key(|(at_key, l)| (!at_key, l.line.unwrap_or(usize::MAX)));
                Verdict {
                    installer,
                    problems: located.into_iter().map(|(_, l)| l).collect(),
                }
            })
            .collect()
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
                    .flat_map(|k| self.names_of(k))
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
        let schema = schema();
        schema
            .verdicts(text)
            .iter()
            .map(|v| {
                (
                    v.installer.version.clone(),
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
        assert!(!accepts(&twice, "9.1.0"));
    }

    /// What docs/guide.md and image/README.md say: the shipped file is for 8.4.0 and later, which
    /// are the rows marked supported, and exactly those accept it.
    #[test]
    fn the_shipped_answer_file_is_accepted_by_the_supported_installers() {
        let text = std::fs::read_to_string(workspace_root().join("image/answer.toml")).unwrap();
        let schema = schema();
        let verdicts = schema.verdicts(&text);
        let accepting: Vec<&str> = verdicts
            .iter()
            .filter(|v| v.problems.is_empty())
            .map(|v| v.installer.version.as_str())
            .collect();
        let supported: Vec<&str> = schema
            .installers
            .iter()
            .filter(|i| i.supported)
            .map(|i| i.version.as_str())
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

    #[test]
    fn the_installer_table_names_only_keys_of_the_schema() {
        let schema = schema();
        for i in &schema.installers {
            for path in i.without.iter().chain(&i.kebab_only) {
                assert!(
                    schema.keys.iter().any(|k| &k.path == path),
                    "installer {}: `{path}` is no key of the schema",
                    i.version
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
