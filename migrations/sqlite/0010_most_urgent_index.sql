-- "Most urgent first" (priority, then oldest first) at a million tickets (benches/tickets_scale.rs).
--
-- Over several statuses no index gave rows in that order, so every open and in-progress ticket
-- was sorted for each page (49 ms). Ordering by (priority DESC, id) alone does not help either:
-- the oldest urgent tickets are long closed, and a scan walks through all of them first.
-- Tickets still to work on are a few percent of the table, so they get a partial index of
-- their own, in that order, with what queues filter on beside it (status, team, assignee).
-- Most-urgent-first queries over such statuses state this WHERE verbatim (crud.rs,
-- ACTIVE_STATUSES) so that a planner may use it (SQLite is told to, with INDEXED BY). The
-- plain priority order gets the same column order, for any status.
DROP INDEX tickets_priority;
CREATE INDEX tickets_priority ON tickets (priority DESC, id) WHERE deleted_at IS NULL;
CREATE INDEX tickets_active_by_urgency ON tickets (priority DESC, id, status, team_id, assignee_id)
    WHERE deleted_at IS NULL AND status IN ('new', 'open', 'in_progress', 'pending_customer', 'pending_approval');

-- The same for a team's queue, newest or oldest first: its statuses still to work on spread
-- over several ranges of (team_id, status, id), so each page sorted the team's whole open work.
CREATE INDEX tickets_active_by_team ON tickets (team_id, id, status, assignee_id)
    WHERE deleted_at IS NULL AND status IN ('new', 'open', 'in_progress', 'pending_customer', 'pending_approval');
