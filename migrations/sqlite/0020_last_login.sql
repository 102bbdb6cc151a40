-- When each user last signed in (a password login, or its SMS code step). Refreshing a token
-- keeps a session going and is not a sign-in, so it leaves this alone. NULL: never.
ALTER TABLE users ADD COLUMN last_login_at TEXT;
