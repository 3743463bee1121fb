//! The `.cep` front end: the pest grammar, the span-carrying syntax tree,
//! diagnostics as plain data, and the formatter.
//!
//! Only [`parser`] touches pest.

pub mod ast;
pub mod diagnostic;
pub mod fmt;
pub mod parser;
pub mod span;

pub use diagnostic::{Code, Diagnostic, Label, Severity};
pub use fmt::{format_file, format_source};
pub use parser::{parse, Parsed};
pub use span::{FileId, LineCol, Node, SourceFile, SourceMap, Span};
