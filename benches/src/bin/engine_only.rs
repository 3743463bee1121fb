//! `engine_only INPUT [--repeat R] [CONFIG...]`: the engine's throughput
//! on pre-parsed events, with no I/O and no JSON in the timed part.
//!
//! INPUT (NDJSON ticks) is read and decoded into engine events first
//! (serde_json, once per distinct set of declared event types); then, for
//! each CONFIG, a fresh engine gets every event pushed in and is finished,
//! and only that loop is timed. A CONFIG is a `.cep` file, or
//! `blocks=N,window=W` for the generated rising-prices pattern with N
//! strict blocks and window W (a duration literal: `10s`, `1m`, `1h`;
//! either part may be left out: `blocks=3,window=10s` is the default).
//! Each CONFIG is run R times (default 1) and the median is reported, one
//! line per CONFIG on standard output:
//!
//! ```text
//! engine_only: config=blocks=3,window=10s events=1000000 matches=245154 secs=0.412 events_per_s=2427697 runs=3 shed=0 allocs_per_event=3.997 bytes_per_event=242
//! ```
//!
//! `allocs_per_event` and `bytes_per_event`: the heap allocations (and
//! the bytes they asked for) made in the timed loop of the last run,
//! divided by the events, counted by a counting global allocator
//! (`stats_alloc`) that wraps the system's.

use cep_benches::ticks::{compile, rise_rules, run_engine, Decoder};
use cep_ir::{EventType, Origin, Program};
use cep_runtime::Event;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Every allocation of this program goes through the counter.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn rules_of(config: &str) -> Result<(String, String), String> {
    if config.ends_with(".cep") {
        let text = std::fs::read_to_string(config).map_err(|e| format!("{config}: {e}"))?;
        return Ok((config.to_string(), text));
    }
    let (mut blocks, mut window) = (3usize, "10s".to_string());
    for part in config.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some(("blocks", n)) => {
                blocks = n
                    .parse()
                    .ok()
                    .filter(|n| *n >= 2)
                    .ok_or_else(|| format!("blocks must be a number >= 2, not {n:?}"))?
            }
            Some(("window", w)) => window = w.to_string(),
            _ => return Err(format!("bad config part {part:?}")),
        }
    }
    Ok((config.to_string(), rise_rules(blocks, &window)))
}

/// The declared event types with their ids: events decoded for one
/// program serve every program with the same declarations.
type Declared = Vec<(usize, EventType)>;

fn declared(p: &Program) -> Declared {
    p.events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.origin == Origin::Declared)
        .map(|(i, e)| (i, e.clone()))
        .collect()
}

fn run(args: &[String]) -> Result<(), String> {
    let mut input = None;
    let mut repeat = 1usize;
    let mut configs = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--repeat" {
            repeat = it
                .next()
                .and_then(|r| r.parse().ok())
                .filter(|r| *r > 0)
                .ok_or("--repeat takes a positive number")?;
        } else if input.is_none() {
            input = Some(a.clone());
        } else {
            configs.push(a.clone());
        }
    }
    let input = input.ok_or("usage: engine_only INPUT [--repeat R] [CONFIG...]")?;
    if configs.is_empty() {
        configs.push("blocks=3,window=10s".into());
    }
    let text = std::fs::read_to_string(&input).map_err(|e| format!("{input}: {e}"))?;
    let mut cache: Option<(Declared, Vec<Event>)> = None;
    for config in &configs {
        let (label, rules) = rules_of(config)?;
        let program = Arc::new(compile(&label, &rules)?);
        let decl = declared(&program);
        let events = match &cache {
            Some((d, events)) if *d == decl => events,
            _ => {
                let t = Instant::now();
                let events = Decoder::new(&program).decode_all(&text)?;
                eprintln!(
                    "engine_only: decoded {} events in {:.3} s (not timed below)",
                    events.len(),
                    t.elapsed().as_secs_f64()
                );
                &cache.insert((decl, events)).1
            }
        };
        let mut times = Vec::with_capacity(repeat);
        let mut matches = 0;
        let mut shed = 0;
        let mut allocs = stats_alloc::Stats::default();
        for _ in 0..repeat {
            let batch = events.clone();
            let region = Region::new(GLOBAL);
            let t = Instant::now();
            let (m, engine) = run_engine(&program, batch);
            times.push(t.elapsed().as_secs_f64());
            allocs = region.change();
            matches = m;
            shed = engine.stats().shed;
            drop(engine);
        }
        times.sort_by(f64::total_cmp);
        let secs = times.get(times.len() / 2).copied().unwrap_or(0.0);
        let n = events.len().max(1) as f64;
        println!(
            "engine_only: config={label} events={} matches={matches} secs={secs:.3} events_per_s={:.0} runs={repeat} shed={shed} allocs_per_event={:.3} bytes_per_event={:.0}",
            events.len(),
            events.len() as f64 / secs.max(1e-9),
            allocs.allocations as f64 / n,
            allocs.bytes_allocated as f64 / n,
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("engine_only: {e}");
            ExitCode::from(2)
        }
    }
}
