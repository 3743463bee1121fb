//! Three peers, each with its own engine, share run state over a perfect
//! network (frames delivered at once, in order), with the input split by
//! sensor while the patterns are partitioned by room or not at all, so
//! that runs span peers. What every peer writes must equal a single
//! instance's output on the same events: the same complex events (types
//! and fields), each run id once, and the same run ids on every peer.
//!
//! The rules cover strict contiguity (`next`), skipping (`then`), forks
//! (`then any` groups), a trailing absence (completed by a deadline), a
//! window, a halt, and patterns over other patterns' complex events
//! (which only the peer that made them feeds on), one of them completed
//! by a deadline (which only one peer handles). Times are distinct, as
//! docs/peers.md requires for the equality.

use cep_runtime::peer::member::{Member, Step};
use cep_runtime::peer::{Node, RunKey, Settings};
use cep_runtime::{Config, Engine, Event, Output, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

mod peers_common;

use peers_common::{events, program, record, single, Record, PEERS};

struct Written {
    records: Vec<Record>,
    runs: Vec<RunKey>,
    dead: usize,
}

/// Runs the three peers to the end; what each wrote.
fn cluster(program: &Arc<cep_ir::Program>, evs: &[Event]) -> Vec<Written> {
    let mut members: Vec<Member> = (0..PEERS)
        .map(|m| {
            let engine = Engine::new(
                program.clone(),
                Config {
                    track_runs: true,
                    member: m,
                    instance: format!("p{m}"),
                    ..Config::default()
                },
            );
            let node = Node::new(m, PEERS, 1, Settings::default(), None, 0);
            Member::new(engine, node)
        })
        .collect();
    // Split by sensor.
    for ev in evs {
        let Value::Int(s) = ev.fields[0] else {
            unreachable!()
        };
        members[(s % i64::from(PEERS)) as usize].offer(ev.clone());
    }
    let mut written: Vec<Written> = (0..PEERS)
        .map(|_| Written {
            records: Vec::new(),
            runs: Vec::new(),
            dead: 0,
        })
        .collect();
    let mut step = Step::default();
    let mut frames: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut take = |m: usize, step: &mut Step, frames: &mut Vec<(u16, Vec<u8>)>| {
        for (run, c, _) in step.emits.drain(..) {
            written[m].records.push(record(c.event.ty, &c.event.fields));
            written[m].runs.push(run);
        }
        written[m].dead += step
            .outputs
            .iter()
            .filter(|o| matches!(o, Output::Late(_) | Output::Refused { .. }))
            .count();
        assert_eq!(step.refused, 0, "member {m} refused a frame");
        for (to, bytes) in step.send.drain(..) {
            frames.push((to, [m as u8].into_iter().chain(bytes).collect()));
        }
        step.clear();
    };
    for m in 0..PEERS {
        members[m as usize].end_input();
        for p in (0..PEERS).filter(|&p| p != m) {
            members[m as usize].connected(0, p, &mut step);
            take(m as usize, &mut step, &mut frames);
        }
    }
    let mut now = 0;
    for _round in 0..100_000 {
        for m in 0..PEERS as usize {
            members[m].step(now, &mut step);
            take(m, &mut step, &mut frames);
        }
        while !frames.is_empty() {
            for (to, bytes) in std::mem::take(&mut frames) {
                members[usize::from(to)].receive(now, &bytes[1..], &mut step);
                take(usize::from(to), &mut step, &mut frames);
            }
        }
        if members.iter().all(Member::done) {
            return written;
        }
        now += 1;
    }
    panic!(
        "the cluster did not finish: waiting {:?}",
        members.iter().map(Member::waiting).collect::<Vec<_>>()
    );
}

fn check(seed: u64, n: usize) {
    let program = program();
    let evs = events(seed, n);
    let want = single(&program, &evs);
    let got = cluster(&program, &evs);
    let ids: Vec<HashSet<RunKey>> = got
        .iter()
        .map(|w| w.runs.iter().copied().collect())
        .collect();
    for (m, w) in got.iter().enumerate() {
        let mut records = w.records.clone();
        records.sort();
        if records != want {
            fn count(v: &[Record]) -> BTreeMap<&Record, i64> {
                let mut c = BTreeMap::new();
                v.iter().for_each(|r| *c.entry(r).or_default() += 1);
                c
            }
            let (a, b) = (count(&records), count(&want));
            let extra: Vec<_> = a.iter().filter(|(r, n)| b.get(*r) < Some(n)).collect();
            let missing: Vec<_> = b.iter().filter(|(r, n)| a.get(*r) < Some(n)).collect();
            panic!(
                "seed {seed}: member {m} wrote other complex events than one instance \
                 ({} against {}): not expected {extra:?}, missing {missing:?}",
                records.len(),
                want.len()
            );
        }
        assert_eq!(
            ids[m].len(),
            w.runs.len(),
            "seed {seed}: member {m} wrote a run twice"
        );
        assert_eq!(
            ids[m], ids[0],
            "seed {seed}: members 0 and {m} name the runs differently"
        );
        assert_eq!(w.dead, 0, "seed {seed}: member {m} had dead letters");
    }
}

#[test]
fn three_peers_write_what_one_instance_writes() {
    let mut per_type: BTreeMap<u32, usize> = BTreeMap::new();
    let program = program();
    for seed in 0..300 {
        check(seed, 60);
        for (ty, _) in single(&program, &events(seed, 60)) {
            *per_type.entry(ty).or_default() += 1;
        }
    }
    // Every pattern matched somewhere: the comparison covers each.
    assert_eq!(per_type.len(), 6, "{per_type:?}");
    assert!(per_type.values().all(|&n| n >= 20), "{per_type:?}");
}

#[test]
fn one_long_stream() {
    check(12_345, 2_000);
}
