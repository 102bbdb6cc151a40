-- Search at a million tickets (benches/tickets_scale.rs): search ranks the newest matching
-- documents, so documents get an order (the identity fills existing rows in storage order,
-- which is insertion order for this append-only table) and an index to walk it backwards.

ALTER TABLE search_docs ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX search_docs_id ON search_docs (id);
