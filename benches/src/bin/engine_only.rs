//! `engine_only INPUT [--repeat R] [--sample-every E] [CONFIG...]`: the
//! engine's throughput on pre-parsed events, with no I/O and no JSON in
//! the timed part, and what the engine holds per live run.
//!
//! INPUT (NDJSON ticks) is read and decoded into engine events first
//! (serde_json, once per distinct set of declared event types); then, for
//! each CONFIG, a fresh engine gets every event pushed in and is finished,
//! and only that loop is timed. A CONFIG is a `.cep` file, or
//! `blocks=N,window=W,join=J` for the generated rising-prices pattern with
//! N blocks joined by J (`next`, `then` or `any` for `then any`) and
//! window W (a duration literal: `10s`, `1m`, `1h`; any part may be left
//! out: `blocks=3,window=10s,join=next` is the default).
//! Each CONFIG is run R times (default 1) and the median is reported, one
//! line per CONFIG on standard output:
//!
//! ```text
//! engine_only: config=blocks=3,window=10s events=1000000 matches=245154 secs=0.412 events_per_s=2427697 runs=3 shed=0 allocs_per_event=3.997 reallocs_per_event=0.002 bytes_per_event=242 peak_live_runs=240 partitions=100 heap_at_peak=123456 bytes_per_live_run=514 peak_heap=130000
//! ```
//!
//! `allocs_per_event`, `reallocs_per_event` and `bytes_per_event`: the
//! heap allocations, reallocations and the bytes they asked for in the
//! timed loop of the last run, divided by the events, counted by a
//! counting global allocator (`stats_alloc`) that wraps the system's.
//!
//! The rest comes from one more run of the same CONFIG, not timed (unless
//! `--sample-every 0`): each event is cloned just before it is pushed,
//! and every E events (default 4096) and at the end of the input, the
//! engine's live runs (`Engine::footprint`) and the heap in use (bytes
//! allocated minus bytes freed, program-wide) are sampled. At the sample
//! with the most live runs: `peak_live_runs`, `partitions` (with live
//! runs), `heap_at_peak` (heap in use then, minus the heap in use after
//! `Engine::new` and before the first event) and `bytes_per_live_run`
//! (`heap_at_peak / peak_live_runs`, 0 without live runs). `peak_heap`:
//! the largest such difference over all samples.

use cep_benches::ticks::{
    compile, rise_rules_joined, run_engine, run_engine_observed, Decoder, Join,
};
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
    let (mut blocks, mut window, mut join) = (3usize, "10s".to_string(), Join::Next);
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
            Some(("join", j)) => {
                join =
                    Join::parse(j).ok_or_else(|| format!("join is next, then or any, not {j:?}"))?
            }
            _ => return Err(format!("bad config part {part:?}")),
        }
    }
    Ok((config.to_string(), rise_rules_joined(blocks, &window, join)))
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

/// Heap in use now, program-wide: bytes allocated minus bytes freed.
fn heap_in_use() -> i64 {
    let s = GLOBAL.stats();
    i64::try_from(s.bytes_allocated).unwrap_or(i64::MAX)
        - i64::try_from(s.bytes_deallocated).unwrap_or(i64::MAX)
}

/// What the untimed sampling run found.
#[derive(Default)]
struct Held {
    matches: u64,
    live_runs: usize,
    partitions: usize,
    heap_at_peak: i64,
    peak_heap: i64,
}

/// The untimed run that samples live runs and the heap every `every`
/// events (see the module's documentation).
fn sample(program: &Arc<Program>, events: &[Event], every: usize) -> Held {
    let mut held = Held::default();
    let mut before = None;
    held.matches = run_engine_observed(program, events, every, |engine| {
        let heap = heap_in_use();
        let base = *before.get_or_insert(heap);
        let f = engine.footprint();
        let used = heap - base;
        held.peak_heap = held.peak_heap.max(used);
        if f.runs > held.live_runs {
            held.live_runs = f.runs;
            held.partitions = f.partitions;
            held.heap_at_peak = used;
        }
    });
    held
}

fn run(args: &[String]) -> Result<(), String> {
    let mut input = None;
    let mut repeat = 1usize;
    let mut sample_every = 4096usize;
    let mut configs = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--repeat" {
            repeat = it
                .next()
                .and_then(|r| r.parse().ok())
                .filter(|r| *r > 0)
                .ok_or("--repeat takes a positive number")?;
        } else if a == "--sample-every" {
            sample_every = it
                .next()
                .and_then(|r| r.parse().ok())
                .ok_or("--sample-every takes a number (0: no sampling run)")?;
        } else if input.is_none() {
            input = Some(a.clone());
        } else {
            configs.push(a.clone());
        }
    }
    let input =
        input.ok_or("usage: engine_only INPUT [--repeat R] [--sample-every E] [CONFIG...]")?;
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
        let mut line = format!(
            "engine_only: config={label} events={} matches={matches} secs={secs:.3} events_per_s={:.0} runs={repeat} shed={shed} allocs_per_event={:.3} reallocs_per_event={:.3} bytes_per_event={:.0}",
            events.len(),
            events.len() as f64 / secs.max(1e-9),
            allocs.allocations as f64 / n,
            allocs.reallocations as f64 / n,
            allocs.bytes_allocated as f64 / n,
        );
        if sample_every > 0 {
            let held = sample(&program, events, sample_every);
            if held.matches != matches {
                return Err(format!(
                    "{label}: the sampling run found {} matches, the timed runs {matches}",
                    held.matches
                ));
            }
            let per_run = match i64::try_from(held.live_runs) {
                Ok(runs) if runs > 0 => held.heap_at_peak / runs,
                _ => 0,
            };
            line.push_str(&format!(
                " peak_live_runs={} partitions={} heap_at_peak={} bytes_per_live_run={per_run} peak_heap={}",
                held.live_runs, held.partitions, held.heap_at_peak, held.peak_heap
            ));
        }
        println!("{line}");
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
