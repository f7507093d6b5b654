//! `berth config validate` on a Quay `config.yaml`, and `berth serve`
//! starting from one: the keys Berth does not implement are listed as
//! warnings, everything else is accepted; mistakes are all reported at once.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

/// A Quay configuration as Quay's own development stack and its
/// documentation lay one out (keys as Quay names them; values of ours).
const QUAY_CONFIG: &str = "\
SUPER_USERS:
- admin
AUTHENTICATION_TYPE: Database
BITTORRENT_FILENAME_PEPPER: 3b7c1e52-2f0a-4a8e-9d64-5f7e0c1a9b21
BUILDLOGS_REDIS:
  host: quay-redis
  port: 6379
DATABASE_SECRET_KEY: '4711081512345678901234567890123456789012345678901234567890'
DB_URI: postgresql://quay:quay@quay-db/quay
DEFAULT_TAG_EXPIRATION: 2w
DISTRIBUTED_STORAGE_CONFIG:
  default:
  - LocalStorage
  - storage_path: /datastorage/registry
DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: []
DISTRIBUTED_STORAGE_PREFERENCE:
- default
ENTERPRISE_LOGO_URL: /static/img/quay-horizontal-color.svg
EXTERNAL_TLS_TERMINATION: true
FEATURE_ACI_CONVERSION: false
FEATURE_ANONYMOUS_ACCESS: true
FEATURE_APP_REGISTRY: false
FEATURE_APP_SPECIFIC_TOKENS: true
FEATURE_BUILD_SUPPORT: false
FEATURE_CHANGE_TAG_EXPIRATION: true
FEATURE_DIRECT_LOGIN: true
FEATURE_MAILING: false
FEATURE_PARTIAL_USER_AUTOCOMPLETE: true
FEATURE_REPO_MIRROR: false
FEATURE_REQUIRE_TEAM_INVITE: true
FEATURE_RESTRICTED_V1_PUSH: false
FEATURE_SECURITY_NOTIFICATIONS: true
FEATURE_SECURITY_SCANNER: true
FEATURE_USERNAME_CONFIRMATION: true
FEATURE_USER_CREATION: true
FEATURE_USER_LOG_ACCESS: true
GITHUB_LOGIN_CONFIG: {}
GITHUB_TRIGGER_CONFIG: {}
GITLAB_TRIGGER_KIND: {}
GPG2_PRIVATE_KEY_FILENAME: signing-private.gpg
GPG2_PUBLIC_KEY_FILENAME: signing-public.gpg
LOG_ARCHIVE_LOCATION: default
MAIL_DEFAULT_SENDER: admin@example.com
MAIL_PORT: 587
MAIL_USE_TLS: true
PREFERRED_URL_SCHEME: http
REGISTRY_TITLE: Example Registry
REGISTRY_TITLE_SHORT: Example
REPO_MIRROR_SERVER_HOSTNAME: null
REPO_MIRROR_TLS_VERIFY: true
SECURITY_SCANNER_V4_ENDPOINT: http://localhost:6000
SECURITY_SCANNER_V4_NAMESPACE_WHITELIST:
  - \"clairv4-org\"
SECURITY_SCANNER_ISSUER_NAME: security_scanner
SERVER_HOSTNAME: localhost:8080
SETUP_COMPLETE: true
SIGNING_ENGINE: gpg2
TAG_EXPIRATION_OPTIONS:
- 0s
- 1d
- 1w
- 2w
- 4w
TEAM_RESYNC_STALE_TIME: 60m
TESTING: false
USERFILES_LOCATION: default
USERFILES_PATH: userfiles/
USER_EVENTS_REDIS:
  host: quay-redis
  port: 6379
USE_CDN: false
";

/// The keys of `QUAY_CONFIG` that Berth implements.
const BERTH_KEYS: &[&str] = &[
    "SUPER_USERS",
    "DATABASE_SECRET_KEY",
    "MAIL_DEFAULT_SENDER",
    "MAIL_PORT",
    "MAIL_USE_TLS",
    "DB_URI",
    "DEFAULT_TAG_EXPIRATION",
    "DISTRIBUTED_STORAGE_CONFIG",
    "DISTRIBUTED_STORAGE_PREFERENCE",
    "FEATURE_ANONYMOUS_ACCESS",
    "FEATURE_SECURITY_SCANNER",
    "PREFERRED_URL_SCHEME",
    "SERVER_HOSTNAME",
    "TAG_EXPIRATION_OPTIONS",
];

fn validate(yaml: &str, json: bool) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut cmd = Command::new(common::berth_bin());
    cmd.args(["config", "validate", "--config"]).arg(&path);
    if json {
        cmd.args(["--format", "json"]);
    }
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

fn top_level_keys(yaml: &str) -> Vec<&str> {
    yaml.lines()
        .filter(|l| !l.starts_with([' ', '-']) && l.contains(':'))
        .map(|l| l.split(':').next().unwrap())
        .collect()
}

#[test]
fn a_quay_config_is_accepted_and_its_unimplemented_keys_are_listed() {
    let (ok, out) = validate(QUAY_CONFIG, true);
    assert!(ok, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["valid"], true);
    let findings = report["findings"].as_array().unwrap();
    assert!(findings.iter().all(|f| f["level"] == "warning"), "{out}");
    let mut warned: Vec<&str> = findings.iter().map(|f| f["path"].as_str().unwrap()).collect();
    let mut expected: Vec<&str> = top_level_keys(QUAY_CONFIG)
        .into_iter()
        .filter(|k| !BERTH_KEYS.contains(k))
        .collect();
    warned.sort_unstable();
    expected.sort_unstable();
    assert_eq!(warned, expected);
    assert!(
        findings
            .iter()
            .any(|f| f["path"] == "BUILDLOGS_REDIS" && f["message"].as_str().unwrap().contains("Redis")),
        "{out}"
    );

    let (ok, text) = validate(QUAY_CONFIG, false);
    assert!(ok);
    assert!(text.contains("warning: FEATURE_MAILING: "), "{text}");
    assert!(
        text.trim_end()
            .ends_with(&format!("0 errors, {} warnings", expected.len())),
        "{text}"
    );
}

#[test]
fn mistakes_are_all_listed_with_paths_and_fail_the_check() {
    let broken = QUAY_CONFIG
        .replace("PREFERRED_URL_SCHEME: http", "PREFERRED_URL_SCHEME: gopher")
        .replace(
            "SERVER_HOSTNAME: localhost:8080",
            "SERVER_HOSTNAM: localhost:8080",
        )
        .replace("DB_URI: postgresql://", "DB_URI: mysql+pymysql://")
        .replace(
            "FEATURE_SECURITY_SCANNER: true",
            "FEATURE_SECURITY_SCANNER: sometimes",
        )
        + "LISTEN_ADDRESS: 127.0.0.1\n";
    let (ok, text) = validate(&broken, false);
    assert!(!ok, "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error: ")).collect();
    for expected in [
        "error: SERVER_HOSTNAM: unknown key (did you mean SERVER_HOSTNAME?)",
        "error: FEATURE_SECURITY_SCANNER: ",
        "error: LISTEN_ADDRESS: ",
    ] {
        assert!(
            errors.iter().any(|l| l.starts_with(expected)),
            "{expected}\n{text}"
        );
    }
    // Rules across values wait for every value to be readable.
    assert_eq!(errors.len(), 3, "{text}");
    let fixed = broken
        .replace(
            "FEATURE_SECURITY_SCANNER: sometimes",
            "FEATURE_SECURITY_SCANNER: true",
        )
        .replace("SERVER_HOSTNAM:", "SERVER_HOSTNAME:")
        .replace("LISTEN_ADDRESS: 127.0.0.1\n", "");
    let (ok, text) = validate(&fixed, false);
    assert!(!ok);
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 2, "{text}");
    assert!(
        errors
            .iter()
            .any(|l| l.starts_with("error: PREFERRED_URL_SCHEME: ")),
        "{text}"
    );
    assert!(errors.iter().any(|l| l.starts_with("error: DB_URI: ")), "{text}");

    let (ok, text) = validate("AUTHENTICATION_TYPE: LDAP\nLDAP_URI: ldap://127.0.0.1\n", false);
    assert!(!ok);
    assert!(text.contains("error: AUTHENTICATION_TYPE: "), "{text}");
    let (ok, text) = validate("SERVER_HOSTNAME: [unclosed\n", false);
    assert!(!ok);
    assert!(text.starts_with("error: not a YAML mapping"), "{text}");
}

#[tokio::test]
async fn the_server_starts_from_a_quay_config_and_warns_of_what_it_ignores() {
    // The test harness supplies the database and storage.
    let local: String = QUAY_CONFIG
        .replace("DB_URI: postgresql://quay:quay@quay-db/quay\n", "")
        .replace(
            "DISTRIBUTED_STORAGE_CONFIG:\n  default:\n  - LocalStorage\n  - storage_path: /datastorage/registry\n",
            "",
        )
        .replace("DISTRIBUTED_STORAGE_PREFERENCE:\n- default\n", "")
        .replace("SERVER_HOSTNAME: localhost:8080\n", "");
    let mut server = common::Server::start_capturing_logs_with(&local).await;
    let r = server.get("/v2/").await;
    assert_eq!(r.status(), 200, "the registry answers the superuser");
    server.stop();
    let log = std::fs::read_to_string(server.log_file.as_ref().unwrap()).unwrap();
    for key in ["FEATURE_MAILING", "BUILDLOGS_REDIS", "SETUP_COMPLETE"] {
        assert!(
            log.lines().any(|l| l.contains("WARN") && l.contains(key)),
            "{key} not warned about:\n{log}"
        );
    }
}
