//! The peer transport: the edge that carries the frames of
//! `cep_runtime::peer` between two or three configured Cepheid peers on
//! one network.
//!
//! - **TCP** between configured peers. A peer's address comes from the
//!   configuration ([`PeerAddr::addr`]), never from an incoming packet.
//! - **Connection rule**: the member with the *lower* index dials the
//!   higher one at its configured address, again and again with back-off
//!   (50 ms doubling to 2 s) while it is down or refuses; the higher one
//!   only accepts, and refuses a connection claiming a member higher than
//!   itself. So each pair has one connection and nobody has to break a
//!   tie. An authenticated new connection from a member replaces the one
//!   it had (a peer that restarted comes back at once).
//! - **Noise** `Noise_KK_25519_ChaChaPoly_BLAKE2s` ([`NOISE_PARAMS`],
//!   snow's pure-Rust resolver): each member has its own static key pair
//!   ([`keygen`], [`read_identity`]) and knows the others' public keys
//!   from files ([`read_public`]).
//! - **Frames**: tokio-util's `LengthDelimitedCodec` with a 2-byte
//!   big-endian length prefix; each frame is exactly one Noise message.
//!   After the handshake a frame carries one protocol frame of at most
//!   [`Config::max_frame`] bytes (≤ [`MAX_FRAME`] = 65,519) plus the
//!   16-byte tag; a longer length prefix is refused from its two bytes,
//!   before anything of the frame is read, and the connection closed.
//!
//! # Handshake (the bytes on the wire)
//!
//! Every frame is `len: u16 BE` then `len` bytes. Before the handshake a
//! frame may be at most 64 bytes.
//!
//! 1. initiator → responder: `claim: u16 BE` (the initiator's member
//!    index, in plaintext, because KK needs the initiator's static key
//!    before the handshake) then KK message 1 (`e, es, ss`, empty
//!    payload; 48 bytes).
//! 2. The responder refuses an index that is not a configured peer, or
//!    is not lower than its own; otherwise it runs KK with *that*
//!    member's configured public key, so a wrong claim fails to decrypt.
//!    responder → initiator: KK message 2 (`e, ee, se`, empty payload;
//!    48 bytes).
//! 3. initiator → responder: key confirmation, the first transport
//!    message (nonce 0) with an empty payload (16 bytes). The responder
//!    counts the connection as up only once this decrypts: it is the
//!    proof that the initiator is live in *this* session.
//!
//! Both sides use the prologue [`PROLOGUE`] followed by the initiator's
//! and the responder's member index (`u16` BE each), so a handshake
//! between peers that disagree on the numbering fails.
//!
//! Afterwards each side sends transport messages with nonces 0, 1, 2, …
//! (the initiator's first data frame has nonce 1). An empty payload is a
//! keep-alive (sent after 5 s without sending; a link that receives
//! nothing for 20 s is closed), never delivered.
//!
//! # Threat model
//!
//! An attacker on the network (who can read, inject, change, drop, delay
//! and replay packets, and connect to any peer):
//!
//! - **cannot read** frames: they are encrypted (ChaCha20-Poly1305) under
//!   keys only the two members can derive;
//! - **cannot forge or alter** frames, nor pose as a member: KK
//!   authenticates both static keys, a frame with a bad tag is refused
//!   and closes the connection;
//! - **cannot replay** frames: within a connection the nonce must be the
//!   next one; a recording of an earlier session fails at the key
//!   confirmation, because the responder's fresh ephemeral key gives
//!   different session keys. A refused connection never replaces a live
//!   one;
//! - **can** drop, delay or cut connections, and make a peer unreachable:
//!   the protocol core tolerates it (acknowledgements, resends, RESYNC),
//!   and the dialer reconnects with back-off;
//! - **can** learn who talks to whom, when, and how much (frame lengths
//!   are visible), and the claimed member index;
//! - **can** load a listener with connections: at most 16 handshakes are
//!   in progress at once, each bounded to 5 s and 64-byte frames; the
//!   refusals are counted ([`Stats::refused`]) and at most 256 undrained
//!   [`Event::Refused`] are kept.
//!
//! Whoever holds a member's `.key` file **can impersonate** that member
//! (and read what the others send it); keep it mode 0600
//! ([`read_identity`] refuses a key that group or others can access), and
//! replace the key pair of a member whose key leaked.
//!
//! # Threads and bounds
//!
//! [`Transport::start`] runs a current-thread tokio runtime on a thread of
//! its own; the caller's loop stays synchronous and talks to it through
//! [`Transport::send`] (never blocks) and [`Transport::recv_timeout`].
//! Each peer has a queue of 256 frames to send; at most 256 received
//! frames wait for the caller, after which reading stops (TCP pushes back
//! on the sender).

mod error;
mod keys;
mod link;
mod noise;
mod transport;

pub use error::Error;
pub use keys::{keygen, read_identity, read_public, Identity};
pub use transport::Transport;

/// The Noise protocol every connection runs.
pub const NOISE_PARAMS: &str = "Noise_KK_25519_ChaChaPoly_BLAKE2s";

/// The start of the Noise prologue; the initiator's and the responder's
/// member indexes (`u16` big-endian each) follow it.
pub const PROLOGUE: &[u8] = b"cepheid-peers/1";

/// The authentication tag of a Noise transport message, in bytes.
pub const TAG_LEN: usize = 16;

/// The largest plaintext a frame can carry, in bytes: a Noise message is
/// at most 65,535 bytes, the tag included.
pub const MAX_FRAME: usize = 65_535 - TAG_LEN;

/// A configured peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddr {
    /// Its index in the cluster's sorted member names (the protocol
    /// core's `sender`).
    pub member: u16,
    /// Its name, for messages.
    pub name: String,
    /// Where it listens: dialed when `member` is higher than ours; unused
    /// (but kept for messages) when it is lower, since it dials us.
    pub addr: std::net::SocketAddr,
    /// Its static X25519 public key (32 bytes).
    pub public: [u8; 32],
}

/// The configuration of one member's transport.
#[derive(Clone, Debug)]
pub struct Config {
    /// This member's index.
    pub me: u16,
    /// This member's name, for messages and the thread name.
    pub name: String,
    /// The address to listen on (port 0: an ephemeral port, see
    /// [`Transport::local_addr`]).
    pub listen: std::net::SocketAddr,
    /// This member's static key pair.
    pub identity: Identity,
    /// The other members (not this one), each once.
    pub peers: Vec<PeerAddr>,
    /// The largest frame, plaintext bytes, 1 ..= [`MAX_FRAME`]: the
    /// protocol core's `Settings::max_frame` (60 KiB by default).
    pub max_frame: usize,
}

/// What the transport reports, in the order it happened per peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// One frame from member `from`, as the peer passed it to
    /// [`Transport::send`] (≤ `max_frame` bytes); frames from one member
    /// come in the order they were sent on a connection.
    Frame {
        /// The sender's member index.
        from: u16,
        /// The frame, 1 ..= `max_frame` bytes.
        bytes: Vec<u8>,
    },
    /// An authenticated connection with this member is up: frames to it
    /// are sent from now on.
    Connected(u16),
    /// The connection with this member ended (closed, reset, failed,
    /// idle 20 s, refused frame, or replaced by a newer one).
    Disconnected(u16),
    /// A connection, or a frame on one, was refused. `peer` is the
    /// configured member it concerns (for an incoming connection the
    /// member it *claims* to be, which is not proven), `None` when it
    /// names no configured member; `reason` says what and names the
    /// remote address.
    Refused {
        /// The member concerned (claimed, for an incoming connection), or
        /// `None`.
        peer: Option<u16>,
        /// What was refused and why, naming the remote address.
        reason: String,
    },
}

/// Counts since [`Transport::start`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames encrypted and written to a connection (keep-alives not
    /// counted).
    pub sent: u64,
    /// Frames received, decrypted and delivered as [`Event::Frame`].
    pub received: u64,
    /// Connections and frames refused: every [`Event::Refused`], also
    /// those not kept because 256 were waiting.
    pub refused: u64,
    /// Frames given to [`Transport::send`] and not queued: not a
    /// configured peer, not connected, queue full, empty or larger than
    /// `max_frame`.
    pub dropped: u64,
    /// Noise handshakes that did not complete (a wrong key or claim, a
    /// replay, a timeout, a peer that closed during it); each is refused
    /// too.
    pub handshakes_failed: u64,
    /// Authenticated connections that came up.
    pub connections: u64,
}
