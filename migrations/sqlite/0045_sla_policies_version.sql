-- The SLA policies' version. Every instance keeps the policies in memory and reloads them when
-- this moves (tickets/sla.rs); reads of tickets carry it in the same query, so the check costs
-- no round trip. Triggers move it on every change, whoever writes (the API, a bench's seed, a
-- hand-run statement). It starts at a random value so a cache never takes another database (a
-- restored backup at the same path) for this one.
INSERT INTO counters (name, value) VALUES ('sla_policies', abs(random() % 1000000000000));

CREATE TRIGGER sla_policies_version_on_insert AFTER INSERT ON sla_policies BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'sla_policies';
END;

CREATE TRIGGER sla_policies_version_on_update AFTER UPDATE ON sla_policies BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'sla_policies';
END;

CREATE TRIGGER sla_policies_version_on_delete AFTER DELETE ON sla_policies BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'sla_policies';
END;
