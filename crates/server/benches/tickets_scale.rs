//! Ticket queues, reads and search at scale: seeds 1,000,000 tickets (with comments, tags,
//! watchers and search documents) straight into the server's own database, then measures
//! through HTTP with the real client, as an agent of one team and as a supervisor, on SQLite
//! and PostgreSQL. Each kind of request is also sent to a bare axum handler answering the same
//! bytes, so the figures come with the share that is the server's own work.
//!
//! Targets (issue 3): queue page p99 under 10 ms and search p95 under 50 ms on SQLite.
//! Reports (issue 13): a 30-day daily report under 200 ms p95, beside the queue page of the same
//! run. The seed gives every ticket the history its status implies (created, assigned, status
//! moves), ratings and SLA breaches, so that the reports read as much as a real desk's would.
//!
//! `cargo bench -p hdms-server --bench tickets_scale`
//!
//! Environment:
//! - `HDMS_BENCH_TICKETS` (default 1000000): how many tickets to seed.
//! - `HDMS_BENCH_BACKENDS` (default `sqlite,postgres`).
//! - `HDMS_BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`): a database
//!   of a server on which a fresh database is created (and dropped afterwards).
//! - `HDMS_BENCH_ITERATIONS` (default 300): requests per kind after warm-up (fewer when a kind
//!   takes longer than `HDMS_BENCH_SECONDS_PER_KIND`, default 8 s).
//! - `HDMS_BENCH_KEEP=1`: keep the SQLite file and the PostgreSQL database for EXPLAIN.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::metrics::{ReportBucket, ReportQuery};
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::TicketListQuery;
use hdms_api_types::users::CreateUser;
use hdms_server::config::Config;
use hdms_server::db::Db;
use hdms_server::tickets::store::owner_token;
use sqlx::{AssertSqlSafe, Connection};
use tokio::net::TcpListener;
use uuid::Uuid;

const ADMIN_EMAIL: &str = "admin@example.com";
const PASSWORD: &str = "bench password 123";
const TEAMS: usize = 10;
const AGENTS_PER_TEAM: usize = 5;
const CUSTOMERS: usize = 1000;
/// Share of the tickets each team gets (percent of those with a team); 5% have no team.
const TEAM_WEIGHTS: [u32; TEAMS] = [25, 18, 14, 10, 8, 7, 6, 5, 4, 3];
const TAGS: [&str; 12] = ["vip", "outage", "onboarding", "laptop", "vpn", "email", "billing", "refund", "bug", "feature", "security", "mobile"];
const CATEGORIES: [&str; 5] = ["hardware", "software", "network", "access", "billing"];
/// Seeded data spans two years, newest now.
const SPAN_DAYS: i64 = 730;
/// Every report the server keeps (`GET /api/v1/reports/{kind}`).
const REPORTS: [&str; 6] = ["volume", "backlog", "times", "sla", "satisfaction", "agents"];
/// Rows generated per chunk (and per transaction on SQLite).
const CHUNK: usize = 20_000;

// --- data -----------------------------------------------------------------------------------

/// The head of the vocabulary: words a help desk sees every day, most frequent first. The tail
/// is made of generated words, so term frequencies follow Zipf's law over 20,000 terms.
const HEAD: &str = "error printer login password email account access network laptop server \
    screen update install issue request vpn outlook calendar meeting phone license software \
    hardware monitor keyboard mouse wifi connection slow crash freeze restart reset unlock \
    locked expired certificate browser chrome firefox windows macos linux driver battery charger \
    dock headset camera microphone teams zoom slack sharepoint onedrive drive folder file \
    permission shared report invoice payment billing refund order shipping delivery address \
    customer portal website page link broken missing wrong duplicate sync backup restore \
    database query timeout latency outage degraded maintenance migration upgrade version \
    release deploy build pipeline branch repository ticket escalation urgent priority manager \
    approval onboarding offboarding contract vendor purchase budget quote renewal subscription \
    mobile android iphone tablet app notification alert warning disk storage memory cpu \
    firewall proxy dns dhcp router switch cable port badge door building office remote \
    training documentation manual guide policy compliance audit security phishing spam virus \
    malware encryption token mfa authenticator sso directory group role profile settings \
    language timezone font printer_queue toner paper scanner fax projector whiteboard desk chair";

struct Vocabulary {
    words: Vec<String>,
    /// Cumulative Zipf weights, for sampling by binary search.
    cumulative: Vec<f64>,
}

impl Vocabulary {
    fn new() -> Vocabulary {
        let mut words: Vec<String> = HEAD.split_whitespace().map(|w| w.replace('_', "")).collect();
        const SYLLABLES: [&str; 24] = [
            "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "zo", "be", "da", "fu", "gi", "ha", "jo", "ku", "ly", "mo", "ni",
            "pe", "qua", "ri", "su", "te",
        ];
        let mut n = 0usize;
        while words.len() < 20_000 {
            let (a, b, c) = (n % 24, (n / 24) % 24, (n / 576) % 24);
            let end = ["x", "z"][n / (24 * 24 * 24)];
            words.push(format!("{}{}{}{end}", SYLLABLES[a], SYLLABLES[b], SYLLABLES[c]));
            n += 1;
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Vocabulary { words, cumulative }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let target = rng.unit() * self.cumulative.last().unwrap();
        self.cumulative.partition_point(|c| *c < target).min(self.words.len() - 1)
    }

    /// `count` words; also notes which of the `watched` words occur.
    fn text(&self, rng: &mut Rng, count: usize, out: &mut String, seen: &mut [bool]) {
        for i in 0..count {
            if i > 0 {
                out.push(' ');
            }
            let w = self.sample(rng);
            out.push_str(&self.words[w]);
            if let Some(s) = seen.get_mut(w) {
                *s = true;
            }
        }
    }
}

/// SplitMix64: small, fast, deterministic; the same data on both backends.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn uuid_v7(&mut self, at: DateTime<Utc>) -> Uuid {
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&self.next().to_le_bytes());
        random[8..].copy_from_slice(&self.next().to_le_bytes()[..2]);
        uuid::Builder::from_unix_timestamp_millis(at.timestamp_millis() as u64, &random).into_uuid()
    }
}

struct People {
    admin: Uuid,
    /// Agents of each team.
    agents: Vec<Vec<Uuid>>,
    teams: Vec<Uuid>,
    customers: Vec<Uuid>,
}

struct SeedTicket {
    id: Uuid,
    number: i64,
    subject: String,
    description: String,
    requester_id: Uuid,
    assignee_id: Option<Uuid>,
    team_id: Option<Uuid>,
    priority: i32,
    category: Option<&'static str>,
    status: &'static str,
    version: i64,
    first_responded_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    first_response_breached_at: Option<DateTime<Utc>>,
    resolution_breached_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// One entry of a ticket's history.
struct SeedHistory {
    id: Uuid,
    ticket_id: Uuid,
    actor_id: Option<Uuid>,
    at: DateTime<Utc>,
    field: &'static str,
    before: Option<String>,
    after: Option<String>,
    internal: bool,
    /// The ticket's team, which the server's triggers copy onto its history (migration 0055);
    /// the load runs without them.
    ticket_team_id: Option<Uuid>,
}

struct SeedRating {
    ticket_id: Uuid,
    user_id: Uuid,
    score: &'static str,
    at: DateTime<Utc>,
    /// As on the history (migration 0055).
    ticket_team_id: Option<Uuid>,
}

struct SeedComment {
    id: Uuid,
    ticket_id: Uuid,
    author_id: Uuid,
    body: String,
    internal: bool,
    created_at: DateTime<Utc>,
}

#[derive(Default)]
struct Chunk {
    tickets: Vec<SeedTicket>,
    comments: Vec<SeedComment>,
    tags: Vec<(Uuid, &'static str)>,
    history: Vec<SeedHistory>,
    ratings: Vec<SeedRating>,
}

/// Words whose document frequencies the report prints next to the searches.
struct Probes {
    words: Vec<usize>,
    docs_with: Vec<u64>,
}

struct Generator {
    rng: Rng,
    vocabulary: Vocabulary,
    total: usize,
    next: usize,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    auto_close_after: chrono::Duration,
    probes: Probes,
    /// Ids of a sample of tickets with their team, for reads.
    sample: Vec<(Uuid, Option<Uuid>)>,
}

impl Generator {
    fn new(total: usize, now: DateTime<Utc>, auto_close_after_secs: u64, probe_words: Vec<usize>) -> Generator {
        Generator {
            rng: Rng(0x4844_4d53),
            vocabulary: Vocabulary::new(),
            total,
            next: 0,
            start: now - chrono::Duration::days(SPAN_DAYS),
            now,
            auto_close_after: chrono::Duration::seconds(auto_close_after_secs as i64),
            probes: Probes { docs_with: vec![0; probe_words.len()], words: probe_words },
            sample: Vec::new(),
        }
    }

    fn status(&mut self, recent: bool) -> &'static str {
        let r = self.rng.unit();
        if recent {
            // The live backlog: the last few weeks.
            match r {
                r if r < 0.20 => "new",
                r if r < 0.45 => "open",
                r if r < 0.60 => "in_progress",
                r if r < 0.72 => "pending_customer",
                r if r < 0.76 => "pending_approval",
                r if r < 0.86 => "resolved",
                r if r < 0.97 => "closed",
                _ => "cancelled",
            }
        } else {
            // History, with the stragglers every help desk has.
            match r {
                r if r < 0.940 => "closed",
                r if r < 0.980 => "cancelled",
                r if r < 0.990 => "open",
                r if r < 0.997 => "pending_customer",
                _ => "in_progress",
            }
        }
    }

    fn minutes(&mut self, max: i64) -> chrono::Duration {
        chrono::Duration::seconds(60 + self.rng.below((max * 60) as u64) as i64)
    }

    fn chunk(&mut self, people: &People) -> Option<Chunk> {
        if self.next >= self.total {
            return None;
        }
        let end = (self.next + CHUNK).min(self.total);
        let mut chunk = Chunk::default();
        let span_ms = (self.now - self.start).num_milliseconds();
        let step_ms = span_ms / self.total as i64;
        let mut seen = vec![false; self.vocabulary.words.len()];
        let watched = self.probes.words.clone();
        for i in self.next..end {
            let created_at = self.start
                + chrono::Duration::milliseconds(i as i64 * step_ms + self.rng.below(step_ms.max(1) as u64) as i64);
            let id = self.rng.uuid_v7(created_at);
            let recent = i >= self.total - self.total * 3 / 100;
            let status = self.status(recent);
            let team = if self.rng.chance(0.05) {
                None
            } else {
                let mut r = self.rng.below(100) as u32;
                let mut team = 0;
                while r >= TEAM_WEIGHTS[team] {
                    r -= TEAM_WEIGHTS[team];
                    team += 1;
                }
                Some(team)
            };
            let assignee = match (status, team) {
                (_, None) => None,
                ("new", Some(_)) if self.rng.chance(0.8) => None,
                (_, Some(t)) if self.rng.chance(0.95) => Some(*self.rng.pick(&people.agents[t])),
                _ => None,
            };
            let priority = match self.rng.below(100) {
                0..20 => 0,
                20..75 => 1,
                75..95 => 2,
                _ => 3,
            };
            let category = if self.rng.chance(0.7) { Some(*self.rng.pick(&CATEGORIES)) } else { None };
            let requester_id = *self.rng.pick(&people.customers);

            for w in &watched {
                seen[*w] = false;
            }
            let mut subject = String::with_capacity(64);
            let n = 4 + self.rng.below(5) as usize;
            self.vocabulary.text(&mut self.rng, n, &mut subject, &mut seen);
            let mut description = String::with_capacity(400);
            let n = 20 + self.rng.below(41) as usize;
            self.vocabulary.text(&mut self.rng, n, &mut description, &mut seen);
            if self.rng.chance(0.1) {
                // Error codes: rare terms, a handful of tickets each.
                description.push_str(&format!(" code e{}q", self.rng.below(20_000)));
            }

            let lifetime_end = match status {
                "closed" | "cancelled" => (created_at + self.minutes(14 * 24 * 60)).min(self.now),
                _ => created_at + chrono::Duration::milliseconds(self.rng.below((self.now - created_at).num_milliseconds().max(1) as u64) as i64),
            };
            let first_responded_at = match status {
                "new" => None,
                _ => Some((created_at + self.minutes(8 * 60)).min(lifetime_end)),
            };
            let resolved_at = match status {
                "resolved" => {
                    // Resolved recently enough not to be closed by the server's job yet.
                    let back = chrono::Duration::seconds(self.rng.below((self.auto_close_after.num_seconds() / 2).max(1) as u64) as i64);
                    Some((self.now - back).max(created_at))
                }
                "closed" => Some(lifetime_end),
                _ => None,
            };
            let closed_at = matches!(status, "closed" | "cancelled").then_some(lifetime_end);
            // Missed targets, as the SLA job would have found them.
            let first_response_breached_at =
                first_responded_at.filter(|_| self.rng.chance(0.06)).map(|_| (created_at + chrono::Duration::hours(4)).min(self.now));
            let resolution_breached_at =
                resolved_at.filter(|_| self.rng.chance(0.05)).map(|_| (created_at + chrono::Duration::days(2)).min(self.now));
            let updated_at = resolved_at.unwrap_or(lifetime_end).max(lifetime_end);
            let version = if status == "new" { 1 } else { 2 + self.rng.below(7) as i64 };

            // About two comments per ten tickets, a third of them internal notes.
            let comments = match self.rng.below(100) {
                0..8 => 1,
                8..11 => 2,
                11..12 => 4,
                _ => 0,
            };
            for _ in 0..comments {
                let internal = self.rng.chance(0.33);
                let author_id = match (internal, team) {
                    (false, _) if self.rng.chance(0.5) => requester_id,
                    (_, Some(t)) => *self.rng.pick(&people.agents[t]),
                    (_, None) => people.admin,
                };
                let at = created_at + chrono::Duration::milliseconds(self.rng.below((updated_at - created_at).num_milliseconds().max(1) as u64) as i64);
                let mut body = String::with_capacity(200);
                let n = 10 + self.rng.below(31) as usize;
                self.vocabulary.text(&mut self.rng, n, &mut body, &mut seen);
                chunk.comments.push(SeedComment { id: self.rng.uuid_v7(at), ticket_id: id, author_id, body, internal, created_at: at });
            }
            for (p, w) in watched.iter().enumerate() {
                if seen[*w] {
                    self.probes.docs_with[p] += 1;
                }
            }
            if self.rng.chance(0.3) {
                let first = self.rng.below(TAGS.len() as u64) as usize;
                chunk.tags.push((id, TAGS[first]));
                if self.rng.chance(0.3) {
                    chunk.tags.push((id, TAGS[(first + 1 + self.rng.below(TAGS.len() as u64 - 1) as usize) % TAGS.len()]));
                }
            }
            let team_id = team.map(|t| people.teams[t]);
            self.history(&mut chunk, id, team_id, status, assignee, people.admin, created_at, first_responded_at, resolved_at, closed_at);
            if let Some(at) = resolved_at.filter(|_| self.rng.chance(0.2)) {
                let score = if self.rng.chance(0.85) { "good" } else { "bad" };
                chunk.ratings.push(SeedRating {
                    ticket_id: id,
                    user_id: requester_id,
                    score,
                    at: (at + chrono::Duration::hours(1)).min(self.now),
                    ticket_team_id: team_id,
                });
            }
            if i % 97 == 0 {
                self.sample.push((id, team_id));
            }
            chunk.tickets.push(SeedTicket {
                id,
                number: 1001 + i as i64,
                subject,
                description,
                requester_id,
                assignee_id: assignee,
                team_id,
                priority,
                category,
                status,
                version,
                first_responded_at,
                resolved_at,
                closed_at,
                first_response_breached_at,
                resolution_breached_at,
                created_at,
                updated_at,
            });
        }
        self.next = end;
        Some(chunk)
    }

    /// The history a ticket's status implies: raised, assigned and opened at its first
    /// response, then the moves to where it is now.
    #[allow(clippy::too_many_arguments)]
    fn history(
        &mut self,
        chunk: &mut Chunk,
        ticket_id: Uuid,
        ticket_team_id: Option<Uuid>,
        status: &'static str,
        assignee: Option<Uuid>,
        admin: Uuid,
        created_at: DateTime<Utc>,
        first_responded_at: Option<DateTime<Utc>>,
        resolved_at: Option<DateTime<Utc>>,
        closed_at: Option<DateTime<Utc>>,
    ) {
        let actor = assignee.unwrap_or(admin);
        let mut entry = |rng: &mut Rng, at: DateTime<Utc>, field: &'static str, before: Option<&str>, after: Option<String>, internal: bool| {
            chunk.history.push(SeedHistory {
                id: rng.uuid_v7(at),
                ticket_id,
                actor_id: Some(actor),
                at,
                field,
                before: before.map(str::to_owned),
                after,
                internal,
                ticket_team_id,
            });
        };
        entry(&mut self.rng, created_at, "created", None, Some("HD".to_owned()), false);
        let opened = first_responded_at.unwrap_or(created_at);
        if let Some(assignee) = assignee {
            entry(&mut self.rng, opened, "assignee", None, Some(assignee.to_string()), true);
        }
        let status_move = |rng: &mut Rng, entry: &mut AddEntry<'_>, at, from: &str, to: &str| {
            entry(rng, at, "status", Some(from), Some(to.to_owned()), false)
        };
        let later = opened + chrono::Duration::minutes(1);
        match status {
            "new" => {}
            "pending_approval" => status_move(&mut self.rng, &mut entry, created_at, "new", "pending_approval"),
            _ => status_move(&mut self.rng, &mut entry, opened, "new", "open"),
        }
        match status {
            "in_progress" | "pending_customer" => status_move(&mut self.rng, &mut entry, later, "open", status),
            "resolved" => status_move(&mut self.rng, &mut entry, resolved_at.unwrap_or(later), "open", "resolved"),
            "closed" => {
                let resolved = resolved_at.unwrap_or(later);
                status_move(&mut self.rng, &mut entry, resolved, "open", "resolved");
                status_move(&mut self.rng, &mut entry, closed_at.unwrap_or(resolved), "resolved", "closed");
            }
            "cancelled" => status_move(&mut self.rng, &mut entry, closed_at.unwrap_or(later), "open", "cancelled"),
            _ => {}
        }
    }
}

/// Adds one history entry: at, field, before, after, internal.
type AddEntry<'a> = dyn FnMut(&mut Rng, DateTime<Utc>, &'static str, Option<&str>, Option<String>, bool) + 'a;

// --- seeding --------------------------------------------------------------------------------

const TICKET_COLUMNS: &str = "id, number, subject, description, requester_id, assignee_id, team_id, priority, category, \
    status, version, sla_used_secs, first_responded_at, resolved_at, closed_at, first_response_breached_at, \
    resolution_breached_at, created_at, updated_at";
const HISTORY_COLUMNS: &str = "id, ticket_id, actor_id, at, field, before, after, internal, ticket_team_id";
const RATING_COLUMNS: &str = "ticket_id, user_id, score, created_at, updated_at, ticket_team_id";

/// Tables whose secondary indexes are dropped while loading and re-created after, from their
/// own definitions (so the schema ends exactly as the migrations left it).
const LOADED_TABLES: &str = "'tickets', 'comments', 'ticket_tags', 'ticket_watchers', 'search_docs', 'ticket_history', 'ticket_ratings'";

struct Seeded {
    tickets: usize,
    comments: usize,
    load: Duration,
    index: Duration,
    analyze: Duration,
}

async fn seed(db: &Db, people: &People, generator: &mut Generator) -> anyhow::Result<Seeded> {
    match db {
        Db::Sqlite(pool) => seed_sqlite(pool, people, generator).await,
        Db::Postgres(pool) => seed_postgres(pool, people, generator).await,
    }
}

/// Multi-row INSERTs of `rows` rows of `columns` placeholders each.
fn insert_sql(table: &str, columns: &str, rows: usize) -> String {
    let width = columns.split(',').count();
    let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
    let mut n = 0;
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            n += 1;
            sql.push_str(&format!("{}${n}", if c == 0 { "" } else { ", " }));
        }
        sql.push(')');
    }
    sql
}

async fn seed_sqlite(pool: &sqlx::SqlitePool, people: &People, generator: &mut Generator) -> anyhow::Result<Seeded> {
    use sqlx::Sqlite;
    let mut conn = pool.acquire().await?;
    // Secondary indexes, and the triggers that copy each ticket's team onto its history (the
    // load writes it itself): made again once the rows are in.
    let indexes: Vec<(String, String, String)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL AND tbl_name IN ({LOADED_TABLES})"
    )))
    .fetch_all(&mut *conn)
    .await?;
    for (kind, name, _) in &indexes {
        sqlx::query(AssertSqlSafe(format!("DROP {kind} {name}"))).execute(&mut *conn).await?;
    }
    // Consistent by construction; checking each reference would only slow the load.
    sqlx::query("PRAGMA foreign_keys = OFF").execute(&mut *conn).await?;
    sqlx::query("PRAGMA cache_size = -262144").execute(&mut *conn).await?;

    const ROWS: usize = 500;
    let (mut tickets, mut comments) = (0, 0);
    let started = Instant::now();
    while let Some(chunk) = generator.chunk(people) {
        let mut tx = conn.begin().await?;
        for batch in chunk.tickets.chunks(ROWS) {
            let mut q = sqlx::query::<Sqlite>(AssertSqlSafe(insert_sql("tickets", TICKET_COLUMNS, batch.len())));
            for t in batch {
                q = q
                    .bind(t.id)
                    .bind(t.number)
                    .bind(t.subject.clone())
                    .bind(t.description.clone())
                    .bind(t.requester_id)
                    .bind(t.assignee_id)
                    .bind(t.team_id)
                    .bind(t.priority)
                    .bind(t.category)
                    .bind(t.status)
                    .bind(t.version)
                    .bind(0i64)
                    .bind(t.first_responded_at)
                    .bind(t.resolved_at)
                    .bind(t.closed_at)
                    .bind(t.first_response_breached_at)
                    .bind(t.resolution_breached_at)
                    .bind(t.created_at)
                    .bind(t.updated_at);
            }
            q.execute(&mut *tx).await?;
            let mut q = sqlx::query::<Sqlite>(AssertSqlSafe(insert_sql("search_docs", "ticket_id, comment_id, internal, owner, text", batch.len())));
            for t in batch {
                q = q.bind(t.id).bind(None::<Uuid>).bind(false).bind(owner_token(t.id)).bind(format!("{}\n{}", t.subject, t.description));
            }
            q.execute(&mut *tx).await?;
            let mut q = sqlx::query::<Sqlite>(AssertSqlSafe(insert_sql("ticket_watchers", "ticket_id, user_id", batch.len())));
            for t in batch {
                q = q.bind(t.id).bind(t.requester_id);
            }
            q.execute(&mut *tx).await?;
        }
        for batch in chunk.comments.chunks(ROWS) {
            let mut q = sqlx::query::<Sqlite>(AssertSqlSafe(insert_sql("comments", "id, ticket_id, author_id, body, internal, created_at", batch.len())));
            for c in batch {
                q = q.bind(c.id).bind(c.ticket_id).bind(c.author_id).bind(c.body.clone()).bind(c.internal).bind(c.created_at);
            }
            q.execute(&mut *tx).await?;
            let mut q = sqlx::query::<Sqlite>(AssertSqlSafe(insert_sql("search_docs", "ticket_id, comment_id, internal, owner, text", batch.len())));
            for c in batch {
                q = q.bind(c.ticket_id).bind(Some(c.id)).bind(c.internal).bind(owner_token(c.ticket_id)).bind(c.body.clone());
            }
            q.execute(&mut *tx).await?;
        }
        for batch in chunk.tags.chunks(ROWS) {
            let mut q = sqlx::query::<Sqlite>(AssertSqlSafe(insert_sql("ticket_tags", "ticket_id, tag", batch.len())));
            for (ticket, tag) in batch {
                q = q.bind(*ticket).bind(*tag);
            }
            q.execute(&mut *tx).await?;
        }
        for batch in chunk.history.chunks(ROWS) {
            let mut q = sqlx::query::<Sqlite>(AssertSqlSafe(insert_sql("ticket_history", HISTORY_COLUMNS, batch.len())));
            for h in batch {
                q = q.bind(h.id).bind(h.ticket_id).bind(h.actor_id).bind(h.at).bind(h.field).bind(h.before.clone()).bind(h.after.clone()).bind(h.internal).bind(h.ticket_team_id);
            }
            q.execute(&mut *tx).await?;
        }
        for batch in chunk.ratings.chunks(ROWS) {
            let mut q = sqlx::query::<Sqlite>(AssertSqlSafe(insert_sql("ticket_ratings", RATING_COLUMNS, batch.len())));
            for r in batch {
                q = q.bind(r.ticket_id).bind(r.user_id).bind(r.score).bind(r.at).bind(r.at).bind(r.ticket_team_id);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        tickets += chunk.tickets.len();
        comments += chunk.comments.len();
        progress(tickets, generator.total, started);
    }
    sqlx::query("UPDATE counters SET value = $1 WHERE name = 'ticket_number'")
        .bind(1000 + tickets as i64)
        .execute(&mut *conn)
        .await?;
    let load = started.elapsed();

    let started = Instant::now();
    for (_, _, sql) in &indexes {
        sqlx::query(AssertSqlSafe(sql.clone())).execute(&mut *conn).await?;
    }
    // Merge the FTS5 segments written by a million small inserts, as a long-lived index would be.
    sqlx::query("INSERT INTO search_docs (search_docs) VALUES ('optimize')").execute(&mut *conn).await?;
    let index = started.elapsed();
    let started = Instant::now();
    sqlx::query("ANALYZE").execute(&mut *conn).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut *conn).await?;
    let analyze = started.elapsed();
    sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
    sqlx::query("PRAGMA cache_size = -2000").execute(&mut *conn).await?;
    Ok(Seeded { tickets, comments, load, index, analyze })
}

/// A value in COPY's text format.
trait CopyText {
    fn copy_text(&self, out: &mut String);
}

impl CopyText for Uuid {
    fn copy_text(&self, out: &mut String) {
        out.push_str(self.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    }
}
impl CopyText for DateTime<Utc> {
    fn copy_text(&self, out: &mut String) {
        out.push_str(&self.to_rfc3339_opts(SecondsFormat::Micros, true));
    }
}
impl CopyText for i64 {
    fn copy_text(&self, out: &mut String) {
        out.push_str(&self.to_string());
    }
}
impl CopyText for i32 {
    fn copy_text(&self, out: &mut String) {
        out.push_str(&self.to_string());
    }
}
impl CopyText for bool {
    fn copy_text(&self, out: &mut String) {
        out.push(if *self { 't' } else { 'f' });
    }
}
impl CopyText for &str {
    fn copy_text(&self, out: &mut String) {
        for c in self.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => out.push(c),
            }
        }
    }
}
impl CopyText for String {
    fn copy_text(&self, out: &mut String) {
        self.as_str().copy_text(out)
    }
}
impl<T: CopyText> CopyText for Option<T> {
    fn copy_text(&self, out: &mut String) {
        match self {
            Some(v) => v.copy_text(out),
            None => out.push_str("\\N"),
        }
    }
}

macro_rules! copy_row {
    ($out:expr, $first:expr $(, $rest:expr)*) => {{
        $first.copy_text($out);
        $( $out.push('\t'); $rest.copy_text($out); )*
        $out.push('\n');
    }};
}

async fn seed_postgres(pool: &sqlx::PgPool, people: &People, generator: &mut Generator) -> anyhow::Result<Seeded> {
    let mut conn = pool.acquire().await?;
    // Secondary indexes that no constraint owns; constraints (keys, unique) stay.
    let indexes: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT i.indexname::text, i.indexdef FROM pg_indexes i \
         WHERE i.schemaname = 'public' AND i.tablename IN ({LOADED_TABLES}) \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
    )))
    .fetch_all(&mut *conn)
    .await?;
    for (name, _) in &indexes {
        sqlx::query(AssertSqlSafe(format!("DROP INDEX {name}"))).execute(&mut *conn).await?;
    }
    // Skips the foreign-key triggers while loading (consistent by construction), and the one
    // copying each ticket's team onto its history (the load writes it itself).
    sqlx::query("SET session_replication_role = replica").execute(&mut *conn).await?;

    let (mut tickets, mut comments) = (0, 0);
    let started = Instant::now();
    while let Some(chunk) = generator.chunk(people) {
        let mut rows = String::with_capacity(chunk.tickets.len() * 600);
        let mut docs = String::with_capacity(chunk.tickets.len() * 500);
        let mut watchers = String::with_capacity(chunk.tickets.len() * 80);
        for t in &chunk.tickets {
            copy_row!(&mut rows, t.id, t.number, t.subject, t.description, t.requester_id, t.assignee_id, t.team_id,
                t.priority, t.category, t.status, t.version, 0i64, t.first_responded_at, t.resolved_at, t.closed_at,
                t.first_response_breached_at, t.resolution_breached_at, t.created_at, t.updated_at);
            copy_row!(&mut docs, t.id, None::<Uuid>, false, format!("{}\n{}", t.subject, t.description));
            copy_row!(&mut watchers, t.id, t.requester_id);
        }
        let mut comment_rows = String::new();
        for c in &chunk.comments {
            copy_row!(&mut comment_rows, c.id, c.ticket_id, c.author_id, c.body, c.internal, c.created_at);
            copy_row!(&mut docs, c.ticket_id, Some(c.id), c.internal, c.body);
        }
        let mut tags = String::new();
        for (ticket, tag) in &chunk.tags {
            copy_row!(&mut tags, *ticket, *tag);
        }
        let mut history = String::new();
        for h in &chunk.history {
            copy_row!(&mut history, h.id, h.ticket_id, h.actor_id, h.at, h.field, h.before, h.after, h.internal, h.ticket_team_id);
        }
        let mut ratings = String::new();
        for r in &chunk.ratings {
            copy_row!(&mut ratings, r.ticket_id, r.user_id, r.score, r.at, r.at, r.ticket_team_id);
        }
        let mut tx = conn.begin().await?;
        for (table, columns, data) in [
            ("tickets", TICKET_COLUMNS, rows),
            ("search_docs", "ticket_id, comment_id, internal, text", docs),
            ("ticket_watchers", "ticket_id, user_id", watchers),
            ("comments", "id, ticket_id, author_id, body, internal, created_at", comment_rows),
            ("ticket_tags", "ticket_id, tag", tags),
            ("ticket_history", HISTORY_COLUMNS, history),
            ("ticket_ratings", RATING_COLUMNS, ratings),
        ] {
            let mut copy = tx.copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN")).await?;
            copy.send(data.into_bytes()).await?;
            copy.finish().await?;
        }
        tx.commit().await?;
        tickets += chunk.tickets.len();
        comments += chunk.comments.len();
        progress(tickets, generator.total, started);
    }
    sqlx::query("SET session_replication_role = DEFAULT").execute(&mut *conn).await?;
    sqlx::query("UPDATE counters SET value = $1 WHERE name = 'ticket_number'")
        .bind(1000 + tickets as i64)
        .execute(&mut *conn)
        .await?;
    let load = started.elapsed();

    let started = Instant::now();
    sqlx::query("SET maintenance_work_mem = '512MB'").execute(&mut *conn).await?;
    for (_, sql) in &indexes {
        sqlx::query(AssertSqlSafe(sql.clone())).execute(&mut *conn).await?;
    }
    sqlx::query("RESET maintenance_work_mem").execute(&mut *conn).await?;
    let index = started.elapsed();
    let started = Instant::now();
    sqlx::query("VACUUM ANALYZE").execute(&mut *conn).await?;
    let analyze = started.elapsed();
    Ok(Seeded { tickets, comments, load, index, analyze })
}

fn progress(done: usize, total: usize, started: Instant) {
    if done.is_multiple_of(200_000) || done == total {
        eprintln!("  seeded {done} tickets ({:.0}/s)", done as f64 / started.elapsed().as_secs_f64());
    }
}

// --- people, through the API ----------------------------------------------------------------

struct Logins {
    agent: String,
    /// The agent's team (the biggest).
    agent_team: Uuid,
    supervisor: String,
}

async fn people(admin: &Client) -> anyhow::Result<(People, Logins)> {
    let me = admin.me().await?;
    let user = |email: String, role: Role, password: bool| CreateUser {
        name: email.split('@').next().unwrap().to_owned(),
        email,
        role,
        phone: None,
        password: password.then(|| PASSWORD.to_owned()),
    };
    let mut teams = Vec::new();
    let mut agents = Vec::new();
    for t in 0..TEAMS {
        let team = admin.create_team(&CreateTeam { name: format!("Team {t}"), description: None }).await?;
        let mut members = Vec::new();
        for a in 0..AGENTS_PER_TEAM {
            let agent = admin.create_user(&user(format!("agent{t}-{a}@example.com"), Role::Agent, t == 0 && a == 0)).await?;
            admin.add_team_member(team.id, agent.id).await?;
            members.push(agent.id);
        }
        teams.push(team.id);
        agents.push(members);
    }
    let supervisor = admin.create_user(&user("supervisor@example.com".to_owned(), Role::Supervisor, true)).await?;
    // The supervisor of the biggest team, for its reports (supervisors see every queue anyway).
    admin.add_team_member(teams[0], supervisor.id).await?;
    let mut customers = Vec::new();
    for c in 0..CUSTOMERS {
        customers.push(admin.create_user(&user(format!("customer{c}@example.com"), Role::Customer, false)).await?.id);
    }
    let logins = Logins { agent: "agent0-0@example.com".to_owned(), agent_team: teams[0], supervisor: "supervisor@example.com".to_owned() };
    Ok((People { admin: me.id, agents, teams, customers }, logins))
}

// --- measuring ------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Stats {
    n: usize,
    p50: Duration,
    p95: Duration,
    p99: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |p: usize| samples[(samples.len() * p / 100).min(samples.len() - 1)];
    Stats { n: samples.len(), p50: at(50), p95: at(95), p99: at(99) }
}

fn iterations() -> usize {
    std::env::var("HDMS_BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

fn budget() -> Duration {
    Duration::from_secs(std::env::var("HDMS_BENCH_SECONDS_PER_KIND").ok().and_then(|v| v.parse().ok()).unwrap_or(8))
}

/// Warm-up, then up to `iterations()` sequential requests (at least 20, within the budget).
async fn sample<T, F, Fut>(mut call: F) -> anyhow::Result<Stats>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = hdms_api_types::client::Result<T>>,
{
    for i in 0..5 {
        call(i).await?;
    }
    let mut samples = Vec::new();
    let started = Instant::now();
    for i in 0..iterations() {
        let at = Instant::now();
        call(i).await?;
        samples.push(at.elapsed());
        if i >= 20 && started.elapsed() > budget() {
            break;
        }
    }
    Ok(stats(samples))
}

/// A server answering `bytes` to every request, as fast as axum can.
async fn bare_server(bytes: Vec<u8>) -> anyhow::Result<Client> {
    let app = Router::new().fallback(move || {
        let bytes = bytes.clone();
        async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], bytes) }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Client::new(&url)?)
}

struct Row {
    kind: String,
    real: Stats,
    bare: Stats,
    /// Items on the page (queues, searches).
    items: usize,
}

async fn list_kind(rows: &mut Vec<Row>, kind: &str, client: &Client, query: TicketListQuery) -> anyhow::Result<()> {
    let page = client.list_tickets(&query).await?;
    let bare = bare_server(serde_json::to_vec(&page)?).await?;
    let real = sample(|_| client.list_tickets(&query)).await?;
    let bare = sample(|_| bare.list_tickets(&query)).await?;
    eprintln!("  {kind:<44} p50 {:>9.2?} p99 {:>9.2?} ({} items)", real.p50, real.p99, page.items.len());
    rows.push(Row { kind: kind.to_owned(), real, bare, items: page.items.len() });
    Ok(())
}

/// The cursor `pages` pages into a queue.
async fn deep_cursor(client: &Client, query: &TicketListQuery, pages: usize) -> anyhow::Result<Option<String>> {
    let mut query = query.clone();
    for _ in 0..pages {
        let page = client.list_tickets(&query).await?;
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    Ok(query.cursor)
}

async fn measure(url: &str, logins: &Logins, sample_ids: &[(Uuid, Option<Uuid>)], searches: &[(String, String)]) -> anyhow::Result<Vec<Row>> {
    let agent = Client::new(url)?;
    agent.login(&logins.agent, PASSWORD).await?;
    let supervisor = Client::new(url)?;
    supervisor.login(&logins.supervisor, PASSWORD).await?;
    let mut rows = Vec::new();
    let q = |f: &dyn Fn(&mut TicketListQuery)| {
        let mut query = TicketListQuery { limit: Some(50), ..Default::default() };
        f(&mut query);
        query
    };
    let team = logins.agent_team;

    // Queues.
    let team_queue = q(&|q| {
        q.status = Some("new,open".into());
        q.team = Some(team);
    });
    list_kind(&mut rows, "agent: team new,open", &agent, team_queue.clone()).await?;
    list_kind(&mut rows, "agent: team new,open -updated", &agent, q(&|q| {
        q.status = Some("new,open".into());
        q.team = Some(team);
        q.sort = Some("-updated".into());
    }))
    .await?;
    list_kind(&mut rows, "agent: team new,open priority", &agent, q(&|q| {
        q.status = Some("new,open".into());
        q.team = Some(team);
        q.sort = Some("priority".into());
    }))
    .await?;
    let mut deep = team_queue.clone();
    deep.cursor = deep_cursor(&agent, &team_queue, 20).await?;
    list_kind(&mut rows, "agent: team new,open page 21", &agent, deep).await?;
    list_kind(&mut rows, "agent: assignee=me active", &agent, q(&|q| {
        q.status = Some("open,in_progress,pending_customer".into());
        q.assignee = Some("me".into());
    }))
    .await?;
    list_kind(&mut rows, "agent: assignee=me all", &agent, q(&|q| q.assignee = Some("me".into()))).await?;
    list_kind(&mut rows, "agent: everything visible", &agent, q(&|_| {})).await?;
    list_kind(&mut rows, "agent: unassigned new", &agent, q(&|q| {
        q.status = Some("new".into());
        q.assignee = Some("none".into());
    }))
    .await?;
    let all_open = q(&|q| q.status = Some("new,open".into()));
    list_kind(&mut rows, "supervisor: new,open", &supervisor, all_open.clone()).await?;
    list_kind(&mut rows, "supervisor: everything", &supervisor, q(&|_| {})).await?;
    list_kind(&mut rows, "supervisor: everything -updated", &supervisor, q(&|q| q.sort = Some("-updated".into()))).await?;
    list_kind(&mut rows, "supervisor: urgent,open priority", &supervisor, q(&|q| {
        q.status = Some("open,in_progress".into());
        q.sort = Some("priority".into());
    }))
    .await?;
    let mut deep = all_open.clone();
    deep.cursor = deep_cursor(&supervisor, &all_open, 100).await?;
    list_kind(&mut rows, "supervisor: new,open page 101", &supervisor, deep).await?;
    list_kind(&mut rows, "supervisor: tag=outage open", &supervisor, q(&|q| {
        q.status = Some("open".into());
        q.tag = Some("outage".into());
    }))
    .await?;

    // Reads: a different ticket each time.
    let agent_ids: Vec<Uuid> = sample_ids.iter().filter(|(_, t)| t.is_none_or(|t| t == team)).map(|(id, _)| *id).collect();
    let all_ids: Vec<Uuid> = sample_ids.iter().map(|(id, _)| *id).collect();
    for (kind, client, ids) in [("agent: read ticket", &agent, &agent_ids), ("supervisor: read ticket", &supervisor, &all_ids)] {
        let ticket = client.get_ticket(ids[0]).await?;
        let bare_client = bare_server(serde_json::to_vec(&ticket)?).await?;
        let real = sample(|i| client.get_ticket(ids[(i * 7919) % ids.len()])).await?;
        let bare = sample(|i| bare_client.get_ticket(ids[(i * 7919) % ids.len()])).await?;
        eprintln!("  {kind:<44} p50 {:>9.2?} p99 {:>9.2?}", real.p50, real.p99);
        rows.push(Row { kind: kind.to_owned(), real, bare, items: 1 });
    }

    // Searches.
    for (label, text) in searches {
        for (who, client) in [("agent", &agent), ("supervisor", &supervisor)] {
            list_kind(&mut rows, &format!("{who}: search {label}"), client, q(&|q| q.q = Some(text.clone()))).await?;
        }
    }
    list_kind(&mut rows, "agent: search common in team new,open", &agent, q(&|q| {
        q.q = Some(searches[0].1.clone());
        q.team = Some(team);
        q.status = Some("new,open".into());
    }))
    .await?;

    // Reports: the last 30 days by day, for the biggest team (its supervisor) and the desk.
    let admin = Client::new(url)?;
    admin.login(ADMIN_EMAIL, PASSWORD).await?;
    let today = Utc::now().date_naive();
    for kind in REPORTS {
        for (who, client, team) in [("supervisor", &supervisor, Some(team)), ("admin", &admin, None)] {
            let query = ReportQuery {
                team,
                from: Some(today - chrono::Duration::days(29)),
                to: Some(today),
                bucket: Some(ReportBucket::Day),
                tz: Some("Europe/Berlin".to_owned()),
            };
            let label = format!("{who}: report {kind} 30 days {}", if team.is_some() { "team" } else { "desk" });
            let answer: serde_json::Value = client.report(kind, &query).await?;
            let bare_client = bare_server(serde_json::to_vec(&answer)?).await?;
            let real = sample(|_| client.report::<serde_json::Value>(kind, &query)).await?;
            let bare = sample(|_| bare_client.report::<serde_json::Value>(kind, &query)).await?;
            eprintln!("  {label:<44} p50 {:>9.2?} p95 {:>9.2?}", real.p50, real.p95);
            let items = answer["buckets"].as_array().map_or(0, Vec::len);
            rows.push(Row { kind: label, real, bare, items });
        }
    }
    Ok(rows)
}

// --- main -----------------------------------------------------------------------------------

struct Report {
    backend: &'static str,
    seeded: Seeded,
    rows: Vec<Row>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total: usize = std::env::var("HDMS_BENCH_TICKETS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let backends = std::env::var("HDMS_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    let keep = std::env::var("HDMS_BENCH_KEEP").is_ok_and(|v| v == "1");
    let bench_started = Instant::now();
    let mut reports = Vec::new();
    let mut probe_report = Vec::new();
    for backend in ["sqlite", "postgres"] {
        if !backends.split(',').any(|b| b.trim() == backend) {
            continue;
        }
        eprintln!("{backend}: starting the server");
        let data_dir = std::env::temp_dir().join(format!("hdms_bench_tickets_{}_{backend}", std::process::id()));
        let mut config = Config::defaults().without_rate_limits();
        config.data_dir = data_dir.clone();
        config.admin_email = Some(ADMIN_EMAIL.to_owned());
        config.admin_password = Some(PASSWORD.to_owned());
        config.login_max_failures = u32::MAX;
        let mut pg_name = None;
        if backend == "postgres" {
            let (url, name) = fresh_postgres().await?;
            config.database_url = Some(url);
            pg_name = Some(name);
        }
        let auto_close = config.auto_close_after_secs;
        let started = hdms_server::start(config).await?;
        let db = started.state.db.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(hdms_server::serve(listener, started.state, async move {
            let _ = stopped.await;
        }));

        let admin = Client::new(&url)?;
        admin.login(ADMIN_EMAIL, PASSWORD).await?;
        let (people, logins) = people(&admin).await?;

        // Probe words: by Zipf rank, a very common term, a frequent one, a middling one, a
        // rare one; and an error code (a few tickets each).
        let probe_ranks = [20usize, 90, 900, 15_000];
        let mut generator = Generator::new(total, Utc::now(), auto_close, probe_ranks.to_vec());
        eprintln!("{backend}: seeding {total} tickets");
        let seeded = seed(&db, &people, &mut generator).await?;
        let words = &generator.vocabulary.words;
        let searches = vec![
            ("common word".to_owned(), words[probe_ranks[0]].clone()),
            ("frequent word".to_owned(), words[probe_ranks[1]].clone()),
            ("middling word".to_owned(), words[probe_ranks[2]].clone()),
            ("rare word".to_owned(), words[probe_ranks[3]].clone()),
            ("error code".to_owned(), "e4242q".to_owned()),
            ("two frequent words".to_owned(), format!("{} {}", words[probe_ranks[1]], words[probe_ranks[0]])),
        ];
        if probe_report.is_empty() {
            for (p, rank) in probe_ranks.iter().enumerate() {
                probe_report.push(format!(
                    "'{}' (rank {rank}) in {:.2}% of tickets",
                    words[*rank],
                    100.0 * generator.probes.docs_with[p] as f64 / total as f64
                ));
            }
        }
        eprintln!(
            "{backend}: seeded {} tickets and {} comments in {:.1?} ({:.0} tickets/s), indexes {:.1?}, analyze {:.1?}",
            seeded.tickets,
            seeded.comments,
            seeded.load,
            seeded.tickets as f64 / seeded.load.as_secs_f64(),
            seeded.index,
            seeded.analyze
        );
        eprintln!("{backend}: measuring");
        let rows = measure(&url, &logins, &generator.sample, &searches).await?;
        reports.push(Report { backend, seeded, rows });

        let _ = stop.send(());
        server.await??;
        db.close().await;
        if keep {
            match &pg_name {
                Some(name) => eprintln!("{backend}: kept database {name}"),
                None => eprintln!("{backend}: kept {}", data_dir.join("hdms.sqlite3").display()),
            }
        } else {
            if let Some(name) = &pg_name {
                drop_postgres(name).await?;
            }
            std::fs::remove_dir_all(&data_dir)?;
        }
    }

    println!("\nhdms tickets at scale: sequential requests over loopback with the real client;");
    println!("ratios are against a bare axum handler answering the same bytes in the same run.");
    for probe in &probe_report {
        println!("  search probe: {probe}");
    }
    for report in &reports {
        let s = &report.seeded;
        println!(
            "\n{}: {} tickets, {} comments; load {:.1?} ({:.0} tickets/s), index build {:.1?}, analyze {:.1?}",
            report.backend,
            s.tickets,
            s.comments,
            s.load,
            s.tickets as f64 / s.load.as_secs_f64(),
            s.index,
            s.analyze
        );
        println!(
            "{:<42} {:>5} {:>5} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8}",
            "kind", "items", "n", "p50", "p95", "p99", "bare p50", "x p50", "x p99"
        );
        for row in &report.rows {
            println!(
                "{:<42} {:>5} {:>5} {:>10.2?} {:>10.2?} {:>10.2?} {:>10.2?} {:>8.1} {:>8.1}",
                row.kind,
                row.items,
                row.real.n,
                row.real.p50,
                row.real.p95,
                row.real.p99,
                row.bare.p50,
                row.real.p50.as_secs_f64() / row.bare.p50.as_secs_f64(),
                row.real.p99.as_secs_f64() / row.bare.p99.as_secs_f64(),
            );
        }
        // Reports beside the queue page of the same run.
        let baseline = report.rows.iter().find(|r| r.kind == "agent: team new,open").map(|r| r.real.p95);
        let reports_p95 = report.rows.iter().filter(|r| r.kind.contains(": report ")).map(|r| (r.kind.as_str(), r.real.p95)).max_by_key(|(_, p95)| *p95);
        if let (Some(baseline), Some((worst_kind, worst))) = (baseline, reports_p95) {
            println!(
                "target 30-day daily report p95 < 200 ms: {} (worst {worst:.2?}, {worst_kind}; {:.1}x the queue page's p95 of {baseline:.2?})",
                if worst <= Duration::from_millis(200) { "met" } else { "MISSED" },
                worst.as_secs_f64() / baseline.as_secs_f64(),
            );
        }
        if report.backend == "sqlite" {
            let queue_p99 = report.rows.iter().filter(|r| !r.kind.contains("search") && !r.kind.contains("read") && !r.kind.contains(": report ")).map(|r| r.real.p99).max();
            let search_p95 = report.rows.iter().filter(|r| r.kind.contains("search")).map(|r| r.real.p95).max();
            let verdict = |worst: Option<Duration>, target: Duration| match worst {
                Some(w) if w <= target => format!("met (worst {w:.2?})"),
                Some(w) => format!("MISSED (worst {w:.2?})"),
                None => "not measured".to_owned(),
            };
            println!("target queue page p99 < 10 ms: {}", verdict(queue_p99, Duration::from_millis(10)));
            println!("target search p95 < 50 ms: {}", verdict(search_p95, Duration::from_millis(50)));
        }
    }
    println!("\ntotal bench time {:.0?}", bench_started.elapsed());
    Ok(())
}

fn postgres_admin_url() -> String {
    std::env::var("HDMS_BENCH_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

async fn fresh_postgres() -> anyhow::Result<(String, String)> {
    let admin_url = postgres_admin_url();
    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
    let name = format!("hdms_bench_tickets_{}", std::process::id());
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(&mut admin).await?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    Ok((format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0), name))
}

async fn drop_postgres(name: &str) -> anyhow::Result<()> {
    let mut admin = sqlx::PgConnection::connect(&postgres_admin_url()).await?;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&mut admin).await?;
    Ok(())
}
