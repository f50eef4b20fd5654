//! Token formats (SPEC §2.3) and how they are stored (SHA-256 hashes, never the raw value).
//!
//! API token: `<prefix>_` + 32 random base62 characters + 6 base62 characters of the CRC32 of
//! those 32, so a mistyped or truncated token is rejected without a database lookup (the same
//! design as GitHub's tokens). Refresh token: `<prefix>_rt_` + 43 random base62 characters.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::random::{random_string, Random, BASE62};

pub const API_TOKEN_RANDOM_LEN: usize = 32;
pub const API_TOKEN_CHECKSUM_LEN: usize = 6;
pub const REFRESH_TOKEN_RANDOM_LEN: usize = 43;

/// SHA-256 of a token, lowercase hex: what the database keeps. Tokens carry ≥ 190 bits of
/// randomness, so a fast hash is enough (no dictionary to attack), and lookups stay cheap.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Base62 with a fixed width, most significant digit first. Hand-written: six lines, and the
/// base62 crates encode variable-width numbers, not this fixed-width checksum.
fn base62_fixed(mut n: u32, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62.get((n % 62) as usize).copied().unwrap_or(b'0');
        n /= 62;
    }
    String::from_utf8(digits).unwrap_or_default()
}

fn checksum(random_part: &str) -> String {
    base62_fixed(
        crc32fast::hash(random_part.as_bytes()),
        API_TOKEN_CHECKSUM_LEN,
    )
}

pub fn new_api_token(prefix: &str, random: &dyn Random) -> String {
    let body = random_string(random, BASE62, API_TOKEN_RANDOM_LEN);
    let sum = checksum(&body);
    format!("{prefix}_{body}{sum}")
}

/// Whether `token` has the API-token shape for `prefix` and a correct checksum.
pub fn api_token_checksum_ok(token: &str, prefix: &str) -> bool {
    let Some(rest) = token.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')) else {
        return false;
    };
    if rest.len() != API_TOKEN_RANDOM_LEN + API_TOKEN_CHECKSUM_LEN
        || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return false;
    }
    let (body, sum) = rest.split_at(API_TOKEN_RANDOM_LEN);
    constant_time_eq(checksum(body).as_bytes(), sum.as_bytes())
}

pub fn new_refresh_token(prefix: &str, random: &dyn Random) -> String {
    format!(
        "{prefix}_rt_{}",
        random_string(random, BASE62, REFRESH_TOKEN_RANDOM_LEN)
    )
}

pub fn is_refresh_token_shape(token: &str, prefix: &str) -> bool {
    token
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix("_rt_"))
        .is_some_and(|r| {
            r.len() == REFRESH_TOKEN_RANDOM_LEN && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// An opaque single-use secret (authorization codes, device codes, cookies): 43 base62 chars.
pub fn new_opaque_secret(random: &dyn Random) -> String {
    random_string(random, BASE62, 43)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;
    use proptest::prelude::*;

    #[test]
    fn api_token_shape() {
        let t = new_api_token("ward", &OsRandom);
        assert_eq!(t.len(), 43);
        assert!(api_token_checksum_ok(&t, "ward"));
        assert!(!api_token_checksum_ok(&t, "rexec"));
        let r = new_api_token("rexec", &OsRandom);
        assert!(r.starts_with("rexec_"));
        assert!(api_token_checksum_ok(&r, "rexec"));
    }

    #[test]
    fn refresh_token_shape() {
        let t = new_refresh_token("ward", &OsRandom);
        assert!(t.starts_with("ward_rt_"));
        assert!(is_refresh_token_shape(&t, "ward"));
        assert!(!is_refresh_token_shape("ward_rt_short", "ward"));
    }

    proptest! {
        #[test]
        fn any_single_char_change_fails_checksum(pos in 5usize..43, replacement in 0usize..62) {
            let t = new_api_token("ward", &OsRandom);
            let mut bytes = t.clone().into_bytes();
            let new = BASE62[replacement];
            prop_assume!(bytes[pos] != new);
            bytes[pos] = new;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(!api_token_checksum_ok(&changed, "ward"));
        }

        #[test]
        fn every_token_parses_back(_seed in 0u8..255) {
            let t = new_api_token("ward", &OsRandom);
            prop_assert!(api_token_checksum_ok(&t, "ward"));
        }
    }
}
