//! Password hashing: Argon2id in PHC strings (`$argon2id$v=19$m=…`), with
//! a random 128-bit salt from the system's generator. Only the PHC string
//! is ever stored; the password never leaves the call.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use ring::rand::{SecureRandom, SystemRandom};

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Why a password was refused or could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too short, or blank.
    #[error("password: must have at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    /// The hasher failed (should not happen with valid parameters).
    #[error("hashing the password: {0}")]
    Hash(String),
}

fn hasher() -> Argon2<'static> {
    // OWASP's first Argon2id setting: 19 MiB, 2 passes, 1 lane.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// The Argon2id PHC string of `password`.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.trim().chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| PasswordError::Hash("no system randomness".into()))?;
    let phc = hasher()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `phc` (false if the string
/// is malformed).
pub fn verify(password: &str, phc: &str) -> bool {
    hasher().verify_password(password.as_bytes(), phc).is_ok()
}

/// A hash no password matches, verified against when the user does not
/// exist so that the answer costs the same time.
pub(crate) fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let mut random = [0u8; 32];
        let _ = SystemRandom::new().fill(&mut random);
        hash(&hex::encode(random)).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse battery!", &a));
        assert!(!verify("correct horse battery", "not a phc string"));
        assert!(!a.contains("horse"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(hash("short"), Err(PasswordError::TooShort)));
        assert!(matches!(hash("            "), Err(PasswordError::TooShort)));
    }

    #[test]
    fn the_decoy_matches_nothing() {
        assert!(decoy().starts_with("$argon2id$"));
        assert!(!verify("", decoy()));
    }
}
