//! Rendering diagnostics: ariadne reports for people, JSON for tools.
//!
//! This is the only place diagnostics are turned into text. Spans are byte
//! offsets into the files of a [`SourceMap`]; line and column numbers are
//! 1-based, columns counting characters.

use ariadne::{Color, Config, IndexType, Label, Report, ReportKind, Source};
use cep_grammar::{Diagnostic, FileId, LineCol, Severity, SourceMap, Span};
use serde::Serialize;
use std::fmt;
use std::ops::Range;

/// Whether output to a stream should be coloured: only for a terminal, and
/// never when `NO_COLOR` is set to a non-empty value.
pub fn use_color(is_terminal: bool) -> bool {
    let no_color = match std::env::var_os("NO_COLOR") {
        Some(v) => !v.is_empty(),
        None => false,
    };
    is_terminal && !no_color
}

/// Every diagnostic as an ariadne report (`error[CEP004]: ...`, the
/// `file:line:column` header, the labelled source lines, help and notes),
/// then a summary line such as `error: 2 errors and 1 warning emitted`.
/// Empty when there are no diagnostics.
pub fn human(sources: &SourceMap, diags: &[Diagnostic], color: bool) -> String {
    let mut out = String::new();
    if diags.is_empty() {
        return out;
    }
    let mut cache = Files::new(sources);
    for d in diags {
        out.push_str(&report(&mut cache, sources, d, color));
    }
    let (errors, warnings) = counts(diags);
    let summary = summary(errors, warnings);
    let head = if errors > 0 { "error" } else { "warning" };
    if color {
        let code = if errors > 0 { "31" } else { "33" };
        out.push_str(&format!("\x1b[1;{code}m{head}\x1b[0m: {summary}\n"));
    } else {
        out.push_str(&format!("{head}: {summary}\n"));
    }
    out
}

/// `2 errors and 1 warning emitted`.
pub fn summary(errors: usize, warnings: usize) -> String {
    let e = plural(errors, "error", "errors");
    let w = plural(warnings, "warning", "warnings");
    match (errors, warnings) {
        (0, 0) => "no problems found".to_string(),
        (_, 0) => format!("{e} emitted"),
        (0, _) => format!("{w} emitted"),
        _ => format!("{e} and {w} emitted"),
    }
}

/// `1 file`, `2 files`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// (errors, warnings)
pub fn counts(diags: &[Diagnostic]) -> (usize, usize) {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    (errors, diags.len() - errors)
}

fn report(cache: &mut Files, sources: &SourceMap, d: &Diagnostic, color: bool) -> String {
    let (word, kind_color, label_color) = match d.severity {
        Severity::Error => ("error", Color::Red, Color::Red),
        Severity::Warning => ("warning", Color::Yellow, Color::Yellow),
    };
    let header = format!("{word}[{}]", d.code.as_str());
    let config = Config::default()
        .with_color(color)
        .with_index_type(IndexType::Byte);

    // Labels in files we do not have cannot be drawn; their text is kept
    // as a note so that nothing the compiler said is lost.
    let mut drawn: Vec<(&cep_grammar::Label, (u32, Range<usize>))> = Vec::new();
    let mut lost = Vec::new();
    for l in &d.labels {
        match byte_range(sources, l.span) {
            Some(r) => drawn.push((l, (l.span.file.0, r))),
            None if !l.message.is_empty() => lost.push(l.message.clone()),
            None => {}
        }
    }
    if drawn.is_empty() {
        return plain_report(&header, d, &lost, color);
    }
    // Labels in source order, so that ariadne draws them in one group per
    // file rather than starting a new group for each step back.
    drawn.sort_by_key(|(l, (file, r))| (*file, r.start, r.end, !l.primary));
    let main_span = drawn
        .iter()
        .find(|(l, _)| l.primary)
        .or(drawn.first())
        .map(|(_, s)| s.clone())
        .unwrap_or((0, 0..0));

    let mut b = Report::build(ReportKind::Custom(&header, kind_color), main_span)
        .with_config(config)
        .with_message(&d.message);
    for (l, span) in drawn {
        let mut label =
            Label::new(span).with_color(if l.primary { label_color } else { Color::Blue });
        if l.primary {
            label = label.with_priority(1);
        }
        // A label without text still gets its underline and arrow.
        label = label.with_message(&l.message);
        b = b.with_label(label);
    }
    if let Some(h) = &d.help {
        b = b.with_help(h);
    }
    for n in d.notes.iter().chain(lost.iter()) {
        b = b.with_note(n);
    }
    let mut buf = Vec::new();
    if b.finish().write(&mut *cache, &mut buf).is_err() {
        // Writing into a Vec cannot fail; fall back to one plain line.
        return format!("{header}: {}\n", d.message);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    if color {
        text
    } else {
        // A custom report kind is painted whatever the config says.
        strip_ansi(&text)
    }
}

/// A diagnostic with no source to show: the header, help and notes.
fn plain_report(header: &str, d: &Diagnostic, lost: &[String], color: bool) -> String {
    let mut out = if color {
        let code = if d.is_error() { "31" } else { "33" };
        format!("\x1b[1;{code}m{header}\x1b[0m: {}\n", d.message)
    } else {
        format!("{header}: {}\n", d.message)
    };
    if let Some(h) = &d.help {
        out.push_str(&format!("  = help: {h}\n"));
    }
    for n in d.notes.iter().chain(lost) {
        out.push_str(&format!("  = note: {n}\n"));
    }
    out
}

/// The span as a byte range that lies inside its file and on character
/// boundaries, or `None` when the file is not in the map.
fn byte_range(sources: &SourceMap, span: Span) -> Option<Range<usize>> {
    let text = &sources.get(span.file)?.text;
    let fix = |mut i: usize| {
        i = i.min(text.len());
        while i > 0 && !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = fix(span.start as usize);
    let end = fix(span.end as usize).max(start);
    Some(start..end)
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// An ariadne cache over the files of a [`SourceMap`], keyed by file id and
/// shown by file name.
struct Files<'a> {
    files: Vec<(String, Source<&'a str>)>,
}

impl<'a> Files<'a> {
    fn new(sources: &'a SourceMap) -> Files<'a> {
        Files {
            files: sources
                .iter()
                .map(|(_, f)| (f.name.clone(), Source::from(f.text.as_str())))
                .collect(),
        }
    }
}

impl<'a> ariadne::Cache<u32> for Files<'a> {
    type Storage = &'a str;

    fn fetch(&mut self, id: &u32) -> Result<&Source<&'a str>, impl fmt::Debug> {
        self.files
            .get(*id as usize)
            .map(|(_, s)| s)
            .ok_or_else(|| format!("no file with id {id}"))
    }

    fn display<'b>(&self, id: &'b u32) -> Option<impl fmt::Display + 'b> {
        Some(
            self.files
                .get(*id as usize)
                .map(|(n, _)| n.clone())
                .unwrap_or_else(|| format!("<file {id}>")),
        )
    }
}

// ---- JSON ------------------------------------------------------------------------

#[derive(Serialize)]
struct JsonDoc<'a> {
    diagnostics: Vec<JsonDiagnostic<'a>>,
    errors: usize,
    warnings: usize,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'static str,
    severity: Severity,
    message: &'a str,
    help: Option<&'a str>,
    notes: &'a [String],
    labels: Vec<JsonLabel<'a>>,
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    file: Option<&'a str>,
    /// Byte offsets.
    start: u32,
    end: u32,
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
    primary: bool,
    message: &'a str,
}

/// One JSON document: `{"diagnostics": [...], "errors": n, "warnings": n}`.
/// Each diagnostic has `code`, `severity`, `message`, `help` (or null),
/// `notes`, and `labels`, each with `file`, byte `start`/`end`, 1-based
/// `start_line`/`start_column`/`end_line`/`end_column`, `primary` and
/// `message`.
pub fn json(sources: &SourceMap, diags: &[Diagnostic]) -> String {
    let (errors, warnings) = counts(diags);
    let doc = JsonDoc {
        diagnostics: diags
            .iter()
            .map(|d| JsonDiagnostic {
                code: d.code.as_str(),
                severity: d.severity,
                message: &d.message,
                help: d.help.as_deref(),
                notes: &d.notes,
                labels: d.labels.iter().map(|l| json_label(sources, l)).collect(),
            })
            .collect(),
        errors,
        warnings,
    };
    match serde_json::to_string_pretty(&doc) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
    }
}

fn json_label<'a>(sources: &'a SourceMap, l: &'a cep_grammar::Label) -> JsonLabel<'a> {
    let file = sources.get(l.span.file);
    let lc = |offset: u32| {
        file.map(|f| f.line_col(offset as usize))
            .unwrap_or(LineCol { line: 0, column: 0 })
    };
    let (start, end) = (lc(l.span.start), lc(l.span.end));
    JsonLabel {
        file: file.map(|f| f.name.as_str()),
        start: l.span.start,
        end: l.span.end,
        start_line: start.line,
        start_column: start.column,
        end_line: end.line,
        end_column: end.column,
        primary: l.primary,
        message: &l.message,
    }
}

/// A map holding one file, for the diagnostics of a single text (the
/// formatter's), and that file's id.
pub fn single_file(name: &str, text: &str) -> (SourceMap, FileId) {
    let mut m = SourceMap::new();
    let id = m.add(name, text);
    (m, id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use cep_grammar::Code;

    fn sample() -> (SourceMap, Vec<Diagnostic>) {
        let text = "event T { celsius: float }\npattern P { a: T where é celsuis > 3 }\n";
        let (m, id) = single_file("t.cep", text);
        let start = text.find("celsuis").unwrap_or(0);
        let d = Diagnostic::new(
            Code::UnknownField,
            Span::new(id, start, start + "celsuis".len()),
            "`T` has no field `celsuis`",
        )
        .label("unknown field")
        .also(Span::new(id, 6, 7), "`T` is declared here")
        .help("did you mean `celsius`?")
        .note("the fields of `T` are: celsius");
        (m, vec![d])
    }

    #[test]
    fn human_names_the_place_and_the_code() {
        let (m, d) = sample();
        let out = human(&m, &d, false);
        assert!(
            out.starts_with("error[CEP004]: `T` has no field `celsuis`\n"),
            "{out}"
        );
        // Byte offsets are not character offsets: `é` is two bytes.
        assert!(out.contains("t.cep:2:26"), "{out}");
        assert_eq!(out.matches("t.cep:").count(), 1, "one group: {out}");
        assert!(out.contains("unknown field"), "{out}");
        assert!(out.contains("`T` is declared here"), "{out}");
        assert!(out.contains("did you mean `celsius`?"), "{out}");
        assert!(out.contains("the fields of `T` are: celsius"), "{out}");
        assert!(out.ends_with("error: 1 error emitted\n"), "{out}");
        assert!(!out.contains('\x1b'), "{out}");
        assert!(human(&m, &d, true).contains('\x1b'));
        assert_eq!(human(&m, &[], false), "");
    }

    #[test]
    fn json_has_offsets_and_positions() {
        let (m, d) = sample();
        let v: serde_json::Value = serde_json::from_str(&json(&m, &d)).unwrap();
        assert_eq!(v["errors"], 1);
        assert_eq!(v["warnings"], 0);
        let d0 = &v["diagnostics"][0];
        assert_eq!(d0["code"], "CEP004");
        assert_eq!(d0["severity"], "error");
        assert_eq!(d0["help"], "did you mean `celsius`?");
        let l = &d0["labels"][0];
        assert_eq!(l["file"], "t.cep");
        assert_eq!(l["start"], 53);
        assert_eq!(l["end"], 60);
        assert_eq!(l["start_line"], 2);
        assert_eq!(l["start_column"], 26);
        assert_eq!(l["end_column"], 33);
        assert_eq!(l["primary"], true);
        assert_eq!(d0["labels"][1]["primary"], false);
    }

    #[test]
    fn odd_spans_do_not_panic() {
        let (m, id) = single_file("x.cep", "aé");
        let diags = vec![
            Diagnostic::new(Code::Syntax, Span::new(id, 2, 99), "past the end"),
            Diagnostic::new(Code::Syntax, Span::new(FileId(7), 0, 1), "no such file")
                .label("lost label"),
            Diagnostic {
                labels: vec![],
                ..Diagnostic::new(Code::StepCycle, Span::default(), "no labels")
            },
        ];
        let out = human(&m, &diags, false);
        eprintln!("{out}");
        assert!(out.contains("past the end"), "{out}");
        assert!(out.contains("lost label"), "{out}");
        assert!(out.contains("warning[CEP013]: no labels"), "{out}");
        assert!(
            out.ends_with("error: 2 errors and 1 warning emitted\n"),
            "{out}"
        );
        let _ = json(&m, &diags);

        let text = "event T {\r\n  x: int\r\n  y: é\n";
        let (m, id) = single_file("crlf.cep", text);
        let n = text.len();
        let diags: Vec<Diagnostic> = [(n, n), (8, 11), (0, n), (n - 2, n), (n - 3, n - 1)]
            .into_iter()
            .map(|(a, b)| {
                Diagnostic::new(Code::Syntax, Span::new(id, a, b), format!("span {a}..{b}"))
                    .label("here")
            })
            .collect();
        let out = human(&m, &diags, false);
        eprintln!("{out}");
        assert_eq!(out.matches("here").count(), diags.len(), "{out}");
    }

    #[test]
    fn summaries() {
        assert_eq!(summary(2, 1), "2 errors and 1 warning emitted");
        assert_eq!(summary(0, 2), "2 warnings emitted");
        assert_eq!(strip_ansi("\x1b[31merror\x1b[0m: x"), "error: x");
    }
}
