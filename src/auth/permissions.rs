//! Permissions an API key can carry. `admin` implies every other one.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    Search,
    Analytics,
    DatabaseRead,
    DatabaseWrite,
    KeysRead,
    KeysWrite,
    Admin,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::Search,
        Permission::Analytics,
        Permission::DatabaseRead,
        Permission::DatabaseWrite,
        Permission::KeysRead,
        Permission::KeysWrite,
        Permission::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Search => "search",
            Permission::Analytics => "analytics",
            Permission::DatabaseRead => "database:read",
            Permission::DatabaseWrite => "database:write",
            Permission::KeysRead => "keys:read",
            Permission::KeysWrite => "keys:write",
            Permission::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Whether a granted set allows `needed`.
pub fn allows(granted: &[Permission], needed: Permission) -> bool {
    granted.iter().any(|&p| p == needed || p == Permission::Admin)
}

/// Stored form: a JSON array of names.
pub fn to_json(perms: &[Permission]) -> String {
    serde_json::to_string(&perms.iter().map(|p| p.as_str()).collect::<Vec<_>>()).expect("strings serialize")
}

pub fn from_json(text: &str) -> Option<Vec<Permission>> {
    let names: Vec<String> = serde_json::from_str(text).ok()?;
    names.iter().map(|n| Permission::parse(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_admin_implies_all() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
            assert!(allows(&[Permission::Admin], p));
        }
        assert!(!allows(&[Permission::Search], Permission::KeysWrite));
        assert_eq!(from_json(&to_json(&Permission::ALL)).unwrap(), Permission::ALL.to_vec());
        assert!(from_json(r#"["search","root"]"#).is_none());
    }
}
