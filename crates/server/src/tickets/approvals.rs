//! Approvals: requested by an agent or by a category rule; the ticket waits in
//! `pending_approval` until the approvers decide (`any` or `all`); a rejection cancels it.

use std::collections::{BTreeSet, HashMap};

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hdms_api_types::approvals::{
    Approval, ApprovalDecision, ApprovalListQuery, ApprovalRule, ApprovalRuleInput, ApprovalSlot, ApprovalState, Approver,
    CategoryApprovalRule, RequestApproval,
};
use hdms_api_types::tickets::{LinkedTicket, PersonSummary, Status};
use hdms_api_types::{ApiError, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::comms::notifications::{self, Kind, Notice};
use crate::db::{Bind, Db, DynamicSql, Tx};
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::tickets::{api, lifecycle};
use crate::tickets::store::{self, Change, TicketRow};
use crate::tickets::transitions::move_to;
use crate::tickets::visibility::visible_ticket;
use crate::users::auth::AuthUser;
use crate::{bind_all, with_db, with_tx};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_approval, ticket_approvals))
        .routes(routes!(my_approvals))
        .routes(routes!(decide))
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(delete_rule))
}

#[derive(sqlx::FromRow)]
struct ApprovalRow {
    id: Uuid,
    ticket_id: Uuid,
    requested_by: Option<Uuid>,
    rule: String,
    reason: Option<String>,
    state: String,
    created_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct SlotRow {
    id: Uuid,
    approval_id: Uuid,
    user_id: Option<Uuid>,
    role: Option<String>,
    decision: Option<String>,
    decided_by: Option<Uuid>,
    comment: Option<String>,
    decided_at: Option<DateTime<Utc>>,
}

fn rule_of(text: &str) -> ApprovalRule {
    if text == "all" { ApprovalRule::All } else { ApprovalRule::Any }
}

fn state_of(text: &str) -> ApprovalState {
    match text {
        "approved" => ApprovalState::Approved,
        "rejected" => ApprovalState::Rejected,
        _ => ApprovalState::Pending,
    }
}

fn slot(row: SlotRow, people: &HashMap<Uuid, PersonSummary>) -> ApprovalSlot {
    ApprovalSlot {
        id: row.id,
        approver: Approver { user_id: row.user_id, role: row.role.and_then(|r| r.parse().ok()) },
        decision: row.decision.as_deref().map(state_of),
        decided_by: row.decided_by,
        user: row.user_id.and_then(|id| people.get(&id).cloned()),
        decided_by_user: row.decided_by.and_then(|id| people.get(&id).cloned()),
        comment: row.comment,
        decided_at: row.decided_at,
    }
}

/// Approvals with their slots, their tickets' numbers and their people's names: three queries
/// for any number of approvals (as ticket pages name their people, `api::tickets`).
async fn load(db: &Db, rows: Vec<ApprovalRow>) -> Result<Vec<Approval>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut slots_sql = DynamicSql::new(
        "SELECT id, approval_id, user_id, role, decision, decided_by, comment, decided_at FROM approval_slots WHERE approval_id IN (",
    );
    slots_sql.bind_list(rows.iter().map(|r| Bind::Uuid(r.id))).push(") ORDER BY id");
    let slot_rows: Vec<SlotRow> = with_db!(db, pool =>
        bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(slots_sql.sql.clone())), &slots_sql.binds).fetch_all(pool).await?);

    let mut tickets_sql = DynamicSql::new("SELECT id, number, subject, status FROM tickets WHERE id IN (");
    let ticket_ids: BTreeSet<Uuid> = rows.iter().map(|r| r.ticket_id).collect();
    tickets_sql.bind_list(ticket_ids.into_iter().map(Bind::Uuid)).push(")");
    let ticket_rows: Vec<(Uuid, i64, String, String)> = with_db!(db, pool =>
        bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(tickets_sql.sql.clone())), &tickets_sql.binds).fetch_all(pool).await?);
    let tickets: HashMap<Uuid, LinkedTicket> = ticket_rows
        .into_iter()
        .filter_map(|(id, number, subject, status)| {
            Some((id, LinkedTicket { id, number: store::display_number(number), subject, status: status.parse().ok()? }))
        })
        .collect();

    let people_ids: BTreeSet<Uuid> = rows
        .iter()
        .filter_map(|r| r.requested_by)
        .chain(slot_rows.iter().flat_map(|s| s.user_id.into_iter().chain(s.decided_by)))
        .collect();
    let people = api::people(db, people_ids).await?;

    let mut slots: HashMap<Uuid, Vec<ApprovalSlot>> = HashMap::new();
    for row in slot_rows {
        slots.entry(row.approval_id).or_default().push(slot(row, &people));
    }
    Ok(rows
        .into_iter()
        .map(|row| Approval {
            id: row.id,
            ticket_id: row.ticket_id,
            ticket: tickets.get(&row.ticket_id).cloned(),
            requested_by: row.requested_by,
            requested_by_user: row.requested_by.and_then(|id| people.get(&id).cloned()),
            rule: rule_of(&row.rule),
            reason: row.reason,
            state: state_of(&row.state),
            slots: slots.remove(&row.id).unwrap_or_default(),
            created_at: row.created_at,
            decided_at: row.decided_at,
        })
        .collect())
}

async fn check_approvers(db: &Db, approvers: &[Approver]) -> Result<()> {
    if approvers.is_empty() || approvers.len() > 20 {
        return Err(Error::invalid("approvers", "name 1 to 20 approvers"));
    }
    for approver in approvers {
        match (approver.user_id, approver.role) {
            (Some(user), None) => {
                let found = crate::users::store::find_live(db, user).await?;
                if found.is_none_or(|u| u.role == Role::Customer || !u.active) {
                    return Err(Error::invalid("approvers", format!("{user} is not an active staff member")));
                }
            }
            (None, Some(Role::Customer)) => return Err(Error::invalid("approvers", "customers cannot approve")),
            (None, Some(_)) => {}
            _ => return Err(Error::invalid("approvers", "each approver is either a user_id or a role")),
        }
    }
    Ok(())
}

/// Opens an approval on a ticket inside `tx` and moves the ticket to `pending_approval`.
async fn open(
    tx: &mut Tx,
    state: &AppState,
    ticket: &TicketRow,
    request: &RequestApproval,
    requested_by: Uuid,
    now: DateTime<Utc>,
) -> Result<(Uuid, TicketRow)> {
    if !lifecycle::system_may(ticket.status, Status::PendingApproval) {
        return Err(Error::invalid("ticket", format!("a {} ticket cannot wait for approval", ticket.status)));
    }
    let id = Uuid::now_v7();
    with_tx!(tx, conn => {
        sqlx::query("INSERT INTO approvals (id, ticket_id, requested_by, rule, reason, state, return_to, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', 'open', $6)")
            .bind(id).bind(ticket.id).bind(requested_by).bind(request.rule.as_str()).bind(&request.reason).bind(now)
            .execute(&mut *conn).await?;
        for approver in &request.approvers {
            sqlx::query("INSERT INTO approval_slots (id, approval_id, user_id, role) VALUES ($1, $2, $3, $4)")
                .bind(Uuid::now_v7()).bind(id).bind(approver.user_id).bind(approver.role.map(Role::as_str))
                .execute(&mut *conn).await?;
        }
    });
    let mut people: Vec<Uuid> = request.approvers.iter().filter_map(|a| a.user_id).collect();
    for role in request.approvers.iter().filter_map(|a| a.role) {
        people.extend(notifications::users_with_role(tx, role, None).await?);
    }
    people.retain(|p| *p != requested_by);
    people.sort();
    people.dedup();
    let title = format!("Approval requested for {}", store::display_number(ticket.number));
    let notice = Notice { kind: Kind::ApprovalRequested, ticket_id: Some(ticket.id), title: &title, body: &ticket.subject };
    notifications::notify(tx, &people, &notice, now).await?;
    let after = move_to(tx, state, ticket, Status::PendingApproval, Some(requested_by), now).await?;
    Ok((id, after))
}

/// On creation: a ticket whose category has an approval rule waits for that approval. The
/// person who raised the ticket counts as asking, so they cannot approve it themselves.
pub async fn apply_category_rule(tx: &mut Tx, state: &AppState, ticket: TicketRow, now: DateTime<Utc>) -> Result<TicketRow> {
    let Some(category) = ticket.category.clone() else { return Ok(ticket) };
    const SQL: &str = "SELECT rule, approvers FROM approval_rules WHERE lower(category) = $1 AND deleted_at IS NULL";
    let rule: Option<(String, String)> = with_tx!(tx, conn => sqlx::query_as(SQL).bind(&category).fetch_optional(&mut *conn).await?);
    let Some((rule, approvers)) = rule else { return Ok(ticket) };
    let request = RequestApproval {
        approvers: serde_json::from_str(&approvers).map_err(anyhow::Error::from)?,
        rule: rule_of(&rule),
        reason: Some(format!("tickets in category '{category}' need approval")),
    };
    let requester = ticket.requester_id;
    Ok(open(tx, state, &ticket, &request, requester, now).await?.1)
}

/// Ask for approval; the ticket waits in `pending_approval`.
#[utoipa::path(post, path = "/tickets/{id}/approvals", tag = "approvals",
    params(("id" = Uuid, Path)),
    request_body = RequestApproval,
    security(("bearer" = ["approvals.request"])),
    responses((status = 201, body = Approval), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn request_approval(
    State(state): State<AppState>,
    caller: Authorized<can::RequestApprovals>,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<RequestApproval>,
) -> Result<(StatusCode, AppJson<Approval>)> {
    visible_ticket(&state.db, &caller, id).await?;
    check_approvers(&state.db, &request.approvers).await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let ticket = store::load_for_write(&mut tx, id, None).await?;
    let (approval_id, _) = open(&mut tx, &state, &ticket, &request, caller.id(), now).await?;
    crate::events::commit(tx, &state).await?;
    Ok((StatusCode::CREATED, AppJson(approval(&state.db, approval_id).await?)))
}

async fn approval(db: &Db, id: Uuid) -> Result<Approval> {
    const SQL: &str = "SELECT id, ticket_id, requested_by, rule, reason, state, created_at, decided_at FROM approvals WHERE id = $1";
    let row: Option<ApprovalRow> = with_db!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?);
    let row = row.ok_or(Error::NotFound { what: "approval" })?;
    Ok(load(db, vec![row]).await?.pop().expect("one row"))
}

/// The approvals of a ticket, newest last.
#[utoipa::path(get, path = "/tickets/{id}/approvals", tag = "approvals",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["tickets.read"])),
    responses((status = 200, body = Vec<Approval>), (status = 404, body = ApiError)))]
async fn ticket_approvals(State(state): State<AppState>, caller: Authorized<can::ReadTickets>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Vec<Approval>>> {
    visible_ticket(&state.db, &caller, id).await?;
    const SQL: &str = "SELECT id, ticket_id, requested_by, rule, reason, state, created_at, decided_at FROM approvals WHERE ticket_id = $1 ORDER BY id";
    let rows: Vec<ApprovalRow> = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(id).fetch_all(pool).await?);
    Ok(AppJson(load(&state.db, rows).await?))
}

/// Whether this slot is the caller's to decide.
fn is_mine(slot: &ApprovalSlot, caller: &AuthUser) -> bool {
    slot.decision.is_none()
        && (slot.approver.user_id == Some(caller.id()) || (slot.approver.user_id.is_none() && slot.approver.role == Some(caller.role())))
}

/// Approvals waiting on you (`?state=pending`), never your own requests.
#[utoipa::path(get, path = "/approvals", tag = "approvals",
    params(ApprovalListQuery),
    security(("bearer" = ["approvals.decide"])),
    responses((status = 200, body = Vec<Approval>), (status = 422, body = ApiError)))]
async fn my_approvals(
    State(state): State<AppState>,
    caller: Authorized<can::DecideApprovals>,
    AppQuery(query): AppQuery<ApprovalListQuery>,
) -> Result<AppJson<Vec<Approval>>> {
    if query.state.as_deref().is_some_and(|s| s != "pending") {
        return Err(Error::invalid("state", "only `pending` is supported"));
    }
    const SQL: &str = "SELECT DISTINCT a.id, a.ticket_id, a.requested_by, a.rule, a.reason, a.state, a.created_at, a.decided_at         FROM approvals a JOIN approval_slots s ON s.approval_id = a.id         WHERE a.state = 'pending' AND s.decision IS NULL AND (a.requested_by IS NULL OR a.requested_by <> $1)           AND (s.user_id = $1 OR (s.user_id IS NULL AND s.role = $2)) ORDER BY a.id";
    let rows: Vec<ApprovalRow> = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(caller.id()).bind(caller.role().as_str()).fetch_all(pool).await?);
    Ok(AppJson(load(&state.db, rows).await?))
}

/// Approve or reject. When every needed approval is given the ticket returns to `open`; a
/// rejection cancels it with the reason.
#[utoipa::path(post, path = "/approvals/{id}/decision", tag = "approvals",
    params(("id" = Uuid, Path)),
    request_body = ApprovalDecision,
    security(("bearer" = ["approvals.decide"])),
    responses((status = 200, body = Approval), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn decide(
    State(state): State<AppState>,
    caller: Authorized<can::DecideApprovals>,
    AppPath(id): AppPath<Uuid>,
    AppJson(decision): AppJson<ApprovalDecision>,
) -> Result<AppJson<Approval>> {
    let current = approval(&state.db, id).await?;
    visible_ticket(&state.db, &caller, current.ticket_id).await.map_err(|_| Error::NotFound { what: "approval" })?;
    if current.requested_by == Some(caller.id()) {
        return Err(Error::Forbidden { action: "approvals.decide (own request)" });
    }
    if current.state != ApprovalState::Pending {
        return Err(Error::conflict("approval_decided", "this approval has already been decided"));
    }
    let slot = current.slots.iter().find(|s| is_mine(s, &caller)).ok_or(Error::Forbidden { action: "approvals.decide (not an approver)" })?;
    let comment = decision.comment.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if !decision.approve && comment.is_none() {
        return Err(Error::invalid("comment", "say why you reject"));
    }
    let now = Utc::now();
    let verdict = if decision.approve { "approved" } else { "rejected" };
    let mut tx = state.db.begin().await?;
    let claimed = with_tx!(&mut tx, conn => sqlx::query(
        "UPDATE approval_slots SET decision = $1, decided_by = $2, comment = $3, decided_at = $4 WHERE id = $5 AND decision IS NULL")
        .bind(verdict).bind(caller.id()).bind(comment).bind(now).bind(slot.id)
        .execute(&mut *conn).await?.rows_affected());
    if claimed == 0 {
        return Err(Error::conflict("approval_decided", "someone decided this slot at the same moment"));
    }
    let approvals_given = current.slots.iter().filter(|s| s.decision == Some(ApprovalState::Approved)).count() + usize::from(decision.approve);
    let outcome = match (decision.approve, current.rule) {
        (false, _) => Some(ApprovalState::Rejected),
        (true, ApprovalRule::Any) => Some(ApprovalState::Approved),
        (true, ApprovalRule::All) if approvals_given == current.slots.len() => Some(ApprovalState::Approved),
        (true, ApprovalRule::All) => None,
    };
    if let Some(outcome) = outcome {
        let label = if outcome == ApprovalState::Approved { "approved" } else { "rejected" };
        let finished = with_tx!(&mut tx, conn => sqlx::query(
            "UPDATE approvals SET state = $1, decided_at = $2 WHERE id = $3 AND state = 'pending'")
            .bind(label).bind(now).bind(id).execute(&mut *conn).await?.rows_affected());
        if finished == 0 {
            return Err(Error::conflict("approval_decided", "this approval has already been decided"));
        }
        let ticket = store::find_in(&mut tx, current.ticket_id).await?.ok_or(Error::NotFound { what: "ticket" })?;
        let after = if outcome == ApprovalState::Approved { Status::Open } else { Status::Cancelled };
        let reason = match comment {
            Some(comment) => format!("{label}: {comment}"),
            None => label.to_owned(),
        };
        store::record(&mut tx, ticket.id, Some(caller.id()), now, Change { field: "approval", before: None, after: Some(reason.clone()), internal: false }).await?;
        let ticket = if ticket.status == Status::PendingApproval {
            move_to(&mut tx, &state, &ticket, after, Some(caller.id()), now).await?
        } else {
            ticket
        };
        // The approval as it stands once this commits (`approval()` reads outside the transaction).
        let mut decided = current.clone();
        decided.state = outcome;
        decided.decided_at = Some(now);
        if let Some(mine) = decided.slots.iter_mut().find(|s| s.id == slot.id) {
            mine.decision = Some(if decision.approve { ApprovalState::Approved } else { ApprovalState::Rejected });
            mine.decided_by = Some(caller.id());
            mine.comment = comment.map(str::to_owned);
            mine.decided_at = Some(now);
        }
        crate::events::approval_decided(&mut tx, &ticket, decided, now).await?;
        let title = format!("{} was {label}", store::display_number(ticket.number));
        let notice = Notice { kind: Kind::ApprovalDecided, ticket_id: Some(ticket.id), title: &title, body: &reason };
        let told: Vec<Uuid> = current.requested_by.into_iter().chain([ticket.requester_id]).collect();
        notifications::notify(&mut tx, &told, &notice, now).await?;
    }
    crate::events::commit(tx, &state).await?;
    Ok(AppJson(approval(&state.db, id).await?))
}

// --- category rules ------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: Uuid,
    category: String,
    rule: String,
    approvers: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<RuleRow> for CategoryApprovalRule {
    type Error = Error;

    fn try_from(r: RuleRow) -> Result<Self> {
        Ok(CategoryApprovalRule {
            id: r.id,
            category: r.category,
            rule: rule_of(&r.rule),
            approvers: serde_json::from_str(&r.approvers).map_err(anyhow::Error::from)?,
            created_at: r.created_at,
        })
    }
}

/// The categories that need approval.
#[utoipa::path(get, path = "/approval-rules", tag = "approvals",
    security(("bearer" = ["approvals.rules"])),
    responses((status = 200, body = Vec<CategoryApprovalRule>)))]
async fn list_rules(State(state): State<AppState>, _caller: Authorized<can::ManageApprovalRules>) -> Result<AppJson<Vec<CategoryApprovalRule>>> {
    const SQL: &str = "SELECT id, category, rule, approvers, created_at FROM approval_rules WHERE deleted_at IS NULL ORDER BY category";
    let rows: Vec<RuleRow> = with_db!(&state.db, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
    Ok(AppJson(rows.into_iter().map(CategoryApprovalRule::try_from).collect::<Result<_>>()?))
}

/// Require approval for new tickets of a category (admins).
#[utoipa::path(post, path = "/approval-rules", tag = "approvals",
    request_body = ApprovalRuleInput,
    security(("bearer" = ["approvals.rules"])),
    responses((status = 201, body = CategoryApprovalRule), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn create_rule(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageApprovalRules>,
    AppJson(input): AppJson<ApprovalRuleInput>,
) -> Result<(StatusCode, AppJson<CategoryApprovalRule>)> {
    let category = input.category.trim().to_lowercase();
    if category.is_empty() {
        return Err(Error::invalid("category", "is empty"));
    }
    check_approvers(&state.db, &input.approvers).await?;
    let row = RuleRow {
        id: Uuid::now_v7(),
        category,
        rule: input.rule.as_str().to_owned(),
        approvers: serde_json::to_string(&input.approvers).map_err(anyhow::Error::from)?,
        created_at: Utc::now(),
    };
    const SQL: &str = "INSERT INTO approval_rules (id, category, rule, approvers, created_at) VALUES ($1, $2, $3, $4, $5)";
    let inserted = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL)
        .bind(row.id).bind(&row.category).bind(&row.rule).bind(&row.approvers).bind(row.created_at)
        .execute(pool).await.map(|r| r.rows_affected()));
    match inserted {
        Ok(_) => Ok((StatusCode::CREATED, AppJson(row.try_into()?))),
        Err(err) if crate::db::is_unique_violation(&err) => Err(Error::conflict("rule_exists", "that category already has a rule")),
        Err(err) => Err(err.into()),
    }
}

/// Stop requiring approval for a category (admins).
#[utoipa::path(delete, path = "/approval-rules/{id}", tag = "approvals",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["approvals.rules"])),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_rule(State(state): State<AppState>, _caller: Authorized<can::ManageApprovalRules>, AppPath(id): AppPath<Uuid>) -> Result<StatusCode> {
    const SQL: &str = "UPDATE approval_rules SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL";
    let updated = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(Utc::now()).bind(id).execute(pool).await?.rows_affected());
    if updated == 0 {
        return Err(Error::NotFound { what: "approval rule" });
    }
    Ok(StatusCode::NO_CONTENT)
}
