//! `cargo xtask man`: the manual pages and shell completions of phoenix-zfs, made from its
//! clap definition (src/cli/args.rs, compiled in here too) so that they never differ from the
//! binary's `--help`. clap_mangen and clap_complete are xtask's: the shipped binary stays as
//! small as it is.

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use std::fs;
use std::path::Path;

#[allow(dead_code)] // the fields are the binary's to read
#[path = "../../src/cli/args.rs"]
mod args;

/// The binary's command line, named as it is installed.
fn command() -> clap::Command {
    args::Cli::command()
        .name("phoenix-zfs")
        .bin_name("phoenix-zfs")
}

/// Each page's file name and text: phoenix-zfs.1, then one page per command
/// (phoenix-zfs-apply.1, phoenix-zfs-manifest-verify.1, ...), as clap names them when built.
pub fn pages() -> Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    add_pages(&cmd, &mut pages)?;
    Ok(pages)
}

fn add_pages(cmd: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    let name = man.get_filename();
    let mut text = Vec::new();
    man.render(&mut text)
        .with_context(|| format!("rendering {name}"))?;
    pages.push((name, text));
    for sub in cmd.get_subcommands() {
        add_pages(sub, pages)?;
    }
    Ok(())
}

/// Writes target/man/*.1 and target/completions/ (bash, zsh, fish) under `root`.
pub fn write(root: &Path) -> Result<()> {
    let man_dir = root.join("target/man");
    fs::create_dir_all(&man_dir).with_context(|| format!("creating {}", man_dir.display()))?;
    for (name, text) in pages()? {
        let path = man_dir.join(name);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let completions = root.join("target/completions");
    fs::create_dir_all(&completions)
        .with_context(|| format!("creating {}", completions.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path = clap_complete::generate_to(shell, &mut command(), "phoenix-zfs", &completions)
            .with_context(|| format!("writing the {shell} completion"))?;
        println!("completion: {}", path.display());
    }
    println!(
        "man: {}/phoenix-zfs.1 (`man -l` reads it)",
        man_dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf_names(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = format!("{prefix}{}", sub.get_name());
            out.push(name.clone());
            leaf_names(sub, &format!("{name} "), out);
        }
    }

    #[test]
    fn the_main_page_names_every_command_and_each_has_its_page() {
        let pages = pages().unwrap();
        let (name, main) = &pages[0];
        assert_eq!(name, "phoenix-zfs.1");
        let main = String::from_utf8_lossy(main);
        let mut names = Vec::new();
        leaf_names(&command(), "", &mut names);
        assert!(names.len() > 10, "{names:?}");
        for command in &names {
            let top = command.split(' ').next().unwrap();
            assert!(main.contains(top), "phoenix-zfs.1 does not name `{top}`");
            let page = format!("phoenix-zfs-{}.1", command.replace(' ', "-"));
            let (_, text) = pages
                .iter()
                .find(|(n, _)| *n == page)
                .unwrap_or_else(|| panic!("no {page}"));
            let text = String::from_utf8_lossy(text);
            assert!(text.contains(".TH"), "{page} is no manual page");
        }
        // The exit codes of --help are in the page too.
        assert!(main.contains("Exit codes"), "{main}");
    }

    #[test]
    fn the_completions_know_every_command() {
        let mut out = Vec::new();
        clap_complete::generate(Shell::Bash, &mut command(), "phoenix-zfs", &mut out);
        let script = String::from_utf8(out).unwrap();
        for command in [
            "detect",
            "plan",
            "apply",
            "verify",
            "snapshot-host",
            "--wipe",
        ] {
            assert!(script.contains(command), "{command}");
        }
    }
}
