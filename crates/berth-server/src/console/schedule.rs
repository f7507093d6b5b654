//! What the mirror forms share: a sync schedule (an interval typed in a
//! unit of time, a first sync as a `datetime-local` in UTC), whole numbers,
//! comma-separated patterns and write-only upstream credentials.

use serde::Deserialize;

use super::error::ConsoleError;

/// Units an interval may be typed in, with their seconds, largest first.
pub(crate) const UNITS: [(&str, u64); 4] =
    [("days", 86_400), ("hours", 3600), ("minutes", 60), ("seconds", 1)];

/// The names of [`UNITS`], for a `<select>`.
pub(crate) fn unit_names() -> Vec<&'static str> {
    UNITS.iter().map(|(u, _)| *u).collect()
}

/// An interval in seconds as the largest unit that divides it.
pub(crate) fn interval_in_units(seconds: i64) -> (u64, &'static str) {
    let seconds = u64::try_from(seconds).unwrap_or_default();
    UNITS
        .iter()
        .find(|(_, n)| seconds > 0 && seconds % n == 0)
        .map(|(unit, n)| (seconds / n, *unit))
        .unwrap_or((seconds, "seconds"))
}

/// `ms` as a `datetime-local` value (UTC).
pub(crate) fn local_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// Now as a `datetime-local` value (UTC): a new schedule's default start.
pub(crate) fn now_local() -> String {
    local_time(chrono::Utc::now().timestamp_millis())
}

/// A whole number typed into field `what`.
pub(crate) fn whole(text: &str, what: &str) -> Result<u64, ConsoleError> {
    text.trim()
        .parse()
        .map_err(|_| ConsoleError::invalid(format!("{what} must be a whole number, not {:?}", text.trim())))
}

/// `amount` of `unit` in seconds.
pub(crate) fn interval(amount: &str, unit: &str) -> Result<u64, ConsoleError> {
    let seconds = UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, n)| *n)
        .ok_or_else(|| ConsoleError::invalid(format!("{unit:?} is not a unit of time")))?;
    whole(amount, "The sync interval")?
        .checked_mul(seconds)
        .ok_or_else(|| ConsoleError::invalid("the sync interval is too long"))
}

/// A typed `datetime-local` (UTC) in ms; empty is `None`, so a saved
/// schedule stays (a mirror synced only when asked has no next start).
pub(crate) fn start(typed: &str) -> Result<Option<i64>, ConsoleError> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    chrono::NaiveDateTime::parse_from_str(typed, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(typed, "%Y-%m-%dT%H:%M:%S"))
        .map(|t| Some(t.and_utc().timestamp_millis()))
        .map_err(|_| ConsoleError::invalid(format!("the first sync {typed:?} is not a date and time")))
}

/// Comma-separated patterns, trimmed, empty ones dropped.
pub(crate) fn patterns(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A credential pair to store: cleared when asked; otherwise a field
/// changes only when typed, so a saved form keeps the stored ones.
pub(crate) type CredentialChange = (Option<Option<String>>, Option<Option<String>>);

/// The change of (user name, password) a form asks for.
pub(crate) fn credentials(username: &str, password: &str, clear: bool) -> CredentialChange {
    if clear {
        return (Some(None), Some(None));
    }
    let typed = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty()).map(Some);
    (typed(username), typed(password))
}

/// The fields every mirror form has (flattened into each form):
/// the robot, the schedule, the timeout, the switches and the
/// credentials. Checkboxes are present only when ticked.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SyncForm {
    #[serde(default)]
    robot: String,
    #[serde(default)]
    interval: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    timeout: String,
    #[serde(default)]
    verify_tls: Option<String>,
    #[serde(default)]
    is_enabled: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    clear_credentials: Option<String>,
}

/// What a [`SyncForm`] sets.
pub(crate) struct SyncSettings {
    pub robot: String,
    pub is_enabled: bool,
    pub interval_s: u64,
    /// `None`: the schedule stays.
    pub start_ms: Option<i64>,
    pub timeout_s: u64,
    pub verify_tls: bool,
    pub credentials: CredentialChange,
}

impl SyncForm {
    /// The settings typed, or why they cannot be read.
    pub(crate) fn read(&self) -> Result<SyncSettings, ConsoleError> {
        Ok(SyncSettings {
            robot: self.robot.trim().to_owned(),
            is_enabled: self.is_enabled.is_some(),
            interval_s: interval(&self.interval, &self.unit)?,
            start_ms: start(&self.start)?,
            timeout_s: whole(&self.timeout, "The timeout")?,
            verify_tls: self.verify_tls.is_some(),
            credentials: credentials(&self.username, &self.password, self.clear_credentials.is_some()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_show_in_their_largest_unit() {
        assert_eq!(interval_in_units(86_400), (1, "days"));
        assert_eq!(interval_in_units(7_200), (2, "hours"));
        assert_eq!(interval_in_units(90), (90, "seconds"));
        assert_eq!(interval_in_units(300), (5, "minutes"));
        assert_eq!(interval_in_units(0), (0, "seconds"));
        assert_eq!(interval("2", "hours").unwrap(), 7200);
        assert!(interval("2", "weeks").is_err());
        assert!(interval("x", "hours").is_err());
    }

    #[test]
    fn the_shared_fields_read_from_a_flattened_form() {
        #[derive(Deserialize)]
        struct Form {
            action: String,
            #[serde(flatten)]
            sync: SyncForm,
        }
        let form: Form = serde_urlencoded::from_str(
            "csrf_token=t&action=save&robot=o%2Br&interval=2&unit=hours&start=&timeout=300&verify_tls=on&username=u",
        )
        .unwrap();
        assert_eq!(form.action, "save");
        let s = form.sync.read().unwrap();
        assert_eq!((s.robot.as_str(), s.interval_s, s.timeout_s), ("o+r", 7200, 300));
        assert!(s.verify_tls && !s.is_enabled);
        assert_eq!(s.start_ms, None);
        assert_eq!(s.credentials, (Some(Some("u".into())), None));
    }

    #[test]
    fn forms_keep_what_is_not_typed() {
        assert_eq!(start("").unwrap(), None);
        assert_eq!(start("1970-01-01T00:01").unwrap(), Some(60_000));
        assert!(start("yesterday").is_err());
        assert_eq!(patterns(" a*, ,b "), ["a*", "b"]);
        assert_eq!(credentials("", "", false), (None, None));
        assert_eq!(credentials("u", "", false), (Some(Some("u".into())), None));
        assert_eq!(credentials("u", "p", true), (Some(None), Some(None)));
    }
}
