//! Key files: `keygen` writes them (the private one mode 0600) and never
//! overwrites; `read_identity` refuses a key others may read; a key pair
//! read back from its files authenticates a real connection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cep_peers::{keygen, read_identity, read_public, Config, Error, Event, PeerAddr, Transport};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A fresh directory for one test, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("cep-peers-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn is_key_text(text: &str) -> bool {
    text.len() == 65
        && text.ends_with('\n')
        && text[..64]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn keygen_writes_both_files_and_never_overwrites() {
    let dir = Dir::new("keygen");
    let prefix = dir.join("n0");
    keygen(&prefix).unwrap();
    let key = dir.join("n0.key");
    let public = dir.join("n0.pub");
    let key_text = fs::read_to_string(&key).unwrap();
    let public_text = fs::read_to_string(&public).unwrap();
    assert!(is_key_text(&key_text), "{key_text:?}");
    assert!(is_key_text(&public_text), "{public_text:?}");
    assert_ne!(key_text, public_text);
    #[cfg(unix)]
    assert_eq!(mode(&key), 0o600);

    // The round trip: the public key read back is the one derived from
    // the private key read back.
    let identity = read_identity(&key).unwrap();
    assert_eq!(read_public(&public).unwrap(), identity.public());
    assert!(!format!("{identity:?}").contains(key_text.trim()));

    // Again: refused, naming the file, and both files unchanged.
    match keygen(&prefix) {
        Err(e @ Error::Exists(_)) => {
            assert!(e.to_string().contains(&key.display().to_string()), "{e}")
        }
        other => panic!("overwrote: {other:?}"),
    }
    assert_eq!(fs::read_to_string(&key).unwrap(), key_text);
    assert_eq!(fs::read_to_string(&public).unwrap(), public_text);

    // A lone .pub is not overwritten either, and no .key is left.
    fs::write(dir.join("n1.pub"), "not mine\n").unwrap();
    match keygen(&dir.join("n1")) {
        Err(e @ Error::Exists(_)) => assert!(e.to_string().contains("n1.pub"), "{e}"),
        other => panic!("overwrote: {other:?}"),
    }
    assert!(!dir.join("n1.key").exists());
    assert_eq!(
        fs::read_to_string(dir.join("n1.pub")).unwrap(),
        "not mine\n"
    );

    // Two key pairs differ.
    keygen(&dir.join("n2")).unwrap();
    assert_ne!(read_public(&dir.join("n2.pub")).unwrap(), identity.public());
}

#[cfg(unix)]
#[test]
fn read_identity_refuses_a_key_others_can_read() {
    let dir = Dir::new("mode");
    keygen(&dir.join("n0")).unwrap();
    let key = dir.join("n0.key");
    for bad in [0o644, 0o640, 0o604, 0o660] {
        chmod(&key, bad);
        match read_identity(&key) {
            Err(e @ Error::Permissions { .. }) => {
                let text = e.to_string();
                assert!(text.contains(&key.display().to_string()), "{text}");
                assert!(text.contains(&format!("mode {bad:04o}")), "{text}");
                assert!(text.contains("chmod 600"), "{text}");
            }
            other => panic!("mode {bad:o} accepted: {other:?}"),
        }
    }
    chmod(&key, 0o400);
    read_identity(&key).unwrap();
    // A public key may be readable by anyone.
    chmod(&dir.join("n0.pub"), 0o644);
    read_public(&dir.join("n0.pub")).unwrap();
}

#[test]
fn bad_key_files_are_refused_naming_the_file() {
    let dir = Dir::new("bad");
    let missing = dir.join("missing.key");
    match read_identity(&missing) {
        Err(e @ Error::Io { .. }) => {
            assert!(
                e.to_string().contains(&missing.display().to_string()),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
    for (name, content, problem) in [
        ("short.pub", b"abcd\n".to_vec(), "wrong length: 4"),
        (
            "nothex.pub",
            [[b'g'; 64].as_slice(), b"\n"].concat(),
            "not hex",
        ),
        ("binary.pub", vec![0xff, 0xfe, 0], "not text"),
        ("big.pub", vec![b'0'; 5000], "more than 1024 bytes"),
    ] {
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        match read_public(&path) {
            Err(e @ Error::BadKey { .. }) => {
                let text = e.to_string();
                assert!(text.contains(&path.display().to_string()), "{text}");
                assert!(text.contains(problem), "{name}: {text}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn key_pairs_read_from_files_authenticate_a_connection() {
    let dir = Dir::new("link");
    keygen(&dir.join("a")).unwrap();
    keygen(&dir.join("b")).unwrap();
    let config = |me: u16, own: &str, other: &str, addr| Config {
        me,
        name: own.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        identity: read_identity(&dir.join(&format!("{own}.key"))).unwrap(),
        peers: vec![PeerAddr {
            member: 1 - me,
            name: other.into(),
            addr,
            public: read_public(&dir.join(&format!("{other}.pub"))).unwrap(),
        }],
        max_frame: 1024,
    };
    let b = Transport::start(config(1, "b", "a", "127.0.0.1:9".parse().unwrap())).unwrap();
    let a = Transport::start(config(0, "a", "b", b.local_addr())).unwrap();
    let wait = Duration::from_secs(10);
    assert_eq!(b.recv_timeout(wait), Some(Event::Connected(0)));
    assert_eq!(a.recv_timeout(wait), Some(Event::Connected(1)));
    a.send(1, b"hello".to_vec());
    assert_eq!(
        b.recv_timeout(wait),
        Some(Event::Frame {
            from: 0,
            bytes: b"hello".to_vec()
        })
    );
    a.shutdown();
    b.shutdown();
}
