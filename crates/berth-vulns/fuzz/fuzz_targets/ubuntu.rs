//! The Ubuntu archive and record parsers never panic, and every advisory
//! they give can be evaluated against any version in dpkg order.
#![no_main]

use berth_scan::version::Scheme;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = berth_vulns::feeds::ubuntu::parse_archive(data);
    if let Ok(advisories) = berth_vulns::feeds::ubuntu::parse_record("r.json", data) {
        for a in advisories {
            let _ = a.affected.affects(Scheme::Dpkg, "2.35-0ubuntu3.1");
            let _ = a.affected.affects(Scheme::Dpkg, "1:4.1.48-4+deb11u1build0.22.04.1");
        }
    }
});
