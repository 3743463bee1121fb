//! What the peer tests share: rules whose runs span peers when the input
//! is split by sensor, a seeded event generator, and one instance's
//! output to compare with.

#![allow(dead_code)]

use cep_runtime::{Config, Engine, Event, Output, Value};
use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::sync::Arc;

pub const RULES: &str = r#"
event R { s: int, room: int, v: int, at: time }

pattern Up partition by room {
    a: R
    next b: R where v > a.v
    emit { room: a.room, from: a.v, to: b.v }
}

pattern Quiet partition by room {
    a: R where v > 7
    not R within 40ms
    emit { room: a.room, v: a.v }
}

pattern Three within 100ms {
    a: R where v < 3
    then b: R where v > a.v + 4
    then c: R where v < b.v
    halt on R where v == 0
    emit { x: a.v, y: b.v, z: c.v }
}

pattern Rise partition by room within 60ms {
    first: R where v < 4
    then any ups: R{2,} where v > prev.v
    emit { room: first.room, n: count(ups), top: last(ups.v) }
}

pattern Again partition by room {
    u: Up
    then w: Up where to > u.to
    emit { room: u.room, a: u.to, b: w.to }
}

pattern Calm {
    q: Quiet
    then r: Quiet where v < q.v
    emit { a: q.v, b: r.v }
}
"#;

pub const PEERS: u16 = 3;

/// Rules that allow lookahead by partition (no pattern over complex
/// events, no steps): `R`'s patterns are partitioned by sensor, so with
/// the input split by sensor no two peers touch one of their partitions
/// and their events need not wait for each other; `W`'s are partitioned
/// by room, or not at all, so they span peers and wait as usual.
pub const PARTITIONED: &str = r#"
event R { s: int, room: int, v: int, at: time }
event W { s: int, room: int, v: int, at: time }

pattern Up partition by s {
    a: R
    next b: R where v > a.v
    emit { s: a.s, from: a.v, to: b.v }
}

pattern Quiet partition by s {
    a: R where v > 7
    not R within 40ms
    emit { s: a.s, v: a.v }
}

pattern Rise partition by s within 60ms {
    first: R where v < 4
    then any ups: R{2,} where v > prev.v
    emit { s: first.s, n: count(ups), top: last(ups.v) }
}

pattern Three partition by s within 100ms {
    a: R where v < 3
    then b: R where v > a.v + 4
    then c: R where v < b.v
    halt on R where v == 0
    emit { x: a.v, y: b.v, z: c.v }
}

pattern Room partition by room {
    a: W
    next b: W where v > a.v
    emit { room: a.room, from: a.v, to: b.v }
}

pattern Any within 50ms {
    a: W where v > 5
    then b: W where v < a.v
    emit { a: a.v, b: b.v }
}
"#;

/// The program of `rules`.
pub fn program_of(rules: &str) -> Arc<cep_ir::Program> {
    let c = cep_compiler::compile_str("peers.cep", rules);
    assert!(!c.has_errors(), "{:#?}", c.diagnostics);
    Arc::new(c.program.expect("program"))
}

/// As `events`, of both types of `PARTITIONED` (`R` three times in
/// four).
pub fn events_rw(seed: u64, n: usize) -> Vec<Event> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed ^ 0x77);
    events(seed, n)
        .into_iter()
        .map(|mut e| {
            if rng.next_u32() % 4 == 0 {
                e.ty = 1;
            }
            e
        })
        .collect()
}

pub fn program() -> Arc<cep_ir::Program> {
    let c = cep_compiler::compile_str("peers.cep", RULES);
    assert!(!c.has_errors(), "{:#?}", c.diagnostics);
    Arc::new(c.program.expect("program"))
}

/// `n` events with distinct, increasing times; each names its sensor.
pub fn events(seed: u64, n: usize) -> Vec<Event> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let mut t = 1_000;
    (0..n)
        .map(|i| {
            t += 1 + i64::from(rng.next_u32() % 30);
            let s = i64::from(rng.next_u32() % 6);
            let room = i64::from(rng.next_u32() % 2);
            let v = i64::from(rng.next_u32() % 10);
            Event::new(
                0,
                t,
                i as u64 + 1,
                vec![
                    Value::Int(s),
                    Value::Int(room),
                    Value::Int(v),
                    Value::Time(t),
                ],
            )
        })
        .collect()
}

pub type Record = (u32, String);

pub fn record(ty: u32, fields: &[Value]) -> Record {
    (ty, format!("{fields:?}"))
}

pub fn single(program: &Arc<cep_ir::Program>, evs: &[Event]) -> Vec<Record> {
    let mut e = Engine::new(program.clone(), Config::default());
    let mut out = Vec::new();
    for ev in evs {
        e.push(ev.clone(), &mut out);
    }
    e.finish(&mut out);
    let mut r: Vec<Record> = out
        .iter()
        .filter_map(|o| match o {
            Output::Complex(c) => Some(record(c.event.ty, &c.event.fields)),
            _ => None,
        })
        .collect();
    r.sort();
    r
}
