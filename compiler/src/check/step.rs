//! Steps: triggers, actions, resources, status emits, recovery, and
//! the warning for step cycles nothing triggers.

use super::named_events;
use crate::env::{duplicate, Env};
use crate::expr::{coerce, Scope};
use cep_grammar::ast::{self, PatternItem, StepClause};
use cep_grammar::diagnostic::did_you_mean;
use cep_grammar::{Code, Diagnostic, Span};
use cep_ir as ir;
use std::collections::{BTreeSet, HashMap};

// ---- steps ---------------------------------------------------------------------------

/// Which events a trigger surely has when it fires.
fn trigger_events(
    env: &Env,
    t: &ast::Trigger,
    diags: &mut Vec<Diagnostic>,
) -> Option<(ir::Trigger, BTreeSet<usize>, BTreeSet<usize>)> {
    match &t.node {
        ast::TriggerKind::Event(id) => {
            let ev = env.resolve_event(id, "this trigger", diags)?;
            let s: BTreeSet<usize> = [ev].into();
            Some((ir::Trigger::Event(Env::event_id(ev)), s.clone(), s))
        }
        ast::TriggerKind::And(v) | ast::TriggerKind::Or(v) => {
            let is_and = matches!(t.node, ast::TriggerKind::And(_));
            let parts: Vec<_> = v.iter().map(|x| trigger_events(env, x, diags)).collect();
            let parts: Vec<_> = parts.into_iter().collect::<Option<Vec<_>>>()?;
            let mut all = BTreeSet::new();
            let mut present: Option<BTreeSet<usize>> = None;
            let mut irs = Vec::new();
            for (ir_t, a, p) in parts {
                all.extend(a);
                present = Some(match present {
                    None => p,
                    Some(acc) if is_and => acc.union(&p).copied().collect(),
                    Some(acc) => acc.intersection(&p).copied().collect(),
                });
                irs.push(ir_t);
            }
            let t = if is_and {
                ir::Trigger::All(irs)
            } else {
                ir::Trigger::Any(irs)
            };
            Some((t, all, present.unwrap_or_default()))
        }
    }
}

pub(super) fn check_steps(env: &Env, diags: &mut Vec<Diagnostic>) -> Vec<ir::Step> {
    let mut out = Vec::new();
    for s in &env.steps {
        let before = diags.iter().filter(|d| d.is_error()).count();
        if let Some(step) = check_step(env, s, diags) {
            if diags.iter().filter(|d| d.is_error()).count() == before {
                out.push(step);
            }
        }
    }
    out
}

fn once(
    seen: &mut HashMap<&'static str, Span>,
    key: &'static str,
    span: Span,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    if let Some(first) = seen.get(key) {
        diags.push(
            Diagnostic::new(
                Code::StepShape,
                span,
                if key == "action" {
                    "a step has one action: `run`, `post` or `emit`".to_string()
                } else {
                    format!("a step has at most one `{key}`")
                },
            )
            .label("a second one")
            .also(*first, "the first one"),
        );
        return false;
    }
    seen.insert(key, span);
    true
}

fn check_step(env: &Env, s: &ast::StepDecl, diags: &mut Vec<Diagnostic>) -> Option<ir::Step> {
    let owner = format!("step `{}`", s.name.node);
    let mut seen: HashMap<&'static str, Span> = HashMap::new();
    let mut trigger = None;
    for c in &s.clauses {
        if let StepClause::On(t) = &c.node {
            if once(&mut seen, "on", c.span, diags) {
                trigger = Some(trigger_events(env, t, diags));
            }
        }
    }
    let Some(trigger) = trigger else {
        diags.push(
            Diagnostic::new(
                Code::StepShape,
                s.name.span,
                format!("step `{}` has no trigger", s.name.node),
            )
            .label("when does it run?")
            .help("add `on Event` (or `on A and B`, `on A or B`)"),
        );
        return None;
    };
    let (ir_trigger, all, present) = match trigger {
        Some(t) => t,
        None => {
            // The trigger has errors already reported: let expressions read
            // any of its events that exist, so as not to pile on.
            let mut names = Vec::new();
            for c in &s.clauses {
                if let StepClause::On(t) = &c.node {
                    trigger_names(t, &mut names);
                }
            }
            let known: BTreeSet<usize> = names.iter().filter_map(|n| env.event(n)).collect();
            (ir::Trigger::Any(Vec::new()), known.clone(), known)
        }
    };
    let trig: Vec<(usize, bool)> = all.iter().map(|e| (*e, present.contains(e))).collect();
    let scope = Scope {
        env,
        current: None,
        bindings: &[],
        bound_upto: 0,
        own: None,
        prev: None,
        triggers: Some(&trig),
        owner: &owner,
        halt: false,
        inside: &[],
    };
    let mut delay_ms = 0;
    let mut acquire: Vec<ir::Acquire> = Vec::new();
    let mut action = None;
    let mut timeout_ms = None;
    let mut retry = ir::Retry {
        attempts: 0,
        backoff_ms: 0,
    };
    let mut on_status = Vec::new();
    let mut recover = ir::Recover::default();
    for c in &s.clauses {
        match &c.node {
            StepClause::On(_) => {}
            StepClause::After(d) => {
                if once(&mut seen, "after", c.span, diags) {
                    delay_ms = d.millis().unwrap_or(u64::MAX);
                }
            }
            StepClause::Acquire { resource, units } => {
                let Some(&ri) = env.resource_ix.get(&resource.node) else {
                    let mut d = Diagnostic::new(
                        Code::UnknownResource,
                        resource.span,
                        format!("unknown resource `{}`", resource.node),
                    )
                    .label("no resource of this name");
                    d = match did_you_mean(
                        &resource.node,
                        env.resource_ix.keys().map(String::as_str),
                    ) {
                        Some(x) => d.help(format!("did you mean `{x}`?")),
                        None => d.help(format!(
                            "declare it: `resource {} capacity 1`",
                            resource.node
                        )),
                    };
                    diags.push(d);
                    continue;
                };
                let r = env.resources[ri];
                if units.node == 0 {
                    diags.push(
                        Diagnostic::new(
                            Code::BadLiteral,
                            units.span,
                            "acquiring zero units does nothing",
                        )
                        .label("zero")
                        .help("acquire at least 1 unit, or remove the clause"),
                    );
                } else if units.node > r.capacity.node {
                    diags.push(
                        Diagnostic::new(
                            Code::OverCapacity,
                            units.span,
                            format!(
                                "`{}` has only {} units, so {} can never be acquired",
                                r.name.node, r.capacity.node, units.node
                            ),
                        )
                        .label(format!("more than the capacity of {}", r.capacity.node))
                        .also(r.capacity.span, "the capacity")
                        .help(format!(
                            "acquire at most {}, or raise the capacity",
                            r.capacity.node
                        )),
                    );
                }
                let rid = u32::try_from(ri).unwrap_or(u32::MAX);
                if acquire.iter().any(|a| a.resource == rid) {
                    diags.push(
                        Diagnostic::new(
                            Code::StepShape,
                            c.span,
                            format!("`{}` is acquired twice", r.name.node),
                        )
                        .label("acquired again")
                        .help("acquire all the units in one clause"),
                    );
                    continue;
                }
                acquire.push(ir::Acquire {
                    resource: rid,
                    units: units.node,
                });
            }
            StepClause::Run {
                program,
                args,
                env: envs,
            } => {
                if once(&mut seen, "action", c.span, diags) {
                    if program.node.trim().is_empty() {
                        diags.push(
                            Diagnostic::new(
                                Code::BadLiteral,
                                program.span,
                                "the program to run is empty",
                            )
                            .label("empty"),
                        );
                    }
                    let args: Vec<ir::Expr> = args
                        .iter()
                        .filter_map(|a| scope.expr(a, diags).map(|x| x.0))
                        .collect();
                    let envs = record_free(&scope, envs, diags);
                    action = Some(ir::Action::Run {
                        program: program.node.clone(),
                        args,
                        env: envs,
                    });
                }
            }
            StepClause::Post { url, body } => {
                if once(&mut seen, "action", c.span, diags) {
                    if !(url.node.starts_with("http://") || url.node.starts_with("https://")) {
                        diags.push(
                            Diagnostic::new(
                                Code::BadLiteral,
                                url.span,
                                "`post` needs an http:// or https:// URL",
                            )
                            .label("not an HTTP URL"),
                        );
                    }
                    let body = record_free(&scope, body, diags);
                    action = Some(ir::Action::Post {
                        url: url.node.clone(),
                        body,
                    });
                }
            }
            StepClause::Emit(e) => {
                if once(&mut seen, "action", c.span, diags) {
                    if let Some((event, fields)) = emit_event(&scope, e, diags) {
                        action = Some(ir::Action::Emit { event, fields });
                    }
                }
            }
            StepClause::Timeout(d) => {
                if once(&mut seen, "timeout", c.span, diags) {
                    let ms = d.millis().unwrap_or(u64::MAX);
                    if ms == 0 {
                        diags.push(
                            Diagnostic::new(
                                Code::BadLiteral,
                                d.span,
                                "a timeout of zero stops every run at once",
                            )
                            .label("zero"),
                        );
                    }
                    timeout_ms = Some(ms);
                }
            }
            StepClause::Retry { count, backoff } => {
                if once(&mut seen, "retry", c.span, diags) {
                    retry = ir::Retry {
                        attempts: u32::try_from(count.node).unwrap_or(u32::MAX),
                        backoff_ms: backoff.map(|b| b.millis().unwrap_or(u64::MAX)).unwrap_or(0),
                    };
                }
            }
            StepClause::OnStatus { status, emit } => {
                if let Some((event, fields)) = emit_event(&scope, emit, diags) {
                    on_status.push(ir::StatusEmit {
                        status: status_ir(status.node),
                        event,
                        fields,
                    });
                }
            }
            StepClause::Recover(entries) => {
                if once(&mut seen, "recover", c.span, diags) {
                    let mut given: HashMap<ast::Status, Span> = HashMap::new();
                    for (st, r) in entries {
                        let covers: &[ast::Status] = match st.node {
                            ast::Status::Complete => &[ast::Status::Success, ast::Status::Failure],
                            ref one => std::slice::from_ref(one),
                        };
                        for c in covers {
                            if let Some(first) = given.get(c) {
                                diags.push(
                                    Diagnostic::new(
                                        Code::Duplicate,
                                        st.span,
                                        format!("recovery for `{}` is given twice", c.as_str()),
                                    )
                                    .label("given again")
                                    .also(*first, "first given here"),
                                );
                                continue;
                            }
                            given.insert(*c, st.span);
                            let v = match r.node {
                                ast::Recovery::Rerun => ir::Recovery::Rerun,
                                ast::Recovery::Skip => ir::Recovery::Skip,
                            };
                            match c {
                                ast::Status::Ready => recover.ready = v,
                                ast::Status::Active => recover.active = v,
                                ast::Status::Success => recover.success = v,
                                _ => recover.failure = v,
                            }
                        }
                    }
                }
            }
        }
    }
    let Some(action) = action else {
        if seen.contains_key("action") {
            // The action has errors of its own.
            return None;
        }
        diags.push(
            Diagnostic::new(
                Code::StepShape,
                s.name.span,
                format!("step `{}` does nothing", s.name.node),
            )
            .label("no action")
            .help(
                "add one action: `run \"program\"`, `post \"http://...\"` or `emit Event { ... }`",
            ),
        );
        return None;
    };
    Some(ir::Step {
        name: s.name.node.clone(),
        source: s.name.span.file.0,
        trigger: ir_trigger,
        delay_ms,
        acquire,
        action,
        timeout_ms,
        retry,
        on_status,
        recover,
    })
}

fn status_ir(s: ast::Status) -> ir::Status {
    match s {
        ast::Status::Ready => ir::Status::Ready,
        ast::Status::Active => ir::Status::Active,
        ast::Status::Success => ir::Status::Success,
        ast::Status::Failure => ir::Status::Failure,
        ast::Status::Complete => ir::Status::Complete,
    }
}

/// A record whose keys are free names (environment variables, JSON keys).
fn record_free(
    scope: &Scope,
    fields: &[ast::FieldInit],
    diags: &mut Vec<Diagnostic>,
) -> Vec<(String, ir::Expr)> {
    let mut out: Vec<(String, ir::Expr)> = Vec::new();
    let mut names: HashMap<&str, Span> = HashMap::new();
    for f in fields {
        if let Some(first) = names.get(f.name.node.as_str()) {
            diags.push(duplicate("key", &f.name, *first));
            continue;
        }
        names.insert(&f.name.node, f.name.span);
        if let Some((x, _)) = scope.expr(&f.value, diags) {
            out.push((f.name.node.clone(), x));
        }
    }
    out
}

/// `emit Name { ... }` from a step: a declared event, every field given
/// once with its type.
fn emit_event(
    scope: &Scope,
    e: &ast::EmitEvent,
    diags: &mut Vec<Diagnostic>,
) -> Option<(ir::EventId, Vec<ir::Expr>)> {
    let env = scope.env;
    let ev = env.resolve_event(&e.event, "this emit", diags)?;
    let info = &env.events[ev];
    if info.pattern.is_some() {
        diags.push(
            Diagnostic::new(
                Code::UnknownEvent,
                e.event.span,
                format!("`{}` is the complex event of a pattern", info.name),
            )
            .label("a step can only emit declared events")
            .help(format!(
                "declare an event of its own: `event {}Done {{ ... }}`",
                info.name
            )),
        );
        return None;
    }
    let mut slots: Vec<Option<ir::Expr>> = vec![None; info.fields.len()];
    let mut ok = true;
    for f in &e.fields {
        let Some((s, fi)) = info.field(&f.name.node) else {
            let mut d = Diagnostic::new(
                Code::UnknownField,
                f.name.span,
                format!("unknown field `{}` in `{}`", f.name.node, info.name),
            )
            .label(format!("`{}` has no field `{}`", info.name, f.name.node));
            if let Some(x) = info.suggest(&f.name.node) {
                d = d.help(format!("did you mean `{x}`?"));
            }
            diags.push(d);
            ok = false;
            continue;
        };
        if slots[s].is_some() {
            diags.push(
                Diagnostic::new(
                    Code::Duplicate,
                    f.name.span,
                    format!("field `{}` is given twice", f.name.node),
                )
                .label("given again"),
            );
            ok = false;
            continue;
        }
        let Some((x, ty)) = scope.expr(&f.value, diags) else {
            ok = false;
            continue;
        };
        match coerce(x, ty, fi.ty) {
            Some(x) => slots[s] = Some(x),
            None => {
                diags.push(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        f.value.span,
                        format!(
                            "`{}.{}` is `{}`, but this is `{ty}`",
                            info.name, fi.name, fi.ty
                        ),
                    )
                    .label(format!("this is `{ty}`"))
                    .also(fi.span, format!("declared `{}` here", fi.ty)),
                );
                ok = false;
            }
        }
    }
    let missing: Vec<&str> = info
        .fields
        .iter()
        .zip(&slots)
        .filter(|(f, s)| s.is_none() && !e.fields.iter().any(|x| x.name.node == f.name))
        .map(|(f, _)| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        let list = missing
            .iter()
            .map(|m| format!("`{m}`"))
            .collect::<Vec<_>>()
            .join(", ");
        diags.push(
            Diagnostic::new(
                Code::EmitFields,
                e.event.span,
                format!("`{}` is emitted without {list}", info.name),
            )
            .label("missing fields")
            .help(format!(
                "give every field: `{} {{ {} }}`",
                info.name,
                info.fields
                    .iter()
                    .map(|f| format!("{}: ...", f.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
        return None;
    }
    if !ok {
        return None;
    }
    Some((Env::event_id(ev), slots.into_iter().flatten().collect()))
}

/// Steps that can never run: they trigger each other in a cycle and
/// nothing outside the cycle produces their triggers.
pub(super) fn warn_step_cycles(env: &Env, diags: &mut Vec<Diagnostic>) {
    let n = env.steps.len();
    let emits: Vec<BTreeSet<usize>> = env
        .steps
        .iter()
        .map(|s| {
            s.clauses
                .iter()
                .filter_map(|c| match &c.node {
                    StepClause::Emit(e) | StepClause::OnStatus { emit: e, .. } => {
                        env.event(&e.event.node)
                    }
                    _ => None,
                })
                .collect()
        })
        .collect();
    let triggers: Vec<Option<&ast::Trigger>> = env
        .steps
        .iter()
        .map(|s| {
            s.clauses.iter().find_map(|c| match &c.node {
                StepClause::On(t) => Some(t),
                _ => None,
            })
        })
        .collect();
    let emitted: BTreeSet<usize> = emits.iter().flatten().copied().collect();
    // Events that can arrive: declared events no step emits, to start with.
    let mut can: BTreeSet<usize> = (0..env.declared_events)
        .filter(|e| !emitted.contains(e))
        .collect();
    let mut fires = vec![false; n];
    loop {
        let mut changed = false;
        for (pi, p) in env.patterns.iter().enumerate() {
            let out = env.pattern_output(pi);
            // A run starts with the first block's event; its window may
            // then close on it.
            if let Some(t) = env.timeouts[pi].filter(|t| !can.contains(t)) {
                let flat = super::flatten(&p.items);
                let first = flat.iter().find_map(|f| match &f.node.node {
                    PatternItem::Block(b) => Some(b),
                    _ => None,
                });
                let arrives = first.is_some_and(|b| {
                    std::iter::once(&b.event)
                        .chain(&b.alternatives)
                        .any(|t| env.event(&t.node).is_some_and(|e| can.contains(&e)))
                });
                if arrives {
                    can.insert(t);
                    changed = true;
                }
            }
            if can.contains(&out) {
                continue;
            }
            // Per required block, its types (any of an alternation will do).
            let needs: Vec<Vec<usize>> = super::flatten(&p.items)
                .iter()
                .filter(|f| f.required)
                .filter_map(|f| match &f.node.node {
                    PatternItem::Block(b) if b.quantifier.is_none_or(|q| q.bounds().0 > 0) => Some(
                        std::iter::once(&b.event)
                            .chain(&b.alternatives)
                            .filter_map(|t| env.event(&t.node))
                            .collect(),
                    ),
                    _ => None,
                })
                .collect();
            if !needs.is_empty() && needs.iter().all(|ts| ts.iter().any(|e| can.contains(e))) {
                can.insert(out);
                changed = true;
            }
        }
        for i in 0..n {
            if !fires[i] && triggers[i].is_some_and(|t| satisfiable(env, t, &can)) {
                fires[i] = true;
                can.extend(emits[i].iter().copied());
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Among steps that never fire, report those on a cycle.
    let feeds = |a: usize, b: usize| -> bool {
        triggers[b].is_some_and(|t| {
            let mut names = Vec::new();
            trigger_names(t, &mut names);
            names
                .iter()
                .filter_map(|x| env.event(x))
                .any(|e| emits[a].contains(&e) || fed_via_pattern(env, &emits[a], e))
        })
    };
    let mut reported = vec![false; n];
    for i in 0..n {
        if fires[i] || reported[i] || triggers[i].is_none() {
            continue;
        }
        // Steps reachable from i and back to i, among the dead ones.
        let reach = |from: usize| -> BTreeSet<usize> {
            let mut seen = BTreeSet::new();
            let mut stack = vec![from];
            while let Some(x) = stack.pop() {
                for (y, fired) in fires.iter().enumerate() {
                    if !fired && feeds(x, y) && seen.insert(y) {
                        stack.push(y);
                    }
                }
            }
            seen
        };
        let fwd = reach(i);
        if !fwd.contains(&i) {
            continue;
        }
        let cycle: Vec<usize> = fwd.into_iter().filter(|j| reach(*j).contains(&i)).collect();
        let names: Vec<String> = cycle
            .iter()
            .map(|j| format!("`{}`", env.steps[*j].name.node))
            .collect();
        let s = env.steps[i];
        let mut d = Diagnostic::new(
            Code::StepCycle,
            s.name.span,
            if cycle.len() == 1 {
                format!(
                    "step `{}` only triggers itself and will never run",
                    s.name.node
                )
            } else {
                format!(
                    "steps {} trigger each other, and nothing else triggers them",
                    names.join(", ")
                )
            },
        )
        .label("never triggered from outside the cycle");
        for j in &cycle {
            reported[*j] = true;
            if *j != i {
                d = d.also(env.steps[*j].name.span, "part of the cycle");
            }
        }
        diags.push(d.help("trigger one of them from an input event or a pattern"));
    }
}

fn fed_via_pattern(env: &Env, emitted: &BTreeSet<usize>, target: usize) -> bool {
    env.events
        .get(target)
        .and_then(|e| e.pattern)
        .is_some_and(|pi| {
            named_events(env.patterns[pi])
                .iter()
                .filter_map(|x| env.event(&x.node))
                .any(|e| emitted.contains(&e))
        })
}

fn trigger_names<'t>(t: &'t ast::Trigger, out: &mut Vec<&'t str>) {
    match &t.node {
        ast::TriggerKind::Event(id) => out.push(&id.node),
        ast::TriggerKind::And(v) | ast::TriggerKind::Or(v) => {
            v.iter().for_each(|x| trigger_names(x, out))
        }
    }
}

fn satisfiable(env: &Env, t: &ast::Trigger, can: &BTreeSet<usize>) -> bool {
    match &t.node {
        ast::TriggerKind::Event(id) => env.event(&id.node).is_some_and(|e| can.contains(&e)),
        ast::TriggerKind::And(v) => v.iter().all(|x| satisfiable(env, x, can)),
        ast::TriggerKind::Or(v) => v.iter().any(|x| satisfiable(env, x, can)),
    }
}
