//! phoenix-zfs command line: parses the arguments, builds the context, hands it to one command,
//! and turns what the command returns into the exit code and, on a failure, the error line.

mod args;
mod commands;
mod context;
mod failure;
mod progress;
mod render;

use args::{Cli, Command, DebugCommand, LayoutCommand, ManifestCommand};
use clap::Parser;
use context::Context;
use failure::{print_error, Failure, Outcome};
use phoenix_zfs::exit::Exit;
use phoenix_zfs::host::inventory::HostRoot;
use phoenix_zfs::host::target::Target;
use phoenix_zfs::manifest;
use phoenix_zfs::plan::Consent;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Output piped into `head` ends quietly, as in every Unix tool, instead of a write error.
    // SAFETY: called first thing, before any thread exists.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    };
    if let Some(ordering) = commands::hook::started_as_proxmox_hook() {
        init_logging(1);
        let ctx = Context {
            root: HostRoot::live(),
            target: Target::RunningSystem,
        };
        return commands::firstboot::run(&ctx, ordering.as_deref()).into();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version come this way too, on stdout.
            return if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Done
            }
            .into();
        }
    };
    init_logging(cli.verbose);
    match run(cli) {
        Ok(exit) => exit.into(),
        Err(failure) => {
            print_error(&failure.message);
            failure.exit.into()
        }
    }
}

/// A plain level, from -v or PHOENIX_ZFS_LOG (error, warn, info, debug, trace). Per-module
/// filters would need tracing-subscriber's env-filter and its regex engine, a large share of a
/// binary that must fit Proxmox's 1 MiB hook (BENCHMARKS.md, "Binary size"), for a feature
/// nobody needs in a one-module tool.
fn init_logging(verbose: u8) {
    use tracing::level_filters::LevelFilter;
    let from_flags = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    };
    let level = std::env::var("PHOENIX_ZFS_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(from_flags);
    phoenix_zfs::log::StderrLog::new(level).install();
}

fn run(cli: Cli) -> Outcome {
    let root = cli.root.map(HostRoot).unwrap_or_else(HostRoot::live);
    let target = match &cli.target_root {
        None => Target::RunningSystem,
        Some(dir) => Target::mounted_root(dir, cli.keep_imported).map_err(Failure::usage)?,
    };
    if !target.is_running()
        && matches!(
            cli.command,
            Command::Firstboot { .. } | Command::Attach { .. }
        )
    {
        return Err(Failure::usage("--target-root is for detect, plan, apply and verify: `firstboot` and `attach` work on the running system"));
    }
    let ctx = Context { root, target };
    match cli.command {
        Command::Detect { layout, json } => commands::detect::run(&ctx, layout.as_deref(), json),
        Command::Plan {
            layout,
            json,
            wipe,
            force_import,
        } => commands::plan::run(
            &ctx,
            layout.as_deref(),
            &Consent { wipe, force_import },
            json,
        ),
        Command::Apply {
            layout,
            yes,
            wipe,
            force_import,
            manifest,
            host_key,
        } => commands::apply::run(
            &ctx,
            layout.as_deref(),
            yes,
            &Consent { wipe, force_import },
            &manifest.unwrap_or_else(|| ctx.target.path(Path::new(manifest::DEFAULT_PATH))),
            &host_key.unwrap_or_else(|| ctx.target.path(Path::new(manifest::DEFAULT_HOST_KEY))),
        ),
        Command::Verify { layout, json } => commands::verify::run(&ctx, layout.as_deref(), json),
        Command::Manifest {
            command: ManifestCommand::Show { file, json },
        } => commands::manifest_show::run(&file, json),
        Command::Manifest {
            command:
                ManifestCommand::Verify {
                    files,
                    key,
                    allowed_signers,
                    trust_embedded_key,
                    json,
                },
        } => commands::manifest_verify::run(
            &files,
            &commands::manifest_verify::TrustAnchor {
                key: key.as_deref(),
                allowed_signers: allowed_signers.as_deref(),
                trust_embedded_key,
            },
            json,
        ),
        Command::Layout {
            command: LayoutCommand::Show,
        } => commands::layout::show(),
        Command::Layout {
            command: LayoutCommand::Check { file },
        } => commands::layout::check(&file),
        Command::Firstboot { dry_run: true } => commands::firstboot::dry_run(&ctx),
        Command::Firstboot { dry_run: false } => Ok(commands::firstboot::run(&ctx, None)),
        Command::Attach {
            ctid,
            layout,
            dry_run,
        } => commands::attach::run(&ctx, ctid, layout.as_deref(), dry_run),
        Command::Debug {
            command: DebugCommand::SnapshotHost { dir },
        } => commands::snapshot_host::run(&ctx, &dir),
    }
}
