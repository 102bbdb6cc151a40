//! The composer: writing a public reply or an internal note on one ticket.
//!
//! A [`Composer`] is plain state driven by [`Composer::handle_key`], which answers a
//! [`ComposerOutcome`] telling the caller what to do (send, leave, open `$EDITOR`, load canned
//! replies or macros, apply a macro); it never performs I/O on the calling thread: drafts go to
//! a [`DraftWriter`] whose own thread writes them. Rendering is [`Composer::render`].
//!
//! How the client wires it:
//! - `r` / `i` on a ticket: [`Composer::new`] with the mode, the conversation's last `seq` and
//!   the key bindings from the key table, then [`Composer::with_drafts`] to restore and keep the
//!   ticket's draft.
//! - Live messages on the ticket: [`Composer::message_arrived`], so that sending asks first when
//!   someone else wrote since the draft began.
//! - `Send { body, internal }`: post it (REST or the websocket), then [`Composer::sent`] (clears
//!   the text and the draft) or [`Composer::send_failed`] (keeps everything, shows the error).
//! - `OpenEditor`: suspend the terminal, [`editor::run_editor`] on [`Composer::text`], restore,
//!   then [`Composer::finish_editor`].
//! - `LoadCannedReplies` / `LoadMacros`: fetch them and call [`Composer::set_canned_replies`] /
//!   [`Composer::set_macros`] (the picker is open meanwhile and fills when they come).
//! - `ApplyMacro(id)`: call the macro API on the ticket.
//! - `Attach`: ask for a file's path and upload it to the ticket; the composer stays open.
//! - `Edited`: the text changed; a good moment to announce typing (the live worker throttles).
//! - Mentions: [`Composer::set_mention_candidates`] with the people who may be mentioned.
//! - Paste (bracketed): [`Composer::paste`].
//! - Keys: either hand the composer its bindings ([`ComposerKeys`], remappable from `tui.toml`)
//!   and every key through [`Composer::handle_key`], or, when the client's own key table
//!   resolves the composer's actions, call [`Composer::perform`] for those and give
//!   `handle_key` the rest with [`ComposerKeys::none`].

pub mod drafts;
pub mod editor;
pub mod keys;
pub mod picker;
mod render;

use chrono::Utc;
use hdms_api_types::tickets::{CannedReply, Macro};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui_textarea::{CursorMove, TextArea, WrapMode};
use uuid::Uuid;

pub use drafts::{Draft, DraftStore, DraftWriter};
pub use keys::{ComposerAction, ComposerKeys, KeyChord, KeyChordError, KeyHelp};
pub use picker::{PickItem, Picker};

/// Who will read what is being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A public reply: the requester sees it.
    PublicReply,
    /// An internal note: staff only.
    InternalNote,
}

impl Mode {
    pub fn is_internal(self) -> bool {
        self == Mode::InternalNote
    }

    /// The label always shown on the composer (meaning never rests on colour alone).
    pub fn label(self) -> &'static str {
        match self {
            Mode::PublicReply => "PUBLIC REPLY · the requester sees this",
            Mode::InternalNote => "INTERNAL NOTE · staff only",
        }
    }

    fn toggled(self) -> Mode {
        match self {
            Mode::PublicReply => Mode::InternalNote,
            Mode::InternalNote => Mode::PublicReply,
        }
    }
}

/// What the caller should do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposerOutcome {
    /// Nothing beyond redrawing.
    None,
    /// The text changed (a moment to announce typing).
    Edited,
    /// Post this. `internal` is true only in internal-note mode, so a public reply goes out only
    /// from public mode. Answer with [`Composer::sent`] or [`Composer::send_failed`]; the
    /// composer ignores keys until then.
    Send { body: String, internal: bool },
    /// The user left the composer; the draft is kept (and already handed to the writer).
    Cancelled,
    /// Run the external editor on [`Composer::text`], then call [`Composer::finish_editor`].
    OpenEditor,
    /// Apply this macro to the ticket.
    ApplyMacro(Uuid),
    /// Ask for a path and attach that file to the ticket (the draft is untouched).
    Attach,
    /// Sending was asked while `new_messages` messages arrived since the draft began: the
    /// composer now asks the user (y sends, n goes back to the text).
    NeedsConfirm { new_messages: i64 },
    /// The canned-reply picker opened and has nothing yet: fetch the replies.
    LoadCannedReplies,
    /// The macro menu opened and has nothing yet: fetch the macros.
    LoadMacros,
}

/// Someone who may be mentioned with `@`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MentionCandidate {
    pub name: String,
    /// Inserted as `@email`, the mention the server always resolves.
    pub email: String,
}

/// A key and what it does now, for the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub keys: String,
    pub label: &'static str,
}

#[derive(Debug, Clone)]
enum State {
    Editing,
    /// `None` items: asked for, not arrived yet.
    CannedReplies { picker: Picker<String>, loaded: bool },
    Macros { picker: Picker<Uuid>, loaded: bool },
    Confirming { new_messages: i64 },
    Sending,
    InEditor,
}

/// An `@` being completed: where it is and the people matching what follows it.
#[derive(Debug, Clone)]
struct Mention {
    row: usize,
    /// The column (in characters) of the `@`.
    at: usize,
    picker: Picker<String>,
}

/// A reply or note being written on one ticket. See the module documentation for the wiring.
#[derive(Debug, Clone)]
pub struct Composer {
    ticket_id: Uuid,
    mode: Mode,
    text: TextArea<'static>,
    keys: ComposerKeys,
    state: State,
    mention: Option<Mention>,
    mention_candidates: Vec<MentionCandidate>,
    canned: Option<Vec<PickItem<String>>>,
    macros: Option<Vec<PickItem<Uuid>>>,
    /// The newest message seen in the conversation, and the newest one when the draft began.
    latest_seq: i64,
    baseline_seq: i64,
    drafts: Option<DraftWriter>,
    /// A line for the user: a send error, a restored draft, a failed draft write.
    notice: Option<String>,
    /// A customer writing: replies only, no canned replies, macros or internal notes.
    customer: bool,
}

impl Composer {
    /// An empty composer on a ticket whose conversation's last message is `latest_seq`.
    pub fn new(ticket_id: Uuid, mode: Mode, latest_seq: i64, keys: ComposerKeys) -> Composer {
        let mut text = TextArea::default();
        text.set_wrap_mode(WrapMode::WordOrGlyph);
        text.set_cursor_line_style(ratatui::style::Style::default());
        text.set_placeholder_text("Write here…");
        Composer {
            ticket_id,
            mode,
            text,
            keys,
            state: State::Editing,
            mention: None,
            mention_candidates: Vec::new(),
            canned: None,
            macros: None,
            latest_seq,
            baseline_seq: latest_seq,
            drafts: None,
            notice: None,
            customer: false,
        }
    }

    /// The customer's composer: always a reply (whatever a draft says), and neither `::` nor
    /// any key reaches the desk's canned replies, macros or internal notes.
    pub fn for_customer(mut self) -> Composer {
        self.customer = true;
        self.mode = Mode::PublicReply;
        for action in [ComposerAction::ToggleMode, ComposerAction::CannedReply, ComposerAction::ApplyMacro] {
            self.keys = ComposerKeys::with_keys(self.keys, action, Vec::new());
        }
        self
    }

    pub fn is_customer(&self) -> bool {
        self.customer
    }

    /// Keeps the draft on disk through `writer`, first restoring the ticket's saved draft if
    /// there is one: its text, its mode (a note never silently becomes a public reply) and the
    /// `seq` it began at.
    pub fn with_drafts(mut self, writer: DraftWriter) -> Composer {
        match writer.load(self.ticket_id) {
            Ok(Some(draft)) => {
                self.set_body(&draft.body);
                self.mode = if draft.internal { Mode::InternalNote } else { Mode::PublicReply };
                self.baseline_seq = draft.baseline_seq;
                self.notice = Some(format!("Draft restored ({})", if draft.internal { "internal note" } else { "public reply" }));
            }
            Ok(None) => {}
            Err(err) => self.notice = Some(format!("The saved draft could not be read: {err}")),
        }
        self.drafts = Some(writer);
        self
    }

    pub fn ticket_id(&self) -> Uuid {
        self.ticket_id
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The text as it would be sent (before trimming).
    pub fn text(&self) -> String {
        self.text.lines().join("\n")
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty() || self.text().trim().is_empty()
    }

    /// The bindings in use.
    pub fn keys(&self) -> &ComposerKeys {
        &self.keys
    }

    /// New bindings (the key table was reloaded).
    pub fn set_keys(&mut self, keys: ComposerKeys) {
        self.keys = keys;
    }

    /// Whether the composer waits for the answer to a [`ComposerOutcome::Send`].
    pub fn is_sending(&self) -> bool {
        matches!(self.state, State::Sending)
    }

    /// Whether a confirmation question is showing.
    pub fn is_confirming(&self) -> bool {
        matches!(self.state, State::Confirming { .. })
    }

    /// Whether a picker or menu (canned replies, macros) is open.
    pub fn is_picking(&self) -> bool {
        matches!(self.state, State::CannedReplies { .. } | State::Macros { .. })
    }

    /// Whether the mention list is showing.
    pub fn is_completing_mention(&self) -> bool {
        self.mention.is_some()
    }

    /// The line shown under the text, if any.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// A message arrived in the ticket's conversation. `mine` is the user's own (an echo of what
    /// they sent): it never makes sending ask for confirmation.
    pub fn message_arrived(&mut self, seq: i64, mine: bool) {
        if mine && self.baseline_seq >= self.latest_seq {
            self.baseline_seq = self.baseline_seq.max(seq);
        }
        self.latest_seq = self.latest_seq.max(seq);
        if self.is_empty() {
            self.baseline_seq = self.latest_seq;
        }
    }

    /// The canned replies to pick from (fills an open picker).
    pub fn set_canned_replies(&mut self, replies: &[CannedReply]) {
        let items: Vec<PickItem<String>> = replies
            .iter()
            .map(|reply| PickItem { name: reply.name.clone(), detail: first_line(&reply.body), value: reply.body.clone() })
            .collect();
        if let State::CannedReplies { picker, loaded } = &mut self.state {
            picker.set_items(items.clone());
            *loaded = true;
        }
        self.canned = Some(items);
    }

    /// The macros to offer (fills an open menu).
    pub fn set_macros(&mut self, macros: &[Macro]) {
        let items: Vec<PickItem<Uuid>> = macros
            .iter()
            .map(|m| PickItem { name: m.name.clone(), detail: if m.shared { "shared".into() } else { "mine".into() }, value: m.id })
            .collect();
        if let State::Macros { picker, loaded } = &mut self.state {
            picker.set_items(items.clone());
            *loaded = true;
        }
        self.macros = Some(items);
    }

    /// The people `@` completes.
    pub fn set_mention_candidates(&mut self, candidates: Vec<MentionCandidate>) {
        self.mention_candidates = candidates;
        let items = self.mention_items();
        if let Some(mention) = &mut self.mention {
            mention.picker.set_items(items);
        }
    }

    /// The send went through: the text and the draft are cleared.
    pub fn sent(&mut self) {
        self.set_body("");
        self.state = State::Editing;
        self.mention = None;
        self.notice = None;
        self.baseline_seq = self.latest_seq;
        if let Some(drafts) = &self.drafts {
            drafts.clear(self.ticket_id);
        }
    }

    /// The send failed: everything typed stays, and the server's message is shown.
    pub fn send_failed(&mut self, message: impl Into<String>) {
        self.state = State::Editing;
        self.notice = Some(message.into());
    }

    /// The external editor finished: its text replaces the draft, or its error is shown.
    pub fn finish_editor(&mut self, result: std::io::Result<String>) {
        self.state = State::Editing;
        match result {
            Ok(text) => {
                self.begin_draft_if_empty();
                self.set_body(&text);
                self.save_draft();
            }
            Err(err) => self.notice = Some(format!("The editor failed: {err}")),
        }
    }

    /// Hands the current draft to the writer at once (before a restart, a crash-prone action).
    pub fn flush_draft(&self) {
        if let Some(drafts) = &self.drafts {
            drafts.flush();
        }
    }

    /// The main keys that work now, for the footer (the first chord of each action; the help
    /// screen lists them all with [`ComposerKeys::help`]). Fits 80 columns with the defaults.
    pub fn commands(&self) -> Vec<Command> {
        let fixed = |keys: &str, label| Command { keys: keys.to_owned(), label };
        match &self.state {
            State::Editing if self.mention.is_some() => {
                vec![fixed("Tab/Enter", "mention"), fixed("Up/Down", "choose"), fixed("Esc", "close list")]
            }
            State::Editing => [
                ComposerAction::Send,
                ComposerAction::ToggleMode,
                ComposerAction::CannedReply,
                ComposerAction::OpenEditor,
                ComposerAction::Leave,
            ]
            .into_iter()
            .filter_map(|action| {
                let chord = self.keys.chords(action).first()?;
                Some(Command { keys: chord.to_string(), label: action.label() })
            })
            .collect(),
            State::CannedReplies { .. } => vec![fixed("Enter", "insert"), fixed("Up/Down", "choose"), fixed("Esc", "close")],
            State::Macros { .. } => vec![fixed("Enter", "apply"), fixed("Up/Down", "choose"), fixed("Esc", "close")],
            State::Confirming { .. } => vec![fixed("y", "send anyway"), fixed("n/Esc", "back to the draft")],
            State::Sending => vec![fixed("", "sending…")],
            State::InEditor => vec![fixed("", "in the editor…")],
        }
    }

    /// Inserts pasted text at the cursor (bracketed paste), or into an open picker's query.
    pub fn paste(&mut self, text: &str) -> ComposerOutcome {
        match &mut self.state {
            State::Editing => {
                self.mention = None;
                self.begin_draft_if_empty();
                self.text.insert_str(text);
                self.notice = None;
                self.save_draft();
                ComposerOutcome::Edited
            }
            State::CannedReplies { picker, .. } => {
                picker.set_query(&format!("{}{text}", picker.query()));
                ComposerOutcome::None
            }
            State::Macros { picker, .. } => {
                picker.set_query(&format!("{}{text}", picker.query()));
                ComposerOutcome::None
            }
            State::Confirming { .. } | State::Sending | State::InEditor => ComposerOutcome::None,
        }
    }

    /// Handles one key press (releases are ignored).
    pub fn handle_key(&mut self, key: KeyEvent) -> ComposerOutcome {
        if key.kind == KeyEventKind::Release {
            return ComposerOutcome::None;
        }
        match &mut self.state {
            State::Sending | State::InEditor => ComposerOutcome::None,
            State::Confirming { .. } => self.confirm_key(key),
            State::CannedReplies { .. } | State::Macros { .. } => self.picker_key(key),
            State::Editing => self.editing_key(key),
        }
    }

    fn editing_key(&mut self, key: KeyEvent) -> ComposerOutcome {
        if self.mention.is_some()
            && let Some(outcome) = self.mention_key(key)
        {
            return outcome;
        }
        if let Some(action) = self.keys.action_for(&key) {
            return self.perform(action);
        }
        let was_empty = self.is_empty();
        if !self.text.input(key) {
            self.refresh_mention();
            return ComposerOutcome::None;
        }
        self.notice = None;
        if was_empty {
            self.baseline_seq = self.latest_seq;
        }
        if key.code == KeyCode::Char('@') {
            self.start_mention();
        } else if key.code == KeyCode::Char(':') && !self.customer && self.take_canned_trigger() {
            self.save_draft();
            return self.open_canned();
        }
        self.refresh_mention();
        self.save_draft();
        ComposerOutcome::Edited
    }

    /// Performs an action as its key would (for a caller whose own key table found it). Like
    /// keys, it does nothing while a send, the editor, a question or a picker is pending.
    pub fn perform(&mut self, action: ComposerAction) -> ComposerOutcome {
        if !matches!(self.state, State::Editing) {
            return ComposerOutcome::None;
        }
        if self.customer && matches!(action, ComposerAction::ToggleMode | ComposerAction::CannedReply | ComposerAction::ApplyMacro) {
            return ComposerOutcome::None;
        }
        match action {
            ComposerAction::Send => self.try_send(),
            ComposerAction::Leave => {
                self.mention = None;
                self.save_draft();
                ComposerOutcome::Cancelled
            }
            ComposerAction::ToggleMode => {
                self.mode = self.mode.toggled();
                self.save_draft();
                ComposerOutcome::None
            }
            ComposerAction::OpenEditor => {
                self.mention = None;
                self.state = State::InEditor;
                ComposerOutcome::OpenEditor
            }
            ComposerAction::CannedReply => {
                self.mention = None;
                self.open_canned()
            }
            ComposerAction::Attach => {
                self.mention = None;
                self.save_draft();
                ComposerOutcome::Attach
            }
            ComposerAction::ApplyMacro => {
                self.mention = None;
                let loaded = self.macros.is_some();
                self.state = State::Macros { picker: Picker::new(self.macros.clone().unwrap_or_default()), loaded };
                if loaded { ComposerOutcome::None } else { ComposerOutcome::LoadMacros }
            }
        }
    }

    fn open_canned(&mut self) -> ComposerOutcome {
        let loaded = self.canned.is_some();
        self.state = State::CannedReplies { picker: Picker::new(self.canned.clone().unwrap_or_default()), loaded };
        if loaded { ComposerOutcome::None } else { ComposerOutcome::LoadCannedReplies }
    }

    fn try_send(&mut self) -> ComposerOutcome {
        if self.is_empty() {
            self.notice = Some("Nothing to send yet".into());
            return ComposerOutcome::None;
        }
        let new_messages = self.latest_seq - self.baseline_seq;
        if new_messages > 0 {
            self.state = State::Confirming { new_messages };
            return ComposerOutcome::NeedsConfirm { new_messages };
        }
        self.send_now()
    }

    fn send_now(&mut self) -> ComposerOutcome {
        self.mention = None;
        self.state = State::Sending;
        self.notice = None;
        // Flushed so that a crash while the send is in flight still has the text.
        self.save_draft();
        self.flush_draft();
        ComposerOutcome::Send { body: self.text().trim().to_owned(), internal: self.mode.is_internal() }
    }

    fn confirm_key(&mut self, key: KeyEvent) -> ComposerOutcome {
        match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => self.send_now(),
            KeyCode::Char('n' | 'N') | KeyCode::Esc => {
                // They have been told; the next send of this draft goes out without asking.
                self.baseline_seq = self.latest_seq;
                self.state = State::Editing;
                self.save_draft();
                ComposerOutcome::None
            }
            _ => ComposerOutcome::None,
        }
    }

    fn picker_key(&mut self, key: KeyEvent) -> ComposerOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match (&mut self.state, key.code) {
            (_, KeyCode::Esc) => {
                self.state = State::Editing;
                ComposerOutcome::None
            }
            (State::CannedReplies { picker, .. }, KeyCode::Enter | KeyCode::Tab) => {
                let body = picker.selected().map(|item| item.value.clone());
                self.state = State::Editing;
                match body {
                    Some(body) => {
                        self.begin_draft_if_empty();
                        self.text.insert_str(&body);
                        self.save_draft();
                        ComposerOutcome::Edited
                    }
                    None => ComposerOutcome::None,
                }
            }
            (State::Macros { picker, .. }, KeyCode::Enter | KeyCode::Tab) => {
                let id = picker.selected().map(|item| item.value);
                self.state = State::Editing;
                id.map_or(ComposerOutcome::None, ComposerOutcome::ApplyMacro)
            }
            (State::CannedReplies { picker, .. }, code) => {
                steer(picker, code, ctrl);
                ComposerOutcome::None
            }
            (State::Macros { picker, .. }, code) => {
                steer(picker, code, ctrl);
                ComposerOutcome::None
            }
            _ => ComposerOutcome::None,
        }
    }

    /// Keys the mention list takes; `None` lets the key edit the text.
    fn mention_key(&mut self, key: KeyEvent) -> Option<ComposerOutcome> {
        let mention = self.mention.as_mut()?;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => {
                self.mention = None;
                Some(ComposerOutcome::None)
            }
            KeyCode::Up => {
                mention.picker.up();
                Some(ComposerOutcome::None)
            }
            KeyCode::Down => {
                mention.picker.down();
                Some(ComposerOutcome::None)
            }
            KeyCode::Char('p') if ctrl => {
                mention.picker.up();
                Some(ComposerOutcome::None)
            }
            KeyCode::Char('n') if ctrl => {
                mention.picker.down();
                Some(ComposerOutcome::None)
            }
            KeyCode::Tab | KeyCode::Enter if key.modifiers.is_empty() => {
                let email = mention.picker.selected()?.value.clone();
                let typed = mention.picker.query().chars().count();
                self.mention = None;
                for _ in 0..typed {
                    self.text.delete_char();
                }
                self.text.insert_str(format!("{email} "));
                self.save_draft();
                Some(ComposerOutcome::Edited)
            }
            _ => None,
        }
    }

    /// An `@` was just typed: a mention begins if it starts a word.
    fn start_mention(&mut self) {
        let (row, col) = self.cursor();
        let at = col.saturating_sub(1);
        if at == 0 || self.char_at(row, at - 1).is_some_and(char::is_whitespace) {
            self.mention = Some(Mention { row, at, picker: Picker::new(self.mention_items()) });
        }
    }

    /// Follows the cursor: the query is what lies between the `@` and the cursor; the list
    /// closes when the cursor leaves the word.
    fn refresh_mention(&mut self) {
        let Some(mention) = &self.mention else { return };
        let (row, col) = self.cursor();
        let (mention_row, at) = (mention.row, mention.at);
        if row != mention_row || col <= at || self.char_at(row, at) != Some('@') {
            self.mention = None;
            return;
        }
        let query: String = self.text.lines()[row].chars().skip(at + 1).take(col - at - 1).collect();
        if query.chars().any(char::is_whitespace) {
            self.mention = None;
            return;
        }
        if let Some(mention) = &mut self.mention {
            mention.picker.set_query(&query);
        }
    }

    /// Candidates match on email and name alike.
    fn mention_items(&self) -> Vec<PickItem<String>> {
        self.mention_candidates
            .iter()
            .map(|c| PickItem { name: format!("{} {}", c.email, c.name), detail: String::new(), value: c.email.clone() })
            .collect()
    }

    /// Typing `::` at the start of a word opens the canned-reply picker; the `::` goes away.
    fn take_canned_trigger(&mut self) -> bool {
        let (row, col) = self.cursor();
        let starts_word = col == 2 || (col > 2 && self.char_at(row, col - 3).is_some_and(char::is_whitespace));
        if col >= 2 && self.char_at(row, col - 2) == Some(':') && starts_word {
            self.text.delete_char();
            self.text.delete_char();
            return true;
        }
        false
    }

    fn cursor(&self) -> (usize, usize) {
        let cursor = self.text.cursor();
        (cursor.0, cursor.1)
    }

    fn char_at(&self, row: usize, col: usize) -> Option<char> {
        self.text.lines().get(row)?.chars().nth(col)
    }

    fn set_body(&mut self, body: &str) {
        let mut text = TextArea::new(body.split('\n').map(str::to_owned).collect());
        text.set_wrap_mode(WrapMode::WordOrGlyph);
        text.set_cursor_line_style(ratatui::style::Style::default());
        text.set_placeholder_text("Write here…");
        text.move_cursor(CursorMove::Bottom);
        text.move_cursor(CursorMove::End);
        self.text = text;
    }

    fn begin_draft_if_empty(&mut self) {
        if self.is_empty() {
            self.baseline_seq = self.latest_seq;
        }
    }

    fn save_draft(&mut self) {
        let Some(drafts) = &self.drafts else { return };
        drafts.update(Draft {
            ticket_id: self.ticket_id,
            body: self.text(),
            internal: self.mode.is_internal(),
            baseline_seq: self.baseline_seq,
            updated_at: Utc::now(),
        });
        if let Some(error) = drafts.take_error() {
            self.notice = Some(error);
        }
    }
}

/// Moves through or filters a picker.
fn steer<T>(picker: &mut Picker<T>, code: KeyCode, ctrl: bool) {
    match code {
        KeyCode::Up => picker.up(),
        KeyCode::Down => picker.down(),
        KeyCode::Char('p') if ctrl => picker.up(),
        KeyCode::Char('n') if ctrl => picker.down(),
        KeyCode::Backspace => picker.pop_char(),
        KeyCode::Char(c) if !ctrl => picker.push_char(c),
        _ => {}
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}
