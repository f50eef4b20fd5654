//! Scopes and permissions. A permission is `resource:action` with action `read`, `write` or
//! `delete`; a resource may be namespaced with `:` (`convox:app:delete` is resource `convox:app`,
//! action `delete`). OAuth requests may also carry the OIDC scopes `openid`, `profile`, `email`
//! and `offline_access`, which grant identity only, never a resource permission.

use std::collections::BTreeSet;
use std::fmt;

pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
pub const DEFAULT_RESOURCES: [&str; 5] = ["agent", "containers", "ssh", "snippets", "recordings"];
/// The admin API's resource (`admin:read`, `admin:write`): always known, whatever is configured.
pub const ADMIN_RESOURCE: &str = "admin";

/// Whether `scope` is one of the OIDC scopes (identity only).
pub fn is_oidc_scope(scope: &str) -> bool {
    OIDC_SCOPES.contains(&scope)
}

/// What a permission allows on its resource. Written in lower case after the resource's last
/// `:` (`containers:read`); these three are all there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Read,
    Write,
    Delete,
}

impl Action {
    /// Every action, in the order permissions are listed (`read`, `write`, `delete`).
    pub const ALL: [Action; 3] = [Action::Read, Action::Write, Action::Delete];

    /// The action's name in a permission: `read`, `write` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Delete => "delete",
        }
    }

    /// The action named `s` (exactly, lower case), if it is one.
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    pub resource: String,
    pub action: Action,
}

impl Permission {
    /// Parses `resource:action` (the action is after the last `:`); the resource must be one of
    /// `resources` or [`ADMIN_RESOURCE`].
    pub fn parse(s: &str, resources: &[String]) -> Option<Permission> {
        let (resource, action) = s.rsplit_once(':')?;
        let known = resource == ADMIN_RESOURCE || resources.iter().any(|r| r == resource);
        let action = Action::parse(action)?;
        known.then(|| Permission {
            resource: resource.to_string(),
            action,
        })
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.action)
    }
}

/// A space-separated OAuth scope string (RFC 6749 §3.3), kept sorted and deduplicated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    pub fn parse(s: &str) -> ScopeSet {
        ScopeSet(s.split_ascii_whitespace().map(str::to_string).collect())
    }
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The scopes of `self` that `allowed` accepts.
    pub fn filter(&self, allowed: impl Fn(&str) -> bool) -> ScopeSet {
        ScopeSet(self.0.iter().filter(|s| allowed(s)).cloned().collect())
    }
    /// The first scope that `allowed` rejects.
    pub fn first_rejected(&self, allowed: impl Fn(&str) -> bool) -> Option<&str> {
        self.iter().find(|s| !allowed(s))
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_sets() {
        let s = ScopeSet::parse("openid  containers:read openid");
        assert_eq!(s.to_string(), "containers:read openid");
        assert_eq!(s.first_rejected(|x| x == "openid"), Some("containers:read"));
        let resources: Vec<String> = DEFAULT_RESOURCES.iter().map(|s| s.to_string()).collect();
        assert!(Permission::parse("containers:read", &resources).is_some());
        assert!(Permission::parse("containers:fly", &resources).is_none());
        assert!(Permission::parse("boats:read", &resources).is_none());
        assert!(Permission::parse("admin:write", &resources).is_some());
        let namespaced = vec!["convox:app".to_string()];
        let p = Permission::parse("convox:app:delete", &namespaced).unwrap();
        assert_eq!(
            (p.resource.as_str(), p.action),
            ("convox:app", Action::Delete)
        );
        assert!(Permission::parse("convox:delete", &namespaced).is_none());
        assert!(Permission::parse("containers:READ", &resources).is_none());
        for a in Action::ALL {
            assert_eq!(Action::parse(&a.to_string()), Some(a));
        }
    }
}
