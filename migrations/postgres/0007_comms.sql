-- Live conversation: every comment gets a sequence number within its ticket (its room), taken
-- from a counter on the ticket row, so a reconnecting client asks for "everything after n".
ALTER TABLE tickets ADD COLUMN room_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE comments ADD COLUMN room_seq BIGINT;
-- Comments written before this migration are numbered in id (time) order.
UPDATE comments SET room_seq = (
    SELECT COUNT(*) FROM comments earlier
    WHERE earlier.ticket_id = comments.ticket_id AND earlier.id <= comments.id
);
UPDATE tickets SET room_seq = (SELECT COUNT(*) FROM comments WHERE comments.ticket_id = tickets.id);
-- Not unique: a merge moves comments into another ticket's room with the numbers they had.
CREATE INDEX comments_room_seq ON comments (ticket_id, room_seq);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;
