//! Randomness for verifiers, state and device ids, from the OS generator.

use base64::Engine;
use rand::RngCore;

/// `n` random bytes, base64url without padding.
pub(crate) fn token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// `n` random bytes, hex.
pub(crate) fn hex_id(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}
