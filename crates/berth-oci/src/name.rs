//! Repository names, tags and manifest references, validated to the
//! distribution spec's grammar.

use std::fmt;

use crate::digest::{Digest, DigestError};

/// Longest repository name accepted.
pub const MAX_NAME_LEN: usize = 255;

/// Why a name or reference was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    /// Repository name outside the spec grammar.
    #[error("invalid repository name: {0}")]
    Repository(&'static str),
    /// Tag outside `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    #[error("invalid tag: must match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    Tag,
    /// A reference that looked like a digest but was not a valid one.
    #[error("invalid digest reference: {0}")]
    Digest(#[from] DigestError),
}

/// Check a repository name against
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn validate_repository(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Repository("empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::Repository("longer than 255 characters"));
    }
    for component in name.split('/') {
        validate_component(component)?;
    }
    Ok(())
}

fn validate_component(c: &str) -> Result<(), NameError> {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() {
        return Err(NameError::Repository("empty path component"));
    }
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(NameError::Repository(
            "components must start and end with a lowercase letter or digit",
        ));
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err(NameError::Repository(
                "only lowercase letters, digits and the separators '.', '_', '__', '-' are allowed",
            ));
        }
    }
    Ok(())
}

/// Check a tag against `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), NameError> {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match bytes.split_first() {
        Some((first, rest))
            if word(*first)
                && rest.len() <= 127
                && rest.iter().all(|&b| word(b) || b == b'.' || b == b'-') =>
        {
            Ok(())
        }
        _ => Err(NameError::Tag),
    }
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A tag name.
    Tag(String),
    /// A content digest.
    Digest(Digest),
}

impl Reference {
    /// Parse a reference: anything containing ':' must be a valid digest.
    pub fn parse(s: &str) -> Result<Reference, NameError> {
        if s.contains(':') {
            Ok(Reference::Digest(s.parse()?))
        } else {
            validate_tag(s)?;
            Ok(Reference::Tag(s.to_owned()))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => f.write_str(t),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for ok in ["a", "library/ubuntu", "org/team/app", "a.b_c__d---e/f0", "0"] {
            assert_eq!(validate_repository(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "A", "a//b", "/a", "a/", "-a", "a-", "a___b", "a._b", "a..b", "a b", "ä",
        ] {
            assert!(validate_repository(bad).is_err(), "{bad}");
        }
        assert!(validate_repository(&"a".repeat(256)).is_err());
    }

    #[test]
    fn tags() {
        for ok in ["latest", "v1.0", "_x", "A-b.c_d", &"a".repeat(128)] {
            assert_eq!(validate_tag(ok), Ok(()), "{ok}");
        }
        for bad in ["", ".a", "-a", "a/b", "a:b", &"a".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn references() {
        assert_eq!(Reference::parse("latest"), Ok(Reference::Tag("latest".into())));
        assert!(matches!(Reference::parse("sha256:zz"), Err(NameError::Digest(_))));
    }
}
