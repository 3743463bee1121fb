//! Engine-only throughput: 100,000 generated stock ticks over 100 symbols,
//! decoded once into engine events outside the timed loop, then pushed
//! through a fresh engine (and finished) per iteration. Throughput is in
//! events (elements) per second.
//!
//! - `engine rise3`: `rules/rise3.cep` (3 strict blocks, 10 s window);
//! - `engine window`: the same pattern with windows of 10 s to 1 h;
//! - `engine blocks`: 3 to 9 strict blocks, 10 s window.

use cep_benches::ticks::{compile, rise_rules, run_engine, ticks_text, Decoder};
use cep_ir::Program;
use cep_runtime::Event;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use std::sync::Arc;

const EVENTS: u64 = 100_000;
const SYMBOLS: usize = 100;
const SEED: u64 = 1;

fn setup(rules: &str) -> Option<(Arc<Program>, Vec<Event>)> {
    let program = match compile("bench.cep", rules) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("the benchmark rules do not compile:\n{e}\n{rules}");
            return None;
        }
    };
    match Decoder::new(&program).decode_all(&ticks_text(EVENTS, SYMBOLS, SEED)) {
        Ok(events) => Some((program, events)),
        Err(e) => {
            eprintln!("the generated ticks do not decode: {e}");
            None
        }
    }
}

fn bench(c: &mut Criterion) {
    let Some((program, events)) = setup(include_str!("../rules/rise3.cep")) else {
        return;
    };
    let mut g = c.benchmark_group("engine rise3, 100k ticks, 100 symbols");
    g.sample_size(10);
    g.throughput(Throughput::Elements(EVENTS));
    g.bench_function("push + finish", |b| {
        b.iter_batched(
            || events.clone(),
            |evs| run_engine(&program, evs),
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("engine window, 3 blocks");
    g.sample_size(10);
    g.throughput(Throughput::Elements(EVENTS));
    for window in ["10s", "1m", "10m", "1h"] {
        let Some((program, events)) = setup(&rise_rules(3, window)) else {
            continue;
        };
        g.bench_with_input(BenchmarkId::from_parameter(window), &events, |b, events| {
            b.iter_batched(
                || events.clone(),
                |evs| run_engine(&program, evs),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("engine blocks, 10s window");
    g.sample_size(10);
    g.throughput(Throughput::Elements(EVENTS));
    for blocks in 3..=9 {
        let Some((program, events)) = setup(&rise_rules(blocks, "10s")) else {
            continue;
        };
        g.bench_with_input(BenchmarkId::from_parameter(blocks), &events, |b, events| {
            b.iter_batched(
                || events.clone(),
                |evs| run_engine(&program, evs),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
