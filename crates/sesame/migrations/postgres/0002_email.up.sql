-- Emailed tokens (verification, password reset, email change) and the transactional mail outbox.
CREATE TABLE email_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    new_email  TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX email_tokens_user_purpose_idx ON email_tokens (user_id, purpose, created_at);

CREATE TABLE mail_outbox (
    id              UUID PRIMARY KEY,
    -- The account the mail concerns: its pending mail goes when the account goes.
    user_id         UUID REFERENCES users (id) ON DELETE CASCADE,
    recipient       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    -- JSON object of template parameters; emptied once sent (it may hold a token link).
    params          TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    locked_until    TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at);
CREATE INDEX mail_outbox_user_idx ON mail_outbox (user_id);
