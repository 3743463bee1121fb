//! `cep history LOG...`: stitches the history logs that `cep run
//! --history` wrote (on one or more runtime instances) into one
//! happens-before history, and names its faults
//! ([`cep_runtime::history::stitch`]).
//!
//! Output: every record in stamp order, then every fault (`fault: ...`);
//! with `--json`, the records as NDJSON, then the faults as NDJSON objects
//! with a `fault` tag. Exit code: 0 without faults, 1 with faults, 2 when a
//! log cannot be read or holds a line that is not a history record.

use crate::{err, fail, out, show_path, EXIT_FAIL, EXIT_OK, EXIT_USAGE};
use cep_runtime::history::{self, StateChange};
use std::collections::HashSet;
use std::path::PathBuf;

/// The records of one log, each checked; `Err` names the file and line.
fn read_log(path: &PathBuf) -> Result<Vec<StateChange>, String> {
    let text =
        std::fs::read(path).map_err(|e| format!("cannot read `{}`: {}", show_path(path), e))?;
    history::parse_log(&text)
        .map_err(|(line, why)| format!("`{}` line {line}: {why}", show_path(path)))
}

/// A key given on the command line matches a record's key when it is the
/// key's JSON text, or the key is a string with this text.
fn key_matches(key: &serde_json::Value, wanted: &str) -> bool {
    key.as_str() == Some(wanted) || serde_json::to_string(key).is_ok_and(|k| k == wanted)
}

/// `cep history`: see the module docs.
pub fn history(logs: &[PathBuf], process: Option<&str>, key: Option<&str>, json: bool) -> u8 {
    let mut records = Vec::new();
    for p in logs {
        match read_log(p) {
            Ok(r) => records.extend(r),
            Err(m) => {
                fail(&m);
                return EXIT_USAGE;
            }
        }
    }
    if let Some(p) = process {
        let known: HashSet<&str> = records.iter().map(|r| r.process.as_str()).collect();
        if !records.is_empty() && !known.contains(p) {
            let mut names: Vec<&str> = known.into_iter().collect();
            names.sort_unstable();
            fail(&format!(
                "no process `{p}` in these logs; they have {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return EXIT_USAGE;
        }
    }
    records.retain(|r| {
        process.is_none_or(|p| r.process == p) && key.is_none_or(|k| key_matches(&r.key, k))
    });
    let h = history::stitch(records);
    let mut text = String::new();
    for r in &h.records {
        if json {
            text.push_str(&serde_json::to_string(r).unwrap_or_default());
        } else {
            text.push_str(&r.to_string());
        }
        text.push('\n');
    }
    for f in &h.faults {
        if json {
            text.push_str(&serde_json::to_string(f).unwrap_or_default());
        } else {
            text.push_str("fault: ");
            text.push_str(&f.to_string());
        }
        text.push('\n');
    }
    out(&text);
    let executions: HashSet<(&str, String, &history::Stamp)> = h
        .records
        .iter()
        .map(|r| (r.process.as_str(), r.key.to_string(), &r.execution))
        .collect();
    err(&format!(
        "cep history: {} records from {} logs, {} executions, {} faults\n",
        h.records.len(),
        logs.len(),
        executions.len(),
        h.faults.len()
    ));
    if h.faults.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAIL
    }
}
