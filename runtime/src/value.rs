//! Values and events as the engine holds them.

use cep_ir::{EventId, Type};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A field value. `Null` is "no value": an optional block that bound
/// nothing, an aggregate over an empty group, a division by zero.
/// Serialisable for the peer protocol (`crate::peer::wire`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    Bool(bool),
    /// Milliseconds.
    Duration(i64),
    /// Milliseconds since the Unix epoch.
    Time(i64),
}

impl Value {
    pub fn ty(&self) -> Option<Type> {
        Some(match self {
            Value::Null => return None,
            Value::Int(_) => Type::Int,
            Value::Float(_) => Type::Float,
            Value::Str(_) => Type::Str,
            Value::Bool(_) => Type::Bool,
            Value::Duration(_) => Type::Duration,
            Value::Time(_) => Type::Time,
        })
    }

    pub fn from_ir(v: &cep_ir::Value) -> Value {
        match v {
            cep_ir::Value::Int(i) => Value::Int(*i),
            cep_ir::Value::Float(f) => Value::Float(*f),
            cep_ir::Value::Str(s) => Value::Str(Arc::from(s.as_str())),
            cep_ir::Value::Bool(b) => Value::Bool(*b),
            cep_ir::Value::Duration(d) => Value::Duration(*d),
            cep_ir::Value::Time(t) => Value::Time(*t),
        }
    }
}

/// Equality as partition keys need it: floats by bit pattern (so that a
/// key equals itself), everything else by value.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            // Shared strings (the decoder's cache) are equal at once.
            (Value::Str(a), Value::Str(b)) => Arc::ptr_eq(a, b) || a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Duration(a), Value::Duration(b)) => a == b,
            (Value::Time(a), Value::Time(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        match self {
            Value::Null => {}
            Value::Int(i) | Value::Duration(i) | Value::Time(i) => i.hash(h),
            Value::Float(f) => f.to_bits().hash(h),
            Value::Str(s) => s.hash(h),
            Value::Bool(b) => b.hash(h),
        }
    }
}

/// One event: its type, its time, where it came from and its fields in
/// the type's slot order.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub ty: EventId,
    /// Event time, milliseconds since the Unix epoch.
    pub time: i64,
    /// Order of processing, given by the engine: input events and complex
    /// events share one sequence, so it orders everything a pattern sees.
    pub seq: u64,
    /// Given by the caller for input events (a line number, say); 0 for
    /// a complex event the engine produced.
    pub source: u64,
    /// The peer whose input the event came from (its member index; 0
    /// without peers): with `source`, where the event entered the
    /// cluster (`crate::peer`).
    pub origin: u16,
    /// For a complex event the engine produced: the run (of the pattern
    /// that emits this type) that produced it. `None` for input events,
    /// including complex events read back from a file.
    pub run: Option<u64>,
    pub fields: Box<[Value]>,
}

impl Event {
    /// An input event; the engine sets `seq` when it processes it.
    pub fn new(ty: EventId, time: i64, source: u64, fields: Vec<Value>) -> Event {
        Event {
            ty,
            time,
            seq: 0,
            source,
            origin: 0,
            run: None,
            fields: fields.into_boxed_slice(),
        }
    }
}

impl Event {
    pub fn field(&self, slot: u16) -> &Value {
        self.fields.get(usize::from(slot)).unwrap_or(&Value::Null)
    }
}
