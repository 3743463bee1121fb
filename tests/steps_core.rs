//! The step scheduler and the runner (engine + scheduler) as pure state
//! machines, driven by a simulated wall clock and scripted attempt
//! outcomes: sequences, triggers, statuses, delays, retries, timeouts,
//! pools, concurrency and failure policy, and a property test over random
//! workloads (at most one run per step and sequence, pools never over
//! capacity, every unit given back, the same inputs give the same
//! outputs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::Rng;

use cep_ir::{Program, Status};
use cep_runtime::{
    Config, Engine, Event, OnFailure, Outcome, Record, Resolved, RunOutput, Runner, Scheduler,
    StepConfig, StepOutput, Value,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

fn program(text: &str) -> Arc<Program> {
    let c = cep_compiler::compile_str("steps.cep", text);
    assert!(!c.has_errors(), "{:#?}", c.diagnostics);
    Arc::new(c.program.unwrap())
}

/// How an attempt goes: how long it takes (wall ms) and how it ends.
type Script = Box<dyn FnMut(&str, u32, &Resolved) -> (i64, Outcome)>;

fn ok_after(ms: i64) -> Script {
    Box::new(move |_, _, _| (ms, Outcome::Success))
}

fn fail() -> Outcome {
    Outcome::Failure {
        exit: Some(1),
        http: None,
        detail: "exit status 1".into(),
    }
}

/// One input event at a wall time.
struct In {
    at: i64,
    ty: &'static str,
    fields: Vec<Value>,
    sequence: Option<&'static str>,
}

fn ev(at: i64, ty: &'static str, fields: Vec<Value>) -> In {
    In {
        at,
        ty,
        fields,
        sequence: None,
    }
}

fn s(v: &str) -> Value {
    Value::Str(Arc::from(v))
}

/// A simulated world: the runner, a wall clock, the attempts in flight.
struct Sim {
    p: Arc<Program>,
    runner: Runner,
    now: i64,
    /// (run, attempt) → (ends at, outcome).
    running: BTreeMap<(u64, u32), (i64, Outcome)>,
    script: Script,
    /// One line per thing that happened, for assertions.
    log: Vec<String>,
    /// Step run → (step name, sequence).
    runs: HashMap<u64, (String, String)>,
    /// Units held per resource over time, checked against capacity.
    held: Vec<u64>,
    max_held: Vec<u64>,
    outputs: Vec<RunOutput>,
}

impl Sim {
    fn new(text: &str, config: StepConfig, script: Script) -> Sim {
        let p = program(text);
        let engine = Engine::new(p.clone(), Config::default());
        let steps = Scheduler::new(p.clone(), config);
        let n = p.resources.len();
        Sim {
            p: p.clone(),
            runner: Runner::new(engine, steps),
            now: 0,
            running: BTreeMap::new(),
            script,
            log: Vec::new(),
            runs: HashMap::new(),
            held: vec![0; n],
            max_held: vec![0; n],
            outputs: Vec::new(),
        }
    }

    fn step_name(&self, run: u64) -> String {
        self.runs.get(&run).map(|r| r.0.clone()).unwrap_or_default()
    }

    fn handle(&mut self, outs: Vec<RunOutput>) {
        for o in outs {
            self.outputs.push(o.clone());
            match o {
                RunOutput::Engine(cep_runtime::Output::Complex(c)) => {
                    let name = &self.p.events[c.event.ty as usize].name;
                    self.log.push(format!("{}: complex {name}", self.now));
                }
                RunOutput::Engine(_) => {}
                RunOutput::Step(StepOutput::Record(r)) => self.record(r),
                RunOutput::Step(StepOutput::Start {
                    run,
                    attempt,
                    action,
                }) => {
                    let name = self.step_name(run);
                    let (dur, outcome) = (self.script)(&name, attempt, &action);
                    self.log
                        .push(format!("{}: start {name} #{attempt}", self.now));
                    self.running
                        .insert((run, attempt), (self.now + dur, outcome));
                }
                RunOutput::Step(StepOutput::Kill { run, attempt }) => {
                    let name = self.step_name(run);
                    self.log
                        .push(format!("{}: kill {name} #{attempt}", self.now));
                    self.running.remove(&(run, attempt));
                }
                RunOutput::Step(StepOutput::Emit { event, sequence }) => {
                    let name = &self.p.events[event.ty as usize].name;
                    self.log
                        .push(format!("{}: emit {name} in {sequence}", self.now));
                }
            }
        }
    }

    fn record(&mut self, r: Record) {
        match r {
            Record::Created {
                run,
                step,
                sequence,
                due,
                ..
            } => {
                let name = self.p.steps[step as usize].name.clone();
                self.log.push(format!(
                    "{}: ready {name} in {sequence} due {due}",
                    self.now
                ));
                self.runs.insert(run, (name, sequence.to_string()));
            }
            Record::Granted { run, .. } => {
                let step = self.step_index(run);
                for a in &self.p.steps[step].acquire {
                    let i = a.resource as usize;
                    self.held[i] += a.units;
                    self.max_held[i] = self.max_held[i].max(self.held[i]);
                    assert!(
                        self.held[i] <= self.p.resources[i].capacity,
                        "pool {} over capacity",
                        self.p.resources[i].name
                    );
                }
                let name = self.step_name(run);
                self.log.push(format!("{}: active {name}", self.now));
            }
            Record::Ended { run, status, .. } => {
                let step = self.step_index(run);
                // Units are given back only by runs that were granted.
                let granted = self
                    .outputs
                    .iter()
                    .any(|o| matches!(o, RunOutput::Step(StepOutput::Record(Record::Granted { run: g, .. })) if *g == run));
                if granted {
                    for a in &self.p.steps[step].acquire {
                        self.held[a.resource as usize] -= a.units;
                    }
                }
                let name = self.step_name(run);
                self.log
                    .push(format!("{}: {} {name}", self.now, status.name()));
            }
            Record::AttemptEnded {
                run,
                attempt,
                retry_at: Some(at),
                ..
            } => {
                let name = self.step_name(run);
                self.log.push(format!(
                    "{}: retry {name} after #{attempt} at {at}",
                    self.now
                ));
            }
            Record::Attempt { .. }
            | Record::AttemptEnded { .. }
            | Record::Seen { .. }
            | Record::Requeued { .. }
            | Record::Skipped { .. } => {}
        }
    }

    fn step_index(&self, run: u64) -> usize {
        let name = self.step_name(run);
        self.p.steps.iter().position(|s| s.name == name).unwrap()
    }

    /// Feeds the inputs in time order, completing attempts and waking
    /// timers as the simulated clock reaches them, then the end of input,
    /// and runs until the runner is done (or nothing more can happen).
    fn run(&mut self, inputs: Vec<In>) {
        let mut inputs: std::collections::VecDeque<In> = inputs.into();
        let mut line = 0;
        let mut ended = false;
        for _ in 0..100_000 {
            let next_input = inputs.front().map(|i| i.at);
            let next_done = self.running.values().map(|v| v.0).min();
            let next_wake = self.runner.steps.next_wake();
            let next = [next_input, next_done, next_wake]
                .into_iter()
                .flatten()
                .min();
            let Some(t) = next else {
                if !ended {
                    ended = true;
                    let mut out = Vec::new();
                    self.runner.end_input(self.now, &mut out);
                    self.handle(out);
                    continue;
                }
                break;
            };
            self.now = self.now.max(t);
            let mut out = Vec::new();
            if next_done == Some(t) {
                let (&(run, attempt), _) = self.running.iter().find(|(_, v)| v.0 == t).unwrap();
                let (_, outcome) = self.running.remove(&(run, attempt)).unwrap();
                self.runner.ended(run, attempt, outcome, self.now, &mut out);
            } else if next_wake == Some(t) {
                self.runner.time(self.now, &mut out);
            } else {
                let i = inputs.pop_front().unwrap();
                line += 1;
                let ty = self.p.event_by_name(i.ty).unwrap();
                // The event time is the time field's value when the type
                // has one; the wall clock is separate.
                let time = self.p.events[ty as usize]
                    .time_field
                    .and_then(|slot| match i.fields.get(usize::from(slot)) {
                        Some(Value::Time(t)) => Some(*t),
                        _ => None,
                    })
                    .unwrap_or(i.at);
                let e = Event::new(ty, time, line, i.fields);
                self.runner
                    .input(e, i.sequence.map(Arc::from), self.now, &mut out);
            }
            self.handle(out);
        }
        if !ended {
            let mut out = Vec::new();
            self.runner.end_input(self.now, &mut out);
            self.handle(out);
        }
    }

    fn lines(&self, what: &str) -> Vec<String> {
        self.log
            .iter()
            .filter(|l| l.contains(what))
            .cloned()
            .collect()
    }
}

const CHAIN: &str = r#"
event Go { job: str, at: time }
event S1Done { job: str }
event S2Done { job: str }

step s1 {
    on Go
    run "prog1" args [Go.job]
    on success emit S1Done { job: Go.job }
}

step s2 {
    on S1Done
    run "prog2" args [S1Done.job]
    on success emit S2Done { job: S1Done.job }
}

step s3 {
    on S2Done
    run "prog3" args [S2Done.job]
}
"#;

/// Eventor's simple example: three steps, each started by the success of
/// the one before, all in the sequence the first event started.
#[test]
fn three_step_chain_runs_in_order_in_one_sequence() {
    let mut sim = Sim::new(CHAIN, StepConfig::default(), ok_after(10));
    sim.run(vec![ev(0, "Go", vec![s("j1"), Value::Time(0)])]);
    assert_eq!(
        sim.lines("start"),
        vec!["0: start s1 #1", "10: start s2 #1", "20: start s3 #1"]
    );
    assert_eq!(
        sim.lines("ready"),
        vec![
            "0: ready s1 in line-1 due 0",
            "10: ready s2 in line-1 due 10",
            "20: ready s3 in line-1 due 20"
        ]
    );
    assert!(sim.runner.done());
    let st = sim.runner.steps.stats();
    assert_eq!((st.runs, st.succeeded, st.failed), (3, 3, 0));
    // The argument was evaluated from the trigger.
    let args: Vec<Vec<String>> = sim
        .outputs
        .iter()
        .filter_map(|o| match o {
            RunOutput::Step(StepOutput::Start {
                action: Resolved::Run { args, .. },
                ..
            }) => Some(args.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(args, vec![vec!["j1"], vec!["j1"], vec!["j1"]]);
}

const AND_OR: &str = r#"
event A { n: int }
event B { n: int }
event C { n: int }

step either {
    on A or B
    emit C { n: 1 }
}

step both {
    on A and B
    run "both"
}
"#;

/// `or` fires on its second operand too (Eventor's `or_` fires only on
/// its first); `and` needs both in one sequence; a repeated event in one
/// sequence triggers nothing more; another sequence runs the steps again.
#[test]
fn and_or_and_duplicates_per_sequence() {
    let mut sim = Sim::new(AND_OR, StepConfig::default(), ok_after(5));
    let mut b_only = ev(0, "B", vec![Value::Int(1)]);
    b_only.sequence = Some("x");
    let mut a = ev(1, "A", vec![Value::Int(1)]);
    a.sequence = Some("y");
    let mut b = ev(2, "B", vec![Value::Int(2)]);
    b.sequence = Some("y");
    let mut b_again = ev(3, "B", vec![Value::Int(3)]);
    b_again.sequence = Some("y");
    let mut a_again = ev(4, "A", vec![Value::Int(4)]);
    a_again.sequence = Some("y");
    // Independent input events (no sequence named) never combine by `and`.
    let lone_a = ev(5, "A", vec![Value::Int(5)]);
    let lone_b = ev(6, "B", vec![Value::Int(6)]);
    sim.run(vec![b_only, a, b, b_again, a_again, lone_a, lone_b]);
    assert_eq!(
        sim.lines("ready"),
        vec![
            "0: ready either in x due 0",
            "1: ready either in y due 1",
            "2: ready both in y due 2",
            "5: ready either in line-6 due 5",
            "6: ready either in line-7 due 6"
        ]
    );
}

/// `after` delays the start on the wall clock; `retry n backoff d` tries
/// again d after each failed attempt, up to n more times; the run fails
/// only when the last attempt fails, and `on failure` handles it.
#[test]
fn delays_and_retries_with_backoff() {
    let text = r#"
event Go { n: int }
event Failed { n: int }

step flaky {
    on Go
    after 100ms
    run "flaky"
    retry 2 backoff 50ms
    on failure emit Failed { n: Go.n }
}
"#;
    let mut sim = Sim::new(
        text,
        StepConfig::default(),
        Box::new(|_, _, _| (10, fail())),
    );
    sim.run(vec![ev(0, "Go", vec![Value::Int(7)])]);
    assert_eq!(
        sim.lines("start"),
        vec![
            "100: start flaky #1",
            "160: start flaky #2",
            "220: start flaky #3"
        ]
    );
    assert_eq!(
        sim.lines("retry"),
        vec![
            "110: retry flaky after #1 at 160",
            "170: retry flaky after #2 at 220"
        ]
    );
    assert_eq!(sim.lines("failure"), vec!["230: failure flaky"]);
    assert_eq!(sim.lines("emit"), vec!["230: emit Failed in line-1"]);
    // Handled: the whole run did not stop.
    assert!(!sim.runner.steps.stopped());
    assert_eq!(sim.runner.steps.stats().unhandled, 0);
}

/// A timeout kills the attempt (a `Kill` output), counts it as failed at
/// once, and the late report of the killed attempt is ignored.
#[test]
fn a_timeout_kills_the_attempt_and_a_late_report_is_ignored() {
    let text = r#"
event Go { n: int }
event Done { n: int }

step slow {
    on Go
    run "sleep" args ["10"]
    timeout 1s
    retry 1
    on complete emit Done { n: Go.n }
}
"#;
    let mut sim = Sim::new(
        text,
        StepConfig::default(),
        Box::new(|_, attempt, _| {
            if attempt == 1 {
                (5000, Outcome::Success)
            } else {
                (10, Outcome::Success)
            }
        }),
    );
    sim.run(vec![ev(0, "Go", vec![Value::Int(1)])]);
    assert_eq!(
        sim.lines("start")
            .into_iter()
            .chain(sim.lines("kill"))
            .collect::<Vec<_>>(),
        vec![
            "0: start slow #1",
            "1000: start slow #2",
            "1000: kill slow #1"
        ]
    );
    assert_eq!(sim.lines("success"), vec!["1010: success slow"]);
    assert_eq!(sim.runner.steps.stats().timed_out, 1);
    // The killed attempt's report (had it come) is ignored.
    let mut out = Vec::new();
    sim.runner.ended(1, 1, fail(), 6000, &mut out);
    assert!(out.is_empty(), "{out:?}");
}

const POOL: &str = r#"
event Go { n: int }

resource pump capacity 1
resource slots capacity 2

step pumped {
    on Go
    acquire pump 1
    run "pump"
}

step slotted {
    on Go
    acquire slots 1
    run "slot"
}
"#;

/// A pool of 1 serialises its runs in the order they asked; a pool of 2
/// never has more than 2 holders; every unit is given back.
#[test]
fn pools_grant_in_request_order_and_never_exceed_capacity() {
    let mut sim = Sim::new(POOL, StepConfig::default(), ok_after(100));
    sim.run((0..3).map(|i| ev(i, "Go", vec![Value::Int(i)])).collect());
    assert_eq!(
        sim.lines("start pumped"),
        vec![
            "0: start pumped #1",
            "100: start pumped #1",
            "200: start pumped #1"
        ]
    );
    let pumped_seqs: Vec<String> = sim
        .lines("active pumped")
        .iter()
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect();
    assert_eq!(pumped_seqs, vec!["0", "100", "200"]);
    assert_eq!(sim.max_held, vec![1, 2]);
    assert_eq!(sim.held, vec![0, 0]);
    // In request order: the run of line 1 first, then 2, then 3.
    let order: Vec<String> = sim
        .outputs
        .iter()
        .filter_map(|o| match o {
            RunOutput::Step(StepOutput::Record(Record::Granted { run, .. })) => {
                let (name, seq) = sim.runs[run].clone();
                (name == "pumped").then_some(seq)
            }
            _ => None,
        })
        .collect();
    assert_eq!(order, vec!["line-1", "line-2", "line-3"]);
}

/// `--max-concurrent 1` over all steps together.
#[test]
fn max_concurrent_counts_every_step() {
    let config = StepConfig {
        max_concurrent: Some(1),
        ..StepConfig::default()
    };
    let mut sim = Sim::new(POOL, config, ok_after(100));
    sim.run(vec![ev(0, "Go", vec![Value::Int(0)])]);
    assert_eq!(
        sim.lines("start"),
        vec!["0: start pumped #1", "100: start slotted #1"]
    );
}

const FAILING: &str = r#"
event Go { n: int }

step bad {
    on Go
    run "false"
}

step later {
    on Go
    after 1s
    run "true"
}
"#;

/// An unhandled failure under `stop`: nothing new starts (the delayed
/// `later` never does), running attempts finish; under `continue` the
/// rest goes on.
#[test]
fn an_unhandled_failure_stops_or_continues() {
    let script = || -> Script {
        Box::new(|step, _, _| {
            if step == "bad" {
                (10, fail())
            } else {
                (10, Outcome::Success)
            }
        })
    };
    let mut sim = Sim::new(FAILING, StepConfig::default(), script());
    sim.run(vec![ev(0, "Go", vec![Value::Int(0)])]);
    assert_eq!(sim.lines("start"), vec!["0: start bad #1"]);
    assert!(sim.runner.steps.stopped());
    assert!(!sim.runner.steps.busy());
    assert_eq!(sim.runner.steps.stats().unhandled, 1);

    let config = StepConfig {
        on_failure: OnFailure::Continue,
        ..StepConfig::default()
    };
    let mut sim = Sim::new(FAILING, config, script());
    sim.run(vec![ev(0, "Go", vec![Value::Int(0)])]);
    assert_eq!(
        sim.lines("start"),
        vec!["0: start bad #1", "1000: start later #1"]
    );
    assert_eq!(sim.runner.steps.stats().unhandled, 1);
}

/// A step on a complex event runs in the sequence of the pattern run; a
/// pattern matches events a step emitted; at the end of the input, the
/// trailing absence completes only after the step work is done (event
/// time stands still meanwhile), and its complex event triggers a step
/// too.
#[test]
fn steps_and_patterns_feed_each_other() {
    let text = r#"
event Reading { k: str, v: int, at: time }
event Alarm { k: str }

pattern High partition by k {
    r: Reading where v > 10
    emit { k: r.k }
}

step raise {
    on High
    after 1s
    emit Alarm { k: High.k }
}

pattern Alarmed partition by k {
    a: Alarm
    emit { k: a.k }
}

pattern Quiet partition by k {
    r: Reading
    not Reading within 1m
    emit { k: r.k }
}

step note {
    on Alarmed or Quiet
    run "note"
}
"#;
    let mut sim = Sim::new(text, StepConfig::default(), ok_after(10));
    sim.run(vec![ev(
        0,
        "Reading",
        vec![s("a"), Value::Int(11), Value::Time(5000)],
    )]);
    assert_eq!(
        sim.log,
        vec![
            "0: complex High",
            "0: ready raise in cep-High-1 due 1000",
            "1000: active raise",
            "1000: emit Alarm in cep-High-1",
            "1000: success raise",
            "1000: complex Alarmed",
            "1000: ready note in cep-Alarmed-1 due 1000",
            "1000: active note",
            "1000: start note #1",
            "1010: success note",
            "1010: complex Quiet",
            "1010: ready note in cep-Quiet-1 due 1010",
            "1010: active note",
            "1010: start note #1",
            "1020: success note",
        ]
    );
    // The emitted Alarm was stamped with the event time reached (5000),
    // not with the wall clock (1000); Quiet completed at 5000 + 1m.
    let times: Vec<(String, i64)> = sim
        .outputs
        .iter()
        .filter_map(|o| match o {
            RunOutput::Engine(cep_runtime::Output::Complex(c)) => {
                Some((sim.p.events[c.event.ty as usize].name.clone(), c.event.time))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        times,
        vec![
            ("High".to_string(), 5000),
            ("Alarmed".to_string(), 5000),
            ("Quiet".to_string(), 65000)
        ]
    );
    assert!(sim.runner.done());
}

// ---- property test ---------------------------------------------------------------------

const WORKLOAD: &str = r#"
event Go { n: int }
event Mid { n: int }
event Fin { n: int }

resource one capacity 1
resource two capacity 2

step first {
    on Go
    acquire one 1
    run "first"
    timeout 50ms
    retry 2 backoff 20ms
    on success emit Mid { n: Go.n }
    on failure emit Fin { n: Go.n }
}

step second {
    on Mid
    after 30ms
    acquire one 1
    acquire two 2
    run "second"
    retry 1
    on complete emit Fin { n: Mid.n }
}

step third {
    on Go or Mid
    acquire two 1
    run "third"
}

step last {
    on Fin and Go
    emit Mid { n: 0 }
}
"#;

fn workload(seed: u64) -> (Vec<String>, Sim) {
    let mut rng = Rng::new(seed);
    let max_concurrent = [None, Some(1), Some(3)][rng.below(3)];
    let on_failure = if rng.chance(50) {
        OnFailure::Stop
    } else {
        OnFailure::Continue
    };
    let config = StepConfig {
        max_concurrent,
        on_failure,
    };
    let mut outcomes = Rng::new(seed ^ 0x5eed);
    let script: Script = Box::new(move |_, _, _| {
        let dur = [1, 10, 40, 80][outcomes.below(4)];
        let out = if outcomes.chance(70) {
            Outcome::Success
        } else {
            fail()
        };
        (dur, out)
    });
    let mut sim = Sim::new(WORKLOAD, config, script);
    let n = 1 + rng.below(12);
    let mut t = 0;
    let inputs = (0..n)
        .map(|i| {
            t += [0, 5, 30][rng.below(3)];
            let mut e = ev(t, "Go", vec![Value::Int(i as i64)]);
            if rng.chance(30) {
                e.sequence = Some(["p", "q"][rng.below(2)]);
            }
            e
        })
        .collect();
    sim.run(inputs);
    (sim.log.clone(), sim)
}

#[test]
fn property_random_workloads_keep_the_invariants() {
    let cases = std::env::var("CEP_STEPS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500u64);
    let only: Option<u64> = std::env::var("CEP_STEPS_SEED")
        .ok()
        .and_then(|v| v.parse().ok());
    let seeds: Vec<u64> = match only {
        Some(s) => vec![s],
        None => (0..cases).collect(),
    };
    for seed in seeds {
        let (log, sim) = workload(seed);
        let replay = || {
            format!("seed {seed}: replay with CEP_STEPS_SEED={seed} cargo test --test steps_core property")
        };
        // At most one run per (step, sequence).
        let mut seen = std::collections::HashSet::new();
        for (name, seq) in sim.runs.values() {
            assert!(
                seen.insert((name.clone(), seq.clone())),
                "{}: {name} twice in {seq}",
                replay()
            );
        }
        // Pools never over capacity (asserted as it ran) and all given back.
        assert_eq!(sim.held, vec![0, 0], "{}", replay());
        // Every run ended, unless an unhandled failure stopped the rest.
        if !sim.runner.steps.stopped() {
            let st = sim.runner.steps.stats();
            assert_eq!(
                st.runs,
                st.succeeded + st.failed,
                "{}\n{}",
                replay(),
                log.join("\n")
            );
            assert!(sim.runner.done(), "{}", replay());
        } else {
            assert!(!sim.runner.steps.busy(), "{}", replay());
        }
        // Nothing is in flight at the end.
        assert!(sim.running.is_empty(), "{}: {:?}", replay(), sim.running);
        // The same inputs and outcomes give the same outputs.
        let (again, _) = workload(seed);
        assert_eq!(log, again, "{}", replay());
    }
}

/// A status is recorded in order for every run: ready, then active, then
/// success or failure.
#[test]
fn statuses_come_in_order() {
    for seed in 0..100 {
        let (_, sim) = workload(seed);
        let mut state: HashMap<u64, u8> = HashMap::new();
        for o in &sim.outputs {
            let RunOutput::Step(StepOutput::Record(r)) = o else {
                continue;
            };
            match r {
                Record::Created { run, .. } => assert!(state.insert(*run, 0).is_none()),
                Record::Granted { run, .. } => {
                    assert_eq!(state.insert(*run, 1), Some(0), "seed {seed}")
                }
                Record::Attempt { run, .. } => assert_eq!(state.get(run), Some(&1), "seed {seed}"),
                Record::Ended { run, status, .. } => {
                    assert!(matches!(status, Status::Success | Status::Failure));
                    let before = state.insert(*run, 2);
                    assert!(matches!(before, Some(1) | Some(0)), "seed {seed}");
                }
                Record::AttemptEnded { .. }
                | Record::Seen { .. }
                | Record::Requeued { .. }
                | Record::Skipped { .. } => {}
            }
        }
    }
}

/// Status triggers for `ready` and `active`: a step waiting for its delay
/// emits on `ready` at once, and on `active` when its attempt starts;
/// those events trigger other steps in the same sequence.
#[test]
fn ready_and_active_status_triggers() {
    let text = r#"
event Go { n: int }
event Queued { n: int }
event Started { n: int }

step slow {
    on Go
    after 500ms
    run "slow"
    on ready emit Queued { n: Go.n }
    on active emit Started { n: Go.n }
}

step tell_queued {
    on Queued
    run "tell"
}

step tell_started {
    on Started
    run "tell"
}
"#;
    let mut sim = Sim::new(text, StepConfig::default(), ok_after(10));
    sim.run(vec![ev(0, "Go", vec![Value::Int(1)])]);
    assert_eq!(
        sim.lines("ready"),
        vec![
            "0: ready slow in line-1 due 500",
            "0: ready tell_queued in line-1 due 0",
            "500: ready tell_started in line-1 due 500"
        ]
    );
    assert_eq!(
        sim.lines(": start "),
        vec![
            "0: start tell_queued #1",
            "500: start slow #1",
            "500: start tell_started #1"
        ]
    );
}
