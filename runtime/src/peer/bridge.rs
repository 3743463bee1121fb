//! The engine and the peer protocol joined: the engine's run changes go
//! to the [`Node`] as whole run states, and what the node learns goes
//! into the engine (a run a peer moved forward is put in, one that ended
//! elsewhere is taken out, one that completed elsewhere gives its complex
//! event). Pure: the edge feeds it the engine's outputs and the node's,
//! and does the I/O.
//!
//! Ids: the engine numbers runs per pattern; the cluster names a run by
//! its [`RunKey`] (origin, incarnation, counter). The bridge keeps both
//! ways for every run the engine holds: a run the engine creates gets a
//! new key of this node; a run learned from a peer gets a new engine
//! number.
//!
//! A learned run's events get new sequence numbers of this engine (they
//! order what its patterns see), in their order in the run.

use super::{Bound, Node, Out, Phase, RunKey, RunState};
use crate::engine::{Change, Complex, Engine, Output};
use crate::matcher::Key;
use crate::run::{Chain, Run};
use crate::value::Event;
use std::collections::HashMap;
use std::sync::Arc;

/// A run the engine holds, as the cluster knows it.
struct Tracked {
    run: RunKey,
    key: Key,
    /// The state last given to the node or taken from it.
    last: Option<RunState>,
}

/// What the edge does after the bridge: complex events learned from
/// peers to write (with the run's cluster id), frames to send.
#[derive(Default)]
pub struct Acts {
    /// With the run's cluster id and the completed state the node holds.
    pub complex: Vec<(RunKey, Complex, RunState)>,
    /// Frames to send: (member, bytes).
    pub send: Vec<(u16, Vec<u8>)>,
    /// Messages the node refused.
    pub refused: u64,
    /// Members whose messages were refused because they run other rules.
    pub other_program: Vec<u16>,
    /// Runs too large for any frame.
    pub oversized: u64,
}

/// The engine's runs and the cluster's ids for them.
pub struct Bridge {
    /// By (pattern, engine run id).
    runs: HashMap<(u32, u64), Tracked>,
    ids: HashMap<RunKey, u64>,
    /// Per pattern: its window in ms, if it has one.
    windows: Vec<Option<i64>>,
    /// This member's index.
    me: u16,
    /// Every run state this engine gave the node since the edge last
    /// took them: what a restart must find in the store before they are
    /// sent (write-ahead; `member::Step::changed`).
    pub changed: Vec<(RunKey, RunState)>,
}

impl Bridge {
    /// A bridge for `engine` on member `me` (its index among the peers).
    pub fn new(engine: &Engine, me: u16) -> Bridge {
        Bridge {
            me,
            changed: Vec::new(),
            runs: HashMap::new(),
            ids: HashMap::new(),
            windows: engine
                .program()
                .patterns
                .iter()
                .map(|p| p.window_ms.map(|w| i64::try_from(w).unwrap_or(i64::MAX)))
                .collect(),
        }
    }

    /// The cluster id of the engine's run `run` of `pattern`.
    pub fn key_of(&self, pattern: u32, run: u64) -> Option<RunKey> {
        self.runs.get(&(pattern, run)).map(|t| t.run)
    }

    /// Runs tracked (the engine's live runs known to the cluster).
    pub fn tracked(&self) -> usize {
        self.runs.len()
    }

    fn expires(&self, pattern: u32, first: i64) -> i64 {
        match self.windows.get(pattern as usize).copied().flatten() {
            Some(w) => first.saturating_add(w),
            None => i64::MAX,
        }
    }

    fn state_of(&self, pattern: u32, key: &Key, run: &Run, phase: Phase) -> RunState {
        RunState {
            phase,
            state: u32::from(run.state),
            count: run.count,
            key: key.to_vec(),
            expires: self.expires(pattern, run.first_time),
            bound: run
                .chain
                .to_vec()
                .iter()
                .map(|(b, e)| bound(*b, e))
                .collect(),
        }
    }

    /// The engine's outputs of one input, in order: every run change goes
    /// to `node` as the run's whole state, and every complex event moves
    /// from `outs` to `emits` with its run's cluster id, unless this node
    /// had written it already (in an earlier life, with a store): it is
    /// not written twice. The other outputs stay in `outs`.
    pub fn from_engine(
        &mut self,
        now: i64,
        engine: &Engine,
        outs: &mut Vec<Output>,
        node: &mut Node,
        node_out: &mut Vec<Out>,
        emits: &mut Vec<(RunKey, Complex, RunState)>,
    ) {
        for o in std::mem::take(outs) {
            match o {
                Output::Run(rc) => {
                    match &rc.change {
                        Change::Created { key, .. } => {
                            let run = node.next_key(rc.pattern);
                            self.ids.insert(run, rc.run);
                            self.runs.insert(
                                (rc.pattern, rc.run),
                                Tracked {
                                    run,
                                    key: key.clone(),
                                    last: None,
                                },
                            );
                            self.share_live(now, engine, rc.pattern, rc.run, node, node_out);
                        }
                        Change::Took { .. } => {
                            self.share_live(now, engine, rc.pattern, rc.run, node, node_out)
                        }
                        Change::Completed => {}
                        Change::Ended(_) => {
                            if let Some(t) = self.runs.remove(&(rc.pattern, rc.run)) {
                                self.ids.remove(&t.run);
                                if let Some(mut st) = t.last {
                                    st.phase = Phase::Halted;
                                    self.changed.push((t.run, st.clone()));
                                    node.local(now, t.run, st, node_out);
                                }
                            }
                        }
                    }
                    outs.push(Output::Run(rc));
                }
                Output::Complex(c) => {
                    // A run the engine made without telling (not tracking
                    // runs) gets its id now, and no partition key.
                    let t = match self.runs.remove(&(c.pattern, c.run)) {
                        Some(t) => t,
                        None => Tracked {
                            run: node.next_key(c.pattern),
                            key: Arc::from(Vec::new()),
                            last: None,
                        },
                    };
                    self.ids.remove(&t.run);
                    let (state, count) = t.last.as_ref().map_or((0, 0), |s| (s.state, s.count));
                    let first = c.matched.first().map_or(c.event.time, |e| e.time);
                    let st = RunState {
                        phase: Phase::Completed,
                        state,
                        count,
                        key: t.key.to_vec(),
                        expires: self.expires(c.pattern, first),
                        bound: c
                            .matched
                            .to_vec()
                            .iter()
                            .map(|(b, e)| bound(*b, e))
                            .collect(),
                    };
                    self.changed.push((t.run, st.clone()));
                    let given = st.clone();
                    if node.local(now, t.run, st, node_out) {
                        // The state the node holds (merged), or, if it
                        // forgot the run at once, the one given.
                        let held = node.state(&t.run).cloned().unwrap_or(given);
                        emits.push((t.run, c, held));
                    }
                }
                other => outs.push(other),
            }
        }
    }

    fn share_live(
        &mut self,
        now: i64,
        engine: &Engine,
        pattern: u32,
        id: u64,
        node: &mut Node,
        node_out: &mut Vec<Out>,
    ) {
        let Some(t) = self.runs.get(&(pattern, id)) else {
            return;
        };
        // Gone already when it completed or ended in the same input.
        let Some(run) = engine.run(pattern, &t.key, id) else {
            return;
        };
        let st = self.state_of(pattern, &t.key, run, Phase::Active);
        if t.last.as_ref() == Some(&st) {
            return;
        }
        let cluster = t.run;
        if let Some(t) = self.runs.get_mut(&(pattern, id)) {
            t.last = Some(st.clone());
        }
        self.changed.push((cluster, st.clone()));
        node.local(now, cluster, st, node_out);
    }

    /// What the node asked for: learned states go into the engine,
    /// learned completions become complex events to write, frames to
    /// send.
    pub fn from_node(&mut self, engine: &mut Engine, node_out: Vec<Out>, acts: &mut Acts) {
        for o in node_out {
            match o {
                Out::Send { to, bytes, .. } => acts.send.push((to, bytes)),
                Out::Applied { run, state } => self.apply(engine, run, state),
                Out::Complex { run, state } => {
                    let chain = chain_of(engine, &state);
                    let time = state.bound.last().map_or(0, |b| b.time);
                    let id = self.ids.get(&run).copied().unwrap_or(0);
                    if let Some(c) = engine.complex_of(run.pattern, id, &chain, time) {
                        acts.complex.push((run, c, state));
                    }
                }
                Out::Refused { from, why } => {
                    acts.refused += 1;
                    if let (Some(f), super::Refusal::OtherProgram(_)) = (from, why) {
                        acts.other_program.push(f);
                    }
                }
                Out::Oversized { .. } => acts.oversized += 1,
            }
        }
    }

    /// A peer's state of a run, now the node's: the engine takes it over.
    /// Also a state this member had stored before a restart.
    pub fn apply(&mut self, engine: &mut Engine, run: RunKey, state: RunState) {
        let pattern = run.pattern;
        if state.finished() {
            if let Some(id) = self.ids.remove(&run) {
                if let Some(t) = self.runs.remove(&(pattern, id)) {
                    engine.take_run(pattern, &t.key, id);
                }
                // It ended elsewhere: what a restart must know of it, in
                // place of the state this member last stored.
                self.changed.push((run, state));
            }
            return;
        }
        let id = match self.ids.get(&run) {
            Some(id) => *id,
            None => {
                let Some(id) = engine.new_run_id(pattern) else {
                    return;
                };
                self.ids.insert(run, id);
                self.runs.insert(
                    (pattern, id),
                    Tracked {
                        run,
                        key: Arc::from(state.key.as_slice()),
                        last: None,
                    },
                );
                id
            }
        };
        let chain = chain_of(engine, &state);
        let first = state.bound.first().map_or(0, |b| b.time);
        let last = state.bound.last().map_or(first, |b| b.time);
        let start = chain.iter().last().map_or(0, |(_, e)| e.seq);
        let r = Run {
            loops: None,
            id,
            state: u16::try_from(state.state).unwrap_or(u16::MAX),
            count: state.count,
            start,
            first_time: first,
            last_time: last,
            chain,
            // Its deadlines are the member's whose input gave its last
            // event (that member knew them when it announced its next
            // item; docs/peers.md, time across peers).
            foreign: state.bound.last().map_or(run.origin, |b| b.origin) != self.me,
        };
        engine.put_run(pattern, &state.key, r);
        if let Some(t) = self.runs.get_mut(&(pattern, id)) {
            t.last = Some(state);
        }
    }
}

fn bound(binding: u16, e: &Event) -> Bound {
    Bound {
        binding,
        origin: e.origin,
        position: e.source,
        ty: e.ty,
        time: e.time,
        fields: e.fields.to_vec(),
    }
}

/// A learned run's events as the engine holds them, with new sequence
/// numbers of this engine, oldest first.
fn chain_of(engine: &mut Engine, state: &RunState) -> Chain {
    let mut chain = Chain::default();
    for b in &state.bound {
        let ev = Event {
            ty: b.ty,
            time: b.time,
            seq: engine.stamp(),
            source: b.position,
            origin: b.origin,
            run: None,
            fields: b.fields.clone().into_boxed_slice(),
        };
        chain = chain.push(b.binding, Arc::new(ev));
    }
    chain
}
