//! Who may do what: one table, in code, from role to allowed actions.
//!
//! Every authenticated route takes an [`Authorized<can::X>`] extractor, which authenticates the
//! caller and checks the table before the handler runs. The route's OpenAPI operation names the
//! same action (its `security` requirement), which is how the role x route test and
//! `docs/roles-and-permissions.md` know which action each route needs.

use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use hdms_api_types::Role;

use crate::error::Error;
use crate::state::AppState;
use crate::users::auth::AuthUser;

/// An action a route performs, with the roles allowed to perform it.
pub trait Permission {
    const ACTION: Action;
}

macro_rules! permission_table {
    ($( $variant:ident = $name:literal, [$($role:ident),*], $description:literal; )*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action { $($variant),* }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The stable name used in the OpenAPI document and the docs.
            pub fn name(self) -> &'static str {
                match self { $(Action::$variant => $name),* }
            }

            pub fn roles(self) -> &'static [Role] {
                match self { $(Action::$variant => &[$(Role::$role),*]),* }
            }

            pub fn description(self) -> &'static str {
                match self { $(Action::$variant => $description),* }
            }
        }

        /// One marker type per action, for [`Authorized`].
        pub mod can {
            $(
                pub struct $variant;
                impl super::Permission for $variant {
                    const ACTION: super::Action = super::Action::$variant;
                }
            )*
        }
    };
}

permission_table! {
    ReadOwnProfile = "profile.read", [Customer, Agent, Supervisor, Admin],
        "Read one's own account";
    ManageOwnTokens = "tokens.manage", [Agent, Supervisor, Admin],
        "Create, list and revoke one's own personal API tokens";
    ReadUsers = "users.read", [Agent, Supervisor, Admin],
        "List and read user accounts";
    ManageUsers = "users.manage", [Admin],
        "Create, update, deactivate, delete and restore users; list deleted users";
    ReadTeams = "teams.read", [Agent, Supervisor, Admin],
        "List and read teams and their members";
    ManageTeams = "teams.manage", [Admin],
        "Create, rename, delete and restore teams; list deleted teams";
    ManageTeamMembers = "teams.members", [Supervisor, Admin],
        "Add agents to and remove them from teams";
    ReadTeamMetrics = "metrics.teams", [Supervisor, Admin],
        "See a team's backlog, SLA health, throughput and each member's load";
    ReadReports = "reports.read", [Supervisor, Admin],
        "Reports over time (volume, backlog, response and resolution times, SLA, satisfaction, per agent): supervisors for their teams, admins for any team and the whole desk";
    CreateTickets = "tickets.create", [Customer, Agent, Supervisor, Admin],
        "Raise tickets (agents also on a customer's behalf)";
    ReadTickets = "tickets.read", [Customer, Agent, Supervisor, Admin],
        "Read tickets one may see: customers their own, agents their teams' and untriaged ones, supervisors and admins all";
    UpdateTickets = "tickets.update", [Agent, Supervisor, Admin],
        "Change a ticket's fields, link, merge and bulk-update tickets";
    CommentTickets = "tickets.comment", [Customer, Agent, Supervisor, Admin],
        "Reply on a ticket (internal notes: staff only)";
    TransitionTickets = "tickets.transition", [Customer, Agent, Supervisor, Admin],
        "Move a ticket through its lifecycle, as docs/ticket-lifecycle.md allows";
    AssignTickets = "tickets.assign", [Agent, Supervisor, Admin],
        "Assign tickets to oneself, a team or round-robin; claim the next ticket";
    ReassignTickets = "tickets.reassign", [Supervisor, Admin],
        "Assign tickets to other people, or take them from their assignee";
    RateTickets = "tickets.rate", [Customer, Agent, Supervisor, Admin],
        "Rate one's own resolved ticket good or bad, with a comment";
    WatchTickets = "tickets.watch", [Customer, Agent, Supervisor, Admin],
        "Follow a visible ticket and stop following it: its replies reach one as notifications";
    ManageWatchers = "tickets.watchers", [Agent, Supervisor, Admin],
        "Add others who can see a ticket to its watchers, remove anyone, and see who watches";
    DeleteTickets = "tickets.delete", [Admin],
        "Delete and restore tickets; list deleted tickets";
    RequestApprovals = "approvals.request", [Agent, Supervisor, Admin],
        "Ask named people or a role to approve a ticket";
    DecideApprovals = "approvals.decide", [Agent, Supervisor, Admin],
        "See the approvals waiting on oneself and approve or reject them (never one's own request)";
    ManageApprovalRules = "approvals.rules", [Admin],
        "Set which ticket categories need approval, from whom";
    ReadSla = "sla.read", [Agent, Supervisor, Admin],
        "Read SLA policies";
    ManageSla = "sla.manage", [Admin],
        "Create, change and delete SLA policies";
    ReadAttachments = "attachments.read", [Customer, Agent, Supervisor, Admin],
        "List the attachments of a visible ticket; download clean ones and their thumbnails";
    UploadAttachments = "attachments.upload", [Customer, Agent, Supervisor, Admin],
        "Attach files to a visible ticket";
    DeleteAttachments = "attachments.delete", [Customer, Agent, Supervisor, Admin],
        "Delete attachments one uploaded";
    ModerateAttachments = "attachments.moderate", [Supervisor, Admin],
        "Delete anyone's attachments on a visible ticket; restore deleted attachments";
    ManageAttachmentSettings = "attachments.settings", [Admin],
        "Read and change the attachment settings (what happens to files no scanner has checked)";
    ReadNotifications = "notifications.read", [Customer, Agent, Supervisor, Admin],
        "Read one's own notifications and mark them read";
    ManageReplies = "replies.manage", [Agent, Supervisor, Admin],
        "List and use shared canned replies and macros; create, change and delete one's own";
    ShareReplies = "replies.share", [Supervisor, Admin],
        "Create, change and delete shared canned replies and macros, and share or unshare one's own";
    ManageViews = "views.manage", [Customer, Agent, Supervisor, Admin],
        "Save, list, change and delete one's own views of the ticket queue";
    ManageNotifications = "notifications.manage", [Customer, Agent, Supervisor, Admin],
        "Read and set which events reach one by which channel (in-app, SMS)";
    ManageOwnPhone = "phone.manage", [Customer, Agent, Supervisor, Admin],
        "Verify one's own phone number with a code sent by SMS; turn SMS login codes on or off";
    IngestMail = "mail.ingest", [Admin],
        "Hand raw mail to the help desk (what `hdms mailgate` does for a mail server)";
    ReadMail = "mail.read", [Agent, Supervisor, Admin],
        "Read a visible ticket's mail with full texts; see which addresses bounce";
    ManageMail = "mail.manage", [Admin],
        "Configure mailboxes and the SMTP account; list and retry failed mail; clear bouncing addresses";
    ManageWebhooks = "webhooks.manage", [Admin],
        "Register, change and delete webhook endpoints; read their delivery log, redeliver, ping";
    ManageRules = "rules.manage", [Admin],
        "Create, change, turn on and off, delete and dry-run automation rules";
}

/// Actions no route needs by itself: a handler checks them on top of its route's action, for
/// what only some callers of that route may do (e.g. giving a ticket to someone else).
pub const CHECKED_IN_HANDLERS: &[Action] = &[Action::ReassignTickets, Action::ShareReplies, Action::ManageWatchers];

impl Action {
    pub fn allows(self, role: Role) -> bool {
        self.roles().contains(&role)
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|action| action.name() == name)
    }
}

impl AuthUser {
    /// Checks a further action inside a handler (e.g. listing deleted rows needs more than
    /// listing live ones).
    pub fn require(&self, action: Action) -> Result<(), Error> {
        if action.allows(self.role()) {
            Ok(())
        } else {
            Err(Error::Forbidden { action: action.name() })
        }
    }
}

/// An authenticated caller whose role may perform `P`'s action.
pub struct Authorized<P: Permission> {
    pub user: AuthUser,
    _permission: PhantomData<P>,
}

impl<P: Permission> Deref for Authorized<P> {
    type Target = AuthUser;

    fn deref(&self) -> &AuthUser {
        &self.user
    }
}

impl<P: Permission + Send + Sync> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let user = crate::users::auth::authenticate_for(state, crate::users::auth::bearer(parts)?, Some(P::ACTION)).await?;
        user.require(P::ACTION)?;
        Ok(Authorized { user, _permission: PhantomData })
    }
}

/// The action an OpenAPI operation names in its `bearer` security requirement; `None` for a
/// public route.
pub fn operation_action(operation: &utoipa::openapi::path::Operation) -> Option<Action> {
    let requirements = serde_json::to_value(operation.security.as_ref()?).ok()?;
    let scopes = requirements.as_array()?.first()?.get("bearer")?.as_array()?.clone();
    scopes.first()?.as_str().and_then(Action::from_name)
}

/// Every operation of the document as (method, path, action), in path order.
pub fn route_table(doc: &utoipa::openapi::OpenApi) -> Vec<(String, String, Option<Action>)> {
    let mut routes = Vec::new();
    for (path, item) in &doc.paths.paths {
        let operations = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                routes.push((method.to_owned(), path.clone(), operation_action(operation)));
            }
        }
    }
    routes
}

/// `docs/roles-and-permissions.md`, generated from the table above and the routes that name
/// each action. A test fails when the committed file differs.
pub fn render_docs(doc: &utoipa::openapi::OpenApi) -> String {
    use std::fmt::Write;

    let routes = route_table(doc);
    let mut out = String::from(
        "# Roles and permissions\n\n\
         <!-- Generated from crates/server/src/http/permissions.rs by the `permissions` test \
         (HDMS_UPDATE_DOCS=1 cargo test -p hdms-server --test permissions). Do not edit. -->\n\n\
         Every authenticated route needs one action; the server checks the caller's role against \
         this table before the handler runs, and answers 403 `forbidden` otherwise. Records the \
         caller may not see answer 404, never 403.\n\n## Actions by role\n\n| action | description |",
    );
    for role in Role::ALL {
        let _ = write!(out, " {role} |");
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(Role::ALL.len()));
    out.push('\n');
    for action in Action::ALL {
        let _ = write!(out, "| `{}` | {} |", action.name(), action.description());
        for role in Role::ALL {
            out.push_str(if action.allows(role) { " yes |" } else { " no |" });
        }
        out.push('\n');
    }
    out.push_str("\n## Routes\n\n| method | path | action |\n|---|---|---|\n");
    for (method, path, action) in routes {
        let action = action.map_or_else(|| "public".to_owned(), |action| format!("`{}`", action.name()));
        let _ = writeln!(out, "| {method} | `{path}` | {action} |");
    }
    out
}
