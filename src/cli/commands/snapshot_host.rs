//! `phoenix-zfs debug snapshot-host DIR`: what phoenix-zfs reads of this host, copied into DIR
//! for bug reports and fixtures.

use crate::context::Context;
use crate::failure::{Failure, Outcome};
use phoenix_zfs::exit::Exit;
use std::path::Path;

pub fn run(ctx: &Context, dir: &Path) -> Outcome {
    let n = phoenix_zfs::host::inventory::snapshot::snapshot(&ctx.root, dir).map_err(|e| {
        Failure::unexpected(format!(
            "cannot snapshot the host into {}: {e}",
            dir.display()
        ))
    })?;
    println!("{}: {n} block device(s) recorded", dir.display());
    Ok(Exit::Done)
}
