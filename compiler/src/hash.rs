//! The hash that ties an IR to the sources it was compiled from.

use cep_grammar::SourceMap;

/// FNV-1a (64 bit) over every file's name and text, each preceded by its
/// length so that moving bytes between files changes the hash.
pub fn source_hash(sources: &SourceMap) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (_, f) in sources.iter() {
        feed(f.name.as_bytes());
        feed(f.text.as_bytes());
    }
    format!("fnv1a64:{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_changes_with_content_and_split() {
        let mut a = SourceMap::new();
        a.add("a.cep", "event A { x: int }");
        let mut b = SourceMap::new();
        b.add("a.cep", "event A { x: str }");
        let mut c = SourceMap::new();
        c.add("a.cep", "event A {");
        c.add("b.cep", " x: int }");
        assert_ne!(source_hash(&a), source_hash(&b));
        assert_ne!(source_hash(&a), source_hash(&c));
        assert_eq!(source_hash(&a), source_hash(&a.clone()));
        assert!(source_hash(&a).starts_with("fnv1a64:"));
    }
}
