//! What every command shares: the host it reads (`--root`), the system it provisions
//! (`--target-root`), the layout, where ZFS state comes from, and the read-only assessment that
//! detect, plan and verify show.

use crate::failure::Failure;
use phoenix_zfs::assess::{assess, Assessment, ZfsSource};
use phoenix_zfs::exit::Exit;
use phoenix_zfs::host::root::HostRoot;
use phoenix_zfs::host::target::Situation;
use phoenix_zfs::host::target::Target;
use phoenix_zfs::layout::Layout;
use phoenix_zfs::plan::Consent;
use phoenix_zfs::remedy;
use phoenix_zfs::report::Report;
use phoenix_zfs::runner::{RecordingRunner, ReplayRunner, Runner, SystemRunner, Transcript};
use std::path::Path;

pub struct Context {
    pub root: HostRoot,
    pub target: Target,
    /// This run's flags that the commands it advises repeat.
    pub remedies: remedy::Invocation,
}

/// Where ZFS state comes from for a root: the live tools on `/`, the transcripts in
/// DIR/zfs-commands/ of a host read with `--root`, or nothing.
pub enum ZfsTools {
    Runner(Box<dyn Runner>),
    Absent,
}

/// What a command needs beyond what plan and apply read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Plan,
    /// `detect`: the health of every pool drive, not only of those about to be written.
    AllHealth,
}

/// The layout in `file`, or the embedded default.
pub fn load_layout(file: Option<&Path>) -> Result<Layout, Failure> {
    match file {
        Some(path) => Layout::load(path),
        None => Ok(Layout::default_layout()),
    }
    .map_err(Failure::usage)
}

impl Context {
    /// Each `--wipe` must name a drive of this host: its drives are read for that (sysfs and
    /// udev, no probe, no ZFS) before anything is planned, and a typo is a usage error instead
    /// of a consent to nothing.
    pub fn check_wipes(&self, consent: &Consent) -> Result<(), Failure> {
        if consent.wipe.is_empty() {
            return Ok(());
        }
        let inventory = phoenix_zfs::host::inventory::read(&self.root);
        phoenix_zfs::plan::check_wipes(consent, &inventory.disks)
            .map_err(|message| Failure::said(Exit::Usage, message))
    }

    pub fn tools(&self) -> Result<ZfsTools, Failure> {
        let root = &self.root;
        if root.0 == Path::new("/") {
            if let Some(dir) = std::env::var_os("PHOENIX_ZFS_RECORD") {
                return match RecordingRunner::new(SystemRunner, dir.into()) {
                    Ok(r) => Ok(ZfsTools::Runner(Box::new(r))),
                    Err(e) => Err(Failure::said(
                        Exit::Unexpected,
                        format!("PHOENIX_ZFS_RECORD: {}", Report(&e)),
                    )),
                };
            }
            return Ok(ZfsTools::Runner(Box::new(SystemRunner)));
        }
        let transcripts = root.path("zfs-commands");
        if !transcripts.is_dir() {
            return Ok(ZfsTools::Absent);
        }
        match Transcript::load_dir(&transcripts) {
            Ok(t) => Ok(ZfsTools::Runner(Box::new(ReplayRunner::new(t)))),
            Err(e) => Err(Failure::said(
                Exit::Unexpected,
                format!("{}: {}", transcripts.display(), Report(&e)),
            )),
        }
    }

    /// Where this run happens: asked of systemd on the live host, a host read with `--root`
    /// otherwise.
    pub fn situation(&self, tools: &ZfsTools) -> Situation {
        if let Target::MountedRoot { dir, .. } = &self.target {
            return Situation::LiveSystem {
                target_root: dir.display().to_string(),
                exports_pools: self.target.exports_pools(),
            };
        }
        match tools {
            ZfsTools::Runner(runner) if self.root.0 == Path::new("/") => {
                phoenix_zfs::host::target::detect_situation(runner.as_ref())
            }
            _ => Situation::RecordedHost {
                root: self.root.0.display().to_string(),
            },
        }
    }

    /// Loads the layout and assesses the host, changing nothing: what detect, plan and verify show.
    pub fn assess(
        &self,
        layout: Option<&Path>,
        consent: &Consent,
        need: Need,
    ) -> Result<(Assessment, Situation), Failure> {
        let (root, target) = (&self.root, &self.target);
        let layout = load_layout(layout)?;
        let tools = self.tools()?;
        let zfs = match &tools {
            ZfsTools::Runner(r) => ZfsSource::Tools(r.as_ref()),
            ZfsTools::Absent => ZfsSource::Absent,
        };
        let situation = self.situation(&tools);
        // plan, detect and verify show the decision apply would make about an interrupted create.
        let pending = phoenix_zfs::apply::journal::Journal::of(&target.files(root)).load_or_none();
        let mut a = assess(root, target, &layout, zfs, consent, &pending, None)
            .map_err(Failure::unexpected)?;
        if let (Need::AllHealth, ZfsTools::Runner(runner)) = (need, &tools) {
            read_pool_health(root, runner.as_ref(), &mut a);
        }
        Ok((a, situation))
    }
}

/// Adds the health of the pool drives the assessment did not read (those already in place).
fn read_pool_health(root: &HostRoot, runner: &dyn Runner, a: &mut Assessment) {
    let in_place: Vec<String> = a
        .matching
        .assignments
        .iter()
        .flat_map(|p| &p.drives)
        .filter(|d| !a.services.health.iter().any(|h| h.drive == d.name))
        .map(|d| d.name.clone())
        .collect();
    for name in in_place {
        if let Some(disk) = a.inventory.disks.iter().find(|d| d.name == name) {
            let reading = phoenix_zfs::host::services::observe_health(root, runner, disk);
            a.services.health.push(reading);
        }
    }
}
