//! Run states as peers share them, and the one rule that merges two of
//! them (BoboCEP's recovery scenarios, shared seed 001):
//!
//! - COMPLETE beats HALT, and HALT beats UPDATE ("one instance completes
//!   a run, another halts it"; "one instance updates a run, another halts
//!   it");
//! - an update ahead of the local run moves it forward and its history
//!   replaces the local one; an update behind it is ignored ("update is
//!   multiple blocks ahead / behind").
//!
//! Written as a total order on states, and merging as taking the larger:
//! `Active` with 0 events bound < `Active` with 1 < … < `Halted` <
//! `Completed` (a run's history only grows, so "ahead" is "has bound more
//! events", which also covers groups and loops where the automaton state
//! does not move). The maximum of a total order is commutative,
//! associative and idempotent, so duplicated, reordered and replayed
//! messages change nothing, and a RESYNC is plain anti-entropy.
//!
//! Where the seed leaves the choice open (two peers complete the same run
//! with different events; two updates bind the same number of events
//! with different events; two peers halt a run with different
//! histories), the tie is broken on the content alone: the state whose
//! canonical encoding (postcard, `RunState` field by field) is
//! lexicographically larger wins. Never arrival order, never a clock, so
//! every peer picks the same one.

use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// A run's identity across peers and restarts: the pattern, the peer
/// that created the run (its index in the cluster's sorted member
/// names), that peer's incarnation (one more at every restart, from its
/// store) and a counter of that incarnation. Never derived from a clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RunKey {
    /// The pattern's index in the IR.
    pub pattern: u32,
    /// The member that created the run.
    pub origin: u16,
    /// Its incarnation then.
    pub incarnation: u32,
    /// Its counter in that incarnation (from 1).
    pub n: u64,
}

/// Where a run is: in progress, ended without a match (BoboCEP's HALT:
/// halted, killed, expired, skipped or shed), or complete. In this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// In progress.
    Active,
    /// Ended without a match.
    Halted,
    /// Matched: its complex event is written.
    Completed,
}

/// An event a run bound, as peers share it: the block's binding, where
/// the event entered the cluster (the peer and its input position) and
/// its content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    /// The block's binding (its index in the pattern).
    pub binding: u16,
    /// The member whose input the event came in at.
    pub origin: u16,
    /// Its input position there (its line; 0 for a complex event).
    pub position: u64,
    /// Its event type (index in the IR).
    pub ty: u32,
    /// Event time, milliseconds since the Unix epoch.
    pub time: i64,
    /// Its field values, in declaration order.
    pub fields: Vec<Value>,
}

/// The whole state of one run: what a SYNC or RESYNC carries for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Where the run is.
    pub phase: Phase,
    /// The automaton state the run is in, and the events taken in its
    /// group (the matcher's run).
    pub state: u32,
    #[allow(missing_docs)]
    pub count: u32,
    /// The partition key's values.
    pub key: Vec<Value>,
    /// Event time (ms) after which the run can no longer change: the end
    /// of its window (`i64::MAX` without one). An `Active` state that
    /// arrives after the cluster watermark passed it is taken as
    /// `Halted`, so a stale update never brings back a run that a peer
    /// has forgotten.
    pub expires: i64,
    /// The events bound, oldest first.
    pub bound: Vec<Bound>,
}

impl RunState {
    /// The merge order: phase, then events bound, then the canonical
    /// encoding (the content tie-break). Total: two states are `Equal`
    /// only when their encodings are equal.
    pub fn order(&self, other: &RunState) -> Ordering {
        (self.phase, self.bound.len())
            .cmp(&(other.phase, other.bound.len()))
            .then_with(|| canonical(self).cmp(&canonical(other)))
    }

    /// The state after learning `other`: the larger of the two.
    pub fn merge(self, other: RunState) -> RunState {
        match self.order(&other) {
            Ordering::Less => other,
            _ => self,
        }
    }

    /// `self` is larger than `other` in the merge order (merging it
    /// changes `other`).
    pub fn ahead_of(&self, other: &RunState) -> bool {
        self.order(other) == Ordering::Greater
    }

    /// A run that has ended (halted or completed).
    pub fn finished(&self) -> bool {
        self.phase != Phase::Active
    }
}

/// The canonical encoding of a state (postcard): deterministic for equal
/// content, floats by their bits.
fn canonical(s: &RunState) -> Vec<u8> {
    postcard::to_allocvec(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(position: u64, v: i64) -> Bound {
        Bound {
            binding: 0,
            origin: 0,
            position,
            ty: 1,
            time: position as i64,
            fields: vec![Value::Int(v)],
        }
    }

    fn st(phase: Phase, events: &[i64]) -> RunState {
        RunState {
            phase,
            state: events.len() as u32,
            count: 0,
            key: vec![Value::Str("room1".into())],
            expires: 1_000,
            bound: events
                .iter()
                .enumerate()
                .map(|(i, v)| bound(i as u64 + 1, *v))
                .collect(),
        }
    }

    #[test]
    fn complete_beats_halt_beats_update() {
        let upd = st(Phase::Active, &[1, 2, 3]);
        let halt = st(Phase::Halted, &[1]);
        let done = st(Phase::Completed, &[1, 2]);
        assert_eq!(
            upd.clone().merge(halt.clone()),
            halt,
            "a stale update never undoes a halt"
        );
        assert_eq!(halt.clone().merge(upd.clone()), halt);
        assert_eq!(halt.clone().merge(done.clone()), done);
        assert_eq!(done.clone().merge(halt.clone()), done);
        assert_eq!(done.clone().merge(upd.clone()), done);
    }

    #[test]
    fn an_update_ahead_replaces_the_history_and_one_behind_is_ignored() {
        let local = st(Phase::Active, &[1]);
        let ahead = st(Phase::Active, &[1, 5, 7]);
        assert_eq!(local.clone().merge(ahead.clone()), ahead);
        assert_eq!(ahead.clone().merge(local.clone()), ahead, "behind: ignored");
        // Ahead is "has bound more events", even when the automaton
        // state does not move (a group taking another event).
        let mut grown = st(Phase::Active, &[1, 5, 7, 9]);
        grown.state = ahead.state;
        assert!(grown.ahead_of(&ahead));
    }

    #[test]
    fn ties_are_broken_on_content_the_same_way_everywhere() {
        // Two peers complete the same run with different last events.
        let a = st(Phase::Completed, &[1, 2]);
        let b = st(Phase::Completed, &[1, 3]);
        let ab = a.clone().merge(b.clone());
        let ba = b.clone().merge(a.clone());
        assert_eq!(ab, ba);
        assert!(ab == a || ab == b);
        // Two updates reach the same block with different events.
        let c = st(Phase::Active, &[4, 2]);
        let d = st(Phase::Active, &[4, 9]);
        assert_eq!(c.clone().merge(d.clone()), d.clone().merge(c.clone()));
        assert_ne!(c.order(&d), Ordering::Equal);
    }

    /// Commutative, associative and idempotent over every triple of a set
    /// of states that has every phase, several lengths and ties.
    #[test]
    fn merge_is_a_semilattice() {
        let mut all = Vec::new();
        for phase in [Phase::Active, Phase::Halted, Phase::Completed] {
            for events in [&[][..], &[1], &[2], &[1, 2], &[1, 3], &[1, 2, 3]] {
                all.push(st(phase, events));
            }
        }
        let mut nan = st(Phase::Active, &[1]);
        nan.bound[0].fields = vec![Value::Float(f64::NAN)];
        all.push(nan);
        for a in &all {
            assert_eq!(a.clone().merge(a.clone()), *a, "idempotent");
            for b in &all {
                assert_eq!(
                    a.clone().merge(b.clone()),
                    b.clone().merge(a.clone()),
                    "commutative"
                );
                for c in &all {
                    let l = a.clone().merge(b.clone()).merge(c.clone());
                    let r = a.clone().merge(b.clone().merge(c.clone()));
                    assert_eq!(canonical(&l), canonical(&r), "associative");
                }
            }
        }
    }

    /// BoboCEP seen side by side: an update sent together with a later
    /// halt in one batch, applied in either order, ends halted.
    #[test]
    fn an_update_and_a_later_halt_in_one_batch_end_halted_in_any_order() {
        let update = st(Phase::Active, &[1, 2]);
        let halt = st(Phase::Halted, &[1, 2]);
        let local = st(Phase::Active, &[1]);
        let one = local.clone().merge(update.clone()).merge(halt.clone());
        let two = local.merge(halt.clone()).merge(update);
        assert_eq!(one, halt);
        assert_eq!(two, halt);
    }
}
