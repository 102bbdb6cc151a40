//! One-line text fields (login, prompts, search) on `ratatui-textarea`, the maintained editor
//! widget, so the usual editing keys (arrows, Home/End, Ctrl-w, Ctrl-u…) work as people expect.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Modifier, Style};
use ratatui_textarea::TextArea;

#[derive(Debug, Clone)]
pub struct Field {
    pub label: &'static str,
    area: TextArea<'static>,
    secret: bool,
}

impl Field {
    pub fn new(label: &'static str) -> Field {
        Field::with_text(label, "")
    }

    pub fn with_text(label: &'static str, text: &str) -> Field {
        let mut area = TextArea::new(vec![text.to_owned()]);
        area.move_cursor(ratatui_textarea::CursorMove::End);
        area.set_cursor_line_style(Style::default());
        Field { label, area, secret: false }
    }

    /// Shown as `•` per character, never echoed.
    pub fn secret(label: &'static str) -> Field {
        let mut field = Field::new(label);
        field.area.set_mask_char('•');
        field.secret = true;
        field
    }

    pub fn text(&self) -> &str {
        self.area.lines().first().map(String::as_str).unwrap_or("")
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

    /// Types a key into the field; Enter (a new line) is never inserted.
    pub fn key(&mut self, key: KeyEvent) {
        if matches!(key.code, KeyCode::Enter) || (key.code == KeyCode::Char('m') && key.modifiers == KeyModifiers::CONTROL) {
            return;
        }
        self.area.input(key);
    }

    /// Pasted text, first line only.
    pub fn paste(&mut self, text: &str) {
        self.area.insert_str(text.lines().next().unwrap_or(""));
    }

    /// What the field shows (masked for secrets), and where the cursor is in it.
    pub fn display(&self) -> (String, usize) {
        let text = self.text();
        let shown = if self.secret { "•".repeat(text.chars().count()) } else { text.to_owned() };
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
