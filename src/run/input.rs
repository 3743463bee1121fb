//! The input of `cep run`, read on a thread of its own so that the loop
//! can tell when the input is idle (to flush live output) and can stop at
//! a signal even while a read would block.
//!
//! A reader thread reads the source in chunks of up to [`CHUNK`] bytes and
//! sends them over a bounded channel; [`Input`] hands them to the loop as
//! a [`BufRead`]. On Unix, SIGINT and SIGTERM (signal-hook) record the
//! signal and wake the loop: the reader stops reading, the loop takes the
//! chunks already read (they have left the source, so they are not
//! dropped), and the input then ends where the last of them ends;
//! [`Input::signal`] says which signal ended it. A second signal of either
//! kind terminates the process at once, as without the handler. Only the
//! first `cep run` of a process installs the handlers.

use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;

/// The largest chunk the reader thread reads at once, in bytes.
pub const CHUNK: usize = 256 * 1024;
/// Chunks the reader may be ahead of the loop.
const AHEAD: usize = 3;

enum Msg {
    Data(Vec<u8>),
    End,
    Error(io::Error),
    /// A signal arrived (the handler has set its flag).
    Wake,
}

/// The input as a [`BufRead`] over the chunks the reader thread sends.
pub struct Input {
    rx: Receiver<Msg>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
    error: Option<io::Error>,
    caught: Caught,
    /// The signal seen: take what was read, then end.
    stopped: Option<i32>,
    /// The input was stopped by a signal in the middle of a line.
    torn: bool,
}

impl Input {
    /// Starts reading `source` on a thread of its own.
    pub fn start(mut source: Box<dyn Read + Send>) -> Input {
        let (tx, rx) = sync_channel(AHEAD);
        let caught = Caught::default();
        watch_signals(&tx, &caught);
        let stop = caught.clone();
        std::thread::spawn(move || loop {
            if stop.get().is_some() {
                break;
            }
            let mut buf = vec![0; CHUNK];
            let msg = match source.read(&mut buf) {
                Ok(0) => Msg::End,
                Ok(n) => {
                    buf.truncate(n);
                    Msg::Data(buf)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Msg::Error(e),
            };
            let last = !matches!(msg, Msg::Data(_));
            if tx.send(msg).is_err() || last {
                break;
            }
        });
        Input {
            rx,
            chunk: Vec::new(),
            pos: 0,
            done: false,
            error: None,
            caught,
            stopped: None,
            torn: false,
        }
    }

    /// The signal that stopped the input, if one did.
    pub fn signal(&self) -> Option<i32> {
        self.stopped
    }

    /// The signal stopped the input inside a line: the line just read is
    /// not whole and must not be used.
    pub fn torn(&self) -> bool {
        self.torn
    }

    /// Nothing is left to read without waiting: the chunk in hand is used
    /// up and the reader has sent nothing more yet. (A chunk that has come
    /// is taken in hand.)
    pub fn idle(&mut self) -> bool {
        if self.pos < self.chunk.len() || self.done {
            return false;
        }
        match self.rx.try_recv() {
            Ok(m) => {
                self.take(m);
                false
            }
            Err(TryRecvError::Empty) => true,
            Err(TryRecvError::Disconnected) => false,
        }
    }

    /// The next message: waiting for one, or after a signal only those
    /// already sent (`None` then ends the input).
    fn next_msg(&mut self) -> Option<Msg> {
        if self.stopped.is_none() {
            self.stopped = self.caught.get();
        }
        if self.stopped.is_some() {
            let m = self.rx.try_recv().ok();
            if m.is_none() {
                self.torn = self.chunk.last().is_some_and(|&b| b != b'\n');
            }
            m
        } else {
            self.rx.recv().ok()
        }
    }

    fn take(&mut self, m: Msg) {
        match m {
            Msg::Data(d) => {
                self.chunk = d;
                self.pos = 0;
            }
            Msg::End => self.done = true,
            Msg::Error(e) => {
                self.done = true;
                self.error = Some(e);
            }
            Msg::Wake => {}
        }
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Input {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.chunk.len() && !self.done {
            match self.next_msg() {
                Some(m) => self.take(m),
                None => self.done = true,
            }
            if self.done && self.stopped.is_none() {
                // The end of the input and a signal can come together
                // (Ctrl-C on `producer | cep run`): the signal counts, so
                // that time does not pass as if the input had ended.
                self.stopped = self.caught.get();
            }
        }
        if self.pos >= self.chunk.len() {
            if let Some(e) = self.error.take() {
                return Err(e);
            }
        }
        Ok(self.chunk.get(self.pos..).unwrap_or(&[]))
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.chunk.len());
    }
}

/// Which of SIGINT and SIGTERM arrived: flags that the signal handler
/// itself sets, so they are set as soon as the signal is delivered.
#[derive(Clone, Default)]
struct Caught {
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
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
/// loop; a second one takes the default action (the process ends).
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
    let seen = Arc::new(AtomicBool::new(false));
    for (s, own) in [(SIGINT, &caught.int), (SIGTERM, &caught.term)] {
        // In order: the default action if a signal came before, then the
        // flags.
        if flag::register_conditional_default(s, Arc::clone(&seen)).is_err()
            || flag::register(s, Arc::clone(own)).is_err()
            || flag::register(s, Arc::clone(&seen)).is_err()
        {
            return;
        }
    }
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let tx = tx.clone();
    std::thread::spawn(move || {
        for _ in signals.forever() {
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
