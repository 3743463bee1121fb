//! The Cepheid runtime.
//!
//! It reads only the IR (`cep-ir`): never pest, never the compiler. This
//! crate so far holds what loading compiled rules needs: reading an IR with
//! its version check, and the catalogue that maps the names found in input
//! events to the indices the IR uses. The engine that runs patterns builds
//! on it.

pub mod engine;
pub mod eval;
pub mod fxhash;
pub mod ingest;
pub mod matcher;
pub mod ndjson;
pub mod run;
pub mod value;

pub use engine::{Change, Complex, Config, Engine, Footprint, Output, RunChange, Stats};
pub use value::{Event, Value};

use cep_ir::{EventId, LoadError, Program, Slot, Type};
use std::collections::HashMap;

/// Reads a compiled IR (the output of `cep compile`).
pub fn load(text: &str) -> Result<Program, LoadError> {
    Program::from_json(text)
}

/// Name lookups for input decoding, built once at start-up so that the
/// per-event path does no string search over the IR.
#[derive(Debug, Clone)]
pub struct Catalog {
    events: HashMap<String, EventId>,
    fields: Vec<HashMap<String, (Slot, Type)>>,
}

impl Catalog {
    pub fn new(program: &Program) -> Catalog {
        let mut events = HashMap::new();
        let mut fields = Vec::with_capacity(program.events.len());
        for (i, e) in program.events.iter().enumerate() {
            if let Ok(id) = EventId::try_from(i) {
                events.insert(e.name.clone(), id);
            }
            fields.push(
                e.fields
                    .iter()
                    .enumerate()
                    .filter_map(|(s, f)| {
                        Slot::try_from(s).ok().map(|s| (f.name.clone(), (s, f.ty)))
                    })
                    .collect(),
            );
        }
        Catalog { events, fields }
    }

    /// The event type an input's `"type"` names.
    pub fn event(&self, name: &str) -> Option<EventId> {
        self.events.get(name).copied()
    }

    /// The slot and type of a field of an event type.
    pub fn field(&self, event: EventId, name: &str) -> Option<(Slot, Type)> {
        self.fields.get(event as usize)?.get(name).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cep_ir::{EventType, Field, Origin, FORMAT_VERSION};

    fn program() -> Program {
        Program {
            format_version: FORMAT_VERSION,
            source_hash: "fnv1a64:0".into(),
            sources: vec![],
            events: vec![
                EventType {
                    name: "Temperature".into(),
                    fields: vec![
                        Field {
                            name: "sensor".into(),
                            ty: Type::Str,
                        },
                        Field {
                            name: "celsius".into(),
                            ty: Type::Float,
                        },
                    ],
                    time_field: None,
                    origin: Origin::Declared,
                },
                EventType {
                    name: "Door".into(),
                    fields: vec![],
                    time_field: None,
                    origin: Origin::Declared,
                },
            ],
            patterns: vec![],
            resources: vec![],
            steps: vec![],
            processes: vec![],
        }
    }

    #[test]
    fn catalog_resolves_names_to_indices() {
        let c = Catalog::new(&program());
        assert_eq!(c.event("Door"), Some(1));
        assert_eq!(c.event("Nope"), None);
        assert_eq!(c.field(0, "celsius"), Some((1, Type::Float)));
        assert_eq!(c.field(1, "celsius"), None);
        assert_eq!(c.field(7, "x"), None);
    }

    #[test]
    fn load_checks_the_version() {
        let mut p = program();
        assert_eq!(load(&p.to_json()).unwrap(), p);
        p.format_version = 99;
        assert!(load(&p.to_json())
            .unwrap_err()
            .to_string()
            .contains("format version 99"));
    }
}
