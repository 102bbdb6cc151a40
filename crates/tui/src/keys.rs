//! The key table: every action the client knows, the keys that trigger it on each screen, and
//! which of them the footer shows. The footer, the `?` help and the README's key list are all
//! drawn from this one table; `tui.toml` remaps any of it (see [`crate::config`]).

use std::collections::HashMap;
use std::fmt;

use crokey::KeyCombination;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Declares the actions with their `tui.toml` names and help texts, in the order help lists them.
macro_rules! actions {
    ($($variant:ident = $name:literal, $help:literal;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action { $($variant),* }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The name used in `tui.toml`.
            pub fn name(self) -> &'static str {
                match self { $(Action::$variant => $name),* }
            }

            pub fn help(self) -> &'static str {
                match self { $(Action::$variant => $help),* }
            }

            pub fn from_name(name: &str) -> Option<Action> {
                Action::ALL.iter().copied().find(|action| action.name() == name)
            }
        }
    };
}

actions! {
    Quit = "quit", "Quit";
    Back = "back", "Go back";
    Help = "help", "Show the keys of this screen";
    Up = "up", "Move up";
    Down = "down", "Move down";
    Top = "top", "Go to the first row";
    Bottom = "bottom", "Go to the last row";
    PageDown = "page_down", "One page down";
    PageUp = "page_up", "One page up";
    HalfPageDown = "half_page_down", "Half a page down";
    HalfPageUp = "half_page_up", "Half a page up";
    Open = "open", "Open the selected item";
    NextTab = "next_tab", "Next tab";
    PrevTab = "prev_tab", "Previous tab";
    Tab1 = "tab_1", "Tab 1";
    Tab2 = "tab_2", "Tab 2";
    Tab3 = "tab_3", "Tab 3";
    Tab4 = "tab_4", "Tab 4";
    Tab5 = "tab_5", "Tab 5";
    Tab6 = "tab_6", "Tab 6";
    Tab7 = "tab_7", "Tab 7";
    Tab8 = "tab_8", "Tab 8";
    Tab9 = "tab_9", "Tab 9";
    Search = "search", "Full-text search";
    Filter = "filter", "Filter (status, priority, assignee, team, tag)";
    Sort = "sort", "Change the sort order";
    Refresh = "refresh", "Reload from the server";
    Mark = "mark", "Mark or unmark the row for a bulk action";
    Bulk = "bulk", "Act on the marked tickets";
    ClaimNext = "claim_next", "Claim the next most urgent ticket";
    Notifications = "notifications", "Notifications";
    CopyNumber = "copy_number", "Copy the ticket number (OSC 52)";
    Reply = "reply", "Write a public reply";
    Note = "note", "Write an internal note";
    Transition = "transition", "Change the status";
    Assign = "assign", "Assign";
    Priority = "priority", "Set the priority";
    Tags = "tags", "Edit the tags";
    Watch = "watch", "Watch or stop watching";
    Approvals = "approvals", "Request or decide an approval";
    SubTicket = "sub_ticket", "Create a sub-ticket";
    Link = "link", "Link to another ticket";
    Merge = "merge", "Merge into another ticket";
    SaveAttachment = "save_attachment", "Save the selected attachment to a file";
    MarkAllRead = "mark_all_read", "Mark every notification read";
    NewTicket = "new_ticket", "Raise a new ticket (subject, description, priority, files)";
    Rate = "rate", "Rate how your resolved ticket was handled";
    Attach = "attach", "Attach a file from a path (shows the upload's progress)";
    Dashboard = "dashboard", "The dashboard: open, breaching, SLA and volume per team and agent";
    ShorterWindow = "shorter_window", "A shorter window (today, 7, 30, 90 days)";
    LongerWindow = "longer_window", "A longer window";
    NextTeam = "next_team", "The next team (all teams first)";
    Submit = "submit", "Submit";
    NextField = "next_field", "Next field";
    PrevField = "prev_field", "Previous field";
    Cancel = "cancel", "Cancel";
    ComposerSend = "send", "Send the message";
    ComposerToggleMode = "toggle_mode", "Switch between public reply and internal note";
    ComposerEditor = "open_editor", "Edit the draft in $VISUAL / $EDITOR";
    ComposerCanned = "canned_reply", "Insert a canned reply (or type ::)";
    ComposerMacro = "apply_macro", "Apply a macro to the ticket";
    ComposerLeave = "leave", "Keep the draft and leave the composer";
    ComposerAttach = "attach_file", "Attach a file by its path; the draft stays";
}

/// Where a binding applies. A screen consults its own context, then `Global` (except text
/// screens, where unbound keys are typed instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    Global,
    List,
    Login,
    Queues,
    Ticket,
    Notifications,
    Prompt,
    Menu,
    Composer,
    Dashboard,
}

impl Context {
    pub const ALL: [Context; 10] = [
        Context::Global,
        Context::List,
        Context::Login,
        Context::Queues,
        Context::Ticket,
        Context::Notifications,
        Context::Prompt,
        Context::Menu,
        Context::Composer,
        Context::Dashboard,
    ];

    /// The section name in `tui.toml` (`[keys.queues]`).
    pub fn name(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::List => "list",
            Context::Login => "login",
            Context::Queues => "queues",
            Context::Ticket => "ticket",
            Context::Notifications => "notifications",
            Context::Prompt => "prompt",
            Context::Menu => "menu",
            Context::Composer => "composer",
            Context::Dashboard => "dashboard",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::List => "Lists",
            Context::Login => "Login",
            Context::Queues => "Queues",
            Context::Ticket => "Ticket",
            Context::Notifications => "Notifications",
            Context::Prompt => "Text prompts",
            Context::Menu => "Menus",
            Context::Composer => "Composer",
            Context::Dashboard => "Dashboard",
        }
    }

    pub fn from_name(name: &str) -> Option<Context> {
        Context::ALL.into_iter().find(|context| context.name() == name)
    }
}

/// One row of the default table: in `context`, `keys` trigger `action`; `footer` puts it in
/// the footer line.
struct Default {
    context: Context,
    action: Action,
    keys: &'static [&'static str],
    footer: bool,
}

const fn bind(context: Context, action: Action, keys: &'static [&'static str], footer: bool) -> Default {
    Default { context, action, keys, footer }
}

use Action as A;
use Context as C;

/// The default keys. Ctrl-c always quits and is not remappable (see [`Keymap::is_hard_quit`]).
const DEFAULTS: &[Default] = &[
    bind(C::Global, A::Help, &["?"], true),
    bind(C::Global, A::Quit, &["q"], true),
    bind(C::Global, A::Back, &["esc"], false),
    bind(C::Global, A::Notifications, &["shift-n"], true),
    bind(C::List, A::Up, &["k", "up"], false),
    bind(C::List, A::Down, &["j", "down"], false),
    bind(C::List, A::Top, &["g", "home"], false),
    bind(C::List, A::Bottom, &["shift-g", "end"], false),
    bind(C::List, A::PageDown, &["ctrl-f", "pagedown"], false),
    bind(C::List, A::PageUp, &["ctrl-b", "pageup"], false),
    bind(C::List, A::HalfPageDown, &["ctrl-d"], false),
    bind(C::List, A::HalfPageUp, &["ctrl-u"], false),
    bind(C::List, A::Open, &["enter"], true),
    bind(C::Login, A::Submit, &["enter"], true),
    bind(C::Login, A::NextField, &["tab", "down"], true),
    bind(C::Login, A::PrevField, &["backtab", "up"], false),
    bind(C::Login, A::Quit, &["esc"], true),
    bind(C::Queues, A::NextTab, &["tab", "l", "right"], false),
    bind(C::Queues, A::PrevTab, &["backtab", "h", "left"], false),
    bind(C::Queues, A::Tab1, &["1"], false),
    bind(C::Queues, A::Tab2, &["2"], false),
    bind(C::Queues, A::Tab3, &["3"], false),
    bind(C::Queues, A::Tab4, &["4"], false),
    bind(C::Queues, A::Tab5, &["5"], false),
    bind(C::Queues, A::Tab6, &["6"], false),
    bind(C::Queues, A::Tab7, &["7"], false),
    bind(C::Queues, A::Tab8, &["8"], false),
    bind(C::Queues, A::Tab9, &["9"], false),
    bind(C::Queues, A::Search, &["/"], true),
    bind(C::Queues, A::Filter, &["f"], true),
    bind(C::Queues, A::Sort, &["s"], true),
    bind(C::Queues, A::Refresh, &["r"], false),
    bind(C::Queues, A::Mark, &["space"], false),
    bind(C::Queues, A::Bulk, &["b"], true),
    bind(C::Queues, A::ClaimNext, &["n"], true),
    bind(C::Queues, A::CopyNumber, &["y"], false),
    bind(C::Queues, A::NewTicket, &["c"], false),
    bind(C::Queues, A::Dashboard, &["shift-d"], false),
    bind(C::Ticket, A::Reply, &["r"], true),
    bind(C::Ticket, A::Note, &["i"], true),
    bind(C::Ticket, A::Transition, &["t"], true),
    bind(C::Ticket, A::Assign, &["a"], true),
    bind(C::Ticket, A::ClaimNext, &["n"], false),
    bind(C::Ticket, A::Priority, &["p"], false),
    bind(C::Ticket, A::Tags, &["shift-t"], false),
    bind(C::Ticket, A::Watch, &["w"], false),
    bind(C::Ticket, A::Approvals, &["shift-a"], false),
    bind(C::Ticket, A::SubTicket, &["c"], false),
    bind(C::Ticket, A::Link, &["shift-l"], false),
    bind(C::Ticket, A::Merge, &["shift-m"], false),
    bind(C::Ticket, A::SaveAttachment, &["shift-s"], false),
    bind(C::Ticket, A::Attach, &["u"], false),
    bind(C::Ticket, A::Rate, &["shift-r"], false),
    bind(C::Ticket, A::NextTab, &["tab"], true),
    bind(C::Ticket, A::PrevTab, &["backtab"], false),
    bind(C::Ticket, A::Refresh, &["ctrl-r"], false),
    bind(C::Ticket, A::CopyNumber, &["y"], false),
    bind(C::Notifications, A::MarkAllRead, &["shift-r"], true),
    bind(C::Notifications, A::Refresh, &["r"], false),
    bind(C::Prompt, A::Submit, &["enter", "alt-enter", "ctrl-s"], true),
    bind(C::Prompt, A::Cancel, &["esc"], true),
    bind(C::Prompt, A::NextField, &["tab"], false),
    bind(C::Prompt, A::PrevField, &["backtab"], false),
    bind(C::Menu, A::Up, &["k", "up"], false),
    bind(C::Menu, A::Down, &["j", "down"], false),
    bind(C::Menu, A::Submit, &["enter"], true),
    bind(C::Menu, A::Cancel, &["esc", "q"], true),
    bind(C::Dashboard, A::ShorterWindow, &["["], true),
    bind(C::Dashboard, A::LongerWindow, &["]"], true),
    bind(C::Dashboard, A::NextTeam, &["t"], true),
    bind(C::Dashboard, A::Refresh, &["r"], false),
    bind(C::Composer, A::ComposerSend, &["ctrl-s", "alt-enter"], true),
    bind(C::Composer, A::ComposerToggleMode, &["ctrl-t"], true),
    bind(C::Composer, A::ComposerEditor, &["ctrl-e"], true),
    bind(C::Composer, A::ComposerCanned, &["ctrl-g"], false),
    bind(C::Composer, A::ComposerMacro, &["alt-m"], false),
    bind(C::Composer, A::ComposerAttach, &["alt-a"], false),
    bind(C::Composer, A::ComposerLeave, &["esc"], true),
];

/// What only staff may do: a customer's table has none of it (not in the footer, the help, or
/// answering a key), so their client is cut to their role from the one table.
pub const STAFF_ONLY: &[Action] = &[
    A::Filter,
    A::Mark,
    A::Bulk,
    A::ClaimNext,
    A::Note,
    A::Assign,
    A::Priority,
    A::Tags,
    A::Watch,
    A::Approvals,
    A::SubTicket,
    A::Link,
    A::Merge,
    A::ComposerToggleMode,
    A::ComposerCanned,
    A::ComposerMacro,
];

/// What only the requester does (staff never rate their own work).
pub const CUSTOMER_ONLY: &[Action] = &[A::Rate];

/// What supervisors and admins have beyond agents (the desk's numbers).
pub const SUPERVISOR_ONLY: &[Action] = &[A::Dashboard];

/// A customer's main keys, in their footer (the staff footer has no room for them).
const CUSTOMER_FOOTER: &[Action] = &[A::NewTicket, A::Rate, A::Transition, A::Attach];

/// A key as the table stores it: letters keep their case in the code and carry SHIFT when
/// upper case; other characters drop SHIFT (terminals differ in sending it with `?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(KeyCombination);

impl Key {
    pub fn parse(text: &str) -> Result<Key, String> {
        let combination: KeyCombination = text.parse().map_err(|err: crokey::ParseKeyError| err.to_string())?;
        Ok(Key::normalized(combination))
    }

    fn normalized(combination: KeyCombination) -> Key {
        let mut combination = combination.normalized();
        if let crokey::OneToThree::One(KeyCode::Char(c)) = combination.codes
            && !c.is_ascii_alphabetic()
        {
            combination.modifiers.remove(KeyModifiers::SHIFT);
        }
        Key(combination)
    }
}

impl Key {
    /// The key as crossterm reports it.
    pub fn event(self) -> KeyEvent {
        self.0.into()
    }
}

impl From<KeyEvent> for Key {
    fn from(event: KeyEvent) -> Key {
        Key::normalized(KeyCombination::from(event))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self.0.codes {
            crokey::OneToThree::One(KeyCode::Char(' ')) if self.0.modifiers.is_empty() => "Space".to_owned(),
            crokey::OneToThree::One(KeyCode::Char(c)) if self.0.modifiers == KeyModifiers::SHIFT => c.to_string(),
            _ => crokey::KeyCombinationFormat::default().to_string(self.0),
        };
        f.write_str(&text)
    }
}

/// One action's keys in one context, in display order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub context: Context,
    pub action: Action,
    pub keys: Vec<Key>,
    pub footer: bool,
}

impl Binding {
    pub fn keys_text(&self) -> String {
        self.keys.iter().map(Key::to_string).collect::<Vec<_>>().join(" / ")
    }
}

/// A row of the help or the README: one binding, or the tab-number keys folded into one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRow {
    pub keys: String,
    pub help: String,
    pub names: String,
    /// `staff only` or `customers only`, for the docs (a role's own help has only its keys).
    pub only: Option<&'static str>,
}

const TAB_ACTIONS: [Action; 9] = [A::Tab1, A::Tab2, A::Tab3, A::Tab4, A::Tab5, A::Tab6, A::Tab7, A::Tab8, A::Tab9];

/// The table in force: the defaults with the user's remappings applied.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<Binding>,
    lookup: HashMap<(Context, Key), Action>,
    /// Actions the signed-in person's role does not have (see [`Keymap::cut_to`]).
    hidden: Vec<Action>,
    customer: bool,
}

impl std::default::Default for Keymap {
    fn default() -> Self {
        let bindings = DEFAULTS
            .iter()
            .map(|row| Binding {
                context: row.context,
                action: row.action,
                keys: row.keys.iter().map(|key| Key::parse(key).expect("default keys parse")).collect(),
                footer: row.footer,
            })
            .collect();
        Keymap::from_bindings(bindings, Vec::new(), false)
    }
}

impl Keymap {
    fn from_bindings(bindings: Vec<Binding>, hidden: Vec<Action>, customer: bool) -> Keymap {
        let mut lookup = HashMap::new();
        for binding in bindings.iter().filter(|b| !hidden.contains(&b.action)) {
            for key in &binding.keys {
                lookup.insert((binding.context, *key), binding.action);
            }
        }
        Keymap { bindings, lookup, hidden, customer }
    }

    /// Cuts the table to a role: a customer's has no staff action, staff's no customer one.
    pub fn cut_to(&mut self, role: hdms_api_types::Role) {
        let customer = role == hdms_api_types::Role::Customer;
        let mut hidden = if customer { STAFF_ONLY.to_vec() } else { CUSTOMER_ONLY.to_vec() };
        if matches!(role, hdms_api_types::Role::Customer | hdms_api_types::Role::Agent) {
            hidden.extend_from_slice(SUPERVISOR_ONLY);
        }
        *self = Keymap::from_bindings(std::mem::take(&mut self.bindings), hidden, customer);
    }

    /// Replaces the keys of `action` in `context`. A key taken from another action of the same
    /// context is removed from it, so one key never means two things.
    pub fn remap(&mut self, context: Context, action: Action, keys: Vec<Key>) -> Result<(), String> {
        for binding in self.bindings.iter_mut().filter(|b| b.context == context && b.action != action) {
            binding.keys.retain(|key| !keys.contains(key));
        }
        match self.bindings.iter_mut().find(|b| b.context == context && b.action == action) {
            Some(binding) => binding.keys = keys,
            None => {
                if !DEFAULTS.iter().any(|row| row.action == action) {
                    return Err(format!("unknown action '{}'", action.name()));
                }
                self.bindings.push(Binding { context, action, keys, footer: false });
            }
        }
        let hidden = std::mem::take(&mut self.hidden);
        *self = Keymap::from_bindings(std::mem::take(&mut self.bindings), hidden, self.customer);
        Ok(())
    }

    /// The action `key` triggers, looking in `contexts` in order.
    pub fn action(&self, contexts: &[Context], key: KeyEvent) -> Option<Action> {
        let key = Key::from(key);
        contexts.iter().find_map(|context| self.lookup.get(&(*context, key)).copied())
    }

    /// Ctrl-c quits from anywhere, whatever the table says: a way out that cannot be remapped.
    pub fn is_hard_quit(key: KeyEvent) -> bool {
        key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c')
    }

    /// The bindings of `context` the role has.
    pub fn bindings(&self, context: Context) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(move |b| b.context == context && !b.keys.is_empty() && !self.hidden.contains(&b.action))
    }

    /// What help lists for `context`, with the nine tab keys on one row.
    pub fn help_rows(&self, context: Context) -> Vec<HelpRow> {
        let mut rows = Vec::new();
        let mut tabs = Vec::new();
        for binding in self.bindings(context) {
            if TAB_ACTIONS.contains(&binding.action) {
                tabs.push(binding);
                continue;
            }
            let only = if SUPERVISOR_ONLY.contains(&binding.action) {
                Some("supervisors and admins")
            } else if STAFF_ONLY.contains(&binding.action) {
                Some("staff only")
            } else if CUSTOMER_ONLY.contains(&binding.action) {
                Some("customers only")
            } else {
                None
            };
            rows.push(HelpRow { keys: binding.keys_text(), help: binding.action.help().to_owned(), names: format!("`{}`", binding.action.name()), only });
        }
        if !tabs.is_empty() {
            let at = rows.len().min(2);
            rows.insert(
                at,
                HelpRow {
                    keys: tabs.iter().map(|b| b.keys_text()).collect::<Vec<_>>().join(" "),
                    help: "Go to tab 1 … 9".to_owned(),
                    names: "`tab_1` … `tab_9`".to_owned(),
                    only: None,
                },
            );
        }
        rows
    }

    /// The first key of `action` in `context`, as shown to people.
    pub fn key_for(&self, context: Context, action: Action) -> Option<Key> {
        self.bindings(context).find(|b| b.action == action).and_then(|b| b.keys.first().copied())
    }

    /// The footer of a screen whose contexts are `contexts`: its marked bindings, first key each.
    pub fn footer(&self, contexts: &[Context]) -> Vec<(Key, &'static str)> {
        contexts
            .iter()
            .flat_map(|context| self.bindings(*context))
            .filter(|binding| binding.footer || (self.customer && CUSTOMER_FOOTER.contains(&binding.action)))
            .map(|binding| (binding.keys[0], footer_label(binding.action)))
            .collect()
    }
}

/// A one- or two-word label for the footer.
fn footer_label(action: Action) -> &'static str {
    match action {
        A::Help => "help",
        A::Quit => "quit",
        A::Notifications => "notifications",
        A::Open => "open",
        A::Submit => "ok",
        A::NextField => "next field",
        A::Search => "search",
        A::Filter => "filter",
        A::Sort => "sort",
        A::Bulk => "bulk",
        A::ClaimNext => "claim next",
        A::Reply => "reply",
        A::Note => "note",
        A::Transition => "status",
        A::Assign => "assign",
        A::NextTab => "tab",
        A::MarkAllRead => "all read",
        A::NewTicket => "new ticket",
        A::Rate => "rate",
        A::Attach => "attach",
        A::Dashboard => "dashboard",
        A::ShorterWindow => "shorter",
        A::LongerWindow => "longer",
        A::NextTeam => "team",
        A::Cancel => "cancel",
        A::ComposerSend => "send",
        A::ComposerToggleMode => "public/internal",
        A::ComposerEditor => "$EDITOR",
        A::ComposerLeave => "keep draft",
        A::ComposerAttach => "attach",
        other => other.name(),
    }
}

/// The key list as Markdown, one table per context: the README's key section is this text, and
/// a test checks the two agree.
pub fn markdown(keymap: &Keymap) -> String {
    let mut out = String::new();
    for context in Context::ALL {
        let rows = keymap.help_rows(context);
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("\n#### {} (`[keys.{}]`)\n\n| keys | action (name) |\n|---|---|\n", context.title(), context.name()));
        for row in rows {
            let keys = row.keys.replace('|', "\\|");
            let only = row.only.map(|only| format!(" · {only}")).unwrap_or_default();
            out.push_str(&format!("| `{keys}` | {} ({}){only} |\n", row.help, row.names));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn shifted_letters_and_symbols_match_what_terminals_send() {
        let keymap = Keymap::default();
        assert_eq!(keymap.action(&[C::List], key(KeyCode::Char('G'), KeyModifiers::SHIFT)), Some(A::Bottom));
        assert_eq!(keymap.action(&[C::List], key(KeyCode::Char('g'), KeyModifiers::NONE)), Some(A::Top));
        // Some terminals send `?` with SHIFT, some without.
        assert_eq!(keymap.action(&[C::Global], key(KeyCode::Char('?'), KeyModifiers::SHIFT)), Some(A::Help));
        assert_eq!(keymap.action(&[C::Global], key(KeyCode::Char('?'), KeyModifiers::NONE)), Some(A::Help));
        assert_eq!(keymap.action(&[C::Composer], key(KeyCode::Char('s'), KeyModifiers::CONTROL)), Some(A::ComposerSend));
    }

    #[test]
    fn contexts_are_consulted_in_order() {
        let keymap = Keymap::default();
        let r = key(KeyCode::Char('r'), KeyModifiers::NONE);
        assert_eq!(keymap.action(&[C::Ticket, C::Global], r), Some(A::Reply));
        assert_eq!(keymap.action(&[C::Queues, C::Global], r), Some(A::Refresh));
    }

    #[test]
    fn remapping_moves_a_key_and_frees_it_elsewhere() {
        let mut keymap = Keymap::default();
        keymap.remap(C::Composer, A::ComposerSend, vec![Key::parse("ctrl-o").unwrap()]).unwrap();
        let ctrl = |c| key(KeyCode::Char(c), KeyModifiers::CONTROL);
        assert_eq!(keymap.action(&[C::Composer], ctrl('o')), Some(A::ComposerSend));
        assert_eq!(keymap.action(&[C::Composer], ctrl('s')), None);
        // Taking Ctrl-t for sending leaves toggling without it.
        keymap.remap(C::Composer, A::ComposerSend, vec![Key::parse("ctrl-t").unwrap()]).unwrap();
        assert_eq!(keymap.action(&[C::Composer], ctrl('t')), Some(A::ComposerSend));
        assert!(keymap.key_for(C::Composer, A::ComposerToggleMode).is_none());
    }

    #[test]
    fn keys_display_as_people_write_them() {
        assert_eq!(Key::parse("shift-g").unwrap().to_string(), "G");
        assert_eq!(Key::parse("ctrl-s").unwrap().to_string(), "Ctrl-s");
        assert_eq!(Key::parse("space").unwrap().to_string(), "Space");
        assert_eq!(Key::parse("?").unwrap().to_string(), "?");
    }

    #[test]
    fn no_two_actions_share_a_key_in_one_context() {
        for context in Context::ALL {
            let mut seen = HashMap::new();
            for row in DEFAULTS.iter().filter(|row| row.context == context) {
                for key in row.keys {
                    let parsed = Key::parse(key).unwrap();
                    if let Some(other) = seen.insert(parsed, row.action) {
                        panic!("{key} means both {other:?} and {:?} in {context:?}", row.action);
                    }
                }
            }
        }
    }
}
