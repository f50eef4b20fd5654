//! Secrets that must never reach a log: `Debug` prints `[redacted]`. One type for the server's
//! keys and the tokens `ward-client` holds; on the wire and in the client's store it is the bare
//! value (`serde(transparent)`), so a body that carries a token can hold it as a `Secret`.
//!
//! Hand-written rather than `secrecy`'s `SecretBox`: `secrecy` deliberately gives secrets no
//! `Serialize`, and the client must write tokens to its credential store and to request bodies
//! (decision 183).

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    pub fn new(value: impl Into<T>) -> Self {
        Secret(value.into())
    }
    /// The raw value; the one way to read it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_and_serde_is_the_bare_value() {
        let s: Secret = Secret::new("ward_abc");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"ward_abc\"");
        let back: Secret = serde_json::from_str("\"ward_abc\"").unwrap();
        assert_eq!(back.expose(), "ward_abc");
    }
}
