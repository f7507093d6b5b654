//! Namespace storage quotas, as Quay has them: a namespace's usage is the
//! size of the distinct blobs its manifests reference (each blob counted
//! once per namespace, manifests themselves not counted), computed from
//! what is stored whenever it is needed, so it is right after any delete or
//! garbage collection without bookkeeping. A quota holds a byte limit and
//! `Warning` / `Reject` thresholds in percent of it; pushes are checked at
//! blob upload start and at manifest push.

use berth_store::StoreError;
use berth_store::metadata::{QuotaLimitRow, QuotaRow};

use super::{Registry, RegistryError};
use crate::identity::{IdentityError, namespace_of};

mod manage;

pub use manage::{QuotaOwner, QuotaStatus};

/// Quota switches from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSettings {
    /// Quotas can be configured and are enforced
    /// (`FEATURE_QUOTA_MANAGEMENT`).
    pub enabled: bool,
    /// Pushes are checked against them (`FEATURE_VERIFY_QUOTA`).
    pub enforce: bool,
    /// Reject limit of namespaces without a quota of their own; 0 means
    /// none (`DEFAULT_SYSTEM_REJECT_QUOTA_BYTES`).
    pub default_reject_bytes: u64,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        QuotaSettings {
            enabled: true,
            enforce: true,
            default_reject_bytes: 0,
        }
    }
}

/// What crossing a threshold does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// The push goes through; the crossing is logged.
    Warning,
    /// The push is refused.
    Reject,
}

impl LimitKind {
    /// Parse Quay's names `Warning` / `Reject`.
    pub fn parse(s: &str) -> Option<LimitKind> {
        match s {
            "Warning" => Some(LimitKind::Warning),
            "Reject" => Some(LimitKind::Reject),
            _ => None,
        }
    }

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Warning => "Warning",
            LimitKind::Reject => "Reject",
        }
    }
}

/// One threshold of a quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaLimit {
    /// Id.
    pub id: i64,
    /// What crossing it does.
    pub kind: LimitKind,
    /// Percent of the quota's bytes (1 to 100).
    pub threshold_percent: i32,
}

/// A namespace's quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// Id.
    pub id: i64,
    /// Allowed bytes.
    pub limit_bytes: i64,
    /// Thresholds, lowest first.
    pub limits: Vec<QuotaLimit>,
}

impl Quota {
    /// The domain quota of a quota row and its limit rows.
    fn from_rows(quota: QuotaRow, limits: Vec<QuotaLimitRow>) -> Quota {
        Quota {
            id: quota.id,
            limit_bytes: quota.limit_bytes,
            limits: limits
                .into_iter()
                .filter_map(|l| {
                    Some(QuotaLimit {
                        id: l.id,
                        kind: LimitKind::parse(&l.kind)?,
                        threshold_percent: l.threshold_percent,
                    })
                })
                .collect(),
        }
    }
}

/// A push that went through although its namespace is over a warning
/// threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaWarning {
    /// The namespace.
    pub namespace: String,
    /// Its usage with the push, in bytes.
    pub usage: u64,
    /// Its quota, in bytes.
    pub limit_bytes: u64,
    /// The highest warning threshold crossed.
    pub threshold_percent: i32,
}

/// A management request that cannot be carried out.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// No such namespace, quota or limit.
    #[error("{0}")]
    NotFound(String),
    /// Bad input or a duplicate.
    #[error("{0}")]
    Invalid(String),
    /// Refused by the policy, or an identity failure.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outcome of checking a usage against limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Below every threshold.
    Within,
    /// Over this warning threshold (the highest crossed), under every
    /// reject threshold.
    Warning(i32),
    /// At or over a reject threshold of this many bytes (the lowest
    /// crossed).
    Reject(u64),
}

/// Judge `usage` against a namespace's quota (or, without one, the
/// default reject limit). Any crossed reject threshold refuses; else the
/// highest crossed warning threshold warns. A quota without thresholds only
/// reports usage.
fn evaluate(usage: u64, quota: Option<&Quota>, default_reject: u64) -> Verdict {
    let Some(quota) = quota else {
        return if default_reject > 0 && usage >= default_reject {
            Verdict::Reject(default_reject)
        } else {
            Verdict::Within
        };
    };
    let limit = u128::from(u64::try_from(quota.limit_bytes).unwrap_or(0));
    let mut verdict = Verdict::Within;
    for l in &quota.limits {
        let percent = u128::from(u32::try_from(l.threshold_percent).unwrap_or(0));
        let allowed = u64::try_from(limit * percent / 100).unwrap_or(u64::MAX);
        if usage < allowed {
            continue;
        }
        verdict = match (verdict, l.kind) {
            (Verdict::Reject(r), LimitKind::Reject) => Verdict::Reject(r.min(allowed)),
            (_, LimitKind::Reject) => Verdict::Reject(allowed),
            (Verdict::Reject(r), LimitKind::Warning) => Verdict::Reject(r),
            (Verdict::Warning(p), LimitKind::Warning) => Verdict::Warning(p.max(l.threshold_percent)),
            (Verdict::Within, LimitKind::Warning) => Verdict::Warning(l.threshold_percent),
        };
    }
    verdict
}

/// Units of a size string (Quay's pattern: `K`/`KB` are powers of 1000,
/// `Ki`/`KiB` powers of 1024).
const UNITS: [&str; 8] = ["K", "M", "G", "T", "P", "E", "Z", "Y"];

/// Parse a size such as `10 GiB`, `500MB`, `2T` or `1024` into bytes.
pub fn parse_size(text: &str) -> Result<i64, String> {
    let invalid = || "Invalid limit format, use a number followed by a unit (e.g. 1GiB)".to_owned();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let unit = unit.strip_prefix(' ').unwrap_or(unit);
    if digits.is_empty() {
        return Err(invalid());
    }
    let factor: u128 = if unit.is_empty() || unit == "B" {
        1
    } else {
        let (prefix, binary) = match unit.strip_suffix('B').unwrap_or(unit) {
            p if p.ends_with('i') => (&p[..p.len() - 1], true),
            p => (p, false),
        };
        let power = UNITS.iter().position(|u| *u == prefix).ok_or_else(invalid)? as u32 + 1;
        if binary {
            1024u128.pow(power)
        } else {
            1000u128.pow(power)
        }
    };
    let too_large = || format!("limit {text:?} is too large");
    let n: u128 = digits.parse().map_err(|_| too_large())?;
    let bytes = n.checked_mul(factor).ok_or_else(too_large)?;
    i64::try_from(bytes).map_err(|_| too_large())
}

/// A byte count in the largest binary unit that keeps it at least 1, as
/// Quay shows quotas (`10.0 GiB`).
pub fn format_size(bytes: i64) -> String {
    const NAMES: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < NAMES.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", NAMES[unit])
}

impl Registry {
    /// Bytes namespace `ns` uses now.
    pub async fn namespace_usage(&self, ns: &str) -> Result<u64, RegistryError> {
        Ok(u64::try_from(self.db.namespace_usage(ns).await?).unwrap_or(0))
    }

    /// The lowest reject limit applying to namespace `ns` in bytes (its
    /// quota's, else the default), if quotas are enforced and one applies.
    pub(crate) async fn reject_limit(&self, ns: &str) -> Result<Option<u64>, RegistryError> {
        let settings = self.config.quota;
        if !settings.enabled || !settings.enforce {
            return Ok(None);
        }
        let Some(quota) = self
            .db
            .namespace_quota(ns)
            .await?
            .map(|(q, l)| Quota::from_rows(q, l))
        else {
            return Ok((settings.default_reject_bytes > 0).then_some(settings.default_reject_bytes));
        };
        let limit = u128::from(u64::try_from(quota.limit_bytes).unwrap_or(0));
        Ok(quota
            .limits
            .iter()
            .filter(|l| l.kind == LimitKind::Reject)
            .map(|l| {
                let percent = u128::from(u32::try_from(l.threshold_percent).unwrap_or(0));
                u64::try_from(limit * percent / 100).unwrap_or(u64::MAX)
            })
            .min())
    }

    /// Refuse a push into `repo` whose namespace is at or over a reject
    /// threshold, counting the blobs `new_blobs` that the namespace does
    /// not reference yet (those of a manifest being pushed). Returns the
    /// warning threshold crossed, if any.
    pub(crate) async fn check_quota(
        &self,
        repo: &str,
        new_blobs: &[String],
    ) -> Result<Option<QuotaWarning>, RegistryError> {
        let settings = self.config.quota;
        if !settings.enabled || !settings.enforce {
            return Ok(None);
        }
        let ns = namespace_of(repo);
        let quota = self
            .db
            .namespace_quota(ns)
            .await?
            .map(|(q, l)| Quota::from_rows(q, l));
        let nothing_to_enforce = match &quota {
            Some(q) => q.limits.is_empty(),
            None => settings.default_reject_bytes == 0,
        };
        if nothing_to_enforce {
            return Ok(None);
        }
        let mut usage = self.namespace_usage(ns).await?;
        if !new_blobs.is_empty() {
            let extra = self.db.namespace_new_blob_bytes(ns, new_blobs).await?;
            usage = usage.saturating_add(u64::try_from(extra).unwrap_or(0));
        }
        match evaluate(usage, quota.as_ref(), settings.default_reject_bytes) {
            Verdict::Within => Ok(None),
            Verdict::Warning(threshold_percent) => {
                let limit_bytes = quota.map_or(0, |q| u64::try_from(q.limit_bytes).unwrap_or(0));
                tracing::debug!(
                    namespace = ns,
                    usage,
                    limit_bytes,
                    threshold_percent,
                    "quota_warning"
                );
                Ok(Some(QuotaWarning {
                    namespace: ns.to_owned(),
                    usage,
                    limit_bytes,
                    threshold_percent,
                }))
            }
            Verdict::Reject(limit) => {
                tracing::debug!(namespace = ns, usage, limit, "quota_error: push refused");
                Err(RegistryError::QuotaExceeded {
                    namespace: ns.to_owned(),
                    usage,
                    limit,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(limit_bytes: i64, limits: &[(LimitKind, i32)]) -> Quota {
        Quota {
            id: 1,
            limit_bytes,
            limits: limits
                .iter()
                .enumerate()
                .map(|(i, (kind, threshold_percent))| QuotaLimit {
                    id: i as i64,
                    kind: *kind,
                    threshold_percent: *threshold_percent,
                })
                .collect(),
        }
    }

    #[test]
    fn thresholds_decide_as_quay_does() {
        use LimitKind::{Reject, Warning};
        let q = quota(1000, &[(Warning, 80), (Reject, 100)]);
        assert_eq!(evaluate(0, Some(&q), 0), Verdict::Within);
        assert_eq!(evaluate(799, Some(&q), 0), Verdict::Within);
        assert_eq!(evaluate(800, Some(&q), 0), Verdict::Warning(80));
        assert_eq!(evaluate(999, Some(&q), 0), Verdict::Warning(80));
        assert_eq!(evaluate(1000, Some(&q), 0), Verdict::Reject(1000));
        // The highest warning crossed; the lowest reject crossed.
        let q = quota(1000, &[(Warning, 50), (Warning, 70), (Reject, 90), (Reject, 95)]);
        assert_eq!(evaluate(750, Some(&q), 0), Verdict::Warning(70));
        assert_eq!(evaluate(960, Some(&q), 0), Verdict::Reject(900));
        // A reject threshold below a warning one still refuses.
        let q = quota(1000, &[(Reject, 50), (Warning, 90)]);
        assert_eq!(evaluate(950, Some(&q), 0), Verdict::Reject(500));
        // A quota without thresholds enforces nothing, not even the default.
        assert_eq!(evaluate(u64::MAX, Some(&quota(1, &[])), 10), Verdict::Within);
        // Without a quota, the system default rejects.
        assert_eq!(evaluate(99, None, 100), Verdict::Within);
        assert_eq!(evaluate(100, None, 100), Verdict::Reject(100));
        assert_eq!(evaluate(u64::MAX, None, 0), Verdict::Within);
        // Large quotas do not overflow.
        let q = quota(i64::MAX, &[(Reject, 100)]);
        assert_eq!(evaluate(u64::MAX, Some(&q), 0), Verdict::Reject(i64::MAX as u64));
    }

    #[test]
    fn sizes_parse_like_quay() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("7 B"), Ok(7));
        assert_eq!(parse_size("10 GiB"), Ok(10 << 30));
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("3Mi"), Ok(3 << 20));
        assert_eq!(parse_size("2 MB"), Ok(2_000_000));
        assert_eq!(parse_size("5K"), Ok(5_000));
        assert_eq!(parse_size("1 T"), Ok(1_000_000_000_000));
        assert_eq!(parse_size("1 TiB"), Ok(1 << 40));
        assert_eq!(parse_size("7 EiB"), Ok(7 << 60));
        for bad in [
            "", "GiB", "1.5 GiB", "-1 GiB", "10  GiB", " 10 GiB", "10 gib", "10 XB", "ten",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        for huge in [
            "8 EiB",
            "1 ZiB",
            "1 Y",
            "99999999999999999999999999999999999999999999 B",
        ] {
            assert!(parse_size(huge).unwrap_err().contains("too large"), "{huge:?}");
        }
    }

    #[test]
    fn sizes_format_like_quay() {
        assert_eq!(format_size(500), "500.0 B");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(10 << 30), "10.0 GiB");
        assert_eq!(format_size(i64::MAX), "8.0 EiB");
    }
}
