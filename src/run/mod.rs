//! `cep run`: rules over an NDJSON event stream; complex events out, steps
//! run.
//!
//! The rules are compiled at start-up (or loaded from a compiled IR). Input
//! lines are decoded by `cep_runtime::ingest` and fed, in input order, to
//! the runner (`cep_runtime::Runner`: the pattern engine and the step
//! scheduler); the complex events it produces are written by
//! `cep_runtime::ndjson` in engine order. A line that is not an event (or
//! an event that comes too late) is a dead letter: written to
//! `--dead-letter` when given, otherwise counted and the first few shown
//! on stderr; processing goes on. When the rules have steps, their
//! attempts run on the executor (`cep_exec`), and what they do is kept in
//! the durable store (`--store`). At the end of the input the run goes on
//! until no step work is left; then all time passes (`Engine::finish`),
//! so pending absences complete and open runs expire. A summary goes to
//! stderr. Nothing written to the complex-event output depends on the
//! wall clock: the same input (and step outcomes) give the same bytes.
//!
//! Before anything is opened, an output that is an input is refused
//! (`same_file`). The input is read on a thread (`input`), so the outputs
//! are flushed whenever the input is idle, and SIGINT/SIGTERM stop the
//! run cleanly: held events are processed, time passes no further, nothing
//! new starts, running attempts get `--grace`, the outputs are flushed and
//! the exit code is 128 plus the signal.

pub mod input;
mod live;
pub mod peers;
mod sink;

use crate::same_file::{self, Named};
use crate::{err, fail, load_program, show_path, EXIT_FAIL, EXIT_OK, EXIT_USAGE};
use cep_exec::{Executor, Store};
use cep_ir::{Action, Program};
use cep_runtime::ingest;
use cep_runtime::ndjson::Encoder;
use cep_runtime::{Config, Engine, OnFailure, Runner, Scheduler, StepConfig};
use input::{Feed, Msg, Threads};
use live::{Clock, Ending, Live};
use sink::{why, HistoryLog, Outputs, Sink, StepLog, Stop};
use std::fs::File;
use std::io::{self, Read};
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
    /// The durable store; `None` for the default (`<first rule file's
    /// stem>.run.db` in the working directory).
    pub store: Option<PathBuf>,
    pub max_concurrent: Option<usize>,
    pub on_failure: OnFailure,
    pub step_log: Option<PathBuf>,
    /// After a signal, how long running attempts may go on (ms).
    pub grace_ms: u64,
    /// Simulate the steps: every attempt succeeds at once, nothing runs,
    /// no store; the wall clock jumps to the next deadline.
    pub dry_run: bool,
    pub mode: Mode,
    /// The run to recover or continue; `None` for the latest.
    pub run_id: Option<String>,
    /// Stop when no step run can start without waiting.
    pub once: bool,
    /// The process history log (`--history`): appended to.
    pub history: Option<PathBuf>,
    /// `--listen`, `--peer`, `--key`, `--peer-key`: a member of a cluster
    /// (`peers`).
    pub peers: Option<peers::PeerOptions>,
    /// `--time-field TYPE.FIELD`: (type, field) pairs.
    pub time_fields: Vec<(String, String)>,
    /// `--patterns NAME,...`: only these patterns' complex events are
    /// written.
    pub patterns: Option<Vec<String>>,
    /// `--idle D` (ms): after D of wall-clock time without input, event
    /// time follows the wall clock (a quiet live stream); `None`: off.
    pub idle_ms: Option<u64>,
    /// `--threads`: decode on the matching thread or ahead of it.
    pub threads: Threads,
}

/// Per pattern (IR order): whether its complex events are written: not
/// `private`, and named by `--patterns` when it is given. Errors: a name
/// that is no pattern (with the list), a private pattern named.
pub(super) fn written_patterns(
    program: &Program,
    chosen: Option<&[String]>,
) -> Result<Vec<bool>, String> {
    let names: Vec<&str> = program.patterns.iter().map(|p| p.name.as_str()).collect();
    if let Some(chosen) = chosen {
        for n in chosen {
            match program.patterns.iter().find(|p| &p.name == n) {
                None => {
                    return Err(format!(
                        "--patterns: no pattern `{n}` in these rules (its patterns: {})",
                        names.join(", ")
                    ))
                }
                Some(p) if p.private => {
                    return Err(format!(
                        "--patterns: `{n}` is a private pattern, whose complex events are never written; \
                         remove `private` from it to write them"
                    ))
                }
                Some(_) => {}
            }
        }
    }
    Ok(program
        .patterns
        .iter()
        .map(|p| !p.private && chosen.is_none_or(|c| c.iter().any(|n| n == &p.name)))
        .collect())
}

/// `--time-field`: `TYPE.FIELD`.
pub fn parse_time_field(s: &str) -> Result<(String, String), String> {
    match s.split_once('.') {
        Some((t, f)) if !t.is_empty() && !f.is_empty() => Ok((t.to_string(), f.to_string())),
        _ => Err("TYPE.FIELD (for example `Reading.ts`)".into()),
    }
}

/// Applies `--time-field`: each named event type, which declares no
/// `time` field, takes its event time from the named `int` field (epoch
/// milliseconds). Errors name the type or field and say what is there.
fn apply_time_fields(program: &mut Program, given: &[(String, String)]) -> Result<(), String> {
    for (ty, field) in given {
        let declared: Vec<String> = program
            .events
            .iter()
            .filter(|e| matches!(e.origin, cep_ir::Origin::Declared))
            .map(|e| e.name.clone())
            .collect();
        let Some(e) = program
            .events
            .iter_mut()
            .find(|e| &e.name == ty && matches!(e.origin, cep_ir::Origin::Declared))
        else {
            return Err(format!(
                "--time-field {ty}.{field}: no event type `{ty}` is declared (the declared ones: {})",
                declared.join(", ")
            ));
        };
        let Some(slot) = e.fields.iter().position(|f| &f.name == field) else {
            let names: Vec<&str> = e.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(format!(
                "--time-field {ty}.{field}: `{ty}` has no field `{field}` (its fields: {})",
                names.join(", ")
            ));
        };
        if let Some(t) = e.time_field {
            let at = e
                .fields
                .get(usize::from(t))
                .map_or("?", |f| f.name.as_str());
            if usize::from(t) != slot {
                return Err(format!(
                    "--time-field {ty}.{field}: `{ty}` has its event time already, its `time` field `{at}`; \
                     --time-field is for an event type that declares none"
                ));
            }
            continue;
        }
        let fty = e.fields[slot].ty;
        if fty != cep_ir::Type::Int {
            return Err(format!(
                "--time-field {ty}.{field}: `{field}` is a `{fty}`; the event time comes from a \
                 `time` field (declare it `{field}: time`) or an `int` of epoch milliseconds"
            ));
        }
        e.time_field = cep_ir::Slot::try_from(slot).ok();
    }
    Ok(())
}

/// `--threads`: given, 1 is one thread and 2 or more two (more are not
/// used yet, and a note says so); not given, two when two cores or more
/// are available.
pub fn threads(given: Option<u64>) -> Threads {
    let n = match given {
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
    };
    if given.is_some_and(|n| n > 2) {
        err(&format!(
            "cep run: --threads {n}: this version uses two threads at most \
             (one decoding, one matching); running with 2\n"
        ));
    }
    if n >= 2 {
        Threads::Two
    } else {
        Threads::One
    }
}

/// Eventor's run modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Restart,
    Recover,
    Continue,
}

/// `--mode`: `restart`, `recover` or `continue`.
pub fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "restart" => Ok(Mode::Restart),
        "recover" => Ok(Mode::Recover),
        "continue" => Ok(Mode::Continue),
        _ => Err("`restart`, `recover` or `continue`".into()),
    }
}

/// `--max-delay`: a duration with its unit (`2s`, `500ms`), or `0`.
pub fn parse_delay(s: &str) -> Result<u64, String> {
    if s == "0" {
        return Ok(0);
    }
    ingest::parse_duration(s)
        .and_then(|d| u64::try_from(d).map_err(|_| "a delay cannot be negative".to_string()))
}

/// `--on-failure`: `stop` or `continue`.
pub fn parse_on_failure(s: &str) -> Result<OnFailure, String> {
    match s {
        "stop" => Ok(OnFailure::Stop),
        "continue" => Ok(OnFailure::Continue),
        _ => Err("`stop` or `continue`".into()),
    }
}

fn is_stdio(p: &Path) -> bool {
    p == Path::new("-")
}

/// The store a run of these rules uses when `--store` is not given:
/// `<stem of the first rule file>.run.db` in the working directory (as
/// Eventor's run file is made where the program runs).
pub fn default_store(rules: &[PathBuf]) -> PathBuf {
    let stem = rules
        .first()
        .and_then(|r| r.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cep".into());
    PathBuf::from(format!("{stem}.run.db"))
}

/// Runs the command and gives the exit code.
pub fn run(o: &Options) -> u8 {
    if let Err(m) = refuse_overwrite(o) {
        fail(&m);
        return EXIT_USAGE;
    }
    let mut program = match load_program(&o.rules) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Err(m) = apply_time_fields(&mut program, &o.time_fields) {
        fail(&m);
        return EXIT_USAGE;
    }
    let written = match written_patterns(&program, o.patterns.as_deref()) {
        Ok(w) => w,
        Err(m) => {
            fail(&m);
            return EXIT_USAGE;
        }
    };
    let program = Arc::new(program);
    if let Err(m) = check_runnable(&program) {
        fail(&m);
        return EXIT_USAGE;
    }
    if let Some(p) = &o.peers {
        return peers::run(o, p, program, written);
    }
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
    let open = |p: &Path| Sink::open(p);
    let (out, dead, step_log, history) = match (
        open(&o.output),
        o.dead_letter.as_deref().map(open).transpose(),
        o.step_log.as_deref().map(open).transpose(),
        o.history
            .as_deref()
            .map(|p| HistoryLog::open(p, &o.instance))
            .transpose(),
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        (Err(m), _, _, _) | (_, Err(m), _, _) | (_, _, Err(m), _) | (_, _, _, Err(m)) => {
            fail(&m);
            return EXIT_USAGE;
        }
    };
    let input_name = if is_stdio(&o.input) {
        "standard input".to_string()
    } else {
        format!("`{}`", show_path(&o.input))
    };
    let has_steps = !program.steps.is_empty();
    let run_id = format!("run-{}-{}", live::wall_ms(), std::process::id());
    if o.mode != Mode::Restart && (!has_steps || o.dry_run) {
        fail(&format!(
            "`--mode {}` takes up the step runs of an earlier run, but {}",
            if o.mode == Mode::Recover {
                "recover"
            } else {
                "continue"
            },
            if o.dry_run {
                "a dry run has no store"
            } else {
                "these rules have no steps"
            }
        ));
        return EXIT_USAGE;
    }
    let resume = match o.mode {
        Mode::Restart => None,
        _ => Some(o.run_id.as_deref().unwrap_or("")),
    };
    let (store, resumed) = if has_steps && !o.dry_run {
        let path = o.store.clone().unwrap_or_else(|| default_store(&o.rules));
        match Store::open(
            &path,
            program.clone(),
            &input_name,
            &run_id,
            resume,
            live::wall_ms(),
        ) {
            Ok(opened) => {
                if resume.is_some() && opened.resumed.is_none() {
                    err(&format!(
                        "cep run: store `{}` has no run to take up; a new run starts\n",
                        show_path(&path)
                    ));
                }
                (Some(opened.store), opened.resumed)
            }
            Err(e) => {
                fail(&e.0);
                return EXIT_USAGE;
            }
        }
    } else {
        (None, None)
    };
    let run_id = store
        .as_ref()
        .map_or(run_id, |s: &Store| s.run_id().to_string());
    let skip_lines = resumed.as_ref().map_or(0, |r| r.input_lines);
    let stage = ingest::Stage::new(&program, o.max_line_bytes, skip_lines);
    let mut feed = Feed::start(source, stage, o.threads);
    let exec = if has_steps && !o.dry_run {
        let tx = feed.sender();
        let tx2 = feed.sender();
        match Executor::new(
            move |f| {
                let _ = tx.send(Msg::Done(f));
            },
            move |run, attempt, group| {
                let _ = tx2.send(Msg::Started(run, attempt, group));
            },
        ) {
            Ok(x) => Some(x),
            Err(e) => {
                fail(&format!("cannot start the step executor: {e}"));
                return EXIT_USAGE;
            }
        }
    } else {
        None
    };
    let config = Config {
        instance: o.instance.clone(),
        max_delay_ms: o.max_delay_ms,
        max_runs: o.max_runs,
        track_runs: false,
        track_processes: history.is_some(),
        member: 0,
    };
    let engine = Engine::new(program.clone(), config);
    let scheduler = Scheduler::new(
        program.clone(),
        StepConfig {
            max_concurrent: o.max_concurrent,
            on_failure: o.on_failure,
        },
    );
    let outputs = Outputs {
        out,
        dead,
        steps: step_log.map(StepLog::new),
        history,
        encoder: Encoder::with_instance(&program, &o.instance),
        line: Vec::with_capacity(1024),
        dead_letters: 0,
        refused: 0,
        not_accepting: 0,
        written,
        unwritten: 0,
    };
    let clock = if o.dry_run {
        Clock::Simulated(live::wall_ms())
    } else {
        Clock::Real
    };
    let mut runner = Runner::new(engine, scheduler);
    let mut restored = Vec::new();
    if let Some(r) = resumed {
        // What a killed `cep` left running ends before anything reruns.
        cep_exec::end_orphans(&run_id, &r.orphans);
        let how = if o.mode == Mode::Continue {
            cep_runtime::steps::Resume::Continue
        } else {
            cep_runtime::steps::Resume::Recover
        };
        runner.restore(how, r.seen, r.runs, live::wall_ms(), &mut restored);
    }
    let mut live = Live::new(
        o,
        program.clone(),
        runner,
        outputs,
        store,
        exec,
        clock,
        input_name,
        run_id,
    );
    let start = Instant::now();
    let ending = live.begin(restored).and_then(|()| live.run(&mut feed));
    // Kills asked for are carried out, and nothing an attempt started is
    // left behind.
    if let Some(x) = live.exec.as_mut() {
        x.shutdown();
    }
    let ending = ending.and_then(|e| {
        if let Some(s) = live.store.as_mut() {
            s.commit().map_err(|e| Stop::Io(e.0))?;
        }
        live.outputs.flush().map(|()| e)
    });
    let ending = match ending {
        Ok(e) => e,
        Err(Stop::Closed) => return EXIT_OK,
        Err(Stop::Io(m)) => {
            // Keep what was written so far.
            live.outputs.flush_quietly();
            fail(&m);
            return EXIT_USAGE;
        }
    };
    if let Ending::Signal { sig, input_ended } = ending {
        let st = live.runner.steps.stats();
        let left = st.runs - st.succeeded - st.failed;
        let what = if input_ended {
            format!("the input had ended; {left} step runs were not finished (they stay in the store as they were)")
        } else {
            "the input did not end, so open windows and pending absences were left as they were; \
             everything read before the signal was processed and written"
                .to_string()
        };
        err(&format!(
            "cep run: stopped by {}: {what}\n",
            input::signal_name(sig)
        ));
    }
    summary(o, &program, &live, start.elapsed().as_secs_f64());
    let st = live.runner.steps.stats();
    let outcome = match ending {
        Ending::Signal { sig, .. } => format!("stopped by {}", input::signal_name(sig)),
        Ending::Done if st.unhandled > 0 => "failure".to_string(),
        Ending::Done => "success".to_string(),
    };
    if let Some(s) = live.store.as_mut() {
        if let Err(e) = s.end_run(&outcome, live::wall_ms()) {
            fail(&e.0);
            return EXIT_USAGE;
        }
    }
    match ending {
        // The shell's convention: 128 plus the signal's number.
        Ending::Signal { sig, .. } => u8::try_from(128 + sig).unwrap_or(EXIT_USAGE),
        Ending::Done if st.unhandled > 0 => EXIT_FAIL,
        Ending::Done => EXIT_OK,
    }
}

/// The summary line of the step runs.
fn step_summary(st: &cep_runtime::steps::StepStats, dry_run: bool) -> String {
    let mut line = format!(
        "cep run: {} step runs: {} succeeded, {} failed ({} unhandled), {} attempts, {} timed out",
        st.runs, st.succeeded, st.failed, st.unhandled, st.attempts, st.timed_out
    );
    let left = st.runs - st.succeeded - st.failed;
    if left > 0 {
        line.push_str(&format!(", {left} not finished"));
    }
    if dry_run {
        line.push_str(" (dry run: nothing was started)");
    }
    line.push('\n');
    line
}

fn summary(o: &Options, program: &Program, live: &Live<'_>, secs: f64) {
    let stats = live.runner.engine.stats();
    let dead_letters = live.outputs.dead_letters;
    if live.outputs.dead.is_none() && dead_letters > SHOWN {
        err(&format!(
            "cep run: ... and {} more dead letters (keep them all with --dead-letter FILE)\n",
            dead_letters - SHOWN
        ));
    }
    let rate = if secs > 0.0 {
        (stats.events_in as f64 / secs).round()
    } else {
        0.0
    };
    let unwritten = if live.outputs.unwritten > 0 {
        format!(
            " ({} not written: private patterns or not in --patterns)",
            live.outputs.unwritten
        )
    } else {
        String::new()
    };
    err(&format!(
        "cep run: {} events in, {} complex events out{unwritten}, {dead_letters} dead letters, {secs:.3} s, {rate:.0} events/s\n",
        stats.events_in, stats.complex_out
    ));
    if stats.suppressed > 0 {
        err(&format!(
            "cep run: {} matches suppressed by `report ... every`\n",
            stats.suppressed
        ));
    }
    if stats.timed_out > 0 {
        err(&format!(
            "cep run: {} of the complex events are timed-out runs (`on timeout emit`)\n",
            stats.timed_out
        ));
    }
    if !program.processes.is_empty() {
        let procs = live.runner.engine.processes();
        let retired = procs.retired();
        let instances = match retired {
            0 => format!("{} process instances", procs.instances()),
            r => format!(
                "{} process instances ({r} retired after `idle`, {} live)",
                procs.instances() as u64 + r,
                procs.instances()
            ),
        };
        err(&format!(
            "cep run: {instances}, {} not accepting at the end; {} activity events refused\n",
            live.outputs.not_accepting, live.outputs.refused
        ));
    }
    if !program.steps.is_empty() {
        err(&step_summary(&live.runner.steps.stats(), o.dry_run));
    }
    for (p, shed) in program
        .patterns
        .iter()
        .zip(live.runner.engine.shed_per_pattern())
    {
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
}

/// An output that is an input (the rule files, `--input`) or another
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
    for (flag, p) in [
        ("--dead-letter", &o.dead_letter),
        ("--step-log", &o.step_log),
        ("--history", &o.history),
    ] {
        if let Some(p) = p {
            outputs.push(Named::new(p, format!("`{flag} {}`", show_path(p))));
        }
    }
    if let Some(s) = o.store.as_ref().filter(|s| s.as_os_str() != ":memory:") {
        outputs.push(Named::new(s, format!("`--store {}`", show_path(s))));
    }
    same_file::check(&inputs, &outputs)
}

/// What this build cannot do is refused before anything runs.
fn check_runnable(program: &Program) -> Result<(), String> {
    cep_runtime::process::Processes::new(program)?;
    for s in &program.steps {
        if let Action::Post { url, .. } = &s.action {
            if url.starts_with("https://") && !cep_exec::HTTPS {
                return Err(format!(
                    "step `{}` posts to `{url}`, but this build of cep has no TLS; \
                     build it with `--features cep-exec/https`, or post over http",
                    s.name
                ));
            }
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(format!(
                    "step `{}` posts to `{url}`, which is not an http:// or https:// URL",
                    s.name
                ));
            }
        }
    }
    Ok(())
}
