//! Process enforcement: DCR graphs at run time (Hildebrandt & Mukkamala,
//! "Declarative event-based workflow as distributed dynamic condition
//! response graphs", 2010; milestones from Hildebrandt, Mukkamala, Slaats
//! & Zanitti, 2013; shared seed 004). Pure: an activity event and the
//! marking of its instance give "executed" (and the new marking) or
//! "refused, because ...".
//!
//! - One instance per process and key value, created at the first
//!   activity event of its key (even a refused one) with the declared
//!   initial marking.
//! - An activity is **enabled** when it is included, every included
//!   condition of it has been executed, and no included milestone of it is
//!   pending.
//! - Executing it: it becomes executed and not pending; then its responses
//!   become pending (so a self-response leaves it pending); then its
//!   excludes are excluded and its includes included, in that order, so
//!   when one activity both includes and excludes a target, include wins
//!   (as pm4py's DCR executor does), and a self-exclude excludes itself.
//! - An event that is an activity of several processes is executed only if
//!   it is enabled in all of them, and then in all of them.
//! - An instance is **accepting** when no included activity is pending.
//!
//! - A process with `idle D` retires an instance that is accepting and
//!   has seen no activity event of its key (executed or refused) for `D`
//!   of event time: at the deadline `last + D`, handled like every other
//!   deadline (before the events of that time). A retired key starts over
//!   from the initial marking at its next activity event.
//!
//! Markings are bit sets (at most 64 activities a process; the loader
//! refuses more), so checking and executing allocate nothing. With
//! [`Processes::track`] every execution, refusal and retirement is also
//! kept as a [`ProcessChange`] (the marking before and after), which the
//! engine reports as an output: what the history log
//! ([`crate::history`]) and peers are built from.

use crate::keys::KeyMap;
use crate::value::{Event, Value};
use cep_ir::{EventId, Program, RelationKind};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// The most activities a process may have (one bit each).
pub const MAX_ACTIVITIES: usize = 64;

/// The marking of an instance: one bit per activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Marking {
    pub executed: u64,
    pub pending: u64,
    pub included: u64,
}

impl Marking {
    /// No included activity is pending.
    pub fn accepting(&self) -> bool {
        self.pending & self.included == 0
    }
}

pub(crate) struct Proc {
    pub(crate) name: String,
    pub(crate) key: String,
    /// Activity names, by index.
    pub(crate) names: Vec<String>,
    init: Marking,
    /// Per activity: the activities that are its conditions, milestones,
    /// responses, includes and excludes.
    pub(crate) rels: Vec<Rel>,
    /// Per activity: the slot of the key field in its event type.
    slots: Vec<u16>,
    /// Instances by key value.
    instances: KeyMap<Inst>,
    /// Instances made so far (numbers them, in the order they were made).
    made: u64,
    /// `idle D`, in milliseconds.
    idle: Option<i64>,
    /// Retirement deadlines: at most one per instance.
    retire: BinaryHeap<Reverse<Due>>,
    retired: u64,
}

/// The relations of one activity, as bit sets of activities: its
/// conditions and milestones (what it checks), its responses, includes
/// and excludes (what executing it does).
#[derive(Clone, Copy, Default)]
pub(crate) struct Rel {
    pub(crate) conditions: u64,
    pub(crate) milestones: u64,
    pub(crate) responses: u64,
    pub(crate) includes: u64,
    pub(crate) excludes: u64,
}

impl Rel {
    /// What blocks activity `a` (whose relations these are) in marking
    /// `m`, or `None` when it is enabled.
    #[inline]
    fn why_not(&self, a: usize, m: &Marking) -> Option<Blocked> {
        if m.included & (1u64 << a) == 0 {
            return Some(Blocked::Excluded);
        }
        let blocking = self.conditions & m.included & !m.executed;
        if blocking != 0 {
            return Some(Blocked::Condition(blocking.trailing_zeros() as usize));
        }
        let blocking = self.milestones & m.included & m.pending;
        if blocking != 0 {
            return Some(Blocked::Milestone(blocking.trailing_zeros() as usize));
        }
        None
    }

    /// Activity `a` happens in marking `m`: it becomes executed and not
    /// pending; then its responses become pending; then its excludes, then
    /// its includes, apply.
    #[inline]
    fn execute(&self, a: usize, mut m: Marking) -> Marking {
        let bit = 1u64 << a;
        m.executed |= bit;
        m.pending &= !bit;
        m.pending |= self.responses;
        m.included &= !self.excludes;
        m.included |= self.includes;
        m
    }
}

/// One instance of a process.
#[derive(Clone, Copy)]
struct Inst {
    /// Its number in its process (the order instances were made).
    order: u64,
    m: Marking,
    /// Time of its latest activity event (executed or refused).
    last: i64,
    /// It has a retirement deadline in [`Proc::retire`].
    queued: bool,
}

/// A retirement deadline.
struct Due {
    at: i64,
    order: u64,
    key: Value,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.order) == (o.at, o.order)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.at, self.order).cmp(&(o.at, o.order))
    }
}

/// Every process of a program, with its instances.
#[derive(Default)]
pub struct Processes {
    pub(crate) procs: Vec<Proc>,
    /// Per event type: (process, activity index, key slot).
    by_event: Vec<Vec<(usize, usize, u16)>>,
    /// Reused: the instances an event is an activity in.
    hits: Vec<(usize, usize, Value)>,
    /// Keep [`ProcessChange`]s in `changes`.
    track: bool,
    changes: Vec<ProcessChange>,
}

/// What happened to one process instance: an execution, a refusal or a
/// retirement, with the marking (a run change for processes: what the
/// history log and peers are built from).
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessChange {
    /// Index of the process in the IR.
    pub process: usize,
    /// The instance's number in its process (0 for the first made).
    pub instance: u64,
    pub key: Value,
    /// Event time (milliseconds since the epoch) of the activity event,
    /// or the deadline a retirement happened at.
    pub time: i64,
    pub kind: ChangeKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ChangeKind {
    /// Activity `activity` was executed by the event of this `seq`; the
    /// marking went from `before` to `after`.
    Executed {
        activity: usize,
        seq: u64,
        before: Marking,
        after: Marking,
    },
    /// The event of this `seq` was refused; the marking is unchanged.
    Refused {
        activity: usize,
        seq: u64,
        marking: Marking,
        why: Blocked,
    },
    /// The instance was accepting and idle for the process's `idle D`, and
    /// is forgotten.
    Retired { marking: Marking },
}

/// Why an activity event was refused, as data (worded by
/// [`Processes::describe`] only when someone reads it).
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub process: usize,
    pub activity: usize,
    pub why: Blocked,
}

/// The first relation that blocks an activity, in the order checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// The activity is excluded.
    Excluded,
    /// This included condition has not been executed.
    Condition(usize),
    /// This included milestone is pending.
    Milestone(usize),
    /// Enabled here, but another process the event is an activity of (by
    /// its index in the IR) refused it, so it is not executed here either.
    Process(usize),
}

/// An instance that is not accepting at the end.
#[derive(Clone, Debug, PartialEq)]
pub struct NotAccepting {
    pub process: String,
    pub key_field: String,
    pub key: Value,
    /// The included activities that are pending, in declaration order.
    pub pending: Vec<String>,
}

impl Processes {
    /// The processes of `program`; `Err` names a process with more than
    /// [`MAX_ACTIVITIES`] activities.
    pub fn new(program: &Program) -> Result<Processes, String> {
        let mut procs = Vec::new();
        let mut by_event = vec![Vec::new(); program.events.len()];
        for (pi, p) in program.processes.iter().enumerate() {
            let n = p.activities.len();
            if n > MAX_ACTIVITIES {
                return Err(format!(
                    "process `{}` has {n} activities; at most {MAX_ACTIVITIES} are supported",
                    p.name
                ));
            }
            let bit = |i: usize| 1u64 << i;
            let mut init = Marking::default();
            let names = p
                .activities
                .iter()
                .map(|a| {
                    program
                        .events
                        .get(a.event as usize)
                        .map_or_else(|| "?".to_string(), |e| e.name.clone())
                })
                .collect();
            for (i, a) in p.activities.iter().enumerate() {
                if a.included {
                    init.included |= bit(i);
                }
                if a.pending {
                    init.pending |= bit(i);
                }
                if a.executed {
                    init.executed |= bit(i);
                }
                if let Some(v) = by_event.get_mut(a.event as usize) {
                    v.push((pi, i, a.key_slot));
                }
            }
            let mut proc = Proc {
                name: p.name.clone(),
                key: p.key.clone(),
                names,
                init,
                rels: vec![Rel::default(); n],
                slots: p.activities.iter().map(|a| a.key_slot).collect(),
                instances: KeyMap::default(),
                made: 0,
                idle: p.idle_ms.filter(|&d| d > 0),
                retire: BinaryHeap::new(),
                retired: 0,
            };
            for r in &p.relations {
                let (from, to) = (usize::from(r.from), usize::from(r.to));
                if from >= n || to >= n {
                    continue;
                }
                match r.kind {
                    RelationKind::Condition => proc.rels[to].conditions |= bit(from),
                    RelationKind::Milestone => proc.rels[to].milestones |= bit(from),
                    RelationKind::Response => proc.rels[from].responses |= bit(to),
                    RelationKind::Include => proc.rels[from].includes |= bit(to),
                    RelationKind::Exclude => proc.rels[from].excludes |= bit(to),
                }
            }
            procs.push(proc);
        }
        Ok(Processes {
            procs,
            by_event,
            hits: Vec::new(),
            track: false,
            changes: Vec::new(),
        })
    }

    /// Keep a [`ProcessChange`] for every execution, refusal and
    /// retirement, to be taken with [`Processes::take_changes`].
    pub fn track(&mut self, on: bool) {
        self.track = on;
    }

    /// Changes are kept ([`Processes::track`]).
    pub fn tracking(&self) -> bool {
        self.track
    }

    /// The changes kept since the last call, oldest first.
    pub fn take_changes(&mut self) -> std::vec::Drain<'_, ProcessChange> {
        self.changes.drain(..)
    }

    /// Some process has events of this type as an activity.
    pub fn enforces(&self, ty: EventId) -> bool {
        self.by_event
            .get(ty as usize)
            .is_some_and(|v| !v.is_empty())
    }

    /// Checks an activity event: `Ok` when it is enabled in every process
    /// it is an activity of (and then it is executed in all of them), or
    /// the reason it is refused (and nothing changes, but the instances
    /// are made and their quiet period starts over).
    pub fn admit(&mut self, ev: &Event) -> Result<(), Refusal> {
        let Some(acts) = self.by_event.get(ev.ty as usize) else {
            return Ok(());
        };
        if acts.is_empty() {
            return Ok(());
        }
        let track = self.track;
        // One process (the usual case): one lookup, checked and executed
        // in place.
        if let [(pi, a, slot)] = acts[..] {
            let Some(p) = self.procs.get_mut(pi) else {
                return Ok(());
            };
            let rel = p.rel(a);
            let key = ev.field(slot);
            let inst = p.touch(key, ev.time);
            let before = inst.m;
            let result = match rel.why_not(a, &before) {
                Some(why) => Err(why),
                None => {
                    inst.m = rel.execute(a, before);
                    Ok(inst.m)
                }
            };
            if track {
                let order = inst.order;
                self.changes
                    .push(change(pi, order, key, ev, a, before, result));
            }
            return result.map(|_| ()).map_err(|why| Refusal {
                process: pi,
                activity: a,
                why,
            });
        }
        // Several processes: made and checked in all of them first, then
        // executed in all of them or in none.
        self.hits.clear();
        let mut refusal: Option<Refusal> = None;
        for &(pi, a, slot) in acts {
            let key = ev.field(slot).clone();
            let Some(p) = self.procs.get_mut(pi) else {
                continue;
            };
            let rel = p.rel(a);
            let m = p.touch(&key, ev.time).m;
            if refusal.is_none() {
                refusal = rel.why_not(a, &m).map(|why| Refusal {
                    process: pi,
                    activity: a,
                    why,
                });
            }
            self.hits.push((pi, a, key));
        }
        for (pi, a, key) in &self.hits {
            let Some(p) = self.procs.get_mut(*pi) else {
                continue;
            };
            let rel = p.rel(*a);
            let Some(inst) = p.instances.get_mut(key) else {
                continue;
            };
            let before = inst.m;
            let result = match (&refusal, rel.why_not(*a, &before)) {
                (_, Some(why)) => Err(why),
                (Some(r), None) => Err(Blocked::Process(r.process)),
                (None, None) => {
                    inst.m = rel.execute(*a, before);
                    Ok(inst.m)
                }
            };
            if track {
                self.changes
                    .push(change(*pi, inst.order, key, ev, *a, before, result));
            }
        }
        match refusal {
            Some(r) => Err(r),
            None => Ok(()),
        }
    }

    /// The earliest retirement deadline, if any process retires.
    pub fn next_deadline(&self) -> Option<i64> {
        let mut next: Option<i64> = None;
        for p in &self.procs {
            if let Some(Reverse(d)) = p.retire.peek() {
                next = Some(next.map_or(d.at, |n| n.min(d.at)));
            }
        }
        next
    }

    /// Retires, at deadline `t`, every instance that is accepting and has
    /// been quiet for its process's `idle D` by then.
    pub fn retire(&mut self, t: i64) {
        for (pi, p) in self.procs.iter_mut().enumerate() {
            let Some(idle) = p.idle else {
                continue;
            };
            while let Some(Reverse(due)) = p.retire.peek() {
                if due.at > t {
                    break;
                }
                let Some(Reverse(due)) = p.retire.pop() else {
                    break;
                };
                let Some(inst) = p.instances.get_mut(&due.key) else {
                    continue;
                };
                if inst.order != due.order {
                    continue;
                }
                let at = inst.last.saturating_add(idle);
                if at > t {
                    // Active since it was queued: wait for its new deadline.
                    p.retire.push(Reverse(Due { at, ..due }));
                } else if inst.m.accepting() {
                    let marking = inst.m;
                    p.instances.remove(&due.key);
                    p.retired += 1;
                    if self.track {
                        self.changes.push(ProcessChange {
                            process: pi,
                            instance: due.order,
                            key: due.key,
                            time: t,
                            kind: ChangeKind::Retired { marking },
                        });
                    }
                } else {
                    // Not accepting: only an execution can make it
                    // accepting, and that queues it again.
                    inst.queued = false;
                }
            }
        }
    }

    /// Instances retired so far, over all processes.
    pub fn retired(&self) -> u64 {
        self.procs.iter().map(|p| p.retired).sum()
    }

    /// The marking of an instance, if it exists.
    pub fn marking(&self, process: &str, key: &Value) -> Option<Marking> {
        self.procs
            .iter()
            .find(|p| p.name == process)
            .and_then(|p| p.instances.get(key))
            .map(|i| i.m)
    }

    /// Instances, over all processes.
    pub fn instances(&self) -> usize {
        self.procs.iter().map(|p| p.instances.len()).sum()
    }

    /// Every instance that is not accepting: by process (in declaration
    /// order), then in the order the instances were made.
    pub fn not_accepting(&self) -> Vec<NotAccepting> {
        let mut out = Vec::new();
        for p in &self.procs {
            let mut open: Vec<(u64, Value, &Marking)> = p
                .instances
                .iter()
                .filter(|(_, i)| !i.m.accepting())
                .map(|(k, i)| (i.order, k, &i.m))
                .collect();
            open.sort_by_key(|(order, _, _)| *order);
            for (_, k, m) in open {
                let pending = (0..p.names.len())
                    .filter(|i| (m.pending & m.included) & (1u64 << i) != 0)
                    .map(|i| p.names[i].clone())
                    .collect();
                out.push(NotAccepting {
                    process: p.name.clone(),
                    key_field: p.key.clone(),
                    key: k,
                    pending,
                });
            }
        }
        out
    }
}

/// The change an activity event made (or did not make) to an instance.
fn change(
    process: usize,
    instance: u64,
    key: &Value,
    ev: &Event,
    activity: usize,
    before: Marking,
    result: Result<Marking, Blocked>,
) -> ProcessChange {
    ProcessChange {
        process,
        instance,
        key: key.clone(),
        time: ev.time,
        kind: match result {
            Ok(after) => ChangeKind::Executed {
                activity,
                seq: ev.seq,
                before,
                after,
            },
            Err(why) => ChangeKind::Refused {
                activity,
                seq: ev.seq,
                marking: before,
                why,
            },
        },
    }
}

impl Proc {
    /// The instance of `key` (made now, with the initial marking, if it
    /// did not exist), with an activity event at `time`: its quiet period
    /// starts over, and it gets a retirement deadline if it has none. One
    /// probe of the map.
    #[inline]
    fn touch(&mut self, key: &Value, time: i64) -> &mut Inst {
        let (made, init) = (self.made, self.init);
        let (inst, new) = self.instances.get_or_insert_with(key, || Inst {
            order: made,
            m: init,
            last: time,
            queued: false,
        });
        self.made += u64::from(new);
        inst.last = inst.last.max(time);
        if let (Some(idle), false) = (self.idle, inst.queued) {
            inst.queued = true;
            self.retire.push(Reverse(Due {
                at: inst.last.saturating_add(idle),
                order: inst.order,
                key: key.clone(),
            }));
        }
        inst
    }

    /// The relations of activity `a`.
    #[inline]
    pub(crate) fn rel(&self, a: usize) -> Rel {
        self.rels.get(a).copied().unwrap_or_default()
    }
}

impl Processes {
    /// A refusal in words: `` `Approve` refused by process `Claim`
    /// (claim_id = "c1"): its condition `Review` has not happened``.
    pub fn describe(&self, r: &Refusal, ev: &Event) -> String {
        let Some(p) = self.procs.get(r.process) else {
            return "refused by a process".into();
        };
        let key = p
            .slots
            .get(r.activity)
            .map_or(&Value::Null, |&s| ev.field(s));
        let name = |i: usize| p.names.get(i).map_or("?", String::as_str);
        let at = format!(
            "`{}` refused by process `{}` ({} = {})",
            name(r.activity),
            p.name,
            p.key,
            shown(key)
        );
        match r.why {
            Blocked::Excluded => format!("{at}: it is excluded"),
            Blocked::Condition(c) => format!("{at}: its condition `{}` has not happened", name(c)),
            Blocked::Milestone(c) => format!("{at}: its milestone `{}` is pending", name(c)),
            Blocked::Process(q) => format!(
                "{at}: process `{}` refused it",
                self.procs.get(q).map_or("?", |q| q.name.as_str())
            ),
        }
    }
}

/// A key value as a message shows it.
fn shown(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("{:?}", &**s),
        Value::Null => "null".into(),
        other => crate::steps::text(other),
    }
}
