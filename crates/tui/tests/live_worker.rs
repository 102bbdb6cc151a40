//! The websocket worker against a real `hdms-server` on loopback, on SQLite and on PostgreSQL:
//! delivery exactly once and in order, a network drop and a server restart mended by itself without flashing an
//! error, the outage shown after the grace period, tokens refreshed on reconnect, resync, and
//! the typing throttle.

mod live_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{AssignRequest, CreateComment, CreateTicket};
use hdms_api_types::ws::{ClientMessage, ServerMessage};
use hdms_tui::live::{ConnectionState, LiveCommand, LiveConfig, LiveEvent, LiveWorker, TokenFn};
use live_common::{Backend, Events, Relay, Server};

/// Quick retries for tests; the grace period is long so that a quick restart must not show.
fn config() -> LiveConfig {
    LiveConfig {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        grace: Duration::from_secs(30),
        ..LiveConfig::default()
    }
}

fn spawn(client: &hdms_api_types::client::Client, config: LiveConfig) -> (LiveWorker, Events) {
    let (worker, events) = LiveWorker::spawn(client.clone(), Arc::new(client.clone()), config);
    (worker, Events::new(events))
}

async fn subscribed(events: &mut Events) -> i64 {
    events.until(|event| match event {
        LiveEvent::Subscribed { last_seq, .. } => Some(*last_seq),
        _ => None,
    })
    .await
}

async fn reply(client: &hdms_api_types::client::Client, ticket: uuid::Uuid, body: &str) {
    client.comment(ticket, &CreateComment { body: body.into(), internal: false }).await.unwrap();
}

fn flashed_an_outage(events: &Events) -> bool {
    events.seen.iter().any(|event| matches!(event, LiveEvent::Connection(ConnectionState::Reconnecting { .. } | ConnectionState::Offline { .. })))
}

async fn messages_arrive_once_in_order_from_chat_and_rest(backend: Backend) {
    let server = Server::start(backend).await;
    let chat = server.chat().await;
    let (worker, mut events) = spawn(&chat.agent, config());
    assert_eq!(events.next().await, LiveEvent::Connection(ConnectionState::Connecting));
    events.until(|e| matches!(e, LiveEvent::Connection(ConnectionState::Connected)).then_some(())).await;
    // The ticket screen loaded the conversation over REST first: nothing of it comes again.
    reply(&chat.customer, chat.ticket.id, "already loaded").await;
    let loaded = chat.agent.list_comments(chat.ticket.id).await.unwrap().last().unwrap().seq;
    worker.send(LiveCommand::Subscribe { ticket_id: chat.ticket.id, after_seq: Some(loaded) });
    assert_eq!(subscribed(&mut events).await, loaded);

    let mut customer = chat.customer.connect_live().await.unwrap();
    customer.send(&ClientMessage::Subscribe { ticket_id: chat.ticket.id, after_seq: None }).await.unwrap();
    for i in 0..5 {
        customer.send(&ClientMessage::Send { ticket_id: chat.ticket.id, body: format!("chat {i}"), internal: false, client_ref: Some(i.to_string()) }).await.unwrap();
    }
    // Stored once the customer has its echoes (the REST reply below must come after them).
    let mut echoes = 0;
    while echoes < 5 {
        let message = tokio::time::timeout(live_common::PATIENCE, customer.next()).await.unwrap().unwrap();
        if matches!(message, ServerMessage::Message { client_ref: Some(_), .. }) {
            echoes += 1;
        }
    }
    reply(&chat.customer, chat.ticket.id, "over REST").await;
    // The worker's own send comes back once, with its client_ref.
    worker.send(LiveCommand::Send { ticket_id: chat.ticket.id, body: "from the agent".into(), internal: true, client_ref: Some("r1".into()) });
    let mut got = Vec::new();
    let mut seqs = Vec::new();
    while got.len() < 7 {
        if let LiveEvent::Message { seq, comment, client_ref, .. } = events.next().await {
            if comment.body == "from the agent" {
                assert_eq!(client_ref.as_deref(), Some("r1"));
            }
            seqs.push(seq);
            got.push(comment.body);
        }
    }
    assert_eq!(got, vec!["chat 0", "chat 1", "chat 2", "chat 3", "chat 4", "over REST", "from the agent"]);
    assert!(seqs.windows(2).all(|pair| pair[1] > pair[0]), "{seqs:?}");
    // Nothing is repeated: the next message is the next one sent.
    reply(&chat.customer, chat.ticket.id, "sentinel").await;
    assert_eq!(events.messages(1).await, vec!["sentinel"]);
}

async fn a_network_drop_is_mended_silently_and_what_was_missed_arrives_once(backend: Backend) {
    let server = Server::start(backend).await;
    let relay = Relay::start(&server).await;
    let chat = server.chat().await;
    let (worker, mut events) = spawn(&relay.client_for(&chat.agent), config());
    worker.send(LiveCommand::Subscribe { ticket_id: chat.ticket.id, after_seq: None });
    subscribed(&mut events).await;
    reply(&chat.customer, chat.ticket.id, "before").await;
    assert_eq!(events.messages(1).await, vec!["before"]);

    relay.cut();
    // Sent while the worker cannot hear: a chat message from the agent is refused, not lost.
    reply(&chat.customer, chat.ticket.id, "while away 1").await;
    reply(&chat.customer, chat.ticket.id, "while away 2").await;
    worker.send(LiveCommand::Send { ticket_id: chat.ticket.id, body: "typed offline".into(), internal: false, client_ref: Some("x".into()) });
    let unsent = events.until(|e| matches!(e, LiveEvent::Unsent { .. }).then(|| e.clone())).await;
    assert!(matches!(unsent, LiveEvent::Unsent { client_ref: Some(r), .. } if r == "x"));

    relay.reopen();
    events.until(|e| matches!(e, LiveEvent::Resync { .. }).then_some(())).await;
    assert_eq!(events.messages(2).await, vec!["while away 1", "while away 2"]);
    reply(&chat.customer, chat.ticket.id, "after").await;
    assert_eq!(events.messages(1).await, vec!["after"], "nothing twice");
    assert!(!flashed_an_outage(&events), "a short drop showed: {:#?}", events.seen);
}

async fn a_server_restart_on_the_same_data_dir_and_port_misses_nothing(backend: Backend) {
    let mut server = Server::start(backend).await;
    let relay = Relay::start(&server).await;
    let chat = server.chat().await;
    let (worker, mut events) = spawn(&relay.client_for(&chat.agent), config());
    worker.send(LiveCommand::Subscribe { ticket_id: chat.ticket.id, after_seq: None });
    subscribed(&mut events).await;
    reply(&chat.customer, chat.ticket.id, "before the restart").await;
    assert_eq!(events.messages(1).await, vec!["before the restart"]);

    // The relay holds the worker off so that the REST reply certainly lands while it is away.
    relay.cut();
    server.restart().await;
    reply(&chat.customer, chat.ticket.id, "sent meanwhile").await;
    relay.reopen();
    assert_eq!(events.messages(1).await, vec!["sent meanwhile"]);
    reply(&chat.customer, chat.ticket.id, "after the restart").await;
    assert_eq!(events.messages(1).await, vec!["after the restart"], "nothing twice");

    // And the restart alone, the worker talking to the server directly.
    let (direct, mut direct_events) = spawn(&chat.agent, config());
    direct.send(LiveCommand::Subscribe { ticket_id: chat.ticket.id, after_seq: None });
    subscribed(&mut direct_events).await;
    server.restart().await;
    reply(&chat.customer, chat.ticket.id, "second restart").await;
    assert_eq!(direct_events.messages(1).await, vec!["second restart"]);
    assert_eq!(events.messages(1).await, vec!["second restart"]);
    assert!(!flashed_an_outage(&events) && !flashed_an_outage(&direct_events), "{:#?}", events.seen);
}

async fn a_long_outage_is_shown_after_the_grace_period_and_its_end_too(backend: Backend) {
    let server = Server::start(backend).await;
    let relay = Relay::start(&server).await;
    let chat = server.chat().await;
    let config = LiveConfig { grace: Duration::from_millis(300), ..config() };
    let (_worker, mut events) = spawn(&relay.client_for(&chat.agent), config);
    events.until(|e| matches!(e, LiveEvent::Connection(ConnectionState::Connected)).then_some(())).await;
    let cut_at = std::time::Instant::now();
    relay.cut();
    let (attempt, since) = events
        .until(|e| match e {
            LiveEvent::Connection(ConnectionState::Reconnecting { attempt, since }) => Some((*attempt, *since)),
            _ => None,
        })
        .await;
    assert!(attempt >= 1);
    assert!(since >= cut_at && cut_at.elapsed() >= Duration::from_millis(300), "shown before the grace period ended");
    relay.reopen();
    events.until(|e| matches!(e, LiveEvent::Connection(ConnectionState::Connected)).then_some(())).await;
}

async fn typing_is_announced_and_throttled(backend: Backend) {
    let server = Server::start(backend).await;
    let relay = Relay::start(&server).await;
    let chat = server.chat().await;
    let interval = Duration::from_millis(400);
    let (worker, mut events) = spawn(&relay.client_for(&chat.agent), LiveConfig { typing_interval: interval, ..config() });
    worker.send(LiveCommand::Subscribe { ticket_id: chat.ticket.id, after_seq: None });
    subscribed(&mut events).await;
    let mut customer = chat.customer.connect_live().await.unwrap();
    customer.send(&ClientMessage::Subscribe { ticket_id: chat.ticket.id, after_seq: None }).await.unwrap();

    let burst_start = tokio::time::Instant::now();
    for _ in 0..20 {
        worker.send(LiveCommand::Typing { ticket_id: chat.ticket.id });
    }
    // The other side sees the agent typing.
    loop {
        let message = tokio::time::timeout(live_common::PATIENCE, customer.next()).await.unwrap().unwrap();
        if let ServerMessage::Presence { typing, .. } = message
            && typing.contains(&chat.agent_id)
        {
            break;
        }
    }
    let typing_sent = |relay: &Relay| relay.sent().iter().filter(|m| matches!(m, ClientMessage::Typing { .. })).count();
    // A ping through the worker marks the end of what it sent for the burst.
    worker.send(LiveCommand::Send { ticket_id: chat.ticket.id, body: "mark".into(), internal: false, client_ref: None });
    events.until(|e| matches!(e, LiveEvent::Message { .. }).then_some(())).await;
    assert_eq!(typing_sent(&relay), 1, "{:?}", relay.sent());
    // Once the interval has passed, the next keystroke is announced again.
    tokio::time::sleep_until(burst_start + interval).await;
    worker.send(LiveCommand::Typing { ticket_id: chat.ticket.id });
    worker.send(LiveCommand::Typing { ticket_id: chat.ticket.id });
    worker.send(LiveCommand::Send { ticket_id: chat.ticket.id, body: "mark 2".into(), internal: false, client_ref: None });
    events.until(|e| matches!(e, LiveEvent::Message { .. }).then_some(())).await;
    assert_eq!(typing_sent(&relay), 2, "{:?}", relay.sent());
}

async fn a_refused_token_is_refreshed_and_without_one_the_worker_goes_offline_until_asked(backend: Backend) {
    let server = Server::start(backend).await;
    let chat = server.chat().await;
    // The first token is stale; the refresh gives a good one.
    let good = chat.agent.token().unwrap();
    let asked = Arc::new(AtomicU32::new(0));
    let tokens = TokenFn({
        let asked = asked.clone();
        move |refresh: bool| {
            asked.fetch_add(1, Ordering::Relaxed);
            let token = if refresh { Some(good.clone()) } else { Some("stale".to_owned()) };
            async move { token }
        }
    });
    let (_worker, events) = LiveWorker::spawn(chat.agent.clone(), Arc::new(tokens), config());
    let mut events = Events::new(events);
    let user_id = events.until(|e| if let LiveEvent::Ready { user_id } = e { Some(*user_id) } else { None }).await;
    assert_eq!(user_id, chat.agent_id);
    assert_eq!(asked.load(Ordering::Relaxed), 2);

    // No token at all, and none to be had: offline, and back once the user logged in again.
    let session = Arc::new(std::sync::Mutex::new(None::<String>));
    let tokens = TokenFn({
        let session = session.clone();
        move |_refresh: bool| {
            let token = session.lock().unwrap().clone();
            async move { token }
        }
    });
    let (worker, events) = LiveWorker::spawn(chat.agent.clone(), Arc::new(tokens), config());
    let mut events = Events::new(events);
    let reason = events.until(|e| if let LiveEvent::Connection(ConnectionState::Offline { reason }) = e { Some(reason.clone()) } else { None }).await;
    assert!(reason.contains("log in"), "{reason}");
    *session.lock().unwrap() = chat.agent.token();
    worker.send(LiveCommand::Reconnect);
    events.until(|e| matches!(e, LiveEvent::Connection(ConnectionState::Connected)).then_some(())).await;
}

async fn a_resync_resubscribes_and_what_was_dropped_arrives_once(backend: Backend) {
    let server = Server::start(backend).await;
    let relay = Relay::start(&server).await;
    let chat = server.chat().await;
    let (worker, mut events) = spawn(&relay.client_for(&chat.agent), config());
    worker.send(LiveCommand::Subscribe { ticket_id: chat.ticket.id, after_seq: None });
    subscribed(&mut events).await;
    // Three messages are lost on the way, then the server says `resync`.
    relay.drop_then_resync(3);
    for i in 0..5 {
        reply(&chat.customer, chat.ticket.id, &format!("m{i}")).await;
    }
    events.until(|e| matches!(e, LiveEvent::Resync { .. }).then_some(())).await;
    assert_eq!(events.messages(5).await, vec!["m0", "m1", "m2", "m3", "m4"]);
    reply(&chat.customer, chat.ticket.id, "sentinel").await;
    assert_eq!(events.messages(1).await, vec!["sentinel"], "nothing twice");
}

async fn a_burst_past_the_servers_backlog_arrives_whole_and_once(backend: Backend) {
    // A backlog of one event per connection makes the server drop events for a busy connection
    // and send `resync` (on SQLite a burst usually does; either way nothing may be lost).
    let server = Server::start_with(backend, |config| config.ws_backlog = 1).await;
    let chat = server.chat().await;
    let (worker, mut events) = spawn(&chat.agent, config());
    worker.send(LiveCommand::Subscribe { ticket_id: chat.ticket.id, after_seq: None });
    subscribed(&mut events).await;
    let bodies: Vec<String> = (0..40).map(|i| format!("burst {i}")).collect();
    let sends = bodies.iter().map(|body| reply(&chat.customer, chat.ticket.id, body));
    futures::future::join_all(sends).await;
    let mut got = events.messages(40).await;
    // Concurrent REST replies are numbered in commit order, not in the order they were sent.
    got.sort();
    let mut expected = bodies.clone();
    expected.sort();
    assert_eq!(got, expected);
    reply(&chat.customer, chat.ticket.id, "sentinel").await;
    assert_eq!(events.messages(1).await, vec!["sentinel"], "nothing twice");
}

/// The next `ticket_changed` about a ticket with this subject: its id and reason.
async fn changed(events: &mut Events, subject: &str) -> (uuid::Uuid, String) {
    events
        .until(|e| match e {
            LiveEvent::TicketChanged { ticket, reason } if ticket.subject == subject => Some((ticket.id, reason.clone())),
            _ => None,
        })
        .await
}

async fn the_queue_feed_is_followed_across_reconnects_with_names_in_presence(backend: Backend) {
    let server = Server::start(backend).await;
    let relay = Relay::start(&server).await;
    let chat = server.chat().await;
    let admin = server.admin().await;
    let (supervisor, _) = server.user(hdms_api_types::Role::Supervisor).await;
    let team_a = admin.create_team(&CreateTeam { name: "Team A".into(), description: None }).await.unwrap();
    let team_b = admin.create_team(&CreateTeam { name: "Team B".into(), description: None }).await.unwrap();
    admin.add_team_member(team_b.id, chat.agent_id).await.unwrap();
    let (worker, mut events) = spawn(&relay.client_for(&chat.agent), config());
    worker.send(LiveCommand::FollowQueues(true));
    events.until(|e| matches!(e, LiveEvent::QueuesFollowed).then_some(())).await;

    let new_ticket = |subject: &str| CreateTicket { subject: subject.into(), description: "d".into(), ..Default::default() };
    let first = chat.customer.create_ticket(&new_ticket("Printer on fire")).await.unwrap();
    assert_eq!(changed(&mut events, "Printer on fire").await, (first.id, "created".to_owned()));

    // After a drop, the worker follows the queues again by itself.
    relay.cut();
    relay.reopen();
    events.until(|e| matches!(e, LiveEvent::Resync { .. }).then_some(())).await;
    events.until(|e| matches!(e, LiveEvent::QueuesFollowed).then_some(())).await;
    let second = chat.customer.create_ticket(&new_ticket("Scanner smokes")).await.unwrap();
    assert_eq!(changed(&mut events, "Scanner smokes").await, (second.id, "created".to_owned()));

    // Given to a team the agent is not in: it leaves the agent's view.
    supervisor.assign(second.id, &AssignRequest { team_id: Some(team_a.id), ..Default::default() }).await.unwrap();
    events.until(|e| matches!(e, LiveEvent::TicketHidden { ticket_id } if *ticket_id == second.id).then_some(())).await;

    // Presence names the people it lists.
    worker.send(LiveCommand::Subscribe { ticket_id: first.id, after_seq: None });
    let people = events.until(|e| if let LiveEvent::People { people, .. } = e { Some(people.clone()) } else { None }).await;
    assert!(people.iter().any(|person| person.id == chat.agent_id && person.name.starts_with("Test agent")), "{people:?}");
}

backend_tests!(
    messages_arrive_once_in_order_from_chat_and_rest,
    a_network_drop_is_mended_silently_and_what_was_missed_arrives_once,
    a_server_restart_on_the_same_data_dir_and_port_misses_nothing,
    a_long_outage_is_shown_after_the_grace_period_and_its_end_too,
    typing_is_announced_and_throttled,
    a_refused_token_is_refreshed_and_without_one_the_worker_goes_offline_until_asked,
    a_resync_resubscribes_and_what_was_dropped_arrives_once,
    a_burst_past_the_servers_backlog_arrives_whole_and_once,
    the_queue_feed_is_followed_across_reconnects_with_names_in_presence,
);
