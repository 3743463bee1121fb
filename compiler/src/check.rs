//! Checks every declaration against the others and keeps, for lowering,
//! the typed pieces of each (IR expressions, resolved ids).

use crate::env::{duplicate, Env};
use crate::expr::{bid, coerce, slot, BindInfo, Scope};
use cep_grammar::ast::{self, Contiguity, PatternClause, PatternItem, StepClause};
use cep_grammar::diagnostic::did_you_mean;
use cep_grammar::{Code, Diagnostic, Span};
use cep_ir as ir;
use std::collections::{BTreeSet, HashMap};

/// The checked form of everything, ready to lower.
pub struct Checked<'a> {
    pub env: Env<'a>,
    /// Indexed like `env.patterns`; `None` where a pattern has errors.
    pub patterns: Vec<Option<CPattern>>,
    /// Pattern indices (source order) in dependency order.
    pub pattern_order: Vec<usize>,
    pub steps: Vec<ir::Step>,
    pub processes: Vec<ir::Process>,
}

pub struct CPattern {
    pub name: String,
    pub output: usize,
    pub inputs: BTreeSet<usize>,
    pub partition: Vec<ir::PartitionKey>,
    pub window_ms: Option<u64>,
    pub skip: ir::SkipPolicy,
    pub bindings: Vec<ir::Binding>,
    pub blocks: Vec<CBlock>,
    /// Trailing `not X within D`: the guards and D.
    pub absence: Option<(Vec<ir::Guard>, u64)>,
    pub halts: Vec<ir::Guard>,
    pub emit: Vec<ir::Expr>,
}

pub struct CBlock {
    pub binding: usize,
    pub contiguity: ir::Contiguity,
    pub predicate: Option<ir::Expr>,
    /// Inline negations between the previous block and this one.
    pub kills: Vec<ir::Guard>,
}

pub fn check(files: &[ast::File]) -> (Checked<'_>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut env = Env::build(files, &mut diags);
    let order = pattern_order(&env, &mut diags);
    let mut patterns: Vec<Option<CPattern>> = (0..env.patterns.len()).map(|_| None).collect();
    for &i in &order.0 {
        let before = diags.iter().filter(|d| d.is_error()).count();
        let p = check_pattern(&env, i, &mut diags);
        let ok = diags.iter().filter(|d| d.is_error()).count() == before;
        if let Some((cp, fields)) = p {
            let out = cp.output;
            if let Some(ev) = env.events.get_mut(out) {
                if ev.pattern == Some(i) && env.event_ix.get(&ev.name) == Some(&out) {
                    ev.fields = fields;
                    ev.poisoned = false;
                }
            }
            if ok {
                patterns[i] = Some(cp);
            }
        }
    }
    let steps = check_steps(&env, &mut diags);
    let processes = check_processes(&env, &mut diags);
    warn_step_cycles(&env, &mut diags);
    (
        Checked {
            env,
            patterns,
            pattern_order: order.0,
            steps,
            processes,
        },
        diags,
    )
}

// ---- patterns -----------------------------------------------------------------------

/// The event types a pattern names anywhere.
fn named_events(p: &ast::PatternDecl) -> Vec<&ast::Ident> {
    p.items
        .iter()
        .filter_map(|it| match &it.node {
            PatternItem::Block(b) => Some(&b.event),
            PatternItem::Not(n) => Some(&n.event),
            PatternItem::Halt(g) => Some(&g.event),
            PatternItem::Emit(_) => None,
        })
        .collect()
}

/// Orders patterns so that each comes after the patterns whose complex
/// events it consumes; reports cycles.
fn pattern_order(env: &Env, diags: &mut Vec<Diagnostic>) -> (Vec<usize>, ()) {
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

fn check_pattern(
    env: &Env,
    pi: usize,
    diags: &mut Vec<Diagnostic>,
) -> Option<(CPattern, Vec<crate::env::FieldInfo>)> {
    let p = env.patterns[pi];
    let output = env.events.len() - env.patterns.len() + pi;
    let owner = format!("pattern `{}`", p.name.node);

    // Header clauses.
    let mut partition: Option<&Vec<ast::Ident>> = None;
    let mut window: Option<(u64, Span)> = None;
    let mut skip: Option<ir::SkipPolicy> = None;
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for c in &p.clauses {
        let key = match &c.node {
            PatternClause::PartitionBy(_) => "partition by",
            PatternClause::Within(_) => "within",
            PatternClause::Skip(_) => "skip",
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
        }
    }

    // Blocks become bindings; negations attach to the next block.
    let mut binds: Vec<BindInfo> = Vec::new();
    let mut block_items: Vec<(&ast::Block, Span)> = Vec::new();
    let mut emit: Option<(&Vec<ast::FieldInit>, Span)> = None;
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
        }
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
    if let Some(first) = positives.first() {
        match &first.node {
            PatternItem::Not(_) => diags.push(
                Diagnostic::new(
                    Code::BadPatternShape,
                    first.span,
                    "a pattern cannot start with a negation",
                )
                .label("nothing before it to be absent after")
                .help(
                    "start with the event that begins the situation; put `not` between two blocks",
                ),
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
    for it in &positives {
        if let PatternItem::Not(n) = &it.node {
            if let Some(w) = &n.within {
                if absence.is_none_or(|(_, s)| s != it.span) {
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
                    prev: prev.filter(|(_, f)| f.is_some()),
                    triggers: None,
                    owner: &owner,
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
                };
                let predicate = n.predicate.as_ref().and_then(|e| scope.condition(e, diags));
                let g = ir::Guard {
                    event: Env::event_id(ev),
                    predicate,
                };
                if n.within.is_some() {
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
                };
                let predicate = h.predicate.as_ref().and_then(|e| scope.condition(e, diags));
                halts.push(ir::Guard {
                    event: Env::event_id(ev),
                    predicate,
                });
            }
            PatternItem::Emit(_) => {}
        }
    }

    // Projection.
    let mut fields = Vec::new();
    let mut emit_exprs = Vec::new();
    if let Some((inits, _)) = emit {
        let scope = Scope {
            env,
            current: None,
            bindings: &binds,
            bound_upto: binds.len(),
            own: None,
            prev: None,
            triggers: None,
            owner: &owner,
        };
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
                });
                emit_exprs.push(x);
            }
        }
    }

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
        let open = block_items.iter().find(|(b, _)| {
            b.contiguity.is_some_and(|c| c.node == Contiguity::ThenAny)
                || b.quantifier.is_some_and(|q| q.bounds().1.is_none())
        });
        if let Some((_, span)) = open {
            diags.push(
                Diagnostic::new(
                    Code::Unbounded,
                    *span,
                    format!(
                        "pattern `{}` can keep an unbounded number of runs",
                        p.name.node
                    ),
                )
                .label("`then any` or an open quantifier forks or grows runs")
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
    };
    let _ = bid;
    Some((cp, fields))
}

fn uses_prev(e: &ast::Expr) -> bool {
    use ast::ExprKind::*;
    match &e.node {
        Lit(_) => false,
        Name(n) => n.node == "prev",
        Field(b, _) | Unary(_, b) | Paren(b) => uses_prev(b),
        Call(_, args) => args.iter().any(uses_prev),
        Binary(_, l, r) => uses_prev(l) || uses_prev(r),
    }
}

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

fn check_steps(env: &Env, diags: &mut Vec<Diagnostic>) -> Vec<ir::Step> {
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

fn once<'x>(
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
                format!("a step has at most one `{key}`"),
            )
            .label("a second one")
            .also(*first, "the first one"),
        );
        return false;
    }
    seen.insert(key, span);
    let _: Option<&'x ()> = None;
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
fn warn_step_cycles(env: &Env, diags: &mut Vec<Diagnostic>) {
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
            let out = env.events.len() - env.patterns.len() + pi;
            if can.contains(&out) {
                continue;
            }
            let needs: Vec<usize> = p
                .items
                .iter()
                .filter_map(|it| match &it.node {
                    PatternItem::Block(b) if b.quantifier.is_none_or(|q| q.bounds().0 > 0) => {
                        env.event(&b.event.node)
                    }
                    _ => None,
                })
                .collect();
            if !needs.is_empty() && needs.iter().all(|e| can.contains(e)) {
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
                for y in 0..n {
                    if !fires[y] && feeds(x, y) && seen.insert(y) {
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

// ---- processes -----------------------------------------------------------------------

fn check_processes(env: &Env, diags: &mut Vec<Diagnostic>) -> Vec<ir::Process> {
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
            });
        }
    }
    out
}
