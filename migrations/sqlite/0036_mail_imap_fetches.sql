-- Which poller took each message out of an IMAP mailbox (issue 14): one row per fetch, with
-- the lease it held. "Exactly one instance polls a mailbox" is then a fact to check (no UID
-- fetched under two leases), not only a property of the Message-ID check that hides a double
-- fetch. Rows older than a month go when a lease is taken.
CREATE TABLE mail_imap_fetches (
    mailbox_id   BLOB NOT NULL REFERENCES mail_mailboxes (id),
    uid_validity INTEGER,
    uid          INTEGER NOT NULL,
    lease_token  BLOB NOT NULL,
    fetched_at   TEXT NOT NULL
);
CREATE INDEX mail_imap_fetches_mailbox ON mail_imap_fetches (mailbox_id, fetched_at);
