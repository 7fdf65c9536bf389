//! Developer tasks: `cargo xtask <task>`. Each task lives in its own module.

mod dist;
mod guest;
mod guest_run;
mod guest_tree;
mod host_packages;
mod qemu;
mod util;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  dist        build the static x86_64 musl binary into target/dist/phoenix-zfs
  guest       build (or reuse from cache) the QEMU guest image with OpenZFS
  guest-run   boot the guest with NVMe drives, run a script in it, unpack its results
";

fn main() {
    if let Err(err) = run() {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        bail!("no task given");
    };
    match task.as_str() {
        "dist" => dist::main(rest),
        "guest" => guest::main(rest),
        "guest-run" => guest_run::main(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprint!("{USAGE}");
            bail!("unknown task `{other}`")
        }
    }
}
