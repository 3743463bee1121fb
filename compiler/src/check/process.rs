//! Processes (DCR graphs): activities, the key, markings, relations, `idle`.

use crate::env::{duplicate, Env};
use crate::expr::slot;
use cep_grammar::ast::{self};
use cep_grammar::diagnostic::did_you_mean;
use cep_grammar::{Code, Diagnostic, Span};
use cep_ir as ir;

// ---- processes -----------------------------------------------------------------------

pub(super) fn check_processes(env: &Env, diags: &mut Vec<Diagnostic>) -> Vec<ir::Process> {
    let mut out = Vec::new();
    for p in &env.processes {
        let before = diags.iter().filter(|d| d.is_error()).count();
        let mut acts: Vec<(String, Span, Option<usize>)> = Vec::new();
        for it in &p.items {
            if let ast::ProcessItem::Activities(list) = &it.node {
                for a in list {
                    if let Some((_, first, _)) = acts.iter().find(|(n, _, _)| *n == a.node) {
                        diags.push(duplicate("activity", a, *first));
                        continue;
                    }
                    let ev = env.resolve_event(a, "this activity", diags);
                    acts.push((a.node.clone(), a.span, ev));
                }
            }
        }
        let idle_ms = check_idle(p, diags);
        if acts.is_empty() {
            diags.push(
                Diagnostic::new(
                    Code::UnknownActivity,
                    p.name.span,
                    format!("process `{}` declares no activities", p.name.node),
                )
                .label("no `activities` line")
                .help("list them: `activities Submit, Review, Approve`"),
            );
            continue;
        }
        let find = |a: &ast::Ident, diags: &mut Vec<Diagnostic>| -> Option<u16> {
            if let Some(i) = acts.iter().position(|(n, _, _)| *n == a.node) {
                return u16::try_from(i).ok();
            }
            let mut d = Diagnostic::new(
                Code::UnknownActivity,
                a.span,
                format!(
                    "`{}` is not an activity of process `{}`",
                    a.node, p.name.node
                ),
            )
            .label("not in the `activities` list");
            d = match did_you_mean(&a.node, acts.iter().map(|(n, _, _)| n.as_str())) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!(
                    "add it to the activities: `activities {}, {}`",
                    acts.iter()
                        .map(|a| a.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    a.node
                )),
            };
            diags.push(d);
            None
        };
        let mut activities: Vec<ir::Activity> = Vec::new();
        let mut key_ty: Option<(ir::Type, String)> = None;
        for (name, span, ev) in &acts {
            let Some(ev) = ev else { continue };
            let info = &env.events[*ev];
            let key_slot = match info.field(&p.key.node) {
                Some((s, f)) => {
                    match &key_ty {
                        Some((t, other)) if *t != f.ty => diags.push(
                            Diagnostic::new(
                                Code::TypeMismatch,
                                *span,
                                format!(
                                    "the key `{}` is `{}` in `{name}` but `{t}` in `{other}`",
                                    p.key.node, f.ty
                                ),
                            )
                            .label(format!("`{name}.{}` is `{}`", p.key.node, f.ty))
                            .also(p.key.span, "the process key"),
                        ),
                        Some(_) => {}
                        None => key_ty = Some((f.ty, name.clone())),
                    }
                    slot(s)
                }
                None => {
                    if !info.poisoned {
                        let mut d = Diagnostic::new(
                            Code::ProcessKey,
                            *span,
                            format!("activity `{name}` has no field `{}`", p.key.node),
                        )
                        .label(format!("`{name}` lacks the key `{}`", p.key.node))
                        .also(p.key.span, "one process instance per value of this key");
                        if let Some(s) = info.suggest(&p.key.node) {
                            d = d.help(format!(
                                "did you mean `{s}`? every activity must carry the process key"
                            ));
                        } else {
                            d = d.help(format!("add `{}` to `event {name}`", p.key.node));
                        }
                        diags.push(d);
                    }
                    continue;
                }
            };
            activities.push(ir::Activity {
                event: Env::event_id(*ev),
                key_slot,
                included: true,
                pending: false,
                executed: false,
            });
        }
        let mut relations = Vec::new();
        for it in &p.items {
            match &it.node {
                ast::ProcessItem::Activities(_) => {}
                ast::ProcessItem::Idle(_) => {}
                ast::ProcessItem::Initial(m, list) => {
                    for a in list {
                        let Some(i) = find(a, diags) else { continue };
                        if let Some(act) = activities.get_mut(usize::from(i)) {
                            match m {
                                ast::Marking::Pending => act.pending = true,
                                ast::Marking::Excluded => act.included = false,
                                ast::Marking::Executed => act.executed = true,
                            }
                        }
                    }
                }
                ast::ProcessItem::Relation { from, kind, to } => {
                    let f = find(from, diags);
                    let t = find(to, diags);
                    if let (Some(from), Some(to)) = (f, t) {
                        let kind = match kind.node {
                            ast::RelationKind::Condition => ir::RelationKind::Condition,
                            ast::RelationKind::Response => ir::RelationKind::Response,
                            ast::RelationKind::Include => ir::RelationKind::Include,
                            ast::RelationKind::Exclude => ir::RelationKind::Exclude,
                            ast::RelationKind::Milestone => ir::RelationKind::Milestone,
                        };
                        let other = match kind {
                            ir::RelationKind::Include => Some(ir::RelationKind::Exclude),
                            ir::RelationKind::Exclude => Some(ir::RelationKind::Include),
                            _ => None,
                        };
                        if let Some(o) = other {
                            if relations
                                .iter()
                                .any(|r: &ir::Relation| r.from == from && r.to == to && r.kind == o)
                            {
                                diags.push(
                                    Diagnostic::new(
                                        Code::IncludeAndExclude,
                                        it.span,
                                        format!(
                                            "`{}` both includes and excludes `{}`",
                                            from_name(&acts, from),
                                            from_name(&acts, to)
                                        ),
                                    )
                                    .label("the second of the two")
                                    .help("when both apply, include wins (the exclude is applied first): remove one of the two"),
                                );
                            }
                        }
                        relations.push(ir::Relation { from, kind, to });
                    }
                }
            }
        }
        if diags.iter().filter(|d| d.is_error()).count() == before {
            out.push(ir::Process {
                name: p.name.node.clone(),
                key: p.key.node.clone(),
                activities,
                relations,
                idle_ms,
            });
        }
    }
    out
}

/// The `idle` of a process, in milliseconds: CEP002 for a second one,
/// CEP023 for a zero one (every one is checked).
fn check_idle(p: &ast::ProcessDecl, diags: &mut Vec<Diagnostic>) -> Option<i64> {
    let mut idle: Option<(i64, Span)> = None;
    for it in &p.items {
        let ast::ProcessItem::Idle(d) = &it.node else {
            continue;
        };
        // The parser refuses a duration past `Duration::MAX_MS` (CEP023),
        // so this fits.
        let ms = d
            .millis()
            .and_then(|ms| i64::try_from(ms).ok())
            .unwrap_or(i64::MAX);
        if ms == 0 {
            diags.push(
                Diagnostic::new(
                    Code::BadLiteral,
                    d.span,
                    "an `idle` of zero retires every accepting instance at once",
                )
                .label("zero")
                .help("give a duration longer than any quiet gap within one case, such as `720h`"),
            );
        }
        match idle {
            Some((_, first)) => diags.push(
                Diagnostic::new(Code::Duplicate, it.span, "`idle` is given twice")
                    .label("given again here")
                    .also(first, "first given here")
                    .help("a process has at most one `idle`: keep one of the two"),
            ),
            None => idle = Some((ms, it.span)),
        }
    }
    idle.map(|(ms, _)| ms)
}

/// The name of activity `i`.
fn from_name(acts: &[(String, Span, Option<usize>)], i: u16) -> &str {
    acts.get(usize::from(i)).map_or("?", |a| a.0.as_str())
}
