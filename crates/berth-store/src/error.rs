//! The store's error type.

/// A failure in metadata or blob persistence.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a query.
    #[error("database: {0}{detail}", detail = detail(.0))]
    Db(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Blob storage I/O failed.
    #[error("blob storage: {0}")]
    Io(#[from] std::io::Error),
    /// The object store failed.
    #[error("object store: {0}")]
    Object(#[from] object_store::Error),
    /// The requested object does not exist.
    #[error("not found")]
    NotFound,
    /// A row with this unique name already exists.
    #[error("{0} already exists")]
    Exists(String),
    /// The database URI is not one we can use.
    #[error("unsupported database URI: {0}")]
    BadUri(String),
    /// Staged bytes hashed to another digest than the one claimed.
    #[error("content has digest {0}")]
    DigestMismatch(String),
    /// The upload session is no longer this request's to change (another
    /// request or instance took it over).
    #[error("the upload session changed under this request: {0}")]
    Conflict(String),
    /// Copying the embedded database failed.
    #[error("database copy: {0}")]
    Copy(#[from] rusqlite::Error),
    /// Stored data that cannot be interpreted.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// PostgreSQL's detail of a deadlock or serialization failure: the
/// processes and the locks they waited for, for the log. Other details
/// (a duplicate key's value, say) may hold data and are left out.
fn detail(e: &sqlx::Error) -> String {
    let detail = match e {
        sqlx::Error::Database(db) if is_transient_code(db.code().as_deref()) => db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .and_then(|pg| pg.detail()),
        _ => None,
    };
    detail.map(|d| format!(" ({d})")).unwrap_or_default()
}

/// Deadlock victim (`40P01`) or serialization failure (`40001`).
fn is_transient_code(code: Option<&str>) -> bool {
    matches!(code, Some("40P01" | "40001"))
}

impl StoreError {
    /// Whether the database asks for the transaction to be run again: it
    /// was chosen to break a deadlock, or could not be serialized.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(db)) => is_transient_code(db.code().as_deref()),
            _ => false,
        }
    }
}
