//! Bounded memory: for a stream over a fixed set of keys, what the engine
//! holds stays flat however long the stream runs; the run cap sheds the
//! oldest runs and counts them.

use cep_runtime::{Config, Engine, Event, Footprint, Value};
use std::sync::Arc;

fn engine(src: &str, config: Config) -> Engine {
    let c = cep_compiler::compile_str("memory.cep", src);
    assert!(!c.has_errors(), "{:#?}", c.diagnostics);
    Engine::new(Arc::new(c.program.expect("program")), config)
}

/// Feeds `n` ticks over `keys` symbols (a deterministic zig-zag of
/// prices, one millisecond apart) starting at tick `from`.
fn feed(e: &mut Engine, from: u64, n: u64, keys: u64) -> Footprint {
    let mut out = Vec::new();
    let mut worst = Footprint::default();
    for i in from..from + n {
        let key = Value::Str(format!("k{}", i % keys).into());
        let price = ((i * 7919) % 113) as f64;
        e.push(
            Event::new(
                0,
                i as i64,
                i,
                vec![key, Value::Float(price), Value::Time(i as i64)],
            ),
            &mut out,
        );
        out.clear();
        let f = e.footprint();
        worst = Footprint {
            runs: worst.runs.max(f.runs),
            partitions: worst.partitions.max(f.partitions),
            deadlines: worst.deadlines.max(f.deadlines),
            held: worst.held.max(f.held),
        };
    }
    worst
}

const TICKS: &str = "event Tick { symbol: str, price: float, at: time }\n";

#[test]
fn strict_pattern_holds_the_same_whatever_the_length() {
    let src = format!(
        "{TICKS}pattern Rise3 partition by symbol within 10s {{\n    a: Tick\n    next b: Tick where price > a.price\n    next c: Tick where price > b.price\n    emit {{ symbol: a.symbol }}\n}}\n"
    );
    let mut e = engine(&src, Config::default());
    let short = feed(&mut e, 0, 5_000, 50);
    let long = feed(&mut e, 5_000, 50_000, 50);
    assert!(short.runs > 0 && short.partitions > 0);
    // Ten times the stream, the same bounds.
    assert!(long.runs <= short.runs, "{short:?} then {long:?}");
    assert!(long.partitions <= 50);
    assert!(
        long.deadlines <= short.deadlines.max(50) * 2,
        "{short:?} then {long:?}"
    );
}

#[test]
fn relaxed_pattern_is_bounded_by_its_window() {
    // `then any` forks a run per matching event; the window bounds them.
    let src = format!(
        "{TICKS}pattern Up partition by symbol within 200ms {{\n    a: Tick\n    then any b: Tick where price > a.price + 50.0\n    emit {{ symbol: a.symbol }}\n}}\n"
    );
    let mut e = engine(&src, Config::default());
    let short = feed(&mut e, 0, 5_000, 10);
    let long = feed(&mut e, 5_000, 50_000, 10);
    assert!(short.runs > 10, "{short:?}");
    assert!(
        long.runs <= short.runs + short.runs / 10,
        "{short:?} then {long:?}"
    );
    assert!(
        long.deadlines <= short.deadlines * 2 + 10,
        "{short:?} then {long:?}"
    );
}

#[test]
fn run_cap_sheds_the_oldest_and_counts_them() {
    // No window: without the cap, runs would grow with the stream.
    let src = format!(
        "{TICKS}pattern Never partition by symbol {{\n    a: Tick\n    then b: Tick where price > 1000.0\n    emit {{ symbol: a.symbol }}\n}}\n"
    );
    let mut e = engine(
        &src,
        Config {
            max_runs: 1_000,
            ..Config::default()
        },
    );
    let worst = feed(&mut e, 0, 20_000, 7);
    assert!(worst.runs <= 1_000, "{worst:?}");
    let stats = e.stats();
    assert!(stats.shed >= 18_000, "{stats:?}");
    // The newest runs survive: they are the ones shed last.
    assert!(e.footprint().runs >= 900);
}
