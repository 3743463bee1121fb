//! `cep explain --process`: a process's DCR graph as text and as Graphviz,
//! through the binary, on the shipped `rules/claims.cep`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

const CLAIMS: &str = "rules/claims.cep";

const ACTIVITIES: [&str; 5] = [
    "ClaimFiled",
    "ClaimReviewed",
    "ClaimApproved",
    "ClaimRejected",
    "ClaimPaid",
];

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

/// The process as text, after the header (format version, source hash,
/// sources), which `explain` prints for everything and is tested in
/// tests/cli.rs.
const CLAIM_FLOW_TEXT: &str = "\
process ClaimFlow by claim_id
  activity ClaimFiled (key claim_id; included)
  activity ClaimReviewed (key claim_id; included)
  activity ClaimApproved (key claim_id; included)
  activity ClaimRejected (key claim_id; included)
  activity ClaimPaid (key claim_id; excluded)
  ClaimFiled -->* ClaimReviewed
  ClaimFiled *--> ClaimReviewed
  ClaimReviewed -->* ClaimApproved
  ClaimReviewed -->* ClaimRejected
  ClaimApproved -->% ClaimRejected
  ClaimRejected -->% ClaimApproved
  ClaimApproved -->+ ClaimPaid
  ClaimApproved *--> ClaimPaid
  ClaimPaid --<> ClaimApproved
";

const CLAIM_FLOW_DOT: &str = r#"digraph cep {
  rankdir=LR;
  graph [fontname="Helvetica"];
  node [shape=circle, fontname="Helvetica", fontsize=11];
  edge [fontname="Helvetica", fontsize=10];
  subgraph cluster_process_0 {
    label="process ClaimFlow by claim_id\l";
    labeljust=l;
    node [shape=box, style=rounded];
    d0_a0 [label="ClaimFiled"];
    d0_a1 [label="ClaimReviewed"];
    d0_a2 [label="ClaimApproved"];
    d0_a3 [label="ClaimRejected"];
    d0_a4 [label="ClaimPaid", style="rounded,dashed"];
    d0_a0 -> d0_a1 [label="*", color=orange, fontcolor=orange, arrowhead=dotnormal];
    d0_a0 -> d0_a1 [label="*", color=blue, fontcolor=blue, dir=both, arrowtail=dot, arrowhead=normal];
    d0_a1 -> d0_a2 [label="*", color=orange, fontcolor=orange, arrowhead=dotnormal];
    d0_a1 -> d0_a3 [label="*", color=orange, fontcolor=orange, arrowhead=dotnormal];
    d0_a2 -> d0_a3 [label="%", color=red, fontcolor=red, arrowhead=normal];
    d0_a3 -> d0_a2 [label="%", color=red, fontcolor=red, arrowhead=normal];
    d0_a2 -> d0_a4 [label="+", color=green4, fontcolor=green4, arrowhead=normal];
    d0_a2 -> d0_a4 [label="*", color=blue, fontcolor=blue, dir=both, arrowtail=dot, arrowhead=normal];
    d0_a4 -> d0_a2 [label="<>", color=purple, fontcolor=purple, arrowhead=odiamondnormal];
  }
}
"#;

#[test]
fn explain_process_as_text() {
    let o = cep(&["explain", "--process", "ClaimFlow", CLAIMS]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let (header, body) = text.split_once("\n\n").expect("a header, then the process");
    assert!(
        header.starts_with("Cepheid IR, format version "),
        "{header}"
    );
    assert!(header.contains("\nsources: rules/claims.cep"), "{header}");
    assert_eq!(body, CLAIM_FLOW_TEXT);
    // Only the process: no pattern, no event list.
    assert!(!text.contains("pattern PaidInTime"), "{text}");
}

#[test]
fn explain_process_as_dot() {
    let o = cep(&["explain", "--process", "ClaimFlow", "--dot", CLAIMS]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), CLAIM_FLOW_DOT);
}

#[test]
fn explain_process_dot_renders_with_graphviz() {
    let o = cep(&["explain", "--process", "ClaimFlow", "--dot", CLAIMS]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let Some(svg) = graphviz_svg(&stdout(&o)) else {
        return;
    };
    assert!(svg.contains("<svg"), "{svg}");
    for a in ACTIVITIES {
        assert!(svg.contains(a), "{a} missing in the SVG:\n{svg}");
    }
}

#[test]
fn explain_without_a_name_shows_every_pattern_and_every_process() {
    let o = cep(&["explain", CLAIMS]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("pattern PaidInTime"), "{text}");
    assert!(text.contains(CLAIM_FLOW_TEXT), "{text}");

    let o = cep(&["explain", "--dot", CLAIMS]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let dot = stdout(&o);
    assert_eq!(dot.matches("digraph").count(), 1, "{dot}");
    assert_eq!(dot.matches("subgraph cluster_process_").count(), 1, "{dot}");
    assert!(dot.contains("pattern PaidInTime"), "{dot}");
    let Some(svg) = graphviz_svg(&dot) else {
        return;
    };
    for a in ACTIVITIES {
        assert!(svg.contains(a), "{a} missing in the SVG:\n{svg}");
    }
}

#[test]
fn explain_unknown_process_names_those_there_are() {
    for args in [
        &["explain", "--process", "ClaimFlo", CLAIMS][..],
        &["explain", "--process", "ClaimFlo", "--dot", CLAIMS][..],
    ] {
        let o = cep(args);
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "{err}");
        assert!(stdout(&o).is_empty(), "{}", stdout(&o));
        assert!(
            err.contains("no process named `ClaimFlo`; the processes are: ClaimFlow"),
            "{err}"
        );
        assert!(err.contains("did you mean `ClaimFlow`?"), "{err}");
    }

    // A file without processes says so.
    let o = cep(&[
        "explain",
        "--process",
        "Claim",
        "tests/corpus/iot_sensors.cep",
    ]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(
        err.contains("no process named `Claim`: these rules have no processes"),
        "{err}"
    );

    // A pattern is not a process.
    let o = cep(&["explain", "--process", "PaidInTime", CLAIMS]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

#[test]
fn explain_pattern_and_process_together_is_a_usage_error() {
    let o = cep(&[
        "explain",
        "--process",
        "ClaimFlow",
        "--pattern",
        "PaidInTime",
        CLAIMS,
    ]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    assert!(err.contains("--process"), "{err}");
}

/// Renders with `dot -Tsvg` and returns the SVG. Without Graphviz the
/// check is skipped (`None`), except on CI (`CI` set), where Graphviz is
/// installed and its absence fails; as in tests/cli.rs.
fn graphviz_svg(dot: &str) -> Option<String> {
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
            return None;
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
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}
