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

use crate::{err, fail, load_program, show_path, EXIT_OK, EXIT_USAGE};
use cep_runtime::ingest::{self, Decoder, Line, Reason, Rejection};
use cep_runtime::ndjson::{self, Encoder};
use cep_runtime::{Config, Engine, Output};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
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

fn late(time: i64, latest: Option<i64>, delay: u64) -> Rejection {
    let mut m = format!(
        "its time {} is before what was already processed",
        ingest::format_rfc3339(time)
    );
    if let Some(l) = latest {
        m.push_str(&format!(
            ": more than the allowed delay of {delay} ms behind the latest event time {}",
            ingest::format_rfc3339(l)
        ));
    }
    m.push_str(" (`--max-delay` allows more disorder)");
    Rejection::new(Reason::Late, m)
}

/// Runs the command and gives the exit code.
pub fn run(o: &Options) -> u8 {
    let program = match load_program(&o.rules) {
        Ok(p) => Arc::new(p),
        Err(code) => return code,
    };
    let input: Box<dyn BufRead> = if is_stdio(&o.input) {
        Box::new(BufReader::with_capacity(1 << 20, io::stdin().lock()))
    } else {
        match File::open(&o.input) {
            Ok(f) => Box::new(BufReader::with_capacity(1 << 20, f)),
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
    let result = process(input, &input_name, o, &program, &mut engine, &mut outputs);
    let flushed = result
        .and_then(|()| outputs.out.flush())
        .and_then(|()| outputs.dead.as_mut().map_or(Ok(()), Sink::flush));
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
    if stats.shed > 0 {
        err(&format!(
            "cep run: {} runs shed to stay under --max-runs {} per pattern (the oldest first); a `within` bounds them\n",
            stats.shed, o.max_runs
        ));
    }
    EXIT_OK
}

/// The loop over the input lines.
fn process(
    mut input: Box<dyn BufRead>,
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
        let kind = ingest::read_line(&mut input, &mut buf, o.max_line_bytes)
            .map_err(|e| Stop::Io(format!("cannot read {input_name}: {}", why(&e))))?;
        if kind == Line::End {
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
    engine.finish(&mut outs);
    outputs.emit(engine, &mut outs, (0, &[]), decoder.latest())
}
