//! `berth admin`: offline administration against the same database the
//! servers use (safe while they run).

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use berth_core::Identity;

use crate::config::Config;
use crate::serve::open_db;

/// Where the registry's data is.
#[derive(clap::Args)]
pub struct Target {
    /// Directory of the embedded database.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// YAML configuration file.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Metadata database URI (postgresql://...).
    #[arg(long, global = true)]
    db_uri: Option<String>,
}

/// `berth admin ...`.
#[derive(clap::Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Subcommand)]
enum AdminCommand {
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the keys that sign registry tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(clap::Subcommand)]
enum UserCommand {
    /// Create a user, reading the password from standard input.
    Create {
        /// The user name.
        name: String,
        /// Contact address.
        #[arg(long)]
        email: Option<String>,
        /// Make the user a superuser.
        #[arg(long)]
        superuser: bool,
        /// Read the password from standard input (required: passwords are
        /// never taken from the command line, where `ps` would show them).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(clap::Subcommand)]
enum KeysCommand {
    /// Start signing with a new key; tokens signed by the old one stay
    /// valid until they expire.
    Rotate,
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.target.config.as_deref())?;
    crate::logging::init(config.LOGS_FORMAT);
    if let Some(dir) = args.target.data_dir {
        config.DATA_DIR = dir;
    }
    if let Some(uri) = args.target.db_uri {
        config.DB_URI = Some(uri);
    }
    config.enter_crypto_mode()?;
    let db = open_db(&config).await?;
    let identity = Identity::start(db.clone(), config.identity())
        .await
        .context("starting identity and access")?;
    let result = match args.command {
        AdminCommand::User(UserCommand::Create {
            name,
            email,
            superuser,
            password_stdin: _,
        }) => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            identity
                .create_user(&name, email.as_deref(), password, superuser)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create user {name}: {e}"))?;
            println!(
                "created user {name}{}",
                if superuser { " (superuser)" } else { "" }
            );
            Ok(())
        }
        AdminCommand::Keys(KeysCommand::Rotate) => {
            let kid = identity
                .tokens()
                .rotate()
                .await
                .context("rotating the signing key")?;
            println!("registry tokens are now signed by key {kid}");
            Ok(())
        }
    };
    identity.audit().flush().await;
    db.close().await;
    result
}
