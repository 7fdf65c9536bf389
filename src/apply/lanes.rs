//! Which of the plan's actions run side by side, and running them so. Pools share nothing: each
//! has its own drives, its own transaction groups and (unless the layout sets a mountpoint) its
//! own mount tree under /POOL. So the commands of one pool run beside another pool's, each pool's
//! in the plan's order. In the guest the datasets of two pools overlap well, two `zpool create`
//! at once hardly (the timings: BENCHMARKS.md, "Pools side by side"). Everything else (wipes,
//! imports, packages, storages, files, reloads) runs alone, in order.

use crate::formats::zfs::ZfsFailure;
use crate::manifest::{ActionRecord, ActionResult};
use crate::plan::Action;
use std::sync::mpsc;

use super::Progress;

/// How one action went: its record and, for a failed zpool/zfs command, what its stderr says;
/// or why it never started (the journal could not be written).
pub type Executed = Result<(ActionRecord, Option<ZfsFailure>), super::NotBegun>;

/// A piece of the plan, by the actions' indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Alone(usize),
    /// One list per pool, each in the plan's order.
    SideBySide(Vec<Vec<usize>>),
}

/// The one pool an action changes, when it may run beside other pools' actions: a pool or
/// dataset action that sets no mountpoint (a mountpoint may lie inside another pool's tree,
/// which then has to be mounted first, as the plan orders it).
fn lane(action: &Action) -> Option<&str> {
    match action {
        Action::CreatePool {
            pool,
            filesystem_properties,
            ..
        } if !sets_mountpoint(filesystem_properties.keys()) => Some(pool),
        Action::SetPoolProperty { pool, .. } | Action::ReplaceMember { pool, .. } => Some(pool),
        Action::CreateDataset {
            dataset,
            properties,
        } if !sets_mountpoint(properties.keys()) => dataset.split('/').next(),
        Action::SetDatasetProperties { dataset, changes }
            if !sets_mountpoint(changes.iter().map(|c| &c.property)) =>
        {
            dataset.split('/').next()
        }
        _ => None,
    }
}

fn sets_mountpoint<'a>(mut properties: impl Iterator<Item = &'a String>) -> bool {
    properties.any(|name| name == "mountpoint")
}

/// The plan cut into steps: a run of consecutive pool actions that touches more than one pool
/// is one step of lanes; every other action is a step of its own.
pub fn steps(actions: &[Action]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut run: Vec<(&str, usize)> = Vec::new();
    for (index, action) in actions.iter().enumerate() {
        match lane(action) {
            Some(pool) => run.push((pool, index)),
            None => {
                close_run(&mut run, &mut steps);
                steps.push(Step::Alone(index));
            }
        }
    }
    close_run(&mut run, &mut steps);
    steps
}

fn close_run(run: &mut Vec<(&str, usize)>, steps: &mut Vec<Step>) {
    let mut lanes: Vec<(&str, Vec<usize>)> = Vec::new();
    for (pool, index) in run.drain(..) {
        match lanes.iter_mut().find(|(p, _)| *p == pool) {
            Some((_, indices)) => indices.push(index),
            None => lanes.push((pool, vec![index])),
        }
    }
    if lanes.len() == 1 {
        steps.extend(lanes.remove(0).1.into_iter().map(Step::Alone));
    } else if !lanes.is_empty() {
        steps.push(Step::SideBySide(
            lanes.into_iter().map(|(_, indices)| indices).collect(),
        ));
    }
}

enum Event {
    Started(usize),
    Finished(usize, Executed),
}

/// Runs each lane in its own thread, and reports progress from this one (`base` is the index of
/// the plan's first action among the run's). A lane ends at its first failure; the other pools'
/// lanes run to their end, since nothing of theirs rests on it (which also makes what ran
/// independent of timing). Returns what ran, in the plan's order.
pub fn run_side_by_side(
    lanes: &[Vec<usize>],
    actions: &[Action],
    base: usize,
    progress: &mut dyn Progress,
    execute: &(dyn Fn(&Action) -> Executed + Sync),
) -> Vec<(usize, Executed)> {
    let (events, received) = mpsc::channel();
    let mut ran = Vec::new();
    std::thread::scope(|scope| {
        for lane in lanes {
            let events = events.clone();
            scope.spawn(move || {
                for &index in lane {
                    // The receiver lives until every lane has ended.
                    let _ = events.send(Event::Started(index));
                    let executed = execute(&actions[index]);
                    let done = matches!(&executed, Ok((r, _)) if r.result == ActionResult::Done);
                    let _ = events.send(Event::Finished(index, executed));
                    if !done {
                        break;
                    }
                }
            });
        }
        drop(events);
        for event in received {
            match event {
                Event::Started(index) => progress.started(base + index, &actions[index]),
                Event::Finished(index, executed) => {
                    if let Ok((record, _)) = &executed {
                        progress.finished(base + index, record);
                    }
                    ran.push((index, executed));
                }
            }
        }
    });
    ran.sort_by_key(|(index, _)| *index);
    ran
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::now_rfc3339;
    use crate::plan::PropertyChange;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    fn dataset(name: &str, props: &[(&str, &str)]) -> Action {
        Action::CreateDataset {
            dataset: name.into(),
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn pool(name: &str) -> Action {
        Action::CreatePool {
            pool: name.into(),
            vdev: crate::layout::VdevLayout::Single,
            devices: vec![format!("/dev/disk/by-id/nvme-{name}")],
            properties: BTreeMap::new(),
            filesystem_properties: BTreeMap::new(),
            altroot: None,
        }
    }

    fn reload() -> Action {
        Action::ReloadService {
            unit: "smartmontools.service".into(),
        }
    }

    #[test]
    fn two_pools_run_in_two_lanes_each_in_plan_order() {
        let actions = [
            pool("quickOS"),
            pool("fastData"),
            dataset("quickOS/vm-disks", &[]),
            dataset("fastData/iso", &[]),
            dataset("quickOS/lxc-disks", &[]),
            reload(),
        ];
        assert_eq!(
            steps(&actions),
            [
                Step::SideBySide(vec![vec![0, 2, 4], vec![1, 3]]),
                Step::Alone(5)
            ]
        );
    }

    #[test]
    fn one_pool_and_other_actions_run_alone() {
        let actions = [
            reload(),
            pool("quickOS"),
            dataset("quickOS/a", &[]),
            reload(),
        ];
        assert_eq!(
            steps(&actions),
            [
                Step::Alone(0),
                Step::Alone(1),
                Step::Alone(2),
                Step::Alone(3)
            ]
        );
    }

    #[test]
    fn a_mountpoint_is_a_barrier_between_lanes() {
        let moved = Action::SetDatasetProperties {
            dataset: "fastData/x".into(),
            changes: vec![PropertyChange {
                property: "mountpoint".into(),
                from: "/fastData/x".into(),
                to: "/quickOS/a/x".into(),
            }],
        };
        let actions = [
            pool("quickOS"),
            pool("fastData"),
            dataset("quickOS/a", &[("mountpoint", "/srv/a")]),
            moved,
            dataset("quickOS/b", &[]),
            dataset("fastData/y", &[]),
        ];
        assert_eq!(
            steps(&actions),
            [
                Step::SideBySide(vec![vec![0], vec![1]]),
                Step::Alone(2),
                Step::Alone(3),
                Step::SideBySide(vec![vec![4], vec![5]]),
            ]
        );
    }

    fn record(action: &Action, result: ActionResult) -> ActionRecord {
        ActionRecord {
            summary: action.summary(),
            argv: action.argv(),
            started_at: now_rfc3339(),
            duration_ms: 0,
            result,
            exit_code: Some(if result == ActionResult::Done { 0 } else { 1 }),
            error: None,
        }
    }

    #[derive(Default)]
    struct Seen(Vec<String>);

    impl Progress for Seen {
        fn round(&mut self, _: &[Action]) {}
        fn started(&mut self, index: usize, _: &Action) {
            self.0.push(format!("started {index}"));
        }
        fn finished(&mut self, index: usize, _: &ActionRecord) {
            self.0.push(format!("finished {index}"));
        }
    }

    #[test]
    fn every_lane_runs_and_the_results_come_back_in_plan_order() {
        let actions = [
            pool("quickOS"),
            pool("fastData"),
            dataset("quickOS/a", &[]),
            dataset("fastData/b", &[]),
        ];
        let order = Mutex::new(Vec::new());
        let execute = |a: &Action| -> Executed {
            order.lock().unwrap().push(a.summary());
            Ok((record(a, ActionResult::Done), None))
        };
        let mut seen = Seen::default();
        let ran = run_side_by_side(&[vec![0, 2], vec![1, 3]], &actions, 10, &mut seen, &execute);
        assert_eq!(
            ran.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        let order = order.into_inner().unwrap();
        let position = |s: &Action| order.iter().position(|o| *o == s.summary()).unwrap();
        assert!(position(&actions[0]) < position(&actions[2]));
        assert!(position(&actions[1]) < position(&actions[3]));
        for index in 10..14 {
            let started = seen.0.iter().position(|e| *e == format!("started {index}"));
            let finished = seen
                .0
                .iter()
                .position(|e| *e == format!("finished {index}"));
            assert!(started.unwrap() < finished.unwrap(), "{:?}", seen.0);
        }
    }

    #[test]
    fn a_failure_ends_its_lane_and_the_other_lanes_run_to_their_end() {
        let actions = [
            pool("quickOS"),
            pool("fastData"),
            dataset("quickOS/a", &[]),
            dataset("fastData/b", &[]),
            dataset("fastData/c", &[]),
        ];
        let execute = |a: &Action| -> Executed {
            let result = match a {
                Action::CreatePool { pool, .. } if pool == "quickOS" => ActionResult::Failed,
                _ => ActionResult::Done,
            };
            Ok((record(a, result), None))
        };
        let ran = run_side_by_side(
            &[vec![0, 2], vec![1, 3, 4]],
            &actions,
            0,
            &mut super::super::Silent,
            &execute,
        );
        let indices: Vec<usize> = ran.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, [0, 1, 3, 4]);
    }
}
