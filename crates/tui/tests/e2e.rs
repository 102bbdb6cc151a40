//! The real `hdms-tui` in a real terminal (tmux) against a real `hdms-server` on loopback,
//! checked by what the screen shows.

#[path = "support/e2e.rs"]
mod e2e;

use e2e::{TestServer, Terminal};
use hdms_api_types::users::Role;

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
    terminal.press(&["Enter"]);
    terminal.wait_for("Since Monday, on the office wifi.");
    terminal.press(&["r"]);
    terminal.wait_for("PUBLIC REPLY (the requester sees it)");
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
