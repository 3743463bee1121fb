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

/// What a peer says of its items beyond its frontier (lookahead by
/// partition): every own item it has not processed that comes before
/// `horizon` in the cluster's order touches only partitions whose
/// [`bucket`] is in `keys` (sorted, distinct). An item of another peer
/// that comes before `horizon` and touches none of them cannot interact
/// with those items (runs of different partitions are independent), so
/// it need not wait for them: it may be processed before the frontier
/// allows. This is the lookahead of conservative simulation (Chandy and
/// Misra, above), taken over partitions instead of time.
///
/// A peer announces one only when its rules allow it
/// ([`lookahead_allowed`]); `keys` only grows over a life, and `horizon`
/// never goes back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ahead {
    pub horizon: Frontier,
    pub keys: Vec<u16>,
}

/// At most this many buckets are announced; a peer that has touched
/// more announces no lookahead.
pub const MAX_KEYS: usize = 1_024;

/// The bucket of partition `key` of pattern `pattern`: 16 bits of a
/// 64-bit FNV-1a hash of a canonical encoding (pattern index, then each
/// value's kind and little-endian bits or UTF-8 bytes), finished with
/// SplitMix64's mixer so that every input bit reaches the low bits. The
/// same on every platform and build, as peers must agree on it. An
/// unpartitioned pattern has one partition (the empty key), so one
/// bucket.
pub fn bucket(pattern: u32, key: &[crate::value::Value]) -> u16 {
    use crate::value::Value;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut put = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    put(&pattern.to_le_bytes());
    for v in key {
        match v {
            Value::Null => put(&[0]),
            Value::Int(i) => {
                put(&[1]);
                put(&i.to_le_bytes());
            }
            Value::Float(f) => {
                put(&[2]);
                put(&f.to_bits().to_le_bytes());
            }
            Value::Str(s) => {
                put(&[3]);
                put(&(s.len() as u64).to_le_bytes());
                put(s.as_bytes());
            }
            Value::Bool(b) => put(&[4, u8::from(*b)]),
            Value::Duration(d) => {
                put(&[5]);
                put(&d.to_le_bytes());
            }
            Value::Time(t) => {
                put(&[6]);
                put(&t.to_le_bytes());
            }
        }
    }
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 48) as u16
}

/// Whether two sorted lists of buckets share none.
pub fn disjoint(a: &[u16], b: &[u16]) -> bool {
    let (mut i, mut j) = (0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return false,
        }
    }
    true
}

/// Whether rules allow lookahead by partition: no pattern consumes
/// complex events (a completion would feed another pattern's partition,
/// unknown beforehand) and there are no steps (an event a step emits
/// comes at a time and with a key no one can announce).
pub fn lookahead_allowed(program: &cep_ir::Program) -> bool {
    let outputs: std::collections::BTreeSet<u32> =
        program.patterns.iter().map(|p| p.output).collect();
    program.steps.is_empty()
        && program
            .patterns
            .iter()
            .all(|p| p.inputs.iter().all(|i| !outputs.contains(i)))
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

    #[test]
    fn buckets_spread_and_are_stable() {
        use crate::value::Value;
        // A fixed value: peers on any platform must agree on it.
        assert_eq!(bucket(0, &[Value::Int(1)]), bucket(0, &[Value::Int(1)]));
        assert_ne!(bucket(0, &[Value::Int(1)]), bucket(1, &[Value::Int(1)]));
        assert_ne!(
            bucket(0, &[Value::Str("S1".into())]),
            bucket(0, &[Value::Str("S2".into())])
        );
        // 4,096 keys over 65,536 buckets: hardly any collide, and the
        // high and low halves of the range are both used.
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..4_096 {
            seen.insert(bucket(3, &[Value::Str(format!("S{i}").into())]));
        }
        assert!(seen.len() > 3_950, "{} distinct", seen.len());
        assert!(seen.iter().any(|&b| b < 0x8000) && seen.iter().any(|&b| b >= 0x8000));
        assert!(disjoint(&[1, 5, 9], &[2, 6, 10]));
        assert!(!disjoint(&[1, 5, 9], &[0, 9]));
        assert!(disjoint(&[], &[1]));
    }
}
