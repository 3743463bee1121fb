//! Mistakes an author is likely to make, recognised where pest stops, so
//! that a syntax error says what is wrong and how to write it instead:
//! operators from other languages (`=`, `&&`, `||`, `!`, `<>`), single
//! quotes, `1e3`, durations without a unit or with a unit the language does
//! not have, misspelt keywords, and characters outside ASCII.

use super::scan::first_non_ascii;
use super::{Cx, Rule};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};

/// Every keyword, reserved or contextual, that a misspelling may be
/// compared with when it is not clear which ones the grammar expected.
const LINE_KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "contains",
    "starts_with",
    "ends_with",
    "next",
    "then",
    "halt",
    "emit",
    "where",
    "within",
    "partition",
];

/// A character outside ASCII, outside strings and comments, in `chunk`
/// (which starts at `cx.offset`). The grammar never accepts one there, so
/// it is always worth reporting, and pest's own error would not point at it.
pub(super) fn non_ascii(cx: &Cx, chunk: &str) -> Option<Diagnostic> {
    let (at, c) = first_non_ascii(chunk)?;
    let span = cx.span(at, at + c.len_utf8());
    let code = format!("U+{:04X}", u32::from(c));
    let d = match c {
        '\u{feff}' => Diagnostic::new(
            Code::Syntax,
            span,
            "a byte order mark is allowed only at the very start of a file",
        )
        .label(format!("byte order mark ({code})"))
        .help("remove it"),
        '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{2018}' | '\u{2019}' | '\u{201a}' => {
            Diagnostic::new(
                Code::Syntax,
                span,
                format!("`{c}` is a typographic quote: strings use straight double quotes `\"`"),
            )
            .label("typographic quote")
            .help("write the string as `\"...\"` (an editor may have replaced the quotes)")
        }
        c if c.is_whitespace() => Diagnostic::new(
            Code::Syntax,
            span,
            format!("a non-ASCII space ({code}) is allowed only in strings and comments"),
        )
        .label(code.clone())
        .help("replace it with a plain space"),
        c if c.is_alphanumeric() => {
            let word = word_around(chunk, at);
            let mut d = Diagnostic::new(
                Code::Syntax,
                span,
                format!("`{word}` is not a valid name: names are ASCII letters, digits and `_`"),
            )
            .label(format!("`{c}` is not ASCII"));
            d = match transliterate(word) {
                Some(ascii) => d.help(format!(
                    "write `{ascii}`; non-ASCII text is allowed in strings and comments"
                )),
                None => d.help(
                    "write the name in ASCII; non-ASCII text is allowed in strings and comments",
                ),
            };
            d
        }
        c => match ascii_operator(c) {
            Some(op) => Diagnostic::new(
                Code::Syntax,
                span,
                format!("`{c}` is not an operator: write `{op}`"),
            )
            .label(format!("write `{op}`"))
            .help("operators are written in ASCII"),
            None => Diagnostic::new(
                Code::Syntax,
                span,
                format!("unexpected character `{c}` ({code})"),
            )
            .label("not allowed here")
            .help("outside strings and comments, rules are written in ASCII"),
        },
    };
    Some(d)
}

/// The ASCII spelling of a mathematical or logical sign.
fn ascii_operator(c: char) -> Option<&'static str> {
    Some(match c {
        '≥' => ">=",
        '≤' => "<=",
        '≠' => "!=",
        '−' | '–' => "-",
        '×' | '·' => "*",
        '÷' => "/",
        '∧' => "and",
        '∨' => "or",
        '¬' => "not",
        '→' | '⟶' => "then",
        _ => return None,
    })
}

/// The name-like word (letters, digits, `_`, any script) around `at`.
fn word_around(text: &str, at: usize) -> &str {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let start = text
        .get(..at)
        .unwrap_or("")
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(at, |(i, _)| i);
    let end = text
        .get(at..)
        .unwrap_or("")
        .char_indices()
        .find(|(_, c)| !is_word(*c))
        .map_or(text.len(), |(i, _)| at + i);
    text.get(start..end).unwrap_or("")
}

/// `word` with Latin letters with accents replaced by plain ones, when
/// every non-ASCII letter has such a replacement.
fn transliterate(word: &str) -> Option<String> {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let plain = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => "a",
            'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' => "A",
            'ç' | 'ć' | 'č' => "c",
            'Ç' | 'Ć' | 'Č' => "C",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
            'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ę' | 'Ě' => "E",
            'ì' | 'í' | 'î' | 'ï' | 'ī' => "i",
            'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' => "I",
            'ñ' | 'ń' | 'ň' => "n",
            'Ñ' | 'Ń' | 'Ň' => "N",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => "o",
            'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' => "O",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => "u",
            'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů' => "U",
            'ý' | 'ÿ' => "y",
            'Ý' => "Y",
            'ß' => "ss",
            'š' | 'ś' => "s",
            'Š' | 'Ś' => "S",
            'ž' | 'ź' | 'ż' => "z",
            'Ž' | 'Ź' | 'Ż' => "Z",
            'ł' => "l",
            'Ł' => "L",
            'æ' => "ae",
            'Æ' => "AE",
            'œ' => "oe",
            'Œ' => "OE",
            _ => return None,
        };
        out.push_str(plain);
    }
    Some(out)
}

/// A mistake recognised at `pos` in `text` (the file from `cx.offset`),
/// where pest expected one of `positives`.
pub(super) fn at_error(cx: &Cx, text: &str, pos: usize, positives: &[Rule]) -> Option<Diagnostic> {
    let rest = text.get(pos..).unwrap_or("");
    let before = text.get(..pos).unwrap_or("");
    operator(cx, before, rest, pos, positives)
        .or_else(|| single_quote(cx, rest, pos))
        .or_else(|| number(cx, before, rest, pos, positives))
        .or_else(|| field_separator(cx, rest, pos, positives))
}

fn operator(
    cx: &Cx,
    before: &str,
    rest: &str,
    pos: usize,
    positives: &[Rule],
) -> Option<Diagnostic> {
    // `not B | C`, `halt on B | C`: an alternation where one type goes.
    if rest.starts_with('|') && !rest.starts_with("||") {
        let line = before.rsplit('\n').next().unwrap_or("").trim_start();
        // The keyword, then one name, then the `|`.
        let names_one = |w: &str| {
            line.strip_prefix(w).is_some_and(|r| {
                let r = r.trim();
                !r.is_empty() && r.bytes().all(is_word_byte)
            })
        };
        let what = if names_one("not ") {
            Some("not")
        } else if names_one("halt on ") {
            Some("halt on")
        } else {
            None
        };
        if let Some(what) = what {
            return Some(
                Diagnostic::new(
                    Code::Syntax,
                    cx.span(pos, pos + 1),
                    format!("`{what}` names one event type"),
                )
                .label("an alternation (`A | B`) is for blocks")
                .help(format!(
                    "write one `{what}` per type, each on its own line: `{what} B` and `{what} C`"
                )),
            );
        }
    }
    let (len, wrote, write, help) = if rest.starts_with("&&") {
        (
            2,
            "&&",
            "and",
            "conditions are combined with `and`, `or` and `not`",
        )
    } else if rest.starts_with("||") {
        (
            2,
            "||",
            "or",
            "conditions are combined with `and`, `or` and `not`",
        )
    } else if rest.starts_with('&') {
        (
            1,
            "&",
            "and",
            "conditions are combined with `and`, `or` and `not`",
        )
    } else if rest.starts_with('|') {
        (
            1,
            "|",
            "or",
            "conditions are combined with `and`, `or` and `not`",
        )
    } else if rest.starts_with('!') && !rest.starts_with("!=") {
        (
            1,
            "!",
            "not",
            "negation is the word `not`: `not (celsius > 30)`",
        )
    } else if rest.starts_with(';') {
        return Some(
            Diagnostic::new(
                Code::Syntax,
                cx.span(pos, pos + 1),
                "`;` is not part of the language",
            )
            .label("remove it")
            .help(
                "fields are separated by `,`; blocks, clauses and declarations need no separator",
            ),
        );
    } else if rest.starts_with('>') && before.ends_with('-') {
        let span = cx.span(pos - 1, pos + 1);
        return Some(
            Diagnostic::new(Code::Syntax, span, "`->` is not an operator")
                .label("not an operator")
                .help("a block follows the one before with `then`, `next` or `then any`: `then b: Humidity`"),
        );
    } else if rest.starts_with('(')
        && before.trim_end().ends_with(" by")
        && positives == [Rule::ident]
    {
        return Some(
            Diagnostic::new(
                Code::Syntax,
                cx.span(pos, pos + 1),
                "the keys of `partition by` are not in parentheses",
            )
            .label("remove the parentheses")
            .help(
                match rest
                    .get(1..)
                    .and_then(|r| r.split(')').next())
                    .filter(|k| !k.contains('\n'))
                {
                    Some(keys) => format!("list the fields: `partition by {}`", keys.trim()),
                    None => "list the fields: `partition by sensor, site`".to_string(),
                },
            ),
        );
    } else if rest.starts_with('>') && before.ends_with('<') {
        let span = cx.span(pos - 1, pos + 1);
        return Some(
            Diagnostic::new(Code::Syntax, span, "`<>` is not an operator: write `!=`")
                .label("write `!=`")
                .help("the comparisons are `==`, `!=`, `<`, `<=`, `>` and `>=`"),
        );
    } else if rest.starts_with('=') && !rest.starts_with("==") {
        if expects_operator(positives) || before.ends_with("==") {
            (
                1,
                "=",
                "==",
                "`==` compares two values; there is no assignment",
            )
        } else {
            (
                1,
                "=",
                ":",
                "a binding is written `a: Temperature` and a field `name: value`",
            )
        }
    } else {
        return None;
    };
    let span = cx.span(pos, pos + len);
    let message = match write {
        "==" => "`=` is not a comparison: write `==`".to_string(),
        ":" => "`=` is not allowed here: write `:`".to_string(),
        _ => format!("`{wrote}` is not an operator: write `{write}`"),
    };
    Some(
        Diagnostic::new(Code::Syntax, span, message)
            .label(format!("write `{write}`"))
            .help(help),
    )
}

fn expects_operator(positives: &[Rule]) -> bool {
    positives.iter().any(|r| {
        matches!(
            r,
            Rule::op_or
                | Rule::op_and
                | Rule::op_eq
                | Rule::op_ne
                | Rule::op_lt
                | Rule::op_le
                | Rule::op_gt
                | Rule::op_ge
                | Rule::op_add
                | Rule::op_sub
                | Rule::op_mul
                | Rule::op_div
                | Rule::op_rem
        )
    })
}

fn single_quote(cx: &Cx, rest: &str, pos: usize) -> Option<Diagnostic> {
    let inner = rest.strip_prefix('\'')?;
    let line = inner.split('\n').next().unwrap_or("");
    let (span, fix) = match line.find('\'') {
        Some(close) => {
            let content = line.get(..close).unwrap_or("");
            let escaped = content.replace('\\', "\\\\").replace('"', "\\\"");
            (
                cx.span(pos, pos + close + 2),
                format!("write `\"{escaped}\"`"),
            )
        }
        None => (
            cx.span(pos, pos + 1),
            "write the string in double quotes: `\"...\"`".to_string(),
        ),
    };
    Some(
        Diagnostic::new(
            Code::Syntax,
            span,
            "strings are written in double quotes, not single quotes",
        )
        .label("single quotes")
        .help(fix),
    )
}

/// The digits at the end of `before`, as a byte count.
fn trailing_digits(before: &str) -> usize {
    before
        .bytes()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count()
}

/// Numbers and durations: an exponent without a decimal point (`1e3`), a
/// duration without a unit (`within 10`), with a space before the unit
/// (`10 s`), with a unit the language does not have (`10min`, `1d`), or
/// with a fraction (`1.5s`); `1.` and `.5`.
fn number(cx: &Cx, before: &str, rest: &str, pos: usize, positives: &[Rule]) -> Option<Diagnostic> {
    // `.5`: a number without its leading digit.
    if before
        .bytes()
        .last()
        .is_none_or(|b| !b.is_ascii_alphanumeric())
    {
        if let Some(frac) = rest.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n > 0 && expects_expression(positives) {
                let written = rest.get(..n + 1).unwrap_or("");
                return Some(
                    Diagnostic::new(
                        Code::Syntax,
                        cx.span(pos, pos + n + 1),
                        format!("`{written}` is not a number: write `0{written}`"),
                    )
                    .label(format!("write `0{written}`"))
                    .help("a float has digits on both sides of the `.`"),
                );
            }
        }
    }
    // The number is either just before `pos` (pest stopped after its
    // digits) or starts at `pos`.
    let back = trailing_digits(before);
    let start = pos - back;
    let whole = before.get(start..).unwrap_or("");
    let text_from = |n: usize| -> &str { rest.get(..n).unwrap_or("") };
    let (digits, after, after_at) = if back > 0 {
        (whole, rest, pos)
    } else {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        (text_from(n), rest.get(n..).unwrap_or(""), pos + n)
    };
    if before
        .get(..start)
        .and_then(|b| b.chars().last())
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return None;
    }
    let duration_only = !positives.is_empty()
        && positives.iter().all(|r| {
            matches!(
                r,
                Rule::duration | Rule::duration_amount | Rule::duration_unit
            )
        });
    let may_be_duration = positives.iter().any(|r| {
        matches!(
            r,
            Rule::duration | Rule::duration_amount | Rule::duration_unit
        )
    });

    // `1e3`, `1E-3`: an exponent needs a decimal point.
    if let Some(exp) = after.strip_prefix(['e', 'E']) {
        let sign = usize::from(exp.starts_with(['+', '-']));
        let exp_digits = exp
            .get(sign..)
            .unwrap_or("")
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let tail = exp.get(sign + exp_digits..).unwrap_or("");
        let ends = !tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if exp_digits > 0 && ends {
            let end = after_at + 1 + sign + exp_digits;
            let exp_text = after.get(..1 + sign + exp_digits).unwrap_or("");
            let written = format!("{digits}{exp_text}");
            let float = format!("{digits}.0{exp_text}");
            let mut help = format!(
                "a number with an exponent is a float and needs a decimal point: `{float}`"
            );
            if sign == 0 || exp.starts_with('+') {
                let int = exp
                    .get(sign..sign + exp_digits)
                    .and_then(|e| e.parse::<u32>().ok())
                    .and_then(|e| 10i64.checked_pow(e))
                    .zip(digits.parse::<i64>().ok())
                    .and_then(|(p, m)| m.checked_mul(p));
                match int {
                    Some(int) => help.push_str(&format!("; for an int, write `{int}`")),
                    None => help.push_str(&format!(
                        "; it is too large for `int` (at most {})",
                        i64::MAX
                    )),
                }
            }
            return Some(
                Diagnostic::new(
                    Code::Syntax,
                    cx.span(start, end),
                    format!("`{written}` is not a number: write `{float}`"),
                )
                .label(format!("write `{float}`"))
                .help(help),
            );
        }
    }

    if !may_be_duration {
        return None;
    }
    let amount = digits;
    // `1.5s`, `1.`: a duration is a whole number; a float needs digits
    // after the point.
    if let Some(frac) = after.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        let frac_digits = frac.get(..n).unwrap_or("");
        let unit_len = frac
            .get(n..)
            .unwrap_or("")
            .bytes()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        let unit = frac.get(n..n + unit_len).unwrap_or("");
        let end = after_at + 1 + n + unit_len;
        let written = format!("{amount}.{frac_digits}{unit}");
        if n == 0 {
            if !unit.is_empty() {
                return None;
            }
            return Some(
                Diagnostic::new(
                    Code::Syntax,
                    cx.span(start, end),
                    format!("`{written}` is not a number: write `{amount}.0`"),
                )
                .label(format!("write `{amount}.0`"))
                .help("a float has digits on both sides of the `.`"),
            );
        }
        let ms = unit_millis(unit)?;
        let mut d = Diagnostic::new(
            Code::Syntax,
            cx.span(start, end),
            format!("`{written}` is not a duration: durations are whole numbers"),
        );
        d = match fractional_millis(amount, frac_digits, ms) {
            Some(total) => {
                let fix = best_unit(total);
                d.label(format!("write `{fix}`"))
                    .help(format!("write it in a smaller unit: `{fix}`"))
            }
            None => d
                .label("finer than a millisecond")
                .help("durations have millisecond precision"),
        };
        return Some(d);
    }

    // A word right after the number (`10min`, `1d`), or after a space
    // (`10 seconds`, `10 s`).
    let glued = after
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let (word, word_end) = if glued > 0 {
        (after.get(..glued).unwrap_or(""), after_at + glued)
    } else {
        let spaces = after
            .bytes()
            .take_while(|b| *b == b' ' || *b == b'\t')
            .count();
        let w = after
            .get(spaces..)
            .unwrap_or("")
            .bytes()
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        (
            after.get(spaces..spaces + w).unwrap_or(""),
            after_at + spaces + w,
        )
    };
    let units = "the units are `ms`, `s`, `m` and `h`";
    if let Some((unit, factor)) = unit_word(word) {
        let fix = amount
            .parse::<u64>()
            .ok()
            .and_then(|a| a.checked_mul(factor))
            .map(|a| format!("{a}{unit}"));
        let fix = fix.unwrap_or_else(|| format!("{amount}{unit}"));
        let message = if glued == 0 {
            format!("a duration is written without a space: write `{fix}`")
        } else if unit_millis(word).is_some() {
            // A real unit, glued: pest failed for another reason.
            return None;
        } else {
            format!("`{word}` is not a duration unit: write `{fix}`")
        };
        return Some(
            Diagnostic::new(Code::Syntax, cx.span(start, word_end), message)
                .label(format!("write `{fix}`"))
                .help(units),
        );
    }
    if glued > 0 {
        if !duration_only {
            return None;
        }
        return Some(
            Diagnostic::new(
                Code::Syntax,
                cx.span(start, word_end),
                format!("`{word}` is not a duration unit"),
            )
            .label("not a unit")
            .help(format!("{units}: `{amount}s`, `{amount}m`")),
        );
    }
    if duration_only {
        return Some(
            Diagnostic::new(
                Code::Syntax,
                cx.span(start, after_at),
                format!("a duration needs a unit: write `{amount}s`, `{amount}m`, ..."),
            )
            .label("no unit")
            .help(format!(
                "{units}, written right after the number: `{amount}ms`, `{amount}s`, `{amount}m`, `{amount}h`"
            )),
        );
    }
    None
}

fn expects_expression(positives: &[Rule]) -> bool {
    positives.iter().any(|r| {
        matches!(
            r,
            Rule::expr | Rule::float | Rule::int | Rule::duration | Rule::paren | Rule::call
        )
    })
}

/// Milliseconds in one of the language's duration units.
fn unit_millis(unit: &str) -> Option<u64> {
    Some(match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    })
}

/// A unit word an author may write, as the language's unit and how many
/// of them one is worth.
fn unit_word(word: &str) -> Option<(&'static str, u64)> {
    Some(match word.to_ascii_lowercase().as_str() {
        "ms" | "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => ("ms", 1),
        "s" | "sec" | "secs" | "second" | "seconds" => ("s", 1),
        "m" | "min" | "mins" | "minute" | "minutes" => ("m", 1),
        "h" | "hr" | "hrs" | "hour" | "hours" => ("h", 1),
        "d" | "day" | "days" => ("h", 24),
        "w" | "wk" | "week" | "weeks" => ("h", 168),
        _ => return None,
    })
}

/// `amount.frac` of a unit worth `ms` milliseconds, in whole
/// milliseconds, if it is a whole number of them.
fn fractional_millis(amount: &str, frac: &str, ms: u64) -> Option<u64> {
    let scale = 10u64.checked_pow(u32::try_from(frac.len()).ok()?)?;
    let mantissa = amount
        .parse::<u64>()
        .ok()?
        .checked_mul(scale)?
        .checked_add(frac.parse::<u64>().ok()?)?;
    let total = mantissa.checked_mul(ms)?;
    total.is_multiple_of(scale).then_some(total / scale)
}

/// `ms` milliseconds in the largest unit that holds it exactly.
fn best_unit(ms: u64) -> String {
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms.is_multiple_of(size) && ms > 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// `sensor str` or `sensor = str` in an event, `sensor = a.sensor` in a
/// record: a field name not followed by `:`.
fn field_separator(cx: &Cx, rest: &str, pos: usize, positives: &[Rule]) -> Option<Diagnostic> {
    if !positives
        .iter()
        .any(|r| matches!(r, Rule::field_decl | Rule::field_init | Rule::record))
    {
        return None;
    }
    let body = rest.strip_prefix('{').unwrap_or(rest);
    let skipped = rest.len() - body.len();
    let lead = body
        .bytes()
        .take_while(|b| *b == b' ' || *b == b'\t')
        .count();
    let name_len = body
        .get(lead..)
        .unwrap_or("")
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if name_len == 0 {
        return None;
    }
    let name_start = pos + skipped + lead;
    let name = body.get(lead..lead + name_len).unwrap_or("");
    let after = body.get(lead + name_len..).unwrap_or("");
    let gap = after
        .bytes()
        .take_while(|b| *b == b' ' || *b == b'\t')
        .count();
    let next = after.get(gap..).unwrap_or("");
    let at = name_start + name_len + gap;
    if next.starts_with('=') && !next.starts_with("==") {
        let len = if next.starts_with("=>") { 2 } else { 1 };
        return Some(
            Diagnostic::new(
                Code::Syntax,
                cx.span(at, at + len),
                format!(
                    "`{}` is not allowed here: write `:`",
                    next.get(..len).unwrap_or("=")
                ),
            )
            .label("write `:`")
            .help(format!(
                "a field is written `{name}: value` (in an event, `{name}: type`)"
            )),
        );
    }
    if next.starts_with(':')
        && skipped == 0
        && positives.contains(&Rule::record)
        && !positives.contains(&Rule::field_init)
    {
        return Some(
            Diagnostic::new(
                Code::Syntax,
                cx.span(name_start, name_start + name_len),
                "a record's fields are written in braces",
            )
            .label("expected `{` before this")
            .help(format!("write `{{ {name}: ... }}`")),
        );
    }
    if next.starts_with(|c: char| c.is_ascii_alphabetic()) && skipped == 0 {
        return Some(
            Diagnostic::new(
                Code::Syntax,
                cx.span(name_start, name_start + name_len),
                format!("expected `:` after the field name `{name}`"),
            )
            .label("add `:` after this")
            .help("a field is written `name: type` (in a record, `name: value`)"),
        );
    }
    None
}

/// A help line for a word at `pos` that is close to one of the keywords
/// pest expected there (`wihtin`, `AND`).
pub(super) fn keyword_help(word: &str, positives: &[Rule]) -> Option<String> {
    if word.is_empty() {
        return None;
    }
    let mut candidates: Vec<&str> = Vec::new();
    for r in positives {
        for k in rule_keywords(*r) {
            if !candidates.contains(k) {
                candidates.push(k);
            }
        }
    }
    if candidates.contains(&word) {
        return None;
    }
    let k = did_you_mean(word, candidates.iter().copied())?;
    Some(spelling_help(word, k))
}

fn spelling_help(word: &str, k: &str) -> String {
    if word.eq_ignore_ascii_case(k) {
        format!("keywords are written in lower case: `{k}`")
    } else {
        format!("did you mean `{k}`?")
    }
}

/// The help for a word on the line that was read as a name.
fn earlier_help(word: &str, k: &str) -> String {
    if word.eq_ignore_ascii_case(k) {
        format!("keywords are written in lower case: `{k}`")
    } else {
        format!("write `{k}`; `{word}` was read as a name")
    }
}

/// Words of other query languages, as the message and the help to give.
pub(super) fn foreign_word(word: &str) -> Option<(String, &'static str)> {
    let lower = word.to_ascii_lowercase();
    let (what, help) = match lower.as_str() {
        "like" | "ilike" => (
            "an operator",
            "to match text, use `contains`, `starts_with` or `ends_with`",
        ),
        "in" => ("an operator", "to test several values, write `x == a or x == b`"),
        "between" => ("an operator", "for a range, write `x >= a and x <= b`"),
        "is" | "null" => (
            "a keyword",
            "there is no `null`: every field of an event that arrived has a value",
        ),
        "select" | "from" => (
            "a keyword",
            "rules are `event`, `pattern`, `resource`, `step` and `process` declarations, not queries",
        ),
        "followed" | "fby" => (
            "a keyword",
            "a block follows the one before with `then` (or `next`, `then any`)",
        ),
        "xor" => ("an operator", "write `(a or b) and not (a and b)`"),
        _ => return None,
    };
    Some((format!("`{word}` is not {what}"), help))
}

/// A misspelt keyword, or a word of another query language, earlier on
/// the line where pest stopped: it was read as a name, and the error only
/// shows later (`a: T wehre x > 1` fails at `>`). The diagnostic points at
/// the word.
pub(super) fn earlier_word(cx: &Cx, text: &str, pos: usize) -> Option<Diagnostic> {
    let line_start = text.get(..pos)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..pos)?;
    let b = line.as_bytes();
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if c == b'"' {
            in_str = true;
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            return None;
        }
        if !(c.is_ascii_alphabetic() || c == b'_') || (i > 0 && is_word_byte(b[i - 1])) {
            i += 1;
            continue;
        }
        let len = b[i..].iter().take_while(|x| is_word_byte(**x)).count();
        let word = line.get(i..i + len).unwrap_or("");
        let prev = line.get(..i).unwrap_or("").trim_end();
        let next = line.get(i + len..).unwrap_or("").trim_start();
        // A field access, a binding, a call (`f(`, no space: `IN (` is
        // SQL) or an event name after `:` is a name by its place.
        let named = prev.ends_with('.')
            || prev.ends_with(':')
            || next.starts_with(':')
            || line.get(i + len..).is_some_and(|r| r.starts_with('('));
        let at = line_start + i;
        if prev.is_empty() && matches!(word, "within" | "partition" | "skip") {
            return Some(
                Diagnostic::new(
                    Code::Syntax,
                    cx.span(at, at + len),
                    format!("`{word}` belongs in the pattern's header"),
                )
                .label("not a block")
                .help(format!(
                    "write it after the pattern's name, before `{{`: `pattern Name {word} ... {{`"
                )),
            );
        }
        if !named && !LINE_KEYWORDS.contains(&word) {
            let found = foreign_word(word)
                .map(|(m, h)| (m, h.to_string()))
                .or_else(|| {
                    did_you_mean(word, LINE_KEYWORDS.iter().copied())
                        .filter(|k| word.len() >= 4 || word.eq_ignore_ascii_case(k))
                        .map(|k| {
                            let message = if word.eq_ignore_ascii_case(k) {
                                format!("`{word}` is not a keyword: write `{k}`")
                            } else {
                                format!("`{word}` is not a keyword: did you mean `{k}`?")
                            };
                            (message, earlier_help(word, k))
                        })
                });
            if let Some((message, help)) = found {
                let mut d = Diagnostic::new(Code::Syntax, cx.span(at, at + len), message)
                    .label("read as a name")
                    .help(help);
                if pos > at + len {
                    let width = text
                        .get(pos..)
                        .and_then(|r| r.chars().next())
                        .map_or(0, char::len_utf8);
                    d = d.also(cx.span(pos, pos + width), "so this does not fit");
                }
                return Some(d);
            }
        }
        i += len;
    }
    None
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The keywords a rule stands for, to compare a misspelling with.
fn rule_keywords(r: Rule) -> &'static [&'static str] {
    match r {
        Rule::kw_event => &["event"],
        Rule::kw_pattern => &["pattern"],
        Rule::kw_resource => &["resource"],
        Rule::kw_capacity => &["capacity"],
        Rule::kw_step => &["step"],
        Rule::kw_process => &["process"],
        Rule::event_decl
        | Rule::pattern_decl
        | Rule::resource_decl
        | Rule::step_decl
        | Rule::process_decl
        | Rule::file => &["event", "pattern", "resource", "step", "process"],
        Rule::kw_partition | Rule::partition_clause => &["partition"],
        Rule::kw_by => &["by"],
        Rule::kw_within | Rule::within_clause => &["within"],
        Rule::kw_skip | Rule::skip_clause => &["skip"],
        Rule::kw_past | Rule::skip_past_last => &["past"],
        Rule::kw_last => &["last"],
        Rule::kw_to | Rule::skip_to_next => &["to"],
        Rule::kw_next => &["next"],
        Rule::kw_then | Rule::then_any => &["then"],
        Rule::contiguity => &["next", "then"],
        Rule::kw_any => &["any"],
        Rule::kw_not | Rule::negation | Rule::op_not => &["not"],
        Rule::kw_halt | Rule::halt_item => &["halt"],
        Rule::kw_on | Rule::on_status | Rule::on_trigger => &["on"],
        Rule::kw_on_timeout | Rule::timeout_item => &["on", "timeout"],
        Rule::kw_emit | Rule::emit_item | Rule::emit_clause => &["emit"],
        Rule::kw_where | Rule::where_clause => &["where"],
        Rule::kw_after | Rule::after_clause => &["after"],
        Rule::kw_acquire | Rule::acquire_clause => &["acquire"],
        Rule::kw_run | Rule::run_clause => &["run"],
        Rule::kw_args | Rule::run_args => &["args"],
        Rule::kw_with | Rule::run_env => &["with"],
        Rule::kw_post | Rule::post_clause => &["post"],
        Rule::kw_body => &["body"],
        Rule::kw_timeout | Rule::timeout_clause => &["timeout"],
        Rule::kw_retry | Rule::retry_clause => &["retry"],
        Rule::kw_backoff => &["backoff"],
        Rule::kw_recover | Rule::recover_clause => &["recover"],
        Rule::kw_activities | Rule::activities => &["activities"],
        Rule::kw_idle | Rule::idle => &["idle"],
        Rule::status | Rule::recover_entry => {
            &["ready", "active", "success", "failure", "complete"]
        }
        Rule::recovery => &["rerun", "skip"],
        Rule::marking | Rule::initial_marking => &["pending", "excluded", "executed"],
        Rule::op_or => &["or"],
        Rule::op_and => &["and"],
        Rule::op_contains => &["contains"],
        Rule::op_starts_with => &["starts_with"],
        Rule::op_ends_with => &["ends_with"],
        Rule::boolean => &["true", "false"],
        _ => &[],
    }
}
