//! What templates show, in the shapes they show it: the frame of every
//! page, times, sizes, digests, and Markdown made safe.

/// The frame every page shares: who is signed in and the form token.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chrome {
    /// The signed-in user, if any.
    pub user: Option<String>,
    /// The `csrf_token` of every form on the page.
    pub csrf: String,
    /// Whether the signed-in user is a superuser (the menu offers the
    /// superuser pages; the core still decides each request).
    pub superuser: bool,
}

/// A time (ms since the epoch) as `2026-12-06 09:30 UTC`.
pub(crate) fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// An optional time, or a dash.
pub(crate) fn when_or_dash(ms: Option<i64>) -> String {
    ms.map(when).unwrap_or_else(|| "—".to_owned())
}

/// A byte count in binary units, e.g. `1.5 MiB`.
pub(crate) fn size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes.max(0) as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A digest shortened for tables: algorithm and 12 hex digits.
pub(crate) fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", hex.get(..12).unwrap_or(hex)),
        None => digest.to_owned(),
    }
}

/// Markdown rendered to HTML, then cleaned of anything but harmless
/// markup (no scripts, handlers, styles or `javascript:` links).
pub(crate) fn markdown(text: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(text, pulldown_cmark::Options::ENABLE_TABLES);
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::clean(&html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_markup_and_drops_scripts() {
        let html = markdown(
            "# Title\n\n*hi* [ok](https://example.test) [bad](javascript:alert(1))\n\n<script>alert(1)</script><img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<em>hi</em>"), "{html}");
        assert!(html.contains("href=\"https://example.test\""), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
    }

    #[test]
    fn sizes_and_digests_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(short_digest("sha256:0123456789abcdef0123"), "sha256:0123456789ab");
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
    }
}
