//! `run_editor` with a real external editor: a script standing in for `$VISUAL` appends to the
//! file it is given, as a person would, and the composer takes the result back.

use std::os::unix::fs::PermissionsExt;

use hdms_tui::composer::editor::run_editor;
use hdms_tui::composer::{Composer, ComposerKeys, ComposerOutcome, Mode};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use uuid::Uuid;

#[test]
fn the_draft_round_trips_through_the_users_editor() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fake-editor");
    std::fs::write(&script, "#!/bin/sh\nprintf ' and a second thought\\n' >> \"$1\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // SAFETY: this test binary has this one test, so no other thread reads the environment.
    unsafe {
        std::env::set_var("VISUAL", &script);
        std::env::remove_var("EDITOR");
    }

    let mut composer = Composer::new(Uuid::now_v7(), Mode::PublicReply, 0, ComposerKeys::defaults());
    for c in "first thought".chars() {
        composer.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    assert_eq!(composer.handle_key(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::CONTROL)), ComposerOutcome::OpenEditor);
    // What the runtime does between suspending and restoring the terminal:
    let edited = run_editor(&composer.text());
    composer.finish_editor(edited);
    assert_eq!(composer.text(), "first thought and a second thought");
}
