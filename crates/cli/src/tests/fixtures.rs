//! Fixed data for the rendering tests: every field set somewhere, names long and short, one
//! without a name, text in several scripts, SLAs in each state. `NOW` is what "ago" counts from.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use hdms_api_types::Role;
use hdms_api_types::approvals::{Approval, ApprovalRule, ApprovalSlot, ApprovalState, Approver};
use hdms_api_types::files::{Attachment, ImageInfo, ScanState};
use hdms_api_types::metrics::{AgentFigures, AgentsFigures, AgentsReport, Bucket, Report, ReportBucket, TimesFigures, TimesReport};
use hdms_api_types::sla::{SlaCalendar, SlaPolicy};
use hdms_api_types::teams::Team;
use hdms_api_types::tickets::{
    BulkItemResult, Comment, LinkKind, LinkedTicket, PersonSummary, Priority, Satisfaction, SlaTarget, Status, TeamSummary,
    Ticket, TicketLink, TicketRating, TicketSla, Watcher,
};
use hdms_api_types::tokens::{ApiToken, CreatedApiToken};
use hdms_api_types::users::User;
use uuid::Uuid;

use crate::commands::names::Names;
use crate::commands::tickets::TicketDetail;
use crate::output::{Layout, Zone};

pub fn now() -> DateTime<Utc> {
    "2026-12-02T12:00:00Z".parse().unwrap()
}

pub fn layout(width: Option<u16>, colour: bool, wide: bool) -> Layout {
    Layout { width, colour, wide, now: now(), zone: Zone::Utc }
}

fn ago(secs: i64) -> DateTime<Utc> {
    now() - Duration::seconds(secs)
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub const ADA: u128 = 0xa1;
pub const GRACE: u128 = 0xa2;
pub const BOB: u128 = 0xa3;
pub const EMILIE: u128 = 0xa4;
pub const SUPPORT: u128 = 0xb1;
pub const PROCUREMENT: u128 = 0xb2;
pub const POLICY: u128 = 0xc1;

fn person(n: u128, name: &str, email: &str) -> PersonSummary {
    PersonSummary { id: id(n), name: name.to_owned(), email: email.to_owned() }
}

fn target(due_in: Option<i64>, met: Option<i64>, warning: bool, breached: bool) -> SlaTarget {
    SlaTarget {
        due_at: due_in.map(|secs| now() + Duration::seconds(secs)),
        remaining_secs: due_in,
        met_at: met.map(ago),
        warning,
        breached,
    }
}

fn ticket(number: i64, subject: &str, status: Status, priority: Priority) -> Ticket {
    Ticket {
        id: id(0x1000 + number as u128),
        number: format!("HD-{number}"),
        subject: subject.to_owned(),
        description: String::new(),
        requester_id: id(ADA),
        assignee_id: None,
        team_id: None,
        requester: None,
        assignee: None,
        team: None,
        priority,
        category: None,
        tags: Vec::new(),
        status,
        parent_id: None,
        merged_into_id: None,
        children_total: 0,
        children_done: 0,
        sla: None,
        version: 1,
        created_at: ago(3 * 86_400),
        updated_at: ago(300),
        first_responded_at: None,
        resolved_at: None,
        closed_at: None,
        deleted_at: None,
    }
}

/// A ticket with every field set.
pub fn printer() -> Ticket {
    Ticket {
        description: "Every job stops after the first page with \"paper jam in tray 2\".\n\nThe fuser was replaced last week; \
                      it still happens, also with new paper."
            .to_owned(),
        requester_id: id(BOB),
        assignee_id: Some(id(GRACE)),
        team_id: Some(id(SUPPORT)),
        requester: Some(person(BOB, "Bob Builder", "bob@example.com")),
        assignee: Some(person(GRACE, "Grace Hopper", "grace@example.com")),
        team: Some(TeamSummary { id: id(SUPPORT), name: "Support".to_owned() }),
        category: Some("hardware".to_owned()),
        tags: vec!["printer".to_owned(), "floor-3".to_owned()],
        parent_id: Some(id(0x1001)),
        merged_into_id: Some(id(0x1002)),
        children_total: 2,
        children_done: 1,
        sla: Some(TicketSla {
            policy_id: id(POLICY),
            paused: false,
            first_response: target(None, Some(5 * 3600), false, false),
            resolution: target(Some(2 * 3600 + 600), None, true, false),
        }),
        version: 7,
        first_responded_at: Some(ago(5 * 3600)),
        resolved_at: Some(ago(60)),
        closed_at: Some(ago(30)),
        deleted_at: Some(ago(10)),
        ..ticket(1042, "Printer on floor 3 jams on every job, even after the fuser was replaced last week", Status::Open, Priority::High)
    }
}

pub fn tickets() -> Vec<Ticket> {
    let mut printer = printer();
    (printer.merged_into_id, printer.parent_id, printer.resolved_at, printer.closed_at, printer.deleted_at) = (None, None, None, None, None);
    vec![
        printer,
        Ticket {
            requester: Some(person(ADA, "", "ada.lovelace@analytical-engines.example.com")),
            sla: Some(TicketSla {
                policy_id: id(POLICY),
                paused: false,
                first_response: target(Some(-300), None, true, true),
                resolution: target(Some(6 * 3600), None, false, false),
            }),
            updated_at: ago(2 * 3600),
            ..ticket(1043, "VPN drops every 20 minutes", Status::New, Priority::Urgent)
        },
        Ticket {
            requester: Some(person(EMILIE, "Émilie Dubois-Châtelet", "emilie@example.com")),
            assignee: Some(person(GRACE, "Grace Hopper", "grace@example.com")),
            assignee_id: Some(id(GRACE)),
            team: Some(TeamSummary { id: id(PROCUREMENT), name: "Procurement & Facilities".to_owned() }),
            team_id: Some(id(PROCUREMENT)),
            sla: Some(TicketSla {
                policy_id: id(POLICY),
                paused: true,
                first_response: target(None, Some(86_400), false, false),
                resolution: target(None, None, false, false),
            }),
            updated_at: ago(3 * 86_400),
            ..ticket(1044, "Laptop for the new hire", Status::PendingApproval, Priority::Normal)
        },
        // The server sent no summaries (an older server): ids stand in for names.
        Ticket {
            assignee_id: Some(id(GRACE)),
            team_id: Some(id(SUPPORT)),
            sla: Some(TicketSla {
                policy_id: id(POLICY),
                paused: false,
                first_response: target(None, Some(86_400), false, false),
                resolution: target(None, Some(3600), false, false),
            }),
            updated_at: ago(40 * 86_400),
            ..ticket(1045, "Password reset", Status::Resolved, Priority::Low)
        },
        Ticket {
            requester: Some(person(EMILIE, "Émilie Dubois-Châtelet", "emilie@example.com")),
            updated_at: ago(20),
            ..ticket(1046, "打印机无法连接到网络", Status::Closed, Priority::Normal)
        },
    ]
}

fn user(n: u128, name: &str, email: &str, role: Role) -> User {
    User {
        id: id(n),
        email: email.to_owned(),
        name: name.to_owned(),
        role,
        phone: None,
        locale: None,
        external_id: None,
        active: true,
        created_at: ago(90 * 86_400),
        updated_at: ago(86_400),
        deleted_at: None,
        last_login_at: None,
    }
}

pub fn users() -> Vec<User> {
    vec![
        User {
            phone: Some("+14155552671".to_owned()),
            locale: Some("en-GB".to_owned()),
            external_id: Some("HR-0001".to_owned()),
            deleted_at: Some(ago(60)),
            last_login_at: Some(ago(3 * 86_400)),
            ..user(ADA, "Ada Lovelace", "ada.lovelace@analytical-engines.example.com", Role::Agent)
        },
        User { created_at: ago(7200), last_login_at: Some(ago(300)), ..user(GRACE, "Grace Hopper", "grace@example.com", Role::Admin) },
        User { active: false, ..user(BOB, "Bob Builder", "bob@example.com", Role::Customer) },
        user(EMILIE, "Émilie Dubois-Châtelet", "emilie@example.com", Role::Supervisor),
    ]
}

pub fn teams() -> Vec<Team> {
    vec![
        Team {
            id: id(SUPPORT),
            name: "Support".to_owned(),
            description: Some("First line: phones, printers, passwords and everything nobody else takes".to_owned()),
            members: vec![id(ADA), id(GRACE)],
            created_at: ago(200 * 86_400),
            updated_at: ago(86_400),
            deleted_at: Some(ago(3600)),
        },
        Team {
            id: id(PROCUREMENT),
            name: "Procurement & Facilities".to_owned(),
            description: None,
            members: vec![id(ADA)],
            created_at: ago(5 * 86_400),
            updated_at: ago(86_400),
            deleted_at: None,
        },
    ]
}

pub fn tokens() -> Vec<ApiToken> {
    vec![
        ApiToken {
            id: id(0xd1),
            name: "nightly-sync".to_owned(),
            prefix: "hdms_pat_3kX9".to_owned(),
            created_at: ago(10 * 86_400),
            expires_at: Some(now() + Duration::days(20)),
            last_used_at: Some(ago(3600)),
            scope: None,
        },
        ApiToken {
            id: id(0xd2),
            name: "laptop script that someone forgot about".to_owned(),
            prefix: "hdms_pat_q81Z".to_owned(),
            created_at: ago(100 * 86_400),
            expires_at: Some(ago(86_400)),
            last_used_at: None,
            scope: None,
        },
        ApiToken { id: id(0xd3), name: "ci".to_owned(), prefix: "hdms_pat_aa0b".to_owned(), created_at: ago(120), expires_at: None, last_used_at: None, scope: None },
    ]
}

pub fn created_token() -> CreatedApiToken {
    CreatedApiToken { token: tokens().remove(0), secret: "hdms_pat_3kX9secret".to_owned() }
}

pub fn policies() -> Vec<SlaPolicy> {
    let weekdays = vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
    vec![
        SlaPolicy {
            id: id(POLICY),
            name: "Urgent, Berlin office".to_owned(),
            priority: Priority::Urgent,
            category: Some("hardware".to_owned()),
            team_id: Some(id(SUPPORT)),
            first_response_secs: 3600,
            resolution_secs: 8 * 3600,
            warning_percent: 80,
            calendar: SlaCalendar {
                time_zone: "Europe/Berlin".to_owned(),
                working_days: weekdays,
                opens: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                closes: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
                holidays: vec![NaiveDate::from_ymd_opt(2026, 12, 25).unwrap(), NaiveDate::from_ymd_opt(2026, 12, 26).unwrap()],
            },
            created_at: ago(30 * 86_400),
            updated_at: ago(86_400),
            deleted_at: Some(ago(60)),
        },
        SlaPolicy {
            id: id(POLICY + 1),
            name: "Normal".to_owned(),
            priority: Priority::Normal,
            category: None,
            team_id: None,
            first_response_secs: 4 * 3600,
            resolution_secs: 3 * 86_400 + 4 * 3600,
            warning_percent: 75,
            calendar: SlaCalendar::default(),
            created_at: ago(30 * 86_400),
            updated_at: ago(86_400),
            deleted_at: None,
        },
    ]
}

pub fn approvals() -> Vec<Approval> {
    vec![
        Approval {
            id: id(0xe1),
            ticket_id: id(0x1000 + 1044),
            ticket: Some(LinkedTicket { id: id(0x1000 + 1044), number: "HD-1044".to_owned(), subject: "New laptop for Sam".to_owned(), status: Status::PendingApproval }),
            requested_by: Some(id(GRACE)),
            requested_by_user: Some(person(GRACE, "Grace Hopper", "grace@example.com")),
            rule: ApprovalRule::All,
            reason: Some("A new laptop for the hire starting Monday".to_owned()),
            state: ApprovalState::Pending,
            slots: vec![
                ApprovalSlot {
                    id: id(0xf1),
                    approver: Approver { user_id: Some(id(EMILIE)), role: None },
                    decision: Some(ApprovalState::Approved),
                    decided_by: Some(id(EMILIE)),
                    user: Some(person(EMILIE, "Émilie Dubois-Châtelet", "emilie@example.com")),
                    decided_by_user: Some(person(EMILIE, "Émilie Dubois-Châtelet", "emilie@example.com")),
                    comment: Some("ok".to_owned()),
                    decided_at: Some(ago(600)),
                },
                ApprovalSlot {
                    id: id(0xf2),
                    approver: Approver { user_id: None, role: Some(Role::Supervisor) },
                    decision: None,
                    decided_by: None,
                    user: None,
                    decided_by_user: None,
                    comment: None,
                    decided_at: None,
                },
            ],
            created_at: ago(3600),
            decided_at: Some(ago(60)),
        },
        Approval {
            id: id(0xe2),
            ticket_id: id(0xdead),
            ticket: None,
            requested_by: None,
            requested_by_user: None,
            rule: ApprovalRule::Any,
            reason: None,
            state: ApprovalState::Rejected,
            slots: vec![ApprovalSlot {
                id: id(0xf3),
                approver: Approver { user_id: Some(id(0xbeef)), role: None },
                decision: Some(ApprovalState::Rejected),
                decided_by: Some(id(0xbeef)),
                user: None,
                decided_by_user: None,
                comment: Some("Not in this budget".to_owned()),
                decided_at: Some(ago(60)),
            }],
            created_at: ago(86_400),
            decided_at: None,
        },
    ]
}

pub fn names() -> Names {
    let mut names = Names::default();
    names.learn([(id(0x1001), "HD-1001 Printer jams".to_owned())]);
    names
}

pub fn comments() -> Vec<Comment> {
    let comment = |seq: i64, author: u128, internal: bool, body: &str, secs: i64| Comment {
        id: id(0x2000 + seq as u128),
        ticket_id: printer().id,
        author_id: id(author),
        author: users().into_iter().find(|user| user.id == id(author)).map(|user| person(author, &user.name, &user.email)),
        body: body.to_owned(),
        internal,
        created_at: ago(secs),
        seq,
    };
    vec![
        comment(1, BOB, false, "It happened again this morning, twice.", 5 * 3600 + 60),
        comment(2, GRACE, false, "On my way with a new drum.\nPlease leave the tray open.", 5 * 3600),
        comment(3, GRACE, true, "Drum is fine; the sensor is dirty. Ordered a cleaning kit.", 3600),
        comment(4, 0x5eed, false, "Looked at it from the vendor side: firmware 2.1 fixes jams in tray 2.", 600),
    ]
}

pub fn watchers() -> Vec<Watcher> {
    vec![
        Watcher { user_id: id(BOB), name: "Bob Builder".to_owned(), role: Role::Customer },
        Watcher { user_id: id(GRACE), name: "Grace Hopper".to_owned(), role: Role::Admin },
    ]
}

pub fn rating() -> TicketRating {
    TicketRating {
        ticket_id: printer().id,
        rated_by: id(BOB),
        score: Satisfaction::Good,
        comment: Some("Fast, thanks".to_owned()),
        created_at: ago(120),
        updated_at: ago(60),
    }
}

pub fn bulk_results() -> Vec<BulkItemResult> {
    vec![
        BulkItemResult { id: id(0x1000 + 1042), ok: true, http_status: 200, version: Some(8), error: None },
        BulkItemResult {
            id: id(0x1000 + 1045),
            ok: false,
            http_status: 422,
            version: None,
            error: Some(hdms_api_types::ErrorBody {
                code: "invalid_transition".to_owned(),
                message: "a resolved ticket cannot move to in_progress".to_owned(),
                field: Some("transition".to_owned()),
            }),
        },
    ]
}

pub fn detail() -> TicketDetail {
    let main = printer();
    let attachment = |n: u128, name: &str, size: u64, scan: ScanState| Attachment {
        id: id(0x3000 + n),
        ticket_id: main.id,
        file_name: name.to_owned(),
        content_type: "image/png".to_owned(),
        size,
        sha256: "ab".repeat(32),
        scan_state: scan,
        scan_signature: None,
        image: None,
        downloadable: scan == ScanState::Clean,
        uploaded_by: id(BOB),
        uploaded_by_user: Some(person(BOB, "Bob Builder", "bob@example.com")),
        created_at: ago(5 * 3600),
        deleted_at: None,
    };
    let mut sub = ticket(1047, "Order a cleaning kit for the floor 3 printer", Status::InProgress, Priority::Normal);
    sub.assignee = Some(person(GRACE, "Grace Hopper", "grace@example.com"));
    let done = ticket(1048, "Update the printer firmware to 2.1", Status::Resolved, Priority::Normal);
    TicketDetail {
        attachments: vec![
            Attachment {
                image: Some(ImageInfo { width: 1024, height: 768, thumbnail: true }),
                ..attachment(1, "jam-in-tray-2.png", 482_133, ScanState::Clean)
            },
            Attachment {
                content_type: "application/x-msdownload".to_owned(),
                scan_signature: Some("Win.Test.EICAR_HDB-1".to_owned()),
                ..attachment(2, "printer-driver-setup.exe", 2_400_000, ScanState::Infected)
            },
            attachment(3, "scan.pdf", 10_240, ScanState::Pending),
        ],
        subtickets: vec![sub, done],
        links: vec![
            TicketLink {
                id: id(0x4001),
                kind: LinkKind::DuplicateOf,
                from_ticket_id: id(0x1000 + 1001),
                to_ticket_id: main.id,
                other: LinkedTicket { id: id(0x1000 + 1001), number: "HD-1001".to_owned(), subject: "Printer jams".to_owned(), status: Status::Closed },
                created_by: id(GRACE),
                created_at: ago(86_400),
            },
            TicketLink {
                id: id(0x4002),
                kind: LinkKind::CausedBy,
                from_ticket_id: main.id,
                to_ticket_id: id(0x1000 + 990),
                other: LinkedTicket { id: id(0x1000 + 990), number: "HD-990".to_owned(), subject: "Power cut on floor 3".to_owned(), status: Status::Resolved },
                created_by: id(GRACE),
                created_at: ago(86_400),
            },
        ],
        approvals: vec![approvals().remove(0)],
        watchers: watchers(),
        rating: Some(rating()),
        comments: comments(),
        names: names(),
        ticket: main,
    }
}

/// A ticket with nothing around it: no SLA, no replies, nobody assigned.
pub fn bare_detail() -> TicketDetail {
    TicketDetail {
        ticket: ticket(1050, "Mouse", Status::New, Priority::Normal),
        comments: Vec::new(),
        rating: None,
        attachments: Vec::new(),
        subtickets: Vec::new(),
        links: Vec::new(),
        approvals: Vec::new(),
        watchers: Vec::new(),
        names: Names::default(),
    }
}

/// Three UTC days ending yesterday, each a bucket of `figures`.
fn report<B>(figures: Vec<B>) -> Report<B> {
    let first = (now() - Duration::days(3)).date_naive();
    let midnight = |day: NaiveDate| day.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let buckets = figures
        .into_iter()
        .enumerate()
        .map(|(i, figures)| {
            let day = first + Duration::days(i as i64);
            Bucket { start: midnight(day), end: midnight(day + Duration::days(1)), figures }
        })
        .collect();
    Report {
        team_id: Some(id(SUPPORT)),
        from: first,
        to: first + Duration::days(2),
        bucket: ReportBucket::Day,
        time_zone: "UTC".to_owned(),
        generated_at: now(),
        buckets,
    }
}

pub fn times_report() -> TimesReport {
    report(vec![
        TimesFigures { first_responses: 12, first_response_median_secs: Some(1260), first_response_p90_secs: Some(3 * 3600 + 600), resolutions: 9, resolution_median_secs: Some(26 * 3600), resolution_p90_secs: Some(4 * 86_400 + 7200) },
        TimesFigures::default(),
        TimesFigures { first_responses: 1, first_response_median_secs: Some(45), first_response_p90_secs: Some(45), resolutions: 0, resolution_median_secs: None, resolution_p90_secs: None },
    ])
}

pub fn agents_report() -> AgentsReport {
    let ada = person(ADA, "Ada Lovelace", "ada.lovelace@analytical-engines.example.com");
    let grace = person(GRACE, "Grace Hopper", "grace@example.com");
    report(vec![
        AgentsFigures {
            agents: vec![
                AgentFigures { agent: ada.clone(), assigned: 4, replies: 11, resolved: 3 },
                AgentFigures { agent: grace.clone(), assigned: 0, replies: 2, resolved: 1 },
            ],
        },
        AgentsFigures { agents: vec![AgentFigures { agent: ada, assigned: 0, replies: 0, resolved: 0 }] },
        AgentsFigures::default(),
    ])
}
