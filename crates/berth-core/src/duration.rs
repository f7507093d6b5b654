//! Quay's duration strings (`30s`, `20h`, `2d`, `3w`): the configuration's
//! and the API's (auto-prune policies) one reading of them.

/// A Quay duration such as `30s`, `20h`, `2d`, `3w`, in seconds.
pub fn parse_quay_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("invalid duration {text:?}"))?;
    let unit_s = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("invalid duration {text:?}: use s, m, h, d or w")),
    };
    n.checked_mul(unit_s)
        .ok_or_else(|| format!("duration {text:?} is too long"))
}
