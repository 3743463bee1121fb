//! The edge that acts on what the step scheduler decides: it runs
//! attempts (programs on tokio::process, POSTs with reqwest) and keeps the
//! durable store (SQLite). Unix only: an attempt's program runs in a
//! process group of its own, so that a timeout kills all it started.
//!
//! The pure core (`cep_runtime::steps`, `cep_runtime::Runner`) never
//! depends on this crate; `cep run` drives both: core outputs come here
//! as records to make durable ([`store::Store`]) and attempts to start or
//! kill ([`actions::Executor`]); how each attempt ended goes back to the
//! core as an input.

pub mod actions;
pub mod peer_store;
pub mod reader;
pub mod store;

pub use actions::{end_orphans, Executor, Finished, Identity};
pub use peer_store::{Emitted, Life, PeerStore};
pub use reader::{Reader, RunRow, StepRow};
pub use store::{Opened, Resumed, Store, StoreError};

/// This build can `post` to https:// URLs (the `https` feature).
pub const HTTPS: bool = cfg!(feature = "https");
