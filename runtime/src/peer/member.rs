//! One peer whole: its engine, its protocol [`Node`] and the [`Bridge`]
//! between them, with its own input waiting in the cluster's order
//! ([`super::order`]). Pure: the edge gives it input events, peer
//! frames and the time, and does what [`Step`] says (write, send).
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
use crate::value::Event;
use std::collections::VecDeque;

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
        };
        let f = m.next_item();
        m.node.frontier(f);
        m
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

    /// Own input events waiting for the cluster.
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }

    /// The next own item: the next input event or the next deadline,
    /// whichever comes first; [`Frontier::END`] when the input has ended
    /// and no deadline is left. While the input is open and nothing is
    /// queued, the next event is unknown: the frontier stays before the
    /// time already reached.
    pub fn next_item(&self) -> Frontier {
        let deadline = self.engine.next_deadline();
        match self.queue.front() {
            Some(e) => Frontier::next(Some(e.time), deadline),
            None if self.ended => Frontier::next(None, deadline),
            None => {
                let reached = self.engine.now().unwrap_or(i64::MIN);
                Frontier::next(Some(reached), deadline)
            }
        }
    }

    /// An own input event (in input order; `source` its position). Its
    /// `origin` becomes this member.
    pub fn offer(&mut self, mut ev: Event) {
        ev.origin = self.node.me();
        self.queue.push_back(ev);
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
            if at == Frontier::END || !self.node.may_process(at) {
                break;
            }
            if at.events {
                if let Some(ev) = self.queue.pop_front() {
                    self.position = ev.source;
                    self.engine.push(ev, &mut self.outs);
                } else {
                    // Open input, nothing queued: wait for it.
                    break;
                }
            } else {
                self.engine.advance(at.time, &mut self.outs);
            }
            self.bridge.from_engine(
                now,
                &self.engine,
                &mut self.outs,
                &mut self.node,
                &mut self.node_out,
                &mut out.emits,
            );
            out.outputs.append(&mut self.outs);
            self.learn(out);
        }
        if self.ended && self.queue.is_empty() {
            self.node.end_input();
        }
        self.node.tick(now, &mut self.node_out);
        self.learn(out);
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
