//! Multi-factor rules: TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, ±1 step), backup codes,
//! and the failure lockout. TOTP codes are computed by the `totp-rs` crate; what ward adds is
//! which step matched (so a code is accepted once) and the lockout policy.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::clock::Timestamp;
use crate::random::{random_string, Random};

pub const TOTP_DIGITS: usize = 6;
pub const TOTP_STEP_SECS: u64 = 30;
/// Steps accepted on either side of the current one (clock skew).
pub const TOTP_SKEW_STEPS: i64 = 1;
/// 160-bit secrets, as RFC 4226 §4 recommends.
pub const TOTP_SECRET_BYTES: usize = 20;
pub const BACKUP_CODE_COUNT: usize = 10;
/// Backup codes use the same unambiguous consonants as device user codes.
pub const BACKUP_CODE_ALPHABET: &[u8; 20] = crate::device::USER_CODE_ALPHABET;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MfaError {
    #[error("invalid TOTP secret: {0}")]
    Secret(String),
}

pub fn new_totp_secret(random: &dyn Random) -> Vec<u8> {
    let mut secret = vec![0u8; TOTP_SECRET_BYTES];
    random.fill(&mut secret);
    secret
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<TOTP, MfaError> {
    TOTP::new(
        Algorithm::SHA1,
        TOTP_DIGITS,
        0,
        TOTP_STEP_SECS,
        secret.to_vec(),
        Some(issuer.to_string()),
        account.to_string(),
    )
    .map_err(|e| MfaError::Secret(e.to_string()))
}

/// Base32 (RFC 4648, no padding), as authenticator apps expect.
pub fn secret_base32(secret: &[u8]) -> String {
    base32_encode(secret)
}

/// `otpauth://totp/…` for the QR code (Key Uri Format).
pub fn otpauth_url(secret: &[u8], issuer: &str, account: &str) -> Result<String, MfaError> {
    Ok(totp(secret, issuer, account)?.get_url())
}

/// The code for a given step number.
pub fn code_at_step(secret: &[u8], step: i64) -> Result<String, MfaError> {
    let t = totp(secret, "ward", "user")?;
    Ok(t.generate(
        u64::try_from(step)
            .unwrap_or(0)
            .saturating_mul(TOTP_STEP_SECS),
    ))
}

pub fn step_of(now: Timestamp) -> i64 {
    now.0.div_euclid(TOTP_STEP_SECS as i64)
}

/// The step whose code equals `code`, within ±1 step of `now`, if any. Comparisons are
/// constant-time. The caller must then accept the step only if it is newer than the last
/// accepted one (replay protection).
pub fn matching_step(secret: &[u8], code: &str, now: Timestamp) -> Result<Option<i64>, MfaError> {
    let code = code.trim();
    if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let current = step_of(now);
    let mut found = None;
    for step in (current - TOTP_SKEW_STEPS)..=(current + TOTP_SKEW_STEPS) {
        let expected = code_at_step(secret, step)?;
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    Ok(found)
}

/// A looks-like-TOTP test, to route a submitted code to TOTP or to backup codes.
pub fn is_totp_shaped(code: &str) -> bool {
    let code = code.trim();
    code.len() == TOTP_DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// Ten fresh backup codes, shown as `XXXX-XXXX`.
pub fn new_backup_codes(random: &dyn Random) -> Vec<String> {
    (0..BACKUP_CODE_COUNT)
        .map(|_| crate::device::display_user_code(&random_string(random, BACKUP_CODE_ALPHABET, 8)))
        .collect()
}

/// Case and dashes do not matter when a backup code is typed.
pub fn normalize_backup_code(input: &str) -> Option<String> {
    crate::device::normalize_user_code(input)
}

/// Backup codes carry ~35 bits of entropy, too few for a plain hash, so they are stored as a
/// keyed hash (HMAC-SHA-256 under a server pepper): the database alone does not reveal them.
pub fn backup_code_hash(pepper: &[u8], user_id: &str, normalized_code: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(pepper) else {
        return String::new();
    };
    mac.update(user_id.as_bytes());
    mac.update(b"\0");
    mac.update(normalized_code.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Unpadded RFC 4648 base32. Hand-written (a dozen lines) rather than pulling a crate for the
/// one string shown next to the QR code.
fn base32_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            let index = ((buffer >> (bits - 5)) & 31) as usize;
            out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'A')));
            bits -= 5;
        }
    }
    if bits > 0 {
        let index = ((buffer << (5 - bits)) & 31) as usize;
        out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'A')));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    /// RFC 6238 Appendix B, SHA-1 rows: the 8-digit values; ward's 6-digit codes are their last
    /// six digits (HOTP truncation is `mod 10^digits`).
    #[test]
    fn rfc6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let step = step_of(Timestamp(time));
            assert_eq!(code_at_step(secret, step).unwrap(), &eight[2..], "T={time}");
            assert_eq!(
                matching_step(secret, &eight[2..], Timestamp(time)).unwrap(),
                Some(step)
            );
        }
    }

    #[test]
    fn skew_window_is_one_step() {
        let secret = b"12345678901234567890";
        let now = Timestamp(1_234_567_890);
        let step = step_of(now);
        let prev = code_at_step(secret, step - 1).unwrap();
        let next = code_at_step(secret, step + 1).unwrap();
        let too_old = code_at_step(secret, step - 2).unwrap();
        let too_new = code_at_step(secret, step + 2).unwrap();
        assert_eq!(matching_step(secret, &prev, now).unwrap(), Some(step - 1));
        assert_eq!(matching_step(secret, &next, now).unwrap(), Some(step + 1));
        assert_eq!(matching_step(secret, &too_old, now).unwrap(), None);
        assert_eq!(matching_step(secret, &too_new, now).unwrap(), None);
        assert_eq!(matching_step(secret, "12345", now).unwrap(), None);
        assert_eq!(matching_step(secret, "abcdef", now).unwrap(), None);
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32_encode(b""), "");
        assert_eq!(base32_encode(b"f"), "MY");
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            secret_base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }

    #[test]
    fn backup_codes() {
        let codes = new_backup_codes(&OsRandom);
        assert_eq!(codes.len(), 10);
        for c in &codes {
            assert_eq!(c.len(), 9);
            assert_eq!(&c[4..5], "-");
            assert!(normalize_backup_code(&c.to_lowercase()).is_some());
        }
        let h1 = backup_code_hash(b"pepper", "u1", "BCDFGHJK");
        assert_eq!(h1.len(), 64);
        assert_ne!(h1, backup_code_hash(b"pepper", "u2", "BCDFGHJK"));
        assert_ne!(h1, backup_code_hash(b"other", "u1", "BCDFGHJK"));
    }

    #[test]
    fn otpauth_url_shape() {
        let url = otpauth_url(b"12345678901234567890", "ward", "ada@example.com").unwrap();
        assert!(
            url.starts_with(
                "otpauth://totp/ward:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            ),
            "{url}"
        );
        assert!(url.contains("issuer=ward"));
    }
}
