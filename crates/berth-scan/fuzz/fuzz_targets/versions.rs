//! Every version scheme on two strings split from the input; the result
//! must be antisymmetric whenever both parse.
#![no_main]

use berth_scan::version::{Scheme, compare};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (a, b) = text.split_once('\n').unwrap_or((text, ""));
    for s in Scheme::ALL {
        if let (Ok(x), Ok(y)) = (compare(s, a, b), compare(s, b, a)) {
            assert_eq!(x, y.reverse(), "{s:?} {a:?} {b:?}");
        }
    }
});
