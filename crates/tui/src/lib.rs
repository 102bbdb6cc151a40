//! `hdms-tui`: the agent's terminal client for the hdms help desk.
//!
//! Built the way ratatui's async guidelines and gitui build theirs: one owner of the state
//! ([`app::State`]), a pure [`app::update`] that every event (keys, server answers, websocket
//! events, ticks) goes through and that answers [`app::Effect`]s, a [`runtime`] performing those
//! effects on tokio tasks, and drawing ([`ui::draw`]) as a function of the state. The key table
//! ([`keys`]) is the one source of the footer, the help and the README's key list.

pub mod actions;
pub mod app;
pub mod call;
pub mod composer;
pub mod composer_slot;
pub mod config;
pub mod format;
pub mod input;
pub mod keys;
pub mod live;
pub mod overlay;
pub mod realtime;
pub mod runtime;
pub mod screens;
pub mod signin;
pub mod ui;

use chrono::Utc;

pub use app::{Effect, Event, State, update};

/// Runs the client in the real terminal until the agent quits; the terminal is restored on the
/// way out, on a panic and on Ctrl-c.
pub async fn run(target: signin::Target, settings: config::Settings) -> anyhow::Result<()> {
    let mut state = State::new(&target.server, settings.keymap, Utc::now());
    // Drafts live beside the config, per profile, so two servers' drafts never mix.
    let drafts_dir = target.config.path().join("drafts").join(&target.profile);
    state.shared.drafts = Some(composer::DraftWriter::new(composer::DraftStore::new(drafts_dir)));
    state.login = screens::login::Login::new(signin::saved_email(&target).as_deref());
    let mut initial = Vec::new();
    if signin::has_saved_login(&target) {
        initial.push(Event::Resumed { server: target.server.clone() });
    }
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    // What the store has to say (no usable keyring) goes to the message line, not stderr.
    let notices = sender.clone();
    let target = target.with_notices(std::sync::Arc::new(move |notice: &str| {
        let _ = notices.send(Event::Notice(notice.to_owned()));
    }));
    let effects = runtime::Effects::new(target, sender, Box::new(std::io::stdout()));

    let mut terminal = ratatui::try_init()?;
    crossterm::execute!(std::io::stdout(), crossterm::event::EnableBracketedPaste)?;
    let size = terminal.size()?;
    initial.insert(0, Event::Resize { width: size.width, height: size.height });
    let outcome = runtime::run(&mut terminal, state, effects, receiver, initial).await;
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableBracketedPaste);
    ratatui::restore();
    outcome
}
