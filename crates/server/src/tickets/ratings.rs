//! Satisfaction ratings: once a ticket is resolved (or closed), its requester may rate how it
//! was handled, good or bad, with a comment. Rating again replaces the rating; the history keeps
//! each one. Supervisors see the counts in the team metrics.

use axum::extract::State;
use chrono::{DateTime, Utc};
use hdms_api_types::ApiError;
use hdms_api_types::tickets::{RateTicket, Satisfaction, Status, TicketRating};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::tickets::store::{self, Change};
use crate::tickets::visibility::visible_ticket;
use crate::{with_db, with_tx};

/// Longest rating comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ticket_rating, rate_ticket))
}

#[derive(sqlx::FromRow)]
struct RatingRow {
    ticket_id: Uuid,
    user_id: Uuid,
    #[sqlx(try_from = "String")]
    score: Satisfaction,
    comment: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<RatingRow> for TicketRating {
    fn from(row: RatingRow) -> Self {
        TicketRating {
            ticket_id: row.ticket_id,
            rated_by: row.user_id,
            score: row.score,
            comment: row.comment,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A ticket's satisfaction rating, for anyone who can see the ticket.
#[utoipa::path(get, path = "/tickets/{id}/rating", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["tickets.read"])),
    responses((status = 200, body = TicketRating), (status = 404, description = "No such ticket, or not rated", body = ApiError)))]
async fn ticket_rating(State(state): State<AppState>, caller: Authorized<can::ReadTickets>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<TicketRating>> {
    visible_ticket(&state.db, &caller, id).await?;
    const SQL: &str = "SELECT ticket_id, user_id, score, comment, created_at, updated_at FROM ticket_ratings WHERE ticket_id = $1";
    let row: Option<RatingRow> = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?);
    row.map(|row| AppJson(row.into())).ok_or(Error::NotFound { what: "rating" })
}

/// Rate your resolved or closed ticket good or bad, with an optional comment. Rating again
/// replaces the rating.
#[utoipa::path(put, path = "/tickets/{id}/rating", tag = "tickets",
    params(("id" = Uuid, Path)),
    request_body = RateTicket,
    security(("bearer" = ["tickets.rate"])),
    responses(
        (status = 200, body = TicketRating),
        (status = 403, description = "Only the requester rates a ticket", body = ApiError),
        (status = 404, body = ApiError),
        (status = 422, description = "Not resolved yet, or the comment is too long", body = ApiError),
    ))]
async fn rate_ticket(
    State(state): State<AppState>,
    caller: Authorized<can::RateTickets>,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<RateTicket>,
) -> Result<AppJson<TicketRating>> {
    let ticket = visible_ticket(&state.db, &caller, id).await?;
    if ticket.requester_id != caller.id() {
        return Err(Error::Forbidden { action: "tickets.rate (not the requester)" });
    }
    if !matches!(ticket.status, Status::Resolved | Status::Closed) {
        return Err(Error::invalid("score", format!("the ticket is {}; it can be rated once it is resolved", ticket.status)));
    }
    let comment = request.comment.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned);
    if comment.as_ref().is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
        return Err(Error::invalid("comment", format!("must be at most {MAX_COMMENT_CHARS} characters")));
    }
    let now = Utc::now();
    const UPSERT: &str = "INSERT INTO ticket_ratings (ticket_id, user_id, score, comment, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $5) \
        ON CONFLICT (ticket_id) DO UPDATE SET score = excluded.score, comment = excluded.comment, updated_at = excluded.updated_at \
        RETURNING ticket_id, user_id, score, comment, created_at, updated_at";
    const BEFORE: &str = "SELECT score FROM ticket_ratings WHERE ticket_id = $1";
    let mut tx = state.db.begin().await?;
    let before: Option<String> = with_tx!(&mut tx, conn => sqlx::query_scalar(BEFORE).bind(id).fetch_optional(&mut *conn).await?);
    let row: RatingRow = with_tx!(&mut tx, conn => sqlx::query_as(UPSERT)
        .bind(id).bind(caller.id()).bind(request.score.as_str()).bind(&comment).bind(now)
        .fetch_one(&mut *conn).await?);
    let change = Change { field: "rating", before, after: Some(request.score.as_str().to_owned()), internal: false };
    store::record(&mut tx, id, Some(caller.id()), now, change).await?;
    tx.commit().await?;
    Ok(AppJson(row.into()))
}
