//! The transport: the runtime thread, the listener, the dialers, and the
//! caller's side (queues, events, counts).

use crate::link::{self, Refusal, Timings};
use crate::{noise, Config, Error, Event, Identity, PeerAddr, Stats, MAX_FRAME};
use snow::params::NoiseParams;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::{sleep, timeout};

/// Frames queued for one peer.
const QUEUE: usize = 256;
/// Received frames not yet taken by the caller; past it reading stops.
const WAITING_FRAMES: usize = 256;
/// Refusals not yet taken by the caller; past it they are only counted.
const WAITING_REFUSALS: usize = 256;
/// Incoming connections in their handshake at once.
const HANDSHAKES: usize = 16;
/// The first wait before dialing again, doubled up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A TCP connect that takes longer is given up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    received: AtomicU64,
    refused: AtomicU64,
    dropped: AtomicU64,
    handshakes_failed: AtomicU64,
    pub(crate) connections: AtomicU64,
}

/// One configured peer.
pub(crate) struct Slot {
    pub(crate) peer: PeerAddr,
    /// A link with it is up (frames are queued only then).
    pub(crate) connected: AtomicBool,
    /// Its send queue, held by the link that is up.
    pub(crate) queue: tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
    /// The link that is up or coming up: its generation, and the switch
    /// that closes it when a newer one replaces it.
    current: Mutex<Option<(u64, oneshot::Sender<()>)>>,
}

impl Slot {
    pub(crate) fn current(&self) -> MutexGuard<'_, Option<(u64, oneshot::Sender<()>)>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the runtime's tasks share with each other and with the caller.
pub(crate) struct Shared {
    pub(crate) me: u16,
    pub(crate) identity: Identity,
    pub(crate) params: NoiseParams,
    pub(crate) max_frame: usize,
    pub(crate) timings: Timings,
    pub(crate) slots: BTreeMap<u16, Arc<Slot>>,
    pub(crate) counters: Counters,
    events: std_mpsc::Sender<Event>,
    frames: Semaphore,
    refusals: Semaphore,
    generation: AtomicU64,
}

impl Shared {
    pub(crate) fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::Relaxed)
    }

    /// Reports `Connected` or `Disconnected`.
    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Delivers a frame once the caller has room for it; false when the
    /// transport is gone.
    pub(crate) async fn deliver(&self, from: u16, bytes: Vec<u8>) -> bool {
        match self.frames.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return false,
        }
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        self.events.send(Event::Frame { from, bytes }).is_ok()
    }

    /// Counts a refusal and reports it, unless too many wait already.
    pub(crate) fn refuse(&self, refusal: Refusal) {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
        if refusal.handshake {
            self.counters
                .handshakes_failed
                .fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(permit) = self.refusals.try_acquire() {
            permit.forget();
            let _ = self.events.send(Event::Refused {
                peer: refusal.peer,
                reason: refusal.reason,
            });
        }
    }
}

/// A running transport: a tokio runtime on a thread of its own that
/// listens, dials the higher members, and carries frames. Dropping it is
/// [`Transport::shutdown`].
pub struct Transport {
    local: SocketAddr,
    shared: Arc<Shared>,
    queues: BTreeMap<u16, mpsc::Sender<Vec<u8>>>,
    events: Mutex<std_mpsc::Receiver<Event>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn check(cfg: &Config) -> Result<(), Error> {
    if cfg.max_frame == 0 || cfg.max_frame > MAX_FRAME {
        return Err(Error::Config(format!(
            "max_frame {} is not in 1 ..= {MAX_FRAME} bytes (one Noise message)",
            cfg.max_frame
        )));
    }
    let mut seen = BTreeMap::new();
    for peer in &cfg.peers {
        if peer.member == cfg.me {
            return Err(Error::Config(format!(
                "peer {} ({}) has this member's own index {}",
                peer.name, peer.addr, cfg.me
            )));
        }
        if let Some(other) = seen.insert(peer.member, &peer.name) {
            return Err(Error::Config(format!(
                "member {} is configured twice ({other} and {})",
                peer.member, peer.name
            )));
        }
    }
    Ok(())
}

fn listen(addr: SocketAddr) -> Result<TcpListener, Error> {
    let bind = |source| Error::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(bind)?;
    // A restarted member takes its address back at once, even while
    // connections of its previous run are in TIME_WAIT.
    socket.set_reuseaddr(true).map_err(bind)?;
    socket.bind(addr).map_err(bind)?;
    socket.listen(128).map_err(bind)
}

impl Transport {
    /// Binds `cfg.listen`, then on a background thread accepts the lower
    /// members and dials the higher ones (retrying with back-off, 50 ms
    /// to 2 s).
    ///
    /// Errors: [`Error::Config`] (max_frame out of 1 ..= 65,519, this
    /// member among its peers, a member twice), [`Error::Bind`] naming
    /// the address, [`Error::Runtime`], [`Error::Noise`].
    pub fn start(cfg: Config) -> Result<Transport, Error> {
        Transport::start_with(cfg, Timings::DEFAULT)
    }

    /// [`Transport::start`] with other timings.
    pub(crate) fn start_with(cfg: Config, timings: Timings) -> Result<Transport, Error> {
        check(&cfg)?;
        let params = noise::params()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(Error::Runtime)?;
        let listener = {
            let _entered = runtime.enter();
            listen(cfg.listen)?
        };
        let local = listener.local_addr().map_err(|source| Error::Bind {
            addr: cfg.listen,
            source,
        })?;

        let mut slots = BTreeMap::new();
        let mut queues = BTreeMap::new();
        for peer in cfg.peers {
            let (tx, rx) = mpsc::channel(QUEUE);
            queues.insert(peer.member, tx);
            slots.insert(
                peer.member,
                Arc::new(Slot {
                    peer,
                    connected: AtomicBool::new(false),
                    queue: tokio::sync::Mutex::new(rx),
                    current: Mutex::new(None),
                }),
            );
        }
        let (events_tx, events_rx) = std_mpsc::channel();
        let shared = Arc::new(Shared {
            me: cfg.me,
            identity: cfg.identity,
            params,
            max_frame: cfg.max_frame,
            timings,
            slots,
            counters: Counters::default(),
            events: events_tx,
            frames: Semaphore::new(WAITING_FRAMES),
            refusals: Semaphore::new(WAITING_REFUSALS),
            generation: AtomicU64::new(0),
        });

        let (stop, stopped) = oneshot::channel::<()>();
        let tasks = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("cep-peers {}", cfg.name))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(accept(Arc::clone(&tasks), listener));
                    for slot in tasks.slots.values() {
                        if slot.peer.member > tasks.me {
                            tokio::spawn(dial(Arc::clone(&tasks), Arc::clone(slot)));
                        }
                    }
                    let _ = stopped.await;
                });
                // Dropping the runtime drops every task and closes every
                // socket.
                drop(runtime);
            })
            .map_err(Error::Runtime)?;
        Ok(Transport {
            local,
            shared,
            queues,
            events: Mutex::new(events_rx),
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address listened on (with the port chosen when `listen` had
    /// port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Queues one frame (1 ..= `max_frame` bytes) for member `to`; never
    /// blocks. The frame is dropped, and counted in [`Stats::dropped`],
    /// when `to` is not a configured peer, is not connected, its queue
    /// (256 frames) is full, or the frame is empty or too long: the
    /// protocol core acknowledges and resends.
    pub fn send(&self, to: u16, bytes: Vec<u8>) {
        let queued = match (self.queues.get(&to), self.shared.slots.get(&to)) {
            (Some(queue), Some(slot))
                if !bytes.is_empty()
                    && bytes.len() <= self.shared.max_frame
                    && slot.connected.load(Ordering::SeqCst) =>
            {
                queue.try_send(bytes).is_ok()
            }
            _ => false,
        };
        if !queued {
            self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The next event, waiting at most `timeout`; `None` when there was
    /// none in that time.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        let event = self.receiver().recv_timeout(timeout).ok();
        self.taken(event)
    }

    /// The next event if there is one, without waiting.
    pub fn try_recv(&self) -> Option<Event> {
        let event = self.receiver().try_recv().ok();
        self.taken(event)
    }

    fn receiver(&self) -> MutexGuard<'_, std_mpsc::Receiver<Event>> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives back the room an event took.
    fn taken(&self, event: Option<Event>) -> Option<Event> {
        match &event {
            Some(Event::Frame { .. }) => self.shared.frames.add_permits(1),
            Some(Event::Refused { .. }) => self.shared.refusals.add_permits(1),
            _ => {}
        }
        event
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            sent: c.sent.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            handshakes_failed: c.handshakes_failed.load(Ordering::Relaxed),
            connections: c.connections.load(Ordering::Relaxed),
        }
    }

    /// Closes every connection and the listener, and stops the thread
    /// (waits for it). Frames still queued are not sent.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections; each runs its handshake in a task of its own (at
/// most `HANDSHAKES` at once), then its link.
async fn accept(shared: Arc<Shared>, listener: TcpListener) {
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES));
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors or the like: wait a little.
            Err(_) => {
                sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&handshakes).try_acquire_owned() else {
            shared.refuse(Refusal {
                peer: None,
                reason: format!(
                    "connection from {remote}: {HANDSHAKES} handshakes in progress already"
                ),
                handshake: false,
            });
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let link = link::respond(&shared, stream, remote).await;
            drop(permit);
            match link {
                Ok(link) => {
                    if let Some(slot) = shared.slots.get(&link.member()).cloned() {
                        link::run(&shared, &slot, link).await;
                    }
                }
                Err(refusal) => shared.refuse(refusal),
            }
        });
    }
}

/// Dials a higher member for as long as the transport runs: connect,
/// handshake, carry frames; after a failure or the end of a link, wait
/// (50 ms, doubling to 2 s while it keeps failing) and dial again.
async fn dial(shared: Arc<Shared>, slot: Arc<Slot>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        if let Ok(Ok(stream)) = timeout(CONNECT_TIMEOUT, TcpStream::connect(slot.peer.addr)).await {
            match link::initiate(&shared, &slot, stream).await {
                Ok(link) => {
                    link::run(&shared, &slot, link).await;
                    backoff = MIN_BACKOFF;
                }
                Err(refusal) => shared.refuse(refusal),
            }
        }
        // A peer that is down is not reported: it is retried.
        sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! The timings and the handshake bound, with timings shortened so
    //! that the tests take about a second or two.

    use super::*;
    use std::io::Read;
    use std::time::Instant;

    const WAIT: Duration = Duration::from_secs(10);

    fn pair(t1: Timings, t0: Timings) -> (Transport, Transport) {
        let ids = [Identity::generate().unwrap(), Identity::generate().unwrap()];
        let cfg = |me: u16, addr: SocketAddr| Config {
            me,
            name: format!("n{me}"),
            listen: "127.0.0.1:0".parse().unwrap(),
            identity: ids[usize::from(me)].clone(),
            peers: vec![PeerAddr {
                member: 1 - me,
                name: format!("n{}", 1 - me),
                addr,
                public: ids[usize::from(1 - me)].public(),
            }],
            max_frame: 1024,
        };
        let n1 = Transport::start_with(cfg(1, "127.0.0.1:9".parse().unwrap()), t1).unwrap();
        let n0 = Transport::start_with(cfg(0, n1.local_addr()), t0).unwrap();
        (n1, n0)
    }

    fn expect(t: &Transport, want: Event) {
        assert_eq!(t.recv_timeout(WAIT), Some(want));
    }

    /// A raw connection is closed by the other side within [`WAIT`].
    fn closed(mut stream: std::net::TcpStream) {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("not closed: {other:?}"),
        }
    }

    #[test]
    fn keepalives_hold_a_quiet_link_and_silence_closes_it() {
        let lively = Timings {
            handshake: Duration::from_secs(5),
            keepalive: Duration::from_millis(50),
            idle: Duration::from_secs(1),
        };
        let (n1, n0) = pair(lively, lively);
        expect(&n1, Event::Connected(0));
        expect(&n0, Event::Connected(1));
        // Twice the idle limit with nothing to send: keep-alives flow,
        // nothing is reported or counted.
        let quiet = Instant::now() + Duration::from_secs(2);
        while let Some(left) = quiet.checked_duration_since(Instant::now()) {
            assert_eq!(n1.recv_timeout(left), None);
        }
        assert_eq!(n0.try_recv(), None);
        for t in [&n1, &n0] {
            let s = t.stats();
            assert_eq!((s.sent, s.received, s.connections), (0, 0, 1), "{s:?}");
        }
        n0.send(1, b"after the quiet".to_vec());
        expect(
            &n1,
            Event::Frame {
                from: 0,
                bytes: b"after the quiet".to_vec(),
            },
        );

        // A dialer that sends no keep-alive: the listener closes the link
        // after its idle limit, and the dialer comes back.
        let silent = Timings {
            keepalive: Duration::from_secs(3600),
            idle: Duration::from_secs(3600),
            ..lively
        };
        let strict = Timings {
            keepalive: Duration::from_secs(3600),
            idle: Duration::from_millis(300),
            ..lively
        };
        let (m1, m0) = pair(strict, silent);
        expect(&m1, Event::Connected(0));
        expect(&m0, Event::Connected(1));
        let up = Instant::now();
        expect(&m1, Event::Disconnected(0));
        assert!(
            up.elapsed() >= Duration::from_millis(200),
            "{:?}",
            up.elapsed()
        );
        expect(&m0, Event::Disconnected(1));
        expect(&m1, Event::Connected(0));
        expect(&m0, Event::Connected(1));
        assert_eq!(m1.stats().refused, 0);
        for t in [n0, n1, m0, m1] {
            t.shutdown();
        }
    }

    #[test]
    fn handshakes_are_bounded_in_number_and_time() {
        let patient = Timings {
            handshake: Duration::from_secs(30),
            ..Timings::DEFAULT
        };
        let (n1, n0) = pair(patient, Timings::DEFAULT);
        expect(&n1, Event::Connected(0));
        expect(&n0, Event::Connected(1));
        // 16 connections that say nothing hold every handshake slot.
        let silent: Vec<_> = (0..HANDSHAKES)
            .map(|_| std::net::TcpStream::connect(n1.local_addr()).unwrap())
            .collect();
        let seventeenth = std::net::TcpStream::connect(n1.local_addr()).unwrap();
        closed(seventeenth);
        match n1.recv_timeout(WAIT) {
            Some(Event::Refused { peer: None, reason }) => {
                assert!(
                    reason.contains("16 handshakes in progress already"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(n1.stats().handshakes_failed, 0);
        // The live link still carries frames.
        n0.send(1, b"through".to_vec());
        expect(
            &n1,
            Event::Frame {
                from: 0,
                bytes: b"through".to_vec(),
            },
        );
        // Closed, they free their slots (each refused).
        drop(silent);
        for _ in 0..HANDSHAKES {
            match n1.recv_timeout(WAIT) {
                Some(Event::Refused { peer: None, reason }) => {
                    assert!(reason.contains("before the handshake"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
        n1.shutdown();
        n0.shutdown();

        // A connection that says nothing is closed after the handshake
        // time.
        let hasty = Timings {
            handshake: Duration::from_millis(200),
            ..Timings::DEFAULT
        };
        // (Member 0 is not started: its real handshake might not make it
        // in 200 ms on a loaded machine.)
        let m1 = Transport::start_with(
            Config {
                me: 1,
                name: "n1".into(),
                listen: "127.0.0.1:0".parse().unwrap(),
                identity: Identity::generate().unwrap(),
                peers: vec![PeerAddr {
                    member: 0,
                    name: "n0".into(),
                    addr: "127.0.0.1:9".parse().unwrap(),
                    public: Identity::generate().unwrap().public(),
                }],
                max_frame: 1024,
            },
            hasty,
        )
        .unwrap();
        let mute = std::net::TcpStream::connect(m1.local_addr()).unwrap();
        closed(mute);
        match m1.recv_timeout(WAIT) {
            Some(Event::Refused { peer: None, reason }) => {
                assert!(reason.contains("no handshake within 200ms"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        m1.shutdown();
    }
}
