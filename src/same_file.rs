//! Refusing an output that is one of the inputs: `cep run --output` or
//! `--dead-letter`, or `cep compile -o`, naming (through another name, a
//! hard link, a symbolic link, or a shell redirection of standard output)
//! the file that is read. Opening such an output would truncate the input
//! before it is read, so the check comes before anything is opened.
//!
//! Files are compared by identity (device and inode on Unix), never by
//! name. Only regular files are compared: a terminal or `/dev/null` may
//! well be both the input and the output.

use std::path::Path;

/// A file as the command line names it: a path, or `-` for standard input
/// (an input) or standard output (an output), with how to name it in a
/// message.
pub struct Named<'a> {
    pub path: &'a Path,
    pub what: String,
}

impl<'a> Named<'a> {
    pub fn new(path: &'a Path, what: impl Into<String>) -> Named<'a> {
        Named {
            path,
            what: what.into(),
        }
    }
}

/// Identity of a file: an existing regular file's, or for a file that is
/// not there yet (an output about to be created), its absolute path.
#[derive(Clone, PartialEq, Eq)]
enum Id {
    File(u64, u64),
    New(std::path::PathBuf),
}

/// An output that does not exist yet: its directory (resolved) and name,
/// so that two spellings of one new file compare equal.
fn new_file(path: &Path) -> Option<Id> {
    if path == Path::new("-") || path.exists() {
        return None;
    }
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(Id::New(std::fs::canonicalize(dir).ok()?.join(name)))
}

#[cfg(unix)]
fn id_of(path: &Path, stdio: &str) -> Option<Id> {
    use std::os::unix::fs::MetadataExt;
    // `-` is the process's own standard input or output; on Linux
    // `/dev/stdin` and `/dev/stdout` resolve to the file behind it.
    let path = if path == Path::new("-") {
        Path::new(stdio)
    } else {
        path
    };
    let m = std::fs::metadata(path).ok()?;
    m.is_file().then(|| Id::File(m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn id_of(path: &Path, _stdio: &str) -> Option<Id> {
    use std::hash::{Hash, Hasher};
    if path == Path::new("-") {
        return None;
    }
    let p = std::fs::canonicalize(path).ok()?;
    if !p.is_file() {
        return None;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.hash(&mut h);
    Some(Id::File(0, h.finish()))
}

/// `Err` with a message when an output is the same file as an input or as
/// another output.
pub fn check(inputs: &[Named<'_>], outputs: &[Named<'_>]) -> Result<(), String> {
    let ins: Vec<(Id, &Named<'_>)> = inputs
        .iter()
        .filter_map(|n| id_of(n.path, "/dev/stdin").map(|id| (id, n)))
        .collect();
    let mut outs: Vec<(Id, &Named<'_>)> = Vec::new();
    for o in outputs {
        let Some(id) = id_of(o.path, "/dev/stdout").or_else(|| new_file(o.path)) else {
            continue;
        };
        if let Some((_, i)) = ins.iter().find(|(x, _)| *x == id) {
            return Err(format!(
                "{} is the same file as {}: writing it would destroy what is read; give another output file",
                o.what, i.what
            ));
        }
        if let Some((_, other)) = outs.iter().find(|(x, _)| *x == id) {
            return Err(format!(
                "{} and {} are the same file: give them different files",
                other.what, o.what
            ));
        }
        outs.push((id, o));
    }
    Ok(())
}
