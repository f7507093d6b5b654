//! Debian version ordering, as dpkg's `parseversion` and `verrevcmp`:
//! `[epoch:]upstream[-revision]`, `~` sorts before everything, even the
//! end of the string, letters before other symbols.

use std::cmp::Ordering;

/// A parsed Debian version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DebVersion<'a> {
    epoch: u32,
    upstream: &'a str,
    revision: &'a str,
}

impl<'a> DebVersion<'a> {
    /// Parse like dpkg: what dpkg refuses is an error; what it only warns
    /// about (an upstream not starting with a digit, odd characters) is
    /// accepted and compared, as `dpkg --compare-versions` does.
    pub(super) fn parse(s: &'a str) -> Option<DebVersion<'a>> {
        let s = s.trim_matches(|c| c == ' ' || c == '\t');
        if s.is_empty() || s.contains([' ', '\t']) {
            return None;
        }
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) => {
                let digits = e.strip_prefix('+').unwrap_or(e);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let epoch: u32 = digits.parse().ok().filter(|e| *e <= i32::MAX as u32)?;
                if rest.is_empty() {
                    return None;
                }
                (epoch, rest)
            }
            None => (0, s),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((_, "")) => return None,
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return None;
        }
        Some(DebVersion {
            epoch,
            upstream,
            revision,
        })
    }
}

impl Ord for DebVersion<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream, other.upstream))
            .then_with(|| verrevcmp(self.revision, other.revision))
    }
}

impl PartialOrd for DebVersion<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Sort weight of a non-digit character; 0 is the end of the string.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        // Non-digit prefix, character by character.
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // Numeric part, without leading zeros, of any length.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}
