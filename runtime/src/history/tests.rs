use super::walk::{walk, Guard};
use super::*;
use std::collections::HashMap;

fn rec(stamp: (u64, &str), activity: &str, exe: (u64, &str), relation: Relation) -> StateChange {
    StateChange {
        stamp: Stamp(stamp.0, stamp.1.into()),
        process: "P".into(),
        key: serde_json::json!("k"),
        activity: activity.into(),
        execution: Stamp(exe.0, exe.1.into()),
        relation,
        value: relation.has_value().then_some(true),
        counterpart: None,
    }
}

fn to(mut r: StateChange, counterpart: &str) -> StateChange {
    r.counterpart = Some(counterpart.into());
    r
}

/// The graph of the seed's example (Event 1 .. Event 6).
fn seed_graph(n: &u32) -> Vec<u32> {
    match n {
        5 => vec![3, 2],
        3 => vec![5, 1],
        2 => vec![1, 3],
        1 => vec![4, 6],
        6 => vec![1],
        _ => vec![],
    }
}

fn own(n: &u32) -> Vec<StateChange> {
    vec![rec(
        (u64::from(*n), "x"),
        &format!("E{n}"),
        (u64::from(*n), "x"),
        Relation::Begin,
    )]
}

#[test]
fn the_seeds_walk_reaches_every_node_once_and_ends() {
    let mut guards = HashMap::new();
    let (records, answered) = walk(1, &5, &mut guards, seed_graph, own);
    let mut nodes = answered.clone();
    nodes.sort_unstable();
    assert_eq!(nodes, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(records.len(), 6);
    // Depth first, neighbours in order: 4 and 6 answer before 1, 1
    // before 3, and 5 (the one asked by the client) last.
    assert_eq!(answered, vec![4, 6, 1, 3, 2, 5]);
    // The walk is over: every flag is clear, and a new walk goes again.
    assert!(guards.values().all(|g| !g.creating(1)));
    let (again, _) = walk(2, &1, &mut guards, seed_graph, own);
    assert_eq!(again.len(), 3, "1, 4 and 6 are reachable from 1");
}

#[test]
fn a_dense_graph_is_walked_once_per_node() {
    let n = 12u32;
    let mut asks = 0;
    let mut guards = HashMap::new();
    let (records, _) = walk(
        7,
        &0,
        &mut guards,
        |x: &u32| {
            asks += 1;
            (0..n).filter(|y| y != x).collect()
        },
        own,
    );
    assert_eq!(records.len(), n as usize);
    assert_eq!(asks, n, "each node asks its neighbours once");
}

#[test]
fn a_node_in_a_walk_answers_nothing_to_that_walk_only() {
    let mut g = Guard::default();
    assert!(g.ask(1));
    assert!(!g.ask(1), "already creating history for walk 1");
    assert!(g.ask(2), "another walk goes on");
    g.done(1);
    assert!(g.ask(1));
}

#[test]
fn stitching_pairs_sides_and_tags_each_fault_once() {
    let e = (1, "a");
    let good = vec![
        rec((1, "a"), "A", e, Relation::Begin),
        to(rec((2, "a"), "A", e, Relation::Includes), "B"),
        to(rec((3, "b"), "B", e, Relation::IncludedBy), "A"),
        rec((4, "a"), "A", e, Relation::Finish),
    ];
    let mut twice = good.clone();
    twice.extend(good.clone());
    twice.reverse();
    let h = stitch(twice);
    assert_eq!(h.records, good, "duplicates dropped, stamp order");
    assert!(h.faults.is_empty(), "{:?}", h.faults);

    // Cut short after the include: B's side and the finish are lost.
    let h = stitch(good[..2].to_vec());
    let tags: Vec<&str> = h.faults.iter().map(Fault::tag).collect();
    assert_eq!(tags, vec!["unfinished", "missing-counterpart"]);

    // B's side stamped before A's: one fault, not also one with begin.
    let mut bad = good.clone();
    bad[2].stamp = Stamp(0, "b".into());
    let h = stitch(bad);
    let tags: Vec<&str> = h.faults.iter().map(Fault::tag).collect();
    assert_eq!(tags, vec!["out-of-order"]);

    // The two sides of a check disagree.
    let e2 = (5, "a");
    let mut check = vec![
        rec((5, "a"), "A", e2, Relation::Begin),
        to(rec((6, "a"), "A", e2, Relation::ChecksCondition), "C"),
        to(rec((7, "a"), "C", e2, Relation::ConditionChecked), "A"),
        rec((8, "a"), "A", e2, Relation::Finish),
    ];
    check[2].value = Some(false);
    let h = stitch(check);
    let tags: Vec<&str> = h.faults.iter().map(Fault::tag).collect();
    assert_eq!(tags, vec!["disagree"]);
}

#[test]
fn stamps_order_by_time_then_instance_and_the_clock_moves_past_what_it_saw() {
    assert!(Stamp(2, "a".into()) < Stamp(2, "b".into()));
    assert!(Stamp(2, "b".into()) < Stamp(3, "a".into()));
    let mut c = Lamport::new("a", 5);
    assert_eq!(c.tick(), Stamp(6, "a".into()));
    c.observe(&Stamp(10, "b".into()));
    assert_eq!(c.tick(), Stamp(11, "a".into()));
}

#[test]
fn a_record_reads_back_as_written() {
    let r = to(rec((3, "a"), "A", (1, "a"), Relation::ChecksMilestone), "M");
    let text = serde_json::to_string(&r).unwrap();
    assert_eq!(
        text,
        r#"{"stamp":[3,"a"],"process":"P","key":"k","activity":"A","execution":[1,"a"],"relation":"checksMilestone","value":true,"counterpart":"M"}"#
    );
    assert_eq!(serde_json::from_str::<StateChange>(&text).unwrap(), r);
}
