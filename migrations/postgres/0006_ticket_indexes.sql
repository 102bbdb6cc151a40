-- Queue pages at a million tickets (crates/server/benches/tickets_scale.rs). A queue filters on
-- a list of statuses and sorts by created (the id), updated or priority; no single index gives
-- rows in that order across several statuses, so the page is chosen by sorting the matches.
-- These indexes hold every column the choosing needs (the list query reads rows only for the
-- page it picked), so the sort runs over index entries instead of whole ticket rows.

-- "Assigned to me", any status, newest first: an ordered range, no sort at all.
CREATE INDEX tickets_assignee ON tickets (assignee_id, id) WHERE deleted_at IS NULL;
-- A team's queue by status, in any of the sorts; assignee_id for agents' visibility rule.
CREATE INDEX tickets_team_queue ON tickets (team_id, status, priority, updated_at, assignee_id, id) WHERE deleted_at IS NULL;
-- Everyone's queue by status (supervisors, admins), in any of the sorts.
CREATE INDEX tickets_status_queue ON tickets (status, priority, updated_at, id) WHERE deleted_at IS NULL;
