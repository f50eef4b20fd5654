//! The vocabulary of the audit log that is not free text.

use std::fmt;

/// How an audited action ended; stored and shown as its [`Outcome::as_str`] name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It happened.
    Ok,
    /// The caller's input was wrong (a bad password, code or token).
    Failed,
    /// A rule refused it (a policy, a lock, an account state).
    Denied,
    /// A rate limit refused it before the input was checked.
    RateLimited,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Denied => "denied",
            Outcome::RateLimited => "rate_limited",
        }
    }

    /// `Ok` when `ok`, else `Failed`.
    pub fn of(ok: bool) -> Outcome {
        if ok {
            Outcome::Ok
        } else {
            Outcome::Failed
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_stored_ones() {
        let names: Vec<_> = [
            Outcome::Ok,
            Outcome::Failed,
            Outcome::Denied,
            Outcome::RateLimited,
        ]
        .iter()
        .map(|o| o.to_string())
        .collect();
        assert_eq!(names, ["ok", "failed", "denied", "rate_limited"]);
        assert_eq!(Outcome::of(false), Outcome::Failed);
    }
}
