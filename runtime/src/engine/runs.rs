//! Runs handed between the engine and its peers (`crate::peer`): a live
//! run looked up, a run learned from a peer put in, a run that ended
//! elsewhere taken out, and the complex event of a run that completed
//! elsewhere. Pure, like the rest of the engine.

use super::{emit, Complex, Engine};
use crate::run::{Chain, Run};
use crate::value::{Event, Value};
use std::sync::Arc;

impl Engine {
    /// The live run `id` of `pattern` (its index in the IR) in partition
    /// `key` (the values of the pattern's partition key; empty when it
    /// has none).
    pub fn run(&self, pattern: u32, key: &[Value], id: u64) -> Option<&Run> {
        self.matchers.get(pattern as usize)?.get(key, id)
    }

    /// A run id of `pattern` for a run learned from a peer (never one of
    /// the pattern's own ids); `None` for no such pattern.
    pub fn new_run_id(&mut self, pattern: u32) -> Option<u64> {
        Some(self.matchers.get_mut(pattern as usize)?.next_id())
    }

    /// Puts `run` (learned from a peer) in `pattern`'s partition `key`, in
    /// place of the run with its id, and wakes the partition at the run's
    /// deadline (its absence or its window). False for no such pattern.
    pub fn put_run(&mut self, pattern: u32, key: &[Value], run: Run) -> bool {
        let Some(m) = self.matchers.get_mut(pattern as usize) else {
            return false;
        };
        if let Some((part, deadline)) = m.put(key, run) {
            self.schedule(pattern, part, deadline);
        }
        true
    }

    /// Takes run `id` out of `pattern`'s partition `key`: it completed or
    /// ended on a peer. Nothing is reported for it here.
    pub fn take_run(&mut self, pattern: u32, key: &[Value], id: u64) -> Option<Run> {
        self.matchers.get_mut(pattern as usize)?.take(key, id)
    }

    /// The earliest deadline scheduled (ms; a pattern's absence or window,
    /// a process retirement), `None` when there is none. It may be one
    /// that no longer holds anything (a run that ended since): handling
    /// it then does nothing. Peers announce it as the next thing they
    /// will process (`crate::peer::member`).
    pub fn next_deadline(&self) -> Option<i64> {
        let pattern = self.timers.peek().map(|t| t.0.deadline);
        let rate = self.rate_timers.first_key_value().map(|(k, _)| k.0);
        [pattern, self.procs.next_deadline(), rate]
            .into_iter()
            .flatten()
            .min()
    }

    /// A new sequence number of this engine (it orders what the patterns
    /// see): for the events of a learned run, which the engine never
    /// processed.
    pub fn stamp(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The complex event of a run of `pattern` that completed on a peer
    /// with the events of `chain`, at `time` (ms): the pattern's `emit`
    /// over them. It is only the record to write: it is not fed to the
    /// patterns that consume it (on its origin peer it was) and counts
    /// nowhere. `None` for no such pattern.
    pub fn complex_of(
        &mut self,
        pattern: u32,
        run: u64,
        chain: &Chain,
        time: i64,
    ) -> Option<Complex> {
        let m = self.matchers.get(pattern as usize)?;
        let fields = emit(m, chain);
        self.seq += 1;
        let event = Event {
            ty: m.ir.output,
            time: time.min(cep_ir::MAX_TIME_MS),
            seq: self.seq,
            source: 0,
            origin: self.config.member,
            run: Some(run),
            fields,
        };
        Some(Complex {
            event: Arc::new(event),
            pattern,
            run,
            matched: chain.clone(),
        })
    }
}
