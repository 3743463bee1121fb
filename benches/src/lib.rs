//! Inputs for the benchmarks: generated rule files for the compiler, and
//! the stock-tick workload for the runtime ([`ticks`]).

pub mod ticks;

use std::fmt::Write;

/// A rule file with `patterns` patterns and `steps` steps over a handful
/// of event types, every construct of the language represented: strict,
/// relaxed and `then any` blocks, quantifiers with aggregates and `prev`,
/// negations, absences, halts, partitions, windows, and steps with
/// triggers, delays, resources, actions, retries and recovery.
pub fn generate(patterns: usize, steps: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "event Reading {{ sensor: str, site: str, value: float, at: time }}"
    );
    let _ = writeln!(
        s,
        "event Alarm {{ sensor: str, site: str, level: int, at: time }}"
    );
    let _ = writeln!(s, "event Ack {{ sensor: str, site: str, by: str }}");
    let _ = writeln!(s, "event Done {{ sensor: str, code: int }}");
    let _ = writeln!(s, "resource crew capacity 4\n");
    for i in 0..patterns {
        let t = i % 4;
        match t {
            0 => {
                let _ = writeln!(
                    s,
                    "pattern P{i} partition by sensor within {w}s {{\n    a: Reading where value > {i}.5\n    next b: Reading where value > a.value\n    not Ack\n    then c: Alarm where level >= {l} and site == a.site\n    halt on Reading where value < 0.0\n    emit {{ sensor: a.sensor, rise: b.value - a.value, level: c.level }}\n}}\n",
                    w = 10 + i % 50,
                    l = i % 5
                );
            }
            1 => {
                let _ = writeln!(
                    s,
                    "pattern P{i} partition by sensor, site within {w}m {{\n    first: Reading\n    then any ups: Reading{{2,}} where value > prev.value + {i}.0\n    emit {{ sensor: first.sensor, gain: last(ups.value) - first.value,\n           mean: avg(ups.value), n: count(ups) }}\n}}\n",
                    w = 1 + i % 9
                );
            }
            2 => {
                let _ = writeln!(
                    s,
                    "pattern P{i} partition by sensor {{\n    a: Alarm where level > {l} and sensor starts_with \"s{i}\"\n    not Ack where by != \"\" within {w}s\n    emit {{ sensor: a.sensor, level: a.level }}\n}}\n",
                    l = i % 7,
                    w = 5 + i % 60
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    "pattern P{i} within 5m skip past last {{\n    x: P{prev}\n    then y: Alarm+ where level > {l}\n    then z: Reading? where value > 1.0\n    then w: Ack\n    emit {{ sensor: x.sensor, alarms: count(y), top: max(y.level), by: w.by }}\n}}\n",
                    prev = i - 1,
                    l = i % 3
                );
            }
        }
    }
    for i in 0..steps {
        let trig = if patterns == 0 {
            "Alarm".to_string()
        } else {
            // Steps read `sensor`, which every pattern of kinds 0-2 emits.
            let mut p = i % patterns;
            while p % 4 == 3 {
                p = p.saturating_sub(1);
            }
            format!("P{p}")
        };
        if i % 2 == 0 {
            let _ = writeln!(
                s,
                "step s{i} {{\n    on {trig}\n    after {d}s\n    acquire crew {u}\n    run \"bin/fix\" args [\"--id\", \"{i}\"] with {{ SENSOR: {trig}.sensor }}\n    timeout 60s\n    retry 3 backoff 2s\n    on success emit Done {{ sensor: {trig}.sensor, code: {i} }}\n    recover {{ ready: rerun, active: rerun, failure: rerun, success: skip }}\n}}\n",
                d = i % 30,
                u = 1 + i % 4
            );
        } else {
            let _ = writeln!(
                s,
                "step s{i} {{\n    on Done or (Alarm and Ack)\n    post \"http://127.0.0.1:9000/hook\" body {{ text: \"step {i}\" }}\n}}\n"
            );
        }
    }
    s
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    #[test]
    fn generated_rules_compile_cleanly() {
        let text = super::generate(40, 40);
        let c = cep_compiler::compile_str("gen.cep", &text);
        let errors: Vec<_> = c.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let p = c.program.expect("program");
        assert_eq!(p.patterns.len(), 40);
        assert_eq!(p.steps.len(), 40);
    }
}
