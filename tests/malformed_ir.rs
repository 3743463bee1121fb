//! A compiled IR can be written by hand (`cep run rules.json`): one with
//! a cycle of moves that take no event must not hang or overflow the
//! stack; its runs end.

use cep_ir::Edge;
use cep_runtime::{Config, Engine, Event, Output, Value};
use std::sync::Arc;

#[test]
fn a_cycle_of_moves_without_an_event_ends_the_run() {
    let src = "event A { k: int, at: time }\n\
               pattern P within 1m {\n    a: A\n    then g: ( _x: A ){1,3}\n    emit { n: count(g) }\n}\n";
    let c = cep_compiler::compile_str("cycle.cep", src);
    assert!(!c.has_errors(), "{:#?}", c.diagnostics);
    let mut program = c.program.expect("program");
    // The group's entry state opens onto itself.
    let pat = &mut program.patterns[0];
    let entry = pat
        .states
        .iter()
        .position(|s| s.edges.iter().any(|e| matches!(e, Edge::Open { .. })))
        .expect("an entry state");
    for e in &mut pat.states[entry].edges {
        if let Edge::Open { target, .. } = e {
            *target = u16::try_from(entry).expect("small");
        }
    }
    let mut engine = Engine::new(Arc::new(program), Config::default());
    let mut out = Vec::new();
    for i in 0..5u64 {
        let t = 1000 * i as i64;
        engine.push(
            Event::new(0, t, i, vec![Value::Int(1), Value::Time(t)]),
            &mut out,
        );
    }
    engine.finish(&mut out);
    assert!(
        !out.iter().any(|o| matches!(o, Output::Complex(_))),
        "a match through a malformed automaton"
    );
}
