//! Developer tasks: `cargo xtask <task>`. The command line is flags.rs; each task is a function
//! taking its options. Image building is in guest/, everything that boots QEMU in qemu/, the
//! measurements in bench/, the static binary in dist/ and hook.rs.

mod answer;
mod apt;
mod bench;
mod build_only;
mod dist;
mod fixture_host;
mod flags;
mod guest;
mod hook;
mod man;
mod qemu;
mod record_replay;
mod test;
#[cfg(test)]
mod tidy;
mod util;

use clap::{CommandFactory, FromArgMatches};
use flags::{Task, Xtask};
use phoenix_zfs::report::Report;

fn main() {
    let matches = Xtask::command().get_matches();
    let xtask = Xtask::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    util::start_tool_log(xtask.task.name());
    if let Err(err) = run(xtask.task) {
        eprintln!("xtask: error: {}", Report(err.as_ref()));
        std::process::exit(1);
    }
}

fn run(task: Task) -> anyhow::Result<()> {
    match task {
        Task::Test => test::run_all(),
        Task::Dist(options) => dist::build(&options),
        Task::Hook(options) => hook::build(&options),
        Task::Man => man::write(&util::workspace_root()),
        Task::Guest => guest::show_image(),
        Task::FixtureHosts(options) => fixture_host::write_hosts(&options),
        Task::GuestRun(options) => qemu::run::guest_run(&options),
        Task::Demo(options) => qemu::demo::demo(&options),
        Task::QemuTest(options) => qemu::test::run_suite(&options),
        Task::RecordReplay(options) => record_replay::record(&options),
        Task::CheckAnswer(options) => answer::check(&options),
        Task::Bench(options) => bench::bench(&options),
        Task::BenchGuest(options) => bench::guest::bench_guest(&options),
    }
}
