//! `cep runs`: the runs a step store holds, and the step runs of one, as a
//! table for people or JSON for tools. It only reads the store.

use crate::{fail, out, show_path, EXIT_OK, EXIT_USAGE};
use cep_exec::{Reader, RunRow, StepRow};
use std::fmt::Write as _;
use std::path::Path;

/// Runs the command and gives the exit code.
pub fn runs(store: &Path, run_id: Option<&str>, json: bool) -> u8 {
    let reader = match Reader::open(store) {
        Ok(r) => r,
        Err(e) => {
            fail(&e.0);
            return EXIT_USAGE;
        }
    };
    let result = match run_id {
        None => reader
            .runs()
            .map(|r| if json { runs_json(&r) } else { runs_table(&r) }),
        Some(id) => match reader.runs() {
            Ok(all) if !all.iter().any(|r| r.id == id) => {
                fail(&format!(
                    "store `{}` has no run `{id}` (`cep runs --store {}` lists them)",
                    show_path(store),
                    show_path(store)
                ));
                return EXIT_USAGE;
            }
            Ok(_) => reader.step_runs(id).map(|s| {
                if json {
                    steps_json(&s)
                } else {
                    steps_table(&s)
                }
            }),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(text) => {
            out(&text);
            EXIT_OK
        }
        Err(e) => {
            fail(&e.0);
            EXIT_USAGE
        }
    }
}

fn counts(r: &RunRow) -> String {
    if r.statuses.is_empty() {
        return "no step runs".into();
    }
    r.statuses
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn time(ms: Option<i64>) -> String {
    ms.map_or("-".into(), cep_runtime::ingest::format_rfc3339)
}

fn runs_table(runs: &[RunRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<28} {:<24} {:<24} {:>6} {:>10} {:<20} step runs",
        "run", "started", "ended", "lines", "recoveries", "outcome"
    );
    for r in runs {
        let _ = writeln!(
            s,
            "{:<28} {:<24} {:<24} {:>6} {:>10} {:<20} {}",
            r.id,
            time(Some(r.started_ms)),
            time(r.ended_ms),
            r.input_lines,
            r.recoveries,
            r.outcome.as_deref().unwrap_or("(not ended)"),
            counts(r)
        );
    }
    s
}

fn runs_json(runs: &[RunRow]) -> String {
    let v: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| {
            serde_json::json!({
                "run": r.id,
                "program_hash": r.program_hash,
                "input": r.input,
                "input_lines": r.input_lines,
                "recoveries": r.recoveries,
                "started_ms": r.started_ms,
                "ended_ms": r.ended_ms,
                "outcome": r.outcome,
                "step_runs": r.statuses.iter().map(|(s, n)| (s.clone(), serde_json::Value::from(*n))).collect::<serde_json::Map<_, _>>(),
            })
        })
        .collect();
    format!("{}\n", serde_json::Value::Array(v))
}

fn steps_table(steps: &[StepRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<24} {:<20} {:<8} {:>7} {:<24} detail",
        "sequence", "step", "status", "attempt", "due"
    );
    for r in steps {
        let _ = writeln!(
            s,
            "{:<24} {:<20} {:<8} {:>7} {:<24} {}",
            r.sequence,
            r.step,
            r.status,
            r.attempt,
            time(r.due_ms),
            r.detail.as_deref().unwrap_or("")
        );
    }
    s
}

fn steps_json(steps: &[StepRow]) -> String {
    let v: Vec<serde_json::Value> = steps
        .iter()
        .map(|r| {
            serde_json::json!({
                "sequence": r.sequence,
                "step": r.step,
                "status": r.status,
                "attempt": r.attempt,
                "due_ms": r.due_ms,
                "updated_ms": r.updated_ms,
                "detail": r.detail,
            })
        })
        .collect();
    format!("{}\n", serde_json::Value::Array(v))
}
