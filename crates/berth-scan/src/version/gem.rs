//! RubyGems version ordering, following `Gem::Version#<=>`: segments are
//! runs of digits or letters; a letter segment marks a pre-release and
//! sorts before any number; trailing zeros before the first letter segment
//! and at the end do not count (`1.0 == 1`, `1.0.a == 1.a`).

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Digits without leading zeros.
    Num(String),
    Str(String),
}

/// A parsed gem version: its canonical segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct GemVersion(Vec<Segment>);

fn is_zero(s: &Segment) -> bool {
    matches!(s, Segment::Num(n) if n.is_empty())
}

impl GemVersion {
    /// Parse as `Gem::Version.new` does (`-` means `.pre.`); `None` if it
    /// would raise `ArgumentError`.
    pub(super) fn parse(v: &str) -> Option<GemVersion> {
        let v = v.trim();
        if !valid(v) {
            return None;
        }
        let v = v.replace('-', ".pre.");
        let mut segments = Vec::new();
        let mut rest = v.as_str();
        while let Some(c) = rest.chars().next() {
            let run = |f: fn(&char) -> bool| rest.chars().take_while(f).count();
            if c.is_ascii_digit() {
                let n = run(char::is_ascii_digit);
                segments.push(Segment::Num(rest[..n].trim_start_matches('0').to_owned()));
                rest = &rest[n..];
            } else if c.is_ascii_alphabetic() {
                let n = run(char::is_ascii_alphabetic);
                segments.push(Segment::Str(rest[..n].to_owned()));
                rest = &rest[n..];
            } else {
                rest = &rest[1..];
            }
        }
        // Canonical form: drop zeros trailing the numeric part and the end.
        let split = segments
            .iter()
            .position(|s| matches!(s, Segment::Str(_)))
            .unwrap_or(segments.len());
        let mut string_part = segments.split_off(split);
        while segments.last().is_some_and(is_zero) {
            segments.pop();
        }
        while string_part.last().is_some_and(is_zero) {
            string_part.pop();
        }
        segments.extend(string_part);
        Some(GemVersion(segments))
    }
}

/// `Gem::Version::ANCHORED_VERSION_PATTERN`:
/// `[0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?`.
fn valid(v: &str) -> bool {
    let (main, pre) = match v.split_once('-') {
        Some((m, p)) => (m, Some(p)),
        None => (v, None),
    };
    let mut parts = main.split('.');
    let first_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let rest_ok = parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    let pre_ok = pre.is_none_or(|p| {
        p.split('.')
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    });
    first_ok && rest_ok && pre_ok
}

impl Ord for GemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let zero = Segment::Num(String::new());
        let n = self.0.len().max(other.0.len());
        for i in 0..n {
            let l = self.0.get(i).unwrap_or(&zero);
            let r = other.0.get(i).unwrap_or(&zero);
            let o = match (l, r) {
                (Segment::Num(a), Segment::Num(b)) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
                (Segment::Str(_), Segment::Num(_)) => Ordering::Less,
                (Segment::Num(_), Segment::Str(_)) => Ordering::Greater,
                (Segment::Str(a), Segment::Str(b)) => a.cmp(b),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for GemVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
