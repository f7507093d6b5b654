//! Whether the database answers (the health check).

use crate::{Db, StoreError, on_db};

impl Db {
    /// Run a trivial query on a reader connection.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_db!(self.reader(), pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }
}
