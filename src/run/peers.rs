//! `cep run --peer`: one member of a cluster of two or three instances
//! that share run state (docs/peers.md). The edge of
//! `cep_runtime::peer::member::Member`: the input read on a thread
//! (`input::Feed`), frames over `cep_peers::Transport` (TCP, Noise KK),
//! what must survive a restart in the SQLite store
//! (`cep_exec::PeerStore`), complex events appended to the output.
//!
//! Write-ahead: the complex events an input decides are recorded in the
//! store with the input position and committed before their lines are
//! written; a restart writes the lines recorded but not in the output
//! (and cuts a torn last line), resumes a file input after the last line
//! processed, and starts a new incarnation (run ids never repeat).
//!
//! Each member processes its own events in the cluster's order; it exits
//! once every member's input has ended, its step work is done and its
//! peers hold its final state, or after a signal (without waiting for
//! them; running attempts get `--grace`).
//!
//! Steps: each member runs the steps of the complex events its own engine
//! completed (and of its own input events), on the executor
//! (`cep_exec::Executor`), with the step records in the same store and
//! the same transaction as the peer records (`PeerStore::record_with`),
//! committed before an attempt starts. A restarted member takes up the
//! step runs of its earlier lives (the store's run `peer-<instance>`) by
//! `--mode continue`, or by each step's `recover` policy otherwise.

use super::input::{Feed, Next};
use super::live::{attempt_output, identity, rule_dirs, wall_ms};
use super::sink::{why, Outputs, Sink, StepLog, Stop};
use super::{default_store, is_stdio, Mode, Options};
use crate::{err, fail, show_path, EXIT_FAIL, EXIT_OK, EXIT_USAGE};
use cep_ir::Program;
use cep_peers::{PeerAddr, Transport};
use cep_runtime::ingest::{self, Batch, Decoded};
use cep_runtime::ndjson::Encoder;
use cep_runtime::peer::member::{Member, Step};
use cep_runtime::peer::{run_name, wire, Node, Restored, Settings};
use cep_runtime::{Config, Engine, Scheduler, StepConfig, StepOutput};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The cluster as the command line gives it.
#[derive(Clone, Debug)]
pub struct PeerOptions {
    pub listen: SocketAddr,
    /// The other members: name and address.
    pub peers: Vec<(String, SocketAddr)>,
    /// This member's private key (`cep keygen`).
    pub key: PathBuf,
    /// The other members' public keys, by name.
    pub peer_keys: Vec<(String, PathBuf)>,
    pub ping_ms: i64,
    pub resync_ms: i64,
}

/// Own events read ahead of the cluster, at most.
const AHEAD: usize = 8_192;

/// `NAME=VALUE` of `--peer` and `--peer-key`.
pub fn parse_named(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, v)) if !n.is_empty() && !v.is_empty() => Ok((n.to_string(), v.to_string())),
        _ => Err("NAME=VALUE (for example `B=127.0.0.1:7002`)".into()),
    }
}

struct Cluster {
    names: Vec<String>,
    me: u16,
    transport: cep_peers::Config,
}

fn cluster(o: &Options, p: &PeerOptions) -> Result<Cluster, String> {
    let mut names: Vec<String> = p.peers.iter().map(|(n, _)| n.clone()).collect();
    names.push(o.instance.clone());
    names.sort();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "`{}` is named twice among --instance and --peer; every member needs a name of its own",
            w[0]
        ));
    }
    if names.len() > 3 {
        return Err(format!(
            "{} members given; peers are two or three instances",
            names.len()
        ));
    }
    let index = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .and_then(|i| u16::try_from(i).ok())
    };
    let me = index(&o.instance).unwrap_or(0);
    for (n, _) in &p.peer_keys {
        if !p.peers.iter().any(|(m, _)| m == n) {
            return Err(format!("`--peer-key {n}=…` names no --peer `{n}`"));
        }
    }
    let identity = cep_peers::read_identity(&p.key).map_err(|e| e.to_string())?;
    let mut peers = Vec::new();
    for (n, addr) in &p.peers {
        let Some((_, path)) = p.peer_keys.iter().find(|(m, _)| m == n) else {
            return Err(format!(
                "--peer `{n}` has no public key: give `--peer-key {n}={n}.pub` (made by `cep keygen {n}`)"
            ));
        };
        let public = cep_peers::read_public(path).map_err(|e| e.to_string())?;
        peers.push(PeerAddr {
            member: index(n).unwrap_or(0),
            name: n.clone(),
            addr: *addr,
            public,
        });
    }
    Ok(Cluster {
        me,
        transport: cep_peers::Config {
            me,
            name: o.instance.clone(),
            listen: p.listen,
            identity,
            peers,
            max_frame: Settings::default().max_frame,
        },
        names,
    })
}

/// Runs one member; the exit code.
/// `written`: per pattern, whether its complex events are written
/// (`super::written_patterns`).
pub fn run(o: &Options, p: &PeerOptions, program: Arc<Program>, written: Vec<bool>) -> u8 {
    let has_steps = !program.steps.is_empty();
    let refused: Vec<&str> = [
        (o.dry_run, "--dry-run"),
        (o.mode == Mode::Recover && !has_steps, "--mode"),
        (o.mode == Mode::Continue && !has_steps, "--mode"),
        (o.run_id.is_some(), "--run-id"),
        (o.once, "--once"),
        (o.history.is_some(), "--history"),
        (o.idle_ms.is_some(), "--idle"),
    ]
    .into_iter()
    .filter_map(|(given, flag)| given.then_some(flag))
    .collect();
    if !refused.is_empty() {
        fail(&format!(
            "{} with --peer: a member of a cluster runs its steps for real and takes up \
             its own step runs when it restarts (`--mode continue`, or by each step's \
             `recover` policy), keeps no process history, and takes its time from the cluster's \
             order (not the wall clock); leave {} out, or run without --peer",
            refused.join(", "),
            if refused.len() == 1 { "it" } else { "them" }
        ));
        return EXIT_USAGE;
    }
    if let Some(p) = program.patterns.iter().find(|p| p.report.is_some()) {
        fail(&format!(
            "pattern `{}` has `report ... every`, which --peer cannot honour yet: each peer would limit its own matches, \
             and the cluster would write different ones; run it without --peer",
            p.name
        ));
        return EXIT_USAGE;
    }
    if let Some(p) = program.patterns.iter().find(|p| p.on_timeout.is_some()) {
        fail(&format!(
            "pattern `{}` has `on timeout emit`, which --peer cannot honour yet: a run's window closes on the peer \
             that bound its last event, and the peers do not agree yet on which one emits; run it without --peer",
            p.name
        ));
        return EXIT_USAGE;
    }
    if let Some(p) = program.patterns.iter().find(|p| p.select.is_some()) {
        fail(&format!(
            "pattern `{}` has a greedy or reluctant group, which --peer cannot honour yet: its matches are held \
             until no run of their start can do better, and those runs may live on other peers; run it without --peer",
            p.name
        ));
        return EXIT_USAGE;
    }
    if let Some(p) = program
        .patterns
        .iter()
        .find(|p| p.bindings.iter().any(|b| b.sub.is_some()))
    {
        fail(&format!(
            "pattern `{}` has a group sub-pattern, which --peer cannot honour yet: the peers' run state does not \
             carry a run's iterations and marks; run it without --peer",
            p.name
        ));
        return EXIT_USAGE;
    }
    if o.max_delay_ms > 0 {
        fail("--max-delay with --peer: the cluster's order is the reordering; give each peer its input in time order");
        return EXIT_USAGE;
    }
    if is_stdio(&o.output) {
        fail("--peer needs --output FILE: a restarted peer appends to it after what it wrote");
        return EXIT_USAGE;
    }
    if !program.processes.is_empty() {
        err("cep run: warning: with --peer, each process is enforced on this peer's own input only: process state is not shared between peers\n");
    }
    for p in program.patterns.iter().filter(|p| p.lookback.is_some()) {
        err(&format!(
            "cep run: warning: with --peer, the leading `not` of pattern `{}` sees this peer's own input only: what it looked back at is not shared between peers\n",
            p.name
        ));
    }
    let c = match cluster(o, p) {
        Ok(c) => c,
        Err(m) => {
            fail(&m);
            return EXIT_USAGE;
        }
    };
    let input_name = if is_stdio(&o.input) {
        "standard input".to_string()
    } else {
        format!("`{}`", show_path(&o.input))
    };
    let store_path = o.store.clone().unwrap_or_else(|| default_store(&o.rules));
    if store_path == std::path::Path::new(":memory:") {
        fail("--peer needs a store that outlives the process (its incarnation, what it wrote, its runs), not `:memory:`: give --store PATH");
        return EXIT_USAGE;
    }
    // The output as it is: the store reads back only lines it lacks.
    let out_before = match std::fs::metadata(&o.output) {
        Ok(md) => md.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => {
            fail(&format!(
                "cannot read `{}`: {}",
                show_path(&o.output),
                why(&e)
            ));
            return EXIT_USAGE;
        }
    };
    let (mut store, life) = match cep_exec::PeerStore::open(
        &store_path,
        &o.instance,
        &program.program_hash(),
        &input_name,
        out_before,
    ) {
        Ok(x) => x,
        Err(e) => {
            fail(&e.0);
            return EXIT_USAGE;
        }
    };
    // The step runs, in the same file: this instance's one run, taken up
    // by each later life.
    let step_run = format!("peer-{}", o.instance);
    let mut steps = None;
    let mut resumed = None;
    let (etx, erx) = std::sync::mpsc::channel::<Attempt>();
    if has_steps {
        let taken = match cep_exec::Store::has_run(&store_path, &step_run) {
            Ok(t) => t,
            Err(e) => {
                fail(&e.0);
                return EXIT_USAGE;
            }
        };
        let opened = match cep_exec::Store::open(
            &store_path,
            program.clone(),
            &input_name,
            &step_run,
            taken.then_some(step_run.as_str()),
            wall_ms(),
        ) {
            Ok(x) => x,
            Err(e) => {
                fail(&e.0);
                return EXIT_USAGE;
            }
        };
        let tx = etx.clone();
        let exec = match cep_exec::Executor::new(
            move |f| {
                let _ = tx.send(Attempt::Done(f));
            },
            move |run, attempt, group| {
                let _ = etx.send(Attempt::Started(run, attempt, group));
            },
        ) {
            Ok(x) => x,
            Err(e) => {
                fail(&format!("cannot start the step executor: {e}"));
                return EXIT_USAGE;
            }
        };
        if let Some(r) = opened.resumed {
            // What a killed `cep` left running ends before anything reruns.
            cep_exec::end_orphans(&step_run, &r.orphans);
            resumed = Some(r);
        }
        steps = Some(StepEdge {
            store: opened.store,
            exec,
            run_id: step_run,
            dirs: rule_dirs(&program),
        });
    }
    // What earlier lives wrote: marks, completions, and lines not yet out.
    let mut restored = Restored::default();
    for e in &life.emitted {
        match wire::decode_entry(&e.entry) {
            Ok((run, state)) => {
                restored.emitted.insert(run);
                restored.completed.insert(run, state);
            }
            Err(why) => {
                fail(&format!(
                    "store `{}`: the mark of run `{}` cannot be read ({why}); \
                     without it the run could be written twice: give the store this peer wrote",
                    show_path(&store_path),
                    e.run
                ));
                return EXIT_FAIL;
            }
        }
    }
    let mut out_len = match repair_output(&o.output, &life, out_before) {
        Ok(n) => n,
        Err(m) => {
            fail(&m);
            return EXIT_FAIL;
        }
    };
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
    let skip = if is_stdio(&o.input) { 0 } else { life.position };
    let (out, dead, step_log) = match (
        Sink::append(&o.output),
        o.dead_letter.as_deref().map(Sink::append).transpose(),
        o.step_log.as_deref().map(Sink::append).transpose(),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(m), _, _) | (_, Err(m), _) | (_, _, Err(m)) => {
            fail(&m);
            return EXIT_USAGE;
        }
    };
    let mut outputs = Outputs {
        out,
        dead,
        steps: step_log.map(StepLog::new),
        history: None,
        encoder: Encoder::new(&program),
        line: Vec::with_capacity(1024),
        dead_letters: 0,
        refused: 0,
        not_accepting: 0,
        written,
        unwritten: 0,
    };
    let transport = match Transport::start(c.transport.clone()) {
        Ok(t) => t,
        Err(e) => {
            fail(&e.to_string());
            return EXIT_USAGE;
        }
    };
    // One clock for the protocol's periods and the steps' delays: the
    // wall clock, epoch ms.
    let now = wall_ms;
    let settings = Settings {
        ping_ms: p.ping_ms,
        resync_ms: p.resync_ms,
        program: program_id(&program),
        ..Settings::default()
    };
    let engine = Engine::new(
        program.clone(),
        Config {
            instance: o.instance.clone(),
            max_delay_ms: 0,
            max_runs: o.max_runs,
            track_runs: true,
            track_processes: false,
            member: c.me,
        },
    );
    let members = u16::try_from(c.names.len()).unwrap_or(u16::MAX);
    let node = Node::new(
        c.me,
        members,
        life.incarnation,
        settings,
        Some(restored),
        now(),
    );
    let mut m = if has_steps {
        let scheduler = Scheduler::new(
            program.clone(),
            StepConfig {
                max_concurrent: o.max_concurrent,
                on_failure: o.on_failure,
            },
        );
        Member::with_steps(engine, node, scheduler, c.names.clone())
    } else {
        Member::new(engine, node)
    };
    // The runs this member had made, back in the engine and the node.
    let mut states = Vec::new();
    for (name, e) in &life.runs {
        match wire::decode_entry(e) {
            Ok(s) => states.push(s),
            Err(why) => {
                fail(&format!(
                    "store `{}`: the state of run `{name}` cannot be read ({why})",
                    show_path(&store_path)
                ));
                return EXIT_FAIL;
            }
        }
    }
    m.restore(now(), states);
    m.resume_after(skip);
    let mut step = Step::default();
    if let Some(r) = resumed {
        let how = if o.mode == Mode::Continue {
            cep_runtime::steps::Resume::Continue
        } else {
            cep_runtime::steps::Resume::Recover
        };
        m.restore_steps(how, r.seen, r.runs, now(), &mut step);
    }
    let stage = ingest::Stage::new(&program, o.max_line_bytes, skip);
    let mut feed = Feed::start(source, stage, o.threads);
    let mut input_done = false;
    let mut counts = Counts::default();
    let mut signal = None;
    let mut done_since: Option<Instant> = None;
    let mut read_failed = false;
    let mut finished: BTreeSet<(i64, String)> = BTreeSet::new();
    // What the store holds for this life (a pipe starts again at 0).
    let mut recorded = m.position();
    let result: Result<(), Stop> = 'run: loop {
        // Own input, read ahead of the cluster up to a bound.
        while !input_done && m.waiting() < AHEAD {
            let Some(next) = feed.poll() else { break };
            let mut batch = |b: &mut Batch| -> Result<(), Stop> {
                counts.lines += b.read;
                for item in b.items.drain(..) {
                    match item.what {
                        Decoded::Event { event, sequence } => {
                            counts.events += 1;
                            m.offer_in(event, sequence);
                        }
                        Decoded::Rejected(r) => {
                            let text = b.text.get(item.text).unwrap_or(&[]);
                            outputs.dead_letter(item.line, &r, text)?;
                        }
                    }
                }
                Ok(())
            };
            let r = match next {
                Next::Batch(mut b) => {
                    let r = batch(&mut b);
                    feed.recycle(b);
                    r
                }
                Next::End(mut b) => {
                    input_done = true;
                    batch(&mut b)
                }
                Next::Error(e) => {
                    // The cluster still finishes; this peer exits 1.
                    fail(&format!("cannot read {input_name}: {}", why(&e)));
                    read_failed = true;
                    input_done = true;
                    Ok(())
                }
                Next::Stop(s) => {
                    signal = Some(s);
                    break 'run Ok(());
                }
                Next::StopNow => break 'run Ok(()),
                _ => Ok(()),
            };
            if input_done {
                m.end_input();
            }
            if let Err(e) = r {
                break 'run Err(e);
            }
        }
        // Peers.
        let mut heard = false;
        while let Some(ev) = transport.try_recv() {
            heard = true;
            handle(&mut m, ev, now(), &mut step);
        }
        // Steps: attempts that ended, delays and back-offs that are due.
        if let Some(se) = steps.as_mut() {
            if let Err(e) = attempts(&mut m, se, &erx, &program, &mut step) {
                break 'run Err(e);
            }
        }
        m.step(now(), &mut step);
        if let Err(e) = act(
            &mut m,
            &transport,
            &mut store,
            steps.as_mut(),
            &mut outputs,
            &mut step,
            &c.names,
            &program,
            &mut out_len,
            &mut finished,
            &mut recorded,
            &mut counts,
        ) {
            break 'run Err(e);
        }
        if m.done() {
            // Stay a moment to acknowledge the peers' last messages.
            let since = *done_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_millis(300) {
                break 'run Ok(());
            }
        } else {
            done_since = None;
        }
        if !heard {
            if let Some(ev) = transport.recv_timeout(Duration::from_millis(2)) {
                handle(&mut m, ev, now(), &mut step);
            }
        }
    };
    // Steps after a signal: nothing new starts, running attempts get
    // `--grace` to end (their ends are recorded), then are killed (their
    // runs stay active in the store, taken up by the next life).
    let result = match (result, steps.as_mut()) {
        (Ok(()), Some(se)) if signal.is_some() => {
            m.halt_steps();
            let grace = Instant::now() + Duration::from_millis(o.grace_ms);
            let mut r = Ok(());
            while r.is_ok() && m.scheduler().is_some_and(Scheduler::busy) && Instant::now() < grace
            {
                std::thread::sleep(Duration::from_millis(5));
                r = attempts(&mut m, se, &erx, &program, &mut step).and_then(|()| {
                    act(
                        &mut m,
                        &transport,
                        &mut store,
                        Some(se),
                        &mut outputs,
                        &mut step,
                        &c.names,
                        &program,
                        &mut out_len,
                        &mut finished,
                        &mut recorded,
                        &mut counts,
                    )
                });
            }
            if m.scheduler().is_some_and(Scheduler::busy) {
                se.exec.kill_all();
            }
            r
        }
        (r, _) => r,
    };
    if let Some(se) = steps.as_mut() {
        se.exec.shutdown();
        let outcome = match signal {
            Some(s) => format!("stopped by {}", super::input::signal_name(s)),
            None if m.scheduler().is_some_and(|s| s.stats().unhandled > 0) => "failure".into(),
            None => "success".into(),
        };
        if let Err(e) = se
            .store
            .commit()
            .and_then(|()| se.store.end_run(&outcome, wall_ms()))
        {
            fail(&e.0);
            read_failed = true;
        }
    }
    if result.is_ok() && signal.is_none() {
        // The end of the input: process instances not accepting.
        let mut outs = Vec::new();
        m.acceptance(&mut outs);
        for o in &outs {
            if let Err(e) = outputs.engine(m.engine(), o, (0, &[]), None) {
                fail(&match e {
                    Stop::Io(m) => m,
                    Stop::Closed => "the output was closed".into(),
                });
                read_failed = true;
                break;
            }
        }
    }
    let flushed = outputs.flush();
    let stats = m.node().stats();
    let t = transport.stats();
    err(&format!(
        "cep run: instance {} (member {} of {}, incarnation {}): {} lines, {} events, {} complex events written ({} learned from peers), {} dead letters; \
         peers: sent {} ({} bytes), received {}, refused {}, out of order {}, stash {}, resyncs {}, not queued {}{}\n",
        o.instance,
        c.me,
        c.names.len(),
        life.incarnation,
        counts.lines,
        counts.events,
        counts.written,
        counts.learned,
        outputs.dead_letters,
        stats.sent,
        stats.bytes_sent,
        stats.received,
        stats.refused - stats.out_of_order + t.refused,
        stats.out_of_order,
        m.node().stash_size(),
        stats.resyncs,
        t.dropped,
        if m.node().missing().is_empty() {
            String::new()
        } else {
            format!(
                "; warning: finished without {}",
                m.node()
                    .missing()
                    .iter()
                    .filter_map(|&i| c.names.get(usize::from(i)).cloned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    ));
    if let Some(st) = m.scheduler().map(Scheduler::stats) {
        err(&super::step_summary(&st, false));
    }
    let unhandled = m.scheduler().is_some_and(|s| s.stats().unhandled > 0);
    transport.shutdown();
    match (result, flushed) {
        (Err(Stop::Io(e)), _) | (_, Err(Stop::Io(e))) => {
            fail(&e);
            EXIT_FAIL
        }
        _ => match signal {
            Some(s) => 128 + u8::try_from(s).unwrap_or(0),
            None if read_failed || unhandled => EXIT_FAIL,
            None => EXIT_OK,
        },
    }
}

#[derive(Default)]
struct Counts {
    lines: u64,
    events: u64,
    written: u64,
    learned: u64,
    oversized: u64,
    warned_program: std::collections::HashSet<u16>,
}

/// The step side of a member: its step store (the same file as the peer
/// tables), the executor, and what attempts are told of themselves.
struct StepEdge {
    store: cep_exec::Store,
    exec: cep_exec::Executor,
    /// The store's run of this instance (`peer-<instance>`).
    run_id: String,
    dirs: Vec<PathBuf>,
}

/// What the executor reports, on a channel of its own.
enum Attempt {
    Done(cep_exec::Finished),
    Started(u64, u32, i32),
}

/// Gives the member the attempts that ended and the wall clock when a
/// delay, back-off or timeout is due; records process groups.
fn attempts(
    m: &mut Member,
    se: &mut StepEdge,
    rx: &std::sync::mpsc::Receiver<Attempt>,
    program: &Program,
    step: &mut Step,
) -> Result<(), Stop> {
    while let Ok(a) = rx.try_recv() {
        match a {
            Attempt::Done(f) => {
                if let Some(s) = m.scheduler() {
                    attempt_output(program, s, &f);
                }
                m.ended(f.run, f.attempt, f.outcome, wall_ms(), step);
            }
            Attempt::Started(run, attempt, group) => se
                .store
                .attempt_group(run, attempt, group)
                .map_err(|e| Stop::Io(e.0))?,
        }
    }
    let now = wall_ms();
    if m.scheduler()
        .and_then(Scheduler::next_wake)
        .is_some_and(|w| w <= now)
    {
        m.time(now, step);
    }
    Ok(())
}

fn handle(m: &mut Member, ev: cep_peers::Event, now: i64, step: &mut Step) {
    match ev {
        cep_peers::Event::Frame { from, bytes } => m.receive_from(now, from, &bytes, step),
        cep_peers::Event::Connected(p) => m.connected(now, p, step),
        cep_peers::Event::Disconnected(p) => m.departed(p),
        cep_peers::Event::Refused { reason, .. } => {
            err(&format!("cep run: peer connection refused: {reason}\n"));
        }
    }
}

/// The rules as peers compare them: the low 64 bits of the program's
/// hash (`Program::program_hash`, `fnv1a64:<16 hex digits>`).
fn program_id(program: &Program) -> u64 {
    let h = program.program_hash();
    let hex = h.rsplit(':').next().unwrap_or("");
    u64::from_str_radix(hex, 16).unwrap_or(0)
}

/// Does what a step of the member says: records the complex events, the
/// input position and the step records in the store (committed), then
/// writes them, the dead letters, sends the frames and starts the
/// attempts.
#[allow(clippy::too_many_arguments)]
fn act(
    m: &mut Member,
    transport: &Transport,
    store: &mut cep_exec::PeerStore,
    mut steps: Option<&mut StepEdge>,
    outputs: &mut Outputs,
    step: &mut Step,
    names: &[String],
    program: &Program,
    out_len: &mut u64,
    finished: &mut BTreeSet<(i64, String)>,
    recorded: &mut u64,
    counts: &mut Counts,
) -> Result<(), Stop> {
    counts.learned += step.learned;
    for &peer in &step.other_program {
        if counts.warned_program.insert(peer) {
            let name = names.get(usize::from(peer)).map_or("?", String::as_str);
            err(&format!(
                "cep run: warning: peer {name} runs other rules than this member: its messages are refused; give every member the same rules\n"
            ));
        }
    }
    if step.oversized > 0 {
        counts.oversized += step.oversized;
        err(&format!(
            "cep run: warning: {} run state(s) larger than a frame ({} bytes) not shared with the peers\n",
            step.oversized,
            Settings::default().max_frame
        ));
    }
    let mut batch = Vec::new();
    let mut at = *out_len;
    for (run, c, state) in &step.emits {
        // The node marks each run written once, across lives.
        let name = run_name(names, program, run);
        let mut line = Vec::new();
        // In a cluster only the complex event's own run is named. One
        // not written still gets its mark (with no line).
        if outputs.writes(c.pattern) {
            outputs.encoder.complex_in_cluster(
                c,
                |_, _| name.clone(),
                |i| names.get(usize::from(i)).cloned().unwrap_or_default(),
                &mut line,
            );
        } else {
            outputs.unwritten += 1;
        }
        let entry = wire::encode_entry(run, state);
        batch.push(cep_exec::Emitted {
            run: name,
            entry,
            at,
            line,
        });
        at += batch.last().map_or(0, |e| e.line.len() as u64);
    }
    let runs: Vec<(String, Vec<u8>)> = step
        .changed
        .iter()
        .map(|(run, state)| {
            let name = run_name(names, program, run);
            if state.finished() {
                finished.insert((state.expires, name.clone()));
            }
            (name, wire::encode_entry(run, state))
        })
        .collect();
    // Finished runs whose window the whole cluster has passed: no peer
    // can bring them back.
    let wm = m.node().cluster_watermark();
    let mut gone = Vec::new();
    while finished.first().is_some_and(|(e, _)| *e < wm) {
        if let Some((_, name)) = finished.pop_first() {
            gone.push(name);
        }
    }
    // The scheduler's records go into the step store's transaction;
    // attempts start only once it is committed.
    let mut starts = Vec::new();
    for o in step.steps.drain(..) {
        match o {
            StepOutput::Record(r) => {
                if let Some(se) = steps.as_deref_mut() {
                    se.store.apply(&r).map_err(|e| Stop::Io(e.0))?;
                }
                if let Some(log) = outputs.steps.as_mut() {
                    log.record(program, &r)?;
                }
            }
            StepOutput::Start {
                run,
                attempt,
                action,
            } => starts.push((run, attempt, action)),
            StepOutput::Kill { run, attempt } => {
                if let Some(se) = steps.as_deref() {
                    se.exec.kill(run, attempt);
                }
            }
            StepOutput::Emit { .. } => {}
        }
    }
    // Write-ahead: what this step decided and made is durable before a
    // line is written, a frame sent or an attempt started.
    let peer_rows =
        !batch.is_empty() || !runs.is_empty() || !gone.is_empty() || m.position() != *recorded;
    match steps.as_deref_mut() {
        Some(se) if peer_rows => store
            .record_with(&mut se.store, m.position(), &batch, &runs, &gone)
            .map_err(|e| Stop::Io(e.0))?,
        Some(se) => se.store.commit().map_err(|e| Stop::Io(e.0))?,
        None if peer_rows => store
            .record(m.position(), &batch, &runs, &gone)
            .map_err(|e| Stop::Io(e.0))?,
        None => {}
    }
    if peer_rows {
        *recorded = m.position();
    }
    for e in batch.iter().filter(|e| !e.line.is_empty()) {
        outputs.out.write(&e.line)?;
        *out_len += e.line.len() as u64;
        counts.written += 1;
    }
    let latest = None;
    for o in &step.outputs {
        outputs.engine(m.engine(), o, (0, &[]), latest)?;
    }
    for (to, bytes) in step.send.drain(..) {
        transport.send(to, bytes);
    }
    if !batch.is_empty() {
        outputs.out.flush()?;
    }
    if let Some(se) = steps.as_deref() {
        for (run, attempt, action) in starts {
            let who = match m.scheduler() {
                Some(s) => identity(
                    program,
                    &se.dirs,
                    s,
                    &se.run_id,
                    se.store.recovery(),
                    run,
                    attempt,
                ),
                None => continue,
            };
            se.exec.start(run, attempt, action, who);
        }
    }
    step.clear();
    Ok(())
}

/// Makes the output (`len` bytes now) agree with the store before
/// anything is appended: cuts a torn last line and writes the lines
/// recorded but not written. The output's length after.
fn repair_output(path: &std::path::Path, life: &cep_exec::Life, len: u64) -> Result<u64, String> {
    let name = show_path(path);
    let (cut, missing) = life.unwritten(len);
    if missing.is_empty() {
        return Ok(len);
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot write `{name}`: {}", why(&e)))?;
    let mut len = len;
    if let Some(c) = cut {
        f.set_len(c)
            .map_err(|e| format!("cannot write `{name}`: {}", why(&e)))?;
        len = c;
    }
    for e in missing {
        f.write_all(&e.line)
            .map_err(|e| format!("cannot write `{name}`: {}", why(&e)))?;
        len += e.line.len() as u64;
    }
    f.sync_data()
        .map_err(|e| format!("cannot write `{name}`: {}", why(&e)))?;
    Ok(len)
}
