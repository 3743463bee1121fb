//! Peers share run state: BoboCEP's distributed protocol (shared seeds
//! 000 and 001) as a pure state machine, one per runtime instance.
//!
//! A [`Node`] holds the merged state of every run it knows (its own and
//! those peers told it about) and a link per peer. Inputs, each with the
//! time they happen at (ms on the clock the edge passes in; no wall clock
//! is read here): a local run change ([`Node::local`]), the bytes of a
//! message from a peer ([`Node::receive`]), "time is now T"
//! ([`Node::tick`]), the local watermark ([`Node::watermark`]), a peer
//! became reachable ([`Node::connected`]). Outputs ([`Out`]): messages to
//! send, run states to adopt, complex events to write, refusals.
//!
//! - **SYNC** carries the current state of every run changed since the
//!   last SYNC to that peer (the **stash**, compacted: one entry per run,
//!   whatever number of changes it had). A stash entry leaves only when
//!   the peer acknowledges the message that carried it (never because a
//!   write returned); messages not acknowledged within `retry_ms` are
//!   sent again, with their runs' current state.
//! - **PING**, after `ping_ms` without sending a peer anything.
//! - **RESYNC**: a peer not heard from for `resync_ms` enters the resync
//!   period; its stash is wiped and, once it is heard from again (or
//!   every `resync_ms` while it is not, for a one-way partition), it gets
//!   the whole state in parts: the active runs and the retained finished
//!   runs (the last `cache` finished, and any not yet past its window).
//! - **RESET**: every message of a node that has just started carries it
//!   until each peer acknowledges the node's incarnation; a peer answers
//!   a RESET with a RESYNC, once per incarnation.
//! - Merging is [`RunState::merge`] (a total order, so duplicates,
//!   reordering and RESYNCs are harmless); a run changed by a peer is
//!   passed on to the others too, so three peers converge when any two
//!   links work.
//! - A run that becomes complete here for the first time gives its
//!   complex event ([`Out::Complex`]), once: the node keeps the runs it
//!   has emitted (the edge stores them, so across restarts too). A node
//!   that started without a store does not write the complex events of
//!   runs a peer reports complete before that peer's first whole RESYNC
//!   (the one that answers its RESET) has come: they completed before it
//!   joined.

pub mod bridge;
pub mod member;
pub mod merge;
pub mod order;
mod send;
pub mod wire;

pub use merge::{Bound, Phase, RunKey, RunState};

/// The name of a cluster run, as outputs, stores and step sequences give
/// it: `<origin>-<pattern>-<incarnation>.<n>` (`A-Heatwave-2.17`), with
/// `names` the members' names by index (`?` for an index or pattern out
/// of range).
pub fn run_name(names: &[String], program: &cep_ir::Program, run: &RunKey) -> String {
    let origin = names
        .get(usize::from(run.origin))
        .map_or("?", String::as_str);
    let pattern = program
        .patterns
        .get(run.pattern as usize)
        .map_or("?", |p| p.name.as_str());
    format!("{origin}-{pattern}-{}.{}", run.incarnation, run.n)
}
pub use order::{Ahead, Frontier};

/// Finished runs are forgotten at most once per this many ms of the
/// node's clock (a finished run kept a little longer changes nothing).
const PRUNE_MS: i64 = 20;
pub use wire::{Ack, Body, Envelope, WireError, PROTOCOL};

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

/// The protocol's periods and bounds. Times in milliseconds of the clock
/// passed to the node.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// PING a peer that has been sent nothing for this long. Default 2 s.
    pub ping_ms: i64,
    /// A peer not heard from for this long is in the resync period: its
    /// stash is wiped, it gets a RESYNC, and it no longer holds the
    /// cluster watermark back. Default 30 s.
    pub resync_ms: i64,
    /// Messages not acknowledged for this long are sent again. Default
    /// 500 ms. While none is acknowledged, the wait doubles at every try,
    /// up to a quarter of `resync_ms` (a peer slow to read is not flooded
    /// with copies); an acknowledgement brings it back.
    pub retry_ms: i64,
    /// Messages in flight (sent, not acknowledged) per peer. Default 64.
    pub window: usize,
    /// Runs waiting for a peer (stash and in flight); past it the stash
    /// is dropped and the peer gets a RESYNC instead. Default 100,000.
    pub stash_limit: usize,
    /// Back-pressure: while runs wait in the stash for a peer in reach
    /// this many or more, the member processes no more own items
    /// ([`Node::congested`]) until that peer has taken some. Default
    /// 4,096.
    pub backlog: usize,
    /// Finished (completed and halted) runs kept for a RESYNC, the most
    /// recent first. Default 1,000.
    pub cache: usize,
    /// The largest message, in bytes. Default 60 KiB, so that a message
    /// fits one Noise transport message (65,535 bytes with its tag).
    pub max_frame: usize,
    /// A peer is told this node's new frontier ([`order`]) by a message
    /// of its own at most once per this period (a message with run
    /// changes always carries it). 0, the default: at once, so a peer
    /// waiting for this one goes on without delay.
    pub announce_ms: i64,
    /// The rules this node runs (a hash of the compiled program, e.g. the
    /// low 64 bits of `Program::program_hash`): every message carries it,
    /// and one from a peer running other rules is refused (run states of
    /// other patterns would be misread). 0 by default.
    pub program: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            ping_ms: 2_000,
            resync_ms: 30_000,
            retry_ms: 500,
            window: 64,
            stash_limit: 100_000,
            backlog: 4_096,
            cache: 1_000,
            max_frame: 60 * 1024,
            announce_ms: 0,
            program: 0,
        }
    }
}

/// What a node asks of the edge.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    /// Send these bytes (one frame, at most `Settings::max_frame`) to
    /// member `to`; `kind` for counting.
    #[allow(missing_docs)]
    Send { to: u16, kind: Kind, bytes: Vec<u8> },
    /// A peer moved run `run` forward: the engine takes `state` over.
    #[allow(missing_docs)]
    Applied { run: RunKey, state: RunState },
    /// Run `run` completed elsewhere and had not completed here: write
    /// its complex event, from `state` (once; the run is now in
    /// [`Node::emitted`]).
    #[allow(missing_docs)]
    Complex { run: RunKey, state: RunState },
    /// A message (from member `from`, when known) was not taken, and why.
    #[allow(missing_docs)]
    Refused { from: Option<u16>, why: Refusal },
    /// Run `run`'s state is `bytes` long, larger than a frame: it cannot
    /// be shared.
    #[allow(missing_docs)]
    Oversized { run: RunKey, bytes: usize },
}

/// The kind of a message, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Run changes (and the frontier).
    Sync,
    /// Nothing to send for a while.
    Ping,
    /// A part of the whole state.
    Resync,
    /// An acknowledgement alone.
    Ack,
}

/// Why a message was not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The bytes are not a message of this protocol version.
    Wire(WireError),
    /// The sender runs other rules (its program hash).
    OtherProgram(u64),
    /// The sender is not a member (or is this node).
    UnknownSender(u16),
    /// The envelope names another sender than the connection it came on
    /// (authenticated by the transport): `(named, connection)`.
    WrongSender(u16, u16),
    /// From an earlier incarnation or stream of its sender (a replay).
    Stale,
    /// Already taken (a duplicate or a replay).
    Duplicate,
    /// A message before it is missing; the sender will send it again.
    Gap,
}

/// Counts kept by a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages sent (resends and acknowledgements included).
    pub sent: u64,
    /// Bytes of the messages sent (before the transport's framing).
    pub bytes_sent: u64,
    /// Messages taken (sequenced ones and acknowledgements).
    pub received: u64,
    /// Messages refused, every reason.
    pub refused: u64,
    /// Of `refused`, those out of order (a gap, to be sent again; a
    /// duplicate; a frame of a stream or incarnation already replaced):
    /// what the protocol's own resends and RESYNCs leave behind on a
    /// faulty network, not an attack (the transport refuses replays of
    /// recorded connections before they reach the node).
    pub out_of_order: u64,
    /// RESYNCs started (to any peer).
    pub resyncs: u64,
    /// Complex events of runs completed elsewhere, written here.
    pub learned: u64,
    /// Completed runs learned from a RESYNC after starting without a
    /// store: marked as emitted, not written.
    pub silent: u64,
}

/// What was sent and not yet acknowledged.
#[derive(Clone, Debug)]
/// A message is sent again byte for byte: its runs' later changes are
/// in the stash already, and the watermark it announced stays true (every
/// change below it was in this message or an earlier one).
struct Sent {
    seq: u64,
    kind: Kind,
    runs: Vec<RunKey>,
    bytes: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum SentKind {
    Sync,
    Ping,
    Resync { part: u32, last: bool },
}

/// This node's view of one peer.
#[derive(Clone, Debug)]
struct Link {
    // Our stream to the peer.
    stream: u32,
    next_seq: u64,
    acked: u64,
    stash: BTreeSet<RunKey>,
    inflight: VecDeque<Sent>,
    /// Runs of a RESYNC in progress, not yet sent.
    resync_queue: VecDeque<RunKey>,
    resync_part: u32,
    last_sent: i64,
    last_progress: i64,
    /// What the next message announces: this node's watermark as of the
    /// last time nothing for the peer was waiting to be put in a message.
    announced: Frontier,
    announced_end: bool,
    /// The frontier the last message to the peer carried, and when.
    sent_frontier: (Frontier, bool),
    /// The lookahead the last message carried (horizon, number of keys).
    sent_ahead: Option<(Frontier, usize)>,
    /// The wait before messages are sent again, grown while none is
    /// acknowledged (0: `retry_ms`).
    retry: i64,
    last_announce: i64,
    /// We send RESET until the peer acknowledges our incarnation.
    reset_pending: bool,
    // The peer's stream to us: (incarnation, stream, next seq expected).
    from: Option<(u32, u32, u64)>,
    to_ack: bool,
    heard: i64,
    frontier: Frontier,
    /// The peer's lookahead ([`Ahead`]), latest of its life.
    ahead: Option<Ahead>,
    ended: bool,
    // The resync period.
    out_of_reach: bool,
    resync_wanted: bool,
    last_resync: i64,
    /// The peer incarnation whose RESET we have answered.
    reset_answered: Option<u32>,
    /// Completions the peer reports until its first whole RESYNC has come
    /// are not written (we started without a store: they completed
    /// before we joined).
    silent: bool,
}

impl Link {
    fn new(now: i64, fresh: bool) -> Link {
        Link {
            stream: 1,
            next_seq: 1,
            acked: 0,
            stash: BTreeSet::new(),
            inflight: VecDeque::new(),
            resync_queue: VecDeque::new(),
            resync_part: 0,
            last_sent: now,
            last_progress: now,
            announced: Frontier::START,
            announced_end: false,
            sent_frontier: (Frontier::START, false),
            sent_ahead: None,
            retry: 0,
            last_announce: i64::MIN,
            reset_pending: true,
            from: None,
            to_ack: false,
            heard: now,
            frontier: Frontier::START,
            ahead: None,
            ended: false,
            out_of_reach: false,
            resync_wanted: false,
            last_resync: i64::MIN,
            reset_answered: None,
            silent: fresh,
        }
    }

    /// Heard from: a peer back from the resync period gets the whole
    /// state now (nothing was stashed for it meanwhile).
    fn back_in_reach(&mut self) {
        if self.out_of_reach {
            self.out_of_reach = false;
            self.resync_wanted = true;
            self.last_resync = i64::MIN;
        }
    }

    fn waiting(&self) -> usize {
        self.stash.len()
            + self.resync_queue.len()
            + self.inflight.iter().map(|s| s.runs.len()).sum::<usize>()
    }
}

/// What a node keeps across a restart (the edge's store): the runs it
/// has emitted the complex event of, and the state of each of those
/// runs, stored before the complex event was written (write-ahead): a
/// node that crashes right after writing a complex event, before any
/// peer heard of the completion, shares it again when it is back, so
/// the cluster does not settle on another end for a run it wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Restored {
    /// The runs whose complex event was written in an earlier life.
    pub emitted: HashSet<RunKey>,
    /// Their completed states, shared again with the peers.
    pub completed: BTreeMap<RunKey, RunState>,
}

/// One runtime instance's side of the protocol.
pub struct Node {
    me: u16,
    incarnation: u32,
    settings: Settings,
    runs: BTreeMap<RunKey, RunState>,
    /// Finished runs by (end of window, run), to forget them once the
    /// cluster watermark has passed it.
    finished: BTreeSet<(i64, RunKey)>,
    /// The most recently finished runs, kept for RESYNC.
    cache: VecDeque<RunKey>,
    cached: HashSet<RunKey>,
    emitted: HashSet<RunKey>,
    links: Vec<Option<Link>>,
    now: i64,
    frontier: Frontier,
    /// This node's lookahead, announced on every message.
    ahead: Option<Ahead>,
    /// The watermark and the time of the last prune.
    pruned: (i64, i64),
    ended: bool,
    counter: u64,
    stats: Stats,
}

impl Node {
    /// Member `me` of a cluster of `members` (indices of the sorted member
    /// names), in its `incarnation` (1 on the first start; the edge adds
    /// one at every restart and stores it), at time `now`. `restored` is
    /// what the store kept, `None` without a store.
    pub fn new(
        me: u16,
        members: u16,
        incarnation: u32,
        settings: Settings,
        restored: Option<Restored>,
        now: i64,
    ) -> Node {
        let fresh = restored.is_none();
        let restored = restored.unwrap_or_default();
        let mut node = Node {
            me,
            incarnation,
            settings,
            runs: BTreeMap::new(),
            finished: BTreeSet::new(),
            cache: VecDeque::new(),
            cached: HashSet::new(),
            emitted: restored.emitted,
            links: (0..members)
                .map(|m| (m != me).then(|| Link::new(now, fresh)))
                .collect(),
            now,
            frontier: Frontier::START,
            ahead: None,
            pruned: (i64::MIN, i64::MIN),
            ended: false,
            counter: 0,
            stats: Stats::default(),
        };
        for (run, state) in restored.completed {
            node.adopt(run, state, None);
        }
        node
    }

    /// A new run id of this node's incarnation for `pattern`.
    pub fn next_key(&mut self, pattern: u32) -> RunKey {
        self.counter += 1;
        RunKey {
            pattern,
            origin: self.me,
            incarnation: self.incarnation,
            n: self.counter,
        }
    }

    /// This node's member index.
    pub fn me(&self) -> u16 {
        self.me
    }

    /// This node's incarnation (1 on the first start).
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// Its counts since it started.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The state of a run, if the node knows it.
    pub fn state(&self, run: &RunKey) -> Option<&RunState> {
        self.runs.get(run)
    }

    /// Every run the node holds, by key.
    pub fn runs(&self) -> &BTreeMap<RunKey, RunState> {
        &self.runs
    }

    /// The runs whose complex event this node has written (or, after a
    /// start without a store, marked): what the edge stores.
    pub fn emitted(&self) -> &HashSet<RunKey> {
        &self.emitted
    }

    /// Run states waiting to reach peers (stashes, RESYNCs in progress,
    /// in flight), over all peers.
    pub fn stash_size(&self) -> usize {
        self.links.iter().flatten().map(Link::waiting).sum()
    }

    /// Back-pressure ([`Settings::backlog`]): a peer in reach has that
    /// many runs or more waiting in its stash.
    pub fn congested(&self) -> bool {
        let limit = self.settings.backlog.max(1);
        self.links
            .iter()
            .flatten()
            .any(|l| !l.out_of_reach && l.stash.len() >= limit)
    }

    /// Nothing waits to be sent or acknowledged, to any peer in reach.
    pub fn settled(&self) -> bool {
        self.links
            .iter()
            .flatten()
            .all(|l| l.out_of_reach || (l.waiting() == 0 && !l.resync_wanted && !l.reset_pending))
    }

    /// Peers in the resync period.
    pub fn out_of_reach(&self) -> Vec<u16> {
        (0..self.links.len() as u16)
            .filter(|&m| self.link(m).is_some_and(|l| l.out_of_reach))
            .collect()
    }

    /// Peers in the resync period whose input had not ended: the run
    /// went on without them (what the others write may then differ from
    /// a single instance's, docs/peers.md).
    pub fn missing(&self) -> Vec<u16> {
        (0..self.links.len() as u16)
            .filter(|&m| self.link(m).is_some_and(|l| l.out_of_reach && !l.ended))
            .collect()
    }

    /// The cluster watermark: the least of this node's watermark and the
    /// watermarks its peers announced, leaving out peers in the resync
    /// period (they no longer hold time back).
    pub fn cluster_watermark(&self) -> i64 {
        self.links
            .iter()
            .flatten()
            .filter(|l| !l.out_of_reach)
            .map(|l| l.frontier.time)
            .fold(self.frontier.time, i64::min)
    }

    /// The edge lost its connection to `peer`. A peer whose input had
    /// ended and that this node has nothing left to tell (its last
    /// message acknowledged) has left for good: it no longer holds this
    /// node back, as if it were in the resync period (it comes back in
    /// reach, and gets a RESYNC, if it speaks again). Otherwise nothing
    /// changes: the connection may come back.
    pub fn departed(&mut self, peer: u16) {
        if let Some(l) = self.link_mut(peer) {
            if l.ended && l.frontier == Frontier::END && l.waiting() == 0 {
                l.out_of_reach = true;
                l.inflight.clear();
            }
        }
    }

    /// Every peer in reach has said its input ended and that it has
    /// nothing left to process (no deadline either): nothing more will
    /// come from it.
    pub fn peers_ended(&self) -> bool {
        self.links
            .iter()
            .flatten()
            .all(|l| l.out_of_reach || (l.ended && l.frontier == Frontier::END))
    }

    fn link(&self, m: u16) -> Option<&Link> {
        self.links.get(usize::from(m)).and_then(Option::as_ref)
    }

    fn link_mut(&mut self, m: u16) -> Option<&mut Link> {
        self.links.get_mut(usize::from(m)).and_then(Option::as_mut)
    }

    /// This node's watermark is now `w` (event time, ms): every run
    /// change it made below `w` has been given to [`Node::local`].
    pub fn watermark(&mut self, w: i64) {
        self.frontier(Frontier::before(w));
    }

    /// The next item this node announced last ([`Node::frontier`]).
    pub fn announced(&self) -> Frontier {
        self.frontier
    }

    /// This node's next item is at `f` or later ([`order`]): every run
    /// change of its items before `f` has been given to [`Node::local`].
    /// It never goes back (a lower `f` is ignored).
    pub fn frontier(&mut self, f: Frontier) {
        self.frontier = self.frontier.max(f);
        self.note_waiting();
        self.prune();
    }

    /// Whether this node may process its item at `at`: every peer in
    /// reach has announced a next item after it in the cluster's order
    /// ([`order::before`]). A peer in the resync period does not hold it
    /// back.
    pub fn may_process(&self, at: Frontier) -> bool {
        self.may_process_touching(at, None)
    }

    /// As [`Node::may_process`], for an item that touches only the
    /// partitions of `touch` (sorted buckets, [`order::bucket`]; `None`:
    /// any): a peer whose lookahead ([`Ahead`]) reaches past the item and
    /// names none of them does not hold it back either.
    pub fn may_process_touching(&self, at: Frontier, touch: Option<&[u16]>) -> bool {
        (0..self.links.len() as u16).all(|m| {
            self.link(m).is_none_or(|l| {
                l.out_of_reach
                    || order::before(at, self.me, l.frontier, m)
                    || touch.zip(l.ahead.as_ref()).is_some_and(|(t, a)| {
                        order::before(at, self.me, a.horizon, m) && order::disjoint(t, &a.keys)
                    })
            })
        })
    }

    /// What this node announces of its items beyond its frontier
    /// ([`Ahead`]); `None` for nothing. Its keys must only grow and its
    /// horizon never go back over the node's life.
    pub fn set_ahead(&mut self, ahead: Option<Ahead>) {
        let room = self.settings.max_frame / 4;
        self.ahead = ahead.filter(|a| 24 + 3 * a.keys.len() <= room);
    }

    /// This node's input has ended (announced to the peers).
    pub fn end_input(&mut self) {
        self.ended = true;
        self.note_waiting();
    }

    /// A run changed here (the engine's run change, as the run's whole
    /// state). Merged with what the node knows; if a peer was ahead, the
    /// merged state is given back as [`Out::Applied`]. True when this is
    /// a completion whose complex event this node has not written yet
    /// (in any of its lives, with a store): the edge writes it, after
    /// storing the mark. A completion already written is not written
    /// again.
    pub fn local(&mut self, now: i64, run: RunKey, state: RunState, out: &mut Vec<Out>) -> bool {
        self.now = self.now.max(now);
        let write = state.phase == Phase::Completed && self.emitted.insert(run);
        let given = state.clone();
        self.adopt(run, state, None);
        if let Some(s) = self.runs.get(&run).filter(|s| **s != given) {
            out.push(Out::Applied {
                run,
                state: s.clone(),
            });
        }
        self.note_waiting();
        write
    }

    /// After a change: what each link announces next.
    fn note_waiting(&mut self) {
        let (w, ended) = (self.frontier, self.ended);
        for l in self.links.iter_mut().flatten() {
            if l.stash.is_empty() && l.resync_queue.is_empty() {
                l.announced = w;
                l.announced_end = ended;
            }
        }
    }

    /// Merges `state` into run `run`; `from` is the peer it came from (not
    /// sent back there). True when the node's state changed.
    fn adopt(&mut self, run: RunKey, mut state: RunState, from: Option<u16>) -> bool {
        if state.phase == Phase::Active && state.expires < self.cluster_watermark() {
            // Past its window everywhere: it cannot be in progress.
            state.phase = Phase::Halted;
        }
        let known = self.runs.get(&run);
        let changed = known.is_none_or(|old| state.ahead_of(old));
        if !changed {
            return false;
        }
        let finished = state.finished();
        let expires = state.expires;
        // A finished run this node had forgotten (or never held), past
        // its window everywhere: its sender passes it to every other peer
        // itself (and keeps it until they acknowledge it), so it goes no
        // further from here; passing it on would bounce it between peers
        // that each forget it again.
        let relay = !(known.is_none() && finished && expires < self.cluster_watermark());
        self.runs.insert(run, state);
        if finished {
            self.finished.insert((expires, run));
            if self.cached.insert(run) {
                self.cache.push_back(run);
                while self.cache.len() > self.settings.cache {
                    if let Some(old) = self.cache.pop_front() {
                        self.cached.remove(&old);
                    }
                }
            }
        }
        let limit = self.settings.stash_limit;
        for (m, l) in self.links.iter_mut().enumerate() {
            let Some(l) = l else { continue };
            if from.is_some_and(|f| usize::from(f) == m) || l.out_of_reach || !relay {
                continue;
            }
            l.stash.insert(run);
            if l.waiting() > limit {
                l.stash.clear();
                l.inflight.clear();
                l.resync_queue.clear();
                l.resync_wanted = true;
            }
        }
        true
    }

    /// Forgets finished runs whose window the cluster watermark has
    /// passed, but the most recent `cache` of them and those still
    /// waiting to reach a peer in reach (in its stash, a RESYNC in
    /// progress, or a message not yet acknowledged): a peer that lost the
    /// message (or restarted before it acknowledged it) still gets them.
    fn prune(&mut self) {
        let wm = self.cluster_watermark();
        // At most once per PRUNE_MS of the clock, and only when the
        // watermark moved: what waits for peers is gathered each time.
        if wm <= self.pruned.0 || self.now < self.pruned.1.saturating_add(PRUNE_MS) {
            return;
        }
        self.pruned = (wm, self.now);
        let due: Vec<(i64, RunKey)> = self
            .finished
            .range(
                ..(
                    wm,
                    RunKey {
                        pattern: 0,
                        origin: 0,
                        incarnation: 0,
                        n: 0,
                    },
                ),
            )
            .filter(|(_, run)| !self.cached.contains(run))
            .copied()
            .collect();
        if due.is_empty() {
            return;
        }
        let waiting: BTreeSet<RunKey> = self
            .links
            .iter()
            .flatten()
            .filter(|l| !l.out_of_reach)
            .flat_map(|l| {
                l.stash
                    .iter()
                    .chain(l.resync_queue.iter())
                    .chain(l.inflight.iter().flat_map(|s| s.runs.iter()))
                    .copied()
            })
            .collect();
        for (e, run) in due {
            if waiting.contains(&run) {
                continue;
            }
            self.finished.remove(&(e, run));
            self.runs.remove(&run);
        }
    }

    /// A peer is reachable again (a connection was made): a RESYNC it
    /// is owed goes now rather than at the next period.
    pub fn connected(&mut self, now: i64, peer: u16, out: &mut Vec<Out>) {
        self.now = self.now.max(now);
        if let Some(l) = self.link_mut(peer) {
            if l.resync_wanted {
                l.last_resync = i64::MIN;
            }
        }
        self.tick(now, out);
    }

    /// The bytes of one frame from the transport.
    pub fn receive(&mut self, now: i64, bytes: &[u8], out: &mut Vec<Out>) {
        self.receive_on(now, None, bytes, out);
    }

    /// A message that came on the connection of member `from`, which the
    /// transport authenticated: refused unless its envelope names `from`
    /// as its sender (a member may not speak for another).
    pub fn receive_from(&mut self, now: i64, from: u16, bytes: &[u8], out: &mut Vec<Out>) {
        self.receive_on(now, Some(from), bytes, out);
    }

    fn receive_on(&mut self, now: i64, from: Option<u16>, bytes: &[u8], out: &mut Vec<Out>) {
        self.now = self.now.max(now);
        let msg = match wire::decode(bytes, self.settings.max_frame) {
            Ok(m) => m,
            Err(e) => return self.refuse(from, Refusal::Wire(e), out),
        };
        let p = msg.sender;
        if let Some(f) = from.filter(|&f| f != p) {
            return self.refuse(Some(f), Refusal::WrongSender(p, f), out);
        }
        if msg.program != self.settings.program {
            return self.refuse(Some(p), Refusal::OtherProgram(msg.program), out);
        }
        let incarnation = self.incarnation;
        let Some(l) = self.link_mut(p) else {
            return self.refuse(Some(p), Refusal::UnknownSender(p), out);
        };
        // From an earlier life of the sender: a replay.
        if l.from.is_some_and(|(inc, _, _)| msg.incarnation < inc) {
            return self.refuse(Some(p), Refusal::Stale, out);
        }
        // A frame on the peer's authenticated connection from its
        // current life shows it is in reach, even one out of order (the
        // transport lets no one replay or forge one).
        if from.is_some() && l.from.is_some_and(|(inc, _, _)| inc == msg.incarnation) {
            l.heard = now;
        }
        if let Some(a) = msg.ack {
            if a.incarnation == incarnation
                && a.stream == l.stream
                && a.seq > l.acked
                && a.seq < l.next_seq
            {
                l.acked = a.seq;
                while l.inflight.front().is_some_and(|s| s.seq <= a.seq) {
                    l.inflight.pop_front();
                }
                l.last_progress = now;
                l.retry = 0;
                l.reset_pending = false;
            }
        }
        if msg.seq == 0 {
            // An acknowledgement alone. It may overtake sequenced
            // messages, so its watermark is not taken.
            if l.from.is_some_and(|(inc, _, _)| inc == msg.incarnation) {
                l.heard = now;
                l.back_in_reach();
            }
            self.stats.received += 1;
            return;
        }
        let verdict = match l.from {
            Some((inc, stream, next)) if inc == msg.incarnation && stream == msg.stream => {
                match msg.seq.cmp(&next) {
                    std::cmp::Ordering::Equal => Ok(()),
                    std::cmp::Ordering::Less => Err(Refusal::Duplicate),
                    std::cmp::Ordering::Greater => Err(Refusal::Gap),
                }
            }
            Some((inc, stream, _)) if inc == msg.incarnation && msg.stream < stream => {
                Err(Refusal::Stale)
            }
            // A new stream (a RESYNC) or a new incarnation (a restart):
            // it starts at 1.
            _ if msg.seq == 1 => Ok(()),
            _ => Err(Refusal::Gap),
        };
        if let Err(why) = verdict {
            // Tell the sender where we are.
            l.to_ack = true;
            return self.refuse(Some(p), why, out);
        }
        let restarted = l.from.is_none_or(|(inc, _, _)| inc != msg.incarnation);
        l.from = Some((msg.incarnation, msg.stream, msg.seq + 1));
        l.to_ack = true;
        l.heard = now;
        l.back_in_reach();
        if restarted {
            // A new life: its watermark and input start over.
            l.frontier = msg.frontier;
            l.ahead = msg.ahead.clone();
            l.ended = msg.ended;
        } else {
            l.frontier = l.frontier.max(msg.frontier);
            if let Some(a) = &msg.ahead {
                if l.ahead.as_ref().is_none_or(|b| a.horizon >= b.horizon) {
                    l.ahead = Some(a.clone());
                }
            }
            l.ended |= msg.ended;
        }
        if msg.reset && l.reset_answered != Some(msg.incarnation) {
            l.reset_answered = Some(msg.incarnation);
            l.resync_wanted = true;
            l.last_resync = i64::MIN;
        }
        // Until the peer's first whole RESYNC has come, what it says
        // completed, completed before this node joined (also what a SYNC
        // it had waiting for this node carries).
        let silent = l.silent;
        // Only a RESYNC made for this life (its sender acknowledges this
        // incarnation) ends it: one started for an earlier life may still
        // be on its way.
        if let Body::Resync { last: true, .. } = msg.body {
            if msg.ack.is_some_and(|a| a.incarnation == incarnation) {
                l.silent = false;
            }
        }
        self.stats.received += 1;
        let Envelope { body, .. } = msg;
        let runs = match body {
            Body::Sync(r) | Body::Resync { runs: r, .. } => r,
            Body::Ping | Body::Ack => Vec::new(),
        };
        for (run, state) in runs {
            if !self.adopt(run, state, Some(p)) {
                continue;
            }
            let Some(s) = self.runs.get(&run) else {
                continue;
            };
            out.push(Out::Applied {
                run,
                state: s.clone(),
            });
            if s.phase == Phase::Completed && self.emitted.insert(run) {
                if silent {
                    self.stats.silent += 1;
                } else {
                    self.stats.learned += 1;
                    out.push(Out::Complex {
                        run,
                        state: s.clone(),
                    });
                }
            }
        }
        self.note_waiting();
        self.prune();
    }

    fn refuse(&mut self, from: Option<u16>, why: Refusal, out: &mut Vec<Out>) {
        self.stats.refused += 1;
        if matches!(why, Refusal::Gap | Refusal::Duplicate | Refusal::Stale) {
            self.stats.out_of_order += 1;
        }
        out.push(Out::Refused { from, why });
    }
}
