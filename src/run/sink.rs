//! The outputs of `cep run`: complex events, dead letters, the step log
//! and the process history log, each a buffered file or standard output.

use super::SHOWN;
use crate::{err, show_path};
use cep_ir::Program;
use cep_runtime::history::{self, Lamport, StateChange};
use cep_runtime::ingest::{self, Reason, Rejection};
use cep_runtime::ndjson::{self, Encoder};
use cep_runtime::{Engine, Outcome, Output, Record};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

fn is_stdio(p: &Path) -> bool {
    p == Path::new("-")
}

pub(super) fn why(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// An output with its name for messages.
pub(super) struct Sink {
    name: String,
    w: BufWriter<Box<dyn Write>>,
    stdout: bool,
}

/// Why processing stopped early.
pub(super) enum Stop {
    /// Standard output was closed (`cep run ... | head`): stop quietly.
    Closed,
    /// An I/O error, as a message.
    Io(String),
}

impl Sink {
    pub(super) fn open(path: &Path) -> Result<Sink, String> {
        if is_stdio(path) {
            return Ok(Sink {
                name: "standard output".into(),
                w: BufWriter::with_capacity(1 << 16, Box::new(io::stdout().lock())),
                stdout: true,
            });
        }
        let f = File::create(path)
            .map_err(|e| format!("cannot write `{}`: {}", show_path(path), why(&e)))?;
        Ok(Sink {
            name: format!("`{}`", show_path(path)),
            w: BufWriter::with_capacity(1 << 16, Box::new(f)),
            stdout: false,
        })
    }

    /// A file opened to append to (created if missing).
    pub(super) fn append(path: &Path) -> Result<Sink, String> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("cannot write `{}`: {}", show_path(path), why(&e)))?;
        Ok(Sink {
            name: format!("`{}`", show_path(path)),
            w: BufWriter::with_capacity(1 << 16, Box::new(f)),
            stdout: false,
        })
    }

    fn fail(&self, e: &io::Error) -> Stop {
        if self.stdout && e.kind() == io::ErrorKind::BrokenPipe {
            Stop::Closed
        } else {
            Stop::Io(format!("cannot write {}: {}", self.name, why(e)))
        }
    }

    pub(super) fn write(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.w.write_all(bytes).map_err(|e| self.fail(&e))
    }

    pub(super) fn flush(&mut self) -> Result<(), Stop> {
        self.w.flush().map_err(|e| self.fail(&e))
    }
}

/// The process history log (`--history FILE`): the seed's state changes
/// of every execution and refusal, one JSON object a line
/// ([`cep_runtime::history::StateChange`]), stamped by this instance's
/// Lamport clock. An existing log is continued: appended to, with the
/// clock going on after the largest timestamp it holds.
pub(super) struct HistoryLog {
    sink: Sink,
    clock: Lamport,
    /// Reused: the records of one change, and their lines.
    buf: Vec<StateChange>,
    line: Vec<u8>,
}

impl HistoryLog {
    /// Opens (or continues) the log at `path` for instance `id`; `Err`
    /// when it cannot be written, or holds a line that is not a history
    /// record (then it is not a history log, and is left alone).
    pub(super) fn open(path: &Path, id: &str) -> Result<HistoryLog, String> {
        if is_stdio(path) {
            return Ok(HistoryLog {
                sink: Sink::open(path)?,
                clock: Lamport::new(id, 0),
                buf: Vec::new(),
                line: Vec::new(),
            });
        }
        let after = match std::fs::read(path) {
            Ok(text) => history::parse_log(&text)
                .map_err(|(line, why)| {
                    format!(
                        "`--history {}` line {line}: {why}; give a new file or an earlier history log",
                        show_path(path)
                    )
                })?
                .iter()
                .map(|r| r.stamp.0)
                .max()
                .unwrap_or(0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(format!("cannot read `{}`: {}", show_path(path), why(&e))),
        };
        Ok(HistoryLog {
            sink: Sink::append(path)?,
            clock: Lamport::new(id, after),
            buf: Vec::new(),
            line: Vec::new(),
        })
    }

    fn write(
        &mut self,
        engine: &Engine,
        c: &cep_runtime::process::ProcessChange,
    ) -> Result<(), Stop> {
        self.buf.clear();
        history::state_changes(engine.processes(), c, &mut self.clock, &mut self.buf);
        self.line.clear();
        for r in &self.buf {
            if serde_json::to_writer(&mut self.line, r).is_ok() {
                self.line.push(b'\n');
            }
        }
        self.sink.write(&self.line)
    }
}

/// Everything the loop writes to.
pub(super) struct Outputs {
    pub(super) out: Sink,
    pub(super) dead: Option<Sink>,
    pub(super) steps: Option<StepLog>,
    pub(super) history: Option<HistoryLog>,
    pub(super) encoder: Encoder,
    pub(super) line: Vec<u8>,
    pub(super) dead_letters: u64,
    /// Activity events refused by a process (among the dead letters).
    pub(super) refused: u64,
    /// Process instances reported as not accepting.
    pub(super) not_accepting: u64,
    /// Per pattern (IR order): its complex events are written (not
    /// `private`, and chosen by `--patterns` when given).
    pub(super) written: Vec<bool>,
    /// Complex events not written (private or not chosen).
    pub(super) unwritten: u64,
}

impl Outputs {
    /// Whether the complex events of pattern `p` are written.
    pub(super) fn writes(&self, p: u32) -> bool {
        self.written.get(p as usize).copied().unwrap_or(true)
    }

    pub(super) fn flush(&mut self) -> Result<(), Stop> {
        self.out.flush()?;
        if let Some(d) = self.dead.as_mut() {
            d.flush()?;
        }
        if let Some(h) = self.history.as_mut() {
            h.sink.flush()?;
        }
        self.steps.as_mut().map_or(Ok(()), |s| s.sink.flush())
    }

    /// Flushes what it can after an error, ignoring further errors.
    pub(super) fn flush_quietly(&mut self) {
        let _ = self.out.w.flush();
        if let Some(d) = self.dead.as_mut() {
            let _ = d.w.flush();
        }
        if let Some(s) = self.steps.as_mut() {
            let _ = s.sink.w.flush();
        }
        if let Some(h) = self.history.as_mut() {
            let _ = h.sink.w.flush();
        }
    }

    pub(super) fn dead_letter(
        &mut self,
        line: u64,
        r: &Rejection,
        text: &[u8],
    ) -> Result<(), Stop> {
        self.dead_letters += 1;
        match &mut self.dead {
            Some(d) => {
                self.line.clear();
                ndjson::dead_letter(&mut self.line, line, r, text);
                d.write(&self.line)
            }
            None => {
                if self.dead_letters <= SHOWN {
                    err(&format!("cep run: line {line}: {r}\n"));
                }
                Ok(())
            }
        }
    }

    /// Writes one output of the engine. `current` is the line just read
    /// (a late event is always the one just pushed).
    pub(super) fn engine(
        &mut self,
        engine: &Engine,
        o: &Output,
        current: (u64, &[u8]),
        latest: Option<i64>,
    ) -> Result<(), Stop> {
        match o {
            Output::Complex(c) if !self.writes(c.pattern) => {
                self.unwritten += 1;
                Ok(())
            }
            Output::Complex(c) => {
                self.line.clear();
                self.encoder.complex(c, &mut self.line);
                self.out.write(&self.line)
            }
            Output::Late(e) => {
                let line = e.source;
                let text = if line == current.0 { current.1 } else { &[] };
                let r = late(e.time, latest, engine.config().max_delay_ms);
                self.dead_letter(line, &r, text)
            }
            Output::Refused { event, reason } => {
                self.refused += 1;
                if self.dead.is_none() && self.dead_letters >= SHOWN {
                    // Only counted: no need to word it.
                    self.dead_letters += 1;
                    return Ok(());
                }
                let (line, text): (u64, &[u8]) = match event.run {
                    Some(_) => (0, &[]),
                    None if event.source == current.0 => (event.source, current.1),
                    None => (event.source, &[]),
                };
                let reason = engine.processes().describe(reason, event);
                let detail = match event.run {
                    Some(run) => {
                        let pattern = engine
                            .program()
                            .patterns
                            .iter()
                            .position(|p| {
                                p.output == event.ty
                                    || p.on_timeout.as_ref().is_some_and(|t| t.output == event.ty)
                            })
                            .and_then(|p| u32::try_from(p).ok());
                        let name = pattern.map_or(String::new(), |p| engine.run_name(p, run));
                        format!("{reason} (the complex event of run `{name}`)")
                    }
                    None => reason.clone(),
                };
                self.dead_letter(line, &Rejection::new(Reason::Refused, detail), text)
            }
            Output::NotAccepting(n) => {
                self.not_accepting += 1;
                self.line.clear();
                let mut m = String::from("{");
                m.push_str(&format!(
                    "\"type\":{},{}:{},\"pending\":{}",
                    serde_json::Value::from(format!("{}.NotAccepting", n.process)),
                    serde_json::Value::from(n.key_field.as_str()),
                    cep_runtime::steps::json(&n.key),
                    serde_json::Value::from(n.pending.clone())
                ));
                m.push_str("}\n");
                self.line.extend_from_slice(m.as_bytes());
                self.out.write(&self.line)
            }
            Output::Process(c) => match self.history.as_mut() {
                Some(h) => h.write(engine, c),
                None => Ok(()),
            },
            Output::Run(_) | Output::Admitted(_) => Ok(()),
        }
    }
}

/// `--step-log`: one NDJSON line per status change of a step run:
/// `{"step","sequence","status","attempt","time"}` (time in wall-clock
/// epoch milliseconds), where status is `ready`, `active` (an attempt
/// starts; a retry is `active` again with the next attempt), `retry` (an
/// attempt failed and the next starts at `retry_at`), `success` or
/// `failure`; a failed attempt adds `exit`, `http`, `timed_out` and
/// `detail`.
pub(super) struct StepLog {
    pub(super) sink: Sink,
    /// Step name, sequence and latest attempt of each step run.
    runs: HashMap<u64, (String, String, u32)>,
    /// How the last attempt of each run ended, when it failed.
    failed: HashMap<u64, serde_json::Value>,
    line: Vec<u8>,
}

impl StepLog {
    pub(super) fn new(sink: Sink) -> StepLog {
        StepLog {
            sink,
            runs: HashMap::new(),
            failed: HashMap::new(),
            line: Vec::new(),
        }
    }

    pub(super) fn record(&mut self, program: &Program, r: &Record) -> Result<(), Stop> {
        let (run, status, attempt, time, extra) = match r {
            Record::Created {
                run,
                step,
                sequence,
                time,
                ..
            } => {
                let name = program
                    .steps
                    .get(*step as usize)
                    .map_or("?", |s| s.name.as_str());
                self.runs
                    .insert(*run, (name.to_string(), sequence.to_string(), 0));
                (*run, "ready", 0, *time, None)
            }
            Record::Requeued {
                run,
                step,
                sequence,
                time,
                ..
            }
            | Record::Skipped {
                run,
                step,
                sequence,
                time,
            } => {
                let name = program
                    .steps
                    .get(*step as usize)
                    .map_or("?", |s| s.name.as_str());
                self.runs
                    .insert(*run, (name.to_string(), sequence.to_string(), 0));
                let status = if matches!(r, Record::Skipped { .. }) {
                    "skipped"
                } else {
                    "ready"
                };
                (*run, status, 0, *time, None)
            }
            Record::Attempt { run, attempt, time } => {
                if let Some(r) = self.runs.get_mut(run) {
                    r.2 = *attempt;
                }
                (*run, "active", *attempt, *time, None)
            }
            Record::AttemptEnded {
                run,
                attempt,
                time,
                outcome: Outcome::Failure { exit, http, detail },
                timed_out,
                retry_at,
            } => {
                let f = serde_json::json!({
                    "exit": exit, "http": http, "timed_out": timed_out, "detail": detail,
                });
                self.failed.insert(*run, f.clone());
                match retry_at {
                    Some(at) => {
                        let mut f = f;
                        if let Some(m) = f.as_object_mut() {
                            m.insert("retry_at".into(), (*at).into());
                        }
                        (*run, "retry", *attempt, *time, Some(f))
                    }
                    None => return Ok(()),
                }
            }
            Record::Ended {
                run, status, time, ..
            } => {
                let extra = if *status == cep_ir::Status::Failure {
                    self.failed.remove(run)
                } else {
                    None
                };
                let attempt = self.runs.get(run).map_or(0, |r| r.2);
                (*run, status.name(), attempt, *time, extra)
            }
            Record::AttemptEnded { .. } | Record::Granted { .. } | Record::Seen { .. } => {
                return Ok(())
            }
        };
        let Some((step, sequence, _)) = self.runs.get(&run) else {
            return Ok(());
        };
        // Fields in a fixed order, for people reading the log.
        let mut m = serde_json::Map::new();
        let q = |v: &str| serde_json::Value::from(v).to_string();
        self.line.clear();
        self.line.extend_from_slice(
            format!(
                "{{\"step\":{},\"sequence\":{},\"status\":{}",
                q(step),
                q(sequence),
                q(status)
            )
            .as_bytes(),
        );
        if attempt > 0 {
            self.line
                .extend_from_slice(format!(",\"attempt\":{attempt}").as_bytes());
        }
        self.line
            .extend_from_slice(format!(",\"time\":{time}").as_bytes());
        if let Some(serde_json::Value::Object(x)) = extra {
            m.extend(x);
        }
        for k in ["exit", "http", "timed_out", "detail", "retry_at"] {
            if let Some(v) = m.get(k) {
                self.line
                    .extend_from_slice(format!(",\"{k}\":{v}").as_bytes());
            }
        }
        self.line.extend_from_slice(b"}\n");
        if matches!(status, "success" | "failure" | "skipped") {
            self.runs.remove(&run);
        }
        self.sink.write(&self.line)
    }
}

/// Why an event is late: the engine had already processed (or, with
/// `--max-delay`, let the watermark pass) a time after the event's.
fn late(time: i64, latest: Option<i64>, delay: u64) -> Rejection {
    let t = ingest::format_rfc3339(time);
    let m = match (latest, delay) {
        (Some(l), 0) => format!(
            "its time {t} is before the latest event time {}, and events must come in time order \
             (`--max-delay 2s`, say, allows that much disorder)",
            ingest::format_rfc3339(l)
        ),
        (Some(l), d) => format!(
            "its time {t} is more than the allowed delay of {d} ms (`--max-delay`) behind the \
             latest event time {}",
            ingest::format_rfc3339(l)
        ),
        (None, _) => format!(
            "its time {t} is before the time already reached (`--max-delay` allows more disorder)"
        ),
    };
    Rejection::new(Reason::Late, m)
}
