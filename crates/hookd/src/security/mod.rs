//! What keeps hookd safe to run: token hashing, secret generation and the
//! address policy that keeps deliveries off private networks.

pub mod keyring;
pub mod ssrf;
pub mod tokens;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

/// A new endpoint signing secret: `whsec_` and base64 of 24 random bytes, as Svix makes them.
pub fn new_endpoint_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// The HMAC key of a secret: base64-decoded after its `whsec_` prefix (Standard Webhooks).
/// A secret that is not base64 is used as its UTF-8 bytes, as other senders do.
pub fn hmac_key(secret: &str) -> Vec<u8> {
    let body = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD.decode(body).unwrap_or_else(|_| secret.as_bytes().to_vec())
}
