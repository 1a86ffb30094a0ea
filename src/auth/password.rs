//! The control password: an argon2id hash (the crate's defaults: 19 MiB,
//! two passes, one lane) kept as a PHC string. Hashing and checking take a
//! noticeable fraction of a second on a Pi on purpose: run them off the
//! async threads.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

/// The shortest password `onair passwd` takes.
pub const MIN_LENGTH: usize = 8;

/// Why a new password is refused.
pub fn problem(password: &str) -> Option<String> {
    if password.chars().count() < MIN_LENGTH {
        return Some(format!(
            "the password is too short: use at least {MIN_LENGTH} characters"
        ));
    }
    if password.trim().is_empty() {
        return Some("the password is only spaces: use letters, digits or words".into());
    }
    None
}

/// The argon2id PHC string (`$argon2id$v=19$m=…`) of a new password.
pub fn hash(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// Whether `password` is the one `phc` was made from. A PHC string that
/// cannot be read matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A short fingerprint of the stored hash: a session opened with one
/// password ends when the password is changed.
pub fn fingerprint(phc: &str) -> [u8; 32] {
    Sha256::digest(phc.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_and_checks_only_its_own_password() {
        let phc = hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse batterY", &phc));
        assert!(!verify("", &phc));
        assert!(!verify("correct horse battery", "not a hash"));
        // A new salt each time.
        assert_ne!(phc, hash("correct horse battery").unwrap());
    }

    #[test]
    fn short_or_blank_passwords_are_refused_with_the_reason() {
        assert!(problem("short").unwrap().contains("at least 8"));
        assert!(problem("         ").unwrap().contains("spaces"));
        assert_eq!(problem("long enough"), None);
    }
}
