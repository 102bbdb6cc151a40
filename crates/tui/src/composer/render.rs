//! Drawing the composer: a bordered box whose title always names the mode, the text, a picker
//! or mention list when open, and a line for questions and notices.
//!
//! An internal note differs from a public reply in label, border (thick, not rounded) and
//! colour, so the difference never rests on colour alone.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, List, ListItem, ListState, Paragraph};

use super::{Command, Composer, Mode, PickItem, Picker, State};

/// The border and title style of each mode.
pub fn mode_style(mode: Mode) -> (Style, BorderType) {
    match mode {
        Mode::PublicReply => (Style::default().fg(Color::Cyan), BorderType::Rounded),
        Mode::InternalNote => (Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD), BorderType::Thick),
    }
}

/// Rows a picker may take.
const PICKER_ROWS: u16 = 6;

impl Composer {
    /// Draws the composer in `area` (at least 3 rows; 8 or more shows pickers comfortably).
    pub fn render(&self, frame: &mut Frame, area: Rect) {
        let (style, border) = mode_style(self.mode);
        let label = if self.customer { "YOUR REPLY · the support team sees this" } else { self.mode.label() };
        let title = Line::from(vec![Span::styled(format!(" {label} "), style.add_modifier(Modifier::REVERSED))]);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(border)
            .border_style(style)
            .title(title)
            .title_bottom(footer_line(&self.commands()));
        let inner = block.inner(area);
        frame.render_widget(Clear, area);
        frame.render_widget(block, area);

        let status = self.status_line();
        let [text_area, status_area] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(u16::from(status.is_some()))]).areas(inner);
        frame.render_widget(&self.text, text_area);
        if let Some(status) = status {
            frame.render_widget(Paragraph::new(status), status_area);
        }

        match &self.state {
            State::CannedReplies { picker, loaded } => {
                render_picker(frame, text_area, "Canned replies", picker, *loaded);
            }
            State::Macros { picker, loaded } => render_picker(frame, text_area, "Apply a macro", picker, *loaded),
            _ => {}
        }
        if let Some(mention) = &self.mention {
            render_picker(frame, text_area, "Mention", &mention.picker, true);
        }
    }

    fn status_line(&self) -> Option<Line<'static>> {
        if let State::Confirming { new_messages } = self.state {
            let plural = if new_messages == 1 { "message" } else { "messages" };
            return Some(Line::from(Span::styled(
                format!("{new_messages} new {plural} since this draft began. Send anyway? (y/n)"),
                Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            )));
        }
        self.notice.as_ref().map(|notice| Line::from(Span::styled(format!("! {notice}"), Style::default().fg(Color::Red).add_modifier(Modifier::BOLD))))
    }
}

fn footer_line(commands: &[Command]) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    for (i, command) in commands.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" · "));
        }
        if !command.keys.is_empty() {
            spans.push(Span::styled(command.keys.clone(), Style::default().add_modifier(Modifier::BOLD)));
            spans.push(Span::raw(" "));
        }
        spans.push(Span::raw(command.label));
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// A list over the bottom of the text, with the query in its title.
fn render_picker<T>(frame: &mut Frame, over: Rect, title: &str, picker: &Picker<T>, loaded: bool) {
    let rows = PICKER_ROWS.min(over.height);
    if rows < 3 {
        return;
    }
    let area = Rect { y: over.y + over.height - rows, height: rows, ..over };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Plain)
        .title(format!(" {title} › {}▏", picker.query()));
    let items: Vec<ListItem> = if !loaded {
        vec![ListItem::new("loading…")]
    } else if picker.match_count() == 0 {
        vec![ListItem::new("no match")]
    } else {
        picker.visible().map(|(item, _)| list_item(item)).collect()
    };
    let list = List::new(items).block(block).highlight_symbol("> ").highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default();
    if loaded && picker.match_count() > 0 {
        state.select(Some(picker.selected_index()));
    }
    frame.render_widget(Clear, area);
    frame.render_stateful_widget(list, area, &mut state);
}

fn list_item<T>(item: &PickItem<T>) -> ListItem<'static> {
    ListItem::new(Line::from(vec![
        Span::raw(item.name.clone()),
        Span::raw("  "),
        Span::styled(item.detail.clone(), Style::default().add_modifier(Modifier::DIM)),
    ]))
}
