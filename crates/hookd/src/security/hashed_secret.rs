//! The hashed form of a `bearer` secret that Fig's receivers keep instead of
//! the secret: BCrypt.Net-Next's `EnhancedHashPassword` with SHA-384, that is
//! bcrypt (version `2a`, cost 11, a fresh salt) over the base64 of the
//! SHA-384 of the secret's UTF-8 bytes. Such a receiver checks the bearer it
//! receives with `EnhancedVerify(secret, hashedSecret)`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha384};

/// Fig's cost factor.
const COST: u32 = 11;

fn prehash(secret: &str) -> String {
    STANDARD.encode(Sha384::digest(secret.as_bytes()))
}

/// Hashes `secret` (about 0.1 s of CPU: call it off the async threads).
pub fn hash(secret: &str) -> String {
    bcrypt::hash_with_result(prehash(secret), COST)
        .expect("cost 11 is valid and the input is short")
        .format_for_version(bcrypt::Version::TwoA)
}

/// What a Fig receiver's `EnhancedVerify` answers.
pub fn verify(secret: &str, hashed: &str) -> bool {
    bcrypt::verify(prehash(secret), hashed).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_vector_verifies_and_a_fresh_hash_too() {
        let vector = "$2a$11$gORzJST6d/2Nho6ayXL9lebybJebVbjsbrA5oL5eDumCKlob4XPV.";
        assert!(verify("123", vector));
        assert!(!verify("124", vector));
        let fresh = hash("my-bearer-secret");
        assert!(fresh.starts_with("$2a$11$"), "{fresh}");
        assert!(verify("my-bearer-secret", &fresh));
        assert!(!verify("my-bearer-secreT", &fresh));
        assert_ne!(fresh, hash("my-bearer-secret"), "a fresh salt each time");
    }
}
