//! The seed's distribution algorithm (shared seed 004, "Distribution
//! algorithm"): a node asked for its history asks its neighbours first,
//! with a CreatingHistory flag as the cycle guard, and answers with its own
//! history stitched to theirs. Pure: the graph and each node's history are
//! given as functions, so peers can run it over their own transport.

use super::StateChange;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// The seed's CreatingHistory flag of one node, per walk: a node asked for
/// its history by a walk it is already part of answers nothing, so a
/// walk over a graph with cycles ends and visits each node once.
///
/// The seed clears the flag when the node has answered; then a node asked
/// again later in the same walk (by another neighbour) walks again, which
/// can visit a node once per path to it (exponentially often in a dense
/// graph). Keeping the flag per walk id until the walk is over
/// ([`Guard::done`]) keeps the seed's answers and visits each node once.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    walks: HashSet<u64>,
}

impl Guard {
    /// Asked by walk `walk`: `true` to go on (ask the neighbours, then
    /// answer with the stitched history), `false` to answer nothing (the
    /// node is already creating history for this walk).
    pub fn ask(&mut self, walk: u64) -> bool {
        self.walks.insert(walk)
    }

    /// The walk is over: its flag is cleared.
    pub fn done(&mut self, walk: u64) {
        self.walks.remove(&walk);
    }

    /// The node is creating history for this walk.
    pub fn creating(&self, walk: u64) -> bool {
        self.walks.contains(&walk)
    }
}

/// The seed's distribution algorithm over a graph of nodes known by
/// `neighbours`, from `start`: each node asked for the first time asks its
/// neighbours, then answers with its own history (`own`) stitched to
/// theirs; a node already asked in this walk answers nothing. Returns
/// every record of every node reachable from `start`, each node's once,
/// and the nodes in the order they answered. `guards` holds each node's
/// [`Guard`]; the walk's flags are cleared at its end.
///
/// Depth-first, with an explicit stack (no recursion, so a long chain of
/// nodes cannot overflow the stack).
pub fn walk<N, F, G>(
    walk_id: u64,
    start: &N,
    guards: &mut HashMap<N, Guard>,
    mut neighbours: F,
    mut own: G,
) -> (Vec<StateChange>, Vec<N>)
where
    N: Clone + Eq + Hash,
    F: FnMut(&N) -> Vec<N>,
    G: FnMut(&N) -> Vec<StateChange>,
{
    let mut records = Vec::new();
    let mut answered = Vec::new();
    let mut asked: Vec<N> = Vec::new();
    // (node, its neighbours still to ask)
    let mut stack: Vec<(N, Vec<N>)> = Vec::new();
    if guards.entry(start.clone()).or_default().ask(walk_id) {
        asked.push(start.clone());
        let mut ns = neighbours(start);
        ns.reverse();
        stack.push((start.clone(), ns));
    }
    while let Some((node, rest)) = stack.last_mut() {
        match rest.pop() {
            Some(next) => {
                if guards.entry(next.clone()).or_default().ask(walk_id) {
                    asked.push(next.clone());
                    let mut ns = neighbours(&next);
                    ns.reverse();
                    stack.push((next, ns));
                }
            }
            None => {
                let node = node.clone();
                records.extend(own(&node));
                answered.push(node);
                stack.pop();
            }
        }
    }
    for n in &asked {
        if let Some(g) = guards.get_mut(n) {
            g.done(walk_id);
        }
    }
    (records, answered)
}
