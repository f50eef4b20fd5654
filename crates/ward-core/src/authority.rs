//! Authority: what a credential may do (SPEC §2.11), decided in one place.
//!
//! An [`Authority`] is computed once per request from the credential (its kind, client, scopes
//! and session) and the owner's current role; the API, the pages, the proxy, forward-auth and the
//! WebSocket re-check all ask it, so they cannot disagree and a new endpoint cannot forget a rule.
//! No IO here: the server gathers the facts, this module judges them.

use std::collections::BTreeSet;

use crate::clock::Timestamp;
use crate::roles::Role;
use crate::scope::{is_oidc_scope, Action, Permission, ScopeSet, ADMIN_RESOURCE};

/// ward's own clients: the CLI (`ward-cli`) and guest sessions started by the API
/// (`ward-guest`). Their tokens carry the whole role, like ward's own pages.
pub const FIRST_PARTY_CLIENTS: [&str; 2] = ["ward-cli", "ward-guest"];

/// Whether `client_id` is one of ward's own clients.
pub fn is_first_party_client(client_id: &str) -> bool {
    FIRST_PARTY_CLIENTS.contains(&client_id)
}

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// ward's own pages: the `ward_session` cookie.
    SessionCookie,
    /// An access token of one of ward's own clients (`ward-cli`, `ward-guest`).
    FirstPartyToken,
    /// An access token of a configured (third-party) client, on behalf of a user.
    ClientToken,
    /// A long-lived API token (`ward_…`).
    ApiToken,
    /// A service account's token (SPEC §2.15): an API token whose owner is a service account,
    /// or an access token issued to one (token exchange).
    ServiceAccount,
    /// A `client_credentials` access token of a configured client with a `role`: the client
    /// acts on its own behalf, within its role and its scopes.
    ClientCredentials,
    /// A delegated token (RFC 8693): a client acting for a user (`act` claim), within what the
    /// user's token held, bound to the user's session.
    Delegated,
}

impl CredentialKind {
    /// The value of `X-Ward-Credential` (SPEC §2.11).
    pub fn header_value(self) -> &'static str {
        match self {
            CredentialKind::SessionCookie
            | CredentialKind::FirstPartyToken
            | CredentialKind::ClientToken => "session",
            CredentialKind::ApiToken => "api_token",
            CredentialKind::ServiceAccount => "service_account",
            CredentialKind::ClientCredentials => "client",
            CredentialKind::Delegated => "delegated",
        }
    }

    /// The name used in audit events and denials.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::SessionCookie => "session_cookie",
            CredentialKind::FirstPartyToken => "access_token",
            CredentialKind::ClientToken => "client_access_token",
            CredentialKind::ApiToken => "api_token",
            CredentialKind::ServiceAccount => "service_account_token",
            CredentialKind::ClientCredentials => "client_credentials",
            CredentialKind::Delegated => "delegated_token",
        }
    }

    /// A machine credential: no person behind it, no session, no second factor.
    pub fn is_machine(self) -> bool {
        matches!(
            self,
            CredentialKind::ServiceAccount | CredentialKind::ClientCredentials
        )
    }

    /// A first-party session credential: the pages' cookie or a `ward-cli` token.
    pub fn is_first_party_session(self) -> bool {
        matches!(
            self,
            CredentialKind::SessionCookie | CredentialKind::FirstPartyToken
        )
    }
}

/// What the credential was granted, before the owner's role is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// The whole role (ward's pages, `ward-cli` without resource scopes).
    WholeRole,
    /// Only these permissions (`resource:action`); OIDC scopes are never in here.
    Permissions(BTreeSet<String>),
}

impl Grant {
    /// The resource permissions named in `scope`; OIDC scopes and unknown names grant nothing.
    pub fn from_scope(scope: &str, resources: &[String]) -> Grant {
        Grant::Permissions(
            ScopeSet::parse(scope)
                .iter()
                .filter(|s| !is_oidc_scope(s) && Permission::parse(s, resources).is_some())
                .map(str::to_string)
                .collect(),
        )
    }

    pub fn covers(&self, permission: &str) -> bool {
        match self {
            Grant::WholeRole => true,
            Grant::Permissions(set) => set.contains(permission),
        }
    }
}

/// Why an [`Authority`] said no.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// 403: the credential may not do this at all.
    #[error("{0}")]
    Forbidden(String),
    /// 401 `reauth_required`: a first-party session whose second factor (or password) is stale.
    #[error("this needs a recent second factor (or password): verify again, then retry")]
    ReauthRequired,
}

/// The facts about one request's credential that every authorization decision needs.
#[derive(Debug, Clone)]
pub struct Authority {
    pub kind: CredentialKind,
    pub client_id: String,
    /// The owner's current role; `None` when it no longer exists (grants nothing).
    pub role: Option<Role>,
    pub grant: Grant,
    /// When the owner last proved a second factor (or, without MFA, the password) in this
    /// session; `None` for credentials without a session.
    pub verified_at: Option<Timestamp>,
}

impl Authority {
    /// Whether the credential holds `permission` now: the role grants it and so does the grant.
    pub fn allows(&self, permission: &Permission) -> bool {
        let wanted = permission.to_string();
        self.role
            .as_ref()
            .is_some_and(|r| r.permissions.iter().any(|p| p == "*" || *p == wanted))
            && self.grant.covers(&wanted)
    }

    /// Whether the role (ignoring the credential's narrower grant) holds `permission`.
    pub fn role_allows(&self, permission: &Permission) -> bool {
        self.role.as_ref().is_some_and(|r| r.grants(permission))
    }

    /// Every permission this credential holds (`X-Ward-Scopes`), expanded over `resources` and
    /// `admin` for a role with `"*"`. Asked on every proxied request, so it avoids building
    /// every resource × action when the grant or the role is a short list.
    pub fn effective_permissions(&self, resources: &[String]) -> Vec<String> {
        let Some(role) = &self.role else {
            return Vec::new();
        };
        let star = role.permissions.iter().any(|p| p == "*");
        match &self.grant {
            Grant::Permissions(granted) => granted
                .iter()
                .filter(|p| star || role.permissions.contains(p))
                .cloned()
                .collect(),
            Grant::WholeRole if !star => role
                .permissions
                .iter()
                .filter(|p| Permission::parse(p, resources).is_some())
                .cloned()
                .collect(),
            Grant::WholeRole => {
                let admin = [ADMIN_RESOURCE.to_string()];
                let mut out = Vec::with_capacity((resources.len() + 1) * Action::ALL.len());
                for resource in resources.iter().chain(admin.iter()) {
                    for action in Action::ALL {
                        out.push(format!("{resource}:{action}"));
                    }
                }
                out
            }
        }
    }

    /// Account security (SPEC §2.11): a first-party session credential whose owner proved a
    /// second factor (or the password) within `window` seconds.
    pub fn require_account_security(&self, now: Timestamp, window: i64) -> Result<(), Denial> {
        if !self.kind.is_first_party_session() {
            return Err(Denial::Forbidden(format!(
                "permission denied: account security needs a signed-in session, not {}",
                match self.kind {
                    CredentialKind::ApiToken => "an API token".to_string(),
                    CredentialKind::ServiceAccount => "a service account's token".to_string(),
                    CredentialKind::ClientCredentials =>
                        format!("a client_credentials token of client {}", self.client_id),
                    _ => format!("a token of client {}", self.client_id),
                }
            )));
        }
        match self.verified_at {
            Some(at) if now.0 - at.0 <= window => Ok(()),
            _ => Err(Denial::ReauthRequired),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn role(perms: &[&str]) -> Role {
        Role {
            name: "r".into(),
            permissions: perms.iter().map(|s| s.to_string()).collect(),
            limits: BTreeMap::new(),
        }
    }

    fn resources() -> Vec<String> {
        vec!["containers".into(), "snippets".into()]
    }

    fn authority(kind: CredentialKind, perms: &[&str], grant: Grant) -> Authority {
        Authority {
            kind,
            client_id: "c".into(),
            role: Some(role(perms)),
            grant,
            verified_at: Some(Timestamp(1000)),
        }
    }

    fn perm(s: &str) -> Permission {
        Permission::parse(s, &resources()).unwrap()
    }

    #[test]
    fn oidc_scopes_grant_nothing() {
        let a = authority(
            CredentialKind::ClientToken,
            &["*"],
            Grant::from_scope("openid profile email offline_access", &resources()),
        );
        assert!(!a.allows(&perm("containers:read")));
        assert!(!a.allows(&perm("admin:read")));
        assert!(a.effective_permissions(&resources()).is_empty());
    }

    #[test]
    fn grant_is_intersected_with_the_role() {
        let a = authority(
            CredentialKind::ApiToken,
            &["containers:read"],
            Grant::from_scope("containers:read containers:write", &resources()),
        );
        assert!(a.allows(&perm("containers:read")));
        assert!(!a.allows(&perm("containers:write")));
        assert_eq!(a.effective_permissions(&resources()), ["containers:read"]);
    }

    #[test]
    fn whole_role_includes_admin_for_star() {
        let a = authority(CredentialKind::SessionCookie, &["*"], Grant::WholeRole);
        assert!(a.allows(&perm("admin:write")));
        let narrowed = authority(
            CredentialKind::ApiToken,
            &["*"],
            Grant::from_scope("containers:read", &resources()),
        );
        assert!(!narrowed.allows(&perm("admin:read")));
        assert!(narrowed.role_allows(&perm("admin:read")));
    }

    #[test]
    fn machines_hold_their_role_within_their_scopes() {
        for kind in [
            CredentialKind::ServiceAccount,
            CredentialKind::ClientCredentials,
        ] {
            let a = Authority {
                verified_at: None,
                ..authority(
                    kind,
                    &["containers:read", "admin:read"],
                    Grant::from_scope("containers:read containers:write", &resources()),
                )
            };
            assert!(kind.is_machine());
            assert!(a.allows(&perm("containers:read")));
            assert!(!a.allows(&perm("containers:write")), "outside the role");
            assert!(!a.allows(&perm("admin:read")), "outside the scopes");
        }
        assert_eq!(
            CredentialKind::ServiceAccount.header_value(),
            "service_account"
        );
        assert_eq!(CredentialKind::ClientCredentials.header_value(), "client");
    }

    #[test]
    fn account_security_needs_a_fresh_first_party_session() {
        let fresh = authority(CredentialKind::FirstPartyToken, &["*"], Grant::WholeRole);
        assert_eq!(fresh.require_account_security(Timestamp(1600), 600), Ok(()));
        assert_eq!(
            fresh.require_account_security(Timestamp(1601), 600),
            Err(Denial::ReauthRequired)
        );
        for kind in [
            CredentialKind::ApiToken,
            CredentialKind::ClientToken,
            CredentialKind::ServiceAccount,
            CredentialKind::ClientCredentials,
        ] {
            let a = authority(kind, &["*"], Grant::WholeRole);
            assert!(matches!(
                a.require_account_security(Timestamp(1000), 600),
                Err(Denial::Forbidden(_))
            ));
        }
    }
}
