//! Drafts on disk: kept as you type (debounced, atomic), restored when the ticket's composer
//! opens again (after switching tickets, a crash or a restart), cleared once sent.

use std::time::{Duration, Instant};

use hdms_tui::composer::{Composer, ComposerKeys, ComposerOutcome, Draft, DraftStore, DraftWriter, Mode};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use uuid::Uuid;

fn type_text(composer: &mut Composer, text: &str) {
    for c in text.chars() {
        composer.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

/// Waits for a condition the writer thread makes true (bounded; only reached when broken).
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn open(writer: &DraftWriter, ticket_id: Uuid, mode: Mode, latest_seq: i64) -> Composer {
    Composer::new(ticket_id, mode, latest_seq, ComposerKeys::defaults()).with_drafts(writer.clone())
}

#[test]
fn a_draft_is_written_once_typing_pauses_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = DraftStore::new(dir.path().join("drafts"));
    let ticket = Uuid::now_v7();
    {
        let writer = DraftWriter::with_debounce(store.clone(), Duration::from_millis(50));
        let mut composer = open(&writer, ticket, Mode::InternalNote, 7);
        type_text(&mut composer, "checking the logs");
        // Written by the background thread without any call from the UI.
        eventually("the draft on disk", || store.load(ticket).unwrap().is_some_and(|d| d.body == "checking the logs"));
        // Simulate a crash: the composer vanishes without leaving.
        drop(composer);
    }
    // A new process: a new writer on the same directory.
    let writer = DraftWriter::new(store.clone());
    let composer = open(&writer, ticket, Mode::PublicReply, 9);
    assert_eq!(composer.text(), "checking the logs");
    assert_eq!(composer.mode(), Mode::InternalNote, "a note never comes back as a public reply");
    assert_eq!(composer.notice(), Some("Draft restored (internal note)"));
    let draft = store.load(ticket).unwrap().unwrap();
    assert_eq!(draft.baseline_seq, 7);
}

#[test]
fn a_restored_draft_still_asks_when_messages_came_while_away() {
    let dir = tempfile::tempdir().unwrap();
    let writer = DraftWriter::with_debounce(DraftStore::new(dir.path()), Duration::from_millis(10));
    let ticket = Uuid::now_v7();
    let mut composer = open(&writer, ticket, Mode::PublicReply, 3);
    type_text(&mut composer, "reply");
    assert_eq!(composer.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)), ComposerOutcome::Cancelled);
    // Back later: two messages came meanwhile.
    let mut composer = open(&writer, ticket, Mode::PublicReply, 5);
    assert_eq!(composer.handle_key(ctrl('s')), ComposerOutcome::NeedsConfirm { new_messages: 2 });
}

#[test]
fn drafts_are_per_ticket_and_switching_tickets_keeps_both() {
    let dir = tempfile::tempdir().unwrap();
    let writer = DraftWriter::with_debounce(DraftStore::new(dir.path()), Duration::from_secs(60));
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let mut a = open(&writer, first, Mode::PublicReply, 0);
    type_text(&mut a, "for the first");
    a.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    let mut b = open(&writer, second, Mode::PublicReply, 0);
    type_text(&mut b, "for the second");
    // Even before the (long) debounce has written anything, reopening sees the pending text.
    assert_eq!(open(&writer, first, Mode::PublicReply, 0).text(), "for the first");
    writer.flush();
    assert!(!writer.has_pending());
    let store = writer.store();
    assert_eq!(store.load(first).unwrap().unwrap().body, "for the first");
    assert_eq!(store.load(second).unwrap().unwrap().body, "for the second");
}

#[test]
fn sending_clears_the_draft_and_a_failed_send_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = DraftStore::new(dir.path());
    let writer = DraftWriter::with_debounce(store.clone(), Duration::from_millis(10));
    let ticket = Uuid::now_v7();
    let mut composer = open(&writer, ticket, Mode::PublicReply, 0);
    type_text(&mut composer, "done");
    assert!(matches!(composer.handle_key(ctrl('s')), ComposerOutcome::Send { .. }));
    // Flushed when sent, so a crash during the request keeps it.
    assert!(store.load(ticket).unwrap().is_some());
    composer.send_failed("the server is unreachable");
    writer.flush();
    assert_eq!(store.load(ticket).unwrap().unwrap().body, "done");
    composer.handle_key(ctrl('s'));
    composer.sent();
    eventually("the draft removed", || store.load(ticket).unwrap().is_none());
    assert!(open(&writer, ticket, Mode::PublicReply, 0).is_empty());
}

#[test]
fn the_last_pending_write_lands_when_the_writer_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = DraftStore::new(dir.path());
    let ticket = Uuid::now_v7();
    let writer = DraftWriter::with_debounce(store.clone(), Duration::from_secs(3600));
    let mut composer = open(&writer, ticket, Mode::PublicReply, 0);
    type_text(&mut composer, "quitting now");
    drop(composer);
    drop(writer);
    assert_eq!(store.load(ticket).unwrap().unwrap().body, "quitting now");
}

#[test]
fn writes_are_atomic_files_named_by_ticket_and_leave_no_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let store = DraftStore::new(dir.path());
    let ticket = Uuid::now_v7();
    for i in 0..20 {
        store
            .save(&Draft { ticket_id: ticket, body: format!("version {i}"), internal: false, baseline_seq: 0, updated_at: chrono::Utc::now() })
            .unwrap();
    }
    let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, vec![format!("{ticket}.json")]);
    assert_eq!(store.load(ticket).unwrap().unwrap().body, "version 19");
    // An empty draft is no draft.
    store.save(&Draft { ticket_id: ticket, body: " ".into(), internal: false, baseline_seq: 0, updated_at: chrono::Utc::now() }).unwrap();
    assert!(store.load(ticket).unwrap().is_none());
    // A file someone else wrote is reported, not silently replaced.
    std::fs::write(dir.path().join(format!("{ticket}.json")), "not json").unwrap();
    assert!(store.load(ticket).is_err());
}
