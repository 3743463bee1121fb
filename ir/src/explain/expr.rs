//! Expressions printed back in a source-like syntax.

use super::*;

// ---- expressions ---------------------------------------------------------------

/// What the names in an expression refer to.
pub(super) struct Cx<'a> {
    p: &'a Program,
    pattern: Option<&'a Pattern>,
    /// The type of the event being matched (`Operand::Current`).
    current: Option<EventId>,
}

impl<'a> Cx<'a> {
    pub(super) fn new(
        p: &'a Program,
        pattern: Option<&'a Pattern>,
        current: Option<EventId>,
    ) -> Cx<'a> {
        Cx {
            p,
            pattern,
            current,
        }
    }

    pub(super) fn binding_event(&self, b: u16) -> Option<EventId> {
        self.pattern
            .and_then(|pat| binding(pat, b))
            .map(|b| b.event)
    }

    pub(super) fn binding_name(&self, b: u16) -> String {
        match self.pattern {
            Some(pat) => binding_name(pat, b),
            None => format!("#{b}"),
        }
    }

    /// `{ name: expr, ... }` with the field names of `event`.
    pub(super) fn record(&self, event: EventId, fields: &[Expr]) -> String {
        if fields.is_empty() {
            return "{}".to_string();
        }
        let parts: Vec<String> = fields
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let name = slot_name(self.p, Some(event), u16::try_from(i).unwrap_or(u16::MAX));
                format!("{name}: {}", self.expr(e))
            })
            .collect();
        format!("{{ {} }}", parts.join(", "))
    }

    pub(super) fn pairs(&self, v: &[(String, Expr)]) -> String {
        if v.is_empty() {
            return "{}".to_string();
        }
        let parts: Vec<String> = v
            .iter()
            .map(|(k, e)| format!("{k}: {}", self.expr(e)))
            .collect();
        format!("{{ {} }}", parts.join(", "))
    }

    pub(super) fn expr(&self, e: &Expr) -> String {
        self.prec(e, 0)
    }

    /// Renders `e`, parenthesised when its precedence is below `min`.
    pub(super) fn prec(&self, e: &Expr, min: u8) -> String {
        let (s, level) = self.render(e);
        if level < min {
            format!("({s})")
        } else {
            s
        }
    }

    pub(super) fn render(&self, e: &Expr) -> (String, u8) {
        const ATOM: u8 = 10;
        const UNARY: u8 = 7;
        match e {
            Expr::Const(v) => (value(v), ATOM),
            Expr::Field {
                of, slot, by_type, ..
            } => {
                // A field of an alternation is named by one of its types.
                let named = |ev: Option<EventId>| match by_type.first() {
                    Some((t, s)) => slot_name(self.p, Some(*t), *s),
                    None => slot_name(self.p, ev, *slot),
                };
                let s = match of {
                    Operand::Current => named(self.current),
                    Operand::Binding(b) => {
                        format!(
                            "{}.{}",
                            self.binding_name(*b),
                            named(self.binding_event(*b))
                        )
                    }
                    Operand::Trigger(ev) => format!(
                        "{}.{}",
                        event_name(self.p, *ev),
                        slot_name(self.p, Some(*ev), *slot)
                    ),
                };
                (s, ATOM)
            }
            Expr::Prev {
                group,
                slot,
                by_type,
                ..
            } => {
                let name = match by_type.first() {
                    Some((t, s)) => slot_name(self.p, Some(*t), *s),
                    None => slot_name(self.p, self.binding_event(*group), *slot),
                };
                (format!("prev.{name}"), ATOM)
            }
            Expr::Agg {
                func,
                binding,
                slot,
                by_type,
                ..
            } => {
                let arg = match slot {
                    Some(s) => format!(
                        "{}.{}",
                        self.binding_name(*binding),
                        match by_type.first() {
                            Some((t, s)) => slot_name(self.p, Some(*t), *s),
                            None => slot_name(self.p, self.binding_event(*binding), *s),
                        }
                    ),
                    None => self.binding_name(*binding),
                };
                (format!("{}({arg})", func.name()), ATOM)
            }
            Expr::Not(a) => (format!("not {}", self.prec(a, UNARY)), UNARY),
            Expr::Neg { arg, .. } => (format!("-{}", self.prec(arg, UNARY)), UNARY),
            Expr::ToFloat(a) => (format!("float({})", self.expr(a)), ATOM),
            Expr::IsNull { arg, negated } => (
                format!(
                    "{} is {}null",
                    self.prec(arg, 4),
                    if *negated { "not " } else { "" }
                ),
                3,
            ),
            Expr::Call { func, args, .. } => {
                let args: Vec<String> = args.iter().map(|a| self.expr(a)).collect();
                (format!("{}({})", func.name(), args.join(", ")), ATOM)
            }
            Expr::Binary { op, lhs, rhs, .. } => {
                let level = bin_prec(*op);
                // Left-associative: a right operand of the same level needs
                // parentheses; comparisons do not chain at all.
                let left_min = if is_comparison(*op) { level + 1 } else { level };
                let s = format!(
                    "{} {} {}",
                    self.prec(lhs, left_min),
                    op.symbol(),
                    self.prec(rhs, level + 1)
                );
                (s, level)
            }
        }
    }
}

fn is_comparison(op: BinOp) -> bool {
    bin_prec(op) == 3
}

fn bin_prec(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And => 2,
        BinOp::Eq
        | BinOp::Ne
        | BinOp::Lt
        | BinOp::Le
        | BinOp::Gt
        | BinOp::Ge
        | BinOp::Contains
        | BinOp::StartsWith
        | BinOp::EndsWith => 3,
        BinOp::Coalesce => 4,
        BinOp::Add | BinOp::Sub => 5,
        BinOp::Mul | BinOp::Div | BinOp::Rem => 6,
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{f:.1}")
            } else {
                f.to_string()
            }
        }
        Value::Str(s) => quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Duration(ms) => {
            if *ms < 0 {
                format!("-{}", duration(ms.unsigned_abs()))
            } else {
                duration(ms.unsigned_abs())
            }
        }
        Value::Time(ms) => format!("@{}", crate::time::format_rfc3339(*ms)),
    }
}
