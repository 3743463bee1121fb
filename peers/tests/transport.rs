//! The transport over real sockets on 127.0.0.1: frames between three
//! members, strangers and wrong claims refused, a replayed recording
//! refused, frame limits, reconnection. Every wait is for an event (or a
//! count) with a generous deadline, never a fixed sleep.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cep_peers::{Config, Event, Identity, PeerAddr, Stats, Transport, MAX_FRAME};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest any one wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// The address of a lower member: never dialed, only named in messages.
fn not_dialed() -> SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

fn peer(member: u16, identity: &Identity, addr: SocketAddr) -> PeerAddr {
    PeerAddr {
        member,
        name: format!("n{member}"),
        addr,
        public: identity.public(),
    }
}

/// A transport and every event taken from it so far.
struct Node {
    t: Transport,
    seen: Vec<Event>,
}

impl Node {
    fn start(me: u16, identity: &Identity, listen: SocketAddr, peers: Vec<PeerAddr>) -> Node {
        Node::start_with(me, identity, listen, peers, 61_440)
    }

    fn start_with(
        me: u16,
        identity: &Identity,
        listen: SocketAddr,
        peers: Vec<PeerAddr>,
        max_frame: usize,
    ) -> Node {
        let t = Transport::start(Config {
            me,
            name: format!("n{me}"),
            listen,
            identity: identity.clone(),
            peers,
            max_frame,
        })
        .unwrap();
        Node {
            t,
            seen: Vec::new(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.t.local_addr()
    }

    /// Takes events until one matches `what` and returns it (it is in
    /// `seen` too); fails the test after [`WAIT`].
    fn wait(&mut self, label: &str, what: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(event) = self.t.recv_timeout(left) else {
                panic!("no {label} within {WAIT:?}; events: {:#?}", self.seen);
            };
            self.seen.push(event.clone());
            if what(&event) {
                return event;
            }
        }
    }

    fn wait_connected(&mut self, member: u16) {
        self.wait(&format!("Connected({member})"), |e| {
            *e == Event::Connected(member)
        });
    }

    /// Waits until a `Connected` of each of `members` has been seen
    /// (in any order).
    fn wait_connected_all(&mut self, members: &[u16]) {
        for &m in members {
            if !self.seen.contains(&Event::Connected(m)) {
                self.wait_connected(m);
            }
        }
    }

    fn wait_disconnected(&mut self, member: u16) {
        self.wait(&format!("Disconnected({member})"), |e| {
            *e == Event::Disconnected(member)
        });
    }

    /// The next frame's sender and bytes.
    fn wait_frame(&mut self) -> (u16, Vec<u8>) {
        match self.wait("a frame", |e| matches!(e, Event::Frame { .. })) {
            Event::Frame { from, bytes } => (from, bytes),
            _ => unreachable!(),
        }
    }

    /// Waits for a refusal whose reason contains `text`; returns its
    /// `peer` and reason.
    fn wait_refused(&mut self, text: &str) -> (Option<u16>, String) {
        match self.wait(
            &format!("a refusal containing {text:?}"),
            |e| matches!(e, Event::Refused { reason, .. } if reason.contains(text)),
        ) {
            Event::Refused { peer, reason } => (peer, reason),
            _ => unreachable!(),
        }
    }

    /// Takes what is waiting without blocking.
    fn drain(&mut self) {
        while let Some(event) = self.t.try_recv() {
            self.seen.push(event);
        }
    }

    fn count(&self, what: impl Fn(&Event) -> bool) -> usize {
        self.seen.iter().filter(|e| what(e)).count()
    }
}

/// Polls `stats` until `done` holds; fails the test after [`WAIT`].
fn eventually(t: &Transport, label: &str, done: impl Fn(&Stats) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done(&t.stats()) {
        assert!(
            Instant::now() < deadline,
            "{label} not reached within {WAIT:?}: {:?}",
            t.stats()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn ids(n: usize) -> Vec<Identity> {
    (0..n).map(|_| Identity::generate().unwrap()).collect()
}

/// Three members, started from the highest index down so that each
/// dialer knows the listener's ephemeral port.
fn three() -> (Vec<Identity>, Vec<Node>) {
    let ids = ids(3);
    let n2 = Node::start(
        2,
        &ids[2],
        any_port(),
        vec![
            peer(0, &ids[0], not_dialed()),
            peer(1, &ids[1], not_dialed()),
        ],
    );
    let n1 = Node::start(
        1,
        &ids[1],
        any_port(),
        vec![peer(0, &ids[0], not_dialed()), peer(2, &ids[2], n2.addr())],
    );
    let n0 = Node::start(
        0,
        &ids[0],
        any_port(),
        vec![peer(1, &ids[1], n1.addr()), peer(2, &ids[2], n2.addr())],
    );
    (ids, vec![n0, n1, n2])
}

/// Frame `i` from `from` to `to`: a header and a body whose length varies
/// from 1 byte to 2 kilobytes.
fn frame(from: u16, to: u16, i: usize) -> Vec<u8> {
    let mut bytes = format!("{from}>{to}#{i};").into_bytes();
    bytes.extend((0..(i * 97) % 2000).map(|k| (k ^ i) as u8));
    bytes
}

/// Writes `bytes` on a raw connection to `addr` and reads what comes back
/// until the other side closes; fails the test if it does not close
/// within [`WAIT`]. A reset counts as closed (the other side closed with
/// our bytes unread).
fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    // The peer may close (and reset) before taking everything.
    let _ = stream.write_all(bytes);
    let mut back = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return back,
            Ok(n) => back.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return back,
            Err(e) => panic!("the connection to {addr} was not closed: {e}"),
        }
    }
}

/// The first handshake frame with `claim` and 48 bytes that are not a
/// Noise message.
fn fake_first_frame(claim: u16) -> Vec<u8> {
    let mut bytes = vec![0, 50];
    bytes.extend_from_slice(&claim.to_be_bytes());
    bytes.extend((0..48).map(|i| i as u8));
    bytes
}

#[test]
fn three_members_exchange_frames_both_ways_in_order() {
    const N: usize = 200; // below the 256-frame send queue
    let (_ids, mut nodes) = three();
    for (me, node) in nodes.iter_mut().enumerate() {
        let others: Vec<u16> = (0..3).filter(|&m| m != me as u16).collect();
        node.wait_connected_all(&others);
    }
    for i in 0..N {
        for (me, node) in nodes.iter().enumerate() {
            for to in 0..3u16 {
                if to != me as u16 {
                    node.t.send(to, frame(me as u16, to, i));
                }
            }
        }
    }
    // Each member takes 2N frames (more than the 256 that may wait, so
    // reading pauses and resumes), each sender's in the order sent.
    for (me, node) in nodes.iter_mut().enumerate() {
        let mut next = [0usize; 3];
        for _ in 0..2 * N {
            let (from, bytes) = node.wait_frame();
            let f = usize::from(from);
            assert_ne!(f, me, "a frame from itself");
            assert_eq!(
                bytes,
                frame(from, me as u16, next[f]),
                "member {me}: frame {} from {from} out of order or changed",
                next[f]
            );
            next[f] += 1;
        }
        assert!(next.iter().enumerate().all(|(f, n)| f == me || *n == N));
    }
    for (me, node) in nodes.iter_mut().enumerate() {
        eventually(&node.t, &format!("member {me} sent {}", 2 * N), |s| {
            s.sent == 2 * N as u64
        });
        node.drain();
        let stats = node.t.stats();
        assert_eq!(
            stats,
            Stats {
                sent: 2 * N as u64,
                received: 2 * N as u64,
                refused: 0,
                dropped: 0,
                handshakes_failed: 0,
                connections: 2,
            },
            "member {me}"
        );
        assert_eq!(node.count(|e| matches!(e, Event::Disconnected(_))), 0);
        assert_eq!(node.count(|e| matches!(e, Event::Refused { .. })), 0);
    }
    for node in nodes {
        node.t.shutdown();
    }
}

#[test]
fn a_stranger_is_refused_and_the_live_link_stays() {
    let ids = ids(2);
    let mut n1 = Node::start(1, &ids[1], any_port(), vec![peer(0, &ids[0], not_dialed())]);
    let mut n0 = Node::start(0, &ids[0], any_port(), vec![peer(1, &ids[1], n1.addr())]);
    n1.wait_connected(0);
    n0.wait_connected(1);

    // A key nobody configured, claiming member 0: refused at KK message 1
    // (it keeps dialing, so wait for two refusals).
    let stranger_id = Identity::generate().unwrap();
    let mut stranger = Node::start(
        0,
        &stranger_id,
        any_port(),
        vec![peer(1, &ids[1], n1.addr())],
    );
    for _ in 0..2 {
        let (peer, reason) = n1.wait_refused("does not authenticate with that member's key");
        assert_eq!(peer, Some(0));
        assert!(reason.contains("claiming member 0"), "{reason}");
    }
    let (peer, reason) = stranger.wait_refused("before answering");
    assert_eq!(peer, Some(1));
    assert!(reason.contains(&n1.addr().to_string()), "{reason}");
    stranger.t.send(1, b"let me in".to_vec());
    assert_eq!(stranger.t.stats().dropped, 1, "not connected: dropped");
    assert!(stranger.t.stats().handshakes_failed >= 1);
    assert_eq!(stranger.t.stats().connections, 0);

    // A claim of a member that is not configured: refused before Noise.
    let back = raw_exchange(n1.addr(), &fake_first_frame(9));
    assert!(back.is_empty(), "answered a stranger: {back:?}");
    let (peer, reason) = n1.wait_refused("claims member 9, which is not a configured peer");
    assert_eq!(peer, None);
    assert!(reason.contains("127.0.0.1"), "{reason}");

    stranger.drain();
    assert_eq!(stranger.count(|e| matches!(e, Event::Connected(_))), 0);
    stranger.t.shutdown();
    n1.drain();
    let stats = n1.t.stats();
    // The stranger's last attempt may still end (it shut down mid-way):
    // at least the refusals taken above.
    assert!(stats.handshakes_failed >= 2, "{stats:?}");
    assert!(stats.refused >= 3, "{stats:?}");
    assert_eq!(stats.connections, 1, "only the real member 0: {stats:?}");
    assert_eq!(n1.count(|e| *e == Event::Connected(0)), 1);

    // The real member 0's link was never disturbed.
    assert_eq!(n1.count(|e| matches!(e, Event::Disconnected(_))), 0);
    n0.t.send(1, b"still here".to_vec());
    assert_eq!(n1.wait_frame(), (0, b"still here".to_vec()));
    n1.t.send(0, b"and here".to_vec());
    assert_eq!(n0.wait_frame(), (1, b"and here".to_vec()));
    n0.t.shutdown();
    n1.t.shutdown();
}

#[test]
fn wrong_claims_are_refused() {
    let ids = ids(3);
    let mut n2 = Node::start(
        2,
        &ids[2],
        any_port(),
        vec![
            peer(0, &ids[0], not_dialed()),
            peer(1, &ids[1], not_dialed()),
        ],
    );
    let mut n1 = Node::start(
        1,
        &ids[1],
        any_port(),
        vec![peer(0, &ids[0], not_dialed()), peer(2, &ids[2], n2.addr())],
    );
    n2.wait_connected(1);

    // Member 1's real key claiming to be member 0.
    let mut impostor = Node::start(0, &ids[1], any_port(), vec![peer(2, &ids[2], n2.addr())]);
    let (peer_, reason) = n2.wait_refused("does not authenticate with that member's key");
    assert_eq!(peer_, Some(0));
    assert!(reason.contains("claiming member 0 (n0)"), "{reason}");
    impostor.wait_refused("before answering");
    assert_eq!(impostor.count(|e| matches!(e, Event::Connected(_))), 0);
    impostor.t.shutdown();

    // Member 0's real key, but numbering the cluster differently (it
    // takes member 2 for member 3): the prologue differs, so it fails.
    let mut confused = Node::start(0, &ids[0], any_port(), vec![peer(3, &ids[2], n2.addr())]);
    let (peer_, _) = n2.wait_refused("does not authenticate with that member's key");
    assert_eq!(peer_, Some(0));
    confused.wait_refused("before answering");
    assert_eq!(confused.count(|e| matches!(e, Event::Connected(_))), 0);
    confused.t.shutdown();

    // A higher member claiming to dial a lower one: refused before Noise.
    let back = raw_exchange(n1.addr(), &fake_first_frame(2));
    assert!(back.is_empty(), "answered: {back:?}");
    let (peer_, reason) = n1.wait_refused("a higher member than this one (1) is dialed");
    assert_eq!(peer_, Some(2));
    assert!(reason.contains("claiming member 2 (n2)"), "{reason}");

    n2.drain();
    assert_eq!(n2.count(|e| *e == Event::Connected(0)), 0, "{:#?}", n2.seen);
    assert_eq!(n2.count(|e| matches!(e, Event::Disconnected(_))), 0);
    let stats = n2.t.stats();
    assert!(stats.handshakes_failed >= 2, "{stats:?}");
    assert!(stats.refused >= 2, "{stats:?}");
    assert_eq!(stats.connections, 1, "{stats:?}");
    let stats = n1.t.stats();
    assert_eq!(
        (stats.refused, stats.handshakes_failed),
        (1, 0),
        "{stats:?}"
    );
    n1.t.shutdown();
    n2.t.shutdown();
}

/// A TCP proxy for one connection that records every byte the client
/// sends.
struct Recorder {
    addr: SocketAddr,
    sent: Arc<Mutex<Vec<u8>>>,
}

fn recorder(target: SocketAddr) -> Recorder {
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&sent);
    std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let mut server = TcpStream::connect(target).unwrap();
        let mut client_back = client.try_clone().unwrap();
        let mut server_back = server.try_clone().unwrap();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut server_back, &mut client_back);
            let _ = client_back.shutdown(std::net::Shutdown::Both);
        });
        let mut buf = [0u8; 4096];
        loop {
            match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    // Recorded before it is passed on: whatever the
                    // server has received is in the recording.
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                    if server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = server.shutdown(std::net::Shutdown::Both);
    });
    Recorder { addr, sent }
}

#[test]
fn a_replayed_session_is_refused_and_delivers_nothing() {
    let ids = ids(2);
    let mut n1 = Node::start(1, &ids[1], any_port(), vec![peer(0, &ids[0], not_dialed())]);
    let proxy = recorder(n1.addr());
    let mut n0 = Node::start(0, &ids[0], any_port(), vec![peer(1, &ids[1], proxy.addr)]);
    n0.wait_connected(1);
    n1.wait_connected(0);
    for i in 0..5u8 {
        n0.t.send(1, vec![i; 100]);
    }
    for i in 0..5u8 {
        assert_eq!(n1.wait_frame(), (0, vec![i; 100]));
    }
    let recording = proxy.sent.lock().unwrap().clone();
    // The claim and message 1, the key confirmation, five data frames.
    assert_eq!(recording.len(), 52 + 18 + 5 * (2 + 100 + 16));
    assert_eq!(&recording[..4], &[0, 50, 0, 0]);

    // The whole recording again, on a new connection straight to member
    // 1: message 1 is taken (it names no session), message 2 answers it
    // with a fresh ephemeral key, and the recorded key confirmation does
    // not decrypt under the new session's keys.
    let back = raw_exchange(n1.addr(), &recording);
    assert_eq!(back.len(), 2 + 48, "only message 2 came back: {back:?}");
    let (peer, reason) = n1.wait_refused("key confirmation does not decrypt");
    assert_eq!(peer, Some(0));
    assert!(reason.contains("claiming member 0"), "{reason}");

    // Replayed to the member whose link is down, the same.
    n0.t.shutdown();
    n1.wait_disconnected(0);
    let back = raw_exchange(n1.addr(), &recording);
    assert_eq!(back.len(), 2 + 48);
    n1.wait_refused("key confirmation does not decrypt");

    n1.drain();
    assert_eq!(
        n1.count(|e| matches!(e, Event::Frame { .. })),
        5,
        "a replayed frame was delivered: {:#?}",
        n1.seen
    );
    assert_eq!(n1.count(|e| matches!(e, Event::Connected(_))), 1);
    let stats = n1.t.stats();
    assert_eq!(stats.received, 5, "{stats:?}");
    assert_eq!(
        (stats.refused, stats.handshakes_failed),
        (2, 2),
        "{stats:?}"
    );
    assert_eq!(stats.connections, 1, "{stats:?}");
    // The first replay, made while the link was up, did not end it.
    let disconnected = n1
        .seen
        .iter()
        .position(|e| matches!(e, Event::Disconnected(_)))
        .unwrap();
    let first_refusal = n1
        .seen
        .iter()
        .position(|e| matches!(e, Event::Refused { .. }))
        .unwrap();
    assert!(first_refusal < disconnected, "{:#?}", n1.seen);
    n1.t.shutdown();
}

#[test]
fn frames_over_the_limit_are_refused() {
    let ids = ids(2);
    let mut n1 = Node::start_with(
        1,
        &ids[1],
        any_port(),
        vec![peer(0, &ids[0], not_dialed())],
        1024,
    );
    let mut n0 = Node::start_with(
        0,
        &ids[0],
        any_port(),
        vec![peer(1, &ids[1], n1.addr())],
        4096,
    );
    n0.wait_connected(1);
    n1.wait_connected(0);

    // Before the handshake: a length prefix over 64 bytes is refused from
    // its two bytes and the connection closed.
    let back = raw_exchange(n1.addr(), &[0xff, 0xff]);
    assert!(back.is_empty());
    let (peer, _) = n1.wait_refused("a first frame of 65535 bytes");
    assert_eq!(peer, None);

    // On a link: member 0 allows 4096 bytes, member 1 only 1024.
    n0.t.send(1, vec![1; 1024]);
    assert_eq!(n1.wait_frame(), (0, vec![1; 1024]));
    n0.t.send(1, vec![2; 2000]);
    let (peer, reason) = n1.wait_refused("a frame of 2016 bytes, over the limit of 1040");
    assert_eq!(peer, Some(0));
    assert!(reason.contains("connection closed"), "{reason}");
    n1.wait_disconnected(0);
    n0.wait_disconnected(1);
    // The dialer comes back, and frames within the limit flow again.
    n0.wait_connected(1);
    n1.wait_connected(0);
    n0.t.send(1, vec![3; 10]);
    assert_eq!(n1.wait_frame(), (0, vec![3; 10]));

    // Frames the sender cannot send are dropped and counted.
    n1.t.send(0, vec![4; 1025]);
    n1.t.send(0, Vec::new());
    n1.t.send(7, vec![5; 10]);
    assert_eq!(n1.t.stats().dropped, 3);
    n1.t.send(0, vec![6; 1024]);
    assert_eq!(n0.wait_frame(), (1, vec![6; 1024]));

    n1.drain();
    n0.drain();
    assert_eq!(
        n1.count(|e| matches!(e, Event::Frame { .. })),
        2,
        "{:#?}",
        n1.seen
    );
    assert_eq!(n0.count(|e| matches!(e, Event::Frame { .. })), 1);
    let stats = n1.t.stats();
    assert_eq!(
        (stats.received, stats.refused, stats.handshakes_failed),
        (2, 2, 0),
        "{stats:?}"
    );
    assert_eq!(stats.connections, 2);
    assert_eq!(n0.t.stats().dropped, 0);
    n0.t.shutdown();
    n1.t.shutdown();
}

#[test]
fn members_reconnect_after_a_restart() {
    let ids = ids(2);
    let mut n1 = Node::start(1, &ids[1], any_port(), vec![peer(0, &ids[0], not_dialed())]);
    let addr1 = n1.addr();
    let mut n0 = Node::start(0, &ids[0], any_port(), vec![peer(1, &ids[1], addr1)]);
    n0.wait_connected(1);
    n1.wait_connected(0);
    n0.t.send(1, b"one".to_vec());
    assert_eq!(n1.wait_frame(), (0, b"one".to_vec()));

    // The listener restarts on its address with its identity.
    n1.t.shutdown();
    n0.wait_disconnected(1);
    n0.t.send(1, b"lost".to_vec());
    assert_eq!(n0.t.stats().dropped, 1, "not connected: dropped");
    let mut n1 = Node::start(1, &ids[1], addr1, vec![peer(0, &ids[0], not_dialed())]);
    n0.wait_connected(1);
    n1.wait_connected(0);
    n0.t.send(1, b"two".to_vec());
    assert_eq!(n1.wait_frame(), (0, b"two".to_vec()));
    n1.t.send(0, b"back".to_vec());
    assert_eq!(n0.wait_frame(), (1, b"back".to_vec()));
    assert_eq!(n0.t.stats().connections, 2);

    // The dialer restarts (on a new port: its address is not dialed).
    n0.t.shutdown();
    n1.wait_disconnected(0);
    let mut n0 = Node::start(0, &ids[0], any_port(), vec![peer(1, &ids[1], addr1)]);
    n0.wait_connected(1);
    n1.wait_connected(0);
    n0.t.send(1, b"three".to_vec());
    assert_eq!(n1.wait_frame(), (0, b"three".to_vec()));
    n1.t.send(0, b"again".to_vec());
    assert_eq!(n0.wait_frame(), (1, b"again".to_vec()));
    assert_eq!(n1.t.stats().connections, 2);
    assert_eq!(n1.t.stats().refused, 0);
    n0.t.shutdown();
    n1.t.shutdown();
}

#[test]
fn start_refuses_a_bad_configuration_or_a_taken_address() {
    let ids = ids(2);
    let config = |me: u16, peers: Vec<PeerAddr>, max_frame: usize, listen: SocketAddr| Config {
        me,
        name: "n0".into(),
        listen,
        identity: ids[0].clone(),
        peers,
        max_frame,
    };
    let p1 = peer(1, &ids[1], not_dialed());
    let error = |cfg| match Transport::start(cfg) {
        Ok(_) => panic!("started"),
        Err(e) => e.to_string(),
    };
    for max_frame in [0, MAX_FRAME + 1] {
        let e = error(config(0, vec![p1.clone()], max_frame, any_port()));
        assert!(e.contains(&format!("max_frame {max_frame}")), "{e}");
    }
    let e = error(config(1, vec![p1.clone()], 1024, any_port()));
    assert!(e.contains("own index 1"), "{e}");
    let mut twice = p1.clone();
    twice.name = "again".into();
    let e = error(config(0, vec![p1.clone(), twice], 1024, any_port()));
    assert!(e.contains("member 1 is configured twice"), "{e}");

    let first = Transport::start(config(0, vec![p1.clone()], MAX_FRAME, any_port())).unwrap();
    let taken = first.local_addr();
    let e = error(config(0, vec![p1], 1024, taken));
    assert!(e.contains(&format!("cannot listen on {taken}")), "{e}");
    first.shutdown();
}

#[test]
fn undrained_refusals_and_frames_are_bounded() {
    let ids = ids(2);
    let mut n1 = Node::start(1, &ids[1], any_port(), vec![peer(0, &ids[0], not_dialed())]);
    let mut n0 = Node::start(0, &ids[0], any_port(), vec![peer(1, &ids[1], n1.addr())]);
    n1.wait_connected(0);
    n0.wait_connected(1);

    // 300 refusals while the caller takes none: all counted, 256 kept.
    for _ in 0..300 {
        raw_exchange(n1.addr(), &fake_first_frame(9));
    }
    eventually(&n1.t, "300 refusals", |s| s.refused == 300);
    n1.drain();
    assert_eq!(n1.count(|e| matches!(e, Event::Refused { .. })), 256);
    // Taken, they make room again.
    raw_exchange(n1.addr(), &fake_first_frame(9));
    n1.wait_refused("claims member 9");

    // 300 frames while the caller takes none: all written, at most 256
    // delivered; reading resumes as they are taken, in order.
    // (In two batches: the send queue holds 256.)
    for (from, to) in [(0u16, 200u16), (200, 300)] {
        for i in from..to {
            n0.t.send(1, i.to_be_bytes().to_vec());
        }
        eventually(&n0.t, &format!("{to} sent"), |s| s.sent == u64::from(to));
    }
    assert_eq!(n0.t.stats().dropped, 0);
    eventually(&n1.t, "256 received", |s| s.received == 256);
    let settle = Instant::now() + Duration::from_millis(200);
    while Instant::now() < settle {
        assert_eq!(n1.t.stats().received, 256, "more than 256 waiting");
        std::thread::sleep(Duration::from_millis(10));
    }
    for i in 0..300u16 {
        assert_eq!(n1.wait_frame(), (0, i.to_be_bytes().to_vec()));
    }
    assert_eq!(n1.t.stats().received, 300);
    n0.t.shutdown();
    n1.t.shutdown();
}
