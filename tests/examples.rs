//! The shipped examples: every rule file `rules/X.cep` comes with a story
//! of input events, `rules/X.events.ndjson`, and the complex events it
//! must give, `rules/X.expected.ndjson` (and the dead letters it must give,
//! `rules/X.dead.expected.ndjson`, when it has any: refused activity
//! events) (worked out by hand from the
//! rules' comments and docs/language.md, then checked against the engine).
//!
//! For each, `cep run --dry-run` (the built binary; steps simulated: every
//! attempt succeeds at once, delays pass at once) must write exactly the
//! expected bytes, reject no input line, and write the same bytes again on
//! a second run. A rule file with steps also ships the step log the dry
//! run must give, `rules/X.steps.expected.ndjson`, with times made
//! relative to the first line's. A rule file without its example files
//! fails the suite, so a new example cannot ship untested. (The steps of
//! `datacenter.cep` also run for real, in `tests/steps_run.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The stems of `rules/*.cep`, sorted (`datacenter`, ...).
fn rule_files() -> Vec<String> {
    let dir = root().join("rules");
    let mut stems: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "cep"))
        .map(|p| {
            p.file_stem()
                .expect("file stem")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    stems.sort();
    stems
}

/// `cep run --dry-run rules/X.cep --input rules/X.events.ndjson`: the
/// output bytes, the dead letters and the step log (times relative).
fn run(stem: &str, pass: u32) -> (Vec<u8>, String, String) {
    let rules = Path::new("rules").join(format!("{stem}.cep"));
    let input = Path::new("rules").join(format!("{stem}.events.ndjson"));
    let tmp = std::env::temp_dir();
    let out = tmp.join(format!(
        "cep-example-{}-{stem}-{pass}.out",
        std::process::id()
    ));
    let dead = tmp.join(format!(
        "cep-example-{}-{stem}-{pass}.dead",
        std::process::id()
    ));
    let steps = tmp.join(format!(
        "cep-example-{}-{stem}-{pass}.steps",
        std::process::id()
    ));
    let o = Command::new(env!("CARGO_BIN_EXE_cep"))
        .current_dir(root())
        .arg("run")
        .arg("--dry-run")
        .arg("--step-log")
        .arg(&steps)
        .arg(&rules)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&out)
        .arg("--dead-letter")
        .arg(&dead)
        .env("NO_COLOR", "1")
        .output()
        .expect("run cep");
    let bytes = std::fs::read(&out).unwrap_or_default();
    let dead_letters = std::fs::read_to_string(&dead).unwrap_or_default();
    let step_log = relative_times(&std::fs::read_to_string(&steps).unwrap_or_default());
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&dead);
    let _ = std::fs::remove_file(&steps);
    assert!(
        o.status.success(),
        "cep run {} failed ({:?}):\n{}",
        rules.display(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    (bytes, dead_letters, step_log)
}

/// A step log with `time` and `retry_at` made relative to the first
/// line's time (the dry run's simulated clock starts at the wall clock).
fn relative_times(log: &str) -> String {
    let mut t0 = None;
    let mut out = String::new();
    for l in log.lines() {
        let mut v: serde_json::Value = serde_json::from_str(l).expect("a step log line is JSON");
        let t = v["time"].as_i64().expect("a time");
        let t0 = *t0.get_or_insert(t);
        for k in ["time", "retry_at"] {
            if let Some(x) = v.get_mut(k) {
                *x = (x.as_i64().expect("a time") - t0).into();
            }
        }
        // Keep the log's own field order: rewrite only the numbers.
        let mut line = l.to_string();
        for k in ["time", "retry_at"] {
            if let (Some(old), Some(new)) = (field_value(l, k), v.get(k)) {
                line = line.replace(&format!("\"{k}\":{old}"), &format!("\"{k}\":{new}"));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The digits of a numeric member `"k":123` as written in `line`.
fn field_value(line: &str, k: &str) -> Option<String> {
    let at = line.find(&format!("\"{k}\":"))? + k.len() + 3;
    let digits: String = line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    Some(digits)
}

/// A readable account of where two outputs first differ.
fn first_difference(got: &str, want: &str) -> String {
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    for i in 0..g.len().max(w.len()) {
        let (a, b) = (g.get(i), w.get(i));
        if a != b {
            return format!(
                "first difference at output line {}:\n  expected: {}\n  got:      {}\n({} lines expected, {} got)",
                i + 1,
                b.unwrap_or(&"(nothing)"),
                a.unwrap_or(&"(nothing)"),
                w.len(),
                g.len()
            );
        }
    }
    "the lines are equal; the bytes differ (line endings or a final newline)".into()
}

#[test]
fn every_rule_file_has_an_example() {
    let stems = rule_files();
    assert!(!stems.is_empty(), "no rule files in rules/");
    let missing: Vec<String> = stems
        .iter()
        .flat_map(|s| [format!("{s}.events.ndjson"), format!("{s}.expected.ndjson")])
        .filter(|f| !root().join("rules").join(f).is_file())
        .map(|f| format!("rules/{f}"))
        .collect();
    assert!(
        missing.is_empty(),
        "every rules/X.cep needs an example story (rules/X.events.ndjson) and \
         its hand-checked output (rules/X.expected.ndjson); missing:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn examples_give_the_expected_output_every_time() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for stem in rule_files() {
        let input = root().join("rules").join(format!("{stem}.events.ndjson"));
        if !input.is_file() {
            // Reported by `every_rule_file_has_an_example`.
            continue;
        }
        ran += 1;
        let expected_path = root().join("rules").join(format!("{stem}.expected.ndjson"));
        let expected = std::fs::read(&expected_path).unwrap_or_default();
        let (first, dead, steps) = run(&stem, 1);
        let steps_path = root()
            .join("rules")
            .join(format!("{stem}.steps.expected.ndjson"));
        let has_steps = cep_compiler::compile_str(
            &format!("rules/{stem}.cep"),
            &std::fs::read_to_string(root().join("rules").join(format!("{stem}.cep")))
                .unwrap_or_default(),
        )
        .program
        .is_some_and(|p| !p.steps.is_empty());
        if has_steps {
            let want = std::fs::read_to_string(&steps_path).unwrap_or_default();
            if steps != want {
                failures.push(format!(
                    "rules/{stem}: the dry run's step log differs from rules/{stem}.steps.expected.ndjson \
                     (times relative to the first line's); {}",
                    first_difference(&steps, &want)
                ));
            }
        }
        // Dead letters are expected only where the example ships them
        // (`rules/X.dead.expected.ndjson`: activity events its processes
        // refuse).
        let want_dead = std::fs::read_to_string(
            root()
                .join("rules")
                .join(format!("{stem}.dead.expected.ndjson")),
        )
        .unwrap_or_default();
        if dead != want_dead {
            failures.push(format!(
                "rules/{stem}: the dead letters differ from rules/{stem}.dead.expected.ndjson \
                 (none expected when it does not exist); {}",
                first_difference(&dead, &want_dead)
            ));
        }
        if first != expected {
            failures.push(format!(
                "rules/{stem}: the output differs from rules/{stem}.expected.ndjson; {}\n\
                 (if the change is intended, work out the new output by hand, then \
                 `cargo run -- run --dry-run rules/{stem}.cep --input rules/{stem}.events.ndjson \
                 --output rules/{stem}.expected.ndjson` and compare line by line)",
                first_difference(
                    &String::from_utf8_lossy(&first),
                    &String::from_utf8_lossy(&expected)
                )
            ));
        }
        let (second, _, _) = run(&stem, 2);
        if second != first {
            failures.push(format!(
                "rules/{stem}: a second run gave different bytes; {}",
                first_difference(
                    &String::from_utf8_lossy(&second),
                    &String::from_utf8_lossy(&first)
                )
            ));
        }
    }
    assert!(ran > 0, "no example was run");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Each example's story makes every pattern of its rule file match at
/// least once, so no pattern ships without an end-to-end check.
#[test]
fn every_pattern_matches_in_its_example() {
    let mut failures = Vec::new();
    for stem in rule_files() {
        let path = format!("rules/{stem}.cep");
        let text = std::fs::read_to_string(root().join(&path)).expect("read rule file");
        let c = cep_compiler::compile_str(&path, &text);
        let Some(program) = c.program else {
            failures.push(format!("{path} does not compile"));
            continue;
        };
        let expected =
            std::fs::read_to_string(root().join("rules").join(format!("{stem}.expected.ndjson")))
                .unwrap_or_default();
        for p in &program.patterns {
            let tag = format!("\"pattern\":\"{}\"", p.name);
            if !expected.lines().any(|l| l.contains(&tag)) {
                failures.push(format!(
                    "pattern `{}` of {path} never matches in rules/{stem}.events.ndjson",
                    p.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
