//! Tests of `explain`.

use super::*;
use crate::*;

fn field(name: &str, ty: Type) -> Field {
    Field {
        name: name.into(),
        ty,
        optional: false,
    }
}

/// `event Temperature { sensor: str, celsius: float, at: time }`
/// `event DoorOpened { sensor: str }`
/// `pattern Hot partition by sensor within 10s {
///     a: Temperature where celsius > 30
///     next b: Temperature where celsius > a.celsius
///     not DoorOpened
///     halt on Temperature where celsius < 15
///     emit { sensor: a.sensor, rise: b.celsius - a.celsius, n: float(3) } }`
fn program() -> Program {
    let temp = 0;
    let door = 1;
    let hot = 2;
    let cur = |slot| Expr::Field {
        of: Operand::Current,
        slot,
        ty: Type::Float,
        by_type: Vec::new(),
    };
    let bound = |b, slot, ty| Expr::Field {
        of: Operand::Binding(b),
        slot,
        ty,
        by_type: Vec::new(),
    };
    Program {
        format_version: FORMAT_VERSION,
        source_hash: "fnv1a64:00ff".into(),
        sources: vec!["hot.cep".into()],
        events: vec![
            EventType {
                name: "Temperature".into(),
                fields: vec![
                    field("sensor", Type::Str),
                    field("celsius", Type::Float),
                    field("at", Type::Time),
                ],
                time_field: Some(2),
                origin: Origin::Declared,
            },
            EventType {
                name: "DoorOpened".into(),
                fields: vec![field("sensor", Type::Str)],
                time_field: None,
                origin: Origin::Declared,
            },
            EventType {
                name: "Hot".into(),
                fields: vec![
                    field("sensor", Type::Str),
                    field("rise", Type::Float),
                    field("n", Type::Float),
                ],
                time_field: None,
                origin: Origin::Pattern(0),
            },
        ],
        patterns: vec![Pattern {
            name: "Hot".into(),
            output: hot,
            inputs: vec![temp, door],
            partition: vec![
                PartitionKey {
                    event: temp,
                    slots: vec![0],
                },
                PartitionKey {
                    event: door,
                    slots: vec![0],
                },
            ],
            window_ms: Some(10_000),
            skip: SkipPolicy::NoSkip,
            bindings: vec![
                Binding {
                    name: "a".into(),
                    event: temp,
                    alternatives: Vec::new(),
                    min: 1,
                    max: Some(1),
                    group: false,
                    sub: None,
                    parent: None,
                },
                Binding {
                    name: "b".into(),
                    event: temp,
                    alternatives: Vec::new(),
                    min: 1,
                    max: Some(1),
                    group: false,
                    sub: None,
                    parent: None,
                },
            ],
            states: vec![
                State {
                    name: "a".into(),
                    contiguity: Contiguity::Relaxed,
                    group: None,
                    edges: vec![
                        Edge::Take {
                            event: temp,
                            binding: 0,
                            predicate: Some(Expr::Binary {
                                op: BinOp::Gt,
                                ty: Type::Float,
                                lhs: Box::new(cur(1)),
                                rhs: Box::new(Expr::Const(Value::Float(30.0))),
                            }),
                            below: None,
                            target: 1,
                        },
                        Edge::Ignore {
                            unmatched_only: true,
                        },
                    ],
                    timeout: None,
                    accept: false,
                    inner: None,
                },
                State {
                    name: "b".into(),
                    contiguity: Contiguity::Strict,
                    group: None,
                    edges: vec![
                        Edge::Kill {
                            event: door,
                            predicate: Some(Expr::Binary {
                                op: BinOp::Eq,
                                ty: Type::Str,
                                lhs: Box::new(Expr::Field {
                                    of: Operand::Current,
                                    slot: 0,
                                    ty: Type::Str,
                                    by_type: Vec::new(),
                                }),
                                rhs: Box::new(Expr::Const(Value::Str("x\"y".into()))),
                            }),
                        },
                        Edge::Take {
                            event: temp,
                            binding: 1,
                            predicate: Some(Expr::Binary {
                                op: BinOp::Gt,
                                ty: Type::Float,
                                lhs: Box::new(cur(1)),
                                rhs: Box::new(bound(0, 1, Type::Float)),
                            }),
                            below: None,
                            target: 2,
                        },
                    ],
                    timeout: Some(Timeout {
                        after_ms: 30_000,
                        target: 2,
                    }),
                    accept: false,
                    inner: None,
                },
                State {
                    name: "done".into(),
                    contiguity: Contiguity::Relaxed,
                    group: None,
                    edges: vec![],
                    timeout: None,
                    accept: true,
                    inner: None,
                },
            ],
            start: 0,
            halts: vec![Guard {
                event: temp,
                predicate: Some(Expr::Binary {
                    op: BinOp::Lt,
                    ty: Type::Float,
                    lhs: Box::new(cur(1)),
                    rhs: Box::new(Expr::Const(Value::Float(15.0))),
                }),
            }],
            emit: vec![
                bound(0, 0, Type::Str),
                Expr::Binary {
                    op: BinOp::Sub,
                    ty: Type::Float,
                    lhs: Box::new(bound(1, 1, Type::Float)),
                    rhs: Box::new(bound(0, 1, Type::Float)),
                },
                Expr::ToFloat(Box::new(Expr::Const(Value::Int(3)))),
            ],
            private: false,
            lookback: None,
            report: None,
            on_timeout: None,
            select: None,
        }],
        resources: vec![Resource {
            name: "pump".into(),
            capacity: 2,
        }],
        steps: vec![Step {
            name: "cool".into(),
            source: 0,
            trigger: Trigger::Any(vec![
                Trigger::Event(hot),
                Trigger::All(vec![Trigger::Event(temp), Trigger::Event(door)]),
            ]),
            delay_ms: 30_000,
            acquire: vec![Acquire {
                resource: 0,
                units: 1,
            }],
            action: Action::Run {
                program: "scripts/cool.sh".into(),
                args: vec![],
                env: vec![(
                    "SENSOR".into(),
                    Expr::Field {
                        of: Operand::Trigger(hot),
                        slot: 0,
                        ty: Type::Str,
                        by_type: Vec::new(),
                    },
                )],
            },
            timeout_ms: Some(60_000),
            retry: Retry {
                attempts: 3,
                backoff_ms: 2000,
            },
            on_status: vec![StatusEmit {
                status: Status::Failure,
                event: door,
                fields: vec![Expr::Field {
                    of: Operand::Trigger(hot),
                    slot: 0,
                    ty: Type::Str,
                    by_type: Vec::new(),
                }],
            }],
            recover: Recover::default(),
        }],
        processes: vec![Process {
            name: "Claim".into(),
            key: "sensor".into(),
            activities: vec![
                Activity {
                    event: temp,
                    key_slot: 0,
                    included: true,
                    pending: false,
                    executed: false,
                },
                Activity {
                    event: door,
                    key_slot: 0,
                    included: false,
                    pending: true,
                    executed: false,
                },
            ],
            relations: vec![Relation {
                from: 0,
                kind: RelationKind::Response,
                to: 1,
            }],
            idle_ms: None,
        }],
    }
}

#[test]
fn text_shows_the_automaton() {
    let t = text(&program(), None);
    for line in [
        &format!("Cepheid IR, format version {FORMAT_VERSION}"),
        "source hash: fnv1a64:00ff",
        "  Temperature { sensor: str, celsius: float, at: time }  time: at  (declared)",
        "  Hot { sensor: str, rise: float, n: float }  (complex event of pattern Hot)",
        "pattern Hot (emits Hot)",
        "  inputs: Temperature, DoorOpened",
        "  partition by: Temperature(sensor), DoorOpened(sensor)",
        "  within: 10s",
        "  skip: no skip (every match is reported)",
        "    a: Temperature",
        "  start: s0 \"a\"",
        "  state s0 \"a\" (relaxed)",
        "    take a: Temperature where celsius > 30.0 -> s1 \"b\"",
        "    ignore (events no take edge accepts)",
        "  state s1 \"b\" (strict)",
        "    kill on DoorOpened where sensor == \"x\\\"y\"",
        "    take b: Temperature where celsius > a.celsius -> s2 \"done\"",
        "    timeout 30s -> s2 \"done\"",
        "  state s2 \"done\" (relaxed) accept",
        "  halt on Temperature where celsius < 15.0",
        "  emit Hot { sensor: a.sensor, rise: b.celsius - a.celsius, n: float(3) }",
        "resource pump capacity 2",
        "step cool",
        "  on Hot or (Temperature and DoorOpened)",
        "  after 30s",
        "  acquire pump 1",
        "  run \"scripts/cool.sh\" with { SENSOR: Hot.sensor }",
        "  timeout 1m",
        "  retry 3 backoff 2s",
        "  on failure emit DoorOpened { sensor: Hot.sensor }",
        "  recover { ready: rerun, active: rerun, success: skip, failure: rerun }",
        "process Claim by sensor",
        "  activity Temperature (key sensor; included)",
        "  activity DoorOpened (key sensor; excluded, pending)",
        "  Temperature *--> DoorOpened",
    ] {
        assert!(
            t.lines().any(|l| l == line),
            "missing line {line:?} in:\n{t}"
        );
    }
}

#[test]
fn text_filters_one_pattern() {
    let t = text(&program(), Some("Hot"));
    assert!(t.contains("pattern Hot (emits Hot)"), "{t}");
    assert!(!t.contains("step cool"), "{t}");
    let t = text(&program(), Some("Nope"));
    assert!(!t.contains("pattern"), "{t}");
}

#[test]
fn dot_is_one_graph_with_a_cluster_per_pattern() {
    let d = dot(&program(), None);
    assert!(d.starts_with("digraph cep {\n"), "{d}");
    assert!(d.ends_with("}\n"), "{d}");
    assert_eq!(d.matches("digraph").count(), 1);
    for needle in [
        "  subgraph cluster_0 {",
        "    p0_start -> p0_s0;",
        "    p0_s2 [label=\"s2 \\\"done\\\"\\nrelaxed\", shape=doublecircle];",
        "    p0_s0 [label=\"s0 \\\"a\\\"\\nrelaxed\", shape=circle];",
        "    p0_s0 -> p0_s1 [label=\"take a: Temperature\\nwhere celsius > 30.0\"];",
        "    p0_s0 -> p0_s0 [label=\"ignore unmatched\", style=dotted];",
        "    p0_s1 -> p0_killed [label=\"kill on DoorOpened\\nwhere sensor == \\\"x\\\\\\\"y\\\"\", color=red, fontcolor=red];",
        "    p0_s1 -> p0_s2 [label=\"timeout 30s\", style=bold];",
        "halt on Temperature where celsius < 15.0",
    ] {
        assert!(d.contains(needle), "missing {needle:?} in:\n{d}");
    }
    // Braces balance: one graph, one cluster.
    assert_eq!(d.matches('{').count(), d.matches('}').count());
    assert!(!dot(&program(), Some("Nope")).contains("cluster"));
}

#[test]
fn expressions_keep_their_grouping() {
    let p = program();
    let cx = Cx::new(&p, p.patterns.first(), Some(0));
    let c = |i| Box::new(Expr::Const(Value::Int(i)));
    let sub = Expr::Binary {
        op: BinOp::Sub,
        ty: Type::Int,
        lhs: c(1),
        rhs: Box::new(Expr::Binary {
            op: BinOp::Sub,
            ty: Type::Int,
            lhs: c(2),
            rhs: c(3),
        }),
    };
    assert_eq!(cx.expr(&sub), "1 - (2 - 3)");
    let mul = Expr::Binary {
        op: BinOp::Mul,
        ty: Type::Int,
        lhs: Box::new(sub),
        rhs: c(4),
    };
    assert_eq!(cx.expr(&mul), "(1 - (2 - 3)) * 4");
    let not = Expr::Not(Box::new(Expr::Binary {
        op: BinOp::And,
        ty: Type::Bool,
        lhs: Box::new(Expr::Const(Value::Bool(true))),
        rhs: Box::new(Expr::Const(Value::Bool(false))),
    }));
    assert_eq!(cx.expr(&not), "not (true and false)");
    let agg = Expr::Agg {
        func: AggFunc::Avg,
        binding: 1,
        slot: Some(1),
        ty: Type::Float,
        by_type: Vec::new(),
        within: None,
    };
    assert_eq!(cx.expr(&agg), "avg(b.celsius)");
    let count = Expr::Agg {
        func: AggFunc::Count,
        binding: 1,
        slot: None,
        ty: Type::Int,
        by_type: Vec::new(),
        within: None,
    };
    assert_eq!(cx.expr(&Expr::ToFloat(Box::new(count))), "float(count(b))");
    let prev = Expr::Prev {
        group: 1,
        slot: 1,
        fallback: Some((0, 1)),
        ty: Type::Float,
        by_type: Vec::new(),
        within: None,
    };
    assert_eq!(cx.expr(&prev), "prev.celsius");
    assert_eq!(duration(1500), "1500ms");
    assert_eq!(duration(600_000), "10m");
    assert_eq!(duration(7_200_000), "2h");
}

#[test]
fn dangling_indices_do_not_panic() {
    let mut p = program();
    if let Some(pat) = p.patterns.first_mut() {
        pat.output = 99;
        pat.start = 42;
        pat.bindings.clear();
    }
    p.resources.clear();
    let t = text(&p, None);
    assert!(t.contains("#99"), "{t}");
    let _ = dot(&p, None);
}

#[test]
fn process_text_shows_one_process() {
    let t = process_text(&program(), "Claim").expect("a process named Claim");
    assert!(t.starts_with("Cepheid IR, format version "), "{t}");
    let body = t.split_once("\n\n").map(|(_, b)| b).unwrap_or("");
    assert_eq!(
        body,
        "process Claim by sensor\n\
         \x20 activity Temperature (key sensor; included)\n\
         \x20 activity DoorOpened (key sensor; excluded, pending)\n\
         \x20 Temperature *--> DoorOpened\n"
    );
    assert!(!t.contains("pattern Hot"), "{t}");
    assert!(process_text(&program(), "Nope").is_none());
    assert!(process_text(&program(), "Hot").is_none());
}

#[test]
fn process_text_shows_idle() {
    let mut p = program();
    if let Some(pr) = p.processes.first_mut() {
        pr.idle_ms = Some(1_800_000);
    }
    let t = process_text(&p, "Claim").expect("a process named Claim");
    assert!(t.contains("process Claim by sensor\n  idle 30m\n"), "{t}");
    let d = process_dot(&p, "Claim").expect("a process named Claim");
    assert!(
        d.contains("label=\"process Claim by sensor\\lidle 30m\\l\";"),
        "{d}"
    );
}

#[test]
fn process_dot_uses_dcr_notation() {
    let mut p = program();
    if let Some(pr) = p.processes.first_mut() {
        pr.activities[0].executed = true;
        pr.relations = [
            RelationKind::Condition,
            RelationKind::Response,
            RelationKind::Include,
            RelationKind::Exclude,
            RelationKind::Milestone,
        ]
        .into_iter()
        .map(|kind| Relation {
            from: 0,
            kind,
            to: 1,
        })
        .collect();
    }
    let d = process_dot(&p, "Claim").expect("a process named Claim");
    assert!(d.starts_with("digraph cep {\n"), "{d}");
    assert!(d.ends_with("}\n"), "{d}");
    assert_eq!(d.matches("subgraph").count(), 1, "{d}");
    assert!(!d.contains("p0_s0"), "no pattern in:\n{d}");
    for needle in [
        "  subgraph cluster_process_0 {",
        "    label=\"process Claim by sensor\\l\";",
        "    node [shape=box, style=rounded];",
        "    d0_a0 [label=\"✓ Temperature\"];",
        "    d0_a1 [label=\"! DoorOpened\", style=\"rounded,dashed\", color=blue, penwidth=2];",
        "    d0_a0 -> d0_a1 [label=\"*\", color=orange, fontcolor=orange, arrowhead=dotnormal];",
        "    d0_a0 -> d0_a1 [label=\"*\", color=blue, fontcolor=blue, dir=both, arrowtail=dot, arrowhead=normal];",
        "    d0_a0 -> d0_a1 [label=\"+\", color=green4, fontcolor=green4, arrowhead=normal];",
        "    d0_a0 -> d0_a1 [label=\"%\", color=red, fontcolor=red, arrowhead=normal];",
        "    d0_a0 -> d0_a1 [label=\"<>\", color=purple, fontcolor=purple, arrowhead=odiamondnormal];",
    ] {
        assert!(d.contains(needle), "missing {needle:?} in:\n{d}");
    }
    assert_eq!(d.matches('{').count(), d.matches('}').count());
    assert!(process_dot(&p, "Nope").is_none());
}

#[test]
fn dot_draws_every_pattern_and_every_process() {
    let d = dot(&program(), None);
    assert!(d.contains("  subgraph cluster_0 {"), "{d}");
    assert!(d.contains("  subgraph cluster_process_0 {"), "{d}");
    // One pattern asked for: no process.
    let d = dot(&program(), Some("Hot"));
    assert!(!d.contains("cluster_process"), "{d}");
}

#[test]
fn process_names_are_escaped_for_dot() {
    let mut p = program();
    p.events[0].name = "Odd\"Name\\".into();
    if let Some(pr) = p.processes.first_mut() {
        pr.name = "A\"B".into();
    }
    let d = process_dot(&p, "A\"B").expect("the process");
    assert!(d.contains("label=\"process A\\\"B by sensor\\l\";"), "{d}");
    assert!(d.contains("d0_a0 [label=\"Odd\\\"Name\\\\\"];"), "{d}");
}

#[test]
fn process_with_dangling_indices_does_not_panic() {
    let mut p = program();
    if let Some(pr) = p.processes.first_mut() {
        pr.activities[0].event = 99;
        pr.relations.push(Relation {
            from: 7,
            kind: RelationKind::Condition,
            to: 0,
        });
    }
    let t = process_text(&p, "Claim").expect("the process");
    assert!(t.contains("activity #99"), "{t}");
    assert!(t.contains("#7 -->* #99"), "{t}");
    let _ = process_dot(&p, "Claim");
}
