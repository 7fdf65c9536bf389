//! `phoenix-zfs plan`: where it runs and the actions apply would run; changes nothing.

use crate::context::{Context, Need};
use crate::failure::Outcome;
use crate::render;
use phoenix_zfs::exit::Exit;
use phoenix_zfs::plan::Consent;
use std::path::Path;

/// `out`: where `plan --out` keeps the plan for `apply --plan`.
pub fn run(
    ctx: &Context,
    layout: Option<&Path>,
    consent: &Consent,
    json: bool,
    out: Option<&Path>,
) -> Outcome {
    ctx.check_wipes(consent)?;
    let (a, situation) = ctx.assess(layout, consent, Need::Plan)?;
    if json {
        render::json(&render::plan_json(&a, &situation));
    } else {
        println!("situation: {situation}");
        render::plan(&a, &ctx.remedies);
    }
    if let Some(file) = out {
        crate::commands::kept::write(ctx, &a, layout, consent, file, json)?;
    }
    Ok(a.plan.exit().unwrap_or(Exit::Done))
}
