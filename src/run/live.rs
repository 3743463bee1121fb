//! The loop of `cep run`: input lines to the runner (engine + step
//! scheduler), the runner's outputs to the files, the store and the step
//! executor, and back: attempts that ended, the wall clock's deadlines.
//!
//! - Lines are processed as they arrive; the outputs are flushed (and the
//!   store committed) whenever the loop would wait.
//! - Every record is written into the store's transaction, and the
//!   transaction is committed before an attempt starts, so what allows an
//!   action is durable before the action.
//! - The wall clock is read here only, and passed into the core. With
//!   `--dry-run` it is simulated: every attempt succeeds at once, nothing
//!   is started, and the clock jumps to the next deadline instead of
//!   waiting for it.
//! - At the end of the input the loop goes on until no step work is left
//!   and all time has passed. A signal stops taking input and starts
//!   nothing new; running attempts get `--grace` to finish, then are
//!   killed (their runs stay `active` in the store).

use super::input::{Feed, Next};
use super::sink::{why, Outputs, Stop};
use super::Options;
use cep_exec::{Executor, Identity, Store};
use cep_ir::Program;
use cep_runtime::ingest::{Batch, Decoded};
use cep_runtime::{Outcome, Resolved, RunOutput, Runner, Scheduler, StepOutput};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The wall clock in epoch milliseconds: real, or simulated (`--dry-run`).
pub(super) enum Clock {
    Real,
    Simulated(i64),
}

impl Clock {
    pub(super) fn now(&self) -> i64 {
        match self {
            Clock::Real => wall_ms(),
            Clock::Simulated(t) => *t,
        }
    }
}

/// The system clock, epoch milliseconds.
pub(super) fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// With `--idle`, how often a quiet input moves event time on at most.
const IDLE_TICK: Duration = Duration::from_millis(100);

/// How the loop ended.
pub(super) enum Ending {
    /// The input ended and everything was done.
    Done,
    /// A signal stopped it; `input_ended` when the input had ended before
    /// (only step work was left).
    Signal { sig: i32, input_ended: bool },
}

pub(super) struct Live<'a> {
    pub(super) o: &'a Options,
    pub(super) program: Arc<Program>,
    pub(super) runner: Runner,
    pub(super) outputs: Outputs,
    pub(super) store: Option<Store>,
    pub(super) exec: Option<Executor>,
    pub(super) clock: Clock,
    pub(super) input_name: String,
    /// Directory of each source file, for relative program paths.
    pub(super) dirs: Vec<PathBuf>,
    pub(super) run_id: String,
    /// The decoder's latest event time as of the line processed last.
    latest: Option<i64>,
    outs: Vec<RunOutput>,
    /// `--dry-run`: attempts started and not yet reported.
    dry: VecDeque<(u64, u32)>,
    input_ended: bool,
    /// `--idle D` (ms): the latest event time read and when it was read;
    /// after D without input, event time follows the wall clock from
    /// there.
    last_input: Option<(i64, Instant)>,
}

impl<'a> Live<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        o: &'a Options,
        program: Arc<Program>,
        runner: Runner,
        outputs: Outputs,
        store: Option<Store>,
        exec: Option<Executor>,
        clock: Clock,
        input_name: String,
        run_id: String,
    ) -> Live<'a> {
        let dirs = rule_dirs(&program);
        Live {
            o,
            program,
            runner,
            outputs,
            store,
            exec,
            clock,
            input_name,
            dirs,
            run_id,
            latest: None,
            outs: Vec::new(),
            dry: VecDeque::new(),
            input_ended: false,
            last_input: None,
        }
    }

    /// `--idle`: when the quiet input lets event time follow the wall
    /// clock next (the first time D after the last input, then every
    /// `IDLE_TICK` or D, whichever is shorter), and the event time then.
    fn idle_due(&self) -> Option<Instant> {
        let d = Duration::from_millis(self.o.idle_ms?);
        let (_, at) = self.last_input?;
        if self.input_ended {
            return None;
        }
        let first = at + d;
        let now = Instant::now();
        if now < first {
            return Some(first);
        }
        let tick = d.min(IDLE_TICK);
        let since = now.duration_since(first);
        let n = u32::try_from(since.as_millis() / tick.as_millis().max(1)).unwrap_or(u32::MAX);
        Some(first + tick * n.saturating_add(1))
    }

    /// `--idle`: the input has been quiet for D or more; event time is
    /// the latest event time read plus the wall time since it was read.
    fn idle_advance(&mut self) -> Result<(), Stop> {
        let (Some(d), Some((t, at))) = (self.o.idle_ms, self.last_input) else {
            return Ok(());
        };
        let quiet = at.elapsed();
        if self.input_ended || quiet < Duration::from_millis(d) {
            return Ok(());
        }
        let t = t.saturating_add(i64::try_from(quiet.as_millis()).unwrap_or(i64::MAX));
        let now = self.clock.now();
        self.runner.advance(t, now, &mut self.outs);
        self.act((0, &[]))?;
        self.outputs.flush()
    }

    /// Acts on what a recovery produced before the first input.
    pub(super) fn begin(&mut self, restored: Vec<RunOutput>) -> Result<(), Stop> {
        self.outs = restored;
        self.act((0, &[]))
    }

    /// Runs until the input ended and nothing is left to do, or a signal.
    pub(super) fn run(&mut self, feed: &mut Feed) -> Result<Ending, Stop> {
        let mut stopping: Option<(i32, Instant)> = None;
        loop {
            if stopping.is_none() && self.runner.done() {
                // Every process instance that is not accepting, once (the
                // count in the summary is of this report only).
                self.outputs.not_accepting = 0;
                self.acceptance()?;
                return Ok(Ending::Done);
            }
            // `--once`: nothing can start without waiting for a delay or
            // a back-off; what waits stays in the store.
            if self.o.once
                && stopping.is_none()
                && self.input_ended
                && self.dry.is_empty()
                && self.runner.steps.only_timers()
            {
                return Ok(Ending::Done);
            }
            if let Some((sig, _)) = stopping {
                if !self.runner.steps.busy() {
                    return Ok(self.signalled(sig));
                }
            }
            let next = match feed.poll() {
                Some(n) => n,
                None => {
                    self.idle()?;
                    if let Some((run, attempt)) = self.dry.pop_front() {
                        self.ended(run, attempt, Outcome::Success)?;
                        continue;
                    }
                    let wake = self.runner.steps.next_wake();
                    if let (Clock::Simulated(t), Some(w)) = (&mut self.clock, wake) {
                        *t = (*t).max(w);
                        self.time()?;
                        continue;
                    }
                    let mut deadline = wake.map(|w| {
                        let ms = u64::try_from(w.saturating_sub(self.clock.now())).unwrap_or(0);
                        Instant::now() + Duration::from_millis(ms)
                    });
                    if let Some(i) = self.idle_due() {
                        deadline = Some(deadline.map_or(i, |d| d.min(i)));
                    }
                    if let Some((_, grace)) = stopping {
                        deadline = Some(deadline.map_or(grace, |d| d.min(grace)));
                    }
                    feed.wait(deadline)
                }
            };
            match next {
                Next::Batch(mut b) => {
                    let lines = b.lines;
                    self.batch(&mut b)?;
                    feed.recycle(b);
                    if let Some(s) = self.store.as_mut() {
                        s.input_lines(lines).map_err(|e| Stop::Io(e.0))?;
                    }
                }
                Next::End(mut b) => {
                    self.input_ended = true;
                    self.batch(&mut b)?;
                    let now = self.clock.now();
                    self.runner.end_input(now, &mut self.outs);
                    self.act((0, &[]))?;
                }
                Next::Error(e) => {
                    return Err(Stop::Io(format!(
                        "cannot read {}: {}",
                        self.input_name,
                        why(&e)
                    )))
                }
                Next::Done(f) => {
                    if !f.stderr.is_empty() || !f.stdout.is_empty() {
                        self.attempt_output(&f);
                    }
                    self.ended(f.run, f.attempt, f.outcome)?;
                }
                Next::Started(run, attempt, group) => {
                    if let Some(st) = self.store.as_mut() {
                        st.attempt_group(run, attempt, group)
                            .map_err(|e| Stop::Io(e.0))?;
                    }
                }
                Next::Timeout => {
                    if let Some((sig, grace)) = stopping {
                        if Instant::now() >= grace {
                            if let Some(x) = &self.exec {
                                x.kill_all();
                            }
                            return Ok(self.signalled(sig));
                        }
                    }
                    self.time()?;
                    self.idle_advance()?;
                }
                Next::Report => {
                    // What is held under --max-delay is not processed
                    // early: the report is of what was processed.
                    self.acceptance()?;
                    self.outputs.flush()?;
                }
                Next::StopNow => {
                    if let Some((sig, _)) = stopping {
                        if let Some(x) = &self.exec {
                            x.kill_all();
                        }
                        return Ok(self.signalled(sig));
                    }
                }
                Next::Stop(sig) => {
                    // A line cut short by the signal was not read whole: it
                    // is dropped with `lines`.
                    let now = self.clock.now();
                    self.runner.stop(now, &mut self.outs);
                    self.act((0, &[]))?;
                    let grace = Instant::now() + Duration::from_millis(self.o.grace_ms);
                    stopping = Some((sig, grace));
                }
            }
        }
    }

    /// Writes the acceptance report: every process instance that is not
    /// accepting now.
    fn acceptance(&mut self) -> Result<(), Stop> {
        let mut outs = Vec::new();
        self.runner.engine.acceptance(&mut outs);
        self.outs = outs.into_iter().map(RunOutput::Engine).collect();
        self.act((0, &[]))
    }

    fn signalled(&self, sig: i32) -> Ending {
        Ending::Signal {
            sig,
            input_ended: self.input_ended,
        }
    }

    /// The loop is about to wait: everything written so far goes out, and
    /// the store is committed.
    fn idle(&mut self) -> Result<(), Stop> {
        if let Some(s) = self.store.as_mut() {
            s.commit().map_err(|e| Stop::Io(e.0))?;
        }
        self.outputs.flush()
    }

    fn time(&mut self) -> Result<(), Stop> {
        let now = self.clock.now();
        self.runner.time(now, &mut self.outs);
        self.act((0, &[]))
    }

    fn ended(&mut self, run: u64, attempt: u32, outcome: Outcome) -> Result<(), Stop> {
        let now = self.clock.now();
        self.runner
            .ended(run, attempt, outcome, now, &mut self.outs);
        self.act((0, &[]))
    }

    /// The lines of one chunk, decoded, in order.
    fn batch(&mut self, b: &mut Batch) -> Result<(), Stop> {
        let Batch { items, text, .. } = b;
        for item in items.drain(..) {
            self.latest = item.latest;
            let line = text.get(item.text).unwrap_or(&[]);
            match item.what {
                Decoded::Event { event, sequence } => {
                    if self.o.idle_ms.is_some() {
                        let latest = self
                            .last_input
                            .map_or(event.time, |(t, _)| t.max(event.time));
                        self.last_input = Some((latest, Instant::now()));
                    }
                    // Only steps read the wall clock.
                    let now = if self.program.steps.is_empty() {
                        0
                    } else {
                        self.clock.now()
                    };
                    self.runner.input(event, sequence, now, &mut self.outs);
                    if !self.outs.is_empty() {
                        self.act((item.line, line))?;
                    }
                }
                Decoded::Rejected(r) => self.outputs.dead_letter(item.line, &r, line)?,
            }
        }
        Ok(())
    }

    /// Acts on what the runner produced, in order.
    fn act(&mut self, current: (u64, &[u8])) -> Result<(), Stop> {
        let mut outs = std::mem::take(&mut self.outs);
        let latest = self.latest;
        let mut result = Ok(());
        for o in outs.drain(..) {
            result = match o {
                RunOutput::Engine(e) => {
                    self.outputs
                        .engine(&self.runner.engine, &e, current, latest)
                }
                RunOutput::Step(s) => self.step(s),
            };
            if result.is_err() {
                break;
            }
        }
        self.outs = outs;
        self.outs.clear();
        result
    }

    fn step(&mut self, s: StepOutput) -> Result<(), Stop> {
        match s {
            StepOutput::Record(r) => {
                if let Some(st) = self.store.as_mut() {
                    st.apply(&r).map_err(|e| Stop::Io(e.0))?;
                }
                if let Some(log) = self.outputs.steps.as_mut() {
                    log.record(&self.program, &r)?;
                }
                Ok(())
            }
            StepOutput::Start {
                run,
                attempt,
                action,
            } => {
                // What allows the attempt is durable before it starts.
                if let Some(st) = self.store.as_mut() {
                    st.commit().map_err(|e| Stop::Io(e.0))?;
                }
                match &self.exec {
                    Some(x) => {
                        let who = self.identity(run, attempt, &action);
                        x.start(run, attempt, action, who);
                    }
                    None => self.dry.push_back((run, attempt)),
                }
                Ok(())
            }
            StepOutput::Kill { run, attempt } => {
                if let Some(x) = &self.exec {
                    x.kill(run, attempt);
                }
                Ok(())
            }
            StepOutput::Emit { .. } => Ok(()),
        }
    }

    fn identity(&self, run: u64, attempt: u32, _action: &Resolved) -> Identity {
        let recovery = self.store.as_ref().map_or(0, Store::recovery);
        identity(
            &self.program,
            &self.dirs,
            &self.runner.steps,
            &self.run_id,
            recovery,
            run,
            attempt,
        )
    }

    /// What an attempt wrote, on stderr (its last 4 KiB).
    fn attempt_output(&self, f: &cep_exec::Finished) {
        attempt_output(&self.program, &self.runner.steps, f);
    }
}

/// The directory of each source file of `program`, for relative program
/// paths of steps.
pub(super) fn rule_dirs(program: &Program) -> Vec<PathBuf> {
    program
        .sources
        .iter()
        .map(|s| {
            std::path::Path::new(s)
                .parent()
                .map(|p| p.to_path_buf())
                .unwrap_or_default()
        })
        .collect()
}

/// Who attempt `attempt` of step run `run` is, for the executor (its
/// environment: `CEP_RUN_ID`, `CEP_SEQUENCE`, ...).
pub(super) fn identity(
    program: &Program,
    dirs: &[PathBuf],
    steps: &Scheduler,
    run_id: &str,
    recovery: u32,
    run: u64,
    attempt: u32,
) -> Identity {
    let r = steps.run(run);
    let step = r.and_then(|r| program.steps.get(r.step as usize));
    Identity {
        step: step.map(|s| s.name.clone()).unwrap_or_default(),
        sequence: r.map(|r| r.sequence.to_string()).unwrap_or_default(),
        attempt,
        run_id: run_id.to_string(),
        recovery,
        rules_dir: step
            .and_then(|s| dirs.get(s.source as usize).cloned())
            .unwrap_or_default(),
        timeout_ms: step.and_then(|s| s.timeout_ms),
    }
}

/// What an attempt wrote, on stderr (its last 4 KiB), a line each.
pub(super) fn attempt_output(program: &Program, steps: &Scheduler, f: &cep_exec::Finished) {
    if f.stderr.is_empty() && f.stdout.is_empty() {
        return;
    }
    let r = steps.run(f.run);
    let step = r
        .and_then(|r| program.steps.get(r.step as usize))
        .map_or("?", |s| s.name.as_str());
    let seq = r.map_or(String::new(), |r| r.sequence.to_string());
    for (what, text) in [("stdout", &f.stdout), ("stderr", &f.stderr)] {
        for l in text.lines() {
            crate::err(&format!(
                "cep run: step {step} [{seq}] attempt {} {what}: {l}\n",
                f.attempt
            ));
        }
    }
}
