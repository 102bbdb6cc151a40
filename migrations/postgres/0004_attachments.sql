-- Attachments. Content is stored once per SHA-256 (`attachment_blobs`), and scanned and
-- processed once per content; each upload to a ticket is an `attachments` row pointing at it.

CREATE TABLE attachment_blobs (
    sha256           TEXT PRIMARY KEY NOT NULL,
    size             BIGINT NOT NULL,
    -- The type sniffed from the content, when it has a signature.
    sniffed_type     TEXT,
    scan_state       TEXT NOT NULL CHECK (scan_state IN ('pending', 'clean', 'infected', 'scan_failed', 'unscanned')),
    scan_signature   TEXT,
    scan_error       TEXT,
    scan_attempts    INTEGER NOT NULL DEFAULT 0,
    scanned_at       TIMESTAMPTZ,
    -- Work queue of the scan worker: due when next_work_at has passed and no live claim holds it.
    next_work_at     TIMESTAMPTZ NOT NULL,
    claim_token      UUID,
    claimed_until    TIMESTAMPTZ,
    -- Image processing, done once the content is clean (or unscanned).
    processed        BOOLEAN NOT NULL DEFAULT FALSE,
    image_width      INTEGER,
    image_height     INTEGER,
    has_thumbnail    BOOLEAN NOT NULL DEFAULT FALSE,
    processing_error TEXT,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX attachment_blobs_due ON attachment_blobs (next_work_at)
    WHERE scan_state IN ('pending', 'scan_failed', 'unscanned') OR NOT processed;

CREATE TABLE attachments (
    id            UUID PRIMARY KEY,
    ticket_id     UUID NOT NULL REFERENCES tickets (id),
    sha256        TEXT NOT NULL REFERENCES attachment_blobs (sha256),
    file_name     TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    declared_type TEXT,
    uploaded_by   UUID NOT NULL REFERENCES users (id),
    created_at    TIMESTAMPTZ NOT NULL,
    deleted_at    TIMESTAMPTZ
);
CREATE INDEX attachments_ticket_live ON attachments (ticket_id, created_at) WHERE deleted_at IS NULL;
CREATE INDEX attachments_sha256 ON attachments (sha256);

-- Settings admins change at run time; the server's configuration gives the defaults.
CREATE TABLE admin_settings (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_by UUID REFERENCES users (id),
    updated_at TIMESTAMPTZ NOT NULL
);
