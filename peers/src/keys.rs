//! Static key pairs and their files: 64 lowercase hex characters and a
//! newline, `PREFIX.key` (the private key, mode 0600) and `PREFIX.pub`.

use crate::{noise, Error};
use snow::params::DHChoice;
use snow::resolvers::{CryptoResolver, DefaultResolver};
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A key file is 65 bytes; anything past this is not one (and is not
/// read whole).
const MAX_KEY_FILE: u64 = 1024;

/// A member's static X25519 key pair. `Debug` shows the public key only.
#[derive(Clone)]
pub struct Identity {
    private: [u8; 32],
    public: [u8; 32],
}

impl Identity {
    /// A fresh key pair from the operating system's random source.
    ///
    /// Errors: [`Error::Noise`] when no random bytes could be had.
    pub fn generate() -> Result<Identity, Error> {
        let pair = snow::Builder::new(noise::params()?)
            .generate_keypair()
            .map_err(|e| Error::Noise(format!("generating a key pair: {e}")))?;
        let private: [u8; 32] = pair
            .private
            .as_slice()
            .try_into()
            .map_err(|_| Error::Noise("a private key not of 32 bytes".into()))?;
        Identity::from_private(private)
    }

    /// The key pair of this private key (the public key derived from it).
    fn from_private(private: [u8; 32]) -> Result<Identity, Error> {
        let mut dh = DefaultResolver
            .resolve_dh(&DHChoice::Curve25519)
            .ok_or_else(|| Error::Noise("no Curve25519 in the resolver".into()))?;
        dh.set(&private);
        let public: [u8; 32] = dh
            .pubkey()
            .try_into()
            .map_err(|_| Error::Noise("a public key not of 32 bytes".into()))?;
        Ok(Identity { private, public })
    }

    /// The public key (32 bytes), as the other members configure it.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    pub(crate) fn private(&self) -> &[u8; 32] {
        &self.private
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public", &hex(&self.public))
            .finish_non_exhaustive()
    }
}

/// `prefix` with `suffix` appended to its last component (`a/n0` →
/// `a/n0.key`).
fn suffixed(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Generates a key pair and writes `PREFIX.key` (the private key, created
/// with mode 0600) and `PREFIX.pub` (the public key, 0644 less the umask),
/// each 64 lowercase hex characters and a newline.
///
/// Errors: [`Error::Exists`] naming the file when either exists (nothing
/// is written or changed); [`Error::Io`] naming the file when writing
/// fails (a `.key` already written is removed again);
/// [`Error::Noise`] when no random bytes could be had.
pub fn keygen(prefix: &Path) -> Result<(), Error> {
    let key = suffixed(prefix, ".key");
    let public = suffixed(prefix, ".pub");
    for path in [&key, &public] {
        if fs::symlink_metadata(path).is_ok() {
            return Err(Error::Exists(path.clone()));
        }
    }
    let identity = Identity::generate()?;
    write_new(&key, &identity.private, 0o600)?;
    if let Err(e) = write_new(&public, &identity.public, 0o644) {
        // Best effort: a lone .key would make the next keygen refuse.
        let _ = fs::remove_file(&key);
        return Err(e);
    }
    Ok(())
}

/// Creates `path` (never overwriting it) with `bytes` in hex and a
/// newline; a file that could not be written whole is removed again.
fn write_new(path: &Path, bytes: &[u8; 32], mode: u32) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Exists(path.to_path_buf())
        } else {
            io(e)
        }
    })?;
    let mut text = hex(bytes);
    text.push('\n');
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        // Best effort: a partial key file would make the next keygen refuse.
        let _ = fs::remove_file(path);
        return Err(io(e));
    }
    Ok(())
}

/// Reads a private key file (`PREFIX.key`) written by [`keygen`].
///
/// Errors, each naming the file: [`Error::Io`] (missing, not readable);
/// [`Error::Permissions`] when group or others have any access to it
/// (like ssh; Unix only); [`Error::BadKey`] when it is not 64 hex
/// characters (a newline after them is allowed).
pub fn read_identity(path: &Path) -> Result<Identity, Error> {
    Identity::from_private(read_key(path, true)?)
}

/// Reads a public key file (`PREFIX.pub`) written by [`keygen`]: 32
/// bytes.
///
/// Errors, each naming the file: [`Error::Io`] (missing, not readable);
/// [`Error::BadKey`] when it is not 64 hex characters (a newline after
/// them is allowed).
pub fn read_public(path: &Path) -> Result<[u8; 32], Error> {
    read_key(path, false)
}

/// Reads a key file; when `private`, refuses it (Unix) if group or others
/// have any access to it, judged on the file opened (not on the path
/// looked up again).
fn read_key(path: &Path, private: bool) -> Result<[u8; 32], Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let bad = |problem: String| Error::BadKey {
        path: path.to_path_buf(),
        problem,
    };
    let file = fs::File::open(path).map_err(io)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(Error::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut raw = Vec::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut raw)
        .map_err(io)?;
    if raw.len() as u64 > MAX_KEY_FILE {
        return Err(bad(format!(
            "not a key file: more than {MAX_KEY_FILE} bytes (a key is 64 hex characters)"
        )));
    }
    let text = std::str::from_utf8(&raw)
        .map_err(|_| bad("not a key file: not text (a key is 64 hex characters)".into()))?;
    parse_hex(text).map_err(bad)
}

/// 64 hex characters (either case), optionally followed by one newline
/// (`\n` or `\r\n`).
fn parse_hex(text: &str) -> Result<[u8; 32], String> {
    let digits = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(text);
    if let Some((at, c)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "not hex: {c:?} at byte {at} (a key is 64 hex characters)"
        ));
    }
    if digits.len() != 64 {
        return Err(format!(
            "wrong length: {} hex characters, a key is 64",
            digits.len()
        ));
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(digits.as_bytes().chunks_exact(2)) {
        let text = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
        *byte = u8::from_str_radix(text, 16).map_err(|e| e.to_string())?;
    }
    Ok(key)
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(text, "{b:02x}");
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses() {
        let key: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(parse_hex(&hex(&key)), Ok(key));
        assert_eq!(parse_hex(&format!("{}\n", hex(&key))), Ok(key));
        assert_eq!(
            parse_hex(&format!("{}\r\n", hex(&key).to_uppercase())),
            Ok(key)
        );
        assert!(parse_hex(&hex(&key)[..62])
            .unwrap_err()
            .contains("wrong length"));
        assert!(parse_hex(&format!("{}\n\n", hex(&key)))
            .unwrap_err()
            .contains("not hex"));
        assert!(parse_hex("zz").unwrap_err().contains("not hex"));
    }

    #[test]
    fn the_public_key_is_derived_from_the_private() {
        let a = Identity::generate().unwrap();
        let b = Identity::from_private(a.private).unwrap();
        assert_eq!(a.public(), b.public());
        assert!(!format!("{a:?}").contains(&hex(&a.private)));
    }
}
