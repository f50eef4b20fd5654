//! Roles map to permissions (`"*"` grants all). Built from configuration by the server.

use std::collections::BTreeMap;

use crate::scope::{Action, Permission};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    /// Each entry is `resource:action` or `"*"`.
    pub permissions: Vec<String>,
    /// Quotas reported to clients (e.g. `containers = 5` for guests).
    pub limits: BTreeMap<String, i64>,
}

impl Role {
    pub fn grants(&self, permission: &Permission) -> bool {
        let wanted = permission.to_string();
        self.permissions.iter().any(|p| p == "*" || *p == wanted)
    }
    fn breadth(&self) -> usize {
        if self.permissions.iter().any(|p| p == "*") {
            usize::MAX
        } else {
            self.permissions.len()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap {
    roles: BTreeMap<String, Role>,
}

impl RoleMap {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Self {
        RoleMap {
            roles: roles.into_iter().map(|r| (r.name.clone(), r)).collect(),
        }
    }
    pub fn get(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }
    pub fn contains(&self, name: &str) -> bool {
        self.roles.contains_key(name)
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }
    /// Every permission a role holds, expanded (`"*"` becomes every resource × action).
    pub fn permissions_of(&self, role: &str, resources: &[String]) -> Vec<String> {
        let Some(r) = self.roles.get(role) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let admin = [crate::scope::ADMIN_RESOURCE.to_string()];
        for resource in resources.iter().chain(admin.iter()) {
            for action in Action::ALL {
                let p = Permission {
                    resource: resource.clone(),
                    action,
                };
                if r.grants(&p) {
                    out.push(p.to_string());
                }
            }
        }
        out
    }
    /// The least-privileged role that grants `permission`, for denial messages
    /// (`permission denied: app:delete requires admin role`).
    pub fn least_role_granting(&self, permission: &Permission) -> Option<&str> {
        self.roles
            .values()
            .filter(|r| r.grants(permission))
            .min_by_key(|r| (r.breadth(), r.name.clone()))
            .map(|r| r.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, perms: &[&str]) -> Role {
        Role {
            name: name.into(),
            permissions: perms.iter().map(|s| s.to_string()).collect(),
            limits: BTreeMap::new(),
        }
    }

    #[test]
    fn least_role() {
        let map = RoleMap::new([
            role("admin", &["*"]),
            role("user", &["containers:read", "containers:write"]),
            role("guest", &["containers:read"]),
        ]);
        let p = |s: &str| Permission {
            resource: s.split(':').next().unwrap().into(),
            action: Action::parse(s.split(':').nth(1).unwrap()).unwrap(),
        };
        assert_eq!(
            map.least_role_granting(&p("containers:read")),
            Some("guest")
        );
        assert_eq!(
            map.least_role_granting(&p("containers:write")),
            Some("user")
        );
        assert_eq!(
            map.least_role_granting(&p("containers:delete")),
            Some("admin")
        );
    }
}
