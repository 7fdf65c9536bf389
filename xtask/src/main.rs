//! Developer tasks: `cargo xtask <task>`. Each task lives in its own module.

mod dist;
mod fixture_host;
mod guest;
mod scenario;
mod test;
mod util;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test        run every test (unit, fixture, QEMU): the README's test command
  dist        build the static x86_64 musl binary into target/dist/phoenix-zfs
  guest       build (or reuse from cache) the QEMU guest image with OpenZFS
  fixture-hosts [NAME...]
              write the synthesized fixture hosts under tests/fixtures/hosts from their specs
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
        "test" => test::main(rest),
        "dist" => dist::main(rest),
        "guest" => guest::main(rest),
        "fixture-hosts" => fixture_host::main(rest),
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
