//! Scans of the raw text, outside string literals: comments for the
//! formatter, bracket depth, and where declarations start (for recovery).

use crate::ast::Comment;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};

use super::MAX_NESTING;

// ---- text scans ----------------------------------------------------------------

/// Walks the text outside string literals, calling `f(byte_index, byte)`;
/// comments are reported through `on_comment(start, end)` and not walked.
fn scan(src: &str, mut f: impl FnMut(usize, u8), mut on_comment: impl FnMut(usize, usize)) {
    let b = src.as_bytes();
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' | b'\n' => in_str = false,
                _ => {}
            }
        } else if c == b'"' {
            in_str = true;
        } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
            let end = src[i..].find('\n').map(|n| i + n).unwrap_or(b.len());
            on_comment(i, end);
            i = end;
            continue;
        } else {
            f(i, c);
        }
        i += 1;
    }
}

pub(super) fn collect_comments(file: FileId, src: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    scan(
        src,
        |_, _| {},
        |s, e| {
            let text = src
                .get(s + 2..e)
                .unwrap_or("")
                .trim_end_matches('\r')
                .to_string();
            out.push(Comment {
                span: Span::new(file, s, e),
                text,
            });
        },
    );
    out
}

pub(super) fn check_nesting(file: FileId, src: &str) -> Option<Diagnostic> {
    let mut depth = 0usize;
    let mut at = None;
    scan(
        src,
        |i, c| match c {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING && at.is_none() {
                    at = Some(i);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        },
        |_, _| {},
    );
    at.map(|i| {
        Diagnostic::new(
            Code::Syntax,
            Span::new(file, i, i + 1),
            "brackets are nested too deeply",
        )
        .label(format!("more than {MAX_NESTING} levels deep"))
        .help("split the expression into simpler parts")
    })
}

/// Byte offsets of lines that start (at column 0) with a declaration keyword.
pub(super) fn decl_starts(src: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in src.split_inclusive('\n') {
        let word: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let after = line[word.len()..].chars().next();
        if matches!(
            word.as_str(),
            "event" | "pattern" | "private" | "resource" | "step" | "process"
        ) && after.is_some_and(|c| c == ' ' || c == '\t')
        {
            out.push(line_start);
        }
        line_start += line.len();
    }
    out
}

/// The first character outside ASCII in `src`, outside string literals and
/// comments, with its byte offset.
pub(super) fn first_non_ascii(src: &str) -> Option<(usize, char)> {
    let mut at = None;
    scan(
        src,
        |i, c| {
            if c >= 0x80 && at.is_none() {
                at = src
                    .get(i..)
                    .and_then(|s| s.chars().next())
                    .map(|ch| (i, ch));
            }
        },
        |_, _| {},
    );
    at
}
