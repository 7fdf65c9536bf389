//! phoenix-zfs command line: parses the arguments, builds the context, hands it to one command,
//! and turns what the command returns into the exit code and, on a failure, the error line.

mod args;
mod commands;
mod context;
mod failure;
mod progress;
mod render;

use args::{Cli, Command, ConsentArgs, DebugCommand, HostArgs, LayoutCommand, ManifestCommand};
use clap::Parser;
use context::Context;
use failure::{print_error, Failure, Outcome};
use phoenix_zfs::exit::Exit;
use phoenix_zfs::host::root::HostRoot;
use phoenix_zfs::host::target::Target;
use phoenix_zfs::manifest;
use phoenix_zfs::plan::Consent;
use phoenix_zfs::remedy;
use std::path::{Path, PathBuf};
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
            remedies: remedy::Invocation::default(),
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

/// The host a command reads (`--root`, checked to be one) and the system it provisions
/// (`--target-root`, for the commands that take it).
fn context(root: Option<PathBuf>, host: Option<&HostArgs>) -> Result<Context, Failure> {
    let root = match root {
        None => HostRoot::live(),
        Some(dir) if dir.join("sys").is_dir() => HostRoot(dir),
        Some(dir) => {
            return Err(Failure::said(
                Exit::Usage,
                format!(
                    "--root {}: no sys/ there, so no host tree (`{}` makes one)",
                    dir.display(),
                    phoenix_zfs::remedy::SNAPSHOT_HOST
                ),
            ))
        }
    };
    let target = match host {
        Some(HostArgs {
            target_root: Some(dir),
            keep_imported,
            ..
        }) => Target::mounted_root(dir, *keep_imported).map_err(Failure::usage)?,
        _ => Target::RunningSystem,
    };
    let remedies = remedy::Invocation {
        root: (root.0 != Path::new("/")).then(|| root.0.clone()),
        layout: host.and_then(|h| h.layout.clone()),
        target_root: match &target {
            Target::MountedRoot { dir, .. } => Some(dir.clone()),
            Target::RunningSystem => None,
        },
        keep_imported: matches!(
            target,
            Target::MountedRoot {
                keep_imported: true,
                ..
            }
        ),
    };
    Ok(Context {
        root,
        target,
        remedies,
    })
}

fn run(cli: Cli) -> Outcome {
    let host = match &cli.command {
        Command::Detect { host, .. }
        | Command::Plan { host, .. }
        | Command::Apply { host, .. }
        | Command::Verify { host, .. } => Some(host),
        _ => None,
    };
    // manifest and layout read no host: a --root there is not checked, and means nothing.
    let reads_host = !matches!(
        cli.command,
        Command::Manifest { .. } | Command::Layout { .. }
    );
    let ctx = context(cli.root.filter(|_| reads_host), host)?;
    let ctx = &ctx;
    let consent = |c: ConsentArgs| Consent {
        wipe: c.wipe,
        force_import: c.force_import,
    };
    let outcome = match cli.command {
        Command::Detect { host, json } => commands::detect::run(ctx, host.layout.as_deref(), json),
        Command::Plan {
            host,
            json,
            consent: given,
            out,
        } => commands::plan::run(
            ctx,
            host.layout.as_deref(),
            &consent(given),
            json,
            out.as_deref(),
        ),
        Command::Apply {
            host,
            yes,
            consent: given,
            manifest,
            host_key,
            plan,
        } => {
            let manifest =
                manifest.unwrap_or_else(|| ctx.target.path(Path::new(manifest::DEFAULT_PATH)));
            let host_key =
                host_key.unwrap_or_else(|| ctx.target.path(Path::new(manifest::DEFAULT_HOST_KEY)));
            match plan {
                Some(file) => commands::apply::run_kept(ctx, &file, &manifest, &host_key),
                None => commands::apply::run(
                    ctx,
                    host.layout.as_deref(),
                    yes,
                    &consent(given),
                    &manifest,
                    &host_key,
                    None,
                ),
            }
        }
        Command::Verify { host, json } => commands::verify::run(ctx, host.layout.as_deref(), json),
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
        Command::Firstboot { dry_run: true } => commands::firstboot::dry_run(ctx),
        Command::Firstboot { dry_run: false } => Ok(commands::firstboot::run(ctx, None)),
        Command::Attach {
            ctid,
            layout,
            dry_run,
        } => commands::attach::run(ctx, ctid, layout.as_deref(), dry_run),
        Command::Debug {
            command: DebugCommand::SnapshotHost { dir },
        } => commands::snapshot_host::run(ctx, &dir),
    };
    outcome.map_err(|failure| Failure {
        message: ctx.remedies.carry(&failure.message),
        ..failure
    })
}

#[cfg(test)]
mod tests;
