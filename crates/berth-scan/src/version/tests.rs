//! Table tests (cases from each ecosystem's documentation and tools) and
//! order properties for every scheme.
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering::{self, Equal, Greater, Less};

use proptest::prelude::*;

use super::{Scheme, compare};

fn check(scheme: Scheme, table: &[(&str, Ordering, &str)]) {
    for (a, want, b) in table {
        assert_eq!(compare(scheme, a, b), Ok(*want), "{scheme:?}: {a} vs {b}");
        assert_eq!(
            compare(scheme, b, a),
            Ok(want.reverse()),
            "{scheme:?}: {b} vs {a}"
        );
    }
}

#[test]
fn dpkg_table() {
    check(
        Scheme::Dpkg,
        &[
            ("1.0", Less, "1.1"),
            ("1:1.0~rc1-1", Less, "1:1.0-1"),
            ("5.2.15-2+b8", Greater, "5.2.15-2"),
            ("1.0~~", Less, "1.0~"),
            ("1.0~", Less, "1.0"),
            ("1.0", Less, "1.0+"),
            ("1:0.1", Greater, "9.9"),
            ("1.0-1", Equal, "1.0-1"),
            ("1.0", Equal, "1.0-0"),
            ("2.36-9+deb12u7", Greater, "2.36-9+deb12u4"),
            ("1.2a", Greater, "1.2"),
            ("1.2a", Less, "1.2+"),
            ("0:1.0", Equal, "1.0"),
        ],
    );
    assert!(compare(Scheme::Dpkg, "", "1").is_err());
    for bad in ["a:1", "1:", "1.0-", " 1 0", ":1", "-1:1", "99999999999:1"] {
        assert!(compare(Scheme::Dpkg, bad, "1").is_err(), "{bad}");
    }
}

#[test]
fn rpm_table() {
    check(
        Scheme::Rpm,
        &[
            ("1.0", Less, "1.1"),
            ("1.0-1.el9", Less, "1.0-1.el9_1"),
            ("1:1.0", Greater, "2.0"),
            ("1.0~rc1", Less, "1.0"),
            ("1.0^git1", Greater, "1.0"),
            ("1.0^git1", Less, "1.0.1"),
            ("1.0a", Greater, "1.0"),
            ("1.010", Equal, "1.10"),
            ("2.0", Greater, "2.a"),
        ],
    );
}

#[test]
fn apk_table() {
    check(
        Scheme::Apk,
        &[
            ("1.0", Less, "1.1"),
            ("1.2.5-r0", Less, "1.2.5-r1"),
            ("1.2.5", Less, "1.2.5-r0"),
            ("1.0_alpha1", Less, "1.0_beta1"),
            ("1.0_rc1", Less, "1.0"),
            ("1.0", Less, "1.0_p1"),
            ("1.0_pre1", Less, "1.0_rc1"),
            ("1.0a", Greater, "1.0"),
            ("1.0a", Less, "1.0b"),
            ("1.0", Less, "1.0.1"),
            ("1.0_git20240101", Greater, "1.0"),
            ("1.01", Less, "1.1"),
            ("1.001", Less, "1.01"),
            ("3.3.2-r0", Greater, "3.3.1-r9"),
            ("1.0~abc-r1", Greater, "1.0-r1"),
            ("1.0_alpha", Less, "1.0_alpha1"),
            ("0.1.0_alpha_pre2", Less, "0.1.0_alpha"),
            ("1.36.1-r29", Equal, "1.36.1-r29"),
        ],
    );
    for bad in ["", "a1", "1.0-1", "1.0_foo", "1..0", "1.0-r", "1.0~"] {
        assert!(compare(Scheme::Apk, bad, "1.0").is_err(), "{bad}");
    }
}

#[test]
fn pep440_table() {
    check(
        Scheme::Pep440,
        &[
            ("1.0rc1", Less, "1.0"),
            ("1.0", Less, "1.0.post1"),
            ("1.0.dev1", Less, "1.0a1"),
            ("1.0a1", Less, "1.0b1"),
            ("1.0", Equal, "1.0.0"),
            ("1!0.1", Greater, "2.0"),
            ("1.0+local.1", Greater, "1.0"),
            ("2.32.3", Greater, "2.9"),
            ("1.0-rc1", Equal, "1.0rc1"),
        ],
    );
    assert!(compare(Scheme::Pep440, "not a version", "1").is_err());
}

#[test]
fn semver_tables() {
    let table = [
        ("1.0.0-alpha", Less, "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", Less, "1.0.0-alpha.beta"),
        ("1.0.0-beta.2", Less, "1.0.0-beta.11"),
        ("1.0.0-rc.1", Less, "1.0.0"),
        ("1.0.0+build.1", Equal, "1.0.0+build.2"),
        ("1.10.0", Greater, "1.9.0"),
    ];
    check(Scheme::Semver, &table);
    check(Scheme::Npm, &table[..4]);
    check(
        Scheme::Npm,
        &[("v1.2.3", Equal, "1.2.3"), ("2.1.3", Greater, "2.1.2")],
    );
    check(
        Scheme::Go,
        &[
            ("v1.2.3", Less, "v1.2.4"),
            ("v0.0.0-20240101000000-abcdefabcdef", Less, "v0.0.1"),
            ("v2.0.0+incompatible", Equal, "v2.0.0"),
            ("v1.2.3-pre", Less, "v1.2.3"),
        ],
    );
    assert!(compare(Scheme::Go, "1.2.3", "v1.2.3").is_err());
    assert!(compare(Scheme::Semver, "1.2", "1.2.0").is_err());
}

#[test]
fn maven_table() {
    check(
        Scheme::Maven,
        &[
            ("1", Equal, "1.0"),
            ("1", Equal, "1.0.0"),
            ("1.0-alpha-1", Less, "1.0"),
            ("1.0-alpha-1", Less, "1.0-alpha-2"),
            ("1.0-alpha-2", Less, "1.0-alpha-15"),
            ("1.0-alpha-1", Less, "1.0-beta-1"),
            ("1.0-beta-1", Less, "1.0-SNAPSHOT"),
            ("1.0-SNAPSHOT", Less, "1.0"),
            ("1.0", Less, "1.0-sp"),
            ("1.0-sp", Less, "1.0-whatever"),
            ("1.0-RC1", Less, "1.0"),
            ("1.0-CR1", Equal, "1.0-rc1"),
            ("1.0-ga", Equal, "1.0"),
            ("1.0.final", Equal, "1.0"),
            ("1.0a1", Equal, "1.0-alpha-1"),
            ("1.0-1", Greater, "1.0"),
            ("1.0-1", Less, "1.0.1"),
            ("2.0.1", Greater, "2.0"),
            ("2.0.1-xyz", Less, "2.0.1-123"),
            ("1.2.3.Final", Equal, "1.2.3"),
            ("5.3.39", Greater, "5.3.9"),
            ("1.0.0.RELEASE", Equal, "1.0.0"),
            ("12345678901234567890", Less, "12345678901234567891"),
        ],
    );
}

#[test]
fn rubygems_table() {
    check(
        Scheme::RubyGems,
        &[
            ("1.0", Equal, "1"),
            ("1.0.a", Less, "1.0"),
            ("1.0.a", Equal, "1.a"),
            ("1.0.0.pre1", Less, "1.0.0"),
            ("1.0.0-rc1", Less, "1.0.0"),
            ("1.0.0-rc1", Equal, "1.0.0.pre.rc1"),
            ("1.0.b1", Greater, "1.0.a2"),
            ("0.9", Less, "1.0.a"),
            ("7.1.3.4", Greater, "7.1.3"),
            ("1.10", Greater, "1.9"),
        ],
    );
    for bad in ["", "junk", "1..2", "1.0-"] {
        assert!(compare(Scheme::RubyGems, bad, "1").is_err(), "{bad}");
    }
}

/// Version-like strings: digits and the separators every scheme knows.
fn version_string() -> impl Strategy<Value = String> {
    "[0-9]{1,3}([.~+_-]?([0-9]{1,3}|[a-z]{1,5}|r[0-9]|rc[0-9]|alpha|p[0-9])){0,5}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_never_panic(a in ".{0,40}", b in ".{0,40}") {
        for s in Scheme::ALL {
            let _ = compare(s, &a, &b);
        }
    }

    #[test]
    fn comparison_is_a_total_order(a in version_string(), b in version_string(), c in version_string()) {
        for s in Scheme::ALL {
            let (Ok(ab), Ok(ba), Ok(aa)) = (compare(s, &a, &b), compare(s, &b, &a), compare(s, &a, &a)) else {
                continue;
            };
            prop_assert_eq!(aa, Equal, "{:?} reflexive {}", s, a);
            prop_assert_eq!(ab, ba.reverse(), "{:?} antisymmetric {} {}", s, a, b);
            if let (Ok(bc), Ok(ac)) = (compare(s, &b, &c), compare(s, &a, &c))
                && ab == bc && ab != Equal
            {
                prop_assert_eq!(ac, ab, "{:?} transitive {} {} {}", s, a, b, c);
            }
        }
    }

    #[test]
    fn go_and_semver_agree(major in 0u64..50, minor in 0u64..50, patch in 0u64..50, pre in proptest::option::of("[a-z]{1,4}(\\.[1-9][0-9]?)?")) {
        let v = match &pre {
            Some(p) => format!("{major}.{minor}.{patch}-{p}"),
            None => format!("{major}.{minor}.{patch}"),
        };
        let w = format!("{major}.{minor}.{}", patch + 1);
        let want = compare(Scheme::Semver, &v, &w).ok();
        prop_assert_eq!(want, compare(Scheme::Go, &format!("v{v}"), &format!("v{w}")).ok());
        prop_assert_eq!(want, compare(Scheme::Npm, &v, &w).ok());
    }
}
