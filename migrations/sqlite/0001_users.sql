-- Users, teams, sessions and credentials. UUIDs are stored as 16-byte BLOBs (sqlx's encoding),
-- timestamps as RFC 3339 text written by the server (never SQL defaults, so every value has the
-- same format and compares correctly as text).

CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('customer', 'agent', 'supervisor', 'admin')),
    phone         TEXT,
    password_hash TEXT,
    active        BOOLEAN NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    deleted_at    TEXT
);
-- An email is unique among live users; a deleted user's address can be given to a new account.
CREATE UNIQUE INDEX users_email_live ON users (email) WHERE deleted_at IS NULL;
CREATE INDEX users_role_live ON users (role) WHERE deleted_at IS NULL;

CREATE TABLE teams (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted_at  TEXT
);
CREATE UNIQUE INDEX teams_name_live ON teams (lower(name)) WHERE deleted_at IS NULL;

CREATE TABLE team_members (
    team_id  BLOB NOT NULL REFERENCES teams (id),
    user_id  BLOB NOT NULL REFERENCES users (id),
    added_at TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

-- A login starts a session; its refresh tokens rotate within it, and revoking the session
-- (logout, refresh-token reuse, user deleted) invalidates its access tokens at once.
CREATE TABLE sessions (
    id             BLOB PRIMARY KEY NOT NULL,
    user_id        BLOB NOT NULL REFERENCES users (id),
    created_at     TEXT NOT NULL,
    revoked_at     TEXT,
    revoked_reason TEXT
);
CREATE INDEX sessions_user_live ON sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE refresh_tokens (
    id         BLOB PRIMARY KEY NOT NULL,
    session_id BLOB NOT NULL REFERENCES sessions (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE api_tokens (
    id           BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_user_live ON api_tokens (user_id) WHERE revoked_at IS NULL;

-- Failed logins, counted per email over a sliding window; shared by every server instance.
CREATE TABLE login_failures (
    id           BLOB PRIMARY KEY NOT NULL,
    email        TEXT NOT NULL,
    attempted_at TEXT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, attempted_at);

-- Secrets generated once and shared by every instance (the JWT key on PostgreSQL).
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
