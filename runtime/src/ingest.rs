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

use crate::fxhash::FxBuild;
use crate::value::{Event, Value};
use cep_ir::{EventId, Origin, Program, Slot, Type};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, Read};
use std::sync::Arc;

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
    index: HashMap<Box<str>, Slot, FxBuild>,
    time_field: Option<Slot>,
    /// A pattern's complex event: its fields may be null (an aggregate
    /// over an empty group, say).
    complex: bool,
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
    index: HashMap<Box<str>, EventId, FxBuild>,
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
}

impl Decoder {
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
            });
        }
        Decoder {
            schemas,
            types,
            latest: None,
            seen: Vec::new(),
            pending: Vec::new(),
        }
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
            problem: None,
            pending: &mut self.pending,
        };
        st.pending.clear();
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = Top(&mut st).deserialize(&mut de).and_then(|()| de.end());
        if let Err(e) = parsed {
            return Err(malformed(&e));
        }
        let (ty, fields, cep_time) = st.finish()?;
        let schema = self
            .schemas
            .get(ty as usize)
            .ok_or_else(|| Rejection::new(Reason::UnknownType, "no such event type"))?;
        let time = match schema.time_field {
            Some(slot) => match fields.get(usize::from(slot)) {
                Some(Value::Time(t)) => *t,
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
        Ok(Some(Event::new(ty, time, source, fields)))
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

// ---- the visitors ----------------------------------------------------------------

/// The decoding of one line in progress.
struct State<'s> {
    schemas: &'s [Schema],
    types: &'s Types,
    type_seen: bool,
    /// Known once `"type"` was read and names an event type.
    ty: Option<EventId>,
    fields: Vec<Value>,
    filled: usize,
    seen: &'s mut Vec<bool>,
    hint: usize,
    cep_time: Option<i64>,
    /// The first problem found; decoding goes on to the end of the line
    /// so that malformed JSON is reported as such.
    problem: Option<Rejection>,
    pending: &'s mut Vec<(String, serde_json::Value)>,
}

impl<'s> State<'s> {
    fn schema(&self) -> Option<&'s Schema> {
        let schemas: &'s [Schema] = self.schemas;
        self.ty.and_then(|t| schemas.get(t as usize))
    }

    fn problem(&mut self, r: Rejection) {
        if self.problem.is_none() {
            self.problem = Some(r);
        }
    }

    fn on_type(&mut self, got: TypeGot) {
        self.type_seen = true;
        match got {
            TypeGot::Known(id) => {
                let n = self.schemas.get(id as usize).map_or(0, |s| s.fields.len());
                self.ty = Some(id);
                self.fields = vec![Value::Null; n];
                self.seen.clear();
                self.seen.resize(n, false);
            }
            TypeGot::Unknown(name) => {
                let mut m = format!("unknown event type `{name}`");
                if let Some(s) = suggest(&name, self.schemas.iter().map(|s| &*s.name)) {
                    m.push_str(&format!(" (did you mean `{s}`?)"));
                }
                self.problem(Rejection::new(Reason::UnknownType, m));
            }
            TypeGot::NotString(found) => self.problem(Rejection::new(
                Reason::MissingType,
                format!("`type` must be a string naming the event type, found {found}"),
            )),
        }
    }

    fn on_field(&mut self, slot: usize, got: Got) {
        let Some(schema) = self.schema() else {
            return;
        };
        let (name, ty) = match schema.fields.get(slot) {
            Some((n, t)) => (n, *t),
            None => return,
        };
        let problem = match got {
            Got::Val(v) => {
                if self.seen.get(slot).copied().unwrap_or(true) {
                    Some(Rejection::new(
                        Reason::MalformedJson,
                        format!("field `{name}` appears twice"),
                    ))
                } else {
                    if let (Some(s), Some(f)) = (self.seen.get_mut(slot), self.fields.get_mut(slot))
                    {
                        *s = true;
                        *f = v;
                        self.filled += 1;
                    }
                    self.hint = slot + 1;
                    None
                }
            }
            Got::Wrong(found) => Some(Rejection::new(
                Reason::WrongType,
                format!(
                    "field `{name}` of `{}` must be {}, found {found}",
                    schema.name,
                    expected(ty)
                ),
            )),
            Got::BadTime(why) => Some(Rejection::new(
                Reason::BadTime,
                format!("field `{name}` of `{}`: {why}", schema.name),
            )),
        };
        if let Some(p) = problem {
            self.problem(p);
        }
    }

    fn on_cep(&mut self, got: CepGot) {
        match got {
            CepGot::Time(t) => self.cep_time = Some(t),
            CepGot::NoTime => {}
            CepGot::Bad(r) => self.problem(r),
        }
    }

    /// Resolves the members read before `"type"`, checks that every field
    /// is there, and gives the event's type and fields (and its
    /// `@cep.time`).
    fn finish(mut self) -> Result<(EventId, Vec<Value>, Option<i64>), Rejection> {
        if !self.type_seen {
            if let Some(p) = self.problem.take() {
                if p.reason == Reason::NotAnObject {
                    return Err(p);
                }
            }
            return Err(Rejection::new(
                Reason::MissingType,
                "the object has no `type` naming its event type",
            ));
        }
        if let Some(p) = self.problem.take() {
            return Err(p);
        }
        let ty = self
            .ty
            .ok_or_else(|| Rejection::new(Reason::UnknownType, "unknown event type"))?;
        let pending = std::mem::take(&mut *self.pending);
        for (name, value) in &pending {
            let Some(schema) = self.schema() else { break };
            let Some(slot) = schema.slot(name, self.hint) else {
                continue;
            };
            let Some((_, fty)) = schema.fields.get(slot) else {
                continue;
            };
            let seed = FieldSeed {
                ty: *fty,
                nullable: schema.complex,
            };
            match seed.deserialize(value) {
                Ok(got) => self.on_field(slot, got),
                Err(e) => self.problem(malformed(&e)),
            }
        }
        *self.pending = pending;
        if let Some(p) = self.problem.take() {
            return Err(p);
        }
        let n = self.fields.len();
        if self.filled < n {
            let schema = self.schema();
            let missing: Vec<String> = self
                .seen
                .iter()
                .enumerate()
                .filter(|(_, s)| !**s)
                .filter_map(|(i, _)| {
                    let (name, ty) = schema?.fields.get(i)?;
                    Some(format!("`{name}` ({ty})"))
                })
                .collect();
            let of = schema.map_or("?", |s| &*s.name);
            let detail = if missing.len() == 1 {
                format!("field {} of `{of}` is missing", missing.join(""))
            } else {
                format!("fields {} of `{of}` are missing", missing.join(", "))
            };
            return Err(Rejection::new(Reason::MissingField, detail));
        }
        Ok((ty, self.fields, self.cep_time))
    }
}

/// The top-level value of a line.
struct Top<'a, 's>(&'a mut State<'s>);

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Top<'_, '_> {
    fn not_object(self, found: &str) {
        self.0.problem(Rejection::new(
            Reason::NotAnObject,
            format!("the line is {found}, not a JSON object"),
        ));
    }
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let st = self.0;
        while let Some(key) = map.next_key_seed(KeySeed(st))? {
            match key {
                Key::Type => {
                    let got = map.next_value_seed(TypeSeed(st.types))?;
                    st.on_type(got);
                }
                Key::TypeAgain => {
                    map.next_value::<IgnoredAny>()?;
                    st.problem(Rejection::new(
                        Reason::MalformedJson,
                        "the key `type` appears twice",
                    ));
                }
                Key::Cep => {
                    let got = map.next_value_seed(CepSeed)?;
                    st.on_cep(got);
                }
                Key::Field(slot, ty, nullable) => {
                    let got = map.next_value_seed(FieldSeed { ty, nullable })?;
                    st.on_field(slot, got);
                }
                Key::Ignore => {
                    map.next_value::<IgnoredAny>()?;
                }
                Key::Pending(name) => {
                    let v: serde_json::Value = map.next_value()?;
                    st.pending.push((name, v));
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.not_object("an array");
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.not_object("a string");
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.not_object("a number");
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.not_object("a number");
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.not_object("a number");
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.not_object("a boolean");
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.not_object("null");
        Ok(())
    }
}

/// What a member's key means, given what was read so far.
enum Key {
    Type,
    TypeAgain,
    Cep,
    /// A field of the known type: its slot, type and nullability.
    Field(usize, Type, bool),
    /// An unknown member, or any member of an unknown type.
    Ignore,
    /// A member before `"type"`: kept and resolved at the end.
    Pending(String),
}

struct KeySeed<'a, 's>(&'a State<'s>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Key, E> {
        let st = self.0;
        Ok(match k {
            "type" if st.type_seen => Key::TypeAgain,
            "type" => Key::Type,
            "@cep" => Key::Cep,
            _ if !st.type_seen => Key::Pending(k.to_owned()),
            _ => match st.schema() {
                Some(schema) => match schema.slot(k, st.hint) {
                    Some(slot) => match schema.fields.get(slot) {
                        Some((_, ty)) => Key::Field(slot, *ty, schema.complex),
                        None => Key::Ignore,
                    },
                    None => Key::Ignore,
                },
                None => Key::Ignore,
            },
        })
    }
}

enum TypeGot {
    Known(EventId),
    Unknown(String),
    NotString(String),
}

struct TypeSeed<'s>(&'s Types);

impl<'de> DeserializeSeed<'de> for TypeSeed<'_> {
    type Value = TypeGot;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<TypeGot, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TypeSeed<'_> {
    type Value = TypeGot;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event type name")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<TypeGot, E> {
        Ok(match self.0.get(s) {
            Some(id) => TypeGot::Known(id),
            None => TypeGot::Unknown(s.to_owned()),
        })
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<TypeGot, E> {
        Ok(TypeGot::NotString(format!("the number {n}")))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<TypeGot, E> {
        Ok(TypeGot::NotString(format!("the number {n}")))
    }

    fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<TypeGot, E> {
        Ok(TypeGot::NotString(format!("the number {x:?}")))
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<TypeGot, E> {
        Ok(TypeGot::NotString(format!("`{b}`")))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<TypeGot, E> {
        Ok(TypeGot::NotString("null".into()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TypeGot, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(TypeGot::NotString("an object".into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TypeGot, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(TypeGot::NotString("an array".into()))
    }
}

/// A field's value, checked against its type.
enum Got {
    Val(Value),
    /// The wrong kind of value: what was found.
    Wrong(String),
    /// A string that is not a valid time: why.
    BadTime(String),
}

#[derive(Clone, Copy)]
struct FieldSeed {
    ty: Type,
    nullable: bool,
}

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Got;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Got, D::Error> {
        d.deserialize_any(self)
    }
}

/// How the expected type is named in messages, with the JSON it takes.
fn expected(ty: Type) -> &'static str {
    match ty {
        Type::Int => "an int (a JSON integer)",
        Type::Float => "a float (a JSON number)",
        Type::Str => "a str (a JSON string)",
        Type::Bool => "a bool (`true` or `false`)",
        Type::Duration => "a duration (integer milliseconds or a string like \"500ms\")",
        Type::Time => "a time (integer epoch milliseconds or an RFC 3339 string)",
    }
}

/// A string as found in a message: quoted, and cut if long.
fn quoted(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}

impl FieldSeed {
    fn int(self, n: i64) -> Got {
        match self.ty {
            Type::Int => Got::Val(Value::Int(n)),
            Type::Float => Got::Val(Value::Float(n as f64)),
            Type::Duration => Got::Val(Value::Duration(n)),
            Type::Time => Got::Val(Value::Time(n)),
            Type::Str | Type::Bool => Got::Wrong(format!("the number {n}")),
        }
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = Got;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(expected(self.ty))
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Got, E> {
        Ok(self.int(n))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Got, E> {
        Ok(match i64::try_from(n) {
            Ok(n) => self.int(n),
            Err(_) if self.ty == Type::Float => Got::Val(Value::Float(n as f64)),
            Err(_) => match self.ty {
                Type::Int | Type::Duration | Type::Time => {
                    Got::Wrong(format!("the number {n}, which is too large"))
                }
                _ => Got::Wrong(format!("the number {n}")),
            },
        })
    }

    fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<Got, E> {
        Ok(match self.ty {
            Type::Float => Got::Val(Value::Float(x)),
            Type::Int | Type::Duration | Type::Time => {
                Got::Wrong(format!("the number {x:?}, which is not an integer"))
            }
            Type::Str | Type::Bool => Got::Wrong(format!("the number {x:?}")),
        })
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Got, E> {
        Ok(match self.ty {
            Type::Str => Got::Val(Value::Str(Arc::from(s))),
            Type::Time => match parse_rfc3339(s) {
                Ok(t) => Got::Val(Value::Time(t)),
                Err(why) => Got::BadTime(format!("{} is not an RFC 3339 time: {why}", quoted(s))),
            },
            Type::Duration => match parse_duration(s) {
                Ok(d) => Got::Val(Value::Duration(d)),
                Err(why) => Got::Wrong(format!("the string {} ({why})", quoted(s))),
            },
            Type::Int | Type::Float | Type::Bool => Got::Wrong(format!("the string {}", quoted(s))),
        })
    }

    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Got, E> {
        Ok(match self.ty {
            Type::Bool => Got::Val(Value::Bool(b)),
            _ => Got::Wrong(format!("`{b}`")),
        })
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Got, E> {
        Ok(if self.nullable {
            Got::Val(Value::Null)
        } else {
            Got::Wrong("null".into())
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Got, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Got::Wrong("an object".into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Got, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Got::Wrong("an array".into()))
    }
}

/// The reserved `"@cep"` member of a complex event read back.
enum CepGot {
    Time(i64),
    NoTime,
    Bad(Rejection),
}

struct CepSeed;

impl<'de> DeserializeSeed<'de> for CepSeed {
    type Value = CepGot;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<CepGot, D::Error> {
        d.deserialize_any(self)
    }
}

impl CepSeed {
    fn not_object(found: &str) -> CepGot {
        CepGot::Bad(Rejection::new(
            Reason::WrongType,
            format!("the reserved member `@cep` must be an object, found {found}"),
        ))
    }
}

struct IsTime;

impl<'de> DeserializeSeed<'de> for IsTime {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for IsTime {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<bool, E> {
        Ok(k == "time")
    }
}

impl<'de> Visitor<'de> for CepSeed {
    type Value = CepGot;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CepGot, A::Error> {
        let mut got = CepGot::NoTime;
        while let Some(is_time) = map.next_key_seed(IsTime)? {
            if !is_time {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let v = map.next_value_seed(FieldSeed {
                ty: Type::Time,
                nullable: false,
            })?;
            got = match v {
                Got::Val(Value::Time(t)) => CepGot::Time(t),
                Got::BadTime(why) => CepGot::Bad(Rejection::new(
                    Reason::BadTime,
                    format!("`@cep.time`: {why}"),
                )),
                Got::Wrong(found) => CepGot::Bad(Rejection::new(
                    Reason::BadTime,
                    format!(
                        "`@cep.time` must be {}, found {found}",
                        expected(Type::Time)
                    ),
                )),
                Got::Val(_) => CepGot::NoTime,
            };
        }
        Ok(got)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CepGot, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(CepSeed::not_object("an array"))
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<CepGot, E> {
        Ok(CepSeed::not_object("a string"))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<CepGot, E> {
        Ok(CepSeed::not_object("a number"))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<CepGot, E> {
        Ok(CepSeed::not_object("a number"))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<CepGot, E> {
        Ok(CepSeed::not_object("a number"))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<CepGot, E> {
        Ok(CepSeed::not_object("a boolean"))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<CepGot, E> {
        Ok(CepSeed::not_object("null"))
    }
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

// ---- durations ---------------------------------------------------------------------

/// A duration as rules write it: a whole number directly followed by a
/// unit (`ms`, `s`, `m`, `h`), in milliseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    if num.is_empty() {
        return Err("a duration is a whole number followed by a unit: ms, s, m or h".into());
    }
    let scale: i64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => return Err("the unit is missing: ms, s, m or h".into()),
        _ => return Err(format!("unknown unit `{unit}`: use ms, s, m or h")),
    };
    num.parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| "the duration is too long".to_string())
}

// ---- RFC 3339 ----------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let d = i64::from(d);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (the inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

/// Reads exactly `n` ASCII digits at `*at`.
fn digits(b: &[u8], at: &mut usize, n: usize, what: &str) -> Result<u32, String> {
    let mut v = 0u32;
    for k in 0..n {
        match b.get(*at + k) {
            Some(c) if c.is_ascii_digit() => v = v * 10 + u32::from(c - b'0'),
            _ => return Err(format!("expected {n} digits for the {what}")),
        }
    }
    *at += n;
    Ok(v)
}

fn expect(b: &[u8], at: &mut usize, c: u8, after: &str) -> Result<(), String> {
    if b.get(*at) == Some(&c) {
        *at += 1;
        Ok(())
    } else {
        Err(format!("expected `{}` after the {after}", char::from(c)))
    }
}

/// An RFC 3339 date-time (`2026-11-22T10:00:00Z`,
/// `2026-11-22T10:00:00.250+01:00`) in milliseconds since the Unix epoch.
/// `T` may also be `t` or a space, `Z` may be `z`; fractions keep
/// millisecond precision (further digits are cut); `-00:00` is UTC. Leap
/// seconds (`:60`) are refused: they have no epoch millisecond.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    let mut at = 0;
    let year = digits(b, &mut at, 4, "year")?;
    expect(b, &mut at, b'-', "year")?;
    let month = digits(b, &mut at, 2, "month")?;
    expect(b, &mut at, b'-', "month")?;
    let day = digits(b, &mut at, 2, "day")?;
    match b.get(at) {
        Some(b'T' | b't' | b' ') => at += 1,
        None => return Err("the time of day is missing (write `T10:00:00Z`)".into()),
        _ => return Err("expected `T` between the date and the time".into()),
    }
    let hour = digits(b, &mut at, 2, "hour")?;
    expect(b, &mut at, b':', "hour")?;
    let minute = digits(b, &mut at, 2, "minute")?;
    expect(b, &mut at, b':', "minute")?;
    let second = digits(b, &mut at, 2, "second")?;
    let mut millis = 0u32;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 3 {
                millis = millis * 10 + u32::from(b.get(at).map_or(0, |c| c - b'0'));
            }
            at += 1;
        }
        let n = at - start;
        if n == 0 {
            return Err("expected digits after the decimal point".into());
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_min: i64 = match b.get(at) {
        Some(b'Z' | b'z') => {
            at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            at += 1;
            let oh = digits(b, &mut at, 2, "offset hours")?;
            expect(b, &mut at, b':', "offset hours")?;
            let om = digits(b, &mut at, 2, "offset minutes")?;
            if oh > 23 {
                return Err(format!("offset hour {oh} is out of range (00 to 23)"));
            }
            if om > 59 {
                return Err(format!("offset minute {om} is out of range (00 to 59)"));
            }
            let m = i64::from(oh * 60 + om);
            if sign == b'-' {
                -m
            } else {
                m
            }
        }
        None => return Err("the UTC offset is missing (write `Z` or `+01:00`)".into()),
        _ => return Err("expected `Z` or an offset like `+01:00`".into()),
    };
    if at != b.len() {
        return Err("unexpected text after the offset".into());
    }
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} is out of range (01 to 12)"));
    }
    let y = i64::from(year);
    let dim = days_in_month(y, month);
    if day < 1 || day > dim {
        return Err(if month == 2 && day == 29 {
            format!("{year:04} is not a leap year: February has 28 days")
        } else {
            format!("day {day} is out of range for month {month:02} (01 to {dim})")
        });
    }
    if hour > 23 {
        return Err(format!("hour {hour} is out of range (00 to 23)"));
    }
    if minute > 59 {
        return Err(format!("minute {minute} is out of range (00 to 59)"));
    }
    if second == 60 {
        return Err("leap seconds (`:60`) are not supported".into());
    }
    if second > 59 {
        return Err(format!("second {second} is out of range (00 to 59)"));
    }
    let days = days_from_civil(y, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_min * 60;
    Ok(secs * 1000 + i64::from(millis))
}

/// Epoch milliseconds as RFC 3339 in UTC, with milliseconds when they are
/// not zero: `2026-11-22T09:00:00.250Z`.
pub fn format_rfc3339(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
    let (mi, rem) = (rem / 60_000, rem % 60_000);
    let (s, milli) = (rem / 1000, rem % 1000);
    if milli == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
    }
}

// ---- reading lines -----------------------------------------------------------------

/// What [`read_line`] read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// The end of the input: nothing was read.
    End,
    /// A line, in the buffer without its line break.
    Full,
    /// A line longer than the limit: the buffer holds its first
    /// `limit + 1` bytes; the rest of it was read and dropped.
    Oversized,
}

/// Reads one line into `buf` (cleared first), holding at most
/// `limit + 1` bytes of it however long it is. A `\r` before the `\n` is
/// kept (JSON takes it as white space).
pub fn read_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>, limit: usize) -> io::Result<Line> {
    buf.clear();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let n = r.by_ref().take(cap).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(Line::End);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Line::Full);
    }
    if buf.len() <= limit {
        // The last line, without a line break.
        return Ok(Line::Full);
    }
    // Too long: drop the rest of the line.
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        match chunk.iter().position(|&c| c == b'\n') {
            Some(i) => {
                r.consume(i + 1);
                break;
            }
            None => {
                let n = chunk.len();
                r.consume(n);
            }
        }
    }
    Ok(Line::Oversized)
}

/// Over `limit`: what the dead-letter output says.
pub fn oversized(limit: usize) -> Rejection {
    Rejection::new(
        Reason::OversizedLine,
        format!("the line is longer than the limit of {limit} bytes"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use cep_ir::{EventType, Field, FORMAT_VERSION};
    use std::io::BufReader;

    fn field(name: &str, ty: Type) -> Field {
        Field {
            name: name.into(),
            ty,
        }
    }

    fn program() -> Program {
        Program {
            format_version: FORMAT_VERSION,
            source_hash: "fnv1a64:0".into(),
            sources: vec![],
            events: vec![
                EventType {
                    name: "Temperature".into(),
                    fields: vec![
                        field("sensor", Type::Str),
                        field("celsius", Type::Float),
                        field("at", Type::Time),
                    ],
                    time_field: Some(2),
                    origin: Origin::Declared,
                },
                EventType {
                    name: "Count".into(),
                    fields: vec![
                        field("n", Type::Int),
                        field("d", Type::Duration),
                        field("ok", Type::Bool),
                    ],
                    time_field: None,
                    origin: Origin::Declared,
                },
                EventType {
                    name: "Heat".into(),
                    fields: vec![field("peak", Type::Float), field("seen", Type::Time)],
                    time_field: None,
                    origin: Origin::Pattern(0),
                },
            ],
            patterns: vec![],
            resources: vec![],
            steps: vec![],
            processes: vec![],
        }
    }

    fn ok(d: &mut Decoder, line: &str) -> Event {
        d.decode(line.as_bytes(), 1)
            .unwrap_or_else(|r| panic!("{line}: {r}"))
            .unwrap_or_else(|| panic!("{line}: blank"))
    }

    fn bad(d: &mut Decoder, line: &[u8]) -> Rejection {
        match d.decode(line, 1) {
            Err(r) => r,
            Ok(e) => panic!("{}: accepted as {e:?}", String::from_utf8_lossy(line)),
        }
    }

    fn rfc(s: &str) -> i64 {
        parse_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    // ---- RFC 3339 ----

    #[test]
    fn rfc3339_valid() {
        assert_eq!(rfc("1970-01-01T00:00:00Z"), 0);
        assert_eq!(rfc("2000-01-01T00:00:00Z"), 946_684_800_000);
        assert_eq!(rfc("2026-11-22T10:00:00Z"), 1_795_341_600_000);
        assert_eq!(rfc("1969-12-31T23:59:59.999Z"), -1);
        assert_eq!(rfc("0000-01-01T00:00:00Z"), -62_167_219_200_000);
        assert_eq!(rfc("9999-12-31T23:59:59.999Z"), 253_402_300_799_999);
        // Lower case and a space are allowed separators.
        assert_eq!(rfc("2026-11-22t10:00:00z"), rfc("2026-11-22T10:00:00Z"));
        assert_eq!(rfc("2026-11-22 10:00:00Z"), rfc("2026-11-22T10:00:00Z"));
    }

    #[test]
    fn rfc3339_offsets() {
        let utc = rfc("2026-11-22T09:00:00.250Z");
        assert_eq!(rfc("2026-11-22T10:00:00.250+01:00"), utc);
        assert_eq!(rfc("2026-11-22T03:30:00.250-05:30"), utc);
        assert_eq!(rfc("2026-11-22T09:00:00.250+00:00"), utc);
        assert_eq!(rfc("2026-11-22T09:00:00.250-00:00"), utc);
        // Across a day and a year boundary.
        assert_eq!(
            rfc("2027-01-01T00:30:00+01:00"),
            rfc("2026-12-31T23:30:00Z")
        );
        assert_eq!(
            rfc("2026-12-31T23:30:00-23:59"),
            rfc("2027-01-01T23:29:00Z")
        );
    }

    #[test]
    fn rfc3339_fractions() {
        let base = rfc("2026-11-22T10:00:00Z");
        assert_eq!(rfc("2026-11-22T10:00:00.5Z"), base + 500);
        assert_eq!(rfc("2026-11-22T10:00:00.05Z"), base + 50);
        assert_eq!(rfc("2026-11-22T10:00:00.250Z"), base + 250);
        assert_eq!(rfc("2026-11-22T10:00:00.000Z"), base);
        // Extra digits are cut, not rounded.
        assert_eq!(rfc("2026-11-22T10:00:00.123456789Z"), base + 123);
        assert_eq!(rfc("2026-11-22T10:00:00.9999Z"), base + 999);
        // Before the epoch the fraction still counts forward.
        assert_eq!(rfc("1969-12-31T23:59:59.5Z"), -500);
    }

    #[test]
    fn rfc3339_leap_years() {
        assert_eq!(
            rfc("2024-02-29T00:00:00Z") + 86_400_000,
            rfc("2024-03-01T00:00:00Z")
        );
        assert_eq!(
            rfc("2000-02-29T00:00:00Z") + 86_400_000,
            rfc("2000-03-01T00:00:00Z")
        );
        assert_eq!(
            rfc("2023-02-28T00:00:00Z") + 86_400_000,
            rfc("2023-03-01T00:00:00Z")
        );
        for s in [
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
        ] {
            let e = parse_rfc3339(s).unwrap_err();
            assert!(e.contains("not a leap year"), "{s}: {e}");
        }
        assert!(parse_rfc3339("2024-02-30T00:00:00Z")
            .unwrap_err()
            .contains("day 30 is out of range for month 02 (01 to 29)"));
    }

    #[test]
    fn rfc3339_invalid() {
        let cases = [
            ("", "4 digits for the year"),
            ("26-11-22T10:00:00Z", "4 digits for the year"),
            ("2026/11/22T10:00:00Z", "expected `-` after the year"),
            ("2026-13-01T00:00:00Z", "month 13 is out of range"),
            ("2026-00-01T00:00:00Z", "month 0 is out of range"),
            (
                "2026-04-31T00:00:00Z",
                "day 31 is out of range for month 04",
            ),
            ("2026-04-00T00:00:00Z", "day 0 is out of range"),
            ("2026-11-22", "the time of day is missing"),
            ("2026-11-22X10:00:00Z", "expected `T`"),
            ("2026-11-22T24:00:00Z", "hour 24 is out of range"),
            ("2026-11-22T10:60:00Z", "minute 60 is out of range"),
            ("2026-11-22T10:00:60Z", "leap seconds"),
            ("2026-11-22T10:00:61Z", "second 61 is out of range"),
            ("2026-11-22T10:00Z", "expected `:` after the minute"),
            ("2026-11-22T1:00:00Z", "2 digits for the hour"),
            ("2026-11-22T10:00:00", "the UTC offset is missing"),
            ("2026-11-22T10:00:00.Z", "digits after the decimal point"),
            ("2026-11-22T10:00:00+1:00", "2 digits for the offset hours"),
            (
                "2026-11-22T10:00:00+0100",
                "expected `:` after the offset hours",
            ),
            (
                "2026-11-22T10:00:00+24:00",
                "offset hour 24 is out of range",
            ),
            (
                "2026-11-22T10:00:00+01:60",
                "offset minute 60 is out of range",
            ),
            ("2026-11-22T10:00:00UTC", "expected `Z` or an offset"),
            (
                "2026-11-22T10:00:00Zjunk",
                "unexpected text after the offset",
            ),
            (" 2026-11-22T10:00:00Z", "4 digits for the year"),
            ("+2026-11-22T10:00:00Z", "4 digits for the year"),
        ];
        for (s, want) in cases {
            match parse_rfc3339(s) {
                Ok(t) => panic!("{s:?} parsed as {t}"),
                Err(e) => assert!(e.contains(want), "{s:?}: {e} (wanted {want:?})"),
            }
        }
    }

    #[test]
    fn civil_days_round_trip() {
        for z in (-800_000..800_000).step_by(37) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z, "{y}-{m}-{d}");
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn format_round_trips() {
        for ms in [
            0,
            -1,
            1,
            1_795_341_600_250,
            951_782_400_000,
            -62_167_219_200_000,
            253_402_300_799_999,
        ] {
            let s = format_rfc3339(ms);
            assert_eq!(parse_rfc3339(&s), Ok(ms), "{s}");
        }
        assert_eq!(format_rfc3339(1_795_341_600_000), "2026-11-22T10:00:00Z");
        assert_eq!(
            format_rfc3339(1_795_341_600_250),
            "2026-11-22T10:00:00.250Z"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert_eq!(parse_duration("10s"), Ok(10_000));
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000));
        assert_eq!(parse_duration("0s"), Ok(0));
        for (s, want) in [
            ("1.5s", "unknown unit `.5s`"),
            ("10", "unit is missing"),
            ("s", "whole number"),
            ("", "whole number"),
            ("-5s", "whole number"),
            ("10d", "unknown unit `d`"),
            ("10 s", "unknown unit"),
            ("99999999999999999999h", "too long"),
            ("9223372036854775807h", "too long"),
        ] {
            let e = parse_duration(s).unwrap_err();
            assert!(e.contains(want), "{s:?}: {e}");
        }
    }

    // ---- decoding ----

    #[test]
    fn decodes_fields_into_slots() {
        let mut d = Decoder::new(&program());
        let e = ok(
            &mut d,
            r#"{"type":"Temperature","sensor":"s1","celsius":31.5,"at":"2026-11-22T10:00:00Z","extra":{"a":[1,2]}}"#,
        );
        assert_eq!(e.ty, 0);
        assert_eq!(e.time, 1_795_341_600_000);
        assert_eq!(e.source, 1);
        assert_eq!(
            &*e.fields,
            &[
                Value::Str("s1".into()),
                Value::Float(31.5),
                Value::Time(1_795_341_600_000)
            ]
        );
        // Any order; ints are floats; epoch milliseconds.
        let e = ok(
            &mut d,
            r#"{"at":1795341601000,"celsius":31,"type":"Temperature","sensor":"s\u00e9"}"#,
        );
        assert_eq!(e.time, 1_795_341_601_000);
        assert_eq!(
            &*e.fields,
            &[
                Value::Str("sé".into()),
                Value::Float(31.0),
                Value::Time(1_795_341_601_000)
            ]
        );
        let e = ok(&mut d, r#" {"type":"Count","ok":false,"n":-3,"d":"5m"} "#);
        assert_eq!(
            &*e.fields,
            &[Value::Int(-3), Value::Duration(300_000), Value::Bool(false)]
        );
        let e = ok(&mut d, r#"{"type":"Count","n":3,"d":250,"ok":true}"#);
        assert_eq!(e.fields[1], Value::Duration(250));
    }

    #[test]
    fn blank_lines_are_not_events() {
        let mut d = Decoder::new(&program());
        for l in ["", "   ", "\t\r", "\n", "\r\n"] {
            assert_eq!(d.decode(l.as_bytes(), 1), Ok(None), "{l:?}");
        }
    }

    #[test]
    fn events_without_a_time_field_are_stamped_with_the_latest_time() {
        let mut d = Decoder::new(&program());
        let c = r#"{"type":"Count","n":1,"d":1,"ok":true}"#;
        assert_eq!(ok(&mut d, c).time, 0);
        ok(
            &mut d,
            r#"{"type":"Temperature","sensor":"a","celsius":1,"at":5000}"#,
        );
        assert_eq!(ok(&mut d, c).time, 5000);
        // An older event does not move the stamp back.
        ok(
            &mut d,
            r#"{"type":"Temperature","sensor":"a","celsius":1,"at":10}"#,
        );
        assert_eq!(ok(&mut d, c).time, 5000);
        assert_eq!(d.latest(), Some(5000));
    }

    #[test]
    fn complex_events_read_back() {
        let mut d = Decoder::new(&program());
        let e = d
            .decode(
                br#"{"type":"Heat","peak":null,"seen":"2026-11-22T10:00:00Z","@cep":{"time":7000,"run":"cep-1","pattern":"Heat","events":[{"binding":"a","line":1}]}}"#,
                4,
            )
            .unwrap()
            .unwrap();
        assert_eq!(e.ty, 2);
        assert_eq!(e.time, 7000);
        assert_eq!((e.source, e.run), (4, None));
        assert_eq!(e.fields[0], Value::Null);
        // `@cep` before `type`, and an RFC 3339 time in it.
        let e = ok(
            &mut d,
            r#"{"@cep":{"time":"1970-01-01T00:00:08Z"},"type":"Heat","peak":1.5,"seen":null}"#,
        );
        assert_eq!(e.time, 8000);
        // Without `@cep`, stamped like any event without a time field.
        let e = ok(&mut d, r#"{"type":"Heat","peak":1.5,"seen":1}"#);
        assert_eq!(e.time, 8000);
        let r = bad(
            &mut d,
            br#"{"type":"Heat","peak":1,"seen":1,"@cep":{"time":"soon"}}"#,
        );
        assert_eq!(r.reason, Reason::BadTime);
        assert!(r.detail.contains("`@cep.time`"), "{r}");
        let r = bad(
            &mut d,
            br#"{"type":"Heat","peak":1,"seen":1,"@cep":{"time":1.5}}"#,
        );
        assert_eq!(r.reason, Reason::BadTime);
        let r = bad(&mut d, br#"{"type":"Heat","peak":1,"seen":1,"@cep":7}"#);
        assert_eq!(r.reason, Reason::WrongType);
        assert!(r.detail.contains("`@cep` must be an object"), "{r}");
    }

    #[test]
    fn null_is_refused_in_declared_events() {
        let mut d = Decoder::new(&program());
        let r = bad(&mut d, br#"{"type":"Count","n":null,"d":1,"ok":true}"#);
        assert_eq!(r.reason, Reason::WrongType);
        assert!(r.detail.contains("found null"), "{r}");
    }

    #[test]
    fn malformed_json() {
        let mut d = Decoder::new(&program());
        for l in [
            "{bad",
            r#"{"type":"Count","n":1,"#,
            r#"{"type":"Count","n":1,"d":1,"ok":true} x"#,
            r#"{"type":"Count","n":1,"d":1,"ok":true}{}"#,
            "nul",
            r#"{"type":"Count","n":01}"#,
            // A wrong type early does not hide broken JSON later.
            r#"{"type":"Count","n":"x","d":1,"ok":tru}"#,
        ] {
            let r = bad(&mut d, l.as_bytes());
            assert_eq!(r.reason, Reason::MalformedJson, "{l}: {r}");
            assert!(r.detail.contains("at column"), "{r}");
        }
        let r = bad(&mut d, br#"{"type":"Count","n":1,"n":2,"d":1,"ok":true}"#);
        assert_eq!(r.reason, Reason::MalformedJson);
        assert_eq!(r.detail, "field `n` appears twice");
        let r = bad(
            &mut d,
            br#"{"type":"Count","type":"Count","n":1,"d":1,"ok":true}"#,
        );
        assert_eq!(r.detail, "the key `type` appears twice");
    }

    #[test]
    fn not_an_object() {
        let mut d = Decoder::new(&program());
        for (l, found) in [
            ("[1,2]", "an array"),
            ("\"x\"", "a string"),
            ("42", "a number"),
            ("-4.5", "a number"),
            ("true", "a boolean"),
            ("null", "null"),
        ] {
            let r = bad(&mut d, l.as_bytes());
            assert_eq!(r.reason, Reason::NotAnObject, "{l}");
            assert_eq!(r.detail, format!("the line is {found}, not a JSON object"));
        }
    }

    #[test]
    fn missing_type() {
        let mut d = Decoder::new(&program());
        let r = bad(&mut d, br#"{"n":1,"d":1,"ok":true}"#);
        assert_eq!(r.reason, Reason::MissingType);
        let r = bad(&mut d, b"{}");
        assert_eq!(r.reason, Reason::MissingType);
        let r = bad(&mut d, br#"{"type":3,"n":1}"#);
        assert_eq!(r.reason, Reason::MissingType);
        assert!(r.detail.contains("found the number 3"), "{r}");
        let r = bad(&mut d, br#"{"type":{"a":1}}"#);
        assert!(r.detail.contains("found an object"), "{r}");
    }

    #[test]
    fn unknown_type() {
        let mut d = Decoder::new(&program());
        let r = bad(&mut d, br#"{"type":"Temprature","sensor":"a"}"#);
        assert_eq!(r.reason, Reason::UnknownType);
        assert_eq!(
            r.detail,
            "unknown event type `Temprature` (did you mean `Temperature`?)"
        );
        let r = bad(&mut d, br#"{"sensor":"a","type":"Nothing"}"#);
        assert_eq!(r.detail, "unknown event type `Nothing`");
        let r = bad(&mut d, br#"{"type":"count","n":1,"d":1,"ok":true}"#);
        assert_eq!(
            r.detail,
            "unknown event type `count` (did you mean `Count`?)"
        );
    }

    #[test]
    fn missing_fields() {
        let mut d = Decoder::new(&program());
        let r = bad(&mut d, br#"{"type":"Temperature","sensor":"a","at":1}"#);
        assert_eq!(r.reason, Reason::MissingField);
        assert_eq!(
            r.detail,
            "field `celsius` (float) of `Temperature` is missing"
        );
        let r = bad(&mut d, br#"{"type":"Count","d":1}"#);
        assert_eq!(
            r.detail,
            "fields `n` (int), `ok` (bool) of `Count` are missing"
        );
        // Slow path: members before `type`.
        let r = bad(
            &mut d,
            br#"{"sensor":"a","type":"Temperature","celsius":2}"#,
        );
        assert_eq!(r.detail, "field `at` (time) of `Temperature` is missing");
    }

    #[test]
    fn wrong_types() {
        let mut d = Decoder::new(&program());
        let cases: [(&str, &str); 12] = [
            (
                r#"{"type":"Count","n":3.0,"d":1,"ok":true}"#,
                "field `n` of `Count` must be an int (a JSON integer), found the number 3.0, which is not an integer",
            ),
            (
                r#"{"type":"Count","n":"3","d":1,"ok":true}"#,
                "field `n` of `Count` must be an int (a JSON integer), found the string \"3\"",
            ),
            (
                r#"{"type":"Count","n":9223372036854775808,"d":1,"ok":true}"#,
                "found the number 9223372036854775808, which is too large",
            ),
            (
                r#"{"type":"Count","n":1,"d":1,"ok":"yes"}"#,
                "field `ok` of `Count` must be a bool (`true` or `false`), found the string \"yes\"",
            ),
            (
                r#"{"type":"Count","n":1,"d":1,"ok":1}"#,
                "found the number 1",
            ),
            (
                r#"{"type":"Count","n":1,"d":"1.5s","ok":true}"#,
                "field `d` of `Count` must be a duration (integer milliseconds or a string like \"500ms\"), found the string \"1.5s\" (unknown unit `.5s`: use ms, s, m or h)",
            ),
            (
                r#"{"type":"Count","n":1,"d":1.5,"ok":true}"#,
                "found the number 1.5, which is not an integer",
            ),
            (
                r#"{"type":"Count","n":[1],"d":1,"ok":true}"#,
                "found an array",
            ),
            (
                r#"{"type":"Temperature","sensor":1,"celsius":1,"at":1}"#,
                "field `sensor` of `Temperature` must be a str (a JSON string), found the number 1",
            ),
            (
                r#"{"type":"Temperature","sensor":"a","celsius":true,"at":1}"#,
                "field `celsius` of `Temperature` must be a float (a JSON number), found `true`",
            ),
            (
                r#"{"type":"Temperature","sensor":"a","celsius":{},"at":1}"#,
                "found an object",
            ),
            (
                r#"{"celsius":"x","type":"Temperature","sensor":"a","at":1}"#,
                "field `celsius` of `Temperature` must be a float (a JSON number), found the string \"x\"",
            ),
        ];
        for (l, want) in cases {
            let r = bad(&mut d, l.as_bytes());
            assert_eq!(r.reason, Reason::WrongType, "{l}: {r}");
            assert!(r.detail.contains(want), "{l}: {r}");
        }
        let r = bad(
            &mut d,
            br#"{"type":"Temperature","sensor":"a","celsius":1,"at":1.5}"#,
        );
        assert_eq!(r.reason, Reason::WrongType);
        assert!(r.detail.contains("must be a time (integer epoch milliseconds or an RFC 3339 string), found the number 1.5"), "{r}");
    }

    #[test]
    fn bad_times() {
        let mut d = Decoder::new(&program());
        let r = bad(
            &mut d,
            br#"{"type":"Temperature","sensor":"a","celsius":1,"at":"2026-11-31T10:00:00Z"}"#,
        );
        assert_eq!(r.reason, Reason::BadTime);
        assert_eq!(
            r.detail,
            "field `at` of `Temperature`: \"2026-11-31T10:00:00Z\" is not an RFC 3339 time: day 31 is out of range for month 11 (01 to 30)"
        );
        let r = bad(
            &mut d,
            br#"{"at":"yesterday","type":"Temperature","sensor":"a","celsius":1}"#,
        );
        assert_eq!(r.reason, Reason::BadTime);
        // A time field that is not the event's time is checked too.
        let r = bad(&mut d, br#"{"type":"Heat","peak":1,"seen":"noon"}"#);
        assert_eq!(r.reason, Reason::BadTime);
    }

    #[test]
    fn invalid_utf8() {
        let mut d = Decoder::new(&program());
        let r = bad(&mut d, b"{\"type\":\"Count\",\"n\":\xff}");
        assert_eq!(r.reason, Reason::InvalidUtf8);
        assert_eq!(r.detail, "the line is not UTF-8: invalid byte at column 21");
        let r = bad(
            &mut d,
            b"{\"type\":\"Temperature\",\"sensor\":\"\xc3\x28\",\"celsius\":1,\"at\":1}",
        );
        assert_eq!(r.reason, Reason::InvalidUtf8);
    }

    #[test]
    fn first_problem_wins_and_decoding_recovers() {
        let mut d = Decoder::new(&program());
        let r = bad(
            &mut d,
            br#"{"type":"Temperature","sensor":1,"celsius":"x","at":"bad"}"#,
        );
        assert!(r.detail.contains("`sensor`"), "{r}");
        // The decoder holds no state from a rejected line.
        let e = ok(
            &mut d,
            r#"{"type":"Temperature","sensor":"b","celsius":2,"at":3}"#,
        );
        assert_eq!(e.fields[0], Value::Str("b".into()));
    }

    #[test]
    fn many_fields_use_the_index() {
        let mut p = program();
        p.events[1].fields = (0..40)
            .map(|i| field(&format!("f{i}"), Type::Int))
            .collect();
        let mut d = Decoder::new(&p);
        let mut line = String::from(r#"{"type":"Count""#);
        for i in (0..40).rev() {
            line.push_str(&format!(",\"f{i}\":{i}"));
        }
        line.push('}');
        let e = ok(&mut d, &line);
        assert_eq!(e.fields[17], Value::Int(17));
        assert_eq!(e.fields.len(), 40);
    }

    #[test]
    fn edit_distance_works() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(suggest("Tmp", ["Temperature"].into_iter()), None);
    }

    // ---- reading lines ----

    fn lines(input: &[u8], limit: usize) -> Vec<(Line, Vec<u8>)> {
        let mut r = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let l = read_line(&mut r, &mut buf, limit).unwrap();
            if l == Line::End {
                return out;
            }
            out.push((l, buf.clone()));
        }
    }

    #[test]
    fn reads_bounded_lines() {
        let got = lines(b"abc\n0123456789abcdef\nxy\r\n\nlast", 5);
        assert_eq!(
            got,
            vec![
                (Line::Full, b"abc".to_vec()),
                (Line::Oversized, b"012345".to_vec()),
                (Line::Full, b"xy\r".to_vec()),
                (Line::Full, b"".to_vec()),
                (Line::Full, b"last".to_vec()),
            ]
        );
        // Exactly at the limit is fine; one over is not, with or without a
        // line break after it.
        let got = lines(b"12345\n123456\n1234567", 5);
        assert_eq!(got[0], (Line::Full, b"12345".to_vec()));
        assert_eq!(got[1].0, Line::Oversized);
        assert_eq!(got[2].0, Line::Oversized);
        assert_eq!(got.len(), 3);
        assert_eq!(lines(b"", 5), vec![]);
    }
}
