//! Type checking of expressions, which also lowers them to IR: names
//! become slots, mixed arithmetic gets explicit conversions, constants are
//! folded.

use crate::env::{Env, EventInfo};
use cep_grammar::ast::{self, ExprKind, UnOp};
use cep_grammar::diagnostic::did_you_mean;
use cep_grammar::{Code, Diagnostic, Span};
use cep_ir::{AggFunc, BindingId, EventId, Expr, Operand, Slot, Type};
use std::cell::Cell;

mod ops;

use ops::{binary, fold_neg, fold_not};
pub use ops::{coerce, lit};

/// A pattern binding as expressions see it.
#[derive(Debug, Clone)]
pub struct BindInfo {
    pub name: String,
    pub span: Span,
    /// Its event type, or the pattern's view of its block (an
    /// alternation, a renamed key: `EventInfo::view`).
    pub event: usize,
    /// Its event types (several for an alternation).
    pub types: Vec<usize>,
    pub group: bool,
    /// A group sub-pattern (docs/language.md 6.4b): it binds no event;
    /// its body's bindings are its children.
    pub sub: bool,
    /// The group sub-pattern it is in.
    pub parent: Option<usize>,
    /// Written by the author (anonymous blocks cannot be referred to).
    pub named: bool,
    pub used: Cell<bool>,
}

/// What names mean where an expression is written.
pub struct Scope<'s, 'a> {
    pub env: &'s Env<'a>,
    /// The event being matched: bare names are its fields.
    pub current: Option<usize>,
    /// The pattern's bindings, in block order.
    pub bindings: &'s [BindInfo],
    /// Bindings with a lower index are bound; later ones are not yet.
    pub bound_upto: usize,
    /// The block whose `where` this is: its own name means the current event.
    pub own: Option<usize>,
    /// Inside a group's `where`: the group and the binding before it.
    pub prev: Option<(usize, Option<usize>)>,
    /// A step's trigger events, with whether each is surely present.
    pub triggers: Option<&'s [(usize, bool)]>,
    /// What the scope is, for messages ("this pattern", "this step").
    pub owner: &'s str,
    /// A `halt on` condition: it sees only the halting event.
    pub halt: bool,
    /// The group sub-patterns the expression is written in, outermost
    /// first: their bindings are seen by name, in the current iteration.
    pub inside: &'s [usize],
}

/// Slots per event type of a field of a view (`cep_ir::Expr::Field`).
type ByType = Vec<(EventId, Slot)>;

pub fn slot(i: usize) -> Slot {
    Slot::try_from(i).unwrap_or(Slot::MAX)
}

pub fn bid(i: usize) -> BindingId {
    BindingId::try_from(i).unwrap_or(BindingId::MAX)
}

impl Scope<'_, '_> {
    /// A binding seen here by its name: outside a group sub-pattern,
    /// its bindings are reached through it (`g.x`).
    fn binding(&self, name: &str) -> Option<usize> {
        self.bindings
            .iter()
            .position(|b| b.named && b.name == name)
            .filter(|&b| self.visible(b))
    }

    fn visible(&self, b: usize) -> bool {
        self.bindings
            .get(b)
            .is_some_and(|x| x.parent.is_none_or(|p| self.inside.contains(&p)))
    }

    /// A binding of that name inside a group sub-pattern the expression
    /// is not in: CEP008, with the way to read it.
    fn hidden(&self, id: &ast::Ident, diags: &mut Vec<Diagnostic>) -> bool {
        let Some(b) = self
            .bindings
            .iter()
            .position(|b| b.named && b.name == id.node)
        else {
            return false;
        };
        self.bindings[b].used.set(true);
        let path = self.path(b);
        diags.push(
            Diagnostic::new(
                Code::GroupNeedsAggregate,
                id.span,
                format!("`{}` is inside the group `{}`", id.node, path.0),
            )
            .label("each iteration of the group binds it again")
            .also(self.bindings[b].span, "bound here")
            .help(format!(
                "outside the group, read it over every iteration with an aggregate: `count({0})`, `last({0}.field)`, `avg({0}.field)`",
                path.1
            )),
        );
        true
    }

    /// The outermost group around `b` and the path to `b` from it.
    fn path(&self, b: usize) -> (String, String) {
        let mut names = vec![self.bindings[b].name.clone()];
        let mut cur = self.bindings[b].parent;
        while let Some(g) = cur.filter(|g| !self.inside.contains(g)) {
            names.push(self.bindings[g].name.clone());
            cur = self.bindings[g].parent;
        }
        names.reverse();
        (names[0].clone(), names.join("."))
    }

    /// A group sub-pattern read as if it were an event: CEP008.
    fn sub_as_event(&self, b: usize, span: Span, diags: &mut Vec<Diagnostic>) {
        let name = &self.bindings[b].name;
        let child = self
            .bindings
            .iter()
            .find(|x| x.parent == Some(b) && x.named)
            .map_or("x".to_string(), |x| x.name.clone());
        diags.push(
            Diagnostic::new(
                Code::GroupNeedsAggregate,
                span,
                format!("`{name}` is a group sub-pattern, not one event"),
            )
            .label("it repeats its body")
            .also(self.bindings[b].span, "the group is bound here")
            .help(format!(
                "read it with an aggregate: `count({name})` (its iterations), `count({name}.{child})`, `last({name}.{child}.field)`"
            )),
        );
    }

    fn event(&self, i: usize) -> Option<&EventInfo> {
        self.env.events.get(i)
    }

    /// Checks a condition: it must be `bool`.
    pub fn condition(&self, e: &ast::Expr, diags: &mut Vec<Diagnostic>) -> Option<Expr> {
        let (x, ty) = self.expr(e, diags)?;
        if ty != Type::Bool {
            diags.push(
                Diagnostic::new(
                    Code::TypeMismatch,
                    e.span,
                    format!("a `where` condition must be `bool`, but this is `{ty}`"),
                )
                .label(format!("this is `{ty}`"))
                .help("compare it with something, e.g. `x > 0`"),
            );
            return None;
        }
        Some(x)
    }

    pub fn expr(&self, e: &ast::Expr, diags: &mut Vec<Diagnostic>) -> Option<(Expr, Type)> {
        match &e.node {
            ExprKind::Lit(l @ ast::Lit::Time(t)) => match cep_ir::time::parse_rfc3339(t) {
                Ok(_) => Some(lit(l)),
                Err(why) => {
                    diags.push(
                        Diagnostic::new(
                            Code::BadLiteral,
                            e.span,
                            format!("`@{t}` is not a time"),
                        )
                        .label(why)
                        .help("a time literal is `@` and an RFC 3339 timestamp: `@2026-01-01T00:00:00Z` or `@2026-01-01T01:00:00+01:00`"),
                    );
                    None
                }
            },
            ExprKind::Lit(l) => Some(lit(l)),
            ExprKind::Paren(x) => self.expr(x, diags),
            ExprKind::Name(id) => self.bare_name(id, diags),
            ExprKind::Field(base, field) => self.field(base, field, e.span, diags),
            ExprKind::Call(f, args) => self.call(f, args, e.span, diags),
            ExprKind::Unary(op, x) => {
                let (x, ty) = self.expr(x, diags)?;
                match (op, ty) {
                    (UnOp::Not, Type::Bool) => Some((fold_not(x), Type::Bool)),
                    (UnOp::Neg, Type::Int | Type::Float | Type::Duration) => {
                        Some((fold_neg(ty, x), ty))
                    }
                    (UnOp::Not, _) => {
                        diags.push(mismatch(
                            e.span,
                            format!("`not` needs a `bool`, but this is `{ty}`"),
                            ty,
                        ));
                        None
                    }
                    (UnOp::Neg, _) => {
                        diags.push(mismatch(
                            e.span,
                            format!("`-` needs a number or a duration, but this is `{ty}`"),
                            ty,
                        ));
                        None
                    }
                }
            }
            ExprKind::IsNull(x, negated) => {
                let (arg, _) = self.expr(x, diags)?;
                Some((
                    Expr::IsNull {
                        arg: Box::new(arg),
                        negated: *negated,
                    },
                    Type::Bool,
                ))
            }
            ExprKind::Binary(op, l, r) => {
                let lhs = self.expr(l, diags);
                let rhs = self.expr(r, diags);
                let ((lx, lt), (rx, rt)) = (lhs?, rhs?);
                binary(*op, (lx, lt, l.span), (rx, rt, r.span), diags)
            }
        }
    }

    fn bare_name(&self, id: &ast::Ident, diags: &mut Vec<Diagnostic>) -> Option<(Expr, Type)> {
        let name = id.node.as_str();
        if let Some(cur) = self.current.and_then(|c| self.event(c).map(|e| (c, e))) {
            let (_, ev) = cur;
            if let Some((s, f)) = ev.field(name) {
                let (s, by_type) = ev.place(s);
                return Some((
                    Expr::Field {
                        of: Operand::Current,
                        slot: slot(s),
                        ty: f.ty,
                        by_type,
                    },
                    f.ty,
                ));
            }
        }
        if let Some(b) = self.binding(name) {
            self.bindings[b].used.set(true);
            let ev = self.event(self.bindings[b].event);
            let example = ev
                .and_then(|e| e.fields.first())
                .map(|f| f.name.as_str())
                .unwrap_or("field");
            diags.push(
                Diagnostic::new(
                    Code::TypeMismatch,
                    id.span,
                    format!("`{name}` is an event, not a value"),
                )
                .label("a binding")
                .help(format!("read one of its fields, e.g. `{name}.{example}`")),
            );
            return None;
        }
        if self.current.is_none() && self.hidden(id, diags) {
            return None;
        }
        if let Some(cur) = self.current {
            let ev = self.event(cur)?;
            if ev.poisoned {
                return None;
            }
            let mut d = Diagnostic::new(
                Code::UnknownField,
                id.span,
                format!("unknown field `{name}` in `{}`", ev.name),
            )
            .label(format!("`{}` has no field `{name}`", ev.name));
            let lower = name.to_ascii_lowercase();
            d = match ev.suggest(name) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None if matches!(lower.as_str(), "true" | "false") => {
                    d.help(format!("keywords are written in lower case: `{lower}`"))
                }
                None if matches!(lower.as_str(), "null" | "nil" | "none" | "undefined") => {
                    d.help("there is no `null`: every field of an event that arrived has a value")
                }
                None => d.help(format!(
                    "the fields of `{}` are {}",
                    ev.name,
                    field_list(ev)
                )),
            };
            diags.push(d);
            return None;
        }
        let mut d = Diagnostic::new(
            Code::UnknownBinding,
            id.span,
            format!("unknown name `{name}`"),
        )
        .label("not defined here");
        d = if self.triggers.is_some() {
            d.help("in a step, read a field of a trigger event by its type: `Event.field`")
        } else {
            d.help("read a field of a binding: `binding.field`")
        };
        diags.push(d);
        None
    }

    fn field(
        &self,
        base: &ast::Expr,
        field: &ast::Ident,
        span: Span,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<(Expr, Type)> {
        let ExprKind::Name(id) = &base.node else {
            // `g.x.f` outside an aggregate.
            if let Some(root) = names(base).and_then(|p| self.binding(&p[0].node)) {
                if self.bindings[root].sub {
                    self.bindings[root].used.set(true);
                    self.sub_as_event(root, span, diags);
                    return None;
                }
            }
            diags.push(
                Diagnostic::new(
                    Code::UnknownBinding,
                    base.span,
                    "only a binding or an event type has fields",
                )
                .label("this is not a name")
                .help("write `binding.field`"),
            );
            return None;
        };
        let name = id.node.as_str();
        // The block's own name means the event being matched.
        if let Some(own) = self.own {
            if self
                .bindings
                .get(own)
                .is_some_and(|b| b.named && b.name == name)
            {
                self.bindings[own].used.set(true);
                let ev = self.current?;
                let (s, ty, by_type) = self.lookup(ev, field, diags)?;
                return Some((
                    Expr::Field {
                        of: Operand::Current,
                        slot: s,
                        ty,
                        by_type,
                    },
                    ty,
                ));
            }
        }
        if let Some(b) = self.binding(name) {
            let info = &self.bindings[b];
            info.used.set(true);
            if self.halt {
                diags.push(
                    Diagnostic::new(
                        Code::UnknownBinding,
                        id.span,
                        format!("a `halt on` condition cannot read `{name}`"),
                    )
                    .label("halts apply in every state, before any binding exists")
                    .help("a halt condition reads only the fields of the halting event"),
                );
                return None;
            }
            if b >= self.bound_upto {
                diags.push(
                    Diagnostic::new(
                        Code::UnknownBinding,
                        id.span,
                        format!("`{name}` is used before it is bound"),
                    )
                    .label("not bound yet at this point")
                    .also(info.span, "bound here, later in the pattern")
                    .help("a condition can only refer to blocks before it"),
                );
                return None;
            }
            if info.sub {
                self.sub_as_event(b, span, diags);
                return None;
            }
            if info.group {
                self.lookup(info.event, field, diags)?;
                diags.push(
                    Diagnostic::new(Code::GroupNeedsAggregate, span, format!("`{name}` is a group of events, not one event"))
                        .label("a group holds several events")
                        .also(info.span, "the group is bound here")
                        .help(format!(
                            "use an aggregate: `last({name}.{0})`, `avg({name}.{0})`, `count({name})`, ...",
                            field.node
                        )),
                );
                return None;
            }
            let (s, ty, by_type) = self.lookup(info.event, field, diags)?;
            // Inside a group sub-pattern: its current iteration's event.
            let of = match info.parent {
                Some(g) => Operand::InIteration {
                    binding: bid(b),
                    group: bid(g),
                },
                None => Operand::Binding(bid(b)),
            };
            return Some((
                Expr::Field {
                    of,
                    slot: s,
                    ty,
                    by_type,
                },
                ty,
            ));
        }
        if self.hidden(id, diags) {
            return None;
        }
        if name == "prev" {
            let Some((group, fallback)) = self.prev else {
                diags.push(
                    Diagnostic::new(Code::NotAGroup, id.span, "`prev` is only defined inside the `where` of a group")
                        .label("no group here")
                        .help("`prev` is the previous event of a quantified block such as `ups: Temperature+`"),
                );
                return None;
            };
            let gev = self.bindings.get(group)?.event;
            let (s, ty, mut by_type) = self.lookup(gev, field, diags)?;
            let fb = match fallback {
                None => None,
                Some(fbi) => {
                    let fbev = self.bindings.get(fbi)?.event;
                    let ev = self.event(fbev)?;
                    match ev.field(&field.node) {
                        Some((fs, f)) if f.ty == ty => {
                            // One table serves the group's events and the
                            // fallback's (a type has one slot per name).
                            let (fs, fb_types) = ev.place(fs);
                            for x in fb_types {
                                if !by_type.iter().any(|y| y.0 == x.0) {
                                    by_type.push(x);
                                }
                            }
                            Some((bid(fbi), slot(fs)))
                        }
                        Some((_, f)) => {
                            diags.push(
                                Diagnostic::new(Code::TypeMismatch, field.span, format!("`prev.{}` has two types", field.node))
                                    .label(format!("`{ty}` in the group, `{}` in the block before it", f.ty))
                                    .note("for the group's first event, `prev` is the event of the block before the group"),
                            );
                            return None;
                        }
                        None => {
                            if ev.poisoned {
                                return None;
                            }
                            diags.push(
                                Diagnostic::new(Code::UnknownField, field.span, format!("`{}` has no field `{}`", ev.name, field.node))
                                    .label(format!("`prev` is a `{}` for the group's first event", ev.name))
                                    .note("for the group's first event, `prev` is the event of the block before the group"),
                            );
                            return None;
                        }
                    }
                }
            };
            return Some((
                Expr::Prev {
                    group: bid(group),
                    slot: s,
                    fallback: fb,
                    ty,
                    by_type,
                    within: self.bindings.get(group).and_then(|g| g.parent).map(bid),
                },
                ty,
            ));
        }
        if let Some(trig) = self.triggers {
            if let Some(ev) = self.env.event(name) {
                match trig.iter().find(|(e, _)| *e == ev) {
                    Some((_, true)) => {
                        let (s, ty, by_type) = self.lookup(ev, field, diags)?;
                        return Some((
                            Expr::Field {
                                of: Operand::Trigger(crate::env::Env::event_id(ev)),
                                slot: s,
                                ty,
                                by_type,
                            },
                            ty,
                        ));
                    }
                    Some((_, false)) => {
                        diags.push(
                            Diagnostic::new(Code::NotPresent, id.span, format!("`{name}` may be absent when this step runs"))
                                .label("not in every alternative of the trigger")
                                .help("with `or`, only events in every alternative can be read; use `and`, or split the step"),
                        );
                        return None;
                    }
                    None => {
                        diags.push(
                            Diagnostic::new(
                                Code::UnknownBinding,
                                id.span,
                                format!("`{name}` does not trigger this step"),
                            )
                            .label("not in the step's `on` trigger")
                            .help(format!(
                                "a step can read the events of its trigger; add `{name}` to `on`"
                            )),
                        );
                        return None;
                    }
                }
            }
        }
        let mut d = Diagnostic::new(
            Code::UnknownBinding,
            id.span,
            format!("unknown binding `{name}`"),
        )
        .label(format!("{} has no binding `{name}`", self.owner));
        if self.env.event(name).is_some() && self.triggers.is_none() {
            d = d.help(format!(
                "`{name}` is an event type; bind it in a block (`x: {name}`) and write `x.{}`",
                field.node
            ));
        } else if let Some(s) = did_you_mean(
            name,
            self.bindings
                .iter()
                .filter(|b| b.named)
                .map(|b| b.name.as_str())
                .chain(
                    self.triggers
                        .into_iter()
                        .flatten()
                        .filter_map(|(e, _)| self.event(*e).map(|x| x.name.as_str())),
                ),
        ) {
            d = d.help(format!("did you mean `{s}`?"));
        }
        diags.push(d);
        None
    }

    /// A field of an event type or of a view (`EventInfo::view`): its
    /// slot, type, and slots per type (`cep_ir::Expr::Field`).
    fn lookup(
        &self,
        ev: usize,
        field: &ast::Ident,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<(Slot, Type, ByType)> {
        let info = self.event(ev)?;
        if let Some((s, f)) = info.field(&field.node) {
            let (s, by_type) = info.place(s);
            return Some((slot(s), f.ty, by_type));
        }
        if info.poisoned {
            return None;
        }
        if let Some(members) = info.view.as_ref().filter(|m| m.len() > 1) {
            // Every type has it, with different types?
            let typed: Option<Vec<String>> = members
                .iter()
                .map(|(m, _)| {
                    let e = self.event(*m)?;
                    let (_, f) = e.field(&field.node)?;
                    Some(format!("`{}` in `{}`", f.ty, e.name))
                })
                .collect();
            let mut d = match typed {
                Some(types) => Diagnostic::new(
                    Code::UnknownField,
                    field.span,
                    format!("`{}` has different types in `{}`", field.node, info.name),
                )
                .label(types.join(", ")),
                None => Diagnostic::new(
                    Code::UnknownField,
                    field.span,
                    format!(
                        "`{}` is not a field of every type of `{}`",
                        field.node, info.name
                    ),
                )
                .label(format!("an event of `{}` may lack it", info.name)),
            };
            d = if info.fields.is_empty() {
                d.help("the types have no field in common (same name and type)")
            } else {
                d.help(format!(
                    "an alternation has the fields common to its types (same name and type): {}",
                    field_list(info)
                ))
            };
            diags.push(d);
            return None;
        }
        let mut d = Diagnostic::new(
            Code::UnknownField,
            field.span,
            format!("unknown field `{}` in `{}`", field.node, info.name),
        )
        .label(format!("`{}` has no field `{}`", info.name, field.node));
        d = match info.suggest(&field.node) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!(
                "the fields of `{}` are {}",
                info.name,
                field_list(info)
            )),
        };
        diags.push(d);
        None
    }

    fn call(
        &self,
        f: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<(Expr, Type)> {
        // `min` and `max` with one argument are aggregates; with two, and
        // every other scalar function, a function of values.
        if let Some(sf) = cep_ir::Func::from_name(&f.node)
            .filter(|sf| !matches!(sf, cep_ir::Func::Min | cep_ir::Func::Max) || args.len() != 1)
        {
            return self.scalar(sf, f, args, span, diags);
        }
        let Some(func) = AggFunc::from_name(&f.node) else {
            let mut d = Diagnostic::new(
                Code::UnknownFunction,
                f.span,
                format!("unknown function `{}`", f.node),
            )
            .label("not a function");
            let synonym = match f.node.to_ascii_lowercase().as_str() {
                "average" | "mean" => Some("avg"),
                "total" => Some("sum"),
                "minimum" => Some("min"),
                "maximum" => Some("max"),
                "length" | "size" | "char_length" => Some("len"),
                "lowercase" | "tolower" | "lcase" => Some("lower"),
                "uppercase" | "toupper" | "ucase" => Some("upper"),
                "regexp_like" | "rlike" | "regex" | "like" => Some("matches"),
                "truncate" | "trunc" => Some("floor"),
                "ceiling" => Some("ceil"),
                _ => None,
            };
            let known: Vec<&str> = AggFunc::NAMES
                .iter()
                .chain(cep_ir::Func::NAMES)
                .copied()
                .collect();
            d = match synonym.or_else(|| did_you_mean(&f.node, known.iter().copied())) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(
                    "the aggregates are count, sum, avg, min, max, first and last; the functions \
                     abs, round, floor, ceil, min, max, concat, lower, upper, len and matches",
                ),
            };
            diags.push(d);
            return None;
        };
        let fname = func.name();
        let [arg] = args else {
            let shape = if func == AggFunc::Count {
                "count(group)".to_string()
            } else {
                format!("{fname}(group.field)")
            };
            diags.push(
                Diagnostic::new(
                    Code::TypeMismatch,
                    span,
                    format!("`{fname}` takes one argument, not {}", args.len()),
                )
                .label("wrong number of arguments")
                .help(format!("write `{shape}`")),
            );
            return None;
        };
        // The group: a name, or a path into group sub-patterns (`g.h.y`);
        // the field after it.
        let (path_expr, field) = match (&arg.node, func) {
            (_, AggFunc::Count) => (arg, None),
            (ExprKind::Field(base, fld), _) => (&**base, Some(fld)),
            _ => return self.agg_shape(func, arg.span, diags),
        };
        let Some(path) = names(path_expr) else {
            return self.agg_shape(func, arg.span, diags);
        };
        let gname = path[0];
        let Some(first) = self.binding(&gname.node) else {
            if self.hidden(gname, diags) {
                return None;
            }
            let mut d = Diagnostic::new(
                Code::UnknownBinding,
                gname.span,
                format!("unknown binding `{}`", gname.node),
            )
            .label(format!("{} has no binding `{}`", self.owner, gname.node));
            if let Some(s) = did_you_mean(
                &gname.node,
                self.bindings
                    .iter()
                    .filter(|b| b.group)
                    .map(|b| b.name.as_str()),
            ) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
            return None;
        };
        self.bindings[first].used.set(true);
        let mut b = first;
        for seg in &path[1..] {
            if !self.bindings[b].sub {
                return self.agg_shape(func, arg.span, diags);
            }
            let child = self
                .bindings
                .iter()
                .position(|x| x.parent == Some(b) && x.named && x.name == seg.node);
            let Some(c) = child else {
                let names: Vec<&str> = self
                    .bindings
                    .iter()
                    .filter(|x| x.parent == Some(b) && x.named)
                    .map(|x| x.name.as_str())
                    .collect();
                diags.push(
                    Diagnostic::new(
                        Code::UnknownBinding,
                        seg.span,
                        format!(
                            "the group `{}` has no binding `{}`",
                            self.bindings[b].name, seg.node
                        ),
                    )
                    .label("not in the group's body")
                    .help(if names.is_empty() {
                        "its body binds no name".to_string()
                    } else {
                        format!(
                            "its body binds {}",
                            names
                                .iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }),
                );
                return None;
            };
            self.bindings[c].used.set(true);
            b = c;
        }
        let info = &self.bindings[b];
        let through = path.len() > 1;
        if !info.group && !through {
            diags.push(
                Diagnostic::new(Code::NotAGroup, gname.span, format!("`{}` is not a group", gname.node))
                    .label("one event, not a group")
                    .also(info.span, "bound here without a repeating quantifier")
                    .help("aggregates take a quantified block such as `ups: Temperature+` or `ups: Temperature{2,}`"),
            );
            return None;
        }
        if info.sub && field.is_some() {
            self.sub_as_event(b, arg.span, diags);
            return None;
        }
        // Complete here: bound before, and not a group the expression is in.
        if first >= self.bound_upto || b >= self.bound_upto || self.inside.contains(&first) {
            diags.push(
                Diagnostic::new(
                    Code::UnknownBinding,
                    gname.span,
                    format!("the group `{}` is not complete here", gname.node),
                )
                .label("aggregates can read a group only after it")
                .also(self.bindings[first].span, "the group is bound here")
                .help(if self.inside.contains(&first) {
                    "inside a group, its own bindings are read by name, in the current iteration"
                } else {
                    "use `prev` inside the group's own condition"
                }),
            );
            return None;
        }
        // Inside a group sub-pattern, over its current iteration.
        let within = self.bindings[first].parent.map(bid);
        let (s, fty) = match field {
            None => (None, Type::Int),
            Some(fld) => {
                let (s, t, by_type) = self.lookup(info.event, fld, diags)?;
                (Some((s, by_type)), t)
            }
        };
        let ty = match func {
            AggFunc::Count => Type::Int,
            AggFunc::Sum => match fty {
                Type::Int | Type::Float | Type::Duration => fty,
                _ => return self.agg_type(func, fty, arg.span, "a number or a duration", diags),
            },
            AggFunc::Avg => match fty {
                Type::Int | Type::Float => Type::Float,
                Type::Duration => Type::Duration,
                _ => return self.agg_type(func, fty, arg.span, "a number or a duration", diags),
            },
            AggFunc::Min | AggFunc::Max => match fty {
                Type::Bool => {
                    return self.agg_type(func, fty, arg.span, "a value that has an order", diags)
                }
                t => t,
            },
            AggFunc::First | AggFunc::Last => fty,
        };
        Some((
            Expr::Agg {
                func,
                binding: bid(b),
                slot: s.as_ref().map(|x| x.0),
                ty,
                by_type: s.map(|x| x.1).unwrap_or_default(),
                within,
            },
            ty,
        ))
    }

    /// A scalar function call: its arguments typed, their number and
    /// types checked (CEP005), `matches`'s pattern compiled (CEP030).
    fn scalar(
        &self,
        func: cep_ir::Func,
        f: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<(Expr, Type)> {
        use cep_ir::Func;
        let name = func.name();
        let (want, shape): (std::ops::RangeInclusive<usize>, &str) = match func {
            Func::Abs | Func::Round | Func::Floor | Func::Ceil => (1..=1, "(x)"),
            Func::Min | Func::Max => (2..=2, "(a, b)"),
            Func::Concat => (2..=usize::MAX, "(a, b, ...)"),
            Func::Lower | Func::Upper | Func::Len => (1..=1, "(text)"),
            Func::Matches => (2..=2, "(text, \"regex\")"),
        };
        if !want.contains(&args.len()) {
            diags.push(
                Diagnostic::new(
                    Code::TypeMismatch,
                    span,
                    format!(
                        "`{name}` takes {}, not {}",
                        match func {
                            Func::Concat => "two or more arguments".to_string(),
                            _ if *want.start() == 1 => "one argument".to_string(),
                            _ => "two arguments".to_string(),
                        },
                        args.len()
                    ),
                )
                .label("wrong number of arguments")
                .help(format!("write `{name}{shape}`")),
            );
            return None;
        }
        let mut typed = Vec::new();
        let mut ok = true;
        for a in args {
            match self.expr(a, diags) {
                Some(x) => typed.push(x),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let bad = |i: usize, t: Type, what: &str, diags: &mut Vec<Diagnostic>| {
            let an = if t == Type::Int { "an" } else { "a" };
            diags.push(
                Diagnostic::new(
                    Code::TypeMismatch,
                    args[i].span,
                    format!("`{name}` takes {what}, not {an} `{t}`"),
                )
                .label(format!("{an} `{t}`"))
                .also(f.span, format!("`{name}{shape}`")),
            );
        };
        let ty = match func {
            Func::Abs => match typed[0].1 {
                t @ (Type::Int | Type::Float | Type::Duration) => t,
                t => {
                    bad(0, t, "a number or a duration", diags);
                    return None;
                }
            },
            Func::Round | Func::Floor | Func::Ceil => match typed[0].1 {
                t @ (Type::Int | Type::Float) => t,
                t => {
                    bad(0, t, "a number", diags);
                    return None;
                }
            },
            Func::Min | Func::Max => {
                let (ta, tb) = (typed[0].1, typed[1].1);
                let t = match (ta, tb) {
                    (a, b) if a == b && a != Type::Bool => a,
                    (Type::Int, Type::Float) | (Type::Float, Type::Int) => Type::Float,
                    (Type::Bool, _) => {
                        bad(0, ta, "two values of one ordered type", diags);
                        return None;
                    }
                    _ => {
                        diags.push(
                            Diagnostic::new(
                                Code::TypeMismatch,
                                span,
                                format!(
                                    "`{name}` of {} `{ta}` and {} `{tb}`",
                                    if ta == Type::Int { "an" } else { "a" },
                                    if tb == Type::Int { "an" } else { "a" }
                                ),
                            )
                            .label("not one type")
                            .help("both arguments have one type (an int and a float make a float)"),
                        );
                        return None;
                    }
                };
                for x in typed.iter_mut() {
                    let from = x.1;
                    x.0 = ops::coerce(x.0.clone(), from, t)?;
                    x.1 = t;
                }
                t
            }
            Func::Concat | Func::Lower | Func::Upper | Func::Len | Func::Matches => {
                let texts = if func == Func::Matches {
                    1
                } else {
                    typed.len()
                };
                for (i, x) in typed.iter().enumerate().take(texts) {
                    if x.1 != Type::Str {
                        bad(i, x.1, "text (`str`)", diags);
                        return None;
                    }
                }
                match func {
                    Func::Len => Type::Int,
                    Func::Matches => Type::Bool,
                    _ => Type::Str,
                }
            }
        };
        if func == Func::Matches {
            let lit = match &args[1].node {
                ExprKind::Lit(ast::Lit::Str(s)) => s,
                _ => {
                    diags.push(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            args[1].span,
                            "the regular expression of `matches` is a string literal",
                        )
                        .label("not a literal")
                        .help("write it in quotes: `matches(path, \"^/api/\")`"),
                    );
                    return None;
                }
            };
            if let Err(e) = regex::Regex::new(lit) {
                let why = match &e {
                    regex::Error::Syntax(s) => s.lines().last().unwrap_or("").trim().to_string(),
                    other => other.to_string(),
                };
                diags.push(
                    Diagnostic::new(
                        Code::BadRegex,
                        args[1].span,
                        "this regular expression does not compile",
                    )
                    .label(why)
                    .help("the syntax is the regex crate's (docs.rs/regex); in a string a backslash is written twice: `\"\\\\d+\"` for `\\d+`"),
                );
                return None;
            }
        }
        let args = typed.into_iter().map(|(e, _)| e).collect();
        Some((Expr::Call { func, args, ty }, ty))
    }

    fn agg_shape(
        &self,
        func: AggFunc,
        span: Span,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<(Expr, Type)> {
        let shape = if func == AggFunc::Count {
            "count(group)".to_string()
        } else {
            format!("{}(group.field)", func.name())
        };
        diags.push(
            Diagnostic::new(
                Code::NotAGroup,
                span,
                format!("`{}` needs a group", func.name()),
            )
            .label("not a group")
            .help(format!("write `{shape}`")),
        );
        None
    }

    fn agg_type(
        &self,
        func: AggFunc,
        ty: Type,
        span: Span,
        need: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<(Expr, Type)> {
        diags.push(
            Diagnostic::new(
                Code::TypeMismatch,
                span,
                format!("`{}` needs {need}, but this is `{ty}`", func.name()),
            )
            .label(format!("this is `{ty}`")),
        );
        None
    }
}

/// `g`, `g.h`, `g.h.y`: the names of a path, or `None`.
fn names(e: &ast::Expr) -> Option<Vec<&ast::Ident>> {
    match &e.node {
        ExprKind::Name(id) => Some(vec![id]),
        ExprKind::Field(base, f) => {
            let mut v = names(base)?;
            v.push(f);
            Some(v)
        }
        _ => None,
    }
}

fn field_list(ev: &EventInfo) -> String {
    if ev.fields.is_empty() {
        return "none".into();
    }
    ev.fields
        .iter()
        .map(|f| format!("`{}`", f.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mismatch(span: Span, msg: String, ty: Type) -> Diagnostic {
    Diagnostic::new(Code::TypeMismatch, span, msg).label(format!("this is `{ty}`"))
}
