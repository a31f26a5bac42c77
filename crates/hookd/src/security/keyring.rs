//! Encryption of secrets at rest. Values are sealed with XChaCha20-Poly1305
//! under the main key, bound to the row they belong to (associated data), and
//! carry the id of the key that sealed them, so that keys can be rotated while
//! old values stay readable.
//!
//! Keys come from `HOOKD_MAIN_KEY` (comma-separated, the first seals; the rest
//! only open) or from the key file `main.key` in the data directory, which is
//! created with mode 0600 on first start and lists the newest key first.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "enc:v1:";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write the key file {0}: {1}")]
    File(PathBuf, std::io::Error),
    #[error("invalid main key: {0}")]
    Invalid(String),
    #[error("a stored secret was sealed with key {0}, which this node does not have")]
    UnknownKey(String),
    #[error("a stored secret does not open with its key (tampered or moved)")]
    Corrupt,
}

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl Key {
    fn new(bytes: &[u8]) -> Result<Key, KeyError> {
        if bytes.len() != 32 {
            return Err(KeyError::Invalid(format!(
                "a key is 32 bytes, base64-encoded; got {} bytes",
                bytes.len()
            )));
        }
        let id = hex::encode(&Sha256::digest(bytes)[..4]);
        let cipher = XChaCha20Poly1305::new_from_slice(bytes).expect("32-byte key");
        Ok(Key { id, cipher })
    }
}

/// Where the keys came from, so that they can be read again after a rotation.
#[derive(Clone)]
enum Source {
    Env(String),
    File(PathBuf),
}

pub struct Keyring {
    source: Source,
    keys: RwLock<Vec<Key>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self.keys.read().expect("keys").iter().map(|k| k.id.clone()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

fn parse_keys(text: &str) -> Result<Vec<Key>, KeyError> {
    let keys = text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            STANDARD
                .decode(l)
                .map_err(|e| KeyError::Invalid(e.to_string()))
                .and_then(|b| Key::new(&b))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(KeyError::Invalid("no key given".into()));
    }
    Ok(keys)
}

pub fn new_key_text() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

impl Keyring {
    /// The keys from `HOOKD_MAIN_KEY` when set, else from the data directory's key file (made if missing).
    pub fn load(env_keys: Option<&str>, data_dir: &Path) -> Result<Keyring, KeyError> {
        let source = match env_keys {
            Some(text) => Source::Env(text.to_owned()),
            None => {
                let path = data_dir.join("main.key");
                if !path.exists() {
                    write_key_file(&path, &new_key_text())?;
                }
                Source::File(path)
            }
        };
        let keys = read_source(&source)?;
        Ok(Keyring {
            source,
            keys: RwLock::new(keys),
        })
    }

    /// A keyring of one given key (tests, tools).
    pub fn from_key_text(text: &str) -> Result<Keyring, KeyError> {
        Keyring::load(Some(text), Path::new("."))
    }

    pub fn current_id(&self) -> String {
        self.keys.read().expect("keys")[0].id.clone()
    }

    /// Seals `plain` for the row `aad`.
    pub fn seal(&self, plain: &str, aad: &str) -> String {
        let keys = self.keys.read().expect("keys");
        let key = &keys[0];
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("encryption of a short value cannot fail");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!("{PREFIX}{}:{}", key.id, STANDARD.encode(out))
    }

    /// Opens a value sealed for the row `aad`. Values stored before encryption
    /// (no prefix) are returned as they are, and sealed on their next write.
    pub fn open(&self, stored: &str, aad: &str) -> Result<String, KeyError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (kid, body) = rest.split_once(':').ok_or(KeyError::Corrupt)?;
        if !self.has(kid) {
            // Another process may have rotated the key: read the keys again.
            self.reload()?;
            if !self.has(kid) {
                return Err(KeyError::UnknownKey(kid.to_owned()));
            }
        }
        let keys = self.keys.read().expect("keys");
        let key = keys.iter().find(|k| k.id == kid).expect("checked above");
        let raw = STANDARD.decode(body).map_err(|_| KeyError::Corrupt)?;
        if raw.len() < 24 {
            return Err(KeyError::Corrupt);
        }
        let (nonce, sealed) = raw.split_at(24);
        let plain = key
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| KeyError::Corrupt)
    }

    /// Whether `stored` is sealed with the current key.
    pub fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .and_then(|r| r.split_once(':'))
            .is_some_and(|(kid, _)| kid == self.current_id())
    }

    fn has(&self, kid: &str) -> bool {
        self.keys.read().expect("keys").iter().any(|k| k.id == kid)
    }

    pub fn reload(&self) -> Result<(), KeyError> {
        let keys = read_source(&self.source)?;
        *self.keys.write().expect("keys") = keys;
        Ok(())
    }

    /// Puts a new key first in the key file (older keys stay, to open old values).
    /// Keys from the environment are rotated by the operator instead.
    pub fn add_key_to_file(&self) -> Result<String, KeyError> {
        let Source::File(path) = &self.source else {
            return Err(KeyError::Invalid(
                "keys come from HOOKD_MAIN_KEY: put the new key first there (keeping the old one after it) and run rotate-key"
                    .into(),
            ));
        };
        let old = std::fs::read_to_string(path).map_err(|e| KeyError::File(path.clone(), e))?;
        write_key_file(path, &format!("{}\n{old}", new_key_text()))?;
        self.reload()?;
        Ok(self.current_id())
    }
}

fn read_source(source: &Source) -> Result<Vec<Key>, KeyError> {
    match source {
        Source::Env(text) => parse_keys(text),
        Source::File(path) => parse_keys(&std::fs::read_to_string(path).map_err(|e| KeyError::File(path.clone(), e))?),
    }
}

/// Writes the key file readable by its owner only, replacing it atomically.
fn write_key_file(path: &Path, text: &str) -> Result<(), KeyError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("key.tmp");
    let err = |e| KeyError::File(path.to_path_buf(), e);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(&tmp).map_err(err)?;
    f.write_all(text.as_bytes()).and_then(|_| f.sync_all()).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_binds_to_the_row() {
        let ring = Keyring::from_key_text(&new_key_text()).unwrap();
        let sealed = ring.seal("whsec_secret", "ep_1");
        assert!(sealed.starts_with("enc:v1:") && !sealed.contains("whsec_secret"));
        assert_eq!(ring.open(&sealed, "ep_1").unwrap(), "whsec_secret");
        assert!(matches!(ring.open(&sealed, "ep_2"), Err(KeyError::Corrupt)));
        assert_eq!(ring.open("plain-legacy", "ep_1").unwrap(), "plain-legacy");
        let other = Keyring::from_key_text(&new_key_text()).unwrap();
        assert!(matches!(other.open(&sealed, "ep_1"), Err(KeyError::UnknownKey(_))));
    }

    #[test]
    fn older_keys_still_open_after_rotation() {
        let (old, new) = (new_key_text(), new_key_text());
        let before = Keyring::from_key_text(&old).unwrap();
        let sealed = before.seal("s", "row");
        let after = Keyring::from_key_text(&format!("{new},{old}")).unwrap();
        assert_eq!(after.open(&sealed, "row").unwrap(), "s");
        assert!(!after.is_current(&sealed));
        assert!(after.is_current(&after.seal("s", "row")));
    }

    #[test]
    fn key_file_is_private_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::load(None, dir.path()).unwrap();
        let path = dir.path().join("main.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let sealed = ring.seal("v", "r");
        let first = ring.current_id();
        let second = ring.add_key_to_file().unwrap();
        assert_ne!(first, second);
        assert_eq!(ring.open(&sealed, "r").unwrap(), "v");
        // Another process reading the file sees both keys.
        assert_eq!(
            Keyring::load(None, dir.path()).unwrap().open(&sealed, "r").unwrap(),
            "v"
        );
    }
}
