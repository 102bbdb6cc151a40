-- Instances keep live sessions' accounts in memory (crates/server/src/users/session_cache.rs).
-- A change to an account or a session, committed by any instance, tells every instance to forget
-- them, on the channel the hub already listens to. NOTIFY is sent at commit, and identical
-- payloads of one transaction go out once, so an import updating thousands of users sends one.
CREATE FUNCTION hdms_sessions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hdms_events', '{"kind":"sessions_changed"}');
    RETURN NULL;
END
$$;
CREATE TRIGGER users_notify_sessions_changed AFTER UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION hdms_sessions_changed();
CREATE TRIGGER sessions_notify_sessions_changed AFTER UPDATE OR DELETE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION hdms_sessions_changed();
