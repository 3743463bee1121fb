//! The stock-tick workload: a deterministic generator of ticks as NDJSON,
//! the "rising prices" pattern for any number of strict blocks and any
//! window, a decoder from NDJSON lines to engine events, and the engine
//! loop that the runtime benchmarks time.

use cep_ir::Program;
use cep_runtime::{ingest, Config, Engine, Event, Output};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::Arc;

/// The first tick's time: 2023-11-14T22:13:20Z, in epoch milliseconds.
pub const START_MS: i64 = 1_700_000_000_000;

/// A small deterministic random number generator (SplitMix64): the same
/// seed gives the same stream on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// One generated tick. Prices are kept in cents so that they print
/// exactly with two decimals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tick {
    pub symbol: usize,
    pub cents: i64,
    pub at: i64,
}

/// `n` ticks over `k` symbols: each tick picks a symbol at random and
/// moves its price by a random step of -0.50 to +0.50 (never below 1.00);
/// every symbol starts at 100.00. Times start at [`START_MS`] and grow by
/// one millisecond per tick, so they are strictly increasing.
pub fn ticks(n: u64, k: usize, seed: u64) -> impl Iterator<Item = Tick> {
    let k = k.max(1);
    let mut rng = Rng::new(seed);
    let mut prices = vec![10_000_i64; k];
    (0..n).map(move |i| {
        let symbol = usize::try_from(rng.below(k as u64)).unwrap_or(0);
        let step = i64::try_from(rng.below(101)).unwrap_or(50) - 50;
        let p = prices.get_mut(symbol).map_or(10_000, |p| {
            *p = (*p + step).max(100);
            *p
        });
        Tick {
            symbol,
            cents: p,
            at: START_MS + i64::try_from(i).unwrap_or(i64::MAX - START_MS),
        }
    })
}

/// One tick as an NDJSON line (without the newline).
pub fn tick_line(t: &Tick, buf: &mut String) {
    buf.clear();
    let _ = write!(
        buf,
        "{{\"type\":\"Tick\",\"symbol\":\"S{}\",\"price\":{}.{:02},\"at\":{}}}",
        t.symbol,
        t.cents / 100,
        t.cents % 100,
        t.at
    );
}

/// Writes `n` ticks over `k` symbols as NDJSON.
pub fn write_ticks(n: u64, k: usize, seed: u64, w: &mut dyn Write) -> io::Result<()> {
    let mut line = String::new();
    for t in ticks(n, k, seed) {
        tick_line(&t, &mut line);
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// The ticks as NDJSON text, in memory.
pub fn ticks_text(n: u64, k: usize, seed: u64) -> String {
    let mut out = Vec::new();
    let _ = write_ticks(n, k, seed, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The name of the `i`-th binding (0-based): `a`, `b`, ... `z`, then
/// `t26`, `t27`, ...
fn binding(i: usize) -> String {
    match u8::try_from(i) {
        Ok(c) if c < 26 => char::from(b'a' + c).to_string(),
        _ => format!("t{i}"),
    }
}

/// How the blocks of a generated rising-prices pattern are joined: the
/// contiguity keyword before every block but the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// `next`: strict, the very next tick of the symbol.
    Next,
    /// `then`: skip till next match, the first later tick priced above.
    Then,
    /// `then any`: skip till any match, every later tick priced above
    /// forks the run.
    ThenAny,
}

impl Join {
    /// The keyword as written in a pattern.
    pub fn keyword(self) -> &'static str {
        match self {
            Join::Next => "next",
            Join::Then => "then",
            Join::ThenAny => "then any",
        }
    }

    /// `next`, `then` or `any` (for `then any`), as given in a config.
    pub fn parse(s: &str) -> Option<Join> {
        match s {
            "next" => Some(Join::Next),
            "then" => Some(Join::Then),
            "any" | "then-any" => Some(Join::ThenAny),
            _ => None,
        }
    }
}

/// The rising-prices pattern with `blocks` strict blocks (at least 2) and
/// the window `within` (a duration literal such as `10s` or `1h`): per
/// symbol, `blocks` consecutive ticks, each priced above the one before.
/// With 3 blocks and `10s` it is `rules/rise3.cep`.
pub fn rise_rules(blocks: usize, within: &str) -> String {
    rise_rules_joined(blocks, within, Join::Next)
}

/// The rising-prices pattern with its blocks joined by `join`: per
/// symbol, `blocks` ticks each priced above the one before, consecutive
/// ticks for [`Join::Next`], the first higher tick each time for
/// [`Join::Then`], every rising choice of ticks for [`Join::ThenAny`].
/// The pattern is `Rise{blocks}`, `Rise{blocks}Then` or `Rise{blocks}Any`.
pub fn rise_rules_joined(blocks: usize, within: &str, join: Join) -> String {
    let blocks = blocks.max(2);
    let suffix = match join {
        Join::Next => "",
        Join::Then => "Then",
        Join::ThenAny => "Any",
    };
    let mut s = String::from("event Tick { symbol: str, price: float, at: time }\n\n");
    let _ = writeln!(
        s,
        "pattern Rise{blocks}{suffix} partition by symbol within {within} {{"
    );
    let _ = writeln!(s, "    a: Tick");
    for i in 1..blocks {
        let _ = writeln!(
            s,
            "    {} {}: Tick where price > {}.price",
            join.keyword(),
            binding(i),
            binding(i - 1)
        );
    }
    let _ = writeln!(
        s,
        "    emit {{ symbol: a.symbol, first: a.price, last: {}.price }}",
        binding(blocks - 1)
    );
    s.push_str("}\n");
    s
}

/// Compiles rule text; the error is the rendered list of errors.
pub fn compile(name: &str, text: &str) -> Result<Program, String> {
    let c = cep_compiler::compile_str(name, text);
    match c.program {
        Some(p) => Ok(p),
        None => Err(c
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{d:?}"))
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// Decodes a whole NDJSON text into engine events with the runtime's own
/// decoder (the one `cep run` uses), so that the engine-only figures start
/// from exactly the events `cep run` would push.
pub struct Decoder<'p> {
    program: &'p Program,
}

impl<'p> Decoder<'p> {
    pub fn new(program: &'p Program) -> Decoder<'p> {
        Decoder { program }
    }

    /// Every non-empty line; the first rejected line is an error.
    pub fn decode_all(&self, text: &str) -> Result<Vec<Event>, String> {
        let mut decoder = ingest::Decoder::new(self.program);
        let mut events = Vec::new();
        for (i, line) in text.lines().enumerate() {
            match decoder.decode(line.as_bytes(), i as u64 + 1) {
                Ok(Some(e)) => events.push(e),
                Ok(None) => {}
                Err(r) => return Err(format!("line {}: {r}", i + 1)),
            }
        }
        Ok(events)
    }
}

/// Pushes every event through a fresh engine and finishes it; returns
/// the number of complex events and the engine (so that the caller
/// chooses when to pay for dropping it).
pub fn run_engine(program: &Arc<Program>, events: Vec<Event>) -> (u64, Engine) {
    let mut engine = Engine::new(program.clone(), Config::default());
    let mut out = Vec::new();
    let mut matches = 0u64;
    for ev in events {
        engine.push(ev, &mut out);
        matches += count_complex(&mut out);
    }
    engine.finish(&mut out);
    matches += count_complex(&mut out);
    (matches, engine)
}

/// Like [`run_engine`], for measuring what the engine holds rather than
/// how fast it goes: each event is cloned just before it is pushed (so
/// that the events not yet pushed keep their heap and what the engine
/// drops is what it allocated), and `observe` is called with the engine
/// before the first event, after every `every` events, and after the
/// last event (before [`Engine::finish`]).
/// Returns the number of complex events.
pub fn run_engine_observed(
    program: &Arc<Program>,
    events: &[Event],
    every: usize,
    mut observe: impl FnMut(&Engine),
) -> u64 {
    let every = every.max(1);
    let mut engine = Engine::new(program.clone(), Config::default());
    let mut out = Vec::new();
    let mut matches = 0u64;
    observe(&engine);
    for (i, ev) in events.iter().enumerate() {
        engine.push(ev.clone(), &mut out);
        matches += count_complex(&mut out);
        if (i + 1) % every == 0 {
            observe(&engine);
        }
    }
    observe(&engine);
    engine.finish(&mut out);
    matches += count_complex(&mut out);
    matches
}

fn count_complex(out: &mut Vec<Output>) -> u64 {
    let n = out
        .iter()
        .filter(|o| matches!(o, Output::Complex(_)))
        .count();
    out.clear();
    n as u64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use cep_runtime::Value;

    #[test]
    fn ticks_are_deterministic_and_ordered() {
        let a: Vec<Tick> = ticks(1000, 7, 1).collect();
        let b: Vec<Tick> = ticks(1000, 7, 1).collect();
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0].at < w[1].at));
        assert!(a.iter().all(|t| t.symbol < 7 && t.cents >= 100));
        let mut line = String::new();
        tick_line(
            &Tick {
                symbol: 17,
                cents: 10_125,
                at: START_MS,
            },
            &mut line,
        );
        assert_eq!(
            line,
            r#"{"type":"Tick","symbol":"S17","price":101.25,"at":1700000000000}"#
        );
    }

    #[test]
    fn generated_pattern_is_the_shipped_one() {
        let shipped = include_str!("../rules/rise3.cep");
        let a = compile("rise3.cep", shipped).unwrap();
        let mut b = compile("gen.cep", &rise_rules(3, "10s")).unwrap();
        b.source_hash = a.source_hash.clone();
        b.sources = a.sources.clone();
        assert_eq!(a, b);
        for n in [2, 6, 9, 30] {
            for w in ["10s", "1m", "10m", "1h"] {
                let text = rise_rules(n, w);
                let c = cep_compiler::compile_str("gen.cep", &text);
                assert!(c.diagnostics.is_empty(), "{text}\n{:#?}", c.diagnostics);
            }
        }
    }

    /// The engine agrees with a direct count over the ticks.
    #[test]
    fn engine_counts_rising_triples() {
        let (n, k) = (5000, 10);
        let program = Arc::new(compile("gen.cep", &rise_rules(3, "10s")).unwrap());
        let events = Decoder::new(&program)
            .decode_all(&ticks_text(n, k, 3))
            .unwrap();
        let (got, _) = run_engine(&program, events);
        let mut last: Vec<Vec<(i64, i64)>> = vec![Vec::new(); k];
        let mut want = 0;
        for t in ticks(n, k, 3) {
            let h = &mut last[t.symbol];
            h.push((t.cents, t.at));
            if h.len() > 3 {
                h.remove(0);
            }
            if h.len() == 3 && h[0].0 < h[1].0 && h[1].0 < h[2].0 && h[2].1 - h[0].1 < 10_000 {
                want += 1;
            }
        }
        assert!(want > 0);
        assert_eq!(got, want);
    }

    /// Each symbol's ticks in order, as (cents, at).
    fn by_symbol(n: u64, k: usize, seed: u64) -> Vec<Vec<(i64, i64)>> {
        let mut seqs = vec![Vec::new(); k];
        for t in ticks(n, k, seed) {
            seqs[t.symbol].push((t.cents, t.at));
        }
        seqs
    }

    /// The matches of `rise_rules_joined(blocks, window, join)`, counted
    /// directly: per start tick, the rising choices of later ticks of its
    /// symbol that the join allows, the last less than `window_ms` after
    /// the start.
    fn direct_rises(seqs: &[Vec<(i64, i64)>], blocks: usize, window_ms: i64, join: Join) -> u64 {
        let mut total = 0;
        for s in seqs {
            for i in 0..s.len() {
                let (p0, t0) = s[i];
                let inside = |j: usize| s[j].1 - t0 < window_ms;
                match join {
                    Join::Next => {
                        let end = i + blocks;
                        if end <= s.len()
                            && s[i..end].windows(2).all(|w| w[1].0 > w[0].0)
                            && inside(end - 1)
                        {
                            total += 1;
                        }
                    }
                    Join::Then => {
                        let (mut at, mut price, mut found) = (i, p0, 1);
                        while found < blocks {
                            match (at + 1..s.len()).find(|&j| s[j].0 > price) {
                                Some(j) => (at, price, found) = (j, s[j].0, found + 1),
                                None => break,
                            }
                        }
                        if found == blocks && inside(at) {
                            total += 1;
                        }
                    }
                    Join::ThenAny => {
                        // ways[j]: rising chains from i ending at j, of the
                        // current length.
                        let end = (i..s.len()).take_while(|&j| inside(j)).last().unwrap() + 1;
                        let mut ways = vec![0u64; end];
                        ways[i] = 1;
                        for _ in 1..blocks {
                            let mut next = vec![0u64; end];
                            for j in i..end {
                                for l in j + 1..end {
                                    if s[l].0 > s[j].0 {
                                        next[l] += ways[j];
                                    }
                                }
                            }
                            ways = next;
                        }
                        total += ways.iter().sum::<u64>();
                    }
                }
            }
        }
        total
    }

    fn engine_count(rules: &str, n: u64, k: usize, seed: u64) -> u64 {
        let program = Arc::new(compile("gen.cep", rules).unwrap());
        let events = Decoder::new(&program)
            .decode_all(&ticks_text(n, k, seed))
            .unwrap();
        let (got, engine) = run_engine(&program, events);
        assert_eq!(engine.stats().shed, 0);
        got
    }

    /// The generated `then` and `then any` patterns compile cleanly, and
    /// the engine agrees with a direct count, with windows that cut
    /// matches short and (for `then`) one that does not.
    #[test]
    fn engine_counts_then_and_then_any() {
        let (n, k, seed) = (4000, 10, 5);
        let seqs = by_symbol(n, k, seed);
        for (blocks, within, ms, join) in [
            (3, "1h", 3_600_000, Join::Then),
            (3, "60ms", 60, Join::Then),
            (4, "200ms", 200, Join::Then),
            (3, "100ms", 100, Join::ThenAny),
            (4, "80ms", 80, Join::ThenAny),
            (3, "50ms", 50, Join::Next),
        ] {
            let text = rise_rules_joined(blocks, within, join);
            let c = cep_compiler::compile_str("gen.cep", &text);
            assert!(c.diagnostics.is_empty(), "{text}\n{:#?}", c.diagnostics);
            let want = direct_rises(&seqs, blocks, ms, join);
            assert!(want > 0, "{text}");
            assert_eq!(engine_count(&text, n, k, seed), want, "{text}");
        }
        assert_eq!(
            rise_rules_joined(3, "10s", Join::Next),
            rise_rules(3, "10s")
        );
        for j in [Join::Next, Join::Then, Join::ThenAny] {
            let word = j.keyword().rsplit(' ').next().unwrap();
            assert_eq!(Join::parse(word), Some(j));
        }
    }

    /// `rules/swings.cep` (a group sub-pattern with aggregates): the
    /// engine finds as many matches as a direct count, and the emitted
    /// aggregates are those of the swings.
    #[test]
    #[allow(clippy::needless_range_loop)] // the iteration is an index
    fn engine_counts_swings() {
        let (n, k, seed) = (6000, 10, 9);
        let text = include_str!("../rules/swings.cep");
        let c = cep_compiler::compile_str("swings.cep", text);
        assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
        let mut want = 0;
        let mut swings = [0u64; 5];
        for s in by_symbol(n, k, seed) {
            for i in 0..s.len() {
                for it in 1..=4 {
                    let (up, down) = (i + 2 * it - 1, i + 2 * it);
                    if down >= s.len() || s[up].0 <= s[i].0 || s[down].0 >= s[up].0 {
                        break;
                    }
                    if it >= 2 && s[down].1 - s[i].1 < 10_000 {
                        want += 1;
                        swings[it] += 1;
                    }
                }
            }
        }
        assert!(
            swings[2] > 0 && swings[3] > 0 && swings[4] > 0,
            "{swings:?}"
        );
        let program = Arc::new(compile("swings.cep", text).unwrap());
        let events = Decoder::new(&program)
            .decode_all(&ticks_text(n, k, seed))
            .unwrap();
        let mut engine = Engine::new(program.clone(), Config::default());
        let mut out = Vec::new();
        let mut got = [0u64; 5];
        let mut check = |out: &mut Vec<Output>| {
            for o in out.drain(..) {
                if let Output::Complex(c) = o {
                    let ty = &program.events[c.event.ty as usize];
                    let v = |name: &str| &c.event.fields[usize::from(ty.slot(name).unwrap())];
                    let Value::Int(n) = *v("swings") else {
                        unreachable!("swings: {:?}", v("swings"))
                    };
                    // The aggregates: the mean of the rises is between
                    // the lowest fall and the highest rise.
                    let (Value::Float(mean), Value::Float(top), Value::Float(bottom)) =
                        (v("mean"), v("top"), v("bottom"))
                    else {
                        unreachable!("{:?}", c.event)
                    };
                    assert!(bottom < mean && mean <= top, "{:?}", c.event);
                    got[usize::try_from(n).unwrap()] += 1;
                }
            }
        };
        for ev in events {
            engine.push(ev, &mut out);
            check(&mut out);
        }
        engine.finish(&mut out);
        check(&mut out);
        assert_eq!(got.iter().sum::<u64>(), want);
        assert_eq!(got, swings);
    }

    /// The observed run counts what `run_engine` counts, and the engine
    /// it shows has live runs.
    #[test]
    fn observed_run_agrees() {
        let program = Arc::new(compile("gen.cep", &rise_rules(3, "10s")).unwrap());
        let events = Decoder::new(&program)
            .decode_all(&ticks_text(3000, 10, 4))
            .unwrap();
        let (want, _) = run_engine(&program, events.clone());
        let (mut calls, mut most) = (0, 0);
        let got = run_engine_observed(&program, &events, 1000, |e| {
            calls += 1;
            most = most.max(e.footprint().runs);
        });
        assert_eq!(got, want);
        assert_eq!(calls, 1 + 3 + 1);
        assert!(most > 0);
    }
}
