//! The process history: `cep run --history` writes the DCR history seed's
//! state changes, `cep history` stitches logs and names their faults;
//! process changes as outputs of the core; SIGUSR1 reports acceptance.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::Rng;

use cep_runtime::process::{Blocked, ChangeKind};
use cep_runtime::{Config, Engine, Event, Output, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output as Done};
use std::sync::Arc;

fn cep(dir: &Path, args: &[&str]) -> Done {
    Command::new(env!("CARGO_BIN_EXE_cep"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cep-history-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const CLAIM: &str = r#"
event Submit  { claim_id: str, at: time }
event Review  { claim_id: str, at: time }
event Approve { claim_id: str, at: time }
event Reject  { claim_id: str, at: time }
event Pay     { claim_id: str, at: time }

process Claim by claim_id {
    activities Submit, Review, Approve, Reject, Pay
    excluded Pay
    Submit  -->*  Review
    Submit  *-->  Review
    Review  -->*  Approve
    Review  -->*  Reject
    Approve -->%  Reject
    Reject  -->%  Approve
    Approve -->+  Pay
    Approve *-->  Pay
    Pay     --<>  Approve
}
"#;

/// Interleaved claims: most in order, some out of order (refused), some
/// left unfinished.
fn claims(rng: &mut Rng, keys: usize, from: usize, t0: i64) -> String {
    let steps = ["Submit", "Review", "Approve", "Pay"];
    let mut at = vec![0usize; keys];
    let mut out = String::new();
    let mut t = t0;
    for _ in 0..keys * 5 {
        let k = rng.below(keys);
        let step = if rng.chance(15) {
            rng.pick(&["Submit", "Review", "Approve", "Reject", "Pay"])
        } else {
            let s = steps[at[k].min(3)];
            at[k] += 1;
            s
        };
        t += 1000;
        out.push_str(&format!(
            "{{\"type\":\"{step}\",\"claim_id\":\"c{}\",\"at\":{t}}}\n",
            k + from
        ));
    }
    out
}

#[test]
fn hand_built_logs_name_exactly_their_faults() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/history");
    let o = cep(&dir, &["history", "a.ndjson", "b.ndjson"]);
    assert_eq!(o.status.code(), Some(1), "faults give exit code 1");
    let want = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    assert_eq!(text(&o.stdout), want);
    assert_eq!(
        text(&o.stderr),
        "cep history: 13 records from 2 logs, 3 executions, 2 faults\n"
    );
    // The same as data: exactly two faults, with their records.
    let o = cep(&dir, &["history", "b.ndjson", "a.ndjson", "--json"]);
    let faults: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v.get("fault").is_some())
        .collect();
    assert_eq!(faults.len(), 2);
    assert_eq!(faults[0]["fault"], "missing-counterpart");
    assert_eq!(faults[0]["record"]["stamp"], serde_json::json!([10, "a"]));
    assert_eq!(faults[1]["fault"], "out-of-order");
    assert_eq!(faults[1]["first"]["stamp"], serde_json::json!([12, "a"]));
    assert_eq!(faults[1]["then"]["stamp"], serde_json::json!([4, "b"]));
    // One instance's history only: the faults are all of `c1`.
    let o = cep(&dir, &["history", "a.ndjson", "b.ndjson", "--key", "c2"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(text(&o.stdout), "");
}

#[test]
fn a_long_correct_run_stitches_with_no_fault_and_a_continued_log_too() {
    let dir = scratch("long");
    std::fs::write(dir.join("claim.cep"), CLAIM).unwrap();
    let mut rng = Rng::new(42);
    std::fs::write(dir.join("one.ndjson"), claims(&mut rng, 300, 0, 1_000_000)).unwrap();
    std::fs::write(
        dir.join("two.ndjson"),
        claims(&mut rng, 300, 300, 9_000_000),
    )
    .unwrap();
    let run = |input: &str| {
        let o = cep(
            &dir,
            &[
                "run",
                "claim.cep",
                "--input",
                input,
                "--history",
                "h.ndjson",
                "--dead-letter",
                "dead.ndjson",
                "--instance",
                "east",
            ],
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stderr)
    };
    let err = run("one.ndjson");
    let refused: u64 = err
        .split("; ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(refused > 50, "the stream has refusals: {err}");
    let first = std::fs::read_to_string(dir.join("h.ndjson")).unwrap();
    let o = cep(&dir, &["history", "h.ndjson"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(text(&o.stderr).ends_with("executions, 0 faults\n"));
    // Every activity event is one execution: 1500 lines, 1500 executions.
    assert!(
        text(&o.stderr).contains(" 1500 executions"),
        "{}",
        text(&o.stderr)
    );
    // Refusals are executions that finish false; there are as many as
    // dead letters with reason `refused`.
    let finish_false = first
        .lines()
        .filter(|l| l.contains(r#""relation":"finish","value":false"#))
        .count() as u64;
    assert_eq!(finish_false, refused);

    // A second run continues the log: its stamps come after the first's.
    run("two.ndjson");
    let both = std::fs::read_to_string(dir.join("h.ndjson")).unwrap();
    assert!(both.starts_with(&first), "the log is appended to");
    let stamp = |l: &str| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        v["stamp"][0].as_u64().unwrap()
    };
    let last_first = stamp(first.lines().last().unwrap());
    let first_second = stamp(both[first.len()..].lines().next().unwrap());
    assert_eq!(first_second, last_first + 1);
    let o = cep(&dir, &["history", "h.ndjson"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stderr).contains(" 3000 executions, 0 faults"));

    // The log split in two (as two instances would give it) stitches the
    // same.
    let (a, b): (Vec<&str>, Vec<&str>) =
        both.lines()
            .enumerate()
            .fold((Vec::new(), Vec::new()), |(mut a, mut b), (i, l)| {
                if i % 3 == 0 {
                    a.push(l)
                } else {
                    b.push(l)
                };
                (a, b)
            });
    std::fs::write(dir.join("a.ndjson"), a.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("b.ndjson"), b.join("\n") + "\n").unwrap();
    let whole = cep(&dir, &["history", "h.ndjson"]);
    let split = cep(&dir, &["history", "b.ndjson", "a.ndjson"]);
    assert_eq!(split.stdout, whole.stdout);

    // Cut short in the middle of an execution: it never finished, and the
    // side after the cut is missing.
    let lines: Vec<&str> = first.lines().collect();
    let cut = lines
        .iter()
        .position(|l| l.contains(r#""relation":"setsPending""#))
        .unwrap();
    std::fs::write(dir.join("cut.ndjson"), lines[..=cut].join("\n") + "\n").unwrap();
    let o = cep(&dir, &["history", "cut.ndjson"]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    let faults: Vec<&str> = out.lines().filter(|l| l.starts_with("fault: ")).collect();
    assert_eq!(faults.len(), 2, "{out}");
    assert!(faults[0].starts_with("fault: unfinished: "), "{out}");
    assert!(
        faults[1].starts_with("fault: missing-counterpart: "),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn what_is_not_a_history_log_is_refused_and_left_alone() {
    let dir = scratch("bad");
    std::fs::write(dir.join("claim.cep"), CLAIM).unwrap();
    std::fs::write(
        dir.join("in.ndjson"),
        "{\"type\":\"Submit\",\"claim_id\":\"c\",\"at\":1}\n",
    )
    .unwrap();
    let notes = "{\"stamp\":[1,\"a\"]}\nhello\n";
    std::fs::write(dir.join("notes.txt"), notes).unwrap();
    let o = cep(
        &dir,
        &[
            "run",
            "claim.cep",
            "--input",
            "in.ndjson",
            "--history",
            "notes.txt",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("`--history notes.txt` line 1: not a history record"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        notes
    );

    let o = cep(&dir, &["history", "notes.txt"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("`notes.txt` line 1: not a history record"),
        "{}",
        text(&o.stderr)
    );
    // A finish without its value.
    std::fs::write(
        dir.join("h.ndjson"),
        r#"{"stamp":[1,"a"],"process":"P","key":"k","activity":"A","execution":[1,"a"],"relation":"finish"}"#,
    )
    .unwrap();
    let o = cep(&dir, &["history", "h.ndjson"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("`h.ndjson` line 1: `finish` needs a `value`"),
        "{}",
        text(&o.stderr)
    );
    // The history is an output: it may not be the input.
    let o = cep(
        &dir,
        &[
            "run",
            "claim.cep",
            "--input",
            "in.ndjson",
            "--history",
            "in.ndjson",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The core reports every execution and refusal with the marking; an
/// event enabled in one process and refused by another is refused in
/// both, and the change in the first names the second.
#[test]
fn process_changes_are_outputs_of_the_core() {
    let rules = r#"
event A { k: str }
event B { k: str }
process P by k {
    activities A, B
    B -->* A
}
process Q by k {
    activities A
}
"#;
    let c = cep_compiler::compile_str("p.cep", rules);
    let program = Arc::new(c.program.unwrap());
    let mut engine = Engine::new(
        program.clone(),
        Config {
            track_processes: true,
            ..Config::default()
        },
    );
    let ty = |n: &str| program.event_by_name(n).unwrap();
    let mut out = Vec::new();
    engine.push(
        Event::new(ty("A"), 1, 1, vec![Value::Str("x".into())]),
        &mut out,
    );
    let changes: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Process(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(changes.len(), 2, "{out:?}");
    assert_eq!(changes[0].process, 0);
    assert!(matches!(
        changes[0].kind,
        ChangeKind::Refused {
            why: Blocked::Condition(1),
            ..
        }
    ));
    assert_eq!(changes[1].process, 1);
    assert!(matches!(
        changes[1].kind,
        ChangeKind::Refused {
            why: Blocked::Process(0),
            ..
        }
    ));
    out.clear();
    engine.push(
        Event::new(ty("B"), 2, 2, vec![Value::Str("x".into())]),
        &mut out,
    );
    engine.push(
        Event::new(ty("A"), 3, 3, vec![Value::Str("x".into())]),
        &mut out,
    );
    let executed: Vec<(usize, u64, u64)> = out
        .iter()
        .filter_map(|o| match o {
            Output::Process(c) => match c.kind {
                ChangeKind::Executed { before, after, .. } => {
                    Some((c.process, before.executed, after.executed))
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(executed, vec![(0, 0, 0b10), (0, 0b10, 0b11), (1, 0, 0b1)]);
    // Without tracking, nothing of the kind is reported.
    let mut quiet = Engine::new(program.clone(), Config::default());
    let mut out = Vec::new();
    quiet.push(
        Event::new(ty("A"), 1, 1, vec![Value::Str("x".into())]),
        &mut out,
    );
    assert!(!out.iter().any(|o| matches!(o, Output::Process(_))));
}

/// SIGUSR1 asks a live run for the acceptance report: it is written and
/// flushed at once, while the input is still open.
#[cfg(target_os = "linux")]
#[test]
fn sigusr1_reports_acceptance_now() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let dir = scratch("usr1");
    std::fs::write(dir.join("claim.cep"), CLAIM).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cep"))
        .current_dir(&dir)
        .args(["run", "claim.cep", "--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            if tx.send(l.unwrap()).is_err() {
                break;
            }
        }
    });
    writeln!(stdin, r#"{{"type":"Submit","claim_id":"c1","at":1000}}"#).unwrap();
    stdin.flush().unwrap();
    let want = r#"{"type":"Claim.NotAccepting","claim_id":"c1","pending":["Review"]}"#;
    // SIGUSR1 before cep catches it would end cep: wait for its handler
    // (bit 10 of the caught-signals mask in /proc).
    let status = format!("/proc/{}/status", child.id());
    let caught = || {
        std::fs::read_to_string(&status)
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("SigCgt:"))
                    .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            })
            .is_some_and(|m| m & (1 << (10 - 1)) != 0)
    };
    for _ in 0..500 {
        if caught() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(caught(), "cep never caught SIGUSR1");
    // Until the line has been read, a report would be empty: ask again.
    let mut got = None;
    for _ in 0..100 {
        let k = Command::new("kill")
            .args(["-USR1", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(k.success());
        match rx.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(l) => {
                got = Some(l);
                break;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => panic!("cep ended: {e}"),
        }
    }
    assert_eq!(got.as_deref(), Some(want));
    writeln!(stdin, r#"{{"type":"Review","claim_id":"c1","at":2000}}"#).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());
    // The claim is accepting at the end: no more records, and the summary
    // counts the final report only.
    let rest: Vec<String> = rx.iter().collect();
    assert!(rest.iter().all(|l| l == want), "{rest:?}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("1 process instances, 0 not accepting at the end"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
