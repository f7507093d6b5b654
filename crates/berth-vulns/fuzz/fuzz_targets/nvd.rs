//! The NVD feed and `.meta` parsers never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = berth_vulns::feeds::nvd::sha256_of_meta("nvdcve-2.0-2016.meta", data);
    let _ = berth_vulns::feeds::nvd::parse_gz("nvdcve-2.0-2016.json.gz", data);
    let _ = berth_vulns::feeds::nvd::parse("nvdcve-2.0-2016.json", data);
});
