//! Literals, operators and their types; constant folding.

use cep_grammar::ast::{self, Lit};
use cep_grammar::{Code, Diagnostic, Span};
use cep_ir::{BinOp, Expr, Type, Value};

pub fn lit(l: &Lit) -> (Expr, Type) {
    let v = match l {
        Lit::Int(i) => Value::Int(*i),
        Lit::Float(f) => Value::Float(*f),
        Lit::Str(s) => Value::Str(s.clone()),
        Lit::Bool(b) => Value::Bool(*b),
        // Checked by the caller (`Typer::expr`): a bad one never gets here.
        Lit::Time(t) => Value::Time(cep_ir::time::parse_rfc3339(t).unwrap_or(0)),
        Lit::Duration(d) => Value::Duration(
            d.millis()
                .and_then(|m| i64::try_from(m).ok())
                .unwrap_or(i64::MAX),
        ),
    };
    let t = v.ty();
    (Expr::Const(v), t)
}

fn to_float(e: Expr) -> Expr {
    match e {
        Expr::Const(Value::Int(i)) => Expr::Const(Value::Float(i as f64)),
        other => Expr::ToFloat(Box::new(other)),
    }
}

/// Converts an int-typed expression to float where a float is expected.
pub fn coerce(e: Expr, from: Type, to: Type) -> Option<Expr> {
    match (from, to) {
        (a, b) if a == b => Some(e),
        (Type::Int, Type::Float) => Some(to_float(e)),
        _ => None,
    }
}

pub(super) fn binary(
    op: ast::BinOp,
    l: (Expr, Type, Span),
    r: (Expr, Type, Span),
    diags: &mut Vec<Diagnostic>,
) -> Option<(Expr, Type)> {
    use ast::BinOp as A;
    use Type::*;
    let (lx, lt, ls) = l;
    let (rx, rt, rs) = r;
    let irop = match op {
        A::Or => BinOp::Or,
        A::And => BinOp::And,
        A::Eq => BinOp::Eq,
        A::Ne => BinOp::Ne,
        A::Lt => BinOp::Lt,
        A::Le => BinOp::Le,
        A::Gt => BinOp::Gt,
        A::Ge => BinOp::Ge,
        A::Contains => BinOp::Contains,
        A::StartsWith => BinOp::StartsWith,
        A::EndsWith => BinOp::EndsWith,
        A::Add => BinOp::Add,
        A::Sub => BinOp::Sub,
        A::Mul => BinOp::Mul,
        A::Div => BinOp::Div,
        A::Rem => BinOp::Rem,
        A::Coalesce => BinOp::Coalesce,
    };
    // (operand type, result type) or None when the operands do not fit.
    let numeric = |a: Type, b: Type| match (a, b) {
        (Int, Int) => Some(Int),
        (Int | Float, Int | Float) => Some(Float),
        _ => None,
    };
    let typed: Option<(Type, Type)> = match op {
        A::Or | A::And => (lt == Bool && rt == Bool).then_some((Bool, Bool)),
        A::Eq | A::Ne => numeric(lt, rt)
            .or((lt == rt).then_some(lt))
            .map(|t| (t, Bool)),
        A::Lt | A::Le | A::Gt | A::Ge => numeric(lt, rt)
            .or((lt == rt && matches!(lt, Str | Time | Duration)).then_some(lt))
            .map(|t| (t, Bool)),
        A::Contains | A::StartsWith | A::EndsWith => {
            (lt == Str && rt == Str).then_some((Str, Bool))
        }
        A::Add => match (lt, rt) {
            (Time, Duration) | (Duration, Time) => Some((Time, Time)),
            (Duration, Duration) => Some((Duration, Duration)),
            _ => numeric(lt, rt).map(|t| (t, t)),
        },
        A::Sub => match (lt, rt) {
            (Time, Duration) => Some((Time, Time)),
            (Time, Time) => Some((Time, Duration)),
            (Duration, Duration) => Some((Duration, Duration)),
            _ => numeric(lt, rt).map(|t| (t, t)),
        },
        A::Mul => match (lt, rt) {
            (Duration, Int) | (Int, Duration) => Some((Duration, Duration)),
            _ => numeric(lt, rt).map(|t| (t, t)),
        },
        A::Div => match (lt, rt) {
            (Duration, Int) => Some((Duration, Duration)),
            _ => numeric(lt, rt).map(|t| (t, t)),
        },
        A::Rem => (lt == Int && rt == Int).then_some((Int, Int)),
        A::Coalesce => numeric(lt, rt).or((lt == rt).then_some(lt)).map(|t| (t, t)),
    };
    let Some((operand, result)) = typed else {
        let what = match op {
            A::Or | A::And => "needs two `bool`s".to_string(),
            A::Contains | A::StartsWith | A::EndsWith => "needs two `str`s".to_string(),
            A::Rem => "needs two `int`s".to_string(),
            A::Coalesce => "gives one type: the default has the type of the value".to_string(),
            A::Eq | A::Ne | A::Lt | A::Le | A::Gt | A::Ge => {
                "compares values of one type".to_string()
            }
            _ => "does not apply to these types".to_string(),
        };
        diags.push(
            Diagnostic::new(
                Code::TypeMismatch,
                rs,
                format!(
                    "`{}` {what}: the left side is `{lt}`, the right side is `{rt}`",
                    op.as_str()
                ),
            )
            .label(format!("this is `{rt}`"))
            .also(ls, format!("this is `{lt}`")),
        );
        return None;
    };
    // Promote ints where the operand type is float; mixed time/duration
    // arithmetic keeps each side's own type.
    let (lx, rx) = if operand == Float {
        (coerce(lx, lt, Float)?, coerce(rx, rt, Float)?)
    } else {
        (lx, rx)
    };
    let e = Expr::Binary {
        op: irop,
        ty: operand,
        lhs: Box::new(lx),
        rhs: Box::new(rx),
    };
    Some((fold(e), result))
}

pub(super) fn fold_not(x: Expr) -> Expr {
    match x {
        Expr::Const(Value::Bool(b)) => Expr::Const(Value::Bool(!b)),
        other => Expr::Not(Box::new(other)),
    }
}

pub(super) fn fold_neg(ty: Type, x: Expr) -> Expr {
    match x {
        Expr::Const(Value::Int(i)) if i != i64::MIN => Expr::Const(Value::Int(-i)),
        Expr::Const(Value::Float(f)) => Expr::Const(Value::Float(-f)),
        Expr::Const(Value::Duration(d)) if d != i64::MIN => Expr::Const(Value::Duration(-d)),
        other => Expr::Neg {
            ty,
            arg: Box::new(other),
        },
    }
}

/// Folds a binary operation on two constants; anything that could fail at
/// run time (overflow, division by zero) is left for the runtime.
fn fold(e: Expr) -> Expr {
    let Expr::Binary { op, lhs, rhs, .. } = &e else {
        return e;
    };
    let (Expr::Const(a), Expr::Const(b)) = (lhs.as_ref(), rhs.as_ref()) else {
        return e;
    };
    use Value::*;
    let v = match (op, a, b) {
        (BinOp::And, Bool(x), Bool(y)) => Bool(*x && *y),
        (BinOp::Or, Bool(x), Bool(y)) => Bool(*x || *y),
        (BinOp::Eq, x, y) => Bool(x == y),
        (BinOp::Ne, x, y) => Bool(x != y),
        (BinOp::Add, Int(x), Int(y)) => match x.checked_add(*y) {
            Some(v) => Int(v),
            None => return e,
        },
        (BinOp::Sub, Int(x), Int(y)) => match x.checked_sub(*y) {
            Some(v) => Int(v),
            None => return e,
        },
        (BinOp::Mul, Int(x), Int(y)) => match x.checked_mul(*y) {
            Some(v) => Int(v),
            None => return e,
        },
        (BinOp::Add, Float(x), Float(y)) => Float(x + y),
        (BinOp::Sub, Float(x), Float(y)) => Float(x - y),
        (BinOp::Mul, Float(x), Float(y)) => Float(x * y),
        (BinOp::Add, Duration(x), Duration(y)) => match x.checked_add(*y) {
            Some(v) => Duration(v),
            None => return e,
        },
        (BinOp::Lt, Int(x), Int(y)) => Bool(x < y),
        (BinOp::Le, Int(x), Int(y)) => Bool(x <= y),
        (BinOp::Gt, Int(x), Int(y)) => Bool(x > y),
        (BinOp::Ge, Int(x), Int(y)) => Bool(x >= y),
        (BinOp::Lt, Float(x), Float(y)) => Bool(x < y),
        (BinOp::Le, Float(x), Float(y)) => Bool(x <= y),
        (BinOp::Gt, Float(x), Float(y)) => Bool(x > y),
        (BinOp::Ge, Float(x), Float(y)) => Bool(x >= y),
        (BinOp::Contains, Str(x), Str(y)) => Bool(x.contains(y.as_str())),
        (BinOp::StartsWith, Str(x), Str(y)) => Bool(x.starts_with(y.as_str())),
        (BinOp::EndsWith, Str(x), Str(y)) => Bool(x.ends_with(y.as_str())),
        _ => return e,
    };
    Expr::Const(v)
}
