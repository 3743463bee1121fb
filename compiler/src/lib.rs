//! The Cepheid compiler: resolves names, checks types and lowers `.cep`
//! syntax trees to the IR.
//!
//! Every pass collects all the diagnostics it can. Lowering runs only when
//! no error was found, so the IR is always of well-formed rules.

mod check;
mod env;
mod expr;
mod hash;
mod lower;

use cep_grammar::ast::File;
use cep_grammar::{Diagnostic, SourceMap};

pub use hash::source_hash;

/// The outcome of compiling a set of source files together.
#[derive(Debug)]
pub struct Compilation {
    pub sources: SourceMap,
    /// The files that parsed (whole or in part), in the order given.
    pub files: Vec<File>,
    /// Every error and warning, in file and position order.
    pub diagnostics: Vec<Diagnostic>,
    /// The IR, when there was no error.
    pub program: Option<cep_ir::Program>,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }
}

/// Parses every file, checks them together and, if they are free of
/// errors, lowers them to the IR.
pub fn compile(sources: SourceMap) -> Compilation {
    run(sources, true)
}

/// Parses and checks every file without lowering: what `cep check` needs
/// to know, without building the IR.
pub fn check(sources: SourceMap) -> Compilation {
    run(sources, false)
}

fn run(sources: SourceMap, lower: bool) -> Compilation {
    let mut diagnostics = Vec::new();
    let mut files = Vec::new();
    for (id, f) in sources.iter() {
        let parsed = cep_grammar::parse(id, &f.text);
        diagnostics.extend(parsed.errors);
        files.push(parsed.file);
    }
    let mut program = None;
    if diagnostics.is_empty() {
        let (env, mut found) = check::check(&files);
        diagnostics.append(&mut found);
        if lower && !diagnostics.iter().any(Diagnostic::is_error) {
            program = Some(lower::lower(&env, &sources));
        }
    }
    diagnostics.sort_by_key(|d| {
        let s = d.span();
        (s.file, s.start, s.end)
    });
    Compilation {
        sources,
        files,
        diagnostics,
        program,
    }
}

/// Compiles one text (handy for tests and tools).
pub fn compile_str(name: &str, text: &str) -> Compilation {
    let mut sources = SourceMap::new();
    sources.add(name, text);
    compile(sources)
}
