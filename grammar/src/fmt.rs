//! The canonical formatter behind `cep fmt`.
//!
//! The layout is the one of `rules/language-sketch.cep`, which formats to
//! itself. Formatting never changes meaning (the re-parsed tree is equal to
//! the original one), never loses or reorders a comment, and is idempotent.
//!
//! How it works: every declaration is printed as a list of [`Line`]s of code,
//! each carrying the source byte range ("anchor") of the code it prints.
//! Comments are then attached by position: a comment after a line's code on
//! the same source line stays a trailing comment of that line; any other
//! comment becomes an own-line comment before the next line (a comment that
//! sat inside a line's code goes just before that line). Blank lines are kept
//! (collapsed to one) where the source had them and the position allows
//! them. Last, runs of one-line events and of process relations are aligned.

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::span::FileId;

/// Spaces per indentation level.
const INDENT: usize = 4;
/// Line width for wrapping (trailing comments do not count).
const WIDTH: usize = 80;

/// Parses `src` (as [`FileId`] 0) and formats it; returns the syntax errors
/// if there are any.
///
/// A byte order mark at the start of `src` is kept in the output, and is
/// not part of the text the diagnostics' spans point into (as in
/// [`crate::SourceFile`]).
pub fn format_source(src: &str) -> Result<String, Vec<Diagnostic>> {
    let (bom, body) = match src.strip_prefix(crate::parser::BOM) {
        Some(body) => (src.get(..src.len() - body.len()).unwrap_or(""), body),
        None => ("", src),
    };
    let parsed = crate::parser::parse(FileId(0), body);
    if !parsed.errors.is_empty() {
        return Err(parsed.errors);
    }
    Ok(format!("{bom}{}", format_file(body, &parsed.file)))
}

/// Formats `file`, which was parsed from `src` without syntax errors.
pub fn format_file(src: &str, file: &File) -> String {
    let mut comments: Vec<&Comment> = file.comments.iter().collect();
    comments.sort_by_key(|c| c.span.start);
    let mut p = Printer {
        src,
        comments,
        lines: Vec::new(),
        eof: Vec::new(),
    };
    for (i, d) in file.decls.iter().enumerate() {
        p.decl(d, i == 0);
    }
    p.finish()
}

// ---- lines -------------------------------------------------------------------

/// Where a line sits, which decides where blank lines may go around the
/// comments before it and how those comments are indented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The first line of a declaration.
    Decl { first: bool },
    /// The first line of an item of a body (pattern item, step clause,
    /// process item, field of a multi-line event).
    Item { first: bool },
    /// The `}` that closes a body.
    Close { empty: bool },
    /// Any other line: header clauses, a lone `{`, record continuations.
    Cont,
}

impl Kind {
    /// (blank lines allowed between the comments before the line, a blank
    /// line allowed after the previous line, a blank line allowed just
    /// before this line)
    fn blanks(self) -> (bool, bool, bool) {
        match self {
            Kind::Decl { first } => (true, !first, true),
            Kind::Item { first } => (true, !first, true),
            Kind::Close { empty } => (true, !empty, false),
            Kind::Cont => (false, false, false),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Align {
    /// A one-line event: the `{` of a run line up.
    Event,
    /// A process relation: the arrows of a run line up.
    Relation,
}

/// What goes before a line: a blank line or an own-line comment.
#[derive(Clone, Copy, Debug)]
enum Pre {
    Blank,
    Comment(usize),
}

#[derive(Debug)]
struct Line {
    indent: usize,
    /// The code before the alignment padding (all of it when not aligned).
    head: String,
    /// The code after the alignment padding.
    tail: String,
    align: Option<Align>,
    pad: usize,
    /// Source byte range of the code printed on this line.
    start: usize,
    end: usize,
    /// A comment on the same source line as this position (and after it)
    /// also trails this line: the end of punctuation printed on the line
    /// but not covered by `end` (a `{` or a record's `}`).
    trail_from: usize,
    kind: Kind,
    before: Vec<Pre>,
    trailing: Option<usize>,
}

struct Printer<'a> {
    src: &'a str,
    comments: Vec<&'a Comment>,
    lines: Vec<Line>,
    /// What comes after the last line: comments at the end of the file.
    eof: Vec<Pre>,
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn start_of<T>(n: &crate::span::Node<T>) -> usize {
    n.span.start as usize
}

/// One entry of a record-like list: its text and source range.
struct Entry {
    text: String,
    start: usize,
    end: usize,
}

impl Printer<'_> {
    fn push(&mut self, indent: usize, code: String, start: usize, end: usize, kind: Kind) {
        self.lines.push(Line {
            indent,
            head: code,
            tail: String::new(),
            align: None,
            pad: 0,
            start,
            end,
            trail_from: end,
            kind,
            before: Vec::new(),
            trailing: None,
        });
    }

    /// The end of the code of a node: pest spans of rules that end in an
    /// optional or repeated part take the whitespace and comments after the
    /// code too, which are cut off here.
    fn end_of<T>(&self, n: &crate::span::Node<T>) -> usize {
        let start = n.span.start as usize;
        let mut end = n.span.end as usize;
        let b = self.src.as_bytes();
        loop {
            while end > start && b.get(end - 1).is_some_and(|c| c.is_ascii_whitespace()) {
                end -= 1;
            }
            let i = self
                .comments
                .partition_point(|c| (c.span.start as usize) < end);
            match i.checked_sub(1).and_then(|i| self.comments.get(i)) {
                Some(c) if c.span.start as usize >= start && c.span.end as usize >= end => {
                    end = c.span.start as usize;
                }
                _ => return end,
            }
        }
    }

    fn field_entries(&self, fields: &[FieldInit]) -> Vec<Entry> {
        fields
            .iter()
            .map(|f| Entry {
                text: format!("{}: {}", f.name.node, expr(&f.value)),
                start: start_of(&f.name),
                end: self.end_of(&f.value),
            })
            .collect()
    }

    /// `emit Name` (and the record that follows, if it has fields).
    fn emit_event(&self, lead: &str, ev: &EmitEvent) -> (String, Vec<Entry>) {
        let mut t = format!("{lead} {}", ev.event.node);
        if !ev.fields.is_empty() {
            t.push(' ');
        }
        (t, self.field_entries(&ev.fields))
    }

    /// Sets where trailing comments of the last line may also start from.
    fn set_trail_from(&mut self, pos: Option<usize>) {
        if let (Some(l), Some(p)) = (self.lines.last_mut(), pos) {
            l.trail_from = p.max(l.end);
        }
    }

    /// Whether a comment starts in `a..b`.
    fn has_comment(&self, a: usize, b: usize) -> bool {
        let i = self
            .comments
            .partition_point(|c| (c.span.start as usize) < a);
        self.comments
            .get(i)
            .is_some_and(|c| (c.span.start as usize) < b)
    }

    /// The position of `target` at or after `pos`, skipping whitespace,
    /// comments and (if `commas`) commas; `None` if something else comes.
    fn find_after(&self, mut pos: usize, target: u8, commas: bool) -> Option<usize> {
        let b = self.src.as_bytes();
        while let Some(&c) = b.get(pos) {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => pos += 1,
                b',' if commas => pos += 1,
                b'/' if b.get(pos + 1) == Some(&b'/') => {
                    while b.get(pos).is_some_and(|&c| c != b'\n') {
                        pos += 1;
                    }
                }
                c if c == target => return Some(pos),
                _ => return None,
            }
        }
        None
    }

    /// Position just after the `{` that follows `pos`.
    fn after_brace(&self, pos: usize) -> Option<usize> {
        self.find_after(pos, b'{', false).map(|p| p + 1)
    }

    // ---- declarations ---------------------------------------------------------

    fn decl(&mut self, d: &Decl, first: bool) {
        let kind = Kind::Decl { first };
        let (s, e) = (start_of(d), self.end_of(d));
        match &d.node {
            DeclKind::Event(ev) => self.event(ev, s, e, kind),
            DeclKind::Pattern(p) => self.pattern(p, s, e, kind),
            DeclKind::Resource(r) => {
                let code = format!("resource {} capacity {}", r.name.node, r.capacity.node);
                self.push(0, code, s, e, kind);
            }
            DeclKind::Step(st) => {
                let name_end = self.end_of(&st.name);
                self.push(0, format!("step {} {{", st.name.node), s, name_end, kind);
                self.set_trail_from(self.after_brace(name_end));
                for (i, c) in st.clauses.iter().enumerate() {
                    self.step_clause(c, i == 0);
                }
                self.close(e, st.clauses.is_empty());
            }
            DeclKind::Process(p) => {
                let key_end = self.end_of(&p.key);
                let code = format!("process {} by {} {{", p.name.node, p.key.node);
                self.push(0, code, s, key_end, kind);
                self.set_trail_from(self.after_brace(key_end));
                for (i, it) in p.items.iter().enumerate() {
                    self.process_item(it, i == 0);
                }
                self.close(e, p.items.is_empty());
            }
        }
    }

    /// The `}` closing a declaration's body (the last byte of its span).
    fn close(&mut self, decl_end: usize, empty: bool) {
        let start = decl_end.saturating_sub(1);
        self.push(0, "}".into(), start, decl_end, Kind::Close { empty });
    }

    fn event(&mut self, ev: &EventDecl, s: usize, e: usize, kind: Kind) {
        let name_end = self.end_of(&ev.name);
        let head = format!("event {}", ev.name.node);
        let fields: Vec<String> = ev
            .fields
            .iter()
            .map(|f| {
                let opt = if f.optional.is_some() { "?" } else { "" };
                let mark = if f.timestamp.is_some() {
                    " @timestamp"
                } else {
                    ""
                };
                format!("{}: {}{opt}{mark}", f.name.node, f.ty.node)
            })
            .collect();
        let body = if fields.is_empty() {
            "{}".to_string()
        } else {
            format!("{{ {} }}", fields.join(", "))
        };
        let forced = self.has_comment(name_end, e);
        if !forced && width(&head) + 1 + width(&body) <= WIDTH {
            self.push(0, head, s, e, kind);
            if let Some(l) = self.lines.last_mut() {
                l.tail = format!(" {body}");
                l.align = Some(Align::Event);
            }
            return;
        }
        self.push(0, format!("{head} {{"), s, name_end, kind);
        self.set_trail_from(self.after_brace(name_end));
        for (i, (f, text)) in ev.fields.iter().zip(fields).enumerate() {
            let kind = Kind::Item { first: i == 0 };
            let fe = match (&f.timestamp, &f.optional) {
                (Some(m), _) | (None, Some(m)) => self.end_of(m),
                (None, None) => self.end_of(&f.ty),
            };
            let fs = start_of(&f.name);
            self.push(INDENT, format!("{text},"), fs, fe, kind);
        }
        self.close(e, ev.fields.is_empty());
    }

    fn pattern(&mut self, p: &PatternDecl, s: usize, e: usize, kind: Kind) {
        let name_end = self.end_of(&p.name);
        let head = format!(
            "{}pattern {}",
            if p.private.is_some() { "private " } else { "" },
            p.name.node
        );
        let clauses: Vec<(String, usize, usize)> = p
            .clauses
            .iter()
            .map(|c| (pattern_clause(&c.node), start_of(c), self.end_of(c)))
            .collect();
        let header_end = clauses.last().map(|c| c.2).unwrap_or(name_end);
        let mut one = head.clone();
        for (c, _, _) in &clauses {
            one.push(' ');
            one.push_str(c);
        }
        one.push_str(" {");
        if clauses.len() <= 2 && width(&one) <= WIDTH {
            self.push(0, one, s, header_end, kind);
            self.set_trail_from(self.after_brace(header_end));
        } else {
            self.push(0, head, s, name_end, kind);
            for (c, cs, ce) in clauses {
                self.push(INDENT, c, cs, ce, Kind::Cont);
            }
            let brace = self.find_after(header_end, b'{', false);
            let (bs, be) = match brace {
                Some(b) => (b, b + 1),
                None => (header_end, header_end),
            };
            self.push(0, "{".into(), bs, be, Kind::Cont);
        }
        for (i, it) in p.items.iter().enumerate() {
            self.pattern_item(it, i == 0, INDENT);
        }
        self.close(e, p.items.is_empty());
    }

    fn pattern_item(&mut self, it: &crate::span::Node<PatternItem>, first: bool, indent: usize) {
        let kind = Kind::Item { first };
        let (s, e) = (start_of(it), self.end_of(it));
        let code = match &it.node {
            PatternItem::Group(g) => {
                // `then g: (`, the body one level in, `){2,4}`.
                let mut t = lead(&g.contiguity, &g.binding);
                t.push('(');
                let open_end = g.open.span.end as usize;
                self.push(indent, t, s, open_end, kind);
                for (i, x) in g.items.iter().enumerate() {
                    self.pattern_item(x, i == 0, indent + INDENT);
                }
                let last = g.items.last().map_or(open_end, |x| self.end_of(x));
                let close = self.find_after(last, b')', false).unwrap_or(last);
                let mut t = String::from(")");
                if let Some(q) = &g.quantifier {
                    t.push_str(&quantifier(q.node));
                }
                if g.reluctant.is_some() {
                    t.push('?');
                }
                for m in &g.modifiers {
                    t.push(' ');
                    t.push_str(m.node.as_str());
                }
                self.push(indent, t, close, e, Kind::Close { empty: false });
                return;
            }
            PatternItem::Block(b) => {
                let mut t = lead(&b.contiguity, &b.binding);
                let mut types = b.event.node.clone();
                for a in &b.alternatives {
                    types.push_str(" | ");
                    types.push_str(&a.node);
                }
                // Parentheses where a quantifier applies to an alternation
                // (and where the author wrote them).
                if !b.alternatives.is_empty() && (b.parens.is_some() || b.quantifier.is_some()) {
                    types = format!("({types})");
                }
                t.push_str(&types);
                if let Some(q) = &b.quantifier {
                    t.push_str(&quantifier(q.node));
                }
                if b.reluctant.is_some() {
                    t.push('?');
                }
                for m in &b.modifiers {
                    t.push(' ');
                    t.push_str(m.node.as_str());
                }
                push_where(&mut t, &b.predicate);
                t
            }
            PatternItem::Not(n) => {
                let mut t = format!("not {}", n.event.node);
                push_where(&mut t, &n.predicate);
                if let Some(d) = &n.within {
                    t.push_str(" within ");
                    t.push_str(&duration(d.node));
                }
                t
            }
            PatternItem::Halt(g) => {
                let mut t = format!("halt on {}", g.event.node);
                push_where(&mut t, &g.predicate);
                t
            }
            PatternItem::Emit(fields) => {
                let entries = self.field_entries(fields);
                self.record(INDENT, kind, s, e, "emit ".into(), entries);
                return;
            }
            PatternItem::OnTimeout(ev) => {
                let (lead, entries) = self.emit_event("on timeout emit", ev);
                if entries.is_empty() {
                    lead
                } else {
                    self.record(INDENT, kind, s, e, lead, entries);
                    return;
                }
            }
        };
        self.push(indent, code, s, e, kind);
    }

    fn step_clause(&mut self, c: &crate::span::Node<StepClause>, first: bool) {
        let kind = Kind::Item { first };
        let (s, e) = (start_of(c), self.end_of(c));
        let (prefix, entries) = match &c.node {
            StepClause::On(t) => (format!("on {}", trigger(t, false)), Vec::new()),
            StepClause::After(d) => (format!("after {}", duration(d.node)), Vec::new()),
            StepClause::Acquire { resource, units } => (
                format!("acquire {} {}", resource.node, units.node),
                Vec::new(),
            ),
            StepClause::Run { program, args, env } => {
                let mut t = format!("run {}", string(&program.node));
                if !args.is_empty() {
                    let args: Vec<String> = args.iter().map(expr).collect();
                    t.push_str(&format!(" args [{}]", args.join(", ")));
                }
                if !env.is_empty() {
                    t.push_str(" with ");
                }
                (t, self.field_entries(env))
            }
            StepClause::Post { url, body } => {
                let mut t = format!("post {}", string(&url.node));
                if !body.is_empty() {
                    t.push_str(" body ");
                }
                (t, self.field_entries(body))
            }
            StepClause::Emit(ev) => self.emit_event("emit", ev),
            StepClause::Timeout(d) => (format!("timeout {}", duration(d.node)), Vec::new()),
            StepClause::Retry { count, backoff } => {
                let mut t = format!("retry {}", count.node);
                if let Some(d) = backoff {
                    t.push_str(" backoff ");
                    t.push_str(&duration(d.node));
                }
                (t, Vec::new())
            }
            StepClause::OnStatus { status, emit } => {
                self.emit_event(&format!("on {} emit", status.node.as_str()), emit)
            }
            StepClause::Recover(entries) => {
                let entries: Vec<Entry> = entries
                    .iter()
                    .map(|(st, r)| Entry {
                        text: format!("{}: {}", st.node.as_str(), r.node.as_str()),
                        start: start_of(st),
                        end: self.end_of(r),
                    })
                    .collect();
                self.record(INDENT, kind, s, e, "recover ".into(), entries);
                return;
            }
        };
        if entries.is_empty() {
            self.push(INDENT, prefix, s, e, kind);
        } else {
            self.record(INDENT, kind, s, e, prefix, entries);
        }
    }

    fn process_item(&mut self, it: &crate::span::Node<ProcessItem>, first: bool) {
        let kind = Kind::Item { first };
        let (s, e) = (start_of(it), self.end_of(it));
        match &it.node {
            ProcessItem::Activities(names) => {
                let code = format!("activities {}", names_list(names));
                self.push(INDENT, code, s, e, kind);
            }
            ProcessItem::Idle(d) => {
                let code = format!("idle {}", duration(d.node));
                self.push(INDENT, code, s, e, kind);
            }
            ProcessItem::Initial(m, names) => {
                let code = format!("{} {}", m.as_str(), names_list(names));
                self.push(INDENT, code, s, e, kind);
            }
            ProcessItem::Relation { from, kind: k, to } => {
                self.push(INDENT, from.node.clone(), s, e, kind);
                if let Some(l) = self.lines.last_mut() {
                    l.tail = format!(" {}  {}", k.node.arrow(), to.node);
                    l.align = Some(Align::Relation);
                }
            }
        }
    }

    /// `prefix{ k: v, ... }` at the end of an item: on one line if it fits,
    /// else filled greedily with continuation lines aligned to the first
    /// entry. A comment between entries (or inside one but the first) puts
    /// every entry on its own line, so that the comment keeps its place.
    fn record(
        &mut self,
        indent: usize,
        kind: Kind,
        start: usize,
        end: usize,
        prefix: String,
        entries: Vec<Entry>,
    ) {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            self.push(indent, format!("{prefix}{{}}"), start, end, kind);
            return;
        };
        let forced = self.has_comment(first.end, last.end);
        let closing = self.find_after(last.end, b'}', true).map(|p| p + 1);
        let col = indent + width(&prefix) + 2;
        let n = entries.len();
        let mut cur = format!("{prefix}{{ ");
        let mut cur_indent = indent;
        let mut cur_kind = kind;
        let mut cur_start = start;
        let mut cur_end = start;
        for (i, en) in entries.into_iter().enumerate() {
            let is_last = i + 1 == n;
            let close_w = if is_last { 2 } else { 1 };
            if i > 0 {
                // `cur, en` followed by `,` or ` }`.
                let w = cur_indent + width(&cur) + 2 + width(&en.text) + close_w;
                if forced || w > WIDTH {
                    cur.push(',');
                    let code = std::mem::take(&mut cur);
                    self.push(cur_indent, code, cur_start, cur_end, cur_kind);
                    cur_indent = col;
                    cur_kind = Kind::Cont;
                    cur_start = en.start;
                } else {
                    cur.push_str(", ");
                }
            }
            cur.push_str(&en.text);
            cur_end = en.end;
        }
        cur.push_str(" }");
        self.push(cur_indent, cur, cur_start, cur_end, cur_kind);
        self.set_trail_from(closing);
    }

    // ---- comments, blank lines, alignment, output --------------------------------

    fn finish(mut self) -> String {
        self.attach_comments();
        self.align();
        self.render()
    }

    /// Whether the source has a newline in `a..b`.
    fn newline_in(&self, a: usize, b: usize) -> bool {
        a >= b || self.src.get(a..b).is_none_or(|t| t.contains('\n'))
    }

    /// Whether the source has a blank (whitespace-only) line in `a..b`.
    fn blank_in(&self, a: usize, b: usize) -> bool {
        let Some(text) = self.src.get(a..b) else {
            return false;
        };
        let mut seen_newline = false;
        let mut only_ws = false;
        for ch in text.chars() {
            match ch {
                '\n' => {
                    if seen_newline && only_ws {
                        return true;
                    }
                    seen_newline = true;
                    only_ws = true;
                }
                ' ' | '\t' | '\r' => {}
                _ => only_ws = false,
            }
        }
        false
    }

    fn comment_start(&self, i: usize) -> usize {
        self.comments.get(i).map_or(0, |c| c.span.start as usize)
    }

    fn comment_end(&self, i: usize) -> usize {
        self.comments.get(i).map_or(0, |c| c.span.end as usize)
    }

    /// Whether comment `ci` trails the code of line `li` in the source.
    fn trails(&self, li: usize, ci: usize) -> bool {
        let Some(l) = self.lines.get(li) else {
            return false;
        };
        let c = self.comment_start(ci);
        !self.newline_in(l.end, c) || (l.trail_from <= c && !self.newline_in(l.trail_from, c))
    }

    /// Places every comment: trailing a line, before a line, or at the end.
    fn attach_comments(&mut self) {
        let n = self.comments.len();
        let mut ci = 0;
        for li in 0..=self.lines.len() {
            let (start, end, slot) = match self.lines.get(li) {
                Some(l) => (l.start, l.end, l.kind.blanks()),
                // The end of the file: no blank line after the last comment.
                None => (usize::MAX, usize::MAX, (true, li > 0, false)),
            };
            // Comments in the gap before this line.
            let mut elems = Vec::new();
            while ci < n && self.comment_start(ci) < start {
                elems.push(ci);
                ci += 1;
            }
            // Comments inside this line's code go just before it.
            while ci < n && self.comment_start(ci) < end {
                elems.push(ci);
                ci += 1;
            }
            let mut pos = 0;
            if li > 0 {
                let prev = li - 1;
                pos = self.lines.get(prev).map_or(0, |l| l.end);
                // Only a comment before this line's code can trail the
                // previous line; one inside this line's code goes before it.
                if let Some(&c) = elems.first() {
                    if self.comment_start(c) < start && self.trails(prev, c) {
                        elems.remove(0);
                        if let Some(l) = self.lines.get_mut(prev) {
                            l.trailing = Some(c);
                        }
                        pos = self.comment_end(c);
                    }
                }
            }
            let (between, lead, tail) = slot;
            let mut pre = Vec::new();
            for (k, &c) in elems.iter().enumerate() {
                let allowed = if k == 0 { lead } else { between };
                if allowed && self.blank_in(pos, self.comment_start(c)) {
                    pre.push(Pre::Blank);
                }
                pre.push(Pre::Comment(c));
                pos = self.comment_end(c);
            }
            let allowed = if elems.is_empty() { lead && tail } else { tail };
            if allowed && start != usize::MAX && self.blank_in(pos, start) {
                pre.push(Pre::Blank);
            }
            match self.lines.get_mut(li) {
                Some(l) => l.before = pre,
                None => self.eof = pre,
            }
        }
    }

    /// Pads the names of runs of adjacent aligned lines of one kind.
    fn align(&mut self) {
        let mut i = 0;
        while i < self.lines.len() {
            let Some(kind) = self.lines.get(i).and_then(|l| l.align) else {
                i += 1;
                continue;
            };
            let mut j = i + 1;
            while self
                .lines
                .get(j)
                .is_some_and(|l| l.align == Some(kind) && l.before.is_empty())
            {
                j += 1;
            }
            let w = self
                .lines
                .get(i..j)
                .map_or(0, |ls| ls.iter().map(|l| width(&l.head)).max().unwrap_or(0));
            if let Some(ls) = self.lines.get_mut(i..j) {
                for l in ls {
                    l.pad = w.saturating_sub(width(&l.head));
                }
            }
            i = j;
        }
    }

    fn comment_text(&self, i: usize) -> &str {
        self.comments.get(i).map_or("", |c| c.text.as_str())
    }

    /// The column (in characters, from 0) of comment `i` in the source.
    fn source_column(&self, i: usize) -> usize {
        let start = self.comment_start(i);
        let before = self.src.get(..start).unwrap_or("");
        let line_start = before.rfind('\n').map_or(0, |p| p + 1);
        before.get(line_start..).map_or(0, width)
    }

    fn render_pre(&self, out: &mut String, pre: &[Pre], indent: usize) {
        for p in pre {
            match *p {
                Pre::Blank => out.push('\n'),
                Pre::Comment(c) => {
                    push_spaces(out, indent);
                    out.push_str("//");
                    out.push_str(self.comment_text(c));
                    out.push('\n');
                }
            }
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            let comment_indent = match l.kind {
                Kind::Close { .. } => l.indent + INDENT,
                _ => l.indent,
            };
            self.render_pre(&mut out, &l.before, comment_indent);
            let mut code = String::new();
            push_spaces(&mut code, l.indent);
            code.push_str(&l.head);
            push_spaces(&mut code, l.pad);
            code.push_str(&l.tail);
            if let Some(c) = l.trailing {
                let w = width(&code);
                let col = self.source_column(c);
                let to = if w + 2 <= col { col } else { w + 2 };
                push_spaces(&mut code, to - w);
                code.push_str("//");
                code.push_str(self.comment_text(c));
            }
            out.push_str(&code);
            out.push('\n');
        }
        self.render_pre(&mut out, &self.eof, 0);
        out
    }
}

fn push_spaces(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

// ---- pieces of code ------------------------------------------------------------

fn pattern_clause(c: &PatternClause) -> String {
    match c {
        PatternClause::PartitionBy(keys) => {
            let keys: Vec<String> = keys
                .iter()
                .map(|k| {
                    let mut t = k.name.node.clone();
                    for (i, (ty, f)) in k.from.iter().enumerate() {
                        t.push_str(if i == 0 { " = " } else { " | " });
                        t.push_str(&format!("{}.{}", ty.node, f.node));
                    }
                    t
                })
                .collect();
            format!("partition by {}", keys.join(", "))
        }
        PatternClause::Within(d) => format!("within {}", duration(d.node)),
        PatternClause::Skip(SkipPolicy::PastLast) => "skip past last".into(),
        PatternClause::Skip(SkipPolicy::ToNext) => "skip to next".into(),
        PatternClause::Report(first, d) => format!(
            "report {} every {}",
            if *first { "first" } else { "last" },
            duration(d.node)
        ),
    }
}

fn names_list(names: &[Ident]) -> String {
    let names: Vec<&str> = names.iter().map(|n| n.node.as_str()).collect();
    names.join(", ")
}

fn push_where(t: &mut String, predicate: &Option<Expr>) {
    if let Some(p) = predicate {
        t.push_str(" where ");
        t.push_str(&expr(p));
    }
}

fn quantifier(q: Quantifier) -> String {
    q.written()
}

fn duration(d: Duration) -> String {
    format!("{}{}", d.amount, d.unit.as_str())
}

/// `A or B and (C or D)`: an `or` inside an `and` is parenthesised.
fn trigger(t: &Trigger, in_and: bool) -> String {
    match &t.node {
        TriggerKind::Event(e) => e.node.clone(),
        TriggerKind::And(ops) => {
            let ops: Vec<String> = ops.iter().map(|o| trigger(o, true)).collect();
            ops.join(" and ")
        }
        TriggerKind::Or(ops) => {
            let ops: Vec<String> = ops.iter().map(|o| trigger(o, false)).collect();
            let s = ops.join(" or ");
            if in_and {
                format!("({s})")
            } else {
                s
            }
        }
    }
}

fn expr(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(e, &mut out);
    out
}

fn write_expr(e: &Expr, out: &mut String) {
    match &e.node {
        ExprKind::Lit(l) => out.push_str(&lit(l)),
        ExprKind::Name(n) => out.push_str(&n.node),
        ExprKind::Field(base, field) => {
            write_expr(base, out);
            // `5.x` would read as a malformed number.
            if matches!(base.node, ExprKind::Lit(Lit::Int(_))) {
                out.push(' ');
            }
            out.push('.');
            out.push_str(&field.node);
        }
        ExprKind::Call(name, args) => {
            out.push_str(&name.node);
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(a, out);
            }
            out.push(')');
        }
        ExprKind::Unary(op, x) => {
            out.push_str(match op {
                UnOp::Not => "not ",
                UnOp::Neg => "-",
            });
            write_expr(x, out);
        }
        ExprKind::IsNull(x, negated) => {
            write_expr(x, out);
            out.push_str(if *negated { " is not null" } else { " is null" });
        }
        ExprKind::Binary(op, l, r) => {
            write_expr(l, out);
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            write_expr(r, out);
        }
        ExprKind::Paren(x) => {
            out.push('(');
            write_expr(x, out);
            out.push(')');
        }
    }
}

fn lit(l: &Lit) -> String {
    match l {
        Lit::Int(n) => n.to_string(),
        Lit::Float(v) => float(*v),
        Lit::Str(s) => string(s),
        Lit::Bool(b) => b.to_string(),
        Lit::Time(t) => format!("@{t}"),
        Lit::Duration(d) => duration(*d),
    }
}

/// A float that re-parses to the same value and matches the grammar's
/// `digits.digits[e[+-]digits]`.
fn float(v: f64) -> String {
    let mut s = format!("{v:?}");
    if !s.contains('.') {
        match s.find(['e', 'E']) {
            Some(i) => s.insert_str(i, ".0"),
            None => s.push_str(".0"),
        }
    }
    s
}

fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `then any g: ` before a block's types or a group's `(`.
fn lead(contiguity: &Option<crate::span::Node<Contiguity>>, binding: &Option<Ident>) -> String {
    let mut t = String::new();
    if let Some(c) = contiguity {
        t.push_str(match c.node {
            Contiguity::Next => "next ",
            Contiguity::Then => "then ",
            Contiguity::ThenAny => "then any ",
        });
    }
    if let Some(name) = binding {
        t.push_str(&name.node);
        t.push_str(": ");
    }
    t
}
