//! The crash test: `cep run` is killed with SIGKILL at many random instants
//! of a workload (hundreds of sequences; a delay, retries and a pool of one
//! on the way), and recovered each time with `--mode recover`. The actions
//! (small shell scripts) append what they do to a log that survives every
//! kill; the assertions are over that log and the store:
//!
//! - every step run ends with exactly one successful attempt recorded, and
//!   every sequence ends as it would without crashes (all its steps done);
//! - an attempt whose success was durable before a kill never runs again
//!   (exactly once), while one in flight at the kill may (at least once);
//! - no two holders of the pool of one ever overlapped, killed ones
//!   included (a recovery ends what the killed `cep` left running first).
//!
//! `CEP_CRASH_SEED` replays one seed; `CEP_CRASH_KILLS` sets the number of
//! kills (default 50).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::Rng;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const SEQUENCES: usize = 300;

const RULES: &str = r#"
event Go { n: int }
event Prepped { n: int }
event Worked { n: int }

resource pool capacity 1

step prep {
    on Go
    after 20ms
    run "bin/act" args ["prep"]
    retry 3 backoff 10ms
    on success emit Prepped { n: Go.n }
}

step work {
    on Prepped
    acquire pool 1
    run "bin/act" args ["work"]
    retry 3 backoff 10ms
    on success emit Worked { n: Prepped.n }
}

step fin {
    on Worked
    run "bin/act" args ["fin"]
}
"#;

/// Logs its begin and its end; `work` takes 20 to 40 ms, and its first
/// attempt fails in every fourth sequence.
const ACT: &str = r#"#!/bin/sh
n=${CEP_SEQUENCE#line-}
echo "begin $1 $CEP_SEQUENCE $CEP_ATTEMPT $CEP_RECOVERY $(date +%s%N)" >> "$ACTIONS"
if [ "$1" = work ] && [ "$CEP_ATTEMPT" = 1 ] && [ $((n % 4)) = 0 ]; then
    echo "fail $1 $CEP_SEQUENCE $CEP_ATTEMPT $CEP_RECOVERY $(date +%s%N)" >> "$ACTIONS"
    exit 1
fi
# The pool's holder runs long enough that kills often land while it runs.
if [ "$1" = work ]; then sleep 0.0$((2 + n % 3)); else sleep 0.00$((n % 5)); fi
echo "end $1 $CEP_SEQUENCE $CEP_ATTEMPT $CEP_RECOVERY $(date +%s%N)" >> "$ACTIONS"
"#;

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The successful step runs the store has made durable: (step, sequence).
/// None before the store has its tables (a `cep` killed while it made
/// them).
fn durable_successes(store: &Path) -> BTreeSet<(String, String)> {
    if !store.exists() {
        return BTreeSet::new();
    }
    let c = rusqlite::Connection::open(store).unwrap();
    let tables: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'step_runs'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if tables == 0 {
        return BTreeSet::new();
    }
    let mut st = c
        .prepare("SELECT step, sequence FROM step_runs WHERE status = 'success'")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn killed_at_random_instants_and_recovered_every_step_runs_once() {
    let seed = setting("CEP_CRASH_SEED", 7);
    let kills = setting("CEP_CRASH_KILLS", 50);
    let replay = format!("CEP_CRASH_SEED={seed} CEP_CRASH_KILLS={kills} cargo test --test crash");
    let d = Dir(std::env::temp_dir().join(format!("cep-crash-{}-{seed}", std::process::id())));
    let _ = std::fs::remove_dir_all(&d.0);
    std::fs::create_dir_all(d.0.join("bin")).unwrap();
    std::fs::write(d.0.join("rules.cep"), RULES).unwrap();
    let act = d.0.join("bin/act");
    std::fs::write(&act, ACT).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&act, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let input: String = (0..SEQUENCES)
        .map(|i| format!("{{\"type\":\"Go\",\"n\":{i}}}\n"))
        .collect();
    std::fs::write(d.0.join("events.ndjson"), input).unwrap();
    let log = d.0.join("actions.log");
    let store = d.0.join("store.db");
    let cep = |mode: &str| {
        // When this `cep` started: the latest a killed attempt can have run.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        use std::io::Write;
        // One write, so that a line an orphaned program appends at the
        // same moment cannot land inside it.
        f.write_all(format!("cep-start {now}\n").as_bytes())
            .unwrap();
        Command::new(env!("CARGO_BIN_EXE_cep"))
            .current_dir(&d.0)
            .args([
                "run",
                "rules.cep",
                "--input",
                "events.ndjson",
                "--store",
                "store.db",
            ])
            .args(["--mode", mode, "--max-concurrent", "2"])
            .env("ACTIONS", &log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };

    // Kill at random instants; after each kill, what the store says had
    // succeeded must never begin again.
    let mut rng = Rng::new(seed);
    let mut forbidden: Vec<(usize, BTreeSet<(String, String)>)> = Vec::new();
    let mut finished_early = false;
    for k in 0..kills {
        let mut child = cep(if k == 0 { "restart" } else { "recover" });
        std::thread::sleep(Duration::from_millis(20 + rng.below(120) as u64));
        if child.try_wait().unwrap().is_some() {
            finished_early = true;
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let lines = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count();
        forbidden.push((lines, durable_successes(&store)));
    }
    // Then recover until it is done.
    let status = cep("recover").wait().unwrap();
    assert!(
        status.success(),
        "{replay}: the last recovery failed ({status:?})"
    );

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    // Exactly once for what was durable.
    for (at, done) in &forbidden {
        for l in &lines[*at..] {
            let f: Vec<&str> = l.split(' ').collect();
            if f[0] == "begin" {
                let key = (f[1].to_string(), f[2].to_string());
                assert!(
                    !done.contains(&key),
                    "{replay}: {key:?} ran again after its success was durable"
                );
            }
        }
    }

    // Every step run succeeded once, as recorded; every sequence is done.
    let c = rusqlite::Connection::open(&store).unwrap();
    let rows: Vec<(String, String, String)> = {
        let mut st = c
            .prepare("SELECT step, sequence, status FROM step_runs")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        rows.len(),
        SEQUENCES * 3,
        "{replay}: step runs in the store"
    );
    assert!(
        rows.iter().all(|r| r.2 == "success"),
        "{replay}: not every step run succeeded: {:?}",
        rows.iter()
            .filter(|r| r.2 != "success")
            .take(5)
            .collect::<Vec<_>>()
    );
    let per_run: Vec<(i64, i64)> = {
        let mut st = c
            .prepare(
                "SELECT step_run, count(*) FROM attempts WHERE outcome = 'success' GROUP BY step_run",
            )
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(per_run.len(), SEQUENCES * 3, "{replay}");
    assert!(
        per_run.iter().all(|r| r.1 == 1),
        "{replay}: a step run with two recorded successes"
    );
    let sequences: BTreeSet<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(sequences.len(), SEQUENCES);

    // No two holders of the pool of one overlapped. An attempt is known by
    // (sequence, attempt, recovery); one whose `cep` was killed may still
    // have ended by itself (its end line comes later), or was ended by a
    // later recovery before that recovery started anything: then it ran at
    // most until the first begin of an attempt with a higher recovery
    // number. Its begin line may come after one or more later `cep-start`
    // lines (the program can start just before its `cep` is killed, and
    // the next `cep` can be killed before it ends orphans): an attempt left
    // open at the end is an orphan unless it is the last recovery's own.
    type Key = (String, String, String);
    let last_recovery: i64 = c
        .query_row("SELECT recoveries FROM runs", [], |r| r.get(0))
        .unwrap();
    let mut open: BTreeMap<Key, u128> = BTreeMap::new();
    let mut orphans: BTreeMap<Key, u128> = BTreeMap::new();
    let mut done: BTreeMap<Key, (u128, u128)> = BTreeMap::new();
    // Per recovery number: the earliest begin of its attempts.
    let mut first_begin: BTreeMap<i64, u128> = BTreeMap::new();
    for l in &lines {
        let f: Vec<&str> = l.split(' ').collect();
        match f[0] {
            "cep-start" => orphans.extend(std::mem::take(&mut open)),
            "begin" => {
                let t: u128 = f[5].parse().unwrap();
                let r: i64 = f[4].parse().unwrap();
                // Lines of concurrent attempts may be written out of time
                // order: the earliest, not the first.
                let e = first_begin.entry(r).or_insert(t);
                *e = (*e).min(t);
                if f[1] == "work" {
                    open.insert((f[2].into(), f[3].into(), f[4].into()), t);
                }
            }
            "end" | "fail" if f[1] == "work" => {
                let key: Key = (f[2].into(), f[3].into(), f[4].into());
                let e: u128 = f[5].parse().unwrap();
                let b = open
                    .remove(&key)
                    .or_else(|| orphans.remove(&key))
                    .unwrap_or_else(|| panic!("{replay}: an end without its begin: {l}"));
                done.insert(key, (b, e));
            }
            _ => {}
        }
    }
    let (own, earlier): (BTreeMap<Key, u128>, BTreeMap<Key, u128>) = open
        .into_iter()
        .partition(|(k, _)| k.2.parse::<i64>().unwrap() == last_recovery);
    orphans.extend(earlier);
    assert!(
        own.is_empty(),
        "{replay}: attempts of work that never ended: {own:?}"
    );
    let mut intervals: Vec<(u128, u128, String)> = done
        .into_iter()
        .map(|(k, (b, e))| (b, e, format!("{k:?}")))
        .collect();
    for (k, b) in orphans {
        // Made in recovery `r`, it was killed by the first later recovery
        // that started anything, before that started anything: over by the
        // earliest begin with a higher recovery number.
        let r: i64 = k.2.parse().unwrap();
        let end = first_begin
            .range(r + 1..)
            .map(|(_, t)| *t)
            .min()
            .unwrap_or(u128::MAX);
        intervals.push((b, end, format!("{k:?} (killed)")));
    }
    intervals.sort();
    for w in intervals.windows(2) {
        assert!(
            w[1].0 >= w[0].1,
            "{replay}: two holders of the pool of one overlapped: {:?} and {:?}",
            w[0],
            w[1]
        );
    }
    let begins = lines.iter().filter(|l| l.starts_with("begin ")).count();
    eprintln!(
        "crash test: {} kills{}, {begins} attempts begun for {} step runs",
        forbidden.len(),
        if finished_early {
            " (the work finished before the last kill)"
        } else {
            ""
        },
        SEQUENCES * 3
    );
}
