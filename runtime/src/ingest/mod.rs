//! Input decoding: NDJSON lines to engine events.
//!
//! One line holds one JSON object. Its `"type"` member names an event type
//! of the program (declared, or the complex event of a pattern, so that
//! the output of `cep run` can be read back); the other members are the
//! fields, by name. Unknown members are ignored.
//!
//! Each line is decoded once, directly into the event's slots: a serde
//! visitor walks the object and, once it knows the type, writes every
//! value into its slot with the field's type checked on the way. When
//! `"type"` is not the first member, the members before it are kept as
//! `serde_json::Value`s and resolved at the end (the slow path).
//!
//! An event's time is its type's time field. A type without one is
//! *stamped on arrival*: it takes the latest event time decoded so far
//! from this input (0 before any), so that replaying a file gives the same
//! times and the same results as the first run. A complex event read back
//! takes the time recorded in its `"@cep": {"time": ...}` member.
//!
//! A line that is not an event is a [`Rejection`] with a short stable
//! [`Reason`] and a sentence for people. Nothing here does I/O except
//! [`read_line`], which reads from any `BufRead` with a bound on the line
//! length.

use crate::keyhash::KeyBuild;
use crate::value::{Event, Value};
use cep_ir::{EventId, Origin, Program, Slot, Type};
use serde::de::DeserializeSeed;
use std::collections::HashMap;
use std::fmt;

use std::sync::Arc;

mod batch;
mod fast;
mod lines;
mod visit;

pub use batch::{Batch, Decoded, Item, Stage};
#[cfg(test)]
use cep_ir::time;
pub use cep_ir::time::{
    civil_from_days, days_from_civil, format_rfc3339, parse_duration, parse_rfc3339,
};
pub use lines::{Line, Lines};
use visit::{State, Top};

/// Why a line was rejected. The names are stable: they appear in the
/// dead-letter output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    MalformedJson,
    NotAnObject,
    MissingType,
    UnknownType,
    MissingField,
    WrongType,
    BadTime,
    /// Decoded, but older than what the engine had already processed.
    Late,
    /// An activity event a process did not allow (`crate::process`).
    Refused,
    OversizedLine,
    InvalidUtf8,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MalformedJson => "malformed json",
            Reason::NotAnObject => "not an object",
            Reason::MissingType => "missing type",
            Reason::UnknownType => "unknown type",
            Reason::MissingField => "missing field",
            Reason::WrongType => "wrong type",
            Reason::BadTime => "bad time",
            Reason::Late => "late",
            Reason::Refused => "refused",
            Reason::OversizedLine => "oversized line",
            Reason::InvalidUtf8 => "invalid utf-8",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line that is not an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    /// A sentence naming the problem: which field, expected and found.
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Rejection {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

// ---- schemas -----------------------------------------------------------------

/// Above this many fields, names are looked up in a hash map; below, a
/// scan that starts after the last field found (inputs usually list the
/// fields in declaration order, so the scan finds each at once).
const SCAN_LIMIT: usize = 12;

#[derive(Debug)]
struct Schema {
    name: Box<str>,
    fields: Box<[(Box<str>, Type)]>,
    index: HashMap<Box<str>, Slot, KeyBuild>,
    time_field: Option<Slot>,
    /// A pattern's complex event: its fields may be null (an aggregate
    /// over an empty group, say).
    complex: bool,
    /// Per slot: the field is optional (`ty?`): null or missing is no
    /// value.
    optional: Box<[bool]>,
}

impl Schema {
    /// Whether the field in `slot` may be null.
    fn nullable(&self, slot: usize) -> bool {
        self.complex || self.optional.get(slot).copied().unwrap_or(false)
    }
}

impl Schema {
    /// The slot of a field, scanning from `hint`.
    fn slot(&self, name: &str, hint: usize) -> Option<usize> {
        let n = self.fields.len();
        if n > SCAN_LIMIT {
            return self.index.get(name).map(|s| usize::from(*s));
        }
        (0..n)
            .map(|i| {
                if hint + i >= n {
                    hint + i - n
                } else {
                    hint + i
                }
            })
            .find(|&i| self.fields.get(i).is_some_and(|(f, _)| &**f == name))
    }
}

/// Event type names: scanned when there are few, hashed otherwise.
#[derive(Debug, Default)]
struct Types {
    names: Vec<(Box<str>, EventId)>,
    index: HashMap<Box<str>, EventId, KeyBuild>,
}

impl Types {
    fn get(&self, name: &str) -> Option<EventId> {
        if self.names.len() > SCAN_LIMIT {
            return self.index.get(name).copied();
        }
        self.names
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, id)| *id)
    }
}

/// Decodes lines into events for one program.
#[derive(Debug)]
pub struct Decoder {
    schemas: Vec<Schema>,
    types: Types,
    /// The latest event time decoded so far.
    latest: Option<i64>,
    seen: Vec<bool>,
    pending: Vec<(String, serde_json::Value)>,
    /// The `@cep.sequence` of the line decoded last.
    sequence: Option<Arc<str>>,
    /// Try the fast path first (`fast`); off only to compare the two.
    fast: bool,
    /// The fast path's shared strings.
    strings: fast::Strings,
}

impl Decoder {
    /// The sequence the event decoded last names (`"@cep": {"sequence":
    /// "..."}`), taken: `None` when it names none.
    pub fn take_sequence(&mut self) -> Option<Arc<str>> {
        self.sequence.take()
    }

    pub fn new(program: &Program) -> Decoder {
        let mut types = Types::default();
        let mut schemas = Vec::with_capacity(program.events.len());
        for (i, e) in program.events.iter().enumerate() {
            if let Ok(id) = EventId::try_from(i) {
                types.names.push((Box::from(e.name.as_str()), id));
                types.index.insert(Box::from(e.name.as_str()), id);
            }
            let fields: Box<[(Box<str>, Type)]> = e
                .fields
                .iter()
                .map(|f| (Box::from(f.name.as_str()), f.ty))
                .collect();
            let index = fields
                .iter()
                .enumerate()
                .filter_map(|(s, (name, _))| Slot::try_from(s).ok().map(|s| (name.clone(), s)))
                .collect();
            schemas.push(Schema {
                name: Box::from(e.name.as_str()),
                fields,
                index,
                time_field: e.time_field,
                complex: matches!(e.origin, Origin::Pattern(_)),
                optional: e.fields.iter().map(|f| f.optional).collect(),
            });
        }
        Decoder {
            schemas,
            types,
            latest: None,
            seen: Vec::new(),
            pending: Vec::new(),
            sequence: None,
            fast: true,
            strings: fast::Strings::default(),
        }
    }

    /// Turns the fast path (`ingest::fast`) on (the default) or off:
    /// either way every line decodes to the same event or the same
    /// rejection; off, every line goes through the serde decoder.
    pub fn set_fast(&mut self, on: bool) {
        self.fast = on;
    }

    /// The latest event time decoded so far: what an event without a time
    /// field is stamped with.
    pub fn latest(&self) -> Option<i64> {
        self.latest
    }

    /// Decodes one line (with or without its line break). `Ok(None)` for
    /// a blank line, which is not an event. `source` is the line number;
    /// the event carries it.
    pub fn decode(&mut self, line: &[u8], source: u64) -> Result<Option<Event>, Rejection> {
        self.sequence = None;
        if line
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            return Ok(None);
        }
        let text = std::str::from_utf8(line).map_err(|e| {
            Rejection::new(
                Reason::InvalidUtf8,
                format!(
                    "the line is not UTF-8: invalid byte at column {}",
                    e.valid_up_to() + 1
                ),
            )
        })?;
        if self.fast {
            if let Some((ty, fields)) =
                fast::decode(text, &self.schemas, &self.types, &mut self.strings)
            {
                return self.event(ty, fields, None, source).map(Some);
            }
        }
        let mut st = State {
            schemas: &self.schemas,
            types: &self.types,
            type_seen: false,
            ty: None,
            fields: Vec::new(),
            filled: 0,
            seen: &mut self.seen,
            hint: 0,
            cep_time: None,
            cep_sequence: None,
            problem: None,
            pending: &mut self.pending,
        };
        st.pending.clear();
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = Top(&mut st).deserialize(&mut de).and_then(|()| de.end());
        if let Err(e) = parsed {
            return Err(malformed(&e));
        }
        let (ty, fields, cep_time, sequence) = st.finish()?;
        self.sequence = sequence.map(Arc::from);
        self.event(ty, fields, cep_time, source).map(Some)
    }

    /// A decoded line's event: its time from its time field (or `@cep`'s,
    /// or the latest so far), which becomes the latest.
    fn event(
        &mut self,
        ty: EventId,
        fields: Vec<Value>,
        cep_time: Option<i64>,
        source: u64,
    ) -> Result<Event, Rejection> {
        let schema = self
            .schemas
            .get(ty as usize)
            .ok_or_else(|| Rejection::new(Reason::UnknownType, "no such event type"))?;
        let time = match schema.time_field {
            Some(slot) => match fields.get(usize::from(slot)) {
                // An `int` of epoch milliseconds named by `--time-field`.
                Some(Value::Time(t) | Value::Int(t)) => *t,
                _ => {
                    let name = schema
                        .fields
                        .get(usize::from(slot))
                        .map_or("?", |(n, _)| &**n);
                    return Err(Rejection::new(
                        Reason::BadTime,
                        format!("field `{name}` of `{}` has no time", schema.name),
                    ));
                }
            },
            None => cep_time.unwrap_or(self.latest.unwrap_or(0)),
        };
        self.latest = Some(self.latest.map_or(time, |l| l.max(time)));
        Ok(Event::new(ty, time, source, fields))
    }
}

/// A serde_json error as a sentence about the line.
fn malformed(e: &serde_json::Error) -> Rejection {
    let mut m = e.to_string();
    if let Some(i) = m.rfind(" at line ") {
        m.truncate(i);
    }
    Rejection::new(
        Reason::MalformedJson,
        format!("{m} at column {}", e.column()),
    )
}

// ---- "did you mean" ------------------------------------------------------------------

/// The closest name within a third of the word's length, if any.
fn suggest<'a>(word: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let n = word.chars().count();
    if n > 64 {
        return None;
    }
    let limit = (n / 3).max(1);
    let w = word.to_lowercase();
    names
        .filter(|c| *c != word)
        .map(|c| (edit_distance(&w, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = i;
        if let Some(r) = row.first_mut() {
            *r = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let cur = row.get(j + 1).copied().unwrap_or(0);
            let left = row.get(j).copied().unwrap_or(0);
            let v = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(left)
            };
            if let Some(r) = row.get_mut(j + 1) {
                *r = v;
            }
            prev = cur;
        }
    }
    row.last().copied().unwrap_or(0)
}

/// Over `limit`: what the dead-letter output says.
pub fn oversized(limit: usize) -> Rejection {
    Rejection::new(
        Reason::OversizedLine,
        format!("the line is longer than the limit of {limit} bytes"),
    )
}

#[cfg(test)]
mod tests;
