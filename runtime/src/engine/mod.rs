//! The engine core: a pure state machine. One input (an event, "time is
//! now T", or the end of the input) gives outputs (complex events, late
//! events, run changes). No I/O, no wall clock, no randomness: the same
//! inputs in the same order give the same outputs.
//!
//! Time is event time. Events are held for up to `max_delay_ms` and
//! released in (time, arrival) order; the watermark is the latest time
//! seen minus that delay. An event older than what was already processed
//! is late. Before an event of time T is processed, every deadline up to T
//! (windows closing, absences completing) is handled, oldest first.
//! Complex events are processed right after the input that caused them,
//! first in, first out, by the patterns that consume them (patterns run in
//! the IR's order, producers before consumers).

use crate::eval::{eval, Scope};
use crate::matcher::{Effects, End, Key, Match, Matcher};
use crate::partitions::PartId;
use crate::run::Chain;
use crate::value::{Event, Value};
use cep_ir::{BindingId, EventId, Program};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

mod runs;

#[derive(Clone, Debug)]
pub struct Config {
    /// Part of every run id, so that ids stay unique across peers.
    pub instance: String,
    /// Bounded disorder: events are reordered up to this much.
    pub max_delay_ms: u64,
    /// Live runs per pattern before the oldest are shed.
    pub max_runs: usize,
    /// Report run changes (created, took an event, ended) as outputs.
    pub track_runs: bool,
    /// Report every process execution, refusal and retirement as
    /// [`Output::Process`].
    pub track_processes: bool,
    /// This instance's member index among its peers (0 alone): the
    /// `origin` of the complex events it makes.
    pub member: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            instance: "cep".into(),
            max_delay_ms: 0,
            max_runs: 100_000,
            track_runs: false,
            track_processes: false,
            member: 0,
        }
    }
}

/// What the engine produces.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// A pattern matched.
    Complex(Complex),
    /// An event older than what was already processed; it was not used.
    Late(Event),
    /// A run changed (only with `track_runs`).
    Run(RunChange),
    /// An activity event a process refused (`crate::process`): no pattern
    /// or step saw it. For an input event `event.source` is its line; a
    /// complex event has `event.run`.
    Refused {
        event: Event,
        reason: crate::process::Refusal,
    },
    /// An event of a type asked for with [`Engine::forward`], as it is
    /// processed (in time order, after the process check): how the
    /// runner gives input events to the step scheduler.
    Admitted(Arc<Event>),
    /// An instance of a process that is not accepting
    /// ([`Engine::acceptance`]).
    NotAccepting(crate::process::NotAccepting),
    /// A process instance changed (only with `track_processes`): an
    /// execution or a refusal (reported before the event's other outputs),
    /// or a retirement.
    Process(crate::process::ProcessChange),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Complex {
    pub event: Arc<Event>,
    /// Index of the pattern in the IR.
    pub pattern: u32,
    pub run: u64,
    /// The bound events (the match's run's chain, shared with it, not
    /// copied: `Chain::each_oldest_first` and `Chain::to_vec` read them
    /// oldest first).
    pub matched: Chain,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunChange {
    pub pattern: u32,
    pub run: u64,
    pub change: Change,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A new run; `from` is the run it forked from; `key` is its
    /// partition's key (empty when the pattern is not partitioned).
    Created {
        from: Option<u64>,
        key: Key,
    },
    /// The run bound an event (by its `seq`).
    Took {
        binding: BindingId,
        seq: u64,
    },
    Completed,
    Ended(End),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    pub runs: usize,
    pub partitions: usize,
    pub deadlines: usize,
    pub held: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events given to the patterns (input events, and complex and
    /// step-emitted events fed back), refused ones not counted.
    pub events_in: u64,
    /// Input activity events a process refused (a refused complex event
    /// is reported, not counted here).
    pub refused: u64,
    pub complex_out: u64,
    pub late: u64,
    pub shed: u64,
    /// Matches a `report first|last every` did not produce.
    pub suppressed: u64,
    /// Complex events of `on timeout emit` (counted in `complex_out`
    /// too).
    pub timed_out: u64,
}

struct Pending {
    time: i64,
    arrival: u64,
    event: Event,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.arrival) == (o.time, o.arrival)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.time, self.arrival).cmp(&(o.time, o.arrival))
    }
}

struct Timer {
    deadline: i64,
    order: u64,
    pattern: u32,
    /// The partition to wake.
    part: PartId,
}

impl PartialEq for Timer {
    fn eq(&self, o: &Self) -> bool {
        (self.deadline, self.order) == (o.deadline, o.order)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timer {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.deadline, self.order).cmp(&(o.deadline, o.order))
    }
}

pub struct Engine {
    program: Arc<Program>,
    config: Config,
    matchers: Vec<Matcher>,
    /// Patterns that see each event type.
    consumers: Vec<Vec<u32>>,
    buffer: BinaryHeap<Reverse<Pending>>,
    arrivals: u64,
    /// Latest event time seen.
    max_seen: Option<i64>,
    /// Time of the latest thing processed (event or deadline).
    clock: Option<i64>,
    timers: BinaryHeap<Reverse<Timer>>,
    /// `fire`'s next deadlines of the keys it handled, kept for reuse.
    rescheduled: Vec<(PartId, i64)>,
    /// The timers due at one instant (`fire`), reused.
    due: Vec<Timer>,
    timer_order: u64,
    rate_order: u64,
    seq: u64,
    keybuf: Vec<Value>,
    queue: VecDeque<Arc<Event>>,
    /// Reused for every step of every pattern; boxed, so that taking it
    /// out for a step and putting it back moves a pointer (`take_fx`).
    fx: Option<Box<Effects>>,
    stats: Stats,
    procs: crate::process::Processes,
    /// Input event types to report as [`Output::Admitted`].
    forward: Vec<bool>,
    /// `report first|last every`: per pattern, per key.
    rates: Vec<HashMap<Key, Rate, crate::keyhash::KeyBuild>>,
    /// When a `report last` period ends: (deadline, pattern, order) to
    /// the key.
    rate_timers: BTreeMap<(i64, u32, u64), Key>,
}

/// Where a key is in its `report` periods.
struct Rate {
    /// The key's first reported match's time: periods start here.
    start: i64,
    /// The start of the period of the latest match taken.
    current: i64,
    /// `report last`: the latest match of the current period, not yet
    /// produced.
    held: Option<Match>,
}

impl Engine {
    pub fn new(program: Arc<Program>, config: Config) -> Engine {
        let mut procs = crate::process::Processes::new(&program).unwrap_or_default();
        procs.track(config.track_processes);
        let track = config.track_runs;
        let events = program.events.len();
        let matchers: Vec<Matcher> = program
            .patterns
            .iter()
            .map(|p| Matcher::new(p.clone(), events, config.max_runs))
            .collect();
        let matchers_len = matchers.len();
        let mut consumers = vec![Vec::new(); events];
        for (i, m) in matchers.iter().enumerate() {
            for &ty in &m.ir.inputs {
                if let (Some(c), Ok(i)) = (consumers.get_mut(ty as usize), u32::try_from(i)) {
                    c.push(i);
                }
            }
        }
        Engine {
            program,
            config,
            matchers,
            consumers,
            buffer: BinaryHeap::new(),
            arrivals: 0,
            max_seen: None,
            clock: None,
            timers: BinaryHeap::new(),
            rescheduled: Vec::new(),
            due: Vec::new(),
            timer_order: 0,
            rate_order: 0,
            seq: 0,
            keybuf: Vec::new(),
            queue: VecDeque::new(),
            fx: Some(Box::new(Effects {
                track,
                ..Effects::default()
            })),
            stats: Stats::default(),
            // More activities than a marking holds is refused when the
            // rules are loaded (`cep run`); a library user gets no
            // enforcement for such a program.
            procs,
            forward: Vec::new(),
            rates: (0..matchers_len).map(|_| HashMap::default()).collect(),
            rate_timers: BTreeMap::new(),
        }
    }

    /// Report input events of these types as [`Output::Admitted`] when
    /// they are processed (after the process check).
    pub fn forward(&mut self, types: impl IntoIterator<Item = EventId>) {
        self.forward = vec![false; self.program.events.len()];
        for t in types {
            if let Some(f) = self.forward.get_mut(t as usize) {
                *f = true;
            }
        }
    }

    /// The partitions an input event of this type and these fields
    /// would enter: `f(pattern index, partition key)` for every pattern
    /// that sees its type (the key is empty for an unpartitioned
    /// pattern). `buf` is scratch space.
    pub fn partitions_of(
        &self,
        ev: &Event,
        buf: &mut Vec<crate::value::Value>,
        mut f: impl FnMut(u32, &[crate::value::Value]),
    ) {
        for &pi in self
            .consumers
            .get(ev.ty as usize)
            .map_or(&[][..], Vec::as_slice)
        {
            if let Some(m) = self.matchers.get(pi as usize) {
                m.key_of(ev, buf);
                f(pi, buf);
            }
        }
    }

    /// The processes and their instances.
    pub fn processes(&self) -> &crate::process::Processes {
        &self.procs
    }

    /// Reports every process instance that is not accepting (at the end of
    /// the input, or on demand).
    pub fn acceptance(&self, out: &mut Vec<Output>) {
        out.extend(
            self.procs
                .not_accepting()
                .into_iter()
                .map(Output::NotAccepting),
        );
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn stats(&self) -> Stats {
        Stats {
            shed: self.matchers.iter().map(|m| m.shed).sum(),
            ..self.stats
        }
    }

    /// Runs shed under `max_runs`, per pattern, in IR order.
    pub fn shed_per_pattern(&self) -> Vec<u64> {
        self.matchers.iter().map(|m| m.shed).collect()
    }

    /// Live runs per pattern, in IR order.
    pub fn live_runs(&self) -> Vec<usize> {
        self.matchers.iter().map(|m| m.live).collect()
    }

    /// What the engine holds, for tests and metrics: live runs, partitions
    /// with live runs, scheduled deadlines, and held (not yet released)
    /// events.
    pub fn footprint(&self) -> Footprint {
        Footprint {
            runs: self.matchers.iter().map(|m| m.live).sum(),
            partitions: self.matchers.iter().map(|m| m.partitions.len()).sum(),
            deadlines: self.timers.len(),
            held: self.buffer.len(),
        }
    }

    /// A run id as it crosses the network: the instance, the pattern and
    /// the run's number in that pattern (so adding a pattern changes no
    /// other pattern's ids).
    pub fn run_name(&self, pattern: u32, run: u64) -> String {
        match self.program.patterns.get(pattern as usize) {
            Some(p) => format!("{}-{}-{run}", self.config.instance, p.name),
            None => format!("{}-{pattern}-{run}", self.config.instance),
        }
    }

    /// One input event. Its `seq` is set by the engine. Its time must be
    /// a valid time ([`cep_ir::MIN_TIME_MS`] to [`cep_ir::MAX_TIME_MS`],
    /// which the decoder ensures): within that range, and with durations
    /// no longer than the range (which the compiler ensures), every
    /// deadline is exact; outside it, deadlines saturate at `i64::MAX`.
    pub fn push(&mut self, event: Event, out: &mut Vec<Output>) {
        if self.clock.is_some_and(|c| event.time < c) {
            self.stats.late += 1;
            out.push(Output::Late(event));
            return;
        }
        self.stats.events_in += 1;
        self.max_seen = Some(self.max_seen.map_or(event.time, |m| m.max(event.time)));
        if self.config.max_delay_ms == 0 && self.buffer.is_empty() {
            self.process(event, out);
            return;
        }
        self.arrivals += 1;
        self.buffer.push(Reverse(Pending {
            time: event.time,
            arrival: self.arrivals,
            event,
        }));
        if let Some(m) = self.max_seen {
            let delay = i64::try_from(self.config.max_delay_ms).unwrap_or(i64::MAX);
            self.release(m.saturating_sub(delay), out);
        }
    }

    /// "Time is now `t`": everything up to `t` may be processed, and
    /// deadlines up to `t` handled. Time never goes back.
    pub fn advance(&mut self, t: i64, out: &mut Vec<Output>) {
        self.release(t, out);
        self.fire(t, out);
        if self.clock.is_none_or(|c| c < t) {
            self.clock = Some(t);
        }
    }

    /// The end of a finite input: all time passes. Pending absences
    /// complete and open runs expire.
    ///
    /// Time stops at the last deadline handled (not at the end of time), so
    /// that events that come after it (emitted by steps once their work is
    /// done) are not late; `finish` may be called again after them.
    pub fn finish(&mut self, out: &mut Vec<Output>) {
        self.release_held(out);
        self.fire(i64::MAX, out);
        // Matches held by greedy and reluctant groups whose runs have no
        // window: no later event can better them now. What they feed may
        // hold or time out in turn.
        loop {
            let mut any = false;
            let now = self.clock.unwrap_or(i64::MIN);
            for pi in 0..self.matchers.len() {
                let mut fx = take_fx(&mut self.fx, self.config.track_runs);
                if let Some(m) = self.matchers.get_mut(pi) {
                    m.flush(&mut fx, now);
                }
                any |= !fx.matches.is_empty();
                self.effects(u32::try_from(pi).unwrap_or(u32::MAX), fx, out);
            }
            self.drain(out);
            self.fire(i64::MAX, out);
            if !any {
                break;
            }
        }
    }

    /// The time already reached: the latest event time processed, deadline
    /// handled or watermark passed; `None` before anything.
    pub fn now(&self) -> Option<i64> {
        self.clock
    }

    /// The input stops before its end (the process was asked to stop):
    /// every held event is processed now, in (time, arrival) order, each
    /// after the deadlines up to its own time, but time passes no further:
    /// windows and absences still open stay open. Unlike [`Engine::finish`],
    /// nothing completes for want of later events.
    pub fn release_held(&mut self, out: &mut Vec<Output>) {
        while let Some(Reverse(p)) = self.buffer.pop() {
            self.process(p.event, out);
        }
    }

    fn release(&mut self, upto: i64, out: &mut Vec<Output>) {
        while self.buffer.peek().is_some_and(|p| p.0.time <= upto) {
            if let Some(Reverse(p)) = self.buffer.pop() {
                self.process(p.event, out);
            }
        }
        // Deadlines before the watermark can be handled: no event that is
        // not late can come before them any more.
        if upto > i64::MIN {
            self.fire(upto, out);
            // Everything up to the watermark is done: an event older than
            // it is late, even if nothing of its time was held.
            self.clock = Some(self.clock.map_or(upto, |c| c.max(upto)));
        }
    }

    fn process(&mut self, mut event: Event, out: &mut Vec<Output>) {
        self.fire(event.time, out);
        self.clock = Some(self.clock.map_or(event.time, |c| c.max(event.time)));
        self.seq += 1;
        event.seq = self.seq;
        if self.procs.enforces(event.ty) {
            if let Err(reason) = admit(&mut self.procs, &event, out) {
                self.stats.events_in = self.stats.events_in.saturating_sub(1);
                self.stats.refused += 1;
                out.push(Output::Refused { event, reason });
                return;
            }
        }
        let ev = Arc::new(event);
        if self.forward.get(ev.ty as usize).copied().unwrap_or(false) {
            out.push(Output::Admitted(ev.clone()));
        }
        self.queue.push_back(ev);
        self.drain(out);
    }

    /// Handles deadlines up to `t`, oldest first. The deadlines of one
    /// instant are one input: pattern by pattern in the IR's order, every
    /// key of the pattern that is due; the matches they complete are
    /// reported together in match order (first event, then later events,
    /// whatever their keys), and the complex events are fed on after every
    /// deadline of the instant was handled.
    fn fire(&mut self, t: i64, out: &mut Vec<Output>) {
        // Kept between calls (taken out while this one works on it).
        let mut due: Vec<Timer> = std::mem::take(&mut self.due);
        loop {
            let pattern_due = self.timers.peek().map(|x| x.0.deadline).filter(|&d| d <= t);
            let rate_due = self
                .rate_timers
                .first_key_value()
                .map(|(k, _)| k.0)
                .filter(|&d| d <= t);
            // Process retirements are deadlines too (`idle D`); at one
            // instant they come before the patterns' (they are
            // independent of them).
            if let Some(r) = self.procs.next_deadline().filter(|&r| r <= t) {
                if pattern_due.is_none_or(|d| r <= d) && rate_due.is_none_or(|d| r <= d) {
                    self.clock = Some(self.clock.map_or(r, |c| c.max(r)));
                    self.procs.retire(r);
                    out.extend(self.procs.take_changes().map(Output::Process));
                    continue;
                }
            }
            // The end of a `report last` period: its held match goes out
            // before anything else of that instant (what completes then
            // is in the next period).
            if let Some(rd) = rate_due {
                if pattern_due.is_none_or(|d| rd <= d) {
                    self.clock = Some(self.clock.map_or(rd, |c| c.max(rd)));
                    self.release_rates(rd, out);
                    self.drain(out);
                    continue;
                }
            }
            let Some(d) = pattern_due else {
                break;
            };
            self.clock = Some(self.clock.map_or(d, |c| c.max(d)));
            due.clear();
            while self.timers.peek().is_some_and(|x| x.0.deadline == d) {
                if let Some(Reverse(timer)) = self.timers.pop() {
                    due.push(timer);
                }
            }
            due.sort_by_key(|x| (x.pattern, x.order));
            let mut rest = &due[..];
            while let Some(first) = rest.first() {
                let pattern = first.pattern;
                let n = rest.iter().take_while(|x| x.pattern == pattern).count();
                let (group, tail) = rest.split_at(n);
                rest = tail;
                let Some(m) = self.matchers.get_mut(pattern as usize) else {
                    continue;
                };
                let mut fx = take_fx(&mut self.fx, self.config.track_runs);
                let mut next = std::mem::take(&mut self.rescheduled);
                let mut keys = 0;
                for timer in group {
                    // A stale timer (its partition is gone or has another
                    // deadline now) changes nothing.
                    let before = fx.matches.len();
                    if let Some(nd) = m.on_time(timer.part, d, &mut fx) {
                        next.push((timer.part, nd));
                    }
                    keys += usize::from(fx.matches.len() > before);
                }
                if keys > 1 {
                    // Each key's matches are in match order already; a
                    // stable sort merges them.
                    fx.matches.sort_by(Match::order_cmp);
                }
                for (key, nd) in next.drain(..) {
                    self.schedule(pattern, key, nd);
                }
                self.rescheduled = next;
                self.effects(pattern, fx, out);
            }
            self.drain(out);
        }
        due.clear();
        self.due = due;
    }

    fn schedule(&mut self, pattern: u32, part: PartId, deadline: i64) {
        self.timer_order += 1;
        self.timers.push(Reverse(Timer {
            deadline,
            order: self.timer_order,
            pattern,
            part,
        }));
    }

    /// Feeds queued events to the patterns that see them.
    fn drain(&mut self, out: &mut Vec<Output>) {
        while let Some(ev) = self.queue.pop_front() {
            let n = self.consumers.get(ev.ty as usize).map_or(0, Vec::len);
            for k in 0..n {
                let Some(&pi) = self.consumers.get(ev.ty as usize).and_then(|c| c.get(k)) else {
                    break;
                };
                let Some(m) = self.matchers.get_mut(pi as usize) else {
                    continue;
                };
                let mut fx = take_fx(&mut self.fx, self.config.track_runs);
                let wake = m.on_event(&ev, &mut self.keybuf, &mut fx);
                if let Some((key, d)) = wake {
                    self.schedule(pi, key, d);
                }
                self.effects(pi, fx, out);
            }
        }
    }

    /// Turns what happened to runs into outputs, and queues complex events.
    fn effects(&mut self, pattern: u32, mut fx: Box<Effects>, out: &mut Vec<Output>) {
        self.report(pattern, &mut fx, out);
        fx.clear();
        self.fx = Some(fx);
    }

    fn report(&mut self, pattern: u32, fx: &mut Effects, out: &mut Vec<Output>) {
        if self.config.track_runs {
            for (run, from, key) in &fx.created {
                out.push(Output::Run(RunChange {
                    pattern,
                    run: *run,
                    change: Change::Created {
                        from: *from,
                        key: key.clone(),
                    },
                }));
            }
            for (run, binding, seq) in &fx.took {
                out.push(Output::Run(RunChange {
                    pattern,
                    run: *run,
                    change: Change::Took {
                        binding: *binding,
                        seq: *seq,
                    },
                }));
            }
            for (run, end) in &fx.ended {
                out.push(Output::Run(RunChange {
                    pattern,
                    run: *run,
                    change: Change::Ended(*end),
                }));
            }
        }
        // The matches' vector goes back to `fx` emptied, so that an input
        // that completes matches allocates none (a burst's room is not kept).
        let mut mats = self.rate_limit(pattern, std::mem::take(&mut fx.matches));
        self.produce(pattern, &mut mats, out);
        mats.clear();
        if mats.capacity() <= 256 {
            fx.matches = mats;
        }
        if !fx.timed_out.is_empty() {
            let mut timed_out: Vec<Match> = fx.timed_out.drain(..).collect();
            // One event per distinct set of bound events (the runs of a
            // group that stays and of the one that moved on bind the
            // same), in match order; of derivations through group
            // sub-patterns, the one with the fewest iterations.
            let subs = self
                .matchers
                .get(pattern as usize)
                .map(|m| m.subs().to_vec())
                .unwrap_or_default();
            timed_out.sort_by_cached_key(|m| (m.order_key(), m.chain.iterations(&subs)));
            timed_out.dedup_by(|a, b| a.order_key() == b.order_key());
            self.produce_timeouts(pattern, timed_out, out);
        }
    }

    /// `on timeout emit` (docs/language.md, 6.13): the complex events of
    /// runs whose window closed, each at the window's end.
    fn produce_timeouts(&mut self, pattern: u32, runs: Vec<Match>, out: &mut Vec<Output>) {
        let Some(m) = self.matchers.get(pattern as usize) else {
            return;
        };
        let Some(t) = &m.ir.on_timeout else {
            return;
        };
        for run in runs {
            let scope = Scope {
                current: None,
                chain: &run.chain,
                triggers: &[],
            };
            self.seq += 1;
            let event = Event {
                ty: t.output,
                time: run.time.min(cep_ir::MAX_TIME_MS),
                seq: self.seq,
                source: 0,
                origin: self.config.member,
                run: Some(run.run),
                fields: t.emit.iter().map(|e| eval(e, &scope)).collect(),
            };
            if self.procs.enforces(t.output) {
                if let Err(reason) = admit(&mut self.procs, &event, out) {
                    out.push(Output::Refused { event, reason });
                    continue;
                }
            }
            let event = Arc::new(event);
            self.stats.complex_out += 1;
            self.stats.timed_out += 1;
            out.push(Output::Complex(Complex {
                event: event.clone(),
                pattern,
                run: run.run,
                matched: run.chain,
            }));
            self.queue.push_back(event);
        }
    }

    /// `report first|last every P` (docs/language.md, 6.12): which of
    /// `mats` are produced now; the others are held (`last`) or
    /// suppressed (counted).
    fn rate_limit(&mut self, pattern: u32, mats: Vec<Match>) -> Vec<Match> {
        let Some(m) = self.matchers.get(pattern as usize) else {
            return mats;
        };
        let Some(r) = m.ir.report else {
            return mats;
        };
        let every = i64::try_from(r.every_ms).unwrap_or(i64::MAX).max(1);
        let mut now = Vec::new();
        for mat in mats {
            let t = mat.time;
            let chain = mat.chain.to_vec();
            match chain.first() {
                Some((_, ev)) => m.key_of(ev, &mut self.keybuf),
                None => self.keybuf.clear(),
            }
            let Some(rates) = self.rates.get_mut(pattern as usize) else {
                now.push(mat);
                continue;
            };
            // The start of `t`'s period for a key whose periods start at `s`.
            let period =
                |s: i64| s.saturating_add((t.saturating_sub(s) / every).saturating_mul(every));
            match rates.get_mut(&self.keybuf[..]) {
                None => {
                    let key: Key = Arc::from(self.keybuf.as_slice());
                    if r.first {
                        now.push(mat);
                        rates.insert(
                            key,
                            Rate {
                                start: t,
                                current: t,
                                held: None,
                            },
                        );
                    } else {
                        self.rate_order += 1;
                        self.rate_timers.insert(
                            (t.saturating_add(every), pattern, self.rate_order),
                            key.clone(),
                        );
                        rates.insert(
                            key,
                            Rate {
                                start: t,
                                current: t,
                                held: Some(mat),
                            },
                        );
                    }
                }
                Some(st) if t < st.current.saturating_add(every) => {
                    // `first`: this one is not reported; `last`: the one
                    // it replaces is not.
                    if r.first || st.held.replace(mat).is_some() {
                        self.stats.suppressed += 1;
                    }
                }
                Some(st) => {
                    let ended = st.current.saturating_add(every);
                    st.current = period(st.start);
                    if r.first {
                        now.push(mat);
                    } else {
                        // The earlier period's end was handled before this
                        // match's time came; what it held went out then.
                        if let Some(mut old) = st.held.replace(mat) {
                            old.time = old.time.max(ended);
                            now.push(old);
                        }
                        self.rate_order += 1;
                        self.rate_timers.insert(
                            (st.current.saturating_add(every), pattern, self.rate_order),
                            Arc::from(self.keybuf.as_slice()),
                        );
                    }
                }
            }
        }
        now
    }

    /// `report last` periods that end at `d`: their held matches are
    /// produced (each with its own time).
    fn release_rates(&mut self, d: i64, out: &mut Vec<Output>) {
        while let Some((&(at, pattern, order), _)) = self.rate_timers.first_key_value() {
            if at != d {
                break;
            }
            let Some(key) = self.rate_timers.remove(&(at, pattern, order)) else {
                break;
            };
            let held = self
                .rates
                .get_mut(pattern as usize)
                .and_then(|r| r.get_mut(&key))
                .and_then(|st| st.held.take());
            if let Some(mut mat) = held {
                // Reported when its period ends, with that time, so that
                // what consumes it sees it in time order.
                mat.time = mat.time.max(at);
                self.produce(pattern, &mut vec![mat], out);
            }
        }
    }

    /// Turns matches of `pattern` into complex events: written, and fed
    /// to the patterns that consume them.
    fn produce(&mut self, pattern: u32, mats: &mut Vec<Match>, out: &mut Vec<Output>) {
        let Some(m) = self.matchers.get(pattern as usize) else {
            return;
        };
        let output: EventId = m.ir.output;
        for mat in mats.drain(..) {
            let fields = emit(m, &mat.chain);
            self.seq += 1;
            let event = Event {
                ty: output,
                // An absence whose deadline is past the latest valid time
                // completes at it (no valid event could have broken it
                // later), so that every complex event has a valid time.
                time: mat.time.min(cep_ir::MAX_TIME_MS),
                seq: self.seq,
                source: 0,
                origin: self.config.member,
                run: Some(mat.run),
                fields,
            };
            if self.procs.enforces(output) {
                if let Err(reason) = admit(&mut self.procs, &event, out) {
                    out.push(Output::Refused { event, reason });
                    continue;
                }
            }
            let event = Arc::new(event);
            if self.config.track_runs {
                out.push(Output::Run(RunChange {
                    pattern,
                    run: mat.run,
                    change: Change::Completed,
                }));
            }
            self.stats.complex_out += 1;
            out.push(Output::Complex(Complex {
                event: event.clone(),
                pattern,
                run: mat.run,
                matched: mat.chain,
            }));
            self.queue.push_back(event);
        }
    }
}

/// The engine's reused effects, taken out while a pattern works on them
/// (made anew, tracking runs if `track`, only if they were not put back).
fn take_fx(fx: &mut Option<Box<Effects>>, track: bool) -> Box<Effects> {
    fx.take().unwrap_or_else(|| {
        Box::new(Effects {
            track,
            ..Effects::default()
        })
    })
}

/// The fields of a pattern's complex event: its `emit` over a match's
/// bound events.
fn emit(m: &Matcher, chain: &crate::run::Chain) -> Box<[Value]> {
    let scope = Scope {
        current: None,
        chain,
        triggers: &[],
    };
    m.ir.emit.iter().map(|e| eval(e, &scope)).collect()
}

/// The process check of an activity event, with its changes (kept only
/// with `track_processes`) reported before anything else of the event. (A
/// function of the processes alone, so that it can run while a matcher is
/// borrowed.)
fn admit(
    procs: &mut crate::process::Processes,
    ev: &Event,
    out: &mut Vec<Output>,
) -> Result<(), crate::process::Refusal> {
    let admitted = procs.admit(ev);
    if procs.tracking() {
        out.extend(procs.take_changes().map(Output::Process));
    }
    admitted
}
