//! PostgreSQL breaks a deadlock by failing one of the transactions in it
//! (with `TEST_DB=postgres`): the store must tell that failure apart, so
//! the victim is run again instead of failing its request, and its message
//! must say what deadlocked.
#![allow(clippy::unwrap_used)]

mod common;

use berth_store::{Db, StoreError};
use common::databases;

#[tokio::test]
async fn a_deadlock_victim_is_told_to_run_again() {
    for (db, _dir) in databases().await {
        let Db::Postgres(pool) = &db else {
            continue;
        };
        sqlx::query("CREATE TABLE deadlock_probe (id INT PRIMARY KEY, n INT NOT NULL)")
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)")
            .execute(pool)
            .await
            .unwrap();
        // Two transactions lock the two rows in opposite orders.
        let mut a = pool.begin().await.unwrap();
        let mut b = pool.begin().await.unwrap();
        let bump = "UPDATE deadlock_probe SET n = n + 1 WHERE id = $1";
        sqlx::query(bump).bind(1).execute(&mut *a).await.unwrap();
        sqlx::query(bump).bind(2).execute(&mut *b).await.unwrap();
        let (ra, rb) = tokio::join!(
            sqlx::query(bump).bind(2).execute(&mut *a),
            sqlx::query(bump).bind(1).execute(&mut *b),
        );
        let victim = match (ra, rb) {
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => StoreError::from(e),
            other => panic!("expected exactly one deadlock victim, got {other:?}"),
        };
        a.rollback().await.unwrap();
        b.rollback().await.unwrap();
        assert!(victim.is_transient(), "{victim}");
        // PostgreSQL's detail names the processes and what they wait for.
        assert!(victim.to_string().contains("waits for"), "{victim}");

        // Any other failure is not.
        let other = StoreError::from(
            sqlx::query("INSERT INTO deadlock_probe VALUES (1, 0)")
                .execute(pool)
                .await
                .unwrap_err(),
        );
        assert!(!other.is_transient(), "{other}");
        // Its detail names the row's key, data the message leaves out.
        assert!(!other.to_string().contains("(id)=(1)"), "{other}");
    }
}
