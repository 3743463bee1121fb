//! Patterns: blocks, negations, halts, emit, partition keys.

use super::{named_events, CBlock, CPattern};
use crate::env::{duplicate, Env};
use crate::expr::{bid, slot, BindInfo, Scope};
use cep_grammar::ast::{self, Contiguity, PatternClause, PatternItem};
use cep_grammar::{Code, Diagnostic, Span};
use cep_ir as ir;
use std::collections::{BTreeSet, HashMap};

// ---- patterns -----------------------------------------------------------------------

/// Orders patterns so that each comes after the patterns whose complex
/// events it consumes; reports cycles.
pub(super) fn pattern_order(env: &Env, diags: &mut Vec<Diagnostic>) -> (Vec<usize>, ()) {
    let n = env.patterns.len();
    let deps: Vec<Vec<usize>> = env
        .patterns
        .iter()
        .map(|p| {
            let mut d: Vec<usize> = named_events(p)
                .into_iter()
                .filter_map(|e| env.event(&e.node))
                .filter_map(|ev| env.events[ev].pattern)
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    // Kahn's algorithm, smallest index first for a stable order.
    let mut indeg: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            users[d].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|i| indeg[*i] == 0).collect();
    let mut order = Vec::new();
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &u in &users[i] {
            indeg[u] -= 1;
            if indeg[u] == 0 {
                ready.insert(u);
            }
        }
    }
    for i in 0..n {
        if indeg[i] > 0 {
            let p = env.patterns[i];
            let others: Vec<String> = deps[i]
                .iter()
                .filter(|d| indeg[**d] > 0)
                .map(|d| format!("`{}`", env.patterns[*d].name.node))
                .collect();
            diags.push(
                Diagnostic::new(Code::PatternCycle, p.name.span, format!("pattern `{}` depends on its own complex events", p.name.node))
                    .label(format!("consumes {}", others.join(", ")))
                    .help("a pattern cannot consume, directly or through other patterns, the events it emits"),
            );
        }
    }
    (order, ())
}

fn contiguity(c: Contiguity) -> ir::Contiguity {
    match c {
        Contiguity::Next => ir::Contiguity::Strict,
        Contiguity::Then => ir::Contiguity::Relaxed,
        Contiguity::ThenAny => ir::Contiguity::Any,
    }
}

/// A checked pattern, the fields of its complex event, and the event
/// type and fields of its `on timeout emit`.
type Checked = (
    CPattern,
    Vec<crate::env::FieldInfo>,
    Option<(usize, Vec<crate::env::FieldInfo>)>,
);

pub(super) fn check_pattern(env: &Env, pi: usize, diags: &mut Vec<Diagnostic>) -> Option<Checked> {
    let p = env.patterns[pi];
    let output = env.pattern_output(pi);
    let owner = format!("pattern `{}`", p.name.node);

    // Header clauses.
    let mut partition: Option<&Vec<ast::Ident>> = None;
    let mut window: Option<(u64, Span)> = None;
    let mut skip: Option<ir::SkipPolicy> = None;
    let mut report: Option<ir::Report> = None;
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for c in &p.clauses {
        let key = match &c.node {
            PatternClause::PartitionBy(_) => "partition by",
            PatternClause::Within(_) => "within",
            PatternClause::Skip(_) => "skip",
            PatternClause::Report(..) => "report",
        };
        if let Some(first) = seen.get(key) {
            diags.push(
                Diagnostic::new(Code::Duplicate, c.span, format!("`{key}` is given twice"))
                    .label("given again here")
                    .also(*first, "first given here"),
            );
            continue;
        }
        seen.insert(key, c.span);
        match &c.node {
            PatternClause::PartitionBy(keys) => partition = Some(keys),
            PatternClause::Within(d) => {
                let ms = d.millis().unwrap_or(u64::MAX);
                if ms == 0 {
                    diags.push(
                        Diagnostic::new(
                            Code::BadLiteral,
                            d.span,
                            "a window of zero length matches nothing",
                        )
                        .label("zero")
                        .help("give a positive duration such as `10s`"),
                    );
                }
                window = Some((ms, d.span));
            }
            PatternClause::Skip(s) => {
                skip = Some(match s {
                    ast::SkipPolicy::PastLast => ir::SkipPolicy::PastLast,
                    ast::SkipPolicy::ToNext => ir::SkipPolicy::ToNext,
                })
            }
            PatternClause::Report(first, d) => {
                let ms = d.millis().unwrap_or(u64::MAX);
                if ms == 0 {
                    diags.push(
                        Diagnostic::new(Code::BadLiteral, d.span, "a period of zero length")
                            .label("zero")
                            .help("give a positive duration such as `1h`"),
                    );
                }
                report = Some(ir::Report {
                    first: *first,
                    every_ms: ms.max(1),
                });
            }
        }
    }

    // Blocks become bindings; negations attach to the next block.
    let mut binds: Vec<BindInfo> = Vec::new();
    let mut block_items: Vec<(&ast::Block, Span)> = Vec::new();
    let mut emit: Option<(&Vec<ast::FieldInit>, Span)> = None;
    let mut on_timeout: Option<(&ast::EmitEvent, Span)> = None;
    let items: Vec<&cep_grammar::Node<PatternItem>> = p.items.iter().collect();
    let mut first_positive_seen = false;
    for it in &items {
        match &it.node {
            PatternItem::Block(b) => {
                let ev = env.resolve_event(&b.event, "this block", diags);
                let (min, max) = b.quantifier.map(|q| q.bounds()).unwrap_or((1, Some(1)));
                if let Some(q) = &b.quantifier {
                    if max == Some(0) || max.is_some_and(|m| m < min) {
                        diags.push(
                            Diagnostic::new(
                                Code::BadQuantifier,
                                q.span,
                                "this quantifier can never match",
                            )
                            .label(match max {
                                Some(m) if m < min => format!("at least {min} but at most {m}"),
                                _ => "at most zero events".to_string(),
                            })
                            .help(
                                "the upper bound must be at least 1 and at least the lower bound",
                            ),
                        );
                    }
                }
                let group = max.is_none_or(|m| m > 1);
                let index = binds.len();
                let (name, span, named) = match &b.binding {
                    Some(id) => (id.node.clone(), id.span, true),
                    None => (format!("_{}", index + 1), b.event.span, false),
                };
                if named {
                    if let Some(prev) = binds.iter().find(|x| x.named && x.name == name) {
                        diags.push(duplicate("binding", b.binding.as_ref()?, prev.span));
                    } else if name == "prev" {
                        diags.push(
                            Diagnostic::new(Code::Duplicate, span, "`prev` cannot name a binding")
                                .label("reserved inside groups for the previous event")
                                .help("choose another name"),
                        );
                    }
                }
                // Contiguity keyword: none on the first block, one on every other.
                match (&b.contiguity, first_positive_seen) {
                    (Some(c), false) => diags.push(
                        Diagnostic::new(Code::MissingContiguity, c.span, "the first block takes no contiguity keyword")
                            .label("nothing comes before the first block")
                            .help("remove it: every event that matches the first block starts a run"),
                    ),
                    (None, true) => diags.push(
                        Diagnostic::new(Code::MissingContiguity, b.event.span, "this block needs `next`, `then` or `then any`")
                            .label("how does it follow the block before?")
                            .help(format!(
                                "write `then {0}` (skip till next match), `next {0}` (the very next event) or `then any {0}` (every later match)",
                                b.binding.as_ref().map(|x| format!("{}: {}", x.node, b.event.node)).unwrap_or_else(|| b.event.node.clone())
                            )),
                    ),
                    _ => {}
                }
                first_positive_seen = true;
                binds.push(BindInfo {
                    name,
                    span,
                    event: ev.unwrap_or(usize::MAX),
                    group,
                    named,
                    used: std::cell::Cell::new(false),
                });
                block_items.push((b, it.span));
                let _ = (min, max);
            }
            PatternItem::Not(n) => {
                env.resolve_event(&n.event, "this negation", diags);
            }
            PatternItem::Halt(g) => {
                env.resolve_event(&g.event, "this halt", diags);
            }
            PatternItem::Emit(fields) => {
                if let Some((_, first)) = emit {
                    diags.push(
                        Diagnostic::new(Code::Duplicate, it.span, "a pattern has one `emit`")
                            .label("a second `emit`")
                            .also(first, "the first `emit`"),
                    );
                } else {
                    emit = Some((fields, it.span));
                }
            }
            PatternItem::OnTimeout(t) => {
                if let Some((_, first)) = on_timeout {
                    diags.push(
                        Diagnostic::new(Code::Duplicate, it.span, "a pattern has one `on timeout`")
                            .label("a second `on timeout`")
                            .also(first, "the first `on timeout`"),
                    );
                } else {
                    on_timeout = Some((t, it.span));
                }
            }
        }
    }
    if let (Some((t, span)), None) = (on_timeout, window) {
        diags.push(
            Diagnostic::new(
                Code::BadPatternShape,
                span,
                format!("`on timeout emit {}` needs a window", t.event.node),
            )
            .label("a run times out when its window closes")
            .also(p.name.span, "this pattern has no `within`")
            .help("give the pattern a window: `within 10m` after its name"),
        );
    }

    // Shape: first and last positive items.
    let positives: Vec<&&cep_grammar::Node<PatternItem>> = items
        .iter()
        .filter(|i| matches!(i.node, PatternItem::Block(_) | PatternItem::Not(_)))
        .collect();
    if positives.is_empty() {
        diags.push(
            Diagnostic::new(
                Code::BadPatternShape,
                p.name.span,
                format!("pattern `{}` has no block", p.name.node),
            )
            .label("nothing to match")
            .help("add a block such as `a: Temperature where celsius > 30`"),
        );
        return None;
    }
    // A leading `not X within D`: look-back absence (no X of the key in
    // the D before the first event).
    let mut lookback_span: Option<Span> = None;
    if let Some(first) = positives.first() {
        match &first.node {
            PatternItem::Not(n) if n.within.is_some() && positives.len() > 1 => {
                lookback_span = Some(first.span);
            }
            PatternItem::Not(n) => diags.push(
                Diagnostic::new(
                    Code::BadPatternShape,
                    first.span,
                    "a pattern cannot start with a negation without a time",
                )
                .label("absent since when?")
                .help(format!(
                    "give it a time: `not {} within 10m` before the first block means none in the 10m before the first event",
                    n.event.node
                )),
            ),
            PatternItem::Block(b) => {
                if let Some(q) = &b.quantifier {
                    if q.bounds().0 == 0 {
                        diags.push(
                            Diagnostic::new(Code::BadPatternShape, q.span, "the first block cannot be optional")
                                .label("may match no event")
                                .help("every run starts with an event of the first block; make it required"),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    let mut absence: Option<(&ast::Negation, Span)> = None;
    if let Some(last) = positives.last() {
        match &last.node {
            PatternItem::Not(n) => match &n.within {
                Some(_) => absence = Some((n, last.span)),
                None => diags.push(
                    Diagnostic::new(
                        Code::BadPatternShape,
                        last.span,
                        "a pattern cannot end with a negation without a time",
                    )
                    .label("absent until when?")
                    .help(format!(
                        "wait for its absence for a while: `not {} within 30s`",
                        n.event.node
                    )),
                ),
            },
            PatternItem::Block(b) if positives.len() > 1 || b.quantifier.is_some() => {
                if let Some(q) = &b.quantifier {
                    if q.bounds().0 == 0 {
                        diags.push(
                            Diagnostic::new(
                                Code::BadPatternShape,
                                q.span,
                                "the last block cannot be optional",
                            )
                            .label("may match no event")
                            .help("a match must end with an event; make the last block required"),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    for pair in positives.windows(2) {
        if let (PatternItem::Not(n), PatternItem::Block(b)) = (&pair[0].node, &pair[1].node) {
            if let Some(q) = b.quantifier.filter(|q| q.bounds().0 == 0) {
                diags.push(
                    Diagnostic::new(
                        Code::BadPatternShape,
                        pair[0].span,
                        "a negation cannot come just before an optional block",
                    )
                    .label(format!(
                        "`not {}` would have no event to end at",
                        n.event.node
                    ))
                    .also(q.span, "this block may match nothing")
                    .help("make the block required, or move the negation before a required block"),
                );
            }
        }
    }
    for it in &positives {
        if let PatternItem::Not(n) = &it.node {
            if let Some(w) = n.within.filter(|w| w.millis() == Some(0)) {
                diags.push(
                    Diagnostic::new(
                        Code::BadLiteral,
                        w.span,
                        "an absence of zero length is always met",
                    )
                    .label("zero")
                    .help("give a positive duration such as `30s`"),
                );
            }
            if let Some(w) = &n.within {
                if absence.is_none_or(|(_, s)| s != it.span) && lookback_span != Some(it.span) {
                    diags.push(
                        Diagnostic::new(
                            Code::BadPatternShape,
                            w.span,
                            "`within` on a negation is only for the end of a pattern",
                        )
                        .label("between two blocks a negation lasts until the next block")
                        .help("remove `within`, or move the negation to the end"),
                    );
                }
            }
        }
    }

    // Conditions, in order: each block sees the blocks before it.
    let mut blocks: Vec<CBlock> = Vec::new();
    let mut pending_kills: Vec<ir::Guard> = Vec::new();
    let mut halts = Vec::new();
    let mut absence_guards = Vec::new();
    let mut lookback: Option<(ir::Guard, u64)> = None;
    let mut bi = 0usize;
    let mut inputs: BTreeSet<usize> = BTreeSet::new();
    for it in &items {
        match &it.node {
            PatternItem::Block(b) => {
                let info = &binds[bi];
                let ev_known = info.event != usize::MAX;
                if ev_known {
                    inputs.insert(info.event);
                }
                let prev = if info.group {
                    Some((bi, bi.checked_sub(1)))
                } else {
                    None
                };
                if let (Some((_, None)), Some(pred)) = (prev, &b.predicate) {
                    if uses_prev(pred) {
                        diags.push(
                            Diagnostic::new(
                                Code::NotAGroup,
                                pred.span,
                                "`prev` has no event before the first event of this group",
                            )
                            .label("this group starts the pattern")
                            .help("put a block before the group, or compare with a constant"),
                        );
                    }
                }
                let scope = Scope {
                    env,
                    current: ev_known.then_some(info.event),
                    bindings: &binds,
                    bound_upto: bi,
                    own: Some(bi),
                    prev,
                    triggers: None,
                    owner: &owner,
                    halt: false,
                };
                let predicate = match &b.predicate {
                    Some(e) if ev_known => scope.condition(e, diags),
                    _ => None,
                };
                blocks.push(CBlock {
                    binding: bi,
                    contiguity: b
                        .contiguity
                        .map(|c| contiguity(c.node))
                        .unwrap_or(ir::Contiguity::Relaxed),
                    predicate,
                    kills: std::mem::take(&mut pending_kills),
                });
                bi += 1;
            }
            PatternItem::Not(n) => {
                let Some(ev) = env.event(&n.event.node) else {
                    continue;
                };
                inputs.insert(ev);
                let scope = Scope {
                    env,
                    current: Some(ev),
                    bindings: &binds,
                    bound_upto: bi,
                    own: None,
                    prev: None,
                    triggers: None,
                    owner: &owner,
                    halt: false,
                };
                let predicate = n.predicate.as_ref().and_then(|e| scope.condition(e, diags));
                let g = ir::Guard {
                    event: Env::event_id(ev),
                    predicate,
                };
                if lookback_span == Some(it.span) {
                    let ms = n
                        .within
                        .map(|w| w.millis().unwrap_or(u64::MAX))
                        .unwrap_or(0);
                    lookback = Some((g, ms));
                } else if n.within.is_some() {
                    absence_guards.push(g);
                } else {
                    pending_kills.push(g);
                }
            }
            PatternItem::Halt(h) => {
                let Some(ev) = env.event(&h.event.node) else {
                    continue;
                };
                inputs.insert(ev);
                let scope = Scope {
                    env,
                    current: Some(ev),
                    bindings: &binds,
                    bound_upto: 0,
                    own: None,
                    prev: None,
                    triggers: None,
                    owner: &owner,
                    halt: true,
                };
                let predicate = h.predicate.as_ref().and_then(|e| scope.condition(e, diags));
                halts.push(ir::Guard {
                    event: Env::event_id(ev),
                    predicate,
                });
            }
            PatternItem::Emit(_) | PatternItem::OnTimeout(_) => {}
        }
    }

    // Projection, and what a timed-out run emits.
    let scope = Scope {
        env,
        current: None,
        bindings: &binds,
        bound_upto: binds.len(),
        own: None,
        prev: None,
        triggers: None,
        owner: &owner,
        halt: false,
    };
    let (fields, emit_exprs) = match emit {
        Some((inits, _)) => record(&scope, inits, diags),
        None => (Vec::new(), Vec::new()),
    };
    let timeout = on_timeout.and_then(|(t, _)| {
        let ev = env.timeouts.get(pi).copied().flatten()?;
        let (fields, exprs) = record(&scope, &t.fields, diags);
        Some((ev, fields, exprs))
    });

    // Partition key: every event the pattern names must have the fields.
    let mut part_keys = Vec::new();
    if let Some(keys) = partition {
        let mut key_types: Vec<Option<ir::Type>> = vec![None; keys.len()];
        for name_id in named_events(p) {
            let Some(ev) = env.event(&name_id.node) else {
                continue;
            };
            let info = &env.events[ev];
            if info.poisoned {
                continue;
            }
            let mut slots = Vec::new();
            for (ki, k) in keys.iter().enumerate() {
                match info.field(&k.node) {
                    Some((s, f)) => {
                        match key_types[ki] {
                            Some(t) if t != f.ty => diags.push(
                                Diagnostic::new(
                                    Code::TypeMismatch,
                                    name_id.span,
                                    format!(
                                        "the key `{}` is `{}` in `{}` but `{t}` elsewhere",
                                        k.node, f.ty, info.name
                                    ),
                                )
                                .label(format!("`{}.{}` is `{}`", info.name, k.node, f.ty))
                                .also(k.span, "the partition key"),
                            ),
                            _ => key_types[ki] = Some(f.ty),
                        }
                        slots.push(slot(s));
                    }
                    None => {
                        let mut d = Diagnostic::new(
                            Code::PartitionField,
                            name_id.span,
                            format!("`{}` has no field `{}` to partition by", info.name, k.node),
                        )
                        .label(format!("`{}` lacks `{}`", info.name, k.node))
                        .also(k.span, "the partition key");
                        if let Some(s) = info.suggest(&k.node) {
                            d = d.help(format!("did you mean `{s}`? every event the pattern names must have the key field"));
                        } else {
                            d = d.help("every event the pattern names (blocks, negations, halts) must have the key field");
                        }
                        diags.push(d);
                    }
                }
            }
            if slots.len() == keys.len()
                && !part_keys
                    .iter()
                    .any(|k: &ir::PartitionKey| k.event == Env::event_id(ev))
            {
                part_keys.push(ir::PartitionKey {
                    event: Env::event_id(ev),
                    slots,
                });
            }
        }
        part_keys.sort_by_key(|k| k.event);
    }

    // Warnings: unused bindings, unbounded runs.
    for b in &binds {
        if b.named && !b.used.get() && !b.name.starts_with('_') {
            diags.push(
                Diagnostic::new(
                    Code::UnusedBinding,
                    b.span,
                    format!("binding `{}` is never used", b.name),
                )
                .label("bound but not read")
                .help(format!(
                    "remove the name (keep the block), or prefix it with `_`: `_{}`",
                    b.name
                )),
            );
        }
    }
    if window.is_none() {
        // A run that may wait (a relaxed block) or grow (an open
        // quantifier) has nothing to end it without a window; every event
        // that matches the first block adds one more.
        let open = block_items.iter().find_map(|(b, span)| {
            let why = match (b.contiguity.map(|c| c.node), b.quantifier) {
                (Some(Contiguity::ThenAny), _) => "`then any` forks a run for every match",
                (_, Some(q)) if q.bounds().1.is_none() => {
                    "an open quantifier grows a run without end"
                }
                (Some(Contiguity::Then), _) => "a run waits here for as long as no match comes",
                _ => return None,
            };
            Some((why, span))
        });
        if let Some((why, span)) = open {
            diags.push(
                Diagnostic::new(
                    Code::Unbounded,
                    *span,
                    format!(
                        "pattern `{}` can keep an unbounded number of runs",
                        p.name.node
                    ),
                )
                .label(why)
                .also(p.name.span, "this pattern has no `within`")
                .help("add a window, e.g. `within 1m`, so that runs expire"),
            );
        }
    }

    let bindings = binds
        .iter()
        .zip(&block_items)
        .map(|(b, (blk, _))| {
            let (min, max) = blk.quantifier.map(|q| q.bounds()).unwrap_or((1, Some(1)));
            ir::Binding {
                name: b.name.clone(),
                event: Env::event_id(b.event),
                min,
                max,
                group: b.group,
            }
        })
        .collect();
    let cp = CPattern {
        name: p.name.node.clone(),
        output,
        inputs,
        partition: part_keys,
        window_ms: window.map(|w| w.0),
        skip: skip.unwrap_or(ir::SkipPolicy::NoSkip),
        bindings,
        blocks,
        absence: absence.map(|(n, _)| {
            let ms = n
                .within
                .map(|w| w.millis().unwrap_or(u64::MAX))
                .unwrap_or(0);
            (absence_guards, ms)
        }),
        halts,
        emit: emit_exprs,
        private: p.private.is_some(),
        lookback,
        report,
        on_timeout: timeout.as_ref().map(|(ev, _, exprs)| (*ev, exprs.clone())),
    };
    let _ = bid;
    Some((cp, fields, timeout.map(|(ev, f, _)| (ev, f))))
}

/// The fields of `emit { ... }` or `on timeout emit Name { ... }`: each
/// named once, typed by its expression.
fn record(
    scope: &Scope,
    inits: &[ast::FieldInit],
    diags: &mut Vec<Diagnostic>,
) -> (Vec<crate::env::FieldInfo>, Vec<ir::Expr>) {
    let mut fields = Vec::new();
    let mut exprs = Vec::new();
    let mut names: HashMap<&str, Span> = HashMap::new();
    for f in inits {
        if let Some(first) = names.get(f.name.node.as_str()) {
            diags.push(duplicate("field", &f.name, *first));
            continue;
        }
        names.insert(&f.name.node, f.name.span);
        if let Some((x, ty)) = scope.expr(&f.value, diags) {
            fields.push(crate::env::FieldInfo {
                name: f.name.node.clone(),
                ty,
                span: f.name.span,
                // An emitted field may have no value (written `null`);
                // the decoder reads every field of a complex event
                // as such, without a mark.
                optional: false,
            });
            exprs.push(x);
        }
    }
    (fields, exprs)
}

fn uses_prev(e: &ast::Expr) -> bool {
    use ast::ExprKind::*;
    match &e.node {
        Lit(_) => false,
        Name(n) => n.node == "prev",
        Field(b, _) | Unary(_, b) | Paren(b) | IsNull(b, _) => uses_prev(b),
        Call(_, args) => args.iter().any(uses_prev),
        Binary(_, l, r) => uses_prev(l) || uses_prev(r),
    }
}
