-- Tickets and everything around them. Priorities are stored as their rank (0 low .. 3 urgent)
-- so queues sort and index on them; statuses as their snake_case names.

CREATE TABLE counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('ticket_number', 1000);

ALTER TABLE teams ADD COLUMN round_robin_last_user_id BLOB REFERENCES users (id);

CREATE TABLE sla_policies (
    id                  BLOB PRIMARY KEY NOT NULL,
    name                TEXT NOT NULL,
    priority            INTEGER NOT NULL,
    category            TEXT,
    team_id             BLOB REFERENCES teams (id),
    first_response_secs BIGINT NOT NULL,
    resolution_secs     BIGINT NOT NULL,
    warning_percent     INTEGER NOT NULL,
    calendar            TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted_at          TEXT
);

CREATE TABLE tickets (
    id                  BLOB PRIMARY KEY NOT NULL,
    number              BIGINT NOT NULL UNIQUE,
    subject             TEXT NOT NULL,
    description         TEXT NOT NULL,
    requester_id        BLOB NOT NULL REFERENCES users (id),
    assignee_id         BLOB REFERENCES users (id),
    team_id             BLOB REFERENCES teams (id),
    priority            INTEGER NOT NULL,
    category            TEXT,
    status              TEXT NOT NULL,
    parent_id           BLOB REFERENCES tickets (id),
    merged_into_id      BLOB REFERENCES tickets (id),
    version             BIGINT NOT NULL,
    -- SLA: business seconds used before the clock last started, and when it started (NULL while
    -- paused or stopped); due and warning instants are derived from them and kept for indexing.
    sla_policy_id       BLOB REFERENCES sla_policies (id),
    sla_used_secs       BIGINT NOT NULL DEFAULT 0,
    sla_running_since   TEXT,
    first_response_due_at  TEXT,
    first_response_warn_at TEXT,
    resolution_due_at      TEXT,
    resolution_warn_at     TEXT,
    first_response_warned_at   TEXT,
    first_response_breached_at TEXT,
    resolution_warned_at       TEXT,
    resolution_breached_at     TEXT,
    first_responded_at  TEXT,
    resolved_at         TEXT,
    closed_at           TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted_at          TEXT
);
-- Queue pages: by team, by assignee, by requester, each newest first with the id as keyset.
CREATE INDEX tickets_team_status ON tickets (team_id, status, id) WHERE deleted_at IS NULL;
CREATE INDEX tickets_assignee_status ON tickets (assignee_id, status, id) WHERE deleted_at IS NULL;
CREATE INDEX tickets_requester ON tickets (requester_id, id) WHERE deleted_at IS NULL;
CREATE INDEX tickets_status ON tickets (status, id) WHERE deleted_at IS NULL;
CREATE INDEX tickets_updated ON tickets (updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX tickets_priority ON tickets (priority, id) WHERE deleted_at IS NULL;
CREATE INDEX tickets_parent ON tickets (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX tickets_first_response_due ON tickets (first_response_due_at) WHERE first_response_due_at IS NOT NULL;
CREATE INDEX tickets_resolution_due ON tickets (resolution_due_at) WHERE resolution_due_at IS NOT NULL;
CREATE INDEX tickets_resolved_at ON tickets (resolved_at) WHERE status = 'resolved';

CREATE TABLE ticket_tags (
    ticket_id BLOB NOT NULL REFERENCES tickets (id),
    tag       TEXT NOT NULL,
    PRIMARY KEY (ticket_id, tag)
);
CREATE INDEX ticket_tags_tag ON ticket_tags (tag, ticket_id);

CREATE TABLE ticket_watchers (
    ticket_id BLOB NOT NULL REFERENCES tickets (id),
    user_id   BLOB NOT NULL REFERENCES users (id),
    PRIMARY KEY (ticket_id, user_id)
);

CREATE TABLE ticket_links (
    id             BLOB PRIMARY KEY NOT NULL,
    from_ticket_id BLOB NOT NULL REFERENCES tickets (id),
    to_ticket_id   BLOB NOT NULL REFERENCES tickets (id),
    kind           TEXT NOT NULL,
    created_by     BLOB NOT NULL REFERENCES users (id),
    created_at     TEXT NOT NULL,
    UNIQUE (from_ticket_id, to_ticket_id, kind)
);
CREATE INDEX ticket_links_to ON ticket_links (to_ticket_id);

CREATE TABLE comments (
    id         BLOB PRIMARY KEY NOT NULL,
    ticket_id  BLOB NOT NULL REFERENCES tickets (id),
    author_id  BLOB NOT NULL REFERENCES users (id),
    body       TEXT NOT NULL,
    internal   BOOLEAN NOT NULL,
    created_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX comments_ticket ON comments (ticket_id, id);

CREATE TABLE ticket_history (
    id        BLOB PRIMARY KEY NOT NULL,
    ticket_id BLOB NOT NULL REFERENCES tickets (id),
    actor_id  BLOB REFERENCES users (id),
    at        TEXT NOT NULL,
    field     TEXT NOT NULL,
    before    TEXT,
    after     TEXT,
    -- Hidden from customers (assignment, internal notes, approvals' inner workings).
    internal  BOOLEAN NOT NULL
);
CREATE INDEX ticket_history_ticket ON ticket_history (ticket_id, id);

CREATE TABLE approvals (
    id           BLOB PRIMARY KEY NOT NULL,
    ticket_id    BLOB NOT NULL REFERENCES tickets (id),
    requested_by BLOB REFERENCES users (id),
    rule         TEXT NOT NULL CHECK (rule IN ('any', 'all')),
    reason       TEXT,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'withdrawn')),
    return_to    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    decided_at   TEXT
);
CREATE INDEX approvals_ticket ON approvals (ticket_id);

-- One row per approver slot: a named user, or any one user of a role.
CREATE TABLE approval_slots (
    id          BLOB PRIMARY KEY NOT NULL,
    approval_id BLOB NOT NULL REFERENCES approvals (id),
    user_id     BLOB REFERENCES users (id),
    role        TEXT,
    decision    TEXT CHECK (decision IN ('approved', 'rejected')),
    decided_by  BLOB REFERENCES users (id),
    comment     TEXT,
    decided_at  TEXT
);
CREATE INDEX approval_slots_approval ON approval_slots (approval_id);
CREATE INDEX approval_slots_user ON approval_slots (user_id) WHERE decision IS NULL;

-- Categories whose new tickets need approval before work starts.
CREATE TABLE approval_rules (
    id         BLOB PRIMARY KEY NOT NULL,
    category   TEXT NOT NULL,
    rule       TEXT NOT NULL CHECK (rule IN ('any', 'all')),
    approvers  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX approval_rules_category ON approval_rules (lower(category)) WHERE deleted_at IS NULL;

CREATE TABLE saved_views (
    id         BLOB PRIMARY KEY NOT NULL,
    owner_id   BLOB NOT NULL REFERENCES users (id),
    name       TEXT NOT NULL,
    query      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX saved_views_owner ON saved_views (owner_id) WHERE deleted_at IS NULL;

-- Canned replies and macros; owner NULL means shared with everyone.
CREATE TABLE canned_replies (
    id         BLOB PRIMARY KEY NOT NULL,
    owner_id   BLOB REFERENCES users (id),
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    deleted_at TEXT
);

CREATE TABLE macros (
    id         BLOB PRIMARY KEY NOT NULL,
    owner_id   BLOB REFERENCES users (id),
    name       TEXT NOT NULL,
    actions    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    deleted_at TEXT
);

-- Notifications for people (delivered live and by SMS by the comms domain).
CREATE TABLE notifications (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL,
    ticket_id  BLOB REFERENCES tickets (id),
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at    TEXT
);
CREATE INDEX notifications_user ON notifications (user_id, id);

-- Full-text search documents: a ticket's subject and description, and each comment.
CREATE VIRTUAL TABLE search_docs USING fts5 (
    ticket_id UNINDEXED,
    comment_id UNINDEXED,
    internal UNINDEXED,
    text,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
