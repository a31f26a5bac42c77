//! What keeps hookd safe to run: token hashing, secret generation and the
//! address policy that keeps deliveries off private networks.

pub mod hashed_secret;
pub mod keyring;
pub mod ssrf;
pub mod tokens;
pub mod url_password;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

/// A new endpoint signing secret: `whsec_` and base64 of 24 random bytes, as Svix makes them.
pub fn new_endpoint_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// A new ed25519 signing key for Standard Webhooks `v1a`: `whsk_` and base64 of
/// the 32-byte seed followed by the 32-byte public key (Svix's layout).
pub fn new_signing_key() -> String {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).expect("any 32 bytes are a seed");
    let mut both = seed.to_vec();
    both.extend_from_slice(ring::signature::KeyPair::public_key(&pair).as_ref());
    format!("whsk_{}", STANDARD.encode(both))
}

/// The key pair of a `whsk_` secret.
pub fn signing_key(secret: &str) -> Option<ring::signature::Ed25519KeyPair> {
    let raw = STANDARD.decode(secret.strip_prefix("whsk_")?).ok()?;
    ring::signature::Ed25519KeyPair::from_seed_unchecked(raw.get(..32)?).ok()
}

/// What a receiver verifies `v1a` signatures with: `whpk_` and base64 of the public key.
pub fn public_key(secret: &str) -> Option<String> {
    let pair = signing_key(secret)?;
    Some(format!(
        "whpk_{}",
        STANDARD.encode(ring::signature::KeyPair::public_key(&pair).as_ref())
    ))
}

/// The HMAC key of a secret: base64-decoded after its `whsec_` prefix (Standard Webhooks).
/// A secret that is not base64 is used as its UTF-8 bytes, as other senders do.
pub fn hmac_key(secret: &str) -> Vec<u8> {
    let body = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD.decode(body).unwrap_or_else(|_| secret.as_bytes().to_vec())
}
