//! The websocket with real clients on loopback: authentication, rooms, ordering, resume,
//! presence, slow consumers, live notifications, merged conversations, and two instances on one
//! PostgreSQL database.

mod common;

use std::time::Duration;

use common::{Backend, TestServer};
use hdms_api_types::Role;
use hdms_api_types::client::{Client, Live, LiveError};
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{
    AssignRequest, BulkUpdate, CreateComment, CreateTicket, FieldChanges, MergeRequest, Priority, Ticket, UpdateTicket,
};
use hdms_api_types::ws::{ClientMessage, ServerMessage};
use uuid::Uuid;

/// Long enough for anything on loopback; only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(10);

async fn next(live: &mut Live) -> ServerMessage {
    tokio::time::timeout(PATIENCE, live.next()).await.expect("a message in time").expect("a message")
}

/// The next message that is not presence (presence comes and goes with other people).
async fn next_message(live: &mut Live) -> ServerMessage {
    loop {
        match next(live).await {
            ServerMessage::Presence { .. } => continue,
            other => return other,
        }
    }
}

async fn subscribe(live: &mut Live, ticket_id: Uuid, after_seq: Option<i64>) -> i64 {
    live.send(&ClientMessage::Subscribe { ticket_id, after_seq }).await.unwrap();
    loop {
        match next_message(live).await {
            ServerMessage::Subscribed { last_seq, .. } => return last_seq,
            // A notification (a reply sent while away) may be pushed before the answer.
            ServerMessage::Notification { .. } => continue,
            other => panic!("expected subscribed, got {other:?}"),
        }
    }
}

async fn say(live: &mut Live, ticket_id: Uuid, body: &str) -> i64 {
    live.send(&ClientMessage::Send { ticket_id, body: body.into(), internal: false, client_ref: Some(body.into()) }).await.unwrap();
    loop {
        if let ServerMessage::Message { seq, client_ref: Some(r), .. } = next_message(live).await
            && r == body
        {
            return seq;
        }
    }
}

async fn setup(server: &TestServer) -> (Client, Client, Ticket) {
    let (customer, _) = server.user(Role::Customer).await;
    let (agent, _) = server.user(Role::Agent).await;
    let ticket = customer.create_ticket(&CreateTicket { subject: "Chat".into(), description: "d".into(), ..Default::default() }).await.unwrap();
    (customer, agent, ticket)
}

async fn authentication_is_required_and_checked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.anonymous();
    assert!(matches!(client.connect_live().await, Err(LiveError::NoToken)));
    client.set_token(Some("not-a-token".into()));
    match client.connect_live().await {
        Err(LiveError::Refused { code, .. }) => assert_eq!(code, "invalid_token"),
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, got a connection"),
    }
}

async fn forbidden_rooms_answer_not_found(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, _, ticket) = setup(&server).await;
    let (stranger, _) = server.user(Role::Customer).await;
    let mut live = stranger.connect_live().await.unwrap();
    live.send(&ClientMessage::Subscribe { ticket_id: ticket.id, after_seq: None }).await.unwrap();
    assert!(matches!(next_message(&mut live).await, ServerMessage::Error { code, .. } if code == "not_found"));
    live.send(&ClientMessage::Send { ticket_id: ticket.id, body: "hi".into(), internal: false, client_ref: None }).await.unwrap();
    assert!(matches!(next_message(&mut live).await, ServerMessage::Error { code, .. } if code == "not_found"));
}

async fn messages_are_stored_ordered_and_shown_over_rest(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (customer, agent, ticket) = setup(&server).await;
    let mut c = customer.connect_live().await.unwrap();
    let mut a = agent.connect_live().await.unwrap();
    subscribe(&mut c, ticket.id, None).await;
    subscribe(&mut a, ticket.id, None).await;
    for i in 0..5 {
        say(&mut c, ticket.id, &format!("hello {i}")).await;
    }
    let mut seqs = Vec::new();
    while seqs.len() < 5 {
        if let ServerMessage::Message { seq, comment, .. } = next_message(&mut a).await {
            assert_eq!(comment.body, format!("hello {}", seqs.len()));
            seqs.push(seq);
        }
    }
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    // An internal note reaches the agent but never the customer.
    a.send(&ClientMessage::Send { ticket_id: ticket.id, body: "note to self".into(), internal: true, client_ref: None }).await.unwrap();
    // A REST reply reaches both live.
    agent.comment(ticket.id, &CreateComment { body: "over REST".into(), internal: false }).await.unwrap();
    loop {
        match next_message(&mut c).await {
            ServerMessage::Message { comment, .. } if comment.body == "over REST" => break,
            ServerMessage::Message { comment, .. } => assert!(!comment.internal, "customers never see internal notes"),
            other => panic!("{other:?}"),
        }
    }
    let stored = customer.list_comments(ticket.id).await.unwrap();
    let bodies: Vec<&str> = stored.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, vec!["hello 0", "hello 1", "hello 2", "hello 3", "hello 4", "over REST"]);
}

async fn reconnecting_with_the_last_seq_misses_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (customer, agent, ticket) = setup(&server).await;
    let mut c = customer.connect_live().await.unwrap();
    subscribe(&mut c, ticket.id, None).await;
    let mut a = agent.connect_live().await.unwrap();
    subscribe(&mut a, ticket.id, None).await;
    let last_seen = say(&mut c, ticket.id, "before").await;
    c.close().await;
    for i in 0..3 {
        say(&mut a, ticket.id, &format!("while away {i}")).await;
    }
    let mut c = customer.connect_live().await.unwrap();
    subscribe(&mut c, ticket.id, Some(last_seen)).await;
    let mut got = Vec::new();
    while got.len() < 3 {
        if let ServerMessage::Message { comment, .. } = next_message(&mut c).await {
            got.push(comment.body);
        }
    }
    assert_eq!(got, vec!["while away 0", "while away 1", "while away 2"]);
    // And then live again, with nothing repeated (the customer is also notified of each
    // reply; those notices are not chat).
    say(&mut a, ticket.id, "back").await;
    loop {
        match next_message(&mut c).await {
            ServerMessage::Message { comment, .. } => break assert_eq!(comment.body, "back"),
            ServerMessage::Notification { notification } => assert_eq!(notification.kind, "new_reply"),
            other => panic!("{other:?}"),
        }
    }
}

async fn presence_shows_who_views_and_types(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, agent, ticket) = setup(&server).await;
    let agent_user = agent.me().await.unwrap();
    let (other_agent, other) = server.user(Role::Agent).await;
    let mut a = agent.connect_live().await.unwrap();
    subscribe(&mut a, ticket.id, None).await;
    let mut b = other_agent.connect_live().await.unwrap();
    subscribe(&mut b, ticket.id, None).await;
    b.send(&ClientMessage::Typing { ticket_id: ticket.id }).await.unwrap();
    loop {
        if let ServerMessage::Presence { viewing, typing, people, .. } = next(&mut a).await
            && typing.contains(&other.id)
        {
            assert_eq!(viewing.len(), 2);
            // Named, so a client shows "Dana is typing" without asking who that is.
            let names: Vec<(uuid::Uuid, &str)> = people.iter().map(|p| (p.id, p.name.as_str())).collect();
            let mut expected = vec![(agent_user.id, agent_user.name.as_str()), (other.id, other.name.as_str())];
            expected.sort();
            assert_eq!(names, expected);
            break;
        }
    }
    b.close().await;
    loop {
        if let ServerMessage::Presence { viewing, .. } = next(&mut a).await
            && !viewing.contains(&other.id)
        {
            break;
        }
    }
}

async fn notifications_arrive_live_and_over_rest(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (customer, _) = server.user(Role::Customer).await;
    let (agent, agent_user) = server.user(Role::Agent).await;
    let (supervisor, _) = server.user(Role::Supervisor).await;
    let ticket = customer.create_ticket(&CreateTicket { subject: "Assign me".into(), description: "d".into(), ..Default::default() }).await.unwrap();
    let mut live = agent.connect_live().await.unwrap();
    supervisor.assign(ticket.id, &AssignRequest { assignee_id: Some(Some(agent_user.id)), ..Default::default() }).await.unwrap();
    let notification = match next_message(&mut live).await {
        ServerMessage::Notification { notification } => notification,
        other => panic!("{other:?}"),
    };
    assert_eq!(notification.kind, "assigned");
    assert_eq!(notification.ticket_id, Some(ticket.id));
    let unread = agent.request(reqwest::Method::GET, "/api/v1/notifications/unread-count").unwrap();
    let unread: serde_json::Value = agent.send(unread).await.unwrap();
    assert_eq!(unread["unread"], 1);
    let read = agent.request(reqwest::Method::POST, &format!("/api/v1/notifications/{}/read", notification.id)).unwrap();
    agent.send_empty(read).await.unwrap();
    let list = agent.request(reqwest::Method::GET, "/api/v1/notifications?unread=true").unwrap();
    let list: serde_json::Value = agent.send(list).await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    // Someone else's notification is not theirs to mark.
    let theirs = customer.request(reqwest::Method::POST, &format!("/api/v1/notifications/{}/read", notification.id)).unwrap();
    assert_eq!(customer.send_empty(theirs).await.unwrap_err().status().unwrap().as_u16(), 404);
}

async fn a_slow_client_is_told_to_resync(backend: Backend) {
    // The slow connection must still be open when the flood ends, however long a loaded machine
    // takes to send it: its sends may wait far longer than the default deadline.
    let server = TestServer::start_with(backend, |c| {
        c.ws_backlog = 8;
        c.ws_send_deadline_secs = 600;
        // The flood is 300 messages from one person, beyond the per-person rate limit.
        c.ws_messages_per_second = 0;
    })
    .await;
    let (customer, agent, ticket) = setup(&server).await;
    let mut slow = customer.connect_live().await.unwrap();
    subscribe(&mut slow, ticket.id, None).await;
    // The slow client reads nothing while the agent sends more than the socket buffers hold;
    // the agent is never held up, and the slow client learns it must resync.
    let mut fast = agent.connect_live().await.unwrap();
    let body = "x".repeat(48 * 1024);
    for i in 0..300 {
        let client_ref = Some(i.to_string());
        fast.send(&ClientMessage::Send { ticket_id: ticket.id, body: body.clone(), internal: false, client_ref }).await.unwrap();
        loop {
            if let ServerMessage::Message { client_ref: Some(r), .. } = next_message(&mut fast).await
                && r == i.to_string()
            {
                break;
            }
        }
    }
    let mut told = false;
    for _ in 0..400 {
        if let ServerMessage::Resync { .. } = next(&mut slow).await {
            told = true;
            break;
        }
    }
    assert!(told, "the slow client was told to resync");
}

async fn merged_comments_arrive_in_the_survivors_room(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (customer, agent, survivor) = setup(&server).await;
    let merged = customer.create_ticket(&CreateTicket { subject: "Chat again".into(), description: "d".into(), ..Default::default() }).await.unwrap();
    customer.comment(merged.id, &CreateComment { body: "first words".into(), internal: false }).await.unwrap();
    customer.comment(merged.id, &CreateComment { body: "second words".into(), internal: false }).await.unwrap();
    let mut a = agent.connect_live().await.unwrap();
    let last = subscribe(&mut a, survivor.id, None).await;

    agent.merge_ticket(merged.id, &MergeRequest { into: survivor.id, version: None }).await.unwrap();
    let mut arrived = Vec::new();
    while arrived.len() < 3 {
        if let ServerMessage::Message { seq, comment, .. } = next_message(&mut a).await {
            assert_eq!(comment.ticket_id, survivor.id);
            arrived.push((seq, comment.body));
        }
    }
    let bodies: Vec<&str> = arrived.iter().map(|(_, body)| body.as_str()).collect();
    assert_eq!(bodies[..2], ["first words", "second words"]);
    assert!(bodies[2].starts_with("Merged "), "then the merge note: {bodies:?}");
    let seqs: Vec<i64> = arrived.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [last + 1, last + 2, last + 3]);
}

/// Follows the queues and waits for the answer.
async fn follow_queues(client: &Client) -> Live {
    let mut live = client.connect_live().await.unwrap();
    live.send(&ClientMessage::SubscribeQueues).await.unwrap();
    loop {
        match next_message(&mut live).await {
            ServerMessage::QueuesSubscribed => return live,
            ServerMessage::Notification { .. } => continue,
            other => panic!("expected queues_subscribed, got {other:?}"),
        }
    }
}

/// A queue event: `(ticket id, Some(reason), the ticket)` for `ticket_changed`, `(ticket id,
/// None, None)` for `ticket_hidden`.
type QueueEvent = (Uuid, Option<String>, Option<Box<Ticket>>);

async fn next_queue_event(live: &mut Live) -> QueueEvent {
    loop {
        match next_message(live).await {
            ServerMessage::TicketChanged { ticket, reason } => return (ticket.id, Some(reason), Some(ticket)),
            ServerMessage::TicketHidden { ticket_id } => return (ticket_id, None, None),
            ServerMessage::Notification { .. } => continue,
            ServerMessage::Resync { reason } => panic!("the feed fell behind: {reason}"),
            other => panic!("expected a queue event, got {other:?}"),
        }
    }
}

/// Queue events until (and with) the first about `ticket` that satisfies `done`.
async fn queue_events_until(live: &mut Live, ticket: Uuid, done: impl Fn(&QueueEvent) -> bool) -> Vec<QueueEvent> {
    let mut events = Vec::new();
    loop {
        let event = next_queue_event(live).await;
        let last = event.0 == ticket && done(&event);
        events.push(event);
        if last {
            return events;
        }
    }
}

fn with_reason(reason: &'static str) -> impl Fn(&QueueEvent) -> bool {
    move |event| event.1.as_deref() == Some(reason)
}

/// The queue feed reaches exactly those who may see a ticket, as `GET /tickets` decides:
/// customers their own, agents their teams' and untriaged ones, supervisors all; a ticket
/// given to another team is announced hidden to those who lose it; internal notes stay with
/// staff.
async fn the_queue_feed_follows_visibility(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let (customer, customer_user) = server.user(Role::Customer).await;
    let (stranger, _) = server.user(Role::Customer).await;
    let (agent_a, agent_a_user) = server.user(Role::Agent).await;
    let (agent_b, agent_b_user) = server.user(Role::Agent).await;
    let (supervisor, _) = server.user(Role::Supervisor).await;
    let team_a = admin.create_team(&CreateTeam { name: "Team A".into(), description: None }).await.unwrap();
    let team_b = admin.create_team(&CreateTeam { name: "Team B".into(), description: None }).await.unwrap();
    admin.add_team_member(team_a.id, agent_a_user.id).await.unwrap();
    admin.add_team_member(team_b.id, agent_b_user.id).await.unwrap();

    let mut feeds = Vec::new();
    for client in [&customer, &stranger, &agent_a, &agent_b, &supervisor] {
        feeds.push(follow_queues(client).await);
    }
    let [mut customer_feed, mut stranger_feed, mut a_feed, mut b_feed, mut supervisor_feed] = feeds.try_into().ok().unwrap();

    // Created untriaged: the requester, every agent and the supervisor hear of it, by name.
    let ticket = customer.create_ticket(&CreateTicket { subject: "Printer on fire".into(), description: "d".into(), ..Default::default() }).await.unwrap();
    for feed in [&mut customer_feed, &mut a_feed, &mut b_feed, &mut supervisor_feed] {
        let (id, reason, shown) = next_queue_event(feed).await;
        assert_eq!((id, reason.as_deref()), (ticket.id, Some("created")));
        let requester = shown.unwrap().requester.expect("the requester's name comes with the ticket");
        assert_eq!((requester.id, requester.name.as_str()), (customer_user.id, customer_user.name.as_str()));
    }

    // Given to team A: team B's agent loses it and is told so, without the new team.
    supervisor.assign(ticket.id, &AssignRequest { team_id: Some(team_a.id), ..Default::default() }).await.unwrap();
    for feed in [&mut customer_feed, &mut a_feed, &mut supervisor_feed] {
        let events = queue_events_until(feed, ticket.id, with_reason("assigned")).await;
        let (_, _, shown) = events.last().unwrap();
        assert_eq!(shown.as_ref().unwrap().team.as_ref().map(|team| team.name.as_str()), Some("Team A"));
    }
    assert_eq!(next_queue_event(&mut b_feed).await, (ticket.id, None, None), "hidden from team B");

    // An internal note: staff hear of it, the customer does not.
    agent_a.comment(ticket.id, &CreateComment { body: "between us".into(), internal: true }).await.unwrap();
    queue_events_until(&mut a_feed, ticket.id, with_reason("commented")).await;
    queue_events_until(&mut supervisor_feed, ticket.id, with_reason("commented")).await;
    // Then a public change, which the customer hears of as only that.
    let version = supervisor.get_ticket(ticket.id).await.unwrap().version;
    supervisor.update_ticket(ticket.id, &UpdateTicket { priority: Some(Priority::High), version: Some(version), ..Default::default() }).await.unwrap();
    let events = queue_events_until(&mut customer_feed, ticket.id, |(_, _, shown)| shown.as_ref().is_some_and(|t| t.priority == Priority::High)).await;
    assert!(events.iter().all(|(_, reason, _)| reason.as_deref() != Some("commented")), "no word of the note: {events:?}");

    // Others' tickets never reach a customer, nor team A's an agent of team B: the first
    // events they get are about tickets of their own.
    let own = stranger.create_ticket(&CreateTicket { subject: "Mine".into(), description: "d".into(), ..Default::default() }).await.unwrap();
    assert_eq!(next_queue_event(&mut stranger_feed).await.0, own.id, "the stranger heard of nothing before");
    let events = queue_events_until(&mut b_feed, own.id, with_reason("created")).await;
    assert_eq!(events.len(), 1, "team B heard nothing of team A's ticket after it left: {events:?}");

    // Deleting (admins) tells those who see it to drop it; they stop following on request.
    admin.delete_ticket(ticket.id).await.unwrap();
    queue_events_until(&mut a_feed, ticket.id, with_reason("deleted")).await;
    a_feed.send(&ClientMessage::UnsubscribeQueues).await.unwrap();
    a_feed.send(&ClientMessage::Ping).await.unwrap();
    assert_eq!(next_message(&mut a_feed).await, ServerMessage::Pong);
    admin.restore_ticket(ticket.id).await.unwrap();
    queue_events_until(&mut supervisor_feed, ticket.id, with_reason("restored")).await;
    a_feed.send(&ClientMessage::Ping).await.unwrap();
    assert_eq!(next_message(&mut a_feed).await, ServerMessage::Pong, "nothing more after unsubscribe_queues");

    // With nobody following, the instance stops loading changed tickets.
    assert_eq!(server.state.hub.queue.followers(), 4);
    for feed in [customer_feed, stranger_feed, a_feed, b_feed, supervisor_feed] {
        feed.close().await;
    }
    let unfollowed = async {
        while server.state.hub.queue.followers() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, unfollowed).await.expect("closed connections stop following");
}

/// Presence messages until (and with) the first about `ticket` that satisfies `done`;
/// everything else a follower hears meanwhile (queue events, pongs) is skipped.
async fn presence_until(live: &mut Live, ticket: Uuid, done: impl Fn(&[Uuid]) -> bool) -> Vec<Uuid> {
    let mut about = Vec::new();
    loop {
        if let ServerMessage::Presence { ticket_id, viewing, .. } = next(live).await {
            about.push(ticket_id);
            if ticket_id == ticket && done(&viewing) {
                return about;
            }
        }
    }
}

/// Following the queues, a connection hears who views every ticket it may see (the queue's
/// "someone else is viewing" mark), and only those: at once for rooms already busy, live
/// after that, and following the ticket when it moves to another team.
async fn queue_followers_hear_presence_on_what_they_may_see(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let (customer, _) = server.user(Role::Customer).await;
    let (agent_a, agent_a_user) = server.user(Role::Agent).await;
    let (agent_b, agent_b_user) = server.user(Role::Agent).await;
    let (supervisor, supervisor_user) = server.user(Role::Supervisor).await;
    let team_a = admin.create_team(&CreateTeam { name: "Team A".into(), description: None }).await.unwrap();
    let team_b = admin.create_team(&CreateTeam { name: "Team B".into(), description: None }).await.unwrap();
    admin.add_team_member(team_a.id, agent_a_user.id).await.unwrap();
    admin.add_team_member(team_b.id, agent_b_user.id).await.unwrap();
    let raise = |subject: &str, team: Uuid| CreateTicket { subject: subject.into(), description: "d".into(), team_id: Some(team), ..Default::default() };
    let ours = customer.create_ticket(&raise("Team A's", team_a.id)).await.unwrap();
    let theirs = customer.create_ticket(&raise("Team B's", team_b.id)).await.unwrap();
    let later = customer.create_ticket(&raise("Team B's later", team_b.id)).await.unwrap();

    let mut a_feed = follow_queues(&agent_a).await;
    let mut looking = supervisor.connect_live().await.unwrap();
    subscribe(&mut looking, theirs.id, None).await;
    subscribe(&mut looking, ours.id, None).await;
    let heard = presence_until(&mut a_feed, ours.id, |viewing| viewing == [supervisor_user.id]).await;
    assert!(heard.iter().all(|ticket| *ticket == ours.id), "never team B's ticket: {heard:?}");

    // Following later: the rooms already busy come with the answer, those it may see only.
    let mut b_feed = agent_b.connect_live().await.unwrap();
    b_feed.send(&ClientMessage::SubscribeQueues).await.unwrap();
    b_feed.send(&ClientMessage::Ping).await.unwrap();
    let mut snapshot = Vec::new();
    loop {
        match next(&mut b_feed).await {
            ServerMessage::Presence { ticket_id, viewing, .. } => snapshot.push((ticket_id, viewing)),
            ServerMessage::Pong => break,
            _ => {}
        }
    }
    assert_eq!(snapshot, vec![(theirs.id, vec![supervisor_user.id])]);

    // Team B's ticket moves to team A: team A hears of its room from then on, team B no more.
    supervisor.assign(theirs.id, &AssignRequest { team_id: Some(team_a.id), ..Default::default() }).await.unwrap();
    // (Named `assigned`, or `created` when its creation goes out in the same batch.)
    queue_events_until(&mut a_feed, theirs.id, |(_, _, shown)| shown.as_ref().is_some_and(|t| t.team_id == Some(team_a.id))).await;
    looking.send(&ClientMessage::Unsubscribe { ticket_id: theirs.id }).await.unwrap();
    assert_eq!(next_message(&mut looking).await, ServerMessage::Unsubscribed { ticket_id: theirs.id });
    presence_until(&mut a_feed, theirs.id, <[Uuid]>::is_empty).await;
    subscribe(&mut looking, later.id, None).await;
    let heard = presence_until(&mut b_feed, later.id, |viewing| !viewing.is_empty()).await;
    assert_eq!(heard, vec![later.id], "team B heard nothing more of the ticket it lost");
}

/// A bulk update of 500 tickets reaches a follower as one event per ticket at most a few
/// times over, without a resync.
async fn a_burst_reaches_the_queues_without_overload(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (supervisor, _) = server.user(Role::Supervisor).await;
    let mut ids = Vec::new();
    for i in 0..500 {
        let ticket = supervisor.create_ticket(&CreateTicket { subject: format!("burst {i}"), description: "d".into(), ..Default::default() }).await.unwrap();
        ids.push(ticket.id);
    }
    let mut feed = follow_queues(&supervisor).await;
    let request = BulkUpdate {
        ids: Some(ids.clone()),
        set: Some(FieldChanges { priority: Some(Priority::Urgent), add_tags: vec!["outage".into()], ..Default::default() }),
        ..Default::default()
    };
    let outcome = supervisor.bulk_update(&request).await.unwrap();
    assert_eq!(outcome.succeeded, 500);
    let mut waiting: std::collections::HashSet<Uuid> = ids.into_iter().collect();
    let mut events = 0;
    while !waiting.is_empty() {
        let (id, _, shown) = next_queue_event(&mut feed).await;
        events += 1;
        if shown.is_some_and(|t| t.priority == Priority::Urgent && t.tags == ["outage"]) {
            waiting.remove(&id);
        }
    }
    // Creation events still in flight when the feed was followed may come too; the two
    // changes of each ticket (priority, tags) travel together at most.
    assert!(events <= 1500, "{events} events for 500 tickets");
}

backend_tests!(
    the_queue_feed_follows_visibility,
    queue_followers_hear_presence_on_what_they_may_see,
    a_burst_reaches_the_queues_without_overload,
    authentication_is_required_and_checked,
    forbidden_rooms_answer_not_found,
    messages_are_stored_ordered_and_shown_over_rest,
    reconnecting_with_the_last_seq_misses_nothing,
    presence_shows_who_views_and_types,
    notifications_arrive_live_and_over_rest,
    a_slow_client_is_told_to_resync,
    merged_comments_arrive_in_the_survivors_room,
);

/// A message sent through instance A reaches a client connected to instance B.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgres_exchange_chat() {
    let first = TestServer::start(Backend::Postgres).await;
    let second = TestServer::start_config(first.config.clone(), tempfile::tempdir().unwrap()).await;
    let (customer, agent, ticket) = setup(&first).await;
    let agent_on_b = second.anonymous();
    agent_on_b.set_token(agent.token());
    let mut on_a = customer.connect_live().await.unwrap();
    let mut on_b = agent_on_b.connect_live().await.unwrap();
    subscribe(&mut on_a, ticket.id, None).await;
    subscribe(&mut on_b, ticket.id, None).await;
    say(&mut on_a, ticket.id, "from A").await;
    match next_message(&mut on_b).await {
        ServerMessage::Message { comment, .. } => assert_eq!(comment.body, "from A"),
        other => panic!("{other:?}"),
    }
    say(&mut on_b, ticket.id, "from B").await;
    match next_message(&mut on_a).await {
        ServerMessage::Message { comment, .. } => assert_eq!(comment.body, "from B"),
        other => panic!("{other:?}"),
    }
}

/// Presence refreshes gathered on one instance reach the other, together, within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presence_refreshes_cross_instances_in_batches() {
    let first = TestServer::start(Backend::Postgres).await;
    let second = TestServer::start_config(first.config.clone(), tempfile::tempdir().unwrap()).await;
    let rooms: Vec<(Uuid, Uuid)> = (0..200).map(|_| (Uuid::now_v7(), Uuid::now_v7())).collect();
    let arrived = async {
        loop {
            // Refreshed again and again, as heartbeats do: a batch sent before the other
            // instance was listening is simply missed.
            for (ticket_id, user_id) in &rooms {
                first.state.hub.refresh(*ticket_id, *user_id);
            }
            if rooms.iter().all(|(ticket_id, user_id)| second.state.hub.presence(*ticket_id).0.contains(user_id)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(PATIENCE, arrived).await.expect("every refresh reached the other instance");
}

/// Presence announced through instance A names the person on instance B, which never saw them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presence_names_cross_instances() {
    let first = TestServer::start(Backend::Postgres).await;
    let second = TestServer::start_config(first.config.clone(), tempfile::tempdir().unwrap()).await;
    let (_, agent, ticket) = setup(&first).await;
    let (other_agent, other) = first.user(Role::Agent).await;
    let agent_on_b = second.anonymous();
    agent_on_b.set_token(agent.token());
    let mut on_b = agent_on_b.connect_live().await.unwrap();
    subscribe(&mut on_b, ticket.id, None).await;
    let mut on_a = other_agent.connect_live().await.unwrap();
    subscribe(&mut on_a, ticket.id, None).await;
    loop {
        if let ServerMessage::Presence { viewing, people, .. } = next(&mut on_b).await
            && viewing.contains(&other.id)
        {
            assert!(people.iter().any(|p| p.id == other.id && p.name == other.name && p.email == other.email), "{people:?}");
            break;
        }
    }
}

/// A ticket created through instance A reaches a queue follower on instance B, with names.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgres_share_the_queue_feed() {
    let first = TestServer::start(Backend::Postgres).await;
    let second = TestServer::start_config(first.config.clone(), tempfile::tempdir().unwrap()).await;
    let (customer, customer_user) = first.user(Role::Customer).await;
    let (agent, _) = first.user(Role::Agent).await;
    let agent_on_b = second.anonymous();
    agent_on_b.set_token(agent.token());
    let mut feed = follow_queues(&agent_on_b).await;
    let ticket = customer.create_ticket(&CreateTicket { subject: "Across".into(), description: "d".into(), ..Default::default() }).await.unwrap();
    let (id, reason, shown) = next_queue_event(&mut feed).await;
    assert_eq!((id, reason.as_deref()), (ticket.id, Some("created")));
    assert_eq!(shown.unwrap().requester.map(|r| r.email), Some(customer_user.email));
    agent.comment(ticket.id, &CreateComment { body: "on it".into(), internal: false }).await.unwrap();
    let events = queue_events_until(&mut feed, ticket.id, with_reason("commented")).await;
    assert_eq!(events.len(), 1, "{events:?}");
}

/// A person's own message must not hide one committed just before it that is still on its way
/// from the other instance: replying right after someone else's REST reply, every time, the
/// room shows both, each once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_echo_never_overtakes_an_earlier_message() {
    let first = TestServer::start(Backend::Postgres).await;
    let second = TestServer::start_config(first.config.clone(), tempfile::tempdir().unwrap()).await;
    let (customer, agent, ticket) = setup(&first).await;
    let agent_on_b = second.anonymous();
    agent_on_b.set_token(agent.token());
    let mut on_a = customer.connect_live().await.unwrap();
    subscribe(&mut on_a, ticket.id, None).await;
    const ROUNDS: usize = 10;
    let mut seen = Vec::new();
    // Keeps each chat message; answers the client_ref it carried.
    fn record(seen: &mut Vec<(i64, String)>, message: ServerMessage) -> Option<String> {
        match message {
            ServerMessage::Message { seq, comment, client_ref, .. } => {
                seen.push((seq, comment.body));
                client_ref
            }
            ServerMessage::Notification { .. } => None,
            other => panic!("{other:?}"),
        }
    }
    for round in 0..ROUNDS {
        agent_on_b.comment(ticket.id, &CreateComment { body: format!("agent {round}"), internal: false }).await.unwrap();
        let body = format!("customer {round}");
        on_a.send(&ClientMessage::Send { ticket_id: ticket.id, body: body.clone(), internal: false, client_ref: Some(body.clone()) })
            .await
            .unwrap();
        while record(&mut seen, next_message(&mut on_a).await).as_deref() != Some(body.as_str()) {}
    }
    // Without the gap check, an agent's reply that arrives after the customer's echo is dropped
    // and this waits in vain.
    while seen.len() < 2 * ROUNDS {
        record(&mut seen, next_message(&mut on_a).await);
    }
    let seqs: Vec<i64> = seen.iter().map(|(seq, _)| *seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "in order, each once: {seen:?}");
    let expected: Vec<String> = (0..ROUNDS).flat_map(|r| [format!("agent {r}"), format!("customer {r}")]).collect();
    assert_eq!(seen.into_iter().map(|(_, body)| body).collect::<Vec<_>>(), expected);
}
