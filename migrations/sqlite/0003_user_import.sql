-- Bulk user import (issue 6): what an import file may carry beyond the basics, and invitations.
--
-- An invitation is a one-time set-password token. Only its SHA-256 digest is kept, on the user's
-- own row: the token names the user, so it is checked by primary key and needs no index of its
-- own (a UNIQUE index on random digests makes every imported row a random B-tree insert, which
-- is what made per-user invitation rows slow). Accepting it clears both columns.

ALTER TABLE users ADD COLUMN locale TEXT;
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN invite_hash TEXT;
ALTER TABLE users ADD COLUMN invite_expires_at TEXT;
