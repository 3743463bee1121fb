//! The syntax tree of `.cep` files.
//!
//! Built only by [`crate::parser`] from pest pairs. Every node that a
//! diagnostic may point at is a [`Node`] and so carries its span; equality
//! ignores spans. The tree keeps what the author wrote (the spelling of a
//! quantifier, the unit of a duration, parentheses) so that the formatter
//! can print it back; meaning is decided by the compiler.

use crate::span::{FileId, Node, Span};
use serde::Serialize;

pub type Ident = Node<String>;

/// One parsed file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct File {
    pub file: FileId,
    pub decls: Vec<Decl>,
    /// Every `//` comment, in order, for the formatter.
    #[serde(skip)]
    pub comments: Vec<Comment>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comment {
    pub span: Span,
    /// The text after `//`, without the line end.
    pub text: String,
}

pub type Decl = Node<DeclKind>;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum DeclKind {
    Event(EventDecl),
    Pattern(PatternDecl),
    Resource(ResourceDecl),
    Step(StepDecl),
    Process(ProcessDecl),
}

impl DeclKind {
    /// The declared name.
    pub fn name(&self) -> &Ident {
        match self {
            DeclKind::Event(d) => &d.name,
            DeclKind::Pattern(d) => &d.name,
            DeclKind::Resource(d) => &d.name,
            DeclKind::Step(d) => &d.name,
            DeclKind::Process(d) => &d.name,
        }
    }

    /// The keyword that introduces the declaration.
    pub fn keyword(&self) -> &'static str {
        match self {
            DeclKind::Event(_) => "event",
            DeclKind::Pattern(_) => "pattern",
            DeclKind::Resource(_) => "resource",
            DeclKind::Step(_) => "step",
            DeclKind::Process(_) => "process",
        }
    }
}

// ---- events ----------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventDecl {
    pub name: Ident,
    pub fields: Vec<FieldDecl>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldDecl {
    pub name: Ident,
    /// The type as written; the compiler checks it is one it knows.
    pub ty: Ident,
    /// `?` after the type: the field may be missing or null in the
    /// input, which is "no value" (the node is the mark).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<Node<()>>,
    /// `@timestamp`: this field is the event's time, for an event with
    /// several `time` fields (the node is the mark, for its span).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Node<()>>,
}

// ---- patterns --------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PatternDecl {
    /// `private pattern`: its complex events feed other patterns and
    /// steps but are not written to the output (the node is the word).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private: Option<Node<()>>,
    pub name: Ident,
    pub clauses: Vec<Node<PatternClause>>,
    pub items: Vec<Node<PatternItem>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum PatternClause {
    PartitionBy(Vec<KeySpec>),
    Within(Node<Duration>),
    Skip(SkipPolicy),
    /// `report first every D` (`true`: first) or `report last every D`.
    Report(bool, Node<Duration>),
}

/// One key of `partition by`: its name, and the fields it is read from
/// in types that name it otherwise (`device = Temperature.sensor |
/// Humidity.sensor_id`); a type not listed has it under its name.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeySpec {
    pub name: Ident,
    /// `(type, field)` pairs.
    pub from: Vec<(Ident, Ident)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SkipPolicy {
    PastLast,
    ToNext,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum PatternItem {
    Block(Block),
    /// A group sub-pattern, `then g: ( x: A next y: B ){2,4}`
    /// (docs/language.md 6.4b).
    Group(Group),
    Not(Negation),
    Halt(Guard),
    Emit(Vec<FieldInit>),
    /// `on timeout emit Name { ... }`: the complex event a run emits when
    /// its window closes before it completes.
    OnTimeout(EmitEvent),
}

/// `next b: Temperature{2,} where celsius > a.celsius`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Block {
    /// `None` when no keyword was written (correct only for the first block).
    pub contiguity: Option<Node<Contiguity>>,
    pub binding: Option<Ident>,
    /// The event type (the first of an alternation).
    pub event: Ident,
    /// `A | B | C`: the other types of an alternation, in order.
    pub alternatives: Vec<Ident>,
    /// Written in parentheses: `(A | B)+` (the node spans them).
    pub parens: Option<Node<()>>,
    pub quantifier: Option<Node<Quantifier>>,
    /// `+?`, `*?`, `{n,}?`: the shortest match (the node is the `?`).
    pub reluctant: Option<Node<()>>,
    /// `greedy`, `consecutive`, `any` after the quantifier, as written.
    pub modifiers: Vec<Node<BlockMod>>,
    pub predicate: Option<Expr>,
}

/// `then g: ( x: A next y: B not C ){2,4}`: a sequence of blocks,
/// negations and groups repeated as a whole (Flink's `GroupPattern`,
/// MATCH_RECOGNIZE's `(A B)+`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    /// `None` when no keyword was written (correct only first in a
    /// pattern or first in a group).
    pub contiguity: Option<Node<Contiguity>>,
    pub binding: Option<Ident>,
    /// The `(` that opens the body.
    pub open: Node<()>,
    /// Blocks, negations and groups; the first has no keyword.
    pub items: Vec<Node<PatternItem>>,
    /// `None`: once (`{1}`).
    pub quantifier: Option<Node<Quantifier>>,
    /// As on a block (refused on a group: CEP018).
    pub reluctant: Option<Node<()>>,
    pub modifiers: Vec<Node<BlockMod>>,
}

/// A word after a block's quantifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BlockMod {
    /// The longest match per start (Flink's `.greedy()`).
    Greedy,
    /// The group's later events strictly consecutive (`.consecutive()`).
    Consecutive,
    /// Any combination of later events (`.allowCombinations()`).
    Any,
}

impl BlockMod {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockMod::Greedy => "greedy",
            BlockMod::Consecutive => "consecutive",
            BlockMod::Any => "any",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Contiguity {
    /// `next`: the very next event of the key.
    Next,
    /// `then`: skip till next match.
    Then,
    /// `then any`: skip till any match.
    ThenAny,
}

/// A quantifier as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Quantifier {
    /// `+`
    OneOrMore,
    /// `*`
    ZeroOrMore,
    /// `?`
    Optional,
    /// `{n}`
    Exactly(u32),
    /// `{n,}`
    AtLeast(u32),
    /// `{n,m}`
    Between(u32, u32),
}

impl Quantifier {
    /// As written in canonical layout: `+`, `*`, `?`, `{n}`, `{n,}`, `{n,m}`.
    pub fn written(self) -> String {
        match self {
            Quantifier::OneOrMore => "+".into(),
            Quantifier::ZeroOrMore => "*".into(),
            Quantifier::Optional => "?".into(),
            Quantifier::Exactly(n) => format!("{{{n}}}"),
            Quantifier::AtLeast(n) => format!("{{{n},}}"),
            Quantifier::Between(n, m) => format!("{{{n},{m}}}"),
        }
    }

    /// Lower and upper bound (`None`: no upper bound).
    pub fn bounds(self) -> (u32, Option<u32>) {
        match self {
            Quantifier::OneOrMore => (1, None),
            Quantifier::ZeroOrMore => (0, None),
            Quantifier::Optional => (0, Some(1)),
            Quantifier::Exactly(n) => (n, Some(n)),
            Quantifier::AtLeast(n) => (n, None),
            Quantifier::Between(n, m) => (n, Some(m)),
        }
    }
}

/// `not DoorOpened where ...` between blocks, or `not Heartbeat within 30s`
/// at the end of a pattern.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Negation {
    pub event: Ident,
    pub predicate: Option<Expr>,
    pub within: Option<Node<Duration>>,
}

/// `halt on Temperature where celsius < 15`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Guard {
    pub event: Ident,
    pub predicate: Option<Expr>,
}

/// `name: expr` in `emit { ... }`, `with { ... }` and `body { ... }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldInit {
    pub name: Ident,
    pub value: Expr,
}

// ---- expressions -----------------------------------------------------------

pub type Expr = Node<ExprKind>;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ExprKind {
    Lit(Lit),
    /// A bare name: a field of the current event, a binding, or `prev`.
    Name(Ident),
    /// `a.celsius`, `prev.celsius`, `Heatwave.sensor`
    Field(Box<Expr>, Ident),
    /// `count(ups)`, `last(ups.celsius)`
    Call(Ident, Vec<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `x is null` (`false`), `x is not null` (`true`).
    IsNull(Box<Expr>, bool),
    /// Parentheses as written (kept for the formatter).
    Paren(Box<Expr>),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Lit {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Duration(Duration),
    /// `@2026-01-01T00:00:00Z`: the text after `@`, as written (the
    /// compiler reads it as RFC 3339).
    Time(String),
}

/// A duration as written: amount and unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Duration {
    pub amount: u64,
    pub unit: DurationUnit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DurationUnit {
    Ms,
    S,
    M,
    H,
}

impl DurationUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            DurationUnit::Ms => "ms",
            DurationUnit::S => "s",
            DurationUnit::M => "m",
            DurationUnit::H => "h",
        }
    }

    pub fn millis(self) -> u64 {
        match self {
            DurationUnit::Ms => 1,
            DurationUnit::S => 1_000,
            DurationUnit::M => 60_000,
            DurationUnit::H => 3_600_000,
        }
    }
}

impl Duration {
    /// The longest duration a rule may write, in milliseconds: the width of
    /// the range of valid times (0000-01-01T00:00:00Z to
    /// 9999-12-31T23:59:59.999Z, `cep_ir::MIN_TIME_MS` to
    /// `cep_ir::MAX_TIME_MS`), 10,000 Gregorian years or 87,658,200 h. A
    /// longer window or absence could not end inside that range, and the
    /// limit keeps every deadline (a valid time plus a duration) exact in
    /// 64 bits. The compiler's tests check it against the IR's constants.
    pub const MAX_MS: u64 = 315_569_520_000_000;

    /// Milliseconds, or `None` on overflow.
    pub fn millis(self) -> Option<u64> {
        self.amount.checked_mul(self.unit.millis())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum UnOp {
    Not,
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
    pub fn as_str(self) -> &'static str {
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

// ---- resources -------------------------------------------------------------

/// `resource pump capacity 2`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceDecl {
    pub name: Ident,
    pub capacity: Node<u64>,
}

// ---- steps -----------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepDecl {
    pub name: Ident,
    pub clauses: Vec<Node<StepClause>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum StepClause {
    /// `on A and (B or C)`
    On(Trigger),
    /// `after 30s`
    After(Node<Duration>),
    /// `acquire pump 1`
    Acquire { resource: Ident, units: Node<u64> },
    /// `run "prog" args [..] with { ENV: expr }`
    Run {
        program: Node<String>,
        args: Vec<Expr>,
        env: Vec<FieldInit>,
    },
    /// `post "url" body { ... }`
    Post {
        url: Node<String>,
        body: Vec<FieldInit>,
    },
    /// `emit Name { ... }` as the step's action.
    Emit(EmitEvent),
    /// `timeout 60s`
    Timeout(Node<Duration>),
    /// `retry 3 backoff 2s`
    Retry {
        count: Node<u64>,
        backoff: Option<Node<Duration>>,
    },
    /// `on success emit Cooled { ... }`
    OnStatus {
        status: Node<Status>,
        emit: EmitEvent,
    },
    /// `recover { ready: rerun, success: skip }`
    Recover(Vec<(Node<Status>, Node<Recovery>)>),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EmitEvent {
    pub event: Ident,
    pub fields: Vec<FieldInit>,
}

pub type Trigger = Node<TriggerKind>;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum TriggerKind {
    Event(Ident),
    /// Two or more operands.
    And(Vec<Trigger>),
    /// Two or more operands.
    Or(Vec<Trigger>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Status {
    Ready,
    Active,
    Success,
    Failure,
    Complete,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Ready,
        Status::Active,
        Status::Success,
        Status::Failure,
        Status::Complete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::Active => "active",
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Complete => "complete",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Recovery {
    Rerun,
    Skip,
}

impl Recovery {
    pub fn as_str(self) -> &'static str {
        match self {
            Recovery::Rerun => "rerun",
            Recovery::Skip => "skip",
        }
    }
}

// ---- processes -------------------------------------------------------------

/// `process Claim by claim_id { ... }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProcessDecl {
    pub name: Ident,
    pub key: Ident,
    pub items: Vec<Node<ProcessItem>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ProcessItem {
    Activities(Vec<Ident>),
    /// `idle 720h`: an accepting instance that has had no activity event of
    /// its key for this long (event time) is retired. The node's span is
    /// the duration's; the item's span covers `idle` too.
    Idle(Node<Duration>),
    /// `pending A, B` / `excluded C` / `executed D`: the initial marking.
    Initial(Marking, Vec<Ident>),
    Relation {
        from: Ident,
        kind: Node<RelationKind>,
        to: Ident,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Marking {
    Pending,
    Excluded,
    Executed,
}

impl Marking {
    pub fn as_str(self) -> &'static str {
        match self {
            Marking::Pending => "pending",
            Marking::Excluded => "excluded",
            Marking::Executed => "executed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RelationKind {
    /// `-->*`
    Condition,
    /// `*-->`
    Response,
    /// `-->+`
    Include,
    /// `-->%`
    Exclude,
    /// `--<>`
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

    pub fn word(self) -> &'static str {
        match self {
            RelationKind::Condition => "condition",
            RelationKind::Response => "response",
            RelationKind::Include => "include",
            RelationKind::Exclude => "exclude",
            RelationKind::Milestone => "milestone",
        }
    }
}
