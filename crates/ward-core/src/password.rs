//! Password hashing: Argon2id with the OWASP-recommended parameters (m = 19 MiB, t = 2, p = 1).
//! These functions are CPU-heavy and synchronous; the server runs them on a bounded blocking pool.

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::random::Random;

/// Passwords shorter than this are refused when set.
pub const MIN_PASSWORD_LEN: usize = 8;

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: Argon2id, m=19456 KiB, t=2, p=1.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_PASSWORD_LEN} characters")]
    TooShort,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

pub fn hash_password(password: &str, random: &dyn Random) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    let mut salt = [0u8; 16];
    random.fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Constant-time verification (the argon2 crate compares digests in constant time).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A fixed hash to verify against when the account does not exist, so that a sign-in for an
/// unknown email costs the same time as one for a known email (no user enumeration by timing).
/// Random bytes stand where the digest goes: verifying against it is a full Argon2id run with the
/// real parameters and matches no password, yet making it costs no Argon2id run at start-up.
pub fn dummy_hash(random: &dyn Random) -> String {
    let mut salt = [0u8; 16];
    random.fill(&mut salt);
    let mut digest = [0u8; 32];
    random.fill(&mut digest);
    let (Ok(salt), Ok(digest)) = (SaltString::encode_b64(&salt), Output::new(&digest)) else {
        return String::new();
    };
    let argon2 = argon2();
    let p = argon2.params();
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${digest}",
        p.m_cost(),
        p.t_cost(),
        p.p_cost(),
        salt.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    #[test]
    fn hash_verifies_and_rejects() {
        let h = hash_password("correct horse", &OsRandom).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn dummy_hash_has_the_real_parameters_and_matches_nothing() {
        let d = dummy_hash(&OsRandom);
        assert!(d.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{d}");
        assert!(PasswordHash::new(&d).is_ok());
        assert!(!verify_password("ward-dummy-password-never-valid", &d));
    }

    #[test]
    fn short_password_refused() {
        assert!(matches!(
            hash_password("short", &OsRandom),
            Err(PasswordError::TooShort)
        ));
    }
}
