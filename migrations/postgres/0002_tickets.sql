-- Tickets and everything around them. Priorities are stored as their rank (0 low .. 3 urgent)
-- so queues sort and index on them; statuses as their snake_case names.

CREATE TABLE counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('ticket_number', 1000);

ALTER TABLE teams ADD COLUMN round_robin_last_user_id UUID REFERENCES users (id);

CREATE TABLE sla_policies (
    id                  UUID PRIMARY KEY,
    name                TEXT NOT NULL,
    priority            INTEGER NOT NULL,
    category            TEXT,
    team_id             UUID REFERENCES teams (id),
    first_response_secs BIGINT NOT NULL,
    resolution_secs     BIGINT NOT NULL,
    warning_percent     INTEGER NOT NULL,
    calendar            TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    deleted_at          TIMESTAMPTZ
);

CREATE TABLE tickets (
    id                  UUID PRIMARY KEY,
    number              BIGINT NOT NULL UNIQUE,
    subject             TEXT NOT NULL,
    description         TEXT NOT NULL,
    requester_id        UUID NOT NULL REFERENCES users (id),
    assignee_id         UUID REFERENCES users (id),
    team_id             UUID REFERENCES teams (id),
    priority            INTEGER NOT NULL,
    category            TEXT,
    status              TEXT NOT NULL,
    parent_id           UUID REFERENCES tickets (id),
    merged_into_id      UUID REFERENCES tickets (id),
    version             BIGINT NOT NULL,
    -- SLA: business seconds used before the clock last started, and when it started (NULL while
    -- paused or stopped); due and warning instants are derived from them and kept for indexing.
    sla_policy_id       UUID REFERENCES sla_policies (id),
    sla_used_secs       BIGINT NOT NULL DEFAULT 0,
    sla_running_since   TIMESTAMPTZ,
    first_response_due_at  TIMESTAMPTZ,
    first_response_warn_at TIMESTAMPTZ,
    resolution_due_at      TIMESTAMPTZ,
    resolution_warn_at     TIMESTAMPTZ,
    first_response_warned_at   TIMESTAMPTZ,
    first_response_breached_at TIMESTAMPTZ,
    resolution_warned_at       TIMESTAMPTZ,
    resolution_breached_at     TIMESTAMPTZ,
    first_responded_at  TIMESTAMPTZ,
    resolved_at         TIMESTAMPTZ,
    closed_at           TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    deleted_at          TIMESTAMPTZ
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
    ticket_id UUID NOT NULL REFERENCES tickets (id),
    tag       TEXT NOT NULL,
    PRIMARY KEY (ticket_id, tag)
);
CREATE INDEX ticket_tags_tag ON ticket_tags (tag, ticket_id);

CREATE TABLE ticket_watchers (
    ticket_id UUID NOT NULL REFERENCES tickets (id),
    user_id   UUID NOT NULL REFERENCES users (id),
    PRIMARY KEY (ticket_id, user_id)
);

CREATE TABLE ticket_links (
    id             UUID PRIMARY KEY,
    from_ticket_id UUID NOT NULL REFERENCES tickets (id),
    to_ticket_id   UUID NOT NULL REFERENCES tickets (id),
    kind           TEXT NOT NULL,
    created_by     UUID NOT NULL REFERENCES users (id),
    created_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (from_ticket_id, to_ticket_id, kind)
);
CREATE INDEX ticket_links_to ON ticket_links (to_ticket_id);

CREATE TABLE comments (
    id         UUID PRIMARY KEY,
    ticket_id  UUID NOT NULL REFERENCES tickets (id),
    author_id  UUID NOT NULL REFERENCES users (id),
    body       TEXT NOT NULL,
    internal   BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);
CREATE INDEX comments_ticket ON comments (ticket_id, id);

CREATE TABLE ticket_history (
    id        UUID PRIMARY KEY,
    ticket_id UUID NOT NULL REFERENCES tickets (id),
    actor_id  UUID REFERENCES users (id),
    at        TIMESTAMPTZ NOT NULL,
    field     TEXT NOT NULL,
    before    TEXT,
    after     TEXT,
    -- Hidden from customers (assignment, internal notes, approvals' inner workings).
    internal  BOOLEAN NOT NULL
);
CREATE INDEX ticket_history_ticket ON ticket_history (ticket_id, id);

CREATE TABLE approvals (
    id           UUID PRIMARY KEY,
    ticket_id    UUID NOT NULL REFERENCES tickets (id),
    requested_by UUID REFERENCES users (id),
    rule         TEXT NOT NULL CHECK (rule IN ('any', 'all')),
    reason       TEXT,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'withdrawn')),
    return_to    TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    decided_at   TIMESTAMPTZ
);
CREATE INDEX approvals_ticket ON approvals (ticket_id);

-- One row per approver slot: a named user, or any one user of a role.
CREATE TABLE approval_slots (
    id          UUID PRIMARY KEY,
    approval_id UUID NOT NULL REFERENCES approvals (id),
    user_id     UUID REFERENCES users (id),
    role        TEXT,
    decision    TEXT CHECK (decision IN ('approved', 'rejected')),
    decided_by  UUID REFERENCES users (id),
    comment     TEXT,
    decided_at  TIMESTAMPTZ
);
CREATE INDEX approval_slots_approval ON approval_slots (approval_id);
CREATE INDEX approval_slots_user ON approval_slots (user_id) WHERE decision IS NULL;

-- Categories whose new tickets need approval before work starts.
CREATE TABLE approval_rules (
    id         UUID PRIMARY KEY,
    category   TEXT NOT NULL,
    rule       TEXT NOT NULL CHECK (rule IN ('any', 'all')),
    approvers  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX approval_rules_category ON approval_rules (lower(category)) WHERE deleted_at IS NULL;

CREATE TABLE saved_views (
    id         UUID PRIMARY KEY,
    owner_id   UUID NOT NULL REFERENCES users (id),
    name       TEXT NOT NULL,
    query      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);
CREATE INDEX saved_views_owner ON saved_views (owner_id) WHERE deleted_at IS NULL;

-- Canned replies and macros; owner NULL means shared with everyone.
CREATE TABLE canned_replies (
    id         UUID PRIMARY KEY,
    owner_id   UUID REFERENCES users (id),
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);

CREATE TABLE macros (
    id         UUID PRIMARY KEY,
    owner_id   UUID REFERENCES users (id),
    name       TEXT NOT NULL,
    actions    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);

-- Notifications for people (delivered live and by SMS by the comms domain).
CREATE TABLE notifications (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL,
    ticket_id  UUID REFERENCES tickets (id),
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    read_at    TIMESTAMPTZ
);
CREATE INDEX notifications_user ON notifications (user_id, id);

-- Full-text search documents: a ticket's subject and description, and each comment.
CREATE TABLE search_docs (
    ticket_id  UUID NOT NULL REFERENCES tickets (id),
    comment_id UUID,
    internal   BOOLEAN NOT NULL,
    text       TEXT NOT NULL,
    tsv        tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
);
CREATE INDEX search_docs_tsv ON search_docs USING GIN (tsv);
CREATE INDEX search_docs_ticket ON search_docs (ticket_id);
