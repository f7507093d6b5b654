//! Our dpkg version ordering against `dpkg --compare-versions` itself, on
//! generated pairs (random ones and near-misses that differ by one edit).
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::process::Command;

use berth_scan::version::{Scheme, compare};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick(&mut self, chars: &[u8]) -> char {
        chars[self.below(chars.len())] as char
    }
}

const PART: &[u8] = b"0123456789000111abcxyzABZ..++~~";

fn part(rng: &mut Rng, extra: &[u8]) -> String {
    let mut s = String::new();
    s.push(rng.pick(b"0123456789"));
    let mut alphabet = PART.to_vec();
    alphabet.extend_from_slice(extra);
    for _ in 0..rng.below(7) {
        s.push(rng.pick(&alphabet));
    }
    s
}

fn version(rng: &mut Rng) -> String {
    let epoch = match rng.below(4) {
        0 => format!("{}:", rng.below(3)),
        _ => String::new(),
    };
    let with_revision = rng.below(2) == 0;
    let mut extra = Vec::new();
    if !epoch.is_empty() {
        extra.push(b':');
    }
    if with_revision {
        extra.push(b'-');
    }
    let upstream = part(rng, &extra);
    let revision = if with_revision {
        format!("-{}", part(rng, &[]))
    } else {
        String::new()
    };
    format!("{epoch}{upstream}{revision}")
}

fn mutate(rng: &mut Rng, v: &str) -> String {
    let mut s: Vec<char> = v.chars().collect();
    let at = rng.below(s.len() + 1);
    match rng.below(3) {
        0 => s.insert(at, rng.pick(b"0~a.+9")),
        1 if at < s.len() && s[at].is_ascii_alphanumeric() => s[at] = rng.pick(b"0189az"),
        _ => s.push(rng.pick(b"~0a")),
    }
    s.into_iter().collect()
}

/// dpkg's verdict, or `None` when dpkg refuses a version outright.
fn dpkg_order(a: &str, b: &str) -> Option<Ordering> {
    let holds = |op: &str| -> Option<bool> {
        let out = Command::new("dpkg")
            .args(["--compare-versions", a, op, b])
            .output()
            .expect("dpkg must be installed (scripts/test.sh installs it)");
        match out.status.code() {
            Some(0) => Some(true),
            Some(1) => Some(false),
            _ => None,
        }
    };
    Some(if holds("lt")? {
        Ordering::Less
    } else if holds("eq")? {
        Ordering::Equal
    } else {
        Ordering::Greater
    })
}

#[test]
fn agrees_with_dpkg_compare_versions() {
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let mut pairs = Vec::new();
    for _ in 0..300 {
        let a = version(&mut rng);
        let b = if rng.below(2) == 0 {
            version(&mut rng)
        } else {
            mutate(&mut rng, &a)
        };
        pairs.push((a, b));
    }
    // A mutation can make a string dpkg refuses (`1.0-`): then both must.
    let mut valid = 0;
    for (a, b) in &pairs {
        let ours = compare(Scheme::Dpkg, a, b).ok();
        assert_eq!(ours, dpkg_order(a, b), "{a:?} vs {b:?}");
        valid += usize::from(ours.is_some());
    }
    assert!(valid > 250, "only {valid} valid pairs");
}
