//! `cep run --threads 2` decodes on a thread of its own, ahead of the
//! matching; its output must be the output of `--threads 1`, byte for
//! byte: complex events, dead letters (their reasons and the latest
//! times they quote), the summary. The input spans several read chunks
//! (256 KiB each) and has every kind of line the decoder treats apart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

const RULES: &str = "\
event T { k: str, v: int, at: time }
event Mark { k: str }

pattern Up partition by k within 5s {
    a: T
    next b: T where v > a.v
    emit { k: a.k, from: a.v, to: b.v }
}

pattern Quiet partition by k {
    a: T where v == 7
    not T within 2s
    emit { k: a.k }
}

pattern Marked partition by k within 10s {
    m: Mark
    then t: T
    emit { k: m.k, v: t.v }
}
";

/// About 700 KB of lines: events a little out of order (some beyond
/// `--max-delay`, so late), marks stamped with the latest time, blank
/// lines, broken JSON, wrong types, an oversized line, a byte order mark
/// on line 1 and no line break at the end.
fn input() -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut at: i64 = 1_000_000;
    for i in 0..20_000u64 {
        let r = next();
        at += (r % 40) as i64;
        let k = r % 37;
        let line = match r % 100 {
            0 => "\n".to_string(),
            1 => "{\"type\":\"T\",\"k\":\"x\",\"v\":\"nine\",\"at\":5}\n".to_string(),
            2 => "{not json\n".to_string(),
            3 => format!("{{\"type\":\"Mark\",\"k\":\"k{k}\"}}\n"),
            4 => format!(
                "{{\"type\":\"T\",\"k\":\"k{k}\",\"v\":{},\"at\":{}}}\n",
                r % 9,
                at - 3_000
            ),
            5 if i % 50 == 0 => format!("{{\"type\":\"T\",\"k\":\"{}\"}}\n", "z".repeat(5_000)),
            _ => format!(
                "{{\"type\":\"T\",\"k\":\"k{k}\",\"v\":{},\"at\":{}}}\n",
                r % 9,
                at - (r % 300) as i64
            ),
        };
        out.extend_from_slice(line.as_bytes());
    }
    out.extend_from_slice(
        format!("{{\"type\":\"T\",\"k\":\"k1\",\"v\":8,\"at\":{at}}}").as_bytes(),
    );
    out
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("cep-threads-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `cep run` with `--threads n`; gives (complex events, dead
/// letters, the summary without its timing).
fn run(d: &Path, n: &str, extra: &[&str]) -> (Vec<u8>, Vec<u8>, String) {
    let out = d.join(format!("out-{n}.ndjson"));
    let dead = d.join(format!("dead-{n}.ndjson"));
    let o = Command::new(env!("CARGO_BIN_EXE_cep"))
        .env("NO_COLOR", "1")
        .arg("run")
        .arg(d.join("r.cep"))
        .arg("--input")
        .arg(d.join("in.ndjson"))
        .arg("--output")
        .arg(&out)
        .arg("--dead-letter")
        .arg(&dead)
        .args([
            "--max-delay",
            "1s",
            "--max-line-bytes",
            "4096",
            "--threads",
            n,
        ])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "--threads {n}: {stderr}");
    let summary = stderr
        .lines()
        .map(|l| match l.find(" dead letters, ") {
            Some(i) => l[..i].to_string(),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    (
        std::fs::read(&out).unwrap(),
        std::fs::read(&dead).unwrap(),
        summary,
    )
}

#[test]
fn two_threads_write_what_one_writes() {
    let d = dir();
    std::fs::write(d.join("r.cep"), RULES).unwrap();
    let input = input();
    assert!(input.len() > 3 * 256 * 1024, "{} bytes", input.len());
    std::fs::write(d.join("in.ndjson"), &input).unwrap();
    let one = run(&d, "1", &[]);
    let two = run(&d, "2", &[]);
    let dead = String::from_utf8_lossy(&one.1);
    // The input has what it is meant to have.
    for reason in [
        "\"late\"",
        "\"oversized line\"",
        "\"wrong type\"",
        "\"malformed json\"",
    ] {
        assert!(dead.contains(reason), "no {reason} in the dead letters");
    }
    let lines = String::from_utf8_lossy(&one.0);
    for p in ["\"Up\"", "\"Quiet\"", "\"Marked\""] {
        assert!(lines.contains(p), "no {p} complex event");
    }
    assert!(one.0 == two.0, "complex events differ");
    assert!(one.1 == two.1, "dead letters differ");
    assert_eq!(one.2, two.2);
    // More threads than are used: a note, and the same output.
    let d3 = d.join("three");
    std::fs::create_dir_all(&d3).unwrap();
    std::fs::copy(d.join("r.cep"), d3.join("r.cep")).unwrap();
    std::fs::copy(d.join("in.ndjson"), d3.join("in.ndjson")).unwrap();
    let three = run(&d3, "3", &[]);
    assert!(
        three
            .2
            .contains("--threads 3: this version uses two threads at most"),
        "{}",
        three.2
    );
    assert!(three.0 == one.0 && three.1 == one.1);
    let _ = std::fs::remove_dir_all(&d);
}
