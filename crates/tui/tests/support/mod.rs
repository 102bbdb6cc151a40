//! Fixtures for the state and render tests: a fixed clock, tickets, comments, and typing keys
//! into `update` as a person would.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use hdms_api_types::Page;
use hdms_api_types::tickets::{Comment, PersonSummary, Priority, SlaTarget, Status, TeamSummary, Ticket, TicketSla, Transition};
use hdms_api_types::users::{Role, User};
use hdms_tui::call::{Answer, Call, RequestId, TicketDetail};
use hdms_tui::keys::Keymap;
use hdms_tui::{Effect, Event, State, update};
use uuid::Uuid;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap()
}

pub fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub fn agent() -> User {
    User {
        id: id(1),
        email: "dana@example.com".to_owned(),
        name: "Dana Agent".to_owned(),
        role: Role::Agent,
        phone: None,
        locale: None,
        external_id: None,
        active: true,
        created_at: now(),
        updated_at: now(),
        deleted_at: None,
        last_login_at: None,
    }
}

/// Rita, who raised the sample tickets.
pub fn customer() -> User {
    User { id: id(50), email: "rita@example.com".to_owned(), name: "Rita Requester".to_owned(), role: Role::Customer, ..agent() }
}

pub fn person(n: u128, name: &str) -> PersonSummary {
    PersonSummary { id: id(n), name: name.to_owned(), email: format!("{}@example.com", name.split(' ').next().unwrap().to_lowercase()) }
}

fn target(due_in_secs: Option<i64>, breached: bool) -> SlaTarget {
    SlaTarget {
        due_at: due_in_secs.map(|secs| now() + chrono::Duration::seconds(secs)),
        remaining_secs: due_in_secs,
        met_at: None,
        warning: due_in_secs.is_some_and(|s| s < 1800),
        breached,
    }
}

/// Ticket number `n`; SLA due in `due_in_secs` (negative: past; `None`: no SLA).
pub fn ticket(n: u128, subject: &str, status: Status, priority: Priority, due_in_secs: Option<i64>) -> Ticket {
    let breached = due_in_secs.is_some_and(|s| s < -600);
    Ticket {
        id: id(1000 + n),
        number: format!("HD-{n}"),
        subject: subject.to_owned(),
        description: format!("Description of {subject}. It goes on for a while so that wrapping shows in a narrow terminal."),
        requester_id: id(50),
        assignee_id: Some(id(1)),
        team_id: Some(id(70)),
        requester: Some(person(50, "Rita Requester")),
        assignee: Some(person(1, "Dana Agent")),
        team: Some(TeamSummary { id: id(70), name: "Support".to_owned() }),
        priority,
        category: None,
        tags: vec!["vpn".to_owned()],
        status,
        parent_id: None,
        merged_into_id: None,
        children_total: 0,
        children_done: 0,
        sla: due_in_secs.map(|secs| TicketSla {
            policy_id: id(90),
            paused: false,
            first_response: target(Some(secs), breached),
            resolution: target(Some(secs + 3600 * 8), false),
        }),
        version: 3,
        created_at: now() - chrono::Duration::hours(5),
        updated_at: now() - chrono::Duration::minutes(n as i64),
        first_responded_at: None,
        resolved_at: None,
        closed_at: None,
        deleted_at: None,
    }
}

pub fn sample_tickets() -> Vec<Ticket> {
    vec![
        ticket(1042, "VPN drops every ten minutes", Status::Open, Priority::Urgent, Some(-3600)),
        ticket(1043, "Printer on floor 3 jams", Status::InProgress, Priority::High, Some(1200)),
        ticket(1044, "New laptop for Sam", Status::New, Priority::Normal, Some(3 * 3600 + 300)),
        ticket(1045, "Password reset link expired", Status::PendingCustomer, Priority::Low, None),
    ]
}

pub fn comment(n: u128, ticket: &Ticket, author: u128, body: &str, internal: bool, seq: i64) -> Comment {
    Comment {
        id: id(5000 + n),
        ticket_id: ticket.id,
        author_id: id(author),
        author: None,
        body: body.to_owned(),
        internal,
        created_at: now() - chrono::Duration::minutes(30 - seq),
        seq,
    }
}

pub fn detail(ticket: Ticket) -> TicketDetail {
    let comments = vec![
        comment(1, &ticket, 50, "It happened again this morning, twice.", false, 1),
        comment(2, &ticket, 1, "Looks like the tunnel MTU; checking the gateway logs before replying.", true, 2),
        comment(3, &ticket, 1, "Thanks Rita, we are on it and will update you within the hour.", false, 3),
    ];
    TicketDetail {
        ticket,
        comments,
        transitions: vec![
            Transition { to: Status::InProgress, name: "start".to_owned() },
            Transition { to: Status::Resolved, name: "resolve".to_owned() },
        ],
        attachments: Vec::new(),
        subtickets: Vec::new(),
        links: Vec::new(),
        watchers: vec![hdms_api_types::tickets::Watcher { user_id: id(50), name: "Rita Requester".to_owned(), role: Role::Customer }],
        approvals: Vec::new(),
        rating: None,
    }
}

/// Keys as written in tests: plain characters, and `<enter>`, `<tab>`, `<esc>`, `<space>`,
/// `<down>`, `<up>`, `<bs>`, `<c-x>` (Ctrl-x), `<G>` for shifted letters.
pub fn keys(spec: &str) -> Vec<KeyEvent> {
    let mut out = Vec::new();
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '<' {
            let modifiers = if c.is_ascii_uppercase() { KeyModifiers::SHIFT } else { KeyModifiers::NONE };
            out.push(KeyEvent::new(KeyCode::Char(c), modifiers));
            continue;
        }
        let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
        let key = match name.as_str() {
            "enter" => KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
            "tab" => KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE),
            "esc" => KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
            "space" => KeyEvent::new(KeyCode::Char(' '), KeyModifiers::NONE),
            "down" => KeyEvent::new(KeyCode::Down, KeyModifiers::NONE),
            "up" => KeyEvent::new(KeyCode::Up, KeyModifiers::NONE),
            "bs" => KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE),
            "lt" => KeyEvent::new(KeyCode::Char('<'), KeyModifiers::NONE),
            "a-enter" => KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT),
            other if other.starts_with("a-") => KeyEvent::new(KeyCode::Char(other.chars().nth(2).unwrap()), KeyModifiers::ALT),
            other if other.starts_with("c-") => {
                KeyEvent::new(KeyCode::Char(other.chars().nth(2).unwrap()), KeyModifiers::CONTROL)
            }
            other => panic!("unknown key <{other}>"),
        };
        out.push(key);
    }
    out
}

/// Types `spec` into the state; answers every effect of every key.
pub fn press(state: &mut State, spec: &str) -> Vec<Effect> {
    keys(spec).into_iter().flat_map(|key| update(state, Event::Key(key))).collect()
}

pub fn calls(effects: &[Effect]) -> Vec<(RequestId, Call)> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Call { id, call } => Some((*id, call.clone())),
            _ => None,
        })
        .collect()
}

/// A fresh state, signed in as Dana, with every first request answered: the queues hold
/// `tickets` (My open gets them all), views none, no notifications.
pub fn signed_in(tickets: Vec<Ticket>) -> State {
    signed_in_as(agent(), tickets)
}

/// [`signed_in`] as anyone: staff get `tickets` in My open, a customer in each of their tabs.
pub fn signed_in_as(user: User, tickets: Vec<Ticket>) -> State {
    let customer = user.role == Role::Customer;
    let mut state = State::new("http://desk.example", Keymap::default(), now());
    update(&mut state, Event::Resize { width: 120, height: 40 });
    let effects = update(&mut state, Event::Resumed { server: "http://desk.example".to_owned() });
    let (me_id, _) = calls(&effects)[0].clone();
    let effects = update(&mut state, Event::Answer { id: me_id, answer: Ok(Answer::Me(user)) });
    for (id, call) in calls(&effects) {
        let answer = match call {
            Call::Tickets(query) if customer || query.assignee.as_deref() == Some("me") => {
                Answer::Tickets(Page { items: tickets.clone(), next_cursor: None })
            }
            Call::CountTickets(_) if customer => Answer::Count(tickets.len() as u64),
            Call::Tickets(_) | Call::ApprovalQueue => Answer::Tickets(Page { items: Vec::new(), next_cursor: None }),
            Call::CountTickets(query) if query.assignee.as_deref() == Some("me") => Answer::Count(tickets.len() as u64),
            Call::CountTickets(_) => Answer::Count(0),
            Call::Views => Answer::Views(Vec::new()),
            Call::UnreadCount => Answer::Unread(2),
            Call::Teams => Answer::Teams(Vec::new()),
            other => panic!("unexpected call at sign-in: {other:?}"),
        };
        update(&mut state, Event::Answer { id, answer: Ok(answer) });
    }
    state
}

/// Opens the selected ticket and answers its load with `detail`.
pub fn open_ticket(state: &mut State, detail: TicketDetail) {
    let effects = press(state, "<enter>");
    for (id, call) in calls(&effects) {
        if let Call::TicketDetail(_) = call {
            update(state, Event::Answer { id, answer: Ok(Answer::Detail(Box::new(detail.clone()))) });
        }
    }
}
