//! The queues: one tab per queue (My open, Unassigned, Breaching soon, Waiting on me, All, then
//! the agent's saved views). Pages come from the server's cursors as the cursor nears the end of
//! what is loaded, so a queue of any size opens at once; `ticket_changed` events from the
//! websocket re-file tickets without a refresh.

use std::collections::{BTreeSet, HashSet};

use hdms_api_types::tickets::{SavedView, Ticket, TicketListQuery};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Tabs};
use uuid::Uuid;

use crate::actions::{self, PromptKind};
use crate::app::{Effect, Purpose, Shared};
use crate::call::{Answer, Call, Failure, RequestId};
use crate::format;
use crate::input::Field;
use crate::keys::Action;
use crate::overlay::Overlay;
pub use crate::screens::Outcome;

/// Rows asked per page.
pub const PAGE_SIZE: u32 = 50;
/// Ask for the next page when the cursor is this close to the last loaded row.
const PREFETCH_ROWS: usize = 15;
/// The statuses of tickets that still need work.
pub const OPEN_STATUSES: &str = "new,open,in_progress,pending_customer,pending_approval";
/// "Breaching soon": the next SLA target falls due within this (or is already past).
pub const BREACHING_WITHIN_SECS: i64 = 4 * 3600;
/// Rows the screen's chrome takes (tabs, filter line, header, message, footer, status).
const CHROME_ROWS: u16 = 6;
/// After a live change to the queues, their counts are asked again this much later, once for
/// every change meanwhile: a burst (a bulk update of 500 tickets) costs one count per tab.
pub const RECOUNT_AFTER_MS: i64 = 1_000;

pub const SORTS: [(&str, &str); 5] = [
    ("-updated", "recently updated first"),
    ("-created", "newest first"),
    ("created", "oldest first"),
    ("updated", "least recently updated first"),
    ("priority", "most urgent first"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TabKey {
    MyOpen,
    Unassigned,
    Breaching,
    /// Tickets with an approval waiting on the agent.
    Approvals,
    All,
    View(Uuid),
    /// A team's or a person's open tickets, opened from the dashboard.
    Focus(Uuid),
}

#[derive(Debug, Clone)]
pub struct Tab {
    pub key: TabKey,
    pub title: String,
    /// The queue's own definition.
    pub base: TicketListQuery,
    /// What the agent narrowed it to (`/`, `f`, `s`); fields set here win over `base`.
    pub filter: TicketListQuery,
    pub rows: Vec<Ticket>,
    pub next_cursor: Option<String>,
    pub loaded: bool,
    pub loading: Option<RequestId>,
    pub selected: usize,
    /// First row shown.
    pub offset: usize,
    pub marked: BTreeSet<Uuid>,
    /// How many tickets the queue holds, as the server counted them (`GET /tickets/count`).
    pub total: Option<u64>,
    /// The count asked for and not answered yet (an older one's answer is dropped).
    pub counting: Option<RequestId>,
}

impl Tab {
    fn new(key: TabKey, title: &str, base: TicketListQuery) -> Tab {
        Tab {
            key,
            title: title.to_owned(),
            base,
            filter: TicketListQuery::default(),
            rows: Vec::new(),
            next_cursor: None,
            loaded: false,
            loading: None,
            selected: 0,
            offset: 0,
            marked: BTreeSet::new(),
            total: None,
            counting: None,
        }
    }

    /// Whether the server counts this queue (the approvals waiting on the agent come whole, so
    /// their count is the rows').
    fn counted_by_server(&self) -> bool {
        self.key != TabKey::Approvals
    }

    /// The query in force: the queue's with the agent's narrowing on top.
    pub fn query(&self) -> TicketListQuery {
        let (base, over) = (&self.base, &self.filter);
        TicketListQuery {
            status: over.status.clone().or_else(|| base.status.clone()),
            assignee: over.assignee.clone().or_else(|| base.assignee.clone()),
            team: over.team.or(base.team),
            priority: over.priority.or(base.priority),
            requester: over.requester.or(base.requester),
            tag: over.tag.clone().or_else(|| base.tag.clone()),
            breaching_within: over.breaching_within.or(base.breaching_within),
            q: over.q.clone().or_else(|| base.q.clone()),
            sort: over.sort.clone().or_else(|| base.sort.clone()),
            deleted: None,
            limit: Some(base.limit.unwrap_or(PAGE_SIZE)),
            cursor: None,
        }
    }

    /// The server's count; until it answers, `12` when everything is loaded and `50+` while
    /// more pages wait on the server.
    pub fn count(&self) -> String {
        match (self.total, self.loaded, &self.next_cursor) {
            (Some(total), _, _) => total.to_string(),
            (None, false, _) => "…".to_owned(),
            (None, true, Some(_)) => format!("{}+", self.rows.len()),
            (None, true, None) => self.rows.len().to_string(),
        }
    }

    pub fn selected_ticket(&self) -> Option<&Ticket> {
        self.rows.get(self.selected)
    }

    fn is_narrowed(&self) -> bool {
        self.filter != TicketListQuery::default()
    }

    /// Drops the row at `at`, and its mark; the selection stays on the row it was on, or the
    /// one before when that row went.
    fn remove_row(&mut self, at: usize) {
        let removed = self.rows.remove(at);
        // A row shown was counted: the count follows at once (the recount confirms it; a row
        // gained cannot be told apart from one on a page not loaded, so only the recount adds).
        self.total = self.total.map(|total| total.saturating_sub(1));
        self.marked.remove(&removed.id);
        if self.selected > at || self.selected >= self.rows.len() {
            self.selected = self.selected.saturating_sub(1);
        }
    }

    /// Whether `ticket` belongs in this queue, as far as the client can tell (a full-text
    /// search cannot be checked here: such queues only update the rows they have).
    fn admits(&self, ticket: &Ticket, me: Option<Uuid>, now: chrono::DateTime<chrono::Utc>) -> Option<bool> {
        if self.key == TabKey::Approvals {
            return (ticket.status != hdms_api_types::tickets::Status::PendingApproval).then_some(false);
        }
        if ticket.deleted_at.is_some() || ticket.merged_into_id.is_some() {
            return Some(false);
        }
        let query = self.query();
        if let Some(statuses) = &query.status
            && !statuses.split(',').any(|s| s.trim() == ticket.status.as_str())
        {
            return Some(false);
        }
        if let Some(assignee) = &query.assignee {
            let fits = match assignee.as_str() {
                "me" => ticket.assignee_id.is_some() && ticket.assignee_id == me,
                "none" => ticket.assignee_id.is_none(),
                id => ticket.assignee_id.map(|a| a.to_string()).as_deref() == Some(id),
            };
            if !fits {
                return Some(false);
            }
        }
        if query.team.is_some_and(|team| ticket.team_id != Some(team))
            || query.priority.is_some_and(|p| ticket.priority != p)
            || query.requester.is_some_and(|r| ticket.requester_id != r)
            || query.tag.as_ref().is_some_and(|tag| !ticket.tags.contains(tag))
        {
            return Some(false);
        }
        if let Some(within) = query.breaching_within {
            let cell = format::sla(ticket, now);
            let due_soon = ticket.sla.as_ref().is_some_and(|sla| {
                let target = if sla.first_response.met_at.is_none() { &sla.first_response } else { &sla.resolution };
                target.breached || target.due_at.is_some_and(|due| (due - now).num_seconds() <= within)
            });
            if !due_soon || cell.urgency == format::Urgency::None {
                return Some(false);
            }
        }
        if query.q.is_some() {
            return None;
        }
        Some(true)
    }

    /// Where a ticket new to this queue goes, or `None` when it belongs on a page not loaded.
    fn insertion_point(&self, ticket: &Ticket) -> Option<usize> {
        match self.query().sort.as_deref().unwrap_or("-created") {
            "-created" | "-updated" => Some(0),
            "priority" => {
                let at = self.rows.iter().position(|row| row.priority < ticket.priority).unwrap_or(self.rows.len());
                (at < self.rows.len() || self.next_cursor.is_none()).then_some(at)
            }
            _ => self.next_cursor.is_none().then_some(self.rows.len()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Queues {
    pub tabs: Vec<Tab>,
    pub active: usize,
    /// Tickets with activity the agent has not opened since.
    pub unread: HashSet<Uuid>,
    /// Tickets someone else is looking at.
    pub viewing: HashSet<Uuid>,
    /// When the counts are asked again after live changes (see [`RECOUNT_AFTER_MS`]).
    pub recount_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Default for Queues {
    fn default() -> Self {
        let open = || TicketListQuery { status: Some(OPEN_STATUSES.to_owned()), ..Default::default() };
        Queues {
            tabs: vec![
                Tab::new(
                    TabKey::MyOpen,
                    "My open",
                    TicketListQuery { assignee: Some("me".to_owned()), sort: Some("priority".to_owned()), ..open() },
                ),
                Tab::new(
                    TabKey::Unassigned,
                    "Unassigned",
                    TicketListQuery { assignee: Some("none".to_owned()), sort: Some("priority".to_owned()), ..open() },
                ),
                Tab::new(
                    TabKey::Breaching,
                    "Breaching",
                    TicketListQuery { breaching_within: Some(BREACHING_WITHIN_SECS), sort: Some("priority".to_owned()), ..open() },
                ),
                Tab::new(TabKey::Approvals, "Waiting on me", TicketListQuery::default()),
                Tab::new(TabKey::All, "All", TicketListQuery { sort: Some("-updated".to_owned()), ..Default::default() }),
            ],
            active: 0,
            unread: HashSet::new(),
            viewing: HashSet::new(),
            recount_at: None,
        }
    }
}

impl Queues {
    /// The queues for a role: staff get the agent's tabs; a customer (whose tickets are all
    /// their own, as the server lists them) gets their open tickets and all of them.
    pub fn for_role(role: hdms_api_types::Role) -> Queues {
        if role != hdms_api_types::Role::Customer {
            return Queues::default();
        }
        let sort = Some("-updated".to_owned());
        Queues {
            tabs: vec![
                Tab::new(TabKey::MyOpen, "Open", TicketListQuery { status: Some(OPEN_STATUSES.to_owned()), sort: sort.clone(), ..Default::default() }),
                Tab::new(TabKey::All, "All mine", TicketListQuery { sort, ..Default::default() }),
            ],
            ..Queues::default()
        }
    }
}

/// Rows of tickets visible at the current terminal height.
pub fn visible_rows(shared: &Shared) -> usize {
    usize::from(shared.height.saturating_sub(CHROME_ROWS)).max(1)
}

impl Queues {
    pub fn active_tab(&self) -> &Tab {
        &self.tabs[self.active]
    }

    /// The first page of every queue (their counts show in the tab bar).
    pub fn load_all(&mut self, shared: &mut Shared) {
        for index in 0..self.tabs.len() {
            self.load(index, false, shared);
        }
    }

    /// Asks for the first page of a tab (`append: false`) or its next page.
    pub fn load(&mut self, index: usize, append: bool, shared: &mut Shared) {
        let tab = &mut self.tabs[index];
        let call = match tab.key {
            TabKey::Approvals => Call::ApprovalQueue,
            TabKey::View(view) if !tab.is_narrowed() => Call::ViewTickets {
                view,
                limit: tab.base.limit.unwrap_or(PAGE_SIZE),
                cursor: if append { tab.next_cursor.clone() } else { None },
            },
            _ => Call::Tickets(Box::new(TicketListQuery {
                cursor: if append { tab.next_cursor.clone() } else { None },
                ..tab.query()
            })),
        };
        if append && (tab.next_cursor.is_none() || tab.loading.is_some()) {
            return;
        }
        tab.loading = Some(shared.call(Purpose::Queue { tab: tab.key, append }, call));
        if !append {
            self.count(index, shared);
        }
    }

    /// Asks the server how many tickets the tab's queue holds (the first page shows at once;
    /// the count follows on its own request).
    fn count(&mut self, index: usize, shared: &mut Shared) {
        let tab = &mut self.tabs[index];
        if tab.counted_by_server() {
            tab.counting = Some(shared.call(Purpose::Count { tab: tab.key }, Call::CountTickets(Box::new(tab.query()))));
        }
    }

    /// The server's count for a tab; one for a query since changed is dropped.
    pub fn answer_count(&mut self, id: RequestId, key: TabKey, answer: Result<Answer, Failure>) {
        let Some(tab) = self.tabs.iter_mut().find(|tab| tab.key == key && tab.counting == Some(id)) else { return };
        tab.counting = None;
        // A failed count leaves the loaded rows' count in sight; the queue itself says why.
        tab.total = match answer {
            Ok(Answer::Count(count)) => Some(count),
            _ => None,
        };
    }

    /// Live changes reached the queues: count them again a little later (one count for a
    /// burst, never a request per event).
    pub fn recount_soon(&mut self, now: chrono::DateTime<chrono::Utc>) {
        self.recount_at.get_or_insert(now + chrono::Duration::milliseconds(RECOUNT_AFTER_MS));
    }

    /// The clock: asks for the counts when a recount is due.
    pub fn tick(&mut self, shared: &mut Shared) {
        if self.recount_at.is_some_and(|at| shared.now >= at) {
            self.recount_at = None;
            for index in 0..self.tabs.len() {
                if self.tabs[index].loaded {
                    self.count(index, shared);
                }
            }
        }
    }

    /// Opens (or opens again) a tab of these tickets, from the dashboard: a queue like any
    /// other, so the same actions work from it.
    pub fn open_focus(&mut self, title: String, query: TicketListQuery, shared: &mut Shared) {
        let id = query.team.or_else(|| query.assignee.as_deref().and_then(|a| a.parse().ok())).unwrap_or_default();
        let key = TabKey::Focus(id);
        let index = match self.tabs.iter().position(|tab| tab.key == key) {
            Some(index) => index,
            None => {
                self.tabs.push(Tab::new(key, &title, query.clone()));
                self.tabs.len() - 1
            }
        };
        self.tabs[index].base = query;
        self.active = index;
        self.reload_active(shared);
    }

    pub fn set_views(&mut self, views: Vec<SavedView>, shared: &mut Shared) {
        let keep: Vec<Tab> = self.tabs.drain(..).filter(|tab| !matches!(tab.key, TabKey::View(_))).collect();
        self.tabs = keep;
        for view in views {
            let mut base = view.query.clone();
            base.cursor = None;
            self.tabs.push(Tab::new(TabKey::View(view.id), &view.name, base));
            let index = self.tabs.len() - 1;
            self.load(index, false, shared);
        }
        self.active = self.active.min(self.tabs.len() - 1);
    }

    pub fn answer(&mut self, id: RequestId, key: TabKey, append: bool, answer: Result<Answer, Failure>, shared: &mut Shared) {
        let Some(tab) = self.tabs.iter_mut().find(|tab| tab.key == key) else { return };
        if tab.loading != Some(id) {
            return; // the queue was narrowed or reloaded since
        }
        tab.loading = None;
        match answer {
            Ok(Answer::Tickets(page)) => {
                for ticket in &page.items {
                    shared.learn_ticket_people(ticket);
                }
                if append {
                    let known: HashSet<Uuid> = tab.rows.iter().map(|t| t.id).collect();
                    tab.rows.extend(page.items.into_iter().filter(|t| !known.contains(&t.id)));
                } else {
                    tab.rows = page.items;
                    tab.selected = tab.selected.min(tab.rows.len().saturating_sub(1));
                }
                tab.next_cursor = page.next_cursor;
                tab.loaded = true;
            }
            Ok(_) => {}
            Err(failure) => shared.error(format!("{}: {failure}", tab.title)),
        }
        self.clamp(shared);
    }

    /// Keeps the cursor on a row and the row on screen (after a resize or a change of rows).
    pub fn clamp(&mut self, shared: &Shared) {
        let visible = visible_rows(shared);
        for tab in &mut self.tabs {
            tab.selected = tab.selected.min(tab.rows.len().saturating_sub(1));
            if tab.selected < tab.offset {
                tab.offset = tab.selected;
            } else if tab.selected >= tab.offset + visible {
                tab.offset = tab.selected + 1 - visible;
            }
        }
    }

    fn move_to(&mut self, row: usize, shared: &mut Shared) {
        let tab = &mut self.tabs[self.active];
        tab.selected = row.min(tab.rows.len().saturating_sub(1));
        let near_end = tab.selected + PREFETCH_ROWS >= tab.rows.len();
        if near_end && tab.next_cursor.is_some() && tab.loading.is_none() {
            self.load(self.active, true, shared);
        }
        self.clamp(shared);
    }

    fn switch(&mut self, index: usize, shared: &mut Shared) {
        if index >= self.tabs.len() {
            return;
        }
        self.active = index;
        let tab = &self.tabs[index];
        if !tab.loaded && tab.loading.is_none() {
            self.load(index, false, shared);
        }
    }

    /// Reloads the first page of every queue already shown (after events may have been
    /// missed); the cursor stays where it was.
    pub fn refresh_loaded(&mut self, shared: &mut Shared) {
        for index in 0..self.tabs.len() {
            if self.tabs[index].loaded {
                self.tabs[index].loading = None;
                self.load(index, false, shared);
            }
        }
    }

    /// Reloads the active tab from its first page (after its query changed).
    pub fn reload_active(&mut self, shared: &mut Shared) {
        let tab = &mut self.tabs[self.active];
        tab.selected = 0;
        tab.offset = 0;
        tab.next_cursor = None;
        tab.loaded = false;
        tab.total = None;
        self.load(self.active, false, shared);
    }

    pub fn action(&mut self, action: Action, shared: &mut Shared) -> Outcome {
        let visible = visible_rows(shared);
        let selected = self.active_tab().selected;
        match action {
            Action::Down => self.move_to(selected + 1, shared),
            Action::Up => self.move_to(selected.saturating_sub(1), shared),
            Action::Top => self.move_to(0, shared),
            Action::Bottom => self.move_to(usize::MAX, shared),
            Action::PageDown => self.move_to(selected + visible, shared),
            Action::PageUp => self.move_to(selected.saturating_sub(visible), shared),
            Action::HalfPageDown => self.move_to(selected + visible / 2, shared),
            Action::HalfPageUp => self.move_to(selected.saturating_sub(visible / 2), shared),
            Action::Open => {
                if let Some(ticket) = self.active_tab().selected_ticket() {
                    return Outcome::Open(ticket.id);
                }
            }
            Action::NextTab => self.switch((self.active + 1) % self.tabs.len(), shared),
            Action::PrevTab => self.switch((self.active + self.tabs.len() - 1) % self.tabs.len(), shared),
            Action::Tab1 | Action::Tab2 | Action::Tab3 | Action::Tab4 | Action::Tab5 | Action::Tab6 | Action::Tab7
            | Action::Tab8 | Action::Tab9 => {
                let index = Action::ALL.iter().position(|a| *a == action).unwrap_or(0)
                    - Action::ALL.iter().position(|a| *a == Action::Tab1).unwrap_or(0);
                self.switch(index, shared);
            }
            Action::Refresh => {
                self.reload_active(shared);
                shared.call(Purpose::Unread, Call::UnreadCount);
            }
            Action::Search => {
                let current = self.active_tab().filter.q.clone().unwrap_or_default();
                return Outcome::Overlay(Overlay::prompt(
                    "Search (full text; empty clears)",
                    PromptKind::Search,
                    vec![Field::with_text("Words", &current)],
                ));
            }
            Action::Filter => return Outcome::Overlay(actions::filter_prompt(&self.active_tab().filter, shared)),
            Action::Sort => return Outcome::Overlay(actions::sort_menu()),
            Action::Mark => {
                let tab = &mut self.tabs[self.active];
                if let Some(id) = tab.selected_ticket().map(|t| t.id)
                    && !tab.marked.remove(&id)
                {
                    tab.marked.insert(id);
                }
                self.move_to(selected + 1, shared);
            }
            Action::Bulk => {
                let marked = self.active_tab().marked.len();
                if marked == 0 {
                    shared.error("Mark tickets with Space first");
                } else {
                    return Outcome::Overlay(actions::bulk_menu(marked));
                }
            }
            Action::ClaimNext => {
                shared.call(Purpose::OpenTicket, Call::ClaimNext);
            }
            Action::NewTicket => return Outcome::Overlay(actions::new_ticket_prompt()),
            Action::CopyNumber => {
                if let Some(ticket) = self.active_tab().selected_ticket() {
                    shared.effect(Effect::Copy(ticket.number.clone()));
                    shared.info(format!("Copied {}", ticket.number));
                }
            }
            _ => {}
        }
        Outcome::None
    }

    /// A ticket was created or changed (websocket feed, or an answer to one of our changes):
    /// each queue updates, drops or gains its row.
    pub fn ticket_changed(&mut self, ticket: &Ticket, reason: &str, shared: &Shared) {
        let me = shared.me_id();
        for tab in &mut self.tabs {
            let at = tab.rows.iter().position(|row| row.id == ticket.id);
            match (at, tab.admits(ticket, me, shared.now)) {
                (Some(at), Some(false)) => tab.remove_row(at),
                (Some(at), _) => tab.rows[at] = ticket.clone(),
                (None, Some(true)) if tab.loaded => {
                    if let Some(at) = tab.insertion_point(ticket) {
                        tab.rows.insert(at, ticket.clone());
                        if at <= tab.selected && tab.rows.len() > 1 {
                            tab.selected += 1;
                        }
                    }
                }
                _ => {}
            }
        }
        if matches!(reason, "created" | "commented" | "assigned") {
            self.unread.insert(ticket.id);
        }
        self.recount_soon(shared.now);
        self.clamp(shared);
    }

    /// The ticket left this user's sight (the server says `ticket_hidden`): no queue keeps it.
    pub fn ticket_hidden(&mut self, id: Uuid, shared: &Shared) {
        for tab in &mut self.tabs {
            if let Some(at) = tab.rows.iter().position(|row| row.id == id) {
                tab.remove_row(at);
            }
        }
        self.unread.remove(&id);
        self.recount_soon(shared.now);
        self.clamp(shared);
    }

    /// The agent opened the ticket: its activity is read.
    pub fn seen(&mut self, id: Uuid) {
        self.unread.remove(&id);
    }

    pub fn set_viewing(&mut self, id: Uuid, someone: bool) {
        if someone {
            self.viewing.insert(id);
        } else {
            self.viewing.remove(&id);
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, shared: &Shared) {
        let [tabs_area, filter_area, table_area] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1), Constraint::Min(1)]).areas(area);
        let titles: Vec<Line> = self
            .tabs
            .iter()
            .enumerate()
            .map(|(i, tab)| {
                let number = if i < 9 { format!("{} ", i + 1) } else { String::new() };
                // Narrow terminals get the short names so every tab stays in sight.
                let title = if area.width < 110 && tab.key == TabKey::Approvals { "Approvals" } else { tab.title.as_str() };
                Line::from(format!("{number}{title} {}", tab.count()))
            })
            .collect();
        let tabs = Tabs::new(titles)
            .select(self.active)
            .highlight_style(Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD))
            .divider("│")
            .padding("", "");
        frame.render_widget(tabs, tabs_area);

        let tab = self.active_tab();
        frame.render_widget(Paragraph::new(narrowing_line(tab)).style(Style::default().add_modifier(Modifier::DIM)), filter_area);

        let wide = area.width >= 110;
        // A customer's own tickets: no SLA (the desk's business) and no requester (themself).
        let staff = shared.is_staff();
        let mut header = vec!["", "Number", "Pri", "Status"];
        let mut widths = vec![Constraint::Length(2), Constraint::Length(8), Constraint::Length(6), Constraint::Length(12)];
        if staff {
            header.push("SLA");
            widths.push(Constraint::Length(9));
        }
        header.push("Subject");
        widths.push(Constraint::Fill(1));
        if wide && staff {
            header.push("Requester");
            widths.push(Constraint::Length(16));
        }
        header.push(if staff { "Assignee" } else { "Agent" });
        widths.push(Constraint::Length(if wide { 16 } else { 12 }));
        if wide || !staff {
            header.push("Updated");
            widths.push(Constraint::Length(7));
        }
        // What the subject column gets (the rest of the row), so a long subject ends in `…`
        // rather than being cut mid-word without a sign.
        let fixed: u16 = widths.iter().map(|w| if let Constraint::Length(n) = w { *n } else { 0 }).sum();
        let spacing = u16::try_from(widths.len().saturating_sub(1)).unwrap_or(0);
        let subject_width = usize::from(table_area.width.saturating_sub(fixed + spacing));
        let rows = tab.rows.iter().map(|ticket| {
            let mark = if tab.marked.contains(&ticket.id) { "+" } else { " " };
            let glyph = if self.viewing.contains(&ticket.id) {
                "◎"
            } else if self.unread.contains(&ticket.id) {
                "●"
            } else {
                " "
            };
            let mut cells = vec![
                Cell::from(format!("{mark}{glyph}")),
                Cell::from(ticket.number.clone()),
                Cell::from(Span::styled(ticket.priority.as_str(), format::priority_style(ticket.priority))),
                Cell::from(format::status(ticket.status)),
            ];
            if staff {
                let sla = format::sla(ticket, shared.now);
                cells.push(Cell::from(Span::styled(sla.text, sla.urgency.style())));
            }
            cells.push(Cell::from(format::fit(&ticket.subject, subject_width)));
            if wide && staff {
                cells.push(Cell::from(shared.person_name(&ticket.requester, Some(ticket.requester_id))));
            }
            cells.push(Cell::from(shared.person_name(&ticket.assignee, ticket.assignee_id)));
            if wide || !staff {
                cells.push(Cell::from(format::age(ticket.updated_at, shared.now)));
            }
            let style = if tab.marked.contains(&ticket.id) { Style::default().fg(Color::Cyan) } else { Style::default() };
            Row::new(cells).style(style)
        });
        let table = Table::new(rows, widths)
            .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)))
            .column_spacing(1)
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
        let mut table_state = TableState::default().with_offset(tab.offset);
        if !tab.rows.is_empty() {
            table_state = table_state.with_selected(Some(tab.selected));
        }
        frame.render_stateful_widget(table, table_area, &mut table_state);
        if tab.rows.is_empty() {
            let raise = shared.keymap.key_for(crate::keys::Context::Queues, Action::NewTicket).filter(|_| !staff);
            let text = match (tab.loaded, raise) {
                (false, _) => "Loading…".to_owned(),
                (true, Some(key)) => format!("No tickets here. {key} raises one."),
                (true, None) => "No tickets here.".to_owned(),
            };
            let [_, empty] = Layout::vertical([Constraint::Length(2), Constraint::Length(1)]).areas(table_area);
            frame.render_widget(Paragraph::new(text).centered(), empty);
        }
    }
}

/// What the agent narrowed the queue to, and where the list stands.
fn narrowing_line(tab: &Tab) -> String {
    let filter = &tab.filter;
    let mut parts = Vec::new();
    if let Some(q) = &filter.q {
        parts.push(format!("search “{q}”"));
    }
    for (name, value) in [("status", &filter.status), ("assignee", &filter.assignee), ("tag", &filter.tag)] {
        if let Some(value) = value {
            parts.push(format!("{name}: {value}"));
        }
    }
    if let Some(priority) = filter.priority {
        parts.push(format!("priority: {priority}"));
    }
    if filter.team.is_some() {
        parts.push("team filter".to_owned());
    }
    let sort = tab.query().sort.unwrap_or_else(|| "-created".to_owned());
    let sort_text = SORTS.iter().find(|(key, _)| *key == sort).map(|(_, text)| *text).unwrap_or("");
    parts.push(format!("sorted {sort_text}"));
    let position = if tab.rows.is_empty() {
        String::new()
    } else {
        format!("  row {} of {}", tab.selected + 1, tab.count())
    };
    format!("{}{position}", parts.join(" · "))
}
