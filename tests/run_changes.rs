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
            "1 Created { from: None }",
            "1 Took { binding: 0, seq: 1 }",
            // Event 2 completes run 1 and starts run 2.
            "2 Created { from: None }",
            "1 Took { binding: 1, seq: 2 }",
            "2 Took { binding: 0, seq: 2 }",
            "1 Completed",
            "1 match",
            // Event 3 breaks run 2 (strict, not higher) and starts run 3.
            "3 Created { from: None }",
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
        fork.contains(&"2 Created { from: Some(1) }".to_string()),
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
