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
    "pve-storage's blocksize pattern (src/formats/proxmox/mod.rs), which refuses sizes ZFS takes: 16KB, 0.5K",
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
