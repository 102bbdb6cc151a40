//! Rule rows: stored with their trigger, conditions and actions as JSON, read back checked.

use chrono::{DateTime, Utc};
use hdms_api_types::rules::{Rule, RuleConditions, RuleTrigger};
use hdms_api_types::tickets::TicketActions;
use uuid::Uuid;

use crate::db::{Db, Tx};
use crate::error::{Error, Result};
use crate::{with_db, with_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RuleRow {
    pub id: Uuid,
    pub name: String,
    pub position: i64,
    pub enabled: bool,
    pub trigger_on: String,
    pub trigger_json: String,
    pub conditions: String,
    pub actions: String,
    pub disabled_reason: Option<String>,
    pub time_cursor: Option<Uuid>,
    pub last_fired_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

pub const COLUMNS: &str = "id, name, position, enabled, trigger_on, trigger_json, conditions, actions, disabled_reason, \
                           time_cursor, last_fired_at, created_by, created_at, updated_at";

/// A rule as the engine uses it: parsed once per run.
#[derive(Debug, Clone)]
pub struct LoadedRule {
    pub id: Uuid,
    pub name: String,
    pub created_by: Option<Uuid>,
    pub time_cursor: Option<Uuid>,
    pub trigger: RuleTrigger,
    pub conditions: RuleConditions,
    pub actions: TicketActions,
}

fn unreadable(id: Uuid, e: serde_json::Error) -> Error {
    Error::Internal(anyhow::anyhow!("rule {id} is stored unreadable: {e}"))
}

impl RuleRow {
    pub fn load(&self) -> Result<LoadedRule> {
        Ok(LoadedRule {
            id: self.id,
            name: self.name.clone(),
            created_by: self.created_by,
            time_cursor: self.time_cursor,
            trigger: serde_json::from_str(&self.trigger_json).map_err(|e| unreadable(self.id, e))?,
            conditions: serde_json::from_str(&self.conditions).map_err(|e| unreadable(self.id, e))?,
            actions: serde_json::from_str(&self.actions).map_err(|e| unreadable(self.id, e))?,
        })
    }

    pub fn view(&self) -> Result<Rule> {
        let loaded = self.load()?;
        Ok(Rule {
            id: self.id,
            name: self.name.clone(),
            position: self.position,
            enabled: self.enabled,
            trigger: loaded.trigger,
            conditions: loaded.conditions,
            actions: loaded.actions,
            disabled_reason: self.disabled_reason.clone(),
            last_fired_at: self.last_fired_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(e.into()))
}

pub async fn all(db: &Db) -> Result<Vec<RuleRow>> {
    let sql = format!("SELECT {COLUMNS} FROM rules ORDER BY position, id");
    Ok(with_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?))
}

pub async fn find(db: &Db, id: Uuid) -> Result<RuleRow> {
    let sql = format!("SELECT {COLUMNS} FROM rules WHERE id = $1");
    let row: Option<RuleRow> = with_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?);
    row.ok_or(Error::NotFound { what: "rule" })
}

/// The enabled event rules, in order, read in the transaction of the change.
pub async fn event_rules(tx: &mut Tx) -> Result<Vec<LoadedRule>> {
    const SQL: &str = "SELECT id, name, position, enabled, trigger_on, trigger_json, conditions, actions, disabled_reason, \
                       time_cursor, last_fired_at, created_by, created_at, updated_at \
                       FROM rules WHERE enabled AND trigger_on <> 'time' ORDER BY position, id";
    let rows: Vec<RuleRow> = with_tx!(tx, conn => sqlx::query_as(SQL).fetch_all(&mut *conn).await?);
    rows.iter().map(RuleRow::load).collect()
}

/// The enabled time rules, in order.
pub async fn time_rules(db: &Db) -> Result<Vec<LoadedRule>> {
    const SQL: &str = "SELECT id, name, position, enabled, trigger_on, trigger_json, conditions, actions, disabled_reason, \
                       time_cursor, last_fired_at, created_by, created_at, updated_at \
                       FROM rules WHERE enabled AND trigger_on = 'time' ORDER BY position, id";
    let rows: Vec<RuleRow> = with_db!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
    rows.iter().map(RuleRow::load).collect()
}

pub async fn insert(db: &Db, row: &RuleRow) -> Result<()> {
    const SQL: &str = "INSERT INTO rules (id, name, position, enabled, trigger_on, trigger_json, conditions, actions, created_by, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    crate::with_db_writing!(db, pool => sqlx::query(SQL).bind(row.id).bind(&row.name).bind(row.position).bind(row.enabled).bind(&row.trigger_on)
        .bind(&row.trigger_json).bind(&row.conditions).bind(&row.actions).bind(row.created_by).bind(row.created_at)
        .execute(pool).await?.rows_affected());
    Ok(())
}

pub async fn update(db: &Db, row: &RuleRow) -> Result<()> {
    const SQL: &str = "UPDATE rules SET name = $1, position = $2, enabled = $3, trigger_on = $4, trigger_json = $5, conditions = $6, \
                       actions = $7, disabled_reason = $8, updated_at = $9, time_cursor = NULL WHERE id = $10";
    let updated = crate::with_db_writing!(db, pool => sqlx::query(SQL).bind(&row.name).bind(row.position).bind(row.enabled).bind(&row.trigger_on)
        .bind(&row.trigger_json).bind(&row.conditions).bind(&row.actions).bind(&row.disabled_reason).bind(row.updated_at).bind(row.id)
        .execute(pool).await?.rows_affected());
    if updated == 0 {
        return Err(Error::NotFound { what: "rule" });
    }
    Ok(())
}

pub async fn delete(db: &Db, id: Uuid) -> Result<()> {
    let deleted = crate::with_db_writing!(db, pool => sqlx::query("DELETE FROM rules WHERE id = $1").bind(id).execute(pool).await?.rows_affected());
    if deleted == 0 {
        return Err(Error::NotFound { what: "rule" });
    }
    Ok(())
}

/// The position after the last rule.
pub async fn next_position(db: &Db) -> Result<i64> {
    let last: Option<i64> = with_db!(db, pool => sqlx::query_scalar("SELECT MAX(position) FROM rules").fetch_one(pool).await?);
    Ok(last.map_or(1, |p| p + 1))
}

/// Turns a rule off in `tx`, saying why.
pub async fn disable(tx: &mut Tx, id: Uuid, reason: &str, now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "UPDATE rules SET enabled = FALSE, disabled_reason = $1, updated_at = $2 WHERE id = $3";
    with_tx!(tx, conn => sqlx::query(SQL).bind(reason).bind(now).bind(id).execute(&mut *conn).await?.rows_affected());
    Ok(())
}

pub async fn fired(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<()> {
    with_tx!(tx, conn => sqlx::query("UPDATE rules SET last_fired_at = $1 WHERE id = $2").bind(now).bind(id).execute(&mut *conn).await?.rows_affected());
    Ok(())
}
