//! `cep run` and `cep compile` as a user's files and a live stream see
//! them: an output that is an input is refused before anything is opened
//! (by file identity, not by name), live output comes out while the input
//! is idle, and SIGINT/SIGTERM stop the run with everything read so far
//! processed, written and summarised.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

const RULES: &str = "\
event T { k: str, v: int, at: time }

pattern Two partition by k {
    a: T where v == 1
    next _b: T where v == 2
    emit { k: a.k }
}

pattern Quiet partition by k {
    a: T where v == 3
    not T within 10s
    emit { k: a.k }
}
";

const EVENTS: &str = concat!(
    r#"{"type":"T","k":"a","v":1,"at":1000}"#,
    "\n",
    r#"{"type":"T","k":"a","v":2,"at":2000}"#,
    "\n",
    r#"{"type":"T","k":"b","v":3,"at":3000}"#,
    "\n",
);

/// A fresh directory for one test, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("cep-io-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cep() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cep"));
    c.env("NO_COLOR", "1");
    c
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `cep` with `args` (and standard input and output as given) and
/// expects exit 2 with `message` on stderr.
fn refused(mut c: Command, message: &str) {
    let o = c.stderr(Stdio::piped()).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(message), "expected {message:?} in:\n{err}");
}

// ---- an output that is an input ------------------------------------------------------

/// Every way of naming the input as an output is refused with exit 2, and
/// the input keeps every byte: the same name, another spelling of the
/// path, a hard link, a symbolic link, the rule file, standard output
/// redirected (appending) to the input, and standard input read from the
/// output file.
#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_is_untouched() {
    let d = Dir::new();
    let rules = d.file("rules.cep", RULES);
    let input = d.file("events.ndjson", EVENTS);
    let sub = d.path("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let other_spelling = sub.join("..").join("events.ndjson");
    let hard = d.path("hard.ndjson");
    std::fs::hard_link(&input, &hard).unwrap();
    let soft = d.path("soft.ndjson");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&input, &soft).unwrap();
    let is_input = "is the same file as the input";

    for (flag, out) in [
        ("--output", &input),
        ("--output", &other_spelling),
        ("--dead-letter", &hard),
        ("--output", &soft),
    ] {
        let mut c = cep();
        c.args(["run", s(&rules), "--input", s(&input), flag, s(out)]);
        refused(
            c,
            &format!("`{flag} {}` {is_input} `{}`", s(out), s(&input)),
        );
    }
    let mut c = cep();
    c.args([
        "run",
        s(&rules),
        "--input",
        s(&input),
        "--dead-letter",
        s(&rules),
    ]);
    refused(c, "is the same file as the rule file");

    // `cep run ... >> events.ndjson`: standard output is the input.
    let append = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    let mut c = cep();
    c.args(["run", s(&rules), "--input", s(&input)])
        .stdout(append);
    refused(
        c,
        &format!("standard output (the output) {is_input} `{}`", s(&input)),
    );

    // `cep run ... --output events.ndjson < events.ndjson`.
    let mut c = cep();
    c.args(["run", s(&rules), "--output", s(&input)])
        .stdin(std::fs::File::open(&input).unwrap());
    refused(c, "is the same file as standard input (the input)");

    // `cep compile rules.cep -o rules.cep`.
    let mut c = cep();
    c.args(["compile", s(&rules), "-o", s(&rules)]);
    refused(c, "`-o");

    assert_eq!(std::fs::read_to_string(&input).unwrap(), EVENTS);
    assert_eq!(std::fs::read_to_string(&rules).unwrap(), RULES);
}

/// `--output` and `--dead-letter` naming one file (even one that does not
/// exist yet) are refused; distinct files are fine, and the terminal-like
/// `/dev/null` may be input and both outputs at once.
#[test]
fn two_outputs_in_one_file_are_refused() {
    let d = Dir::new();
    let rules = d.file("rules.cep", RULES);
    let input = d.file("events.ndjson", EVENTS);
    let out = d.path("out.ndjson");
    let sub = d.path("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let again = sub.join("..").join("out.ndjson");
    let mut c = cep();
    c.args(["run", s(&rules), "--input", s(&input), "--output", s(&out)])
        .args(["--dead-letter", s(&again)]);
    refused(c, "are the same file");
    assert!(!out.exists(), "nothing may be opened before the check");

    let o = cep()
        .args([
            "run",
            s(&rules),
            "--input",
            "/dev/null",
            "--output",
            "/dev/null",
        ])
        .args(["--dead-letter", "/dev/null"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

// ---- live output and signals ---------------------------------------------------------

/// A `cep run` fed through a pipe that the test keeps open, its standard
/// output read line by line on a thread.
struct Live {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Live {
    fn start(rules: &Path, extra: &[&str]) -> Live {
        let mut child = cep()
            .args(["run", s(rules)])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Live { child, lines }
    }

    fn send(&mut self, text: &str) {
        let w = self.child.stdin.as_mut().unwrap();
        w.write_all(text.as_bytes()).unwrap();
        w.flush().unwrap();
    }

    /// The next output line, waiting at most a minute (a liveness bound,
    /// not a speed measurement: it only fails if the line never comes).
    fn next(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(60))
            .expect("an output line while the input stays open")
    }

    fn signal(&mut self, name: &str) {
        // The shell's own `kill`, so that no kill binary is needed.
        let st = Command::new("sh")
            .args(["-c", &format!("kill -{name} {}", self.child.id())])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Exit code, stderr, and the output lines not yet taken.
    fn wait(self) -> (Option<i32>, String, Vec<String>) {
        let o = self.child.wait_with_output().unwrap();
        let rest = self.lines.iter().collect();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
            rest,
        )
    }
}

/// A complex event comes out as soon as the event that completes it was
/// read, while the input stays open: before, output waited in a buffer
/// until it filled or the input ended.
#[test]
fn live_output_is_flushed_while_the_input_is_idle() {
    let d = Dir::new();
    let rules = d.file("rules.cep", RULES);
    let mut live = Live::start(&rules, &[]);
    live.send(concat!(
        r#"{"type":"T","k":"a","v":1,"at":1000}"#,
        "\n",
        r#"{"type":"T","k":"a","v":2,"at":2000}"#,
        "\n"
    ));
    let first = live.next();
    assert!(first.starts_with(r#"{"type":"Two","k":"a""#), "{first}");
    live.send(concat!(
        r#"{"type":"T","k":"c","v":1,"at":3000}"#,
        "\n",
        r#"{"type":"T","k":"c","v":2,"at":4000}"#,
        "\n"
    ));
    let second = live.next();
    assert!(second.starts_with(r#"{"type":"Two","k":"c""#), "{second}");
    drop(live.child.stdin.take());
    let (code, err, rest) = live.wait();
    assert_eq!(code, Some(0), "{err}");
    assert!(rest.is_empty(), "{rest:?}");
    assert!(err.contains("4 events in, 2 complex events out"), "{err}");
}

/// SIGINT and SIGTERM stop reading: what was read is processed (with
/// `--max-delay`, the held events too) and written, the summary says so,
/// the exit code is 128 + the signal, and time does not pass: the pending
/// absence of `k = b` does not complete (its input did not end).
#[test]
fn a_signal_stops_the_run_with_everything_read_written() {
    for (sig, code) in [("INT", 130), ("TERM", 143)] {
        let d = Dir::new();
        let rules = d.file("rules.cep", RULES);
        let dead = d.path("dead.ndjson");
        let mut live = Live::start(&rules, &["--max-delay", "1h", "--dead-letter", s(&dead)]);
        live.send(EVENTS);
        // A line that is not an event, so that the dead-letter file has
        // something to flush too, and one more pair held under the delay.
        live.send(concat!(
            "not json\n",
            r#"{"type":"T","k":"h","v":1,"at":5000}"#,
            "\n",
            r#"{"type":"T","k":"h","v":2,"at":6000}"#,
            "\n"
        ));
        // Wait until cep has read all of it: the dead letter is written
        // (and flushed while the input is idle) after the lines before it.
        let mut waited = 0;
        while std::fs::read_to_string(&dead)
            .unwrap_or_default()
            .is_empty()
        {
            std::thread::sleep(Duration::from_millis(20));
            waited += 1;
            assert!(waited < 3000, "cep never read the input");
        }
        std::thread::sleep(Duration::from_millis(100));
        live.signal(sig);
        let (got, err, out) = live.wait();
        assert_eq!(got, Some(code), "SIG{sig}: {err}");
        assert!(
            err.contains(&format!(
                "cep run: stopped by SIG{sig}: the input did not end"
            )),
            "{err}"
        );
        assert!(
            err.contains("5 events in, 2 complex events out, 1 dead letters"),
            "{err}"
        );
        let types: Vec<&str> = out
            .iter()
            .map(|l| if l.contains(r#""k":"a""#) { "a" } else { "h" })
            .collect();
        assert_eq!(types, vec!["a", "h"], "{out:?}");
        assert!(!out.iter().any(|l| l.contains("Quiet")), "{out:?}");
        let letters = std::fs::read_to_string(&dead).unwrap();
        assert_eq!(letters.lines().count(), 1, "{letters}");
    }
}
