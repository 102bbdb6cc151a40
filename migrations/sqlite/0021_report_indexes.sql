-- Reports (crates/server/src/tickets/reports.rs) count tickets by the instant something
-- happened, one index range per bucket of the window. Each instant gets an index, with the
-- team beside it so that a team's report reads the index alone.
CREATE INDEX tickets_created_report ON tickets (created_at, team_id) WHERE deleted_at IS NULL;
CREATE INDEX tickets_resolved_report ON tickets (resolved_at, team_id)
    WHERE deleted_at IS NULL AND resolved_at IS NOT NULL;
CREATE INDEX tickets_first_responded_report ON tickets (first_responded_at, team_id)
    WHERE deleted_at IS NULL AND first_responded_at IS NOT NULL;
CREATE INDEX tickets_first_response_breached_report ON tickets (first_response_breached_at, team_id)
    WHERE deleted_at IS NULL AND first_response_breached_at IS NOT NULL;
CREATE INDEX tickets_resolution_breached_report ON tickets (resolution_breached_at, team_id)
    WHERE deleted_at IS NULL AND resolution_breached_at IS NOT NULL;
-- Status changes, reopenings and assignments in a window.
CREATE INDEX ticket_history_field_at ON ticket_history (field, at);
-- Replies in a window, per author.
CREATE INDEX comments_created_at ON comments (created_at);
