//! Runs: partial matches of a pattern. A run's bound events form a
//! persistent list shared between the runs that forked from one another,
//! so a fork costs one reference count.

use crate::value::Event;
use cep_ir::{BindingId, StateId};
use std::sync::Arc;

/// The events a run has bound, newest first.
#[derive(Clone, Default, Debug)]
pub struct Chain(Option<Arc<Link>>);

#[derive(Debug)]
struct Link {
    binding: BindingId,
    /// A mark: an iteration of group sub-pattern `binding` starts with
    /// `event` (the next link, docs/language.md 6.4b); not a bound event.
    mark: bool,
    event: Arc<Event>,
    next: Chain,
}

impl Chain {
    pub fn push(&self, binding: BindingId, event: Arc<Event>) -> Chain {
        Chain(Some(Arc::new(Link {
            binding,
            mark: false,
            event,
            next: self.clone(),
        })))
    }

    /// As [`Chain::push`], taking the chain (no reference count is taken
    /// on it and dropped).
    pub fn push_owned(self, binding: BindingId, event: Arc<Event>) -> Chain {
        Chain(Some(Arc::new(Link {
            binding,
            mark: false,
            event,
            next: self,
        })))
    }

    /// Marks the start of an iteration of group sub-pattern `group`; its
    /// first event (`event`) is pushed next.
    pub fn push_mark(&self, group: BindingId, event: Arc<Event>) -> Chain {
        Chain(Some(Arc::new(Link {
            binding: group,
            mark: true,
            event,
            next: self.clone(),
        })))
    }

    /// Every link, marks included (`true`), newest first.
    fn links(&self) -> impl Iterator<Item = (BindingId, bool, &Arc<Event>)> {
        let mut cur = self.0.as_deref();
        std::iter::from_fn(move || {
            let l = cur?;
            cur = l.next.0.as_deref();
            Some((l.binding, l.mark, &l.event))
        })
    }

    /// The bound events, newest first (marks are not events).
    pub fn iter(&self) -> impl Iterator<Item = (BindingId, &Arc<Event>)> {
        self.links().filter(|l| !l.1).map(|(b, _, e)| (b, e))
    }

    pub fn last_of(&self, b: BindingId) -> Option<&Event> {
        self.iter().find(|(x, _)| *x == b).map(|(_, e)| e.as_ref())
    }

    /// The links newer than the latest mark of `group` (its current
    /// iteration), or every link when `group` is `None`.
    fn since(
        &self,
        group: Option<BindingId>,
    ) -> impl Iterator<Item = (BindingId, bool, &Arc<Event>)> {
        self.links()
            .take_while(move |(b, mark, _)| !(*mark && Some(*b) == group))
    }

    /// The newest event of `b` in the current iteration of `group`.
    pub fn last_in(&self, b: BindingId, group: Option<BindingId>) -> Option<&Event> {
        self.since(group)
            .find(|(x, mark, _)| *x == b && !*mark)
            .map(|(_, _, e)| e.as_ref())
    }

    /// The events of `b` in the current iteration of `group` (all of
    /// them when `None`), newest first; for a group sub-pattern `b`, its
    /// marks (one per iteration).
    pub fn all_in(&self, b: BindingId, group: Option<BindingId>) -> impl Iterator<Item = &Event> {
        self.since(group)
            .filter(move |(x, _, _)| *x == b)
            .map(|(_, _, e)| e.as_ref())
    }

    /// Iterations of each group sub-pattern in `groups` (marks counted),
    /// for choosing among derivations of one match.
    pub fn iterations(&self, groups: &[BindingId]) -> Vec<usize> {
        let mut n = vec![0; groups.len()];
        for (b, mark, _) in self.links() {
            if mark {
                if let Some(i) = groups.iter().position(|g| *g == b) {
                    n[i] += 1;
                }
            }
        }
        n
    }

    /// Every event of a binding, newest first.
    pub fn all_of(&self, b: BindingId) -> impl Iterator<Item = &Event> {
        self.iter()
            .filter(move |(x, _)| *x == b)
            .map(|(_, e)| e.as_ref())
    }

    /// The newest event.
    pub fn head(&self) -> Option<&Arc<Event>> {
        self.0.as_deref().map(|l| &l.event)
    }

    /// Calls `f` with each bound event, oldest first, and its position
    /// (0 for the oldest). Allocates nothing for up to 32 events.
    pub fn each_oldest_first(&self, mut f: impl FnMut(usize, BindingId, &Arc<Event>)) {
        const NEAR: usize = 32;
        // The newest 32, newest first; then the older ones, newest first.
        let mut near: [Option<(BindingId, &Arc<Event>)>; NEAR] = [None; NEAR];
        let mut far: Vec<(BindingId, &Arc<Event>)> = Vec::new();
        let mut n = 0;
        for (b, e) in self.iter() {
            match near.get_mut(n) {
                Some(slot) => *slot = Some((b, e)),
                None => far.push((b, e)),
            }
            n += 1;
        }
        let older = far.iter().rev().copied();
        let newer = near.iter().take(n.min(NEAR)).rev().flatten().copied();
        for (i, (b, e)) in older.chain(newer).enumerate() {
            f(i, b, e);
        }
    }

    /// The number of bound events (marks are not events).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// No event bound.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The oldest bound event.
    pub fn first(&self) -> Option<&Arc<Event>> {
        self.iter().last().map(|(_, e)| e)
    }

    /// Oldest first.
    pub fn to_vec(&self) -> Vec<(BindingId, Arc<Event>)> {
        let mut v = Vec::with_capacity(self.iter().count());
        v.extend(self.iter().map(|(b, e)| (b, e.clone())));
        v.reverse();
        v
    }
}

/// Two chains are equal when they bind equal events to the same bindings,
/// in the same order, with the same group marks.
impl PartialEq for Chain {
    fn eq(&self, o: &Chain) -> bool {
        let mut a = self.links();
        let mut b = o.links();
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                (Some(x), Some(y)) => {
                    if x.0 != y.0 || x.1 != y.1 || (!Arc::ptr_eq(x.2, y.2) && x.2 != y.2) {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }
}

impl Drop for Chain {
    /// Unlinks iteratively: a long group must not overflow the stack.
    fn drop(&mut self) {
        let mut cur = self.0.take();
        while let Some(link) = cur {
            match Arc::try_unwrap(link) {
                Ok(mut l) => cur = l.next.0.take(),
                Err(_) => break,
            }
        }
    }
}

/// A run's place in the group sub-patterns it is in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loops {
    /// Iterations completed, per sub-pattern index (`cep_ir::Binding::sub`).
    pub iters: Vec<u32>,
    /// Sub-patterns whose current iteration has bound no event yet (bit
    /// per index): the next event the run binds is marked as their
    /// iteration's start.
    pub open: u64,
    /// States whose `Kill` edges hold until the run binds its next event
    /// (negations before a group and at the end of a group's body).
    pub guards: Vec<StateId>,
}

/// One partial match.
#[derive(Clone, Debug)]
pub struct Run {
    pub id: u64,
    pub state: StateId,
    /// Events taken in the current state's group.
    pub count: u32,
    /// Input position of the event that started the run.
    pub start: u64,
    pub first_time: i64,
    pub last_time: i64,
    pub chain: Chain,
    /// Group sub-patterns (docs/language.md 6.4b): `None` for patterns
    /// without them.
    pub loops: Option<Box<Loops>>,
    /// Learned from a peer (`crate::peer`) whose input gave the run its
    /// last event: its deadlines (absence, window) are that peer's to
    /// handle, so this engine neither completes nor expires it on time;
    /// it ends here when the peer's end arrives. False for every run
    /// this engine created or bound an event to.
    pub foreign: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn events_oldest_first_past_the_inline_room() {
        for n in [0usize, 1, 3, 31, 32, 33, 100] {
            let mut chain = Chain::default();
            for i in 0..n {
                if i % 7 == 3 {
                    // Marks are not events.
                    chain = chain.push_mark(9, Arc::new(Event::new(0, 0, 1000, Vec::new())));
                }
                let b = BindingId::try_from(i % 5).unwrap();
                chain = chain.push(b, Arc::new(Event::new(0, 0, i as u64, Vec::new())));
            }
            let mut seen = Vec::new();
            chain.each_oldest_first(|i, b, e| seen.push((i, b, e.source)));
            let want: Vec<(usize, BindingId, u64)> = (0..n)
                .map(|i| (i, BindingId::try_from(i % 5).unwrap(), i as u64))
                .collect();
            assert_eq!(seen, want, "{n} events");
            assert_eq!(chain.len(), n);
            assert_eq!(chain.first().map(|e| e.source), (n > 0).then_some(0));
            let v: Vec<u64> = chain.to_vec().iter().map(|(_, e)| e.source).collect();
            assert_eq!(v, (0..n as u64).collect::<Vec<_>>());
        }
    }
}
