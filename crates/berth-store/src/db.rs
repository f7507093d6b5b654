//! The metadata database: SQLite (embedded default) or PostgreSQL, through
//! sqlx's concrete drivers. Queries are written once with `$N` placeholders,
//! which both accept, and expanded per backend by [`on_db!`].

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::StoreError;

/// A connected metadata database.
#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite: one writer connection (SQLite allows one writer; queuing in
    /// the pool avoids `SQLITE_BUSY` upgrades) and a pool of readers.
    Sqlite {
        /// Readers.
        read: SqlitePool,
        /// The single writer.
        write: SqlitePool,
    },
    /// PostgreSQL: one pool for everything.
    Postgres(PgPool),
}

/// A borrowed pool of either backend, as matched by [`on_db!`].
pub enum PoolRef<'a> {
    /// A SQLite pool.
    Sqlite(&'a SqlitePool),
    /// A PostgreSQL pool.
    Postgres(&'a PgPool),
}

/// Run the same code against whichever backend a [`PoolRef`] holds; the body
/// is compiled once per backend with `$pool` bound to the concrete pool.
#[macro_export]
macro_rules! on_db {
    ($pools:expr, $pool:ident => $body:expr) => {
        match $pools {
            $crate::db::PoolRef::Sqlite($pool) => $body,
            $crate::db::PoolRef::Postgres($pool) => $body,
        }
    };
}

/// Run `attempt` again, three times in all at most, while the database
/// answers that it must be (see [`StoreError::is_transient`]): PostgreSQL
/// breaks a deadlock by failing one of its transactions and expects that
/// one to be retried.
pub(crate) async fn retry_transient<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if tries < 3 && e.is_transient() => {
                tracing::warn!(error = %e, "the database failed a write to break a deadlock or a serialization conflict; running it again");
                tries += 1;
            }
            done => return done,
        }
    }
}

/// Connection pool sizing.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections to PostgreSQL, or SQLite reader connections (SQLite
    /// always has exactly one writer).
    pub max_connections: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings { max_connections: 16 }
    }
}

/// How many connections of an instance's pools are open and in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolUse {
    /// Connections lent out now.
    pub in_use: u32,
    /// Open connections waiting in the pools.
    pub idle: u32,
    /// Most connections the pools may open.
    pub max: u32,
}

/// Like [`on_db!`] on the writer, for writes that need not reach the disk
/// on their own: session creation and lease bookkeeping, whose loss in a
/// power cut costs a client one retry. The next durable commit flushes them
/// (SQLite WAL is sequential); PostgreSQL gets `synchronous_commit = off`
/// for the one transaction. `$exec` is the executor; `$body` is an async
/// expression returning `Result<T, StoreError>`.
#[macro_export]
macro_rules! on_relaxed_writer {
    ($db:expr, $exec:ident => $body:expr) => {
        match $db.writer() {
            $crate::db::PoolRef::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("PRAGMA synchronous = NORMAL")
                    .execute(&mut *conn)
                    .await?;
                let result = {
                    let $exec = &mut *conn;
                    $body.await
                };
                if let Err(e) = sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await {
                    // Never hand a relaxed connection back to the pool.
                    drop(conn.detach());
                    return Err(e.into());
                }
                result
            }
            $crate::db::PoolRef::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET LOCAL synchronous_commit = off")
                    .execute(&mut *tx)
                    .await?;
                let result = {
                    let $exec = &mut *tx;
                    $body.await
                };
                if result.is_ok() {
                    tx.commit().await?;
                }
                result
            }
        }
    };
}

impl Db {
    /// Open the embedded SQLite database in `dir`, creating it if needed.
    pub async fn open_sqlite(dir: &Path, pools: PoolSettings) -> Result<Db, StoreError> {
        std::fs::create_dir_all(dir)?;
        let opts = SqliteConnectOptions::new()
            .filename(dir.join(crate::metadata::SQLITE_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed push survives power loss, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await?;
        let db_for_migrate = Db::Sqlite {
            read: write.clone(),
            write: write.clone(),
        };
        db_for_migrate.migrate().await?;
        let read = SqlitePoolOptions::new()
            .max_connections(pools.max_connections)
            .connect_with(opts.read_only(true))
            .await?;
        Ok(Db::Sqlite { read, write })
    }

    /// Connect to PostgreSQL at `uri` (`postgresql://...`) and migrate.
    pub async fn open_postgres(uri: &str, pools: PoolSettings) -> Result<Db, StoreError> {
        let opts = sqlx::postgres::PgConnectOptions::from_str(uri)?;
        let pool = PgPoolOptions::new()
            .max_connections(pools.max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        let db = Db::Postgres(pool);
        db.migrate().await?;
        Ok(db)
    }

    /// Open the database a URI names: `postgres(ql)://...` or `sqlite://DIR`.
    pub async fn open(uri: &str, pools: PoolSettings) -> Result<Db, StoreError> {
        if uri.starts_with("postgres://") || uri.starts_with("postgresql://") {
            Db::open_postgres(uri, pools).await
        } else if let Some(dir) = uri.strip_prefix("sqlite://") {
            Db::open_sqlite(Path::new(dir), pools).await
        } else {
            Err(StoreError::BadUri(
                uri.split('@').next_back().unwrap_or_default().to_owned(),
            ))
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Db::Sqlite { write, .. } => sqlx::migrate!("migrations/sqlite").run(write).await?,
            Db::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// The pool for reads.
    pub fn reader(&self) -> PoolRef<'_> {
        match self {
            Db::Sqlite { read, .. } => PoolRef::Sqlite(read),
            Db::Postgres(p) => PoolRef::Postgres(p),
        }
    }

    /// The pool for writes (and reads that must see the latest write).
    pub fn writer(&self) -> PoolRef<'_> {
        match self {
            Db::Sqlite { write, .. } => PoolRef::Sqlite(write),
            Db::Postgres(p) => PoolRef::Postgres(p),
        }
    }

    /// Connections in use and idle, summed over the pools (SQLite's
    /// readers and its writer). Read from the pools, no query.
    pub fn pool_use(&self) -> PoolUse {
        fn of<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> PoolUse {
            let size = pool.size();
            let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(size);
            PoolUse {
                in_use: size - idle,
                idle,
                max: pool.options().get_max_connections(),
            }
        }
        let sum = |a: PoolUse, b: PoolUse| PoolUse {
            in_use: a.in_use + b.in_use,
            idle: a.idle + b.idle,
            max: a.max + b.max,
        };
        match self {
            Db::Sqlite { read, write } => sum(of(read), of(write)),
            Db::Postgres(p) => of(p),
        }
    }

    /// Which backend this is, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgresql",
        }
    }

    /// Close every connection.
    pub async fn close(&self) {
        match self {
            Db::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }
}
