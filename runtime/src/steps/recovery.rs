//! Recovery: the scheduler takes up the step runs a durable store kept of
//! an earlier run, by Eventor's run modes (`recover`: each run by its
//! step's `recover` policy for the status it was found in; `continue`:
//! where it stopped). Shared seed 003, "Recovery" and "Delayed
//! Associations"; docs/runtime.md, "After a crash".

use super::{Record, Scheduler, StepOutput};
use crate::value::Event;
use cep_ir::{EventId, Status};
use std::sync::Arc;

/// How a restarted runtime takes up the step runs of an earlier run
/// (Eventor's run modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Each step run found is rerun or skipped by its step's `recover`
    /// policy for the status it was found in.
    Recover,
    /// The run picks up where it stopped: what was ready waits for its
    /// due time, what was running runs again, what was backing off retries
    /// at its time; ended runs stay as they are.
    Continue,
}

/// A step run as a durable store kept it.
#[derive(Clone, Debug)]
pub struct Stored {
    pub id: u64,
    pub step: u32,
    pub sequence: Arc<str>,
    /// `Ready`, `Active`, `Success` or `Failure` (`Complete` is not a
    /// stored status); a skipped run is given as `Success`.
    pub status: Status,
    pub attempt: u32,
    /// When it was to request its resources (ready) or retry (active).
    pub due: Option<i64>,
    pub triggers: Vec<Arc<Event>>,
}

impl Scheduler {
    /// Takes up an earlier run (a recovery): `seen` are the events each
    /// sequence had seen, `runs` its step runs. Runs rerun keep their id
    /// (their records update the same rows) and start again at attempt 1
    /// with their whole retry budget; a run that was ready keeps its due
    /// time, one rerun after a failure does not wait for its `after` again.
    /// A skipped run fires its `on success` and `on complete` events unless
    /// the sequence has already seen them; so does a run found ended (for
    /// its own status), since a crash can fall between a status record and
    /// the events it emits. Call before any other input.
    pub fn restore(
        &mut self,
        mode: Resume,
        seen: Vec<(Arc<str>, Arc<Event>)>,
        runs: Vec<Stored>,
        now: i64,
        out: &mut Vec<StepOutput>,
    ) {
        self.tick(now);
        for (sequence, ev) in seen {
            self.sequences
                .entry(sequence)
                .or_default()
                .seen
                .insert(ev.ty, ev);
        }
        for r in &runs {
            self.sequences
                .entry(r.sequence.clone())
                .or_default()
                .started
                .insert(r.step);
            self.next_run = self.next_run.max(r.id);
        }
        for r in runs {
            let Some(step) = self.program.steps.get(r.step as usize) else {
                continue;
            };
            let policy = step.recover;
            let what = match (mode, r.status) {
                (Resume::Recover, Status::Ready) => policy.ready,
                (Resume::Recover, Status::Active) => policy.active,
                (Resume::Recover, Status::Success) => policy.success,
                (Resume::Recover, _) => policy.failure,
                (Resume::Continue, Status::Ready | Status::Active) => cep_ir::Recovery::Rerun,
                (Resume::Continue, _) => cep_ir::Recovery::Skip,
            };
            // A crash can fall between a status and the events it emits
            // (they are fed on after the record): those the sequence has
            // not seen are emitted now, so no flow stops there.
            match (what, r.status) {
                (cep_ir::Recovery::Skip, Status::Success | Status::Failure)
                    if mode == Resume::Continue || r.status == Status::Success =>
                {
                    self.refire(&r, &[r.status, Status::Complete], out);
                }
                (cep_ir::Recovery::Skip, _) => {
                    out.push(StepOutput::Record(Record::Skipped {
                        run: r.id,
                        step: r.step,
                        sequence: r.sequence.clone(),
                        time: self.now,
                    }));
                    self.refire(&r, &[Status::Success, Status::Complete], out);
                }
                (cep_ir::Recovery::Rerun, _) => {
                    if r.status == Status::Ready {
                        self.refire(&r, &[Status::Ready], out);
                    }
                    self.requeue(r, mode, out);
                }
            }
        }
        self.grant(out);
    }

    fn requeue(&mut self, r: Stored, mode: Resume, out: &mut Vec<StepOutput>) {
        // A ready run keeps its due time; under `continue` a run that was
        // backing off retries at its time; everything else starts now.
        let due = match (r.status, mode) {
            (Status::Ready, _) | (Status::Active, Resume::Continue) => {
                r.due.unwrap_or(self.now).max(self.now)
            }
            _ => self.now,
        };
        let id = r.id;
        self.stats.runs += 1;
        out.push(StepOutput::Record(Record::Requeued {
            run: id,
            step: r.step,
            sequence: r.sequence.clone(),
            time: self.now,
            due,
        }));
        self.insert_run(id, r.step, r.sequence, r.triggers, due);
    }

    /// Emits the `on <status> emit` events of `r`'s step for `statuses`
    /// whose types its sequence has not seen.
    fn refire(&mut self, r: &Stored, statuses: &[Status], out: &mut Vec<StepOutput>) {
        let Some(step) = self.program.steps.get(r.step as usize) else {
            return;
        };
        let seen = self.sequences.get(&r.sequence);
        let emits: Vec<(EventId, Vec<cep_ir::Expr>)> = step
            .on_status
            .iter()
            .filter(|e| statuses.contains(&e.status))
            .filter(|e| seen.is_none_or(|s| !s.seen.contains_key(&e.event)))
            .map(|e| (e.event, e.fields.clone()))
            .collect();
        for (ty, fields) in emits {
            let ev = self.make_event(ty, &fields, &r.triggers);
            out.push(StepOutput::Emit {
                event: ev,
                sequence: r.sequence.clone(),
            });
        }
    }
}
