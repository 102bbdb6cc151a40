//! Notifications for people, stored per user. Written inside the transaction of the change that
//! causes them, so a notification exists exactly when its cause does; pushed live through the
//! hub, and listed and marked read over REST (`inbox`).

use chrono::{DateTime, Utc};
use hdms_api_types::Role;
use uuid::Uuid;

use crate::comms::hub::{self, Signal};
use crate::db::Tx;
use crate::error::Result;
use crate::with_tx;

/// What happened, as stored in `notifications.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Assigned,
    ApprovalRequested,
    ApprovalDecided,
    SlaWarning,
    SlaBreach,
    AttachmentInfected,
    Mention,
    NewReply,
    ImportFinished,
    /// An automation rule's notification, or a rule that failed and was turned off (admins).
    Rule,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Assigned => "assigned",
            Kind::ApprovalRequested => "approval_requested",
            Kind::ApprovalDecided => "approval_decided",
            Kind::SlaWarning => "sla_warning",
            Kind::SlaBreach => "sla_breach",
            Kind::AttachmentInfected => "attachment_infected",
            Kind::Mention => "mention",
            Kind::NewReply => "new_reply",
            Kind::ImportFinished => "import_finished",
            Kind::Rule => "rule",
        }
    }

    pub const ALL: &'static [Kind] = &[
        Kind::Assigned,
        Kind::NewReply,
        Kind::Mention,
        Kind::ApprovalRequested,
        Kind::ApprovalDecided,
        Kind::SlaWarning,
        Kind::SlaBreach,
        Kind::ImportFinished,
        Kind::AttachmentInfected,
        Kind::Rule,
    ];

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|kind| kind.as_str() == name)
    }
}

pub struct Notice<'a> {
    pub kind: Kind,
    pub ticket_id: Option<Uuid>,
    pub title: &'a str,
    pub body: &'a str,
}

pub async fn notify(tx: &mut Tx, users: &[Uuid], notice: &Notice<'_>, now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "INSERT INTO notifications (id, user_id, kind, ticket_id, title, body, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7)";
    // Each user's preferences: SMS queued for those who want it, in-app for the others.
    let users = crate::comms::preferences::route(tx, users, notice, now).await?;
    for user in &users {
        let id = Uuid::now_v7();
        with_tx!(tx, conn => sqlx::query(SQL)
            .bind(id).bind(user).bind(notice.kind.as_str()).bind(notice.ticket_id)
            .bind(notice.title).bind(notice.body).bind(now)
            .execute(&mut *conn).await?.rows_affected());
        hub::signal(tx, &Signal::Notification { notification_id: id }).await?;
    }
    Ok(())
}

/// Live, active users with a role, optionally only members of a team.
pub async fn users_with_role(tx: &mut Tx, role: Role, team: Option<Uuid>) -> Result<Vec<Uuid>> {
    const SQL: &str = "SELECT id FROM users WHERE role = $1 AND active AND deleted_at IS NULL \
                       AND ($2 IS NULL OR id IN (SELECT user_id FROM team_members WHERE team_id = $2)) ORDER BY id";
    Ok(with_tx!(tx, conn => sqlx::query_scalar(SQL).bind(role.as_str()).bind(team).fetch_all(&mut *conn).await?))
}
