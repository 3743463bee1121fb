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
        let dir = dir(name);
        std::fs::write(dir.join("rules.cep"), RULES).unwrap();
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
    let (want, _) = read(&c.dir.join("single.ndjson"));
    assert!(
        want.values().sum::<usize>() > 300,
        "too few matches to compare"
    );
    let mut ids: Option<HashSet<String>> = None;
    for (i, n) in NAMES.iter().enumerate() {
        let (got, runs) = read(&c.dir.join(format!("out{n}.ndjson")));
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
