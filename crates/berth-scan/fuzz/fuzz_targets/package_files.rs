//! Each package-file parser and os-release, on the same bytes.
#![no_main]

use berth_scan::detect;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = detect::parse_dpkg_status(data, true);
    let _ = detect::parse_dpkg_status(data, false);
    let _ = detect::parse_apk_installed(data);
    let _ = detect::parse_python_metadata(data);
    let _ = detect::parse_npm_package_json(data);
    let _ = detect::parse_rpm_database(data);
    let _ = detect::parse_go_build_info(data);
    let _ = detect::parse_gemspec(data);
    let _ = detect::parse_java_archive(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = berth_scan::distro::parse_os_release(text);
        let _ = detect::normalize_python_name(text);
    }
});
