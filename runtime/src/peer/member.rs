//! One peer whole: its engine, its protocol [`Node`] and the [`Bridge`]
//! between them, with its own input waiting in the cluster's order
//! ([`super::order`]). Pure: the edge gives it input events, peer
//! frames and the time, and does what [`Step`] says (write, send).
//!
//! With steps ([`Member::with_steps`]), the member also holds the step
//! scheduler, as [`crate::Runner`] does for one instance: its own input
//! events go to it as the engine admits them, the complex events its own
//! engine completes go to it in their run's sequence (the cluster run
//! name, [`super::run_name`]), so each complex event's steps run once in
//! the cluster, on the peer that completed it (the same peer that feeds it
//! to the patterns that consume it; docs/peers.md). An event a step emits
//! is an own item at the time this member has reached (its announced
//! frontier), so it keeps the cluster's order; while step work is
//! outstanding at the end of the input, the member's time stops there
//! (it announces no later item), as a single instance's does.
//!
//! An own item (the next input event, or the engine's next deadline) is
//! processed only when [`Node::may_process`] says every peer in reach is
//! past it; after it, the run changes it made go to the node, then the
//! node's frontier moves to the next item. What a peer learned goes into
//! the engine before the next own item is looked at, so a run that spans
//! peers sees its events in a single instance's order.

use super::bridge::{Acts, Bridge};
use super::{Frontier, Node, Out, RunKey, RunState};
use crate::engine::{Complex, Engine, Output};
use crate::steps::{Outcome, Resume, Scheduler, StepOutput, Stored};
use crate::value::Event;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// What the edge does after an input of a [`Member`].
#[derive(Default)]
pub struct Step {
    /// Complex events to write, own and learned, each with its run's
    /// cluster id; in the order they were made or learned. The node has
    /// marked them written: the edge stores the marks before it writes
    /// (write-ahead).
    pub emits: Vec<(RunKey, Complex, RunState)>,
    /// Frames to send: (member, bytes).
    pub send: Vec<(u16, Vec<u8>)>,
    /// The engine's other outputs (dead letters: late events, refused
    /// activities; run and process changes when tracked), in order.
    pub outputs: Vec<Output>,
    /// Peer messages refused (unknown, replayed, reordered, bad version).
    pub refused: u64,
    /// Members whose messages were refused because they run other rules.
    pub other_program: Vec<u16>,
    /// Runs too large for any frame, not shared.
    pub oversized: u64,
    /// Of `emits`, those learned from peers (completed elsewhere).
    pub learned: u64,
    /// The run states this member's own items made, in order, with the
    /// input position they cover ([`Member::position`]): the edge stores
    /// them (with the position) before it sends `send`, so that a
    /// restart can give them again ([`Member::restore`]) and resume its
    /// input after that position, neither losing nor repeating an
    /// event's effect.
    pub changed: Vec<(RunKey, RunState)>,
    /// The step scheduler's outputs, in order ([`Member::with_steps`]):
    /// records go into the store's transaction, which is committed with
    /// `changed` and `emits` before any `Start` is acted on; `Emit` is
    /// for the record only (the member has queued the event).
    pub steps: Vec<StepOutput>,
}

impl Step {
    /// Empties it for the next input, keeping the buffers.
    pub fn clear(&mut self) {
        self.emits.clear();
        self.send.clear();
        self.outputs.clear();
        self.refused = 0;
        self.other_program.clear();
        self.oversized = 0;
        self.learned = 0;
        self.changed.clear();
        self.steps.clear();
    }
}

/// One peer: engine, node, bridge, and its input not yet processed.
pub struct Member {
    engine: Engine,
    node: Node,
    bridge: Bridge,
    queue: VecDeque<Event>,
    ended: bool,
    /// The input position (`Event::source`) of the last own event
    /// processed: where a restart resumes.
    position: u64,
    outs: Vec<Output>,
    node_out: Vec<Out>,
    acts: Acts,
    steps: Option<Steps>,
    /// Lookahead by partition ([`super::order::Ahead`]): allowed by the
    /// rules and not given up (too many buckets).
    lookahead: bool,
    /// The buckets of every partition this life's own input entered or
    /// will enter (every event offered) and of the runs restored: sorted.
    /// A superset of the partitions of every own item not yet processed
    /// and of every run whose deadlines are this member's.
    known: Vec<u16>,
    /// The latest horizon announced.
    horizon: Frontier,
    keybuf: Vec<crate::value::Value>,
    touch: Vec<u16>,
    early: u64,
}

/// The step side of a member ([`Member::with_steps`]).
struct Steps {
    scheduler: Scheduler,
    /// The members' names, for the sequences of complex events.
    names: Vec<String>,
    /// Events steps emitted, stamped, waiting for their turn (before
    /// `queue`: none is later than its front).
    emitted: VecDeque<(Event, Arc<str>)>,
    /// The sequence an input event named (`"@cep": {"sequence": ...}`),
    /// by input position, until the engine admits it.
    sequences: HashMap<u64, Arc<str>>,
    souts: Vec<StepOutput>,
}

impl Member {
    /// `engine` must track runs (`Config::track_runs`) and have no
    /// reordering delay (`max_delay_ms == 0`): the cluster's order is the
    /// reordering. `node` is this member's protocol state.
    pub fn new(engine: Engine, node: Node) -> Member {
        let bridge = Bridge::new(&engine, node.me());
        let mut m = Member {
            engine,
            node,
            bridge,
            queue: VecDeque::new(),
            ended: false,
            position: 0,
            outs: Vec::new(),
            node_out: Vec::new(),
            acts: Acts::default(),
            steps: None,
            lookahead: false,
            known: Vec::new(),
            horizon: Frontier::START,
            keybuf: Vec::new(),
            touch: Vec::new(),
            early: 0,
        };
        m.lookahead = super::order::lookahead_allowed(m.engine.program());
        let f = m.next_item();
        m.node.frontier(f);
        m
    }

    /// A member that runs steps: `scheduler` for this peer's rules,
    /// `names` the members' names by index (the sequences of complex
    /// events are cluster run names, [`super::run_name`]).
    pub fn with_steps(
        mut engine: Engine,
        node: Node,
        scheduler: Scheduler,
        names: Vec<String>,
    ) -> Member {
        // Input events reach the scheduler as the engine admits them.
        let wanted: Vec<u32> = (0..engine.program().events.len())
            .filter_map(|t| u32::try_from(t).ok())
            .filter(|t| scheduler.wants(*t))
            .collect();
        engine.forward(wanted);
        let mut m = Member::new(engine, node);
        m.steps = Some(Steps {
            scheduler,
            names,
            emitted: VecDeque::new(),
            sequences: HashMap::new(),
            souts: Vec::new(),
        });
        m
    }

    /// The step scheduler, with [`Member::with_steps`].
    pub fn scheduler(&self) -> Option<&Scheduler> {
        self.steps.as_ref().map(|s| &s.scheduler)
    }

    /// The wall clock is now `now` (ms): the scheduler's delays, back-offs
    /// and timeouts that are due; then whatever own items may go on.
    pub fn time(&mut self, now: i64, out: &mut Step) {
        if let Some(s) = self.steps.as_mut() {
            s.scheduler.time(now, &mut s.souts);
        }
        self.step_outputs(out);
        self.step(now, out);
    }

    /// Attempt `attempt` of step run `run` ended, at wall time `now`.
    pub fn ended(&mut self, run: u64, attempt: u32, outcome: Outcome, now: i64, out: &mut Step) {
        if let Some(s) = self.steps.as_mut() {
            s.scheduler.ended(run, attempt, outcome, now, &mut s.souts);
        }
        self.step_outputs(out);
        self.step(now, out);
    }

    /// Takes up the step runs of an earlier life ([`Scheduler::restore`]):
    /// before any input.
    pub fn restore_steps(
        &mut self,
        mode: Resume,
        seen: Vec<(Arc<str>, Arc<Event>)>,
        runs: Vec<Stored>,
        now: i64,
        out: &mut Step,
    ) {
        if let Some(s) = self.steps.as_mut() {
            s.scheduler.restore(mode, seen, runs, now, &mut s.souts);
        }
        self.step_outputs(out);
    }

    /// Nothing new starts from now on (a signal); running attempts may
    /// still end.
    pub fn halt_steps(&mut self) {
        if let Some(s) = self.steps.as_mut() {
            s.scheduler.halt();
        }
    }

    /// The engine (to name runs, describe refusals).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The protocol node (stats, states, peers out of reach).
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The input position of the last own event processed (0 before any).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// After a restart: the input was processed up to `position` in an
    /// earlier life (the edge skips those lines).
    pub fn resume_after(&mut self, position: u64) {
        self.position = self.position.max(position);
    }

    /// Own items processed before the frontiers alone allowed, by the
    /// peers' lookahead ([`super::order::Ahead`]).
    pub fn early(&self) -> u64 {
        self.early
    }

    /// Own input events waiting for the cluster.
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// The next own item: the next input event or the next deadline,
    /// whichever comes first; [`Frontier::END`] when the input has ended
    /// and no deadline is left. While the input is open and nothing is
    /// queued, the next event is unknown: the frontier stays before the
    /// time already reached.
    ///
    /// With steps, an event a step emitted is the next item when there is
    /// one, and while step work is outstanding the member announces no
    /// item after the time it has reached (a step may still emit there).
    pub fn next_item(&self) -> Frontier {
        let deadline = self.engine.next_deadline();
        let emitted = self
            .steps
            .as_ref()
            .filter(|s| !s.emitted.is_empty())
            .map(|_| self.reached());
        let busy = self.steps.as_ref().is_some_and(|s| s.scheduler.busy());
        match emitted.or(self.queue.front().map(|e| e.time)) {
            Some(t) => Frontier::next(Some(t), deadline),
            None if self.ended && !busy => Frontier::next(None, deadline),
            None => Frontier::next(Some(self.reached()), deadline),
        }
    }

    /// The time this member has reached: its engine's clock, or the time
    /// of the item it announced last, if later; 0 (the epoch) before any
    /// (as [`crate::Runner`] stamps an event emitted before any input).
    fn reached(&self) -> i64 {
        let announced = self.node.announced();
        let now = self.engine.now();
        let t = match (now, announced) {
            (_, a) if a == Frontier::END || a == Frontier::START => now,
            (Some(n), a) => Some(n.max(a.time)),
            (None, a) => Some(a.time),
        };
        t.unwrap_or(0)
    }

    /// An own input event (in input order; `source` its position). Its
    /// `origin` becomes this member.
    pub fn offer(&mut self, mut ev: Event) {
        ev.origin = self.node.me();
        if self.lookahead {
            buckets_of(&self.engine, &ev, &mut self.keybuf, &mut self.touch);
            for i in 0..self.touch.len() {
                let b = self.touch[i];
                self.know(b);
            }
        }
        self.queue.push_back(ev);
    }

    fn know(&mut self, b: u16) {
        if let Err(i) = self.known.binary_search(&b) {
            self.known.insert(i, b);
            if self.known.len() > super::order::MAX_KEYS {
                // Too many to announce: no lookahead for this life.
                self.lookahead = false;
                self.node.set_ahead(None);
            }
        }
    }

    /// Announces what this member's items beyond its frontier touch: the
    /// own events queued come before the time of the last one (later
    /// ones are later, or late), or all of them when the input ended.
    fn announce_ahead(&mut self) {
        if !self.lookahead {
            return;
        }
        let horizon = match self.queue.back() {
            _ if self.ended => Frontier::END,
            Some(e) => Frontier::before(e.time),
            None => return,
        };
        if horizon > self.horizon {
            self.horizon = horizon;
        }
        self.node.set_ahead(Some(super::order::Ahead {
            horizon: self.horizon,
            keys: self.known.clone(),
        }));
    }

    /// An own input event that names its step sequence (`"@cep":
    /// {"sequence": ...}`); without steps, as [`Member::offer`].
    pub fn offer_in(&mut self, ev: Event, sequence: Option<Arc<str>>) {
        if let (Some(s), Some(q)) = (self.steps.as_mut(), sequence) {
            if s.scheduler.wants(ev.ty) {
                s.sequences.insert(ev.source, q);
            }
        }
        self.offer(ev);
    }

    /// The own input has ended.
    pub fn end_input(&mut self) {
        self.ended = true;
    }

    /// Every own item processed (input ended, no deadline left) and the
    /// node has nothing left to send or have acknowledged, and every peer
    /// in reach said its input ended: nothing more will happen here.
    pub fn done(&self) -> bool {
        self.ended
            && self.queue.is_empty()
            && self.next_item() == Frontier::END
            && self.node.settled()
            && self.node.peers_ended()
    }

    /// A frame from a peer, at `now` (ms of the edge's clock), then
    /// whatever own items may go on.
    pub fn receive(&mut self, now: i64, bytes: &[u8], out: &mut Step) {
        self.node.receive(now, bytes, &mut self.node_out);
        self.learn(out);
        self.step(now, out);
    }

    /// Run states this member had made before a restart (the store's,
    /// written with [`Step::changed`]): the node and the engine take them
    /// back, as if learned; the node shares them again (merging is
    /// idempotent, so peers that had them already are unchanged).
    pub fn restore(&mut self, now: i64, states: Vec<(RunKey, RunState)>) {
        for (run, state) in states {
            if self.lookahead {
                self.know(super::order::bucket(run.pattern, &state.key));
            }
            self.node.local(now, run, state.clone(), &mut self.node_out);
            let merged = self.node.state(&run).cloned().unwrap_or(state);
            self.bridge.apply(&mut self.engine, run, merged);
        }
        self.node_out.clear();
    }

    /// The edge lost its connection to member `peer` ([`Node::departed`]).
    pub fn departed(&mut self, peer: u16) {
        self.node.departed(peer);
    }

    /// A frame that came on member `from`'s authenticated connection
    /// ([`Node::receive_from`]), then whatever own items may go on.
    pub fn receive_from(&mut self, now: i64, from: u16, bytes: &[u8], out: &mut Step) {
        self.node.receive_from(now, from, bytes, &mut self.node_out);
        self.learn(out);
        self.step(now, out);
    }

    /// Every process instance not accepting now, as the engine reports
    /// them ([`Engine::acceptance`]): at the end of the input.
    pub fn acceptance(&self, out: &mut Vec<Output>) {
        self.engine.acceptance(out);
    }

    /// Member `peer` became reachable.
    pub fn connected(&mut self, now: i64, peer: u16, out: &mut Step) {
        self.node.connected(now, peer, &mut self.node_out);
        self.learn(out);
    }

    /// Processes own items while the cluster allows, then lets the node
    /// send what is due at `now`.
    pub fn step(&mut self, now: i64, out: &mut Step) {
        loop {
            let at = self.next_item();
            // Where this member is (also when its input just grew).
            self.node.frontier(at);
            // Back-pressure: a peer is slow to take what this member made.
            if at == Frontier::END || self.node.congested() {
                break;
            }
            let plain = self.node.may_process(at);
            let allowed = if plain {
                true
            } else if !self.lookahead {
                false
            } else if at.events {
                // The next event, and the partitions it enters.
                match self.queue.front() {
                    Some(ev) => {
                        buckets_of(&self.engine, ev, &mut self.keybuf, &mut self.touch);
                        self.node.may_process_touching(at, Some(&self.touch))
                    }
                    None => false,
                }
            } else {
                // A deadline: the partitions of this member's runs.
                self.node.may_process_touching(at, Some(&self.known))
            };
            if !allowed {
                break;
            }
            if !plain {
                self.early += 1;
            }
            let mut emitted = None;
            if at.events {
                if let Some((mut ev, q)) = self.steps.as_mut().and_then(|s| s.emitted.pop_front()) {
                    // Stamped at its place in the cluster's order.
                    ev.time = at.time;
                    emitted = Some((q, Arc::new(ev.clone())));
                    self.engine.push(ev, &mut self.outs);
                } else if let Some(ev) = self.queue.pop_front() {
                    self.position = ev.source;
                    self.engine.push(ev, &mut self.outs);
                } else {
                    // Open input (or step work outstanding), nothing
                    // queued: wait for it.
                    break;
                }
            } else {
                self.engine.advance(at.time, &mut self.outs);
            }
            if self.steps.is_some() {
                self.admit(emitted, now);
            }
            let own = out.emits.len();
            self.bridge.from_engine(
                now,
                &self.engine,
                &mut self.outs,
                &mut self.node,
                &mut self.node_out,
                &mut out.emits,
            );
            if let Some(s) = self.steps.as_mut() {
                // The steps of the complex events this engine completed.
                for (run, c, _) in out.emits.get(own..).unwrap_or(&[]) {
                    if s.scheduler.wants(c.event.ty) {
                        let q: Arc<str> =
                            Arc::from(super::run_name(&s.names, self.engine.program(), run));
                        s.scheduler.event(&c.event, &q, now, &mut s.souts);
                    }
                }
            }
            out.outputs.append(&mut self.outs);
            self.step_outputs(out);
            self.learn(out);
        }
        let busy = self
            .steps
            .as_ref()
            .is_some_and(|s| s.scheduler.busy() || !s.emitted.is_empty());
        if self.ended && self.queue.is_empty() && !busy {
            self.node.end_input();
        }
        self.announce_ahead();
        self.node.tick(now, &mut self.node_out);
        self.learn(out);
    }

    /// Input events the engine admitted go to the scheduler (an emitted
    /// one in its step run's sequence, `emitted`); taken out of the
    /// engine's outputs.
    ///
    /// An emitted event of a type no step wants is recorded as seen in its
    /// sequence ([`Scheduler::processed`]), in the same store transaction
    /// as what the engine made of it, so a restart's recovery does not
    /// emit it again.
    fn admit(&mut self, emitted: Option<(Arc<str>, Arc<Event>)>, now: i64) {
        let Some(s) = self.steps.as_mut() else { return };
        if let Some((q, ev)) = &emitted {
            s.scheduler.processed(ev, q, now, &mut s.souts);
        }
        let mut i = 0;
        while i < self.outs.len() {
            let Output::Admitted(ev) = &self.outs[i] else {
                match &self.outs[i] {
                    Output::Late(e) => {
                        s.sequences.remove(&e.source);
                    }
                    Output::Refused { event, .. } => {
                        s.sequences.remove(&event.source);
                    }
                    _ => {}
                }
                i += 1;
                continue;
            };
            let ev = ev.clone();
            self.outs.remove(i);
            let sequence = match (&emitted, ev.source) {
                (Some((q, _)), 0) => q.clone(),
                _ => s
                    .sequences
                    .remove(&ev.source)
                    .unwrap_or_else(|| Arc::from(format!("line-{}", ev.source))),
            };
            s.scheduler.event(&ev, &sequence, now, &mut s.souts);
        }
    }

    /// The scheduler's outputs to the step; the events steps emitted are
    /// queued as own items, each stamped when its turn comes with the
    /// time this member has reached then.
    fn step_outputs(&mut self, out: &mut Step) {
        let Some(s) = self.steps.as_mut() else { return };
        for o in s.souts.drain(..) {
            if let StepOutput::Emit { event, sequence } = &o {
                let mut ev = event.clone();
                ev.source = 0;
                ev.origin = self.node.me();
                s.emitted.push_back((ev, sequence.clone()));
            }
            out.steps.push(o);
        }
    }

    fn learn(&mut self, out: &mut Step) {
        if !self.node_out.is_empty() {
            let node_out = std::mem::take(&mut self.node_out);
            self.bridge
                .from_node(&mut self.engine, node_out, &mut self.acts);
        }
        out.changed.append(&mut self.bridge.changed);
        out.learned += self.acts.complex.len() as u64;
        out.emits.append(&mut self.acts.complex);
        out.send.append(&mut self.acts.send);
        out.refused += std::mem::take(&mut self.acts.refused);
        out.other_program.append(&mut self.acts.other_program);
        out.oversized += std::mem::take(&mut self.acts.oversized);
    }
}

/// The buckets ([`super::order::bucket`]) of the partitions `ev` enters
/// in `engine`, sorted and distinct, into `touch`.
fn buckets_of(
    engine: &Engine,
    ev: &Event,
    keybuf: &mut Vec<crate::value::Value>,
    touch: &mut Vec<u16>,
) {
    touch.clear();
    engine.partitions_of(ev, keybuf, |p, key| {
        touch.push(super::order::bucket(p, key));
    });
    touch.sort_unstable();
    touch.dedup();
}
