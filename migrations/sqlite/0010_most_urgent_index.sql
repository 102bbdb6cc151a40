-- "Most urgent first" (priority, then oldest first) over several statuses, as supervisors sort
-- their whole desk, sorted every open and in-progress ticket at a million tickets (49 ms a
-- page, benches/tickets_scale.rs): no index gave rows in that order. This one does, with the
-- status beside it so the filter reads the index alone; the scan stops at the page's end.
-- It serves the plain priority order too, so the older (priority, id) index goes.
DROP INDEX tickets_priority;
CREATE INDEX tickets_most_urgent ON tickets (priority DESC, id, status) WHERE deleted_at IS NULL;
