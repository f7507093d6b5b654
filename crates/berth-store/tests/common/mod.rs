//! The databases the store's tests run on: SQLite always, and PostgreSQL
//! with `TEST_DB=postgres` (at `TEST_PG_URI`), each fresh.
#![allow(clippy::unwrap_used)]

use berth_store::{Db, PoolSettings};
use sqlx::Connection;

/// A fresh database of each backend under test.
pub async fn databases() -> Vec<(Db, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let mut dbs = vec![(
        Db::open_sqlite(dir.path(), PoolSettings::default())
            .await
            .unwrap(),
        dir,
    )];
    if std::env::var("TEST_DB").as_deref() == Ok("postgres") {
        let base =
            std::env::var("TEST_PG_URI").unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:55432".into());
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let db = Db::open(&format!("{base}/{name}"), PoolSettings::default())
            .await
            .unwrap();
        dbs.push((db, tempfile::tempdir().unwrap()));
    }
    dbs
}
