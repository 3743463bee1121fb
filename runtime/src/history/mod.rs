//! The history of process executions, as the DCR history seed describes
//! it (shared seed 004, after Hildebrandt & Mukkamala's distributed DCR
//! graphs): every activity keeps one [`StateChange`] for each thing that
//! happens to it through a relation, stamped by its author; the logs of
//! every runtime instance are stitched into one happens-before history,
//! and what does not fit is tagged as a fault.
//!
//! - [`Lamport`]: the author stamp `(local timestamp, instance id)`, a
//!   Lamport clock per runtime instance. Stamps are ordered by timestamp,
//!   then id: a total order that extends happens-before.
//! - [`state_changes`]: the records of one [`ProcessChange`] (pure).
//! - [`stitch`]: records from any number of logs → the history in stamp
//!   order, with [`Fault`]s.
//! - [`walk::Guard`] and [`walk::walk`] (`walk.rs`): the seed's "ask the neighbours" gathering of
//!   logs, with its cycle guard, for peers.
//!
//! One execution of activity `A` (an activity event of `A` in one
//! instance) writes, each with the next stamp of the clock:
//!
//! 1. `A begin`;
//! 2. if `A` is included, for every condition `C` of `A`:
//!    `A checksCondition v C`, then `C conditionChecked v A`, where `v` is
//!    whether the condition holds (`C` executed or excluded); and for
//!    every milestone `M`: `A checksMilestone v M`, then
//!    `M milestoneChecked v A` (`v`: `M` not pending or excluded). The
//!    seed has no milestones; these two are the same shape as its
//!    conditions;
//! 3. if it is executed: for every response `R`, `A setsPending R` then
//!    `R setPendingBy A`; for every exclude `X`, `A excludes X` then
//!    `X excludedBy A`; for every include `I`, `A includes I` then
//!    `I includedBy A` (the order in which execution applies them);
//! 4. `A finish true` if it was executed, `A finish false` if refused.
//!
//! Every record also names the execution it belongs to (the stamp of its
//! `begin`), so that the two sides of a relation pair exactly even when an
//! activity executes many times. This `execution` field is the one thing
//! added to the seed's `StateChange`.

use crate::process::{ChangeKind, ProcessChange, Processes};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

pub mod walk;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;

/// An author stamp: `(local timestamp, instance id)`, written `[7, "a"]`.
/// Ordered by timestamp, then instance id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stamp(pub u64, pub String);

impl Ord for Stamp {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.0, &self.1).cmp(&(o.0, &o.1))
    }
}

impl PartialOrd for Stamp {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}@{}", self.0, self.1)
    }
}

/// A Lamport clock of one runtime instance (Lamport, "Time, clocks, and
/// the ordering of events in a distributed system", 1978): every record
/// it stamps gets the next timestamp; a stamp received from a peer moves
/// it past that stamp.
#[derive(Clone, Debug)]
pub struct Lamport {
    time: u64,
    id: String,
}

impl Lamport {
    /// A clock for instance `id` whose next stamp is `after + 1` (0 for a
    /// new log; the largest timestamp already written when a log is
    /// continued).
    pub fn new(id: impl Into<String>, after: u64) -> Lamport {
        Lamport {
            time: after,
            id: id.into(),
        }
    }

    /// The next stamp.
    pub fn tick(&mut self) -> Stamp {
        self.time = self.time.saturating_add(1);
        Stamp(self.time, self.id.clone())
    }

    /// A stamp from elsewhere was received: later stamps come after it.
    pub fn observe(&mut self, s: &Stamp) {
        self.time = self.time.max(s.0);
    }
}

/// The seed's relations, and an execution's two ends. Written in
/// camelCase (`"includedBy"`, `"checksCondition"`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Relation {
    /// An execution begins (the seed's `Begin`).
    Begin,
    /// An execution ends; `value`: it succeeded (the seed's `Finish`).
    Finish,
    Includes,
    IncludedBy,
    Excludes,
    ExcludedBy,
    SetsPending,
    SetPendingBy,
    /// `value`: the condition holds.
    ChecksCondition,
    ConditionChecked,
    /// `value`: the milestone does not block (an addition to the seed).
    ChecksMilestone,
    MilestoneChecked,
}

impl Relation {
    /// The other side of a relation: `Includes` ↔ `IncludedBy`, ...,
    /// `Begin` ↔ `Finish`.
    pub fn mirror(self) -> Relation {
        use Relation::*;
        match self {
            Begin => Finish,
            Finish => Begin,
            Includes => IncludedBy,
            IncludedBy => Includes,
            Excludes => ExcludedBy,
            ExcludedBy => Excludes,
            SetsPending => SetPendingBy,
            SetPendingBy => SetsPending,
            ChecksCondition => ConditionChecked,
            ConditionChecked => ChecksCondition,
            ChecksMilestone => MilestoneChecked,
            MilestoneChecked => ChecksMilestone,
        }
    }

    /// The side the executing activity writes (it happens first).
    pub fn is_active(self) -> bool {
        use Relation::*;
        matches!(
            self,
            Includes | Excludes | SetsPending | ChecksCondition | ChecksMilestone
        )
    }

    /// It carries a `value`.
    pub fn has_value(self) -> bool {
        use Relation::*;
        matches!(
            self,
            Finish | ChecksCondition | ConditionChecked | ChecksMilestone | MilestoneChecked
        )
    }

    /// The name as the log writes it.
    pub fn name(self) -> &'static str {
        use Relation::*;
        match self {
            Begin => "begin",
            Finish => "finish",
            Includes => "includes",
            IncludedBy => "includedBy",
            Excludes => "excludes",
            ExcludedBy => "excludedBy",
            SetsPending => "setsPending",
            SetPendingBy => "setPendingBy",
            ChecksCondition => "checksCondition",
            ConditionChecked => "conditionChecked",
            ChecksMilestone => "checksMilestone",
            MilestoneChecked => "milestoneChecked",
        }
    }
}

/// One line of a history log (`cep run --history`): the seed's
/// `StateChange` (author stamp, relation, counterpart) of one activity of
/// one process instance, with the execution it belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    /// The author stamp.
    pub stamp: Stamp,
    pub process: String,
    /// The instance's key value, as JSON.
    pub key: serde_json::Value,
    /// The activity whose log this is.
    pub activity: String,
    /// The stamp of the `begin` of the execution this belongs to.
    pub execution: Stamp,
    pub relation: Relation,
    /// For `finish` and the checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<bool>,
    /// The activity on the other side (none for `begin` and `finish`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterpart: Option<String>,
}

impl std::fmt::Display for StateChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}[{}] {} {}",
            self.stamp,
            self.process,
            self.key,
            self.activity,
            self.relation.name()
        )?;
        if let Some(v) = self.value {
            write!(f, " {v}")?;
        }
        if let Some(c) = &self.counterpart {
            write!(f, " {c}")?;
        }
        Ok(())
    }
}

/// The records of a history log (NDJSON; blank lines skipped), each
/// checked: a relation with a `value` has one and others have none, and
/// `begin`/`finish` have no `counterpart` while the rest have one. `Err`
/// gives the line (from 1) and what is wrong with it.
pub fn parse_log(text: &[u8]) -> Result<Vec<StateChange>, (usize, String)> {
    let mut records = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let r: StateChange = serde_json::from_slice(line)
            .map_err(|e| (i + 1, format!("not a history record: {e}")))?;
        let rel = r.relation;
        if rel.has_value() != r.value.is_some() {
            let how = if rel.has_value() {
                "needs"
            } else {
                "does not take"
            };
            return Err((i + 1, format!("`{}` {how} a `value`", rel.name())));
        }
        let ends = matches!(rel, Relation::Begin | Relation::Finish);
        if ends == r.counterpart.is_some() {
            let how = if ends { "does not take" } else { "needs" };
            return Err((i + 1, format!("`{}` {how} a `counterpart`", rel.name())));
        }
        records.push(r);
    }
    Ok(records)
}

/// The records of one execution or refusal, stamped by `clock`, appended
/// to `out` in stamp order (the module docs give the order). A retirement
/// writes nothing.
pub fn state_changes(
    procs: &Processes,
    change: &ProcessChange,
    clock: &mut Lamport,
    out: &mut Vec<StateChange>,
) {
    let Some(p) = procs.procs.get(change.process) else {
        return;
    };
    let (a, m, executed) = match change.kind {
        ChangeKind::Executed {
            activity, before, ..
        } => (activity, before, true),
        ChangeKind::Refused {
            activity, marking, ..
        } => (activity, marking, false),
        ChangeKind::Retired { .. } => return,
    };
    let name = |i: usize| p.names.get(i).cloned().unwrap_or_default();
    let key = crate::steps::json(&change.key);
    let begin = clock.tick();
    let record = |stamp: Stamp, activity: usize, relation, value, counterpart| StateChange {
        stamp,
        process: p.name.clone(),
        key: key.clone(),
        activity: name(activity),
        execution: begin.clone(),
        relation,
        value,
        counterpart,
    };
    out.push(record(begin.clone(), a, Relation::Begin, None, None));
    let mut pair = |out: &mut Vec<StateChange>, rel: Relation, to: usize, value: Option<bool>| {
        out.push(record(clock.tick(), a, rel, value, Some(name(to))));
        out.push(record(clock.tick(), to, rel.mirror(), value, Some(name(a))));
    };
    let bits = |set: u64| (0..64usize).filter(move |i| set & (1u64 << i) != 0);
    let rel = p.rel(a);
    if m.included & (1u64 << a) != 0 {
        for c in bits(rel.conditions) {
            let holds = m.included & (1u64 << c) == 0 || m.executed & (1u64 << c) != 0;
            pair(out, Relation::ChecksCondition, c, Some(holds));
        }
        for c in bits(rel.milestones) {
            let holds = m.included & (1u64 << c) == 0 || m.pending & (1u64 << c) == 0;
            pair(out, Relation::ChecksMilestone, c, Some(holds));
        }
    }
    if executed {
        for r in bits(rel.responses) {
            pair(out, Relation::SetsPending, r, None);
        }
        for x in bits(rel.excludes) {
            pair(out, Relation::Excludes, x, None);
        }
        for i in bits(rel.includes) {
            pair(out, Relation::Includes, i, None);
        }
    }
    out.push(record(
        clock.tick(),
        a,
        Relation::Finish,
        Some(executed),
        None,
    ));
}

/// Why a record does not fit the history.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// A side of a relation (or a `finish`) whose other side is in no log.
    MissingCounterpart { record: StateChange },
    /// Two records that must be in happens-before order are not: a
    /// relation's passive side stamped no later than its active side, or
    /// a relation record outside its execution's `begin` .. `finish`.
    OutOfOrder {
        first: StateChange,
        then: StateChange,
    },
    /// The two sides of a check disagree on its value.
    Disagree {
        record: StateChange,
        counterpart: StateChange,
    },
    /// An execution that began and never finished.
    Unfinished { begin: StateChange },
}

impl Fault {
    /// The tag: `missing-counterpart`, `out-of-order`, `disagree`,
    /// `unfinished`.
    pub fn tag(&self) -> &'static str {
        match self {
            Fault::MissingCounterpart { .. } => "missing-counterpart",
            Fault::OutOfOrder { .. } => "out-of-order",
            Fault::Disagree { .. } => "disagree",
            Fault::Unfinished { .. } => "unfinished",
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::MissingCounterpart { record } => {
                let other = match (&record.counterpart, record.relation) {
                    (Some(c), r) => match record.value {
                        Some(v) => format!("`{c} {} {v} {}`", r.mirror().name(), record.activity),
                        None => format!("`{c} {} {}`", r.mirror().name(), record.activity),
                    },
                    (None, Relation::Finish) => "its `begin`".to_string(),
                    (None, _) => "its `finish`".to_string(),
                };
                write!(f, "missing-counterpart: {record}: no log has {other}")
            }
            Fault::OutOfOrder { first, then } => write!(
                f,
                "out-of-order: {then} does not come after {first} (stamps {} and {})",
                first.stamp, then.stamp
            ),
            Fault::Disagree {
                record,
                counterpart,
            } => write!(f, "disagree: {record} and {counterpart}"),
            Fault::Unfinished { begin } => write!(f, "unfinished: {begin} never finished"),
        }
    }
}

/// A stitched history: every record once, in stamp order, and the faults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub records: Vec<StateChange>,
    pub faults: Vec<Fault>,
}

/// Stitches records from any number of logs (in any order, with exact
/// duplicates, as a walk may gather one log twice) into one history.
///
/// 1. Order by stamp; drop exact duplicates.
/// 2. Group by (process, key, execution).
/// 3. In each execution, pair `begin` with `finish`, and each active side
///    (`A includes B`) with its passive side (`B includedBy A`), in stamp
///    order when the same pair occurs more than once.
/// 4. Tag: a side with no partner (`missing-counterpart`; a `begin` with
///    no `finish` is `unfinished`); a pair whose passive side is not
///    stamped after its active side, or a relation record not between its
///    execution's `begin` and `finish` (`out-of-order`); a check whose
///    sides give different values (`disagree`).
///
/// Faults are listed in the stamp order of the record they are about.
pub fn stitch(mut records: Vec<StateChange>) -> History {
    records.sort_by(|a, b| {
        a.stamp
            .cmp(&b.stamp)
            .then_with(|| a.activity.cmp(&b.activity))
            .then_with(|| a.relation.name().cmp(b.relation.name()))
    });
    records.dedup();
    let mut faults: Vec<(usize, Fault)> = Vec::new();
    let mut groups: HashMap<(String, String, Stamp), Vec<usize>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        groups
            .entry((r.process.clone(), r.key.to_string(), r.execution.clone()))
            .or_default()
            .push(i);
    }
    for idx in groups.values() {
        let rs: Vec<&StateChange> = idx.iter().filter_map(|&i| records.get(i)).collect();
        let begin = idx.iter().copied().find(|&i| {
            records
                .get(i)
                .is_some_and(|r| r.relation == Relation::Begin)
        });
        let finish = idx.iter().copied().find(|&i| {
            records
                .get(i)
                .is_some_and(|r| r.relation == Relation::Finish)
        });
        match (begin, finish) {
            (Some(b), None) => {
                if let Some(r) = records.get(b) {
                    faults.push((b, Fault::Unfinished { begin: r.clone() }));
                }
            }
            (None, Some(f)) => {
                if let Some(r) = records.get(f) {
                    faults.push((f, Fault::MissingCounterpart { record: r.clone() }));
                }
            }
            (Some(b), Some(f)) => {
                if let (Some(rb), Some(rf)) = (records.get(b), records.get(f)) {
                    if rf.stamp <= rb.stamp {
                        faults.push((
                            f,
                            Fault::OutOfOrder {
                                first: rb.clone(),
                                then: rf.clone(),
                            },
                        ));
                    }
                }
            }
            (None, None) => {}
        }
        let begin_rec = begin.and_then(|b| records.get(b));
        let finish_rec = finish.and_then(|f| records.get(f));
        // Active sides, with the passive sides they may pair with.
        let mut used = vec![false; rs.len()];
        let mut misordered: HashSet<usize> = HashSet::new();
        for (ai, a) in rs.iter().enumerate() {
            if !a.relation.is_active() {
                continue;
            }
            let partner = rs.iter().enumerate().position(|(pi, p)| {
                !used[pi]
                    && p.relation == a.relation.mirror()
                    && p.activity.as_str() == a.counterpart.as_deref().unwrap_or("")
                    && p.counterpart.as_deref() == Some(a.activity.as_str())
            });
            let at = idx.get(ai).copied().unwrap_or(0);
            match partner {
                None => faults.push((
                    at,
                    Fault::MissingCounterpart {
                        record: (*a).clone(),
                    },
                )),
                Some(pi) => {
                    used[pi] = true;
                    used[ai] = true;
                    let p = rs[pi];
                    if p.value != a.value {
                        faults.push((
                            at,
                            Fault::Disagree {
                                record: (*a).clone(),
                                counterpart: p.clone(),
                            },
                        ));
                    }
                    if p.stamp <= a.stamp {
                        misordered.insert(pi);
                        misordered.insert(ai);
                        faults.push((
                            at,
                            Fault::OutOfOrder {
                                first: (*a).clone(),
                                then: p.clone(),
                            },
                        ));
                    }
                }
            }
        }
        for (pi, p) in rs.iter().enumerate() {
            let at = idx.get(pi).copied().unwrap_or(0);
            if matches!(p.relation, Relation::Begin | Relation::Finish) {
                continue;
            }
            // A record already out of order with its other side is one
            // fault, not also one with its execution's ends.
            if misordered.contains(&pi) {
                continue;
            }
            if !p.relation.is_active() && !used[pi] {
                faults.push((
                    at,
                    Fault::MissingCounterpart {
                        record: (*p).clone(),
                    },
                ));
            }
            if let Some(b) = begin_rec.filter(|b| p.stamp <= b.stamp) {
                faults.push((
                    at,
                    Fault::OutOfOrder {
                        first: b.clone(),
                        then: (*p).clone(),
                    },
                ));
            }
            if let Some(f) = finish_rec.filter(|f| p.stamp >= f.stamp) {
                faults.push((
                    at,
                    Fault::OutOfOrder {
                        first: (*p).clone(),
                        then: f.clone(),
                    },
                ));
            }
        }
    }
    faults.sort_by_key(|(i, _)| *i);
    History {
        records,
        faults: faults.into_iter().map(|(_, f)| f).collect(),
    }
}
