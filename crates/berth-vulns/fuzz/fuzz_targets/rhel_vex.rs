//! The Red Hat VEX document, list and archive parsers never panic, and
//! every advisory they give can be evaluated in rpm order.
#![no_main]

use berth_scan::version::Scheme;
use berth_vulns::feeds::rhel_vex;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = rhel_vex::parse_list("changes.csv", data);
    let _ = rhel_vex::parse_archive("a.tar.zst", data);
    if let Ok(advisories) = rhel_vex::csaf::parse("2023/cve-2023-1.json", data) {
        for a in advisories {
            let _ = a.affected.affects(Scheme::Rpm, "7.76.1-14.el9");
        }
    }
});
