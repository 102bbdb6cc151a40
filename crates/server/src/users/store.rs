//! User rows: the queries shared by authentication and account management.

use chrono::{DateTime, Utc};
use hdms_api_types::Role;
use hdms_api_types::users::User;
use uuid::Uuid;

use crate::db::Db;
use crate::error::Result;
use crate::with_db;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub phone: Option<String>,
    pub locale: Option<String>,
    pub external_id: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            email: row.email,
            name: row.name,
            role: row.role,
            phone: row.phone,
            locale: row.locale,
            external_id: row.external_id,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
            last_login_at: row.last_login_at,
        }
    }
}

/// The columns of [`UserRow`], as a literal for `concat!` (queries must be `&'static str`).
/// With a table alias (`user_columns!("u.")`) for joins.
macro_rules! user_columns {
    () => {
        user_columns!("")
    };
    ($alias:literal) => {
        concat!(
            $alias, "id, ", $alias, "email, ", $alias, "name, ", $alias, "role, ", $alias, "phone, ",
            $alias, "locale, ", $alias, "external_id, ",
            $alias, "active, ", $alias, "created_at, ", $alias, "updated_at, ", $alias, "deleted_at, ", $alias, "last_login_at"
        )
    };
}
pub(crate) use user_columns;

/// A live user's row by id (deleted users are not found).
pub async fn find_live(db: &Db, id: Uuid) -> Result<Option<UserRow>> {
    const SQL: &str =
        concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1 AND deleted_at IS NULL");
    Ok(with_db!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?))
}

/// A user's row by id, deleted or not.
pub async fn find_any(db: &Db, id: Uuid) -> Result<Option<UserRow>> {
    const SQL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
    Ok(with_db!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?))
}

#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: Uuid,
    pub password_hash: Option<String>,
    pub active: bool,
}

/// The login credentials of the live user with this (normalised) email.
pub async fn credentials_by_email(db: &Db, email: &str) -> Result<Option<Credentials>> {
    const SQL: &str =
        "SELECT id, password_hash, active FROM users WHERE email = $1 AND deleted_at IS NULL";
    Ok(with_db!(db, pool => sqlx::query_as(SQL).bind(email).fetch_optional(pool).await?))
}

/// How many live, active admins there are (the last one may not be demoted or removed).
pub async fn count_active_admins(db: &Db) -> Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM users \
                       WHERE role = 'admin' AND active AND deleted_at IS NULL";
    Ok(with_db!(db, pool => sqlx::query_scalar(SQL).fetch_one(pool).await?))
}

/// Emails are compared in lower case, with surrounding blanks removed.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}
