-- The append-only audit trail and failed-login counters.
CREATE TABLE audit_events (
    id          BLOB PRIMARY KEY NOT NULL,
    occurred_at INTEGER NOT NULL,
    event       TEXT NOT NULL,
    -- No foreign keys: the trail outlives the accounts it mentions.
    user_id     BLOB,
    actor_id    BLOB,
    ip          TEXT,
    user_agent  TEXT,
    request_id  TEXT,
    detail      TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX audit_events_user_idx ON audit_events (user_id, occurred_at);
CREATE INDEX audit_events_event_idx ON audit_events (event, occurred_at);
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

CREATE TABLE login_throttle (
    throttle_key    TEXT PRIMARY KEY NOT NULL,
    failures        INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL,
    locked_until    INTEGER
) STRICT;
CREATE INDEX login_throttle_idle_idx ON login_throttle (last_failure_at);
