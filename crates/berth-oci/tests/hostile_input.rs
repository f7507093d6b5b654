//! Every parser takes arbitrary client input: none may panic, and whatever
//! they accept must be well-formed.

use berth_oci::{Digest, ParsedManifest, Reference, validate_repository, validate_tag};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn manifest_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), ct in ".{0,64}") {
        let _ = ParsedManifest::parse(&bytes, Some(&ct));
        let _ = ParsedManifest::parse(&bytes, None);
    }

    #[test]
    fn json_shaped_manifests_never_panic(
        schema in prop_oneof![Just("2"), Just("1"), Just("\"2\""), Just("null")],
        media in prop_oneof![Just("application/vnd.oci.image.manifest.v1+json"), Just("application/vnd.oci.image.index.v1+json"), Just("x"), Just("")],
        size in any::<i64>(),
        digest in "(sha256|sha512|md5)?:?[0-9a-fA-F]{0,130}",
    ) {
        let body = format!(
            r#"{{"schemaVersion":{schema},"mediaType":"{media}","config":{{"mediaType":"a","digest":"{digest}","size":{size}}},"layers":[{{"mediaType":"b","digest":"{digest}","size":{size}}}],"manifests":[{{"mediaType":"c","digest":"{digest}","size":{size}}}]}}"#
        );
        if let Ok(parsed) = ParsedManifest::parse(body.as_bytes(), Some(media)) {
            // Anything accepted references only valid digests.
            for d in parsed.blobs.iter().chain(&parsed.children) {
                prop_assert!(d.to_string().parse::<Digest>().is_ok());
            }
        }
    }

    #[test]
    fn names_and_references_never_panic(s in "\\PC{0,300}") {
        let _ = validate_repository(&s);
        let _ = validate_tag(&s);
        let _ = Reference::parse(&s);
        if let Ok(d) = s.parse::<Digest>() {
            prop_assert_eq!(d.to_string(), s);
        }
    }

    #[test]
    fn accepted_repository_names_round_trip_through_paths(s in "[a-z0-9._/-]{1,40}") {
        if validate_repository(&s).is_ok() {
            prop_assert!(!s.starts_with('/') && !s.ends_with('/') && !s.contains("//"));
        }
    }
}
