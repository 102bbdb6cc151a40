//! Where the composer plugs into the ticket screen. The ticket screen only talks to this slot:
//! it opens it (reply or note), hands it keys with the action the key table found, and acts on
//! what comes back ([`ComposerOutcome`]). The editor behind it is `crate::composer`'s component
//! once it lands; until then a plain multi-line `ratatui-textarea` stands in.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui_textarea::TextArea;
use uuid::Uuid;

use crate::app::Shared;
use crate::call::RequestId;
use crate::keys::Action;

/// What the composer asks of the ticket screen after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposerOutcome {
    None,
    /// The text changed: announce typing (the live worker throttles it).
    Typed,
    Send { body: String, internal: bool },
    /// Left, the draft kept.
    Closed,
}

#[derive(Debug, Clone)]
pub struct ComposerSlot {
    pub ticket: Uuid,
    open: bool,
    pub internal: bool,
    editor: TextArea<'static>,
    pub sending: Option<RequestId>,
}

impl ComposerSlot {
    pub fn new(ticket: Uuid) -> ComposerSlot {
        ComposerSlot { ticket, open: false, internal: false, editor: TextArea::default(), sending: None }
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn open(&mut self, internal: bool) {
        self.open = true;
        self.internal = internal;
    }

    pub fn text(&self) -> String {
        self.editor.lines().join("\n")
    }

    pub fn key(&mut self, key: KeyEvent, action: Option<Action>) -> ComposerOutcome {
        if self.sending.is_some() {
            return ComposerOutcome::None;
        }
        match action {
            Some(Action::ComposerSend) => ComposerOutcome::Send { body: self.text(), internal: self.internal },
            Some(Action::ComposerToggleMode) => {
                self.internal = !self.internal;
                ComposerOutcome::None
            }
            Some(Action::ComposerLeave) => {
                self.open = false;
                ComposerOutcome::Closed
            }
            _ => {
                if self.editor.input(key) { ComposerOutcome::Typed } else { ComposerOutcome::None }
            }
        }
    }

    pub fn paste(&mut self, text: &str) {
        self.editor.insert_str(text);
    }

    pub fn sending(&mut self, id: RequestId) {
        self.sending = Some(id);
    }

    /// The server has the message: the draft is done.
    pub fn sent(&mut self) {
        self.sending = None;
        self.editor = TextArea::default();
        self.open = false;
    }

    /// Not sent: the draft stays as typed.
    pub fn failed(&mut self) {
        self.sending = None;
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, _shared: &Shared) {
        let mut editor = self.editor.clone();
        editor.set_block(crate::screens::ticket::composer_block(self.internal));
        editor.set_cursor_line_style(Style::default());
        editor.set_cursor_style(Style::default().add_modifier(Modifier::REVERSED));
        frame.render_widget(&editor, area);
    }
}
