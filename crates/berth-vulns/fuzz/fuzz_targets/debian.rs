//! The Debian tracker JSON parser never panics.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = berth_vulns::feeds::debian::parse(data);
});
