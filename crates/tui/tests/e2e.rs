//! The real `hdms-tui` in a real terminal (tmux) against a real `hdms-server` on loopback,
//! checked by what the screen shows.

#[path = "support/e2e.rs"]
mod e2e;

use e2e::{TestServer, Terminal};
use hdms_api_types::tickets::CreateComment;
use hdms_api_types::users::Role;
use hdms_api_types::ws::ClientMessage;

#[test]
fn log_in_see_the_queue_open_a_ticket_and_reply() {
    let server = TestServer::start();
    let customer = server.user("rita@example.com", "Rita Requester", Role::Customer);
    server.user("dana@example.com", "Dana Agent", Role::Agent);
    let ticket = server.ticket(&customer, "VPN drops every ten minutes", "Since Monday, on the office wifi.");

    let terminal = Terminal::start(&server.url, 120, 40, None);
    terminal.log_in("dana@example.com");
    terminal.wait_for("dana@example.com (agent)");
    // Untriaged tickets are in Unassigned.
    terminal.press(&["2"]);
    terminal.wait_for("VPN drops every ten minutes");
    // y copies the number through OSC 52.
    terminal.press(&["y"]);
    terminal.wait_for(&format!("Copied {}", ticket.number));
    let deadline = std::time::Instant::now() + e2e::DEADLINE;
    while terminal.clipboard() != ticket.number && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert_eq!(terminal.clipboard(), ticket.number);
    terminal.press(&["Enter"]);
    terminal.wait_for("Since Monday, on the office wifi.");
    terminal.press(&["r"]);
    terminal.wait_for("PUBLIC REPLY · the requester sees this");
    terminal.type_text("Restarted the VPN gateway, please try again");
    terminal.press(&["C-s"]);
    terminal.wait_for("Reply sent");

    let comments = server.block_on(customer.list_comments(ticket.id)).unwrap();
    assert!(
        comments.iter().any(|c| c.body == "Restarted the VPN gateway, please try again" && !c.internal),
        "the server has the reply: {comments:?}"
    );
    // And it is on screen as a public reply.
    let screen = terminal.wait_for("Restarted the VPN gateway");
    assert!(screen.contains("PUBLIC REPLY"), "{screen}");
}

#[test]
fn fits_and_adapts_at_80x24() {
    let server = TestServer::start();
    let customer = server.user("rita@example.com", "Rita Requester", Role::Customer);
    server.user("dana@example.com", "Dana Agent", Role::Agent);
    for n in 0..30 {
        server.ticket(&customer, &format!("Ticket number {n}"), "text");
    }
    let terminal = Terminal::start(&server.url, 80, 24, None);
    terminal.log_in("dana@example.com");
    terminal.wait_for("dana@example.com (agent)");
    terminal.press(&["2"]);
    terminal.wait_for("2 Unassigned 30");
    let screen = terminal.wait_for("Ticket number");
    assert!(screen.lines().count() <= 24);
    // The footer and the status line are there at this size.
    assert!(screen.contains("help"), "{screen}");
    assert!(screen.contains("unread"), "{screen}");
    // Ctrl-c leaves the terminal as it was.
    terminal.press(&["C-c"]);
    terminal.wait_until(|screen| !screen.contains("unread"), "the terminal restored");
}

/// Signs Dana in and opens the only unassigned ticket, with the websocket up.
fn open_the_ticket(terminal: &Terminal, subject: &str) {
    terminal.wait_for("dana@example.com (agent)");
    terminal.wait_for("│ live │");
    terminal.press(&["2"]);
    terminal.wait_for(subject);
    terminal.press(&["Enter"]);
    terminal.wait_for("Conversation (");
}

#[test]
fn a_chat_message_and_typing_from_another_client_show_live_with_the_sender() {
    let server = TestServer::start();
    let customer = server.user("rita@example.com", "Rita Requester", Role::Customer);
    server.user("dana@example.com", "Dana Agent", Role::Agent);
    let ticket = server.ticket(&customer, "Printer jams", "Floor 3.");
    let terminal = Terminal::start(&server.url, 120, 40, None);
    terminal.log_in("dana@example.com");
    open_the_ticket(&terminal, "Printer jams");

    let mut live = server.block_on(customer.connect_live()).expect("the customer's websocket");
    server.block_on(live.send(&ClientMessage::Subscribe { ticket_id: ticket.id, after_seq: None })).unwrap();
    server.block_on(live.send(&ClientMessage::Typing { ticket_id: ticket.id })).unwrap();
    terminal.wait_for("Rita Requester is typing");
    let send = ClientMessage::Send { ticket_id: ticket.id, body: "It jammed again just now".to_owned(), internal: false, client_ref: None };
    server.block_on(live.send(&send)).unwrap();
    let screen = terminal.wait_for("It jammed again just now");
    let header = screen.lines().rev().find(|line| line.contains("PUBLIC REPLY")).unwrap_or_default();
    assert!(header.contains("Rita Requester"), "the sender is named: {screen}");
}

#[test]
fn after_a_server_restart_the_client_reconnects_and_shows_what_it_missed() {
    let mut server = TestServer::start();
    let customer = server.user("rita@example.com", "Rita Requester", Role::Customer);
    server.user("dana@example.com", "Dana Agent", Role::Agent);
    let ticket = server.ticket(&customer, "Badge does not open the garage", "Since Monday.");
    let terminal = Terminal::start(&server.url, 120, 40, None);
    terminal.log_in("dana@example.com");
    open_the_ticket(&terminal, "Badge does not open the garage");

    server.restart();
    let request = CreateComment { body: "Sent while you were away".to_owned(), internal: false };
    server.block_on(customer.comment(ticket.id, &request)).expect("the reply is stored");
    terminal.wait_for("Sent while you were away");
    terminal.wait_for("│ live │");
    let screen = terminal.screen();
    assert_eq!(screen.matches("Sent while you were away").count(), 1, "shown once: {screen}");
}

#[test]
fn ctrl_e_edits_the_draft_in_the_editor_and_the_edit_is_sent() {
    let server = TestServer::start();
    let customer = server.user("rita@example.com", "Rita Requester", Role::Customer);
    server.user("dana@example.com", "Dana Agent", Role::Agent);
    let ticket = server.ticket(&customer, "Scanner sends blank pages", "Since the update.");
    // A real editor command: it appends a line to the file it is given and exits.
    let bin = tempfile::tempdir().unwrap();
    let editor = bin.path().join("append-editor");
    std::fs::write(&editor, "#!/bin/sh\nprintf '\\n%s\\n' 'Appended by the editor' >> \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let terminal = Terminal::start_with_env(&server.url, 100, 30, None, &[("EDITOR", editor.as_path())]);
    terminal.log_in("dana@example.com");
    open_the_ticket(&terminal, "Scanner sends blank pages");
    terminal.press(&["r"]);
    terminal.wait_for("PUBLIC REPLY · the requester sees this");
    terminal.type_text("Typed in the composer");
    terminal.wait_for("Typed in the composer");
    terminal.press(&["C-e"]);
    // Back from the editor: the composer holds the edited draft, both lines.
    let screen = terminal.wait_for("Appended by the editor");
    assert!(screen.contains("Typed in the composer"), "{screen}");
    assert!(screen.contains("PUBLIC REPLY · the requester sees this"), "still composing: {screen}");
    terminal.press(&["C-s"]);
    terminal.wait_for("Reply sent");
    let comments = server.block_on(customer.list_comments(ticket.id)).unwrap();
    assert!(
        comments.iter().any(|c| c.body == "Typed in the composer\nAppended by the editor"),
        "the server has the edited text: {comments:?}"
    );
}

#[test]
fn the_draft_and_the_session_survive_quitting_and_starting_again() {
    let server = TestServer::start();
    let customer = server.user("rita@example.com", "Rita Requester", Role::Customer);
    server.user("dana@example.com", "Dana Agent", Role::Agent);
    server.ticket(&customer, "Monitor flickers", "Left screen.");
    let terminal = Terminal::start(&server.url, 100, 30, None);
    terminal.log_in("dana@example.com");
    open_the_ticket(&terminal, "Monitor flickers");
    terminal.press(&["i"]);
    terminal.wait_for("INTERNAL NOTE · staff only");
    terminal.type_text("Half-written: swap the cable first");
    terminal.wait_for("Half-written: swap the cable first");
    terminal.press(&["C-c"]);
    terminal.wait_until(|screen| !screen.contains("INTERNAL NOTE"), "the client gone");

    // The saved login is used: no login screen this time.
    terminal.relaunch(&server.url, 100, 30);
    open_the_ticket(&terminal, "Monitor flickers");
    terminal.press(&["r"]);
    let screen = terminal.wait_for("Half-written: swap the cable first");
    assert!(screen.contains("INTERNAL NOTE · staff only"), "the draft keeps its mode: {screen}");
}

#[test]
fn queues_follow_tickets_created_and_moved_elsewhere() {
    let server = TestServer::start();
    let customer = server.user("rita@example.com", "Rita Requester", Role::Customer);
    server.user("dana@example.com", "Dana Agent", Role::Agent);
    server.ticket(&customer, "First ticket", "text");
    let terminal = Terminal::start(&server.url, 120, 40, None);
    terminal.log_in("dana@example.com");
    terminal.wait_for("│ live │");
    terminal.press(&["2"]);
    terminal.wait_for("2 Unassigned 1");
    // Created elsewhere: it shows up, with its requester's name, without a refresh.
    server.ticket(&customer, "Second ticket, raised just now", "text");
    let screen = terminal.wait_for("Second ticket, raised just now");
    assert!(screen.contains("Rita Requester"), "{screen}");
    terminal.wait_for("2 Unassigned 2");
    // Resolved elsewhere... here: cancelled by its requester, it leaves the open queue.
    let first = server.block_on(customer.list_tickets(&Default::default())).unwrap().items.into_iter().find(|t| t.subject == "First ticket").unwrap();
    let request = hdms_api_types::tickets::TransitionRequest { to: hdms_api_types::tickets::Status::Cancelled, comment: None, version: None };
    server.block_on(customer.transition(first.id, &request)).expect("the requester cancels");
    terminal.wait_until(|screen| !screen.contains("First ticket"), "the cancelled ticket leave Unassigned");
    terminal.wait_for("2 Unassigned 1");
}

/// Issue 13: a customer raises a ticket (with a file) in their `hdms-tui`, an agent opens it in
/// a second `hdms-tui`, and each sees the other's messages and typing live.
#[test]
fn a_customer_raises_a_ticket_and_chats_live_with_an_agent_in_another_client() {
    let server = TestServer::start();
    let rita_client = server.user("rita@example.com", "Rita Requester", Role::Customer);
    server.user("dana@example.com", "Dana Agent", Role::Agent);
    let files = tempfile::tempdir().unwrap();
    let log = files.path().join("printer.log");
    std::fs::write(&log, "offline since 09:12\n".repeat(2000)).unwrap();

    let rita = Terminal::start(&server.url, 100, 30, None);
    rita.log_in("rita@example.com");
    rita.wait_for("rita@example.com (customer)");
    rita.wait_for("│ live │");
    rita.press(&["c"]);
    rita.wait_for("Raise a ticket");
    rita.type_text("Cannot print on the third floor");
    rita.press(&["Tab"]);
    rita.type_text("The printer says offline.");
    rita.press(&["Tab", "Tab"]);
    rita.type_text(&log.display().to_string());
    rita.press(&["Enter"]);
    // Her new ticket opens, with the file attached.
    rita.wait_for("Conversation (0)");
    let screen = rita.wait_for("Cannot print on the third floor");
    assert!(!screen.contains("SLA") && !screen.contains("INTERNAL"), "{screen}");
    let ticket = server.block_on(rita_client.list_tickets(&Default::default())).unwrap().items.remove(0);
    let attachments = server.block_on(rita_client.list_attachments(ticket.id)).unwrap();
    assert_eq!(attachments.iter().map(|a| a.file_name.as_str()).collect::<Vec<_>>(), ["printer.log"]);

    let dana = Terminal::start(&server.url, 100, 30, None);
    dana.log_in("dana@example.com");
    open_the_ticket(&dana, "Cannot print on the third floor");

    // Dana writes: Rita sees her typing, then her message.
    dana.press(&["r"]);
    dana.wait_for("PUBLIC REPLY");
    dana.type_text("Hello Rita, I am looking at the printer now");
    rita.wait_for("Dana Agent is typing");
    dana.press(&["C-s"]);
    dana.wait_for("Reply sent");
    rita.wait_for("Hello Rita, I am looking at the printer now");

    // Rita answers: Dana sees her typing, then her message.
    rita.press(&["r"]);
    rita.wait_for("YOUR REPLY");
    rita.type_text("Thank you, it is for the board meeting");
    dana.wait_for("Rita Requester is typing");
    rita.press(&["C-s"]);
    rita.wait_for("Reply sent");
    let screen = dana.wait_for("Thank you, it is for the board meeting");
    let header = screen.lines().rev().find(|line| line.contains("PUBLIC REPLY") && line.contains("Rita")).unwrap_or_default();
    assert!(header.contains("Rita Requester"), "named: {screen}");
}
