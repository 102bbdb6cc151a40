//! The composer driven by key sequences: editing, modes, sending, confirmation, pickers,
//! mentions, the external editor, and remapped keys. No terminal, no network.

use chrono::Utc;
use hdms_api_types::tickets::{CannedReply, Macro, TicketActions};
use hdms_tui::composer::{ComposerAction, ComposerKeys, ComposerOutcome, Composer, KeyChord, MentionCandidate, Mode};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use uuid::Uuid;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn alt(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::ALT)
}

fn type_text(composer: &mut Composer, text: &str) -> Vec<ComposerOutcome> {
    text.chars()
        .map(|c| composer.handle_key(if c == '\n' { key(KeyCode::Enter) } else { key(KeyCode::Char(c)) }))
        .collect()
}

fn composer(mode: Mode) -> Composer {
    Composer::new(Uuid::now_v7(), mode, 3, ComposerKeys::defaults())
}

fn canned(name: &str, body: &str) -> CannedReply {
    CannedReply { id: Uuid::now_v7(), name: name.into(), body: body.into(), shared: true, owner_id: None, created_at: Utc::now(), updated_at: None }
}

#[test]
fn typing_edits_and_ctrl_s_sends_the_trimmed_text_in_its_mode() {
    let mut c = composer(Mode::PublicReply);
    let outcomes = type_text(&mut c, "Hello\nthere ");
    assert!(outcomes.iter().all(|o| *o == ComposerOutcome::Edited), "{outcomes:?}");
    c.handle_key(key(KeyCode::Backspace));
    assert_eq!(c.text(), "Hello\nthere");
    assert_eq!(c.handle_key(ctrl('s')), ComposerOutcome::Send { body: "Hello\nthere".into(), internal: false });
    assert!(c.is_sending());
    // Keys wait while the send is in flight: nothing typed can be lost by the clear that follows.
    assert_eq!(c.handle_key(key(KeyCode::Char('x'))), ComposerOutcome::None);
    c.sent();
    assert!(c.is_empty());
    assert!(!c.is_sending());
}

#[test]
fn alt_enter_sends_too_and_plain_enter_is_a_new_line() {
    let mut c = composer(Mode::PublicReply);
    type_text(&mut c, "a");
    assert_eq!(c.handle_key(key(KeyCode::Enter)), ComposerOutcome::Edited);
    type_text(&mut c, "b");
    assert_eq!(c.handle_key(alt(KeyCode::Enter)), ComposerOutcome::Send { body: "a\nb".into(), internal: false });
}

#[test]
fn the_mode_toggles_and_a_public_reply_goes_out_only_in_public_mode() {
    let mut c = composer(Mode::InternalNote);
    type_text(&mut c, "for staff");
    assert_eq!(c.handle_key(ctrl('s')), ComposerOutcome::Send { body: "for staff".into(), internal: true });
    c.send_failed("503: try again");
    assert_eq!(c.notice(), Some("503: try again"));
    assert_eq!(c.text(), "for staff", "nothing typed is lost on an error");
    assert_eq!(c.handle_key(ctrl('t')), ComposerOutcome::None);
    assert_eq!(c.mode(), Mode::PublicReply);
    assert_eq!(c.handle_key(ctrl('s')), ComposerOutcome::Send { body: "for staff".into(), internal: false });
}

#[test]
fn an_empty_draft_is_not_sent() {
    let mut c = composer(Mode::PublicReply);
    type_text(&mut c, "  \n ");
    assert_eq!(c.handle_key(ctrl('s')), ComposerOutcome::None);
    assert_eq!(c.notice(), Some("Nothing to send yet"));
}

#[test]
fn esc_leaves_and_keeps_the_text() {
    let mut c = composer(Mode::PublicReply);
    type_text(&mut c, "half a thought");
    assert_eq!(c.handle_key(key(KeyCode::Esc)), ComposerOutcome::Cancelled);
    assert_eq!(c.text(), "half a thought");
}

#[test]
fn new_messages_since_the_draft_began_make_sending_ask() {
    let mut c = composer(Mode::PublicReply);
    // Messages before the draft begins do not count.
    c.message_arrived(4, false);
    type_text(&mut c, "Have you tried restarting?");
    c.message_arrived(5, false);
    c.message_arrived(6, false);
    assert_eq!(c.handle_key(ctrl('s')), ComposerOutcome::NeedsConfirm { new_messages: 2 });
    assert!(c.is_confirming());
    // Typing is not taken as an answer.
    assert_eq!(c.handle_key(key(KeyCode::Char('x'))), ComposerOutcome::None);
    // No: back to the draft; having been told, the next send does not ask again.
    assert_eq!(c.handle_key(key(KeyCode::Char('n'))), ComposerOutcome::None);
    assert!(!c.is_confirming());
    assert_eq!(c.text(), "Have you tried restarting?");
    assert!(matches!(c.handle_key(ctrl('s')), ComposerOutcome::Send { .. }));
    c.sent();
    // Yes sends.
    type_text(&mut c, "Again");
    c.message_arrived(7, false);
    assert!(matches!(c.handle_key(ctrl('s')), ComposerOutcome::NeedsConfirm { new_messages: 1 }));
    assert_eq!(c.handle_key(key(KeyCode::Char('y'))), ComposerOutcome::Send { body: "Again".into(), internal: false });
}

#[test]
fn the_users_own_messages_do_not_make_sending_ask() {
    let mut c = composer(Mode::PublicReply);
    type_text(&mut c, "next");
    c.message_arrived(4, true);
    assert!(matches!(c.handle_key(ctrl('s')), ComposerOutcome::Send { .. }));
}

#[test]
fn canned_replies_come_from_a_fuzzy_picker_opened_by_a_key_or_double_colon() {
    let mut c = composer(Mode::PublicReply);
    type_text(&mut c, "Hi! ");
    assert_eq!(c.handle_key(ctrl('g')), ComposerOutcome::LoadCannedReplies);
    assert!(c.is_picking());
    // Typing filters while the replies load; they fill the open picker when they come.
    type_text(&mut c, "pwd");
    c.set_canned_replies(&[canned("Refund policy", "We refund within 30 days."), canned("Password reset", "Use the reset link.")]);
    assert_eq!(c.handle_key(key(KeyCode::Enter)), ComposerOutcome::Edited);
    assert!(!c.is_picking());
    assert_eq!(c.text(), "Hi! Use the reset link.");

    // `::` at the start of a word opens it again, already loaded, and goes away itself.
    type_text(&mut c, " ::");
    assert!(c.is_picking());
    assert_eq!(c.text(), "Hi! Use the reset link. ");
    type_text(&mut c, "refund");
    c.handle_key(key(KeyCode::Enter));
    assert_eq!(c.text(), "Hi! Use the reset link. We refund within 30 days.");

    // Inside a word (`std::fs`) it is just text; Esc closes a picker without inserting.
    type_text(&mut c, " std::fs");
    assert!(!c.is_picking());
    c.handle_key(ctrl('g'));
    c.handle_key(key(KeyCode::Esc));
    assert!(!c.is_picking());
    assert!(c.text().ends_with("std::fs"));
}

#[test]
fn macros_are_applied_from_a_menu_by_the_caller() {
    let mut c = composer(Mode::PublicReply);
    assert_eq!(c.handle_key(alt(KeyCode::Char('m'))), ComposerOutcome::LoadMacros);
    let escalate = Macro {
        id: Uuid::now_v7(),
        name: "Escalate to tier 2".into(),
        actions: TicketActions::default(),
        shared: true,
        owner_id: None,
        created_at: Utc::now(),
        updated_at: None,
    };
    let close = Macro { id: Uuid::now_v7(), name: "Close as duplicate".into(), ..escalate.clone() };
    c.set_macros(&[escalate.clone(), close.clone()]);
    type_text(&mut c, "dup");
    assert_eq!(c.handle_key(key(KeyCode::Enter)), ComposerOutcome::ApplyMacro(close.id));
    // The second time the list is there already, and arrows choose.
    assert_eq!(c.handle_key(alt(KeyCode::Char('m'))), ComposerOutcome::None);
    c.handle_key(key(KeyCode::Down));
    c.handle_key(key(KeyCode::Up));
    assert_eq!(c.handle_key(key(KeyCode::Enter)), ComposerOutcome::ApplyMacro(escalate.id));
}

#[test]
fn at_completes_mentions_from_the_callers_candidates() {
    let mut c = composer(Mode::InternalNote);
    c.set_mention_candidates(vec![
        MentionCandidate { name: "Dana Scully".into(), email: "dana@example.com".into() },
        MentionCandidate { name: "Fox Mulder".into(), email: "fox@example.com".into() },
    ]);
    type_text(&mut c, "ping @mul");
    assert!(c.is_completing_mention());
    assert_eq!(c.handle_key(key(KeyCode::Tab)), ComposerOutcome::Edited);
    assert!(!c.is_completing_mention());
    assert_eq!(c.text(), "ping @fox@example.com ");
    // Esc closes the list without leaving the composer.
    type_text(&mut c, "and @da");
    assert_eq!(c.handle_key(key(KeyCode::Esc)), ComposerOutcome::None);
    assert!(!c.is_completing_mention());
    assert_eq!(c.text(), "ping @fox@example.com and @da");
    // A space ends the word, and with it the list; an `@` inside a word is no mention.
    type_text(&mut c, " mail@");
    assert!(!c.is_completing_mention());
}

#[test]
fn ctrl_e_asks_for_the_editor_and_takes_its_text_back() {
    let mut c = composer(Mode::PublicReply);
    type_text(&mut c, "draft");
    assert_eq!(c.handle_key(ctrl('e')), ComposerOutcome::OpenEditor);
    assert_eq!(c.text(), "draft");
    assert_eq!(c.handle_key(key(KeyCode::Char('x'))), ComposerOutcome::None, "the editor owns the text meanwhile");
    c.finish_editor(Ok("edited\nat length".into()));
    assert_eq!(c.text(), "edited\nat length");
    c.handle_key(ctrl('e'));
    c.finish_editor(Err(std::io::Error::other("no editor")));
    assert_eq!(c.text(), "edited\nat length");
    assert!(c.notice().unwrap().contains("no editor"));
}

#[test]
fn keys_are_remappable_and_the_defaults_are_listed() {
    let keys = ComposerKeys::with_overrides([
        (ComposerAction::Send, vec!["ctrl-x".parse::<KeyChord>().unwrap()]),
        (ComposerAction::OpenEditor, vec![]),
    ]);
    let mut c = Composer::new(Uuid::now_v7(), Mode::PublicReply, 0, keys);
    type_text(&mut c, "hi");
    assert_eq!(c.handle_key(ctrl('s')), ComposerOutcome::None, "Ctrl-s no longer sends");
    assert_eq!(c.handle_key(ctrl('e')), ComposerOutcome::None, "Ctrl-e is unbound (the text area's end of line again)");
    assert_eq!(c.handle_key(ctrl('x')), ComposerOutcome::Send { body: "hi".into(), internal: false });
    let footer: Vec<String> = Composer::new(Uuid::now_v7(), Mode::PublicReply, 0, ComposerKeys::defaults())
        .commands()
        .into_iter()
        .map(|command| format!("{} {}", command.keys, command.label))
        .collect();
    assert_eq!(footer, vec!["Ctrl-s send", "Ctrl-t note/reply", "Ctrl-g canned", "Ctrl-e editor", "Esc leave"]);
    assert_eq!(ComposerKeys::defaults().describe(ComposerAction::Send), "Ctrl-s/Alt-Enter");
    let help = ComposerKeys::defaults().help();
    assert!(help.iter().any(|line| line.keys == "Ctrl-e" && line.description.contains("EDITOR")));
}

#[test]
fn chords_parse_display_and_round_trip_through_toml_style_strings() {
    for (text, shown) in [("ctrl-s", "Ctrl-s"), ("Alt+Enter", "Alt-Enter"), ("esc", "Esc"), ("ctrl--", "Ctrl--"), ("shift-tab", "Shift-Tab"), ("f2", "F2"), ("G", "G"), ("space", "Space")] {
        let chord: KeyChord = text.parse().unwrap_or_else(|err| panic!("{text}: {err}"));
        assert_eq!(chord.to_string(), shown);
        assert_eq!(chord.to_string().parse::<KeyChord>().unwrap(), chord);
    }
    for bad in ["", "ctrl-", "hyper-x", "shift-g", "f99", "return"] {
        let err = bad.parse::<KeyChord>().unwrap_err();
        assert!(err.to_string().contains("is not a key"), "{err}");
    }
    let keys: ComposerKeys = serde_json::from_str(r#"{"send":["ctrl-x"],"leave":["esc","ctrl-c"]}"#).unwrap();
    assert!(keys.action_for(&ctrl('c')) == Some(ComposerAction::Leave));
    // Some terminals report Ctrl-letters with Shift or in upper case.
    assert!(KeyChord::ctrl('s').matches(&KeyEvent::new(KeyCode::Char('S'), KeyModifiers::CONTROL | KeyModifiers::SHIFT)));
}

#[test]
fn actions_from_the_callers_key_table_and_pasted_text() {
    let mut c = composer(Mode::PublicReply);
    assert_eq!(c.paste("pasted\ntext"), ComposerOutcome::Edited);
    assert_eq!(c.perform(ComposerAction::ToggleMode), ComposerOutcome::None);
    assert_eq!(c.mode(), Mode::InternalNote);
    assert_eq!(c.perform(ComposerAction::Send), ComposerOutcome::Send { body: "pasted\ntext".into(), internal: true });
    // Nothing happens while the send is in flight.
    assert_eq!(c.perform(ComposerAction::ToggleMode), ComposerOutcome::None);
    assert_eq!(c.mode(), Mode::InternalNote);
    // With no bindings of its own, keys only edit the text.
    let mut bare = Composer::new(Uuid::now_v7(), Mode::PublicReply, 0, ComposerKeys::none());
    type_text(&mut bare, "x");
    assert_eq!(bare.handle_key(ctrl('s')), ComposerOutcome::None);
    assert_eq!(bare.handle_key(key(KeyCode::Esc)), ComposerOutcome::None);
    assert_eq!(bare.text(), "x");
    // A paste into an open picker goes to its query.
    c.sent();
    c.perform(ComposerAction::CannedReply);
    c.paste("refund");
    assert!(c.is_picking());
    assert!(c.is_empty());
}
