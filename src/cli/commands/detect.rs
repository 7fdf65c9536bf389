//! `phoenix-zfs detect`: every block device and why it is or is not a candidate, what each
//! witness found, which drive goes to which pool, firmware and health verdicts.

use crate::context::{Context, Need};
use crate::failure::Outcome;
use crate::render;
use phoenix_zfs::exit::Exit;
use phoenix_zfs::manifest;
use phoenix_zfs::plan::Consent;
use std::path::Path;

pub fn run(ctx: &Context, layout: Option<&Path>, json: bool) -> Outcome {
    let (a, _) = ctx.assess(layout, &Consent::default(), Need::AllHealth)?;
    let baselines =
        manifest::previous_baselines(&ctx.target.files(&ctx.root).path(manifest::DEFAULT_PATH));
    if json {
        render::json(&render::detect_json(&a, &baselines));
    } else {
        render::detect(&a, &baselines, &ctx.remedies);
    }
    Ok(a.plan.exit().unwrap_or(Exit::Done))
}
