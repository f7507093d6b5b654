//! Ruby: installed gems' `specifications/*.gemspec` (and the default gems
//! in `specifications/default/`), which RubyGems writes as Ruby source with
//! a `# stub:` header naming the gem and version.

use super::DetectError;
use crate::package::{Ecosystem, Package};

/// Whether `path` is an installed gem's specification.
pub(crate) fn is_gemspec_path(path: &str) -> bool {
    let (dir, name) = crate::path::split_last(path);
    name.ends_with(".gemspec")
        && (dir.ends_with("/specifications") || dir.ends_with("/specifications/default"))
}

/// The string literal after `<var>.<field> = ` in a gemspec line.
fn assigned(line: &str, field: &str) -> Option<String> {
    let (lhs, rhs) = line.split_once('=')?;
    let lhs = lhs.trim();
    let (_, attr) = lhs.split_once('.')?;
    if attr != field {
        return None;
    }
    let rhs = rhs.trim();
    let quote = rhs.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rhs[1..];
    let end = rest.find(quote)?;
    Some(rest[..end].to_owned())
}

/// Parse a gemspec; the `# stub:` line when present, else the `name` and
/// `version` assignments.
pub fn parse_gemspec(data: &[u8]) -> Result<Option<Package>, DetectError> {
    let text = String::from_utf8_lossy(data);
    let mut name = None;
    let mut version = None;
    for line in text.lines() {
        if let Some(stub) = line.strip_prefix("# stub: ") {
            let mut words = stub.split_whitespace();
            if let (Some(n), Some(v)) = (words.next(), words.next())
                && v.starts_with(|c: char| c.is_ascii_digit())
            {
                name = Some(n.to_owned());
                version = Some(v.to_owned());
                break;
            }
            continue;
        }
        name = name.or_else(|| assigned(line, "name"));
        version = version.or_else(|| assigned(line, "version"));
        if name.is_some() && version.is_some() {
            break;
        }
    }
    match (name, version) {
        (Some(name), Some(version)) => Ok(Some(Package {
            ecosystem: Ecosystem::Gem,
            name,
            version,
            arch: None,
            source: None,
        })),
        _ => Err(DetectError::Malformed("gemspec names no gem and version".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stub_lines_and_assignments() {
        let stub = "# -*- encoding: utf-8 -*-\n# stub: rack 2.2.22 ruby lib\n\nGem::Specification.new do |s|\n  s.name = \"other\".freeze\n";
        let p = parse_gemspec(stub.as_bytes()).unwrap().unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("rack", "2.2.22"));
        let plain = "Gem::Specification.new do |spec|\n  spec.name = 'rake'\n  spec.version = \"13.0.6\".freeze\nend\n";
        let p = parse_gemspec(plain.as_bytes()).unwrap().unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("rake", "13.0.6"));
        assert!(parse_gemspec(b"nothing here").is_err());
        assert!(is_gemspec_path(
            "usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec"
        ));
        assert!(is_gemspec_path(
            "usr/local/bundle/specifications/rake-13.0.6.gemspec"
        ));
        assert!(!is_gemspec_path("src/app/app.gemspec"));
    }
}
