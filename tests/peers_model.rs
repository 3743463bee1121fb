//! A model check (stateright) of the peer run-state merge: three peers
//! exchanging one or two runs' states over a network that reorders,
//! duplicates and loses messages, with at most one crash, every
//! interleaving explored breadth first. Complements `tests/peers_sim.rs`
//! (random, long, the whole `Node` and codec) with exhaustive short ones.
//!
//! # What is modelled
//!
//! - **Peers** 0, 1, 2, each holding a state per run (or none) and a
//!   store: the runs whose complex event it wrote and the completed state
//!   of each, stored before the write.
//! - **Local changes**, only those an engine makes: peer 0 creates run 0
//!   (peer 1 run 1) once; a peer holding a run `Active` binds one more
//!   event (at most one in all), halts it, or completes it (with what it
//!   has bound; in one test also binding one more event). Each peer binds
//!   its own candidate event (peer 0 event 0, peers 1 and 2 event 1), so
//!   two peers bind different events at the same step and the merge's
//!   content tie-break decides. A finished run never changes locally.
//! - **Merging** is the real `RunState::merge` on real `RunState`s (bound
//!   events with origin, position, time and fields), called once per pair
//!   of the model's states when the model is built and kept in a table;
//!   ranks come from the real `RunState::order`.
//! - **Sending** as the node does: a peer whose state of a run changed (a
//!   local change, or a delivery that moved it) sends the new state to
//!   every other peer. The network is a set of (receiver, run, state)
//!   messages; a message does not name its sender, so a change is sent on
//!   to both others.
//! - **The network** delivers any message at any time (reordering),
//!   delivers one and leaves a copy in flight (a duplicate; any number in
//!   the first test, none elsewhere), or loses one: a lost message is not
//!   acknowledged, so it is sent again as the run's current state, by
//!   every peer holding the run (arriving whenever the network delivers
//!   it).
//! - **Emission** as `Node::local` and `Node::receive` do: a run that
//!   becomes `Completed` at a peer whose store has no mark for it gives its
//!   complex event there, its state stored first.
//! - **A crash** (at most one, any peer, any time): the peer comes back
//!   with its store only (its marks and stored completions; its active
//!   and halted runs are gone), puts its stored completions in flight to
//!   every peer (its stash), and every other peer answers its RESET with a
//!   RESYNC: its state of every run it holds, in flight to the restarted
//!   peer. Messages in flight to or from the peer stay in flight.
//!
//! # Properties
//!
//! - *no double emit*: a peer writes a run's complex event at most once,
//!   over its lives;
//! - *completed once*: a peer's state of a run becomes `Completed` at most
//!   once, over its lives (so the stored mark never has to hold a second
//!   write back);
//! - *monotone*: within one life, a peer's state of a run never goes down
//!   in `RunState::order`;
//! - *no stale undo*: within one life, a peer that has held a run halted or
//!   completed never holds it active again; over its lives, a peer that
//!   wrote a run's complex event holds it completed (its halted and active
//!   runs may be lost in a crash: a halted run can come back active from a
//!   peer that never learned the halt, as
//!   `a_halt_lost_in_a_crash_comes_back_active` plays step by step, and a
//!   completed state can come back as the one it stored, below a later
//!   rival);
//! - *convergence*: whenever nothing is in flight, every peer holds the
//!   same state of every run (or none of it);
//! - *one completion content*: whenever nothing is in flight, the peers
//!   that hold a run completed hold it with the same events;
//! - *written everywhere*: whenever nothing is in flight, a run one peer
//!   wrote is completed and written at every peer;
//! - and, so that the checks are not vacuous, reached examples: two peers
//!   wrote rival completions of one run and the cluster settled on one; a
//!   stale active state in flight to a peer that finished the run; a
//!   completion in flight to a peer that halted it; a settled cluster after
//!   a crash, every peer having written the run.
//!
//! `merge_laws_exhaustive` checks commutativity, associativity and
//! idempotence directly over every triple of 49 states.
//!
//! The mutation tests run the same model on two broken merges (the last
//! state to arrive wins; no content tie-break): the checker finds a
//! counterexample to each, so the model can catch a broken merge.
//!
//! # What is abstracted away
//!
//! Acknowledgements, sequence numbers, streams and incarnations (the
//! node's delivery refuses duplicates and replays; here they reach the
//! merge), stash compaction and windows, PINGs and watermarks (so no
//! expiry of active runs past their window and no forgetting of finished
//! runs), the resync period, frame sizes, late joiners without a store,
//! partitions (a loss is one message lost and sent again, not a link cut
//! for long), and the engine's matching (events are two candidates per
//! step, at most two events per run).
//!
//! A message is left out when it is sent if its receiver already holds
//! the state or one above it in the merge order: for a merge that is the
//! maximum of that order (checked on every pair of the model's states
//! before it is used) delivering it would change nothing within the
//! receiver's life, and a receiver that restarts is sent everything again
//! by the RESYNCs. This cuts the state space twentyfold. The mutation
//! tests run without it (their merges are not the maximum).
//!
//! Peers 1 and 2 are interchangeable with one run (same candidate, neither
//! creates it): the checker keeps one of each pair of mirror states;
//! counterexamples are replayed with the first state's labels.
//!
//! # State counts (breadth first)
//!
//! | test | states | depth |
//! |---|---|---|
//! | `one_run_exhaustive`: no crash, any duplicates, losses | 256,460 | all (17) |
//! | `one_run_completions_that_bind_exhaustive`: losses | 114,707 | all (17) |
//! | `one_run_one_crash_bounded`: losses | 322,191 | 13 steps |
//! | `two_runs_one_crash_bounded`: losses | 138,249 | 9 steps |
//! | `mutation_*`: until the counterexample | about 9,000 and 210,000 | 7 and 12 |
//!
//! Each check prints its counts; each test asserts it explored more than
//! a floor. Debug profile, two cores: about 13, 4, 8 and 2 s, and under a
//! second and 5 s for the mutations.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cep_runtime::peer::{Bound, Phase, RunState};
use cep_runtime::Value;
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path, Property};
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::time::Instant;

const PEERS: usize = 3;
/// Runs a model can hold (the tests use one or two).
const MAX_RUNS: usize = 2;
/// Candidate events at each step of a run: two, so that two peers can
/// bind different events at the same step (the content tie-break).
const CANDIDATES: u8 = 2;

/// A run state as the model holds it: the phase and the candidate events
/// bound (0 or 1 at each step). [`concrete`] makes the real state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Abs {
    phase: Phase,
    events: Vec<u8>,
}

/// The real run state of an abstract one. Candidate `e` at step `i` is an
/// event that entered the cluster at peer `e` (so the two candidates of
/// one step differ in origin, time and fields).
fn concrete(a: &Abs) -> RunState {
    RunState {
        phase: a.phase,
        state: a.events.len() as u32,
        count: 0,
        key: vec![Value::Str("room1".into())],
        expires: i64::MAX,
        bound: a
            .events
            .iter()
            .enumerate()
            .map(|(i, &e)| Bound {
                binding: i as u16,
                origin: u16::from(e),
                position: i as u64 + 1,
                ty: 1,
                time: 1_000 * (i as i64 + 1) + i64::from(e),
                fields: vec![Value::Int(i64::from(e))],
            })
            .collect(),
    }
}

/// Every history over the candidates with a length in `lens`.
fn histories(lens: std::ops::RangeInclusive<usize>) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    let mut level: Vec<Vec<u8>> = vec![Vec::new()];
    for len in 0..=*lens.end() {
        if lens.contains(&len) {
            all.extend(level.iter().cloned());
        }
        level = level
            .iter()
            .flat_map(|h| {
                (0..CANDIDATES).map(move |c| {
                    let mut h = h.clone();
                    h.push(c);
                    h
                })
            })
            .collect();
    }
    all
}

/// The merge the model runs: the real one, or a broken one for the
/// mutation tests. `(local, incoming) -> local after learning incoming`.
type MergeFn = fn(RunState, RunState) -> RunState;

fn real_merge(local: RunState, incoming: RunState) -> RunState {
    local.merge(incoming)
}

/// Broken: the state that arrives last wins.
fn last_writer_wins(_local: RunState, incoming: RunState) -> RunState {
    incoming
}

/// Broken: phase and events bound, but no content tie-break (the local
/// state is kept on a tie).
fn no_tie_break(local: RunState, incoming: RunState) -> RunState {
    if (incoming.phase, incoming.bound.len()) > (local.phase, local.bound.len()) {
        incoming
    } else {
        local
    }
}

/// Every state a run can be in within the model's bounds (an `Active`
/// run has bound at most `max_active` events; completing may bind one
/// more), with the merge tabulated by calling the merge function on the
/// real states once per pair (the merge is pure; the table keeps postcard
/// out of the checker's inner loop), and each state's rank in the real
/// merge order (`RunState::order`).
struct Universe {
    states: Vec<Abs>,
    rank: Vec<usize>,
    /// `join[local][incoming]`.
    join: Vec<Vec<u8>>,
}

impl Universe {
    fn new(max_active: usize, merge: MergeFn) -> Universe {
        let mut states = Vec::new();
        for phase in [Phase::Active, Phase::Halted] {
            for events in histories(0..=max_active) {
                states.push(Abs { phase, events });
            }
        }
        for events in histories(1..=max_active + 1) {
            states.push(Abs {
                phase: Phase::Completed,
                events,
            });
        }
        assert!(states.len() <= 16, "a run's states fit a u16 bit set");
        let real: Vec<RunState> = states.iter().map(concrete).collect();
        let mut by_order: Vec<usize> = (0..states.len()).collect();
        by_order.sort_by(|&a, &b| real[a].order(&real[b]));
        let mut rank = vec![0; states.len()];
        for (r, &i) in by_order.iter().enumerate() {
            rank[i] = r;
        }
        for w in by_order.windows(2) {
            assert_eq!(
                real[w[0]].order(&real[w[1]]),
                Ordering::Less,
                "the merge order is total on distinct states"
            );
        }
        let join = real
            .iter()
            .map(|local| {
                real.iter()
                    .map(|incoming| {
                        let m = merge(local.clone(), incoming.clone());
                        real.iter()
                            .position(|s| *s == m)
                            .expect("a merge gives back one of the states it merged")
                            as u8
                    })
                    .collect()
            })
            .collect();
        Universe { states, rank, join }
    }

    fn get(&self, i: u8) -> &Abs {
        &self.states[usize::from(i)]
    }

    fn index(&self, a: &Abs) -> u8 {
        self.states
            .iter()
            .position(|s| s == a)
            .expect("a state of the universe") as u8
    }
}

/// The whole system, packed (a run's state is `0` when not held, else
/// its universe index plus one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Sys {
    /// Each peer's state of each run.
    held: [[u8; MAX_RUNS]; PEERS],
    /// Each peer's store: the completed state of each run whose complex
    /// event it wrote, stored before the write (nonzero: emitted). Kept
    /// across a crash.
    stored: [[u8; MAX_RUNS]; PEERS],
    /// The network: bit `i` of `net[to][run]`: a message carrying state
    /// `i` of `run` to peer `to` is in flight. A set: a second copy of a
    /// message in flight is the same message; a duplicate is a delivery
    /// that leaves the message in flight.
    net: [[u16; MAX_RUNS]; PEERS],
    /// Runs their origin has created (bit per run): a restarted origin
    /// makes runs under a new incarnation, never this key again.
    created: u8,
    crashes: u8,
    /// Duplicates delivered, when they are bounded.
    dups: u8,
    // Observers, for the properties.
    /// Complex events written, per peer and run (saturating at 2).
    writes: [[u8; MAX_RUNS]; PEERS],
    /// Times a peer's state of a run became `Completed` from not
    /// completed or not held, over all its lives (saturating at 2).
    completions: [[u8; MAX_RUNS]; PEERS],
    /// Bit `r` of `finished[p]`: this life of `p` has held run `r`
    /// finished.
    finished: [u8; PEERS],
    /// A peer's state of a run went down in the merge order within one
    /// of its lives.
    regressed: bool,
}

impl Sys {
    /// The same state with peers 1 and 2 swapped.
    fn swapped(&self) -> Sys {
        let mut s = *self;
        s.held.swap(1, 2);
        s.stored.swap(1, 2);
        s.net.swap(1, 2);
        s.writes.swap(1, 2);
        s.completions.swap(1, 2);
        s.finished.swap(1, 2);
        s
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Act {
    /// The peer's engine changes the run to this state (universe index).
    Local { peer: u8, run: u8, to: u8 },
    /// The network delivers a message; `keep`: and a copy of it stays in
    /// flight (a duplicate, delivered again later or lost).
    Deliver {
        to: u8,
        run: u8,
        state: u8,
        keep: bool,
    },
    /// The network loses a message.
    Drop { to: u8, run: u8, state: u8 },
    /// The peer crashes and restarts with its store.
    Crash { peer: u8 },
}

/// The model's bounds and the merge it runs.
#[derive(Clone, Copy)]
struct Config {
    runs: usize,
    /// Events an `Active` run binds at most.
    max_active: usize,
    /// The candidates each peer's engine binds (bit per candidate).
    candidates: [u8; PEERS],
    /// Completing may bind one more candidate (else a run completes with
    /// what it has bound, as one that completes at a deadline does).
    grow: bool,
    crashes: u8,
    /// Duplicate deliveries, over the whole run (`None`: any number).
    dups: Option<u8>,
    /// Leave out a message its receiver's state already covers when it is
    /// sent (see the module documentation); only for a merge that is the
    /// maximum of the order, which [`PeersModel::new`] checks.
    prune: bool,
    merge: MergeFn,
}

impl Config {
    /// One run, peer 0 binds candidate 0, peers 1 and 2 candidate 1,
    /// completions with what the run has bound, any number of duplicates
    /// and losses, no crash, the real merge.
    fn base() -> Config {
        Config {
            runs: 1,
            max_active: 1,
            candidates: [0b01, 0b10, 0b10],
            grow: false,
            crashes: 0,
            dups: None,
            prune: true,
            merge: real_merge,
        }
    }

    /// Peers 1 and 2 are interchangeable: the checker keeps one of each
    /// pair of mirror states.
    fn symmetric(&self) -> bool {
        self.runs == 1 && self.candidates[1] == self.candidates[2]
    }
}

struct PeersModel {
    cfg: Config,
    u: Universe,
    /// `local[p][i]`: what peer `p`'s engine can change a run in state
    /// `i` to: bind one more of its candidates (under the bound), halt,
    /// or complete (with what the run has bound, or binding one more of
    /// its candidates). A finished run never changes locally.
    local: Vec<Vec<Vec<u8>>>,
    /// The state a run is created in: active, nothing bound.
    created: u8,
}

impl PeersModel {
    fn new(cfg: Config) -> PeersModel {
        assert!((1..=MAX_RUNS).contains(&cfg.runs));
        let u = Universe::new(cfg.max_active, cfg.merge);
        if cfg.prune {
            let n = u.states.len();
            for a in 0..n {
                for b in 0..n {
                    let max = if u.rank[a] >= u.rank[b] { a } else { b };
                    assert_eq!(
                        usize::from(u.join[a][b]),
                        max,
                        "pruning needs the merge to be the maximum of the order"
                    );
                }
            }
        }
        let local = (0..PEERS)
            .map(|p| {
                u.states
                    .iter()
                    .map(|s| {
                        let mut to = Vec::new();
                        if s.phase != Phase::Active {
                            return to;
                        }
                        let mine: Vec<u8> = (0..CANDIDATES)
                            .filter(|c| cfg.candidates[p] & (1 << c) != 0)
                            .collect();
                        let grown = |c: u8| {
                            let mut e = s.events.clone();
                            e.push(c);
                            e
                        };
                        let mut add = |phase, events| to.push(u.index(&Abs { phase, events }));
                        if s.events.len() < cfg.max_active {
                            for &c in &mine {
                                add(Phase::Active, grown(c));
                            }
                        }
                        add(Phase::Halted, s.events.clone());
                        if !s.events.is_empty() {
                            add(Phase::Completed, s.events.clone());
                        }
                        if cfg.grow {
                            for &c in &mine {
                                add(Phase::Completed, grown(c));
                            }
                        }
                        to
                    })
                    .collect()
            })
            .collect();
        let created = u.index(&Abs {
            phase: Phase::Active,
            events: Vec::new(),
        });
        PeersModel {
            cfg,
            u,
            local,
            created,
        }
    }

    /// The peer that creates run `r`.
    fn origin(r: usize) -> usize {
        r % PEERS
    }

    fn phase(&self, held: u8) -> Option<Phase> {
        (held != 0).then(|| self.u.get(held - 1).phase)
    }

    fn rank(&self, state: u8) -> usize {
        self.u.rank[usize::from(state)]
    }

    /// Puts state `state` of run `r` in flight to peer `q`.
    fn send(&self, s: &mut Sys, q: usize, r: usize, state: u8) {
        let held = s.held[q][r];
        if self.cfg.prune && held != 0 && self.rank(held - 1) >= self.rank(state) {
            return;
        }
        s.net[q][r] |= 1 << state;
    }

    /// Peer `q` sends peer `p` its state of run `r`, if it holds one.
    fn send_held(&self, s: &mut Sys, q: usize, p: usize, r: usize) {
        let held = s.held[q][r];
        if held != 0 {
            self.send(s, p, r, held - 1);
        }
    }

    /// Peer `p` takes state `incoming` of run `r`, as `Node::local`
    /// (`local`) or `Node::receive` do: merged into what it holds; if that
    /// changed, sent on to every other peer; a run that becomes completed
    /// here for the first time gives its complex event, its state stored
    /// first.
    fn take(&self, s: &mut Sys, p: usize, r: usize, incoming: u8, local: bool) {
        let old = s.held[p][r];
        let new = if old == 0 {
            incoming
        } else {
            let n = self.u.join[usize::from(old - 1)][usize::from(incoming)];
            if self.rank(n) < self.rank(old - 1) {
                s.regressed = true;
            }
            n
        };
        let changed = old != new + 1;
        let (was, now) = (self.phase(old), self.u.get(new).phase);
        if changed {
            s.held[p][r] = new + 1;
            if now != Phase::Active {
                s.finished[p] |= 1 << r;
            }
            if now == Phase::Completed && was != Some(Phase::Completed) {
                s.completions[p][r] = (s.completions[p][r] + 1).min(2);
            }
        }
        // `Node::local` writes a completion the engine made (whatever the
        // merge did with it), `Node::receive` a run that became completed
        // here; both only if not written before (the stored mark).
        let completes = if local {
            self.u.get(incoming).phase == Phase::Completed
        } else {
            changed && now == Phase::Completed
        };
        if completes && s.stored[p][r] == 0 {
            s.stored[p][r] = s.held[p][r];
            s.writes[p][r] = (s.writes[p][r] + 1).min(2);
        }
        if changed {
            for q in (0..PEERS).filter(|&q| q != p) {
                self.send(s, q, r, new);
            }
        }
    }

    /// Nothing in flight.
    fn quiescent(s: &Sys) -> bool {
        s.net.iter().flatten().all(|&m| m == 0)
    }

    fn converged(&self, s: &Sys) -> bool {
        (0..self.cfg.runs).all(|r| s.held.iter().all(|h| h[r] == s.held[0][r]))
    }

    /// Some peer holds run `r` in a phase in `holds` with a message in
    /// flight to it carrying a state in phase `comes`.
    fn in_flight(&self, s: &Sys, holds: &[Phase], comes: Phase) -> bool {
        (0..PEERS).any(|p| {
            (0..self.cfg.runs).any(|r| {
                self.phase(s.held[p][r])
                    .is_some_and(|ph| holds.contains(&ph))
                    && (0..self.u.states.len() as u8)
                        .any(|i| s.net[p][r] & (1 << i) != 0 && self.u.get(i).phase == comes)
            })
        })
    }

    fn show(&self, held: u8) -> String {
        if held == 0 {
            "-".to_string()
        } else {
            let a = self.u.get(held - 1);
            format!("{:?}{:?}", a.phase, a.events)
        }
    }

    fn show_sys(&self, s: &Sys) -> String {
        let runs = self.cfg.runs;
        let mut peers = Vec::new();
        for p in 0..PEERS {
            let held: Vec<String> = (0..runs).map(|r| self.show(s.held[p][r])).collect();
            let stored: Vec<String> = (0..runs).map(|r| self.show(s.stored[p][r])).collect();
            let mut flight = Vec::new();
            for r in 0..runs {
                for i in 0..self.u.states.len() as u8 {
                    if s.net[p][r] & (1 << i) != 0 {
                        flight.push(format!("r{r} {}", self.show(i + 1)));
                    }
                }
            }
            peers.push(format!(
                "{p}: {} (stored {}) inbox {{{}}}",
                held.join(","),
                stored.join(","),
                flight.join(", ")
            ));
        }
        peers.join(" | ")
    }

    fn show_act(&self, act: &Act) -> String {
        match *act {
            Act::Local { peer, run, to } => {
                format!("peer {peer} changes r{run} to {}", self.show(to + 1))
            }
            Act::Deliver {
                to,
                run,
                state,
                keep,
            } => format!(
                "deliver r{run} {} to {to}{}",
                self.show(state + 1),
                if keep {
                    " (a copy stays in flight)"
                } else {
                    ""
                }
            ),
            Act::Drop { to, run, state } => {
                format!("lose r{run} {} to {to}", self.show(state + 1))
            }
            Act::Crash { peer } => format!("peer {peer} crashes and restarts"),
        }
    }

    /// A path, one line per state and step, states spelled out. The
    /// checker keeps one of each pair of mirror states, so its path may
    /// swap peers 1 and 2 from one step to the next: it is replayed here
    /// with the labels of the first state throughout.
    fn explain(&self, path: Path<Sys, Act>) -> String {
        let mirror = |p: u8| match p {
            1 => 2,
            2 => 1,
            p => p,
        };
        let mut out = String::new();
        let mut steps = path.into_vec().into_iter();
        let Some((mut real, mut act)) = steps.next() else {
            return out;
        };
        let mut flipped = false;
        loop {
            out.push_str(&format!("    {}\n", self.show_sys(&real)));
            let Some(a) = act else { break };
            let a = if flipped {
                match a {
                    Act::Local { peer, run, to } => Act::Local {
                        peer: mirror(peer),
                        run,
                        to,
                    },
                    Act::Deliver {
                        to,
                        run,
                        state,
                        keep,
                    } => Act::Deliver {
                        to: mirror(to),
                        run,
                        state,
                        keep,
                    },
                    Act::Drop { to, run, state } => Act::Drop {
                        to: mirror(to),
                        run,
                        state,
                    },
                    Act::Crash { peer } => Act::Crash { peer: mirror(peer) },
                }
            } else {
                a
            };
            out.push_str(&format!("  -> {}\n", self.show_act(&a)));
            real = self.apply(&real, &a);
            flipped = self.canonical(real) != real;
            match steps.next() {
                Some((_, next)) => act = next,
                None => break,
            }
        }
        out
    }
}

impl Model for PeersModel {
    type State = Sys;
    type Action = Act;

    fn init_states(&self) -> Vec<Sys> {
        vec![Sys {
            held: [[0; MAX_RUNS]; PEERS],
            stored: [[0; MAX_RUNS]; PEERS],
            net: [[0; MAX_RUNS]; PEERS],
            created: 0,
            crashes: 0,
            dups: 0,
            writes: [[0; MAX_RUNS]; PEERS],
            completions: [[0; MAX_RUNS]; PEERS],
            finished: [0; PEERS],
            regressed: false,
        }]
    }

    fn actions(&self, s: &Sys, actions: &mut Vec<Act>) {
        for p in 0..PEERS {
            for r in 0..self.cfg.runs {
                let (peer, run) = (p as u8, r as u8);
                match s.held[p][r] {
                    0 if p == Self::origin(r) && s.created & (1 << r) == 0 => {
                        actions.push(Act::Local {
                            peer,
                            run,
                            to: self.created,
                        });
                    }
                    0 => {}
                    held => {
                        for &to in &self.local[p][usize::from(held - 1)] {
                            actions.push(Act::Local { peer, run, to });
                        }
                    }
                }
            }
        }
        let dup = self.cfg.dups.is_none_or(|d| s.dups < d);
        for to in 0..PEERS as u8 {
            for run in 0..self.cfg.runs as u8 {
                let inbox = s.net[usize::from(to)][usize::from(run)];
                for state in (0..self.u.states.len() as u8).filter(|i| inbox & (1 << i) != 0) {
                    let deliver = |keep| Act::Deliver {
                        to,
                        run,
                        state,
                        keep,
                    };
                    actions.push(deliver(false));
                    if dup {
                        actions.push(deliver(true));
                    }
                    actions.push(Act::Drop { to, run, state });
                }
            }
        }
        if s.crashes < self.cfg.crashes {
            for peer in 0..PEERS as u8 {
                actions.push(Act::Crash { peer });
            }
        }
    }

    fn next_state(&self, last: &Sys, act: Act) -> Option<Sys> {
        let s = self.canonical(self.apply(last, &act));
        (s != *last).then_some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let mut props = vec![
            Property::<Self>::always("no double emit", |m, s| {
                s.writes
                    .iter()
                    .all(|w| w[..m.cfg.runs].iter().all(|&w| w <= 1))
            }),
            Property::<Self>::always("completed once", |m, s| {
                s.completions
                    .iter()
                    .all(|c| c[..m.cfg.runs].iter().all(|&c| c <= 1))
            }),
            Property::<Self>::always("monotone", |_, s| !s.regressed),
            Property::<Self>::always("no stale undo", |m, s| {
                (0..PEERS).all(|p| {
                    (0..m.cfg.runs).all(|r| {
                        let phase = m.phase(s.held[p][r]);
                        let finished = s.finished[p] & (1 << r) == 0
                            || phase.is_some_and(|ph| ph != Phase::Active);
                        let kept = s.stored[p][r] == 0 || phase == Some(Phase::Completed);
                        finished && kept
                    })
                })
            }),
            Property::<Self>::always("convergence", |m, s| {
                !PeersModel::quiescent(s) || m.converged(s)
            }),
            Property::<Self>::always("one completion content", |m, s| {
                !PeersModel::quiescent(s)
                    || (0..m.cfg.runs).all(|r| {
                        let done: BTreeSet<&Vec<u8>> = s
                            .held
                            .iter()
                            .filter(|h| m.phase(h[r]) == Some(Phase::Completed))
                            .map(|h| &m.u.get(h[r] - 1).events)
                            .collect();
                        done.len() <= 1
                    })
            }),
            Property::<Self>::always("written everywhere", |m, s| {
                !PeersModel::quiescent(s)
                    || (0..m.cfg.runs).all(|r| {
                        s.stored.iter().all(|st| st[r] == 0)
                            || (0..PEERS).all(|p| {
                                s.stored[p][r] != 0
                                    && m.phase(s.held[p][r]) == Some(Phase::Completed)
                            })
                    })
            }),
            // The model reaches what it is for: two peers completed one
            // run with different events and wrote each its own, and the
            // cluster settled on one of them.
            Property::<Self>::sometimes("rival completions settled", |m, s| {
                PeersModel::quiescent(s)
                    && m.converged(s)
                    && (0..m.cfg.runs).any(|r| {
                        let written: BTreeSet<u8> = s
                            .stored
                            .iter()
                            .map(|st| st[r])
                            .filter(|&i| i != 0)
                            .collect();
                        written.len() > 1
                    })
            }),
            // A stale update on its way to a peer that finished the run.
            Property::<Self>::sometimes("stale update in flight", |m, s| {
                m.in_flight(s, &[Phase::Halted, Phase::Completed], Phase::Active)
            }),
            // A completion on its way to a peer that halted the run.
            Property::<Self>::sometimes("completion after a halt in flight", |m, s| {
                m.in_flight(s, &[Phase::Halted], Phase::Completed)
            }),
        ];
        if self.cfg.crashes > 0 {
            props.push(Property::<Self>::sometimes(
                "settled after a crash",
                |m, s| {
                    s.crashes > 0
                        && PeersModel::quiescent(s)
                        && (0..m.cfg.runs).any(|r| s.stored.iter().all(|st| st[r] != 0))
                },
            ));
        }
        props
    }
}

impl PeersModel {
    /// The state after `act`, as is (not the representative of its pair
    /// of mirror states).
    fn apply(&self, last: &Sys, act: &Act) -> Sys {
        let mut s = *last;
        match *act {
            Act::Local { peer, run, to } => {
                let (p, r) = (usize::from(peer), usize::from(run));
                s.created |= 1 << r;
                self.take(&mut s, p, r, to, true);
            }
            Act::Deliver {
                to,
                run,
                state,
                keep,
            } => {
                let (p, r) = (usize::from(to), usize::from(run));
                if !keep {
                    s.net[p][r] &= !(1 << state);
                } else if self.cfg.dups.is_some() {
                    s.dups += 1;
                }
                self.take(&mut s, p, r, state, false);
            }
            Act::Drop { to, run, state } => {
                let (p, r) = (usize::from(to), usize::from(run));
                s.net[p][r] &= !(1 << state);
                // Not acknowledged: sent again, as the run's state now, by
                // every peer that holds it (a message does not name its
                // sender; the others' copies change nothing more).
                for q in (0..PEERS).filter(|&q| q != p) {
                    self.send_held(&mut s, q, p, r);
                }
            }
            Act::Crash { peer } => {
                let p = usize::from(peer);
                s.crashes += 1;
                // Back with its store: the emitted marks and the completed
                // state of each. Active and halted runs are gone, and so
                // is what it had yet to send.
                s.held[p] = s.stored[p];
                s.finished[p] = 0;
                for r in 0..self.cfg.runs {
                    if s.stored[p][r] != 0 {
                        s.finished[p] |= 1 << r;
                    }
                    for q in (0..PEERS).filter(|&q| q != p) {
                        // Its stored completions, in its stash to every
                        // peer; and every peer answers its RESET with a
                        // RESYNC of everything it holds.
                        self.send_held(&mut s, p, q, r);
                        self.send_held(&mut s, q, p, r);
                    }
                }
            }
        }
        s
    }

    /// The representative of a state and its mirror (peers 1 and 2
    /// swapped) when they are interchangeable.
    fn canonical(&self, s: Sys) -> Sys {
        if self.cfg.symmetric() {
            s.min(s.swapped())
        } else {
            s
        }
    }
}

/// What one check explored and found.
struct Outcome {
    states: usize,
    /// The whole state space (within the depth bound) was explored.
    done: bool,
    /// Properties with a counterexample.
    broken: Vec<&'static str>,
    /// `sometimes` properties without an example.
    unseen: Vec<&'static str>,
}

/// Checks the model breadth first (to `max_depth` steps if given, else
/// the whole state space) until `stop`, prints what was explored and
/// every counterexample.
fn check(name: &str, cfg: Config, max_depth: Option<usize>, stop: HasDiscoveries) -> Outcome {
    let start = Instant::now();
    let mut builder = PeersModel::new(cfg).checker().finish_when(stop);
    builder = match max_depth {
        // One thread: breadth first in order, so a bound on the depth
        // always explores the same states.
        Some(d) => builder.threads(1).target_max_depth(d),
        None => builder.threads(2),
    };
    let checker = builder.spawn_bfs().join();
    let states = checker.unique_state_count();
    println!(
        "{name}: {states} states ({} generated), depth {}, {:.1} s",
        checker.state_count(),
        checker.max_depth(),
        start.elapsed().as_secs_f64()
    );
    let model = checker.model();
    let (mut broken, mut unseen) = (Vec::new(), Vec::new());
    for p in model.properties() {
        match (p.expectation, checker.discovery(p.name)) {
            (Expectation::Sometimes, Some(_)) => println!("  {}: example found", p.name),
            (Expectation::Sometimes, None) => {
                println!("  {}: no example", p.name);
                unseen.push(p.name);
            }
            (_, Some(path)) => {
                println!("  {}: COUNTEREXAMPLE\n{}", p.name, model.explain(path));
                broken.push(p.name);
            }
            (_, None) => println!("  {}: holds", p.name),
        }
    }
    Outcome {
        states,
        done: checker.is_done(),
        broken,
        unseen,
    }
}

/// Every property holds, every `sometimes` property has an example, over
/// more than `floor` states.
fn assert_all_hold(o: &Outcome, floor: usize) {
    assert!(o.done, "the check did not finish");
    assert!(o.broken.is_empty(), "counterexamples: {:?}", o.broken);
    assert!(o.unseen.is_empty(), "never reached: {:?}", o.unseen);
    assert!(o.states > floor, "explored only {} states", o.states);
}

/// One run, every interleaving: peer 0 creates the run; each peer binds
/// its candidate, halts or completes whenever it holds the run active;
/// any message may be delivered in any order, any number of times, or
/// lost (and sent again).
#[test]
fn one_run_exhaustive() {
    let o = check(
        "one run, no crash, duplicates and losses (exhaustive)",
        Config::base(),
        None,
        HasDiscoveries::AllFailures,
    );
    assert_all_hold(&o, 200_000);
}

/// One run, every interleaving, with completions that bind one more
/// event (so completed states of different lengths meet); losses, no
/// duplicates.
#[test]
fn one_run_completions_that_bind_exhaustive() {
    let o = check(
        "one run, completions that bind, losses (exhaustive)",
        Config {
            grow: true,
            dups: Some(0),
            ..Config::base()
        },
        None,
        HasDiscoveries::AllFailures,
    );
    assert_all_hold(&o, 100_000);
}

/// One run and one crash of any peer at any point, every interleaving of
/// up to 13 steps; losses, no duplicates.
#[test]
fn one_run_one_crash_bounded() {
    let o = check(
        "one run, one crash, losses (13 steps)",
        Config {
            crashes: 1,
            dups: Some(0),
            ..Config::base()
        },
        Some(13),
        HasDiscoveries::AllFailures,
    );
    assert_all_hold(&o, 250_000);
}

/// Two runs (created by peers 0 and 1) and one crash, every interleaving
/// of up to 9 steps: a crash keeps one run's completion and loses the
/// other's progress, a RESYNC carries both. Too short to settle, so the
/// `sometimes` properties are not required here.
#[test]
fn two_runs_one_crash_bounded() {
    let o = check(
        "two runs, one crash, losses (9 steps)",
        Config {
            runs: 2,
            crashes: 1,
            dups: Some(0),
            ..Config::base()
        },
        Some(9),
        HasDiscoveries::AllFailures,
    );
    assert!(o.done, "the check did not finish");
    assert!(o.broken.is_empty(), "counterexamples: {:?}", o.broken);
    assert!(o.states > 100_000, "explored only {} states", o.states);
}

/// The limit of the crash story, played step by step: a halt is not
/// stored, so a peer that halts a run and crashes before any peer takes
/// the halt (both its messages lost) holds the run active again once a
/// peer resyncs it; every property holds all along (the halt belonged to
/// its earlier life).
#[test]
fn a_halt_lost_in_a_crash_comes_back_active() {
    let m = PeersModel::new(Config {
        crashes: 1,
        ..Config::base()
    });
    let st = |phase| {
        m.u.index(&Abs {
            phase,
            events: Vec::new(),
        })
    };
    let (active, halted) = (st(Phase::Active), st(Phase::Halted));
    let local = |peer, to| Act::Local { peer, run: 0, to };
    let deliver = |to, state| Act::Deliver {
        to,
        run: 0,
        state,
        keep: false,
    };
    let lose = |to, state| Act::Drop { to, run: 0, state };
    let steps = [
        local(0, active),
        deliver(1, active),
        deliver(2, active),
        local(0, halted),
        Act::Crash { peer: 0 },
        lose(1, halted),
        lose(2, halted),
        deliver(0, active),
    ];
    let mut s = m.init_states()[0];
    for act in &steps {
        s = m.apply(&s, act);
        for p in m.properties() {
            if p.expectation == Expectation::Always {
                assert!(
                    (p.condition)(&m, &s),
                    "{} after {}",
                    p.name,
                    m.show_act(act)
                );
            }
        }
    }
    println!("{}", m.show_sys(&s));
    assert!(PeersModel::quiescent(&s));
    assert!(
        s.held.iter().all(|h| h[0] == active + 1),
        "all active again"
    );
}

/// The model catches a broken merge: "the state that arrives last wins"
/// lets a stale update undo a completion.
#[test]
fn mutation_last_writer_wins_is_caught() {
    let o = check(
        "mutation: last writer wins",
        Config {
            prune: false,
            merge: last_writer_wins,
            ..Config::base()
        },
        None,
        HasDiscoveries::AnyFailures,
    );
    assert!(
        o.broken.contains(&"monotone") && o.broken.contains(&"no stale undo"),
        "not caught: {:?}",
        o.broken
    );
}

/// The model catches a merge without the content tie-break: two peers
/// that bind different events at the same step keep each its own.
#[test]
fn mutation_without_the_tie_break_is_caught() {
    let o = check(
        "mutation: no content tie-break",
        Config {
            prune: false,
            dups: Some(0),
            merge: no_tie_break,
            ..Config::base()
        },
        None,
        HasDiscoveries::AnyOf(BTreeSet::from(["convergence"])),
    );
    assert!(
        o.broken.contains(&"convergence"),
        "not caught: {:?}",
        o.broken
    );
}

/// The merge laws over every pair and triple of a set of states of one
/// run: every phase, every history of up to three events over the
/// candidates, and states that tie on phase and events bound but differ
/// in the automaton state, the group count or a NaN field. Commutative,
/// associative, idempotent; the result is one of the two and at least
/// both in the merge order; `ahead_of` says when merging changes a state.
#[test]
fn merge_laws_exhaustive() {
    let mut all: Vec<RunState> = Vec::new();
    for phase in [Phase::Active, Phase::Halted, Phase::Completed] {
        for events in histories(0..=3) {
            all.push(concrete(&Abs { phase, events }));
        }
    }
    let base = concrete(&Abs {
        phase: Phase::Active,
        events: vec![0, 1],
    });
    let mut moved = base.clone();
    moved.state = 7;
    let mut grouped = base.clone();
    grouped.count = 3;
    let mut nan = base.clone();
    nan.bound[1].fields = vec![Value::Float(f64::NAN)];
    let mut halted_nan = nan.clone();
    halted_nan.phase = Phase::Halted;
    all.extend([moved, grouped, nan, halted_nan]);
    let same = |a: &RunState, b: &RunState| a.order(b) == Ordering::Equal;
    let mut triples = 0u64;
    for a in &all {
        assert!(same(&a.clone().merge(a.clone()), a), "idempotent");
        for b in &all {
            let ab = a.clone().merge(b.clone());
            assert!(same(&ab, &b.clone().merge(a.clone())), "commutative");
            assert!(same(&ab, a) || same(&ab, b), "one of the two");
            assert_ne!(ab.order(a), Ordering::Less, "at least the first");
            assert_ne!(ab.order(b), Ordering::Less, "at least the second");
            assert_eq!(b.ahead_of(a), !same(&a.clone().merge(b.clone()), a));
            for c in &all {
                let l = ab.clone().merge(c.clone());
                let r = a.clone().merge(b.clone().merge(c.clone()));
                assert!(same(&l, &r), "associative");
                triples += 1;
            }
        }
    }
    println!("merge laws: {} states, {triples} triples", all.len());
    assert_eq!(triples, (all.len() as u64).pow(3));
    assert!(all.len() > 40);
}
