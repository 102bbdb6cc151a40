-- A personal API token may be limited to one action (e.g. `mail.ingest` for `hdms mailgate`):
-- then it works only on the routes that need exactly that action, so a token file on a mail
-- server cannot read or change anything. NULL: everything its owner may do.
ALTER TABLE api_tokens ADD COLUMN scope TEXT;
