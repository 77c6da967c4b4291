-- OpenID Connect provider (issue 14).
--
-- A session is one of three kinds: `api` (a first-party sign-in through the JSON API or the
-- password grant), `browser` (the hosted sign-in's single-sign-on session, whose token lives only
-- in an HttpOnly cookie and is never rotated or exchanged), or `client` (the tokens one registered
-- client holds for one user, with the scope granted).
ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'browser', 'client'));
-- No foreign key on `client_id` (SQLite could not drop the column again): deleting a client
-- revokes its sessions in the same transaction.
ALTER TABLE sessions ADD COLUMN client_id UUID;
ALTER TABLE sessions ADD COLUMN scope TEXT;

-- Authorization codes (RFC 6749 §4.1.2), stored only as SHA-256 hashes. `used_at` makes them
-- single use; `issued_session` is what the first use issued, revoked if the code comes back.
CREATE TABLE authorization_codes (
    code_hash       BYTEA PRIMARY KEY,
    client_id       UUID NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    nonce           TEXT,
    code_challenge  TEXT,
    auth_time       TIMESTAMPTZ NOT NULL,
    amr             TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ,
    issued_session  UUID REFERENCES sessions (id) ON DELETE SET NULL
);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);

-- What each user allowed each client (remembered consent).
CREATE TABLE consents (
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  UUID NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- ID tokens are signed RS256 or EdDSA: one first key per algorithm. `primary_for` names the
-- algorithm a key was generated first for; its unique index lets exactly one node's insert win.
ALTER TABLE signing_keys ADD COLUMN primary_for TEXT;
UPDATE signing_keys SET primary_for = algorithm WHERE is_primary;
CREATE UNIQUE INDEX signing_keys_primary_for_key ON signing_keys (primary_for);
