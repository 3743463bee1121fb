//! A pattern's partitions, by dense id (issue 12, "partition keys as dense
//! integer ids"): the partitions live in one slab, and a map from key to
//! slot serves the input events, which come with a key. Everything else
//! that names a partition (a deadline in the engine's timer heap, say)
//! holds its [`PartId`], so a deadline costs no hash of the key and no
//! reference count on it.
//!
//! A slot freed by a partition that ended empty is reused by the next new
//! one; its generation changes, so an id of the old partition (a stale
//! timer) finds nothing rather than the new partition.

use crate::keyhash::KeyBuild;
use crate::matcher::{Key, Partition};
use crate::value::Value;
use std::collections::HashMap;

/// A partition's id: its slot in the slab and the slot's generation when
/// the partition was put there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PartId {
    slot: u32,
    generation: u32,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    part: Option<Partition>,
}

/// The partitions of one pattern. Iteration is in slot order.
#[derive(Debug, Default)]
pub struct Partitions {
    index: HashMap<Key, u32, KeyBuild>,
    slots: Vec<Slot>,
    /// Free slots, reused last freed first.
    free: Vec<u32>,
}

impl Partitions {
    /// Live partitions.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The id of the partition of `key`, if it exists.
    pub fn id(&self, key: &[Value]) -> Option<PartId> {
        let slot = *self.index.get(key)?;
        let generation = self.slots.get(slot as usize)?.generation;
        Some(PartId { slot, generation })
    }

    pub fn get(&self, id: PartId) -> Option<&Partition> {
        self.slots
            .get(id.slot as usize)
            .filter(|s| s.generation == id.generation)?
            .part
            .as_ref()
    }

    pub fn get_mut(&mut self, id: PartId) -> Option<&mut Partition> {
        self.slots
            .get_mut(id.slot as usize)
            .filter(|s| s.generation == id.generation)?
            .part
            .as_mut()
    }

    /// The partition of `key`.
    pub fn by_key(&self, key: &[Value]) -> Option<&Partition> {
        self.get(self.id(key)?)
    }

    /// Puts a partition in (its key must not have one yet: the old one
    /// would no longer be found by key) and gives its id.
    pub fn insert(&mut self, part: Partition) -> PartId {
        let key = part.key.clone();
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot::default());
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let generation = match self.slots.get_mut(slot as usize) {
            Some(s) => {
                s.part = Some(part);
                s.generation
            }
            None => 0,
        };
        self.index.insert(key, slot);
        PartId { slot, generation }
    }

    /// Takes partition `id` out; its slot is freed and its id (and every
    /// copy of it) finds nothing from now on.
    pub fn remove(&mut self, id: PartId) -> Option<Partition> {
        let s = self
            .slots
            .get_mut(id.slot as usize)
            .filter(|s| s.generation == id.generation)?;
        let part = s.part.take()?;
        s.generation = s.generation.wrapping_add(1);
        self.index.remove(&part.key);
        self.free.push(id.slot);
        Some(part)
    }

    /// Every partition with its id, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (PartId, &Partition)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let part = s.part.as_ref()?;
            let slot = u32::try_from(i).ok()?;
            Some((
                PartId {
                    slot,
                    generation: s.generation,
                },
                part,
            ))
        })
    }

    pub fn values(&self) -> impl Iterator<Item = &Partition> {
        self.slots.iter().filter_map(|s| s.part.as_ref())
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Partition> {
        self.slots.iter_mut().filter_map(|s| s.part.as_mut())
    }

    /// Keeps the partitions `keep` says to, in slot order; the others are
    /// removed as by [`Partitions::remove`].
    pub fn retain(&mut self, mut keep: impl FnMut(&mut Partition) -> bool) {
        for (i, s) in self.slots.iter_mut().enumerate() {
            let Some(p) = s.part.as_mut() else { continue };
            if keep(p) {
                continue;
            }
            if let Some(part) = s.part.take() {
                s.generation = s.generation.wrapping_add(1);
                self.index.remove(&part.key);
                if let Ok(slot) = u32::try_from(i) {
                    self.free.push(slot);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn part(k: &str) -> Partition {
        Partition {
            key: Arc::from(vec![Value::Str(Arc::from(k))]),
            ..Partition::default()
        }
    }

    fn key(k: &str) -> Vec<Value> {
        vec![Value::Str(Arc::from(k))]
    }

    #[test]
    fn ids_find_their_partition_until_it_is_removed() {
        let mut ps = Partitions::default();
        let a = ps.insert(part("a"));
        let b = ps.insert(part("b"));
        assert_eq!(ps.len(), 2);
        assert_eq!(ps.id(&key("a")), Some(a));
        assert_eq!(ps.get(b).map(|p| p.key.clone()), Some(Arc::from(key("b"))));
        assert!(ps.remove(a).is_some());
        assert!(
            ps.get(a).is_none(),
            "a removed partition's id finds nothing"
        );
        assert!(ps.id(&key("a")).is_none());
        // The slot is reused, under a new generation: the old id stays dead.
        let c = ps.insert(part("c"));
        assert_eq!(c.slot, a.slot);
        assert_ne!(c, a);
        assert!(ps.get(a).is_none());
        assert!(ps.get(c).is_some());
        assert!(ps.remove(a).is_none());
        assert_eq!(ps.len(), 2);
    }

    #[test]
    fn retain_frees_slots_and_ids() {
        let mut ps = Partitions::default();
        let ids: Vec<PartId> = ["a", "b", "c", "d"].map(|k| ps.insert(part(k))).to_vec();
        ps.retain(|p| p.key.as_ref() != key("b").as_slice() && p.key.as_ref() != key("d"));
        assert_eq!(ps.len(), 2);
        assert!(ps.get(ids[1]).is_none() && ps.get(ids[3]).is_none());
        assert!(ps.get(ids[0]).is_some() && ps.get(ids[2]).is_some());
        let order: Vec<PartId> = ps.iter().map(|(id, _)| id).collect();
        assert_eq!(order, vec![ids[0], ids[2]]);
        // Both freed slots serve new partitions; the slab does not grow.
        ps.insert(part("e"));
        ps.insert(part("f"));
        assert_eq!(ps.slots.len(), 4);
        assert_eq!(ps.values().count(), 4);
    }
}
