//! The one owner of the client's state and the pure `update` every event goes through.
//!
//! Keys, server answers, websocket events and clock ticks arrive as [`Event`]s; `update` changes
//! the [`State`] and answers the [`Effect`]s the runtime must perform (HTTP calls, websocket
//! commands, the clipboard). Nothing in here touches the network, the terminal or the clock.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyEvent, KeyEventKind};
use hdms_api_types::users::User;
use uuid::Uuid;

use crate::actions;
use crate::call::{Answer, Call, Failure, RequestId};
use crate::keys::{Action, Context, Keymap};
use crate::overlay::{Overlay, OverlayOutcome};
use crate::realtime::{Connection, LiveCommand, LiveEvent};
use crate::screens::{dashboard, login, notifications, queues, ticket};

/// A name looked up by id is asked again after this long (someone renamed shows the new name;
/// names that come with tickets and presence are always the server's latest).
const NAME_LOOKUP_SECS: i64 = 15 * 60;

/// How long a message stays in the message line, and a toast on screen.
const MESSAGE_SECS: i64 = 10;
const TOAST_SECS: i64 = 5;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Key(KeyEvent),
    Paste(String),
    Resize { width: u16, height: u16 },
    /// The clock, a few times a second: SLA countdowns, toasts, typing timeouts.
    Tick(DateTime<Utc>),
    Answer { id: RequestId, answer: Result<Answer, Failure> },
    Live(LiveEvent),
    /// A saved session was found at start: skip the login screen.
    Resumed { server: String },
    /// Something worth telling that is not an error (the credential store's notices).
    Notice(String),
    /// An upload of the request `id` has sent `sent` of `total` bytes.
    Progress { id: RequestId, label: String, sent: u64, total: u64 },
    /// The external editor closed (the edited text, or why it failed).
    EditorDone { ticket: Uuid, result: Result<String, String> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Call { id: RequestId, call: Call },
    Live(LiveCommand),
    /// Signed in: the runtime starts the websocket worker with the session's credential.
    StartLive,
    /// Put the text on the clipboard through OSC 52 (works over ssh and tmux).
    Copy(String),
    /// Hand the terminal to `$VISUAL`/`$EDITOR` on the draft; [`Event::EditorDone`] follows.
    RunEditor { ticket: Uuid, text: String },
    Quit,
}

/// The full-screen views; overlays (help, menus, prompts) sit above them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Login,
    Queues,
    Ticket,
    Notifications,
    /// Supervisors and admins: the desk's numbers.
    Dashboard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub error: bool,
    pub at: DateTime<Utc>,
}

/// An upload under way, shown in the message line as a gauge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub id: RequestId,
    pub label: String,
    pub sent: u64,
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub title: String,
    pub body: String,
    pub ticket: Option<Uuid>,
    pub at: DateTime<Utc>,
}

/// What an answer is for, so it reaches the part of the state that asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Purpose {
    Login,
    Me,
    Views,
    Queue { tab: queues::TabKey, append: bool },
    /// A queue's count, for its tab.
    Count { tab: queues::TabKey },
    Ticket { ticket: Uuid },
    /// Open the ticket the answer names (claim next, a number typed, a link).
    OpenTicket,
    History { ticket: Uuid },
    /// A change to the open ticket: reload it on success; `done` goes in the message line.
    TicketChange { ticket: Uuid, done: String },
    Reply { ticket: Uuid },
    /// Canned replies or macros for the composer's picker.
    ComposerLists { ticket: Uuid },
    Bulk,
    Notifications,
    MarkRead,
    Unread,
    Saved,
    Teams,
    /// Names for ids seen in conversations.
    Name(Uuid),
    /// A menu built from the answer (people or teams to assign to).
    Picker(actions::PickerFor),
    Dashboard,
}

/// What every part of the state shares: who and where we are, the keys, the clock, the message
/// line, and the requests in flight.
#[derive(Debug, Clone)]
pub struct Shared {
    pub server: String,
    pub me: Option<User>,
    pub keymap: Keymap,
    pub now: DateTime<Utc>,
    pub width: u16,
    pub height: u16,
    pub connection: Connection,
    pub unread: i64,
    pub message: Option<Message>,
    pub toast: Option<Toast>,
    pub progress: Option<Progress>,
    /// Display names by user id (from tickets' summaries, watchers, lookups).
    pub people: HashMap<Uuid, String>,
    /// When names were looked up one by one (they are asked again after [`NAME_LOOKUP_SECS`]).
    pub looked_up: HashMap<Uuid, DateTime<Utc>>,
    /// Ids by email, for prompts that name people (approvers).
    pub emails: HashMap<String, Uuid>,
    /// The teams (filters and assign menus name them).
    pub teams: Vec<hdms_api_types::tickets::TeamSummary>,
    /// Each team's members (the dashboard shows a supervisor their own teams).
    pub team_members: Vec<(Uuid, Vec<Uuid>)>,
    /// Where the composer keeps drafts (none in tests that need no disk).
    pub drafts: Option<crate::composer::DraftWriter>,
    next_request: u64,
    pending: HashMap<RequestId, Purpose>,
    effects: Vec<Effect>,
}

impl Shared {
    /// Asks the runtime for `call`; the answer comes back to `purpose`.
    pub fn call(&mut self, purpose: Purpose, call: Call) -> RequestId {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        self.pending.insert(id, purpose);
        self.effects.push(Effect::Call { id, call });
        id
    }

    pub fn effect(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    pub fn live(&mut self, command: LiveCommand) {
        self.effects.push(Effect::Live(command));
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.message = Some(Message { text: text.into(), error: false, at: self.now });
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.message = Some(Message { text: text.into(), error: true, at: self.now });
    }

    pub fn me_id(&self) -> Option<Uuid> {
        self.me.as_ref().map(|me| me.id)
    }

    pub fn is_staff(&self) -> bool {
        self.me.as_ref().is_some_and(|me| me.role != hdms_api_types::Role::Customer)
    }

    /// A person's name, or a short id while the name is being looked up.
    pub fn name(&self, id: Uuid) -> String {
        match self.people.get(&id) {
            Some(name) => name.clone(),
            None => format!("user {}", &id.simple().to_string()[..8]),
        }
    }

    /// Looks up names not known yet, or looked up long ago (once each at a time).
    pub fn want_names(&mut self, ids: impl IntoIterator<Item = Uuid>) {
        for id in ids {
            let asked = self.pending.values().any(|p| *p == Purpose::Name(id));
            let stale = self.looked_up.get(&id).is_some_and(|at| (self.now - *at).num_seconds() >= NAME_LOOKUP_SECS);
            if (!self.people.contains_key(&id) || stale) && !asked {
                self.call(Purpose::Name(id), Call::User(id));
            }
        }
    }

    pub fn learn_ticket_people(&mut self, ticket: &hdms_api_types::tickets::Ticket) {
        for person in [&ticket.requester, &ticket.assignee].into_iter().flatten() {
            self.learn_person(person.id, &person.name, &person.email);
        }
    }

    /// A name as the server gives it now (a ticket's summary, presence, a lookup): it replaces
    /// whatever was known.
    pub fn learn_person(&mut self, id: Uuid, name: &str, email: &str) {
        self.looked_up.remove(&id);
        self.people.insert(id, name.to_owned());
        self.emails.insert(email.to_lowercase(), id);
    }

    /// The name to show for a ticket's person: the ticket's own summary, else a name known
    /// here (never a request per row), else `…`.
    pub fn person_name(&self, summary: &Option<hdms_api_types::tickets::PersonSummary>, id: Option<Uuid>) -> String {
        match (summary, id) {
            (Some(person), _) => person.name.clone(),
            (None, Some(id)) => self.people.get(&id).cloned().unwrap_or_else(|| "…".to_owned()),
            (None, None) => "—".to_owned(),
        }
    }

    pub fn people_by_email(&self, email: &str) -> Option<Uuid> {
        self.emails.get(&email.to_lowercase()).copied()
    }

    /// Whether a request is still awaited.
    pub fn is_pending(&self, id: RequestId) -> bool {
        self.pending.contains_key(&id)
    }
}

#[derive(Debug, Clone)]
pub struct State {
    pub shared: Shared,
    pub view: View,
    /// Where Esc goes back to.
    pub back: Vec<View>,
    pub login: login::Login,
    pub queues: queues::Queues,
    pub ticket: Option<ticket::TicketView>,
    pub notifications: notifications::Notifications,
    pub dashboard: dashboard::Dashboard,
    pub overlay: Option<Overlay>,
    pub quit: bool,
}

impl State {
    pub fn new(server: &str, keymap: Keymap, now: DateTime<Utc>) -> State {
        State {
            shared: Shared {
                server: server.to_owned(),
                me: None,
                keymap,
                now,
                width: 80,
                height: 24,
                connection: Connection::Off,
                unread: 0,
                message: None,
                toast: None,
                progress: None,
                people: HashMap::new(),
                looked_up: HashMap::new(),
                emails: HashMap::new(),
                teams: Vec::new(),
                team_members: Vec::new(),
                drafts: None,
                next_request: 0,
                pending: HashMap::new(),
                effects: Vec::new(),
            },
            view: View::Login,
            back: Vec::new(),
            login: login::Login::new(None),
            queues: queues::Queues::default(),
            ticket: None,
            notifications: notifications::Notifications::default(),
            dashboard: dashboard::Dashboard::default(),
            overlay: None,
            quit: false,
        }
    }

    /// The key contexts in force, most specific first (also what the footer and help show).
    pub fn contexts(&self) -> Vec<Context> {
        if let Some(overlay) = &self.overlay {
            return overlay.contexts();
        }
        match self.view {
            View::Login => vec![Context::Login],
            View::Queues => vec![Context::Queues, Context::List, Context::Global],
            View::Ticket => match &self.ticket {
                Some(view) if view.composer_open() => vec![Context::Composer],
                _ => vec![Context::Ticket, Context::List, Context::Global],
            },
            View::Notifications => vec![Context::Notifications, Context::List, Context::Global],
            View::Dashboard => vec![Context::Dashboard, Context::List, Context::Global],
        }
    }

    /// Moves to a full-screen view, remembering where to come back to.
    pub fn go(&mut self, view: View) {
        if self.view != view {
            self.back.push(self.view);
            self.view = view;
        }
    }

    fn go_back(&mut self) {
        if self.view == View::Ticket
            && let Some(view) = self.ticket.take()
        {
            self.shared.live(LiveCommand::Unwatch { ticket: view.id });
        }
        match self.back.pop() {
            Some(view) => self.view = view,
            None => self.quit(),
        }
        if self.view == View::Ticket && self.ticket.is_none() {
            self.view = View::Queues;
        }
    }

    fn quit(&mut self) {
        self.quit = true;
        self.shared.effect(Effect::Quit);
    }

    /// Signed in as `user`: load the queues and go live.
    fn signed_in(&mut self, user: User) {
        self.shared.learn_person(user.id, &user.name, &user.email);
        // One table, cut to the role: a customer has no staff key (and sees none).
        self.shared.keymap.cut_to(user.role);
        self.queues = queues::Queues::for_role(user.role);
        self.shared.me = Some(user);
        self.view = View::Queues;
        self.back.clear();
        self.shared.effect(Effect::StartLive);
        self.shared.connection = Connection::Connecting;
        self.shared.live(LiveCommand::FollowQueues);
        self.shared.call(Purpose::Views, Call::Views);
        self.shared.call(Purpose::Unread, Call::UnreadCount);
        self.shared.call(Purpose::Teams, Call::Teams);
        self.queues.load_all(&mut self.shared);
    }

    /// Opens a ticket's screen (replacing one already open).
    pub fn open_ticket(&mut self, id: Uuid) {
        if let Some(old) = self.ticket.take()
            && old.id != id
        {
            self.shared.live(LiveCommand::Unwatch { ticket: old.id });
        }
        self.queues.seen(id);
        let view = ticket::TicketView::open(id, &mut self.shared);
        self.ticket = Some(view);
        if self.view != View::Ticket {
            self.go(View::Ticket);
        }
    }
}

/// The heart of the client: one event in, the state changed, the effects to perform out.
pub fn update(state: &mut State, event: Event) -> Vec<Effect> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => on_key(state, key),
        Event::Key(_) => {}
        Event::Paste(text) => on_paste(state, &text),
        Event::Resize { width, height } => {
            state.shared.width = width;
            state.shared.height = height;
            state.queues.clamp(&state.shared);
        }
        Event::Tick(now) => on_tick(state, now),
        Event::Answer { id, answer } => on_answer(state, id, answer),
        Event::Live(event) => on_live(state, event),
        Event::Notice(text) => state.shared.info(text),
        Event::Progress { id, label, sent, total } => {
            // Only while the request is awaited: a late report after its answer is dropped.
            if state.shared.is_pending(id) {
                state.shared.progress = Some(Progress { id, label, sent, total });
            }
        }
        Event::EditorDone { ticket, result } => {
            if let Some(view) = state.ticket.as_mut().filter(|v| v.id == ticket) {
                view.editor_done(result);
            }
        }
        Event::Resumed { server } => {
            state.shared.server = server;
            state.view = View::Login;
            state.login.resuming = true;
            state.shared.call(Purpose::Me, Call::Me);
        }
    }
    std::mem::take(&mut state.shared.effects)
}

fn on_tick(state: &mut State, now: DateTime<Utc>) {
    state.shared.now = now;
    if state.shared.message.as_ref().is_some_and(|m| (now - m.at).num_seconds() >= MESSAGE_SECS) {
        state.shared.message = None;
    }
    if state.shared.toast.as_ref().is_some_and(|t| (now - t.at).num_seconds() >= TOAST_SECS) {
        state.shared.toast = None;
    }
    state.queues.tick(&mut state.shared);
    if state.view == View::Dashboard && state.overlay.is_none() {
        state.dashboard.tick(&mut state.shared);
    }
}

fn on_paste(state: &mut State, text: &str) {
    if let Some(overlay) = &mut state.overlay {
        overlay.paste(text);
        return;
    }
    match state.view {
        View::Login => state.login.paste(text),
        View::Ticket => {
            if let Some(view) = &mut state.ticket {
                view.paste(text, &mut state.shared);
            }
        }
        _ => {}
    }
}

fn on_key(state: &mut State, key: KeyEvent) {
    if Keymap::is_hard_quit(key) {
        state.quit();
        return;
    }
    // A key answers the message line: it has been read.
    if state.shared.message.as_ref().is_some_and(|m| !m.error) {
        state.shared.message = None;
    }
    if state.overlay.is_some() {
        on_overlay_key(state, key);
        return;
    }
    match state.view {
        View::Login => {
            if let Some(call) = state.login.key(key, &state.shared.keymap) {
                match call {
                    login::Outcome::Quit => state.quit(),
                    login::Outcome::Call(call) => {
                        let id = state.shared.call(Purpose::Login, call);
                        state.login.pending = Some(id);
                    }
                }
            }
        }
        View::Ticket if state.ticket.as_ref().is_some_and(|v| v.composer_open()) => {
            let view = state.ticket.as_mut().expect("checked above");
            if let ticket::Outcome::Overlay(overlay) = view.composer_key(key, &mut state.shared) {
                state.overlay = Some(overlay);
            }
        }
        view => {
            let contexts = state.contexts();
            let action = state.shared.keymap.action(&contexts, key);
            match action {
                Some(Action::Help) => state.overlay = Some(Overlay::help(contexts)),
                Some(Action::Quit) if view == View::Queues => state.quit(),
                Some(Action::Quit | Action::Back) => state.go_back(),
                Some(Action::Notifications) if view != View::Notifications => {
                    state.go(View::Notifications);
                    state.notifications.load(&mut state.shared);
                }
                Some(action) => on_screen_action(state, view, action),
                None => {}
            }
        }
    }
}

fn on_screen_action(state: &mut State, view: View, action: Action) {
    if action == Action::Dashboard {
        state.go(View::Dashboard);
        state.dashboard.load(&mut state.shared);
        return;
    }
    match view {
        View::Dashboard => {
            if let Some(request) = state.dashboard.action(action, &mut state.shared) {
                state.queues.open_focus(request.title, request.query, &mut state.shared);
                state.go(View::Queues);
            }
        }
        View::Queues => match state.queues.action(action, &mut state.shared) {
            queues::Outcome::None => {}
            queues::Outcome::Open(id) => state.open_ticket(id),
            queues::Outcome::Overlay(overlay) => state.overlay = Some(overlay),
        },
        View::Ticket => {
            let Some(view) = state.ticket.as_mut() else { return };
            match view.action(action, &mut state.shared) {
                ticket::Outcome::None => {}
                ticket::Outcome::Open(id) => state.open_ticket(id),
                ticket::Outcome::Overlay(overlay) => state.overlay = Some(overlay),
            }
        }
        View::Notifications => {
            if let Some(ticket) = state.notifications.action(action, &mut state.shared) {
                state.open_ticket(ticket);
            }
        }
        View::Login => {}
    }
}

fn on_overlay_key(state: &mut State, key: KeyEvent) {
    let overlay = state.overlay.as_mut().expect("checked by the caller");
    match overlay.key(key, &state.shared.keymap) {
        OverlayOutcome::Stay => {}
        OverlayOutcome::Close => state.overlay = None,
        OverlayOutcome::Chosen(choice) => actions::choose(state, choice),
        OverlayOutcome::Submitted(kind, values) => actions::submit(state, kind, values),
    }
}

fn on_answer(state: &mut State, id: RequestId, answer: Result<Answer, Failure>) {
    let Some(purpose) = state.shared.pending.remove(&id) else {
        return; // nobody waits for it any more
    };
    if state.shared.progress.as_ref().is_some_and(|p| p.id == id) {
        state.shared.progress = None;
    }
    if let Err(failure) = &answer
        && failure.is_unauthenticated()
        && state.shared.me.is_some()
    {
        state.shared.me = None;
        state.view = View::Login;
        state.overlay = None;
        state.login = login::Login::new(None);
        state.shared.error(format!("Signed out: {failure}. Sign in again."));
        return;
    }
    // An overlay waiting on this request (a prompt that submitted) closes on success and
    // keeps what was typed on failure.
    if let Some(overlay) = &mut state.overlay
        && overlay.pending() == Some(id)
    {
        match &answer {
            Ok(_) => {
                if !matches!(purpose, Purpose::Bulk | Purpose::Picker(_)) {
                    state.overlay = None;
                }
            }
            Err(failure) => overlay.failed(failure.to_string()),
        }
    }
    match purpose {
        Purpose::Login | Purpose::Me => match answer {
            Ok(Answer::LoggedIn { user, saved_in }) => {
                state.shared.info(format!("Signed in as {} ({}); session kept in {saved_in}", user.email, user.role));
                state.signed_in(user);
            }
            Ok(Answer::Me(user)) => state.signed_in(user),
            Ok(Answer::OtpRequired { challenge, phone_hint, expires_in }) => {
                state.login.ask_code(challenge, phone_hint, expires_in);
            }
            Ok(_) => {}
            Err(failure) => state.login.failed(&failure),
        },
        Purpose::Views => match answer {
            Ok(Answer::Views(views)) => state.queues.set_views(views, &mut state.shared),
            Ok(_) => {}
            Err(failure) => state.shared.error(format!("Saved views: {failure}")),
        },
        Purpose::Queue { tab, append } => state.queues.answer(id, tab, append, answer, &mut state.shared),
        Purpose::Count { tab } => state.queues.answer_count(id, tab, answer),
        Purpose::Ticket { ticket } => {
            if let Some(view) = state.ticket.as_mut().filter(|v| v.id == ticket) {
                view.answer_detail(id, answer, &mut state.shared);
            }
        }
        Purpose::History { ticket } => {
            if let Some(view) = state.ticket.as_mut().filter(|v| v.id == ticket) {
                view.answer_history(answer, &mut state.shared);
            }
        }
        Purpose::OpenTicket => match answer {
            Ok(Answer::Ticket(ticket)) => {
                state.shared.info(format!("{} {}", ticket.number, ticket.subject));
                state.queues.ticket_changed(&ticket, "claimed", &state.shared);
                state.open_ticket(ticket.id);
            }
            Ok(_) => {}
            Err(failure) => state.shared.error(failure.to_string()),
        },
        Purpose::TicketChange { ticket, done } => match answer {
            Ok(answer) => {
                if let Answer::Ticket(changed) = &answer {
                    state.queues.ticket_changed(changed, "updated", &state.shared);
                }
                if let Answer::Merged(result) = &answer {
                    state.queues.ticket_changed(&result.merged, "merged", &state.shared);
                }
                state.shared.info(done);
                if let Some(view) = state.ticket.as_mut().filter(|v| v.id == ticket) {
                    view.reload(&mut state.shared);
                }
            }
            Err(failure) => state.shared.error(failure.to_string()),
        },
        Purpose::Reply { ticket } => {
            if let Some(view) = state.ticket.as_mut().filter(|v| v.id == ticket) {
                view.answer_reply(answer, &mut state.shared);
            } else if let Err(failure) = answer {
                state.shared.error(format!("The reply was not sent: {failure}"));
            }
        }
        Purpose::ComposerLists { ticket } => {
            if let Some(view) = state.ticket.as_mut().filter(|v| v.id == ticket) {
                view.composer_lists(answer, &mut state.shared);
            }
        }
        Purpose::Bulk => actions::bulk_answer(state, answer),
        Purpose::Notifications => state.notifications.answer(answer, &mut state.shared),
        Purpose::MarkRead => match answer {
            Ok(Answer::Unread(count)) => state.shared.unread = count,
            Ok(_) => {}
            Err(failure) => state.shared.error(failure.to_string()),
        },
        Purpose::Unread => {
            if let Ok(Answer::Unread(count)) = answer {
                state.shared.unread = count;
            }
        }
        Purpose::Saved => match answer {
            Ok(Answer::Saved { path, bytes }) => state.shared.info(format!("Saved {bytes} bytes to {}", path.display())),
            Ok(_) => {}
            Err(failure) => state.shared.error(failure.to_string()),
        },
        Purpose::Teams => {
            if let Ok(Answer::Teams(teams)) = answer {
                state.shared.team_members = teams.iter().map(|team| (team.id, team.members.clone())).collect();
                state.shared.teams = teams
                    .into_iter()
                    .map(|team| hdms_api_types::tickets::TeamSummary { id: team.id, name: team.name })
                    .collect();
            }
        }
        Purpose::Name(user) => {
            if let Ok(Answer::User(found)) = answer {
                state.shared.learn_person(user, &found.name, &found.email);
                state.shared.looked_up.insert(user, state.shared.now);
            } else if !state.shared.people.contains_key(&user) {
                // Not readable: a customer may not read users, and everyone else in their
                // tickets is the support team (presence names those who are there); staff see
                // the short id.
                let shown = if state.shared.is_staff() { format!("user {}", &user.simple().to_string()[..8]) } else { "Support".to_owned() };
                state.shared.people.insert(user, shown);
            }
        }
        Purpose::Picker(picker) => actions::picker_answer(state, id, picker, answer),
        Purpose::Dashboard => state.dashboard.answer(id, answer, &mut state.shared),
    }
}

fn on_live(state: &mut State, event: LiveEvent) {
    match event {
        LiveEvent::Connection(connection) => {
            let back_online = connection == Connection::Online && state.shared.connection != Connection::Online;
            state.shared.connection = connection;
            if back_online && state.shared.me.is_some() {
                // Whatever changed while away: the queues and the unread count catch up.
                state.shared.call(Purpose::Unread, Call::UnreadCount);
            }
        }
        LiveEvent::Message { ticket, seq, comment } => {
            if let Some(view) = state.ticket.as_mut().filter(|v| v.id == ticket) {
                view.live_message(seq, *comment, &mut state.shared);
            }
        }
        LiveEvent::Presence { ticket, viewing, typing } => {
            let me = state.shared.me_id();
            let others = |ids: Vec<Uuid>| ids.into_iter().filter(|id| Some(*id) != me).collect::<Vec<_>>();
            let (viewing, typing) = (others(viewing), others(typing));
            state.shared.want_names(viewing.iter().chain(typing.iter()).copied());
            state.queues.set_viewing(ticket, !viewing.is_empty());
            if let Some(view) = state.ticket.as_mut().filter(|v| v.id == ticket) {
                view.presence(viewing, typing);
            }
        }
        LiveEvent::People(people) => {
            for person in people {
                state.shared.learn_person(person.id, &person.name, &person.email);
            }
        }
        LiveEvent::TicketChanged { ticket, reason } => {
            state.shared.learn_ticket_people(&ticket);
            state.queues.ticket_changed(&ticket, &reason, &state.shared);
            if let Some(view) = state.ticket.as_mut().filter(|v| v.id == ticket.id) {
                view.ticket_changed(*ticket, &reason, &mut state.shared);
            }
        }
        LiveEvent::TicketHidden { ticket } => state.queues.ticket_hidden(ticket, &state.shared),
        LiveEvent::Resync => {
            state.queues.refresh_loaded(&mut state.shared);
            state.shared.call(Purpose::Unread, Call::UnreadCount);
            if state.view == View::Notifications {
                state.notifications.load(&mut state.shared);
            }
            if let Some(view) = state.ticket.as_mut() {
                view.reload(&mut state.shared);
            }
        }
        LiveEvent::Notification(notification) => {
            if notification.read_at.is_none() {
                state.shared.unread += 1;
            }
            state.shared.toast = Some(Toast {
                title: notification.title.clone(),
                body: notification.body.clone(),
                ticket: notification.ticket_id,
                at: state.shared.now,
            });
            state.notifications.pushed(*notification);
        }
    }
}
