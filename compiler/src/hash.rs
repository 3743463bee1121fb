//! The hash that ties an IR to the sources it was compiled from.

use cep_grammar::SourceMap;

/// FNV-1a (64 bit) over every file's name and text, each preceded by its
/// length so that moving bytes between files changes the hash.
pub fn source_hash(sources: &SourceMap) -> String {
    let mut h = cep_ir::Fnv1a64::default();
    for (_, f) in sources.iter() {
        h.feed(f.name.as_bytes());
        h.feed(f.text.as_bytes());
    }
    h.finish()
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
