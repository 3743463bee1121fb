//! The hasher of partition keys and name indexes: foldhash's fast
//! variant with a fixed seed (deterministic, so that a run's output does
//! not depend on the process), whose finalisation mixes every input byte
//! into the bits hashbrown uses for a bucket and its tag. Keys come from
//! input data; the engine trades resistance to crafted collisions for
//! speed, as edge deployments read trusted streams.

/// Builds the hashers of the engine's maps.
pub type KeyBuild = foldhash::fast::FixedState;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn distinguishes_nearby_keys() {
        let b = KeyBuild::default();
        assert_ne!(b.hash_one("S1"), b.hash_one("S2"));
        assert_ne!(b.hash_one("abcdefgh1"), b.hash_one("abcdefgh2"));
        assert_ne!(b.hash_one(""), b.hash_one("\0"));
        assert_eq!(b.hash_one("S17"), b.hash_one("S17"));
    }

    /// Keys that differ in a few bytes (symbols, sensor ids) spread over
    /// the buckets of a table: by the low bits (hashbrown's bucket index)
    /// and by the top 7 bits (its tag), no bucket holds more than twice
    /// its fair share. (A multiply-only hash that returns its state, as
    /// this module's earlier FxHash did, fails it: its low bits depend on
    /// the keys' first bytes only, and it put 2,088 of these 65,536 keys
    /// in one of 1,024 buckets and left 992 empty.)
    #[test]
    fn keys_spread_over_buckets() {
        let b = KeyBuild::default();
        let n = 1u64 << 16;
        let keys: Vec<String> = (0..n).map(|i| format!("sensor-{i:08}")).collect();
        let buckets = 1usize << 10;
        let mut low = vec![0u32; buckets];
        let mut tag = vec![0u32; 128];
        for k in &keys {
            let h = b.hash_one(k.as_str());
            low[(h as usize) & (buckets - 1)] += 1;
            tag[(h >> 57) as usize] += 1;
        }
        let fair_low = (n as usize / buckets) as u32;
        let fair_tag = (n as usize / 128) as u32;
        let worst_low = low.iter().copied().max().unwrap_or(0);
        let worst_tag = tag.iter().copied().max().unwrap_or(0);
        assert!(
            worst_low <= 2 * fair_low,
            "a bucket holds {worst_low} of {n} keys"
        );
        assert!(
            worst_tag <= 2 * fair_tag,
            "a tag holds {worst_tag} of {n} keys"
        );
        assert!(
            low.iter().all(|&c| c > 0),
            "an empty bucket among {buckets}"
        );
    }
}
