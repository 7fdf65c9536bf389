//! `phoenix-zfs debug snapshot-host DIR`: what phoenix-zfs reads of this host, copied into DIR
//! for bug reports and fixtures.

use crate::context::Context;
use crate::failure::{Failure, Outcome};
use phoenix_zfs::exit::Exit;
use phoenix_zfs::report::Report;
use std::path::Path;

pub fn run(ctx: &Context, dir: &Path) -> Outcome {
    let n = phoenix_zfs::host::inventory::snapshot::snapshot(&ctx.root, dir).map_err(|e| {
        Failure::said(
            Exit::Unexpected,
            format!(
                "cannot snapshot the host into {}: {}",
                dir.display(),
                Report(&e)
            ),
        )
    })?;
    println!("{}: {n} block device(s) recorded", dir.display());
    Ok(Exit::Done)
}
