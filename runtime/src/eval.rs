//! Evaluation of IR expressions. Pure: an expression, the event being
//! matched and a run's bindings give a value.

use crate::run::Chain;
use crate::value::{Event, Value};
use cep_ir::{AggFunc, BinOp, BindingId, EventId, Expr, Func, Operand, Slot, Type};
use std::cmp::Ordering;
use std::sync::Arc;

/// What an expression can see.
pub struct Scope<'a> {
    /// The event being matched.
    pub current: Option<&'a Event>,
    /// The run's bound events, newest first.
    pub chain: &'a Chain,
    /// A step's trigger events, by event type.
    pub triggers: &'a [Arc<Event>],
}

/// A condition: true only when it evaluates to `true` (no value is false).
pub fn holds(e: &Expr, s: &Scope) -> bool {
    matches!(eval(e, s), Value::Bool(true))
}

pub fn eval(e: &Expr, s: &Scope) -> Value {
    match e {
        Expr::Const(v) => Value::from_ir(v),
        Expr::Field {
            of, slot, by_type, ..
        } => match of {
            Operand::Current => s
                .current
                .map(|c| c.field(slot_in(c, *slot, by_type)).clone())
                .unwrap_or(Value::Null),
            Operand::Binding(b) => s
                .chain
                .last_of(*b)
                .map(|ev| ev.field(slot_in(ev, *slot, by_type)).clone())
                .unwrap_or(Value::Null),
            Operand::InIteration { binding, group } => s
                .chain
                .last_in(*binding, Some(*group))
                .map(|ev| ev.field(slot_in(ev, *slot, by_type)).clone())
                .unwrap_or(Value::Null),
            Operand::Trigger(t) => s
                .triggers
                .iter()
                .find(|ev| ev.ty == *t)
                .map(|ev| ev.field(*slot).clone())
                .unwrap_or(Value::Null),
        },
        Expr::Prev {
            group,
            slot,
            fallback,
            by_type,
            within,
            ..
        } => match s.chain.last_in(*group, *within) {
            Some(ev) => ev.field(slot_in(ev, *slot, by_type)).clone(),
            None => match fallback {
                Some((b, fs)) => s
                    .chain
                    .last_in(*b, *within)
                    .map(|ev| ev.field(slot_in(ev, *fs, by_type)).clone())
                    .unwrap_or(Value::Null),
                None => Value::Null,
            },
        },
        Expr::Agg {
            func,
            binding,
            slot,
            ty,
            by_type,
            within,
        } => aggregate(*func, *binding, *slot, by_type, *ty, s.chain, *within),
        Expr::Not(x) => match eval(x, s) {
            Value::Bool(b) => Value::Bool(!b),
            _ => Value::Null,
        },
        Expr::Neg { arg, .. } => match eval(arg, s) {
            Value::Int(i) => i.checked_neg().map(Value::Int).unwrap_or(Value::Null),
            Value::Float(f) => Value::Float(-f),
            Value::Duration(d) => d.checked_neg().map(Value::Duration).unwrap_or(Value::Null),
            _ => Value::Null,
        },
        Expr::ToFloat(x) => match eval(x, s) {
            Value::Int(i) => Value::Float(i as f64),
            Value::Float(f) => Value::Float(f),
            _ => Value::Null,
        },
        Expr::Binary { op, lhs, rhs, .. } => match op {
            BinOp::And => match eval(lhs, s) {
                Value::Bool(false) => Value::Bool(false),
                Value::Bool(true) => match eval(rhs, s) {
                    Value::Bool(b) => Value::Bool(b),
                    _ => Value::Null,
                },
                _ => match eval(rhs, s) {
                    Value::Bool(false) => Value::Bool(false),
                    _ => Value::Null,
                },
            },
            BinOp::Or => match eval(lhs, s) {
                Value::Bool(true) => Value::Bool(true),
                Value::Bool(false) => match eval(rhs, s) {
                    Value::Bool(b) => Value::Bool(b),
                    _ => Value::Null,
                },
                _ => match eval(rhs, s) {
                    Value::Bool(true) => Value::Bool(true),
                    _ => Value::Null,
                },
            },
            _ => binary(*op, &eval(lhs, s), &eval(rhs, s)),
        },
        Expr::Call { func, args, .. } => call(*func, args, s),
        Expr::IsNull { arg, negated } => {
            Value::Bool(matches!(eval(arg, s), Value::Null) != *negated)
        }
    }
}

/// A scalar function: every argument evaluated, no value if any has
/// none (or the result overflows).
fn call(func: Func, args: &[Expr], s: &Scope) -> Value {
    let mut vals: [Value; 2] = [Value::Null, Value::Null];
    if func == Func::Concat {
        let mut out = String::new();
        for a in args {
            match eval(a, s) {
                Value::Str(x) => out.push_str(&x),
                _ => return Value::Null,
            }
        }
        return Value::Str(Arc::from(out));
    }
    for (slot, a) in vals.iter_mut().zip(args) {
        *slot = eval(a, s);
        if matches!(slot, Value::Null) {
            return Value::Null;
        }
    }
    let [a, b] = vals;
    match (func, a) {
        (Func::Abs, Value::Int(i)) => i.checked_abs().map_or(Value::Null, Value::Int),
        (Func::Abs, Value::Float(f)) => Value::Float(f.abs()),
        (Func::Abs, Value::Duration(d)) => d.checked_abs().map_or(Value::Null, Value::Duration),
        (Func::Round | Func::Floor | Func::Ceil, Value::Int(i)) => Value::Int(i),
        (Func::Round, Value::Float(f)) => Value::Float(f.round()),
        (Func::Floor, Value::Float(f)) => Value::Float(f.floor()),
        (Func::Ceil, Value::Float(f)) => Value::Float(f.ceil()),
        (Func::Min | Func::Max, a) => match compare(&a, &b) {
            Some(o) if (o == Ordering::Greater) == (func == Func::Min) => b,
            Some(_) => a,
            None => Value::Null,
        },
        (Func::Lower, Value::Str(x)) => Value::Str(Arc::from(x.to_lowercase())),
        (Func::Upper, Value::Str(x)) => Value::Str(Arc::from(x.to_uppercase())),
        (Func::Len, Value::Str(x)) => {
            Value::Int(i64::try_from(x.chars().count()).unwrap_or(i64::MAX))
        }
        (Func::Matches, Value::Str(x)) => match &b {
            Value::Str(re) => regex_match(re, &x),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

thread_local! {
    /// Compiled regular expressions of `matches`, by source text: each is
    /// compiled once per thread (the compiler has checked them).
    static REGEXES: std::cell::RefCell<std::collections::HashMap<Arc<str>, Option<regex::Regex>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn regex_match(re: &Arc<str>, text: &str) -> Value {
    REGEXES.with(|c| {
        let mut c = c.borrow_mut();
        let r = c
            .entry(re.clone())
            .or_insert_with(|| regex::Regex::new(re).ok());
        match r {
            Some(r) => Value::Bool(r.is_match(text)),
            None => Value::Null,
        }
    })
}

/// Orders two values of one type; `None` for no value or NaN.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) | (Value::Time(x), Value::Time(y)) => {
            Some(x.cmp(y))
        }
        _ => None,
    }
}

fn binary(op: BinOp, a: &Value, b: &Value) -> Value {
    use Value::*;
    match op {
        BinOp::Coalesce => match a {
            Null => b.clone(),
            _ => a.clone(),
        },
        BinOp::Eq => match compare(a, b) {
            Some(o) => Bool(o == Ordering::Equal),
            None => Null,
        },
        BinOp::Ne => match compare(a, b) {
            Some(o) => Bool(o != Ordering::Equal),
            None => Null,
        },
        BinOp::Lt => cmp_with(a, b, |o| o == Ordering::Less),
        BinOp::Le => cmp_with(a, b, |o| o != Ordering::Greater),
        BinOp::Gt => cmp_with(a, b, |o| o == Ordering::Greater),
        BinOp::Ge => cmp_with(a, b, |o| o != Ordering::Less),
        BinOp::Contains => str_with(a, b, |x, y| x.contains(y)),
        BinOp::StartsWith => str_with(a, b, |x, y| x.starts_with(y)),
        BinOp::EndsWith => str_with(a, b, |x, y| x.ends_with(y)),
        BinOp::Add => match (a, b) {
            (Int(x), Int(y)) => x.checked_add(*y).map(Int).unwrap_or(Null),
            (Float(x), Float(y)) => Float(x + y),
            (Duration(x), Duration(y)) => x.checked_add(*y).map(Duration).unwrap_or(Null),
            (Time(x), Duration(y)) | (Duration(y), Time(x)) => {
                x.checked_add(*y).map(Time).unwrap_or(Null)
            }
            _ => Null,
        },
        BinOp::Sub => match (a, b) {
            (Int(x), Int(y)) => x.checked_sub(*y).map(Int).unwrap_or(Null),
            (Float(x), Float(y)) => Float(x - y),
            (Duration(x), Duration(y)) => x.checked_sub(*y).map(Duration).unwrap_or(Null),
            (Time(x), Duration(y)) => x.checked_sub(*y).map(Time).unwrap_or(Null),
            (Time(x), Time(y)) => x.checked_sub(*y).map(Duration).unwrap_or(Null),
            _ => Null,
        },
        BinOp::Mul => match (a, b) {
            (Int(x), Int(y)) => x.checked_mul(*y).map(Int).unwrap_or(Null),
            (Float(x), Float(y)) => Float(x * y),
            (Duration(x), Int(y)) | (Int(y), Duration(x)) => {
                x.checked_mul(*y).map(Duration).unwrap_or(Null)
            }
            _ => Null,
        },
        BinOp::Div => match (a, b) {
            (Int(x), Int(y)) => x.checked_div(*y).map(Int).unwrap_or(Null),
            (Float(x), Float(y)) if *y != 0.0 => Float(x / y),
            (Duration(x), Int(y)) => x.checked_div(*y).map(Duration).unwrap_or(Null),
            _ => Null,
        },
        BinOp::Rem => match (a, b) {
            (Int(x), Int(y)) => x.checked_rem(*y).map(Int).unwrap_or(Null),
            _ => Null,
        },
        BinOp::And | BinOp::Or => Null,
    }
}

fn cmp_with(a: &Value, b: &Value, f: impl Fn(Ordering) -> bool) -> Value {
    match compare(a, b) {
        Some(o) => Value::Bool(f(o)),
        None => Value::Null,
    }
}

fn str_with(a: &Value, b: &Value, f: impl Fn(&str, &str) -> bool) -> Value {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Value::Bool(f(x, y)),
        _ => Value::Null,
    }
}

/// The slot of a field in `ev`: from `by_type` for a binding of several
/// types (an alternation), else `slot`.
fn slot_in(ev: &Event, slot: Slot, by_type: &[(EventId, Slot)]) -> Slot {
    match by_type {
        [] => slot,
        _ => by_type
            .iter()
            .find(|(t, _)| *t == ev.ty)
            .map_or(slot, |(_, s)| *s),
    }
}

fn aggregate(
    func: AggFunc,
    group: BindingId,
    slot: Option<u16>,
    by_type: &[(EventId, Slot)],
    ty: Type,
    chain: &Chain,
    within: Option<BindingId>,
) -> Value {
    // The chain is newest first; aggregates read the group oldest first.
    // (For a group sub-pattern, its marks: `count` is its iterations.)
    let mut events: Vec<&Event> = chain.all_in(group, within).collect();
    events.reverse();
    if func == AggFunc::Count {
        return Value::Int(i64::try_from(events.len()).unwrap_or(i64::MAX));
    }
    let Some(slot) = slot else { return Value::Null };
    let mut values = events
        .iter()
        .map(|e| e.field(slot_in(e, slot, by_type)))
        .filter(|v| !matches!(v, Value::Null));
    match func {
        AggFunc::Count => Value::Null,
        AggFunc::First => values.next().cloned().unwrap_or(Value::Null),
        AggFunc::Last => values.next_back().cloned().unwrap_or(Value::Null),
        AggFunc::Min | AggFunc::Max => {
            let want = if func == AggFunc::Min {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            let mut best: Option<&Value> = None;
            for v in values {
                best = match best {
                    None => Some(v),
                    Some(b) if compare(v, b) == Some(want) => Some(v),
                    keep => keep,
                };
            }
            best.cloned().unwrap_or(Value::Null)
        }
        AggFunc::Sum | AggFunc::Avg => {
            let mut n = 0i64;
            let mut int_sum: Option<i64> = Some(0);
            let mut float_sum = 0f64;
            for v in values {
                n += 1;
                match v {
                    Value::Int(i) | Value::Duration(i) => {
                        int_sum = int_sum.and_then(|s| s.checked_add(*i));
                        float_sum += *i as f64;
                    }
                    Value::Float(f) => float_sum += f,
                    _ => {}
                }
            }
            if n == 0 {
                // An empty group has no sum and no mean.
                return Value::Null;
            }
            if func == AggFunc::Sum {
                return match ty {
                    Type::Int => int_sum.map(Value::Int).unwrap_or(Value::Null),
                    Type::Duration => int_sum.map(Value::Duration).unwrap_or(Value::Null),
                    _ => Value::Float(float_sum),
                };
            }
            match ty {
                Type::Duration => Value::Duration((float_sum / n as f64).round() as i64),
                _ => Value::Float(float_sum / n as f64),
            }
        }
    }
}
