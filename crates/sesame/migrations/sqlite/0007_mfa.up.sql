-- Second factors (issue 13): TOTP authenticators and passkeys, single-use recovery codes, the
-- short-lived challenges between a password and its second factor (and the WebAuthn ceremony
-- state between its two calls), and how each session was authenticated (RFC 8176 `amr`, and
-- `auth_time` for step-up). Sessions from before count as password sign-ins at their creation.
ALTER TABLE sessions ADD COLUMN auth_time INTEGER;
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

CREATE TABLE mfa_factors (
    id             BLOB PRIMARY KEY NOT NULL,
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('totp', 'passkey')),
    name           TEXT NOT NULL,
    -- TOTP: the shared secret, sealed with the application key, and that key's id.
    secret_sealed  BLOB,
    secret_key_id  TEXT,
    -- TOTP: the last time step accepted (RFC 6238 §5.2: a code is accepted once).
    totp_last_step INTEGER,
    -- Passkey: the credential id and the stored credential (public key, counter).
    credential_id  BLOB,
    credential     TEXT,
    created_at     INTEGER NOT NULL,
    confirmed_at   INTEGER,
    last_used_at   INTEGER
) STRICT;
CREATE INDEX mfa_factors_user_idx ON mfa_factors (user_id);
CREATE UNIQUE INDEX mfa_factors_credential_key ON mfa_factors (credential_id) WHERE credential_id IS NOT NULL;

CREATE TABLE recovery_codes (
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
) STRICT;

CREATE TABLE mfa_challenges (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('login', 'step_up', 'passkey_register', 'passkey_login')),
    session_id BLOB REFERENCES sessions (id) ON DELETE CASCADE,
    state      TEXT,
    failures   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX mfa_challenges_expires_idx ON mfa_challenges (expires_at);
