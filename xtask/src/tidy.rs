//! Rules of the repository that no compiler checks, run by `cargo test --workspace` (the habit of
//! rust-analyzer's tidy test). Each rule reports every offender as `path:line: what`, so that one
//! run lists all there is to fix.
//!
//! - Every Rust file under src/, xtask/src/, tests/ (the integration tests' modules in tests/it/
//!   too), tools/ and benches/ starts with a `//!` doc: what the module is for, before anything
//!   else.
//! - No comment and no Markdown document (the fixtures' READMEs too) names a file the repository
//!   does not have: a `*.md` name must exist somewhere in the repository, a path that starts
//!   with one of the repository's top-level entries (`xtask/src/bench/mod.rs`,
//!   `qemu-tests/README.md`) must exist, and no `../` path leads out of the repository
//!   (`../shared`). Other paths (the provisioned machine's `/etc/...`, dataset names, other
//!   projects' sources) are not checked.
//! - No comment cites an issue of this project's tracker (`issue 6`), which is not in the
//!   repository either: it says the fact or the reason itself. Another project's issue is a
//!   source and is named with its project (`smartmontools issue 540`, `rust-lang/rust#146317`).
//! - One reader of ZFS sizes: outside the size module (a file named `size.rs`, or a `size/`
//!   folder), a function of the phoenix-zfs library or of xtask that takes text (`&str`) and has
//!   `size` in its name reads a size, and must leave the reading to the size module: its body
//!   names `size::` or `ZfsSize`, or calls another such function. One that reads another
//!   program's grammar on purpose is listed in [`OTHER_GRAMMARS`] with the reason. A second
//!   grammar for the same values is how validation and `zfs set` come to disagree. tools/ is
//!   exempt: a stand-in mimics another program's own grammar.
//! - A phoenix-zfs command that a message of the program tells an administrator to run is built
//!   in src/remedy.rs, where a test parses each with the binary's command line: outside it (and
//!   outside comments and tests), no line of src/ names `phoenix-zfs SUBCOMMAND`. The examples
//!   of `--help` (src/exit.rs) are parsed by the same test.

use std::fs;
use std::path::{Path, PathBuf};

/// The folders whose Rust files must start with a `//!` doc.
const RUST_ROOTS: &[&str] = &["src", "xtask/src", "tests", "tools", "benches"];
/// The folders whose functions are held to the one size grammar.
const SIZE_RULE_ROOTS: &[&str] = &["src", "xtask/src", "tools"];
/// Functions that read a size in another program's grammar, not ZFS's: (function, why). By name
/// alone, so that moving a module does not break the rule.
const OTHER_GRAMMARS: &[(&str, &str)] = &[(
    "blocksize_number",
    "pve-storage's blocksize pattern (src/formats/proxmox/blocksize.rs), which refuses sizes ZFS takes: 16KB, 0.5K",
)];
/// Never walked: build output, other repositories' checkouts, recorded data.
const SKIPPED_DIRS: &[&str] = &["target", ".git", "fixtures", "testdata", "node_modules"];
/// Never walked for documents: the fixtures' READMEs say where their data comes from and are
/// held to the rules like any other document.
const SKIPPED_FOR_DOCUMENTS: &[&str] = &["target", ".git", "node_modules"];
/// Projects whose trackers a comment may cite by issue number.
const OTHER_TRACKERS: &[&str] = &[
    "smartmontools",
    "openzfs",
    "zfs",
    "systemd",
    "qemu",
    "proxmox",
    "debian",
    "rust",
    "cargo",
    "clap",
    "nom",
    "linux",
    "kernel",
    "util-linux",
    "openssh",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Files under `dir` (relative to the root) whose name ends in `suffix`, sorted.
fn files(root: &Path, dir: &str, suffix: &str) -> Vec<PathBuf> {
    files_skipping(root, dir, suffix, SKIPPED_DIRS)
}

/// The Markdown documents of the repository, sorted.
fn documents(root: &Path) -> Vec<PathBuf> {
    files_skipping(root, ".", ".md", SKIPPED_FOR_DOCUMENTS)
}

/// Files under `dir` whose name ends in `suffix`, not walking into the folders named `skipped`
/// nor through a link to a folder (the recorded sysfs trees of tests/fixtures/hosts/ link back
/// into themselves), sorted.
fn files_skipping(root: &Path, dir: &str, suffix: &str, skipped: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.join(dir)];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                if !skipped.contains(&name.as_str()) {
                    pending.push(path);
                }
            } else if name.ends_with(suffix) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The comment of a line of Rust (`//`, `///`, `//!`), if it has one outside a string.
fn comment(line: &str) -> Option<&str> {
    let mut in_string = false;
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return Some(&line[i..]),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The words of a text that may name files: split at whitespace and the punctuation that
/// surrounds a name in prose, Markdown and code spans.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || "`()[]<>,;\"'*|{}".contains(c))
        .map(|word| word.trim_end_matches([':', '.', '!', '?']))
        .filter(|word| !word.is_empty())
}

/// What is wrong with the names in `text` of the file at `dir`: a path out of the repository,
/// a path into one of its top-level folders that is not there, a Markdown document it lacks.
fn missing_files(root: &Path, dir: &Path, text: &str, md_names: &[String]) -> Vec<String> {
    let mut missing = Vec::new();
    for word in words(text) {
        // A link's anchor is not part of the file's name.
        let word = word.split('#').next().unwrap_or(word);
        // An ellipsis marks an example (a sysfs link with its middle left out), not a name.
        if word.contains("...") {
            continue;
        }
        if word.starts_with("../") {
            let inside = dir
                .join(word)
                .canonicalize()
                .is_ok_and(|path| path.starts_with(root));
            if !inside {
                missing.push(format!("`{word}` is outside the repository"));
            }
            continue;
        }
        // Build output is not the repository's (nor cargo-fuzz's corpus and artifacts, which
        // fuzz/.gitignore keeps out); a capitalised component is a placeholder
        // (`tests/fixtures/replay/CASE`) or another project's tree (`src/PVE/Storage/`).
        let placeholder = word.contains('/')
            && word.split('/').any(|part| {
                let stem = part.split('.').next().unwrap_or(part);
                stem.len() >= 2 && stem.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            });
        if placeholder
            || word.starts_with("target/")
            || word.starts_with("fuzz/target")
            || word.starts_with("fuzz/corpus")
            || word.starts_with("fuzz/artifacts")
            || word.contains("://")
            || word.contains(['$', '%', '{', '*'])
        {
            continue;
        }
        let top = word.split('/').next().unwrap_or("");
        if word.contains('/') && !top.is_empty() && root.join(top).exists() {
            if !root.join(word).exists() {
                missing.push(format!("`{word}` is not in the repository"));
            }
        } else if !word.contains('/')
            && word.ends_with(".md")
            && !md_names.iter().any(|name| name == word)
        {
            missing.push(format!("`{word}` is not in the repository"));
        }
    }
    missing
}

/// Whether `text` cites `issue N` of this project's tracker.
fn cites_own_issue(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("issue ") {
        let start = from + at;
        from = start + "issue ".len();
        let number = lower[from..].trim_start_matches('#');
        if !number.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let before = &lower[..start];
        if before.ends_with('-') || before.ends_with(|c: char| c.is_alphanumeric()) {
            continue;
        }
        let previous = before.split_whitespace().last().unwrap_or("");
        let previous = previous.trim_matches(|c: char| !c.is_alphanumeric() && c != '-');
        if !OTHER_TRACKERS.contains(&previous) {
            return true;
        }
    }
    false
}

/// The name of a function defined on this line that takes text and has `size` in its name.
fn size_parser(line: &str) -> Option<&str> {
    let at = line.find("fn ")?;
    if at > 0 && !line[..at].ends_with(' ') {
        return None;
    }
    let rest = &line[at + 3..];
    let name_end = rest.find(['(', '<'])?;
    let name = &rest[..name_end];
    let params = &rest[name_end..];
    (name.contains("size") && params.contains("&str")).then_some(name)
}

/// The lines of the function whose signature is `lines[0]`, to its closing brace.
fn function_body<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut depth = 0i32;
    let mut opened = false;
    let mut body = Vec::new();
    for line in lines {
        body.push(*line);
        let code = comment(line).map_or(*line, |comment| &line[..line.len() - comment.len()]);
        for c in code.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        if opened && depth <= 0 {
            break;
        }
    }
    body
}

/// Whether the function leaves reading the size to the size module, or to another function
/// that does.
fn delegates(name: &str, body: &[&str]) -> bool {
    body.iter().skip(1).any(|line| {
        let calls = line.match_indices('(').map(|(at, _)| {
            let before = &line[..at];
            let start = before
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            &before[start..]
        });
        line.contains("size::")
            || line.contains("ZfsSize")
            || calls
                .collect::<Vec<_>>()
                .iter()
                .any(|called| called.contains("size") && *called != name)
    })
}

fn md_names(root: &Path) -> Vec<String> {
    documents(root)
        .iter()
        .filter_map(|path| path.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

/// A file the rules read: its path, its name relative to the root, its text.
struct Source {
    path: PathBuf,
    name: String,
    text: String,
}

/// The Rust files under `dirs`, read.
fn rust_sources(root: &Path, dirs: &[&str]) -> Vec<Source> {
    dirs.iter()
        .flat_map(|dir| files(root, dir, ".rs"))
        .map(|path| Source {
            name: relative(root, &path),
            text: fs::read_to_string(&path).unwrap(),
            path,
        })
        .collect()
}

fn report(rule: &str, offenders: &[String]) {
    assert!(
        offenders.is_empty(),
        "{rule}: {} offender(s):\n{}",
        offenders.len(),
        offenders.join("\n")
    );
}

#[test]
fn every_rust_module_starts_with_a_doc_comment() {
    let root = workspace_root();
    let offenders: Vec<String> = rust_sources(&root, RUST_ROOTS)
        .into_iter()
        .filter(|source| {
            let first = source.text.lines().find(|line| !line.trim().is_empty());
            !first.is_some_and(|line| line.starts_with("//!"))
        })
        .map(|source| {
            format!(
                "{}:1: starts without a `//!` doc saying what the module is for",
                source.name
            )
        })
        .collect();
    report("every module starts with a `//!` doc", &offenders);
}

#[test]
fn no_comment_or_document_names_a_file_the_repository_lacks_or_cites_an_issue() {
    let root = workspace_root();
    let md_names = md_names(&root);
    let mut offenders = Vec::new();
    let mut check = |path: &Path, number: usize, text: &str| {
        let at = format!("{}:{number}", relative(&root, path));
        let dir = path.parent().unwrap_or(&root);
        for what in missing_files(&root, dir, text, &md_names) {
            offenders.push(format!("{at}: {what}"));
        }
        if cites_own_issue(text) {
            offenders.push(format!(
                "{at}: cites an issue of this project's tracker; say the fact or reason itself"
            ));
        }
    };
    // This file describes the offenders it looks for.
    for source in rust_sources(&root, RUST_ROOTS)
        .iter()
        .filter(|source| !source.name.ends_with("/tidy.rs"))
    {
        for (index, line) in source.text.lines().enumerate() {
            if let Some(comment) = comment(line) {
                check(&source.path, index + 1, comment);
            }
        }
    }
    for path in documents(&root) {
        let text = fs::read_to_string(&path).unwrap();
        for (index, line) in text.lines().enumerate() {
            check(&path, index + 1, line);
        }
    }
    report(
        "comments and documents name only the repository's files and no issue of its tracker",
        &offenders,
    );
}

#[test]
fn sizes_are_parsed_only_by_the_size_module() {
    let root = workspace_root();
    let mut offenders = Vec::new();
    // This file names size parsers in its own tests.
    for source in rust_sources(&root, SIZE_RULE_ROOTS)
        .iter()
        .filter(|source| {
            let name = &source.name;
            !(name.ends_with("/size.rs") || name.contains("/size/") || name.ends_with("/tidy.rs"))
        })
    {
        let lines: Vec<&str> = source.text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            let code = comment(line).map_or(*line, |comment| &line[..line.len() - comment.len()]);
            let Some(function) = size_parser(code) else {
                continue;
            };
            let listed = OTHER_GRAMMARS.iter().any(|(name, _)| *name == function);
            if !listed && !delegates(function, &function_body(&lines[index..])) {
                offenders.push(format!(
                    "{}:{}: `{function}` reads a size from text itself: call the size module's \
                     parser, or list it in tidy.rs's OTHER_GRAMMARS with the reason",
                    source.name,
                    index + 1
                ));
            }
        }
    }
    report("one reader of ZFS sizes", &offenders);
}

/// Where a command an administrator is told to run may be written out.
const REMEDY_FILES: &[&str] = &["src/remedy.rs", "src/exit.rs"];
const SUBCOMMANDS: &[&str] = &[
    "apply",
    "plan",
    "detect",
    "verify",
    "layout",
    "manifest",
    "attach",
    "debug",
    "firstboot",
];

/// Whether `line` names `phoenix-zfs SUBCOMMAND` as a command (not `phoenix-zfs detect:`, a
/// heading).
fn names_a_command(line: &str) -> bool {
    line.match_indices("phoenix-zfs ").any(|(at, found)| {
        let rest = &line[at + found.len()..];
        SUBCOMMANDS.iter().any(|sub| {
            rest.strip_prefix(sub)
                .is_some_and(|after| after.is_empty() || after.starts_with([' ', '`', '"']))
        })
    })
}

#[test]
fn remedies_are_built_in_the_remedy_module() {
    let root = workspace_root();
    let mut offenders = Vec::new();
    for source in rust_sources(&root, &["src"]) {
        let test_file = source.name.ends_with("tests.rs");
        if REMEDY_FILES.contains(&source.name.as_str()) || test_file {
            continue;
        }
        for (number, line) in source.text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let code = line.split("//").next().unwrap_or_default();
            if names_a_command(code) {
                offenders.push(format!(
                    "{}:{}: names a phoenix-zfs command outside src/remedy.rs: {}",
                    source.name,
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    report("remedies are built in src/remedy.rs", &offenders);
}

#[test]
fn the_rules_recognise_what_they_look_for() {
    assert!(names_a_command(
        r#""then run `phoenix-zfs apply --wipe {name}`""#
    ));
    assert!(names_a_command(r#"println!("phoenix-zfs verify")"#));
    assert!(!names_a_command(
        r#"println!("phoenix-zfs detect: root {}", r)"#
    ));
    assert!(!names_a_command("phoenix-zfs applies"));
    assert_eq!(comment("let x = 1; // why"), Some("// why"));
    assert_eq!(comment(r#"let url = "http://x"; "#), None);
    assert!(cites_own_issue("checked against issue 6's targets"));
    assert!(cites_own_issue("(Issue #12)"));
    assert!(!cites_own_issue("smartmontools issue 540"));
    assert!(!cites_own_issue("`no-known-issue 2, not-in-policy 1`"));
    assert!(!cites_own_issue("an issue with 3 drives"));
    assert_eq!(
        size_parser("pub fn parse_zfs_size(text: &str) -> Option<u64> {"),
        Some("parse_zfs_size")
    );
    assert_eq!(size_parser("fn size_of(drive: &Drive) -> u64 {"), None);
    let own = [
        "fn parse_size(t: &str) -> u64 {",
        "    t.parse().unwrap()",
        "}",
        "fn next() {}",
    ];
    assert_eq!(function_body(&own).len(), 3);
    assert!(!delegates("parse_size", &function_body(&own)));
    let wrapper = [
        "fn parse_size(t: &str) -> u64 {",
        "    ZfsSize::parse(t).unwrap().bytes()",
        "}",
    ];
    assert!(delegates("parse_size", &wrapper));
    let same = [
        "fn same_size(a: &str, b: &str) -> bool {",
        "    parse_zfs_size(a) == parse_zfs_size(b)",
        "}",
    ];
    assert!(delegates("same_size", &same));
    let root = workspace_root();
    // The walk reaches the integration tests' modules, one folder below tests/.
    let walked = rust_sources(&root, RUST_ROOTS);
    assert!(walked.iter().any(|s| s.name == "tests/it/fixtures.rs"));
    let fixture_readme = "tests/fixtures/proxmox/README.md";
    assert!(documents(&root)
        .iter()
        .any(|p| relative(&root, p) == fixture_readme));
    let names = md_names(&root);
    assert!(missing_files(&root, &root, "see FACTS.md", &names).len() == 1);
    assert!(missing_files(&root, &root, "see ../shared/notes", &names).len() == 1);
    assert!(missing_files(&root, &root, "see README.md and xtask/src/tidy.rs", &names).is_empty());
    assert!(missing_files(&root, &root, "written to /etc/pve/storage.cfg", &names).is_empty());
    assert!(missing_files(&root, &root, "the dataset quickOS/shared-prod-data", &names).is_empty());
    assert!(missing_files(&root, &root, "xtask/src/no-such-file.rs", &names).len() == 1);
}

/// The library's modules in layers, from the ground up: a module may use its own layer and those
/// below it, never one above, so that the pure core never reaches for the machine and what reads
/// the machine never judges. The binary (src/cli/) stands above them all. A module is placed by
/// the longest entry that names it or a module around it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "base",
        &["runner", "log", "report", "exit", "glob", "remedy"],
    ),
    ("formats", &["formats"]),
    ("model", &["model"]),
    ("firmware policy", &["firmware"]),
    ("layout", &["layout"]),
    ("core", &["contents", "matching", "import_scan", "plan"]),
    ("host", &["host"]),
    ("manifest", &["manifest"]),
    ("assess", &["assess"]),
    ("apply", &["apply"]),
];

/// Imports that still run up the layers, each to be moved away, with what is to be done: (file
/// under src/, the module it uses, why it is not done yet). One that no longer occurs must be
/// taken off, so that the list only shrinks.
const STILL_UPWARD: &[(&str, &str, &str)] = &[
    (
        "formats/nfs.rs",
        "layout",
        "the exports a layout wants are to be passed as plain values",
    ),
    (
        "formats/proxmox/mod.rs",
        "layout",
        "storage_changes is to take the wanted storages, not the layout",
    ),
    (
        "formats/proxmox/container.rs",
        "layout",
        "bind_changes is to take the wanted binds, not the layout",
    ),
    (
        "plan/kept.rs",
        "assess",
        "a kept plan is to be built from the plan, not the assessment",
    ),
    (
        "manifest/mod.rs",
        "apply::atomic_file",
        "the atomic write is to move below both",
    ),
    (
        "manifest/build.rs",
        "apply",
        "the manifest is to be built from apply's report above apply",
    ),
    (
        "manifest/build.rs",
        "assess",
        "the manifest is to be built from the assessment above assess",
    ),
];

/// Circles still to be broken, each as [`circles`] reports it, with what is to be done. One that
/// is gone must be taken off.
const STILL_CIRCLING: &[(&str, &str)] = &[(
    "src/apply/lanes.rs -> src/apply/mod.rs -> src/manifest/build.rs -> src/manifest/mod.rs",
    "the manifest is to be built from apply's report above apply, its records kept below it",
)];

/// A file of the library: its path under src/ (`host/inventory/mod.rs`) and its text.
struct LibraryFile<'a> {
    path: &'a str,
    text: &'a str,
}

/// The module a file under src/ is: `host/inventory/mod.rs` is `host::inventory`.
fn module_of(path: &str) -> Vec<&str> {
    let path = path.trim_end_matches(".rs");
    let mut segments: Vec<&str> = path.split('/').collect();
    if segments.last() == Some(&"mod") || segments == ["lib"] {
        segments.pop();
    }
    segments
}

/// The index in [`LAYERS`] of the module `segments`, and the layer's name.
fn layer_of(segments: &[&str]) -> Option<(usize, &'static str)> {
    let mut best: Option<(usize, usize, &'static str)> = None;
    for (index, (name, modules)) in LAYERS.iter().enumerate() {
        for module in *modules {
            let named: Vec<&str> = module.split("::").collect();
            if segments.starts_with(&named) && best.is_none_or(|(_, len, _)| named.len() > len) {
                best = Some((index, named.len(), name));
            }
        }
    }
    best.map(|(index, _, name)| (index, name))
}

/// The code of a file that runs in the program: comments dropped, and nothing from its first
/// `#[cfg(test)]` on (tests may build their data with any layer).
fn program_code(text: &str) -> Vec<(usize, String)> {
    let mut code = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let line = match comment(line) {
            Some(comment) => &line[..line.len() - comment.len()],
            None => line,
        };
        code.push((index + 1, line.to_string()));
    }
    code
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths a file names through `crate::`, `super::` or a module it declares, each as the modules and item it goes
/// through from the crate's root, with its line: `use crate::model::{disk, pools};` names
/// `model::disk` and `model::pools`.
fn crate_paths(file: &LibraryFile) -> Vec<(usize, Vec<String>)> {
    let module = module_of(file.path);
    let code = program_code(file.text);
    let text: String = code.iter().map(|(_, line)| format!("{line}\n")).collect();
    let line_at = |offset: usize| code[text[..offset].matches('\n').count()].0;
    // The modules declared in the file (`mod from_toml;`), which its paths may start with.
    let children: Vec<String> = code
        .iter()
        .filter_map(|(_, line)| {
            let line = line
                .trim()
                .trim_start_matches("pub ")
                .trim_start_matches("pub(crate) ");
            line.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect();
    let mut paths = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find(|c: char| is_ident(c)) {
        let start = at + found;
        at = start + 1;
        if start > 0 && text[..start].ends_with(|c: char| is_ident(c) || c == ':') {
            continue;
        }
        let rest = &text[start..];
        let child = children.iter().find(|name| {
            rest.strip_prefix(name.as_str())
                .is_some_and(|tail| tail.starts_with("::"))
        });
        let (mut prefix, mut tail) = if let Some(tail) = rest.strip_prefix("crate::") {
            (Vec::new(), tail)
        } else if child.is_some() {
            (module.iter().map(|s| s.to_string()).collect(), rest)
        } else if rest.starts_with("super::") {
            let is_mod = file.path.ends_with("mod.rs");
            let mut prefix: Vec<String> = module.iter().map(|s| s.to_string()).collect();
            if !is_mod {
                prefix.pop();
            }
            let mut tail = rest;
            while let Some(t) = tail.strip_prefix("super::") {
                tail = t;
                if tail.starts_with("super::") {
                    prefix.pop();
                }
            }
            (prefix, tail)
        } else {
            continue;
        };
        loop {
            let ident: String = tail.chars().take_while(|c| is_ident(*c)).collect();
            if ident.is_empty() {
                break;
            }
            prefix.push(ident.clone());
            tail = &tail[ident.len()..];
            match tail.strip_prefix("::") {
                Some(t) => tail = t,
                None => break,
            }
        }
        if let Some(group) = tail.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let first: String = item.trim().chars().take_while(|c| is_ident(*c)).collect();
                if !first.is_empty() && first != "self" {
                    let mut path = prefix.clone();
                    path.push(first);
                    paths.push((line_at(start), path));
                }
            }
        }
        paths.push((line_at(start), prefix));
    }
    paths
}

/// The file of `files` that a path leads into: the longest module it goes through that is a file.
fn file_of<'a>(files: &[LibraryFile<'a>], path: &[String]) -> Option<&'a str> {
    (1..=path.len()).rev().find_map(|len| {
        files
            .iter()
            .find(|f| {
                module_of(f.path) == path[..len].iter().map(String::as_str).collect::<Vec<_>>()
            })
            .map(|f| f.path)
    })
}

/// Every import of a module of a higher layer, and every module not in a layer, as `path:line:
/// what`.
fn upward_imports(files: &[LibraryFile]) -> Vec<String> {
    let mut offenders = Vec::new();
    for file in files {
        let module = module_of(file.path);
        if module.is_empty() {
            continue;
        }
        let Some((own, own_name)) = layer_of(&module) else {
            offenders.push(format!(
                "src/{}:1: `{}` is in no layer of LAYERS",
                file.path,
                module.join("::")
            ));
            continue;
        };
        for (line, path) in crate_paths(file) {
            let Some(target) = file_of(files, &path) else {
                continue;
            };
            let allowed = STILL_UPWARD
                .iter()
                .any(|(from, to, _)| *from == file.path && path.join("::").starts_with(to));
            if allowed {
                continue;
            }
            let target = module_of(target);
            if let Some((theirs, their_name)) = layer_of(&target) {
                if theirs > own {
                    offenders.push(format!(
                        "src/{}:{line}: `{}` ({own_name}) uses `{}` ({their_name}), a higher layer",
                        file.path,
                        module.join("::"),
                        path.join("::"),
                    ));
                }
            }
        }
    }
    offenders.sort();
    offenders.dedup();
    offenders
}

/// Every set of files that import each other round a circle, as `src/a.rs -> src/b.rs -> ...`.
/// A file's use of a module around it (`super::`) is no edge: the file is part of that module.
fn circles(files: &[LibraryFile]) -> Vec<String> {
    let edges: Vec<Vec<usize>> = files
        .iter()
        .map(|file| {
            let module = module_of(file.path);
            let mut to: Vec<usize> = crate_paths(file)
                .iter()
                .filter_map(|(_, path)| file_of(files, path))
                .filter_map(|target| files.iter().position(|f| f.path == target))
                .filter(|&target| !module.starts_with(&module_of(files[target].path)))
                .collect();
            to.sort();
            to.dedup();
            to
        })
        .collect();
    let reach = |from: usize| {
        let mut seen = vec![false; files.len()];
        let mut pending = edges[from].clone();
        while let Some(next) = pending.pop() {
            if !seen[next] {
                seen[next] = true;
                pending.extend(&edges[next]);
            }
        }
        seen
    };
    let reached: Vec<Vec<bool>> = (0..files.len()).map(reach).collect();
    let mut reported = vec![false; files.len()];
    let mut found = Vec::new();
    for first in 0..files.len() {
        if reported[first] || !reached[first][first] {
            continue;
        }
        let members: Vec<usize> = (0..files.len())
            .filter(|&other| reached[first][other] && reached[other][first])
            .collect();
        for &member in &members {
            reported[member] = true;
        }
        let names: Vec<String> = members
            .iter()
            .map(|&m| format!("src/{}", files[m].path))
            .collect();
        found.push(format!(
            "{}: import each other round a circle",
            names.join(" -> ")
        ));
    }
    found
}

/// The library's files (src/ but the binary's src/cli/, and files of tests, which may build
/// their data with any layer), as [`LibraryFile`]s are read from them.
fn library_sources(root: &Path) -> Vec<(String, String)> {
    files(root, "src", ".rs")
        .into_iter()
        .map(|path| {
            let under_src = relative(&root.join("src"), &path);
            (under_src, fs::read_to_string(&path).unwrap())
        })
        .filter(|(path, _)| !path.starts_with("cli/"))
        .filter(|(path, _)| !path.ends_with("tests.rs"))
        .collect()
}

#[test]
fn no_module_imports_a_higher_layer_or_round_a_circle() {
    let sources = library_sources(&workspace_root());
    let files: Vec<LibraryFile> = sources
        .iter()
        .map(|(path, text)| LibraryFile { path, text })
        .collect();
    assert!(files.iter().any(|f| f.path == "model/disk.rs"));
    report("no module imports a higher layer", &upward_imports(&files));
    let stale: Vec<String> = STILL_UPWARD
        .iter()
        .filter(|(from, to, _)| {
            !files.iter().any(|f| {
                f.path == *from
                    && crate_paths(f)
                        .iter()
                        .any(|(_, path)| path.join("::").starts_with(to))
            })
        })
        .map(|(from, to, _)| format!("src/{from}: uses `{to}` no more: take it off STILL_UPWARD"))
        .collect();
    report("STILL_UPWARD lists only what still runs up", &stale);
    let found = circles(&files);
    let listed = |circle: &str| {
        STILL_CIRCLING
            .iter()
            .any(|(c, _)| circle.starts_with(&format!("{c}:")))
    };
    let unlisted: Vec<String> = found.iter().filter(|c| !listed(c)).cloned().collect();
    report("no files import each other round a circle", &unlisted);
    let gone: Vec<String> = STILL_CIRCLING
        .iter()
        .filter(|(c, _)| {
            !found
                .iter()
                .any(|circle| circle.starts_with(&format!("{c}:")))
        })
        .map(|(c, _)| format!("{c}: no longer a circle: take it off STILL_CIRCLING"))
        .collect();
    report("STILL_CIRCLING lists only circles there are", &gone);
}

#[test]
fn the_layer_rule_finds_an_upward_import_and_a_circle() {
    let files = [
        LibraryFile {
            path: "model/disk.rs",
            text: "//! Drives.\nuse crate::formats::udev;\n/// crate::host::read in a comment\npub struct Disk;\n#[cfg(test)]\nmod tests { use crate::host::read; }\n",
        },
        LibraryFile {
            path: "formats/udev.rs",
            text: "//! The udev database.\nuse crate::model::{disk::Disk, pools};\n",
        },
        LibraryFile {
            path: "model/pools.rs",
            text: "//! Pools.\nuse super::disk::Disk;\n",
        },
        LibraryFile {
            path: "host/mod.rs",
            text: "//! Reads.\npub fn read() -> crate::model::disk::Disk { todo!() }\n",
        },
        LibraryFile {
            path: "plugins.rs",
            text: "//! In no layer.\n",
        },
    ];
    assert_eq!(
        upward_imports(&files),
        [
            "src/formats/udev.rs:2: `formats::udev` (formats) uses `model::disk` (model), a higher layer",
            "src/formats/udev.rs:2: `formats::udev` (formats) uses `model::pools` (model), a higher layer",
            "src/plugins.rs:1: `plugins` is in no layer of LAYERS",
        ]
    );
    assert_eq!(
        circles(&files),
        ["src/model/disk.rs -> src/formats/udev.rs -> src/model/pools.rs: import each other round a circle"]
    );
    assert_eq!(module_of("host/inventory/mod.rs"), ["host", "inventory"]);
    assert_eq!(layer_of(&["formats", "ondisk"]), Some((1, "formats")));
}
