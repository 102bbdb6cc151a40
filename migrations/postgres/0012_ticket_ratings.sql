-- Satisfaction: the requester rates a resolved or closed ticket good or bad, with an optional
-- comment. One rating a ticket; rating again replaces it.
CREATE TABLE ticket_ratings (
    ticket_id  UUID PRIMARY KEY NOT NULL REFERENCES tickets (id),
    user_id    UUID NOT NULL REFERENCES users (id),
    score      TEXT NOT NULL CHECK (score IN ('good', 'bad')),
    comment    TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
-- Team metrics count the ratings given within a window.
CREATE INDEX ticket_ratings_updated ON ticket_ratings (updated_at);
