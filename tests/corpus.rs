//! The corpus: every rule file in `rules/` and `tests/corpus/`.
//!
//! Each file must compile without errors (and without warnings, unless the
//! file says `// allow-warning CEPnnn` for each code it expects), must be
//! in canonical layout (`cep fmt` leaves it unchanged), and has three
//! snapshots under `tests/snapshots/corpus/`: the syntax tree (with spans),
//! the IR as JSON, and `explain`'s text. Snapshot names come from the file
//! name, e.g. `corpus-payments-ir` for `tests/corpus/payments.cep`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `.cep` files of a directory, as sorted paths relative to the repo.
fn cep_files(dir: &str) -> Vec<String> {
    let abs = root().join(dir);
    let mut out: Vec<String> = std::fs::read_dir(&abs)
        .unwrap_or_else(|e| panic!("read {}: {e}", abs.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "cep"))
        .map(|p| format!("{dir}/{}", p.file_name().expect("name").to_string_lossy()))
        .collect();
    out.sort();
    out
}

/// Warning codes a file allows with `// allow-warning CEPnnn`.
fn allowed_warnings(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once("// allow-warning "))
        .flat_map(|(_, rest)| {
            rest.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Checks one rule file and snapshots its tree, IR and explanation.
/// Returns a report of what is wrong, if anything.
fn check(path: &str) -> Option<String> {
    let text =
        std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let mut report = String::new();

    let mut sources = cep_grammar::SourceMap::new();
    sources.add(path, text.as_str());
    let c = cep_compiler::compile(sources);
    let allowed = allowed_warnings(&text);
    let file = c.sources.iter().next().expect("one file").1;
    for d in &c.diagnostics {
        if !d.is_error() && allowed.iter().any(|a| a == d.code.as_str()) {
            continue;
        }
        let lc = file.line_col(d.span().start as usize);
        let _ = writeln!(
            report,
            "  {}:{}: {:?} {}: {}",
            lc.line, lc.column, d.severity, d.code, d.message
        );
    }

    match cep_grammar::format_source(&text) {
        Ok(formatted) if formatted == text => {}
        Ok(formatted) => {
            let first = text
                .lines()
                .zip(formatted.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| text.lines().count().min(formatted.lines().count()));
            let _ = writeln!(
                report,
                "  not in canonical layout (`cep fmt` changes it), first at line {}:\n    was: {:?}\n    fmt: {:?}",
                first + 1,
                text.lines().nth(first).unwrap_or(""),
                formatted.lines().nth(first).unwrap_or("")
            );
        }
        Err(_) => {} // the syntax errors are reported above
    }

    let stem = Path::new(path)
        .file_stem()
        .expect("stem")
        .to_string_lossy()
        .into_owned();
    let prefix = if path.starts_with("rules/") {
        "rules"
    } else {
        "corpus"
    };
    let name = format!("{prefix}-{stem}");
    let tree = format!("{:#?}", c.files.first().map(|f| &f.decls));
    let (ir, explain) = match &c.program {
        Some(p) => (p.to_json(), cep_ir::explain::text(p, None)),
        None => (
            "(no program: the file has errors)\n".to_string(),
            String::new(),
        ),
    };
    for (kind, content) in [("ast", &tree), ("ir", &ir), ("explain", &explain)] {
        let snap_name = format!("{name}-{kind}");
        let snap = std::panic::catch_unwind(|| {
            let mut settings = insta::Settings::clone_current();
            settings.set_snapshot_path("snapshots/corpus");
            settings.set_prepend_module_to_snapshot(false);
            settings.set_input_file(path);
            settings.set_omit_expression(true);
            settings.bind(|| insta::assert_snapshot!(snap_name.as_str(), content.as_str()));
        });
        if snap.is_err() {
            let _ = writeln!(
                report,
                "  differs from (or is missing in) tests/snapshots/corpus/{snap_name}.snap"
            );
        }
    }

    (!report.is_empty()).then(|| format!("{path}:\n{report}"))
}

#[test]
fn corpus() {
    let mut files = cep_files("rules");
    files.extend(cep_files("tests/corpus"));
    assert!(files.len() >= 9, "only {} corpus files", files.len());
    let failures: Vec<String> = files.iter().filter_map(|f| check(f)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} corpus files have problems:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
