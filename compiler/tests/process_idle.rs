//! `idle D` in a process: lowered to `Process::idle_ms`, checked for a
//! second `idle` (CEP002) and a zero one (CEP023), and bounded like every
//! other duration (longer than `Duration::MAX_MS` is CEP023 from the
//! parser).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cep_grammar::ast::Duration;

/// A process `Claim` with `items` after its `activities` line.
fn rules(items: &str) -> String {
    format!(
        "event Submit {{ claim_id: str }}\nevent Review {{ claim_id: str }}\n\
         process Claim by claim_id {{\n    activities Submit, Review\n{items}    Submit -->* Review\n}}\n"
    )
}

fn idle_ms(items: &str) -> Option<i64> {
    let c = cep_compiler::compile_str("idle.cep", &rules(items));
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    let p = c.program.expect("a program");
    assert_eq!(p.processes.len(), 1);
    p.processes[0].idle_ms
}

fn codes(items: &str) -> Vec<&'static str> {
    let c = cep_compiler::compile_str("idle.cep", &rules(items));
    c.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

#[test]
fn idle_lowers_to_milliseconds() {
    assert_eq!(idle_ms("    idle 720h\n"), Some(2_592_000_000));
    assert_eq!(idle_ms("    idle 90m\n"), Some(5_400_000));
    assert_eq!(idle_ms("    idle 1ms\n"), Some(1));
    assert_eq!(idle_ms(""), None);
}

#[test]
fn idle_goes_into_the_ir_json() {
    let c = cep_compiler::compile_str("idle.cep", &rules("    idle 720h\n"));
    let json = c.program.expect("a program").to_json();
    assert!(
        json.contains(&format!("\"format_version\": {},", cep_ir::FORMAT_VERSION)),
        "{json}"
    );
    assert!(json.contains("\"idle_ms\": 2592000000"), "{json}");
    let back = cep_ir::Program::from_json(&json).expect("reads back");
    assert_eq!(back.processes[0].idle_ms, Some(2_592_000_000));
}

#[test]
fn idle_may_be_written_anywhere_in_the_body() {
    let c = cep_compiler::compile_str(
        "idle.cep",
        "event Submit { claim_id: str }\nprocess Claim by claim_id {\n    idle 30m\n    activities Submit\n}\n",
    );
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    assert_eq!(c.program.unwrap().processes[0].idle_ms, Some(1_800_000));
}

#[test]
fn the_longest_duration_is_accepted_and_a_longer_one_is_cep023() {
    let h = Duration::MAX_MS / 3_600_000;
    assert_eq!(
        idle_ms(&format!("    idle {h}h\n")),
        Some(i64::try_from(Duration::MAX_MS).unwrap())
    );
    assert_eq!(codes(&format!("    idle {}h\n", h + 1)), vec!["CEP023"]);
    assert_eq!(
        codes(&format!("    idle {}ms\n", Duration::MAX_MS + 1)),
        vec!["CEP023"]
    );
}

#[test]
fn a_zero_idle_is_cep023() {
    for zero in ["0ms", "0s", "0h"] {
        let c = cep_compiler::compile_str("idle.cep", &rules(&format!("    idle {zero}\n")));
        assert!(c.program.is_none());
        let codes: Vec<&str> = c.diagnostics.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, vec!["CEP023"], "{zero}");
        assert_eq!(
            c.diagnostics[0].message,
            "an `idle` of zero retires every accepting instance at once"
        );
    }
}

#[test]
fn a_second_idle_is_cep002_naming_both() {
    let text = rules("    idle 720h\n    idle 90m\n");
    let c = cep_compiler::compile_str("idle.cep", &text);
    assert!(c.program.is_none());
    assert_eq!(c.diagnostics.len(), 1, "{:?}", c.diagnostics);
    let d = &c.diagnostics[0];
    assert_eq!(d.code.as_str(), "CEP002");
    assert_eq!(d.message, "`idle` is given twice");
    let spans: Vec<(bool, &str)> = d
        .labels
        .iter()
        .map(|l| (l.primary, &text[l.span.start as usize..l.span.end as usize]))
        .collect();
    assert_eq!(spans, vec![(true, "idle 90m"), (false, "idle 720h")]);
}

#[test]
fn every_idle_error_is_reported() {
    // A zero first `idle`, a zero second one, a third one: each zero is
    // CEP023, each repetition CEP002; and the other checks still run.
    let mut c = codes("    idle 0s\n    idle 0ms\n    idle 1h\n    pending Revue\n");
    c.sort_unstable();
    assert_eq!(
        c,
        vec!["CEP002", "CEP002", "CEP014", "CEP023", "CEP023"],
        "{c:?}"
    );
    // Also in a process with no activities.
    let c = cep_compiler::compile_str("idle.cep", "process Claim by claim_id {\n    idle 0s\n}\n");
    let mut got: Vec<&str> = c.diagnostics.iter().map(|d| d.code.as_str()).collect();
    got.sort_unstable();
    assert_eq!(got, vec!["CEP014", "CEP023"]);
}

#[test]
fn idle_is_an_ordinary_name_elsewhere() {
    // An event, an activity, a relation end, a field and the key may all be
    // called `idle`.
    let c = cep_compiler::compile_str(
        "idle.cep",
        "event idle { idle: str }\nevent Busy { idle: str }\n\
         process Machine by idle {\n    activities idle, Busy\n    idle 10m\n    pending idle\n    idle -->* Busy\n    Busy *--> idle\n}\n",
    );
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    let p = &c.program.unwrap().processes[0];
    assert_eq!(p.idle_ms, Some(600_000));
    assert_eq!(p.relations.len(), 2);
    assert!(p.activities[0].pending);
}
