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
//! Markings are bit sets (at most 64 activities a process; the loader
//! refuses more), so checking and executing allocate nothing.

use crate::fxhash::FxBuild;
use crate::value::{Event, Value};
use cep_ir::{EventId, Program, RelationKind};
use std::collections::HashMap;

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

struct Proc {
    name: String,
    key: String,
    /// Activity names, by index.
    names: Vec<String>,
    init: Marking,
    /// Per activity: the activities that are its conditions, milestones,
    /// responses, includes and excludes.
    conditions: Vec<u64>,
    milestones: Vec<u64>,
    responses: Vec<u64>,
    includes: Vec<u64>,
    excludes: Vec<u64>,
    /// Instances by key value, in the order they were made.
    instances: HashMap<Value, (u64, Marking), FxBuild>,
    made: u64,
}

/// Every process of a program, with its instances.
#[derive(Default)]
pub struct Processes {
    procs: Vec<Proc>,
    /// Per event type: (process, activity index, key slot).
    by_event: Vec<Vec<(usize, usize, u16)>>,
    /// Reused: the instances an event is an activity in.
    hits: Vec<(usize, usize, Value)>,
}

/// Why an activity event was refused, as data (worded by
/// [`Processes::describe`] only when someone reads it).
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub process: usize,
    pub activity: usize,
    pub key: Value,
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
                conditions: vec![0; n],
                milestones: vec![0; n],
                responses: vec![0; n],
                includes: vec![0; n],
                excludes: vec![0; n],
                instances: HashMap::with_hasher(FxBuild),
                made: 0,
            };
            for r in &p.relations {
                let (from, to) = (usize::from(r.from), usize::from(r.to));
                if from >= n || to >= n {
                    continue;
                }
                match r.kind {
                    RelationKind::Condition => proc.conditions[to] |= bit(from),
                    RelationKind::Milestone => proc.milestones[to] |= bit(from),
                    RelationKind::Response => proc.responses[from] |= bit(to),
                    RelationKind::Include => proc.includes[from] |= bit(to),
                    RelationKind::Exclude => proc.excludes[from] |= bit(to),
                }
            }
            procs.push(proc);
        }
        Ok(Processes {
            procs,
            by_event,
            hits: Vec::new(),
        })
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
    /// are made).
    pub fn admit(&mut self, ev: &Event) -> Result<(), Refusal> {
        let Some(acts) = self.by_event.get(ev.ty as usize) else {
            return Ok(());
        };
        if acts.is_empty() {
            return Ok(());
        }
        // One process (the usual case): one lookup, checked and executed
        // in place.
        if let [(pi, a, slot)] = acts[..] {
            let Some(p) = self.procs.get_mut(pi) else {
                return Ok(());
            };
            let key = ev.field(slot);
            if !p.instances.contains_key(key) {
                p.instances.insert(key.clone(), (p.made, p.init));
                p.made += 1;
            }
            let Some((_, m)) = p.instances.get(key) else {
                return Ok(());
            };
            if let Some(why) = p.why_not(a, m) {
                return Err(Refusal {
                    process: pi,
                    activity: a,
                    key: key.clone(),
                    why,
                });
            }
            let (resp, excl, incl) = (p.responses[a], p.excludes[a], p.includes[a]);
            if let Some((_, m)) = p.instances.get_mut(key) {
                execute(m, a, resp, excl, incl);
            }
            return Ok(());
        }
        self.hits.clear();
        let mut refusal: Option<Refusal> = None;
        for &(pi, a, slot) in acts {
            let key = ev.field(slot).clone();
            let Some(p) = self.procs.get_mut(pi) else {
                continue;
            };
            let before = p.instances.len();
            let (order, init) = (p.made, p.init);
            let (_, m) = *p.instances.entry(key.clone()).or_insert((order, init));
            if p.instances.len() > before {
                p.made += 1;
            }
            if refusal.is_none() {
                refusal = p.why_not(a, &m).map(|why| Refusal {
                    process: pi,
                    activity: a,
                    key: key.clone(),
                    why,
                });
            }
            self.hits.push((pi, a, key));
        }
        if let Some(r) = refusal {
            return Err(r);
        }
        for (pi, a, key) in &self.hits {
            if let Some(p) = self.procs.get_mut(*pi) {
                let (resp, excl, incl) = (p.responses[*a], p.excludes[*a], p.includes[*a]);
                if let Some((_, m)) = p.instances.get_mut(key) {
                    execute(m, *a, resp, excl, incl);
                }
            }
        }
        Ok(())
    }

    /// The marking of an instance, if it exists.
    pub fn marking(&self, process: &str, key: &Value) -> Option<Marking> {
        self.procs
            .iter()
            .find(|p| p.name == process)
            .and_then(|p| p.instances.get(key))
            .map(|(_, m)| *m)
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
            let mut open: Vec<(&u64, &Value, &Marking)> = p
                .instances
                .iter()
                .filter(|(_, (_, m))| !m.accepting())
                .map(|(k, (order, m))| (order, k, m))
                .collect();
            open.sort_by_key(|(order, _, _)| **order);
            for (_, k, m) in open {
                let pending = (0..p.names.len())
                    .filter(|i| (m.pending & m.included) & (1u64 << i) != 0)
                    .map(|i| p.names[i].clone())
                    .collect();
                out.push(NotAccepting {
                    process: p.name.clone(),
                    key_field: p.key.clone(),
                    key: k.clone(),
                    pending,
                });
            }
        }
        out
    }
}

/// Activity `a` happens: executed and not pending; then its responses
/// become pending; then its excludes, then its includes, apply.
fn execute(m: &mut Marking, a: usize, resp: u64, excl: u64, incl: u64) {
    let bit = 1u64 << a;
    m.executed |= bit;
    m.pending &= !bit;
    m.pending |= resp;
    m.included &= !excl;
    m.included |= incl;
}

impl Proc {
    /// What blocks activity `a` in marking `m`, or `None` when it is
    /// enabled.
    fn why_not(&self, a: usize, m: &Marking) -> Option<Blocked> {
        let bit = 1u64 << a;
        if m.included & bit == 0 {
            return Some(Blocked::Excluded);
        }
        let blocking = self.conditions[a] & m.included & !m.executed;
        if blocking != 0 {
            return Some(Blocked::Condition(blocking.trailing_zeros() as usize));
        }
        let blocking = self.milestones[a] & m.included & m.pending;
        if blocking != 0 {
            return Some(Blocked::Milestone(blocking.trailing_zeros() as usize));
        }
        None
    }
}

impl Processes {
    /// A refusal in words: `` `Approve` refused by process `Claim`
    /// (claim_id = "c1"): its condition `Review` has not happened``.
    pub fn describe(&self, r: &Refusal) -> String {
        let Some(p) = self.procs.get(r.process) else {
            return "refused by a process".into();
        };
        let name = |i: usize| p.names.get(i).map_or("?", String::as_str);
        let at = format!(
            "`{}` refused by process `{}` ({} = {})",
            name(r.activity),
            p.name,
            p.key,
            shown(&r.key)
        );
        match r.why {
            Blocked::Excluded => format!("{at}: it is excluded"),
            Blocked::Condition(c) => format!("{at}: its condition `{}` has not happened", name(c)),
            Blocked::Milestone(c) => format!("{at}: its milestone `{}` is pending", name(c)),
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
