//! Developer tasks: `cargo xtask <task>`. Each task lives in its own module.

mod answer;
mod apt;
mod bench;
mod bench_guest;
mod build_only;
mod checks;
mod demo;
mod dist;
mod fixture_host;
mod guest;
mod guest_final;
mod guest_run;
mod guest_script;
mod guest_tree;
mod hook;
mod host_packages;
mod qemu;
mod qemu_test;
mod record_replay;
mod scenario;
mod test;
mod util;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test        run every test (unit, fixture, QEMU) and compile the benches and fuzz targets:
              the README's test command
  dist        build the static x86_64 musl binary into target/dist/phoenix-zfs
  hook [--form auto|bare|gzip]
              build it and write the Proxmox first-boot hook target/dist/proxmox-first-boot
  guest       build (or reuse from cache) the QEMU guest image with OpenZFS
  fixture-hosts [NAME...]
              write the synthesized fixture hosts under tests/fixtures/hosts from their specs
  guest-run   boot the guest with NVMe drives, run a script in it, unpack its results
  demo        the main job: first boot of a QEMU host with the default layout; leaves
              the signed manifest and the guest's host key in target/demo/
  qemu-test [SCENARIO...]
              run the QEMU scenarios of qemu-tests/ (all by default)
  record-replay CASE SCENARIO BOOT STEP
              copy a scenario step's recorded zpool/zfs transcripts into tests/fixtures/replay/CASE,
              and its exit code and number of storage changes into the case's case.toml
  bench       the core benchmarks (criterion) and the binary's start time, checked against
              issue 6's targets (linear growth, 80,000 property lines under 100 ms, start under 5 ms)
  bench-guest one QEMU boot timing the floor (serial and in lanes), apply, the converged rerun,
              and verify and the rerun with 300 zvols and 5,000 snapshots; last line: the ratios
              (apply against the floor in lanes is the target, against the serial one information)
  check-answer [FILE]
              check a Proxmox installer answer file (default image/answer.toml) against its schema
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
    util::start_tool_log(task);
    match task.as_str() {
        "test" => test::main(rest),
        "dist" => dist::main(rest),
        "hook" => hook::main(rest),
        "guest" => guest::main(rest),
        "fixture-hosts" => fixture_host::main(rest),
        "guest-run" => guest_run::main(rest),
        "qemu-test" => qemu_test::main(rest),
        "demo" => demo::main(rest),
        "record-replay" => record_replay::main(rest),
        "check-answer" => answer::main(rest),
        "bench" => bench::main(rest),
        "bench-guest" => bench_guest::main(rest),
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
