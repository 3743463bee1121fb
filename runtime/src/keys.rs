//! Key values to dense ids: the index of a table whose rows live in a
//! `Vec` (process instances today). Integer keys, the usual case, go
//! through a map of `i64` with a well-mixed hash (one folded 64×64→128
//! multiply, as in foldhash and aHash: every input bit reaches the low
//! bits that pick a bucket, so keys that differ only in their high bits,
//! such as ids that are multiples of 4096, do not collide); every other
//! value goes through a map of [`Value`].

use crate::keyhash::KeyBuild;
use crate::value::Value;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// The odd multiplier of the folded multiply (the 64-bit golden ratio).
const M: u64 = 0x9e37_79b9_7f4a_7c15;
/// Mixed into the key first, so that key 0 does not hash to 0.
const SEED: u64 = 0x243f_6a88_85a3_08d3;

/// `(x ^ SEED) * M` as a 128-bit product, its halves xored.
#[inline]
fn fold(x: u64) -> u64 {
    let p = u128::from(x ^ SEED) * u128::from(M);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The hasher of integer keys: [`fold`] of the key.
#[derive(Clone, Copy, Debug, Default)]
pub struct MixBuild;

impl BuildHasher for MixBuild {
    type Hasher = Mix;
    fn build_hasher(&self) -> Mix {
        Mix(0)
    }
}

/// State of a [`MixBuild`] hasher.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mix(u64);

impl Hasher for Mix {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.0 = fold(self.0.rotate_left(23) ^ u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = fold(self.0.rotate_left(23) ^ i);
    }

    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map from key values to `V`: `Value::Int` keys in a map of `i64`
/// (hashed by [`MixBuild`]), other values in a map of [`Value`]. What a
/// table of per-key state (process instances, partitions) is kept in: a
/// lookup of an integer key is one probe with no clone and no
/// comparison of enum variants.
pub struct KeyMap<V> {
    ints: HashMap<i64, V, MixBuild>,
    other: HashMap<Value, V, KeyBuild>,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap {
            ints: HashMap::with_hasher(MixBuild),
            other: HashMap::with_hasher(KeyBuild::default()),
        }
    }
}

impl<V> KeyMap<V> {
    /// The value of `key`, if it has one.
    #[inline]
    pub fn get(&self, key: &Value) -> Option<&V> {
        match key {
            Value::Int(i) => self.ints.get(i),
            other => self.other.get(other),
        }
    }

    /// The value of `key`, if it has one, to change.
    #[inline]
    pub fn get_mut(&mut self, key: &Value) -> Option<&mut V> {
        match key {
            Value::Int(i) => self.ints.get_mut(i),
            other => self.other.get_mut(other),
        }
    }

    /// The value of `key`, made by `make` if it had none (then the flag
    /// is true). One probe; an integer key is not cloned (a key of
    /// another type is: an `Arc` count for a string).
    #[inline]
    pub fn get_or_insert_with(&mut self, key: &Value, make: impl FnOnce() -> V) -> (&mut V, bool) {
        let mut new = false;
        let v = match key {
            Value::Int(i) => self.ints.entry(*i).or_insert_with(|| {
                new = true;
                make()
            }),
            other => self.other.entry(other.clone()).or_insert_with(|| {
                new = true;
                make()
            }),
        };
        (v, new)
    }

    /// Takes `key`'s value away, returning it.
    pub fn remove(&mut self, key: &Value) -> Option<V> {
        match key {
            Value::Int(i) => self.ints.remove(i),
            other => self.other.remove(other),
        }
    }

    /// Keys with a value.
    pub fn len(&self) -> usize {
        self.ints.len() + self.other.len()
    }

    /// No key has a value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key with its value, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Value, &V)> + '_ {
        self.ints
            .iter()
            .map(|(&i, v)| (Value::Int(i), v))
            .chain(self.other.iter().map(|(k, v)| (k.clone(), v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    fn h(i: i64) -> u64 {
        let mut s = MixBuild.build_hasher();
        s.write_i64(i);
        s.finish()
    }

    /// Keys in arithmetic progressions whose stride is a power of two
    /// (ids that are multiples of 4096, timestamps in whole seconds...)
    /// spread over the buckets that the low bits pick, and over the high
    /// bits hashbrown keeps as a tag. A plain multiply (FxHash's) maps
    /// every multiple of 4096 to one bucket of 4096.
    #[test]
    fn integer_keys_spread_over_buckets() {
        for stride in [1i64, 2, 1000, 4096, 1 << 20, 1 << 32, 1 << 48] {
            let low: HashSet<u64> = (0..4096).map(|k| h(k * stride) & 1023).collect();
            let high: HashSet<u64> = (0..4096).map(|k| h(k * stride) >> 57).collect();
            // 4096 keys in 1024 buckets at random leave about 18 empty.
            assert!(
                low.len() > 980,
                "stride {stride}: {} of 1024 buckets",
                low.len()
            );
            assert_eq!(high.len(), 128, "stride {stride}");
        }
        let plain = |k: i64| (k as u64).wrapping_mul(0x517c_c1b7_2722_0a95) & 1023;
        let fx: HashSet<u64> = (0..4096).map(|k| plain(k * 4096)).collect();
        assert_eq!(
            fx.len(),
            1,
            "the test would not tell a plain multiply apart"
        );
    }

    #[test]
    fn values_of_ints_and_other_keys() {
        let mut m: KeyMap<u32> = KeyMap::default();
        let s: Value = Value::Str(Arc::from("c1"));
        assert_eq!(m.get_or_insert_with(&Value::Int(7), || 0), (&mut 0, true));
        assert_eq!(m.get_or_insert_with(&s, || 1), (&mut 1, true));
        assert_eq!(m.get_or_insert_with(&Value::Time(7), || 2), (&mut 2, true));
        assert_eq!(m.get_or_insert_with(&Value::Int(7), || 9), (&mut 0, false));
        assert_eq!(
            m.get_or_insert_with(&Value::Str(Arc::from("c1")), || 9),
            (&mut 1, false)
        );
        assert_eq!(
            m.get(&Value::Time(7)),
            Some(&2),
            "a time 7 is not the int 7"
        );
        assert_eq!(m.get(&Value::Int(8)), None);
        if let Some(v) = m.get_mut(&Value::Int(7)) {
            *v = 5;
        }
        assert_eq!(m.get(&Value::Int(7)), Some(&5));
        assert_eq!(m.len(), 3);
        let mut all: Vec<(u32, Value)> = m.iter().map(|(k, v)| (*v, k)).collect();
        all.sort_by_key(|(v, _)| *v);
        assert_eq!(
            all,
            vec![(1, s.clone()), (2, Value::Time(7)), (5, Value::Int(7))]
        );
        assert_eq!(m.remove(&Value::Int(7)), Some(5));
        assert_eq!(m.remove(&Value::Int(7)), None);
        assert_eq!(m.remove(&s), Some(1));
        assert_eq!(m.len(), 1);
        assert!(!m.is_empty());
    }
}
