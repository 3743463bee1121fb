//! Conditions compiled for the matcher's hot path (issue 12, "predicates
//! compiled to typed slot operations").
//!
//! [`eval`] walks an [`Expr`] and makes a [`Value`] at every node: a field
//! read clones its value (a string's reference count is touched), and a
//! string constant is made anew (an allocation) each time. A [`Pred`] is
//! the same condition with its comparisons' operands resolved once: a
//! field is read in place by slot (borrowed, never cloned), a constant is
//! converted once, when the pattern is loaded. What a comparison does not
//! cover (arithmetic, functions, aggregates, `prev`) is evaluated by
//! [`eval`] as before, so every expression the language has compiles.
//!
//! The result is three-valued, as [`eval`]'s is for conditions: `Some(b)`
//! for a truth value, `None` for no value (a null operand, a NaN, values
//! of two types); `and`, `or` and `not` follow the same strong Kleene
//! rules as [`eval`] (docs/language.md, 5.3), so that
//! `Pred::compile(e).holds(s) == eval::holds(e, s)` for every `e` and `s`
//! (tested below on random expressions).

use crate::eval::{compare, eval, Scope};
use crate::value::{Event, Value};
use cep_ir::{BinOp, BindingId, EventId, Expr, Operand, Slot};
use std::borrow::Cow;
use std::cmp::Ordering;

/// A compiled condition.
#[derive(Clone, Debug)]
pub enum Pred {
    /// `lhs op rhs` for `==`, `!=`, `<`, `<=`, `>`, `>=`, `contains`,
    /// `starts_with` and `ends_with`.
    Cmp {
        op: BinOp,
        lhs: Read,
        rhs: Read,
    },
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
    /// `x is null` (`negated: false`) or `x is not null`.
    IsNull {
        arg: Read,
        negated: bool,
    },
    /// Any other condition, evaluated by [`eval`].
    Eval(Expr),
}

/// An operand of a compiled comparison.
#[derive(Clone, Debug)]
pub enum Read {
    /// A constant, converted once.
    Const(Value),
    /// A field of the event being matched, or of the newest event of a
    /// binding (in the current iteration of `group`, if given). `by_type`
    /// as in [`Expr::Field`].
    Field {
        of: Of,
        slot: Slot,
        by_type: Vec<(EventId, Slot)>,
    },
    /// Any other expression, evaluated by [`eval`].
    Eval(Expr),
}

/// Whose field a [`Read::Field`] reads.
#[derive(Clone, Copy, Debug)]
pub enum Of {
    Current,
    Binding(BindingId),
    InIteration {
        binding: BindingId,
        group: BindingId,
    },
}

static NULL: Value = Value::Null;

impl Pred {
    /// Compiles a condition. Never fails: what has no compiled form is
    /// kept for [`eval`].
    pub fn compile(e: &Expr) -> Pred {
        match e {
            Expr::Binary { op, lhs, rhs, .. } => match op {
                BinOp::And => Pred::And(Box::new(Pred::compile(lhs)), Box::new(Pred::compile(rhs))),
                BinOp::Or => Pred::Or(Box::new(Pred::compile(lhs)), Box::new(Pred::compile(rhs))),
                op if op.is_comparison() => Pred::Cmp {
                    op: *op,
                    lhs: Read::compile(lhs),
                    rhs: Read::compile(rhs),
                },
                _ => Pred::Eval(e.clone()),
            },
            Expr::Not(x) => Pred::Not(Box::new(Pred::compile(x))),
            Expr::IsNull { arg, negated } => Pred::IsNull {
                arg: Read::compile(arg),
                negated: *negated,
            },
            _ => Pred::Eval(e.clone()),
        }
    }

    /// True only when the condition evaluates to true (as [`crate::eval::holds`]).
    pub fn holds(&self, s: &Scope) -> bool {
        self.test(s) == Some(true)
    }

    /// The condition's truth value; `None` for no value.
    pub fn test(&self, s: &Scope) -> Option<bool> {
        match self {
            Pred::Cmp { op, lhs, rhs } => match (lhs.get(s), rhs.get(s)) {
                (Some(a), Some(b)) => cmp(*op, a, b),
                _ => cmp(*op, &lhs.read(s), &rhs.read(s)),
            },
            Pred::And(l, r) => match l.test(s) {
                Some(false) => Some(false),
                Some(true) => r.test(s),
                None => match r.test(s) {
                    Some(false) => Some(false),
                    _ => None,
                },
            },
            Pred::Or(l, r) => match l.test(s) {
                Some(true) => Some(true),
                Some(false) => r.test(s),
                None => match r.test(s) {
                    Some(true) => Some(true),
                    _ => None,
                },
            },
            Pred::Not(x) => x.test(s).map(|b| !b),
            Pred::IsNull { arg, negated } => {
                Some(matches!(arg.read(s).as_ref(), Value::Null) != *negated)
            }
            Pred::Eval(e) => match eval(e, s) {
                Value::Bool(b) => Some(b),
                _ => None,
            },
        }
    }
}

/// `a op b` for a comparison operator; `None` for no value.
fn cmp(op: BinOp, a: &Value, b: &Value) -> Option<bool> {
    match op {
        BinOp::Contains | BinOp::StartsWith | BinOp::EndsWith => match (a, b) {
            (Value::Str(x), Value::Str(y)) => Some(match op {
                BinOp::Contains => x.contains(&**y),
                BinOp::StartsWith => x.starts_with(&**y),
                _ => x.ends_with(&**y),
            }),
            _ => None,
        },
        _ => {
            let o = compare(a, b)?;
            Some(match op {
                BinOp::Eq => o == Ordering::Equal,
                BinOp::Ne => o != Ordering::Equal,
                BinOp::Lt => o == Ordering::Less,
                BinOp::Le => o != Ordering::Greater,
                BinOp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            })
        }
    }
}

impl Read {
    fn compile(e: &Expr) -> Read {
        match e {
            Expr::Const(v) => Read::Const(Value::from_ir(v)),
            Expr::Field {
                of, slot, by_type, ..
            } => {
                let of = match of {
                    Operand::Current => Of::Current,
                    Operand::Binding(b) => Of::Binding(*b),
                    Operand::InIteration { binding, group } => Of::InIteration {
                        binding: *binding,
                        group: *group,
                    },
                    // A step's trigger: not in a pattern's conditions.
                    Operand::Trigger(_) => return Read::Eval(e.clone()),
                };
                Read::Field {
                    of,
                    slot: *slot,
                    by_type: by_type.clone(),
                }
            }
            _ => Read::Eval(e.clone()),
        }
    }

    /// The operand's value in place: `None` for an evaluated expression
    /// (see [`Read::read`]).
    #[inline]
    fn get<'a>(&'a self, s: &Scope<'a>) -> Option<&'a Value> {
        match self {
            Read::Const(v) => Some(v),
            Read::Field { of, slot, by_type } => {
                let ev: Option<&'a Event> = match of {
                    Of::Current => s.current,
                    Of::Binding(b) => s.chain.last_of(*b),
                    Of::InIteration { binding, group } => s.chain.last_in(*binding, Some(*group)),
                };
                Some(ev.map_or(&NULL, |ev| {
                    ev.field(if by_type.is_empty() {
                        *slot
                    } else {
                        slot_in(ev, *slot, by_type)
                    })
                }))
            }
            Read::Eval(_) => None,
        }
    }

    /// The operand's value: borrowed from the event or the constant, made
    /// only for an evaluated expression.
    fn read<'a>(&'a self, s: &Scope<'a>) -> Cow<'a, Value> {
        match self {
            Read::Eval(e) => Cow::Owned(eval(e, s)),
            _ => Cow::Borrowed(self.get(s).unwrap_or(&NULL)),
        }
    }
}

/// As `eval`'s: the slot for an event of a binding of several types.
fn slot_in(ev: &Event, slot: Slot, by_type: &[(EventId, Slot)]) -> Slot {
    by_type
        .iter()
        .find(|(t, _)| *t == ev.ty)
        .map_or(slot, |(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::holds;
    use crate::run::Chain;
    use cep_ir::Type;
    use std::sync::Arc;

    use crate::test_rng::Rng;

    /// A number below `n`.
    fn below(r: &mut Rng, n: u64) -> u64 {
        r.next() % n
    }

    const STRS: [&str; 4] = ["", "ab", "abc", "b"];

    /// A value of any type, or none.
    fn value(r: &mut Rng) -> Value {
        match below(r, 8) {
            0 => Value::Null,
            1 => Value::Int(below(r, 5) as i64 - 2),
            2 => Value::Float([f64::NAN, -1.5, 0.0, 2.0, 1.0][below(r, 5) as usize]),
            3 => Value::Str(Arc::from(STRS[below(r, 4) as usize])),
            4 => Value::Bool(below(r, 2) == 0),
            5 => Value::Duration(below(r, 3) as i64 * 1000),
            6 => Value::Time(below(r, 3) as i64),
            _ => Value::Int(1),
        }
    }

    fn constant(r: &mut Rng) -> Expr {
        Expr::Const(match below(r, 6) {
            0 => cep_ir::Value::Int(below(r, 5) as i64 - 2),
            1 => cep_ir::Value::Float([-1.5, 0.0, 2.0][below(r, 3) as usize]),
            2 => cep_ir::Value::Str(STRS[below(r, 4) as usize].to_string()),
            3 => cep_ir::Value::Bool(below(r, 2) == 0),
            4 => cep_ir::Value::Duration(below(r, 3) as i64 * 1000),
            _ => cep_ir::Value::Time(below(r, 3) as i64),
        })
    }

    fn field(r: &mut Rng) -> Expr {
        let of = match below(r, 4) {
            0 | 1 => Operand::Current,
            2 => Operand::Binding(below(r, 3) as u16),
            _ => Operand::InIteration {
                binding: below(r, 3) as u16,
                group: 3,
            },
        };
        let by_type = if below(r, 4) == 0 {
            vec![(1, below(r, 4) as u16)]
        } else {
            Vec::new()
        };
        Expr::Field {
            of,
            // Slot 4 is past every event's fields: no value.
            slot: below(r, 5) as u16,
            ty: Type::Int,
            by_type,
        }
    }

    fn operand(r: &mut Rng, depth: u32) -> Expr {
        match below(r, if depth > 2 { 2 } else { 4 }) {
            0 => constant(r),
            1 => field(r),
            2 => Expr::Binary {
                op: [BinOp::Add, BinOp::Sub, BinOp::Coalesce][below(r, 3) as usize],
                ty: Type::Int,
                lhs: Box::new(operand(r, depth + 1)),
                rhs: Box::new(operand(r, depth + 1)),
            },
            _ => Expr::ToFloat(Box::new(operand(r, depth + 1))),
        }
    }

    fn condition(r: &mut Rng, depth: u32) -> Expr {
        const CMP: [BinOp; 9] = [
            BinOp::Eq,
            BinOp::Ne,
            BinOp::Lt,
            BinOp::Le,
            BinOp::Gt,
            BinOp::Ge,
            BinOp::Contains,
            BinOp::StartsWith,
            BinOp::EndsWith,
        ];
        match below(r, if depth > 3 { 3 } else { 7 }) {
            0 | 1 => Expr::Binary {
                op: CMP[below(r, 9) as usize],
                ty: Type::Int,
                lhs: Box::new(operand(r, depth)),
                rhs: Box::new(operand(r, depth)),
            },
            // A bare operand as a condition: a bool field, or anything.
            2 => operand(r, depth),
            3 => Expr::Not(Box::new(condition(r, depth + 1))),
            4 => Expr::IsNull {
                arg: Box::new(operand(r, depth)),
                negated: below(r, 2) == 0,
            },
            _ => Expr::Binary {
                op: if below(r, 2) == 0 {
                    BinOp::And
                } else {
                    BinOp::Or
                },
                ty: Type::Bool,
                lhs: Box::new(condition(r, depth + 1)),
                rhs: Box::new(condition(r, depth + 1)),
            },
        }
    }

    fn event(r: &mut Rng, seq: u64) -> Arc<Event> {
        let n = below(r, 5) as usize;
        let mut ev = Event::new(
            below(r, 2) as u32,
            0,
            seq,
            (0..n).map(|_| value(r)).collect(),
        );
        ev.seq = seq;
        Arc::new(ev)
    }

    /// The compiled form agrees with `eval` on every condition, in truth
    /// value and in having none: 20,000 random conditions (comparisons
    /// of every kind over constants, fields of the current event and of
    /// bindings, arithmetic; `and`, `or`, `not`, `is null`) over random
    /// events of every value type, nulls, NaN and missing fields.
    #[test]
    fn compiled_conditions_agree_with_eval() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let mut compiled_reads = 0;
        for i in 0..20_000u64 {
            let e = condition(&mut r, 0);
            let current = event(&mut r, 100);
            let mut chain = Chain::default();
            for b in 0..below(&mut r, 4) {
                if b == 1 && below(&mut r, 2) == 0 {
                    chain = chain.push_mark(3, event(&mut r, b));
                }
                chain = chain.push(below(&mut r, 3) as u16, event(&mut r, b));
            }
            let s = Scope {
                current: Some(&current),
                chain: &chain,
                triggers: &[],
            };
            let p = Pred::compile(&e);
            if matches!(p, Pred::Cmp { .. } | Pred::IsNull { .. }) {
                compiled_reads += 1;
            }
            let want = match eval(&e, &s) {
                Value::Bool(b) => Some(b),
                _ => None,
            };
            assert_eq!(p.test(&s), want, "condition {i}: {e:?}");
            assert_eq!(p.holds(&s), holds(&e, &s), "condition {i}: {e:?}");
        }
        // The generator reaches the compiled forms, not only `Eval`.
        assert!(compiled_reads > 5_000, "{compiled_reads}");
    }

    #[test]
    fn a_field_comparison_reads_in_place() {
        // `price > a.price` is one comparison of two field reads.
        let e = Expr::Binary {
            op: BinOp::Gt,
            ty: Type::Float,
            lhs: Box::new(Expr::Field {
                of: Operand::Current,
                slot: 1,
                ty: Type::Float,
                by_type: Vec::new(),
            }),
            rhs: Box::new(Expr::Field {
                of: Operand::Binding(0),
                slot: 1,
                ty: Type::Float,
                by_type: Vec::new(),
            }),
        };
        let p = Pred::compile(&e);
        assert!(matches!(
            p,
            Pred::Cmp {
                lhs: Read::Field {
                    of: Of::Current,
                    ..
                },
                rhs: Read::Field {
                    of: Of::Binding(0),
                    ..
                },
                ..
            }
        ));
        let a = Arc::new(Event::new(0, 0, 1, vec![Value::Null, Value::Float(1.0)]));
        let b = Event::new(0, 0, 2, vec![Value::Null, Value::Float(2.0)]);
        let chain = Chain::default().push(0, a);
        let s = Scope {
            current: Some(&b),
            chain: &chain,
            triggers: &[],
        };
        assert!(p.holds(&s));
    }
}
