//! Password hashing: Argon2id with the OWASP-recommended parameters (m = 19 MiB, t = 2, p = 1).
//! These functions are CPU-heavy and synchronous; the server runs them on a bounded blocking pool,
//! each run in a [`Workspace`] that it keeps, so that a sign-in does not allocate, fault in and
//! free Argon2's 19 MiB of working memory every time.

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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

/// Argon2's working memory (`m` blocks of 1 KiB: 19 MiB with ward's parameters), kept by the
/// caller between runs. Allocating it for every run made the process's RSS jump by 19 MiB and
/// back as the allocator returned it to the system, and cost a page fault per 4 KiB each time.
/// The memory is overwritten before it is read (Argon2's first pass writes every block), so
/// reusing it changes no result.
#[derive(Default)]
pub struct Workspace {
    blocks: Vec<Block>,
}

impl Workspace {
    /// Most blocks kept between runs: ward's own `m`. A stored hash with a larger `m` (made with
    /// other parameters) gets memory for that run only.
    const KEPT_BLOCKS: usize = 19_456;

    fn run(
        &mut self,
        argon2: &Argon2<'_>,
        password: &[u8],
        salt: &Salt<'_>,
        output_len: usize,
    ) -> Result<Output, argon2::password_hash::Error> {
        let mut salt_buf = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_buf)?;
        let count = argon2.params().block_count();
        let mut once = Vec::new();
        let blocks = if count <= Self::KEPT_BLOCKS {
            if self.blocks.len() < count {
                self.blocks.resize(count, Block::default());
            }
            &mut self.blocks[..count]
        } else {
            once.resize(count, Block::default());
            &mut once[..]
        };
        Output::init_with(output_len, |out| {
            argon2
                .hash_password_into_with_memory(password, salt, out, &mut *blocks)
                .map_err(Into::into)
        })
    }

    /// Bytes held now.
    pub fn held_bytes(&self) -> usize {
        self.blocks.len() * Block::SIZE
    }
}

pub fn hash_password(password: &str, random: &dyn Random) -> Result<String, PasswordError> {
    hash_password_in(&mut Workspace::default(), password, random)
}

/// [`hash_password`] in a kept workspace.
pub fn hash_password_in(
    workspace: &mut Workspace,
    password: &str,
    random: &dyn Random,
) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(PasswordError::TooShort);
    }
    let fail = |e: argon2::password_hash::Error| PasswordError::Hash(e.to_string());
    let mut salt = [0u8; 16];
    random.fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(fail)?;
    let argon2 = argon2();
    let params = argon2.params();
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = workspace
        .run(&argon2, password.as_bytes(), &salt.as_salt(), output_len)
        .map_err(fail)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(fail)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Constant-time verification (`Output`'s comparison is constant-time).
pub fn verify_password(password: &str, phc: &str) -> bool {
    verify_password_in(&mut Workspace::default(), password, phc)
}

/// [`verify_password`] in a kept workspace. Any Argon2 variant, version and parameters the
/// PHC string names.
pub fn verify_password_in(workspace: &mut Workspace, password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    workspace
        .run(&argon2, password.as_bytes(), &salt, expected.len())
        .is_ok_and(|computed| computed == expected)
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
    fn a_kept_workspace_gives_the_same_results_as_a_fresh_one() {
        let mut ws = Workspace::default();
        let h = hash_password_in(&mut ws, "correct horse", &OsRandom).unwrap();
        assert_eq!(ws.held_bytes(), 19_456 * 1024);
        assert!(verify_password_in(&mut ws, "correct horse", &h));
        assert!(!verify_password_in(&mut ws, "wrong horse", &h));
        assert!(verify_password("correct horse", &h));
        let other = hash_password("battery staple", &OsRandom).unwrap();
        assert!(verify_password_in(&mut ws, "battery staple", &other));
        assert!(verify_password_in(&mut ws, "correct horse", &h));
        // A hash made by the crate's own hasher (another variant, other parameters, a smaller
        // `m`) verifies through the workspace too, and one with a larger `m` gets its own memory.
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        for (alg, m) in [(Algorithm::Argon2i, 1024), (Algorithm::Argon2id, 20_480)] {
            let params = Params::new(m, 1, 1, Some(24)).unwrap();
            let foreign = Argon2::new(alg, Version::V0x13, params)
                .hash_password(b"correct horse", &salt)
                .unwrap()
                .to_string();
            assert!(
                verify_password_in(&mut ws, "correct horse", &foreign),
                "{foreign}"
            );
            assert!(
                !verify_password_in(&mut ws, "wrong horse", &foreign),
                "{foreign}"
            );
        }
        assert_eq!(ws.held_bytes(), 19_456 * 1024);
    }

    #[test]
    fn short_password_refused() {
        assert!(matches!(
            hash_password("short", &OsRandom),
            Err(PasswordError::TooShort)
        ));
    }
}
