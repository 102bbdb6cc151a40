//! Where the composer (`crate::composer`) plugs into the ticket screen. The ticket keeps one
//! composer per open ticket, created on `r`/`i` (restoring the ticket's saved draft), hidden
//! when the agent leaves it (the draft stays on disk) and shown again on the next `r`/`i`.
//! Its bindings come from the client's key table, so `tui.toml` remaps them with the rest.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use uuid::Uuid;

use crate::call::RequestId;
use crate::composer::{Composer, ComposerAction, ComposerKeys, ComposerOutcome, DraftWriter, KeyChord, Mode};
use crate::keys::{Action, Context, Keymap};

#[derive(Debug, Clone)]
pub struct ComposerSlot {
    pub ticket: Uuid,
    composer: Option<Composer>,
    open: bool,
    /// The reply on its way to the server.
    pub sending: Option<RequestId>,
}

/// The composer's bindings as the key table has them (after `tui.toml`).
pub fn composer_keys(keymap: &Keymap) -> ComposerKeys {
    let pairs = [
        (Action::ComposerSend, ComposerAction::Send),
        (Action::ComposerLeave, ComposerAction::Leave),
        (Action::ComposerToggleMode, ComposerAction::ToggleMode),
        (Action::ComposerEditor, ComposerAction::OpenEditor),
        (Action::ComposerCanned, ComposerAction::CannedReply),
        (Action::ComposerMacro, ComposerAction::ApplyMacro),
        (Action::ComposerAttach, ComposerAction::Attach),
    ];
    ComposerKeys::with_overrides(pairs.into_iter().map(|(ours, theirs)| {
        let chords = keymap
            .bindings(Context::Composer)
            .filter(|binding| binding.action == ours)
            .flat_map(|binding| binding.keys.iter())
            .map(|key| {
                let event = key.event();
                KeyChord::new(event.code, event.modifiers)
            })
            .collect();
        (theirs, chords)
    }))
}

impl ComposerSlot {
    pub fn new(ticket: Uuid) -> ComposerSlot {
        ComposerSlot { ticket, composer: None, open: false, sending: None }
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn composer(&self) -> Option<&Composer> {
        self.composer.as_ref()
    }

    pub fn composer_mut(&mut self) -> Option<&mut Composer> {
        self.composer.as_mut()
    }

    /// Opens the composer in `internal` mode (a reply or a note), restoring the saved draft the
    /// first time. A restored draft keeps its own mode: a note never silently becomes a reply.
    /// `staff: false` opens a customer's composer: replies only, no canned replies or macros.
    pub fn open(&mut self, internal: bool, latest_seq: i64, keymap: &Keymap, drafts: Option<&DraftWriter>, staff: bool) {
        let mode = if internal { Mode::InternalNote } else { Mode::PublicReply };
        match &mut self.composer {
            Some(composer) => {
                if composer.mode() != mode && composer.is_empty() {
                    composer.perform(ComposerAction::ToggleMode);
                }
            }
            None => {
                let composer = Composer::new(self.ticket, mode, latest_seq, composer_keys(keymap));
                let composer = match drafts {
                    Some(writer) => composer.with_drafts(writer.clone()),
                    None => composer,
                };
                self.composer = Some(if staff { composer } else { composer.for_customer() });
            }
        }
        self.open = true;
    }

    pub fn key(&mut self, key: KeyEvent) -> ComposerOutcome {
        let Some(composer) = &mut self.composer else { return ComposerOutcome::None };
        let outcome = composer.handle_key(key);
        if outcome == ComposerOutcome::Cancelled {
            self.open = false;
        }
        outcome
    }

    pub fn paste(&mut self, text: &str) -> ComposerOutcome {
        match &mut self.composer {
            Some(composer) => composer.paste(text),
            None => ComposerOutcome::None,
        }
    }

    pub fn text(&self) -> String {
        self.composer.as_ref().map(Composer::text).unwrap_or_default()
    }

    /// Whether a draft waits (shown on the ticket while the composer is closed).
    pub fn has_draft(&self) -> bool {
        self.composer.as_ref().is_some_and(|c| !c.is_empty())
    }

    pub fn sending(&mut self, id: RequestId) {
        self.sending = Some(id);
    }

    /// The server has the message: the draft is done.
    pub fn sent(&mut self) {
        self.sending = None;
        if let Some(composer) = &mut self.composer {
            composer.sent();
        }
        self.open = false;
    }

    /// Not sent: the draft stays as typed, with the reason under it.
    pub fn failed(&mut self, reason: &str) {
        self.sending = None;
        if let Some(composer) = &mut self.composer {
            composer.send_failed(reason);
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect) {
        if let Some(composer) = &self.composer {
            composer.render(frame, area);
        }
    }
}
