-- The language of each account's emails (issue 12), and of each queued mail, chosen when it
-- was queued. Accounts from before speak English; mail queued before has none (the server's
-- default language renders it).
ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';
ALTER TABLE mail_outbox ADD COLUMN locale TEXT;
-- Admin invitations get an emailed-token purpose of their own (`set_password`, issue 12): SQLite
-- cannot change a CHECK constraint in place, so the table is rebuilt with the wider list.
CREATE TABLE email_tokens_new (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email', 'set_password')),
    new_email  TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
INSERT INTO email_tokens_new (token_hash, user_id, purpose, new_email, created_at, expires_at, used_at)
SELECT token_hash, user_id, purpose, new_email, created_at, expires_at, used_at FROM email_tokens;
DROP TABLE email_tokens;
ALTER TABLE email_tokens_new RENAME TO email_tokens;
CREATE INDEX email_tokens_user_purpose_idx ON email_tokens (user_id, purpose, created_at);
