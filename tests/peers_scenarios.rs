//! The BoboCEP failures, each as a scenario over real protocol nodes
//! (`cep_runtime::peer::Node`) and the real codec, on a hand-driven
//! network: what BoboCEP got wrong side by side (issue 10: an update sent
//! with a later halt in one batch, a stale update after a halt, a RESYNC
//! to a peer that holds runs the sender completed, a late joiner and the
//! cached completions, a RESYNC whose last part is small, a replayed
//! RESET and a replayed COMPLETE from a recorded connection).

use cep_runtime::peer::{Bound, Node, Out, Phase, Restored, RunKey, RunState, Settings};
use cep_runtime::Value;

fn settings() -> Settings {
    Settings {
        ping_ms: 1_000,
        retry_ms: 100,
        ..Settings::default()
    }
}

fn st(phase: Phase, events: &[i64]) -> RunState {
    RunState {
        phase,
        state: events.len() as u32,
        count: 0,
        key: vec![Value::Str("room1".into())],
        expires: i64::MAX,
        bound: events
            .iter()
            .enumerate()
            .map(|(i, v)| Bound {
                binding: i as u16,
                origin: 0,
                position: i as u64 + 1,
                ty: 1,
                time: 1_000 + i as i64,
                fields: vec![Value::Int(*v)],
            })
            .collect(),
    }
}

/// Nodes and the frames between them, each recorded as sent.
struct Net {
    nodes: Vec<Node>,
    /// (to, bytes) not yet delivered.
    flight: Vec<(u16, Vec<u8>)>,
    /// Every frame sent, by (from, to).
    recorded: Vec<(u16, u16, Vec<u8>)>,
    /// Complex events written, by node.
    written: Vec<Vec<RunKey>>,
    applied: Vec<Vec<(RunKey, RunState)>>,
    now: i64,
}

impl Net {
    fn new(nodes: Vec<Node>) -> Net {
        let n = nodes.len();
        let mut net = Net {
            nodes,
            flight: Vec::new(),
            recorded: Vec::new(),
            written: vec![Vec::new(); n],
            applied: vec![Vec::new(); n],
            now: 0,
        };
        for m in 0..n as u16 {
            for p in (0..n as u16).filter(|&p| p != m) {
                let mut out = Vec::new();
                net.nodes[usize::from(m)].connected(0, p, &mut out);
                net.take(m, out);
            }
        }
        net
    }

    fn take(&mut self, m: u16, out: Vec<Out>) {
        for o in out {
            match o {
                Out::Send { to, bytes, .. } => {
                    self.recorded.push((m, to, bytes.clone()));
                    self.flight.push((to, bytes));
                }
                Out::Complex { run, .. } => self.written[usize::from(m)].push(run),
                Out::Applied { run, state } => self.applied[usize::from(m)].push((run, state)),
                _ => {}
            }
        }
    }

    fn local(&mut self, m: u16, run: RunKey, state: RunState) -> bool {
        let mut out = Vec::new();
        let w = self.nodes[usize::from(m)].local(self.now, run, state, &mut out);
        self.take(m, out);
        w
    }

    /// Ticks every node and delivers everything, `rounds` times (10 ms
    /// each).
    fn run(&mut self, rounds: usize) {
        for _ in 0..rounds {
            self.now += 10;
            for m in 0..self.nodes.len() as u16 {
                let mut out = Vec::new();
                self.nodes[usize::from(m)].tick(self.now, &mut out);
                self.take(m, out);
            }
            while !self.flight.is_empty() {
                for (to, bytes) in std::mem::take(&mut self.flight) {
                    // A member not there (yet) gets nothing.
                    let Some(node) = self.nodes.get_mut(usize::from(to)) else {
                        continue;
                    };
                    let mut out = Vec::new();
                    node.receive(self.now, &bytes, &mut out);
                    self.take(to, out);
                }
            }
        }
    }

    fn deliver_to(&mut self, to: u16, frames: &[Vec<u8>]) -> Vec<Out> {
        let mut out = Vec::new();
        for f in frames {
            self.nodes[usize::from(to)].receive(self.now, f, &mut out);
        }
        out
    }

    fn state(&self, m: u16, run: &RunKey) -> Option<Phase> {
        self.nodes[usize::from(m)].state(run).map(|s| s.phase)
    }
}

fn fresh(me: u16, members: u16) -> Node {
    Node::new(me, members, 1, settings(), Some(Restored::default()), 0)
}

#[test]
fn an_update_with_a_later_halt_in_one_batch_ends_halted() {
    let mut net = Net::new(vec![fresh(0, 2), fresh(1, 2)]);
    net.run(2);
    let r = net.nodes[0].next_key(0);
    // Both changes before anything is sent: one batch.
    net.local(0, r, st(Phase::Active, &[1]));
    net.local(0, r, st(Phase::Active, &[1, 2]));
    net.local(0, r, st(Phase::Halted, &[1, 2]));
    net.run(3);
    assert_eq!(net.state(1, &r), Some(Phase::Halted));
    // Node 1's engine was never told the run is active after the halt.
    assert!(net.applied[1]
        .iter()
        .skip_while(|(_, s)| s.phase != Phase::Halted)
        .all(|(_, s)| s.phase == Phase::Halted));
}

#[test]
fn a_stale_update_after_a_halt_is_ignored() {
    let mut net = Net::new(vec![fresh(0, 3), fresh(1, 3), fresh(2, 3)]);
    net.run(2);
    let r = net.nodes[0].next_key(0);
    net.local(0, r, st(Phase::Active, &[1]));
    net.run(3);
    // Node 2 moves it on; node 0 halts it.
    net.local(2, r, st(Phase::Active, &[1, 5]));
    let late: Vec<Vec<u8>> = net
        .flight
        .iter()
        .filter(|(to, _)| *to == 1)
        .map(|(_, b)| b.clone())
        .collect();
    net.flight.retain(|(to, _)| *to != 1);
    net.local(0, r, st(Phase::Halted, &[1]));
    net.run(5);
    assert_eq!(net.state(1, &r), Some(Phase::Halted));
    // Node 2's update reaches node 1 long after the halt.
    let before = net.applied[1].len();
    let out = net.deliver_to(1, &late);
    net.take(1, out);
    net.run(3);
    assert_eq!(
        net.state(1, &r),
        Some(Phase::Halted),
        "a stale update undid a halt"
    );
    assert!(net.applied[1][before..]
        .iter()
        .all(|(_, s)| s.phase != Phase::Active));
    for m in 0..3 {
        assert_eq!(net.state(m, &r), Some(Phase::Halted), "node {m}");
    }
}

#[test]
fn a_resync_to_a_peer_holding_a_run_the_sender_completed_completes_it_there_once() {
    let mut net = Net::new(vec![fresh(0, 2), fresh(1, 2)]);
    net.run(2);
    let r = net.nodes[0].next_key(0);
    net.local(0, r, st(Phase::Active, &[1, 2]));
    net.run(3);
    assert_eq!(net.state(1, &r), Some(Phase::Active));
    // Node 1 restarts with a store that knows nothing of the run's end;
    // node 0 completes it meanwhile.
    let mut out = Vec::new();
    net.nodes[1] = Node::new(1, 2, 2, settings(), Some(Restored::default()), net.now);
    net.nodes[1].local(net.now, r, st(Phase::Active, &[1, 2]), &mut out);
    net.take(1, out);
    assert!(net.local(0, r, st(Phase::Completed, &[1, 2, 3])));
    net.run(10);
    assert_eq!(net.state(1, &r), Some(Phase::Completed));
    assert_eq!(
        net.written[1],
        vec![r],
        "written once on the restarted node"
    );
    assert!(
        net.written[0].is_empty(),
        "the completer writes its own, not a learned one"
    );
}

#[test]
fn a_late_joiner_does_not_write_the_cached_completions_but_writes_later_ones() {
    let mut net = Net::new(vec![fresh(0, 3), fresh(1, 3)]);
    // Member 2 is not there yet: nodes 0 and 1 of a cluster of three.
    net.nodes[0] = fresh(0, 3);
    net.nodes[1] = fresh(1, 3);
    net.run(2);
    let old = net.nodes[0].next_key(0);
    assert!(net.local(0, old, st(Phase::Completed, &[7])));
    net.run(3);
    // Member 2 joins without a store.
    net.nodes
        .push(Node::new(2, 3, 1, settings(), None, net.now));
    net.written.push(Vec::new());
    net.applied.push(Vec::new());
    for p in 0..2u16 {
        let mut out = Vec::new();
        net.nodes[2].connected(net.now, p, &mut out);
        net.take(2, out);
        let mut out = Vec::new();
        net.nodes[usize::from(p)].connected(net.now, 2, &mut out);
        net.take(p, out);
    }
    net.run(10);
    assert_eq!(
        net.state(2, &old),
        Some(Phase::Completed),
        "learned by RESYNC"
    );
    assert!(
        net.written[2].is_empty(),
        "a cached completion was written again"
    );
    assert!(net.nodes[2].emitted().contains(&old), "marked instead");
    let new = net.nodes[0].next_key(0);
    assert!(net.local(0, new, st(Phase::Completed, &[8])));
    net.run(5);
    assert_eq!(net.written[2], vec![new]);
}

#[test]
fn a_resync_in_parts_with_a_small_last_part_arrives_whole() {
    let small = Settings {
        max_frame: 600,
        ..settings()
    };
    let mut a = Node::new(0, 2, 1, small.clone(), Some(Restored::default()), 0);
    let mut sink = Vec::new();
    let mut keys = Vec::new();
    // Enough runs for several parts, the last one holding fewer.
    for i in 0..43 {
        let k = a.next_key(0);
        a.local(0, k, st(Phase::Active, &[i, i + 1]), &mut sink);
        keys.push(k);
    }
    let b = Node::new(1, 2, 1, small, Some(Restored::default()), 0);
    let mut net = Net::new(vec![a, b]);
    net.run(20);
    // The runs in each RESYNC part from 0 to 1, in order.
    let parts: Vec<usize> = net
        .recorded
        .iter()
        .filter(|(f, t, _)| (*f, *t) == (0, 1))
        .filter_map(|(_, _, bytes)| {
            match cep_runtime::peer::wire::decode(bytes, usize::MAX).map(|e| e.body) {
                Ok(cep_runtime::peer::Body::Resync { runs, .. }) => Some(runs.len()),
                _ => None,
            }
        })
        .collect();
    assert!(parts.len() > 2, "{parts:?}");
    assert!(
        parts.last() < parts.first(),
        "the last part is not the small one: {parts:?}"
    );
    for k in &keys {
        assert_eq!(net.state(1, k), Some(Phase::Active), "{k:?} missing");
    }
}

#[test]
fn a_replayed_reset_and_a_replayed_complete_are_refused() {
    let mut net = Net::new(vec![fresh(0, 2), fresh(1, 2)]);
    net.run(2);
    let r = net.nodes[0].next_key(0);
    assert!(net.local(0, r, st(Phase::Completed, &[4])));
    net.run(5);
    assert_eq!(net.written[1], vec![r]);
    let resyncs = net.nodes[1].stats().resyncs;
    // Everything node 0 ever sent node 1 (its RESET and the COMPLETE
    // among them), sent again.
    let recording: Vec<Vec<u8>> = net
        .recorded
        .iter()
        .filter(|(f, t, _)| (*f, *t) == (0, 1))
        .map(|(_, _, b)| b.clone())
        .collect();
    let refused = net.nodes[1].stats().refused;
    let out = net.deliver_to(1, &recording);
    assert!(!out
        .iter()
        .any(|o| matches!(o, Out::Complex { .. } | Out::Applied { .. })));
    net.take(1, out);
    net.run(5);
    assert_eq!(
        net.written[1],
        vec![r],
        "a replayed COMPLETE was written again"
    );
    assert_eq!(
        net.nodes[1].stats().resyncs,
        resyncs,
        "a replayed RESET was answered again"
    );
    assert!(net.nodes[1].stats().refused > refused);
}

#[test]
fn a_peer_running_other_rules_is_refused() {
    let other = Settings {
        program: 2,
        ..settings()
    };
    let mine = Settings {
        program: 1,
        ..settings()
    };
    let a = Node::new(0, 2, 1, mine, Some(Restored::default()), 0);
    let b = Node::new(1, 2, 1, other, Some(Restored::default()), 0);
    let mut net = Net::new(vec![a, b]);
    net.run(2);
    let r = net.nodes[0].next_key(0);
    net.local(0, r, st(Phase::Completed, &[1]));
    net.run(5);
    // Nothing of A's gets into B, nor of B's into A: their runs would
    // name other patterns.
    assert_eq!(net.state(1, &r), None);
    assert!(net.written[1].is_empty());
    assert!(net.nodes[1].stats().refused > 0);
    let mut out = Vec::new();
    let frame = net
        .recorded
        .iter()
        .find(|(f, t, _)| (*f, *t) == (0, 1))
        .map(|(_, _, b)| b.clone())
        .unwrap();
    net.nodes[1].receive(net.now, &frame, &mut out);
    assert!(out.iter().any(|o| matches!(
        o,
        Out::Refused {
            from: Some(0),
            why: cep_runtime::peer::Refusal::OtherProgram(1)
        }
    )));
}

#[test]
fn a_peers_lookahead_lets_items_of_other_partitions_go_first() {
    use cep_runtime::peer::{Ahead, Frontier};
    let mut net = Net::new(vec![fresh(0, 2), fresh(1, 2)]);
    // Node 1 is at time 100 and says its items up to 500 touch only
    // bucket 7.
    net.nodes[1].frontier(Frontier::before(100));
    net.nodes[1].set_ahead(Some(Ahead {
        horizon: Frontier::before(500),
        keys: vec![7],
    }));
    net.run(2);
    let n0 = &net.nodes[0];
    let ev = |time| Frontier { time, events: true };
    // Before its frontier: as always.
    assert!(n0.may_process(ev(50)));
    // Past its frontier: only by the lookahead, and only for items that
    // touch none of its buckets and come before its horizon.
    assert!(!n0.may_process(ev(200)));
    assert!(n0.may_process_touching(ev(200), Some(&[3, 9])));
    assert!(!n0.may_process_touching(ev(200), Some(&[3, 7])));
    assert!(!n0.may_process_touching(ev(200), None));
    assert!(!n0.may_process_touching(ev(600), Some(&[3])));
    // A later announcement with more keys replaces it.
    net.nodes[1].set_ahead(Some(Ahead {
        horizon: Frontier::before(800),
        keys: vec![3, 7],
    }));
    net.run(2);
    let n0 = &net.nodes[0];
    assert!(!n0.may_process_touching(ev(200), Some(&[3])));
    assert!(n0.may_process_touching(ev(600), Some(&[4])));
}

#[test]
fn a_peer_that_takes_nothing_holds_back_its_sender_and_is_not_flooded() {
    let s = Settings {
        window: 2,
        backlog: 3,
        retry_ms: 100,
        // One run a message.
        max_frame: 200,
        ..settings()
    };
    let mut a = Node::new(0, 2, 1, s.clone(), Some(Restored::default()), 0);
    let mut out = Vec::new();
    a.connected(0, 1, &mut out);
    for n in 1..=8 {
        let run = RunKey {
            pattern: 0,
            origin: 0,
            incarnation: 1,
            n,
        };
        a.local(0, run, st(Phase::Active, &[1]), &mut out);
    }
    // Two in flight (the window), the rest stashed: congested.
    a.tick(0, &mut out);
    assert!(a.congested());
    // Nothing acknowledged: copies go again after 100, 200, 400 ms, not
    // at every 100.
    let mut sent_at = Vec::new();
    for t in (10..=1_000).step_by(10) {
        out.clear();
        a.tick(t, &mut out);
        if out.iter().any(|o| matches!(o, Out::Send { .. })) {
            sent_at.push(t);
        }
    }
    let retries: Vec<_> = sent_at.into_iter().filter(|t| t % 1000 != 0).collect();
    assert!(retries.len() <= 4, "sent again at {retries:?}");
}
