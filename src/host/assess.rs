//! The read-only half of a run, shared by detect, plan, apply and verify: inventory, probe, match,
//! firmware verdicts, observed ZFS state, and the plan that follows from them.

use crate::firmware::{self, DriveFirmware};
use crate::host::inventory::{self, HostRoot, Inventory};
use crate::host::services::{self, HostServices};
use crate::host::target::Target;
use crate::host::zfs_state::Observed;
use crate::layout::Layout;
use crate::matching::{self, MatchReport};
use crate::plan::{self, Facts, Plan};
use crate::runner::Runner;
use serde::Serialize;

/// Where ZFS state comes from: the live tools through a runner, or nothing (a fixture host,
/// recorded or synthesized, without ZFS transcripts, where the host is taken to have no pools).
pub enum ZfsSource<'a> {
    Tools(&'a dyn Runner),
    Absent,
}

#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub inventory: Inventory,
    pub matching: MatchReport,
    pub firmware: Vec<DriveFirmware>,
    pub observed: Observed,
    pub services: HostServices,
    pub plan: Plan,
}

pub fn assess(
    root: &HostRoot,
    target: &Target,
    layout: &Layout,
    zfs: ZfsSource,
    consent: &crate::plan::Consent,
    pending: &[crate::apply::journal::PendingCreate],
    earlier: Option<&HostServices>,
) -> Result<Assessment, crate::host::zfs_state::read::ObserveError> {
    let read_inventory = || {
        let mut inventory = inventory::read(root);
        inventory::probe_candidates(root, &mut inventory);
        inventory
    };
    let (inventory, observed) = match zfs {
        // The imported pools are read while the inventory is: both wait, on processes and on
        // devices. Only the import scan, asked for when a layout pool is missing, needs both.
        ZfsSource::Tools(runner) => {
            let (inventory, observed) = std::thread::scope(|scope| {
                let observing =
                    scope.spawn(|| crate::host::zfs_state::read::observe_imported(runner, layout));
                let inventory = read_inventory();
                let observed = observing
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p));
                (inventory, observed)
            });
            let mut observed = observed?;
            target.strip_altroot(&mut observed);
            crate::host::zfs_state::read::scan_importable(runner, layout, &mut observed, || {
                crate::import_scan::skip_reason(&inventory)
            })?;
            (inventory, observed)
        }
        ZfsSource::Absent => {
            let mut inventory = read_inventory();
            inventory
                .notes
                .push("no ZFS tools for this root: the host is taken to have no pools".into());
            (inventory, Observed::default())
        }
    };
    let matching = matching::match_drives(layout, &inventory, &observed.existing_pools());
    let firmware = firmware::judge(&inventory, &layout.firmware.rules);
    let services = match zfs {
        ZfsSource::Tools(runner) => {
            // Only drives about to be written: a pool member already in place is not refused for
            // its health any more, and a converged rerun spawns no smartctl.
            let drives_to_write: Vec<&inventory::Disk> = matching
                .assignments
                .iter()
                .flat_map(|a| &a.drives)
                .filter(|d| !d.in_place)
                .filter_map(|d| inventory.disks.iter().find(|disk| disk.name == d.name))
                .collect();
            services::observe(root, target, runner, layout, &drives_to_write, earlier)
        }
        ZfsSource::Absent => HostServices::not_observed(),
    };
    let plan = plan::plan(&Facts {
        layout,
        inventory: &inventory,
        matches: &matching,
        firmware: &firmware,
        observed: &observed,
        consent,
        pending,
        services: &services,
        target,
    });
    Ok(Assessment {
        inventory,
        matching,
        firmware,
        observed,
        services,
        plan,
    })
}
