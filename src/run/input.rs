//! What `cep run` waits for, in one channel: input chunks from a reader
//! thread, attempts that ended (from the step executor), and signals. The
//! loop can then tell when the input is idle (to flush live output), wait
//! for the next step deadline, and stop at a signal even while a read
//! would block.
//!
//! A reader thread reads the source in chunks of up to [`CHUNK`] bytes
//! and sends them over a bounded channel. Each chunk becomes a decoded
//! batch (`cep_runtime::ingest::Stage`): with one thread ([`Threads`]),
//! when the loop takes the chunk; with two, on the reader thread, which
//! then decodes while the loop matches (a pipeline; the batches and their
//! order are the same either way, so is the output). On Unix, SIGINT and SIGTERM
//! (signal-hook) set a flag in the handler and wake the loop: the reader
//! stops reading, the loop takes the chunks already read (they have left
//! the source, so they are not dropped), then [`Next::Stop`] comes. A
//! second signal gives [`Next::StopNow`] (running attempts are killed); a
//! third terminates the process at once, as without the handler. SIGUSR1
//! asks for the acceptance report now ([`Next::Report`]). Only the first
//! `cep run` of a process installs the handlers.

use cep_exec::Finished;
use cep_runtime::ingest::{Batch, Stage};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{
    channel, sync_channel, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError,
};
use std::sync::Arc;
use std::time::Instant;

/// The largest chunk the reader thread reads at once, in bytes.
pub const CHUNK: usize = 256 * 1024;
/// Messages that may wait in the channel (chunks the reader may be ahead).
const AHEAD: usize = 3;

pub enum Msg {
    /// A chunk read, not decoded yet (one thread).
    Data(Vec<u8>),
    /// The end of the input (one thread).
    End,
    /// A chunk read and decoded on the reader thread (two threads).
    Batch(Batch),
    /// The end of the input, with its last line if it had no line break
    /// (two threads).
    Last(Batch),
    Error(io::Error),
    /// A signal arrived (the handler has set its flag).
    Wake,
    /// An attempt ended.
    Done(Finished),
    /// An attempt's program runs as this process group.
    Started(u64, u32, i32),
}

/// What comes next for the loop.
pub enum Next {
    /// The lines of a chunk, decoded.
    Batch(Batch),
    /// The input ended; its last line if it had no line break.
    End(Batch),
    Error(io::Error),
    Done(Finished),
    Started(u64, u32, i32),
    /// The deadline passed with nothing else to do.
    Timeout,
    /// A signal: stop taking input. Comes once, after the chunks already
    /// read.
    Stop(i32),
    /// A second signal: stop now. Comes once, after `Stop`.
    StopNow,
    /// SIGUSR1: report the process instances that are not accepting now.
    Report,
}

/// Where input is decoded: on the thread that matches (`One`), or on the
/// reader thread, ahead of it (`Two`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    One,
    Two,
}

/// What the loop gives back to the reader thread to fill again.
enum Spare {
    Chunk(Vec<u8>),
    Batch(Batch),
}

pub struct Feed {
    rx: Receiver<Msg>,
    /// Buffers and batches back to the reader thread.
    back: Sender<Spare>,
    /// With one thread: the stage that decodes the chunks as they are
    /// taken (with two it is on the reader thread).
    stage: Option<Stage>,
    tx: SyncSender<Msg>,
    caught: Caught,
    /// A message taken by [`Feed::poll`] and not yet given.
    ahead: Option<Msg>,
    stop_given: bool,
    now_given: bool,
    input_done: bool,
}

impl Feed {
    /// Starts reading `source` on a thread of its own, decoding it with
    /// `stage` there (`Threads::Two`) or as the chunks are taken.
    pub fn start(source: Box<dyn Read + Send>, stage: Stage, threads: Threads) -> Feed {
        let (tx, rx) = sync_channel(AHEAD);
        let caught = Caught::default();
        watch_signals(&tx, &caught);
        let stop = caught.clone();
        let reader = tx.clone();
        let (inline, ahead) = match threads {
            Threads::One => (Some(stage), None),
            Threads::Two => (None, Some(stage)),
        };
        let (back, spares) = channel();
        std::thread::spawn(move || read(source, ahead, &stop, &reader, &spares));
        Feed {
            rx,
            back,
            stage: inline,
            tx,
            caught,
            ahead: None,
            stop_given: false,
            now_given: false,
            input_done: false,
        }
    }

    /// Gives a processed batch back, to be filled again.
    pub fn recycle(&mut self, b: Batch) {
        match self.stage.as_mut() {
            Some(s) => s.recycle(b),
            None => {
                let _ = self.back.send(Spare::Batch(b));
            }
        }
    }

    /// A sender for the step executor's reports.
    pub fn sender(&self) -> SyncSender<Msg> {
        self.tx.clone()
    }

    /// The next thing, without waiting: `None` when the loop would have to
    /// wait (the input is idle and no attempt has ended).
    pub fn poll(&mut self) -> Option<Next> {
        if self.ahead.is_none() {
            match self.rx.try_recv() {
                Ok(m) => self.ahead = Some(m),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {}
            }
        }
        self.next_of_ahead()
    }

    /// The next thing, waiting for it until `deadline` (for ever without).
    pub fn wait(&mut self, deadline: Option<Instant>) -> Next {
        loop {
            if let Some(n) = self.poll() {
                return n;
            }
            let m = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    match self.rx.recv_timeout(left) {
                        Ok(m) => m,
                        Err(RecvTimeoutError::Timeout) => return Next::Timeout,
                        Err(RecvTimeoutError::Disconnected) => return Next::Timeout,
                    }
                }
                None => match self.rx.recv() {
                    Ok(m) => m,
                    // Nothing can send any more: the input is over.
                    Err(_) => {
                        let last = self.stage.as_mut().map(Stage::end);
                        return Next::End(last.unwrap_or_default());
                    }
                },
            };
            self.ahead = Some(m);
        }
    }

    /// Gives the message taken (or, after a signal, the next one already
    /// sent): attempts that ended always; chunks and the end of the input
    /// until a signal has been given; after a signal, the chunks already
    /// read, then [`Next::Stop`] once.
    fn next_of_ahead(&mut self) -> Option<Next> {
        if self.caught.report.swap(false, Ordering::SeqCst) {
            return Some(Next::Report);
        }
        if self.stop_given && !self.now_given && self.caught.again.load(Ordering::SeqCst) {
            self.now_given = true;
            return Some(Next::StopNow);
        }
        loop {
            let signal = if self.stop_given {
                None
            } else {
                self.caught.get()
            };
            let m = match self.ahead.take() {
                Some(m) => m,
                None => match signal {
                    Some(s) => match self.rx.try_recv() {
                        Ok(m) => m,
                        Err(_) => return Some(self.stop(s)),
                    },
                    None => return None,
                },
            };
            match m {
                Msg::Done(f) => return Some(Next::Done(f)),
                Msg::Started(r, a, g) => return Some(Next::Started(r, a, g)),
                Msg::Wake => continue,
                _ if self.input_done => continue,
                Msg::Data(d) => {
                    // Data comes only when the stage is here.
                    let b = self.stage.as_mut().map(|s| s.chunk(&d));
                    let _ = self.back.send(Spare::Chunk(d));
                    return Some(Next::Batch(b.unwrap_or_default()));
                }
                Msg::Batch(b) => return Some(Next::Batch(b)),
                Msg::End | Msg::Last(_) => {
                    // The end and a signal together (Ctrl-C on `producer |
                    // cep run`): the signal counts, so that time does not
                    // pass as if the input had ended.
                    if let Some(s) = signal {
                        return Some(self.stop(s));
                    }
                    self.input_done = true;
                    let last = match m {
                        Msg::Last(b) => b,
                        _ => self.stage.as_mut().map(Stage::end).unwrap_or_default(),
                    };
                    return Some(Next::End(last));
                }
                Msg::Error(e) => {
                    self.input_done = true;
                    return Some(Next::Error(e));
                }
            }
        }
    }

    fn stop(&mut self, s: i32) -> Next {
        self.stop_given = true;
        self.input_done = true;
        Next::Stop(s)
    }
}

/// The reader thread: chunks of `source` to `to` until its end, an error
/// or a signal; decoded by `stage` when it is given.
fn read(
    mut source: Box<dyn Read + Send>,
    mut stage: Option<Stage>,
    stop: &Caught,
    to: &SyncSender<Msg>,
    spares: &Receiver<Spare>,
) {
    let mut buf = Vec::new();
    loop {
        if stop.get().is_some() {
            break;
        }
        while let Ok(spare) = spares.try_recv() {
            match (spare, stage.as_mut()) {
                (Spare::Batch(b), Some(s)) => s.recycle(b),
                (Spare::Chunk(c), None) if buf.capacity() < CHUNK => buf = c,
                _ => {}
            }
        }
        buf.resize(CHUNK, 0);
        let msg = match source.read(&mut buf) {
            Ok(0) => match stage.as_mut() {
                Some(s) => Msg::Last(s.end()),
                None => Msg::End,
            },
            Ok(n) => match stage.as_mut() {
                Some(s) => Msg::Batch(s.chunk(buf.get(..n).unwrap_or(&[]))),
                None => {
                    buf.truncate(n);
                    Msg::Data(std::mem::take(&mut buf))
                }
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Msg::Error(e),
        };
        let last = !matches!(msg, Msg::Data(_) | Msg::Batch(_));
        if to.send(msg).is_err() || last {
            break;
        }
    }
}

/// Which of SIGINT and SIGTERM arrived: flags that the signal handler
/// itself sets, so they are set as soon as the signal is delivered.
#[derive(Clone, Default)]
struct Caught {
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
    /// A second signal came: stop now (kill running attempts).
    again: Arc<AtomicBool>,
    /// Set with `again`: a third signal takes the default action.
    armed: Arc<AtomicBool>,
    /// SIGUSR1 came: report acceptance.
    report: Arc<AtomicBool>,
}

impl Caught {
    fn get(&self) -> Option<i32> {
        #[cfg(unix)]
        {
            use signal_hook::consts::{SIGINT, SIGTERM};
            if self.int.load(Ordering::SeqCst) {
                return Some(SIGINT);
            }
            if self.term.load(Ordering::SeqCst) {
                return Some(SIGTERM);
            }
        }
        None
    }
}

/// SIGINT and SIGTERM: the first sets its flag in `caught` and wakes the
/// loop (a graceful stop); a second one sets `again` (stop now: running
/// attempts are killed); a third takes the default action (the process
/// ends at once, as if there were no handler).
#[cfg(unix)]
fn watch_signals(tx: &SyncSender<Msg>, caught: &Caught) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;
    use signal_hook::iterator::Signals;
    use std::sync::OnceLock;
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.set(()).is_err() {
        return;
    }
    for (s, own) in [(SIGINT, &caught.int), (SIGTERM, &caught.term)] {
        // In order: the default action once armed, then the flag.
        if flag::register_conditional_default(s, Arc::clone(&caught.armed)).is_err()
            || flag::register(s, Arc::clone(own)).is_err()
        {
            return;
        }
    }
    use signal_hook::consts::SIGUSR1;
    if flag::register(SIGUSR1, Arc::clone(&caught.report)).is_err() {
        return;
    }
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGUSR1]) else {
        return;
    };
    let tx = tx.clone();
    let again = Arc::clone(&caught.again);
    let armed = Arc::clone(&caught.armed);
    std::thread::spawn(move || {
        let mut n = 0u32;
        for s in signals.forever() {
            if s == SIGUSR1 {
                let _ = tx.try_send(Msg::Wake);
                continue;
            }
            n += 1;
            if n >= 2 {
                again.store(true, Ordering::SeqCst);
                armed.store(true, Ordering::SeqCst);
            }
            // The loop is either taking chunks (and sees the flags) or
            // waiting on an empty channel (and this wakes it).
            let _ = tx.try_send(Msg::Wake);
        }
    });
}

#[cfg(not(unix))]
fn watch_signals(_tx: &SyncSender<Msg>, _caught: &Caught) {}

/// A signal's name for messages.
pub fn signal_name(s: i32) -> String {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        if s == SIGINT {
            return "SIGINT".into();
        }
        if s == SIGTERM {
            return "SIGTERM".into();
        }
    }
    format!("signal {s}")
}
