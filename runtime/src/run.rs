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
    event: Arc<Event>,
    next: Chain,
}

impl Chain {
    pub fn push(&self, binding: BindingId, event: Arc<Event>) -> Chain {
        Chain(Some(Arc::new(Link {
            binding,
            event,
            next: self.clone(),
        })))
    }

    /// Newest first.
    pub fn iter(&self) -> impl Iterator<Item = (BindingId, &Arc<Event>)> {
        let mut cur = self.0.as_deref();
        std::iter::from_fn(move || {
            let l = cur?;
            cur = l.next.0.as_deref();
            Some((l.binding, &l.event))
        })
    }

    pub fn last_of(&self, b: BindingId) -> Option<&Event> {
        self.iter().find(|(x, _)| *x == b).map(|(_, e)| e.as_ref())
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

    /// Oldest first.
    pub fn to_vec(&self) -> Vec<(BindingId, Arc<Event>)> {
        let mut v = Vec::with_capacity(self.iter().count());
        v.extend(self.iter().map(|(b, e)| (b, e.clone())));
        v.reverse();
        v
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
    /// Learned from a peer (`crate::peer`) whose input gave the run its
    /// last event: its deadlines (absence, window) are that peer's to
    /// handle, so this engine neither completes nor expires it on time;
    /// it ends here when the peer's end arrives. False for every run
    /// this engine created or bound an event to.
    pub foreign: bool,
}
