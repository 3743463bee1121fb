//! Property: `cep run`'s pipeline never panics, whatever the input.
//!
//! For every rule file in `rules/` (and the rule corpus in `tests/corpus/`),
//! random input lines are fed through the same pieces `cep run` wires
//! together (src/run/): `ingest::Lines` with a line limit, the
//! `ingest::Decoder`, the `Engine` (with `--max-delay` 0 and positive, and
//! a small run cap so that shedding happens) and the `ndjson::Encoder`,
//! all under `catch_unwind`.
//!
//! The lines: events of every type of the program (declared and complex),
//! and unknown types; field values of the right and of wrong JSON types,
//! missing and extra fields, members in any order; times in order, equal,
//! out of order, as epoch milliseconds, RFC 3339 and garbage; non-objects,
//! truncated JSON, random bytes (invalid UTF-8 too), deep nesting, blank
//! and oversized lines.
//!
//! Besides "no panic", it checks the bookkeeping: every non-blank line is
//! either accepted (an event) or rejected (a dead letter); every accepted
//! event is either processed or late; every complex event is counted,
//! encodes to one JSON line, and reads back as an event of its type at its
//! time. A failure prints the seed and writes the input to a temporary
//! file, ready for `cep run`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::Rng;

use cep_ir::{Origin, Program, Type};
use cep_runtime::ingest::{self, Decoder, Line, Lines};
use cep_runtime::ndjson::Encoder;
use cep_runtime::{Config, Engine, Output};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

/// Lines per rule file and configuration (`CEP_RUN_PROP_LINES` overrides).
const LINES: usize = 3000;
/// The line limit given to `Lines` (the CLI's `--max-line-bytes`).
const MAX_LINE: usize = 2048;
/// 2026-07-14T13:00:00Z.
const BASE_MS: i64 = 1_784_034_000_000;

// ---- random numbers ----------------------------------------------------------------

// ---- input generation ---------------------------------------------------------------

/// What the generator knows about the program: every event type with its
/// fields, and the string values the rules compare with (so that
/// predicates and partition keys match often).
struct Shape {
    types: Vec<TypeShape>,
    /// Indices of the types some pattern consumes.
    consumed: Vec<usize>,
    strings: Vec<String>,
}

struct TypeShape {
    name: String,
    fields: Vec<(String, Type)>,
    complex: bool,
}

impl Shape {
    fn of(program: &Program, source: &str) -> Shape {
        let types = program
            .events
            .iter()
            .map(|e| TypeShape {
                name: e.name.clone(),
                fields: e.fields.iter().map(|f| (f.name.clone(), f.ty)).collect(),
                complex: matches!(e.origin, Origin::Pattern(_)),
            })
            .collect();
        // String literals of the rule text, plus a few keys.
        let mut strings: Vec<String> = source
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.len() < 40 && !s.contains('\\'))
            .map(str::to_string)
            .collect();
        strings.extend(["s1", "s2", "n1", "k"].iter().map(|s| s.to_string()));
        // Shortest first: the first few are the "hot" values (`"A"`, `"s1"`).
        strings.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
        strings.dedup();
        let mut consumed: Vec<usize> = program
            .patterns
            .iter()
            .flat_map(|p| p.inputs.iter().map(|&t| t as usize))
            .collect();
        consumed.sort_unstable();
        consumed.dedup();
        Shape {
            types,
            consumed,
            strings,
        }
    }
}

/// A JSON string literal.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// Random JSON of any kind, small.
fn any_json(r: &mut Rng, depth: u32) -> String {
    match r.below(if depth > 2 { 6 } else { 8 }) {
        0 => "null".into(),
        1 => r.pick(&["true", "false"]).to_string(),
        2 => r
            .pick(&[
                "0",
                "-1",
                "7",
                "1.5",
                "-0.0",
                "1e308",
                "9223372036854775808",
            ])
            .to_string(),
        3 => quoted(r.pick(&["", "x", "s1", "é😀", "a\"b\\c\nd", "\u{0}"])),
        4 => format!("{}", r.next() as i64),
        5 => "{}".into(),
        6 => format!("[{},{}]", any_json(r, depth + 1), any_json(r, depth + 1)),
        _ => format!("{{\"k\":{}}}", any_json(r, depth + 1)),
    }
}

/// An event time: mostly moving forward, sometimes equal, sometimes back.
struct Clock {
    now: i64,
    /// Set for the last lines of an input: extreme times (which make
    /// every later event late) are given only then, so that most of the
    /// input still reaches the patterns.
    endgame: bool,
}

impl Clock {
    /// Time moves on between lines: mostly by up to 4s, sometimes not at
    /// all, sometimes by ten minutes or more.
    fn advance(&mut self, r: &mut Rng) {
        match r.below(100) {
            0..=14 => {}
            15..=16 => self.now += 10 * 60_000 + r.below(3_600_000) as i64,
            _ => self.now += r.below(4_000) as i64,
        }
    }

    /// A time for a field: now, or now minus a little (out of order).
    fn tick(&mut self, r: &mut Rng) -> i64 {
        if r.chance(6) {
            self.now - r.below(20_000) as i64 - 1
        } else {
            self.now
        }
    }
}

/// A value for a time field: right (epoch ms or RFC 3339) or wrong.
fn time_value(r: &mut Rng, clock: &mut Clock) -> String {
    let t = clock.tick(r);
    match r.below(100) {
        0..=49 => t.to_string(),
        50..=84 => quoted(&ingest::format_rfc3339(t)),
        85..=87 => quoted(&ingest::format_rfc3339(t).replace('Z', "+02:00")),
        88 => quoted(&ingest::format_rfc3339(t).to_lowercase()),
        89 => r.pick(&["1.5e12", "1e30", "-1"]).to_string(),
        90..=91 if clock.endgame => r
            .pick(&[
                "9223372036854775807",
                "-9223372036854775808",
                "\"9999-12-31T23:59:59.999Z\"",
                "\"0000-01-01T00:00:00Z\"",
                "-5",
                "0",
            ])
            .to_string(),
        90..=94 => t.to_string(),
        _ => r
            .pick(&[
                "\"2026-13-45T99:00:00Z\"",
                "\"yesterday\"",
                "\"\"",
                "\"2026-07-14\"",
                "\"2026-07-14T13:00:00\"",
                "true",
                "null",
                "[]",
                "{}",
            ])
            .to_string(),
    }
}

fn value(r: &mut Rng, ty: Type, shape: &Shape, clock: &mut Clock) -> String {
    let right = r.chance(94);
    match (ty, right) {
        (Type::Time, _) => time_value(r, clock),
        (Type::Int, true) => match r.below(6) {
            0 => r
                .pick(&["0", "-1", "9223372036854775807", "-9223372036854775808"])
                .to_string(),
            _ => format!("{}", r.below(200) as i64 - 50),
        },
        (Type::Float, true) => match r.below(6) {
            0 => r
                .pick(&["0", "-0.0", "1e308", "5e-324", "-1.5", "100"])
                .to_string(),
            _ => format!("{}.{}", r.below(120), r.below(100)),
        },
        (Type::Str, true) => {
            if r.chance(60) {
                // A few values, so that keys and predicates meet often.
                quoted(&shape.strings[r.below(shape.strings.len().min(4))])
            } else if r.chance(85) {
                quoted(&shape.strings[r.below(shape.strings.len())])
            } else {
                quoted(r.pick(&["", "é😀", "a\"b", "x\ny", "A ", "\u{7f}"]))
            }
        }
        (Type::Bool, true) => r.pick(&["true", "false"]).to_string(),
        (Type::Duration, true) => r
            .pick(&[
                "0",
                "1500",
                "\"500ms\"",
                "\"10s\"",
                "\"5m\"",
                "\"1h\"",
                "-3",
            ])
            .to_string(),
        (Type::Duration, false) => r
            .pick(&[
                "\"1.5s\"",
                "\"5d\"",
                "\"abc\"",
                "1.5",
                "true",
                "\"99999999999999999h\"",
            ])
            .to_string(),
        (_, _) => any_json(r, 0),
    }
}

/// One object line for a random type of the program (or an unknown one).
fn event_line(r: &mut Rng, shape: &Shape, clock: &mut Clock) -> String {
    let mut members: Vec<String> = Vec::new();
    let ty = if shape.types.is_empty() || r.chance(8) {
        None
    } else if !shape.consumed.is_empty() && r.chance(60) {
        // Mostly types that patterns consume, so that runs build up.
        shape
            .types
            .get(shape.consumed[r.below(shape.consumed.len())])
    } else {
        Some(&shape.types[r.below(shape.types.len())])
    };
    match ty {
        Some(t) => members.push(format!("\"type\":{}", quoted(&t.name))),
        None => match r.below(4) {
            0 => {}
            1 => members.push("\"type\":5".into()),
            2 => members.push("\"type\":null".into()),
            _ => members.push(format!(
                "\"type\":{}",
                quoted(r.pick(&["Nope", "temperature", "", "@cep", "Heatwave2"]))
            )),
        },
    }
    if let Some(t) = ty {
        for (name, fty) in &t.fields {
            if r.chance(96) {
                let v = value(r, *fty, shape, clock);
                members.push(format!("{}:{v}", quoted(name)));
            }
        }
        if t.complex && r.chance(60) {
            let cep = if r.chance(85) {
                format!(
                    "{{\"time\":{},\"run\":\"cep-X-1\",\"pattern\":{},\"events\":[]}}",
                    clock.tick(r),
                    quoted(&t.name)
                )
            } else {
                any_json(r, 0)
            };
            members.push(format!("\"@cep\":{cep}"));
        }
        if r.chance(3) {
            // A member given twice.
            if let Some((name, fty)) = t.fields.first() {
                let v = value(r, *fty, shape, clock);
                members.push(format!("{}:{v}", quoted(name)));
            }
        }
    }
    if r.chance(20) {
        let k = quoted(r.pick(&["extra", "at2", "TYPE", "", "sensor "]));
        members.push(format!("{k}:{}", any_json(r, 0)));
    }
    if r.chance(15) {
        // Members in another order: "type" is not always first.
        let n = members.len();
        for i in (1..n).rev() {
            let j = r.below(i + 1);
            members.swap(i, j);
        }
    }
    let sep = if r.chance(20) { ", " } else { "," };
    format!("{{{}}}", members.join(sep))
}

/// One input line, without its line break.
fn line(r: &mut Rng, shape: &Shape, clock: &mut Clock) -> Vec<u8> {
    match r.below(100) {
        0..=71 => event_line(r, shape, clock).into_bytes(),
        72..=81 => {
            // Truncated: cut anywhere, even inside a UTF-8 sequence.
            let mut l = event_line(r, shape, clock).into_bytes();
            let cut = r.below(l.len().max(1));
            l.truncate(cut);
            l
        }
        82..=85 => {
            // Random bytes, no line break.
            (0..r.below(60))
                .map(|_| match r.next() as u8 {
                    b'\n' => b'{',
                    b => b,
                })
                .collect()
        }
        86..=88 => r.pick(&["", "   ", "\t", " \r", "\r"]).as_bytes().to_vec(),
        89..=92 => r
            .pick(&[
                "[1,2]",
                "\"str\"",
                "42",
                "null",
                "true",
                "{}",
                "{\"type\":\"\"}",
                "{\"type\":[\"a\"]}",
                "{} {}",
                "{\"type\":\"x\"} trailing",
                "\u{feff}{\"type\":\"Nope\"}",
            ])
            .as_bytes()
            .to_vec(),
        93..=94 => {
            let d = r.below(300) + 1;
            format!(
                "{{\"type\":{},\"deep\":{}{}}}",
                quoted(&shape.types.first().map_or("X".into(), |t| t.name.clone())),
                "[".repeat(d),
                "]".repeat(d)
            )
            .into_bytes()
        }
        95..=96 => {
            // Longer than the line limit.
            let pad = "x".repeat(MAX_LINE + r.below(3000));
            format!("{{\"type\":\"Nope\",\"pad\":\"{pad}\"}}").into_bytes()
        }
        _ => {
            // A well-formed event with a CR before the line break.
            let mut l = event_line(r, shape, clock).into_bytes();
            l.push(b'\r');
            l
        }
    }
}

/// The whole input: lines joined with `\n`, sometimes without a final one.
fn input(seed: u64, shape: &Shape, lines: usize) -> Vec<u8> {
    let mut r = Rng::new(seed);
    let mut clock = Clock {
        now: BASE_MS,
        endgame: false,
    };
    let mut text = Vec::new();
    for i in 0..lines {
        clock.endgame = i >= lines - lines / 20;
        clock.advance(&mut r);
        let l = line(&mut r, shape, &mut clock);
        if i == 0 && r.chance(30) {
            text.extend_from_slice(b"\xEF\xBB\xBF");
        }
        text.extend_from_slice(&l);
        if i + 1 < lines || r.chance(50) {
            text.push(b'\n');
        }
    }
    text
}

/// Non-blank lines, counted independently of the decoder: a line is blank
/// when it holds only spaces, tabs and CRs (after a BOM on line 1).
fn non_blank(text: &[u8]) -> usize {
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    if text.last() == Some(&b'\n') || text.is_empty() {
        lines.pop();
    }
    lines
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            let l = match l.strip_prefix(b"\xEF\xBB\xBF") {
                Some(rest) if *i == 0 => rest,
                _ => l,
            };
            l.len() > MAX_LINE || !l.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
        })
        .count()
}

impl std::fmt::Debug for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} accepted, {} rejected, {} blank, {} late, {} complex ({} bytes), {} shed",
            self.accepted,
            self.rejected,
            self.blank,
            self.late,
            self.complex,
            self.out_bytes,
            self.shed
        )
    }
}

// ---- the pipeline ----------------------------------------------------------------------

#[derive(Default, PartialEq)]
struct Counts {
    accepted: u64,
    rejected: u64,
    blank: u64,
    complex: u64,
    late: u64,
    /// Runs shed to keep under `--max-runs`.
    shed: u64,
    /// The encoded complex events: their length and FNV-1a hash.
    out_bytes: u64,
    out_hash: u64,
}

/// What `cep run` does with `text` (src/run/live.rs), with the
/// checks of each complex event on the way. `at` records the line being
/// processed, for the report if something panics.
fn pipeline(
    program: &Arc<Program>,
    text: &[u8],
    config: Config,
    at: &mut (u64, Vec<u8>),
) -> Counts {
    let mut decoder = Decoder::new(program);
    let mut readback = Decoder::new(program);
    let encoder = Encoder::new(program);
    let mut engine = Engine::new(program.clone(), config);
    let mut outs: Vec<Output> = Vec::new();
    let mut c = Counts {
        out_hash: 0xcbf2_9ce4_8422_2325,
        ..Counts::default()
    };
    let mut line_no = 0u64;
    let mut handle = |engine: &Engine, outs: &mut Vec<Output>, c: &mut Counts| {
        for o in outs.drain(..) {
            match o {
                Output::Complex(x) => {
                    c.complex += 1;
                    let mut l = Vec::new();
                    encoder.complex_named(&x, |p, r| engine.run_name(p, r), &mut l);
                    assert_eq!(l.last(), Some(&b'\n'), "a complex event ends its line");
                    let body = &l[..l.len() - 1];
                    assert!(!body.contains(&b'\n'), "one line per complex event");
                    let json: serde_json::Value =
                        serde_json::from_slice(body).unwrap_or_else(|e| {
                            panic!("not JSON ({e}): {}", String::from_utf8_lossy(body))
                        });
                    assert!(json.is_object());
                    let back = readback
                        .decode(body, 1)
                        .unwrap_or_else(|e| {
                            panic!(
                                "does not read back ({e}): {}",
                                String::from_utf8_lossy(body)
                            )
                        })
                        .expect("not blank");
                    assert_eq!(back.ty, x.event.ty, "{}", String::from_utf8_lossy(body));
                    assert_eq!(back.time, x.event.time, "{}", String::from_utf8_lossy(body));
                    c.out_bytes += l.len() as u64;
                    for &b in &l {
                        c.out_hash = (c.out_hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                    }
                }
                Output::Late(_) => c.late += 1,
                Output::Run(_)
                | Output::Refused { .. }
                | Output::Admitted(_)
                | Output::NotAccepting(_)
                | Output::Process(_) => {}
            }
        }
    };
    // The input in chunks of changing sizes (as a reader thread gives
    // them), so that lines span chunks.
    let mut splitter = Lines::new(MAX_LINE);
    let mut all: Vec<(Line, Vec<u8>)> = Vec::new();
    let mut rest = text;
    for size in [1usize, 7, 64, 4096, 3].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, more) = rest.split_at((*size).min(rest.len()));
        rest = more;
        splitter
            .feed::<()>(chunk, |k, t| {
                all.push((k, t.to_vec()));
                Ok(())
            })
            .expect("no error");
    }
    splitter
        .end::<()>(|k, t| {
            all.push((k, t.to_vec()));
            Ok(())
        })
        .expect("no error");
    for (kind, buf) in all {
        line_no += 1;
        at.0 = line_no;
        at.1.clear();
        at.1.extend_from_slice(&buf);
        if kind == Line::Oversized {
            c.rejected += 1;
            continue;
        }
        let text: &[u8] = match buf.strip_prefix(b"\xEF\xBB\xBF") {
            Some(rest) if line_no == 1 => rest,
            _ => &buf,
        };
        match decoder.decode(text, line_no) {
            Ok(None) => c.blank += 1,
            Ok(Some(event)) => {
                c.accepted += 1;
                engine.push(event, &mut outs);
                handle(&engine, &mut outs, &mut c);
            }
            Err(_) => c.rejected += 1,
        }
    }
    at.0 = 0;
    at.1.clear();
    engine.finish(&mut outs);
    handle(&engine, &mut outs, &mut c);
    let stats = engine.stats();
    assert_eq!(
        stats.events_in + stats.late + stats.refused,
        c.accepted,
        "every event is processed, late or refused by a process"
    );
    assert_eq!(stats.late, c.late, "late events are reported");
    assert_eq!(stats.complex_out, c.complex, "complex events are counted");
    c.shed = stats.shed;
    c
}

// ---- the property -----------------------------------------------------------------------

fn rule_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["rules", "tests/corpus"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "cep") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn lines_per_run() -> usize {
    std::env::var("CEP_RUN_PROP_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LINES)
}

#[test]
fn the_pipeline_never_panics_and_accounts_for_every_line() {
    let files = rule_files();
    assert!(
        files.iter().any(|p| p.to_string_lossy().contains("rules/")),
        "no rule files"
    );
    let configs = [(0u64, 50usize), (5_000, 50), (250, 7), (60_000, 500)];
    let mut failures = Vec::new();
    let mut totals = Counts::default();
    for (fi, path) in files.iter().enumerate() {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let source = std::fs::read_to_string(path).expect("read rule file");
        let c = cep_compiler::compile_str(&name, &source);
        let program = Arc::new(
            c.program
                .unwrap_or_else(|| panic!("{name} does not compile: {:#?}", c.diagnostics)),
        );
        let shape = Shape::of(&program, &source);
        for (ci, &(delay, max_runs)) in configs.iter().enumerate() {
            let seed = 0x5EED_0000 + (fi as u64) * 100 + ci as u64;
            let text = input(seed, &shape, lines_per_run());
            let config = Config {
                instance: "prop".into(),
                max_delay_ms: delay,
                max_runs,
                track_runs: ci % 2 == 1,
                track_processes: ci % 2 == 1,
                member: 0,
            };
            let mut at: (u64, Vec<u8>) = (0, Vec::new());
            let result = catch_unwind(AssertUnwindSafe(|| {
                let first = pipeline(&program, &text, config.clone(), &mut at);
                // The same input gives the same output, byte for byte.
                let second = pipeline(&program, &text, config.clone(), &mut at);
                (first, second)
            }));
            let what =
                format!("{name} with --max-delay {delay}ms --max-runs {max_runs} (seed {seed:#x})");
            match result {
                Ok((first, second)) => {
                    totals.accepted += first.accepted;
                    totals.rejected += first.rejected;
                    totals.blank += first.blank;
                    totals.late += first.late;
                    totals.complex += first.complex;
                    totals.shed += first.shed;
                    let lines = non_blank(&text) as u64;
                    if first.accepted + first.rejected != lines {
                        failures.push(format!(
                            "{what}: {} accepted + {} rejected != {lines} non-blank lines ({} blank)",
                            first.accepted, first.rejected, first.blank
                        ));
                    }
                    if first != second {
                        failures.push(format!("{what}: a second run gave other results"));
                    }
                }
                Err(e) => {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    let saved = std::env::temp_dir().join(format!(
                        "cep-run-property-{}-{ci}.ndjson",
                        name.trim_end_matches(".cep")
                    ));
                    let _ = std::fs::write(&saved, &text);
                    failures.push(format!(
                        "{what}: panicked at input line {} ({}): {msg}\n  input saved to {}",
                        at.0,
                        String::from_utf8_lossy(&at.1),
                        saved.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The generator reaches every outcome, or the property proves little.
    assert!(
        totals.accepted > 0
            && totals.rejected > 0
            && totals.blank > 0
            && totals.late > 0
            && totals.complex > 0
            && totals.shed > 0,
        "{totals:?}"
    );
}
