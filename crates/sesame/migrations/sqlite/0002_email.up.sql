-- Emailed tokens (verification, password reset, email change) and the transactional mail outbox.
CREATE TABLE email_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    new_email  TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX email_tokens_user_purpose_idx ON email_tokens (user_id, purpose, created_at);

CREATE TABLE mail_outbox (
    id              BLOB PRIMARY KEY NOT NULL,
    -- The account the mail concerns: its pending mail goes when the account goes.
    user_id         BLOB REFERENCES users (id) ON DELETE CASCADE,
    recipient       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    -- JSON object of template parameters; emptied once sent (it may hold a token link).
    params          TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
) STRICT;
CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at);
CREATE INDEX mail_outbox_user_idx ON mail_outbox (user_id);
