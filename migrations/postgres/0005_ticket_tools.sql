-- Agent tools: canned replies, macros and saved views can be edited, and are listed per owner.

ALTER TABLE canned_replies ADD COLUMN updated_at TIMESTAMPTZ;
ALTER TABLE macros ADD COLUMN updated_at TIMESTAMPTZ;
ALTER TABLE saved_views ADD COLUMN updated_at TIMESTAMPTZ;

CREATE INDEX canned_replies_owner ON canned_replies (owner_id) WHERE deleted_at IS NULL;
CREATE INDEX macros_owner ON macros (owner_id) WHERE deleted_at IS NULL;
