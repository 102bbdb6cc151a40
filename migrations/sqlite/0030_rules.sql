-- Automation rules (issue 15): what admins define (trigger, conditions, actions, kept as JSON
-- the server reads and checks), which history entries a rule made, the channel a ticket came in
-- by (a rule condition), and the time rules' firings (the primary key makes each firing happen
-- once per ticket version, however many instances run the job).

CREATE TABLE rules (
    id              BLOB PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    -- Rules run in this order (then by id).
    position        INTEGER NOT NULL,
    enabled         BOOLEAN NOT NULL,
    -- `ticket_created`, `ticket_updated`, `comment_added`, `sla_warning`, `sla_breach`,
    -- `approval_decided` or `time`: what the engine selects by.
    trigger_on      TEXT NOT NULL,
    -- RuleTrigger, RuleConditions and TicketActions as JSON.
    trigger_json    TEXT NOT NULL,
    conditions      TEXT NOT NULL,
    actions         TEXT NOT NULL,
    -- Why hdms turned the rule off (its actions failed), if it did.
    disabled_reason TEXT,
    -- The time job's place in the tickets, so each run checks a bounded batch and the next
    -- run goes on from there.
    time_cursor     BLOB,
    last_fired_at   TEXT,
    created_by      BLOB REFERENCES users (id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT
);
CREATE INDEX rules_enabled ON rules (enabled, trigger_on, position);

CREATE TABLE rule_time_firings (
    rule_id        BLOB NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    ticket_id      BLOB NOT NULL REFERENCES tickets (id),
    ticket_version INTEGER NOT NULL,
    at             TEXT NOT NULL,
    PRIMARY KEY (rule_id, ticket_id, ticket_version)
);

ALTER TABLE ticket_history ADD COLUMN rule_id BLOB;
ALTER TABLE tickets ADD COLUMN channel TEXT NOT NULL DEFAULT 'web';
