//! Processes enforced: behaviour through the binary (refusals with their
//! reasons, acceptance records), and a differential property test of the
//! engine's enforcement against a small executor written here from the
//! definitions (Hildebrandt & Mukkamala; docs/runtime.md, "Processes").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::Rng;

use cep_runtime::history::{self, Lamport, Relation};
use cep_runtime::process::{ChangeKind, Marking, ProcessChange};
use cep_runtime::{Config, Engine, Event, Output, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;

fn run_cep(rules: &str, events: &[&str]) -> (Vec<String>, Vec<serde_json::Value>, String) {
    let dir =
        std::env::temp_dir().join(format!("cep-proc-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rules.cep"), rules).unwrap();
    std::fs::write(dir.join("events.ndjson"), events.join("\n") + "\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_cep"))
        .current_dir(&dir)
        .args([
            "run",
            "rules.cep",
            "--input",
            "events.ndjson",
            "--dead-letter",
            "dead.ndjson",
        ])
        .output()
        .unwrap();
    let dead = std::fs::read_to_string(dir.join("dead.ndjson")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect(),
        dead.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

const CLAIM: &str = r#"
event Submit  { claim_id: str, at: time }
event Review  { claim_id: str, at: time }
event Approve { claim_id: str, at: time }
event Reject  { claim_id: str, at: time }
event Pay     { claim_id: str, at: time }

process Claim by claim_id {
    activities Submit, Review, Approve, Reject, Pay
    excluded Pay
    Submit  -->*  Review
    Submit  *-->  Review
    Review  -->*  Approve
    Review  -->*  Reject
    Approve -->%  Reject
    Reject  -->%  Approve
    Approve -->+  Pay
    Approve *-->  Pay
    Pay     --<>  Approve
}

pattern Paid partition by claim_id within 1h {
    _a: Approve
    then _p: Pay
    emit { claim_id: _a.claim_id }
}
"#;

fn ev(ty: &str, id: &str, at: i64) -> String {
    format!(r#"{{"type":"{ty}","claim_id":"{id}","at":{at}}}"#)
}

/// Each relation kind refuses with its reason (condition, excluded,
/// milestone), a refused event reaches no pattern, the response makes an
/// activity required, and an instance not accepting at the end is
/// reported; one made by a refused event only is accepting.
#[test]
fn claims_are_enforced_with_reasons_and_acceptance() {
    let events = [
        ev("Submit", "c1", 1000),
        ev("Approve", "c1", 2000), // condition Review not yet
        ev("Review", "c1", 3000),
        ev("Approve", "c1", 4000),
        ev("Reject", "c1", 5000), // excluded by Approve
        ev("Submit", "c2", 6000), // Review now pending
        ev("Pay", "c1", 7000),
        ev("Review", "c3", 8000), // condition Submit not yet
        ev("Submit", "c4", 9000),
        ev("Review", "c4", 9100),
        ev("Approve", "c4", 9200), // Pay included and pending: milestone
        ev("Approve", "c4", 9300),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let (out, dead, err) = run_cep(CLAIM, &refs);
    assert_eq!(
        out,
        vec![
            r#"{"type":"Paid","claim_id":"c1","@cep":{"time":7000,"run":"cep-Paid-1","pattern":"Paid","events":[{"binding":"_a","line":4},{"binding":"_p","line":7}]}}"#,
            r#"{"type":"Claim.NotAccepting","claim_id":"c2","pending":["Review"]}"#,
            r#"{"type":"Claim.NotAccepting","claim_id":"c4","pending":["Pay"]}"#,
        ]
    );
    let got: Vec<(i64, String)> = dead
        .iter()
        .map(|d| {
            assert_eq!(d["reason"], "refused");
            (
                d["line"].as_i64().unwrap(),
                d["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (2, r#"`Approve` refused by process `Claim` (claim_id = "c1"): its condition `Review` has not happened"#.to_string()),
            (5, r#"`Reject` refused by process `Claim` (claim_id = "c1"): it is excluded"#.to_string()),
            (8, r#"`Review` refused by process `Claim` (claim_id = "c3"): its condition `Submit` has not happened"#.to_string()),
            (12, r#"`Approve` refused by process `Claim` (claim_id = "c4"): its milestone `Pay` is pending"#.to_string()),
        ]
    );
    assert!(
        err.contains(
            "cep run: 4 process instances, 2 not accepting at the end; 4 activity events refused"
        ),
        "{err}"
    );
}

/// An event that is an activity of two processes is executed only if it is
/// enabled in both, and then in both; include wins over exclude of the
/// same target; a self-response stays pending; a late activity event is
/// `late` and never reaches the process.
#[test]
fn several_processes_include_wins_self_response_and_late() {
    let rules = r#"
event A { k: str, at: time }
event B { k: str, at: time }
event C { k: str, at: time }

process P by k {
    activities A, B
    B -->* A
}

process Q by k {
    activities A, C
    A -->+ C
    A -->% C
    excluded C
    C *--> C
}
"#;
    let e = |ty: &str, at: i64| format!(r#"{{"type":"{ty}","k":"x","at":{at}}}"#);
    let events = [
        e("A", 1000),
        e("B", 2000),
        e("A", 3000),
        e("C", 4000),
        e("B", 500),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let (out, dead, _) = run_cep(rules, &refs);
    // Line 1: A refused by P (B not yet), so not executed in Q either (C
    // stays excluded); line 3: A passes both, includes C (include wins);
    // line 4: C runs and stays pending (self-response); line 5 is late.
    let reasons: Vec<(i64, String, String)> = dead
        .iter()
        .map(|d| {
            (
                d["line"].as_i64().unwrap(),
                d["reason"].as_str().unwrap().to_string(),
                d["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0].0, 1);
    assert!(reasons[0].2.contains("process `P`") && reasons[0].2.contains("condition `B`"));
    assert_eq!((reasons[1].0, reasons[1].1.as_str()), (5, "late"));
    assert_eq!(
        out,
        vec![r#"{"type":"Q.NotAccepting","k":"x","pending":["C"]}"#]
    );
}

// ---- differential property test --------------------------------------------------------

const KINDS: [(&str, u8); 5] = [
    ("-->*", 0),
    ("*-->", 1),
    ("-->+", 2),
    ("-->%", 3),
    ("--<>", 4),
];

/// A graph as the test's own executor sees it.
#[derive(Clone, Debug)]
struct Graph {
    n: usize,
    rel: Vec<(usize, u8, usize)>,
    pending: BTreeSet<usize>,
    excluded: BTreeSet<usize>,
    executed: BTreeSet<usize>,
    /// `idle D`, in milliseconds.
    idle: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Mark {
    executed: BTreeSet<usize>,
    pending: BTreeSet<usize>,
    included: BTreeSet<usize>,
}

impl Graph {
    fn random(rng: &mut Rng) -> Graph {
        let n = 5 + rng.below(4);
        let mut rel = Vec::new();
        for _ in 0..rng.below(2 * n + 1) {
            rel.push((rng.below(n), KINDS[rng.below(5)].1, rng.below(n)));
        }
        // Include and exclude of one target by one activity, and a
        // self-relation, often.
        if rng.chance(50) {
            let (a, b) = (rng.below(n), rng.below(n));
            rel.push((a, 2, b));
            rel.push((a, 3, b));
        }
        if rng.chance(50) {
            let a = rng.below(n);
            rel.push((a, KINDS[rng.below(5)].1, a));
        }
        let pick = |rng: &mut Rng| (0..n).filter(|_| rng.chance(20)).collect::<BTreeSet<_>>();
        Graph {
            n,
            rel,
            pending: pick(rng),
            excluded: pick(rng),
            executed: pick(rng),
            idle: rng.chance(50).then(|| 3 + rng.below(12) as i64),
        }
    }

    fn cep(&self) -> String {
        let mut s = String::new();
        for i in 0..self.n {
            let _ = writeln!(s, "event E{i} {{ k: int }}");
        }
        let names = |set: &BTreeSet<usize>| {
            set.iter()
                .map(|i| format!("E{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(s, "process P by k {{");
        let _ = writeln!(s, "    activities {}", names(&(0..self.n).collect()));
        for (kw, set) in [
            ("pending", &self.pending),
            ("excluded", &self.excluded),
            ("executed", &self.executed),
        ] {
            if !set.is_empty() {
                let _ = writeln!(s, "    {kw} {}", names(set));
            }
        }
        for (a, k, b) in &self.rel {
            let arrow = KINDS.iter().find(|x| x.1 == *k).unwrap().0;
            let _ = writeln!(s, "    E{a} {arrow} E{b}");
        }
        if let Some(d) = self.idle {
            let _ = writeln!(s, "    idle {d}ms");
        }
        let _ = writeln!(s, "}}");
        s
    }

    fn initial(&self) -> Mark {
        Mark {
            executed: self.executed.clone(),
            pending: self.pending.clone(),
            included: (0..self.n).filter(|i| !self.excluded.contains(i)).collect(),
        }
    }

    /// The definition, literally.
    fn enabled(&self, m: &Mark, a: usize) -> bool {
        m.included.contains(&a)
            && self.rel.iter().all(|&(f, k, t)| {
                !(t == a && k == 0 && m.included.contains(&f) && !m.executed.contains(&f))
                    && !(t == a && k == 4 && m.included.contains(&f) && m.pending.contains(&f))
            })
    }

    fn execute(&self, m: &mut Mark, a: usize) {
        m.executed.insert(a);
        m.pending.remove(&a);
        for &(f, k, t) in &self.rel {
            if f == a && k == 1 {
                m.pending.insert(t);
            }
        }
        for &(f, k, t) in &self.rel {
            if f == a && k == 3 {
                m.included.remove(&t);
            }
        }
        for &(f, k, t) in &self.rel {
            if f == a && k == 2 {
                m.included.insert(t);
            }
        }
    }
}

#[test]
fn enforcement_agrees_with_the_definition_on_random_graphs() {
    let cases = std::env::var("CEP_PROC_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400u64);
    for seed in 0..cases {
        let mut rng = Rng::new(0xdc4 ^ seed);
        let g = Graph::random(&mut rng);
        let text = g.cep();
        let c = cep_compiler::compile_str("p.cep", &text);
        let program = c
            .program
            .unwrap_or_else(|| panic!("seed {seed}: {:#?}\n{text}", c.diagnostics));
        let program = Arc::new(program);
        let mut engine = Engine::new(
            program.clone(),
            Config {
                track_processes: true,
                ..Config::default()
            },
        );
        let keys = 1 + rng.below(3);
        let mut want: BTreeMap<i64, Mark> = BTreeMap::new();
        let mut refused_want = Vec::new();
        let mut out = Vec::new();
        let mut clock = Lamport::new("t", 0);
        let mut log = Vec::new();
        let bits = |s: &BTreeSet<usize>| s.iter().fold(0u64, |b, i| b | (1 << i));
        let accepting = |m: &Mark| m.pending.intersection(&m.included).next().is_none();
        let mut last: BTreeMap<i64, i64> = BTreeMap::new();
        let mut t = 0i64;
        for line in 1..=(5 + rng.below(25)) as u64 {
            let a = rng.below(g.n);
            let k = rng.below(keys) as i64;
            t += 1 + rng.below(4) as i64;
            // `idle D`: before an event of time t, every accepting
            // instance quiet since t - D or earlier is retired.
            let mut retired_want: BTreeSet<i64> = BTreeSet::new();
            if let Some(d) = g.idle {
                for (key, at) in &last {
                    if at + d <= t && want.get(key).is_some_and(accepting) {
                        retired_want.insert(*key);
                    }
                }
                for key in &retired_want {
                    want.remove(key);
                    last.remove(key);
                }
            }
            last.insert(k, t);
            let m = want.entry(k).or_insert_with(|| g.initial());
            let before = m.clone();
            let enabled = g.enabled(m, a);
            if enabled {
                g.execute(m, a);
            } else {
                refused_want.push(line);
            }
            let ty = program.event_by_name(&format!("E{a}")).unwrap();
            let from = out.len();
            engine.push(Event::new(ty, t, line, vec![Value::Int(k)]), &mut out);
            // The change the core reports: the marking before and after,
            // as the definition has them.
            let retired_got: BTreeSet<i64> = out[from..]
                .iter()
                .filter_map(|o| match o {
                    Output::Process(ProcessChange {
                        kind: ChangeKind::Retired { .. },
                        key: Value::Int(k),
                        ..
                    }) => Some(*k),
                    _ => None,
                })
                .collect();
            assert_eq!(
                retired_got, retired_want,
                "seed {seed} line {line}: retired\n{text}"
            );
            let changes: Vec<&ProcessChange> = out[from..]
                .iter()
                .filter_map(|o| match o {
                    Output::Process(c) if !matches!(c.kind, ChangeKind::Retired { .. }) => Some(c),
                    _ => None,
                })
                .collect();
            assert_eq!(changes.len(), 1, "seed {seed} line {line}: one change");
            let c = changes[0];
            assert_eq!(c.key, Value::Int(k));
            let mark = |m: &Mark| (bits(&m.executed), bits(&m.pending), bits(&m.included));
            let as_tuple = |m: &Marking| (m.executed, m.pending, m.included);
            match &c.kind {
                ChangeKind::Executed {
                    activity,
                    before: b,
                    after,
                    ..
                } => {
                    assert!(enabled, "seed {seed} line {line}: executed, not enabled");
                    assert_eq!(*activity, a);
                    assert_eq!(as_tuple(b), mark(&before), "seed {seed} line {line}");
                    assert_eq!(as_tuple(after), mark(m), "seed {seed} line {line}");
                }
                ChangeKind::Refused {
                    activity, marking, ..
                } => {
                    assert!(!enabled, "seed {seed} line {line}: refused, but enabled");
                    assert_eq!(*activity, a);
                    assert_eq!(as_tuple(marking), mark(&before), "seed {seed} line {line}");
                }
                ChangeKind::Retired { .. } => unreachable!(),
            }
            let start = log.len();
            history::state_changes(engine.processes(), c, &mut clock, &mut log);
            // Every check in the log says what the definition says.
            for r in &log[start..] {
                let other =
                    |name: &Option<String>| name.as_deref().unwrap()[1..].parse::<usize>().unwrap();
                match r.relation {
                    Relation::ChecksCondition => {
                        let c = other(&r.counterpart);
                        let holds = !before.included.contains(&c) || before.executed.contains(&c);
                        assert_eq!(r.value, Some(holds), "seed {seed} line {line}: {r}");
                    }
                    Relation::ChecksMilestone => {
                        let c = other(&r.counterpart);
                        let holds = !before.included.contains(&c) || !before.pending.contains(&c);
                        assert_eq!(r.value, Some(holds), "seed {seed} line {line}: {r}");
                    }
                    Relation::Finish => {
                        assert_eq!(r.value, Some(enabled), "seed {seed} line {line}: {r}")
                    }
                    _ => {}
                }
            }
        }
        // The log of a run stitches with no fault, in the order written.
        let stitched = history::stitch(log.clone());
        assert!(
            stitched.faults.is_empty(),
            "seed {seed}: {:?}",
            stitched.faults
        );
        assert_eq!(
            stitched.records, log,
            "seed {seed}: stamp order is log order"
        );
        for (k, m) in &want {
            let got = engine.processes().marking("P", &Value::Int(*k)).unwrap();
            assert_eq!(
                (got.executed, got.pending, got.included),
                (bits(&m.executed), bits(&m.pending), bits(&m.included)),
                "seed {seed}: marking of key {k}\n{text}"
            );
        }
        engine.finish(&mut out);
        // At the end all time passes: with `idle`, every accepting
        // instance is retired.
        if g.idle.is_some() {
            for (k, m) in &want {
                if accepting(m) {
                    assert_eq!(
                        engine.processes().marking("P", &Value::Int(*k)),
                        None,
                        "seed {seed}: key {k} retired at the end\n{text}"
                    );
                }
            }
            want.retain(|_, m| !accepting(m));
        }
        let refused_got: Vec<u64> = out
            .iter()
            .filter_map(|o| match o {
                Output::Refused { event, .. } => Some(event.source),
                _ => None,
            })
            .collect();
        assert_eq!(
            refused_got, refused_want,
            "seed {seed} (CEP_PROC_CASES): refusals\n{text}"
        );
        for (k, m) in &want {
            let got = engine.processes().marking("P", &Value::Int(*k)).unwrap();
            assert_eq!(
                (got.executed, got.pending, got.included),
                (bits(&m.executed), bits(&m.pending), bits(&m.included)),
                "seed {seed}: marking of key {k}\n{text}"
            );
            assert_eq!(got.accepting(), accepting(m), "seed {seed}: acceptance");
        }
        let mut acc = Vec::new();
        engine.acceptance(&mut acc);
        let not_accepting = want
            .values()
            .filter(|m| m.pending.intersection(&m.included).next().is_some())
            .count();
        assert_eq!(
            acc.len(),
            not_accepting,
            "seed {seed}: not-accepting records"
        );
    }
}

/// `idle D`: an accepting instance quiet for D is retired (its key starts
/// over from the initial marking); one that is not accepting is kept; an
/// activity event, even a refused one, starts the quiet period over.
#[test]
fn idle_retires_quiet_accepting_instances_only() {
    let rules = r#"
event Submit { claim_id: str, at: time }
event Review { claim_id: str, at: time }

process Claim by claim_id {
    activities Submit, Review
    Submit -->* Review
    Submit *--> Review
    idle 1h
}
"#;
    let h = 3_600_000;
    let events = [
        ev("Submit", "c1", 0),
        ev("Review", "c1", 1000),             // c1 accepting from here
        ev("Submit", "c2", 2000),             // c2 waits for its Review
        ev("Review", "c3", 3000),             // refused; c3 accepting (nothing pending)
        ev("Review", "c1", 1000 + h),         // c1 retired at 1000 + 1h: starts over, refused
        ev("Review", "c3", 3000 + h - 1),     // refused again: quiet starts over
        ev("Review", "c2", 2000 + 2 * h),     // c2 was kept: allowed
        ev("Review", "c3", 3000 + 2 * h - 2), // c3 not yet retired: refused, same instance
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let (out, dead, err) = run_cep(rules, &refs);
    let lines: Vec<i64> = dead.iter().map(|d| d["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, vec![4, 5, 6, 8], "{dead:?}");
    assert!(dead.iter().all(|d| d["reason"] == "refused"), "{dead:?}");
    assert!(dead[1]["detail"]
        .as_str()
        .unwrap()
        .contains("its condition `Submit` has not happened"));
    assert!(out.is_empty(), "{out:?}");
    // c1 twice (retired once), c2, c3; at the end all time passes, so the
    // accepting ones are retired too.
    assert!(
        err.contains("cep run: 4 process instances (4 retired after `idle`, 0 live), 0 not accepting at the end; 4 activity events refused"),
        "{err}"
    );
}
