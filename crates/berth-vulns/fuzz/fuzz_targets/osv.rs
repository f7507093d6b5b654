//! The OSV archive and record parsers never panic, and every advisory they
//! give can be evaluated against any version in every ordering.
#![no_main]

use berth_scan::version::Scheme;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = berth_vulns::feeds::osv::parse_archive("PyPI/all.zip", "PyPI", data);
    if let Ok(advisories) = berth_vulns::feeds::osv::parse_record("r.json", "PyPI", data) {
        for a in advisories {
            for scheme in Scheme::ALL {
                let _ = a.affected.affects(scheme, "1.0.0");
            }
        }
    }
});
