//! Every main screen drawn on ratatui's TestBackend at 80x24 and 120x40, kept as insta
//! snapshots, plus checks of the styles that carry meaning (internal notes, a breached SLA).

mod support;

use hdms_api_types::notifications::Notification;
use hdms_api_types::Page;
use hdms_tui::call::{Answer, Call};
use hdms_tui::keys::Keymap;
use hdms_tui::{Event, State, update};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn draw(state: &mut State, width: u16, height: u16) -> Terminal<TestBackend> {
    update(state, Event::Resize { width, height });
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| hdms_tui::ui::draw(frame, state)).unwrap();
    terminal
}

/// Where `text` starts on screen.
fn find(buffer: &Buffer, text: &str) -> Option<(u16, u16)> {
    let area = buffer.area;
    for y in 0..area.height {
        let row: String = (0..area.width).map(|x| buffer[(x, y)].symbol().to_owned()).collect();
        if let Some(byte) = row.find(text) {
            let x = row[..byte].chars().count() as u16;
            return Some((x, y));
        }
    }
    None
}

fn snapshot(name: &str, state: &mut State) {
    for (width, height) in SIZES {
        let terminal = draw(state, width, height);
        insta::assert_snapshot!(format!("{name}_{width}x{height}"), terminal.backend());
    }
}

#[test]
fn login_screen() {
    let mut state = State::new("http://desk.example", Keymap::default(), now());
    press(&mut state, "dana@example.com<tab>secret");
    snapshot("login", &mut state);
    let terminal = draw(&mut state, 80, 24);
    assert!(find(terminal.backend().buffer(), "secret").is_none(), "the password is never echoed");
    assert!(find(terminal.backend().buffer(), "••••••").is_some());
}

#[test]
fn login_code_step() {
    let mut state = State::new("http://desk.example", Keymap::default(), now());
    let effects = press(&mut state, "dana@example.com<tab>secret<enter>");
    let (id, _) = calls(&effects)[0].clone();
    let answer = Answer::OtpRequired { challenge: "c".to_owned(), phone_hint: "+14•••••••71".to_owned(), expires_in: 300 };
    update(&mut state, Event::Answer { id, answer: Ok(answer) });
    snapshot("login_code", &mut state);
}

#[test]
fn queues_screen() {
    let mut state = signed_in(sample_tickets());
    press(&mut state, "j<space>");
    snapshot("queues", &mut state);
}

#[test]
fn a_breached_sla_is_spelled_out_and_marked_by_more_than_colour() {
    let mut state = signed_in(sample_tickets());
    for (width, height) in SIZES {
        let terminal = draw(&mut state, width, height);
        let buffer = terminal.backend().buffer();
        let (x, y) = find(buffer, "BREACHED").expect("the breached ticket says so");
        let style = buffer[(x, y)].style();
        assert_eq!(style.bg, Some(Color::Red));
        assert!(style.add_modifier.contains(Modifier::BOLD), "bold as well as red: {style:?}");
        let (x, y) = find(buffer, "3h05").expect("time left on a calm ticket");
        assert_eq!(buffer[(x, y)].style().fg, Some(Color::Green));
    }
}

#[test]
fn ticket_screen() {
    let mut state = signed_in(sample_tickets());
    open_ticket(&mut state, detail(sample_tickets()[0].clone()));
    snapshot("ticket", &mut state);
    press(&mut state, "i");
    press(&mut state, "Checked the gateway");
    snapshot("ticket_composing_note", &mut state);
}

#[test]
fn internal_notes_and_public_replies_differ_by_label_and_style() {
    let mut state = signed_in(sample_tickets());
    open_ticket(&mut state, detail(sample_tickets()[0].clone()));
    for (width, height) in SIZES {
        let terminal = draw(&mut state, width, height);
        let buffer = terminal.backend().buffer();
        let (_, note_y) = find(buffer, "INTERNAL NOTE").expect("internal notes are labelled");
        let (x, y) = find(buffer, "Looks like the tunnel").expect("the note's text");
        assert!(y > note_y);
        let note_style = buffer[(x, y)].style();
        assert!(note_style.add_modifier.contains(Modifier::ITALIC), "{note_style:?}");
        assert_eq!(note_style.fg, Some(Color::Yellow));
        assert_eq!(buffer[(x - 2, y)].symbol(), "┃", "a heavy bar beside internal text");
        find(buffer, "PUBLIC REPLY").expect("public replies are labelled");
        let (x, y) = find(buffer, "Thanks Rita").expect("the reply's text");
        let reply_style = buffer[(x, y)].style();
        assert!(!reply_style.add_modifier.contains(Modifier::ITALIC), "{reply_style:?}");
        assert_ne!(reply_style.fg, Some(Color::Yellow));
        assert_eq!(buffer[(x - 2, y)].symbol(), "│");
    }
}

#[test]
fn ticket_history_tab() {
    let mut state = signed_in(sample_tickets());
    open_ticket(&mut state, detail(sample_tickets()[0].clone()));
    let effects = press(&mut state, "<tab><tab>");
    let (id, _) = calls(&effects).into_iter().find(|(_, c)| matches!(c, Call::History(_))).unwrap();
    let entries = vec![hdms_api_types::tickets::HistoryEntry {
        id: support::id(700),
        actor_id: Some(support::id(1)),
        at: now(),
        field: "status".to_owned(),
        before: Some("new".to_owned()),
        after: Some("open".to_owned()),
    }];
    update(&mut state, Event::Answer { id, answer: Ok(Answer::History(entries)) });
    snapshot("ticket_history", &mut state);
}

#[test]
fn notifications_screen() {
    let mut state = signed_in(sample_tickets());
    let effects = press(&mut state, "N");
    let (id, _) = calls(&effects).into_iter().find(|(_, c)| *c == Call::Notifications).unwrap();
    let notification = |n: u128, title: &str, read: bool| Notification {
        id: support::id(800 + n),
        kind: "new_reply".to_owned(),
        ticket_id: Some(support::id(2042)),
        title: title.to_owned(),
        body: "Rita replied on HD-1042".to_owned(),
        created_at: now() - chrono::Duration::minutes(n as i64 * 7),
        read_at: read.then(now),
    };
    let page = Page { items: vec![notification(1, "New reply", false), notification(2, "Assigned to you", true)], next_cursor: None };
    update(&mut state, Event::Answer { id, answer: Ok(Answer::Notifications(page)) });
    snapshot("notifications", &mut state);
}

#[test]
fn help_overlay() {
    let mut state = signed_in(sample_tickets());
    press(&mut state, "?");
    snapshot("help_queues", &mut state);
}

#[test]
fn error_line_shows_the_servers_message() {
    let mut state = signed_in(sample_tickets());
    open_ticket(&mut state, detail(sample_tickets()[0].clone()));
    let effects = press(&mut state, "rnot yet<c-s>");
    let (id, _) = calls(&effects).into_iter().find(|(_, c)| matches!(c, Call::Comment { .. })).unwrap();
    let failure = hdms_tui::call::Failure {
        status: Some(422),
        code: Some("validation_failed".to_owned()),
        message: "Replies are closed on a merged ticket".to_owned(),
    };
    update(&mut state, Event::Answer { id, answer: Err(failure) });
    let terminal = draw(&mut state, 80, 24);
    let buffer = terminal.backend().buffer();
    assert!(find(buffer, "Replies are closed on a merged ticket").is_some());
    assert!(find(buffer, "not yet").is_some(), "the draft is still on screen");
}

#[test]
fn ticket_details_tab() {
    let mut state = signed_in(sample_tickets());
    let mut with_details = detail(sample_tickets()[0].clone());
    let mut child = ticket(1050, "Replace the office router", hdms_api_types::tickets::Status::InProgress, hdms_api_types::tickets::Priority::High, None);
    child.parent_id = Some(support::id(2042));
    with_details.subtickets.push(child);
    with_details.links.push(hdms_api_types::tickets::TicketLink {
        id: support::id(950),
        kind: hdms_api_types::tickets::LinkKind::DuplicateOf,
        from_ticket_id: support::id(2042),
        to_ticket_id: support::id(2010),
        other: hdms_api_types::tickets::LinkedTicket {
            id: support::id(2010),
            number: "HD-1010".to_owned(),
            subject: "VPN unstable".to_owned(),
            status: hdms_api_types::tickets::Status::Resolved,
        },
        created_by: support::id(1),
        created_at: now(),
    });
    with_details.attachments.push(hdms_api_types::files::Attachment {
        id: support::id(901),
        ticket_id: support::id(2042),
        file_name: "vpn.log".to_owned(),
        content_type: "text/plain".to_owned(),
        size: 20_480,
        sha256: String::new(),
        scan_state: hdms_api_types::files::ScanState::Clean,
        scan_signature: None,
        image: None,
        downloadable: true,
        uploaded_by: support::id(50),
        uploaded_by_user: None,
        created_at: now(),
        deleted_at: None,
    });
    open_ticket(&mut state, with_details);
    press(&mut state, "<tab>");
    snapshot("ticket_details", &mut state);
    // Enter on a sub-ticket opens it.
    let effects = press(&mut state, "<enter>");
    assert!(calls(&effects).iter().any(|(_, c)| *c == Call::TicketDetail(support::id(2050))));
}
