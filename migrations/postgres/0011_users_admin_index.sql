-- The index over every live user's role served one query: counting the live admins (the last
-- one may not be demoted). It made every user insert, a bulk import's 100,000 of them too, write
-- one more B-tree. An index over the live admins alone serves that query and stays out of the
-- way of every other user's insert. Listing users by role pages through the primary key anyway.
DROP INDEX users_role_live;
CREATE INDEX users_live_admins ON users (id) WHERE role = 'admin' AND deleted_at IS NULL;
