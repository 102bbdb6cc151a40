-- The email channel, mail out (issue 14): the SMTP account, an outbox the sender worker drains
-- (as SMS are sent: queued in the transaction of the reply, claimed by one instance with a
-- lease, retried with backoff), every attempt, and the count of automatic answers per address.

-- The one SMTP account; the password is never answered by the API.
CREATE TABLE mail_smtp (
    id                      INTEGER PRIMARY KEY CHECK (id = 1),
    host                    TEXT NOT NULL,
    port                    INTEGER NOT NULL,
    security                TEXT NOT NULL CHECK (security IN ('tls', 'starttls', 'plain')),
    username                TEXT,
    password                TEXT,
    from_address            TEXT NOT NULL,
    from_name               TEXT,
    acknowledge_new_tickets BOOLEAN NOT NULL DEFAULT 0,
    updated_at              TEXT NOT NULL
);

CREATE TABLE mail_outbox (
    id              BLOB PRIMARY KEY NOT NULL,
    ticket_id       BLOB REFERENCES tickets (id),
    comment_id      BLOB REFERENCES comments (id),
    kind            TEXT NOT NULL CHECK (kind IN ('reply', 'acknowledgement', 'refusal')),
    -- Sent without a person's doing: carries Auto-Submitted, is rate limited per recipient.
    automatic       BOOLEAN NOT NULL,
    -- Our Message-ID, without brackets (also in mail_messages, for threading the answers).
    message_id      TEXT NOT NULL,
    from_address    TEXT,
    to_address      TEXT NOT NULL,
    cc_addresses    TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL,
    in_reply_to     TEXT,
    references_ids  TEXT NOT NULL DEFAULT '',
    body            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_until   TEXT,
    claim_token     BLOB,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    failed_at       TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE state IN ('pending', 'sending');
CREATE INDEX mail_outbox_ticket ON mail_outbox (ticket_id, created_at);

CREATE TABLE mail_attempts (
    id          BLOB PRIMARY KEY NOT NULL,
    outbox_id   BLOB NOT NULL REFERENCES mail_outbox (id),
    attempt     INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    ok          BOOLEAN NOT NULL,
    smtp_code   INTEGER,
    error       TEXT
);
CREATE INDEX mail_attempts_outbox ON mail_attempts (outbox_id, attempt);

-- Automatic answers per recipient in the current window, so two auto-responders cannot keep
-- each other busy.
CREATE TABLE mail_auto_replies (
    address      TEXT PRIMARY KEY NOT NULL,
    window_start TEXT NOT NULL,
    sent         INTEGER NOT NULL
);
