//! The read-only half of a run, shared by detect, plan, apply and verify: inventory, probe, match,
//! firmware verdicts, observed ZFS state, and the plan that follows from them.

use crate::firmware::{self, DriveFirmware};
use crate::host::inventory;
use crate::host::root::HostRoot;
use crate::host::services;
use crate::host::target::Target;
use crate::layout::Layout;
use crate::matching::{self, MatchReport};
use crate::model::disk::{Disk, Inventory};
use crate::model::pools::Observed;
use crate::model::services::HostServices;
use crate::plan::Action;
use crate::plan::{self, Facts, Plan};
use crate::runner::Runner;
use std::collections::BTreeSet;

/// Where ZFS state comes from: the live tools through a runner, or nothing (a fixture host,
/// recorded or synthesized, without ZFS transcripts, where the host is taken to have no pools).
pub enum ZfsSource<'a> {
    Tools(&'a dyn Runner),
    Absent,
}

#[derive(Debug, Clone)]
pub struct Assessment {
    pub inventory: Inventory,
    pub matching: MatchReport,
    pub firmware: Vec<DriveFirmware>,
    pub observed: Observed,
    pub services: HostServices,
    pub plan: Plan,
}

impl Assessment {
    /// The pools that should be imported once this assessment's actions have run: those it saw
    /// imported (the layout's and any other), and those its plan creates or imports.
    pub fn pools_after_actions(&self) -> BTreeSet<String> {
        let seen = self.observed.pools.iter().map(|p| p.name.clone());
        let others = self.observed.other_pools.iter().map(|p| p.name.clone());
        let made = self.plan.actions.iter().filter_map(|a| match a {
            Action::CreatePool { pool, .. } | Action::ImportPool { pool, .. } => Some(pool.clone()),
            _ => None,
        });
        seen.chain(others).chain(made).collect()
    }
}

pub fn assess(
    root: &HostRoot,
    target: &Target,
    layout: &Layout,
    zfs: ZfsSource,
    consent: &crate::plan::Consent,
    pending: &[crate::model::pending::PendingCreate],
    earlier: Option<&Assessment>,
) -> Result<Assessment, crate::host::ObserveError> {
    let expected = earlier.map(Assessment::pools_after_actions);
    let earlier = earlier.map(|a| &a.services);
    let read_inventory = || {
        let mut inventory = inventory::read(root);
        inventory::probe_candidates(root, &mut inventory);
        inventory
    };
    let (inventory, observed, read_ahead) = match zfs {
        ZfsSource::Tools(runner) => std::thread::scope(|scope| {
            // Everything here waits, on processes or on devices, so it waits side by side: the
            // imported pools and the network while the inventory is read, the health of the
            // drives that look about to be written while the drives are probed. Only the import
            // scan, asked for when a layout pool is missing, needs both halves.
            let observing = scope.spawn(|| {
                crate::host::zfs_state::read::observe_imported(
                    root,
                    runner,
                    layout,
                    expected.as_ref(),
                )
            });
            let network =
                scope.spawn(|| services::read_network_ahead(root, target, runner, layout, earlier));
            let mut inventory = inventory::read(root);
            let mut observed = joined(observing)?;
            target.strip_altroot(&mut observed);
            // The probes and the scan can only take drives out of this match (a foreign pool's
            // member), and then another drive's health is read below, after the final match.
            let likely = matching::match_drives(layout, &inventory, &observed.existing_pools());
            let likely: Vec<Disk> = drives_to_write(&likely, &inventory)
                .into_iter()
                .cloned()
                .collect();
            let health = scope.spawn(move || {
                let likely: Vec<&Disk> = likely.iter().collect();
                services::observe_healths(root, runner, &likely)
            });
            inventory::probe_candidates(root, &mut inventory);
            crate::host::zfs_state::read::scan_importable(
                root,
                runner,
                layout,
                &mut observed,
                || crate::import_scan::skip_reason(&inventory),
            )?;
            let read_ahead = services::ReadAhead {
                network: joined(network),
                health: joined(health),
            };
            Ok::<_, crate::host::ObserveError>((inventory, observed, read_ahead))
        })?,
        ZfsSource::Absent => {
            let mut inventory = read_inventory();
            inventory
                .notes
                .push("no ZFS tools for this root: the host is taken to have no pools".into());
            (
                inventory,
                Observed::default(),
                services::ReadAhead::default(),
            )
        }
    };
    let matching = matching::match_drives(layout, &inventory, &observed.existing_pools());
    let firmware = firmware::judge(&inventory, &layout.firmware.rules);
    let services = match zfs {
        ZfsSource::Tools(runner) => {
            // Only drives about to be written: a pool member already in place is not refused for
            // its health any more, and a converged rerun spawns no smartctl.
            let drives_to_write = drives_to_write(&matching, &inventory);
            let seen = services::observe(
                root,
                target,
                runner,
                layout,
                &drives_to_write,
                earlier,
                read_ahead,
            );
            // A host tree without programs, as `debug snapshot-host` copies one, cannot say
            // whether it runs Proxmox, an NFS server or smartd: their absence there is no
            // reason to defer anything.
            match root.path("usr").is_dir() {
                true => seen,
                false => HostServices {
                    health: seen.health,
                    ..HostServices::not_observed()
                },
            }
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

/// The drives a pool is about to be made on (or a member replaced with): the matched drives not
/// already in place.
fn drives_to_write<'i>(matching: &MatchReport, inventory: &'i Inventory) -> Vec<&'i Disk> {
    matching
        .assignments
        .iter()
        .flat_map(|a| &a.drives)
        .filter(|d| !d.in_place)
        .filter_map(|d| inventory.disks.iter().find(|disk| disk.name == d.name))
        .collect()
}

/// A scoped thread's result; its panic goes on in the caller.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}
