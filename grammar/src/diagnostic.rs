//! Diagnostics as plain data.
//!
//! Every problem the front end finds is a [`Diagnostic`] with a stable
//! [`Code`], a severity, a message in the author's words, labelled spans and
//! an optional help line. Nothing here renders: the CLI turns diagnostics
//! into ariadne reports for people or JSON for tools.

use crate::span::Span;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

macro_rules! codes {
    ($($variant:ident = $code:literal, $sev:ident, $summary:literal;)*) => {
        /// Stable diagnostic codes. A code, once published, keeps its meaning.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $($variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as written in messages, e.g. `CEP004`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The severity a diagnostic with this code has.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }

            /// One line saying what the code is about.
            pub fn summary(self) -> &'static str {
                match self { $(Code::$variant => $summary,)* }
            }
        }
    };
}

codes! {
    Syntax = "CEP001", Error, "syntax error";
    Duplicate = "CEP002", Error, "a name is declared twice";
    UnknownEvent = "CEP003", Error, "unknown event type";
    UnknownField = "CEP004", Error, "unknown field";
    TypeMismatch = "CEP005", Error, "type mismatch";
    UnknownBinding = "CEP006", Error, "unknown binding, or a binding used before it is bound";
    NotAGroup = "CEP007", Error, "`prev` or an aggregate used on something that is not a group";
    GroupNeedsAggregate = "CEP008", Error, "a group used where one value is needed";
    BadPatternShape = "CEP009", Error, "a pattern that starts or ends with a negated or optional block";
    PartitionField = "CEP010", Error, "`partition by` a field that an event of the pattern lacks";
    UnknownResource = "CEP011", Error, "unknown resource";
    OverCapacity = "CEP012", Error, "acquiring more units than a resource has";
    StepCycle = "CEP013", Warning, "steps that trigger each other with no external trigger";
    UnknownActivity = "CEP014", Error, "a process relation names an undeclared activity";
    ProcessKey = "CEP015", Error, "a process key that an activity lacks";
    UnknownType = "CEP016", Error, "unknown field type";
    UnknownFunction = "CEP017", Error, "unknown function or aggregate";
    BadQuantifier = "CEP018", Error, "a quantifier whose bounds cannot match";
    MissingContiguity = "CEP019", Error, "a block without `next`, `then` or `then any`";
    StepShape = "CEP020", Error, "a step with a missing or repeated clause";
    EmitFields = "CEP021", Error, "an emitted event with missing or unknown fields";
    NotPresent = "CEP022", Error, "a trigger event that may be absent when the step runs";
    BadLiteral = "CEP023", Error, "a literal out of range";
    UnusedBinding = "CEP024", Warning, "a binding that nothing uses";
    Unbounded = "CEP025", Warning, "a pattern whose live runs have no bound";
    PatternCycle = "CEP026", Error, "patterns that consume each other's complex events in a cycle";
    IncludeAndExclude = "CEP027", Warning, "an activity that both includes and excludes the same activity";
    PrivateUnused = "CEP029", Warning, "a private pattern whose complex events nothing consumes";
    BadRegex = "CEP030", Error, "a regular expression that does not compile";
    NeverTimesOut = "CEP031", Warning, "an `on timeout emit` whose pattern has no run that can time out";
    TimeField = "CEP028", Error, "an event whose event time is not clear (several `time` fields, or `@timestamp` misplaced)";
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A span with a short message. The primary label is where the problem is;
/// secondary labels point at related places (the earlier declaration, say).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic of the code's own severity with its primary label.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        let message = message.into();
        Diagnostic {
            code,
            severity: code.severity(),
            labels: vec![Label {
                span,
                message: String::new(),
                primary: true,
            }],
            message,
            help: None,
            notes: Vec::new(),
        }
    }

    /// Sets the text of the primary label.
    pub fn label(mut self, text: impl Into<String>) -> Diagnostic {
        if let Some(l) = self.labels.first_mut() {
            l.message = text.into();
        }
        self
    }

    /// Adds a secondary label.
    pub fn also(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: text.into(),
            primary: false,
        });
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Diagnostic {
        self.help = Some(text.into());
        self
    }

    pub fn note(mut self, text: impl Into<String>) -> Diagnostic {
        self.notes.push(text.into());
        self
    }

    /// The primary span.
    pub fn span(&self) -> Span {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or(self.labels.first())
            .map(|l| l.span)
            .unwrap_or_default()
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The closest candidate to `word` by edit distance, if close enough to be
/// a likely misspelling.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // One edit in three characters, and none for names of one or two
    // characters, where any other short name would be "close".
    let limit = word.chars().count() / 3;
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit.max(usize::from(word.chars().count() > 2)))
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Edit distance over characters: insertions, deletions, substitutions and
/// transpositions of two neighbours (`wehre` is one edit from `where`), as
/// the optimal string alignment distance counts them.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Rows i-2, i-1 and i of the table.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {}", c.as_str());
            assert!(c.as_str().starts_with("CEP") && c.as_str().len() == 6);
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("celsuis", ["sensor", "celsius", "at"]),
            Some("celsius")
        );
        assert_eq!(did_you_mean("zzz", ["sensor", "celsius"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("wehre", "where"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("ca", "abc"), 3);
        assert_eq!(did_you_mean("thne", ["then", "next"]), Some("then"));
    }
}
