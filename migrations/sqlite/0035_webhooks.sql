-- Outgoing webhooks (issue 15): endpoints admins register, one delivery per event and endpoint
-- (an outbox: written in the transaction of the event, drained by the webhook worker on every
-- instance with a lease, as SMS and mail are), and every attempt with the receiver's answer.

CREATE TABLE webhook_endpoints (
    id              BLOB PRIMARY KEY NOT NULL,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    -- Event types, comma-separated (`ticket.created,comment.created`).
    events          TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    -- Why the endpoint was turned off by hdms (it answered 410 Gone), if it was.
    disabled_reason TEXT,
    -- `whsec_` and the base64 key: the API shows it once, when it is made.
    secret          TEXT NOT NULL,
    created_by      BLOB REFERENCES users (id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              BLOB PRIMARY KEY NOT NULL,
    endpoint_id     BLOB NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type      TEXT NOT NULL,
    -- The exact JSON body sent (and signed) on every attempt.
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'failed')),
    -- Attempts ever made (numbers the log); `cycle_attempts` counts those since the delivery
    -- was queued or redelivered, which is what the retry schedule follows.
    attempts        INTEGER NOT NULL DEFAULT 0,
    cycle_attempts  INTEGER NOT NULL DEFAULT 0,
    -- At most this many attempts per cycle (1 for a ping).
    max_attempts    INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    claimed_until   TEXT,
    claim_token     BLOB,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT,
    failed_at       TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE webhook_attempts (
    id              BLOB PRIMARY KEY NOT NULL,
    delivery_id     BLOB NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT NOT NULL,
    ok              BOOLEAN NOT NULL,
    response_status INTEGER,
    -- The start of the receiver's answer (capped), for the delivery log.
    response_body   TEXT,
    error           TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);
