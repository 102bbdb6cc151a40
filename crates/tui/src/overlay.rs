//! What sits above a screen: the help, menus, text prompts and the outcome of a bulk action.
//! An overlay that asked the server something keeps what was typed until the answer is a
//! success, so an error never loses it.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, List, ListItem, ListState, Paragraph, Wrap};

use crate::actions::{Choice, PromptKind};
use crate::call::RequestId;
use crate::input::Field;
use crate::keys::{Action, Context, Keymap};

#[derive(Debug, Clone)]
pub enum Overlay {
    /// The keys of the screen below, from the key table.
    Help { contexts: Vec<Context>, scroll: u16 },
    Menu(Menu),
    Prompt(Prompt),
    /// One line per ticket of a bulk action: ✓ or ✗ with the server's message.
    Outcomes { title: String, lines: Vec<(bool, String)>, scroll: u16 },
}

#[derive(Debug, Clone)]
pub struct Menu {
    pub title: String,
    pub items: Vec<(String, Choice)>,
    pub selected: usize,
    pub pending: Option<RequestId>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Prompt {
    pub title: String,
    pub kind: PromptKind,
    pub fields: Vec<Field>,
    pub focus: usize,
    pub pending: Option<RequestId>,
    pub error: Option<String>,
}

impl Prompt {
    fn focused_multiline(&self) -> bool {
        self.fields.get(self.focus).is_some_and(Field::is_multiline)
    }
}

fn is_plain_enter(key: &KeyEvent) -> bool {
    key.code == crossterm::event::KeyCode::Enter && key.modifiers.is_empty()
}

pub enum OverlayOutcome {
    Stay,
    Close,
    Chosen(Choice),
    Submitted(PromptKind, Vec<String>),
}

impl Overlay {
    pub fn help(contexts: Vec<Context>) -> Overlay {
        Overlay::Help { contexts, scroll: 0 }
    }

    pub fn menu(title: impl Into<String>, items: Vec<(String, Choice)>) -> Overlay {
        Overlay::Menu(Menu { title: title.into(), items, selected: 0, pending: None, error: None })
    }

    pub fn prompt(title: impl Into<String>, kind: PromptKind, fields: Vec<Field>) -> Overlay {
        Overlay::Prompt(Prompt { title: title.into(), kind, fields, focus: 0, pending: None, error: None })
    }

    pub fn contexts(&self) -> Vec<Context> {
        match self {
            Overlay::Help { .. } | Overlay::Outcomes { .. } => vec![Context::Menu],
            Overlay::Menu(_) => vec![Context::Menu],
            Overlay::Prompt(_) => vec![Context::Prompt],
        }
    }

    pub fn pending(&self) -> Option<RequestId> {
        match self {
            Overlay::Menu(menu) => menu.pending,
            Overlay::Prompt(prompt) => prompt.pending,
            _ => None,
        }
    }

    pub fn set_pending(&mut self, id: RequestId) {
        match self {
            Overlay::Menu(menu) => menu.pending = Some(id),
            Overlay::Prompt(prompt) => prompt.pending = Some(id),
            _ => {}
        }
    }

    pub fn failed(&mut self, error: String) {
        match self {
            Overlay::Menu(menu) => {
                menu.pending = None;
                menu.error = Some(error);
            }
            Overlay::Prompt(prompt) => {
                prompt.pending = None;
                prompt.error = Some(error);
            }
            _ => {}
        }
    }

    pub fn paste(&mut self, text: &str) {
        if let Overlay::Prompt(prompt) = self
            && let Some(field) = prompt.fields.get_mut(prompt.focus)
        {
            field.paste(text);
        }
    }

    pub fn key(&mut self, key: KeyEvent, keymap: &Keymap) -> OverlayOutcome {
        let action = keymap.action(&self.contexts(), key);
        match self {
            Overlay::Help { scroll, .. } | Overlay::Outcomes { scroll, .. } => match action {
                Some(Action::Down) => {
                    *scroll = scroll.saturating_add(1);
                    OverlayOutcome::Stay
                }
                Some(Action::Up) => {
                    *scroll = scroll.saturating_sub(1);
                    OverlayOutcome::Stay
                }
                // Any other key closes the help, so `?` toggles it.
                _ => OverlayOutcome::Close,
            },
            Overlay::Menu(menu) => {
                if menu.pending.is_some() {
                    return if action == Some(Action::Cancel) { OverlayOutcome::Close } else { OverlayOutcome::Stay };
                }
                match action {
                    Some(Action::Down) if !menu.items.is_empty() => {
                        menu.selected = (menu.selected + 1) % menu.items.len();
                        OverlayOutcome::Stay
                    }
                    Some(Action::Up) if !menu.items.is_empty() => {
                        menu.selected = (menu.selected + menu.items.len() - 1) % menu.items.len();
                        OverlayOutcome::Stay
                    }
                    Some(Action::Submit) => match menu.items.get(menu.selected) {
                        Some((_, choice)) => OverlayOutcome::Chosen(choice.clone()),
                        None => OverlayOutcome::Close,
                    },
                    Some(Action::Cancel) => OverlayOutcome::Close,
                    _ => {
                        // A digit picks that item directly.
                        if let crossterm::event::KeyCode::Char(c @ '1'..='9') = key.code {
                            let index = c as usize - '1' as usize;
                            if let Some((_, choice)) = menu.items.get(index) {
                                menu.selected = index;
                                return OverlayOutcome::Chosen(choice.clone());
                            }
                        }
                        OverlayOutcome::Stay
                    }
                }
            }
            Overlay::Prompt(prompt) => match action {
                Some(Action::Cancel) => OverlayOutcome::Close,
                _ if prompt.pending.is_some() => OverlayOutcome::Stay,
                // In a description, plain Enter starts a new line; Alt-Enter or Ctrl-S submits.
                Some(Action::Submit) if prompt.focused_multiline() && is_plain_enter(&key) => {
                    if let Some(field) = prompt.fields.get_mut(prompt.focus) {
                        field.key(key);
                        prompt.error = None;
                    }
                    OverlayOutcome::Stay
                }
                Some(Action::Submit) => OverlayOutcome::Submitted(prompt.kind.clone(), prompt.fields.iter().map(Field::text).collect()),
                Some(Action::NextField) => {
                    prompt.focus = (prompt.focus + 1) % prompt.fields.len().max(1);
                    OverlayOutcome::Stay
                }
                Some(Action::PrevField) => {
                    let count = prompt.fields.len().max(1);
                    prompt.focus = (prompt.focus + count - 1) % count;
                    OverlayOutcome::Stay
                }
                _ => {
                    if let Some(field) = prompt.fields.get_mut(prompt.focus) {
                        field.key(key);
                        prompt.error = None;
                    }
                    OverlayOutcome::Stay
                }
            },
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, keymap: &Keymap) {
        match self {
            Overlay::Help { contexts, scroll } => crate::screens::help::draw(frame, area, keymap, contexts, *scroll),
            Overlay::Menu(menu) => draw_menu(frame, area, menu),
            Overlay::Prompt(prompt) => draw_prompt(frame, area, prompt),
            Overlay::Outcomes { title, lines, scroll } => {
                let text: Vec<Line> = lines
                    .iter()
                    .map(|(ok, line)| {
                        let (mark, style) = if *ok {
                            ("✓ ok     ", Style::default().fg(Color::Green))
                        } else {
                            ("✗ failed ", Style::default().fg(Color::Red).add_modifier(Modifier::BOLD))
                        };
                        Line::from(vec![Span::styled(mark, style), Span::raw(line.clone())])
                    })
                    .collect();
                let popup = centered(area, 90, text.len() as u16 + 2);
                frame.render_widget(Clear, popup);
                let block = Block::bordered().border_type(BorderType::Rounded).title(format!(" {title} ")).title_bottom(" any key closes ");
                frame.render_widget(Paragraph::new(text).block(block).scroll((*scroll, 0)), popup);
            }
        }
    }
}

/// A box `percent` of the width (at least 40 columns) and `height` rows, centred.
pub fn centered(area: Rect, percent: u16, height: u16) -> Rect {
    let width = (area.width * percent / 100).max(40.min(area.width));
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))]).flex(Flex::Center).areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width)]).flex(Flex::Center).areas(row);
    cell
}

fn draw_menu(frame: &mut Frame, area: Rect, menu: &Menu) {
    let extra = u16::from(menu.error.is_some() || menu.pending.is_some());
    let popup = centered(area, 50, menu.items.len() as u16 + 2 + extra);
    frame.render_widget(Clear, popup);
    let block = Block::bordered().border_type(BorderType::Rounded).title(format!(" {} ", menu.title));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let [list_area, note_area] = Layout::vertical([Constraint::Min(1), Constraint::Length(extra)]).areas(inner);
    let items: Vec<ListItem> = menu
        .items
        .iter()
        .enumerate()
        .map(|(i, (label, _))| {
            let number = if i < 9 { format!("{} ", i + 1) } else { "  ".to_owned() };
            ListItem::new(format!("{number}{label}"))
        })
        .collect();
    let mut list_state = ListState::default().with_selected(Some(menu.selected));
    let list = List::new(items).highlight_style(Style::default().add_modifier(Modifier::REVERSED)).highlight_symbol("› ");
    frame.render_stateful_widget(list, list_area, &mut list_state);
    if let Some(error) = &menu.error {
        frame.render_widget(Paragraph::new(error.as_str()).style(Style::default().fg(Color::Red)), note_area);
    } else if menu.pending.is_some() {
        frame.render_widget(Paragraph::new("working…"), note_area);
    }
}

fn draw_prompt(frame: &mut Frame, area: Rect, prompt: &Prompt) {
    let error_lines = if prompt.error.is_some() { 2 } else { 0 };
    let field_rows: u16 = prompt.fields.iter().map(|f| f.rows() + 1).sum();
    let popup = centered(area, 70, field_rows + 2 + error_lines + 1);
    frame.render_widget(Clear, popup);
    let status = match (prompt.pending.is_some(), prompt.focused_multiline()) {
        (true, _) => " working… ",
        (false, true) => " Enter new line · Alt-Enter ok · Esc cancel ",
        (false, false) => " Enter ok · Esc cancel ",
    };
    let block = Block::bordered().border_type(BorderType::Rounded).title(format!(" {} ", prompt.title)).title_bottom(status);
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let mut rows = Vec::new();
    for field in &prompt.fields {
        rows.push(Constraint::Length(1));
        rows.push(Constraint::Length(field.rows()));
    }
    rows.push(Constraint::Min(0));
    let areas = Layout::vertical(rows).split(inner);
    for (i, field) in prompt.fields.iter().enumerate() {
        let focused = i == prompt.focus;
        let label_style = if focused { Style::default().add_modifier(Modifier::BOLD) } else { Style::default() };
        frame.render_widget(Paragraph::new(Line::styled(field.label, label_style)), areas[i * 2]);
        frame.render_widget(field.widget(focused), areas[i * 2 + 1]);
    }
    if let Some(error) = &prompt.error {
        let last = areas[areas.len() - 1];
        frame.render_widget(
            Paragraph::new(error.as_str()).style(Style::default().fg(Color::Red)).wrap(Wrap { trim: true }),
            last,
        );
    }
}
