//! Acting on tickets: the menus and prompts behind the action keys, and what each choice asks of
//! the server. Menus offer only what the server allows (the transition menu is the server's own
//! list for this ticket and role).

use std::collections::BTreeMap;
use std::path::PathBuf;

use hdms_api_types::approvals::{ApprovalDecision, ApprovalRule, Approver, RequestApproval};
use hdms_api_types::tickets::{
    AssignRequest, BulkUpdate, CreateTicket, FieldChanges, LinkKind, Priority, Satisfaction, Status, TicketListQuery, UpdateTicket,
};
use hdms_api_types::users::UserListQuery;
use uuid::Uuid;

use crate::app::{Purpose, State};
use crate::call::{Answer, Call, Failure, RequestId};
use crate::input::Field;
use crate::overlay::Overlay;
use crate::screens::queues::SORTS;

#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    Sort(&'static str),
    Transition { ticket: Uuid, to: Status, version: i64 },
    Assign { ticket: Uuid, request: AssignRequest, done: String },
    AssignPersonPrompt { ticket: Uuid },
    TeamPicker { ticket: Uuid, round_robin: bool },
    Priority { ticket: Uuid, priority: Priority, version: i64 },
    RequestApprovalPrompt { ticket: Uuid },
    Decide { ticket: Uuid, approval: Uuid, approve: bool },
    Link { ticket: Uuid, kind: LinkKind },
    Rate { ticket: Uuid, score: Satisfaction },
    Bulk(BulkChoice),
}

#[derive(Debug, Clone, PartialEq)]
pub enum BulkChoice {
    PriorityMenu,
    Priority(Priority),
    StatusMenu,
    Status(Status),
    AssignMe,
    Unassign,
    AddTag,
    RemoveTag,
}

/// What a prompt's text is for.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptKind {
    Search,
    /// Status, priority, assignee, team, tag.
    Filter,
    Tags { ticket: Uuid, version: i64 },
    /// Name or email to look up, then pick from the matches.
    AssignPerson { ticket: Uuid },
    SubTicket { parent: Uuid },
    Link { ticket: Uuid, kind: LinkKind },
    Merge { ticket: Uuid, version: i64 },
    SaveAttachment { attachment: Uuid },
    RequestApproval { ticket: Uuid },
    Reject { ticket: Uuid, approval: Uuid },
    BulkTag { add: bool },
    /// Subject, description, priority, files (paths, comma separated).
    NewTicket,
    /// A path to attach.
    Attach { ticket: Uuid },
    /// The comment that goes with a rating.
    Rate { ticket: Uuid, score: Satisfaction },
}

/// A menu built from an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickerFor {
    Person { ticket: Uuid },
    Team { ticket: Uuid, round_robin: bool },
}

pub fn sort_menu() -> Overlay {
    let items = SORTS.iter().map(|(key, text)| (text.to_string(), Choice::Sort(key))).collect();
    Overlay::menu("Sort", items)
}

pub fn filter_prompt(filter: &TicketListQuery, shared: &crate::app::Shared) -> Overlay {
    let team = filter
        .team
        .and_then(|id| shared.teams.iter().find(|t| t.id == id).map(|t| t.name.clone()))
        .unwrap_or_default();
    Overlay::prompt(
        "Filter (empty fields are not filtered)",
        PromptKind::Filter,
        vec![
            Field::with_text("Status (comma list: new,open,in_progress,…)", filter.status.as_deref().unwrap_or("")),
            Field::with_text("Priority (low, normal, high, urgent)", filter.priority.map(|p| p.as_str()).unwrap_or("")),
            Field::with_text("Assignee (me, none, or an email)", filter.assignee.as_deref().unwrap_or("")),
            Field::with_text("Team (name)", &team),
            Field::with_text("Tag", filter.tag.as_deref().unwrap_or("")),
        ],
    )
}

pub fn bulk_menu(marked: usize) -> Overlay {
    let items = vec![
        ("Set priority…".to_owned(), Choice::Bulk(BulkChoice::PriorityMenu)),
        ("Move to status…".to_owned(), Choice::Bulk(BulkChoice::StatusMenu)),
        ("Assign to me".to_owned(), Choice::Bulk(BulkChoice::AssignMe)),
        ("Unassign".to_owned(), Choice::Bulk(BulkChoice::Unassign)),
        ("Add a tag…".to_owned(), Choice::Bulk(BulkChoice::AddTag)),
        ("Remove a tag…".to_owned(), Choice::Bulk(BulkChoice::RemoveTag)),
    ];
    Overlay::menu(format!("{marked} marked tickets"), items)
}

pub fn priority_menu(ticket: Uuid, version: i64) -> Overlay {
    let items = Priority::ALL
        .iter()
        .rev()
        .map(|p| (p.as_str().to_owned(), Choice::Priority { ticket, priority: *p, version }))
        .collect();
    Overlay::menu("Priority", items)
}

pub fn assign_menu(ticket: Uuid, version: i64, me: Uuid) -> Overlay {
    let assign = |request: AssignRequest, done: &str| Choice::Assign { ticket, request, done: done.to_owned() };
    let items = vec![
        (
            "Assign to me".to_owned(),
            assign(AssignRequest { assignee_id: Some(Some(me)), version: Some(version), ..Default::default() }, "Assigned to you"),
        ),
        ("Assign to a person…".to_owned(), Choice::AssignPersonPrompt { ticket }),
        ("Assign to a team…".to_owned(), Choice::TeamPicker { ticket, round_robin: false }),
        ("Round-robin in a team…".to_owned(), Choice::TeamPicker { ticket, round_robin: true }),
        (
            "Unassign".to_owned(),
            assign(AssignRequest { assignee_id: Some(None), version: Some(version), ..Default::default() }, "Unassigned"),
        ),
    ];
    Overlay::menu("Assign", items)
}

/// Raising a ticket: what a customer (or an agent for themself) fills in.
pub fn new_ticket_prompt() -> Overlay {
    Overlay::prompt(
        "Raise a ticket",
        PromptKind::NewTicket,
        vec![
            Field::new("Subject"),
            Field::multiline("Description (Enter: new line)", 5),
            Field::with_text("Priority (low, normal, high, urgent)", "normal"),
            Field::new("Attach files (paths, comma separated; optional)"),
        ],
    )
}

/// How the requester rates a resolved ticket.
pub fn rate_menu(ticket: Uuid) -> Overlay {
    let items = vec![
        ("Good: solved, thank you".to_owned(), Choice::Rate { ticket, score: Satisfaction::Good }),
        ("Bad: not happy with this".to_owned(), Choice::Rate { ticket, score: Satisfaction::Bad }),
    ];
    Overlay::menu("Rate how this ticket was handled", items)
}

pub fn link_menu(ticket: Uuid) -> Overlay {
    let items = LinkKind::ALL
        .iter()
        .map(|kind| (format!("{} …", kind.as_str().replace('_', " ")), Choice::Link { ticket, kind: *kind }))
        .collect();
    Overlay::menu("Link this ticket as", items)
}

/// Runs what a menu item stands for.
pub fn choose(state: &mut State, choice: Choice) {
    let shared = &mut state.shared;
    let mut ask = |state_overlay: &mut Option<Overlay>, purpose: Purpose, call: Call| {
        let id = shared.call(purpose, call);
        if let Some(overlay) = state_overlay {
            overlay.set_pending(id);
        }
    };
    match choice {
        Choice::Sort(sort) => {
            state.queues.tabs[state.queues.active].filter.sort = Some(sort.to_owned());
            state.overlay = None;
            state.queues.reload_active(&mut state.shared);
        }
        Choice::Transition { ticket, to, version } => ask(
            &mut state.overlay,
            Purpose::TicketChange { ticket, done: format!("Moved to {}", to.as_str()) },
            Call::Transition { ticket, to, version },
        ),
        Choice::Assign { ticket, request, done } => {
            ask(&mut state.overlay, Purpose::TicketChange { ticket, done }, Call::Assign { ticket, request })
        }
        Choice::AssignPersonPrompt { ticket } => {
            state.overlay = Some(Overlay::prompt(
                "Assign to (name or email)",
                PromptKind::AssignPerson { ticket },
                vec![Field::new("Person")],
            ));
        }
        Choice::TeamPicker { ticket, round_robin } => {
            ask(&mut state.overlay, Purpose::Picker(PickerFor::Team { ticket, round_robin }), Call::Teams)
        }
        Choice::Priority { ticket, priority, version } => ask(
            &mut state.overlay,
            Purpose::TicketChange { ticket, done: format!("Priority {priority}") },
            Call::Update {
                ticket,
                update: Box::new(UpdateTicket { version: Some(version), priority: Some(priority), ..Default::default() }),
            },
        ),
        Choice::RequestApprovalPrompt { ticket } => {
            state.overlay = Some(Overlay::prompt(
                "Request an approval",
                PromptKind::RequestApproval { ticket },
                vec![
                    Field::new("Approvers (emails, or a role: supervisor, admin; comma separated)"),
                    Field::with_text("Rule (any or all)", "any"),
                    Field::new("Reason"),
                ],
            ));
        }
        Choice::Decide { ticket, approval, approve: true } => ask(
            &mut state.overlay,
            Purpose::TicketChange { ticket, done: "Approved".to_owned() },
            Call::DecideApproval { approval, decision: ApprovalDecision { approve: true, comment: None } },
        ),
        Choice::Decide { ticket, approval, approve: false } => {
            state.overlay =
                Some(Overlay::prompt("Reject: why?", PromptKind::Reject { ticket, approval }, vec![Field::new("Reason")]));
        }
        Choice::Link { ticket, kind } => {
            state.overlay = Some(Overlay::prompt(
                format!("Link as {} of", kind.as_str()),
                PromptKind::Link { ticket, kind },
                vec![Field::new("Ticket number (HD-12)")],
            ));
        }
        Choice::Rate { ticket, score } => {
            state.overlay = Some(Overlay::prompt(
                format!("Rated {}: anything to add?", score.as_str()),
                PromptKind::Rate { ticket, score },
                vec![Field::multiline("Comment (optional; Alt-Enter sends, even empty)", 3)],
            ));
        }
        Choice::Bulk(bulk) => choose_bulk(state, bulk),
    }
}

fn choose_bulk(state: &mut State, choice: BulkChoice) {
    let mut update = BulkUpdate::default();
    let mut set = FieldChanges::default();
    match choice {
        BulkChoice::PriorityMenu => {
            let items = Priority::ALL
                .iter()
                .rev()
                .map(|p| (p.as_str().to_owned(), Choice::Bulk(BulkChoice::Priority(*p))))
                .collect();
            state.overlay = Some(Overlay::menu("Set priority of the marked tickets", items));
            return;
        }
        BulkChoice::StatusMenu => {
            let items = Status::ALL
                .iter()
                .map(|s| (s.as_str().to_owned(), Choice::Bulk(BulkChoice::Status(*s))))
                .collect();
            state.overlay = Some(Overlay::menu("Move the marked tickets to", items));
            return;
        }
        BulkChoice::AddTag | BulkChoice::RemoveTag => {
            let add = choice == BulkChoice::AddTag;
            let title = if add { "Add a tag to the marked tickets" } else { "Remove a tag from the marked tickets" };
            state.overlay = Some(Overlay::prompt(title, PromptKind::BulkTag { add }, vec![Field::new("Tag")]));
            return;
        }
        BulkChoice::Priority(priority) => set.priority = Some(priority),
        BulkChoice::Status(status) => update.transition = Some(status),
        BulkChoice::AssignMe => set.assignee_id = Some(state.shared.me_id()),
        BulkChoice::Unassign => set.assignee_id = Some(None),
    }
    if !set.is_empty() {
        update.set = Some(set);
    }
    send_bulk(state, update);
}

/// Sends a bulk update for the marked tickets of the active queue, each at the version shown.
fn send_bulk(state: &mut State, mut update: BulkUpdate) {
    let tab = state.queues.active_tab();
    let ids: Vec<Uuid> = tab.marked.iter().copied().collect();
    update.versions =
        tab.rows.iter().filter(|t| tab.marked.contains(&t.id)).map(|t| (t.id, t.version)).collect::<BTreeMap<_, _>>();
    update.ids = Some(ids);
    let id = state.shared.call(Purpose::Bulk, Call::Bulk(Box::new(update)));
    if let Some(overlay) = &mut state.overlay {
        overlay.set_pending(id);
    }
}

pub fn bulk_answer(state: &mut State, answer: Result<Answer, Failure>) {
    match answer {
        Ok(Answer::Bulk(result)) => {
            let tab = &mut state.queues.tabs[state.queues.active];
            let lines = result
                .results
                .iter()
                .map(|item| {
                    let number = tab.rows.iter().find(|t| t.id == item.id).map(|t| t.number.clone()).unwrap_or_else(|| item.id.to_string());
                    match &item.error {
                        Some(error) => (false, format!("{number}: {} ({})", error.message, error.code)),
                        None => (item.ok, number),
                    }
                })
                .collect();
            // The ones that worked are done; the refused stay marked to try again.
            for item in result.results.iter().filter(|item| item.ok) {
                tab.marked.remove(&item.id);
            }
            state.overlay = Some(Overlay::Outcomes {
                title: format!("{} done, {} refused", result.succeeded, result.failed),
                lines,
                scroll: 0,
            });
            state.queues.reload_active(&mut state.shared);
        }
        Ok(_) => {}
        Err(failure) => state.shared.error(format!("Bulk action refused: {failure}")),
    }
}

/// Menus of people or teams built from a lookup.
pub fn picker_answer(state: &mut State, id: RequestId, picker: PickerFor, answer: Result<Answer, Failure>) {
    if state.overlay.as_ref().and_then(Overlay::pending) != Some(id) {
        return; // the agent closed the picker meanwhile
    }
    let version = state.ticket.as_ref().map(|v| v.version()).unwrap_or_default();
    match (picker, answer) {
        (PickerFor::Person { ticket }, Ok(Answer::People(people))) => {
            if people.is_empty() {
                if let Some(overlay) = &mut state.overlay {
                    overlay.failed("Nobody matches".to_owned());
                }
                return;
            }
            let items = people
                .into_iter()
                .filter(|user| user.role != hdms_api_types::Role::Customer)
                .map(|user| {
                    let request = AssignRequest { assignee_id: Some(Some(user.id)), version: Some(version), ..Default::default() };
                    let done = format!("Assigned to {}", user.name);
                    (format!("{} <{}>", user.name, user.email), Choice::Assign { ticket, request, done })
                })
                .collect();
            state.overlay = Some(Overlay::menu("Assign to", items));
        }
        (PickerFor::Team { ticket, round_robin }, Ok(Answer::Teams(teams))) => {
            let items = teams
                .into_iter()
                .map(|team| {
                    let request =
                        AssignRequest { team_id: Some(team.id), round_robin, version: Some(version), ..Default::default() };
                    let done = if round_robin { format!("Round-robin in {}", team.name) } else { format!("Moved to {}", team.name) };
                    (team.name, Choice::Assign { ticket, request, done })
                })
                .collect();
            let title = if round_robin { "Round-robin in" } else { "Assign to team" };
            state.overlay = Some(Overlay::menu(title, items));
        }
        (_, Ok(_)) => {}
        (_, Err(failure)) => {
            if let Some(overlay) = &mut state.overlay {
                overlay.failed(failure.to_string());
            }
        }
    }
}

/// Runs what a prompt was for with what was typed.
pub fn submit(state: &mut State, kind: PromptKind, values: Vec<String>) {
    let value = |i: usize| values.get(i).map(|v| v.trim().to_owned()).unwrap_or_default();
    let non_empty = |text: String| (!text.is_empty()).then_some(text);
    let call = match kind.clone() {
        PromptKind::Search => {
            state.queues.tabs[state.queues.active].filter.q = non_empty(value(0));
            state.overlay = None;
            state.queues.reload_active(&mut state.shared);
            return;
        }
        PromptKind::Filter => {
            let priority = match non_empty(value(1)) {
                Some(text) => match text.parse::<Priority>() {
                    Ok(p) => Some(p),
                    Err(err) => return refuse(state, err),
                },
                None => None,
            };
            let team = match non_empty(value(3)) {
                Some(name) => match state.shared.teams.iter().find(|t| t.name.eq_ignore_ascii_case(&name)) {
                    Some(team) => Some(team.id),
                    None => return refuse(state, format!("no team called '{name}'")),
                },
                None => None,
            };
            if let Some(statuses) = non_empty(value(0)) {
                for status in statuses.split(',') {
                    if let Err(err) = status.parse::<Status>() {
                        return refuse(state, err);
                    }
                }
            }
            // The server takes `me`, `none` or an id: an email names someone known here.
            let assignee = match non_empty(value(2)) {
                Some(who) if who.contains('@') => match state.shared.people_by_email(&who) {
                    Some(id) => Some(id.to_string()),
                    None => return refuse(state, format!("nobody known here has the email '{who}'")),
                },
                other => other,
            };
            let tab = &mut state.queues.tabs[state.queues.active];
            let sort = tab.filter.sort.take();
            let q = tab.filter.q.take();
            tab.filter = TicketListQuery {
                status: non_empty(value(0).replace(' ', "")),
                priority,
                assignee,
                team,
                tag: non_empty(value(4)),
                sort,
                q,
                ..Default::default()
            };
            state.overlay = None;
            state.queues.reload_active(&mut state.shared);
            return;
        }
        PromptKind::Tags { ticket, version } => {
            let tags = value(0).split(',').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
            (
                Purpose::TicketChange { ticket, done: "Tags saved".to_owned() },
                Call::Update { ticket, update: Box::new(UpdateTicket { version: Some(version), tags: Some(tags), ..Default::default() }) },
            )
        }
        PromptKind::AssignPerson { ticket } => (
            Purpose::Picker(PickerFor::Person { ticket }),
            Call::FindPeople(value(0)),
        ),
        PromptKind::SubTicket { parent } => {
            if value(0).is_empty() {
                return refuse(state, "a sub-ticket needs a subject".to_owned());
            }
            let request = CreateTicket { subject: value(0), description: value(1), ..Default::default() };
            (Purpose::TicketChange { ticket: parent, done: "Sub-ticket created".to_owned() }, Call::CreateSubTicket { parent, request: Box::new(request) })
        }
        PromptKind::Link { ticket, kind } => (
            Purpose::TicketChange { ticket, done: format!("Linked to {}", value(0)) },
            Call::Link { ticket, to: value(0), kind },
        ),
        PromptKind::Merge { ticket, version } => (
            Purpose::TicketChange { ticket, done: format!("Merged into {}", value(0)) },
            Call::Merge { ticket, into: value(0), version },
        ),
        PromptKind::SaveAttachment { attachment } => {
            (Purpose::Saved, Call::SaveAttachment { attachment, path: PathBuf::from(value(0)) })
        }
        PromptKind::RequestApproval { ticket } => {
            let mut approvers = Vec::new();
            for who in value(0).split(',').map(str::trim).filter(|w| !w.is_empty()) {
                match who.parse::<hdms_api_types::Role>() {
                    Ok(role) => approvers.push(Approver { user_id: None, role: Some(role) }),
                    Err(_) => match state.shared.people_by_email(who) {
                        Some(id) => approvers.push(Approver { user_id: Some(id), role: None }),
                        None => return refuse(state, format!("'{who}' is neither a role nor someone known here: type an email seen in this ticket or a role")),
                    },
                }
            }
            if approvers.is_empty() {
                return refuse(state, "name at least one approver".to_owned());
            }
            let rule = if value(1).eq_ignore_ascii_case("all") { ApprovalRule::All } else { ApprovalRule::Any };
            let request = RequestApproval { approvers, rule, reason: non_empty(value(2)) };
            (Purpose::TicketChange { ticket, done: "Approval requested".to_owned() }, Call::RequestApproval { ticket, request })
        }
        PromptKind::Reject { ticket, approval } => (
            Purpose::TicketChange { ticket, done: "Rejected".to_owned() },
            Call::DecideApproval { approval, decision: ApprovalDecision { approve: false, comment: non_empty(value(0)) } },
        ),
        PromptKind::NewTicket => {
            if value(0).is_empty() {
                return refuse(state, "a ticket needs a subject".to_owned());
            }
            let priority = match value(2).parse::<Priority>() {
                Ok(priority) => priority,
                Err(err) => return refuse(state, err),
            };
            let files = value(3).split(',').map(str::trim).filter(|p| !p.is_empty()).map(PathBuf::from).collect();
            let request = CreateTicket { subject: value(0), description: value(1), priority: Some(priority), ..Default::default() };
            (Purpose::OpenTicket, Call::CreateTicket { request: Box::new(request), files })
        }
        PromptKind::Attach { ticket } => {
            if value(0).is_empty() {
                return refuse(state, "type the path of the file".to_owned());
            }
            let name = value(0).rsplit('/').next().unwrap_or_default().to_owned();
            (Purpose::TicketChange { ticket, done: format!("Attached {name}") }, Call::Attach { ticket, path: PathBuf::from(value(0)) })
        }
        PromptKind::Rate { ticket, score } => {
            if value(0).chars().count() > 2000 {
                return refuse(state, "a comment holds at most 2,000 characters".to_owned());
            }
            (
                Purpose::TicketChange { ticket, done: format!("Rated {}: thank you", score.as_str()) },
                Call::Rate { ticket, score, comment: non_empty(value(0)) },
            )
        }
        PromptKind::BulkTag { add } => {
            let tag = value(0);
            if tag.is_empty() {
                return refuse(state, "type a tag".to_owned());
            }
            let set = if add {
                FieldChanges { add_tags: vec![tag], ..Default::default() }
            } else {
                FieldChanges { remove_tags: vec![tag], ..Default::default() }
            };
            send_bulk(state, BulkUpdate { set: Some(set), ..Default::default() });
            return;
        }
    };
    let (purpose, call) = call;
    let id = state.shared.call(purpose, call);
    if let Some(overlay) = &mut state.overlay {
        overlay.set_pending(id);
    }
}

/// Keeps the prompt open with what was typed and says what is wrong.
fn refuse(state: &mut State, error: String) {
    if let Some(overlay) = &mut state.overlay {
        overlay.failed(error);
    }
}

/// The query for a people lookup by name or email.
pub fn people_query(text: &str) -> UserListQuery {
    UserListQuery { q: Some(text.to_owned()), limit: Some(20), ..Default::default() }
}
