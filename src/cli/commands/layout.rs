//! `phoenix-zfs layout show` and `layout check FILE`.

use crate::failure::{Failure, Outcome};
use phoenix_zfs::exit::Exit;
use phoenix_zfs::layout::{layout_warnings, Layout, DEFAULT_LAYOUT_TOML};
use std::path::Path;

/// The embedded default layout as TOML: a valid layout file to start from.
pub fn show() -> Outcome {
    print!("{DEFAULT_LAYOUT_TOML}");
    Ok(Exit::Done)
}

/// Validates `file`; its warnings do not make it invalid.
pub fn check(file: &Path) -> Outcome {
    let layout = Layout::load(file).map_err(Failure::usage)?;
    println!(
        "{}: valid: {} pool(s), {} dataset(s)",
        file.display(),
        layout.pools.len(),
        layout.datasets.len()
    );
    for w in layout_warnings(&layout) {
        println!("warning[{}]: {}", w.code, w.message);
    }
    Ok(Exit::Done)
}
