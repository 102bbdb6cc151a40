//! Text fields (login, prompts, search; one line, or a few for a description) on
//! `ratatui-textarea`, the maintained editor widget, so the usual editing keys (arrows,
//! Home/End, Ctrl-w, Ctrl-u…) work as people expect.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Modifier, Style};
use ratatui_textarea::TextArea;

#[derive(Debug, Clone)]
pub struct Field {
    pub label: &'static str,
    area: TextArea<'static>,
    secret: bool,
    /// Rows shown; above 1 the field takes Enter as a new line and pasted text keeps its lines.
    rows: u16,
}

impl Field {
    pub fn new(label: &'static str) -> Field {
        Field::with_text(label, "")
    }

    pub fn with_text(label: &'static str, text: &str) -> Field {
        let mut area = TextArea::new(vec![text.to_owned()]);
        area.move_cursor(ratatui_textarea::CursorMove::End);
        area.set_cursor_line_style(Style::default());
        Field { label, area, secret: false, rows: 1 }
    }

    /// A field for several lines of text (a ticket's description), `rows` high.
    pub fn multiline(label: &'static str, rows: u16) -> Field {
        Field { rows: rows.max(2), ..Field::new(label) }
    }

    pub fn is_multiline(&self) -> bool {
        self.rows > 1
    }

    pub fn rows(&self) -> u16 {
        self.rows
    }

    /// Shown as `•` per character, never echoed.
    pub fn secret(label: &'static str) -> Field {
        let mut field = Field::new(label);
        field.area.set_mask_char('•');
        field.secret = true;
        field
    }

    /// What was typed (lines joined with `\n` in a multi-line field).
    pub fn text(&self) -> String {
        if self.is_multiline() { self.area.lines().join("\n") } else { self.area.lines().first().cloned().unwrap_or_default() }
    }

    pub fn is_secret(&self) -> bool {
        self.secret
    }

    pub fn clear(&mut self) {
        self.area = TextArea::default();
        if self.secret {
            self.area.set_mask_char('•');
        }
        self.area.set_cursor_line_style(Style::default());
    }

    /// Types a key into the field; Enter (a new line) goes only into a multi-line field.
    pub fn key(&mut self, key: KeyEvent) {
        let newline = matches!(key.code, KeyCode::Enter) || (key.code == KeyCode::Char('m') && key.modifiers == KeyModifiers::CONTROL);
        if newline {
            if self.is_multiline() {
                self.area.insert_newline();
            }
            return;
        }
        self.area.input(key);
    }

    /// Pasted text: all of it in a multi-line field, the first line in a one-line field.
    pub fn paste(&mut self, text: &str) {
        if self.is_multiline() {
            self.area.insert_str(text.replace("\r\n", "\n").replace('\r', "\n"));
        } else {
            self.area.insert_str(text.lines().next().unwrap_or(""));
        }
    }

    /// What the field shows (masked for secrets), and where the cursor is in it.
    pub fn display(&self) -> (String, usize) {
        let text = self.text();
        let shown = if self.secret { "•".repeat(text.chars().count()) } else { text };
        (shown, self.area.cursor().1)
    }

    pub fn widget(&self, focused: bool) -> impl ratatui::widgets::Widget + '_ {
        // The cursor shows only in the focused field.
        struct Shown<'a>(&'a TextArea<'static>, bool);
        impl ratatui::widgets::Widget for Shown<'_> {
            fn render(self, area: ratatui::layout::Rect, buf: &mut ratatui::buffer::Buffer) {
                let mut textarea = self.0.clone();
                if !self.1 {
                    textarea.set_cursor_style(Style::default());
                } else {
                    textarea.set_cursor_style(Style::default().add_modifier(Modifier::REVERSED));
                }
                ratatui::widgets::Widget::render(&textarea, area, buf);
            }
        }
        Shown(&self.area, focused)
    }
}
