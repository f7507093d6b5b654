//! Whole layers: decompression, tar walking, detectors, link checks.
#![no_main]

use berth_scan::{Limits, index_layer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entries: 10_000,
        max_file_bytes: 1 << 20,
        max_total_bytes: 64 << 20,
        max_path_depth: 64,
        max_header_bytes: 64 << 10,
    };
    let _ = index_layer(data, &limits);
});
