//! The notification inbox (`N`): newest first, unread in bold; Enter opens the ticket and marks
//! the notification read.

use hdms_api_types::notifications::Notification;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph};
use uuid::Uuid;

use crate::app::{Purpose, Shared};
use crate::call::{Answer, Call, Failure};
use crate::format;
use crate::keys::Action;

#[derive(Debug, Clone, Default)]
pub struct Notifications {
    pub items: Vec<Notification>,
    pub selected: usize,
    pub loaded: bool,
}

impl Notifications {
    pub fn load(&mut self, shared: &mut Shared) {
        shared.call(Purpose::Notifications, Call::Notifications);
        shared.call(Purpose::Unread, Call::UnreadCount);
    }

    pub fn answer(&mut self, answer: Result<Answer, Failure>, shared: &mut Shared) {
        match answer {
            Ok(Answer::Notifications(page)) => {
                self.items = page.items;
                self.loaded = true;
                self.selected = self.selected.min(self.items.len().saturating_sub(1));
            }
            Ok(_) => {}
            Err(failure) => shared.error(format!("Notifications: {failure}")),
        }
    }

    /// One pushed over the websocket.
    pub fn pushed(&mut self, notification: Notification) {
        if !self.items.iter().any(|n| n.id == notification.id) {
            self.items.insert(0, notification);
            if self.loaded && self.items.len() > 1 {
                self.selected += 1;
            }
        }
    }

    /// Handles a key; answers the ticket to open, if any.
    pub fn action(&mut self, action: Action, shared: &mut Shared) -> Option<Uuid> {
        let last = self.items.len().saturating_sub(1);
        match action {
            Action::Down => self.selected = (self.selected + 1).min(last),
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = last,
            Action::PageDown | Action::HalfPageDown => self.selected = (self.selected + 10).min(last),
            Action::PageUp | Action::HalfPageUp => self.selected = self.selected.saturating_sub(10),
            Action::Refresh => self.load(shared),
            Action::MarkAllRead => {
                for item in &mut self.items {
                    item.read_at.get_or_insert(shared.now);
                }
                shared.call(Purpose::MarkRead, Call::MarkAllRead);
            }
            Action::Open => {
                let item = self.items.get_mut(self.selected)?;
                if item.read_at.is_none() {
                    item.read_at = Some(shared.now);
                    shared.call(Purpose::MarkRead, Call::MarkRead(item.id));
                }
                return item.ticket_id;
            }
            _ => {}
        }
        None
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, shared: &Shared) {
        if self.items.is_empty() {
            let text = if self.loaded { "No notifications." } else { "Loading…" };
            frame.render_widget(Paragraph::new(text), area);
            return;
        }
        let items: Vec<ListItem> = self
            .items
            .iter()
            .map(|n| {
                let unread = n.read_at.is_none();
                let style = if unread { Style::default().add_modifier(Modifier::BOLD) } else { Style::default().add_modifier(Modifier::DIM) };
                let mark = if unread { "● " } else { "  " };
                ListItem::new(Line::from(vec![
                    Span::styled(format!("{mark}{:>4}  ", format::age(n.created_at, shared.now)), style),
                    Span::styled(format!("{}  ", n.title), style),
                    Span::raw(n.body.replace('\n', " ")),
                ]))
            })
            .collect();
        let mut state = ListState::default().with_selected(Some(self.selected));
        let list = List::new(items).highlight_style(Style::default().add_modifier(Modifier::REVERSED));
        frame.render_stateful_widget(list, area, &mut state);
    }
}
