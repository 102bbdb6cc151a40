-- The email channel, mail in (issue 14): mailboxes, every message received or sent (threading
-- looks replies up by Message-ID here), mail that could not be taken in, and addresses whose
-- mail bounced. Raw messages live in the attachments' content store, by SHA-256.

-- Where mail comes from: a mailbox polled over IMAP (imap_host set), or one fed by
-- `hdms mailgate` only. unknown_senders says what a message from an address no user has gets.
CREATE TABLE mail_mailboxes (
    id                 UUID PRIMARY KEY,
    name               TEXT NOT NULL,
    -- The support address this mailbox receives; replies go out from it.
    address            TEXT,
    unknown_senders    TEXT NOT NULL DEFAULT 'create' CHECK (unknown_senders IN ('create', 'refuse', 'drop')),
    imap_host          TEXT,
    imap_port          INTEGER,
    imap_security      TEXT CHECK (imap_security IN ('tls', 'starttls', 'plain')),
    imap_user          TEXT,
    -- Never answered by the API, never logged.
    imap_password      TEXT,
    imap_folder        TEXT NOT NULL DEFAULT 'INBOX',
    poll_interval_secs INTEGER NOT NULL DEFAULT 60,
    -- What happens to a message once taken in: flagged \Seen, or moved to move_to_folder.
    after_processing   TEXT NOT NULL DEFAULT 'seen' CHECK (after_processing IN ('seen', 'move')),
    move_to_folder     TEXT,
    -- Where polling stands: a new UIDVALIDITY means the UIDs start over.
    uid_validity       BIGINT,
    last_uid           BIGINT NOT NULL DEFAULT 0,
    -- One instance polls a mailbox at a time: it holds the lease until lease_until.
    lease_token        UUID,
    lease_until        TIMESTAMPTZ,
    last_polled_at     TIMESTAMPTZ,
    last_error         TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    deleted_at         TIMESTAMPTZ
);
CREATE UNIQUE INDEX mail_mailboxes_name ON mail_mailboxes (lower(name)) WHERE deleted_at IS NULL;

-- Every message hdms received or sent, once per Message-ID (kept without angle brackets).
CREATE TABLE mail_messages (
    id           UUID PRIMARY KEY,
    message_id   TEXT NOT NULL,
    direction    TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    ticket_id    UUID REFERENCES tickets (id),
    comment_id   UUID REFERENCES comments (id),
    mailbox_id   UUID REFERENCES mail_mailboxes (id),
    raw_sha256   TEXT,
    from_address TEXT NOT NULL,
    -- Comma-separated, lower case.
    to_addresses TEXT NOT NULL DEFAULT '',
    cc_addresses TEXT NOT NULL DEFAULT '',
    subject      TEXT NOT NULL DEFAULT '',
    disposition  TEXT NOT NULL CHECK (disposition IN ('ticket_created', 'comment_added', 'stored', 'bounce', 'dropped')),
    -- Why it is machine mail (never answered, never reopens), or NULL for a person's mail.
    automatic    TEXT,
    -- The whole text, quoted history included (the comment has the reply alone).
    full_text    TEXT NOT NULL DEFAULT '',
    html         TEXT,
    -- Attachments refused, one reason per line.
    problems     TEXT,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX mail_messages_message_id ON mail_messages (message_id);
CREATE INDEX mail_messages_ticket ON mail_messages (ticket_id, created_at);

-- Mail that could not be taken in; never in the way of the mail after it.
CREATE TABLE mail_failures (
    id              UUID PRIMARY KEY,
    mailbox_id      UUID REFERENCES mail_mailboxes (id),
    raw_sha256      TEXT NOT NULL,
    size            BIGINT NOT NULL,
    reason          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 1,
    state           TEXT NOT NULL CHECK (state IN ('failed', 'retried')),
    created_at      TIMESTAMPTZ NOT NULL,
    last_attempt_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX mail_failures_listed ON mail_failures (state, created_at);

-- Addresses mail to which bounced: no mail goes to them until an admin clears them (or mail
-- from them shows they work again).
CREATE TABLE mail_failing_addresses (
    address   TEXT PRIMARY KEY,
    reason    TEXT NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL
);
