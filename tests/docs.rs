//! The documentation against the program: `README.md`, `docs/language.md`
//! and `docs/runtime.md` must say only what `cep` does.
//!
//! - every option of every subcommand (from clap) is in the README's CLI
//!   table, and every `cep run` option, with its default, in the list below
//!   it;
//! - the README's compare command, run as written, prints no difference;
//! - every ```` ```cep ```` block of the language reference (and of the
//!   README) checks without error, alone or with the complete example of
//!   section 12 (examples of mistakes are never `cep` blocks);
//! - the examples of sections 5.3, 6.7 and 11 do what the text around them
//!   says, through the built binary or the formatter;
//! - the constructs that `cep run` does not run are said to be not run,
//!   where they are described, and really are not run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::CommandFactory;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// A fenced code block: its info string, its text (the fence's
/// indentation removed), and the line of its opening fence (1-based).
struct Block {
    info: String,
    text: String,
    line: usize,
}

fn blocks(md: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String, usize, String)> = None;
    for (i, l) in md.lines().enumerate() {
        let trimmed = l.trim_start();
        let indent = l.len() - trimmed.len();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((indent, info.trim().to_string(), i + 1, String::new()));
                }
            }
            Some((ind, info, line, text)) => {
                if trimmed.starts_with("```") {
                    out.push(Block {
                        info: std::mem::take(info),
                        text: std::mem::take(text),
                        line: *line,
                    });
                    open = None;
                } else {
                    text.push_str(l.get(*ind..).unwrap_or(l.trim_start()));
                    text.push('\n');
                }
            }
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    out
}

/// The text of the section whose heading line starts with `heading`, up
/// to the next heading of the same or a higher level.
fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let level = heading.chars().take_while(|&c| c == '#').count();
    let start = md
        .lines()
        .scan(0, |pos, l| {
            let at = *pos;
            *pos += l.len() + 1;
            Some((at, l))
        })
        .find(|(_, l)| l.starts_with(heading))
        .map(|(at, _)| at)
        .unwrap_or_else(|| panic!("no section `{heading}`"));
    let rest = &md[start..];
    let mut end = rest.len();
    let mut pos = 0;
    let mut fenced = false;
    for (i, l) in rest.lines().enumerate() {
        if l.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if i > 0 && !fenced {
            let hashes = l.chars().take_while(|&c| c == '#').count();
            if hashes > 0 && hashes <= level && l.chars().nth(hashes) == Some(' ') {
                end = pos;
                break;
            }
        }
        pos += l.len() + 1;
    }
    &rest[..end]
}

/// Runs `cep run RULES --input EVENTS` in a temporary directory; gives
/// the output lines (exit status checked, no dead letter allowed).
fn run_rules(rules: &str, events: &[&str]) -> Vec<String> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cep-docs-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("rules.cep"), rules).expect("write rules");
    let mut text = events.join("\n");
    text.push('\n');
    std::fs::write(dir.join("events.ndjson"), text).expect("write events");
    let o = Command::new(env!("CARGO_BIN_EXE_cep"))
        .current_dir(&dir)
        .args([
            "run",
            "rules.cep",
            "--input",
            "events.ndjson",
            "--dead-letter",
            "dead.ndjson",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("run cep");
    let dead = std::fs::read_to_string(dir.join("dead.ndjson")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        o.status.success(),
        "cep run failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(dead, "", "dead letters");
    String::from_utf8(o.stdout)
        .expect("utf-8 output")
        .lines()
        .map(str::to_string)
        .collect()
}

// ---- the README's CLI -----------------------------------------------------------

/// The README table's row for `cep NAME`.
fn cli_row<'a>(readme: &'a str, name: &str) -> &'a str {
    let prefix = format!("| `cep {name} ");
    let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(rows.len(), 1, "README: one CLI table row for `cep {name}`");
    rows[0]
}

/// Every subcommand has its row, and the row names every option of the
/// subcommand (long and short) and its positional arguments.
#[test]
fn readme_cli_table_names_every_option() {
    let readme = read("README.md");
    let cli = cep::Cli::command();
    let mut missing = Vec::new();
    for sub in cli.get_subcommands() {
        let name = sub.get_name();
        let row = cli_row(&readme, name);
        // The command part of the row: its first cell.
        let cell = row.split(" | ").next().unwrap_or(row);
        for arg in sub.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if let Some(long) = arg.get_long() {
                let flag = format!("--{long}");
                let found = cell.match_indices(&flag).any(|(i, _)| {
                    !cell[i + flag.len()..].starts_with(|c: char| c == '-' || c.is_alphanumeric())
                });
                if !found {
                    missing.push(format!("cep {name}: {flag}"));
                }
            }
            if let Some(short) = arg.get_short() {
                let flag = format!("-{short}");
                if !cell.contains(&format!("[{flag}")) && !cell.contains(&format!(" {flag} ")) {
                    missing.push(format!("cep {name}: {flag}"));
                }
            }
            if arg.is_positional() {
                let names = arg
                    .get_value_names()
                    .map(|v| v.to_vec())
                    .unwrap_or_default();
                for v in names {
                    if !cell.contains(v.as_str()) {
                        missing.push(format!("cep {name}: <{v}>"));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "options missing from the README's CLI table: {missing:?}"
    );
}

/// Below the table, every option of `cep run` has its bullet, which gives
/// its default as clap has it (standard input and output, `-`, aside).
#[test]
fn readme_run_options_give_their_defaults() {
    let readme = read("README.md");
    let cli = cep::Cli::command();
    let run = cli
        .get_subcommands()
        .find(|s| s.get_name() == "run")
        .expect("cep run");
    // The bullets that start with an option, each with its continuation
    // lines.
    let mut bullets: Vec<String> = Vec::new();
    let mut open = false;
    for l in readme.lines() {
        if l.starts_with("- `--") {
            bullets.push(l.to_string());
            open = true;
        } else if open && l.starts_with("  ") {
            if let Some(b) = bullets.last_mut() {
                b.push(' ');
                b.push_str(l.trim());
            }
        } else {
            open = false;
        }
    }
    let mut wrong = Vec::new();
    for arg in run.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if long == "help" {
            continue;
        }
        let flag = format!("`--{long} ");
        let Some(b) = bullets.iter().find(|b| {
            let head = b.split(':').next().unwrap_or("");
            head.contains(&flag) || head.contains(&format!("`--{long}`"))
        }) else {
            wrong.push(format!("no bullet for --{long}"));
            continue;
        };
        for d in arg.get_default_values() {
            let d = d.to_string_lossy();
            if d == "-" {
                if !b.contains("`-` (the default)") {
                    wrong.push(format!("--{long}: the default `-` is not said"));
                }
            } else if !b.contains(&format!("default {d}")) && !b.contains(&format!("default `{d}`"))
            {
                wrong.push(format!("--{long}: default {d} is not said in: {b}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The README shows how to compare the main command's output with the
/// shipped expected output; run as written (with `cargo run --release --`
/// standing for the built binary), `diff` prints nothing.
#[test]
fn readme_compare_command_prints_no_difference() {
    let readme = read("README.md");
    let sh: Vec<Block> = blocks(&readme)
        .into_iter()
        .filter(|b| b.info == "sh")
        .collect();
    let main = sh
        .first()
        .map(|b| b.text.trim().to_string())
        .expect("README: a first sh block with the main command");
    let compare: Vec<&str> = sh
        .iter()
        .flat_map(|b| b.text.lines())
        .filter(|l| l.contains("| diff -"))
        .collect();
    assert_eq!(compare.len(), 1, "README: one compare command");
    let compare = compare[0];
    let (left, right) = compare.split_once(" | ").expect("a pipe");
    assert_eq!(
        left.trim(),
        main,
        "the compare command runs the main command"
    );
    assert!(
        right
            .trim_start()
            .starts_with("diff - rules/datacenter.expected.ndjson"),
        "compares with the shipped expected output: {right}"
    );
    let prefix = "cargo run --release -- ";
    let args = left
        .trim()
        .strip_prefix(prefix)
        .expect("the main command is `cargo run --release -- ...`");
    let bin = env!("CARGO_BIN_EXE_cep");
    let script = format!("'{bin}' {args} | {right}");
    // In a directory of its own (with the shipped `rules/`), since the
    // main command makes its store in the working directory.
    let dir = std::env::temp_dir().join(format!("cep-docs-main-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    #[cfg(unix)]
    std::os::unix::fs::symlink(root().join("rules"), dir.join("rules")).expect("symlink rules");
    let o = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run sh");
    let store = dir.join("datacenter.run.db").is_file();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        store,
        "the main command keeps its step runs in datacenter.run.db"
    );
    assert!(
        o.status.success() && o.stdout.is_empty(),
        "`{script}` gave a difference (exit {:?}):\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

// ---- code blocks ---------------------------------------------------------------

/// The names a rule text declares.
fn declared(text: &str) -> BTreeSet<String> {
    let parsed = cep_grammar::parse(cep_grammar::FileId(0), text);
    parsed
        .file
        .decls
        .iter()
        .map(|d| d.node.name().node.clone())
        .collect()
}

/// The complete example of section 12 without the declarations of `names`.
fn context_without(example: &str, names: &BTreeSet<String>) -> String {
    let parsed = cep_grammar::parse(cep_grammar::FileId(0), example);
    assert!(parsed.errors.is_empty(), "section 12 parses");
    let mut out = String::new();
    for d in &parsed.file.decls {
        if names.contains(&d.node.name().node) {
            continue;
        }
        out.push_str(&example[d.span.start as usize..d.span.end as usize]);
        out.push('\n');
    }
    out
}

fn errors_of(files: &[(&str, &str)]) -> Vec<String> {
    let mut sources = cep_grammar::SourceMap::new();
    for (name, text) in files {
        sources.add(*name, *text);
    }
    let c = cep_compiler::check(sources);
    c.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}: {}", d.code.as_str(), d.message))
        .collect()
}

/// Every `cep` block of docs/language.md and README.md checks without
/// error, alone or with section 12's example (less the names it declares
/// itself).
#[test]
fn cep_blocks_check_without_error() {
    let lang = read("docs/language.md");
    let example = blocks(section(&lang, "## 12."))
        .into_iter()
        .find(|b| b.info == "cep")
        .expect("section 12 has the complete example")
        .text;
    assert_eq!(errors_of(&[("example", &example)]), Vec::<String>::new());
    let mut bad = Vec::new();
    let mut n = 0;
    for (doc, md) in [
        ("docs/language.md", lang.clone()),
        ("README.md", read("README.md")),
    ] {
        for b in blocks(&md) {
            if b.info != "cep" {
                continue;
            }
            n += 1;
            if errors_of(&[("block", &b.text)]).is_empty() {
                continue;
            }
            let ctx = context_without(&example, &declared(&b.text));
            let errs = errors_of(&[("block", &b.text), ("section 12", &ctx)]);
            if !errs.is_empty() {
                bad.push(format!("{doc}:{}: {errs:?}", b.line));
            }
        }
    }
    assert!(n >= 15, "only {n} cep blocks found");
    assert!(
        bad.is_empty(),
        "cep blocks with errors:\n{}",
        bad.join("\n")
    );
}

// ---- examples that the text explains ---------------------------------------------

fn only_cep_block(md: &str, heading: &str) -> String {
    let bs: Vec<Block> = blocks(section(md, heading))
        .into_iter()
        .filter(|b| b.info == "cep")
        .collect();
    assert_eq!(bs.len(), 1, "one cep block in `{heading}`");
    bs.into_iter().next().map(|b| b.text).unwrap_or_default()
}

/// Section 5.3: the emitted field that divides by zero really is `null`
/// (the block's `Rejects` matches a batch with a total of 0), and the
/// predicate that divides by zero is false (`BadBatch` does not).
#[test]
fn missing_values_example_gives_null() {
    let lang = read("docs/language.md");
    let rules = only_cep_block(&lang, "### 5.3");
    let out = run_rules(
        &rules,
        &[
            r#"{"type":"Batch","line":"l1","rejects":3,"total":0,"at":1000}"#,
            r#"{"type":"Batch","line":"l2","rejects":10,"total":100,"at":2000}"#,
            r#"{"type":"Batch","line":"l3","rejects":0,"total":0,"at":3000}"#,
        ],
    );
    assert_eq!(
        out,
        [
            r#"{"type":"Rejects","line":"l1","percent":null,"@cep":{"time":1000,"run":"cep-Rejects-1","pattern":"Rejects","events":[{"binding":"b","line":1}]}}"#,
            r#"{"type":"BadBatch","line":"l2","percent":10,"@cep":{"time":2000,"run":"cep-BadBatch-1","pattern":"BadBatch","events":[{"binding":"b","line":2}]}}"#,
            r#"{"type":"Rejects","line":"l2","percent":10,"@cep":{"time":2000,"run":"cep-Rejects-2","pattern":"Rejects","events":[{"binding":"b","line":2}]}}"#,
        ]
    );
    let sec = section(&lang, "### 5.3");
    assert!(
        sec.contains("gives one `Rejects` with\n`\"percent\":null`, and no `BadBatch`"),
        "section 5.3 says what the example gives"
    );
}

/// Section 6.7: a trailing absence longer than the window still completes,
/// at `last.time + D`, past the window's end; an absence event past the
/// window kills it; a second block at `first.time + W` is too late. The
/// text says so with these times.
#[test]
fn window_example_completes_after_the_window() {
    let lang = read("docs/language.md");
    let rules = only_cep_block(&lang, "### 6.7");
    let out = run_rules(
        &rules,
        &[
            r#"{"type":"Door","room":"r1","at":0}"#,
            r#"{"type":"Door","room":"r2","at":0}"#,
            r#"{"type":"Door","room":"r3","at":0}"#,
            r#"{"type":"Door","room":"r1","at":9000}"#,
            r#"{"type":"Door","room":"r2","at":9000}"#,
            r#"{"type":"Door","room":"r3","at":10000}"#,
            r#"{"type":"Alarm","room":"r2","at":20000}"#,
        ],
    );
    assert_eq!(
        out,
        [
            r#"{"type":"Unnoticed","room":"r1","second":9000,"@cep":{"time":39000,"run":"cep-Unnoticed-1","pattern":"Unnoticed","events":[{"binding":"a","line":1},{"binding":"b","line":4}]}}"#,
        ]
    );
    let sec = section(&lang, "### 6.7");
    for said in [
        "Doors at 0s and 9s give `Unnoticed` at 39s",
        "an `Alarm` of the room at 20s\nwould have killed the run",
        "doors at 0s and 10s do not match",
    ] {
        assert!(sec.contains(said), "section 6.7 says: {said}");
    }
    assert!(
        !sec.contains("time has\npassed `first.time + D`) is dropped"),
        "section 6.7 no longer says that every run is dropped at its window"
    );
}

/// Section 11's before/after example is what `cep fmt` really does: the
/// header's blank lines, blank lines between declarations and items, runs
/// of them, and those after `{` and before `}`.
#[test]
fn formatting_example_is_what_fmt_does() {
    let lang = read("docs/language.md");
    let sec = section(&lang, "## 11.");
    let (_, after_turns) = sec
        .split_once("`cep fmt` turns this file:")
        .expect("section 11 has a before/after example");
    let (before_part, after_part) = after_turns
        .split_once("into this one:")
        .expect("... into this one:");
    let before = blocks(before_part)
        .into_iter()
        .find(|b| b.info == "cep")
        .expect("the file before")
        .text;
    let after = blocks(after_part)
        .into_iter()
        .find(|b| b.info == "cep")
        .expect("the file after")
        .text;
    // The example shows what the rules are about.
    assert!(
        before.starts_with("\n\n//"),
        "blank lines before the header"
    );
    assert!(
        before.contains("\n\n\n\n//"),
        "a run of blank lines in the header"
    );
    assert!(before.contains("{\n\n"), "a blank line after `{{`");
    assert!(before.contains("\n\n}"), "a blank line before `}}`");
    assert!(
        before.contains("}\nresource"),
        "two declarations with no blank line"
    );
    let got = cep_grammar::format_source(&before).expect("the example parses");
    assert_eq!(got, after, "cep fmt of section 11's example");
    assert_eq!(
        cep_grammar::format_source(&after).expect("parses"),
        after,
        "the formatted file is formatted"
    );
}

/// The rules of section 11 on blank lines and the header, one by one.
#[test]
fn fmt_blank_lines_and_header() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "blank lines at the start are dropped, one between header comments is kept",
            "\n\n// a\n\n\n// b\nevent A {}\n",
            "// a\n\n// b\nevent A {}\n",
        ),
        (
            "a blank line between the header and the first declaration is kept",
            "// a\n\n\nevent A {}\n",
            "// a\n\nevent A {}\n",
        ),
        (
            "none is added between the header and the first declaration",
            "// a\nevent A {}\n",
            "// a\nevent A {}\n",
        ),
        (
            "header comments start at column 0",
            "   // a\n  event A {}\n",
            "// a\nevent A {}\n",
        ),
        (
            "none is added between declarations; a run becomes one",
            "event A {}\nresource r capacity 1\n\n\n\nresource s capacity 1\n",
            "event A {}\nresource r capacity 1\n\nresource s capacity 1\n",
        ),
        (
            "blank lines after `{` and before `}` are dropped, between items kept",
            "event A {}\npattern P {\n\n    a: A\n\n\n    then b: A\n\n    emit {}\n\n}\n",
            "event A {}\npattern P {\n    a: A\n\n    then b: A\n\n    emit {}\n}\n",
        ),
        (
            "after `{`, a blank line before a comment is dropped, after it kept",
            "event A {}\npattern P {\n\n    // c\n\n    a: A\n}\n",
            "event A {}\npattern P {\n    // c\n\n    a: A\n}\n",
        ),
        (
            "before `}`, a blank line before a comment is kept, after it dropped",
            "event A {}\npattern P {\n    a: A\n\n    // c\n\n}\n",
            "event A {}\npattern P {\n    a: A\n\n    // c\n}\n",
        ),
        (
            "no blank line inside an item: between header clauses",
            "event A { k: str }\npattern P\n    within 1s\n\n    partition by k\n\n    skip past last\n\n{\n    a: A\n}\n",
            "event A { k: str }\npattern P\n    within 1s\n    partition by k\n    skip past last\n{\n    a: A\n}\n",
        ),
        (
            "a blank line or a comment line ends a run of aligned events",
            "event A {}\nevent Bbb {}\n\nevent C {}\n// c\nevent Dddd {}\n",
            "event A   {}\nevent Bbb {}\n\nevent C {}\n// c\nevent Dddd {}\n",
        ),
        (
            "comments at the end: a blank before kept, the end has one newline",
            "event A {}\n\n\n// end\n\n\n",
            "event A {}\n\n// end\n",
        ),
        ("a file of white space becomes empty", " \n\n", ""),
    ];
    let mut wrong = Vec::new();
    for (what, src, want) in cases {
        match cep_grammar::format_source(src) {
            Ok(got) if got == *want => {}
            Ok(got) => wrong.push(format!(
                "{what}:\n  from {src:?}\n  want {want:?}\n  got  {got:?}"
            )),
            Err(e) => wrong.push(format!("{what}: does not parse: {e:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---- what cep run does and does not run -------------------------------------------

/// `cep run` runs steps (a step whose action emits `B` feeds the pattern
/// over `B`) and enforces processes (`C` after its condition `A` passes;
/// see tests/processes.rs for refusals); run changes are reachable only
/// from the library, and the docs say so. No doc still says that steps or
/// processes are not run.
#[test]
fn what_cep_run_does_not_run_is_said_to_be_not_run() {
    let rules = r#"
event A { id: str, at: time }
event B { id: str, at: time }
event C { id: str, at: time }

resource pool capacity 1

step relay {
    on A
    acquire pool 1
    emit B { id: A.id, at: A.at }
}

pattern GotB {
    b: B
    emit { id: b.id }
}

pattern GotC {
    c: C
    emit { id: c.id }
}

process Order by id {
    activities A, C
    A -->* C
}
"#;
    let out = run_rules(
        rules,
        &[
            r#"{"type":"A","id":"x","at":1000}"#,
            r#"{"type":"C","id":"x","at":2000}"#,
        ],
    );
    assert_eq!(
        out,
        [
            r#"{"type":"GotB","id":"x","@cep":{"time":1000,"run":"cep-GotB-1","pattern":"GotB","events":[{"binding":"b","line":0}]}}"#,
            r#"{"type":"GotC","id":"x","@cep":{"time":2000,"run":"cep-GotC-1","pattern":"GotC","events":[{"binding":"c","line":2}]}}"#,
        ],
        "cep run runs steps, and lets an enabled activity through"
    );
    // No option of `cep run` turns run changes on.
    let cli = cep::Cli::command();
    let run = cli
        .get_subcommands()
        .find(|s| s.get_name() == "run")
        .expect("cep run");
    let longs: Vec<&str> = run.get_arguments().filter_map(|a| a.get_long()).collect();
    assert!(
        longs
            .iter()
            .all(|l| !l.contains("track") && !l.contains("change")),
        "a run-changes option exists now: {longs:?}; update the docs"
    );
    let runtime = read("docs/runtime.md");
    assert!(
        runtime.contains("`cep run`\nnever asks for them"),
        "docs/runtime.md says cep run never reports run changes"
    );
    for doc in ["README.md", "docs/language.md", "docs/runtime.md"] {
        let text = read(doc);
        for stale in [
            "Not enforced yet",
            "not enforced yet",
            "Not run yet",
            "not run yet",
        ] {
            assert!(!text.contains(stale), "{doc} still says `{stale}`");
        }
    }
}

#[test]
fn section_helper_stops_at_the_next_heading() {
    let md = "# T\n## 1. A\ntext\n### 1.1 B\nmore\n## 2. C\nlast\n";
    assert_eq!(section(md, "## 1."), "## 1. A\ntext\n### 1.1 B\nmore\n");
    assert_eq!(section(md, "### 1.1"), "### 1.1 B\nmore\n");
    assert!(Path::new(&root()).join("README.md").exists());
}

/// docs/runtime.md, "Time": the late rule is stated as the engine has it
/// (the clock includes the watermark, so an event can be late when nothing
/// newer was processed yet), and `cep run` does what it says: with
/// `--max-delay 10s`, after `A@100s` (held, nothing processed) an event at
/// 89.999s is late and one at 90s is not.
#[test]
fn late_rule_is_the_engine_rule() {
    let runtime = read("docs/runtime.md");
    let time = section(&runtime, "## Time");
    let bullet = time
        .split("\n- ")
        .find(|b| b.contains("**late**"))
        .expect("a bullet that defines late");
    let flat = bullet.split_whitespace().collect::<Vec<_>>().join(" ");
    for said in [
        "the latest of: the times of the events it has processed, the deadlines it has handled, and the watermark",
        "An event at the clock's time is not late.",
        "an event older than the watermark is late even when every event newer than it is still held",
        "an event is late when its time is more than `--max-delay` before the latest event time seen before it",
    ] {
        assert!(flat.contains(said), "the late rule says: {said}\nit says: {flat}");
    }
    assert!(
        !flat.contains("older than something already processed"),
        "the old wording: {flat}"
    );

    let dir = std::env::temp_dir().join(format!("cep-docs-late-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("rules.cep"),
        "event A { k: str, at: time }\npattern P {\n    a: A\n    emit { k: a.k }\n}\n",
    )
    .expect("write rules");
    std::fs::write(
        dir.join("events.ndjson"),
        concat!(
            r#"{"type":"A","k":"held","at":100000}"#,
            "\n",
            r#"{"type":"A","k":"late","at":89999}"#,
            "\n",
            r#"{"type":"A","k":"edge","at":90000}"#,
            "\n",
        ),
    )
    .expect("write events");
    let o = Command::new(env!("CARGO_BIN_EXE_cep"))
        .current_dir(&dir)
        .args([
            "run",
            "rules.cep",
            "--input",
            "events.ndjson",
            "--dead-letter",
            "dead.ndjson",
            "--max-delay",
            "10s",
        ])
        .output()
        .expect("run cep");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let dead = std::fs::read_to_string(dir.join("dead.ndjson")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.status.success());
    let ks: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split("\"k\":\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(ks, ["edge", "held"], "the events used, in time order");
    let dead: Vec<&str> = dead.lines().collect();
    assert_eq!(dead.len(), 1, "one dead letter: {dead:?}");
    assert!(
        dead[0].starts_with(r#"{"line":2,"reason":"late""#),
        "line 2 is late: {}",
        dead[0]
    );
}
