//! The decoder's fast path: a line in the usual shape (`"type"` first,
//! then the fields as plain scalars, each once, every field present) is
//! decoded by a logos tokenizer straight into the event's slots. Any
//! other line, and any value whose handling has a rule to apply (an
//! escape in a string, `null`, a nested value, a number out of range, a
//! time or a duration that does not parse, a type that does not match,
//! `@cep`), makes the fast path give up: the serde decoder (`visit`)
//! then decodes the line from the start, so every event and every
//! rejection is the serde decoder's (the differential test in
//! `tests.rs` holds them equal on random and mutated lines).

use super::{parse_duration, parse_rfc3339, Schema, Types};
use crate::keyhash::KeyBuild;
use crate::value::Value;
use cep_ir::{EventId, Type};
use logos::Logos;
use std::collections::HashSet;
use std::sync::Arc;

/// JSON tokens, with strings split: a string without escapes and
/// without control characters is one token (its text between the
/// quotes is its value); any other string is not a token (the lexer
/// fails, and so does the fast path).
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n]+")]
enum Tok {
    #[token("{")]
    Open,
    #[token("}")]
    Close,
    #[token("[")]
    OpenList,
    #[token("]")]
    CloseList,
    #[token(":")]
    Colon,
    #[token(",")]
    Comma,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("null")]
    Null,
    #[regex(r#""[^"\\\x00-\x1F]*""#)]
    Str,
    /// A JSON integer.
    #[regex(r"-?(0|[1-9][0-9]*)", priority = 3)]
    Int,
    /// A JSON number with a fraction or an exponent.
    #[regex(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")]
    Num,
}

/// A line decoded by the fast path: its type and its fields in slot
/// order. `None`: the serde decoder must decide.
pub(super) fn decode(
    text: &str,
    schemas: &[Schema],
    types: &Types,
    strings: &mut Strings,
) -> Option<(EventId, Vec<Value>)> {
    let mut lex = Tok::lexer(text);
    // The next token and its text; `None` at the end and at anything that
    // is not a token.
    let mut next = || match lex.next() {
        Some(Ok(t)) => Some((t, lex.slice())),
        _ => None,
    };
    if next()?.0 != Tok::Open {
        return None;
    }
    // `"type": "Name"` first.
    let (Tok::Str, key) = next()? else {
        return None;
    };
    if inner(key) != "type" || next()?.0 != Tok::Colon {
        return None;
    }
    let (Tok::Str, name) = next()? else {
        return None;
    };
    let ty = types.get(inner(name))?;
    let schema = schemas.get(usize::try_from(ty).ok()?)?;
    let n = schema.fields.len();
    // Which slots are filled, one bit each (wider types take the serde
    // decoder's way).
    if n > 64 {
        return None;
    }
    let mut fields: Vec<Value> = vec![Value::Null; n];
    let mut filled: u64 = 0;
    let mut count = 0usize;
    let mut hint = 0usize;
    loop {
        match next()? {
            (Tok::Close, _) => break,
            (Tok::Comma, _) => {}
            _ => return None,
        }
        let (Tok::Str, key) = next()? else {
            return None;
        };
        let key = inner(key);
        if next()?.0 != Tok::Colon {
            return None;
        }
        let (tok, text) = next()?;
        if key == "type" || key == "@cep" {
            return None;
        }
        let Some(slot) = schema.slot(key, hint) else {
            // An unknown member: ignored, if it is a plain scalar.
            match tok {
                Tok::Str | Tok::Int | Tok::Num | Tok::True | Tok::False | Tok::Null => continue,
                _ => return None,
            }
        };
        let bit = 1u64 << slot;
        if filled & bit != 0 {
            return None;
        }
        let ty = schema.fields.get(slot)?.1;
        let v = value(ty, tok, text, strings)?;
        *fields.get_mut(slot)? = v;
        filled |= bit;
        count += 1;
        hint = slot + 1;
    }
    // Nothing after the object (only whitespace, which the lexer skips),
    // and every field given.
    if lex.next().is_some() {
        return None;
    }
    (count == n).then_some((ty, fields))
}

/// The text of a string token between its quotes.
fn inner(s: &str) -> &str {
    s.get(1..s.len().saturating_sub(1)).unwrap_or("")
}

/// A field's value, where the rules give one without a decision.
fn value(ty: Type, tok: Tok, text: &str, strings: &mut Strings) -> Option<Value> {
    // serde_json reads `-0` as the float -0.0, not as an integer.
    if tok == Tok::Int && text == "-0" {
        return None;
    }
    match (ty, tok) {
        (Type::Str, Tok::Str) => Some(Value::Str(strings.get(inner(text)))),
        (Type::Bool, Tok::True) => Some(Value::Bool(true)),
        (Type::Bool, Tok::False) => Some(Value::Bool(false)),
        (Type::Int, Tok::Int) => text.parse().ok().map(Value::Int),
        (Type::Duration, Tok::Int) => text.parse().ok().map(Value::Duration),
        (Type::Float, Tok::Int) => text.parse::<i64>().ok().map(|n| Value::Float(n as f64)),
        (Type::Float, Tok::Num) => text
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Value::Float),
        (Type::Time, Tok::Int) => text.parse().ok().filter(valid).map(Value::Time),
        (Type::Time, Tok::Str) => parse_rfc3339(inner(text))
            .ok()
            .filter(valid)
            .map(Value::Time),
        (Type::Duration, Tok::Str) => parse_duration(inner(text)).ok().map(Value::Duration),
        _ => None,
    }
}

/// Short strings seen before, shared: a key that comes again and again
/// (a sensor, a symbol) is one allocation, not one per event. Bounded:
/// strings of at most [`Strings::LONGEST`] bytes, and when
/// [`Strings::MOST`] are held the cache starts again empty (values are
/// compared by content, so sharing changes no result).
#[derive(Debug, Default)]
pub(super) struct Strings {
    held: HashSet<Arc<str>, KeyBuild>,
}

impl Strings {
    /// Bytes of the longest string kept.
    pub(super) const LONGEST: usize = 48;
    /// Strings kept at most.
    pub(super) const MOST: usize = 8192;

    /// `s`, shared if it was seen before.
    pub(super) fn get(&mut self, s: &str) -> Arc<str> {
        if s.len() > Self::LONGEST {
            return Arc::from(s);
        }
        if let Some(a) = self.held.get(s) {
            return a.clone();
        }
        if self.held.len() >= Self::MOST {
            self.held.clear();
        }
        let a: Arc<str> = Arc::from(s);
        self.held.insert(a.clone());
        a
    }
}

fn valid(t: &i64) -> bool {
    (cep_ir::MIN_TIME_MS..=cep_ir::MAX_TIME_MS).contains(t)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// A short string seen again is the same allocation; a long one never
    /// is; the cache never holds more than its bound.
    #[test]
    fn strings_are_shared_within_bounds() {
        let mut s = Strings::default();
        let a = s.get("sensor-1");
        let b = s.get("sensor-1");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*s.get("sensor-2"), "sensor-2");
        let long = "x".repeat(Strings::LONGEST + 1);
        assert!(!Arc::ptr_eq(&s.get(&long), &s.get(&long)));
        for i in 0..3 * Strings::MOST {
            let k = format!("k{i}");
            assert_eq!(&*s.get(&k), k);
            assert!(s.held.len() <= Strings::MOST);
        }
    }
}
