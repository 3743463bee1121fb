//! Steps for real, through the binary: small shell scripts as actions that
//! append what they saw (step, sequence, attempt, times) to a file, a real
//! SQLite store read back, a real HTTP receiver on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory for one test: rules, scripts under `bin/`, the action log.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("cep-steps-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("bin")).unwrap();
        Dir(d)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// An executable script `bin/<name>`.
    fn script(&self, name: &str, body: &str) {
        let p = self.0.join("bin").join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    /// The action log: one line per script run.
    fn actions(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("actions.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `cep run rules.cep --input events.ndjson --store store.db
    /// --step-log steps.ndjson` plus `extra`.
    fn run(&self, extra: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cep"))
            .current_dir(&self.0)
            .args(["run", "rules.cep", "--input", "events.ndjson"])
            .args(["--step-log", "steps.ndjson"])
            .args(extra)
            .env("NO_COLOR", "1")
            .env("ACTIONS", self.path("actions.log"))
            .output()
            .unwrap()
    }

    /// Step log lines as (step, sequence, status, attempt).
    fn steps(&self) -> Vec<(String, String, String, u64)> {
        std::fs::read_to_string(self.path("steps.ndjson"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["step"].as_str().unwrap().to_string(),
                    v["sequence"].as_str().unwrap().to_string(),
                    v["status"].as_str().unwrap().to_string(),
                    v["attempt"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }

    /// The store's step runs: (step, sequence, status, attempt), in order.
    fn store(&self, name: &str) -> Vec<(String, String, String, i64)> {
        let c = rusqlite::Connection::open(self.path(name)).unwrap();
        let mut st = c
            .prepare("SELECT step, sequence, status, attempt FROM step_runs ORDER BY run_id, id")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A one-thread HTTP receiver on 127.0.0.1: answers `n` requests with
/// `answer` (`"200 OK"`), and gives each whole request (head and body).
fn http_receiver(n: usize, answer: &'static str) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for _ in 0..n {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then the body (by Content-Length).
            loop {
                let n = s.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some(h) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if req.len() >= h + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            write!(
                s,
                "HTTP/1.1 {answer}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            requests.push(String::from_utf8_lossy(&req).to_string());
        }
        requests
    });
    (port, server)
}

/// The body of a request the receiver got.
fn body(req: &str) -> &str {
    &req[req.find("\r\n\r\n").unwrap() + 4..]
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A script body that appends `<name> <sequence> <attempt> <args>` to the
/// action log.
fn logs(name: &str) -> String {
    format!(r#"echo "{name} $CEP_SEQUENCE $CEP_ATTEMPT $*" >> "$ACTIONS""#)
}

const CHAIN: &str = r#"
event Go { job: str, at: time }
event S1Done { job: str }
event S2Done { job: str }

step s1 {
    on Go
    run "bin/s1" args [Go.job, "two words"] with { JOB: Go.job }
    on success emit S1Done { job: Go.job }
}

step s2 {
    on S1Done
    run "bin/s2" args [S1Done.job]
    on success emit S2Done { job: S1Done.job }
}

step s3 {
    on S2Done
    run "bin/s3" args [S2Done.job]
}
"#;

/// Eventor's first example, with real programs: each step runs when the one
/// before succeeded, in the sequence the input event started; arguments
/// are passed one by one (never through a shell), `with` and the `CEP_*`
/// variables reach the program, and a relative program path is taken from
/// the rule file's directory. The store records every step run.
#[test]
fn a_three_step_chain_runs_real_programs_in_order() {
    let d = Dir::new();
    d.file("rules.cep", CHAIN);
    d.file(
        "events.ndjson",
        "{\"type\":\"Go\",\"job\":\"j1\",\"at\":1000}\n{\"type\":\"Go\",\"job\":\"j2\",\"at\":2000,\"@cep\":{\"sequence\":\"nightly\"}}\n",
    );
    d.script(
        "s1",
        &format!(
            r#"{}; echo "env $JOB $CEP_STEP $CEP_RECOVERY $#" >> "$ACTIONS""#,
            logs("s1")
        ),
    );
    d.script("s2", &logs("s2"));
    d.script("s3", &logs("s3"));
    let o = d.run(&["--store", "store.db"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let actions = d.actions();
    let of = |seq: &str| -> Vec<String> {
        actions
            .iter()
            .filter(|l| l.contains(seq))
            .cloned()
            .collect()
    };
    assert_eq!(
        of("line-1"),
        vec![
            "s1 line-1 1 j1 two words",
            "s2 line-1 1 j1",
            "s3 line-1 1 j1"
        ]
    );
    assert_eq!(
        of("nightly"),
        vec![
            "s1 nightly 1 j2 two words",
            "s2 nightly 1 j2",
            "s3 nightly 1 j2"
        ]
    );
    assert!(
        actions.contains(&"env j1 s1 0 2".to_string()),
        "{actions:?}"
    );
    let mut store = d.store("store.db");
    store.sort();
    assert_eq!(store.len(), 6);
    assert!(
        store.iter().all(|r| r.2 == "success" && r.3 == 1),
        "{store:?}"
    );
    assert!(
        stderr(&o).contains("6 step runs: 6 succeeded, 0 failed (0 unhandled), 6 attempts"),
        "{}",
        stderr(&o)
    );
}

/// Retries with back-off: a program that fails twice, then succeeds, runs
/// three attempts, each at least the back-off after the one before; the
/// step log shows the retries.
#[test]
fn retries_with_backoff() {
    let d = Dir::new();
    d.file(
        "rules.cep",
        r#"
event Go { n: int }
step flaky {
    on Go
    run "bin/flaky"
    retry 3 backoff 200ms
}
"#,
    );
    d.file("events.ndjson", "{\"type\":\"Go\",\"n\":1}\n");
    d.script(
        "flaky",
        r#"n=$(cat "$ACTIONS.count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$ACTIONS.count"
echo "$CEP_ATTEMPT $(date +%s%3N)" >> "$ACTIONS"
[ $n -ge 3 ]"#,
    );
    let o = d.run(&["--store", ":memory:"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let actions = d.actions();
    assert_eq!(actions.len(), 3, "{actions:?}");
    let times: Vec<i64> = actions
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    for w in times.windows(2) {
        assert!(
            w[1] - w[0] >= 200,
            "attempts {times:?} closer than the back-off"
        );
    }
    let statuses: Vec<String> = d
        .steps()
        .into_iter()
        .map(|s| format!("{} {}", s.2, s.3))
        .collect();
    assert_eq!(
        statuses,
        vec![
            "ready 0",
            "active 1",
            "retry 1",
            "active 2",
            "retry 2",
            "active 3",
            "success 3"
        ]
    );
}

/// A timeout kills the attempt's whole process group: the program and the
/// child it started are both gone, and the run fails (handled by `on
/// failure`, so the exit code is 0).
#[test]
fn a_timeout_kills_the_program_and_its_children() {
    let d = Dir::new();
    d.file(
        "rules.cep",
        r#"
event Go { n: int }
event Failed { n: int }
step slow {
    on Go
    run "bin/slow"
    timeout 300ms
    on failure emit Failed { n: Go.n }
}
"#,
    );
    d.file("events.ndjson", "{\"type\":\"Go\",\"n\":1}\n");
    d.script(
        "slow",
        r#"sleep 30 &
echo "child $!" >> "$ACTIONS"
echo "parent $$" >> "$ACTIONS"
wait"#,
    );
    let o = d.run(&["--store", ":memory:"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pids: Vec<String> = d
        .actions()
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(pids.len(), 2, "{:?}", d.actions());
    for pid in &pids {
        // Give the kernel a moment to reap; then the process must be gone.
        let mut alive = true;
        for _ in 0..100 {
            alive = Command::new("sh")
                .args(["-c", &format!("kill -0 {pid} 2>/dev/null")])
                .status()
                .unwrap()
                .success();
            if !alive {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!alive, "process {pid} outlived its attempt's timeout");
    }
    let log = std::fs::read_to_string(d.path("steps.ndjson")).unwrap();
    assert!(log.contains(r#""status":"failure""#), "{log}");
    assert!(log.contains(r#""timed_out":true"#), "{log}");
    assert!(stderr(&o).contains("1 timed out"), "{}", stderr(&o));
}

/// A pool of capacity 1 serialises three runs, in the order they asked;
/// recorded intervals never overlap.
#[test]
fn a_pool_of_one_serialises_runs_in_request_order() {
    let d = Dir::new();
    d.file(
        "rules.cep",
        r#"
event Go { n: int }
resource slot capacity 1
step work {
    on Go
    acquire slot 1
    run "bin/work" args [Go.n]
}
"#,
    );
    d.file(
        "events.ndjson",
        "{\"type\":\"Go\",\"n\":1}\n{\"type\":\"Go\",\"n\":2}\n{\"type\":\"Go\",\"n\":3}\n",
    );
    d.script(
        "work",
        r#"s=$(date +%s%N); sleep 0.1; e=$(date +%s%N); echo "$1 $s $e" >> "$ACTIONS""#,
    );
    let o = d.run(&["--store", ":memory:"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<(String, i128, i128)> = d
        .actions()
        .iter()
        .map(|l| {
            let p: Vec<&str> = l.split(' ').collect();
            (
                p[0].to_string(),
                p[1].parse().unwrap(),
                p[2].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        vec!["1", "2", "3"]
    );
    for w in rows.windows(2) {
        assert!(
            w[1].1 >= w[0].2,
            "two holders of a pool of one overlapped: {rows:?}"
        );
    }
}

/// An unhandled failure: under `--on-failure stop` nothing new starts (the
/// delayed step never runs) and the exit code is 1; under `continue` the
/// rest goes on, and the exit code is still 1.
#[test]
fn an_unhandled_failure_stops_the_run_or_not() {
    let d = Dir::new();
    d.file(
        "rules.cep",
        r#"
event Go { n: int }
step bad {
    on Go
    run "bin/bad"
}
step later {
    on Go
    after 300ms
    run "bin/later"
}
"#,
    );
    d.file("events.ndjson", "{\"type\":\"Go\",\"n\":1}\n");
    d.script("bad", &format!("{}; exit 3", logs("bad")));
    d.script("later", &logs("later"));
    let o = d.run(&["--store", "stop.db"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(d.actions(), vec!["bad line-1 1 "]);
    let log = std::fs::read_to_string(d.path("steps.ndjson")).unwrap();
    assert!(log.contains(r#""exit":3"#), "{log}");
    // The delayed run is still `ready` in the store: a recovery can run it.
    let store = d.store("stop.db");
    assert!(
        store.contains(&("later".into(), "line-1".into(), "ready".into(), 0)),
        "{store:?}"
    );
    assert!(stderr(&o).contains("1 not finished"), "{}", stderr(&o));

    std::fs::remove_file(d.path("actions.log")).unwrap();
    let o = d.run(&["--store", ":memory:", "--on-failure", "continue"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(d.actions(), vec!["bad line-1 1 ", "later line-1 1 "]);
}

/// `post`: a JSON body to a real HTTP receiver on 127.0.0.1; a 2xx
/// succeeds, a 500 fails with the status in the step log.
#[test]
fn post_sends_json_and_a_non_2xx_fails() {
    for (answer, ok) in [
        ("204 No Content", true),
        ("500 Internal Server Error", false),
    ] {
        let (port, server) = http_receiver(1, answer);
        let d = Dir::new();
        d.file(
            "rules.cep",
            &format!(
                r#"
event Alert {{ who: str, level: int }}
event Sent {{ who: str }}
step page {{
    on Alert
    post "http://127.0.0.1:{port}/page" body {{ who: Alert.who, level: Alert.level, note: "disk full" }}
    timeout 5s
    on complete emit Sent {{ who: Alert.who }}
}}
"#
            ),
        );
        d.file(
            "events.ndjson",
            "{\"type\":\"Alert\",\"who\":\"ops\",\"level\":2}\n",
        );
        let o = d.run(&["--store", ":memory:"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let req = server.join().unwrap().remove(0);
        assert!(req.starts_with("POST /page HTTP/1.1\r\n"), "{req}");
        assert!(
            req.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{req}"
        );
        // The members in the order the rule wrote them.
        assert_eq!(body(&req), r#"{"who":"ops","level":2,"note":"disk full"}"#);
        let log = std::fs::read_to_string(d.path("steps.ndjson")).unwrap();
        if ok {
            assert!(log.contains(r#""status":"success""#), "{log}");
        } else {
            assert!(log.contains(r#""status":"failure""#), "{log}");
            assert!(log.contains(r#""http":500"#), "{log}");
        }
    }
}

/// The shipped datacenter example runs its steps for real (its failover
/// action is `rules/ops/failover`): the step runs and their statuses are
/// those of the dry run's expected step log, and the complex events are
/// the expected ones.
#[test]
fn the_datacenter_example_runs_its_steps_for_real() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = Dir::new();
    let steps = tmp.path("steps.ndjson");
    let out = tmp.path("out.ndjson");
    let o = Command::new(env!("CARGO_BIN_EXE_cep"))
        .current_dir(&root)
        .args([
            "run",
            "rules/datacenter.cep",
            "--input",
            "rules/datacenter.events.ndjson",
        ])
        .args(["--store", ":memory:", "--step-log"])
        .arg(&steps)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(root.join("rules/datacenter.expected.ndjson")).unwrap()
    );
    assert!(
        stderr(&o).contains(
            "failing over replica db1-r2 of node db1 (sequence cep-ReplicaAtRisk-2, attempt 1)"
        ),
        "{}",
        stderr(&o)
    );
    let per_run = |log: &str| {
        let mut m: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
        for l in log.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            m.entry((v["step"].to_string(), v["sequence"].to_string()))
                .or_default()
                .push(v["status"].to_string());
        }
        m
    };
    let want =
        std::fs::read_to_string(root.join("rules/datacenter.steps.expected.ndjson")).unwrap();
    assert_eq!(
        per_run(&std::fs::read_to_string(&steps).unwrap()),
        per_run(&want)
    );
}

/// Without `--store`, a program with steps makes `<stem>.run.db` in the
/// working directory; a program without steps makes no store at all.
#[test]
fn the_default_store_is_made_only_when_there_are_steps() {
    let d = Dir::new();
    d.file("rules.cep", CHAIN);
    d.file(
        "events.ndjson",
        "{\"type\":\"Go\",\"job\":\"j1\",\"at\":1000}\n",
    );
    for s in ["s1", "s2", "s3"] {
        d.script(s, &logs(s));
    }
    let o = d.run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(Path::new(&d.path("rules.run.db")).is_file());
    assert_eq!(d.store("rules.run.db").len(), 3);

    let e = Dir::new();
    e.file(
        "rules.cep",
        "event A { at: time }\npattern P { a: A emit { at: a.at } }\n",
    );
    e.file("events.ndjson", "{\"type\":\"A\",\"at\":1}\n");
    let o = e.run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dbs: Vec<_> = std::fs::read_dir(&e.0)
        .unwrap()
        .flatten()
        .filter(|f| f.path().to_string_lossy().ends_with(".db"))
        .collect();
    assert!(
        dbs.is_empty(),
        "a store was made for a program without steps"
    );
}

/// SIGINT while an attempt runs: nothing new starts, the attempt gets
/// `--grace`, then it is killed with all it started; its run stays
/// `active` in the store (a recovery would rerun it); exit 130. A second
/// SIGINT kills at once, without waiting for the grace.
#[test]
fn a_signal_gives_running_attempts_their_grace_then_kills_them() {
    for (grace, second) in [("300ms", false), ("1h", true)] {
        let d = Dir::new();
        d.file(
            "rules.cep",
            r#"
event Go { n: int }
step long {
    on Go
    run "bin/long"
}
"#,
        );
        d.script("long", r#"echo "pid $$" >> "$ACTIONS"; exec sleep 60"#);
        let mut child = Command::new(env!("CARGO_BIN_EXE_cep"))
            .current_dir(&d.0)
            .args(["run", "rules.cep", "--store", "store.db", "--grace", grace])
            .env("ACTIONS", d.path("actions.log"))
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(b"{\"type\":\"Go\",\"n\":1}\n").unwrap();
        input.flush().unwrap();
        // Wait until the program runs.
        let mut waited = 0;
        while d.actions().is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(20));
            waited += 1;
            assert!(waited < 3000, "the step never started");
        }
        let pid: String = d.actions()[0].split(' ').nth(1).unwrap().to_string();
        let kill = |sig: &str| {
            Command::new("sh")
                .args(["-c", &format!("kill -{sig} {}", child.id())])
                .status()
                .unwrap();
        };
        kill("INT");
        if second {
            std::thread::sleep(std::time::Duration::from_millis(200));
            kill("INT");
        }
        let o = child.wait_with_output().unwrap();
        drop(input);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(130), "{err}");
        assert!(err.contains("cep run: stopped by SIGINT"), "{err}");
        let alive = Command::new("sh")
            .args(["-c", &format!("sleep 0.2; kill -0 {pid} 2>/dev/null")])
            .status()
            .unwrap()
            .success();
        assert!(!alive, "the attempt's program outlived cep");
        let store = d.store("store.db");
        assert_eq!(
            store,
            vec![("long".into(), "line-1".into(), "active".into(), 1)]
        );
    }
}

const RECOVERABLE: &str = r#"
event Go { job: str }
event S1Done { job: str }
event S2Done { job: str }

step s1 {
    on Go
    run "bin/s1"
    on success emit S1Done { job: Go.job }
}

step s2 {
    on S1Done
    run "bin/s2"
    on success emit S2Done { job: S1Done.job }
}

step s3 {
    on S2Done
    run "bin/s3"
}
"#;

fn recover_scripts(d: &Dir) {
    d.script("s1", &logs("s1"));
    // s2 fails until the file `fixed` exists (Eventor's square root of -9).
    d.script(
        "s2",
        &format!(
            r#"{}; echo "recovery $CEP_RECOVERY run $CEP_RUN_ID" >> "$ACTIONS"; [ -f fixed ]"#,
            logs("s2")
        ),
    );
    d.script("s3", &logs("s3"));
}

/// Eventor's recovery example: the failed step reruns (with
/// `CEP_RECOVERY` 1, the same `CEP_RUN_ID`, from attempt 1), the succeeded
/// one does not, the flow goes on past it; a second recovery runs nothing;
/// the input lines the run had read are not read again.
#[test]
fn recovery_reruns_the_failed_step_and_not_the_succeeded_one() {
    let d = Dir::new();
    d.file("rules.cep", RECOVERABLE);
    d.file("events.ndjson", "{\"type\":\"Go\",\"job\":\"j\"}\n");
    recover_scripts(&d);
    let o = d.run(&["--store", "store.db"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let first = d.actions();
    assert_eq!(first.len(), 3, "{first:?}");
    assert_eq!(first[0], "s1 line-1 1 ");
    assert_eq!(first[1], "s2 line-1 1 ");
    let run_id = first[2].split(' ').nth(3).unwrap().to_string();
    assert_eq!(first[2], format!("recovery 0 run {run_id}"));

    d.file("fixed", "");
    let o = d.run(&["--store", "store.db", "--mode", "recover"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        d.actions()[3..].to_vec(),
        vec![
            "s2 line-1 1 ".to_string(),
            format!("recovery 1 run {run_id}"),
            "s3 line-1 1 ".to_string()
        ]
    );
    let mut store = d.store("store.db");
    store.sort();
    assert_eq!(
        store,
        vec![
            ("s1".into(), "line-1".into(), "success".into(), 1),
            ("s2".into(), "line-1".into(), "success".into(), 1),
            ("s3".into(), "line-1".into(), "success".into(), 1),
        ]
    );

    let o = d.run(&["--store", "store.db", "--mode", "recover"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(d.actions().len(), 6, "a second recovery ran something");
}

/// `recover { failure: skip }`: the failed run is not run again, and the
/// flow goes on past it as if it had succeeded (its `on success` event
/// fires, so `s3` runs).
#[test]
fn a_skip_policy_goes_on_past_the_failed_step() {
    let d = Dir::new();
    d.file(
        "rules.cep",
        &RECOVERABLE.replace(
            "    run \"bin/s2\"\n",
            "    run \"bin/s2\"\n    recover { failure: skip }\n",
        ),
    );
    d.file("events.ndjson", "{\"type\":\"Go\",\"job\":\"j\"}\n");
    recover_scripts(&d);
    let o = d.run(&["--store", "store.db"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let o = d.run(&["--store", "store.db", "--mode", "recover"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let actions = d.actions();
    assert_eq!(actions.len(), 4, "{actions:?}");
    assert_eq!(actions[3], "s3 line-1 1 ");
    let mut store = d.store("store.db");
    store.sort();
    assert_eq!(
        store[1],
        ("s2".into(), "line-1".into(), "skipped".into(), 1)
    );
    let log = std::fs::read_to_string(d.path("steps.ndjson")).unwrap();
    assert!(
        log.contains(r#""step":"s2","sequence":"line-1","status":"skipped""#),
        "{log}"
    );
}

/// A delay and `--once` (Eventor's `max_loops=1`, for a cron job): the
/// first run exits at once, leaving the delayed run ready in the store; a
/// `--mode continue --once` before it is due runs nothing; one after it is
/// due runs it, at its original due time or later.
#[test]
fn once_and_continue_drive_a_delay() {
    let d = Dir::new();
    d.file(
        "rules.cep",
        r#"
event Go { n: int }
step later {
    on Go
    after 1s
    run "bin/later"
}
"#,
    );
    d.file("events.ndjson", "{\"type\":\"Go\",\"n\":1}\n");
    d.script(
        "later",
        &format!(r#"{}; date +%s%3N >> "$ACTIONS""#, logs("later")),
    );
    let t0 = std::time::Instant::now();
    let o = d.run(&["--store", "store.db", "--once"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        t0.elapsed() < std::time::Duration::from_millis(900),
        "--once waited for the delay"
    );
    assert!(d.actions().is_empty());
    assert_eq!(
        d.store("store.db"),
        vec![("later".into(), "line-1".into(), "ready".into(), 0)]
    );
    let o = d.run(&["--store", "store.db", "--mode", "continue", "--once"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        d.actions().is_empty(),
        "ran before it was due: {:?}",
        d.actions()
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let o = d.run(&["--store", "store.db", "--mode", "continue", "--once"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(d.actions()[0], "later line-1 1 ");
    assert_eq!(
        d.store("store.db"),
        vec![("later".into(), "line-1".into(), "success".into(), 1)]
    );
}

/// A store whose run was made by other rules is refused by recover (exit
/// 2, a clear message); `restart` starts a new run in it.
#[test]
fn a_run_of_another_program_is_not_taken_up() {
    let d = Dir::new();
    d.file("rules.cep", RECOVERABLE);
    d.file("events.ndjson", "{\"type\":\"Go\",\"job\":\"j\"}\n");
    recover_scripts(&d);
    let o = d.run(&["--store", "store.db"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // A comment and another layout do not change the program...
    d.file(
        "rules.cep",
        &format!("// a comment\n{}", RECOVERABLE.replace("    ", "  ")),
    );
    d.file("fixed", "");
    let o = d.run(&["--store", "store.db", "--mode", "recover"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // ...another step does.
    d.file(
        "rules.cep",
        &format!("{RECOVERABLE}\nstep s4 {{\n    on S2Done\n    run \"bin/s3\"\n}}\n"),
    );
    let o = d.run(&["--store", "store.db", "--mode", "recover"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("was made by another program"),
        "{}",
        stderr(&o)
    );
    let o = d.run(&["--store", "store.db", "--mode", "restart"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `cep runs` lists the runs in a store (the latest first, with their
/// outcome, recoveries and step runs by status), and one run's step runs
/// by sequence; `--json` gives the same for tools; an unknown run or store
/// is exit 2.
#[test]
fn cep_runs_shows_the_runs_and_their_step_runs() {
    let d = Dir::new();
    d.file("rules.cep", RECOVERABLE);
    d.file("events.ndjson", "{\"type\":\"Go\",\"job\":\"j\"}\n");
    recover_scripts(&d);
    let o = d.run(&["--store", "store.db"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let runs = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cep"))
            .current_dir(&d.0)
            .args(["runs", "--store", "store.db"])
            .args(args)
            .output()
            .unwrap()
    };
    let o = runs(&["--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["outcome"], "failure");
    assert_eq!(v[0]["recoveries"], 0);
    assert_eq!(
        v[0]["step_runs"],
        serde_json::json!({"failure": 1, "success": 1})
    );
    let id = v[0]["run"].as_str().unwrap().to_string();
    let o = runs(&["--run-id", &id, "--json"]);
    let steps: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(steps[1]["step"], "s2");
    assert_eq!(steps[1]["status"], "failure");
    assert_eq!(steps[1]["detail"], "exit status 1");
    let o = runs(&[]);
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(table.lines().next().unwrap().starts_with("run "), "{table}");
    assert!(
        table.contains(&id) && table.contains("1 failure, 1 success"),
        "{table}"
    );
    let o = runs(&["--run-id", &id]);
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        table.contains("line-1") && table.contains("exit status 1"),
        "{table}"
    );
    assert_eq!(runs(&["--run-id", "nope"]).status.code(), Some(2));
    let o = Command::new(env!("CARGO_BIN_EXE_cep"))
        .args(["runs", "--store", d.path("none.db").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no such file"), "{}", stderr(&o));
}

/// The shipped pipeline example runs its steps for real (a copy with its
/// durations shortened, posting to a real HTTP receiver on 127.0.0.1):
/// `run_c` runs the shipped `rules/jobs/run-c` for each pipeline whose two
/// jobs succeeded, `page_on_failure` posts for each flaky job, and every
/// step run goes through the statuses of the dry run's expected step log.
#[test]
fn the_pipeline_example_runs_its_steps_for_real() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (port, server) = http_receiver(2, "200 OK");
    let d = Dir::new();
    let rules = std::fs::read_to_string(root.join("rules/pipeline.cep"))
        .unwrap()
        .replace("after 30s", "after 30ms")
        .replace("backoff 1m", "backoff 10ms")
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{port}"));
    d.file("rules.cep", &rules);
    std::fs::create_dir_all(d.path("jobs")).unwrap();
    std::fs::copy(root.join("rules/jobs/run-c"), d.path("jobs/run-c")).unwrap();
    std::fs::copy(
        root.join("rules/pipeline.events.ndjson"),
        d.path("events.ndjson"),
    )
    .unwrap();
    let o = d.run(&["--store", ":memory:", "--output", "out.ndjson"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(d.path("out.ndjson")).unwrap(),
        std::fs::read_to_string(root.join("rules/pipeline.expected.ndjson")).unwrap()
    );
    let err = stderr(&o);
    for p in ["etl-0714", "reports-0714"] {
        assert!(
            err.contains(&format!(
                "running stage C of pipeline {p} (sequence cep-ReadyForC-"
            )),
            "{err}"
        );
    }
    let bodies: Vec<String> = server
        .join()
        .unwrap()
        .iter()
        .map(|r| body(r).to_string())
        .collect();
    assert_eq!(bodies, vec![r#"{"text":"pipeline stage failed"}"#; 2]);
    let per_run = |log: &str| {
        let mut m: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
        for l in log.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            m.entry((v["step"].to_string(), v["sequence"].to_string()))
                .or_default()
                .push(format!("{} {}", v["status"], v["attempt"]));
        }
        m
    };
    let want = std::fs::read_to_string(root.join("rules/pipeline.steps.expected.ndjson")).unwrap();
    assert_eq!(
        per_run(&std::fs::read_to_string(d.path("steps.ndjson")).unwrap()),
        per_run(&want)
    );
}

/// Recorded intervals of real programs: a pool of 2 never has more than
/// two holders at once (and does have two), and `--max-concurrent 1`
/// never lets two step runs overlap, over all steps.
#[test]
fn a_pool_of_two_and_max_concurrent_one_from_recorded_intervals() {
    let rows = |d: &Dir| -> Vec<(i128, i128)> {
        d.actions()
            .iter()
            .map(|l| {
                let p: Vec<&str> = l.split(' ').collect();
                (p[1].parse().unwrap(), p[2].parse().unwrap())
            })
            .collect()
    };
    let most_at_once = |iv: &[(i128, i128)]| {
        let mut points: Vec<(i128, i32)> =
            iv.iter().flat_map(|(b, e)| [(*b, 1), (*e, -1)]).collect();
        points.sort();
        let (mut now, mut most) = (0, 0);
        for (_, d) in points {
            now += d;
            most = most.max(now);
        }
        most
    };
    let timed = r#"s=$(date +%s%N); sleep 0.1; e=$(date +%s%N); echo "$1 $s $e" >> "$ACTIONS""#;

    let d = Dir::new();
    d.file(
        "rules.cep",
        "event Go { n: int }\nresource two capacity 2\nstep work {\n    on Go\n    acquire two 1\n    run \"bin/work\" args [Go.n]\n}\n",
    );
    d.file(
        "events.ndjson",
        &(1..=5)
            .map(|n| format!("{{\"type\":\"Go\",\"n\":{n}}}\n"))
            .collect::<String>(),
    );
    d.script("work", timed);
    let o = d.run(&["--store", ":memory:"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(most_at_once(&rows(&d)), 2, "{:?}", d.actions());

    let d = Dir::new();
    d.file(
        "rules.cep",
        "event Go { n: int }\nstep a {\n    on Go\n    run \"bin/work\" args [Go.n]\n}\nstep b {\n    on Go\n    run \"bin/work\" args [Go.n]\n}\n",
    );
    d.file(
        "events.ndjson",
        "{\"type\":\"Go\",\"n\":1}\n{\"type\":\"Go\",\"n\":2}\n",
    );
    d.script("work", timed);
    let o = d.run(&["--store", ":memory:", "--max-concurrent", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rows(&d).len(), 4);
    assert_eq!(most_at_once(&rows(&d)), 1, "{:?}", d.actions());
}
