-- The orphan sweep (files::sweep) asks whether any mail still refers to stored content.
CREATE INDEX mail_messages_raw_sha256 ON mail_messages (raw_sha256);
CREATE INDEX mail_failures_raw_sha256 ON mail_failures (raw_sha256);
