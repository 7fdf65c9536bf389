//! The command line against what is said about it: every command a message tells an
//! administrator to run, the examples of `--help` and README's command table must be what this
//! parser takes.

use crate::args::Cli;
use clap::{CommandFactory, Parser};

/// `line` as the shell splits it (the commands here quote nothing), up to a redirection.
fn words(line: &str) -> Vec<&str> {
    assert!(!line.contains(['"', '\'', '\\']), "quoting in `{line}`");
    let command = line.split('>').next().unwrap_or_default();
    command.split_whitespace().collect()
}

fn parses(line: &str) -> Result<(), String> {
    let words = words(line);
    if words.first() != Some(&"phoenix-zfs") {
        return Err(format!("`{line}` is not a phoenix-zfs command"));
    }
    Cli::try_parse_from(&words)
        .map(drop)
        .map_err(|e| format!("`{line}`: {e}"))
}

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

/// Every argument and subcommand under `command` that has no help line, by its path.
fn without_help(command: &clap::Command, path: &str, out: &mut Vec<String>) {
    for arg in command.get_arguments() {
        if arg.get_help().is_none() && arg.get_long_help().is_none() {
            out.push(format!("{path} {}", arg.get_id()));
        }
    }
    for sub in command.get_subcommands() {
        let sub_path = format!("{path} {}", sub.get_name());
        if sub.get_about().is_none() {
            out.push(sub_path.clone());
        }
        without_help(sub, &sub_path, out);
    }
}

#[test]
fn every_argument_and_command_has_a_help_line() {
    let mut command = Cli::command();
    command.build();
    let mut missing = Vec::new();
    without_help(&command, "phoenix-zfs", &mut missing);
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn every_remedy_runs_as_printed() {
    let failures: Vec<String> = phoenix_zfs::remedy::all()
        .iter()
        .filter_map(|line| parses(line).err())
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_parser_takes_what_the_remedies_must_not_say() {
    // The test above can fail: these are the mistakes it is there for.
    for wrong in [
        "phoenix-zfs detect --wipe S2TA0001",
        "phoenix-zfs verify --force-import",
        "phoenix-zfs layout show --target-root /mnt",
        "phoenix-zfs again",
    ] {
        assert!(parses(wrong).is_err(), "{wrong}");
    }
}

#[test]
fn the_examples_of_help_parse() {
    let examples = phoenix_zfs::exit::HELP
        .split_once("Examples:")
        .expect("--help has examples")
        .1;
    let lines: Vec<&str> = examples
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 2, "{examples}");
    for line in lines {
        parses(line).unwrap();
    }
}

/// The leaf commands as typed after `phoenix-zfs` (`manifest verify`), without clap's `help`.
fn leaf_commands(command: &clap::Command, prefix: &str, out: &mut Vec<String>) {
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let path = format!("{prefix}{}", sub.get_name()).trim().to_string();
        if sub.has_subcommands() {
            leaf_commands(sub, &format!("{path} "), out);
        } else {
            out.push(path);
        }
    }
}

/// The (sub)command `words` start with, and how many words name it.
fn find<'c>(root: &'c clap::Command, words: &[&str]) -> (&'c clap::Command, usize) {
    let mut command = root;
    let mut used = 0;
    for word in words {
        match command.find_subcommand(word) {
            Some(sub) => {
                command = sub;
                used += 1;
            }
            None => break,
        }
    }
    (command, used)
}

#[test]
fn readme_command_table_matches_the_binary() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let table = readme
        .split("## Commands")
        .nth(1)
        .expect("README has a Commands section");
    let root = Cli::command();
    let mut shown = Vec::new();
    let mut problems = Vec::new();
    for row in table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
    {
        let cell = row
            .trim_start_matches('|')
            .split(" | ")
            .next()
            .unwrap_or_default();
        // Each code span of the first cell is one command: `phoenix-zfs layout show` / `layout check FILE`.
        for span in cell.split('`').skip(1).step_by(2) {
            let words: Vec<&str> = span
                .split_whitespace()
                .filter(|w| *w != "phoenix-zfs")
                .collect();
            let (command, used) = find(&root, &words);
            if used == 0 {
                if span.starts_with("phoenix-zfs ") {
                    problems.push(format!(
                        "README's table shows `{span}`, which is no command"
                    ));
                }
                continue;
            }
            shown.push(words[..used].join(" "));
            for word in &words[used..] {
                let flag = word.trim_matches(|c| "[]().\\|".contains(c));
                let Some(long) = flag.strip_prefix("--") else {
                    continue;
                };
                if !command.get_arguments().any(|a| a.get_long() == Some(long)) {
                    problems.push(format!("`{span}`: {} has no --{long}", command.get_name()));
                }
            }
        }
    }
    let mut leaves = Vec::new();
    leaf_commands(&root, "", &mut leaves);
    for leaf in &leaves {
        if !shown.contains(leaf) {
            problems.push(format!(
                "`phoenix-zfs {leaf}` is not in README's command table"
            ));
        }
    }
    for command in &shown {
        if !leaves.contains(command) {
            problems.push(format!(
                "README's table shows `{command}`, which is no command"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
