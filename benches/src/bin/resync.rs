//! `resync [RUNS] [--repeat R]`: how long a restarted peer takes to be back
//! in sync by a RESYNC of RUNS live runs (default 100,000), through the
//! real protocol core and codec (`cep_runtime::peer::Node`) over a
//! perfect in-memory network: no sockets, no encryption, no store, so it
//! is the protocol's own cost. Beside it, the hand-written floor measured
//! in the same run: encoding every run state once with postcard (the
//! message encoding) and decoding it back, with nothing else.
//!
//! Node A holds RUNS active runs (each binding three events with two
//! fields); node B restarts (a new incarnation, RESET) and the two
//! exchange frames until B holds every run and neither has anything left
//! to send. Median of R (default 3). One line on standard output:
//!
//! ```text
//! resync: runs=100000 secs=0.512 messages=2081 bytes=24101234 floor_secs=0.101 ratio=5.07
//! ```

use cep_runtime::peer::{wire, Bound, Node, Out, Phase, Restored, RunKey, RunState, Settings};
use cep_runtime::Value;
use std::process::ExitCode;
use std::time::Instant;

fn state(i: u64) -> RunState {
    RunState {
        phase: Phase::Active,
        state: 2,
        count: 0,
        key: vec![Value::Int(i as i64 % 1_000)],
        expires: i64::MAX,
        bound: (0..3)
            .map(|b| Bound {
                binding: b,
                origin: 0,
                position: i * 3 + u64::from(b),
                ty: 0,
                time: 1_700_000_000_000 + i as i64,
                fields: vec![Value::Int(i as i64), Value::Float(i as f64 / 7.0)],
            })
            .collect(),
    }
}

/// One resync: seconds, messages, bytes.
fn once(runs: u64) -> (f64, u64, u64) {
    let settings = Settings::default();
    let mut a = Node::new(0, 2, 1, settings.clone(), Some(Restored::default()), 0);
    let mut sink = Vec::new();
    for i in 0..runs {
        let key = a.next_key(0);
        a.local(0, key, state(i), &mut sink);
    }
    sink.clear();
    let start = Instant::now();
    // B comes back: a new incarnation, nothing of its own.
    let mut b = Node::new(1, 2, 2, settings, Some(Restored::default()), 0);
    let (mut messages, mut bytes) = (0u64, 0u64);
    let mut now = 1;
    let mut to_a: Vec<Vec<u8>> = Vec::new();
    let mut to_b: Vec<Vec<u8>> = Vec::new();
    let mut out = Vec::new();
    b.connected(now, 0, &mut out);
    a.connected(now, 1, &mut out);
    loop {
        a.tick(now, &mut out);
        route(&mut out, &mut to_a, &mut to_b, &mut messages, &mut bytes);
        b.tick(now, &mut out);
        route(&mut out, &mut to_a, &mut to_b, &mut messages, &mut bytes);
        for f in std::mem::take(&mut to_b) {
            b.receive(now, &f, &mut out);
        }
        route(&mut out, &mut to_a, &mut to_b, &mut messages, &mut bytes);
        for f in std::mem::take(&mut to_a) {
            a.receive(now, &f, &mut out);
        }
        route(&mut out, &mut to_a, &mut to_b, &mut messages, &mut bytes);
        if b.runs().len() as u64 == runs
            && a.settled()
            && b.settled()
            && to_a.is_empty()
            && to_b.is_empty()
        {
            break;
        }
        now += 1;
        if now > 10_000_000 {
            break;
        }
    }
    (start.elapsed().as_secs_f64(), messages, bytes)
}

fn route(
    out: &mut Vec<Out>,
    to_a: &mut Vec<Vec<u8>>,
    to_b: &mut Vec<Vec<u8>>,
    n: &mut u64,
    b: &mut u64,
) {
    for o in out.drain(..) {
        if let Out::Send { to, bytes, .. } = o {
            *n += 1;
            *b += bytes.len() as u64;
            if to == 0 {
                to_a.push(bytes);
            } else {
                to_b.push(bytes);
            }
        }
    }
}

/// The floor: every state encoded and decoded once.
fn floor(runs: u64) -> f64 {
    let states: Vec<(RunKey, RunState)> = (0..runs)
        .map(|i| {
            (
                RunKey {
                    pattern: 0,
                    origin: 0,
                    incarnation: 1,
                    n: i + 1,
                },
                state(i),
            )
        })
        .collect();
    let start = Instant::now();
    let mut back = 0usize;
    for (k, s) in &states {
        let bytes = wire::encode_entry(k, s);
        if wire::decode_entry(&bytes).is_ok() {
            back += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(back);
    secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 100_000u64;
    let mut repeat = 3usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--repeat" => match it.next().and_then(|r| r.parse().ok()) {
                Some(r) => repeat = r,
                None => {
                    eprintln!("resync: --repeat needs a number");
                    return ExitCode::from(2);
                }
            },
            n => {
                match n.parse() {
                    Ok(n) => runs = n,
                    Err(_) => {
                        eprintln!("resync: `{n}` is not a number of runs; usage: resync [RUNS] [--repeat R]");
                        return ExitCode::from(2);
                    }
                }
            }
        }
    }
    let mut secs = Vec::new();
    let mut floors = Vec::new();
    let (mut messages, mut bytes) = (0, 0);
    for _ in 0..repeat.max(1) {
        floors.push(floor(runs));
        let (s, m, b) = once(runs);
        secs.push(s);
        (messages, bytes) = (m, b);
    }
    let (s, f) = (median(secs), median(floors));
    println!(
        "resync: runs={runs} secs={s:.3} messages={messages} bytes={bytes} floor_secs={f:.3} ratio={:.2}",
        if f > 0.0 { s / f } else { 0.0 }
    );
    ExitCode::SUCCESS
}
