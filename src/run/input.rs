//! The input of `cep run`, read on a thread of its own so that the loop
//! can tell when the input is idle (to flush live output) and can stop at
//! a signal even while a read would block.
//!
//! A reader thread reads the source in chunks of up to [`CHUNK`] bytes and
//! sends them over a bounded channel; [`Input`] hands them to the loop as
//! a [`BufRead`]. On Unix, SIGINT and SIGTERM (signal-hook) record the
//! signal and wake the loop: the input then ends where the last chunk
//! ended, and [`Input::signal`] says which signal ended it. A second
//! signal of either kind terminates the process at once, as without the
//! handler. Only the first `cep run` of a process installs the handlers.

use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;

/// The largest chunk the reader thread reads at once, in bytes.
pub const CHUNK: usize = 256 * 1024;
/// Chunks the reader may be ahead of the loop.
const AHEAD: usize = 8;

enum Msg {
    Data(Vec<u8>),
    End,
    Error(io::Error),
    /// A signal arrived (its number is in the shared cell).
    Wake,
}

/// The input as a [`BufRead`] over the chunks the reader thread sends.
pub struct Input {
    rx: Receiver<Msg>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
    error: Option<io::Error>,
    signal: Arc<AtomicI32>,
    stopped: Option<i32>,
    /// The input was stopped by a signal in the middle of a line.
    torn: bool,
}

impl Input {
    /// Starts reading `source` on a thread of its own.
    pub fn start(mut source: Box<dyn Read + Send>) -> Input {
        let (tx, rx) = sync_channel(AHEAD);
        let signal = Arc::new(AtomicI32::new(0));
        watch_signals(&tx, &signal);
        std::thread::spawn(move || loop {
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
            signal,
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

    fn check_signal(&mut self) {
        let s = self.signal.load(Ordering::SeqCst);
        if s != 0 && !self.done {
            self.done = true;
            self.stopped = Some(s);
            self.torn = self.chunk.last().is_some_and(|&b| b != b'\n');
        }
    }

    fn take(&mut self, m: Msg) {
        self.check_signal();
        if self.done {
            return;
        }
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
            match self.rx.recv() {
                Ok(m) => self.take(m),
                Err(_) => self.done = true,
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

/// SIGINT and SIGTERM: the first records itself in `cell` and wakes the
/// loop; a second one takes the default action (the process ends).
#[cfg(unix)]
fn watch_signals(tx: &SyncSender<Msg>, cell: &Arc<AtomicI32>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;
    use std::sync::atomic::AtomicBool;
    use std::sync::OnceLock;
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.set(()).is_err() {
        return;
    }
    let seen = Arc::new(AtomicBool::new(false));
    for s in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag as the earlier signal left it.
        if signal_hook::flag::register_conditional_default(s, Arc::clone(&seen)).is_err()
            || signal_hook::flag::register(s, Arc::clone(&seen)).is_err()
        {
            return;
        }
    }
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let tx = tx.clone();
    let cell = Arc::clone(cell);
    std::thread::spawn(move || {
        for s in signals.forever() {
            let _ = cell.compare_exchange(0, s, Ordering::SeqCst, Ordering::SeqCst);
            // The loop is either reading chunks (and sees the cell) or
            // waiting on an empty channel (and this wakes it).
            let _ = tx.try_send(Msg::Wake);
        }
    });
}

#[cfg(not(unix))]
fn watch_signals(_tx: &SyncSender<Msg>, _cell: &Arc<AtomicI32>) {}

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
