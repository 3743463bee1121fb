//! Differential tests of the pattern matcher: random short streams are run
//! through the engine and through an independent, brute-force reading of
//! the pattern semantics (docs/language.md, section 6), and the matches
//! must be the same.
//!
//! The brute force does not build an automaton. For each start event it
//! enumerates every assignment of later events to the blocks and keeps
//! those that satisfy the conditions below, checked literally. Predicates
//! are plain Rust closures over this file's own event structs, so nothing
//! of the engine (not its evaluator either) is reused.
//!
//! The semantics, per pattern and per partition key, on the stream of the
//! events of the types the pattern names with that key, in input order:
//!
//! A match is a start `s` and, per block, an increasing list of event
//! indices (all blocks' events strictly increasing overall, block 1
//! non-empty and starting with `s`, each list's length within the block's
//! bounds) such that
//!  1. each bound event has the block's type and satisfies its predicate
//!     with the bindings so far (`prev` in a group: the group's previous
//!     event, or for its first event the last event of the block before);
//!  2. for each bound event `x` but `s`, with `q` the event bound before it
//!     and `i` its block: strict (`next`, and the events of a group that is
//!     the first block): `x = q + 1`; relaxed (`then`): no `y` with
//!     `q < y < x` could have been taken by block `i` at that point; `then
//!     any`: nothing. Events of a group follow the group's own contiguity;
//!  3. a negation between blocks `i-1` and `i`: no `y` with `q < y <= x`
//!     matching it (`x` the first event of block `i`);
//!  4. no `y` with `s < y <= last` matching a halt guard (and, with a
//!     trailing absence, none before the absence completes);
//!  5. `time(last) - time(s) < W` with `within W`;
//!  6. trailing absence `not X within D`: no `y` after `last` with
//!     `time(y) < time(last) + D` matching `X`; the match completes at
//!     `time(last) + D` (the end of the input lets all time pass);
//!  7. the complex event's time is `time(last)` (plus `D` with an absence).
//!
//! Matches are ordered by completion (the input event that completes them,
//! or for absences their deadline, which comes before any event of the
//! same time), then by start, then by the list of bound indices. Skip
//! policies then filter them: `skip past last` reports a match only if it
//! starts after the last bound event of every match reported before it, and
//! at most one match per completion point (the first that qualifies); `skip
//! to next` reports a match only if no reported match has the same start.
//!
//! With `on timeout emit` (no skip policy), a timed-out partial match is
//! a valid prefix `P` (blocks up to `i` bound, block `i` last, conditions
//! 1-5 so far) that is not complete (a later block is required, or block
//! `i` is short of its minimum), with a *waiting point* `j` (block `i`
//! itself while it can grow; after its minimum, block `i+1`, and on over
//! optional blocks to the first required one) that is still waiting at
//! `T = time(s) + W`: no later event `y` of the key with `time(y) < T`
//! is a halt, a negation just before block `j` (for `j > i`), or an
//! event block `j` takes (unless `j` is `then any`), and for a strict
//! `j` no later event at all. It is reported once per `P` at `T`, after
//! the matches that complete at `T`.
//!
//! Group sub-patterns (`g: ( ... ){n,m}`, 6.4b) are read by unrolling:
//! the pattern is the union of the flat patterns that write each group's
//! body once per iteration, for every number of iterations; their matches
//! are folded back to the written blocks, one per set of bound events,
//! with the fewest iterations (see `grouped_matches`).
//!
//! A failing case is shrunk (events removed while it still fails) and
//! printed with the pattern, the stream, and both lists of matches.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::Rng;

use cep_ir::Program;
use cep_runtime::{Config, Engine, Event, Output, Value};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

/// Random streams per pattern (`CEP_DIFF_CASES` overrides it, for longer
/// explorations: `CEP_DIFF_CASES=200000 cargo test --release ...`).
const CASES: usize = 3000;
/// Longest random stream (`CEP_DIFF_MAX_LEN` overrides it).
const MAX_LEN: usize = 12;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
/// At most this many failures are printed in full per pattern.
const SHOWN_FAILURES: usize = 3;

// ---- random numbers ------------------------------------------------------------

fn seed_of(name: &str) -> u64 {
    // FNV-1a, so that every pattern gets its own fixed sequence of cases.
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

// ---- events --------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    A,
    B,
    C,
    D,
    E,
}

/// `C` keeps its fields in another order, so that an alternation of `C`
/// with another type reads them at other slots; `E` names its key `id`
/// (a pattern reads it with `partition by k = E.id`), and has two `time`
/// fields, its event time marked `@timestamp`: the harness gives it a
/// decoy `sent` time and decodes it from JSON with the real decoder.
const DECLS: &str = "\
event A { k: int, v: int, at: time }
event B { k: int, v: int, at: time }
event C { v: int, at: time, k: int }
event D { k: int, v: int?, at: time }
event E { id: int, sent: time, at: time @timestamp, v: int }
";

impl Ty {
    const ALL: [Ty; 5] = [Ty::A, Ty::B, Ty::C, Ty::D, Ty::E];

    /// The engine's field values of an event of this type (`DECLS`).
    fn fields(self, k: i64, v: Value, t: i64) -> Vec<Value> {
        match self {
            Ty::C => vec![v, Value::Time(t), Value::Int(k)],
            Ty::E => vec![Value::Int(k), Value::Time(t - 7000), Value::Time(t), v],
            _ => vec![Value::Int(k), v, Value::Time(t)],
        }
    }
}

/// With `Spec::nulls`, a `D` whose `v` is this has no `v` (as if the
/// input line lacked it).
const NO_V: i64 = -1;

/// The `v` of `e`, or none (`Spec::nulls`).
fn v_of(e: &Ev) -> Option<i64> {
    (!(e.ty == Ty::D && e.v == NO_V)).then_some(e.v)
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::A => "A",
            Ty::B => "B",
            Ty::C => "C",
            Ty::D => "D",
            Ty::E => "E",
        }
    }
}

/// One input event; its index in the stream is its identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ev {
    ty: Ty,
    k: i64,
    v: i64,
    /// Milliseconds.
    t: i64,
}

fn show_stream(evs: &[Ev]) -> String {
    let mut s = String::new();
    for (i, e) in evs.iter().enumerate() {
        let _ = writeln!(
            s,
            "    #{i}: {} k={} v={} t={}ms",
            e.ty.name(),
            e.k,
            e.v,
            e.t
        );
    }
    if evs.is_empty() {
        s.push_str("    (empty)\n");
    }
    s
}

// ---- the pattern as the brute force sees it ------------------------------------

/// What a predicate or an emit expression can see: the events bound so far
/// (global stream indices, per block) and `prev` in a group.
///
/// In a pattern with group sub-patterns, `bound` is per block of one
/// unrolled, flat pattern (see `grouped_matches`), and `view` tells how to
/// read it with the blocks of the written pattern, from flat block `at`.
struct Ctx<'a> {
    evs: &'a [Ev],
    bound: &'a [Vec<usize>],
    prev: Option<usize>,
    view: Option<(&'a View, usize)>,
}

impl<'a> Ctx<'a> {
    /// The bound indices of `block` as read from here: in an unrolled
    /// pattern, its latest copy up to the flat block being read from (the
    /// current iteration's, for a block of the same body).
    fn at(&self, block: usize) -> &'a [usize] {
        match self.view {
            None => &self.bound[block],
            Some((v, at)) => (0..=at.min(v.orig.len() - 1))
                .rev()
                .find(|&f| v.orig[f] == block)
                .map_or(&[], |f| &self.bound[f]),
        }
    }

    /// The event of a single-event block (none if it bound nothing).
    fn one(&self, block: usize) -> Option<&'a Ev> {
        self.at(block).last().map(|&i| &self.evs[i])
    }

    fn prev(&self) -> Option<&'a Ev> {
        self.prev.map(|i| &self.evs[i])
    }

    /// The values of `v` in a group, in order.
    fn vs(&self, block: usize) -> Vec<i64> {
        self.at(block).iter().map(|&i| self.evs[i].v).collect()
    }

    /// The values of `v` of a block over every iteration of the group
    /// sub-patterns around it, oldest first (`sum(g.y.v)`).
    fn agg(&self, block: usize) -> Vec<i64> {
        match self.view {
            None => self.vs(block),
            Some((v, _)) => (0..v.orig.len())
                .filter(|&f| v.orig[f] == block)
                .flat_map(|f| self.bound[f].iter().map(|&i| self.evs[i].v))
                .collect(),
        }
    }

    /// `count(g)` of group sub-pattern `g` (pre-order), over every
    /// iteration of the groups around it (`count(g.h)`).
    fn iters(&self, g: usize) -> Out {
        Out::Int(self.view.map_or(0, |(v, _)| v.iters[g]) as i64)
    }
}

type Pred = fn(&Ctx<'_>, &Ev) -> bool;
type Emit = fn(&Ctx<'_>) -> Vec<Out>;

fn yes(_: &Ctx<'_>, _: &Ev) -> bool {
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cont {
    Strict,
    Relaxed,
    Any,
}

#[derive(Clone)]
struct Block {
    name: &'static str,
    ty: Ty,
    /// `ty | alt`: an alternation.
    alt: Option<Ty>,
    min: usize,
    /// `None`: unbounded.
    max: Option<usize>,
    /// Ignored for the first block.
    cont: Cont,
    /// `consecutive` (strict) or `any` after the quantifier.
    inner: Option<Cont>,
    pred: Pred,
}

/// `not ty where pred` just before block `before`.
#[derive(Clone)]
struct Neg {
    before: usize,
    ty: Ty,
    pred: Pred,
}

#[derive(Clone)]
struct Absence {
    ty: Ty,
    pred: Pred,
    ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skip {
    None,
    PastLast,
    ToNext,
}

struct Spec {
    name: &'static str,
    /// The pattern as `.cep` text (the events are declared by `DECLS`).
    cep: &'static str,
    partition: bool,
    window: Option<i64>,
    skip: Skip,
    blocks: Vec<Block>,
    negs: Vec<Neg>,
    absence: Option<Absence>,
    halts: Vec<(Ty, Pred)>,
    emit: Emit,
    /// Event types of the random streams (repeats weigh).
    gen_types: &'static [Ty],
    /// Keys `0..keys`.
    keys: i64,
    /// A `D` of the random streams has no `v` one time in four (`NO_V`).
    nulls: bool,
    /// A leading `not ty where pred within ms`: a start is blocked by an
    /// earlier such event of its key less than `ms` before it.
    lookback: Option<Absence>,
    /// `report first|last every ms` (`true`: first).
    report: Option<(bool, i64)>,
    /// `on timeout emit T { ... }` with the same record as `emit`.
    timeout: bool,
    /// A greedy (`true`) or reluctant group: its block.
    select: Option<(usize, bool)>,
    /// With group sub-patterns: the pattern's items (`blocks` lists its
    /// blocks in the order they are written, `negs` is empty).
    tree: Vec<Item>,
    /// An unrolled pattern: how its flat blocks read as the written ones.
    view: Option<View>,
}

impl Spec {
    /// The contiguity between the events of block `i` (a group): its
    /// `consecutive` or `any`; strict for a greedy group at the end and
    /// for the first block; else its entering keyword's.
    fn inner(&self, i: usize) -> Cont {
        let b = &self.blocks[i];
        let greedy_tail =
            self.select == Some((i, true)) && i + 1 == self.blocks.len() && self.absence.is_none();
        match b.inner {
            Some(c) => c,
            None if greedy_tail || i == 0 => Cont::Strict,
            None => b.cont,
        }
    }

    /// The event types the pattern names.
    fn sees(&self, ty: Ty) -> bool {
        self.blocks.iter().any(|b| b.takes_type(ty))
            || self.negs.iter().any(|n| n.ty == ty)
            || self.absence.as_ref().is_some_and(|a| a.ty == ty)
            || self.halts.iter().any(|h| h.0 == ty)
            || self.lookback.as_ref().is_some_and(|l| l.ty == ty)
    }
}

/// An emitted value.
#[derive(Clone, Debug, PartialEq)]
enum Out {
    Null,
    Int(i64),
    Float(f64),
    Dur(i64),
}

impl Out {
    fn show(&self) -> String {
        match self {
            Out::Null => "null".into(),
            Out::Int(i) => i.to_string(),
            Out::Float(f) => format!("{f:.6}"),
            Out::Dur(d) => format!("{d}ms"),
        }
    }

    fn from_engine(v: &Value) -> Out {
        match v {
            Value::Null => Out::Null,
            Value::Int(i) => Out::Int(*i),
            Value::Float(f) => Out::Float(*f),
            Value::Duration(d) => Out::Dur(*d),
            other => panic!("unexpected emitted value {other:?}"),
        }
    }
}

fn field(e: Option<&Ev>, f: fn(&Ev) -> i64) -> Out {
    e.map_or(Out::Null, |e| Out::Int(f(e)))
}

fn count(vs: &[i64]) -> Out {
    Out::Int(vs.len() as i64)
}
fn sum(vs: &[i64]) -> Out {
    if vs.is_empty() {
        Out::Null
    } else {
        Out::Int(vs.iter().sum())
    }
}
fn avg(vs: &[i64]) -> Out {
    if vs.is_empty() {
        Out::Null
    } else {
        Out::Float(vs.iter().sum::<i64>() as f64 / vs.len() as f64)
    }
}
fn min(vs: &[i64]) -> Out {
    vs.iter().min().map_or(Out::Null, |&x| Out::Int(x))
}
fn max(vs: &[i64]) -> Out {
    vs.iter().max().map_or(Out::Null, |&x| Out::Int(x))
}
fn first(vs: &[i64]) -> Out {
    vs.first().map_or(Out::Null, |&x| Out::Int(x))
}
fn last(vs: &[i64]) -> Out {
    vs.last().map_or(Out::Null, |&x| Out::Int(x))
}

impl Block {
    fn takes_type(&self, ty: Ty) -> bool {
        self.ty == ty || self.alt == Some(ty)
    }

    /// `consecutive` / `any` after the quantifier.
    fn inner(self, c: Cont) -> Block {
        Block {
            inner: Some(c),
            ..self
        }
    }

    /// `ty | alt`.
    fn or(self, alt: Ty) -> Block {
        Block {
            alt: Some(alt),
            ..self
        }
    }
}

fn block(name: &'static str, ty: Ty, cont: Cont, pred: Pred) -> Block {
    Block {
        name,
        ty,
        alt: None,
        inner: None,
        min: 1,
        max: Some(1),
        cont,
        pred,
    }
}

fn group(
    name: &'static str,
    ty: Ty,
    min: usize,
    max: Option<usize>,
    cont: Cont,
    pred: Pred,
) -> Block {
    Block {
        name,
        ty,
        alt: None,
        inner: None,
        min,
        max,
        cont,
        pred,
    }
}

// ---- matches -------------------------------------------------------------------

/// One match, comparable between the brute force and the engine. The
/// derived order is the completion order: (completion time, 0 for a
/// deadline / 1 for an event, completing event index), then start, then
/// the bound indices.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct M {
    done: (i64, u8, usize),
    /// A timed-out partial match (after the matches of its instant).
    timeout: bool,
    start: usize,
    flat: Vec<usize>,
    blocks: Vec<Vec<usize>>,
    time: i64,
    fields: Vec<String>,
}

impl M {
    fn show(&self, spec: &Spec) -> String {
        let mut s = String::from("{");
        for (b, idx) in spec.blocks.iter().zip(&self.blocks) {
            let _ = write!(s, " {}: {:?}", b.name, idx);
        }
        let _ = write!(s, " }} time={}ms fields={:?}", self.time, self.fields);
        if self.timeout {
            s.push_str(" (timed out)");
        }
        s
    }
}

fn show_matches(spec: &Spec, ms: &[M]) -> String {
    let mut s = String::new();
    for m in ms {
        let _ = writeln!(s, "    {}", m.show(spec));
    }
    if ms.is_empty() {
        s.push_str("    (none)\n");
    }
    s
}

fn completion(spec: &Spec, evs: &[Ev], last: usize) -> ((i64, u8, usize), i64) {
    match &spec.absence {
        Some(a) => ((evs[last].t + a.ms, 0, 0), evs[last].t + a.ms),
        None => ((evs[last].t, 1, last), evs[last].t),
    }
}

fn make_match(spec: &Spec, evs: &[Ev], blocks: Vec<Vec<usize>>, fields: Vec<String>) -> M {
    let mut flat: Vec<usize> = blocks.iter().flatten().copied().collect();
    flat.sort_unstable();
    let start = blocks[0].first().copied().unwrap_or(usize::MAX);
    let last = flat.last().copied().unwrap_or(0);
    let (done, time) = completion(spec, evs, last);
    M {
        done,
        timeout: false,
        start,
        flat,
        blocks,
        time,
        fields,
    }
}

/// A timed-out partial match: reported at `time`, the window's end.
fn make_timeout(
    spec: &Spec,
    evs: &[Ev],
    blocks: Vec<Vec<usize>>,
    fields: Vec<String>,
    time: i64,
) -> M {
    let mut m = make_match(spec, evs, blocks, fields);
    m.done = (time, 0, 0);
    m.time = time;
    m.timeout = true;
    m
}

// ---- the brute force -----------------------------------------------------------

struct Search<'a> {
    spec: &'a Spec,
    evs: &'a [Ev],
    /// Global indices of the events of one key that the pattern sees.
    sub: Vec<usize>,
    /// Position of the start in `sub`.
    sp: usize,
    bound: Vec<Vec<usize>>,
    out: Vec<M>,
}

impl Search<'_> {
    fn ev(&self, pos: usize) -> &Ev {
        &self.evs[self.sub[pos]]
    }

    /// What a predicate of flat block `at` (or a negation just before
    /// `at + 1`) sees.
    fn ctx(&self, at: usize, prev: Option<usize>) -> Ctx<'_> {
        Ctx {
            evs: self.evs,
            bound: &self.bound,
            prev,
            view: self.spec.view.as_ref().map(|v| (v, at)),
        }
    }

    fn halts_at(&self, pos: usize) -> bool {
        let y = self.ev(pos);
        let ctx = self.ctx(self.bound.len() - 1, None);
        self.spec
            .halts
            .iter()
            .any(|(ty, p)| *ty == y.ty && p(&ctx, y))
    }

    /// Block `i` just took the event at position `qp`; the event bound
    /// before it is at `pq`.
    fn extend(&mut self, i: usize, qp: usize, pq: usize) {
        let spec = self.spec;
        let n = spec.blocks.len();
        let s = self.sub[self.sp];
        let q = self.sub[qp];
        // 5: the window only shrinks as events are added.
        if let Some(w) = spec.window {
            if self.evs[q].t - self.evs[s].t >= w {
                return;
            }
        }
        // 4: a halt after the start, up to the newest event.
        if (pq + 1..=qp).any(|pos| self.halts_at(pos)) {
            return;
        }
        // Complete?
        let complete = self.bound[i].len() >= spec.blocks[i].min
            && spec.blocks[i + 1..].iter().all(|b| b.min == 0);
        if complete {
            self.complete(qp);
        } else if spec.timeout {
            self.timed_out(i, qp);
        }
        // Extend with a later event, in block `i` or a later one.
        for xp in qp + 1..self.sub.len() {
            let x = self.sub[xp];
            let mut targets = Vec::new();
            if spec.blocks[i].max.is_none_or(|m| self.bound[i].len() < m) {
                targets.push(i);
            }
            if self.bound[i].len() >= spec.blocks[i].min {
                for j in i + 1..n {
                    targets.push(j);
                    if spec.blocks[j].min > 0 {
                        break;
                    }
                }
            }
            for j in targets {
                let b = &spec.blocks[j];
                let prev = if j == i {
                    self.bound[i].last().copied()
                } else {
                    self.bound[j - 1].last().copied()
                };
                let ok = {
                    let ctx = self.ctx(j, prev);
                    let takes = |pos: usize| {
                        let y = &self.evs[self.sub[pos]];
                        b.takes_type(y.ty) && (b.pred)(&ctx, y)
                    };
                    // 1: type and predicate.
                    let mut ok = takes(xp);
                    // 2: contiguity.
                    let cont = if j == i { spec.inner(i) } else { b.cont };
                    ok = ok
                        && match cont {
                            Cont::Strict => xp == qp + 1,
                            Cont::Relaxed => !(qp + 1..xp).any(takes),
                            Cont::Any => true,
                        };
                    // 3: negations before the block's first event.
                    if ok && j > i {
                        for neg in spec.negs.iter().filter(|g| g.before > i && g.before <= j) {
                            let nctx = self.ctx(neg.before - 1, None);
                            if (qp + 1..=xp).any(|pos| {
                                let y = &self.evs[self.sub[pos]];
                                y.ty == neg.ty && (neg.pred)(&nctx, y)
                            }) {
                                ok = false;
                            }
                        }
                    }
                    ok
                };
                if ok {
                    self.bound[j].push(x);
                    self.extend(j, xp, qp);
                    self.bound[j].pop();
                }
            }
        }
    }

    /// `P` (the bindings now, block `i` last, at `qp`) is not complete:
    /// is one of its waiting points still waiting when the window ends?
    fn timed_out(&mut self, i: usize, qp: usize) {
        let spec = self.spec;
        let Some(w) = spec.window else {
            return;
        };
        let n = spec.blocks.len();
        let end = self.ev(self.sp).t + w;
        let mut points = Vec::new();
        if spec.blocks[i].max.is_none_or(|m| self.bound[i].len() < m) {
            points.push(i);
        }
        if self.bound[i].len() >= spec.blocks[i].min {
            for j in i + 1..n {
                points.push(j);
                if spec.blocks[j].min > 0 {
                    break;
                }
            }
        }
        let later: Vec<usize> = (qp + 1..self.sub.len())
            .filter(|&pos| self.ev(pos).t < end)
            .collect();
        let waiting = points.iter().any(|&j| {
            let b = &spec.blocks[j];
            let cont = if j == i { spec.inner(i) } else { b.cont };
            let prev = if j == i {
                self.bound[i].last().copied()
            } else {
                self.bound[j - 1].last().copied()
            };
            let ctx = self.ctx(j, prev);
            let nctx = self.ctx(j.saturating_sub(1), None);
            later.iter().all(|&pos| {
                let y = self.ev(pos);
                if self.halts_at(pos) || cont == Cont::Strict {
                    return false;
                }
                if j > i
                    && spec
                        .negs
                        .iter()
                        .any(|g| g.before == j && g.ty == y.ty && (g.pred)(&nctx, y))
                {
                    return false;
                }
                let takes = b.takes_type(y.ty) && (b.pred)(&ctx, y);
                !takes || cont == Cont::Any
            })
        });
        if !waiting {
            return;
        }
        let ctx = self.ctx(n - 1, None);
        let fields = (spec.emit)(&ctx).iter().map(Out::show).collect();
        let m = make_timeout(spec, self.evs, self.bound.clone(), fields, end);
        if !self.out.iter().any(|o| o.timeout && o.flat == m.flat) {
            self.out.push(m);
        }
    }

    /// Every block has what it needs; the last bound event is at `qp`.
    fn complete(&mut self, qp: usize) {
        let spec = self.spec;
        let last = self.sub[qp];
        let ctx = self.ctx(spec.blocks.len() - 1, None);
        if let Some(a) = &spec.absence {
            let deadline = self.evs[last].t + a.ms;
            for pos in qp + 1..self.sub.len() {
                let y = self.ev(pos);
                if y.t >= deadline {
                    break;
                }
                // 6: the absent event came; 4: a halt before completion.
                if (y.ty == a.ty && (a.pred)(&ctx, y)) || self.halts_at(pos) {
                    return;
                }
            }
        }
        let fields = (spec.emit)(&ctx).iter().map(Out::show).collect();
        let m = make_match(spec, self.evs, self.bound.clone(), fields);
        self.out.push(m);
    }
}

fn key_of(spec: &Spec, e: &Ev) -> i64 {
    if spec.partition {
        e.k
    } else {
        0
    }
}

/// Every match of the pattern on the stream, before the skip policy, in
/// completion order.
fn all_matches(spec: &Spec, evs: &[Ev]) -> Vec<M> {
    let mut keys: Vec<i64> = evs.iter().map(|e| key_of(spec, e)).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let sub: Vec<usize> = (0..evs.len())
            .filter(|&i| spec.sees(evs[i].ty) && key_of(spec, &evs[i]) == key)
            .collect();
        let mut search = Search {
            spec,
            evs,
            sub,
            sp: 0,
            bound: vec![Vec::new(); spec.blocks.len()],
            out: Vec::new(),
        };
        for sp in 0..search.sub.len() {
            let s = search.sub[sp];
            let b0 = &spec.blocks[0];
            let ok = {
                let ctx = search.ctx(0, None);
                b0.takes_type(evs[s].ty)
                    && (b0.pred)(&ctx, &evs[s])
                    && spec.lookback.as_ref().is_none_or(|lb| {
                        // No X of the key earlier in the stream, less than
                        // `ms` before the start (never the start itself).
                        !search.sub[..sp].iter().any(|&y| {
                            evs[y].ty == lb.ty
                                && (lb.pred)(&ctx, &evs[y])
                                && evs[s].t - evs[y].t < lb.ms
                        })
                    })
            };
            if ok {
                search.sp = sp;
                search.bound[0].push(s);
                search.extend(0, sp, sp);
                search.bound[0].pop();
            }
        }
        out.append(&mut search.out);
    }
    out.sort();
    out
}

/// Per key: the last bound index of the reported matches, and the
/// completion point of the latest report.
type PastLast = (Option<usize>, Option<(i64, u8, usize)>);

/// The skip policy, per key, over matches in completion order.
fn apply_skip(spec: &Spec, evs: &[Ev], all: Vec<M>) -> Vec<M> {
    match spec.skip {
        Skip::None => all,
        Skip::PastLast => {
            let mut state: BTreeMap<i64, PastLast> = BTreeMap::new();
            let mut out = Vec::new();
            for m in all {
                let key = key_of(spec, &evs[m.start]);
                let st = state.entry(key).or_insert((None, None));
                // At most one report per completion point: the first match
                // there (in tie order) that qualifies.
                if st.1 == Some(m.done) {
                    continue;
                }
                if st.0.is_some_and(|l| m.start <= l) {
                    continue;
                }
                let last = m.flat.last().copied().unwrap_or(0);
                st.0 = Some(st.0.map_or(last, |l| l.max(last)));
                st.1 = Some(m.done);
                out.push(m);
            }
            out
        }
        Skip::ToNext => {
            let mut starts = HashSet::new();
            all.into_iter().filter(|m| starts.insert(m.start)).collect()
        }
    }
}

fn expected(spec: &Spec, evs: &[Ev]) -> Vec<M> {
    let mut all = if spec.tree.is_empty() {
        all_matches(spec, evs)
    } else {
        grouped_matches(spec, evs)
    };
    if let Some((g, longest)) = spec.select {
        all = select(all, g, longest);
    }
    let ms = apply_skip(spec, evs, all);
    match spec.report {
        None => ms,
        Some((first, every)) => rate_limit(spec, evs, ms, first, every),
    }
}

/// Greedy and reluctant groups, read literally: of the matches with one
/// start and the same events in the blocks before group `g`, those whose
/// group is the longest (or shortest).
fn select(all: Vec<M>, g: usize, longest: bool) -> Vec<M> {
    let family = |m: &M| (m.start, m.blocks[..g].to_vec());
    let best = |f: &(usize, Vec<Vec<usize>>)| {
        let lens = all
            .iter()
            .filter(|m| family(m) == *f)
            .map(|m| m.blocks[g].len());
        if longest {
            lens.max()
        } else {
            lens.min()
        }
    };
    all.iter()
        .filter(|m| best(&family(m)) == Some(m.blocks[g].len()))
        .cloned()
        .collect()
}

/// `report first|last every P`, read literally: per key, in completion
/// order, periods `[s + iP, s + (i+1)P)` from the key's first match `s`;
/// keep the first (or the last) match of each period that has one.
fn rate_limit(spec: &Spec, evs: &[Ev], ms: Vec<M>, first: bool, every: i64) -> Vec<M> {
    let mut by_key: BTreeMap<i64, Vec<M>> = BTreeMap::new();
    for m in ms {
        by_key
            .entry(key_of(spec, &evs[m.start]))
            .or_default()
            .push(m);
    }
    let mut out = Vec::new();
    for (_, list) in by_key {
        let Some(s) = list.first().map(|m| m.time) else {
            continue;
        };
        let mut periods: BTreeMap<i64, Vec<M>> = BTreeMap::new();
        for m in list {
            periods
                .entry((m.time - s).div_euclid(every))
                .or_default()
                .push(m);
        }
        for (i, mut p) in periods {
            let keep = if first {
                p.remove(0)
            } else {
                // Reported when its period ends, with that time.
                let mut m = p.pop().expect("a match");
                m.time = s + (i + 1) * every;
                m
            };
            out.push(keep);
        }
    }
    out.sort();
    out
}

// ---- group sub-patterns --------------------------------------------------------
//
// A pattern with group sub-patterns (docs/language.md 6.4b) is read as the
// union of flat patterns, one per choice of iteration counts: a group of
// `k` iterations is its body written `k` times. In the copies:
//  - every copy of a block keeps the block's contiguity, and the first item
//    of a body takes the group's (the keyword that enters it also joins its
//    iterations); the pattern's first block is strict in every copy (a
//    group that starts the pattern joins its iterations strictly);
//  - a negation between items of a body is written in every iteration, one
//    before the group once, and one at the end of a body before whatever
//    comes next in the flat pattern (the next iteration's first block, or
//    the item after the group; nothing if the pattern ends there);
//  - a predicate that reads a block reads its latest copy (the current
//    iteration's, for a block of the same body), aggregates read every
//    copy, and `count(g)` is the unrolling's number of iterations.
// The flat brute force runs on each unrolling; each match is folded back
// (a block's events over every copy), and of the matches that bind the
// same events to the same blocks, the one of the unrolling with the
// fewest iterations (outer groups first, then in order) is kept.

/// An item of a pattern with group sub-patterns.
enum Item {
    Blk(Block),
    /// A negation before the next item (or at the end of a body).
    Not(Ty, Pred),
    Grp(Grp),
}

struct Grp {
    name: &'static str,
    /// The keyword that enters the group (the enclosing group's for the
    /// first item of a body; ignored at the start of the pattern).
    cont: Cont,
    min: usize,
    max: Option<usize>,
    body: Vec<Item>,
}

fn blk(b: Block) -> Item {
    Item::Blk(b)
}

fn not(ty: Ty, pred: Pred) -> Item {
    Item::Not(ty, pred)
}

fn grp(name: &'static str, cont: Cont, min: usize, max: Option<usize>, body: Vec<Item>) -> Item {
    Item::Grp(Grp {
        name,
        cont,
        min,
        max,
        body,
    })
}

/// How an unrolled (flat) pattern reads as the written one.
#[derive(Clone, Default)]
struct View {
    /// The written block of each flat block.
    orig: Vec<usize>,
    /// Iterations per group sub-pattern (pre-order), summed over the
    /// iterations of the groups around it.
    iters: Vec<usize>,
    /// Iterations of each group in the unrolling, tagged with its depth:
    /// sorted by depth (stably), the order that picks one derivation.
    key: Vec<(usize, usize)>,
}

/// The blocks, in the order they are written.
fn tree_blocks(items: &[Item], out: &mut Vec<Block>) {
    for it in items {
        match it {
            Item::Blk(b) => out.push(b.clone()),
            Item::Not(..) => {}
            Item::Grp(g) => tree_blocks(&g.body, out),
        }
    }
}

/// The group sub-patterns in pre-order.
fn tree_groups<'a>(items: &'a [Item], out: &mut Vec<&'a Grp>) {
    for it in items {
        if let Item::Grp(g) = it {
            out.push(g);
            tree_groups(&g.body, out);
        }
    }
}

/// The fewest events an iteration of a body binds.
fn least_events(items: &[Item]) -> usize {
    items
        .iter()
        .map(|it| match it {
            Item::Blk(b) => b.min,
            Item::Not(..) => 0,
            Item::Grp(g) => g.min * least_events(&g.body),
        })
        .sum()
}

/// Whether an event of type `ty` can be bound in a body.
fn body_takes(items: &[Item], ty: Ty) -> bool {
    items.iter().any(|it| match it {
        Item::Blk(b) => b.takes_type(ty),
        Item::Not(..) => false,
        Item::Grp(g) => body_takes(&g.body, ty),
    })
}

/// A flat pattern being unrolled.
#[derive(Clone)]
struct Flat {
    blocks: Vec<Block>,
    negs: Vec<Neg>,
    /// Negations waiting for the next flat block.
    pending: Vec<(Ty, Pred)>,
    view: View,
}

struct Unroller<'a> {
    blocks: &'a [Block],
    groups: Vec<&'a Grp>,
    evs: &'a [Ev],
}

impl Unroller<'_> {
    fn block_index(&self, name: &str) -> usize {
        self.blocks
            .iter()
            .position(|b| b.name == name)
            .expect("a block")
    }

    fn group_index(&self, g: &Grp) -> usize {
        self.groups
            .iter()
            .position(|x| std::ptr::eq(*x, g))
            .expect("a group")
    }

    /// The most iterations group `g` can have on the stream: each binds
    /// at least `least_events` events of the types its body takes.
    fn most(&self, g: &Grp) -> usize {
        let per = least_events(&g.body).max(1);
        let avail = self
            .evs
            .iter()
            .filter(|e| body_takes(&g.body, e.ty))
            .count();
        g.max.map_or(avail / per, |m| m.min(avail / per))
    }

    /// Every way to unroll `items` after each of `acc`; `join` is the
    /// contiguity of the first item (`None` at the pattern's level).
    fn items(&self, items: &[Item], join: Option<Cont>, depth: usize, acc: Vec<Flat>) -> Vec<Flat> {
        let mut acc = acc;
        for (pos, it) in items.iter().enumerate() {
            let inherited = join.filter(|_| pos == 0);
            match it {
                Item::Blk(b) => {
                    let orig = self.block_index(b.name);
                    let cont = if orig == 0 {
                        Cont::Strict
                    } else {
                        inherited.unwrap_or(b.cont)
                    };
                    for f in &mut acc {
                        let at = f.blocks.len();
                        for (ty, pred) in f.pending.drain(..) {
                            f.negs.push(Neg {
                                before: at,
                                ty,
                                pred,
                            });
                        }
                        f.blocks.push(Block { cont, ..b.clone() });
                        f.view.orig.push(orig);
                    }
                }
                Item::Not(ty, pred) => {
                    for f in &mut acc {
                        f.pending.push((*ty, *pred));
                    }
                }
                Item::Grp(g) => {
                    let gi = self.group_index(g);
                    let cont = inherited.unwrap_or(g.cont);
                    let mut next = Vec::new();
                    for k in g.min..=self.most(g) {
                        let mut fs: Vec<Flat> = acc
                            .iter()
                            .cloned()
                            .map(|mut f| {
                                f.view.iters[gi] += k;
                                f.view.key.push((depth, k));
                                f
                            })
                            .collect();
                        for _ in 0..k {
                            fs = self.items(&g.body, Some(cont), depth + 1, fs);
                        }
                        next.extend(fs);
                    }
                    acc = next;
                }
            }
        }
        acc
    }
}

/// A match of an unrolling, and its iterations (`View::key`, sorted).
type Derivation = (Vec<usize>, M);

/// Every match of a pattern with group sub-patterns, before the skip
/// policy, in completion order: the matches of its unrollings, folded back
/// to its blocks, one per start and set of bound events.
fn grouped_matches(spec: &Spec, evs: &[Ev]) -> Vec<M> {
    assert!(
        !spec.timeout && spec.select.is_none() && spec.negs.is_empty(),
        "{}: not read with group sub-patterns",
        spec.name
    );
    let mut groups = Vec::new();
    tree_groups(&spec.tree, &mut groups);
    let u = Unroller {
        blocks: &spec.blocks,
        groups,
        evs,
    };
    let start = Flat {
        blocks: Vec::new(),
        negs: Vec::new(),
        pending: Vec::new(),
        view: View {
            iters: vec![0; u.groups.len()],
            ..View::default()
        },
    };
    // Per start and bound events: the iterations and the match.
    let mut best: BTreeMap<(usize, Vec<Vec<usize>>), Derivation> = BTreeMap::new();
    for f in u.items(&spec.tree, None, 0, vec![start]) {
        // (Negations still pending at the end are dropped: nothing follows
        // them.)
        let mut key = f.view.key.clone();
        key.sort_by_key(|&(depth, _)| depth);
        let key: Vec<usize> = key.into_iter().map(|(_, k)| k).collect();
        let orig = f.view.orig.clone();
        let flat = Spec {
            name: spec.name,
            cep: spec.cep,
            partition: spec.partition,
            window: spec.window,
            skip: spec.skip,
            blocks: f.blocks,
            negs: f.negs,
            absence: spec.absence.clone(),
            halts: spec.halts.clone(),
            emit: spec.emit,
            gen_types: spec.gen_types,
            keys: spec.keys,
            nulls: spec.nulls,
            lookback: spec.lookback.clone(),
            report: None,
            timeout: false,
            select: None,
            tree: Vec::new(),
            view: Some(f.view),
        };
        for m in all_matches(&flat, evs) {
            let mut blocks = vec![Vec::new(); spec.blocks.len()];
            for (fb, idx) in m.blocks.iter().enumerate() {
                blocks[orig[fb]].extend(idx.iter().copied());
            }
            let id = (m.start, blocks.clone());
            let m = M { blocks, ..m };
            match best.get(&id) {
                Some((k, _)) if *k <= key => {}
                _ => {
                    best.insert(id, (key.clone(), m));
                }
            }
        }
    }
    let mut out: Vec<M> = best.into_values().map(|(_, m)| m).collect();
    out.sort();
    out
}

/// A pattern with group sub-patterns; `blocks` are read from `tree`.
fn grouped(name: &'static str, cep: &'static str, tree: Vec<Item>, emit: Emit) -> Spec {
    let mut blocks = Vec::new();
    tree_blocks(&tree, &mut blocks);
    Spec {
        tree,
        ..base(name, cep, blocks, emit)
    }
}

// ---- the engine ----------------------------------------------------------------

struct Compiled {
    program: Arc<Program>,
    /// Engine event id per `Ty`.
    ids: [u32; 5],
    /// Block index per binding id.
    blocks: Vec<usize>,
    /// The event type of `on timeout emit`.
    timeout: Option<u32>,
}

fn compile(spec: &Spec) -> Compiled {
    let text = format!("{DECLS}{}", spec.cep);
    let c = cep_compiler::compile_str("differential.cep", &text);
    assert!(
        !c.has_errors(),
        "{}: does not compile: {:#?}\n{text}",
        spec.name,
        c.diagnostics
    );
    let program = c.program.expect("a program");
    let id = |n: &str| program.event_by_name(n).expect("declared");
    let ids = Ty::ALL.map(|t| id(t.name()));
    let pat = &program.patterns[0];
    // A group sub-pattern's binding binds no event itself (`NO_BLOCK`);
    // the blocks of its body are mapped by name like the others.
    let mut groups = Vec::new();
    tree_groups(&spec.tree, &mut groups);
    let blocks = pat
        .bindings
        .iter()
        .map(|b| {
            if b.sub.is_some() {
                assert!(
                    groups.iter().any(|g| g.name == b.name),
                    "{}: group {} is not in the spec",
                    spec.name,
                    b.name
                );
                return NO_BLOCK;
            }
            spec.blocks
                .iter()
                .position(|x| x.name == b.name)
                .unwrap_or_else(|| panic!("{}: binding {} is not a block", spec.name, b.name))
        })
        .collect::<Vec<_>>();
    assert_eq!(
        blocks.iter().filter(|&&b| b != NO_BLOCK).count(),
        spec.blocks.len(),
        "{}",
        spec.name
    );
    assert_eq!(
        pat.bindings.iter().filter(|b| b.sub.is_some()).count(),
        groups.len(),
        "{}",
        spec.name
    );
    let timeout = pat.on_timeout.as_ref().map(|t| t.output);
    assert_eq!(timeout.is_some(), spec.timeout, "{}", spec.name);
    Compiled {
        program: Arc::new(program),
        ids,
        blocks,
        timeout,
    }
}

/// The block of a group sub-pattern's binding: none.
const NO_BLOCK: usize = usize::MAX;

/// The engine's matches, in the order it reported them.
fn engine(spec: &Spec, c: &Compiled, evs: &[Ev]) -> Result<Vec<M>, String> {
    let mut e = Engine::new(c.program.clone(), Config::default());
    let mut decoder = cep_runtime::ingest::Decoder::new(&c.program);
    let mut out = Vec::new();
    for (i, ev) in evs.iter().enumerate() {
        let ty = c.ids[ev.ty as usize];
        let v = match v_of(ev) {
            Some(v) => Value::Int(v),
            None => Value::Null,
        };
        let event = if ev.ty == Ty::E {
            // Through the decoder: its time must come from `at`, the
            // field marked `@timestamp`, not from `sent`.
            let line = format!(
                r#"{{"type":"E","id":{},"sent":{},"at":{},"v":{}}}"#,
                ev.k,
                ev.t - 7000,
                ev.t,
                ev.v
            );
            let got = decoder.decode(line.as_bytes(), i as u64);
            let Ok(Some(decoded)) = got else {
                return Err(format!("the decoder refused {line}: {got:?}"));
            };
            if decoded.fields[..] != ev.ty.fields(ev.k, v.clone(), ev.t)[..] || decoded.time != ev.t
            {
                return Err(format!("{line} decoded as {decoded:?}"));
            }
            decoded
        } else {
            Event::new(ty, ev.t, i as u64, ev.ty.fields(ev.k, v, ev.t))
        };
        e.push(event, &mut out);
    }
    e.finish(&mut out);
    let mut ms = Vec::new();
    for o in out {
        match o {
            Output::Complex(cx) => {
                let mut blocks = vec![Vec::new(); spec.blocks.len()];
                let mut order = Vec::new();
                for (b, ev) in &cx.matched.to_vec() {
                    let i = ev.source as usize;
                    let block = c.blocks[*b as usize];
                    if block == NO_BLOCK {
                        return Err(format!("`matched` lists group binding {b}"));
                    }
                    blocks[block].push(i);
                    order.push(i);
                }
                if order.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!(
                        "`matched` is not oldest first: {order:?} (bindings {:?})",
                        cx.matched.to_vec().iter().map(|x| x.0).collect::<Vec<_>>()
                    ));
                }
                let fields = cx
                    .event
                    .fields
                    .iter()
                    .map(|v| Out::from_engine(v).show())
                    .collect();
                let m = if c.timeout == Some(cx.event.ty) {
                    make_timeout(spec, evs, blocks, fields, cx.event.time)
                } else {
                    let mut m = make_match(spec, evs, blocks, fields);
                    if spec.select.is_none() {
                        m.time = cx.event.time;
                    } else if cx.event.time < m.time {
                        // A held match is reported when it is decided,
                        // with that time (never before it completed); the
                        // brute force knows only when it completed.
                        return Err(format!(
                            "a greedy/reluctant match at {} before it completed at {}",
                            cx.event.time, m.time
                        ));
                    }
                    m
                };
                ms.push(m);
            }
            Output::Late(ev) => return Err(format!("late event {ev:?}")),
            Output::Run(_) | Output::Admitted(_) | Output::NotAccepting(_) | Output::Process(_) => {
            }
            Output::Refused { reason, .. } => return Err(format!("refused: {reason:?}")),
        }
    }
    Ok(ms)
}

// ---- running the cases ---------------------------------------------------------

fn gen_stream(spec: &Spec, rng: &mut Rng) -> Vec<Ev> {
    let most = setting("CEP_DIFF_MAX_LEN", MAX_LEN);
    // Group sub-patterns need longer streams: from a third of the length.
    let n = if spec.tree.is_empty() {
        rng.below(most + 1)
    } else {
        most / 3 + rng.below(most - most / 3 + 1)
    };
    let mut t = 10_000;
    let mut evs: Vec<Ev> = Vec::with_capacity(n);
    for _ in 0..n {
        // Steps of 0 to 3 s, small ones more often.
        t += 1000 * [0i64, 1, 1, 2, 3][rng.below(5)];
        // Half of the time, follow the pattern's own sequence of blocks, so
        // that matches are not rare. With group sub-patterns, whose matches
        // are longer, three times in four, after the last event of the key.
        let grouped = !spec.tree.is_empty();
        let key = grouped.then(|| rng.below(spec.keys as usize) as i64);
        let before = match key {
            Some(k) => evs.iter().rev().find(|e| !spec.partition || e.k == k),
            None => evs.last(),
        };
        let follow: Vec<Ty> = match before {
            Some(prev)
                if (if grouped {
                    rng.below(4) != 0
                } else {
                    rng.below(2) == 0
                }) =>
            {
                successors(spec, prev.ty)
            }
            _ => Vec::new(),
        };
        let ty = if follow.is_empty() {
            spec.gen_types[rng.below(spec.gen_types.len())]
        } else {
            follow[rng.below(follow.len())]
        };
        let k = key.unwrap_or_else(|| rng.below(spec.keys as usize) as i64);
        let mut v = rng.below(4) as i64;
        if spec.nulls && ty == D && rng.below(4) == 0 {
            v = NO_V;
        }
        evs.push(Ev { ty, k, v, t });
    }
    evs
}

/// The types that can follow an event of type `ty` in a match.
fn successors(spec: &Spec, ty: Ty) -> Vec<Ty> {
    let n = spec.blocks.len();
    let mut out = Vec::new();
    for (i, b) in spec
        .blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| b.takes_type(ty))
    {
        if b.max.is_none_or(|m| m > 1) {
            out.push(b.ty);
            out.extend(b.alt);
        }
        let next = &spec.blocks[(i + 1) % n];
        out.push(next.ty);
        out.extend(next.alt);
    }
    // The last block of a group sub-pattern's body: its first one.
    let mut groups = Vec::new();
    tree_groups(&spec.tree, &mut groups);
    for g in groups {
        let mut body = Vec::new();
        tree_blocks(&g.body, &mut body);
        if let (Some(f), Some(l)) = (body.first(), body.last()) {
            if l.takes_type(ty) {
                out.push(f.ty);
                out.extend(f.alt);
            }
        }
    }
    out
}

enum Verdict {
    Same,
    /// Same matches, reported in another order.
    Order,
    Differ(String),
}

fn judge(spec: &Spec, c: &Compiled, evs: &[Ev]) -> (Verdict, Vec<M>, Vec<M>) {
    let want = expected(spec, evs);
    let got = match engine(spec, c, evs) {
        Ok(g) => g,
        Err(e) => return (Verdict::Differ(e), want, Vec::new()),
    };
    let mut sorted = got.clone();
    sorted.sort();
    // The order is specified across keys too: matches of different keys
    // that complete at the same deadline come in the order of their first
    // event, then of their later events (docs/runtime.md, "Matching", 5).
    // Matches that complete at the same point, with the same start and the
    // same bound events (split differently between blocks) are ties.
    let order = |ms: &[M]| {
        ms.iter()
            .map(|m| (m.done, m.timeout, m.start, m.flat.clone()))
            .collect::<Vec<_>>()
    };
    let verdict = if sorted != want {
        Verdict::Differ("different matches".into())
    } else if order(&got) != order(&want) {
        Verdict::Order
    } else {
        Verdict::Same
    };
    (verdict, want, got)
}

fn fails(spec: &Spec, c: &Compiled, evs: &[Ev]) -> bool {
    matches!(judge(spec, c, evs).0, Verdict::Differ(_))
}

/// Drops events (and simplifies values) while the case still fails.
fn shrink(spec: &Spec, c: &Compiled, mut evs: Vec<Ev>) -> Vec<Ev> {
    loop {
        let mut changed = false;
        let mut i = 0;
        while i < evs.len() {
            let mut smaller = evs.clone();
            smaller.remove(i);
            if fails(spec, c, &smaller) {
                evs = smaller;
                changed = true;
            } else {
                i += 1;
            }
        }
        for i in 0..evs.len() {
            for k in 0..evs[i].k {
                let mut simpler = evs.clone();
                simpler[i].k = k;
                if fails(spec, c, &simpler) {
                    evs = simpler;
                    changed = true;
                    break;
                }
            }
            for v in 0..evs[i].v {
                let mut simpler = evs.clone();
                simpler[i].v = v;
                if fails(spec, c, &simpler) {
                    evs = simpler;
                    changed = true;
                    break;
                }
            }
        }
        if !changed {
            return evs;
        }
    }
}

fn report(spec: &Spec, c: &Compiled, evs: &[Ev], case: usize) -> String {
    let (verdict, want, got) = judge(spec, c, evs);
    let why = match verdict {
        Verdict::Differ(w) => w,
        Verdict::Order => "same matches in another order".into(),
        Verdict::Same => "no difference".into(),
    };
    format!(
        "pattern `{}` (case {case}, shrunk): {why}\n{}\nstream:\n{}expected (brute force):\n{}engine:\n{}",
        spec.name,
        spec.cep.trim_end(),
        show_stream(evs),
        show_matches(spec, &want),
        show_matches(spec, &got),
    )
}

fn check(spec: Spec) {
    let c = compile(&spec);
    let cases = setting("CEP_DIFF_CASES", CASES);
    let mut rng = Rng::new(seed_of(spec.name));
    let mut failures = Vec::new();
    let mut order_differs = 0;
    let mut matched_cases = 0;
    let mut total_matches = 0;
    for case in 0..cases {
        let evs = gen_stream(&spec, &mut rng);
        let (verdict, want, _) = judge(&spec, &c, &evs);
        total_matches += want.len();
        matched_cases += usize::from(!want.is_empty());
        match verdict {
            Verdict::Same => {}
            Verdict::Order => {
                if order_differs == 0 {
                    eprintln!("{}", report(&spec, &c, &evs, case));
                }
                order_differs += 1;
            }
            Verdict::Differ(_) => {
                if failures.len() < SHOWN_FAILURES {
                    let small = shrink(&spec, &c, evs);
                    failures.push(report(&spec, &c, &small, case));
                } else {
                    failures.push(String::new());
                }
            }
        }
    }
    eprintln!(
        "{}: {cases} cases, {matched_cases} with matches, {total_matches} matches expected; \
         {} differ, {order_differs} in another order",
        spec.name,
        failures.len()
    );
    // The brute force must find something, or the pattern tests nothing.
    assert!(
        matched_cases >= cases / 50,
        "{}: too few cases with matches ({matched_cases})",
        spec.name
    );
    let shown: Vec<&String> = failures.iter().filter(|f| !f.is_empty()).collect();
    // `report last` reports a match when its period ends, not when it
    // completes: the brute force keeps completion order, so only the set
    // of matches is compared there.
    // Greedy and reluctant matches are reported once no run can better
    // them, not when they complete: there too only the set is compared.
    let order_matters = !spec.report.is_some_and(|(first, _)| !first) && spec.select.is_none();
    assert!(
        failures.is_empty() && (order_differs == 0 || !order_matters),
        "{}: {} of {cases} cases differ, {order_differs} report matches in another order\n\n{}",
        spec.name,
        failures.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---- the patterns --------------------------------------------------------------

use Cont::{Any, Relaxed, Strict};
use Ty::{A, B, C, D, E};

fn base(name: &'static str, cep: &'static str, blocks: Vec<Block>, emit: Emit) -> Spec {
    Spec {
        name,
        cep,
        partition: false,
        window: None,
        skip: Skip::None,
        blocks,
        negs: Vec::new(),
        absence: None,
        halts: Vec::new(),
        emit,
        gen_types: &[A, B, C, D],
        keys: 2,
        nulls: false,
        lookback: None,
        report: None,
        timeout: false,
        select: None,
        tree: Vec::new(),
        view: None,
    }
}

// (a) strict contiguity.
fn strict() -> Spec {
    Spec {
        gen_types: &[A, A, A, B],
        ..base(
            "strict",
            "pattern P {
    a: A
    next b: A where v > a.v
    next c: A where v > b.v
    emit { x: a.v, y: c.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", A, Strict, |c, e| c.one(0).is_some_and(|a| e.v > a.v)),
                block("c", A, Strict, |c, e| c.one(1).is_some_and(|b| e.v > b.v)),
            ],
            |c| vec![field(c.one(0), |e| e.v), field(c.one(2), |e| e.v)],
        )
    }
}

#[test]
fn a_strict() {
    check(strict());
}

#[test]
fn a_strict_mixed() {
    check(Spec {
        gen_types: &[A, B, B, C, D],
        ..base(
            "strict_mixed",
            "pattern P {
    a: A
    next b: B where v >= a.v
    next c: C where k == a.k
    emit { x: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Strict, |c, e| c.one(0).is_some_and(|a| e.v >= a.v)),
                block("c", C, Strict, |c, e| c.one(0).is_some_and(|a| e.k == a.k)),
            ],
            |c| vec![field(c.one(1), |e| e.v)],
        )
    });
}

// (b) relaxed contiguity.
#[test]
fn b_relaxed() {
    check(Spec {
        gen_types: &[A, B, B, C, C, D],
        ..base(
            "relaxed",
            "pattern P {
    a: A
    then b: B where v > a.v
    then c: C where v >= b.v and k == a.k
    emit { x: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Relaxed, |c, e| c.one(0).is_some_and(|a| e.v > a.v)),
                block("c", C, Relaxed, |c, e| {
                    c.one(1).is_some_and(|b| e.v >= b.v) && c.one(0).is_some_and(|a| e.k == a.k)
                }),
            ],
            |c| vec![field(c.one(1), |e| e.v)],
        )
    });
}

// Rate limiting (docs/language.md 6.12): per key, the first (or last)
// match of each period.
#[test]
fn e_report_first() {
    check(Spec {
        gen_types: &[A, B, B, C],
        partition: true,
        window: Some(4000),
        report: Some((true, 3000)),
        ..base(
            "report_first",
            "pattern P partition by k within 4s report first every 3s {
    a: A
    then b: B where v >= a.v
    emit { x: a.v, y: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Relaxed, |c, e| c.one(0).is_some_and(|a| e.v >= a.v)),
            ],
            |c| vec![field(c.one(0), |e| e.v), field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn e_report_last() {
    check(Spec {
        gen_types: &[A, B, B, C],
        partition: true,
        window: Some(4000),
        report: Some((false, 3000)),
        ..base(
            "report_last",
            "pattern P partition by k within 4s report last every 3s {
    a: A
    then b: B where v >= a.v
    emit { x: a.v, y: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Relaxed, |c, e| c.one(0).is_some_and(|a| e.v >= a.v)),
            ],
            |c| vec![field(c.one(0), |e| e.v), field(c.one(1), |e| e.v)],
        )
    });
}

// Look-back absence (docs/language.md 6.6a): a leading `not` with a time.
#[test]
fn d_lookback_absence() {
    check(Spec {
        gen_types: &[A, B, B, C],
        partition: true,
        window: Some(5000),
        lookback: Some(Absence {
            ty: B,
            pred: |_, e| e.v > 0,
            ms: 2000,
        }),
        ..base(
            "lookback",
            "pattern P partition by k within 5s {
    not B where v > 0 within 2s
    a: A
    then c: C where v >= a.v
    emit { x: a.v, y: c.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("c", C, Relaxed, |c, e| c.one(0).is_some_and(|a| e.v >= a.v)),
            ],
            |c| vec![field(c.one(0), |e| e.v), field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn d_lookback_same_type() {
    check(Spec {
        gen_types: &[A, A, C],
        partition: true,
        lookback: Some(Absence {
            ty: A,
            pred: yes,
            ms: 3000,
        }),
        ..base(
            "lookback_same_type",
            "pattern P partition by k {
    not A within 3s
    a: A
    next c: C
    emit { x: a.v }
}
",
            vec![block("a", A, Strict, yes), block("c", C, Strict, yes)],
            |c| vec![field(c.one(0), |e| e.v)],
        )
    });
}

// Optional fields, `is null` and `??` (docs/language.md 5.3, 5.6): a `D`
// without `v` is no value there; the brute force reads it as `None`.
#[test]
fn b_relaxed_with_no_values() {
    check(Spec {
        gen_types: &[A, D, D, B],
        nulls: true,
        ..base(
            "no_values",
            "pattern P {
    a: A
    then d: D where v is null or v ?? 0 > a.v
    then b: B where d.v is not null or v == a.v
    emit { x: d.v ?? -5, y: d.v + a.v, z: d.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("d", D, Relaxed, |c, e| {
                    c.one(0)
                        .is_some_and(|a| v_of(e).is_none() || v_of(e).unwrap_or(0) > a.v)
                }),
                block("b", B, Relaxed, |c, e| {
                    c.one(1).is_some_and(|d| v_of(d).is_some())
                        || c.one(0).is_some_and(|a| e.v == a.v)
                }),
            ],
            |c| {
                let dv = c.one(1).and_then(v_of);
                let av = c.one(0).map(|a| a.v);
                vec![
                    Out::Int(dv.unwrap_or(-5)),
                    dv.zip(av).map_or(Out::Null, |(d, a)| Out::Int(d + a)),
                    dv.map_or(Out::Null, Out::Int),
                ]
            },
        )
    });
}

// Scalar functions in conditions and in `emit` (docs/language.md 5.5):
// the brute force computes them with Rust's own `abs`, `min`, `max` and
// `round` (halves away from zero).
#[test]
fn b_relaxed_with_functions() {
    check(Spec {
        gen_types: &[A, B, B, C, C, D],
        ..base(
            "functions",
            "pattern P {
    a: A
    then b: B where abs(v - a.v) >= 2 or max(v, a.v) == 0
    then c: C where min(v, b.v) == b.v
    emit { x: abs(b.v - a.v), y: max(a.v, c.v), z: round(b.v / 2.0), w: min(c.v, 2) }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Relaxed, |c, e| {
                    c.one(0)
                        .is_some_and(|a| (e.v - a.v).abs() >= 2 || e.v.max(a.v) == 0)
                }),
                block("c", C, Relaxed, |c, e| {
                    c.one(1).is_some_and(|b| e.v.min(b.v) == b.v)
                }),
            ],
            |c| {
                let (a, b, cc) = (c.one(0), c.one(1), c.one(2));
                match (a, b, cc) {
                    (Some(a), Some(b), Some(cc)) => vec![
                        Out::Int((b.v - a.v).abs()),
                        Out::Int(a.v.max(cc.v)),
                        Out::Float((b.v as f64 / 2.0).round()),
                        Out::Int(cc.v.min(2)),
                    ],
                    _ => vec![Out::Null; 4],
                }
            },
        )
    });
}

#[test]
fn b_relaxed_same_type() {
    check(Spec {
        gen_types: &[A, A, A, B],
        ..base(
            "relaxed_same_type",
            "pattern P {
    a: A
    then b: A where v > a.v
    then c: A where v < b.v
    emit { x: a.v, y: b.v, z: c.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", A, Relaxed, |c, e| c.one(0).is_some_and(|a| e.v > a.v)),
                block("c", A, Relaxed, |c, e| c.one(1).is_some_and(|b| e.v < b.v)),
            ],
            |c| {
                vec![
                    field(c.one(0), |e| e.v),
                    field(c.one(1), |e| e.v),
                    field(c.one(2), |e| e.v),
                ]
            },
        )
    });
}

// (c) skip till any match.
#[test]
fn c_then_any() {
    check(Spec {
        window: Some(6000),
        gen_types: &[A, B, B, C, C, D],
        ..base(
            "then_any",
            "pattern P within 6s {
    a: A
    then any b: B where v != a.v
    then c: C where v > b.v or k == a.k
    emit { x: a.v, y: b.v, z: c.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Any, |c, e| c.one(0).is_some_and(|a| e.v != a.v)),
                block("c", C, Relaxed, |c, e| {
                    c.one(1).is_some_and(|b| e.v > b.v) || c.one(0).is_some_and(|a| e.k == a.k)
                }),
            ],
            |c| {
                vec![
                    field(c.one(0), |e| e.v),
                    field(c.one(1), |e| e.v),
                    field(c.one(2), |e| e.v),
                ]
            },
        )
    });
}

#[test]
fn c_then_any_twice() {
    check(Spec {
        gen_types: &[A, A, B, B, C, C],
        ..base(
            "then_any_twice",
            "pattern P {
    a: A
    then any b: B
    then any c: C where v >= a.v
    emit { x: c.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Any, yes),
                block("c", C, Any, |c, e| c.one(0).is_some_and(|a| e.v >= a.v)),
            ],
            |c| vec![field(c.one(2), |e| e.v)],
        )
    });
}

// (d) negation between blocks.
#[test]
fn d_negation() {
    check(Spec {
        negs: vec![
            Neg {
                before: 1,
                ty: C,
                pred: |c, e| c.one(0).is_some_and(|a| e.k == a.k),
            },
            Neg {
                before: 2,
                ty: C,
                pred: |c, e| c.one(1).is_some_and(|b| e.v > b.v),
            },
        ],
        gen_types: &[A, A, B, B, C, D],
        ..base(
            "negation",
            "pattern P {
    a: A
    not C where k == a.k
    then b: B where v >= a.v
    not C where v > b.v
    then any c: A where v != a.v
    emit { x: a.v, y: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Relaxed, |c, e| c.one(0).is_some_and(|a| e.v >= a.v)),
                block("c", A, Any, |c, e| c.one(0).is_some_and(|a| e.v != a.v)),
            ],
            |c| vec![field(c.one(0), |e| e.v), field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn d_negation_same_type() {
    check(Spec {
        negs: vec![
            Neg {
                before: 1,
                ty: B,
                pred: |_, e| e.v == 0,
            },
            Neg {
                before: 2,
                ty: D,
                pred: |_, e| e.v < 2,
            },
        ],
        gen_types: &[A, B, B, C, D],
        ..base(
            "negation_same_type",
            "pattern P {
    a: A
    not B where v == 0
    then b: B
    not D where v < 2
    then c: C
    emit { x: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Relaxed, yes),
                block("c", C, Relaxed, yes),
            ],
            |c| vec![field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn d_negation_before_group() {
    check(Spec {
        negs: vec![Neg {
            before: 1,
            ty: C,
            pred: |_, e| e.v > 1,
        }],
        window: Some(5000),
        gen_types: &[A, B, B, C, C],
        ..base(
            "negation_before_group",
            "pattern P within 5s {
    a: A
    not C where v > 1
    then any g: B{1,3}
    then c: C
    emit { n: count(g) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 1, Some(3), Any, yes),
                block("c", C, Relaxed, yes),
            ],
            |c| vec![count(&c.vs(1))],
        )
    });
}

// (e) groups.
#[test]
fn e_group_relaxed_aggregates() {
    check(Spec {
        gen_types: &[A, B, B, B, B, C],
        ..base(
            "group_relaxed_aggregates",
            "pattern P {
    a: A
    then g: B{2,} where v > prev.v
    then c: C
    emit { n: count(g), s: sum(g.v), lo: min(g.v), hi: max(g.v), f: first(g.v), l: last(g.v), m: avg(g.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 2, None, Relaxed, |c, e| {
                    c.prev().is_some_and(|p| e.v > p.v)
                }),
                block("c", C, Relaxed, yes),
            ],
            |c| {
                let vs = c.vs(1);
                vec![
                    count(&vs),
                    sum(&vs),
                    min(&vs),
                    max(&vs),
                    first(&vs),
                    last(&vs),
                    avg(&vs),
                ]
            },
        )
    });
}

fn group_any() -> Spec {
    Spec {
        window: Some(8000),
        gen_types: &[A, B, B, B, C, C],
        ..base(
            "group_any",
            "pattern P within 8s {
    a: A
    then any g: B+ where v != prev.v
    then c: C where v >= last(g.v)
    emit { n: count(g), s: sum(g.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 1, None, Any, |c, e| {
                    c.prev().is_some_and(|p| e.v != p.v)
                }),
                block("c", C, Relaxed, |c, e| {
                    c.vs(1).last().is_some_and(|&l| e.v >= l)
                }),
            ],
            |c| vec![count(&c.vs(1)), sum(&c.vs(1))],
        )
    }
}

#[test]
fn e_group_any() {
    check(group_any());
}

#[test]
fn e_group_strict() {
    check(Spec {
        gen_types: &[A, B, B, B, C, D],
        ..base(
            "group_strict",
            "pattern P {
    a: A
    next g: B+ where v >= prev.v
    next c: C
    emit { n: count(g), s: sum(g.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 1, None, Strict, |c, e| {
                    c.prev().is_some_and(|p| e.v >= p.v)
                }),
                block("c", C, Strict, yes),
            ],
            |c| vec![count(&c.vs(1)), sum(&c.vs(1))],
        )
    });
}

#[test]
fn e_group_first_block() {
    check(Spec {
        gen_types: &[A, A, A, B, C],
        ..base(
            "group_first_block",
            "pattern P {
    g: A{2,3}
    then c: C where v < count(g)
    emit { n: count(g), s: sum(g.v), f: first(g.v) }
}
",
            vec![
                group("g", A, 2, Some(3), Strict, yes),
                block("c", C, Relaxed, |c, e| e.v < c.vs(0).len() as i64),
            ],
            |c| vec![count(&c.vs(0)), sum(&c.vs(0)), first(&c.vs(0))],
        )
    });
}

#[test]
fn e_group_star() {
    check(Spec {
        gen_types: &[A, B, B, C, D],
        ..base(
            "group_star",
            "pattern P {
    a: A
    then g: B* where v > 0
    next c: C
    emit { n: count(g), s: sum(g.v), m: avg(g.v), lo: min(g.v), hi: max(g.v), f: first(g.v), l: last(g.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 0, None, Relaxed, |_, e| e.v > 0),
                block("c", C, Strict, yes),
            ],
            |c| {
                let vs = c.vs(1);
                vec![
                    count(&vs),
                    sum(&vs),
                    avg(&vs),
                    min(&vs),
                    max(&vs),
                    first(&vs),
                    last(&vs),
                ]
            },
        )
    });
}

#[test]
fn e_group_bounded_any() {
    check(Spec {
        window: Some(5000),
        gen_types: &[A, B, B, C],
        ..base(
            "group_bounded_any",
            "pattern P within 5s {
    a: A
    then any g: B{1,2} where v != prev.v
    then any c: C
    emit { n: count(g), f: first(g.v), l: last(g.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 1, Some(2), Any, |c, e| {
                    c.prev().is_some_and(|p| e.v != p.v)
                }),
                block("c", C, Any, yes),
            ],
            |c| vec![count(&c.vs(1)), first(&c.vs(1)), last(&c.vs(1))],
        )
    });
}

#[test]
fn e_group_last_block() {
    check(Spec {
        window: Some(4000),
        gen_types: &[A, B, B, B],
        ..base(
            "group_last_block",
            "pattern P within 4s {
    a: A
    then g: B{1,3} where v >= prev.v
    emit { n: count(g), s: sum(g.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 1, Some(3), Relaxed, |c, e| {
                    c.prev().is_some_and(|p| e.v >= p.v)
                }),
            ],
            |c| vec![count(&c.vs(1)), sum(&c.vs(1))],
        )
    });
}

/// The same without `sum`, so that its value on an empty group does not
/// hide other differences.
#[test]
fn e_group_star_structure() {
    check(Spec {
        gen_types: &[A, B, B, C, D],
        ..base(
            "group_star_structure",
            "pattern P {
    a: A
    then g: B* where v > 0
    next c: C
    emit { n: count(g), l: last(g.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 0, None, Relaxed, |_, e| e.v > 0),
                block("c", C, Strict, yes),
            ],
            |c| vec![count(&c.vs(1)), last(&c.vs(1))],
        )
    });
}

// (f) absence at the end.
#[test]
fn f_absence() {
    check(Spec {
        absence: Some(Absence {
            ty: B,
            pred: yes,
            ms: 5000,
        }),
        gen_types: &[A, A, B, C],
        ..base(
            "absence",
            "pattern P {
    a: A
    not B within 5s
    emit { x: a.v }
}
",
            vec![block("a", A, Strict, yes)],
            |c| vec![field(c.one(0), |e| e.v)],
        )
    });
}

#[test]
fn f_absence_after_two() {
    check(Spec {
        absence: Some(Absence {
            ty: C,
            pred: |c, e| c.one(1).is_some_and(|b| e.v == b.v),
            ms: 3000,
        }),
        gen_types: &[A, B, B, C, C],
        ..base(
            "absence_after_two",
            "pattern P {
    a: A
    then b: B where v > a.v
    not C where v == b.v within 3s
    emit { x: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Relaxed, |c, e| c.one(0).is_some_and(|a| e.v > a.v)),
            ],
            |c| vec![field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn f_absence_same_type() {
    check(Spec {
        absence: Some(Absence {
            ty: A,
            pred: |c, e| c.one(0).is_some_and(|h| e.k == h.k),
            ms: 2000,
        }),
        gen_types: &[A, A, A, D],
        keys: 3,
        ..base(
            "absence_same_type",
            "pattern P {
    h: A
    not A where k == h.k within 2s
    emit { x: h.v }
}
",
            vec![block("h", A, Strict, yes)],
            |c| vec![field(c.one(0), |e| e.v)],
        )
    });
}

#[test]
fn f_absence_after_group() {
    check(Spec {
        absence: Some(Absence {
            ty: C,
            pred: |c, e| c.vs(1).last().is_some_and(|&l| e.v <= l),
            ms: 4000,
        }),
        gen_types: &[A, B, B, C],
        ..base(
            "absence_after_group",
            "pattern P {
    a: A
    then any g: B{1,2}
    not C where v <= last(g.v) within 4s
    emit { n: count(g), l: last(g.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 1, Some(2), Any, yes),
            ],
            |c| vec![count(&c.vs(1)), last(&c.vs(1))],
        )
    });
}

// (g) partitions.
#[test]
fn g_partitioned() {
    check(Spec {
        partition: true,
        keys: 3,
        negs: vec![Neg {
            before: 1,
            ty: C,
            pred: yes,
        }],
        gen_types: &[A, A, B, B, C, C, D],
        ..base(
            "partitioned",
            "pattern P partition by k {
    a: A
    not C
    then b: B where v > a.v
    then any c: C where v != b.v
    emit { k: a.k, x: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Relaxed, |c, e| c.one(0).is_some_and(|a| e.v > a.v)),
                block("c", C, Any, |c, e| c.one(1).is_some_and(|b| e.v != b.v)),
            ],
            |c| vec![field(c.one(0), |e| e.k), field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn g_partitioned_absence() {
    check(Spec {
        partition: true,
        keys: 3,
        absence: Some(Absence {
            ty: A,
            pred: yes,
            ms: 3000,
        }),
        gen_types: &[A, A, B, B, D],
        ..base(
            "partitioned_absence",
            "pattern P partition by k {
    a: A
    next b: B
    not A within 3s
    emit { k: a.k }
}
",
            vec![block("a", A, Strict, yes), block("b", B, Strict, yes)],
            |c| vec![field(c.one(0), |e| e.k)],
        )
    });
}

#[test]
fn g_partitioned_skip() {
    check(Spec {
        partition: true,
        keys: 2,
        window: Some(5000),
        skip: Skip::PastLast,
        gen_types: &[A, B, B, C],
        ..base(
            "partitioned_skip",
            "pattern P partition by k within 5s skip past last {
    a: A
    then any g: B+
    then c: C
    emit { n: count(g) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 1, None, Any, yes),
                block("c", C, Relaxed, yes),
            ],
            |c| vec![count(&c.vs(1))],
        )
    });
}

// (h) optional blocks.
#[test]
fn h_optional() {
    check(Spec {
        gen_types: &[A, B, B, C, D],
        ..base(
            "optional",
            "pattern P {
    a: A
    then b: B? where v > a.v
    then c: C
    emit { x: a.v, y: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                group("b", B, 0, Some(1), Relaxed, |c, e| {
                    c.one(0).is_some_and(|a| e.v > a.v)
                }),
                block("c", C, Relaxed, yes),
            ],
            |c| vec![field(c.one(0), |e| e.v), field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn h_optional_strict_then_negation() {
    check(Spec {
        negs: vec![Neg {
            before: 2,
            ty: D,
            pred: yes,
        }],
        gen_types: &[A, B, C, C, D],
        ..base(
            "optional_strict_then_negation",
            "pattern P {
    a: A
    next b: B?
    not D
    then c: C where v >= a.v
    emit { y: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                group("b", B, 0, Some(1), Strict, yes),
                block("c", C, Relaxed, |c, e| c.one(0).is_some_and(|a| e.v >= a.v)),
            ],
            |c| vec![field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn h_optional_missing_value() {
    check(Spec {
        gen_types: &[A, B, B, C, C],
        ..base(
            "optional_missing_value",
            "pattern P {
    a: A
    then any b: B? where v > 0
    next c: C where v != b.v
    emit { y: b.v, z: c.v }
}
",
            vec![
                block("a", A, Strict, yes),
                group("b", B, 0, Some(1), Any, |_, e| e.v > 0),
                // A field of an unbound optional block has no value: false.
                block("c", C, Strict, |c, e| c.one(1).is_some_and(|b| e.v != b.v)),
            ],
            |c| vec![field(c.one(1), |e| e.v), field(c.one(2), |e| e.v)],
        )
    });
}

// (i) windows.
fn windowed(name: &'static str, cep: &'static str, skip: Skip) -> Spec {
    Spec {
        window: Some(4000),
        skip,
        gen_types: &[A, A, B, B, C, C],
        ..base(
            name,
            cep,
            vec![
                block("a", A, Strict, yes),
                block("b", B, Any, |c, e| c.one(0).is_some_and(|a| e.v > a.v)),
                block("c", C, Relaxed, yes),
            ],
            |c| {
                vec![Out::Dur(
                    c.one(2).map_or(0, |e| e.t) - c.one(0).map_or(0, |e| e.t),
                )]
            },
        )
    }
}

#[test]
fn i_window() {
    check(windowed(
        "window",
        "pattern P within 4s {
    a: A
    then any b: B where v > a.v
    then c: C
    emit { d: c.at - a.at }
}
",
        Skip::None,
    ));
}

#[test]
fn i_window_and_absence() {
    check(Spec {
        window: Some(4000),
        absence: Some(Absence {
            ty: C,
            pred: yes,
            ms: 3000,
        }),
        gen_types: &[A, B, B, C],
        ..base(
            "window_and_absence",
            "pattern P within 4s {
    a: A
    then b: B
    not C within 3s
    emit { x: b.v }
}
",
            vec![block("a", A, Strict, yes), block("b", B, Relaxed, yes)],
            |c| vec![field(c.one(1), |e| e.v)],
        )
    });
}

// (j) halts.
#[test]
fn j_halt() {
    check(Spec {
        halts: vec![(D, |_, e| e.v == 0), (B, |_, e| e.v == 3)],
        gen_types: &[A, B, B, C, C, D],
        ..base(
            "halt",
            "pattern P {
    a: A
    then b: B
    then c: C where v > a.v
    halt on D where v == 0
    halt on B where v == 3
    emit { x: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Relaxed, yes),
                block("c", C, Relaxed, |c, e| c.one(0).is_some_and(|a| e.v > a.v)),
            ],
            |c| vec![field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn j_halt_on_start_type() {
    check(Spec {
        halts: vec![(A, |_, e| e.v == 0)],
        window: Some(5000),
        gen_types: &[A, A, B, B],
        ..base(
            "halt_on_start_type",
            "pattern P within 5s {
    a: A
    then any b: B where v >= a.v
    halt on A where v == 0
    emit { x: a.v, y: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Any, |c, e| c.one(0).is_some_and(|a| e.v >= a.v)),
            ],
            |c| vec![field(c.one(0), |e| e.v), field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn j_halt_and_absence() {
    check(Spec {
        halts: vec![(C, |_, e| e.v < 2)],
        absence: Some(Absence {
            ty: B,
            pred: yes,
            ms: 4000,
        }),
        gen_types: &[A, A, B, C, C],
        ..base(
            "halt_and_absence",
            "pattern P {
    a: A
    not B within 4s
    halt on C where v < 2
    emit { x: a.v }
}
",
            vec![block("a", A, Strict, yes)],
            |c| vec![field(c.one(0), |e| e.v)],
        )
    });
}

// (k) skip policies.
#[test]
fn k_window_skip_past_last() {
    check(windowed(
        "window_skip_past_last",
        "pattern P within 4s skip past last {
    a: A
    then any b: B where v > a.v
    then c: C
    emit { d: c.at - a.at }
}
",
        Skip::PastLast,
    ));
}

#[test]
fn k_window_skip_to_next() {
    check(windowed(
        "window_skip_to_next",
        "pattern P within 4s skip to next {
    a: A
    then any b: B where v > a.v
    then c: C
    emit { d: c.at - a.at }
}
",
        Skip::ToNext,
    ));
}

#[test]
fn k_strict_skip_past_last() {
    check(Spec {
        skip: Skip::PastLast,
        name: "strict_skip_past_last",
        cep: "pattern P skip past last {
    a: A
    next b: A where v > a.v
    next c: A where v > b.v
    emit { x: a.v, y: c.v }
}
",
        ..strict()
    });
}

#[test]
fn k_group_skip_to_next() {
    check(Spec {
        skip: Skip::ToNext,
        name: "group_any_skip_to_next",
        cep: "pattern P within 8s skip to next {
    a: A
    then any g: B+ where v != prev.v
    then c: C where v >= last(g.v)
    emit { n: count(g), s: sum(g.v) }
}
",
        ..group_any()
    });
}

#[test]
fn k_absence_skip_past_last() {
    check(Spec {
        skip: Skip::PastLast,
        absence: Some(Absence {
            ty: C,
            pred: yes,
            ms: 3000,
        }),
        gen_types: &[A, A, B, B, C],
        ..base(
            "absence_skip_past_last",
            "pattern P skip past last {
    a: A
    then any b: B
    not C within 3s
    emit { x: b.v }
}
",
            vec![block("a", A, Strict, yes), block("b", B, Any, yes)],
            |c| vec![field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn k_absence_skip_to_next() {
    check(Spec {
        skip: Skip::ToNext,
        absence: Some(Absence {
            ty: C,
            pred: yes,
            ms: 3000,
        }),
        gen_types: &[A, A, B, B, C],
        ..base(
            "absence_skip_to_next",
            "pattern P skip to next {
    a: A
    then any b: B
    not C within 3s
    emit { x: b.v }
}
",
            vec![block("a", A, Strict, yes), block("b", B, Any, yes)],
            |c| vec![field(c.one(1), |e| e.v)],
        )
    });
}

// More combinations.

#[test]
fn m_two_groups_same_type() {
    check(Spec {
        window: Some(6000),
        gen_types: &[A, B, B, B, C],
        ..base(
            "two_groups_same_type",
            "pattern P within 6s {
    a: A
    then any g: B{1,2}
    then h: B+ where v > prev.v
    then c: C
    emit { n: count(g), m: count(h), l: last(h.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 1, Some(2), Any, yes),
                group("h", B, 1, None, Relaxed, |c, e| {
                    c.prev().is_some_and(|p| e.v > p.v)
                }),
                block("c", C, Relaxed, yes),
            ],
            |c| vec![count(&c.vs(1)), count(&c.vs(2)), last(&c.vs(2))],
        )
    });
}

#[test]
fn m_negation_after_group() {
    check(Spec {
        negs: vec![Neg {
            before: 2,
            ty: C,
            pred: |c, e| e.v > c.vs(1).len() as i64,
        }],
        window: Some(6000),
        gen_types: &[A, B, B, C, D],
        ..base(
            "negation_after_group",
            "pattern P within 6s {
    a: A
    then g: B{1,3}
    not C where v > count(g)
    then d: D
    emit { n: count(g), s: sum(g.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 1, Some(3), Relaxed, yes),
                block("d", D, Relaxed, yes),
            ],
            |c| vec![count(&c.vs(1)), sum(&c.vs(1))],
        )
    });
}

#[test]
fn m_exact_count_and_anonymous_blocks() {
    check(Spec {
        window: Some(7000),
        gen_types: &[A, B, B, C, D, D],
        ..base(
            "exact_count_and_anonymous_blocks",
            "pattern P within 7s {
    a: A
    then g: B{2} where v != prev.v
    then any C where v >= a.v
    next D
    emit { f: first(g.v), l: last(g.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 2, Some(2), Relaxed, |c, e| {
                    c.prev().is_some_and(|p| e.v != p.v)
                }),
                block("_3", C, Any, |c, e| c.one(0).is_some_and(|a| e.v >= a.v)),
                block("_4", D, Strict, yes),
            ],
            |c| vec![first(&c.vs(1)), last(&c.vs(1))],
        )
    });
}

#[test]
fn m_optional_group_then_optional() {
    check(Spec {
        window: Some(6000),
        gen_types: &[A, B, B, C, D],
        ..base(
            "optional_group_then_optional",
            "pattern P within 6s {
    a: A
    then g: B{0,2} where v >= a.v
    then any o: C?
    next d: D
    emit { n: count(g), o: o.v, d: d.v }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 0, Some(2), Relaxed, |c, e| {
                    c.one(0).is_some_and(|a| e.v >= a.v)
                }),
                group("o", C, 0, Some(1), Any, yes),
                block("d", D, Strict, yes),
            ],
            |c| {
                vec![
                    count(&c.vs(1)),
                    field(c.one(2), |e| e.v),
                    field(c.one(3), |e| e.v),
                ]
            },
        )
    });
}

#[test]
fn m_negation_of_start_type() {
    check(Spec {
        negs: vec![Neg {
            before: 1,
            ty: A,
            pred: yes,
        }],
        gen_types: &[A, A, B, C],
        ..base(
            "negation_of_start_type",
            "pattern P {
    a: A
    not A
    then b: B where v != a.v
    emit { x: a.v, y: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Relaxed, |c, e| c.one(0).is_some_and(|a| e.v != a.v)),
            ],
            |c| vec![field(c.one(0), |e| e.v), field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn m_group_then_absence_of_same_type() {
    check(Spec {
        absence: Some(Absence {
            ty: B,
            pred: yes,
            ms: 2000,
        }),
        window: Some(6000),
        gen_types: &[A, B, B, C],
        ..base(
            "group_then_absence_of_same_type",
            "pattern P within 6s {
    a: A
    then g: B+
    not B within 2s
    emit { n: count(g), s: sum(g.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 1, None, Relaxed, yes),
            ],
            |c| vec![count(&c.vs(1)), sum(&c.vs(1))],
        )
    });
}

#[test]
fn m_halt_with_groups_partitioned() {
    check(Spec {
        partition: true,
        keys: 3,
        halts: vec![(D, |_, e| e.v > 1)],
        window: Some(6000),
        gen_types: &[A, B, B, C, C, D],
        ..base(
            "halt_with_groups_partitioned",
            "pattern P partition by k within 6s {
    a: A
    then any g: B+ where v >= prev.v
    then c: C
    halt on D where v > 1
    emit { k: a.k, n: count(g) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 1, None, Any, |c, e| {
                    c.prev().is_some_and(|p| e.v >= p.v)
                }),
                block("c", C, Relaxed, yes),
            ],
            |c| vec![field(c.one(0), |e| e.k), count(&c.vs(1))],
        )
    });
}

#[test]
fn m_group_last_skip_past_last() {
    check(Spec {
        skip: Skip::PastLast,
        gen_types: &[A, A, B, B, B],
        ..base(
            "group_last_skip_past_last",
            "pattern P skip past last {
    a: A
    then any g: B{1,3} where v > a.v
    emit { n: count(g), s: sum(g.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 1, Some(3), Any, |c, e| {
                    c.one(0).is_some_and(|a| e.v > a.v)
                }),
            ],
            |c| vec![count(&c.vs(1)), sum(&c.vs(1))],
        )
    });
}

#[test]
fn m_strict_group_skip_to_next() {
    check(Spec {
        skip: Skip::ToNext,
        gen_types: &[A, B, B, B, D],
        ..base(
            "strict_group_skip_to_next",
            "pattern P skip to next {
    a: A
    next g: B{1,3}
    emit { n: count(g), l: last(g.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("g", B, 1, Some(3), Strict, yes),
            ],
            |c| vec![count(&c.vs(1)), last(&c.vs(1))],
        )
    });
}

#[test]
fn m_partitioned_absence_skip_to_next() {
    check(Spec {
        partition: true,
        keys: 2,
        skip: Skip::ToNext,
        absence: Some(Absence {
            ty: C,
            pred: |c, e| c.one(1).is_some_and(|b| e.v == b.v),
            ms: 3000,
        }),
        gen_types: &[A, B, B, C, C],
        ..base(
            "partitioned_absence_skip_to_next",
            "pattern P partition by k skip to next {
    a: A
    then any b: B where v >= a.v
    not C where v == b.v within 3s
    emit { k: a.k, y: b.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Any, |c, e| c.one(0).is_some_and(|a| e.v >= a.v)),
            ],
            |c| vec![field(c.one(0), |e| e.k), field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn m_negations_around_then_any() {
    check(Spec {
        negs: vec![
            Neg {
                before: 1,
                ty: D,
                pred: |_, e| e.v == 0,
            },
            Neg {
                before: 2,
                ty: D,
                pred: |c, e| c.one(1).is_some_and(|b| e.v == b.v),
            },
        ],
        window: Some(6000),
        gen_types: &[A, B, B, C, D, D],
        ..base(
            "negations_around_then_any",
            "pattern P within 6s {
    a: A
    not D where v == 0
    then any b: B
    not D where v == b.v
    then any c: C
    emit { y: b.v, z: c.v }
}
",
            vec![
                block("a", A, Strict, yes),
                block("b", B, Any, yes),
                block("c", C, Any, yes),
            ],
            |c| vec![field(c.one(1), |e| e.v), field(c.one(2), |e| e.v)],
        )
    });
}

// (n) deadlines of several keys at the same instant: the matches they
// complete come out in match order across keys (first event, then later
// events), however the keys' deadlines were scheduled.
#[test]
fn n_equal_deadlines_across_keys() {
    check(Spec {
        partition: true,
        keys: 4,
        absence: Some(Absence {
            ty: B,
            pred: yes,
            ms: 2000,
        }),
        gen_types: &[A, A, A, B],
        ..base(
            "equal_deadlines_across_keys",
            "pattern P partition by k {
    a: A
    not B within 2s
    emit { k: a.k, x: a.v }
}
",
            vec![block("a", A, Strict, yes)],
            |c| vec![field(c.one(0), |e| e.k), field(c.one(0), |e| e.v)],
        )
    });
}

/// Several runs per key with different deadlines, so that a key's next
/// deadline is scheduled only after its earlier one fired, and may then tie
/// with a deadline of another key scheduled long before.
#[test]
fn n_equal_deadlines_rescheduled() {
    check(Spec {
        partition: true,
        keys: 3,
        absence: Some(Absence {
            ty: C,
            pred: yes,
            ms: 2000,
        }),
        gen_types: &[A, B, B, B, C],
        ..base(
            "equal_deadlines_rescheduled",
            "pattern P partition by k {
    a: A
    then any b: B
    not C within 2s
    emit { k: a.k, y: b.v }
}
",
            vec![block("a", A, Strict, yes), block("b", B, Any, yes)],
            |c| vec![field(c.one(0), |e| e.k), field(c.one(1), |e| e.v)],
        )
    });
}

// `on timeout emit` (docs/language.md 6.13): runs whose window closes
// before they complete, once per set of bound events.
#[test]
fn f_timeout_relaxed_group_and_any() {
    check(Spec {
        partition: true,
        window: Some(4000),
        timeout: true,
        gen_types: &[A, B, B, C, D],
        ..base(
            "timeout_relaxed",
            "pattern P partition by k within 4s {
    a: A
    then b: B{1,2} where v >= a.v
    then any c: C where v != a.v
    emit { x: a.v, n: count(b), y: c.v }
    on timeout emit T { x: a.v, n: count(b), y: c.v }
}
",
            vec![
                block("a", A, Strict, yes),
                group("b", B, 1, Some(2), Relaxed, |c, e| {
                    c.one(0).is_some_and(|a| e.v >= a.v)
                }),
                block("c", C, Any, |c, e| c.one(0).is_some_and(|a| e.v != a.v)),
            ],
            |c| {
                vec![
                    field(c.one(0), |e| e.v),
                    count(&c.vs(1)),
                    field(c.one(2), |e| e.v),
                ]
            },
        )
    });
}

#[test]
fn f_timeout_strict_negation_halt() {
    check(Spec {
        partition: true,
        window: Some(5000),
        timeout: true,
        halts: vec![(D, |_, e| e.v == 0)],
        negs: vec![Neg {
            before: 2,
            ty: D,
            pred: |_, e| e.v == 1,
        }],
        gen_types: &[A, B, B, C, D],
        ..base(
            "timeout_strict",
            "pattern P partition by k within 5s {
    halt on D where v == 0
    a: A
    next b: B* where v > prev.v
    not D where v == 1
    then c: C
    emit { x: a.v, n: count(b), y: c.v }
    on timeout emit T { x: a.v, n: count(b), y: c.v }
}
",
            vec![
                block("a", A, Strict, yes),
                group("b", B, 0, None, Strict, |c, e| {
                    c.prev().is_some_and(|p| e.v > p.v)
                }),
                block("c", C, Relaxed, yes),
            ],
            |c| {
                vec![
                    field(c.one(0), |e| e.v),
                    count(&c.vs(1)),
                    field(c.one(2), |e| e.v),
                ]
            },
        )
    });
}

#[test]
fn f_timeout_trailing_group() {
    // A run that stays to grow a trailing group binds what was reported:
    // it does not time out.
    check(Spec {
        partition: true,
        window: Some(4000),
        timeout: true,
        gen_types: &[A, A, B, B, C],
        ..base(
            "timeout_trailing_group",
            "pattern P partition by k within 4s {
    a: A
    then b: B{2,3} where v >= a.v
    emit { x: a.v, n: count(b) }
    on timeout emit T { x: a.v, n: count(b) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("b", B, 2, Some(3), Relaxed, |c, e| {
                    c.one(0).is_some_and(|a| e.v >= a.v)
                }),
            ],
            |c| vec![field(c.one(0), |e| e.v), count(&c.vs(1))],
        )
    });
}

// Alternation (docs/language.md 6.2a): a block of two types, whose
// fields sit at different slots (`C`, `E`), with the key read from `E.id`.
#[test]
fn g_alternation_groups() {
    check(Spec {
        partition: true,
        window: Some(4000),
        gen_types: &[A, B, C, D, E],
        ..base(
            "alternation_groups",
            "pattern P partition by k = E.id within 4s {
    a: A | E
    then b: (B | C){1,2} where v >= prev.v
    next c: E | C where v != a.v
    emit { key: a.k, x: a.v, n: count(b), s: sum(b.v), y: c.v }
}
",
            vec![
                block("a", A, Strict, yes).or(E),
                group("b", B, 1, Some(2), Relaxed, |c, e| {
                    c.prev().is_some_and(|p| e.v >= p.v)
                })
                .or(C),
                block("c", E, Strict, |c, e| c.one(0).is_some_and(|a| e.v != a.v)).or(C),
            ],
            |c| {
                vec![
                    field(c.one(0), |e| e.k),
                    field(c.one(0), |e| e.v),
                    count(&c.vs(1)),
                    sum(&c.vs(1)),
                    field(c.one(2), |e| e.v),
                ]
            },
        )
    });
}

#[test]
fn g_alternation_strict_negation() {
    check(Spec {
        partition: true,
        window: Some(5000),
        negs: vec![Neg {
            before: 1,
            ty: D,
            pred: |c, e| c.one(0).is_some_and(|a| v_of(e) == Some(a.v)),
        }],
        gen_types: &[A, B, C, D, E, E],
        ..base(
            "alternation_strict",
            "pattern P partition by k = E.id within 5s {
    a: E | A where v > 0
    not D where v == a.v
    next b: C | B where v > a.v
    emit { x: a.v, y: b.v, key: b.k }
}
",
            vec![
                block("a", E, Strict, |_, e| e.v > 0).or(A),
                block("b", C, Strict, |c, e| c.one(0).is_some_and(|a| e.v > a.v)).or(B),
            ],
            |c| {
                vec![
                    field(c.one(0), |e| e.v),
                    field(c.one(1), |e| e.v),
                    field(c.one(1), |e| e.k),
                ]
            },
        )
    });
}

// Greedy and reluctant groups, inner contiguity (docs/language.md 6.4a).
fn three(c: &Ctx<'_>) -> Vec<Out> {
    vec![
        field(c.one(0), |e| e.v),
        count(&c.vs(1)),
        sum(&c.vs(1)),
        field(c.one(2), |e| e.v),
    ]
}

#[test]
fn h_greedy_middle() {
    check(Spec {
        partition: true,
        window: Some(5000),
        select: Some((1, true)),
        gen_types: &[A, B, B, B, C],
        ..base(
            "greedy_middle",
            "pattern P partition by k within 5s {
    a: A
    then b: B+ greedy where v >= a.v
    then c: C
    emit { x: a.v, n: count(b), s: sum(b.v), y: c.v }
}
",
            vec![
                block("a", A, Strict, yes),
                group("b", B, 1, None, Relaxed, |c, e| {
                    c.one(0).is_some_and(|a| e.v >= a.v)
                }),
                block("c", C, Relaxed, yes),
            ],
            three,
        )
    });
}

#[test]
fn h_reluctant_then_any() {
    check(Spec {
        partition: true,
        window: Some(5000),
        select: Some((1, false)),
        gen_types: &[A, B, B, C, C],
        ..base(
            "reluctant",
            "pattern P partition by k within 5s {
    a: A
    then b: B{1,3}? where v > prev.v
    then any c: C where v != a.v
    emit { x: a.v, n: count(b), s: sum(b.v), y: c.v }
}
",
            vec![
                block("a", A, Strict, yes),
                group("b", B, 1, Some(3), Relaxed, |c, e| {
                    c.prev().is_some_and(|p| e.v > p.v)
                }),
                block("c", C, Any, |c, e| c.one(0).is_some_and(|a| e.v != a.v)),
            ],
            three,
        )
    });
}

#[test]
fn h_greedy_tail() {
    // At the end, a greedy group grows while the key's next event
    // qualifies.
    check(Spec {
        partition: true,
        window: Some(6000),
        select: Some((1, true)),
        gen_types: &[A, B, B, B, C],
        ..base(
            "greedy_tail",
            "pattern P partition by k within 6s {
    a: A
    then b: B+ greedy where v != 0
    emit { x: a.v, n: count(b), s: sum(b.v) }
}
",
            vec![
                block("a", A, Strict, yes),
                group("b", B, 1, None, Relaxed, |_, e| e.v != 0),
            ],
            |c| vec![field(c.one(0), |e| e.v), count(&c.vs(1)), sum(&c.vs(1))],
        )
    });
}

#[test]
fn h_greedy_head() {
    check(Spec {
        partition: true,
        window: Some(6000),
        select: Some((0, true)),
        gen_types: &[A, A, A, B, C],
        ..base(
            "greedy_head",
            "pattern P partition by k within 6s {
    a: A{1,3} greedy
    then c: C where v > first(a.v)
    emit { n: count(a), s: sum(a.v), y: c.v }
}
",
            vec![
                group("a", A, 1, Some(3), Strict, yes),
                block("c", C, Relaxed, |c, e| {
                    c.vs(0).first().is_some_and(|&f| e.v > f)
                }),
            ],
            |c| vec![count(&c.vs(0)), sum(&c.vs(0)), field(c.one(1), |e| e.v)],
        )
    });
}

#[test]
fn h_inner_consecutive() {
    check(Spec {
        partition: true,
        window: Some(6000),
        gen_types: &[A, B, B, B, C],
        keys: 1,
        ..base(
            "inner_consecutive",
            "pattern P partition by k within 6s {
    a: A
    then b: B{2,3} consecutive where v >= a.v
    then c: C
    emit { x: a.v, n: count(b), s: sum(b.v), y: c.v }
}
",
            vec![
                block("a", A, Strict, yes),
                group("b", B, 2, Some(3), Relaxed, |c, e| {
                    c.one(0).is_some_and(|a| e.v >= a.v)
                })
                .inner(Strict),
                block("c", C, Relaxed, yes),
            ],
            three,
        )
    });
}

#[test]
fn h_inner_any() {
    check(Spec {
        partition: true,
        window: Some(5000),
        gen_types: &[A, B, B, B, C],
        keys: 1,
        ..base(
            "inner_any",
            "pattern P partition by k within 5s {
    a: A
    then b: B{1,2} any where v >= a.v
    next c: C
    emit { x: a.v, n: count(b), s: sum(b.v), y: c.v }
}
",
            vec![
                block("a", A, Strict, yes),
                group("b", B, 1, Some(2), Relaxed, |c, e| {
                    c.one(0).is_some_and(|a| e.v >= a.v)
                })
                .inner(Any),
                block("c", C, Strict, yes),
            ],
            three,
        )
    });
}

// Group sub-patterns (docs/language.md 6.4b), against their unrollings
// (`grouped_matches`). Blocks are numbered in the order they are written,
// group sub-patterns in pre-order (`Ctx::iters`).

#[test]
fn i_group_contiguity() {
    // `then` enters the group and joins its iterations; `next` inside.
    check(Spec {
        window: Some(20_000),
        gen_types: &[A, B, C, D],
        ..grouped(
            "group_contiguity",
            "pattern P within 20s {
    a: A
    then g: (
        x: B where v >= a.v
        next y: C where v != x.v
    ){2,3}
    then z: D
    emit { n: count(g), ys: count(g.y), s: sum(g.y.v), hi: max(g.x.v), zv: z.v }
}
",
            vec![
                blk(block("a", A, Strict, yes)),
                grp(
                    "g",
                    Relaxed,
                    2,
                    Some(3),
                    vec![
                        blk(block("x", B, Relaxed, |c, e| {
                            c.one(0).is_some_and(|a| e.v >= a.v)
                        })),
                        blk(block("y", C, Strict, |c, e| {
                            c.one(1).is_some_and(|x| e.v != x.v)
                        })),
                    ],
                ),
                blk(block("z", D, Relaxed, yes)),
            ],
            |c| {
                vec![
                    c.iters(0),
                    count(&c.agg(2)),
                    sum(&c.agg(2)),
                    max(&c.agg(1)),
                    field(c.one(3), |e| e.v),
                ]
            },
        )
    });
}

#[test]
fn i_group_next_open() {
    // `next` enters the group and joins its iterations strictly; the block
    // after it reads `count(g)`.
    check(Spec {
        partition: true,
        gen_types: &[A, B, B, B, C],
        ..grouped(
            "group_next_open",
            "pattern P partition by k {
    a: A
    next g: (
        x: B
        next y: B where v != x.v
    ){1,}
    next _c: C where v >= count(g)
    emit { n: count(g), s: sum(g.x.v), l: last(g.y.v) }
}
",
            vec![
                blk(block("a", A, Strict, yes)),
                grp(
                    "g",
                    Strict,
                    1,
                    None,
                    vec![
                        blk(block("x", B, Strict, yes)),
                        blk(block("y", B, Strict, |c, e| {
                            c.one(1).is_some_and(|x| e.v != x.v)
                        })),
                    ],
                ),
                blk(block("_c", C, Strict, |c, e| match c.iters(0) {
                    Out::Int(n) => e.v >= n,
                    _ => false,
                })),
            ],
            |c| vec![c.iters(0), sum(&c.agg(1)), last(&c.agg(2))],
        )
    });
}

#[test]
fn i_group_then_any_open() {
    // `then any` enters the group and joins its iterations: forks.
    check(Spec {
        window: Some(6000),
        gen_types: &[A, B, B, C, C, D],
        ..grouped(
            "group_then_any_open",
            "pattern P within 6s {
    a: A
    then any g: (
        x: B where v > a.v
        then y: C
    ){1,}
    then any _d: D where v >= count(g.x)
    emit { n: count(g), xs: sum(g.x.v), ys: max(g.y.v) }
}
",
            vec![
                blk(block("a", A, Strict, yes)),
                grp(
                    "g",
                    Any,
                    1,
                    None,
                    vec![
                        blk(block("x", B, Any, |c, e| {
                            c.one(0).is_some_and(|a| e.v > a.v)
                        })),
                        blk(block("y", C, Relaxed, yes)),
                    ],
                ),
                blk(block("_d", D, Any, |c, e| e.v >= c.agg(1).len() as i64)),
            ],
            |c| vec![c.iters(0), sum(&c.agg(1)), max(&c.agg(2))],
        )
    });
}

#[test]
fn i_group_negations() {
    // Before the group (once), between body items (each iteration), at the
    // end of the body (up to the next bound event, whatever binds it).
    check(Spec {
        window: Some(8000),
        gen_types: &[A, B, C, D, D, B, C],
        ..grouped(
            "group_negations",
            "pattern P within 8s {
    a: A
    not D where v == 0
    then g: (
        x: B
        not A where v == x.v
        then y: C where v >= x.v
        not D where v >= y.v
    ){1,3}
    then e: A
    emit { n: count(g), s: sum(g.y.v), ev: e.v }
}
",
            vec![
                blk(block("a", A, Strict, yes)),
                not(D, |_, e| e.v == 0),
                grp(
                    "g",
                    Relaxed,
                    1,
                    Some(3),
                    vec![
                        blk(block("x", B, Relaxed, yes)),
                        not(A, |c, e| c.one(1).is_some_and(|x| e.v == x.v)),
                        blk(block("y", C, Relaxed, |c, e| {
                            c.one(1).is_some_and(|x| e.v >= x.v)
                        })),
                        not(D, |c, e| c.one(2).is_some_and(|y| e.v >= y.v)),
                    ],
                ),
                blk(block("e", A, Relaxed, yes)),
            ],
            |c| vec![c.iters(0), sum(&c.agg(2)), field(c.one(3), |e| e.v)],
        )
    });
}

#[test]
fn i_group_nested() {
    // A group in a group; the inner body reads the outer iteration's `x`.
    check(Spec {
        partition: true,
        window: Some(10_000),
        gen_types: &[A, A, B, B, C],
        ..grouped(
            "group_nested",
            "pattern P partition by k within 10s {
    a: A
    then g: (
        x: A where v != a.v
        then h: (
            y: B where v >= x.v
        ){1,2}
    ){1,2}
    then _c: C
    emit { n: count(g), hs: count(g.h), ys: count(g.h.y), sy: sum(g.h.y.v), xs: sum(g.x.v) }
}
",
            vec![
                blk(block("a", A, Strict, yes)),
                grp(
                    "g",
                    Relaxed,
                    1,
                    Some(2),
                    vec![
                        blk(block("x", A, Relaxed, |c, e| {
                            c.one(0).is_some_and(|a| e.v != a.v)
                        })),
                        grp(
                            "h",
                            Relaxed,
                            1,
                            Some(2),
                            vec![blk(block("y", B, Relaxed, |c, e| {
                                c.one(1).is_some_and(|x| e.v >= x.v)
                            }))],
                        ),
                    ],
                ),
                blk(block("_c", C, Relaxed, yes)),
            ],
            |c| {
                vec![
                    c.iters(0),
                    c.iters(1),
                    count(&c.agg(2)),
                    sum(&c.agg(2)),
                    sum(&c.agg(1)),
                ]
            },
        )
    });
}

#[test]
fn i_group_nested_split() {
    // The Bs of `y` can be split into iterations of `h` in several ways:
    // one match, with the fewest iterations.
    check(Spec {
        window: Some(8000),
        gen_types: &[A, B, B, B, C],
        ..grouped(
            "group_nested_split",
            "pattern P within 8s {
    a: A
    then g: (
        x: B
        then h: ( y: B+ ){1,2}
    ){1,2}
    then _c: C
    emit { n: count(g), hs: count(g.h), ys: count(g.h.y), l: last(g.h.y.v), xs: sum(g.x.v) }
}
",
            vec![
                blk(block("a", A, Strict, yes)),
                grp(
                    "g",
                    Relaxed,
                    1,
                    Some(2),
                    vec![
                        blk(block("x", B, Relaxed, yes)),
                        grp(
                            "h",
                            Relaxed,
                            1,
                            Some(2),
                            vec![blk(group("y", B, 1, None, Relaxed, yes))],
                        ),
                    ],
                ),
                blk(block("_c", C, Relaxed, yes)),
            ],
            |c| {
                vec![
                    c.iters(0),
                    c.iters(1),
                    count(&c.agg(2)),
                    last(&c.agg(2)),
                    sum(&c.agg(1)),
                ]
            },
        )
    });
}

#[test]
fn i_group_split() {
    // `( x: B+ ){1,3}`: one match per set of Bs, with one iteration.
    check(Spec {
        partition: true,
        window: Some(8000),
        gen_types: &[A, B, B, B, C],
        ..grouped(
            "group_split",
            "pattern P partition by k within 8s {
    a: A
    then g: ( x: B+ where v >= a.v ){1,3}
    then _c: C
    emit { n: count(g), xs: count(g.x), s: sum(g.x.v), l: last(g.x.v) }
}
",
            vec![
                blk(block("a", A, Strict, yes)),
                grp(
                    "g",
                    Relaxed,
                    1,
                    Some(3),
                    vec![blk(group("x", B, 1, None, Relaxed, |c, e| {
                        c.one(0).is_some_and(|a| e.v >= a.v)
                    }))],
                ),
                blk(block("_c", C, Relaxed, yes)),
            ],
            |c| {
                vec![
                    c.iters(0),
                    count(&c.agg(1)),
                    sum(&c.agg(1)),
                    last(&c.agg(1)),
                ]
            },
        )
    });
}

#[test]
fn i_group_optional() {
    // `{0,2}`: a match per number of iterations, none included.
    check(Spec {
        partition: true,
        window: Some(12_000),
        gen_types: &[A, B, C, B, C, D],
        ..grouped(
            "group_optional",
            "pattern P partition by k within 12s {
    a: A
    then o: (
        b: B
        next c: C where v != b.v
    ){0,2}
    then d: D
    emit { n: count(o), nb: count(o.b), s: sum(o.c.v), dv: d.v }
}
",
            vec![
                blk(block("a", A, Strict, yes)),
                grp(
                    "o",
                    Relaxed,
                    0,
                    Some(2),
                    vec![
                        blk(block("b", B, Relaxed, yes)),
                        blk(block("c", C, Strict, |c, e| {
                            c.one(1).is_some_and(|b| e.v != b.v)
                        })),
                    ],
                ),
                blk(block("d", D, Relaxed, yes)),
            ],
            |c| {
                vec![
                    c.iters(0),
                    count(&c.agg(1)),
                    sum(&c.agg(2)),
                    field(c.one(3), |e| e.v),
                ]
            },
        )
    });
}

#[test]
fn i_group_head() {
    // A group that starts the pattern joins its iterations strictly.
    check(Spec {
        window: Some(10_000),
        gen_types: &[A, A, B, B, C],
        ..grouped(
            "group_head",
            "pattern P within 10s {
    g: (
        x: A
        next y: B where v >= x.v
    ){1,2}
    then _c: C where v < count(g)
    emit { n: count(g), s: sum(g.y.v), f: first(g.x.v) }
}
",
            vec![
                grp(
                    "g",
                    Relaxed,
                    1,
                    Some(2),
                    vec![
                        blk(block("x", A, Strict, yes)),
                        blk(block("y", B, Strict, |c, e| {
                            c.one(0).is_some_and(|x| e.v >= x.v)
                        })),
                    ],
                ),
                blk(block("_c", C, Relaxed, |c, e| match c.iters(0) {
                    Out::Int(n) => e.v < n,
                    _ => false,
                })),
            ],
            |c| vec![c.iters(0), sum(&c.agg(1)), first(&c.agg(0))],
        )
    });
}

#[test]
fn i_group_skip_past_last() {
    check(Spec {
        partition: true,
        keys: 1,
        window: Some(12_000),
        skip: Skip::PastLast,
        gen_types: &[A, B, C, B, C, D],
        ..grouped(
            "group_skip_past_last",
            "pattern P partition by k within 12s skip past last {
    a: A
    then g: (
        x: B where v != a.v
        then y: C
    ){1,2}
    then _d: D
    emit { n: count(g), ys: sum(g.y.v) }
}
",
            vec![
                blk(block("a", A, Strict, yes)),
                grp(
                    "g",
                    Relaxed,
                    1,
                    Some(2),
                    vec![
                        blk(block("x", B, Relaxed, |c, e| {
                            c.one(0).is_some_and(|a| e.v != a.v)
                        })),
                        blk(block("y", C, Relaxed, yes)),
                    ],
                ),
                blk(block("_d", D, Relaxed, yes)),
            ],
            |c| vec![c.iters(0), sum(&c.agg(2))],
        )
    });
}

#[test]
fn i_group_skip_to_next() {
    check(Spec {
        window: Some(6000),
        skip: Skip::ToNext,
        gen_types: &[A, B, B, B, D],
        ..grouped(
            "group_skip_to_next",
            "pattern P within 6s skip to next {
    a: A
    then any g: ( x: B+ ){1,2}
    next _d: D
    emit { n: count(g), xs: count(g.x), l: last(g.x.v) }
}
",
            vec![
                blk(block("a", A, Strict, yes)),
                grp(
                    "g",
                    Any,
                    1,
                    Some(2),
                    vec![blk(group("x", B, 1, None, Any, yes))],
                ),
                blk(block("_d", D, Strict, yes)),
            ],
            |c| vec![c.iters(0), count(&c.agg(1)), last(&c.agg(1))],
        )
    });
}
