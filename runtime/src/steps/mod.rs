//! The step scheduler: a pure state machine beside the engine, after the
//! Eventor manual (shared seed 003: events, steps, associations with a
//! delay, status triggers, sequences, resource pools) and docs/language.md
//! §7 and §8.
//!
//! Inputs: an event in a sequence ([`Scheduler::event`]), "the wall clock
//! is now T" ([`Scheduler::time`]), "attempt N of step run R ended"
//! ([`Scheduler::ended`]). Outputs ([`StepOutput`]): records that the edge
//! makes durable before it acts on any output after them, "start attempt
//! N of R" with its resolved action, "kill attempt N of R" (its timeout
//! passed), and events that steps emit, to be fed back to the patterns and
//! the triggers. No I/O, no clock, no randomness: time is passed in, in
//! milliseconds of the edge's wall clock, and the same inputs give the
//! same outputs.
//!
//! Rules, in the field's terms (Eventor's):
//! - A **sequence** is the chain of work that one trigger started; every
//!   step run and every emitted event carries it. An event type counts
//!   once per sequence (Eventor: "event can be triggered only once per
//!   sequence"), and a step runs at most once per sequence.
//! - A trigger (`on A`, `and`, `or`) is evaluated over the event types seen
//!   in the sequence; `or` fires on either side (unlike Eventor's `or_`,
//!   which fires only on its first operand).
//! - A run is `ready` when its trigger fires; after its `after` delay it
//!   requests its resources (all at once, never some of them: no deadlock
//!   by partial holds) and a concurrency slot, granted in the order of the
//!   requests (a request waits behind every earlier one that needs one of
//!   its pools, so none starves); then it is `active`, and its attempts
//!   run. A failed attempt with retries left is tried again after the
//!   back-off; a timed-out attempt is killed and counts as failed. The run
//!   ends `success` or `failure` and gives back what it held.
//! - A failure is *handled* when its step has an `on failure` or
//!   `on complete` clause. After an unhandled failure, with
//!   [`OnFailure::Stop`] no new attempt starts (running ones finish).

mod recovery;

pub use recovery::{Resume, Stored};

use crate::eval::{eval, Scope};
use crate::ingest::format_rfc3339;
use crate::run::Chain;
use crate::value::{Event, Value};
use cep_ir::{Action, EventId, Program, Status, Trigger};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// What happens after a failure that no `on failure` / `on complete`
/// clause handles (Eventor's `stop_on_exception`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// No new attempt starts; running ones finish.
    #[default]
    Stop,
    /// Everything goes on.
    Continue,
}

/// Whole-run controls.
#[derive(Clone, Debug, Default)]
pub struct StepConfig {
    /// Runs holding a slot at once (from grant to end, over all steps);
    /// `None` for no limit.
    pub max_concurrent: Option<usize>,
    pub on_failure: OnFailure,
}

/// How an attempt ended, as the edge saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The program exited with this status (or was ended by a signal:
    /// `None`), or the HTTP request got this status (`http`), or it could
    /// not be made at all; `detail` is bounded by the edge.
    Failure {
        exit: Option<i32>,
        http: Option<u16>,
        detail: String,
    },
}

/// A step's action with its expressions evaluated.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    /// A program and its arguments, exactly as written (never a shell),
    /// and the `with` variables.
    Run {
        program: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
    },
    /// A POST of this JSON object: its members in the order written.
    Post {
        url: String,
        body: Vec<(String, serde_json::Value)>,
    },
}

/// What the scheduler asks of the edge, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum StepOutput {
    /// Make this durable before acting on any later output.
    Record(Record),
    /// Start attempt `attempt` of step run `run`.
    Start {
        run: u64,
        attempt: u32,
        action: Resolved,
    },
    /// Stop attempt `attempt` of `run` (and everything it started): its
    /// timeout passed. The attempt already counts as failed.
    Kill { run: u64, attempt: u32 },
    /// An event a step emitted, in its sequence: the edge (or
    /// [`crate::Runner`]) feeds it to the patterns and back to
    /// [`Scheduler::event`]. Its time is set by whoever feeds it.
    Emit { event: Event, sequence: Arc<str> },
}

/// A change to a step run (or to what a sequence has seen), to be made
/// durable.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// The first event of its type in the sequence (a trigger may need it).
    Seen {
        sequence: Arc<str>,
        event: Arc<Event>,
        time: i64,
    },
    /// A new step run, `ready`, with the events of its trigger.
    Created {
        run: u64,
        step: u32,
        sequence: Arc<str>,
        time: i64,
        triggers: Vec<Arc<Event>>,
        /// When its delay ends (the time it requests its resources).
        due: i64,
    },
    /// The run holds its resources and slot and is `active`.
    Granted { run: u64, time: i64 },
    /// Attempt `attempt` starts now.
    Attempt { run: u64, attempt: u32, time: i64 },
    /// Attempt `attempt` ended; with `retry_at`, the next one starts then.
    AttemptEnded {
        run: u64,
        attempt: u32,
        time: i64,
        outcome: Outcome,
        timed_out: bool,
        retry_at: Option<i64>,
    },
    /// A recovery runs the run again: it is `ready`, from attempt 1, and
    /// requests its resources at `due`.
    Requeued {
        run: u64,
        step: u32,
        sequence: Arc<str>,
        time: i64,
        due: i64,
    },
    /// A recovery skips the run: it is not run again, and the flow goes on
    /// as if it had succeeded.
    Skipped {
        run: u64,
        step: u32,
        sequence: Arc<str>,
        time: i64,
    },
    /// The run ended with this status and gave back what it held.
    Ended {
        run: u64,
        status: Status,
        time: i64,
        /// No `on failure` / `on complete` clause handles this failure.
        unhandled: bool,
    },
}

/// Where a run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for its `after` delay to end.
    Delayed,
    /// Waiting for resources or a slot.
    Waiting,
    /// Attempt running.
    Running,
    /// Waiting for the next attempt.
    Backoff,
    Done,
}

/// One step run.
#[derive(Clone, Debug)]
pub struct StepRun {
    pub id: u64,
    pub step: u32,
    pub sequence: Arc<str>,
    /// The trigger's events present when it fired, in event-type order.
    pub triggers: Vec<Arc<Event>>,
    pub attempt: u32,
    phase: Phase,
    /// Its entries on the timer queue (a delay or back-off, a timeout).
    wake: Option<(i64, Wake)>,
    timeout: Option<(i64, Wake)>,
}

/// What a run waits for on the timer queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Wake {
    /// Its delay ends.
    Start,
    /// Its back-off ends: the next attempt.
    Retry,
    /// The timeout of this attempt.
    Timeout(u32),
}

#[derive(Default)]
struct SeqState {
    /// The first event of each type seen in the sequence.
    seen: HashMap<EventId, Arc<Event>>,
    /// Steps that have a run in the sequence.
    started: HashSet<u32>,
}

/// Counts of what happened, for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepStats {
    pub runs: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub unhandled: u64,
    pub attempts: u64,
    pub timed_out: u64,
}

pub struct Scheduler {
    program: Arc<Program>,
    config: StepConfig,
    /// Steps whose trigger names each event type.
    by_event: Vec<Vec<u32>>,
    sequences: HashMap<Arc<str>, SeqState>,
    /// Runs that have not ended (an ended run is forgotten; its sequence
    /// remembers that the step ran).
    runs: HashMap<u64, StepRun>,
    next_run: u64,
    free: Vec<u64>,
    waiting: VecDeque<u64>,
    holding: usize,
    timers: BTreeSet<(i64, u64, Wake)>,
    /// Runs with an attempt running.
    running: usize,
    now: i64,
    stopped: bool,
    stats: StepStats,
}

impl Scheduler {
    pub fn new(program: Arc<Program>, config: StepConfig) -> Scheduler {
        let mut by_event = vec![Vec::new(); program.events.len()];
        for (i, s) in program.steps.iter().enumerate() {
            for e in s.trigger.events() {
                if let (Some(v), Ok(i)) = (by_event.get_mut(e as usize), u32::try_from(i)) {
                    v.push(i);
                }
            }
        }
        let free = program.resources.iter().map(|r| r.capacity).collect();
        Scheduler {
            program,
            config,
            by_event,
            sequences: HashMap::new(),
            runs: HashMap::new(),
            next_run: 0,
            free,
            waiting: VecDeque::new(),
            holding: 0,
            timers: BTreeSet::new(),
            running: 0,
            now: i64::MIN,
            stopped: false,
            stats: StepStats::default(),
        }
    }

    pub fn stats(&self) -> StepStats {
        self.stats
    }

    /// Some step is triggered by events of this type.
    pub fn wants(&self, ty: EventId) -> bool {
        self.by_event
            .get(ty as usize)
            .is_some_and(|v| !v.is_empty())
    }

    /// The run, while it has not ended.
    pub fn run(&self, id: u64) -> Option<&StepRun> {
        self.runs.get(&id)
    }

    /// The next time [`Scheduler::time`] has something to do.
    pub fn next_wake(&self) -> Option<i64> {
        self.timers.iter().next().map(|t| t.0)
    }

    /// Work is outstanding: a run is delayed, waiting, running or backing
    /// off. After an unhandled failure under [`OnFailure::Stop`], only
    /// running attempts count (nothing else will start).
    pub fn busy(&self) -> bool {
        self.running > 0 || (!self.stopped && !self.runs.is_empty())
    }

    /// Moves a run to `phase`, keeping the count of running attempts.
    fn set_phase(&mut self, run: u64, phase: Phase) {
        if let Some(r) = self.runs.get_mut(&run) {
            if r.phase == Phase::Running {
                self.running -= 1;
            }
            if phase == Phase::Running {
                self.running += 1;
            }
            r.phase = phase;
        }
    }

    /// No attempt is running and no run waits for resources: all that is
    /// left (if anything) waits for a delay or a back-off.
    pub fn only_timers(&self) -> bool {
        self.running == 0 && (self.waiting.is_empty() || self.stopped)
    }

    /// Nothing new starts from now on (the process was asked to stop):
    /// running attempts may still end.
    pub fn halt(&mut self) {
        self.stopped = true;
    }

    /// An unhandled failure (or [`Scheduler::halt`]) stopped new work.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// An event in `sequence`, at wall time `now`: it may fire triggers.
    pub fn event(
        &mut self,
        ev: &Arc<Event>,
        sequence: &Arc<str>,
        now: i64,
        out: &mut Vec<StepOutput>,
    ) {
        self.tick(now);
        let Some(steps) = self.by_event.get(ev.ty as usize) else {
            return;
        };
        if steps.is_empty() {
            return;
        }
        let seq = self.sequences.entry(sequence.clone()).or_default();
        if seq.seen.contains_key(&ev.ty) {
            return;
        }
        seq.seen.insert(ev.ty, ev.clone());
        out.push(StepOutput::Record(Record::Seen {
            sequence: sequence.clone(),
            event: ev.clone(),
            time: self.now,
        }));
        let mut fired = Vec::new();
        for &si in steps {
            if seq.started.contains(&si) {
                continue;
            }
            let Some(step) = self.program.steps.get(si as usize) else {
                continue;
            };
            if fires(&step.trigger, &seq.seen) {
                let mut triggers: Vec<Arc<Event>> = step
                    .trigger
                    .events()
                    .iter()
                    .filter_map(|t| seq.seen.get(t).cloned())
                    .collect();
                triggers.sort_by_key(|e| e.ty);
                fired.push((si, step.delay_ms, triggers));
            }
        }
        for (si, _, _) in &fired {
            seq.started.insert(*si);
        }
        for (si, delay, triggers) in fired {
            self.create(si, sequence.clone(), triggers, delay, out);
        }
        self.grant(out);
    }

    /// An event a step emitted, in `sequence`, that no step is triggered
    /// by, has been processed: recorded as seen (a [`Record::Seen`]) so
    /// that a recovery does not emit it again ([`Scheduler::restore`]
    /// re-emits only what a sequence has not seen). For a type some step
    /// wants, [`Scheduler::event`] does this; nothing happens here then.
    pub fn processed(
        &mut self,
        ev: &Arc<Event>,
        sequence: &Arc<str>,
        now: i64,
        out: &mut Vec<StepOutput>,
    ) {
        if self.wants(ev.ty) {
            return;
        }
        self.tick(now);
        let seq = self.sequences.entry(sequence.clone()).or_default();
        if seq.seen.contains_key(&ev.ty) {
            return;
        }
        seq.seen.insert(ev.ty, ev.clone());
        out.push(StepOutput::Record(Record::Seen {
            sequence: sequence.clone(),
            event: ev.clone(),
            time: self.now,
        }));
    }

    /// The wall clock is now `now`: delays and back-offs that are due
    /// start, timeouts that passed kill their attempts.
    pub fn time(&mut self, now: i64, out: &mut Vec<StepOutput>) {
        self.tick(now);
        while let Some(&(due, run, wake)) = self.timers.iter().next() {
            if due > self.now {
                break;
            }
            self.timers.remove(&(due, run, wake));
            if let Some(r) = self.runs.get_mut(&run) {
                if r.wake == Some((due, wake)) {
                    r.wake = None;
                }
                if r.timeout == Some((due, wake)) {
                    r.timeout = None;
                }
            }
            match wake {
                Wake::Start => {
                    if let Some(r) = self.runs.get_mut(&run) {
                        if r.phase == Phase::Delayed {
                            r.phase = Phase::Waiting;
                            self.waiting.push_back(run);
                        }
                    }
                }
                Wake::Retry => {
                    if self
                        .runs
                        .get(&run)
                        .is_some_and(|r| r.phase == Phase::Backoff)
                    {
                        if self.stopped {
                            // Nothing new starts after an unhandled failure:
                            // the run ends as failed.
                            self.end(run, Status::Failure, out);
                        } else {
                            self.start_attempt(run, out);
                        }
                    }
                }
                Wake::Timeout(attempt) => {
                    let live = self
                        .runs
                        .get(&run)
                        .is_some_and(|r| r.phase == Phase::Running && r.attempt == attempt);
                    if live {
                        out.push(StepOutput::Kill { run, attempt });
                        self.stats.timed_out += 1;
                        let detail = match self.step_of(run).and_then(|s| s.timeout_ms) {
                            Some(ms) => format!("timed out after {ms} ms"),
                            None => "timed out".to_string(),
                        };
                        self.attempt_failed(
                            run,
                            attempt,
                            Outcome::Failure {
                                exit: None,
                                http: None,
                                detail,
                            },
                            true,
                            out,
                        );
                    }
                }
            }
        }
        self.grant(out);
    }

    /// Attempt `attempt` of `run` ended at `now`. A report for an attempt
    /// that is no longer running (it timed out) is ignored.
    pub fn ended(
        &mut self,
        run: u64,
        attempt: u32,
        outcome: Outcome,
        now: i64,
        out: &mut Vec<StepOutput>,
    ) {
        self.tick(now);
        let live = self
            .runs
            .get(&run)
            .is_some_and(|r| r.phase == Phase::Running && r.attempt == attempt);
        if !live {
            return;
        }
        match outcome {
            Outcome::Success => {
                out.push(StepOutput::Record(Record::AttemptEnded {
                    run,
                    attempt,
                    time: self.now,
                    outcome: Outcome::Success,
                    timed_out: false,
                    retry_at: None,
                }));
                self.end(run, Status::Success, out);
            }
            failure => self.attempt_failed(run, attempt, failure, false, out),
        }
        self.grant(out);
    }

    fn tick(&mut self, now: i64) {
        self.now = self.now.max(now);
    }

    fn step_of(&self, run: u64) -> Option<&cep_ir::Step> {
        let r = self.runs.get(&run)?;
        self.program.steps.get(r.step as usize)
    }

    fn create(
        &mut self,
        step: u32,
        sequence: Arc<str>,
        triggers: Vec<Arc<Event>>,
        delay_ms: u64,
        out: &mut Vec<StepOutput>,
    ) {
        self.next_run += 1;
        let id = self.next_run;
        let due = self
            .now
            .saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX));
        self.stats.runs += 1;
        out.push(StepOutput::Record(Record::Created {
            run: id,
            step,
            sequence: sequence.clone(),
            time: self.now,
            triggers: triggers.clone(),
            due,
        }));
        self.insert_run(id, step, sequence, triggers, due);
        self.status_emits(id, Status::Ready, out);
    }

    /// A `ready` run: delayed until `due`, or waiting for its resources
    /// now.
    fn insert_run(
        &mut self,
        id: u64,
        step: u32,
        sequence: Arc<str>,
        triggers: Vec<Arc<Event>>,
        due: i64,
    ) {
        let (phase, wake) = if due > self.now {
            self.timers.insert((due, id, Wake::Start));
            (Phase::Delayed, Some((due, Wake::Start)))
        } else {
            self.waiting.push_back(id);
            (Phase::Waiting, None)
        };
        self.runs.insert(
            id,
            StepRun {
                id,
                step,
                sequence,
                triggers,
                attempt: 0,
                phase,
                wake,
                timeout: None,
            },
        );
    }

    /// Grants waiting runs their resources and slot, in request order: a
    /// run waits behind every earlier waiting run that needs one of its
    /// pools (and all wait for a slot), so none starves.
    fn grant(&mut self, out: &mut Vec<StepOutput>) {
        if self.stopped {
            return;
        }
        let mut blocked: HashSet<u32> = HashSet::new();
        let mut i = 0;
        while i < self.waiting.len() {
            if self
                .config
                .max_concurrent
                .is_some_and(|m| self.holding >= m)
            {
                break;
            }
            let Some(&run) = self.waiting.get(i) else {
                break;
            };
            let needs: Vec<(u32, u64)> = self
                .step_of(run)
                .map(|s| s.acquire.iter().map(|a| (a.resource, a.units)).collect())
                .unwrap_or_default();
            let clear = needs.iter().all(|(r, _)| !blocked.contains(r));
            let enough = needs
                .iter()
                .all(|(r, n)| self.free.get(*r as usize).is_some_and(|f| f >= n));
            if clear && enough {
                for (r, n) in &needs {
                    if let Some(f) = self.free.get_mut(*r as usize) {
                        *f -= n;
                    }
                }
                self.waiting.remove(i);
                self.holding += 1;
                out.push(StepOutput::Record(Record::Granted {
                    run,
                    time: self.now,
                }));
                self.status_emits(run, Status::Active, out);
                self.start_attempt(run, out);
            } else {
                blocked.extend(needs.iter().map(|(r, _)| *r));
                i += 1;
            }
        }
    }

    fn start_attempt(&mut self, run: u64, out: &mut Vec<StepOutput>) {
        let Some(r) = self.runs.get_mut(&run) else {
            return;
        };
        r.attempt += 1;
        let attempt = r.attempt;
        self.set_phase(run, Phase::Running);
        self.stats.attempts += 1;
        out.push(StepOutput::Record(Record::Attempt {
            run,
            attempt,
            time: self.now,
        }));
        let Some(step) = self.step_of(run) else {
            return;
        };
        let timeout = step.timeout_ms;
        let action = step.action.clone();
        let triggers = self
            .runs
            .get(&run)
            .map(|r| r.triggers.clone())
            .unwrap_or_default();
        match action {
            Action::Emit { event, fields } => {
                let sequence = self.runs.get(&run).map(|r| r.sequence.clone());
                if let Some(sequence) = sequence {
                    let ev = self.make_event(event, &fields, &triggers);
                    out.push(StepOutput::Emit {
                        event: ev,
                        sequence,
                    });
                }
                out.push(StepOutput::Record(Record::AttemptEnded {
                    run,
                    attempt,
                    time: self.now,
                    outcome: Outcome::Success,
                    timed_out: false,
                    retry_at: None,
                }));
                self.end(run, Status::Success, out);
            }
            Action::Run { program, args, env } => {
                let scope = scope(&triggers);
                let action = Resolved::Run {
                    program,
                    args: args.iter().map(|a| text(&eval(a, &scope.get()))).collect(),
                    env: env
                        .iter()
                        .map(|(k, e)| (k.clone(), text(&eval(e, &scope.get()))))
                        .collect(),
                };
                self.launch(run, attempt, action, timeout, out);
            }
            Action::Post { url, body } => {
                let scope = scope(&triggers);
                let body = body
                    .iter()
                    .map(|(k, e)| (k.clone(), json(&eval(e, &scope.get()))))
                    .collect();
                let action = Resolved::Post { url, body };
                self.launch(run, attempt, action, timeout, out);
            }
        }
    }

    fn launch(
        &mut self,
        run: u64,
        attempt: u32,
        action: Resolved,
        timeout: Option<u64>,
        out: &mut Vec<StepOutput>,
    ) {
        if let Some(t) = timeout {
            let due = self
                .now
                .saturating_add(i64::try_from(t).unwrap_or(i64::MAX));
            self.timers.insert((due, run, Wake::Timeout(attempt)));
            if let Some(r) = self.runs.get_mut(&run) {
                r.timeout = Some((due, Wake::Timeout(attempt)));
            }
        }
        out.push(StepOutput::Start {
            run,
            attempt,
            action,
        });
    }

    fn attempt_failed(
        &mut self,
        run: u64,
        attempt: u32,
        outcome: Outcome,
        timed_out: bool,
        out: &mut Vec<StepOutput>,
    ) {
        let retry = self.step_of(run).map(|s| s.retry).unwrap_or(cep_ir::Retry {
            attempts: 0,
            backoff_ms: 0,
        });
        self.clear_timeout(run);
        let retries_left = attempt <= retry.attempts;
        let retry_at = (retries_left && !self.stopped).then(|| {
            self.now
                .saturating_add(i64::try_from(retry.backoff_ms).unwrap_or(i64::MAX))
        });
        out.push(StepOutput::Record(Record::AttemptEnded {
            run,
            attempt,
            time: self.now,
            outcome,
            timed_out,
            retry_at,
        }));
        match retry_at {
            Some(at) if at <= self.now => self.start_attempt(run, out),
            Some(at) => {
                self.set_phase(run, Phase::Backoff);
                if let Some(r) = self.runs.get_mut(&run) {
                    r.wake = Some((at, Wake::Retry));
                }
                self.timers.insert((at, run, Wake::Retry));
            }
            None => self.end(run, Status::Failure, out),
        }
    }

    fn clear_timeout(&mut self, run: u64) {
        if let Some((due, w)) = self.runs.get_mut(&run).and_then(|r| r.timeout.take()) {
            self.timers.remove(&(due, run, w));
        }
    }

    /// The run ends with `status` (success or failure): it gives back its
    /// units and slot, and its status events are emitted.
    fn end(&mut self, run: u64, status: Status, out: &mut Vec<StepOutput>) {
        let Some(r) = self.runs.get_mut(&run) else {
            return;
        };
        if r.phase == Phase::Done {
            return;
        }
        let held = !matches!(r.phase, Phase::Delayed | Phase::Waiting);
        let step = r.step;
        let timers = [r.wake.take(), r.timeout.take()];
        for (due, w) in timers.into_iter().flatten() {
            self.timers.remove(&(due, run, w));
        }
        self.set_phase(run, Phase::Done);
        if held {
            self.holding = self.holding.saturating_sub(1);
            if let Some(s) = self.program.steps.get(step as usize) {
                for a in &s.acquire {
                    if let Some(f) = self.free.get_mut(a.resource as usize) {
                        *f += a.units;
                    }
                }
            }
        }
        let handled = self.program.steps.get(step as usize).is_some_and(|s| {
            s.on_status
                .iter()
                .any(|e| matches!(e.status, Status::Failure | Status::Complete))
        });
        let unhandled = status == Status::Failure && !handled;
        match status {
            Status::Success => self.stats.succeeded += 1,
            _ => self.stats.failed += 1,
        }
        if unhandled {
            self.stats.unhandled += 1;
            if self.config.on_failure == OnFailure::Stop {
                self.stopped = true;
            }
        }
        out.push(StepOutput::Record(Record::Ended {
            run,
            status,
            time: self.now,
            unhandled,
        }));
        self.status_emits(run, status, out);
        self.status_emits(run, Status::Complete, out);
        self.runs.remove(&run);
    }

    /// The `on <status> emit` events of the run's step, for `status`.
    fn status_emits(&mut self, run: u64, status: Status, out: &mut Vec<StepOutput>) {
        let Some(r) = self.runs.get(&run) else {
            return;
        };
        let Some(step) = self.program.steps.get(r.step as usize) else {
            return;
        };
        let sequence = r.sequence.clone();
        let triggers = r.triggers.clone();
        let emits: Vec<(EventId, Vec<cep_ir::Expr>)> = step
            .on_status
            .iter()
            .filter(|e| e.status == status)
            .map(|e| (e.event, e.fields.clone()))
            .collect();
        for (ty, fields) in emits {
            let ev = self.make_event(ty, &fields, &triggers);
            out.push(StepOutput::Emit {
                event: ev,
                sequence: sequence.clone(),
            });
        }
    }

    fn make_event(&self, ty: EventId, fields: &[cep_ir::Expr], triggers: &[Arc<Event>]) -> Event {
        let scope = scope(triggers);
        let values: Vec<Value> = fields.iter().map(|e| eval(e, &scope.get())).collect();
        Event::new(ty, 0, 0, values)
    }
}

/// The trigger fires with these event types seen.
fn fires(t: &Trigger, seen: &HashMap<EventId, Arc<Event>>) -> bool {
    match t {
        Trigger::Event(e) => seen.contains_key(e),
        Trigger::All(v) => v.iter().all(|t| fires(t, seen)),
        Trigger::Any(v) => v.iter().any(|t| fires(t, seen)),
    }
}

/// The scope of a step's expressions: its trigger events.
struct StepScope<'a> {
    chain: Chain,
    triggers: &'a [Arc<Event>],
}

impl<'a> StepScope<'a> {
    fn get(&self) -> Scope<'_> {
        Scope {
            current: None,
            chain: &self.chain,
            triggers: self.triggers,
        }
    }
}

fn scope(triggers: &[Arc<Event>]) -> StepScope<'_> {
    StepScope {
        chain: Chain::default(),
        triggers,
    }
}

/// A value as a program argument or environment variable: strings as
/// they are, numbers and booleans as JSON writes them, durations in
/// milliseconds, times in RFC 3339, no value as the empty string.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Str(s) => s.to_string(),
        Value::Int(i) | Value::Duration(i) => i.to_string(),
        Value::Float(_) | Value::Bool(_) => json(v).to_string(),
        Value::Time(t) => format_rfc3339(*t),
    }
}

/// A value as JSON: durations and times in milliseconds (as complex events
/// write them), no value (or a float that is not finite) as `null`.
pub fn json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Int(i) | Value::Duration(i) | Value::Time(i) => (*i).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::Str(s) => serde_json::Value::String(s.to_string()),
        Value::Bool(b) => serde_json::Value::Bool(*b),
    }
}
