//! Keys that sign registry tokens, shared by every instance.

use crate::{Db, StoreError, now_ms, on_db};

/// One signing key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    /// Key id (the JWT `kid`).
    pub kid: String,
    /// PKCS#8 private key.
    pub private_der: Vec<u8>,
    /// Raw public key.
    pub public_der: Vec<u8>,
    /// Creation time.
    pub created_ms: i64,
    /// When the key stopped signing, if it has.
    pub retired_ms: Option<i64>,
}

impl Db {
    /// Keys that signed or still sign: unretired ones, and ones retired
    /// after `retired_after_ms`. Newest first.
    pub async fn signing_keys(&self, retired_after_ms: i64) -> Result<Vec<SigningKeyRow>, StoreError> {
        on_db!(self.reader(), pool => {
            Ok(sqlx::query_as(
                "SELECT kid, private_der, public_der, created_ms, retired_ms FROM signing_keys \
                 WHERE retired_ms IS NULL OR retired_ms > $1 ORDER BY created_ms DESC, kid",
            )
            .bind(retired_after_ms)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Add a key and retire every older one, in one transaction.
    pub async fn rotate_signing_key(
        &self,
        kid: &str,
        private_der: &[u8],
        public_der: &[u8],
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self.writer(), pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE signing_keys SET retired_ms = $1 WHERE retired_ms IS NULL")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO signing_keys (kid, private_der, public_der, created_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(kid)
            .bind(private_der)
            .bind(public_der)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Add a key only if no unretired key exists (first start; instances
    /// starting together agree on one). Returns whether it was added.
    pub async fn add_first_signing_key(
        &self,
        kid: &str,
        private_der: &[u8],
        public_der: &[u8],
    ) -> Result<bool, StoreError> {
        on_db!(self.writer(), pool => {
            let done = sqlx::query(
                "INSERT INTO signing_keys (kid, private_der, public_der, created_ms) \
                 SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_ms IS NULL)",
            )
            .bind(kid)
            .bind(private_der)
            .bind(public_der)
            .bind(now_ms())
            .execute(pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }
}
