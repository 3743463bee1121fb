//! The `cep` command line: `check`, `compile`, `explain`, `fmt` and `run`.
//!
//! Exit codes are the same for every command: 0 when all is well, 1 when
//! the rules have errors (or warnings under `--deny-warnings`, or files
//! that `fmt --check` would change), 2 for a usage or I/O error.

pub mod history;
pub mod render;
pub mod run;
pub mod runs;
mod same_file;

use cep_grammar::{Diagnostic, SourceMap};
use cep_ir::Program;
use clap::{Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Everything went well.
pub const EXIT_OK: u8 = 0;
/// The rules have errors (or denied warnings, or unformatted files).
pub const EXIT_FAIL: u8 = 1;
/// A usage or I/O error: nothing was checked.
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "cep",
    version,
    about = "Cepheid: a declarative rule language for complex events",
    long_about = "Cepheid: a declarative rule language for complex events.\n\n\
        Exit codes: 0 success; 1 errors in the rules (or warnings with \
        --deny-warnings, or files `fmt --check` would change); 2 usage or I/O error.\n\
        Colour is used only on a terminal and never when NO_COLOR is set."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Parse and check rule files together; report every problem found.
    Check {
        /// The `.cep` files, checked together as one program.
        #[arg(required = true, value_name = "FILES")]
        files: Vec<PathBuf>,
        /// `human` (to stderr) or `json` (to stdout).
        #[arg(long, value_enum, default_value_t = ErrorFormat::Human, value_name = "FORMAT")]
        error_format: ErrorFormat,
        /// Treat warnings as errors (exit 1 when there are any).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Check rule files and write the compiled IR (JSON).
    Compile {
        /// The `.cep` files, compiled together as one program.
        #[arg(required = true, value_name = "FILES")]
        files: Vec<PathBuf>,
        /// Where to write the IR; `-` for standard output.
        #[arg(short = 'o', long = "output", value_name = "OUT", default_value = "-")]
        output: PathBuf,
        /// `human` (to stderr) or `json` (to stdout, or to stderr when the
        /// IR goes to stdout).
        #[arg(long, value_enum, default_value_t = ErrorFormat::Human, value_name = "FORMAT")]
        error_format: ErrorFormat,
        /// Treat warnings as errors (write nothing and exit 1 when there
        /// are any).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Show what rules compile to: states, edges, steps, processes.
    Explain {
        /// `.cep` files, or one compiled IR `.json` file.
        #[arg(required = true, value_name = "FILES")]
        files: Vec<PathBuf>,
        /// Show only this pattern.
        #[arg(long, value_name = "NAME", conflicts_with = "process")]
        pattern: Option<String>,
        /// Show only this process: its DCR graph (activities with their
        /// initial marking, relations).
        #[arg(long, value_name = "NAME")]
        process: Option<String>,
        /// Print as one Graphviz graph (`dot -Tsvg`): the pattern automata
        /// and the processes' DCR graphs (or only the one asked for).
        #[arg(long)]
        dot: bool,
    },
    /// Format rule files in place, or with `--check` list those that would change.
    Fmt {
        /// The `.cep` files.
        #[arg(required = true, value_name = "FILES")]
        files: Vec<PathBuf>,
        /// Change nothing; print the files that are not formatted and exit 1 if any.
        #[arg(long)]
        check: bool,
    },
    /// Run rules over NDJSON events; write the complex events as NDJSON.
    ///
    /// Each input line is one JSON object whose `type` names an event type
    /// (declared, or a pattern's complex event, so that the output can be
    /// read back); its fields are members by name. A `time` is integer
    /// epoch milliseconds or an RFC 3339 string. An event type without a
    /// time field is stamped with the latest event time read so far (0
    /// before any), so that replaying a file gives the same results. Lines
    /// that are not events, and events that come too late, are dead
    /// letters: processing goes on. At the end of the input all time
    /// passes. A summary goes to stderr. Output is flushed whenever the
    /// input is idle; SIGINT or SIGTERM stops the run after processing and
    /// writing what was read (exit 130 or 143). An output that is an input
    /// is refused (exit 2).
    Run {
        /// `.cep` files compiled together, or one compiled IR `.json` file.
        #[arg(required = true, value_name = "RULES")]
        rules: Vec<PathBuf>,
        /// The events, one JSON object per line; `-` for standard input.
        #[arg(long, value_name = "FILE", default_value = "-")]
        input: PathBuf,
        /// Where the complex events go; `-` for standard output.
        #[arg(long, value_name = "FILE", default_value = "-")]
        output: PathBuf,
        /// Where rejected lines go (NDJSON: line, reason, detail, text).
        /// Without it they are counted and the first few shown on stderr.
        #[arg(long, value_name = "FILE")]
        dead_letter: Option<PathBuf>,
        /// How far out of order events may come (`2s`, `500ms`); older
        /// events are dead letters (`late`).
        #[arg(long, value_name = "D", default_value = "0", value_parser = run::parse_delay)]
        max_delay: u64,
        /// Live runs per pattern before the oldest are shed.
        #[arg(long, value_name = "N", default_value_t = 100_000,
              value_parser = clap::value_parser!(u64).range(1..))]
        max_runs: u64,
        /// This instance's name, part of every run id (`cep-7`).
        #[arg(long, value_name = "NAME", default_value = "cep")]
        instance: String,
        /// Longer input lines are dead letters (`oversized line`).
        #[arg(long, value_name = "N", default_value_t = 1 << 20,
              value_parser = clap::value_parser!(u64).range(1..))]
        max_line_bytes: u64,
        /// The durable store of step runs (SQLite); `:memory:` for one that
        /// lasts only as long as the run. Default: `<first rule file's
        /// stem>.run.db` in the working directory, made only when the
        /// rules have steps.
        #[arg(long, value_name = "PATH")]
        store: Option<PathBuf>,
        /// Step runs holding a slot at once, over all steps (default: no
        /// limit).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_concurrent: Option<u64>,
        /// After a failure that no `on failure` or `on complete` handles:
        /// `stop` starting new work (running attempts finish), or
        /// `continue`. Either way the exit code is 1.
        #[arg(long, value_name = "WHAT", default_value = "stop", value_parser = run::parse_on_failure)]
        on_failure: cep_runtime::OnFailure,
        /// Where each status change of a step run goes (NDJSON).
        #[arg(long, value_name = "FILE")]
        step_log: Option<PathBuf>,
        /// After SIGINT or SIGTERM, how long running attempts may go on
        /// before they are killed.
        #[arg(long, value_name = "D", default_value = "10s", value_parser = run::parse_delay)]
        grace: u64,
        /// Simulate the steps: no program is started and nothing is
        /// posted, every attempt succeeds at once, delays and back-offs
        /// pass at once, and there is no store.
        #[arg(long)]
        dry_run: bool,
        /// `restart`: a new run in the store; `recover`: take up the
        /// latest run (or `--run-id`), rerunning or skipping its step runs
        /// by their steps' `recover` policies; `continue`: take it up
        /// where it stopped (pending delays, unfinished work). Recover and
        /// continue skip the input lines the run had already read.
        #[arg(long, value_name = "MODE", default_value = "restart", value_parser = run::parse_mode)]
        mode: run::Mode,
        /// The run to recover or continue (default: the latest).
        #[arg(long, value_name = "ID")]
        run_id: Option<String>,
        /// Stop as soon as no step run can start without waiting: delays
        /// and back-offs not yet due stay in the store for a later
        /// `--mode continue`.
        #[arg(long)]
        once: bool,
        /// Log every process execution and refusal, as the DCR history
        /// seed's state changes stamped by this instance's Lamport clock
        /// (NDJSON; an existing log is continued). Read it with
        /// `cep history`.
        #[arg(long, value_name = "FILE")]
        history: Option<PathBuf>,
        /// `TYPE.FIELD`: the event time of events of TYPE, which declares
        /// no `time` field, is FIELD, an `int` of epoch milliseconds
        /// (give one for each such type).
        #[arg(long, value_name = "TYPE.FIELD", value_parser = run::parse_time_field)]
        time_field: Vec<(String, String)>,
        /// Write only the complex events of these patterns (the others
        /// still run and feed what consumes them).
        #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
        patterns: Option<Vec<String>>,
        /// After this long (wall clock) without input, event time follows
        /// the wall clock from the latest event time read, so windows and
        /// absences end on a quiet live stream (Flink's idleness). Off by
        /// default: then only the input moves event time.
        #[arg(long, value_name = "D", value_parser = run::parse_delay)]
        idle: Option<u64>,
        /// Threads: 1 decodes and matches on one thread; 2 decodes input
        /// on a thread of its own, ahead of matching (the output is the
        /// same). Default: the cores available, at most 2.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        threads: Option<u64>,
        /// Share run state with peers (docs/peers.md): the address this
        /// member listens on for them (TCP, `127.0.0.1:7001`).
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Another member of the cluster, `NAME=ADDR` (give one for each;
        /// two or three members in all).
        #[arg(long, value_name = "NAME=ADDR", value_parser = run::peers::parse_named)]
        peer: Vec<(String, String)>,
        /// This member's private key (`cep keygen NAME` writes NAME.key).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// A member's public key, `NAME=FILE` (one for each --peer).
        #[arg(long = "peer-key", value_name = "NAME=FILE", value_parser = run::peers::parse_named)]
        peer_key: Vec<(String, String)>,
        /// PING a peer that has been sent nothing for this long (default
        /// 2s).
        #[arg(long, value_name = "D", value_parser = run::parse_delay)]
        peer_ping: Option<u64>,
        /// A peer not heard from for this long is out of reach: it gets a
        /// RESYNC when it is back, and no longer holds the others back
        /// (default 30s).
        #[arg(long, value_name = "D", value_parser = run::parse_delay)]
        peer_resync: Option<u64>,
    },
    /// Writes a new key pair for a peer: NAME.key (private, mode 0600)
    /// and NAME.pub (public; give it to the other members). NAME is a
    /// path prefix; existing files are never overwritten.
    Keygen {
        #[arg(value_name = "NAME")]
        name: PathBuf,
    },
    /// Stitches process history logs (`cep run --history`, from one or
    /// more instances) into one happens-before history and names its
    /// faults. Exit code 1 when there are faults.
    History {
        /// The logs to stitch.
        #[arg(required = true, value_name = "LOG")]
        logs: Vec<PathBuf>,
        /// Only this process.
        #[arg(long, value_name = "NAME")]
        process: Option<String>,
        /// Only this instance: its key value (`c1`, or JSON such as `42`).
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        /// NDJSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The runs a step store holds (`cep run --store`), or the step runs of
    /// one run by sequence.
    Runs {
        /// The store to read (SQLite); it is only read.
        #[arg(long, value_name = "PATH")]
        store: PathBuf,
        /// Show this run's step runs instead of the list of runs.
        #[arg(long, value_name = "ID")]
        run_id: Option<String>,
        /// JSON for tools instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ErrorFormat {
    Human,
    Json,
}

/// Runs the command line given (the program name first) and returns the
/// exit code.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Check {
            files,
            error_format,
            deny_warnings,
        } => check(&files, error_format, deny_warnings, None),
        Command::Compile {
            files,
            output,
            error_format,
            deny_warnings,
        } => check(&files, error_format, deny_warnings, Some(&output)),
        Command::Explain {
            files,
            pattern,
            process,
            dot,
        } => explain(&files, pattern.as_deref(), process.as_deref(), dot),
        Command::Fmt { files, check } => fmt(&files, check),
        Command::Runs {
            store,
            run_id,
            json,
        } => runs::runs(&store, run_id.as_deref(), json),
        Command::Run {
            rules,
            input,
            output,
            dead_letter,
            max_delay,
            max_runs,
            instance,
            max_line_bytes,
            store,
            max_concurrent,
            on_failure,
            step_log,
            grace,
            dry_run,
            mode,
            run_id,
            once,
            history,
            time_field,
            patterns,
            idle,
            threads,
            listen,
            peer,
            key,
            peer_key,
            peer_ping,
            peer_resync,
        } => {
            let peers = match peer_options(listen, peer, key, peer_key, peer_ping, peer_resync) {
                Ok(p) => p,
                Err(m) => {
                    fail(&m);
                    return EXIT_USAGE;
                }
            };
            run::run(&run::Options {
                rules,
                input,
                output,
                dead_letter,
                max_delay_ms: max_delay,
                max_runs: usize::try_from(max_runs).unwrap_or(usize::MAX),
                instance,
                max_line_bytes: usize::try_from(max_line_bytes).unwrap_or(usize::MAX),
                store,
                max_concurrent: max_concurrent.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
                on_failure,
                step_log,
                grace_ms: grace,
                dry_run,
                mode,
                run_id,
                once,
                history,
                time_fields: time_field,
                patterns,
                idle_ms: idle.filter(|&d| d > 0),
                threads: run::threads(threads),
                peers,
            })
        }
        Command::Keygen { name } => match cep_peers::keygen(&name) {
            Ok(()) => {
                out(&format!(
                    "wrote {0}.key (private, mode 0600) and {0}.pub\n",
                    show_path(&name)
                ));
                EXIT_OK
            }
            Err(e) => {
                fail(&e.to_string());
                EXIT_USAGE
            }
        },
        Command::History {
            logs,
            process,
            key,
            json,
        } => history::history(&logs, process.as_deref(), key.as_deref(), json),
    }
}

/// The peer options of `cep run`, all or none: `--listen`, at least one
/// `--peer`, `--key`.
fn peer_options(
    listen: Option<std::net::SocketAddr>,
    peer: Vec<(String, String)>,
    key: Option<PathBuf>,
    peer_key: Vec<(String, String)>,
    ping: Option<u64>,
    resync: Option<u64>,
) -> Result<Option<run::peers::PeerOptions>, String> {
    if listen.is_none() && peer.is_empty() && key.is_none() && peer_key.is_empty() {
        return match (ping, resync) {
            (None, None) => Ok(None),
            _ => Err("--peer-ping and --peer-resync set how a member talks to its peers: give them with --peer".into()),
        };
    }
    let (ping, resync) = (ping.unwrap_or(2_000), resync.unwrap_or(30_000));
    let Some(listen) = listen else {
        return Err("--peer needs --listen ADDR (where this member listens for the others)".into());
    };
    if peer.is_empty() {
        return Err("--listen needs at least one --peer NAME=ADDR".into());
    }
    let Some(key) = key else {
        return Err(
            "--peer needs --key FILE (this member's private key; `cep keygen NAME` writes one)"
                .into(),
        );
    };
    let mut peers = Vec::new();
    for (n, a) in peer {
        let addr = a.parse().map_err(|_| {
            format!("--peer {n}={a}: `{a}` is not an address such as 127.0.0.1:7002")
        })?;
        peers.push((n, addr));
    }
    let ms = |d: u64| i64::try_from(d).unwrap_or(i64::MAX);
    Ok(Some(run::peers::PeerOptions {
        listen,
        peers,
        key,
        peer_keys: peer_key
            .into_iter()
            .map(|(n, f)| (n, PathBuf::from(f)))
            .collect(),
        ping_ms: ms(ping).max(1),
        resync_ms: ms(resync).max(1),
    }))
}

// ---- output helpers --------------------------------------------------------------

/// Writes to stdout; a closed pipe is not an error worth reporting.
fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

fn err(s: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(s.as_bytes());
    let _ = e.flush();
}

fn stderr_color() -> bool {
    render::use_color(std::io::stderr().is_terminal())
}

/// `error: <message>` on stderr.
fn fail(message: &str) {
    if stderr_color() {
        err(&format!("\x1b[1;31merror\x1b[0m: {message}\n"));
    } else {
        err(&format!("error: {message}\n"));
    }
}

fn show_path(p: &Path) -> String {
    p.display().to_string()
}

/// Reads a file as text, or says clearly which file could not be read.
fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            std::io::ErrorKind::InvalidData => "it is not UTF-8 text".to_string(),
            _ => e.to_string(),
        };
        format!("cannot read `{}`: {why}", show_path(path))
    })
}

/// Reads every file into one source map; on failure reports every file
/// that could not be read.
fn load(files: &[PathBuf]) -> Result<SourceMap, u8> {
    let mut sources = SourceMap::new();
    let mut ok = true;
    for f in files {
        match read(f) {
            Ok(text) => {
                sources.add(show_path(f), text);
            }
            Err(m) => {
                fail(&m);
                ok = false;
            }
        }
    }
    if ok {
        Ok(sources)
    } else {
        Err(EXIT_USAGE)
    }
}

/// `ok: 2 files, 8 events, 4 patterns, 2 steps, 1 resource, 1 process`
pub fn ok_line(files: usize, p: &Program) -> String {
    use render::plural;
    format!(
        "ok: {}, {}, {}, {}, {}, {}",
        plural(files, "file", "files"),
        plural(p.events.len(), "event", "events"),
        plural(p.patterns.len(), "pattern", "patterns"),
        plural(p.steps.len(), "step", "steps"),
        plural(p.resources.len(), "resource", "resources"),
        plural(p.processes.len(), "process", "processes"),
    )
}

// ---- check and compile ---------------------------------------------------------------

fn check(files: &[PathBuf], format: ErrorFormat, deny: bool, output: Option<&Path>) -> u8 {
    if let Some(o) = output {
        let inputs: Vec<same_file::Named<'_>> = files
            .iter()
            .map(|f| same_file::Named::new(f, format!("the rule file `{}`", show_path(f))))
            .collect();
        let what = if o == Path::new("-") {
            "standard output (the output)".to_string()
        } else {
            format!("`-o {}`", show_path(o))
        };
        if let Err(m) = same_file::check(&inputs, &[same_file::Named::new(o, what)]) {
            fail(&m);
            return EXIT_USAGE;
        }
    }
    let sources = match load(files) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let n = sources.len();
    let c = cep_compiler::compile(sources);
    let (errors, warnings) = render::counts(&c.diagnostics);
    let ir_to_stdout = output.is_some_and(|o| o == Path::new("-"));
    match format {
        ErrorFormat::Human => err(&render::human(&c.sources, &c.diagnostics, stderr_color())),
        ErrorFormat::Json => {
            let doc = render::json(&c.sources, &c.diagnostics);
            if ir_to_stdout {
                err(&doc);
            } else {
                out(&doc);
            }
        }
    }
    if errors > 0 {
        return EXIT_FAIL;
    }
    if deny && warnings > 0 {
        if format == ErrorFormat::Human {
            fail("warnings are denied (`--deny-warnings`)");
        }
        return EXIT_FAIL;
    }
    let Some(program) = c.program else {
        fail("the compiler reported no error but produced no program; this is a bug in cep");
        return EXIT_FAIL;
    };
    if let Some(o) = output {
        let json = program.to_json();
        if ir_to_stdout {
            out(&json);
        } else if let Err(e) = std::fs::write(o, json) {
            fail(&format!("cannot write `{}`: {e}", show_path(o)));
            return EXIT_USAGE;
        }
    }
    if format == ErrorFormat::Human {
        let mut line = ok_line(n, &program);
        if let Some(o) = output.filter(|_| !ir_to_stdout) {
            line.push_str(&format!("; wrote {}", show_path(o)));
        }
        line.push('\n');
        err(&line);
    }
    EXIT_OK
}

// ---- explain ---------------------------------------------------------------------

/// `cep explain`: the whole program, one pattern, or one process, as text
/// or Graphviz. An unknown name is a usage error that lists the names
/// there are.
fn explain(files: &[PathBuf], pattern: Option<&str>, process: Option<&str>, dot: bool) -> u8 {
    let program = match load_program(files) {
        Ok(p) => p,
        Err(code) => return code,
    };
    // `no pattern named `X`; the patterns are: ...`, and the same for processes.
    let unknown = |kind: &str, kinds: &str, name: &str, names: Vec<&str>| {
        if names.is_empty() {
            fail(&format!(
                "no {kind} named `{name}`: these rules have no {kinds}"
            ));
        } else {
            let mut m = format!(
                "no {kind} named `{name}`; the {kinds} are: {}",
                names.join(", ")
            );
            if let Some(s) = cep_grammar::diagnostic::did_you_mean(name, names.iter().copied()) {
                m.push_str(&format!(" (did you mean `{s}`?)"));
            }
            fail(&m);
        }
        EXIT_USAGE
    };
    if let Some(name) = process {
        let shown = if dot {
            cep_ir::explain::process_dot(&program, name)
        } else {
            cep_ir::explain::process_text(&program, name)
        };
        return match shown {
            Some(s) => {
                out(&s);
                EXIT_OK
            }
            None => {
                let names = program.processes.iter().map(|p| p.name.as_str());
                unknown("process", "processes", name, names.collect())
            }
        };
    }
    if let Some(name) = pattern {
        if !program.patterns.iter().any(|p| p.name == name) {
            let names = program.patterns.iter().map(|p| p.name.as_str());
            return unknown("pattern", "patterns", name, names.collect());
        }
    }
    if dot {
        out(&cep_ir::explain::dot(&program, pattern));
    } else {
        out(&cep_ir::explain::text(&program, pattern));
    }
    EXIT_OK
}

/// Compiles the files (rendering their diagnostics on stderr; errors give
/// exit 1), or loads them when they are one compiled IR (a bad IR gives
/// exit 2).
fn load_program(files: &[PathBuf]) -> Result<Program, u8> {
    let mut texts = Vec::new();
    let mut ok = true;
    for f in files {
        match read(f) {
            Ok(t) => texts.push((f, t)),
            Err(m) => {
                fail(&m);
                ok = false;
            }
        }
    }
    if !ok {
        return Err(EXIT_USAGE);
    }
    let is_ir = |t: &str| t.trim_start().starts_with('{');
    if texts.iter().any(|(_, t)| is_ir(t)) {
        let [(path, text)] = texts.as_slice() else {
            fail("a compiled IR (`.json`) file must be given alone, not with other files");
            return Err(EXIT_USAGE);
        };
        return Program::from_json(text).map_err(|e| {
            fail(&format!("cannot load `{}`: {e}", show_path(path)));
            EXIT_USAGE
        });
    }
    let mut sources = SourceMap::new();
    for (f, t) in texts {
        sources.add(show_path(f), t);
    }
    let c = cep_compiler::compile(sources);
    err(&render::human(&c.sources, &c.diagnostics, stderr_color()));
    match c.program {
        Some(p) if !c.has_errors() => Ok(p),
        _ => Err(EXIT_FAIL),
    }
}

// ---- fmt -------------------------------------------------------------------------

fn fmt(files: &[PathBuf], check: bool) -> u8 {
    let mut io_error = false;
    let mut syntax_error = false;
    let mut unformatted = Vec::new();
    for f in files {
        let text = match read(f) {
            Ok(t) => t,
            Err(m) => {
                fail(&m);
                io_error = true;
                continue;
            }
        };
        match cep_grammar::format_source(&text) {
            Ok(formatted) => {
                if formatted == text {
                    continue;
                }
                if check {
                    unformatted.push(show_path(f));
                } else if let Err(e) = std::fs::write(f, formatted) {
                    fail(&format!("cannot write `{}`: {e}", show_path(f)));
                    io_error = true;
                }
            }
            Err(diags) => {
                syntax_error = true;
                report_one_file(f, &text, &diags);
            }
        }
    }
    for name in &unformatted {
        out(&format!("{name}\n"));
    }
    if io_error {
        EXIT_USAGE
    } else if syntax_error || !unformatted.is_empty() {
        EXIT_FAIL
    } else {
        EXIT_OK
    }
}

/// Renders diagnostics about one text on its own (their spans are in file
/// 0 of a one-file map).
fn report_one_file(path: &Path, text: &str, diags: &[Diagnostic]) {
    let (map, _) = render::single_file(&show_path(path), text);
    err(&render::human(&map, diags, stderr_color()));
}
