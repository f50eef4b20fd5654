//! Machine identities (SPEC §2.15): service accounts and clients that act with a role of their
//! own. A machine is never a person: it has no email, no password, no second factor, and it
//! never signs in interactively; its credentials (service-account tokens, client-credentials
//! tokens) are its only way in. Its "principal" is a [`User`] value built here, never stored in
//! the users table, so no sign-in path (password, passkey, identity provider, recovery) can
//! find it.

use crate::clock::Timestamp;
use crate::model::User;

/// A service account: a named, non-human holder of a role and of API-style tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// `sa_` + a random id; also the audit actor of everything its tokens do.
    pub id: String,
    /// Unique, 1 to 64 characters of `[A-Za-z0-9._-]`.
    pub name: String,
    pub role: String,
    pub created_at: Timestamp,
    /// The admin who made it.
    pub created_by: Option<String>,
}

/// The prefix of a service account's id, so an audit reader tells it from a user at a glance.
pub const SERVICE_ACCOUNT_ID_PREFIX: &str = "sa_";

impl ServiceAccount {
    /// The principal its tokens act as: its id, name and role; no email, no password.
    pub fn principal(&self) -> User {
        machine_principal(&self.id, &self.name, &self.role, self.created_at)
    }
}

/// The principal of a machine credential (a service account, or a configured client acting
/// with its own role): it exists only for the length of a request.
pub fn machine_principal(id: &str, name: &str, role: &str, created_at: Timestamp) -> User {
    User {
        id: crate::ids::UserId::from(id),
        email: String::new(),
        name: name.to_string(),
        password_hash: None,
        role: role.to_string(),
        disabled: false,
        created_at,
        email_verified: false,
    }
}

/// Why a service-account name is refused, or `None` when it is fine.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 64 {
        return Some("name must be 1 to 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Some("name may hold only letters, digits, '.', '_' and '-'");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name_problem("ci-deploy.prod_1"), None);
        assert!(name_problem("").is_some());
        assert!(name_problem("has space").is_some());
        assert!(name_problem(&"x".repeat(65)).is_some());
        assert!(name_problem("ünicode").is_some());
    }

    #[test]
    fn the_principal_cannot_sign_in() {
        let sa = ServiceAccount {
            id: "sa_1".into(),
            name: "ci".into(),
            role: "deployer".into(),
            created_at: Timestamp(5),
            created_by: None,
        };
        let p = sa.principal();
        assert_eq!(p.id, "sa_1");
        assert_eq!(p.role, "deployer");
        assert!(p.password_hash.is_none());
        assert!(p.email.is_empty());
    }
}
