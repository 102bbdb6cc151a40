//! Teams of agents, with soft delete and restore.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hdms_api_types::ApiError;
use hdms_api_types::teams::{CreateTeam, Team, TeamListQuery, UpdateTeam};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::db::{Db, is_unique_violation};
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::permissions::{Action, Authorized, can};
use crate::state::AppState;
use crate::users::{store, validate};
use crate::with_db;

#[derive(sqlx::FromRow)]
struct TeamRow {
    id: Uuid,
    name: String,
    description: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

macro_rules! team_columns {
    () => {
        "id, name, description, created_at, updated_at, deleted_at"
    };
}

impl TeamRow {
    fn into_team(self, members: Vec<Uuid>) -> Team {
        Team {
            id: self.id,
            name: self.name,
            description: self.description,
            members,
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted_at: self.deleted_at,
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, update_team, delete_team))
        .routes(routes!(restore_team))
        .routes(routes!(add_member, remove_member))
}

/// (team, user) pairs of live users: of one team, or of every team when `team` is `None`.
/// Whether a live (not deleted) team has this id.
pub async fn is_live(db: &Db, id: Uuid) -> Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM teams WHERE id = $1 AND deleted_at IS NULL";
    let found: i64 = with_db!(db, pool => sqlx::query_scalar(SQL).bind(id).fetch_one(pool).await?);
    Ok(found > 0)
}

async fn memberships(db: &Db, team: Option<Uuid>) -> Result<Vec<(Uuid, Uuid)>> {
    const SQL: &str = "SELECT m.team_id, m.user_id FROM team_members m JOIN users u ON u.id = m.user_id \
                       WHERE u.deleted_at IS NULL AND ($1 IS NULL OR m.team_id = $1) \
                       ORDER BY m.team_id, m.user_id";
    Ok(with_db!(db, pool => sqlx::query_as(SQL).bind(team).fetch_all(pool).await?))
}

async fn team_with_members(db: &Db, row: TeamRow) -> Result<Team> {
    let members = memberships(db, Some(row.id)).await?.into_iter().map(|(_, user)| user).collect();
    Ok(row.into_team(members))
}

async fn find_team(db: &Db, id: Uuid, include_deleted: bool) -> Result<TeamRow> {
    const SQL: &str = concat!("SELECT ", team_columns!(), " FROM teams WHERE id = $1 AND ($2 OR deleted_at IS NULL)");
    let row: Option<TeamRow> =
        with_db!(db, pool => sqlx::query_as(SQL).bind(id).bind(include_deleted).fetch_optional(pool).await?);
    row.ok_or(Error::NotFound { what: "team" })
}

/// List teams by name, with their members.
#[utoipa::path(get, path = "/teams", tag = "teams",
    params(TeamListQuery),
    security(("bearer" = ["teams.read"])),
    responses((status = 200, body = Vec<Team>)))]
async fn list_teams(
    State(state): State<AppState>,
    caller: Authorized<can::ReadTeams>,
    AppQuery(query): AppQuery<TeamListQuery>,
) -> Result<AppJson<Vec<Team>>> {
    let deleted = query.deleted.unwrap_or(false);
    if deleted {
        caller.require(Action::ManageTeams)?;
    }
    const SQL: &str = concat!(
        "SELECT ", team_columns!(), " FROM teams \
         WHERE ($1 AND deleted_at IS NOT NULL) OR (NOT $1 AND deleted_at IS NULL) ORDER BY lower(name)"
    );
    let rows: Vec<TeamRow> = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(deleted).fetch_all(pool).await?);
    let members = memberships(&state.db, None).await?;
    let teams = rows
        .into_iter()
        .map(|row| {
            let ids = members.iter().filter(|(team, _)| *team == row.id).map(|(_, user)| *user).collect();
            row.into_team(ids)
        })
        .collect();
    Ok(AppJson(teams))
}

/// Create a team (admins).
#[utoipa::path(post, path = "/teams", tag = "teams",
    request_body = CreateTeam,
    security(("bearer" = ["teams.manage"])),
    responses((status = 201, body = Team), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn create_team(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageTeams>,
    AppJson(request): AppJson<CreateTeam>,
) -> Result<(StatusCode, AppJson<Team>)> {
    let name = validate::field("name", validate::name(&request.name))?;
    let description = request.description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    const SQL: &str = concat!(
        "INSERT INTO teams (id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING ",
        team_columns!()
    );
    let row: TeamRow = crate::with_db_writing!(&state.db, pool => sqlx::query_as(SQL)
        .bind(Uuid::now_v7())
        .bind(&name)
        .bind(&description)
        .bind(Utc::now())
        .fetch_one(pool)
        .await
        .map_err(|err| name_conflict(err, &name))?);
    Ok((StatusCode::CREATED, AppJson(row.into_team(Vec::new()))))
}

/// Read one team. Admins also see deleted teams.
#[utoipa::path(get, path = "/teams/{id}", tag = "teams",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["teams.read"])),
    responses((status = 200, body = Team), (status = 404, body = ApiError)))]
async fn get_team(State(state): State<AppState>, caller: Authorized<can::ReadTeams>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Team>> {
    let row = find_team(&state.db, id, Action::ManageTeams.allows(caller.role())).await?;
    Ok(AppJson(team_with_members(&state.db, row).await?))
}

/// Rename a team or change its description (admins).
#[utoipa::path(patch, path = "/teams/{id}", tag = "teams",
    params(("id" = Uuid, Path)),
    request_body = UpdateTeam,
    security(("bearer" = ["teams.manage"])),
    responses((status = 200, body = Team), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn update_team(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageTeams>,
    AppPath(id): AppPath<Uuid>,
    AppJson(update): AppJson<UpdateTeam>,
) -> Result<AppJson<Team>> {
    let current = find_team(&state.db, id, false).await?;
    let name = update.name.as_deref().map(validate::name).transpose();
    let name = validate::field("name", name)?.unwrap_or(current.name);
    let description = match update.description {
        Some(d) => Some(d.trim().to_owned()).filter(|d| !d.is_empty()),
        None => current.description,
    };
    const SQL: &str = concat!(
        "UPDATE teams SET name = $1, description = $2, updated_at = $3 WHERE id = $4 AND deleted_at IS NULL RETURNING ",
        team_columns!()
    );
    let row: Option<TeamRow> = crate::with_db_writing!(&state.db, pool => sqlx::query_as(SQL)
        .bind(&name)
        .bind(&description)
        .bind(Utc::now())
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(|err| name_conflict(err, &name))?);
    let row = row.ok_or(Error::NotFound { what: "team" })?;
    Ok(AppJson(team_with_members(&state.db, row).await?))
}

/// Soft-delete a team (admins).
#[utoipa::path(delete, path = "/teams/{id}", tag = "teams",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["teams.manage"])),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_team(State(state): State<AppState>, _caller: Authorized<can::ManageTeams>, AppPath(id): AppPath<Uuid>) -> Result<StatusCode> {
    const SQL: &str = "UPDATE teams SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL";
    let affected = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(Utc::now()).bind(id).execute(pool).await?.rows_affected());
    if affected == 0 {
        return Err(Error::NotFound { what: "team" });
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Restore a soft-deleted team (admins). 409 if a live team has taken its name meanwhile.
#[utoipa::path(post, path = "/teams/{id}/restore", tag = "teams",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["teams.manage"])),
    responses((status = 200, body = Team), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn restore_team(State(state): State<AppState>, _caller: Authorized<can::ManageTeams>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Team>> {
    let deleted = find_team(&state.db, id, true).await?;
    if deleted.deleted_at.is_none() {
        return Err(Error::NotFound { what: "deleted team" });
    }
    const SQL: &str = concat!(
        "UPDATE teams SET deleted_at = NULL, updated_at = $1 WHERE id = $2 AND deleted_at IS NOT NULL RETURNING ",
        team_columns!()
    );
    let row: Option<TeamRow> = crate::with_db_writing!(&state.db, pool => sqlx::query_as(SQL)
        .bind(Utc::now())
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(|err| name_conflict(err, &deleted.name))?);
    let row = row.ok_or(Error::NotFound { what: "deleted team" })?;
    Ok(AppJson(team_with_members(&state.db, row).await?))
}

/// Add a user to a team (supervisors and admins). Adding a member twice is not an error.
#[utoipa::path(put, path = "/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    security(("bearer" = ["teams.members"])),
    responses((status = 200, body = Team), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn add_member(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageTeamMembers>,
    AppPath((id, user_id)): AppPath<(Uuid, Uuid)>,
) -> Result<AppJson<Team>> {
    let team = find_team(&state.db, id, false).await?;
    let user = store::find_live(&state.db, user_id).await?.ok_or(Error::NotFound { what: "user" })?;
    if user.role == hdms_api_types::Role::Customer {
        return Err(Error::invalid("user_id", "customers cannot be team members"));
    }
    const SQL: &str = "INSERT INTO team_members (team_id, user_id, added_at) VALUES ($1, $2, $3) \
                       ON CONFLICT (team_id, user_id) DO NOTHING";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(id).bind(user_id).bind(Utc::now()).execute(pool).await?.rows_affected());
    Ok(AppJson(team_with_members(&state.db, team).await?))
}

/// Remove a user from a team (supervisors and admins).
#[utoipa::path(delete, path = "/teams/{id}/members/{user_id}", tag = "teams",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    security(("bearer" = ["teams.members"])),
    responses((status = 200, body = Team), (status = 404, body = ApiError)))]
async fn remove_member(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageTeamMembers>,
    AppPath((id, user_id)): AppPath<(Uuid, Uuid)>,
) -> Result<AppJson<Team>> {
    let team = find_team(&state.db, id, false).await?;
    const SQL: &str = "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2";
    let affected = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(id).bind(user_id).execute(pool).await?.rows_affected());
    if affected == 0 {
        return Err(Error::NotFound { what: "team member" });
    }
    Ok(AppJson(team_with_members(&state.db, team).await?))
}

fn name_conflict(err: sqlx::Error, name: &str) -> Error {
    if is_unique_violation(&err) {
        Error::conflict("team_name_taken", format!("a team named '{name}' already exists"))
    } else {
        err.into()
    }
}
