//! The peer protocol's messages and their encoding: postcard in a
//! versioned envelope. One message is one frame of the transport; the
//! node keeps every message it builds under [`Settings::max_frame`]
//! bytes (a RESYNC is chunked), and [`decode`] refuses a larger one
//! before reading it.
//!
//! [`Settings::max_frame`]: super::Settings::max_frame

use super::merge::{RunKey, RunState};
use super::order::Frontier;
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks; a message of another version
/// is refused (and counted), never guessed at.
pub const PROTOCOL: u16 = 2;

/// One message between peers.
///
/// `(incarnation, stream, seq)` orders what one sender sends one
/// receiver: `incarnation` grows at every restart of the sender (from its
/// store); `stream` grows whenever the sender starts over with this
/// receiver (a RESYNC); `seq` counts from 1 in a stream, and the
/// receiver takes only the next one (a duplicate, a replay or a gap is
/// refused). `seq` 0 is an acknowledgement alone, which carries no run
/// state and is never refused for its order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`PROTOCOL`]; checked first.
    pub version: u16,
    /// Index of the sender in the cluster's sorted member names.
    pub sender: u16,
    /// The sender's rules (`super::Settings::program`).
    pub program: u64,
    /// The sender's incarnation.
    pub incarnation: u32,
    /// The sender's stream to the receiver in that incarnation (one more
    /// at every RESYNC).
    pub stream: u32,
    /// The message's number in the stream, from 1; 0 for an
    /// acknowledgement alone.
    pub seq: u64,
    /// The highest contiguous message of the receiver's stream to the
    /// sender that the sender has taken.
    pub ack: Option<Ack>,
    /// RESET: the sender restarted and asks the receiver to RESYNC it.
    pub reset: bool,
    /// The sender's next item (`super::order`): it has sent every run
    /// change of its items before it. [`Frontier::START`] before any.
    pub frontier: Frontier,
    /// The sender's input has ended: no change of its own will follow
    /// but those its deadlines make.
    pub ended: bool,
    /// What the sender's items beyond its frontier touch
    /// ([`super::order::Ahead`]), when its rules allow lookahead.
    pub ahead: Option<super::order::Ahead>,
    /// What it carries.
    pub body: Body,
}

/// An acknowledgement of `seq` and every message before it in
/// `(incarnation, stream)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The receiver's incarnation the stream belongs to.
    pub incarnation: u32,
    /// The stream.
    pub stream: u32,
    /// The highest contiguous message taken.
    pub seq: u64,
}

/// What a message carries (BoboCEP's request types).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Body {
    /// Recent run changes: the current state of each run changed since
    /// the last SYNC (the stash, compacted: one state per run).
    Sync(Vec<(RunKey, RunState)>),
    /// Nothing to send for a while: still here (with the watermark).
    Ping,
    /// The whole state, in parts: the active runs and the retained
    /// finished ones. `last` on the final part.
    #[allow(missing_docs)]
    Resync {
        part: u32,
        last: bool,
        runs: Vec<(RunKey, RunState)>,
    },
    /// An acknowledgement and nothing else (`seq` 0).
    Ack,
}

impl Body {
    /// The run states this message carries.
    pub fn runs(&self) -> &[(RunKey, RunState)] {
        match self {
            Body::Sync(r) | Body::Resync { runs: r, .. } => r,
            Body::Ping | Body::Ack => &[],
        }
    }
}

/// Why bytes are not a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Larger than the frame limit (bytes, limit).
    TooLarge(usize, usize),
    /// Another protocol version.
    Version(u16),
    /// Not a message of this protocol: postcard's reason.
    Malformed(String),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::TooLarge(n, max) => {
                write!(f, "a frame of {n} bytes is over the limit of {max}")
            }
            WireError::Version(v) => write!(f, "protocol version {v}, not {PROTOCOL}"),
            WireError::Malformed(e) => write!(f, "not a peer message: {e}"),
        }
    }
}

/// The bytes of a message.
pub fn encode(m: &Envelope) -> Vec<u8> {
    postcard::to_allocvec(m).unwrap_or_default()
}

/// The message in `bytes`, checked in this order: size (at most
/// `max_frame`), version (the first field, read alone), then the rest.
pub fn decode(bytes: &[u8], max_frame: usize) -> Result<Envelope, WireError> {
    if bytes.len() > max_frame {
        return Err(WireError::TooLarge(bytes.len(), max_frame));
    }
    let (version, _) =
        postcard::take_from_bytes::<u16>(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
    if version != PROTOCOL {
        return Err(WireError::Version(version));
    }
    postcard::from_bytes(bytes).map_err(|e| WireError::Malformed(e.to_string()))
}

/// A run's state as a store keeps it (postcard, the message encoding of
/// one run entry): what [`decode_entry`] reads back.
pub fn encode_entry(run: &RunKey, state: &RunState) -> Vec<u8> {
    postcard::to_allocvec(&(run, state)).unwrap_or_default()
}

/// A run entry written by [`encode_entry`].
pub fn decode_entry(bytes: &[u8]) -> Result<(RunKey, RunState), WireError> {
    postcard::from_bytes(bytes).map_err(|e| WireError::Malformed(e.to_string()))
}

/// The encoded size of one run entry, to fill messages up to the limit.
pub(super) fn entry_size(run: &RunKey, state: &RunState) -> usize {
    postcard::to_allocvec(&(run, state)).map_or(usize::MAX, |v| v.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::merge::{Bound, Phase};
    use crate::value::Value;

    fn msg() -> Envelope {
        let key = RunKey {
            pattern: 0,
            origin: 2,
            incarnation: 1,
            n: 7,
        };
        let state = RunState {
            phase: Phase::Active,
            state: 1,
            count: 0,
            key: vec![Value::Str("r1".into()), Value::Float(-0.5)],
            expires: 10_000,
            bound: vec![Bound {
                binding: 0,
                origin: 2,
                position: 41,
                ty: 3,
                time: 1_700_000_000_000,
                fields: vec![Value::Null, Value::Bool(true), Value::Time(5)],
            }],
        };
        Envelope {
            version: PROTOCOL,
            sender: 2,
            program: 0x1234_5678_9abc_def0,
            incarnation: 1,
            stream: 3,
            seq: 9,
            ack: Some(Ack {
                incarnation: 4,
                stream: 1,
                seq: 2,
            }),
            reset: false,
            frontier: Frontier::before(1_700_000_000_000),
            ended: false,
            ahead: Some(super::super::order::Ahead {
                horizon: Frontier::before(1_700_000_000_500),
                keys: vec![3, 700, 65_535],
            }),
            body: Body::Sync(vec![(key, state)]),
        }
    }

    #[test]
    fn a_message_reads_back_the_same() {
        let m = msg();
        assert_eq!(decode(&encode(&m), 1 << 16), Ok(m));
    }

    #[test]
    fn a_frame_over_the_limit_another_version_and_garbage_are_refused() {
        let bytes = encode(&msg());
        assert_eq!(
            decode(&bytes, bytes.len() - 1),
            Err(WireError::TooLarge(bytes.len(), bytes.len() - 1))
        );
        let mut other = msg();
        other.version = PROTOCOL + 1;
        assert_eq!(
            decode(&encode(&other), 1 << 16),
            Err(WireError::Version(PROTOCOL + 1))
        );
        assert!(matches!(
            decode(&bytes[..bytes.len() - 3], 1 << 16),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(decode(&[], 1 << 16), Err(WireError::Malformed(_))));
    }
}
