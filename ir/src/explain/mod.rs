//! What a program compiled to, for a person: a readable text dump of the IR
//! ([`text`]) and a Graphviz drawing of the pattern automata and the
//! processes' DCR graphs ([`dot`]); one process alone with
//! [`process_text`] and [`process_dot`].
//!
//! Names are resolved from the [`Program`] itself; expressions are printed
//! back in a source-like syntax (`celsius > a.celsius`, `avg(ups.celsius)`,
//! `float(count(ups))`). Nothing here panics on an inconsistent IR: a
//! dangling index is shown as `#n`.

use crate::{
    Action, BinOp, Binding, Contiguity, Edge, EventId, Expr, Operand, Origin, Pattern, Process,
    Program, Recover, Recovery, RelationKind, SkipPolicy, Slot, State, Step, Trigger, Value,
};
use std::fmt::Write as _;

mod expr;

use expr::Cx;

/// A readable dump of the whole program, or of one pattern when `pattern`
/// names one (an unknown name gives the header only).
pub fn text(p: &Program, pattern: Option<&str>) -> String {
    let mut out = String::new();
    write_header(&mut out, p);

    if let Some(name) = pattern {
        for pat in &p.patterns {
            if pat.name == name {
                out.push('\n');
                write_pattern(&mut out, p, pat);
            }
        }
        return out;
    }

    if !p.events.is_empty() {
        out.push_str("\nevents\n");
        for e in &p.events {
            let fields: Vec<String> = e
                .fields
                .iter()
                .map(|f| format!("{}: {}", f.name, f.ty))
                .collect();
            let _ = write!(out, "  {} {{ {} }}", e.name, fields.join(", "));
            if let Some(slot) = e.time_field {
                let _ = write!(
                    out,
                    "  time: {}",
                    slot_name(p, Some(event_index(p, e)), slot)
                );
            }
            match e.origin {
                Origin::Declared => out.push_str("  (declared)"),
                Origin::Pattern(i) => {
                    let _ = write!(out, "  (complex event of pattern {})", pattern_name(p, i));
                }
            }
            out.push('\n');
        }
    }

    for pat in &p.patterns {
        out.push('\n');
        write_pattern(&mut out, p, pat);
    }

    if !p.resources.is_empty() {
        out.push('\n');
        for r in &p.resources {
            let _ = writeln!(out, "resource {} capacity {}", r.name, r.capacity);
        }
    }

    for s in &p.steps {
        out.push('\n');
        write_step(&mut out, p, s);
    }

    for pr in &p.processes {
        out.push('\n');
        write_process(&mut out, p, pr);
    }
    out
}

/// One process as text: the same header as [`text`], then the process as
/// [`text`] shows it (name and key, `idle` when it has one, its
/// activities in the order of its `activities` line, each with its
/// initial marking, then its relations in arrow notation in the order they
/// are written). `None` when no process has that name.
pub fn process_text(p: &Program, name: &str) -> Option<String> {
    let pr = p.processes.iter().find(|pr| pr.name == name)?;
    let mut out = String::new();
    write_header(&mut out, p);
    out.push('\n');
    write_process(&mut out, p, pr);
    Some(out)
}

/// A Graphviz drawing of the pattern automata and of the processes' DCR
/// graphs: one `digraph` with a cluster per pattern, then one per process,
/// so that the output is a single graph that `dot -Tsvg` accepts. With
/// `pattern`, only the pattern of that name (and no process).
pub fn dot(p: &Program, pattern: Option<&str>) -> String {
    let mut out = String::new();
    open_graph(&mut out);
    for (n, pat) in p.patterns.iter().enumerate() {
        if pattern.is_some_and(|name| name != pat.name) {
            continue;
        }
        write_cluster(&mut out, p, n, pat);
    }
    if pattern.is_none() {
        for (n, pr) in p.processes.iter().enumerate() {
            write_process_cluster(&mut out, p, n, pr);
        }
    }
    out.push_str("}\n");
    out
}

/// One process's DCR graph as a Graphviz graph (one `digraph` with one
/// cluster, as [`dot`] draws it), or `None` when no process has that name.
///
/// The drawing follows the usual DCR notation. Activities are rounded
/// boxes: dashed when initially excluded; `!` before the name and a blue
/// outline when initially pending; `✓` before the name when initially
/// executed. Relations are arrows from the first activity to the second:
///
/// - condition `-->*`: orange, a filled dot at the head, label `*`;
/// - response `*-->`: blue, a filled dot at the tail, label `*`;
/// - include `-->+`: green, label `+`;
/// - exclude `-->%`: red, label `%`;
/// - milestone `--<>`: purple, an open diamond at the head, label `<>`.
pub fn process_dot(p: &Program, name: &str) -> Option<String> {
    let (n, pr) = p
        .processes
        .iter()
        .enumerate()
        .find(|(_, pr)| pr.name == name)?;
    let mut out = String::new();
    open_graph(&mut out);
    write_process_cluster(&mut out, p, n, pr);
    out.push_str("}\n");
    Some(out)
}

// ---- text ----------------------------------------------------------------------

fn write_header(out: &mut String, p: &Program) {
    let _ = writeln!(out, "Cepheid IR, format version {}", p.format_version);
    let _ = writeln!(out, "source hash: {}", p.source_hash);
    if !p.sources.is_empty() {
        let _ = writeln!(out, "sources: {}", p.sources.join(", "));
    }
}

fn write_pattern(out: &mut String, p: &Program, pat: &Pattern) {
    let _ = writeln!(
        out,
        "{}pattern {} (emits {}{})",
        if pat.private { "private " } else { "" },
        pat.name,
        event_name(p, pat.output),
        if pat.private { ", not written" } else { "" }
    );
    let inputs: Vec<String> = pat.inputs.iter().map(|e| event_name(p, *e)).collect();
    let _ = writeln!(out, "  inputs: {}", list_or_none(&inputs));
    if pat.partition.is_empty() {
        out.push_str("  partition: none\n");
    } else {
        let keys: Vec<String> = pat
            .partition
            .iter()
            .map(|k| {
                let fields: Vec<String> = k
                    .slots
                    .iter()
                    .map(|s| slot_name(p, Some(k.event), *s))
                    .collect();
                format!("{}({})", event_name(p, k.event), fields.join(", "))
            })
            .collect();
        let _ = writeln!(out, "  partition by: {}", keys.join(", "));
    }
    match pat.window_ms {
        Some(ms) => {
            let _ = writeln!(out, "  within: {}", duration(ms));
        }
        None => out.push_str("  within: no window\n"),
    }
    let _ = writeln!(out, "  skip: {}", skip_name(pat.skip));
    if let Some(r) = pat.report {
        let _ = writeln!(
            out,
            "  report: the {} match per key every {}",
            if r.first { "first" } else { "last" },
            duration(r.every_ms)
        );
    }
    if !pat.bindings.is_empty() {
        out.push_str("  bindings:\n");
        for b in &pat.bindings {
            let within = b
                .parent
                .map(|g| format!("  (in {})", binding_name(pat, g)))
                .unwrap_or_default();
            if b.sub.is_some() {
                let _ = writeln!(
                    out,
                    "    {}: (...){}  (group sub-pattern){within}",
                    b.name,
                    quantifier(b)
                );
                continue;
            }
            let mut types = event_name(p, b.event);
            for a in &b.alternatives {
                types.push_str(" | ");
                types.push_str(&event_name(p, *a));
            }
            if !b.alternatives.is_empty() && !quantifier(b).is_empty() {
                types = format!("({types})");
            }
            let _ = write!(out, "    {}: {}{}", b.name, types, quantifier(b));
            if b.group {
                out.push_str("  (group)");
            }
            out.push_str(&within);
            out.push('\n');
        }
    }
    if let Some(sel) = pat.select {
        let _ = writeln!(
            out,
            "  select: per start, the matches with the {} {} (held until no run can do better)",
            if sel.longest { "longest" } else { "shortest" },
            binding_name(pat, sel.binding)
        );
    }
    let _ = writeln!(out, "  start: {}", state_label(pat, pat.start));
    for (i, st) in pat.states.iter().enumerate() {
        write_state(out, p, pat, i, st);
    }
    if let Some(lb) = &pat.lookback {
        let cx = Cx::new(p, Some(pat), Some(lb.guard.event));
        let _ = write!(out, "  look back: not {}", event_name(p, lb.guard.event));
        if let Some(e) = &lb.guard.predicate {
            let _ = write!(out, " where {}", cx.expr(e));
        }
        let _ = writeln!(
            out,
            " within {} before the first event",
            duration(lb.within_ms)
        );
    }
    for h in &pat.halts {
        let cx = Cx::new(p, Some(pat), Some(h.event));
        let _ = write!(out, "  halt on {}", event_name(p, h.event));
        if let Some(e) = &h.predicate {
            let _ = write!(out, " where {}", cx.expr(e));
        }
        out.push('\n');
    }
    let cx = Cx::new(p, Some(pat), None);
    let _ = writeln!(
        out,
        "  emit {} {}",
        event_name(p, pat.output),
        cx.record(pat.output, &pat.emit)
    );
    if let Some(t) = &pat.on_timeout {
        let _ = writeln!(
            out,
            "  on timeout (window closed before a match) emit {} {}",
            event_name(p, t.output),
            cx.record(t.output, &t.emit)
        );
    }
}

fn write_state(out: &mut String, p: &Program, pat: &Pattern, i: usize, st: &State) {
    let id = u16::try_from(i).unwrap_or(u16::MAX);
    let _ = write!(
        out,
        "  state {} ({})",
        state_label(pat, id),
        contiguity_name(st.contiguity)
    );
    if let Some(g) = st.group {
        let _ = write!(out, " group {}", binding_name(pat, g));
    }
    if let Some(c) = st.inner {
        let _ = write!(out, ", then {} between its events", contiguity_name(c));
    }
    if st.accept {
        out.push_str(" accept");
    }
    out.push('\n');
    for e in &st.edges {
        let _ = writeln!(out, "    {}", edge_text(p, pat, st, e));
    }
    if let Some(t) = &st.timeout {
        let _ = writeln!(
            out,
            "    timeout {} -> {}",
            duration(t.after_ms),
            state_label(pat, t.target)
        );
    }
}

fn edge_text(p: &Program, pat: &Pattern, st: &State, e: &Edge) -> String {
    match e {
        Edge::Take {
            event,
            binding,
            predicate,
            below,
            target,
        } => {
            let cx = Cx::new(p, Some(pat), Some(*event));
            let mut s = format!(
                "take {}: {}",
                binding_name(pat, *binding),
                event_name(p, *event)
            );
            if let Some(pr) = predicate {
                let _ = write!(s, " where {}", cx.expr(pr));
            }
            if let Some(n) = below {
                let _ = write!(s, " (while {} < {n})", count_of(pat, st));
            }
            let _ = write!(s, " -> {}", state_label(pat, *target));
            s
        }
        Edge::Proceed { at_least, target } => format!(
            "proceed ({} >= {at_least}) -> {}",
            count_of(pat, st),
            state_label(pat, *target)
        ),
        Edge::Ignore { unmatched_only } => {
            if *unmatched_only {
                "ignore (events no take edge accepts)".to_string()
            } else {
                "ignore (every event: skip till any match)".to_string()
            }
        }
        Edge::Kill { event, predicate } => {
            let cx = Cx::new(p, Some(pat), Some(*event));
            let mut s = format!("kill on {}", event_name(p, *event));
            if let Some(pr) = predicate {
                let _ = write!(s, " where {}", cx.expr(pr));
            }
            // The entry or end of a group sub-pattern takes no event: its
            // negations go on with the run until it binds one.
            let group_edge = |e: &Edge| {
                matches!(
                    e,
                    Edge::Open { .. } | Edge::Repeat { .. } | Edge::Leave { .. }
                )
            };
            if st.edges.iter().any(group_edge) {
                s.push_str(" (until the run's next event)");
            }
            s
        }
        Edge::Open { group, target, .. } => format!(
            "open {} (iterations = 0) -> {}",
            binding_name(pat, *group),
            state_label(pat, *target)
        ),
        Edge::Repeat {
            group,
            below,
            target,
            ..
        } => {
            let cond = match below {
                Some(n) => format!(" (while iterations < {n})"),
                None => String::new(),
            };
            format!(
                "repeat {}{cond} -> {}",
                binding_name(pat, *group),
                state_label(pat, *target)
            )
        }
        Edge::Leave {
            group,
            at_least,
            target,
            ..
        } => format!(
            "leave {} (iterations >= {at_least}) -> {}",
            binding_name(pat, *group),
            state_label(pat, *target)
        ),
    }
}

fn count_of(pat: &Pattern, st: &State) -> String {
    match st.group {
        Some(g) => format!("count({})", binding_name(pat, g)),
        None => "count".to_string(),
    }
}

fn write_step(out: &mut String, p: &Program, s: &Step) {
    let cx = Cx::new(p, None, None);
    let _ = writeln!(out, "step {}", s.name);
    let _ = writeln!(out, "  on {}", trigger(p, &s.trigger, true));
    if s.delay_ms > 0 {
        let _ = writeln!(out, "  after {}", duration(s.delay_ms));
    }
    for a in &s.acquire {
        let name = p
            .resources
            .get(a.resource as usize)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| format!("#{}", a.resource));
        let _ = writeln!(out, "  acquire {name} {}", a.units);
    }
    match &s.action {
        Action::Run { program, args, env } => {
            let _ = write!(out, "  run {}", quote(program));
            if !args.is_empty() {
                let args: Vec<String> = args.iter().map(|a| cx.expr(a)).collect();
                let _ = write!(out, " args [{}]", args.join(", "));
            }
            if !env.is_empty() {
                let _ = write!(out, " with {}", cx.pairs(env));
            }
            out.push('\n');
        }
        Action::Post { url, body } => {
            let _ = writeln!(out, "  post {} body {}", quote(url), cx.pairs(body));
        }
        Action::Emit { event, fields } => {
            let _ = writeln!(
                out,
                "  emit {} {}",
                event_name(p, *event),
                cx.record(*event, fields)
            );
        }
    }
    if let Some(t) = s.timeout_ms {
        let _ = writeln!(out, "  timeout {}", duration(t));
    }
    if s.retry.attempts > 0 {
        let _ = write!(out, "  retry {}", s.retry.attempts);
        if s.retry.backoff_ms > 0 {
            let _ = write!(out, " backoff {}", duration(s.retry.backoff_ms));
        }
        out.push('\n');
    } else {
        out.push_str("  retry: none\n");
    }
    for o in &s.on_status {
        let _ = writeln!(
            out,
            "  on {} emit {} {}",
            o.status.name(),
            event_name(p, o.event),
            cx.record(o.event, &o.fields)
        );
    }
    let _ = writeln!(out, "  recover {}", recover(&s.recover));
}

fn write_process(out: &mut String, p: &Program, pr: &Process) {
    let _ = writeln!(out, "process {} by {}", pr.name, pr.key);
    if let Some(ms) = pr.idle_ms {
        let _ = writeln!(out, "  idle {}", signed_duration(ms));
    }
    for a in &pr.activities {
        let mut marks = vec![if a.included { "included" } else { "excluded" }];
        if a.pending {
            marks.push("pending");
        }
        if a.executed {
            marks.push("executed");
        }
        let _ = writeln!(
            out,
            "  activity {} (key {}; {})",
            event_name(p, a.event),
            slot_name(p, Some(a.event), a.key_slot),
            marks.join(", ")
        );
    }
    for r in &pr.relations {
        let _ = writeln!(
            out,
            "  {} {} {}",
            activity_name(p, pr, r.from),
            r.kind.arrow(),
            activity_name(p, pr, r.to)
        );
    }
}

fn activity_name(p: &Program, pr: &Process, i: u16) -> String {
    pr.activities
        .get(usize::from(i))
        .map(|a| event_name(p, a.event))
        .unwrap_or_else(|| format!("#{i}"))
}

fn trigger(p: &Program, t: &Trigger, top: bool) -> String {
    let join = |v: &[Trigger], op: &str| {
        let parts: Vec<String> = v.iter().map(|t| trigger(p, t, false)).collect();
        let s = parts.join(op);
        if top || v.len() < 2 {
            s
        } else {
            format!("({s})")
        }
    };
    match t {
        Trigger::Event(e) => event_name(p, *e),
        Trigger::All(v) => join(v, " and "),
        Trigger::Any(v) => join(v, " or "),
    }
}

fn recover(r: &Recover) -> String {
    let name = |x: Recovery| match x {
        Recovery::Rerun => "rerun",
        Recovery::Skip => "skip",
    };
    format!(
        "{{ ready: {}, active: {}, success: {}, failure: {} }}",
        name(r.ready),
        name(r.active),
        name(r.success),
        name(r.failure)
    )
}

// ---- dot -------------------------------------------------------------------------

/// `digraph cep {` and the defaults that every drawing shares.
fn open_graph(out: &mut String) {
    out.push_str("digraph cep {\n");
    out.push_str("  rankdir=LR;\n");
    out.push_str("  graph [fontname=\"Helvetica\"];\n");
    out.push_str("  node [shape=circle, fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=10];\n");
}

/// A process as a cluster in DCR notation (see [`process_dot`]). Node ids
/// are `d{n}_a{i}` (process `n`, activity `i`); names appear only in
/// escaped labels.
fn write_process_cluster(out: &mut String, p: &Program, n: usize, pr: &Process) {
    let id = |i: u16| format!("d{n}_a{i}");
    let _ = writeln!(out, "  subgraph cluster_process_{n} {{");
    let mut title = format!("process {} by {}", pr.name, pr.key);
    if let Some(ms) = pr.idle_ms {
        let _ = write!(title, "\nidle {}", signed_duration(ms));
    }
    // `\l` ends a left-justified line.
    let title: String = title
        .lines()
        .map(|l| format!("{}\\l", dot_escape(l)))
        .collect();
    let _ = writeln!(out, "    label=\"{title}\";");
    out.push_str("    labeljust=l;\n");
    out.push_str("    node [shape=box, style=rounded];\n");
    for (i, a) in pr.activities.iter().enumerate() {
        let i = u16::try_from(i).unwrap_or(u16::MAX);
        let mut label = String::new();
        if a.executed {
            label.push_str("✓ ");
        }
        if a.pending {
            label.push_str("! ");
        }
        label.push_str(&event_name(p, a.event));
        let mut attrs = format!("label=\"{}\"", dot_escape(&label));
        if !a.included {
            attrs.push_str(", style=\"rounded,dashed\"");
        }
        if a.pending {
            attrs.push_str(", color=blue, penwidth=2");
        }
        let _ = writeln!(out, "    {} [{attrs}];", id(i));
    }
    for r in &pr.relations {
        let (color, label, arrows) = match r.kind {
            RelationKind::Condition => ("orange", "*", "arrowhead=dotnormal"),
            RelationKind::Response => ("blue", "*", "dir=both, arrowtail=dot, arrowhead=normal"),
            RelationKind::Include => ("green4", "+", "arrowhead=normal"),
            RelationKind::Exclude => ("red", "%", "arrowhead=normal"),
            RelationKind::Milestone => ("purple", "<>", "arrowhead=odiamondnormal"),
        };
        let _ = writeln!(
            out,
            "    {} -> {} [label=\"{}\", color={color}, fontcolor={color}, {arrows}];",
            id(r.from),
            id(r.to),
            dot_escape(label)
        );
    }
    out.push_str("  }\n");
}

fn write_cluster(out: &mut String, p: &Program, n: usize, pat: &Pattern) {
    let id = |s: u16| format!("p{n}_s{s}");
    let _ = writeln!(out, "  subgraph cluster_{n} {{");
    let mut title = format!(
        "{}pattern {}",
        if pat.private { "private " } else { "" },
        pat.name
    );
    if let Some(ms) = pat.window_ms {
        let _ = write!(title, "\nwithin {}", duration(ms));
    }
    if let Some(lb) = &pat.lookback {
        let _ = write!(
            title,
            "\nnot {} within {} before",
            event_name(p, lb.guard.event),
            duration(lb.within_ms)
        );
    }
    for h in &pat.halts {
        let cx = Cx::new(p, Some(pat), Some(h.event));
        let _ = write!(title, "\nhalt on {}", event_name(p, h.event));
        if let Some(e) = &h.predicate {
            let _ = write!(title, " where {}", cx.expr(e));
        }
    }
    // `\l` ends a left-justified line.
    let title: String = title
        .lines()
        .map(|l| format!("{}\\l", dot_escape(l)))
        .collect();
    let _ = writeln!(out, "    label=\"{title}\";");
    out.push_str("    labeljust=l;\n");
    let _ = writeln!(out, "    p{n}_start [shape=point, label=\"\"];");
    let mut has_kill = false;
    for (i, st) in pat.states.iter().enumerate() {
        let sid = u16::try_from(i).unwrap_or(u16::MAX);
        let mut label = state_label(pat, sid);
        let _ = write!(label, "\n{}", contiguity_name(st.contiguity));
        let shape = if st.accept { "doublecircle" } else { "circle" };
        let _ = writeln!(
            out,
            "    {} [label=\"{}\", shape={shape}];",
            id(sid),
            dot_escape(&label)
        );
        has_kill |= st.edges.iter().any(|e| matches!(e, Edge::Kill { .. }));
    }
    if has_kill {
        let _ = writeln!(out, "    p{n}_killed [label=\"killed\", shape=octagon];");
    }
    let _ = writeln!(out, "    p{n}_start -> {};", id(pat.start));
    for (i, st) in pat.states.iter().enumerate() {
        let from = id(u16::try_from(i).unwrap_or(u16::MAX));
        for e in &st.edges {
            let (to, style) = match e {
                Edge::Take { target, .. } => (id(*target), ""),
                Edge::Proceed { target, .. }
                | Edge::Open { target, .. }
                | Edge::Repeat { target, .. }
                | Edge::Leave { target, .. } => (id(*target), ", style=dashed"),
                Edge::Ignore { .. } => (from.clone(), ", style=dotted"),
                Edge::Kill { .. } => (format!("p{n}_killed"), ", color=red, fontcolor=red"),
            };
            let label = match e {
                Edge::Ignore {
                    unmatched_only: true,
                } => "ignore unmatched".to_string(),
                Edge::Ignore {
                    unmatched_only: false,
                } => "ignore any".to_string(),
                Edge::Kill { .. } => edge_text(p, pat, st, e),
                // The arrow shows the target; the label keeps the condition.
                _ => {
                    let text = edge_text(p, pat, st, e);
                    match text.rsplit_once(" -> ") {
                        Some((head, _)) => head.to_string(),
                        None => text,
                    }
                }
            };
            let _ = writeln!(
                out,
                "    {from} -> {to} [label=\"{}\"{style}];",
                dot_escape(&wrap_where(&label))
            );
        }
        if let Some(t) = &st.timeout {
            let _ = writeln!(
                out,
                "    {from} -> {} [label=\"{}\", style=bold];",
                id(t.target),
                dot_escape(&format!("timeout {}", duration(t.after_ms)))
            );
        }
    }
    out.push_str("  }\n");
}

/// Puts a `where` clause on its own line, so edge labels stay narrow.
fn wrap_where(s: &str) -> String {
    s.replacen(" where ", "\nwhere ", 1)
}

/// Escapes text for a double-quoted DOT string: quotes and backslashes are
/// escaped, newlines become centred line breaks.
pub fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

// ---- names ---------------------------------------------------------------------

fn event_index(p: &Program, e: &crate::EventType) -> EventId {
    p.events
        .iter()
        .position(|x| std::ptr::eq(x, e))
        .and_then(|i| EventId::try_from(i).ok())
        .unwrap_or(EventId::MAX)
}

fn event_name(p: &Program, e: EventId) -> String {
    p.event(e)
        .map(|e| e.name.clone())
        .unwrap_or_else(|| format!("#{e}"))
}

fn pattern_name(p: &Program, i: u32) -> String {
    p.patterns
        .get(i as usize)
        .map(|x| x.name.clone())
        .unwrap_or_else(|| format!("#{i}"))
}

fn slot_name(p: &Program, e: Option<EventId>, slot: Slot) -> String {
    e.and_then(|e| p.event(e))
        .and_then(|e| e.fields.get(usize::from(slot)))
        .map(|f| f.name.clone())
        .unwrap_or_else(|| format!("#{slot}"))
}

fn binding(pat: &Pattern, b: u16) -> Option<&Binding> {
    pat.bindings.get(usize::from(b))
}

fn binding_name(pat: &Pattern, b: u16) -> String {
    binding(pat, b)
        .map(|b| b.name.clone())
        .unwrap_or_else(|| format!("#{b}"))
}

/// `s1` or `s1 "b"` when the state has a name of its own.
fn state_label(pat: &Pattern, s: u16) -> String {
    match pat.states.get(usize::from(s)) {
        Some(st) if !st.name.is_empty() && st.name != format!("s{s}") => {
            format!("s{s} \"{}\"", st.name)
        }
        _ => format!("s{s}"),
    }
}

fn quantifier(b: &Binding) -> String {
    match (b.min, b.max) {
        (1, Some(1)) => String::new(),
        (0, Some(1)) => "?".to_string(),
        (1, None) => "+".to_string(),
        (0, None) => "*".to_string(),
        (n, Some(m)) if n == m => format!("{{{n}}}"),
        (n, None) => format!("{{{n},}}"),
        (n, Some(m)) => format!("{{{n},{m}}}"),
    }
}

fn contiguity_name(c: Contiguity) -> &'static str {
    match c {
        Contiguity::Strict => "strict",
        Contiguity::Relaxed => "relaxed",
        Contiguity::Any => "relaxed any",
    }
}

fn skip_name(s: SkipPolicy) -> &'static str {
    match s {
        SkipPolicy::NoSkip => "no skip (every match is reported)",
        SkipPolicy::PastLast => "past last",
        SkipPolicy::ToNext => "to next",
    }
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

/// Milliseconds in the largest unit that divides them: `10m`, `30s`,
/// `1500ms`.
pub fn duration(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(3_600_000, "h"), (60_000, "m"), (1000, "s"), (1, "ms")];
    if ms == 0 {
        return "0ms".to_string();
    }
    for (size, unit) in UNITS {
        if (ms / size) * size == ms {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// [`duration`] of a signed count of milliseconds (a negative one, which
/// no compiled program has, is shown as it is).
fn signed_duration(ms: i64) -> String {
    match u64::try_from(ms) {
        Ok(ms) => duration(ms),
        Err(_) => format!("{ms}ms"),
    }
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
