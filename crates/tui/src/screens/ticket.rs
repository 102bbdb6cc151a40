//! One ticket: its header (status, priority, SLA, people, tags, approvals, watchers), the
//! conversation as it happens (live messages, who is viewing and typing), details (sub-tickets,
//! links, attachments) and history, the composer, and the actions on it.

use crossterm::event::KeyEvent;
use hdms_api_types::approvals::ApprovalState;
use hdms_api_types::tickets::{Comment, HistoryEntry, Ticket};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph, Tabs};
use uuid::Uuid;

use crate::actions::{self, Choice, PromptKind};
use crate::app::{Effect, Purpose, Shared};
use crate::call::{Answer, Call, Failure, RequestId, TicketDetail};
use crate::composer::{ComposerOutcome, MentionCandidate};
use crate::composer_slot::ComposerSlot;
use crate::format;
use crate::input::Field;
use crate::keys::Action;
use crate::overlay::Overlay;
pub use crate::screens::Outcome;
use crate::realtime::LiveCommand;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Conversation,
    Details,
    History,
}

impl Section {
    const ALL: [Section; 3] = [Section::Conversation, Section::Details, Section::History];
}

/// A row of the details section: what Enter (or the save key) does with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetailRow {
    Ticket { id: Uuid, text: String },
    Attachment { id: Uuid, file_name: String, downloadable: bool, text: String },
}

#[derive(Debug, Clone)]
pub struct TicketView {
    pub id: Uuid,
    pub detail: Option<TicketDetail>,
    pub loading: Option<RequestId>,
    pub section: Section,
    pub history: Option<Vec<HistoryEntry>>,
    /// Lines scrolled up from the newest message (0 follows the conversation as it grows).
    pub scroll_back: u16,
    pub detail_selected: usize,
    pub history_scroll: u16,
    /// Others looking at and typing in this ticket.
    pub viewing: Vec<Uuid>,
    pub typing: Vec<Uuid>,
    pub composer: ComposerSlot,
    /// Joined the live room (after the first load).
    watching_live: bool,
    /// Opened by staff (a customer's screen has no staff-only field).
    pub staff: bool,
}

impl TicketView {
    pub fn open(id: Uuid, shared: &mut Shared) -> TicketView {
        let loading = Some(shared.call(Purpose::Ticket { ticket: id }, Call::TicketDetail(id)));
        TicketView {
            id,
            detail: None,
            loading,
            section: Section::Conversation,
            history: None,
            scroll_back: 0,
            detail_selected: 0,
            history_scroll: 0,
            viewing: Vec::new(),
            typing: Vec::new(),
            composer: ComposerSlot::new(id),
            watching_live: false,
            staff: shared.is_staff(),
        }
    }

    pub fn version(&self) -> i64 {
        self.detail.as_ref().map(|d| d.ticket.version).unwrap_or_default()
    }

    pub fn ticket(&self) -> Option<&Ticket> {
        self.detail.as_ref().map(|d| &d.ticket)
    }

    pub fn composer_open(&self) -> bool {
        self.composer.is_open()
    }

    pub fn reload(&mut self, shared: &mut Shared) {
        self.loading = Some(shared.call(Purpose::Ticket { ticket: self.id }, Call::TicketDetail(self.id)));
        if self.history.is_some() {
            shared.call(Purpose::History { ticket: self.id }, Call::History(self.id));
        }
    }

    pub fn answer_detail(&mut self, id: RequestId, answer: Result<Answer, Failure>, shared: &mut Shared) {
        if self.loading != Some(id) {
            return;
        }
        self.loading = None;
        match answer {
            Ok(Answer::Detail(detail)) => {
                shared.learn_ticket_people(&detail.ticket);
                for watcher in &detail.watchers {
                    shared.people.insert(watcher.user_id, watcher.name.clone());
                }
                // Comments name their authors; the rest are looked up once each.
                for author in detail.comments.iter().filter_map(|c| c.author.as_ref()) {
                    shared.learn_person(author.id, &author.name, &author.email);
                }
                let named = [detail.ticket.requester_id].into_iter().chain(detail.ticket.assignee_id);
                shared.want_names(detail.comments.iter().map(|c| c.author_id).chain(named));
                // Messages that arrived live while this answer was on its way stay.
                let mut detail = *detail;
                if let Some(old) = &self.detail {
                    for comment in &old.comments {
                        if !detail.comments.iter().any(|c| c.id == comment.id) {
                            detail.comments.push(comment.clone());
                        }
                    }
                    detail.comments.sort_by_key(|c| (c.seq, c.created_at));
                }
                let last_seq = detail.comments.iter().map(|c| c.seq).max();
                self.detail = Some(detail);
                if !self.watching_live {
                    self.watching_live = true;
                    shared.live(LiveCommand::Watch { ticket: self.id, after_seq: last_seq });
                }
            }
            Ok(_) => {}
            Err(failure) => shared.error(failure.to_string()),
        }
    }

    pub fn answer_history(&mut self, answer: Result<Answer, Failure>, shared: &mut Shared) {
        match answer {
            Ok(Answer::History(entries)) => {
                shared.want_names(entries.iter().filter_map(|e| e.actor_id));
                self.history = Some(entries);
            }
            Ok(_) => {}
            Err(failure) => shared.error(failure.to_string()),
        }
    }

    /// A message in this ticket's room: added once, in order, whoever sent it.
    pub fn live_message(&mut self, seq: i64, comment: Comment, shared: &mut Shared) {
        if let Some(author) = &comment.author {
            shared.learn_person(author.id, &author.name, &author.email);
        }
        shared.want_names([comment.author_id]);
        self.typing.retain(|id| *id != comment.author_id);
        if let Some(composer) = self.composer.composer_mut() {
            composer.message_arrived(seq, Some(comment.author_id) == shared.me_id());
        }
        let Some(detail) = &mut self.detail else { return };
        if detail.comments.iter().any(|c| c.id == comment.id) {
            return;
        }
        detail.comments.push(comment);
        detail.comments.sort_by_key(|c| (c.seq, c.created_at));
    }

    pub fn presence(&mut self, viewing: Vec<Uuid>, typing: Vec<Uuid>) {
        self.viewing = viewing;
        self.typing = typing;
    }

    pub fn ticket_changed(&mut self, ticket: Ticket, reason: &str, shared: &mut Shared) {
        let Some(detail) = &mut self.detail else { return };
        if ticket.version > detail.ticket.version {
            detail.ticket = ticket;
            // The allowed moves and the rest follow the ticket's state: fetch them again,
            // except for a reply, which the room already delivered.
            if reason != "commented" {
                self.reload(shared);
            }
        }
    }

    pub fn answer_reply(&mut self, answer: Result<Answer, Failure>, shared: &mut Shared) {
        match answer {
            Ok(Answer::Comment(comment)) => {
                self.composer.sent();
                shared.info(if comment.internal { "Internal note added" } else { "Reply sent" });
                self.live_message(comment.seq, *comment, shared);
                self.scroll_back = 0;
            }
            Ok(_) => {}
            Err(failure) => {
                // The draft stays in the composer: nothing typed is lost.
                self.composer.failed(&failure.to_string());
                shared.error(format!("Not sent: {failure}"));
            }
        }
    }

    pub fn paste(&mut self, text: &str, shared: &mut Shared) {
        if self.composer.is_open() {
            let outcome = self.composer.paste(text);
            self.composer_outcome(outcome, shared);
        }
    }

    pub fn composer_key(&mut self, key: KeyEvent, shared: &mut Shared) -> Outcome {
        let outcome = self.composer.key(key);
        self.composer_outcome(outcome, shared)
    }

    /// Does what the composer asks.
    fn composer_outcome(&mut self, outcome: ComposerOutcome, shared: &mut Shared) -> Outcome {
        let ticket = self.id;
        match outcome {
            ComposerOutcome::Attach => return Outcome::Overlay(attach_prompt(ticket)),
            ComposerOutcome::None | ComposerOutcome::NeedsConfirm { .. } | ComposerOutcome::Cancelled => {}
            ComposerOutcome::Edited => shared.live(LiveCommand::Typing { ticket }),
            ComposerOutcome::Send { body, internal } => {
                let id = shared.call(Purpose::Reply { ticket }, Call::Comment { ticket, body, internal });
                self.composer.sending(id);
            }
            ComposerOutcome::OpenEditor => shared.effect(Effect::RunEditor { ticket, text: self.composer.text() }),
            ComposerOutcome::ApplyMacro(macro_id) => {
                let version = self.version();
                shared.call(Purpose::TicketChange { ticket, done: "Macro applied".to_owned() }, Call::ApplyMacro { ticket, macro_id, version });
            }
            ComposerOutcome::LoadCannedReplies => {
                shared.call(Purpose::ComposerLists { ticket }, Call::CannedReplies);
            }
            ComposerOutcome::LoadMacros => {
                shared.call(Purpose::ComposerLists { ticket }, Call::Macros);
            }
        }
        Outcome::None
    }

    /// Canned replies or macros for the composer's picker.
    pub fn composer_lists(&mut self, answer: Result<Answer, Failure>, shared: &mut Shared) {
        let Some(composer) = self.composer.composer_mut() else { return };
        match answer {
            Ok(Answer::CannedReplies(replies)) => composer.set_canned_replies(&replies),
            Ok(Answer::Macros(macros)) => composer.set_macros(&macros),
            Ok(_) => {}
            Err(failure) => shared.error(failure.to_string()),
        }
    }

    /// The external editor is done with the draft.
    pub fn editor_done(&mut self, result: Result<String, String>) {
        if let Some(composer) = self.composer.composer_mut() {
            composer.finish_editor(result.map_err(std::io::Error::other));
        }
    }

    /// Opens the composer; `@` completes the ticket's people.
    fn open_composer(&mut self, internal: bool, shared: &Shared) {
        let latest_seq = self.detail.as_ref().and_then(|d| d.comments.iter().map(|c| c.seq).max()).unwrap_or(0);
        self.composer.open(internal && shared.is_staff(), latest_seq, &shared.keymap, shared.drafts.as_ref(), shared.is_staff());
        let mut candidates: Vec<MentionCandidate> = Vec::new();
        if let Some(detail) = &self.detail {
            let ticket = &detail.ticket;
            for person in [&ticket.requester, &ticket.assignee].into_iter().flatten() {
                candidates.push(MentionCandidate { name: person.name.clone(), email: person.email.clone() });
            }
        }
        for (email, id) in &shared.emails {
            if !candidates.iter().any(|c| &c.email == email) {
                candidates.push(MentionCandidate { name: shared.name(*id), email: email.clone() });
            }
        }
        if let Some(composer) = self.composer.composer_mut() {
            composer.set_mention_candidates(candidates);
        }
    }

    fn move_by(&mut self, delta: i32) {
        match self.section {
            Section::Conversation => {
                self.scroll_back = if delta > 0 {
                    self.scroll_back.saturating_sub(delta as u16)
                } else {
                    self.scroll_back.saturating_add(delta.unsigned_abs() as u16)
                };
            }
            Section::Details => {
                let count = self.detail_rows().len();
                let next = (self.detail_selected as i64 + i64::from(delta)).clamp(0, count.saturating_sub(1) as i64);
                self.detail_selected = next as usize;
            }
            Section::History => {
                self.history_scroll = if delta > 0 {
                    self.history_scroll.saturating_add(delta as u16)
                } else {
                    self.history_scroll.saturating_sub(delta.unsigned_abs() as u16)
                };
            }
        }
    }

    pub fn action(&mut self, action: Action, shared: &mut Shared) -> Outcome {
        let page = i32::from(shared.height.saturating_sub(12)).max(1);
        match action {
            Action::Down => self.move_by(1),
            Action::Up => self.move_by(-1),
            Action::PageDown => self.move_by(page),
            Action::PageUp => self.move_by(-page),
            Action::HalfPageDown => self.move_by(page / 2),
            Action::HalfPageUp => self.move_by(-page / 2),
            Action::Top => self.move_by(-100_000),
            Action::Bottom => self.move_by(100_000),
            Action::NextTab | Action::PrevTab => {
                let at = Section::ALL.iter().position(|s| *s == self.section).unwrap_or(0);
                let next = if action == Action::NextTab { (at + 1) % 3 } else { (at + 2) % 3 };
                self.section = Section::ALL[next];
                if self.section == Section::History && self.history.is_none() {
                    shared.call(Purpose::History { ticket: self.id }, Call::History(self.id));
                }
            }
            Action::Refresh => self.reload(shared),
            Action::Reply | Action::Note => self.open_composer(action == Action::Note, shared),
            Action::ClaimNext => {
                shared.call(Purpose::OpenTicket, Call::ClaimNext);
            }
            Action::CopyNumber => {
                if let Some(ticket) = self.ticket() {
                    shared.effect(Effect::Copy(ticket.number.clone()));
                    shared.info(format!("Copied {}", ticket.number));
                }
            }
            Action::Rate => {
                let Some(ticket) = self.ticket() else { return Outcome::None };
                if !matches!(ticket.status, hdms_api_types::tickets::Status::Resolved | hdms_api_types::tickets::Status::Closed) {
                    shared.error("A ticket can be rated once it is resolved");
                    return Outcome::None;
                }
                return Outcome::Overlay(actions::rate_menu(ticket.id));
            }
            Action::Attach => return Outcome::Overlay(attach_prompt(self.id)),
            Action::Open if self.section == Section::Details => {
                if let Some(DetailRow::Ticket { id, .. }) = self.detail_rows().get(self.detail_selected) {
                    return Outcome::Open(*id);
                }
            }
            _ => {
                let Some(detail) = &self.detail else {
                    shared.error("Still loading the ticket");
                    return Outcome::None;
                };
                return self.ticket_action(action, detail, shared);
            }
        }
        Outcome::None
    }

    fn ticket_action(&self, action: Action, detail: &TicketDetail, shared: &mut Shared) -> Outcome {
        let ticket = &detail.ticket;
        let (id, version) = (ticket.id, ticket.version);
        let overlay = match action {
            Action::Transition => {
                if detail.transitions.is_empty() {
                    shared.error(format!("No move is open to you from {}", ticket.status));
                    return Outcome::None;
                }
                let items = detail
                    .transitions
                    .iter()
                    .map(|t| (format!("{} → {}", t.name, t.to.as_str()), Choice::Transition { ticket: id, to: t.to, version }))
                    .collect();
                Overlay::menu(format!("Move {} ({})", ticket.number, ticket.status), items)
            }
            Action::Assign => match shared.me_id() {
                Some(me) => actions::assign_menu(id, version, me),
                None => return Outcome::None,
            },
            Action::Priority => actions::priority_menu(id, version),
            Action::Tags => Overlay::prompt(
                "Tags (comma separated)",
                PromptKind::Tags { ticket: id, version },
                vec![Field::with_text("Tags", &ticket.tags.join(", "))],
            ),
            Action::Watch => {
                let Some(me) = shared.me_id() else { return Outcome::None };
                let watching = detail.watchers.iter().any(|w| w.user_id == me);
                let done = if watching { "You no longer watch this ticket" } else { "You watch this ticket" };
                shared.call(
                    Purpose::TicketChange { ticket: id, done: done.to_owned() },
                    Call::Watch { ticket: id, user: me, watch: !watching },
                );
                return Outcome::None;
            }
            Action::Approvals => {
                let mut items = vec![("Request an approval…".to_owned(), Choice::RequestApprovalPrompt { ticket: id })];
                for approval in detail.approvals.iter().filter(|a| a.state == ApprovalState::Pending) {
                    let reason = approval.reason.clone().unwrap_or_else(|| "approval".to_owned());
                    items.push((format!("Approve: {reason}"), Choice::Decide { ticket: id, approval: approval.id, approve: true }));
                    items.push((format!("Reject: {reason}…"), Choice::Decide { ticket: id, approval: approval.id, approve: false }));
                }
                Overlay::menu("Approvals", items)
            }
            Action::SubTicket => Overlay::prompt(
                format!("New sub-ticket of {}", ticket.number),
                PromptKind::SubTicket { parent: id },
                vec![Field::new("Subject"), Field::multiline("Description (Enter: new line)", 4)],
            ),
            Action::Link => actions::link_menu(id),
            Action::Merge => Overlay::prompt(
                format!("Merge {} into (it closes; the other survives)", ticket.number),
                PromptKind::Merge { ticket: id, version },
                vec![Field::new("Ticket number (HD-12)")],
            ),
            Action::SaveAttachment => {
                let rows = self.detail_rows();
                let chosen = match rows.get(self.detail_selected) {
                    Some(row @ DetailRow::Attachment { .. }) if self.section == Section::Details => Some(row),
                    _ => rows.iter().find(|r| matches!(r, DetailRow::Attachment { .. })),
                };
                match chosen {
                    Some(DetailRow::Attachment { id, file_name, downloadable: true, .. }) => Overlay::prompt(
                        "Save the attachment to",
                        PromptKind::SaveAttachment { attachment: *id },
                        vec![Field::with_text("Path", file_name)],
                    ),
                    Some(DetailRow::Attachment { text, .. }) => {
                        shared.error(format!("Not downloadable now: {text}"));
                        return Outcome::None;
                    }
                    _ => {
                        shared.error("This ticket has no attachments");
                        return Outcome::None;
                    }
                }
            }
            _ => return Outcome::None,
        };
        Outcome::Overlay(overlay)
    }

    /// Sub-tickets, links and attachments; a customer sees only the files (sub-tickets and
    /// links are how the desk organises its work).
    pub fn detail_rows(&self) -> Vec<DetailRow> {
        let Some(detail) = &self.detail else { return Vec::new() };
        let mut rows = Vec::new();
        let (subtickets, links) = if self.staff { (&detail.subtickets[..], &detail.links[..]) } else { (&[][..], &[][..]) };
        for child in subtickets {
            rows.push(DetailRow::Ticket {
                id: child.id,
                text: format!("sub-ticket  {}  {}  [{}]", child.number, child.subject, child.status),
            });
        }
        for link in links {
            let other = &link.other;
            let direction = if link.from_ticket_id == detail.ticket.id { link.kind.as_str().to_owned() } else { format!("{} (from)", link.kind.as_str()) };
            rows.push(DetailRow::Ticket { id: other.id, text: format!("link {direction}  {}  {}  [{}]", other.number, other.subject, other.status) });
        }
        for attachment in &detail.attachments {
            let state = if attachment.downloadable { format!("{}, downloadable", attachment.scan_state) } else { attachment.scan_state.to_string() };
            rows.push(DetailRow::Attachment {
                id: attachment.id,
                file_name: attachment.file_name.clone(),
                downloadable: attachment.downloadable,
                text: format!("attachment  {}  {} bytes  [{state}]", attachment.file_name, attachment.size),
            });
        }
        rows
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, shared: &Shared) {
        let Some(detail) = &self.detail else {
            let text = if self.loading.is_some() { "Loading the ticket…" } else { "This ticket could not be loaded." };
            frame.render_widget(Paragraph::new(text), area);
            return;
        };
        let mut header = header_lines(detail, shared, &self.viewing, &self.typing);
        if !self.composer.is_open() && self.composer.has_draft() {
            header.push(draft_line());
        }
        // The composer takes two fifths of the height (5 to 10 rows); the conversation the rest.
        let composer_height = if self.composer.is_open() { (area.height * 2 / 5).clamp(5, 10) } else { 0 };
        let [header_area, tabs_area, body_area, composer_area] = Layout::vertical([
            Constraint::Length(header.len() as u16),
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(composer_height),
        ])
        .areas(area);
        frame.render_widget(Paragraph::new(header), header_area);
        let rows = self.detail_rows();
        let titles = vec![
            format!("Conversation ({})", detail.comments.iter().filter(|c| !c.internal || shared.is_staff()).count()),
            format!("Details ({})", rows.len()),
            "History".to_owned(),
        ];
        let selected = Section::ALL.iter().position(|s| *s == self.section).unwrap_or(0);
        frame.render_widget(
            Tabs::new(titles).select(selected).highlight_style(Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)),
            tabs_area,
        );
        match self.section {
            Section::Conversation => {
                let lines = conversation_lines(detail, shared, body_area.width);
                let total = lines.len() as u16;
                let top = total.saturating_sub(body_area.height).saturating_sub(self.scroll_back);
                frame.render_widget(Paragraph::new(lines).scroll((top, 0)), body_area);
            }
            Section::Details => {
                let items: Vec<ListItem> = rows
                    .iter()
                    .map(|row| match row {
                        DetailRow::Ticket { text, .. } => ListItem::new(text.clone()),
                        DetailRow::Attachment { text, downloadable, .. } => {
                            let style = if *downloadable { Style::default() } else { Style::default().add_modifier(Modifier::DIM) };
                            ListItem::new(text.clone()).style(style)
                        }
                    })
                    .collect();
                if items.is_empty() {
                    frame.render_widget(Paragraph::new("No sub-tickets, links or attachments."), body_area);
                } else {
                    let mut list_state = ListState::default().with_selected(Some(self.detail_selected));
                    let list = List::new(items).highlight_style(Style::default().add_modifier(Modifier::REVERSED)).highlight_symbol("› ");
                    frame.render_stateful_widget(list, body_area, &mut list_state);
                }
            }
            Section::History => {
                let lines: Vec<Line> = match &self.history {
                    None => vec![Line::raw("Loading the history…")],
                    Some(entries) => entries
                        .iter()
                        .map(|entry| {
                            let who = entry.actor_id.map(|id| shared.name(id)).unwrap_or_else(|| "system".to_owned());
                            let change = match (&entry.before, &entry.after) {
                                (Some(before), Some(after)) => format!("{before} → {after}"),
                                (None, Some(after)) => after.clone(),
                                (Some(before), None) => format!("{before} → (none)"),
                                (None, None) => String::new(),
                            };
                            Line::from(vec![
                                Span::styled(format!("{}  ", format::when(entry.at)), Style::default().add_modifier(Modifier::DIM)),
                                Span::raw(format!("{who}  ")),
                                Span::styled(format!("{}: ", entry.field), Style::default().add_modifier(Modifier::BOLD)),
                                Span::raw(change),
                            ])
                        })
                        .collect(),
                };
                frame.render_widget(Paragraph::new(lines).scroll((self.history_scroll, 0)), body_area);
            }
        }
        if self.composer.is_open() {
            self.composer.draw(frame, composer_area);
        }
    }
}

fn header_lines(detail: &TicketDetail, shared: &Shared, viewing: &[Uuid], typing: &[Uuid]) -> Vec<Line<'static>> {
    let ticket = &detail.ticket;
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let dim = Style::default().add_modifier(Modifier::DIM);
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{}  ", ticket.number), bold.fg(Color::Cyan)),
        Span::styled(ticket.subject.clone(), bold),
    ])];
    if !shared.is_staff() {
        // A customer's own ticket: where it stands and who works on it; no SLA, team, tags,
        // approvals or watchers (the desk's own business).
        let mut state_line = vec![
            Span::styled("Status ", dim),
            Span::raw(format!("{}  ", ticket.status)),
            Span::styled("Priority ", dim),
            Span::styled(format!("{}  ", ticket.priority), format::priority_style(ticket.priority)),
            Span::styled("Raised ", dim),
            Span::raw(format::when(ticket.created_at)),
        ];
        if let Some(rating) = &detail.rating {
            state_line.push(Span::styled("  Rated ", dim));
            state_line.push(Span::raw(rating.score.as_str()));
        }
        lines.push(Line::from(state_line));
        let agent = match &ticket.assignee {
            Some(person) => person.name.clone(),
            None => "not assigned yet".to_owned(),
        };
        lines.push(Line::from(vec![Span::styled("Agent ", dim), Span::raw(agent)]));
        lines.push(presence_line(shared, viewing, typing));
        return lines;
    }
    let sla = format::sla(ticket, shared.now);
    let mut state_line = vec![
        Span::styled("Status ", dim),
        Span::raw(format!("{}  ", ticket.status)),
        Span::styled("Priority ", dim),
        Span::styled(format!("{}  ", ticket.priority), format::priority_style(ticket.priority)),
        Span::styled("SLA ", dim),
        Span::styled(sla.text.clone(), sla.urgency.style()),
    ];
    if ticket.sla.as_ref().is_some_and(|sla| sla.paused) {
        state_line.push(Span::styled("  (clock paused)", dim));
    }
    lines.push(Line::from(state_line));
    if let Some(sla) = ticket.sla.as_ref().filter(|_| !ticket.status.is_done()) {
        let due = |name: &str, target: &hdms_api_types::tickets::SlaTarget| match (target.met_at, target.due_at) {
            (Some(met), _) => format!("{name} met {}", format::when(met)),
            (None, Some(due)) => format!("{name} due {}", format::when(due)),
            (None, None) => format!("{name} waiting"),
        };
        lines.push(Line::from(vec![
            Span::styled("SLA times ", dim),
            Span::raw(format!("{} · {}", due("first response", &sla.first_response), due("resolution", &sla.resolution))),
        ]));
    }
    let team = match (&ticket.team, ticket.team_id) {
        (Some(team), _) => team.name.clone(),
        (None, Some(id)) => shared.teams.iter().find(|t| t.id == id).map(|t| t.name.clone()).unwrap_or_else(|| "…".to_owned()),
        (None, None) => "—".to_owned(),
    };
    lines.push(Line::from(vec![
        Span::styled("Requester ", dim),
        Span::raw(format!("{}  ", shared.person_name(&ticket.requester, Some(ticket.requester_id)))),
        Span::styled("Assignee ", dim),
        Span::raw(format!("{}  ", shared.person_name(&ticket.assignee, ticket.assignee_id))),
        Span::styled("Team ", dim),
        Span::raw(team),
    ]));
    let tags = if ticket.tags.is_empty() { "—".to_owned() } else { ticket.tags.join(", ") };
    let watchers = if detail.watchers.is_empty() {
        "—".to_owned()
    } else {
        detail.watchers.iter().map(|w| w.name.clone()).collect::<Vec<_>>().join(", ")
    };
    let approvals = match detail.approvals.last() {
        None => "—".to_owned(),
        Some(approval) => {
            let state = match approval.state {
                ApprovalState::Pending => "pending",
                ApprovalState::Approved => "approved",
                ApprovalState::Rejected => "rejected",
            };
            let decided = approval.slots.iter().filter(|s| s.decision.is_some()).count();
            format!("{state} ({}, {decided}/{} decided)", approval.rule.as_str(), approval.slots.len())
        }
    };
    lines.push(Line::from(vec![
        Span::styled("Tags ", dim),
        Span::raw(format!("{tags}  ")),
        Span::styled("Approvals ", dim),
        Span::raw(format!("{approvals}  ")),
        Span::styled("Watchers ", dim),
        Span::raw(watchers),
    ]));
    lines.push(presence_line(shared, viewing, typing));
    lines
}

/// "Dana is viewing", "Dana is typing…", by name.
fn presence_line(shared: &Shared, viewing: &[Uuid], typing: &[Uuid]) -> Line<'static> {
    let names = |ids: &[Uuid]| ids.iter().map(|id| shared.name(*id)).collect::<Vec<_>>().join(", ");
    let mut presence = Vec::new();
    if !viewing.is_empty() {
        presence.push(Span::styled(format!("◎ {} is viewing  ", names(viewing)), Style::default().fg(Color::Magenta)));
    }
    if !typing.is_empty() {
        presence.push(Span::styled(
            format!("✎ {} is typing…", names(typing)),
            Style::default().fg(Color::Magenta).add_modifier(Modifier::BOLD),
        ));
    }
    Line::from(presence)
}

/// The line saying a draft waits, shown while the composer is closed.
fn draft_line() -> Line<'static> {
    Line::styled("✎ a draft waits: r or i to go on with it", Style::default().add_modifier(Modifier::ITALIC | Modifier::DIM))
}

/// The style of an internal note's text; public replies keep the default. Tests look for it.
pub fn internal_style() -> Style {
    Style::default().fg(Color::Yellow).add_modifier(Modifier::ITALIC)
}

fn conversation_lines(detail: &TicketDetail, shared: &Shared, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width.saturating_sub(3)).max(10);
    let mut lines = Vec::new();
    let dim = Style::default().add_modifier(Modifier::DIM);
    let ticket = &detail.ticket;
    let requester = ticket.requester.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| shared.name(ticket.requester_id));
    lines.push(Line::styled(format!("DESCRIPTION · {requester} · {}", format::when(ticket.created_at)), dim.add_modifier(Modifier::BOLD)));
    for text in textwrap::wrap(&ticket.description, width) {
        lines.push(Line::from(vec![Span::styled("  ", dim), Span::raw(text.into_owned())]));
    }
    // The server never sends a customer an internal note; should one arrive anyway, it is not
    // drawn.
    for comment in detail.comments.iter().filter(|c| !c.internal || shared.is_staff()) {
        lines.push(Line::raw(""));
        let author = shared.name(comment.author_id);
        let when = format::when(comment.created_at);
        let (label, header_style, bar, body_style) = if comment.internal {
            ("INTERNAL NOTE", internal_style().add_modifier(Modifier::BOLD | Modifier::REVERSED), "┃ ", internal_style())
        } else {
            ("PUBLIC REPLY", Style::default().add_modifier(Modifier::BOLD), "│ ", Style::default())
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {label} "), header_style),
            Span::styled(format!(" {author} · {when}"), if comment.internal { internal_style() } else { Style::default().add_modifier(Modifier::BOLD) }),
        ]));
        for text in textwrap::wrap(&comment.body, width) {
            lines.push(Line::from(vec![Span::styled(bar, body_style), Span::styled(text.into_owned(), body_style)]));
        }
    }
    lines
}

/// Asks for the path of a file to attach (from the ticket or from inside the composer).
fn attach_prompt(ticket: Uuid) -> Overlay {
    Overlay::prompt("Attach a file", PromptKind::Attach { ticket }, vec![Field::new("Path (~/ is your home)")])
}
