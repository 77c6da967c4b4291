-- Outstanding invitations cannot be kept under the narrower list: they go, with the
-- invitation mail still waiting (an older binary cannot render that kind, and its link would
-- point at a deleted token).
DELETE FROM mail_outbox WHERE kind = 'invite' AND status = 'pending';
CREATE TABLE email_tokens_old (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    new_email  TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
INSERT INTO email_tokens_old (token_hash, user_id, purpose, new_email, created_at, expires_at, used_at)
SELECT token_hash, user_id, purpose, new_email, created_at, expires_at, used_at FROM email_tokens
WHERE purpose <> 'set_password';
DROP TABLE email_tokens;
ALTER TABLE email_tokens_old RENAME TO email_tokens;
CREATE INDEX email_tokens_user_purpose_idx ON email_tokens (user_id, purpose, created_at);
ALTER TABLE mail_outbox DROP COLUMN locale;
ALTER TABLE users DROP COLUMN locale;
