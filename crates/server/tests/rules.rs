//! Automation rules on both backends: CRUD and the save-time checks; every trigger kind (created,
//! updated with its fields, commented by whom, SLA warning and breach, approval decided, time);
//! each condition operator (through dry runs on chosen tickets); each action (fields, round
//! robin, tags, notes and replies with placeholders, watchers, notifications, webhooks); order,
//! loops stopping, a failing rule turned off with the admins told while the change goes through,
//! the dry run changing nothing, and a time rule acting once with two instances.
//!
//! The servers' own rules job runs once a day here; the tests drive it with `job::run_once` and a
//! clock of their choosing.

mod common;

use chrono::{Duration, Utc};
use common::{Backend, TestServer, assert_api_error};
use hdms_api_types::Role;
use hdms_api_types::approvals::{ApprovalDecision, ApprovalRule, Approver, RequestApproval};
use hdms_api_types::client::Client;
use hdms_api_types::notifications::NotificationListQuery;
use hdms_api_types::rules::{
    CommentSource, Condition, ConditionField as F, ConditionOp as Op, Rule, RuleConditions, RuleInput, RuleTestRequest, RuleTrigger, RuleUpdate,
};
use hdms_api_types::sla::SlaPolicyInput;
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{
    CannedReplyInput, CreateComment, CreateTicket, FieldChanges, MacroInput, NotifyAction, Priority, ReplyAction, Status, Ticket, TicketActions,
    TransitionRequest, UpdateTicket,
};
use hdms_api_types::webhooks::CreateWebhookEndpoint;
use hdms_server::rules::job;
use hdms_server::with_db;
use uuid::Uuid;

async fn server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.rules_check_interval_secs = 86_400;
        c.sla_check_interval_secs = 86_400;
        c.webhook_poll_ms = 3_600_000;
        c.webhook_allow = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
}

fn cond(field: F, op: Op, value: impl ToString) -> Condition {
    Condition { field, op, value: value.to_string() }
}

fn all(conditions: Vec<Condition>) -> RuleConditions {
    RuleConditions { all: conditions, any: Vec::new() }
}

fn rule(name: &str, trigger: RuleTrigger, conditions: RuleConditions, actions: TicketActions) -> RuleInput {
    RuleInput { name: name.to_owned(), position: None, enabled: true, trigger, conditions, actions }
}

fn set(changes: FieldChanges) -> TicketActions {
    TicketActions { set: Some(changes), ..TicketActions::default() }
}

fn add_tag(tag: &str) -> TicketActions {
    set(FieldChanges { add_tags: vec![tag.to_owned()], ..FieldChanges::default() })
}

fn updated(fields: &[&str]) -> RuleTrigger {
    RuleTrigger::TicketUpdated { fields: fields.iter().map(|f| (*f).to_owned()).collect() }
}

fn new_ticket(subject: &str) -> CreateTicket {
    CreateTicket { subject: subject.to_owned(), description: "details".to_owned(), ..CreateTicket::default() }
}

async fn tags_of(client: &Client, id: Uuid) -> Vec<String> {
    client.get_ticket(id).await.unwrap().tags
}

async fn by_rule(client: &Client, ticket: Uuid, rule: Uuid) -> Vec<(String, Option<String>)> {
    let history = client.history(ticket).await.unwrap();
    history.into_iter().filter(|h| h.rule_id == Some(rule)).map(|h| (h.field, h.after)).collect()
}

async fn update(client: &Client, ticket: &Ticket, change: UpdateTicket) -> Ticket {
    client.update_ticket(ticket.id, &UpdateTicket { version: Some(client.get_ticket(ticket.id).await.unwrap().version), ..change }).await.unwrap()
}

// --- CRUD and save-time checks -----------------------------------------------------------------

async fn crud_order_and_save_time_checks(backend: Backend) {
    let server = server(backend).await;
    let admin = server.admin().await;
    let (agent, _) = server.user(Role::Agent).await;

    let second = admin.create_rule(&rule("second", RuleTrigger::TicketCreated, RuleConditions::default(), add_tag("b"))).await.unwrap();
    let first = admin
        .create_rule(&RuleInput { position: Some(0), ..rule("first", RuleTrigger::TicketCreated, RuleConditions::default(), add_tag("a")) })
        .await
        .unwrap();
    let names: Vec<String> = admin.list_rules().await.unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["first", "second"], "by position");
    let read = admin.get_rule(second.id).await.unwrap();
    // (PostgreSQL keeps microseconds.)
    assert_eq!((read.name, read.trigger, read.conditions, read.actions), (second.name.clone(), second.trigger.clone(), second.conditions.clone(), second.actions.clone()));

    let renamed = admin.update_rule(first.id, &RuleUpdate { name: Some("renamed".into()), position: Some(5), ..RuleUpdate::default() }).await.unwrap();
    assert_eq!((renamed.name.as_str(), renamed.position), ("renamed", 5));
    let names: Vec<String> = admin.list_rules().await.unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["second", "renamed"]);
    assert!(!admin.disable_rule(first.id).await.unwrap().enabled);
    assert!(admin.enable_rule(first.id).await.unwrap().enabled);
    admin.delete_rule(first.id).await.unwrap();
    assert_api_error(admin.get_rule(first.id).await, 404, "not_found");

    // Admins only.
    assert_api_error(agent.list_rules().await, 403, "forbidden");

    // Unknown placeholders, in rules, macros and canned replies.
    let note = |body: &str| TicketActions { reply: Some(ReplyAction { body: body.to_owned(), internal: true }), ..TicketActions::default() };
    let bad = admin.create_rule(&rule("bad", RuleTrigger::TicketCreated, RuleConditions::default(), note("Hi {{ requester.password }}"))).await;
    assert_api_error(bad, 422, "validation_failed");
    let err = admin.create_rule(&rule("bad", RuleTrigger::TicketCreated, RuleConditions::default(), note("{{ ticket.secret }}"))).await.unwrap_err();
    assert!(err.to_string().contains("ticket.secret"), "{err}");
    assert_api_error(admin.create_rule(&rule("bad", RuleTrigger::TicketCreated, RuleConditions::default(), note("{{ ticket.number "))).await, 422, "validation_failed");
    assert_api_error(agent.create_macro(&MacroInput { name: "m".into(), actions: note("{{ agent.salary }}"), shared: false }).await, 422, "validation_failed");
    assert_api_error(
        agent.create_canned_reply(&CannedReplyInput { name: "c".into(), body: "{{ requester.phone }}".into(), shared: false }).await,
        422,
        "validation_failed",
    );
    agent.create_canned_reply(&CannedReplyInput { name: "c".into(), body: "Dear {{ requester.name }}".into(), shared: false }).await.unwrap();

    // A condition that does not fit its field.
    let wrong = all(vec![cond(F::Status, Op::Before, "2h")]);
    assert_api_error(admin.create_rule(&rule("bad", RuleTrigger::TicketCreated, wrong, add_tag("x"))).await, 422, "validation_failed");
    let wrong = all(vec![cond(F::Priority, Op::Is, "very")]);
    assert_api_error(admin.create_rule(&rule("bad", RuleTrigger::TicketCreated, wrong, add_tag("x"))).await, 422, "validation_failed");
    assert_api_error(admin.create_rule(&rule("bad", updated(&["colour"]), RuleConditions::default(), add_tag("x"))).await, 422, "validation_failed");

    // A time rule whose actions leave its conditions true would act on every run.
    let waiting = all(vec![cond(F::Status, Op::Is, "pending_customer"), cond(F::InStatus, Op::After, "5d")]);
    let err = admin.create_rule(&rule("nag", RuleTrigger::Time, waiting.clone(), add_tag("nagged"))).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(422));
    assert!(err.to_string().contains("make false"), "{err}");
    let closes = TicketActions { transition: Some(Status::Resolved), ..TicketActions::default() };
    admin.create_rule(&rule("close", RuleTrigger::Time, waiting, closes)).await.unwrap();
    let tagged_once = all(vec![cond(F::Tags, Op::IsNot, "nagged"), cond(F::Age, Op::After, "1d")]);
    admin.create_rule(&rule("nag once", RuleTrigger::Time, tagged_once, add_tag("nagged"))).await.unwrap();
}

// --- event triggers and actions ----------------------------------------------------------------

async fn created_trigger_runs_actions_in_the_change_as_the_rule(backend: Backend) {
    let server = server(backend).await;
    let admin = server.admin().await;
    let (customer, customer_user) = server.user(Role::Customer).await;
    let (agent, agent_user) = server.user(Role::Agent).await;
    let team = admin.create_team(&CreateTeam { name: "Tier 2".into(), description: None }).await.unwrap();
    admin.add_team_member(team.id, agent_user.id).await.unwrap();

    let actions = TicketActions {
        set: Some(FieldChanges { team_id: Some(team.id), add_tags: vec!["vip".into()], round_robin: true, ..FieldChanges::default() }),
        reply: Some(ReplyAction { body: "{{ ticket.number }} from {{ requester.name }} ({{ ticket.priority }}) for {{ agent.name }}".into(), internal: true }),
        watchers: vec![agent_user.id],
        ..TicketActions::default()
    };
    let urgent = all(vec![cond(F::Priority, Op::Is, "urgent"), cond(F::RequesterRole, Op::Is, "customer")]);
    let vip = admin.create_rule(&rule("urgent to tier 2", RuleTrigger::TicketCreated, urgent, actions)).await.unwrap();

    let t = customer.create_ticket(&CreateTicket { priority: Some(Priority::Urgent), ..new_ticket("Down") }).await.unwrap();
    // The answer to the create already holds the rule's changes: they ran in its transaction.
    assert_eq!(t.team_id, Some(team.id));
    assert_eq!(t.tags, ["vip"]);
    assert_eq!(t.assignee_id, Some(agent_user.id), "round robin over the team's one agent");
    let notes = agent.list_comments(t.id).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].body, format!("{} from {} (urgent) for {}", t.number, customer_user.name, agent_user.name));
    assert!(notes[0].internal);
    assert!(agent.list_watchers(t.id).await.unwrap().iter().any(|w| w.user_id == agent_user.id));
    let history = agent.history(t.id).await.unwrap();
    let ruled: Vec<_> = history.iter().filter(|h| h.rule_id == Some(vip.id)).collect();
    assert!(ruled.iter().any(|h| h.field == "team") && ruled.iter().any(|h| h.field == "tags") && ruled.iter().any(|h| h.field == "internal_note"));
    assert!(ruled.iter().all(|h| h.actor_id.is_none()), "done by the rule, not a person");
    assert!(admin.get_rule(vip.id).await.unwrap().last_fired_at.is_some());

    // Conditions that do not hold: nothing happens.
    let normal = customer.create_ticket(&new_ticket("Slow")).await.unwrap();
    assert_eq!((normal.team_id, normal.tags.len()), (None, 0));
    assert!(by_rule(&agent, normal.id, vip.id).await.is_empty());
}

async fn updated_and_comment_triggers(backend: Backend) {
    let server = server(backend).await;
    let admin = server.admin().await;
    let (customer, _) = server.user(Role::Customer).await;
    let (agent, _) = server.user(Role::Agent).await;

    let raised = cond(F::Priority, Op::ChangedTo, "high");
    let escalated = admin.create_rule(&rule("escalated", updated(&["priority"]), all(vec![raised]), add_tag("escalated"))).await.unwrap();
    let left_new = cond(F::Status, Op::ChangedFrom, "new");
    admin.create_rule(&rule("accepted", updated(&["status"]), all(vec![left_new]), add_tag("accepted"))).await.unwrap();
    let by_customer = RuleTrigger::CommentAdded { internal: Some(false), by: vec![CommentSource::Customer] };
    admin.create_rule(&rule("customer spoke", by_customer, RuleConditions::default(), add_tag("customer-replied"))).await.unwrap();
    let noted = RuleTrigger::CommentAdded { internal: Some(true), by: vec![CommentSource::Agent] };
    admin.create_rule(&rule("noted", noted, RuleConditions::default(), add_tag("noted"))).await.unwrap();

    let t = customer.create_ticket(&new_ticket("Printer")).await.unwrap();
    // Another field changing does not trigger a rule on `priority`.
    update(&agent, &t, UpdateTicket { category: Some("hardware".into()), ..UpdateTicket::default() }).await;
    assert!(tags_of(&agent, t.id).await.is_empty());
    update(&agent, &t, UpdateTicket { priority: Some(Priority::Low), ..UpdateTicket::default() }).await;
    assert!(tags_of(&agent, t.id).await.is_empty(), "changed, but not to high");
    update(&agent, &t, UpdateTicket { priority: Some(Priority::High), ..UpdateTicket::default() }).await;
    assert_eq!(tags_of(&agent, t.id).await, ["escalated"]);
    assert_eq!(by_rule(&agent, t.id, escalated.id).await, [("tags".to_owned(), Some("escalated".to_owned()))]);

    agent.transition(t.id, &TransitionRequest { to: Status::Open, comment: None, version: None }).await.unwrap();
    assert_eq!(tags_of(&agent, t.id).await, ["accepted", "escalated"]);

    agent.comment(t.id, &CreateComment { body: "Looking".into(), internal: false }).await.unwrap();
    assert!(!tags_of(&agent, t.id).await.contains(&"customer-replied".to_owned()), "an agent's reply");
    customer.comment(t.id, &CreateComment { body: "Thanks".into(), internal: false }).await.unwrap();
    assert!(tags_of(&agent, t.id).await.contains(&"customer-replied".to_owned()));
    agent.comment(t.id, &CreateComment { body: "Internal".into(), internal: true }).await.unwrap();
    assert!(tags_of(&agent, t.id).await.contains(&"noted".to_owned()));
}

async fn sla_and_approval_triggers_notify_and_call_webhooks(backend: Backend) {
    let server = server(backend).await;
    let admin = server.admin().await;
    let (agent, _) = server.user(Role::Agent).await;
    let (boss, boss_user) = server.user(Role::Supervisor).await;
    let hook = admin
        .create_webhook(&CreateWebhookEndpoint { url: "http://127.0.0.1:9/hook".into(), description: String::new(), events: vec![], enabled: None })
        .await;
    // An endpoint may need events; give it one if so.
    let hook = match hook {
        Ok(hook) => hook,
        Err(_) => admin
            .create_webhook(&CreateWebhookEndpoint {
                url: "http://127.0.0.1:9/hook".into(),
                description: String::new(),
                events: vec![hdms_api_types::webhooks::WebhookEventType::UserCreated],
                enabled: None,
            })
            .await
            .unwrap(),
    };
    let tell = TicketActions {
        notify: Some(NotifyAction {
            roles: vec![Role::Supervisor],
            title: "{{ ticket.number }} breached".into(),
            body: "{{ ticket.subject }}".into(),
            ..NotifyAction::default()
        }),
        webhook_id: Some(hook.endpoint.id),
        ..TicketActions::default()
    };
    let breach = admin.create_rule(&rule("breach", RuleTrigger::SlaBreach, RuleConditions::default(), tell)).await.unwrap();
    admin.create_rule(&rule("warned", RuleTrigger::SlaWarning, RuleConditions::default(), add_tag("warned"))).await.unwrap();
    admin.create_rule(&rule("decided", RuleTrigger::ApprovalDecided, RuleConditions::default(), add_tag("decided"))).await.unwrap();

    admin
        .create_sla_policy(&SlaPolicyInput {
            name: "fast".into(),
            priority: Priority::High,
            category: None,
            team_id: None,
            first_response_secs: 3600,
            resolution_secs: 7200,
            warning_percent: Some(50),
            calendar: None,
        })
        .await
        .unwrap();
    let t = agent.create_ticket(&CreateTicket { priority: Some(Priority::High), ..new_ticket("Outage") }).await.unwrap();
    let now = Utc::now();
    hdms_server::tickets::sla_job::run_once(&server.state, now + Duration::minutes(40)).await.unwrap();
    assert_eq!(tags_of(&agent, t.id).await, ["warned"]);
    hdms_server::tickets::sla_job::run_once(&server.state, now + Duration::minutes(90)).await.unwrap();
    let heard = boss.notifications(&NotificationListQuery::default()).await.unwrap().items;
    let told = heard.iter().find(|n| n.kind == "rule").expect("the rule's notification");
    assert_eq!((told.title.clone(), told.body.clone(), told.ticket_id), (format!("{} breached", t.number), "Outage".to_owned(), Some(t.id)));
    let _ = boss_user;
    const SQL: &str = "SELECT payload FROM webhook_deliveries WHERE endpoint_id = $1 AND event_type = 'rule.fired'";
    let payloads: Vec<String> = with_db!(&server.state.db, pool => sqlx::query_scalar(SQL).bind(hook.endpoint.id).fetch_all(pool).await.unwrap());
    assert_eq!(payloads.len(), 1, "one call of the webhook");
    let payload: serde_json::Value = serde_json::from_str(&payloads[0]).unwrap();
    assert_eq!(payload["data"]["rule_id"], breach.id.to_string());

    let request = RequestApproval { approvers: vec![Approver { user_id: None, role: Some(Role::Supervisor) }], rule: ApprovalRule::Any, reason: None };
    let t = agent.create_ticket(&new_ticket("New laptop")).await.unwrap();
    let approval = agent.request_approval(t.id, &request).await.unwrap();
    assert!(tags_of(&agent, t.id).await.is_empty());
    boss.decide_approval(approval.id, &ApprovalDecision { approve: true, comment: None }).await.unwrap();
    assert_eq!(tags_of(&agent, t.id).await, ["decided"]);
}

// --- conditions ------------------------------------------------------------------------------------

/// Whether a dry run of a rule with these conditions matches the ticket.
async fn matches(admin: &Client, ticket: Uuid, conditions: RuleConditions) -> bool {
    let probe = admin.create_rule(&RuleInput { enabled: false, ..rule("probe", RuleTrigger::TicketCreated, conditions, add_tag("probe")) }).await.unwrap();
    let result = admin.test_rule(probe.id, &RuleTestRequest { ticket_id: Some(ticket) }).await.unwrap();
    admin.delete_rule(probe.id).await.unwrap();
    assert_eq!(result.checked, 1);
    !result.matched.is_empty()
}

async fn each_condition_and_operator(backend: Backend) {
    let server = server(backend).await;
    let admin = server.admin().await;
    let (customer, customer_user) = server.user(Role::Customer).await;
    let (agent, agent_user) = server.user(Role::Agent).await;
    let team = admin.create_team(&CreateTeam { name: "VIP".into(), description: None }).await.unwrap();
    admin.add_team_member(team.id, customer_user.id).await.unwrap_or_else(|_| team.clone());

    let t = customer
        .create_ticket(&CreateTicket { priority: Some(Priority::High), category: Some("Network".into()), tags: vec!["vpn".into()], ..new_ticket("VPN") })
        .await
        .unwrap();
    let one = |c: Condition| all(vec![c]);
    let expect = [
        (cond(F::Status, Op::Is, "new"), true),
        (cond(F::Status, Op::IsNot, "new"), false),
        (cond(F::Priority, Op::Is, "high"), true),
        (cond(F::Priority, Op::IsNot, "low"), true),
        (cond(F::Team, Op::Is, "none"), true),
        (cond(F::Assignee, Op::Is, "none"), true),
        (cond(F::Assignee, Op::Is, agent_user.id), false),
        (cond(F::Tags, Op::Contains, "vpn"), true),
        (cond(F::Tags, Op::IsNot, "vpn"), false),
        (cond(F::Category, Op::Is, "network"), true),
        (cond(F::Category, Op::Contains, "work"), true),
        (cond(F::Requester, Op::Is, customer_user.id), true),
        (cond(F::RequesterRole, Op::Is, "customer"), true),
        (cond(F::RequesterRole, Op::IsNot, "customer"), false),
        (cond(F::Channel, Op::Is, "web"), true),
        (cond(F::Channel, Op::Is, "email"), false),
        (cond(F::Age, Op::Before, "1h"), true),
        (cond(F::Age, Op::After, "1h"), false),
        (cond(F::InStatus, Op::Before, "1h"), true),
        (cond(F::SinceUpdate, Op::After, "1d"), false),
        (cond(F::SinceAssignment, Op::Before, "1h"), true),
        (cond(F::SinceCustomerReply, Op::Before, "1h"), true),
        (cond(F::BusinessHours, Op::Is, "true"), true),
        // No change in a dry run: changed_to and changed_from never hold there.
        (cond(F::Status, Op::ChangedTo, "new"), false),
        (cond(F::Priority, Op::ChangedFrom, "normal"), false),
    ];
    for (condition, expected) in expect {
        assert_eq!(matches(&admin, t.id, one(condition.clone())).await, expected, "{condition:?}");
    }
    let in_team = cond(F::RequesterTeam, Op::Is, team.id);
    let member = admin.get_team(team.id).await.unwrap().members.contains(&customer_user.id);
    assert_eq!(matches(&admin, t.id, one(in_team)).await, member);

    // Groups: every one of `all`, and one of `any`.
    let groups = RuleConditions { all: vec![cond(F::Status, Op::Is, "new")], any: vec![cond(F::Priority, Op::Is, "low"), cond(F::Tags, Op::Contains, "vpn")] };
    assert!(matches(&admin, t.id, groups).await);
    let groups = RuleConditions { all: vec![cond(F::Status, Op::Is, "new")], any: vec![cond(F::Priority, Op::Is, "low"), cond(F::Tags, Op::Contains, "wifi")] };
    assert!(!matches(&admin, t.id, groups).await);
    let _ = agent;
}

// --- order, loops, failures, dry runs ----------------------------------------------------------

async fn order_and_loops_stop(backend: Backend) {
    let server = server(backend).await;
    let admin = server.admin().await;
    let (agent, _) = server.user(Role::Agent).await;

    // Two rules that would trigger each other for ever: each acts once per ticket and chain.
    let ping = admin.create_rule(&RuleInput { position: Some(2), ..rule("ping", updated(&[]), RuleConditions::default(), add_tag("ping")) }).await.unwrap();
    let pong = admin
        .create_rule(&RuleInput {
            position: Some(1),
            ..rule("pong", updated(&[]), RuleConditions::default(), set(FieldChanges { priority: Some(Priority::High), add_tags: vec!["pong".into()], ..FieldChanges::default() }))
        })
        .await
        .unwrap();
    // Toggles: each change of priority flips it; stops by the once-per-chain rule.
    let flip = admin
        .create_rule(&RuleInput {
            position: Some(3),
            ..rule("flip", updated(&["priority"]), all(vec![cond(F::Priority, Op::Is, "high")]), set(FieldChanges { priority: Some(Priority::Low), ..FieldChanges::default() }))
        })
        .await
        .unwrap();
    let t = agent.create_ticket(&new_ticket("Loop")).await.unwrap();
    let after = update(&agent, &t, UpdateTicket { subject: Some("Loop!".into()), ..UpdateTicket::default() }).await;
    assert_eq!(after.tags, ["ping", "pong"]);
    assert_eq!(after.priority, Priority::Low, "flip acted once, after pong");
    let history = agent.history(t.id).await.unwrap();
    let order: Vec<Uuid> = history.iter().filter_map(|h| h.rule_id).fold(Vec::new(), |mut seen, id| {
        if seen.last() != Some(&id) {
            seen.push(id);
        }
        seen
    });
    assert_eq!(order, [pong.id, ping.id, flip.id], "by position; each once");
}

async fn failing_rule_is_turned_off_and_admins_told(backend: Backend) {
    let server = server(backend).await;
    let admin = server.admin().await;
    let (agent, _) = server.user(Role::Agent).await;
    let team = admin.create_team(&CreateTeam { name: "Gone soon".into(), description: None }).await.unwrap();
    let route = admin
        .create_rule(&rule("route", RuleTrigger::TicketCreated, RuleConditions::default(), set(FieldChanges { team_id: Some(team.id), add_tags: vec!["routed".into()], ..FieldChanges::default() })))
        .await
        .unwrap();
    let after = admin.create_rule(&rule("after", RuleTrigger::TicketCreated, RuleConditions::default(), add_tag("after"))).await.unwrap();
    admin.delete_team(team.id).await.unwrap();

    let t = agent.create_ticket(&new_ticket("Still raised")).await.unwrap();
    assert_eq!(t.team_id, None);
    assert_eq!(t.tags, ["after"], "the failed rule's changes are undone, the rules after it still run");
    let route = admin.get_rule(route.id).await.unwrap();
    assert!(!route.enabled);
    let reason = route.disabled_reason.expect("a reason");
    assert!(reason.contains("team") && reason.contains(&t.number), "{reason}");
    let heard = admin.notifications(&NotificationListQuery::default()).await.unwrap().items;
    assert!(heard.iter().any(|n| n.kind == "rule" && n.title.contains("route") && n.ticket_id == Some(t.id)), "{heard:?}");
    assert!(admin.get_rule(after.id).await.unwrap().enabled);
    // Off: the next ticket is not touched by it.
    let next = agent.create_ticket(&new_ticket("Next")).await.unwrap();
    assert_eq!(next.tags, ["after"]);
    // Turning it on checks it again.
    assert_api_error(admin.enable_rule(route.id).await, 422, "validation_failed");
}

async fn dry_run_changes_nothing(backend: Backend) {
    let server = server(backend).await;
    let admin = server.admin().await;
    let (agent, _) = server.user(Role::Agent).await;
    let urgent = agent.create_ticket(&CreateTicket { priority: Some(Priority::Urgent), ..new_ticket("Fire") }).await.unwrap();
    let calm = agent.create_ticket(&new_ticket("Calm")).await.unwrap();
    let actions = TicketActions {
        set: Some(FieldChanges { add_tags: vec!["hot".into()], ..FieldChanges::default() }),
        reply: Some(ReplyAction { body: "On it: {{ ticket.number }}".into(), internal: false }),
        transition: Some(Status::Open),
        ..TicketActions::default()
    };
    let hot = admin.create_rule(&rule("hot", RuleTrigger::TicketCreated, all(vec![cond(F::Priority, Op::Is, "urgent")]), actions)).await.unwrap();
    let history_before = agent.history(urgent.id).await.unwrap();

    let result = admin.test_rule(hot.id, &RuleTestRequest::default()).await.unwrap();
    assert_eq!(result.checked, 2);
    assert_eq!(result.matched.len(), 1);
    let m = &result.matched[0];
    assert_eq!((m.ticket_id, m.number.as_str(), m.error.as_deref()), (urgent.id, urgent.number.as_str(), None));
    let fields: Vec<&str> = m.changes.iter().map(|c| c.field.as_str()).collect();
    assert!(fields.contains(&"tags") && fields.contains(&"reply") && fields.contains(&"status"), "{fields:?}");
    let one = admin.test_rule(hot.id, &RuleTestRequest { ticket_id: Some(calm.id) }).await.unwrap();
    assert_eq!((one.checked, one.matched.len()), (1, 0));

    let now = agent.get_ticket(urgent.id).await.unwrap();
    assert_eq!((now.status, now.tags.len(), now.version), (Status::New, 0, urgent.version));
    assert_eq!(agent.history(urgent.id).await.unwrap(), history_before);
    assert!(agent.list_comments(urgent.id).await.unwrap().is_empty());
    assert!(admin.get_rule(hot.id).await.unwrap().last_fired_at.is_none());
}

// --- time rules --------------------------------------------------------------------------------------

async fn time_rules_act_once(backend: Backend) {
    let server = server(backend).await;
    let admin = server.admin().await;
    let (agent, agent_user) = server.user(Role::Agent).await;
    let team = admin.create_team(&CreateTeam { name: "Desk".into(), description: None }).await.unwrap();
    admin.add_team_member(team.id, agent_user.id).await.unwrap();

    let waiting = all(vec![cond(F::Status, Op::Is, "pending_customer"), cond(F::InStatus, Op::After, "5d")]);
    let close = TicketActions {
        reply: Some(ReplyAction { body: "Closing {{ ticket.number }}: no answer in 5 days.".into(), internal: false }),
        transition: Some(Status::Resolved),
        ..TicketActions::default()
    };
    let resolve = admin.create_rule(&rule("resolve stale", RuleTrigger::Time, waiting, close)).await.unwrap();
    let unassigned = all(vec![cond(F::Assignee, Op::Is, "none"), cond(F::SinceAssignment, Op::After, "2h"), cond(F::Team, Op::Is, team.id)]);
    let give = set(FieldChanges { round_robin: true, ..FieldChanges::default() });
    admin.create_rule(&rule("assign stale", RuleTrigger::Time, unassigned, give)).await.unwrap();

    let stale = agent.create_ticket(&new_ticket("Waiting")).await.unwrap();
    agent.transition(stale.id, &TransitionRequest { to: Status::Open, comment: None, version: None }).await.unwrap();
    agent.transition(stale.id, &TransitionRequest { to: Status::PendingCustomer, comment: None, version: None }).await.unwrap();
    let lonely = agent.create_ticket(&CreateTicket { team_id: Some(team.id), ..new_ticket("Nobody") }).await.unwrap();

    let now = Utc::now();
    let round = job::run_once(&server.state, now + Duration::hours(1)).await.unwrap();
    assert_eq!(round.fired, 0, "{round:?}");
    let round = job::run_once(&server.state, now + Duration::hours(3)).await.unwrap();
    assert_eq!(round.fired, 1, "{round:?}");
    assert_eq!(agent.get_ticket(lonely.id).await.unwrap().assignee_id, Some(agent_user.id));
    let round = job::run_once(&server.state, now + Duration::days(6)).await.unwrap();
    assert_eq!(round.fired, 1, "{round:?}");
    let resolved = agent.get_ticket(stale.id).await.unwrap();
    assert_eq!(resolved.status, Status::Resolved);
    let replies = agent.list_comments(stale.id).await.unwrap();
    assert_eq!(replies.last().unwrap().body, format!("Closing {}: no answer in 5 days.", stale.number));
    assert!(by_rule(&agent, stale.id, resolve.id).await.iter().any(|(field, _)| field == "status"));
    // Its own actions made its conditions false: nothing more to do.
    assert_eq!(job::run_once(&server.state, now + Duration::days(7)).await.unwrap().fired, 0);
}

async fn time_rule_acts_once_with_two_instances(backend: Backend) {
    let first = server(backend).await;
    let second = TestServer::start_config(first.config.clone(), tempfile::tempdir().unwrap()).await;
    let admin = first.admin().await;
    let (agent, _) = first.user(Role::Agent).await;
    let old = all(vec![cond(F::Tags, Op::IsNot, "seen"), cond(F::Age, Op::After, "1d")]);
    let seen = admin.create_rule(&rule("seen", RuleTrigger::Time, old, add_tag("seen"))).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(agent.create_ticket(&new_ticket(&format!("Ticket {n}"))).await.unwrap().id);
    }
    let later = Utc::now() + Duration::days(2);
    let (a, b) = tokio::join!(job::run_once(&first.state, later), job::run_once(&second.state, later));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.fired + b.fired, 12, "first {a:?}, second {b:?}");
    for id in ids {
        assert_eq!(tags_of(&agent, id).await, ["seen"]);
        assert_eq!(by_rule(&agent, id, seen.id).await.len(), 1);
    }
    const SQL: &str = "SELECT COUNT(*) FROM rule_time_firings WHERE rule_id = $1";
    let firings: i64 = with_db!(&first.state.db, pool => sqlx::query_scalar(SQL).bind(seen.id).fetch_one(pool).await.unwrap());
    assert_eq!(firings, 12);
    let _: Option<Rule> = None;
}

/// Rules reacting to rules' changes: a chain goes 3 rounds deep and stops there; a rule's own
/// note is a comment by `system`; tags come off and people are assigned by id too.
async fn chains_stop_at_their_depth(backend: Backend) {
    let server = server(backend).await;
    let admin = server.admin().await;
    let (agent, agent_user) = server.user(Role::Agent).await;
    let tag_added = |tag: &str| all(vec![cond(F::Tags, Op::ChangedTo, tag)]);
    admin.create_rule(&rule("t1", updated(&["subject"]), RuleConditions::default(), add_tag("t1"))).await.unwrap();
    admin.create_rule(&rule("t2", updated(&["tags"]), tag_added("t1"), add_tag("t2"))).await.unwrap();
    admin.create_rule(&rule("t3", updated(&["tags"]), tag_added("t2"), add_tag("t3"))).await.unwrap();
    admin.create_rule(&rule("t4", updated(&["tags"]), tag_added("t3"), add_tag("t4"))).await.unwrap();
    let t = agent.create_ticket(&new_ticket("Chain")).await.unwrap();
    let after = update(&agent, &t, UpdateTicket { subject: Some("Chain!".into()), ..UpdateTicket::default() }).await;
    assert_eq!(after.tags, ["t1", "t2", "t3"], "three rounds, then the chain stops");

    let note = TicketActions { reply: Some(ReplyAction { body: "Triaged automatically".into(), internal: true }), ..TicketActions::default() };
    admin.create_rule(&rule("note", RuleTrigger::TicketCreated, RuleConditions::default(), note)).await.unwrap();
    let by_system = RuleTrigger::CommentAdded { internal: None, by: vec![CommentSource::System] };
    let take = set(FieldChanges { assignee_id: Some(Some(agent_user.id)), remove_tags: vec!["new".into()], ..FieldChanges::default() });
    admin.create_rule(&rule("take", by_system, RuleConditions::default(), take)).await.unwrap();
    let t = agent.create_ticket(&CreateTicket { tags: vec!["new".into(), "keep".into()], ..new_ticket("Noted") }).await.unwrap();
    assert_eq!(t.assignee_id, Some(agent_user.id));
    assert_eq!(t.tags, ["keep"]);
}

backend_tests!(
    crud_order_and_save_time_checks,
    created_trigger_runs_actions_in_the_change_as_the_rule,
    updated_and_comment_triggers,
    sla_and_approval_triggers_notify_and_call_webhooks,
    each_condition_and_operator,
    order_and_loops_stop,
    failing_rule_is_turned_off_and_admins_told,
    dry_run_changes_nothing,
    time_rules_act_once,
    time_rule_acts_once_with_two_instances,
    chains_stop_at_their_depth,
);
