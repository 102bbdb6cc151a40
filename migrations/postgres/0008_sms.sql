-- SMS: an outbox the delivery worker drains (so nothing is sent inside a request's transaction,
-- and nothing queued is lost to a restart), every delivery attempt, per-user notification
-- preferences, verified phone numbers and one-time codes.

-- One text message to send. The worker claims due rows with a conditional UPDATE (a lease in
-- claimed_until/claim_token), so with several instances each message is sent by one of them.
CREATE TABLE sms_outbox (
    id                  UUID PRIMARY KEY,
    user_id             UUID REFERENCES users (id),
    phone               TEXT NOT NULL,
    body                TEXT NOT NULL,
    -- One-time codes: the body is blanked once the message is sent or given up on.
    sensitive           BOOLEAN NOT NULL DEFAULT FALSE,
    state               TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     TIMESTAMPTZ NOT NULL,
    claimed_until       TIMESTAMPTZ,
    claim_token         UUID,
    last_error          TEXT,
    provider            TEXT,
    provider_message_id TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    sent_at             TIMESTAMPTZ,
    failed_at           TIMESTAMPTZ
);
CREATE INDEX sms_outbox_due ON sms_outbox (next_attempt_at) WHERE state IN ('pending', 'sending');
CREATE INDEX sms_outbox_user ON sms_outbox (user_id, created_at);

-- Every attempt at delivering a message, successful or not.
CREATE TABLE sms_attempts (
    id                  UUID PRIMARY KEY,
    outbox_id           UUID NOT NULL REFERENCES sms_outbox (id),
    attempt             INTEGER NOT NULL,
    provider            TEXT NOT NULL,
    started_at          TIMESTAMPTZ NOT NULL,
    finished_at         TIMESTAMPTZ NOT NULL,
    ok                  BOOLEAN NOT NULL,
    http_status         INTEGER,
    error               TEXT,
    provider_message_id TEXT
);
CREATE INDEX sms_attempts_outbox ON sms_attempts (outbox_id, attempt);

-- Which channels each kind of event uses for a user; no row means in-app on, SMS off.
CREATE TABLE notification_preferences (
    user_id    UUID NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL,
    in_app     BOOLEAN NOT NULL,
    sms        BOOLEAN NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- The phone number a user proved they receive SMS on. It counts only while it is still the
-- user's number: changing users.phone (by any path) undoes the verification and, with it, SMS
-- login codes.
CREATE TABLE phone_verifications (
    user_id     UUID PRIMARY KEY REFERENCES users (id),
    phone       TEXT NOT NULL,
    verified_at TIMESTAMPTZ NOT NULL,
    login_otp   BOOLEAN NOT NULL DEFAULT FALSE
);

-- One-time codes sent by SMS, stored as Argon2 hashes: to verify a phone number, or as the
-- second step of a login (then found by the digest of the challenge given to the client).
CREATE TABLE sms_codes (
    id             UUID PRIMARY KEY,
    user_id        UUID NOT NULL REFERENCES users (id),
    purpose        TEXT NOT NULL CHECK (purpose IN ('phone_verification', 'login')),
    phone          TEXT NOT NULL,
    code_hash      TEXT NOT NULL,
    challenge_hash TEXT UNIQUE,
    attempts       INTEGER NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    used_at        TIMESTAMPTZ
);
CREATE INDEX sms_codes_user ON sms_codes (user_id, created_at);
