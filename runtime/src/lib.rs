//! The Cepheid runtime.
//!
//! It reads only the IR (`cep-ir`; load one with `Program::from_json`):
//! never pest, never the compiler. The engine core (`engine`, `matcher`,
//! `eval`, `run`, `value`) is a pure state machine; `ingest` and `ndjson`
//! are the edge's decoder and encoder for NDJSON lines.

pub mod engine;
pub mod eval;
pub mod history;
pub mod ingest;
pub mod keyhash;
pub mod keys;
pub mod matcher;
pub mod ndjson;
pub mod partitions;
pub mod peer;
pub mod pred;
pub mod process;
pub mod run;
pub mod runner;
pub mod steps;
pub mod value;

#[cfg(test)]
mod test_rng;

pub use engine::{Change, Complex, Config, Engine, Footprint, Output, RunChange, Stats};
pub use runner::{RunOutput, Runner};
pub use steps::{OnFailure, Outcome, Record, Resolved, Scheduler, StepConfig, StepOutput};
pub use value::{Event, Value};
