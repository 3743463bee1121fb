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

    /// A field's name: in an event of type `ev`, or for a field of an
    /// alternation (slots per type), the name in `ev` when it is one of
    /// them, else every type's name: `(sensor | sensor_id)` for a key
    /// read from differently named fields.
    fn field_name(&self, ev: Option<EventId>, slot: u16, by_type: &[(EventId, u16)]) -> String {
        self.field_name_in(ev, false, slot, by_type)
    }

    /// `current`: `ev` is the type of the event being matched (a `take`
    /// edge of one type), so its own name is the one.
    fn field_name_in(
        &self,
        ev: Option<EventId>,
        current: bool,
        slot: u16,
        by_type: &[(EventId, u16)],
    ) -> String {
        if by_type.is_empty() {
            return slot_name(self.p, ev, slot);
        }
        if let Some((t, s)) = by_type.iter().find(|(t, _)| current && Some(*t) == ev) {
            return slot_name(self.p, Some(*t), *s);
        }
        let mut names: Vec<String> = Vec::new();
        for (t, s) in by_type {
            let n = slot_name(self.p, Some(*t), *s);
            if !names.contains(&n) {
                names.push(n);
            }
        }
        match names.as_slice() {
            [one] => one.clone(),
            _ => format!("({})", names.join(" | ")),
        }
    }

    pub(super) fn binding_name(&self, b: u16) -> String {
        match self.pattern {
            Some(pat) => binding_name(pat, b),
            None => format!("#{b}"),
        }
    }

    /// A binding by its path from the outermost group sub-pattern it is
    /// in: `g.h.y` (its name when it is in none).
    pub(super) fn binding_path(&self, b: u16) -> String {
        let Some(pat) = self.pattern else {
            return format!("#{b}");
        };
        let mut path = binding_name(pat, b);
        let mut cur = binding(pat, b).and_then(|x| x.parent);
        // (Bounded by the number of bindings: a malformed IR cannot loop.)
        for _ in 0..pat.bindings.len() {
            let Some(g) = cur else { break };
            path = format!("{}.{path}", binding_name(pat, g));
            cur = binding(pat, g).and_then(|x| x.parent);
        }
        path
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
                let named = |ev: Option<EventId>| self.field_name(ev, *slot, by_type);
                let s = match of {
                    Operand::Current => self.field_name_in(self.current, true, *slot, by_type),
                    Operand::Binding(b) => {
                        format!(
                            "{}.{}",
                            self.binding_name(*b),
                            named(self.binding_event(*b))
                        )
                    }
                    Operand::InIteration { binding, .. } => {
                        format!(
                            "{}.{}",
                            self.binding_name(*binding),
                            named(self.binding_event(*binding))
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
                let name = self.field_name(self.binding_event(*group), *slot, by_type);
                (format!("prev.{name}"), ATOM)
            }
            Expr::Agg {
                func,
                binding,
                slot,
                by_type,
                within,
                ..
            } => {
                // Over every iteration: the path from the outermost group
                // (`g.h.y`); inside a group, the name as written there.
                let name = match within {
                    Some(_) => self.binding_name(*binding),
                    None => self.binding_path(*binding),
                };
                let arg = match slot {
                    Some(s) => format!(
                        "{name}.{}",
                        self.field_name(self.binding_event(*binding), *s, by_type)
                    ),
                    None => name,
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
