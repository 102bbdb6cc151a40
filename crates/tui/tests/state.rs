//! Key sequences into `update`, asserting the state and the effects: no terminal, no network.

mod support;

use hdms_api_types::Page;
use hdms_api_types::tickets::{BulkItemResult, BulkResult, Priority, Status};
use hdms_tui::app::View;
use hdms_tui::call::{Answer, Call, Failure};
use hdms_tui::keys::Keymap;
use hdms_tui::overlay::Overlay;
use hdms_tui::realtime::{LiveCommand, LiveEvent};
use hdms_tui::{Effect, Event, State, update};
use support::*;

#[test]
fn login_with_an_sms_code_then_the_queues_load_and_the_feed_starts() {
    let mut state = State::new("http://desk.example", Keymap::default(), now());
    assert_eq!(state.view, View::Login);
    press(&mut state, "dana@example.com<tab>");
    let effects = press(&mut state, "s3cret<enter>");
    let calls = calls(&effects);
    assert_eq!(calls.len(), 1);
    let (login, call) = calls[0].clone();
    assert_eq!(call, Call::Login { email: "dana@example.com".to_owned(), password: "s3cret".to_owned() });
    // Keys while the login is in flight change nothing.
    assert!(press(&mut state, "x<enter>").is_empty());
    assert_eq!(state.login.password.text(), "s3cret");

    let answer = Answer::OtpRequired { challenge: "ch-1".to_owned(), phone_hint: "+1•••71".to_owned(), expires_in: 300 };
    update(&mut state, Event::Answer { id: login, answer: Ok(answer) });
    let effects = press(&mut state, "123456<enter>");
    let (otp, call) = support::calls(&effects)[0].clone();
    assert_eq!(call, Call::LoginOtp { challenge: "ch-1".to_owned(), code: "123456".to_owned() });

    let answer = Answer::LoggedIn { user: agent(), saved_in: "the OS keyring".to_owned() };
    let effects = update(&mut state, Event::Answer { id: otp, answer: Ok(answer) });
    assert_eq!(state.view, View::Queues);
    assert!(effects.contains(&Effect::StartLive));
    assert!(effects.contains(&Effect::Live(LiveCommand::FollowQueues)));
    let queue_loads = support::calls(&effects).into_iter().filter(|(_, c)| matches!(c, Call::Tickets(_))).count();
    assert_eq!(queue_loads, 4, "My open, Unassigned, Breaching, All");
    assert!(support::calls(&effects).iter().any(|(_, c)| *c == Call::ApprovalQueue));
}

#[test]
fn a_wrong_password_keeps_what_was_typed_and_says_why() {
    let mut state = State::new("http://desk.example", Keymap::default(), now());
    let effects = press(&mut state, "dana@example.com<tab>wrong<enter>");
    let (login, _) = calls(&effects)[0].clone();
    let failure = Failure { status: Some(401), code: Some("invalid_credentials".to_owned()), message: "Wrong email or password".to_owned() };
    update(&mut state, Event::Answer { id: login, answer: Err(failure) });
    assert_eq!(state.view, View::Login);
    assert_eq!(state.login.email.text(), "dana@example.com");
    assert!(state.login.error.as_deref().unwrap().contains("Wrong email or password"));
}

#[test]
fn moving_opening_and_going_back() {
    let mut state = signed_in(sample_tickets());
    press(&mut state, "jj");
    assert_eq!(state.queues.active_tab().selected, 2);
    press(&mut state, "k");
    assert_eq!(state.queues.active_tab().selected, 1);
    press(&mut state, "G");
    assert_eq!(state.queues.active_tab().selected, 3);
    press(&mut state, "g");
    assert_eq!(state.queues.active_tab().selected, 0);
    let effects = press(&mut state, "<enter>");
    assert_eq!(state.view, View::Ticket);
    assert!(calls(&effects).iter().any(|(_, c)| *c == Call::TicketDetail(id(2042))));
    let effects = press(&mut state, "q");
    assert_eq!(state.view, View::Queues, "q goes back from a ticket");
    assert!(effects.contains(&Effect::Live(LiveCommand::Unwatch { ticket: id(2042) })));
    let effects = press(&mut state, "q");
    assert!(state.quit && effects.contains(&Effect::Quit), "q on the queues quits");
}

#[test]
fn a_late_answer_for_a_ticket_already_left_is_dropped() {
    let mut state = signed_in(sample_tickets());
    let first = calls(&press(&mut state, "<enter>"))[0].0;
    press(&mut state, "<esc>j");
    let second = calls(&press(&mut state, "<enter>"))[0].0;
    let stale = detail(sample_tickets()[0].clone());
    update(&mut state, Event::Answer { id: first, answer: Ok(Answer::Detail(Box::new(stale))) });
    assert!(state.ticket.as_ref().unwrap().detail.is_none(), "the first ticket's answer must not fill the second's screen");
    let fresh = detail(sample_tickets()[1].clone());
    update(&mut state, Event::Answer { id: second, answer: Ok(Answer::Detail(Box::new(fresh))) });
    assert_eq!(state.ticket.as_ref().unwrap().ticket().unwrap().number, "HD-1043");
}

#[test]
fn scrolling_near_the_end_asks_for_the_next_page_once() {
    let mut state = signed_in(Vec::new());
    // Reload My open with a first page of 50 and a cursor.
    let effects = press(&mut state, "r");
    let (load, _) = calls(&effects).into_iter().find(|(_, c)| matches!(c, Call::Tickets(_))).unwrap();
    let page: Vec<_> = (0..50).map(|n| ticket(n, &format!("Ticket {n}"), Status::Open, Priority::Normal, None)).collect();
    update(&mut state, Event::Answer { id: load, answer: Ok(Answer::Tickets(Page { items: page, next_cursor: Some("c50".to_owned()) })) });
    assert_eq!(state.queues.active_tab().count(), "50+");
    let mut next_pages = Vec::new();
    for _ in 0..40 {
        for (id, call) in calls(&press(&mut state, "j")) {
            if let Call::Tickets(query) = call {
                next_pages.push((id, query));
            }
        }
    }
    assert_eq!(next_pages.len(), 1, "one request for the next page: {next_pages:?}");
    assert_eq!(next_pages[0].1.cursor.as_deref(), Some("c50"));
    assert_eq!(next_pages[0].1.limit, Some(50), "never the whole queue");
    let more: Vec<_> = (50..60).map(|n| ticket(n, "more", Status::Open, Priority::Normal, None)).collect();
    update(&mut state, Event::Answer { id: next_pages[0].0, answer: Ok(Answer::Tickets(Page { items: more, next_cursor: None })) });
    assert_eq!(state.queues.active_tab().count(), "60");
}

#[test]
fn each_tab_shows_the_servers_count_and_live_changes_recount_once() {
    let mut state = signed_in(Vec::new());
    // Reload My open: its first page has 50 of a queue the server counts at 1,234.
    let effects = press(&mut state, "r");
    let calls_made = calls(&effects);
    let (load, _) = calls_made.iter().find(|(_, c)| matches!(c, Call::Tickets(_))).unwrap().clone();
    let (count, query) = calls_made.iter().find(|(_, c)| matches!(c, Call::CountTickets(_))).unwrap().clone();
    let Call::CountTickets(query) = query else { unreachable!() };
    assert_eq!(query.assignee.as_deref(), Some("me"), "the count asks with the tab's own query");
    let page: Vec<_> = (0..50).map(|n| ticket(n, "t", Status::Open, Priority::Normal, None)).collect();
    update(&mut state, Event::Answer { id: load, answer: Ok(Answer::Tickets(Page { items: page, next_cursor: Some("c".into()) })) });
    assert_eq!(state.queues.active_tab().count(), "50+", "the loaded rows until the count comes");
    update(&mut state, Event::Answer { id: count, answer: Ok(Answer::Count(1234)) });
    assert_eq!(state.queues.active_tab().count(), "1234");

    // A search narrows the tab: the count for the old query, arriving late, is dropped.
    let stale = calls(&press(&mut state, "r")).into_iter().find(|(_, c)| matches!(c, Call::CountTickets(_))).unwrap().0;
    let effects = press(&mut state, "/vpn<enter>");
    let (searched, _) = calls(&effects).into_iter().find(|(_, c)| matches!(c, Call::Tickets(_))).unwrap();
    update(&mut state, Event::Answer { id: searched, answer: Ok(Answer::Tickets(Page { items: Vec::new(), next_cursor: None })) });
    let (fresh, call) = calls(&effects).into_iter().find(|(_, c)| matches!(c, Call::CountTickets(_))).unwrap();
    assert!(matches!(call, Call::CountTickets(q) if q.q.as_deref() == Some("vpn")));
    update(&mut state, Event::Answer { id: stale, answer: Ok(Answer::Count(1234)) });
    assert_eq!(state.queues.active_tab().total, None);
    update(&mut state, Event::Answer { id: fresh, answer: Ok(Answer::Count(3)) });
    assert_eq!(state.queues.active_tab().total, Some(3));

    // A burst of live changes: nothing asked at once, one count per counted tab a second later.
    for n in 0..20 {
        let changed = ticket(3000 + n, "burst", Status::New, Priority::High, None);
        let effects = update(&mut state, Event::Live(LiveEvent::TicketChanged { ticket: Box::new(changed), reason: "created".into() }));
        assert!(calls(&effects).is_empty(), "no request per event");
    }
    let early = update(&mut state, Event::Tick(now() + chrono::Duration::milliseconds(500)));
    assert!(calls(&early).is_empty(), "not before the debounce");
    let due = update(&mut state, Event::Tick(now() + chrono::Duration::milliseconds(1000)));
    let counts = calls(&due).into_iter().filter(|(_, c)| matches!(c, Call::CountTickets(_))).count();
    assert_eq!(counts, 4, "My open, Unassigned, Breaching, All (approvals come whole)");
    assert!(calls(&update(&mut state, Event::Tick(now() + chrono::Duration::seconds(3)))).is_empty(), "once");
    update(&mut state, Event::Live(LiveEvent::TicketHidden { ticket: id(4000) }));
    let due = update(&mut state, Event::Tick(now() + chrono::Duration::seconds(5)));
    assert_eq!(calls(&due).iter().filter(|(_, c)| matches!(c, Call::CountTickets(_))).count(), 4);
}

#[test]
fn presence_marks_any_queue_row_and_names_people_without_lookups() {
    let mut state = signed_in(sample_tickets());
    let row = sample_tickets()[2].id;
    // Presence on a ticket whose room is not open (the queue feed's), named just before.
    let effects = update(&mut state, Event::Live(LiveEvent::People(vec![person(77, "Sam Other")])));
    assert!(effects.is_empty());
    let effects = update(&mut state, Event::Live(LiveEvent::Presence { ticket: row, viewing: vec![id(77)], typing: vec![] }));
    assert!(calls(&effects).is_empty(), "the name came with the presence: no lookup");
    assert!(state.queues.viewing.contains(&row));
    assert_eq!(state.shared.name(id(77)), "Sam Other");
    // Only the agent: nobody else.
    update(&mut state, Event::Live(LiveEvent::Presence { ticket: row, viewing: vec![id(1)], typing: vec![] }));
    assert!(!state.queues.viewing.contains(&row));

    // A rename reaches the screen with the next presence.
    update(&mut state, Event::Live(LiveEvent::People(vec![person(77, "Samantha Other")])));
    assert_eq!(state.shared.name(id(77)), "Samantha Other");

    // An id presence does not name is looked up once, and again only after a while.
    let effects = update(&mut state, Event::Live(LiveEvent::Presence { ticket: row, viewing: vec![id(78)], typing: vec![] }));
    let (lookup, call) = calls(&effects)[0].clone();
    assert_eq!(call, Call::User(id(78)));
    let mut found = agent();
    found.id = id(78);
    found.name = "Lee Looked-up".to_owned();
    update(&mut state, Event::Answer { id: lookup, answer: Ok(Answer::User(found)) });
    let again = update(&mut state, Event::Live(LiveEvent::Presence { ticket: row, viewing: vec![id(78)], typing: vec![] }));
    assert!(calls(&again).is_empty(), "cached");
    update(&mut state, Event::Tick(now() + chrono::Duration::minutes(20)));
    let later = update(&mut state, Event::Live(LiveEvent::Presence { ticket: row, viewing: vec![id(78)], typing: vec![] }));
    assert_eq!(calls(&later).into_iter().map(|(_, c)| c).collect::<Vec<_>>(), vec![Call::User(id(78))], "asked again: renames do not stick");
    assert_eq!(state.shared.name(id(78)), "Lee Looked-up", "the old name shows meanwhile");
}

#[test]
fn the_queue_feed_moves_tickets_between_tabs() {
    let mut state = signed_in(Vec::new());
    // Unassigned is tab 2, loaded empty; a new unassigned ticket appears there.
    let mut new = ticket(2000, "Cannot log in", Status::New, Priority::High, Some(7200));
    new.assignee = None;
    new.assignee_id = None;
    update(&mut state, Event::Live(LiveEvent::TicketChanged { ticket: Box::new(new.clone()), reason: "created".to_owned() }));
    let unassigned = &state.queues.tabs[1];
    assert_eq!(unassigned.rows.len(), 1);
    assert!(state.queues.unread.contains(&new.id), "new activity is marked");
    assert!(state.queues.tabs[0].rows.is_empty());
    // Assigned to Dana: it leaves Unassigned and joins My open.
    let mut assigned = new.clone();
    assigned.assignee_id = Some(id(1));
    assigned.assignee = Some(person(1, "Dana Agent"));
    assigned.version += 1;
    update(&mut state, Event::Live(LiveEvent::TicketChanged { ticket: Box::new(assigned), reason: "assigned".to_owned() }));
    assert!(state.queues.tabs[1].rows.is_empty());
    assert_eq!(state.queues.tabs[0].rows.len(), 1);
    // Resolved: it leaves every open queue but stays in All.
    let mut resolved = new;
    resolved.status = Status::Resolved;
    resolved.assignee_id = Some(id(1));
    update(&mut state, Event::Live(LiveEvent::TicketChanged { ticket: Box::new(resolved), reason: "transitioned".to_owned() }));
    assert!(state.queues.tabs[0].rows.is_empty());
    assert_eq!(state.queues.tabs[4].rows.len(), 1);
}

#[test]
fn a_ticket_out_of_sight_leaves_every_queue() {
    let mut state = signed_in(Vec::new());
    let mut new = ticket(2001, "Printer on fire", Status::New, Priority::High, Some(7200));
    new.assignee = None;
    new.assignee_id = None;
    update(&mut state, Event::Live(LiveEvent::TicketChanged { ticket: Box::new(new.clone()), reason: "created".to_owned() }));
    assert_eq!(state.queues.tabs[1].rows.len(), 1);
    assert_eq!(state.queues.tabs[4].rows.len(), 1);
    // Moved to a team this agent is not in: the server says hidden, without the ticket.
    update(&mut state, Event::Live(LiveEvent::TicketHidden { ticket: new.id }));
    assert!(state.queues.tabs.iter().all(|tab| tab.rows.iter().all(|row| row.id != new.id)), "no queue keeps it");
    assert!(!state.queues.unread.contains(&new.id));
}

#[test]
fn a_failed_reply_keeps_the_draft_and_shows_the_server_message() {
    let mut state = signed_in(sample_tickets());
    open_ticket(&mut state, detail(sample_tickets()[0].clone()));
    press(&mut state, "r");
    assert!(state.ticket.as_ref().unwrap().composer_open());
    let typed = press(&mut state, "On it");
    assert!(typed.contains(&Effect::Live(LiveCommand::Typing { ticket: id(2042) })), "typing is announced");
    let effects = press(&mut state, "<c-s>");
    let (send, call) = calls(&effects)[0].clone();
    assert_eq!(call, Call::Comment { ticket: id(2042), body: "On it".to_owned(), internal: false });
    let failure = Failure { status: Some(409), code: Some("conflict".to_owned()), message: "The ticket is closed".to_owned() };
    update(&mut state, Event::Answer { id: send, answer: Err(failure) });
    let view = state.ticket.as_ref().unwrap();
    assert!(view.composer_open());
    assert_eq!(view.composer.text(), "On it");
    let message = state.shared.message.as_ref().unwrap();
    assert!(message.error && message.text.contains("The ticket is closed"), "{message:?}");
}

#[test]
fn a_file_is_attached_from_inside_the_composer_and_the_draft_stays() {
    let mut state = signed_in(sample_tickets());
    open_ticket(&mut state, detail(sample_tickets()[0].clone()));
    press(&mut state, "rSee the log attached");
    let effects = press(&mut state, "<a-a>");
    assert!(calls(&effects).is_empty());
    assert!(matches!(&state.overlay, Some(hdms_tui::overlay::Overlay::Prompt(p)) if p.title == "Attach a file"), "{:?}", state.overlay);
    let effects = press(&mut state, "/tmp/boot.log<enter>");
    let (upload, call) = calls(&effects)[0].clone();
    assert_eq!(call, Call::Attach { ticket: id(2042), path: "/tmp/boot.log".into() });
    update(&mut state, Event::Progress { id: upload, label: "boot.log".into(), sent: 5, total: 10 });
    assert!(state.shared.progress.is_some(), "the upload shows its progress");
    update(&mut state, Event::Answer { id: upload, answer: Ok(Answer::Done) });
    assert!(state.overlay.is_none());
    let view = state.ticket.as_ref().unwrap();
    assert!(view.composer_open(), "back in the composer");
    assert_eq!(view.composer.text(), "See the log attached");
}

#[test]
fn an_internal_note_goes_out_as_internal() {
    let mut state = signed_in(sample_tickets());
    open_ticket(&mut state, detail(sample_tickets()[0].clone()));
    press(&mut state, "i");
    let effects = press(&mut state, "check the logs<c-s>");
    assert!(calls(&effects).iter().any(|(_, c)| matches!(c, Call::Comment { internal: true, .. })));
    // The toggle key flips a reply to a note and back.
    let mut state = signed_in(sample_tickets());
    open_ticket(&mut state, detail(sample_tickets()[0].clone()));
    let effects = press(&mut state, "rx<c-t><c-s>");
    assert!(calls(&effects).iter().any(|(_, c)| matches!(c, Call::Comment { internal: true, .. })));
}

#[test]
fn live_messages_appear_once_in_order() {
    let mut state = signed_in(sample_tickets());
    let ticket = sample_tickets()[0].clone();
    open_ticket(&mut state, detail(ticket.clone()));
    let message = comment(9, &ticket, 50, "Still broken", false, 4);
    for _ in 0..2 {
        let event = LiveEvent::Message { ticket: ticket.id, seq: 4, comment: Box::new(message.clone()) };
        update(&mut state, Event::Live(event));
    }
    let comments = &state.ticket.as_ref().unwrap().detail.as_ref().unwrap().comments;
    assert_eq!(comments.len(), 4);
    assert_eq!(comments.last().unwrap().body, "Still broken");
}

#[test]
fn the_transition_menu_offers_the_servers_moves_only() {
    let mut state = signed_in(sample_tickets());
    open_ticket(&mut state, detail(sample_tickets()[0].clone()));
    press(&mut state, "t");
    let Some(Overlay::Menu(menu)) = &state.overlay else { panic!("no menu: {:?}", state.overlay) };
    let labels: Vec<_> = menu.items.iter().map(|(label, _)| label.as_str()).collect();
    assert_eq!(labels, ["start → in_progress", "resolve → resolved"]);
    let effects = press(&mut state, "j<enter>");
    assert!(calls(&effects).iter().any(|(_, c)| *c == Call::Transition { ticket: id(2042), to: Status::Resolved, version: 3 }));
}

#[test]
fn bulk_priority_on_marked_rows_shows_each_outcome() {
    let mut state = signed_in(sample_tickets());
    press(&mut state, "<space><space>");
    assert_eq!(state.queues.active_tab().marked.len(), 2);
    press(&mut state, "b");
    press(&mut state, "<enter>"); // Set priority…
    let effects = press(&mut state, "<enter>"); // urgent
    let (bulk, call) = calls(&effects)[0].clone();
    let Call::Bulk(update_request) = call else { panic!("not a bulk call") };
    assert_eq!(update_request.ids.as_ref().unwrap().len(), 2);
    assert_eq!(update_request.versions.len(), 2, "each ticket at the version shown");
    assert_eq!(update_request.set.as_ref().unwrap().priority, Some(Priority::Urgent));
    let refused = hdms_api_types::ErrorBody { code: "conflict".to_owned(), message: "changed since".to_owned(), field: None };
    let result = BulkResult {
        succeeded: 1,
        failed: 1,
        results: vec![
            BulkItemResult { id: id(2042), ok: true, http_status: 200, version: Some(4), error: None },
            BulkItemResult { id: id(2043), ok: false, http_status: 409, version: None, error: Some(refused) },
        ],
    };
    update(&mut state, Event::Answer { id: bulk, answer: Ok(Answer::Bulk(result)) });
    let Some(Overlay::Outcomes { lines, .. }) = &state.overlay else { panic!("no outcomes: {:?}", state.overlay) };
    assert_eq!(lines[0], (true, "HD-1042".to_owned()));
    assert!(!lines[1].0 && lines[1].1.contains("changed since"));
    assert_eq!(state.queues.active_tab().marked.len(), 1, "the refused one stays marked");
}

#[test]
fn search_narrows_the_active_queue_with_the_servers_full_text_search() {
    let mut state = signed_in(sample_tickets());
    press(&mut state, "/");
    let effects = press(&mut state, "vpn drops<enter>");
    let (_, call) = calls(&effects)[0].clone();
    let Call::Tickets(query) = call else { panic!("{call:?}") };
    assert_eq!(query.q.as_deref(), Some("vpn drops"));
    assert_eq!(query.assignee.as_deref(), Some("me"), "within the queue");
    assert!(state.overlay.is_none());
}

#[test]
fn help_lists_the_screens_keys_from_the_table() {
    let mut state = signed_in(sample_tickets());
    press(&mut state, "?");
    assert!(matches!(state.overlay, Some(Overlay::Help { .. })));
    press(&mut state, "x");
    assert!(state.overlay.is_none());
}

#[test]
fn a_pushed_notification_counts_and_toasts() {
    let mut state = signed_in(sample_tickets());
    assert_eq!(state.shared.unread, 2);
    let notification = hdms_api_types::notifications::Notification {
        id: id(800),
        kind: "mention".to_owned(),
        ticket_id: Some(id(2042)),
        title: "Rita mentioned you".to_owned(),
        body: "@dana can you look?".to_owned(),
        created_at: now(),
        read_at: None,
    };
    update(&mut state, Event::Live(LiveEvent::Notification(Box::new(notification))));
    assert_eq!(state.shared.unread, 3);
    assert_eq!(state.shared.toast.as_ref().unwrap().title, "Rita mentioned you");
    update(&mut state, Event::Tick(now() + chrono::Duration::seconds(10)));
    assert!(state.shared.toast.is_none(), "the toast goes away");
    // N lists them; Enter opens the ticket and marks it read.
    let effects = press(&mut state, "N");
    assert_eq!(state.view, View::Notifications);
    assert!(calls(&effects).iter().any(|(_, c)| *c == Call::Notifications));
    let effects = press(&mut state, "<enter>");
    assert!(calls(&effects).iter().any(|(_, c)| *c == Call::MarkRead(id(800))));
    assert_eq!(state.view, View::Ticket);
}

#[test]
fn y_copies_the_ticket_number() {
    let mut state = signed_in(sample_tickets());
    let effects = press(&mut state, "y");
    assert!(effects.contains(&Effect::Copy("HD-1042".to_owned())));
}

#[test]
fn ctrl_c_quits_from_a_prompt_too() {
    let mut state = signed_in(sample_tickets());
    press(&mut state, "/");
    let effects = press(&mut state, "<c-c>");
    assert!(state.quit && effects.contains(&Effect::Quit));
}

#[test]
fn assign_to_me_and_claim_next() {
    let mut state = signed_in(sample_tickets());
    open_ticket(&mut state, detail(sample_tickets()[0].clone()));
    let effects = press(&mut state, "a<enter>");
    let (assign, call) = calls(&effects)[0].clone();
    let Call::Assign { ticket, request } = call else { panic!("{call:?}") };
    assert_eq!(ticket, id(2042));
    assert_eq!(request.assignee_id, Some(Some(id(1))));
    assert_eq!(request.version, Some(3), "at the version shown");
    let effects = update(&mut state, Event::Answer { id: assign, answer: Ok(Answer::Ticket(Box::new(sample_tickets()[0].clone()))) });
    assert!(state.overlay.is_none(), "the menu closes once the server agrees");
    assert!(calls(&effects).iter().any(|(_, c)| *c == Call::TicketDetail(id(2042))), "the ticket reloads");
    // n claims the next ticket and opens it.
    let effects = press(&mut state, "n");
    let (claim, call) = calls(&effects)[0].clone();
    assert_eq!(call, Call::ClaimNext);
    let next = sample_tickets()[2].clone();
    let effects = update(&mut state, Event::Answer { id: claim, answer: Ok(Answer::Ticket(Box::new(next))) });
    assert!(calls(&effects).iter().any(|(_, c)| *c == Call::TicketDetail(id(2044))));
    assert_eq!(state.ticket.as_ref().unwrap().id, id(2044));
}

#[test]
fn filters_and_sort_narrow_the_queue() {
    let mut state = signed_in(sample_tickets());
    press(&mut state, "f");
    let effects = press(&mut state, "open,new<tab>high<tab><tab><tab>vpn<enter>");
    let (_, call) = calls(&effects)[0].clone();
    let Call::Tickets(query) = call else { panic!("{call:?}") };
    assert_eq!(query.status.as_deref(), Some("open,new"));
    assert_eq!(query.priority, Some(Priority::High));
    assert_eq!(query.tag.as_deref(), Some("vpn"));
    assert_eq!(query.assignee.as_deref(), Some("me"), "the queue's own filter stays");
    // A mistake keeps the prompt open with what was typed.
    press(&mut state, "f<tab>");
    press(&mut state, "<bs><bs><bs><bs>sky-high<enter>");
    let Some(Overlay::Prompt(prompt)) = &state.overlay else { panic!("the prompt closed: {:?}", state.overlay) };
    assert!(prompt.error.as_deref().unwrap().contains("sky-high"));
    press(&mut state, "<esc>s");
    let effects = press(&mut state, "<enter>");
    let (_, call) = calls(&effects)[0].clone();
    let Call::Tickets(query) = call else { panic!("{call:?}") };
    assert_eq!(query.sort.as_deref(), Some("-updated"));
}

#[test]
fn approvals_are_requested_from_a_role_and_decided() {
    let mut state = signed_in(sample_tickets());
    let mut with_approval = detail(sample_tickets()[0].clone());
    with_approval.approvals.push(hdms_api_types::approvals::Approval {
        id: id(600),
        ticket_id: id(2042),
        ticket: None,
        requested_by: Some(id(50)),
        requested_by_user: None,
        rule: hdms_api_types::approvals::ApprovalRule::Any,
        reason: Some("new laptop".to_owned()),
        state: hdms_api_types::approvals::ApprovalState::Pending,
        slots: Vec::new(),
        created_at: now(),
        decided_at: None,
    });
    open_ticket(&mut state, with_approval);
    press(&mut state, "A");
    let effects = press(&mut state, "<enter>supervisor<tab><tab>budget<enter>");
    let (_, call) = calls(&effects)[0].clone();
    let Call::RequestApproval { request, .. } = call else { panic!("{call:?}") };
    assert_eq!(request.approvers[0].role, Some(hdms_api_types::Role::Supervisor));
    assert_eq!(request.reason.as_deref(), Some("budget"));
    press(&mut state, "<esc>A");
    let effects = press(&mut state, "j<enter>");
    assert!(calls(&effects).iter().any(|(_, c)| matches!(c, Call::DecideApproval { approval, decision } if *approval == id(600) && decision.approve)));
}

#[test]
fn sub_tickets_links_and_merges_name_tickets_by_number() {
    let mut state = signed_in(sample_tickets());
    open_ticket(&mut state, detail(sample_tickets()[0].clone()));
    let effects = press(&mut state, "cSpare cable<tab>for the desk<a-enter>");
    let (_, call) = calls(&effects)[0].clone();
    let Call::CreateSubTicket { parent, request } = call else { panic!("{call:?}") };
    assert_eq!((parent, request.subject.as_str()), (id(2042), "Spare cable"));
    press(&mut state, "<esc>");
    state.overlay = None;
    let effects = press(&mut state, "L<enter>HD-7<enter>");
    assert!(calls(&effects).iter().any(|(_, c)| matches!(c, Call::Link { to, .. } if to == "HD-7")));
    state.overlay = None;
    let effects = press(&mut state, "MHD-9<enter>");
    assert!(calls(&effects).iter().any(|(_, c)| matches!(c, Call::Merge { into, version: 3, .. } if into == "HD-9")));
}

#[test]
fn an_attachment_is_saved_only_when_the_server_serves_it() {
    let mut state = signed_in(sample_tickets());
    let mut with_files = detail(sample_tickets()[0].clone());
    let attachment = |n: u128, name: &str, downloadable: bool| hdms_api_types::files::Attachment {
        id: id(900 + n),
        ticket_id: id(2042),
        file_name: name.to_owned(),
        content_type: "text/plain".to_owned(),
        size: 12,
        sha256: String::new(),
        scan_state: if downloadable { hdms_api_types::files::ScanState::Clean } else { hdms_api_types::files::ScanState::Pending },
        scan_signature: None,
        image: None,
        downloadable,
        uploaded_by: id(50),
        uploaded_by_user: None,
        created_at: now(),
        deleted_at: None,
    };
    with_files.attachments = vec![attachment(1, "scan.log", false), attachment(2, "config.txt", true)];
    open_ticket(&mut state, with_files);
    press(&mut state, "<tab>");
    press(&mut state, "S");
    assert!(state.overlay.is_none());
    assert!(state.shared.message.as_ref().unwrap().text.contains("pending"), "{:?}", state.shared.message);
    press(&mut state, "j");
    press(&mut state, "S");
    let effects = press(&mut state, "<enter>");
    assert!(calls(&effects).iter().any(|(_, c)| *c == Call::SaveAttachment { attachment: id(902), path: "config.txt".into() }));
}

#[test]
fn a_resync_reloads_the_queues_and_the_unread_count() {
    let mut state = signed_in(sample_tickets());
    press(&mut state, "jj");
    let effects = update(&mut state, Event::Live(LiveEvent::Resync));
    let reloads = calls(&effects).iter().filter(|(_, c)| matches!(c, Call::Tickets(_) | Call::ApprovalQueue)).count();
    assert_eq!(reloads, 5, "every queue shown reloads its first page");
    assert!(calls(&effects).iter().any(|(_, c)| *c == Call::UnreadCount));
    assert_eq!(state.queues.active_tab().selected, 2, "the cursor stays");
}

#[test]
fn a_customer_gets_their_own_queues() {
    let mut state = State::new("http://desk.example", Keymap::default(), now());
    let effects = press(&mut state, "rita@example.com<tab>pw<enter>");
    let (login, _) = calls(&effects)[0].clone();
    let customer = hdms_api_types::users::User { role: hdms_api_types::Role::Customer, ..agent() };
    let effects = update(&mut state, Event::Answer { id: login, answer: Ok(Answer::LoggedIn { user: customer, saved_in: "x".to_owned() }) });
    let titles: Vec<_> = state.queues.tabs.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, ["Open", "All mine"]);
    assert!(!calls(&effects).iter().any(|(_, c)| *c == Call::ApprovalQueue));
    assert!(calls(&effects).iter().all(|(_, c)| !matches!(c, Call::Tickets(q) if q.assignee.is_some())));
}

#[test]
fn composer_keys_remapped_in_tui_toml_reach_the_composer() {
    let settings = hdms_tui::config::Settings::parse("[keys.composer]\nsend = \"ctrl-o\"\n").unwrap();
    let mut state = signed_in(sample_tickets());
    state.shared.keymap = settings.keymap;
    open_ticket(&mut state, detail(sample_tickets()[0].clone()));
    let effects = press(&mut state, "rhello<c-s>");
    assert!(!calls(&effects).iter().any(|(_, c)| matches!(c, Call::Comment { .. })), "Ctrl-s no longer sends");
    let effects = press(&mut state, "<c-o>");
    assert!(calls(&effects).iter().any(|(_, c)| matches!(c, Call::Comment { body, .. } if body == "hello")));
}

#[test]
fn a_customer_raises_replies_rates_and_never_reaches_staff_actions() {
    let mut tickets = sample_tickets();
    tickets[0].status = Status::Resolved;
    let mut state = signed_in_as(customer(), tickets.clone());
    let titles: Vec<&str> = state.queues.tabs.iter().map(|tab| tab.title.as_str()).collect();
    assert_eq!(titles, ["Open", "All mine"]);
    // Staff keys do nothing for a customer.
    for key in ["f", "<space>", "b", "n"] {
        assert!(calls(&press(&mut state, key)).is_empty(), "{key} asked the server something");
        assert!(state.overlay.is_none(), "{key} opened something");
    }

    // Raising a ticket: subject, a description of several lines (Enter starts a new line
    // there and sends nothing), priority, files.
    press(&mut state, "c");
    let effects = press(&mut state, "Laptop will not charge<tab>Since this morning.<enter>The light stays off.");
    assert!(calls(&effects).is_empty(), "Enter in the description is a new line");
    let effects = press(&mut state, "<tab><bs><bs><bs><bs><bs><bs>high<tab>/tmp/a.log, ~/b.png<enter>");
    let (raise, call) = calls(&effects).into_iter().next().unwrap();
    let Call::CreateTicket { request, files } = call else { panic!("{call:?}") };
    assert_eq!(
        (request.subject.as_str(), request.description.as_str(), request.priority),
        ("Laptop will not charge", "Since this morning.\nThe light stays off.", Some(Priority::High))
    );
    assert_eq!(files, [std::path::PathBuf::from("/tmp/a.log"), std::path::PathBuf::from("~/b.png")]);
    let raised = ticket(3000, "Laptop will not charge", Status::New, Priority::High, None);
    update(&mut state, Event::Progress { id: raise, label: "a.log".into(), sent: 10, total: 20 });
    assert!(state.shared.progress.is_some());
    let effects = update(&mut state, Event::Answer { id: raise, answer: Ok(Answer::Ticket(Box::new(raised.clone()))) });
    assert!(state.shared.progress.is_none(), "the gauge goes with the answer");
    assert_eq!(state.view, View::Ticket);
    assert!(calls(&effects).iter().any(|(_, c)| *c == Call::TicketDetail(raised.id)));
    assert!(state.overlay.is_none());
    press(&mut state, "q");

    // A resolved ticket: the composer only replies (no note, no canned replies), and R rates.
    open_ticket(&mut state, detail(tickets[0].clone()));
    assert!(calls(&press(&mut state, "i")).is_empty() && !state.ticket.as_ref().unwrap().composer_open(), "no internal notes");
    let effects = press(&mut state, "r");
    assert!(state.ticket.as_ref().unwrap().composer_open());
    assert!(calls(&effects).is_empty());
    let effects = press(&mut state, "It works ::now<c-t><c-g><c-s>");
    assert!(calls(&effects).iter().all(|(_, c)| !matches!(c, Call::CannedReplies | Call::Macros)), "{effects:?}");
    let (reply, sent) = calls(&effects).into_iter().find(|(_, c)| matches!(c, Call::Comment { .. })).unwrap();
    assert_eq!(sent, Call::Comment { ticket: tickets[0].id, body: "It works ::now".to_owned(), internal: false });
    let stored = comment(30, &tickets[0], 50, "It works ::now", false, 4);
    update(&mut state, Event::Answer { id: reply, answer: Ok(Answer::Comment(Box::new(stored))) });
    assert!(!state.ticket.as_ref().unwrap().composer_open());
    // Rating: good or bad, then a comment of a few lines (Alt-Enter sends).
    let effects = press(&mut state, "R<enter>");
    assert!(calls(&effects).is_empty(), "the comment is asked for first");
    let effects = press(&mut state, "Fast and kind.<enter>Thanks!<a-enter>");
    let rated = Call::Rate {
        ticket: tickets[0].id,
        score: hdms_api_types::tickets::Satisfaction::Good,
        comment: Some("Fast and kind.\nThanks!".to_owned()),
    };
    assert!(calls(&effects).iter().any(|(_, c)| *c == rated), "{effects:?}");
}
