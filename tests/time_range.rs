//! The range of valid times, end to end through `cep run`: events at both
//! ends of the range (0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z)
//! keep exact windows and absences, and times outside the range are dead
//! letters (`bad time`) instead of deadlines that saturate at the largest
//! 64-bit time (which closed a window before its last event was seen, and
//! completed an absence before the event that breaks it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const RULES: &str = r#"
event T { k: str, v: int, at: time }

pattern Pair partition by k within 10ms {
    a: T where v == 1
    next b: T where v == 2
    emit { k: a.k, first: a.at, second: b.at }
}

pattern Quiet partition by k {
    a: T where v == 3
    not T where v == 4 within 10ms
    emit { k: a.k, at: a.at }
}
"#;

const MIN: i64 = cep_ir::MIN_TIME_MS;
const MAX: i64 = cep_ir::MAX_TIME_MS;

/// Runs `RULES` over `lines`; gives (complex events, dead letters).
fn run(lines: &[String]) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir: PathBuf = std::env::temp_dir().join(format!("cep-range-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.cep");
    let input = dir.join("in.ndjson");
    let output = dir.join("out.ndjson");
    let dead = dir.join("dead.ndjson");
    std::fs::write(&rules, RULES).unwrap();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_cep"))
        .arg("run")
        .arg(&rules)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .arg("--dead-letter")
        .arg(&dead)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |p: &PathBuf| -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let got = (read(&output), read(&dead));
    let _ = std::fs::remove_dir_all(&dir);
    got
}

fn ev(k: &str, v: i64, at: i64) -> String {
    format!(r#"{{"type":"T","k":"{k}","v":{v},"at":{at}}}"#)
}

fn summary(out: &[serde_json::Value]) -> Vec<String> {
    out.iter()
        .map(|o| format!("{} {} {}", o["type"], o["k"], o["@cep"]["time"]))
        .collect()
}

/// At the top of the range: a window that opens 5 ms before the last valid
/// instant admits an event at that instant (`within 10ms`), and an absence
/// that starts there is broken by an event at that instant; an absence
/// that nothing breaks, whose last + D is past the range, completes at the
/// latest valid time, at the end of the input.
#[test]
fn windows_and_absences_are_exact_at_the_latest_valid_time() {
    let (out, dead) = run(&[
        ev("w", 1, MAX - 5),
        ev("x", 3, MAX - 5),
        ev("y", 3, MAX - 1),
        ev("w", 2, MAX),
        ev("x", 4, MAX),
    ]);
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(
        summary(&out),
        vec![
            format!("\"Pair\" \"w\" {MAX}"),
            // Its deadline, MAX - 1 + 10ms, is past the range: it completes
            // at the latest valid time.
            format!("\"Quiet\" \"y\" {MAX}"),
        ]
    );
    assert_eq!(out[0]["first"], MAX - 5);
    assert_eq!(out[0]["second"], MAX);
}

/// At the bottom of the range, the same exactness: the window admits
/// `first + 9ms` and refuses `first + 10ms`; the absence is broken at
/// `last + 9ms` and not at `last + 10ms`.
#[test]
fn windows_and_absences_are_exact_at_the_earliest_valid_time() {
    let (out, dead) = run(&[
        ev("w", 1, MIN),
        ev("w", 2, MIN + 9),
        ev("v", 1, MIN + 9),
        ev("v", 2, MIN + 19),
        ev("x", 3, MIN + 20),
        ev("y", 3, MIN + 20),
        ev("x", 4, MIN + 29),
        ev("y", 4, MIN + 30),
    ]);
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(
        summary(&out),
        vec![
            format!("\"Pair\" \"w\" {}", MIN + 9),
            format!("\"Quiet\" \"y\" {}", MIN + 30),
        ]
    );
}

/// Times past either end are dead letters with reason `bad time`, and do
/// not disturb the runs of valid events. Before the range was defined, the
/// events at `i64::MAX - 5` and `i64::MAX` gave no `Pair` (the window's
/// deadline saturated to `i64::MAX` and closed before `b` was seen) and a
/// false `Quiet` (the absence completed before the `v == 4` event).
#[test]
fn times_outside_the_range_are_dead_letters() {
    let top = i64::MAX;
    let (out, dead) = run(&[
        ev("a", 1, MIN - 1),
        ev("b", 3, MAX + 1),
        ev("w", 1, top - 5),
        ev("w", 2, top),
        ev("x", 3, top - 5),
        ev("x", 4, top),
        ev("z", 1, 1000),
        ev("z", 2, 1001),
    ]);
    assert_eq!(summary(&out), vec!["\"Pair\" \"z\" 1001".to_string()]);
    let lines: Vec<i64> = dead.iter().map(|d| d["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, vec![1, 2, 3, 4, 5, 6]);
    for d in &dead {
        assert_eq!(d["reason"], "bad time", "{d}");
        assert!(
            d["detail"]
                .as_str()
                .unwrap()
                .contains("is outside the range of valid times"),
            "{d}"
        );
    }
}
