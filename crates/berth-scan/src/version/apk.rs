//! Alpine version ordering, following apk-tools' `version.c`:
//! `digit{.digit}...{letter}{_suffix{number}}...{~hash}{-r#}`.

use std::cmp::Ordering;

/// Token kinds in the order apk-tools declares them; the order matters
/// when one version ends before the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNumber,
    CommitHash,
    Revision,
    End,
    Invalid,
}

/// Suffixes in order; `None` (no suffix) sits between pre- and post-release.
const SUFFIXES: &[&str] = &["alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"];
const SUFFIX_NONE: usize = 4;

struct State<'a> {
    token: Token,
    value: &'a str,
    number: u64,
    suffix: usize,
}

struct Tokens<'a> {
    rest: &'a str,
    state: State<'a>,
}

impl<'a> Tokens<'a> {
    fn new(v: &'a str) -> Self {
        let mut t = Tokens {
            rest: v,
            state: State {
                token: Token::InitialDigit,
                value: "",
                number: 0,
                suffix: 0,
            },
        };
        t.digits();
        t
    }

    fn digits(&mut self) {
        let end = self
            .rest
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(self.rest.len());
        let (digits, rest) = self.rest.split_at(end);
        self.state.value = digits;
        self.state.number = digits.bytes().fold(0u64, |n, d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        self.rest = rest;
        if digits.is_empty() {
            self.state.token = Token::Invalid;
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let end = self.rest.bytes().position(|b| !f(b)).unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }

    fn next(&mut self) {
        let Some(&first) = self.rest.as_bytes().first() else {
            self.state.token = Token::End;
            return;
        };
        let current = self.state.token;
        self.state.token = Token::Invalid;
        match first {
            b'a'..=b'z' if current <= Token::Digit => {
                self.state.value = &self.rest[..1];
                self.rest = &self.rest[1..];
                self.state.token = Token::Letter;
            }
            b'.' | b'0'..=b'9' => {
                if first == b'.' {
                    if current > Token::Digit {
                        return;
                    }
                    self.rest = &self.rest[1..];
                }
                self.state.token = match current {
                    Token::InitialDigit | Token::Digit => Token::Digit,
                    Token::Suffix => Token::SuffixNumber,
                    _ => return,
                };
                self.digits();
            }
            b'_' if current <= Token::SuffixNumber => {
                self.rest = &self.rest[1..];
                let name = self.take_while(|b| b.is_ascii_lowercase());
                if let Some(i) = SUFFIXES.iter().position(|s| !s.is_empty() && *s == name) {
                    self.state.value = name;
                    self.state.suffix = i;
                    self.state.token = Token::Suffix;
                }
            }
            b'~' if current < Token::CommitHash => {
                self.rest = &self.rest[1..];
                let hash = self.take_while(|b| b.is_ascii_hexdigit());
                if !hash.is_empty() {
                    self.state.value = hash;
                    self.state.token = Token::CommitHash;
                }
            }
            b'-' if current < Token::Revision => {
                if let Some(rest) = self.rest.strip_prefix("-r") {
                    self.rest = rest;
                    self.state.token = Token::Revision;
                    self.digits();
                }
            }
            _ => {}
        }
    }
}

fn token_cmp(a: &State<'_>, b: &State<'_>) -> Ordering {
    match a.token {
        // A leading zero makes apk compare the digits as strings.
        Token::Digit if a.value.starts_with('0') || b.value.starts_with('0') => a.value.cmp(b.value),
        Token::Digit | Token::InitialDigit | Token::SuffixNumber | Token::Revision => a.number.cmp(&b.number),
        Token::Letter => a.value.cmp(b.value),
        Token::Suffix => a.suffix.cmp(&b.suffix),
        _ => a.value.cmp(b.value),
    }
}

/// Whether apk-tools accepts `v` as a version.
pub(super) fn valid(v: &str) -> bool {
    let mut t = Tokens::new(v);
    while t.state.token < Token::End {
        t.next();
    }
    t.state.token == Token::End
}

/// Compare two apk versions; `None` if either is invalid.
pub(super) fn compare(a: &str, b: &str) -> Option<Ordering> {
    if !valid(a) || !valid(b) {
        return None;
    }
    let (mut ta, mut tb) = (Tokens::new(a), Tokens::new(b));
    while ta.state.token == tb.state.token && ta.state.token < Token::End {
        let r = token_cmp(&ta.state, &tb.state);
        if r != Ordering::Equal {
            return Some(r);
        }
        ta.next();
        tb.next();
    }
    let (at, bt) = (ta.state.token, tb.state.token);
    if at == bt {
        return Some(Ordering::Equal);
    }
    // Equal so far: the longer version is newer, unless what follows is a
    // pre-release suffix.
    if at == Token::Suffix && ta.state.suffix < SUFFIX_NONE {
        return Some(Ordering::Less);
    }
    if bt == Token::Suffix && tb.state.suffix < SUFFIX_NONE {
        return Some(Ordering::Greater);
    }
    Some(bt.cmp(&at))
}
