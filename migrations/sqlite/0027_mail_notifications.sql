-- Notifications by mail (issue 14) go through the mail outbox as their own kind (sent with
-- Auto-Submitted: auto-generated). SQLite cannot change a CHECK constraint, so the outbox is
-- rebuilt; its attempts are set aside first, since dropping a table with rows referring to it
-- would fail (foreign keys are on).
CREATE TABLE mail_outbox_new (
    id              BLOB PRIMARY KEY NOT NULL,
    ticket_id       BLOB REFERENCES tickets (id),
    comment_id      BLOB REFERENCES comments (id),
    kind            TEXT NOT NULL CHECK (kind IN ('reply', 'acknowledgement', 'refusal', 'notification')),
    automatic       BOOLEAN NOT NULL,
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
INSERT INTO mail_outbox_new SELECT id, ticket_id, comment_id, kind, automatic, message_id, from_address, to_address, cc_addresses,
    subject, in_reply_to, references_ids, body, state, attempts, next_attempt_at, claimed_until, claim_token, last_error,
    created_at, sent_at, failed_at FROM mail_outbox;
CREATE TABLE mail_attempts_kept AS SELECT * FROM mail_attempts;
DROP TABLE mail_attempts;
DROP TABLE mail_outbox;
ALTER TABLE mail_outbox_new RENAME TO mail_outbox;
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
INSERT INTO mail_attempts SELECT id, outbox_id, attempt, started_at, finished_at, ok, smtp_code, error FROM mail_attempts_kept;
DROP TABLE mail_attempts_kept;
CREATE INDEX mail_attempts_outbox ON mail_attempts (outbox_id, attempt);
