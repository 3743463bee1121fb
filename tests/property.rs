//! Deterministic property tests of the front end, with a tiny xorshift
//! generator (no dependencies, the same cases on every run).
//!
//! Inputs: (a) random soups of the language's tokens, (b) mutations of the
//! rule files in `rules/` and `tests/corpus/` (lines deleted, duplicated or
//! swapped; characters and tokens deleted or inserted; truncation), and
//! (c) random files that follow the grammar, with random layout and
//! comments, so that the formatter properties get many parsing inputs.
//!
//! For every input:
//! - `cep_compiler::compile_str` does not panic, and every span of every
//!   diagnostic lies inside the text, on character boundaries;
//! - when the text parses without syntax errors, `format_source` succeeds,
//!   its output parses to an equal tree (spans aside), formatting it again
//!   changes nothing, and the comments are all still there, in order.
//!
//! A failure names the case (generator, seed and index) and prints the
//! input, so it can be reproduced and turned into a UI test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::Rng;

use cep_grammar::{format_source, parse, Diagnostic, FileId};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Cases of token soup.
const SOUP_CASES: usize = 3000;
/// Random files that follow the grammar.
const GENERATED_CASES: usize = 600;
/// Mutated variants of each corpus file.
const MUTATIONS_PER_FILE: usize = 120;
/// At most this many failures are printed in full.
const SHOWN_FAILURES: usize = 5;

/// Every kind of token the language has, and a few it does not.
#[rustfmt::skip]
const TOKENS: &[&str] = &[
    // declarations and contextual keywords
    "event", "pattern", "resource", "capacity", "step", "process", "partition", "by", "within",
    "skip", "past", "last", "to", "on", "after", "acquire", "run", "args", "with", "post", "body",
    "timeout", "retry", "backoff", "recover", "activities", "ready", "active", "success",
    "failure", "complete", "rerun", "pending", "excluded", "executed", "idle", "prev",
    // reserved words
    "and", "or", "not", "true", "false", "contains", "starts_with", "ends_with", "next", "then",
    "any", "halt", "emit", "where",
    // types and functions
    "int", "float", "str", "bool", "duration", "time", "count", "sum", "avg", "min", "max",
    "first", "median",
    // names
    "Temperature", "Heatwave", "Start", "Done", "a", "b", "ups", "sensor", "celsius", "at",
    "pump", "cool", "Claim", "claim_id", "_x", "x1", "nextval",
    // punctuation and operators
    "{", "}", "(", ")", "[", "]", ",", ":", ".", "+", "-", "*", "/", "%", "?", "==", "!=", "<",
    "<=", ">", ">=", "-->*", "*-->", "-->+", "-->%", "--<>", "{3,}", "{2,5}", "{0}", "{5,2}",
    // literals
    "0", "1", "42", "30", "1.5", "0.25", "2.5E-3", "99999999999999999999", "500ms", "10s",
    "5m", "1h", "10min", "1.5s", "999999999999999h", "\"hot\"", "\"a\\nb\"", "\"bad\\q\"",
    "\"http://127.0.0.1:9000/x\"", "\"\"", "\"unterminated",
    // comments, odd characters
    "// note", "//~ ERROR CEP001", "é", "→", "😀", "#", "@", "\\", "\t",
];

/// Whole lines to insert into real files.
const SNIPPETS: &[&str] = &[
    "    not Temperature within 10s",
    "    then any x: Temperature{2,} where celsius > prev.celsius",
    "    halt on Temperature where celsius < 0",
    "    emit { n: count(ups) }",
    "    on success emit Done { job: \"x\" }",
    "    acquire pump 3",
    "    A -->* B",
    "event Temperature { sensor: str }",
    "pattern P { a: Temperature }",
    "step s { on Start run \"x\" }",
    "resource pump capacity 0",
    "process P by k { activities A }",
    "// a comment with \"quotes\" and { braces",
    "}",
    "{",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus_texts() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["rules", "tests/corpus"] {
        let abs = root().join(dir);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&abs)
            .unwrap_or_else(|e| panic!("read {}: {e}", abs.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "cep"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).expect("read corpus file");
            out.push((p.display().to_string(), text));
        }
    }
    out
}

fn soup(rng: &mut Rng) -> String {
    let n = 1 + rng.below(80);
    let mut s = String::new();
    // Often start like a declaration, so that the parser gets further in.
    if rng.chance(60) {
        s.push_str(rng.pick(&["event ", "pattern ", "step ", "process ", "resource "]));
    }
    for _ in 0..n {
        s.push_str(rng.pick(TOKENS));
        let sep = match rng.below(10) {
            0 => "\n",
            1 => "",
            _ => " ",
        };
        s.push_str(sep);
    }
    s
}

/// A byte index on a character boundary, in `0..=len`.
fn boundary(rng: &mut Rng, s: &str) -> usize {
    let mut i = rng.below(s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut s = text.to_string();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
        match rng.below(9) {
            0 if !lines.is_empty() => {
                let i = rng.below(lines.len());
                lines.remove(i);
                s = lines.join("\n") + "\n";
            }
            1 if !lines.is_empty() => {
                let i = rng.below(lines.len());
                let l = lines[i].clone();
                lines.insert(i, l);
                s = lines.join("\n") + "\n";
            }
            2 if lines.len() > 1 => {
                let i = rng.below(lines.len());
                let j = rng.below(lines.len());
                lines.swap(i, j);
                s = lines.join("\n") + "\n";
            }
            3 => {
                let i = rng.below(lines.len() + 1);
                lines.insert(i, rng.pick(SNIPPETS).to_string());
                s = lines.join("\n") + "\n";
            }
            4 if !s.is_empty() => {
                // Delete a few characters.
                let a = boundary(rng, &s);
                let mut b = a;
                for _ in 0..1 + rng.below(4) {
                    if let Some(c) = s[b..].chars().next() {
                        b += c.len_utf8();
                    }
                }
                s.replace_range(a..b, "");
            }
            5 => {
                // Insert a character, often a delicate one.
                let c = rng.pick(&[
                    '{', '}', '(', ')', '"', '\\', '/', ':', ',', '.', '\n', ' ', 'x', '9', 'é',
                    '😀', '*', '-', '>', '%', '?',
                ]);
                let i = boundary(rng, &s);
                s.insert(i, c);
            }
            6 => {
                let t = format!(" {} ", rng.pick(TOKENS));
                let i = boundary(rng, &s);
                s.insert_str(i, &t);
            }
            7 if !s.is_empty() => {
                // Delete a word-sized token.
                let a = boundary(rng, &s);
                let end = s[a..]
                    .char_indices()
                    .find(|(_, c)| c.is_whitespace())
                    .map(|(i, _)| a + i)
                    .unwrap_or(s.len());
                s.replace_range(a..end, "");
            }
            _ => {
                let i = boundary(rng, &s);
                s.truncate(i);
            }
        }
    }
    s
}

// ---- random well-formed files -------------------------------------------------

/// The events random files declare: name and fields.
const EVENTS: &[(&str, &[(&str, &str)])] = &[
    (
        "Temperature",
        &[("sensor", "str"), ("celsius", "float"), ("at", "time")],
    ),
    (
        "Humidity",
        &[("sensor", "str"), ("percent", "float"), ("at", "time")],
    ),
    ("Start", &[("job", "str"), ("n", "int")]),
    ("Done", &[("job", "str"), ("n", "int")]),
    ("Tick", &[]),
];

/// Builds a random file that follows the grammar (names and types are
/// often right, sometimes not), with random layout and comments.
struct Gen<'r> {
    rng: &'r mut Rng,
    toks: Vec<String>,
}

impl Gen<'_> {
    fn t(&mut self, s: &str) {
        self.toks.push(s.to_string());
    }

    fn event_name(&mut self) -> &'static str {
        if self.rng.chance(5) {
            return self.rng.pick(&["Tempreature", "P0", "P1", "Nope"]);
        }
        self.rng.pick(EVENTS).0
    }

    fn field(&mut self) -> &'static str {
        let (_, fields) = self.rng.pick(EVENTS);
        if fields.is_empty() || self.rng.chance(5) {
            return self.rng.pick(&["celsuis", "x", "last", "to"]);
        }
        self.rng.pick(fields).0
    }

    fn literal(&mut self) -> String {
        match self.rng.below(6) {
            0 => self.rng.below(100).to_string(),
            1 => format!("{}.{}", self.rng.below(100), self.rng.below(10)),
            2 => self
                .rng
                .pick(&["\"hot\"", "\"a b\"", "\"q\\\"x\"", "\"\""])
                .to_string(),
            3 => self.rng.pick(&["true", "false"]).to_string(),
            4 => format!(
                "{}{}",
                1 + self.rng.below(90),
                self.rng.pick(&["ms", "s", "m", "h"])
            ),
            _ => "0".to_string(),
        }
    }

    fn expr(&mut self, depth: usize, bindings: &[String]) {
        let leaf = depth == 0 || self.rng.chance(35);
        if leaf {
            match self.rng.below(5) {
                0 | 1 => {
                    let l = self.literal();
                    self.t(&l);
                }
                2 => {
                    let f = self.field();
                    self.t(f);
                }
                3 if !bindings.is_empty() => {
                    let b = bindings[self.rng.below(bindings.len())].clone();
                    let f = self.field();
                    self.t(&format!("{b}.{f}"));
                }
                _ => {
                    let f = self.field();
                    self.t(&format!("prev.{f}"));
                }
            }
            return;
        }
        match self.rng.below(6) {
            0 => {
                self.t("(");
                self.expr(depth - 1, bindings);
                self.t(")");
            }
            1 => {
                let op = self.rng.pick(&["not", "-"]);
                self.t(op);
                self.expr(depth - 1, bindings);
            }
            2 if !bindings.is_empty() => {
                let func = self.rng.pick(&[
                    "count", "sum", "avg", "min", "max", "first", "last", "median",
                ]);
                let b = bindings[self.rng.below(bindings.len())].clone();
                self.t(func);
                self.t("(");
                if func == "count" {
                    self.t(&b);
                } else {
                    let f = self.field();
                    self.t(&format!("{b}.{f}"));
                }
                self.t(")");
            }
            _ => {
                self.expr(depth - 1, bindings);
                let op = self.rng.pick(&[
                    "and",
                    "or",
                    "==",
                    "!=",
                    "<",
                    "<=",
                    ">",
                    ">=",
                    "contains",
                    "starts_with",
                    "ends_with",
                    "+",
                    "-",
                    "*",
                    "/",
                    "%",
                ]);
                self.t(op);
                self.expr(depth - 1, bindings);
            }
        }
    }

    fn record(&mut self, bindings: &[String]) {
        self.t("{");
        let n = self.rng.below(4);
        for i in 0..n {
            let f = self.field();
            self.t(&format!("{f}:"));
            self.expr(2, bindings);
            if i + 1 < n || self.rng.chance(10) {
                self.t(",");
            }
        }
        self.t("}");
    }

    fn where_clause(&mut self, bindings: &[String]) {
        if self.rng.chance(60) {
            self.t("where");
            self.expr(3, bindings);
        }
    }

    fn pattern(&mut self, i: usize) {
        self.t("pattern");
        self.t(&format!("P{i}"));
        let mut clauses = vec!["partition", "within", "skip"];
        for _ in 0..3 {
            let k = self.rng.below(clauses.len());
            clauses.swap(0, k);
        }
        for c in clauses {
            if !self.rng.chance(50) {
                continue;
            }
            match c {
                "partition" => {
                    self.t("partition");
                    self.t("by");
                    let f = self.field();
                    self.t(f);
                    if self.rng.chance(20) {
                        self.t(",");
                        let g = self.field();
                        self.t(g);
                    }
                }
                "within" => {
                    self.t("within");
                    let d = format!(
                        "{}{}",
                        1 + self.rng.below(60),
                        self.rng.pick(&["s", "m", "h", "ms"])
                    );
                    self.t(&d);
                }
                _ => {
                    self.t("skip");
                    let p = self.rng.pick(&["past last", "to next"]);
                    self.t(p);
                }
            }
        }
        self.t("{");
        let mut bindings: Vec<String> = Vec::new();
        let blocks = 1 + self.rng.below(4);
        for b in 0..blocks {
            if b > 0 {
                if self.rng.chance(25) {
                    self.t("not");
                    let e = self.event_name();
                    self.t(e);
                    self.where_clause(&bindings);
                }
                let c = self.rng.pick(&["next", "then", "then any", "then"]);
                self.t(c);
            }
            if self.rng.chance(80) {
                let name = format!("{}{b}", self.rng.pick(&["a", "ups", "_x"]));
                self.t(&format!("{name}:"));
                bindings.push(name);
            }
            let e = self.event_name();
            let q = if b > 0 && self.rng.chance(30) {
                self.rng.pick(&["+", "*", "?", "{2}", "{2,}", "{1,3}"])
            } else {
                ""
            };
            self.t(&format!("{e}{q}"));
            self.where_clause(&bindings);
        }
        if self.rng.chance(30) {
            self.t("not");
            let e = self.event_name();
            self.t(e);
            self.where_clause(&bindings);
            self.t("within");
            self.t("30s");
        }
        if self.rng.chance(30) {
            self.t("halt");
            self.t("on");
            let e = self.event_name();
            self.t(e);
            self.where_clause(&[]);
        }
        if self.rng.chance(80) {
            self.t("emit");
            self.record(&bindings);
        }
        self.t("}");
    }

    fn trigger(&mut self, depth: usize) {
        if depth == 0 || self.rng.chance(50) {
            let e = self.event_name();
            self.t(e);
            return;
        }
        let paren = self.rng.chance(30);
        if paren {
            self.t("(");
        }
        self.trigger(depth - 1);
        let op = self.rng.pick(&["and", "or"]);
        self.t(op);
        self.trigger(depth - 1);
        if paren {
            self.t(")");
        }
    }

    fn step(&mut self, i: usize) {
        self.t("step");
        self.t(&format!("s{i}"));
        self.t("{");
        self.t("on");
        self.trigger(2);
        let trig: Vec<String> = EVENTS.iter().map(|(n, _)| n.to_string()).collect();
        if self.rng.chance(30) {
            self.t("after");
            self.t("30s");
        }
        if self.rng.chance(30) {
            self.t("acquire");
            let r = self.rng.pick(&["pump", "pumps"]);
            self.t(r);
            let n = (1 + self.rng.below(3)).to_string();
            self.t(&n);
        }
        match self.rng.below(3) {
            0 => {
                self.t("run");
                self.t("\"bin/x\"");
                if self.rng.chance(60) {
                    self.t("args");
                    self.t("[");
                    self.expr(1, &trig);
                    self.t("]");
                }
                if self.rng.chance(40) {
                    self.t("with");
                    self.record(&trig);
                }
            }
            1 => {
                self.t("post");
                self.t("\"http://127.0.0.1:9/x\"");
                if self.rng.chance(60) {
                    self.t("body");
                    self.record(&trig);
                }
            }
            _ => {
                self.t("emit");
                let e = self.event_name();
                self.t(e);
                self.record(&trig);
            }
        }
        if self.rng.chance(30) {
            self.t("timeout");
            self.t("10s");
        }
        if self.rng.chance(30) {
            self.t("retry");
            self.t("3");
            if self.rng.chance(50) {
                self.t("backoff");
                self.t("1s");
            }
        }
        if self.rng.chance(40) {
            self.t("on");
            let st = self
                .rng
                .pick(&["ready", "active", "success", "failure", "complete"]);
            self.t(st);
            self.t("emit");
            let e = self.event_name();
            self.t(e);
            self.record(&trig);
        }
        if self.rng.chance(30) {
            self.t("recover");
            self.t("{");
            let st = self
                .rng
                .pick(&["ready", "active", "success", "failure", "complete"]);
            self.t(&format!("{st}:"));
            let r = self.rng.pick(&["rerun", "skip"]);
            self.t(r);
            self.t("}");
        }
        self.t("}");
    }

    fn process(&mut self, i: usize) {
        self.t("process");
        self.t(&format!("Pr{i}"));
        self.t("by");
        let key = self.field();
        self.t(key);
        self.t("{");
        self.t("activities");
        let acts: Vec<&str> = (0..1 + self.rng.below(3))
            .map(|_| self.event_name())
            .collect();
        for (k, a) in acts.iter().enumerate() {
            if k > 0 {
                self.t(",");
            }
            self.t(a);
        }
        if self.rng.chance(30) {
            self.t("idle");
            let d = self.rng.pick(&["30m", "720h", "1ms", "0s"]);
            self.t(d);
        }
        if self.rng.chance(40) {
            let m = self.rng.pick(&["pending", "excluded", "executed"]);
            self.t(m);
            let a = self.rng.pick(&acts);
            self.t(a);
        }
        for _ in 0..self.rng.below(4) {
            let a = self.rng.pick(&acts);
            let arrow = self.rng.pick(&["-->*", "*-->", "-->+", "-->%", "--<>"]);
            let b = self.event_name();
            self.t(a);
            self.t(arrow);
            self.t(b);
        }
        self.t("}");
    }

    fn file(&mut self) -> String {
        for (name, fields) in EVENTS {
            if self.rng.chance(10) {
                continue;
            }
            self.t("event");
            self.t(name);
            self.t("{");
            for (k, (f, ty)) in fields.iter().enumerate() {
                if k > 0 {
                    self.t(",");
                }
                let ty = if self.rng.chance(3) { "double" } else { ty };
                self.t(&format!("{f}:"));
                self.t(ty);
            }
            self.t("}");
        }
        if self.rng.chance(70) {
            self.t("resource");
            self.t("pump");
            self.t("capacity");
            self.t("2");
        }
        for i in 0..self.rng.below(4) {
            match self.rng.below(4) {
                0 | 1 => self.pattern(i),
                2 => self.step(i),
                _ => self.process(i),
            }
        }
        // Join with random layout: spaces, line breaks, blank lines,
        // trailing and own-line comments.
        let mut out = String::new();
        let toks = std::mem::take(&mut self.toks);
        for (k, tok) in toks.iter().enumerate() {
            if k > 0 {
                let sep = match self.rng.below(20) {
                    0..=12 => " ",
                    13..=15 => "\n    ",
                    16 => "\n\n",
                    17 => "  // note\n",
                    18 => "\n// own line\n",
                    _ => "\t",
                };
                out.push_str(sep);
            }
            out.push_str(tok);
        }
        out.push('\n');
        out
    }
}

fn comment_texts(file: &cep_grammar::ast::File) -> Vec<String> {
    file.comments
        .iter()
        .map(|c| c.text.trim_end().to_string())
        .collect()
}

fn check_spans(text: &str, diags: &[Diagnostic]) -> Result<(), String> {
    for d in diags {
        for l in &d.labels {
            let (s, e) = (l.span.start as usize, l.span.end as usize);
            if l.span.file != FileId(0)
                || s > e
                || e > text.len()
                || !text.is_char_boundary(s)
                || !text.is_char_boundary(e)
            {
                return Err(format!(
                    "{} `{}`: label span {:?} is not a char range of the {}-byte text",
                    d.code,
                    d.message,
                    l.span,
                    text.len()
                ));
            }
        }
    }
    Ok(())
}

/// Checks every property for one input; `Err` says which one failed,
/// `Ok(true)` that the input parsed and the formatter was checked too.
fn check(text: &str) -> Result<bool, String> {
    let compiled = catch_unwind(AssertUnwindSafe(|| {
        cep_compiler::compile_str("prop.cep", text)
    }))
    .map_err(|_| "compile_str panicked".to_string())?;
    check_spans(text, &compiled.diagnostics)?;

    let parsed = catch_unwind(AssertUnwindSafe(|| parse(FileId(0), text)))
        .map_err(|_| "parse panicked".to_string())?;
    check_spans(text, &parsed.errors)?;
    if !parsed.errors.is_empty() {
        return Ok(false);
    }
    let once = match catch_unwind(AssertUnwindSafe(|| format_source(text))) {
        Err(_) => return Err("format_source panicked".into()),
        Ok(Err(e)) => return Err(format!("format_source failed on a text that parses: {e:?}")),
        Ok(Ok(f)) => f,
    };
    let reparsed = parse(FileId(0), &once);
    if !reparsed.errors.is_empty() {
        return Err(format!(
            "the formatted text does not parse: {:?}\n--- formatted ---\n{once}",
            reparsed
                .errors
                .iter()
                .map(|d| &d.message)
                .collect::<Vec<_>>()
        ));
    }
    if reparsed.file.decls != parsed.file.decls {
        return Err(format!(
            "formatting changed the syntax tree\n--- formatted ---\n{once}"
        ));
    }
    let twice = catch_unwind(AssertUnwindSafe(|| format_source(&once)))
        .map_err(|_| "format_source panicked on its own output".to_string())?
        .map_err(|e| format!("formatting the formatted text failed: {e:?}"))?;
    if twice != once {
        return Err(format!(
            "formatting is not idempotent\n--- once ---\n{once}\n--- twice ---\n{twice}"
        ));
    }
    let (before, after) = (comment_texts(&parsed.file), comment_texts(&reparsed.file));
    if before != after {
        return Err(format!(
            "comments changed: {before:?} became {after:?}\n--- formatted ---\n{once}"
        ));
    }
    Ok(true)
}

struct Failures {
    list: Vec<String>,
    cases: usize,
    clean: usize,
}

impl Failures {
    fn run(&mut self, case: String, text: &str) {
        self.cases += 1;
        match check(text) {
            Ok(clean) => self.clean += usize::from(clean),
            Err(why) => self.list.push(format!(
                "{case}: {why}\n--- input ({} bytes) ---\n{text}\n--- end ---",
                text.len()
            )),
        }
    }

    fn assert_none(self, what: &str) {
        eprintln!(
            "{what}: {} cases, {} parsed and were formatted, {} failed",
            self.cases,
            self.clean,
            self.list.len()
        );
        let shown: Vec<&String> = self.list.iter().take(SHOWN_FAILURES).collect();
        assert!(
            self.list.is_empty(),
            "{what}: {} of {} cases fail; the first {}:\n\n{}",
            self.list.len(),
            self.cases,
            shown.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n\n")
        );
    }
}

#[test]
fn token_soup() {
    let mut f = Failures {
        list: Vec::new(),
        cases: 0,
        clean: 0,
    };
    let mut rng = Rng::new(0x05EE_DCE9);
    for i in 0..SOUP_CASES {
        let text = soup(&mut rng);
        f.run(format!("soup #{i}"), &text);
    }
    assert_eq!(f.cases, SOUP_CASES);
    f.assert_none("token soup");
}

#[test]
fn corpus_mutations() {
    let texts = corpus_texts();
    assert!(!texts.is_empty(), "no corpus files");
    let mut f = Failures {
        list: Vec::new(),
        cases: 0,
        clean: 0,
    };
    for (fi, (path, text)) in texts.iter().enumerate() {
        // The file itself first.
        f.run(format!("{path} (unchanged)"), text);
        let mut rng = Rng::new(0xC0FFEE + fi as u64);
        for i in 0..MUTATIONS_PER_FILE {
            let m = mutate(&mut rng, text);
            f.run(format!("{path} mutation #{i}"), &m);
        }
    }
    // Many mutations keep the file parsing: the formatter properties must
    // have been exercised, not only the no-panic ones.
    assert!(
        f.clean * 10 >= f.cases,
        "only {} of {} mutated files parse",
        f.clean,
        f.cases
    );
    f.assert_none("corpus mutations");
}

#[test]
fn generated_files() {
    let mut f = Failures {
        list: Vec::new(),
        cases: 0,
        clean: 0,
    };
    let mut rng = Rng::new(0x6E4E_4A7E);
    let mut compiled = 0;
    for i in 0..GENERATED_CASES {
        let text = Gen {
            rng: &mut rng,
            toks: Vec::new(),
        }
        .file();
        let c = catch_unwind(AssertUnwindSafe(|| {
            cep_compiler::compile_str("gen.cep", &text)
        }));
        if c.is_ok_and(|c| c.program.is_some()) {
            compiled += 1;
        }
        f.run(format!("generated #{i}"), &text);
    }
    eprintln!(
        "generated files: {compiled} of {} compiled to a program",
        f.cases
    );
    // Most of them parse, and some get through to lowering.
    assert!(
        f.clean * 2 >= f.cases,
        "only {} of {} generated files parse",
        f.clean,
        f.cases
    );
    assert!(
        compiled * 20 >= f.cases,
        "only {compiled} of {} generated files compile",
        f.cases
    );
    f.assert_none("generated files");
}
