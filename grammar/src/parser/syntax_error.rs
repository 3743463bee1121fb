//! Syntax errors in the author's words: pest's expectations are mapped
//! from rule names to what the author could write.

use super::{mistakes, Cx, Rule};
use crate::diagnostic::{Code, Diagnostic};
use pest::error::{ErrorVariant, InputLocation};

// ---- errors ------------------------------------------------------------------

/// `src` is the whole file; pest parsed the part of it that starts at
/// `cx.offset`, so positions are relative to that.
/// `end` is where that part ends.
pub(super) fn syntax_error(
    cx: &Cx,
    src: &str,
    end: usize,
    e: pest::error::Error<Rule>,
) -> Diagnostic {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    // A character the grammar never accepts is the cause wherever pest
    // noticed.
    if let Some(d) = mistakes::non_ascii(cx, src.get(cx.offset..end).unwrap_or("")) {
        return d;
    }
    // Describe what follows in the whole file, not only in the part that
    // was parsed (which ends where the next declaration starts).
    let text = src.get(cx.offset..).unwrap_or("");
    let no_rules: &[Rule] = &[];
    let positives = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.as_slice(),
        ErrorVariant::CustomError { .. } => no_rules,
    };
    if let Some(d) = mistakes::at_error(cx, text, pos, positives) {
        return d;
    }
    // Point at the whole offending token, not one character.
    let tok_end = token_end(text, pos);
    let span = cx.span(pos, tok_end);
    let found = describe_found(text, pos, tok_end);
    let (expected, unexpected) = match &e.variant {
        ErrorVariant::ParsingError {
            positives,
            negatives,
        } => (words_for(positives), words_for(negatives)),
        ErrorVariant::CustomError { message } => (vec![message.clone()], Vec::new()),
    };
    let mut message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&expected))
    };
    if !unexpected.is_empty() && expected.is_empty() {
        message = format!("{} is not allowed here", join_or(&unexpected));
    }
    let mut d = Diagnostic::new(Code::Syntax, span, message).label(if expected.is_empty() {
        "not expected here".to_string()
    } else {
        format!("expected {}", join_or(&expected))
    });
    if let Some(h) = syntax_help(text, pos, &expected) {
        d = d.help(h);
    } else if let Some(h) = mistakes::keyword_help(&word_at(text, pos), positives) {
        d = d.help(h);
    } else if let Some((m, h)) = mistakes::foreign_word(&word_at(text, pos)) {
        d = Diagnostic::new(Code::Syntax, span, m)
            .label(format!("expected {}", join_or(&expected)))
            .help(h);
    } else if let Some(earlier) = mistakes::earlier_word(cx, text, pos) {
        return earlier;
    }
    d
}

/// The name-like ASCII word at `pos`.
fn word_at(text: &str, pos: usize) -> String {
    text.get(pos..)
        .unwrap_or("")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn syntax_help(text: &str, pos: usize, expected: &[String]) -> Option<String> {
    let word: String = text
        .get(pos..)
        .unwrap_or("")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    const RESERVED: &[&str] = &[
        "and",
        "or",
        "not",
        "true",
        "false",
        "contains",
        "starts_with",
        "ends_with",
        "next",
        "then",
        "any",
        "halt",
        "emit",
        "where",
    ];
    if matches!(
        word.as_str(),
        "event" | "pattern" | "resource" | "step" | "process"
    ) && expected.iter().any(|e| e == "`}`")
    {
        return Some("the declaration before this one is not closed: add its `}`".into());
    }
    if matches!(word.as_str(), "halt" | "emit" | "on")
        && expected.iter().any(|e| e.contains("the end of the group"))
    {
        return Some(format!(
            "a group's body holds blocks, negations and groups; `{word}` belongs to the pattern, after the group's `)`"
        ));
    }
    if RESERVED.contains(&word.as_str()) && expected.iter().any(|e| e.contains("name")) {
        return Some(format!("`{word}` is a reserved word; choose another name"));
    }
    if expected.iter().any(|e| e.contains("duration"))
        && word.chars().next().is_some_and(|c| c.is_ascii_digit())
    {
        return Some("durations are written with a unit: `500ms`, `10s`, `5m`, `1h`".into());
    }
    if expected.iter().any(|e| e.contains("`next`")) && !word.is_empty() {
        return Some("every block after the first starts with `next`, `then` or `then any`".into());
    }
    None
}

fn token_end(text: &str, pos: usize) -> usize {
    let rest = text.get(pos..).unwrap_or("");
    let mut chars = rest.char_indices();
    match chars.next() {
        None => pos,
        Some((_, c)) if c.is_ascii_alphanumeric() || c == '_' => {
            pos + rest
                .char_indices()
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
                .map(|(i, _)| i)
                .unwrap_or(rest.len())
        }
        Some((_, c)) => pos + c.len_utf8(),
    }
}

fn describe_found(text: &str, pos: usize, end: usize) -> String {
    match text.get(pos..end) {
        None | Some("") => "the end of the file".into(),
        Some("\n") | Some("\r") => "the end of the line".into(),
        Some(s) => format!("`{s}`"),
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

fn words_for(rules: &[Rule]) -> Vec<String> {
    // Where an expression may start, say so once rather than listing every
    // kind of literal.
    let expression_start = |r: &Rule| {
        matches!(
            r,
            Rule::expr
                | Rule::time_lit
                | Rule::duration
                | Rule::float
                | Rule::int
                | Rule::string
                | Rule::boolean
                | Rule::call
                | Rule::paren
                | Rule::op_not
                | Rule::op_neg
        )
    };
    let collapse = rules.iter().filter(|r| expression_start(r)).count() > 2;
    let mut out: Vec<String> = Vec::new();
    if collapse {
        out.push("an expression".to_string());
    }
    let rules: Vec<Rule> = rules
        .iter()
        .copied()
        .filter(|r| !(collapse && (expression_start(r) || *r == Rule::ident)))
        .collect();
    let rules = &rules[..];
    for r in rules {
        let w = rule_words(*r).to_string();
        if !w.is_empty() && !out.contains(&w) {
            out.push(w);
        }
    }
    // The words that start declarations, in the order the docs give them.
    let rank = |w: &String| {
        ["`event`", "`pattern`", "`resource`", "`step`", "`process`"]
            .iter()
            .position(|d| d == w)
    };
    let mut decls: Vec<String> = out.iter().filter(|w| rank(w).is_some()).cloned().collect();
    decls.sort_by_key(|w| rank(w));
    let mut decls = decls.into_iter();
    for w in out.iter_mut() {
        if rank(w).is_some() {
            if let Some(d) = decls.next() {
                *w = d;
            }
        }
    }
    out
}

/// What each rule means to an author. Internal rules map to the nearest
/// thing the author could write.
fn rule_words(r: Rule) -> &'static str {
    match r {
        Rule::EOI => "the end of the file",
        Rule::time_lit => "a time (`@2026-01-01T00:00:00Z`)",
        // Where a declaration may start, the pattern's (which may begin
        // with `private`) is reported whole.
        Rule::pattern_decl => "`pattern`",
        Rule::file
        | Rule::event_decl
        | Rule::resource_decl
        | Rule::step_decl
        | Rule::process_decl => {
            "a declaration (`event`, `pattern`, `resource`, `step` or `process`)"
        }
        Rule::kw_event => "`event`",
        // `private` is an optional word before `pattern`.
        Rule::kw_pattern | Rule::private_mark => "`pattern`",
        Rule::kw_resource => "`resource`",
        Rule::kw_capacity => "`capacity`",
        Rule::kw_step => "`step`",
        Rule::kw_process => "`process`",
        Rule::kw_partition | Rule::partition_clause => "`partition by`",
        Rule::kw_by => "`by`",
        Rule::kw_within | Rule::within_clause => "`within`",
        Rule::kw_skip | Rule::skip_clause => "`skip`",
        Rule::kw_past | Rule::skip_past_last => "`past last`",
        Rule::kw_last => "`last`",
        Rule::kw_to | Rule::skip_to_next => "`to next`",
        Rule::kw_next => "`next`",
        Rule::kw_then => "`then`",
        Rule::kw_any | Rule::then_any => "`then any`",
        Rule::contiguity => "`next`, `then` or `then any`",
        Rule::kw_not | Rule::negation => "`not`",
        Rule::kw_halt | Rule::halt_item => "`halt on`",
        Rule::kw_on => "`on`",
        Rule::timeout_item | Rule::kw_on_timeout => "`on timeout emit`",
        Rule::kw_emit | Rule::emit_item | Rule::emit_clause => "`emit`",
        Rule::kw_where | Rule::where_clause => "`where`",
        Rule::kw_after | Rule::after_clause => "`after`",
        Rule::kw_acquire | Rule::acquire_clause => "`acquire`",
        Rule::kw_run | Rule::run_clause => "`run`",
        Rule::kw_args | Rule::run_args => "`args [...]`",
        Rule::kw_with | Rule::run_env => "`with { ... }`",
        Rule::kw_post | Rule::post_clause => "`post`",
        Rule::kw_body => "`body`",
        Rule::kw_timeout | Rule::timeout_clause => "`timeout`",
        Rule::kw_retry | Rule::retry_clause => "`retry`",
        Rule::kw_backoff => "`backoff`",
        Rule::kw_recover | Rule::recover_clause => "`recover`",
        Rule::recover_entry | Rule::status => {
            "a step status (`ready`, `active`, `success`, `failure` or `complete`)"
        }
        Rule::recovery => "`rerun` or `skip`",
        Rule::on_status | Rule::on_trigger => "`on`",
        Rule::kw_activities | Rule::activities => "`activities`",
        Rule::kw_idle | Rule::idle => "`idle`",
        Rule::marking | Rule::initial_marking => "`pending`, `excluded` or `executed`",
        Rule::relation_arrow => "a relation arrow (`-->*`, `*-->`, `-->+`, `-->%` or `--<>`)",
        Rule::relation => "a relation such as `A -->* B`",
        Rule::ident | Rule::binding | Rule::block => "a name",
        Rule::group | Rule::group_open => "`(` (a group)",
        Rule::group_close => "`)` (the end of the group)",
        Rule::reserved => "a reserved word",
        Rule::field_decl => "a field such as `name: str`",
        Rule::duration | Rule::duration_amount => "a duration such as `10s`",
        Rule::duration_unit => "a duration unit (`ms`, `s`, `m` or `h`)",
        Rule::int | Rule::quant_min | Rule::quant_max => "a whole number",
        Rule::float => "a number",
        Rule::string | Rule::string_inner => "a string in double quotes",
        Rule::boolean => "`true` or `false`",
        Rule::quantifier
        | Rule::quant_plus
        | Rule::quant_star
        | Rule::quant_opt
        | Rule::quant_braces => "a quantifier (`+`, `*`, `?` or `{n,m}`)",
        Rule::quant_reluctant => "`?` (reluctant)",
        Rule::block_mod => "`greedy`, `consecutive` or `any`",
        Rule::quant_comma => "`,`",
        Rule::record | Rule::field_init => "`{ name: value, ... }`",
        Rule::expr | Rule::paren | Rule::call | Rule::op_not | Rule::op_neg => "an expression",
        Rule::field_access => "`.field`",
        Rule::op_or
        | Rule::op_and
        | Rule::op_eq
        | Rule::op_ne
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_contains
        | Rule::op_starts_with
        | Rule::op_ends_with
        | Rule::op_add
        | Rule::op_sub
        | Rule::op_mul
        | Rule::op_div
        | Rule::op_rem => "an operator",
        Rule::trigger | Rule::trigger_and => "an event name",
        Rule::emit_target => "an event name",
        Rule::close => "`}`",
        _ => "",
    }
}
