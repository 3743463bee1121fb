//! The symbol table: every declaration of every file, by name.

use cep_grammar::ast::{self, DeclKind, Ident};
use cep_grammar::diagnostic::did_you_mean;
use cep_grammar::{Code, Diagnostic, Span};
use cep_ir::{EventId, Type};
use std::collections::HashMap;

/// Keywords that start or continue a block, which a misspelling turns into
/// the name of an event (`thne b: Humidity`).
const BLOCK_KEYWORDS: &[&str] = &["then", "next", "not", "halt", "emit", "where"];

/// An event type as the checker knows it.
#[derive(Debug, Clone)]
pub struct EventInfo {
    pub name: String,
    pub span: Span,
    pub fields: Vec<FieldInfo>,
    pub time_field: Option<usize>,
    /// `Some(i)`: the complex event of pattern `i` (in source order).
    pub pattern: Option<usize>,
    /// The fields are not known (the pattern that emits it has errors);
    /// lookups on it report nothing.
    pub poisoned: bool,
    /// A pattern's view of one block, not an event type: an alternation
    /// (`Temperature | Humidity`: the fields common to its types) or a
    /// type whose partition key is renamed (its fields and the key under
    /// its name). Per member type: the slot, in that type, of each of the
    /// view's fields.
    pub view: Option<Vec<(usize, Vec<usize>)>>,
}

#[derive(Debug, Clone)]
pub struct FieldInfo {
    pub name: String,
    pub ty: Type,
    pub span: Span,
    /// `ty?`: may have no value.
    pub optional: bool,
}

impl EventInfo {
    pub fn field(&self, name: &str) -> Option<(usize, &FieldInfo)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name == name)
    }

    /// Where the view's field `s` is in an event: the slot in the first
    /// member, and the slot per type when the members differ (empty when
    /// they agree, and for an event type). See `cep_ir::Expr::Field`.
    pub fn place(&self, s: usize) -> (usize, Vec<(EventId, cep_ir::Slot)>) {
        let Some(members) = &self.view else {
            return (s, Vec::new());
        };
        let slots: Vec<(usize, usize)> = members
            .iter()
            .filter_map(|(m, slots)| slots.get(s).map(|x| (*m, *x)))
            .collect();
        let first = slots.first().map_or(s, |x| x.1);
        if slots.iter().all(|x| x.1 == first) {
            return (first, Vec::new());
        }
        let table = slots
            .into_iter()
            .map(|(m, x)| {
                (
                    Env::event_id(m),
                    cep_ir::Slot::try_from(x).unwrap_or(cep_ir::Slot::MAX),
                )
            })
            .collect();
        (first, table)
    }

    pub fn suggest(&self, name: &str) -> Option<String> {
        did_you_mean(name, self.fields.iter().map(|f| f.name.as_str())).map(str::to_string)
    }
}

/// Every declaration, indexed. Declarations may appear in any order and
/// in any of the files.
#[derive(Debug, Default)]
pub struct Env<'a> {
    /// Declared events first, then one per pattern (in source order).
    pub events: Vec<EventInfo>,
    pub event_ix: HashMap<String, usize>,
    pub patterns: Vec<&'a ast::PatternDecl>,
    pub pattern_spans: Vec<Span>,
    pub resources: Vec<&'a ast::ResourceDecl>,
    pub resource_ix: HashMap<String, usize>,
    pub steps: Vec<&'a ast::StepDecl>,
    pub processes: Vec<&'a ast::ProcessDecl>,
    pub declared_events: usize,
    /// Per pattern (source order): the event type of its `on timeout
    /// emit`, if it has one (after every pattern's own type).
    pub timeouts: Vec<Option<usize>>,
    /// Per pattern (source order), per block: the pattern's view of the
    /// block (`EventInfo::view`), made just before the pattern is checked.
    pub block_views: Vec<Vec<Option<usize>>>,
}

impl<'a> Env<'a> {
    pub fn build(files: &'a [ast::File], diags: &mut Vec<Diagnostic>) -> Env<'a> {
        let mut env = Env::default();
        let mut event_decls = Vec::new();
        let mut step_names: HashMap<&str, Span> = HashMap::new();
        let mut process_names: HashMap<&str, Span> = HashMap::new();
        for f in files {
            for d in &f.decls {
                match &d.node {
                    DeclKind::Event(e) => event_decls.push(e),
                    DeclKind::Pattern(p) => {
                        env.patterns.push(p);
                        env.pattern_spans.push(d.span);
                    }
                    DeclKind::Resource(r) => {
                        if let Some(prev) = env.resource_ix.get(&r.name.node) {
                            let first = env.resources[*prev].name.span;
                            diags.push(duplicate("resource", &r.name, first));
                        } else {
                            env.resource_ix
                                .insert(r.name.node.clone(), env.resources.len());
                            env.resources.push(r);
                        }
                    }
                    DeclKind::Step(s) => {
                        if let Some(first) = step_names.get(s.name.node.as_str()) {
                            diags.push(duplicate("step", &s.name, *first));
                        } else {
                            step_names.insert(&s.name.node, s.name.span);
                        }
                        env.steps.push(s);
                    }
                    DeclKind::Process(p) => {
                        if let Some(first) = process_names.get(p.name.node.as_str()) {
                            diags.push(duplicate("process", &p.name, *first));
                        } else {
                            process_names.insert(&p.name.node, p.name.span);
                        }
                        env.processes.push(p);
                    }
                }
            }
        }
        for e in event_decls {
            let fields = event_fields(e, diags);
            let time_field = time_field(e, &fields, diags);
            let info = EventInfo {
                name: e.name.node.clone(),
                span: e.name.span,
                fields,
                time_field,
                pattern: None,
                poisoned: false,
                view: None,
            };
            env.add_event(info, diags);
        }
        env.declared_events = env.events.len();
        for (i, p) in env.patterns.clone().into_iter().enumerate() {
            let info = EventInfo {
                name: p.name.node.clone(),
                span: p.name.span,
                fields: Vec::new(),
                time_field: None,
                pattern: Some(i),
                poisoned: true,
                view: None,
            };
            env.add_event(info, diags);
        }
        env.timeouts = vec![None; env.patterns.len()];
        env.block_views = vec![Vec::new(); env.patterns.len()];
        for (i, p) in env.patterns.clone().into_iter().enumerate() {
            // The first `on timeout` of a pattern (a second is an error
            // the pattern's check reports).
            let Some(t) = p.items.iter().find_map(|it| match &it.node {
                ast::PatternItem::OnTimeout(t) => Some(t),
                _ => None,
            }) else {
                continue;
            };
            let info = EventInfo {
                name: t.event.node.clone(),
                span: t.event.span,
                fields: Vec::new(),
                time_field: None,
                pattern: Some(i),
                poisoned: true,
                view: None,
            };
            env.timeouts[i] = Some(env.events.len());
            env.add_event(info, diags);
        }
        env
    }

    /// The event type of pattern `pi`'s complex events.
    pub fn pattern_output(&self, pi: usize) -> usize {
        self.declared_events + pi
    }

    fn add_event(&mut self, mut info: EventInfo, diags: &mut Vec<Diagnostic>) {
        if let Some(prev) = self.event_ix.get(&info.name) {
            let first = &self.events[*prev];
            // Flag the later one in the source (events are indexed before
            // patterns, so the earlier index may be the later declaration).
            let kind = |e: &EventInfo| match e.pattern {
                Some(i) if self.patterns.get(i).is_some_and(|p| p.name.span != e.span) => {
                    "`on timeout` event"
                }
                Some(_) => "pattern",
                None => "event",
            };
            let (earlier, later) =
                if (first.span.file, first.span.start) > (info.span.file, info.span.start) {
                    (&info, first)
                } else {
                    (first, &info)
                };
            let mut d = Diagnostic::new(
                Code::Duplicate,
                later.span,
                format!("`{}` is declared twice", info.name),
            )
            .label(format!(
                "this {} has the name of an earlier {}",
                kind(later),
                kind(earlier)
            ))
            .also(earlier.span, "first declared here");
            if info.pattern.is_some() || first.pattern.is_some() {
                d = d.note("a pattern's name is the event type of its complex events, so it shares names with events");
            }
            diags.push(d);
            // Keep it out of the index but give it an id so that indices
            // stay aligned with declarations.
            info.poisoned = true;
            self.events.push(info);
            return;
        }
        self.event_ix.insert(info.name.clone(), self.events.len());
        self.events.push(info);
    }

    /// Adds a pattern's view of a block (`EventInfo::view`): not named,
    /// not an event type of the program.
    pub fn add_view(&mut self, info: EventInfo) -> usize {
        self.events.push(info);
        self.events.len() - 1
    }

    pub fn event(&self, name: &str) -> Option<usize> {
        self.event_ix.get(name).copied()
    }

    pub fn event_id(ix: usize) -> EventId {
        EventId::try_from(ix).unwrap_or(EventId::MAX)
    }

    /// Looks an event type up, reporting an unknown name with a suggestion.
    pub fn resolve_event(
        &self,
        id: &Ident,
        what: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<usize> {
        if let Some(i) = self.event(&id.node) {
            return Some(i);
        }
        let mut d = Diagnostic::new(
            Code::UnknownEvent,
            id.span,
            format!("unknown event type `{}`", id.node),
        )
        .label(format!("{what} names no declared event or pattern"));
        if let Some(s) = did_you_mean(&id.node, self.event_ix.keys().map(String::as_str)) {
            d = d.help(format!("did you mean `{s}`?"));
        } else if let Some(k) = did_you_mean(&id.node, BLOCK_KEYWORDS.iter().copied())
            .or_else(|| (id.node.eq_ignore_ascii_case("followed")).then_some("then"))
        {
            d = d.help(format!(
                "did you mean the keyword `{k}`? `{}` was read as the name of an event",
                id.node
            ));
        } else {
            d = d.help(format!("declare it: `event {} {{ ... }}`", id.node));
        }
        diags.push(d);
        None
    }
}

/// The field that is the event's time: the one marked `@timestamp`, or
/// the only `time` field (none without one). Errors (CEP028): a mark on
/// a field that is not a `time`, two marks, or several `time` fields and
/// no mark.
fn time_field(
    e: &ast::EventDecl,
    fields: &[FieldInfo],
    diags: &mut Vec<Diagnostic>,
) -> Option<usize> {
    let slot = |name: &str| fields.iter().position(|f| f.name == name);
    let marked: Vec<&ast::FieldDecl> = e.fields.iter().filter(|f| f.timestamp.is_some()).collect();
    for f in &marked {
        let (Some(mark), Some(i)) = (&f.timestamp, slot(&f.name.node)) else {
            continue;
        };
        let ty = fields[i].ty;
        if ty != Type::Time {
            diags.push(
                Diagnostic::new(
                    Code::TimeField,
                    mark.span,
                    format!(
                        "`@timestamp` marks `{}`, a field of type `{ty}`",
                        f.name.node
                    ),
                )
                .label("not a `time` field")
                .help(format!(
                    "the event time is a `time` field: `{}: time @timestamp` (a `time` field reads RFC 3339 text or epoch milliseconds)",
                    f.name.node
                )),
            );
        }
    }
    if let [first, second, ..] = marked.as_slice() {
        if let (Some(a), Some(b)) = (&first.timestamp, &second.timestamp) {
            diags.push(
                Diagnostic::new(
                    Code::TimeField,
                    b.span,
                    format!("`{}` has two fields marked `@timestamp`", e.name.node),
                )
                .label("marked again here")
                .also(a.span, "first marked here")
                .help("an event has one event time: keep the mark on one field"),
            );
        }
        return None;
    }
    let chosen = match marked.first() {
        Some(f) => slot(&f.name.node).filter(|&i| fields[i].ty == Type::Time),
        None => {
            let times: Vec<&FieldInfo> = fields.iter().filter(|f| f.ty == Type::Time).collect();
            match times.as_slice() {
                [] => None,
                [_] => fields.iter().position(|f| f.ty == Type::Time),
                _ => {
                    several_times(e, &times, diags);
                    None
                }
            }
        }
    };
    // The event time orders every event: it always has a value.
    if let Some(i) = chosen.filter(|&i| fields[i].optional) {
        let f = &fields[i];
        let at = e
            .fields
            .iter()
            .find(|d| d.name.node == f.name)
            .and_then(|d| d.optional.as_ref().map(|m| m.span))
            .unwrap_or(f.span);
        diags.push(
            Diagnostic::new(
                Code::TimeField,
                at,
                format!("`{}`, the event time of `{}`, is optional", f.name, e.name.node),
            )
            .label("every event needs its time")
            .help(format!(
                "remove the `?`; a second, optional `time` field is fine (`{}: time @timestamp, other: time?`)",
                f.name
            )),
        );
        return None;
    }
    chosen
}

/// CEP028: several `time` fields and none marked.
fn several_times(e: &ast::EventDecl, times: &[&FieldInfo], diags: &mut Vec<Diagnostic>) {
    match times {
        [] | [_] => {}
        [a, b, ..] => {
            let names: Vec<String> = times.iter().map(|f| format!("`{}`", f.name)).collect();
            diags.push(
                Diagnostic::new(
                    Code::TimeField,
                    e.name.span,
                    format!(
                        "`{}` has {} `time` fields ({}) and none is marked as its event time",
                        e.name.node,
                        times.len(),
                        names.join(", ")
                    ),
                )
                .label("which time orders these events?")
                .also(a.span, "a `time` field")
                .also(b.span, "another")
                .help(format!(
                    "mark the event time: `{}: time @timestamp`",
                    a.name
                )),
            );
        }
    }
}

fn event_fields(e: &ast::EventDecl, diags: &mut Vec<Diagnostic>) -> Vec<FieldInfo> {
    let mut out: Vec<FieldInfo> = Vec::new();
    for f in &e.fields {
        if let Some(prev) = out.iter().find(|p| p.name == f.name.node) {
            diags.push(
                Diagnostic::new(
                    Code::Duplicate,
                    f.name.span,
                    format!(
                        "field `{}` is declared twice in `{}`",
                        f.name.node, e.name.node
                    ),
                )
                .label("declared again here")
                .also(prev.span, "first declared here"),
            );
            continue;
        }
        let ty = match Type::from_name(&f.ty.node) {
            Some(t) => t,
            None => {
                let mut d = Diagnostic::new(
                    Code::UnknownType,
                    f.ty.span,
                    format!("unknown type `{}`", f.ty.node),
                )
                .label("not a field type");
                let synonym = match f.ty.node.to_ascii_lowercase().as_str() {
                    "string" | "text" => Some("str"),
                    "integer" | "long" | "i64" => Some("int"),
                    "double" | "number" | "f64" | "real" => Some("float"),
                    "boolean" => Some("bool"),
                    "timestamp" | "datetime" | "instant" => Some("time"),
                    "interval" | "span" => Some("duration"),
                    _ => None,
                };
                d = match synonym.or_else(|| did_you_mean(&f.ty.node, Type::NAMES)) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help("the field types are int, float, str, bool, duration and time"),
                };
                diags.push(d);
                continue;
            }
        };
        out.push(FieldInfo {
            name: f.name.node.clone(),
            ty,
            span: f.name.span,
            optional: f.optional.is_some(),
        });
    }
    out
}

pub fn duplicate(what: &str, name: &Ident, first: Span) -> Diagnostic {
    Diagnostic::new(
        Code::Duplicate,
        name.span,
        format!("{what} `{}` is declared twice", name.node),
    )
    .label("declared again here")
    .also(first, "first declared here")
}
