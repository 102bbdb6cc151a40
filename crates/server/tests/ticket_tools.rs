//! Agent tools on both backends: merging, typed links, bulk updates with mixed permissions,
//! canned replies and macros (shared and personal), saved views.

mod common;

use std::collections::BTreeMap;

use common::{Backend, TestServer, assert_api_error};
use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{
    ApplyMacro, BulkItemResult, BulkUpdate, CannedReplyInput, CannedReplyUpdate, CreateComment, CreateLink, CreateTicket,
    FieldChanges, LinkKind, MacroInput, MacroUpdate, MergeRequest, Priority, ReplyAction, SavedViewInput, SavedViewUpdate,
    Status, Ticket, TicketActions, TicketListQuery, TransitionRequest, ViewPageQuery,
};
use uuid::Uuid;

fn ticket(subject: &str) -> CreateTicket {
    CreateTicket { subject: subject.into(), description: format!("{subject}, described"), ..Default::default() }
}

fn reply(body: &str, internal: bool) -> CreateComment {
    CreateComment { body: body.into(), internal }
}

async fn set_status(server: &TestServer, id: Uuid, status: Status) {
    hdms_server::with_db!(&server.state.db, pool => sqlx::query("UPDATE tickets SET status = $1 WHERE id = $2")
        .bind(status.as_str()).bind(id).execute(pool).await.unwrap().rows_affected());
}

async fn watchers(server: &TestServer, id: Uuid) -> Vec<Uuid> {
    let mut found: Vec<Uuid> = hdms_server::with_db!(&server.state.db, pool =>
        sqlx::query_scalar("SELECT user_id FROM ticket_watchers WHERE ticket_id = $1").bind(id).fetch_all(pool).await.unwrap());
    found.sort();
    found
}

/// An attachment row on a ticket, as an upload would leave it (the content is not needed here).
async fn attach(server: &TestServer, ticket: Uuid, uploader: Uuid) -> Uuid {
    let (id, now, sha) = (Uuid::now_v7(), chrono::Utc::now(), format!("{:0>64}", Uuid::now_v7().simple()));
    hdms_server::with_db!(&server.state.db, pool => {
        sqlx::query("INSERT INTO attachment_blobs (sha256, size, scan_state, next_work_at, created_at) VALUES ($1, 3, 'clean', $2, $2)")
            .bind(&sha).bind(now).execute(pool).await.unwrap();
        sqlx::query("INSERT INTO attachments (id, ticket_id, sha256, file_name, content_type, uploaded_by, created_at) \
                     VALUES ($1, $2, $3, 'log.txt', 'text/plain', $4, $5)")
            .bind(id).bind(ticket).bind(&sha).bind(uploader).bind(now).execute(pool).await.unwrap().rows_affected()
    });
    id
}

async fn attachment_ticket(server: &TestServer, id: Uuid) -> Uuid {
    hdms_server::with_db!(&server.state.db, pool =>
        sqlx::query_scalar("SELECT ticket_id FROM attachments WHERE id = $1").bind(id).fetch_one(pool).await.unwrap())
}

async fn search(client: &Client, text: &str) -> Vec<Uuid> {
    let query = TicketListQuery { q: Some(text.into()), ..Default::default() };
    client.list_tickets(&query).await.unwrap().items.into_iter().map(|t| t.id).collect()
}

async fn fields(client: &Client, id: Uuid) -> Vec<String> {
    client.history(id).await.unwrap().into_iter().map(|h| h.field).collect()
}

// --- merge ---------------------------------------------------------------------------------

async fn merge_moves_everything_to_the_survivor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (customer, customer_user) = server.user(Role::Customer).await;
    let (agent, agent_user) = server.user(Role::Agent).await;
    let a = customer.create_ticket(&CreateTicket { tags: vec!["printer".into()], ..ticket("Printer jams") }).await.unwrap();
    let b = customer.create_ticket(&CreateTicket { tags: vec!["office".into()], ..ticket("Printer broken again") }).await.unwrap();
    customer.comment(a.id, &reply("the paper tray squeaks loudly", false)).await.unwrap();
    agent.comment(a.id, &reply("suspect the fuser assembly", true)).await.unwrap();
    let child = agent.create_subticket(a.id, &ticket("Order a fuser")).await.unwrap();
    hdms_server::with_db!(&server.state.db, pool => sqlx::query("INSERT INTO ticket_watchers (ticket_id, user_id) VALUES ($1, $2)")
        .bind(a.id).bind(agent_user.id).execute(pool).await.unwrap().rows_affected());
    let file = attach(&server, a.id, customer_user.id).await;
    let a = agent.get_ticket(a.id).await.unwrap();

    // Refusals first: nothing changes.
    assert_api_error(customer.merge_ticket(a.id, &MergeRequest { into: b.id, version: None }).await, 403, "forbidden");
    assert_api_error(agent.merge_ticket(a.id, &MergeRequest { into: a.id, version: None }).await, 422, "validation_failed");
    assert_api_error(agent.merge_ticket(a.id, &MergeRequest { into: Uuid::now_v7(), version: None }).await, 422, "validation_failed");
    assert_api_error(agent.merge_ticket(a.id, &MergeRequest { into: b.id, version: Some(a.version - 1) }).await, 409, "version_conflict");
    assert_api_error(agent.merge_ticket(a.id, &MergeRequest { into: child.id, version: None }).await, 422, "validation_failed");
    assert_eq!(agent.get_ticket(a.id).await.unwrap().version, a.version);

    let result = agent.merge_ticket(a.id, &MergeRequest { into: b.id, version: Some(a.version) }).await.unwrap();
    assert_eq!(result.merged.status, Status::Closed);
    assert_eq!(result.merged.merged_into_id, Some(b.id));
    assert_eq!(result.comments_moved, 2);
    assert_eq!(result.comments_made_internal, 0);
    assert_eq!(result.subtickets_moved, 1);
    assert_eq!((result.attachments_moved, result.attachments_left, result.watchers_moved), (1, 0, 1));
    assert_eq!(attachment_ticket(&server, file).await, b.id);
    assert_eq!(result.survivor.tags, vec!["office".to_owned(), "printer".to_owned()]);
    assert_eq!(result.survivor.children_total, 1);
    assert_eq!(agent.get_ticket(child.id).await.unwrap().parent_id, Some(b.id));
    assert!(agent.list_comments(a.id).await.unwrap().is_empty());

    // The customer sees their reply on the survivor, never the internal notes.
    let theirs: Vec<String> = customer.list_comments(b.id).await.unwrap().into_iter().map(|c| c.body).collect();
    assert_eq!(theirs, vec!["the paper tray squeaks loudly".to_owned()]);
    let staff: Vec<(String, bool)> = agent.list_comments(b.id).await.unwrap().into_iter().map(|c| (c.body, c.internal)).collect();
    assert_eq!(staff.len(), 3, "{staff:?}");
    let (note, internal) = staff.last().unwrap();
    assert!(*internal && note.starts_with(&format!("Merged {}", a.number)), "the survivor's conversation continues in order: {staff:?}");

    // Watchers moved, search follows the comments, both histories tell.
    assert_eq!(watchers(&server, b.id).await, { let mut w = vec![customer_user.id, agent_user.id]; w.sort(); w });
    assert!(watchers(&server, a.id).await.is_empty());
    assert_eq!(search(&customer, "squeaks").await, vec![b.id]);
    assert!(search(&customer, "fuser assembly").await.is_empty(), "internal notes stay unsearchable for customers");
    assert!(search(&agent, "fuser assembly").await.contains(&b.id));
    let merged_history = fields(&agent, a.id).await;
    assert!(merged_history.contains(&"merged_into".to_owned()) && merged_history.contains(&"status".to_owned()), "{merged_history:?}");
    assert!(fields(&customer, b.id).await.contains(&"merged".to_owned()));

    // A merged (closed) ticket can neither be merged again nor be merged into.
    let c = customer.create_ticket(&ticket("Third report")).await.unwrap();
    assert_api_error(agent.merge_ticket(a.id, &MergeRequest { into: c.id, version: None }).await, 422, "validation_failed");
    assert_api_error(agent.merge_ticket(c.id, &MergeRequest { into: a.id, version: None }).await, 422, "validation_failed");
    customer.transition(c.id, &TransitionRequest { to: Status::Cancelled, comment: None, version: None }).await.unwrap();
    assert_api_error(agent.merge_ticket(b.id, &MergeRequest { into: c.id, version: None }).await, 422, "validation_failed");
}

async fn merge_across_requesters_and_teams(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let (first, first_user) = server.user(Role::Customer).await;
    let (second, _) = server.user(Role::Customer).await;
    let (agent, agent_user) = server.user(Role::Agent).await;
    let (supervisor, _) = server.user(Role::Supervisor).await;
    let desk = admin.create_team(&CreateTeam { name: "Desk".into(), description: None }).await.unwrap();
    let other = admin.create_team(&CreateTeam { name: "Other".into(), description: None }).await.unwrap();
    admin.add_team_member(desk.id, agent_user.id).await.unwrap();

    let x = first.create_ticket(&CreateTicket { team_id: Some(desk.id), ..ticket("VPN down") }).await.unwrap();
    first.comment(x.id, &reply("my password is hunter2 zebra", false)).await.unwrap();
    let file = attach(&server, x.id, first_user.id).await;
    let y = second.create_ticket(&CreateTicket { team_id: Some(other.id), ..ticket("VPN down for me too") }).await.unwrap();

    // The agent cannot see the survivor (another team's ticket): refused, as if absent.
    assert_api_error(agent.merge_ticket(x.id, &MergeRequest { into: y.id, version: None }).await, 422, "validation_failed");
    // Nor the other way round: the path ticket is not theirs to see.
    assert_api_error(agent.merge_ticket(y.id, &MergeRequest { into: x.id, version: None }).await, 404, "not_found");
    assert_eq!(agent.get_ticket(x.id).await.unwrap().status, Status::New);

    let result = supervisor.merge_ticket(x.id, &MergeRequest { into: y.id, version: None }).await.unwrap();
    assert_eq!(result.comments_moved, 1);
    assert_eq!(result.comments_made_internal, 1);
    assert_eq!((result.attachments_moved, result.attachments_left), (0, 1));
    assert_eq!(attachment_ticket(&server, file).await, x.id, "the first customer's file stays on their ticket");
    // The second customer never sees the first one's words, in the conversation or in search.
    assert!(second.list_comments(y.id).await.unwrap().is_empty());
    assert!(search(&second, "zebra").await.is_empty());
    assert!(supervisor.list_comments(y.id).await.unwrap().iter().all(|c| c.internal));
    // The first customer does not become a watcher of a ticket they cannot see.
    assert!(!watchers(&server, y.id).await.contains(&first_user.id));
    assert_api_error(first.get_ticket(y.id).await, 404, "not_found");
    assert_eq!(first.get_ticket(x.id).await.unwrap().merged_into_id, Some(y.id));
}

// --- links ---------------------------------------------------------------------------------

async fn links_are_typed_and_shown_both_ways(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let (customer, _) = server.user(Role::Customer).await;
    let (stranger, _) = server.user(Role::Customer).await;
    let (agent, agent_user) = server.user(Role::Agent).await;
    let hidden_team = admin.create_team(&CreateTeam { name: "Hidden".into(), description: None }).await.unwrap();
    let a = customer.create_ticket(&ticket("Mail bounces")).await.unwrap();
    let b = customer.create_ticket(&ticket("Mail bounces again")).await.unwrap();
    let outage = agent.create_ticket(&ticket("Mail server outage")).await.unwrap();
    let hidden = stranger.create_ticket(&CreateTicket { team_id: Some(hidden_team.id), ..ticket("Elsewhere") }).await.unwrap();

    let dup = agent.create_link(a.id, &CreateLink { to: b.id, kind: LinkKind::DuplicateOf }).await.unwrap();
    assert_eq!((dup.from_ticket_id, dup.to_ticket_id, dup.other.id), (a.id, b.id, b.id));
    let cause = agent.create_link(a.id, &CreateLink { to: outage.id, kind: LinkKind::CausedBy }).await.unwrap();
    agent.create_link(b.id, &CreateLink { to: outage.id, kind: LinkKind::Related }).await.unwrap();
    assert_eq!(cause.created_by, agent_user.id);

    assert_api_error(agent.create_link(a.id, &CreateLink { to: b.id, kind: LinkKind::DuplicateOf }).await, 409, "link_exists");
    assert_api_error(agent.create_link(outage.id, &CreateLink { to: b.id, kind: LinkKind::Related }).await, 409, "link_exists");
    assert_api_error(agent.create_link(a.id, &CreateLink { to: a.id, kind: LinkKind::Related }).await, 422, "validation_failed");
    assert_api_error(agent.create_link(a.id, &CreateLink { to: hidden.id, kind: LinkKind::Related }).await, 422, "validation_failed");
    assert_api_error(customer.create_link(a.id, &CreateLink { to: b.id, kind: LinkKind::Related }).await, 403, "forbidden");

    let of_a: Vec<(LinkKind, Uuid)> = agent.list_links(a.id).await.unwrap().into_iter().map(|l| (l.kind, l.other.id)).collect();
    assert_eq!(of_a, vec![(LinkKind::DuplicateOf, b.id), (LinkKind::CausedBy, outage.id)]);
    let of_b: Vec<(LinkKind, Uuid)> = agent.list_links(b.id).await.unwrap().into_iter().map(|l| (l.kind, l.other.id)).collect();
    assert_eq!(of_b, vec![(LinkKind::DuplicateOf, a.id), (LinkKind::Related, outage.id)]);
    // A customer sees links between their own tickets only.
    let customers: Vec<Uuid> = customer.list_links(a.id).await.unwrap().into_iter().map(|l| l.other.id).collect();
    assert_eq!(customers, vec![b.id]);
    assert_api_error(stranger.list_links(a.id).await, 404, "not_found");
    assert!(fields(&customer, b.id).await.contains(&"link".to_owned()));

    agent.delete_link(b.id, dup.id).await.unwrap();
    assert_eq!(agent.list_links(a.id).await.unwrap().len(), 1);
    assert_api_error(agent.delete_link(b.id, dup.id).await, 404, "not_found");
    assert_api_error(agent.delete_link(outage.id, cause.id).await.and(agent.delete_link(outage.id, cause.id).await), 404, "not_found");
}

// --- bulk ----------------------------------------------------------------------------------

fn result_of(results: &[BulkItemResult], id: Uuid) -> &BulkItemResult {
    results.iter().find(|r| r.id == id).expect("a result per ticket")
}

async fn bulk_update_checks_each_ticket_on_its_own(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let (customer, _) = server.user(Role::Customer).await;
    let (agent, agent_user) = server.user(Role::Agent).await;
    let (_, other_agent) = server.user(Role::Agent).await;
    let (supervisor, _) = server.user(Role::Supervisor).await;
    let ours = admin.create_team(&CreateTeam { name: "Ours".into(), description: None }).await.unwrap();
    let theirs = admin.create_team(&CreateTeam { name: "Theirs".into(), description: None }).await.unwrap();
    admin.add_team_member(ours.id, agent_user.id).await.unwrap();
    admin.add_team_member(ours.id, other_agent.id).await.unwrap();
    let in_team = |subject: &str, team: Uuid| CreateTicket { team_id: Some(team), ..ticket(subject) };

    let fine = customer.create_ticket(&in_team("fine", ours.id)).await.unwrap();
    let stale = customer.create_ticket(&in_team("stale", ours.id)).await.unwrap();
    let invisible = customer.create_ticket(&in_team("invisible", theirs.id)).await.unwrap();
    let someone_elses = customer.create_ticket(&in_team("someone else's", ours.id)).await.unwrap();
    hdms_server::with_db!(&server.state.db, pool => sqlx::query("UPDATE tickets SET assignee_id = $1 WHERE id = $2")
        .bind(other_agent.id).bind(someone_elses.id).execute(pool).await.unwrap().rows_affected());
    let cancelled = customer.create_ticket(&in_team("cancelled", ours.id)).await.unwrap();
    customer.transition(cancelled.id, &TransitionRequest { to: Status::Cancelled, comment: None, version: None }).await.unwrap();
    let resolved = customer.create_ticket(&in_team("resolved", ours.id)).await.unwrap();
    set_status(&server, resolved.id, Status::Resolved).await;
    let absent = Uuid::now_v7();

    let order = vec![fine.id, stale.id, invisible.id, someone_elses.id, cancelled.id, resolved.id, absent, fine.id];
    let snapshot: Vec<Ticket> = {
        let mut all = Vec::new();
        for id in [stale.id, someone_elses.id, cancelled.id, resolved.id] {
            all.push(supervisor.get_ticket(id).await.unwrap());
        }
        all
    };
    let request = BulkUpdate {
        ids: Some(order.clone()),
        versions: BTreeMap::from([(stale.id, stale.version - 1)]),
        set: Some(FieldChanges { priority: Some(Priority::High), add_tags: vec!["Bulk".into()], assignee_id: Some(Some(agent_user.id)), ..Default::default() }),
        reply: Some(ReplyAction { body: "We are on it".into(), internal: false }),
        transition: Some(Status::InProgress),
        ..Default::default()
    };
    assert_api_error(customer.bulk_update(&request).await, 403, "forbidden");
    let outcome = agent.bulk_update(&request).await.unwrap();
    let got: Vec<Uuid> = outcome.results.iter().map(|r| r.id).collect();
    assert_eq!(got, order[..7].to_vec(), "one result per ticket, in the order given, duplicates once");
    assert_eq!((outcome.succeeded, outcome.failed), (1, 6), "{outcome:#?}");
    let expect = |id: Uuid, status: u16, code: &str| {
        let r = result_of(&outcome.results, id);
        assert!(!r.ok, "{r:?}");
        assert_eq!((r.http_status, r.error.as_ref().map(|e| e.code.as_str())), (status, Some(code)), "{r:?}");
    };
    expect(stale.id, 409, "version_conflict");
    expect(invisible.id, 404, "not_found");
    expect(someone_elses.id, 403, "forbidden");
    expect(cancelled.id, 422, "validation_failed");
    expect(resolved.id, 422, "validation_failed");
    expect(absent, 404, "not_found");
    let moved = result_of(&outcome.results, resolved.id).error.clone().unwrap();
    assert!(moved.message.contains("resolved") && moved.message.contains("in_progress"), "{moved:?}");

    let done = agent.get_ticket(fine.id).await.unwrap();
    assert_eq!(result_of(&outcome.results, fine.id).version, Some(done.version));
    assert_eq!((done.priority, done.status, done.assignee_id), (Priority::High, Status::InProgress, Some(agent_user.id)));
    assert_eq!(done.tags, vec!["bulk".to_owned()]);
    assert_eq!(customer.list_comments(fine.id).await.unwrap().len(), 1);
    // Every failed ticket is exactly as it was: no field change survived a later refusal.
    for before in snapshot {
        let after = supervisor.get_ticket(before.id).await.unwrap();
        assert_eq!((after.version, after.priority, &after.tags), (before.version, before.priority, &before.tags), "{}", before.subject);
        assert!(supervisor.list_comments(before.id).await.unwrap().is_empty(), "{}", before.subject);
    }

    // By filter: only what the caller sees; the same rules apply.
    let by_tag = BulkUpdate {
        filter: Some(TicketListQuery { tag: Some("bulk".into()), ..Default::default() }),
        set: Some(FieldChanges { remove_tags: vec!["bulk".into()], priority: Some(Priority::Low), ..Default::default() }),
        ..Default::default()
    };
    let outcome = supervisor.bulk_update(&by_tag).await.unwrap();
    assert_eq!(outcome.results.iter().map(|r| (r.id, r.ok)).collect::<Vec<_>>(), vec![(fine.id, true)]);
    let after = agent.get_ticket(fine.id).await.unwrap();
    assert_eq!((after.priority, after.tags.len()), (Priority::Low, 0));
    let searched = BulkUpdate {
        filter: Some(TicketListQuery { q: Some("invisible".into()), ..Default::default() }),
        set: Some(FieldChanges { priority: Some(Priority::Urgent), ..Default::default() }),
        ..Default::default()
    };
    assert_eq!(agent.bulk_update(&searched).await.unwrap().results.len(), 0, "search results are the caller's own");

    // Whole-request mistakes answer 422 and change nothing.
    let too_many = BulkUpdate { ids: Some((0..1001).map(|_| Uuid::now_v7()).collect()), filter: None, ..by_tag.clone() };
    assert_api_error(agent.bulk_update(&too_many).await, 422, "validation_failed");
    let both = BulkUpdate { ids: Some(vec![fine.id]), ..by_tag.clone() };
    assert_api_error(agent.bulk_update(&both).await, 422, "validation_failed");
    let nothing = BulkUpdate { ids: Some(vec![fine.id]), ..Default::default() };
    assert_api_error(agent.bulk_update(&nothing).await, 422, "validation_failed");
    let bad_tag = BulkUpdate { ids: Some(vec![fine.id]), set: Some(FieldChanges { add_tags: vec!["a,b".into()], ..Default::default() }), ..Default::default() };
    assert_api_error(agent.bulk_update(&bad_tag).await, 422, "validation_failed");
    assert_eq!(agent.get_ticket(fine.id).await.unwrap().version, after.version);
}

// --- canned replies and macros ------------------------------------------------------------

async fn canned_replies_are_shared_or_personal(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (agent, agent_user) = server.user(Role::Agent).await;
    let (colleague, _) = server.user(Role::Agent).await;
    let (supervisor, _) = server.user(Role::Supervisor).await;
    let (customer, _) = server.user(Role::Customer).await;
    let input = |name: &str, shared: bool| CannedReplyInput { name: name.into(), body: format!("{name} body"), shared };

    let mine = agent.create_canned_reply(&input("My greeting", false)).await.unwrap();
    assert_eq!((mine.shared, mine.owner_id), (false, Some(agent_user.id)));
    assert_api_error(agent.create_canned_reply(&input("Everyone", true)).await, 403, "forbidden");
    let shared = supervisor.create_canned_reply(&input("Everyone", true)).await.unwrap();
    assert_api_error(customer.list_canned_replies().await, 403, "forbidden");
    assert_api_error(agent.create_canned_reply(&input("  ", false)).await, 422, "validation_failed");

    let names = |list: Vec<hdms_api_types::tickets::CannedReply>| list.into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(names(agent.list_canned_replies().await.unwrap()), vec!["Everyone".to_owned(), "My greeting".to_owned()]);
    assert_eq!(names(colleague.list_canned_replies().await.unwrap()), vec!["Everyone".to_owned()]);
    assert_api_error(colleague.get_canned_reply(mine.id).await, 404, "not_found");
    assert_api_error(colleague.delete_canned_reply(mine.id).await, 404, "not_found");

    // Shared ones change only with replies.share; sharing one's own needs it too.
    let edit = CannedReplyUpdate { body: Some("changed".into()), ..Default::default() };
    assert_api_error(agent.update_canned_reply(shared.id, &edit).await, 403, "forbidden");
    assert_api_error(agent.delete_canned_reply(shared.id).await, 403, "forbidden");
    assert_api_error(agent.update_canned_reply(mine.id, &CannedReplyUpdate { shared: Some(true), ..Default::default() }).await, 403, "forbidden");
    let changed = agent.update_canned_reply(mine.id, &edit).await.unwrap();
    assert_eq!((changed.body.as_str(), changed.updated_at.is_some()), ("changed", true));
    assert_eq!(supervisor.update_canned_reply(shared.id, &edit).await.unwrap().body, "changed");

    agent.delete_canned_reply(mine.id).await.unwrap();
    assert_api_error(agent.get_canned_reply(mine.id).await, 404, "not_found");
    assert_eq!(names(agent.list_canned_replies().await.unwrap()), vec!["Everyone".to_owned()]);
    supervisor.delete_canned_reply(shared.id).await.unwrap();
    assert!(colleague.list_canned_replies().await.unwrap().is_empty());
}

async fn macros_apply_through_the_usual_checks(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let (customer, _) = server.user(Role::Customer).await;
    let (agent, _) = server.user(Role::Agent).await;
    let (colleague, _) = server.user(Role::Agent).await;
    let (supervisor, _) = server.user(Role::Supervisor).await;
    let hidden_team = admin.create_team(&CreateTeam { name: "Hidden".into(), description: None }).await.unwrap();

    let escalate = TicketActions {
        set: Some(FieldChanges { priority: Some(Priority::Urgent), add_tags: vec!["vip".into()], ..Default::default() }),
        reply: Some(ReplyAction { body: "Escalated to second line".into(), internal: true }),
        transition: Some(Status::InProgress),
        ..Default::default()
    };
    let input = MacroInput { name: "Escalate".into(), actions: escalate.clone(), shared: true };
    assert_api_error(agent.create_macro(&input).await, 403, "forbidden");
    let shared = supervisor.create_macro(&input).await.unwrap();
    assert_eq!(shared.actions, escalate);
    let personal = agent
        .create_macro(&MacroInput { name: "Ask for logs".into(), actions: TicketActions { transition: Some(Status::PendingCustomer), ..Default::default() }, shared: false })
        .await
        .unwrap();
    assert_api_error(agent.create_macro(&MacroInput { name: "Empty".into(), actions: TicketActions::default(), shared: false }).await, 422, "validation_failed");
    assert_api_error(colleague.get_macro(personal.id).await, 404, "not_found");
    assert_eq!(colleague.list_macros().await.unwrap().len(), 1);
    assert_eq!(agent.list_macros().await.unwrap().len(), 2);
    assert_api_error(agent.update_macro(shared.id, &MacroUpdate { name: Some("Mine now".into()), ..Default::default() }).await, 403, "forbidden");

    let t = customer.create_ticket(&ticket("Payroll is down")).await.unwrap();
    assert_api_error(customer.apply_macro(t.id, shared.id, &ApplyMacro::default()).await, 403, "forbidden");
    assert_api_error(agent.apply_macro(t.id, shared.id, &ApplyMacro { version: Some(t.version + 1) }).await, 409, "version_conflict");
    assert_api_error(colleague.apply_macro(t.id, personal.id, &ApplyMacro::default()).await, 404, "not_found");
    let applied = agent.apply_macro(t.id, shared.id, &ApplyMacro { version: Some(t.version) }).await.unwrap();
    assert_eq!((applied.priority, applied.status, applied.tags.clone()), (Priority::Urgent, Status::InProgress, vec!["vip".to_owned()]));
    assert!(agent.list_comments(t.id).await.unwrap().iter().any(|c| c.internal && c.body == "Escalated to second line"));
    assert!(customer.list_comments(t.id).await.unwrap().is_empty());
    let history = fields(&agent, t.id).await;
    for field in ["priority", "tags", "internal_note", "status"] {
        assert!(history.contains(&field.to_owned()), "{field} in {history:?}");
    }

    // A move the lifecycle forbids refuses the whole macro: nothing else happens either.
    let resolved = customer.create_ticket(&ticket("Printer done")).await.unwrap();
    set_status(&server, resolved.id, Status::Resolved).await;
    let before = agent.get_ticket(resolved.id).await.unwrap();
    assert_api_error(agent.apply_macro(resolved.id, shared.id, &ApplyMacro::default()).await, 422, "validation_failed");
    let after = agent.get_ticket(resolved.id).await.unwrap();
    assert_eq!((after.version, after.priority), (before.version, before.priority));
    assert!(agent.list_comments(resolved.id).await.unwrap().is_empty());
    // A ticket the agent cannot see reads as absent.
    let hidden = customer.create_ticket(&CreateTicket { team_id: Some(hidden_team.id), ..ticket("Elsewhere") }).await.unwrap();
    assert_api_error(agent.apply_macro(hidden.id, shared.id, &ApplyMacro::default()).await, 404, "not_found");

    supervisor.delete_macro(shared.id).await.unwrap();
    assert_api_error(agent.apply_macro(t.id, shared.id, &ApplyMacro::default()).await, 404, "not_found");
    assert_eq!(agent.list_macros().await.unwrap().len(), 1);
}

// --- saved views ---------------------------------------------------------------------------

async fn saved_views_run_through_the_queue(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (customer, _) = server.user(Role::Customer).await;
    let (other_customer, _) = server.user(Role::Customer).await;
    let (agent, _) = server.user(Role::Agent).await;
    let mut urgent = Vec::new();
    for i in 0..3 {
        urgent.push(customer.create_ticket(&CreateTicket { priority: Some(Priority::Urgent), ..ticket(&format!("Urgent {i}")) }).await.unwrap().id);
    }
    customer.create_ticket(&ticket("Calm")).await.unwrap();
    other_customer.create_ticket(&CreateTicket { priority: Some(Priority::Urgent), ..ticket("Someone else's") }).await.unwrap();

    let query = TicketListQuery { priority: Some(Priority::Urgent), sort: Some("created".into()), limit: Some(2), ..Default::default() };
    let view = customer.create_view(&SavedViewInput { name: "Fires".into(), query: query.clone() }).await.unwrap();
    assert_eq!(view.query, query);
    let first = customer.view_tickets(view.id, &ViewPageQuery::default()).await.unwrap();
    assert_eq!(first.items.iter().map(|t| t.id).collect::<Vec<_>>(), urgent[..2].to_vec());
    let rest = customer.view_tickets(view.id, &ViewPageQuery { cursor: first.next_cursor.clone(), limit: None }).await.unwrap();
    assert_eq!(rest.items.iter().map(|t| t.id).collect::<Vec<_>>(), urgent[2..].to_vec());
    assert!(rest.next_cursor.is_none());

    // Views are private; bad queries are refused when saved.
    assert_api_error(other_customer.get_view(view.id).await, 404, "not_found");
    assert_api_error(other_customer.view_tickets(view.id, &ViewPageQuery::default()).await, 404, "not_found");
    assert!(other_customer.list_views().await.unwrap().is_empty());
    let bad = SavedViewInput { name: "Bad".into(), query: TicketListQuery { status: Some("bogus".into()), ..Default::default() } };
    assert_api_error(customer.create_view(&bad).await, 422, "validation_failed");
    // A look-ahead beyond any date (found by Schemathesis: it used to overflow into a 500).
    let far = TicketListQuery { breaching_within: Some(1 << 60), ..Default::default() };
    assert_api_error(agent.create_view(&SavedViewInput { name: "Far".into(), query: far.clone() }).await, 422, "validation_failed");
    assert_api_error(agent.list_tickets(&far).await, 422, "validation_failed");
    let deleted = SavedViewInput { name: "Bin".into(), query: TicketListQuery { deleted: Some(true), ..Default::default() } };
    assert_api_error(agent.create_view(&deleted).await, 403, "forbidden");

    let renamed = customer
        .update_view(view.id, &SavedViewUpdate { name: Some("All mine".into()), query: Some(TicketListQuery::default()) })
        .await
        .unwrap();
    assert_eq!(renamed.name, "All mine");
    assert_eq!(customer.view_tickets(view.id, &ViewPageQuery { limit: Some(50), cursor: None }).await.unwrap().items.len(), 4);
    assert_eq!(customer.list_views().await.unwrap().len(), 1);
    customer.delete_view(view.id).await.unwrap();
    assert_api_error(customer.view_tickets(view.id, &ViewPageQuery::default()).await, 404, "not_found");
    assert!(customer.list_views().await.unwrap().is_empty());
}

backend_tests!(
    merge_moves_everything_to_the_survivor,
    merge_across_requesters_and_teams,
    links_are_typed_and_shown_both_ways,
    bulk_update_checks_each_ticket_on_its_own,
    canned_replies_are_shared_or_personal,
    macros_apply_through_the_usual_checks,
    saved_views_run_through_the_queue,
);
