//! Who sees which ticket. A ticket one may not see answers 404, exactly like one that does not
//! exist, so its existence is never confirmed.

use hdms_api_types::Role;
use uuid::Uuid;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::tickets::api::{self, TicketView};
use crate::tickets::store::{self, TicketRow};
use crate::users::auth::AuthUser;
use crate::with_db;

/// The teams a user belongs to.
pub async fn teams_of(db: &Db, user_id: Uuid) -> Result<Vec<Uuid>> {
    const SQL: &str = "SELECT team_id FROM team_members WHERE user_id = $1";
    Ok(with_db!(db, pool => sqlx::query_scalar(SQL).bind(user_id).fetch_all(pool).await?))
}

/// Customers see their own tickets; agents their teams' tickets, tickets not yet given to a
/// team (the triage queue) and tickets assigned to them; supervisors and admins see all.
pub fn may_see(caller: &AuthUser, caller_teams: &[Uuid], ticket: &TicketRow) -> bool {
    user_may_see(caller.id(), caller.role(), caller_teams, ticket)
}

/// The same rule for any user, not only the caller (e.g. whom a notification may reach).
pub fn user_may_see(user_id: Uuid, role: Role, teams: &[Uuid], ticket: &TicketRow) -> bool {
    audience_includes(user_id, role, teams, &Audience::of(ticket))
}

/// What decides who sees a ticket: its requester, assignee and team. The live queue feed keeps
/// a ticket's audience from before a change to tell people it left their view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Audience {
    pub requester_id: Uuid,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
}

impl Audience {
    pub fn of(ticket: &TicketRow) -> Audience {
        Audience { requester_id: ticket.requester_id, assignee_id: ticket.assignee_id, team_id: ticket.team_id }
    }
}

/// The rule itself (`crud::visibility_filter` is its SQL form for lists).
pub fn audience_includes(user_id: Uuid, role: Role, teams: &[Uuid], audience: &Audience) -> bool {
    match role {
        Role::Customer => audience.requester_id == user_id,
        Role::Agent => audience.assignee_id == Some(user_id) || audience.team_id.is_none_or(|team| teams.contains(&team)),
        Role::Supervisor | Role::Admin => true,
    }
}

/// A live ticket the caller may see, or 404.
pub async fn visible_ticket(db: &Db, caller: &AuthUser, id: Uuid) -> Result<TicketRow> {
    let ticket = store::find(db, id).await?;
    check_visible(db, caller, ticket).await
}

/// The same with what its answer shows beside it, in the same query (reads of one ticket).
pub async fn visible_ticket_view(db: &Db, caller: &AuthUser, id: Uuid) -> Result<TicketView> {
    let Some(view) = api::find_view(db, id).await? else { return Err(Error::NotFound { what: "ticket" }) };
    check_visible(db, caller, Some(&view.row)).await?;
    Ok(view)
}

/// Ok if the caller may see this live ticket (read by the caller, e.g. inside a write), else 404.
pub async fn ensure_visible(db: &Db, caller: &AuthUser, ticket: &TicketRow) -> Result<()> {
    check_visible(db, caller, Some(ticket)).await.map(drop)
}

/// `ticket` if it is live and the caller may see it, else 404.
async fn check_visible<T: std::borrow::Borrow<TicketRow>>(db: &Db, caller: &AuthUser, ticket: Option<T>) -> Result<T> {
    let ticket = ticket.filter(|t| t.borrow().deleted_at.is_none()).ok_or(Error::NotFound { what: "ticket" })?;
    let teams = if caller.role() == Role::Agent { teams_of(db, caller.id()).await? } else { Vec::new() };
    if may_see(caller, &teams, ticket.borrow()) {
        Ok(ticket)
    } else {
        Err(Error::NotFound { what: "ticket" })
    }
}

/// Whether the caller is staff (may see internal notes and internal history).
pub fn is_staff(caller: &AuthUser) -> bool {
    caller.role() != Role::Customer
}
