//! Lowering checked rules to the IR: patterns become automata.

use crate::check::{CPattern, Checked};
use crate::env::Env;
use cep_grammar::SourceMap;
use cep_ir as ir;

pub fn lower(c: &Checked, sources: &SourceMap) -> ir::Program {
    let env = &c.env;
    // IR pattern index of each source pattern.
    let mut ir_index = vec![u32::MAX; env.patterns.len()];
    for (k, &i) in c.pattern_order.iter().enumerate() {
        ir_index[i] = u32::try_from(k).unwrap_or(u32::MAX);
    }
    // Views of blocks (`EventInfo::view`) come after every event type and
    // are no event type of the program.
    let events = env
        .events
        .iter()
        .filter(|e| e.view.is_none())
        .map(|e| ir::EventType {
            name: e.name.clone(),
            fields: e
                .fields
                .iter()
                .map(|f| ir::Field {
                    name: f.name.clone(),
                    ty: f.ty,
                    optional: f.optional,
                })
                .collect(),
            time_field: e.time_field.and_then(|t| ir::Slot::try_from(t).ok()),
            origin: match e.pattern {
                Some(p) => ir::Origin::Pattern(ir_index.get(p).copied().unwrap_or(u32::MAX)),
                None => ir::Origin::Declared,
            },
        })
        .collect();
    let patterns = c
        .pattern_order
        .iter()
        .filter_map(|&i| c.patterns.get(i).and_then(Option::as_ref))
        .map(automaton)
        .collect();
    ir::Program {
        format_version: ir::FORMAT_VERSION,
        source_hash: crate::source_hash(sources),
        sources: sources.iter().map(|(_, f)| f.name.clone()).collect(),
        events,
        patterns,
        resources: env
            .resources
            .iter()
            .map(|r| ir::Resource {
                name: r.name.node.clone(),
                capacity: r.capacity.node,
            })
            .collect(),
        steps: c.steps.clone(),
        processes: c.processes.clone(),
    }
}

fn sid(i: usize) -> ir::StateId {
    ir::StateId::try_from(i).unwrap_or(ir::StateId::MAX)
}

/// Where a state comes from: a block, or the entry or end of a group
/// sub-pattern (by its index in `CPattern::groups`).
#[derive(Clone, Copy, PartialEq)]
enum Place {
    Begin(usize),
    Block(usize),
    End(usize),
}

/// One state per block (a group's state loops on itself), with an entry
/// state before and an end state after the body of each group
/// sub-pattern (docs/language.md 6.4b: `Open`; `Repeat` back to the
/// body's first state and `Leave`), then an absence state for a
/// trailing `not X within D`, then the accepting state.
fn automaton(p: &CPattern) -> ir::Pattern {
    let n = p.blocks.len();
    let mut layout: Vec<Place> = Vec::with_capacity(n + 2 * p.groups.len());
    for i in 0..n {
        // Outer groups open first and close last.
        for (gi, _) in p
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.first_block == i)
        {
            layout.push(Place::Begin(gi));
        }
        layout.push(Place::Block(i));
        for (gi, _) in p
            .groups
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, g)| g.last_block == i)
        {
            layout.push(Place::End(gi));
        }
    }
    let at = |place: Place| {
        layout
            .iter()
            .position(|x| *x == place)
            .unwrap_or(usize::MAX)
    };
    let absence_state = p.absence.as_ref().map(|_| layout.len());
    let accept = layout.len() + usize::from(p.absence.is_some());
    let mut states = Vec::with_capacity(accept + 1);
    for (k, place) in layout.iter().enumerate() {
        let next = k + 1;
        let i = match *place {
            Place::Block(i) => i,
            Place::Begin(gi) | Place::End(gi) => {
                let g = &p.groups[gi];
                let bind = &p.bindings[g.binding];
                let body = at(Place::Begin(gi)).saturating_add(1);
                let after = at(Place::End(gi)).saturating_add(1);
                let group = crate::expr::bid(g.binding);
                let kills = if matches!(place, Place::Begin(_)) {
                    &g.pre_kills
                } else {
                    &g.end_kills
                };
                let mut edges: Vec<ir::Edge> = kills
                    .iter()
                    .map(|k| ir::Edge::Kill {
                        event: k.event,
                        predicate: k.predicate.clone(),
                    })
                    .collect();
                let name = if matches!(place, Place::Begin(_)) {
                    edges.push(ir::Edge::Open {
                        group,
                        index: g.index,
                        target: sid(body),
                    });
                    if g.min == 0 {
                        edges.push(ir::Edge::Proceed {
                            at_least: 0,
                            target: sid(after),
                        });
                    }
                    format!("({}", bind.name)
                } else {
                    if g.max != Some(1) {
                        edges.push(ir::Edge::Repeat {
                            group,
                            index: g.index,
                            below: g.max,
                            target: sid(body),
                        });
                    }
                    edges.push(ir::Edge::Leave {
                        group,
                        index: g.index,
                        at_least: g.min,
                        target: sid(after),
                    });
                    format!("{})", bind.name)
                };
                states.push(ir::State {
                    name,
                    contiguity: ir::Contiguity::Relaxed,
                    group: None,
                    edges,
                    timeout: None,
                    accept: false,
                    inner: None,
                });
                continue;
            }
        };
        let b = &p.blocks[i];
        let bind = &p.bindings[b.binding];
        let single = !bind.group && bind.max == Some(1) && bind.min == 1;
        let mut edges = Vec::new();
        for k in &b.kills {
            edges.push(ir::Edge::Kill {
                event: k.event,
                predicate: k.predicate.clone(),
            });
        }
        // An alternation takes an event of any of its types, one edge each.
        for event in std::iter::once(bind.event).chain(bind.alternatives.iter().copied()) {
            edges.push(ir::Edge::Take {
                event,
                binding: crate::expr::bid(b.binding),
                predicate: b.predicate.clone(),
                below: if single { None } else { bind.max },
                target: sid(if single { next } else { k }),
            });
        }
        if !single {
            edges.push(ir::Edge::Proceed {
                at_least: bind.min,
                target: sid(next),
            });
        }
        // The first block has no predecessor to skip after: runs start at
        // each matching event and nothing waits before it (a group that
        // starts the pattern comes back to it strictly).
        if i > 0 {
            match b.contiguity {
                ir::Contiguity::Strict => {}
                ir::Contiguity::Relaxed => edges.push(ir::Edge::Ignore {
                    unmatched_only: true,
                }),
                ir::Contiguity::Any => edges.push(ir::Edge::Ignore {
                    unmatched_only: false,
                }),
            }
        }
        states.push(ir::State {
            name: bind.name.clone(),
            contiguity: if i == 0 {
                ir::Contiguity::Strict
            } else {
                b.contiguity
            },
            group: (!single).then(|| crate::expr::bid(b.binding)),
            edges,
            timeout: None,
            accept: false,
            inner: b.inner,
        });
    }
    if let (Some(a), Some((guards, ms))) = (absence_state, &p.absence) {
        let mut edges: Vec<ir::Edge> = guards
            .iter()
            .map(|g| ir::Edge::Kill {
                event: g.event,
                predicate: g.predicate.clone(),
            })
            .collect();
        edges.push(ir::Edge::Ignore {
            unmatched_only: true,
        });
        states.push(ir::State {
            name: format!("absent {}", guards.first().map(|g| g.event).unwrap_or(0)),
            contiguity: ir::Contiguity::Relaxed,
            group: None,
            edges,
            timeout: Some(ir::Timeout {
                after_ms: *ms,
                target: sid(accept),
            }),
            accept: false,
            inner: None,
        });
        let _ = a;
    }
    states.push(ir::State {
        name: "match".into(),
        contiguity: ir::Contiguity::Relaxed,
        group: None,
        edges: Vec::new(),
        timeout: None,
        accept: true,
        inner: None,
    });
    ir::Pattern {
        name: p.name.clone(),
        output: Env::event_id(p.output),
        inputs: p.inputs.iter().map(|e| Env::event_id(*e)).collect(),
        partition: p.partition.clone(),
        window_ms: p.window_ms,
        skip: p.skip,
        bindings: p.bindings.clone(),
        states,
        start: 0,
        halts: p.halts.clone(),
        emit: p.emit.clone(),
        private: p.private,
        lookback: p
            .lookback
            .clone()
            .map(|(guard, within_ms)| ir::Lookback { guard, within_ms }),
        report: p.report,
        on_timeout: p.on_timeout.as_ref().map(|(ev, emit)| ir::TimeoutEmit {
            output: Env::event_id(*ev),
            emit: emit.clone(),
        }),
        select: p.select.map(|(block, longest)| ir::Select {
            binding: crate::expr::bid(p.blocks.get(block).map_or(block, |b| b.binding)),
            state: sid(at(Place::Block(block))),
            longest,
        }),
    }
}
