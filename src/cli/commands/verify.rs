//! `phoenix-zfs verify`: the live state against the layout; exit 7 when they differ.

use crate::context::{Context, Need};
use crate::failure::Outcome;
use crate::render;
use phoenix_zfs::exit::Exit;
use phoenix_zfs::plan::Consent;
use std::path::Path;

pub fn run(ctx: &Context, layout: Option<&Path>, json: bool) -> Outcome {
    let (a, _) = ctx.assess(layout, &Consent::default(), Need::Plan)?;
    // A refusal outranks the differences: what blocks apply is what the administrator fixes first.
    let exit = match a.plan.exit() {
        Some(exit) => exit,
        None if a.plan.actions.is_empty() => Exit::Done,
        None => Exit::Differs,
    };
    if json {
        render::json(&render::verify_json(&a, exit));
    } else {
        render::verify(&a, exit, &ctx.remedies);
    }
    Ok(exit)
}
