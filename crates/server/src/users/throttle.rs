//! Failed-login throttling, per email, over a sliding window kept in the database so that every
//! server instance counts the same attempts.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::state::AppState;
use crate::with_db;

/// Answers 429 (with the seconds until the oldest counted failure leaves the window) when the
/// email has reached the limit.
pub async fn check(state: &AppState, email: &str) -> Result<()> {
    let window = chrono::Duration::from_std(state.config.login_window()).map_err(anyhow::Error::from)?;
    let since = Utc::now() - window;
    const SQL: &str = "SELECT COUNT(*), MIN(attempted_at) FROM login_failures \
                       WHERE email = $1 AND attempted_at > $2";
    let (failures, oldest): (i64, Option<DateTime<Utc>>) =
        with_db!(&state.db, pool => sqlx::query_as(SQL).bind(email).bind(since).fetch_one(pool).await?);
    if failures < i64::from(state.config.login_max_failures) {
        return Ok(());
    }
    let retry_at = oldest.unwrap_or_else(Utc::now) + window;
    let retry_after_secs = u64::try_from((retry_at - Utc::now()).num_seconds()).unwrap_or(1);
    Err(Error::TooManyRequests { retry_after_secs })
}

pub async fn record_failure(state: &AppState, email: &str) -> Result<()> {
    let now = Utc::now();
    let window = chrono::Duration::from_std(state.config.login_window()).map_err(anyhow::Error::from)?;
    crate::with_db_writing!(&state.db, pool => {
        let mut tx = pool.begin().await?;
        // Forget failures that have left the window, so the table stays small.
        sqlx::query("DELETE FROM login_failures WHERE email = $1 AND attempted_at <= $2")
            .bind(email)
            .bind(now - window)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO login_failures (id, email, attempted_at) VALUES ($1, $2, $3)")
            .bind(Uuid::now_v7())
            .bind(email)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(())
}

pub async fn clear(state: &AppState, email: &str) -> Result<()> {
    crate::with_db_writing!(&state.db, pool => sqlx::query("DELETE FROM login_failures WHERE email = $1")
        .bind(email)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(())
}
