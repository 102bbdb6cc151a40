//! The composer's key bindings as data: which chords trigger which [`ComposerAction`].
//!
//! The client's key table supplies them (from `tui.toml`, since Ctrl-keys clash with tmux and
//! readline) and lists them on the help screen; [`ComposerKeys::defaults`] is what an unedited
//! config gets. Keys that are not bound to an action edit the text (arrows, Home/End, Ctrl-a/e
//! style movement, Ctrl-w, Ctrl-u undo and so on, as the text area widget defines them).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::{Deserialize, Serialize};

/// One key with its modifiers, written `ctrl-s`, `alt-enter`, `esc`, `ctrl-alt-x`, `f2`, `?`.
///
/// Shift is part of the character for printable keys (`G`, not `shift-g`); `shift-tab` is the
/// back-tab key. Parsing is case-insensitive for modifier and key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl KeyChord {
    pub const fn new(code: KeyCode, modifiers: KeyModifiers) -> KeyChord {
        KeyChord { code, modifiers }
    }

    pub const fn plain(code: KeyCode) -> KeyChord {
        KeyChord::new(code, KeyModifiers::NONE)
    }

    pub const fn ctrl(c: char) -> KeyChord {
        KeyChord::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    pub const fn alt(code: KeyCode) -> KeyChord {
        KeyChord::new(code, KeyModifiers::ALT)
    }

    /// Whether a key press is this chord. Terminals report Shift on capitals and some report
    /// Ctrl-letters in upper case, so characters compare without Shift, and case-blind when Ctrl
    /// or Alt is held.
    pub fn matches(&self, key: &KeyEvent) -> bool {
        let (code, modifiers) = normalize(key.code, key.modifiers);
        let (own_code, own_modifiers) = normalize(self.code, self.modifiers);
        code == own_code && modifiers == own_modifiers
    }
}

fn normalize(code: KeyCode, modifiers: KeyModifiers) -> (KeyCode, KeyModifiers) {
    match code {
        KeyCode::Char(c) => {
            let modifiers = modifiers - KeyModifiers::SHIFT;
            let c = if modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) { c.to_ascii_lowercase() } else { c };
            (KeyCode::Char(c), modifiers)
        }
        KeyCode::BackTab => (KeyCode::BackTab, modifiers - KeyModifiers::SHIFT),
        other => (other, modifiers),
    }
}

/// Why a chord could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{chord}` is not a key: {reason} (write e.g. `ctrl-s`, `alt-enter`, `esc`, `f2`, `?`)")]
pub struct KeyChordError {
    pub chord: String,
    pub reason: &'static str,
}

const NAMED_KEYS: &[(&str, KeyCode)] = &[
    ("enter", KeyCode::Enter),
    ("esc", KeyCode::Esc),
    ("tab", KeyCode::Tab),
    ("backtab", KeyCode::BackTab),
    ("backspace", KeyCode::Backspace),
    ("delete", KeyCode::Delete),
    ("insert", KeyCode::Insert),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("pageup", KeyCode::PageUp),
    ("pagedown", KeyCode::PageDown),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("space", KeyCode::Char(' ')),
];

impl FromStr for KeyChord {
    type Err = KeyChordError;

    fn from_str(text: &str) -> Result<KeyChord, KeyChordError> {
        let error = |reason| KeyChordError { chord: text.to_owned(), reason };
        let mut rest = text.trim();
        let mut modifiers = KeyModifiers::NONE;
        // Modifier prefixes first, so that `ctrl--` is Ctrl and the `-` key.
        loop {
            let lower = rest.to_ascii_lowercase();
            let prefix = [("ctrl", KeyModifiers::CONTROL), ("alt", KeyModifiers::ALT), ("shift", KeyModifiers::SHIFT)]
                .into_iter()
                .find(|(name, _)| {
                    lower.starts_with(name) && matches!(lower.as_bytes().get(name.len()), Some(b'-' | b'+')) && lower.len() > name.len() + 1
                });
            match prefix {
                Some((name, modifier)) => {
                    modifiers |= modifier;
                    rest = &rest[name.len() + 1..];
                }
                None => break,
            }
        }
        if rest.is_empty() {
            return Err(error("no key after the modifiers"));
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(c),
            _ => {
                let lower = rest.to_ascii_lowercase();
                if let Some((_, code)) = NAMED_KEYS.iter().find(|(name, _)| *name == lower) {
                    *code
                } else if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()).filter(|n| (1..=24).contains(n)) {
                    KeyCode::F(n)
                } else {
                    return Err(error("unknown key name"));
                }
            }
        };
        // `shift-tab` is how people write the back-tab key.
        if code == KeyCode::Tab && modifiers.contains(KeyModifiers::SHIFT) {
            return Ok(KeyChord::new(KeyCode::BackTab, modifiers - KeyModifiers::SHIFT));
        }
        if matches!(code, KeyCode::Char(_)) && modifiers.contains(KeyModifiers::SHIFT) {
            return Err(error("write the shifted character itself (`G`, not `shift-g`)"));
        }
        Ok(KeyChord::new(code, modifiers))
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("Shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Delete"),
            KeyCode::Insert => f.write_str("Insert"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PageUp"),
            KeyCode::PageDown => f.write_str("PageDown"),
            KeyCode::Up => f.write_str("Up"),
            KeyCode::Down => f.write_str("Down"),
            KeyCode::Left => f.write_str("Left"),
            KeyCode::Right => f.write_str("Right"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl Serialize for KeyChord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}", self.to_string().to_ascii_lowercase()))
    }
}

impl<'de> Deserialize<'de> for KeyChord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<KeyChord, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a bound key does in the composer. Names (snake_case) are the keys of the composer's
/// table in `tui.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComposerAction {
    /// Send the reply or note (asks first when new messages arrived since the draft began).
    Send,
    /// Leave the composer; the draft is kept.
    Leave,
    /// Switch between public reply and internal note.
    ToggleMode,
    /// Edit the draft in `$VISUAL` / `$EDITOR`.
    OpenEditor,
    /// Insert a canned reply from a fuzzy picker (typing `::` does the same).
    CannedReply,
    /// Apply a macro to the ticket, from a menu.
    ApplyMacro,
    /// Attach a file to the ticket by its path (the draft stays as it is).
    Attach,
}

impl ComposerAction {
    pub const ALL: [ComposerAction; 7] = [
        ComposerAction::Send,
        ComposerAction::Leave,
        ComposerAction::ToggleMode,
        ComposerAction::OpenEditor,
        ComposerAction::CannedReply,
        ComposerAction::ApplyMacro,
        ComposerAction::Attach,
    ];

    /// The name used in `tui.toml`.
    pub fn name(self) -> &'static str {
        match self {
            ComposerAction::Send => "send",
            ComposerAction::Leave => "leave",
            ComposerAction::ToggleMode => "toggle_mode",
            ComposerAction::OpenEditor => "open_editor",
            ComposerAction::CannedReply => "canned_reply",
            ComposerAction::ApplyMacro => "apply_macro",
            ComposerAction::Attach => "attach",
        }
    }

    /// A short label for the footer.
    pub fn label(self) -> &'static str {
        match self {
            ComposerAction::Send => "send",
            ComposerAction::Leave => "leave",
            ComposerAction::ToggleMode => "note/reply",
            ComposerAction::OpenEditor => "editor",
            ComposerAction::CannedReply => "canned",
            ComposerAction::ApplyMacro => "macro",
            ComposerAction::Attach => "attach",
        }
    }

    /// A sentence for the help screen.
    pub fn description(self) -> &'static str {
        match self {
            ComposerAction::Send => "Send (asks first if new messages arrived since the draft began)",
            ComposerAction::Leave => "Leave the composer; the draft is kept",
            ComposerAction::ToggleMode => "Switch between public reply and internal note",
            ComposerAction::OpenEditor => "Edit the draft in $VISUAL / $EDITOR",
            ComposerAction::CannedReply => "Insert a canned reply (or type ::)",
            ComposerAction::ApplyMacro => "Apply a macro to the ticket",
            ComposerAction::Attach => "Attach a file to the ticket by its path (the draft stays)",
        }
    }
}

/// The composer's bindings: each action with the chords that trigger it. A chord bound to two
/// actions triggers the first in [`ComposerAction::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ComposerKeys {
    bindings: BTreeMap<ComposerAction, Vec<KeyChord>>,
}

impl Default for ComposerKeys {
    fn default() -> Self {
        Self::defaults()
    }
}

impl ComposerKeys {
    /// `send`: Ctrl-s, Alt-Enter; `leave`: Esc; `toggle_mode`: Ctrl-t; `open_editor`: Ctrl-e;
    /// `canned_reply`: Ctrl-g; `apply_macro`: Alt-m.
    pub fn defaults() -> ComposerKeys {
        let bindings = BTreeMap::from([
            (ComposerAction::Send, vec![KeyChord::ctrl('s'), KeyChord::alt(KeyCode::Enter)]),
            (ComposerAction::Leave, vec![KeyChord::plain(KeyCode::Esc)]),
            (ComposerAction::ToggleMode, vec![KeyChord::ctrl('t')]),
            (ComposerAction::OpenEditor, vec![KeyChord::ctrl('e')]),
            (ComposerAction::CannedReply, vec![KeyChord::ctrl('g')]),
            (ComposerAction::ApplyMacro, vec![KeyChord::alt(KeyCode::Char('m'))]),
            (ComposerAction::Attach, vec![KeyChord::alt(KeyCode::Char('a'))]),
        ]);
        ComposerKeys { bindings }
    }

    /// No bindings: for a caller whose own key table finds the actions and calls
    /// [`crate::composer::Composer::perform`]; keys then only edit the text.
    pub fn none() -> ComposerKeys {
        ComposerKeys { bindings: BTreeMap::new() }
    }

    /// These defaults with some actions rebound (as read from `tui.toml`): each listed action
    /// gets exactly the given chords; an empty list unbinds it.
    pub fn with_overrides(overrides: impl IntoIterator<Item = (ComposerAction, Vec<KeyChord>)>) -> ComposerKeys {
        let mut keys = ComposerKeys::defaults();
        for (action, chords) in overrides {
            keys.bindings.insert(action, chords);
        }
        keys
    }

    /// The chords bound to an action (empty when unbound).
    /// These bindings with one action's chords replaced (empty: unbound).
    pub fn with_keys(mut self, action: ComposerAction, chords: Vec<KeyChord>) -> ComposerKeys {
        self.bindings.insert(action, chords);
        self
    }

    pub fn chords(&self, action: ComposerAction) -> &[KeyChord] {
        self.bindings.get(&action).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The action a key press triggers, if any.
    pub fn action_for(&self, key: &KeyEvent) -> Option<ComposerAction> {
        ComposerAction::ALL.into_iter().find(|action| self.chords(*action).iter().any(|chord| chord.matches(key)))
    }

    /// The chords of an action for display (`Ctrl-s/Alt-Enter`), or `unbound`.
    pub fn describe(&self, action: ComposerAction) -> String {
        let chords = self.chords(action);
        if chords.is_empty() {
            return "unbound".to_owned();
        }
        chords.iter().map(ToString::to_string).collect::<Vec<_>>().join("/")
    }

    /// Every action with its keys and description, for the help screen.
    pub fn help(&self) -> Vec<KeyHelp> {
        let mut help: Vec<KeyHelp> = ComposerAction::ALL
            .into_iter()
            .map(|action| KeyHelp { keys: self.describe(action), description: action.description() })
            .collect();
        help.extend(FIXED_KEYS.iter().map(|(keys, description)| KeyHelp { keys: (*keys).to_owned(), description }));
        help
    }
}

/// Keys that are not remappable because they are the text area's or the pickers' own.
const FIXED_KEYS: &[(&str, &str)] = &[
    ("::", "Canned reply picker, typed in the text"),
    ("@", "Complete a mention (Tab/Enter takes it, Esc closes the list)"),
    ("Up/Down Enter Esc", "In a picker: move, choose, close (typing filters)"),
    ("y / n", "When asked to confirm a send"),
    ("Ctrl-u / Ctrl-r", "Undo / redo"),
];

/// One line of the help screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHelp {
    pub keys: String,
    pub description: &'static str,
}
