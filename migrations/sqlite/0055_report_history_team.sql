-- Reports (crates/server/src/tickets/reports.rs) count a window's history rows for the team
-- their ticket is in now, leaving deleted tickets out. Joining each of those rows to `tickets`
-- for that was most of a report's time at 1,000,000 tickets (a 30-day window holds some 10^5
-- status changes), so every history row (and rating) carries its ticket's team and deletion,
-- kept by triggers: a row takes them from its ticket when written, and a ticket's move to
-- another team, deletion or restoring rewrites them on all its rows (a few per ticket, by
-- ticket_id).
ALTER TABLE ticket_history ADD COLUMN ticket_team_id BLOB;
ALTER TABLE ticket_history ADD COLUMN ticket_deleted_at TEXT;
UPDATE ticket_history SET ticket_team_id = t.team_id, ticket_deleted_at = t.deleted_at
    FROM tickets t WHERE t.id = ticket_history.ticket_id;
ALTER TABLE ticket_ratings ADD COLUMN ticket_team_id BLOB;
ALTER TABLE ticket_ratings ADD COLUMN ticket_deleted_at TEXT;
UPDATE ticket_ratings SET ticket_team_id = t.team_id, ticket_deleted_at = t.deleted_at
    FROM tickets t WHERE t.id = ticket_ratings.ticket_id;

CREATE TRIGGER ticket_history_carries_team AFTER INSERT ON ticket_history BEGIN
    UPDATE ticket_history
        SET (ticket_team_id, ticket_deleted_at) = (SELECT t.team_id, t.deleted_at FROM tickets t WHERE t.id = NEW.ticket_id)
        WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER ticket_ratings_carry_team AFTER INSERT ON ticket_ratings BEGIN
    UPDATE ticket_ratings
        SET (ticket_team_id, ticket_deleted_at) = (SELECT t.team_id, t.deleted_at FROM tickets t WHERE t.id = NEW.ticket_id)
        WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER tickets_team_to_reports AFTER UPDATE OF team_id, deleted_at ON tickets
    WHEN OLD.team_id IS NOT NEW.team_id OR OLD.deleted_at IS NOT NEW.deleted_at
BEGIN
    UPDATE ticket_history SET ticket_team_id = NEW.team_id, ticket_deleted_at = NEW.deleted_at WHERE ticket_id = NEW.id;
    UPDATE ticket_ratings SET ticket_team_id = NEW.team_id, ticket_deleted_at = NEW.deleted_at WHERE ticket_id = NEW.id;
END;

-- Every report reads one of these indexes alone (never the table): each holds the columns its
-- report counts by. The deleted_at column is always NULL in them, yet named, because SQLite
-- reads the table for any column a query names that the index lacks, even one the index's
-- WHERE pins.
DROP INDEX ticket_history_field_at;
CREATE INDEX ticket_history_report ON ticket_history (field, at, ticket_team_id, before, after, ticket_deleted_at)
    WHERE ticket_deleted_at IS NULL;
DROP INDEX tickets_created_report;
CREATE INDEX tickets_created_report ON tickets (created_at, team_id, deleted_at) WHERE deleted_at IS NULL;
DROP INDEX tickets_resolved_report;
CREATE INDEX tickets_resolved_report ON tickets (resolved_at, team_id, created_at, assignee_id, sla_policy_id,
    first_response_breached_at, resolution_breached_at, deleted_at)
    WHERE deleted_at IS NULL AND resolved_at IS NOT NULL;
DROP INDEX tickets_first_responded_report;
CREATE INDEX tickets_first_responded_report ON tickets (first_responded_at, team_id, created_at, deleted_at)
    WHERE deleted_at IS NULL AND first_responded_at IS NOT NULL;
DROP INDEX tickets_first_response_breached_report;
CREATE INDEX tickets_first_response_breached_report ON tickets (first_response_breached_at, team_id, deleted_at)
    WHERE deleted_at IS NULL AND first_response_breached_at IS NOT NULL;
DROP INDEX tickets_resolution_breached_report;
CREATE INDEX tickets_resolution_breached_report ON tickets (resolution_breached_at, team_id, deleted_at)
    WHERE deleted_at IS NULL AND resolution_breached_at IS NOT NULL;
CREATE INDEX ticket_ratings_report ON ticket_ratings (updated_at, ticket_team_id, score, ticket_deleted_at)
    WHERE ticket_deleted_at IS NULL;
-- Replies in a window, then their tickets' teams by id.
DROP INDEX comments_created_at;
CREATE INDEX comments_report ON comments (created_at, internal, author_id, ticket_id, deleted_at) WHERE deleted_at IS NULL;
