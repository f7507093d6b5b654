//! Typed names and kinds that cross the core boundary. Each is validated
//! once, where it enters (an HTTP path, a request body, a CLI argument), so
//! the operations behind never see a malformed one.

use std::fmt;

use berth_oci::name::{validate_repository, validate_tag};

/// A name that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidName(pub String);

/// What kind of account a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// A person who logs in.
    User,
    /// An organization (owns repositories, has teams; cannot log in).
    #[serde(rename = "org")]
    Organization,
    /// A robot account of a user or an organization.
    Robot,
}

impl AccountKind {
    /// Parse the stored form (`user`, `org`, `robot`).
    pub fn parse(s: &str) -> Option<AccountKind> {
        match s {
            "user" => Some(AccountKind::User),
            "org" => Some(AccountKind::Organization),
            "robot" => Some(AccountKind::Robot),
            _ => None,
        }
    }

    /// The stored form, also Quay's avatar `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Organization => "org",
            AccountKind::Robot => "robot",
        }
    }

    /// Whether an account of this kind is a namespace (owns repositories).
    pub fn is_namespace(self) -> bool {
        matches!(self, AccountKind::User | AccountKind::Organization)
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may pull a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone, anonymous callers included.
    Public,
    /// Only those granted access.
    Private,
}

impl Visibility {
    /// From the stored flag.
    pub fn from_public(is_public: bool) -> Visibility {
        if is_public {
            Visibility::Public
        } else {
            Visibility::Private
        }
    }

    /// Whether anyone may pull.
    pub fn is_public(self) -> bool {
        self == Visibility::Public
    }

    /// Parse Quay's `public` / `private`.
    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "public" => Some(Visibility::Public),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }

    /// Quay's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

/// Declares a validated string newtype.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $validate:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validate `s`.
            pub fn new(s: impl Into<String>) -> Result<$name, InvalidName> {
                let s = s.into();
                let check: fn(&str) -> Result<(), InvalidName> = $validate;
                check(&s)?;
                Ok($name(s))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidName;
            fn from_str(s: &str) -> Result<$name, InvalidName> {
                $name::new(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = String::deserialize(d)?;
                $name::new(s).map_err(serde::de::Error::custom)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

name_type!(
    /// The name of a namespace: a user or an organization (Quay's account
    /// name rule).
    Namespace,
    |s| crate::identity::validate_account_name(s).map_err(|e| InvalidName(e.to_string()))
);

name_type!(
    /// A full repository name, `namespace/name[/more]`, as the
    /// distribution spec allows it.
    RepositoryName,
    |s| validate_repository(s).map_err(|e| InvalidName(e.to_string()))
);

name_type!(
    /// A tag name.
    TagName,
    |s| validate_tag(s).map_err(|e| InvalidName(e.to_string()))
);

impl RepositoryName {
    /// `namespace/name`.
    pub fn join(namespace: &str, name: &str) -> Result<RepositoryName, InvalidName> {
        RepositoryName::new(format!("{namespace}/{name}"))
    }

    /// The namespace: the first component, `library` for a one-component
    /// name.
    pub fn namespace(&self) -> &str {
        crate::identity::namespace_of(&self.0)
    }

    /// The name within the namespace.
    pub fn short(&self) -> &str {
        let ns = self.namespace();
        self.0
            .strip_prefix(ns)
            .and_then(|n| n.strip_prefix('/'))
            .unwrap_or(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_validate_once() {
        assert!(Namespace::new("acme").is_ok());
        assert!(Namespace::new("Acme").is_err());
        let r = RepositoryName::join("acme", "app/web").unwrap();
        assert_eq!((r.namespace(), r.short()), ("acme", "app/web"));
        assert!(RepositoryName::new("acme/../x").is_err());
        assert!(TagName::new("v1.0").is_ok());
        assert!(TagName::new(".hidden").is_err());
        assert_eq!(AccountKind::parse("org"), Some(AccountKind::Organization));
        assert_eq!(AccountKind::Organization.as_str(), "org");
        assert_eq!(Visibility::parse("public"), Some(Visibility::Public));
    }
}
