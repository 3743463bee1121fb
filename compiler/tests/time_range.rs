//! The longest duration a rule may write is the width of the range of
//! valid times, so that a valid time plus any duration is exact in 64 bits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cep_grammar::ast::Duration;

#[test]
fn the_longest_duration_spans_the_range_of_valid_times() {
    let width = cep_ir::MAX_TIME_MS - cep_ir::MIN_TIME_MS + 1;
    assert_eq!(i64::try_from(Duration::MAX_MS).unwrap(), width);
    // The latest valid time plus the longest duration does not overflow.
    assert!(cep_ir::MAX_TIME_MS.checked_add(width).is_some());
}

#[test]
fn durations_up_to_the_limit_compile_and_longer_ones_are_cep023() {
    let rules = |d: &str| {
        format!(
            "event A {{ at: time }}\npattern P within {d} {{\n    a: A\n    then b: A\n    emit {{ at: b.at }}\n}}\n"
        )
    };
    let h = Duration::MAX_MS / 3_600_000;
    let ok = cep_compiler::compile_str("ok.cep", &rules(&format!("{h}h")));
    assert!(!ok.has_errors(), "{:?}", ok.diagnostics);
    for d in [format!("{}h", h + 1), format!("{}ms", Duration::MAX_MS + 1)] {
        let c = cep_compiler::compile_str("long.cep", &rules(&d));
        let codes: Vec<&str> = c.diagnostics.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, vec!["CEP023"], "{d}");
        assert_eq!(
            c.diagnostics[0].message,
            "this duration is longer than the range of valid times"
        );
    }
}
