//! End-to-end tests of the `cep` binary: exit codes, diagnostics as people
//! and tools see them, the IR file, `explain` and `fmt`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const SKETCH: &str = "rules/language-sketch.cep";

/// The example from the language sketch with a misspelt field.
const UNKNOWN_FIELD: &str =
    "event T { celsius: float }\npattern P { a: T where celsuis > 3\n emit { x: a.celsius } }\n";

fn cep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cep"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .output()
        .expect("run cep")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

/// A file in the temp directory that is removed when dropped.
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str, text: &str) -> Temp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("cep-cli-{}-{n}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("write temp file");
        Temp(path)
    }

    /// A path in the temp directory with nothing there yet.
    fn path_only(name: &str) -> Temp {
        let t = Temp::new(name, "");
        let _ = std::fs::remove_file(&t.0);
        t
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn s(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }

    fn read(&self) -> String {
        std::fs::read_to_string(&self.0).expect("read temp file")
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn sketch_patterns() -> [&'static str; 4] {
    ["Heatwave", "Rising", "NodeLost", "Crisis"]
}

// ---- check ---------------------------------------------------------------------

#[test]
fn check_accepts_the_language_sketch() {
    let o = cep(&["check", SKETCH]);
    assert_eq!(code(&o), 0, "stderr:\n{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("ok: 1 file, "), "{err}");
    assert!(
        err.contains(" patterns, ") || err.contains(" pattern, "),
        "{err}"
    );
    assert!(stdout(&o).is_empty());
}

#[test]
fn check_reports_an_unknown_field_for_people() {
    let f = Temp::new("unknown-field.cep", UNKNOWN_FIELD);
    let o = cep(&["check", f.s()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("error[CEP004]"), "{err}");
    // file:line:column of `celsuis`
    assert!(err.contains(&format!("{}:2:24", f.s())), "{err}");
    assert!(err.contains("did you mean"), "{err}");
    assert!(err.contains("celsius"), "{err}");
    assert!(err.contains("error: 1 error"), "{err}");
    // Not a terminal: plain text.
    assert!(!err.contains('\x1b'), "{err}");
    assert!(!err.contains("ok:"), "{err}");
}

#[test]
fn check_reports_an_unknown_field_for_tools() {
    let f = Temp::new("unknown-field-json.cep", UNKNOWN_FIELD);
    let o = cep(&["check", "--error-format", "json", f.s()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON on stdout");
    assert!(v["errors"].as_u64().unwrap_or(0) >= 1, "{v:#}");
    let diags = v["diagnostics"].as_array().expect("diagnostics array");
    let d = diags
        .iter()
        .find(|d| d["code"] == "CEP004")
        .unwrap_or_else(|| panic!("no CEP004 in {v:#}"));
    assert_eq!(d["severity"], "error");
    assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()));
    let label = d["labels"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["primary"] == true))
        .unwrap_or_else(|| panic!("no primary label in {d:#}"));
    let at = UNKNOWN_FIELD.find("celsuis").expect("misspelling") as u64;
    assert_eq!(label["file"], f.s());
    assert_eq!(label["start"], at, "{label:#}");
    assert!(label["end"].as_u64().unwrap_or(0) > at, "{label:#}");
    assert_eq!(label["start_line"], 2);
    assert_eq!(label["start_column"], 24);
    assert!(label["end_line"].as_u64().is_some());
    assert!(label["end_column"].as_u64().is_some());
    let help = d["help"].as_str().unwrap_or_default();
    assert!(help.contains("celsius"), "{d:#}");
}

#[test]
fn json_output_is_valid_even_without_diagnostics() {
    let o = cep(&["check", "--error-format", "json", SKETCH]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    assert_eq!(v["errors"], 0);
    assert!(v["diagnostics"].is_array());
}

#[test]
fn warnings_fail_only_when_denied() {
    // `b` is bound and never read (CEP024).
    let text = "event T { x: int }\npattern P within 1m { a: T\n then b: T\n emit { x: a.x } }\n";
    let f = Temp::new("warning.cep", text);
    let o = cep(&["check", f.s()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 0, "{err}");
    assert!(err.contains("warning["), "{err}");
    assert!(err.contains("ok: 1 file"), "{err}");

    let o = cep(&["check", "--deny-warnings", f.s()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("warning["), "{err}");
    assert!(!err.contains("ok:"), "{err}");

    let o = cep(&["check", "--deny-warnings", "--error-format", "json", f.s()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("valid JSON");
    assert_eq!(v["errors"], 0);
    assert!(v["warnings"].as_u64().unwrap_or(0) >= 1, "{v:#}");
    assert_eq!(v["diagnostics"][0]["severity"], "warning");
}

#[test]
fn syntax_errors_exit_1() {
    let f = Temp::new("syntax.cep", "event T { x: int\n");
    let o = cep(&["check", f.s()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("error[CEP001]"), "{err}");
    assert!(err.contains(f.s()), "{err}");
}

#[test]
fn a_missing_file_is_an_io_error() {
    let missing = Temp::path_only("missing.cep");
    for cmd in ["check", "compile", "explain", "fmt"] {
        let o = cep(&[cmd, missing.s()]);
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "{cmd}: {err}");
        assert!(err.contains(missing.s()), "{cmd}: {err}");
        assert!(err.contains("cannot read"), "{cmd}: {err}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let o = cep(&["frobnicate"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = cep(&[]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = cep(&["check"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = cep(&["check", "--error-format", "xml", SKETCH]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = cep(&["--help"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("check"));
}

// ---- compile -------------------------------------------------------------------

#[test]
fn compile_writes_a_versioned_ir() {
    let out = Temp::path_only("sketch.json");
    let o = cep(&["compile", SKETCH, "-o", out.s()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&out.read()).expect("IR is JSON");
    assert_eq!(v["format_version"], cep_ir::FORMAT_VERSION);
    let p = cep_ir::Program::from_json(&out.read()).expect("IR loads");
    let names: Vec<&str> = p.patterns.iter().map(|p| p.name.as_str()).collect();
    for n in sketch_patterns() {
        assert!(names.contains(&n), "{names:?}");
    }

    // `-o -`: the IR on stdout.
    let o = cep(&["compile", SKETCH, "-o", "-"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(cep_ir::Program::from_json(&stdout(&o)).is_ok());
}

#[test]
fn compile_writes_nothing_when_there_are_errors() {
    let f = Temp::new("bad-compile.cep", UNKNOWN_FIELD);
    let out = Temp::path_only("bad.json");
    let o = cep(&["compile", f.s(), "-o", out.s()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(!out.path().exists());
}

// ---- explain -------------------------------------------------------------------

#[test]
fn explain_names_every_pattern() {
    let o = cep(&["explain", SKETCH]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("format version"), "{text}");
    for n in sketch_patterns() {
        assert!(
            text.contains(&format!("pattern {n}")),
            "{n} missing in:\n{text}"
        );
    }
}

#[test]
fn explain_one_pattern() {
    let o = cep(&["explain", SKETCH, "--pattern", "Rising"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("pattern Rising"), "{text}");
    assert!(!text.contains("pattern Heatwave"), "{text}");

    let o = cep(&["explain", SKETCH, "--pattern", "Nope"]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("Nope"), "{err}");
    for n in sketch_patterns() {
        assert!(err.contains(n), "{n} not listed in: {err}");
    }
}

#[test]
fn explain_reads_a_compiled_ir() {
    let ir = Temp::path_only("explain-ir.json");
    let o = cep(&["compile", SKETCH, "-o", ir.s()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let from_source = stdout(&cep(&["explain", SKETCH]));
    let o = cep(&["explain", ir.s()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), from_source);
}

#[test]
fn explain_refuses_an_ir_of_another_version() {
    let ir = Temp::path_only("old-ir.json");
    let o = cep(&["compile", SKETCH, "-o", ir.s()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut v: serde_json::Value = serde_json::from_str(&ir.read()).expect("IR is JSON");
    v["format_version"] = serde_json::json!(999);
    std::fs::write(ir.path(), v.to_string()).expect("rewrite IR");
    let o = cep(&["explain", ir.s()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains(ir.s()), "{err}");
    assert!(err.contains("format version 999"), "{err}");
    assert!(err.contains("compile the rules again"), "{err}");
    assert!(stdout(&o).is_empty());

    let junk = Temp::new("junk.json", "{\"patterns\": []}");
    let o = cep(&["explain", junk.s()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("format_version"), "{err}");
}

#[test]
fn explain_dot_is_one_graphviz_graph() {
    let o = cep(&["explain", SKETCH, "--dot"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let dot = stdout(&o);
    assert!(dot.starts_with("digraph cep {"), "{dot}");
    assert_eq!(dot.matches("digraph").count(), 1, "{dot}");
    // A cluster per pattern, then one per process (the sketch has `Claim`).
    assert_eq!(
        dot.matches("subgraph cluster_").count(),
        sketch_patterns().len() + 1,
        "{dot}"
    );
    assert_eq!(dot.matches("subgraph cluster_process_").count(), 1, "{dot}");
    assert!(dot.contains("process Claim by claim_id"), "{dot}");
    assert!(dot.contains("doublecircle"), "{dot}");
    run_graphviz(&dot);

    let o = cep(&["explain", SKETCH, "--dot", "--pattern", "Heatwave"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let one = stdout(&o);
    assert_eq!(one.matches("subgraph cluster_").count(), 1, "{one}");
    run_graphviz(&one);
}

/// Renders with `dot -Tsvg`. Without Graphviz the check is skipped, except
/// on CI (`CI` set), where Graphviz is installed and its absence fails.
fn run_graphviz(dot: &str) {
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
            assert!(!ci, "Graphviz `dot` is not installed, and CI is set");
            eprintln!("note: Graphviz `dot` is not installed; not rendering the graph");
            return;
        }
        Err(e) => panic!("cannot run dot: {e}"),
    };
    child
        .stdin
        .take()
        .expect("dot stdin")
        .write_all(dot.as_bytes())
        .expect("write to dot");
    let o = child.wait_with_output().expect("dot finishes");
    assert!(
        o.status.success(),
        "dot -Tsvg failed: {}\n{dot}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("<svg"));
}

// ---- fmt -----------------------------------------------------------------------

#[test]
fn fmt_check_accepts_the_sketch() {
    let o = cep(&["fmt", "--check", SKETCH]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).is_empty());
}

#[test]
fn fmt_check_lists_unformatted_files_and_fmt_fixes_them() {
    let messy = "event   T {celsius:float,\n   at : time}\n\n\n\npattern P{a: T where celsius>3    emit{x:a.celsius}}\n";
    let f = Temp::new("messy.cep", messy);
    let o = cep(&["fmt", "--check", f.s()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stdout(&o).contains(f.s()), "{}", stdout(&o));
    assert_eq!(f.read(), messy, "--check must not change the file");

    let o = cep(&["fmt", f.s()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_ne!(f.read(), messy);
    let o = cep(&["fmt", "--check", f.s()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn fmt_reports_syntax_errors() {
    let text = "event T { x: int\n";
    let f = Temp::new("fmt-syntax.cep", text);
    let o = cep(&["fmt", f.s()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("CEP001"), "{err}");
    assert!(err.contains(f.s()), "{err}");
    assert_eq!(f.read(), text);
}
