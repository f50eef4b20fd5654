//! The one seam through which ward draws randomness, and the encodings built on it.

use rand::RngCore;

pub trait Random: Send + Sync + 'static {
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(buf);
    }
}

pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` characters drawn uniformly from `alphabet` (rejection sampling, no modulo bias).
pub fn random_string(random: &dyn Random, alphabet: &[u8], len: usize) -> String {
    let n = alphabet.len();
    debug_assert!((1..=256).contains(&n));
    // Largest multiple of n that fits in a byte: bytes at or above it are redrawn.
    let limit = 256 - (256 % n);
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        random.fill(&mut buf);
        for &b in &buf {
            if (b as usize) < limit && out.len() < len {
                if let Some(&c) = alphabet.get(b as usize % n) {
                    out.push(char::from(c));
                }
            }
        }
    }
    out
}

/// A 128-bit random identifier in lowercase hex (ids of users, sessions, keys).
pub fn random_id(random: &dyn Random) -> String {
    let mut buf = [0u8; 16];
    random.fill(&mut buf);
    hex::encode(buf)
}
