//! The sending side of a [`Node`]: what is due at a tick (resync
//! periods, RESYNC parts, SYNCs of the stash, messages again, PINGs,
//! frontier announcements, acknowledgements) and how a message is made.

use super::{
    wire, Ack, Body, Envelope, Frontier, Kind, Node, Out, RunKey, RunState, Sent, SentKind,
    PROTOCOL,
};
use std::collections::VecDeque;

impl Node {
    /// Time is now `now`: enter and leave resync periods, send what is
    /// due (RESYNC parts, SYNCs, messages again, PINGs, acknowledgements).
    pub fn tick(&mut self, now: i64, out: &mut Vec<Out>) {
        self.now = self.now.max(now);
        let now = self.now;
        for m in 0..self.links.len() as u16 {
            self.tick_link(now, m, out);
        }
    }

    fn tick_link(&mut self, now: i64, m: u16, out: &mut Vec<Out>) {
        let resync_ms = self.settings.resync_ms;
        let retry_ms = self.settings.retry_ms;
        let ping_ms = self.settings.ping_ms;
        let window = self.settings.window;
        let announce_ms = self.settings.announce_ms;
        let start = {
            let Some(l) = self.link_mut(m) else { return };
            if !l.out_of_reach && now.saturating_sub(l.heard) >= resync_ms {
                l.out_of_reach = true;
                l.stash.clear();
                l.inflight.clear();
                l.resync_queue.clear();
                l.resync_wanted = true;
            }
            l.resync_wanted && (!l.out_of_reach || now.saturating_sub(l.last_resync) >= resync_ms)
        };
        if start {
            // A new stream that begins with the whole state: the active
            // runs and the retained finished ones.
            let keys: VecDeque<RunKey> = self.runs.keys().copied().collect();
            self.stats.resyncs += 1;
            if let Some(l) = self.link_mut(m) {
                l.resync_wanted = false;
                l.last_resync = now;
                l.stream += 1;
                l.next_seq = 1;
                l.acked = 0;
                l.inflight.clear();
                l.stash.clear();
                l.resync_queue = keys;
                l.resync_part = 0;
                // The parts before the last may not say where this node
                // is: the peer lacks the runs of the later parts (its
                // frontier never goes back, so it only waits).
                l.announced = Frontier::START;
            }
            // An empty RESYNC still says "this is all".
            self.send_resync_part(now, m, out, true);
        }
        // Again, what was not acknowledged in time.
        let again: Vec<Sent> = match self.link_mut(m) {
            // Into the void of the resync period, only once a period.
            Some(l)
                if !l.inflight.is_empty()
                    && now.saturating_sub(l.last_progress)
                        >= if l.out_of_reach {
                            resync_ms
                        } else {
                            l.retry.max(retry_ms)
                        } =>
            {
                l.last_progress = now;
                l.retry = (l.retry.max(retry_ms) * 2).min((resync_ms / 4).max(retry_ms));
                l.inflight.iter().cloned().collect()
            }
            _ => Vec::new(),
        };
        for s in again {
            self.transmit(now, m, &s, out);
        }
        loop {
            let Some(l) = self.link(m) else { return };
            if l.inflight.len() >= window {
                break;
            }
            if !l.resync_queue.is_empty() {
                self.send_resync_part(now, m, out, false);
            } else if !l.stash.is_empty() {
                self.send_sync(now, m, out);
            } else if (l.sent_frontier != (l.announced, l.announced_end)
                || l.sent_ahead != self.ahead.as_ref().map(|a| (a.horizon, a.keys.len())))
                && now.saturating_sub(l.last_announce) >= announce_ms
                // A peer in the resync period gets no changes (its stash
                // is wiped), so no frontier either: the RESYNC will say.
                && !l.out_of_reach
            {
                // Where this node is, at once: the peer may be waiting
                // for it (`may_process`).
                self.send_new(now, m, SentKind::Sync, Vec::new(), out);
            } else {
                break;
            }
        }
        let Some(l) = self.link(m) else { return };
        if l.inflight.len() < window && now.saturating_sub(l.last_sent) >= ping_ms {
            self.send_new(now, m, SentKind::Ping, Vec::new(), out);
        }
        let Some(l) = self.link(m) else { return };
        if l.to_ack {
            self.send_ack(now, m, out);
        }
    }

    /// Takes runs from the front of `keys` while the message stays under
    /// the frame limit, into `taken`; a run too large for any frame is
    /// reported and passed over. The number of keys looked at.
    fn fill(&self, keys: &[RunKey], taken: &mut Vec<RunKey>, out: &mut Vec<Out>) -> usize {
        // Room for the envelope's own fields (the lookahead's keys, three
        // bytes at most each, among them).
        let ahead = self.ahead.as_ref().map_or(0, |a| 24 + 3 * a.keys.len());
        let budget = self.settings.max_frame.saturating_sub(128 + ahead);
        let mut size = 0usize;
        for (i, run) in keys.iter().enumerate() {
            let Some(state) = self.runs.get(run) else {
                continue;
            };
            let n = wire::entry_size(run, state);
            if n > budget {
                out.push(Out::Oversized {
                    run: *run,
                    bytes: n,
                });
                continue;
            }
            if size + n > budget {
                return i;
            }
            size += n;
            taken.push(*run);
        }
        keys.len()
    }

    fn send_sync(&mut self, now: i64, m: u16, out: &mut Vec<Out>) {
        let Some(l) = self.link(m) else { return };
        let keys: Vec<RunKey> = l.stash.iter().copied().collect();
        let mut taken = Vec::new();
        let used = self.fill(&keys, &mut taken, out);
        if let Some(l) = self.link_mut(m) {
            for r in keys.iter().take(used) {
                l.stash.remove(r);
            }
        }
        if !taken.is_empty() {
            self.send_new(now, m, SentKind::Sync, taken, out);
        }
    }

    fn send_resync_part(&mut self, now: i64, m: u16, out: &mut Vec<Out>, first: bool) {
        let Some(l) = self.link(m) else { return };
        if !first && l.resync_queue.is_empty() {
            return;
        }
        let keys: Vec<RunKey> = l.resync_queue.iter().copied().collect();
        let mut taken = Vec::new();
        let used = self.fill(&keys, &mut taken, out);
        let Some(l) = self.link_mut(m) else { return };
        l.resync_queue.drain(..used);
        let part = l.resync_part;
        l.resync_part += 1;
        let last = l.resync_queue.is_empty();
        self.send_new(now, m, SentKind::Resync { part, last }, taken, out);
    }

    fn send_new(
        &mut self,
        now: i64,
        m: u16,
        kind: SentKind,
        runs: Vec<RunKey>,
        out: &mut Vec<Out>,
    ) {
        let (w, ended) = (self.frontier, self.ended);
        let sent_ahead = self.ahead.as_ref().map(|a| (a.horizon, a.keys.len()));
        let Some(l) = self.link_mut(m) else { return };
        let seq = l.next_seq;
        l.next_seq += 1;
        if l.inflight.is_empty() {
            l.last_progress = now;
        }
        if l.stash.is_empty() && l.resync_queue.is_empty() {
            l.announced = w;
            l.announced_end = ended;
        }
        let marks = (l.announced, l.announced_end);
        l.sent_frontier = marks;
        l.sent_ahead = sent_ahead;
        l.last_announce = now;
        let states: Vec<(RunKey, RunState)> = runs
            .iter()
            .filter_map(|r| self.runs.get(r).map(|st| (*r, st.clone())))
            .collect();
        let (kind, body) = match kind {
            SentKind::Sync => (Kind::Sync, Body::Sync(states)),
            SentKind::Ping => (Kind::Ping, Body::Ping),
            SentKind::Resync { part, last } => (
                Kind::Resync,
                Body::Resync {
                    part,
                    last,
                    runs: states,
                },
            ),
        };
        let Some(env) = self.envelope(m, seq, marks, body) else {
            return;
        };
        let s = Sent {
            seq,
            kind,
            runs,
            bytes: wire::encode(&env),
        };
        self.transmit(now, m, &s, out);
        if let Some(l) = self.link_mut(m) {
            l.inflight.push_back(s);
        }
    }

    fn envelope(&self, m: u16, seq: u64, marks: (Frontier, bool), body: Body) -> Option<Envelope> {
        let l = self.link(m)?;
        Some(Envelope {
            version: PROTOCOL,
            sender: self.me,
            program: self.settings.program,
            incarnation: self.incarnation,
            stream: l.stream,
            seq,
            ack: l.from.map(|(incarnation, stream, next)| Ack {
                incarnation,
                stream,
                seq: next - 1,
            }),
            reset: l.reset_pending && seq != 0,
            frontier: marks.0,
            ended: marks.1,
            // Acknowledgements alone say nothing of where the node is.
            ahead: if seq == 0 { None } else { self.ahead.clone() },
            body,
        })
    }

    fn transmit(&mut self, now: i64, m: u16, s: &Sent, out: &mut Vec<Out>) {
        self.stats.sent += 1;
        self.stats.bytes_sent += s.bytes.len() as u64;
        if let Some(l) = self.link_mut(m) {
            l.last_sent = now;
            l.to_ack = false;
        }
        out.push(Out::Send {
            to: m,
            kind: s.kind,
            bytes: s.bytes.clone(),
        });
    }

    fn send_ack(&mut self, now: i64, m: u16, out: &mut Vec<Out>) {
        let Some(env) = self.envelope(m, 0, (Frontier::START, false), Body::Ack) else {
            return;
        };
        self.stats.sent += 1;
        let bytes = wire::encode(&env);
        self.stats.bytes_sent += bytes.len() as u64;
        if let Some(l) = self.link_mut(m) {
            l.to_ack = false;
            l.last_sent = now;
        }
        out.push(Out::Send {
            to: m,
            kind: Kind::Ack,
            bytes,
        });
    }
}
