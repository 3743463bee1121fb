//! End-to-end tests of `cep run` through the binary: NDJSON events in,
//! complex events and dead letters out, exit codes and the summary line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const RULES: &str = r#"
event Temperature { sensor: str, celsius: float, at: time }
event Door { room: str }

pattern Heatwave partition by sensor within 10s {
    a: Temperature where celsius > 30.0
    next b: Temperature where celsius > a.celsius
    emit { sensor: a.sensor, peak: b.celsius }
}
"#;

/// Consumes the complex events of `RULES`.
const TWO_WAVES: &str = r#"
pattern TwoWaves partition by sensor {
    w1: Heatwave
    then w2: Heatwave
    emit { sensor: w1.sensor, first: w1.peak, second: w2.peak }
}
"#;

/// 2026-11-22T10:00:00Z in epoch milliseconds.
const T0: i64 = 1_795_341_600_000;

/// A file in the temp directory, removed when dropped.
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str, bytes: impl AsRef<[u8]>) -> Temp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("cep-run-{}-{n}-{name}", std::process::id()));
        std::fs::write(&path, bytes).expect("write temp file");
        Temp(path)
    }

    /// A path with nothing there yet.
    fn path_only(name: &str) -> Temp {
        let t = Temp::new(name, "");
        let _ = std::fs::remove_file(&t.0);
        t
    }

    fn s(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn read(&self) -> String {
        std::fs::read_to_string(&self.0).expect("read temp file")
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.0).expect("read temp file")
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn cep(args: &[&str]) -> Output {
    cep_stdin(args, None)
}

fn cep_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cep"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .spawn()
        .expect("run cep");
    // Write from another thread: cep may fill its stdout pipe before it
    // has read all of its input.
    let writer = stdin.map(|input| {
        let mut w = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&input);
        })
    });
    let out = child.wait_with_output().expect("wait for cep");
    if let Some(w) = writer {
        w.join().expect("stdin writer");
    }
    out
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and expects success; gives stdout.
fn run_ok(args: &[&str]) -> String {
    let o = cep(args);
    assert_eq!(code(&o), 0, "cep {args:?}\nstderr:\n{}", stderr(&o));
    stdout(&o)
}

/// The numbers of the summary line: events in, complex out, dead letters.
fn summary(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("cep run: ") && l.ends_with(" events/s"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stderr}"));
    let parts: Vec<&str> = line.trim_start_matches("cep run: ").split(", ").collect();
    assert_eq!(parts.len(), 5, "{line}");
    let num = |p: &str, suffix: &str| -> u64 {
        p.strip_suffix(suffix)
            .unwrap_or_else(|| panic!("{p:?} does not end with {suffix:?} in {line}"))
            .parse()
            .unwrap()
    };
    assert!(parts[3].ends_with(" s"), "{line}");
    parts[3].trim_end_matches(" s").parse::<f64>().unwrap();
    parts[4]
        .trim_end_matches(" events/s")
        .parse::<u64>()
        .unwrap();
    (
        num(parts[0], " events in"),
        num(parts[1], " complex events out"),
        num(parts[2], " dead letters"),
    )
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn temp_line(sensor: &str, celsius: f64, at: i64) -> String {
    format!(r#"{{"type":"Temperature","sensor":"{sensor}","celsius":{celsius:?},"at":{at}}}"#)
}

// ---- (1) bad lines go to the dead letters, good ones are processed -------------------

/// Lines 1..=17; `None` marks the invalid UTF-8 line.
fn mixed_input() -> Vec<u8> {
    let pad = "x".repeat(300);
    let lines: Vec<Option<String>> = vec![
        /* 1 */
        Some(
            r#"{"type":"Temperature","sensor":"s1","celsius":31.0,"at":"2026-11-22T10:00:00Z"}"#
                .into(),
        ),
        /* 2 */ Some(r#"{"type":"Temperature","#.into()),
        /* 3 */
        Some(
            r#"{"type":"Temperature","sensor":"s1","celsius":33,"at":"2026-11-22T10:00:01Z"}"#
                .into(),
        ),
        /* 4 */ Some("[1,2,3]".into()),
        /* 5 */ Some(String::new()),
        /* 6 */
        Some(
            r#"{"type":"Temprature","sensor":"s1","celsius":40.0,"at":"2026-11-22T10:00:01Z"}"#
                .into(),
        ),
        /* 7 */
        Some(r#"{"type":"Temperature","sensor":"s1","at":"2026-11-22T10:00:01Z"}"#.into()),
        /* 8 */
        Some(
            r#"{"type":"Temperature","sensor":"s1","celsius":"hot","at":"2026-11-22T10:00:01Z"}"#
                .into(),
        ),
        /* 9 */
        Some(
            r#"{"type":"Temperature","sensor":"s1","celsius":45.0,"at":"2026-11-31T10:00:01Z"}"#
                .into(),
        ),
        /* 10 */
        Some(format!(
            r#"{{"type":"Temperature","sensor":"s1","celsius":45.0,"at":"2026-11-22T10:00:01Z","pad":"{pad}"}}"#
        )),
        /* 11 */ None,
        /* 12 */ Some(r#"{"sensor":"s2","celsius":50.0}"#.into()),
        /* 13 */
        Some(
            r#"{"type":"Temperature","sensor":"s2","celsius":35.0,"at":"2026-11-22T10:00:02Z"}"#
                .into(),
        ),
        /* 14 */
        Some(
            r#"{"type":"Temperature","sensor":"s2","celsius":99.0,"at":"2026-11-22T10:00:00Z"}"#
                .into(),
        ),
        /* 15 */
        Some(
            r#"{"type":"Temperature","sensor":"s2","celsius":36.5,"at":"2026-11-22T10:00:03Z"}"#
                .into(),
        ),
        /* 16 */ Some(r#"{"type":"Door","room":"r1"}"#.into()),
        /* 17 */ Some("   ".into()),
    ];
    let mut bytes = Vec::new();
    for l in lines {
        match l {
            Some(l) => bytes.extend_from_slice(l.as_bytes()),
            None => bytes.extend_from_slice(b"{\"type\":\"Door\",\"room\":\"\xff\xfe\"}"),
        }
        bytes.push(b'\n');
    }
    bytes
}

#[test]
fn bad_lines_are_dead_letters_and_good_ones_are_processed() {
    let rules = Temp::new("rules.cep", RULES);
    let input = Temp::new("mixed.ndjson", mixed_input());
    let dead = Temp::path_only("dead.ndjson");
    let o = cep(&[
        "run",
        rules.s(),
        "--input",
        input.s(),
        "--dead-letter",
        dead.s(),
        "--max-line-bytes",
        "200",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        concat!(
            r#"{"type":"Heatwave","sensor":"s1","peak":33.0,"@cep":{"time":1795341601000,"run":"cep-Heatwave-1","pattern":"Heatwave","events":[{"binding":"a","line":1},{"binding":"b","line":3}]}}"#,
            "\n",
            r#"{"type":"Heatwave","sensor":"s2","peak":36.5,"@cep":{"time":1795341603000,"run":"cep-Heatwave-3","pattern":"Heatwave","events":[{"binding":"a","line":13},{"binding":"b","line":15}]}}"#,
            "\n",
        )
    );
    let letters = json_lines(&dead.read());
    let got: Vec<(u64, &str)> = letters
        .iter()
        .map(|l| (l["line"].as_u64().unwrap(), l["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "malformed json"),
            (4, "not an object"),
            (6, "unknown type"),
            (7, "missing field"),
            (8, "wrong type"),
            (9, "bad time"),
            (10, "oversized line"),
            (11, "invalid utf-8"),
            (12, "missing type"),
            (14, "late"),
        ]
    );
    let detail = |line: u64| {
        letters
            .iter()
            .find(|l| l["line"] == line)
            .map(|l| l["detail"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(
        detail(6),
        "unknown event type `Temprature` (did you mean `Temperature`?)"
    );
    assert_eq!(
        detail(7),
        "field `celsius` (float) of `Temperature` is missing"
    );
    assert_eq!(
        detail(8),
        "field `celsius` of `Temperature` must be a float (a JSON number), found the string \"hot\""
    );
    assert!(detail(9).contains("day 31 is out of range for month 11"));
    assert_eq!(detail(10), "the line is longer than the limit of 200 bytes");
    assert!(detail(14).contains("is before the latest event time"));
    // Every letter keeps the text of its line, cut to 200 characters.
    for l in &letters {
        let text = l["text"].as_str().unwrap();
        assert!(!text.is_empty() && text.chars().count() <= 200, "{l}");
    }
    assert_eq!(
        letters[1]["text"], "[1,2,3]",
        "the text is the line as it was"
    );
    assert_eq!(letters[6]["text"].as_str().unwrap().chars().count(), 200);
    // 15 lines that are not blank: 5 events and 10 dead letters.
    let (events_in, complex_out, dead_letters) = summary(&stderr(&o));
    assert_eq!((events_in, complex_out, dead_letters), (5, 2, 10));
    let non_blank = mixed_input()
        .split(|b| *b == b'\n')
        .filter(|l| l.iter().any(|b| !b" \t\r".contains(b)))
        .count() as u64;
    assert_eq!(events_in + dead_letters, non_blank);
}

#[test]
fn without_a_dead_letter_file_the_first_are_shown_on_stderr() {
    let rules = Temp::new("rules.cep", RULES);
    let mut text = mixed_input();
    for _ in 0..12 {
        text.extend_from_slice(b"nope\n");
    }
    let input = Temp::new("mixed.ndjson", text);
    let o = cep(&[
        "run",
        rules.s(),
        "--input",
        input.s(),
        "--max-line-bytes",
        "200",
    ]);
    assert_eq!(code(&o), 0);
    let err = stderr(&o);
    assert!(err.contains("cep run: line 2: malformed json: "), "{err}");
    assert!(err.contains("cep run: line 14: late: "), "{err}");
    assert!(
        err.contains("... and 12 more dead letters (keep them all with --dead-letter FILE)"),
        "{err}"
    );
    assert!(
        !err.contains("line 20:"),
        "only the first ten are shown:\n{err}"
    );
    assert_eq!(summary(&err), (5, 2, 22));
}

// ---- (2) RFC 3339 and epoch milliseconds -----------------------------------------------

#[test]
fn rfc3339_and_epoch_milliseconds_give_the_same_results() {
    let rules = Temp::new("rules.cep", RULES);
    let epoch = [
        temp_line("s1", 31.0, T0),
        temp_line("s1", 32.0, T0 + 250),
        temp_line("s2", 40.0, T0 + 1_000),
        temp_line("s1", 33.5, T0 + 1_500),
        temp_line("s2", 41.0, T0 + 3_600_000),
    ]
    .join("\n");
    let rfc = [
        r#"{"type":"Temperature","sensor":"s1","celsius":31.0,"at":"2026-11-22T10:00:00Z"}"#,
        r#"{"type":"Temperature","sensor":"s1","celsius":32.0,"at":"2026-11-22T11:00:00.250+01:00"}"#,
        r#"{"type":"Temperature","sensor":"s2","celsius":40.0,"at":"2026-11-22T04:30:01-05:30"}"#,
        r#"{"type":"Temperature","sensor":"s1","celsius":33.5,"at":"2026-11-22t10:00:01.5009z"}"#,
        r#"{"at":"2026-11-22T11:00:00.000Z","type":"Temperature","sensor":"s2","celsius":41}"#,
    ]
    .join("\n");
    let a = Temp::new("epoch.ndjson", epoch);
    let b = Temp::new("rfc.ndjson", rfc);
    let out_a = run_ok(&["run", rules.s(), "--input", a.s()]);
    let out_b = run_ok(&["run", rules.s(), "--input", b.s()]);
    assert_eq!(out_a, out_b);
    let got = json_lines(&out_a);
    // s2's second reading is an hour later: outside the window.
    assert_eq!(got.len(), 2, "{out_a}");
    assert_eq!(got[0]["peak"], 32.0);
    assert_eq!(got[0]["@cep"]["time"], T0 + 250);
    assert_eq!(got[1]["peak"], 33.5);
    assert_eq!(got[1]["@cep"]["time"], T0 + 1_500);
}

// ---- (3) the output reads back as input --------------------------------------------------

fn waves_input() -> String {
    let mut lines = Vec::new();
    for (i, (s, c)) in [
        ("s1", 31.0),
        ("s2", 35.0),
        ("s1", 33.0),
        ("s1", 34.0),
        ("s2", 36.0),
        ("s1", 20.0),
        ("s2", 37.0),
        ("s2", 38.5),
    ]
    .into_iter()
    .enumerate()
    {
        lines.push(temp_line(s, c, T0 + 1000 * i as i64));
    }
    lines.push(r#"{"type":"Door","room":"r1"}"#.into());
    lines.join("\n") + "\n"
}

#[test]
fn complex_events_read_back_as_input() {
    let heat = Temp::new("heat.cep", RULES);
    let both = Temp::new("both.cep", format!("{RULES}{TWO_WAVES}"));
    let input = Temp::new("waves.ndjson", waves_input());
    // Stage 1: only heatwaves. Stage 2: its output into the pattern over
    // heatwaves.
    let stage1 = run_ok(&["run", heat.s(), "--input", input.s()]);
    assert_eq!(json_lines(&stage1).len(), 5, "{stage1}");
    let stage1_file = Temp::new("stage1.ndjson", &stage1);
    let dead = Temp::path_only("dead.ndjson");
    let o = cep(&[
        "run",
        both.s(),
        "--input",
        stage1_file.s(),
        "--dead-letter",
        dead.s(),
        "--instance",
        "two",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(dead.read(), "", "every line of the output reads back");
    assert_eq!(summary(&stderr(&o)), (5, 3, 0));
    let stage2 = stdout(&o);
    // In one go, the same complex events (with runs instead of lines).
    let direct = run_ok(&["run", both.s(), "--input", input.s()]);
    let waves = |s: &str| -> Vec<serde_json::Value> {
        json_lines(s)
            .into_iter()
            .filter(|v| v["type"] == "TwoWaves")
            .collect()
    };
    let strip = |v: &serde_json::Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("@cep");
        v
    };
    let (a, b) = (waves(&stage2), waves(&direct));
    assert_eq!(a.len(), 3, "{stage2}");
    assert_eq!(
        a.iter().map(strip).collect::<Vec<_>>(),
        b.iter().map(strip).collect::<Vec<_>>()
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["@cep"]["time"], y["@cep"]["time"]);
    }
    // Read back, the heatwaves are input lines; produced, they are runs.
    assert_eq!(
        a[0]["@cep"]["events"],
        serde_json::json!([{"binding":"w1","line":1},{"binding":"w2","line":2}])
    );
    assert!(a[0]["@cep"]["run"].as_str().unwrap().starts_with("two-"));
    let refs = &b[0]["@cep"]["events"];
    assert!(
        refs[0]["run"].as_str().unwrap().starts_with("cep-"),
        "{refs}"
    );
    assert!(refs[0].get("line").is_none());
    // And what the direct run wrote reads back too (both kinds of complex
    // events, the pattern over heatwaves finding them again).
    let direct_file = Temp::new("direct.ndjson", &direct);
    let o = cep(&["run", both.s(), "--input", direct_file.s()]);
    assert_eq!(code(&o), 0);
    assert_eq!(summary(&stderr(&o)), (8, 3, 0));
    assert_eq!(
        waves(&stdout(&o)).iter().map(strip).collect::<Vec<_>>(),
        b.iter().map(strip).collect::<Vec<_>>()
    );
}

// ---- (4) the same input gives the same bytes ------------------------------------------------

/// A deterministic mixed stream with a few bad lines.
fn generated(n: usize) -> String {
    let mut x: u64 = 42;
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    let mut out = String::new();
    let mut t = T0;
    for i in 0..n {
        t += (next() % 700) as i64;
        let sensor = format!("s{}", next() % 8);
        let celsius = 25.0 + (next() % 200) as f64 / 10.0;
        match i % 97 {
            13 => out.push_str("{\"type\":\"Temperature\"\n"),
            57 => out.push_str(&temp_line(&sensor, celsius, t - 5000)),
            71 => out.push_str("{\"type\":\"Door\",\"room\":\"r\"}"),
            _ => out.push_str(&temp_line(&sensor, celsius, t)),
        }
        out.push('\n');
    }
    out
}

#[test]
fn the_same_input_gives_byte_identical_output() {
    let rules = Temp::new("both.cep", format!("{RULES}{TWO_WAVES}"));
    let input = Temp::new("gen.ndjson", generated(3000));
    let run = |tag: &str| {
        let out = Temp::path_only(&format!("out-{tag}.ndjson"));
        let dead = Temp::path_only(&format!("dead-{tag}.ndjson"));
        let o = cep(&[
            "run",
            rules.s(),
            "--input",
            input.s(),
            "--output",
            out.s(),
            "--dead-letter",
            dead.s(),
            "--max-delay",
            "1s",
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_eq!(stdout(&o), "", "with --output nothing goes to stdout");
        (out.bytes(), dead.bytes(), summary(&stderr(&o)))
    };
    let (out1, dead1, s1) = run("a");
    let (out2, dead2, s2) = run("b");
    assert!(out1.len() > 1000, "the test needs matches");
    assert!(!dead1.is_empty(), "the test needs dead letters");
    assert_eq!(out1, out2);
    assert_eq!(dead1, dead2);
    assert_eq!(s1, s2);
    // Standard input and output give the same bytes as files.
    let text = input.bytes();
    let o = cep_stdin(
        &["run", rules.s(), "--max-delay", "1s", "--input", "-"],
        Some(&text),
    );
    assert_eq!(code(&o), 0);
    assert_eq!(o.stdout, out1);
    let o = cep_stdin(&["run", rules.s(), "--max-delay", "1000ms"], Some(&text));
    assert_eq!(o.stdout, out1);
}

// ---- (5) --max-delay ----------------------------------------------------------------------------

#[test]
fn max_delay_reorders_events_within_it_and_rejects_later_ones() {
    let rules = Temp::new("rules.cep", RULES);
    let input = Temp::new(
        "disorder.ndjson",
        [
            temp_line("s1", 35.0, T0 + 1000),   // 1
            temp_line("s1", 31.0, T0),          // 2: 1 s early, within the delay
            temp_line("s1", 40.0, T0 + 10_000), // 3
            temp_line("s1", 50.0, T0 + 500),    // 4: 9.5 s early, too late
        ]
        .join("\n"),
    );
    let dead = Temp::path_only("dead.ndjson");
    let o = cep(&[
        "run",
        rules.s(),
        "--input",
        input.s(),
        "--max-delay",
        "2s",
        "--dead-letter",
        dead.s(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = json_lines(&stdout(&o));
    let events: Vec<&serde_json::Value> = out.iter().map(|v| &v["@cep"]["events"]).collect();
    assert_eq!(
        events,
        vec![
            &serde_json::json!([{"binding":"a","line":2},{"binding":"b","line":1}]),
            &serde_json::json!([{"binding":"a","line":1},{"binding":"b","line":3}]),
        ]
    );
    assert_eq!(out[0]["peak"], 35.0);
    assert_eq!(out[1]["peak"], 40.0);
    let letters = json_lines(&dead.read());
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["line"], 4);
    assert_eq!(letters[0]["reason"], "late");
    assert!(letters[0]["detail"]
        .as_str()
        .unwrap()
        .contains("more than the allowed delay of 2000 ms"));
    assert_eq!(summary(&stderr(&o)), (3, 2, 1));

    // Without a delay the early event is late as well.
    let o = cep(&[
        "run",
        rules.s(),
        "--input",
        input.s(),
        "--dead-letter",
        dead.s(),
    ]);
    assert_eq!(code(&o), 0);
    let lines: Vec<u64> = json_lines(&dead.read())
        .iter()
        .map(|l| {
            assert_eq!(l["reason"], "late");
            l["line"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(lines, vec![2, 4]);
    assert_eq!(summary(&stderr(&o)), (2, 1, 2));
}

#[test]
fn bad_options_are_usage_errors() {
    let rules = Temp::new("rules.cep", RULES);
    for args in [
        vec!["run", rules.s(), "--max-delay", "2"],
        vec!["run", rules.s(), "--max-delay", "1.5s"],
        vec!["run", rules.s(), "--max-runs", "0"],
        vec!["run", rules.s(), "--max-line-bytes", "x"],
        vec!["run"],
    ] {
        let o = cep(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
    }
}

// ---- (6) a compiled IR as the rules --------------------------------------------------------------

#[test]
fn a_compiled_ir_runs_like_its_sources() {
    let rules = Temp::new("both.cep", format!("{RULES}{TWO_WAVES}"));
    let ir = Temp::path_only("rules.json");
    let o = cep(&["compile", rules.s(), "-o", ir.s()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let input = Temp::new("waves.ndjson", waves_input());
    let from_source = run_ok(&["run", rules.s(), "--input", input.s()]);
    let from_ir = run_ok(&["run", ir.s(), "--input", input.s()]);
    assert!(!from_source.is_empty());
    assert_eq!(from_source, from_ir);
}

// ---- (7) exit codes ------------------------------------------------------------------------------

#[test]
fn a_missing_input_file_is_exit_2() {
    let rules = Temp::new("rules.cep", RULES);
    let missing = Temp::path_only("missing.ndjson");
    let out = Temp::path_only("out.ndjson");
    let o = cep(&[
        "run",
        rules.s(),
        "--input",
        missing.s(),
        "--output",
        out.s(),
    ]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "error: cannot read `{}`: no such file",
            missing.s()
        )),
        "{err}"
    );
    assert!(
        !out.path().exists(),
        "nothing is written when the input is missing"
    );
}

#[test]
fn unwritable_outputs_are_exit_2() {
    let rules = Temp::new("rules.cep", RULES);
    let input = Temp::new("in.ndjson", waves_input());
    let dir = std::env::temp_dir();
    let dir = dir.to_str().unwrap();
    let o = cep(&["run", rules.s(), "--input", input.s(), "--output", dir]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("error: cannot write"), "{}", stderr(&o));
    let o = cep(&["run", rules.s(), "--input", input.s(), "--dead-letter", dir]);
    assert_eq!(code(&o), 2);
    // An input that cannot be read as a file.
    let o = cep(&["run", rules.s(), "--input", dir]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("error: cannot read"), "{}", stderr(&o));
}

#[test]
fn rules_with_errors_are_exit_1_and_a_bad_ir_is_exit_2() {
    let broken = Temp::new("broken.cep", "event T { x: nope }\n");
    let input = Temp::new("in.ndjson", "");
    let o = cep(&["run", broken.s(), "--input", input.s()]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("CEP016"), "{}", stderr(&o));
    let bad_ir = Temp::new("bad.json", r#"{"format_version": 99}"#);
    let o = cep(&["run", bad_ir.s(), "--input", input.s()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("cannot load"), "{}", stderr(&o));
    let missing = Temp::path_only("missing.cep");
    let o = cep(&["run", missing.s(), "--input", input.s()]);
    assert_eq!(code(&o), 2);
}

#[test]
fn an_empty_input_finishes_cleanly() {
    let rules = Temp::new("rules.cep", RULES);
    let o = cep_stdin(&["run", rules.s()], Some(b""));
    assert_eq!(code(&o), 0);
    assert_eq!(stdout(&o), "");
    assert_eq!(summary(&stderr(&o)), (0, 0, 0));
}

#[test]
fn shedding_runs_is_reported_in_the_summary() {
    // Every A waits for a B that never comes; the cap keeps three runs.
    let rules = Temp::new(
        "shed.cep",
        "event A { k: str, at: time }\nevent B { k: str, at: time }\n\npattern Wait within 1h {\n    a: A\n    then b: B\n    emit { k: a.k }\n}\n",
    );
    let lines: String = (0..10)
        .map(|i| format!("{{\"type\":\"A\",\"k\":\"x\",\"at\":{i}}}\n"))
        .collect();
    let input = Temp::new("shed.ndjson", lines);
    let o = cep(&["run", rules.s(), "--input", input.s(), "--max-runs", "3"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("10 events in, 0 complex events out"),
        "{}",
        stderr(&o)
    );
    // The pattern has a `within`: the hint does not ask for one.
    assert!(
        stderr(&o).contains(
            "pattern `Wait` shed 7 runs to stay under --max-runs 3 (the oldest first); \
             its window keeps more runs alive than that: raise --max-runs or shorten the `within`"
        ),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("add one"), "{}", stderr(&o));
}

/// A pattern without a `within` that sheds runs is told to add one; the
/// hint names the pattern that shed, and only that one.
#[test]
fn shedding_without_a_window_asks_for_one() {
    let rules = Temp::new(
        "shed2.cep",
        "event A { k: str, at: time }\nevent B { k: str, at: time }\n\npattern Open {\n    a: A\n    then b: B\n    emit { k: a.k }\n}\n\npattern Quiet within 1s {\n    b: B\n    next c: B\n    emit { k: b.k }\n}\n",
    );
    let lines: String = (0..10)
        .map(|i| format!("{{\"type\":\"A\",\"k\":\"x\",\"at\":{i}}}\n"))
        .collect();
    let input = Temp::new("shed2.ndjson", lines);
    let o = cep(&["run", rules.s(), "--input", input.s(), "--max-runs", "3"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "pattern `Open` shed 7 runs to stay under --max-runs 3 (the oldest first); \
             it has no `within`, so nothing else bounds its runs: add one"
        ),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("`Quiet` shed"), "{}", stderr(&o));
}

/// With `--max-delay`, an event can be late before anything was processed
/// (the first event is still held): the message says how far behind the
/// latest event it is, and does not claim something was processed.
#[test]
fn a_late_event_before_anything_was_processed_says_why() {
    let rules = Temp::new("late0.cep", RULES);
    let input = Temp::new(
        "late0.ndjson",
        format!(
            "{{\"type\":\"Temperature\",\"sensor\":\"s\",\"celsius\":31,\"at\":{}}}\n\
             {{\"type\":\"Temperature\",\"sensor\":\"s\",\"celsius\":32,\"at\":{}}}\n",
            T0 + 10_000,
            T0
        ),
    );
    let dead = Temp::path_only("late0.dead");
    let o = cep(&[
        "run",
        rules.s(),
        "--input",
        input.s(),
        "--max-delay",
        "5s",
        "--dead-letter",
        dead.s(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let letter: serde_json::Value = serde_json::from_str(dead.read().trim()).unwrap();
    assert_eq!(letter["reason"], "late");
    assert_eq!(
        letter["detail"],
        "its time 2026-11-22T10:00:00Z is more than the allowed delay of 5000 ms (`--max-delay`) \
         behind the latest event time 2026-11-22T10:00:10Z"
    );
}

#[test]
fn the_marked_time_field_orders_events_and_the_window_counts_from_it() {
    let rules = Temp::new(
        "ship.cep",
        r#"
event Ship { id: str, at: time @timestamp, promised: time }

pattern Twice partition by id within 10s {
    a: Ship
    next b: Ship
    emit { id: a.id, promised: b.promised }
}
"#,
    );
    // `at` 5 s apart (inside the window), `promised` a day apart; then a
    // pair 20 s apart by `at` (outside it).
    let day = 86_400_000;
    let input = Temp::new(
        "ship.ndjson",
        format!(
            concat!(
                r#"{{"type":"Ship","id":"s1","at":{},"promised":{}}}"#,
                "\n",
                r#"{{"type":"Ship","id":"s1","at":{},"promised":{}}}"#,
                "\n",
                r#"{{"type":"Ship","id":"s2","at":{},"promised":{}}}"#,
                "\n",
                r#"{{"type":"Ship","id":"s2","at":{},"promised":{}}}"#,
                "\n"
            ),
            T0,
            T0 + day,
            T0 + 5_000,
            T0 - day,
            T0 + 6_000,
            T0,
            T0 + 26_000,
            T0,
        ),
    );
    let out = run_ok(&["run", rules.s(), "--input", input.s()]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["id"], "s1");
    // The complex event's time is the completing event's `at`.
    assert_eq!(lines[0]["@cep"]["time"], T0 + 5_000, "{out}");
    // `--time-field` is for a type without an event time.
    let o = cep(&[
        "run",
        rules.s(),
        "--input",
        input.s(),
        "--time-field",
        "Ship.promised",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("`Ship` has its event time already, its `time` field `at`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn time_field_names_the_event_time_of_a_type_without_one() {
    let rules = Temp::new(
        "reading.cep",
        r#"
event Reading { sensor: str, ts: int, v: float }

pattern Jump partition by sensor within 1s {
    a: Reading
    next b: Reading where v > a.v + 10.0
    emit { sensor: a.sensor, at: b.ts }
}
"#,
    );
    let line = |v: f64, ts: i64| format!(r#"{{"type":"Reading","sensor":"r","ts":{ts},"v":{v}}}"#);
    let input = Temp::new(
        "reading.ndjson",
        [
            line(1.0, T0),
            line(20.0, T0 + 500),
            line(1.0, T0 + 10_000),
            line(30.0, T0 + 12_000),
        ]
        .join("\n")
            + "\n",
    );
    // By `ts`: the first pair is 500 ms apart (a match), the second 2 s
    // (past the window).
    let out = run_ok(&[
        "run",
        rules.s(),
        "--input",
        input.s(),
        "--time-field",
        "Reading.ts",
    ]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["@cep"]["time"], T0 + 500);
    // Without it, every event takes the latest time seen (none here): all
    // at one instant, so both pairs match.
    let out = run_ok(&["run", rules.s(), "--input", input.s()]);
    assert_eq!(json_lines(&out).len(), 2, "{out}");
    // What it cannot honour is refused, naming the problem.
    for (arg, says) in [
        (
            "Nope.ts",
            "no event type `Nope` is declared (the declared ones: Reading)",
        ),
        (
            "Reading.t",
            "`Reading` has no field `t` (its fields: sensor, ts, v)",
        ),
        ("Reading.v", "`v` is a `float`"),
        ("Jump.at", "no event type `Jump` is declared"),
    ] {
        let o = cep(&["run", rules.s(), "--input", input.s(), "--time-field", arg]);
        assert_eq!(code(&o), 2, "{arg}");
        assert!(stderr(&o).contains(says), "{arg}: {}", stderr(&o));
    }
    let o = cep(&["run", rules.s(), "--input", input.s(), "--time-field", "ts"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("TYPE.FIELD"), "{}", stderr(&o));
}

#[test]
fn private_patterns_feed_others_and_patterns_chooses_what_is_written() {
    let rules = Temp::new(
        "private.cep",
        r#"
event Temperature { sensor: str, celsius: float, at: time }

private pattern Hot partition by sensor {
    t: Temperature where celsius > 30.0
    emit { sensor: t.sensor, c: t.celsius }
}

pattern TwoHot partition by sensor within 1m {
    a: Hot
    then b: Hot
    emit { sensor: a.sensor, first: a.c, second: b.c }
}

pattern Cold partition by sensor {
    t: Temperature where celsius < 0.0
    emit { sensor: t.sensor }
}
"#,
    );
    let input = Temp::new(
        "private.ndjson",
        [
            temp_line("s1", 31.0, T0),
            temp_line("s1", -1.0, T0 + 1_000),
            temp_line("s1", 32.0, T0 + 2_000),
        ]
        .join("\n")
            + "\n",
    );
    let o = cep(&["run", rules.s(), "--input", input.s()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let types: Vec<String> = json_lines(&stdout(&o))
        .iter()
        .map(|v| v["type"].as_str().unwrap().to_string())
        .collect();
    // `Hot` matched twice and fed `TwoHot`, but is not written.
    assert_eq!(types, ["Cold", "TwoHot"], "{}", stdout(&o));
    assert!(
        stderr(&o).contains(
            "4 complex events out (2 not written: private patterns or not in --patterns)"
        ),
        "{}",
        stderr(&o)
    );
    // `cep explain` says so.
    let explained = run_ok(&["explain", rules.s()]);
    assert!(
        explained.contains("private pattern Hot (emits Hot, not written)"),
        "{explained}"
    );
    // Only `TwoHot`: `Cold` still runs, and is not written either.
    let out = run_ok(&[
        "run",
        rules.s(),
        "--input",
        input.s(),
        "--patterns",
        "TwoHot",
    ]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["type"], "TwoHot");
    assert_eq!(lines[0]["second"], 32.0);
    for (arg, says) in [
        (
            "Warm",
            "--patterns: no pattern `Warm` in these rules (its patterns: Hot, TwoHot, Cold)",
        ),
        ("Cold,Hot", "--patterns: `Hot` is a private pattern"),
    ] {
        let o = cep(&["run", rules.s(), "--input", input.s(), "--patterns", arg]);
        assert_eq!(code(&o), 2, "{arg}");
        assert!(stderr(&o).contains(says), "{arg}: {}", stderr(&o));
    }
}

#[test]
fn idle_lets_a_quiet_live_stream_end_an_absence() {
    use std::io::{BufRead, BufReader};
    let rules = Temp::new(
        "idle.cep",
        r#"
event Door { room: str, at: time }
event Alarm { room: str, at: time }

pattern Unanswered partition by room {
    d: Door
    not Alarm within 500ms
    emit { room: d.room }
}
"#,
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_cep"))
        .args(["run", rules.s(), "--idle", "200ms"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cep");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, r#"{{"type":"Door","room":"r1","at":{T0}}}"#).expect("write");
    stdin.flush().expect("flush");
    // The input stays open: only the wall clock can end the absence.
    let (tx, rx) = std::sync::mpsc::channel();
    let out_pipe = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for l in BufReader::new(out_pipe).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the absence ended while the input was open");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["type"], "Unanswered");
    assert_eq!(v["@cep"]["time"], T0 + 500);
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without --idle the same input gives nothing until it ends.
    let o = cep_stdin(
        &["run", rules.s()],
        Some(format!(r#"{{"type":"Door","room":"r1","at":{T0}}}"#).as_bytes()),
    );
    assert_eq!(json_lines(&stdout(&o)).len(), 1, "at the end of the input");
}

#[test]
fn explain_shows_a_look_back_absence() {
    let rules = Temp::new(
        "lookback.cep",
        "event Login { user: str, at: time }\npattern F partition by user {\n    not Login where user != \"x\" within 24h\n    l: Login\n    emit { user: l.user }\n}\n",
    );
    let text = run_ok(&["explain", rules.s()]);
    assert!(
        text.contains("look back: not Login where user != \"x\" within 24h before the first event"),
        "{text}"
    );
}
