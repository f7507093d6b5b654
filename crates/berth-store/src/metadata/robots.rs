//! Robot accounts: creation with their metadata, and the metadata itself.
//! The accounts themselves live in `accounts`.

use super::accounts::{NewAccount, is_unique_violation};
use crate::{Db, StoreError, now_ms, on_db};

impl Db {
    /// Create a robot account and, if given, its metadata (JSON text) in
    /// one transaction; `Err(StoreError::Exists)` if the name is taken.
    pub async fn create_robot(
        &self,
        new: &NewAccount<'_>,
        metadata: Option<&str>,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            let row: Result<(i64,), sqlx::Error> = sqlx::query_as(
                "INSERT INTO accounts (name, kind, secret_hash, owner_id, description, created_ms) \
                 VALUES ($1, 'robot', $2, $3, $4, $5) RETURNING id",
            )
            .bind(new.name)
            .bind(new.secret_hash)
            .bind(new.owner_id)
            .bind(new.description)
            .bind(now)
            .fetch_one(&mut *tx)
            .await;
            let id = match row {
                Ok((id,)) => id,
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Exists(new.name.to_owned())),
                Err(e) => return Err(e.into()),
            };
            if let Some(metadata) = metadata {
                sqlx::query("INSERT INTO robot_metadata (account_id, metadata) VALUES ($1, $2)")
                    .bind(id)
                    .bind(metadata)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    /// The metadata (JSON text) of a robot, if it has any.
    pub async fn robot_metadata(&self, account_id: i64) -> Result<Option<String>, StoreError> {
        on_db!(self.reader(), pool => {
            let row: Option<(String,)> = sqlx::query_as("SELECT metadata FROM robot_metadata WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(pool)
                .await?;
            Ok(row.map(|r| r.0))
        })
    }
}
