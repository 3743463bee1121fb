//! The whole program as one pure state machine: the pattern engine and
//! the step scheduler, with the events that flow between them.
//!
//! - An input event goes to the engine; if a step is triggered by its
//!   type (and it is not late), to the scheduler too, in the sequence it
//!   names (`"@cep": {"sequence": ...}`) or in a sequence of its own
//!   (`line-<n>`, its input line).
//! - A complex event goes to the scheduler in the sequence named by the
//!   run that produced it (`cep-Heatwave-3`), so replaying an input names
//!   the same sequences.
//! - An event a step emits is stamped with the engine's current event time
//!   and goes to the engine (a pattern can match it) and back to the
//!   scheduler, in its step run's sequence, until nothing more flows.
//! - At the end of the input, event time stops where it is while step work
//!   is outstanding; when none is left, all time passes
//!   ([`Engine::finish`]), which may complete absences and trigger more
//!   steps, and so on until both are done.
//!
//! Event time (the engine's) and the wall clock (the scheduler's `after`,
//! back-off and timeout) are separate: the edge passes the wall clock in
//! with every input.

use crate::engine::{Engine, Output};
use crate::steps::{Outcome, Scheduler, StepOutput};
use crate::value::Event;
use std::collections::VecDeque;
use std::sync::Arc;

/// One output of the program, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum RunOutput {
    Engine(Output),
    /// Step outputs; `Emit` is reported for the record only (the runner
    /// has already fed the event on).
    Step(StepOutput),
}

pub struct Runner {
    pub engine: Engine,
    pub steps: Scheduler,
    outs: Vec<Output>,
    souts: Vec<StepOutput>,
    emitted: VecDeque<(Event, Arc<str>)>,
    /// The sequences input events named, by line, until they are processed.
    sequences: std::collections::HashMap<u64, Arc<str>>,
    input_ended: bool,
    /// The engine has let all time pass and nothing came after.
    finished: bool,
}

impl Runner {
    pub fn new(mut engine: Engine, steps: Scheduler) -> Runner {
        // Input events reach the scheduler as the engine processes them:
        // in time order, and only when no process refused them.
        let wanted: Vec<u32> = (0..engine.program().events.len())
            .filter_map(|t| u32::try_from(t).ok())
            .filter(|t| steps.wants(*t))
            .collect();
        engine.forward(wanted);
        Runner {
            engine,
            steps,
            outs: Vec::new(),
            souts: Vec::new(),
            emitted: VecDeque::new(),
            sequences: std::collections::HashMap::new(),
            input_ended: false,
            finished: false,
        }
    }

    /// An input event (its `source` is its line), in `sequence` if it
    /// names one, at wall time `now`.
    pub fn input(
        &mut self,
        event: Event,
        sequence: Option<Arc<str>>,
        now: i64,
        out: &mut Vec<RunOutput>,
    ) {
        self.finished = false;
        if let Some(q) = sequence.filter(|_| self.steps.wants(event.ty)) {
            self.sequences.insert(event.source, q);
        }
        self.engine.push(event, &mut self.outs);
        self.flow(now, out);
    }

    /// Event time is now `t` (a quiet live input, `cep run --idle`):
    /// held events up to `t` are processed and deadlines up to `t`
    /// handled ([`Engine::advance`]); `now` is the wall clock.
    pub fn advance(&mut self, t: i64, now: i64, out: &mut Vec<RunOutput>) {
        self.finished = false;
        self.engine.advance(t, &mut self.outs);
        self.flow(now, out);
    }

    /// The wall clock is now `now`.
    pub fn time(&mut self, now: i64, out: &mut Vec<RunOutput>) {
        self.steps.time(now, &mut self.souts);
        self.flow(now, out);
    }

    /// Attempt `attempt` of step run `run` ended.
    pub fn ended(
        &mut self,
        run: u64,
        attempt: u32,
        outcome: Outcome,
        now: i64,
        out: &mut Vec<RunOutput>,
    ) {
        self.steps
            .ended(run, attempt, outcome, now, &mut self.souts);
        self.flow(now, out);
    }

    /// The input ended.
    pub fn end_input(&mut self, now: i64, out: &mut Vec<RunOutput>) {
        self.input_ended = true;
        self.flow(now, out);
    }

    /// Takes up an earlier run's step runs (a recovery): see
    /// [`Scheduler::restore`]. Call before any input.
    pub fn restore(
        &mut self,
        mode: crate::steps::Resume,
        seen: Vec<(Arc<str>, Arc<Event>)>,
        runs: Vec<crate::steps::Stored>,
        now: i64,
        out: &mut Vec<RunOutput>,
    ) {
        self.steps.restore(mode, seen, runs, now, &mut self.souts);
        self.flow(now, out);
    }

    /// The input stops before its end (a signal): held events are
    /// processed but time passes no further ([`Engine::release_held`]),
    /// and no new attempt starts; running attempts may still report.
    pub fn stop(&mut self, now: i64, out: &mut Vec<RunOutput>) {
        self.engine.release_held(&mut self.outs);
        self.steps.halt();
        self.flow(now, out);
    }

    /// The input ended, no step work is outstanding and all time has
    /// passed: nothing more will happen.
    pub fn done(&self) -> bool {
        self.input_ended && self.finished && !self.steps.busy()
    }

    /// Moves events between the engine and the scheduler until nothing
    /// more flows, and reports everything in order.
    fn flow(&mut self, now: i64, out: &mut Vec<RunOutput>) {
        loop {
            self.engine_outputs(now, out);
            // Drained and given back, so that the buffers keep their
            // capacity (no allocation per input in the steady state).
            let mut souts = std::mem::take(&mut self.souts);
            for o in souts.drain(..) {
                if let StepOutput::Emit { event, sequence } = &o {
                    self.emitted.push_back((event.clone(), sequence.clone()));
                }
                out.push(RunOutput::Step(o));
            }
            if self.souts.is_empty() {
                self.souts = souts;
            }
            if let Some((mut ev, sequence)) = self.emitted.pop_front() {
                self.finished = false;
                ev.time = self.engine.now().unwrap_or(0);
                // An event a step emitted (source 0) goes to the scheduler
                // at once, unless a process refused it.
                let for_steps = self.steps.wants(ev.ty).then(|| ev.clone());
                let before = self.outs.len();
                self.engine.push(ev, &mut self.outs);
                let refused = self
                    .outs
                    .get(before..)
                    .is_some_and(|o| o.iter().any(|o| matches!(o, Output::Refused { event, .. } if event.source == 0 && event.run.is_none())));
                if let (Some(ev), false) = (for_steps, refused) {
                    self.steps
                        .event(&Arc::new(ev), &sequence, now, &mut self.souts);
                }
                continue;
            }
            if self.input_ended && !self.finished && !self.steps.busy() {
                self.finished = true;
                self.engine.finish(&mut self.outs);
                continue;
            }
            break;
        }
    }

    fn engine_outputs(&mut self, now: i64, out: &mut Vec<RunOutput>) {
        let mut outs = std::mem::take(&mut self.outs);
        for o in outs.drain(..) {
            match &o {
                Output::Complex(c) if self.steps.wants(c.event.ty) => {
                    let sequence: Arc<str> = Arc::from(self.engine.run_name(c.pattern, c.run));
                    self.steps.event(&c.event, &sequence, now, &mut self.souts);
                }
                Output::Admitted(ev) if ev.source != 0 => {
                    let sequence = self
                        .sequences
                        .remove(&ev.source)
                        .unwrap_or_else(|| Arc::from(format!("line-{}", ev.source)));
                    self.steps.event(ev, &sequence, now, &mut self.souts);
                    continue;
                }
                Output::Admitted(_) => continue,
                _ => {}
            }
            if !self.sequences.is_empty() {
                if let Output::Late(e) = &o {
                    self.sequences.remove(&e.source);
                }
                if let Output::Refused { event, .. } = &o {
                    self.sequences.remove(&event.source);
                }
            }
            out.push(RunOutput::Engine(o));
        }
        if self.outs.is_empty() {
            self.outs = outs;
        }
    }
}
