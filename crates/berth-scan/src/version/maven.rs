//! Maven version ordering, following Maven's `ComparableVersion`: items
//! split on `.`, `-` and digit/letter transitions; `-` (and a transition)
//! opens a sub-list; known qualifiers order
//! `alpha < beta < milestone < rc < snapshot < "" (release) < sp`, unknown
//! qualifiers after those, alphabetically.

use std::cmp::Ordering;

const QUALIFIERS: &[&str] = &["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const RELEASE_INDEX: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// Digits without leading zeros (arbitrary length).
    Int(String),
    /// A qualifier, already aliased (`ga` → ``, `cr` → `rc`, `a1` → `alpha`).
    Str(String),
    List(Vec<Item>),
}

/// The sortable form of a qualifier: its index for known ones, else
/// `"<count>-<name>"` so unknown ones sort after all known ones.
fn comparable_qualifier(q: &str) -> String {
    match QUALIFIERS.iter().position(|k| *k == q) {
        Some(i) => i.to_string(),
        None => format!("{}-{q}", QUALIFIERS.len()),
    }
}

fn cmp_int(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl Item {
    fn string(value: &str, followed_by_digit: bool) -> Item {
        let value = match (followed_by_digit, value) {
            (true, "a") => "alpha",
            (true, "b") => "beta",
            (true, "m") => "milestone",
            (_, "ga" | "final" | "release") => "",
            (_, "cr") => "rc",
            (_, v) => v,
        };
        Item::Str(value.to_owned())
    }

    fn parse(buf: &str, is_digit: bool) -> Item {
        if is_digit {
            let trimmed = buf.trim_start_matches('0');
            Item::Int(trimmed.to_owned())
        } else {
            Item::string(buf, false)
        }
    }

    fn is_null(&self) -> bool {
        match self {
            Item::Int(v) => v.is_empty(),
            Item::Str(v) => comparable_qualifier(v) == RELEASE_INDEX.to_string(),
            Item::List(l) => l.is_empty(),
        }
    }

    /// Compare with another item, or with "nothing" when `other` is `None`.
    fn cmp_opt(&self, other: Option<&Item>) -> Ordering {
        match (self, other) {
            (Item::Int(v), None) => {
                if v.is_empty() {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                }
            }
            (Item::Int(a), Some(Item::Int(b))) => cmp_int(a, b),
            (Item::Int(_), Some(_)) => Ordering::Greater,
            (Item::Str(v), None) => comparable_qualifier(v).cmp(&RELEASE_INDEX.to_string()),
            (Item::Str(_), Some(Item::Int(_))) => Ordering::Less,
            (Item::Str(a), Some(Item::Str(b))) => comparable_qualifier(a).cmp(&comparable_qualifier(b)),
            (Item::Str(_), Some(Item::List(_))) => Ordering::Less,
            // The whole list against nothing, not just its head (MNG-6964).
            (Item::List(l), None) => l
                .iter()
                .map(|i| i.cmp_opt(None))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal),
            (Item::List(_), Some(Item::Int(_))) => Ordering::Less,
            (Item::List(_), Some(Item::Str(_))) => Ordering::Greater,
            (Item::List(a), Some(Item::List(b))) => {
                let mut ia = a.iter();
                let mut ib = b.iter();
                loop {
                    let (l, r) = (ia.next(), ib.next());
                    let result = match (l, r) {
                        (None, None) => return Ordering::Equal,
                        (None, Some(r)) => r.cmp_opt(None).reverse(),
                        (Some(l), r) => l.cmp_opt(r),
                    };
                    if result != Ordering::Equal {
                        return result;
                    }
                }
            }
        }
    }
}

/// Drop trailing null items (zeros, release qualifiers, empty lists),
/// looking past non-null sub-lists, as Maven's `ListItem.normalize` does.
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if list[i].is_null() {
            list.remove(i);
        } else if !matches!(list[i], Item::List(_)) {
            break;
        }
    }
}

fn parse(version: &str) -> Item {
    let version = version.to_lowercase();
    // A stack of open lists; each new list is attached to its parent when
    // closed, which keeps ownership simple.
    let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
    let mut is_digit = false;
    let mut start = 0;
    let bytes = version.as_bytes();
    let push = |stack: &mut Vec<Vec<Item>>, item: Item| {
        if let Some(top) = stack.last_mut() {
            top.push(item);
        }
    };
    for (i, &c) in bytes.iter().enumerate() {
        if c == b'.' || c == b'-' {
            let item = if i == start {
                Item::Int(String::new())
            } else {
                Item::parse(&version[start..i], is_digit)
            };
            push(&mut stack, item);
            start = i + 1;
            if c == b'-' {
                stack.push(Vec::new());
            }
        } else if c.is_ascii_digit() {
            if !is_digit && i > start {
                push(&mut stack, Item::string(&version[start..i], true));
                start = i;
                stack.push(Vec::new());
            }
            is_digit = true;
        } else {
            if is_digit && i > start {
                push(&mut stack, Item::parse(&version[start..i], true));
                start = i;
                stack.push(Vec::new());
            }
            is_digit = false;
        }
    }
    if version.len() > start {
        push(&mut stack, Item::parse(&version[start..], is_digit));
    }
    // Close the lists innermost first, normalizing each.
    while stack.len() > 1 {
        let mut list = stack.pop().unwrap_or_default();
        normalize(&mut list);
        push(&mut stack, Item::List(list));
    }
    let mut root = stack.pop().unwrap_or_default();
    normalize(&mut root);
    Item::List(root)
}

/// Compare two Maven versions (every string is a valid Maven version).
pub(super) fn compare(a: &str, b: &str) -> Ordering {
    parse(a).cmp_opt(Some(&parse(b)))
}
