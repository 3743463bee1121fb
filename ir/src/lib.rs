//! The compiled form of `.cep` rules: what crosses from the compiler to the
//! runtime, and nothing else does.
//!
//! The IR is plain data, serialised with serde to JSON. It carries a
//! [`FORMAT_VERSION`]; [`Program::from_json`] refuses any other version with
//! a message that says what to do. Names are kept for people (`cep
//! explain`, error messages) but the runtime never looks anything up by
//! name: event types, fields, bindings and states are indices.

pub mod explain;
pub mod time;

use serde::{Deserialize, Serialize};
use std::fmt;

/// Bumped whenever the meaning or shape of the IR changes.
pub const FORMAT_VERSION: u32 = 4;

/// The earliest valid time, in epoch milliseconds: 0000-01-01T00:00:00Z,
/// the first instant RFC 3339 (four-digit years) can write. An input
/// event, or a `time` field, before it is refused (`bad time`).
pub const MIN_TIME_MS: i64 = -62_167_219_200_000;

/// The latest valid time, in epoch milliseconds: 9999-12-31T23:59:59.999Z,
/// the last instant RFC 3339 can write. With durations at most the width
/// of the range (`cep_grammar::ast::Duration::MAX_MS`), a deadline (a valid
/// time plus a window or an absence) never overflows 64 bits, so windows
/// and absences are exact up to this instant.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// FNV-1a, 64 bits (Fowler, Noll and Vo), over byte strings each preceded
/// by its length (little-endian u64), so that moving bytes from one string
/// to the next changes the hash. Stable across platforms and releases, so
/// it can name things in durable stores.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a64(u64);

impl Default for Fnv1a64 {
    fn default() -> Self {
        Fnv1a64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a64 {
    /// Feeds one byte string, length first.
    pub fn feed(&mut self, bytes: &[u8]) {
        for b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash as written in the IR and the store: `fnv1a64:<16 hex>`.
    pub fn finish(self) -> String {
        format!("fnv1a64:{:016x}", self.0)
    }
}

/// Index into [`Program::events`].
pub type EventId = u32;
/// Index into [`EventType::fields`].
pub type Slot = u16;
/// Index into [`Pattern::bindings`].
pub type BindingId = u16;
/// Index into [`Pattern::states`].
pub type StateId = u16;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub format_version: u32,
    /// Hash of the source files this was compiled from (`fnv1a64:<hex>`).
    pub source_hash: String,
    /// Names of the source files, in the order given.
    pub sources: Vec<String>,
    /// Declared events first (in declaration order), then the complex
    /// events of patterns (in pattern order).
    pub events: Vec<EventType>,
    /// In an order where a pattern comes after every pattern whose complex
    /// event it consumes.
    pub patterns: Vec<Pattern>,
    pub resources: Vec<Resource>,
    pub steps: Vec<Step>,
    pub processes: Vec<Process>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Type {
    Int,
    Float,
    Str,
    Bool,
    Duration,
    Time,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::Int => "int",
            Type::Float => "float",
            Type::Str => "str",
            Type::Bool => "bool",
            Type::Duration => "duration",
            Type::Time => "time",
        }
    }

    pub fn from_name(s: &str) -> Option<Type> {
        Some(match s {
            "int" => Type::Int,
            "float" => Type::Float,
            "str" => Type::Str,
            "bool" => Type::Bool,
            "duration" => Type::Duration,
            "time" => Type::Time,
            _ => return None,
        })
    }

    pub const NAMES: [&'static str; 6] = ["int", "float", "str", "bool", "duration", "time"];
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventType {
    pub name: String,
    pub fields: Vec<Field>,
    /// The field of type `time` that is the event's timestamp, if any.
    /// Events without one are stamped on arrival; complex events take the
    /// time of the event that completed their match.
    pub time_field: Option<Slot>,
    pub origin: Origin,
}

impl EventType {
    pub fn slot(&self, field: &str) -> Option<Slot> {
        self.fields
            .iter()
            .position(|f| f.name == field)
            .and_then(|i| Slot::try_from(i).ok())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    /// `ty?`: the field may be missing or null in the input (no value).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Declared with `event`.
    Declared,
    /// The complex event of the pattern with this index in
    /// [`Program::patterns`].
    Pattern(u32),
}

// ---- patterns ------------------------------------------------------------------

/// A pattern compiled to an automaton.
///
/// A run sits in one state. For an event of one of the pattern's input
/// types (and of the run's partition key), the state's edges are tried:
/// `Kill` edges first (the run dies; they apply only while the state's
/// block has taken no event), then `Take` edges (the event is bound and the
/// run moves), then `Ignore` (the run stays). A strict state has no
/// `Ignore` edge, so an event that nothing takes kills the run. `Proceed`
/// edges move without consuming an event (optional blocks, groups that
/// have their minimum); they are followed right after a run enters a state
/// or takes an event, as a fork: one run stays, one moves on. A state with
/// a `timeout` completes (moves to its target) when the watermark reaches
/// the time of the run's last bound event plus `after_ms` with no `Kill`
/// before. Halt guards apply in every state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pattern {
    pub name: String,
    /// The complex event this pattern emits.
    pub output: EventId,
    /// Every event type the pattern names (blocks, negations, halts),
    /// ascending. Other events are invisible to it.
    pub inputs: Vec<EventId>,
    /// Partition key slots per input event type; empty when the pattern is
    /// not partitioned.
    pub partition: Vec<PartitionKey>,
    /// `within`: a run lives while `last.time - first.time < window_ms`.
    pub window_ms: Option<u64>,
    pub skip: SkipPolicy,
    pub bindings: Vec<Binding>,
    pub states: Vec<State>,
    pub start: StateId,
    pub halts: Vec<Guard>,
    /// The complex event's fields, in the output type's slot order.
    pub emit: Vec<Expr>,
    /// `private pattern`: its complex events feed the patterns and steps
    /// that consume them but are not written to the output.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
    /// A leading `not X within D`: a run does not start with an event
    /// when an X of its key came less than D before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback: Option<Lookback>,
    /// `report first|last every P`: per key, one match per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    /// `on timeout emit Name { ... }`: what a run emits when its window
    /// closes before it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<TimeoutEmit>,
    /// A `greedy` or reluctant group: which matches are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<Select>,
}

/// Greedy and reluctant groups (docs/language.md 6.4a): the matches of a
/// *family* (one start event and the same events bound before the group
/// `binding`, whose state is `state`) are held; of them only those whose
/// group is the longest (`longest`, greedy) or the shortest (reluctant)
/// are reported, once no live run of the family could still give a
/// longer (shorter) or equal one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Select {
    pub binding: BindingId,
    pub state: StateId,
    pub longest: bool,
}

/// Timed-out partial matches as output (docs/language.md, 6.13; Flink's
/// `TimedOutPartialMatchHandler`): when the window of a run closes
/// (`first.time + window_ms`, or the end of the input) and the run has
/// not completed, a complex event of type `output` is made from `emit`
/// (in `output`'s slot order) over the events the run bound; bindings it
/// did not reach have no value. One event per distinct set of bound
/// events; runs that completed, died (a failed `next`, a negation, a
/// halt), were skipped or shed emit nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeoutEmit {
    pub output: EventId,
    pub emit: Vec<Expr>,
}

/// Rate limiting of a pattern's output (docs/language.md, 6.12; Esper's
/// `output first|last every`): per partition key, periods of `every_ms`
/// start at the key's first reported match and follow each other; the
/// complex event's time decides its period (half-open). `first`: the
/// first match of a period is reported at once; `last`: the last is
/// reported when its period ends (or the input does). The others are not
/// produced at all, and are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub first: bool,
    pub every_ms: u64,
}

/// Look-back absence (docs/language.md, 6.6): an X (`guard`, over the X
/// alone) of the key with `first.time - X.time < within_ms`, before the
/// first event in input order, blocks the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lookback {
    pub guard: Guard,
    pub within_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartitionKey {
    pub event: EventId,
    pub slots: Vec<Slot>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipPolicy {
    /// Every match is reported.
    NoSkip,
    /// After a match, runs that started at or before the match's last event
    /// are dropped.
    PastLast,
    /// After a match, runs that started at the match's first event are
    /// dropped (the next run starts at the following event).
    ToNext,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Contiguity {
    /// `next`: the very next event of the key must be taken.
    Strict,
    /// `then`: skip till next match.
    Relaxed,
    /// `then any`: skip till any match (a taken event also forks a run that
    /// skipped it).
    Any,
}

/// One block of the pattern; anonymous blocks get a name like `_2`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    pub name: String,
    /// Its event type (the first of an alternation).
    pub event: EventId,
    /// `A | B`: the other types of an alternation (docs/language.md 6.2a).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<EventId>,
    pub min: u32,
    /// `None`: no upper bound.
    pub max: Option<u32>,
    /// A group holds several events and is read through aggregates.
    pub group: bool,
    /// A group sub-pattern (docs/language.md 6.4b): its index among the
    /// pattern's sub-patterns (a run's iteration counter and pending
    /// mark). Its `event` is `EventId::MAX`; it binds no event itself:
    /// the run's chain holds a *mark* of it before the first event of
    /// each iteration, so `count` of it is its number of iterations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<u16>,
    /// The group sub-pattern this binding is in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<BindingId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    pub contiguity: Contiguity,
    /// The group binding whose count the edges' bounds refer to.
    pub group: Option<BindingId>,
    pub edges: Vec<Edge>,
    pub timeout: Option<Timeout>,
    pub accept: bool,
    /// A group's contiguity between its events, once it has one, where it
    /// differs from the `Ignore` edges (which then govern its first
    /// event only): `consecutive` (strict), `any`, and the strict growth
    /// of a greedy group at the end (docs/language.md 6.4a).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner: Option<Contiguity>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    /// Bind the event to `binding` and move to `target`; only while the
    /// state's group holds fewer than `below` events.
    Take {
        event: EventId,
        binding: BindingId,
        predicate: Option<Expr>,
        below: Option<u32>,
        target: StateId,
    },
    /// Move on without consuming, once the state's group holds at least
    /// `at_least` events.
    Proceed { at_least: u32, target: StateId },
    /// Stay. `unmatched_only`: only for events no `Take` edge accepted
    /// (skip till next match); otherwise for every event (skip till any).
    Ignore { unmatched_only: bool },
    /// The run dies (a negation).
    Kill {
        event: EventId,
        predicate: Option<Expr>,
    },
    /// Enter group sub-pattern `group` (index `index` among the
    /// pattern's, docs/language.md 6.4b) without consuming: its
    /// iteration count starts at 0 and its first iteration is open (the
    /// next event the run binds is marked as its start). The state's
    /// `Kill` edges (negations written before the group) then hold until
    /// the run binds its next event.
    Open {
        group: BindingId,
        index: u16,
        target: StateId,
    },
    /// An iteration of `group` ended: start another while fewer than
    /// `below` are done (a fork, like `Proceed`). The state's `Kill`
    /// edges (a negation at the end of the body) hold until the run
    /// binds its next event.
    Repeat {
        group: BindingId,
        index: u16,
        below: Option<u32>,
        target: StateId,
    },
    /// An iteration of `group` ended: leave the group once `at_least`
    /// iterations are done (a fork); its `Kill` edges hold as for
    /// `Repeat`.
    Leave {
        group: BindingId,
        index: u16,
        at_least: u32,
        target: StateId,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeout {
    pub after_ms: u64,
    pub target: StateId,
}

/// An event type with an optional predicate (halts).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    pub event: EventId,
    pub predicate: Option<Expr>,
}

// ---- expressions -------------------------------------------------------------------

/// A typed expression with every name resolved. Mixed int/float arithmetic
/// has explicit [`Expr::ToFloat`] conversions; constant subexpressions are
/// folded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    Const(Value),
    /// A field of an event. `by_type`, for a binding of several types
    /// (an alternation, docs/language.md 6.2a) whose field is at
    /// different slots: the slot in an event of each listed type (`slot`
    /// serves the others).
    Field {
        of: Operand,
        slot: Slot,
        ty: Type,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        by_type: Vec<(EventId, Slot)>,
    },
    /// `prev.f` in a group: the group's last event, or for its first event
    /// `fallback` (the binding before the group, with its own slot);
    /// `by_type` as in [`Expr::Field`], for the events of both. `within`:
    /// inside a group sub-pattern, both are looked for in its current
    /// iteration only.
    Prev {
        group: BindingId,
        slot: Slot,
        fallback: Option<(BindingId, Slot)>,
        ty: Type,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        by_type: Vec<(EventId, Slot)>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        within: Option<BindingId>,
    },
    /// An aggregate over a group; `slot` is `None` for `count`;
    /// `by_type` as in [`Expr::Field`]. `count` of a group sub-pattern
    /// counts its iterations (its marks). `within`: only the events of
    /// the current iteration of that group sub-pattern (an aggregate
    /// written inside it); otherwise over every iteration.
    Agg {
        func: AggFunc,
        binding: BindingId,
        slot: Option<Slot>,
        ty: Type,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        by_type: Vec<(EventId, Slot)>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        within: Option<BindingId>,
    },
    Not(Box<Expr>),
    Neg {
        ty: Type,
        arg: Box<Expr>,
    },
    /// `ty` is the operands' type (after promotion), not the result's.
    Binary {
        op: BinOp,
        ty: Type,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    ToFloat(Box<Expr>),
    /// `x is null` (`negated: false`) or `x is not null`: always a value.
    IsNull {
        arg: Box<Expr>,
        negated: bool,
    },
    /// A scalar function ([`Func`]) of its arguments; `ty` is the
    /// result's type. No value in, no value out.
    Call {
        func: Func,
        args: Vec<Expr>,
        ty: Type,
    },
}

/// The scalar functions (docs/language.md, 5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Func {
    /// `abs(x)`: of an int, float or duration; the int's and the
    /// duration's minimum has none.
    Abs,
    /// `round(x)`: the nearest whole number, halves away from zero (a
    /// float stays a float; an int is itself).
    Round,
    Floor,
    Ceil,
    /// `min(a, b)`, `max(a, b)`: of two values of one ordered type.
    Min,
    Max,
    /// `concat(a, b, ...)`: strings joined.
    Concat,
    /// `lower(s)`, `upper(s)`: Unicode case mapping.
    Lower,
    Upper,
    /// `len(s)`: the number of Unicode characters (scalar values).
    Len,
    /// `matches(s, "regex")`: an unanchored search (the regex crate's
    /// `is_match`); the second argument is a string literal, checked at
    /// compile time.
    Matches,
}

impl Func {
    pub const NAMES: &'static [&'static str] = &[
        "abs", "round", "floor", "ceil", "min", "max", "concat", "lower", "upper", "len", "matches",
    ];

    pub fn name(self) -> &'static str {
        match self {
            Func::Abs => "abs",
            Func::Round => "round",
            Func::Floor => "floor",
            Func::Ceil => "ceil",
            Func::Min => "min",
            Func::Max => "max",
            Func::Concat => "concat",
            Func::Lower => "lower",
            Func::Upper => "upper",
            Func::Len => "len",
            Func::Matches => "matches",
        }
    }

    /// The function of this name; `min` and `max` are also aggregates
    /// (one argument): the caller tells them apart.
    pub fn from_name(s: &str) -> Option<Func> {
        Some(match s {
            "abs" => Func::Abs,
            "round" => Func::Round,
            "floor" => Func::Floor,
            "ceil" => Func::Ceil,
            "min" => Func::Min,
            "max" => Func::Max,
            "concat" => Func::Concat,
            "lower" => Func::Lower,
            "upper" => Func::Upper,
            "len" => Func::Len,
            "matches" => Func::Matches,
            _ => return None,
        })
    }
}

/// Whose field an [`Expr::Field`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operand {
    /// The event being matched.
    Current,
    /// A single-event binding of the pattern.
    Binding(BindingId),
    /// A single-event binding inside group sub-pattern `group`, read in
    /// the group's current iteration (no value when it bound nothing
    /// there), docs/language.md 6.4b.
    InIteration {
        binding: BindingId,
        group: BindingId,
    },
    /// A step's trigger event of this type.
    Trigger(EventId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggFunc {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    First,
    Last,
}

impl AggFunc {
    pub fn name(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Avg => "avg",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::First => "first",
            AggFunc::Last => "last",
        }
    }

    pub fn from_name(s: &str) -> Option<AggFunc> {
        Some(match s {
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "first" => AggFunc::First,
            "last" => AggFunc::Last,
            _ => return None,
        })
    }

    pub const NAMES: [&'static str; 7] = ["count", "sum", "avg", "min", "max", "first", "last"];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    StartsWith,
    EndsWith,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    /// `??`: the left value, or the right where the left has none.
    Coalesce,
}

impl BinOp {
    /// `==`, `!=`, `<`, `<=`, `>`, `>=`, `contains`, `starts_with` and
    /// `ends_with`: a truth value from two operands of one type.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq
                | BinOp::Ne
                | BinOp::Lt
                | BinOp::Le
                | BinOp::Gt
                | BinOp::Ge
                | BinOp::Contains
                | BinOp::StartsWith
                | BinOp::EndsWith
        )
    }

    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Contains => "contains",
            BinOp::StartsWith => "starts_with",
            BinOp::EndsWith => "ends_with",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Coalesce => "??",
        }
    }
}

/// A value. Durations and times are milliseconds (times since the Unix
/// epoch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Duration(i64),
    Time(i64),
}

impl Value {
    pub fn ty(&self) -> Type {
        match self {
            Value::Int(_) => Type::Int,
            Value::Float(_) => Type::Float,
            Value::Str(_) => Type::Str,
            Value::Bool(_) => Type::Bool,
            Value::Duration(_) => Type::Duration,
            Value::Time(_) => Type::Time,
        }
    }
}

// ---- resources and steps ---------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub name: String,
    pub capacity: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    /// The file that declares it: an index into [`Program::sources`]. A
    /// relative program path with a slash (`run "jobs/run-c"`) is
    /// resolved against that file's directory.
    pub source: u32,
    pub trigger: Trigger,
    /// `after`: the run starts this long after its trigger fired.
    pub delay_ms: u64,
    pub acquire: Vec<Acquire>,
    pub action: Action,
    pub timeout_ms: Option<u64>,
    pub retry: Retry,
    pub on_status: Vec<StatusEmit>,
    pub recover: Recover,
}

/// A step trigger: events within one sequence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Event(EventId),
    All(Vec<Trigger>),
    Any(Vec<Trigger>),
}

impl Trigger {
    /// Every event type the trigger names.
    pub fn events(&self) -> Vec<EventId> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    fn collect(&self, out: &mut Vec<EventId>) {
        match self {
            Trigger::Event(e) => out.push(*e),
            Trigger::All(v) | Trigger::Any(v) => v.iter().for_each(|t| t.collect(out)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Acquire {
    pub resource: u32,
    pub units: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Run a program: argv and environment, never a shell string.
    Run {
        program: String,
        args: Vec<Expr>,
        env: Vec<(String, Expr)>,
    },
    /// POST a JSON object to a URL.
    Post {
        url: String,
        body: Vec<(String, Expr)>,
    },
    /// Emit an event; `fields` in the event's slot order.
    Emit { event: EventId, fields: Vec<Expr> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    /// Further attempts after the first failure.
    pub attempts: u32,
    pub backoff_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ready,
    Active,
    Success,
    Failure,
    /// Success or failure.
    Complete,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::Active => "active",
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Complete => "complete",
        }
    }
}

/// `on <status> emit Event { ... }`; `fields` in the event's slot order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusEmit {
    pub status: Status,
    pub event: EventId,
    pub fields: Vec<Expr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    Rerun,
    Skip,
}

/// What a restarted runtime does with a step run it finds in each status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recover {
    pub ready: Recovery,
    pub active: Recovery,
    pub success: Recovery,
    pub failure: Recovery,
}

impl Default for Recover {
    /// Unfinished and failed runs are run again; successful ones are not.
    fn default() -> Self {
        Recover {
            ready: Recovery::Rerun,
            active: Recovery::Rerun,
            success: Recovery::Skip,
            failure: Recovery::Rerun,
        }
    }
}

// ---- processes ---------------------------------------------------------------

/// A DCR graph, one instance per value of the key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Process {
    pub name: String,
    pub key: String,
    pub activities: Vec<Activity>,
    pub relations: Vec<Relation>,
    /// `idle D`, in milliseconds of event time (at least 1, at most
    /// `cep_grammar::ast::Duration::MAX_MS`): an instance that is accepting
    /// and has had no activity event of its key (executed or refused) for
    /// this long is retired, when the clock reaches its last activity time
    /// plus `idle_ms` and before any event of that time; the next event of
    /// the key starts a new instance from the initial marking. `None`: an
    /// instance is never retired.
    pub idle_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub event: EventId,
    /// The slot of the process key in this activity's event.
    pub key_slot: Slot,
    /// Initial marking.
    pub included: bool,
    pub pending: bool,
    pub executed: bool,
}

/// A relation between two activities (indices into
/// [`Process::activities`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Relation {
    pub from: u16,
    pub kind: RelationKind,
    pub to: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    /// `-->*`: `to` cannot execute until `from` has executed (if included).
    Condition,
    /// `*-->`: executing `from` makes `to` pending.
    Response,
    /// `-->+`: executing `from` includes `to`.
    Include,
    /// `-->%`: executing `from` excludes `to`.
    Exclude,
    /// `--<>`: `to` cannot execute while `from` is included and pending.
    Milestone,
}

impl RelationKind {
    pub fn arrow(self) -> &'static str {
        match self {
            RelationKind::Condition => "-->*",
            RelationKind::Response => "*-->",
            RelationKind::Include => "-->+",
            RelationKind::Exclude => "-->%",
            RelationKind::Milestone => "--<>",
        }
    }
}

// ---- loading -------------------------------------------------------------------

/// Why an IR could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// Not JSON, or not an IR at all.
    Malformed(String),
    /// An IR of another format version.
    Version { found: u64 },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Malformed(m) => write!(f, "not a Cepheid IR file: {m}"),
            LoadError::Version { found } => write!(
                f,
                "this IR has format version {found}, but this program reads format version {FORMAT_VERSION}; \
                 compile the rules again with this version of `cep compile`"
            ),
        }
    }
}

impl std::error::Error for LoadError {}

impl Program {
    /// The hash of what the program does, not of how its sources were
    /// written: the IR without the source hash and the file names (so a
    /// comment or `cep fmt` leaves it unchanged). A durable store records
    /// it, and recovering a run made by another program is refused.
    pub fn program_hash(&self) -> String {
        let mut p = self.clone();
        p.source_hash = String::new();
        p.sources = Vec::new();
        let mut h = Fnv1a64::default();
        h.feed(serde_json::to_string(&p).unwrap_or_default().as_bytes());
        h.finish()
    }

    /// Pretty JSON, ending with a newline.
    pub fn to_json(&self) -> String {
        match serde_json::to_string_pretty(self) {
            Ok(mut s) => {
                s.push('\n');
                s
            }
            // Serialising plain data to a string cannot fail; keep a
            // readable fallback rather than a panic.
            Err(e) => format!("{{\"error\": \"{e}\"}}\n"),
        }
    }

    /// Reads an IR, checking its format version before anything else.
    pub fn from_json(text: &str) -> Result<Program, LoadError> {
        #[derive(Deserialize)]
        struct Header {
            format_version: Option<serde_json::Value>,
        }
        let header: Header =
            serde_json::from_str(text).map_err(|e| LoadError::Malformed(e.to_string()))?;
        let Some(v) = header.format_version else {
            return Err(LoadError::Malformed("it has no `format_version`".into()));
        };
        let Some(found) = v.as_u64() else {
            return Err(LoadError::Malformed(format!(
                "`format_version` is {v}, not a number"
            )));
        };
        if found != u64::from(FORMAT_VERSION) {
            return Err(LoadError::Version { found });
        }
        serde_json::from_str(text).map_err(|e| LoadError::Malformed(e.to_string()))
    }

    pub fn event(&self, id: EventId) -> Option<&EventType> {
        self.events.get(id as usize)
    }

    pub fn event_by_name(&self, name: &str) -> Option<EventId> {
        self.events
            .iter()
            .position(|e| e.name == name)
            .and_then(|i| EventId::try_from(i).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Program {
        Program {
            format_version: FORMAT_VERSION,
            source_hash: "fnv1a64:0".into(),
            sources: vec![],
            events: vec![],
            patterns: vec![],
            resources: vec![],
            steps: vec![],
            processes: vec![],
        }
    }

    #[test]
    fn round_trips() {
        let p = empty();
        assert_eq!(Program::from_json(&p.to_json()).unwrap(), p);
    }

    #[test]
    fn refuses_other_versions_clearly() {
        let mut p = empty();
        p.format_version = FORMAT_VERSION + 1;
        let e = Program::from_json(&p.to_json()).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, LoadError::Version { .. }));
        assert!(
            msg.contains(&format!("format version {}", FORMAT_VERSION + 1)),
            "{msg}"
        );
        assert!(msg.contains("compile the rules again"), "{msg}");
        let e = Program::from_json("{\"patterns\": []}").unwrap_err();
        assert!(e.to_string().contains("no `format_version`"));
        assert!(Program::from_json("not json").is_err());
    }
}
