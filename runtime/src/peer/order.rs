//! The cluster's order of work: where each peer is in event time, so that
//! every peer processes its own input in one order common to all.
//!
//! Every item a peer processes is an event of its own input or one of its
//! engine's deadlines; items are ordered by (time, deadlines before
//! events, member index, input position). That is a single instance's
//! order (before an event at time T every deadline up to T is handled)
//! with ties between peers broken by member index. Each peer announces
//! its [`Frontier`], the (time, kind) of the next item it will process,
//! on every message, and only once every run change of the items before
//! it is in that message or an earlier one. A peer processes its next
//! item only when every peer in reach is past it: the conservative rule
//! of discrete-event simulation (Chandy and Misra, "Distributed
//! simulation: a case study in design and verification of distributed
//! programs", IEEE TSE 5(5), 1979). The peer holding the cluster's
//! earliest item can always go on, so the cluster never waits for itself.

use serde::{Deserialize, Serialize};

/// Where a peer is: its next item is at `time` (ms of event time) and is
/// a deadline (`events == false`) or an event (`events == true`), or
/// later. Every item before it has been processed and its run changes
/// sent. Ordered by (time, kind): at one instant deadlines come first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Frontier {
    /// Event time, ms.
    pub time: i64,
    /// The next item is an event (or later); false: a deadline.
    pub events: bool,
}

impl Frontier {
    /// Nothing processed yet.
    pub const START: Frontier = Frontier {
        time: i64::MIN,
        events: false,
    };
    /// Nothing left to process, ever.
    pub const END: Frontier = Frontier {
        time: i64::MAX,
        events: true,
    };

    /// Every item before time `t` processed (the deadlines of `t` not yet).
    pub fn before(t: i64) -> Frontier {
        Frontier {
            time: t,
            events: false,
        }
    }

    /// The next item, the earlier of the next own event (at `event`) and
    /// the next deadline.
    pub fn next(event: Option<i64>, deadline: Option<i64>) -> Frontier {
        let e = event.map(|time| Frontier { time, events: true });
        let d = deadline.map(Frontier::before);
        match (e, d) {
            (Some(e), Some(d)) => e.min(d),
            (e, d) => e.or(d).unwrap_or(Frontier::END),
        }
    }
}

/// Whether member `me`'s item at `at` comes before member `peer`'s next
/// item at `theirs`, in the cluster's order (time, kind, then member).
pub fn before(at: Frontier, me: u16, theirs: Frontier, peer: u16) -> bool {
    (at, me) < (theirs, peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_come_before_events_and_ties_go_by_member() {
        let ev = |time| Frontier { time, events: true };
        assert!(Frontier::before(5) < ev(5));
        assert!(ev(4) < Frontier::before(5));
        // Same item kind and time: the lower member goes first, and
        // exactly one of two peers may go on.
        assert!(before(ev(5), 0, ev(5), 1));
        assert!(!before(ev(5), 1, ev(5), 0));
        assert!(before(Frontier::before(5), 1, ev(5), 0));
        assert_eq!(Frontier::next(Some(7), Some(7)), Frontier::before(7));
        assert_eq!(Frontier::next(Some(6), Some(7)), ev(6));
        assert_eq!(Frontier::next(None, None), Frontier::END);
        assert!(Frontier::START < Frontier::before(i64::MIN + 1));
    }
}
