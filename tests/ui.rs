//! UI tests: one `.cep` file per diagnostic case, under `tests/ui/`.
//!
//! Each file states the diagnostics it expects in trailing comments on the
//! line where the primary span starts:
//!
//! ```text
//! a: Temperature where celsuis > 30   //~ ERROR CEP004
//! b: Temperature where x > 1          //~ ERROR CEP004 WARNING CEP024
//! post "http://unterminated
//! //~^ ERROR CEP001                    (the line above)
//! ```
//!
//! Every `^` moves the target one line up: for a line that cannot carry
//! the comment itself (an unterminated string, a line that would change
//! meaning). An error at the very end of a file counts on its last line,
//! as the rendered report shows it, so it is expected by a `//~` comment
//! on that line (see `syntax_eof.cep`). Files named `ok_*.cep` must
//! compile with no diagnostic at all; any other file must expect at least
//! one. The runner compiles each file on its own, compares the multiset of
//! (line, severity, code) with the expectations, snapshots the rendered
//! human output (no colour) under `tests/snapshots/ui/`, and fails once at
//! the end with a report of every file that disagrees.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cep_grammar::{Code, Diagnostic, Severity};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One expected or actual diagnostic, as the comparison sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    line: usize,
    severity: &'static str,
    code: String,
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {} {}", self.line, self.severity, self.code)
    }
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `tests/ui/*.cep`, sorted, as paths relative to the repository.
fn ui_files() -> Vec<String> {
    let dir = root().join("tests/ui");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "cep"))
        .map(|p| {
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            format!("tests/ui/{name}")
        })
        .collect();
    out.sort();
    out
}

/// The `//~` expectations of a file.
fn expectations(text: &str) -> Result<Vec<Key>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let Some(at) = line.find("//~") else { continue };
        let rest = &line[at + 3..];
        let carets = rest.chars().take_while(|c| *c == '^').count();
        let target = line_no
            .checked_sub(carets)
            .filter(|l| *l >= 1)
            .ok_or_else(|| {
                format!(
                    "line {line_no}: `//~{}` points above the file",
                    "^".repeat(carets)
                )
            })?;
        let words: Vec<&str> = rest[carets..].split_whitespace().collect();
        if words.is_empty() || words.len() % 2 == 1 {
            return Err(format!(
                "line {line_no}: expected `//~ ERROR CEPnnn` or `//~ WARNING CEPnnn` pairs, found `{}`",
                line[at..].trim()
            ));
        }
        for pair in words.chunks(2) {
            let severity = match pair[0] {
                "ERROR" => "ERROR",
                "WARNING" => "WARNING",
                other => {
                    return Err(format!(
                        "line {line_no}: unknown severity `{other}` (ERROR or WARNING)"
                    ))
                }
            };
            let code = pair[1];
            let Some(c) = Code::ALL.iter().find(|c| c.as_str() == code) else {
                return Err(format!("line {line_no}: unknown code `{code}`"));
            };
            if severity_word(c.severity()) != severity {
                return Err(format!(
                    "line {line_no}: {code} is always {}, not {severity}",
                    severity_word(c.severity())
                ));
            }
            out.push(Key {
                line: target,
                severity,
                code: code.to_string(),
            });
        }
    }
    out.sort();
    Ok(out)
}

/// The line a diagnostic is expected on. A span that starts at the very end
/// of a text ending with a newline (an error "at the end of the file")
/// counts on the last line, where the rendered report shows it.
fn line_of(text: &str, offset: usize, line: usize) -> usize {
    if offset >= text.len() && text.ends_with('\n') && line > 1 {
        line - 1
    } else {
        line
    }
}

fn describe(d: &Diagnostic, line: usize, column: usize) -> String {
    let labels: Vec<String> = d
        .labels
        .iter()
        .map(|l| format!("{}{:?}", if l.primary { "*" } else { "" }, l.message))
        .collect();
    let mut s = format!(
        "{line}:{column} {} {}: {} [labels: {}]",
        severity_word(d.severity),
        d.code,
        d.message,
        labels.join(", ")
    );
    if let Some(h) = &d.help {
        let _ = write!(s, " [help: {h}]");
    }
    s
}

/// Compiles one UI file, compares its diagnostics with its `//~`
/// expectations and snapshots its rendered output. Returns a report when
/// the two disagree (or the snapshot does).
fn check(path: &str) -> Option<String> {
    let text =
        std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let mut report = String::new();

    let expected = match expectations(&text) {
        Ok(e) => e,
        Err(msg) => {
            let _ = writeln!(report, "  bad expectation: {msg}");
            Vec::new()
        }
    };
    let stem = Path::new(path)
        .file_stem()
        .expect("stem")
        .to_string_lossy()
        .into_owned();
    if stem.starts_with("ok_") && !expected.is_empty() {
        let _ = writeln!(report, "  an `ok_` file must not expect diagnostics");
    }
    if !stem.starts_with("ok_") && expected.is_empty() && report.is_empty() {
        let _ = writeln!(
            report,
            "  expects no diagnostic: add `//~` comments or name it `ok_*.cep`"
        );
    }

    let mut sources = cep_grammar::SourceMap::new();
    sources.add(path, text.as_str());
    let c = cep_compiler::compile(sources);
    let file = c.sources.iter().next().expect("one file").1;
    let mut actual: Vec<(Key, String)> = c
        .diagnostics
        .iter()
        .map(|d| {
            let lc = file.line_col(d.span().start as usize);
            let line = line_of(&text, d.span().start as usize, lc.line);
            let key = Key {
                line,
                severity: severity_word(d.severity),
                code: d.code.as_str().to_string(),
            };
            (key, describe(d, lc.line, lc.column))
        })
        .collect();
    actual.sort();
    let actual_keys: Vec<Key> = actual.iter().map(|(k, _)| k.clone()).collect();

    if actual_keys != expected {
        let missing = multiset_minus(&expected, &actual_keys);
        let unexpected = multiset_minus(&actual_keys, &expected);
        for k in &missing {
            let _ = writeln!(report, "  expected but not reported: {k}");
        }
        for k in &unexpected {
            let _ = writeln!(report, "  reported but not expected: {k}");
        }
        let _ = writeln!(report, "  all diagnostics:");
        if actual.is_empty() {
            let _ = writeln!(report, "    (none)");
        }
        for (_, msg) in &actual {
            let _ = writeln!(report, "    {msg}");
        }
    }

    // The rendered output, as `cep check` prints it without colour.
    let rendered = cep::render::human(&c.sources, &c.diagnostics, false);
    let snap = std::panic::catch_unwind(|| {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("snapshots/ui");
        settings.set_prepend_module_to_snapshot(false);
        settings.set_input_file(path);
        settings.set_omit_expression(true);
        settings.bind(|| insta::assert_snapshot!(stem.as_str(), rendered));
    });
    if snap.is_err() {
        let _ = writeln!(
            report,
            "  the rendered output differs from (or is missing in) tests/snapshots/ui/{stem}.snap"
        );
    }

    (!report.is_empty()).then(|| format!("{path}:\n{report}"))
}

fn multiset_minus(a: &[Key], b: &[Key]) -> Vec<Key> {
    let mut rest: Vec<Key> = b.to_vec();
    let mut out = Vec::new();
    for k in a {
        match rest.iter().position(|x| x == k) {
            Some(i) => {
                rest.swap_remove(i);
            }
            None => out.push(k.clone()),
        }
    }
    out
}

#[test]
fn ui() {
    let files = ui_files();
    assert!(files.len() >= 30, "only {} files in tests/ui", files.len());
    let mut failures = Vec::new();
    for f in &files {
        if let Some(r) = check(f) {
            failures.push(r);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} UI files disagree with their expectations:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// Every diagnostic code has at least one UI case that expects it.
#[test]
fn every_code_has_a_ui_case() {
    let mut seen = BTreeSet::new();
    for f in ui_files() {
        let text = std::fs::read_to_string(root().join(&f)).expect("read");
        for k in expectations(&text).unwrap_or_default() {
            seen.insert(k.code);
        }
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !seen.contains(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "no UI case expects {}",
        missing.join(", ")
    );
}
