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
        rule_id: None,
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

/// Rita's own tickets, as the server would list them to her.
fn customers_tickets() -> Vec<hdms_api_types::tickets::Ticket> {
    let mut tickets = sample_tickets();
    tickets[1].assignee = None;
    tickets[1].assignee_id = None;
    tickets
}

/// Everything staff-only a customer's screen must never show.
const STAFF_ONLY_TEXT: [&str; 9] = ["INTERNAL", "tunnel MTU", "SLA", "BREACHED", "Tags", "Watchers", "Approvals", "Team ", "Requester Rita"];

fn assert_nothing_staff_only(buffer: &Buffer) {
    for text in STAFF_ONLY_TEXT {
        assert!(find(buffer, text).is_none(), "a customer's screen shows {text:?}:\n{buffer:?}");
    }
}

#[test]
fn customer_queues_screen() {
    let mut state = signed_in_as(customer(), customers_tickets());
    snapshot("customer_queues", &mut state);
    for (width, height) in SIZES {
        let terminal = draw(&mut state, width, height);
        let buffer = terminal.backend().buffer();
        assert_nothing_staff_only(buffer);
        assert!(find(buffer, "new ticket").is_some(), "raising a ticket is in the footer");
        assert!(find(buffer, "bulk").is_none() && find(buffer, "claim").is_none(), "no staff keys in the footer");
    }
    press(&mut state, "?");
    let terminal = draw(&mut state, 120, 40);
    let buffer = terminal.backend().buffer();
    assert!(find(buffer, "Raise a new ticket").is_some());
    for staff_help in ["Filter", "bulk action", "Claim the next"] {
        assert!(find(buffer, staff_help).is_none(), "a customer's help lists {staff_help:?}");
    }
}

#[test]
fn customer_ticket_screen_never_shows_internal_notes_or_staff_fields() {
    let mut state = signed_in_as(customer(), customers_tickets());
    // Even if an internal note reached the client (the server filters them), none is drawn.
    open_ticket(&mut state, detail(customers_tickets()[0].clone()));
    let ticket = customers_tickets()[0].clone();
    let note = comment(20, &ticket, 1, "Internal: customer is on the old firmware", true, 4);
    update(&mut state, Event::Live(hdms_tui::realtime::LiveEvent::Message { ticket: ticket.id, seq: 4, comment: Box::new(note) }));
    update(&mut state, Event::Live(hdms_tui::realtime::LiveEvent::People(vec![person(1, "Dana Agent")])));
    update(
        &mut state,
        Event::Live(hdms_tui::realtime::LiveEvent::Presence { ticket: ticket.id, viewing: vec![support::id(1)], typing: vec![support::id(1)] }),
    );
    snapshot("customer_ticket", &mut state);
    for (width, height) in SIZES {
        let terminal = draw(&mut state, width, height);
        let buffer = terminal.backend().buffer();
        assert_nothing_staff_only(buffer);
        assert!(find(buffer, "old firmware").is_none(), "the live internal note is not drawn");
        assert!(find(buffer, "Thanks Rita").is_some(), "public replies are");
        assert!(find(buffer, "Dana Agent is typing").is_some(), "the agent's typing shows, by name");
        assert!(find(buffer, "Conversation (2)").is_some(), "internal notes are not counted either");
    }
    // The history tab says nothing internal either (the server filters it; the client adds nothing).
    press(&mut state, "r");
    snapshot("customer_composing", &mut state);
    let terminal = draw(&mut state, 80, 24);
    assert!(find(terminal.backend().buffer(), "YOUR REPLY").is_some());
    assert_nothing_staff_only(terminal.backend().buffer());
}

#[test]
fn customer_raises_a_ticket_with_a_file_and_sees_the_upload_progress() {
    let mut state = signed_in_as(customer(), customers_tickets());
    press(&mut state, "c");
    press(&mut state, "Laptop will not charge<tab>Since this morning<tab>");
    snapshot("customer_new_ticket", &mut state);
    let effects = press(&mut state, "<bs><bs><bs><bs><bs><bs>high<tab>~/photo.jpg<enter>");
    let (id, _) = calls(&effects).into_iter().find(|(_, c)| matches!(c, Call::CreateTicket { .. })).unwrap();
    update(&mut state, Event::Progress { id, label: "photo.jpg".to_owned(), sent: 3 << 20, total: 8 << 20 });
    let terminal = draw(&mut state, 80, 24);
    assert!(find(terminal.backend().buffer(), "Uploading photo.jpg 3.0 MiB of 8.0 MiB").is_some(), "{:?}", terminal.backend().buffer());
}

fn team_metrics(team: u128, open: u64, breached: u64, agents: &[(u128, &str, u64, u64, u64)]) -> hdms_api_types::metrics::TeamMetrics {
    use hdms_api_types::metrics::{AgentLoad, Backlog, TeamMetrics, Throughput};
    TeamMetrics {
        team_id: support::id(team),
        generated_at: now(),
        backlog: Backlog { total: open, open, breached, ..Default::default() },
        window: Throughput {
            days: 7,
            since: now() - chrono::Duration::days(7),
            created: 40,
            resolved: 36,
            median_first_response_secs: Some(3900),
            median_resolution_secs: Some(2 * 86_400 + 3 * 3600),
            sla_met_share: Some(0.92),
            rated_good: 12,
            rated_bad: 1,
        },
        agents: agents
            .iter()
            .map(|(id, name, assigned, breached, resolved)| AgentLoad {
                user_id: support::id(*id),
                name: name.to_string(),
                assigned: *assigned,
                breached: *breached,
                resolved_in_window: *resolved,
            })
            .collect(),
    }
}

/// A supervisor on the dashboard, with two teams' numbers over a week.
fn dashboard_state() -> (State, hdms_tui::call::RequestId) {
    use hdms_api_types::metrics::{ReportBucket, VolumeBucket, VolumeFigures, VolumeReport};
    use hdms_api_types::tickets::TeamSummary;
    let supervisor = hdms_api_types::users::User { id: support::id(9), role: hdms_api_types::Role::Supervisor, name: "Sam Supervisor".into(), ..agent() };
    let mut state = signed_in_as(supervisor, sample_tickets());
    let effects = press(&mut state, "D");
    let (id, call) = calls(&effects).into_iter().find(|(_, c)| matches!(c, Call::Dashboard { .. })).expect("D opens the dashboard");
    assert!(matches!(call, Call::Dashboard { days: 7, team: None, .. }));
    let day = |n: i64, created: i64, resolved: i64| VolumeBucket {
        start: now() - chrono::Duration::days(6 - n),
        end: now() - chrono::Duration::days(5 - n),
        figures: VolumeFigures { created, resolved, reopened: 0 },
    };
    let data = hdms_tui::screens::dashboard::DashboardData {
        teams: vec![
            (
                TeamSummary { id: support::id(70), name: "Support".into() },
                team_metrics(70, 42, 3, &[(1, "Dana Agent", 12, 2, 9), (2, "Lee Agent", 8, 0, 14)]),
            ),
            (TeamSummary { id: support::id(71), name: "Network".into() }, team_metrics(71, 17, 1, &[(3, "Kim Agent", 6, 1, 7)])),
        ],
        volume: Some(VolumeReport {
            team_id: None,
            from: (now() - chrono::Duration::days(6)).date_naive(),
            to: now().date_naive(),
            bucket: ReportBucket::Day,
            time_zone: "UTC".into(),
            generated_at: now(),
            buckets: vec![day(0, 5, 3), day(1, 9, 6), day(2, 4, 7), day(3, 12, 8), day(4, 7, 9), day(5, 3, 2), day(6, 6, 5)],
        }),
        times: Some(hdms_api_types::metrics::TimesFigures {
            first_responses: 46,
            first_response_median_secs: Some(3900),
            first_response_p90_secs: Some(5 * 3600),
            resolutions: 40,
            resolution_median_secs: Some(2 * 86_400 + 3 * 3600),
            resolution_p90_secs: Some(6 * 86_400),
        }),
    };
    update(&mut state, Event::Answer { id, answer: Ok(Answer::Dashboard(Box::new(data))) });
    (state, id)
}

#[test]
fn dashboard_screen() {
    let (mut state, _) = dashboard_state();
    snapshot("dashboard", &mut state);
    let terminal = draw(&mut state, 80, 24);
    let buffer = terminal.backend().buffer();
    for text in ["Open 59", "SLA met 92%", "1st response 1h05 p90 5h00", "Resolution 2d03h p90 6d00h", "24 good 2 bad", "Created ⣿ vs resolved", "Support", "Dana Agent"] {
        assert!(find(buffer, text).is_some(), "{text:?} at 80x24:\n{buffer:?}");
    }
}

#[test]
fn dashboard_keys_change_the_window_and_team_and_open_queues() {
    let (mut state, _) = dashboard_state();
    let effects = press(&mut state, "]");
    assert!(calls(&effects).iter().any(|(_, c)| matches!(c, Call::Dashboard { days: 30, .. })), "{effects:?}");
    let effects = press(&mut state, "[[");
    assert!(calls(&effects).iter().any(|(_, c)| matches!(c, Call::Dashboard { days: 1, .. })), "{effects:?}");
    // An answer for a window since left is dropped (a newer one is on its way).
    assert_eq!(state.dashboard.days, 1);
    // It refreshes by itself.
    let later = update(&mut state, Event::Tick(now() + chrono::Duration::seconds(31)));
    assert!(calls(&later).is_empty(), "not while a request is on its way");
    // Enter on an agent: their open tickets, as a queue tab.
    let (mut state, _) = dashboard_state();
    let effects = press(&mut state, "jj<enter>");
    assert_eq!(state.view, hdms_tui::app::View::Queues);
    let tab = state.queues.active_tab();
    assert_eq!(tab.title, "Dana Agent");
    let (_, load) = calls(&effects).into_iter().find(|(_, c)| matches!(c, Call::Tickets(_))).unwrap();
    let Call::Tickets(query) = load else { unreachable!() };
    assert_eq!(query.assignee, Some(support::id(1).to_string()));
    assert!(query.status.is_some(), "open tickets");
    // The dashboard is not an agent's.
    let mut agent_state = signed_in(sample_tickets());
    assert!(calls(&press(&mut agent_state, "D")).is_empty());
    assert_eq!(agent_state.view, hdms_tui::app::View::Queues);
}
