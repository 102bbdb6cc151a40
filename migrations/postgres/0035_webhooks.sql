-- Outgoing webhooks (issue 15): endpoints admins register, one delivery per event and endpoint
-- (an outbox: written in the transaction of the event, drained by the webhook worker on every
-- instance with a lease, as SMS and mail are), and every attempt with the receiver's answer.

CREATE TABLE webhook_endpoints (
    id              UUID PRIMARY KEY,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    -- Event types, comma-separated (`ticket.created,comment.created`).
    events          TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL,
    -- Why the endpoint was turned off by hdms (it answered 410 Gone), if it was.
    disabled_reason TEXT,
    -- `whsec_` and the base64 key: the API shows it once, when it is made.
    secret          TEXT NOT NULL,
    created_by      UUID REFERENCES users (id),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              UUID PRIMARY KEY,
    endpoint_id     UUID NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
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
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_until   TIMESTAMPTZ,
    claim_token     UUID,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    failed_at       TIMESTAMPTZ
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE webhook_attempts (
    id              UUID PRIMARY KEY,
    delivery_id     UUID NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ NOT NULL,
    ok              BOOLEAN NOT NULL,
    response_status INTEGER,
    -- The start of the receiver's answer (capped), for the delivery log.
    response_body   TEXT,
    error           TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);
