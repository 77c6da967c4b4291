-- Core schema (SQLite). Ids are UUIDv7 as 16-byte BLOBs; timestamps are integer Unix milliseconds (UTC).
CREATE TABLE users (
    id                  BLOB PRIMARY KEY NOT NULL,
    email               TEXT NOT NULL,
    email_normalized    TEXT NOT NULL,
    username            TEXT,
    username_normalized TEXT,
    display_name        TEXT,
    password_hash       TEXT NOT NULL,
    email_verified      INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    is_active           INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    last_login_at       INTEGER
) STRICT;
CREATE UNIQUE INDEX users_email_normalized_key ON users (email_normalized);
CREATE UNIQUE INDEX users_username_normalized_key ON users (username_normalized) WHERE username_normalized IS NOT NULL;
CREATE INDEX users_created_at_idx ON users (created_at, id);

CREATE TABLE roles (
    name        TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    built_in    INTEGER NOT NULL DEFAULT 0 CHECK (built_in IN (0, 1)),
    created_at  INTEGER NOT NULL
) STRICT;
INSERT INTO roles (name, description, built_in, created_at)
VALUES ('admin', 'Full administrative access', 1, CAST(strftime('%s', 'now') AS INTEGER) * 1000);

CREATE TABLE user_roles (
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, role)
) STRICT;
CREATE INDEX user_roles_role_idx ON user_roles (role, user_id);

CREATE TABLE sessions (
    id             BLOB PRIMARY KEY NOT NULL,
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_secret BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    ip             TEXT,
    user_agent     TEXT
) STRICT;
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    session_id BLOB NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY NOT NULL,
    algorithm   TEXT NOT NULL,
    private_der BLOB NOT NULL,
    public_raw  BLOB NOT NULL,
    -- 1 for the primary key, NULL otherwise: the unique index lets exactly one node's insert win.
    is_primary  INTEGER UNIQUE CHECK (is_primary = 1),
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
) STRICT;
