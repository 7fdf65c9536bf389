//! `phoenix-zfs attach CTID`: binds the layout's shared datasets into an existing Proxmox
//! container with `pct set CTID -mpN HOSTPATH,mp=PATH`. Reads the container's configuration
//! first, so a dataset already bound (in any slot, at any path, pending in `[pve:pending]` or
//! by a raw `lxc.mount.entry`) is left as it is.

use crate::context::{load_layout, Context, ZfsTools};
use crate::failure::{Failure, Outcome};
use phoenix_zfs::apply::run_action;
use phoenix_zfs::exit::Exit;
use phoenix_zfs::formats::proxmox::container::{bind_changes, parse_mounts, BindChange};
use phoenix_zfs::formats::zfs;
use phoenix_zfs::host::ObserveError;
use phoenix_zfs::manifest::ActionResult;
use phoenix_zfs::plan::Action;
use phoenix_zfs::report::Report;
use phoenix_zfs::runner::{display, Runner};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub fn run(ctx: &Context, ctid: u32, layout_file: Option<&Path>, dry_run: bool) -> Outcome {
    let layout = load_layout(layout_file)?;
    let config_path = format!("/etc/pve/lxc/{ctid}.conf");
    let text = std::fs::read_to_string(ctx.root.path(&config_path)).map_err(|e| {
        Failure::said(Exit::Usage, format!(
            "{config_path}: {}: container {ctid} does not exist on this node, or the Proxmox cluster file system is not running (`pct list` shows the containers)", Report(&e)
        ))
    })?;
    let existing = parse_mounts(&config_path, &text).map_err(Failure::unexpected)?;
    let ZfsTools::Runner(runner) = ctx.tools()? else {
        return Err(Failure::said(
            Exit::Unexpected,
            "no ZFS tools for this root: cannot read the datasets' mountpoints".into(),
        ));
    };
    let mountpoints = read_mountpoints(runner.as_ref(), &layout).map_err(Failure::unexpected)?;
    let changes = bind_changes(&layout, ctid, &existing, &mountpoints).map_err(Failure::usage)?;
    let mut failed = false;
    for change in changes {
        match change {
            BindChange::Present {
                dataset,
                slot,
                path,
            } => println!(
                "present: {dataset} is {slot} of container {ctid} (at {})",
                path.as_deref().unwrap_or("?")
            ),
            BindChange::Add { dataset, argv } => {
                let action = Action::BindMount {
                    ctid,
                    dataset,
                    argv,
                };
                if dry_run {
                    println!("would run: {}", display(&action.argv()));
                    continue;
                }
                let record = run_action(runner.as_ref(), &action);
                if record.result == ActionResult::Done {
                    println!("added: {}", record.summary);
                } else {
                    failed = true;
                    println!(
                        "failed: `{}`: {}",
                        display(&record.argv),
                        record.error.unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(if failed {
        Exit::CommandFailed
    } else {
        Exit::Done
    })
}

/// The mountpoints of the layout's bound datasets, in one `zfs get`.
fn read_mountpoints(
    runner: &dyn Runner,
    layout: &phoenix_zfs::layout::Layout,
) -> Result<BTreeMap<String, String>, ObserveError> {
    let names: Vec<String> = layout
        .datasets
        .iter()
        .filter(|d| d.bind_mount.is_some())
        .map(|d| d.name().to_string())
        .collect();
    let argv = zfs::zfs_get_argv(&["mountpoint".to_string()], &names, false, &[]);
    let out = phoenix_zfs::host::read(runner, &argv, Duration::from_secs(60), &[])?;
    let rows =
        zfs::parse_property_table(&out.stdout).map_err(|e| ObserveError::output(&argv, e))?;
    Ok(rows.into_iter().map(|r| (r.name, r.value)).collect())
}
