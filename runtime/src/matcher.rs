//! One pattern's automaton at run time: partitions, runs, and the step
//! function that takes a run and an event to its successors.
//!
//! Semantics (docs/language.md, section 6, states them for authors):
//! - an event of a type the pattern names goes to the runs of its key, in
//!   the order the runs were created; then, if it satisfies the first
//!   block, it starts a new run;
//! - halt guards are tried first and end every run of the key;
//! - in each run, negations (`Kill`) are tried before the block takes an
//!   event, then the block's `Take`; what is not taken is skipped by a
//!   relaxed state and ends the run in a strict one; a `then any` state
//!   also keeps the run that skipped a taken event;
//! - right after a run enters a state or takes an event, `Proceed` forks
//!   it: one copy stays (if its group can still grow), one moves on (a
//!   group that has its minimum may end after any of its events; an
//!   optional block may be passed over);
//! - a run that reaches the accepting state is a match.

use crate::eval::Scope;
use crate::keyhash::KeyBuild;
use crate::partitions::{PartId, Partitions};
use crate::pred::Pred;
use crate::run::{Chain, Loops, Run};
use crate::value::{Event, Value};
use cep_ir::{BindingId, Edge, Pattern, SkipPolicy, StateId};
use std::collections::HashMap;
use std::sync::Arc;

/// A finished match.
#[derive(Debug)]
pub struct Match {
    pub run: u64,
    pub start: u64,
    /// Time of the event that completed the match (or the deadline of an
    /// absence).
    pub time: i64,
    pub chain: Chain,
}

impl Match {
    /// The order of matches that complete on one input (docs/runtime.md,
    /// "Matching", 5): by their first event, then by their later events,
    /// each by the engine's sequence number.
    pub fn order_key(&self) -> (u64, Vec<u64>) {
        (
            self.start,
            self.chain.to_vec().iter().map(|(_, e)| e.seq).collect(),
        )
    }

    /// Compares two matches as their [`Match::order_key`]s compare,
    /// without making them (no allocation for chains of up to 32 events).
    pub fn order_cmp(&self, other: &Match) -> std::cmp::Ordering {
        self.start.cmp(&other.start).then_with(|| {
            let (mut a, mut b) = (Seqs::default(), Seqs::default());
            a.fill(&self.chain);
            b.fill(&other.chain);
            a.as_slice().cmp(b.as_slice())
        })
    }
}

/// A chain's sequence numbers, oldest first: in place for up to 32.
#[derive(Default)]
struct Seqs {
    near: [u64; 32],
    n: usize,
    far: Vec<u64>,
}

impl Seqs {
    fn fill(&mut self, chain: &Chain) {
        chain.each_oldest_first(|i, _, e| {
            if self.far.is_empty() {
                if let Some(x) = self.near.get_mut(i) {
                    *x = e.seq;
                    self.n = i + 1;
                    return;
                }
                self.far.extend_from_slice(&self.near);
            }
            self.far.push(e.seq);
        });
    }

    fn as_slice(&self) -> &[u64] {
        if self.far.is_empty() {
            self.near.get(..self.n).unwrap_or(&[])
        } else {
            &self.far
        }
    }
}

/// Why a run ended without a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// A negated event arrived, or a strict block's event did not come.
    Killed,
    /// A `halt on` event arrived.
    Halted,
    /// Its window closed.
    Expired,
    /// Dropped by the skip policy after another run's match.
    Skipped,
    /// Shed to keep the pattern under its run limit.
    Shed,
}

/// What happened to runs while handling one input; the engine turns it
/// into outputs.
#[derive(Debug, Default)]
pub struct Effects {
    /// Record run changes (created, took, ended); matches are always kept.
    pub track: bool,
    /// The partition being worked on (set only when tracking).
    pub key: Key,
    /// Runs made: (run, the run it forked from, its partition key).
    pub created: Vec<(u64, Option<u64>, Key)>,
    pub took: Vec<(u64, u16, u64)>,
    pub ended: Vec<(u64, End)>,
    pub matches: Vec<Match>,
    /// Runs whose window closed before they completed, with a pattern
    /// that has `on timeout emit` (`time`: the window's end).
    pub timed_out: Vec<Match>,
}

impl Effects {
    fn note_created(&mut self, run: u64, from: Option<u64>) {
        if self.track {
            self.created.push((run, from, self.key.clone()));
        }
    }

    fn note_took(&mut self, run: u64, binding: u16, seq: u64) {
        if self.track {
            self.took.push((run, binding, seq));
        }
    }

    fn note_ended(&mut self, run: u64, end: End) {
        if self.track {
            self.ended.push((run, end));
        }
    }

    pub fn clear(&mut self) {
        self.created.clear();
        self.took.clear();
        self.ended.clear();
        self.matches.clear();
        self.timed_out.clear();
    }
}

#[derive(Debug, Default)]
pub struct Partition {
    pub key: Key,
    pub runs: Vec<Run>,
    /// Earliest deadline currently scheduled for this partition.
    pub scheduled: Option<i64>,
    /// Greedy and reluctant groups (`cep_ir::Select`): the matches held
    /// per family until no live run of the family could do better. Boxed
    /// and made at the first: most patterns have none, and a partition
    /// of a pattern with many keys stays small.
    pub held: Option<Box<Vec<Held>>>,
}

impl Partition {
    /// Whether it holds matches (`held`).
    pub fn holds(&self) -> bool {
        self.held.as_ref().is_some_and(|h| !h.is_empty())
    }
}

/// The held matches of one family: a start and the events bound before
/// the group; all of them have a group of `len` events.
#[derive(Debug)]
pub struct Held {
    pub family: (u64, Vec<u64>),
    pub len: u32,
    pub matches: Vec<Match>,
    /// Reported already: later matches of the family are not kept (kept
    /// while a run of the family lives).
    pub done: bool,
}

pub type Key = Arc<[Value]>;

/// Run vectors kept for reuse at most (`Matcher::spare_runs`).
const SPARE_RUNS: usize = 64;

pub struct Matcher {
    pub ir: Pattern,
    /// Partition key slots by event type (dense, indexed by event id).
    key_slots: Vec<Option<Vec<u16>>>,
    /// By dense id (`crate::partitions`).
    pub partitions: Partitions,
    /// Reused between events for the runs that survive a step.
    scratch: Vec<Run>,
    /// The matches completed by one input, kept empty between inputs so
    /// that a match does not allocate its vector.
    done: Vec<Match>,
    /// Run vectors of partitions that ended empty, kept (at most
    /// [`SPARE_RUNS`], of room for at most 16 runs each) for the next
    /// partitions to start, so a stream of
    /// short-lived keys does not allocate one per key.
    spare_runs: Vec<Vec<Run>>,
    pub live: usize,
    pub shed: u64,
    /// The last run id handed out.
    runs: u64,
    max_runs: usize,
    /// States that wait on a timeout (absences).
    has_timeouts: bool,
    /// A run learned from a peer was put in (`Matcher::put`): a
    /// partition's runs may no longer be in the order of their start.
    learned: bool,
    /// Look-back absence: per key, the time of the latest X (only keys
    /// with one in the last D are kept, see `forget_old_lookbacks`).
    last_x: HashMap<Key, i64, KeyBuild>,
    /// `last_x`'s size after its last clean-up.
    last_x_kept: usize,
    /// Group sub-patterns (docs/language.md 6.4b): the binding of each,
    /// by its index (`cep_ir::Binding::sub`); empty without them.
    subs: Vec<BindingId>,
    /// Where a new run starts: the first block's state, past the `Open`
    /// edges of the groups the pattern starts with, and its loops.
    entry: (StateId, Option<Box<Loops>>),
    /// The conditions of `Take` and `Kill` edges, compiled
    /// (`crate::pred`): by state, then by edge index.
    preds: Vec<Vec<Option<Pred>>>,
    /// The conditions of `halt on` guards, by index.
    halt_preds: Vec<Option<Pred>>,
    /// The look-back absence's guard condition.
    lookback_pred: Option<Pred>,
    /// By state: it has only `Take` and `Ignore` edges and no timeout, so
    /// a run entering it does not move on without an event (`enter`).
    plain: Vec<bool>,
    /// By state: it has `Kill` edges.
    kills: Vec<bool>,
    /// By state, when its `Ignore` edges all follow its `Take` edges:
    /// whether a run that took an event there also lives on as the run
    /// that skipped it (`then any`). `None` for another order of edges.
    keeps_taker: Vec<Option<bool>>,
    /// By state: its one edge that takes, when the state is a plain
    /// block (one `Take` with no bound, then at most an `Ignore`; no
    /// negation, no group contiguity, no timeout), and whether it has the
    /// `Ignore`. A run there that does not take the event is decided at
    /// once (`Matcher::step`).
    simple: Vec<Option<Simple>>,
}

/// A plain block's state (`Matcher::simple`).
#[derive(Clone, Copy, Debug)]
struct Simple {
    /// Index of the `Take` edge.
    edge: usize,
    event: cep_ir::EventId,
    /// It has an `Ignore` edge: a run that does not take stays.
    skips: bool,
}

/// Hands out run ids, counting from 1 in each pattern.
pub trait Ids {
    fn next_run(&mut self) -> u64;
}

struct Counter(u64);

impl Ids for Counter {
    fn next_run(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

impl Matcher {
    pub fn new(ir: Pattern, events: usize, max_runs: usize) -> Matcher {
        let mut key_slots = vec![None; events];
        for k in &ir.partition {
            if let Some(s) = key_slots.get_mut(k.event as usize) {
                *s = Some(k.slots.clone());
            }
        }
        let has_timeouts = ir.states.iter().any(|s| s.timeout.is_some());
        let mut subs: Vec<(u16, BindingId)> = ir
            .bindings
            .iter()
            .enumerate()
            .filter_map(|(i, b)| Some((b.sub?, BindingId::try_from(i).ok()?)))
            .collect();
        subs.sort_unstable();
        let subs: Vec<BindingId> = subs.into_iter().map(|(_, b)| b).collect();
        let mut loops = (!subs.is_empty()).then(|| {
            Box::new(Loops {
                iters: vec![0; subs.len()],
                ..Loops::default()
            })
        });
        let mut entry = ir.start;
        for _ in 0..ir.states.len() {
            let open = ir.states.get(usize::from(entry)).and_then(|st| {
                st.edges.iter().find_map(|e| match e {
                    Edge::Open { index, target, .. } => Some((*index, *target)),
                    _ => None,
                })
            });
            let Some((index, target)) = open else { break };
            if let Some(l) = loops.as_mut() {
                l.open |= 1u64 << (index % 64);
            }
            entry = target;
        }
        let preds = ir
            .states
            .iter()
            .map(|st| {
                st.edges
                    .iter()
                    .map(|e| match e {
                        Edge::Take { predicate, .. } | Edge::Kill { predicate, .. } => {
                            predicate.as_ref().map(Pred::compile)
                        }
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        let halt_preds = ir
            .halts
            .iter()
            .map(|g| g.predicate.as_ref().map(Pred::compile))
            .collect();
        let lookback_pred = ir
            .lookback
            .as_ref()
            .and_then(|lb| lb.guard.predicate.as_ref().map(Pred::compile));
        let plain = ir
            .states
            .iter()
            .map(|st| {
                st.timeout.is_none()
                    && st
                        .edges
                        .iter()
                        .all(|e| matches!(e, Edge::Take { .. } | Edge::Ignore { .. }))
            })
            .collect();
        let kills = ir
            .states
            .iter()
            .map(|st| st.edges.iter().any(|e| matches!(e, Edge::Kill { .. })))
            .collect();
        let keeps_taker = ir
            .states
            .iter()
            .map(|st| {
                let first_ignore = st
                    .edges
                    .iter()
                    .position(|e| matches!(e, Edge::Ignore { .. }))
                    .unwrap_or(st.edges.len());
                let last_take = st
                    .edges
                    .iter()
                    .rposition(|e| matches!(e, Edge::Take { .. }))
                    .map_or(0, |i| i + 1);
                (last_take <= first_ignore).then(|| {
                    st.edges.iter().any(|e| {
                        matches!(
                            e,
                            Edge::Ignore {
                                unmatched_only: false
                            }
                        )
                    })
                })
            })
            .collect();
        let simple = ir
            .states
            .iter()
            .map(|st| {
                if st.timeout.is_some() || st.inner.is_some() {
                    return None;
                }
                match st.edges.as_slice() {
                    [Edge::Take {
                        event, below: None, ..
                    }] => Some(Simple {
                        edge: 0,
                        event: *event,
                        skips: false,
                    }),
                    [Edge::Take {
                        event, below: None, ..
                    }, Edge::Ignore { .. }] => Some(Simple {
                        edge: 0,
                        event: *event,
                        skips: true,
                    }),
                    _ => None,
                }
            })
            .collect();
        Matcher {
            plain,
            kills,
            keeps_taker,
            simple,
            preds,
            halt_preds,
            lookback_pred,
            ir,
            key_slots,
            partitions: Partitions::default(),
            scratch: Vec::new(),
            done: Vec::new(),
            spare_runs: Vec::new(),
            live: 0,
            shed: 0,
            runs: 0,
            max_runs: max_runs.max(1),
            has_timeouts,
            learned: false,
            last_x: HashMap::default(),
            last_x_kept: 0,
            subs,
            entry: (entry, loops),
        }
    }

    /// The bindings of the pattern's group sub-patterns, by index.
    pub fn subs(&self) -> &[BindingId] {
        &self.subs
    }

    pub fn sees(&self, ty: u32) -> bool {
        self.ir.inputs.binary_search(&ty).is_ok()
    }

    /// The partition key of an event (empty when unpartitioned).
    pub fn key_of(&self, ev: &Event, buf: &mut Vec<Value>) {
        buf.clear();
        if let Some(Some(slots)) = self.key_slots.get(ev.ty as usize) {
            buf.extend(slots.iter().map(|s| ev.field(*s).clone()));
        }
    }

    /// The partition key of `ev`: borrowed from the event when it is one
    /// field (no reference count is touched, so a string shared with the
    /// decoding thread stays in its cache), else built in `buf`.
    fn key_ref<'a>(&self, ev: &'a Event, buf: &'a mut Vec<Value>) -> &'a [Value] {
        match self.key_slots.get(ev.ty as usize) {
            Some(Some(slots)) if slots.len() == 1 => match slots.first() {
                Some(s) => std::slice::from_ref(ev.field(*s)),
                None => &[],
            },
            _ => {
                self.key_of(ev, buf);
                buf
            }
        }
    }

    /// The vector the survivors of an event go into: the one kept from
    /// the last event, or a spare one if that has no room.
    fn take_scratch(&mut self) -> Vec<Run> {
        let mut v = std::mem::take(&mut self.scratch);
        if v.capacity() == 0 {
            if let Some(spare) = self.spare_runs.pop() {
                v = spare;
            }
        }
        v.clear();
        v
    }

    /// An empty run vector with room for `n` runs and at most `2n`: the
    /// last spare one if it fits, else a new one of room `n` (and the last
    /// spare, if too large, is freed, so that the spares come to fit the
    /// partitions that are made). One look, not a search.
    fn fitting(&mut self, n: usize) -> Vec<Run> {
        match self.spare_runs.last().map(Vec::capacity) {
            Some(c) if (n..=2 * n).contains(&c) => {
                if let Some(v) = self.spare_runs.pop() {
                    return v;
                }
            }
            Some(c) if c > 2 * n => {
                self.spare_runs.pop();
            }
            _ => {}
        }
        Vec::with_capacity(n)
    }

    /// The run vector of a partition that ended empty, for reuse.
    fn give_back(&mut self, mut runs: Vec<Run>) {
        // A large one (a partition that had many runs) is freed.
        if (1..=16).contains(&runs.capacity()) && self.spare_runs.len() < SPARE_RUNS {
            runs.clear();
            self.spare_runs.push(runs);
        }
    }

    /// The compiled condition of edge `edge` of state `state`, if any.
    fn pred(&self, state: StateId, edge: usize) -> Option<&Pred> {
        self.preds.get(usize::from(state))?.get(edge)?.as_ref()
    }

    /// Whether `ev` alone satisfies the condition `p` (none: it does).
    fn alone(p: Option<&Pred>, ev: &Event) -> bool {
        p.is_none_or(|p| {
            p.holds(&Scope {
                current: Some(ev),
                chain: &Chain::default(),
                triggers: &[],
            })
        })
    }

    fn starts(&self, ev: &Event) -> bool {
        let Some(state) = self.ir.states.get(usize::from(self.entry.0)) else {
            return false;
        };
        state.edges.iter().enumerate().any(|(i, e)| match e {
            Edge::Take { event, .. } => {
                *event == ev.ty && Self::alone(self.pred(self.entry.0, i), ev)
            }
            _ => false,
        })
    }

    fn halts(&self, ev: &Event) -> bool {
        self.ir.halts.iter().enumerate().any(|(i, g)| {
            g.event == ev.ty && Self::alone(self.halt_preds.get(i).and_then(Option::as_ref), ev)
        })
    }

    /// Handles one event of a type this pattern sees. Returns the deadline
    /// the key's partition must be woken at, if it changed.
    pub fn on_event(
        &mut self,
        ev: &Arc<Event>,
        keybuf: &mut Vec<Value>,
        fx: &mut Effects,
    ) -> Option<(PartId, i64)> {
        let mut counter = Counter(self.runs);
        let wake = self.event_in_partition(ev, keybuf, &mut counter, fx);
        self.runs = counter.0;
        wake
    }

    fn event_in_partition(
        &mut self,
        ev: &Arc<Event>,
        keybuf: &mut Vec<Value>,
        ids: &mut dyn Ids,
        fx: &mut Effects,
    ) -> Option<(PartId, i64)> {
        let key = self.key_ref(ev, keybuf);
        let mut starts = self.starts(ev);
        if self.ir.lookback.is_some() {
            // Read before this event counts: the first event is never
            // its own X.
            starts &= !self.blocked(ev, key);
            self.note_x(ev, key);
        }
        // The map is moved out while the partition is worked on, so that
        // one lookup serves and `self` stays readable.
        let mut parts = std::mem::take(&mut self.partitions);
        let mut fresh = None;
        let found = parts.id(key);
        let part = match found.and_then(|id| parts.get_mut(id)) {
            Some(p) => p,
            None if starts => {
                let key: Key = Arc::from(key);
                fresh.insert(Partition {
                    key,
                    ..Partition::default()
                })
            }
            None => {
                self.partitions = parts;
                return None;
            }
        };
        if fx.track {
            fx.key = part.key.clone();
        }
        let before = part.runs.len();
        let mut next = self.take_scratch();
        let mut completed: Vec<Match> = std::mem::take(&mut self.done);
        if !self.ir.halts.is_empty() && self.halts(ev) {
            for r in part.runs.drain(..) {
                fx.note_ended(r.id, End::Halted);
            }
        }
        let window = self
            .ir
            .window_ms
            .map(|w| i64::try_from(w).unwrap_or(i64::MAX));
        for run in part.runs.drain(..) {
            if let Some(w) = window {
                let end = run.first_time.saturating_add(w);
                if end <= ev.time && !self.in_absence(&run) {
                    self.expire(&mut { run }, end, fx);
                    continue;
                }
            }
            self.step(run, ev, ids, fx, &mut next, &mut completed);
        }
        if starts {
            let id = ids.next_run();
            fx.note_created(id, None);
            let run = Run {
                id,
                state: self.entry.0,
                count: 0,
                start: ev.seq,
                first_time: ev.time,
                last_time: ev.time,
                chain: Chain::default(),
                loops: self.entry.1.clone(),
                foreign: false,
            };
            self.step(run, ev, ids, fx, &mut next, &mut completed);
        }
        if self.ir.select.is_some() {
            let held = part.held.get_or_insert_with(Box::default);
            completed = self.select(held, &next, completed, ev.time);
        }
        self.done = if completed.is_empty() {
            completed
        } else {
            self.finish(&mut next, completed, fx)
        };
        if found.is_none() && !next.is_empty() {
            // A new partition's runs go into a vector of their size (a
            // spare one if one fits): a key with one run does not hold the
            // room the scratch vector grew to. The scratch vector stays.
            let mut runs = self.fitting(next.len());
            runs.append(&mut next);
            part.runs = runs;
            self.scratch = next;
        } else {
            // The survivors become the partition's runs; its old (now
            // empty) vector is kept for the next event.
            self.scratch = std::mem::replace(&mut part.runs, next);
        }
        self.live = self.live.saturating_sub(before) + part.runs.len();
        let deadline = self.schedule(part);
        let empty = part.runs.is_empty();
        let mut wake = None;
        match (fresh, found, empty) {
            (Some(p), _, false) => {
                let id = parts.insert(p);
                wake = deadline.map(|d| (id, d));
            }
            (Some(p), _, true) => self.give_back(p.runs),
            (None, Some(id), true) => {
                if let Some(p) = parts.remove(id) {
                    self.give_back(p.runs);
                }
            }
            (None, Some(id), false) => wake = deadline.map(|d| (id, d)),
            (None, None, _) => {}
        }
        self.partitions = parts;
        if self.live > self.max_runs {
            self.shed_oldest(fx, ev.time);
        }
        wake
    }

    /// An X of this key came less than D before `ev` (look-back absence).
    fn blocked(&self, ev: &Event, key: &[Value]) -> bool {
        let Some(lb) = &self.ir.lookback else {
            return false;
        };
        let d = i64::try_from(lb.within_ms).unwrap_or(i64::MAX);
        self.last_x
            .get(key)
            .is_some_and(|&t| ev.time.saturating_sub(t) < d)
    }

    /// Records `ev` as the latest X of its key if it is one; now and then
    /// forgets the keys whose latest X is D or more before `ev` (they can
    /// block nothing any more), so memory stays with the keys that had
    /// an X in the last D.
    fn note_x(&mut self, ev: &Event, key: &[Value]) {
        let Some(lb) = &self.ir.lookback else {
            return;
        };
        let is_x = lb.guard.event == ev.ty && Self::alone(self.lookback_pred.as_ref(), ev);
        if !is_x {
            return;
        }
        let d = i64::try_from(lb.within_ms).unwrap_or(i64::MAX);
        match self.last_x.get_mut(key) {
            Some(t) => *t = (*t).max(ev.time),
            None => {
                self.last_x.insert(Arc::from(key), ev.time);
            }
        }
        if self.last_x.len() > 2 * self.last_x_kept.max(512) {
            let now = ev.time;
            self.last_x.retain(|_, t| now.saturating_sub(*t) < d);
            self.last_x_kept = self.last_x.len();
        }
    }

    /// Keys whose latest X the look-back still holds (for memory
    /// reports and tests).
    pub fn lookback_keys(&self) -> usize {
        self.last_x.len()
    }

    /// A run's window closed at `end`: it ends, and with `on timeout
    /// emit` it is a timed-out partial match unless it is complete.
    fn expire(&self, run: &mut Run, end: i64, fx: &mut Effects) {
        fx.note_ended(run.id, End::Expired);
        if self.ir.on_timeout.is_some() && !self.complete(run) {
            fx.timed_out.push(Match {
                run: run.id,
                start: run.start,
                time: end,
                chain: std::mem::take(&mut run.chain),
            });
        }
    }

    /// Whether a run's bindings are a match already: from its state,
    /// moving on without an event (`Proceed`) reaches the accepting state
    /// or a trailing absence (which decides the run by itself). Such a
    /// run stays only to grow a group; its bindings were reported (or
    /// are with the absence), so it does not time out.
    fn complete(&self, run: &Run) -> bool {
        let mut state = run.state;
        let mut count = run.count;
        let mut iters: Vec<u32> = run
            .loops
            .as_ref()
            .map(|l| l.iters.clone())
            .unwrap_or_default();
        for _ in 0..=self.ir.states.len() {
            let Some(st) = self.ir.states.get(usize::from(state)) else {
                return false;
            };
            if st.accept || st.timeout.is_some() {
                return true;
            }
            // (Entering or repeating a group needs an event: a body
            // always binds one, docs/language.md 6.4b.)
            let next = st.edges.iter().find_map(|e| match e {
                Edge::Proceed { at_least, target } if count >= *at_least => Some((*target, None)),
                Edge::Leave {
                    index,
                    at_least,
                    target,
                    ..
                } if done_iterations(&iters, *index) >= *at_least => {
                    Some((*target, Some(usize::from(*index))))
                }
                _ => None,
            });
            match next {
                Some((t, left)) => {
                    state = t;
                    count = 0;
                    if let Some(n) = left.and_then(|i| iters.get_mut(i)) {
                        *n = 0;
                    }
                }
                None => return false,
            }
        }
        false
    }

    fn in_absence(&self, run: &Run) -> bool {
        self.ir
            .states
            .get(usize::from(run.state))
            .is_some_and(|s| s.timeout.is_some())
    }

    /// The run's successors for one event.
    fn step(
        &self,
        mut run: Run,
        ev: &Arc<Event>,
        ids: &mut dyn Ids,
        fx: &mut Effects,
        out: &mut Vec<Run>,
        done: &mut Vec<Match>,
    ) {
        let Some(state) = self.ir.states.get(usize::from(run.state)) else {
            return;
        };
        // A plain block: a run that does not take the event stays (with an
        // `Ignore` edge) or ends, as the general path below decides it;
        // one that takes goes on there with its condition known to hold.
        let mut known = None;
        if let (None, Some(Some(sp))) = (&run.loops, self.simple.get(usize::from(run.state))) {
            let takes = sp.event == ev.ty
                && self.pred(run.state, sp.edge).is_none_or(|p| {
                    p.holds(&Scope {
                        current: Some(ev),
                        chain: &run.chain,
                        triggers: &[],
                    })
                });
            if !takes {
                if sp.skips {
                    out.push(run);
                } else {
                    fx.note_ended(run.id, End::Killed);
                }
                return;
            }
            known = Some(sp.edge);
        }
        // Negations before the state's first event, and those of group
        // sub-patterns still holding until the run's next event.
        let guards = run.loops.as_ref().map_or(&[][..], |l| &l.guards[..]);
        let own = (run.count == 0 && self.kills.get(usize::from(run.state)) == Some(&true))
            .then_some(run.state);
        for g in own.into_iter().chain(guards.iter().copied()) {
            let Some(gs) = self.ir.states.get(usize::from(g)) else {
                continue;
            };
            for (i, e) in gs.edges.iter().enumerate() {
                if let Edge::Kill { event, .. } = e {
                    let scope = Scope {
                        current: Some(ev),
                        chain: &run.chain,
                        triggers: &[],
                    };
                    if *event == ev.ty && self.pred(g, i).is_none_or(|p| p.holds(&scope)) {
                        fx.note_ended(run.id, End::Killed);
                        return;
                    }
                }
            }
        }
        let mut took = false;
        let mut keep_original = false;
        let inner = state.inner.filter(|_| run.count > 0);
        // A run that takes the event and does not also live on as the one
        // that skipped it gives its chain to the run it becomes (no
        // reference count is taken and dropped).
        let gives_chain = run.loops.is_none()
            && match inner {
                Some(cep_ir::Contiguity::Any) => false,
                Some(_) => true,
                None => self.keeps_taker.get(usize::from(run.state)) == Some(&Some(false)),
            };
        for (i, e) in state.edges.iter().enumerate() {
            match e {
                Edge::Take {
                    event,
                    binding,
                    below,
                    target,
                    ..
                } => {
                    // One take per event and run: the first edge that takes.
                    if took || *event != ev.ty || below.is_some_and(|b| run.count >= b) {
                        continue;
                    }
                    let scope = Scope {
                        current: Some(ev),
                        chain: &run.chain,
                        triggers: &[],
                    };
                    if known != Some(i) && !self.pred(run.state, i).is_none_or(|p| p.holds(&scope))
                    {
                        continue;
                    }
                    took = true;
                    let looping = *target == run.state;
                    let (chain, loops) = if gives_chain {
                        (
                            std::mem::take(&mut run.chain).push_owned(*binding, ev.clone()),
                            None,
                        )
                    } else {
                        self.bind(&run, *binding, ev)
                    };
                    let mut nr = Run {
                        id: run.id,
                        state: run.state,
                        count: run.count,
                        start: run.start,
                        first_time: run.first_time,
                        last_time: ev.time,
                        chain,
                        loops,
                        // This engine bound its event: its deadlines are
                        // this engine's now (`Run::foreign`).
                        foreign: false,
                    };
                    if looping {
                        nr.count += 1;
                    } else {
                        nr.state = *target;
                        nr.count = 0;
                    }
                    fx.note_took(nr.id, *binding, ev.seq);
                    self.enter(nr, ids, fx, out, done, 0);
                }
                Edge::Ignore { unmatched_only } if inner.is_none() => {
                    keep_original |= !*unmatched_only || !took;
                }
                _ => {}
            }
        }
        // A group's later events follow its own contiguity (`inner`).
        match inner {
            Some(cep_ir::Contiguity::Relaxed) => keep_original = !took,
            Some(cep_ir::Contiguity::Any) => keep_original = true,
            Some(cep_ir::Contiguity::Strict) | None => {}
        }
        if keep_original {
            if took {
                // `then any`: the run that skipped the event lives on as a fork.
                let id = ids.next_run();
                fx.note_created(id, Some(run.id));
                // A new run of this engine, whatever its parent.
                out.push(Run {
                    id,
                    foreign: false,
                    ..run
                });
            } else {
                out.push(run);
            }
        } else if !took {
            // A strict state: the event it needed did not come.
            fx.note_ended(run.id, End::Killed);
        }
    }

    /// The run's chain and loops once it binds `ev` to `binding`: first
    /// a mark for each group sub-pattern whose iteration starts with it
    /// (outer groups first), then the event; the negations that held
    /// until this event are done.
    fn bind(&self, run: &Run, binding: BindingId, ev: &Arc<Event>) -> (Chain, Option<Box<Loops>>) {
        let Some(l) = run.loops.as_ref() else {
            return (run.chain.push(binding, ev.clone()), None);
        };
        let mut chain = run.chain.clone();
        for (i, g) in self.subs.iter().enumerate() {
            if l.open & (1u64 << (i % 64)) != 0 {
                chain = chain.push_mark(*g, ev.clone());
            }
        }
        let loops = Loops {
            iters: l.iters.clone(),
            open: 0,
            guards: Vec::new(),
        };
        (chain.push(binding, ev.clone()), Some(Box::new(loops)))
    }

    /// A run has just entered its state or taken an event: follow
    /// `Proceed` edges and the edges of group sub-patterns (`Open`,
    /// `Repeat`, `Leave`) as forks, and report a match at the accepting
    /// state.
    ///
    /// `depth`: moves made without an event so far. A compiled pattern
    /// has no cycle of such moves (every group body binds an event), so
    /// more than one per state means a malformed IR: the run ends rather
    /// than loop.
    fn enter(
        &self,
        run: Run,
        ids: &mut dyn Ids,
        fx: &mut Effects,
        out: &mut Vec<Run>,
        done: &mut Vec<Match>,
        depth: usize,
    ) {
        if depth > self.ir.states.len() {
            fx.note_ended(run.id, End::Killed);
            return;
        }
        let Some(state) = self.ir.states.get(usize::from(run.state)) else {
            return;
        };
        if state.accept {
            done.push(Match {
                run: run.id,
                start: run.start,
                time: run.last_time,
                chain: run.chain,
            });
            return;
        }
        if self.plain.get(usize::from(run.state)) == Some(&true) {
            // No move without an event: the run waits here if it can
            // take one (as below, with no moves).
            let can_take = state.edges.iter().any(|e| match e {
                Edge::Take { below, .. } => below.is_none_or(|b| run.count < b),
                _ => false,
            });
            if can_take {
                out.push(run);
            } else {
                fx.note_ended(run.id, End::Killed);
            }
            return;
        }
        let mut can_take = false;
        // Where the run moves on without an event, and how its loops change.
        let mut moves: Vec<(StateId, Option<Box<Loops>>)> = Vec::new();
        // Negations of a state the run passes without an event (the entry
        // or end of a group sub-pattern, which takes none) hold until its
        // next event.
        let kills = state.edges.iter().any(|e| matches!(e, Edge::Kill { .. }))
            && !state.edges.iter().any(|e| matches!(e, Edge::Take { .. }));
        let guarded = |l: &Option<Box<Loops>>| -> Option<Box<Loops>> {
            let mut l = l.clone();
            if let (Some(l), true) = (l.as_mut(), kills) {
                l.guards.push(run.state);
            }
            l
        };
        for e in &state.edges {
            match e {
                Edge::Take { below, .. } => can_take |= below.is_none_or(|b| run.count < b),
                Edge::Proceed { at_least, target } if run.count >= *at_least => {
                    moves.push((*target, guarded(&run.loops)));
                }
                Edge::Open { index, target, .. } => {
                    let mut l = guarded(&run.loops);
                    if let Some(l) = l.as_mut() {
                        set_iterations(l, *index, 0);
                        l.open |= 1u64 << (index % 64);
                    }
                    moves.push((*target, l));
                }
                Edge::Repeat {
                    index,
                    below,
                    target,
                    ..
                } => {
                    let n = run
                        .loops
                        .as_ref()
                        .map_or(1, |l| done_iterations(&l.iters, *index));
                    if below.is_none_or(|b| n < b) {
                        let mut l = guarded(&run.loops);
                        if let Some(l) = l.as_mut() {
                            set_iterations(l, *index, n);
                            l.open |= 1u64 << (index % 64);
                        }
                        moves.push((*target, l));
                    }
                }
                Edge::Leave {
                    index,
                    at_least,
                    target,
                    ..
                } => {
                    let n = run
                        .loops
                        .as_ref()
                        .map_or(1, |l| done_iterations(&l.iters, *index));
                    if n >= *at_least {
                        let mut l = guarded(&run.loops);
                        if let Some(l) = l.as_mut() {
                            set_iterations(l, *index, 0);
                        }
                        moves.push((*target, l));
                    }
                }
                _ => {}
            }
        }
        let stays = can_take || state.timeout.is_some();
        if moves.is_empty() {
            if stays {
                out.push(run);
            } else {
                // A state that can neither take nor move on: nothing can come.
                fx.note_ended(run.id, End::Killed);
            }
            return;
        }
        if stays {
            out.push(run.clone());
        }
        for (k, (target, loops)) in moves.into_iter().enumerate() {
            // The run that stays keeps its id; else the first move does.
            let fresh = stays || k > 0;
            let moved = Run {
                id: if fresh { ids.next_run() } else { run.id },
                state: target,
                count: 0,
                foreign: run.foreign && !fresh,
                loops,
                ..run.clone()
            };
            if fresh {
                fx.note_created(moved.id, Some(run.id));
            }
            self.enter(moved, ids, fx, out, done, depth + 1);
        }
    }

    /// A run's or match's family and group length (`cep_ir::Select`):
    /// its start and the events bound before the group.
    fn family(&self, start: u64, chain: &Chain) -> ((u64, Vec<u64>), u32) {
        let Some(sel) = self.ir.select else {
            return ((start, Vec::new()), 0);
        };
        let mut before = Vec::new();
        let mut len = 0u32;
        for (b, e) in chain.iter() {
            if b < sel.binding {
                before.push(e.seq);
            } else if b == sel.binding {
                len += 1;
            }
        }
        before.reverse();
        ((start, before), len)
    }

    /// Greedy and reluctant groups: takes the matches completed on one
    /// input into their families' held matches (a longer one, for greedy,
    /// replaces the held; an equal one joins them; a shorter one is
    /// dropped; the reverse for reluctant), then returns the held matches
    /// of every family that no live run in `runs` could still better or
    /// equal: the run is past the group with a group as long (greedy: at
    /// least as long; reluctant: at most as long), or in the group and
    /// able to reach such a length. A match is reported at `now`, the
    /// time of the input that decided it (docs/language.md 6.4a): its
    /// time is the later of its last event's and `now`, so that the
    /// patterns it feeds see it in time order.
    fn select(
        &self,
        held: &mut Vec<Held>,
        runs: &[Run],
        completed: Vec<Match>,
        now: i64,
    ) -> Vec<Match> {
        let Some(sel) = self.ir.select else {
            return completed;
        };
        for m in completed {
            let (family, len) = self.family(m.start, &m.chain);
            match held.iter_mut().find(|h| h.family == family) {
                None => held.push(Held {
                    family,
                    len,
                    matches: vec![m],
                    done: false,
                }),
                Some(h) if h.done => {}
                Some(h) if h.len == len => h.matches.push(m),
                Some(h) if (len > h.len) == sel.longest => {
                    h.len = len;
                    h.matches = vec![m];
                }
                Some(_) => {}
            }
        }
        let max = self
            .ir
            .bindings
            .get(usize::from(sel.binding))
            .and_then(|b| b.max);
        let mut out = Vec::new();
        held.retain_mut(|h| {
            let mut alive = false;
            let waits = runs.iter().any(|r| {
                let (family, len) = self.family(r.start, &r.chain);
                if family != h.family {
                    return false;
                }
                alive = true;
                if r.state == sel.state {
                    // In the group: its matches will be longer than now.
                    if sel.longest {
                        max.is_none_or(|m| r.count < m)
                    } else {
                        r.count < h.len
                    }
                } else if sel.longest {
                    len >= h.len
                } else {
                    len <= h.len
                }
            });
            if !waits && !h.done {
                for mut m in h.matches.drain(..) {
                    m.time = m.time.max(now);
                    out.push(m);
                }
                h.done = true;
            }
            // A reported family is remembered while a run of it lives.
            !h.done || alive || waits
        });
        out
    }

    /// The end of the input: every held match is reported (no later
    /// event can give a better one), at `now` (the time reached).
    pub fn flush(&mut self, fx: &mut Effects, now: i64) {
        if self.ir.select.is_none() {
            return;
        }
        let mut parts = std::mem::take(&mut self.partitions);
        let before = fx.matches.len();
        for part in parts.values_mut() {
            let Some(held) = part.held.as_mut().filter(|h| !h.is_empty()) else {
                continue;
            };
            let mats: Vec<Match> = held
                .drain(..)
                .flat_map(|h| h.matches)
                .map(|mut m| {
                    m.time = m.time.max(now);
                    m
                })
                .collect();
            if mats.is_empty() {
                continue;
            }
            if fx.track {
                fx.key = part.key.clone();
            }
            self.finish(&mut part.runs, mats, fx);
        }
        // Across keys, in match order (not the map's).
        fx.matches[before..].sort_by(Match::order_cmp);
        parts.retain(|p| !p.runs.is_empty() || p.holds());
        self.partitions = parts;
        self.recount();
    }

    /// Applies the skip policy to the matches of one input and records them.
    /// Gives back `completed`'s vector, emptied, when it can (for reuse).
    fn finish(
        &self,
        runs: &mut Vec<Run>,
        mut completed: Vec<Match>,
        fx: &mut Effects,
    ) -> Vec<Match> {
        if !self.subs.is_empty() && completed.len() > 1 {
            completed = self.one_per_event_set(completed, fx);
        }
        // Matches completing on one input are reported in the order of
        // their first event, then of their later events.
        if completed.len() > 1 {
            completed.sort_by(Match::order_cmp);
        }
        match self.ir.skip {
            SkipPolicy::NoSkip => {
                fx.matches.append(&mut completed);
                // A burst's room is not kept.
                if completed.capacity() > 256 {
                    return Vec::new();
                }
                return completed;
            }
            SkipPolicy::PastLast => {
                let mut completed = completed.into_iter();
                if let Some(m) = completed.next() {
                    let last = m.chain.head().map(|e| e.seq).unwrap_or(m.start);
                    for other in completed {
                        fx.note_ended(other.run, End::Skipped);
                    }
                    runs.retain(|r| {
                        let keep = r.start > last;
                        if !keep {
                            fx.note_ended(r.id, End::Skipped);
                        }
                        keep
                    });
                    fx.matches.push(m);
                }
            }
            SkipPolicy::ToNext => {
                let mut starts: Vec<u64> = Vec::new();
                for m in completed {
                    if starts.contains(&m.start) {
                        fx.note_ended(m.run, End::Skipped);
                        continue;
                    }
                    starts.push(m.start);
                    fx.matches.push(m);
                }
                if !starts.is_empty() {
                    runs.retain(|r| {
                        let keep = !starts.contains(&r.start);
                        if !keep {
                            fx.note_ended(r.id, End::Skipped);
                        }
                        keep
                    });
                }
            }
        }
        Vec::new()
    }

    /// Group sub-patterns: a match is the set of events it binds
    /// (docs/language.md 6.4b), so of the derivations that bind the same
    /// events to the same bindings (they complete on the same input),
    /// one is kept: the one with the fewest iterations, outer groups
    /// first (then the first made). The others end as skipped.
    fn one_per_event_set(&self, completed: Vec<Match>, fx: &mut Effects) -> Vec<Match> {
        type Bound = (u64, Vec<(BindingId, u64)>);
        let mut kept: Vec<(Bound, Vec<usize>, Match)> = Vec::with_capacity(completed.len());
        for m in completed {
            let mut bound: Vec<(BindingId, u64)> =
                m.chain.iter().map(|(b, e)| (b, e.seq)).collect();
            bound.reverse();
            let key = (m.start, bound);
            let iters = m.chain.iterations(&self.subs);
            match kept.iter_mut().find(|k| k.0 == key) {
                Some(k) if iters < k.1 => {
                    fx.note_ended(k.2.run, End::Skipped);
                    k.1 = iters;
                    k.2 = m;
                }
                Some(_) => fx.note_ended(m.run, End::Skipped),
                None => kept.push((key, iters, m)),
            }
        }
        kept.into_iter().map(|k| k.2).collect()
    }

    /// The earliest deadline among a partition's runs, if it must be
    /// (re)scheduled.
    fn schedule(&self, part: &mut Partition) -> Option<i64> {
        let d = self.next_deadline(part)?;
        match part.scheduled {
            Some(s) if s <= d => None,
            _ => {
                part.scheduled = Some(d);
                Some(d)
            }
        }
    }

    fn next_deadline(&self, part: &Partition) -> Option<i64> {
        let window = self
            .ir
            .window_ms
            .map(|w| i64::try_from(w).unwrap_or(i64::MAX));
        if let (Some(w), false, false) = (window, self.has_timeouts, self.learned) {
            // Only windows, and only this engine's runs: a partition's
            // runs are in the order they were made, so by their first
            // event's time (a pattern sees its events in time order), and
            // the first closes first.
            return part.runs.first().map(|r| r.first_time.saturating_add(w));
        }
        part.runs
            .iter()
            .filter(|r| !r.foreign)
            .filter_map(|r| {
                let st = self.ir.states.get(usize::from(r.state))?;
                match (&st.timeout, window) {
                    (Some(t), _) => Some(
                        r.last_time
                            .saturating_add(i64::try_from(t.after_ms).unwrap_or(i64::MAX)),
                    ),
                    (None, Some(w)) => Some(r.first_time.saturating_add(w)),
                    (None, None) => None,
                }
            })
            .min()
    }

    /// Time has reached `now` for one partition, whose deadline it is:
    /// absences complete, windows close. A partition that is gone, or
    /// whose deadline is no longer `now` (a stale timer), is left as it
    /// is. Returns the next deadline to schedule. The partition is found
    /// by its id (no hash of its key); the partitions are moved out while
    /// it is worked on, as in `event_in_partition`.
    pub fn on_time(&mut self, id: PartId, now: i64, fx: &mut Effects) -> Option<i64> {
        let mut parts = std::mem::take(&mut self.partitions);
        let mut next = None;
        if let Some(part) = parts.get_mut(id).filter(|p| p.scheduled == Some(now)) {
            next = self.partition_time(part, now, fx);
            if part.runs.is_empty() {
                if let Some(p) = parts.remove(id) {
                    self.give_back(p.runs);
                }
            }
        }
        self.partitions = parts;
        next
    }

    fn partition_time(&mut self, part: &mut Partition, now: i64, fx: &mut Effects) -> Option<i64> {
        let before = part.runs.len();
        part.scheduled = None;
        let window = self
            .ir
            .window_ms
            .map(|w| i64::try_from(w).unwrap_or(i64::MAX));
        let mut completed: Vec<Match> = std::mem::take(&mut self.done);
        // In place: the survivors stay in the partition's own vector, in
        // their order (no vector is made per deadline).
        part.runs.retain_mut(|r| {
            let Some(st) = self.ir.states.get(usize::from(r.state)) else {
                return false;
            };
            if r.foreign {
                // Its origin handles its deadlines.
                return true;
            }
            if let Some(t) = &st.timeout {
                let due = r
                    .last_time
                    .saturating_add(i64::try_from(t.after_ms).unwrap_or(i64::MAX));
                if due <= now {
                    let target = t.target;
                    let accept = self
                        .ir
                        .states
                        .get(usize::from(target))
                        .is_some_and(|s| s.accept);
                    if accept {
                        completed.push(Match {
                            run: r.id,
                            start: r.start,
                            time: due,
                            chain: std::mem::take(&mut r.chain),
                        });
                    } else {
                        fx.note_ended(r.id, End::Killed);
                    }
                    return false;
                }
            } else if let Some(w) = window {
                let end = r.first_time.saturating_add(w);
                if end <= now {
                    self.expire(r, end, fx);
                    return false;
                }
            }
            true
        });
        // A partition keeps no more room than the runs it had (its vector
        // grew by doubling): what one burst made is not held.
        if part.runs.capacity() > before + before / 8 + 4 {
            part.runs.shrink_to(before);
        }
        let mut keep = std::mem::take(&mut part.runs);
        if self.ir.select.is_some() {
            let held = part.held.get_or_insert_with(Box::default);
            completed = self.select(held, &keep, completed, now);
        }
        self.done = self.finish(&mut keep, completed, fx);
        part.runs = keep;
        self.live = self.live.saturating_sub(before) + part.runs.len();
        self.schedule(part)
    }

    fn recount(&mut self) {
        self.live = self.partitions.values().map(|p| p.runs.len()).sum();
    }

    /// Over the limit: shed the oldest runs of the whole pattern, down to
    /// nine tenths of the limit so that shedding is not paid per event.
    fn shed_oldest(&mut self, fx: &mut Effects, now: i64) {
        let target = self.max_runs - self.max_runs / 10;
        let excess = self.live.saturating_sub(target);
        if excess == 0 {
            return;
        }
        // Oldest: started first; among runs of one start, created first.
        let mut ages: Vec<(u64, u64)> = self
            .partitions
            .values()
            .flat_map(|p| p.runs.iter().map(|r| (r.start, r.id)))
            .collect();
        ages.sort_unstable();
        let cut = ages
            .get(excess - 1)
            .copied()
            .unwrap_or((u64::MAX, u64::MAX));
        for p in self.partitions.values_mut() {
            p.runs.retain(|r| {
                let keep = (r.start, r.id) > cut;
                if !keep {
                    fx.note_ended(r.id, End::Shed);
                }
                keep
            });
        }
        if self.ir.select.is_some() {
            // Held matches whose blocking runs were shed are reported.
            let mut parts = std::mem::take(&mut self.partitions);
            let before = fx.matches.len();
            for part in parts.values_mut().filter(|p| p.holds()) {
                let held = part.held.get_or_insert_with(Box::default);
                let mats = self.select(held, &part.runs, Vec::new(), now);
                if !mats.is_empty() {
                    if fx.track {
                        fx.key = part.key.clone();
                    }
                    self.finish(&mut part.runs, mats, fx);
                }
            }
            // Across keys, in match order (not the map's).
            fx.matches[before..].sort_by(Match::order_cmp);
            self.partitions = parts;
        }
        self.partitions.retain(|p| !p.runs.is_empty() || p.holds());
        self.shed += excess as u64;
        self.recount();
    }

    /// The live run `id` of partition `key`.
    pub fn get(&self, key: &[Value], id: u64) -> Option<&Run> {
        self.partitions
            .by_key(key)?
            .runs
            .iter()
            .find(|r| r.id == id)
    }

    /// A new run id of this pattern, for a run made elsewhere (a peer's):
    /// from the counter of the pattern's own runs, so ids never collide.
    pub fn next_id(&mut self) -> u64 {
        self.runs += 1;
        self.runs
    }

    /// Puts `run` in partition `key` (made if missing), in place of the
    /// run with its id, or after the partition's runs. The deadline the
    /// partition must be woken at, if it moved earlier.
    pub fn put(&mut self, key: &[Value], run: Run) -> Option<(PartId, i64)> {
        self.learned = true;
        let id = match self.partitions.id(key) {
            Some(id) => id,
            None => self.partitions.insert(Partition {
                key: Arc::from(key),
                ..Partition::default()
            }),
        };
        let mut parts = std::mem::take(&mut self.partitions);
        let mut wake = None;
        if let Some(part) = parts.get_mut(id) {
            match part.runs.iter_mut().find(|r| r.id == run.id) {
                Some(r) => *r = run,
                None => {
                    part.runs.push(run);
                    self.live += 1;
                }
            }
            wake = self.schedule(part).map(|d| (id, d));
        }
        self.partitions = parts;
        wake
    }

    /// Takes run `id` out of partition `key` (it ended elsewhere).
    pub fn take(&mut self, key: &[Value], id: u64) -> Option<Run> {
        let pid = self.partitions.id(key)?;
        let part = self.partitions.get_mut(pid)?;
        let i = part.runs.iter().position(|r| r.id == id)?;
        let run = part.runs.remove(i);
        self.live = self.live.saturating_sub(1);
        if part.runs.is_empty() {
            self.partitions.remove(pid);
        }
        Some(run)
    }

    pub fn has_timers(&self) -> bool {
        self.has_timeouts || self.ir.window_ms.is_some()
    }
}

/// Iterations of sub-pattern `index` done once the current one ends.
fn done_iterations(iters: &[u32], index: u16) -> u32 {
    iters
        .get(usize::from(index))
        .map_or(1, |n| n.saturating_add(1))
}

fn set_iterations(l: &mut Loops, index: u16, n: u32) {
    if let Some(x) = l.iters.get_mut(usize::from(index)) {
        *x = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    /// `order_cmp` orders matches as their `order_key`s do: random
    /// matches with many ties in start and events, chains of 0 to 40
    /// events (past the 32 kept in place), every pair compared.
    #[test]
    fn order_cmp_agrees_with_order_key() {
        let mut r = Rng(0x5eed_1234_abcd_0001);
        let mut mats = Vec::new();
        for run in 0..120u64 {
            let mut chain = Chain::default();
            let len = if r.below(6) == 0 {
                30 + r.below(11)
            } else {
                r.below(5)
            };
            let mut seq = r.below(3) as u64;
            for _ in 0..len {
                seq += r.below(2) as u64;
                let mut ev = Event::new(0, 0, 0, Vec::new());
                ev.seq = seq;
                chain = chain.push(0, Arc::new(ev));
            }
            mats.push(Match {
                run,
                start: r.below(3) as u64,
                time: 0,
                chain,
            });
        }
        for a in &mats {
            for b in &mats {
                assert_eq!(
                    a.order_cmp(b),
                    a.order_key().cmp(&b.order_key()),
                    "runs {} and {}",
                    a.run,
                    b.run
                );
            }
        }
    }
}
