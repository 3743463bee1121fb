//! A deterministic simulator of three peers (after TigerBeetle's VOPR and
//! FoundationDB's simulation): three real protocol cores
//! (`cep_runtime::peer::Node`) exchange real encoded frames over a
//! simulated network and clock that drop, duplicate, delay and reorder
//! messages, cut links (both ways or one way) and crash nodes, which
//! restart with their store (or, for one node in a third of the seeds,
//! without it: the core's late joiner). Everything comes from one seed; the same seed
//! gives the same trace (checked).
//!
//! Each node's "engine" is a seeded script that makes the run changes an
//! engine makes: it creates runs, binds events to runs it knows (its own
//! and learned ones), halts and completes them, and expires runs past
//! their window.
//!
//! Checked at every step:
//! - no node writes two complex events for one run, across its restarts
//!   (within each life for a node restarting without its store);
//! - a node's state of a run never goes back in the merge order (so a
//!   halted or completed run never comes back as active).
//!
//! Checked once the network heals and the nodes settle:
//! - every pair of nodes holds the same state for every run both hold, and
//!   both hold every run not yet past its window;
//! - every node has emitted every run completed anywhere (its own
//!   completions, the complex events it learned, or, for completions it
//!   learned before it was up, marks).
//!
//! A failing seed prints the command that replays it:
//! `PEER_SIM_SEED=<seed> cargo test --test peers_sim replay -- --nocapture`.

use cep_runtime::peer::{Bound, Node, Out, Phase, Refusal, Restored, RunKey, RunState, Settings};
use cep_runtime::Value;
use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::collections::{HashMap, HashSet};

const PEERS: u16 = 3;
/// Simulated steps with workload and faults, then up to this many to
/// settle.
const STEPS: u32 = 300;
const SETTLE: u32 = 4_000;
/// A run's window, ms.
const WINDOW: i64 = 2_000;

#[derive(Default, Clone, Copy, Debug, PartialEq)]
struct Counts {
    steps: u64,
    messages: u64,
    dropped: u64,
    duplicated: u64,
    partitions: u64,
    crashes: u64,
    /// Restarts without the store.
    storeless: u64,
    refused: u64,
    resyncs: u64,
    runs: u64,
    completed: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.steps += o.steps;
        self.messages += o.messages;
        self.dropped += o.dropped;
        self.duplicated += o.duplicated;
        self.partitions += o.partitions;
        self.crashes += o.crashes;
        self.storeless += o.storeless;
        self.refused += o.refused;
        self.resyncs += o.resyncs;
        self.runs += o.runs;
        self.completed += o.completed;
    }
}

struct Flight {
    at: i64,
    order: u64,
    to: u16,
    bytes: Vec<u8>,
}

struct Peer {
    node: Option<Node>,
    /// What the store holds: the emitted marks (durable before a write).
    store: Restored,
    incarnation: u32,
    /// Complex events written, over every life.
    written: HashMap<RunKey, u32>,
    /// The largest state seen per run in this life.
    seen: HashMap<RunKey, RunState>,
    down_until: i64,
    position: u64,
    /// Restarts without its store (the core's late joiner).
    storeless: bool,
}

struct Sim {
    seed: u64,
    rng: Pcg64Mcg,
    now: i64,
    peers: Vec<Peer>,
    net: Vec<Flight>,
    order: u64,
    /// Directed links that are cut, until a time.
    cut: HashMap<(u16, u16), i64>,
    settings: Settings,
    faults: bool,
    trace: u64,
    counts: Counts,
    /// Every run completed anywhere.
    completed: HashSet<RunKey>,
    log: bool,
}

fn fnv(h: u64, bytes: &[u8]) -> u64 {
    let mut h = h ^ 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let settings = Settings {
            ping_ms: 200,
            resync_ms: 1_500,
            retry_ms: 250,
            window: 8,
            stash_limit: 500,
            backlog: 100,
            cache: 1_000,
            max_frame: 2_048,
            // The simulated watermark moves at every step.
            announce_ms: 200,
            program: 0x5eed,
        };
        let mut peers: Vec<Peer> = (0..PEERS)
            .map(|m| Peer {
                node: Some(Node::new(
                    m,
                    PEERS,
                    1,
                    settings.clone(),
                    Some(Restored::default()),
                    0,
                )),
                store: Restored::default(),
                incarnation: 1,
                written: HashMap::new(),
                seen: HashMap::new(),
                down_until: 0,
                position: 0,
                storeless: false,
            })
            .collect();
        // In a third of the seeds one node restarts without its store.
        if seed % 3 == 0 {
            if let Some(p) = peers.last_mut() {
                p.storeless = true;
            }
        }
        Sim {
            seed,
            rng: Pcg64Mcg::seed_from_u64(seed),
            now: 0,
            peers,
            net: Vec::new(),
            order: 0,
            cut: HashMap::new(),
            settings,
            faults: true,
            trace: 0,
            counts: Counts::default(),
            completed: HashSet::new(),
            log: false,
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.rng.next_u64() % n
        }
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "seed {}: {what}\nreplay: PEER_SIM_SEED={} cargo test --test peers_sim replay -- --nocapture",
            self.seed, self.seed
        )
    }

    /// Handles what node `m` asked for.
    fn outputs(&mut self, m: u16, outs: Vec<Out>) {
        for o in outs {
            if self.log {
                match &o {
                    Out::Send { to, kind, bytes } => {
                        let env = cep_runtime::peer::wire::decode(bytes, usize::MAX);
                        eprintln!("{:>6} {m}->{to} {kind:?} {env:?}", self.now)
                    }
                    other => eprintln!("{:>6} {m}: {other:?}", self.now),
                }
            }
            match o {
                Out::Send { to, bytes, .. } => {
                    self.trace = fnv(self.trace, &bytes);
                    self.counts.messages += 1;
                    self.post(m, to, bytes);
                }
                Out::Applied { run, state } => {
                    self.trace = fnv(self.trace, &postcard_of(&run, &state));
                    self.saw(m, run, &state);
                }
                Out::Complex { run, state } => {
                    self.trace = fnv(self.trace, &postcard_of(&run, &state));
                    self.write(m, run);
                }
                Out::Refused { why, .. } => {
                    self.trace = fnv(self.trace, format!("{why:?}").as_bytes());
                    self.counts.refused += 1;
                    if let Refusal::Wire(e) = why {
                        self.fail(&format!("node {m} could not read a frame: {e}"));
                    }
                }
                Out::Oversized { run, bytes } => self.fail(&format!(
                    "run {run:?} of {bytes} bytes is over the frame limit"
                )),
            }
        }
    }

    fn write(&mut self, m: u16, run: RunKey) {
        let p = &mut self.peers[usize::from(m)];
        // Stored before the complex event is written.
        if let Some(n) = &p.node {
            p.store.emitted = n.emitted().clone();
            if let Some(st) = n.state(&run) {
                p.store.completed.insert(run, st.clone());
            }
        }
        if self.log {
            eprintln!("{:>6} {m} WRITES {run:?}", self.now);
        }
        let w = p.written.entry(run).or_insert(0);
        *w += 1;
        if *w > 1 {
            self.fail(&format!(
                "node {m} wrote the complex event of {run:?} twice"
            ));
        }
    }

    fn post(&mut self, from: u16, to: u16, bytes: Vec<u8>) {
        if self.faults {
            if self.cut.get(&(from, to)).is_some_and(|&t| t > self.now) {
                self.counts.dropped += 1;
                return;
            }
            if self.chance(30) {
                self.counts.dropped += 1;
                return;
            }
        }
        let copies = if self.faults && self.chance(20) {
            self.counts.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if self.faults {
                1 + self.below(80) as i64
            } else {
                1 + self.below(5) as i64
            };
            self.order += 1;
            self.net.push(Flight {
                at: self.now + delay,
                order: self.order,
                to,
                bytes: bytes.clone(),
            });
        }
    }

    /// Node `m` now holds `state` for `run`: never behind what it held.
    fn saw(&mut self, m: u16, run: RunKey, state: &RunState) {
        if state.phase == Phase::Completed {
            self.completed.insert(run);
        }
        let p = &mut self.peers[usize::from(m)];
        if let Some(old) = p.seen.get(&run) {
            if old == state {
                return;
            }
            if old.ahead_of(state) {
                let what = format!(
                    "node {m}: run {run:?} went back from {:?} ({} events) to {:?} ({} events)",
                    old.phase,
                    old.bound.len(),
                    state.phase,
                    state.bound.len()
                );
                self.fail(&what);
            }
        }
        p.seen.insert(run, state.clone());
    }

    /// After a local change of `run` at node `m`.
    fn saw_local(&mut self, m: u16, run: RunKey) {
        let st = self.peers[usize::from(m)]
            .node
            .as_ref()
            .and_then(|n| n.state(&run).cloned());
        if let Some(st) = st {
            self.saw(m, run, &st);
        }
    }

    /// The "engine" of node `m` makes one run change.
    fn act(&mut self, m: u16) {
        let now = self.now;
        let pick = self.below(100);
        let which = self.rng.next_u64();
        let value = self.below(4) as i64;
        let p = &mut self.peers[usize::from(m)];
        let Some(node) = p.node.as_mut() else {
            return;
        };
        p.position += 1;
        let position = p.position;
        let mut outs = Vec::new();
        // Runs past their window expire (the engine's deadline).
        let expired: Vec<(RunKey, RunState)> = node
            .runs()
            .iter()
            .filter(|(_, s)| s.phase == Phase::Active && s.expires < now)
            .map(|(k, s)| (*k, s.clone()))
            .collect();
        let mut changed: Vec<RunKey> = Vec::new();
        for (k, mut s) in expired {
            s.phase = Phase::Halted;
            node.local(now, k, s, &mut outs);
            changed.push(k);
        }
        let active: Vec<(RunKey, RunState)> = node
            .runs()
            .iter()
            .filter(|(_, s)| s.phase == Phase::Active)
            .map(|(k, s)| (*k, s.clone()))
            .collect();
        let mut wrote = None;
        let bound = Bound {
            binding: 0,
            origin: m,
            position,
            ty: 0,
            time: now,
            fields: vec![Value::Int(value)],
        };
        if pick < 30 || active.is_empty() {
            let run = node.next_key(0);
            let state = RunState {
                phase: Phase::Active,
                state: 1,
                count: 0,
                key: vec![Value::Int(value % 2)],
                expires: now + WINDOW,
                bound: vec![bound],
            };
            self.counts.runs += 1;
            node.local(now, run, state, &mut outs);
            changed.push(run);
        } else {
            let (run, mut state) = active[(which % active.len() as u64) as usize].clone();
            if pick < 75 {
                state.bound.push(bound);
                state.state += 1;
            } else if pick < 90 {
                state.phase = Phase::Completed;
            } else {
                state.phase = Phase::Halted;
            }
            if node.local(now, run, state, &mut outs) {
                self.counts.completed += 1;
                wrote = Some(run);
            }
            changed.push(run);
        }
        node.watermark(now - 50);
        if let Some(run) = wrote {
            self.write(m, run);
        }
        self.outputs(m, outs);
        for run in changed {
            self.saw_local(m, run);
        }
    }

    fn tick(&mut self, m: u16) {
        let now = self.now;
        let Some(node) = self.peers[usize::from(m)].node.as_mut() else {
            return;
        };
        let mut outs = Vec::new();
        node.tick(now, &mut outs);
        self.outputs(m, outs);
    }

    fn deliver(&mut self) {
        self.net.sort_by_key(|f| (f.at, f.order));
        let due = self.net.iter().take_while(|f| f.at <= self.now).count();
        let flights: Vec<Flight> = self.net.drain(..due).collect();
        for f in flights {
            let now = self.now;
            let Some(node) = self.peers[usize::from(f.to)].node.as_mut() else {
                continue;
            };
            let mut outs = Vec::new();
            node.receive(now, &f.bytes, &mut outs);
            self.outputs(f.to, outs);
        }
    }

    fn faults_step(&mut self) {
        if self.chance(8) {
            // A cut link for a while, one way or both.
            let a = self.below(u64::from(PEERS)) as u16;
            let b = (a + 1 + self.below(u64::from(PEERS) - 1) as u16) % PEERS;
            let until = self.now + 50 + self.below(3_000) as i64;
            self.cut.insert((a, b), until);
            if self.chance(500) {
                self.cut.insert((b, a), until);
            }
            self.counts.partitions += 1;
        }
        if self.chance(4) {
            let m = self.below(u64::from(PEERS)) as u16;
            let p = &mut self.peers[usize::from(m)];
            if p.node.is_some() {
                if let Some(n) = &p.node {
                    p.store.emitted = n.emitted().clone();
                }
                if self.log {
                    eprintln!("{:>6} {m} crashes", self.now);
                }
                if p.storeless {
                    self.forget_with(m);
                }
                let p = &mut self.peers[usize::from(m)];
                p.node = None;
                p.down_until = self.now + 20 + (self.rng.next_u64() % 2_500) as i64;
                self.counts.crashes += 1;
            }
        }
        self.restart_due(false);
    }

    /// Node `m` crashes without a store: a completion only it knew of
    /// is gone with it, so the cluster is not expected to write it. What
    /// it wrote is forgotten with it too: a late joiner writes nothing
    /// the others report complete before their first RESYNC, but a
    /// completion old enough to be forgotten and brought back later (by
    /// a peer restarting with its store) it cannot tell from a new one,
    /// so without a store "never twice" holds within each life only.
    fn forget_with(&mut self, m: u16) {
        let Some(node) = self.peers[usize::from(m)].node.as_ref() else {
            return;
        };
        let lost: Vec<RunKey> = node
            .runs()
            .iter()
            .filter(|(_, s)| s.phase == Phase::Completed)
            .map(|(k, _)| *k)
            .filter(|k| {
                self.peers.iter().enumerate().all(|(i, q)| {
                    i == usize::from(m)
                        || !(q.store.completed.contains_key(k)
                            || q.node.as_ref().is_some_and(|n| {
                                n.state(k).is_some_and(|s| s.phase == Phase::Completed)
                            }))
                })
            })
            .collect();
        for k in lost {
            self.completed.remove(&k);
        }
        self.peers[usize::from(m)].written.clear();
    }

    fn restart_due(&mut self, all: bool) {
        let now = self.now;
        for m in 0..PEERS {
            let p = &mut self.peers[usize::from(m)];
            if p.node.is_none() && (all || p.down_until <= now) {
                p.incarnation += 1;
                p.seen.clear();
                let store = (!p.storeless).then(|| p.store.clone());
                if p.storeless {
                    self.counts.storeless += 1;
                }
                if self.log {
                    eprintln!(
                        "{now:>6} {m} restarts{}",
                        if p.storeless {
                            " without its store"
                        } else {
                            ""
                        }
                    );
                }
                p.node = Some(Node::new(
                    m,
                    PEERS,
                    p.incarnation,
                    self.settings.clone(),
                    store,
                    now,
                ));
            }
        }
    }

    fn step(&mut self, work: bool) {
        // Settling, time moves faster.
        self.now += if work {
            1 + self.below(20) as i64
        } else {
            20 + self.below(40) as i64
        };
        self.counts.steps += 1;
        if work && self.faults {
            self.faults_step();
        }
        self.deliver();
        if work {
            for m in 0..PEERS {
                if self.chance(400) {
                    self.act(m);
                }
            }
        }
        for m in 0..PEERS {
            self.tick(m);
        }
    }

    fn run(&mut self) {
        for _ in 0..STEPS {
            self.step(true);
        }
        // Heal: no more faults, everyone up, time passes every window.
        self.faults = false;
        self.cut.clear();
        self.restart_due(true);
        let end = self.now + 2 * WINDOW;
        let mut settled = 0;
        for _ in 0..SETTLE {
            self.step(false);
            for m in 0..PEERS {
                // Expire what is past its window; the watermark moves on.
                self.expire_all(m);
            }
            // PINGs and their acknowledgements never stop; the nodes have
            // nothing left to send.
            let quiet = self
                .peers
                .iter()
                .all(|p| p.node.as_ref().is_some_and(Node::settled));
            if quiet && self.now > end {
                settled += 1;
                if settled > 20 {
                    break;
                }
            } else {
                settled = 0;
            }
        }
        if settled <= 20 {
            self.fail("the nodes did not settle after the network healed");
        }
        for p in &self.peers {
            if let Some(n) = &p.node {
                self.counts.resyncs += n.stats().resyncs;
            }
        }
        self.check_converged();
    }

    fn expire_all(&mut self, m: u16) {
        let now = self.now;
        let Some(node) = self.peers[usize::from(m)].node.as_mut() else {
            return;
        };
        let mut outs = Vec::new();
        let expired: Vec<(RunKey, RunState)> = node
            .runs()
            .iter()
            .filter(|(_, s)| s.phase == Phase::Active && s.expires < now)
            .map(|(k, s)| (*k, s.clone()))
            .collect();
        let keys: Vec<RunKey> = expired.iter().map(|(k, _)| *k).collect();
        for (k, mut s) in expired {
            s.phase = Phase::Halted;
            node.local(now, k, s, &mut outs);
        }
        node.watermark(now - 50);
        self.outputs(m, outs);
        for run in keys {
            self.saw_local(m, run);
        }
    }

    fn check_converged(&self) {
        let nodes: Vec<&Node> = self.peers.iter().filter_map(|p| p.node.as_ref()).collect();
        let floor = nodes
            .iter()
            .map(|n| n.cluster_watermark())
            .max()
            .unwrap_or(i64::MIN);
        for (i, a) in nodes.iter().enumerate() {
            for b in nodes.iter().skip(i + 1) {
                for (run, sa) in a.runs() {
                    match b.runs().get(run) {
                        Some(sb) if sa != sb => self.fail(&format!(
                            "nodes {} and {} disagree on {run:?}: {:?} with {} events, {:?} with {}",
                            a.me(),
                            b.me(),
                            sa.phase,
                            sa.bound.len(),
                            sb.phase,
                            sb.bound.len()
                        )),
                        None if sa.expires >= floor => self.fail(&format!(
                            "node {} lacks {run:?}, which node {} holds",
                            b.me(),
                            a.me()
                        )),
                        _ => {}
                    }
                }
            }
        }
        for n in &nodes {
            for run in &self.completed {
                if !n.emitted().contains(run) {
                    self.fail(&format!(
                        "node {} never emitted completed run {run:?}",
                        n.me()
                    ));
                }
            }
        }
    }
}

fn postcard_of(run: &RunKey, state: &RunState) -> Vec<u8> {
    format!("{run:?}{:?}{}", state.phase, state.bound.len()).into_bytes()
}

fn simulate(seed: u64, log: bool) -> (u64, Counts) {
    let mut sim = Sim::new(seed);
    sim.log = log;
    sim.run();
    (sim.trace, sim.counts)
}

fn seeds(range: std::ops::Range<u64>) -> Counts {
    let mut total = Counts::default();
    for seed in range {
        total += simulate(seed, false).1;
    }
    total
}

// 10,000 seeds over four tests, so that the two cores of CI share them.
#[test]
fn seeds_0_to_2500() {
    let c = seeds(0..2_500);
    eprintln!("peers_sim 0..2500: {c:?}");
    assert!(c.crashes > 0 && c.partitions > 0 && c.duplicated > 0 && c.dropped > 0);
    assert!(c.storeless > 0, "{c:?}");
    assert!(c.completed > 0 && c.resyncs > 0 && c.refused > 0);
}

#[test]
fn seeds_2500_to_5000() {
    let c = seeds(2_500..5_000);
    eprintln!("peers_sim 2500..5000: {c:?}");
}

#[test]
fn seeds_5000_to_7500() {
    let c = seeds(5_000..7_500);
    eprintln!("peers_sim 5000..7500: {c:?}");
}

#[test]
fn seeds_7500_to_10000() {
    let c = seeds(7_500..10_000);
    eprintln!("peers_sim 7500..10000: {c:?}");
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    for seed in [1, 77, 4_242] {
        assert_eq!(simulate(seed, false), simulate(seed, false).clone());
    }
    assert_ne!(simulate(1, false).0, simulate(2, false).0);
}

/// `PEER_SIM_SEED=<seed>`: runs one seed (what a failure prints).
#[test]
fn replay() {
    if let Some(seed) = std::env::var("PEER_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        let (trace, counts) = simulate(seed, true);
        eprintln!("seed {seed}: trace {trace:016x} {counts:?}");
    }
}
