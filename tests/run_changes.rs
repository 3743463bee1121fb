//! Run changes: what peers will share. With `track_runs`, every run that is
//! created, takes an event, completes or ends is reported, in order.

use cep_runtime::matcher::End;
use cep_runtime::{Change, Config, Engine, Event, Output, Value};
use std::sync::Arc;

fn engine(src: &str) -> Engine {
    let c = cep_compiler::compile_str("changes.cep", src);
    assert!(!c.has_errors(), "{:#?}", c.diagnostics);
    Engine::new(
        Arc::new(c.program.expect("program")),
        Config {
            track_runs: true,
            ..Config::default()
        },
    )
}

fn tick(t: i64, v: i64) -> Event {
    Event::new(0, t, t as u64, vec![Value::Int(v), Value::Time(t)])
}

/// The changes as (run, change) pairs, and the complex events as runs.
fn changes(out: &[Output]) -> Vec<String> {
    out.iter()
        .map(|o| match o {
            Output::Run(r) => format!("{} {:?}", r.run, r.change),
            Output::Complex(c) => format!("{} match", c.run),
            Output::Late(e) => format!("late {}", e.source),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_run_is_created_takes_events_and_completes() {
    let mut e = engine(
        "event T { v: int, at: time }\npattern Up {\n    a: T\n    next b: T where v > a.v\n    emit { from: a.v, to: b.v }\n}\n",
    );
    let mut out = Vec::new();
    e.push(tick(1, 5), &mut out);
    e.push(tick(2, 7), &mut out);
    e.push(tick(3, 1), &mut out);
    // seq numbers are the engine's order of processing: the complex event
    // that event 2 completes is processed third, so event 3 is seq 4.
    assert_eq!(
        changes(&out),
        [
            "1 Created { from: None, key: [] }",
            "1 Took { binding: 0, seq: 1 }",
            // Event 2 completes run 1 and starts run 2.
            "2 Created { from: None, key: [] }",
            "1 Took { binding: 1, seq: 2 }",
            "2 Took { binding: 0, seq: 2 }",
            "1 Completed",
            "1 match",
            // Event 3 breaks run 2 (strict, not higher) and starts run 3.
            "3 Created { from: None, key: [] }",
            "3 Took { binding: 0, seq: 4 }",
            "2 Ended(Killed)",
        ]
    );
}

#[test]
fn halts_forks_and_expiry_are_reported() {
    let mut e = engine(
        "event T { v: int, at: time }\npattern Any within 10ms {\n    a: T where v == 1\n    then any b: T where v == 2\n    halt on T where v == 9\n    emit { n: b.v }\n}\n",
    );
    let mut out = Vec::new();
    e.push(tick(1, 1), &mut out);
    e.push(tick(2, 2), &mut out);
    let fork = changes(&out);
    // `then any`: run 1 takes the 2 and completes; a fork keeps waiting.
    assert!(
        fork.contains(&"2 Created { from: Some(1), key: [] }".to_string()),
        "{fork:?}"
    );
    assert!(fork.contains(&"1 match".to_string()), "{fork:?}");
    out.clear();
    e.push(tick(3, 9), &mut out);
    assert_eq!(changes(&out), ["2 Ended(Halted)"]);
    out.clear();
    e.push(tick(4, 1), &mut out);
    e.finish(&mut out);
    let ended: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Run(r) => match r.change {
                Change::Ended(end) => Some((r.run, end)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(ended, [(3, End::Expired)]);
}

const ROOMS: &str = "event R { room: str, v: int, at: time }\npattern Warm within 10ms partition by room {\n    a: R where v == 1\n    next b: R where v == 2\n    emit { room: a.room, first: a.at, second: b.at }\n}\n";

fn reading(t: i64, room: &str, v: i64) -> Event {
    Event::new(
        0,
        t,
        t as u64,
        vec![Value::Str(room.into()), Value::Int(v), Value::Time(t)],
    )
}

fn created_key(out: &[Output]) -> Option<(u64, Vec<Value>)> {
    out.iter().find_map(|o| match o {
        Output::Run(r) => match &r.change {
            Change::Created { key, .. } => Some((r.run, key.to_vec())),
            _ => None,
        },
        _ => None,
    })
}

/// A run started on one engine continues on another: what peers do with
/// a run they learn (`Engine::run`, `new_run_id`, `put_run`). The second
/// engine completes it with the same complex event a single engine gives.
#[test]
fn a_run_handed_to_another_engine_completes_there_as_on_one() {
    let mut single = engine(ROOMS);
    let mut out = Vec::new();
    single.push(reading(1, "hall", 1), &mut out);
    single.push(reading(2, "hall", 2), &mut out);
    let expected: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Complex(c) => Some(c.event.fields.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(expected.len(), 1);

    let (mut a, mut b) = (engine(ROOMS), engine(ROOMS));
    let mut out = Vec::new();
    a.push(reading(1, "hall", 1), &mut out);
    let (id, key) = created_key(&out).expect("a run was created");
    assert_eq!(key, vec![Value::Str("hall".into())]);
    let run = a.run(0, &key, id).expect("live on A").clone();
    let mine = b.new_run_id(0).expect("pattern 0");
    assert!(b.put_run(0, &key, cep_runtime::run::Run { id: mine, ..run }));
    assert_eq!(b.footprint().runs, 1);
    let mut out = Vec::new();
    b.push(reading(2, "hall", 2), &mut out);
    let got: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Complex(c) => Some((c.run, c.event.fields.clone(), c.matched.len())),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![(mine, expected[0].clone(), 2)]);
}

/// A learned run expires at its window like a local one, and one taken
/// out (it ended elsewhere) is gone; the complex event of a run completed
/// elsewhere is built from its events alone.
#[test]
fn learned_runs_expire_can_be_taken_out_and_give_their_complex_event() {
    let mut a = engine(ROOMS);
    let mut out = Vec::new();
    a.push(reading(1, "hall", 1), &mut out);
    a.push(reading(1, "attic", 1), &mut out);
    let runs: Vec<(u64, Vec<Value>)> = out
        .iter()
        .filter_map(|o| match o {
            Output::Run(r) => match &r.change {
                Change::Created { key, .. } => Some((r.run, key.to_vec())),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(runs.len(), 2);
    let mut b = engine(ROOMS);
    let mut ids = Vec::new();
    for (id, key) in &runs {
        let run = a.run(0, key, *id).expect("live").clone();
        let mine = b.new_run_id(0).expect("pattern");
        b.put_run(0, key, cep_runtime::run::Run { id: mine, ..run });
        ids.push(mine);
    }
    assert_eq!(b.footprint().runs, 2);
    let gone = b.take_run(0, &runs[1].1, ids[1]).expect("there");
    assert_eq!(gone.id, ids[1]);
    assert!(b.take_run(0, &runs[1].1, ids[1]).is_none());
    assert_eq!(b.footprint().runs, 1);
    let mut out = Vec::new();
    b.advance(11, &mut out);
    assert_eq!(changes(&out), [format!("{} Ended(Expired)", ids[0])]);
    assert_eq!(b.footprint().runs, 0);

    // A completion learned from a peer: the record from the events alone.
    let mut c = engine(ROOMS);
    let mut out = Vec::new();
    c.push(reading(5, "hall", 1), &mut out);
    c.push(reading(6, "hall", 2), &mut out);
    let done = out
        .iter()
        .find_map(|o| match o {
            Output::Complex(x) => Some(x.clone()),
            _ => None,
        })
        .expect("completed");
    let mut chain = cep_runtime::run::Chain::default();
    for (b, e) in &done.matched.to_vec() {
        chain = chain.push(*b, e.clone());
    }
    let learned = a.complex_of(0, 77, &chain, 6).expect("pattern");
    assert_eq!(learned.event.fields, done.event.fields);
    assert_eq!(
        (learned.run, learned.event.time, learned.matched.len()),
        (77, 6, 2)
    );
    assert_eq!(
        a.stats().complex_out,
        0,
        "a learned complex event is not counted as made here"
    );
}
