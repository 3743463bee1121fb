//! Checks every declaration against the others and keeps, for lowering,
//! the typed pieces of each (IR expressions, resolved ids).

mod pattern;
mod process;
mod step;

use crate::env::Env;
use cep_grammar::ast::{self, PatternItem};
use cep_grammar::{Code, Diagnostic};
use cep_ir as ir;
use std::collections::BTreeSet;

use pattern::{check_pattern, pattern_order};
use process::check_processes;
use step::{check_steps, warn_step_cycles};

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
    pub private: bool,
    /// A leading `not X within D`: its guard and D (ms).
    pub lookback: Option<(ir::Guard, u64)>,
    pub report: Option<ir::Report>,
    /// `on timeout emit`: its event type and record.
    pub on_timeout: Option<(usize, Vec<ir::Expr>)>,
    /// The greedy (`true`) or reluctant group's block.
    pub select: Option<(usize, bool)>,
    /// Group sub-patterns, outer ones first.
    pub groups: Vec<CGroup>,
}

/// A group sub-pattern (docs/language.md 6.4b): its body is the blocks
/// `first_block..=last_block`.
pub struct CGroup {
    pub binding: usize,
    /// Its index among the pattern's sub-patterns (`cep_ir::Binding::sub`).
    pub index: u16,
    pub first_block: usize,
    pub last_block: usize,
    pub min: u32,
    pub max: Option<u32>,
    /// Negations written just before the group.
    pub pre_kills: Vec<ir::Guard>,
    /// Negations at the end of its body.
    pub end_kills: Vec<ir::Guard>,
}

pub struct CBlock {
    pub binding: usize,
    pub contiguity: ir::Contiguity,
    pub predicate: Option<ir::Expr>,
    /// Inline negations between the previous block and this one.
    pub kills: Vec<ir::Guard>,
    /// A group's contiguity between its events, where it differs.
    pub inner: Option<ir::Contiguity>,
}

pub fn check(files: &[ast::File]) -> (Checked<'_>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut env = Env::build(files, &mut diags);
    let order = pattern_order(&env, &mut diags);
    let mut patterns: Vec<Option<CPattern>> = (0..env.patterns.len()).map(|_| None).collect();
    for &i in &order.0 {
        pattern::prepare_views(&mut env, i);
        let before = diags.iter().filter(|d| d.is_error()).count();
        let p = check_pattern(&env, i, &mut diags);
        let ok = diags.iter().filter(|d| d.is_error()).count() == before;
        if let Some((cp, fields, timeout)) = p {
            let outputs = std::iter::once((cp.output, fields)).chain(timeout);
            for (out, fields) in outputs {
                if let Some(ev) = env.events.get_mut(out) {
                    if ev.pattern == Some(i) && env.event_ix.get(&ev.name) == Some(&out) {
                        ev.fields = fields;
                        ev.poisoned = false;
                    }
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
    warn_private_unused(&env, &patterns, &steps, &mut diags);
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

/// A private pattern whose complex events no pattern and no step
/// consumes produces nothing anyone sees (CEP029).
fn warn_private_unused(
    env: &Env,
    patterns: &[Option<CPattern>],
    steps: &[ir::Step],
    diags: &mut Vec<Diagnostic>,
) {
    for (i, p) in env.patterns.iter().enumerate() {
        let (Some(mark), Some(Some(cp))) = (&p.private, patterns.get(i)) else {
            continue;
        };
        let out = cp.output;
        let consumed = patterns.iter().flatten().any(|q| q.inputs.contains(&out))
            || steps
                .iter()
                .any(|s| s.trigger.events().contains(&Env::event_id(out)));
        if !consumed {
            diags.push(
                Diagnostic::new(
                    Code::PrivateUnused,
                    mark.span,
                    format!(
                        "private pattern `{}`: no pattern or step consumes its complex events",
                        p.name.node
                    ),
                )
                .label("not written, and nothing reads them")
                .help("remove `private` to write them, or consume them in a pattern or a step"),
            );
        }
    }
}

/// The event types a pattern names anywhere.
pub(crate) fn named_events(p: &ast::PatternDecl) -> Vec<&ast::Ident> {
    flatten(&p.items)
        .into_iter()
        .flat_map(|f| -> Vec<&ast::Ident> {
            match &f.node.node {
                PatternItem::Block(b) => std::iter::once(&b.event).chain(&b.alternatives).collect(),
                PatternItem::Not(n) => vec![&n.event],
                PatternItem::Halt(g) => vec![&g.event],
                PatternItem::Group(_) | PatternItem::Emit(_) | PatternItem::OnTimeout(_) => {
                    Vec::new()
                }
            }
        })
        .collect()
}

/// One item of a pattern with its group sub-patterns' bodies inlined
/// (docs/language.md 6.4b): a group appears before its body
/// (`close: false`) and after it (`close: true`).
pub(crate) struct Flat<'a> {
    pub node: &'a cep_grammar::Node<PatternItem>,
    pub close: bool,
    /// Every group around it requires at least one iteration.
    pub required: bool,
}

pub(crate) fn flatten(items: &[cep_grammar::Node<PatternItem>]) -> Vec<Flat<'_>> {
    fn walk<'a>(
        items: &'a [cep_grammar::Node<PatternItem>],
        required: bool,
        out: &mut Vec<Flat<'a>>,
    ) {
        for it in items {
            let flat = |close| Flat {
                node: it,
                close,
                required,
            };
            out.push(flat(false));
            if let PatternItem::Group(g) = &it.node {
                let min = g.quantifier.map_or(1, |q| q.node.bounds().0);
                walk(&g.items, required && min > 0, out);
                out.push(flat(true));
            }
        }
    }
    let mut out = Vec::new();
    walk(items, true, &mut out);
    out
}
