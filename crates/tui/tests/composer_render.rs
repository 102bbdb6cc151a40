//! The composer drawn on ratatui's TestBackend: snapshots of each state, and the styles that
//! carry meaning (an internal note must look unmistakably different from a public reply).

use chrono::Utc;
use hdms_api_types::tickets::CannedReply;
use hdms_tui::composer::{Composer, ComposerKeys, MentionCandidate, Mode};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use uuid::Uuid;

fn type_text(composer: &mut Composer, text: &str) {
    for c in text.chars() {
        let key = if c == '\n' { KeyCode::Enter } else { KeyCode::Char(c) };
        composer.handle_key(KeyEvent::new(key, KeyModifiers::NONE));
    }
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn draw(composer: &Composer, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| composer.render(frame, frame.area())).unwrap();
    terminal
}

fn composer(mode: Mode) -> Composer {
    let mut composer = Composer::new(Uuid::nil(), mode, 0, ComposerKeys::defaults());
    type_text(&mut composer, "Hello Dana,\nthe export is fixed in 2.4.1; could you try again?");
    composer
}

#[test]
fn public_reply() {
    insta::assert_snapshot!(draw(&composer(Mode::PublicReply), 80, 10).backend());
}

#[test]
fn internal_note() {
    insta::assert_snapshot!(draw(&composer(Mode::InternalNote), 80, 10).backend());
}

#[test]
fn empty_with_a_placeholder_at_full_size() {
    let composer = Composer::new(Uuid::nil(), Mode::PublicReply, 0, ComposerKeys::defaults());
    insta::assert_snapshot!(draw(&composer, 80, 24).backend());
}

#[test]
fn asking_before_sending_over_new_messages() {
    let mut composer = composer(Mode::PublicReply);
    composer.message_arrived(3, false);
    composer.handle_key(ctrl('s'));
    insta::assert_snapshot!(draw(&composer, 80, 10).backend());
}

#[test]
fn a_send_error_is_shown_under_the_kept_text() {
    let mut composer = composer(Mode::PublicReply);
    composer.handle_key(ctrl('s'));
    composer.send_failed("409 version_conflict: the ticket changed; reload it");
    insta::assert_snapshot!(draw(&composer, 80, 10).backend());
}

#[test]
fn the_canned_reply_picker() {
    let mut composer = composer(Mode::PublicReply);
    let reply = |name: &str, body: &str| CannedReply {
        id: Uuid::nil(),
        name: name.into(),
        body: body.into(),
        shared: true,
        owner_id: None,
        created_at: Utc::now(),
        updated_at: None,
    };
    composer.set_canned_replies(&[
        reply("Refund policy", "We refund within 30 days of purchase."),
        reply("Password reset", "Use the link on the sign-in page."),
        reply("Thanks for waiting", "Thank you for your patience."),
    ]);
    composer.handle_key(ctrl('g'));
    type_text(&mut composer, "re");
    insta::assert_snapshot!(draw(&composer, 80, 24).backend());
}

#[test]
fn the_mention_list() {
    let mut composer = composer(Mode::InternalNote);
    composer.set_mention_candidates(vec![
        MentionCandidate { name: "Dana Scully".into(), email: "dana@example.com".into() },
        MentionCandidate { name: "Walter Skinner".into(), email: "walter@example.com".into() },
    ]);
    type_text(&mut composer, "\ncc @d");
    insta::assert_snapshot!(draw(&composer, 80, 12).backend());
}

#[test]
fn internal_notes_differ_in_label_border_and_colour_not_colour_alone() {
    let public = draw(&composer(Mode::PublicReply), 80, 10);
    let internal = draw(&composer(Mode::InternalNote), 80, 10);
    let (public, internal) = (public.backend().buffer(), internal.backend().buffer());
    // The border's shape differs…
    assert_eq!(public[(0, 0)].symbol(), "╭");
    assert_eq!(internal[(0, 0)].symbol(), "┏");
    // …so does the label…
    let title = |buffer: &ratatui::buffer::Buffer| (0..80).map(|x| buffer[(x, 0)].symbol().to_owned()).collect::<String>();
    assert!(title(public).contains("PUBLIC REPLY"), "{}", title(public));
    assert!(title(internal).contains("INTERNAL NOTE · staff only"), "{}", title(internal));
    // …and the colour and weight.
    assert_eq!(public[(0, 0)].fg, Color::Cyan);
    assert_eq!(internal[(0, 0)].fg, Color::Yellow);
    assert!(internal[(0, 0)].modifier.contains(Modifier::BOLD));
    // The label is drawn reversed, so it stands out on any palette, monochrome too.
    assert!(internal[(2, 0)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn a_tiny_area_does_not_panic() {
    let mut composer = composer(Mode::PublicReply);
    composer.handle_key(ctrl('g'));
    for (width, height) in [(1, 1), (10, 2), (20, 3), (80, 4)] {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| composer.render(frame, Rect::new(0, 0, width, height))).unwrap();
    }
}
