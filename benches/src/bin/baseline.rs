//! `baseline INPUT OUTPUT`: `rules/rise3.cep` written by hand, as the
//! yardstick for `cep run`. Reads ticks as NDJSON (serde_json into a typed
//! struct), keeps the last three (price, time) of each symbol, and writes
//! one NDJSON line per match: three consecutive ticks of a symbol, each
//! priced above the one before, the last less than 10 s after the first.
//! OUTPUT may be `-` for standard output. Input is assumed to be in time
//! order (the generator's is). Lines that do not decode are counted and
//! skipped. A summary goes to standard error:
//!
//! ```text
//! baseline: N events in, M matches out, D bad lines, T s, R events/s
//! ```

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

const WINDOW_MS: i64 = 10_000;

#[derive(Deserialize)]
struct Tick {
    symbol: String,
    price: f64,
    at: i64,
}

#[derive(Serialize)]
struct Rise3<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    symbol: &'a str,
    first: f64,
    last: f64,
    at: i64,
}

/// The last three ticks of a symbol, oldest first; `n` of them are set.
#[derive(Default)]
struct History {
    n: usize,
    last: [(f64, i64); 3],
}

impl History {
    fn push(&mut self, price: f64, at: i64) {
        self.last = [self.last[1], self.last[2], (price, at)];
        self.n = (self.n + 1).min(3);
    }

    fn rising(&self) -> bool {
        let [(p0, t0), (p1, _), (p2, t2)] = self.last;
        self.n == 3 && p1 > p0 && p2 > p1 && t2 - t0 < WINDOW_MS
    }
}

fn run(input: &str, output: &str) -> std::io::Result<()> {
    let started = Instant::now();
    let mut reader = BufReader::with_capacity(1 << 16, File::open(input)?);
    let sink: Box<dyn Write> = if output == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(File::create(output)?)
    };
    let mut out = BufWriter::with_capacity(1 << 16, sink);
    let mut symbols: HashMap<String, History> = HashMap::new();
    let (mut events, mut matches, mut bad) = (0u64, 0u64, 0u64);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let t: Tick = match serde_json::from_str(&line) {
            Ok(t) => t,
            Err(_) => {
                bad += 1;
                continue;
            }
        };
        events += 1;
        let h = match symbols.get_mut(t.symbol.as_str()) {
            Some(h) => h,
            None => symbols.entry(t.symbol.clone()).or_default(),
        };
        h.push(t.price, t.at);
        if h.rising() {
            matches += 1;
            let m = Rise3 {
                ty: "Rise3",
                symbol: &t.symbol,
                first: h.last[0].0,
                last: h.last[2].0,
                at: t.at,
            };
            serde_json::to_writer(&mut out, &m)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "baseline: {events} events in, {matches} matches out, {bad} bad lines, {secs:.3} s, {:.0} events/s",
        events as f64 / secs.max(1e-9)
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: baseline INPUT OUTPUT   (OUTPUT may be -)");
        return ExitCode::from(2);
    };
    match run(input, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baseline: {e}");
            ExitCode::FAILURE
        }
    }
}
