//! API tokens. Only a token's SHA-256 is stored: tokens are long random strings,
//! so a fast hash is enough and lets lookup be one indexed read.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token; `kind` says who holds it (`admin`, `app`).
pub fn generate(kind: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("hookd_{kind}_{}", URL_SAFE_NO_PAD.encode(bytes))
}
