-- Notifications by mail (issue 14) go through the mail outbox as their own kind (sent with
-- Auto-Submitted: auto-generated).
ALTER TABLE mail_outbox DROP CONSTRAINT mail_outbox_kind_check;
ALTER TABLE mail_outbox ADD CONSTRAINT mail_outbox_kind_check CHECK (kind IN ('reply', 'acknowledgement', 'refusal', 'notification'));
