//! Bearer tokens for scripts and remote commands: 32 random bytes shown
//! once as base64url; only their SHA-256 is kept, with a name and the time
//! it was made. A token has as much entropy as a key, so a fast hash is
//! enough; it is compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// One token as the secrets file keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub name: String,
    /// SHA-256 of the token as sent, in lower-case hex.
    pub sha256: String,
    pub created: DateTime<Utc>,
}

/// A new token: 32 random bytes as base64url (43 characters).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The digest kept for a token.
pub fn digest(token: &str) -> String {
    Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The name of the token that `presented` is, if any. Every record is
/// compared, each in constant time, so the time taken tells nothing about
/// which one (or how much of one) matched.
pub fn find<'a>(records: &'a [TokenRecord], presented: &str) -> Option<&'a str> {
    let wanted = digest(presented);
    let mut found = None;
    for record in records {
        if bool::from(record.sha256.as_bytes().ct_eq(wanted.as_bytes())) {
            found = Some(record.name.as_str());
        }
    }
    found
}

/// Why a token name is refused: names appear in logs and in the as-run
/// log's `by` (`token NAME`), so they are short and plain.
pub fn name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    (!ok).then(|| {
        format!(
            "{name:?} cannot name a token: use 1 to 64 letters, digits, '-', '_' or '.' (e.g. \
             studio-pc)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, token: &str) -> TokenRecord {
        TokenRecord {
            name: name.into(),
            sha256: digest(token),
            created: Utc::now(),
        }
    }

    #[test]
    fn a_token_is_32_random_bytes_in_base64url() {
        let token = generate();
        assert_eq!(token.len(), 43, "{token}");
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(token, generate());
    }

    #[test]
    fn only_the_right_token_is_found_and_by_its_name() {
        let (a, b) = (generate(), generate());
        let records = [record("studio", &a), record("ci", &b)];
        assert_eq!(find(&records, &a), Some("studio"));
        assert_eq!(find(&records, &b), Some("ci"));
        assert_eq!(find(&records, &generate()), None);
        assert_eq!(find(&records, ""), None);
        assert_eq!(find(&records, &a[..42]), None);
        assert_eq!(digest(&a).len(), 64);
    }

    #[test]
    fn token_names_are_plain() {
        assert_eq!(name_problem("studio-pc_2.a"), None);
        for bad in ["", "with space", "slash/name", &"x".repeat(65)] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
    }
}
