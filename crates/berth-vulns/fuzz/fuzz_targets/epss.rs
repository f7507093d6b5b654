//! The EPSS CSV parser never panics.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = berth_vulns::feeds::epss::parse(data);
    let _ = berth_vulns::feeds::epss::parse_gz(data);
});
