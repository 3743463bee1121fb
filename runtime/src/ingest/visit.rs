//! The serde visitors that decode one line straight into an event's slots.

use crate::value::Value;
use cep_ir::{EventId, Type};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::sync::Arc;

use super::*;

// ---- the visitors ----------------------------------------------------------------

/// The decoding of one line in progress.
pub(super) struct State<'s> {
    pub(super) schemas: &'s [Schema],
    pub(super) types: &'s Types,
    pub(super) type_seen: bool,
    /// Known once `"type"` was read and names an event type.
    pub(super) ty: Option<EventId>,
    pub(super) fields: Vec<Value>,
    pub(super) filled: usize,
    pub(super) seen: &'s mut Vec<bool>,
    pub(super) hint: usize,
    pub(super) cep_time: Option<i64>,
    pub(super) cep_sequence: Option<String>,
    /// The first problem found; decoding goes on to the end of the line
    /// so that malformed JSON is reported as such.
    pub(super) problem: Option<Rejection>,
    pub(super) pending: &'s mut Vec<(String, serde_json::Value)>,
}

impl<'s> State<'s> {
    pub(super) fn schema(&self) -> Option<&'s Schema> {
        let schemas: &'s [Schema] = self.schemas;
        self.ty.and_then(|t| schemas.get(t as usize))
    }

    pub(super) fn problem(&mut self, r: Rejection) {
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
        if let Some(r) = got.bad {
            self.problem(r);
        }
        if got.time.is_some() {
            self.cep_time = got.time;
        }
        if got.sequence.is_some() {
            self.cep_sequence = got.sequence;
        }
    }

    /// Resolves the members read before `"type"`, checks that every field
    /// is there, and gives the event's type and fields (and its
    /// `@cep.time` and `@cep.sequence`).
    #[allow(clippy::type_complexity)]
    pub(super) fn finish(
        mut self,
    ) -> Result<(EventId, Vec<Value>, Option<i64>, Option<String>), Rejection> {
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
                nullable: schema.nullable(slot),
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
        let schema = self.schema();
        let optional = schema.map_or(0, |s| {
            s.optional
                .iter()
                .zip(self.seen.iter())
                .filter(|(o, seen)| **o && !**seen)
                .count()
        });
        if self.filled + optional < n {
            let missing: Vec<String> = self
                .seen
                .iter()
                .enumerate()
                .filter(|(i, s)| !**s && !schema.is_some_and(|sc| sc.nullable(*i) && !sc.complex))
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
        Ok((ty, self.fields, self.cep_time, self.cep_sequence))
    }
}

/// The top-level value of a line.
pub(super) struct Top<'a, 's>(pub(super) &'a mut State<'s>);

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
                        Some((_, ty)) => Key::Field(slot, *ty, schema.nullable(slot)),
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

/// A whole number past the 64-bit range, for an int or a duration field.
fn too_large(shown: &str, ty: Type) -> String {
    let what = if ty == Type::Duration {
        "a duration (milliseconds)"
    } else {
        "an int"
    };
    format!(
        "the number {shown}, which is too large for {what}: the range is {} to {}",
        i64::MIN,
        i64::MAX
    )
}

/// A time as a value if it is in the range of valid times
/// ([`cep_ir::MIN_TIME_MS`] to [`cep_ir::MAX_TIME_MS`]); `shown` is how the
/// input wrote it.
fn valid_time(t: i64, shown: &str) -> Got {
    if (cep_ir::MIN_TIME_MS..=cep_ir::MAX_TIME_MS).contains(&t) {
        Got::Val(Value::Time(t))
    } else {
        Got::BadTime(outside_range(shown))
    }
}

fn outside_range(shown: &str) -> String {
    format!(
        "{shown} is outside the range of valid times, {} to {} \
         (epoch milliseconds {} to {})",
        format_rfc3339(cep_ir::MIN_TIME_MS),
        format_rfc3339(cep_ir::MAX_TIME_MS),
        cep_ir::MIN_TIME_MS,
        cep_ir::MAX_TIME_MS
    )
}

impl FieldSeed {
    fn int(self, n: i64) -> Got {
        match self.ty {
            Type::Int => Got::Val(Value::Int(n)),
            Type::Float => Got::Val(Value::Float(n as f64)),
            Type::Duration => Got::Val(Value::Duration(n)),
            Type::Time => valid_time(n, &n.to_string()),
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
                Type::Time => Got::BadTime(outside_range(&n.to_string())),
                Type::Int | Type::Duration => Got::Wrong(too_large(&n.to_string(), self.ty)),
                _ => Got::Wrong(format!("the number {n}")),
            },
        })
    }

    fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<Got, E> {
        Ok(match self.ty {
            Type::Float => Got::Val(Value::Float(x)),
            Type::Int | Type::Duration | Type::Time => {
                let whole = x.is_finite() && x.fract() == 0.0;
                // 2^63: the first whole number past `i64::MAX`.
                if whole && x.abs() >= 9_223_372_036_854_775_808.0 {
                    let shown = format!("{x:.0}");
                    match self.ty {
                        Type::Time => Got::BadTime(outside_range(&shown)),
                        _ => Got::Wrong(too_large(&shown, self.ty)),
                    }
                } else if whole {
                    Got::Wrong(format!(
                        "the number {x:?}, which is not a JSON integer: write {x:.0}"
                    ))
                } else {
                    Got::Wrong(format!("the number {x:?}, which is not an integer"))
                }
            }
            Type::Str | Type::Bool => Got::Wrong(format!("the number {x:?}")),
        })
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Got, E> {
        Ok(match self.ty {
            Type::Str => Got::Val(Value::Str(Arc::from(s))),
            Type::Time => match parse_rfc3339(s) {
                Ok(t) => valid_time(t, &quoted(s)),
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

/// The reserved `"@cep"` member: the time of a complex event read back,
/// and the sequence an event joins (`"sequence": "..."`, as Eventor's
/// `trigger_event(event, sequence)`).
#[derive(Default)]
pub(super) struct CepGot {
    time: Option<i64>,
    sequence: Option<String>,
    bad: Option<Rejection>,
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
        CepGot {
            bad: Some(Rejection::new(
                Reason::WrongType,
                format!("the reserved member `@cep` must be an object, found {found}"),
            )),
            ..CepGot::default()
        }
    }
}

/// A member of `@cep` that decoding reads.
#[derive(PartialEq)]
enum CepKey {
    Time,
    Sequence,
    Other,
}

struct CepKeySeed;

impl<'de> DeserializeSeed<'de> for CepKeySeed {
    type Value = CepKey;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<CepKey, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for CepKeySeed {
    type Value = CepKey;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<CepKey, E> {
        Ok(match k {
            "time" => CepKey::Time,
            "sequence" => CepKey::Sequence,
            _ => CepKey::Other,
        })
    }
}

impl<'de> Visitor<'de> for CepSeed {
    type Value = CepGot;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CepGot, A::Error> {
        let mut got = CepGot::default();
        while let Some(key) = map.next_key_seed(CepKeySeed)? {
            let ty = match key {
                CepKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                CepKey::Time => Type::Time,
                CepKey::Sequence => Type::Str,
            };
            let v = map.next_value_seed(FieldSeed {
                ty,
                nullable: false,
            })?;
            let bad = match (key, v) {
                (_, Got::Val(Value::Time(t))) => {
                    got.time = Some(t);
                    None
                }
                (_, Got::Val(Value::Str(q))) if !q.is_empty() => {
                    got.sequence = Some(q.to_string());
                    None
                }
                (CepKey::Sequence, Got::Val(_)) => Some(Rejection::new(
                    Reason::WrongType,
                    "`@cep.sequence` must not be empty",
                )),
                (CepKey::Sequence, Got::Wrong(found) | Got::BadTime(found)) => {
                    Some(Rejection::new(
                        Reason::WrongType,
                        format!(
                            "`@cep.sequence` must be a string naming a sequence, found {found}"
                        ),
                    ))
                }
                (_, Got::BadTime(why)) => Some(Rejection::new(
                    Reason::BadTime,
                    format!("`@cep.time`: {why}"),
                )),
                (_, Got::Wrong(found)) => Some(Rejection::new(
                    Reason::BadTime,
                    format!(
                        "`@cep.time` must be {}, found {found}",
                        expected(Type::Time)
                    ),
                )),
                (_, Got::Val(_)) => None,
            };
            if got.bad.is_none() {
                got.bad = bad;
            }
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
