//! RFC 822 style stanzas: `Field: value` lines, continuation lines starting
//! with a space or tab, stanzas separated by blank lines. dpkg's status
//! file and Python's core metadata share this shape.

/// One stanza's fields in file order.
#[derive(Debug, Default)]
pub(crate) struct Stanza {
    fields: Vec<(String, String)>,
}

impl Stanza {
    /// The first value of a field, matched case-insensitively.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// Split text into stanzas. With `first_only`, stop at the first blank line
/// (Python metadata: the body after it is the long description).
pub(crate) fn parse(text: &str, first_only: bool) -> Vec<Stanza> {
    let mut out = Vec::new();
    let mut current = Stanza::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.fields.is_empty() {
                out.push(std::mem::take(&mut current));
                if first_only {
                    return out;
                }
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, v)) = current.fields.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            current.fields.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    if !current.fields.is_empty() {
        out.push(current);
    }
    out
}
