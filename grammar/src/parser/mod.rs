//! The one place that turns pest pairs into the syntax tree.
//!
//! Nothing else in the project imports pest. A file is parsed whole; when
//! that fails, it is parsed again declaration by declaration (split at lines
//! that start with a declaration keyword), so that every broken declaration
//! gets its own error instead of only the first.

use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Node, Span};
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;
use std::sync::OnceLock;

mod mistakes;
mod scan;
mod syntax_error;

use scan::{check_nesting, collect_comments, decl_starts};
use syntax_error::syntax_error;

#[derive(pest_derive::Parser)]
#[grammar = "cep.pest"]
struct CepParser;

/// The UTF-8 byte order mark, accepted (and skipped) at the start of a file.
pub const BOM: char = '\u{feff}';

/// The digits of the least int, which only a `-` before them makes fit.
const LEAST_INT_DIGITS: &str = "9223372036854775808";

/// Nesting of brackets deeper than this is refused before pest sees it.
const MAX_NESTING: usize = 32;
/// Expressions deeper than this are refused after parsing.
const MAX_EXPR_DEPTH: usize = 128;
/// Operators and operands in one expression (not counting those inside
/// brackets, which have their own) beyond which it is refused before a
/// tree is built: together with the bracket limit this bounds the depth of
/// every recursion over expressions.
const MAX_EXPR_TOKENS: usize = 256;

/// Result of parsing one file: the declarations that parsed, and the
/// syntax errors of the ones that did not.
#[derive(Debug)]
pub struct Parsed {
    pub file: File,
    pub errors: Vec<Diagnostic>,
}

/// Parses one file. Never panics; every syntax error is a diagnostic.
pub fn parse(file: FileId, src: &str) -> Parsed {
    let comments = collect_comments(file, src);
    if let Some(d) = check_nesting(file, src) {
        return Parsed {
            file: File {
                file,
                decls: Vec::new(),
                comments,
            },
            errors: vec![d],
        };
    }
    let mut errors = Vec::new();
    // A byte order mark at the start is not part of the rules; spans stay
    // offsets into `src`.
    let bom = if src.starts_with(BOM) {
        BOM.len_utf8()
    } else {
        0
    };
    let decls = match parse_range(file, src, bom, src.len()) {
        Ok(decls) => decls,
        Err(_) => {
            // Recover: parse each declaration chunk on its own.
            let starts = decl_starts(src);
            let mut bounds = vec![bom];
            bounds.extend(starts.iter().copied().filter(|s| *s > bom));
            bounds.push(src.len());
            let mut decls = Vec::new();
            for w in bounds.windows(2) {
                match parse_range(file, src, w[0], w[1]) {
                    Ok(mut d) => decls.append(&mut d),
                    Err(e) => errors.push(e),
                }
            }
            decls
        }
    };
    for d in &decls {
        check_decl_depth(d, &mut errors);
    }
    Parsed {
        file: File {
            file,
            decls,
            comments,
        },
        errors,
    }
}

fn parse_range(file: FileId, src: &str, start: usize, end: usize) -> Result<Vec<Decl>, Diagnostic> {
    let text = src.get(start..end).unwrap_or("");
    let cx = Cx {
        file,
        offset: start,
    };
    match CepParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let Some(file_pair) = pairs.next() else {
                return Ok(Vec::new());
            };
            let mut decls = Vec::new();
            for p in file_pair.into_inner() {
                if p.as_rule() == Rule::EOI {
                    continue;
                }
                decls.push(cx.decl(p)?);
            }
            Ok(decls)
        }
        Err(e) => Err(syntax_error(&cx, src, end, e)),
    }
}

// ---- pairs to tree -----------------------------------------------------------

struct Cx {
    file: FileId,
    offset: usize,
}

type R<T> = Result<T, Diagnostic>;

fn pratt() -> &'static PrattParser<Rule> {
    static P: OnceLock<PrattParser<Rule>> = OnceLock::new();
    P.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::op_or, Assoc::Left))
            .op(Op::infix(Rule::op_and, Assoc::Left))
            .op(Op::prefix(Rule::op_not))
            .op(Op::infix(Rule::op_eq, Assoc::Left)
                | Op::infix(Rule::op_ne, Assoc::Left)
                | Op::infix(Rule::op_lt, Assoc::Left)
                | Op::infix(Rule::op_le, Assoc::Left)
                | Op::infix(Rule::op_gt, Assoc::Left)
                | Op::infix(Rule::op_ge, Assoc::Left)
                | Op::infix(Rule::op_contains, Assoc::Left)
                | Op::infix(Rule::op_starts_with, Assoc::Left)
                | Op::infix(Rule::op_ends_with, Assoc::Left))
            .op(Op::postfix(Rule::is_null))
            .op(Op::infix(Rule::op_coalesce, Assoc::Left))
            .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
            .op(Op::infix(Rule::op_mul, Assoc::Left)
                | Op::infix(Rule::op_div, Assoc::Left)
                | Op::infix(Rule::op_rem, Assoc::Left))
            .op(Op::prefix(Rule::op_neg))
            .op(Op::postfix(Rule::field_access))
    })
}

impl Cx {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start + self.offset, end + self.offset)
    }

    /// The pair's span without the whitespace and comments pest lets a
    /// rule that ends in an optional part swallow.
    fn sp(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        self.span(s.start(), s.start() + trimmed_len(p.as_str()))
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        Node::new(p.as_str().to_string(), self.sp(&p))
    }

    /// Inner pairs without keyword tokens.
    fn inner<'a>(&self, p: Pair<'a, Rule>) -> impl Iterator<Item = Pair<'a, Rule>> {
        p.into_inner().filter(|q| !is_keyword(q.as_rule()))
    }

    fn bug(&self, p: &Pair<Rule>, what: &str) -> Diagnostic {
        Diagnostic::new(
            Code::Syntax,
            self.sp(p),
            format!("internal parser error: unexpected {what}"),
        )
    }

    fn decl(&self, p: Pair<Rule>) -> R<Decl> {
        let span = self.sp(&p);
        let kind = match p.as_rule() {
            Rule::event_decl => DeclKind::Event(self.event_decl(p)?),
            Rule::pattern_decl => DeclKind::Pattern(self.pattern_decl(p)?),
            Rule::resource_decl => {
                let mut it = self.inner(p);
                let name = self.ident(next(&mut it, span)?);
                let capacity = self.uint(next(&mut it, span)?)?;
                DeclKind::Resource(ResourceDecl { name, capacity })
            }
            Rule::step_decl => DeclKind::Step(self.step_decl(p)?),
            Rule::process_decl => DeclKind::Process(self.process_decl(p)?),
            _ => return Err(self.bug(&p, "declaration")),
        };
        Ok(Node::new(kind, span))
    }

    fn event_decl(&self, p: Pair<Rule>) -> R<EventDecl> {
        let span = self.sp(&p);
        let mut it = self.inner(p);
        let name = self.ident(next(&mut it, span)?);
        let mut fields = Vec::new();
        for f in it {
            let fspan = self.sp(&f);
            let mut fi = f.into_inner();
            let name = self.ident(next(&mut fi, fspan)?);
            let ty = self.ident(next(&mut fi, fspan)?);
            let mut optional = None;
            let mut timestamp = None;
            for m in fi {
                let mark = Some(Node::new((), self.sp(&m)));
                if m.as_rule() == Rule::optional_mark {
                    optional = mark;
                } else {
                    timestamp = mark;
                }
            }
            fields.push(FieldDecl {
                name,
                ty,
                optional,
                timestamp,
            });
        }
        Ok(EventDecl { name, fields })
    }

    fn pattern_decl(&self, p: Pair<Rule>) -> R<PatternDecl> {
        let span = self.sp(&p);
        let mut it = self.inner(p).peekable();
        let private = it
            .next_if(|q| q.as_rule() == Rule::private_mark)
            .map(|q| Node::new((), self.sp(&q)));
        let name = self.ident(next(&mut it, span)?);
        let mut clauses = Vec::new();
        let mut items = Vec::new();
        for q in it {
            let qs = self.sp(&q);
            match q.as_rule() {
                Rule::partition_clause => {
                    let mut keys = Vec::new();
                    for k in self.inner(q) {
                        keys.push(self.key_spec(k)?);
                    }
                    clauses.push(Node::new(PatternClause::PartitionBy(keys), qs));
                }
                Rule::within_clause => {
                    let d = self.within(q)?;
                    clauses.push(Node::new(PatternClause::Within(d), qs));
                }
                Rule::report_clause => {
                    let parts: Vec<Pair<Rule>> = q.into_inner().collect();
                    let first = parts
                        .iter()
                        .any(|w| w.as_rule() == Rule::report_which && w.as_str() == "first");
                    let mut ds = parts.into_iter().filter(|w| w.as_rule() == Rule::duration);
                    let d = self.duration(next(&mut ds, qs)?)?;
                    clauses.push(Node::new(PatternClause::Report(first, d), qs));
                }
                Rule::skip_clause => {
                    let which = self.inner(q).next();
                    let policy = match which.map(|w| w.as_rule()) {
                        Some(Rule::skip_to_next) => SkipPolicy::ToNext,
                        _ => SkipPolicy::PastLast,
                    };
                    clauses.push(Node::new(PatternClause::Skip(policy), qs));
                }
                Rule::block
                | Rule::group
                | Rule::negation
                | Rule::halt_item
                | Rule::emit_item
                | Rule::timeout_item => items.push(self.pattern_item(q)?),
                _ => return Err(self.bug(&q, "pattern part")),
            }
        }
        Ok(PatternDecl {
            private,
            name,
            clauses,
            items,
        })
    }

    /// `device` or `device = Temperature.sensor | Humidity.sensor_id`.
    fn key_spec(&self, p: Pair<Rule>) -> R<KeySpec> {
        let span = self.sp(&p);
        let mut it = self.inner(p);
        let name = self.ident(next(&mut it, span)?);
        let mut from = Vec::new();
        for src in it {
            let ss = self.sp(&src);
            let mut parts = self.inner(src);
            let ty = self.ident(next(&mut parts, ss)?);
            let field = self.ident(next(&mut parts, ss)?);
            from.push((ty, field));
        }
        Ok(KeySpec { name, from })
    }

    /// One item of a pattern's or a group's body.
    fn pattern_item(&self, q: Pair<Rule>) -> R<Node<PatternItem>> {
        let qs = self.sp(&q);
        match q.as_rule() {
            Rule::block => Ok(Node::new(PatternItem::Block(self.block(q)?), qs)),
            Rule::negation => {
                let mut neg = Negation {
                    event: Node::new(String::new(), qs),
                    predicate: None,
                    within: None,
                };
                for x in self.inner(q) {
                    match x.as_rule() {
                        Rule::ident => neg.event = self.ident(x),
                        Rule::where_clause => neg.predicate = Some(self.where_clause(x)?),
                        Rule::within_clause => neg.within = Some(self.within(x)?),
                        _ => return Err(self.bug(&x, "negation part")),
                    }
                }
                Ok(Node::new(PatternItem::Not(neg), qs))
            }
            Rule::halt_item => {
                let mut it = self.inner(q);
                let event = self.ident(next(&mut it, qs)?);
                let predicate = match it.next() {
                    Some(w) => Some(self.where_clause(w)?),
                    None => None,
                };
                Ok(Node::new(PatternItem::Halt(Guard { event, predicate }), qs))
            }
            Rule::emit_item => {
                let rec = next(&mut self.inner(q), qs)?;
                Ok(Node::new(PatternItem::Emit(self.record(rec)?), qs))
            }
            Rule::timeout_item => {
                let target = next(&mut self.inner(q), qs)?;
                let emit = self.emit_target(target)?;
                Ok(Node::new(PatternItem::OnTimeout(emit), qs))
            }
            Rule::group => Ok(Node::new(PatternItem::Group(self.group(q)?), qs)),
            _ => Err(self.bug(&q, "pattern part")),
        }
    }

    fn group(&self, p: Pair<Rule>) -> R<Group> {
        let span = self.sp(&p);
        let mut g = Group {
            contiguity: None,
            binding: None,
            open: Node::new((), span),
            items: Vec::new(),
            quantifier: None,
            reluctant: None,
            modifiers: Vec::new(),
        };
        for x in self.inner(p) {
            let xs = self.sp(&x);
            match x.as_rule() {
                Rule::contiguity => g.contiguity = Some(Node::new(self.contiguity(x), xs)),
                Rule::binding => {
                    let id = next(&mut x.into_inner(), xs)?;
                    g.binding = Some(self.ident(id));
                }
                Rule::group_open => g.open = Node::new((), xs),
                Rule::group_close => {}
                Rule::quantifier => {
                    g.reluctant = self.reluctant(&x);
                    g.quantifier = Some(Node::new(self.quantifier(x)?, xs));
                }
                Rule::block_mod => g.modifiers.push(Node::new(block_mod(x.as_str()), xs)),
                _ => g.items.push(self.pattern_item(x)?),
            }
        }
        Ok(g)
    }

    fn contiguity(&self, x: Pair<Rule>) -> Contiguity {
        match x.into_inner().next().map(|c| c.as_rule()) {
            Some(Rule::then_any) => Contiguity::ThenAny,
            Some(Rule::kw_next) => Contiguity::Next,
            _ => Contiguity::Then,
        }
    }

    /// The `?` of a reluctant quantifier.
    fn reluctant(&self, x: &Pair<Rule>) -> Option<Node<()>> {
        x.clone()
            .into_inner()
            .find(|r| r.as_rule() == Rule::quant_reluctant)
            .map(|r| Node::new((), self.sp(&r)))
    }

    fn block(&self, p: Pair<Rule>) -> R<Block> {
        let span = self.sp(&p);
        let mut b = Block {
            contiguity: None,
            binding: None,
            event: Node::new(String::new(), span),
            alternatives: Vec::new(),
            parens: None,
            quantifier: None,
            reluctant: None,
            modifiers: Vec::new(),
            predicate: None,
        };
        let mut first = true;
        for x in self.inner(p) {
            let xs = self.sp(&x);
            match x.as_rule() {
                Rule::contiguity => b.contiguity = Some(Node::new(self.contiguity(x), xs)),
                Rule::binding => {
                    let id = next(&mut x.into_inner(), xs)?;
                    b.binding = Some(self.ident(id));
                }
                Rule::ident if first => {
                    b.event = self.ident(x);
                    first = false;
                }
                Rule::ident => b.alternatives.push(self.ident(x)),
                Rule::alt_parens => {
                    b.parens = Some(Node::new((), xs));
                    let mut types = self.inner(x);
                    b.event = self.ident(next(&mut types, xs)?);
                    b.alternatives = types.map(|t| self.ident(t)).collect();
                    first = false;
                }
                Rule::quantifier => {
                    b.reluctant = self.reluctant(&x);
                    b.quantifier = Some(Node::new(self.quantifier(x)?, xs));
                }
                Rule::block_mod => b.modifiers.push(Node::new(block_mod(x.as_str()), xs)),
                Rule::where_clause => b.predicate = Some(self.where_clause(x)?),
                _ => return Err(self.bug(&x, "block part")),
            }
        }
        Ok(b)
    }

    fn quantifier(&self, p: Pair<Rule>) -> R<Quantifier> {
        let span = self.sp(&p);
        let q = next(&mut p.into_inner(), span)?;
        // (`quant_reluctant`, after it, is read by the block.)
        Ok(match q.as_rule() {
            Rule::quant_plus => Quantifier::OneOrMore,
            Rule::quant_star => Quantifier::ZeroOrMore,
            Rule::quant_opt => Quantifier::Optional,
            _ => {
                let mut min = 0;
                let mut comma = false;
                let mut max = None;
                for x in q.into_inner() {
                    match x.as_rule() {
                        Rule::quant_min => min = self.u32(&x)?,
                        Rule::quant_comma => comma = true,
                        Rule::quant_max => max = Some(self.u32(&x)?),
                        _ => return Err(self.bug(&x, "quantifier part")),
                    }
                }
                match (comma, max) {
                    (false, _) => Quantifier::Exactly(min),
                    (true, None) => Quantifier::AtLeast(min),
                    (true, Some(m)) => Quantifier::Between(min, m),
                }
            }
        })
    }

    fn u32(&self, p: &Pair<Rule>) -> R<u32> {
        p.as_str().parse::<u32>().map_err(|_| {
            Diagnostic::new(
                Code::BadLiteral,
                self.sp(p),
                format!("`{}` is too large for a count", p.as_str()),
            )
            .label("too large")
            .help(format!("a count is at most {}", u32::MAX))
        })
    }

    fn uint(&self, p: Pair<Rule>) -> R<Node<u64>> {
        let span = self.sp(&p);
        let v = p.as_str().parse::<u64>().map_err(|_| {
            Diagnostic::new(
                Code::BadLiteral,
                span,
                format!("`{}` is too large", p.as_str()),
            )
            .label("too large")
            .help(format!(
                "a capacity, unit count or retry count is at most {}",
                u64::MAX
            ))
        })?;
        Ok(Node::new(v, span))
    }

    fn within(&self, p: Pair<Rule>) -> R<Node<Duration>> {
        let span = self.sp(&p);
        let d = next(&mut self.inner(p), span)?;
        self.duration(d)
    }

    fn duration(&self, p: Pair<Rule>) -> R<Node<Duration>> {
        let span = self.sp(&p);
        let mut it = p.into_inner();
        let amount = next(&mut it, span)?;
        let unit = next(&mut it, span)?;
        let amount = amount.as_str().parse::<u64>().map_err(|_| too_long(span))?;
        let unit = match unit.as_str() {
            "ms" => DurationUnit::Ms,
            "s" => DurationUnit::S,
            "m" => DurationUnit::M,
            _ => DurationUnit::H,
        };
        let d = Duration { amount, unit };
        if d.millis().is_none_or(|ms| ms > Duration::MAX_MS) {
            return Err(too_long(span));
        }
        Ok(Node::new(d, span))
    }

    fn where_clause(&self, p: Pair<Rule>) -> R<Expr> {
        let span = self.sp(&p);
        let e = next(&mut self.inner(p), span)?;
        self.expr(e)
    }

    fn record(&self, p: Pair<Rule>) -> R<Vec<FieldInit>> {
        let mut out = Vec::new();
        for f in p.into_inner() {
            let fs = self.sp(&f);
            let mut it = f.into_inner();
            let name = self.ident(next(&mut it, fs)?);
            let value = self.expr(next(&mut it, fs)?)?;
            out.push(FieldInit { name, value });
        }
        Ok(out)
    }

    fn expr(&self, p: Pair<Rule>) -> R<Expr> {
        if p.clone().into_inner().nth(MAX_EXPR_TOKENS).is_some() {
            return Err(
                Diagnostic::new(Code::Syntax, self.sp(&p), "this expression is too long")
                    .label(format!(
                        "more than {MAX_EXPR_TOKENS} operators and operands"
                    ))
                    .help("split the expression into simpler parts"),
            );
        }
        // `-9223372036854775808` is the least int, although its digits
        // alone do not fit in one: the starts of such digits directly
        // after a `-` (with no `.field` after them).
        let parts: Vec<Pair<Rule>> = p.clone().into_inner().collect();
        let least: Vec<usize> = parts
            .windows(2)
            .enumerate()
            .filter(|(i, w)| {
                w[0].as_rule() == Rule::op_neg
                    && w[1].as_rule() == Rule::int
                    && w[1].as_str() == LEAST_INT_DIGITS
                    && parts
                        .get(i + 2)
                        .is_none_or(|n| n.as_rule() != Rule::field_access)
            })
            .map(|(_, w)| self.sp(&w[1]).start as usize)
            .collect();
        let least_in_prefix = least.clone();
        pratt()
            .map_primary(move |q| {
                if q.as_rule() == Rule::int && least.contains(&(self.sp(&q).start as usize)) {
                    return Ok(Node::new(ExprKind::Lit(Lit::Int(i64::MIN)), self.sp(&q)));
                }
                self.primary(q)
            })
            .map_prefix(move |op, rhs| {
                let rhs = rhs?;
                let span = self.sp(&op).to(rhs.span);
                if op.as_rule() == Rule::op_neg
                    && matches!(rhs.node, ExprKind::Lit(Lit::Int(i64::MIN)))
                    && least_in_prefix.contains(&(rhs.span.start as usize))
                {
                    return Ok(Node::new(rhs.node, span));
                }
                let op = if op.as_rule() == Rule::op_not {
                    UnOp::Not
                } else {
                    UnOp::Neg
                };
                Ok(Node::new(ExprKind::Unary(op, Box::new(rhs)), span))
            })
            .map_postfix(|lhs, op| {
                let lhs = lhs?;
                let os = self.sp(&op);
                if op.as_rule() == Rule::is_null {
                    let negated = op.into_inner().any(|q| q.as_rule() == Rule::is_not);
                    let span = lhs.span.to(os);
                    return Ok(Node::new(ExprKind::IsNull(Box::new(lhs), negated), span));
                }
                let field = next(&mut op.into_inner(), os)?;
                let field = self.ident(field);
                let span = lhs.span.to(os);
                Ok(Node::new(ExprKind::Field(Box::new(lhs), field), span))
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let op = match op.as_rule() {
                    Rule::op_or => BinOp::Or,
                    Rule::op_and => BinOp::And,
                    Rule::op_eq => BinOp::Eq,
                    Rule::op_ne => BinOp::Ne,
                    Rule::op_lt => BinOp::Lt,
                    Rule::op_le => BinOp::Le,
                    Rule::op_gt => BinOp::Gt,
                    Rule::op_ge => BinOp::Ge,
                    Rule::op_contains => BinOp::Contains,
                    Rule::op_starts_with => BinOp::StartsWith,
                    Rule::op_ends_with => BinOp::EndsWith,
                    Rule::op_add => BinOp::Add,
                    Rule::op_sub => BinOp::Sub,
                    Rule::op_mul => BinOp::Mul,
                    Rule::op_div => BinOp::Div,
                    Rule::op_rem => BinOp::Rem,
                    Rule::op_coalesce => BinOp::Coalesce,
                    _ => return Err(self.bug(&op, "operator")),
                };
                let span = lhs.span.to(rhs.span);
                Ok(Node::new(
                    ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                    span,
                ))
            })
            .parse(p.into_inner())
    }

    fn primary(&self, p: Pair<Rule>) -> R<Expr> {
        let span = self.sp(&p);
        let kind = match p.as_rule() {
            Rule::duration => ExprKind::Lit(Lit::Duration(self.duration(p)?.node)),
            Rule::float => {
                let v = p
                    .as_str()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        Diagnostic::new(Code::BadLiteral, span, "this number is out of range")
                            .label("out of range")
                    })?;
                ExprKind::Lit(Lit::Float(v))
            }
            Rule::int => {
                let v = p.as_str().parse::<i64>().map_err(|_| {
                    Diagnostic::new(
                        Code::BadLiteral,
                        span,
                        format!("`{}` is too large for `int`", p.as_str()),
                    )
                    .label("too large for `int`")
                    .help(format!(
                        "an `int` is from {} to {}; for a larger number write a float: `{}.0`",
                        i64::MIN,
                        i64::MAX,
                        p.as_str()
                    ))
                })?;
                ExprKind::Lit(Lit::Int(v))
            }
            Rule::string => ExprKind::Lit(Lit::Str(self.string(p)?.node)),
            Rule::boolean => ExprKind::Lit(Lit::Bool(p.as_str() == "true")),
            Rule::time_lit => {
                ExprKind::Lit(Lit::Time(p.as_str().trim_start_matches('@').to_string()))
            }
            Rule::call => {
                let mut it = p.into_inner();
                let name = self.ident(next(&mut it, span)?);
                let args = it.map(|a| self.expr(a)).collect::<R<Vec<_>>>()?;
                ExprKind::Call(name, args)
            }
            Rule::paren => {
                let inner = next(&mut p.into_inner(), span)?;
                ExprKind::Paren(Box::new(self.expr(inner)?))
            }
            Rule::ident => ExprKind::Name(self.ident(p)),
            _ => return Err(self.bug(&p, "expression")),
        };
        Ok(Node::new(kind, span))
    }

    fn string(&self, p: Pair<Rule>) -> R<Node<String>> {
        let span = self.sp(&p);
        let raw = p.into_inner().next().map(|i| i.as_str()).unwrap_or("");
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                other => {
                    let shown = other.map(|c| c.to_string()).unwrap_or_default();
                    return Err(Diagnostic::new(
                        Code::Syntax,
                        span,
                        format!("unknown escape `\\{shown}` in a string"),
                    )
                    .label("in this string")
                    .help("the escapes are `\\n`, `\\t`, `\\r`, `\\\"` and `\\\\`"));
                }
            }
        }
        Ok(Node::new(out, span))
    }

    fn step_decl(&self, p: Pair<Rule>) -> R<StepDecl> {
        let span = self.sp(&p);
        let mut it = self.inner(p);
        let name = self.ident(next(&mut it, span)?);
        let mut clauses = Vec::new();
        for q in it {
            let qs = self.sp(&q);
            let rule = q.as_rule();
            let mut parts = self.inner(q);
            let clause = match rule {
                Rule::on_status => {
                    let status = self.status(next(&mut parts, qs)?);
                    let emit = self.emit_target(next(&mut parts, qs)?)?;
                    StepClause::OnStatus { status, emit }
                }
                Rule::on_trigger => StepClause::On(self.trigger(next(&mut parts, qs)?)?),
                Rule::after_clause => StepClause::After(self.duration(next(&mut parts, qs)?)?),
                Rule::acquire_clause => {
                    let resource = self.ident(next(&mut parts, qs)?);
                    let units = self.uint(next(&mut parts, qs)?)?;
                    StepClause::Acquire { resource, units }
                }
                Rule::run_clause => {
                    let program = self.string(next(&mut parts, qs)?)?;
                    let mut args = Vec::new();
                    let mut env = Vec::new();
                    for x in parts {
                        match x.as_rule() {
                            Rule::run_args => {
                                for a in self.inner(x) {
                                    args.push(self.expr(a)?);
                                }
                            }
                            Rule::run_env => {
                                let xs = self.sp(&x);
                                env = self.record(next(&mut self.inner(x), xs)?)?;
                            }
                            _ => return Err(self.bug(&x, "run part")),
                        }
                    }
                    StepClause::Run { program, args, env }
                }
                Rule::post_clause => {
                    let url = self.string(next(&mut parts, qs)?)?;
                    let body = match parts.next() {
                        Some(r) => self.record(r)?,
                        None => Vec::new(),
                    };
                    StepClause::Post { url, body }
                }
                Rule::emit_clause => StepClause::Emit(self.emit_target(next(&mut parts, qs)?)?),
                Rule::timeout_clause => StepClause::Timeout(self.duration(next(&mut parts, qs)?)?),
                Rule::retry_clause => {
                    let count = self.uint(next(&mut parts, qs)?)?;
                    let backoff = match parts.next() {
                        Some(d) => Some(self.duration(d)?),
                        None => None,
                    };
                    StepClause::Retry { count, backoff }
                }
                Rule::recover_clause => {
                    let mut entries = Vec::new();
                    for e in parts {
                        let es = self.sp(&e);
                        let mut ei = e.into_inner();
                        let status = self.status(next(&mut ei, es)?);
                        let r = next(&mut ei, es)?;
                        let rs = self.sp(&r);
                        let rec = if r.as_str() == "rerun" {
                            Recovery::Rerun
                        } else {
                            Recovery::Skip
                        };
                        entries.push((status, Node::new(rec, rs)));
                    }
                    StepClause::Recover(entries)
                }
                _ => {
                    return Err(Diagnostic::new(
                        Code::Syntax,
                        qs,
                        "internal parser error: unexpected step clause",
                    ))
                }
            };
            clauses.push(Node::new(clause, qs));
        }
        Ok(StepDecl { name, clauses })
    }

    fn status(&self, p: Pair<Rule>) -> Node<Status> {
        let s = match p.as_str() {
            "ready" => Status::Ready,
            "active" => Status::Active,
            "success" => Status::Success,
            "failure" => Status::Failure,
            _ => Status::Complete,
        };
        Node::new(s, self.sp(&p))
    }

    fn emit_target(&self, p: Pair<Rule>) -> R<EmitEvent> {
        let span = self.sp(&p);
        let mut it = p.into_inner();
        let event = self.ident(next(&mut it, span)?);
        let fields = match it.next() {
            Some(r) => self.record(r)?,
            None => Vec::new(),
        };
        Ok(EmitEvent { event, fields })
    }

    fn trigger(&self, p: Pair<Rule>) -> R<Trigger> {
        let span = self.sp(&p);
        let rule = p.as_rule();
        match rule {
            Rule::ident => Ok(Node::new(TriggerKind::Event(self.ident(p)), span)),
            Rule::trigger | Rule::trigger_and => {
                let mut ops = Vec::new();
                for x in p.into_inner() {
                    if matches!(x.as_rule(), Rule::op_or | Rule::op_and) {
                        continue;
                    }
                    ops.push(self.trigger(x)?);
                }
                if ops.len() == 1 {
                    if let Some(only) = ops.pop() {
                        return Ok(only);
                    }
                }
                // Flatten `A or (B or C)` as the formatter prints it.
                let mut flat = Vec::new();
                for o in ops {
                    match o.node {
                        TriggerKind::Or(v) if rule == Rule::trigger => flat.extend(v),
                        TriggerKind::And(v) if rule == Rule::trigger_and => flat.extend(v),
                        other => flat.push(Node::new(other, o.span)),
                    }
                }
                Ok(Node::new(
                    if rule == Rule::trigger {
                        TriggerKind::Or(flat)
                    } else {
                        TriggerKind::And(flat)
                    },
                    span,
                ))
            }
            _ => Err(self.bug(&p, "trigger")),
        }
    }

    fn process_decl(&self, p: Pair<Rule>) -> R<ProcessDecl> {
        let span = self.sp(&p);
        let mut it = self.inner(p);
        let name = self.ident(next(&mut it, span)?);
        let key = self.ident(next(&mut it, span)?);
        let mut items = Vec::new();
        for q in it {
            let qs = self.sp(&q);
            let item = match q.as_rule() {
                Rule::activities => {
                    ProcessItem::Activities(self.inner(q).map(|a| self.ident(a)).collect())
                }
                Rule::idle => {
                    let d = next(&mut self.inner(q), qs)?;
                    ProcessItem::Idle(self.duration(d)?)
                }
                Rule::initial_marking => {
                    let mut parts = q.into_inner();
                    let m = next(&mut parts, qs)?;
                    let marking = match m.as_str() {
                        "pending" => Marking::Pending,
                        "excluded" => Marking::Excluded,
                        _ => Marking::Executed,
                    };
                    ProcessItem::Initial(marking, parts.map(|a| self.ident(a)).collect())
                }
                Rule::relation => {
                    let mut parts = q.into_inner();
                    let from = self.ident(next(&mut parts, qs)?);
                    let arrow = next(&mut parts, qs)?;
                    let kind = match arrow.as_str() {
                        "-->*" => RelationKind::Condition,
                        "*-->" => RelationKind::Response,
                        "-->+" => RelationKind::Include,
                        "-->%" => RelationKind::Exclude,
                        _ => RelationKind::Milestone,
                    };
                    let kind = Node::new(kind, self.sp(&arrow));
                    let to = self.ident(next(&mut parts, qs)?);
                    ProcessItem::Relation { from, kind, to }
                }
                _ => return Err(self.bug(&q, "process part")),
            };
            items.push(Node::new(item, qs));
        }
        Ok(ProcessDecl { name, key, items })
    }
}

/// Length of `text` without trailing whitespace and `//` comments.
fn trimmed_len(text: &str) -> usize {
    let mut t = text.trim_end();
    loop {
        let line_start = t.rfind('\n').map_or(0, |i| i + 1);
        let line = &t[line_start..];
        let mut in_str = false;
        let mut cut = None;
        let mut chars = line.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' if in_str => {
                    chars.next();
                }
                '"' => in_str = !in_str,
                '/' if !in_str && chars.peek().is_some_and(|(_, n)| *n == '/') => {
                    cut = Some(i);
                    break;
                }
                _ => {}
            }
        }
        match cut {
            Some(i) => t = t[..line_start + i].trim_end(),
            None => return t.len(),
        }
    }
}

/// CEP023 for a duration past `Duration::MAX_MS`.
fn too_long(span: Span) -> Diagnostic {
    Diagnostic::new(
        Code::BadLiteral,
        span,
        "this duration is longer than the range of valid times",
    )
    .label("too long")
    .help(format!(
        "a duration is at most {}h (10,000 years: valid times run from 0000-01-01 to 9999-12-31)",
        Duration::MAX_MS / 3_600_000
    ))
}

fn next<'a>(it: &mut impl Iterator<Item = Pair<'a, Rule>>, span: Span) -> R<Pair<'a, Rule>> {
    it.next()
        .ok_or_else(|| Diagnostic::new(Code::Syntax, span, "internal parser error: missing part"))
}

fn is_keyword(r: Rule) -> bool {
    matches!(
        r,
        Rule::kw_event
            | Rule::kw_pattern
            | Rule::kw_resource
            | Rule::kw_capacity
            | Rule::kw_step
            | Rule::kw_process
            | Rule::kw_partition
            | Rule::kw_by
            | Rule::kw_within
            | Rule::kw_skip
            | Rule::kw_past
            | Rule::kw_last
            | Rule::kw_to
            | Rule::kw_next
            | Rule::kw_then
            | Rule::kw_any
            | Rule::kw_not
            | Rule::kw_halt
            | Rule::kw_on
            | Rule::kw_emit
            | Rule::kw_where
            | Rule::kw_after
            | Rule::kw_acquire
            | Rule::kw_run
            | Rule::kw_args
            | Rule::kw_with
            | Rule::kw_post
            | Rule::kw_body
            | Rule::kw_timeout
            | Rule::kw_on_timeout
            | Rule::kw_retry
            | Rule::kw_backoff
            | Rule::kw_recover
            | Rule::kw_activities
            | Rule::kw_idle
            | Rule::close
    )
}

fn block_mod(word: &str) -> BlockMod {
    match word {
        "greedy" => BlockMod::Greedy,
        "consecutive" => BlockMod::Consecutive,
        _ => BlockMod::Any,
    }
}

fn check_decl_depth(d: &Decl, errors: &mut Vec<Diagnostic>) {
    let mut exprs: Vec<&Expr> = Vec::new();
    match &d.node {
        DeclKind::Pattern(p) => {
            let mut stack: Vec<&Node<PatternItem>> = p.items.iter().collect();
            while let Some(it) = stack.pop() {
                match &it.node {
                    PatternItem::Group(g) => stack.extend(g.items.iter()),
                    PatternItem::Block(b) => exprs.extend(b.predicate.iter()),
                    PatternItem::Not(n) => exprs.extend(n.predicate.iter()),
                    PatternItem::Halt(g) => exprs.extend(g.predicate.iter()),
                    PatternItem::Emit(fs) => exprs.extend(fs.iter().map(|f| &f.value)),
                    PatternItem::OnTimeout(e) => exprs.extend(e.fields.iter().map(|f| &f.value)),
                }
            }
        }
        DeclKind::Step(s) => {
            for c in &s.clauses {
                match &c.node {
                    StepClause::Run { args, env, .. } => {
                        exprs.extend(args.iter());
                        exprs.extend(env.iter().map(|f| &f.value));
                    }
                    StepClause::Post { body, .. } => exprs.extend(body.iter().map(|f| &f.value)),
                    StepClause::Emit(e) | StepClause::OnStatus { emit: e, .. } => {
                        exprs.extend(e.fields.iter().map(|f| &f.value))
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    for e in exprs {
        if let Some(at) = too_deep(e, 0) {
            errors.push(
                Diagnostic::new(Code::Syntax, at, "this expression is nested too deeply")
                    .label(format!("more than {MAX_EXPR_DEPTH} levels deep"))
                    .help("split the expression into simpler parts"),
            );
        }
    }
}

fn too_deep(e: &Expr, depth: usize) -> Option<Span> {
    if depth > MAX_EXPR_DEPTH {
        return Some(e.span);
    }
    match &e.node {
        ExprKind::Lit(_) | ExprKind::Name(_) => None,
        ExprKind::Field(x, _)
        | ExprKind::Unary(_, x)
        | ExprKind::Paren(x)
        | ExprKind::IsNull(x, _) => too_deep(x, depth + 1),
        ExprKind::Call(_, args) => args.iter().find_map(|a| too_deep(a, depth + 1)),
        ExprKind::Binary(_, l, r) => too_deep(l, depth + 1).or_else(|| too_deep(r, depth + 1)),
    }
}

#[cfg(test)]
mod tests;
