//! Account lifecycle rules (SPEC §2.14): what a new password must be, and the single-use links
//! (admin recovery, and later password reset, email verification, invitations) with the
//! reasons one stops working. No IO: the server stores links and hashes passwords.

use crate::clock::Timestamp;

/// A new password has at least this many characters…
pub const MIN_NEW_PASSWORD_CHARS: usize = 12;
/// …and at most this many: Argon2id hashes any length, but a megabyte "password" is a way to
/// make the server work, and no password manager makes one this long.
pub const MAX_NEW_PASSWORD_CHARS: usize = 128;
/// zxcvbn's default score a new password must reach (`password.min_score`): 3 is "safely
/// unguessable: moderate protection from offline slow-hash scenario" (10^10 guesses).
pub const DEFAULT_MIN_SCORE: u8 = 3;

/// Why a chosen password is refused; each message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRule {
    #[error("the new password is too short: use at least {min} characters")]
    TooShort { min: usize },
    #[error("the new password is too long: use at most {max} characters")]
    TooLong { max: usize },
    #[error("the new password is the same as the current one: choose a different password")]
    SameAsCurrent,
    #[error("the new password is too easy to guess (strength {score} of 4, at least {min} needed){hint}")]
    Weak {
        score: u8,
        min: u8,
        /// zxcvbn's warning and suggestion, as `: …` (or empty).
        hint: String,
    },
}

impl PasswordRule {
    /// A stable error code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            PasswordRule::TooShort { .. } => "password_too_short",
            PasswordRule::TooLong { .. } => "password_too_long",
            PasswordRule::SameAsCurrent => "password_reused",
            PasswordRule::Weak { .. } => "password_too_weak",
        }
    }
}

/// Checks a password a person chose (a change, a recovery, a sign-up). `context` is what an
/// attacker knows about the account (email, name, product name): passwords built from it are
/// scored as guessable.
pub fn check_new_password(
    password: &str,
    min_score: u8,
    context: &[&str],
) -> Result<(), PasswordRule> {
    let chars = password.chars().count();
    if chars < MIN_NEW_PASSWORD_CHARS {
        return Err(PasswordRule::TooShort {
            min: MIN_NEW_PASSWORD_CHARS,
        });
    }
    if chars > MAX_NEW_PASSWORD_CHARS {
        return Err(PasswordRule::TooLong {
            max: MAX_NEW_PASSWORD_CHARS,
        });
    }
    // The email's parts are guessable on their own too ("alice", "example").
    let mut inputs: Vec<&str> = Vec::new();
    for c in context {
        inputs.push(c);
        inputs.extend(c.split(['@', '.', ' ', '-', '_']).filter(|p| p.len() >= 3));
    }
    let entropy = zxcvbn::zxcvbn(password, &inputs);
    let score = u8::from(entropy.score());
    if score >= min_score {
        return Ok(());
    }
    let hint = entropy
        .feedback()
        .map(|f| {
            let mut parts: Vec<String> = Vec::new();
            if let Some(w) = f.warning() {
                parts.push(w.to_string());
            }
            if let Some(s) = f.suggestions().first() {
                parts.push(s.to_string());
            }
            parts
        })
        .filter(|p| !p.is_empty())
        .map(|p| format!(": {}", p.join(" ")))
        .unwrap_or_default();
    Err(PasswordRule::Weak {
        score,
        min: min_score,
        hint,
    })
}

/// What a single-use account link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Made by an admin: set a new password (second factors are removed; enrol again).
    Recovery,
    /// "Forgot password?" by mail: set a new password (second factors stay).
    Reset,
    /// Proves the address in the link belongs to the user (sign-up, email change).
    Verify,
    /// An admin's invitation (`signup = "invite"`): no user yet; the email (and maybe the role)
    /// is pinned by the link, and the invitee chooses a password.
    Invite,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Recovery => "recovery",
            LinkPurpose::Reset => "reset",
            LinkPurpose::Verify => "verify",
            LinkPurpose::Invite => "invite",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "recovery" => Some(LinkPurpose::Recovery),
            "reset" => Some(LinkPurpose::Reset),
            "verify" => Some(LinkPurpose::Verify),
            "invite" => Some(LinkPurpose::Invite),
            _ => None,
        }
    }
    /// How long a link of this kind works: Kanidm's and Keycloak's 24 h for admin recovery and
    /// verification, SPEC's 30 minutes for a mailed password reset and 7 days for an
    /// invitation.
    pub fn lifetime_secs(self) -> i64 {
        match self {
            LinkPurpose::Recovery | LinkPurpose::Verify => 24 * 3600,
            LinkPurpose::Reset => 30 * 60,
            LinkPurpose::Invite => 7 * 24 * 3600,
        }
    }
    /// Where a person gets a new link of this kind.
    pub fn ask_again(self) -> &'static str {
        match self {
            LinkPurpose::Recovery => "ask your administrator for a new link",
            LinkPurpose::Reset => "ask for a new one with \"Forgot password?\" on the sign-in page",
            LinkPurpose::Verify => {
                "sign in and ask for a new verification mail on your account page"
            }
            LinkPurpose::Invite => "ask the person who invited you for a new invitation",
        }
    }
}

/// Who may create an account (`signup`, SPEC §2.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupMode {
    /// `false` / `"off"`: only admins create accounts.
    Off,
    /// `true` / `"open"`: anyone, at `/signup`.
    Open,
    /// `"invite"`: only through an admin's invitation link.
    Invite,
    /// `"approval"`: anyone may ask at `/signup`; the account waits for an admin's approval.
    Approval,
}

impl SignupMode {
    /// `true`/`false` or one of the names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "false" | "off" => Some(SignupMode::Off),
            "true" | "open" => Some(SignupMode::Open),
            "invite" => Some(SignupMode::Invite),
            "approval" => Some(SignupMode::Approval),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SignupMode::Off => "off",
            SignupMode::Open => "open",
            SignupMode::Invite => "invite",
            SignupMode::Approval => "approval",
        }
    }
    /// Whether `/signup` takes a form from anyone (open, or asking for approval).
    pub fn form_open(self) -> bool {
        matches!(self, SignupMode::Open | SignupMode::Approval)
    }
}

/// A single-use link, stored by the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLink {
    pub token_hash: String,
    pub purpose: LinkPurpose,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    /// The admin who made it.
    pub created_by: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// Why a link cannot be used; each says what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    /// No link has this secret: altered, cut short, or replaced by a newer link.
    Invalid,
    Used,
    Expired,
}

impl LinkProblem {
    pub fn title(self) -> &'static str {
        match self {
            LinkProblem::Invalid => "This link is not valid",
            LinkProblem::Used => "This link was already used",
            LinkProblem::Expired => "This link has expired",
        }
    }
    /// What happened and what to do, for a link of `purpose`.
    pub fn explanation(self, purpose: LinkPurpose) -> String {
        let again = purpose.ask_again();
        match self {
            LinkProblem::Invalid => format!(
                "The link was altered or copied incompletely, or a newer link replaced it. Copy the whole link again, or {again}."
            ),
            LinkProblem::Used => format!(
                "Each link works once. If you already used it, sign in; otherwise {again}."
            ),
            LinkProblem::Expired => {
                format!("Links work for a limited time. Sign in, or {again}.")
            }
        }
    }
}

impl AccountLink {
    /// Whether the link works at `now` for `purpose`.
    pub fn problem(&self, purpose: LinkPurpose, now: Timestamp) -> Option<LinkProblem> {
        if self.purpose != purpose {
            Some(LinkProblem::Invalid)
        } else if self.used_at.is_some() {
            Some(LinkProblem::Used)
        } else if now >= self.expires_at {
            Some(LinkProblem::Expired)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_limits_name_the_rule() {
        assert_eq!(
            check_new_password("short", 3, &[]),
            Err(PasswordRule::TooShort { min: 12 })
        );
        let long = "x".repeat(129);
        assert_eq!(
            check_new_password(&long, 3, &[]),
            Err(PasswordRule::TooLong { max: 128 })
        );
        assert!(PasswordRule::TooShort { min: 12 }
            .to_string()
            .contains("at least 12 characters"));
    }

    #[test]
    fn guessable_passwords_are_weak() {
        for weak in [
            "password1234",
            "aaaaaaaaaaaaaaaa",
            "qwertyuiop12",
            "alice@example.com1",
        ] {
            let e = check_new_password(weak, 3, &["alice@example.com"]).unwrap_err();
            assert!(matches!(e, PasswordRule::Weak { .. }), "{weak}: {e:?}");
            assert!(e.to_string().contains("too easy to guess"), "{e}");
        }
        assert_eq!(
            check_new_password("violet-anchor-31-drizzle", 3, &["alice@example.com"]),
            Ok(())
        );
        assert_eq!(
            check_new_password("a long enough passphrase", 3, &[]),
            Ok(())
        );
    }

    #[test]
    fn link_problems_in_order() {
        let link = AccountLink {
            token_hash: "h".into(),
            purpose: LinkPurpose::Recovery,
            user_id: Some("u".into()),
            email: None,
            role: None,
            created_by: None,
            created_at: Timestamp(0),
            expires_at: Timestamp(100),
            used_at: None,
        };
        assert_eq!(link.problem(LinkPurpose::Recovery, Timestamp(50)), None);
        assert_eq!(
            link.problem(LinkPurpose::Recovery, Timestamp(100)),
            Some(LinkProblem::Expired)
        );
        let used = AccountLink {
            used_at: Some(Timestamp(10)),
            ..link
        };
        assert_eq!(
            used.problem(LinkPurpose::Recovery, Timestamp(200)),
            Some(LinkProblem::Used)
        );
    }
}

/// A mail waiting in (or delivered from) the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    /// What it is: `password_reset`, `verify_email`, `notice.signin`, …
    pub kind: String,
    /// The text and HTML bodies, sealed under the master key by the server.
    pub body_enc: String,
    pub created_at: Timestamp,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
}

/// When to try a mail again after `attempts` failed tries: 30 s, doubling, at most an hour.
pub fn mail_retry_after_secs(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    (30_i64 << exp).min(3600)
}
