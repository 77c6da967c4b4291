-- The language of each account's emails (issue 12), and of each queued mail, chosen when it
-- was queued. Accounts from before speak English; mail queued before has none (the server's
-- default language renders it).
ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';
ALTER TABLE mail_outbox ADD COLUMN locale TEXT;
-- Admin invitations get an emailed-token purpose of their own (`set_password`, issue 12).
ALTER TABLE email_tokens DROP CONSTRAINT email_tokens_purpose_check;
ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_purpose_check
    CHECK (purpose IN ('verify_email', 'reset_password', 'change_email', 'set_password'));
