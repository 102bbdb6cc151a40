//! Tickets and what hangs off them, as JSON fields and as table rows.

use hdms_api_types::tickets::{BulkItemResult, Comment, Ticket, TicketRating, Watcher};

use crate::output::human::{ago, person, priority, sla, status};
use crate::output::{Cell, Column, Layout, Record, Tabular, Tone};

impl Record for Ticket {
    const FIELDS: &'static [&'static str] = &[
        "id", "number", "subject", "description", "requester_id", "assignee_id", "team_id", "requester", "assignee", "team",
        "priority", "category", "tags", "status", "parent_id", "merged_into_id", "children_total", "children_done", "sla",
        "version", "created_at", "updated_at", "first_responded_at", "resolved_at", "closed_at", "deleted_at",
    ];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Tabular for Ticket {
    const COLUMNS: &'static [Column] = &[
        Column::whole("number"),
        Column::shrink("subject", 16),
        Column::whole("status"),
        Column::whole("priority"),
        Column::shrink("requester", 8),
        Column::shrink("assignee", 8),
        Column::shrink("team", 8),
        Column::whole("sla"),
        Column::whole("updated"),
        Column::whole("tags").wide(),
        Column::whole("id").wide(),
    ];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        vec![
            Cell::new(&self.number, Tone::Strong),
            self.subject.as_str().into(),
            status(self.status),
            priority(self.priority),
            person(self.requester.as_ref(), Some(self.requester_id)).into(),
            person(self.assignee.as_ref(), self.assignee_id).into(),
            match (&self.team, self.team_id) {
                (Some(team), _) => team.name.clone().into(),
                (None, id) => id.map(|id| id.to_string()).unwrap_or_default().into(),
            },
            sla(self.sla.as_ref(), layout),
            Cell::new(ago(self.updated_at, layout), Tone::Muted),
            self.tags.join(", ").into(),
            Cell::new(self.id.to_string(), Tone::Muted),
        ]
    }
}

impl Record for Comment {
    const FIELDS: &'static [&'static str] = &["id", "ticket_id", "author_id", "author", "body", "internal", "created_at", "seq"];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Tabular for Comment {
    const COLUMNS: &'static [Column] = &[
        Column::number("#"),
        Column::whole("kind"),
        Column::shrink("author", 8),
        Column::whole("when"),
        Column::shrink("text", 16),
        Column::whole("author id").wide(),
        Column::whole("id").wide(),
    ];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        vec![
            self.seq.to_string().into(),
            comment_kind(self.internal),
            person(self.author.as_ref(), Some(self.author_id)).into(),
            Cell::new(ago(self.created_at, layout), Tone::Muted),
            self.body.trim().into(),
            self.author_id.to_string().into(),
            self.id.to_string().into(),
        ]
    }
}

/// `reply`, or `internal note` in a colour that says customers do not see it.
pub fn comment_kind(internal: bool) -> Cell {
    if internal { Cell::new("internal note", Tone::Warn) } else { Cell::from("reply") }
}

impl Record for TicketRating {
    const FIELDS: &'static [&'static str] = &["ticket_id", "rated_by", "score", "comment", "created_at", "updated_at"];

    fn id(&self) -> String {
        self.ticket_id.to_string()
    }
}

impl Tabular for TicketRating {
    const COLUMNS: &'static [Column] = &[
        Column::whole("score"),
        Column::shrink("comment", 16),
        Column::whole("rated"),
        Column::whole("ticket id").wide(),
        Column::whole("rated by").wide(),
    ];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        vec![
            score(self),
            self.comment.clone().unwrap_or_default().into(),
            Cell::new(ago(self.updated_at, layout), Tone::Muted),
            self.ticket_id.to_string().into(),
            self.rated_by.to_string().into(),
        ]
    }
}

pub fn score(rating: &TicketRating) -> Cell {
    let tone = match rating.score {
        hdms_api_types::tickets::Satisfaction::Good => Tone::Good,
        hdms_api_types::tickets::Satisfaction::Bad => Tone::Bad,
    };
    Cell::new(rating.score.as_str(), tone)
}

impl Record for Watcher {
    const FIELDS: &'static [&'static str] = &["user_id", "name", "role"];

    fn id(&self) -> String {
        self.user_id.to_string()
    }
}

impl Tabular for Watcher {
    const COLUMNS: &'static [Column] =
        &[Column::shrink("name", 12), Column::whole("role"), Column::whole("user id").wide()];

    fn row(&self, _: &Layout) -> Vec<Cell> {
        vec![self.name.as_str().into(), self.role.as_str().into(), self.user_id.to_string().into()]
    }
}

impl Record for BulkItemResult {
    const FIELDS: &'static [&'static str] = &["id", "ok", "http_status", "version", "error"];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

/// A bulk outcome, with the ticket as it was named on the command line.
pub struct BulkRow<'a> {
    pub result: &'a BulkItemResult,
    pub ticket: String,
}

impl Tabular for BulkRow<'_> {
    const COLUMNS: &'static [Column] = &[
        Column::whole("ticket"),
        Column::whole("outcome"),
        Column::shrink("error", 16),
        Column::number("http status").wide(),
        Column::number("version").wide(),
        Column::whole("id").wide(),
    ];

    fn row(&self, _: &Layout) -> Vec<Cell> {
        let result = self.result;
        vec![
            Cell::new(&self.ticket, Tone::Strong),
            if result.ok { Cell::new("changed", Tone::Good) } else { Cell::new("refused", Tone::Bad) },
            result.error.as_ref().map(|error| format!("{}: {}", error.code, error.message)).unwrap_or_default().into(),
            result.http_status.to_string().into(),
            result.version.map(|v| v.to_string()).unwrap_or_default().into(),
            result.id.to_string().into(),
        ]
    }
}
