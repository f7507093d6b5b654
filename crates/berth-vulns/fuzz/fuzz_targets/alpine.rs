//! The secdb parser and the index listing reader never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = berth_vulns::feeds::alpine::parse("v3.20/main.json", "v3.20", data);
    let _ = berth_vulns::feeds::alpine::releases_in_listing(&String::from_utf8_lossy(data));
});
