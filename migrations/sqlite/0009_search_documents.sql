-- Search at a million tickets (benches/tickets_scale.rs).
--
-- 1. A ticket's own document is replaced whenever its subject or description changes, and a
--    merge moves comment documents to another ticket. FTS5 cannot index the UNINDEXED
--    ticket_id, so finding a ticket's documents scanned every document (0.6 s at 1.5 million,
--    under the write lock). Each document now also carries its ticket as an indexed token in
--    `owner` ('t' and the id in hex), found through the full-text index itself; searches name
--    the `text` column, so owners never match words.
-- 2. The column is added by rebuilding the table (FTS5 has no ALTER TABLE ... ADD COLUMN),
--    keeping every document's rowid: search ranks the newest matches, by rowid.

ALTER TABLE search_docs RENAME TO search_docs_before_0009;

CREATE VIRTUAL TABLE search_docs USING fts5 (
    ticket_id UNINDEXED,
    comment_id UNINDEXED,
    internal UNINDEXED,
    owner,
    text,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

INSERT INTO search_docs (rowid, ticket_id, comment_id, internal, owner, text)
    SELECT rowid, ticket_id, comment_id, internal, 't' || lower(hex(ticket_id)), text FROM search_docs_before_0009;

DROP TABLE search_docs_before_0009;
