//! Three `cep run` processes on 127.0.0.1 share run state (docs/peers.md):
//! keys made by `cep keygen`, the input split by sensor across them while
//! the patterns are partitioned by room (or not at all), so runs span
//! peers. Each peer's complex events must equal one instance's output on
//! the whole input (same types and fields; each run id once; the same run
//! ids on every peer). Then again with one peer killed (SIGKILL) in the
//! middle of its input and restarted with the same arguments: every peer,
//! the restarted one included, still writes what one instance writes,
//! and the restarted one never writes a run id twice across its lives.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RULES: &str = r#"
event R { s: int, room: int, v: int, at: time }

pattern Up partition by room {
    a: R
    next b: R where v > a.v
    emit { room: a.room, from: a.v, to: b.v }
}

pattern Quiet partition by room {
    a: R where v > 7
    not R within 40ms
    emit { room: a.room, v: a.v }
}

pattern Three within 100ms {
    a: R where v < 3
    then b: R where v > a.v + 4
    then c: R where v < b.v
    halt on R where v == 0
    emit { x: a.v, y: b.v, z: c.v }
}

pattern Calm within 500ms {
    q: Quiet
    then r: Quiet where v < q.v
    emit { a: q.v, b: r.v }
}
"#;

const NAMES: [&str; 3] = ["A", "B", "C"];

fn cep() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cep"))
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cep-peers-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Events with distinct increasing times (a small linear congruential
/// generator: the test needs no randomness crate).
fn input(n: usize, seed: u64) -> Vec<String> {
    let mut x = seed;
    let mut next = |m: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    let mut t = 1_000u64;
    (0..n)
        .map(|_| {
            t += 1 + next(30);
            format!(
                r#"{{"type":"R","s":{},"room":{},"v":{},"at":{t}}}"#,
                next(6),
                next(2),
                next(10)
            )
        })
        .collect()
}

/// Three free ports (bound, then let go).
fn ports() -> Vec<u16> {
    let ls: Vec<_> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

struct Cluster {
    dir: PathBuf,
    ports: Vec<u16>,
}

impl Cluster {
    fn new(name: &str, lines: &[String]) -> Cluster {
        Cluster::with_rules(name, RULES, lines, &[])
    }

    /// A cluster on `rules`; one instance's output made with `single`
    /// added to its arguments.
    fn with_rules(name: &str, rules: &str, lines: &[String], single: &[&str]) -> Cluster {
        let dir = dir(name);
        std::fs::write(dir.join("rules.cep"), rules).unwrap();
        std::fs::write(dir.join("all.ndjson"), lines.join("\n") + "\n").unwrap();
        for (i, n) in NAMES.iter().enumerate() {
            let part: Vec<&String> = lines
                .iter()
                .filter(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    v["s"].as_u64().unwrap() % 3 == i as u64
                })
                .collect();
            let text: String = part.iter().map(|l| format!("{l}\n")).collect();
            std::fs::write(dir.join(format!("in{n}.ndjson")), text).unwrap();
            let k = cep().arg("keygen").arg(dir.join(n)).output().unwrap();
            assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stderr));
        }
        let single = cep()
            .arg("run")
            .arg(dir.join("rules.cep"))
            .arg("--input")
            .arg(dir.join("all.ndjson"))
            .arg("--output")
            .arg(dir.join("single.ndjson"))
            .args(single)
            .output()
            .unwrap();
        assert!(
            single.status.success(),
            "{}",
            String::from_utf8_lossy(&single.stderr)
        );
        Cluster {
            dir,
            ports: ports(),
        }
    }

    fn start(&self, i: usize) -> Child {
        self.start_with(i, &[])
    }

    fn start_with(&self, i: usize, extra: &[&str]) -> Child {
        self.start_on("rules.cep", i, extra)
    }

    fn start_on(&self, rules: &str, i: usize, extra: &[&str]) -> Child {
        let n = NAMES[i];
        let mut c = cep();
        c.current_dir(&self.dir)
            .args(["run", rules, "--input"])
            .arg(format!("in{n}.ndjson"))
            .arg("--output")
            .arg(format!("out{n}.ndjson"))
            .arg("--store")
            .arg(format!("{n}.db"))
            .args(["--instance", n, "--key"])
            .arg(format!("{n}.key"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.ports[i]));
        for j in (0..3).filter(|&j| j != i) {
            let p = NAMES[j];
            c.arg("--peer")
                .arg(format!("{p}=127.0.0.1:{}", self.ports[j]))
                .arg("--peer-key")
                .arg(format!("{p}={p}.pub"));
        }
        c.args(extra);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("err{n}.txt")))
            .unwrap();
        c.stdout(Stdio::null()).stderr(log).spawn().unwrap()
    }

    fn wait(&self, mut children: Vec<(usize, Child)>) {
        let until = Instant::now() + Duration::from_secs(240);
        while !children.is_empty() {
            children.retain_mut(|(i, c)| match c.try_wait().unwrap() {
                Some(st) => {
                    assert!(st.success(), "peer {} failed: {}", NAMES[*i], self.log(*i));
                    false
                }
                None => true,
            });
            if Instant::now() > until {
                for (_, c) in &mut children {
                    let _ = c.kill();
                }
                panic!("the peers did not finish: {}", self.log(0));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("err{}.txt", NAMES[i]))).unwrap_or_default()
    }

    fn lines(&self, file: &str) -> usize {
        std::fs::read_to_string(self.dir.join(file))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

/// The complex events of a file without their `@cep` part, counted, and
/// the run ids in the order written.
fn read(path: &Path) -> (BTreeMap<String, usize>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut records = BTreeMap::new();
    let mut runs = Vec::new();
    for l in text.lines() {
        let mut v: Value = serde_json::from_str(l).unwrap();
        let meta = v.as_object_mut().unwrap().remove("@cep").unwrap();
        runs.push(meta["run"].as_str().unwrap().to_string());
        *records.entry(v.to_string()).or_default() += 1;
    }
    (records, runs)
}

fn assert_same_as_one(c: &Cluster) {
    assert_same_as_one_in(c, &["Up", "Quiet", "Three", "Calm"]);
}

/// As `assert_same_as_one`, on the complex events of these types only.
fn assert_same_as_one_in(c: &Cluster, types: &[&str]) {
    let only = |(m, r): (BTreeMap<String, usize>, Vec<String>)| {
        let keep = |k: &String| {
            let v: Value = serde_json::from_str(k).unwrap();
            types.contains(&v["type"].as_str().unwrap())
        };
        (
            m.into_iter()
                .filter(|(k, _)| keep(k))
                .collect::<BTreeMap<_, _>>(),
            r,
        )
    };
    let (want, _) = only(read(&c.dir.join("single.ndjson")));
    assert!(
        want.values().sum::<usize>() > 300,
        "too few matches to compare"
    );
    let mut ids: Option<HashSet<String>> = None;
    for (i, n) in NAMES.iter().enumerate() {
        let (got, runs) = only(read(&c.dir.join(format!("out{n}.ndjson"))));
        let unique: HashSet<String> = runs.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            runs.len(),
            "peer {n} wrote a run id twice: {}",
            c.log(i)
        );
        if got != want {
            let extra: Vec<_> = got
                .iter()
                .filter(|(k, v)| want.get(*k) != Some(v))
                .take(5)
                .collect();
            let missing: Vec<_> = want
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(v))
                .take(5)
                .collect();
            panic!(
                "peer {n} wrote {} complex events, one instance {}; differ: {extra:?} / {missing:?}\n{}",
                got.values().sum::<usize>(),
                want.values().sum::<usize>(),
                c.log(i)
            );
        }
        match &ids {
            None => ids = Some(unique),
            Some(first) => assert_eq!(first, &unique, "peers A and {n} name the runs differently"),
        }
    }
}

#[test]
fn three_processes_write_what_one_instance_writes() {
    let c = Cluster::new("three", &input(1_200, 7));
    let children = (0..3).map(|i| (i, c.start(i))).collect();
    c.wait(children);
    assert_same_as_one(&c);
    // The summary says what went over the network.
    let log = c.log(0);
    assert!(log.contains("peers: sent "), "{log}");
    assert!(log.contains("refused 0"), "{log}");
    // Every bound event names the peer it came in at.
    let out = std::fs::read_to_string(c.dir.join("outA.ndjson")).unwrap();
    for n in NAMES {
        assert!(
            out.contains(&format!(r#""peer":"{n}","line":"#)),
            "no event of {n}"
        );
    }
    let _ = std::fs::remove_dir_all(&c.dir);
}

#[test]
fn a_peer_killed_mid_stream_and_restarted_loses_and_repeats_nothing() {
    let c = Cluster::new("kill", &input(1_200, 11));
    let mut a = c.start(0);
    let mut b = c.start(1);
    let cc = c.start(2);
    // Kill B once it has written part of its output.
    let until = Instant::now() + Duration::from_secs(120);
    while c.lines("outB.ndjson") < 300 {
        assert!(Instant::now() < until, "B wrote nothing: {}", c.log(1));
        assert!(
            b.try_wait().unwrap().is_none(),
            "B ended before the kill: {}",
            c.log(1)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    b.kill().unwrap();
    b.wait().unwrap();
    let before = c.lines("outB.ndjson");
    let b2 = c.start(1);
    c.wait(vec![(1, b2), (2, cc)]);
    assert!(a.wait().unwrap().success(), "{}", c.log(0));
    assert_same_as_one(&c);
    let log = c.log(1);
    assert!(
        log.contains("incarnation 2"),
        "B did not start a second life: {log}"
    );
    assert!(
        c.lines("outB.ndjson") > before,
        "B wrote nothing after its restart: {log}"
    );
    let _ = std::fs::remove_dir_all(&c.dir);
}

#[test]
fn a_peer_that_never_comes_is_left_out_after_the_resync_period() {
    let c = Cluster::new("absent", &input(200, 5));
    // C never starts: A and B wait for it for the resync period, then go
    // on without it and say so.
    let fast = ["--peer-resync", "1500ms", "--peer-ping", "200ms"];
    let a = c.start_with(0, &fast);
    let b = c.start_with(1, &fast);
    c.wait(vec![(0, a), (1, b)]);
    for i in 0..2 {
        let log = c.log(i);
        assert!(log.contains("warning: finished without C"), "{log}");
    }
    // What A and B read was processed.
    assert!(c.lines("outA.ndjson") > 0);
    let _ = std::fs::remove_dir_all(&c.dir);
}

#[test]
fn a_peer_running_other_rules_is_refused_and_named() {
    let c = Cluster::new("rules", &input(100, 3));
    // B's rules have one more pattern: its run states would be misread.
    let other =
        format!("{RULES}\npattern Extra {{\n    a: R where v == 9\n    emit {{ v: a.v }}\n}}\n");
    std::fs::write(c.dir.join("other.cep"), &other).unwrap();
    let fast = ["--peer-resync", "1500ms", "--peer-ping", "200ms"];
    let a = c.start_with(0, &fast);
    let b = c.start_on("other.cep", 1, &fast);
    let mut cc = c.start_with(2, &fast);
    c.wait(vec![(0, a), (1, b)]);
    let _ = cc.kill();
    let _ = cc.wait();
    let log = c.log(0);
    assert!(
        log.contains("peer B runs other rules than this member"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&c.dir);
}

/// The rules with a step on `Up`: it notes which peer ran it for which
/// run (`steps.log`, appended by every peer) and emits `Noted`, which a
/// pattern turns into `Heard`.
fn step_rules() -> String {
    format!(
        r#"{RULES}
event Noted {{ room: int }}

step note {{
    on Up
    run "sh" args ["-c", "echo \"$CEP_RUN_ID $CEP_SEQUENCE\" >> steps.log"]
    on success emit Noted {{ room: Up.room }}
    recover {{ ready: rerun, active: rerun, failure: skip, success: skip }}
}}

pattern Heard {{
    n: Noted
    emit {{ room: n.room }}
}}
"#
    )
}

/// The step's notes: (peer's store run, sequence) per line.
fn notes(c: &Cluster) -> Vec<(String, String)> {
    std::fs::read_to_string(c.dir.join("steps.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (a, b) = l.split_once(' ').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect()
}

/// The run ids of the `Up` complex events a peer wrote.
fn ups(c: &Cluster, n: &str) -> Vec<String> {
    std::fs::read_to_string(c.dir.join(format!("out{n}.ndjson")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "Up")
        .map(|v| v["@cep"]["run"].as_str().unwrap().to_string())
        .collect()
}

fn count(c: &Cluster, n: &str, ty: &str) -> usize {
    std::fs::read_to_string(c.dir.join(format!("out{n}.ndjson")))
        .unwrap()
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).unwrap()["type"] == ty)
        .count()
}

#[test]
fn each_complex_events_step_runs_once_in_the_cluster() {
    let rules = step_rules();
    let c = Cluster::with_rules("steps", &rules, &input(600, 13), &["--dry-run"]);
    let children = (0..3).map(|i| (i, c.start(i))).collect();
    c.wait(children);
    assert_same_as_one_in(&c, &["Up", "Quiet", "Three", "Calm"]);
    let want: std::collections::BTreeSet<String> = ups(&c, "A").into_iter().collect();
    assert!(want.len() > 50, "too few Up runs: {}", want.len());
    let notes = notes(&c);
    // Every `Up` run's step ran once, in its run's sequence, on one peer;
    // more than one peer ran steps (runs complete on every peer).
    let mut seqs: Vec<String> = notes.iter().map(|(_, q)| q.clone()).collect();
    seqs.sort();
    let set: std::collections::BTreeSet<String> = seqs.iter().cloned().collect();
    assert_eq!(seqs.len(), set.len(), "a step ran twice: {notes:?}");
    assert_eq!(set, want, "steps ran for other runs than the Up runs");
    let ran: HashSet<&str> = notes.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(ran.len(), 3, "steps ran on {ran:?} only");
    // What a step emitted reached the patterns and every peer: one Heard
    // per Up on each.
    for (i, n) in NAMES.iter().enumerate() {
        assert_eq!(count(&c, n, "Heard"), want.len(), "peer {n}: {}", c.log(i));
        assert!(c.log(i).contains("step runs:"), "{}", c.log(i));
    }
    let _ = std::fs::remove_dir_all(&c.dir);
}

#[test]
fn a_killed_peer_takes_up_its_step_runs_and_no_step_is_lost() {
    let rules = step_rules();
    let c = Cluster::with_rules("steps-kill", &rules, &input(900, 17), &["--dry-run"]);
    let mut a = c.start(0);
    let mut b = c.start(1);
    let cc = c.start(2);
    let until = Instant::now() + Duration::from_secs(120);
    while c.lines("outB.ndjson") < 200 {
        assert!(Instant::now() < until, "B wrote nothing: {}", c.log(1));
        assert!(
            b.try_wait().unwrap().is_none(),
            "B ended before the kill: {}",
            c.log(1)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    b.kill().unwrap();
    b.wait().unwrap();
    let b2 = c.start(1);
    c.wait(vec![(1, b2), (2, cc)]);
    assert!(a.wait().unwrap().success(), "{}", c.log(0));
    assert_same_as_one_in(&c, &["Up", "Quiet", "Three", "Calm"]);
    let want: std::collections::BTreeSet<String> = ups(&c, "A").into_iter().collect();
    let notes = notes(&c);
    let set: std::collections::BTreeSet<String> = notes.iter().map(|(_, q)| q.clone()).collect();
    // No step lost, none for another run; a step runs again only if it
    // was running on B when B was killed (its recover policy: rerun).
    assert_eq!(set, want, "{}", c.log(1));
    let mut seen = HashSet::new();
    let again: Vec<_> = notes.iter().filter(|n| !seen.insert(&n.1)).collect();
    assert!(
        again.iter().all(|(p, _)| p == "peer-B") && again.len() <= 8,
        "steps ran again: {again:?}"
    );
    assert!(c.log(1).contains("incarnation 2"), "{}", c.log(1));
    // What the steps emitted was processed once: B's restart did not
    // emit again the events of steps that had ended before the kill.
    for (i, n) in NAMES.iter().enumerate() {
        assert_eq!(count(&c, n, "Heard"), want.len(), "peer {n}: {}", c.log(i));
    }
    let _ = std::fs::remove_dir_all(&c.dir);
}

#[test]
fn what_a_member_cannot_honour_is_refused_before_it_starts() {
    let c = Cluster::with_rules("refused", &step_rules(), &input(20, 1), &["--dry-run"]);
    for (extra, says) in [
        (&["--dry-run"][..], "--dry-run with --peer"),
        (
            &["--once", "--history", "h.log"][..],
            "--once, --history with --peer",
        ),
        (&["--max-delay", "1s"][..], "--max-delay with --peer"),
    ] {
        let out = c.start_with(0, extra).wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let log = c.log(0);
        assert!(log.contains(says), "{extra:?}: {log}");
        assert!(!c.dir.join("A.db").exists(), "a store was made: {log}");
    }
    let _ = std::fs::remove_dir_all(&c.dir);
}

#[test]
fn patterns_a_member_cannot_honour_yet_are_refused() {
    for (name, clause, says) in [
        (
            "refused-report",
            "report first every 1s",
            "has `report ... every`, which --peer cannot honour yet",
        ),
        (
            "refused-timeout",
            "within 1s",
            "has `on timeout emit`, which --peer cannot honour yet",
        ),
        (
            "refused-greedy",
            "within 1s",
            "has a greedy or reluctant group, which --peer cannot honour yet",
        ),
        (
            "refused-group",
            "within 1s",
            "has a group sub-pattern, which --peer cannot honour yet",
        ),
    ] {
        let timeout = if name.ends_with("timeout") {
            "on timeout emit Alone { room: a.room }"
        } else {
            ""
        };
        let block = match name {
            "refused-greedy" => "b: R+ greedy",
            "refused-group" => "b: ( R )+",
            _ => "b: R",
        };
        let v = if name.ends_with("greedy") || name.ends_with("group") {
            "count(b)"
        } else {
            "b.v"
        };
        let rules = format!(
            "event R {{ s: int, room: int, v: int, at: time }}\n\
             pattern P partition by room {clause} {{\n    a: R\n    next {block}\n    \
             emit {{ room: a.room, v: {v} }}\n    {timeout}\n}}\n"
        );
        let c = Cluster::with_rules(name, &rules, &input(20, 1), &[]);
        let out = c.start_with(0, &[]).wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let log = c.log(0);
        assert!(log.contains(says), "{name}: {log}");
        assert!(!c.dir.join("A.db").exists(), "a store was made: {log}");
        let _ = std::fs::remove_dir_all(&c.dir);
    }
}
