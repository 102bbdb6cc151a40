-- The SLA policies' version. Every instance keeps the policies in memory and reloads them when
-- this moves (tickets/sla.rs); reads of tickets carry it in the same query, so the check costs
-- no round trip, and an instance sees another's change on its next read. A trigger moves it on
-- every change, whoever writes. It starts at a random value so a cache never takes another
-- database for this one.
INSERT INTO counters (name, value) VALUES ('sla_policies', floor(random() * 1e12)::bigint);

CREATE FUNCTION sla_policies_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'sla_policies';
    RETURN NULL;
END
$$;

CREATE TRIGGER sla_policies_version AFTER INSERT OR UPDATE OR DELETE ON sla_policies
    FOR EACH STATEMENT EXECUTE FUNCTION sla_policies_version_bump();
