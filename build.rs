//! Puts what `--version` prints into PHOENIX_ZFS_VERSION: the package version, the commit it was
//! built from and the digest of the embedded default layout, so that a binary found on a host
//! says which layout it would apply without running it.

use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

const LAYOUT: &str = "src/layout/default.toml";

fn main() {
    println!("cargo:rerun-if-changed={LAYOUT}");
    let layout = std::fs::read(LAYOUT).unwrap_or_else(|e| panic!("{LAYOUT}: {e}"));
    let digest = Sha256::digest(&layout);
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = commit().unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=PHOENIX_ZFS_VERSION={version} ({commit}, layout sha256:{hex})");
}

/// `git rev-parse --short=12 HEAD`, or None without git or a repository (a source tarball).
/// Asks git for HEAD's file and the branch's, so that a commit or a checkout runs this again;
/// in a worktree both live outside `.git`, which is then a file.
fn commit() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    // A branch whose loose ref was packed moves in packed-refs.
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    // A path that does not exist would make cargo run this script on every build.
    for path in watched.into_iter().flatten() {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(commit)
}
