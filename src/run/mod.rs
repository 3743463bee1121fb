//! `cep run`: rules over an NDJSON event file, complex events out.
//!
//! The rules are compiled at start-up (or loaded from a compiled IR). Input
//! lines are decoded by `cep_runtime::ingest`, fed to the engine in input
//! order, and the complex events it produces are written by
//! `cep_runtime::ndjson` in engine order. A line that is not an event (or
//! an event that comes too late) is a dead letter: written to
//! `--dead-letter` when given, otherwise counted and the first few shown
//! on stderr; processing goes on. At the end of the input all time passes
//! (`Engine::finish`), so pending absences complete and open runs expire.
//! A summary line goes to stderr. Nothing written to the outputs depends
//! on the wall clock: the same input gives the same bytes.
//!
//! Before anything is opened, an output that is an input is refused
//! (`same_file`). The input is read on a thread (`input`), so the outputs
//! are flushed whenever the input is idle, and SIGINT/SIGTERM stop the
//! run cleanly: held events are processed, time passes no further, the
//! outputs are flushed and the exit code is 128 plus the signal.

mod input;

use crate::same_file::{self, Named};
use crate::{err, fail, load_program, show_path, warn, EXIT_OK, EXIT_USAGE};
use cep_runtime::ingest::{self, Decoder, Line, Reason, Rejection};
use cep_runtime::ndjson::{self, Encoder};
use cep_runtime::{Config, Engine, Output};
use input::Input;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Dead letters shown on stderr when there is no `--dead-letter` file.
const SHOWN: u64 = 10;

#[derive(Debug, Clone)]
pub struct Options {
    pub rules: Vec<PathBuf>,
    pub input: PathBuf,
    pub output: PathBuf,
    pub dead_letter: Option<PathBuf>,
    pub max_delay_ms: u64,
    pub max_runs: usize,
    pub instance: String,
    pub max_line_bytes: usize,
}

/// `--max-delay`: a duration with its unit (`2s`, `500ms`), or `0`.
pub fn parse_delay(s: &str) -> Result<u64, String> {
    if s == "0" {
        return Ok(0);
    }
    ingest::parse_duration(s)
        .and_then(|d| u64::try_from(d).map_err(|_| "a delay cannot be negative".to_string()))
}

fn is_stdio(p: &Path) -> bool {
    p == Path::new("-")
}

fn why(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// An output with its name for messages.
struct Sink {
    name: String,
    w: BufWriter<Box<dyn Write>>,
    stdout: bool,
}

/// Why processing stopped early.
enum Stop {
    /// Standard output was closed (`cep run ... | head`): stop quietly.
    Closed,
    /// An I/O error, as a message.
    Io(String),
}

impl Sink {
    fn open(path: &Path) -> Result<Sink, String> {
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

    fn fail(&self, e: &io::Error) -> Stop {
        if self.stdout && e.kind() == io::ErrorKind::BrokenPipe {
            Stop::Closed
        } else {
            Stop::Io(format!("cannot write {}: {}", self.name, why(e)))
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        self.w.write_all(bytes).map_err(|e| self.fail(&e))
    }

    fn flush(&mut self) -> Result<(), Stop> {
        self.w.flush().map_err(|e| self.fail(&e))
    }
}

/// Everything the loop writes to.
struct Outputs {
    out: Sink,
    dead: Option<Sink>,
    encoder: Encoder,
    line: Vec<u8>,
    dead_letters: u64,
}

impl Outputs {
    fn flush(&mut self) -> Result<(), Stop> {
        self.out.flush()?;
        self.dead.as_mut().map_or(Ok(()), Sink::flush)
    }

    fn dead_letter(&mut self, line: u64, r: &Rejection, text: &[u8]) -> Result<(), Stop> {
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

    /// Writes what the engine produced. `current` is the line just pushed
    /// (a late event is always the one just pushed).
    fn emit(
        &mut self,
        engine: &Engine,
        outs: &mut Vec<Output>,
        current: (u64, &[u8]),
        latest: Option<i64>,
    ) -> Result<(), Stop> {
        for o in outs.drain(..) {
            match o {
                Output::Complex(c) => {
                    self.line.clear();
                    self.encoder
                        .complex(&c, |p, r| engine.run_name(p, r), &mut self.line);
                    self.out.write(&self.line)?;
                }
                Output::Late(e) => {
                    let line = e.source;
                    let text = if line == current.0 { current.1 } else { &[] };
                    let r = late(e.time, latest, engine.config().max_delay_ms);
                    self.dead_letter(line, &r, text)?;
                }
                Output::Run(_) => {}
            }
        }
        Ok(())
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

/// Runs the command and gives the exit code.
pub fn run(o: &Options) -> u8 {
    if let Err(m) = refuse_overwrite(o) {
        fail(&m);
        return EXIT_USAGE;
    }
    let program = match load_program(&o.rules) {
        Ok(p) => Arc::new(p),
        Err(code) => return code,
    };
    not_run_yet(&program);
    let source: Box<dyn Read + Send> = if is_stdio(&o.input) {
        Box::new(io::stdin())
    } else {
        match File::open(&o.input) {
            Ok(f) => Box::new(f),
            Err(e) => {
                fail(&format!(
                    "cannot read `{}`: {}",
                    show_path(&o.input),
                    why(&e)
                ));
                return EXIT_USAGE;
            }
        }
    };
    let out = match Sink::open(&o.output) {
        Ok(s) => s,
        Err(m) => {
            fail(&m);
            return EXIT_USAGE;
        }
    };
    let dead = match o.dead_letter.as_deref().map(Sink::open).transpose() {
        Ok(d) => d,
        Err(m) => {
            fail(&m);
            return EXIT_USAGE;
        }
    };
    let config = Config {
        instance: o.instance.clone(),
        max_delay_ms: o.max_delay_ms,
        max_runs: o.max_runs,
        track_runs: false,
    };
    let mut outputs = Outputs {
        out,
        dead,
        encoder: Encoder::new(&program),
        line: Vec::with_capacity(1024),
        dead_letters: 0,
    };
    let mut engine = Engine::new(program.clone(), config);
    let input_name = if is_stdio(&o.input) {
        "standard input".to_string()
    } else {
        format!("`{}`", show_path(&o.input))
    };
    let start = Instant::now();
    let mut input = Input::start(source);
    let result = process(
        &mut input,
        &input_name,
        o,
        &program,
        &mut engine,
        &mut outputs,
    );
    let flushed = result.and_then(|()| outputs.flush());
    match flushed {
        Ok(()) => {}
        Err(Stop::Closed) => return EXIT_OK,
        Err(Stop::Io(m)) => {
            // Keep what was written so far.
            let _ = outputs.out.w.flush();
            if let Some(d) = outputs.dead.as_mut() {
                let _ = d.w.flush();
            }
            fail(&m);
            return EXIT_USAGE;
        }
    }
    if let Some(sig) = input.signal() {
        err(&format!(
            "cep run: stopped by {}: the input did not end, so open windows and pending absences \
             were left as they were; everything read before the signal was processed and written\n",
            input::signal_name(sig)
        ));
    }
    let secs = start.elapsed().as_secs_f64();
    let stats = engine.stats();
    if outputs.dead.is_none() && outputs.dead_letters > SHOWN {
        err(&format!(
            "cep run: ... and {} more dead letters (keep them all with --dead-letter FILE)\n",
            outputs.dead_letters - SHOWN
        ));
    }
    let rate = if secs > 0.0 {
        (stats.events_in as f64 / secs).round()
    } else {
        0.0
    };
    err(&format!(
        "cep run: {} events in, {} complex events out, {} dead letters, {secs:.3} s, {rate:.0} events/s\n",
        stats.events_in, stats.complex_out, outputs.dead_letters
    ));
    for (p, shed) in program.patterns.iter().zip(engine.shed_per_pattern()) {
        if shed == 0 {
            continue;
        }
        let hint = if p.window_ms.is_some() {
            "its window keeps more runs alive than that: raise --max-runs or shorten the `within`"
        } else {
            "it has no `within`, so nothing else bounds its runs: add one"
        };
        err(&format!(
            "cep run: pattern `{}` shed {shed} runs to stay under --max-runs {} (the oldest first); {hint}\n",
            p.name, o.max_runs
        ));
    }
    match input.signal() {
        // The shell's convention: 128 plus the signal's number.
        Some(sig) => u8::try_from(128 + sig).unwrap_or(EXIT_USAGE),
        None => EXIT_OK,
    }
}

/// An output that is an input (the rule files, `--input`) or the other
/// output would be truncated before it is read: refuse before anything is
/// opened.
fn refuse_overwrite(o: &Options) -> Result<(), String> {
    let mut inputs: Vec<Named<'_>> = o
        .rules
        .iter()
        .map(|r| Named::new(r, format!("the rule file `{}`", show_path(r))))
        .collect();
    inputs.push(Named::new(
        &o.input,
        if is_stdio(&o.input) {
            "standard input (the input)".to_string()
        } else {
            format!("the input `{}`", show_path(&o.input))
        },
    ));
    let mut outputs = vec![Named::new(
        &o.output,
        if is_stdio(&o.output) {
            "standard output (the output)".to_string()
        } else {
            format!("`--output {}`", show_path(&o.output))
        },
    )];
    if let Some(d) = &o.dead_letter {
        outputs.push(Named::new(d, format!("`--dead-letter {}`", show_path(d))));
    }
    same_file::check(&inputs, &outputs)
}

/// Steps, resources and processes compile, but `cep run` does not run
/// them yet: say so rather than ignore them silently.
fn not_run_yet(program: &cep_ir::Program) {
    let mut parts = Vec::new();
    let mut count = |n: usize, one: &str, many: &str| {
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    };
    count(program.steps.len(), "step", "steps");
    count(program.resources.len(), "resource", "resources");
    count(program.processes.len(), "process", "processes");
    if !parts.is_empty() {
        warn(&format!(
            "cep run does not run steps, resources or processes yet: the rules' {} \
             are checked and compiled, and ignored here; only patterns run",
            match parts.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
                _ => parts.join(""),
            }
        ));
    }
}

/// The loop over the input lines. Output is flushed whenever the input is
/// idle (everything read so far was processed and nothing more has come),
/// so a live stream's complex events come out as they happen. At the end
/// of the input all time passes; when a signal stopped the input instead,
/// only the held events are processed and time stays where it is.
fn process(
    input: &mut Input,
    input_name: &str,
    o: &Options,
    program: &cep_ir::Program,
    engine: &mut Engine,
    outputs: &mut Outputs,
) -> Result<(), Stop> {
    let mut decoder = Decoder::new(program);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut outs: Vec<Output> = Vec::new();
    let mut line_no: u64 = 0;
    loop {
        if input.idle() {
            outputs.flush()?;
        }
        let kind = ingest::read_line(input, &mut buf, o.max_line_bytes)
            .map_err(|e| Stop::Io(format!("cannot read {input_name}: {}", why(&e))))?;
        if kind == Line::End || input.torn() {
            // A line cut short by a signal was not read whole: it is not used.
            break;
        }
        line_no += 1;
        if kind == Line::Oversized {
            outputs.dead_letter(line_no, &ingest::oversized(o.max_line_bytes), &buf)?;
            continue;
        }
        let text: &[u8] = match buf.strip_prefix(b"\xEF\xBB\xBF") {
            Some(rest) if line_no == 1 => rest,
            _ => &buf,
        };
        match decoder.decode(text, line_no) {
            Ok(None) => {}
            Ok(Some(event)) => {
                engine.push(event, &mut outs);
                if !outs.is_empty() {
                    outputs.emit(engine, &mut outs, (line_no, text), decoder.latest())?;
                }
            }
            Err(r) => outputs.dead_letter(line_no, &r, text)?,
        }
    }
    if input.signal().is_some() {
        engine.release_held(&mut outs);
    } else {
        engine.finish(&mut outs);
    }
    outputs.emit(engine, &mut outs, (0, &[]), decoder.latest())
}
