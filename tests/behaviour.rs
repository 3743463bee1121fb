//! Behaviour of each language construct, end to end through `cep run`
//! (the built binary): a small rule text, a few input lines, and the exact
//! output lines. Every test includes events that must *not* match, so
//! that a wrong implementation of the construct changes the output.
//!
//! All tests go through [`check`]. Run ids are hand-worked from the
//! numbering rule of docs/runtime.md ("Run ids": per pattern, in the order
//! the engine creates runs, a fork gets a new number, the run that takes
//! an event keeps its own).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `rules` over `events` (one input line each, line 1 first) with
/// `cep run` and compares what comes out, line for line, with `expected`.
///
/// - Expected lines that start with `{"line":` are dead letters and are
///   compared with the `--dead-letter` file; the others with `--output`.
///   Both files must match exactly, so a test with no dead letter in
///   `expected` also asserts that no input line was rejected.
/// - A rule-text line `// cep run: ARGS` passes ARGS (split at white
///   space) as extra options, e.g. `// cep run: --max-delay 5s`.
fn check(rules: &str, events: &[&str], expected: &[&str]) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("cep-behaviour-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let rules_path = dir.join("rules.cep");
    let input = dir.join("events.ndjson");
    let output = dir.join("out.ndjson");
    let dead = dir.join("dead.ndjson");
    std::fs::write(&rules_path, rules).expect("write rules");
    let mut text = String::new();
    for e in events {
        text.push_str(e);
        text.push('\n');
    }
    std::fs::write(&input, &text).expect("write events");
    let extra: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("// cep run:"))
        .flat_map(str::split_whitespace)
        .collect();
    let run = Command::new(env!("CARGO_BIN_EXE_cep"))
        .arg("run")
        .arg(&rules_path)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .arg("--dead-letter")
        .arg(&dead)
        .args(&extra)
        .env("NO_COLOR", "1")
        .output()
        .expect("run cep");
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    let got = std::fs::read_to_string(&output).unwrap_or_default();
    let got_dead = std::fs::read_to_string(&dead).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        run.status.success(),
        "cep run failed ({:?}):\n{stderr}\nrules:\n{rules}",
        run.status
    );
    let got: Vec<&str> = got.lines().collect();
    let got_dead: Vec<&str> = got_dead.lines().collect();
    let (want_dead, want): (Vec<&str>, Vec<&str>) =
        expected.iter().partition(|l| l.starts_with("{\"line\":"));
    if got != want || got_dead != want_dead {
        let mut m = String::new();
        let _ = writeln!(m, "rules:\n{rules}\ninput:");
        for (i, e) in events.iter().enumerate() {
            let _ = writeln!(m, "  {:>2}: {e}", i + 1);
        }
        let _ = writeln!(m, "expected output:");
        for l in &want {
            let _ = writeln!(m, "  {l}");
        }
        let _ = writeln!(m, "got output:");
        for l in &got {
            let mark = if want.contains(l) { " " } else { "!" };
            let _ = writeln!(m, "{mark} {l}");
        }
        let _ = writeln!(m, "expected dead letters:");
        for l in &want_dead {
            let _ = writeln!(m, "  {l}");
        }
        let _ = writeln!(m, "got dead letters:");
        for l in &got_dead {
            let _ = writeln!(m, "  {l}");
        }
        let _ = writeln!(m, "stderr:\n{stderr}");
        panic!("{m}");
    }
}

// ---- contiguity ----------------------------------------------------------------

/// `next` is strict: the second `A` (a type the pattern names) ends the run
/// started by the first, but `C`, which the pattern does not name, does not
/// break the run of the second `A`.
#[test]
fn next_is_broken_by_a_named_type_only() {
    check(
        r#"
event A { k: str, at: time }
event B { k: str, at: time }
event C { at: time }

pattern P {
    a: A
    next b: B
    emit { a: a.k, b: b.k }
}
"#,
        &[
            r#"{"type":"A","k":"a1","at":1000}"#,
            r#"{"type":"A","k":"a2","at":2000}"#,
            r#"{"type":"C","at":3000}"#,
            r#"{"type":"B","k":"b4","at":4000}"#,
            r#"{"type":"B","k":"b5","at":5000}"#,
        ],
        &[
            r#"{"type":"P","a":"a2","b":"b4","@cep":{"time":4000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":2},{"binding":"b","line":4}]}}"#,
        ],
    );
}

/// `then` is skip till next match: the `B` that fails the predicate is
/// skipped, the first matching `B` is taken, and a later matching `B` gives
/// no second match.
#[test]
fn then_takes_only_the_first_matching_event() {
    check(
        r#"
event A { at: time }
event B { v: int, at: time }

pattern P {
    a: A
    then b: B where v > 10
    emit { v: b.v, gap: b.at - a.at }
}
"#,
        &[
            r#"{"type":"A","at":1000}"#,
            r#"{"type":"B","v":5,"at":2000}"#,
            r#"{"type":"B","v":20,"at":3000}"#,
            r#"{"type":"B","v":30,"at":4000}"#,
        ],
        &[
            r#"{"type":"P","v":20,"gap":2000,"@cep":{"time":3000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":3}]}}"#,
        ],
    );
}

/// `then any` is skip till any match: every matching `B` gives a match (the
/// run that takes it keeps its id, the copy that waits on is a new run);
/// the `B` failing the predicate gives none.
#[test]
fn then_any_takes_every_choice() {
    check(
        r#"
event A { at: time }
event B { v: int, at: time }

pattern P {
    a: A
    then any b: B where v > 10
    emit { v: b.v, gap: b.at - a.at }
}
"#,
        &[
            r#"{"type":"A","at":1000}"#,
            r#"{"type":"B","v":5,"at":2000}"#,
            r#"{"type":"B","v":20,"at":3000}"#,
            r#"{"type":"B","v":30,"at":4000}"#,
        ],
        &[
            r#"{"type":"P","v":20,"gap":2000,"@cep":{"time":3000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":3}]}}"#,
            r#"{"type":"P","v":30,"gap":3000,"@cep":{"time":4000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":4}]}}"#,
        ],
    );
}

// ---- negation and absence ----------------------------------------------------------

/// `not X` between `B` and `C` kills the first run (an `X` in its gap); the
/// second run has an `X` between `A` and `B`, outside the gap, and matches,
/// as does nothing after an `X` that follows a match. Blocks without a
/// binding are named `_<block number>` in `@cep.events`.
#[test]
fn negation_between_blocks_kills_only_in_its_gap() {
    check(
        r#"
event A { k: str, at: time }
event B { at: time }
event C { at: time }
event X { at: time }

pattern P {
    a: A
    then B
    not X
    then C
    emit { k: a.k }
}
"#,
        &[
            r#"{"type":"A","k":"k1","at":1000}"#,
            r#"{"type":"B","at":2000}"#,
            r#"{"type":"X","at":3000}"#,
            r#"{"type":"C","at":4000}"#,
            r#"{"type":"A","k":"k2","at":5000}"#,
            r#"{"type":"X","at":6000}"#,
            r#"{"type":"B","at":7000}"#,
            r#"{"type":"C","at":8000}"#,
            r#"{"type":"X","at":9000}"#,
        ],
        &[
            r#"{"type":"P","k":"k2","@cep":{"time":8000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":5},{"binding":"_2","line":7},{"binding":"_3","line":8}]}}"#,
        ],
    );
}

/// A trailing `not H within 10s` completes at last + 10s with that time:
/// an `H` of the key at last + 10s - 1ms kills the run (line 1's), one at
/// exactly last + 10s does not (line 3's run completes at 20999), an `H`
/// of another key kills nothing (line 2's run completes at 15000, and that
/// deadline is handled before the later one), and at the end of the input
/// all time passes (line 4's run completes at 30999).
#[test]
fn trailing_absence_completes_at_last_plus_d() {
    check(
        r#"
event H { n: str, at: time }

pattern P partition by n {
    h: H
    not H within 10s
    emit { n: h.n, seen: h.at }
}
"#,
        &[
            r#"{"type":"H","n":"a","at":1000}"#,
            r#"{"type":"H","n":"b","at":5000}"#,
            r#"{"type":"H","n":"a","at":10999}"#,
            r#"{"type":"H","n":"a","at":20999}"#,
        ],
        &[
            r#"{"type":"P","n":"b","seen":5000,"@cep":{"time":15000,"run":"cep-P-2","pattern":"P","events":[{"binding":"h","line":2}]}}"#,
            r#"{"type":"P","n":"a","seen":10999,"@cep":{"time":20999,"run":"cep-P-3","pattern":"P","events":[{"binding":"h","line":3}]}}"#,
            r#"{"type":"P","n":"a","seen":20999,"@cep":{"time":30999,"run":"cep-P-4","pattern":"P","events":[{"binding":"h","line":4}]}}"#,
        ],
    );
}

// ---- quantifiers ---------------------------------------------------------------------

/// `+` under `then` (Flink semantics): the group takes every matching `B`
/// (it cannot skip one) but may end after any of them, so `a b1 x b2 y b3 c`
/// gives `a b1 c`, `a b1 b2 c` and `a b1 b2 b3 c`, and never `a b2 c` or
/// `a b1 b3 c`. Matches completing together come in the order of their
/// events (lexicographically by input position).
#[test]
fn plus_under_then_ends_after_any_of_its_events() {
    check(
        r#"
event A { at: time }
event B { v: int, at: time }
event C { at: time }

pattern P {
    a: A
    then b: B+ where v > 0
    then c: C
    emit { n: count(b), s: sum(b.v), gap: c.at - a.at }
}
"#,
        &[
            r#"{"type":"A","at":1000}"#,
            r#"{"type":"B","v":1,"at":2000}"#,
            r#"{"type":"B","v":0,"at":3000}"#,
            r#"{"type":"B","v":2,"at":4000}"#,
            r#"{"type":"B","v":0,"at":5000}"#,
            r#"{"type":"B","v":3,"at":6000}"#,
            r#"{"type":"C","at":7000}"#,
        ],
        &[
            r#"{"type":"P","n":3,"s":6,"gap":6000,"@cep":{"time":7000,"run":"cep-P-4","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":2},{"binding":"b","line":4},{"binding":"b","line":6},{"binding":"c","line":7}]}}"#,
            r#"{"type":"P","n":2,"s":3,"gap":6000,"@cep":{"time":7000,"run":"cep-P-3","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":2},{"binding":"b","line":4},{"binding":"c","line":7}]}}"#,
            r#"{"type":"P","n":1,"s":1,"gap":6000,"@cep":{"time":7000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":2},{"binding":"c","line":7}]}}"#,
        ],
    );
}

/// `*` allows an empty group (`a c` at line 2) and, unlike `?`, more than
/// one event (`a b3 b4 c5` as well as `a b3 c5`).
#[test]
fn star_allows_zero_or_more() {
    check(
        r#"
event A { at: time }
event B { v: int, at: time }
event C { at: time }

pattern P {
    a: A
    then b: B*
    then c: C
    emit { n: count(b), gap: c.at - a.at }
}
"#,
        &[
            r#"{"type":"A","at":1000}"#,
            r#"{"type":"C","at":2000}"#,
            r#"{"type":"B","v":1,"at":3000}"#,
            r#"{"type":"B","v":2,"at":4000}"#,
            r#"{"type":"C","at":5000}"#,
        ],
        &[
            r#"{"type":"P","n":0,"gap":1000,"@cep":{"time":2000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":1},{"binding":"c","line":2}]}}"#,
            r#"{"type":"P","n":2,"gap":4000,"@cep":{"time":5000,"run":"cep-P-4","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":3},{"binding":"b","line":4},{"binding":"c","line":5}]}}"#,
            r#"{"type":"P","n":1,"gap":4000,"@cep":{"time":5000,"run":"cep-P-3","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":3},{"binding":"c","line":5}]}}"#,
        ],
    );
}

/// `?` under `then`: `A B B C` gives `a b2 c` and `a c` (the block passed
/// over, its field null), but not `a b3 c`: the block takes the first `B`
/// only, and it is not a group.
#[test]
fn question_mark_takes_zero_or_one() {
    check(
        r#"
event A { at: time }
event B { v: int, at: time }
event C { at: time }

pattern P {
    a: A
    then b: B?
    then c: C
    emit { v: b.v, gap: c.at - a.at }
}
"#,
        &[
            r#"{"type":"A","at":1000}"#,
            r#"{"type":"B","v":7,"at":2000}"#,
            r#"{"type":"B","v":8,"at":3000}"#,
            r#"{"type":"C","at":4000}"#,
        ],
        &[
            r#"{"type":"P","v":7,"gap":3000,"@cep":{"time":4000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":2},{"binding":"c","line":4}]}}"#,
            r#"{"type":"P","v":null,"gap":3000,"@cep":{"time":4000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":1},{"binding":"c","line":4}]}}"#,
        ],
    );
}

/// The input of the three bounded-quantifier tests: `A B1 B2 B3 C`, then
/// `A B4 C` (a run with a single `B`).
const RANGE_INPUT: [&str; 8] = [
    r#"{"type":"A","at":1000}"#,
    r#"{"type":"B","v":1,"at":2000}"#,
    r#"{"type":"B","v":2,"at":3000}"#,
    r#"{"type":"B","v":3,"at":4000}"#,
    r#"{"type":"C","at":5000}"#,
    r#"{"type":"A","at":6000}"#,
    r#"{"type":"B","v":4,"at":7000}"#,
    r#"{"type":"C","at":8000}"#,
];

/// `{2}` is exactly two: `a b1 b2 c` (b3 is skipped by the relaxed `c`), not
/// `a b1 b2 b3 c`, and the run with one `B` gives nothing.
#[test]
fn exactly_n() {
    check(
        r#"
event A { at: time }
event B { v: int, at: time }
event C { at: time }

pattern P {
    a: A
    then b: B{2}
    then c: C
    emit { n: count(b), s: sum(b.v), gap: c.at - a.at }
}
"#,
        &RANGE_INPUT,
        &[
            r#"{"type":"P","n":2,"s":3,"gap":4000,"@cep":{"time":5000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":2},{"binding":"b","line":3},{"binding":"c","line":5}]}}"#,
        ],
    );
}

/// `{2,}` is two or more: `a b1 b2 b3 c` and `a b1 b2 c`. The run of the
/// first `A` stays open in its group (under `then` it skips `C` and `A`),
/// so it also gives `a b1 b2 b3 b4 c8`, while the second `A`, with one `B`
/// only, gives nothing.
#[test]
fn at_least_n() {
    check(
        r#"
event A { at: time }
event B { v: int, at: time }
event C { at: time }

pattern P {
    a: A
    then b: B{2,}
    then c: C
    emit { n: count(b), s: sum(b.v), gap: c.at - a.at }
}
"#,
        &RANGE_INPUT,
        &[
            r#"{"type":"P","n":3,"s":6,"gap":4000,"@cep":{"time":5000,"run":"cep-P-3","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":2},{"binding":"b","line":3},{"binding":"b","line":4},{"binding":"c","line":5}]}}"#,
            r#"{"type":"P","n":2,"s":3,"gap":4000,"@cep":{"time":5000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":2},{"binding":"b","line":3},{"binding":"c","line":5}]}}"#,
            r#"{"type":"P","n":4,"s":10,"gap":7000,"@cep":{"time":8000,"run":"cep-P-5","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":2},{"binding":"b","line":3},{"binding":"b","line":4},{"binding":"b","line":7},{"binding":"c","line":8}]}}"#,
        ],
    );
}

/// `{1,2}` is one or two: `a b1 b2 c`, `a b1 c` and `a b4 c`, never three.
#[test]
fn between_n_and_m() {
    check(
        r#"
event A { at: time }
event B { v: int, at: time }
event C { at: time }

pattern P {
    a: A
    then b: B{1,2}
    then c: C
    emit { n: count(b), s: sum(b.v), gap: c.at - a.at }
}
"#,
        &RANGE_INPUT,
        &[
            r#"{"type":"P","n":2,"s":3,"gap":4000,"@cep":{"time":5000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":2},{"binding":"b","line":3},{"binding":"c","line":5}]}}"#,
            r#"{"type":"P","n":1,"s":1,"gap":4000,"@cep":{"time":5000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":2},{"binding":"c","line":5}]}}"#,
            r#"{"type":"P","n":1,"s":4,"gap":2000,"@cep":{"time":8000,"run":"cep-P-4","pattern":"P","events":[{"binding":"a","line":6},{"binding":"b","line":7},{"binding":"c","line":8}]}}"#,
        ],
    );
}

/// A group that is the first block takes consecutive events: `L1` fails
/// the predicate and ends the runs of `L8 L9`, so only `L7 L8 L9`
/// matches (a relaxed group would also give `L8 L9 L7`).
#[test]
fn first_block_group_is_strict() {
    check(
        r#"
event L { v: int, at: time }

pattern P {
    g: L{3} where v > 5
    emit { n: count(g), lo: min(g.v) }
}
"#,
        &[
            r#"{"type":"L","v":8,"at":1000}"#,
            r#"{"type":"L","v":9,"at":2000}"#,
            r#"{"type":"L","v":1,"at":3000}"#,
            r#"{"type":"L","v":7,"at":4000}"#,
            r#"{"type":"L","v":8,"at":5000}"#,
            r#"{"type":"L","v":9,"at":6000}"#,
        ],
        &[
            r#"{"type":"P","n":3,"lo":7,"@cep":{"time":6000,"run":"cep-P-3","pattern":"P","events":[{"binding":"g","line":4},{"binding":"g","line":5},{"binding":"g","line":6}]}}"#,
        ],
    );
}

/// `prev` in a group is the event bound just before the group for its
/// first event (`s`), then the group's previous event: 4 7 6 fails (6 is
/// above `s` = 4 but not above 7), 6 8 9 matches.
#[test]
fn prev_is_the_previous_event() {
    check(
        r#"
event T { v: int, at: time }

pattern P {
    s: T
    next ups: T{2} where v > prev.v
    emit { from: s.v, to: last(ups.v) }
}
"#,
        &[
            r#"{"type":"T","v":4,"at":1000}"#,
            r#"{"type":"T","v":7,"at":2000}"#,
            r#"{"type":"T","v":6,"at":3000}"#,
            r#"{"type":"T","v":8,"at":4000}"#,
            r#"{"type":"T","v":9,"at":5000}"#,
        ],
        &[
            r#"{"type":"P","from":6,"to":9,"@cep":{"time":5000,"run":"cep-P-3","pattern":"P","events":[{"binding":"s","line":3},{"binding":"ups","line":4},{"binding":"ups","line":5}]}}"#,
        ],
    );
}

/// Every aggregate over a group, on an empty group (`count` 0, the others
/// null) and on `5 2 9 4` (all seven values differ, so no aggregate can
/// pass for another).
#[test]
fn aggregates_and_the_empty_group() {
    check(
        r#"
event A { at: time }
event B { v: int, at: time }
event C { at: time }

pattern P {
    a: A
    next b: B*
    next c: C
    emit { n: count(b), s: sum(b.v), m: avg(b.v), lo: min(b.v), hi: max(b.v),
           f: first(b.v), l: last(b.v), gap: c.at - a.at }
}
"#,
        &[
            r#"{"type":"A","at":1000}"#,
            r#"{"type":"C","at":2000}"#,
            r#"{"type":"A","at":3000}"#,
            r#"{"type":"B","v":5,"at":4000}"#,
            r#"{"type":"B","v":2,"at":5000}"#,
            r#"{"type":"B","v":9,"at":6000}"#,
            r#"{"type":"B","v":4,"at":7000}"#,
            r#"{"type":"C","at":8000}"#,
        ],
        &[
            r#"{"type":"P","n":0,"s":null,"m":null,"lo":null,"hi":null,"f":null,"l":null,"gap":1000,"@cep":{"time":2000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":1},{"binding":"c","line":2}]}}"#,
            r#"{"type":"P","n":4,"s":20,"m":5.0,"lo":2,"hi":9,"f":5,"l":4,"gap":5000,"@cep":{"time":8000,"run":"cep-P-8","pattern":"P","events":[{"binding":"a","line":3},{"binding":"b","line":4},{"binding":"b","line":5},{"binding":"b","line":6},{"binding":"b","line":7},{"binding":"c","line":8}]}}"#,
        ],
    );
}

/// An optional block under `next`: passed over (`A C`, field null), taken
/// (`A B C`), and not a licence to skip: in `A B B C` the second `B` ends
/// the run, and the copy that passed over `b` is ended by the first.
#[test]
fn optional_block() {
    check(
        r#"
event A { at: time }
event B { v: int, at: time }
event C { at: time }

pattern P {
    a: A
    next b: B?
    next c: C
    emit { v: b.v, gap: c.at - a.at }
}
"#,
        &[
            r#"{"type":"A","at":1000}"#,
            r#"{"type":"C","at":2000}"#,
            r#"{"type":"A","at":3000}"#,
            r#"{"type":"B","v":4,"at":4000}"#,
            r#"{"type":"C","at":5000}"#,
            r#"{"type":"A","at":6000}"#,
            r#"{"type":"B","v":7,"at":7000}"#,
            r#"{"type":"B","v":8,"at":8000}"#,
            r#"{"type":"C","at":9000}"#,
        ],
        &[
            r#"{"type":"P","v":null,"gap":1000,"@cep":{"time":2000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":1},{"binding":"c","line":2}]}}"#,
            r#"{"type":"P","v":4,"gap":2000,"@cep":{"time":5000,"run":"cep-P-3","pattern":"P","events":[{"binding":"a","line":3},{"binding":"b","line":4},{"binding":"c","line":5}]}}"#,
        ],
    );
}

// ---- window, halts, skip policies, partitions ------------------------------------------

/// `within 10s` admits an event at first + 10s - 1ms, not one at first +
/// 10s.
#[test]
fn within_is_exclusive_at_first_plus_d() {
    check(
        r#"
event A { k: str, at: time }
event B { at: time }

pattern P within 10s {
    a: A
    then b: B
    emit { k: a.k, gap: b.at - a.at }
}
"#,
        &[
            r#"{"type":"A","k":"in","at":1000}"#,
            r#"{"type":"B","at":10999}"#,
            r#"{"type":"A","k":"out","at":20000}"#,
            r#"{"type":"B","at":30000}"#,
        ],
        &[
            r#"{"type":"P","k":"in","gap":9999,"@cep":{"time":10999,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":2}]}}"#,
        ],
    );
}

/// `halt on H where hard` ends the run of its key wherever it is: an `H`
/// that fails the predicate, or one of another key, halts nothing (the
/// first run matches), a matching one does (the second run never does).
#[test]
fn halt_on_stops_the_runs_of_the_key() {
    check(
        r#"
event A { k: str, at: time }
event B { k: str, at: time }
event H { k: str, hard: bool, at: time }

pattern P partition by k {
    a: A
    then b: B
    halt on H where hard
    emit { k: a.k, gap: b.at - a.at }
}
"#,
        &[
            r#"{"type":"A","k":"x","at":1000}"#,
            r#"{"type":"H","k":"x","hard":false,"at":2000}"#,
            r#"{"type":"H","k":"y","hard":true,"at":3000}"#,
            r#"{"type":"B","k":"x","at":4000}"#,
            r#"{"type":"A","k":"x","at":5000}"#,
            r#"{"type":"H","k":"x","hard":true,"at":6000}"#,
            r#"{"type":"B","k":"x","at":7000}"#,
        ],
        &[
            r#"{"type":"P","k":"x","gap":3000,"@cep":{"time":4000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":4}]}}"#,
        ],
    );
}

/// The input of the three after-match tests: `A1 A2 B3 B4 A5 B6` under
/// `then any`.
const SKIP_INPUT: [&str; 6] = [
    r#"{"type":"A","k":"a1","at":1000}"#,
    r#"{"type":"A","k":"a2","at":2000}"#,
    r#"{"type":"B","k":"b3","at":3000}"#,
    r#"{"type":"B","k":"b4","at":4000}"#,
    r#"{"type":"A","k":"a5","at":5000}"#,
    r#"{"type":"B","k":"b6","at":6000}"#,
];

/// Without a skip clause every match is reported, overlapping ones too:
/// every `A` with every later `B`.
#[test]
fn default_reports_every_match() {
    check(
        r#"
event A { k: str, at: time }
event B { k: str, at: time }

pattern P within 1m {
    a: A
    then any b: B
    emit { a: a.k, b: b.k }
}
"#,
        &SKIP_INPUT,
        &[
            r#"{"type":"P","a":"a1","b":"b3","@cep":{"time":3000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":3}]}}"#,
            r#"{"type":"P","a":"a2","b":"b3","@cep":{"time":3000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":2},{"binding":"b","line":3}]}}"#,
            r#"{"type":"P","a":"a1","b":"b4","@cep":{"time":4000,"run":"cep-P-3","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":4}]}}"#,
            r#"{"type":"P","a":"a2","b":"b4","@cep":{"time":4000,"run":"cep-P-4","pattern":"P","events":[{"binding":"a","line":2},{"binding":"b","line":4}]}}"#,
            r#"{"type":"P","a":"a1","b":"b6","@cep":{"time":6000,"run":"cep-P-5","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":6}]}}"#,
            r#"{"type":"P","a":"a2","b":"b6","@cep":{"time":6000,"run":"cep-P-6","pattern":"P","events":[{"binding":"a","line":2},{"binding":"b","line":6}]}}"#,
            r#"{"type":"P","a":"a5","b":"b6","@cep":{"time":6000,"run":"cep-P-7","pattern":"P","events":[{"binding":"a","line":5},{"binding":"b","line":6}]}}"#,
        ],
    );
}

/// `skip to next`: after `a1 b3` and `a2 b3` (different starts, both
/// reported), the runs that started with `a1` or `a2` are dropped, so no
/// `b4` or `b6` match for them; `a5 b6` starts afresh.
#[test]
fn skip_to_next_drops_runs_with_the_same_start() {
    check(
        r#"
event A { k: str, at: time }
event B { k: str, at: time }

pattern P within 1m skip to next {
    a: A
    then any b: B
    emit { a: a.k, b: b.k }
}
"#,
        &SKIP_INPUT,
        &[
            r#"{"type":"P","a":"a1","b":"b3","@cep":{"time":3000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":3}]}}"#,
            r#"{"type":"P","a":"a2","b":"b3","@cep":{"time":3000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":2},{"binding":"b","line":3}]}}"#,
            r#"{"type":"P","a":"a5","b":"b6","@cep":{"time":6000,"run":"cep-P-5","pattern":"P","events":[{"binding":"a","line":5},{"binding":"b","line":6}]}}"#,
        ],
    );
}

/// `skip past last`: of `a1 b3` and `a2 b3` only the first is reported, and
/// every run that began at or before `b3` is dropped; `a5 b6` starts
/// afresh.
#[test]
fn skip_past_last_reports_one_and_starts_afresh() {
    check(
        r#"
event A { k: str, at: time }
event B { k: str, at: time }

pattern P within 1m skip past last {
    a: A
    then any b: B
    emit { a: a.k, b: b.k }
}
"#,
        &SKIP_INPUT,
        &[
            r#"{"type":"P","a":"a1","b":"b3","@cep":{"time":3000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":3}]}}"#,
            r#"{"type":"P","a":"a5","b":"b6","@cep":{"time":6000,"run":"cep-P-5","pattern":"P","events":[{"binding":"a","line":5},{"binding":"b","line":6}]}}"#,
        ],
    );
}

/// `partition by k`: `A k1, A k2, B k1, B k2` gives two matches under
/// `next`, because each key has its own runs (unpartitioned, `A k2` would
/// end the run of `A k1`).
#[test]
fn partition_by_one_field() {
    check(
        r#"
event A { k: str, at: time }
event B { k: str, at: time }

pattern P partition by k {
    a: A
    next b: B
    emit { k: a.k, gap: b.at - a.at }
}
"#,
        &[
            r#"{"type":"A","k":"k1","at":1000}"#,
            r#"{"type":"A","k":"k2","at":2000}"#,
            r#"{"type":"B","k":"k1","at":3000}"#,
            r#"{"type":"B","k":"k2","at":4000}"#,
        ],
        &[
            r#"{"type":"P","k":"k1","gap":2000,"@cep":{"time":3000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":3}]}}"#,
            r#"{"type":"P","k":"k2","gap":2000,"@cep":{"time":4000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":2},{"binding":"b","line":4}]}}"#,
        ],
    );
}

/// `partition by site, k`: the key is the pair. `B s1/y` shares the site
/// of the first run but not its key, so it neither matches nor breaks it;
/// `A s2/x` shares `k` but is another key, so it does not end it either.
#[test]
fn partition_by_two_fields() {
    check(
        r#"
event A { site: str, k: str, at: time }
event B { site: str, k: str, at: time }

pattern P partition by site, k {
    a: A
    next b: B
    emit { site: a.site, k: a.k, gap: b.at - a.at }
}
"#,
        &[
            r#"{"type":"A","site":"s1","k":"x","at":1000}"#,
            r#"{"type":"A","site":"s2","k":"x","at":2000}"#,
            r#"{"type":"B","site":"s1","k":"y","at":3000}"#,
            r#"{"type":"B","site":"s1","k":"x","at":4000}"#,
            r#"{"type":"B","site":"s2","k":"x","at":5000}"#,
        ],
        &[
            r#"{"type":"P","site":"s1","k":"x","gap":3000,"@cep":{"time":4000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":4}]}}"#,
            r#"{"type":"P","site":"s2","k":"x","gap":3000,"@cep":{"time":5000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":2},{"binding":"b","line":5}]}}"#,
        ],
    );
}

// ---- the complex event ------------------------------------------------------------------

/// `emit` field types as written: int, float (always with a fraction, a
/// JSON integer read as a float included), str (escaped), bool, duration
/// and time as milliseconds, int / int truncating, int + float a float,
/// and a division by zero as null. The time field takes RFC 3339 or epoch
/// milliseconds, a duration `"2s"` or milliseconds.
#[test]
fn emit_projection_types() {
    check(
        r#"
event E { i: int, f: float, s: str, b: bool, d: duration, at: time }

pattern P {
    e: E
    emit { i: e.i, f: e.f, s: e.s, b: e.b, d: e.d, t: e.at, half: e.i / 2,
           mixed: e.i + e.f, twice: e.d * 2, later: e.at + 1s, not_b: not e.b,
           hot: e.f > 1.0, inv: 10 / e.i }
}
"#,
        &[
            r#"{"type":"E","i":7,"f":1.5,"s":"x \"q\"","b":true,"d":"2s","at":"2024-06-01T12:00:00.250Z"}"#,
            r#"{"type":"E","i":0,"f":2,"s":"","b":false,"d":1500,"at":1717243200250}"#,
        ],
        &[
            r#"{"type":"P","i":7,"f":1.5,"s":"x \"q\"","b":true,"d":2000,"t":1717243200250,"half":3,"mixed":8.5,"twice":4000,"later":1717243201250,"not_b":false,"hot":true,"inv":1,"@cep":{"time":1717243200250,"run":"cep-P-1","pattern":"P","events":[{"binding":"e","line":1}]}}"#,
            r#"{"type":"P","i":0,"f":2.0,"s":"","b":false,"d":1500,"t":1717243200250,"half":0,"mixed":2.0,"twice":3000,"later":1717243201250,"not_b":true,"hot":true,"inv":null,"@cep":{"time":1717243200250,"run":"cep-P-2","pattern":"P","events":[{"binding":"e","line":2}]}}"#,
        ],
    );
}

/// A pattern over complex events. `W` completes on line 2 and is processed
/// right after that input, before line 3: `Q` sees `B, W, C` and its strict
/// `x: B next w: W next c: C` matches (the consumer is declared first: the
/// order of declarations does not matter). `R` does not name `W`, so `W`
/// does not break its `next` between lines 2 and 3. `@cep.events` names the
/// complex event by the run that produced it. `R` and `Q` both complete on
/// line 3: patterns run in the IR's order, producers before consumers, so
/// `Q` (which consumes `W`) comes after `W` and after `R`.
#[test]
fn pattern_over_complex_events() {
    check(
        r#"
event A { at: time }
event B { at: time }
event C { at: time }

pattern Q {
    x: B
    next w: W
    next c: C
    emit { seen: w.seen, gap: c.at - x.at }
}

pattern R {
    b: B
    next c: C
    emit { gap: c.at - b.at }
}

pattern W {
    a: A
    next b: B
    emit { seen: b.at, gap: b.at - a.at }
}
"#,
        &[
            r#"{"type":"A","at":1000}"#,
            r#"{"type":"B","at":2000}"#,
            r#"{"type":"C","at":3000}"#,
        ],
        &[
            r#"{"type":"W","seen":2000,"gap":1000,"@cep":{"time":2000,"run":"cep-W-1","pattern":"W","events":[{"binding":"a","line":1},{"binding":"b","line":2}]}}"#,
            r#"{"type":"R","gap":1000,"@cep":{"time":3000,"run":"cep-R-1","pattern":"R","events":[{"binding":"b","line":2},{"binding":"c","line":3}]}}"#,
            r#"{"type":"Q","seen":2000,"gap":1000,"@cep":{"time":3000,"run":"cep-Q-1","pattern":"Q","events":[{"binding":"x","line":2},{"binding":"w","run":"cep-W-1"},{"binding":"c","line":3}]}}"#,
        ],
    );
}

// ---- time and ordering ------------------------------------------------------------------

/// Events with equal times are taken in input order (RFC 3339 and epoch
/// milliseconds naming the same instant): `B A B A B` at one instant gives
/// `a2 b3` and `a4 b5`, not `a2 b1`.
#[test]
fn equal_times_in_input_order() {
    check(
        r#"
event A { k: str, at: time }
event B { k: str, at: time }

pattern P {
    a: A
    next b: B
    emit { a: a.k, b: b.k }
}
"#,
        &[
            r#"{"type":"B","k":"b1","at":"2024-06-01T12:00:00Z"}"#,
            r#"{"type":"A","k":"a2","at":1717243200000}"#,
            r#"{"type":"B","k":"b3","at":"2024-06-01T12:00:00.000Z"}"#,
            r#"{"type":"A","k":"a4","at":"2024-06-01T14:00:00+02:00"}"#,
            r#"{"type":"B","k":"b5","at":1717243200000}"#,
        ],
        &[
            r#"{"type":"P","a":"a2","b":"b3","@cep":{"time":1717243200000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":2},{"binding":"b","line":3}]}}"#,
            r#"{"type":"P","a":"a4","b":"b5","@cep":{"time":1717243200000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":4},{"binding":"b","line":5}]}}"#,
        ],
    );
}

/// `--max-delay 5s`: `B@2` then `A@1` are put back in time order (`a b`
/// matches); the `Tick@10` moves the watermark to 5s, so `A@4` is late (a
/// dead letter, which does not break anything); `A@8` and `B@8` (equal
/// times) are held until the end of the input and taken in arrival order.
#[test]
fn max_delay_reorders() {
    check(
        r#"
// cep run: --max-delay 5s
event A { k: str, at: time }
event B { at: time }
event Tick { at: time }

pattern P {
    a: A
    next b: B
    emit { k: a.k, gap: b.at - a.at }
}
"#,
        &[
            r#"{"type":"B","at":2000}"#,
            r#"{"type":"A","k":"early","at":1000}"#,
            r#"{"type":"Tick","at":10000}"#,
            r#"{"type":"A","k":"late","at":4000}"#,
            r#"{"type":"A","k":"held","at":8000}"#,
            r#"{"type":"B","at":8000}"#,
        ],
        &[
            r#"{"type":"P","k":"early","gap":1000,"@cep":{"time":2000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":2},{"binding":"b","line":1}]}}"#,
            r#"{"type":"P","k":"held","gap":0,"@cep":{"time":8000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":5},{"binding":"b","line":6}]}}"#,
            r#"{"line":4,"reason":"late","detail":"its time 1970-01-01T00:00:04Z is more than the allowed delay of 5000 ms (`--max-delay`) behind the latest event time 1970-01-01T00:00:10Z","text":"{\"type\":\"A\",\"k\":\"late\",\"at\":4000}"}"#,
        ],
    );
}

/// With the default delay of 0, an event older than the one before it is
/// late: it goes to the dead-letter file and is not an event, so it does
/// not break the strict `next` of `A@2 B@3`. An event at an equal time is
/// not late.
#[test]
fn late_events_are_dead_letters() {
    check(
        r#"
event A { k: str, at: time }
event B { k: str, at: time }

pattern P {
    a: A
    next b: B
    emit { a: a.k, b: b.k }
}
"#,
        &[
            r#"{"type":"A","k":"on-time","at":2000}"#,
            r#"{"type":"A","k":"late","at":1000}"#,
            r#"{"type":"B","k":"b3","at":3000}"#,
            r#"{"type":"A","k":"a4","at":3000}"#,
            r#"{"type":"B","k":"b5","at":3000}"#,
        ],
        &[
            r#"{"type":"P","a":"on-time","b":"b3","@cep":{"time":3000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"b","line":3}]}}"#,
            r#"{"type":"P","a":"a4","b":"b5","@cep":{"time":3000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":4},{"binding":"b","line":5}]}}"#,
            r#"{"line":2,"reason":"late","detail":"its time 1970-01-01T00:00:01Z is before the latest event time 1970-01-01T00:00:02Z, and events must come in time order (`--max-delay 2s`, say, allows that much disorder)","text":"{\"type\":\"A\",\"k\":\"late\",\"at\":1000}"}"#,
        ],
    );
}

/// The late rule (docs/runtime.md, "Time"): with `--max-delay 10s`, `A@100`
/// is held, nothing is processed, but the watermark is already at 90s, so
/// `A@89.999` is late: an event is late when it is more than the delay
/// before the latest time seen, even if every newer event is still held
/// (not only when something newer was processed). `A@90` (at the
/// watermark) is not late, is processed at once and matches the `B@95`
/// released at the end of the input.
#[test]
fn late_is_before_the_watermark_even_when_nothing_was_processed() {
    check(
        r#"
// cep run: --max-delay 10s
event A { k: str, at: time }
event B { at: time }

pattern P {
    a: A
    next b: B
    emit { k: a.k, gap: b.at - a.at }
}
"#,
        &[
            r#"{"type":"A","k":"held","at":100000}"#,
            r#"{"type":"A","k":"late","at":89999}"#,
            r#"{"type":"A","k":"edge","at":90000}"#,
            r#"{"type":"B","at":95000}"#,
        ],
        &[
            r#"{"type":"P","k":"edge","gap":5000,"@cep":{"time":95000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":3},{"binding":"b","line":4}]}}"#,
            r#"{"line":2,"reason":"late","detail":"its time 1970-01-01T00:01:29.999Z is more than the allowed delay of 10000 ms (`--max-delay`) behind the latest event time 1970-01-01T00:01:40Z","text":"{\"type\":\"A\",\"k\":\"late\",\"at\":89999}"}"#,
        ],
    );
}

/// `within 10s` with a trailing `not B within 30s` (docs/language.md 6.7,
/// docs/runtime.md "Bounded memory"): the window ends runs that still wait
/// for a block (`z`: its second `A` at first + 10s is too late), but not a
/// run in the absence, which completes at last + 30s, past the window
/// (`x` at 39s, `w` at 43.999s), ignores other events of the pattern past
/// the window (`x`'s `A` at 30s) and is still killed by a `B` past the
/// window (`y`'s at 20s).
#[test]
fn trailing_absence_outlives_the_window() {
    check(
        r#"
event A { k: str, at: time }
event B { k: str, at: time }

pattern P partition by k within 10s {
    a: A
    then c: A
    not B within 30s
    emit { k: a.k, first: a.at, last: c.at }
}
"#,
        &[
            r#"{"type":"A","k":"x","at":1000}"#,
            r#"{"type":"A","k":"y","at":2000}"#,
            r#"{"type":"A","k":"z","at":3000}"#,
            r#"{"type":"A","k":"w","at":4000}"#,
            r#"{"type":"A","k":"y","at":8000}"#,
            r#"{"type":"A","k":"x","at":9000}"#,
            r#"{"type":"A","k":"z","at":13000}"#,
            r#"{"type":"A","k":"w","at":13999}"#,
            r#"{"type":"B","k":"y","at":20000}"#,
            r#"{"type":"A","k":"x","at":30000}"#,
        ],
        &[
            r#"{"type":"P","k":"x","first":1000,"last":9000,"@cep":{"time":39000,"run":"cep-P-1","pattern":"P","events":[{"binding":"a","line":1},{"binding":"c","line":6}]}}"#,
            r#"{"type":"P","k":"w","first":4000,"last":13999,"@cep":{"time":43999,"run":"cep-P-4","pattern":"P","events":[{"binding":"a","line":4},{"binding":"c","line":8}]}}"#,
        ],
    );
}

/// Scalar functions in conditions and in `emit`: `abs`, `min`/`max` of
/// two values, `round` (halves away from zero), `floor`, `ceil`, `len`
/// (Unicode characters), `lower`, `upper`, `concat` and `matches` (an
/// unanchored search). A field with no value would give no value (none
/// here); an event whose condition fails does not match.
#[test]
fn scalar_functions_compute_what_the_docs_say() {
    check(
        r#"
event R { path: str, user: str, v: float, d: int, at: time }

pattern Hit {
    r: R where matches(r.path, "^/api/v[0-9]+/") and abs(r.d) > 2
    emit {
        who: concat(upper(r.user), "@", lower(r.user)),
        n: len(r.user),
        lo: min(r.d, 10), hi: max(r.v, r.d),
        rd: round(r.v), fl: floor(r.v), ce: ceil(r.v)
    }
}
"#,
        &[
            // Matches: `/api/v2/` anywhere at the start, |d| = 5.
            r#"{"type":"R","path":"/api/v2/x","user":"Zoë","v":-2.5,"d":-5,"at":1000}"#,
            // Path does not match (no version digits).
            r#"{"type":"R","path":"/api/vX/x","user":"a","v":1.5,"d":9,"at":2000}"#,
            // |d| = 2 is not more than 2.
            r#"{"type":"R","path":"/api/v1/","user":"b","v":1.5,"d":-2,"at":3000}"#,
            // Matches; round(2.5) is 3 (away from zero), d > 10 gives 10.
            r#"{"type":"R","path":"/api/v10/y","user":"Ann","v":2.5,"d":30,"at":4000}"#,
        ],
        &[
            r#"{"type":"Hit","who":"ZOË@zoë","n":3,"lo":-5,"hi":-2.5,"rd":-3.0,"fl":-3.0,"ce":-2.0,"@cep":{"time":1000,"run":"cep-Hit-1","pattern":"Hit","events":[{"binding":"r","line":1}]}}"#,
            r#"{"type":"Hit","who":"ANN@ann","n":3,"lo":10,"hi":30.0,"rd":3.0,"fl":2.0,"ce":3.0,"@cep":{"time":4000,"run":"cep-Hit-2","pattern":"Hit","events":[{"binding":"r","line":4}]}}"#,
        ],
    );
}

/// Time literals (`@` and RFC 3339, an offset allowed) compare with
/// times, and a time minus a time is a duration; a time plus a duration
/// is a time.
#[test]
fn time_literals_and_time_arithmetic() {
    check(
        r#"
event Login { user: str, at: time }

pattern NewYear {
    l: Login where at >= @2026-01-01T01:00:00+01:00 and at < @2026-01-01T00:00:00Z + 1h
    emit { user: l.user, after: l.at - @2026-01-01T00:00:00Z }
}
"#,
        &[
            // Before midnight UTC: no.
            r#"{"type":"Login","user":"a","at":"2025-12-31T23:59:59Z"}"#,
            // 90 s after: yes.
            r#"{"type":"Login","user":"b","at":"2026-01-01T00:01:30Z"}"#,
            // An hour after: no (the bound is open).
            r#"{"type":"Login","user":"c","at":"2026-01-01T01:00:00Z"}"#,
        ],
        &[
            r#"{"type":"NewYear","user":"b","after":90000,"@cep":{"time":1767225690000,"run":"cep-NewYear-1","pattern":"NewYear","events":[{"binding":"l","line":2}]}}"#,
        ],
    );
}

/// Optional fields (`float?`): missing or `null` in the input is no value
/// (the line is not rejected); `is null` and `is not null` always have a
/// value; `??` gives a default; a comparison with no value is not true.
/// A non-optional field still rejects a missing value and `null`.
#[test]
fn optional_fields_take_missing_and_null_as_no_value() {
    check(
        r#"
event Reading { sensor: str, v: float?, unit: str?, at: time }

pattern Odd {
    r: Reading where r.v is null or r.v ?? 0.0 > 10.0
    emit { sensor: r.sensor, v: r.v, vv: r.v ?? -1.0, no_unit: r.unit is null, big: r.v > 10.0 }
}
"#,
        &[
            // Missing `v` and `unit`: no value.
            r#"{"type":"Reading","sensor":"a","at":1000}"#,
            // `null` is the same.
            r#"{"type":"Reading","sensor":"b","v":null,"unit":"C","at":2000}"#,
            // Has a value above 10.
            r#"{"type":"Reading","sensor":"c","v":20.5,"at":3000}"#,
            // Has a value, not above 10: no match.
            r#"{"type":"Reading","sensor":"d","v":5.0,"unit":null,"at":4000}"#,
            // A wrong type is still wrong.
            r#"{"type":"Reading","sensor":"e","v":"x","at":5000}"#,
            // A non-optional field may not be missing, nor null.
            r#"{"type":"Reading","v":1.0,"at":6000}"#,
            r#"{"type":"Reading","sensor":null,"at":7000}"#,
        ],
        &[
            r#"{"type":"Odd","sensor":"a","v":null,"vv":-1.0,"no_unit":true,"big":null,"@cep":{"time":1000,"run":"cep-Odd-1","pattern":"Odd","events":[{"binding":"r","line":1}]}}"#,
            r#"{"type":"Odd","sensor":"b","v":null,"vv":-1.0,"no_unit":false,"big":null,"@cep":{"time":2000,"run":"cep-Odd-2","pattern":"Odd","events":[{"binding":"r","line":2}]}}"#,
            r#"{"type":"Odd","sensor":"c","v":20.5,"vv":20.5,"no_unit":true,"big":true,"@cep":{"time":3000,"run":"cep-Odd-3","pattern":"Odd","events":[{"binding":"r","line":3}]}}"#,
            r#"{"line":5,"reason":"wrong type","detail":"field `v` of `Reading` must be a float (a JSON number), found the string \"x\"","text":"{\"type\":\"Reading\",\"sensor\":\"e\",\"v\":\"x\",\"at\":5000}"}"#,
            r#"{"line":6,"reason":"missing field","detail":"field `sensor` (str) of `Reading` is missing","text":"{\"type\":\"Reading\",\"v\":1.0,\"at\":6000}"}"#,
            r#"{"line":7,"reason":"wrong type","detail":"field `sensor` of `Reading` must be a str (a JSON string), found null","text":"{\"type\":\"Reading\",\"sensor\":null,\"at\":7000}"}"#,
        ],
    );
}

/// Look-back absence: a leading `not X within D` blocks a run whose first
/// event comes less than D after an X of its key (in input order); the
/// first event is never its own X; at the start nothing blocks; other
/// keys' X do not count.
#[test]
fn a_leading_not_looks_back_from_the_first_event() {
    check(
        r#"
event Login { user: str, at: time }

pattern FirstIn partition by user {
    not Login within 10s
    l: Login
    emit { user: l.user }
}
"#,
        &[
            // Nothing before: a match (and it is not its own X).
            r#"{"type":"Login","user":"a","at":1000}"#,
            // 5 s after a's login: blocked.
            r#"{"type":"Login","user":"a","at":6000}"#,
            // Another key is not blocked by a's logins.
            r#"{"type":"Login","user":"b","at":7000}"#,
            // 10 s after a's latest login (at 6 s): not less than 10 s, a match.
            r#"{"type":"Login","user":"a","at":16000}"#,
            // 1 ms short of 10 s after that one: blocked.
            r#"{"type":"Login","user":"a","at":25999}"#,
        ],
        &[
            r#"{"type":"FirstIn","user":"a","@cep":{"time":1000,"run":"cep-FirstIn-1","pattern":"FirstIn","events":[{"binding":"l","line":1}]}}"#,
            r#"{"type":"FirstIn","user":"b","@cep":{"time":7000,"run":"cep-FirstIn-2","pattern":"FirstIn","events":[{"binding":"l","line":3}]}}"#,
            r#"{"type":"FirstIn","user":"a","@cep":{"time":16000,"run":"cep-FirstIn-3","pattern":"FirstIn","events":[{"binding":"l","line":4}]}}"#,
        ],
    );
}

/// `report first every P`: per key, the first match of each period (of P
/// from the key's first reported match, half-open) is reported at once;
/// the others are not produced, and are counted.
#[test]
fn report_first_every_keeps_the_first_match_of_each_period() {
    check(
        r#"
event Ping { host: str, at: time }

pattern Seen partition by host report first every 10s {
    p: Ping
    emit { host: p.host }
}
"#,
        &[
            r#"{"type":"Ping","host":"a","at":1000}"#,
            r#"{"type":"Ping","host":"a","at":5000}"#,
            r#"{"type":"Ping","host":"b","at":6000}"#,
            // 10 s after a's first: a new period [11 s, 21 s).
            r#"{"type":"Ping","host":"a","at":11000}"#,
            r#"{"type":"Ping","host":"a","at":20999}"#,
            // Periods follow each other: [31 s, 41 s), not from 35 s.
            r#"{"type":"Ping","host":"a","at":35000}"#,
            r#"{"type":"Ping","host":"a","at":40000}"#,
        ],
        &[
            r#"{"type":"Seen","host":"a","@cep":{"time":1000,"run":"cep-Seen-1","pattern":"Seen","events":[{"binding":"p","line":1}]}}"#,
            r#"{"type":"Seen","host":"b","@cep":{"time":6000,"run":"cep-Seen-3","pattern":"Seen","events":[{"binding":"p","line":3}]}}"#,
            r#"{"type":"Seen","host":"a","@cep":{"time":11000,"run":"cep-Seen-4","pattern":"Seen","events":[{"binding":"p","line":4}]}}"#,
            r#"{"type":"Seen","host":"a","@cep":{"time":35000,"run":"cep-Seen-6","pattern":"Seen","events":[{"binding":"p","line":6}]}}"#,
        ],
    );
}

/// `report last every P`: the last match of each period is reported when
/// the period ends (before anything at that instant), or at the end of
/// the input; consumers see only what is reported.
#[test]
fn report_last_every_keeps_the_last_match_of_each_period() {
    check(
        r#"
event Ping { host: str, n: int, at: time }

pattern Latest partition by host report last every 10s {
    p: Ping
    emit { host: p.host, n: p.n }
}

pattern TwoLatest partition by host {
    a: Latest
    next b: Latest
    emit { host: a.host, first: a.n, second: b.n }
}
"#,
        &[
            r#"{"type":"Ping","host":"a","n":1,"at":1000}"#,
            r#"{"type":"Ping","host":"a","n":2,"at":5000}"#,
            // At 11 s the period [1 s, 11 s) ends first: n=2 goes out.
            r#"{"type":"Ping","host":"a","n":3,"at":11000}"#,
            r#"{"type":"Ping","host":"a","n":4,"at":12000}"#,
        ],
        &[
            // Each at its period's end: [1 s, 11 s), then [11 s, 21 s),
            // which the end of the input lets pass.
            r#"{"type":"Latest","host":"a","n":2,"@cep":{"time":11000,"run":"cep-Latest-2","pattern":"Latest","events":[{"binding":"p","line":2}]}}"#,
            r#"{"type":"Latest","host":"a","n":4,"@cep":{"time":21000,"run":"cep-Latest-4","pattern":"Latest","events":[{"binding":"p","line":4}]}}"#,
            r#"{"type":"TwoLatest","host":"a","first":2,"second":4,"@cep":{"time":21000,"run":"cep-TwoLatest-1","pattern":"TwoLatest","events":[{"binding":"a","run":"cep-Latest-2"},{"binding":"b","run":"cep-Latest-4"}]}}"#,
        ],
    );
}

#[test]
fn on_timeout_emits_once_per_run_whose_window_closes_before_a_match() {
    // Order c's run bound `o` and `p` when its window closed; b's bound
    // `o` only (`p` and `s` have no value); a completed (no timeout); the
    // end of the input closes d's window.
    check(
        r#"
event Order { id: str, at: time }
event Paid { id: str, amount: float, at: time }
event Shipped { id: str, at: time }

pattern Fulfilled partition by id within 1h {
    o: Order
    then p: Paid
    then s: Shipped
    emit { id: o.id, amount: p.amount }
    on timeout emit Stalled { id: o.id, paid: p.amount ?? 0.0, shipped: s.at, late: s.at is null }
}
"#,
        &[
            r#"{"type":"Order","id":"a","at":0}"#,
            r#"{"type":"Order","id":"b","at":600000}"#,
            r#"{"type":"Paid","id":"a","amount":5.5,"at":1200000}"#,
            r#"{"type":"Shipped","id":"a","at":1800000}"#,
            r#"{"type":"Order","id":"c","at":2400000}"#,
            r#"{"type":"Paid","id":"c","amount":7.0,"at":3000000}"#,
            r#"{"type":"Order","id":"d","at":5400000}"#,
        ],
        &[
            r#"{"type":"Fulfilled","id":"a","amount":5.5,"@cep":{"time":1800000,"run":"cep-Fulfilled-1","pattern":"Fulfilled","events":[{"binding":"o","line":1},{"binding":"p","line":3},{"binding":"s","line":4}]}}"#,
            r#"{"type":"Stalled","id":"b","paid":0.0,"shipped":null,"late":true,"@cep":{"time":4200000,"run":"cep-Fulfilled-2","pattern":"Fulfilled","events":[{"binding":"o","line":2}]}}"#,
            r#"{"type":"Stalled","id":"c","paid":7.0,"shipped":null,"late":true,"@cep":{"time":6000000,"run":"cep-Fulfilled-3","pattern":"Fulfilled","events":[{"binding":"o","line":5},{"binding":"p","line":6}]}}"#,
            r#"{"type":"Stalled","id":"d","paid":0.0,"shipped":null,"late":true,"@cep":{"time":9000000,"run":"cep-Fulfilled-4","pattern":"Fulfilled","events":[{"binding":"o","line":7}]}}"#,
        ],
    );
}

#[test]
fn on_timeout_skips_killed_halted_and_complete_runs_and_feeds_other_patterns() {
    // k1: the second A breaks the first run's `next` (no timeout) and
    // starts a run that times out; a later A times out too, and the
    // pattern over `Gone` pairs the two. k2: a halt ends the run. k3:
    // `b+` matched after one B; the run that stays to grow the group
    // binds what was reported, so it does not time out.
    check(
        r#"
event A { k: str, at: time }
event B { k: str, at: time }
event H { k: str, at: time }

pattern P partition by k within 10s {
    halt on H
    a: A
    next b: B+
    emit { k: a.k, n: count(b) }
    on timeout emit Gone { k: a.k, since: a.at, n: count(b) }
}

pattern Twice partition by k within 1m {
    x: Gone
    then y: Gone
    emit { k: x.k, first: x.since, second: y.since }
}
"#,
        &[
            r#"{"type":"A","k":"k1","at":0}"#,
            r#"{"type":"A","k":"k1","at":1000}"#,
            r#"{"type":"A","k":"k2","at":2000}"#,
            r#"{"type":"H","k":"k2","at":3000}"#,
            r#"{"type":"A","k":"k3","at":4000}"#,
            r#"{"type":"B","k":"k3","at":5000}"#,
            r#"{"type":"A","k":"k1","at":20000}"#,
        ],
        &[
            r#"{"type":"P","k":"k3","n":1,"@cep":{"time":5000,"run":"cep-P-5","pattern":"P","events":[{"binding":"a","line":5},{"binding":"b","line":6}]}}"#,
            r#"{"type":"Gone","k":"k1","since":1000,"n":0,"@cep":{"time":11000,"run":"cep-P-2","pattern":"P","events":[{"binding":"a","line":2}]}}"#,
            r#"{"type":"Gone","k":"k1","since":20000,"n":0,"@cep":{"time":30000,"run":"cep-P-6","pattern":"P","events":[{"binding":"a","line":7}]}}"#,
            r#"{"type":"Twice","k":"k1","first":1000,"second":20000,"@cep":{"time":30000,"run":"cep-Twice-1","pattern":"Twice","events":[{"binding":"x","run":"cep-P-2"},{"binding":"y","run":"cep-P-6"}]}}"#,
        ],
    );
}

#[test]
fn alternation_binds_either_type_and_a_renamed_key_reads_each_types_field() {
    // `Humidity` keeps its fields in another order than `Temperature`
    // (`value` is slot 2, not 1): conditions, `prev`, aggregates and
    // `emit` read each event's own slot. The key `device` is `sensor` in
    // one type and `sensor_id` in the other; both patterns read it as
    // `x.device`. In `Pair`, s1's first Humidity is followed by another
    // Humidity (a named type): its `next` fails.
    check(
        r#"
event Temperature { sensor: str, value: float, at: time }
event Humidity { at: time, sensor_id: str, value: float }

pattern Rising partition by device = Temperature.sensor | Humidity.sensor_id within 1m {
    a: Temperature | Humidity where value > 10.0
    then ups: (Temperature | Humidity){2} where value > prev.value
    emit { device: a.device, first: a.value, top: max(ups.value), last: last(ups.value), n: count(ups) }
}

pattern Pair partition by device = Temperature.sensor | Humidity.sensor_id within 1m {
    h: Humidity
    next t: Temperature where value > h.value
    emit { device: t.device, dry: h.value, warm: t.value, same: h.device == t.device }
}
"#,
        &[
            r#"{"type":"Temperature","sensor":"s1","value":11.0,"at":1000}"#,
            r#"{"type":"Humidity","sensor_id":"s2","value":50.0,"at":1500}"#,
            r#"{"type":"Humidity","sensor_id":"s1","value":12.0,"at":2000}"#,
            r#"{"type":"Temperature","sensor":"s2","value":51.0,"at":2500}"#,
            r#"{"type":"Humidity","sensor_id":"s1","value":11.5,"at":2700}"#,
            r#"{"type":"Temperature","sensor":"s1","value":13.0,"at":3000}"#,
        ],
        &[
            r#"{"type":"Pair","device":"s2","dry":50.0,"warm":51.0,"same":true,"@cep":{"time":2500,"run":"cep-Pair-1","pattern":"Pair","events":[{"binding":"h","line":2},{"binding":"t","line":4}]}}"#,
            r#"{"type":"Rising","device":"s1","first":11.0,"top":13.0,"last":13.0,"n":2,"@cep":{"time":3000,"run":"cep-Rising-1","pattern":"Rising","events":[{"binding":"a","line":1},{"binding":"ups","line":3},{"binding":"ups","line":6}]}}"#,
            r#"{"type":"Pair","device":"s1","dry":11.5,"warm":13.0,"same":true,"@cep":{"time":3000,"run":"cep-Pair-3","pattern":"Pair","events":[{"binding":"h","line":5},{"binding":"t","line":6}]}}"#,
        ],
    );
}

#[test]
fn greedy_reluctant_consecutive_choose_among_a_starts_matches() {
    // Key x: `All` (every combination) reports groups of 1, 2 and 3;
    // `Greedy` keeps the longest per start (3, held until no run of the
    // start can do better: the window's close at the end); `Reluctant`
    // the shortest of at least 2 (the later one of 3 is dropped). At the
    // end (`Tail`), a greedy group grows while the key's next event
    // qualifies: for y's first start the T with v = 0 ends it at one. A
    // held match's time is when it was decided (that T at 9 s, or a
    // window's close at first + 1m).
    // `Consecutive`: y's first start has a T with v = 0 inside its group.
    check(
        r#"
event T { k: str, v: int, at: time }
event E { k: str, at: time }

pattern All partition by k within 1m {
    _a: T where v == 0
    then b: T+ where v > 0
    then _e: E
    emit { n: count(b), first: first(b.v), last: last(b.v) }
}

pattern Greedy partition by k within 1m {
    _a: T where v == 0
    then b: T+ greedy where v > 0
    then _e: E
    emit { n: count(b), first: first(b.v), last: last(b.v) }
}

pattern Reluctant partition by k within 1m {
    _a: T where v == 0
    then b: T{2,}? where v > 0
    then _e: E
    emit { n: count(b), first: first(b.v), last: last(b.v) }
}

pattern Tail partition by k within 1m {
    _a: T where v == 0
    then b: T+ greedy where v > 0
    emit { n: count(b), first: first(b.v), last: last(b.v) }
}

pattern Consecutive partition by k within 1m {
    _a: T where v == 0
    then b: T{2,} consecutive where v > 0
    then _e: E
    emit { n: count(b), first: first(b.v), last: last(b.v) }
}
"#,
        &[
            r#"{"type":"T","k":"x","v":0,"at":1000}"#,
            r#"{"type":"T","k":"x","v":1,"at":2000}"#,
            r#"{"type":"T","k":"x","v":2,"at":3000}"#,
            r#"{"type":"E","k":"x","at":4000}"#,
            r#"{"type":"T","k":"x","v":3,"at":5000}"#,
            r#"{"type":"E","k":"x","at":6000}"#,
            r#"{"type":"T","k":"y","v":0,"at":7000}"#,
            r#"{"type":"T","k":"y","v":5,"at":8000}"#,
            r#"{"type":"T","k":"y","v":0,"at":9000}"#,
            r#"{"type":"T","k":"y","v":6,"at":10000}"#,
            r#"{"type":"T","k":"y","v":7,"at":11000}"#,
            r#"{"type":"E","k":"y","at":12000}"#,
        ],
        &[
            r#"{"type":"All","n":2,"first":1,"last":2,"@cep":{"time":4000,"run":"cep-All-3","pattern":"All","events":[{"binding":"_a","line":1},{"binding":"b","line":2},{"binding":"b","line":3},{"binding":"_e","line":4}]}}"#,
            r#"{"type":"All","n":1,"first":1,"last":1,"@cep":{"time":4000,"run":"cep-All-2","pattern":"All","events":[{"binding":"_a","line":1},{"binding":"b","line":2},{"binding":"_e","line":4}]}}"#,
            r#"{"type":"Reluctant","n":2,"first":1,"last":2,"@cep":{"time":4000,"run":"cep-Reluctant-2","pattern":"Reluctant","events":[{"binding":"_a","line":1},{"binding":"b","line":2},{"binding":"b","line":3},{"binding":"_e","line":4}]}}"#,
            r#"{"type":"Consecutive","n":2,"first":1,"last":2,"@cep":{"time":4000,"run":"cep-Consecutive-2","pattern":"Consecutive","events":[{"binding":"_a","line":1},{"binding":"b","line":2},{"binding":"b","line":3},{"binding":"_e","line":4}]}}"#,
            r#"{"type":"All","n":3,"first":1,"last":3,"@cep":{"time":6000,"run":"cep-All-4","pattern":"All","events":[{"binding":"_a","line":1},{"binding":"b","line":2},{"binding":"b","line":3},{"binding":"b","line":5},{"binding":"_e","line":6}]}}"#,
            r#"{"type":"Tail","n":1,"first":5,"last":5,"@cep":{"time":9000,"run":"cep-Tail-6","pattern":"Tail","events":[{"binding":"_a","line":7},{"binding":"b","line":8}]}}"#,
            r#"{"type":"All","n":3,"first":5,"last":7,"@cep":{"time":12000,"run":"cep-All-10","pattern":"All","events":[{"binding":"_a","line":7},{"binding":"b","line":8},{"binding":"b","line":10},{"binding":"b","line":11},{"binding":"_e","line":12}]}}"#,
            r#"{"type":"All","n":2,"first":5,"last":6,"@cep":{"time":12000,"run":"cep-All-8","pattern":"All","events":[{"binding":"_a","line":7},{"binding":"b","line":8},{"binding":"b","line":10},{"binding":"_e","line":12}]}}"#,
            r#"{"type":"All","n":1,"first":5,"last":5,"@cep":{"time":12000,"run":"cep-All-6","pattern":"All","events":[{"binding":"_a","line":7},{"binding":"b","line":8},{"binding":"_e","line":12}]}}"#,
            r#"{"type":"All","n":2,"first":6,"last":7,"@cep":{"time":12000,"run":"cep-All-11","pattern":"All","events":[{"binding":"_a","line":9},{"binding":"b","line":10},{"binding":"b","line":11},{"binding":"_e","line":12}]}}"#,
            r#"{"type":"All","n":1,"first":6,"last":6,"@cep":{"time":12000,"run":"cep-All-9","pattern":"All","events":[{"binding":"_a","line":9},{"binding":"b","line":10},{"binding":"_e","line":12}]}}"#,
            r#"{"type":"Reluctant","n":2,"first":5,"last":6,"@cep":{"time":12000,"run":"cep-Reluctant-6","pattern":"Reluctant","events":[{"binding":"_a","line":7},{"binding":"b","line":8},{"binding":"b","line":10},{"binding":"_e","line":12}]}}"#,
            r#"{"type":"Reluctant","n":2,"first":6,"last":7,"@cep":{"time":12000,"run":"cep-Reluctant-8","pattern":"Reluctant","events":[{"binding":"_a","line":9},{"binding":"b","line":10},{"binding":"b","line":11},{"binding":"_e","line":12}]}}"#,
            r#"{"type":"Consecutive","n":2,"first":6,"last":7,"@cep":{"time":12000,"run":"cep-Consecutive-5","pattern":"Consecutive","events":[{"binding":"_a","line":9},{"binding":"b","line":10},{"binding":"b","line":11},{"binding":"_e","line":12}]}}"#,
            r#"{"type":"Greedy","n":3,"first":1,"last":3,"@cep":{"time":61000,"run":"cep-Greedy-4","pattern":"Greedy","events":[{"binding":"_a","line":1},{"binding":"b","line":2},{"binding":"b","line":3},{"binding":"b","line":5},{"binding":"_e","line":6}]}}"#,
            r#"{"type":"Tail","n":3,"first":1,"last":3,"@cep":{"time":61000,"run":"cep-Tail-4","pattern":"Tail","events":[{"binding":"_a","line":1},{"binding":"b","line":2},{"binding":"b","line":3},{"binding":"b","line":5}]}}"#,
            r#"{"type":"Greedy","n":3,"first":5,"last":7,"@cep":{"time":67000,"run":"cep-Greedy-10","pattern":"Greedy","events":[{"binding":"_a","line":7},{"binding":"b","line":8},{"binding":"b","line":10},{"binding":"b","line":11},{"binding":"_e","line":12}]}}"#,
            r#"{"type":"Greedy","n":2,"first":6,"last":7,"@cep":{"time":69000,"run":"cep-Greedy-11","pattern":"Greedy","events":[{"binding":"_a","line":9},{"binding":"b","line":10},{"binding":"b","line":11},{"binding":"_e","line":12}]}}"#,
            r#"{"type":"Tail","n":2,"first":6,"last":7,"@cep":{"time":69000,"run":"cep-Tail-9","pattern":"Tail","events":[{"binding":"_a","line":9},{"binding":"b","line":10},{"binding":"b","line":11}]}}"#,
        ],
    );
}

#[test]
fn a_held_greedy_match_reaches_its_consumers_in_time_order() {
    // The A at 5 s ends the greedy group (a named event it does not
    // take): G is decided then and has that time, so E sees the A and
    // then G (equal times, in order), and D no A after G.
    check(
        r#"
event A { k: str, v: int, at: time }
event B { k: str, v: int, at: time }

pattern G partition by k within 1m {
    a: A
    then bs: B+ greedy
    emit { k: a.k, n: count(bs) }
}
pattern D partition by k within 1m {
    g: G
    next a: A
    emit { k: g.k, n: g.n, av: a.v }
}
pattern E partition by k within 1m {
    a: A
    next g: G
    emit { k: g.k, n: g.n, av: a.v }
}
"#,
        &[
            r#"{"type":"A","k":"x","v":0,"at":1000}"#,
            r#"{"type":"B","k":"x","v":1,"at":2000}"#,
            r#"{"type":"B","k":"x","v":2,"at":3000}"#,
            r#"{"type":"B","k":"x","v":3,"at":4000}"#,
            r#"{"type":"A","k":"x","v":9,"at":5000}"#,
            r#"{"type":"B","k":"x","v":4,"at":6000}"#,
        ],
        &[
            r#"{"type":"G","k":"x","n":3,"@cep":{"time":5000,"run":"cep-G-4","pattern":"G","events":[{"binding":"a","line":1},{"binding":"bs","line":2},{"binding":"bs","line":3},{"binding":"bs","line":4}]}}"#,
            r#"{"type":"E","k":"x","n":3,"av":9,"@cep":{"time":5000,"run":"cep-E-2","pattern":"E","events":[{"binding":"a","line":5},{"binding":"g","run":"cep-G-4"}]}}"#,
            r#"{"type":"G","k":"x","n":1,"@cep":{"time":65000,"run":"cep-G-6","pattern":"G","events":[{"binding":"a","line":5},{"binding":"bs","line":6}]}}"#,
        ],
    );
}

#[test]
fn group_iterations_join_by_the_entering_keyword_and_are_one_match_per_set_of_events() {
    // `Split`: two derivations bind A1 and A2 to `x` (one iteration of two,
    // or two of one): one match, with the fewest iterations. Under `then`
    // the group takes the first A after S, so no match starts its group at
    // A2. `Strict`: `next` joins the iterations too: for key b, one
    // iteration (A1 A2) is followed by A3, not E, and dies; two iterations
    // are followed by E.
    check(
        r#"
event S { k: str, at: time }
event A { k: str, v: int, at: time }
event E { k: str, at: time }

pattern Split partition by k within 1m {
    _s: S
    then g: ( x: A+ ){1,3}
    then _e: E
    emit { n: count(g), xs: count(g.x), last: last(g.x.v) }
}

pattern Strict partition by k within 1m {
    _s: S
    next g: ( _x: A next _y: A ){1,}
    next _e: E
    emit { n: count(g) }
}
"#,
        &[
            r#"{"type":"S","k":"a","at":1000}"#,
            r#"{"type":"A","k":"a","v":1,"at":2000}"#,
            r#"{"type":"A","k":"a","v":2,"at":3000}"#,
            r#"{"type":"E","k":"a","at":4000}"#,
            r#"{"type":"S","k":"b","at":5000}"#,
            r#"{"type":"A","k":"b","v":1,"at":6000}"#,
            r#"{"type":"A","k":"b","v":2,"at":7000}"#,
            r#"{"type":"A","k":"b","v":3,"at":8000}"#,
            r#"{"type":"A","k":"b","v":4,"at":9000}"#,
            r#"{"type":"E","k":"b","at":10000}"#,
        ],
        &[
            r#"{"type":"Split","n":1,"xs":2,"last":2,"@cep":{"time":4000,"run":"cep-Split-5","pattern":"Split","events":[{"binding":"_s","line":1},{"binding":"x","line":2},{"binding":"x","line":3},{"binding":"_e","line":4}]}}"#,
            r#"{"type":"Split","n":1,"xs":1,"last":1,"@cep":{"time":4000,"run":"cep-Split-3","pattern":"Split","events":[{"binding":"_s","line":1},{"binding":"x","line":2},{"binding":"_e","line":4}]}}"#,
            r#"{"type":"Strict","n":1,"@cep":{"time":4000,"run":"cep-Strict-2","pattern":"Strict","events":[{"binding":"_s","line":1},{"binding":"_x","line":2},{"binding":"_y","line":3},{"binding":"_e","line":4}]}}"#,
            r#"{"type":"Split","n":1,"xs":4,"last":4,"@cep":{"time":10000,"run":"cep-Split-23","pattern":"Split","events":[{"binding":"_s","line":5},{"binding":"x","line":6},{"binding":"x","line":7},{"binding":"x","line":8},{"binding":"x","line":9},{"binding":"_e","line":10}]}}"#,
            r#"{"type":"Split","n":1,"xs":3,"last":3,"@cep":{"time":10000,"run":"cep-Split-16","pattern":"Split","events":[{"binding":"_s","line":5},{"binding":"x","line":6},{"binding":"x","line":7},{"binding":"x","line":8},{"binding":"_e","line":10}]}}"#,
            r#"{"type":"Split","n":1,"xs":2,"last":2,"@cep":{"time":10000,"run":"cep-Split-12","pattern":"Split","events":[{"binding":"_s","line":5},{"binding":"x","line":6},{"binding":"x","line":7},{"binding":"_e","line":10}]}}"#,
            r#"{"type":"Split","n":1,"xs":1,"last":1,"@cep":{"time":10000,"run":"cep-Split-10","pattern":"Split","events":[{"binding":"_s","line":5},{"binding":"x","line":6},{"binding":"_e","line":10}]}}"#,
            r#"{"type":"Strict","n":2,"@cep":{"time":10000,"run":"cep-Strict-5","pattern":"Strict","events":[{"binding":"_s","line":5},{"binding":"_x","line":6},{"binding":"_y","line":7},{"binding":"_x","line":8},{"binding":"_y","line":9},{"binding":"_e","line":10}]}}"#,
        ],
    );
}

#[test]
fn group_negations_hold_once_before_and_between_iterations_at_the_end() {
    // `Before`: `not C` before the group holds once, from A to the first B
    // (key q dies; a C inside the group or after it does not matter, keys p
    // and r). `Between`: at the end of the body it holds from each
    // iteration's last event to the next bound event, whatever binds it: the
    // second iteration (key p) or E (key r); a C before the group does not
    // matter (key q).
    check(
        r#"
event A { k: str, at: time }
event B { k: str, v: int, at: time }
event C { k: str, at: time }
event E { k: str, at: time }

pattern Before partition by k within 1m {
    _a: A
    not C
    then g: ( _x: B ){2}
    then _e: E
    emit { n: count(g) }
}

pattern Between partition by k within 1m {
    _a: A
    then g: (
        _x: B
        not C
    ){2}
    then _e: E
    emit { n: count(g) }
}
"#,
        &[
            r#"{"type":"A","k":"p","at":1000}"#,
            r#"{"type":"B","k":"p","v":1,"at":2000}"#,
            r#"{"type":"C","k":"p","at":3000}"#,
            r#"{"type":"B","k":"p","v":2,"at":4000}"#,
            r#"{"type":"E","k":"p","at":5000}"#,
            r#"{"type":"A","k":"q","at":6000}"#,
            r#"{"type":"C","k":"q","at":7000}"#,
            r#"{"type":"B","k":"q","v":1,"at":8000}"#,
            r#"{"type":"B","k":"q","v":2,"at":9000}"#,
            r#"{"type":"E","k":"q","at":10000}"#,
            r#"{"type":"A","k":"r","at":11000}"#,
            r#"{"type":"B","k":"r","v":1,"at":12000}"#,
            r#"{"type":"B","k":"r","v":2,"at":13000}"#,
            r#"{"type":"C","k":"r","at":14000}"#,
            r#"{"type":"E","k":"r","at":15000}"#,
        ],
        &[
            r#"{"type":"Before","n":2,"@cep":{"time":5000,"run":"cep-Before-1","pattern":"Before","events":[{"binding":"_a","line":1},{"binding":"_x","line":2},{"binding":"_x","line":4},{"binding":"_e","line":5}]}}"#,
            r#"{"type":"Between","n":2,"@cep":{"time":10000,"run":"cep-Between-2","pattern":"Between","events":[{"binding":"_a","line":6},{"binding":"_x","line":8},{"binding":"_x","line":9},{"binding":"_e","line":10}]}}"#,
            r#"{"type":"Before","n":2,"@cep":{"time":15000,"run":"cep-Before-3","pattern":"Before","events":[{"binding":"_a","line":11},{"binding":"_x","line":12},{"binding":"_x","line":13},{"binding":"_e","line":15}]}}"#,
        ],
    );
}

#[test]
fn nested_groups_aggregate_over_every_iteration_and_optional_groups() {
    // `Nested` starts with a group: its iterations are joined strictly, so
    // the second iteration must start at the A right after B3; in the first,
    // the nested `h` has two iterations (B2, B3, joined by `then`), in the
    // second one (B5): count(g.h) = 3, sum(g.h.y.v) = 10. A run that ends
    // `h` after B2 dies at B3 (not an A). `Opt`: a group of 0 to 2
    // iterations gives a match per number of iterations.
    check(
        r#"
event A { k: str, v: int, at: time }
event B { k: str, v: int, at: time }
event C { k: str, at: time }

pattern Nested partition by k within 1m {
    g: (
        x: A
        then h: (
            y: B where v > x.v
        ){1,2}
        not C
    ){2}
    then z: A where v == 9
    emit { k: z.k, n: count(g), hs: count(g.h), ys: count(g.h.y), sy: sum(g.h.y.v) }
}

pattern Opt partition by k within 1m {
    a: A where v == 0
    then o: ( b: B ){0,2}
    then _c: C
    emit { k: a.k, n: count(o), nb: count(o.b) }
}
"#,
        &[
            r#"{"type":"A","k":"a","v":0,"at":"2026-01-01T00:00:00Z"}"#,
            r#"{"type":"B","k":"a","v":2,"at":"2026-01-01T00:00:01Z"}"#,
            r#"{"type":"B","k":"a","v":3,"at":"2026-01-01T00:00:02Z"}"#,
            r#"{"type":"A","k":"a","v":1,"at":"2026-01-01T00:00:03Z"}"#,
            r#"{"type":"B","k":"a","v":5,"at":"2026-01-01T00:00:04Z"}"#,
            r#"{"type":"A","k":"a","v":9,"at":"2026-01-01T00:00:05Z"}"#,
            r#"{"type":"C","k":"a","at":"2026-01-01T00:00:07Z"}"#,
        ],
        &[
            r#"{"type":"Nested","k":"a","n":2,"hs":3,"ys":3,"sy":10,"@cep":{"time":1767225605000,"run":"cep-Nested-4","pattern":"Nested","events":[{"binding":"x","line":1},{"binding":"y","line":2},{"binding":"y","line":3},{"binding":"x","line":4},{"binding":"y","line":5},{"binding":"z","line":6}]}}"#,
            r#"{"type":"Opt","k":"a","n":2,"nb":2,"@cep":{"time":1767225607000,"run":"cep-Opt-1","pattern":"Opt","events":[{"binding":"a","line":1},{"binding":"b","line":2},{"binding":"b","line":3},{"binding":"_c","line":7}]}}"#,
            r#"{"type":"Opt","k":"a","n":1,"nb":1,"@cep":{"time":1767225607000,"run":"cep-Opt-3","pattern":"Opt","events":[{"binding":"a","line":1},{"binding":"b","line":2},{"binding":"_c","line":7}]}}"#,
            r#"{"type":"Opt","k":"a","n":0,"nb":0,"@cep":{"time":1767225607000,"run":"cep-Opt-2","pattern":"Opt","events":[{"binding":"a","line":1},{"binding":"_c","line":7}]}}"#,
        ],
    );
}

#[test]
fn a_timed_out_run_through_a_group_is_one_per_set_of_events_with_the_fewest_iterations() {
    // The run that bound S, A1 and A2 has two derivations (one iteration of
    // two, two of one): one `Stalled`, with one iteration. The input ends
    // before any E: every window closes at S + 10 s.
    check(
        r#"
event S { k: str, at: time }
event A { k: str, v: int, at: time }
event E { k: str, at: time }

pattern Split partition by k within 10s {
    s: S
    then g: ( x: A+ ){1,3}
    then _e: E
    emit { n: count(g) }
    on timeout emit Stalled { k: s.k, n: count(g), xs: count(g.x), last: last(g.x.v) }
}
"#,
        &[
            r#"{"type":"S","k":"a","at":1000}"#,
            r#"{"type":"A","k":"a","v":1,"at":2000}"#,
            r#"{"type":"A","k":"a","v":2,"at":3000}"#,
        ],
        &[
            r#"{"type":"Stalled","k":"a","n":1,"xs":1,"last":1,"@cep":{"time":11000,"run":"cep-Split-3","pattern":"Split","events":[{"binding":"s","line":1},{"binding":"x","line":2}]}}"#,
            r#"{"type":"Stalled","k":"a","n":1,"xs":2,"last":2,"@cep":{"time":11000,"run":"cep-Split-1","pattern":"Split","events":[{"binding":"s","line":1},{"binding":"x","line":2},{"binding":"x","line":3}]}}"#,
        ],
    );
}
