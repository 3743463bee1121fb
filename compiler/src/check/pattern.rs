//! Patterns: blocks, negations, halts, emit, partition keys.

use super::{named_events, CBlock, CGroup, CPattern};
use crate::env::{duplicate, Env};
use crate::expr::{bid, slot, BindInfo, Scope};
use cep_grammar::ast::{self, Contiguity, PatternClause, PatternItem};
use cep_grammar::{Code, Diagnostic, Span};
use cep_ir as ir;
use cep_ir::EventId;
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
            // The event types it consumes from the cycle (a pattern's own,
            // or its `on timeout` events).
            let mut others: Vec<String> = named_events(p)
                .into_iter()
                .filter(|e| {
                    env.event(&e.node)
                        .and_then(|ev| env.events[ev].pattern)
                        .is_some_and(|d| indeg[d] > 0)
                })
                .map(|e| format!("`{}`", e.node))
                .collect();
            others.dedup();
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
    let mut partition: Option<&Vec<ast::KeySpec>> = None;
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
    let flat = super::flatten(&p.items);
    // Per level (the pattern, then each open group): an item was seen.
    let mut seen: Vec<bool> = vec![false];
    // The group sub-patterns open at this point (their bindings).
    let mut open: Vec<usize> = Vec::new();
    // Per binding: its bounds and, for a group sub-pattern, its index.
    let mut shapes: Vec<(u32, Option<u32>, Option<u16>)> = Vec::new();
    let mut subs: u16 = 0;
    // Per block: inside a group sub-pattern.
    let mut in_body: Vec<bool> = Vec::new();
    for f in &flat {
        let it = f.node;
        let first_positive_seen = seen.last().copied().unwrap_or(true);
        let in_group = !open.is_empty();
        match &it.node {
            PatternItem::Group(_) if f.close => {
                open.pop();
                seen.pop();
            }
            PatternItem::Group(g) => {
                let index = binds.len();
                let (name, span, named) = match &g.binding {
                    Some(id) => (id.node.clone(), id.span, true),
                    None => (format!("_{}", index + 1), g.open.span, false),
                };
                if let (true, Some(id)) = (named, &g.binding) {
                    if let Some(prev) = binds.iter().find(|x| x.named && x.name == name) {
                        diags.push(duplicate("binding", id, prev.span));
                    } else if name == "prev" {
                        diags.push(
                            Diagnostic::new(Code::Duplicate, span, "`prev` cannot name a binding")
                                .label("reserved inside groups for the previous event")
                                .help("choose another name"),
                        );
                    }
                }
                match (&g.contiguity, first_positive_seen) {
                    (Some(c), false) => diags.push(first_keyword(c.span, in_group)),
                    (None, true) => diags.push(
                        Diagnostic::new(Code::MissingContiguity, g.open.span, "this group needs `next`, `then` or `then any`")
                            .label("how does it follow the item before?")
                            .help("write `then g: ( ... )`: the keyword also joins each iteration to the one before"),
                    ),
                    _ => {}
                }
                if let Some(last) = seen.last_mut() {
                    *last = true;
                }
                let (min, max) = g.quantifier.map(|q| q.bounds()).unwrap_or((1, Some(1)));
                if let Some(q) = &g.quantifier {
                    never_matches(q, min, max, diags);
                }
                for m in &g.modifiers {
                    diags.push(
                        Diagnostic::new(
                            Code::BadQuantifier,
                            m.span,
                            format!(
                                "`{}` is not available on a group sub-pattern",
                                m.node.as_str()
                            ),
                        )
                        .label("for a quantified block only")
                        .help("put it on a block's quantifier, inside or outside the group"),
                    );
                }
                if let Some(r) = &g.reluctant {
                    diags.push(
                        Diagnostic::new(
                            Code::BadQuantifier,
                            r.span,
                            "a reluctant quantifier is not available on a group sub-pattern",
                        )
                        .label("for a quantified block only")
                        .help("remove the `?`: a group gives a match per number of iterations"),
                    );
                }
                if !binds_an_event(&g.items) {
                    diags.push(
                        Diagnostic::new(
                            Code::BadQuantifier,
                            g.open.span,
                            "an iteration of this group could bind no event",
                        )
                        .label("every item of its body is optional")
                        .help("make one of its blocks required: `(A?)+` is written `A*`"),
                    );
                }
                if subs == 64 {
                    diags.push(
                        Diagnostic::new(
                            Code::BadPatternShape,
                            g.open.span,
                            "a pattern has at most 64 group sub-patterns",
                        )
                        .label("the 65th")
                        .help("split the pattern into patterns that feed each other"),
                    );
                }
                binds.push(BindInfo {
                    name,
                    span,
                    event: usize::MAX,
                    types: Vec::new(),
                    group: true,
                    sub: true,
                    parent: open.last().copied(),
                    named,
                    used: std::cell::Cell::new(false),
                });
                shapes.push((min, max, Some(subs)));
                subs = subs.saturating_add(1);
                open.push(index);
                seen.push(false);
            }
            PatternItem::Block(b) => {
                let first = env.resolve_event(&b.event, "this block", diags);
                let mut types: Vec<usize> = first.into_iter().collect();
                let mut known = first.is_some();
                for (k, a) in b.alternatives.iter().enumerate() {
                    let Some(t) = env.resolve_event(a, "this alternative", diags) else {
                        known = false;
                        continue;
                    };
                    let earlier = std::iter::once(&b.event).chain(&b.alternatives[..k]);
                    if let Some(prev) = earlier.into_iter().find(|x| x.node == a.node) {
                        diags.push(
                            Diagnostic::new(
                                Code::Duplicate,
                                a.span,
                                format!("`{}` is named twice in this alternation", a.node),
                            )
                            .label("named again here")
                            .also(prev.span, "first named here"),
                        );
                        continue;
                    }
                    types.push(t);
                }
                let ambiguous =
                    b.quantifier.is_some() && b.parens.is_none() && !b.alternatives.is_empty();
                if let (Some(q), None, false) =
                    (&b.quantifier, &b.parens, b.alternatives.is_empty())
                {
                    let alt = std::iter::once(&b.event)
                        .chain(&b.alternatives)
                        .map(|t| t.node.as_str())
                        .collect::<Vec<_>>()
                        .join(" | ");
                    diags.push(
                        Diagnostic::new(
                            Code::BadQuantifier,
                            q.span,
                            "a quantifier after an alternation needs parentheses",
                        )
                        .label(format!(
                            "does it apply to `{}` or to the whole?",
                            b.alternatives.last().map_or("", |x| x.node.as_str())
                        ))
                        .help(format!(
                            "write `({alt}){}` for the whole alternation",
                            q.node.written()
                        )),
                    );
                }
                let view = env
                    .block_views
                    .get(pi)
                    .and_then(|v| v.get(block_items.len()))
                    .copied()
                    .flatten();
                let ev = match (known, view) {
                    (true, Some(v)) => Some(v),
                    (true, None) => first,
                    (false, _) => None,
                };
                let (min, max) = b.quantifier.map(|q| q.bounds()).unwrap_or((1, Some(1)));
                if let Some(q) = &b.quantifier {
                    never_matches(q, min, max, diags);
                }
                // (An ambiguous `A | B+` is reported once, not again as a
                // group read without an aggregate.)
                let group = max.is_none_or(|m| m > 1) && !ambiguous;
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
                    (Some(c), false) => diags.push(first_keyword(c.span, in_group)),
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
                if let Some(last) = seen.last_mut() {
                    *last = true;
                }
                if in_group {
                    let word = b
                        .modifiers
                        .iter()
                        .find(|m| m.node == ast::BlockMod::Greedy)
                        .map(|m| (m.span, "`greedy`"))
                        .or(b
                            .reluctant
                            .as_ref()
                            .map(|r| (r.span, "a reluctant quantifier")));
                    if let Some((at, what)) = word {
                        diags.push(
                            Diagnostic::new(
                                Code::BadQuantifier,
                                at,
                                format!("{what} is not available inside a group sub-pattern"),
                            )
                            .label("the longest or shortest match per start is chosen by one group's length")
                            .help("use it in a pattern without group sub-patterns"),
                        );
                    }
                }
                binds.push(BindInfo {
                    name,
                    span,
                    event: ev.unwrap_or(usize::MAX),
                    types,
                    group,
                    sub: false,
                    parent: open.last().copied(),
                    named,
                    used: std::cell::Cell::new(false),
                });
                shapes.push((min, max, None));
                block_items.push((b, it.span));
                in_body.push(in_group);
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
    // A run times out only while its bindings are not a match: with one
    // block that one event (or its minimum of one) completes, the run
    // is a match at once (a trailing absence decides the rest).
    if let (Some((t, span)), Some(_)) = (on_timeout, window) {
        let first_min = block_items
            .first()
            .map_or(1, |(b, _)| b.quantifier.map_or(1, |q| q.node.bounds().0));
        if block_items.len() == 1 && first_min <= 1 && subs == 0 {
            diags.push(
                Diagnostic::new(
                    Code::NeverTimesOut,
                    span,
                    format!("`{}` is never emitted", t.event.node),
                )
                .label("no run of this pattern can time out")
                .help("a run times out while it waits for a later block; with one block, its first event makes the run a match (and a trailing `not ... within` decides by itself)"),
            );
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
        .filter(|i| {
            matches!(
                i.node,
                PatternItem::Block(_) | PatternItem::Not(_) | PatternItem::Group(_)
            )
        })
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
            PatternItem::Block(_) | PatternItem::Group(_) => {
                if let Some(q) = optional_span(first) {
                    diags.push(
                        Diagnostic::new(Code::BadPatternShape, q, "the first block cannot be optional")
                            .label("may match no event")
                            .help("every run starts with an event of the first block; make it required"),
                    );
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
            PatternItem::Block(_) | PatternItem::Group(_) => {
                if let Some(q) = optional_span(last) {
                    diags.push(
                        Diagnostic::new(
                            Code::BadPatternShape,
                            q,
                            "the last block cannot be optional",
                        )
                        .label("may match no event")
                        .help("a match must end with an event; make the last block required"),
                    );
                }
            }
            _ => {}
        }
    }
    for pair in positives.windows(2) {
        negation_before_optional(pair[0], pair[1], diags);
    }
    let tail = p.items.iter().rposition(|i| {
        matches!(
            i.node,
            PatternItem::Block(_) | PatternItem::Group(_) | PatternItem::Not(_)
        )
    });
    check_bodies(&p.items, tail, true, diags);
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

    let (inners, select) = modifiers(&block_items, absence.is_some(), diags);
    // (One inside a group was reported there.)
    if let (Some((k, _)), true) = (select, subs > 0) {
        if let Some((b, span)) = block_items
            .get(k)
            .filter(|_| !in_body.get(k).copied().unwrap_or(false))
        {
            let at = b
                .modifiers
                .iter()
                .find(|m| m.node == ast::BlockMod::Greedy)
                .map(|m| m.span)
                .or(b.reluctant.as_ref().map(|r| r.span))
                .unwrap_or(*span);
            diags.push(
                Diagnostic::new(
                    Code::BadQuantifier,
                    at,
                    "a greedy or reluctant group cannot be used with group sub-patterns",
                )
                .label("chooses among matches by this group's length")
                .help("use it in a pattern without group sub-patterns, or feed this pattern's matches to another"),
            );
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
    let mut groups: Vec<CGroup> = Vec::new();
    // The open group sub-patterns: their bindings, and their entries in
    // `groups`; per level, the binding of the item before (a block's or
    // a group's) and the contiguity that joins the level's first item.
    let mut open: Vec<usize> = Vec::new();
    let mut open_groups: Vec<usize> = Vec::new();
    let mut before: Vec<Option<usize>> = vec![None];
    let mut joins: Vec<ir::Contiguity> = vec![ir::Contiguity::Relaxed];
    // The contiguity of an item: its keyword, or for the first item of a
    // group the group's.
    let effective = |written: Option<cep_grammar::Node<Contiguity>>,
                     first: bool,
                     joins: &[ir::Contiguity]| match written {
        Some(c) => contiguity(c.node),
        None if first => joins.last().copied().unwrap_or(ir::Contiguity::Relaxed),
        None => ir::Contiguity::Relaxed,
    };
    for f in &flat {
        let it = f.node;
        let first_here = before.last().copied().flatten().is_none();
        match &it.node {
            PatternItem::Group(_) if f.close => {
                if let Some(gi) = open_groups.pop() {
                    if let Some(g) = groups.get_mut(gi) {
                        g.last_block = blocks.len().saturating_sub(1);
                        g.end_kills = std::mem::take(&mut pending_kills);
                    }
                }
                let g = open.pop();
                joins.pop();
                before.pop();
                if let Some(b) = before.last_mut() {
                    *b = g;
                }
            }
            PatternItem::Group(g) => {
                let (min, max, index) = shapes.get(bi).copied().unwrap_or((1, Some(1), None));
                let c = effective(g.contiguity, first_here && !open.is_empty(), &joins);
                groups.push(CGroup {
                    binding: bi,
                    index: index.unwrap_or(0),
                    first_block: blocks.len(),
                    last_block: blocks.len(),
                    min,
                    max,
                    pre_kills: std::mem::take(&mut pending_kills),
                    end_kills: Vec::new(),
                });
                open_groups.push(groups.len() - 1);
                open.push(bi);
                joins.push(c);
                before.push(None);
                bi += 1;
            }
            PatternItem::Block(b) => {
                let info = &binds[bi];
                let ev_known = info.event != usize::MAX;
                if ev_known {
                    inputs.extend(info.types.iter().copied());
                }
                // `prev` for a group's first event: the block before it
                // at its level.
                let fallback = before.last().copied().flatten().filter(|x| !binds[*x].sub);
                let prev = if info.group {
                    Some((bi, fallback))
                } else {
                    None
                };
                if let (Some((_, None)), Some(pred)) = (prev, &b.predicate) {
                    if uses_prev(pred) {
                        let why = if !first_here {
                            "the item before this group is a group sub-pattern"
                        } else if open.is_empty() {
                            "this group starts the pattern"
                        } else {
                            "this group starts the body of a group sub-pattern"
                        };
                        diags.push(
                            Diagnostic::new(
                                Code::NotAGroup,
                                pred.span,
                                "`prev` has no event before the first event of this group",
                            )
                            .label(why)
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
                    inside: &open,
                };
                let predicate = match &b.predicate {
                    Some(e) if ev_known => scope.condition(e, diags),
                    _ => None,
                };
                let inner = inners.get(blocks.len()).copied().flatten();
                blocks.push(CBlock {
                    binding: bi,
                    contiguity: effective(b.contiguity, first_here && !open.is_empty(), &joins),
                    predicate,
                    kills: std::mem::take(&mut pending_kills),
                    inner,
                });
                if let Some(b) = before.last_mut() {
                    *b = Some(bi);
                }
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
                    inside: &open,
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
                    inside: &[],
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
        inside: &[],
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

    // Partition key: every event the pattern names must have the fields
    // (under the key's name, or the one `key = Type.field` gives).
    let mut part_keys = Vec::new();
    if let Some(keys) = partition {
        let named: Vec<&ast::Ident> = named_events(p);
        check_key_sources(env, keys, &named, diags);
        let mut key_types: Vec<Option<ir::Type>> = vec![None; keys.len()];
        for name_id in named {
            let Some(ev) = env.event(&name_id.node) else {
                continue;
            };
            let info = &env.events[ev];
            if info.poisoned {
                continue;
            }
            let mut slots = Vec::new();
            for (ki, k) in keys.iter().enumerate() {
                let source = k.from.iter().find(|(ty, _)| ty.node == info.name);
                let field = source.map_or(&k.name, |(_, f)| f);
                match info.field(&field.node) {
                    Some((s, f)) => {
                        match key_types[ki] {
                            Some(t) if t != f.ty => diags.push(
                                Diagnostic::new(
                                    Code::TypeMismatch,
                                    name_id.span,
                                    format!(
                                        "the key `{}` is `{}` in `{}` but `{t}` elsewhere",
                                        k.name.node, f.ty, info.name
                                    ),
                                )
                                .label(format!("`{}.{}` is `{}`", info.name, field.node, f.ty))
                                .also(field.span, "the partition key"),
                            ),
                            _ => key_types[ki] = Some(f.ty),
                        }
                        slots.push(slot(s));
                    }
                    None => {
                        let mut d = Diagnostic::new(
                            Code::PartitionField,
                            name_id.span,
                            format!(
                                "`{}` has no field `{}` to partition by",
                                info.name, field.node
                            ),
                        )
                        .label(format!("`{}` lacks `{}`", info.name, field.node))
                        .also(field.span, "the partition key");
                        if let Some(s) = info.suggest(&field.node) {
                            d = d.help(format!("did you mean `{s}`? every event the pattern names must have the key field"));
                        } else {
                            d = d.help(format!(
                                "every event the pattern names (blocks, negations, halts) must have the key field; \
                                 where a type names it otherwise, say which field it is: `partition by {} = {}.its_field`",
                                k.name.node, info.name
                            ));
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
        let open_group = flat.iter().find_map(|f| match &f.node.node {
            PatternItem::Group(g)
                if !f.close && g.quantifier.is_some_and(|q| q.node.bounds().1.is_none()) =>
            {
                Some(("an open quantifier grows a run without end", &f.node.span))
            }
            _ => None,
        });
        let open = open_group.or_else(|| {
            block_items.iter().find_map(|(b, span)| {
                let why = match (b.contiguity.map(|c| c.node), b.quantifier) {
                    (Some(Contiguity::ThenAny), _) => "`then any` forks a run for every match",
                    (_, Some(q)) if q.bounds().1.is_none() => {
                        "an open quantifier grows a run without end"
                    }
                    (Some(Contiguity::Then), _) => "a run waits here for as long as no match comes",
                    _ => return None,
                };
                Some((why, span))
            })
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
        .zip(&shapes)
        .map(|(b, &(min, max, sub))| ir::Binding {
            name: b.name.clone(),
            event: b.types.first().map_or(EventId::MAX, |t| Env::event_id(*t)),
            alternatives: b.types.iter().skip(1).map(|t| Env::event_id(*t)).collect(),
            min,
            max,
            group: b.group,
            sub,
            parent: b.parent.map(crate::expr::bid),
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
        select,
        groups,
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

/// Makes pattern `pi`'s views of its blocks (`EventInfo::view`), once the
/// fields of every type it names are known: for an alternation, the
/// fields its types have in common (same name and type, in the first
/// type's order); for a block of a type whose partition key is read from
/// a field of another name, its fields. Either way the partition key is
/// a field under its own name. Problems are reported by the pattern's
/// check (an unknown type gives no view).
pub(super) fn prepare_views(env: &mut Env, pi: usize) {
    let p = env.patterns[pi];
    let keys: Vec<&ast::KeySpec> = p
        .clauses
        .iter()
        .filter_map(|c| match &c.node {
            PatternClause::PartitionBy(keys) => Some(keys),
            _ => None,
        })
        .flatten()
        .collect();
    let mut views = Vec::new();
    for f in super::flatten(&p.items) {
        let PatternItem::Block(b) = &f.node.node else {
            continue;
        };
        let types: Option<Vec<usize>> = std::iter::once(&b.event)
            .chain(&b.alternatives)
            .map(|t| env.event(&t.node))
            .collect();
        let renamed = |t: usize| {
            keys.iter()
                .any(|k| k.from.iter().any(|(ty, _)| env.event(&ty.node) == Some(t)))
        };
        let view = match types {
            Some(types) if types.len() > 1 || types.iter().any(|t| renamed(*t)) => {
                Some(view_of(env, &types, &keys))
            }
            _ => None,
        };
        views.push(view.map(|v| env.add_view(v)));
    }
    if let Some(slot) = env.block_views.get_mut(pi) {
        *slot = views;
    }
}

fn view_of(env: &Env, types: &[usize], keys: &[&ast::KeySpec]) -> crate::env::EventInfo {
    let infos: Vec<&crate::env::EventInfo> = types.iter().map(|t| &env.events[*t]).collect();
    let name = infos
        .iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(" | ");
    let poisoned = infos.iter().any(|i| i.poisoned);
    let mut fields: Vec<crate::env::FieldInfo> = Vec::new();
    let mut slots: Vec<Vec<usize>> = vec![Vec::new(); types.len()];
    let mut add =
        |f: crate::env::FieldInfo, at: Vec<usize>, fields: &mut Vec<crate::env::FieldInfo>| {
            match fields.iter().position(|x| x.name == f.name) {
                Some(i) => {
                    for (m, s) in at.into_iter().enumerate() {
                        slots[m][i] = s;
                    }
                    fields[i] = f;
                }
                None => {
                    for (m, s) in at.into_iter().enumerate() {
                        slots[m].push(s);
                    }
                    fields.push(f);
                }
            }
        };
    if !poisoned {
        if let Some(first) = infos.first() {
            for f in &first.fields {
                let at: Option<Vec<usize>> = infos
                    .iter()
                    .map(|i| {
                        i.field(&f.name)
                            .filter(|(_, g)| g.ty == f.ty)
                            .map(|(s, _)| s)
                    })
                    .collect();
                if let Some(at) = at {
                    // Optional in one type: may have no value.
                    let optional = infos
                        .iter()
                        .any(|i| i.field(&f.name).is_some_and(|(_, g)| g.optional));
                    add(
                        crate::env::FieldInfo {
                            optional,
                            ..f.clone()
                        },
                        at,
                        &mut fields,
                    );
                }
            }
        }
        // The key under its name, from each type's own field.
        for k in keys {
            let found: Option<Vec<(usize, &crate::env::FieldInfo)>> = types
                .iter()
                .zip(&infos)
                .map(|(t, i)| {
                    let field = k
                        .from
                        .iter()
                        .find(|(ty, _)| env.event(&ty.node) == Some(*t))
                        .map_or(k.name.node.as_str(), |(_, f)| f.node.as_str());
                    i.field(field)
                })
                .collect();
            let Some(found) = found else { continue };
            let ty = found[0].1.ty;
            if found.iter().any(|(_, f)| f.ty != ty) {
                continue;
            }
            let f = crate::env::FieldInfo {
                name: k.name.node.clone(),
                ty,
                span: k.name.span,
                optional: found.iter().any(|(_, f)| f.optional),
            };
            add(f, found.iter().map(|x| x.0).collect(), &mut fields);
        }
    }
    crate::env::EventInfo {
        name,
        span: infos.first().map_or(Span::default(), |i| i.span),
        fields,
        time_field: None,
        pattern: None,
        poisoned,
        view: Some(types.iter().copied().zip(slots).collect()),
    }
}

/// `partition by key = Type.field | ...`: each type listed once, named by
/// the pattern, and without a field of the key's own name that would be
/// hidden (a binding of that type reads the key under that name).
fn check_key_sources(
    env: &Env,
    keys: &[ast::KeySpec],
    named: &[&ast::Ident],
    diags: &mut Vec<Diagnostic>,
) {
    for k in keys {
        for (i, (ty, field)) in k.from.iter().enumerate() {
            if let Some((prev, _)) = k.from[..i].iter().find(|(t, _)| t.node == ty.node) {
                diags.push(
                    Diagnostic::new(
                        Code::Duplicate,
                        ty.span,
                        format!("`{}` is given twice for the key `{}`", ty.node, k.name.node),
                    )
                    .label("given again here")
                    .also(prev.span, "first given here"),
                );
                continue;
            }
            let Some(ev) = env.resolve_event(ty, "this key source", diags) else {
                continue;
            };
            if !named.iter().any(|n| n.node == ty.node) {
                diags.push(
                    Diagnostic::new(
                        Code::PartitionField,
                        ty.span,
                        format!("the pattern does not name `{}`", ty.node),
                    )
                    .label("no block, negation or halt of this type")
                    .help("remove it from the key, or name the type in the pattern"),
                );
                continue;
            }
            let info = &env.events[ev];
            if field.node != k.name.node && info.field(&k.name.node).is_some() {
                diags.push(
                    Diagnostic::new(
                        Code::PartitionField,
                        k.name.span,
                        format!(
                            "`{}` has a field `{}` of its own, but the key `{}` is read from `{}.{}`",
                            ty.node, k.name.node, k.name.node, ty.node, field.node
                        ),
                    )
                    .label(format!("in this pattern, `x.{}` of a `{}` would mean its key", k.name.node, ty.node))
                    .also(field.span, "the key's field in this type")
                    .help(format!(
                        "name the key differently, e.g. `partition by {}_key = {}.{}`",
                        k.name.node, ty.node, field.node
                    )),
                );
            }
        }
    }
}

/// `greedy`, `consecutive`, `any` and reluctant quantifiers
/// (docs/language.md 6.4a): per block, the group's contiguity between its
/// events where it differs from the entering keyword's, and the one
/// greedy or reluctant group (its block, `true` for greedy).
fn modifiers(
    blocks: &[(&ast::Block, Span)],
    absence: bool,
    diags: &mut Vec<Diagnostic>,
) -> (Vec<Option<ir::Contiguity>>, Option<(usize, bool)>) {
    let mut inners = Vec::new();
    let mut select: Option<(usize, bool, Span)> = None;
    for (i, (b, _)) in blocks.iter().enumerate() {
        let (min, max) = b
            .quantifier
            .map(|q| q.node.bounds())
            .unwrap_or((1, Some(1)));
        let mut inner = None;
        let mut greedy: Option<Span> = None;
        let mut seen: Vec<(ast::BlockMod, Span)> = Vec::new();
        for m in &b.modifiers {
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == m.node) {
                diags.push(
                    Diagnostic::new(
                        Code::Duplicate,
                        m.span,
                        format!("`{}` is given twice", m.node.as_str()),
                    )
                    .label("given again here")
                    .also(*first, "first given here"),
                );
                continue;
            }
            let clash = |k: ast::BlockMod| seen.iter().find(|(x, _)| *x == k).map(|x| x.1);
            match m.node {
                ast::BlockMod::Consecutive | ast::BlockMod::Any => {
                    let other = if m.node == ast::BlockMod::Any {
                        ast::BlockMod::Consecutive
                    } else {
                        ast::BlockMod::Any
                    };
                    if let Some(o) = clash(other) {
                        diags.push(
                            Diagnostic::new(Code::BadQuantifier, m.span, "`consecutive` and `any` contradict each other")
                                .label(format!("`{}` here", m.node.as_str()))
                                .also(o, format!("`{}` here", other.as_str()))
                                .help("keep one: `consecutive` takes the group's events one after the other, `any` any combination of them"),
                        );
                    }
                    inner = Some(if m.node == ast::BlockMod::Any {
                        ir::Contiguity::Any
                    } else {
                        ir::Contiguity::Strict
                    });
                }
                ast::BlockMod::Greedy => greedy = Some(m.span),
            }
            seen.push((m.node, m.span));
        }
        if max.is_some_and(|m| m <= 1) {
            if let Some(m) = b.modifiers.first() {
                diags.push(
                    Diagnostic::new(
                        Code::BadQuantifier,
                        m.span,
                        format!("`{}` is for a group of events", m.node.as_str()),
                    )
                    .label("this block takes at most one event")
                    .help(
                        "give it a quantifier that allows several events, such as `+` or `{2,5}`",
                    ),
                );
            }
        }
        let reluctant = b.reluctant.as_ref().map(|r| r.span);
        if let (Some(g), Some(r)) = (greedy, reluctant) {
            diags.push(
                Diagnostic::new(
                    Code::BadQuantifier,
                    g,
                    "a group cannot be both greedy and reluctant",
                )
                .label("the longest match")
                .also(r, "the shortest match")
                .help("keep `greedy` or the `?` after the quantifier"),
            );
        }
        let chosen = greedy.map(|g| (true, g)).or(reluctant.map(|r| (false, r)));
        if let Some((longest, at)) = chosen {
            if max == Some(min) && min > 1 {
                diags.push(
                    Diagnostic::new(
                        Code::BadQuantifier,
                        at,
                        format!("a group of exactly {min} events has one length"),
                    )
                    .label(if longest {
                        "nothing longer to prefer"
                    } else {
                        "nothing shorter to prefer"
                    })
                    .help("give the group a range, such as `{2,5}` or `{2,}`"),
                );
            }
            match select {
                Some((_, _, first)) => diags.push(
                    Diagnostic::new(
                        Code::BadQuantifier,
                        at,
                        "a pattern has at most one greedy or reluctant group",
                    )
                    .label("a second one")
                    .also(first, "the first")
                    .help("which matches are kept is decided by one group's length"),
                ),
                None => select = Some((i, longest, at)),
            }
            let last = i + 1 == blocks.len() && !absence;
            if longest && last {
                if inner == Some(ir::Contiguity::Any) {
                    diags.push(
                        Diagnostic::new(
                            Code::BadQuantifier,
                            at,
                            "a greedy group at the end cannot take any combination",
                        )
                        .label("it ends at the first event of the key it does not take")
                        .help("remove `any`, or put a block after the group"),
                    );
                }
                // At the end, a greedy group grows while the key's next
                // event qualifies: its later events are consecutive.
                inner = Some(ir::Contiguity::Strict);
            }
        }
        inners.push(inner);
    }
    (inners, select.map(|(i, longest, _)| (i, longest)))
}

/// CEP018 for bounds that can never match (`{5,2}`, `{0}`).
fn never_matches(
    q: &cep_grammar::Node<ast::Quantifier>,
    min: u32,
    max: Option<u32>,
    diags: &mut Vec<Diagnostic>,
) {
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
            .help("the upper bound must be at least 1 and at least the lower bound"),
        );
    }
}

/// CEP019: a keyword on the first block of a pattern or the first item
/// of a group's body.
fn first_keyword(at: Span, in_group: bool) -> Diagnostic {
    if in_group {
        Diagnostic::new(
            Code::MissingContiguity,
            at,
            "the first item of a group takes no contiguity keyword",
        )
        .label("the group's keyword comes before its `(`")
        .help("remove it: the keyword before the group says how each iteration follows the one before")
    } else {
        Diagnostic::new(
            Code::MissingContiguity,
            at,
            "the first block takes no contiguity keyword",
        )
        .label("nothing comes before the first block")
        .help("remove it: every event that matches the first block starts a run")
    }
}

/// Whether every iteration of a body binds an event: it has a required
/// block, or a required group whose body does.
fn binds_an_event(items: &[cep_grammar::Node<PatternItem>]) -> bool {
    items.iter().any(|it| match &it.node {
        PatternItem::Block(b) => b.quantifier.is_none_or(|q| q.node.bounds().0 > 0),
        PatternItem::Group(g) => {
            g.quantifier.is_none_or(|q| q.node.bounds().0 > 0) && binds_an_event(&g.items)
        }
        _ => false,
    })
}

/// The quantifier of a block or group that may bind nothing.
fn optional_span(it: &cep_grammar::Node<PatternItem>) -> Option<Span> {
    let q = match &it.node {
        PatternItem::Block(b) => b.quantifier,
        PatternItem::Group(g) => g.quantifier,
        _ => None,
    }?;
    (q.node.bounds().0 == 0).then_some(q.span)
}

/// CEP009: a negation just before a block or group that may bind
/// nothing (it would have no event to end at).
fn negation_before_optional(
    a: &cep_grammar::Node<PatternItem>,
    b: &cep_grammar::Node<PatternItem>,
    diags: &mut Vec<Diagnostic>,
) {
    if let (PatternItem::Not(n), Some(q)) = (&a.node, optional_span(b)) {
        diags.push(
            Diagnostic::new(
                Code::BadPatternShape,
                a.span,
                "a negation cannot come just before an optional block",
            )
            .label(format!(
                "`not {}` would have no event to end at",
                n.event.node
            ))
            .also(q, "this block may match nothing")
            .help("make the block required, or move the negation before a required block"),
        );
    }
}

/// The shape of the bodies of group sub-patterns (docs/language.md
/// 6.4b), every level: no negation first, none with `within`, none just
/// before an optional item, and a negation at the end only where some
/// event can follow it (another iteration, or an item after the group).
/// `tail`: the index of the last item at this level after which nothing
/// binds; `terminal`: nothing binds after this level's items either.
fn check_bodies(
    items: &[cep_grammar::Node<PatternItem>],
    tail: Option<usize>,
    terminal: bool,
    diags: &mut Vec<Diagnostic>,
) {
    for (k, it) in items.iter().enumerate() {
        let PatternItem::Group(g) = &it.node else {
            continue;
        };
        let max = g.quantifier.map_or(Some(1), |q| q.node.bounds().1);
        // Nothing binds after this group's last iteration.
        let last = terminal && tail == Some(k);
        let body = &g.items;
        if let Some(first) = body.first() {
            if let PatternItem::Not(n) = &first.node {
                diags.push(
                    Diagnostic::new(
                        Code::BadPatternShape,
                        first.span,
                        "a group's body cannot start with a negation",
                    )
                    .label("the group's iterations start with an event")
                    .help(format!(
                        "write it before the group (`not {} then g: ( ... )`) or at the end of the body, where it holds between iterations",
                        n.event.node
                    )),
                );
            }
        }
        for x in body {
            if let PatternItem::Not(n) = &x.node {
                if let Some(w) = &n.within {
                    diags.push(
                        Diagnostic::new(
                            Code::BadPatternShape,
                            w.span,
                            "`within` on a negation is only for the end of a pattern",
                        )
                        .label("in a group a negation lasts until the next event is bound")
                        .help("remove `within`"),
                    );
                }
            }
        }
        for pair in body.windows(2) {
            negation_before_optional(&pair[0], &pair[1], diags);
        }
        if let Some(end) = body.last() {
            if let (PatternItem::Not(n), true, Some(1)) = (&end.node, last, max) {
                diags.push(
                    Diagnostic::new(
                        Code::BadPatternShape,
                        end.span,
                        "nothing can follow this negation",
                    )
                    .label(format!(
                        "`not {}` holds until the next bound event",
                        n.event.node
                    ))
                    .also(
                        g.open.span,
                        "this group has one iteration and ends the pattern",
                    )
                    .help("put a block after the group, or let the group repeat"),
                );
            }
        }
        let inner_tail = body
            .iter()
            .rposition(|i| matches!(i.node, PatternItem::Block(_) | PatternItem::Group(_)));
        check_bodies(body, inner_tail, last && max == Some(1), diags);
    }
}
