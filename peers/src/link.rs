//! One connection: length-delimited frames, the KK handshake on either
//! side, and the authenticated link that carries frames both ways.

use crate::transport::{Shared, Slot};
use crate::{noise, Event, TAG_LEN};
use snow::StatelessTransportState;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::{sleep, timeout, timeout_at, Instant};
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// The largest frame before the handshake is done (the first frame is
/// 50 bytes, the others 48 and 16).
const HANDSHAKE_FRAME: usize = 64;

/// How long a connection waits (the defaults in [`Timings::DEFAULT`];
/// tests shorten them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timings {
    /// The whole handshake, from the TCP connection on.
    pub(crate) handshake: Duration,
    /// Send a keep-alive after this long without sending.
    pub(crate) keepalive: Duration,
    /// Close a link that received nothing for this long, or whose write
    /// did not finish in it.
    pub(crate) idle: Duration,
}

impl Timings {
    /// 5 s for a handshake, a keep-alive after 5 s, closed after 20 s.
    pub(crate) const DEFAULT: Timings = Timings {
        handshake: Duration::from_secs(5),
        keepalive: Duration::from_secs(5),
        idle: Duration::from_secs(20),
    };
}
/// Read at least this much at a time.
const READ_CHUNK: usize = 4096;
/// Write at most about this much in one batch.
const WRITE_BATCH: usize = 256 * 1024;

/// The codec of every frame: a 2-byte big-endian length, then the bytes.
fn codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(2)
        .max_frame_length(max)
        .new_codec()
}

/// Why reading a frame stopped.
enum ReadError {
    /// The peer closed (`mid_frame`: inside a frame).
    Closed {
        mid_frame: bool,
    },
    /// A length prefix over the limit (the length it announced).
    TooLarge(usize),
    Io(std::io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Closed { mid_frame: false } => write!(f, "it closed the connection"),
            ReadError::Closed { mid_frame: true } => {
                write!(f, "it closed the connection inside a frame")
            }
            ReadError::TooLarge(n) => write!(f, "a frame of {n} bytes is over the limit"),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Frames read from a socket, never more than the codec's limit held.
pub(crate) struct FrameReader<R> {
    rd: R,
    buf: BytesMut,
    codec: LengthDelimitedCodec,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    fn new(rd: R, max: usize) -> Self {
        FrameReader {
            rd,
            buf: BytesMut::with_capacity(READ_CHUNK),
            codec: codec(max),
        }
    }

    /// The next frame. Cancel-safe (the buffer keeps what was read).
    async fn next(&mut self) -> Result<BytesMut, ReadError> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                // The only error of this codec: a length over the limit,
                // found from the prefix alone (the frame is not read).
                Err(_) => {
                    let n = self
                        .buf
                        .get(..2)
                        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                        .unwrap_or(0);
                    return Err(ReadError::TooLarge(n));
                }
            }
            self.buf.reserve(READ_CHUNK);
            let n = self
                .rd
                .read_buf(&mut self.buf)
                .await
                .map_err(ReadError::Io)?;
            if n == 0 {
                return Err(ReadError::Closed {
                    mid_frame: !self.buf.is_empty(),
                });
            }
        }
    }
}

/// Writes one frame by `deadline`.
async fn write_frame(
    wr: &mut OwnedWriteHalf,
    bytes: &[u8],
    deadline: Instant,
) -> Result<(), std::io::Error> {
    let mut out = BytesMut::new();
    codec(HANDSHAKE_FRAME).encode(bytes, &mut out)?;
    match timeout_at(deadline, wr.write_all(&out)).await {
        Ok(done) => done,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// A connection refused, for [`Shared::refuse`].
pub(crate) struct Refusal {
    pub(crate) peer: Option<u16>,
    pub(crate) reason: String,
    /// The Noise handshake itself failed (counted in
    /// `handshakes_failed` too).
    pub(crate) handshake: bool,
}

/// An authenticated connection with `member`.
pub(crate) struct Link {
    member: u16,
    remote: SocketAddr,
    reader: FrameReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    noise: StatelessTransportState,
    send_nonce: u64,
    recv_nonce: u64,
}

impl Link {
    /// The authenticated member at the other end.
    pub(crate) fn member(&self) -> u16 {
        self.member
    }
}

/// The dialer's side: the claim and message 1, message 2, the key
/// confirmation. `slot` is the member dialed.
pub(crate) async fn initiate(
    shared: &Shared,
    slot: &Slot,
    stream: TcpStream,
) -> Result<Link, Refusal> {
    let deadline = Instant::now() + shared.timings.handshake;
    let peer = &slot.peer;
    let fail = |handshake: bool, why: String| Refusal {
        peer: Some(peer.member),
        reason: format!(
            "handshake with member {} ({}) at {}: {why}",
            peer.member, peer.name, peer.addr
        ),
        handshake,
    };
    let _ = stream.set_nodelay(true);
    let remote = peer.addr;
    let (rd, mut wr) = stream.into_split();
    let mut reader = FrameReader::new(rd, HANDSHAKE_FRAME);
    let mut hs = noise::initiator(
        &shared.params,
        &shared.identity,
        shared.me,
        &peer.public,
        peer.member,
    )
    .map_err(|e| fail(false, format!("noise: {e}")))?;

    let mut first = [0u8; HANDSHAKE_FRAME];
    first[..2].copy_from_slice(&shared.me.to_be_bytes());
    let n = hs
        .write_message(&[], &mut first[2..])
        .map_err(|e| fail(false, format!("noise: {e}")))?;
    write_frame(&mut wr, &first[..2 + n], deadline)
        .await
        .map_err(|e| fail(true, format!("sending message 1: {e}")))?;

    let reply = match timeout_at(deadline, reader.next()).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => {
            return Err(fail(
                true,
                format!("{e} before answering (does it have our public key?)"),
            ))
        }
        Err(_) => {
            return Err(fail(
                true,
                format!("no answer within {:?}", shared.timings.handshake),
            ))
        }
    };
    let mut scratch = [0u8; HANDSHAKE_FRAME];
    hs.read_message(&reply, &mut scratch).map_err(|e| {
        fail(
            true,
            format!("its answer does not authenticate with its configured key ({e})"),
        )
    })?;
    let noise = hs
        .into_stateless_transport_mode()
        .map_err(|e| fail(true, format!("noise: {e}")))?;

    let mut confirm = [0u8; TAG_LEN];
    let n = noise
        .write_message(0, &[], &mut confirm)
        .map_err(|e| fail(true, format!("noise: {e}")))?;
    write_frame(&mut wr, &confirm[..n], deadline)
        .await
        .map_err(|e| fail(true, format!("sending the key confirmation: {e}")))?;
    reader
        .codec
        .set_max_frame_length(shared.max_frame + TAG_LEN);
    Ok(Link {
        member: peer.member,
        remote,
        reader,
        writer: wr,
        noise,
        send_nonce: 1,
        recv_nonce: 0,
    })
}

/// The listener's side: the claim and message 1, message 2, the key
/// confirmation. The link is up only once the confirmation decrypts.
pub(crate) async fn respond(
    shared: &Shared,
    stream: TcpStream,
    remote: SocketAddr,
) -> Result<Link, Refusal> {
    let deadline = Instant::now() + shared.timings.handshake;
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut reader = FrameReader::new(rd, HANDSHAKE_FRAME);
    let unknown = |why: String| Refusal {
        peer: None,
        reason: format!("connection from {remote}: {why}"),
        handshake: false,
    };

    let first = match timeout_at(deadline, reader.next()).await {
        Ok(Ok(first)) => first,
        Ok(Err(ReadError::TooLarge(n))) => {
            return Err(unknown(format!(
                "a first frame of {n} bytes (at most {HANDSHAKE_FRAME} before the handshake)"
            )))
        }
        Ok(Err(e)) => return Err(unknown(format!("{e} before the handshake"))),
        Err(_) => {
            return Err(unknown(format!(
                "no handshake within {:?}",
                shared.timings.handshake
            )))
        }
    };
    let (claim, message) = match first.get(..2) {
        Some(c) => (u16::from_be_bytes([c[0], c[1]]), &first[2..]),
        None => return Err(unknown("a first frame shorter than a member index".into())),
    };
    let Some(slot) = shared.slots.get(&claim) else {
        return Err(unknown(format!(
            "claims member {claim}, which is not a configured peer"
        )));
    };
    let peer = &slot.peer;
    let fail = |handshake: bool, why: String| Refusal {
        peer: Some(claim),
        reason: format!(
            "connection from {remote} claiming member {claim} ({}): {why}",
            peer.name
        ),
        handshake,
    };
    if claim > shared.me {
        return Err(fail(
            false,
            format!(
                "a higher member than this one ({}) is dialed, it does not dial",
                shared.me
            ),
        ));
    }
    let mut hs = noise::responder(
        &shared.params,
        &shared.identity,
        shared.me,
        &peer.public,
        claim,
    )
    .map_err(|e| fail(false, format!("noise: {e}")))?;
    let mut scratch = [0u8; HANDSHAKE_FRAME];
    hs.read_message(message, &mut scratch).map_err(|e| {
        fail(
            true,
            format!("its handshake does not authenticate with that member's key ({e})"),
        )
    })?;
    let mut answer = [0u8; HANDSHAKE_FRAME];
    let n = hs
        .write_message(&[], &mut answer)
        .map_err(|e| fail(true, format!("noise: {e}")))?;
    write_frame(&mut wr, &answer[..n], deadline)
        .await
        .map_err(|e| fail(true, format!("sending message 2: {e}")))?;
    let noise = hs
        .into_stateless_transport_mode()
        .map_err(|e| fail(true, format!("noise: {e}")))?;

    let confirm = match timeout_at(deadline, reader.next()).await {
        Ok(Ok(confirm)) => confirm,
        Ok(Err(e)) => return Err(fail(true, format!("{e} before the key confirmation"))),
        Err(_) => {
            return Err(fail(
                true,
                format!("no key confirmation within {:?}", shared.timings.handshake),
            ))
        }
    };
    match noise.read_message(0, &confirm, &mut scratch) {
        Ok(0) => {}
        Ok(_) => return Err(fail(true, "a key confirmation that is not empty".into())),
        Err(e) => {
            return Err(fail(
                true,
                format!(
                    "its key confirmation does not decrypt ({e}): a replayed recording, \
                     or not that member"
                ),
            ))
        }
    }
    reader
        .codec
        .set_max_frame_length(shared.max_frame + TAG_LEN);
    Ok(Link {
        member: claim,
        remote,
        reader,
        writer: wr,
        noise,
        send_nonce: 0,
        recv_nonce: 1,
    })
}

/// Carries frames both ways until the connection ends, is replaced by a
/// newer one with the same member, or fails; reports `Connected` and
/// `Disconnected` around it. Takes the member's send queue for its
/// lifetime (a replaced link gives it up first, so events stay in
/// order).
pub(crate) async fn run(shared: &Shared, slot: &Slot, link: Link) {
    let Link {
        member,
        remote,
        mut reader,
        mut writer,
        noise,
        mut send_nonce,
        mut recv_nonce,
    } = link;
    let generation = shared.next_generation();
    let (kill, mut killed) = oneshot::channel();
    if let Some((_, older)) = slot.current().replace((generation, kill)) {
        let _ = older.send(());
    }
    let mut queue = tokio::select! {
        queue = slot.queue.lock() => queue,
        _ = &mut killed => return,
    };
    slot.connected.store(true, Ordering::SeqCst);
    shared.counters.connections.fetch_add(1, Ordering::Relaxed);
    shared.emit(Event::Connected(member));

    let noise = &noise;
    let max_frame = shared.max_frame;
    let timings = shared.timings;
    let reading = async {
        let mut plain = vec![0u8; max_frame + TAG_LEN];
        loop {
            let frame = match timeout(timings.idle, reader.next()).await {
                Ok(Ok(frame)) => frame,
                Ok(Err(ReadError::TooLarge(n))) => {
                    shared.refuse(crate::link::Refusal {
                        peer: Some(member),
                        reason: format!(
                            "member {member} at {remote}: a frame of {n} bytes, over the limit \
                             of {} ({max_frame} and the tag); connection closed",
                            max_frame + TAG_LEN
                        ),
                        handshake: false,
                    });
                    return;
                }
                Ok(Err(_)) | Err(_) => return,
            };
            let n = match noise.read_message(recv_nonce, &frame, &mut plain) {
                Ok(n) => n,
                Err(e) => {
                    shared.refuse(Refusal {
                        peer: Some(member),
                        reason: format!(
                            "member {member} at {remote}: a frame that does not decrypt ({e}): \
                             forged, replayed or damaged; connection closed"
                        ),
                        handshake: false,
                    });
                    return;
                }
            };
            recv_nonce += 1;
            if n == 0 {
                continue; // a keep-alive
            }
            let Some(bytes) = plain.get(..n) else { return };
            if !shared.deliver(member, bytes.to_vec()).await {
                return;
            }
        }
    };
    let writing = async {
        let mut codec = codec(max_frame + TAG_LEN);
        let mut out = BytesMut::new();
        let mut sealed = vec![0u8; max_frame + TAG_LEN];
        loop {
            let first = tokio::select! {
                frame = queue.recv() => match frame {
                    Some(frame) => frame,
                    None => return,
                },
                _ = sleep(timings.keepalive) => Vec::new(),
            };
            out.clear();
            let mut frames = 0u64;
            let mut next = Some(first);
            while let Some(frame) = next.take() {
                let Ok(n) = noise.write_message(send_nonce, &frame, &mut sealed) else {
                    return;
                };
                send_nonce += 1;
                let Some(sealed) = sealed.get(..n) else {
                    return;
                };
                if codec.encode(sealed, &mut out).is_err() {
                    return;
                }
                if !frame.is_empty() {
                    frames += 1;
                }
                if out.len() < WRITE_BATCH {
                    next = queue.try_recv().ok();
                }
            }
            match timeout(timings.idle, writer.write_all(&out)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return,
            }
            shared.counters.sent.fetch_add(frames, Ordering::Relaxed);
        }
    };
    tokio::select! {
        _ = reading => {}
        _ = writing => {}
        _ = &mut killed => {}
    }
    slot.connected.store(false, Ordering::SeqCst);
    {
        let mut current = slot.current();
        if current.as_ref().map(|(g, _)| *g) == Some(generation) {
            *current = None;
        }
    }
    shared.emit(Event::Disconnected(member));
    drop(queue);
}
