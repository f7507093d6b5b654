//! `berth config validate`: every problem of a configuration file at once,
//! offline (no database or storage is contacted). Errors stop `berth serve`;
//! warnings name the keys of a Quay `config.yaml` that Berth ignores.

use std::path::{Path, PathBuf};

use figment::value::{Dict, Value};
use serde::Serialize;

use super::{Config, Problem, quay};

/// Flags of `berth config`.
#[derive(clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(clap::Subcommand)]
enum ConfigCommand {
    /// Check a configuration file offline and list every problem in it.
    Validate {
        /// The YAML configuration file, as given to `berth serve --config`.
        #[arg(long)]
        config: PathBuf,
        /// `text` (one finding a line) or `json`.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `berth serve` refuses the file.
    Error,
    /// Accepted, but the key has no effect.
    Warning,
}

/// One finding about a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub level: Level,
    /// The key, dotted for nested ones; empty for the file as a whole.
    pub path: String,
    /// What is wrong or expected.
    pub message: String,
}

impl Finding {
    fn error(problem: Problem) -> Finding {
        Finding {
            level: Level::Error,
            path: problem.path,
            message: problem.message,
        }
    }
}

/// `berth config ...`.
pub fn run(args: ConfigArgs) -> anyhow::Result<()> {
    let ConfigCommand::Validate { config, format } = args.command;
    let findings = validate_file(&config);
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    let warnings = findings.len() - errors;
    match format {
        Format::Text => {
            for f in &findings {
                let level = match f.level {
                    Level::Error => "error",
                    Level::Warning => "warning",
                };
                let problem = Problem::new(f.path.clone(), f.message.clone());
                println!("{level}: {problem}");
            }
            println!("{}: {errors} errors, {warnings} warnings", config.display());
        }
        Format::Json => {
            let report = serde_json::json!({ "valid": errors == 0, "findings": findings });
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
    }
    if errors > 0 {
        anyhow::bail!("{} is not a valid configuration", config.display());
    }
    Ok(())
}

/// Every finding about the file at `path`.
pub fn validate_file(path: &Path) -> Vec<Finding> {
    match std::fs::read_to_string(path) {
        Ok(text) => validate(&text),
        Err(e) => vec![Finding {
            level: Level::Error,
            path: String::new(),
            message: format!("cannot read {}: {e}", path.display()),
        }],
    }
}

/// Every finding about a configuration document, errors first.
pub fn validate(text: &str) -> Vec<Finding> {
    let mut doc = match parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            return vec![Finding {
                level: Level::Error,
                path: String::new(),
                message: e,
            }];
        }
    };
    let berth_keys = Config::keys();
    let mut errors: Vec<Finding> = unsupported_values(&doc).into_iter().map(Finding::error).collect();
    let warnings = quay::take_quay_only(&mut doc, &berth_keys)
        .into_iter()
        .map(|k| Finding {
            level: Level::Warning,
            path: k.path,
            message: k.reason.to_owned(),
        });
    // Each key alone over the defaults, so one bad value hides no other.
    let mut typed = true;
    for (key, value) in &doc {
        if !berth_keys.contains(key) {
            typed = false;
            errors.push(Finding::error(unknown_key(key, &berth_keys)));
            continue;
        }
        let single = Dict::from([(key.clone(), value.clone())]);
        if let Err(e) = Config::from_dict(single) {
            typed = false;
            for e in *e {
                let path = if e.path.is_empty() {
                    key.clone()
                } else {
                    e.path.join(".")
                };
                errors.push(Finding::error(Problem::new(path, e.kind.to_string())));
            }
        }
    }
    // Rules across values need every value read.
    if typed {
        match Config::from_dict(doc) {
            Ok(config) => errors.extend(config.problems().into_iter().map(Finding::error)),
            Err(e) => errors.push(Finding::error(Problem::new(e.path.join("."), e.kind.to_string()))),
        }
    }
    errors.into_iter().chain(warnings).collect()
}

/// The document's top-level mapping (empty for an empty file).
pub(super) fn parse(text: &str) -> Result<Dict, String> {
    if text.trim().is_empty() {
        return Ok(Dict::new());
    }
    serde_saphyr::from_str::<Dict>(text).map_err(|e| format!("not a YAML mapping of settings: {e}"))
}

/// Values of Quay keys that ask for what Berth cannot do, where ignoring
/// the key would mislead (users would expect LDAP logins, say).
pub(super) fn unsupported_values(doc: &Dict) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(kind) = doc.get("AUTHENTICATION_TYPE")
        && kind.as_str() != Some("Database")
    {
        problems.push(Problem::new(
            "AUTHENTICATION_TYPE",
            "Berth authenticates against its own database only: use Database or leave it unset",
        ));
    }
    if let Some(Value::Bool(_, true)) = doc.get("FEATURE_STORAGE_REPLICATION") {
        problems.push(Problem::new(
            "FEATURE_STORAGE_REPLICATION",
            "Berth uses one storage location: storage replication is not supported",
        ));
    }
    problems
}

/// An unknown key, with the nearest known one when it looks like a typo.
fn unknown_key(key: &str, berth_keys: &[String]) -> Problem {
    let candidates = berth_keys
        .iter()
        .map(String::as_str)
        .chain(quay::quay_keys().iter().copied());
    let nearest = candidates
        .map(|k| (strsim::jaro_winkler(key, k), k))
        .filter(|(score, _)| *score > 0.9)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let message = match nearest {
        Some((_, k)) => format!("unknown key (did you mean {k}?)"),
        None => "unknown key: neither Berth nor Quay has it".into(),
    };
    Problem::new(key, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(yaml: &str) -> Vec<(Level, String, String)> {
        validate(yaml)
            .into_iter()
            .map(|f| (f.level, f.path, f.message))
            .collect()
    }

    fn errors(yaml: &str) -> Vec<String> {
        findings(yaml)
            .into_iter()
            .filter(|f| f.0 == Level::Error)
            .map(|f| format!("{}: {}", f.1, f.2))
            .collect()
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_path() {
        let e = errors(concat!(
            "LISTEN_ADDRESS: nowhere\n",
            "MANIFEST_SIZE_LIMIT: lots\n",
            "DB_CONNECTION_ARGS: {max_connections: -1}\n",
            "DB_URL: postgresql://x\n",
            "FEATURE_FANCY: true\n",
        ));
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(e[0].starts_with("DB_CONNECTION_ARGS.max_connections: "), "{e:#?}");
        assert!(e.iter().any(|l| l.starts_with("LISTEN_ADDRESS: ")), "{e:#?}");
        assert!(e.iter().any(|l| l.starts_with("MANIFEST_SIZE_LIMIT: ")), "{e:#?}");
        assert!(
            e.iter()
                .any(|l| l == "DB_URL: unknown key (did you mean DB_URI?)"),
            "{e:#?}"
        );
        assert!(
            e.iter()
                .any(|l| l == "FEATURE_FANCY: unknown key: neither Berth nor Quay has it"),
            "{e:#?}"
        );
    }

    #[test]
    fn rules_across_values_are_checked_once_types_are_right() {
        let e = errors(concat!(
            "MANIFEST_SIZE_LIMIT: 10\n",
            "UPLOAD_LEASE_S: 0\n",
            "LABELED_EXPIRATION_MINIMUM: 2w\n",
            "LABELED_EXPIRATION_MAXIMUM: 1w\n",
            "TAG_EXPIRATION_OPTIONS: [1d, soon]\n",
            "DB_URI: mysql+pymysql://u:p@db/quay\n",
            "DEFAULT_NAMESPACE_AUTOPRUNE_POLICY: {method: creation_date, value: 10}\n",
            "AUTO_PRUNING_POLL_PERIOD: 0\n",
        ));
        assert_eq!(e.len(), 7, "{e:#?}");
        for key in [
            "MANIFEST_SIZE_LIMIT",
            "UPLOAD_LEASE_S",
            "LABELED_EXPIRATION_MINIMUM",
            "TAG_EXPIRATION_OPTIONS",
            "DB_URI",
            "DEFAULT_NAMESPACE_AUTOPRUNE_POLICY",
            "AUTO_PRUNING_POLL_PERIOD",
        ] {
            assert!(e.iter().any(|l| l.starts_with(key)), "{key}: {e:#?}");
        }
    }

    #[test]
    fn quay_keys_are_warnings_and_unsupported_quay_values_errors() {
        let f = findings(concat!(
            "FEATURE_MAILING: false\n",
            "BUILDLOGS_REDIS: {host: redis, port: 6379}\n",
            "DB_CONNECTION_ARGS: {threadlocals: true, autorollback: true, max_connections: 4}\n",
            "AUTHENTICATION_TYPE: LDAP\n",
            "SERVER_HOSTNAME: registry.example:8443\n",
        ));
        let warned: Vec<&str> = f
            .iter()
            .filter(|f| f.0 == Level::Warning)
            .map(|f| f.1.as_str())
            .collect();
        assert_eq!(
            warned,
            [
                "AUTHENTICATION_TYPE",
                "BUILDLOGS_REDIS",
                "FEATURE_MAILING",
                "DB_CONNECTION_ARGS.autorollback",
                "DB_CONNECTION_ARGS.threadlocals",
            ],
            "{f:#?}"
        );
        let e = errors("AUTHENTICATION_TYPE: LDAP\n");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].starts_with("AUTHENTICATION_TYPE: "));
        assert!(errors("AUTHENTICATION_TYPE: Database\n").is_empty());
    }

    #[test]
    fn broken_yaml_and_a_non_mapping_are_one_clear_error() {
        let e = errors("LISTEN_ADDRESS: [unclosed\n");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].contains("YAML"), "{e:#?}");
        assert_eq!(errors("- a\n- b\n").len(), 1);
        assert!(findings("").is_empty());
        assert!(findings("# nothing set\n").is_empty());
    }
}
