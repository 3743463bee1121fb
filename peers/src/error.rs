//! The errors of key files and of starting a transport.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a key file could not be written or read, or a transport could not
/// start. Every variant's message names the file or address it concerns.
#[derive(Debug)]
pub enum Error {
    /// Reading or writing a key file failed (missing, not permitted, …).
    Io {
        /// The key file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// [`keygen`](crate::keygen) would overwrite this file.
    Exists(PathBuf),
    /// A key file's content is not a key: `problem` says why (not text,
    /// not hex, wrong length, too large).
    BadKey {
        /// The key file.
        path: PathBuf,
        /// Why it is not a key.
        problem: String,
    },
    /// A private key file that group or others may access (`mode` is its
    /// permission bits).
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its mode (`st_mode`; the permission bits are the low 12).
        mode: u32,
    },
    /// Listening on the configured address failed.
    Bind {
        /// The configured listen address.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The configuration is inconsistent (a duplicate member, this
    /// member among its peers, a frame limit out of range).
    Config(String),
    /// The runtime or its thread could not be started.
    Runtime(std::io::Error),
    /// The Noise library refused (key generation, parameters).
    Noise(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Exists(path) => write!(
                f,
                "{}: already exists (keygen never overwrites a key)",
                path.display()
            ),
            Error::BadKey { path, problem } => write!(f, "{}: {problem}", path.display()),
            Error::Permissions { path, mode } => write!(
                f,
                "{}: a private key that group or others may access (mode {:04o}); \
                 run `chmod 600 {}`",
                path.display(),
                mode & 0o7777,
                path.display()
            ),
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::Config(problem) => write!(f, "peer configuration: {problem}"),
            Error::Runtime(source) => write!(f, "cannot start the peer transport: {source}"),
            Error::Noise(problem) => write!(f, "noise: {problem}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::Bind { source, .. } | Error::Runtime(source) => {
                Some(source)
            }
            _ => None,
        }
    }
}
